//! The vault operations behind `runner secrets …`, on top of the SOPS format core
//! ([`super::sops`]): metadata without decryption, decrypt to a [`SecretMap`] or to
//! plaintext, create/set/remove values keeping the data key, rotate the data key, change
//! recipients. Every function takes the file's bytes and returns new bytes; writing them
//! (atomically) is the caller's job, so a failure never touches the disk.

use std::path::Path;

use zeroize::Zeroizing;

use super::keys::AgeKeys;
use super::rules::CreationRule;
use super::sops::{self, Decrypted, EncryptConfig, GroupSpec, KeySource, MapItem, PlainDocument, Value};
use super::{SecretMap, SecretString, SecretsError};

pub use super::sops::Format as FileFormat;

/// The store for `path` as sops 3.11 picks it from the name: `.yaml`/`.yml`, `.json`,
/// `.env`, `.ini`, and the binary store for any other name (see [`FileFormat::for_path`]).
pub fn format_of(path: &Path) -> FileFormat {
    FileFormat::for_path(path)
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

/// Read recipients, keys and last-modified without decrypting anything (needs no key).
pub fn read_metadata(bytes: &[u8], format: FileFormat, path: &Path) -> Result<Metadata, SecretsError> {
    let file = display(path);
    let meta = sops::metadata(bytes, format, &file)?;
    let mut out = Metadata { last_modified: Some(meta.lastmodified.clone()), ..Metadata::default() };
    for g in &meta.key_groups {
        out.age.extend(g.age.iter().map(|a| a.recipient.clone()));
        out.pgp.extend(g.pgp.iter().map(|p| p.fp.clone()));
    }
    out.keys = top_level_keys(bytes, format, &file)?;
    Ok(out)
}

/// Top-level key names of an encrypted file (keys are clear text in SOPS files). Uses a
/// loose parse that never looks at values.
fn top_level_keys(bytes: &[u8], format: FileFormat, file: &str) -> Result<Vec<String>, SecretsError> {
    let malformed = |e: String| SecretsError::Format(format!("{file}: malformed file: {e}"));
    let text = std::str::from_utf8(bytes).map_err(|_| malformed("not UTF-8 text".into()))?;
    let keys: Vec<String> = match format {
        FileFormat::Dotenv => text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_owned()))
            .filter(|k| !k.starts_with("sops_"))
            .collect(),
        FileFormat::Json => {
            let v: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
            v.keys().cloned().collect()
        }
        FileFormat::Yaml => {
            // Only the first document's keys; values are parsed as opaque YAML.
            let docs: Vec<serde_json::Map<String, serde_json::Value>> =
                serde_saphyr::from_str_multiple(text).map_err(|e| malformed(e.to_string()))?;
            docs.into_iter().next().map(|m| m.keys().cloned().collect()).unwrap_or_default()
        }
        FileFormat::Ini | FileFormat::Binary => sops::top_level_keys(bytes, format, file)?,
    };
    Ok(keys.into_iter().filter(|k| k != "sops").collect())
}

/// The key source offered to the SOPS core: these age identities plus GnuPG.
fn key_source(ages: &AgeKeys) -> KeySource {
    ages.key_source()
}

fn decrypt(bytes: &[u8], format: FileFormat, path: &Path, ages: &AgeKeys) -> Result<Decrypted, SecretsError> {
    tracing::debug!(file = %path.display(), keys = ?ages, "decrypting");
    Ok(sops::decrypt(bytes, format, &display(path), &key_source(ages))?)
}

/// The environment's keys, needed to open `path` (named in a key-file error).
fn env_keys_for(path: &Path) -> Result<AgeKeys, SecretsError> {
    AgeKeys::discover().map_err(|e| e.needed_for(path))
}

/// Decrypt (MAC verified) with the environment's keys into a [`SecretMap`].
pub fn decrypt_to_map(bytes: &[u8], format: FileFormat, path: &Path) -> Result<SecretMap, SecretsError> {
    decrypt_to_map_with(bytes, format, path, &env_keys_for(path)?)
}

/// Decrypt (MAC verified) into a [`SecretMap`] of the first document's keys: nested maps
/// are flattened as `outer.inner`, list items as `list.N`; nulls are left out.
pub fn decrypt_to_map_with(
    bytes: &[u8],
    format: FileFormat,
    path: &Path,
    ages: &AgeKeys,
) -> Result<SecretMap, SecretsError> {
    let dec = decrypt(bytes, format, path, ages)?;
    let mut map = SecretMap::new();
    if let Some(first) = dec.doc.branches().first() {
        flatten_map(first, "", &mut map);
    }
    Ok(map)
}

fn flatten_map(items: &[MapItem], prefix: &str, out: &mut SecretMap) {
    for item in items {
        if let MapItem::Pair(k, v) = item {
            flatten_value(v, &format!("{prefix}{k}"), out);
        }
    }
}

fn flatten_value(v: &Value, key: &str, out: &mut SecretMap) {
    match v {
        Value::Null => {}
        Value::Map(items) => flatten_map(items, &format!("{key}."), out),
        Value::List(items) => {
            let values = items.iter().filter_map(|i| match i {
                sops::ListItem::Value(v) => Some(v),
                sops::ListItem::Comment(_) => None,
            });
            for (n, v) in values.enumerate() {
                flatten_value(v, &format!("{key}.{n}"), out);
            }
        }
        Value::Bool(b) => out.insert(key, SecretString::from(if *b { "true" } else { "false" })),
        scalar => {
            if let Some((bytes, _)) = sops::cipher::scalar_bytes(scalar) {
                out.insert(key, SecretString::new(String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
}

/// Decrypt (MAC verified) into the plaintext document (what `sops decrypt` prints).
pub fn decrypt_to_plaintext(
    bytes: &[u8],
    format: FileFormat,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    decrypt_converted(bytes, format, format, path)
}

/// Decrypt (MAC verified) a file read with the `input` store and print the plaintext with
/// the `output` store (`sops decrypt --input-type … --output-type …`).
pub fn decrypt_converted(
    bytes: &[u8],
    input: FileFormat,
    output: FileFormat,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    let dec = decrypt(bytes, input, path, &env_keys_for(path)?)?;
    Ok(dec.doc.to_bytes(output)?)
}

/// The SOPS core's encryption settings for a creation rule.
pub fn encrypt_config(rule: &CreationRule) -> EncryptConfig {
    EncryptConfig {
        key_groups: rule
            .key_groups
            .iter()
            .map(|g| GroupSpec { age: g.age.clone(), pgp: g.pgp.clone() })
            .collect(),
        shamir_threshold: rule.shamir_threshold,
        rule: rule.selector.clone().unwrap_or_default(),
        mac_only_encrypted: rule.mac_only_encrypted,
        gnupg_home: None,
    }
}

/// Check that `rule` gives a new file at `path` at least one recipient and that every age
/// recipient is one sops accepts (nothing is encrypted yet).
pub fn check_recipients(rule: &CreationRule, path: &Path) -> Result<(), SecretsError> {
    if rule.is_empty() {
        return Err(SecretsError::NoRecipients { path: path.to_owned() });
    }
    for r in rule.all_age() {
        check_age_recipient(&r)?;
    }
    Ok(())
}

/// An age recipient sops accepts: `age1…`, `ssh-ed25519 …` or `ssh-rsa …`.
fn check_age_recipient(r: &str) -> Result<(), SecretsError> {
    sops::parse_age_recipient(r)
        .map(|_| ())
        .map_err(|why| SecretsError::Input(format!("age recipient {r:?}: {why}")))
}

/// Encrypt a plaintext document for the rule's recipients (new data key).
pub fn encrypt_plaintext(
    plain: &[u8],
    format: FileFormat,
    path: &Path,
    rule: &CreationRule,
) -> Result<Vec<u8>, SecretsError> {
    encrypt_converted(plain, format, format, path, rule)
}

/// Encrypt a plaintext document read with the `input` store, writing the encrypted file
/// with the `output` store (`sops encrypt --input-type … --output-type …`).
pub fn encrypt_converted(
    plain: &[u8],
    input: FileFormat,
    output: FileFormat,
    path: &Path,
    rule: &CreationRule,
) -> Result<Vec<u8>, SecretsError> {
    check_recipients(rule, path)?;
    let doc = PlainDocument::parse(plain, input, &display(path))?;
    Ok(sops::encrypt_as(&doc, input, output, &encrypt_config(rule))?)
}

/// A new file holding `values` (top-level string keys).
pub fn create_with_values(
    values: &[(String, SecretString)],
    format: FileFormat,
    path: &Path,
    rule: &CreationRule,
) -> Result<Vec<u8>, SecretsError> {
    check_recipients(rule, path)?;
    let items =
        values.iter().map(|(k, v)| MapItem::Pair(k.clone(), Value::Str(v.expose().to_owned()))).collect();
    let doc = PlainDocument::from_branches(vec![items]);
    Ok(sops::encrypt(&doc, format, &encrypt_config(rule))?)
}

/// Set top-level string `values` in an existing file (same data key and recipients; fresh
/// IVs; MAC and lastmodified updated).
pub fn set_values(
    bytes: &[u8],
    format: FileFormat,
    path: &Path,
    values: &[(String, SecretString)],
) -> Result<Vec<u8>, SecretsError> {
    let mut dec = decrypt(bytes, format, path, &env_keys_for(path)?)?;
    for (k, v) in values {
        dec.doc.set(&[k.as_str()], Value::Str(v.expose().to_owned()))?;
    }
    Ok(sops::reencrypt(&dec, format)?)
}

/// Remove a top-level key (same data key; MAC and lastmodified updated).
pub fn remove_key(bytes: &[u8], format: FileFormat, path: &Path, key: &str) -> Result<Vec<u8>, SecretsError> {
    let mut dec = decrypt(bytes, format, path, &env_keys_for(path)?)?;
    if !dec.doc.remove(&[key]) {
        return Err(SecretsError::MissingKey { path: path.to_owned(), key: key.to_owned() });
    }
    Ok(sops::reencrypt(&dec, format)?)
}

/// Replace the whole plaintext (after `edit`), keeping data key and recipients.
pub fn replace_plaintext(
    bytes: &[u8],
    format: FileFormat,
    path: &Path,
    plain: &[u8],
) -> Result<Vec<u8>, SecretsError> {
    EditSession::open(bytes, format, path)?.replace(plain)
}

/// A file decrypted once for editing: [`EditSession::plaintext`] to edit, then
/// [`EditSession::replace`] as often as needed (an invalid edit can be corrected and tried
/// again without decrypting, or asking for a passphrase, again).
pub struct EditSession {
    dec: Decrypted,
    format: FileFormat,
    path: std::path::PathBuf,
}

impl std::fmt::Debug for EditSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EditSession").field("path", &self.path).finish_non_exhaustive()
    }
}

impl EditSession {
    /// Decrypt (MAC verified) with the environment's keys.
    pub fn open(bytes: &[u8], format: FileFormat, path: &Path) -> Result<Self, SecretsError> {
        let dec = decrypt(bytes, format, path, &env_keys_for(path)?)?;
        Ok(Self { dec, format, path: path.to_owned() })
    }

    /// The plaintext to edit (what `sops decrypt` prints).
    pub fn plaintext(&self) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        Ok(self.dec.doc.to_bytes(self.format)?)
    }

    /// The encrypted file holding `plain` instead (same data key and recipients; unchanged
    /// values keep their ciphertext). An error here is about `plain` itself (it does not
    /// parse, or cannot be written in this format); nothing is written.
    pub fn replace(&self, plain: &[u8]) -> Result<Vec<u8>, SecretsError> {
        let mut dec = self.dec.clone();
        dec.doc = PlainDocument::parse(plain, self.format, &format!("edited {}", display(&self.path)))?;
        Ok(sops::reencrypt(&dec, self.format)?)
    }
}

/// Re-encrypt everything under a new data key for the same recipients.
pub fn rotate(bytes: &[u8], format: FileFormat, path: &Path) -> Result<Vec<u8>, SecretsError> {
    let ages = env_keys_for(path)?;
    Ok(sops::rotate(bytes, format, &display(path), &key_source(&ages))?)
}

/// Add or remove recipients, re-wrapping the existing data key (like `sops updatekeys`).
/// Added recipients go to the first key group; removed ones leave every group. Removing a
/// recipient that is not there, or the last one, is an error.
pub fn update_recipients(
    bytes: &[u8],
    format: FileFormat,
    path: &Path,
    change: &RecipientChange,
) -> Result<Vec<u8>, SecretsError> {
    let file = display(path);
    let meta = sops::metadata(bytes, format, &file)?;
    let threshold = meta.shamir_threshold;
    let mut groups: Vec<GroupSpec> = meta
        .key_groups
        .iter()
        .map(|g| GroupSpec {
            age: g.age.iter().map(|a| a.recipient.clone()).collect(),
            pgp: g.pgp.iter().map(|p| p.fp.clone()).collect(),
        })
        .collect();
    if groups.is_empty() {
        groups.push(GroupSpec::default());
    }
    let pgp: Vec<String> = change.pgp.iter().map(|f| super::rules::normalize_fpr(f)).collect();
    if change.add {
        for r in &change.age {
            check_age_recipient(r)?;
            let same = |a: &String| sops::ssh::normalize_recipient(a) == sops::ssh::normalize_recipient(r);
            if !groups.iter().any(|g| g.age.iter().any(same)) {
                groups[0].age.push(r.clone());
            }
        }
        for f in &pgp {
            if !groups.iter().any(|g| g.pgp.contains(f)) {
                groups[0].pgp.push(f.clone());
            }
        }
    } else {
        for r in &change.age {
            let same = |a: &String| sops::ssh::normalize_recipient(a) == sops::ssh::normalize_recipient(r);
            if !groups.iter().any(|g| g.age.iter().any(same)) {
                return Err(SecretsError::Input(format!("{file}: {r} is not a recipient")));
            }
            groups.iter_mut().for_each(|g| g.age.retain(|a| !same(a)));
        }
        for f in &pgp {
            if !groups.iter().any(|g| g.pgp.contains(f)) {
                return Err(SecretsError::Input(format!("{file}: PGP key {f} is not a recipient")));
            }
            groups.iter_mut().for_each(|g| g.pgp.retain(|a| a != f));
        }
        if groups.iter().any(|g| g.age.is_empty() && g.pgp.is_empty()) {
            return Err(SecretsError::Input(format!(
                "{file}: refusing to remove the last recipient of a key group (nobody could open the file)"
            )));
        }
    }
    let ages = env_keys_for(path)?;
    Ok(sops::update_recipients(bytes, format, &file, &key_source(&ages), &groups, threshold)?)
}
