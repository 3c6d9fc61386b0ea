//! What `runner validate` passes, the run accepts: every check `runner up` and `runner
//! backtest` make at start is made by `validate`, at the key's `file:line:column`, and
//! `backtest` refuses what `validate` refuses, with the same diagnostics.

use std::fs;
use std::path::{Path, PathBuf};

use crate::recipes::TICKS;
use crate::support::{Finished, Run, repo_root};

/// `recipes/spy-9ma-shares.yaml` (shares, the real 1-second SPY data) edited by `edit`,
/// written to `dir/name`; returns `name`, the path the tests give from `dir`.
fn shares_recipe(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let data = repo_root().join("data");
    let text = fs::read_to_string(repo_root().join("recipes/spy-9ma-shares.yaml"))
        .unwrap()
        .replace("../data", &data.display().to_string());
    fs::write(dir.join(name), edit(text)).unwrap();
    PathBuf::from(name)
}

fn validate(dir: &Path, file: &Path) -> Finished {
    Run::new(["validate", "--no-fleet", "--deny-warnings"]).arg(file).dir(dir).run()
}

/// `runner backtest` refuses the recipe before anything runs, printing what `validate` printed.
fn backtest_refuses_as_validate_does(dir: &Path, file: &Path, diagnostic: &str) {
    let bt = Run::new(["backtest", "--no-journal"]).arg(file).dir(dir).run().code(1);
    assert!(bt.stderr.contains(&format!("{} is not valid:", file.display())), "{}", bt.stderr);
    assert!(bt.stderr.contains(diagnostic), "{}", bt.stderr);
    assert!(!bt.stdout.contains("filled"), "nothing ran: {}", bt.stdout);
}

#[test]
fn periods_and_lookbacks_have_the_engines_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = shares_recipe(d, "big.yaml", |t| {
        t.replace("ma_period: 9", "ma_period: 4000000000")
            .replace("breakout_lookback: 7", "breakout_lookback: 10001")
    });
    let out = validate(d, &f).code(1);
    let ma = "error[out-of-range]: `algorithm.ma_period` must be at most 10000, found 4000000000";
    assert!(out.stdout.contains(ma), "{}", out.stdout);
    assert!(out.stdout.contains("big.yaml:28:14"), "{}", out.stdout);
    assert!(
        out.stdout.contains("`algorithm.breakout_lookback` must be at most 10000, found 10001"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("big.yaml:29:22"), "{}", out.stdout);
    backtest_refuses_as_validate_does(d, &f, ma);
    // At the bound, both accept.
    let f = shares_recipe(d, "max.yaml", |t| t.replace("ma_period: 9", "ma_period: 10000"));
    validate(d, &f).success();
    // The correlation lookbacks: the strategy's own bounds.
    let cor = shares_recipe(d, "cor.yaml", |t| {
        t.replace("kind: ma-cross-breakout", "kind: correlation")
            .replace(
                "  ma_period: 9\n  breakout_lookback: 7\n",
                "  primary: SPY\n  correlated: QQQ\n  fractal_lookback: 1001\n  swing_lookback: 10001\n",
            )
            .replace("  path: ", "  symbols: {QQQ: qqq.csv}\n  path: ")
    });
    fs::write(d.join("qqq.csv"), TICKS).unwrap();
    let out = validate(d, &cor).code(1);
    assert!(
        out.stdout.contains("`algorithm.fractal_lookback` must be at most 1000, found 1001"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("`algorithm.swing_lookback` must be at most 10000, found 10001"),
        "{}",
        out.stdout
    );
}

#[test]
fn account_names_that_cannot_name_a_lock_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (account, message) in [
        ("\"\"", "error[invalid-value]: `broker.account` is empty"),
        ("../../tmp/evil", "error[invalid-value]: `../../tmp/evil` is not a valid `broker.account`"),
        (".hidden", "error[invalid-value]: `.hidden` is not a valid `broker.account`"),
    ] {
        let f = shares_recipe(d, "acct.yaml", |t| {
            t.replace("account: paper-spy-shares", &format!("account: {account}"))
        });
        let out = validate(d, &f).code(1);
        assert!(out.stdout.contains(message), "{account}: {}", out.stdout);
        assert!(out.stdout.contains("acct.yaml:16:12"), "{account}: {}", out.stdout);
        assert!(out.stdout.contains("not starting with `.`"), "the hint states the rule: {}", out.stdout);
        backtest_refuses_as_validate_does(d, &f, message);
    }
}

#[test]
fn correlation_data_that_does_not_exist_is_an_error_saying_where_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The shipped example: data/qqq/ holds only a README.
    let out = Run::new(["validate", "--no-fleet", "examples/spy-qqq-correlation.yaml"]).run().code(1);
    assert!(
        out.stdout.contains(
            "error[replay-path-missing]: replay data `../data/qqq` is a directory holding no market-data file"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--> examples/spy-qqq-correlation.yaml:17:10"), "{}", out.stdout);
    assert!(
        out.stdout.contains("put QQQ's market data for the same days as `provider.path` at"),
        "{}",
        out.stdout
    );
    // The same recipe with QQQ data where it says: valid, warnings denied.
    fs::create_dir_all(d.join("examples")).unwrap();
    fs::create_dir_all(d.join("data/qqq")).unwrap();
    fs::copy(
        repo_root().join("examples/spy-qqq-correlation.yaml"),
        d.join("examples/spy-qqq-correlation.yaml"),
    )
    .unwrap();
    fs::copy(
        repo_root().join("data/spy-1m-trade-2013-10-07_11.csv.gz"),
        d.join("data/spy-1m-trade-2013-10-07_11.csv.gz"),
    )
    .unwrap();
    fs::write(d.join("data/qqq/README.md"), "no data yet\n").unwrap();
    Run::new(["validate", "--no-fleet", "examples/spy-qqq-correlation.yaml"]).dir(d).run().code(1);
    fs::write(d.join("data/qqq/qqq-ticks.csv"), TICKS).unwrap();
    Run::new(["validate", "--no-fleet", "--deny-warnings", "examples/spy-qqq-correlation.yaml"])
        .dir(d)
        .run()
        .success();
}

#[test]
fn the_data_path_must_be_market_data_of_a_known_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("notes.csv"), "hello,world\n1,2\n").unwrap();
    let f = shares_recipe(d, "r.yaml", |t| {
        t.replace(
            &format!("{}/spy-1s-trade-2013-10-07_11.csv.gz", repo_root().join("data").display()),
            "notes.csv",
        )
    });
    let out = validate(d, &f).code(1);
    assert!(
        out.stdout.contains("error[bad-market-data]: replay data `notes.csv` cannot be replayed"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--> r.yaml:12:9"), "{}", out.stdout);
    assert!(out.stdout.contains("hint: market data is ticks (timestamp,price,size)"), "{}", out.stdout);
    backtest_refuses_as_validate_does(d, &f, "error[bad-market-data]");
    // A directory holding data files of two resolutions replays every trade twice.
    fs::create_dir(d.join("two")).unwrap();
    for f in ["spy-1s-trade-2013-10-07_11.csv.gz", "spy-1m-trade-2013-10-07_11.csv.gz"] {
        fs::copy(repo_root().join("data").join(f), d.join("two").join(f)).unwrap();
    }
    let f = shares_recipe(d, "two.yaml", |t| {
        t.replace(&format!("{}/spy-1s-trade-2013-10-07_11.csv.gz", repo_root().join("data").display()), "two")
    });
    let out = validate(d, &f).code(1);
    assert!(out.stdout.contains("at two resolutions"), "{}", out.stdout);
    assert!(out.stdout.contains("--> two.yaml:12:9"), "{}", out.stdout);
}

#[test]
fn absurd_fill_costs_are_warnings_with_their_effect() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = shares_recipe(d, "costly.yaml", |t| {
        t.replace(
            "  commission_per_share: 0\n",
            "  commission_per_share: 2.5\n  slippage_ticks: 5000\n  commission_per_order: 600\n",
        )
    });
    let out = Run::new(["validate", "--no-fleet"]).arg(&f).dir(d).run().success();
    assert!(out.stdout.contains("~ costly.yaml: 0 errors, 3 warnings"), "{}", out.stdout);
    // The data's first trade is at 167.41.
    for (at, message) in [
        (
            "costly.yaml:20:19",
            "warning[costly-fills]: `broker.slippage_ticks` 5000 moves every fill by $50.00 per share, \
             29.9 % of the data's first price (167.41)",
        ),
        (
            "costly.yaml:19:25",
            "warning[costly-fills]: `broker.commission_per_share` 2.5 costs $2.50 per share bought or \
             sold, 1.5 % of the data's first price (167.41)",
        ),
        (
            "costly.yaml:21:25",
            "warning[costly-fills]: `broker.commission_per_order` 600 costs $600.00 per order, 1.2 % of \
             the allocation (50000)",
        ),
    ] {
        assert!(out.stdout.contains(message), "{message}\n{}", out.stdout);
        assert!(out.stdout.contains(at), "{at}\n{}", out.stdout);
    }
    validate(d, &f).code(1);
    // Options: the premium is not known before the run, so the cost is given per contract.
    let opt = fs::read_to_string(repo_root().join("tests/fixtures/recipes/good/spy-options.yaml"))
        .unwrap()
        .replace("../sample.csv", "data.csv")
        .replace("commission_per_contract: 0.65", "commission_per_contract: 0.65\n  slippage_ticks: 150");
    fs::write(d.join("data.csv"), TICKS).unwrap();
    fs::write(d.join("opt.yaml"), opt).unwrap();
    let out = Run::new(["validate", "--no-fleet", "opt.yaml"]).dir(d).run().success();
    assert!(
        out.stdout.contains(
            "`broker.slippage_ticks` 150 moves every fill by $1.50 per share of a contract ($150.00 per contract)"
        ),
        "{}",
        out.stdout
    );
    // Ordinary costs draw nothing.
    let f = shares_recipe(d, "fine.yaml", |t| {
        t.replace("  commission_per_share: 0\n", "  commission_per_share: 0.005\n  slippage_ticks: 2\n")
    });
    validate(d, &f).success();
}

#[test]
fn replayed_external_signals_must_be_there() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = shares_recipe(d, "sig.yaml", |t| {
        t.replace("kind: ma-cross-breakout", "kind: external-signal")
            .replace("  ma_period: 9\n  breakout_lookback: 7\n", "")
    });
    let out = validate(d, &f).code(1);
    assert!(out.stdout.contains("error[signals-missing]: cannot read sig.signals.csv"), "{}", out.stdout);
    assert!(out.stdout.contains("--> sig.yaml:26:9"), "{}", out.stdout);
    backtest_refuses_as_validate_does(d, &f, "error[signals-missing]");
    fs::write(d.join("sig.signals.csv"), "timestamp,ticker,direction\n2013-10-07T10:00:00-04:00,SPY,b\n")
        .unwrap();
    validate(d, &f).success();
}

#[test]
fn option_chain_settings_the_engine_refuses_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("data.csv"), TICKS).unwrap();
    let opt = fs::read_to_string(repo_root().join("tests/fixtures/recipes/good/spy-options.yaml"))
        .unwrap()
        .replace("../sample.csv", "data.csv")
        .replace("  strike: atm\n", "  strike: atm\n  implied_vol: 600%\n");
    fs::write(d.join("iv.yaml"), opt).unwrap();
    let out = validate(d, Path::new("iv.yaml")).code(1);
    let message = "error[out-of-range]: `instrument.implied_vol` must be more than 0% and less than 500%";
    assert!(out.stdout.contains(message), "{}", out.stdout);
    assert!(out.stdout.contains("--> iv.yaml:18:16"), "{}", out.stdout);
    backtest_refuses_as_validate_does(d, Path::new("iv.yaml"), message);
}

/// Once every other check passes, validate builds what the engine builds with the engine's
/// own constructors: a refusal no other check knows of is still an error at its key.
#[test]
fn what_the_engines_constructors_refuse_is_refused_at_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = shares_recipe(d, "renko.yaml", |t| {
        t.replace("  candles: standard", "  candles: renko\n  brick_size: 1000000000000000000")
    });
    let out = validate(d, &f).code(1);
    let message = "error[engine-refuses]: Renko brick size must be positive and below 10^18";
    assert!(out.stdout.contains(message), "{}", out.stdout);
    assert!(out.stdout.contains("--> renko.yaml:31:15"), "{}", out.stdout);
    assert!(out.stdout.contains("refuse this recipe at start"), "{}", out.stdout);
    backtest_refuses_as_validate_does(d, &f, message);
}

#[test]
fn backtest_refuses_what_validate_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A recipe the engine could run, but validate refuses: backtest used to run it.
    let f =
        shares_recipe(d, "neg.yaml", |t| t.replace("commission_per_share: 0", "commission_per_share: -1"));
    let out = validate(d, &f).code(1);
    let message = "error[out-of-range]: `broker.commission_per_share` must not be negative";
    assert!(out.stdout.contains(message) && out.stdout.contains("--> neg.yaml:19:25"), "{}", out.stdout);
    backtest_refuses_as_validate_does(d, &f, message);
    let bt = Run::new(["backtest", "--no-journal"]).arg(&f).dir(d).run().code(1);
    // The same rendering as validate's (which indents each file's diagnostics by two).
    let shown: String = out.stdout.lines().skip(1).take(5).map(|l| format!("{}\n", &l[2..])).collect();
    assert!(bt.stderr.contains(&shown), "{shown}\n---\n{}", bt.stderr);
}

#[test]
fn yaml_oddities_are_named_where_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = fs::read_to_string(d.join(shares_recipe(d, "base.yaml", |t| t))).unwrap();
    // Two documents: the second is reported where it starts.
    fs::write(d.join("multi.yaml"), format!("{base}---\n{base}")).unwrap();
    let out = validate(d, Path::new("multi.yaml")).code(1);
    assert!(
        out.stdout.contains("error[yaml-syntax]: a second YAML document starts here: a recipe or fleet file holds exactly one document"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&format!("--> multi.yaml:{}:1", base.lines().count() + 1)), "{}", out.stdout);
    // Classic Mac OS line endings: read (YAML allows them), with a warning at the first one,
    // and lines shown as the parser counts them.
    let cr = base.replace("ma_period: 9", "ma_periode: 9").replace('\n', "\r");
    fs::write(d.join("cr.yaml"), cr).unwrap();
    let out = validate(d, Path::new("cr.yaml")).code(1);
    assert!(
        out.stdout.contains("warning[cr-line-endings]: this line ends with a bare carriage return"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--> cr.yaml:1:62\n"), "{}", out.stdout);
    assert!(out.stdout.contains("--> cr.yaml:28:3\n"), "{}", out.stdout);
    assert!(out.stdout.contains("28 |   ma_periode: 9\n"), "{}", out.stdout);
    // A custom tag: named as a tag, where it is written.
    fs::write(d.join("tag.yaml"), base.replace("  kind: paper", "  kind: !custom paper")).unwrap();
    let out = validate(d, Path::new("tag.yaml")).code(1);
    assert!(
        out.stdout
            .contains("error[yaml-tag]: YAML tag `!custom` is not supported: recipe values are plain YAML"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--> tag.yaml:15:9"), "{}", out.stdout);
    assert!(!out.stdout.contains("tagged enum"), "{}", out.stdout);
}
