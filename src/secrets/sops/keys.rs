//! Master keys: wrapping and unwrapping the data key for age recipients (armored age files;
//! X25519 `age1…` and SSH `ssh-ed25519`/`ssh-rsa` keys) and PGP fingerprints (GnuPG through
//! gpgme, crate feature `pgp`), and key groups with Shamir.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::cipher::DataKey;
use super::error::{Result, SopsError};
use super::metadata::{AgeEntry, KeyGroup, Metadata, PgpEntry};
use super::shamir;
use super::ssh::{self, PassphraseFn, SshIdentity};

/// age identities found only once the recipient being decrypted is known (sops runs
/// `SOPS_AGE_KEY_CMD` with `SOPS_AGE_RECIPIENT` set): called with the recipient, returns the
/// identities (X25519, SSH) and a description of anything that went wrong (never a key).
pub type RecipientKeys = Arc<
    dyn Fn(&str) -> (Vec<age::x25519::Identity>, Vec<SshIdentity>, Vec<String>)
        + Send
        + Sync
        + std::panic::RefUnwindSafe
        + std::panic::UnwindSafe,
>;

/// The private keys a caller offers for decryption.
#[derive(Clone, Default)]
pub struct KeySource {
    /// age X25519 identities to try.
    pub age: Vec<age::x25519::Identity>,
    /// SSH private keys to try as age identities.
    pub ssh: Vec<SshIdentity>,
    /// Identities looked up per recipient (run for every age recipient tried, like sops).
    pub per_recipient: Option<RecipientKeys>,
    /// Asks for the passphrase of an encrypted SSH key (only when a file is addressed to it).
    pub ssh_passphrase: Option<PassphraseFn>,
    /// Problems met while looking for keys (e.g. an unusable `~/.ssh/id_rsa`), shown when
    /// no key opens a file. Never key material.
    pub notes: Vec<String>,
    /// Whether to try PGP master keys through GnuPG (needs the `pgp` feature).
    pub pgp: bool,
    /// GnuPG home; `None` means gpg's default (`$GNUPGHOME` or `~/.gnupg`).
    pub gnupg_home: Option<PathBuf>,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySource")
            .field("age", &format_args!("[{} identities, redacted]", self.age.len()))
            .field("ssh", &self.ssh)
            .field("per_recipient", &self.per_recipient.is_some())
            .field("pgp", &self.pgp)
            .field("gnupg_home", &self.gnupg_home)
            .finish()
    }
}

impl KeySource {
    /// Only these age identities, no PGP.
    pub fn age(identities: Vec<age::x25519::Identity>) -> KeySource {
        KeySource { age: identities, ..KeySource::default() }
    }

    /// age identities plus PGP through GnuPG with the default home (`$GNUPGHOME`).
    pub fn with_pgp(identities: Vec<age::x25519::Identity>) -> KeySource {
        KeySource { age: identities, pgp: true, ..KeySource::default() }
    }
}

/// An age recipient as sops accepts it.
#[derive(Clone)]
pub enum AgeRecipient {
    /// `age1…` (X25519).
    X25519(age::x25519::Recipient),
    /// `ssh-ed25519 …` or `ssh-rsa …`.
    Ssh(Box<age::ssh::Recipient>),
}

/// Parses an age recipient the way sops does: `age1…` (X25519), or an SSH public key
/// `ssh-ed25519 AAAA…` / `ssh-rsa AAAA…` (a trailing comment is allowed). Plugin and
/// post-quantum recipients are refused with a message saying so.
pub fn parse_age_recipient(recipient: &str) -> std::result::Result<AgeRecipient, String> {
    let r = recipient.trim();
    if r.starts_with("age1pq1") {
        Err("post-quantum age recipients (age1pq1…) are not supported".into())
    } else if r.starts_with("age1") && r.matches('1').count() > 1 {
        Err("age plugin recipients (age1<plugin>1…) are not supported".into())
    } else if r.starts_with("age1") {
        age::x25519::Recipient::from_str(r)
            .map(AgeRecipient::X25519)
            .map_err(|_| "not a valid age recipient (age1…)".into())
    } else if r.starts_with("ssh-") {
        ssh::parse_recipient(r).map(|k| AgeRecipient::Ssh(Box::new(k)))
    } else {
        Err("unknown recipient type (expected age1…, ssh-ed25519 … or ssh-rsa …)".into())
    }
}

/// Parses an age key file (one `AGE-SECRET-KEY-1…` per line; blank and `#` lines ignored).
/// Errors name the line number, never the key.
pub fn parse_age_identities(text: &str) -> std::result::Result<Vec<age::x25519::Identity>, String> {
    let mut out = vec![];
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id = age::x25519::Identity::from_str(line)
            .map_err(|_| format!("line {}: not an age X25519 secret key (AGE-SECRET-KEY-1…)", n + 1))?;
        out.push(id);
    }
    Ok(out)
}

/// Wraps the data key (or a share) for one age recipient: an armored age file.
pub fn age_wrap(recipient: &str, secret: &[u8]) -> Result<String> {
    let err = |reason: String| SopsError::Wrap { recipient: format!("age {recipient}"), reason };
    let parsed = parse_age_recipient(recipient).map_err(err)?;
    let r: &dyn age::Recipient = match &parsed {
        AgeRecipient::X25519(r) => r,
        AgeRecipient::Ssh(r) => r.as_ref(),
    };
    let enc = age::Encryptor::with_recipients(std::iter::once(r)).map_err(|e| err(e.to_string()))?;
    let mut out = vec![];
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| err(e.to_string()))?;
    let mut w = enc.wrap_output(armor).map_err(|e| err(e.to_string()))?;
    w.write_all(secret).map_err(|e| err(e.to_string()))?;
    let armor = w.finish().map_err(|e| err(e.to_string()))?;
    armor.finish().map_err(|e| err(e.to_string()))?;
    let mut s = String::from_utf8(out).map_err(|_| err("armor is not UTF-8".into()))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

fn age_unwrap(entry: &AgeEntry, keys: &KeySource) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    let mut problems = keys.notes.clone();
    let looked_up;
    let (x25519, ssh_keys) = match &keys.per_recipient {
        Some(lookup) => {
            let (mut x, mut s, p) = lookup(entry.recipient.trim());
            problems.extend(p);
            x.extend(keys.age.iter().cloned());
            s.splice(0..0, keys.ssh.iter().cloned());
            looked_up = (x, s);
            (&looked_up.0[..], &looked_up.1[..])
        }
        None => (&keys.age[..], &keys.ssh[..]),
    };
    let with_problems = |msg: String| {
        if problems.is_empty() { msg } else { format!("{msg} (also: {})", problems.join("; ")) }
    };
    if x25519.is_empty() && ssh_keys.is_empty() {
        return Err(with_problems("no age identity available".into()));
    }
    let offer = ssh::Offer::new(ssh_keys, &entry.enc, keys.ssh_passphrase.as_ref());
    let d = age::Decryptor::new(age::armor::ArmoredReader::new(entry.enc.as_bytes()))
        .map_err(|e| format!("invalid age data: {e}"))?;
    let ids = x25519.iter().map(|i| i as &dyn age::Identity).chain(offer.identities());
    let mut r = d.decrypt(ids).map_err(|e| {
        let ssh_note = offer.explain(&e);
        let base = match e {
            age::DecryptError::NoMatchingKeys => "no matching age identity".to_string(),
            other => other.to_string(),
        };
        with_problems(if ssh_note.is_empty() { base } else { format!("{base}; {ssh_note}") })
    })?;
    let mut out = Zeroizing::new(vec![]);
    r.read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(feature = "pgp")]
fn gpg_context(home: Option<&std::path::Path>) -> std::result::Result<gpgme::Context, String> {
    let mut ctx = gpgme::Context::from_protocol(gpgme::Protocol::OpenPgp).map_err(|e| e.to_string())?;
    if let Some(h) = home {
        let h = h.to_str().ok_or("GnuPG home is not UTF-8")?;
        ctx.set_engine_home_dir(h).map_err(|e| e.to_string())?;
    }
    ctx.set_armor(true);
    Ok(ctx)
}

/// Wraps the data key (or a share) for one PGP fingerprint with GnuPG; the armored message is trimmed.
#[cfg(feature = "pgp")]
pub fn pgp_wrap(fp: &str, secret: &[u8], home: Option<&std::path::Path>) -> Result<String> {
    let err = |reason: String| SopsError::Wrap { recipient: format!("pgp {fp}"), reason };
    let mut ctx = gpg_context(home).map_err(err)?;
    let key = ctx.get_key(fp).map_err(|e| err(format!("key not found in the GnuPG keyring: {e}")))?;
    let mut out = vec![];
    ctx.encrypt_with_flags(
        Some(&key),
        secret,
        &mut out,
        gpgme::EncryptFlags::ALWAYS_TRUST | gpgme::EncryptFlags::NO_ENCRYPT_TO,
    )
    .map_err(|e| err(e.to_string()))?;
    let s = String::from_utf8(out).map_err(|_| err("armor is not UTF-8".into()))?;
    Ok(s.trim().to_string())
}

/// Without the `pgp` feature PGP recipients give a clear error.
#[cfg(not(feature = "pgp"))]
pub fn pgp_wrap(fp: &str, _secret: &[u8], _home: Option<&std::path::Path>) -> Result<String> {
    Err(SopsError::Unsupported(format!(
        "PGP recipient {fp}: this build has no PGP support (crate feature `pgp` is off)"
    )))
}

#[cfg(feature = "pgp")]
fn pgp_unwrap(
    entry: &PgpEntry,
    home: Option<&std::path::Path>,
) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    let mut ctx = gpg_context(home)?;
    let mut out = Zeroizing::new(vec![]);
    ctx.decrypt(entry.enc.as_bytes(), &mut *out).map_err(|e| format!("GnuPG: {e}"))?;
    if out.is_empty() {
        return Err("GnuPG returned an empty data key".into());
    }
    Ok(out)
}

#[cfg(not(feature = "pgp"))]
fn pgp_unwrap(
    _entry: &PgpEntry,
    _home: Option<&std::path::Path>,
) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    Err("this build has no PGP support (crate feature `pgp` is off)".into())
}

/// Tries the keys of one group (age first, then PGP, as sops); returns the secret or adds to `tried`.
fn unwrap_group(g: &KeyGroup, keys: &KeySource, tried: &mut Vec<String>) -> Option<Zeroizing<Vec<u8>>> {
    for a in &g.age {
        match age_unwrap(a, keys) {
            Ok(k) => return Some(k),
            Err(e) => tried.push(format!("age {}: {e}", a.recipient)),
        }
    }
    for p in &g.pgp {
        if !keys.pgp {
            tried.push(format!("pgp {}: PGP keys not offered", p.fp));
            continue;
        }
        match pgp_unwrap(p, keys.gnupg_home.as_deref()) {
            Ok(k) => return Some(k),
            Err(e) => tried.push(format!("pgp {}: {e}", p.fp)),
        }
    }
    for (kind, _) in &g.other {
        tried.push(format!("{kind}: not supported"));
    }
    None
}

/// Recovers the data key from the metadata with the offered keys.
pub fn data_key(meta: &Metadata, keys: &KeySource, file: &str) -> Result<DataKey> {
    let mut tried = vec![];
    let no_key = |tried: Vec<String>| SopsError::NoKey { file: file.to_string(), tried };
    if meta.key_groups.len() <= 1 {
        let Some(g) = meta.key_groups.first() else {
            return Err(no_key(vec!["(the file lists no master keys)".into()]));
        };
        let secret = unwrap_group(g, keys, &mut tried).ok_or_else(|| no_key(tried.clone()))?;
        return DataKey::from_slice(&secret).ok_or_else(|| SopsError::Metadata {
            file: file.to_string(),
            reason: format!("the unwrapped data key has {} bytes, expected 32", secret.len()),
        });
    }
    let threshold = meta.shamir_threshold.unwrap_or(meta.key_groups.len());
    let mut parts = vec![];
    for g in &meta.key_groups {
        if let Some(s) = unwrap_group(g, keys, &mut tried) {
            parts.push(s);
            if parts.len() >= threshold {
                break;
            }
        }
    }
    if parts.len() < threshold {
        tried.push(format!("only {} of the {} key groups needed could be decrypted", parts.len(), threshold));
        return Err(no_key(tried));
    }
    let secret = shamir::combine(&parts).map_err(|e| SopsError::Metadata {
        file: file.to_string(),
        reason: format!("Shamir combine: {e}"),
    })?;
    DataKey::from_slice(&secret).ok_or_else(|| SopsError::Metadata {
        file: file.to_string(),
        reason: "the combined Shamir secret is not a 32-byte data key".into(),
    })
}

/// The recipients of one key group, for encryption.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupSpec {
    /// age recipients (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`).
    pub age: Vec<String>,
    /// PGP fingerprints (40 hex).
    pub pgp: Vec<String>,
}

/// Wraps `key` for every recipient of `groups` (splitting it with Shamir when there are
/// several groups). `now` is the RFC 3339 time for PGP `created_at`.
pub fn wrap_groups(
    key: &DataKey,
    groups: &[GroupSpec],
    threshold: Option<usize>,
    gnupg_home: Option<&std::path::Path>,
    now: &str,
) -> Result<Vec<KeyGroup>> {
    if groups.is_empty() || groups.iter().all(|g| g.age.is_empty() && g.pgp.is_empty()) {
        return Err(SopsError::Config("no recipients (age or PGP) given".into()));
    }
    if let Some(g) = groups.iter().position(|g| g.age.is_empty() && g.pgp.is_empty()) {
        return Err(SopsError::Config(format!("key group {} has no recipients", g + 1)));
    }
    let secrets: Vec<Zeroizing<Vec<u8>>> = if groups.len() == 1 {
        vec![Zeroizing::new(key.expose().to_vec())]
    } else {
        let t = threshold.unwrap_or(groups.len());
        shamir::split(key.expose(), groups.len(), t).map_err(SopsError::Config)?
    };
    let mut out = vec![];
    for (g, secret) in groups.iter().zip(secrets.iter()) {
        let mut kg = KeyGroup::default();
        let mut seen = std::collections::HashSet::new();
        for r in &g.age {
            let r = r.trim();
            if seen.insert(format!("age:{r}")) {
                kg.age.push(AgeEntry { recipient: r.to_string(), enc: age_wrap(r, secret)? });
            }
        }
        for fp in &g.pgp {
            let fp: String = fp.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
            if seen.insert(format!("pgp:{fp}")) {
                let enc = pgp_wrap(&fp, secret, gnupg_home)?;
                kg.pgp.push(PgpEntry { fp, created_at: now.to_string(), enc });
            }
        }
        out.push(kg);
    }
    Ok(out)
}
