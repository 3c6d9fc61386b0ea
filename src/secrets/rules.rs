//! `.sops.yaml` creation rules: which recipients a new file is encrypted to.
//!
//! As in sops: the config file is found by walking up from the current directory; the
//! first rule whose `path_regex` matches the file's path (relative to the config file's
//! directory) wins; a rule without `path_regex` matches everything. `age`/`pgp` may be a
//! comma-separated string or a list; `key_groups` (with `shamir_threshold`) replace them when
//! present. At most one of the `*_suffix` / `*_regex` options may be set.
//!
//! [`extend_for_init`] adds a rule for the secrets directory to an existing config by
//! inserting text, so the user's other rules and comments stay as they were. The rule it
//! writes never holds a key whose private half is in the working tree.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::SecretsError;
use super::exposed::TreeKey;
use super::sops::{EncryptionRule, ssh::normalize_recipient};

/// Name of the sops config file.
pub const CONFIG_NAME: &str = ".sops.yaml";

/// One key group: recipients that each can open the data key (or a Shamir share of it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyGroup {
    /// age recipients (`age1…`).
    pub age: Vec<String>,
    /// PGP fingerprints (40 hex, upper case, no spaces).
    pub pgp: Vec<String>,
}

/// A resolved creation rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreationRule {
    /// The rule's `path_regex` (empty = matches everything).
    pub path_regex: String,
    /// Key groups (one group for a flat rule).
    pub key_groups: Vec<KeyGroup>,
    /// Shares needed with several key groups (`None` = all groups).
    pub shamir_threshold: Option<usize>,
    /// Which values get encrypted; `None`: the sops default (keys ending in `_unencrypted`
    /// stay clear).
    pub selector: Option<EncryptionRule>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
}

impl CreationRule {
    /// A one-group rule from explicit recipients (command-line `--age` / `--pgp`).
    pub fn from_recipients(age: Vec<String>, pgp: Vec<String>) -> Self {
        let pgp = dedup(pgp.iter().map(|f| normalize_fpr(f)).collect());
        Self { key_groups: vec![KeyGroup { age: dedup(age), pgp }], ..Self::default() }
    }

    /// Every age recipient of every group.
    pub fn all_age(&self) -> Vec<String> {
        self.key_groups.iter().flat_map(|g| g.age.iter().cloned()).collect()
    }

    /// Every PGP fingerprint of every group.
    pub fn all_pgp(&self) -> Vec<String> {
        self.key_groups.iter().flat_map(|g| g.pgp.iter().cloned()).collect()
    }

    /// Whether the rule names no recipient at all.
    pub fn is_empty(&self) -> bool {
        self.key_groups.iter().all(|g| g.age.is_empty() && g.pgp.is_empty())
    }
}

/// A loaded `.sops.yaml`.
#[derive(Debug, Clone)]
pub struct SopsConfig {
    /// Where it was read from.
    pub path: PathBuf,
    /// The rules in file order.
    pub rules: Vec<CreationRule>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn items(self) -> Vec<String> {
        let raw = match self {
            StringOrList::One(s) => s.split(',').map(str::to_owned).collect(),
            StringOrList::Many(v) => v,
        };
        let mut out: Vec<String> = Vec::new();
        for item in raw {
            let item = item.trim().to_owned();
            if !item.is_empty() && !out.contains(&item) {
                out.push(item);
            }
        }
        out
    }
}

#[derive(Deserialize, Default)]
struct RawFile {
    #[serde(default)]
    creation_rules: Option<Vec<RawRule>>,
}

#[derive(Deserialize, Default)]
struct RawGroup {
    #[serde(default)]
    age: Option<Vec<String>>,
    #[serde(default)]
    pgp: Option<Vec<String>>,
    #[serde(default)]
    kms: Option<serde_json::Value>,
    #[serde(default)]
    gcp_kms: Option<serde_json::Value>,
    #[serde(default)]
    azure_keyvault: Option<serde_json::Value>,
    #[serde(default)]
    hc_vault: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct RawRule {
    #[serde(default)]
    path_regex: Option<String>,
    #[serde(default)]
    age: Option<StringOrList>,
    #[serde(default)]
    pgp: Option<StringOrList>,
    #[serde(default)]
    key_groups: Option<Vec<RawGroup>>,
    #[serde(default)]
    shamir_threshold: Option<usize>,
    #[serde(default)]
    unencrypted_suffix: Option<String>,
    #[serde(default)]
    encrypted_suffix: Option<String>,
    #[serde(default)]
    unencrypted_regex: Option<String>,
    #[serde(default)]
    encrypted_regex: Option<String>,
    #[serde(default)]
    unencrypted_comment_regex: Option<String>,
    #[serde(default)]
    encrypted_comment_regex: Option<String>,
    #[serde(default)]
    mac_only_encrypted: Option<bool>,
    #[serde(default)]
    kms: Option<serde_json::Value>,
    #[serde(default)]
    gcp_kms: Option<serde_json::Value>,
    #[serde(default)]
    azure_keyvault: Option<serde_json::Value>,
    #[serde(default)]
    hc_vault_transit_uri: Option<serde_json::Value>,
}

/// A PGP fingerprint as sops stores it: no spaces, upper case.
pub fn normalize_fpr(fpr: &str) -> String {
    fpr.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase()
}

impl SopsConfig {
    /// Parse config text; `path` is used for messages and relative matching.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SecretsError> {
        let bad = |message: String| SecretsError::Config { path: path.to_owned(), message };
        let raw: RawFile = if text.trim().is_empty() {
            RawFile::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| bad(e.to_string()))?
        };
        let mut rules = Vec::new();
        for (i, r) in raw.creation_rules.unwrap_or_default().into_iter().enumerate() {
            let n = i + 1;
            let cloud = r.kms.is_some()
                || r.gcp_kms.is_some()
                || r.azure_keyvault.is_some()
                || r.hc_vault_transit_uri.is_some();
            let key_groups = match r.key_groups {
                Some(groups) if !groups.is_empty() => {
                    let mut out = Vec::new();
                    for g in groups {
                        if g.kms.is_some()
                            || g.gcp_kms.is_some()
                            || g.azure_keyvault.is_some()
                            || g.hc_vault.is_some()
                        {
                            tracing::warn!(
                                rule = n,
                                "cloud KMS keys in .sops.yaml are not supported and are ignored"
                            );
                        }
                        out.push(KeyGroup {
                            age: dedup(g.age.unwrap_or_default()),
                            pgp: dedup(g.pgp.unwrap_or_default().iter().map(|f| normalize_fpr(f)).collect()),
                        });
                    }
                    out
                }
                _ => vec![KeyGroup {
                    age: r.age.map(StringOrList::items).unwrap_or_default(),
                    pgp: r
                        .pgp
                        .map(StringOrList::items)
                        .unwrap_or_default()
                        .iter()
                        .map(|f| normalize_fpr(f))
                        .collect(),
                }],
            };
            if cloud {
                tracing::warn!(rule = n, "cloud KMS keys in .sops.yaml are not supported and are ignored");
            }
            let mut selectors = Vec::new();
            if let Some(s) = r.unencrypted_suffix {
                selectors.push(EncryptionRule::UnencryptedSuffix(s));
            }
            if let Some(s) = r.encrypted_suffix {
                selectors.push(EncryptionRule::EncryptedSuffix(s));
            }
            if let Some(s) = r.unencrypted_regex {
                selectors.push(EncryptionRule::UnencryptedRegex(s));
            }
            if let Some(s) = r.encrypted_regex {
                selectors.push(EncryptionRule::EncryptedRegex(s));
            }
            if let Some(s) = r.unencrypted_comment_regex {
                selectors.push(EncryptionRule::UnencryptedCommentRegex(s));
            }
            if let Some(s) = r.encrypted_comment_regex {
                selectors.push(EncryptionRule::EncryptedCommentRegex(s));
            }
            if selectors.len() > 1 {
                return Err(bad(format!(
                    "creation rule {n} sets more than one of unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex, unencrypted_comment_regex, encrypted_comment_regex"
                )));
            }
            for sel in &selectors {
                if let Some(re) = sel.regex() {
                    regex::Regex::new(re)
                        .map_err(|e| bad(format!("creation rule {n}: `{re}` is not a valid regex: {e}")))?;
                }
            }
            let path_regex = r.path_regex.unwrap_or_default();
            if !path_regex.is_empty() {
                regex::Regex::new(&path_regex)
                    .map_err(|e| bad(format!("creation rule {n}: path_regex is not a valid regex: {e}")))?;
            }
            if let Some(t) = r.shamir_threshold
                && (t == 0 || t > key_groups.len().max(1))
                && key_groups.len() > 1
            {
                return Err(bad(format!(
                    "creation rule {n}: shamir_threshold {t} must be between 1 and the number of key groups ({})",
                    key_groups.len()
                )));
            }
            rules.push(CreationRule {
                path_regex,
                key_groups,
                shamir_threshold: r.shamir_threshold,
                selector: selectors.pop(),
                mac_only_encrypted: r.mac_only_encrypted.unwrap_or(false),
            });
        }
        Ok(Self { path: path.to_owned(), rules })
    }

    /// Read and parse a config file.
    pub fn load(path: &Path) -> Result<Self, SecretsError> {
        let text = std::fs::read_to_string(path).map_err(|e| SecretsError::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Find `.sops.yaml` by walking up from `start` (made absolute) and load it.
    pub fn find(start: &Path) -> Result<Option<Self>, SecretsError> {
        match find_config_file(start) {
            Some(p) => Self::load(&p).map(Some),
            None => Ok(None),
        }
    }

    /// The directory the config lives in (paths are matched relative to it).
    pub fn base_dir(&self) -> PathBuf {
        absolute(self.path.parent().unwrap_or(Path::new(".")))
    }

    /// The first rule matching `file` (any path; made relative to the config's directory).
    pub fn rule_for(&self, file: &Path) -> Option<&CreationRule> {
        self.rule_index_for(file).map(|i| &self.rules[i])
    }

    /// The position (0-based) of the first rule matching `file`.
    pub fn rule_index_for(&self, file: &Path) -> Option<usize> {
        let abs = absolute(file);
        let base = self.base_dir();
        let rel = abs.strip_prefix(&base).unwrap_or(&abs);
        let rel = rel.to_string_lossy();
        self.rules.iter().position(|r| {
            r.path_regex.is_empty() || regex::Regex::new(&r.path_regex).is_ok_and(|re| re.is_match(&rel))
        })
    }
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        let i = i.trim().to_owned();
        if !i.is_empty() && !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// `path` made absolute against the current directory, with `.`/`..` folded lexically.
pub fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Walk up from `start` looking for `.sops.yaml` (at most 100 levels, like sops).
pub fn find_config_file(start: &Path) -> Option<PathBuf> {
    let mut dir = absolute(start);
    for _ in 0..100 {
        let candidate = dir.join(CONFIG_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if !dir.pop() {
            break;
        }
    }
    None
}

/// The `path_regex` `runner secrets init` writes for secrets directory `rel_dir`
/// (relative to the config's directory).
pub fn path_regex_for_dir(rel_dir: &Path) -> String {
    let rel = rel_dir.to_string_lossy();
    let rel = rel.trim_end_matches('/');
    if rel.is_empty() || rel == "." {
        r"\.sops\.(yaml|yml|json|env)$".to_owned()
    } else {
        format!(r"^{}/.*\.sops\.(yaml|yml|json|env)$", regex::escape(rel))
    }
}

/// What [`extend_for_init`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitChange {
    /// The matching rule already encrypts to the recipient and to no key in the working
    /// tree: nothing to write.
    AlreadyCovered {
        /// Its position in `creation_rules` (1-based).
        index: usize,
    },
    /// New config text to write, with the rule it adds.
    Write {
        /// The whole new config.
        text: String,
        /// The rule added.
        rule: NewRule,
    },
}

/// The creation rule [`extend_for_init`] adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRule {
    /// Its position in `creation_rules` (1-based).
    pub index: usize,
    /// Its `path_regex`.
    pub path_regex: String,
    /// Its age recipients (the new one first).
    pub age: Vec<String>,
    /// Its PGP fingerprints.
    pub pgp: Vec<String>,
    /// Recipients of the rule that matched before that it leaves out: their private key is
    /// in the working tree.
    pub left_out: Vec<TreeKey>,
}

/// Make sure new files in `secrets_dir` are encrypted to `age_recipient`, and to no key of
/// `public` (private keys found in the working tree), by the config at `config_path` (whose
/// current text is `existing`, or `None` when there is none yet).
///
/// If the matching rule already includes the recipient and no public key, nothing changes.
/// Otherwise a new rule is inserted just before the rule that matched (so it takes over the
/// secrets directory and nothing else), or appended when none did. It carries the
/// recipients of the rule that matched before (so teammates keep access to new files) except
/// public ones, plus the new one. The text is inserted, not re-serialized, so other rules and
/// comments stay intact; the result is parsed again before it is returned.
pub fn extend_for_init(
    config_path: &Path,
    existing: Option<&str>,
    secrets_dir: &Path,
    age_recipient: &str,
    public: &[TreeKey],
) -> Result<InitChange, SecretsError> {
    let base = absolute(config_path.parent().unwrap_or(Path::new(".")));
    let abs_dir = absolute(secrets_dir);
    let rel_dir = abs_dir.strip_prefix(&base).map(Path::to_path_buf).map_err(|_| SecretsError::Config {
        path: config_path.to_owned(),
        message: format!("the secrets directory {} is outside the config's directory", abs_dir.display()),
    })?;
    let probe = abs_dir.join(format!("probe{}", super::store::SUFFIX));
    let public_key = |r: &str| public.iter().find(|k| k.recipient == normalize_recipient(r));
    let clean = |rule: &CreationRule| {
        let age = rule.all_age();
        age.iter().any(|r| r == age_recipient) && !age.iter().any(|r| public_key(r).is_some())
    };
    let mut group = KeyGroup::default();
    let mut previous = None;
    if let Some(text) = existing {
        let config = SopsConfig::parse(text, config_path)?;
        if let Some(i) = config.rule_index_for(&probe) {
            let rule = &config.rules[i];
            if clean(rule) {
                return Ok(InitChange::AlreadyCovered { index: i + 1 });
            }
            if rule.key_groups.len() > 1 {
                return Err(SecretsError::Config {
                    path: config_path.to_owned(),
                    message: format!(
                        "the rule matching {} uses key groups; add {age_recipient} to it by hand",
                        abs_dir.display()
                    ),
                });
            }
            group = rule.key_groups.first().cloned().unwrap_or_default();
            previous = Some((i, rule.clone()));
        }
    }
    let mut left_out = Vec::new();
    group.age.retain(|r| match public_key(r) {
        Some(k) => {
            left_out.push(k.clone());
            false
        }
        None => r != age_recipient,
    });
    group.age.insert(0, age_recipient.to_owned());
    let path_regex = path_regex_for_dir(&rel_dir);
    let mut rule = String::new();
    rule.push_str(&format!("  - path_regex: {}\n", quote(&path_regex)));
    rule.push_str("    age: >-\n");
    let n = group.age.len();
    for (i, a) in group.age.iter().enumerate() {
        rule.push_str(&format!("      {a}{}\n", if i + 1 < n { "," } else { "" }));
    }
    if !group.pgp.is_empty() {
        rule.push_str(&format!("    pgp: {}\n", group.pgp.join(",")));
    }
    if let Some((_, prev)) = &previous {
        if let Some((key, value)) = prev.selector.as_ref().and_then(EncryptionRule::entry) {
            rule.push_str(&format!("    {key}: {}\n", quote(value)));
        }
        if prev.mac_only_encrypted {
            rule.push_str("    mac_only_encrypted: true\n");
        }
    }
    let text = match existing {
        None => format!(
            "# Written by `runner secrets init`. Rules are tried in order; the first match wins.\ncreation_rules:\n{rule}"
        ),
        Some(text) => insert_rule(text, &rule, previous.map(|(i, _)| i)),
    };
    let parsed = SopsConfig::parse(&text, config_path)?;
    let index = parsed.rule_index_for(&probe).filter(|&i| clean(&parsed.rules[i])).ok_or_else(|| {
        SecretsError::Config {
            path: config_path.to_owned(),
            message: "could not add a creation rule automatically; add one by hand (see docs/secrets.md)"
                .into(),
        }
    })?;
    Ok(InitChange::Write {
        text,
        rule: NewRule { index: index + 1, path_regex, age: group.age, pgp: group.pgp, left_out },
    })
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Insert `rule` (indented by two spaces, `  - …`) into `creation_rules`, re-indented to
/// match the existing items: just before item `before` (0-based; above the comment lines
/// directly over it) or, with `None`, after the last item. The key is appended when missing.
fn insert_rule(text: &str, rule: &str, before: Option<usize>) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(key_at) = lines.iter().position(|l| l.trim_end() == "creation_rules:") else {
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("creation_rules:\n");
        out.push_str(rule);
        return out;
    };
    let indent_of = |l: &str| l.len() - l.trim_start().len();
    let is_note = |l: &str| l.trim().is_empty() || l.trim_start().starts_with('#');
    // The list runs until the next top-level key (block sequences may be unindented).
    let block_end = lines[key_at + 1..]
        .iter()
        .position(|l| !is_note(l) && indent_of(l) == 0 && !l.starts_with("- "))
        .map_or(lines.len(), |p| key_at + 1 + p);
    let items: Vec<usize> =
        (key_at + 1..block_end).filter(|&i| lines[i].trim_start().starts_with("- ")).collect();
    let indent = items.first().map_or(2, |&i| indent_of(lines[i]));
    let at = match before.and_then(|b| items.get(b)) {
        Some(&item) => {
            let mut at = item;
            while at > key_at + 1 && lines[at - 1].trim_start().starts_with('#') {
                at -= 1;
            }
            at
        }
        None => (key_at + 1..block_end).rev().find(|&i| !is_note(lines[i])).map_or(key_at + 1, |i| i + 1),
    };
    let reindented: String = rule
        .lines()
        .map(|l| {
            let stripped = l.strip_prefix("  ").unwrap_or(l);
            format!("{}{stripped}\n", " ".repeat(indent))
        })
        .collect();
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i == at {
            out.push_str(&reindented);
        }
        out.push_str(l);
        out.push('\n');
    }
    if at == lines.len() {
        out.push_str(&reindented);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_wins_and_lists_parse_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let cfg_path = dir.path().join(CONFIG_NAME);
        let text = "creation_rules:\n  - path_regex: ^prod/.*\n    pgp: 'abcd ef01, 1234'\n  - path_regex: \\.sops\\.yaml$\n    age: [age1a, age1b, age1a]\n    encrypted_regex: ^(key|secret)$\n  - age: age1fallback\n";
        let cfg = SopsConfig::parse(text, &cfg_path).unwrap();
        let r = cfg.rule_for(&dir.path().join("prod/x.sops.yaml")).unwrap();
        assert_eq!(r.all_pgp(), vec!["ABCDEF01", "1234"]);
        let r = cfg.rule_for(&dir.path().join("secrets/x.sops.yaml")).unwrap();
        assert_eq!(r.all_age(), vec!["age1a", "age1b"]);
        assert_eq!(r.selector, Some(EncryptionRule::EncryptedRegex("^(key|secret)$".into())));
        let r = cfg.rule_for(&dir.path().join("other.txt")).unwrap();
        assert_eq!(r.all_age(), vec!["age1fallback"]);
    }

    #[test]
    fn two_selectors_are_refused() {
        let err = SopsConfig::parse(
            "creation_rules:\n  - age: age1x\n    encrypted_regex: a\n    unencrypted_suffix: _u\n",
            Path::new("/x/.sops.yaml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("more than one"), "{err}");
    }

    #[test]
    fn init_extends_and_keeps_existing_rules() {
        let dir = tempfile::tempdir().unwrap();
        let cfg_path = dir.path().join(CONFIG_NAME);
        let secrets = dir.path().join("secrets");
        let InitChange::Write { text: fresh, rule } =
            extend_for_init(&cfg_path, None, &secrets, "age1me", &[]).unwrap()
        else {
            panic!("expected a write")
        };
        assert_eq!((rule.index, rule.age), (1, vec!["age1me".to_owned()]));
        assert_eq!(
            extend_for_init(&cfg_path, Some(&fresh), &secrets, "age1me", &[]).unwrap(),
            InitChange::AlreadyCovered { index: 1 }
        );

        let existing =
            "# team config\ncreation_rules:\n- path_regex: ^prod/\n  pgp: ABCD\n- age: age1teammate\n";
        let InitChange::Write { text, rule } =
            extend_for_init(&cfg_path, Some(existing), &secrets, "age1me", &[]).unwrap()
        else {
            panic!("expected a write")
        };
        assert!(text.starts_with("# team config\n"), "{text}");
        let cfg = SopsConfig::parse(&text, &cfg_path).unwrap();
        assert_eq!(cfg.rules.len(), 3);
        // Inserted just before the catch-all that matched: `^prod/` still comes first.
        assert_eq!(rule.index, 2);
        let r = cfg.rule_for(&secrets.join("a.sops.yaml")).unwrap();
        assert_eq!(r.all_age(), vec!["age1me", "age1teammate"]);
        assert_eq!(cfg.rule_for(&dir.path().join("prod/a")).unwrap().all_pgp(), vec!["ABCD"]);
        assert_eq!(cfg.rule_for(&dir.path().join("other")).unwrap().all_age(), vec!["age1teammate"]);
    }

    #[test]
    fn init_never_writes_a_key_from_the_working_tree() {
        let dir = tempfile::tempdir().unwrap();
        let cfg_path = dir.path().join(CONFIG_NAME);
        let secrets = dir.path().join("secrets");
        let demo = TreeKey { recipient: "age1demo".into(), file: "tests/demo-key.txt".into() };
        // The demo rule stays first and keeps its key; the new rule comes after it.
        let existing =
            "creation_rules:\n  # public demo key\n  - path_regex: ^secrets/demo/\n    age: age1demo\n";
        let InitChange::Write { text, rule } =
            extend_for_init(&cfg_path, Some(existing), &secrets, "age1me", std::slice::from_ref(&demo))
                .unwrap()
        else {
            panic!("expected a write")
        };
        assert!(text.starts_with(existing), "{text}");
        assert_eq!((rule.index, rule.left_out.len()), (2, 0));
        let cfg = SopsConfig::parse(&text, &cfg_path).unwrap();
        assert_eq!(cfg.rule_for(&secrets.join("demo/a.sops.yaml")).unwrap().all_age(), vec!["age1demo"]);
        assert_eq!(cfg.rule_for(&secrets.join("a.sops.yaml")).unwrap().all_age(), vec!["age1me"]);

        // A rule for secrets/ holding the public key (and even yours) is not "covered": a new
        // one without it goes in front of it, above its comment.
        let mixed =
            "creation_rules:\n  # ours\n  - path_regex: ^secrets/\n    age: age1me,age1demo,age1mate\n";
        let InitChange::Write { text, rule } =
            extend_for_init(&cfg_path, Some(mixed), &secrets, "age1me", std::slice::from_ref(&demo)).unwrap()
        else {
            panic!("expected a write")
        };
        assert!(text.ends_with(&mixed["creation_rules:\n".len()..]), "{text}");
        assert_eq!(rule.index, 1);
        assert_eq!(rule.age, vec!["age1me", "age1mate"]);
        assert_eq!(rule.left_out, vec![demo.clone()]);
        let cfg = SopsConfig::parse(&text, &cfg_path).unwrap();
        assert_eq!(cfg.rule_for(&secrets.join("a.sops.yaml")).unwrap().all_age(), vec!["age1me", "age1mate"]);
        assert_eq!(
            extend_for_init(&cfg_path, Some(&text), &secrets, "age1me", &[demo]).unwrap(),
            InitChange::AlreadyCovered { index: 1 }
        );
    }
}
