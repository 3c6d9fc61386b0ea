//! The NYSE calendar against the `exchange-calendars` reference table, and `runner calendar`.

use chrono::{NaiveDate, TimeZone, Timelike, Utc};
use runner::calendar::{Calendar, CalendarError, DayKind, Exception, Hours, NYSE_EXCEPTIONS};

use crate::support::{Run, repo_root};

fn d(s: &str) -> NaiveDate {
    s.parse().expect("test date")
}

/// One row of `tests/fixtures/calendar/xnys_2000_2030.csv`.
struct RefDay {
    date: NaiveDate,
    status: String,
    open: String,
    close: String,
}

fn reference() -> Vec<RefDay> {
    let path = repo_root().join("tests/fixtures/calendar/xnys_2000_2030.csv");
    let text = std::fs::read_to_string(&path).expect("read reference table");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("date,"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 4, "bad reference line {l:?}");
            RefDay { date: d(f[0]), status: f[1].into(), open: f[2].into(), close: f[3].into() }
        })
        .collect()
}

#[test]
fn every_day_2000_2030_matches_exchange_calendars() {
    let cal = Calendar::nyse();
    let rows = reference();
    assert_eq!(rows.first().map(|r| r.date), Some(d("2000-01-01")));
    assert_eq!(rows.last().map(|r| r.date), Some(d("2030-12-31")));
    assert_eq!(rows.len(), 11_323, "one row per day");
    // exchange-calendars has no irregular sessions (late opens, a 15:56 close): those days are
    // checked against NYSE's own record in results_range.rs.
    let irregular = |date: NaiveDate| {
        NYSE_EXCEPTIONS.iter().any(|&(y, m, day, what, _)| {
            matches!(what, Exception::LateOpen(..) | Exception::CloseAt(..))
                && NaiveDate::from_ymd_opt(y, m, day) == Some(date)
        })
    };
    let mut mismatches = Vec::new();
    for r in rows.iter().filter(|r| !irregular(r.date)) {
        let session = cal.session(r.date).expect("in range");
        let ours = match session {
            None => ("closed".to_owned(), String::new(), String::new()),
            Some(s) => (
                if s.early_close { "early" } else { "open" }.to_owned(),
                s.open.format("%H:%M").to_string(),
                s.close.format("%H:%M").to_string(),
            ),
        };
        if ours != (r.status.clone(), r.open.clone(), r.close.clone()) {
            mismatches
                .push(format!("{}: ours {ours:?}, reference {} {} {}", r.date, r.status, r.open, r.close));
        }
        if cal.is_trading_day(r.date) != Ok(r.status != "closed") {
            mismatches.push(format!("{}: is_trading_day disagrees with {}", r.date, r.status));
        }
    }
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}

#[test]
fn holidays_and_special_closures_have_reasons() {
    let cal = Calendar::nyse();
    let cases = [
        ("2001-09-11", "September 11 attacks"),
        ("2004-06-11", "national day of mourning for President Reagan"),
        ("2007-01-02", "national day of mourning for President Ford"),
        ("2012-10-29", "Hurricane Sandy"),
        ("2012-10-30", "Hurricane Sandy"),
        ("2018-12-05", "national day of mourning for President George H. W. Bush"),
        ("2025-01-09", "national day of mourning for President Carter"),
        ("2013-11-28", "Thanksgiving Day"),
        ("2013-03-29", "Good Friday"),
        ("2022-06-20", "Juneteenth"),     // Sunday 19th → Monday
        ("2027-06-18", "Juneteenth"),     // Saturday 19th → Friday
        ("2021-12-24", "Christmas Day"),  // Saturday 25th → Friday
        ("2017-01-02", "New Year's Day"), // Sunday 1st → Monday
        ("2013-10-12", "Saturday"),
        ("2013-10-13", "Sunday"),
    ];
    for (date, reason) in cases {
        assert_eq!(cal.closure_reason(d(date)), Ok(Some(reason)), "{date}");
    }
    // Juneteenth was not an NYSE holiday before 2022.
    assert_eq!(cal.closure_reason(d("2021-06-18")), Ok(None));
    // New Year's Day on a Saturday: no Friday closure (NYSE rule).
    for friday in ["2010-12-31", "2021-12-31", "2027-12-31"] {
        assert_eq!(cal.is_trading_day(d(friday)), Ok(true), "{friday}");
    }
    assert_eq!(cal.closure_reason(d("2013-10-15")), Ok(None));
}

#[test]
fn early_close_cuts_regular_at_13_and_extended_at_17() {
    let cal = Calendar::nyse();
    let s = cal.session(d("2013-11-29")).expect("in range").expect("trading day");
    assert!(s.early_close);
    let hm = |t: chrono::DateTime<chrono_tz::Tz>| (t.hour(), t.minute());
    assert_eq!(hm(s.pre_open), (4, 0));
    assert_eq!(hm(s.open), (9, 30));
    assert_eq!(hm(s.close), (13, 0));
    assert_eq!(hm(s.post_close), (17, 0));
    assert_eq!(cal.day_kind(d("2013-11-29")), Ok(DayKind::EarlyClose("day after Thanksgiving")));

    let full = cal.session(d("2013-10-15")).expect("in range").expect("trading day");
    assert_eq!((hm(full.close), hm(full.post_close)), ((16, 0), (20, 0)));
    // 09:30 EDT is 13:30 UTC; 09:30 EST is 14:30 UTC.
    assert_eq!(full.open.with_timezone(&Utc), Utc.with_ymd_and_hms(2013, 10, 15, 13, 30, 0).unwrap());
    let winter = cal.session(d("2013-12-02")).expect("in range").expect("trading day");
    assert_eq!(winter.open.with_timezone(&Utc), Utc.with_ymd_and_hms(2013, 12, 2, 14, 30, 0).unwrap());

    let at = |h, m| Utc.with_ymd_and_hms(2013, 11, 29, h, m, 0).unwrap();
    // 13:00 EST = 18:00 UTC; the close is exclusive.
    assert_eq!(cal.is_open_at(&at(17, 59), Hours::Regular), Ok(true));
    assert_eq!(cal.is_open_at(&at(18, 0), Hours::Regular), Ok(false));
    assert_eq!(cal.is_open_at(&at(18, 0), Hours::Extended), Ok(true));
    assert_eq!(cal.is_open_at(&at(22, 0), Hours::Extended), Ok(false));
    assert_eq!(cal.is_open_at(&at(9, 0), Hours::Extended), Ok(true)); // 04:00 ET
    assert_eq!(cal.is_open_at(&at(8, 59), Hours::Extended), Ok(false));
    let ts = runner::model::Timestamp::from_datetime(&at(15, 0)); // 10:00 ET
    assert_eq!(cal.is_open_at_timestamp(ts, Hours::Regular), Ok(true));
    let sunday =
        runner::model::Timestamp::from_datetime(&Utc.with_ymd_and_hms(2013, 12, 1, 15, 0, 0).unwrap());
    assert_eq!(cal.is_open_at_timestamp(sunday, Hours::Extended), Ok(false));
}

#[test]
fn stepping_over_weekends_and_holidays() {
    let cal = Calendar::nyse();
    // Good Friday 2013 (Mar 29) then the weekend.
    assert_eq!(cal.next_trading_day(d("2013-03-28")), Ok(d("2013-04-01")));
    assert_eq!(cal.previous_trading_day(d("2013-04-01")), Ok(d("2013-03-28")));
    // Thanksgiving 2013.
    assert_eq!(cal.add_business_days(d("2013-11-26"), 2), Ok(d("2013-11-29")));
    assert_eq!(cal.add_business_days(d("2013-11-29"), -2), Ok(d("2013-11-26")));
    assert_eq!(cal.add_business_days(d("2013-11-30"), 0), Ok(d("2013-11-30")));
    // Sandy: Friday 2012-10-26 + 1 = Wednesday 2012-10-31.
    assert_eq!(cal.add_business_days(d("2012-10-26"), 1), Ok(d("2012-10-31")));
    assert_eq!(cal.business_days_between(d("2012-10-26"), d("2012-10-31")), Ok(1));
    assert_eq!(cal.business_days_between(d("2012-10-31"), d("2012-10-26")), Ok(-1));
    assert_eq!(cal.business_days_between(d("2013-01-01"), d("2013-12-31")), Ok(252));
    // Consistency: stepping n days forward and counting back agree, across a whole year.
    let mut day = d("2013-01-02");
    for n in 1..=251 {
        let later = cal.add_business_days(d("2013-01-02"), n).expect("in range");
        assert_eq!(cal.business_days_between(d("2013-01-02"), later), Ok(n));
        assert!(later > day);
        day = later;
    }
}

#[test]
fn out_of_range_fails_closed() {
    let cal = Calendar::nyse();
    for date in ["1999-12-31", "2031-01-01"] {
        let err = cal.is_trading_day(d(date)).expect_err("out of range");
        assert!(matches!(err, CalendarError::OutOfRange { .. }));
        assert!(err.to_string().contains(date), "{err}");
    }
    assert!(cal.next_trading_day(d("2030-12-31")).is_err());
    assert!(cal.previous_trading_day(d("2000-01-03")).is_err());
    assert!(cal.add_business_days(d("2030-12-30"), 5).is_err());
}

#[test]
fn always_open_trades_every_day() {
    let cal = Calendar::always_open();
    for date in ["2013-11-28", "2013-10-12", "2045-12-25"] {
        let s = cal.session(d(date)).expect("no range limit").expect("open");
        assert_eq!((s.close - s.open).num_hours(), 24);
    }
    assert_eq!(cal.add_business_days(d("2013-11-28"), 3), Ok(d("2013-12-01")));
}

#[test]
fn cli_lists_trading_days_with_hours() {
    let out = Run::new(["calendar", "--from", "2013-11-25", "--to", "2013-12-02", "--format", "csv"])
        .run()
        .success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "date,status,pre_open,open,close,post_close,reason");
    assert_eq!(
        &lines[1..],
        [
            "2013-11-25,open,04:00,09:30,16:00,20:00,",
            "2013-11-26,open,04:00,09:30,16:00,20:00,",
            "2013-11-27,open,04:00,09:30,16:00,20:00,",
            "2013-11-29,early,04:00,09:30,13:00,17:00,day after Thanksgiving",
            "2013-12-02,open,04:00,09:30,16:00,20:00,",
        ]
    );
}

#[test]
fn cli_all_shows_closed_days_with_reason() {
    let out = Run::new(["calendar", "--from", "2012-10-26", "--to", "2012-10-31", "--all"]).run().success();
    let text = &out.stdout;
    assert!(text.lines().next().is_some_and(|h| h.starts_with("date")), "{text}");
    for needle in ["2012-10-27  Sat  closed", "Saturday", "2012-10-29  Mon  closed", "Hurricane Sandy"] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert_eq!(text.lines().count(), 7, "{text}");
}

#[test]
fn cli_rejects_out_of_range_and_reversed_dates() {
    let out = Run::new(["calendar", "--from", "2030-12-01", "--to", "2031-01-31"]).run().code(2);
    assert!(out.stderr.contains("2031-01-31") && out.stderr.contains("outside"), "{}", out.stderr);
    let out = Run::new(["calendar", "--from", "2013-02-01", "--to", "2013-01-01"]).run().code(2);
    assert!(out.stderr.contains("before"), "{}", out.stderr);
    Run::new(["calendar", "--from", "2013-02-30"]).run().code(2);
}

#[test]
fn cli_output_does_not_depend_on_local_time_zone_or_directory() {
    let args = ["calendar", "--from", "2013-03-08", "--to", "2013-03-12", "--format", "csv"];
    let reference = Run::new(args).env_remove("TZ").run().success();
    let elsewhere = std::env::temp_dir();
    let tokyo = Run::new(args).env("TZ", "Asia/Tokyo").dir(&elsewhere).run().success();
    assert_eq!(reference.stdout, tokyo.stdout);
    // Across the 2013-03-10 DST change the wall-clock hours stay 09:30-16:00 ET.
    assert_eq!(tokyo.stdout.matches(",04:00,09:30,16:00,20:00,").count(), 3, "{}", tokyo.stdout);
}
