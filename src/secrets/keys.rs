//! Finding the keys that can open secrets files here, the way sops finds them.
//!
//! age identities come from, in this order (all sources are collected, as sops 3.12+ does):
//! 1. SSH keys: `SOPS_AGE_SSH_PRIVATE_KEY_FILE`; the output of `SOPS_AGE_SSH_PRIVATE_KEY_CMD`;
//!    `~/.ssh/id_ed25519`; `~/.ssh/id_rsa` (`ssh-ed25519` and `ssh-rsa` keys; a key at a
//!    default path that cannot be used is skipped and mentioned when no key opens a file);
//! 2. `SOPS_AGE_KEY` — the key text itself (one or more `AGE-SECRET-KEY-1…`, whitespace or
//!    newline separated, `#` comment lines allowed);
//! 3. `SOPS_AGE_KEY_FILE` — a key file;
//! 4. `SOPS_AGE_KEY_CMD` — a command (split like a shell would, but not run through one)
//!    whose standard output is key-file text;
//! 5. the default key file `$XDG_CONFIG_HOME/sops/age/keys.txt`, else
//!    `~/.config/sops/age/keys.txt`.
//!
//! The two commands run only when a file is decrypted, once for every age recipient tried,
//! with `SOPS_AGE_RECIPIENT` set to that recipient (as sops 3.12+ does), in a process group
//! of their own. One that runs longer than [`KEY_CMD_TIMEOUT`] (`RUNNER_KEY_CMD_TIMEOUT`
//! seconds, if set) or prints more than [`KEY_CMD_MAX_OUTPUT`] bytes is killed with its whole
//! process group. Passphrase-protected SSH keys are unlocked only for a file addressed to
//! them, by asking on the terminal.
//!
//! PGP secret keys are looked up through GnuPG (gpgme, feature `pgp`), which honours
//! `GNUPGHOME` and uses gpg-agent for passphrases.
//!
//! Errors never contain key material: a bad line is reported by file and line number only.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::str::FromStr;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use age::secrecy::ExposeSecret;

use super::SecretsError;
use super::sops::{self, SshIdentity};

/// `SOPS_AGE_KEY_CMD`.
pub const KEY_CMD_VAR: &str = "SOPS_AGE_KEY_CMD";
/// `SOPS_AGE_SSH_PRIVATE_KEY_CMD`.
pub const SSH_KEY_CMD_VAR: &str = "SOPS_AGE_SSH_PRIVATE_KEY_CMD";
/// `SOPS_AGE_SSH_PRIVATE_KEY_FILE`.
pub const SSH_KEY_FILE_VAR: &str = "SOPS_AGE_SSH_PRIVATE_KEY_FILE";
/// Set for the key commands: the recipient whose identity is wanted.
pub const RECIPIENT_VAR: &str = "SOPS_AGE_RECIPIENT";
/// Overrides [`KEY_CMD_TIMEOUT`]: seconds (e.g. `5`, `0.5`), at most [`KEY_CMD_TIMEOUT_MAX`].
pub const KEY_CMD_TIMEOUT_VAR: &str = "RUNNER_KEY_CMD_TIMEOUT";
/// How long a key command may run before it is killed.
pub const KEY_CMD_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest timeout [`KEY_CMD_TIMEOUT_VAR`] may set: a day.
pub const KEY_CMD_TIMEOUT_MAX: Duration = Duration::from_secs(86_400);
/// The most a key command may print (a key file is a few hundred bytes per identity).
pub const KEY_CMD_MAX_OUTPUT: usize = 64 * 1024;

/// Where an age identity was found (for messages; never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The `SOPS_AGE_KEY` environment variable.
    EnvKey,
    /// A key file (from `SOPS_AGE_KEY_FILE` or the default location).
    File(PathBuf),
    /// The output of a command named by this environment variable.
    Command(&'static str),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::EnvKey => f.write_str("$SOPS_AGE_KEY"),
            KeySource::File(p) => write!(f, "{}", p.display()),
            KeySource::Command(var) => write!(f, "${var}"),
        }
    }
}

/// The age identities available to this process.
#[derive(Default)]
pub struct AgeKeys {
    identities: Vec<(age::x25519::Identity, KeySource)>,
    ssh: Vec<SshIdentity>,
    key_cmd: Option<String>,
    ssh_key_cmd: Option<String>,
    ask_passphrase: bool,
    notes: Vec<String>,
    sources: Vec<KeySource>,
}

impl std::fmt::Debug for AgeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgeKeys")
            .field("recipients", &self.recipients())
            .field("ssh", &self.ssh)
            .field("key_cmd", &self.key_cmd.is_some())
            .field("ssh_key_cmd", &self.ssh_key_cmd.is_some())
            .field("sources", &self.sources)
            .finish()
    }
}

/// An unreadable key file named by `var`: say so with the variable's name.
fn named_by(var: &'static str, e: SecretsError) -> SecretsError {
    match e {
        SecretsError::Io { path, source } => {
            let reason = match source.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_owned(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
                std::io::ErrorKind::IsADirectory => "is a directory, not a key file".to_owned(),
                _ => source.to_string(),
            };
            SecretsError::KeyFile { var, path, reason, file: None }
        }
        other => other,
    }
}

fn env_nonempty(var: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(var).filter(|v| !v.is_empty())
}

impl AgeKeys {
    /// Find identities from the environment, like sops does (see the module docs).
    pub fn discover() -> Result<Self, SecretsError> {
        let mut keys = AgeKeys { ask_passphrase: std::io::stdin().is_terminal(), ..AgeKeys::default() };
        if let Some(path) = env_nonempty(SSH_KEY_FILE_VAR) {
            keys.add_ssh_file(Path::new(&path)).map_err(|e| named_by(SSH_KEY_FILE_VAR, e))?;
        }
        if let Some(cmd) = env_nonempty(SSH_KEY_CMD_VAR) {
            keys.ssh_key_cmd = Some(cmd.to_string_lossy().into_owned());
        }
        if let Some(home) = env_nonempty("HOME") {
            for name in ["id_ed25519", "id_rsa"] {
                let path = PathBuf::from(&home).join(".ssh").join(name);
                if path.is_file()
                    && let Err(e) = keys.add_ssh_file(&path)
                {
                    tracing::debug!(error = %e, "skipping a default SSH key");
                    keys.notes.push(e.to_string());
                }
            }
        }
        if let Some(text) = env_nonempty("SOPS_AGE_KEY") {
            let text = text
                .to_str()
                .ok_or(SecretsError::BadKeyText { origin: KeySource::EnvKey.to_string(), line: 0 })?;
            keys.add_text(text, KeySource::EnvKey)?;
        }
        if let Some(path) = env_nonempty("SOPS_AGE_KEY_FILE") {
            let path = PathBuf::from(path);
            keys.add_file(&path).map_err(|e| named_by("SOPS_AGE_KEY_FILE", e))?;
        }
        if let Some(cmd) = env_nonempty(KEY_CMD_VAR) {
            keys.key_cmd = Some(cmd.to_string_lossy().into_owned());
        }
        if let Some(path) = default_key_file()
            && path.exists()
        {
            keys.add_file(&path)?;
        }
        tracing::debug!(keys = ?keys, "age identities found");
        Ok(keys)
    }

    /// Add the identities in a key file.
    pub fn add_file(&mut self, path: &Path) -> Result<(), SecretsError> {
        let text =
            zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| SecretsError::io(path, e))?);
        self.add_text(&text, KeySource::File(path.to_owned()))
    }

    /// Add an SSH private key file (`ssh-ed25519` or `ssh-rsa`; passphrase-protected keys are
    /// unlocked when needed). The error names the file and says why, never what is in it.
    pub fn add_ssh_file(&mut self, path: &Path) -> Result<(), SecretsError> {
        let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| SecretsError::io(path, e))?);
        let id = SshIdentity::parse(&bytes, &path.display().to_string()).map_err(SecretsError::KeySetup)?;
        if !self.ssh.iter().any(|k| k.recipient() == id.recipient()) {
            self.ssh.push(id);
        }
        Ok(())
    }

    /// Use `command` as `SOPS_AGE_KEY_CMD` (its output is key-file text).
    pub fn set_key_command(&mut self, command: Option<String>) {
        self.key_cmd = command;
    }

    /// Use `command` as `SOPS_AGE_SSH_PRIVATE_KEY_CMD` (its output is an SSH private key).
    pub fn set_ssh_key_command(&mut self, command: Option<String>) {
        self.ssh_key_cmd = command;
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

    /// The X25519 identities, for decryption.
    pub fn identities(&self) -> impl Iterator<Item = &age::x25519::Identity> {
        self.identities.iter().map(|(id, _)| id)
    }

    /// The SSH identities.
    pub fn ssh_identities(&self) -> &[SshIdentity] {
        &self.ssh
    }

    /// Public keys (`age1…`) of the X25519 identities, each with where it was found.
    pub fn recipient_sources(&self) -> Vec<(String, &KeySource)> {
        self.identities.iter().map(|(id, source)| (id.to_public().to_string(), source)).collect()
    }

    /// Public keys (`age1…`) of the X25519 identities.
    pub fn recipients(&self) -> Vec<String> {
        self.identities.iter().map(|(id, _)| id.to_public().to_string()).collect()
    }

    /// Public keys (`ssh-ed25519 AAAA…`, `ssh-rsa AAAA…`) of the SSH identities.
    pub fn ssh_recipients(&self) -> Vec<String> {
        self.ssh.iter().map(|k| k.recipient().to_string()).collect()
    }

    /// Whether an identity for `recipient` is here; the key commands, if set, are run for it.
    pub fn can_open(&self, recipient: &str) -> bool {
        let want = sops::ssh::normalize_recipient(recipient);
        if self.recipients().contains(&want) || self.ssh_recipients().contains(&want) {
            return true;
        }
        match self.lookup() {
            Some(lookup) => {
                let (x, s, _) = lookup(recipient);
                x.iter().any(|i| i.to_public().to_string() == want) || s.iter().any(|k| k.recipient() == want)
            }
            None => false,
        }
    }

    /// Where identities were looked for and found.
    pub fn sources(&self) -> &[KeySource] {
        &self.sources
    }

    /// Whether there is no identity and no key command at all.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
            && self.ssh.is_empty()
            && self.key_cmd.is_none()
            && self.ssh_key_cmd.is_none()
    }

    fn lookup(&self) -> Option<sops::RecipientKeys> {
        if self.key_cmd.is_none() && self.ssh_key_cmd.is_none() {
            return None;
        }
        let (key_cmd, ssh_key_cmd) = (self.key_cmd.clone(), self.ssh_key_cmd.clone());
        Some(Arc::new(move |recipient: &str| {
            let (mut x25519, mut ssh, mut problems) = (Vec::new(), Vec::new(), Vec::new());
            if let Some(cmd) = &ssh_key_cmd {
                match run_key_command(cmd, SSH_KEY_CMD_VAR, recipient) {
                    Ok(out) => match SshIdentity::parse(&out, &format!("${SSH_KEY_CMD_VAR}")) {
                        Ok(k) => ssh.push(k),
                        Err(e) => problems.push(e),
                    },
                    Err(e) => problems.push(e),
                }
            }
            if let Some(cmd) = &key_cmd {
                let parsed = run_key_command(cmd, KEY_CMD_VAR, recipient).and_then(|out| {
                    let text = std::str::from_utf8(&out)
                        .map_err(|_| format!("${KEY_CMD_VAR}: the command's output is not UTF-8 text"))?;
                    let mut keys = AgeKeys::default();
                    keys.add_text(text, KeySource::Command(KEY_CMD_VAR)).map_err(|e| e.to_string())?;
                    Ok(keys)
                });
                match parsed {
                    Ok(keys) => x25519.extend(keys.identities().cloned()),
                    Err(e) => problems.push(e),
                }
            }
            (x25519, ssh, problems)
        }))
    }

    /// The keys offered to the SOPS core: these identities, the key commands, GnuPG.
    pub fn key_source(&self) -> sops::KeySource {
        let mut ks = sops::KeySource::with_pgp(self.identities().cloned().collect());
        ks.ssh = self.ssh.clone();
        ks.per_recipient = self.lookup();
        ks.notes = self.notes.clone();
        if self.ask_passphrase {
            ks.ssh_passphrase = Some(Arc::new(|prompt: &str| {
                super::cli::prompt_hidden(prompt)
                    .ok()
                    .map(|p| age::secrecy::SecretString::from(p.expose().to_owned()))
            }));
        }
        ks
    }
}

/// Splits a command line into words the way sops does (`google/shlex`): blanks separate
/// words, `'…'` is literal, `"…"` allows `\` escapes, `\` escapes outside quotes, and an
/// unquoted `#` at the start of a word starts a comment. No shell is involved.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '#' if word.is_none() => break,
            '\\' => {
                let next = chars.next().ok_or("the command ends with a lone backslash")?;
                word.get_or_insert_default().push(next);
            }
            '\'' => {
                let w = word.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("the command has an unclosed single quote".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err("the command has an unclosed double quote".into()),
                        },
                        Some(c) => w.push(c),
                        None => return Err("the command has an unclosed double quote".into()),
                    }
                }
            }
            c => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// Runs a key command (named by `var`) with `SOPS_AGE_RECIPIENT=recipient`, in a process group
/// of its own; stdin is empty, stderr goes to ours. Returns its stdout. It is killed, with its
/// process group, when it outlives the timeout or prints too much. Messages name the
/// variable and the program only (the rest of the command line might hold something private)
/// and never show its output.
fn run_key_command(cmd: &str, var: &str, recipient: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    use std::os::unix::process::CommandExt;
    let words = split_command(cmd).map_err(|e| format!("${var}: {e}"))?;
    let Some((program, args)) = words.split_first() else {
        return Err(format!("${var} is blank"));
    };
    let timeout = key_command_timeout()?;
    let mut child = std::process::Command::new(program)
        .args(args)
        .env(RECIPIENT_VAR, recipient)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("${var}: cannot run `{program}`: {e}"))?;
    match wait_bounded(&mut child, timeout).map_err(|e| format!("${var}: `{program}`: {e}"))? {
        Finished::Exited(status, _) if !status.success() => {
            Err(format!("${var}: `{program}` failed ({status})"))
        }
        Finished::Exited(_, stdout) => Ok(stdout),
        Finished::TimedOut => Err(format!(
            "${var}: `{program}` did not finish within {} s; it was stopped (set {KEY_CMD_TIMEOUT_VAR} \
             to a number of seconds to allow longer)",
            timeout.as_secs_f64()
        )),
        Finished::TooMuchOutput => Err(format!(
            "${var}: `{program}` printed more than {} KiB, which is not a key; it was stopped",
            KEY_CMD_MAX_OUTPUT / 1024
        )),
    }
}

/// The key-command timeout: [`KEY_CMD_TIMEOUT_VAR`] if set, else [`KEY_CMD_TIMEOUT`].
fn key_command_timeout() -> Result<Duration, String> {
    let Some(value) = std::env::var_os(KEY_CMD_TIMEOUT_VAR) else { return Ok(KEY_CMD_TIMEOUT) };
    value
        .to_str()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| *d <= KEY_CMD_TIMEOUT_MAX)
        .ok_or_else(|| {
            format!(
                "{KEY_CMD_TIMEOUT_VAR}={value:?} is not a number of seconds greater than 0 and at most {}",
                KEY_CMD_TIMEOUT_MAX.as_secs()
            )
        })
}

/// How a key command ended.
enum Finished {
    /// It exited and closed its output in time: its status and stdout.
    Exited(ExitStatus, zeroize::Zeroizing<Vec<u8>>),
    /// The time ran out; it was killed.
    TimedOut,
    /// It printed more than [`KEY_CMD_MAX_OUTPUT`]; it was killed.
    TooMuchOutput,
}

/// Wait up to `timeout` for `child` to exit and close its stdout (read to at most
/// [`KEY_CMD_MAX_OUTPUT`] bytes); otherwise kill its process group and reap it.
///
/// One thread reads stdout, another waits for the exit without reaping (`WNOWAIT`), so
/// the process stays ours to signal until [`Child::wait`] here reaps it: a kill can never
/// reach a recycled process id.
fn wait_bounded(child: &mut Child, timeout: Duration) -> std::io::Result<Finished> {
    let deadline = Instant::now() + timeout;
    let (tx, rx) = mpsc::channel();
    if let Err(e) = watch(child, tx) {
        kill_group(child)?;
        return Err(e);
    }
    let (mut output, mut exited) = (None, false);
    while output.is_none() || !exited {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Event::Output(Ok(out))) if out.len() > KEY_CMD_MAX_OUTPUT => {
                kill_group(child)?;
                return Ok(Finished::TooMuchOutput);
            }
            Ok(Event::Output(Ok(out))) => output = Some(out),
            Ok(Event::Output(Err(e))) => {
                kill_group(child)?;
                return Err(e);
            }
            Ok(Event::Exited) => exited = true,
            Err(_) => {
                kill_group(child)?;
                return Ok(Finished::TimedOut);
            }
        }
    }
    let status = child.wait()?;
    Ok(Finished::Exited(status, output.unwrap_or_default()))
}

/// What the threads [`watch`] starts report.
enum Event {
    /// The command's stdout, read to its end or to one byte past [`KEY_CMD_MAX_OUTPUT`].
    Output(std::io::Result<zeroize::Zeroizing<Vec<u8>>>),
    /// The command has exited (it is not reaped yet).
    Exited,
}

/// Start the two threads that report `child`'s output and its exit on `tx`.
fn watch(child: &mut Child, tx: mpsc::Sender<Event>) -> std::io::Result<()> {
    let stdout = child.stdout.take().ok_or_else(|| std::io::Error::other("stdout is not piped"))?;
    let output_tx = tx.clone();
    std::thread::Builder::new().name("key-cmd-output".into()).spawn(move || {
        let mut out = zeroize::Zeroizing::new(Vec::new());
        let read = stdout.take(KEY_CMD_MAX_OUTPUT as u64 + 1).read_to_end(&mut out).map(|_| out);
        let _ = output_tx.send(Event::Output(read));
    })?;
    let pid = child.id();
    std::thread::Builder::new().name("key-cmd-exit".into()).spawn(move || {
        wait_for_exit(pid);
        let _ = tx.send(Event::Exited);
    })?;
    Ok(())
}

/// Block until process `pid` (our child) has exited, leaving it unreaped.
fn wait_for_exit(pid: u32) {
    loop {
        // SAFETY: waitid writes only into the zeroed siginfo_t it is given.
        let r = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        if r == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// SIGKILL `child`'s process group (it leads its own), then reap the child.
fn kill_group(child: &mut Child) -> std::io::Result<()> {
    if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: plain kill(2) on the process group our unreaped child leads.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    child.wait().map(|_| ())
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
    let mut tmp = super::store::temp_file_in(parent)?;
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

        // A wrong checksum character: one that differs from the real last one.
        let last = if secret.ends_with('Q') { 'P' } else { 'Q' };
        let bad = format!("{}{last}", &secret[..secret.len() - 1]);
        let err = keys.add_text(&format!("# c\n{bad}\n"), KeySource::EnvKey).unwrap_err().to_string();
        assert!(err.contains("line 2") && !err.contains(&bad[16..]), "{err}");
    }

    #[test]
    fn commands_split_like_sops_without_a_shell() {
        assert_eq!(split_command("age -d -i keys.txt").unwrap(), ["age", "-d", "-i", "keys.txt"]);
        assert_eq!(
            split_command(r#"sh -c 'echo "$X" a\b' "two words" x\ y # note"#).unwrap(),
            ["sh", "-c", r#"echo "$X" a\b"#, "two words", "x y"]
        );
        assert_eq!(split_command(r#"a "q\"uote""#).unwrap(), ["a", "q\"uote"]);
        assert!(split_command("'open").is_err());
        assert!(split_command("\"open").is_err());
        assert!(split_command("   ").unwrap().is_empty());
    }

    #[test]
    fn ssh_key_sources_and_recipients() {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = AgeKeys::default();
        let junk = dir.path().join("id_junk");
        std::fs::write(&junk, "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n").unwrap();
        let err = keys.add_ssh_file(&junk).unwrap_err().to_string();
        assert!(err.contains("id_junk") && !err.contains("AAAA"), "{err}");
        assert!(keys.is_empty());
        keys.set_key_command(Some("true".into()));
        assert!(!keys.is_empty());
        let ks = keys.key_source();
        assert!(ks.per_recipient.is_some() && ks.pgp);
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
