//! `runner secrets …` end to end: real age keys and a real throwaway GnuPG keyring made by
//! the tests, real files on disk, the real binary.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use age::secrecy::ExposeSecret;

use crate::support::{Finished, Run};

/// A value that must never show up anywhere except where a command is asked to reveal it.
const CANARY: &str = "canary-7Qx9-zz-SECRET";

/// A throwaway project: a working directory, and beside it (outside the working tree, as
/// private keys must be) a HOME with no keys, a TMPDIR and the tests' key files; helpers to
/// run `runner` there with a chosen key environment.
struct Project {
    root: tempfile::TempDir,
}

/// An age identity written to a key file.
struct AgeKey {
    file: PathBuf,
    recipient: String,
}

impl Project {
    fn new() -> Self {
        let root = tempfile::Builder::new().prefix("rv-").tempdir().expect("tempdir");
        for dir in ["work", "home", "tmp"] {
            fs::create_dir_all(root.path().join(dir)).expect("mkdir");
        }
        Self { root }
    }

    /// The working directory (the project: `.sops.yaml`, `secrets/`).
    fn dir(&self) -> PathBuf {
        self.root.path().join("work")
    }

    /// A path in the project.
    fn path(&self, rel: &str) -> PathBuf {
        self.dir().join(rel)
    }

    /// A path beside the project: `home`, `tmp`, `keys/…`.
    fn outside(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// A new age identity in `keys/NAME.txt` beside the project.
    fn age_key(&self, name: &str) -> AgeKey {
        let id = age::x25519::Identity::generate();
        let recipient = id.to_public().to_string();
        let file = self.outside(&format!("keys/{name}.txt"));
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, format!("# test key\n{}\n", id.to_string().expose_secret())).unwrap();
        AgeKey { file, recipient }
    }

    /// `runner ARGS` in the project, no keys at all, quiet logs, private TMPDIR.
    fn bare(&self, args: &[&str]) -> Run {
        Run::new(args)
            .dir(self.dir())
            .env("HOME", self.outside("home"))
            .env("TMPDIR", self.outside("tmp"))
            .env("GNUPGHOME", self.outside("no-gnupg"))
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("EDITOR")
            .env_remove("VISUAL")
    }

    /// `runner ARGS` with `key` as the only age identity.
    fn with(&self, key: &AgeKey, args: &[&str]) -> Run {
        self.bare(args).env("SOPS_AGE_KEY_FILE", &key.file)
    }

    fn write_rule(&self, age: &[&str], pgp: &[&str]) {
        let mut text = String::from("creation_rules:\n  - path_regex: ^secrets/\n");
        if !age.is_empty() {
            text.push_str(&format!("    age: {}\n", age.join(",")));
        }
        if !pgp.is_empty() {
            text.push_str(&format!("    pgp: {}\n", pgp.join(",")));
        }
        fs::write(self.path(".sops.yaml"), text).unwrap();
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Every file under the project with its bytes (to prove "nothing changed").
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            let Ok(entries) = fs::read_dir(dir) else { return };
            let mut entries: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
            entries.sort();
            for p in entries {
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push((p.clone(), fs::read(&p).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.root.path(), &mut out);
        out
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set(p: &Project, key: &AgeKey, name: &str, pairs: &[(&str, &str)]) -> Finished {
    let mut args = vec!["secrets", "set", name];
    args.extend(pairs.iter().map(|(k, _)| *k));
    let stdin: String = pairs.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    p.with(key, &args).stdin(stdin).run()
}

#[test]
fn init_creates_an_identity_and_a_rule_and_keeps_existing_rules() {
    let p = Project::new();
    fs::write(
        p.path(".sops.yaml"),
        "# team rules\ncreation_rules:\n  - path_regex: ^prod/\n    pgp: ABCDEF\n",
    )
    .unwrap();
    let r = p.bare(&["secrets", "init"]).run().success();
    let key_file = p.outside("home/.config/sops/age/keys.txt");
    assert_eq!(mode(&key_file), 0o600);
    let text = fs::read_to_string(&key_file).unwrap();
    assert!(text.starts_with("# created: "), "{text}");
    let public =
        text.lines().find_map(|l| l.strip_prefix("# public key: ")).expect("public key line").to_owned();
    assert!(public.starts_with("age1"));
    assert!(r.stderr.contains(&public), "{}", r.stderr);
    assert!(!r.stderr.contains("AGE-SECRET-KEY"), "never print the private key");
    let config = fs::read_to_string(p.path(".sops.yaml")).unwrap();
    assert!(
        config.starts_with("# team rules\n") && config.contains("^prod/") && config.contains(&public),
        "{config}"
    );

    // Idempotent: a second run changes nothing.
    let before = p.snapshot();
    p.bare(&["secrets", "init"]).run().success();
    assert_eq!(before, p.snapshot());

    // The new rule is used: set works with only the default key location.
    p.bare(&["secrets", "set", "alpaca", "key_id"]).stdin("key_id=abc\n").run().success();
    let out = p.bare(&["secrets", "get", "alpaca", "key_id"]).run().success();
    assert_eq!(out.stdout, "abc\n");
}

#[test]
fn set_get_list_rm_round_trip() {
    let p = Project::new();
    let k = p.age_key("me");
    p.write_rule(&[&k.recipient], &[]);
    set(&p, &k, "alpaca", &[("key_id", "AKID123"), ("secret_key", "s3cr3t=with=equals")]).success();
    let file = p.path("secrets/alpaca.sops.yaml");
    assert_eq!(mode(&file), 0o600);
    let text = fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("ENC[AES256_GCM,") && !text.contains("AKID123") && text.contains(&k.recipient),
        "{text}"
    );

    let got = p.with(&k, &["secrets", "get", "alpaca", "secret_key"]).run().success();
    assert_eq!(got.stdout, "s3cr3t=with=equals\n");
    let all = p.with(&k, &["secrets", "get", "alpaca"]).run().success();
    assert!(all.stdout.contains("key_id: AKID123") && !all.stdout.contains("sops:"), "{}", all.stdout);

    // Update one key: it is encrypted under a fresh IV; the untouched value keeps its exact
    // ciphertext (sops' IV stash), so a reviewed diff shows only what changed.
    let enc_of = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")).map(str::to_owned))
            .expect("encrypted line")
    };
    let iv_of = |enc: &str| enc.split(",iv:").nth(1).and_then(|r| r.split(',').next()).map(str::to_owned);
    set(&p, &k, "alpaca", &[("key_id", "AKID456")]).success();
    let updated = fs::read_to_string(&file).unwrap();
    assert_ne!(
        iv_of(&enc_of(&text, "key_id")),
        iv_of(&enc_of(&updated, "key_id")),
        "fresh IV for a set value"
    );
    assert_eq!(enc_of(&text, "secret_key"), enc_of(&updated, "secret_key"), "untouched value unchanged");
    assert!(updated.contains("lastmodified:") && updated.contains("mac: ENC["));
    let got = p.with(&k, &["secrets", "get", "alpaca", "key_id"]).run().success();
    assert_eq!(got.stdout, "AKID456\n");
    let got = p.with(&k, &["secrets", "get", "alpaca", "secret_key"]).run().success();
    assert_eq!(got.stdout, "s3cr3t=with=equals\n");

    // list needs no key and shows names, keys, recipients, last-modified.
    let list = p.bare(&["secrets", "list"]).run().success();
    assert!(list.stdout.contains("alpaca") && list.stdout.contains("key_id, secret_key"), "{}", list.stdout);
    assert!(list.stdout.contains(&k.recipient) && list.stdout.contains("modified: 20"), "{}", list.stdout);
    assert!(!list.stdout.contains("AKID"), "{}", list.stdout);

    let missing = p.with(&k, &["secrets", "get", "alpaca", "nope"]).run().code(1);
    assert!(
        missing.stderr.contains("nope") && missing.stderr.contains("alpaca.sops.yaml"),
        "{}",
        missing.stderr
    );

    p.with(&k, &["secrets", "rm", "alpaca", "key_id"]).run().success();
    let list = p.bare(&["secrets", "list"]).run().success();
    assert!(list.stdout.contains("keys: secret_key\n"), "{}", list.stdout);
    p.with(&k, &["secrets", "rm", "alpaca"]).run().success();
    assert!(!file.exists());
    p.with(&k, &["secrets", "get", "alpaca"]).run().code(2);
}

#[test]
fn set_takes_no_values_from_argv_and_needs_every_key_on_stdin() {
    let p = Project::new();
    let k = p.age_key("me");
    p.write_rule(&[&k.recipient], &[]);
    let r = p.with(&k, &["secrets", "set", "x", &format!("key={CANARY}")]).stdin("").run().code(2);
    assert!(!r.stderr.contains(CANARY), "{}", r.stderr);
    let r = p.with(&k, &["secrets", "set", "x", "a", "b"]).stdin(format!("a={CANARY}\n")).run().code(2);
    assert!(r.stderr.contains("b") && !r.stderr.contains(CANARY), "{}", r.stderr);
    assert!(!p.path("secrets/x.sops.yaml").exists());
    // No rule and no flags: a clear error, nothing written.
    fs::remove_file(p.path(".sops.yaml")).unwrap();
    let r = set(&p, &k, "x", &[("a", "1")]).code(2);
    assert!(r.stderr.contains("no recipients"), "{}", r.stderr);
    assert!(!p.path("secrets").exists() || fs::read_dir(p.path("secrets")).unwrap().next().is_none());
}

#[test]
fn broken_files_and_wrong_keys_fail_clearly_and_change_nothing() {
    let p = Project::new();
    let me = p.age_key("me");
    let other = p.age_key("other");
    p.write_rule(&[&me.recipient], &[]);
    set(&p, &me, "good", &[("api_key", "v1"), ("api_secret", "v2")]).success();

    // Tampered: a clear value added by hand (clear values are covered by the MAC too).
    let good = fs::read_to_string(p.path("secrets/good.sops.yaml")).unwrap();
    let tampered = good.replacen("api_key:", "api_key_unencrypted: sneaky\napi_key:", 1);
    fs::write(p.path("secrets/tampered.sops.yaml"), &tampered).unwrap();
    fs::write(p.path("secrets/malformed.sops.yaml"), "api_key: [unclosed\n  sops: {").unwrap();

    let before = p.snapshot();
    let cases: Vec<(&str, Vec<&str>, &AgeKey)> = vec![
        ("tampered", vec!["secrets", "get", "tampered"], &me),
        ("tampered", vec!["secrets", "set", "tampered", "api_key"], &me),
        ("tampered", vec!["secrets", "rm", "tampered", "api_key"], &me),
        ("tampered", vec!["secrets", "rotate", "tampered"], &me),
        ("tampered", vec!["secrets", "recipients", "add", "tampered", "--age", &other.recipient], &me),
        ("good", vec!["secrets", "get", "good"], &other),
        ("good", vec!["secrets", "set", "good", "api_key"], &other),
        ("good", vec!["secrets", "rotate", "--all"], &other),
        ("malformed", vec!["secrets", "get", "malformed"], &me),
        ("malformed", vec!["secrets", "set", "malformed", "api_key"], &me),
    ];
    for (name, args, key) in cases {
        let r = p.with(key, &args).stdin("api_key=new\n").run();
        assert_ne!(r.code, 0, "{args:?} should fail\n{}", r.stdout);
        assert!(
            r.stderr.contains(&format!("{name}.sops.yaml")),
            "{args:?}: error should name the file: {}",
            r.stderr
        );
        if name == "tampered" {
            assert!(r.stderr.contains("MAC"), "{args:?}: {}", r.stderr);
        }
        if name == "good" {
            assert!(
                r.stderr.contains(&me.recipient),
                "{args:?}: should list the recipients tried: {}",
                r.stderr
            );
        }
        assert_eq!(before, p.snapshot(), "{args:?} changed files on disk");
    }
    // No key at all.
    let r = p.bare(&["secrets", "get", "good"]).run();
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("good.sops.yaml") && r.stderr.contains(&me.recipient), "{}", r.stderr);
    // list still works from metadata, and reports the malformed file.
    let list = p.bare(&["secrets", "list"]).run().code(1);
    assert!(list.stdout.contains("good") && list.stderr.contains("malformed.sops.yaml"), "{list:?}");
    assert_eq!(before, p.snapshot());
}

#[test]
fn rotate_and_recipients_rewrap_the_data_key() {
    let p = Project::new();
    let a = p.age_key("a");
    let b = p.age_key("b");
    p.write_rule(&[&a.recipient], &[]);
    set(&p, &a, "s", &[("k", "v1")]).success();
    set(&p, &a, "t", &[("k", "v2")]).success();
    let before = fs::read_to_string(p.path("secrets/s.sops.yaml")).unwrap();

    p.with(&a, &["secrets", "rotate", "s"]).run().success();
    let after = fs::read_to_string(p.path("secrets/s.sops.yaml")).unwrap();
    assert_ne!(enc_block(&before), enc_block(&after), "a new data key is wrapped anew");
    assert_eq!(p.with(&a, &["secrets", "get", "s", "k"]).run().success().stdout, "v1\n");
    p.with(&a, &["secrets", "rotate", "--all"]).run().success();
    assert_eq!(p.with(&a, &["secrets", "get", "t", "k"]).run().success().stdout, "v2\n");

    p.with(&b, &["secrets", "get", "s"]).run().code(1);
    p.with(&a, &["secrets", "recipients", "add", "s", "--age", &b.recipient]).run().success();
    assert_eq!(p.with(&b, &["secrets", "get", "s", "k"]).run().success().stdout, "v1\n");
    let list = p.bare(&["secrets", "list"]).run().success();
    assert!(list.stdout.contains(&b.recipient), "{}", list.stdout);
    p.with(&b, &["secrets", "recipients", "remove", "s", "--age", &a.recipient]).run().success();
    p.with(&a, &["secrets", "get", "s"]).run().code(1);
    assert_eq!(p.with(&b, &["secrets", "get", "s", "k"]).run().success().stdout, "v1\n");
}

/// The armored data-key blocks of a file.
fn enc_block(text: &str) -> Vec<String> {
    text.split("-----BEGIN AGE ENCRYPTED FILE-----")
        .skip(1)
        .map(|s| s.split("-----END").next().unwrap().to_owned())
        .collect()
}

#[test]
fn encrypt_and_decrypt_yaml_json_dotenv() {
    let p = Project::new();
    let k = p.age_key("me");
    let cases = [
        ("plain.yaml", "user: bob\npassword: hunter2\nport: 8443\n", "hunter2"),
        ("plain.json", "{\n\t\"user\": \"bob\",\n\t\"password\": \"hunter2\"\n}\n", "hunter2"),
        ("plain.env", "USER=bob\nPASSWORD=hunter2\n", "hunter2"),
    ];
    for (name, body, secret) in cases {
        fs::write(p.path(name), body).unwrap();
        let enc = p.with(&k, &["secrets", "encrypt", name, "--age", &k.recipient]).run().success();
        assert!(
            enc.stdout.contains("ENC[AES256_GCM,") && !enc.stdout.contains(secret),
            "{name}: {}",
            enc.stdout
        );
        let enc_name = format!("enc-{name}");
        fs::write(p.path(&enc_name), &enc.stdout).unwrap();
        let dec = p.with(&k, &["secrets", "decrypt", &enc_name]).run().success();
        assert_eq!(dec.stdout, body, "{name}");
    }
    // --output and --in-place, recipients from .sops.yaml.
    fs::write(p.path(".sops.yaml"), format!("creation_rules:\n  - age: {}\n", k.recipient)).unwrap();
    p.with(&k, &["secrets", "encrypt", "plain.yaml", "--output", "out.yaml"]).run().success();
    assert_eq!(mode(&p.path("out.yaml")), 0o600);
    p.with(&k, &["secrets", "encrypt", "--in-place", "plain.yaml"]).run().success();
    assert!(!String::from_utf8(p.read("plain.yaml")).unwrap().contains("hunter2"));
    p.with(&k, &["secrets", "decrypt", "-i", "plain.yaml"]).run().success();
    assert_eq!(p.read("plain.yaml"), cases[0].1.as_bytes());
    p.with(&k, &["secrets", "decrypt", "out.yaml", "-o", "back.yaml"]).run().success();
    assert_eq!(p.read("back.yaml"), cases[0].1.as_bytes());
}

fn write_script(p: &Project, name: &str, body: &str) -> PathBuf {
    let path = p.path(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn edit_reencrypts_on_save_and_always_removes_the_temp_file() {
    let p = Project::new();
    let k = p.age_key("me");
    p.write_rule(&[&k.recipient], &[]);
    set(&p, &k, "e", &[("token", "old-value")]).success();

    // An editor that records its file's mode and rewrites the value.
    let good = write_script(
        &p,
        "good-editor.sh",
        &format!(
            "stat -c %a \"$1\" > {}\nsed -i 's/old-value/new-value/' \"$1\"",
            p.path("seen-mode").display()
        ),
    );
    p.with(&k, &["secrets", "edit", "e"]).env("EDITOR", &good).run().success();
    assert_eq!(fs::read_to_string(p.path("seen-mode")).unwrap().trim(), "600");
    assert_eq!(p.with(&k, &["secrets", "get", "e", "token"]).run().success().stdout, "new-value\n");
    assert!(!String::from_utf8(p.read("secrets/e.sops.yaml")).unwrap().contains("new-value"));
    assert_eq!(fs::read_dir(p.outside("tmp")).unwrap().count(), 0, "temp files left behind");

    // A failing editor: error, nothing changed, temp file gone.
    let bad = write_script(&p, "bad-editor.sh", "sed -i 's/new-value/leaked/' \"$1\"\nexit 3");
    let before = p.read("secrets/e.sops.yaml");
    let r = p.with(&k, &["secrets", "edit", "e"]).env("EDITOR", &bad).run();
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("e.sops.yaml"), "{}", r.stderr);
    assert_eq!(before, p.read("secrets/e.sops.yaml"));
    assert_eq!(fs::read_dir(p.outside("tmp")).unwrap().count(), 0, "temp files left behind");

    // An editor that writes invalid YAML: error, nothing changed, temp file gone.
    let broken = write_script(&p, "broken-editor.sh", "printf 'token: [oops\\n' > \"$1\"");
    let r = p.with(&k, &["secrets", "edit", "e"]).env("EDITOR", &broken).run();
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_eq!(before, p.read("secrets/e.sops.yaml"));
    assert_eq!(fs::read_dir(p.outside("tmp")).unwrap().count(), 0, "temp files left behind");
}

#[test]
fn edit_keeps_the_plaintext_private_whatever_the_umask() {
    let p = Project::new();
    let k = p.age_key("me");
    p.write_rule(&[&k.recipient], &[]);
    set(&p, &k, "e", &[("token", "old-value")]).success();
    // The editor records the modes of its directory and file, then changes the value.
    let seen = p.outside("seen-modes");
    let editor = write_script(
        &p,
        "modes-editor.sh",
        &format!(
            "stat -c %a \"$(dirname \"$1\")\" \"$1\" > {}\nsed -i 's/old-value/new-value/' \"$1\"",
            seen.display()
        ),
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" secrets edit e")
        .arg(crate::support::runner_bin())
        .current_dir(p.dir())
        .env("HOME", p.outside("home"))
        .env("TMPDIR", p.outside("tmp"))
        .env("SOPS_AGE_KEY_FILE", &k.file)
        .env_remove("SOPS_AGE_KEY")
        .env("EDITOR", &editor)
        .output()
        .expect("run sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fs::read_to_string(&seen).unwrap(), "700\n600\n", "temp directory and plaintext file modes");
    assert_eq!(mode(&p.path("secrets/e.sops.yaml")), 0o600);
    assert_eq!(p.with(&k, &["secrets", "get", "e", "token"]).run().success().stdout, "new-value\n");
    assert_eq!(fs::read_dir(p.outside("tmp")).unwrap().count(), 0, "temp files left behind");
}

#[test]
fn a_temp_file_left_by_a_killed_write_is_removed_by_the_next_write() {
    let p = Project::new();
    let k = p.age_key("me");
    p.write_rule(&[&k.recipient], &[]);
    set(&p, &k, "s", &[("k", "v")]).success();
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let plant = |name: &str| {
        let path = p.path(&format!("secrets/{name}"));
        fs::write(&path, "half-written").unwrap();
        let file = fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(an_hour_ago).unwrap();
        (path, file)
    };
    // Left by a `rotate` killed with -9: old, and nobody holds its lock.
    let (dead, _) = plant(".runner-tmp-Dead01");
    // An old one whose writer is still at work holds its lock: never taken.
    let (live, live_file) = plant(".runner-tmp-Live01");
    live_file.lock().unwrap();
    // A fresh one may belong to a writer that has not locked it yet; other files are not ours.
    let fresh = p.path("secrets/.runner-tmp-Fresh1");
    fs::write(&fresh, "just created").unwrap();
    let (other, _) = plant("notes.txt");

    p.with(&k, &["secrets", "rotate", "s"]).run().success();
    assert!(!dead.exists(), "the stale temporary file is still there");
    for kept in [&live, &fresh, &other] {
        assert!(kept.exists(), "{} was removed", kept.display());
    }
    assert_eq!(p.with(&k, &["secrets", "get", "s", "k"]).run().success().stdout, "v\n");
}

/// A throwaway GnuPG home under a short /tmp path with one passphrase-less key; the agent
/// is killed and the directory removed on drop.
struct Gpg {
    home: tempfile::TempDir,
    fpr: String,
}

impl Gpg {
    fn new() -> Self {
        let home = tempfile::Builder::new().prefix("rg-").tempdir_in("/tmp").expect("gnupg home");
        fs::set_permissions(home.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let gpg = |args: &[&str]| {
            let out = Command::new("gpg")
                .arg("--homedir")
                .arg(home.path())
                .args(["--batch", "--quiet"])
                .args(args)
                .output()
                .expect("run gpg");
            assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            "Runner Test <test@runner.invalid>",
            "default",
            "default",
            "never",
        ]);
        let listing = gpg(&["--with-colons", "--list-secret-keys"]);
        let fpr = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_owned())
            .expect("fingerprint");
        Self { home, fpr }
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

#[test]
fn pgp_recipients_through_gnupg() {
    let p = Project::new();
    let gpg = Gpg::new();
    p.write_rule(&[], &[&gpg.fpr]);
    let run = |args: &[&str]| p.bare(args).env("GNUPGHOME", gpg.home.path());
    run(&["secrets", "set", "pg", "app_key", "app_secret"])
        .stdin("app_key=A1\napp_secret=B2\n")
        .run()
        .success();
    let text = String::from_utf8(p.read("secrets/pg.sops.yaml")).unwrap();
    assert!(text.contains("BEGIN PGP MESSAGE") && text.contains(&gpg.fpr), "{text}");
    assert_eq!(run(&["secrets", "get", "pg", "app_secret"]).run().success().stdout, "B2\n");
    // Without the keyring: a clear error naming the fingerprint tried.
    let r = p.bare(&["secrets", "get", "pg"]).run();
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains(&gpg.fpr) && r.stderr.contains("pg.sops.yaml"), "{}", r.stderr);
    // An age recipient can be added by the PGP holder.
    let k = p.age_key("me");
    run(&["secrets", "recipients", "add", "pg", "--age", &k.recipient]).run().success();
    assert_eq!(p.with(&k, &["secrets", "get", "pg", "app_key"]).run().success().stdout, "A1\n");
}

#[test]
fn library_hooks_check_reference_load_and_required_keys() {
    use runner::secrets::{self, keys::AgeKeys};
    let p = Project::new();
    let k = p.age_key("me");
    let stranger = p.age_key("stranger");
    p.write_rule(&[&k.recipient], &[]);
    set(&p, &k, "alpaca", &[("key_id", "AK"), ("secret_key", "SK")]).success();
    let dir = p.path("secrets");

    let mut mine = AgeKeys::default();
    mine.add_file(&k.file).unwrap();
    let mut theirs = AgeKeys::default();
    theirs.add_file(&stranger.file).unwrap();

    let check = secrets::check_reference_with(&dir, "alpaca", &mine).unwrap();
    assert!(check.exists && check.key_available);
    assert_eq!(check.age_recipients, vec![k.recipient.clone()]);
    assert!(check.missing_keys(secrets::required_keys("alpaca")).is_empty());
    assert_eq!(check.missing_keys(secrets::required_keys("schwab")), vec!["app_key", "app_secret"]);
    assert!(!secrets::check_reference_with(&dir, "alpaca", &theirs).unwrap().key_available);
    assert!(!secrets::check_reference_with(&dir, "nothere", &mine).unwrap().exists);

    let map = secrets::load_with(&dir, "alpaca", &mine).unwrap();
    assert_eq!(map.get("secret_key").map(|v| v.expose()), Some("SK"));
    assert!(!format!("{map:?}").contains("SK"));
    let err = secrets::load_with(&dir, "alpaca", &theirs).unwrap_err().to_string();
    assert!(err.contains("alpaca.sops.yaml") && err.contains(&k.recipient), "{err}");
}

#[test]
fn canary_never_leaks_into_output_or_logs() {
    let p = Project::new();
    let k = p.age_key("me");
    let other = p.age_key("other");
    p.write_rule(&[&k.recipient], &[]);
    let editor = write_script(&p, "ed.sh", &format!("sed -i 's/{CANARY}/{CANARY}-edited/' \"$1\""));
    let failing = write_script(&p, "fail.sh", "exit 1");
    fs::write(p.path("plain.yaml"), format!("token: {CANARY}\n")).unwrap();

    for logs in [vec!["-vvv"], vec!["-vvv", "--log-format", "json"]] {
        let run = |args: &[&str], reveals: bool, stdin: Option<String>| {
            let mut full: Vec<&str> = logs.clone();
            full.extend_from_slice(args);
            let mut r = p.with(&k, &full).env("EDITOR", &editor);
            if let Some(s) = stdin {
                r = r.stdin(s);
            }
            let f = r.run();
            assert!(!f.stderr.contains(CANARY), "{args:?} leaked into stderr:\n{}", f.stderr);
            if !reveals {
                assert!(!f.stdout.contains(CANARY), "{args:?} leaked into stdout:\n{}", f.stdout);
            }
            f
        };
        run(
            &["secrets", "set", "c", "token", "other"],
            false,
            Some(format!("token={CANARY}\nother={CANARY}\n")),
        )
        .success();
        run(&["secrets", "set", "c", "token"], false, Some(format!("token={CANARY}\n"))).success();
        assert!(run(&["secrets", "get", "c", "token"], true, None).success().stdout.contains(CANARY));
        assert!(run(&["secrets", "get", "c"], true, None).success().stdout.contains(CANARY));
        run(&["secrets", "get", "c", "missing"], false, None);
        run(&["secrets", "list"], false, None).success();
        run(&["secrets", "edit", "c"], false, None).success();
        let f =
            p.with(&k, &[logs.as_slice(), &["secrets", "edit", "c"]].concat()).env("EDITOR", &failing).run();
        assert!(!f.stderr.contains(CANARY) && !f.stdout.contains(CANARY));
        run(&["secrets", "rotate", "c"], false, None).success();
        run(&["secrets", "rotate", "--all"], false, None).success();
        run(&["secrets", "recipients", "add", "c", "--age", &other.recipient], false, None).success();
        run(&["secrets", "recipients", "remove", "c", "--age", &other.recipient], false, None).success();
        run(&["secrets", "rm", "c", "other"], false, None).success();
        let enc = run(&["secrets", "encrypt", "plain.yaml", "--age", &k.recipient], false, None).success();
        fs::write(p.path("enc.yaml"), enc.stdout).unwrap();
        assert!(run(&["secrets", "decrypt", "enc.yaml"], true, None).success().stdout.contains(CANARY));
        run(&["secrets", "encrypt", "plain.yaml", "--age", "not-a-recipient"], false, None);
        // Wrong key and tampered file errors.
        let f = p
            .bare(&[logs.as_slice(), &["secrets", "get", "c"]].concat())
            .env("SOPS_AGE_KEY_FILE", &other.file)
            .run();
        assert!(f.code != 0 && !f.stderr.contains(CANARY) && !f.stdout.contains(CANARY));
        run(&["secrets", "rm", "c"], false, None).success();
        assert!(!fs::read_to_string(p.path("enc.yaml")).unwrap().contains(CANARY));
    }
}

/// The real Go sops (installed by `.ci/setup`): `RUNNER_SOPS_BIN`, else `target/tools/bin/sops`.
fn sops_bin() -> PathBuf {
    let path = std::env::var_os("RUNNER_SOPS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::support::repo_root().join("target/tools/bin/sops"));
    assert!(path.exists(), "the real sops is needed: run .ci/setup (looked for {})", path.display());
    path
}

#[test]
fn files_written_by_runner_and_by_sops_work_both_ways() {
    let p = Project::new();
    let a = p.age_key("a");
    let b = p.age_key("b");
    p.write_rule(&[&a.recipient], &[]);
    set(&p, &a, "shared", &[("api_key", "from-runner"), ("api_secret", "s2")]).success();
    let sops = |key: &AgeKey, args: &[&str]| {
        let out = Command::new(sops_bin())
            .current_dir(p.dir())
            .env("HOME", p.outside("home"))
            .env("SOPS_AGE_KEY_FILE", &key.file)
            .env_remove("SOPS_AGE_KEY")
            .arg("--disable-version-check")
            .args(args)
            .output()
            .expect("run sops");
        assert!(out.status.success(), "sops {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    // runner → sops.
    assert_eq!(sops(&a, &["decrypt", "secrets/shared.sops.yaml"]), "api_key: from-runner\napi_secret: s2\n");
    // sops edits (set) → runner reads, and lists the new key without decrypting.
    sops(&a, &["set", "secrets/shared.sops.yaml", r#"["added"]"#, r#""by-sops""#]);
    assert_eq!(p.with(&a, &["secrets", "get", "shared", "added"]).run().success().stdout, "by-sops\n");
    assert!(p.bare(&["secrets", "list"]).run().success().stdout.contains("api_key, api_secret, added"));
    // runner re-wraps for b → sops opens it with b; runner rotates → sops still opens it.
    p.with(&a, &["secrets", "recipients", "add", "shared", "--age", &b.recipient]).run().success();
    p.with(&b, &["secrets", "rotate", "shared"]).run().success();
    assert!(sops(&b, &["decrypt", "secrets/shared.sops.yaml"]).contains("added: by-sops"));
    // sops rotates → runner opens it.
    sops(&a, &["rotate", "--in-place", "secrets/shared.sops.yaml"]);
    assert_eq!(p.with(&b, &["secrets", "get", "shared", "api_key"]).run().success().stdout, "from-runner\n");
}

/// Runs `command` on a pseudo-terminal in the project, typing what `feed` prints to fd 3 (see
/// [`crate::support::pty_script`]).
fn on_pty(p: &Project, k: &AgeKey, command: &str, feed: &str) -> std::process::Output {
    let shell = crate::support::pty_script(command, feed);
    Command::new("sh")
        .arg("-c")
        .arg(shell)
        .current_dir(p.dir())
        .env("HOME", p.outside("home"))
        .env("SOPS_AGE_KEY_FILE", &k.file)
        .env_remove("SOPS_AGE_KEY")
        .output()
        .expect("run script")
}

#[test]
fn set_on_a_terminal_prompts_without_echo() {
    let p = Project::new();
    let k = p.age_key("me");
    p.write_rule(&[&k.recipient], &[]);
    // `script` (util-linux) runs runner on a pseudo-terminal; each value is typed once its
    // prompt is on screen (runner turns echo off before prompting).
    let command = format!("{} secrets set tty a b", crate::support::runner_bin());
    let feed = format!(
        "w 'value for a:'; printf '%s-1\\n' {CANARY} >&3; w 'value for b:'; printf '%s-2\\n' {CANARY} >&3"
    );
    let out = on_pty(&p, &k, &command, &feed);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(shown.contains("value for a:") && shown.contains("value for b:"), "{shown}");
    assert!(!shown.contains(CANARY), "typed values were echoed: {shown}");
    assert_eq!(p.with(&k, &["secrets", "get", "tty", "b"]).run().success().stdout, format!("{CANARY}-2\n"));
}

#[test]
fn ctrl_c_while_editing_still_removes_the_plaintext() {
    let p = Project::new();
    let k = p.age_key("me");
    p.write_rule(&[&k.recipient], &[]);
    set(&p, &k, "e", &[("token", CANARY)]).success();
    let before = p.read("secrets/e.sops.yaml");
    // The "editor" changes the file, then sends SIGINT to its whole process group, as
    // Ctrl-C on a terminal does. `setsid` gives runner a group of its own.
    let editor = write_script(&p, "interrupt.sh", "sed -i 's/canary/changed/' \"$1\"\nkill -INT 0\nsleep 5");
    let out = Command::new("setsid")
        .arg("-w")
        .arg(crate::support::runner_bin())
        .args(["secrets", "edit", "e"])
        .current_dir(p.dir())
        .env("HOME", p.outside("home"))
        .env("TMPDIR", p.outside("tmp"))
        .env("SOPS_AGE_KEY_FILE", &k.file)
        .env("EDITOR", &editor)
        .output()
        .expect("run setsid");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("e.sops.yaml") && !stderr.contains(CANARY), "{stderr}");
    assert_eq!(before, p.read("secrets/e.sops.yaml"));
    assert_eq!(fs::read_dir(p.outside("tmp")).unwrap().count(), 0, "plaintext left behind");
}

#[test]
fn ctrl_c_at_the_hidden_prompt_restores_echo_and_writes_nothing() {
    let p = Project::new();
    let k = p.age_key("me");
    p.write_rule(&[&k.recipient], &[]);
    // On a pseudo-terminal: Ctrl-C (0x03) at the prompt, then print the terminal's echo flag.
    let inner = write_script(
        &p,
        "inner.sh",
        &format!(
            "trap true INT\n{} secrets set x a\necho \"rc=$?\"\nstty -a | tr ' ' '\\n' | grep -x -- '-\\{{0,1\\}}echo'",
            crate::support::runner_bin()
        ),
    );
    let out = on_pty(&p, &k, &format!("sh {}", inner.display()), "w 'value for a:'; printf '\\003' >&3");
    let shown = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(out.status.success(), "{shown}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(shown.contains("interrupted") && shown.contains("rc=2\n"), "{shown}");
    assert!(shown.lines().any(|l| l == "echo"), "echo was not restored: {shown}");
    assert!(!p.path("secrets/x.sops.yaml").exists());
}

#[test]
fn key_groups_with_shamir_threshold_from_sops_yaml() {
    let p = Project::new();
    let a = p.age_key("a");
    let b = p.age_key("b");
    fs::write(
        p.path(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: ^secrets/\n    shamir_threshold: 2\n    encrypted_regex: ^(api_key|api_secret)$\n    key_groups:\n      - age: [{}]\n      - age:\n          - {}\n",
            a.recipient, b.recipient
        ),
    )
    .unwrap();
    set(&p, &a, "split", &[("api_key", "k1"), ("note", "clear")]).success();
    let text = String::from_utf8(p.read("secrets/split.sops.yaml")).unwrap();
    assert!(text.contains("key_groups:") && text.contains("shamir_threshold: 2"), "{text}");
    assert!(text.contains("note: clear"), "encrypted_regex leaves other keys clear: {text}");
    // One share is not enough; both keys together open it.
    let r = p.with(&a, &["secrets", "get", "split", "api_key"]).run();
    assert_ne!(r.code, 0, "{}", r.stdout);
    let both = format!("{}\n{}", fs::read_to_string(&a.file).unwrap(), fs::read_to_string(&b.file).unwrap());
    let r = p.bare(&["secrets", "get", "split", "api_key"]).env("SOPS_AGE_KEY", &both).run().success();
    assert_eq!(r.stdout, "k1\n");
    let list = p.bare(&["secrets", "list"]).run().success();
    assert!(list.stdout.contains(&a.recipient) && list.stdout.contains(&b.recipient), "{}", list.stdout);
}

/// The real sops in the project directory with `key` as its only age identity.
fn sops_run(p: &Project, key: &AgeKey, args: &[&str]) -> std::process::Output {
    Command::new(sops_bin())
        .current_dir(p.dir())
        .env("HOME", p.outside("home"))
        .env("SOPS_AGE_KEY_FILE", &key.file)
        .env_remove("SOPS_AGE_KEY")
        .env_remove("XDG_CONFIG_HOME")
        .arg("--disable-version-check")
        .args(args)
        .output()
        .expect("run sops")
}

/// [`sops_run`] that must succeed; its stdout.
fn sops_ok(p: &Project, key: &AgeKey, args: &[&str]) -> Vec<u8> {
    let out = sops_run(p, key, args);
    assert!(out.status.success(), "sops {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// An INI file as sops 3.11 prints it (`=` aligned per section), so a round trip through
/// either tool gives these exact bytes back.
const INI: &str = "; broker login\n[db]\nuser     = bob\npassword = hunter2 with spaces\n\n[feed]\n; the token\ntoken = abc=def\n";

#[test]
fn encrypt_and_decrypt_pick_the_store_from_the_name_like_sops() {
    let p = Project::new();
    let k = p.age_key("me");
    // Not YAML at all: with the old "YAML unless .json/.env" rule this could not be encrypted.
    let text = "-----BEGIN NOTE-----\n  key: [unclosed\n\ttab\tand \"quotes\"\n";
    let files = [("note.txt", text), ("app.env.local", "A=1\nnot dotenv at all\n"), ("cfg.ini", INI)];
    for (name, body) in files {
        fs::write(p.path(name), body).unwrap();
        let enc_name = format!("runner-{name}");
        // runner → sops: same bytes back.
        p.with(&k, &["secrets", "encrypt", name, "--age", &k.recipient, "-o", &enc_name]).run().success();
        let enc = String::from_utf8(p.read(&enc_name)).unwrap();
        assert!(!enc.contains("hunter2") && !enc.contains("unclosed"), "{name}: {enc}");
        if name.ends_with(".ini") {
            assert!(enc.contains("[sops]") && enc.contains("[db]"), "INI store: {enc}");
        } else {
            // The binary store: one encrypted `data` value in a JSON file, no suffix rule.
            assert!(enc.starts_with("{\n\t\"data\": \"ENC[AES256_GCM,"), "binary store: {enc}");
            assert!(!enc.contains("unencrypted_suffix"), "{enc}");
        }
        assert_eq!(
            sops_ok(&p, &k, &["decrypt", &enc_name]),
            body.as_bytes(),
            "sops decrypts runner's {name}"
        );
        assert_eq!(p.with(&k, &["secrets", "decrypt", &enc_name]).run().success().stdout, body, "{name}");
        // sops → runner: same bytes back.
        let sops_name = format!("sops-{name}");
        let by_sops = sops_ok(&p, &k, &["encrypt", "--age", &k.recipient, name]);
        fs::write(p.path(&sops_name), by_sops).unwrap();
        p.with(&k, &["secrets", "decrypt", &sops_name, "-o", &format!("back-{name}")]).run().success();
        assert_eq!(p.read(&format!("back-{name}")), body.as_bytes(), "runner decrypts sops' {name}");
    }
}

#[test]
fn input_and_output_type_flags_override_the_name_like_sops() {
    let p = Project::new();
    let k = p.age_key("me");
    let yaml = "user: bob\npassword: hunter2\nports:\n    - 1\n    - 2\n";
    fs::write(p.path("conf.yaml"), yaml).unwrap();
    fs::write(p.path("conf.data"), INI).unwrap();

    // YAML in, JSON out; sops reads it as JSON (from the name) and prints YAML on request.
    p.with(
        &k,
        &["secrets", "encrypt", "conf.yaml", "--output-type", "json", "--age", &k.recipient, "-o", "c.json"],
    )
    .run()
    .success();
    assert!(String::from_utf8(p.read("c.json")).unwrap().starts_with('{'));
    let by_sops = sops_ok(&p, &k, &["decrypt", "--output-type", "yaml", "c.json"]);
    assert_eq!(by_sops, yaml.as_bytes());
    let mine = p.with(&k, &["secrets", "decrypt", "c.json", "--output-type", "yaml"]).run().success();
    assert_eq!(mine.stdout.as_bytes(), by_sops);
    // And the default output for a .json name is JSON, as sops prints it.
    let json = p.with(&k, &["secrets", "decrypt", "c.json"]).run().success();
    assert_eq!(json.stdout.as_bytes(), sops_ok(&p, &k, &["decrypt", "c.json"]));

    // A YAML file kept whole (binary store) and an INI file with a name sops cannot place.
    let args = ["secrets", "encrypt", "conf.yaml", "--input-type", "binary", "--output-type", "json"];
    let enc = p.with(&k, &[&args[..], &["--age", &k.recipient, "-o", "whole.json"]].concat()).run().success();
    assert!(enc.stdout.is_empty());
    let back = sops_ok(&p, &k, &["decrypt", "--input-type", "json", "--output-type", "binary", "whole.json"]);
    assert_eq!(back, yaml.as_bytes());
    let args = ["secrets", "encrypt", "conf.data", "--input-type", "ini", "--output-type", "ini"];
    p.with(&k, &[&args[..], &["--age", &k.recipient, "-o", "c.enc"]].concat()).run().success();
    assert_eq!(
        sops_ok(&p, &k, &["decrypt", "--input-type", "ini", "--output-type", "ini", "c.enc"]),
        INI.as_bytes()
    );
    let sops_enc = sops_ok(
        &p,
        &k,
        &["encrypt", "--input-type", "ini", "--output-type", "ini", "--age", &k.recipient, "conf.data"],
    );
    fs::write(p.path("s.enc"), sops_enc).unwrap();
    let r = p
        .with(&k, &["secrets", "decrypt", "s.enc", "--input-type", "ini", "--output-type", "ini"])
        .run()
        .success();
    assert_eq!(r.stdout, INI);

    // An unknown type is a usage error, before anything is read or written.
    let before = p.snapshot();
    let r = p
        .with(&k, &["secrets", "encrypt", "conf.yaml", "--input-type", "toml", "--age", &k.recipient])
        .run()
        .code(2);
    assert!(r.stderr.contains("binary") && r.stderr.contains("dotenv"), "{}", r.stderr);
    assert_eq!(before, p.snapshot());
}

#[test]
fn set_takes_age_and_pgp_for_a_new_file_and_refuses_them_for_an_existing_one() {
    let p = Project::new();
    let a = p.age_key("a");
    let b = p.age_key("b");
    // No .sops.yaml at all: the flags are enough.
    p.with(&a, &["secrets", "set", "x", "key_id", "--age", &a.recipient])
        .stdin("key_id=one\n")
        .run()
        .success();
    assert_eq!(p.with(&a, &["secrets", "get", "x", "key_id"]).run().success().stdout, "one\n");
    assert_eq!(sops_ok(&p, &a, &["decrypt", "secrets/x.sops.yaml"]), b"key_id: one\n");

    // An existing file keeps its recipients: the flags are refused, nothing is asked or written.
    let before = p.snapshot();
    let r = p
        .with(&a, &["secrets", "set", "x", "key_id", "--age", &b.recipient])
        .stdin("key_id=two\n")
        .run()
        .code(2);
    assert!(r.stderr.contains("recipients add") && r.stderr.contains("x.sops.yaml"), "{}", r.stderr);
    assert_eq!(before, p.snapshot());

    // Flags win over a matching .sops.yaml rule (as for `encrypt`).
    p.write_rule(&[&a.recipient], &[]);
    p.with(&b, &["secrets", "set", "y", "k", "--age", &b.recipient]).stdin("k=v\n").run().success();
    let list = p.bare(&["secrets", "list"]).run().success().stdout;
    let y = list.split("\ny\n").nth(1).expect("y listed");
    assert!(y.contains(&b.recipient) && !y.contains(&a.recipient), "{list}");
    p.with(&a, &["secrets", "get", "y"]).run().code(1);

    // A bad recipient is refused, by name, and nothing is written.
    let r = p
        .with(&a, &["secrets", "set", "z", "k", "--age", "age1nope"])
        .stdin(format!("k={CANARY}\n"))
        .run()
        .code(2);
    assert!(r.stderr.contains("age1nope") && !r.stderr.contains(CANARY), "{}", r.stderr);
    assert!(!p.path("secrets/z.sops.yaml").exists());
}

#[test]
fn errors_name_the_variable_the_file_and_how_to_pass_values() {
    let p = Project::new();
    let k = p.age_key("me");
    p.write_rule(&[&k.recipient], &[]);
    set(&p, &k, "x", &[("key_id", "v")]).success();

    let missing = p.path("nonexist");
    let r = p.bare(&["secrets", "get", "x"]).env("SOPS_AGE_KEY_FILE", &missing).run().code(2);
    let want =
        format!("SOPS_AGE_KEY_FILE={}: no such file (needed to open secrets/x.sops.yaml)", missing.display());
    assert!(r.stderr.contains(&want), "{}", r.stderr);
    let r = p.bare(&["secrets", "get", "x"]).env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &missing).run().code(2);
    assert!(
        r.stderr.contains("SOPS_AGE_SSH_PRIVATE_KEY_FILE=") && r.stderr.contains("x.sops.yaml"),
        "{}",
        r.stderr
    );

    let before = p.snapshot();
    let r = p.with(&k, &["secrets", "set", "x", &format!("key_id={CANARY}")]).stdin("").run().code(2);
    assert!(!r.stderr.contains(CANARY), "{}", r.stderr);
    assert!(
        r.stderr.contains("never accepted on the command line")
            && r.stderr.contains("key_id=VALUE")
            && r.stderr.contains("prompt"),
        "{}",
        r.stderr
    );
    assert_eq!(before, p.snapshot());

    let r = p.with(&k, &["secrets", "rotate"]).run().code(2);
    assert!(r.stderr.contains("--all"), "{}", r.stderr);
}

#[test]
fn edit_on_a_terminal_offers_to_fix_an_invalid_edit() {
    let p = Project::new();
    let k = p.age_key("me");
    p.write_rule(&[&k.recipient], &[]);
    set(&p, &k, "e", &[("token", CANARY)]).success();
    let before = p.read("secrets/e.sops.yaml");
    // First run: break the YAML. Second run: the broken edit must still be there (kept for
    // the user to fix), and it is fixed.
    let editor = write_script(
        &p,
        "fix-editor.sh",
        &format!(
            "if [ -e {count} ]; then grep -q 'oops' \"$1\" || exit 9; printf 'token: fixed\\n' > \"$1\"; \
             else touch {count}; printf 'token: [oops\\n' > \"$1\"; fi",
            count = p.path("ran-once").display()
        ),
    );
    let command = format!(
        "env TMPDIR={} EDITOR={} {} secrets edit e",
        p.outside("tmp").display(),
        editor.display(),
        crate::support::runner_bin()
    );
    let out = on_pty(&p, &k, &command, "w 'press Enter to edit again'; printf '\\n' >&3");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(shown.contains("e.sops.yaml") && !shown.contains(CANARY), "{shown}");
    assert_eq!(p.with(&k, &["secrets", "get", "e", "token"]).run().success().stdout, "fixed\n");
    assert_eq!(fs::read_dir(p.outside("tmp")).unwrap().count(), 0, "temp files left behind");

    // Ctrl-C at the question: nothing written, the temp file removed. (A fresh transcript,
    // so the feed waits for this run's question.)
    fs::remove_file(p.path("typescript")).unwrap();
    fs::remove_file(p.path("pty-input")).unwrap();
    set(&p, &k, "e", &[("token", CANARY)]).success();
    let before_abort = p.read("secrets/e.sops.yaml");
    assert_ne!(before, before_abort);
    let broken = write_script(&p, "broken-editor.sh", "printf 'token: [oops\\n' > \"$1\"");
    let inner = write_script(
        &p,
        "inner.sh",
        &format!(
            "trap true INT\nTMPDIR={} EDITOR={} {} secrets edit e\necho \"rc=$?\"",
            p.outside("tmp").display(),
            broken.display(),
            crate::support::runner_bin()
        ),
    );
    let out = on_pty(
        &p,
        &k,
        &format!("sh {}", inner.display()),
        "w 'press Enter to edit again'; printf '\\003' >&3",
    );
    let shown = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(out.status.success(), "{shown}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(shown.contains("interrupted") && shown.contains("rc=2\n") && !shown.contains(CANARY), "{shown}");
    assert_eq!(before_abort, p.read("secrets/e.sops.yaml"));
    assert_eq!(fs::read_dir(p.outside("tmp")).unwrap().count(), 0, "temp files left behind");
}
