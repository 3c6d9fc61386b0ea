//! The secrets directory on disk: `NAME.sops.yaml` naming, listing, where a credential
//! name resolves, and crash-safe writes.
//!
//! Every write goes to a 0600 temporary file (`.runner-tmp-…`) in the target's directory, is
//! fsynced, renamed over the target and the directory is fsynced, so a crash leaves either
//! the old file or the new one, never a half-written or plaintext file. A failed write
//! changes nothing. A temporary file left by a writer that was killed (`kill -9`, power loss)
//! is removed by the next write to that directory: see [`temp_file_in`].

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::SecretsError;

/// File name suffix of a secrets file in the secrets directory.
pub const SUFFIX: &str = ".sops.yaml";

/// Default secrets directory, relative to the current directory.
pub const DEFAULT_DIR: &str = "secrets";

/// The subdirectory of a secrets directory that holds placeholder demo files, encrypted to a
/// public key on purpose (see [`resolve`] and [`is_demo`]).
pub const DEMO_DIR: &str = "demo";

/// Name prefix of the temporary files writes go through.
const TEMP_PREFIX: &str = ".runner-tmp-";

/// A temporary file unchanged for this long, and not locked, was left by a writer that died.
const STALE_AFTER: Duration = Duration::from_secs(60);

/// Check a secrets name: letters, digits, `_`, `-`, `.`; not starting with `.`; at most 100 chars.
pub fn validate_name(name: &str) -> Result<(), SecretsError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok { Ok(()) } else { Err(SecretsError::BadName { name: name.to_owned() }) }
}

/// Check a key name inside a secrets file (a YAML map key): not empty, no control
/// characters, not `sops` (reserved for metadata), no `=` (used by stdin `KEY=VALUE` lines).
pub fn validate_key(key: &str) -> Result<(), SecretsError> {
    let ok = !key.is_empty()
        && key != "sops"
        && !key.contains('=')
        && !key.chars().any(char::is_control)
        && key.trim() == key;
    if ok {
        return Ok(());
    }
    // Never echo what follows a `=`: it may be a value typed on the command line.
    let shown = key.split('=').next().unwrap_or_default();
    Err(SecretsError::BadKey { key: shown.to_owned() })
}

/// Path of secrets file `name` in `dir` (`dir/NAME.sops.yaml`), after checking the name.
pub fn path_for(dir: &Path, name: &str) -> Result<PathBuf, SecretsError> {
    validate_name(name)?;
    Ok(dir.join(format!("{name}{SUFFIX}")))
}

/// The file a credential name stands for (see [`resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The secrets file.
    pub path: PathBuf,
    /// Whether it is the placeholder demo file (there is no file of that name in the
    /// secrets directory itself).
    pub demo: bool,
}

/// Where the credentials `name` a recipe refers to are: `dir/NAME.sops.yaml` when it exists,
/// else the placeholder `dir/demo/NAME.sops.yaml` when that exists, else `dir/NAME.sops.yaml`
/// (which does not exist). The validator and the engine both resolve names here, so a file
/// you put in `dir` always wins over the demo one.
pub fn resolve(dir: &Path, name: &str) -> Result<Resolved, SecretsError> {
    let own = path_for(dir, name)?;
    if !own.exists() {
        let demo = path_for(&dir.join(DEMO_DIR), name)?;
        if demo.exists() {
            return Ok(Resolved { path: demo, demo: true });
        }
    }
    Ok(Resolved { path: own, demo: false })
}

/// Whether `path` is a demo file: it lies directly in a directory named `demo`. Demo files
/// may be encrypted to keys whose private half is in the working tree; no other file may.
pub fn is_demo(path: &Path) -> bool {
    path.parent().and_then(Path::file_name).is_some_and(|n| n == DEMO_DIR)
}

/// Names of all secrets files in `dir`, sorted. A missing directory holds no secrets.
pub fn list_names(dir: &Path) -> Result<Vec<String>, SecretsError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SecretsError::io(dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| SecretsError::io(dir, e))?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else { continue };
        if let Some(name) = file_name.strip_suffix(SUFFIX)
            && validate_name(name).is_ok()
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Read a file, mapping "not found" to [`SecretsError::NotFound`].
pub fn read(path: &Path) -> Result<Vec<u8>, SecretsError> {
    fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SecretsError::NotFound { path: path.to_owned() }
        } else {
            SecretsError::io(path, e)
        }
    })
}

/// Write `bytes` to `path` atomically with mode 0600 (temp file in the same directory,
/// fsync, rename, fsync the directory). Creates the parent directory (0700) if missing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SecretsError> {
    write_atomic_mode(path, bytes, 0o600)
}

/// [`write_atomic`] with an explicit file mode (e.g. 0644 for `.sops.yaml`).
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SecretsError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&parent)
            .map_err(|e| SecretsError::io(&parent, e))?;
    }
    let mut tmp = temp_file_in(&parent)?;
    tmp.write_all(bytes).map_err(|e| SecretsError::io(tmp.path(), e))?;
    if mode != 0o600 {
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))
            .map_err(|e| SecretsError::io(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| SecretsError::io(path, e))?;
    tmp.persist(path).map_err(|e| SecretsError::io(path, e.error))?;
    fs::File::open(&parent).and_then(|d| d.sync_all()).map_err(|e| SecretsError::io(&parent, e))?;
    Ok(())
}

/// A new temporary file in `dir` for an atomic write: mode 0600, removed if dropped before it
/// is persisted, and locked (`flock`) while it is open. Stale temporary files of earlier
/// writers in `dir` are removed first.
///
/// A writer killed by `kill -9` cannot remove its temporary file, but the kernel drops its
/// lock. So a `.runner-tmp-*` file that is not locked and has not changed for
/// [`STALE_AFTER`] belongs to no live writer and is removed. A live writer's file is
/// locked from the moment after it is created until it is renamed; the age condition covers
/// that moment. Other files are never touched.
pub fn temp_file_in(dir: &Path) -> Result<tempfile::NamedTempFile, SecretsError> {
    remove_stale_temps(dir);
    // tempfile creates the file with mode 0600 and removes it if we return early.
    let tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| SecretsError::io(dir, e))?;
    tmp.as_file().lock().map_err(|e| SecretsError::io(tmp.path(), e))?;
    Ok(tmp)
}

/// Remove the stale temporary files of dead writers from `dir` (see [`temp_file_in`]).
/// Best effort: anything that cannot be checked is left alone.
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let stale = entry.file_name().to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX))
            && entry.metadata().is_ok_and(|m| {
                m.is_file() && m.modified().is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= STALE_AFTER))
            });
        if !stale {
            continue;
        }
        let path = entry.path();
        use std::os::unix::fs::OpenOptionsExt;
        let file =
            fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(&path);
        // Locked: its writer is alive. The lock is held until the file is removed.
        if let Ok(file) = file
            && file.try_lock().is_ok()
        {
            match fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(file = %path.display(), "removed a temporary file left by an interrupted write")
                }
                Err(e) => {
                    tracing::debug!(file = %path.display(), error = %e, "cannot remove a stale temporary file")
                }
            }
        }
    }
}

/// Remove a file and fsync its directory.
pub fn remove(path: &Path) -> Result<(), SecretsError> {
    fs::remove_file(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SecretsError::NotFound { path: path.to_owned() }
        } else {
            SecretsError::io(path, e)
        }
    })?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::File::open(parent).and_then(|d| d.sync_all()).map_err(|e| SecretsError::io(parent, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn names_are_checked() {
        for good in ["alpaca", "alpaca-paper", "a_b.c", "X1"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "a/b", "../x", "a b", "é"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(validate_key("key_id").is_ok());
        for bad in ["", "sops", "a=b", " a", "a\n"] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn atomic_write_is_0600_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/x.sops.yaml");
        write_atomic(&target, b"one").unwrap();
        write_atomic(&target, b"two").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let entries: Vec<_> = fs::read_dir(target.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(list_names(&dir.path().join("sub")).unwrap(), vec!["x".to_owned()]);
        assert!(list_names(&dir.path().join("missing")).unwrap().is_empty());
    }
}
