//! `runner report RUN`: re-print a saved run from its directory; `runner runs`: list the runs of
//! the journal and of the report directories, one id each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};
use rust_decimal::Decimal;

use super::{RunInfo, Summary};
use crate::cli::{CmdResult, ExitError, GlobalArgs};
use crate::journal::cli::{Format, print_table};
use crate::journal::{Journal, RunTotals};
use crate::runtime::cli::{FleetArgs, say};
use crate::runtime::fleet::FleetSettings;

/// Arguments of `runner report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A run id (`runner runs`), `latest` for the run that finished last, or a run directory
    /// (holding deals.csv and summary.json).
    pub run: PathBuf,
    /// Where the run reports are (`<state_dir>/runs/<run id>`).
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Open the run in the dashboard's pages instead: serve them (and the run list) on ADDR
    /// until Ctrl-C. Any address but loopback needs `RUNNER_HTTP_TOKEN`, which every request
    /// must then carry.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = SERVE_ADDR)]
    pub serve: Option<String>,
}

/// Where `runner report RUN --serve` serves without an address.
pub const SERVE_ADDR: &str = "127.0.0.1:8788";

/// Arguments of `runner runs`.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// Where the journal and the run reports are.
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The lines that open a run's report: printed when the run ends and again by `runner report`.
pub fn header(run: &RunInfo) -> String {
    let p = |s: &str| crate::text::printable(s).into_owned();
    let hash = run.recipe.sha256.get(..12).unwrap_or(&run.recipe.sha256);
    format!(
        "== {} ({}), run {}\n   recipe {} (sha256 {}), data {}\n",
        p(&run.agent),
        p(&run.title),
        p(&run.id),
        p(&run.recipe.path),
        p(hash),
        range(run.from, run.to)
    )
}

/// A date range for people: `2013-10-07 – 2013-10-11`, one date for one day.
fn range(from: Option<NaiveDate>, to: Option<NaiveDate>) -> String {
    match (from, to) {
        (Some(f), Some(t)) if f == t => f.to_string(),
        (Some(f), Some(t)) => format!("{f} – {t}"),
        (Some(d), None) | (None, Some(d)) => d.to_string(),
        (None, None) => "none".to_owned(),
    }
}

/// A report directory under `<state_dir>/runs/`.
struct Saved {
    dir: PathBuf,
    summary: Summary,
    /// When its summary was written.
    written: SystemTime,
}

/// The report directories under `runs_dir` by name (the run id). A directory without a readable
/// summary is not a finished run's report: it is left out, with a warning when the file is
/// there but is not a summary.
fn saved_runs(runs_dir: &Path) -> BTreeMap<String, Saved> {
    let mut found = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(runs_dir) else { return found };
    for entry in entries.flatten() {
        let dir = entry.path();
        let file = dir.join("summary.json");
        let (Ok(text), Ok(meta)) = (std::fs::read_to_string(&file), std::fs::metadata(&file)) else {
            continue;
        };
        match serde_json::from_str::<Summary>(&text) {
            Ok(summary) => {
                let written = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                found.insert(
                    entry.file_name().to_string_lossy().into_owned(),
                    Saved { dir, summary, written },
                );
            }
            Err(e) => eprintln!("warning: {}: not a run summary: {e}", file.display()),
        }
    }
    found
}

fn settings(fleet: &FleetArgs) -> anyhow::Result<FleetSettings> {
    FleetSettings::resolve(&fleet.overrides(None))
}

/// The directory `runner report` reads: `latest`, an existing directory, or a run id under
/// `runs_dir`.
fn run_dir(run: &Path, fleet: &FleetArgs) -> anyhow::Result<PathBuf> {
    if run == Path::new("latest") {
        let runs_dir = settings(fleet)?.state_dir.join("runs");
        return saved_runs(&runs_dir)
            .into_values()
            .max_by_key(|s| s.written)
            .map(|s| s.dir)
            .ok_or_else(|| ExitError::usage(format!("no run reports in {}", runs_dir.display())).into());
    }
    if run.is_dir() {
        return Ok(run.to_path_buf());
    }
    let s = settings(fleet)?;
    let dir = s.state_dir.join("runs").join(run);
    if dir.is_dir() {
        return Ok(dir);
    }
    let id = run.to_string_lossy();
    let journaled = Journal::open_existing(&s.journal)
        .ok()
        .and_then(|j| j.runs().ok())
        .is_some_and(|runs| runs.iter().any(|r| r.id.as_str() == id));
    let why = if journaled {
        "the journal has this run, but its report was written elsewhere (--report-dir) or never (the run \
         did not finish)"
    } else {
        "not a run directory, and no such run (see `runner runs`)"
    };
    Err(ExitError::usage(format!(
        "{}: {why}; run reports are in {}",
        crate::text::printable(&id),
        s.state_dir.join("runs").display()
    ))
    .into())
}

/// Run `runner report`.
pub fn report(args: ReportArgs, _g: &GlobalArgs) -> CmdResult {
    let dir = run_dir(&args.run, &args.fleet)?;
    if let Some(addr) = &args.serve {
        return serve(&dir, addr, &args.fleet);
    }
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| ExitError::usage(format!("cannot read {}: {e}", dir.join(name).display())))
    };
    let deals = read("deals.csv")?;
    let summary: Summary = serde_json::from_str(&read("summary.json")?).map_err(|e| {
        ExitError::usage(format!("{}: not a run summary: {e}", dir.join("summary.json").display()))
    })?;
    let mut text = format!(
        "{}{}Equity chart: {}\n",
        summary.run.as_ref().map(header).unwrap_or_default(),
        super::render(&deals, &summary),
        dir.join("equity.svg").display()
    );
    // Reports written before the price chart existed have none.
    let price = dir.join("price.svg");
    if price.is_file() {
        text.push_str(&format!("Price chart: {}\n", price.display()));
    }
    say(&text);
    Ok(std::process::ExitCode::SUCCESS)
}

/// `runner report RUN --serve ADDR`: the run's view in the dashboard's pages until Ctrl-C
/// (or SIGTERM).
fn serve(dir: &Path, addr: &str, fleet: &FleetArgs) -> CmdResult {
    use crate::runtime::http;
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| ExitError::usage(format!("cannot read {}: {e}", dir.display())))?;
    if !dir.join("run.json").is_file() {
        return Err(ExitError::usage(format!(
            "{}: no run.json (the run view); runs written before the dashboard existed have none: run it again",
            dir.display()
        ))
        .into());
    }
    let (Some(runs_dir), Some(id)) = (dir.parent(), dir.file_name().map(|n| n.to_string_lossy().into_owned()))
    else {
        return Err(ExitError::usage(format!("{}: not a run directory", dir.display())).into());
    };
    let addr: std::net::SocketAddr = addr.parse().map_err(|_| {
        ExitError::usage(format!("--serve {addr}: not an address (HOST:PORT, e.g. {SERVE_ADDR})"))
    })?;
    let token = match std::env::var(http::TOKEN_ENV) {
        Ok(t) if !t.trim().is_empty() => Some(http::Auth { token: t.trim().to_owned().into() }),
        _ if addr.ip().is_loopback() => None,
        _ => {
            return Err(ExitError::usage(format!(
                "--serve {addr} is not a loopback address: set {} so every request needs a token",
                http::TOKEN_ENV
            ))
            .into());
        }
    };
    let journal = settings(fleet).ok().map(|s| s.journal).filter(|j| j.is_file());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ExitError::failed(format!("cannot start the server: {e}")))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| ExitError::usage(format!("--serve {addr}: cannot listen: {e}")))?;
        let bound = listener.local_addr().map_or_else(|_| addr.to_string(), |a| a.to_string());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(http::serve_runs(listener, runs_dir.to_path_buf(), journal, token, stop_rx));
        say(&format!("run {id}: http://{bound}/#/run/{id} (Ctrl-C stops)\n"));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| ExitError::failed(format!("cannot watch for SIGTERM: {e}")))?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = stop_tx.send(true);
        match server.await {
            Ok(Ok(())) => Ok(std::process::ExitCode::SUCCESS),
            Ok(Err(e)) => Err(ExitError::failed(format!("the server stopped with an error: {e}")).into()),
            Err(e) => Err(ExitError::failed(format!("the server task failed: {e}")).into()),
        }
    })
}

/// One line of `runner runs`.
#[derive(Debug, serde::Serialize)]
struct RunRow {
    id: String,
    agent: String,
    mode: String,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    trades: usize,
    net_pnl: Decimal,
    outcome: String,
    /// The report directory, if there is one.
    report: Option<PathBuf>,
    /// The order of the list: the start to the second (a run id's precision), then the end.
    #[serde(skip)]
    order: (DateTime<Utc>, DateTime<Utc>),
}

impl RunRow {
    /// A run from its report: the whole run's result (equity at the end against the start).
    fn from_report(id: &str, saved: &Saved) -> Self {
        let s = &saved.summary;
        let run = s.run.as_ref();
        let text = |f: fn(&RunInfo) -> &String| run.map_or_else(|| "?".to_owned(), |r| f(r).clone());
        Self {
            id: id.to_owned(),
            agent: text(|r| &r.agent),
            mode: text(|r| &r.mode),
            from: run.and_then(|r| r.from),
            to: run.and_then(|r| r.to),
            trades: s.trades,
            net_pnl: s.net_pnl,
            outcome: run.map_or_else(|| "?".to_owned(), |r| format!("{} (not journaled)", r.outcome)),
            report: Some(saved.dir.clone()),
            order: (started_at(id).unwrap_or_else(|| saved.written.into()), saved.written.into()),
        }
    }
}

/// The start time in a run id (`…-20261202T150320Z-ffe5abb6`).
fn started_at(id: &str) -> Option<DateTime<Utc>> {
    let stamp = id.rsplit('-').nth(1)?;
    NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").ok().map(|t| t.and_utc())
}

/// Run `runner runs`.
pub fn runs(args: RunsArgs, _g: &GlobalArgs) -> CmdResult {
    let s = settings(&args.fleet)?;
    let mut saved = saved_runs(&s.state_dir.join("runs"));
    let mut rows = Vec::new();
    if s.journal.exists() {
        let journal = Journal::open_existing(&s.journal).map_err(|e| ExitError::usage(e.to_string()))?;
        let usage = |e: crate::journal::JournalError| ExitError::usage(e.to_string());
        for r in journal.runs().map_err(usage)? {
            let outcome = r.outcome.clone().unwrap_or_else(|| "running or crashed".to_owned());
            // The report knows the whole run (open positions too); the fills its closed deals.
            let row = match saved.remove(r.id.as_str()) {
                Some(report) => RunRow { outcome, ..RunRow::from_report(r.id.as_str(), &report) },
                None => {
                    let t: RunTotals = journal.run_totals(&r.id).map_err(usage)?;
                    RunRow {
                        id: r.id.to_string(),
                        agent: r.begin.agent.to_string(),
                        mode: crate::journal::store::mode_text(r.begin.mode),
                        from: t.first_fill,
                        to: t.last_fill,
                        trades: t.trades,
                        net_pnl: t.net_pnl,
                        outcome,
                        report: None,
                        order: Default::default(),
                    }
                }
            };
            let start = r.begin.started_at.with_nanosecond(0).unwrap_or(r.begin.started_at);
            rows.push(RunRow { order: (start, r.ended_at.unwrap_or(DateTime::<Utc>::MAX_UTC)), ..row });
        }
    }
    rows.extend(saved.iter().map(|(id, report)| RunRow::from_report(id, report)));
    rows.sort_by_key(|r| r.order);
    match args.format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&rows)
                .map_err(|e| ExitError::usage(format!("cannot encode the runs: {e}")))?;
            say(&format!("{text}\n"));
        }
        Format::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.id.clone(),
                        r.agent.clone(),
                        r.mode.clone(),
                        range(r.from, r.to),
                        r.trades.to_string(),
                        r.net_pnl.round_dp(2).to_string(),
                        r.outcome.clone(),
                    ]
                })
                .collect();
            print_table(
                &["RUN", "AGENT", "MODE", "RANGE", "TRADES", "NET P&L", "OUTCOME"],
                &[false, false, false, false, true, true, false],
                &cells,
            );
            say(&format!(
                "{} run(s): journal {}, reports {}\n",
                rows.len(),
                s.journal.display(),
                s.state_dir.join("runs").display()
            ));
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
