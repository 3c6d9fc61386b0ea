//! `runner journal`: verify the audit chain and query trades, denials, day trades and runs.
//!
//! Also two hidden commands used by the crash and locking tests: `stress-write` (appends
//! records and prints `ack N` after each commit) and `hold-lock` (holds an account lock
//! until standard input closes).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use clap::{Subcommand, ValueEnum};
use rust_decimal::Decimal;

use super::window::last_business_days;
use super::{
    AsOf, Counted, DEFAULT_PATH, DayTradeRecord, Durability, FillRecord, Filter, Journal, NewRun,
    OrderRecord, OrderStatus, OrderType, PositionRecord, RunId, RunMode,
};
use crate::cli::{CmdResult, ExitError, GlobalArgs};
use crate::model::{AccountId, AgentId, ClientOrderId, InstrumentId, NEW_YORK, Side};
use crate::runtime::account_lock::{AccountKey, AccountLock, LockError};

/// `println!` that stops quietly when standard output is closed (`runner journal trades | head`)
/// instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Arguments of `runner journal`.
#[derive(Debug, clap::Args)]
pub struct JournalArgs {
    /// The journal file (default: the fleet file's `journal`, else `journal/runner.db`).
    #[arg(long, global = true, value_name = "PATH", env = "RUNNER_JOURNAL")]
    pub db: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// What to do.
    #[command(subcommand)]
    pub command: JournalCommand,
}

/// Output format of the query commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON for programs.
    Json,
}

/// Which records `trades` and `denials` list.
#[derive(Debug, Clone, clap::Args)]
pub struct Query {
    /// Only this New York trading date (YYYY-MM-DD).
    #[arg(long, conflicts_with_all = ["today", "from", "to"])]
    date: Option<NaiveDate>,
    /// Only today (New York).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    today: bool,
    /// Only from this New York date on (YYYY-MM-DD), inclusive.
    #[arg(long)]
    from: Option<NaiveDate>,
    /// Only up to this New York date (YYYY-MM-DD), inclusive.
    #[arg(long)]
    to: Option<NaiveDate>,
    /// Only this run (`runner journal runs`, `runner runs`).
    #[arg(long, value_name = "ID")]
    run: Option<String>,
    /// Only this agent.
    #[arg(long)]
    agent: Option<String>,
    /// Only runs in this mode.
    #[arg(long, value_parser = ["backtest", "paper", "live"])]
    mode: Option<String>,
}

impl Query {
    /// The store's filter: dates become the UTC bounds of New York days.
    fn filter(self) -> anyhow::Result<Filter> {
        let (from, to) = match (self.today, self.date) {
            (true, _) => (Some(today_ny()), Some(today_ny())),
            (false, Some(d)) => (Some(d), Some(d)),
            (false, None) => (self.from, self.to),
        };
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(ExitError::usage(format!("--from {f} is after --to {t}")).into());
        }
        let mode = match self.mode.as_deref() {
            Some("backtest") => Some(RunMode::Backtest),
            Some("paper") => Some(RunMode::Paper),
            Some("live") => Some(RunMode::Live),
            _ => None,
        };
        Ok(Filter {
            run: self.run.map(RunId),
            mode,
            agent: self.agent.map(AgentId),
            since: from.map(|d| ny_day(d).map(|(start, _)| start)).transpose()?,
            until: to.map(|d| ny_day(d).map(|(_, end)| end)).transpose()?,
        })
    }
}

/// The `runner journal` subcommands.
#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Recompute the hash chain and cross-check every table; exit 1 on any tampering.
    Verify {
        /// Also require the chain to contain this hash: a head printed by an earlier
        /// verify and kept elsewhere, which proves the history up to it was not rewritten.
        #[arg(long, value_name = "HASH")]
        anchor: Option<String>,
    },
    /// List fills (executions), with their run and its mode.
    Trades(Query),
    /// List orders refused by the risk gate, with their reasons, runs and modes.
    Denials(Query),
    /// List external signals (stream entries, socket messages): accepted with the orders they
    /// caused, or refused and why.
    Signals(Query),
    /// Count day trades per account in the 5-business-day window ending on a date.
    DayTrades {
        /// Only this broker account.
        #[arg(long)]
        account: Option<String>,
        /// Last day of the window (default: today in New York).
        #[arg(long)]
        date: Option<NaiveDate>,
        /// Only the day trades of this run, whatever its mode (e.g. a backtest). Without it the
        /// count is the risk gate's: paper and live runs, each day trade once.
        #[arg(long, value_name = "RUN")]
        run: Option<String>,
    },
    /// List runs.
    Runs,
    /// End a run that never ended and whose process is gone (outcome `crashed (ended by
    /// hand)`): what `runner up` asks for when such a run was started on another host.
    /// Refused while the run's process still runs on this host.
    EndRun {
        /// The run id (`runner journal runs`).
        run: String,
    },
    /// Test helper: append records, printing `ack N` after each committed step.
    #[command(hide = true)]
    StressWrite {
        /// Number of steps.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// Agent name to write as.
        #[arg(long, default_value = "stress")]
        agent: String,
        /// Account to write as.
        #[arg(long, default_value = "stress-acct")]
        account: String,
        /// Commit durability.
        #[arg(long, value_enum, default_value_t = Durability::Full)]
        durability: Durability,
    },
    /// Test helper: take an account lock and hold it until standard input closes.
    #[command(hide = true)]
    HoldLock {
        /// Lock directory.
        #[arg(long)]
        dir: PathBuf,
        /// Broker account.
        #[arg(long)]
        account: String,
        /// Agent taking the lock.
        #[arg(long)]
        agent: String,
    },
}

/// Run `runner journal`.
pub fn journal(args: JournalArgs, _g: &GlobalArgs) -> CmdResult {
    let JournalArgs { db, format, command } = args;
    let db = match db {
        Some(p) => p,
        // Where `runner up` writes: the journal named by runner.yaml, found as validate finds it.
        None => crate::runtime::fleet::FleetSettings::resolve(&crate::runtime::fleet::Overrides::default())
            .map(|s| s.journal)
            .unwrap_or_else(|_| PathBuf::from(DEFAULT_PATH)),
    };
    match command {
        JournalCommand::Verify { anchor } => verify(&db, format, anchor.as_deref()),
        JournalCommand::Trades(q) => trades(&db, format, q.filter()?),
        JournalCommand::Denials(q) => denials(&db, format, q.filter()?),
        JournalCommand::Signals(q) => signals(&db, format, q.filter()?),
        JournalCommand::DayTrades { account, date, run } => {
            day_trades(&db, format, account, date.unwrap_or_else(today_ny), run)
        }
        JournalCommand::Runs => runs(&db, format),
        JournalCommand::EndRun { run } => end_run(&db, &run),
        JournalCommand::StressWrite { count, agent, account, durability } => {
            stress_write(&db, count, &agent, &account, durability)
        }
        JournalCommand::HoldLock { dir, account, agent } => hold_lock(&dir, &account, &agent),
    }
}

fn open_existing(db: &std::path::Path) -> anyhow::Result<Journal> {
    Journal::open_existing(db).map_err(|e| ExitError::usage(e.to_string()).into())
}

fn jerr(e: super::JournalError) -> anyhow::Error {
    ExitError::usage(e.to_string()).into()
}

fn today_ny() -> NaiveDate {
    Utc::now().with_timezone(&NEW_YORK).date_naive()
}

/// The UTC interval `[start, end)` of a New York calendar date.
fn ny_day(date: NaiveDate) -> anyhow::Result<(DateTime<Utc>, DateTime<Utc>)> {
    let start = |d: NaiveDate| {
        NEW_YORK
            .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| ExitError::usage(format!("date {d} has no New York midnight")))
    };
    let next = date.succ_opt().ok_or_else(|| ExitError::usage(format!("date {date} is out of range")))?;
    Ok((start(date)?, start(next)?))
}

fn ny_time(t: &DateTime<Utc>) -> String {
    t.with_timezone(&NEW_YORK).format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    say!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Print aligned columns (numbers are right-aligned by the caller's choice of `right`).
/// Cells come from the journal file, which anyone with write access can edit: control
/// characters are printed as text, never sent to the terminal.
pub fn print_table(headers: &[&str], right: &[bool], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> =
        rows.iter().map(|r| r.iter().map(|c| crate::text::printable(c).into_owned()).collect()).collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if right.get(i).copied().unwrap_or(false) {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                if i + 1 < cells.len() {
                    out.push_str(&" ".repeat(pad));
                }
            }
        }
        say!("{out}");
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn verify(db: &std::path::Path, format: Format, anchor: Option<&str>) -> CmdResult {
    let mut journal = open_existing(db)?;
    let mut report = journal.verify().map_err(jerr)?;
    let mut anchor_seq = None;
    if let Some(anchor) = anchor {
        anchor_seq = journal.find_anchor(anchor).map_err(jerr)?;
        if anchor_seq.is_none() {
            report.problems.push(format!(
                "anchor {anchor} is not in the chain: history up to it was rewritten or truncated"
            ));
        }
    }
    match format {
        Format::Json => print_json(&serde_json::json!({
            "journal": db.display().to_string(),
            "ok": report.is_ok(),
            "entries": report.entries,
            "head_hash": report.head_hash,
            "anchor_seq": anchor_seq,
            "problems": report.problems,
        }))?,
        Format::Table => {
            if report.is_ok() {
                say!(
                    "journal {}: {} entries, chain intact, head {}",
                    db.display(),
                    report.entries,
                    report.head_hash
                );
                if let Some(seq) = anchor_seq {
                    say!("anchor found at entry {seq}");
                }
            } else {
                say!("journal {}: {} problem(s) found", db.display(), report.problems.len());
                for p in &report.problems {
                    say!("  - {p}");
                }
            }
        }
    }
    Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// A record with the mode of the run that wrote it (`--format json`).
#[derive(serde::Serialize)]
struct WithMode<'a, T> {
    #[serde(flatten)]
    record: &'a T,
    mode: Option<String>,
}

/// Each run's mode, to label records with it.
struct Modes(HashMap<RunId, RunMode>);

impl Modes {
    fn of(journal: &Journal) -> anyhow::Result<Self> {
        Ok(Self(journal.runs().map_err(jerr)?.into_iter().map(|r| (r.id, r.begin.mode)).collect()))
    }

    /// The mode of `run`, if the journal knows the run.
    fn get(&self, run: Option<&RunId>) -> Option<String> {
        run.and_then(|r| self.0.get(r)).map(|m| super::store::mode_text(*m))
    }

    /// `records` as JSON, each with its run's mode.
    fn json<'a, T>(&self, records: &'a [T], run: impl Fn(&T) -> Option<&RunId>) -> Vec<WithMode<'a, T>> {
        records.iter().map(|r| WithMode { record: r, mode: self.get(run(r)) }).collect()
    }
}

/// A run id cell: `-` for a record written by no run.
fn run_cell(run: Option<&RunId>) -> String {
    run.map_or_else(|| "-".to_owned(), RunId::to_string)
}

fn trades(db: &std::path::Path, format: Format, filter: Filter) -> CmdResult {
    let journal = open_existing(db)?;
    let fills: Vec<FillRecord> = journal.fills(&filter).map_err(jerr)?;
    let modes = Modes::of(&journal)?;
    match format {
        Format::Json => print_json(&modes.json(&fills, |f| f.run.as_ref()))?,
        Format::Table => {
            let rows: Vec<Vec<String>> = fills
                .iter()
                .map(|f| {
                    vec![
                        ny_time(&f.time),
                        run_cell(f.run.as_ref()),
                        modes.get(f.run.as_ref()).unwrap_or_else(|| "-".to_owned()),
                        f.agent.to_string(),
                        f.account.to_string(),
                        crate::risk::text::instrument(f.instrument.as_str()),
                        f.side.to_string(),
                        f.qty.to_string(),
                        f.price.to_string(),
                        f.fee.to_string(),
                        f.client_order_id.to_string(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "TIME (NEW YORK)",
                    "RUN",
                    "MODE",
                    "AGENT",
                    "ACCOUNT",
                    "INSTRUMENT",
                    "SIDE",
                    "QTY",
                    "PRICE",
                    "FEE",
                    "ORDER",
                ],
                &[false, false, false, false, false, false, false, true, true, true, false],
                &rows,
            );
            say!("{} fill(s)", fills.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn denials(db: &std::path::Path, format: Format, filter: Filter) -> CmdResult {
    let journal = open_existing(db)?;
    let denials = journal.denials(&filter).map_err(jerr)?;
    let modes = Modes::of(&journal)?;
    match format {
        Format::Json => print_json(&modes.json(&denials, |d| d.run.as_ref()))?,
        Format::Table => {
            let rows: Vec<Vec<String>> = denials
                .iter()
                .map(|d| {
                    vec![
                        ny_time(&d.time),
                        run_cell(d.run.as_ref()),
                        modes.get(d.run.as_ref()).unwrap_or_else(|| "-".to_owned()),
                        d.agent.to_string(),
                        d.account.to_string(),
                        crate::risk::text::instrument(d.instrument.as_str()),
                        d.side.to_string(),
                        d.qty.to_string(),
                        d.reason_code.clone(),
                        d.message.clone(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "TIME (NEW YORK)",
                    "RUN",
                    "MODE",
                    "AGENT",
                    "ACCOUNT",
                    "INSTRUMENT",
                    "SIDE",
                    "QTY",
                    "REASON",
                    "MESSAGE",
                ],
                &[false, false, false, false, false, false, false, true, false, false],
                &rows,
            );
            say!("{} denial(s)", denials.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn signals(db: &std::path::Path, format: Format, filter: Filter) -> CmdResult {
    let journal = open_existing(db)?;
    let signals = journal.signals(&filter).map_err(jerr)?;
    let modes = Modes::of(&journal)?;
    match format {
        Format::Json => print_json(&modes.json(&signals, |d| d.run.as_ref()))?,
        Format::Table => {
            let rows: Vec<Vec<String>> = signals
                .iter()
                .map(|d| {
                    let orders: Vec<&str> = d.orders.iter().map(|o| o.0.as_str()).collect();
                    vec![
                        ny_time(&d.time),
                        run_cell(d.run.as_ref()),
                        modes.get(d.run.as_ref()).unwrap_or_else(|| "-".to_owned()),
                        d.agent.to_string(),
                        d.source.clone(),
                        d.signal_id.clone().unwrap_or_else(|| "-".to_owned()),
                        d.ticker.clone(),
                        d.direction.clone(),
                        d.status.clone(),
                        if orders.is_empty() { "-".to_owned() } else { orders.join(" ") },
                        d.reason.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "TIME (NEW YORK)",
                    "RUN",
                    "MODE",
                    "AGENT",
                    "SOURCE",
                    "ID",
                    "TICKER",
                    "DIRECTION",
                    "STATUS",
                    "ORDERS",
                    "REASON",
                ],
                &[false; 11],
                &rows,
            );
            say!("{} signal(s)", signals.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn day_trades(
    db: &std::path::Path,
    format: Format,
    account: Option<String>,
    date: NaiveDate,
    run: Option<String>,
) -> CmdResult {
    let journal = open_existing(db)?;
    let window = last_business_days(&crate::calendar::Calendar::nyse(), date, 5);
    let (Some(&first), Some(&last)) = (window.first(), window.last()) else {
        return Err(ExitError::usage(format!("no business days on or before {date}")).into());
    };
    let account_id = account.clone().map(AccountId);
    let counted = match &run {
        // One run's own day trades, whatever its mode (a backtest's simulated account).
        Some(run) => {
            let mut found = match &account_id {
                Some(a) => journal.day_trades_since(a, first),
                None => journal.all_day_trades_since(first),
            }
            .map_err(jerr)?;
            found.retain(|d| d.trade_date <= last && d.run.as_ref().map(RunId::as_str) == Some(run.as_str()));
            Counted { counted: found, backtest: 0, superseded: 0 }
        }
        // What the risk gate counts: the same function its restart rebuild uses.
        None => journal.counted_day_trades(account_id.as_ref(), first..=last, AsOf::Latest).map_err(jerr)?,
    };
    let in_window = counted.counted;
    let mut accounts: Vec<String> = in_window.iter().map(|d| d.account.to_string()).collect();
    if let Some(a) = &account {
        accounts.push(a.clone());
    }
    accounts.sort();
    accounts.dedup();
    let counts: Vec<(String, usize)> = accounts
        .iter()
        .map(|a| (a.clone(), in_window.iter().filter(|d| d.account.as_str() == a).count()))
        .collect();
    match format {
        Format::Json => print_json(&serde_json::json!({
            "window": { "from": first, "to": last, "business_days": window },
            "calendar": "NYSE",
            "holidays_considered": true,
            "run": run,
            "not_counted": { "backtest": counted.backtest, "superseded": counted.superseded },
            "accounts": counts.iter().map(|(a, n)| serde_json::json!({"account": a, "count": n})).collect::<Vec<_>>(),
            "day_trades": in_window,
        }))?,
        Format::Table => {
            say!("5-business-day window {first} .. {last} (NYSE calendar: weekends and holidays skipped)");
            if let Some(run) = &run {
                say!("day trades of run {run} only");
            }
            for (a, n) in &counts {
                say!("account {a}: {n} day trade(s)");
            }
            if counted.backtest > 0 || counted.superseded > 0 {
                say!(
                    "not counted: {} of backtest runs, {} replayed again by a later run (as the risk gate)",
                    counted.backtest,
                    counted.superseded
                );
            }
            if !in_window.is_empty() {
                let rows: Vec<Vec<String>> = in_window
                    .iter()
                    .map(|d| {
                        vec![
                            d.trade_date.to_string(),
                            d.account.to_string(),
                            d.agent.to_string(),
                            crate::risk::text::instrument(d.instrument.as_str()),
                            d.qty.to_string(),
                        ]
                    })
                    .collect();
                print_table(
                    &["DATE", "ACCOUNT", "AGENT", "INSTRUMENT", "QTY"],
                    &[false, false, false, false, true],
                    &rows,
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A run with what it traded (`runner journal runs --format json`).
#[derive(serde::Serialize)]
struct RunWithTotals<'a> {
    #[serde(flatten)]
    run: &'a super::RunRecord,
    trades: usize,
    net_pnl: Decimal,
}

fn runs(db: &std::path::Path, format: Format) -> CmdResult {
    let journal = open_existing(db)?;
    let runs = journal.runs().map_err(jerr)?;
    let totals =
        runs.iter().map(|r| journal.run_totals(&r.id)).collect::<Result<Vec<_>, _>>().map_err(jerr)?;
    match format {
        Format::Json => print_json(
            &runs
                .iter()
                .zip(&totals)
                .map(|(run, t)| RunWithTotals { run, trades: t.trades, net_pnl: t.net_pnl })
                .collect::<Vec<_>>(),
        )?,
        Format::Table => {
            let rows: Vec<Vec<String>> = runs
                .iter()
                .zip(&totals)
                .map(|(r, t)| {
                    vec![
                        r.id.to_string(),
                        r.begin.agent.to_string(),
                        super::store::mode_text(r.begin.mode),
                        ny_time(&r.begin.started_at),
                        r.ended_at.as_ref().map_or_else(|| "-".to_owned(), ny_time),
                        t.trades.to_string(),
                        t.net_pnl.round_dp(2).to_string(),
                        r.outcome.clone().unwrap_or_else(|| "running or crashed".to_owned()),
                        r.begin.recipe.clone(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "RUN",
                    "AGENT",
                    "MODE",
                    "STARTED (NY)",
                    "ENDED (NY)",
                    "TRADES",
                    "NET P&L",
                    "OUTCOME",
                    "RECIPE",
                ],
                &[false, false, false, false, false, true, true, false, false],
                &rows,
            );
            say!("{} run(s); trades and net P&L are the closed deals of each run's fills", runs.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Each step commits, one transaction each: an order, its fill, a position snapshot
/// (quantity = step number) and, every third step, a day trade; then prints `ack N`.
fn stress_write(
    db: &std::path::Path,
    count: u64,
    agent: &str,
    account: &str,
    durability: Durability,
) -> CmdResult {
    let mut journal = Journal::open_with(db, durability).map_err(jerr)?;
    let agent = AgentId(agent.to_owned());
    let account = AccountId(account.to_owned());
    let instrument = InstrumentId::from("SPY");
    // A fixed trading day keeps day-trade dates deterministic: 2013-10-07 10:00 New York.
    let base = Utc.with_ymd_and_hms(2013, 10, 7, 14, 0, 0).single().unwrap_or_default();
    let run = journal
        .begin_run(&NewRun {
            agent: agent.clone(),
            recipe: "stress-write".to_owned(),
            mode: RunMode::Backtest,
            started_at: Utc::now(),
            metadata: [("runner_version".to_owned(), env!("CARGO_PKG_VERSION").to_owned())].into(),
        })
        .map_err(jerr)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "run {run}")?;
    out.flush()?;
    for i in 1..=count {
        let time = base + Duration::milliseconds(i64::try_from(i).unwrap_or(i64::MAX));
        let id = ClientOrderId(format!("{run}-{i}"));
        let qty = Decimal::from(i);
        let price = Decimal::new(16_800 + i64::try_from(i % 100).unwrap_or(0), 2);
        journal
            .record_order(&OrderRecord {
                client_order_id: id.clone(),
                run: Some(run.clone()),
                agent: agent.clone(),
                account: account.clone(),
                instrument: instrument.clone(),
                side: Side::Buy,
                order_type: OrderType::Limit,
                qty: Decimal::ONE,
                limit_price: Some(price),
                stop_price: None,
                status: OrderStatus::Filled,
                time,
            })
            .map_err(jerr)?;
        journal
            .record_fill(&FillRecord {
                fill_id: format!("{run}-f{i}"),
                client_order_id: id,
                run: Some(run.clone()),
                agent: agent.clone(),
                account: account.clone(),
                instrument: instrument.clone(),
                side: Side::Buy,
                qty: Decimal::ONE,
                price,
                fee: Decimal::new(5, 3),
                time,
            })
            .map_err(jerr)?;
        journal
            .record_position(&PositionRecord {
                run: Some(run.clone()),
                agent: agent.clone(),
                account: account.clone(),
                instrument: instrument.clone(),
                qty,
                avg_price: price,
                time,
            })
            .map_err(jerr)?;
        if i % 3 == 0 {
            journal
                .record_day_trade(&DayTradeRecord {
                    run: Some(run.clone()),
                    account: account.clone(),
                    agent: agent.clone(),
                    instrument: instrument.clone(),
                    trade_date: time.with_timezone(&NEW_YORK).date_naive(),
                    qty: Decimal::ONE,
                    time,
                })
                .map_err(jerr)?;
        }
        writeln!(out, "ack {i}")?;
        out.flush()?;
    }
    journal.end_run(&run, Utc::now(), "completed").map_err(jerr)?;
    Ok(ExitCode::SUCCESS)
}

fn end_run(db: &std::path::Path, run: &str) -> CmdResult {
    use crate::runtime::process::{Liveness, ProcessStamp};
    let mut journal = open_existing(db)?;
    let runs = journal.runs().map_err(jerr)?;
    let Some(found) = runs.iter().find(|r| r.id.as_str() == run) else {
        return Err(ExitError::failed(format!("no run {run} in {}", db.display())).into());
    };
    if found.ended_at.is_some() {
        return Err(ExitError::failed(format!("run {run} has already ended")).into());
    }
    if let Some(stamp) = ProcessStamp::read_from(&found.begin.metadata)
        && stamp.liveness() == Liveness::Alive
    {
        return Err(
            ExitError::failed(format!("run {run} is still running ({stamp}); stop it instead")).into()
        );
    }
    journal.end_run(&found.id.clone(), Utc::now(), "crashed (ended by hand)").map_err(jerr)?;
    say!("run {run} ended: crashed (ended by hand)");
    Ok(ExitCode::SUCCESS)
}

fn hold_lock(dir: &std::path::Path, account: &str, agent: &str) -> CmdResult {
    let key = AccountKey { broker: "paper".to_owned(), account: AccountId(account.to_owned()) };
    let lock = match AccountLock::acquire_in(dir, &key, &AgentId(agent.to_owned())) {
        Ok(lock) => lock,
        Err(e @ LockError::HeldBy { .. }) => return Err(ExitError::failed(e.to_string()).into()),
        Err(e) => return Err(ExitError::usage(e.to_string()).into()),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "locked {account} by {agent} pid {}", std::process::id())?;
    out.flush()?;
    drop(out);
    // Hold until standard input closes (the test's way of saying "release").
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink)? > 0 {
        sink.clear();
    }
    drop(lock);
    Ok(ExitCode::SUCCESS)
}
