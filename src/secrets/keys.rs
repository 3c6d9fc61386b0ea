//! Finding the keys that can open secrets files here, the way sops finds them.
//!
//! age identities come from, in this order (all sources are collected):
//! 1. `SOPS_AGE_KEY` — the key text itself (one or more `AGE-SECRET-KEY-1…`, whitespace or
//!    newline separated, `#` comment lines allowed);
//! 2. `SOPS_AGE_KEY_FILE` — a key file;
//! 3. the default key file `$XDG_CONFIG_HOME/sops/age/keys.txt`, else
//!    `~/.config/sops/age/keys.txt`.
//!
//! PGP secret keys are looked up through GnuPG (gpgme, feature `pgp`), which honours
//! `GNUPGHOME` and uses gpg-agent for passphrases.
//!
//! Errors never contain key material: a bad line is reported by file and line number only.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;

use super::SecretsError;

/// Where an age identity was found (for messages; never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The `SOPS_AGE_KEY` environment variable.
    EnvKey,
    /// A key file (from `SOPS_AGE_KEY_FILE` or the default location).
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::EnvKey => f.write_str("$SOPS_AGE_KEY"),
            KeySource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The age identities available to this process.
#[derive(Default)]
pub struct AgeKeys {
    identities: Vec<(age::x25519::Identity, KeySource)>,
    sources: Vec<KeySource>,
}

impl std::fmt::Debug for AgeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgeKeys")
            .field("recipients", &self.recipients())
            .field("sources", &self.sources)
            .finish()
    }
}

impl AgeKeys {
    /// Find identities from the environment, like sops does (see the module docs).
    pub fn discover() -> Result<Self, SecretsError> {
        let mut keys = AgeKeys::default();
        if let Some(text) = std::env::var_os("SOPS_AGE_KEY").filter(|v| !v.is_empty()) {
            let text = text
                .to_str()
                .ok_or(SecretsError::BadKeyText { origin: KeySource::EnvKey.to_string(), line: 0 })?;
            keys.add_text(text, KeySource::EnvKey)?;
        }
        if let Some(path) = std::env::var_os("SOPS_AGE_KEY_FILE").filter(|v| !v.is_empty()) {
            let path = PathBuf::from(path);
            keys.add_file(&path)?;
        }
        if let Some(path) = default_key_file()
            && path.exists()
        {
            keys.add_file(&path)?;
        }
        tracing::debug!(recipients = ?keys.recipients(), "age identities found");
        Ok(keys)
    }

    /// Add the identities in a key file.
    pub fn add_file(&mut self, path: &Path) -> Result<(), SecretsError> {
        let text =
            zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| SecretsError::io(path, e))?);
        self.add_text(&text, KeySource::File(path.to_owned()))
    }

    /// Add identities from key text (key-file syntax).
    pub fn add_text(&mut self, text: &str, source: KeySource) -> Result<(), SecretsError> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            for word in line.split_whitespace() {
                if !word.starts_with("AGE-SECRET-KEY-1") {
                    if word.starts_with("AGE-") {
                        tracing::warn!(source = %source, line = n + 1, "skipping an unsupported age identity type");
                        continue;
                    }
                    return Err(SecretsError::BadKeyText { origin: source.to_string(), line: n + 1 });
                }
                let id = age::x25519::Identity::from_str(word)
                    .map_err(|_| SecretsError::BadKeyText { origin: source.to_string(), line: n + 1 })?;
                self.identities.push((id, source.clone()));
            }
        }
        if !self.sources.contains(&source) {
            self.sources.push(source);
        }
        Ok(())
    }

    /// The identities, for decryption.
    pub fn identities(&self) -> impl Iterator<Item = &age::x25519::Identity> {
        self.identities.iter().map(|(id, _)| id)
    }

    /// Public keys (`age1…`) of the identities.
    pub fn recipients(&self) -> Vec<String> {
        self.identities.iter().map(|(id, _)| id.to_public().to_string()).collect()
    }

    /// Where identities were looked for and found.
    pub fn sources(&self) -> &[KeySource] {
        &self.sources
    }

    /// Whether there is no identity at all.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }
}

/// The default age key file sops uses on Linux: `$XDG_CONFIG_HOME/sops/age/keys.txt`, else
/// `$HOME/.config/sops/age/keys.txt`. `None` when neither variable is usable.
pub fn default_key_file() -> Option<PathBuf> {
    let base =
        std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from).filter(|p| p.is_absolute()).or_else(|| {
            std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("sops").join("age").join("keys.txt"))
}

/// Create a new age identity in `path` (which must not exist yet), mode 0600, in the
/// `age-keygen` layout (`# created:` and `# public key:` header lines). Returns the public key.
pub fn generate_key_file(path: &Path) -> Result<String, SecretsError> {
    use std::io::Write;
    use std::os::unix::fs::DirBuilderExt;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|e| SecretsError::io(parent, e))?;
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    let created = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let text = zeroize::Zeroizing::new(format!(
        "# created: {created}\n# public key: {public}\n{}\n",
        id.to_string().expose_secret()
    ));
    let mut tmp = tempfile::Builder::new()
        .prefix(".runner-tmp-")
        .tempfile_in(parent)
        .map_err(|e| SecretsError::io(parent, e))?;
    tmp.write_all(text.as_bytes()).map_err(|e| SecretsError::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| SecretsError::io(path, e))?;
    // Never overwrite an existing identity.
    tmp.persist_noclobber(path).map_err(|e| SecretsError::io(path, e.error))?;
    std::fs::File::open(parent).and_then(|d| d.sync_all()).map_err(|e| SecretsError::io(parent, e))?;
    Ok(public)
}

/// Whether GnuPG here holds the secret key for fingerprint `fpr` (no passphrase needed).
#[cfg(feature = "pgp")]
pub fn pgp_secret_available(fpr: &str) -> bool {
    match gpgme::Context::from_protocol(gpgme::Protocol::OpenPgp) {
        Ok(mut ctx) => ctx.get_secret_key(fpr).is_ok(),
        Err(e) => {
            tracing::debug!(error = %e, "GnuPG is not usable");
            false
        }
    }
}

/// Without the `pgp` feature no PGP key is ever available.
#[cfg(not(feature = "pgp"))]
pub fn pgp_secret_available(_fpr: &str) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_parsing_and_errors_never_show_key_material() {
        let id = age::x25519::Identity::generate();
        let secret = id.to_string().expose_secret().to_owned();
        let mut keys = AgeKeys::default();
        keys.add_text(&format!("# a comment\n\n{secret}\n"), KeySource::EnvKey).unwrap();
        assert_eq!(keys.recipients(), vec![id.to_public().to_string()]);

        let bad = format!("{}X", &secret[..secret.len() - 1]);
        let err = keys.add_text(&format!("# c\n{bad}\n"), KeySource::EnvKey).unwrap_err().to_string();
        assert!(err.contains("line 2") && !err.contains(&bad[16..]), "{err}");
    }

    #[test]
    fn generated_key_file_has_header_and_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sops/age/keys.txt");
        let public = generate_key_file(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# created: "));
        assert!(text.contains(&format!("# public key: {public}\n")));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let mut keys = AgeKeys::default();
        keys.add_file(&path).unwrap();
        assert_eq!(keys.recipients(), vec![public]);
        assert!(generate_key_file(&path).is_err(), "never overwrites");
    }
}
