//! Results over part of the data or on irregular days: a `--from` sub-range gives the same
//! trades and candle values as the full run on the days it keeps (warm-up before `--from`), and
//! the NYSE calendar's irregular sessions (late opens, an unscheduled early close) set the hours
//! of sessions, candles and the `runner calendar` listing.

use std::path::Path;

use crate::support::Run;

const SPY: &str = "data/spy-1s-trade-2013-10-07_11.csv.gz";
const RECIPE: &str = "recipes/spy-9ma-shares.yaml";

/// `runner backtest RECIPE [EXTRA…]` into `dir`: its stdout and its trades CSV's deal rows.
fn backtest(dir: &Path, name: &str, extra: &[&str]) -> (String, Vec<String>) {
    let csv = dir.join(format!("{name}.csv"));
    let out = Run::new(["backtest", RECIPE, "--no-journal"])
        .args(extra)
        .arg("--report-dir")
        .arg(dir.join(name))
        .arg("--trades-csv")
        .arg(&csv)
        .run()
        .success();
    let text = std::fs::read_to_string(&csv).expect("trades CSV");
    (out.stdout, text.lines().skip(1).map(str::to_owned).collect())
}

#[test]
fn a_from_day_has_the_deals_the_full_run_has_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, full) = backtest(dir.path(), "full", &[]);
    let (header, day) = backtest(dir.path(), "day", &["--from", "2013-10-10", "--to", "2013-10-10"]);
    let expected: Vec<&String> = full.iter().filter(|d| d.starts_with("2013-10-10")).collect();
    // The full run's first deal of the day is at 09:35:00, on candles of 2013-10-09.
    assert_eq!(expected.len(), 8, "{full:#?}");
    assert!(expected[0].starts_with("2013-10-10T09:35:00"), "{expected:#?}");
    assert_eq!(day.iter().collect::<Vec<_>>(), expected);
    assert!(
        header.contains("spy-9ma-shares: warm-up 78 candle(s) from 2013-10-09 to 2013-10-10 (not traded)"),
        "{header}"
    );
}

#[test]
fn candles_from_a_date_print_the_values_of_the_full_output() {
    let args = ["candles", SPY, "--timeframe", "5m", "--indicators", "sma:9,atr:3", "--format", "csv"];
    let full = Run::new(args).run().success();
    let from = Run::new(args).args(["--from", "2013-10-08"]).run().success();
    let mut lines = full.stdout.lines();
    let header = lines.next();
    let kept: Vec<&str> = lines.filter(|l| l.as_bytes() >= b"2013-10-08".as_slice()).collect();
    assert_eq!(from.stdout.lines().next(), header);
    assert_eq!(from.stdout.lines().skip(1).collect::<Vec<_>>(), kept);
    // The first row has its 9-candle SMA (from 2013-10-07's candles), not an empty cell.
    assert!(kept[0].starts_with("2013-10-08T09:30:00") && !kept[0].ends_with(','), "{}", kept[0]);
    assert!(from.stderr.contains("warm-up: 78 candle(s)"), "{}", from.stderr);
}

/// Trades every ten minutes of a day, 09:00 to 16:50 New York time (EDT), one share each.
fn day_of_trades(date: &str) -> String {
    let mut text = String::new();
    for minute in (9 * 60..17 * 60).step_by(10) {
        let (h, m) = (minute / 60, minute % 60);
        text.push_str(&format!("{date}T{h:02}:{m:02}:00.000-04:00,100.{h:02},1\n"));
    }
    text
}

#[test]
fn calendar_lists_the_irregular_sessions_the_exchange_had() {
    let out = Run::new(["calendar", "--from", "2002-09-10", "--to", "2002-09-11", "--format", "csv"])
        .run()
        .success();
    let lines: Vec<&str> = out.stdout.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "2002-09-10,open,04:00,09:30,16:00,20:00,",
            "2002-09-11,late,04:00,12:00,16:00,20:00,first anniversary of the September 11 attacks",
        ]
    );
    let out = Run::new(["calendar", "--from", "2005-06-01", "--to", "2005-06-01", "--format", "csv"])
        .run()
        .success();
    assert!(
        out.stdout.contains("2005-06-01,early,04:00,09:30,15:56,20:00,systems communication problem"),
        "{}",
        out.stdout
    );
}

#[test]
fn regular_session_candles_start_at_a_late_open_and_end_at_an_irregular_close() {
    let text = format!(
        "timestamp,price,size\n{}{}{}",
        day_of_trades("2002-09-10"),
        day_of_trades("2002-09-11"),
        day_of_trades("2005-06-01")
    );
    let out = Run::new(["candles", "-", "--timeframe", "30m", "--format", "csv"]).stdin(text).run().success();
    let starts = |date: &str| -> Vec<String> {
        out.stdout
            .lines()
            .filter(|l| l.starts_with(date))
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(" "))
            .collect()
    };
    let full = starts("2002-09-10");
    assert_eq!(full.first().map(String::as_str), Some("2002-09-10T09:30:00-04:00 2002-09-10T10:00:00-04:00"));
    let late = starts("2002-09-11");
    assert_eq!(late.first().map(String::as_str), Some("2002-09-11T12:00:00-04:00 2002-09-11T12:30:00-04:00"));
    assert_eq!(late.len(), 8, "12:00 to 16:00 in half hours: {late:?}");
    let cut = starts("2005-06-01");
    assert_eq!(cut.last().map(String::as_str), Some("2005-06-01T15:30:00-04:00 2005-06-01T15:56:00-04:00"));
}
