//! SOPS-compatible secrets vault: file format, keys (age, PGP), store and commands.
//!
//! Layout:
//! - `sops/` — the SOPS file format itself (encrypt/decrypt, MAC, age/PGP wrapping, stores);
//! - [`keys`] — finding age identities and GnuPG secret keys the way sops does;
//! - [`exposed`] — private keys lying in the working tree, which no real secret may be
//!   encrypted to;
//! - [`rules`] — `.sops.yaml` creation rules (which recipients new files get);
//! - [`store`] — the secrets directory (`NAME.sops.yaml`, placeholder `demo/NAME.sops.yaml`),
//!   where a credential name resolves, and crash-safe 0600 writes;
//! - [`value`] — [`SecretString`] / [`SecretMap`], never printed;
//! - [`vault`] — the operations behind `runner secrets …` (set, get, rotate, …);
//! - [`cli`] — the `runner secrets` subcommands.
//!
//! # Hooks for the rest of `runner`
//!
//! - [`check_reference`]`(secrets_dir, name)` — for the recipe validator: which file the
//!   name resolves to ([`store::resolve`]: `secrets_dir/NAME.sops.yaml`, else the placeholder
//!   `secrets_dir/demo/NAME.sops.yaml`), which recipients it is encrypted to, whether one of
//!   them has its private key in the working tree, and whether a key available here matches
//!   one of them. Reads metadata only; never decrypts, so CI can validate recipes without any
//!   key.
//! - [`load`]`(secrets_dir, name)` — for the engine: decrypt the file the name resolves to
//!   once, in memory, into a [`SecretMap`]; `map.get("key_id") -> Option<&SecretString>`.
//! - [`required_keys`]`(kind)` — the keys an adapter needs (`alpaca` → `key_id`,
//!   `secret_key`; …), so the validator can report a missing one by name.

pub mod cli;
pub mod exposed;
pub mod keys;
pub mod rules;
pub mod sops;
pub mod store;
pub mod value;
pub mod vault;

use std::path::{Path, PathBuf};

pub use value::{SecretMap, SecretString, SecretValue};

/// Everything that can go wrong in the vault. Messages name files and recipients, never
/// secret values or key material.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A secrets file does not exist.
    #[error("{}: no such secrets file", path.display())]
    NotFound {
        /// The path looked for.
        path: PathBuf,
    },
    /// A secrets name that cannot be a file name.
    #[error("invalid secrets name {name:?}: use letters, digits, '_', '-' and '.' (not first)")]
    BadName {
        /// The name given.
        name: String,
    },
    /// A key name that cannot be stored.
    #[error(
        "invalid key name {key:?}: not empty, no '=' (values never come from the command line), no control characters or surrounding spaces, not 'sops'"
    )]
    BadKey {
        /// The key given.
        key: String,
    },
    /// A key in a secrets file that is not there.
    #[error("{}: no key {key:?}", path.display())]
    MissingKey {
        /// The secrets file.
        path: PathBuf,
        /// The key asked for.
        key: String,
    },
    /// An age key source holds something that is not an identity.
    #[error("{origin}: line {line} is not a valid age identity (AGE-SECRET-KEY-1…)")]
    BadKeyText {
        /// `$SOPS_AGE_KEY` or the key file.
        origin: String,
        /// 1-based line.
        line: usize,
    },
    /// A key file named by an environment variable (`SOPS_AGE_KEY_FILE`,
    /// `SOPS_AGE_SSH_PRIVATE_KEY_FILE`) cannot be read.
    #[error("{var}={}: {reason}{}", path.display(), needed_for(file.as_deref()))]
    KeyFile {
        /// The variable that names the file.
        var: &'static str,
        /// Its value.
        path: PathBuf,
        /// Why it cannot be read (`no such file`, `permission denied`, …).
        reason: String,
        /// The secrets file the key was needed for, when known.
        file: Option<PathBuf>,
    },
    /// An SSH key or key command configured for age cannot be used (never shows key material).
    #[error("{0}")]
    KeySetup(String),
    /// `.sops.yaml` is invalid or has no rule for a file.
    #[error("{}: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No recipients could be determined for a new file.
    #[error(
        "no recipients for {}: pass --age/--pgp, or add a creation rule to .sops.yaml (`runner secrets init`)",
        path.display()
    )]
    NoRecipients {
        /// The file being created.
        path: PathBuf,
    },
    /// A file outside a `demo/` directory would be encrypted to a recipient whose private key
    /// is in the working tree.
    #[error(
        "{}: refusing to encrypt to {}: anyone with this repository could read it. Fix: {}; \
         nothing was written (--allow-public-key overrides this check)",
        path.display(),
        exposed::describe(found),
        exposed::FIX
    )]
    PublicKey {
        /// The file that would be written.
        path: PathBuf,
        /// The recipients concerned and where their private keys are.
        found: Vec<exposed::TreeKey>,
    },
    /// Input that is not what the command expects (stdin lines, plaintext documents, …).
    #[error("{0}")]
    Input(String),
    /// A malformed file found outside the SOPS format layer.
    #[error("{0}")]
    Format(String),
    /// An error from the SOPS format layer (decrypt, MAC, key unwrap, parse); it names the file.
    #[error(transparent)]
    Sops(#[from] sops::SopsError),
}

impl SecretsError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_owned(), source }
    }

    /// Say which secrets file a key was being looked for (for [`SecretsError::KeyFile`]).
    pub fn needed_for(self, secrets_file: &Path) -> Self {
        match self {
            Self::KeyFile { var, path, reason, file: None } => {
                Self::KeyFile { var, path, reason, file: Some(secrets_file.to_owned()) }
            }
            other => other,
        }
    }
}

fn needed_for(file: Option<&Path>) -> String {
    file.map(|f| format!(" (needed to open {})", f.display())).unwrap_or_default()
}

/// What [`check_reference`] found about a secrets file, without decrypting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceCheck {
    /// The file checked: the one the name resolves to ([`store::resolve`]).
    pub path: PathBuf,
    /// Whether it exists.
    pub exists: bool,
    /// Whether it is the placeholder demo file (no file of that name in the secrets
    /// directory itself).
    pub demo: bool,
    /// Recipients whose private key is in the working tree (never reported for a demo file).
    pub public_keys: Vec<exposed::TreeKey>,
    /// age recipients in its metadata.
    pub age_recipients: Vec<String>,
    /// PGP fingerprints in its metadata.
    pub pgp_fingerprints: Vec<String>,
    /// Top-level key names (they are clear text in SOPS files).
    pub keys: Vec<String>,
    /// `sops.lastmodified` as written.
    pub last_modified: Option<String>,
    /// Whether an age identity or GnuPG secret key available here matches a recipient.
    pub key_available: bool,
}

impl ReferenceCheck {
    /// Keys of `required` missing from the file.
    pub fn missing_keys<'a>(&self, required: &[&'a str]) -> Vec<&'a str> {
        required.iter().copied().filter(|k| !self.keys.iter().any(|have| have == k)).collect()
    }
}

/// Check that the file `name` resolves to ([`store::resolve`]) exists and report its
/// recipients and keys, the recipients whose private key is in the working tree, and whether
/// a key available here could open it. Never decrypts. A missing file is not an error
/// (`exists: false`); an unreadable or malformed one is.
pub fn check_reference(secrets_dir: &Path, name: &str) -> Result<ReferenceCheck, SecretsError> {
    check_reference_with(secrets_dir, name, &keys::AgeKeys::discover()?)
}

/// [`check_reference`] with explicit age identities instead of the environment's (PGP
/// keys are still looked up in GnuPG).
pub fn check_reference_with(
    secrets_dir: &Path,
    name: &str,
    ages: &keys::AgeKeys,
) -> Result<ReferenceCheck, SecretsError> {
    let store::Resolved { path, demo } = store::resolve(secrets_dir, name)?;
    if !path.exists() {
        return Ok(ReferenceCheck {
            path,
            exists: false,
            demo,
            public_keys: Vec::new(),
            age_recipients: Vec::new(),
            pgp_fingerprints: Vec::new(),
            keys: Vec::new(),
            last_modified: None,
            key_available: false,
        });
    }
    let bytes = store::read(&path)?;
    let meta = vault::read_metadata(&bytes, vault::FileFormat::Yaml, &path)?;
    let key_available =
        meta.age.iter().any(|r| ages.can_open(r)) || meta.pgp.iter().any(|fp| keys::pgp_secret_available(fp));
    Ok(ReferenceCheck {
        public_keys: exposed::exposed(&path, &meta.age),
        path,
        exists: true,
        demo,
        age_recipients: meta.age,
        pgp_fingerprints: meta.pgp,
        keys: meta.keys,
        last_modified: meta.last_modified,
        key_available,
    })
}

/// Decrypt the file `name` resolves to ([`store::resolve`]) once, in memory (MAC verified).
pub fn load(secrets_dir: &Path, name: &str) -> Result<SecretMap, SecretsError> {
    let path = store::resolve(secrets_dir, name)?.path;
    load_with(secrets_dir, name, &keys::AgeKeys::discover().map_err(|e| e.needed_for(&path))?)
}

/// [`load`] with explicit age identities instead of the environment's (PGP through GnuPG).
pub fn load_with(secrets_dir: &Path, name: &str, ages: &keys::AgeKeys) -> Result<SecretMap, SecretsError> {
    let path = store::resolve(secrets_dir, name)?.path;
    let bytes = store::read(&path)?;
    vault::decrypt_to_map_with(&bytes, vault::FileFormat::Yaml, &path, ages)
}

/// The secret keys an adapter of `kind` needs (empty for kinds that need none, e.g. `paper`).
pub fn required_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "alpaca" => &["key_id", "secret_key"],
        "schwab" => &["app_key", "app_secret"],
        "coinbase" => &["api_key", "api_secret"],
        "polygon" => &["api_key"],
        "redis" => &["password"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_keys_per_adapter() {
        assert_eq!(required_keys("alpaca"), ["key_id", "secret_key"]);
        assert_eq!(required_keys("schwab"), ["app_key", "app_secret"]);
        assert_eq!(required_keys("coinbase"), ["api_key", "api_secret"]);
        assert_eq!(required_keys("polygon"), ["api_key"]);
        assert!(required_keys("paper").is_empty());
    }
}
