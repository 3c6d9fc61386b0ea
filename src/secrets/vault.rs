//! The vault operations behind `runner secrets …`, on top of the SOPS format core
//! (`super::sops`): metadata without decryption, decrypt to a [`SecretMap`] or to
//! plaintext, create/set/remove values keeping the data key, rotate the data key, change
//! recipients. Every function takes the file's bytes and returns new bytes; writing them
//! (atomically) is the caller's job, so a failure never touches the disk.

use std::path::Path;

use zeroize::Zeroizing;

use super::keys::AgeKeys;
use super::rules::CreationRule;
use super::{SecretMap, SecretString, SecretsError};

/// Document syntax of a SOPS file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// YAML (the default, and the secrets directory's format).
    Yaml,
    /// JSON (`.json`).
    Json,
    /// dotenv (`.env`).
    Dotenv,
}

impl FileFormat {
    /// Guess from the file name like sops: `.json` → JSON, `.env` → dotenv, else YAML.
    pub fn from_path(path: &Path) -> Self {
        let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        if name.ends_with(".json") {
            FileFormat::Json
        } else if name.ends_with(".env") || name == ".env" {
            FileFormat::Dotenv
        } else {
            FileFormat::Yaml
        }
    }
}

/// What a SOPS file says about itself in clear text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// age recipients (all key groups).
    pub age: Vec<String>,
    /// PGP fingerprints (all key groups).
    pub pgp: Vec<String>,
    /// Top-level keys of the document (clear text in SOPS files).
    pub keys: Vec<String>,
    /// `sops.lastmodified`.
    pub last_modified: Option<String>,
}

/// A change of recipients.
#[derive(Debug, Clone)]
pub struct RecipientChange {
    /// `true` to add, `false` to remove.
    pub add: bool,
    /// age recipients.
    pub age: Vec<String>,
    /// PGP fingerprints.
    pub pgp: Vec<String>,
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn parse_loose(bytes: &[u8], format: FileFormat, path: &Path) -> Result<serde_json::Value, SecretsError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| SecretsError::Format(format!("{}: malformed file: not UTF-8 text", display(path))))?;
    let malformed = |e: String| SecretsError::Format(format!("{}: malformed file: {e}", display(path)));
    match format {
        FileFormat::Yaml => serde_saphyr::from_str(text).map_err(|e| malformed(e.to_string())),
        FileFormat::Json => serde_json::from_str(text).map_err(|e| malformed(e.to_string())),
        FileFormat::Dotenv => {
            let mut map = serde_json::Map::new();
            for line in text.lines() {
                if line.trim().is_empty() || line.starts_with('#') {
                    continue;
                }
                if let Some((k, v)) = line.split_once('=') {
                    map.insert(k.to_owned(), serde_json::Value::String(v.to_owned()));
                }
            }
            Ok(serde_json::Value::Object(map))
        }
    }
}

/// Read recipients, keys and last-modified without decrypting anything (needs no key).
pub fn read_metadata(bytes: &[u8], format: FileFormat, path: &Path) -> Result<Metadata, SecretsError> {
    let doc = parse_loose(bytes, format, path)?;
    let not_sops =
        || SecretsError::Format(format!("{}: not a SOPS-encrypted file (no `sops` metadata)", display(path)));
    let obj = doc.as_object().ok_or_else(not_sops)?;
    let mut meta = Metadata::default();
    if format == FileFormat::Dotenv {
        for (k, v) in obj {
            if let Some(rest) = k.strip_prefix("sops_") {
                let v = v.as_str().unwrap_or_default().to_owned();
                if rest == "lastmodified" {
                    meta.last_modified = Some(v);
                } else if rest.ends_with("__map_recipient") && rest.contains("age__list_") {
                    meta.age.push(v);
                } else if rest.ends_with("__map_fp") && rest.contains("pgp__list_") {
                    meta.pgp.push(v);
                }
            } else {
                meta.keys.push(k.clone());
            }
        }
        if meta.last_modified.is_none() {
            return Err(not_sops());
        }
        return Ok(meta);
    }
    let sops = obj.get("sops").and_then(|s| s.as_object()).ok_or_else(not_sops)?;
    meta.keys = obj.keys().filter(|k| *k != "sops").cloned().collect();
    meta.last_modified = sops.get("lastmodified").and_then(|v| v.as_str()).map(str::to_owned);
    let mut collect = |group: &serde_json::Map<String, serde_json::Value>| {
        for e in group.get("age").and_then(|v| v.as_array()).into_iter().flatten() {
            if let Some(r) = e.get("recipient").and_then(|v| v.as_str()) {
                meta.age.push(r.to_owned());
            }
        }
        for e in group.get("pgp").and_then(|v| v.as_array()).into_iter().flatten() {
            if let Some(r) = e.get("fp").and_then(|v| v.as_str()) {
                meta.pgp.push(r.to_owned());
            }
        }
    };
    collect(sops);
    for g in sops.get("key_groups").and_then(|v| v.as_array()).into_iter().flatten() {
        if let Some(g) = g.as_object() {
            collect(g);
        }
    }
    Ok(meta)
}

fn keys_for(path: &Path) -> Result<AgeKeys, SecretsError> {
    let keys = AgeKeys::discover()?;
    tracing::debug!(file = %path.display(), age_identities = keys.recipients().len(), "keys for decryption");
    Ok(keys)
}

/// Decrypt (MAC verified) into a [`SecretMap`] of top-level keys (nested values flattened
/// as `outer.inner`, list items as `list.N`).
pub fn decrypt_to_map(bytes: &[u8], format: FileFormat, path: &Path) -> Result<SecretMap, SecretsError> {
    let _ = (bytes, format, keys_for(path)?);
    Err(SecretsError::Format("not wired yet".into()))
}

/// Decrypt (MAC verified) into the plaintext document (what `sops decrypt` prints).
pub fn decrypt_to_plaintext(
    bytes: &[u8],
    format: FileFormat,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    let _ = (bytes, format, keys_for(path)?);
    Err(SecretsError::Format("not wired yet".into()))
}

/// Encrypt a plaintext document for the rule's recipients (new data key).
pub fn encrypt_plaintext(
    plain: &[u8],
    format: FileFormat,
    path: &Path,
    rule: &CreationRule,
) -> Result<Vec<u8>, SecretsError> {
    let _ = (plain, format, path, rule);
    Err(SecretsError::Format("not wired yet".into()))
}

/// A new file holding `values` (top-level string keys).
pub fn create_with_values(
    values: &[(String, SecretString)],
    format: FileFormat,
    path: &Path,
    rule: &CreationRule,
) -> Result<Vec<u8>, SecretsError> {
    let _ = (values, format, path, rule);
    Err(SecretsError::Format("not wired yet".into()))
}

/// Set top-level string `values` in an existing file (same data key and recipients; fresh
/// IVs; MAC and lastmodified updated).
pub fn set_values(
    bytes: &[u8],
    format: FileFormat,
    path: &Path,
    values: &[(String, SecretString)],
) -> Result<Vec<u8>, SecretsError> {
    let _ = (bytes, format, path, values);
    Err(SecretsError::Format("not wired yet".into()))
}

/// Remove a top-level key (same data key; MAC and lastmodified updated).
pub fn remove_key(bytes: &[u8], format: FileFormat, path: &Path, key: &str) -> Result<Vec<u8>, SecretsError> {
    let _ = (bytes, format, path, key);
    Err(SecretsError::Format("not wired yet".into()))
}

/// Replace the whole plaintext (after `edit`), keeping data key and recipients.
pub fn replace_plaintext(
    bytes: &[u8],
    format: FileFormat,
    path: &Path,
    plain: &[u8],
) -> Result<Vec<u8>, SecretsError> {
    let _ = (bytes, format, path, plain);
    Err(SecretsError::Format("not wired yet".into()))
}

/// Re-encrypt everything under a new data key for the same recipients.
pub fn rotate(bytes: &[u8], format: FileFormat, path: &Path) -> Result<Vec<u8>, SecretsError> {
    let _ = (bytes, format, path);
    Err(SecretsError::Format("not wired yet".into()))
}

/// Add or remove recipients, re-wrapping the existing data key (like `sops updatekeys`).
pub fn update_recipients(
    bytes: &[u8],
    format: FileFormat,
    path: &Path,
    change: &RecipientChange,
) -> Result<Vec<u8>, SecretsError> {
    let _ = (bytes, format, path, change);
    Err(SecretsError::Format("not wired yet".into()))
}
