//! SOPS file format core: read and write YAML, JSON, dotenv, INI and binary files encrypted exactly as
//! Go sops 3.x does (per-value AES-256-GCM, SHA-512 MAC, age and PGP master keys, key groups
//! with Shamir), implemented here without the sops binary.
//!
//! # API (stable; the `runner secrets` commands build on it)
//! * [`Format`] — the stores `Yaml`, `Json`, `Dotenv`, `Ini`, `Binary`; [`Format::for_path`]
//!   picks one from the file name exactly as sops 3.11 does, [`Format::from_name`] reads a
//!   `--input-type` / `--output-type` value.
//! * [`KeySource`] — private keys offered for decryption: age X25519 identities, SSH keys
//!   ([`SshIdentity`], passphrase asked through [`KeySource::ssh_passphrase`] only for a file
//!   addressed to the key), identities looked up per recipient ([`RecipientKeys`], for
//!   `SOPS_AGE_KEY_CMD`), and/or PGP through GnuPG (`$GNUPGHOME`, or
//!   [`KeySource::gnupg_home`]). [`parse_age_identities`] reads an age key file's text;
//!   [`parse_age_recipient`] checks a recipient (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`).
//! * [`decrypt`]`(bytes, format, display_name, &keys) -> Decrypted` — verifies the MAC;
//!   [`Decrypted::doc`] is the [`PlainDocument`], [`PlainDocument::to_bytes`] prints it.
//! * [`PlainDocument::parse`] reads a plaintext file; [`encrypt`]`(&doc, format, &EncryptConfig)`
//!   writes a new encrypted file (fresh data key, fresh IV per value); [`encrypt_as`] reads
//!   with one store and writes with another.
//! * [`reencrypt`] writes a [`Decrypted`] (possibly edited through [`PlainDocument::set`] /
//!   [`PlainDocument::remove`]) again with the same data key and master keys, new MAC and
//!   `lastmodified`; [`set_value`] / [`remove_value`] do decrypt → edit → re-encrypt in one call.
//! * [`rotate`] — new data key, same recipients; [`update_recipients`] — re-wrap the existing
//!   data key for a new recipient set (like `sops updatekeys`).
//! * [`encrypt_binary`] / [`decrypt_binary`] — sops' binary store (any UTF-8 file as one value);
//!   [`encrypt_ini`] / [`decrypt_ini`] — sops' INI store.
//! * [`metadata()`] reads the `sops` block (recipients, `lastmodified`) without decrypting.
//! * Errors: one enum, [`SopsError`]; messages name the file and, for keys, the recipients tried.
//!
//! Secrets: the data key ([`DataKey`]) and plaintext documents are zeroized on drop, and their
//! `Debug` prints `[redacted]`.
//!
//! Compatibility: decrypted output is byte-identical to `sops decrypt` for the peer fixtures;
//! re-encryption keeps unchanged values' ciphertext (sops' IV stash); all six encryption rules
//! including `*_comment_regex` select the same values as sops 3.11. Not supported: age
//! plugin and post-quantum recipients, cloud KMS master keys (kept in the metadata, never
//! used).

pub mod cipher;
mod dotenv;
pub mod error;
mod ini;
mod json;
pub mod keys;
pub mod metadata;
mod shamir;
pub mod ssh;
pub mod tree;
mod walk;
mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, Zeroizing};

pub use cipher::DataKey;
pub use error::{Result, SopsError};
pub use keys::{
    AgeRecipient, GroupSpec, KeySource, RecipientKeys, parse_age_identities, parse_age_recipient,
};
pub use metadata::{AgeEntry, EncryptionRule, KeyGroup, Metadata, PgpEntry};
pub use ssh::{PassphraseFn, SshIdentity};
pub use tree::{ListItem, MapItem, Value};

/// A SOPS store: how a file's tree is read and written. sops 3.11 picks it from the file
/// name ([`Format::for_path`]) unless `--input-type` / `--output-type` name one
/// ([`Format::from_name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (multi-document, comments kept).
    Yaml,
    /// JSON (top-level object, key order kept).
    Json,
    /// dotenv (`KEY=VALUE` lines and `#` comments).
    Dotenv,
    /// INI (sections of `key = value` lines).
    Ini,
    /// Any UTF-8 file as one string `data`; the encrypted file is JSON (sops' binary store).
    Binary,
}

impl Format {
    /// The typed store for a file name as sops 3.11 decides it (`cmd/sops/formats`): the
    /// path ends in `.yaml` or `.yml` → YAML, `.json` → JSON, `.env` → dotenv, `.ini` →
    /// INI (case-sensitive, in that order); `None` for anything else, which sops treats as
    /// binary (see [`Format::for_path`]).
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.as_os_str().as_encoded_bytes();
        if name.ends_with(b".yaml") || name.ends_with(b".yml") {
            Some(Format::Yaml)
        } else if name.ends_with(b".json") {
            Some(Format::Json)
        } else if name.ends_with(b".env") {
            Some(Format::Dotenv)
        } else if name.ends_with(b".ini") {
            Some(Format::Ini)
        } else {
            None
        }
    }

    /// The store sops 3.11 uses for `path` when no type is given: [`Format::from_path`],
    /// binary for every other name.
    pub fn for_path(path: &Path) -> Format {
        Format::from_path(path).unwrap_or(Format::Binary)
    }

    /// The store named by a `--input-type` / `--output-type` value: `yaml`, `json`,
    /// `dotenv`, `ini` or `binary` (exact, lower case, as sops spells them).
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.flag() == name)
    }

    /// Every store, in the order the type flags list them.
    pub const ALL: [Format; 5] = [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary];

    /// The type-flag spelling: `yaml`, `json`, `dotenv`, `ini`, `binary`.
    pub fn flag(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }

    /// `YAML`, `JSON`, `dotenv`, `INI` or `binary` (for messages).
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Dotenv => "dotenv",
            Format::Ini => "INI",
            Format::Binary => "binary",
        }
    }
}

/// A plaintext document: one map per YAML document (one for JSON / dotenv), in file order,
/// with comments. Zeroized on drop; `Debug` shows only the structure.
#[derive(Clone, PartialEq)]
pub struct PlainDocument {
    branches: Vec<Vec<MapItem>>,
}

impl fmt::Debug for PlainDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainDocument([redacted])")
    }
}

impl Drop for PlainDocument {
    fn drop(&mut self) {
        for b in &mut self.branches {
            let mut v = Value::Map(std::mem::take(b));
            v.zeroize();
        }
    }
}

fn split_path<'a>(path: &'a [&'a str], file: &str) -> Result<(&'a [&'a str], &'a str)> {
    match path.split_last() {
        Some((last, parents)) => Ok((parents, last)),
        None => Err(SopsError::Path { file: file.to_string(), reason: "empty key path".into() }),
    }
}

impl PlainDocument {
    /// A document from its branches (maps).
    pub fn from_branches(branches: Vec<Vec<MapItem>>) -> PlainDocument {
        PlainDocument { branches }
    }

    /// Parses a plaintext file. Refuses a document that already has a top-level `sops` key.
    pub fn parse(bytes: &[u8], format: Format, file: &str) -> Result<PlainDocument> {
        let branches = parse_store(bytes, format, file, false)?;
        if branches.iter().any(|b| metadata::has_sops(b)) {
            return Err(SopsError::AlreadyEncrypted { file: file.to_string() });
        }
        Ok(PlainDocument { branches })
    }

    /// Prints the document in `format` (what `sops decrypt` prints).
    pub fn to_bytes(&self, format: Format) -> Result<Zeroizing<Vec<u8>>> {
        emit_store(&self.branches, format, None).map(Zeroizing::new)
    }

    /// The document's maps (one per YAML document).
    pub fn branches(&self) -> &[Vec<MapItem>] {
        &self.branches
    }

    /// Mutable access to the maps.
    pub fn branches_mut(&mut self) -> &mut Vec<Vec<MapItem>> {
        &mut self.branches
    }

    /// The value at a key path in the first document.
    pub fn get(&self, path: &[&str]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        let mut v = tree::map_get(self.branches.first()?, first)?;
        for k in rest {
            v = v.get(k)?;
        }
        Some(v)
    }

    /// Sets the value at a key path in the first document, creating intermediate maps;
    /// an existing key keeps its position, a new key is appended.
    pub fn set(&mut self, path: &[&str], value: Value) -> Result<()> {
        let file = "document";
        let (parents, last) = split_path(path, file)?;
        if path.first() == Some(&"sops") {
            return Err(SopsError::Path {
                file: file.into(),
                reason: "the top-level key `sops` is reserved".into(),
            });
        }
        if self.branches.is_empty() {
            self.branches.push(vec![]);
        }
        let mut items = &mut self.branches[0];
        for (i, k) in parents.iter().enumerate() {
            if tree::map_get(items, k).is_none() {
                items.push(MapItem::Pair(k.to_string(), Value::Map(vec![])));
            }
            match tree::map_get_mut(items, k) {
                Some(Value::Map(m)) => items = m,
                _ => {
                    return Err(SopsError::Path {
                        file: file.into(),
                        reason: format!("`{}` is not a map", path[..=i].join(".")),
                    });
                }
            }
        }
        match tree::map_get_mut(items, last) {
            Some(v) => *v = value,
            None => items.push(MapItem::Pair(last.to_string(), value)),
        }
        Ok(())
    }

    /// Removes the key at a path in the first document; returns whether it existed.
    pub fn remove(&mut self, path: &[&str]) -> bool {
        let Some((last, parents)) = path.split_last() else { return false };
        let Some(mut items) = self.branches.first_mut() else { return false };
        for k in parents {
            match tree::map_get_mut(items, k) {
                Some(Value::Map(m)) => items = m,
                _ => return false,
            }
        }
        tree::map_remove(items, last).is_some()
    }
}

/// A decrypted file: the plaintext, its metadata and the data key (to write it back).
#[derive(Debug, Clone)]
pub struct Decrypted {
    /// The plaintext document.
    pub doc: PlainDocument,
    /// The metadata as read (master keys, rule, lastmodified…).
    pub metadata: Metadata,
    data_key: DataKey,
    stash: walk::IvStash,
}

impl Decrypted {
    /// The data key.
    pub fn data_key(&self) -> &DataKey {
        &self.data_key
    }
}

/// What [`encrypt`] needs: recipients, Shamir threshold, which values to encrypt.
#[derive(Debug, Clone, Default)]
pub struct EncryptConfig {
    /// Key groups; one group for the usual "these recipients" case.
    pub key_groups: Vec<GroupSpec>,
    /// Shares needed with several groups (default: all groups).
    pub shamir_threshold: Option<usize>,
    /// Which values are encrypted (default `unencrypted_suffix: _unencrypted`).
    pub rule: EncryptionRule,
    /// MAC only over encrypted values.
    pub mac_only_encrypted: bool,
    /// GnuPG home for PGP recipients (`None`: `$GNUPGHOME` or `~/.gnupg`).
    pub gnupg_home: Option<PathBuf>,
}

impl EncryptConfig {
    /// One key group with these age recipients and PGP fingerprints, default rule.
    pub fn new(age: Vec<String>, pgp: Vec<String>) -> EncryptConfig {
        EncryptConfig { key_groups: vec![GroupSpec { age, pgp }], ..Default::default() }
    }
}

fn parse_store(bytes: &[u8], store: Format, file: &str, encrypted: bool) -> Result<Vec<Vec<MapItem>>> {
    match store {
        Format::Binary if encrypted => json::parse(bytes, file).map(|b| vec![b]),
        Format::Binary => {
            let text = std::str::from_utf8(bytes).map_err(|_| SopsError::Malformed {
                file: file.to_string(),
                format: "binary",
                reason: "the content is not UTF-8 (sops' JSON encoding would alter it)".into(),
            })?;
            Ok(vec![vec![MapItem::Pair("data".into(), Value::Str(text.to_string()))]])
        }
        Format::Yaml => yaml::parse(bytes, file),
        Format::Json => json::parse(bytes, file).map(|b| vec![b]),
        Format::Dotenv => dotenv::parse(bytes, file).map(|b| vec![b]),
        Format::Ini => ini::parse(bytes, file).map(|b| vec![b]),
    }
}

fn emit_store(branches: &[Vec<MapItem>], store: Format, sops: Option<&Value>) -> Result<Vec<u8>> {
    match store {
        Format::Yaml => Ok(yaml::emit(branches, sops)),
        Format::Binary if sops.is_some() => emit_store(branches, Format::Json, sops),
        Format::Binary => match branches {
            [b] => match tree::map_get(b, "data") {
                Some(Value::Str(s)) => Ok(s.as_bytes().to_vec()),
                _ => Err(SopsError::Unsupported("a binary-store document needs a string `data` key".into())),
            },
            _ => Err(SopsError::Unsupported("a binary-store document holds exactly one document".into())),
        },
        Format::Json | Format::Dotenv | Format::Ini => {
            let [branch] = branches else {
                return Err(SopsError::Unsupported(format!(
                    "{} files hold exactly one document, this one has {}",
                    store.name(),
                    branches.len()
                )));
            };
            match store {
                Format::Json => Ok(json::emit(branch, sops)),
                Format::Ini => ini::emit(branch, sops),
                _ => dotenv::emit(branch, sops),
            }
        }
    }
}

/// Parses an encrypted file into (encrypted branches, metadata).
fn parse_encrypted(bytes: &[u8], store: Format, file: &str) -> Result<(Vec<Vec<MapItem>>, Metadata)> {
    let mut branches = parse_store(bytes, store, file, true)?;
    let mut sops = None;
    for b in branches.iter_mut() {
        let s = metadata::take_sops(b);
        if sops.is_none() {
            sops = s;
        }
    }
    let sops = sops.ok_or_else(|| SopsError::NotEncrypted { file: file.to_string() })?;
    let meta = Metadata::from_value(&sops, file)?;
    Ok((branches, meta))
}

/// The top-level key names of an encrypted file (sections for INI, `data` for binary),
/// without decrypting anything; `sops` is left out.
pub fn top_level_keys(bytes: &[u8], format: Format, file: &str) -> Result<Vec<String>> {
    let (branches, _) = parse_encrypted(bytes, format, file)?;
    let keys = branches
        .first()
        .map(|b| {
            b.iter()
                .filter_map(|i| match i {
                    MapItem::Pair(k, _) => Some(k.clone()),
                    MapItem::Comment(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(keys)
}

/// Reads the metadata (recipients, `lastmodified`, rule) without decrypting anything.
pub fn metadata(bytes: &[u8], format: Format, file: &str) -> Result<Metadata> {
    parse_encrypted(bytes, format, file).map(|(_, m)| m)
}

/// Decrypts a file with the offered keys and verifies its MAC. `file` names it in errors.
pub fn decrypt(bytes: &[u8], format: Format, file: &str, keys: &KeySource) -> Result<Decrypted> {
    decrypt_store(bytes, format, file, keys)
}

fn decrypt_store(bytes: &[u8], store: Format, file: &str, keys: &KeySource) -> Result<Decrypted> {
    let (mut branches, meta) = parse_encrypted(bytes, store, file)?;
    let key = keys::data_key(&meta, keys, file)?;
    let mut stash = walk::IvStash::default();
    decrypt_with_key(&mut branches, &meta, &key, &mut stash, file)?;
    Ok(Decrypted { doc: PlainDocument { branches }, metadata: meta, data_key: key, stash })
}

fn decrypt_with_key(
    branches: &mut [Vec<MapItem>],
    meta: &Metadata,
    key: &DataKey,
    stash: &mut walk::IvStash,
    file: &str,
) -> Result<()> {
    let computed = walk::decrypt_branches(branches, key, &meta.rule, meta.mac_only_encrypted, stash, file)?;
    if meta.mac.is_empty() {
        return Err(SopsError::MacMismatch { file: file.to_string(), reason: "the file has no MAC".into() });
    }
    let (stored, _) =
        cipher::decrypt(&meta.mac, key, &meta.lastmodified).map_err(|e| SopsError::MacMismatch {
            file: file.to_string(),
            reason: format!("cannot decrypt the stored MAC ({e}); was `lastmodified` or the MAC edited?"),
        })?;
    if stored.as_slice() != computed.as_bytes() {
        let mut reason =
            "the content does not match the stored MAC (the file was modified or corrupted)".to_string();
        if is_comment_rule(&meta.rule) {
            reason.push_str(&format!(
                "; note: with {} sops 3.11 can write files it cannot read itself (an encrypted \
                 comment inside a list hides the comments above it)",
                rule_name(&meta.rule)
            ));
        }
        return Err(SopsError::MacMismatch { file: file.to_string(), reason });
    }
    Ok(())
}

/// The current time as sops writes `lastmodified` (RFC 3339 UTC, seconds, `Z`).
fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Encrypts `branches` with `key` and writes the file with `meta` (whose `lastmodified`,
/// `mac` and `version` are replaced).
fn write_encrypted(
    branches: &[Vec<MapItem>],
    store: Format,
    mut meta: Metadata,
    key: &DataKey,
    stash: &walk::IvStash,
    file: &str,
) -> Result<Vec<u8>> {
    let mut enc = branches.to_vec();
    let mac =
        walk::encrypt_branches(&mut enc, key, &meta.rule, meta.mac_only_encrypted, &mut stash.clone(), file)?;
    meta.lastmodified = now_rfc3339();
    meta.mac = cipher::encrypt(mac.as_bytes(), cipher::ValueType::Str, key, &meta.lastmodified)
        .map_err(|e| SopsError::Value { file: file.to_string(), path: "sops:mac:".into(), reason: e })?;
    meta.version = metadata::WRITER_VERSION.to_string();
    let out = emit_store(&enc, store, Some(&meta.to_value()))?;
    if is_comment_rule(&meta.rule) {
        // With a comment rule, what a reader decides can differ from what the writer decided
        // (Go sops 3.11 writes an encrypted comment inside a list as a list entry, which then
        // hides the comments above it); sops writes such files anyway and then cannot read
        // them. Read ours back and refuse instead.
        let (mut back, back_meta) = parse_encrypted(&out, store, file)?;
        decrypt_with_key(&mut back, &back_meta, key, &mut walk::IvStash::default(), file).map_err(|_| {
            SopsError::Unsupported(format!(
                "with this {} the encrypted file could not be decrypted again (by sops 3.11 \
                 either): inside a list, an encrypted comment is written as a list entry and hides \
                 the comments above it from the entries below. Keep only the matching comment \
                 directly above the list entry; nothing was written",
                rule_name(&meta.rule)
            ))
        })?;
    }
    Ok(out)
}

fn is_comment_rule(rule: &EncryptionRule) -> bool {
    matches!(rule, EncryptionRule::UnencryptedCommentRegex(_) | EncryptionRule::EncryptedCommentRegex(_))
}

fn rule_name(rule: &EncryptionRule) -> &'static str {
    match rule {
        EncryptionRule::UnencryptedCommentRegex(_) => "unencrypted_comment_regex",
        EncryptionRule::EncryptedCommentRegex(_) => "encrypted_comment_regex",
        _ => "rule",
    }
}

/// Encrypts a plaintext document for the recipients of `cfg` with a fresh data key.
pub fn encrypt(doc: &PlainDocument, format: Format, cfg: &EncryptConfig) -> Result<Vec<u8>> {
    encrypt_store(doc, format, format, cfg)
}

/// Like [`encrypt`] for a document read with the `input` store and written with the
/// `output` store (`sops encrypt --input-type … --output-type …`). As in sops, a document
/// read with the binary store (one `data` value) is encrypted whole: no suffix, regex or
/// comment rule applies and none is written to the metadata.
pub fn encrypt_as(
    doc: &PlainDocument,
    input: Format,
    output: Format,
    cfg: &EncryptConfig,
) -> Result<Vec<u8>> {
    encrypt_store(doc, input, output, cfg)
}

/// Encrypts any bytes (UTF-8) like `sops encrypt --input-type binary --output-type json`:
/// the file becomes one encrypted string `data` in a JSON sops file.
pub fn encrypt_binary(plain: &[u8], cfg: &EncryptConfig) -> Result<Vec<u8>> {
    let doc = PlainDocument { branches: parse_store(plain, Format::Binary, "input", false)? };
    encrypt_store(&doc, Format::Binary, Format::Binary, cfg)
}

/// Decrypts a binary-store file (`sops decrypt --input-type json --output-type binary`).
pub fn decrypt_binary(bytes: &[u8], file: &str, keys: &KeySource) -> Result<Zeroizing<Vec<u8>>> {
    let dec = decrypt_store(bytes, Format::Binary, file, keys)?;
    emit_store(&dec.doc.branches, Format::Binary, None).map(Zeroizing::new)
}

/// Encrypts an INI file like `sops encrypt` does for `.ini` files.
pub fn encrypt_ini(plain: &[u8], cfg: &EncryptConfig) -> Result<Vec<u8>> {
    let doc = PlainDocument { branches: parse_store(plain, Format::Ini, "input", false)? };
    if doc.branches.iter().any(|b| metadata::has_sops(b)) {
        return Err(SopsError::AlreadyEncrypted { file: "input".into() });
    }
    encrypt_store(&doc, Format::Ini, Format::Ini, cfg)
}

/// Decrypts an INI file; returns the plaintext INI text (as `sops decrypt` prints it).
pub fn decrypt_ini(bytes: &[u8], file: &str, keys: &KeySource) -> Result<Zeroizing<Vec<u8>>> {
    let dec = decrypt_store(bytes, Format::Ini, file, keys)?;
    emit_store(&dec.doc.branches, Format::Ini, None).map(Zeroizing::new)
}

fn encrypt_store(doc: &PlainDocument, input: Format, store: Format, cfg: &EncryptConfig) -> Result<Vec<u8>> {
    if doc.branches.iter().any(|b| metadata::has_sops(b)) {
        return Err(SopsError::AlreadyEncrypted { file: "document".into() });
    }
    if store == Format::Dotenv {
        check_dotenv(doc)?;
    }
    let key = DataKey::generate();
    let now = now_rfc3339();
    let key_groups =
        keys::wrap_groups(&key, &cfg.key_groups, cfg.shamir_threshold, cfg.gnupg_home.as_deref(), &now)?;
    let meta = Metadata {
        shamir_threshold: if key_groups.len() > 1 {
            cfg.shamir_threshold.or(Some(key_groups.len()))
        } else {
            None
        },
        key_groups,
        lastmodified: now,
        mac: String::new(),
        // sops' binary store holds one value that is always encrypted: no rule applies.
        rule: if input == Format::Binary { EncryptionRule::None } else { cfg.rule.clone() },
        mac_only_encrypted: cfg.mac_only_encrypted && input != Format::Binary,
        version: String::new(),
    };
    write_encrypted(&doc.branches, store, meta, &key, &walk::IvStash::default(), "document")
}

fn check_dotenv(doc: &PlainDocument) -> Result<()> {
    for b in &doc.branches {
        for item in b {
            if let MapItem::Pair(k, v) = item
                && !matches!(v, Value::Str(_))
            {
                return Err(SopsError::Unsupported(format!(
                    "dotenv values must be strings; `{k}` is a {}",
                    v.kind()
                )));
            }
        }
    }
    Ok(())
}

/// Writes a decrypted (possibly edited) document again with the same data key and master
/// keys, new MAC and `lastmodified`. Unchanged values keep their ciphertext (sops' IV stash);
/// changed and new values get fresh IVs.
pub fn reencrypt(dec: &Decrypted, format: Format) -> Result<Vec<u8>> {
    if format == Format::Dotenv {
        check_dotenv(&dec.doc)?;
    }
    write_encrypted(&dec.doc.branches, format, dec.metadata.clone(), &dec.data_key, &dec.stash, "document")
}

/// Decrypts, sets the value at `path` (see [`PlainDocument::set`]) and re-encrypts with the same data key.
pub fn set_value(
    bytes: &[u8],
    format: Format,
    file: &str,
    keys: &KeySource,
    path: &[&str],
    value: Value,
) -> Result<Vec<u8>> {
    let mut dec = decrypt(bytes, format, file, keys)?;
    dec.doc.set(path, value).map_err(|e| match e {
        SopsError::Path { reason, .. } => SopsError::Path { file: file.to_string(), reason },
        other => other,
    })?;
    reencrypt(&dec, format)
}

/// Decrypts, removes the key at `path` (error if absent) and re-encrypts with the same data key.
pub fn remove_value(
    bytes: &[u8],
    format: Format,
    file: &str,
    keys: &KeySource,
    path: &[&str],
) -> Result<Vec<u8>> {
    let mut dec = decrypt(bytes, format, file, keys)?;
    if !dec.doc.remove(path) {
        return Err(SopsError::Path {
            file: file.to_string(),
            reason: format!("no key `{}`", path.join(".")),
        });
    }
    reencrypt(&dec, format)
}

fn specs_of(meta: &Metadata, file: &str) -> Result<Vec<GroupSpec>> {
    meta.key_groups
        .iter()
        .map(|g| {
            if let Some((k, _)) = g.other.first() {
                return Err(SopsError::Unsupported(format!(
                    "{file}: master keys of type `{k}` are not supported"
                )));
            }
            Ok(GroupSpec {
                age: g.age.iter().map(|a| a.recipient.clone()).collect(),
                pgp: g.pgp.iter().map(|p| p.fp.clone()).collect(),
            })
        })
        .collect()
}

/// Rotates the data key: decrypts, then encrypts again with a new data key for the same recipients.
pub fn rotate(bytes: &[u8], format: Format, file: &str, keys: &KeySource) -> Result<Vec<u8>> {
    let dec = decrypt(bytes, format, file, keys)?;
    let specs = specs_of(&dec.metadata, file)?;
    let key = DataKey::generate();
    let mut meta = dec.metadata.clone();
    meta.key_groups =
        keys::wrap_groups(&key, &specs, meta.shamir_threshold, keys.gnupg_home.as_deref(), &now_rfc3339())?;
    write_encrypted(&dec.doc.branches, format, meta, &key, &walk::IvStash::default(), file)
}

/// Re-wraps the existing data key for a new set of key groups (like `sops updatekeys`);
/// values, MAC and data key are unchanged in meaning.
pub fn update_recipients(
    bytes: &[u8],
    format: Format,
    file: &str,
    keys: &KeySource,
    groups: &[GroupSpec],
    shamir_threshold: Option<usize>,
) -> Result<Vec<u8>> {
    let dec = decrypt(bytes, format, file, keys)?;
    let mut meta = dec.metadata.clone();
    meta.key_groups = keys::wrap_groups(
        &dec.data_key,
        groups,
        shamir_threshold,
        keys.gnupg_home.as_deref(),
        &now_rfc3339(),
    )?;
    meta.shamir_threshold =
        if meta.key_groups.len() > 1 { shamir_threshold.or(Some(groups.len())) } else { None };
    write_encrypted(&dec.doc.branches, format, meta, &dec.data_key, &dec.stash, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_from_the_name_as_sops_3_11_picks_it() {
        let cases = [
            ("a.yaml", Format::Yaml),
            ("dir/a.sops.yml", Format::Yaml),
            ("a.json", Format::Json),
            (".env", Format::Dotenv),
            ("prod.env", Format::Dotenv),
            ("a.ini", Format::Ini),
            // Everything else is binary, including near misses sops does not special-case.
            (".env.local", Format::Binary),
            ("a.YAML", Format::Binary),
            ("notes.txt", Format::Binary),
            ("Makefile", Format::Binary),
            ("a.yaml.bak", Format::Binary),
        ];
        for (name, want) in cases {
            assert_eq!(Format::for_path(Path::new(name)), want, "{name}");
        }
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.flag()), Some(f));
        }
        assert_eq!(Format::from_name("YAML"), None);
        assert_eq!(Format::from_name("toml"), None);
    }
}
