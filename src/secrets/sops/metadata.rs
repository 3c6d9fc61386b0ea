//! The `sops` metadata block: master keys (age, PGP, key groups, Shamir threshold),
//! `lastmodified`, `mac`, the encryption rule and `version`, read from and written to the tree.

use super::error::{Result, SopsError};
use super::tree::{MapItem, Value, map_get};

/// The `version` our writer puts in the metadata (a semver Go sops parses).
pub const WRITER_VERSION: &str = "3.11.0";

/// Which values are encrypted (at most one rule per file, as in sops).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncryptionRule {
    /// No rule at all (binary store): everything is encrypted.
    None,
    /// Keys with a path component ending in this suffix stay clear (sops default `_unencrypted`).
    UnencryptedSuffix(String),
    /// Only keys with a path component ending in this suffix are encrypted.
    EncryptedSuffix(String),
    /// Keys with a path component matching this (RE2-style) regex stay clear.
    UnencryptedRegex(String),
    /// Only keys with a path component matching this regex are encrypted.
    EncryptedRegex(String),
    /// Entries below a comment matching this regex stay clear (see `walk` for the exact rule).
    UnencryptedCommentRegex(String),
    /// Only entries below a comment matching this regex are encrypted.
    EncryptedCommentRegex(String),
}

impl Default for EncryptionRule {
    fn default() -> Self {
        EncryptionRule::UnencryptedSuffix("_unencrypted".into())
    }
}

impl EncryptionRule {
    /// The metadata / `.sops.yaml` key and value of this rule (`None` for [`Self::None`]).
    pub fn entry(&self) -> Option<(&'static str, &str)> {
        Some(match self {
            EncryptionRule::None => return None,
            EncryptionRule::UnencryptedSuffix(s) => ("unencrypted_suffix", s),
            EncryptionRule::EncryptedSuffix(s) => ("encrypted_suffix", s),
            EncryptionRule::UnencryptedRegex(s) => ("unencrypted_regex", s),
            EncryptionRule::EncryptedRegex(s) => ("encrypted_regex", s),
            EncryptionRule::UnencryptedCommentRegex(s) => ("unencrypted_comment_regex", s),
            EncryptionRule::EncryptedCommentRegex(s) => ("encrypted_comment_regex", s),
        })
    }

    /// The regular expression of a regex rule.
    pub fn regex(&self) -> Option<&str> {
        match self {
            EncryptionRule::UnencryptedRegex(re)
            | EncryptionRule::EncryptedRegex(re)
            | EncryptionRule::UnencryptedCommentRegex(re)
            | EncryptionRule::EncryptedCommentRegex(re) => Some(re),
            _ => None,
        }
    }
}

/// One age master key: the recipient and the armored age file holding the wrapped data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeEntry {
    /// Recipient: `age1…`, `ssh-ed25519 …` or `ssh-rsa …` (as written, comment included).
    pub recipient: String,
    /// Armored age file (`-----BEGIN AGE ENCRYPTED FILE-----`).
    pub enc: String,
}

/// One PGP master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgpEntry {
    /// 40-hex fingerprint.
    pub fp: String,
    /// RFC 3339 UTC time the data key was wrapped.
    pub created_at: String,
    /// Armored PGP message.
    pub enc: String,
}

/// A key group: any one of its keys yields the group's share (or the whole data key).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyGroup {
    /// age master keys.
    pub age: Vec<AgeEntry>,
    /// PGP master keys.
    pub pgp: Vec<PgpEntry>,
    /// Other master keys (kms, gcp_kms, azure_kv, hc_vault, hckms) kept verbatim.
    pub other: Vec<(String, Value)>,
}

impl KeyGroup {
    /// Human-readable names of the recipients in this group.
    pub fn recipients(&self) -> Vec<String> {
        let mut v: Vec<String> = self.age.iter().map(|a| format!("age {}", a.recipient)).collect();
        v.extend(self.pgp.iter().map(|p| format!("pgp {}", p.fp)));
        for (k, val) in &self.other {
            if let Value::List(items) = val
                && !items.is_empty()
            {
                v.push(format!("{k} ({} keys, not supported)", items.len()));
            }
        }
        v
    }
}

/// The parsed `sops` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// Key groups (one group when the file has keys at the top level).
    pub key_groups: Vec<KeyGroup>,
    /// Shares needed with several key groups.
    pub shamir_threshold: Option<usize>,
    /// `lastmodified` exactly as stored (RFC 3339 UTC).
    pub lastmodified: String,
    /// The encrypted MAC (`ENC[…,type:str]`), empty if absent.
    pub mac: String,
    /// The encryption rule.
    pub rule: EncryptionRule,
    /// Whether the MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
    /// `version` of the writer.
    pub version: String,
}

const OTHER_KEYS: [&str; 5] = ["kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"];

fn scalar_string(v: &Value) -> Option<String> {
    Some(match v {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => super::cipher::go_format_float_f(*f),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    })
}

fn list_of_maps<'a>(v: Option<&'a Value>, what: &str, file: &str) -> Result<Vec<&'a Value>> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::List(items)) => Ok(items
            .iter()
            .filter_map(|i| match i {
                super::tree::ListItem::Value(v) => Some(v),
                super::tree::ListItem::Comment(_) => None,
            })
            .collect()),
        Some(_) => Err(meta_err(file, format!("`{what}` is not a list"))),
    }
}

fn meta_err(file: &str, reason: String) -> SopsError {
    SopsError::Metadata { file: file.to_string(), reason }
}

fn field(v: &Value, key: &str, what: &str, file: &str) -> Result<String> {
    v.get(key).and_then(scalar_string).ok_or_else(|| meta_err(file, format!("{what} entry lacks `{key}`")))
}

fn parse_group(v: &Value, file: &str) -> Result<KeyGroup> {
    let mut g = KeyGroup::default();
    for a in list_of_maps(v.get("age"), "age", file)? {
        g.age.push(AgeEntry {
            recipient: field(a, "recipient", "age", file)?,
            enc: field(a, "enc", "age", file)?,
        });
    }
    for p in list_of_maps(v.get("pgp"), "pgp", file)? {
        g.pgp.push(PgpEntry {
            fp: field(p, "fp", "pgp", file)?,
            created_at: p.get("created_at").and_then(scalar_string).unwrap_or_default(),
            enc: field(p, "enc", "pgp", file)?,
        });
    }
    for k in OTHER_KEYS {
        if let Some(val @ Value::List(items)) = v.get(k)
            && !items.is_empty()
        {
            g.other.push((k.to_string(), val.clone()));
        }
    }
    Ok(g)
}

impl Metadata {
    /// Reads the metadata from the value of the top-level `sops` key.
    pub fn from_value(v: &Value, file: &str) -> Result<Metadata> {
        if !matches!(v, Value::Map(_)) {
            return Err(meta_err(file, "`sops` is not a map".into()));
        }
        let groups = list_of_maps(v.get("key_groups"), "key_groups", file)?;
        let key_groups = if groups.is_empty() {
            vec![parse_group(v, file)?]
        } else {
            groups.into_iter().map(|g| parse_group(g, file)).collect::<Result<Vec<_>>>()?
        };
        let shamir_threshold = match v.get("shamir_threshold").and_then(scalar_string) {
            None => None,
            Some(s) if s.is_empty() => None,
            Some(s) => {
                Some(s.parse::<usize>().map_err(|_| meta_err(file, "invalid `shamir_threshold`".into()))?)
            }
        };
        let lastmodified = v
            .get("lastmodified")
            .and_then(scalar_string)
            .ok_or_else(|| meta_err(file, "missing `lastmodified`".into()))?;
        let mac = v.get("mac").and_then(scalar_string).unwrap_or_default();
        let s = |k: &str| v.get(k).and_then(scalar_string).filter(|s| !s.is_empty());
        let mut rules = vec![];
        if let Some(x) = s("unencrypted_suffix") {
            rules.push(EncryptionRule::UnencryptedSuffix(x));
        }
        if let Some(x) = s("encrypted_suffix") {
            rules.push(EncryptionRule::EncryptedSuffix(x));
        }
        if let Some(x) = s("unencrypted_regex") {
            rules.push(EncryptionRule::UnencryptedRegex(x));
        }
        if let Some(x) = s("encrypted_regex") {
            rules.push(EncryptionRule::EncryptedRegex(x));
        }
        if let Some(x) = s("unencrypted_comment_regex") {
            rules.push(EncryptionRule::UnencryptedCommentRegex(x));
        }
        if let Some(x) = s("encrypted_comment_regex") {
            rules.push(EncryptionRule::EncryptedCommentRegex(x));
        }
        if rules.len() > 1 {
            return Err(meta_err(file, "more than one of the *_suffix / *_regex options is set".into()));
        }
        let rule = rules.pop().unwrap_or_default();
        let mac_only_encrypted = match v.get("mac_only_encrypted") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => scalar_string(other)
                .and_then(|s| super::cipher::go_parse_bool(&s))
                .ok_or_else(|| meta_err(file, "invalid `mac_only_encrypted`".into()))?,
        };
        let version = v.get("version").and_then(scalar_string).unwrap_or_default();
        Ok(Metadata { key_groups, shamir_threshold, lastmodified, mac, rule, mac_only_encrypted, version })
    }

    /// Every recipient of the file, for messages.
    pub fn recipients(&self) -> Vec<String> {
        self.key_groups.iter().flat_map(KeyGroup::recipients).collect()
    }

    /// The metadata as the value of the `sops` key (keys in alphabetical order, like current sops).
    pub fn to_value(&self) -> Value {
        let mut items: Vec<(String, Value)> = vec![];
        let str_ = |s: &str| Value::Str(s.to_string());
        if self.key_groups.len() == 1 {
            items.extend(group_entries(&self.key_groups[0], false));
        } else {
            let groups = self
                .key_groups
                .iter()
                .map(|g| {
                    let mut e = group_entries(g, true);
                    e.sort_by(|a, b| a.0.cmp(&b.0));
                    super::tree::ListItem::Value(Value::Map(
                        e.into_iter().map(|(k, v)| MapItem::Pair(k, v)).collect(),
                    ))
                })
                .collect();
            items.push(("key_groups".into(), Value::List(groups)));
            let t = self.shamir_threshold.unwrap_or(self.key_groups.len());
            items.push(("shamir_threshold".into(), Value::Int(t as i64)));
        }
        items.push(("lastmodified".into(), str_(&self.lastmodified)));
        items.push(("mac".into(), str_(&self.mac)));
        if self.mac_only_encrypted {
            items.push(("mac_only_encrypted".into(), Value::Bool(true)));
        }
        if let Some((k, v)) = self.rule.entry() {
            items.push((k.to_string(), str_(v)));
        }
        items.push(("version".into(), str_(&self.version)));
        items.sort_by(|a, b| a.0.cmp(&b.0));
        Value::Map(items.into_iter().map(|(k, v)| MapItem::Pair(k, v)).collect())
    }
}

fn group_entries(g: &KeyGroup, in_group: bool) -> Vec<(String, Value)> {
    use super::tree::ListItem;
    let mut out = vec![];
    let entry = |pairs: Vec<(&str, &str)>| {
        ListItem::Value(Value::Map(
            pairs.into_iter().map(|(k, v)| MapItem::Pair(k.to_string(), Value::Str(v.to_string()))).collect(),
        ))
    };
    if !g.age.is_empty() || in_group {
        out.push((
            "age".to_string(),
            Value::List(
                g.age.iter().map(|a| entry(vec![("recipient", &a.recipient), ("enc", &a.enc)])).collect(),
            ),
        ));
    }
    if !g.pgp.is_empty() {
        out.push((
            "pgp".to_string(),
            Value::List(
                g.pgp
                    .iter()
                    .map(|p| entry(vec![("created_at", &p.created_at), ("enc", &p.enc), ("fp", &p.fp)]))
                    .collect(),
            ),
        ));
    }
    let mut has_vault = false;
    for (k, v) in &g.other {
        has_vault |= k == "hc_vault";
        out.push((k.clone(), v.clone()));
    }
    if in_group && !has_vault {
        out.push(("hc_vault".into(), Value::List(vec![])));
    }
    out
}

/// Splits a parsed document into (data items, metadata value) by removing the top-level `sops` key.
pub fn take_sops(items: &mut Vec<MapItem>) -> Option<Value> {
    super::tree::map_remove(items, "sops")
}

/// Whether an item list has a top-level `sops` key.
pub fn has_sops(items: &[MapItem]) -> bool {
    map_get(items, "sops").is_some()
}
