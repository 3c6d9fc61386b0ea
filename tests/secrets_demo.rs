//! The public demo key never protects a user's secrets: a fresh copy of the repository,
//! `runner secrets init`, then real secrets that the committed demo key cannot open; every
//! command that encrypts refuses a recipient whose private key is in the working tree, and
//! `runner validate` reports a file encrypted to one.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use runner::secrets::rules::SopsConfig;

use crate::support::{Finished, Run, repo_root};

/// The committed demo recipient (its private key is `tests/fixtures/demo/age-key.txt`).
const DEMO: &str = "age1v94wk6c0ke6tpajm84k22dh9kfg3m3a4ymnzcnrzt6ckndqc3dxs9ynl4d";
/// Where the demo private key lies in the repository.
const DEMO_KEY: &str = "tests/fixtures/demo/age-key.txt";
/// A value that must never be readable with the demo key, nor printed.
const CANARY: &str = "canary-real-9Fq2-SECRET";

/// What a fresh clone holds that matters here (copied from this repository), in `work/`,
/// with an empty HOME beside it.
struct FreshClone {
    root: tempfile::TempDir,
}

impl FreshClone {
    fn new() -> Self {
        let root = tempfile::Builder::new().prefix("rdemo-").tempdir().expect("tempdir");
        let clone = Self { root };
        let files = [
            ".sops.yaml",
            "runner.yaml",
            "secrets/demo/alpaca-paper.sops.yaml",
            "secrets/demo/coinbase.sops.yaml",
            DEMO_KEY,
            "recipes/nvda-signals.yaml",
            "recipes/btc-coinbase-ha.yaml",
        ];
        for rel in files {
            let to = clone.path(rel);
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(repo_root().join(rel), &to).unwrap_or_else(|e| panic!("copy {rel}: {e}"));
        }
        fs::create_dir_all(clone.home()).unwrap();
        clone
    }

    /// A path in the copy of the repository.
    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join("work").join(rel)
    }

    fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    /// `runner ARGS` in the copy, with the empty HOME and no key from the environment.
    fn runner(&self, args: &[&str]) -> Run {
        let mut run = Run::new(args)
            .dir(self.path(""))
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("GNUPGHOME", self.home().join("no-gnupg"));
        for var in [
            "SOPS_AGE_KEY",
            "SOPS_AGE_KEY_FILE",
            "SOPS_AGE_KEY_CMD",
            "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
            "EDITOR",
        ] {
            run = run.env_remove(var);
        }
        run
    }

    /// `runner ARGS` with only the demo key (and no HOME key at all).
    fn with_demo_key(&self, args: &[&str]) -> Run {
        self.runner(args)
            .env("HOME", self.root.path())
            .env_remove("XDG_CONFIG_HOME")
            .env("SOPS_AGE_KEY_FILE", self.path(DEMO_KEY))
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }
}

/// The error every refusal shows: the key file named, the fix, never key material.
#[track_caller]
fn assert_refused(out: &Finished, key_file: &str) {
    assert_eq!(out.code, 1, "{}", out.stderr);
    for part in [
        "refusing to encrypt to",
        key_file,
        "runner secrets init",
        "--allow-public-key",
        "nothing was written",
    ] {
        assert!(out.stderr.contains(part), "missing {part:?}: {}", out.stderr);
    }
    assert!(!out.stderr.to_uppercase().contains("AGE-SECRET-KEY"), "{}", out.stderr);
    assert!(!out.stderr.contains("PRIVATE KEY-----"), "{}", out.stderr);
}

#[test]
fn init_in_a_fresh_clone_keeps_real_secrets_from_the_demo_key() {
    let c = FreshClone::new();
    // Before init there is no rule for secrets/: set says what to do, and writes nothing.
    let out =
        c.runner(&["secrets", "set", "mybroker", "secret_key"]).stdin(format!("secret_key={CANARY}\n")).run();
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("run `runner secrets init`"), "{}", out.stderr);
    assert!(!c.path("secrets/mybroker.sops.yaml").exists());

    let init = c.runner(&["secrets", "init"]).run().success();
    let key_file = c.home().join(".config/sops/age/keys.txt");
    let key_text = fs::read_to_string(&key_file).expect("init made a key file");
    let public = key_text.lines().find_map(|l| l.strip_prefix("# public key: ")).expect("public key line");
    // It says what it wrote: the key file and public key, the rule and what it encrypts to.
    assert!(
        init.stderr.contains(&format!("created age identity {} (public key {public})", key_file.display())),
        "{}",
        init.stderr
    );
    assert!(
        init.stderr.contains(
            ".sops.yaml: added creation rule 2 (path_regex '^secrets/.*\\.sops\\.(yaml|yml|json|env)$')"
        ),
        "{}",
        init.stderr
    );
    assert!(
        init.stderr.contains(&format!("new files in secrets are encrypted to {public}\n")),
        "{}",
        init.stderr
    );
    assert!(!init.stderr.contains(DEMO), "{}", init.stderr);
    // The demo rule is untouched and first; the user's rule holds only the user's key.
    let config = SopsConfig::load(&c.path(".sops.yaml")).unwrap();
    assert_eq!(config.rules.len(), 2);
    assert_eq!(config.rule_for(&c.path("secrets/demo/x.sops.yaml")).unwrap().all_age(), [DEMO]);
    assert_eq!(config.rule_for(&c.path("secrets/mybroker.sops.yaml")).unwrap().all_age(), [public]);
    let before = fs::read_to_string(repo_root().join(".sops.yaml")).unwrap();
    assert!(fs::read_to_string(c.path(".sops.yaml")).unwrap().starts_with(&before));

    c.runner(&["secrets", "set", "mybroker", "secret_key"])
        .stdin(format!("secret_key={CANARY}\n"))
        .run()
        .success();
    let file = String::from_utf8(c.read("secrets/mybroker.sops.yaml")).unwrap();
    assert!(file.contains(public) && !file.contains(DEMO) && !file.contains(CANARY), "{file}");
    // Anyone with the repository has the demo key: it opens nothing of the user's.
    let out = c.with_demo_key(&["secrets", "get", "mybroker", "secret_key"]).run();
    assert_ne!(out.code, 0, "the demo key read a real secret");
    assert!(!out.stdout.contains(CANARY) && !out.stderr.contains(CANARY), "{out:?}");
    assert_eq!(
        c.runner(&["secrets", "get", "mybroker", "secret_key"]).run().success().stdout,
        format!("{CANARY}\n")
    );

    // Running init again changes nothing and says so.
    let again = c.runner(&["secrets", "init"]).run().success();
    assert!(
        again.stderr.contains("creation rule 2 already encrypts new files in secrets"),
        "{}",
        again.stderr
    );
}

#[test]
fn init_never_uses_or_keeps_a_key_from_the_working_tree() {
    let c = FreshClone::new();
    // The only identity at hand is the demo key: init makes a new one instead.
    let init = c.with_demo_key(&["secrets", "init"]).env("HOME", c.home()).run().success();
    assert!(
        init.stderr.contains(&format!("not using the age identity {DEMO} from"))
            && init.stderr.contains(&format!("its private key is in {DEMO_KEY} in this working tree")),
        "{}",
        init.stderr
    );
    assert!(init.stderr.contains("created age identity"), "{}", init.stderr);
    let own = SopsConfig::load(&c.path(".sops.yaml"))
        .unwrap()
        .rule_for(&c.path("secrets/a.sops.yaml"))
        .unwrap()
        .all_age();
    assert_eq!(own.len(), 1);
    assert_ne!(own[0], DEMO);

    // A rule for secrets/ that already holds the demo key (as `init` wrote before) is not
    // kept: a new one, without it, goes in front of it.
    let c = FreshClone::new();
    let mate = age::x25519::Identity::generate().to_public().to_string();
    fs::write(
        c.path(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: ^secrets/\n    age: {DEMO},{mate}\n"),
    )
    .unwrap();
    let init = c.runner(&["secrets", "init"]).run().success();
    assert!(init.stderr.contains(".sops.yaml: added creation rule 1"), "{}", init.stderr);
    assert!(
        init.stderr.contains(&format!("left out {DEMO}: its private key is in {DEMO_KEY}")),
        "{}",
        init.stderr
    );
    let rule = SopsConfig::load(&c.path(".sops.yaml"))
        .unwrap()
        .rule_for(&c.path("secrets/a.sops.yaml"))
        .unwrap()
        .all_age();
    assert_eq!(rule.len(), 2, "yours and the teammate's: {rule:?}");
    assert!(rule.contains(&mate) && !rule.iter().any(|r| r == DEMO), "{rule:?}");
}

#[test]
fn commands_that_encrypt_refuse_a_recipient_whose_key_is_in_the_working_tree() {
    let c = FreshClone::new();
    // A user file encrypted to the demo key (e.g. made before this check existed).
    fs::copy(c.path("secrets/demo/alpaca-paper.sops.yaml"), c.path("secrets/alpaca-paper.sops.yaml"))
        .unwrap();
    let before = c.read("secrets/alpaca-paper.sops.yaml");
    let own = age::x25519::Identity::generate().to_public().to_string();
    fs::write(c.path("plain.yaml"), format!("token: {CANARY}\n")).unwrap();
    fs::write(c.path("editor.sh"), "#!/bin/sh\necho 'key_id: edited' > \"$1\"\n").unwrap();
    Command::new("chmod").arg("+x").arg(c.path("editor.sh")).status().unwrap();
    let refused: [&[&str]; 5] = [
        &["secrets", "set", "alpaca-paper", "key_id"],
        &["secrets", "rotate", "alpaca-paper"],
        &["secrets", "recipients", "add", "alpaca-paper", "--age", &own],
        &["secrets", "edit", "alpaca-paper"],
        &["secrets", "encrypt", "plain.yaml", "--age", DEMO, "-o", "secrets/x.sops.yaml"],
    ];
    for args in refused {
        let out = c
            .with_demo_key(args)
            .env("EDITOR", c.path("editor.sh"))
            .stdin(format!("key_id={CANARY}\n"))
            .run();
        assert_refused(&out, DEMO_KEY);
        assert_eq!(before, c.read("secrets/alpaca-paper.sops.yaml"), "{args:?} changed the file");
    }
    assert!(!c.path("secrets/x.sops.yaml").exists());

    // A .sops.yaml rule for secrets/ with the demo key: refused before any value is asked for.
    fs::write(
        c.path(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: ^secrets/\n    age: {own},{DEMO}\n"),
    )
    .unwrap();
    let out = c.runner(&["secrets", "set", "new", "k"]).stdin(format!("k={CANARY}\n")).run();
    assert_refused(&out, DEMO_KEY);
    assert!(!c.path("secrets/new.sops.yaml").exists());

    // An unencrypted SSH key committed somewhere in the tree counts too.
    let ssh = c.path("deploy/id_ed25519");
    fs::create_dir_all(ssh.parent().unwrap()).unwrap();
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "deploy", "-f"])
        .arg(&ssh)
        .output();
    assert!(keygen.expect("ssh-keygen (openssh-client, see .ci/setup)").status.success());
    let ssh_public = fs::read_to_string(ssh.with_extension("pub")).unwrap().trim().to_owned();
    let out = c
        .runner(&["secrets", "encrypt", "plain.yaml", "--age", &ssh_public, "-o", "secrets/s.sops.yaml"])
        .run();
    assert_refused(&out, "deploy/id_ed25519");

    // Allowed: removing the public recipient, a demo file (by its directory), and the override.
    let rm = ["secrets", "recipients", "remove", "alpaca-paper", "--age", DEMO];
    let out = c
        .with_demo_key(&["secrets", "recipients", "add", "alpaca-paper", "--age", &own, "--allow-public-key"])
        .run()
        .success();
    assert!(out.stderr.contains("anyone with the repository can read this file"), "{}", out.stderr);
    c.with_demo_key(&rm).run().success();
    c.with_demo_key(&["secrets", "set", "--dir", "secrets/demo", "coinbase", "api_key"])
        .stdin("api_key=DEMO-x\n")
        .run()
        .success();
}

#[test]
fn validate_reports_a_secret_encrypted_to_a_key_in_the_working_tree() {
    let c = FreshClone::new();
    // Out of the box the recipes validate, with a note that the demo values stand in.
    let out = c.runner(&["validate", "--deny-warnings", "recipes/"]).run().success();
    assert!(
        out.stdout.contains("note[secret-demo]: secret `alpaca-paper` is the placeholder demo file secrets/demo/alpaca-paper.sops.yaml"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("`runner secrets set alpaca-paper key_id secret_key`"), "{}", out.stdout);

    // A file of the user's own that the demo key opens is an error, with the fix.
    fs::copy(c.path("secrets/demo/alpaca-paper.sops.yaml"), c.path("secrets/alpaca-paper.sops.yaml"))
        .unwrap();
    let out = c.runner(&["validate", "recipes/"]).run().code(1);
    assert!(
        out.stdout.contains(&format!(
            "error[secret-public-key]: secret `alpaca-paper` (secrets/alpaca-paper.sops.yaml) is encrypted to {DEMO} (private key in {DEMO_KEY})"
        )),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("change those credentials at the broker"), "{}", out.stdout);
    assert!(!out.stdout.contains("note[secret-demo]: secret `alpaca-paper`"), "{}", out.stdout);
}
