//! Options: OCC symbols, the listing schedule across weekends and holidays, expiry and strike
//! selection, Black-Scholes against py_vollib reference values, put-call parity, the synthetic
//! chain against real SPY quotes of 2023-08-03, and the order helpers.

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{Datelike, Duration, NaiveDate, TimeZone};
use runner::model::{NEW_YORK, Side, Timestamp};
use runner::options::chain::{ChainSettings, ChainSource, SpyListingSchedule, SyntheticChain};
use runner::options::occ::{OptionContract, OptionRight};
use runner::options::pricing::{self, BsInputs};
use runner::options::select::{
    Direction, ExpiryPreference, ExpiryWindow, OptionSelection, Strike, contracts_for_budget,
    expiry_exit_due, marketable_limit,
};
use runner::options::{HolidaySet, OptionsError, TradingDays};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("test dates are valid")
}

fn ny(y: i32, m: u32, d: u32, h: u32, mi: u32) -> Timestamp {
    Timestamp::from_datetime(
        &NEW_YORK.with_ymd_and_hms(y, m, d, h, mi, 0).single().expect("unambiguous time"),
    )
}

/// A few real NYSE holidays around the dates these tests use.
fn holidays() -> HolidaySet {
    HolidaySet::new([
        date(2013, 11, 28), // Thanksgiving
        date(2018, 7, 4),   // Independence Day (a Wednesday)
        date(2019, 5, 27),  // Memorial Day (a Monday)
        date(2023, 9, 4),   // Labor Day
        date(2024, 3, 29),  // Good Friday (also the quarter's last weekday)
        date(2024, 5, 27),  // Memorial Day
        date(2026, 6, 19),  // Juneteenth, the third Friday of June 2026
    ])
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/options").join(name)
}

fn read_csv(name: &str) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture is committed");
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().expect("header").split(',').map(str::to_owned).collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| header.iter().cloned().zip(l.split(',').map(str::to_owned)).collect())
        .collect()
}

fn f(row: &HashMap<String, String>, k: &str) -> f64 {
    row[k].parse().unwrap_or_else(|_| panic!("column {k} is a number: {:?}", row[k]))
}

fn spy(right: OptionRight, strike: Decimal, expiry: NaiveDate) -> OptionContract {
    OptionContract::new("SPY", right, strike, expiry).expect("valid contract")
}

// ---------------------------------------------------------------- OCC symbols

#[test]
fn occ_symbol_formats_and_parses_the_documented_example() {
    let c: OptionContract = "SPY   241122C00590000".parse().expect("valid OCC symbol");
    assert_eq!(c.underlying, "SPY");
    assert_eq!(c.right, OptionRight::Call);
    assert_eq!(c.strike, dec!(590));
    assert_eq!(c.expiry, date(2024, 11, 22));
    assert_eq!(c.multiplier, 100);
    assert_eq!(c.occ_symbol(), "SPY   241122C00590000");
    assert_eq!(c.compact_symbol(), "SPY241122C00590000");
    assert_eq!(c.to_string(), "SPY   241122C00590000");
    let compact: OptionContract = "SPY241122C00590000".parse().expect("compact form parses");
    assert_eq!(compact, c);
}

#[test]
fn occ_round_trips_roots_rights_and_fractional_strikes() {
    let cases = [
        ("SPY", OptionRight::Put, dec!(448.5), date(2023, 9, 1), "SPY   230901P00448500"),
        ("QQQ", OptionRight::Call, dec!(0.5), date(2030, 1, 18), "QQQ   300118C00000500"),
        ("SPXW", OptionRight::Put, dec!(99999.999), date(2099, 12, 31), "SPXW  991231P99999999"),
        ("BRKB1", OptionRight::Call, dec!(12.125), date(2013, 10, 19), "BRKB1 131019C00012125"),
        ("ABCDEF", OptionRight::Call, dec!(1), date(2000, 1, 1), "ABCDEF000101C00001000"),
    ];
    for (root, right, strike, expiry, symbol) in cases {
        let c = OptionContract::new(root, right, strike, expiry).expect("valid contract");
        assert_eq!(c.occ_symbol(), symbol);
        let back: OptionContract = symbol.parse().expect("own output parses");
        assert_eq!(back, c, "{symbol}");
        let back: OptionContract = c.compact_symbol().parse().expect("compact output parses");
        assert_eq!(back, c, "{}", c.compact_symbol());
    }
}

#[test]
fn occ_rejects_bad_symbols_with_a_reason() {
    for bad in [
        "",
        "SPY",
        "SPY   241122X00590000",  // right
        "SPY   241322C00590000",  // month 13
        "SPY   240230C00590000",  // 30 February
        "SPY   24112AC00590000",  // non-digit date
        "SPY   241122C0059000A",  // non-digit strike
        "SPY   241122C00000000",  // zero strike
        "spy   241122C00590000",  // lower-case root
        "TOOLONG241122C00590000", // root of 7
        "SPY  241122C00590000",   // padding neither 6 wide nor absent
        "SPY   241122C005900000", // strike of 9 digits
        "SPY   241122C-0590000",
        "SPY   241122Ç0590000",
    ] {
        match bad.parse::<OptionContract>() {
            Err(OptionsError::BadSymbol { symbol, reason }) => {
                assert_eq!(symbol, bad);
                assert!(!reason.is_empty());
            }
            other => panic!("{bad:?} should be refused, got {other:?}"),
        }
    }
    assert!(OptionContract::new("SPY", OptionRight::Call, dec!(1.0001), date(2024, 1, 19)).is_err());
    assert!(OptionContract::new("SPY", OptionRight::Call, dec!(-5), date(2024, 1, 19)).is_err());
    assert!(OptionContract::new("SPY", OptionRight::Call, dec!(5), date(1999, 1, 15)).is_err());
}

#[test]
fn tick_intrinsic_and_settlement() {
    let call = spy(OptionRight::Call, dec!(450), date(2023, 8, 18));
    let put = spy(OptionRight::Put, dec!(450), date(2023, 8, 18));
    assert_eq!(call.tick_size(dec!(25)), dec!(0.01), "SPY quotes in pennies at any price");
    let other = OptionContract::new("XYZ", OptionRight::Call, dec!(50), date(2023, 8, 18)).expect("valid");
    assert_eq!(other.tick_size(dec!(2.5)), dec!(0.01));
    assert_eq!(other.tick_size(dec!(3.2)), dec!(0.05));
    assert_eq!(call.intrinsic(dec!(452.37)), dec!(2.37));
    assert_eq!(call.intrinsic(dec!(449.99)), dec!(0));
    assert_eq!(put.intrinsic(dec!(449.99)), dec!(0.01));
    assert_eq!(put.intrinsic(dec!(452.37)), dec!(0));
    assert_eq!(call.settlement_value(dec!(452.37)), dec!(237));
    assert_eq!(put.settlement_value(dec!(440)), dec!(1000));
}

#[test]
fn last_trading_time_and_can_open() {
    let days = holidays();
    // An ordinary expiry: 16:00 New York on the day.
    let c = spy(OptionRight::Call, dec!(450), date(2023, 8, 18));
    assert_eq!(c.last_trading_time(&days).to_rfc3339(), "2023-08-18T16:00:00-04:00");
    assert!(c.can_open(ny(2023, 8, 18, 15, 59), &days).is_ok());
    assert!(c.can_open(ny(2023, 8, 18, 16, 0), &days).is_err());
    assert!(c.can_open(ny(2023, 8, 18, 9, 29), &days).is_err(), "before the open");
    assert!(c.can_open(ny(2023, 8, 12, 11, 0), &days).is_err(), "a Saturday");
    assert!(c.can_open(ny(2023, 8, 21, 11, 0), &days).is_err(), "after expiry");
    assert!(!c.is_expired(ny(2023, 8, 18, 15, 59), &days));
    assert!(c.is_expired(ny(2023, 8, 18, 16, 0), &days));
    // Pre-2015 monthly: OCC date is the Saturday; trading ends Friday 16:00 (EDT in October).
    let old = spy(OptionRight::Put, dec!(168), date(2013, 10, 19));
    assert_eq!(old.last_trading_day(&days), date(2013, 10, 18));
    assert_eq!(old.last_trading_time(&days).to_rfc3339(), "2013-10-18T16:00:00-04:00");
    // Expiry on a holiday (a contract dated Good Friday) trades until Thursday.
    let gf = spy(OptionRight::Call, dec!(520), date(2024, 3, 29));
    assert_eq!(gf.last_trading_day(&days), date(2024, 3, 28));
    let err = gf.can_open(ny(2024, 3, 29, 10, 0), &days).expect_err("holiday");
    assert!(err.to_string().contains("not a trading day"), "{err}");
    // A calendar with an early close moves the last trading time.
    struct EarlyClose;
    impl TradingDays for EarlyClose {
        fn is_trading_day(&self, d: NaiveDate) -> bool {
            HolidaySet::default().is_trading_day(d)
        }
        fn session_close(&self, _d: NaiveDate) -> chrono::NaiveTime {
            chrono::NaiveTime::from_hms_opt(13, 0, 0).expect("valid time")
        }
    }
    assert_eq!(c.last_trading_time(&EarlyClose).to_rfc3339(), "2023-08-18T13:00:00-04:00");
    // A shared calendar is one too.
    let shared: std::sync::Arc<dyn TradingDays + Send + Sync> = std::sync::Arc::new(holidays());
    assert_eq!(gf.last_trading_day(&shared), date(2024, 3, 28));
    let chain = SyntheticChain::new("SPY", ChainSettings::default(), shared).expect("valid");
    assert!(chain.expiries(date(2024, 3, 18)).contains(&date(2024, 3, 28)));
    // A closure is a calendar too.
    let weekdays = |d: NaiveDate| HolidaySet::default().is_trading_day(d);
    assert!(c.can_open(ny(2023, 8, 14, 10, 0), &weekdays).is_ok());
}

// ---------------------------------------------------------------- Black-Scholes

#[test]
fn black_scholes_matches_py_vollib_reference() {
    let rows = read_csv("bs_reference.csv");
    assert_eq!(rows.len(), 2400);
    let close = |ours: f64, theirs: f64| (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0);
    for row in &rows {
        let inputs = BsInputs {
            spot: f(row, "S"),
            strike: f(row, "K"),
            years: f(row, "T"),
            rate: f(row, "r"),
            dividend_yield: f(row, "q"),
            vol: f(row, "sigma"),
        };
        let right = if row["right"] == "call" { OptionRight::Call } else { OptionRight::Put };
        let g = inputs.greeks(right).expect("valid inputs");
        let ctx = format!("{inputs:?} {right}");
        assert!(close(g.price, f(row, "price")), "price {} vs {} for {ctx}", g.price, f(row, "price"));
        assert!(close(g.delta, f(row, "delta")), "delta {} vs {} for {ctx}", g.delta, f(row, "delta"));
        assert!(close(g.gamma, f(row, "gamma")), "gamma {} vs {} for {ctx}", g.gamma, f(row, "gamma"));
        let vega = g.vega / 100.0;
        assert!(close(vega, f(row, "vega_per_pct")), "vega {vega} vs {} for {ctx}", f(row, "vega_per_pct"));
        let theta = g.theta / 365.0;
        assert!(
            close(theta, f(row, "theta_per_day")),
            "theta {theta} vs {} for {ctx}",
            f(row, "theta_per_day")
        );
    }
}

#[test]
fn put_call_parity_holds() {
    for s in [30.0, 100.0, 448.31, 590.0] {
        for m in [0.7, 0.9, 1.0, 1.1, 1.4] {
            for t in [0.5 / 365.0, 10.0 / 365.0, 0.25, 3.0] {
                for (r, q) in [(0.0, 0.0), (0.053, 0.0), (0.02, 0.013), (-0.005, 0.01)] {
                    for vol in [0.05, 0.16, 0.8] {
                        let i =
                            BsInputs { spot: s, strike: s * m, years: t, rate: r, dividend_yield: q, vol };
                        let c = i.greeks(OptionRight::Call).expect("valid");
                        let p = i.greeks(OptionRight::Put).expect("valid");
                        let forward = s * (-q * t).exp() - s * m * (-r * t).exp();
                        assert!((c.price - p.price - forward).abs() < 1e-9 * s, "parity at {i:?}");
                        assert!((c.delta - p.delta - (-q * t).exp()).abs() < 1e-12, "delta parity at {i:?}");
                        assert!((c.gamma - p.gamma).abs() < 1e-12 && (c.vega - p.vega).abs() < 1e-9 * s);
                    }
                }
            }
        }
    }
}

#[test]
fn normal_cdf_is_symmetric_and_monotone() {
    assert_eq!(pricing::norm_cdf(0.0), 0.5);
    let mut prev = 0.0;
    for i in -400..=400 {
        let x = f64::from(i) / 40.0;
        let p = pricing::norm_cdf(x);
        assert!((p + pricing::norm_cdf(-x) - 1.0).abs() < 2e-16, "symmetry at {x}");
        assert!(p >= prev, "monotone at {x}");
        prev = p;
    }
    // Values of scipy.special.ndtr (SciPy 1.17), relative 1e-13: both methods and their seam at |x| = 3.
    for (x, want) in [
        (-8.0, 6.22096057427174e-16),
        (-5.0, 2.866515718791933e-07),
        (-3.5, 0.00023262907903552502),
        (-3.0, 0.0013498980316300933),
        (-1.0, 0.15865525393145707),
        (0.3, 0.6179114221889526),
        (2.9, 0.998134186699616),
        (3.1, 0.9990323967867817),
        (6.0, 0.9999999990134123),
    ] {
        let got = pricing::norm_cdf(x);
        assert!((got / want - 1.0).abs() < 1e-13, "Φ({x}) = {got}, want {want}");
    }
    // The far tail keeps relative accuracy: Φ(−x) ≈ φ(x)/x·(1 − 1/x² + 3/x⁴ − 15/x⁶ + 105/x⁸).
    let x = 20.0;
    let asym = pricing::norm_pdf(x) / x
        * (1.0 - 1.0 / (x * x) + 3.0 / x.powi(4) - 15.0 / x.powi(6) + 105.0 / x.powi(8));
    assert!((pricing::norm_cdf(-x) / asym - 1.0).abs() < 1e-9);
}

#[test]
fn implied_vol_recovers_the_input_and_refuses_impossible_prices() {
    let base = BsInputs {
        spot: 448.0,
        strike: 455.0,
        years: 20.0 / 365.0,
        rate: 0.05,
        dividend_yield: 0.0,
        vol: 0.2,
    };
    for right in [OptionRight::Call, OptionRight::Put] {
        for vol in [0.07, 0.16, 0.33, 1.2] {
            let price = BsInputs { vol, ..base }.price(right).expect("valid");
            let iv = base.implied_vol(right, price).expect("price in range");
            assert!((iv - vol).abs() < 1e-7, "{right} {vol} → {iv}");
        }
    }
    assert!(base.implied_vol(OptionRight::Call, 500.0).is_err(), "above the spot");
    assert!(base.implied_vol(OptionRight::Put, 0.0).is_err(), "below intrinsic");
    assert!(BsInputs { vol: 0.0, ..base }.price(OptionRight::Call).is_err());
    assert!(BsInputs { spot: f64::NAN, ..base }.price(OptionRight::Call).is_err());
    // At expiry the value is intrinsic.
    let done = BsInputs { years: 0.0, ..base };
    assert_eq!(done.price(OptionRight::Put).expect("valid"), 7.0);
    assert_eq!(done.greeks(OptionRight::Put).expect("valid").delta, -1.0);
}

#[test]
fn ticks_round_to_decimal_at_the_boundary() {
    use rust_decimal::RoundingStrategy as R;
    assert_eq!(pricing::to_tick(2.344999, dec!(0.01), R::MidpointNearestEven).expect("finite"), dec!(2.34));
    assert_eq!(pricing::to_tick(2.341, dec!(0.01), R::ToPositiveInfinity).expect("finite"), dec!(2.35));
    assert_eq!(pricing::to_tick(3.12, dec!(0.05), R::ToNegativeInfinity).expect("finite"), dec!(3.10));
    assert!(pricing::to_tick(f64::INFINITY, dec!(0.01), R::ToZero).is_err());
    assert!(pricing::to_tick(1.0, dec!(0), R::ToZero).is_err());
}

// ---------------------------------------------------------------- listing schedule

#[test]
fn no_spy_options_before_2005() {
    assert!(SpyListingSchedule::default().expiries(date(2004, 12, 1), &holidays()).is_empty());
}

#[test]
fn listing_in_2008_has_saturday_monthlies_and_quarterlies_but_no_weeklies() {
    let e = SpyListingSchedule::default().expiries(date(2008, 6, 2), &holidays());
    assert_eq!(e[0], date(2008, 6, 21), "June 2008 monthly carries the Saturday date");
    assert!(e.contains(&date(2008, 6, 30)), "Q2 quarterly");
    assert!(e.contains(&date(2008, 9, 30)), "Q3 quarterly");
    assert!(!e.iter().any(|d| *d < date(2008, 6, 21)), "no weeklies in 2008: {e:?}");
    assert_eq!(e.len(), 13 + 4, "13 monthlies (this month + 12) and 4 quarterlies: {e:?}");
}

#[test]
fn listing_in_october_2013_has_friday_weeklies_only() {
    let e = SpyListingSchedule::default().expiries(date(2013, 10, 7), &holidays());
    let near: Vec<NaiveDate> = e.iter().copied().filter(|d| *d <= date(2013, 11, 18)).collect();
    assert_eq!(
        near,
        vec![
            date(2013, 10, 11),
            date(2013, 10, 19), // the monthly (Saturday OCC date), no weekly on its Friday
            date(2013, 10, 25),
            date(2013, 11, 1),
            date(2013, 11, 8),
            date(2013, 11, 16), // November monthly
        ]
    );
    assert!(e.contains(&date(2013, 12, 31)), "quarterly");
    // The Friday after Thanksgiving is a trading day; weeklies stay on Friday.
    let e = SpyListingSchedule::default().expiries(date(2013, 11, 25), &holidays());
    assert!(e.contains(&date(2013, 11, 29)));
}

#[test]
fn listing_in_2023_expires_every_trading_day() {
    let e = SpyListingSchedule::default().expiries(date(2023, 8, 3), &holidays());
    let first_two_weeks: Vec<NaiveDate> = e.iter().copied().filter(|d| *d <= date(2023, 8, 16)).collect();
    let trading: Vec<NaiveDate> = (0..14)
        .map(|i| date(2023, 8, 3) + Duration::days(i))
        .filter(|d| holidays().is_trading_day(*d))
        .collect();
    assert_eq!(first_two_weeks, trading, "a same-day expiry and one every trading day after");
    assert!(e.contains(&date(2023, 8, 18)), "monthly on the third Friday");
    assert!(e.contains(&date(2023, 9, 29)), "Q3 quarterly on the last trading day of September");
    assert!(!e.contains(&date(2023, 9, 4)), "Labor Day");
    assert!(e.contains(&date(2023, 9, 14)), "weeklies reach six weeks ahead");
    // Beyond six weeks only monthlies and quarterlies (31 Dec 2023 is a Sunday → Friday 29th).
    let later: Vec<NaiveDate> =
        e.iter().copied().filter(|d| *d > date(2023, 9, 14) && *d <= date(2023, 12, 31)).collect();
    assert_eq!(
        later,
        vec![
            date(2023, 9, 15),
            date(2023, 9, 29),
            date(2023, 10, 20),
            date(2023, 11, 17),
            date(2023, 12, 15),
            date(2023, 12, 29)
        ]
    );
}

#[test]
fn holiday_expiries_move_the_way_the_exchanges_move_them() {
    let s = SpyListingSchedule::default();
    let days = holidays();
    // Wednesday weekly on 4 July 2018 → Tuesday 3 July.
    let e = s.expiries(date(2018, 6, 25), &days);
    assert!(e.contains(&date(2018, 7, 3)) && !e.contains(&date(2018, 7, 4)), "{e:?}");
    // Monday weekly on Memorial Day 2019 → Tuesday 28 May (no Tuesday series yet in 2019).
    let e = s.expiries(date(2019, 5, 20), &days);
    assert!(e.contains(&date(2019, 5, 28)) && !e.contains(&date(2019, 5, 27)), "{e:?}");
    // Good Friday 2024: the Friday weekly and the Q1 quarterly both land on Thursday 28 March.
    let e = s.expiries(date(2024, 3, 18), &days);
    assert!(e.contains(&date(2024, 3, 28)) && !e.contains(&date(2024, 3, 29)), "{e:?}");
    // Juneteenth 2026 is the third Friday: the June monthly expires Thursday 18 June.
    let e = s.expiries(date(2026, 6, 1), &days);
    assert!(e.contains(&date(2026, 6, 18)) && !e.contains(&date(2026, 6, 19)), "{e:?}");
    // Before Monday/Wednesday/Tuesday/Thursday series existed: only Fridays and quarter ends.
    let e = s.expiries(date(2015, 3, 2), &days);
    let quarter_ends = [date(2015, 3, 31), date(2015, 6, 30), date(2015, 9, 30), date(2015, 12, 31)];
    assert!(e.iter().all(|d| d.weekday() == chrono::Weekday::Fri || quarter_ends.contains(d)), "{e:?}");
    assert_eq!(e.iter().filter(|d| quarter_ends.contains(d)).count(), 4);
}

// ---------------------------------------------------------------- expiry selection

#[test]
fn expiry_window_picks_nearest_or_farthest() {
    let days = holidays();
    let listed = SpyListingSchedule::default().expiries(date(2023, 8, 3), &days);
    let window = |min_days, max_days, prefer| ExpiryWindow { min_days, max_days, prefer };
    let near = window(7, 14, ExpiryPreference::Nearest).choose("SPY", date(2023, 8, 3), &listed, &days);
    assert_eq!(near, Ok(date(2023, 8, 10)));
    let far = window(7, 14, ExpiryPreference::Farthest).choose("SPY", date(2023, 8, 3), &listed, &days);
    assert_eq!(far, Ok(date(2023, 8, 17)));
    // October 2013: the only expiry 7-14 days out is the monthly, whose last trading day
    // (Friday 18th) is 11 days away although its OCC date is the Saturday.
    let listed = SpyListingSchedule::default().expiries(date(2013, 10, 7), &days);
    let pick = window(7, 14, ExpiryPreference::Farthest).choose("SPY", date(2013, 10, 7), &listed, &days);
    assert_eq!(pick, Ok(date(2013, 10, 19)));
}

#[test]
fn expiry_window_over_a_weekend_or_holiday_is_refused_not_guessed() {
    let days = holidays();
    // From Friday 2023-08-04, a 1-2 day window covers only the weekend.
    let listed = SpyListingSchedule::default().expiries(date(2023, 8, 4), &days);
    let w = ExpiryWindow { min_days: 1, max_days: 2, prefer: ExpiryPreference::Nearest };
    let err = w.choose("SPY", date(2023, 8, 4), &listed, &days).expect_err("weekend");
    match &err {
        OptionsError::NoExpiryInWindow { min_days: 1, max_days: 2, .. } => {}
        other => panic!("wrong error {other:?}"),
    }
    assert!(err.to_string().contains("2023-08-07"), "the message lists what was available: {err}");
    // Good Friday 2024 is exactly 7 days after 22 March; its expiry moved to Thursday (6 days).
    let listed = SpyListingSchedule::default().expiries(date(2024, 3, 22), &days);
    let seven = ExpiryWindow { min_days: 7, max_days: 7, prefer: ExpiryPreference::Nearest };
    assert!(seven.choose("SPY", date(2024, 3, 22), &listed, &days).is_err());
    let six = ExpiryWindow { min_days: 6, max_days: 6, prefer: ExpiryPreference::Nearest };
    assert_eq!(six.choose("SPY", date(2024, 3, 22), &listed, &days), Ok(date(2024, 3, 28)));
    // An inverted window is a configuration error.
    let bad = ExpiryWindow { min_days: 9, max_days: 3, prefer: ExpiryPreference::Nearest };
    assert!(matches!(
        bad.choose("SPY", date(2024, 3, 22), &listed, &days),
        Err(OptionsError::BadExpiryWindow(_))
    ));
    // Before SPY options existed nothing is listed.
    let w = ExpiryWindow { min_days: 0, max_days: 400, prefer: ExpiryPreference::Nearest };
    assert!(w.choose("SPY", date(2004, 6, 1), &[], &days).is_err());
}

// ---------------------------------------------------------------- strike selection

fn chain() -> SyntheticChain<HolidaySet> {
    SyntheticChain::new("SPY", ChainSettings::default(), holidays()).expect("default settings are valid")
}

fn selection(strike: &str) -> OptionSelection {
    OptionSelection {
        expiry: ExpiryWindow { min_days: 7, max_days: 14, prefer: ExpiryPreference::Nearest },
        strike: strike.parse().expect("valid rule"),
    }
}

#[test]
fn moneyness_rules_pick_strikes_by_direction() {
    let chain = chain();
    let at = ny(2023, 8, 3, 10, 0);
    let spot = dec!(448.31);
    let pick = |rule: &str, dir| selection(rule).select(&chain, dir, spot, at).expect("selectable").0;
    let c = pick("atm", Direction::Long);
    assert_eq!((c.right, c.strike, c.expiry), (OptionRight::Call, dec!(448), date(2023, 8, 10)));
    assert_eq!(pick("atm", Direction::Short).right, OptionRight::Put);
    assert_eq!(pick("itm:2", Direction::Long).strike, dec!(446));
    assert_eq!(pick("otm:2", Direction::Long).strike, dec!(450));
    assert_eq!(pick("itm:2", Direction::Short).strike, dec!(450));
    assert_eq!(pick("otm:3", Direction::Short).strike, dec!(445));
    assert_eq!(pick("itm:0", Direction::Long).strike, dec!(448));
    // A tie goes to the lower strike.
    let tie = selection("atm").select(&chain, Direction::Long, dec!(448.50), at).expect("selectable").0;
    assert_eq!(tie.strike, dec!(448));
    // Past the listed strikes: refused.
    assert!(selection("otm:31").select(&chain, Direction::Long, spot, at).is_err());
}

#[test]
fn delta_rule_picks_the_strike_with_the_nearest_delta() {
    let chain = chain();
    let at = ny(2023, 8, 3, 10, 0);
    let spot = dec!(448.31);
    for (dir, target) in [(Direction::Long, 0.30), (Direction::Short, 0.30), (Direction::Long, 0.7)] {
        let rule = format!("delta:{target}");
        let (c, q) = selection(&rule).select(&chain, dir, spot, at).expect("selectable");
        // Independently: quote every listed strike and find the nearest |delta|.
        let mut best = (f64::MAX, Decimal::ZERO);
        for k in chain.strikes(c.expiry, dir.right(), spot) {
            let other = OptionContract::new("SPY", dir.right(), k, c.expiry).expect("valid");
            let d = chain.quote(&other, spot, at).expect("quotable").delta.abs();
            if (d - target).abs() < best.0 {
                best = ((d - target).abs(), k);
            }
        }
        assert_eq!(c.strike, best.1, "{rule} {dir:?}");
        assert!((q.delta.abs() - target).abs() < 0.06, "{rule}: delta {}", q.delta);
        let otm = match dir.right() {
            OptionRight::Call => c.strike > spot,
            OptionRight::Put => c.strike < spot,
        };
        assert_eq!(otm, target < 0.5, "{rule} {dir:?} strike {}", c.strike);
    }
}

#[test]
fn strike_rules_parse_and_refuse() {
    assert_eq!("atm".parse::<Strike>(), Ok(Strike::Atm));
    assert_eq!("itm:2".parse::<Strike>(), Ok(Strike::Itm(2)));
    assert_eq!("otm:10".parse::<Strike>(), Ok(Strike::Otm(10)));
    assert_eq!("delta:0.30".parse::<Strike>(), Ok(Strike::Delta(dec!(0.30))));
    assert_eq!(Strike::Delta(dec!(0.30)).to_string(), "delta:0.30");
    for bad in ["", "ATM", "itm", "itm:", "itm:-1", "otm:x", "delta:1.5", "delta:0", "delta:-0.3", "gamma:1"]
    {
        let err = bad.parse::<Strike>().expect_err(bad);
        assert!(err.contains("delta:0.30"), "the message shows a valid rule: {err}");
    }
}

#[test]
fn recipe_instrument_block_deserializes() {
    let yaml = "expiry: {min_days: 7, max_days: 14, prefer: nearest}\nstrike: delta:0.30\n";
    let sel: OptionSelection = serde_saphyr::from_str(yaml).expect("valid block");
    assert_eq!(sel.expiry, ExpiryWindow { min_days: 7, max_days: 14, prefer: ExpiryPreference::Nearest });
    assert_eq!(sel.strike, Strike::Delta(dec!(0.30)));
    let sel: OptionSelection = serde_saphyr::from_str("expiry: {min_days: 0, max_days: 3}\nstrike: otm:1\n")
        .expect("prefer defaults");
    assert_eq!(sel.expiry.prefer, ExpiryPreference::Nearest);
    assert!(
        serde_saphyr::from_str::<OptionSelection>("expiry: {min_days: 1, max_days: 3}\nstrike: itm:-2\n")
            .is_err()
    );
    assert!(
        serde_saphyr::from_str::<OptionSelection>(
            "expiry: {min_days: 1, max_days: 3, soon: true}\nstrike: atm\n"
        )
        .is_err()
    );
    let s: ChainSettings = serde_saphyr::from_str("implied_vol: 0.2\n").expect("partial settings");
    assert_eq!((s.implied_vol, s.rate), (0.2, ChainSettings::default().rate));
    let schema = schemars::schema_for!(OptionSelection);
    assert!(serde_json::to_string(&schema).expect("schema serializes").contains("delta:"));
}

// ---------------------------------------------------------------- synthetic quotes

#[test]
fn synthetic_quotes_are_on_tick_ordered_and_marked_synthetic() {
    let chain = chain();
    let at = ny(2023, 8, 3, 10, 0);
    let spot = dec!(448.31);
    for k in chain.strikes(date(2023, 8, 10), OptionRight::Call, spot) {
        for right in [OptionRight::Call, OptionRight::Put] {
            let c = spy(right, k, date(2023, 8, 10));
            let q = chain.quote(&c, spot, at).expect("quotable");
            assert!(q.synthetic);
            assert!(q.bid <= q.mid && q.mid <= q.ask && q.bid >= Decimal::ZERO, "{q:?}");
            assert!(q.ask - q.bid >= dec!(0.01), "{q:?}");
            for p in [q.bid, q.ask, q.mid] {
                assert_eq!((p / dec!(0.01)).fract(), Decimal::ZERO, "{p} off tick");
            }
            assert!(q.ask - q.bid <= (q.mid * dec!(0.01)).max(dec!(0.01)) + dec!(0.02), "{q:?}");
        }
    }
    // Strikes: every dollar, 30 each side.
    let strikes = chain.strikes(date(2023, 8, 10), OptionRight::Call, spot);
    assert_eq!((strikes.len(), strikes[0], strikes[60]), (61, dec!(418), dec!(478)));
    // At the last trading time a quote is intrinsic with no spread.
    let c = spy(OptionRight::Call, dec!(440), date(2023, 8, 10));
    let q = chain.quote(&c, dec!(446.12), ny(2023, 8, 10, 16, 0)).expect("quotable");
    assert_eq!((q.bid, q.mid, q.ask), (dec!(6.12), dec!(6.12), dec!(6.12)));
    // A contract of another underlying is not on this chain.
    let qqq = OptionContract::new("QQQ", OptionRight::Call, dec!(380), date(2023, 8, 10)).expect("valid");
    assert!(chain.quote(&qqq, dec!(380), at).is_err());
    // Bad settings are refused.
    let bad = ChainSettings { implied_vol: 0.0, ..ChainSettings::default() };
    assert!(SyntheticChain::new("SPY", bad, holidays()).is_err());
}

/// Real SPY option quotes of 2023-08-03 (Lean sample data) against the synthetic chain.
///
/// Every regular-session minute where both the option quote bar and the underlying trade bar
/// exist is compared at the bar's close (label + 1 minute). The rate is 5.3 % (1-month T-bill
/// then). With one flat IV of 16 % (the chain's default) the mean absolute error of the mid is
/// about $0.70; with each contract's own median implied vol, it drops to cents, which shows the
/// remaining error is the volatility smile, not the model plumbing.
#[test]
fn synthetic_chain_against_real_spy_quotes_of_2023_08_03() {
    let underlying: HashMap<String, Decimal> = read_csv("spy_1m_trade_20230803.csv")
        .into_iter()
        .map(|r| (r["timestamp"].clone(), r["close"].parse().expect("decimal close")))
        .collect();
    let days = HolidaySet::new([date(2023, 9, 4)]);
    let settings = ChainSettings { implied_vol: 0.16, rate: 0.053, ..ChainSettings::default() };
    let chain = SyntheticChain::new("SPY", settings.clone(), days.clone()).expect("valid settings");

    struct Point {
        contract: OptionContract,
        spot: Decimal,
        at: Timestamp,
        real_mid: f64,
        real_spread: f64,
    }
    let mut points = Vec::new();
    for r in read_csv("spy_options_1m_quote_20230803.csv") {
        let ts = &r["timestamp"];
        let time = &ts[11..16];
        if !("09:30".."16:00").contains(&time) {
            continue;
        }
        let Some(spot) = underlying.get(ts) else { continue };
        let (bid, ask) = (f(&r, "bid_close"), f(&r, "ask_close"));
        if bid <= 0.0 || ask <= bid {
            continue;
        }
        let right = if r["right"] == "call" { OptionRight::Call } else { OptionRight::Put };
        let expiry = NaiveDate::parse_from_str(&r["expiry"], "%Y-%m-%d").expect("date");
        let contract = spy(right, r["strike"].parse().expect("strike"), expiry);
        let label = chrono::DateTime::parse_from_rfc3339(ts).expect("timestamp");
        let at = Timestamp::from_datetime(&(label + Duration::minutes(1)));
        points.push(Point { contract, spot: *spot, at, real_mid: (bid + ask) / 2.0, real_spread: ask - bid });
    }
    assert!(points.len() > 1500, "{} comparable minutes", points.len());

    let (mut abs_sum, mut pct_sum) = (0.0, 0.0);
    for p in &points {
        let q = chain.quote(&p.contract, p.spot, p.at).expect("quotable");
        let err = (pricing::to_f64(q.mid) - p.real_mid).abs();
        abs_sum += err;
        pct_sum += err / p.real_mid;
    }
    let n = points.len() as f64;
    let (mae, mape) = (abs_sum / n, pct_sum / n);
    eprintln!("flat IV 16%: {} points, mean abs error of mid ${mae:.3}, {:.1}%", points.len(), mape * 100.0);
    assert!(mae < 1.0, "mean abs error ${mae:.3} with a flat 16% IV");

    // Per contract: the median implied vol of its real mids, then the error at that vol.
    let mut by_contract: HashMap<String, Vec<&Point>> = HashMap::new();
    for p in &points {
        by_contract.entry(p.contract.occ_symbol()).or_default().push(p);
    }
    for (symbol, pts) in &by_contract {
        let inputs = |p: &Point, vol: f64| BsInputs {
            spot: pricing::to_f64(p.spot),
            strike: pricing::to_f64(p.contract.strike),
            years: pricing::years_between(
                p.at,
                Timestamp::from_datetime(&p.contract.last_trading_time(&days)),
            ),
            rate: settings.rate,
            dividend_yield: 0.0,
            vol,
        };
        let mut ivs: Vec<f64> = pts
            .iter()
            .filter_map(|p| inputs(p, 0.2).implied_vol(p.contract.right, p.real_mid).ok())
            .collect();
        ivs.sort_by(f64::total_cmp);
        let iv = ivs[ivs.len() / 2];
        let mae: f64 = pts
            .iter()
            .map(|p| (inputs(p, iv).price(p.contract.right).expect("valid") - p.real_mid).abs())
            .sum::<f64>()
            / pts.len() as f64;
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let real_spread = median(pts.iter().map(|p| p.real_spread).collect());
        let model_spread = median(
            pts.iter()
                .map(|p| {
                    let q = chain.quote(&p.contract, p.spot, p.at).expect("quotable");
                    pricing::to_f64(q.ask - q.bid)
                })
                .collect(),
        );
        eprintln!(
            "{symbol}: median IV {:.2}%, mean abs error ${mae:.3} at that IV; median spread real ${real_spread:.2}, model ${model_spread:.2}",
            iv * 100.0
        );
        assert!((0.08..0.25).contains(&iv), "{symbol} IV {iv}");
        assert!(mae < 0.25, "{symbol}: ${mae:.3} at its own IV");
    }
}

// ---------------------------------------------------------------- orders

#[test]
fn marketable_limit_prices_and_slippage_guard() {
    let chain = chain();
    let c = spy(OptionRight::Call, dec!(448), date(2023, 8, 10));
    let mut q = chain.quote(&c, dec!(448.31), ny(2023, 8, 3, 10, 0)).expect("quotable");
    q.bid = dec!(4.10);
    q.ask = dec!(4.14);
    q.mid = dec!(4.12);
    assert_eq!(marketable_limit(Side::Buy, &q, 2, None), Ok(dec!(4.16)));
    assert_eq!(marketable_limit(Side::Sell, &q, 2, None), Ok(dec!(4.08)));
    assert_eq!(marketable_limit(Side::Buy, &q, 0, Some(dec!(0.02))), Ok(dec!(4.14)));
    match marketable_limit(Side::Buy, &q, 5, Some(dec!(0.05))) {
        Err(OptionsError::SlippageTooHigh { limit, reference, slippage, max_slippage }) => {
            assert_eq!(
                (limit, reference, slippage, max_slippage),
                (dec!(4.19), dec!(4.12), dec!(0.07), dec!(0.05))
            );
        }
        other => panic!("expected a slippage refusal, got {other:?}"),
    }
    // A sell never goes below one tick.
    q.bid = dec!(0.01);
    assert_eq!(marketable_limit(Side::Sell, &q, 3, None), Ok(dec!(0.01)));
    // No ask, no buy.
    q.ask = dec!(0);
    assert!(marketable_limit(Side::Buy, &q, 1, None).is_err());
}

#[test]
fn contracts_from_a_dollar_budget() {
    assert_eq!(contracts_for_budget(dec!(10000), dec!(2.35), 100, 100), Ok(42));
    assert_eq!(contracts_for_budget(dec!(10000), dec!(2.35), 100, 10), Ok(10));
    assert_eq!(contracts_for_budget(dec!(234.99), dec!(2.35), 100, 10), Ok(0));
    assert_eq!(contracts_for_budget(dec!(235), dec!(2.35), 100, 10), Ok(1));
    assert_eq!(contracts_for_budget(dec!(-5), dec!(2.35), 100, 10), Ok(0));
    assert!(contracts_for_budget(dec!(1000), dec!(0), 100, 10).is_err());
}

#[test]
fn positions_are_closed_before_the_last_trading_time() {
    let days = holidays();
    let c = spy(OptionRight::Put, dec!(440), date(2024, 3, 29)); // Good Friday → Thursday
    let lead = Duration::minutes(15);
    assert!(!expiry_exit_due(&c, ny(2024, 3, 28, 15, 44), &days, lead));
    assert!(expiry_exit_due(&c, ny(2024, 3, 28, 15, 45), &days, lead));
    assert!(expiry_exit_due(&c, ny(2024, 3, 29, 10, 0), &days, lead));
}
