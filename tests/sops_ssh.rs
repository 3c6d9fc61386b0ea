//! age SSH keys, key commands and comment rules, checked against the real Go sops 3.11.0:
//! `ssh-ed25519` / `ssh-rsa` recipients both ways, the key lookup order, passphrase-protected
//! keys on a terminal, `SOPS_AGE_KEY_CMD` (with `SOPS_AGE_RECIPIENT`), and
//! `unencrypted_comment_regex` / `encrypted_comment_regex` files written by either side.
//! Every SSH key is made by the test with `ssh-keygen` (openssh-client, see `.ci/setup`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use age::secrecy::ExposeSecret;

use crate::support::{Finished, Run};

/// A value that must never show up in an error message.
const CANARY: &str = "canary-Ssh-4471-SECRET";

/// The environment variables that choose keys; every run starts without them.
const KEY_VARS: [&str; 6] = [
    "SOPS_AGE_KEY",
    "SOPS_AGE_KEY_FILE",
    "SOPS_AGE_KEY_CMD",
    "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
    "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
    "XDG_CONFIG_HOME",
];

/// The real Go sops; absent → the test FAILS (run `.ci/setup`).
fn sops_bin() -> PathBuf {
    let p = std::env::var_os("RUNNER_SOPS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::support::repo_root().join("target/tools/bin/sops"));
    assert!(p.is_file(), "Go sops not found at {} — run .ci/setup (or set RUNNER_SOPS_BIN)", p.display());
    p
}

/// An SSH key pair made by `ssh-keygen`.
struct SshKey {
    private: PathBuf,
    public: String,
}

/// A throwaway working directory, and beside it (outside the working tree, as private keys
/// must be) an empty HOME and the tests' key files.
struct Dir {
    root: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        let root = tempfile::Builder::new().prefix("rssh-").tempdir().expect("tempdir");
        for dir in ["work", "home"] {
            fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        Dir { root }
    }

    /// The working directory.
    fn dir(&self) -> PathBuf {
        self.root.path().join("work")
    }

    /// A path in the working directory.
    fn path(&self, rel: &str) -> PathBuf {
        self.dir().join(rel)
    }

    /// A path beside the working directory: `home/…`, `keys/…`.
    fn outside(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap()
    }

    /// `ssh-keygen -t KIND` into `keys/NAME` (with a passphrase if given).
    fn ssh_key(&self, name: &str, kind: &str, passphrase: &str) -> SshKey {
        let private = self.outside(&format!("keys/{name}"));
        fs::create_dir_all(private.parent().unwrap()).unwrap();
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-q", "-t", kind, "-N", passphrase, "-C", &format!("{name}@test"), "-f"]).arg(&private);
        if kind == "rsa" {
            cmd.args(["-b", "3072"]);
        }
        let out = cmd.output().expect("ssh-keygen is missing: install openssh-client (see .ci/setup)");
        assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
        let public = fs::read_to_string(private.with_extension("pub")).unwrap().trim().to_string();
        SshKey { private, public }
    }

    /// A new age X25519 key file `keys/NAME.txt`; returns (file, recipient).
    fn age_key(&self, name: &str) -> (PathBuf, String) {
        let id = age::x25519::Identity::generate();
        let file = self.outside(&format!("keys/{name}.txt"));
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, format!("{}\n", id.to_string().expose_secret())).unwrap();
        (file, id.to_public().to_string())
    }

    /// `runner ARGS` here, with no keys except what `env` adds.
    fn runner(&self, args: &[&str], env: &[(&str, &Path)]) -> Run {
        let mut run = Run::new(args)
            .dir(self.dir())
            .env("HOME", self.outside("home"))
            .env("GNUPGHOME", self.outside("no-gnupg"));
        for v in KEY_VARS {
            run = run.env_remove(v);
        }
        for (k, v) in env {
            run = run.env(k, v);
        }
        run
    }

    /// The real sops here, with no keys except what `env` adds.
    fn sops(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut cmd = Command::new(sops_bin());
        cmd.args(args)
            .current_dir(self.dir())
            .env("HOME", self.outside("home"))
            .env("GNUPGHOME", self.outside("no-gnupg"))
            .env("SOPS_DISABLE_VERSION_CHECK", "1");
        for v in KEY_VARS {
            cmd.env_remove(v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run sops")
    }

    /// The real sops must succeed; returns its stdout.
    #[track_caller]
    fn sops_ok(&self, args: &[&str], env: &[(&str, &Path)]) -> String {
        let out = self.sops(args, env);
        assert!(out.status.success(), "sops {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

const SSH_FILE: &str = "SOPS_AGE_SSH_PRIVATE_KEY_FILE";

/// The encrypted file with every `ENC[…]` replaced by `ENC<type>` and the `sops` block cut:
/// what is encrypted and what stays clear, comparable between writers.
fn shape(encrypted: &str) -> String {
    let re = regex::Regex::new(r"ENC\[AES256_GCM,data:[^,]*,iv:[^,]*,tag:[^,]*,type:([a-z]+)\]").unwrap();
    let text = re.replace_all(encrypted, "ENC<$1>");
    text.lines()
        .take_while(|l| !l.starts_with("sops:") && !l.starts_with("sops_"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn ssh_ed25519_and_rsa_recipients_work_both_ways_with_go_sops() {
    let d = Dir::new();
    let ed = d.ssh_key("ed", "ed25519", "");
    let rsa = d.ssh_key("rsa", "rsa", "");
    d.write("plain.yaml", &format!("api_key: {CANARY}\nport: 8443\nnested:\n    list: [a, b]\n"));

    // runner encrypts to both SSH keys → sops opens it with either key.
    d.runner(
        &["secrets", "encrypt", "--age", &ed.public, "--age", &rsa.public, "plain.yaml", "-o", "r.enc.yaml"],
        &[],
    )
    .run()
    .success();
    let written = d.read("r.enc.yaml");
    assert!(written.contains(&format!("recipient: {}", ed.public)), "{written}");
    assert!(!written.contains(CANARY));
    let by_sops_ed = d.sops_ok(&["decrypt", "r.enc.yaml"], &[(SSH_FILE, &ed.private)]);
    let by_sops_rsa = d.sops_ok(&["decrypt", "r.enc.yaml"], &[(SSH_FILE, &rsa.private)]);
    assert!(by_sops_ed.contains(CANARY));
    assert_eq!(by_sops_ed, by_sops_rsa);

    // sops encrypts to both (a .sops.yaml rule) → runner opens it with either key, and prints
    // exactly what sops prints.
    d.write(".sops.yaml", &format!("creation_rules:\n  - age: {}, {}\n", ed.public, rsa.public));
    let enc = d.sops_ok(&["encrypt", "plain.yaml"], &[]);
    d.write("s.enc.yaml", &enc);
    let expected = d.sops_ok(&["decrypt", "s.enc.yaml"], &[(SSH_FILE, &ed.private)]);
    for key in [&ed, &rsa] {
        let out =
            d.runner(&["secrets", "decrypt", "s.enc.yaml"], &[(SSH_FILE, &key.private)]).run().success();
        assert_eq!(out.stdout, expected);
    }

    // runner's own creation rules take SSH recipients too, and `recipients add` re-wraps for one.
    d.write(".sops.yaml", &format!("creation_rules:\n  - path_regex: ^secrets/\n    age: {}\n", ed.public));
    d.runner(&["secrets", "set", "svc", "token"], &[]).stdin(format!("token={CANARY}\n")).run().success();
    d.runner(&["secrets", "recipients", "add", "svc", "--age", &rsa.public], &[(SSH_FILE, &ed.private)])
        .run()
        .success();
    let got = d.sops_ok(
        &["decrypt", "--extract", "[\"token\"]", "secrets/svc.sops.yaml"],
        &[(SSH_FILE, &rsa.private)],
    );
    assert_eq!(got.trim_end(), CANARY);
    let out = d.runner(&["secrets", "get", "svc", "token"], &[(SSH_FILE, &rsa.private)]).run().success();
    assert_eq!(out.stdout, format!("{CANARY}\n"));
}

#[test]
fn default_ssh_keys_are_found_in_home_and_bad_ones_are_named() {
    let d = Dir::new();
    let ed = d.ssh_key("ed", "ed25519", "");
    let rsa = d.ssh_key("rsa", "rsa", "");
    d.write("plain.yaml", &format!("v: {CANARY}\n"));
    d.runner(
        &["secrets", "encrypt", "--age", &ed.public, "--age", &rsa.public, "plain.yaml", "-o", "x.enc.yaml"],
        &[],
    )
    .run()
    .success();
    let decrypt = || d.runner(&["secrets", "decrypt", "x.enc.yaml"], &[]).run();

    // No key anywhere: a clear failure.
    let none = decrypt().code(1);
    assert!(none.stderr.contains("x.enc.yaml"), "{}", none.stderr);
    // ~/.ssh/id_rsa alone opens it; so does ~/.ssh/id_ed25519 alone.
    fs::create_dir_all(d.outside("home/.ssh")).unwrap();
    fs::copy(&rsa.private, d.outside("home/.ssh/id_rsa")).unwrap();
    assert!(decrypt().success().stdout.contains(CANARY));
    fs::remove_file(d.outside("home/.ssh/id_rsa")).unwrap();
    fs::copy(&ed.private, d.outside("home/.ssh/id_ed25519")).unwrap();
    assert!(decrypt().success().stdout.contains(CANARY));

    // An unusable ~/.ssh/id_rsa does not stop the working key; when nothing works, it is named.
    fs::write(d.outside("home/.ssh/id_rsa"), "not a key\n").unwrap();
    assert!(decrypt().success().stdout.contains(CANARY));
    fs::remove_file(d.outside("home/.ssh/id_ed25519")).unwrap();
    let bad = decrypt().code(1);
    assert!(
        bad.stderr.contains(".ssh/id_rsa") && bad.stderr.contains("not an SSH private key"),
        "{}",
        bad.stderr
    );

    // An explicit SOPS_AGE_SSH_PRIVATE_KEY_FILE that is not a key is an error naming it.
    let junk = d.outside("keys/junk");
    fs::write(&junk, "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
        .unwrap();
    let out = d.runner(&["secrets", "decrypt", "x.enc.yaml"], &[(SSH_FILE, &junk)]).run();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains(&junk.display().to_string()), "{}", out.stderr);
    let missing = d.outside("keys/nope");
    let out = d.runner(&["secrets", "decrypt", "x.enc.yaml"], &[(SSH_FILE, &missing)]).run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("keys/nope"), "{}", out.stderr);
}

#[test]
fn a_wrong_ssh_key_gives_a_clear_error_naming_it_and_no_secret() {
    let d = Dir::new();
    let mine = d.ssh_key("mine", "ed25519", "");
    let other = d.ssh_key("other", "ed25519", "");
    d.write("plain.yaml", &format!("v: {CANARY}\n"));
    d.runner(&["secrets", "encrypt", "--age", &mine.public, "plain.yaml", "-o", "x.enc.yaml"], &[])
        .run()
        .success();
    let out: Finished =
        d.runner(&["secrets", "decrypt", "x.enc.yaml"], &[(SSH_FILE, &other.private)]).run().code(1);
    assert!(out.stderr.contains("x.enc.yaml"), "{}", out.stderr);
    assert!(out.stderr.contains(&other.private.display().to_string()), "{}", out.stderr);
    assert!(out.stderr.contains("no matching age identity"), "{}", out.stderr);
    let private = fs::read_to_string(&other.private).unwrap();
    let body: Vec<&str> = private.lines().filter(|l| !l.starts_with("-----")).collect();
    for line in body {
        assert!(!out.stderr.contains(line), "private key material in the error: {}", out.stderr);
    }
    assert!(!out.stderr.contains(CANARY) && out.stdout.is_empty());
    // Go sops refuses the same file with the same key.
    assert!(!d.sops(&["decrypt", "x.enc.yaml"], &[(SSH_FILE, &other.private)]).status.success());
}

/// Runs `command` on a pseudo-terminal in `d`, typing what `feed` prints to fd 3 (see
/// [`crate::support::pty_script`]).
fn on_pty(d: &Dir, command: &str, feed: &str, env: &[(&str, &Path)]) -> Output {
    let shell = crate::support::pty_script(command, feed);
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(shell).current_dir(d.dir()).env("HOME", d.outside("home"));
    for v in KEY_VARS {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run script")
}

#[test]
fn passphrase_protected_ssh_keys_are_asked_for_on_a_terminal_only() {
    let d = Dir::new();
    let locked = d.ssh_key("locked", "ed25519", "correct horse");
    let (age_file, age_recipient) = d.age_key("age");
    d.write("plain.yaml", &format!("v: {CANARY}\n"));
    // Written by Go sops, to the protected SSH key and to an age key.
    d.write(".sops.yaml", &format!("creation_rules:\n  - age: {}\n", locked.public));
    d.write("x.enc.yaml", &d.sops_ok(&["encrypt", "plain.yaml"], &[]));
    d.write(".sops.yaml", &format!("creation_rules:\n  - age: {age_recipient}\n"));
    d.write("a.enc.yaml", &d.sops_ok(&["encrypt", "plain.yaml"], &[]));

    // Not a terminal: a clear error, no prompt.
    let out = d.runner(&["secrets", "decrypt", "x.enc.yaml"], &[(SSH_FILE, &locked.private)]).run().code(1);
    assert!(
        out.stderr.contains("passphrase-protected") && out.stderr.contains("keys/locked"),
        "{}",
        out.stderr
    );
    // A protected key that the file is not addressed to is never asked for.
    let out = d
        .runner(
            &["secrets", "decrypt", "a.enc.yaml"],
            &[(SSH_FILE, &locked.private), ("SOPS_AGE_KEY_FILE", &age_file)],
        )
        .run()
        .success();
    assert!(out.stdout.contains(CANARY) && !out.stderr.contains("passphrase"), "{}", out.stderr);

    // On a terminal: asked once, without echo; the right passphrase opens the file.
    let command = format!("{} secrets decrypt x.enc.yaml", crate::support::runner_bin());
    let out = on_pty(
        &d,
        &command,
        "w 'Enter passphrase'; printf 'correct horse\\n' >&3",
        &[(SSH_FILE, &locked.private)],
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(shown.contains("Enter passphrase for SSH key") && shown.contains(CANARY), "{shown}");
    assert!(!shown.contains("correct horse"), "the passphrase was echoed: {shown}");
    // A wrong passphrase: a clear error naming the key.
    let out =
        on_pty(&d, &command, "w 'Enter passphrase'; printf 'wrong\\n' >&3", &[(SSH_FILE, &locked.private)]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("wrong passphrase for the SSH key") && !shown.contains(CANARY), "{shown}");
}

#[test]
fn key_commands_get_the_recipient_and_their_output_is_used() {
    let d = Dir::new();
    let (age_file, recipient) = d.age_key("me");
    let ed = d.ssh_key("ed", "ed25519", "");
    d.write("plain.yaml", &format!("v: {CANARY}\n"));
    d.write(".sops.yaml", &format!("creation_rules:\n  - age: {recipient}\n"));
    d.write("x.enc.yaml", &d.sops_ok(&["encrypt", "plain.yaml"], &[]));

    // The command sees SOPS_AGE_RECIPIENT (as in sops 3.12+) and prints the key file.
    let cmd =
        format!("sh -c 'printf \"%s\" \"$SOPS_AGE_RECIPIENT\" > seen.txt; cat \"{}\"'", age_file.display());
    let cmd_path = PathBuf::from(&cmd);
    let out =
        d.runner(&["secrets", "decrypt", "x.enc.yaml"], &[("SOPS_AGE_KEY_CMD", &cmd_path)]).run().success();
    assert!(out.stdout.contains(CANARY));
    assert_eq!(d.read("seen.txt"), recipient);
    // Go sops 3.11 reads the same command's output.
    assert!(d.sops_ok(&["decrypt", "x.enc.yaml"], &[("SOPS_AGE_KEY_CMD", &cmd_path)]).contains(CANARY));

    // A failing command, or one printing junk: a clear error naming the variable, no output.
    let out = d
        .runner(&["secrets", "decrypt", "x.enc.yaml"], &[("SOPS_AGE_KEY_CMD", Path::new("false"))])
        .run()
        .code(1);
    assert!(
        out.stderr.contains("$SOPS_AGE_KEY_CMD") && out.stderr.contains("`false` failed"),
        "{}",
        out.stderr
    );
    let junk = PathBuf::from("echo not-a-key");
    let out = d.runner(&["secrets", "decrypt", "x.enc.yaml"], &[("SOPS_AGE_KEY_CMD", &junk)]).run().code(1);
    assert!(out.stderr.contains("$SOPS_AGE_KEY_CMD: line 1"), "{}", out.stderr);

    // SOPS_AGE_SSH_PRIVATE_KEY_CMD prints an SSH private key.
    d.write(".sops.yaml", &format!("creation_rules:\n  - age: {}\n", ed.public));
    d.write("s.enc.yaml", &d.sops_ok(&["encrypt", "plain.yaml"], &[]));
    let cat = PathBuf::from(format!("cat {}", ed.private.display()));
    let out = d
        .runner(&["secrets", "decrypt", "s.enc.yaml"], &[("SOPS_AGE_SSH_PRIVATE_KEY_CMD", &cat)])
        .run()
        .success();
    assert!(out.stdout.contains(CANARY));
}

/// Whether process `pid` has ended (gone, or a zombie left to be reaped), waiting for that
/// up to ~10 s.
fn ended(pid: &str) -> bool {
    for _ in 0..200 {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) if stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')) => {
                return true;
            }
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    false
}

#[test]
fn a_key_command_that_hangs_or_floods_is_stopped_with_its_process_group() {
    use std::os::unix::fs::PermissionsExt;
    let d = Dir::new();
    let (_, recipient) = d.age_key("me");
    d.write("plain.yaml", &format!("v: {CANARY}\n"));
    d.runner(&["secrets", "encrypt", "--age", &recipient, "plain.yaml", "-o", "x.enc.yaml"], &[])
        .run()
        .success();
    // Prints something, then waits for a child of its own (in its process group).
    d.write("slow.sh", "#!/bin/sh\necho NOT-TO-BE-SHOWN\nsleep 30 &\necho $! > sleeper.pid\nwait\n");
    fs::set_permissions(d.path("slow.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    let slow = d.path("slow.sh");
    let out = d
        .runner(&["secrets", "decrypt", "x.enc.yaml"], &[("SOPS_AGE_KEY_CMD", &slow)])
        .env("RUNNER_KEY_CMD_TIMEOUT", "2")
        .run()
        .code(1);
    let said = format!("$SOPS_AGE_KEY_CMD: `{}` did not finish within 2 s; it was stopped", slow.display());
    assert!(out.stderr.contains(&said) && out.stderr.contains("RUNNER_KEY_CMD_TIMEOUT"), "{}", out.stderr);
    assert!(!out.stderr.contains("NOT-TO-BE-SHOWN") && !out.stdout.contains(CANARY), "{out:?}");
    let sleeper = d.read("sleeper.pid");
    assert!(ended(sleeper.trim()), "the command's child {} is still running", sleeper.trim());

    // Endless output is cut off and stopped too (here through the SSH key command).
    let flood = PathBuf::from("yes AGE-SECRET-KEY-1");
    let out = d
        .runner(&["secrets", "decrypt", "x.enc.yaml"], &[("SOPS_AGE_SSH_PRIVATE_KEY_CMD", &flood)])
        .run()
        .code(1);
    assert!(
        out.stderr.contains("$SOPS_AGE_SSH_PRIVATE_KEY_CMD: `yes` printed more than 64 KiB"),
        "{}",
        out.stderr
    );
    // A timeout that is not a number of seconds is named.
    let out = d
        .runner(&["secrets", "decrypt", "x.enc.yaml"], &[("SOPS_AGE_KEY_CMD", &slow)])
        .env("RUNNER_KEY_CMD_TIMEOUT", "soon")
        .run()
        .code(1);
    assert!(
        out.stderr.contains("RUNNER_KEY_CMD_TIMEOUT=\"soon\" is not a number of seconds"),
        "{}",
        out.stderr
    );
}

/// A document with comments everywhere the comment rules look.
const COMMENTED: &str = "\
# plain header
a: secret-a
# sops:nosec
b: clear-b
c: secret-c
nested:
    # sops:nosec
    d: clear-d
    e: secret-e
# sops:nosec
sub:
    x: 1
    # plain inner
    y: 2
list:
    - x
    # sops:nosec
    - y
    - z
# sops:enc
f: f-val
# second comment
g: g-val
deep:
    # sops:enc
    k:
        # c1
        m: m-val
    n: n-val
inline: v # sops:nosec
after: w
";

#[test]
fn comment_regex_files_match_go_sops_both_ways() {
    let d = Dir::new();
    let ed = d.ssh_key("ed", "ed25519", "");
    let key: &[(&str, &Path)] = &[(SSH_FILE, &ed.private)];
    d.write("doc.yaml", COMMENTED);
    d.write("doc.env", "# head\nA=1\n# sops:nosec\nB=2\nC=3\n# sops:enc\nD=4\n");
    for (option, regex) in
        [("unencrypted_comment_regex", "sops:nosec"), ("encrypted_comment_regex", "sops:enc")]
    {
        d.write(".sops.yaml", &format!("creation_rules:\n  - age: {}\n    {option}: '{regex}'\n", ed.public));
        for plain in ["doc.yaml", "doc.env"] {
            let ext = Path::new(plain).extension().unwrap().to_str().unwrap();
            let ours = format!("r.enc.{ext}");
            let theirs = format!("s.enc.{ext}");
            d.runner(&["secrets", "encrypt", plain, "-o", &ours], &[]).run().success();
            d.write(&theirs, &d.sops_ok(&["encrypt", plain], &[]));
            let (r, s) = (d.read(&ours), d.read(&theirs));
            assert!(r.contains(option), "{r}");
            // The same values and comments are encrypted, the same stay clear.
            assert_eq!(shape(&r), shape(&s), "{option} {plain}");
            // Each side opens the other's file and prints the same.
            let expected = d.sops_ok(&["decrypt", &theirs], key);
            assert_eq!(d.sops_ok(&["decrypt", &ours], key), expected, "{option} {plain}");
            assert_eq!(d.runner(&["secrets", "decrypt", &theirs], key).run().success().stdout, expected);
            assert_eq!(d.runner(&["secrets", "decrypt", &ours], key).run().success().stdout, expected);
        }
    }

    // Writing an existing file keeps the rule: sops creates it, runner sets a value, sops reads it.
    d.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {}\n    unencrypted_comment_regex: nosec\n", ed.public),
    );
    d.write("svc.yaml", "# nosec\nuser: bob\npassword: hunter2\n");
    fs::create_dir_all(d.path("secrets")).unwrap();
    d.write("secrets/svc.sops.yaml", &d.sops_ok(&["encrypt", "svc.yaml"], &[]));
    d.runner(&["secrets", "set", "svc", "password"], key)
        .stdin(format!("password={CANARY}\n"))
        .run()
        .success();
    let file = d.read("secrets/svc.sops.yaml");
    assert!(file.contains("user: bob") && file.contains("unencrypted_comment_regex: nosec"), "{file}");
    assert!(!file.contains(CANARY));
    let got = d.sops_ok(&["decrypt", "secrets/svc.sops.yaml"], key);
    assert_eq!(got, format!("# nosec\nuser: bob\npassword: {CANARY}\n"));
}

/// YAML layouts where yaml.v3 (and so sops) attaches comments in its own way: inline comments
/// after flow collections, comments on and around `- ` lines of list entries that are maps or
/// lists, comments between entries at various columns, indentless lists, trailing comments.
const PLACEMENTS: &[&str] = &[
    "p: [1, 2]  # c\nq: 1\n",
    "p: {a: 1}  # c\nq: 1\n",
    "p: [1,\n  2]  # c\nq: 1\n",
    "p:  # c\n    - 1\nq: 1\n",
    "l:\n    - # c\n      x: 1\n",
    "l:\n    - x: 1 # c\n      y: 2\n",
    "l:\n    - x: # c\n          k: 1\n",
    "l:\n    # above\n    - x: 1\n      y: 2\n",
    "l:\n    - {a: 1}  # c\n    - [1]  # d\n    - 2 # e\n",
    "l:\n    -   # c\n      - 1\n",
    "l:\n    - x: 1\n      # mid\n      y: 2\n    # between\n    - z: 3\n     # col5\n    - w: 4\n",
    "l:\n- x: 1\n  # key col\n# zero\n- y: 2\nm:\n- a\n# c\n- b\n",
    "l:\n    - x: 1\n    # end at dash\nn: 2\n",
    "l:\n    - x: 1\n    # end at dash\n    # two\n",
    "a: 1\n---\nl:\n    - x: 1\n    # foot\n---\nb: 2\n",
    "# h\nl: # c1\n    # c2\n    - # c3\n      a: 1 # c4\n      # c5\n      b: [x, y] # c6\n    # c7\n    - c # c8\n# c9\n",
];

#[test]
fn yaml_comments_are_placed_like_go_sops() {
    let d = Dir::new();
    let ed = d.ssh_key("ed", "ed25519", "");
    let key: &[(&str, &Path)] = &[(SSH_FILE, &ed.private)];
    d.write(".sops.yaml", &format!("creation_rules:\n  - age: {}\n", ed.public));
    for doc in PLACEMENTS {
        d.write("v.yaml", doc);
        d.write("s.enc.yaml", &d.sops_ok(&["encrypt", "v.yaml"], &[]));
        d.runner(&["secrets", "encrypt", "v.yaml", "-o", "r.enc.yaml"], &[]).run().success();
        // Comments are encrypted with the path of the map they sit in, so equal shapes mean
        // the same placement.
        assert_eq!(shape(&d.read("r.enc.yaml")), shape(&d.read("s.enc.yaml")), "{doc:?}");
        let expected = d.sops_ok(&["decrypt", "s.enc.yaml"], key);
        assert_eq!(
            d.runner(&["secrets", "decrypt", "s.enc.yaml"], key).run().success().stdout,
            expected,
            "{doc:?}"
        );
        let out = d.sops(&["decrypt", "r.enc.yaml"], key);
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{doc:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{doc:?}");
    }
}

#[test]
fn a_comment_layout_that_sops_cannot_read_back_is_refused_and_explained() {
    let d = Dir::new();
    let ed = d.ssh_key("ed", "ed25519", "");
    let key: &[(&str, &Path)] = &[(SSH_FILE, &ed.private)];
    // Inside a list, the comment after the matching one is encrypted and written as a list
    // entry; reading, that entry hides `# sops:enc` from `- a`, so the MAC cannot match.
    d.write("l.yaml", &format!("list:\n    # sops:enc\n    # other\n    - {CANARY}\n    - b\n"));
    d.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {}\n    encrypted_comment_regex: sops:enc\n", ed.public),
    );
    // Go sops 3.11 writes the file and then cannot decrypt it (exit 51, MAC mismatch).
    d.write("s.enc.yaml", &d.sops_ok(&["encrypt", "l.yaml"], &[]));
    assert_eq!(d.sops(&["decrypt", "s.enc.yaml"], key).status.code(), Some(51));
    // runner reads the same and says why; it refuses to write such a file at all.
    let out = d.runner(&["secrets", "decrypt", "s.enc.yaml"], key).run().code(1);
    assert!(
        out.stderr.contains("MAC mismatch") && out.stderr.contains("encrypted_comment_regex"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(CANARY));
    let out = d.runner(&["secrets", "encrypt", "l.yaml", "-o", "r.enc.yaml"], &[]).run().code(1);
    assert!(out.stderr.contains("could not be decrypted again"), "{}", out.stderr);
    assert!(!d.path("r.enc.yaml").exists());
    // With only the matching comment above the entry, both write readable files.
    d.write("l.yaml", &format!("list:\n    # sops:enc\n    - {CANARY}\n    - b\n"));
    d.runner(&["secrets", "encrypt", "l.yaml", "-o", "r.enc.yaml"], &[]).run().success();
    assert!(!d.read("r.enc.yaml").contains(CANARY));
    assert!(d.sops_ok(&["decrypt", "r.enc.yaml"], key).contains(CANARY));
}

#[test]
fn an_unencrypted_comment_regex_that_matches_ciphertext_is_refused_like_sops() {
    let d = Dir::new();
    let ed = d.ssh_key("ed", "ed25519", "");
    d.write("doc.yaml", "# a comment\nk: v\n");
    d.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {}\n    unencrypted_comment_regex: AES256\n", ed.public),
    );
    assert!(!d.sops(&["encrypt", "doc.yaml"], &[]).status.success());
    let out = d.runner(&["secrets", "encrypt", "doc.yaml", "-o", "x.yaml"], &[]).run().code(1);
    assert!(out.stderr.contains("unencrypted_comment_regex"), "{}", out.stderr);
    assert!(!d.path("x.yaml").exists());
    // At most one rule option, as in sops.
    d.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - age: {}\n    encrypted_comment_regex: a\n    encrypted_regex: b\n",
            ed.public
        ),
    );
    let out = d.runner(&["secrets", "encrypt", "doc.yaml", "-o", "x.yaml"], &[]).run();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("more than one"), "{}", out.stderr);
}

#[test]
fn bad_ssh_recipients_are_refused_with_the_reason() {
    let d = Dir::new();
    d.write("doc.yaml", "k: v\n");
    let weak = d.ssh_key("weak", "rsa", "");
    // ssh-keygen made a 3072-bit key; make a 1024-bit one for this case.
    fs::remove_file(&weak.private).unwrap();
    fs::remove_file(weak.private.with_extension("pub")).unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "1024", "-N", "", "-f"])
        .arg(&weak.private)
        .output()
        .unwrap();
    assert!(out.status.success());
    let weak_pub = fs::read_to_string(weak.private.with_extension("pub")).unwrap();
    let ecdsa = d.ssh_key("ecdsa", "ecdsa", "");
    for (recipient, reason) in [
        (weak_pub.trim(), "smaller than 2048 bits"),
        ("ssh-ed25519 AAAAnot-base64", "not a valid SSH public key"),
        (ecdsa.public.as_str(), "unknown recipient type"),
        ("age1pq1whatever", "post-quantum"),
    ] {
        let out = d
            .runner(&["secrets", "encrypt", "--age", recipient, "doc.yaml", "-o", "x.yaml"], &[])
            .run()
            .code(2);
        assert!(out.stderr.contains(reason), "{recipient}: {}", out.stderr);
    }
    // An ECDSA private key is not an age identity: the error says so and names the file.
    let out = d.runner(&["secrets", "decrypt", "doc.yaml"], &[(SSH_FILE, &ecdsa.private)]).run();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("keys/ecdsa") && out.stderr.contains("ecdsa"), "{}", out.stderr);
}

#[test]
fn check_reference_knows_ssh_keys_and_key_commands() {
    use runner::secrets::{self, keys::AgeKeys};
    let d = Dir::new();
    let ed = d.ssh_key("ed", "ed25519", "");
    let (age_file, age_recipient) = d.age_key("cmd");
    d.write(".sops.yaml", &format!("creation_rules:\n  - path_regex: ^secrets/\n    age: {}\n", ed.public));
    d.runner(&["secrets", "set", "svc", "token"], &[]).stdin(format!("token={CANARY}\n")).run().success();
    let dir = d.path("secrets");

    let mut mine = AgeKeys::default();
    mine.add_ssh_file(&ed.private).unwrap();
    assert_eq!(
        mine.ssh_recipients(),
        vec![ed.public.split_whitespace().take(2).collect::<Vec<_>>().join(" ")]
    );
    assert!(secrets::check_reference_with(&dir, "svc", &mine).unwrap().key_available);
    assert_eq!(
        secrets::load_with(&dir, "svc", &mine).unwrap().get("token").map(|v| v.expose()),
        Some(CANARY)
    );
    assert!(!secrets::check_reference_with(&dir, "svc", &AgeKeys::default()).unwrap().key_available);

    // A key command is asked for the file's recipient.
    d.runner(&["secrets", "recipients", "add", "svc", "--age", &age_recipient], &[(SSH_FILE, &ed.private)])
        .run()
        .success();
    let mut by_cmd = AgeKeys::default();
    by_cmd.set_key_command(Some(format!("cat {}", age_file.display())));
    assert!(by_cmd.can_open(&age_recipient) && !by_cmd.can_open(&ed.public));
    assert!(secrets::check_reference_with(&dir, "svc", &by_cmd).unwrap().key_available);
    assert_eq!(
        secrets::load_with(&dir, "svc", &by_cmd).unwrap().get("token").map(|v| v.expose()),
        Some(CANARY)
    );
}
