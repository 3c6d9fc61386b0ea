//! Results over part of the data or on irregular days: a `--from` sub-range gives the same
//! trades and candle values as the full run on the days it keeps (warm-up before `--from`), and
//! the NYSE calendar's irregular sessions (late opens, an unscheduled early close) set the hours
//! of sessions, candles and the `runner calendar` listing.

use crate::support::Run;

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
