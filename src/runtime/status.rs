//! Agent status files and `runner status`.
//!
//! What belongs here: the status record a running `runner up` writes for each of its agents to
//! `state_dir/status/<agent>.json` (atomically: temp file in the same directory, fsync, rename)
//! about once a second and removes on a clean exit, and the reader behind `runner status`. A
//! file whose writer is gone (its [`ProcessStamp`]: host, pid and process start) is shown as
//! `stopped (stale)` with health `unknown`: the process died without cleaning up, and the health
//! it last wrote says nothing about now.
//!
//! `runner status` reads what is in the directory, whoever put it there: regular files of at
//! most [`MAX_STATUS_BYTES`] only (a symlink to `/dev/zero` is refused, not read forever), and
//! every field goes through [`printable`] before it reaches the terminal.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::process::{Liveness, ProcessStamp};
use crate::text::printable;

/// The largest status file `runner status` reads (a real one is under 1 KiB).
pub const MAX_STATUS_BYTES: u64 = 64 * 1024;

/// One agent's status as written by `runner up`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// Agent name.
    pub agent: String,
    /// Broker account.
    pub account: String,
    /// The `runner up` process running it (host, pid, process start).
    #[serde(flatten)]
    pub process: ProcessStamp,
    /// Journal run id (empty without a journal).
    pub run: String,
    /// Trading state: `active`, `reduce-only` or `halted`.
    pub state: String,
    /// Signed position quantity.
    pub position: String,
    /// Average price of the position.
    pub avg_price: String,
    /// P&L of the current trading day (realized + unrealized, after fees).
    pub day_pnl: String,
    /// Account equity.
    pub equity: String,
    /// `ok` or `unhealthy: <why>`.
    pub health: String,
    /// Time of the newest market event (RFC 3339, New York), empty before the first.
    pub last_event: String,
    /// Live feeds: exchange time → arrival, `p50 … / p99 …` so far (empty for replays).
    #[serde(default)]
    pub feed_latency: String,
    /// Wall-clock time this file was written (RFC 3339 UTC).
    pub updated_at: String,
}

/// A status file as `runner status` reads it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// The record.
    #[serde(flatten)]
    pub status: AgentStatus,
    /// Whether its process is still running (otherwise `stopped (stale)`).
    pub running: bool,
    /// For a stale file: the health its process wrote last. Its `health` is then `unknown` —
    /// nobody watches a dead process, so nothing about its health is known now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_health: Option<String>,
}

/// The health shown for an agent whose process is gone (`stopped (stale)`).
pub const UNKNOWN_HEALTH: &str = "unknown";

/// The status directory under a state directory.
pub fn status_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("status")
}

/// The status file of `agent`.
pub fn status_path(state_dir: &Path, agent: &str) -> PathBuf {
    status_dir(state_dir).join(format!("{agent}.json"))
}

/// Write `s` atomically to its status file.
pub fn write(state_dir: &Path, s: &AgentStatus) -> std::io::Result<()> {
    let dir = status_dir(state_dir);
    crate::files::create_private_dir_all(&dir)?;
    // Serialising a struct of strings and an integer cannot fail.
    let mut text = serde_json::to_string_pretty(s).unwrap_or_default();
    text.push('\n');
    crate::report::write_atomic(&status_path(state_dir, &s.agent), text.as_bytes())
}

/// Remove `agent`'s status file (clean exit); a missing file is fine.
pub fn remove(state_dir: &Path, agent: &str) {
    let _ = std::fs::remove_file(status_path(state_dir, agent));
}

/// Every status file under `state_dir`, sorted by agent. Unreadable files are skipped with
/// a warning line in the result's second element.
pub fn list(state_dir: &Path) -> std::io::Result<(Vec<Listed>, Vec<String>)> {
    let dir = status_dir(state_dir);
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((out, warnings)),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let parsed = crate::files::read_bounded(&path, MAX_STATUS_BYTES)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<AgentStatus>(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(mut status) => {
                let running = status.process.liveness() == Liveness::Alive;
                let last_health =
                    (!running).then(|| std::mem::replace(&mut status.health, UNKNOWN_HEALTH.to_owned()));
                out.push(Listed { status, running, last_health });
            }
            Err(e) => warnings.push(format!("{}: {}", printable(&path.display().to_string()), printable(&e))),
        }
    }
    out.sort_by(|a, b| a.status.agent.cmp(&b.status.agent));
    Ok((out, warnings))
}

/// Render status rows as an aligned table.
pub fn render(rows: &[Listed]) -> String {
    let mut table: Vec<[String; 9]> = vec![[
        "AGENT".into(),
        "ACCOUNT".into(),
        "STATE".into(),
        "POSITION".into(),
        "DAY P&L".into(),
        "HEALTH".into(),
        "LAST EVENT".into(),
        "FEED LATENCY".into(),
        "PID".into(),
    ]];
    for r in rows {
        let s = &r.status;
        let state = if r.running { s.state.clone() } else { "stopped (stale)".to_owned() };
        let pos =
            if s.position == "0" { "0".to_owned() } else { format!("{} @ {}", s.position, s.avg_price) };
        let row = [&s.agent, &s.account, &state, &pos, &s.day_pnl, &s.health, &s.last_event, &s.feed_latency];
        let [a, b, c, d, e, f, g, h] = row.map(|cell| printable(cell).into_owned());
        table.push([a, b, c, d, e, f, g, h, s.process.pid.to_string()]);
    }
    let mut widths = [0usize; 9];
    for row in &table {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in &table {
        let cells: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
