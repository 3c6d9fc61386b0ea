//! `runner secrets`: the subcommands (argument parsing, prompts, output). The work itself
//! is in [`super::vault`]; files are written through [`super::store`].
//!
//! Values are never taken from argv: `set` reads a hidden prompt on a terminal, or
//! `KEY=VALUE` lines from stdin otherwise. Only `get` and `decrypt` print values.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::exposed::{self, TreeKey};
use super::rules::{CreationRule, InitChange, SopsConfig};
use super::vault::{self, FileFormat, RecipientChange};
use super::{SecretString, SecretsError, keys, rules, store};
use crate::cli::{CmdResult, ExitError, GlobalArgs};

/// Arguments of `runner secrets`.
#[derive(Debug, Args)]
#[command(
    after_help = "Each NAME is a file DIR/NAME.sops.yaml (default DIR: secrets/), encrypted to age and/or PGP \
recipients exactly as sops does, so `sops` can read and edit it too. Keys are found like sops finds them: \
SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, ~/.config/sops/age/keys.txt, and GnuPG (GNUPGHOME, gpg-agent). \
No file outside a demo/ directory is ever encrypted to a key whose private half is in the working tree. \
See docs/secrets.md."
)]
pub struct SecretsArgs {
    /// Directory holding the NAME.sops.yaml files.
    #[arg(long, global = true, default_value = store::DEFAULT_DIR, value_name = "DIR")]
    pub dir: PathBuf,
    /// The subcommand.
    #[command(subcommand)]
    pub command: SecretsCommand,
}

/// The `runner secrets` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Create an age identity if you have none and make .sops.yaml encrypt DIR to it.
    #[command(
        long_about = "Create an age identity if you have none and make .sops.yaml encrypt DIR to it.\n\n\
An identity whose private key is in the working tree (such as the public demo key) is never used. \
If the .sops.yaml rule that matches DIR already encrypts to your key and to no key of the working tree, \
nothing changes; otherwise a rule for DIR is added (just before the one that matched, or at the end), \
holding your key and the other recipients of the rule that matched except keys of the working tree. \
Says which key file and public key, and which rule, it used or wrote."
    )]
    Init(InitArgs),
    /// Create or update DIR/NAME.sops.yaml with values read from a hidden prompt or stdin.
    #[command(
        long_about = "Create or update DIR/NAME.sops.yaml.\n\nValues are never taken from the command line: \
on a terminal each KEY is asked for with a hidden prompt; otherwise stdin must hold one KEY=VALUE line per KEY \
(the value is everything after the first '='). A new file is encrypted to the --age/--pgp recipients if given, \
else to those of the first matching .sops.yaml creation rule. An existing file keeps its recipients and data \
key; --age/--pgp are refused for it (use `runner secrets recipients add`)."
    )]
    Set(SetArgs),
    /// Print decrypted values (the whole file as YAML, or one KEY's value).
    Get(GetArgs),
    /// List secrets files: names, keys, recipients, last modified — never values; needs no key.
    List(ListArgs),
    /// Delete a secrets file, or one KEY from it.
    Rm(RmArgs),
    /// Edit the decrypted file in $EDITOR; re-encrypted on save.
    #[command(
        long_about = "Edit the decrypted file in $EDITOR (else $VISUAL, else vi).\n\nThe plaintext is written \
to a 0600 file in a private temporary directory, which is removed afterwards even if the editor fails. \
If the editor exits with an error or leaves the text unchanged, the secrets file is not touched. \
If the edited text is not valid YAML, then on a terminal you are asked to press Enter to correct it in the \
editor (the same temporary file, your edit kept) or Ctrl-C to abort; off a terminal the command fails. \
Either way the secrets file is only written once the edit is valid."
    )]
    Edit(EditArgs),
    /// Re-encrypt with a new data key (same recipients).
    Rotate(RotateArgs),
    /// Add or remove recipients of a secrets file (re-wraps the data key, like `sops updatekeys`).
    #[command(subcommand)]
    Recipients(RecipientsCommand),
    /// Encrypt any file, like `sops encrypt` (store from the extension or --input-type).
    #[command(long_about = "Encrypt any file, like `sops encrypt`.\n\n".to_owned() + STORE_HELP)]
    Encrypt(EncryptArgs),
    /// Decrypt any SOPS file, like `sops decrypt` (store from the extension or --input-type).
    #[command(long_about = "Decrypt any SOPS file, like `sops decrypt`.\n\n".to_owned() + STORE_HELP)]
    Decrypt(DecryptArgs),
}

/// How `encrypt` / `decrypt` pick the store (shown in their `--help`).
const STORE_HELP: &str = "The store is chosen from FILE's name as sops 3.11 does: a name ending in .yaml or \
.yml is YAML, .json JSON, .env dotenv, .ini INI, and any other name (.txt, .pem, .env.local, .YAML, …) is \
binary: the whole file becomes one encrypted value `data` in a JSON sops file. --input-type and \
--output-type (yaml, json, dotenv, ini, binary) override the name, separately for reading and writing.";

/// The `--input-type` / `--output-type` values.
const TYPES: [&str; 5] = ["yaml", "json", "dotenv", "ini", "binary"];

/// `runner secrets init`.
#[derive(Debug, Args)]
pub struct InitArgs {}

/// The override of the working-tree key check, for the commands that encrypt.
#[derive(Debug, Args)]
pub struct PublicKeyArgs {
    /// Encrypt even to a recipient whose private key is in the working tree, so that anyone
    /// with the repository can read the file: only for deliberate demo or test files (files
    /// in a `demo/` directory need no flag).
    #[arg(long)]
    pub allow_public_key: bool,
}

/// `runner secrets set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// Secrets name (file DIR/NAME.sops.yaml).
    pub name: String,
    /// Keys to set (names only: values come from the prompt or stdin).
    #[arg(required = true)]
    pub keys: Vec<String>,
    /// age recipient for a new file (repeatable): `age1…`, or an SSH public key
    /// `ssh-ed25519 AAAA…` / `ssh-rsa AAAA…` (quoted). Without --age/--pgp, recipients
    /// come from .sops.yaml. Refused for an existing file.
    #[arg(long = "age", value_name = "RECIPIENT")]
    pub age: Vec<String>,
    /// PGP fingerprint for a new file (repeatable). Refused for an existing file.
    #[arg(long = "pgp", value_name = "FINGERPRINT")]
    pub pgp: Vec<String>,
    /// The working-tree key check.
    #[command(flatten)]
    pub public: PublicKeyArgs,
}

/// `runner secrets get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Secrets name.
    pub name: String,
    /// Only this key's value (printed alone, with a newline).
    pub key: Option<String>,
}

/// `runner secrets list`.
#[derive(Debug, Args)]
pub struct ListArgs {}

/// `runner secrets rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Secrets name.
    pub name: String,
    /// Remove only this key (the file stays).
    pub key: Option<String>,
}

/// `runner secrets edit`.
#[derive(Debug, Args)]
pub struct EditArgs {
    /// Secrets name.
    pub name: String,
    /// The working-tree key check.
    #[command(flatten)]
    pub public: PublicKeyArgs,
}

/// `runner secrets rotate`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["name", "all"])))]
pub struct RotateArgs {
    /// Secrets name.
    pub name: Option<String>,
    /// Rotate every secrets file in DIR.
    #[arg(long)]
    pub all: bool,
    /// The working-tree key check.
    #[command(flatten)]
    pub public: PublicKeyArgs,
}

/// `runner secrets recipients`.
#[derive(Debug, Subcommand)]
pub enum RecipientsCommand {
    /// Add recipients to NAME (you need a key that opens it now).
    Add(RecipientArgs),
    /// Remove recipients from NAME. Rotate afterwards if they may have kept a copy of the file.
    Remove(RecipientArgs),
}

/// Recipients to add or remove.
#[derive(Debug, Args)]
pub struct RecipientArgs {
    /// Secrets name.
    pub name: String,
    /// age recipient: `age1…`, or an SSH public key `ssh-ed25519 AAAA…` / `ssh-rsa AAAA…` (quoted).
    #[arg(long = "age", value_name = "RECIPIENT")]
    pub age: Vec<String>,
    /// PGP key fingerprint.
    #[arg(long = "pgp", value_name = "FINGERPRINT")]
    pub pgp: Vec<String>,
    /// The working-tree key check.
    #[command(flatten)]
    pub public: PublicKeyArgs,
}

/// `runner secrets encrypt`.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The plaintext file (its name picks the store, as in sops).
    pub file: PathBuf,
    /// Read FILE with this store instead of the one its name gives.
    #[arg(long, value_name = "TYPE", value_parser = TYPES)]
    pub input_type: Option<String>,
    /// Write the encrypted file with this store instead of the one FILE's name gives.
    #[arg(long, value_name = "TYPE", value_parser = TYPES)]
    pub output_type: Option<String>,
    /// age recipient (repeatable): `age1…`, or an SSH public key `ssh-ed25519 AAAA…` /
    /// `ssh-rsa AAAA…` (quoted). Without --age/--pgp, recipients come from .sops.yaml.
    #[arg(long = "age", value_name = "RECIPIENT")]
    pub age: Vec<String>,
    /// PGP fingerprint (repeatable).
    #[arg(long = "pgp", value_name = "FINGERPRINT")]
    pub pgp: Vec<String>,
    /// Replace FILE with the encrypted file.
    #[arg(long, short = 'i', conflicts_with = "output")]
    pub in_place: bool,
    /// Write to this file (0600) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The working-tree key check.
    #[command(flatten)]
    pub public: PublicKeyArgs,
}

/// `runner secrets decrypt`.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The SOPS-encrypted file (its name picks the store, as in sops).
    pub file: PathBuf,
    /// Read FILE with this store instead of the one its name gives.
    #[arg(long, value_name = "TYPE", value_parser = TYPES)]
    pub input_type: Option<String>,
    /// Print the plaintext with this store instead of the one FILE's name gives.
    #[arg(long, value_name = "TYPE", value_parser = TYPES)]
    pub output_type: Option<String>,
    /// Replace FILE with the plaintext.
    #[arg(long, short = 'i', conflicts_with = "output")]
    pub in_place: bool,
    /// Write to this file (0600) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Run `runner secrets`.
pub fn secrets(args: SecretsArgs, _g: &GlobalArgs) -> CmdResult {
    let dir = args.dir;
    let result = match args.command {
        SecretsCommand::Init(_) => init(&dir),
        SecretsCommand::Set(a) => set(&dir, a),
        SecretsCommand::Get(a) => get(&dir, a),
        SecretsCommand::List(_) => list(&dir),
        SecretsCommand::Rm(a) => rm(&dir, a),
        SecretsCommand::Edit(a) => edit(&dir, a),
        SecretsCommand::Rotate(a) => rotate(&dir, a),
        SecretsCommand::Recipients(c) => recipients(&dir, c),
        SecretsCommand::Encrypt(a) => encrypt(a),
        SecretsCommand::Decrypt(a) => decrypt(a),
    };
    result.map_err(|e| to_exit(e).into())
}

/// Map a vault error to an exit code: 2 for usage and I/O, 1 for problems found
/// (MAC mismatch, no usable key, bad config).
fn to_exit(e: SecretsError) -> ExitError {
    match e {
        SecretsError::Io { .. }
        | SecretsError::KeyFile { .. }
        | SecretsError::NotFound { .. }
        | SecretsError::BadName { .. }
        | SecretsError::BadKey { .. }
        | SecretsError::NoRecipients { .. }
        | SecretsError::Input(_) => ExitError::usage(e.to_string()),
        SecretsError::MissingKey { .. }
        | SecretsError::BadKeyText { .. }
        | SecretsError::KeySetup(_)
        | SecretsError::Config { .. }
        | SecretsError::Format(_)
        | SecretsError::PublicKey { .. }
        | SecretsError::Sops(_) => ExitError::failed(e.to_string()),
    }
}

type Res = Result<ExitCode, SecretsError>;

fn out(text: &str) -> Result<(), SecretsError> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|_| o.flush())
        .map_err(|e| SecretsError::io(Path::new("<stdout>"), e))
}

fn init(dir: &Path) -> Res {
    let cwd = std::env::current_dir().map_err(|e| SecretsError::io(Path::new("."), e))?;
    let config_path = rules::find_config_file(&cwd).unwrap_or_else(|| cwd.join(rules::CONFIG_NAME));
    let root = exposed::project_root(&config_path).unwrap_or_else(|| cwd.clone());
    let public = exposed::scan(&root);
    let recipient = own_identity(&public)?;
    let existing = if config_path.exists() {
        Some(std::fs::read_to_string(&config_path).map_err(|e| SecretsError::io(&config_path, e))?)
    } else {
        None
    };
    let config = config_path.display();
    match rules::extend_for_init(&config_path, existing.as_deref(), dir, &recipient, &public)? {
        InitChange::AlreadyCovered { index } => {
            eprintln!(
                "{config}: creation rule {index} already encrypts new files in {} to {recipient} and to no key \
                 of this working tree; nothing written",
                dir.display()
            );
        }
        InitChange::Write { text, rule } => {
            store::write_atomic_mode(&config_path, text.as_bytes(), 0o644)?;
            let mut to = rule.age.join(", ");
            if !rule.pgp.is_empty() {
                to.push_str(&format!(", PGP {}", rule.pgp.join(", ")));
            }
            eprintln!(
                "{config}: {} creation rule {} (path_regex '{}'): new files in {} are encrypted to {to}",
                if existing.is_some() { "added" } else { "written with" },
                rule.index,
                rule.path_regex,
                dir.display()
            );
            for k in &rule.left_out {
                eprintln!(
                    "  left out {}: its private key is in {} in this working tree",
                    k.recipient,
                    k.file.display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The age identity `init` encrypts to: the first one found here whose private key is not in
/// the working tree (`public`), else a new one in the default key file. Says which.
fn own_identity(public: &[TreeKey]) -> Result<String, SecretsError> {
    let ages = keys::AgeKeys::discover()?;
    for (recipient, source) in ages.recipient_sources() {
        match public.iter().find(|k| k.recipient == recipient) {
            Some(k) => eprintln!(
                "not using the age identity {recipient} from {source}: its private key is in {} in this \
                 working tree, so anyone with the repository has it",
                k.file.display()
            ),
            None => {
                eprintln!("using your age identity {recipient} from {source}");
                return Ok(recipient);
            }
        }
    }
    let path = keys::default_key_file().ok_or_else(|| {
        SecretsError::Input("cannot find where to put the age key: set HOME or XDG_CONFIG_HOME".into())
    })?;
    if path.exists() {
        return Err(SecretsError::Input(format!(
            "{} holds no age identity whose private key is outside this working tree; make a new key \
             outside the repository (e.g. `age-keygen -o FILE`) and set SOPS_AGE_KEY_FILE=FILE, or move {} \
             away and run `runner secrets init` again",
            path.display(),
            path.display()
        )));
    }
    let public_key = keys::generate_key_file(&path)?;
    eprintln!("created age identity {} (public key {public_key}); back it up somewhere safe", path.display());
    Ok(public_key)
}

/// Refuse to re-encrypt the secrets file `bytes` (at `path`) while one of its recipients has
/// its private key in the working tree ([`exposed::refuse`]).
fn refuse_public_recipients(path: &Path, bytes: &[u8], public: &PublicKeyArgs) -> Result<(), SecretsError> {
    let age = vault::read_metadata(bytes, FileFormat::Yaml, path)?.age;
    exposed::refuse(path, &age, public.allow_public_key)
}

/// The creation rule for a new file at `path`.
fn rule_for(path: &Path) -> Result<CreationRule, SecretsError> {
    let cwd = std::env::current_dir().map_err(|e| SecretsError::io(Path::new("."), e))?;
    let config =
        SopsConfig::find(&cwd)?.ok_or_else(|| SecretsError::NoRecipients { path: path.to_owned() })?;
    let rule = config.rule_for(path).ok_or_else(|| SecretsError::Config {
        path: config.path.clone(),
        message: format!(
            "no creation rule matches {}: run `runner secrets init` to make your own age key and a rule \
             for it, or pass --age/--pgp",
            path.display()
        ),
    })?;
    if rule.is_empty() {
        return Err(SecretsError::NoRecipients { path: path.to_owned() });
    }
    Ok(rule.clone())
}

fn set(dir: &Path, a: SetArgs) -> Res {
    let path = store::path_for(dir, &a.name)?;
    for k in &a.keys {
        check_set_key(k)?;
    }
    let flags = !a.age.is_empty() || !a.pgp.is_empty();
    let existing = if path.exists() { Some(store::read(&path)?) } else { None };
    if existing.is_some() && flags {
        return Err(SecretsError::Input(format!(
            "{} already exists and keeps its recipients: --age/--pgp only apply when set creates a file; \
             use `runner secrets recipients add {}` to add recipients (nothing was changed)",
            path.display(),
            a.name
        )));
    }
    // Recipients are settled before any value is asked for.
    let rule = match (&existing, flags) {
        (Some(_), _) => None,
        (None, true) => Some(CreationRule::from_recipients(a.age, a.pgp)),
        (None, false) => Some(rule_for(&path)?),
    };
    match (&rule, &existing) {
        (Some(rule), _) => {
            vault::check_recipients(rule, &path)?;
            exposed::refuse(&path, &rule.all_age(), a.public.allow_public_key)?;
        }
        (None, Some(bytes)) => refuse_public_recipients(&path, bytes, &a.public)?,
        (None, None) => {}
    }
    let values = read_values(&a.keys)?;
    let new = match (&existing, rule) {
        (Some(bytes), _) => vault::set_values(bytes, FileFormat::Yaml, &path, &values)?,
        (None, Some(rule)) => vault::create_with_values(&values, FileFormat::Yaml, &path, &rule)?,
        // Every branch above gives a new file a rule.
        (None, None) => return Err(SecretsError::NoRecipients { path }),
    };
    store::write_atomic(&path, &new)?;
    tracing::info!(file = %path.display(), keys = ?a.keys, "secrets updated");
    eprintln!("{}: set {}", path.display(), a.keys.join(", "));
    Ok(ExitCode::SUCCESS)
}

/// A key named on `set`'s command line. `KEY=VALUE` gets its own explanation, which names
/// the key but never shows the value (it may be a secret).
fn check_set_key(arg: &str) -> Result<(), SecretsError> {
    if let Some((key, _)) = arg.split_once('=')
        && store::validate_key(key).is_ok()
    {
        return Err(SecretsError::Input(format!(
            "{key:?}: values are never accepted on the command line (they would stay in shell history \
             and be visible in `ps`); name only the key (`{key}`) and type the value at the hidden prompt, \
             or pass a `{key}=VALUE` line on stdin (e.g. `printf '{key}=%s\\n' \"$VALUE\" | runner secrets set NAME {key}`)"
        )));
    }
    store::validate_key(arg)
}

/// Values for `keys`: hidden prompt on a terminal, else `KEY=VALUE` lines on stdin.
fn read_values(keys: &[String]) -> Result<Vec<(String, SecretString)>, SecretsError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let mut values = Vec::new();
        for k in keys {
            let v = prompt_hidden(&format!("value for {k}: "))?;
            values.push((k.clone(), v));
        }
        return Ok(values);
    }
    let mut text = Zeroizing::new(String::new());
    stdin.lock().read_to_string(&mut text).map_err(|e| SecretsError::io(Path::new("<stdin>"), e))?;
    parse_key_value_lines(&text, keys)
}

/// Parse `KEY=VALUE` lines (blank lines ignored) and check they are exactly `keys`.
/// Errors name keys and line numbers, never values.
pub fn parse_key_value_lines(
    text: &str,
    keys: &[String],
) -> Result<Vec<(String, SecretString)>, SecretsError> {
    let mut values: Vec<(String, SecretString)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(SecretsError::Input(format!("stdin line {}: expected KEY=VALUE", n + 1)));
        };
        let k = k.trim();
        if !keys.iter().any(|want| want == k) {
            return Err(SecretsError::Input(format!(
                "stdin line {}: key {k:?} was not named on the command line",
                n + 1
            )));
        }
        if values.iter().any(|(have, _)| have == k) {
            return Err(SecretsError::Input(format!("stdin line {}: key {k:?} given twice", n + 1)));
        }
        values.push((k.to_owned(), SecretString::from(v)));
    }
    let missing: Vec<&str> =
        keys.iter().filter(|k| !values.iter().any(|(have, _)| have == *k)).map(String::as_str).collect();
    if !missing.is_empty() {
        return Err(SecretsError::Input(format!(
            "stdin has no KEY=VALUE line for {} (values are never taken from the command line)",
            missing.join(", ")
        )));
    }
    Ok(values)
}

/// Ask on stderr and read a line from the terminal on stdin with echo off.
pub(crate) fn prompt_hidden(prompt: &str) -> Result<SecretString, SecretsError> {
    let tty = Path::new("<terminal>");
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it for a valid fd or fails.
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd 0 is open (it is a terminal, checked by the caller); `term` is valid memory.
    if unsafe { libc::tcgetattr(fd, &mut term) } != 0 {
        return Err(SecretsError::io(tty, std::io::Error::last_os_error()));
    }
    // Installed before echo goes off and dropped after it is restored (locals drop in
    // reverse order): Ctrl-C interrupts the read below instead of killing runner with
    // echo still off.
    let _signals = DeferSignals::install();
    let original = term;
    term.c_lflag &= !libc::ECHO;
    term.c_lflag |= libc::ECHONL;
    // SAFETY: as above; `term` is a copy of valid settings with echo cleared.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &term) } != 0 {
        return Err(SecretsError::io(tty, std::io::Error::last_os_error()));
    }
    struct Restore(libc::termios);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: restores the settings read above on the same fd.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0) };
        }
    }
    let _restore = Restore(original);
    // Asked only once echo is off, so nothing typed after the prompt is ever shown.
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = Zeroizing::new(Vec::new());
    loop {
        let mut byte = 0u8;
        // SAFETY: reads at most one byte into a valid one-byte buffer from fd 0.
        let n = unsafe { libc::read(fd, (&mut byte as *mut u8).cast(), 1) };
        match n {
            1 if byte == b'\n' => break,
            1 => line.push(byte),
            0 if line.is_empty() => {
                return Err(SecretsError::Input("no value entered (end of input)".into()));
            }
            0 => break,
            _ => {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    if SIGNALLED.swap(false, std::sync::atomic::Ordering::SeqCst) {
                        eprintln!();
                        return Err(SecretsError::Input("interrupted; nothing was changed".into()));
                    }
                    continue;
                }
                return Err(SecretsError::io(tty, err));
            }
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let text = String::from_utf8(std::mem::take(&mut *line))
        .map_err(|_| SecretsError::Input("the value is not valid UTF-8".into()))?;
    Ok(SecretString::new(text))
}

fn get(dir: &Path, a: GetArgs) -> Res {
    let path = store::path_for(dir, &a.name)?;
    let bytes = store::read(&path)?;
    tracing::info!(file = %path.display(), key = a.key.as_deref().unwrap_or("*"), "revealing secrets");
    match a.key {
        Some(key) => {
            let map = vault::decrypt_to_map(&bytes, FileFormat::Yaml, &path)?;
            let v = map.get(&key).ok_or(SecretsError::MissingKey { path: path.clone(), key })?;
            let line = Zeroizing::new(format!("{}\n", v.expose()));
            out(&line)?;
        }
        None => {
            let plain = vault::decrypt_to_plaintext(&bytes, FileFormat::Yaml, &path)?;
            out(&String::from_utf8_lossy(&plain))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(dir: &Path) -> Res {
    let demo_dir = dir.join(store::DEMO_DIR);
    let demo = store::list_names(&demo_dir)?;
    if !demo.is_empty() {
        eprintln!(
            "placeholder demo files in {} (a recipe's credentials use them while {} has no file of that name): {}",
            demo_dir.display(),
            dir.display(),
            demo.join(", ")
        );
    }
    let names = store::list_names(dir)?;
    if names.is_empty() {
        eprintln!("no secrets files in {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    let mut bad = 0;
    for name in names {
        let path = store::path_for(dir, &name)?;
        let meta = store::read(&path).and_then(|b| vault::read_metadata(&b, FileFormat::Yaml, &path));
        match meta {
            Ok(m) => {
                text.push_str(&format!("{name}\n"));
                text.push_str(&format!("  keys: {}\n", m.keys.join(", ")));
                for r in &m.age {
                    text.push_str(&format!("  age: {r}\n"));
                }
                for f in &m.pgp {
                    text.push_str(&format!("  pgp: {f}\n"));
                }
                text.push_str(&format!("  modified: {}\n", m.last_modified.as_deref().unwrap_or("?")));
            }
            Err(e) => {
                bad += 1;
                eprintln!("error: {e}");
            }
        }
    }
    out(&text)?;
    Ok(if bad > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn rm(dir: &Path, a: RmArgs) -> Res {
    let path = store::path_for(dir, &a.name)?;
    match a.key {
        None => {
            store::remove(&path)?;
            eprintln!("removed {}", path.display());
        }
        Some(key) => {
            let bytes = store::read(&path)?;
            let new = vault::remove_key(&bytes, FileFormat::Yaml, &path, &key)?;
            store::write_atomic(&path, &new)?;
            eprintln!("{}: removed {key}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn edit(dir: &Path, a: EditArgs) -> Res {
    use std::os::unix::fs::PermissionsExt;
    let path = store::path_for(dir, &a.name)?;
    let bytes = store::read(&path)?;
    refuse_public_recipients(&path, &bytes, &a.public)?;
    let session = vault::EditSession::open(&bytes, FileFormat::Yaml, &path)?;
    let plain = session.plaintext()?;
    // A private directory, made 0700 (the umask can only take bits away) and set to 0700 in
    // case the umask took the owner's; removed (with the plaintext) when `tmp` drops.
    let private = std::fs::Permissions::from_mode(0o700);
    let tmp = tempfile::Builder::new()
        .prefix("runner-edit-")
        .permissions(private.clone())
        .tempdir()
        .map_err(|e| SecretsError::io(&std::env::temp_dir(), e))?;
    std::fs::set_permissions(tmp.path(), private).map_err(|e| SecretsError::io(tmp.path(), e))?;
    let edit_path = tmp.path().join(format!("{}.yaml", a.name));
    let result = edit_in(&edit_path, &plain, &path, &session);
    // Overwrite before unlinking so the plaintext does not linger in the page cache file.
    if let Ok(meta) = std::fs::metadata(&edit_path) {
        let _ = std::fs::write(&edit_path, vec![0u8; meta.len() as usize]);
    }
    drop(tmp);
    result
}

fn edit_in(edit_path: &Path, plain: &[u8], path: &Path, session: &vault::EditSession) -> Res {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(edit_path)
            .map_err(|e| SecretsError::io(edit_path, e))?;
        // 0600 whatever the umask (it may have taken the owner's write bit).
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .and_then(|_| f.write_all(plain))
            .and_then(|_| f.sync_all())
            .map_err(|e| SecretsError::io(edit_path, e))?;
    }
    let editor = std::env::var("EDITOR")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| std::env::var("VISUAL").ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_owned());
    // Off a terminal nobody can fix an invalid edit: report it and stop.
    let can_retry = std::io::stdin().is_terminal();
    loop {
        run_editor(&editor, edit_path, path)?;
        let edited = Zeroizing::new(std::fs::read(edit_path).map_err(|e| SecretsError::io(edit_path, e))?);
        if edited.as_slice() == plain {
            eprintln!("{}: no changes", path.display());
            return Ok(ExitCode::SUCCESS);
        }
        match session.replace(&edited) {
            Ok(new) => {
                store::write_atomic(path, &new)?;
                eprintln!("{}: saved", path.display());
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) if can_retry => {
                // Like sops: keep the edit and offer to fix it in the same temp file.
                eprintln!("error: {e}");
                wait_for_enter(&format!(
                    "{} was not changed; press Enter to edit again, Ctrl-C to abort: ",
                    path.display()
                ))
                .map_err(|why| SecretsError::Input(format!("{why}; {} was not changed", path.display())))?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Run `editor` on `edit_path`; an error unless it exits successfully.
fn run_editor(editor: &str, edit_path: &Path, path: &Path) -> Result<(), SecretsError> {
    // While the editor runs, Ctrl-C / hang-up / terminate must not kill runner before it
    // removes the plaintext: catch them (the editor, after exec, gets default handling).
    let status = {
        let _guard = DeferSignals::install();
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("sh")
            .arg(edit_path)
            .status()
            .map_err(|e| SecretsError::Input(format!("could not start editor {editor:?}: {e}")))?
    };
    if !status.success() {
        return Err(SecretsError::Input(format!(
            "editor {editor:?} failed ({status}); {} was not changed",
            path.display()
        )));
    }
    Ok(())
}

/// Show `prompt` on stderr and wait for a line on the terminal (stdin). `Err` with the
/// reason if Ctrl-C (or another deferred signal) arrives or input ends first.
fn wait_for_enter(prompt: &str) -> Result<(), &'static str> {
    let _signals = DeferSignals::install();
    // A signal noted while the editor ran is not an answer to this question.
    SIGNALLED.store(false, std::sync::atomic::Ordering::SeqCst);
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    loop {
        let mut byte = 0u8;
        // SAFETY: reads at most one byte into a valid one-byte buffer from fd 0.
        let n = unsafe { libc::read(libc::STDIN_FILENO, (&mut byte as *mut u8).cast(), 1) };
        match n {
            1 if byte == b'\n' => return Ok(()),
            1 => {}
            0 => {
                eprintln!();
                return Err("end of input");
            }
            _ => {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted
                    && !SIGNALLED.swap(false, std::sync::atomic::Ordering::SeqCst)
                {
                    continue;
                }
                eprintln!();
                return Err(if err.kind() == std::io::ErrorKind::Interrupted {
                    "interrupted"
                } else {
                    "cannot read the terminal"
                });
            }
        }
    }
}

/// Replaces the handlers of SIGINT, SIGQUIT, SIGHUP and SIGTERM by [`note_signal`] while alive
/// (without `SA_RESTART`, so a blocking read returns `EINTR`) and
/// restores the previous ones on drop. A caught signal (unlike an ignored one) is reset to
/// the default in child processes at exec, so the editor still reacts to Ctrl-C.
struct DeferSignals {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

/// Set by [`note_signal`] when a deferred signal arrives.
static SIGNALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The deferred-signal handler: only records the signal (async-signal-safe).
extern "C" fn note_signal(_: libc::c_int) {
    SIGNALLED.store(true, std::sync::atomic::Ordering::SeqCst);
}

impl DeferSignals {
    fn install() -> Self {
        let mut previous = Vec::new();
        for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGHUP, libc::SIGTERM] {
            // SAFETY: sigaction is plain data; zeroed is a valid empty mask/flags value, and
            // the handler is an `extern "C"` function that only stores to an atomic.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = note_signal as *const () as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &action, &mut old) == 0 {
                    previous.push((sig, old));
                }
            }
        }
        Self { previous }
    }
}

impl Drop for DeferSignals {
    fn drop(&mut self) {
        for (sig, old) in &self.previous {
            // SAFETY: restores a disposition previously returned by sigaction for this signal.
            unsafe {
                libc::sigaction(*sig, old, std::ptr::null_mut());
            }
        }
    }
}

fn rotate(dir: &Path, a: RotateArgs) -> Res {
    let names = match (a.all, a.name) {
        (true, _) => store::list_names(dir)?,
        (false, Some(n)) => vec![n],
        // clap enforces NAME or --all.
        (false, None) => return Err(SecretsError::Input("give NAME or --all".into())),
    };
    // Build every new file first so one failure leaves every file unchanged.
    let mut staged = Vec::new();
    for name in &names {
        let path = store::path_for(dir, name)?;
        let bytes = store::read(&path)?;
        refuse_public_recipients(&path, &bytes, &a.public)?;
        tracing::info!(file = %path.display(), "rotating the data key");
        staged.push((path.clone(), vault::rotate(&bytes, FileFormat::Yaml, &path)?));
    }
    for (path, new) in staged {
        store::write_atomic(&path, &new)?;
        eprintln!("{}: new data key", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn recipients(dir: &Path, c: RecipientsCommand) -> Res {
    let (a, add) = match c {
        RecipientsCommand::Add(a) => (a, true),
        RecipientsCommand::Remove(a) => (a, false),
    };
    if a.age.is_empty() && a.pgp.is_empty() {
        return Err(SecretsError::Input("give at least one --age RECIPIENT or --pgp FINGERPRINT".into()));
    }
    let path = store::path_for(dir, &a.name)?;
    let bytes = store::read(&path)?;
    tracing::info!(file = %path.display(), add, age = ?a.age, pgp = ?a.pgp, "changing recipients");
    let change = RecipientChange { add, age: a.age, pgp: a.pgp };
    let new = vault::update_recipients(&bytes, FileFormat::Yaml, &path, &change)?;
    // The recipients the file ends up with: removing a public key is always allowed.
    refuse_public_recipients(&path, &new, &a.public)?;
    store::write_atomic(&path, &new)?;
    eprintln!("{}: recipients updated", path.display());
    Ok(ExitCode::SUCCESS)
}

/// The store for reading or writing `file`: the `--input-type` / `--output-type` value if
/// given, else the one sops picks from the name.
fn store_of(file: &Path, flag: Option<&str>) -> FileFormat {
    // clap only lets through the names in TYPES, which all parse.
    flag.and_then(FileFormat::from_name).unwrap_or_else(|| vault::format_of(file))
}

fn encrypt(a: EncryptArgs) -> Res {
    let input = store_of(&a.file, a.input_type.as_deref());
    let output = store_of(&a.file, a.output_type.as_deref());
    let plain = Zeroizing::new(store::read(&a.file)?);
    let rule = if a.age.is_empty() && a.pgp.is_empty() {
        rule_for(&a.file)?
    } else {
        CreationRule::from_recipients(a.age, a.pgp)
    };
    // The file written (or, on stdout, the one encrypted) decides whether it is a demo file.
    exposed::refuse(a.output.as_deref().unwrap_or(&a.file), &rule.all_age(), a.public.allow_public_key)?;
    tracing::debug!(file = %a.file.display(), input = input.flag(), output = output.flag(), "encrypting");
    let enc = vault::encrypt_converted(&plain, input, output, &a.file, &rule)?;
    emit(&enc, &a.file, a.in_place, a.output.as_deref())
}

fn decrypt(a: DecryptArgs) -> Res {
    let input = store_of(&a.file, a.input_type.as_deref());
    let output = store_of(&a.file, a.output_type.as_deref());
    let bytes = store::read(&a.file)?;
    let plain = vault::decrypt_converted(&bytes, input, output, &a.file)?;
    emit(&plain, &a.file, a.in_place, a.output.as_deref())
}

fn emit(bytes: &[u8], file: &Path, in_place: bool, output: Option<&Path>) -> Res {
    if in_place {
        store::write_atomic(file, bytes)?;
    } else if let Some(o) = output {
        store::write_atomic(o, bytes)?;
    } else {
        let mut o = std::io::stdout().lock();
        o.write_all(bytes).and_then(|_| o.flush()).map_err(|e| SecretsError::io(Path::new("<stdout>"), e))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_lines() {
        let keys = vec!["a".to_owned(), "b".to_owned()];
        let v = parse_key_value_lines("a=1=2\r\n\nb=\n", &keys).unwrap();
        assert_eq!(v[0].1.expose(), "1=2");
        assert_eq!(v[1].1.expose(), "");
        let e = parse_key_value_lines("a=canary\n", &keys).unwrap_err().to_string();
        assert!(e.contains("b") && !e.contains("canary"), "{e}");
        let e = parse_key_value_lines("a=canary\nc=canary\n", &keys).unwrap_err().to_string();
        assert!(e.contains("\"c\"") && !e.contains("canary"), "{e}");
        assert!(parse_key_value_lines("canary\n", &keys).unwrap_err().to_string().contains("line 1"));
    }
}
