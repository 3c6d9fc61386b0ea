//! Files `runner` writes and reads back: one permission policy, bounded reads.
//!
//! Policy (docs/journal.md, "Files and permissions"): everything `runner` creates that holds
//! trading data — the journal database and its `-wal`/`-shm` files, run reports, status files —
//! is readable by its owner only (files 0600, directories 0700), whatever the umask. Existing
//! files and directories keep the permissions they have. The one exception is the host-wide
//! account-lock directory (`runtime::account_lock`), shared by every user's `runner`.
//!
//! Files `runner` reads back that another process may have replaced (status files) are read
//! through [`read_bounded`]: regular files only, never through a symlink, at most a stated
//! number of bytes.

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Create `dir` and any missing parents, each new one with mode 0700.
pub fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Create `path` (mode 0600) if it does not exist; an existing file is left as it is.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Why [`read_bounded`] refused a file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed (a symlink is refused with `ELOOP`).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A FIFO, device, socket or directory.
    #[error("not a regular file")]
    NotRegular,
    /// Larger than allowed.
    #[error("larger than {0} bytes")]
    TooLarge(u64),
}

/// Read a regular file of at most `limit` bytes as UTF-8 text, without following a symlink
/// and without blocking on a FIFO (files another process may have replaced).
pub fn read_bounded(path: &Path, limit: u64) -> Result<String, ReadError> {
    read_regular(path, limit, libc::O_NOFOLLOW)
}

/// Read a file a person named (it may be a symlink to a regular file) of at most `limit`
/// bytes as UTF-8 text, without blocking on a FIFO or reading a device.
pub fn read_named(path: &Path, limit: u64) -> Result<String, ReadError> {
    read_regular(path, limit, 0)
}

fn read_regular(path: &Path, limit: u64, flags: libc::c_int) -> Result<String, ReadError> {
    let file = std::fs::OpenOptions::new().read(true).custom_flags(flags | libc::O_NONBLOCK).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(ReadError::NotRegular);
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    String::from_utf8(bytes).map_err(|_| ReadError::Io(std::io::Error::other("not UTF-8 text")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn new_directories_and_files_are_private_whatever_the_umask() {
        let dir = tempfile::tempdir().expect("tmp");
        // SAFETY: umask only changes this process's file-creation mask; restored below.
        let old = unsafe { libc::umask(0) };
        let nested = dir.path().join("a/b");
        let made = create_private_dir_all(&nested);
        let file = nested.join("f");
        let made_file = made.and_then(|()| create_private_file(&file));
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        made_file.expect("create");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn bounded_reads_refuse_symlinks_special_files_and_large_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let ok = dir.path().join("ok.json");
        std::fs::write(&ok, "{}").expect("write");
        assert_eq!(read_bounded(&ok, 10).expect("read"), "{}");
        assert!(matches!(read_bounded(&ok, 1), Err(ReadError::TooLarge(1))));
        let link = dir.path().join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
        assert!(matches!(read_bounded(&link, 10), Err(ReadError::Io(_))));
        assert!(matches!(read_bounded(Path::new("/dev/zero"), 10), Err(ReadError::NotRegular)));
        assert!(matches!(read_bounded(dir.path(), 10), Err(ReadError::NotRegular)));
    }
}
