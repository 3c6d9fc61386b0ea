//! Run drivers. Backtest: a plain loop over the replay with the simulated clock (event time),
//! no channels, no sleeping. Live-style: a tokio feeder task paces the replay against the
//! wall clock and sends inputs over a channel to the agent task; Ctrl-C sends a shutdown.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;

use super::agent::{Agent, AgentConfig, AgentEvent, Command, Input};
use crate::broker::{OrderEvent, OrderKind, Purpose};
use crate::market::event::MarketEvent;
use crate::market::replay::{Replay, ReplayOptions};
use crate::model::{NEW_YORK, SymbolId, Timestamp};
use crate::recipe::Recipe;
use crate::recipe::model::{AlgorithmKind, ProviderKind};
use crate::recipe::types::Speed;
use crate::report::Report;
use crate::strategy::{self, external_signal};

/// A recipe loaded and ready to run.
pub struct Prepared {
    /// The recipe.
    pub recipe: Recipe,
    /// Its data path, resolved against the recipe's directory.
    pub data: PathBuf,
    /// The external-signal file, if the algorithm needs one.
    pub signals: Option<PathBuf>,
}

/// Load a recipe file and resolve its data path.
pub fn prepare(recipe_path: &Path) -> anyhow::Result<Prepared> {
    let text = std::fs::read_to_string(recipe_path)
        .map_err(|e| crate::cli::ExitError::usage(format!("cannot read {}: {e}", recipe_path.display())))?;
    let recipe = crate::recipe::from_yaml_str(&text)
        .map_err(|e| crate::cli::ExitError::failed(format!("{}: {e}", recipe_path.display())))?;
    if recipe.provider.kind != ProviderKind::Replay {
        return Err(crate::cli::ExitError::failed(format!(
            "{}: the engine runs replay providers only for now (provider.kind: replay)",
            recipe_path.display()
        ))
        .into());
    }
    if recipe.broker.kind != crate::recipe::model::BrokerKind::Paper {
        // Never stand a simulation in for a live account the recipe names.
        return Err(crate::cli::ExitError::failed(format!(
            "{}: the engine trades through the paper broker only for now (broker.kind: paper); \
             the {} adapter is not part of this build, so nothing was sent",
            recipe_path.display(),
            serde_json::to_value(recipe.broker.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ))
        .into());
    }
    let base = recipe_path.parent().unwrap_or(Path::new("."));
    let rel = recipe.provider.path.clone().ok_or_else(|| {
        crate::cli::ExitError::failed(format!(
            "{}: provider.path is required for replay",
            recipe_path.display()
        ))
    })?;
    let data = base.join(rel);
    // external-signal: signals come from `<data path stem>.signals.csv`, or `signals.csv` beside the recipe.
    let signals = (recipe.algorithm.kind == AlgorithmKind::ExternalSignal).then(|| {
        let stem = recipe_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        base.join(format!("{stem}.signals.csv"))
    });
    Ok(Prepared { recipe, data, signals })
}

/// Build the agent for a prepared recipe.
pub fn build_agent(p: &Prepared) -> anyhow::Result<Agent> {
    let sym = SymbolId(0);
    let cfg =
        AgentConfig::from_recipe(&p.recipe).map_err(|e| crate::cli::ExitError::failed(e.to_string()))?;
    let signals = match &p.signals {
        Some(path) => Some(
            external_signal::read_signal_file(path, &p.recipe.instrument.underlying)
                .map_err(|e| crate::cli::ExitError::usage(e.to_string()))?,
        ),
        None => None,
    };
    let strat =
        strategy::build(&p.recipe, sym, signals).map_err(|e| crate::cli::ExitError::failed(e.to_string()))?;
    let agent = Agent::new(cfg, sym, strat);
    if p.recipe.instrument.kind == crate::recipe::model::InstrumentKind::Option {
        let leg = super::option_leg::OptionLeg::from_recipe(&p.recipe, SymbolId(1))
            .map_err(|e| crate::cli::ExitError::failed(format!("instrument: {e}")))?;
        return Ok(agent.with_options(leg));
    }
    Ok(agent)
}

/// An inclusive New York date range filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct DateRange {
    /// First date.
    pub from: Option<NaiveDate>,
    /// Last date.
    pub to: Option<NaiveDate>,
}

impl DateRange {
    /// The range as replay options for `symbol`: from local midnight of `from` to local
    /// midnight after `to`.
    pub fn replay_options(&self, symbol: SymbolId) -> ReplayOptions {
        let at = |d: NaiveDate| {
            use chrono::TimeZone;
            NEW_YORK
                .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
                .earliest()
                .map(|t| Timestamp::from_datetime(&t))
        };
        ReplayOptions {
            symbol,
            bar_duration: None,
            from: self.from.and_then(at),
            to: self.to.and_then(|d| d.succ_opt()).and_then(at),
        }
    }
}

/// Open the replay of a prepared recipe, limited to `range`.
pub fn open_replay(p: &Prepared, range: DateRange) -> anyhow::Result<Replay> {
    let path = p.data.to_string_lossy();
    Replay::open(&path, &range.replay_options(SymbolId(0)))
        .map_err(|e| crate::cli::ExitError::usage(e.to_string()).into())
}

/// Backtest: drive the agent synchronously over the replay, as fast as possible.
pub fn backtest(mut agent: Agent, replay: Replay) -> anyhow::Result<Report> {
    let mut sink = |_: AgentEvent<'_>| {};
    for ev in replay {
        agent.handle(Input::Market(ev?), &mut sink);
    }
    agent.handle(Input::Command(Command::Shutdown), &mut sink);
    Ok(agent.into_report())
}

/// Backtest over events already in memory (benchmarks).
pub fn backtest_events(mut agent: Agent, events: &[MarketEvent]) -> Report {
    let mut sink = |_: AgentEvent<'_>| {};
    for ev in events {
        agent.handle(Input::Market(*ev), &mut sink);
    }
    agent.handle(Input::Command(Command::Shutdown), &mut sink);
    agent.into_report()
}

/// Format an agent event as one line for the terminal (`None` for quiet events).
pub fn describe(agent: &str, ev: &AgentEvent<'_>) -> Option<String> {
    let t = |ts: Timestamp| crate::report::iso(ts);
    Some(match ev {
        AgentEvent::Signal(s) => {
            format!("{} {agent} signal {:?} strength {}% @ {}", t(s.ts), s.direction, s.strength, s.price)
        }
        AgentEvent::Denied(d) => format!("{} {agent} {}", t(d.order.ts), crate::risk::gate::describe(d)),
        AgentEvent::OrderSent(o) => {
            let kind = match o.kind {
                OrderKind::Market => "market".to_owned(),
                OrderKind::Limit { limit } => format!("limit {limit}"),
                OrderKind::MarketableLimit { offset_ticks } => {
                    format!("marketable limit (touch ± {offset_ticks} ticks)")
                }
                OrderKind::Stop { stop } => format!("stop {stop}"),
                OrderKind::StopLimit { stop, limit } => format!("stop {stop} limit {limit}"),
            };
            let purpose = match o.purpose {
                Purpose::Entry => "entry".to_owned(),
                Purpose::Add => "add".to_owned(),
                Purpose::Adjust => "adjust".to_owned(),
                Purpose::Exit(r) => format!("exit: {}", r.as_str()),
            };
            format!("{} {agent} order {} {} {} {kind} ({purpose})", t(o.ts), o.id, o.side, o.qty)
        }
        AgentEvent::Order(OrderEvent::Filled(f)) | AgentEvent::Order(OrderEvent::PartiallyFilled(f)) => {
            format!(
                "{} {agent} filled {} {} {} @ {} fee {} (leaves {})",
                t(f.ts),
                f.id,
                f.side,
                f.qty,
                f.price,
                f.commission,
                f.leaves
            )
        }
        AgentEvent::Order(OrderEvent::Rejected { id, ts, reason }) => {
            format!("{} {agent} rejected {id}: {reason}", t(*ts))
        }
        AgentEvent::Order(OrderEvent::Canceled { id, ts }) => format!("{} {agent} canceled {id}", t(*ts)),
        AgentEvent::Order(OrderEvent::Expired { id, ts }) => format!("{} {agent} expired {id}", t(*ts)),
        AgentEvent::Order(_) => return None,
        AgentEvent::Warning { ts, message } => format!("{} {agent} warning: {message}", t(*ts)),
        AgentEvent::Info { ts, message } => format!("{} {agent} {message}", t(*ts)),
        AgentEvent::Position { ts, qty, avg_price, realized, equity } => format!(
            "{} {agent} position {} @ {} realized {} equity {}",
            t(*ts),
            qty,
            avg_price.round_dp(4),
            realized.round_dp(2),
            equity.round_dp(2)
        ),
    })
}

/// One agent of a live-style run.
pub struct LiveAgent {
    /// The agent.
    pub agent: Agent,
    /// Its market data.
    pub replay: Replay,
    /// Pacing.
    pub speed: Speed,
    /// Its name, printed with every line.
    pub name: String,
}

/// Live-style run of one or more agents: per agent, a feeder task paces its replay against the
/// wall clock and sends inputs over a channel to the agent's task, which prints events as they
/// happen. Ctrl-C (or the end of an agent's data) shuts agents down cleanly: cancel working
/// orders, flatten, finish the report. Reports come back in the order given.
pub fn live(agents: Vec<LiveAgent>) -> anyhow::Result<Vec<Report>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(live_all(agents))
}

async fn live_all(agents: Vec<LiveAgent>) -> anyhow::Result<Vec<Report>> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_tx = std::sync::Arc::new(stop_tx);
    let progress = agents.len() == 1 && std::io::stderr().is_terminal();
    let tasks: Vec<_> =
        agents.into_iter().map(|a| tokio::spawn(run_agent(a, stop_rx.clone(), progress))).collect();
    let ctrl_tx = std::sync::Arc::clone(&stop_tx);
    let ctrl = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping: canceling open orders and flattening");
            let _ = ctrl_tx.send(true);
        }
    });
    let mut reports = Vec::with_capacity(tasks.len());
    let mut first_err = None;
    for t in tasks {
        match t.await {
            Ok(Ok(r)) => reports.push(r),
            Ok(Err(e)) => first_err = first_err.or(Some(e)),
            Err(e) => first_err = first_err.or(Some(anyhow::anyhow!("agent task failed: {e}"))),
        }
    }
    ctrl.abort();
    drop(stop_tx);
    match first_err {
        Some(e) => Err(e),
        None => Ok(reports),
    }
}

async fn run_agent(
    a: LiveAgent,
    mut stop: tokio::sync::watch::Receiver<bool>,
    progress: bool,
) -> anyhow::Result<Report> {
    let LiveAgent { mut agent, replay, speed, name } = a;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Input>(4096);
    let factor = match speed {
        Speed::Max => None,
        Speed::Times(x) => x.to_f64().filter(|v| *v > 0.0),
    };
    // Feeder: reads the replay (blocking file I/O on a blocking thread) and paces it.
    let feeder = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let start = Instant::now();
        let mut first: Option<i64> = None;
        for ev in replay {
            let ev = ev?;
            if let Some(f) = factor {
                let t0 = *first.get_or_insert(ev.ts().0);
                let due = Duration::from_secs_f64(((ev.ts().0 - t0) as f64 / 1e9) / f);
                // Sleep in short slices so a stopped agent (Ctrl-C) ends the feeder promptly,
                // even across a long overnight gap at a slow speed.
                loop {
                    let elapsed = start.elapsed();
                    if due <= elapsed || tx.is_closed() {
                        break;
                    }
                    std::thread::sleep((due - elapsed).min(Duration::from_millis(50)));
                }
            }
            if tx.blocking_send(Input::Market(ev)).is_err() {
                return Ok(()); // the agent stopped
            }
        }
        let _ = tx.blocking_send(Input::Command(Command::Shutdown));
        Ok(())
    });
    let mut count: u64 = 0;
    let mut print = |ev: AgentEvent<'_>| {
        if let Some(line) = describe(&name, &ev) {
            if progress {
                eprint!("\r\x1b[K");
            }
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        }
    };
    loop {
        tokio::select! {
            biased;
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    agent.handle(Input::Command(Command::Shutdown), &mut print);
                    break;
                }
            }
            msg = rx.recv() => {
                let Some(input) = msg else { break };
                let shutdown = matches!(input, Input::Command(Command::Shutdown));
                agent.handle(input, &mut print);
                count += 1;
                if progress && count.is_multiple_of(5000) {
                    eprint!("\r\x1b[K{} events, at {}", count, crate::report::iso(agent.now()));
                }
                if shutdown {
                    break;
                }
            }
        }
    }
    drop(rx);
    if progress {
        eprintln!("\r\x1b[K{count} events replayed");
    }
    if !agent.stopped() {
        agent.handle(Input::Command(Command::Shutdown), &mut print);
    }
    // The feeder ends once the channel is closed; its read errors are reported.
    match feeder.await {
        Ok(Err(e)) => return Err(e),
        Err(e) if !e.is_cancelled() => return Err(anyhow::anyhow!("replay task failed: {e}")),
        _ => {}
    }
    Ok(agent.into_report())
}
