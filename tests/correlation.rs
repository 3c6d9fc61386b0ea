//! The `correlation` algorithm end to end: `runner backtest` and `runner up` on the hand-made
//! SPY/QQQ tapes of tests/fixtures/correlation/ (not market data; README.md there explains
//! every swing and the trades below), and the errors when the correlated symbol's data is
//! missing.

use std::path::Path;

use crate::support::Run;

const RECIPE: &str = "tests/fixtures/correlation/spy-qqq.yaml";
const OPTIONS: &str = "tests/fixtures/correlation/spy-qqq-options.yaml";

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// `runner backtest RECIPE` without a journal; returns the trades CSV.
fn backtest(dir: &Path, recipe: &str) -> String {
    let csv = dir.join("bt.csv");
    let rep = dir.join("bt");
    let out =
        Run::new(["backtest", recipe, "--no-journal", "--trades-csv", s(&csv), "--report-dir", s(&rep)])
            .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    std::fs::read_to_string(csv).expect("trades csv")
}

#[test]
fn backtest_makes_the_reasoned_trades() {
    let dir = tempfile::tempdir().unwrap();
    let t = backtest(dir.path(), RECIPE);
    // README.md: the 09:35:10 SPY print ties with QQQ's 79.40, which comes first: long at
    // 101.05; reversed to short at 09:41:20; flattened at the first print after 09:50.
    assert_eq!(
        t,
        "entry_time,side,qty,entry_price,exit_time,exit_price,pnl,exit_reason\n\
         2013-10-07T09:35:10.000-04:00,long,10,101.05,2013-10-07T09:41:20.000-04:00,100.55,-5,signal\n\
         2013-10-07T09:41:20.000-04:00,short,10,100.55,2013-10-07T09:50:15.000-04:00,100.5,0.5,session end\n"
    );
}

#[test]
fn up_makes_the_same_trades_as_backtest() {
    let dir = tempfile::tempdir().unwrap();
    let bt = backtest(dir.path(), RECIPE);
    let up_csv = dir.path().join("up.csv");
    let (state, journal, rep) = (dir.path().join("state"), dir.path().join("j.db"), dir.path().join("up"));
    let up = Run::new([
        "up",
        RECIPE,
        "--speed",
        "max",
        "--state-dir",
        s(&state),
        "--journal",
        s(&journal),
        "--trades-csv",
        s(&up_csv),
        "--report-dir",
        s(&rep),
    ])
    .run();
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert_eq!(std::fs::read_to_string(&up_csv).unwrap(), bt);
    // up prints the signals as they happen: exactly two.
    assert_eq!(up.stdout.matches(" signal ").count(), 2, "{}", up.stdout);
    assert!(up.stdout.contains("signal Long strength 100% @ 101.05"), "{}", up.stdout);
    assert!(up.stdout.contains("signal Short strength 100% @ 100.55"), "{}", up.stdout);
}

#[test]
fn options_buy_a_call_on_long_and_a_put_on_short() {
    let dir = tempfile::tempdir().unwrap();
    backtest(dir.path(), OPTIONS);
    let deals = std::fs::read_to_string(dir.path().join("bt/deals.csv")).unwrap();
    let rows: Vec<Vec<&str>> = deals.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2, "{deals}");
    // strategy, OCC symbol, side, qty, entry time, …, exit time at [7], reason at [13], price source last.
    let (call, put) = (&rows[0], &rows[1]);
    assert_eq!(call[0], "correlation");
    assert!(call[1].starts_with("SPY   131019C"), "{deals}");
    assert!(put[1].starts_with("SPY   131019P"), "{deals}");
    for (r, entry, exit, reason) in [
        (call, "2013-10-07T09:35:10.000-04:00", "2013-10-07T09:41:20.000-04:00", "signal"),
        (put, "2013-10-07T09:41:20.000-04:00", "2013-10-07T09:50:15.000-04:00", "session end"),
    ] {
        assert_eq!((r[2], r[3], r[4], r[7]), ("long", "2", entry, exit), "{deals}");
        assert_eq!((r[13], r[14]), (reason, "synthetic"), "{deals}");
    }
}

#[test]
fn missing_correlated_data_is_a_clear_error() {
    // The example recipe names data/qqq, which holds no recording (only a README): refused
    // as `runner validate` refuses it, at `provider.symbols.QQQ`.
    let r = Run::new(["backtest", "examples/spy-qqq-correlation.yaml", "--no-journal"]).run();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("replay data `../data/qqq` is a directory holding no market-data file"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--> examples/spy-qqq-correlation.yaml:17:10"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    // A correlation recipe without provider.symbols: named, exit 1, nothing run.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(RECIPE).unwrap();
    let text = text.replace("  symbols:\n    QQQ: handmade-qqq-ticks.csv\n", "");
    let spy = crate::support::repo_root().join("tests/fixtures/correlation/handmade-spy-ticks.csv");
    let text = text.replace("path: handmade-spy-ticks.csv", &format!("path: {}", spy.display()));
    let path = dir.path().join("no-qqq.yaml");
    std::fs::write(&path, text).unwrap();
    let r = Run::new(["backtest", s(&path), "--no-journal"]).run();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("missing `provider.symbols`: correlation needs the data"), "{}", r.stderr);
    let v = Run::new(["validate", "--no-fleet", s(&path)]).run();
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(v.stdout.contains("missing `provider.symbols`"), "{}", v.stdout);
}
