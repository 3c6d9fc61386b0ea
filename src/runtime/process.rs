//! Which process holds something, and whether that process is still the one running.
//!
//! A pid alone cannot say that: pids are reused, and a journal or lock file outlives reboots.
//! A [`ProcessStamp`] is the host name, the pid and the process's start (the kernel's boot id
//! plus the start time of the process in clock ticks since boot, from `/proc`), so a holder is
//! [`Liveness::Alive`] only when a process with that pid exists on this host, in this boot, and
//! started at that very tick.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Metadata keys a stamp is stored under (run metadata, lock files).
const HOST_KEY: &str = "host";
const PID_KEY: &str = "pid";
const START_KEY: &str = "process_start";

/// A running (or once-running) process, as identified across processes and hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStamp {
    /// Host name (empty when unknown).
    #[serde(default)]
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// `<boot id>/<start time in clock ticks>` (empty when unknown: then only the pid and the
    /// program name can be checked).
    #[serde(default)]
    pub start: String,
}

/// Whether the process behind a stamp still runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// It runs, here.
    Alive,
    /// It is gone (exited, killed, or the host rebooted since).
    Gone,
    /// It ran on another host: this host cannot tell.
    OtherHost(String),
}

impl ProcessStamp {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self { host: host_name(), pid, start: start_of(pid).unwrap_or_default() }
    }

    /// Store the stamp in string metadata (a journal run's `metadata`).
    pub fn write_to(&self, meta: &mut BTreeMap<String, String>) {
        meta.insert(HOST_KEY.to_owned(), self.host.clone());
        meta.insert(PID_KEY.to_owned(), self.pid.to_string());
        meta.insert(START_KEY.to_owned(), self.start.clone());
    }

    /// Read a stamp back from metadata; `None` without a pid.
    pub fn read_from(meta: &BTreeMap<String, String>) -> Option<Self> {
        let pid = meta.get(PID_KEY)?.parse().ok()?;
        let get = |k: &str| meta.get(k).cloned().unwrap_or_default();
        Some(Self { host: get(HOST_KEY), pid, start: get(START_KEY) })
    }

    /// Whether the stamped process still runs. A stamp from an older runner without host and
    /// start counts as alive only when its pid exists and that process is a `runner`.
    pub fn liveness(&self) -> Liveness {
        if !self.host.is_empty() && self.host != host_name() {
            return Liveness::OtherHost(self.host.clone());
        }
        if self.pid == 0 || !pid_exists(self.pid) {
            return Liveness::Gone;
        }
        let same = if self.start.is_empty() {
            program_of(self.pid).is_some_and(|p| p == "runner")
        } else {
            start_of(self.pid).is_some_and(|s| s == self.start)
        };
        if same { Liveness::Alive } else { Liveness::Gone }
    }
}

impl std::fmt::Display for ProcessStamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.is_empty() {
            write!(f, "pid {}", self.pid)
        } else {
            write!(f, "pid {} on {}", self.pid, self.host)
        }
    }
}

/// This host's name (empty if it cannot be read).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer we own.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Whether a process with this pid exists (it may belong to another user).
pub fn pid_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks whether the process exists; it sends nothing.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// `<boot id>/<start ticks>` of a process, from `/proc` (Linux); `None` elsewhere or when gone.
fn start_of(pid: u32) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or ')': fields after
    // the last ')' are plain. The start time is field 22, the 20th after the name.
    let rest = &stat[stat.rfind(')')? + 1..];
    let ticks = rest.split_ascii_whitespace().nth(19)?;
    Some(format!("{}/{ticks}", boot.trim()))
}

/// The file name of a process's program, from `/proc` (Linux).
fn program_of(pid: u32) -> Option<String> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    Some(exe.file_name()?.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_round_trips_through_metadata() {
        let me = ProcessStamp::current();
        assert!(!me.start.is_empty(), "Linux has /proc: {me:?}");
        assert_eq!(me.liveness(), Liveness::Alive);
        let mut meta = BTreeMap::new();
        me.write_to(&mut meta);
        assert_eq!(ProcessStamp::read_from(&meta), Some(me));
    }

    #[test]
    fn a_reused_pid_another_host_and_a_dead_pid_are_told_apart() {
        let me = ProcessStamp::current();
        let reused = ProcessStamp { start: format!("{}0", me.start), ..me.clone() };
        assert_eq!(reused.liveness(), Liveness::Gone);
        let elsewhere = ProcessStamp { host: format!("{}-other", me.host), ..me.clone() };
        assert!(matches!(elsewhere.liveness(), Liveness::OtherHost(_)));
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        let dead = ProcessStamp { pid, ..me };
        assert_eq!(dead.liveness(), Liveness::Gone);
    }
}
