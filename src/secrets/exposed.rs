//! Keys anyone with the repository holds: private keys lying in the project's working tree.
//!
//! A file encrypted to such a key can be read by whoever has a copy of the repository. The
//! placeholder demo files (a `demo/` directory, see [`store::is_demo`]) are, on purpose; no
//! other file may be: the commands that encrypt refuse it ([`refuse`]) and `runner validate`
//! reports it (through [`crate::secrets::check_reference`]).
//!
//! The working tree is the git top-level of the file, else the directory of the nearest
//! `.sops.yaml` (both found walking up from the file); with neither there is no project
//! and nothing to search. The search reads regular files of at most [`MAX_FILE_SIZE`] that
//! are not binary, and looks for age identities (`AGE-SECRET-KEY-1…`) and unencrypted SSH
//! private keys (OpenSSH or PEM `ssh-ed25519` / `ssh-rsa`, the kinds age can use). It skips
//! `target/`, `.git/` and `node_modules/`, symbolic links and special files, and stops at
//! [`MAX_DEPTH`] levels and [`MAX_ENTRIES`] directory entries (with a warning). PGP secret
//! keys are not searched for. Only public halves and file names are kept; nothing read is
//! ever printed.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use regex::bytes::Regex;
use zeroize::Zeroizing;

use super::sops::{SshIdentity, ssh::normalize_recipient};
use super::{SecretsError, rules, store};

/// Files larger than this are not searched (key files are a few KiB at most).
pub const MAX_FILE_SIZE: u64 = 64 * 1024;
/// Directories deeper than this below the root are not searched.
pub const MAX_DEPTH: usize = 16;
/// The search stops after this many directory entries.
pub const MAX_ENTRIES: usize = 20_000;
/// Directories never searched: build output, git's own store, JavaScript packages.
const SKIP_DIRS: [&str; 3] = ["target", ".git", "node_modules"];

/// What to do about a file encrypted to a key in the working tree (the end of every message
/// about one).
pub const FIX: &str = "encrypt real secrets only to keys kept outside the repository: \
`runner secrets init` makes your own age key and a .sops.yaml rule for secrets/ without such keys \
(or pass --age with your own key for a new file). A file that already holds values encrypted to \
such a key is not secret any more: delete it (`runner secrets rm NAME`), change those credentials \
at the broker, and `runner secrets set` the new ones. Placeholder demo files belong in a `demo/` \
directory";

/// A private key found in the working tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeKey {
    /// Its public half as a recipient: `age1…`, or `ssh-ed25519 AAAA…` / `ssh-rsa AAAA…`
    /// without a comment.
    pub recipient: String,
    /// The file holding the private key, relative to the project root.
    pub file: PathBuf,
}

/// `age1v94… (private key in tests/fixtures/demo/age-key.txt)`, for each key.
pub fn describe(keys: &[TreeKey]) -> String {
    keys.iter()
        .map(|k| format!("{} (private key in {})", k.recipient, k.file.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The project root whose working tree is searched for a file at `path`: the git top-level
/// (a directory holding `.git`), else the directory of the nearest `.sops.yaml`, both found
/// walking up from `path`'s directory. `None` when there is neither.
pub fn project_root(path: &Path) -> Option<PathBuf> {
    let abs = rules::absolute(path);
    let dir = abs.parent()?;
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .or_else(|| dir.ancestors().find(|d| d.join(rules::CONFIG_NAME).is_file()))
        .map(Path::to_path_buf)
}

/// The recipients among `age` whose private key is in the working tree of `path`'s project
/// (none for a demo file, or outside any project).
pub fn exposed(path: &Path, age: &[String]) -> Vec<TreeKey> {
    if age.is_empty() || store::is_demo(path) {
        return Vec::new();
    }
    let Some(root) = project_root(path) else { return Vec::new() };
    let keys = scan_once(&root);
    let mut out: Vec<TreeKey> = Vec::new();
    for r in age {
        let r = normalize_recipient(r);
        if let Some(k) = keys.iter().find(|k| k.recipient == r)
            && !out.contains(k)
        {
            out.push(k.clone());
        }
    }
    out
}

/// Refuse to write `path` encrypted to `age` when one of them has its private key in the
/// working tree. With `allow` (`--allow-public-key`) it is written anyway, with a warning.
pub fn refuse(path: &Path, age: &[String], allow: bool) -> Result<(), SecretsError> {
    let found = exposed(path, age);
    if found.is_empty() {
        return Ok(());
    }
    if allow {
        tracing::warn!(
            file = %path.display(),
            "encrypting to {} as --allow-public-key asks: anyone with the repository can read this file",
            describe(&found)
        );
        return Ok(());
    }
    Err(SecretsError::PublicKey { path: path.to_owned(), found })
}

/// [`scan`], once per root and process: one command (`rotate --all`, `validate` of many
/// recipes) does not walk the same tree again.
fn scan_once(root: &Path) -> Arc<[TreeKey]> {
    static SCANS: LazyLock<Mutex<HashMap<PathBuf, Arc<[TreeKey]>>>> = LazyLock::new(Default::default);
    let mut scans = SCANS.lock().unwrap_or_else(PoisonError::into_inner);
    scans.entry(root.to_path_buf()).or_insert_with(|| scan(root).into()).clone()
}

/// Every private key in the working tree under `root` (the bounded walk the module docs
/// describe). Files are named relative to `root`.
pub fn scan(root: &Path) -> Vec<TreeKey> {
    let mut found = Vec::new();
    let mut entries_seen = 0usize;
    let mut too_deep = false;
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            entries_seen += 1;
            if entries_seen > MAX_ENTRIES {
                tracing::warn!(
                    root = %root.display(),
                    "stopped looking for private keys in the working tree after {MAX_ENTRIES} entries; \
                     keys beyond them were not checked"
                );
                return found;
            }
            // The entry's own type: a symbolic link is neither a file nor a directory here.
            let Ok(kind) = entry.file_type() else { continue };
            let path = entry.path();
            if kind.is_dir() {
                if SKIP_DIRS.iter().any(|s| entry.file_name() == *s) {
                    continue;
                }
                if depth < MAX_DEPTH {
                    stack.push((path, depth + 1));
                } else {
                    too_deep = true;
                }
            } else if kind.is_file() {
                let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
                found.extend(
                    keys_in(&path).into_iter().map(|recipient| TreeKey { recipient, file: rel.clone() }),
                );
            }
        }
    }
    if too_deep {
        tracing::warn!(
            root = %root.display(),
            "did not look for private keys more than {MAX_DEPTH} directories deep in the working tree"
        );
    }
    found
}

/// The public halves of the private keys in one file; nothing for a file that is too big,
/// binary, not a regular file or unreadable.
fn keys_in(path: &Path) -> Vec<String> {
    // No following a link swapped in since the directory was read, no blocking on a FIFO.
    let Ok(file) =
        fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)
    else {
        return Vec::new();
    };
    if !file.metadata().is_ok_and(|m| m.is_file() && m.len() <= MAX_FILE_SIZE) {
        return Vec::new();
    }
    let mut bytes = Zeroizing::new(Vec::new());
    if file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes).is_err()
        || bytes.len() as u64 > MAX_FILE_SIZE
        || bytes.contains(&0)
    {
        return Vec::new();
    }
    let mut out = age_keys_in(&bytes);
    out.extend(ssh_keys_in(&bytes, path));
    out
}

/// `AGE-SECRET-KEY-1…` in any letter case (bech32 allows all-lower-case too).
static AGE_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)AGE-SECRET-KEY-1[0-9A-Z]+").expect("a valid regex"));

/// An OpenSSH or PEM RSA private key block.
static SSH_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)-----BEGIN (OPENSSH|RSA) PRIVATE KEY-----.*?-----END (OPENSSH|RSA) PRIVATE KEY-----")
        .expect("a valid regex")
});

/// Public keys (`age1…`) of the age identities in `bytes`.
fn age_keys_in(bytes: &[u8]) -> Vec<String> {
    AGE_KEY
        .find_iter(bytes)
        .filter_map(|m| {
            let text = Zeroizing::new(String::from_utf8_lossy(m.as_bytes()).to_ascii_uppercase());
            age::x25519::Identity::from_str(&text).ok().map(|id| id.to_public().to_string())
        })
        .collect()
}

/// Public keys (`ssh-… AAAA…`) of the unencrypted SSH private keys age can use in `bytes`.
/// Lines may be indented (a key pasted into YAML, say).
fn ssh_keys_in(bytes: &[u8], path: &Path) -> Vec<String> {
    SSH_KEY
        .find_iter(bytes)
        .filter_map(|m| {
            let block = Zeroizing::new(
                String::from_utf8_lossy(m.as_bytes())
                    .lines()
                    .map(|l| format!("{}\n", l.trim()))
                    .collect::<String>(),
            );
            let id = SshIdentity::parse(block.as_bytes(), &path.display().to_string()).ok()?;
            (!id.is_encrypted()).then(|| normalize_recipient(id.recipient()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn finds_age_keys_in_text_files_only_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let id = age::x25519::Identity::generate();
        let public = id.to_public().to_string();
        let secret = id.to_string().expose_secret().to_owned();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/key.txt"), format!("# created\n{secret}\n")).unwrap();
        // Lower case still counts; skipped places and binary files do not.
        let other = age::x25519::Identity::generate();
        fs::write(
            root.join("notes.md"),
            format!("key: {}", other.to_string().expose_secret().to_lowercase()),
        )
        .unwrap();
        for skipped in ["target/k.txt", ".git/k.txt", "node_modules/x/k.txt"] {
            fs::create_dir_all(root.join(skipped).parent().unwrap()).unwrap();
            fs::write(root.join(skipped), &secret).unwrap();
        }
        fs::write(
            root.join("bin.dat"),
            format!("\0{}", age::x25519::Identity::generate().to_string().expose_secret()),
        )
        .unwrap();
        fs::write(root.join("big.txt"), format!("{}{}", " ".repeat(MAX_FILE_SIZE as usize), secret)).unwrap();
        std::os::unix::fs::symlink("/", root.join("loop")).unwrap();
        let mut found = scan(root);
        found.sort_by(|a, b| a.file.cmp(&b.file));
        assert_eq!(
            found,
            vec![
                TreeKey { recipient: public.clone(), file: "a/b/key.txt".into() },
                TreeKey { recipient: other.to_public().to_string(), file: "notes.md".into() },
            ]
        );
        // Only the listed recipients are reported, and never for a demo file.
        fs::write(root.join(rules::CONFIG_NAME), "creation_rules: []\n").unwrap();
        let target = root.join("secrets/x.sops.yaml");
        let got = exposed(&target, &["age1other".into(), public.clone()]);
        assert_eq!(got, vec![TreeKey { recipient: public.clone(), file: "a/b/key.txt".into() }]);
        assert!(exposed(&root.join("secrets/demo/x.sops.yaml"), std::slice::from_ref(&public)).is_empty());
        let err = refuse(&target, std::slice::from_ref(&public), false).unwrap_err().to_string();
        assert!(
            err.contains("a/b/key.txt") && err.contains(&public) && !err.contains(&secret[16..]),
            "{err}"
        );
        refuse(&target, &[public], true).unwrap();
    }
}
