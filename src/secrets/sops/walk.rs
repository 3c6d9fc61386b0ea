//! Walking a document tree to encrypt or decrypt every value that the encryption rule selects,
//! computing the SHA-512 MAC over the plaintext values in document order on the way.
//!
//! The comment rules (`unencrypted_comment_regex`, `encrypted_comment_regex`) follow Go sops'
//! `walkBranch` / `walkSlice` exactly: every map and list opens a level of "active comments";
//! a comment joins its level as it is met (in the form it has in the file being walked — clear
//! text when encrypting, the stored text when decrypting) and a non-comment entry clears its
//! level once it has been walked, so the comments just above an entry (at its own level and
//! at every enclosing level) decide for the entry and everything below it.

use regex::Regex;
use std::collections::HashMap;

use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroize;

use super::cipher::{self, DataKey, ValueType};
use super::error::{Result, SopsError};
use super::metadata::EncryptionRule;
use super::tree::{ListItem, MapItem, Value};

/// sha256("sops"): the initial MAC input when `mac_only_encrypted` is set.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b,
    0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

enum Matcher {
    All,
    UnencSuffix(String),
    EncSuffix(String),
    UnencRegex(Regex),
    EncRegex(Regex),
    UnencComment(Regex),
    EncComment(Regex),
}

impl Matcher {
    fn new(rule: &EncryptionRule) -> Result<Matcher> {
        let re = |r: &str| Regex::new(r).map_err(|e| SopsError::Config(format!("invalid regex `{r}`: {e}")));
        Ok(match rule {
            EncryptionRule::None => Matcher::All,
            EncryptionRule::UnencryptedSuffix(s) => Matcher::UnencSuffix(s.clone()),
            EncryptionRule::EncryptedSuffix(s) => Matcher::EncSuffix(s.clone()),
            EncryptionRule::UnencryptedRegex(r) => Matcher::UnencRegex(re(r)?),
            EncryptionRule::EncryptedRegex(r) => Matcher::EncRegex(re(r)?),
            EncryptionRule::UnencryptedCommentRegex(r) => Matcher::UnencComment(re(r)?),
            EncryptionRule::EncryptedCommentRegex(r) => Matcher::EncComment(re(r)?),
        })
    }

    /// sops' `shouldBeEncrypted`: `comments` is the stack of active comments, `is_comment`
    /// whether the item itself is a comment (it is then already the last active one).
    fn encrypts(&self, path: &[String], comments: &[Vec<String>], is_comment: bool) -> bool {
        match self {
            Matcher::All => true,
            Matcher::UnencSuffix(s) => !path.iter().any(|p| p.ends_with(s.as_str())),
            Matcher::EncSuffix(s) => path.iter().any(|p| p.ends_with(s.as_str())),
            Matcher::UnencRegex(r) => !path.iter().any(|p| r.is_match(p)),
            Matcher::EncRegex(r) => path.iter().any(|p| r.is_match(p)),
            Matcher::UnencComment(r) => !comments.iter().flatten().any(|c| r.is_match(c)),
            Matcher::EncComment(r) => {
                let last = comments.len().saturating_sub(1);
                let last_len = comments.last().map_or(0, Vec::len);
                comments.iter().enumerate().any(|(i, level)| {
                    level.iter().enumerate().any(|(j, c)| {
                        // A comment that matches does not encrypt itself, only what follows it.
                        let itself = is_comment && i == last && j + 1 == last_len;
                        !itself && r.is_match(c)
                    })
                })
            }
        }
    }
}

/// The key path as sops' AAD: components joined by `:` plus a trailing `:`.
pub fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

/// IVs of the values decrypted from a file, keyed by a hash of (path, type, plaintext), so that
/// re-encrypting an unchanged value under the same data key reproduces its ciphertext (as sops
/// does; keeps diffs small). Holds no plaintext.
#[derive(Clone, Default)]
pub struct IvStash(HashMap<[u8; 32], [u8; 32]>);

impl std::fmt::Debug for IvStash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IvStash({} entries)", self.0.len())
    }
}

fn stash_key(aad: &str, ty: ValueType, plain: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(aad.as_bytes());
    h.update([0]);
    h.update(format!("{ty:?}").as_bytes());
    h.update([0]);
    h.update(plain);
    h.finalize().into()
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Encrypt,
    Decrypt,
}

struct Walker<'a> {
    key: &'a DataKey,
    matcher: Matcher,
    mac_only_encrypted: bool,
    hash: Sha512,
    mode: Mode,
    stash: &'a mut IvStash,
    /// Set when the last decrypted leaf had `type:comment` (a list comment written as an entry).
    became_comment: bool,
    file: &'a str,
    path: Vec<String>,
    /// Active comments per open map/list (see the module docs).
    comments: Vec<Vec<String>>,
}

impl Walker<'_> {
    fn value_err(&self, reason: String) -> SopsError {
        SopsError::Value { file: self.file.to_string(), path: aad(&self.path), reason }
    }

    fn hash_leaf(&mut self, v: &Value, encrypted: bool) {
        if self.mac_only_encrypted && !encrypted {
            return;
        }
        if let Some((bytes, _)) = cipher::scalar_bytes(v) {
            self.hash.update(&bytes[..]);
        }
    }

    /// Makes `c` an active comment of the innermost level.
    fn activate(&mut self, c: &str) {
        if let Some(level) = self.comments.last_mut() {
            level.push(c.to_string());
        }
    }

    /// Clears the innermost level's active comments (after a non-comment entry).
    fn deactivate(&mut self) {
        if let Some(level) = self.comments.last_mut() {
            level.clear();
        }
    }

    fn comment(&mut self, c: &mut String) -> Result<()> {
        self.activate(c);
        if !self.matcher.encrypts(&self.path, &self.comments, true) || c.is_empty() {
            return Ok(());
        }
        let aad = aad(&self.path);
        match self.mode {
            Mode::Encrypt => {
                let iv = self.stash.0.get(&stash_key(&aad, ValueType::Comment, c.as_bytes())).copied();
                let enc = cipher::encrypt_with_iv(c.as_bytes(), ValueType::Comment, self.key, &aad, iv)
                    .map_err(|e| self.value_err(e))?;
                if let Matcher::UnencComment(r) = &self.matcher
                    && r.is_match(&enc)
                {
                    // sops refuses this too: the file could not be decrypted again.
                    return Err(SopsError::Config(format!(
                        "an encrypted comment in `{}` matches unencrypted_comment_regex `{}`; \
                         make sure the regex cannot match `ENC[…]` text",
                        aad,
                        r.as_str()
                    )));
                }
                c.zeroize();
                *c = enc;
            }
            Mode::Decrypt => {
                // Like sops: a comment that does not decrypt is assumed to have been written
                // clear (older sops versions) and is kept as it is. Comments are not in the MAC.
                if let Ok((plain, _)) = cipher::decrypt(c, self.key, &aad)
                    && let Ok(text) = std::str::from_utf8(&plain)
                {
                    if let Some(iv) = cipher::iv_of(c) {
                        self.stash.0.insert(stash_key(&aad, ValueType::Comment, &plain), iv);
                    }
                    *c = text.to_string();
                }
            }
        }
        Ok(())
    }

    fn leaf(&mut self, v: &mut Value) -> Result<()> {
        if matches!(v, Value::Null) {
            return Ok(());
        }
        let encrypted = self.matcher.encrypts(&self.path, &self.comments, false);
        match self.mode {
            Mode::Encrypt => {
                self.hash_leaf(v, encrypted);
                if encrypted {
                    let empty = matches!(v, Value::Str(s) if s.is_empty());
                    if !empty && let Some((bytes, ty)) = cipher::scalar_bytes(v) {
                        let aad = aad(&self.path);
                        let iv = self.stash.0.get(&stash_key(&aad, ty, &bytes)).copied();
                        let enc = cipher::encrypt_with_iv(&bytes, ty, self.key, &aad, iv)
                            .map_err(|e| self.value_err(e))?;
                        v.zeroize();
                        *v = Value::Str(enc);
                    }
                }
            }
            Mode::Decrypt => {
                if encrypted {
                    match v {
                        Value::Str(s) if s.is_empty() => {}
                        Value::Str(s) => {
                            let aad = aad(&self.path);
                            let (plain, ty) =
                                cipher::decrypt(s, self.key, &aad).map_err(|e| self.value_err(e))?;
                            // Keyed by the exact (path, type, plaintext) that was stored: an IV is
                            // reused only for byte-identical plaintext, never for different data.
                            if let Some(iv) = cipher::iv_of(s) {
                                self.stash.0.insert(stash_key(&aad, ty, &plain), iv);
                            }
                            *v = cipher::value_from_plain(&plain, ty).map_err(|e| self.value_err(e))?;
                            if ty == ValueType::Comment {
                                // Comments are not part of the MAC.
                                self.became_comment = true;
                                return Ok(());
                            }
                        }
                        other => {
                            return Err(self.value_err(format!(
                                "expected an encrypted string, found a clear {}",
                                other.kind()
                            )));
                        }
                    }
                }
                self.hash_leaf(v, encrypted);
            }
        }
        Ok(())
    }

    fn value(&mut self, v: &mut Value) -> Result<()> {
        match v {
            Value::Map(items) => self.map(items),
            Value::List(items) => {
                self.comments.push(Vec::new());
                for item in items.iter_mut() {
                    match item {
                        ListItem::Value(v) => {
                            self.value(v)?;
                            // Go sops writes encrypted list comments as `- ENC[…,type:comment]`;
                            // like sops, they count as values (not comments) while walked.
                            if std::mem::take(&mut self.became_comment)
                                && let ListItem::Value(Value::Str(text)) = item
                            {
                                *item = ListItem::Comment(std::mem::take(text));
                            }
                            self.deactivate();
                        }
                        ListItem::Comment(c) => self.comment(c)?,
                    }
                }
                self.comments.pop();
                Ok(())
            }
            leaf => self.leaf(leaf),
        }
    }

    fn map(&mut self, items: &mut [MapItem]) -> Result<()> {
        self.comments.push(Vec::new());
        for item in items.iter_mut() {
            match item {
                MapItem::Pair(k, v) => {
                    self.path.push(k.clone());
                    let r = self.value(v);
                    self.path.pop();
                    r?;
                    self.deactivate();
                }
                MapItem::Comment(c) => self.comment(c)?,
            }
        }
        self.comments.pop();
        Ok(())
    }
}

/// Encrypts (or decrypts) every selected value of every branch in place and returns the
/// MAC as sops computes it (uppercase hex SHA-512 of the plaintext values).
fn run(
    branches: &mut [Vec<MapItem>],
    key: &DataKey,
    rule: &EncryptionRule,
    mac_only_encrypted: bool,
    mode: Mode,
    stash: &mut IvStash,
    file: &str,
) -> Result<String> {
    let mut hash = Sha512::new();
    if mac_only_encrypted {
        hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let mut w = Walker {
        key,
        matcher: Matcher::new(rule)?,
        mac_only_encrypted,
        hash,
        mode,
        stash,
        became_comment: false,
        file,
        path: Vec::new(),
        comments: Vec::new(),
    };
    for b in branches.iter_mut() {
        w.map(b)?;
    }
    let digest = w.hash.finalize();
    Ok(digest.iter().map(|b| format!("{b:02X}")).collect())
}

/// Encrypts the selected values in place (reusing stashed IVs for unchanged values); returns the MAC hex.
pub fn encrypt_branches(
    branches: &mut [Vec<MapItem>],
    key: &DataKey,
    rule: &EncryptionRule,
    mac_only_encrypted: bool,
    stash: &mut IvStash,
    file: &str,
) -> Result<String> {
    run(branches, key, rule, mac_only_encrypted, Mode::Encrypt, stash, file)
}

/// Decrypts the selected values in place, filling `stash`; returns the MAC hex of the plaintext.
pub fn decrypt_branches(
    branches: &mut [Vec<MapItem>],
    key: &DataKey,
    rule: &EncryptionRule,
    mac_only_encrypted: bool,
    stash: &mut IvStash,
    file: &str,
) -> Result<String> {
    run(branches, key, rule, mac_only_encrypted, Mode::Decrypt, stash, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(levels: &[&[&str]]) -> Vec<Vec<String>> {
        levels.iter().map(|l| l.iter().map(|c| c.to_string()).collect()).collect()
    }

    #[test]
    fn comment_rules_look_at_every_level_and_a_matching_comment_not_at_itself() {
        let path = vec!["k".to_string()];
        let unenc = Matcher::new(&EncryptionRule::UnencryptedCommentRegex("nosec".into())).unwrap();
        assert!(unenc.encrypts(&path, &stack(&[&[], &[" other"]]), false));
        assert!(!unenc.encrypts(&path, &stack(&[&[" sops:nosec"], &[]]), false));
        assert!(!unenc.encrypts(&path, &stack(&[&[" nosec"]]), true), "the comment itself stays clear");

        let enc = Matcher::new(&EncryptionRule::EncryptedCommentRegex("sops:enc".into())).unwrap();
        assert!(!enc.encrypts(&path, &stack(&[&[]]), false));
        assert!(enc.encrypts(&path, &stack(&[&[" sops:enc"], &[]]), false));
        // The matching comment itself stays clear; a comment after it is encrypted.
        assert!(!enc.encrypts(&path, &stack(&[&[" sops:enc"]]), true));
        assert!(enc.encrypts(&path, &stack(&[&[" sops:enc", " next"]]), true));
        // …also when the match is an enclosing level's comment.
        assert!(enc.encrypts(&path, &stack(&[&[" sops:enc"], &[" inner"]]), true));
    }

    #[test]
    fn walking_pushes_and_clears_comment_levels_like_sops() {
        let key = DataKey::generate();
        let c = |t: &str| MapItem::Comment(t.to_string());
        let p = |k: &str, v: Value| MapItem::Pair(k.to_string(), v);
        let s = |t: &str| Value::Str(t.to_string());
        let mut doc = vec![vec![
            c(" nosec"),
            p("a", s("clear")),
            p("b", s("secret")),
            p("m", Value::Map(vec![p("x", s("secret")), c(" nosec"), p("y", s("clear"))])),
            c(" nosec"),
            p("n", Value::Map(vec![p("z", s("clear"))])),
        ]];
        let rule = EncryptionRule::UnencryptedCommentRegex("nosec".into());
        encrypt_branches(&mut doc, &key, &rule, false, &mut IvStash::default(), "t").unwrap();
        let enc = |v: &Value| matches!(v, Value::Str(t) if t.starts_with("ENC["));
        let items = &doc[0];
        let MapItem::Pair(_, a) = &items[1] else { panic!() };
        let MapItem::Pair(_, b) = &items[2] else { panic!() };
        let MapItem::Pair(_, Value::Map(m)) = &items[3] else { panic!() };
        let MapItem::Pair(_, Value::Map(n)) = &items[5] else { panic!() };
        assert!(!enc(a) && enc(b));
        assert!(matches!(&m[0], MapItem::Pair(_, v) if enc(v)));
        assert!(matches!(&m[2], MapItem::Pair(_, v) if !enc(v)));
        assert!(matches!(&n[0], MapItem::Pair(_, v) if !enc(v)), "an enclosing comment covers the subtree");
        assert!(matches!(&items[0], MapItem::Comment(t) if t == " nosec"));
    }

    #[test]
    fn mac_only_init_is_sha256_of_sops() {
        let d = sha2::Sha256::digest(b"sops");
        assert_eq!(d.as_slice(), &MAC_ONLY_ENCRYPTED_INIT);
    }
}
