//! One broker account belongs to one agent, across processes, whatever the flags: an OS
//! advisory lock on `<host lock dir>/<broker>.<account>.lock` that names its holder.
//!
//! The lock directory is one place every `runner` on the host uses ([`host_lock_dir`]), not
//! a subdirectory of `--state-dir`, so two runs with different state directories (or
//! journals, or agent names) still cannot trade the same account at once. It is keyed by the
//! broker and the account, never by the agent.
//!
//! The lock is `flock`-style (`std::fs::File::try_lock`): the OS releases it when the
//! holding process exits for any reason, `kill -9` included, so a crashed holder never
//! blocks an account forever. The file itself is never deleted (deleting lock files races
//! with processes that have just opened them); it only carries the holder's name, process
//! stamp and start time so a refused agent can say who has the account.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::process::ProcessStamp;
use crate::model::{AccountId, AgentId};

/// The environment variable that moves the host lock directory (tests, containers that
/// share no `/run/lock`). Every `runner` of a host must see the same value.
pub const LOCK_DIR_ENV: &str = "RUNNER_LOCK_DIR";

/// Where account locks live on this host: `$RUNNER_LOCK_DIR`, else `/run/lock/runner` when
/// `/run/lock` exists (Debian and Ubuntu: a world-writable, sticky tmpfs that systemd's
/// `PrivateTmp` does not hide), else `runner-locks` in the system temporary directory.
pub fn host_lock_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(LOCK_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let run_lock = Path::new("/run/lock");
    if run_lock.is_dir() {
        return run_lock.join("runner");
    }
    std::env::temp_dir().join("runner-locks")
}

/// The account a lock guards: a broker (`paper`, `alpaca`, …) and an account name there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKey {
    /// The broker kind, as a recipe names it.
    pub broker: String,
    /// The account at that broker.
    pub account: AccountId,
}

impl std::fmt::Display for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.account, self.broker)
    }
}

/// Who holds an account lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBy {
    /// The holding agent (`unknown` if the holder has not written its name yet).
    pub agent: String,
    /// The holding process (pid 0 if unknown).
    #[serde(flatten)]
    pub process: ProcessStamp,
    /// When the holder took the lock (RFC 3339), empty if unknown.
    pub since: String,
}

/// Why an account lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another agent (in this or another process) holds the account.
    #[error("account {key} is held by agent {} ({}, since {})", held.agent, held.process, held.since)]
    HeldBy {
        /// The account asked for.
        key: AccountKey,
        /// Its holder.
        held: Box<HeldBy>,
    },
    /// The account or broker name breaks the account-name rule ([`AccountId::parse`]).
    #[error("{0}")]
    BadAccount(crate::model::BadAccountName),
    /// The lock file or directory could not be used.
    #[error("account lock {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A held account lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct AccountLock {
    file: File,
    path: PathBuf,
    key: AccountKey,
}

/// The lock file of `key` under `lock_dir` (the broker never holds a '.', so the name is
/// unambiguous).
fn lock_path(lock_dir: &Path, key: &AccountKey) -> Result<PathBuf, LockError> {
    let account = AccountId::parse(key.account.as_str()).map_err(LockError::BadAccount)?;
    let broker = AccountId::parse(&key.broker).map_err(LockError::BadAccount)?;
    if broker.as_str().contains('.') {
        return Err(LockError::BadAccount(crate::model::BadAccountName {
            name: key.broker.clone(),
            reason: "is not a broker kind",
        }));
    }
    Ok(lock_dir.join(format!("{broker}.{account}.lock")))
}

/// Create the shared lock directory: world-writable and sticky like `/tmp` (every user's
/// `runner` locks there; nobody can remove another's file). An existing path must be a real
/// directory, not a symlink someone planted.
fn ensure_dir(dir: &Path) -> Result<(), LockError> {
    let io = |source| LockError::Io { path: dir.to_path_buf(), source };
    match std::fs::symlink_metadata(dir) {
        Ok(md) if md.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(io(std::io::Error::other("exists and is not a directory (a symlink is refused)")));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    match std::fs::DirBuilder::new().mode(0o1777).create(dir) {
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)).map_err(io),
        // Another process made it first.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io(e)),
    }
}

/// Open a lock file without following a symlink.
fn open_lock_file(path: &Path, create: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    if create {
        o.write(true).create(true).truncate(false).mode(0o644);
    }
    o.open(path)
}

impl AccountLock {
    /// Take the lock on `key` for `agent` in the host lock directory, without waiting.
    pub fn acquire(key: &AccountKey, agent: &AgentId) -> Result<Self, LockError> {
        Self::acquire_in(&host_lock_dir(), key, agent)
    }

    /// Take the lock on `key` for `agent` in `lock_dir`, without waiting.
    pub fn acquire_in(lock_dir: &Path, key: &AccountKey, agent: &AgentId) -> Result<Self, LockError> {
        let path = lock_path(lock_dir, key)?;
        ensure_dir(lock_dir)?;
        let io = |source| LockError::Io { path: path.clone(), source };
        let mut file = open_lock_file(&path, true).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LockError::HeldBy { key: key.clone(), held: Box::new(read_holder(&mut file)) });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let held = HeldBy {
            agent: agent.as_str().to_owned(),
            process: ProcessStamp::current(),
            since: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        };
        // Serialising a struct of strings and an integer cannot fail.
        let mut text = serde_json::to_string(&held).unwrap_or_default();
        text.push('\n');
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(Self { file, path, key: key.clone() })
    }

    /// The locked account.
    pub fn key(&self) -> &AccountKey {
        &self.key
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Who holds `key` in the host lock directory right now, if anyone (read without taking
    /// the lock).
    pub fn holder(key: &AccountKey) -> Result<Option<HeldBy>, LockError> {
        Self::holder_in(&host_lock_dir(), key)
    }

    /// Who holds `key` in `lock_dir` right now, if anyone.
    pub fn holder_in(lock_dir: &Path, key: &AccountKey) -> Result<Option<HeldBy>, LockError> {
        let path = lock_path(lock_dir, key)?;
        let mut file = match open_lock_file(&path, false) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LockError::Io { path, source }),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(None),
            Err(std::fs::TryLockError::WouldBlock) => Ok(Some(read_holder(&mut file))),
            Err(std::fs::TryLockError::Error(source)) => Err(LockError::Io { path, source }),
        }
    }
}

/// Read the holder info, retrying briefly: a holder that has just locked may not have
/// written its name yet.
fn read_holder(file: &mut File) -> HeldBy {
    for _ in 0..20 {
        let mut text = String::new();
        // A holder writes one short line; never read more than a few KiB of whatever is there.
        if file.seek(SeekFrom::Start(0)).is_ok()
            && Read::by_ref(file).take(4096).read_to_string(&mut text).is_ok()
            && let Ok(held) = serde_json::from_str::<HeldBy>(text.trim())
        {
            return held;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    HeldBy {
        agent: "unknown".to_owned(),
        process: ProcessStamp { host: String::new(), pid: 0, start: String::new() },
        since: String::new(),
    }
}

impl Drop for AccountLock {
    fn drop(&mut self) {
        // Clear the holder info while still holding the lock, then unlock; closing the
        // file would release it anyway.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Parse a holder's `since` back into a time (for display), if it is well formed.
pub fn since_time(held: &HeldBy) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&held.since).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(broker: &str, account: &str) -> AccountKey {
        AccountKey { broker: broker.to_owned(), account: AccountId::from(account) }
    }

    #[test]
    fn second_acquire_names_the_holder_and_drop_releases() {
        let dir = tempfile::tempdir().expect("temp dir");
        let acct = key("paper", "paper-1");
        let first = AccountLock::acquire_in(dir.path(), &acct, &AgentId::from("alpha")).expect("first lock");
        match AccountLock::acquire_in(dir.path(), &acct, &AgentId::from("beta")) {
            Err(LockError::HeldBy { held, .. }) => {
                assert_eq!(held.agent, "alpha");
                assert_eq!(held.process, ProcessStamp::current());
                assert!(since_time(&held).is_some(), "{held:?}");
            }
            other => panic!("expected HeldBy, got {other:?}"),
        }
        assert_eq!(
            AccountLock::holder_in(dir.path(), &acct).expect("holder").map(|h| h.agent),
            Some("alpha".into())
        );
        // The same account name at another broker is another account.
        let other = AccountLock::acquire_in(dir.path(), &key("alpaca", "paper-1"), &AgentId::from("beta"));
        assert!(other.is_ok(), "{other:?}");
        drop(first);
        assert_eq!(AccountLock::holder_in(dir.path(), &acct).expect("holder"), None);
        let again = AccountLock::acquire_in(dir.path(), &acct, &AgentId::from("beta")).expect("free again");
        assert_eq!(again.key().account.as_str(), "paper-1");
    }

    #[test]
    fn bad_account_names_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        for bad in ["", "../x", ".hidden", "a/b", "a b"] {
            let r = AccountLock::acquire_in(dir.path(), &key("paper", bad), &AgentId::from("a"));
            assert!(matches!(r, Err(LockError::BadAccount(_))), "{bad:?}: {r:?}");
        }
    }

    #[test]
    fn the_shared_directory_is_sticky_and_a_planted_symlink_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let locks = dir.path().join("locks");
        let _held = AccountLock::acquire_in(&locks, &key("paper", "a"), &AgentId::from("a")).expect("lock");
        let mode = std::fs::metadata(&locks).expect("dir").permissions().mode() & 0o7777;
        assert_eq!(mode, 0o1777);
        let planted = dir.path().join("planted");
        std::os::unix::fs::symlink(dir.path(), &planted).expect("symlink");
        let r = AccountLock::acquire_in(&planted, &key("paper", "a"), &AgentId::from("a"));
        assert!(matches!(r, Err(LockError::Io { .. })), "{r:?}");
        // A lock file that is a symlink is not followed.
        let target = dir.path().join("target");
        std::fs::write(&target, "x").expect("write");
        std::os::unix::fs::symlink(&target, locks.join("paper.b.lock")).expect("symlink");
        let r = AccountLock::acquire_in(&locks, &key("paper", "b"), &AgentId::from("a"));
        assert!(matches!(r, Err(LockError::Io { .. })), "{r:?}");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "x");
    }
}
