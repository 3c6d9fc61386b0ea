//! `runner validate` and the vault: recipient checks without keys, adapter keys, and
//! `--check-secrets` decrypting in memory.

use std::fs;

use crate::support::{Run, repo_root};

fn demo_key() -> std::path::PathBuf {
    repo_root().join("tests/fixtures/demo/age-key.txt")
}

/// A HOME with no age keys, so nothing is picked up from the developer's machine.
fn empty_home() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp home")
}

/// `runner validate` with no environment key material (no age keys, no GnuPG home).
fn validate_without_keys(args: &[&str], home: &std::path::Path) -> crate::support::Finished {
    Run::new(["validate"])
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("GNUPGHOME", home.join("gnupg"))
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_CMD")
        .run()
}

#[test]
fn repo_recipes_validate_without_keys_with_notes_only() {
    let home = empty_home();
    let out = validate_without_keys(&["recipes/"], home.path()).success();
    assert!(out.stdout.contains("note[secret-no-key]"), "{}", out.stdout);
    assert!(!out.stdout.contains("warning[secret-no-key]"), "{}", out.stdout);
    assert!(out.stdout.contains("0 invalid (0 errors, 0 warnings, 4 notes)"), "{}", out.stdout);
    // The names resolve to the placeholder demo files, which say so, once per secret.
    assert_eq!(out.stdout.matches("note[secret-demo]").count(), 2, "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "note[secret-demo]: secret `coinbase` is the placeholder demo file secrets/demo/coinbase.sops.yaml: \
             its values are not real credentials; also named by `broker.credentials` (recipes/btc-coinbase-ha.yaml:18)"
        ),
        "{}",
        out.stdout
    );
    // btc-coinbase-ha names `coinbase` for both provider and broker: one note, at the first
    // use (the provider), naming the second.
    assert_eq!(out.stdout.matches("opens secret `coinbase`").count(), 1, "{}", out.stdout);
    assert!(out.stdout.contains("√ recipes/btc-coinbase-ha.yaml: 2 notes\n"), "{}", out.stdout);
    let at = out.stdout.find("opens secret `coinbase`").expect("the coinbase note");
    let note = &out.stdout[at..];
    assert!(
        note.contains("also named by `broker.credentials` (recipes/btc-coinbase-ha.yaml:18)"),
        "{}",
        out.stdout
    );
    assert!(note.contains("--> recipes/btc-coinbase-ha.yaml:11:16"), "{}", out.stdout);
    // A CI using --deny-warnings is not broken by the missing key.
    let denied = validate_without_keys(&["--deny-warnings", "recipes/"], home.path()).success();
    assert!(denied.stdout.contains("note[secret-no-key]"), "{}", denied.stdout);
    // JSON carries the severity.
    let json = validate_without_keys(&["--format", "json", "recipes/"], home.path()).success();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let notes: Vec<&serde_json::Value> =
        v.as_array().expect("array").iter().filter(|d| d["code"] == "secret-no-key").collect();
    assert_eq!(notes.len(), 2, "{}", json.stdout);
    assert!(notes.iter().all(|d| d["severity"] == "note"), "{}", json.stdout);
}

#[test]
fn check_secrets_without_a_key_is_an_error() {
    let home = empty_home();
    let out = validate_without_keys(&["--check-secrets", "--deny-warnings", "recipes/"], home.path()).code(1);
    assert!(
        out.stdout.contains("error[secret-no-key]: --check-secrets: no key available here"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("so it was not decrypted"), "{}", out.stdout);
    assert!(out.stdout.contains("x recipes/nvda-signals-paper.yaml: 1 error"), "{}", out.stdout);
    assert!(out.stdout.contains("x recipes/btc-coinbase-ha.yaml: 1 error"), "{}", out.stdout);
}

#[test]
fn check_secrets_decrypts_with_the_key_and_never_prints_values() {
    let home = empty_home();
    let out = Run::new(["validate", "--check-secrets", "recipes/"])
        .env("HOME", home.path())
        .env("SOPS_AGE_KEY_FILE", demo_key())
        .run()
        .success();
    assert!(out.stdout.contains("7 ok"), "{}", out.stdout);
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains("DEMO-not-a-real"), "a secret value leaked:\n{text}");
    }
}

/// A project in a temp dir: one recipe needing alpaca credentials, and a secrets dir.
fn project_with_secret(secret_yaml_keys: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp project");
    let root = repo_root();
    let recipe = fs::read_to_string(root.join("recipes/nvda-signals.yaml")).expect("recipe");
    fs::create_dir_all(dir.path().join("recipes")).expect("mkdir");
    fs::write(dir.path().join("recipes/nvda.yaml"), recipe).expect("write recipe");
    fs::write(dir.path().join("runner.yaml"), "version: 1\n").expect("fleet");
    fs::create_dir_all(dir.path().join("secrets")).expect("mkdir");
    let plain = dir.path().join("plain.yaml");
    fs::write(&plain, secret_yaml_keys).expect("plain");
    let recipient = "age1v94wk6c0ke6tpajm84k22dh9kfg3m3a4ymnzcnrzt6ckndqc3dxs9ynl4d";
    Run::new([
        "secrets",
        "encrypt",
        "--age",
        recipient,
        "--output",
        "secrets/alpaca-paper.sops.yaml",
        "plain.yaml",
    ])
    .dir(dir.path())
    .run()
    .success();
    fs::remove_file(plain).expect("rm plain");
    dir
}

#[test]
fn missing_adapter_keys_are_errors_even_without_a_key() {
    let dir = project_with_secret("key_id: only-the-id\n");
    let home = empty_home();
    let out = Run::new(["validate", "recipes/"])
        .dir(dir.path())
        .env("HOME", home.path())
        .env_remove("SOPS_AGE_KEY_FILE")
        .run()
        .code(1);
    assert!(out.stdout.contains("error[secret-keys-missing]"), "{}", out.stdout);
    assert!(out.stdout.contains("lacks `secret_key` needed by the alpaca broker"), "{}", out.stdout);
    assert!(!out.stdout.contains("only-the-id"), "{}", out.stdout);
}

#[test]
fn check_secrets_reports_a_tampered_file_and_empty_values() {
    let dir = project_with_secret("key_id: the-id-value\nsecret_key: ''\n");
    let home = empty_home();
    let run = |d: &std::path::Path| {
        Run::new(["validate", "--check-secrets", "recipes/"])
            .dir(d)
            .env("HOME", home.path())
            .env("SOPS_AGE_KEY_FILE", demo_key())
            .run()
    };
    let out = run(dir.path()).code(1);
    assert!(out.stdout.contains("error[secret-value-empty]"), "{}", out.stdout);
    assert!(out.stdout.contains("`secret_key`"), "{}", out.stdout);

    // Flip one character of an encrypted value: the MAC no longer matches.
    let path = dir.path().join("secrets/alpaca-paper.sops.yaml");
    let text = fs::read_to_string(&path).expect("read");
    let at = text.find("data:").expect("an encrypted value") + 5;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    fs::write(&path, &bytes).expect("tamper");
    let out = run(dir.path()).code(1);
    assert!(out.stdout.contains("error[secret-decrypt]"), "{}", out.stdout);
    assert!(out.stdout.contains("alpaca-paper"), "{}", out.stdout);
    assert!(!out.stdout.contains("the-id-value") && !out.stderr.contains("the-id-value"), "{}", out.stdout);
    assert_eq!(fs::read(&path).expect("reread"), bytes, "validate changes nothing on disk");
}

/// A replay recipe whose broker is a live Alpaca account named by credentials.
fn live_recipe(dir: &std::path::Path) -> std::path::PathBuf {
    // Alpaca on a closed local port: nothing here may reach the internet.
    let closed = "endpoints: {rest: \"http://127.0.0.1:9\", stream: \"ws://127.0.0.1:9/stream\"}";
    let text = fs::read_to_string(repo_root().join("recipes/spy-9ma-shares.yaml"))
        .expect("recipe")
        .replace(
            "  kind: replay\n  path: ../data/spy-1s-trade-2013-10-07_11.csv.gz\n",
            &format!(
                "  kind: alpaca\n  credentials: alpaca-paper\n  {}\n",
                closed.replace("/stream", "/v2/iex")
            ),
        )
        .replace("  kind: paper\n", &format!("  kind: alpaca\n  {closed}\n"))
        .replace("  starting_equity: 50000\n", "  credentials: alpaca-paper\n");
    let path = dir.join("live.yaml");
    fs::write(&path, text).expect("write recipe");
    path
}

#[test]
fn up_decrypts_credentials_once_at_start_and_refuses_what_it_cannot_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let recipe = live_recipe(dir.path());
    let home = empty_home();
    let common = |r: Run| {
        r.env("HOME", home.path())
            .args(["--state-dir", &dir.path().join("state").to_string_lossy()])
            .args(["--journal", &dir.path().join("j.db").to_string_lossy()])
    };
    // No key: refused before anything runs, naming the file and the recipients tried.
    let out =
        common(Run::new(["up", "--speed", "max"]).arg(&recipe).env_remove("SOPS_AGE_KEY_FILE")).run().code(1);
    assert!(out.stderr.contains("alpaca-paper.sops.yaml"), "{}", out.stderr);
    assert!(
        out.stderr.contains("age1v94wk6c0ke6tpajm84k22dh9kfg3m3a4ymnzcnrzt6ckndqc3dxs9ynl4d"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("filled"), "nothing trades: {}", out.stdout);
    // With the key: decrypted in memory, then Alpaca (a closed port here) cannot be reached:
    // the start is refused before anything trades, and no value leaks.
    let out =
        common(Run::new(["-vv", "up", "--speed", "max"]).arg(&recipe).env("SOPS_AGE_KEY_FILE", demo_key()))
            .run()
            .code(1);
    assert!(out.stderr.contains("Credentials decrypted."), "{}", out.stderr);
    assert!(out.stderr.contains("cannot read the account at the venue"), "{}", out.stderr);
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains("DEMO-not-a-real"), "a secret value leaked:\n{text}");
    }
}
