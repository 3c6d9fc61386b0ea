//! Issue 12's leftovers: one OCC spelling in compliance messages, refused external signals in
//! the summary, money with cents in halt reasons, one cash-account denial a day, journaled data
//! gaps, the target-position range on the price chart, and the help texts.

use std::path::Path;

use crate::support::{Run, recipe_variant as variant, repo_root};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `runner backtest RECIPE ARGS` with its journal and report inside `dir`.
fn backtest(dir: &Path, recipe: &str, args: &[&str]) -> crate::support::Finished {
    let out = Run::new(["backtest", recipe, "--journal", s(&dir.join("j.db"))])
        .args(["--report-dir", s(&dir.join("report"))])
        .args(args)
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    out
}

#[test]
fn a_pattern_day_trader_denial_spells_the_option_as_the_deals_table_does() {
    let dir = tempfile::tempdir().unwrap();
    let recipe =
        variant(dir.path(), "spy-9ma", &[("  starting_equity: 50000\n", "  starting_equity: 20000\n")]);
    let out = backtest(dir.path(), &recipe, &[]).stdout;
    assert!(
        out.contains(
            "  2013-10-07 13:17:19  SPY 131019C00168000   buy        20  pdt-limit  3 day trades already in the \
             5 business days 2013-10-01 – 2013-10-07; opening SPY 131019C00168000 could only be closed today \
             as a 4th day trade; equity $19342.00 is below $25000.00\n"
        ),
        "{out}"
    );
    assert!(!out.contains("SPY   1310") && !out.contains("SPY1310"), "{out}");
    // The journal keeps the same words (its INSTRUMENT column is the journal's own).
    let denials = Run::new(["journal", "--db", s(&dir.path().join("j.db")), "denials"]).run();
    assert_eq!(denials.code, 0, "{}", denials.stderr);
    assert!(denials.stdout.contains("opening SPY 131019C00168000 could"), "{}", denials.stdout);
    assert!(!denials.stdout.contains("opening SPY   1310"), "{}", denials.stdout);
}

#[test]
fn the_report_line_names_the_price_chart_and_candles_help_names_1d() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = variant(dir.path(), "spy-9ma-shares", &[]);
    let out = backtest(dir.path(), &recipe, &["--to", "2013-10-07"]).stdout;
    let line = out.lines().find(|l| l.starts_with("Report: ")).expect("a Report line");
    assert!(line.ends_with(" (deals.csv, summary.json, equity.svg, price.svg)"), "{line}");
    for file in ["deals.csv", "summary.json", "equity.svg", "price.svg"] {
        assert!(dir.path().join("report").join(file).is_file(), "{file}");
    }
    let help = Run::new(["candles", "--help"]).run();
    assert_eq!(help.code, 0, "{}", help.stderr);
    assert!(help.stdout.contains("1s to 4h, or 1d for one candle per session"), "{}", help.stdout);
    let data = repo_root().join("data/spy-1m-trade-2013-10-07_11.csv.gz");
    let bad = Run::new(["candles", s(&data), "--timeframe", "2x"]).run();
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("1d (1s to 4h, or 1d for one session)"), "{}", bad.stderr);
    // `1d` and `1day` are the day the help names.
    for tf in ["1d", "1day"] {
        let daily = Run::new(["candles", s(&data), "--timeframe", tf]).run();
        assert_eq!(daily.code, 0, "{tf}: {}", daily.stderr);
        assert_eq!(
            daily.stdout.lines().filter(|l| l.starts_with("2013-10-")).count(),
            5,
            "{tf}: {}",
            daily.stdout
        );
    }
}

#[test]
fn external_signals_refused_outside_the_session_are_in_the_summary() {
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
    let out = backtest(dir.path(), &recipe, &[]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["signals_refused_out_of_session"], 2, "{summary}");
    assert!(
        out.stdout
            .contains("\n  signals refused 2 outside the session (external signals; see the warnings)\n"),
        "{}",
        out.stdout
    );
    // `runner report` prints the same summary from the files.
    let again = Run::new(["report", s(&dir.path().join("report"))]).run();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("  signals refused 2 outside the session"), "{}", again.stdout);
    // A run without refusals says nothing of them (and the field is 0).
    let quiet = variant(
        dir.path(),
        "spy-9ma-shares",
        &[("spy-1s-trade-2013-10-07_11", "spy-1m-trade-2013-10-07_11")],
    );
    let out = backtest(dir.path(), &quiet, &[]);
    assert!(!out.stdout.contains("signals refused"), "{}", out.stdout);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["signals_refused_out_of_session"], 0, "{summary}");
}

/// A recipe written into `dir` as `case.yaml` (`{data}` stands for the `data/` directory).
fn recipe(dir: &Path, text: &str) -> String {
    let path = dir.join("case.yaml");
    std::fs::write(&path, text.replace("{data}", s(&repo_root().join("data")))).unwrap();
    s(&path).to_owned()
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report/summary.json")).unwrap()).unwrap()
}

/// The issue's BTC recipe: target-position on Heikin-Ashi candles, a $5,000 allocation, a cash
/// account, around the clock: half the time its target is short, which the account cannot hold.
const BTC_CASH: &str = "version: 1\nagent: btc-5k\n\
    provider: {kind: replay, path: {data}/coinbase-btcusd-1m-trade.csv.gz}\n\
    broker: {kind: paper, account: btc, starting_equity: 5000, account_type: cash}\n\
    instrument: {underlying: BTC-USD, kind: crypto}\n\
    algorithm: {kind: target-position, timeframe: 15m, candles: heikin-ashi, tolerance: 5%}\n\
    risk: {allocation: 5000}\nsession: {calendar: 24x7}\ncompliance: {regime: off}\n";

#[test]
fn a_short_target_in_a_cash_account_is_denied_once_a_day_not_on_every_candle() {
    let dir = tempfile::tempdir().unwrap();
    let path = recipe(dir.path(), BTC_CASH);
    let out = backtest(dir.path(), &path, &["-v"]);
    let sum = summary(dir.path());
    let listed = sum["denied_orders"].as_u64().unwrap();
    let repeats = sum["repeated_denials"].as_u64().unwrap();
    // Every candle of a short target was refused before (367 denials, up to 61 a day); each
    // refusal is still counted, but a stance is listed (and journaled) once a day.
    assert_eq!(listed + repeats, 367, "{sum}");
    assert!(listed < 367 / 5, "{listed} listed");
    let denials = sum["denials"].as_array().unwrap();
    assert!(denials.iter().all(|d| d["code"] == "cash-account-short"), "{sum}");
    let mut per_day = std::collections::BTreeMap::<&str, u32>::new();
    for d in denials {
        *per_day.entry(&d["time"].as_str().unwrap()[..10]).or_default() += 1;
    }
    assert!(per_day.values().all(|&n| n <= 8), "{per_day:?}");
    assert!(
        out.stdout.contains(&format!(
            "  denied orders  {listed} (and {repeats} repeats of them the same day, counted, not listed)\n"
        )),
        "{}",
        out.stdout
    );
    // The journal holds what the report lists, no more.
    let journal =
        Run::new(["journal", "--db", s(&dir.path().join("j.db")), "denials", "--format", "json"]).run();
    assert_eq!(journal.code, 0, "{}", journal.stderr);
    let rows: serde_json::Value = serde_json::from_str(&journal.stdout).unwrap();
    assert_eq!(rows.as_array().map(Vec::len), Some(listed as usize), "{}", journal.stdout);
    // The repeats are on the log at -v.
    assert!(
        out.stderr.contains("refused again today: cash-account-short (counted, not journaled)"),
        "{}",
        out.stderr
    );
    // The trading is the same: 31 long deals.
    assert_eq!(sum["trades"], 31, "{sum}");
}

#[test]
fn the_target_position_price_chart_draws_the_range_the_target_is_read_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = recipe(dir.path(), &BTC_CASH.replace("account_type: cash", "account_type: margin"));
    backtest(dir.path(), &path, &["--from", "2018-04-04", "--to", "2018-04-04"]);
    let svg = std::fs::read_to_string(dir.path().join("report/price.svg")).unwrap();
    let points = |name: &str| -> Vec<(f64, f64)> {
        let re = regex::Regex::new(&format!(
            r#"<polyline class="indicator" data-name="{name}"[^>]* points="([^"]*)""#
        ))
        .unwrap();
        re.captures_iter(&svg)
            .flat_map(|c| {
                c[1].split_whitespace()
                    .map(|p| {
                        let (x, y) = p.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let (high, low) = (points("range high"), points("range low"));
    // A value at each candle of the day (15-minute candles) from the one that completes the
    // range on (the data of 2018-04-03, before `--from`, warms it up).
    let candles = svg.matches(r#"<path class="candle "#).count();
    assert!(candles > 60 && high.len() > candles - 10 && high.len() == low.len(), "{candles} {}", high.len());
    // The high is above the low (SVG y grows downwards) at every candle.
    assert!(high.iter().zip(&low).all(|(h, l)| h.0 == l.0 && h.1 <= l.1), "{high:?} {low:?}");
    assert!(svg.contains(">range high</text>") && svg.contains(">range low</text>"), "legend");
}
