//! What the API reads from the journal: one run's orders, fills, denials and operator controls,
//! and the list of runs — on a read-only SQLite connection opened per request (on a blocking
//! thread), so the server can never write to, or lock, the journal the agents write.
//!
//! What belongs here: those queries. A record comes back exactly as the journal's record type
//! serializes it: each row's audit entry holds the record as JSON (`docs/journal.md`, "The audit
//! chain"), read back through the record type.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::journal::{ControlRecord, DenialRecord, FillRecord, OrderRecord};

/// A journal table the API lists per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Every state of every order ([`OrderRecord`]).
    Orders,
    /// Executions ([`FillRecord`]).
    Fills,
    /// The risk gate's refusals ([`DenialRecord`]).
    Denials,
    /// Operators' actions ([`ControlRecord`]).
    Controls,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Self::Orders => "orders",
            Self::Fills => "fills",
            Self::Denials => "denials",
            Self::Controls => "controls",
        }
    }
}

/// One run as `GET /api/runs` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RunRow {
    /// The run id (also its report directory's name).
    pub id: String,
    /// The agent.
    pub agent: String,
    /// `backtest`, `paper` or `live`.
    pub mode: String,
    /// When it started (RFC 3339 UTC), if known.
    pub started: Option<String>,
    /// When it ended (absent while running or after a crash).
    pub ended: Option<String>,
    /// How it ended (`completed`, `halted: …`, `stopped: …`), if it did.
    pub outcome: Option<String>,
    /// Whether `GET /api/runs/{id}` has its run view (the report directory holds `run.json`).
    pub view: bool,
}

fn open(journal: &Path) -> Result<Connection, String> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(journal, flags)
        .map_err(|e| format!("cannot open the journal {}: {e}", journal.display()))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| format!("cannot open the journal {}: {e}", journal.display()))?;
    Ok(conn)
}

/// The newest `limit` rows of `table` for run `run`, oldest first, as their record types
/// serialize.
pub fn of_run(journal: &Path, table: Table, run: &str, limit: usize) -> Result<Vec<serde_json::Value>, String> {
    let conn = open(journal)?;
    let sql = format!(
        "SELECT a.data FROM {t} r JOIN audit a ON a.seq = r.audit_seq WHERE r.run_id = ?1 \
         ORDER BY r.audit_seq DESC LIMIT ?2",
        t = table.name()
    );
    let bad = |e: rusqlite::Error| format!("cannot read the journal's {}: {e}", table.name());
    let mut stmt = conn.prepare(&sql).map_err(bad)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let data: Vec<String> = stmt
        .query_map(rusqlite::params![run, limit], |r| r.get(0))
        .map_err(bad)?
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    data.iter()
        .rev()
        .map(|d| match table {
            Table::Orders => record::<OrderRecord>(d),
            Table::Fills => record::<FillRecord>(d),
            Table::Denials => record::<DenialRecord>(d),
            Table::Controls => record::<ControlRecord>(d),
        })
        .collect()
}

/// A journaled record's JSON, read through its type.
fn record<R: DeserializeOwned + Serialize>(data: &str) -> Result<serde_json::Value, String> {
    let r: R = serde_json::from_str(data).map_err(|e| format!("a journal record does not read: {e}"))?;
    serde_json::to_value(&r).map_err(|e| format!("a journal record does not encode: {e}"))
}

/// A stored time (fixed-width, nanoseconds) as RFC 3339 UTC with milliseconds.
fn time(stored: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(stored).map_or_else(
        |_| stored.to_owned(),
        |t| t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

/// Every run: the journal's, oldest first, then report directories with a run view the journal
/// does not know (`--no-journal` backtests, another journal's runs).
pub fn runs(journal: Option<&Path>, runs_dir: &Path) -> Result<Vec<RunRow>, String> {
    let has_view = |id: &str| is_run_id(id) && runs_dir.join(id).join("run.json").is_file();
    let mut list = Vec::new();
    if let Some(journal) = journal.filter(|j| j.is_file()) {
        let conn = open(journal)?;
        let bad = |e: rusqlite::Error| format!("cannot read the journal's runs: {e}");
        let mut stmt = conn
            .prepare("SELECT id, agent, mode, started_at, ended_at, outcome FROM runs ORDER BY audit_seq")
            .map_err(bad)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .map_err(bad)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        for (id, agent, mode, started, ended, outcome) in rows {
            list.push(RunRow {
                view: has_view(&id),
                id,
                agent,
                mode,
                started: Some(time(&started)),
                ended: ended.as_deref().map(time),
                outcome,
            });
        }
    }
    let mut extra = Vec::new();
    if let Ok(entries) = std::fs::read_dir(runs_dir) {
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if list.iter().any(|r| r.id == id) || !has_view(&id) {
                continue;
            }
            extra.push(from_report(&id, &entry.path()));
        }
    }
    extra.sort_by(|a, b| (&a.started, &a.id).cmp(&(&b.started, &b.id)));
    list.extend(extra);
    Ok(list)
}

/// A run known only by its report directory: what its summary says of it.
fn from_report(id: &str, dir: &Path) -> RunRow {
    let run = std::fs::read_to_string(dir.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<crate::report::Summary>(&t).ok())
        .and_then(|s| s.run);
    let started = id
        .rsplit('-')
        .nth(1)
        .and_then(|s| chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").ok())
        .map(|t| t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    RunRow {
        id: id.to_owned(),
        agent: run.as_ref().map_or_else(|| "?".to_owned(), |r| r.agent.clone()),
        mode: run.as_ref().map_or_else(|| "?".to_owned(), |r| r.mode.clone()),
        started,
        ended: None,
        outcome: run.map(|r| r.outcome),
        view: true,
    }
}

/// Whether `id` can be a run id (a directory name under the runs directory: letters, digits,
/// `-`, `_`, `.`, not `.` or `..`), so a request never reads outside it.
pub fn is_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id != "."
        && id != ".."
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Whether the journal at `path` knows run `id` (for messages).
pub fn journal_has_run(journal: &Path, id: &str) -> bool {
    open(journal)
        .ok()
        .and_then(|c| {
            c.query_row("SELECT 1 FROM runs WHERE id = ?1", [id], |_| Ok(()))
                .optional()
                .ok()
                .flatten()
        })
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_stay_inside_the_runs_directory() {
        assert!(is_run_id("spy-9ma-20261202T150320Z-ffe5abb6"));
        for bad in ["", ".", "..", "../etc", "a/b", "a\\b", "x%2e", "a b"] {
            assert!(!is_run_id(bad), "{bad}");
        }
    }

    #[test]
    fn stored_times_read_as_milliseconds() {
        assert_eq!(time("2013-10-07T13:30:00.123456789Z"), "2013-10-07T13:30:00.123Z");
        assert_eq!(time("garbage"), "garbage");
    }
}
