//! One broker account belongs to one agent, across processes: an OS advisory lock on
//! `lock_dir/<account>.lock` that names its holder.
//!
//! The lock is `flock`-style (`std::fs::File::try_lock`): the OS releases it when the
//! holding process exits for any reason, `kill -9` included, so a crashed holder never
//! blocks an account forever. The file itself is never deleted (deleting lock files races
//! with processes that have just opened them); it only carries the holder's name, pid and
//! start time so a refused agent can say who has the account.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{AccountId, AgentId};

/// Who holds an account lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBy {
    /// The holding agent (`unknown` if the holder has not written its name yet).
    pub agent: String,
    /// The holder's process id (0 if unknown).
    pub pid: u32,
    /// When the holder took the lock (RFC 3339), empty if unknown.
    pub since: String,
}

/// Why an account lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another agent (in this or another process) holds the account.
    #[error("account {account} is held by agent {} (pid {}, since {})", held.agent, held.pid, held.since)]
    HeldBy {
        /// The account asked for.
        account: AccountId,
        /// Its holder.
        held: HeldBy,
    },
    /// The account name cannot be used as a file name.
    #[error("account name {0:?} cannot name a lock file (use letters, digits, '.', '_' or '-')")]
    BadAccount(String),
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
    account: AccountId,
}

fn valid_account(account: &str) -> bool {
    !account.is_empty()
        && !account.starts_with('.')
        && account.len() <= 200
        && account.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl AccountLock {
    /// Take the lock on `account` for `agent`, without waiting.
    pub fn acquire(lock_dir: &Path, account: &AccountId, agent: &AgentId) -> Result<Self, LockError> {
        if !valid_account(account.as_str()) {
            return Err(LockError::BadAccount(account.as_str().to_owned()));
        }
        std::fs::create_dir_all(lock_dir)
            .map_err(|source| LockError::Io { path: lock_dir.to_path_buf(), source })?;
        let path = lock_dir.join(format!("{account}.lock"));
        let io = |source| LockError::Io { path: path.clone(), source };
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LockError::HeldBy { account: account.clone(), held: read_holder(&mut file) });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let held = HeldBy {
            agent: agent.as_str().to_owned(),
            pid: std::process::id(),
            since: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        };
        // Serialising a struct of strings and an integer cannot fail.
        let mut text = serde_json::to_string(&held).unwrap_or_default();
        text.push('\n');
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(Self { file, path, account: account.clone() })
    }

    /// The locked account.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Who holds `account` right now, if anyone (read without taking the lock).
    pub fn holder(lock_dir: &Path, account: &AccountId) -> Result<Option<HeldBy>, LockError> {
        if !valid_account(account.as_str()) {
            return Err(LockError::BadAccount(account.as_str().to_owned()));
        }
        let path = lock_dir.join(format!("{account}.lock"));
        let mut file = match File::open(&path) {
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
        if file.seek(SeekFrom::Start(0)).is_ok()
            && file.read_to_string(&mut text).is_ok()
            && let Ok(held) = serde_json::from_str::<HeldBy>(text.trim())
        {
            return held;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    HeldBy { agent: "unknown".to_owned(), pid: 0, since: String::new() }
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

    #[test]
    fn second_acquire_names_the_holder_and_drop_releases() {
        let dir = tempfile::tempdir().expect("temp dir");
        let acct = AccountId::from("paper-1");
        let first = AccountLock::acquire(dir.path(), &acct, &AgentId::from("alpha")).expect("first lock");
        match AccountLock::acquire(dir.path(), &acct, &AgentId::from("beta")) {
            Err(LockError::HeldBy { held, .. }) => {
                assert_eq!(held.agent, "alpha");
                assert_eq!(held.pid, std::process::id());
                assert!(since_time(&held).is_some(), "{held:?}");
            }
            other => panic!("expected HeldBy, got {other:?}"),
        }
        assert_eq!(
            AccountLock::holder(dir.path(), &acct).expect("holder").map(|h| h.agent),
            Some("alpha".into())
        );
        drop(first);
        assert_eq!(AccountLock::holder(dir.path(), &acct).expect("holder"), None);
        let again = AccountLock::acquire(dir.path(), &acct, &AgentId::from("beta")).expect("free again");
        assert_eq!(again.account().as_str(), "paper-1");
    }

    #[test]
    fn bad_account_names_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        for bad in ["", "../x", ".hidden", "a/b", "a b"] {
            let r = AccountLock::acquire(dir.path(), &AccountId::from(bad), &AgentId::from("a"));
            assert!(matches!(r, Err(LockError::BadAccount(_))), "{bad:?}: {r:?}");
        }
    }
}
