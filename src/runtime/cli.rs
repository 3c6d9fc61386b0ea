//! `runner up`, `runner backtest` and `runner status`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::NaiveDate;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::account_lock::{AccountKey, AccountLock, LockError};
use super::fleet::{self, FleetSettings, Overrides};
use super::journal_sink::{JournalSink, SinkInfo};
use super::process::ProcessStamp;
use super::remote::{Remote, VenueInput};
use super::run::{self, DateRange};
use super::signals::Signals;
use super::status;
use super::venues::{Execution, MarketData};
use crate::cli::{CmdResult, ExitError, GlobalArgs};
use crate::journal::record::ts as journal_ts;
use crate::journal::{Durability, FIRST_EVENT_KEY, Journal, JournalError, RunId, RunMode};
use crate::model::{AccountId, AgentId, SymbolId};
use crate::recipe::model::Reconcile;
use crate::recipe::model::SignalSourceKind;
use crate::recipe::types::Speed;
use crate::report::{self, RecipeRef, Report, RunInfo};
use crate::risk::compliance::daytrade::DayTrade;

/// Arguments of `runner up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Recipe files to run.
    #[arg(required = true)]
    pub recipes: Vec<PathBuf>,
    /// Replay pacing: `max` or a multiple of real time such as `60x` (overrides the recipe).
    #[arg(long)]
    pub speed: Option<Speed>,
    /// Where the report goes.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Fleet settings.
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Fleet daily loss limit in account currency (overrides `daily_loss_limit`).
    #[arg(long, value_name = "AMOUNT")]
    pub fleet_loss_limit: Option<rust_decimal::Decimal>,
    /// At start, when a venue's positions or working orders differ from the journal's, take the
    /// venue's state (journaled as inferred records) instead of refusing to trade (the recipe's
    /// `broker.reconcile: adopt` does the same).
    #[arg(long)]
    pub adopt: bool,
    /// Confirm real-money trading for recipes with `broker.environment: live` (without it they
    /// are refused, so a copied recipe never trades real money by accident).
    #[arg(long)]
    pub live: bool,
    /// Serve the dashboard, the JSON API and Prometheus metrics on this address
    /// (`127.0.0.1:8787`; overrides the fleet file's `http.listen`). Controls need the token from
    /// `RUNNER_HTTP_TOKEN` or the vault; any address but loopback needs one configured.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
}

/// Where a run's report goes (shared by `up` and `backtest`).
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// Also write the closed trades as CSV to this file.
    #[arg(long)]
    pub trades_csv: Option<PathBuf>,
    /// Directory for the run report (default `.runner/runs/<run-id>`).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
}

/// Where the fleet file, journal and run state are.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetArgs {
    /// The fleet file (default: `runner.yaml` found walking up from the current directory).
    #[arg(long, value_name = "PATH")]
    pub fleet: Option<PathBuf>,
    /// The journal database (default: the fleet file's `journal`, `journal/runner.db`).
    #[arg(long, value_name = "PATH", env = "RUNNER_JOURNAL")]
    pub journal: Option<PathBuf>,
    /// Run state directory for account locks and status files (default: the fleet file's
    /// `state_dir`, `.runner`).
    #[arg(long, value_name = "PATH")]
    pub state_dir: Option<PathBuf>,
}

impl FleetArgs {
    /// These flags as fleet-settings overrides, with the fleet loss limit given.
    pub fn overrides(&self, loss_limit: Option<rust_decimal::Decimal>) -> Overrides {
        Overrides {
            fleet: self.fleet.clone(),
            journal: self.journal.clone(),
            state_dir: self.state_dir.clone(),
            loss_limit,
        }
    }
}

/// Arguments of `runner backtest`.
#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// The recipe file.
    pub recipe: PathBuf,
    /// First trading date (YYYY-MM-DD, New York), inclusive.
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last trading date (YYYY-MM-DD, New York), inclusive.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Where the report goes.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Fleet settings.
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Do not journal this backtest (wins over `--journal` / `RUNNER_JOURNAL`).
    #[arg(long)]
    pub no_journal: bool,
}

/// Arguments of `runner status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The fleet file (default: `runner.yaml` found walking up from the current directory).
    #[arg(long, value_name = "PATH")]
    pub fleet: Option<PathBuf>,
    /// Run state directory (default: the fleet file's `state_dir`, `.runner`).
    #[arg(long, value_name = "PATH")]
    pub state_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::journal::cli::Format::Table)]
    pub format: crate::journal::cli::Format,
}

/// A run as its report names it; the data range is filled in from the report by [`finish`].
fn run_info(p: &run::Prepared, id: &RunId, mode: RunMode, title: String, recipe: RecipeRef) -> RunInfo {
    RunInfo {
        id: id.to_string(),
        agent: p.recipe.agent.clone(),
        mode: crate::journal::store::mode_text(mode),
        title,
        recipe,
        from: None,
        to: None,
        outcome: String::new(),
    }
}

/// The recipe file as this run reads it: its path and the SHA-256 of its bytes.
fn recipe_ref(path: &Path) -> anyhow::Result<RecipeRef> {
    let bytes =
        std::fs::read(path).map_err(|e| ExitError::usage(format!("cannot read {}: {e}", path.display())))?;
    Ok(recipe_ref_of(path, &bytes))
}

fn recipe_ref_of(path: &Path, bytes: &[u8]) -> RecipeRef {
    use sha2::{Digest, Sha256};
    RecipeRef { path: path.display().to_string(), sha256: format!("{:x}", Sha256::digest(bytes)) }
}

/// Write the report of run `info` (which ended with `outcome`) to `dir` (and the trades CSV),
/// then print it under the run's header, as `runner report` prints it again.
fn finish(
    mut report: Report,
    mut info: RunInfo,
    outcome: &str,
    dir: &Path,
    trades_csv: Option<&Path>,
) -> anyhow::Result<()> {
    let day = |(ts, _): &(crate::model::Timestamp, _)| ts.to_new_york().date_naive();
    info.from = report.equity.first().map(day);
    info.to = report.equity.last().map(day);
    outcome.clone_into(&mut info.outcome);
    let head = report::cli::header(&info);
    let chart_title = format!("{} ({})", info.agent, info.title);
    report.summary.run = Some(info);
    report
        .write_dir(dir, &chart_title)
        .map_err(|e| ExitError::usage(format!("cannot write report to {}: {e}", dir.display())))?;
    if let Some(path) = trades_csv {
        report::write_atomic(path, report.trades_csv().as_bytes())
            .map_err(|e| ExitError::usage(format!("cannot write {}: {e}", path.display())))?;
    }
    say(&format!(
        "{head}{}Report: {} (deals.csv, summary.json, equity.svg, price.svg)\n",
        report::render(&report.deals_csv(), &report.summary),
        shown_path(dir).display()
    ));
    Ok(())
}

/// A path as printed for the user: relative to the current directory when it is under it
/// (`.runner/runs/…`), else as it is. `up` and `backtest` print report paths the same way.
fn shown_path(path: &Path) -> PathBuf {
    let Ok(cwd) = std::env::current_dir() else { return path.to_path_buf() };
    let abs = if path.is_absolute() { path.to_path_buf() } else { cwd.join(path) };
    match abs.strip_prefix(&cwd) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
        _ => path.to_path_buf(),
    }
}

/// Print to stdout; a closed pipe (`| head`) is not an error worth a panic.
pub fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn metadata(p: &run::Prepared, recipe: &RecipeRef) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("runner_version".to_owned(), env!("CARGO_PKG_VERSION").to_owned());
    m.insert("account".to_owned(), p.recipe.broker.account.clone());
    m.insert("broker".to_owned(), crate::recipe::kind_name(&p.recipe.broker.kind));
    m.insert("data".to_owned(), p.data.display().to_string());
    if let Some((sym, path)) = &p.related {
        m.insert(format!("data.{sym}"), path.display().to_string());
    }
    ProcessStamp::current().write_to(&mut m);
    m.insert("recipe".to_owned(), recipe.path.clone());
    m.insert("recipe_sha256".to_owned(), recipe.sha256.clone());
    m
}

fn sink_info(p: &run::Prepared, recipe: &Path, mode: RunMode) -> SinkInfo {
    SinkInfo {
        agent: AgentId(p.recipe.agent.clone()),
        account: AccountId(p.recipe.broker.account.clone()),
        instrument: p.recipe.instrument.underlying.clone(),
        recipe: recipe.display().to_string(),
        mode,
    }
}

fn open_journal(path: &Path, durability: Durability) -> anyhow::Result<Journal> {
    Journal::open_with(path, durability)
        .map_err(|e| ExitError::usage(format!("cannot open the journal {}: {e}", path.display())).into())
}

/// The account a prepared recipe trades, as the lock and the journal key it.
fn account_key(p: &run::Prepared) -> AccountKey {
    AccountKey {
        broker: crate::recipe::kind_name(&p.recipe.broker.kind),
        account: AccountId(p.recipe.broker.account.clone()),
    }
}

/// Refuse to rebuild state from a journal whose audit chain does not verify: a tampered
/// position would otherwise be restored (and traded against) as if it were real.
fn verify_journal(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let mut journal = open_journal(path, Durability::Full)?;
    let report =
        journal.verify().map_err(|e| ExitError::usage(format!("journal {}: {e}", path.display())))?;
    if report.is_ok() {
        return Ok(());
    }
    let first = report.problems.first().map(String::as_str).unwrap_or_default();
    Err(ExitError::failed(format!(
        "journal {} fails verification ({} problem(s); first: {first}). runner up restores positions and \
         day trades from it, so nothing was started. Inspect it with `runner journal verify --db {}`; \
         keep it as evidence and start from another journal (--journal PATH).",
        path.display(),
        report.problems.len(),
        path.display()
    ))
    .into())
}

/// Restart by reconciliation (`super::reconcile`): the paper venue is restored from the
/// journal (positions at their average price; an order the journal left working died with the
/// process that simulated it and is journaled as canceled), compared with the journal, and the
/// agent takes the venue's positions over. A difference refuses the start (the table is the
/// error) unless `adopt`.
fn reconcile(
    p: &run::Prepared,
    run: &mut crate::runtime::lockstep::Lockstep,
    sink: &mut JournalSink,
    restored: &crate::runtime::journal_sink::Restored,
    adopt: bool,
    start: crate::model::Timestamp,
) -> Result<(), String> {
    use crate::runtime::reconcile::{adoption, compare, table};
    let name = &p.recipe.agent;
    let underlying = &p.recipe.instrument.underlying;
    let (agent, venue) = run.parts_mut();
    for pos in &restored.open_positions {
        // The underlying is symbol 0; an option contract is the option leg's symbol 1.
        let symbol = if pos.instrument.as_str() == underlying { SymbolId(0) } else { SymbolId(1) };
        venue.restore_position(symbol, pos.instrument.clone(), pos.qty, pos.avg_price);
    }
    let journal_err = |e: crate::journal::JournalError| format!("journal: {e}");
    if !restored.open_orders.is_empty() {
        let dead: Vec<_> = restored
            .open_orders
            .iter()
            .map(|o| crate::journal::OrderRecord {
                status: crate::journal::OrderStatus::Canceled,
                ..o.clone()
            })
            .collect();
        sink.record_inferred(&dead, &[], start.to_utc()).map_err(journal_err)?;
        for o in &restored.open_orders {
            say(&format!(
                "{name}: order {} ({} {} {}) was working at the paper venue of a run that died; a simulated \
                 order does not outlive its process: journaled as canceled\n",
                o.client_order_id, o.side, o.qty, o.instrument
            ));
        }
    }
    let state = venue.snapshot();
    let gaps = compare(&restored.open_positions, &[], &state);
    if !gaps.is_empty() {
        if !adopt {
            return Err(format!(
                "the venue's account differs from the journal; nothing was traded. Inspect both, or \
                 take the venue's state with `runner up --adopt` (broker.reconcile: adopt):\n{}",
                table(&gaps)
            ));
        }
        let (orders, positions) = adoption(
            &gaps,
            &[],
            &state,
            &AgentId(p.recipe.agent.clone()),
            &AccountId(p.recipe.broker.account.clone()),
        );
        sink.record_inferred(&orders, &positions, start.to_utc()).map_err(journal_err)?;
        let line = format!("{name}: reconciliation: adopted the venue's state:\n{}", table(&gaps));
        say(&line);
        sink.note(line);
    }
    for pos in &state.positions {
        agent.restore_position(&pos.instrument, pos.qty, pos.avg_price, start)?;
        let from = restored
            .open_positions
            .iter()
            .find(|r| r.instrument == pos.instrument)
            .and_then(|r| r.run.as_ref())
            .map_or_else(|| "the venue".to_owned(), |r| format!("run {r}"));
        say(&format!(
            "{name}: holding {} {} at {} taken over from {from}; the agent manages it from here\n",
            pos.qty, pos.instrument, pos.avg_price
        ));
    }
    Ok(())
}

/// What the journal handed over at start, said once per agent.
fn say_restored(name: &str, p: &run::Prepared, restored: &crate::runtime::journal_sink::Restored) {
    for id in &restored.crashed_runs {
        say(&format!("{name}: run {id} never ended (its process died); journaled as crashed\n"));
    }
    if !restored.day_trades.is_empty() {
        let last = restored.day_trades.last().map(|d| d.trade_date.to_string()).unwrap_or_default();
        say(&format!(
            "{name}: restored {} day trade(s) of account {} from the journal (latest {last})\n",
            restored.day_trades.len(),
            p.recipe.broker.account
        ));
    }
    if restored.not_restored > 0 {
        say(&format!(
            "{name}: not restored: {} day trade(s) of account {} dated at or after this run's first \
             market event (this replay covers them again)\n",
            restored.not_restored, p.recipe.broker.account
        ));
    }
}

/// For an options recipe on live Alpaca data: the listed chain's poller, started.
fn chain_poller(
    rt: &tokio::runtime::Handle,
    p: &run::Prepared,
    credentials: &super::credentials::Credentials,
) -> anyhow::Result<Option<tokio::sync::mpsc::Receiver<std::sync::Arc<crate::model::chain::ChainSnapshot>>>> {
    let r = &p.recipe;
    if r.instrument.kind != crate::recipe::model::InstrumentKind::Option
        || r.provider.kind != crate::recipe::model::ProviderKind::Alpaca
    {
        return Ok(None);
    }
    let Some(window) = r.instrument.expiry else { return Ok(None) };
    let cfg = super::venues::alpaca_config(p, credentials, super::venues::Role::Provider)?;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let poll = super::chain::ChainPoll { cfg, underlying: r.instrument.underlying.clone(), window };
    rt.spawn(super::chain::poll(poll, tx));
    Ok(Some(rx))
}

/// A trader and the venue answers it listens to, or why the start was refused.
type Started = Result<(fleet::Trader, Option<tokio::sync::mpsc::Receiver<VenueInput>>), String>;

/// An agent on a remote venue: its cash is the account's, the account is reconciled with the
/// journal (`super::live`), and its execution task is started.
fn start_remote(
    rt: &tokio::runtime::Handle,
    p: &run::Prepared,
    mut client: Box<dyn crate::venue::ExecutionClient>,
    sink: &mut JournalSink,
    restored: &crate::runtime::journal_sink::Restored,
    day_trades: &[DayTrade],
    adopt: bool,
) -> anyhow::Result<Started> {
    let name = &p.recipe.agent;
    let state = match rt.block_on(client.account()) {
        Ok(state) => state,
        Err(e) => {
            return Ok(Err(format!("cannot read the account at the venue, so nothing was traded: {e}")));
        }
    };
    // The agent books the positions it takes over at their cost: it starts from the cash the
    // account had before them.
    let cost: rust_decimal::Decimal = state
        .positions
        .iter()
        .map(|h| {
            let contract = h.instrument.as_str().parse::<crate::options::OptionContract>().is_ok();
            let mult = if contract { rust_decimal::Decimal::ONE_HUNDRED } else { rust_decimal::Decimal::ONE };
            h.qty * h.avg_price * mult
        })
        .sum();
    let mut agent = run::build_agent_with_cash(p, Some(state.cash + cost))?;
    agent.restore_day_trades(day_trades);
    let who = crate::runtime::live::Starting {
        agent: &AgentId(name.clone()),
        account: &AccountId(p.recipe.broker.account.clone()),
        underlying: &p.recipe.instrument.underlying,
        adopt,
    };
    match rt.block_on(crate::runtime::live::take_over(
        client.as_mut(),
        &mut agent,
        sink,
        restored,
        &who,
        &state,
    )) {
        Ok(lines) => {
            for l in lines {
                say(&format!("{l}\n"));
            }
        }
        Err(why) => return Ok(Err(why)),
    }
    let (requests, orders) = tokio::sync::mpsc::unbounded_channel();
    let (answers, venue) = tokio::sync::mpsc::channel(1024);
    rt.spawn(crate::runtime::remote::execute(client, orders, answers));
    let remote = Remote::new(agent, requests, rust_decimal::Decimal::new(1, 2));
    Ok(Ok((fleet::Trader::Remote(Box::new(remote)), Some(venue))))
}

/// What starting one agent needs besides its recipe: the runtime, the fleet's journal and
/// vault, and the command's flags. `runner up` starts every agent with it, and a reload that
/// changed more than parameters starts one again ([`Restarts`]).
struct StartEnv {
    handle: tokio::runtime::Handle,
    journal: PathBuf,
    secrets_dir: PathBuf,
    speed: Option<Speed>,
    adopt: bool,
    live: bool,
}

/// One recipe made ready to start: prepared (validated in full), its secrets decrypted in
/// memory, its venue and market data built — everything that may fail before anything is
/// locked or journaled. A restart keeps no venue (`venues: None`): it was built once to check
/// it, and is built again when the new run starts, so no second broker connection waits while
/// the agent flattens.
struct Staged {
    p: run::Prepared,
    /// The file's text, as prepared.
    text: String,
    recipe: RecipeRef,
    creds: super::credentials::Credentials,
    venues: Option<(Execution, MarketData)>,
}

/// Stage the recipe at `path` (see [`Staged`]).
fn stage(env: &StartEnv, path: &Path) -> anyhow::Result<Staged> {
    // The text the agent is built from is the one prepared: a write between the reads (an
    // editor saving during a reload) is refused, never half taken.
    // (`read_source` reads regular files only; `prepare` says why anything else is refused.)
    let read = || crate::recipe::load::read_source(path).ok().map(|src| src.text);
    let first = read();
    let p = run::prepare(path)?;
    let text = first.filter(|t| read().as_ref() == Some(t));
    let Some(text) = text else {
        return Err(ExitError::failed(format!(
            "{} changed while it was read; nothing started from it",
            path.display()
        ))
        .into());
    };
    let recipe = recipe_ref_of(path, text.as_bytes());
    let creds = super::credentials::unlock(&p.recipe, path, &env.secrets_dir)?;
    if p.recipe.broker.environment == crate::recipe::model::Environment::Live && !env.live {
        return Err(ExitError::failed(format!(
            "{}: broker.environment: live trades real money; add --live to the command line to \
             confirm (nothing was started)",
            path.display()
        ))
        .into());
    }
    let venues = Some(venues(env, &p, &creds, path)?);
    Ok(Staged { p, text, recipe, creds, venues })
}

/// The recipe's venue and market data, from the registry (which refuses a kind this build has
/// no adapter for).
fn venues(
    env: &StartEnv,
    p: &run::Prepared,
    creds: &super::credentials::Credentials,
    path: &Path,
) -> anyhow::Result<(Execution, MarketData)> {
    // Live clients start their connection tasks on the runtime.
    let _entered = env.handle.enter();
    let execution = super::venues::execution(p, creds)
        .map_err(|e| ExitError::failed(format!("{}: {e}", path.display())))?;
    let data = super::venues::market_data(p, DateRange::default(), creds)
        .map_err(|e| ExitError::failed(format!("{}: {e}", path.display())))?;
    Ok((execution, data))
}

/// Why an agent did not start.
enum StartFailed {
    /// Before its run began (its signal source, the journal): nothing of it was journaled.
    Before(anyhow::Error),
    /// Its run began and was refused (reconciliation with the venue); the run is ended as
    /// refused.
    Refused(String),
}

/// Begin the run of the agent staged from `path`: its signal source, its journal run
/// (restored from earlier runs and reconciled with its venue), its venue's tasks. The
/// caller holds the account lock.
fn start_agent(
    env: &StartEnv,
    path: &Path,
    staged: Staged,
) -> Result<(fleet::FleetAgent, RunInfo), StartFailed> {
    let Staged { p, text, recipe, creds, venues: built } = staged;
    let p = &p;
    let before = |e: anyhow::Error| StartFailed::Before(e);
    let (execution, data) = match built {
        Some(v) => v,
        None => venues(env, p, &creds, path).map_err(before)?,
    };
    let name = p.recipe.agent.clone();
    // The signal source, after the account lock and before this agent's run begins.
    let wiring = {
        let _entered = env.handle.enter();
        super::signal_feed::start(&p.recipe, path, &creds)
    };
    let wiring =
        wiring.map_err(|why| StartFailed::Before(ExitError::failed(format!("{name}: {why}")).into()))?;
    if let Some(w) = &wiring {
        say(&format!("{name}: signals from {} (max age {:?})\n", w.source, w.max_age));
    }
    let journal = open_journal(&env.journal, Durability::Full).map_err(before)?;
    let mut meta = metadata(p, &recipe);
    let speed = env.speed.unwrap_or_else(|| p.recipe.provider.speed_or_default());
    let (feed, first, source) = match data {
        MarketData::Replay(replay) => {
            // The restart rebuild inherits only what happened before this run's first market
            // event (crate::journal::history); peek at it with a second reader of the same data.
            let first = run::open_replay(p, DateRange::default())
                .map_err(before)?
                .next()
                .transpose()
                .map_err(|e| before(ExitError::usage(format!("{}: {e}", p.data.display())).into()))?;
            let source = format!("replaying {} at {speed}", p.data.display());
            (fleet::Feed::Replay { replay, speed }, first, source)
        }
        MarketData::Live { client, subscriptions } => {
            let source = format!("live {} data", crate::recipe::kind_name(&p.recipe.provider.kind));
            (fleet::Feed::Live { client, subscriptions }, None, source)
        }
    };
    if let Some(first) = &first {
        meta.insert(FIRST_EVENT_KEY.to_owned(), journal_ts::format(&first.ts().to_utc()));
    }
    // What a restart takes over is stamped at the first market event (or now).
    let start = first.map_or_else(|| crate::model::Timestamp::from_datetime(&chrono::Utc::now()), |e| e.ts());
    let (mode, venue_label) = match &execution {
        Execution::Simulated(_) => (RunMode::Paper, "paper broker".to_owned()),
        Execution::Remote { live, .. } => (
            if *live { RunMode::Live } else { RunMode::Paper },
            format!(
                "{} {}",
                crate::recipe::kind_name(&p.recipe.broker.kind),
                if *live { "LIVE (real money)" } else { "paper account" }
            ),
        ),
    };
    let mut sink = JournalSink::begin(journal, sink_info(p, path, mode), meta).map_err(|e| {
        before(
            match e {
                JournalError::AccountInUse(why) => ExitError::failed(format!("{name}: cannot start: {why}")),
                e => ExitError::usage(format!("journal {}: {e}", env.journal.display())),
            }
            .into(),
        )
    })?;
    // The fleet's checkpointer copies the WAL back, never an agent's commit (fleet::run).
    sink.defer_checkpoints();
    let started = (|| -> anyhow::Result<Started> {
        let restored = sink
            .restore()
            .map_err(|e| ExitError::usage(format!("journal {}: {e}", env.journal.display())))?;
        say(&format!(
            "{name}: {venue_label}, account {}, {source}, journal {} (run {})\n",
            p.recipe.broker.account,
            shown_path(&env.journal).display(),
            sink.run_id()
        ));
        say_restored(&name, p, &restored);
        // The PDT window persists across runs: the agent's compliance state counts them.
        let restored_trades: Vec<DayTrade> = restored
            .day_trades
            .iter()
            .map(|d| DayTrade { date: d.trade_date, instrument: d.instrument.clone() })
            .collect();
        let adopt = env.adopt || p.recipe.broker.reconcile == Reconcile::Adopt;
        Ok(match execution {
            Execution::Simulated(venue) => {
                let mut run = run::build_lockstep(p, *venue)?;
                run.parts_mut().0.restore_day_trades(&restored_trades);
                reconcile(p, &mut run, &mut sink, &restored, adopt, start)
                    .map(|()| (fleet::Trader::Sim(Box::new(run)), None))
            }
            Execution::Remote { client, .. } => {
                start_remote(&env.handle, p, client, &mut sink, &restored, &restored_trades, adopt)?
            }
        })
    })();
    let (trader, venue) = match started {
        Ok(Ok(started)) => started,
        Ok(Err(why)) => {
            let _ = sink.end(&format!("refused: {}", why.lines().next().unwrap_or_default()));
            return Err(StartFailed::Refused(why));
        }
        Err(e) => {
            let _ = sink.end(&format!("refused: {name}: {e}"));
            return Err(StartFailed::Before(e));
        }
    };
    let info = run_info(p, sink.run_id(), mode, format!("{venue_label}, {source}"), recipe);
    let chain = match chain_poller(&env.handle, p, &creds) {
        Ok(c) => c,
        Err(e) => {
            let _ = sink.end(&format!("refused: {name}: {e}"));
            return Err(StartFailed::Before(e));
        }
    };
    let agent = fleet::FleetAgent {
        signals: wiring,
        trader,
        feed,
        venue,
        chain,
        name,
        account: p.recipe.broker.account.clone(),
        sink: Some(sink),
        recipe: path.to_path_buf(),
        recipe_text: Some(text),
    };
    Ok((agent, info))
}

/// Run `runner up`.
pub fn up(args: UpArgs, _g: &GlobalArgs) -> CmdResult {
    if args.recipes.len() > 1 && args.output.trades_csv.is_some() {
        return Err(ExitError::usage("--trades-csv takes one recipe").into());
    }
    // The runtime and the signal handlers come first: a SIGTERM or SIGHUP from here on is
    // held until the agents run, so every run that is begun below is also ended.
    let rt = fleet::runtime()?;
    let mut signals = {
        let _entered = rt.enter();
        Signals::install().map_err(|e| ExitError::usage(format!("cannot install signal handlers: {e}")))?
    };
    let settings = FleetSettings::resolve(&args.fleet.overrides(args.fleet_loss_limit))?;
    if let Some(max) = settings.max_agents
        && args.recipes.len() > max as usize
    {
        return Err(ExitError::failed(format!(
            "{} agents given, the fleet allows {max} at once (max_concurrent_agents)",
            args.recipes.len()
        ))
        .into());
    }
    // Every recipe is validated in full, and the secrets it names are decrypted once, here,
    // in memory, before anything trades; they are held (and wiped on drop) for the whole run.
    // Each recipe's venue and market data come from the registry, which refuses a kind this
    // build has no adapter for before anything is locked or journaled.
    let env = StartEnv {
        handle: rt.handle().clone(),
        journal: settings.journal.clone(),
        secrets_dir: settings.secrets_dir.clone(),
        speed: args.speed,
        adopt: args.adopt,
        live: args.live,
    };
    let mut staged = Vec::with_capacity(args.recipes.len());
    for path in &args.recipes {
        staged.push(stage(&env, path)?);
    }
    // One agent name and one broker account per agent in this process.
    let mut names = HashSet::new();
    let mut accounts: HashMap<String, &str> = HashMap::new();
    for p in staged.iter().map(|s| &s.p) {
        let name = p.recipe.agent.as_str();
        if !names.insert(name) {
            return Err(ExitError::failed(format!("agent `{name}` is given twice")).into());
        }
        let key = account_key(p);
        if let Some(other) = accounts.insert(key.to_string(), name) {
            return Err(ExitError::failed(format!(
                "account {key} is named by agents `{other}` and `{name}`; one account belongs to one agent"
            ))
            .into());
        }
    }
    // Across processes on this host, whatever --state-dir or --journal say: take every
    // account lock before anything trades.
    let mut locks = Vec::with_capacity(staged.len());
    for p in staged.iter().map(|s| &s.p) {
        let lock =
            AccountLock::acquire(&account_key(p), &AgentId(p.recipe.agent.clone())).map_err(|e| match e {
                LockError::HeldBy { .. } => {
                    ExitError::failed(format!("{}: cannot start: {e}", p.recipe.agent))
                }
                LockError::BadAccount(_) => ExitError::failed(format!("{}: {e}", p.recipe.agent)),
                LockError::Io { .. } => ExitError::usage(format!("{}: {e}", p.recipe.agent)),
            })?;
        locks.push(lock);
    }
    verify_journal(&settings.journal)?;
    // The webhooks' secrets, before anything starts: a refused start is notified too.
    let notify = super::notify::setup(settings.notify.as_ref(), &settings.secrets_dir)?;
    // The HTTP server's address is bound before anything is journaled: a taken port or a
    // missing token refuses the start.
    let serve = match args.http.as_deref().or(settings.http.as_ref().map(|h| h.listen.as_str())) {
        Some(listen) => {
            let (listener, auth, token) = super::http::prepare(
                listen,
                settings.http.as_ref(),
                &settings.secrets_dir,
                &settings.state_dir,
            )?;
            let addr = listener.local_addr().map_or_else(|_| listen.to_owned(), |a| a.to_string());
            say(&format!("dashboard: http://{addr}/ ({token})\n"));
            Some(fleet::Serve { listener, auth })
        }
        None => None,
    };
    if let Some(why) = signals.stop_pending() {
        say(&format!("stopped ({why}) before any agent started; nothing was journaled\n"));
        return Ok(ExitCode::SUCCESS);
    }
    let mut agents: Vec<fleet::FleetAgent> = Vec::with_capacity(staged.len());
    let mut infos = Vec::with_capacity(staged.len());
    for (one, path) in staged.into_iter().zip(&args.recipes) {
        let name = one.p.recipe.agent.clone();
        match start_agent(&env, path, one) {
            Ok((agent, info)) => {
                agents.push(agent);
                infos.push(info);
            }
            Err(failed) => {
                // Nothing traded: every run begun so far ends as refused.
                let (outcome, why) = match &failed {
                    StartFailed::Before(e) => (format!("refused: {e}"), e.to_string()),
                    StartFailed::Refused(why) => {
                        (format!("refused: {}", why.lines().next().unwrap_or_default()), why.clone())
                    }
                };
                for a in agents {
                    if let Some(s) = a.sink {
                        let _ = s.end(&outcome);
                    }
                }
                if let StartFailed::Before(e) = failed {
                    return Err(e);
                }
                if let Some(n) = &notify
                    && why.contains("differs from the journal")
                {
                    let note = super::notify::refused_start(&name, &why);
                    rt.block_on(super::notify::send_now(n, note, std::time::Duration::from_secs(15)));
                }
                return Err(ExitError::failed(format!("{name}: {why}")).into());
            }
        }
    }
    if let Some(l) = settings.loss_limit {
        say(&format!("fleet daily loss limit: {l}\n"));
    }
    let names: Vec<String> = agents.iter().map(|a| a.name.clone()).collect();
    let many = names.len() > 1;
    let restarts = Arc::new(Restarts {
        env,
        infos: Mutex::new(infos),
        names: names.clone(),
        report_dir: args.output.report_dir.clone(),
        trades_csv: args.output.trades_csv.clone(),
        state_dir: settings.state_dir.clone(),
    });
    let opts = fleet::RunOptions {
        state_dir: settings.state_dir.clone(),
        loss_limit: settings.loss_limit,
        stale_after: settings.stale_after,
        stale_halt_after: settings.stale_halt_after,
        journal: settings.journal.clone(),
        notify,
        restart: Some(fleet::Restarter(Arc::clone(&restarts) as Arc<dyn fleet::Restart>)),
    };
    let results = fleet::run(&rt, signals, agents, &opts, serve)?;
    drop(opts);
    drop(locks);
    let infos =
        std::mem::take(&mut *restarts.infos.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    for ((name, done), info) in names.iter().zip(results).zip(infos) {
        let dir = match &args.output.report_dir {
            Some(d) if many => d.join(name),
            Some(d) => d.clone(),
            None => settings.state_dir.join("runs").join(&info.id),
        };
        let outcome = done.outcome.to_string();
        finish(done.report, info, &outcome, &dir, args.output.trades_csv.as_deref())?;
        if let Some(r) = &done.run {
            say(&format!("{name}: journal run {r}: {}\n", done.outcome));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `runner up`'s [`fleet::Restart`]: a reload that changed an agent's recipe beyond its
/// parameters stages the file as a start does, the agent's run ends (its report is written
/// as at the end of `up`), and a new run begins as at the start — journal, restore,
/// reconciliation with the venue — under the account lock this process already holds (a
/// reload keeps the agent's account).
struct Restarts {
    env: StartEnv,
    /// The current run of each slot, for its report.
    infos: Mutex<Vec<RunInfo>>,
    names: Vec<String>,
    report_dir: Option<PathBuf>,
    trades_csv: Option<PathBuf>,
    state_dir: PathBuf,
}

impl fleet::Restart for Restarts {
    fn stage(&self, recipe: &Path) -> Result<fleet::Staged, String> {
        let mut staged = stage(&self.env, recipe).map_err(|e| e.to_string())?;
        // Checked; built again at the start (see `Staged`).
        staged.venues = None;
        Ok(fleet::Staged(Box::new(staged)))
    }

    fn retire(&self, index: usize, done: &fleet::Finished) {
        let Some(info) =
            self.infos.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(index).cloned()
        else {
            return;
        };
        // Each run of a restarted agent has its own report directory.
        let dir = match &self.report_dir {
            Some(d) if self.names.len() > 1 => d.join(&self.names[index]).join(&info.id),
            Some(d) => d.join(&info.id),
            None => self.state_dir.join("runs").join(&info.id),
        };
        let outcome = done.outcome.to_string();
        if let Err(e) = finish(done.report.clone(), info, &outcome, &dir, self.trades_csv.as_deref()) {
            say(&format!("warning: the report of the run before the restart was not written: {e}\n"));
        }
        if let Some(r) = &done.run {
            say(&format!("{}: journal run {r}: {outcome}\n", self.names[index]));
        }
    }

    fn start(&self, index: usize, recipe: &Path, staged: fleet::Staged) -> Result<fleet::FleetAgent, String> {
        let Ok(staged) = staged.0.downcast::<Staged>() else {
            return Err("internal: a restart staged elsewhere".into());
        };
        match start_agent(&self.env, recipe, *staged) {
            Ok((agent, info)) => {
                if let Some(slot) =
                    self.infos.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(index)
                {
                    *slot = info;
                }
                Ok(agent)
            }
            Err(StartFailed::Before(e)) => Err(e.to_string()),
            Err(StartFailed::Refused(why)) => Err(why),
        }
    }
}

/// Run `runner backtest`.
pub fn backtest(args: BacktestArgs, _g: &GlobalArgs) -> CmdResult {
    if let (Some(f), Some(t)) = (args.from, args.to)
        && f > t
    {
        return Err(ExitError::usage(format!("--from {f} is after --to {t}")).into());
    }
    let p = run::prepare(&args.recipe)?;
    if let Some(sig) = p.recipe.algorithm.signals.as_ref().filter(|s| s.source != SignalSourceKind::File) {
        return Err(ExitError::failed(format!(
            "{}: a backtest replays recorded signals, and algorithm.signals.source is {}: record them with              `runner signals record` and use `source: file` (docs/signals.md)",
            args.recipe.display(),
            crate::recipe::kind_name(&sig.source)
        ))
        .into());
    }
    let venue = super::venues::simulated(&p)?;
    let lockstep = match args.from {
        // A sub-range starts with the strategy warmed up on the days before it, as in a full run.
        Some(from) => {
            let warm = run::warm_up(&p, from)?;
            say(&format!(
                "{}: warm-up {} candle(s) from {} to {from} (not traded)\n",
                p.recipe.agent, warm.candles, warm.from
            ));
            super::lockstep::Lockstep::new(run::build_agent_warmed(&p, warm)?, venue)
        }
        None => run::build_lockstep(&p, venue)?,
    };
    let range = DateRange { from: args.from, to: args.to };
    let replay = match super::venues::market_data(&p, range, &super::credentials::Credentials::default())
        .map_err(|e| ExitError::failed(format!("{}: {e}", args.recipe.display())))?
    {
        super::venues::MarketData::Replay(replay) => *replay,
        super::venues::MarketData::Live { .. } => {
            return Err(ExitError::failed(format!(
                "{}: a backtest replays recorded data; provider.kind: {} is a live feed (record it, or use \
                 provider.kind: replay)",
                args.recipe.display(),
                crate::recipe::kind_name(&p.recipe.provider.kind)
            ))
            .into());
        }
    };
    let recipe = recipe_ref(&args.recipe)?;
    // The fleet settings name the journal and the state directory the report goes under.
    let settings = FleetSettings::resolve(&args.fleet.overrides(None))?;
    let sink = if args.no_journal {
        None
    } else {
        // Backtests are simulations: commits survive a crashed process but are not fsync'ed
        // each time (docs/journal.md, Durability).
        let journal = open_journal(&settings.journal, Durability::ProcessCrash)?;
        let sink = JournalSink::begin(
            journal,
            sink_info(&p, &args.recipe, RunMode::Backtest),
            metadata(&p, &recipe),
        )
        .map_err(|e| ExitError::usage(format!("journal {}: {e}", settings.journal.display())))?;
        Some(sink)
    };
    // Not journaled, the run still gets an id of the same shape.
    let id = sink.as_ref().map_or_else(
        || RunId::new(&AgentId(p.recipe.agent.clone()), chrono::Utc::now()),
        |s| s.run_id().clone(),
    );
    let info = run_info(&p, &id, RunMode::Backtest, "backtest".to_owned(), recipe);
    let dir =
        args.output.report_dir.clone().unwrap_or_else(|| settings.state_dir.join("runs").join(id.as_str()));
    let range = match (args.from, args.to) {
        (Some(f), Some(t)) => format!(" between {f} and {t}"),
        (Some(f), None) => format!(" from {f} on"),
        (None, Some(t)) => format!(" up to {t}"),
        (None, None) => String::new(),
    };
    let no_data = format!("no market data in {}{range}; nothing was backtested", p.data.display());
    let done = run::backtest(lockstep, replay, sink, &no_data)?;
    let name = &p.recipe.agent;
    let outcome = done.outcome.to_string();
    finish(done.report, info, &outcome, &dir, args.output.trades_csv.as_deref())?;
    if let Some(r) = &done.run {
        say(&format!("{name}: journal run {r}\n"));
    }
    Ok(ExitCode::SUCCESS)
}

/// Run `runner status`.
pub fn status(args: StatusArgs, _g: &GlobalArgs) -> CmdResult {
    let state_dir = match args.state_dir {
        Some(d) => d,
        None => FleetSettings::resolve(&Overrides { fleet: args.fleet, ..Overrides::default() })?.state_dir,
    };
    let (rows, warnings) = status::list(&state_dir).map_err(|e| {
        ExitError::usage(format!("cannot read {}: {e}", status::status_dir(&state_dir).display()))
    })?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    match args.format {
        crate::journal::cli::Format::Json => {
            let text = serde_json::to_string_pretty(&rows)
                .map_err(|e| ExitError::usage(format!("cannot encode the status: {e}")))?;
            say(&format!("{text}\n"));
        }
        crate::journal::cli::Format::Table if rows.is_empty() => {
            say(&format!(
                "no agents running (status directory {})\n",
                status::status_dir(&state_dir).display()
            ));
        }
        crate::journal::cli::Format::Table => say(&status::render(&rows)),
    }
    Ok(ExitCode::SUCCESS)
}
