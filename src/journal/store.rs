//! The SQLite store: schema, durable appends (record + audit entry in one transaction),
//! rebuild queries and chain verification.
//!
//! Durability: WAL mode with `synchronous=FULL` by default, so a record whose `record_*`
//! call has returned is in the fsync'ed WAL and survives `kill -9` and power loss (see
//! [`Durability`] for the cheaper mode meant for backtests). Writers take the
//! write lock up front (`BEGIN IMMEDIATE`), so several processes may share one journal and
//! the audit chain stays linear.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::{Type, Value as SqlValue};
use rusqlite::{Connection, OpenFlags, Row, TransactionBehavior, params};
use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::audit::{GENESIS, canonical_json, entry_hash, from_hex, to_hex};
use super::record::{
    ControlRecord, DayTradeRecord, DenialRecord, FillRecord, HaltRecord, NewRun, OrderRecord, PositionRecord,
    RunBegin, RunEnd, RunId, RunRecord, SignalRecord, ts,
};
use crate::model::{AccountId, AgentId, ClientOrderId, InstrumentId};

/// Schema version stored in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 4;

/// Version 4: operators' actions on running agents (halt, resume, parameter edits, …).
const CONTROLS_TABLE: &str = "
CREATE TABLE IF NOT EXISTS controls (
    audit_seq   INTEGER PRIMARY KEY,
    run_id      TEXT,
    agent       TEXT,
    action      TEXT NOT NULL,
    by_whom     TEXT NOT NULL,
    key         TEXT,
    old         TEXT,
    new         TEXT,
    result      TEXT NOT NULL,
    time        TEXT NOT NULL
);
";

/// Version 3: external signals and what became of them, one per (agent, source, id).
const SIGNALS_TABLE: &str = "
CREATE TABLE IF NOT EXISTS signals (
    audit_seq   INTEGER PRIMARY KEY,
    run_id      TEXT,
    agent       TEXT NOT NULL,
    source      TEXT NOT NULL,
    signal_id   TEXT,
    ticker      TEXT NOT NULL,
    direction   TEXT NOT NULL,
    strength    INTEGER NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT,
    orders      TEXT NOT NULL,
    published   TEXT NOT NULL,
    time        TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS signals_once ON signals (agent, source, signal_id) WHERE signal_id IS NOT NULL;
";

/// Version 2: a client order id is submitted once, ever. The index covers the orders recorded
/// after the migration (`audit_seq > {first}`): a version-1 journal may hold ids an older runner
/// repeated across restarts, and those stay as they are.
fn unique_submissions(first: i64) -> String {
    format!(
        "CREATE UNIQUE INDEX orders_submitted_once ON orders (client_order_id) \
         WHERE status = 'submitted' AND audit_seq > {first};"
    )
}

const SCHEMA: &str = "
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    data       TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE TABLE chain_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
CREATE TABLE runs (
    id            TEXT PRIMARY KEY,
    agent         TEXT NOT NULL,
    recipe        TEXT NOT NULL,
    mode          TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    audit_seq     INTEGER NOT NULL UNIQUE,
    ended_at      TEXT,
    outcome       TEXT,
    end_audit_seq INTEGER UNIQUE
);
CREATE TABLE orders (
    audit_seq       INTEGER PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    run_id          TEXT,
    agent           TEXT NOT NULL,
    account         TEXT NOT NULL,
    instrument      TEXT NOT NULL,
    side            TEXT NOT NULL,
    order_type      TEXT NOT NULL,
    qty             TEXT NOT NULL,
    limit_price     TEXT,
    stop_price      TEXT,
    status          TEXT NOT NULL,
    time            TEXT NOT NULL
);
CREATE INDEX orders_by_id ON orders (client_order_id);
CREATE TABLE fills (
    audit_seq       INTEGER PRIMARY KEY,
    fill_id         TEXT NOT NULL UNIQUE,
    client_order_id TEXT NOT NULL,
    run_id          TEXT,
    agent           TEXT NOT NULL,
    account         TEXT NOT NULL,
    instrument      TEXT NOT NULL,
    side            TEXT NOT NULL,
    qty             TEXT NOT NULL,
    price           TEXT NOT NULL,
    fee             TEXT NOT NULL,
    time            TEXT NOT NULL
);
CREATE INDEX fills_by_run ON fills (run_id);
CREATE INDEX fills_by_time ON fills (time);
CREATE TABLE positions (
    audit_seq   INTEGER PRIMARY KEY,
    run_id      TEXT,
    agent       TEXT NOT NULL,
    account     TEXT NOT NULL,
    instrument  TEXT NOT NULL,
    qty         TEXT NOT NULL,
    avg_price   TEXT NOT NULL,
    time        TEXT NOT NULL
);
CREATE INDEX positions_by_agent ON positions (agent, account, instrument);
CREATE TABLE day_trades (
    audit_seq   INTEGER PRIMARY KEY,
    run_id      TEXT,
    account     TEXT NOT NULL,
    agent       TEXT NOT NULL,
    instrument  TEXT NOT NULL,
    trade_date  TEXT NOT NULL,
    qty         TEXT NOT NULL,
    time        TEXT NOT NULL
);
CREATE INDEX day_trades_by_account ON day_trades (account, trade_date);
CREATE TABLE denials (
    audit_seq       INTEGER PRIMARY KEY,
    run_id          TEXT,
    agent           TEXT NOT NULL,
    account         TEXT NOT NULL,
    instrument      TEXT NOT NULL,
    side            TEXT NOT NULL,
    qty             TEXT NOT NULL,
    client_order_id TEXT,
    reason_code     TEXT NOT NULL,
    message         TEXT NOT NULL,
    time            TEXT NOT NULL
);
CREATE INDEX denials_by_time ON denials (time);
CREATE TABLE halts (
    audit_seq   INTEGER PRIMARY KEY,
    run_id      TEXT,
    scope       TEXT NOT NULL,
    agent       TEXT,
    reason      TEXT NOT NULL,
    time        TEXT NOT NULL
);
";

/// What can go wrong with the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// `open_existing` on a path with no journal.
    #[error("no journal at {}", path.display())]
    NotFound {
        /// The path looked at.
        path: PathBuf,
    },
    /// `open_existing` on a file that is not a runner journal.
    #[error("{} is not a runner journal", path.display())]
    NotAJournal {
        /// The file.
        path: PathBuf,
    },
    /// The journal's directory could not be created.
    #[error("cannot create journal directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The journal file could not be created.
    #[error("cannot create journal {}: {source}", path.display())]
    CreateFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SQLite refused an operation (also: "file is not a database").
    #[error("journal {}: {source}", path.display())]
    Sqlite {
        /// The journal file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The file was written by a newer runner.
    #[error("journal {} has schema version {found}; this runner understands up to {SCHEMA_VERSION}", path.display())]
    NewerSchema {
        /// The journal file.
        path: PathBuf,
        /// Version found.
        found: i64,
    },
    /// The chain head is unreadable, so nothing can be appended safely.
    #[error("journal {}: the audit chain head is damaged; run `runner journal verify`", path.display())]
    BrokenHead {
        /// The journal file.
        path: PathBuf,
    },
    /// A run that never ended still holds the account (see [`Journal::begin_run_exclusive`]).
    #[error("{0}")]
    AccountInUse(String),
    /// An order was submitted under a client order id the journal already has: it was never
    /// recorded (nor, by the runtime, sent).
    #[error("client order id {0} was already submitted; an order is never sent twice")]
    DuplicateOrderId(ClientOrderId),
    /// The write-ahead log could not be pushed to disk ([`WalSync::sync`]).
    #[error("cannot sync journal {}: {source}", path.display())]
    Sync {
        /// The journal's write-ahead log.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `end_run` for a run that was never begun or has already ended.
    #[error("run {run} is unknown or already ended")]
    UnknownRun {
        /// The run id.
        run: RunId,
    },
}

/// How hard each commit is pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Durability {
    /// `synchronous=FULL`: the WAL is fsync'ed at every commit. A returned record survives
    /// `kill -9`, an OS crash and power loss. About one fsync (milliseconds) per commit.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the WAL is written (to the OS) at every commit and fsync'ed
    /// only at checkpoints. A returned record survives `kill -9` of the process (the OS
    /// still has it); an OS crash or power loss may lose the newest commits but never
    /// corrupts the file or the chain. For backtests.
    ProcessCrash,
}

/// Result of [`Journal::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Audit entries checked.
    pub entries: i64,
    /// Hash of the last entry (hex), to be recorded elsewhere as an anchor.
    pub head_hash: String,
    /// Every problem found (empty = the chain and the tables agree).
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Pushes a journal's write-ahead log to disk ([`Journal::wal_sync`]). SQLite appends every
/// commit to the `-wal` file and, under `synchronous=FULL`, fsyncs it before the commit
/// returns; this is the same fsync of the same file, taken later and elsewhere: once it
/// returns, every commit written before it survives power loss (a checkpoint that already
/// moved them into the database file synced that file first).
#[derive(Debug, Clone)]
pub struct WalSync {
    wal: PathBuf,
}

impl WalSync {
    /// fsync the write-ahead log (its data, and its length). No log means nothing unsynced.
    pub fn sync(&self) -> Result<(), JournalError> {
        let err = |source| JournalError::Sync { path: self.wal.clone(), source };
        match std::fs::OpenOptions::new().read(true).write(true).open(&self.wal) {
            Ok(f) => f.sync_data().map_err(err),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(err(e)),
        }
    }
}

/// An open journal. Not `Sync`: one per thread (SQLite connections are cheap).
pub struct Journal {
    conn: Connection,
    path: PathBuf,
    /// As opened.
    durability: Durability,
    /// Whether the next commits are pushed to disk (`synchronous=FULL`) under
    /// [`Durability::Full`]: see [`Journal::set_synced`].
    synced: bool,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish_non_exhaustive()
    }
}

/// A record type with its own table (everything except runs, which are begun and ended).
trait Stored: Serialize + DeserializeOwned + Sized {
    /// Audit kind.
    const KIND: &'static str;
    /// Table name.
    const TABLE: &'static str;
    /// Columns after `audit_seq`, in `to_sql`/`from_row` order.
    const COLUMNS: &'static [&'static str];
    fn to_sql(&self) -> Vec<SqlValue>;
    /// Read from a row whose column 0 is `audit_seq` and columns 1.. are `COLUMNS`.
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self>;
    /// The client order id this record repeats, when `error` is its insert breaking the
    /// one-submission-per-id rule (orders only).
    fn duplicate_of(&self, _error: &rusqlite::Error) -> Option<ClientOrderId> {
        None
    }
}

fn text(s: impl ToString) -> SqlValue {
    SqlValue::Text(s.to_string())
}

fn opt_text<T: ToString>(s: Option<&T>) -> SqlValue {
    s.map_or(SqlValue::Null, |s| SqlValue::Text(s.to_string()))
}

fn enum_text<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => e.to_string(),
    }
}

fn bad(idx: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e))
}

fn get_dec(row: &Row<'_>, idx: usize) -> rusqlite::Result<Decimal> {
    let s: String = row.get(idx)?;
    Decimal::from_str(&s).map_err(|e| bad(idx, e))
}

fn get_opt_dec(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Decimal>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| Decimal::from_str(&s).map_err(|e| bad(idx, e))).transpose()
}

fn get_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let s: String = row.get(idx)?;
    ts::parse(&s).map_err(|e| bad(idx, e))
}

fn get_enum<T: DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    serde_json::from_value(serde_json::Value::String(s)).map_err(|e| bad(idx, e))
}

fn get_run(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<RunId>> {
    Ok(row.get::<_, Option<String>>(idx)?.map(RunId))
}

impl Stored for OrderRecord {
    fn duplicate_of(&self, error: &rusqlite::Error) -> Option<ClientOrderId> {
        let rusqlite::Error::SqliteFailure(e, _) = error else { return None };
        (e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE).then(|| self.client_order_id.clone())
    }

    const KIND: &'static str = "order";
    const TABLE: &'static str = "orders";
    const COLUMNS: &'static [&'static str] = &[
        "client_order_id",
        "run_id",
        "agent",
        "account",
        "instrument",
        "side",
        "order_type",
        "qty",
        "limit_price",
        "stop_price",
        "status",
        "time",
    ];
    fn to_sql(&self) -> Vec<SqlValue> {
        vec![
            text(&self.client_order_id),
            opt_text(self.run.as_ref()),
            text(&self.agent),
            text(&self.account),
            text(&self.instrument),
            text(self.side),
            text(enum_text(&self.order_type)),
            text(self.qty),
            opt_text(self.limit_price.as_ref()),
            opt_text(self.stop_price.as_ref()),
            text(enum_text(&self.status)),
            text(ts::format(&self.time)),
        ]
    }
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            client_order_id: ClientOrderId(row.get(1)?),
            run: get_run(row, 2)?,
            agent: AgentId(row.get(3)?),
            account: AccountId(row.get(4)?),
            instrument: InstrumentId(row.get(5)?),
            side: get_enum(row, 6)?,
            order_type: get_enum(row, 7)?,
            qty: get_dec(row, 8)?,
            limit_price: get_opt_dec(row, 9)?,
            stop_price: get_opt_dec(row, 10)?,
            status: get_enum(row, 11)?,
            time: get_ts(row, 12)?,
        })
    }
}

impl Stored for FillRecord {
    const KIND: &'static str = "fill";
    const TABLE: &'static str = "fills";
    const COLUMNS: &'static [&'static str] = &[
        "fill_id",
        "client_order_id",
        "run_id",
        "agent",
        "account",
        "instrument",
        "side",
        "qty",
        "price",
        "fee",
        "time",
    ];
    fn to_sql(&self) -> Vec<SqlValue> {
        vec![
            text(&self.fill_id),
            text(&self.client_order_id),
            opt_text(self.run.as_ref()),
            text(&self.agent),
            text(&self.account),
            text(&self.instrument),
            text(self.side),
            text(self.qty),
            text(self.price),
            text(self.fee),
            text(ts::format(&self.time)),
        ]
    }
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            fill_id: row.get(1)?,
            client_order_id: ClientOrderId(row.get(2)?),
            run: get_run(row, 3)?,
            agent: AgentId(row.get(4)?),
            account: AccountId(row.get(5)?),
            instrument: InstrumentId(row.get(6)?),
            side: get_enum(row, 7)?,
            qty: get_dec(row, 8)?,
            price: get_dec(row, 9)?,
            fee: get_dec(row, 10)?,
            time: get_ts(row, 11)?,
        })
    }
}

impl Stored for PositionRecord {
    const KIND: &'static str = "position";
    const TABLE: &'static str = "positions";
    const COLUMNS: &'static [&'static str] =
        &["run_id", "agent", "account", "instrument", "qty", "avg_price", "time"];
    fn to_sql(&self) -> Vec<SqlValue> {
        vec![
            opt_text(self.run.as_ref()),
            text(&self.agent),
            text(&self.account),
            text(&self.instrument),
            text(self.qty),
            text(self.avg_price),
            text(ts::format(&self.time)),
        ]
    }
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            run: get_run(row, 1)?,
            agent: AgentId(row.get(2)?),
            account: AccountId(row.get(3)?),
            instrument: InstrumentId(row.get(4)?),
            qty: get_dec(row, 5)?,
            avg_price: get_dec(row, 6)?,
            time: get_ts(row, 7)?,
        })
    }
}

impl Stored for DayTradeRecord {
    const KIND: &'static str = "day_trade";
    const TABLE: &'static str = "day_trades";
    const COLUMNS: &'static [&'static str] =
        &["run_id", "account", "agent", "instrument", "trade_date", "qty", "time"];
    fn to_sql(&self) -> Vec<SqlValue> {
        vec![
            opt_text(self.run.as_ref()),
            text(&self.account),
            text(&self.agent),
            text(&self.instrument),
            text(self.trade_date),
            text(self.qty),
            text(ts::format(&self.time)),
        ]
    }
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let date: String = row.get(5)?;
        Ok(Self {
            run: get_run(row, 1)?,
            account: AccountId(row.get(2)?),
            agent: AgentId(row.get(3)?),
            instrument: InstrumentId(row.get(4)?),
            trade_date: NaiveDate::from_str(&date).map_err(|e| bad(5, e))?,
            qty: get_dec(row, 6)?,
            time: get_ts(row, 7)?,
        })
    }
}

impl Stored for DenialRecord {
    const KIND: &'static str = "denial";
    const TABLE: &'static str = "denials";
    const COLUMNS: &'static [&'static str] = &[
        "run_id",
        "agent",
        "account",
        "instrument",
        "side",
        "qty",
        "client_order_id",
        "reason_code",
        "message",
        "time",
    ];
    fn to_sql(&self) -> Vec<SqlValue> {
        vec![
            opt_text(self.run.as_ref()),
            text(&self.agent),
            text(&self.account),
            text(&self.instrument),
            text(self.side),
            text(self.qty),
            opt_text(self.client_order_id.as_ref()),
            text(&self.reason_code),
            text(&self.message),
            text(ts::format(&self.time)),
        ]
    }
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            run: get_run(row, 1)?,
            agent: AgentId(row.get(2)?),
            account: AccountId(row.get(3)?),
            instrument: InstrumentId(row.get(4)?),
            side: get_enum(row, 5)?,
            qty: get_dec(row, 6)?,
            client_order_id: row.get::<_, Option<String>>(7)?.map(ClientOrderId),
            reason_code: row.get(8)?,
            message: row.get(9)?,
            time: get_ts(row, 10)?,
        })
    }
}

impl Stored for HaltRecord {
    const KIND: &'static str = "halt";
    const TABLE: &'static str = "halts";
    const COLUMNS: &'static [&'static str] = &["run_id", "scope", "agent", "reason", "time"];
    fn to_sql(&self) -> Vec<SqlValue> {
        vec![
            opt_text(self.run.as_ref()),
            text(enum_text(&self.scope)),
            opt_text(self.agent.as_ref()),
            text(&self.reason),
            text(ts::format(&self.time)),
        ]
    }
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            run: get_run(row, 1)?,
            scope: get_enum(row, 2)?,
            agent: row.get::<_, Option<String>>(3)?.map(AgentId),
            reason: row.get(4)?,
            time: get_ts(row, 5)?,
        })
    }
}

impl Stored for SignalRecord {
    const KIND: &'static str = "signal";
    const TABLE: &'static str = "signals";
    const COLUMNS: &'static [&'static str] = &[
        "run_id",
        "agent",
        "source",
        "signal_id",
        "ticker",
        "direction",
        "strength",
        "status",
        "reason",
        "orders",
        "published",
        "time",
    ];
    fn to_sql(&self) -> Vec<SqlValue> {
        let orders: Vec<&str> = self.orders.iter().map(|o| o.0.as_str()).collect();
        vec![
            opt_text(self.run.as_ref()),
            text(&self.agent),
            text(&self.source),
            self.signal_id.as_ref().map_or(SqlValue::Null, text),
            text(&self.ticker),
            text(&self.direction),
            SqlValue::Integer(i64::from(self.strength)),
            text(&self.status),
            self.reason.as_ref().map_or(SqlValue::Null, text),
            text(orders.join(" ")),
            text(ts::format(&self.published)),
            text(ts::format(&self.time)),
        ]
    }
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let orders: String = row.get(10)?;
        Ok(Self {
            run: get_run(row, 1)?,
            agent: AgentId(row.get(2)?),
            source: row.get(3)?,
            signal_id: row.get(4)?,
            ticker: row.get(5)?,
            direction: row.get(6)?,
            strength: row.get(7)?,
            status: row.get(8)?,
            reason: row.get(9)?,
            orders: orders.split_whitespace().map(|o| ClientOrderId(o.to_owned())).collect(),
            published: get_ts(row, 11)?,
            time: get_ts(row, 12)?,
        })
    }
}

impl Stored for ControlRecord {
    const KIND: &'static str = "control";
    const TABLE: &'static str = "controls";
    const COLUMNS: &'static [&'static str] =
        &["run_id", "agent", "action", "by_whom", "key", "old", "new", "result", "time"];
    fn to_sql(&self) -> Vec<SqlValue> {
        let opt = |v: &Option<String>| v.as_ref().map_or(SqlValue::Null, text);
        vec![
            opt_text(self.run.as_ref()),
            opt_text(self.agent.as_ref()),
            text(&self.action),
            text(&self.by),
            opt(&self.key),
            opt(&self.old),
            opt(&self.new),
            text(&self.result),
            text(ts::format(&self.time)),
        ]
    }
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            run: get_run(row, 1)?,
            agent: row.get::<_, Option<String>>(2)?.map(AgentId),
            action: row.get(3)?,
            by: row.get(4)?,
            key: row.get(5)?,
            old: row.get(6)?,
            new: row.get(7)?,
            result: row.get(8)?,
            time: get_ts(row, 9)?,
        })
    }
}

const RUN_COLUMNS: &str =
    "audit_seq, id, agent, recipe, mode, started_at, metadata, ended_at, outcome, end_audit_seq";

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let metadata: String = row.get(6)?;
    let outcome: Option<String> = row.get(8)?;
    let ended: Option<String> = row.get(7)?;
    Ok(RunRecord {
        id: RunId(row.get(1)?),
        begin: NewRun {
            agent: AgentId(row.get(2)?),
            recipe: row.get(3)?,
            mode: get_enum(row, 4)?,
            started_at: get_ts(row, 5)?,
            metadata: serde_json::from_str(&metadata).map_err(|e| bad(6, e))?,
        },
        ended_at: ended.map(|s| ts::parse(&s).map_err(|e| bad(7, e))).transpose()?,
        outcome,
    })
}

/// Filter for [`Journal::fills`] and [`Journal::denials`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this run.
    pub run: Option<RunId>,
    /// Only records of runs in this mode.
    pub mode: Option<super::RunMode>,
    /// Only this agent.
    pub agent: Option<AgentId>,
    /// Only records with `since <= time < until`.
    pub since: Option<DateTime<Utc>>,
    /// Upper bound (exclusive).
    pub until: Option<DateTime<Utc>>,
}

impl Filter {
    fn sql(&self) -> (String, Vec<SqlValue>) {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        if let Some(r) = &self.run {
            clauses.push("run_id = ?");
            values.push(text(r));
        }
        if let Some(m) = &self.mode {
            clauses.push("run_id IN (SELECT id FROM runs WHERE mode = ?)");
            values.push(text(enum_text(m)));
        }
        if let Some(a) = &self.agent {
            clauses.push("agent = ?");
            values.push(text(a));
        }
        if let Some(t) = &self.since {
            clauses.push("time >= ?");
            values.push(text(ts::format(t)));
        }
        if let Some(t) = &self.until {
            clauses.push("time < ?");
            values.push(text(ts::format(t)));
        }
        let sql = if clauses.is_empty() { "1".to_owned() } else { clauses.join(" AND ") };
        (sql, values)
    }
}

/// Insert `record` and its audit entry inside `tx`; returns the audit seq.
fn insert_record<R: Stored>(tx: &Connection, path: &Path, record: &R) -> Result<i64, JournalError> {
    let seq = Journal::append_audit(tx, path, R::KIND, record)?;
    let placeholders = vec!["?"; R::COLUMNS.len() + 1].join(", ");
    let stmt =
        format!("INSERT INTO {} (audit_seq, {}) VALUES ({placeholders})", R::TABLE, R::COLUMNS.join(", "));
    let mut values = vec![SqlValue::Integer(seq)];
    values.extend(record.to_sql());
    tx.execute(&stmt, rusqlite::params_from_iter(values)).map_err(|source| {
        match record.duplicate_of(&source) {
            Some(id) => JournalError::DuplicateOrderId(id),
            None => JournalError::Sqlite { path: path.to_path_buf(), source },
        }
    })?;
    Ok(seq)
}

/// Records written atomically; see [`Journal::batch`]. Holds the journal's write lock
/// until committed or dropped, so keep it short.
pub struct Batch<'a> {
    tx: rusqlite::Transaction<'a>,
    path: &'a Path,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Batch<'_> {
    /// Run one insert inside a savepoint, so a failed record leaves nothing behind
    /// (no audit entry without its row) and the batch stays usable.
    fn one(
        &mut self,
        f: impl FnOnce(&Connection, &Path) -> Result<i64, JournalError>,
    ) -> Result<i64, JournalError> {
        let sql = |source| JournalError::Sqlite { path: self.path.to_path_buf(), source };
        let sp = self.tx.savepoint().map_err(sql)?;
        let seq = f(&sp, self.path)?;
        sp.commit().map_err(sql)?;
        Ok(seq)
    }

    /// Add an order state.
    pub fn record_order(&mut self, order: &OrderRecord) -> Result<i64, JournalError> {
        self.one(|c, p| insert_record(c, p, order))
    }

    /// Add a fill.
    pub fn record_fill(&mut self, fill: &FillRecord) -> Result<i64, JournalError> {
        self.one(|c, p| insert_record(c, p, fill))
    }

    /// Add a position snapshot.
    pub fn record_position(&mut self, position: &PositionRecord) -> Result<i64, JournalError> {
        self.one(|c, p| insert_record(c, p, position))
    }

    /// Add a day trade.
    pub fn record_day_trade(&mut self, day_trade: &DayTradeRecord) -> Result<i64, JournalError> {
        self.one(|c, p| insert_record(c, p, day_trade))
    }

    /// Add a denial.
    pub fn record_denial(&mut self, denial: &DenialRecord) -> Result<i64, JournalError> {
        self.one(|c, p| insert_record(c, p, denial))
    }

    /// Add a halt.
    pub fn record_halt(&mut self, halt: &HaltRecord) -> Result<i64, JournalError> {
        self.one(|c, p| insert_record(c, p, halt))
    }

    /// Add an external signal's record.
    pub fn record_signal(&mut self, signal: &SignalRecord) -> Result<i64, JournalError> {
        self.one(|c, p| insert_record(c, p, signal))
    }

    /// Add an operator's action.
    pub fn record_control(&mut self, control: &ControlRecord) -> Result<i64, JournalError> {
        self.one(|c, p| insert_record(c, p, control))
    }

    /// Commit every record of the batch; durable when this returns.
    pub fn commit(self) -> Result<(), JournalError> {
        let path = self.path.to_path_buf();
        self.tx.commit().map_err(|source| JournalError::Sqlite { path, source })
    }
}

impl Journal {
    /// Open (creating it and its directory if needed) the journal at `path`, with
    /// [`Durability::Full`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        Self::open_with(path, Durability::Full)
    }

    /// Like [`Journal::open`], choosing how hard each commit is pushed to disk.
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::files::create_private_dir_all(dir)
                .map_err(|source| JournalError::CreateDir { path: dir.to_path_buf(), source })?;
        }
        // A new journal is private (0600); SQLite gives its -wal and -shm files the same mode.
        crate::files::create_private_file(&path)
            .map_err(|source| JournalError::CreateFile { path: path.clone(), source })?;
        let conn =
            Connection::open(&path).map_err(|source| JournalError::Sqlite { path: path.clone(), source })?;
        Self::init(conn, path, true, durability)
    }

    /// Open an existing journal (for queries); a missing file is an error, not a new journal.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(JournalError::NotFound { path });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)
            .map_err(|source| JournalError::Sqlite { path: path.clone(), source })?;
        Self::init(conn, path, false, Durability::Full)
    }

    /// The file this journal lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Under [`Durability::Full`]: whether the next commits are fsync'ed (`true`, the default)
    /// or only handed to the OS (`false`: they survive `kill -9` of the process, not power
    /// loss, until the next synced commit, whose fsync of the WAL covers every frame before
    /// it). A group commit: `runner up` syncs the commits that carry an order before it
    /// leaves, a signal, a halt, a day trade or an operator's action, and lets an order's
    /// status changes, fills and positions ride on the next one (after power loss a restart
    /// reconciles them from the venue). No effect under [`Durability::ProcessCrash`].
    pub fn set_synced(&mut self, synced: bool) -> Result<(), JournalError> {
        if self.durability != Durability::Full || self.synced == synced {
            return Ok(());
        }
        let mode = if synced { "FULL" } else { "NORMAL" };
        self.conn.pragma_update(None, "synchronous", mode).map_err(|e| self.sql_err(e))?;
        self.synced = synced;
        Ok(())
    }

    /// A handle that pushes this journal's write-ahead log to disk from any thread
    /// ([`WalSync::sync`]), so commits written with [`Journal::set_synced`]`(false)` are made
    /// as durable as synced ones without holding the connection. `None` under
    /// [`Durability::ProcessCrash`], which never syncs.
    pub fn wal_sync(&self) -> Option<WalSync> {
        (self.durability == Durability::Full).then(|| {
            let mut wal = self.path.clone().into_os_string();
            wal.push("-wal");
            WalSync { wal: PathBuf::from(wal) }
        })
    }

    /// Leave checkpoints (copying the WAL back into the database file, with its own fsyncs) to
    /// [`checkpoint`] called from elsewhere, so no commit of this connection ever runs one: a
    /// live agent's commits stand between a decision and its order leaving, and SQLite's
    /// automatic checkpoint every 1,000 pages would put a whole checkpoint in one of them.
    pub fn defer_checkpoints(&self) -> Result<(), JournalError> {
        self.conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(|e| self.sql_err(e))
    }

    fn init(
        mut conn: Connection,
        path: PathBuf,
        create: bool,
        durability: Durability,
    ) -> Result<Self, JournalError> {
        let sql = |source| JournalError::Sqlite { path: path.clone(), source };
        conn.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
        // WAL: readers never block the writer. FULL fsyncs the WAL at every commit, NORMAL
        // only hands it to the OS (see `Durability`); both keep the file consistent.
        // Turning a new file to WAL takes its exclusive lock without waiting on the busy handler:
        // processes opening one new journal at once wait their turn here instead.
        let mode: String =
            retry_busy(|| conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))).map_err(sql)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(mode, "Journal could not switch to WAL mode.");
        }
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::ProcessCrash => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync).map_err(sql)?;
        // Only a writer that may create the schema needs the write lock here.
        let behavior = if create { TransactionBehavior::Immediate } else { TransactionBehavior::Deferred };
        let tx = conn.transaction_with_behavior(behavior).map_err(sql)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql)?;
        if version > SCHEMA_VERSION {
            return Err(JournalError::NewerSchema { path, found: version });
        }
        if version == 0 && !create {
            return Err(JournalError::NotAJournal { path });
        }
        if version == 0 {
            tx.execute_batch(SCHEMA).map_err(sql)?;
            tx.execute_batch(SIGNALS_TABLE).map_err(sql)?;
            tx.execute_batch(CONTROLS_TABLE).map_err(sql)?;
            tx.execute_batch(&unique_submissions(0)).map_err(sql)?;
            tx.execute("INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, ?1)", [to_hex(&GENESIS)])
                .map_err(sql)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(sql)?;
        } else if version < SCHEMA_VERSION && create {
            if version == 1 {
                let last: i64 = tx
                    .query_row("SELECT coalesce(max(audit_seq), 0) FROM orders", [], |r| r.get(0))
                    .map_err(sql)?;
                tx.execute_batch(&unique_submissions(last)).map_err(sql)?;
            }
            tx.execute_batch(SIGNALS_TABLE).map_err(sql)?;
            tx.execute_batch(CONTROLS_TABLE).map_err(sql)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(Self { conn, path, durability, synced: true })
    }

    fn sql_err(&self, source: rusqlite::Error) -> JournalError {
        JournalError::Sqlite { path: self.path.clone(), source }
    }

    /// Append an audit entry inside `tx`; returns its seq.
    fn append_audit(
        tx: &Connection,
        path: &Path,
        kind: &str,
        record: &impl Serialize,
    ) -> Result<i64, JournalError> {
        let sql = |source| JournalError::Sqlite { path: path.to_path_buf(), source };
        let (head_seq, head_hash): (i64, String) = tx
            .query_row("SELECT seq, hash FROM chain_head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => JournalError::BrokenHead { path: path.to_path_buf() },
                other => sql(other),
            })?;
        let prev =
            from_hex(&head_hash).ok_or_else(|| JournalError::BrokenHead { path: path.to_path_buf() })?;
        let value = serde_json::to_value(record)
            .map_err(|e| sql(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        let data = canonical_json(&value);
        let seq = head_seq + 1;
        let hash = to_hex(&entry_hash(&prev, seq, kind, &data));
        tx.execute(
            "INSERT INTO audit (seq, kind, data, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![seq, kind, data, head_hash, hash],
        )
        .map_err(sql)?;
        tx.execute("UPDATE chain_head SET seq = ?1, hash = ?2 WHERE id = 1", params![seq, hash])
            .map_err(sql)?;
        Ok(seq)
    }

    fn append<R: Stored>(&mut self, record: &R) -> Result<i64, JournalError> {
        let path = self.path.clone();
        let sql = |source| JournalError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let seq = insert_record(&tx, &path, record)?;
        tx.commit().map_err(sql)?;
        Ok(seq)
    }

    /// Start a batch: several records committed atomically (all or none) with one fsync,
    /// e.g. a fill together with the position snapshot and day trade it causes.
    /// Dropping the batch without [`Batch::commit`] discards it.
    pub fn batch(&mut self) -> Result<Batch<'_>, JournalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| JournalError::Sqlite { path: self.path.clone(), source })?;
        Ok(Batch { tx, path: &self.path })
    }

    /// Record the start of a run; returns its new id.
    pub fn begin_run(&mut self, run: &NewRun) -> Result<RunId, JournalError> {
        self.begin_run_exclusive(run, |_| None)
    }

    /// Record the start of a run unless a run that never ended still holds its account. In
    /// the same write transaction as the insert (so two processes cannot both pass), every
    /// paper or live run without an end whose `broker` and `account` metadata match `run`'s
    /// is given to `holds`; the first `Some(why)` refuses the start with
    /// [`JournalError::AccountInUse`] and nothing is written. Backtests hold no account and
    /// are never checked. A run's missing `broker` metadata means `paper` (older journals).
    pub fn begin_run_exclusive(
        &mut self,
        run: &NewRun,
        holds: impl Fn(&RunRecord) -> Option<String>,
    ) -> Result<RunId, JournalError> {
        let id = RunId::new(&run.agent, run.started_at);
        let record = RunBegin { id: id.clone(), begin: run.clone() };
        let path = self.path.clone();
        let sql = |source| JournalError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        if run.mode != super::RunMode::Backtest {
            let key = |meta: &BTreeMap<String, String>| {
                let broker = meta.get("broker").map_or("paper", String::as_str).to_owned();
                (broker, meta.get("account").cloned())
            };
            let mine = key(&run.metadata);
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE end_audit_seq IS NULL ORDER BY audit_seq"
                ))
                .map_err(sql)?;
            let open =
                stmt.query_map([], run_from_row).map_err(sql)?.collect::<Result<Vec<_>, _>>().map_err(sql)?;
            drop(stmt);
            for other in &open {
                if other.begin.mode != super::RunMode::Backtest
                    && key(&other.begin.metadata) == mine
                    && let Some(why) = holds(other)
                {
                    return Err(JournalError::AccountInUse(why));
                }
            }
        }
        let seq = Self::append_audit(&tx, &path, "run_begin", &record)?;
        // A map of strings always serialises.
        let metadata = canonical_json(&serde_json::to_value(&run.metadata).unwrap_or_default());
        tx.execute(
            "INSERT INTO runs (id, agent, recipe, mode, started_at, metadata, audit_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id.as_str(),
                run.agent.as_str(),
                run.recipe,
                enum_text(&run.mode),
                ts::format(&run.started_at),
                metadata,
                seq
            ],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(id)
    }

    /// Record the end of a run (`outcome`: `completed`, `halted`, `error: …`).
    pub fn end_run(
        &mut self,
        run: &RunId,
        ended_at: DateTime<Utc>,
        outcome: &str,
    ) -> Result<(), JournalError> {
        let record = RunEnd { id: run.clone(), ended_at, outcome: outcome.to_owned() };
        let path = self.path.clone();
        let sql = |source| JournalError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let open: i64 = tx
            .query_row(
                "SELECT count(*) FROM runs WHERE id = ?1 AND end_audit_seq IS NULL",
                [run.as_str()],
                |r| r.get(0),
            )
            .map_err(sql)?;
        if open != 1 {
            return Err(JournalError::UnknownRun { run: run.clone() });
        }
        let seq = Self::append_audit(&tx, &path, "run_end", &record)?;
        tx.execute(
            "UPDATE runs SET ended_at = ?1, outcome = ?2, end_audit_seq = ?3 WHERE id = ?4",
            params![ts::format(&ended_at), outcome, seq, run.as_str()],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(())
    }

    /// Record an order state; returns its audit seq. Durable when this returns.
    pub fn record_order(&mut self, order: &OrderRecord) -> Result<i64, JournalError> {
        self.append(order)
    }

    /// Record a fill (fill ids are unique). Durable when this returns.
    pub fn record_fill(&mut self, fill: &FillRecord) -> Result<i64, JournalError> {
        self.append(fill)
    }

    /// Record a position snapshot. Durable when this returns.
    pub fn record_position(&mut self, position: &PositionRecord) -> Result<i64, JournalError> {
        self.append(position)
    }

    /// Record a day trade. Durable when this returns.
    pub fn record_day_trade(&mut self, day_trade: &DayTradeRecord) -> Result<i64, JournalError> {
        self.append(day_trade)
    }

    /// Record a risk-gate denial. Durable when this returns.
    pub fn record_denial(&mut self, denial: &DenialRecord) -> Result<i64, JournalError> {
        self.append(denial)
    }

    /// Record a halt. Durable when this returns.
    pub fn record_halt(&mut self, halt: &HaltRecord) -> Result<i64, JournalError> {
        self.append(halt)
    }

    /// Record an external signal and what became of it. Durable when this returns.
    pub fn record_signal(&mut self, signal: &SignalRecord) -> Result<i64, JournalError> {
        self.append(signal)
    }

    /// Record an operator's action. Durable when this returns.
    pub fn record_control(&mut self, control: &ControlRecord) -> Result<i64, JournalError> {
        self.append(control)
    }

    /// Operators' actions, in journal order.
    pub fn controls(&self, filter: &Filter) -> Result<Vec<ControlRecord>, JournalError> {
        let (w, v) = filter.sql();
        self.select(&w, v)
    }

    /// The journaled signal `id` of `agent` from `source`, if it was handled before.
    pub fn signal_seen(
        &self,
        agent: &AgentId,
        source: &str,
        id: &str,
    ) -> Result<Option<SignalRecord>, JournalError> {
        Ok(self
            .select("agent = ? AND source = ? AND signal_id = ?", vec![text(agent), text(source), text(id)])?
            .into_iter()
            .next())
    }

    /// External signals and what became of them, in journal order.
    pub fn signals(&self, filter: &Filter) -> Result<Vec<SignalRecord>, JournalError> {
        let (w, v) = filter.sql();
        self.select(&w, v)
    }

    fn select<R: Stored>(&self, where_sql: &str, values: Vec<SqlValue>) -> Result<Vec<R>, JournalError> {
        let stmt = format!(
            "SELECT audit_seq, {} FROM {} WHERE {where_sql} ORDER BY audit_seq",
            R::COLUMNS.join(", "),
            R::TABLE
        );
        let mut stmt = self.conn.prepare(&stmt).map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), R::from_row)
            .map_err(|e| self.sql_err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql_err(e))?;
        Ok(rows)
    }

    /// Rebuild: the latest non-flat position snapshot of `agent` per (account, instrument).
    pub fn open_positions(&self, agent: &AgentId) -> Result<Vec<PositionRecord>, JournalError> {
        let latest: Vec<PositionRecord> = self.select(
            "agent = ? AND audit_seq IN (SELECT max(audit_seq) FROM positions WHERE agent = ?
                                         GROUP BY account, instrument)",
            vec![text(agent), text(agent)],
        )?;
        let mut open: Vec<_> = latest.into_iter().filter(|p| !p.qty.is_zero()).collect();
        open.sort_by(|a, b| (&a.account, &a.instrument).cmp(&(&b.account, &b.instrument)));
        Ok(open)
    }

    /// Every position snapshot of `agent` on `account`, in journal order.
    pub fn positions_of(
        &self,
        agent: &AgentId,
        account: &AccountId,
    ) -> Result<Vec<PositionRecord>, JournalError> {
        self.select("agent = ? AND account = ?", vec![text(agent), text(account)])
    }

    /// Orders of `agent` on `account` still working when the journal last heard of them (their
    /// newest state is submitted, accepted or partly filled), from paper and live runs other
    /// than `except` — what a restart must find at the venue. Oldest first.
    pub fn open_orders_of(
        &self,
        agent: &AgentId,
        account: &AccountId,
        except: &RunId,
    ) -> Result<Vec<OrderRecord>, JournalError> {
        self.select(
            "audit_seq IN (SELECT max(audit_seq) FROM orders WHERE agent = ? AND account = ? \
             GROUP BY client_order_id) \
             AND status IN ('submitted', 'accepted', 'partially_filled') \
             AND run_id IN (SELECT id FROM runs WHERE mode != 'backtest' AND id != ?)",
            vec![text(agent), text(account), text(except)],
        )
    }

    /// Rebuild: day trades of `account` on or after trading date `date`, oldest first.
    pub fn day_trades_since(
        &self,
        account: &AccountId,
        date: NaiveDate,
    ) -> Result<Vec<DayTradeRecord>, JournalError> {
        let mut v: Vec<DayTradeRecord> =
            self.select("account = ? AND trade_date >= ?", vec![text(account), text(date)])?;
        v.sort_by_key(|d| d.trade_date);
        Ok(v)
    }

    /// All day trades (any account) on or after `date`, oldest first.
    pub fn all_day_trades_since(&self, date: NaiveDate) -> Result<Vec<DayTradeRecord>, JournalError> {
        let mut v: Vec<DayTradeRecord> = self.select("trade_date >= ?", vec![text(date)])?;
        v.sort_by_key(|d| d.trade_date);
        Ok(v)
    }

    /// Rebuild: every fill of a run, in journal order.
    pub fn fills_for_run(&self, run: &RunId) -> Result<Vec<FillRecord>, JournalError> {
        self.select("run_id = ?", vec![text(run)])
    }

    /// Fills matching `filter`, in journal order.
    pub fn fills(&self, filter: &Filter) -> Result<Vec<FillRecord>, JournalError> {
        let (w, v) = filter.sql();
        self.select(&w, v)
    }

    /// Denials matching `filter`, in journal order.
    pub fn denials(&self, filter: &Filter) -> Result<Vec<DenialRecord>, JournalError> {
        let (w, v) = filter.sql();
        self.select(&w, v)
    }

    /// Every state of one order, oldest first (the last one is its current state).
    pub fn order_history(&self, id: &ClientOrderId) -> Result<Vec<OrderRecord>, JournalError> {
        self.select("client_order_id = ?", vec![text(id)])
    }

    /// Halts, in journal order.
    pub fn halts(&self) -> Result<Vec<HaltRecord>, JournalError> {
        self.select("1", Vec::new())
    }

    /// Every run, oldest first.
    pub fn runs(&self) -> Result<Vec<RunRecord>, JournalError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY audit_seq"))
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map([], run_from_row)
            .map_err(|e| self.sql_err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql_err(e))?;
        Ok(rows)
    }

    /// The seq of the audit entry whose hash is `hash` (hex, any case), if the chain has one.
    ///
    /// With a passing [`Journal::verify`], finding an anchor recorded earlier proves the
    /// entries up to it are the ones that existed when it was recorded.
    pub fn find_anchor(&self, hash: &str) -> Result<Option<i64>, JournalError> {
        let mut stmt =
            self.conn.prepare("SELECT seq FROM audit WHERE hash = ?1").map_err(|e| self.sql_err(e))?;
        let mut rows = stmt.query([hash.to_ascii_lowercase()]).map_err(|e| self.sql_err(e))?;
        match rows.next().map_err(|e| self.sql_err(e))? {
            Some(r) => Ok(Some(r.get(0).map_err(|e| self.sql_err(e))?)),
            None => Ok(None),
        }
    }

    /// Recompute the audit chain and cross-check every table against it.
    ///
    /// Detects: an edited entry or record, an inserted or deleted entry (anywhere,
    /// including the newest ones, through the chain head), and a record row without
    /// its entry or an entry without its row.
    pub fn verify(&mut self) -> Result<VerifyReport, JournalError> {
        let path = self.path.clone();
        let sql = |source| JournalError::Sqlite { path: path.clone(), source };
        // One read transaction: a consistent snapshot even while an engine is writing.
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(sql)?;
        let mut problems = Vec::new();
        let mut entries: HashMap<i64, (String, String)> = HashMap::new();
        let mut prev = GENESIS;
        let mut expected = 1i64;
        let mut count = 0i64;
        {
            let mut stmt =
                tx.prepare("SELECT seq, kind, data, prev_hash, hash FROM audit ORDER BY seq").map_err(sql)?;
            let mut rows = stmt.query([]).map_err(sql)?;
            while let Some(row) = rows.next().map_err(sql)? {
                let seq: i64 = row.get(0).map_err(sql)?;
                let kind: String = row.get(1).map_err(sql)?;
                let data: String = row.get(2).map_err(sql)?;
                let prev_hash: String = row.get(3).map_err(sql)?;
                let hash: String = row.get(4).map_err(sql)?;
                count += 1;
                if seq != expected {
                    problems.push(format!(
                        "audit entry {seq} follows entry {}: entries are missing or were inserted",
                        expected - 1
                    ));
                }
                if prev_hash != to_hex(&prev) {
                    problems.push(format!("audit entry {seq}: previous-hash link is broken"));
                }
                let recomputed = entry_hash(&prev, seq, &kind, &data);
                if to_hex(&recomputed) != hash {
                    problems.push(format!(
                        "audit entry {seq} ({kind}): content does not match its hash (edited)"
                    ));
                }
                // Continue from the stored hash so one edit is reported once, not at every later entry.
                prev = from_hex(&hash).unwrap_or(recomputed);
                expected = seq + 1;
                entries.insert(seq, (kind, data));
            }
        }
        let head: Option<(i64, String)> = {
            let mut stmt = tx.prepare("SELECT seq, hash FROM chain_head WHERE id = 1").map_err(sql)?;
            let mut rows = stmt.query([]).map_err(sql)?;
            match rows.next().map_err(sql)? {
                Some(r) => Some((r.get(0).map_err(sql)?, r.get(1).map_err(sql)?)),
                None => None,
            }
        };
        let last_seq = expected - 1;
        match &head {
            None => problems.push("the chain head is missing".to_owned()),
            Some((seq, hash)) => {
                if *seq != last_seq || *hash != to_hex(&prev) {
                    problems.push(format!(
                        "chain head says the log ends at entry {seq} but it ends at entry {last_seq}: \
                         newest entries were deleted or the head was edited"
                    ));
                }
            }
        }

        let mut seen: HashSet<i64> = HashSet::new();
        let mut check =
            |seq: i64, kind: &str, value: Result<serde_json::Value, String>, problems: &mut Vec<String>| {
                seen.insert(seq);
                match entries.get(&seq) {
                    None => problems
                        .push(format!("{kind} row with audit entry {seq}: no such entry (inserted row)")),
                    Some((k, data)) => {
                        if k != kind {
                            problems.push(format!("{kind} row points at audit entry {seq}, which is a {k}"));
                        } else {
                            match value {
                                Ok(v) if canonical_json(&v) == *data => {}
                                Ok(_) => problems.push(format!("{kind} row of audit entry {seq} was edited")),
                                Err(e) => problems
                                    .push(format!("{kind} row of audit entry {seq} is unreadable: {e}")),
                            }
                        }
                    }
                }
            };
        fn rows_of<R: Stored>(
            tx: &rusqlite::Transaction<'_>,
        ) -> rusqlite::Result<Vec<(i64, Result<R, String>)>> {
            let stmt = format!("SELECT audit_seq, {} FROM {}", R::COLUMNS.join(", "), R::TABLE);
            let mut stmt = tx.prepare(&stmt)?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, R::from_row(r).map_err(|e| e.to_string()))))?;
            rows.collect()
        }
        fn check_table<R: Stored>(
            tx: &rusqlite::Transaction<'_>,
            check: &mut impl FnMut(i64, &str, Result<serde_json::Value, String>, &mut Vec<String>),
            problems: &mut Vec<String>,
        ) -> rusqlite::Result<()> {
            for (seq, rec) in rows_of::<R>(tx)? {
                let value = rec.and_then(|r| serde_json::to_value(&r).map_err(|e| e.to_string()));
                check(seq, R::KIND, value, problems);
            }
            Ok(())
        }
        check_table::<OrderRecord>(&tx, &mut check, &mut problems).map_err(sql)?;
        check_table::<FillRecord>(&tx, &mut check, &mut problems).map_err(sql)?;
        check_table::<PositionRecord>(&tx, &mut check, &mut problems).map_err(sql)?;
        check_table::<DayTradeRecord>(&tx, &mut check, &mut problems).map_err(sql)?;
        check_table::<DenialRecord>(&tx, &mut check, &mut problems).map_err(sql)?;
        check_table::<HaltRecord>(&tx, &mut check, &mut problems).map_err(sql)?;
        check_table::<SignalRecord>(&tx, &mut check, &mut problems).map_err(sql)?;
        check_table::<ControlRecord>(&tx, &mut check, &mut problems).map_err(sql)?;
        {
            let mut stmt = tx.prepare(&format!("SELECT {RUN_COLUMNS} FROM runs")).map_err(sql)?;
            let runs = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Option<i64>>(9)?,
                        run_from_row(r).map_err(|e| e.to_string()),
                    ))
                })
                .map_err(sql)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql)?;
            for (seq, end_seq, run) in runs {
                let begin = run.clone().and_then(|r| {
                    serde_json::to_value(RunBegin { id: r.id, begin: r.begin }).map_err(|e| e.to_string())
                });
                check(seq, "run_begin", begin, &mut problems);
                match (end_seq, run) {
                    (Some(end_seq), Ok(r)) => {
                        let end = match (r.ended_at, r.outcome) {
                            (Some(ended_at), Some(outcome)) => {
                                serde_json::to_value(RunEnd { id: r.id, ended_at, outcome })
                                    .map_err(|e| e.to_string())
                            }
                            _ => Err("end time or outcome missing".to_owned()),
                        };
                        check(end_seq, "run_end", end, &mut problems);
                    }
                    (Some(end_seq), Err(e)) => check(end_seq, "run_end", Err(e), &mut problems),
                    (None, Ok(r)) if r.ended_at.is_some() || r.outcome.is_some() => {
                        problems.push(format!("run {} has an end without an audit entry", r.id));
                    }
                    (None, _) => {}
                }
            }
        }
        let mut orphans: Vec<i64> = entries.keys().filter(|s| !seen.contains(s)).copied().collect();
        orphans.sort_unstable();
        for seq in orphans {
            let kind = entries.get(&seq).map_or("?", |(k, _)| k.as_str());
            problems.push(format!("audit entry {seq} ({kind}) has no record row: the record was deleted"));
        }
        tx.finish().map_err(sql)?;
        Ok(VerifyReport { entries: count, head_hash: to_hex(&prev), problems })
    }
}

/// The stored text of a run mode (`backtest`, `paper`, `live`).
pub fn mode_text(mode: super::RunMode) -> String {
    enum_text(&mode)
}

/// Run `f` again while SQLite answers "database is locked" (for up to 10 s, as the busy
/// timeout), for the few operations that do not wait on the busy handler themselves.
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < until =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            r => return r,
        }
    }
}

/// Copy what the WAL holds back into the journal at `path` without waiting on its writers
/// (SQLite's `PASSIVE` checkpoint), from a connection of its own: the companion of
/// [`Journal::defer_checkpoints`]. A journal that does not exist is left alone.
pub fn checkpoint(path: &Path) -> Result<(), JournalError> {
    if !path.is_file() {
        return Ok(());
    }
    let sql = |source| JournalError::Sqlite { path: path.to_path_buf(), source };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    conn.busy_timeout(Duration::from_secs(1)).map_err(sql)?;
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).map_err(sql)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::journal::{HaltScope, OrderStatus, OrderType, RunMode};
    use crate::model::Side;

    fn t(sec: i64) -> DateTime<Utc> {
        // 2013-10-07 13:30:00 UTC plus `sec` seconds and some nanoseconds.
        Utc.timestamp_opt(1_381_152_600 + sec, 123_456_789).single().expect("valid time")
    }

    fn fill(run: &RunId, n: u32, price: Decimal) -> FillRecord {
        FillRecord {
            fill_id: format!("f{n}"),
            client_order_id: ClientOrderId(format!("a-{n}")),
            run: Some(run.clone()),
            agent: AgentId::from("a"),
            account: AccountId::from("acct"),
            instrument: InstrumentId::from("SPY"),
            side: Side::Buy,
            qty: dec!(10),
            price,
            fee: dec!(0.0050),
            time: t(i64::from(n)),
        }
    }

    fn position(qty: Decimal, instrument: &str, sec: i64) -> PositionRecord {
        PositionRecord {
            run: None,
            agent: AgentId::from("a"),
            account: AccountId::from("acct"),
            instrument: InstrumentId::from(instrument),
            qty,
            avg_price: dec!(168.10),
            time: t(sec),
        }
    }

    fn submitted(id: &str, seq: i64) -> OrderRecord {
        OrderRecord {
            client_order_id: ClientOrderId::from(id),
            run: None,
            agent: AgentId::from("a"),
            account: AccountId::from("acct"),
            instrument: InstrumentId::from("SPY"),
            side: Side::Buy,
            order_type: OrderType::Market,
            qty: dec!(1),
            limit_price: None,
            stop_price: None,
            status: OrderStatus::Submitted,
            time: t(seq),
        }
    }

    #[test]
    fn group_commit_syncs_only_when_asked_and_a_backtest_journal_never() {
        let dir = tempfile::tempdir().expect("tmp");
        let sync = |j: &Journal| -> i64 {
            j.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).expect("pragma")
        };
        let mut j = Journal::open_with(dir.path().join("full.db"), Durability::Full).expect("open");
        assert_eq!(sync(&j), 2, "FULL by default");
        j.set_synced(false).expect("relax");
        assert_eq!(sync(&j), 1, "NORMAL: handed to the OS");
        j.set_synced(true).expect("sync");
        assert_eq!(sync(&j), 2);
        let mut b = Journal::open_with(dir.path().join("bt.db"), Durability::ProcessCrash).expect("open");
        b.set_synced(true).expect("no effect");
        assert_eq!(sync(&b), 1, "a backtest journal stays NORMAL");
        j.defer_checkpoints().expect("defer");
        let auto: i64 = j.conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0)).expect("pragma");
        assert_eq!(auto, 0);
        checkpoint(&dir.path().join("full.db")).expect("checkpoint");
        checkpoint(&dir.path().join("missing.db")).expect("a missing journal is left alone");
        assert!(!dir.path().join("missing.db").exists());
    }

    #[test]
    fn a_client_order_id_is_submitted_once_and_old_journals_keep_their_repeats() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("j.db");
        let mut j = Journal::open(&path).expect("open");
        j.record_order(&submitted("a-x1-1", 1)).expect("first");
        // Later states of the same order are fine; a second submission is not, in a batch too.
        j.record_order(&OrderRecord { status: OrderStatus::Filled, ..submitted("a-x1-1", 2) })
            .expect("state");
        assert!(matches!(j.record_order(&submitted("a-x1-1", 3)), Err(JournalError::DuplicateOrderId(_))));
        let mut b = j.batch().expect("batch");
        assert!(matches!(b.record_order(&submitted("a-x1-1", 4)), Err(JournalError::DuplicateOrderId(_))));
        drop(b);
        drop(j);
        // A version-1 journal (no such rule) that repeated an id opens, and is migrated: what it
        // holds stays, new repeats are refused.
        let c = Connection::open(&path).expect("sqlite");
        c.execute_batch("DROP INDEX orders_submitted_once; PRAGMA user_version = 1;").expect("downgrade");
        drop(c);
        // What an older runner did: the same id again after a restart.
        let mut j = Journal::open_existing(&path).expect("open v1 without migrating");
        j.record_order(&submitted("a-x1-1", 5)).expect("v1 allowed repeats");
        drop(j);
        let mut j = Journal::open(&path).expect("migrates");
        assert!(j.verify().expect("verify").is_ok());
        let version: i64 = j.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        j.record_order(&submitted("a-2", 6)).expect("new id");
        assert!(matches!(j.record_order(&submitted("a-2", 7)), Err(JournalError::DuplicateOrderId(_))));
        drop(j);
        // A version-2 journal (before external signals) gains the signals table.
        let c = Connection::open(&path).expect("sqlite");
        c.execute_batch("DROP TABLE signals; PRAGMA user_version = 2;").expect("downgrade to v2");
        drop(c);
        let j = Journal::open(&path).expect("migrates v2");
        assert!(j.signal_seen(&AgentId::from("a"), "socket", "x").expect("signals table").is_none());
    }

    /// A journal with one of every record kind.
    fn populated(dir: &Path) -> (Journal, RunId) {
        let mut j = Journal::open(dir.join("sub/j.db")).expect("open");
        let run = j
            .begin_run(&NewRun {
                agent: AgentId::from("a"),
                recipe: "recipes/a.yaml".into(),
                mode: RunMode::Paper,
                started_at: t(0),
                metadata: [("version".to_owned(), "0.1.0".to_owned())].into(),
            })
            .expect("begin");
        j.record_order(&OrderRecord {
            client_order_id: ClientOrderId::from("a-1"),
            run: Some(run.clone()),
            agent: AgentId::from("a"),
            account: AccountId::from("acct"),
            instrument: InstrumentId::from("SPY"),
            side: Side::Buy,
            order_type: OrderType::StopLimit,
            qty: dec!(10),
            limit_price: Some(dec!(168.50)),
            stop_price: Some(dec!(168.40)),
            status: OrderStatus::Accepted,
            time: t(1),
        })
        .expect("order");
        j.record_fill(&fill(&run, 1, dec!(168.45))).expect("fill");
        j.record_fill(&fill(&run, 2, dec!(168.47))).expect("fill");
        j.record_position(&position(dec!(10), "SPY", 2)).expect("pos");
        j.record_position(&position(dec!(5), "QQQ", 3)).expect("pos");
        j.record_position(&position(dec!(0), "QQQ", 4)).expect("pos");
        j.record_position(&position(dec!(20), "SPY", 5)).expect("pos");
        j.record_day_trade(&DayTradeRecord {
            run: Some(run.clone()),
            account: AccountId::from("acct"),
            agent: AgentId::from("a"),
            instrument: InstrumentId::from("SPY"),
            trade_date: NaiveDate::from_ymd_opt(2013, 10, 7).expect("date"),
            qty: dec!(10),
            time: t(6),
        })
        .expect("day trade");
        j.record_denial(&DenialRecord {
            run: Some(run.clone()),
            agent: AgentId::from("a"),
            account: AccountId::from("acct"),
            instrument: InstrumentId::from("SPY"),
            side: Side::Sell,
            qty: dec!(3),
            client_order_id: None,
            reason_code: "pdt".into(),
            message: "4th day trade in 5 business days".into(),
            time: t(7),
        })
        .expect("denial");
        j.record_halt(&HaltRecord {
            run: None,
            scope: HaltScope::Fleet,
            agent: None,
            reason: "daily loss limit".into(),
            time: t(8),
        })
        .expect("halt");
        j.end_run(&run, t(9), "completed").expect("end");
        (j, run)
    }

    fn raw(j: &Journal) -> Connection {
        Connection::open(j.path()).expect("raw connection")
    }

    #[test]
    fn records_round_trip_exactly_and_verify() {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut j, run) = populated(dir.path());
        let fills = j.fills_for_run(&run).expect("fills");
        assert_eq!(fills, vec![fill(&run, 1, dec!(168.45)), fill(&run, 2, dec!(168.47))]);
        // Scale is kept exactly (0.0050 stays 0.0050).
        assert_eq!(fills[0].fee.to_string(), "0.0050");
        let orders = j.order_history(&ClientOrderId::from("a-1")).expect("orders");
        assert_eq!(orders[0].limit_price, Some(dec!(168.50)));
        let runs = j.runs().expect("runs");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].outcome.as_deref(), Some("completed"));
        assert_eq!(runs[0].ended_at, Some(t(9)));
        assert_eq!(j.halts().expect("halts")[0].scope, HaltScope::Fleet);
        let report = j.verify().expect("verify");
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.entries, 12);
    }

    #[test]
    fn rebuild_queries() {
        let dir = tempfile::tempdir().expect("tmp");
        let (j, _) = populated(dir.path());
        let open = j.open_positions(&AgentId::from("a")).expect("positions");
        assert_eq!(open, vec![position(dec!(20), "SPY", 5)], "QQQ went flat, SPY latest is 20");
        assert!(j.open_positions(&AgentId::from("nobody")).expect("positions").is_empty());
        let acct = AccountId::from("acct");
        assert_eq!(
            j.day_trades_since(&acct, NaiveDate::from_ymd_opt(2013, 10, 7).expect("d")).expect("dt").len(),
            1
        );
        assert!(
            j.day_trades_since(&acct, NaiveDate::from_ymd_opt(2013, 10, 8).expect("d"))
                .expect("dt")
                .is_empty()
        );
    }

    #[test]
    fn reopening_continues_the_chain() {
        let dir = tempfile::tempdir().expect("tmp");
        let (j, run) = populated(dir.path());
        let path = j.path().to_path_buf();
        drop(j);
        let mut j = Journal::open(&path).expect("reopen");
        j.record_fill(&fill(&run, 3, dec!(1))).expect("fill after reopen");
        // A duplicate fill id is refused and leaves no audit entry behind.
        let dup = j.record_fill(&fill(&run, 3, dec!(1))).expect_err("duplicate fill id");
        assert!(dup.to_string().contains("UNIQUE"), "{dup}");
        let report = j.verify().expect("verify");
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.entries, 13);
        assert!(matches!(j.end_run(&run, t(10), "again"), Err(JournalError::UnknownRun { .. })));
    }

    fn problems_after(sql: &str) -> Vec<String> {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut j, _) = populated(dir.path());
        raw(&j).execute_batch(sql).expect("tamper");
        let report = j.verify().expect("verify");
        assert!(!report.is_ok(), "tampering with `{sql}` went unnoticed");
        report.problems
    }

    #[test]
    fn verify_detects_edits_insertions_and_deletions() {
        let p = problems_after("UPDATE fills SET price = '168.46' WHERE fill_id = 'f1'");
        assert!(p.iter().any(|p| p.contains("fill row of audit entry 3 was edited")), "{p:?}");

        let p = problems_after("UPDATE audit SET data = replace(data, '168.45', '1.00') WHERE seq = 3");
        assert!(p.iter().any(|p| p.contains("audit entry 3 (fill): content does not match")), "{p:?}");

        let p = problems_after("UPDATE runs SET outcome = 'halted'");
        assert!(p.iter().any(|p| p.contains("run_end row")), "{p:?}");

        let p = problems_after("DELETE FROM fills WHERE fill_id = 'f2'");
        assert!(p.iter().any(|p| p.contains("audit entry 4 (fill) has no record row")), "{p:?}");

        let p = problems_after("DELETE FROM audit WHERE seq = 5; DELETE FROM positions WHERE audit_seq = 5");
        assert!(p.iter().any(|p| p.contains("entries are missing or were inserted")), "{p:?}");

        // Deleting the newest entries (and their rows) is caught by the chain head.
        let p = problems_after(
            "DELETE FROM audit WHERE seq >= 11; DELETE FROM halts; \
             UPDATE runs SET ended_at = NULL, outcome = NULL, end_audit_seq = NULL",
        );
        assert!(p.iter().any(|p| p.contains("chain head says the log ends at entry 12")), "{p:?}");

        let p = problems_after(
            "INSERT INTO halts (audit_seq, run_id, scope, agent, reason, time) \
             VALUES (99, NULL, 'fleet', NULL, 'forged', '2013-10-07T13:30:00.000000000Z')",
        );
        assert!(p.iter().any(|p| p.contains("no such entry")), "{p:?}");

        let p = problems_after("UPDATE fills SET qty = 'ten' WHERE fill_id = 'f1'");
        assert!(p.iter().any(|p| p.contains("unreadable")), "{p:?}");
    }

    #[test]
    fn missing_or_foreign_files_are_clear_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let missing = dir.path().join("none.db");
        assert!(matches!(Journal::open_existing(&missing), Err(JournalError::NotFound { .. })));
        assert!(!missing.exists(), "open_existing must not create a journal");
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, b"this is not a database, just some text that is long enough").expect("write");
        let err = Journal::open_existing(&junk).expect_err("junk is not a journal");
        assert!(err.to_string().contains("junk.db"), "{err}");
        let other = dir.path().join("other.db");
        Connection::open(&other).expect("sqlite").execute_batch("CREATE TABLE t (x)").expect("table");
        assert!(matches!(Journal::open_existing(&other), Err(JournalError::NotAJournal { .. })));
    }

    #[test]
    fn a_batch_commits_all_or_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut j, run) = populated(dir.path());
        {
            let mut b = j.batch().expect("batch");
            b.record_fill(&fill(&run, 10, dec!(1))).expect("fill");
            b.record_position(&position(dec!(30), "SPY", 10)).expect("pos");
            // Dropped without commit: rolled back.
        }
        assert_eq!(j.fills_for_run(&run).expect("fills").len(), 2);
        let mut b = j.batch().expect("batch");
        b.record_fill(&fill(&run, 10, dec!(1))).expect("fill");
        b.record_position(&position(dec!(30), "SPY", 10)).expect("pos");
        // A duplicate fill id fails; only that record is undone and the batch goes on.
        assert!(b.record_fill(&fill(&run, 10, dec!(1))).is_err());
        b.commit().expect("commit");
        assert_eq!(j.fills_for_run(&run).expect("fills").len(), 3);
        assert_eq!(j.open_positions(&AgentId::from("a")).expect("pos")[0].qty, dec!(30));
        let report = j.verify().expect("verify");
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.entries, 14);
    }
}
