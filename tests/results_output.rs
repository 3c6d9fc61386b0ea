//! What a trader reads: the terminal lines of `runner up` and the report of `runner backtest`
//! on the repository's recipes (and variants of them written by the test), as snapshots.

use std::path::Path;

use crate::support::{Run, recipe_variant as variant};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `runner up RECIPE --speed max` with its journal, state and report inside `dir`; its stdout,
/// with the run's random order-id tag replaced by `TAG`.
fn up(dir: &Path, recipe: &str) -> String {
    let out = Run::new(["up", recipe, "--speed", "max"])
        .args(["--state-dir", s(&dir.join("state")), "--journal", s(&dir.join("j.db"))])
        .args(["--report-dir", s(&dir.join("report"))])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let tag = regex::Regex::new(r"(order|filled) ([a-z0-9-]+?)-[0-9a-z]{10,}-(\d+) ").unwrap();
    tag.replace_all(&out.stdout, "$1 $2-TAG-$3 ").into_owned()
}

/// `runner backtest RECIPE` with its journal and report inside `dir`.
fn backtest(dir: &Path, recipe: &str) -> crate::support::Finished {
    let out = Run::new(["backtest", recipe, "--journal", s(&dir.join("j.db"))])
        .args(["--report-dir", s(&dir.join("report"))])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    out
}

#[test]
fn order_lines_name_the_contract_and_price_and_a_halt_says_why_before_its_exit() {
    let dir = tempfile::tempdir().unwrap();
    let out = up(dir.path(), "recipes/spy-9ma.yaml");
    let lines: Vec<&str> = out.lines().collect();
    let first = lines.iter().position(|l| l.starts_with("2013-10-07T11:01:32")).expect("first trade");
    assert_eq!(
        lines[first..first + 6].join("\n"),
        "2013-10-07T11:01:32.000-04:00 spy-9ma signal Short strength 100% @ 168.09
2013-10-07T11:01:32.000-04:00 spy-9ma contract SPY 131019P00168000 (put, strike 168, expiry 2013-10-19, last trade 2013-10-18 16:00) synthetic quote 1.82 / 1.85 (underlying 168.09, IV 16%)
2013-10-07T11:01:32.000-04:00 spy-9ma order spy-9ma-TAG-1 buy 20 SPY 131019P00168000 MKT-LMT +1 tick (entry)
2013-10-07T11:01:32.000-04:00 spy-9ma filled spy-9ma-TAG-1 buy 20 SPY 131019P00168000 @ 1.85 fee 13.00 (leaves 0)
2013-10-07T11:01:32.000-04:00 spy-9ma position SPY 131019P00168000 20 @ 1.85 realized 0.00 equity 49957.00
2013-10-07T11:35:10.000-04:00 spy-9ma signal Long strength 100% @ 168.25"
    );
    // The daily loss limit: its reason, then the exit it causes; the next day is no warning.
    let halt = lines.iter().position(|l| l.contains(" warning: halted: daily-loss-limit")).expect("halt");
    assert_eq!(
        lines[halt + 1],
        "2013-10-07T14:46:30.000-04:00 spy-9ma order spy-9ma-TAG-10 sell 20 SPY 131019P00168000 MKT-LMT -1 tick (exit: halt)"
    );
    assert!(
        out.contains(
            "2013-10-07T15:21:53.000-04:00 spy-9ma order spy-9ma-TAG-11 buy 20 SPY 131019P00168000 denied: halted (the agent is halted \
             (daily-loss-limit: equity 48993.00 is 1007.00 below the day's start 50000.00))\n\
             2013-10-08T04:00:17.000-04:00 spy-9ma active again: a new trading day\n"
        ),
        "{out}"
    );
    // Prices to the cent: 166.30, not 166.3.
    assert!(out.contains(" spy-9ma signal Long strength 100% @ 166.30\n"), "{out}");
    assert!(!out.contains("warning: active again"), "{out}");
}

#[test]
fn the_deals_and_denied_orders_tables_spell_an_occ_symbol_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let out = backtest(dir.path(), "recipes/spy-9ma.yaml").stdout;
    assert!(
        out.contains(
            "  SPY 131019P00168000  long   20  14:44:55   1.85       20  14:46:30  1.78  -140       26     -166   -4.49  halt\n"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "  2013-10-07 15:21:53  SPY 131019P00168000   buy        20  halted  the agent is halted \
             (daily-loss-limit: equity 48993.00 is 1007.00 below the day's start 50000.00)\n"
        ),
        "{out}"
    );
    assert!(!out.contains("SPY   1310") && !out.contains("SPY1310"), "{out}");
}

#[test]
fn a_trailing_stop_exit_is_called_a_trailing_stop() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = variant(
        dir.path(),
        "spy-9ma-shares",
        &[("  max_shares: 100\n", "  max_shares: 100\n  trailing_stop: 0.1%\n")],
    );
    let out = backtest(dir.path(), &recipe).stdout;
    let deals = std::fs::read_to_string(dir.path().join("report/deals.csv")).unwrap();
    assert!(deals.contains(",trailing stop,market"), "{deals}");
    assert!(out.contains("  trailing stop\n"), "{out}");
    assert!(!deals.contains(",stop,"), "no fixed stop in this recipe: {deals}");
}

#[test]
fn a_target_position_signal_is_a_percentage_of_the_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = variant(
        dir.path(),
        "spy-9ma-shares",
        &[
            ("spy-1s-trade-2013-10-07_11", "spy-1m-trade-2013-10-07_11"),
            ("  kind: ma-cross-breakout\n", "  kind: target-position\n  tolerance: 5%\n"),
            ("  breakout_lookback: 7\n", ""),
        ],
    );
    let out = up(dir.path(), &recipe);
    let signal = regex::Regex::new(r" signal target (\d+(\.\d)? % (long|short)|flat) @ \d+\.\d\d\n").unwrap();
    assert!(signal.is_match(&out), "{out}");
    assert!(!out.contains("Target("), "{out}");
}

#[test]
fn a_pattern_day_trader_denial_shows_its_five_days_as_dates() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = variant(
        dir.path(),
        "spy-9ma-shares",
        &[
            ("  starting_equity: 50000\n", "  starting_equity: 20000\n"),
            ("  allocation: 50000\n", "  allocation: 20000\n"),
        ],
    );
    let out = backtest(dir.path(), &recipe).stdout;
    let range = regex::Regex::new(r"in the 5 business days 2013-10-0\d – 2013-10-\d\d;").unwrap();
    assert!(range.is_match(&out), "{out}");
    assert!(!out.contains("..="), "{out}");
}

#[test]
fn verbose_runs_explain_each_decision_and_show_candles_at_vv() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = variant(
        dir.path(),
        "spy-9ma-shares",
        &[("spy-1s-trade-2013-10-07_11", "spy-1m-trade-2013-10-07_11")],
    );
    let journal = dir.path().join("j.db");
    let run = |extra: &[&str]| {
        let out = Run::new(["backtest", &recipe, "--journal", s(&journal), "--to", "2013-10-07"])
            .args(["--report-dir", s(&dir.path().join("report"))])
            .args(extra)
            .run();
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stderr
    };
    // Quiet by default.
    let quiet = run(&[]);
    assert!(!quiet.contains("armed") && !quiet.contains("candle"), "{quiet}");
    // -v: each decision and why, with the market time.
    let v = run(&["-v"]);
    let armed = regex::Regex::new(
        r"INFO cross (above|below) the SMA: (long|short) armed, entry on a print (above|below) the breakout level at=2013-10-07T\S+ close=\S+ sma=\S+ breakout_(above|below)=\S+",
    )
    .unwrap();
    assert!(armed.is_match(&v), "{v}");
    assert!(v.contains("INFO breakout past the level: "), "{v}");
    assert!(!v.contains("candle"), "candles only at -vv: {v}");
    // -vv as JSON: every candle and the indicator values as fields.
    let vv = run(&["-vv", "--log-format", "json"]);
    let candle = vv.lines().find(|l| l.contains(r#""message":"candle""#)).expect("a candle line");
    for field in [r#""agent":"spy-9ma-shares""#, r#""at":"2013-10-07T"#, r#""close":"#, r#""volume":"#] {
        assert!(candle.contains(field), "{field}: {candle}");
    }
    assert!(vv.contains(r#""message":"ma-cross-breakout candle""#) && vv.contains(r#""highest":"#), "{vv}");
    // RUST_LOG works the same way.
    let out = Run::new(["backtest", &recipe, "--journal", s(&journal), "--to", "2013-10-07"])
        .args(["--report-dir", s(&dir.path().join("report"))])
        .env("RUST_LOG", "trace")
        .run();
    assert!(out.stderr.contains("DEBUG candle "), "{}", out.stderr);
}

#[test]
fn an_external_signal_outside_the_session_is_shown_as_refused() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = variant(
        dir.path(),
        "spy-9ma-shares",
        &[
            ("spy-1s-trade-2013-10-07_11", "spy-1m-trade-2013-10-07_11"),
            (
                "  kind: ma-cross-breakout\n  timeframe: 5m\n  ma_period: 9\n  breakout_lookback: 7\n",
                "  kind: external-signal\n  timeframe: 1m\n",
            ),
        ],
    );
    std::fs::write(
        dir.path().join("spy-9ma-shares.signals.csv"),
        "timestamp,ticker,direction,strength\n\
         2013-10-07T08:00:00-04:00,SPY,b,100\n\
         2013-10-07T10:00:00-04:00,SPY,s,100\n\
         2013-10-07T17:00:00-04:00,SPY,b,100\n",
    )
    .unwrap();
    let out = backtest(dir.path(), &recipe);
    let refused: Vec<&str> =
        out.stderr.lines().filter(|l| l.contains("external signal outside the session: refused")).collect();
    assert_eq!(refused.len(), 2, "{}", out.stderr);
    assert!(
        refused[0].contains("at=2013-10-07T08:00:00.000-04:00") && refused[0].contains("refused=1"),
        "{refused:?}"
    );
    assert!(
        refused[1].contains("at=2013-10-07T17:00:00.000-04:00") && refused[1].contains("refused=2"),
        "{refused:?}"
    );
}
