//! Fleet guardrails for `runner up`: fleet settings, the journaled live-style driver, the
//! fleet daily loss limit, health and status files.
//!
//! What belongs here: finding the fleet file (`runner.yaml`, found like `runner validate`
//! finds it) and turning it plus command-line overrides into [`FleetSettings`]; the
//! multi-agent driver [`run`] that journals every agent event through a
//! [`JournalSink`], sums the agents' P&L for the day and halts every agent when
//! the fleet loss limit is reached, tracks health (stale market data by wall clock, a stalled
//! loop) and writes status files.
//! Account locks are taken by the caller (`runtime::cli`) before anything runs.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::RunError;
use super::clock::{Clock, DataClock, PacedClock};
use super::feed::ReplayFeed;
use super::hub::{
    AgentView, Answer, Board, Body, Control, ControlMsg, ControlRecord, FleetNote, Hub, HubParts,
    PositionView,
};
use super::journal_sink::JournalSink;
use super::process::ProcessStamp;
use super::run::describe;
use super::signals::{Received, Signals, StopReason};
use super::status::{self, AgentStatus};
use crate::engine::agent::{Agent, AgentEvent, Command};
use crate::journal::HaltScope;
use crate::market::replay::Replay;
use crate::model::account::{Connectivity, Link};
use crate::model::chain::ChainSnapshot;
use crate::model::{Money, Price, Timestamp};
use crate::recipe::types::Speed;
use crate::report::Report;
use crate::report::view::RunView;
use crate::risk::gate::TradingState;
use crate::runtime::clock::FeedClock;
use crate::runtime::latency::Latency;
use crate::runtime::lockstep::Lockstep;
use crate::runtime::remote::{Remote, VenueInput};
use crate::venue::{DataEvent, MarketDataClient, Subscription};
use tokio::sync::mpsc;

/// How long an agent loop may go without running before it is reported stalled.
pub const STALL_AFTER: Duration = Duration::from_secs(5);
/// Live feeds: no market data for this long during the session makes an agent unhealthy,
/// unless the fleet file says otherwise (`stale_data_seconds`).
pub const LIVE_STALE_AFTER: Duration = Duration::from_secs(30);
/// Live feeds: no market data for this long during the session halts an agent's entries,
/// unless the fleet file says otherwise (`stale_halt_seconds`).
pub const LIVE_HALT_AFTER: Duration = Duration::from_secs(120);

/// Fleet-wide settings for one `runner up` (or `backtest`).
#[derive(Debug, Clone)]
pub struct FleetSettings {
    /// The fleet file used, if one was found.
    pub fleet_file: Option<PathBuf>,
    /// The journal database.
    pub journal: PathBuf,
    /// Run state: `locks/`, `status/`.
    pub state_dir: PathBuf,
    /// Fleet daily loss limit (a positive amount), if any.
    pub loss_limit: Option<Money>,
    /// Market data older than this (wall clock) makes an agent unhealthy.
    pub stale_after: Option<Duration>,
    /// Live feeds: market data older than this during the session halts an agent's entries.
    pub stale_halt_after: Option<Duration>,
    /// Most agents one `runner up` may run.
    pub max_agents: Option<u32>,
    /// Where `NAME.sops.yaml` credentials live.
    pub secrets_dir: PathBuf,
    /// The fleet file's `http:` block.
    pub http: Option<crate::recipe::model::HttpSettings>,
    /// The fleet file's `notify:` block.
    pub notify: Option<crate::recipe::model::Notify>,
}

/// Command-line overrides of the fleet file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--fleet PATH`.
    pub fleet: Option<PathBuf>,
    /// `--journal PATH`.
    pub journal: Option<PathBuf>,
    /// `--state-dir PATH`.
    pub state_dir: Option<PathBuf>,
    /// `--fleet-loss-limit AMOUNT`.
    pub loss_limit: Option<Money>,
}

impl FleetSettings {
    /// Resolve settings: the fleet file is `--fleet`, else `runner.yaml` found walking up
    /// from the current directory (as `runner validate` does); its paths are relative to it.
    /// Without a fleet file the defaults (`journal/runner.db`, `.runner`) are relative to the
    /// current directory. Command-line values win.
    pub fn resolve(o: &Overrides) -> anyhow::Result<Self> {
        use crate::recipe::schema::SchemaKind;
        use crate::recipe::validate::{check_file, discover_fleet};
        let fleet_file = match &o.fleet {
            Some(p) => Some(p.clone()),
            None => {
                let cwd = std::env::current_dir()
                    .map_err(|e| RunError::unusable(format!("cannot read the current directory: {e}")))?;
                discover_fleet(&cwd)
            }
        };
        let fleet = match &fleet_file {
            Some(p) => {
                let report =
                    check_file(p, SchemaKind::Fleet).map_err(|e| RunError::unusable(e.to_string()))?;
                match report.fleet.clone() {
                    Some(f) if report.errors() == 0 => f,
                    _ => {
                        return Err(RunError::refused(format!(
                            "fleet file {} is not valid (run `runner validate {}`)",
                            p.display(),
                            p.display()
                        ))
                        .into());
                    }
                }
            }
            None => crate::recipe::model::Fleet::default(),
        };
        let base = fleet_file.as_deref().and_then(Path::parent).unwrap_or(Path::new("")).to_path_buf();
        let loss_limit = o.loss_limit.or(fleet.daily_loss_limit.map(|m| m.value()));
        if let Some(l) = loss_limit
            && l <= Decimal::ZERO
        {
            return Err(RunError::unusable(format!("the fleet loss limit must be positive, not {l}")).into());
        }
        Ok(Self {
            journal: o.journal.clone().unwrap_or_else(|| base.join(&fleet.journal)),
            state_dir: o.state_dir.clone().unwrap_or_else(|| base.join(&fleet.state_dir)),
            loss_limit,
            stale_after: fleet.stale_data_seconds.map(|s| Duration::from_secs(u64::from(s))),
            stale_halt_after: fleet.stale_halt_seconds.map(|s| Duration::from_secs(u64::from(s))),
            max_agents: fleet.max_concurrent_agents,
            secrets_dir: base.join(&fleet.secrets_dir),
            http: fleet.http.clone(),
            notify: fleet.notify.clone(),
            fleet_file,
        })
    }
}

/// The command a fleet halt sends to each agent: cancel, flatten, no entries for the rest of
/// the trading day.
fn halt_command(reason: &str) -> Command {
    Command::Halt { reason: reason.to_owned() }
}

/// How an agent's orders are carried out.
pub enum Trader {
    /// On the simulated venue, in lockstep with the agent (paper runs).
    Sim(Box<Lockstep>),
    /// On a remote venue: requests go to its execution task, its answers come back as events
    /// (`venue` of [`FleetAgent`]).
    Remote(Box<Remote>),
}

impl Trader {
    /// The agent.
    pub fn agent(&self) -> &Agent {
        match self {
            Self::Sim(l) => l.agent(),
            Self::Remote(r) => r.agent(),
        }
    }

    fn agent_mut(&mut self) -> &mut Agent {
        match self {
            Self::Sim(l) => l.parts_mut().0,
            Self::Remote(r) => r.agent_mut(),
        }
    }

    fn market(&mut self, ev: crate::market::event::MarketEvent, sink: &mut impl FnMut(&AgentEvent)) {
        match self {
            Self::Sim(l) => l.market(ev, sink),
            Self::Remote(r) => r.market(ev, sink),
        }
    }

    fn command(&mut self, command: Command, sink: &mut impl FnMut(&AgentEvent)) {
        match self {
            Self::Sim(l) => l.command(command, sink),
            Self::Remote(r) => r.command(command, sink),
        }
    }

    fn timer(&mut self, at: Timestamp, sink: &mut impl FnMut(&AgentEvent)) {
        match self {
            Self::Sim(l) => l.timer(at, sink),
            Self::Remote(r) => r.timer(at, sink),
        }
    }

    fn connectivity(&mut self, change: Connectivity, sink: &mut impl FnMut(&AgentEvent)) {
        match self {
            Self::Sim(l) => l.connectivity(change, sink),
            Self::Remote(r) => r.connectivity(change, sink),
        }
    }

    fn chain(&mut self, snapshot: Arc<ChainSnapshot>, sink: &mut impl FnMut(&AgentEvent)) {
        match self {
            Self::Sim(l) => l.chain(snapshot, sink),
            Self::Remote(r) => r.chain(snapshot, sink),
        }
    }

    fn external(&mut self, x: crate::engine::agent::ExternalIn, sink: &mut impl FnMut(&AgentEvent)) {
        match self {
            Self::Sim(l) => l.external(x, sink),
            Self::Remote(r) => r.external(x, sink),
        }
    }

    fn into_agent(self) -> Agent {
        match self {
            Self::Sim(l) => l.into_agent(),
            Self::Remote(r) => r.into_agent(),
        }
    }
}

/// Where an agent's market data comes from.
pub enum Feed {
    /// Recorded data, paced at `speed`.
    Replay {
        /// The data.
        replay: Box<Replay>,
        /// Pacing.
        speed: Speed,
    },
    /// A live feed, and what to subscribe to on it.
    Live {
        /// The feed.
        client: Box<dyn MarketDataClient>,
        /// The subscriptions.
        subscriptions: Vec<Subscription>,
    },
}

/// One agent of a fleet run.
pub struct FleetAgent {
    /// The agent and how its orders are carried out.
    pub trader: Trader,
    /// Its market data.
    pub feed: Feed,
    /// What a remote venue says (from the execution task), for [`Trader::Remote`].
    pub venue: Option<mpsc::Receiver<VenueInput>>,
    /// The broker's listed option chain, polled (`super::chain`), for options on live data.
    pub chain: Option<mpsc::Receiver<Arc<ChainSnapshot>>>,
    /// Its name, printed with every line.
    pub name: String,
    /// Its broker account.
    pub account: String,
    /// Its journal, if journaling.
    pub sink: Option<JournalSink>,
    /// Its live external signal source (`algorithm.signals`: a Redis stream, a socket).
    pub signals: Option<super::signal_feed::Wiring>,
    /// The recipe file it runs (shown by the dashboard; parameter edits are checked against it).
    pub recipe: PathBuf,
    /// The file's text as the agent was built from it (edits apply to it); `None`: read the
    /// file at start.
    pub recipe_text: Option<String>,
}

/// How a run ended: what the journal's `outcome` says and `runner up` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The data ended (or the agent was shut down) normally.
    Completed,
    /// The fleet loss limit halted the agent (its last halt's reason).
    Halted(String),
    /// A signal stopped the run.
    Stopped(StopReason),
    /// The run failed (a journal write, the market data).
    Error(String),
    /// A reload changed the recipe beyond its parameters: the agent starts again from it (the
    /// keys that changed).
    Restarted(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Completed => f.write_str("completed"),
            Self::Halted(reason) => write!(f, "halted: {reason}"),
            Self::Stopped(why) => write!(f, "stopped: {why}"),
            Self::Error(e) => write!(f, "error: {e}"),
            Self::Restarted(keys) => write!(f, "restarted: the recipe changed ({keys})"),
        }
    }
}

/// An agent's health as the runtime watches it (wall clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Its loop runs and its data flows.
    Ok,
    /// Its loop has not run for this long.
    Stalled(Duration),
    /// A venue or feed connection has been down for this long (reconnecting).
    Disconnected(Link, Duration),
    /// No market data for this long (more than `stale_data_seconds`).
    Stale(Duration),
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Stalled(d) => write!(f, "unhealthy: loop stalled for {}s", d.as_secs()),
            Self::Disconnected(link, d) => {
                write!(f, "unhealthy: {link} disconnected for {}s (reconnecting)", d.as_secs())
            }
            Self::Stale(d) => write!(f, "unhealthy: no market data for {}s", d.as_secs()),
        }
    }
}

/// How one agent's run ended.
pub struct Finished {
    /// The report.
    pub report: Report,
    /// `completed`, `halted: …`, `stopped: interrupted` (Ctrl-C, SIGINT) or `stopped: terminated`
    /// (SIGTERM).
    pub outcome: Outcome,
    /// The journal run id, if journaled.
    pub run: Option<String>,
}

/// What the status writer knows about an agent.
pub(super) struct Slot {
    /// The latest market price of the traded symbol.
    last_price: Option<Price>,
    name: String,
    account: String,
    recipe: String,
    instrument: String,
    run: String,
    state: TradingState,
    disabled: bool,
    stopped: bool,
    starting_equity: Money,
    tally: Tally,
    /// When the hub last got this agent's snapshot after a market event.
    snapshot_at: Instant,
    /// The agent's trading day (days since 1970-01-01 in its session's zone).
    day: Option<i64>,
    day_start: Money,
    equity: Money,
    last_event: Option<Timestamp>,
    last_market: Instant,
    heartbeat: Instant,
    health: Health,
    /// The connection down now, and since when.
    down: Option<(Link, Instant)>,
    /// Whether the agent's session is open (live feeds; a replay always counts as open).
    in_session: bool,
    /// This agent's stale-data threshold.
    stale_after: Option<Duration>,
    /// Live feeds: latency so far.
    latency: Option<crate::report::LatencySummary>,
}

impl Slot {
    /// Signed quantity and average price (flat before the first fill).
    fn position(&self) -> (Decimal, Price) {
        self.tally.pos.unwrap_or_default()
    }

    fn day_pnl(&self) -> Money {
        self.equity - self.day_start
    }

    fn state_text(&self) -> &'static str {
        if self.stopped {
            "stopped"
        } else if self.disabled {
            "disabled"
        } else {
            self.state.as_str()
        }
    }

    /// What the hub shows of this agent at wall time `now`.
    fn view(&self, now: Instant) -> AgentView {
        let venue = match self.down {
            Some((link, at)) => format!("{link} disconnected for {}s", now.duration_since(at).as_secs()),
            None => "connected".to_owned(),
        };
        AgentView {
            name: self.name.clone(),
            recipe: self.recipe.clone(),
            account: self.account.clone(),
            // The contract held, while one is; else what the recipe trades.
            instrument: crate::report::instrument_text(match &self.tally.held {
                Some(held) if !self.position().0.is_zero() => held,
                _ => &self.instrument,
            }),
            run: self.run.clone(),
            state: self.state_text().to_owned(),
            health: self.health.to_string(),
            position: {
                let (qty, avg) = self.position();
                PositionView { qty: qty.normalize(), avg_price: avg.round_dp(4).normalize() }
            },
            pnl_today: self.day_pnl().round_dp(2),
            pnl_total: (self.equity - self.starting_equity).round_dp(2),
            realized: self.tally.realized.round_dp(2),
            equity: self.equity.round_dp(2),
            starting_equity: self.starting_equity.round_dp(2),
            last_price: self.last_price.map(|p| p.normalize()),
            last_data: self.last_event.map(crate::report::iso),
            data_age_seconds: (now.duration_since(self.last_market).as_millis() as f64) / 1000.0,
            last_signal: self.tally.last_signal.clone(),
            venue,
            orders: self.tally.orders,
            fills: self.tally.fills,
            denials: self.tally.denials,
            feed_latency: self.latency.map(|l| {
                format!("p50 {} / p99 {}", crate::report::micros(l.p50_us), crate::report::micros(l.p99_us))
            }),
        }
    }
}

/// How often at most an agent's snapshot goes to the hub on market data.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(200);

/// The hub's view of the book.
struct BookBoard(Shared);

impl Board for BookBoard {
    fn agents(&self) -> Vec<AgentView> {
        let now = Instant::now();
        lock(&self.0).slots.iter().map(|s| s.view(now)).collect()
    }

    fn loop_lag(&self) -> Vec<f64> {
        let now = Instant::now();
        lock(&self.0).slots.iter().map(|s| now.duration_since(s.heartbeat).as_secs_f64()).collect()
    }
}

pub(super) struct Book {
    slots: Vec<Slot>,
    /// The trading day of the last fleet halt (one per day).
    halted_on: Option<i64>,
}

type Shared = Arc<Mutex<Book>>;

fn lock(b: &Shared) -> std::sync::MutexGuard<'_, Book> {
    // A panic while holding the lock leaves plain numbers behind; keep using them.
    b.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Print a line on stdout; on a terminal the progress line (stderr) is cleared first so the
/// two never share a line.
fn say(line: &str) {
    static TERMINAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *TERMINAL.get_or_init(|| std::io::stderr().is_terminal()) {
        eprint!("\r\x1b[K");
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// Starts an agent again from its recipe file when a reload changed more than its parameters
/// (`runner up` provides it; without one such a reload is refused).
pub trait Restart: Send + Sync {
    /// Everything that may fail before the running agent is touched: the recipe prepared, its
    /// secrets decrypted, its venue and market data checked. Blocking.
    fn stage(&self, recipe: &Path) -> Result<Staged, String>;
    /// The run of the agent in slot `index` ended for a restart: keep its report.
    fn retire(&self, index: usize, done: &Finished);
    /// Begin the new run of the agent in slot `index` from what [`Restart::stage`] made (its
    /// journal run, restored and reconciled with the venue; its venue tasks). Blocking.
    fn start(&self, index: usize, recipe: &Path, staged: Staged) -> Result<FleetAgent, String>;
}

/// What [`Restart::stage`] made, for its [`Restart::start`].
pub struct Staged(pub Box<dyn std::any::Any + Send>);

/// The fleet's [`Restart`].
#[derive(Clone)]
pub struct Restarter(pub Arc<dyn Restart>);

impl std::fmt::Debug for Restarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Restarter")
    }
}

/// Settings of [`run`].
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where status files go.
    pub state_dir: PathBuf,
    /// Fleet daily loss limit.
    pub loss_limit: Option<Money>,
    /// Stale-data threshold.
    pub stale_after: Option<Duration>,
    /// Live feeds: the stale-data threshold that halts entries.
    pub stale_halt_after: Option<Duration>,
    /// The journal database (the API reads history from it).
    pub journal: PathBuf,
    /// Webhook notifications, with their secrets decrypted.
    pub notify: Option<super::notify::NotifySetup>,
    /// Restarts agents whose recipe changed beyond their parameters (reload).
    pub restart: Option<Restarter>,
}

/// The async runtime `runner up` runs in. It is built before anything is journaled so the
/// signal handlers ([`Signals::install`], inside `runtime.enter()`) are in place from the start.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Live-style run of a fleet: per agent a feeder task paces its replay against the wall clock
/// and an agent task handles inputs, journals every event in order, and publishes its P&L; a
/// status task writes status files and health lines every second. Reaching the fleet loss
/// limit halts every agent. SIGINT, SIGTERM or SIGHUP shuts every agent down cleanly;
/// SIGUSR1 prints every agent's status (see [`super::signals`]). Results come back in the
/// order given.
pub fn run(
    rt: &tokio::runtime::Runtime,
    signals: Signals,
    agents: Vec<FleetAgent>,
    opts: &RunOptions,
    serve: Option<Serve>,
) -> anyhow::Result<Vec<Finished>> {
    rt.block_on(run_all(signals, agents, opts.clone(), serve))
}

/// What `runner up --http ADDR` serves on: the bound listener (bound before anything is
/// journaled, so a taken port refuses the start), who may use the controls, and the journal
/// the API reads history from.
#[derive(Debug)]
pub struct Serve {
    /// The bound listener.
    pub listener: std::net::TcpListener,
    /// The control token.
    pub auth: super::http::Auth,
}

async fn run_all(
    mut signals: Signals,
    agents: Vec<FleetAgent>,
    opts: RunOptions,
    serve: Option<Serve>,
) -> anyhow::Result<Vec<Finished>> {
    let now = Instant::now();
    let book: Shared = Arc::new(Mutex::new(Book {
        slots: agents.iter().map(|a| Slot::new(a, now, opts.stale_after)).collect(),
        halted_on: None,
    }));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(None::<StopReason>);
    let (halt_tx, halt_rx) = tokio::sync::watch::channel(None::<String>);
    let halt_tx = Arc::new(halt_tx);
    // A progress line on a terminal only (one line for every agent).
    let progress = std::io::stderr().is_terminal();
    // One control channel per agent; the hub (and the HTTP server on it) when asked for.
    let mut controls = std::collections::HashMap::new();
    let mut receivers = Vec::with_capacity(agents.len());
    for a in &agents {
        let (tx, rx) = mpsc::unbounded_channel();
        controls.insert(a.name.clone(), tx);
        receivers.push(rx);
    }
    let mut control_rx = receivers.into_iter();
    let (http_stop, http_stopped) = tokio::sync::watch::channel(false);
    // The hub is always there (metrics and notifications read it); the server only with --http.
    let hub = Arc::new(Hub::new(HubParts {
        board: Box::new(BookBoard(Arc::clone(&book))),
        controls,
        halt: Arc::clone(&halt_tx),
        loss_limit: opts.loss_limit,
        journal: opts.journal.clone(),
        runs_dir: opts.state_dir.join("runs"),
        names: agents.iter().map(|a| a.name.clone()).collect(),
    }));
    let server = match serve {
        Some(serve) => {
            let listener = tokio::net::TcpListener::from_std(serve.listener)
                .context("cannot serve on the --http address")?;
            Some(tokio::spawn(super::http::serve(listener, Arc::clone(&hub), serve.auth, http_stopped)))
        }
        None => None,
    };
    let notifier = super::notify::start(Arc::clone(&hub), opts.notify.clone());
    // The journal's checkpoints, off the agents' commits (they defer theirs): once a second,
    // and once more at the end.
    let (ckpt_stop, mut ckpt_stopped) = tokio::sync::watch::channel(false);
    let ckpt_path = opts.journal.clone();
    let checkpointer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let stop = tokio::select! {
                _ = tick.tick() => false,
                _ = ckpt_stopped.changed() => true,
            };
            let p = ckpt_path.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || crate::journal::checkpoint(&p)).await {
                tracing::warn!(error = %e, "journal checkpoint failed; the next one tries again");
            }
            if stop {
                break;
            }
        }
    });
    let hub = Some(hub);
    let board = progress.then(|| {
        Arc::new(super::progress::Board::new(&agents.iter().map(|a| a.name.clone()).collect::<Vec<_>>()))
    });
    let tasks: Vec<_> = agents
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let ctx = AgentCtx {
                index: i,
                book: Arc::clone(&book),
                stop: stop_rx.clone(),
                halt_rx: halt_rx.clone(),
                halt_tx: Arc::clone(&halt_tx),
                loss_limit: opts.loss_limit,
                stale_halt_after: opts.stale_halt_after.or(Some(LIVE_HALT_AFTER)),
                progress,
                board: board.clone(),
                hub: hub.clone(),
                controls: control_rx.next().expect("one control channel per agent"),
                restart: opts.restart.clone(),
            };
            tokio::spawn(run_slot(a, ctx, Arc::clone(&book), opts.stale_after))
        })
        .collect();
    let signal_book = Arc::clone(&book);
    let ctrl = tokio::spawn(async move {
        loop {
            match signals.recv().await {
                Received::Stop(why) => {
                    eprintln!("\nstopping ({why}): canceling open orders and flattening");
                    let _ = stop_tx.send(Some(why));
                    // Later signals change nothing: the stop is under way.
                }
                Received::Status => {
                    for line in status_lines(&signal_book) {
                        eprintln!("{line}");
                    }
                }
            }
        }
    });
    // The status writer stops when told and is awaited, so no write can land after the
    // clean-exit removal below.
    let (writer_stop, mut writer_stopped) = tokio::sync::watch::channel(false);
    let status_book = Arc::clone(&book);
    let status_opts = opts.clone();
    let status_hub = hub.clone();
    let writer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => write_statuses(&status_book, &status_opts, status_hub.as_deref()),
                _ = writer_stopped.changed() => break,
            }
        }
    });
    let mut results = Vec::with_capacity(tasks.len());
    let mut first_err = None;
    for t in tasks {
        match t.await {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => first_err = first_err.or(Some(e)),
            Err(e) => first_err = first_err.or(Some(anyhow::anyhow!("agent task failed: {e}"))),
        }
    }
    let _ = writer_stop.send(true);
    let _ = writer.await;
    let _ = ckpt_stop.send(true);
    let _ = checkpointer.await;
    ctrl.abort();
    let _ = http_stop.send(true);
    if let Some(server) = server {
        match server.await {
            Ok(Err(e)) => eprintln!("warning: the HTTP server stopped with an error: {e}"),
            Err(e) => eprintln!("warning: the HTTP server task failed: {e}"),
            Ok(Ok(())) => {}
        }
    }
    drop(hub);
    if let Some(n) = notifier {
        // Deliveries still queued get a last short chance; trading is over.
        n.finish().await;
    }
    // Clean exit: the status files go.
    for s in &lock(&book).slots {
        status::remove(&opts.state_dir, &s.name);
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(results),
    }
}

impl Slot {
    /// The slot of agent `a` as it starts (at `now`).
    fn new(a: &FleetAgent, now: Instant, stale_after: Option<Duration>) -> Self {
        Slot {
            name: a.name.clone(),
            account: a.account.clone(),
            recipe: a.recipe.display().to_string(),
            instrument: a.trader.agent().config().symbol_label.clone(),
            run: a.sink.as_ref().map(|s| s.run_id().to_string()).unwrap_or_default(),
            state: a.trader.agent().trading_state(),
            disabled: false,
            stopped: false,
            starting_equity: a.trader.agent().equity(),
            tally: Tally::default(),
            snapshot_at: now,
            last_price: None,
            day: None,
            day_start: a.trader.agent().equity(),
            equity: a.trader.agent().equity(),
            last_event: None,
            last_market: now,
            heartbeat: now,
            health: Health::Ok,
            down: None,
            in_session: true,
            latency: None,
            stale_after: match a.feed {
                Feed::Live { .. } => stale_after.or(Some(LIVE_STALE_AFTER)),
                Feed::Replay { .. } => stale_after,
            },
        }
    }
}

/// One agent's slot of the fleet: its run, and the runs a reload restarts it into (each
/// begun by the fleet's [`Restart`], in the same slot, with the same controls). Its result is
/// the last run's; a restart that cannot start leaves the agent stopped with the run before.
async fn run_slot(
    mut a: FleetAgent,
    mut ctx: AgentCtx,
    book: Shared,
    stale_after: Option<Duration>,
) -> anyhow::Result<Finished> {
    loop {
        let name = a.name.clone();
        let recipe = a.recipe.clone();
        let Ran { finished, restart, ctx: back } = run_agent(a, ctx).await?;
        let (Some(staged), Some(r)) = (restart, back.restart.clone()) else { return Ok(finished) };
        let index = back.index;
        r.0.retire(index, &finished);
        let starter = r.clone();
        let path = recipe.clone();
        let started = tokio::task::spawn_blocking(move || starter.0.start(index, &path, staged))
            .await
            .unwrap_or_else(|e| Err(format!("the start failed: {e}")));
        match started {
            Ok(next) => {
                lock(&book).slots[index] = Slot::new(&next, Instant::now(), stale_after);
                if let Some(h) = back.hub.as_deref() {
                    let message =
                        format!("restarted from {} (run {})", recipe.display(), lock(&book).slots[index].run);
                    h.emit(
                        &name,
                        Body::Agent(AgentEvent::Warning { ts: next.trader.agent().now(), message }),
                    );
                }
                a = next;
                ctx = back;
            }
            Err(why) => {
                say(&format!(
                    "{name}: the restart from {} did not start, the agent stays stopped: {why}",
                    recipe.display()
                ));
                if let Some(h) = back.hub.as_deref() {
                    let message = format!("the restart did not start; the agent stays stopped: {why}");
                    h.emit(
                        &name,
                        Body::Agent(AgentEvent::Warning {
                            ts: Timestamp::from_datetime(&chrono::Utc::now()),
                            message,
                        }),
                    );
                }
                return Ok(finished);
            }
        }
    }
}

/// One line per agent for SIGUSR1: name, state, position, day P&L, health.
fn status_lines(book: &Shared) -> Vec<String> {
    let b = lock(book);
    b.slots
        .iter()
        .map(|s| {
            let (qty, avg) = s.position();
            format!(
                "{}: {}, position {} @ {}, day P&L {}, {}",
                s.name,
                s.state_text(),
                qty.normalize(),
                avg.round_dp(4),
                s.day_pnl().round_dp(2),
                s.health
            )
        })
        .collect()
}

/// Health checks and status files, once a second.
fn write_statuses(book: &Shared, opts: &RunOptions, hub: Option<&Hub>) {
    let now = Instant::now();
    let process = ProcessStamp::current();
    let mut rows = Vec::new();
    {
        let mut b = lock(book);
        for s in &mut b.slots {
            let health = if s.stopped {
                Health::Ok
            } else {
                let since_data = now.duration_since(s.last_market);
                health(
                    now.duration_since(s.heartbeat),
                    s.down.map(|(link, at)| (link, now.duration_since(at))),
                    since_data,
                    s.stale_after.filter(|_| s.in_session),
                )
            };
            if health != s.health {
                say(&format!("{} health: {health}", s.name));
                if let Some(h) = hub {
                    h.emit(&s.name, Body::Fleet(FleetNote::Health { health: health.to_string() }));
                }
                s.health = health;
            }
            let (qty, avg) = s.position();
            rows.push(AgentStatus {
                agent: s.name.clone(),
                account: s.account.clone(),
                process: process.clone(),
                run: s.run.clone(),
                state: s.state_text().to_owned(),
                position: qty.normalize().to_string(),
                avg_price: avg.round_dp(4).to_string(),
                day_pnl: s.day_pnl().round_dp(2).to_string(),
                equity: s.equity.round_dp(2).to_string(),
                health: s.health.to_string(),
                last_event: s.last_event.map(crate::report::iso).unwrap_or_default(),
                feed_latency: s.latency.map_or_else(String::new, |l| {
                    format!(
                        "p50 {} / p99 {}",
                        crate::report::micros(l.p50_us),
                        crate::report::micros(l.p99_us)
                    )
                }),
                updated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            });
        }
    }
    for r in &rows {
        if let Err(e) = status::write(&opts.state_dir, r) {
            eprintln!("warning: cannot write the status of {}: {e}", r.agent);
        }
    }
}

/// An agent's health from how long ago its loop last ran, which connection is down, and when
/// its last market event arrived (wall clock): a stalled loop first, then a lost connection,
/// then stale data.
fn health(
    since_loop: Duration,
    down: Option<(Link, Duration)>,
    since_data: Duration,
    stale_after: Option<Duration>,
) -> Health {
    if since_loop > STALL_AFTER {
        Health::Stalled(since_loop)
    } else if let Some((link, d)) = down {
        Health::Disconnected(link, d)
    } else if stale_after.is_some_and(|limit| since_data > limit) {
        Health::Stale(since_data)
    } else {
        Health::Ok
    }
}

struct AgentCtx {
    index: usize,
    book: Shared,
    /// Set once to why the run stops.
    stop: tokio::sync::watch::Receiver<Option<StopReason>>,
    halt_rx: tokio::sync::watch::Receiver<Option<String>>,
    halt_tx: Arc<tokio::sync::watch::Sender<Option<String>>>,
    loss_limit: Option<Money>,
    /// Live feeds: no data for this long during the session halts entries.
    stale_halt_after: Option<Duration>,
    progress: bool,
    board: Option<Arc<super::progress::Board>>,
    /// The hub, when `runner up --http` serves one.
    hub: Option<Arc<Hub>>,
    /// Operator controls for this agent (from the hub).
    controls: mpsc::UnboundedReceiver<ControlMsg>,
    /// Starts the agent again when a reload changed its recipe beyond its parameters.
    restart: Option<Restarter>,
}

/// How an agent's task ended: its run, and (for a restart) what starts the next one, with the
/// context its slot keeps.
struct Ran {
    finished: Finished,
    restart: Option<Staged>,
    ctx: AgentCtx,
}

/// Where an agent's events go: the journal (one commit per step, when `Out` is dropped, and
/// before any order the step sends leaves for its venue), and the terminal, in the same order,
/// once the step is over — so writing a line never delays an order.
struct Out<'a> {
    journal: &'a mut Option<JournalSink>,
    who: &'a Who,
    tally: &'a mut Tally,
    lines: Vec<String>,
    /// What the agent did with the external signal of this step.
    external: Option<crate::engine::agent::ExternalOutcome>,
}

impl<'a> Out<'a> {
    fn new(journal: &'a mut Option<JournalSink>, who: &'a Who, tally: &'a mut Tally) -> Self {
        if let Some(s) = journal.as_mut() {
            s.begin_step();
        }
        Self { journal, who, tally, lines: Vec::new(), external: None }
    }

    fn sink(&mut self) -> impl FnMut(&AgentEvent) + '_ {
        |ev: &AgentEvent| {
            let hub = self.who.hub.as_deref();
            if let Some(s) = self.journal.as_mut() {
                s.on_event(ev);
            }
            self.tally.count(ev);
            if let AgentEvent::External(x) = ev {
                self.external = Some(x.clone());
            }
            if let Some(h) = hub {
                h.metrics.on_event(self.who.index, ev);
                if h.listened() {
                    h.emit(&self.who.name, Body::Agent(ev.clone()));
                }
            }
            if let Some(line) = describe(&self.who.name, ev) {
                self.lines.push(line);
            }
        }
    }
}

/// Who an agent's task is, for its output: its name, whether a progress line is drawn, and
/// the hub it publishes to.
struct Who {
    name: String,
    index: usize,
    progress: bool,
    hub: Option<Arc<Hub>>,
}

/// What an agent's task counts between publishes ([`publish`] copies it into the book).
#[derive(Debug, Clone, Default)]
pub(super) struct Tally {
    pos: Option<(Decimal, Price)>,
    /// What the latest position is in (an option agent's contract).
    held: Option<String>,
    realized: Money,
    last_signal: Option<String>,
    orders: u64,
    fills: u64,
    denials: u64,
}

impl Tally {
    fn count(&mut self, ev: &AgentEvent) {
        use crate::model::order::OrderEvent;
        match ev {
            AgentEvent::Position { qty, avg_price, realized, instrument, .. } => {
                self.pos = Some((*qty, *avg_price));
                self.held = Some(instrument.as_str().to_owned());
                self.realized = *realized;
            }
            AgentEvent::OrderSent(_) => self.orders += 1,
            AgentEvent::Order(OrderEvent::Filled(_) | OrderEvent::PartiallyFilled(_)) => self.fills += 1,
            AgentEvent::Denied(_) => self.denials += 1,
            AgentEvent::Signal(sig) => {
                self.last_signal = Some(format!(
                    "{} strength {}% @ {} at {}",
                    sig.direction,
                    sig.strength,
                    crate::report::price(sig.price),
                    crate::report::iso(sig.ts)
                ));
            }
            _ => {}
        }
    }
}

impl Drop for Out<'_> {
    fn drop(&mut self) {
        // The step's records in one commit (an order was committed before it left).
        if let Some(s) = self.journal.as_mut() {
            s.end_step();
        }
        for line in self.lines.drain(..) {
            if self.who.progress {
                eprint!("\r\x1b[K");
            }
            say(&line);
        }
    }
}

/// How long a stopping agent on a remote venue waits for its cancels and exits to be answered.
const DRAIN_FOR: Duration = Duration::from_secs(30);

/// An agent's market data as the driver reads it: the feed, the clock it sets, and for a
/// replay how far it has read and what its price band dropped.
struct Source {
    feed: Box<dyn MarketDataClient>,
    clock: Box<dyn Clock>,
    subscriptions: Vec<Subscription>,
    read: Option<crate::market::replay::ReplayProgress>,
    dropped: Option<crate::market::band::DroppedPrints>,
    live: bool,
}

impl Source {
    fn new(feed: Feed) -> Self {
        match feed {
            Feed::Replay { replay, speed } => {
                let factor = match speed {
                    Speed::Max => None,
                    Speed::Times(x) => x.to_f64().filter(|v| *v > 0.0),
                };
                // A paced replay's time runs with the wall clock, so a timer comes even when
                // the tape is quiet; at full speed the data delivers it (super::clock).
                let clock: Box<dyn Clock> = match factor {
                    Some(f) => Box::new(PacedClock::new(f)),
                    None => Box::new(DataClock::default()),
                };
                Self {
                    read: Some(replay.progress()),
                    dropped: Some(replay.dropped_prints()),
                    feed: Box::new(ReplayFeed::new(*replay, factor)),
                    clock,
                    subscriptions: Vec::new(),
                    live: false,
                }
            }
            Feed::Live { client, subscriptions } => Self {
                feed: client,
                clock: Box::new(FeedClock::default()),
                subscriptions,
                read: None,
                dropped: None,
                live: true,
            },
        }
    }
}

/// A connection went down or came back: the status book shows it.
fn note_link(ctx: &AgentCtx, change: &Connectivity) {
    let mut b = lock(&ctx.book);
    let s = &mut b.slots[ctx.index];
    match change {
        Connectivity::Down { link, .. } => {
            if s.down.is_none() {
                s.down = Some((*link, Instant::now()));
            }
        }
        Connectivity::Up { link, .. } => {
            if s.down.is_some_and(|(l, _)| l == *link) {
                s.down = None;
            }
        }
        Connectivity::Gap { .. } => {}
    }
}

/// A live agent's watch over its feed: whether its session is open (only then does a quiet feed
/// count), and the entry halt past [`AgentCtx::stale_halt_after`], once per trading day.
struct Watch {
    session: crate::market::session::SessionClock,
    halted_on: Option<i64>,
}

impl Watch {
    /// Mark the session open or closed at `now`; the reason to halt entries when the feed has
    /// been quiet too long during it.
    fn check(&mut self, now: Timestamp, ctx: &AgentCtx) -> Option<String> {
        let open = self.session.phase_of(now) != crate::strategy::Phase::OutOfSession;
        let day = self.session.today().index;
        let quiet = {
            let mut b = lock(&ctx.book);
            let s = &mut b.slots[ctx.index];
            if open && !s.in_session {
                // The session just opened: the quiet time counts from here.
                s.last_market = Instant::now();
            }
            s.in_session = open;
            s.last_market.elapsed()
        };
        let limit = ctx.stale_halt_after?;
        if !open || quiet <= limit || self.halted_on == Some(day) {
            return None;
        }
        self.halted_on = Some(day);
        Some(format!("no market data for {}s during the session: no new entries today", quiet.as_secs()))
    }
}

/// The next chain snapshot; never, without a poller.
async fn next_chain(rx: &mut Option<mpsc::Receiver<Arc<ChainSnapshot>>>) -> Option<Arc<ChainSnapshot>> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next input of a signal source; never, without one.
async fn next_signal(w: &mut Option<super::signal_feed::Wiring>) -> Option<super::signal_feed::SignalInput> {
    match w {
        Some(w) => w.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// What an agent's signal source delivered, by what became of it.
#[derive(Debug, Default)]
struct SignalCounts {
    accepted: u64,
    refused: u64,
    duplicates: u64,
    other_ticker: u64,
    /// Ids seen in this run (recognised without a journal).
    seen: std::collections::HashSet<String>,
}

/// One signal from the source: checked (readable, this agent's ticker, not seen before, not
/// stale), handed to the agent and journaled. Returns its answer, sent by [`answer_signals`]
/// once the journal's records are on disk (the source acknowledges it to its publisher after
/// that); `None` when the journal failed (no answer: it is never acknowledged).
#[allow(clippy::too_many_arguments)]
fn on_signal(
    inbound: super::signal_feed::Inbound,
    trader: &mut Trader,
    wiring: &super::signal_feed::Wiring,
    journal: &mut Option<JournalSink>,
    counts: &mut SignalCounts,
    who: &Who,
    tally: &mut Tally,
) -> Option<(tokio::sync::oneshot::Sender<super::signal_feed::Verdict>, super::signal_feed::Verdict)> {
    let name = who.name.as_str();
    use super::signal_feed::{Side as SigSide, Verdict};
    let super::signal_feed::Inbound { id, published, body, reply } = inbound;
    let now = Timestamp::from_datetime(&chrono::Utc::now());
    let at = crate::report::iso(now);
    let shown_id = id.as_deref().unwrap_or("(no id)");
    let refuse =
        |journal: &mut Option<JournalSink>, body: Option<&super::signal_feed::SignalBody>, why: String| {
            if let Some(s) = journal.as_mut() {
                s.signal_refused(id.as_deref(), body, &why, published, now);
            }
            say(&format!("{at} {name} external signal {shown_id}: refused: {why}"));
            Verdict::Refused(why)
        };
    let verdict = 'v: {
        let body = match body {
            Ok(b) => b,
            Err(why) => {
                counts.refused += 1;
                break 'v refuse(journal, None, format!("not a signal: {why}"));
            }
        };
        if !body.ticker.eq_ignore_ascii_case(&wiring.ticker) {
            counts.other_ticker += 1;
            break 'v Verdict::OtherTicker;
        }
        if let Some(i) = &id {
            let seen = !counts.seen.insert(i.clone()) || journal.as_ref().is_some_and(|s| s.signal_seen(i));
            if seen {
                counts.duplicates += 1;
                tracing::info!(agent = name, id = %i, "external signal already handled: not traded again");
                break 'v Verdict::Duplicate;
            }
        }
        let age =
            std::time::Duration::from_nanos(u64::try_from(now.0.saturating_sub(published.0)).unwrap_or(0));
        if age > wiring.max_age {
            counts.refused += 1;
            break 'v refuse(
                journal,
                Some(&body),
                format!(
                    "stale: published {:.1}s ago, max_signal_age is {:.1}s",
                    age.as_secs_f64(),
                    wiring.max_age.as_secs_f64()
                ),
            );
        }
        let signal = crate::strategy::external_signal::ExternalEvent {
            ts: published,
            direction: match body.side {
                SigSide::Buy => crate::strategy::Direction::Long,
                SigSide::Sell => crate::strategy::Direction::Short,
            },
            strength: body.strength,
        };
        if let Some(s) = journal.as_mut() {
            s.begin_signal();
        }
        let mut out = Out::new(journal, who, tally);
        trader.external(crate::engine::agent::ExternalIn { id: id.clone(), signal }, &mut out.sink());
        let outcome = out.external.take();
        drop(out);
        if let Some(s) = journal.as_mut() {
            s.end_signal();
        }
        match outcome {
            Some(x) => match x.refused {
                Some(why) => {
                    counts.refused += 1;
                    Verdict::Refused(why)
                }
                None => {
                    counts.accepted += 1;
                    Verdict::Accepted { orders: x.orders.into_iter().map(|o| o.0).collect() }
                }
            },
            None => {
                counts.refused += 1;
                Verdict::Refused("the agent did not take it".into())
            }
        }
    };
    // A journal that failed to write: no answer, so the source never acknowledges it.
    if journal.as_ref().and_then(JournalSink::error).is_some() {
        return None;
    }
    Some((reply, verdict))
}

/// Answer signals (their sources acknowledge them to the publisher next) once the journal's
/// records of them are on disk: the fsync they owe runs first. A journal that failed answers
/// none, so none is acknowledged (each is delivered again), and the error is returned.
async fn answer_signals(
    answers: Vec<(tokio::sync::oneshot::Sender<super::signal_feed::Verdict>, super::signal_feed::Verdict)>,
    journal: &mut Option<JournalSink>,
) -> Result<(), String> {
    durable(journal).await?;
    if let Some(e) = journal.as_ref().and_then(JournalSink::error) {
        return Err(e.to_string());
    }
    // Test hook: die as `kill -9` would, after the journal write and before the ack
    // (tests/signals_up.rs).
    if !answers.is_empty() && std::env::var_os("RUNNER_TEST_ABORT_BEFORE_SIGNAL_ACK").is_some() {
        std::process::abort();
    }
    for (reply, verdict) in answers {
        let _ = reply.send(verdict);
    }
    Ok(())
}

/// Run the fsync the journal owes for the last step's commits (an order that left, a signal's
/// verdict, a halt, an operator's action; see [`JournalSink::take_unsynced`]) on a blocking
/// thread: this worker is free meanwhile, so an order just handed to the execution task goes
/// out while the disk works. The agent's next event waits for it. A failure fails the journal.
async fn durable(journal: &mut Option<JournalSink>) -> Result<(), String> {
    let Some(s) = journal.as_mut() else { return Ok(()) };
    let Some(wal) = s.take_unsynced() else { return Ok(()) };
    let here = wal.clone();
    let r = match tokio::task::spawn_blocking(move || wal.sync()).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "journal sync task did not run; syncing here");
            here.sync()
        }
    };
    if let Err(e) = r {
        let msg = e.to_string();
        s.sync_failed(e);
        return Err(msg);
    }
    Ok(())
}

/// An operator's control, carried out at once (between two events): halt, resume, flatten,
/// disable, enable go to the agent as commands; a view is the run so far. Refused when it would
/// change nothing, or the agent is stopping.
fn on_control(
    control: Control,
    by: &str,
    trader: &mut Trader,
    journal: &mut Option<JournalSink>,
    who: &Who,
    tally: &mut Tally,
    params: &mut Params,
) -> Result<Answer, String> {
    let agent = trader.agent();
    match control {
        Control::View => return Ok(Answer::View(Box::new(RunView::of(&agent.report_so_far())))),
        Control::Params => return Ok(Answer::Params(params.current())),
        _ if agent.stopped() => return Err(format!("agent `{}` is stopping", who.name)),
        _ => {}
    }
    let action = control.action();
    let reason = format!("{action} by {by}");
    let state = agent.trading_state();
    let command = match control {
        Control::Halt if state == TradingState::Halted => return Err("the agent is already halted".into()),
        Control::Halt => Some(Command::Halt { reason }),
        Control::Resume if agent.disabled() => return Err("the agent is disabled: enable it".into()),
        Control::Resume if state == TradingState::Active => return Err("the agent is already active".into()),
        Control::Resume => Some(Command::Resume { reason }),
        Control::Flatten if agent.position_qty().is_zero() && !agent.has_orders() => {
            return Err("the agent holds no position and has no working orders".into());
        }
        Control::Flatten => Some(Command::Flatten { reason }),
        Control::Disable if agent.disabled() => return Err("the agent is already disabled".into()),
        Control::Disable => Some(Command::Disable { reason }),
        Control::Enable if !agent.disabled() => return Err("the agent is not disabled".into()),
        Control::Enable => Some(Command::Enable { reason }),
        Control::SetParam { .. } | Control::Reload { .. } | Control::View | Control::Params => None,
    };
    let rec = match (command, control) {
        (Some(command), _) => {
            let mut out = Out::new(journal, who, tally);
            trader.command(command, &mut out.sink());
            drop(out);
            ControlRecord {
                action: action.to_owned(),
                by: by.to_owned(),
                key: None,
                old: None,
                new: None,
                result: "applied".to_owned(),
            }
        }
        (None, Control::SetParam { key, value }) => params.set(&key, &value, by, trader)?,
        (None, Control::Reload { positions }) => params.reload(by, trader, positions)?,
        // View and params were answered above.
        (None, _) => return Err(format!("{action} is not a change")),
    };
    if let Some(s) = journal.as_mut() {
        s.control(&rec);
    }
    Ok(Answer::Done(rec))
}

/// A running agent's recipe as operators have edited it (see [`super::params`]), and the edits
/// waiting for the agent to be flat.
struct Params {
    /// The recipe's file, its name for messages, its text with every accepted edit, and its
    /// directory.
    path: PathBuf,
    name: String,
    text: Option<String>,
    base: PathBuf,
    recipe: Option<crate::recipe::Recipe>,
    /// Edits accepted but waiting for the agent to be flat: (key, old, new, by).
    waiting: Vec<(String, String, String, String)>,
    /// Starts the agent again from its recipe (see [`Restart`]), and whether its data is live.
    restart: Option<Restarter>,
    live: bool,
    /// A restart a reload asked for, staged, waiting for the agent to be flat (or carrying).
    pending: Option<PendingRestart>,
}

/// A restart a reload asked for (see [`Params::reload`]).
struct PendingRestart {
    staged: Staged,
    /// The keys that changed, for the run's outcome.
    keys: String,
    positions: super::hub::Positions,
    by: String,
    flatten_sent: bool,
}

impl Params {
    /// The recipe as it was started: its text (as the agent was built from it, else the file's)
    /// and typed load (`run::prepare` validated it; the validator's passes run again on each
    /// edit).
    fn read(path: &Path, text: Option<String>, restart: Option<Restarter>, live: bool) -> Self {
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let name = path.display().to_string();
        let text = text.or_else(|| crate::recipe::load::read_source(path).ok().map(|src| src.text));
        let recipe = text.as_deref().and_then(|t| crate::recipe::from_yaml_str(t).ok());
        Self {
            path: path.to_path_buf(),
            name,
            text,
            base,
            recipe,
            waiting: Vec::new(),
            restart,
            live,
            pending: None,
        }
    }

    /// A reload changed `keys` beyond the parameters: stage the restart, or refuse it (and
    /// change nothing) — a restart is already under way; the agent's name or broker account
    /// changed (one account belongs to one agent: stop it and start it again); it holds a
    /// position or working orders and `positions` says neither flatten nor carry; carry-over
    /// on replayed data, with working orders, or onto another instrument; the new recipe
    /// cannot start (its secrets, its venue).
    fn stage_restart(
        &mut self,
        by: &str,
        trader: &Trader,
        current: &crate::recipe::Recipe,
        disk: &crate::recipe::Recipe,
        keys: &[String],
        positions: super::hub::Positions,
    ) -> Result<ControlRecord, String> {
        use super::hub::Positions;
        let listed = keys.join(", ");
        let Some(restart) = self.restart.clone() else {
            return Err(format!(
                "{listed} changed in {}: these cannot change while the agent runs; restart the agent to take them \
                 (nothing changed)",
                self.name
            ));
        };
        if self.pending.is_some() {
            return Err("a restart is already under way (nothing changed)".into());
        }
        if disk.agent != current.agent {
            return Err(format!(
                "agent renamed from `{}` to `{}` in {}: a reload keeps the agent's name; stop it and start it \
                 again (nothing changed)",
                current.agent, disk.agent, self.name
            ));
        }
        let broker = |r: &crate::recipe::Recipe| {
            (crate::recipe::kind_name(&r.broker.kind), r.broker.account.clone(), r.broker.environment)
        };
        if broker(disk) != broker(current) {
            return Err(format!(
                "{listed} changed in {}: a reload keeps the agent's broker account (one account belongs to one \
                 agent); stop the agent and start it again to restart it on another (nothing changed)",
                self.name
            ));
        }
        let agent = trader.agent();
        let holds = !agent.is_flat();
        match positions {
            Positions::Refuse if holds => {
                return Err(format!(
                    "{listed} changed: restarting needs the agent flat, and it holds a position or has working \
                     orders; reload with positions=flatten to close it first, or positions=carry to keep it \
                     (nothing changed)"
                ));
            }
            Positions::Carry if holds && !self.live => {
                return Err(
                    "carry-over needs live market data (a replay starts again from its first record); \
                            reload with positions=flatten (nothing changed)"
                        .into(),
                );
            }
            Positions::Carry if agent.has_orders() => {
                return Err("orders are working: carry-over takes a position, not orders in flight; reload \
                            again once they are settled, or with positions=flatten (nothing changed)"
                    .into());
            }
            Positions::Carry
                if holds && keys.iter().any(|k| k == "instrument" || k.starts_with("instrument.")) =>
            {
                return Err(
                    "the instrument changed: a position cannot be carried over to another one; reload \
                            with positions=flatten (nothing changed)"
                        .into(),
                );
            }
            _ => {}
        }
        let path = self.path.clone();
        let staged = tokio::task::block_in_place(|| restart.0.stage(&path))
            .map_err(|e| format!("the changed recipe cannot start, nothing changed: {e}"))?;
        self.pending = Some(PendingRestart {
            staged,
            keys: listed.clone(),
            positions,
            by: by.to_owned(),
            flatten_sent: false,
        });
        let how = match positions {
            Positions::Flatten if holds => "; flattening first",
            Positions::Carry if holds => "; carrying the position over",
            _ => "",
        };
        Ok(ControlRecord {
            action: "reload".to_owned(),
            by: by.to_owned(),
            key: None,
            old: None,
            new: Some(listed),
            result: format!("restarting{how}"),
        })
    }

    /// Whether a staged restart may go now: the agent is flat, or carries its position over.
    /// Sends the flatten a `positions=flatten` restart waits for, once.
    fn restart_ready(
        &mut self,
        trader: &mut Trader,
        journal: &mut Option<JournalSink>,
        who: &Who,
        tally: &mut Tally,
    ) -> bool {
        let Some(p) = self.pending.as_mut() else { return false };
        if trader.agent().is_flat() || p.positions == super::hub::Positions::Carry {
            return true;
        }
        if p.positions == super::hub::Positions::Flatten && !p.flatten_sent {
            p.flatten_sent = true;
            let reason = format!("reload by {}: flattening before the restart", p.by);
            let mut out = Out::new(journal, who, tally);
            trader.command(Command::Flatten { reason }, &mut out.sink());
        }
        false
    }

    /// The parameters as they stand (empty when the recipe could not be read back).
    fn current(&self) -> Vec<super::params::Param> {
        self.recipe.as_ref().map(super::params::editable).unwrap_or_default()
    }

    /// Check and apply (or queue) `key: value`.
    fn set(
        &mut self,
        key: &str,
        value: &str,
        by: &str,
        trader: &mut Trader,
    ) -> Result<ControlRecord, String> {
        let (Some(text), Some(recipe)) = (&self.text, &self.recipe) else {
            return Err(format!(
                "the recipe {} could not be read back at start; edits are refused",
                self.name
            ));
        };
        let e = super::params::edit(&self.name, text, &self.base, recipe, key, value)?;
        let symbol = trader.agent().symbol();
        let now = e.applies == super::params::Applies::Now || trader.agent().is_flat();
        // Not flat yet: only what applies at once changes now (nothing, for this key).
        let keys: &[&str] = if now { &[key] } else { &[] };
        let plan = super::params::plan(&e.recipe, symbol, keys)?;
        trader.agent_mut().reconfigure(plan)?;
        let result = if now {
            "applied".to_owned()
        } else {
            self.waiting.push((key.to_owned(), e.old.clone(), value.to_owned(), by.to_owned()));
            "pending: applies when the agent is flat".to_owned()
        };
        self.text = Some(e.text);
        self.recipe = Some(e.recipe);
        Ok(ControlRecord {
            action: "set-param".to_owned(),
            by: by.to_owned(),
            key: Some(key.to_owned()),
            old: Some(e.old),
            new: Some(value.to_owned()),
            result,
        })
    }

    /// Read the recipe file again and take what changed in it: parameters that may change
    /// mid-run (at once, or when flat); anything else is refused with the keys that differ.
    fn reload(
        &mut self,
        by: &str,
        trader: &mut Trader,
        positions: super::hub::Positions,
    ) -> Result<ControlRecord, String> {
        use crate::recipe::schema::SchemaKind;
        let Some(current) = self.recipe.clone() else {
            return Err(format!("the recipe {} could not be read back at start", self.name));
        };
        let src = crate::recipe::load::read_source(&self.path).map_err(|e| match e {
            crate::recipe::load::ReadError::Io(e) => format!("cannot read {}: {e}", self.name),
            crate::recipe::load::ReadError::Invalid(d) => format!("{}: {}: {}", self.name, d.code, d.message),
        })?;
        let report = crate::recipe::validate::check_source(src.clone(), SchemaKind::Recipe, &self.base);
        let valid = report.errors() == 0;
        let Some(disk) = report.recipe.clone().filter(|_| valid) else {
            let msgs: Vec<String> = report
                .diagnostics
                .iter()
                .filter(|d| d.severity == crate::recipe::diagnostics::Severity::Error)
                .map(|d| format!("{}:{}:{}: {}: {}", self.name, d.line, d.column, d.code, d.message))
                .collect();
            return Err(format!("the recipe on disk is not valid, nothing changed: {}", msgs.join("; ")));
        };
        let editable: Vec<&str> =
            super::params::editable_keys(&current).into_iter().map(|(k, _)| k).collect();
        let others = super::params::changed_keys(&current, &disk, &editable);
        if !others.is_empty() {
            return self.stage_restart(by, trader, &current, &disk, &others, positions);
        }
        let before = super::params::editable(&current);
        let after = super::params::editable(&disk);
        let changed: Vec<(String, String, String, super::params::Applies)> = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.value != a.value)
            .map(|(b, a)| {
                let applies = super::params::editable_keys(&disk)
                    .into_iter()
                    .find(|(k, _)| *k == a.key)
                    .map_or(super::params::Applies::Now, |(_, ap)| ap);
                (a.key.clone(), b.value.clone(), a.value.clone(), applies)
            })
            .collect();
        if changed.is_empty() {
            return Ok(ControlRecord {
                action: "reload".to_owned(),
                by: by.to_owned(),
                key: None,
                old: None,
                new: None,
                result: "unchanged".to_owned(),
            });
        }
        let flat = trader.agent().is_flat();
        let now_keys: Vec<&str> = changed
            .iter()
            .filter(|c| flat || c.3 == super::params::Applies::Now)
            .map(|c| c.0.as_str())
            .collect();
        let plan = super::params::plan(&disk, trader.agent().symbol(), &now_keys)?;
        trader.agent_mut().reconfigure(plan)?;
        for c in changed.iter().filter(|c| !now_keys.contains(&c.0.as_str())) {
            self.waiting.push((c.0.clone(), c.1.clone(), c.2.clone(), by.to_owned()));
        }
        self.text = Some(src.text);
        self.recipe = Some(disk);
        let listed: Vec<String> = changed.iter().map(|c| format!("{} {} → {}", c.0, c.1, c.2)).collect();
        let waiting = changed.len() - now_keys.len();
        Ok(ControlRecord {
            action: "reload".to_owned(),
            by: by.to_owned(),
            key: None,
            old: None,
            new: Some(listed.join(", ")),
            result: if waiting == 0 {
                "applied".to_owned()
            } else {
                format!("applied; {waiting} when the agent is flat")
            },
        })
    }

    /// Apply the waiting edits when the agent is flat.
    fn at_safe_point(&mut self, trader: &mut Trader, journal: &mut Option<JournalSink>, who: &Who) {
        if self.waiting.is_empty() || !trader.agent().is_flat() {
            return;
        }
        let Some(recipe) = &self.recipe else { return };
        let symbol = trader.agent().symbol();
        let keys: Vec<&str> = self.waiting.iter().map(|(k, ..)| k.as_str()).collect();
        let applied =
            super::params::plan(recipe, symbol, &keys).and_then(|plan| trader.agent_mut().reconfigure(plan));
        let result = match applied {
            Ok(()) => "applied".to_owned(),
            Err(why) => format!("refused: {why}"),
        };
        for (key, old, new, by) in std::mem::take(&mut self.waiting) {
            let rec = ControlRecord {
                action: "set-param".to_owned(),
                by,
                key: Some(key.clone()),
                old: Some(old),
                new: Some(new.clone()),
                result: result.clone(),
            };
            say(&format!("{}: {key} = {new}: {result} (the agent is flat)", who.name));
            if let Some(s) = journal.as_mut() {
                s.control(&rec);
            }
            if let Some(h) = who.hub.as_deref() {
                h.emit(&who.name, Body::Fleet(FleetNote::Control(rec)));
            }
        }
    }
}

/// The next answer of a remote venue; never, for a simulated one.
async fn next_venue(rx: &mut Option<mpsc::Receiver<VenueInput>>) -> Option<VenueInput> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn run_agent(a: FleetAgent, mut ctx: AgentCtx) -> anyhow::Result<Ran> {
    let FleetAgent {
        mut trader,
        feed,
        mut venue,
        mut chain,
        name,
        sink: mut journal,
        mut signals,
        recipe: recipe_path,
        recipe_text,
        ..
    } = a;
    let mut signal_counts = SignalCounts::default();
    let mut held_signals: Vec<super::signal_feed::Inbound> = Vec::new();
    if let (Some(w), Some(s)) = (&signals, journal.as_mut()) {
        s.set_signal_source(w.source.clone());
    }
    if let (Some(s), Some(h)) = (journal.as_mut(), ctx.hub.as_ref()) {
        let (h, i) = (Arc::clone(h), ctx.index);
        s.observe_commits(move |d| h.metrics.observe_journal_write(i, d.as_secs_f64()));
    }
    // What the start reconciled, for the operator (and the webhooks) as the agent's warnings.
    if let (Some(s), Some(h)) = (journal.as_mut(), ctx.hub.as_deref()) {
        for message in s.take_notes() {
            let ev = AgentEvent::Warning { ts: trader.agent().now(), message };
            h.metrics.on_event(ctx.index, &ev);
            h.emit(&name, Body::Agent(ev));
        }
    }
    let Source { mut feed, mut clock, subscriptions, read, dropped, live } = Source::new(feed);
    let mut latency = Latency::default();
    let mut watch = Watch { session: trader.agent().session_clock(), halted_on: None };
    let mut drawn = Instant::now();
    let mut outcome = Outcome::Completed;
    let mut tally = Tally::default();
    let mut params = Params::read(&recipe_path, recipe_text, ctx.restart.clone(), live);
    let mut restart = None;
    let who = Who { name: name.clone(), index: ctx.index, progress: ctx.progress, hub: ctx.hub.clone() };
    let mut count: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut failure = None;
    let connected = async {
        feed.connect().await?;
        if !subscriptions.is_empty() {
            feed.subscribe(&subscriptions).await?;
        }
        Ok::<(), crate::venue::VenueError>(())
    }
    .await;
    if let Err(e) = connected {
        failure = Some(format!("{name}: market data: {e}"));
    }
    while failure.is_none() {
        // The last step's owed fsync, now that its requests have left.
        if let Err(e) = durable(&mut journal).await {
            failure = Some(format!("{name}: journal write failed, stopping: {e}"));
            break;
        }
        // A reload's restart, once the agent is flat (or carries its position over).
        if params.restart_ready(&mut trader, &mut journal, &who, &mut tally) {
            restart = params.pending.take();
            if let Some(r) = &restart {
                say(&format!("{name}: restarting from {} ({} changed)", recipe_path.display(), r.keys));
                outcome = Outcome::Restarted(r.keys.clone());
            }
            break;
        }
        let wake = trader.agent().next_timer().and_then(|t| clock.wake_at(&t));
        tokio::select! {
            biased;
            changed = ctx.stop.changed() => {
                let why = *ctx.stop.borrow();
                if changed.is_err() || why.is_some() {
                    outcome = Outcome::Stopped(why.unwrap_or(StopReason::Interrupted));
                    let mut out = Out::new(&mut journal, &who, &mut tally);
                    trader.command(Command::Shutdown, &mut out.sink());
                    break;
                }
            }
            Ok(()) = ctx.halt_rx.changed() => {
                let reason = ctx.halt_rx.borrow().clone();
                if let Some(reason) = reason {
                    outcome = Outcome::Halted(reason.clone());
                    let mut out = Out::new(&mut journal, &who, &mut tally);
                    trader.command(halt_command(&reason), &mut out.sink());
                    drop(out);
                    publish(trader.agent(), &ctx, false, &tally);
                }
            }
            answer = next_venue(&mut venue) => {
                match answer {
                    Some(Ok(ev)) => {
                        if let crate::venue::VenueEvent::Connectivity(c) = &ev {
                            note_link(&ctx, c);
                        }
                        let mut out = Out::new(&mut journal, &who, &mut tally);
                        if let Trader::Remote(r) = &mut trader {
                            r.venue(ev, &mut out.sink());
                        }
                        drop(out);
                        params.at_safe_point(&mut trader, &mut journal, &who);
                        publish(trader.agent(), &ctx, false, &tally);
                    }
                    Some(Err(e)) => failure = Some(format!("{name}: venue: {e}")),
                    None => failure = Some(format!("{name}: the venue connection ended")),
                }
            }
            Some(input) = next_signal(&mut signals) => {
                match input {
                    super::signal_feed::SignalInput::Link(c) => {
                        note_link(&ctx, &c);
                        let mut out = Out::new(&mut journal, &who, &mut tally);
                        trader.connectivity(c, &mut out.sink());
                    }
                    super::signal_feed::SignalInput::Signal(inbound) => {
                        // Before the first price (a pending entry read at start) the signal
                        // waits for one; its age still counts.
                        if !trader.agent().has_price() {
                            held_signals.push(inbound);
                            continue;
                        }
                        let answer = signals.as_ref().and_then(|w| {
                            on_signal(inbound, &mut trader, w, &mut journal, &mut signal_counts, &who, &mut tally)
                        });
                        if let Err(e) = answer_signals(answer.into_iter().collect(), &mut journal).await {
                            failure = Some(format!("{name}: journal write failed, stopping: {e}"));
                            break;
                        }
                        publish(trader.agent(), &ctx, false, &tally);
                    }
                }
            }
            Some(msg) = ctx.controls.recv() => {
                let ControlMsg { control, by, reply } = msg;
                let answer = on_control(control, &by, &mut trader, &mut journal, &who, &mut tally, &mut params);
                if let Ok(Answer::Done(rec)) = &answer {
                    let what = rec.key.as_ref().map_or(String::new(), |k| format!(" {k} = {}", rec.new.as_deref().unwrap_or("")));
                    say(&format!("{name}: {}{what} by {}: {}", rec.action, rec.by, rec.result));
                    if let Some(h) = ctx.hub.as_deref() {
                        h.emit(&name, Body::Fleet(FleetNote::Control(rec.clone())));
                    }
                }
                publish(trader.agent(), &ctx, false, &tally);
                // The control's record is on disk before the operator hears it is done.
                if let Err(e) = durable(&mut journal).await {
                    failure = Some(format!("{name}: journal write failed, stopping: {e}"));
                }
                let _ = reply.send(answer);
            }
            Some(snapshot) = next_chain(&mut chain) => {
                let mut out = Out::new(&mut journal, &who, &mut tally);
                trader.chain(snapshot, &mut out.sink());
            }
            () = sleep_until(wake) => {
                if let Some(t) = trader.agent().next_timer() {
                    let mut out = Out::new(&mut journal, &who, &mut tally);
                    trader.timer(t.at, &mut out.sink());
                    drop(out);
                    publish(trader.agent(), &ctx, false, &tally);
                }
            }
            _ = tick.tick() => {
                lock(&ctx.book).slots[ctx.index].heartbeat = Instant::now();
                if live {
                    lock(&ctx.book).slots[ctx.index].latency = Some(latency.summary());
                }
                if live && let Some(reason) = watch.check(clock.now(), &ctx) {
                    let mut out = Out::new(&mut journal, &who, &mut tally);
                    trader.command(Command::ReduceOnly { reason }, &mut out.sink());
                }
                if let (Some(b), Some(read)) = (&ctx.board, &read) && count > 0 {
                    b.update(ctx.index, read.fraction(), trader.agent().now(), count);
                }
            }
            next = feed.next_event() => {
                let ev = match next {
                    Ok(Some(DataEvent::Market(ev))) => ev,
                    Ok(Some(DataEvent::Connectivity(c))) => {
                        note_link(&ctx, &c);
                        let mut out = Out::new(&mut journal, &who, &mut tally);
                        trader.connectivity(c, &mut out.sink());
                        continue;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        failure = Some(format!("{name}: market data: {e}"));
                        break;
                    }
                };
                if live {
                    let seconds = latency.record(ev.ts());
                    if let Some(h) = who.hub.as_deref() {
                        h.metrics.observe_feed_latency(who.index, seconds);
                    }
                }
                clock.seen(ev.ts());
                {
                    let mut out = Out::new(&mut journal, &who, &mut tally);
                    trader.market(ev, &mut out.sink());
                }
                if !held_signals.is_empty() && trader.agent().has_price() && let Some(w) = signals.as_ref() {
                    let mut answers = Vec::new();
                    for inbound in std::mem::take(&mut held_signals) {
                        answers.extend(on_signal(inbound, &mut trader, w, &mut journal, &mut signal_counts, &who, &mut tally));
                    }
                    if let Err(e) = answer_signals(answers, &mut journal).await {
                        failure = Some(format!("{name}: journal write failed, stopping: {e}"));
                        break;
                    }
                }
                count += 1;
                params.at_safe_point(&mut trader, &mut journal, &who);
                if let Some(e) = journal.as_ref().and_then(JournalSink::error) {
                    failure = Some(format!("{name}: journal write failed, stopping: {e}"));
                    break;
                }
                let agent = trader.agent();
                if let Some(total) = publish(agent, &ctx, true, &tally) {
                    let limit = ctx.loss_limit.unwrap_or_default();
                    let reason = format!("fleet daily loss limit {limit} reached (fleet day P&L {})", total.round_dp(2));
                    say(&format!("{} fleet halt: {reason}", crate::report::iso(agent.now())));
                    if let Some(s) = journal.as_mut() {
                        s.halt(HaltScope::Fleet, &reason, agent.now());
                    }
                    if let Some(h) = ctx.hub.as_deref() {
                        h.emit("", Body::Fleet(FleetNote::FleetHalt { reason: reason.clone() }));
                    }
                    // Every agent, this one included, gets the halt through the channel.
                    let _ = ctx.halt_tx.send(Some(reason));
                }
                if let (Some(b), Some(read)) = (&ctx.board, &read)
                    && drawn.elapsed() >= super::progress::REDRAW
                {
                    b.update(ctx.index, read.fraction(), trader.agent().now(), count);
                    drawn = Instant::now();
                }
            }
        }
    }
    drop(feed);
    if let Some(w) = signals.take() {
        let c = &signal_counts;
        say(&format!(
            "{name}: signals from {}: {} accepted, {} refused, {} duplicates, {} for other tickers",
            w.source, c.accepted, c.refused, c.duplicates, c.other_ticker
        ));
    }
    if let Some(b) = &ctx.board {
        b.finish(ctx.index, count);
    }
    // A carry-over restart leaves the position to the next run (there are no working orders).
    let carry = restart.as_ref().is_some_and(|r| r.positions == super::hub::Positions::Carry);
    if !trader.agent().stopped() && !carry {
        let mut out = Out::new(&mut journal, &who, &mut tally);
        trader.command(Command::Shutdown, &mut out.sink());
    }
    if let Some(rx) = venue.as_mut() {
        let mut out = Out::new(&mut journal, &who, &mut tally);
        drain(&mut trader, rx, &ctx, &mut out.sink()).await;
    }
    publish(trader.agent(), &ctx, false, &tally);
    lock(&ctx.book).slots[ctx.index].stopped = true;
    if let Some(h) = ctx.hub.as_deref() {
        let outcome = failure.as_ref().map_or(outcome.to_string(), |f| Outcome::Error(f.clone()).to_string());
        h.emit(&name, Body::Fleet(FleetNote::Finished { outcome }));
    }
    let journal_run = match journal {
        Some(s) => {
            let outcome = failure.as_ref().map_or(outcome.clone(), |f| Outcome::Error(f.clone()));
            Some(
                s.end(&outcome.to_string()).map_err(|e| anyhow::anyhow!("{name}: journal: {e}"))?.to_string(),
            )
        }
        None => None,
    };
    if let Some(f) = failure {
        return Err(anyhow::anyhow!(f));
    }
    let mut report = trader.into_agent().into_report();
    if let Some(d) = dropped {
        report = report.with_off_band_prints(d.get());
    }
    if live {
        report = report.with_feed_latency(latency.summary());
    }
    let finished = Finished { report, outcome, run: journal_run };
    Ok(Ran { finished, restart: restart.map(|r| r.staged), ctx })
}

/// After the shutdown: hand a remote venue's answers to the agent until its cancels and exits
/// are settled, the venue is gone, or [`DRAIN_FOR`] has passed (what is left shows in the
/// journal as working, and the next start reconciles it). The loop keeps beating meanwhile.
async fn drain(
    trader: &mut Trader,
    rx: &mut mpsc::Receiver<VenueInput>,
    ctx: &AgentCtx,
    sink: &mut impl FnMut(&AgentEvent),
) {
    let Trader::Remote(r) = trader else { return };
    let deadline = Instant::now() + DRAIN_FOR;
    while r.agent().has_orders() {
        lock(&ctx.book).slots[ctx.index].heartbeat = Instant::now();
        if Instant::now() >= deadline {
            say(&format!(
                "the venue did not settle the stop's orders within {}s; the next start reconciles them",
                DRAIN_FOR.as_secs()
            ));
            return;
        }
        match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
            Ok(Some(Ok(ev))) => r.venue(ev, sink),
            Ok(Some(Err(e))) => {
                say(&format!("venue: {e}; orders still working are reconciled at the next start"));
                return;
            }
            Ok(None) => return,
            Err(_) => {}
        }
    }
}

/// Sleep until `wake`, or forever when there is nothing to wake for.
async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Publish the agent's numbers to the book; returns the fleet day P&L when this update is
/// the one that reaches the loss limit (at most once per trading day).
fn publish(agent: &Agent, ctx: &AgentCtx, market: bool, tally: &Tally) -> Option<Money> {
    let equity = agent.equity();
    let now = agent.now();
    let mut b = lock(&ctx.book);
    let s = &mut b.slots[ctx.index];
    let wall = Instant::now();
    s.heartbeat = wall;
    if market {
        s.last_market = wall;
        s.last_event = Some(now);
        let date = agent.trading_day();
        if s.day != Some(date) {
            // The day starts from the equity before its first event.
            s.day = Some(date);
            s.day_start = s.equity;
        }
    }
    s.equity = equity;
    s.state = agent.trading_state();
    s.disabled = agent.disabled();
    s.last_price = agent.last_price();
    s.tally.clone_from(tally);
    // The hub gets the numbers after every step but market data, and at most five times a
    // second on market data.
    if let Some(h) = ctx.hub.as_deref()
        && h.listened()
        && (!market || wall.duration_since(s.snapshot_at) >= SNAPSHOT_EVERY)
    {
        s.snapshot_at = wall;
        h.emit(&s.name, Body::Fleet(FleetNote::Snapshot(Box::new(s.view(wall)))));
    }
    let limit = ctx.loss_limit?;
    let today = s.day;
    // One fleet halt per trading date; dates only move forward (agents replaying at full
    // speed may be on different dates for a moment).
    if today.is_none() || today <= b.halted_on {
        return None;
    }
    let total: Money = b.slots.iter().map(Slot::day_pnl).sum();
    if -total >= limit {
        b.halted_on = today;
        return Some(total);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_reports_a_stalled_loop_before_stale_data() {
        let secs = Duration::from_secs;
        assert_eq!(health(secs(1), None, secs(100), None), Health::Ok);
        assert_eq!(health(secs(1), None, secs(2), Some(secs(30))), Health::Ok);
        assert_eq!(
            health(secs(1), None, secs(31), Some(secs(30))).to_string(),
            "unhealthy: no market data for 31s"
        );
        assert_eq!(
            health(secs(1), Some((Link::Feed, secs(4))), secs(31), Some(secs(30))).to_string(),
            "unhealthy: market data feed disconnected for 4s (reconnecting)"
        );
        assert_eq!(
            health(secs(6), None, secs(31), Some(secs(30))).to_string(),
            "unhealthy: loop stalled for 6s"
        );
    }
}
