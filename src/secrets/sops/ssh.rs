//! SSH keys as age identities and recipients, as sops does through `filippo.io/age/agessh`:
//! `ssh-ed25519` and `ssh-rsa` public keys are recipients, the matching OpenSSH private keys
//! are identities. Passphrase-protected keys are only unlocked when a file really has a stanza
//! for them (the passphrase is asked through a caller-supplied function, never read here).
//!
//! Nothing in this module ever puts key material or passphrases into an error message.

use std::fmt;
use std::io::Read;
use std::sync::{Arc, Mutex};

use age::secrecy::SecretString;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Asks for the passphrase of an encrypted SSH key; the argument is the prompt (it names the
/// key file). `None` means no passphrase can be had (no terminal, or the user gave up).
pub type PassphraseFn = Arc<
    dyn Fn(&str) -> Option<SecretString> + Send + Sync + std::panic::RefUnwindSafe + std::panic::UnwindSafe,
>;

/// An SSH private key (`ssh-ed25519` or `ssh-rsa`, OpenSSH or PEM format) used as an age identity.
#[derive(Clone)]
pub struct SshIdentity {
    identity: age::ssh::Identity,
    origin: String,
    recipient: String,
    tag: String,
    stanza_type: &'static str,
}

impl fmt::Debug for SshIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshIdentity")
            .field("origin", &self.origin)
            .field("recipient", &self.recipient)
            .field("encrypted", &self.is_encrypted())
            .finish_non_exhaustive()
    }
}

/// Why an unsupported SSH key cannot be used, in words (no key material).
fn unsupported(key: &age::ssh::UnsupportedKey) -> String {
    use age::ssh::UnsupportedKey as U;
    match key {
        U::EncryptedPem => "it is a passphrase-protected key in the old PEM format, which age cannot read; \
                            convert it with `ssh-keygen -p -f FILE` (OpenSSH format)"
            .into(),
        U::EncryptedSsh(cipher) => format!("it is encrypted with the unsupported cipher {cipher}"),
        U::Hardware(t) => format!("{t} keys live on a hardware token and cannot be used"),
        U::Type(t) => format!("{t} keys cannot be used (only ssh-ed25519 and ssh-rsa)"),
    }
}

/// The public key blob of an SSH recipient and the age stanza type it produces.
fn blob_of(r: &age::ssh::Recipient) -> (&[u8], &'static str) {
    match r {
        age::ssh::Recipient::SshEd25519(blob, _) => (blob, "ssh-ed25519"),
        age::ssh::Recipient::SshRsa(blob, _) => (blob, "ssh-rsa"),
    }
}

/// The 4-byte key tag age writes in a stanza's first argument (unpadded base64 of the
/// first bytes of SHA-256 over the public key blob).
fn key_tag(blob: &[u8]) -> String {
    let digest = Sha256::digest(blob);
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(&digest[..4])
}

impl SshIdentity {
    /// Parses an SSH private key; `origin` (a file name, or an environment variable's name)
    /// names it in messages. Errors say why the key cannot be used, never what it contains.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<SshIdentity, String> {
        let identity = age::ssh::Identity::from_buffer(bytes, Some(origin.to_string()))
            .map_err(|_| format!("{origin}: not an SSH private key that age can read"))?;
        if let age::ssh::Identity::Unsupported(k) = &identity {
            return Err(format!("{origin}: cannot use this SSH key: {}", unsupported(k)));
        }
        let public = age::ssh::Recipient::try_from(identity.clone()).map_err(|e| {
            let why = match e {
                age::ssh::ParseRecipientKeyError::RsaModulusTooLarge => "its RSA modulus is too large".into(),
                age::ssh::ParseRecipientKeyError::RsaModulusTooSmall => {
                    "its RSA modulus is smaller than 2048 bits".into()
                }
                age::ssh::ParseRecipientKeyError::Unsupported(t) => {
                    format!("{t} keys cannot be used (only ssh-ed25519 and ssh-rsa)")
                }
                _ => "its public part is invalid".into(),
            };
            format!("{origin}: cannot use this SSH key: {why}")
        })?;
        let (blob, stanza_type) = blob_of(&public);
        Ok(SshIdentity {
            tag: key_tag(blob),
            stanza_type,
            recipient: public.to_string(),
            origin: origin.to_string(),
            identity,
        })
    }

    /// The public key as an age recipient (`ssh-ed25519 AAAA…`, without comment).
    pub fn recipient(&self) -> &str {
        &self.recipient
    }

    /// Where the key came from (file name or variable).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether the key is passphrase-protected.
    pub fn is_encrypted(&self) -> bool {
        matches!(self.identity, age::ssh::Identity::Encrypted(_))
    }

    /// Whether an age header has a stanza addressed to this key.
    fn addressed_by(&self, stanzas: &[(String, String)]) -> bool {
        stanzas.iter().any(|(t, tag)| t == self.stanza_type && *tag == self.tag)
    }
}

/// The `(type, first argument)` of every recipient stanza in an armored age file's header.
pub fn header_stanzas(armored: &str) -> Vec<(String, String)> {
    let mut r = age::armor::ArmoredReader::new(armored.as_bytes());
    let mut header = Vec::new();
    let mut buf = [0u8; 1024];
    // Headers of files wrapped for a handful of recipients are a few hundred bytes; stop at
    // the MAC line or after 64 KiB.
    while header.len() < 64 * 1024 {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => header.extend_from_slice(&buf[..n]),
        }
        if header.windows(4).any(|w| w == b"\n---") {
            break;
        }
    }
    String::from_utf8_lossy(&header)
        .lines()
        .take_while(|l| !l.starts_with("---"))
        .filter_map(|l| l.strip_prefix("-> "))
        .filter_map(|l| {
            let mut words = l.split(' ');
            let t = words.next()?;
            Some((t.to_string(), words.next().unwrap_or("").to_string()))
        })
        .collect()
}

/// What happened to the passphrase of an encrypted key during one decryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    No,
    Unavailable,
    Given,
}

#[derive(Clone)]
struct Prompt {
    origin: String,
    ask: Option<PassphraseFn>,
    asked: Arc<Mutex<Asked>>,
}

impl Prompt {
    fn set(&self, a: Asked) {
        if let Ok(mut g) = self.asked.lock() {
            *g = a;
        }
    }
}

impl age::Callbacks for Prompt {
    fn display_message(&self, _message: &str) {}

    fn confirm(&self, _message: &str, _yes: &str, _no: Option<&str>) -> Option<bool> {
        None
    }

    fn request_public_string(&self, _description: &str) -> Option<String> {
        None
    }

    fn request_passphrase(&self, _description: &str) -> Option<SecretString> {
        let got =
            self.ask.as_ref().and_then(|ask| ask(&format!("Enter passphrase for SSH key {}: ", self.origin)));
        self.set(if got.is_some() { Asked::Given } else { Asked::Unavailable });
        got
    }
}

/// The SSH identities to offer for one age file, and what to say if none of them works.
pub struct Offer {
    identities: Vec<Box<dyn age::Identity>>,
    prompts: Vec<Prompt>,
    addressed: Vec<String>,
    tried: Vec<String>,
}

impl Offer {
    /// Prepares `keys` for the age file `armored`: unencrypted keys are offered as they are;
    /// encrypted ones only when the header has a stanza for them (so nobody is asked for a
    /// passphrase that cannot help).
    pub fn new(keys: &[SshIdentity], armored: &str, ask: Option<&PassphraseFn>) -> Offer {
        let stanzas = if keys.is_empty() { Vec::new() } else { header_stanzas(armored) };
        let mut offer =
            Offer { identities: Vec::new(), prompts: Vec::new(), addressed: Vec::new(), tried: Vec::new() };
        for k in keys {
            offer.tried.push(k.origin.clone());
            let addressed = k.addressed_by(&stanzas);
            if addressed {
                offer.addressed.push(k.origin.clone());
            }
            if k.is_encrypted() {
                if addressed {
                    let p = Prompt {
                        origin: k.origin.clone(),
                        ask: ask.cloned(),
                        asked: Arc::new(Mutex::new(Asked::No)),
                    };
                    offer.prompts.push(p.clone());
                    offer.identities.push(Box::new(k.identity.clone().with_callbacks(p)));
                }
            } else {
                offer.identities.push(Box::new(k.identity.clone()));
            }
        }
        offer
    }

    /// The identities to pass to the age decryptor.
    pub fn identities(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.identities.iter().map(|b| b.as_ref())
    }

    /// A message for a failed decryption: which SSH key was addressed and why it did not
    /// open the file, or which SSH keys were tried. Empty when no SSH key was offered.
    pub fn explain(&self, error: &age::DecryptError) -> String {
        for p in &self.prompts {
            let asked = p.asked.lock().map(|g| *g).unwrap_or(Asked::No);
            match asked {
                Asked::Unavailable => {
                    return format!(
                        "the SSH key {} is passphrase-protected and no passphrase could be asked \
                         (not a terminal); use an unprotected key, or an age key",
                        p.origin
                    );
                }
                Asked::Given if matches!(error, age::DecryptError::KeyDecryptionFailed) => {
                    return format!("wrong passphrase for the SSH key {}", p.origin);
                }
                _ => {}
            }
        }
        if let Some(o) = self.addressed.first() {
            return format!("the SSH key {o} could not decrypt it: {error}");
        }
        if self.tried.is_empty() {
            String::new()
        } else {
            format!("SSH keys tried: {}", self.tried.join(", "))
        }
    }
}

/// Parses an SSH public key as an age recipient (`ssh-ed25519 …` / `ssh-rsa …`, an optional
/// trailing comment is allowed).
pub fn parse_recipient(s: &str) -> Result<age::ssh::Recipient, String> {
    use age::ssh::ParseRecipientKeyError as E;
    s.trim().parse::<age::ssh::Recipient>().map_err(|e| match e {
        E::RsaModulusTooLarge => "the ssh-rsa key's modulus is too large (at most 4096 bits)".into(),
        E::RsaModulusTooSmall => "the ssh-rsa key's modulus is smaller than 2048 bits".into(),
        E::Unsupported(t) => format!("{t} keys cannot be age recipients (only ssh-ed25519 and ssh-rsa)"),
        _ => "not a valid SSH public key (`ssh-ed25519 AAAA…` or `ssh-rsa AAAA…`)".into(),
    })
}

/// The recipient without its comment (`type base64`), for comparing recipients.
pub fn normalize_recipient(s: &str) -> String {
    let s = s.trim();
    if s.starts_with("ssh-") {
        s.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    } else {
        s.to_string()
    }
}
