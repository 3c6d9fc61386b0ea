//! The running fleet's one bus: what the dashboard, the JSON API, the metrics and the webhook
//! notifier see of `runner up`, and the way back in for controls.
//!
//! What belongs here: [`Hub`] — the serialisable live events (every agent event, plus health,
//! snapshots and operator actions) on one broadcast channel with a sequence number; the agents'
//! current numbers ([`AgentView`], read from the fleet driver's book, never from files); the
//! per-agent control channels ([`Control`], answered by the agent's own task at its next step);
//! and the fleet halt. The agents' tasks publish here and never wait on a subscriber: a slow
//! page misses events (it is told how many) and reloads the snapshot; trading never blocks.
//! Nothing here serves HTTP (that is [`super::http`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rust_decimal::Decimal;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::engine::agent::AgentEvent;
use crate::model::Money;

/// How many events a subscriber may fall behind before it misses some.
pub const BUS_CAPACITY: usize = 4096;

/// One event on the bus.
#[derive(Debug, Clone, Serialize)]
pub struct HubEvent {
    /// Increases by one per event, fleet-wide (a gap tells a subscriber it missed events).
    pub seq: u64,
    /// The agent it is about (`""` for the fleet).
    pub agent: String,
    /// Wall-clock time it was published (RFC 3339 UTC, milliseconds).
    pub wall: String,
    /// What happened; its `kind` names it.
    #[serde(flatten)]
    pub body: Body,
}

/// What an event carries: an agent's own event (`kind` `order_sent`, `order`, `denied`,
/// `position`, `state`, `signal`, `external`, `candle`, `info`, `warning`, `connectivity`) or
/// one of the fleet's ([`FleetNote`]).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Body {
    /// The agent's event, as journaled.
    Agent(AgentEvent),
    /// The fleet's.
    Fleet(FleetNote),
}

/// Events of the fleet driver rather than an agent's logic.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FleetNote {
    /// The agent's numbers changed (P&L, position, state): its current [`AgentView`].
    Snapshot(Box<AgentView>),
    /// The agent's health changed.
    Health {
        /// `ok`, or `unhealthy: …`.
        health: String,
    },
    /// An operator's control was carried out (or refused).
    Control(ControlRecord),
    /// The whole fleet was halted.
    FleetHalt {
        /// Why.
        reason: String,
    },
    /// The agent's run ended.
    Finished {
        /// `completed`, `halted: …`, `stopped: …`, `error: …`.
        outcome: String,
    },
}

/// An operator action as journaled and broadcast: who, what, when, and for a parameter edit
/// the old and new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ControlRecord {
    /// `halt`, `resume`, `flatten`, `enable`, `disable`, `set-param`, `fleet-halt`.
    pub action: String,
    /// Who asked (`http 127.0.0.1:53022`, `token …` never: the token is not an identity we log).
    pub by: String,
    /// For `set-param`: the recipe key (`algorithm.params.fast_period`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// For `set-param`: the value before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// For `set-param`: the value asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// `applied`, `pending` (waits for a safe point), or `refused: …`.
    pub result: String,
}

/// A control for one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Cancel, flatten, refuse entries for the rest of the trading day.
    Halt,
    /// Lift a halt or reduce-only state.
    Resume,
    /// Close the position now; the state stays.
    Flatten,
    /// Take the agent out of trading until enabled.
    Disable,
    /// Put a disabled agent back into trading.
    Enable,
    /// Change one recipe parameter (`algorithm.params.NAME`, `risk.NAME`): validated like
    /// `runner validate`, applied at the next safe point.
    SetParam {
        /// The recipe key, dotted.
        key: String,
        /// The new value, as YAML/JSON scalar text (`12`, `"0.5"`, `true`).
        value: String,
    },
    /// The run so far as the run pages draw it.
    View,
    /// The recipe's parameters as they stand now (after edits), and which may change.
    Params,
    /// Read the recipe file again: changed parameters that may change mid-run are applied as
    /// edits (at once or when flat); any other change restarts the agent from the file (its
    /// run ends, a new one begins), and `positions` says what happens to a position it holds.
    Reload {
        /// What a restart does with the agent's position.
        positions: Positions,
    },
}

/// What a reload that restarts an agent does with the position and orders it holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Positions {
    /// Restart only an agent that is flat with no working orders; refuse otherwise.
    #[default]
    Refuse,
    /// Flatten first (cancel, exit at market), restart once flat.
    Flatten,
    /// Restart holding the position: the new run takes it over from the journal, reconciled
    /// with the venue (live market data only, no working orders, same instrument).
    Carry,
}

impl Control {
    /// The action's name, as routes and the journal spell it.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Halt => "halt",
            Self::Resume => "resume",
            Self::Flatten => "flatten",
            Self::Disable => "disable",
            Self::Enable => "enable",
            Self::SetParam { .. } => "set-param",
            Self::View => "view",
            Self::Params => "params",
            Self::Reload { .. } => "reload",
        }
    }
}

/// What the agent's task answers a control with.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Carried out: the journaled record.
    Done(ControlRecord),
    /// [`Control::View`]: the run so far.
    View(Box<crate::report::view::RunView>),
    /// [`Control::Params`]: the recipe's parameters now.
    Params(Vec<super::params::Param>),
}

/// A control on its way to an agent's task, with where the answer goes.
#[derive(Debug)]
pub struct ControlMsg {
    /// What to do.
    pub control: Control,
    /// Who asked.
    pub by: String,
    /// The answer: done, or refused with the reason (the validator's message for a parameter).
    pub reply: oneshot::Sender<Result<Answer, String>>,
}

/// Why a control did not reach an agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No agent of that name in this fleet.
    #[error("no agent named `{0}` in this fleet")]
    NoSuchAgent(String),
    /// The agent's run has ended.
    #[error("agent `{0}` is not running any more")]
    Ended(String),
    /// The agent refused it (a parameter the validator refuses, a stopping agent).
    #[error("{0}")]
    Refused(String),
}

/// The current numbers of one agent.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AgentView {
    /// Agent name.
    pub name: String,
    /// The recipe file it runs.
    pub recipe: String,
    /// Broker account.
    pub account: String,
    /// What it trades (ticker, or the option contract held, spelled `SPY 131019P00168000`).
    pub instrument: String,
    /// Journal run id.
    pub run: String,
    /// `active`, `reduce-only`, `halted`, `disabled` or `stopped`.
    pub state: String,
    /// `ok` or `unhealthy: …`.
    pub health: String,
    /// Signed position and its average price.
    pub position: PositionView,
    /// Equity change since the trading day's start.
    pub pnl_today: Money,
    /// Equity change since the run's start.
    pub pnl_total: Money,
    /// Realized P&L so far (after the last fill).
    pub realized: Money,
    /// Account equity now.
    pub equity: Money,
    /// Account equity at the run's start.
    pub starting_equity: Money,
    /// The latest market price of the traded symbol, if any.
    pub last_price: Option<Decimal>,
    /// The agent time of the latest market event (RFC 3339 UTC).
    pub last_data: Option<String>,
    /// Seconds (wall clock) since the latest market event.
    pub data_age_seconds: f64,
    /// The latest external or strategy signal: `buy strength 100% @ 412.50 at …`.
    pub last_signal: Option<String>,
    /// The venue and feed connections: `connected`, or what is down and for how long.
    pub venue: String,
    /// Orders sent, fills, denials so far in this run.
    pub orders: u64,
    /// Fills so far.
    pub fills: u64,
    /// Denials so far.
    pub denials: u64,
    /// Live feeds: latency of market data, `p50 … / p99 …`.
    pub feed_latency: Option<String>,
}

/// A position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PositionView {
    /// Signed quantity (negative: short).
    pub qty: Decimal,
    /// Average price.
    pub avg_price: Decimal,
}

/// The fleet as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FleetView {
    /// Agents in this process.
    pub agents: usize,
    /// The sum of the agents' day P&L.
    pub pnl_today: Money,
    /// The sum of the agents' run P&L.
    pub pnl_total: Money,
    /// The fleet daily loss limit (a positive amount), if any.
    pub loss_limit: Option<Money>,
    /// Why the fleet was halted, if it was.
    pub halted: Option<String>,
    /// The journal database.
    pub journal: String,
    /// When this `runner up` started (RFC 3339 UTC).
    pub started: String,
}

/// What [`Hub::agents`] reads: the fleet driver implements it over its book.
pub trait Board: Send + Sync {
    /// Every agent's current numbers, in the order given to `runner up`.
    fn agents(&self) -> Vec<AgentView>;
    /// Seconds (wall clock) since each agent's loop last ran, in the same order.
    fn loop_lag(&self) -> Vec<f64>;
}

/// The bus, the board and the controls of one `runner up`.
pub struct Hub {
    events: broadcast::Sender<Arc<HubEvent>>,
    seq: AtomicU64,
    board: Box<dyn Board>,
    controls: HashMap<String, mpsc::UnboundedSender<ControlMsg>>,
    halt: Arc<watch::Sender<Option<String>>>,
    loss_limit: Option<Money>,
    journal: PathBuf,
    started: String,
    /// Where finished runs' report directories are (`<state_dir>/runs`).
    pub runs_dir: PathBuf,
    /// The metrics registry `/metrics` renders.
    pub metrics: super::metrics::Metrics,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("agents", &self.controls.len()).finish_non_exhaustive()
    }
}

/// What [`Hub::new`] needs from the fleet driver.
pub struct HubParts {
    /// The agents' numbers.
    pub board: Box<dyn Board>,
    /// Agent name → its control channel.
    pub controls: HashMap<String, mpsc::UnboundedSender<ControlMsg>>,
    /// The fleet halt every agent listens to.
    pub halt: Arc<watch::Sender<Option<String>>>,
    /// The fleet daily loss limit.
    pub loss_limit: Option<Money>,
    /// The journal database.
    pub journal: PathBuf,
    /// Where finished runs' report directories are.
    pub runs_dir: PathBuf,
    /// Agent names, in order (for the metrics' labels).
    pub names: Vec<String>,
}

impl Hub {
    /// A hub over the fleet driver's parts.
    pub fn new(p: HubParts) -> Self {
        let (events, _) = broadcast::channel(BUS_CAPACITY);
        Self {
            events,
            seq: AtomicU64::new(0),
            board: p.board,
            controls: p.controls,
            halt: p.halt,
            loss_limit: p.loss_limit,
            journal: p.journal,
            started: now_rfc3339(),
            runs_dir: p.runs_dir,
            metrics: {
                let m = super::metrics::Metrics::new(&p.names);
                m.set_loss_limit(p.loss_limit);
                m
            },
        }
    }

    /// Whether anybody listens (the agents skip building events nobody reads).
    #[inline]
    pub fn listened(&self) -> bool {
        self.events.receiver_count() > 0
    }

    /// Listen to every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<HubEvent>> {
        self.events.subscribe()
    }

    /// Publish an event (never waits; nobody listening is fine).
    pub fn emit(&self, agent: &str, body: Body) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let ev = HubEvent { seq, agent: agent.to_owned(), wall: now_rfc3339(), body };
        let _ = self.events.send(Arc::new(ev));
    }

    /// The latest sequence number handed out.
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// Every agent's current numbers.
    pub fn agents(&self) -> Vec<AgentView> {
        self.board.agents()
    }

    /// Seconds since each agent's loop last ran, in agent order.
    pub fn loop_lag(&self) -> Vec<f64> {
        self.board.loop_lag()
    }

    /// The fleet summary.
    pub fn fleet(&self) -> FleetView {
        let agents = self.board.agents();
        FleetView {
            agents: agents.len(),
            pnl_today: agents.iter().map(|a| a.pnl_today).sum::<Money>().round_dp(2),
            pnl_total: agents.iter().map(|a| a.pnl_total).sum::<Money>().round_dp(2),
            loss_limit: self.loss_limit,
            halted: self.halt.borrow().clone(),
            journal: self.journal.display().to_string(),
            started: self.started.clone(),
        }
    }

    /// The journal database (the API reads orders, fills and runs from it).
    pub fn journal(&self) -> &std::path::Path {
        &self.journal
    }

    /// Send `control` to agent `name` and wait for its task to carry it out.
    pub async fn control(&self, name: &str, control: Control, by: &str) -> Result<Answer, ControlError> {
        let tx = self.controls.get(name).ok_or_else(|| ControlError::NoSuchAgent(name.to_owned()))?;
        let (reply, answer) = oneshot::channel();
        tx.send(ControlMsg { control, by: by.to_owned(), reply })
            .map_err(|_| ControlError::Ended(name.to_owned()))?;
        match answer.await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(why)) => Err(ControlError::Refused(why)),
            Err(_) => Err(ControlError::Ended(name.to_owned())),
        }
    }

    /// Read every agent's recipe file again ([`Control::Reload`]), in agent order: what each
    /// answered (its changes applied, `unchanged`, restarting, or refused and why).
    pub async fn reload(
        &self,
        by: &str,
        positions: Positions,
    ) -> Vec<(String, Result<Answer, ControlError>)> {
        let mut out = Vec::new();
        for a in self.board.agents() {
            let r = self.control(&a.name, Control::Reload { positions }, by).await;
            out.push((a.name, r));
        }
        out
    }

    /// Halt every agent (the kill switch): cancel, flatten, no entries for the rest of the
    /// trading day. Returns the reason broadcast to the agents.
    pub fn halt_fleet(&self, by: &str) -> String {
        let reason = format!("fleet halted by {by}");
        let _ = self.halt.send(Some(reason.clone()));
        self.emit("", Body::Fleet(FleetNote::FleetHalt { reason: reason.clone() }));
        reason
    }
}

/// Now, RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
