//! Recipes: `runner validate` snapshots of every bad fixture, the example recipes, the
//! fleet file, cross-recipe checks, hostile input, `runner show` and `runner schema`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{Run, repo_root};

const BAD_DIR: &str = "tests/fixtures/recipes/bad";

/// Market data the replay reads (one SPY trade): `runner validate` opens a recipe's data.
pub const TICKS: &str = "timestamp,price,size\n2013-10-07T09:30:00.000-04:00,169.05,100\n";

fn bad_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(repo_root().join(BAD_DIR))
        .expect("bad fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

/// Every bad fixture gives exactly its snapshot (`*.expected`), exits 1, and has a
/// located diagnostic. `UPDATE_SNAPSHOTS=1` rewrites the snapshots.
#[test]
fn bad_recipes_match_snapshots() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1");
    let fixtures = bad_fixtures();
    assert!(fixtures.len() >= 25, "need at least 25 bad cases, have {}", fixtures.len());
    let mut failures = Vec::new();
    let home_dir = tempfile::tempdir().expect("empty home");
    let home = home_dir.path().to_path_buf();
    for f in &fixtures {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let rel = format!("{BAD_DIR}/{name}");
        // No key material from the machine: the output must not depend on who runs it.
        let out = Run::new(["validate", "--no-fleet", "--deny-warnings", &rel])
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", &home)
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_KEY")
            .run()
            .code(1);
        assert!(out.stdout.contains(&format!("--> {rel}:")), "{rel}: no file:line:col in\n{}", out.stdout);
        let expected_path = f.with_extension("expected");
        if update {
            fs::write(&expected_path, &out.stdout).expect("write snapshot");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!("missing snapshot {}; run with UPDATE_SNAPSHOTS=1", expected_path.display())
        });
        if expected != out.stdout {
            failures.push(format!("--- {rel}\nexpected:\n{expected}\nactual:\n{}", out.stdout));
        }
    }
    assert!(failures.is_empty(), "{} snapshot(s) differ:\n{}", failures.len(), failures.join("\n"));
}

/// A scratch project: the example recipes, the fleet file, one-trade data files where the
/// recipes' data is, and the repo's demo secret files.
fn scratch_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = repo_root();
    fs::create_dir_all(dir.path().join("recipes")).unwrap();
    fs::create_dir_all(dir.path().join("secrets")).unwrap();
    fs::copy(root.join("runner.yaml"), dir.path().join("runner.yaml")).unwrap();
    for e in fs::read_dir(root.join("recipes")).unwrap() {
        let p = e.unwrap().path();
        let text = fs::read_to_string(&p).unwrap();
        fs::write(dir.path().join("recipes").join(p.file_name().unwrap()), &text).unwrap();
        let r = runner::recipe::from_yaml_str(&text).expect("example recipe loads");
        let symbols = r.provider.symbols.iter().flat_map(|m| m.values());
        for data in r.provider.path.iter().chain(symbols) {
            let target = dir.path().join("recipes").join(data);
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            fs::write(target, TICKS).unwrap();
        }
        for name in [&r.provider.credentials, &r.broker.credentials].into_iter().flatten() {
            // The repo's demo secrets: real SOPS files with the keys each adapter needs.
            let file = format!("{name}.sops.yaml");
            fs::copy(root.join("secrets/demo").join(&file), dir.path().join("secrets").join(&file)).unwrap();
        }
    }
    dir
}

#[test]
fn example_recipes_validate() {
    let dir = scratch_project();
    let out = Run::new(["validate", "recipes"])
        .dir(dir.path())
        .env("SOPS_AGE_KEY_FILE", repo_root().join("tests/fixtures/demo/age-key.txt"))
        .run()
        .success();
    for name in [
        "spy-9ma",
        "spy-9ma-shares",
        "spy-9ma-alpaca",
        "nvda-signals",
        "nvda-signals-paper",
        "btc-coinbase-ha",
    ] {
        assert!(out.stdout.contains(&format!("√ recipes/{name}.yaml\n")), "{name} not ok:\n{}", out.stdout);
    }
    // The fleet file is found at the project root and validated too.
    assert!(out.stdout.contains("√ runner.yaml (fleet)"), "{}", out.stdout);
    assert!(out.stdout.contains("7 files: 7 ok, 0 with warnings, 0 invalid"), "{}", out.stdout);
    // The same recipes pass with --deny-warnings: the examples carry no warnings.
    Run::new(["validate", "--deny-warnings", "recipes", "runner.yaml"])
        .dir(dir.path())
        .env("SOPS_AGE_KEY_FILE", repo_root().join("tests/fixtures/demo/age-key.txt"))
        .run()
        .success();
}

#[test]
fn good_fixture_validates_and_shows_defaults() {
    let out = Run::new(["validate", "--no-fleet", "tests/fixtures/recipes/good"]).run().success();
    assert!(out.stdout.contains("1 file: 1 ok"), "{}", out.stdout);
    let show = Run::new(["show", "tests/fixtures/recipes/good/spy-options.yaml"]).run().success();
    // Defaults the file leaves out are filled in, including those the engine applies to
    // optional fields of this recipe's kinds (replay, paper, option, ma-cross-breakout).
    for line in [
        "account_type: margin",
        "regime: auto",
        "reg_t: enforce",
        "prefer: nearest",
        "candles: standard",
        "speed: max",
        "slippage_ticks: 0",
        "commission_per_order: 0",
        "implied_vol: 16%",
        "breakout_mode: range",
    ] {
        assert!(show.stdout.contains(line), "show lacks `{line}`:\n{}", show.stdout);
    }
    // Defaults of other kinds are not shown.
    for field in ["swing_lookback", "fractal_lookback", "tolerance", "commission_per_share"] {
        assert!(!show.stdout.contains(field), "show has `{field}` of another kind:\n{}", show.stdout);
    }
    // What show prints is itself a valid recipe: the original with its defaults resolved.
    let printed = runner::recipe::from_yaml_str(&show.stdout).expect("show output is a recipe");
    let original = runner::recipe::from_yaml_str(
        &fs::read_to_string(repo_root().join("tests/fixtures/recipes/good/spy-options.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(printed, original.resolved());
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("sample.csv"), TICKS).unwrap();
    fs::create_dir(dir.path().join("r")).unwrap();
    fs::write(dir.path().join("r/shown.yaml"), &show.stdout).unwrap();
    Run::new(["validate", "--no-fleet", "--deny-warnings", "r/shown.yaml"]).dir(dir.path()).run().success();
}

/// `runner show` fills in the defaults of each algorithm kind, and only of that kind.
#[test]
fn show_fills_kind_specific_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("data.csv"), TICKS).unwrap();
    let base = recipe_text("kinds", "acct-kinds");
    let correlation = base
        .replace("  ma_period: 9\n  breakout_lookback: 7\n", "  primary: SPY\n  correlated: QQQ\n")
        .replace("kind: ma-cross-breakout", "kind: correlation")
        .replace("  path: data.csv\n", "  path: data.csv\n  symbols: {QQQ: data.csv}\n");
    fs::write(d.join("cor.yaml"), &correlation).unwrap();
    let show = Run::new(["show", "cor.yaml"]).dir(d).run().success();
    for line in ["swing_lookback: 20", "fractal_lookback: 2"] {
        assert!(show.stdout.contains(line), "show lacks `{line}`:\n{}", show.stdout);
    }
    assert!(!show.stdout.contains("breakout_mode"), "{}", show.stdout);
    let target = base
        .replace("  ma_period: 9\n  breakout_lookback: 7\n", "")
        .replace("kind: ma-cross-breakout", "kind: target-position");
    fs::write(d.join("tp.yaml"), &target).unwrap();
    let show = Run::new(["show", "tp.yaml"]).dir(d).run().success();
    assert!(show.stdout.contains("tolerance: 5%"), "{}", show.stdout);
    assert!(show.stdout.contains("ma_period: 20"), "{}", show.stdout);
    assert!(!show.stdout.contains("breakout_mode") && !show.stdout.contains("swing_lookback"));
}

#[test]
fn show_prints_secret_names_and_refuses_invalid_recipes() {
    let dir = scratch_project();
    let show = Run::new(["show", "recipes/btc-coinbase-ha.yaml"]).dir(dir.path()).run().success();
    assert!(show.stdout.contains("credentials: coinbase"), "{}", show.stdout);
    assert!(!show.stdout.contains("ENC["), "secret file content must never be shown");
    let bad = Run::new(["show", "tests/fixtures/recipes/bad/misspelled-field.yaml"]).run().code(1);
    assert!(bad.stderr.contains("unknown field `ma_periode`"), "{}", bad.stderr);
}

#[test]
fn json_output_has_the_documented_shape() {
    let out = Run::new([
        "validate",
        "--no-fleet",
        "--format",
        "json",
        "tests/fixtures/recipes/bad/option-fields-on-equity.yaml",
    ])
    .run()
    .code(1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON output");
    let arr = v.as_array().expect("an array");
    assert_eq!(arr.len(), 3, "{}", out.stdout);
    for d in arr {
        let obj = d.as_object().expect("objects");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["code", "column", "file", "hint", "line", "message", "severity"]);
        assert!(obj["line"].as_u64().unwrap() >= 1 && obj["column"].as_u64().unwrap() >= 1);
        assert_eq!(obj["severity"], "error");
    }
    assert_eq!(arr[0]["line"], 14);
    assert_eq!(arr[0]["column"], 3);
    assert_eq!(arr[0]["code"], "field-not-allowed");
    // Logs go to stderr: with debug logging on, stdout is still exactly the JSON.
    let logged = Run::new(["validate", "--no-fleet", "--format", "json", "tests/fixtures/recipes/good"])
        .env("RUST_LOG", "debug")
        .run()
        .success();
    assert!(logged.stderr.contains("validating"), "{}", logged.stderr);
    assert_eq!(logged.stdout.trim(), "[]");
    // A valid file gives an empty array and exit 0.
    let ok = Run::new(["validate", "--no-fleet", "--format", "json", "tests/fixtures/recipes/good"])
        .run()
        .success();
    assert_eq!(ok.stdout.trim(), "[]");
}

#[test]
fn exit_codes() {
    // Usage errors: no paths, a path that does not exist.
    Run::new(["validate"]).run().code(2);
    let missing = Run::new(["validate", "no/such/dir"]).run().code(2);
    assert!(missing.stderr.contains("no/such/dir"), "{}", missing.stderr);
    // Warnings only: ok unless --deny-warnings.
    let w = "tests/fixtures/recipes/bad/warn-limit-offset-on-market.yaml";
    let out = Run::new(["validate", "--no-fleet", w]).run().success();
    assert!(out.stdout.starts_with(&format!("~ {w}: 0 errors, 1 warning")), "{}", out.stdout);
    Run::new(["validate", "--no-fleet", "--deny-warnings", w]).run().code(1);
}

/// An unreadable input is reported as a problem of that path; every other file is still
/// validated, and the exit code is 2 at the end. A directory with no recipes is an error.
#[test]
fn unreadable_inputs_do_not_stop_validation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir_all(d.join("recipes")).unwrap();
    fs::create_dir_all(d.join("empty/sub")).unwrap();
    fs::write(d.join("recipes/data.csv"), TICKS).unwrap();
    fs::write(d.join("recipes/good.yaml"), recipe_text("good", "acct-good")).unwrap();
    fs::write(
        d.join("recipes/bad.yaml"),
        recipe_text("bad", "acct-bad").replace("kind: replay", "kind: replayy"),
    )
    .unwrap();
    std::os::unix::fs::symlink("gone.yaml", d.join("recipes/dangling.yaml")).unwrap();
    // A missing file next to a good one.
    let out = Run::new(["validate", "--no-fleet", "recipes/good.yaml", "missing.yaml"]).dir(d).run().code(2);
    assert!(out.stdout.contains("√ recipes/good.yaml\n"), "{}", out.stdout);
    assert!(out.stdout.contains("error[unreadable]: cannot read missing.yaml"), "{}", out.stdout);
    assert!(out.stdout.contains("2 files: 1 ok, 0 with warnings, 1 invalid"), "{}", out.stdout);
    assert!(out.stderr.contains("cannot read missing.yaml"), "{}", out.stderr);
    // A directory with a dangling symlink: the other recipes are checked, errors included.
    let out = Run::new(["validate", "--no-fleet", "recipes"]).dir(d).run().code(2);
    assert!(out.stdout.contains("x recipes/dangling.yaml: 1 error"), "{}", out.stdout);
    assert!(out.stdout.contains("--> recipes/dangling.yaml\n"), "{}", out.stdout);
    assert!(out.stdout.contains("unknown provider.kind `replayy`"), "{}", out.stdout);
    assert!(out.stdout.contains("√ recipes/good.yaml"), "{}", out.stdout);
    // JSON lists it too.
    let out = Run::new(["validate", "--no-fleet", "--format", "json", "recipes"]).dir(d).run().code(2);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|x| x["code"] == "unreadable" && x["file"] == "recipes/dangling.yaml"),
        "{}",
        out.stdout
    );
    // Only fixable problems left: exit 1.
    fs::remove_file(d.join("recipes/dangling.yaml")).unwrap();
    Run::new(["validate", "--no-fleet", "recipes"]).dir(d).run().code(1);
    // A directory holding no recipes (hidden files and subdirectories aside).
    fs::write(d.join("empty/notes.txt"), "x").unwrap();
    let out = Run::new(["validate", "--no-fleet", "empty"]).dir(d).run().code(1);
    assert!(out.stdout.contains("error[no-recipes]: no recipes found in empty"), "{}", out.stdout);
}

fn recipe_text(agent: &str, account: &str) -> String {
    fs::read_to_string(repo_root().join("tests/fixtures/recipes/good/spy-options.yaml"))
        .unwrap()
        .replace("agent: fixture-good", &format!("agent: {agent}"))
        .replace("account: paper-fixture-good", &format!("account: {account}"))
        .replace("../sample.csv", "data.csv")
}

#[test]
fn one_broker_account_per_agent_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("data.csv"), TICKS).unwrap();
    fs::write(d.join("a.yaml"), recipe_text("agent-a", "shared")).unwrap();
    fs::write(d.join("b.yaml"), format!("# second\n{}", recipe_text("agent-b", "shared"))).unwrap();
    let out = Run::new(["validate", "--no-fleet", "a.yaml", "b.yaml"]).dir(d).run().code(1);
    assert!(
        out.stdout.contains("broker account `shared` is also used by agent `agent-a` in a.yaml:8"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("broker account `shared` is also used by agent `agent-b` in b.yaml:9"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("--> b.yaml:9:12") && out.stdout.contains("--> a.yaml:8:12"),
        "{}",
        out.stdout
    );
}

#[test]
fn agent_names_are_unique() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("data.csv"), TICKS).unwrap();
    fs::create_dir(d.join("sub")).unwrap();
    fs::write(d.join("one.yaml"), recipe_text("twin", "acct-1")).unwrap();
    fs::write(d.join("sub/two.yml"), recipe_text("twin", "acct-2").replace("data.csv", "../data.csv"))
        .unwrap();
    let out = Run::new(["validate", "--no-fleet", "."]).dir(d).run().code(1);
    assert!(
        out.stdout.contains("error[duplicate-agent]: agent `twin` is also defined in ./one.yaml:2"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("√ ./one.yaml"), "{}", out.stdout);
}

#[test]
fn fleet_file_is_validated_and_its_limits_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("data.csv"), TICKS).unwrap();
    fs::write(d.join("runner.yaml"), "version: 1\ndaily_loss_limit: 500\n").unwrap();
    fs::write(d.join("a.yaml"), recipe_text("agent-a", "acct-a")).unwrap();
    let out = Run::new(["validate", "a.yaml"]).dir(d).run().success();
    assert!(out.stdout.contains("√ runner.yaml (fleet)"), "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "`risk.daily_loss_limit` (1000) is more than the fleet's daily_loss_limit (500) in runner.yaml"
        ),
        "{}",
        out.stdout
    );
    // A broken fleet file is reported with its own schema.
    fs::write(d.join("runner.yaml"), "version: 1\nmax_agents: 3\n").unwrap();
    let out = Run::new(["validate", "a.yaml"]).dir(d).run().code(1);
    assert!(out.stdout.contains("x runner.yaml (fleet): 1 error"), "{}", out.stdout);
    assert!(out.stdout.contains("unknown field `max_agents`"), "{}", out.stdout);
    // The fleet's secrets_dir is where credentials must resolve.
    fs::write(d.join("runner.yaml"), "version: 1\nsecrets_dir: vault\n").unwrap();
    let live = recipe_text("agent-l", "acct-l")
        .replace("  kind: replay\n  path: data.csv\n", "  kind: alpaca\n  credentials: alpaca-live\n")
        .replace("  kind: paper\n", "  kind: alpaca\n")
        .replace("  starting_equity: 50000\n", "  credentials: alpaca-live\n");
    fs::write(d.join("a.yaml"), live).unwrap();
    let out = Run::new(["validate", "a.yaml"]).dir(d).run().code(1);
    assert!(out.stdout.contains("vault/alpaca-live.sops.yaml does not exist"), "{}", out.stdout);
    fs::create_dir(d.join("vault")).unwrap();
    fs::copy(repo_root().join("secrets/demo/alpaca-paper.sops.yaml"), d.join("vault/alpaca-live.sops.yaml"))
        .unwrap();
    Run::new(["validate", "a.yaml"]).dir(d).run().success();
}

/// More recipes than `max_concurrent_agents`: a warning from validate (on the fleet file),
/// and `runner up` refuses to start them, before anything runs.
#[test]
fn max_concurrent_agents_is_cross_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("data.csv"), TICKS).unwrap();
    fs::write(d.join("runner.yaml"), "version: 1\nmax_concurrent_agents: 1\n").unwrap();
    fs::write(d.join("a.yaml"), recipe_text("agent-a", "acct-a")).unwrap();
    fs::write(d.join("b.yaml"), recipe_text("agent-b", "acct-b")).unwrap();
    // One recipe: within the limit.
    Run::new(["validate", "--deny-warnings", "a.yaml"]).dir(d).run().success();
    let out = Run::new(["validate", "a.yaml", "b.yaml"]).dir(d).run().success();
    assert!(out.stdout.contains("~ runner.yaml (fleet): 0 errors, 1 warning"), "{}", out.stdout);
    assert!(
        out.stdout.contains("2 agents are validated together but `max_concurrent_agents` is 1"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--> runner.yaml:2:24"), "{}", out.stdout);
    Run::new(["validate", "--deny-warnings", "a.yaml", "b.yaml"]).dir(d).run().code(1);
    let state = d.join("state");
    let up = Run::new(["up", "--speed", "max", "--state-dir"])
        .arg(&state)
        .args(["a.yaml", "b.yaml"])
        .dir(d)
        .run()
        .code(1);
    assert!(
        up.stderr.contains("2 agents given, the fleet allows 1 at once (max_concurrent_agents)"),
        "{}",
        up.stderr
    );
    assert!(!up.stdout.contains("filled"), "nothing runs: {}", up.stdout);
}

fn validate_bytes(name: &str, bytes: &[u8]) -> crate::support::Finished {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    fs::write(&p, bytes).unwrap();
    Run::new(["validate", "--no-fleet", name]).dir(dir.path()).run().code(1)
}

#[test]
fn hostile_input_ends_in_a_clear_error() {
    // A 50 MB file: refused by size before parsing.
    let mut big = b"version: 1\nagent: big\ndescription: \"".to_vec();
    big.resize(50 * 1024 * 1024, b'x');
    let out = validate_bytes("big.yaml", &big);
    assert!(out.stdout.contains("error[file-too-large]"), "{}", out.stdout);
    // 10,000-deep nesting, flow and block style.
    let flow = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let out = validate_bytes("deep.yaml", flow.as_bytes());
    assert!(out.stdout.contains("error[yaml-syntax]"), "{}", out.stdout);
    let mut nested_maps = String::new();
    for i in 0..1_000 {
        nested_maps.push_str(&" ".repeat(i));
        nested_maps.push_str("k:\n");
    }
    let out = validate_bytes("deep-maps.yaml", nested_maps.as_bytes());
    assert!(out.stdout.contains("error[yaml-syntax]"), "{}", out.stdout);
    // Block sequences nest on one line: `- - - … x`.
    let block = format!("{}x\n", "- ".repeat(10_000));
    let out = validate_bytes("deep-block.yaml", block.as_bytes());
    assert!(out.stdout.contains("error[yaml-syntax]"), "{}", out.stdout);
    // Not UTF-8: the position of the first bad byte.
    let out = validate_bytes("latin1.yaml", b"version: 1\nagent: caf\xe9\n");
    assert!(
        out.stdout.contains("error[not-utf8]") && out.stdout.contains("latin1.yaml:2:11"),
        "{}",
        out.stdout
    );
    // Binary garbage (deterministic pseudo-random bytes, NULs included).
    let mut x: u32 = 0x1234_5678;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xff) as u8
        })
        .collect();
    let out = validate_bytes("garbage.yaml", &garbage);
    assert!(out.stdout.contains("error["), "{}", out.stdout);
    // Valid UTF-8 with control characters.
    let out = validate_bytes("nul.yaml", b"version: 1\nagent: \x00\x01\x02\n");
    assert!(out.stdout.contains("error["), "{}", out.stdout);
    // A YAML stream with many documents.
    let out = validate_bytes("multi.yaml", "version: 1\n---\nversion: 1\n".as_bytes());
    assert!(out.stdout.contains("error[yaml-syntax]"), "{}", out.stdout);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

/// A tab is reported where it is, with the tab hint, even when the parser notices it at the
/// end of the previous line's scalar.
#[test]
fn tabs_are_reported_where_they_are() {
    let out = validate_bytes("tabs.yaml", b"version: 1\n\tagent: x\n");
    assert!(out.stdout.contains("--> tabs.yaml:2:1\n"), "{}", out.stdout);
    assert!(out.stdout.contains("a tab in the indentation"), "{}", out.stdout);
    assert!(out.stdout.contains("hint: YAML indentation must use spaces, not tabs"), "{}", out.stdout);
    let out = validate_bytes("tabs.yaml", b"version: 1\nprovider:\n  kind: replay\n  \tpath: x\n");
    assert!(out.stdout.contains("--> tabs.yaml:4:3\n"), "{}", out.stdout);
}

#[test]
fn schema_files_are_fresh() {
    let out = Run::new(["schema", "--check"]).run().success();
    assert!(out.stdout.contains("up to date"), "{}", out.stdout);
}

#[test]
fn schema_check_detects_stale_files_and_schema_rewrites_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_dir(&repo_root().join("recipes"), &d.join("recipes"));
    copy_dir(&repo_root().join("examples"), &d.join("examples"));
    fs::copy(repo_root().join("runner.yaml"), d.join("runner.yaml")).unwrap();
    let root = d.to_str().unwrap();
    let stale = Run::new(["schema", "--check", "--root", root]).run().code(1);
    assert!(stale.stderr.contains("run `runner schema`"), "{}", stale.stderr);
    Run::new(["schema", "--root", root]).run().success();
    Run::new(["schema", "--check", "--root", root]).run().success();
    // What was written is exactly what the repository commits.
    for f in ["schemas/recipe.schema.json", "schemas/fleet.schema.json", "docs/recipes.md"] {
        assert_eq!(
            fs::read_to_string(d.join(f)).unwrap(),
            fs::read_to_string(repo_root().join(f)).unwrap(),
            "{f}"
        );
    }
    let schema: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(d.join("schemas/recipe.schema.json")).unwrap()).unwrap();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    fs::write(d.join("schemas/fleet.schema.json"), "{}").unwrap();
    let stale = Run::new(["schema", "--check", "--root", root]).run().code(1);
    assert!(stale.stderr.contains("schemas/fleet.schema.json"), "{}", stale.stderr);
}

/// docs/recipes.md documents every property of both schemas with its description.
#[test]
fn docs_cover_every_schema_property() {
    let docs = fs::read_to_string(repo_root().join("docs/recipes.md")).unwrap();
    for (file, count_min) in [("schemas/recipe.schema.json", 60), ("schemas/fleet.schema.json", 7)] {
        let schema: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(repo_root().join(file)).unwrap()).unwrap();
        let mut n = 0;
        let mut stack = vec![schema.clone()];
        if let Some(defs) = schema.get("$defs").and_then(|d| d.as_object()) {
            stack.extend(defs.values().cloned());
        }
        for node in stack {
            let Some(props) = node.get("properties").and_then(|p| p.as_object()) else { continue };
            for (name, p) in props {
                n += 1;
                assert!(docs.contains(&format!("{name}`")), "docs/recipes.md lacks `{name}`");
                if let Some(desc) = p.get("description").and_then(|d| d.as_str()) {
                    assert!(
                        docs.contains(&desc.replace('\n', " ").replace('|', "\\|")),
                        "docs lack the description of `{name}`"
                    );
                }
            }
        }
        assert!(n >= count_min, "{file}: only {n} properties");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}
