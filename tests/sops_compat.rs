//! SOPS compatibility, both ways: every peer fixture decrypts to what Go sops printed, tampered
//! files fail the MAC, files written by runner decrypt with the real Go sops 3.11.0 (and the
//! reverse), and key/format errors are clear and name the file.

use std::path::{Path, PathBuf};
use std::process::Command;

use runner::secrets::sops::{
    self, EncryptConfig, EncryptionRule, Format, GroupSpec, KeySource, ListItem, MapItem, PlainDocument,
    SopsError, Value,
};

const AGE_RECIPIENT: &str = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";
const PGP_FP: &str = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops")
}

fn read(rel: &str) -> Vec<u8> {
    let p = fixtures().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn age_ids(rel: &str) -> Vec<age::x25519::Identity> {
    sops::parse_age_identities(&String::from_utf8(read(rel)).unwrap()).unwrap()
}

/// The real Go sops; absent → the test FAILS (run `.ci/setup`).
fn sops_bin() -> PathBuf {
    let p = std::env::var_os("RUNNER_SOPS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tools/bin/sops"));
    assert!(p.is_file(), "Go sops not found at {} — run .ci/setup (or set RUNNER_SOPS_BIN)", p.display());
    p
}

/// A throwaway GnuPG home under a short path with the public test keys imported.
struct GpgHome {
    dir: tempfile::TempDir,
}

impl GpgHome {
    fn new() -> GpgHome {
        let dir = tempfile::Builder::new().prefix("rg-").tempdir_in("/tmp").unwrap();
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(dir.path())
            .args(["--batch", "--import"])
            .arg(fixtures().join("upstream/pgp_sops_functional_tests_key.asc"))
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg import failed: {}", String::from_utf8_lossy(&out.stderr));
        GpgHome { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn keys(&self, age: Vec<age::x25519::Identity>) -> KeySource {
        KeySource { age, pgp: true, gnupg_home: Some(self.path().to_path_buf()), ..KeySource::default() }
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.dir.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Runs the real sops with test keys; returns (exit code, stdout, stderr).
fn run_sops(args: &[&str], gpg: Option<&GpgHome>, dir: &Path) -> (i32, Vec<u8>, String) {
    let mut cmd = Command::new(sops_bin());
    cmd.args(args)
        .current_dir(dir)
        .env("SOPS_AGE_KEY_FILE", fixtures().join("generated/age_keys.txt"))
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .env_remove("SOPS_AGE_KEY")
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir);
    match gpg {
        Some(g) => cmd.env("GNUPGHOME", g.path()),
        None => cmd.env("GNUPGHOME", dir.join("no-gnupg")),
    };
    let out = cmd.output().unwrap();
    (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn type_flag(f: Format) -> &'static str {
    f.flag()
}

/// Numbers compared as float64 (sops 3.11 reads JSON numbers as floats).
fn norm(v: &Value) -> Value {
    match v {
        Value::Int(i) => Value::Float(*i as f64),
        Value::Map(items) => Value::Map(
            items
                .iter()
                .map(|i| match i {
                    MapItem::Pair(k, v) => MapItem::Pair(k.clone(), norm(v)),
                    c => c.clone(),
                })
                .collect(),
        ),
        Value::List(items) => Value::List(
            items
                .iter()
                .map(|i| match i {
                    ListItem::Value(v) => ListItem::Value(norm(v)),
                    c => c.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn norm_doc(d: &PlainDocument) -> Vec<Value> {
    d.branches().iter().map(|b| norm(&Value::Map(b.clone()))).collect()
}

fn fmt_of(name: &str) -> Format {
    Format::from_path(Path::new(name)).unwrap_or(Format::Yaml)
}

/// Decrypts `enc` and checks it equals `expected` (a plaintext file) as a tree, and byte for byte
/// when `exact` is set.
fn check_decrypts_to(enc: &str, expected: &[u8], keys: &KeySource, exact: bool) {
    let format = fmt_of(enc);
    let dec = sops::decrypt(&read(enc), format, enc, keys).unwrap_or_else(|e| panic!("{enc}: {e}"));
    let want = PlainDocument::parse(expected, format, "expected").unwrap();
    assert_eq!(norm_doc(&dec.doc), norm_doc(&want), "{enc}: decrypted tree differs");
    if exact {
        let got = dec.doc.to_bytes(format).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(expected), "{enc}: output differs");
    }
}

#[test]
fn every_peer_fixture_decrypts_to_what_go_sops_printed() {
    let gpg = GpgHome::new();
    let keys = gpg.keys(age_ids("generated/age_keys.txt"));
    for name in [
        "basic.enc.yaml",
        "basic.enc.json",
        "basic.enc.env",
        "age_and_pgp.enc.yaml",
        "age_and_pgp.enc.json",
        "pgp_only.enc.yaml",
        "key_groups_shamir.enc.yaml",
        "encrypted_regex.enc.yaml",
        "mac_only_encrypted.enc.yaml",
        "unencrypted_regex.enc.yaml",
        "encrypted_suffix.enc.yaml",
        "multidoc.enc.yaml",
    ] {
        let expected = read(&format!("generated/decrypted-by-go-sops-3.11.0/{name}"));
        check_decrypts_to(&format!("generated/{name}"), &expected, &keys, true);
    }
    for name in ["pgp_simple.enc.yaml", "pgp_simple.enc-by-pypi-sops-1.18.yaml"] {
        check_decrypts_to(
            &format!("generated/{name}"),
            &read("generated/pgp_simple.plain.yaml"),
            &keys,
            false,
        );
    }
    for name in [
        "example.yaml",
        "example.json",
        "functional-tests_res_comments.enc.yaml",
        "functional-tests_res_format.enc.yaml",
        "functional-tests_res_format.enc.json",
        "functional-tests_res_format.enc.env",
        "functional-tests_res_multiple_keys.yaml",
    ] {
        let expected = read(&format!("upstream/decrypted-by-go-sops-3.11.0/{name}"));
        check_decrypts_to(&format!("upstream/{name}"), &expected, &keys, true);
    }
}

#[test]
fn sops_age_and_rops_fixtures_decrypt() {
    // sops-age (sops 3.8.1): compare with what the real Go sops prints for the same file today.
    let dir = tempfile::tempdir().unwrap();
    let keys = KeySource::age(age_ids("sops-age/key.txt"));
    for name in ["secret.enc.yaml", "secret.enc.json", "secret.enc.env"] {
        let path = fixtures().join("sops-age").join(name);
        let mut cmd = Command::new(sops_bin());
        let out = cmd
            .args(["decrypt"])
            .arg(&path)
            .env("SOPS_AGE_KEY_FILE", fixtures().join("sops-age/key.txt"))
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .env("HOME", dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        check_decrypts_to(&format!("sops-age/{name}"), &out.stdout, &keys, true);
    }
    // rops references (re-serialized, no `version`; Go sops refuses them) against their plaintexts.
    let keys = KeySource::age(age_ids("rops/age_keys.txt"));
    for stem in [
        "age_example",
        "age_empty_value",
        "age_encrypted_regex",
        "age_encrypted_suffix",
        "age_unencrypted_regex",
        "age_unencrypted_suffix",
        "age_mac_only_encrypted",
    ] {
        check_decrypts_to(
            &format!("rops/{stem}.yaml"),
            &read(&format!("rops/{stem}_plaintext.yaml")),
            &keys,
            false,
        );
    }
}

#[test]
fn tampered_and_macless_files_fail_with_a_mac_error_naming_the_file() {
    let gpg = GpgHome::new();
    let keys = gpg.keys(age_ids("generated/age_keys.txt"));
    for rel in [
        "generated/NEGATIVE_mac_mismatch_age.enc.yaml",
        "generated/NEGATIVE_mac_mismatch_pgp.enc.yaml",
        "upstream/functional-tests_res_no_mac.yaml",
    ] {
        let err = sops::decrypt(&read(rel), Format::Yaml, rel, &keys).unwrap_err();
        assert!(matches!(err, SopsError::MacMismatch { .. }), "{rel}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(rel) && msg.contains("MAC"), "{msg}");
        assert!(!msg.contains("visible"), "error leaks a value: {msg}");
    }
    // Editing an encrypted value's ciphertext is caught too (authentication of the value).
    let text = String::from_utf8(read("generated/basic.enc.yaml")).unwrap();
    let tampered = text.replacen("data:CqvzdBG8", "data:DqvzdBG8", 1);
    let err = sops::decrypt(tampered.as_bytes(), Format::Yaml, "t.enc.yaml", &keys).unwrap_err();
    assert!(err.to_string().contains("t.enc.yaml") && err.to_string().contains("api_key:"), "{err}");
}

#[test]
fn wrong_missing_key_and_malformed_file_give_clear_errors() {
    let enc = read("generated/basic.enc.yaml");
    // Wrong age key.
    let wrong = KeySource::age(age_ids("rops/age_keys.txt"));
    let err = sops::decrypt(&enc, Format::Yaml, "secrets/prod.enc.yaml", &wrong).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SopsError::NoKey { .. }));
    assert!(msg.contains("secrets/prod.enc.yaml") && msg.contains(AGE_RECIPIENT), "{msg}");
    // No key at all; PGP file without the secret key in the keyring.
    let err = sops::decrypt(&enc, Format::Yaml, "x.yaml", &KeySource::default()).unwrap_err();
    assert!(err.to_string().contains(AGE_RECIPIENT), "{err}");
    let empty_home = tempfile::Builder::new().prefix("rg-").tempdir_in("/tmp").unwrap();
    let keys = KeySource {
        age: vec![],
        pgp: true,
        gnupg_home: Some(empty_home.path().to_path_buf()),
        ..KeySource::default()
    };
    let err = sops::decrypt(&read("generated/pgp_only.enc.yaml"), Format::Yaml, "p.yaml", &keys).unwrap_err();
    assert!(err.to_string().contains(PGP_FP) && err.to_string().contains("p.yaml"), "{err}");
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(empty_home.path())
        .args(["--kill", "gpg-agent"])
        .output();
    // Shamir with only one of two groups available.
    let err = sops::decrypt(
        &read("generated/key_groups_shamir.enc.yaml"),
        Format::Yaml,
        "shamir.yaml",
        &KeySource::age(age_ids("generated/age_keys.txt")),
    )
    .unwrap_err();
    assert!(err.to_string().contains("1 of the 2"), "{err}");
    // Malformed files.
    for (bytes, format) in [
        (&b"a: [1, 2\nb: :"[..], Format::Yaml),
        (&b"{\"a\": "[..], Format::Json),
        (&b"JUST_A_LINE\n"[..], Format::Dotenv),
    ] {
        let err = sops::decrypt(bytes, format, "bad.file", &KeySource::default()).unwrap_err();
        assert!(matches!(err, SopsError::Malformed { .. }) && err.to_string().contains("bad.file"), "{err}");
    }
    let err = sops::decrypt(b"a: 1\n", Format::Yaml, "plain.yaml", &KeySource::default()).unwrap_err();
    assert!(matches!(err, SopsError::NotEncrypted { .. }), "{err}");
}

fn configs() -> Vec<(&'static str, EncryptConfig)> {
    let mut shamir = EncryptConfig {
        key_groups: vec![
            GroupSpec { age: vec![AGE_RECIPIENT.into()], pgp: vec![] },
            GroupSpec { age: vec![], pgp: vec![PGP_FP.into()] },
        ],
        shamir_threshold: Some(2),
        ..Default::default()
    };
    shamir.rule = EncryptionRule::UnencryptedSuffix("_unencrypted".into());
    vec![
        ("age", EncryptConfig::new(vec![AGE_RECIPIENT.into()], vec![])),
        ("pgp", EncryptConfig::new(vec![], vec![PGP_FP.into()])),
        ("age+pgp", EncryptConfig::new(vec![AGE_RECIPIENT.into()], vec![PGP_FP.into()])),
        ("shamir", shamir),
    ]
}

#[test]
fn files_written_by_runner_decrypt_with_go_sops() {
    let gpg = GpgHome::new();
    let dir = tempfile::tempdir().unwrap();
    let keys = gpg.keys(age_ids("generated/age_keys.txt"));
    let inputs = [
        ("basic.plain.yaml", Format::Yaml, Some("generated/decrypted-by-go-sops-3.11.0/basic.enc.yaml")),
        ("basic.plain.json", Format::Json, None),
        ("basic.plain.env", Format::Dotenv, Some("generated/decrypted-by-go-sops-3.11.0/basic.enc.env")),
        (
            "multidoc.plain.yaml",
            Format::Yaml,
            Some("generated/decrypted-by-go-sops-3.11.0/multidoc.enc.yaml"),
        ),
    ];
    for (cname, mut cfg) in configs() {
        cfg.gnupg_home = Some(gpg.path().to_path_buf());
        for (input, format, go_output) in inputs {
            let plain = read(&format!("generated/{input}"));
            let doc = PlainDocument::parse(&plain, format, input).unwrap();
            let enc = sops::encrypt(&doc, format, &cfg).unwrap_or_else(|e| panic!("{cname} {input}: {e}"));
            let path = dir.path().join(format!("{cname}-{input}"));
            std::fs::write(&path, &enc).unwrap();
            let t = type_flag(format);
            let p = path.to_str().unwrap();
            let (code, out, err) =
                run_sops(&["decrypt", "--input-type", t, "--output-type", t, p], Some(&gpg), dir.path());
            assert_eq!(code, 0, "{cname} {input}: sops failed: {err}");
            let by_sops = PlainDocument::parse(&out, format, "sops output").unwrap();
            assert_eq!(norm_doc(&by_sops), norm_doc(&doc), "{cname} {input}: content differs");
            if let Some(go) = go_output {
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&read(go)),
                    "{cname} {input}"
                );
            }
            // And we read our own file back.
            let dec = sops::decrypt(&enc, format, input, &keys).unwrap();
            assert_eq!(norm_doc(&dec.doc), norm_doc(&doc));
        }
    }
}

#[test]
fn rules_and_mac_only_encrypted_written_by_runner_decrypt_with_go_sops() {
    let dir = tempfile::tempdir().unwrap();
    let keys = KeySource::age(age_ids("generated/age_keys.txt"));
    let cases = [
        ("encrypted_regex", EncryptionRule::EncryptedRegex("^(data|stringData)$".into()), false),
        ("mac_only_encrypted", EncryptionRule::EncryptedRegex("^(password|token)$".into()), true),
        ("unencrypted_regex", EncryptionRule::UnencryptedRegex("^(public|meta)".into()), false),
        ("encrypted_suffix", EncryptionRule::EncryptedSuffix("_secret".into()), false),
    ];
    for (stem, rule, mac_only) in cases {
        let mut cfg = EncryptConfig::new(vec![AGE_RECIPIENT.into()], vec![]);
        cfg.rule = rule;
        cfg.mac_only_encrypted = mac_only;
        let doc =
            PlainDocument::parse(&read(&format!("generated/{stem}.plain.yaml")), Format::Yaml, stem).unwrap();
        let enc = sops::encrypt(&doc, Format::Yaml, &cfg).unwrap();
        let path = dir.path().join(format!("{stem}.enc.yaml"));
        std::fs::write(&path, &enc).unwrap();
        let (code, out, err) = run_sops(&["decrypt", path.to_str().unwrap()], None, dir.path());
        assert_eq!(code, 0, "{stem}: {err}");
        let want = read(&format!("generated/decrypted-by-go-sops-3.11.0/{stem}.enc.yaml"));
        assert_eq!(
            norm_doc(&PlainDocument::parse(&out, Format::Yaml, "o").unwrap()),
            norm_doc(&doc),
            "{stem}"
        );
        assert_eq!(
            norm_doc(&PlainDocument::parse(&want, Format::Yaml, "w").unwrap()),
            norm_doc(&doc),
            "{stem}"
        );
        assert!(sops::decrypt(&enc, Format::Yaml, stem, &keys).is_ok());
    }
}

#[test]
fn edits_by_sops_after_runner_and_by_runner_after_sops_keep_working() {
    let gpg = GpgHome::new();
    let dir = tempfile::tempdir().unwrap();
    let keys = gpg.keys(age_ids("generated/age_keys.txt"));
    let plain = read("generated/basic.plain.yaml");
    let doc = PlainDocument::parse(&plain, Format::Yaml, "basic").unwrap();
    let mut cfg = EncryptConfig::new(vec![AGE_RECIPIENT.into()], vec![PGP_FP.into()]);
    cfg.gnupg_home = Some(gpg.path().to_path_buf());
    let ours = dir.path().join("ours.enc.yaml");
    std::fs::write(&ours, sops::encrypt(&doc, Format::Yaml, &cfg).unwrap()).unwrap();
    let p = ours.to_str().unwrap();

    // sops edits our file (set + rotate), we still read it.
    let (code, _, err) =
        run_sops(&["set", p, r#"["exchange"]["name"]"#, r#""kraken""#], Some(&gpg), dir.path());
    assert_eq!(code, 0, "sops set: {err}");
    let (code, _, err) = run_sops(&["rotate", "-i", p], Some(&gpg), dir.path());
    assert_eq!(code, 0, "sops rotate: {err}");
    let bytes = std::fs::read(&ours).unwrap();
    let dec = sops::decrypt(&bytes, Format::Yaml, p, &keys).unwrap();
    assert_eq!(dec.doc.get(&["exchange", "name"]), Some(&Value::Str("kraken".into())));
    assert_eq!(dec.doc.get(&["api_key"]), doc.get(&["api_key"]));

    // We edit it (set, remove, rotate, update recipients); sops still reads it.
    let bytes =
        sops::set_value(&bytes, Format::Yaml, p, &keys, &["exchange", "port"], Value::Int(9443)).unwrap();
    let bytes =
        sops::set_value(&bytes, Format::Yaml, p, &keys, &["new", "token"], Value::Str("t0k€n".into()))
            .unwrap();
    let bytes = sops::remove_value(&bytes, Format::Yaml, p, &keys, &["special"]).unwrap();
    let bytes = sops::rotate(&bytes, Format::Yaml, p, &keys).unwrap();
    let before = sops::metadata(&bytes, Format::Yaml, p).unwrap();
    assert_eq!(before.recipients(), vec![format!("age {AGE_RECIPIENT}"), format!("pgp {PGP_FP}")]);
    let bytes = sops::update_recipients(
        &bytes,
        Format::Yaml,
        p,
        &keys,
        &[GroupSpec { age: vec![], pgp: vec![PGP_FP.into()] }],
        None,
    )
    .unwrap();
    assert_eq!(sops::metadata(&bytes, Format::Yaml, p).unwrap().recipients(), vec![format!("pgp {PGP_FP}")]);
    std::fs::write(&ours, &bytes).unwrap();
    let (code, out, err) = run_sops(&["decrypt", "--output-type", "json", p], Some(&gpg), dir.path());
    assert_eq!(code, 0, "sops decrypt after runner edits: {err}");
    let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(j["exchange"]["port"], 9443);
    assert_eq!(j["exchange"]["name"], "kraken");
    assert_eq!(j["new"]["token"], "t0k€n");
    assert!(j.get("special").is_none());
    // The age key no longer opens it.
    let age_only = KeySource::age(age_ids("generated/age_keys.txt"));
    assert!(matches!(sops::decrypt(&bytes, Format::Yaml, p, &age_only), Err(SopsError::NoKey { .. })));

    // sops writes a file, we edit it, sops reads it back (JSON and dotenv too).
    for (input, format) in [
        ("basic.plain.yaml", Format::Yaml),
        ("basic.plain.json", Format::Json),
        ("basic.plain.env", Format::Dotenv),
    ] {
        let src = fixtures().join("generated").join(input);
        let t = type_flag(format);
        let (code, enc, err) = run_sops(
            &[
                "encrypt",
                "--input-type",
                t,
                "--output-type",
                t,
                "--age",
                AGE_RECIPIENT,
                src.to_str().unwrap(),
            ],
            None,
            dir.path(),
        );
        assert_eq!(code, 0, "sops encrypt {input}: {err}");
        let age_keys = KeySource::age(age_ids("generated/age_keys.txt"));
        let dec = sops::decrypt(&enc, format, input, &age_keys).unwrap();
        let want = PlainDocument::parse(&read(&format!("generated/{input}")), format, input).unwrap();
        assert_eq!(norm_doc(&dec.doc), norm_doc(&want), "{input}");
        let edited =
            sops::set_value(&enc, format, input, &age_keys, &["ADDED"], Value::Str("yes".into())).unwrap();
        let path = dir.path().join(format!("sops-{input}"));
        std::fs::write(&path, &edited).unwrap();
        let (code, out, err) = run_sops(
            &["decrypt", "--input-type", t, "--output-type", "json", path.to_str().unwrap()],
            None,
            dir.path(),
        );
        assert_eq!(code, 0, "sops decrypt of runner-edited {input}: {err}");
        let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(j["ADDED"], "yes", "{input}");
    }
}

#[test]
fn secret_bearing_types_redact_debug() {
    let keys = KeySource::age(age_ids("generated/age_keys.txt"));
    let dec = sops::decrypt(&read("generated/basic.enc.yaml"), Format::Yaml, "b", &keys).unwrap();
    let dbg = format!("{dec:?} {keys:?}");
    assert!(!dbg.contains("sk-live") && !dbg.contains("AGE-SECRET-KEY"), "{dbg}");
    assert!(dbg.contains("[redacted]"));
}

#[test]
fn tricky_values_survive_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let keys = KeySource::age(age_ids("generated/age_keys.txt"));
    for (input, format) in [
        ("tricky.plain.yaml", Format::Yaml),
        ("comments.plain.yaml", Format::Yaml),
        ("comments-multidoc.plain.yaml", Format::Yaml),
        ("tricky.plain.json", Format::Json),
        ("tricky.plain.env", Format::Dotenv),
    ] {
        let plain = read(input);
        let doc = PlainDocument::parse(&plain, format, input).unwrap();
        let t = type_flag(format);
        // runner → sops
        let enc =
            sops::encrypt(&doc, format, &EncryptConfig::new(vec![AGE_RECIPIENT.into()], vec![])).unwrap();
        let ours = dir.path().join(format!("ours-{input}"));
        std::fs::write(&ours, &enc).unwrap();
        let (code, out, err) = run_sops(
            &["decrypt", "--input-type", t, "--output-type", t, ours.to_str().unwrap()],
            None,
            dir.path(),
        );
        assert_eq!(code, 0, "{input}: {err}");
        let by_sops = PlainDocument::parse(&out, format, "sops output").unwrap();
        assert_eq!(norm_doc(&by_sops), norm_doc(&doc), "{input}: sops reads runner's file differently");
        // sops → runner
        let src = fixtures().join(input);
        let (code, enc, err) = run_sops(
            &[
                "encrypt",
                "--input-type",
                t,
                "--output-type",
                t,
                "--age",
                AGE_RECIPIENT,
                src.to_str().unwrap(),
            ],
            None,
            dir.path(),
        );
        assert_eq!(code, 0, "{input}: {err}");
        let dec = sops::decrypt(&enc, format, input, &keys).unwrap();
        assert_eq!(norm_doc(&dec.doc), norm_doc(&doc), "{input}: runner reads sops' file differently");
        // Our plaintext output parses back to the same document, and sops reads it the same way.
        let printed = dec.doc.to_bytes(format).unwrap();
        assert_eq!(
            norm_doc(&PlainDocument::parse(&printed, format, "printed").unwrap()),
            norm_doc(&doc),
            "{input}"
        );
        let printed_path = dir.path().join(format!("printed-{input}"));
        std::fs::write(&printed_path, &*printed).unwrap();
        let (code, enc2, err) = run_sops(
            &[
                "encrypt",
                "--input-type",
                t,
                "--output-type",
                t,
                "--age",
                AGE_RECIPIENT,
                printed_path.to_str().unwrap(),
            ],
            None,
            dir.path(),
        );
        assert_eq!(code, 0, "{input}: {err}");
        let again = sops::decrypt(&enc2, format, input, &keys).unwrap();
        assert_eq!(
            norm_doc(&again.doc),
            norm_doc(&doc),
            "{input}: sops parses runner's plaintext differently"
        );
    }
}

#[test]
fn binary_store_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let keys = KeySource::age(age_ids("generated/age_keys.txt"));
    let gpg = GpgHome::new();
    // Fixtures written by Go sops.
    let dec = sops::decrypt_binary(&read("generated/basic.enc.bin.json"), "bin", &keys).unwrap();
    assert_eq!(&*dec, &read("generated/basic.plain.bin")[..]);
    // (the stored decrypted-by-go-sops/example.txt is empty: it was decrypted without
    // `--input-type json`; ask the real sops now instead.)
    let txt = fixtures().join("upstream/example.txt");
    let (code, want, err) = run_sops(
        &["decrypt", "--input-type", "json", "--output-type", "binary", txt.to_str().unwrap()],
        Some(&gpg),
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    let dec = sops::decrypt_binary(&read("upstream/example.txt"), "txt", &gpg.keys(vec![])).unwrap();
    assert_eq!(&*dec, &want[..]);
    // Written by runner, read by Go sops.
    let plain = read("generated/basic.plain.bin");
    let enc = sops::encrypt_binary(&plain, &EncryptConfig::new(vec![AGE_RECIPIENT.into()], vec![])).unwrap();
    assert_eq!(&*sops::decrypt_binary(&enc, "blob", &keys).unwrap(), &plain[..]);
    // Like sops' binary store: no suffix/regex option in the metadata.
    assert!(!String::from_utf8_lossy(&enc).contains("unencrypted_suffix"));
    let path = dir.path().join("blob.enc.json");
    std::fs::write(&path, &enc).unwrap();
    let (code, out, err) = run_sops(
        &["decrypt", "--input-type", "json", "--output-type", "binary", path.to_str().unwrap()],
        None,
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, plain);
}

#[test]
fn editing_keeps_unchanged_ciphertexts_like_sops() {
    let keys = KeySource::age(age_ids("generated/age_keys.txt"));
    let before = String::from_utf8(read("generated/basic.enc.yaml")).unwrap();
    let after = sops::set_value(
        before.as_bytes(),
        Format::Yaml,
        "basic.enc.yaml",
        &keys,
        &["exchange", "name"],
        Value::Str("kraken".into()),
    )
    .unwrap();
    let after = String::from_utf8(after).unwrap();
    let enc_lines = |s: &str| -> Vec<String> {
        s.lines().take_while(|l| !l.starts_with("sops:")).map(str::to_string).collect()
    };
    let (b, a) = (enc_lines(&before), enc_lines(&after));
    assert_eq!(b.len(), a.len());
    let changed: Vec<_> =
        b.iter().zip(&a).filter(|(x, y)| x != y).map(|(x, _)| x.trim().to_string()).collect();
    assert_eq!(changed.len(), 1, "only the edited value changes: {changed:?}");
    assert!(changed[0].starts_with("name: ENC["));
    let dec = sops::decrypt(after.as_bytes(), Format::Yaml, "after", &keys).unwrap();
    assert_eq!(dec.doc.get(&["exchange", "name"]), Some(&Value::Str("kraken".into())));
}

#[test]
fn truncated_or_corrupted_files_error_without_panicking() {
    let keys = KeySource::age(age_ids("generated/age_keys.txt"));
    for (rel, format) in [
        ("generated/basic.enc.yaml", Format::Yaml),
        ("generated/basic.enc.json", Format::Json),
        ("generated/basic.enc.env", Format::Dotenv),
    ] {
        let bytes = read(rel);
        let step = (bytes.len() / 97).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let r = std::panic::catch_unwind(|| sops::decrypt(&bytes[..cut], format, rel, &keys).map(|_| ()));
            assert!(r.is_ok(), "{rel}: panic on a file cut at {cut}");
            if let Ok(Err(e)) = r {
                assert!(e.to_string().contains(rel), "{e}");
            }
            let mut flipped = bytes.clone();
            flipped[cut] ^= 0x20;
            let r = std::panic::catch_unwind(|| sops::decrypt(&flipped, format, rel, &keys).map(|_| ()));
            assert!(r.is_ok(), "{rel}: panic on a byte flipped at {cut}");
        }
    }
    for (rel, binary) in [("generated/basic.enc.ini", false), ("generated/basic.enc.bin.json", true)] {
        let bytes = read(rel);
        for cut in (0..bytes.len()).step_by((bytes.len() / 97).max(1)) {
            let r = std::panic::catch_unwind(|| {
                let part = &bytes[..cut];
                if binary {
                    sops::decrypt_binary(part, rel, &keys).map(|_| ())
                } else {
                    sops::decrypt_ini(part, rel, &keys).map(|_| ())
                }
            });
            assert!(r.is_ok(), "{rel}: panic on a file cut at {cut}");
        }
    }
}

#[test]
fn shamir_rotate_update_and_bad_recipient_settings() {
    let gpg = GpgHome::new();
    let dir = tempfile::tempdir().unwrap();
    let keys = gpg.keys(age_ids("generated/age_keys.txt"));
    // Rotating a Go-sops Shamir file keeps two groups and threshold 2; sops still reads it.
    let rel = "generated/key_groups_shamir.enc.yaml";
    let rotated = sops::rotate(&read(rel), Format::Yaml, rel, &keys).unwrap();
    let meta = sops::metadata(&rotated, Format::Yaml, rel).unwrap();
    assert_eq!((meta.key_groups.len(), meta.shamir_threshold), (2, Some(2)));
    let path = dir.path().join("rotated.enc.yaml");
    std::fs::write(&path, &rotated).unwrap();
    let (code, out, err) = run_sops(&["decrypt", path.to_str().unwrap()], Some(&gpg), dir.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, read("generated/decrypted-by-go-sops-3.11.0/key_groups_shamir.enc.yaml"));
    // Three groups, any two suffice: drop PGP access and it still opens with age + age.
    let groups = vec![
        GroupSpec { age: vec![AGE_RECIPIENT.into()], pgp: vec![] },
        GroupSpec { age: vec![], pgp: vec![PGP_FP.into()] },
        GroupSpec { age: vec![AGE_RECIPIENT.into()], pgp: vec![] },
    ];
    let updated = sops::update_recipients(&rotated, Format::Yaml, rel, &keys, &groups, Some(2)).unwrap();
    let age_only = KeySource::age(age_ids("generated/age_keys.txt"));
    assert!(sops::decrypt(&updated, Format::Yaml, rel, &age_only).is_ok());
    std::fs::write(&path, &updated).unwrap();
    let (code, _, err) = run_sops(&["decrypt", path.to_str().unwrap()], None, dir.path());
    assert_eq!(code, 0, "sops with the age key only: {err}");
    // Bad settings are clear errors.
    let doc = PlainDocument::parse(b"a: 1\n", Format::Yaml, "x").unwrap();
    let err = sops::encrypt(&doc, Format::Yaml, &EncryptConfig::default()).unwrap_err();
    assert!(matches!(err, SopsError::Config(_)), "{err}");
    let mut cfg = EncryptConfig::new(vec![], vec!["0000000000000000000000000000000000000000".into()]);
    cfg.gnupg_home = Some(gpg.path().to_path_buf());
    let err = sops::encrypt(&doc, Format::Yaml, &cfg).unwrap_err();
    assert!(err.to_string().contains("0000000000000000000000000000000000000000"), "{err}");
    let err =
        sops::encrypt(&doc, Format::Yaml, &EncryptConfig::new(vec!["age1nope".into()], vec![])).unwrap_err();
    assert!(err.to_string().contains("age1nope"), "{err}");
    let mut cfg = EncryptConfig::new(vec![AGE_RECIPIENT.into()], vec![]);
    cfg.rule = EncryptionRule::EncryptedRegex("(".into());
    assert!(matches!(sops::encrypt(&doc, Format::Yaml, &cfg), Err(SopsError::Config(_))));
    let sops_doc = PlainDocument::parse(b"sops: 1\n", Format::Yaml, "already.yaml").unwrap_err();
    assert!(matches!(sops_doc, SopsError::AlreadyEncrypted { .. }));
}

#[test]
fn ini_store_both_directions() {
    let gpg = GpgHome::new();
    let dir = tempfile::tempdir().unwrap();
    let keys = gpg.keys(age_ids("generated/age_keys.txt"));
    for (enc, want) in [
        ("generated/basic.enc.ini", "generated/decrypted-by-go-sops-3.11.0/basic.enc.ini"),
        ("upstream/example.ini", "upstream/decrypted-by-go-sops-3.11.0/example.ini"),
        (
            "upstream/functional-tests_res_format.enc.ini",
            "upstream/decrypted-by-go-sops-3.11.0/functional-tests_res_format.enc.ini",
        ),
        (
            "upstream/functional-tests_res_format-2.enc.ini",
            "upstream/decrypted-by-go-sops-3.11.0/functional-tests_res_format-2.enc.ini",
        ),
    ] {
        let got = sops::decrypt_ini(&read(enc), enc, &keys).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&read(want)), "{enc}");
    }
    let plain = read("generated/basic.plain.ini");
    let mut cfg = EncryptConfig::new(vec![AGE_RECIPIENT.into()], vec![PGP_FP.into()]);
    cfg.gnupg_home = Some(gpg.path().to_path_buf());
    let enc = sops::encrypt_ini(&plain, &cfg).unwrap();
    let path = dir.path().join("ours.enc.ini");
    std::fs::write(&path, &enc).unwrap();
    let (code, out, err) = run_sops(&["decrypt", path.to_str().unwrap()], Some(&gpg), dir.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, read("generated/decrypted-by-go-sops-3.11.0/basic.enc.ini"));
    assert_eq!(&*sops::decrypt_ini(&enc, "ours", &keys).unwrap(), &out[..]);
    // Comments, quoting and multi-line values, both ways, compared with what sops prints.
    let src = fixtures().join("tricky.plain.ini");
    let (code, by_sops, err) =
        run_sops(&["encrypt", "--age", AGE_RECIPIENT, src.to_str().unwrap()], None, dir.path());
    assert_eq!(code, 0, "{err}");
    let sops_path = dir.path().join("sops.enc.ini");
    std::fs::write(&sops_path, &by_sops).unwrap();
    let (code, printed, err) = run_sops(&["decrypt", sops_path.to_str().unwrap()], None, dir.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        String::from_utf8_lossy(&sops::decrypt_ini(&by_sops, "sops.enc.ini", &keys).unwrap()),
        String::from_utf8_lossy(&printed)
    );
    let ours =
        sops::encrypt_ini(&read("tricky.plain.ini"), &EncryptConfig::new(vec![AGE_RECIPIENT.into()], vec![]))
            .unwrap();
    std::fs::write(&path, &ours).unwrap();
    let (code, out, err) = run_sops(&["decrypt", path.to_str().unwrap()], None, dir.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&printed));
}
