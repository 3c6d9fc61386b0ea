//! Table-driven tests of the compliance rules, on the real NYSE calendar.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::model::Side;

fn d(s: &str) -> NaiveDate {
    s.parse().expect("test date")
}

fn spy() -> InstrumentId {
    InstrumentId::from("SPY")
}

fn order(
    date: &str,
    instrument: &str,
    class: AssetClass,
    side: Side,
    qty: Decimal,
    price: Decimal,
) -> OrderCheck {
    OrderCheck { date: d(date), instrument: InstrumentId::from(instrument), class, side, qty, price }
}

fn code(r: RuleResult) -> &'static str {
    match r {
        Ok(()) => "ok",
        Err(denial) => denial.code,
    }
}

/// Record one complete day trade (buy to open, sell to close) in `instrument` on `date`.
fn day_trade(ledger: &mut DayTradeLedger, date: &str, instrument: &str) {
    let id = InstrumentId::from(instrument);
    for (side, effect) in [(Side::Buy, Effect::Open), (Side::Sell, Effect::Close)] {
        ledger.record_fill(&Fill { date: d(date), instrument: id.clone(), side, qty: dec!(10), effect });
    }
}

#[test]
fn regime_switches_on_2026_06_04() {
    let cases = [
        ("2013-10-15", None, Regime::LegacyPdt),
        ("2026-06-03", None, Regime::LegacyPdt),
        ("2026-06-04", None, Regime::IntradayMargin),
        ("2030-01-02", None, Regime::IntradayMargin),
        ("2026-06-05", Some(Regime::LegacyPdt), Regime::LegacyPdt),
        ("2013-10-15", Some(Regime::IntradayMargin), Regime::IntradayMargin),
        ("2026-06-04", Some(Regime::Off), Regime::Off),
    ];
    for (date, pinned, want) in cases {
        assert_eq!(regime_for(d(date), pinned), want, "{date} {pinned:?}");
    }
}

#[test]
fn day_trade_counting_follows_finra_sequences() {
    use Effect::{Close, Open};
    type Case<'a> = (&'a str, &'a [(Effect, i64)], usize);
    let cases: &[Case<'_>] = &[
        ("open then close", &[(Open, 100), (Close, 100)], 1),
        ("two opens, one close", &[(Open, 100), (Open, 100), (Close, 200)], 1),
        ("one open, two partial closes", &[(Open, 100), (Close, 50), (Close, 50)], 1),
        ("two round trips", &[(Open, 100), (Close, 100), (Open, 100), (Close, 100)], 2),
        ("reopen after partial close", &[(Open, 100), (Close, 50), (Open, 50), (Close, 100)], 2),
        ("closing an overnight position", &[(Close, 100)], 0),
        ("close overnight, then open", &[(Close, 100), (Open, 100)], 0),
        ("open only", &[(Open, 100), (Open, 100)], 0),
    ];
    let cal = Calendar::nyse();
    for (name, fills, want) in cases {
        let mut ledger = DayTradeLedger::new();
        for (effect, qty) in *fills {
            let side = if *effect == Open { Side::Buy } else { Side::Sell };
            ledger.record_fill(&Fill {
                date: d("2013-10-15"),
                instrument: spy(),
                side,
                qty: Decimal::from(*qty),
                effect: *effect,
            });
        }
        assert_eq!(ledger.day_trades(&cal, d("2013-10-15")).expect("in range").len(), *want, "{name}");
    }
}

#[test]
fn day_trades_are_per_security_and_per_day() {
    let cal = Calendar::nyse();
    let mut ledger = DayTradeLedger::new();
    // An option is its own security (its OCC symbol); the underlying is another.
    day_trade(&mut ledger, "2023-08-03", "SPY   230803C00450000");
    day_trade(&mut ledger, "2023-08-03", "SPY");
    // Opened one day, closed the next: not a day trade.
    let qqq = InstrumentId::from("QQQ");
    ledger.record_order_fill(d("2023-08-03"), &qqq, Side::Buy, dec!(5), dec!(0));
    assert!(ledger.record_order_fill(d("2023-08-04"), &qqq, Side::Sell, dec!(5), dec!(5)).is_none());
    // Bought in the morning; a flip (long 5 → short 5) closes it (a day trade) and opens a short…
    ledger.record_order_fill(d("2023-08-07"), &qqq, Side::Buy, dec!(5), dec!(0));
    assert!(ledger.would_be_day_trade(d("2023-08-07"), &qqq));
    assert!(ledger.record_order_fill(d("2023-08-07"), &qqq, Side::Sell, dec!(10), dec!(5)).is_some());
    // …whose same-day cover would be another day trade.
    assert!(ledger.would_be_day_trade(d("2023-08-07"), &qqq));
    assert_eq!(ledger.day_trades_in_window(&cal, d("2023-08-07")), Ok(3));
    ledger.prune_before(d("2023-08-04"));
    assert_eq!(ledger.day_trades_in_window(&cal, d("2023-08-07")), Ok(1));
}

#[test]
fn pdt_window_spans_five_business_days_across_holidays() {
    let cal = Calendar::nyse();
    // (date, first day of its 5-business-day window)
    let cases = [
        // Thanksgiving 2013 (Thu 11-28) is skipped: Fri 11-29's window reaches back to Fri 11-22.
        ("2013-11-29", "2013-11-22"),
        ("2013-12-02", "2013-11-25"),
        ("2013-11-28", "2013-11-21"), // a holiday: the window ending on the last trading day (Wed)
        // Good Friday 2013 (03-29).
        ("2013-04-01", "2013-03-25"),
        ("2013-04-02", "2013-03-26"),
        // Weekends only.
        ("2013-10-14", "2013-10-08"),
        ("2013-10-13", "2013-10-07"), // Sunday: window ends on Friday
        // Hurricane Sandy closures.
        ("2012-11-01", "2012-10-24"),
    ];
    for (date, start) in cases {
        assert_eq!(DayTradeLedger::window_start(&cal, d(date)), Ok(d(start)), "{date}");
    }
}

#[test]
fn pdt_limit_at_window_edges() {
    let cal = Calendar::nyse();
    let small = dec!(24999.99);
    // (where the 3 day trades were, the order date, equity, order side vs position, expected)
    type Case<'a> = (&'a [&'a str], &'a str, Decimal, Side, Decimal, &'a str);
    let cases: &[Case<'_>] = &[
        // Thanksgiving 2013: trades on Fri 11-22 still count on Fri 11-29…
        (&["2013-11-22"; 3], "2013-11-29", small, Side::Buy, dec!(0), "pdt-limit"),
        // …but not on Mon 12-02.
        (&["2013-11-22"; 3], "2013-12-02", small, Side::Buy, dec!(0), "ok"),
        // Good Friday 2013: 03-25 counts on 04-01, not on 04-02.
        (&["2013-03-25"; 3], "2013-04-01", small, Side::Buy, dec!(0), "pdt-limit"),
        (&["2013-03-25"; 3], "2013-04-02", small, Side::Buy, dec!(0), "ok"),
        // Two day trades: a third is fine.
        (&["2013-11-25", "2013-11-26"], "2013-11-29", small, Side::Buy, dec!(0), "ok"),
        // $25,000 equity: no limit.
        (&["2013-11-22"; 3], "2013-11-29", dec!(25000), Side::Buy, dec!(0), "ok"),
        // Closing an overnight position is not a day trade, even at the limit.
        (&["2013-11-22"; 3], "2013-11-29", small, Side::Sell, dec!(10), "ok"),
    ];
    for (trades, date, equity, side, position, want) in cases {
        let mut ledger = DayTradeLedger::new();
        for t in *trades {
            day_trade(&mut ledger, t, "SPY");
        }
        let o = order(date, "SPY", AssetClass::Equity, *side, dec!(10), dec!(100));
        assert_eq!(code(ledger.check_pdt(&cal, &o, *position, *equity)), *want, "{trades:?} {date} {side}");
    }
}

#[test]
fn pdt_refuses_the_closing_fourth_day_trade() {
    let cal = Calendar::nyse();
    let mut ledger = DayTradeLedger::new();
    for t in ["2013-10-14", "2013-10-15", "2013-10-16"] {
        day_trade(&mut ledger, t, "SPY");
    }
    // Opened before reaching the limit (a third day trade came later in the day).
    ledger.record_fill(&Fill {
        date: d("2013-10-17"),
        instrument: "IWM".into(),
        side: Side::Buy,
        qty: dec!(10),
        effect: Effect::Open,
    });
    let close = order("2013-10-17", "IWM", AssetClass::Equity, Side::Sell, dec!(10), dec!(100));
    let denial = ledger.check_pdt(&cal, &close, dec!(10), dec!(10000)).expect_err("4th day trade");
    assert_eq!(denial.code, codes::PDT_LIMIT);
    assert!(denial.message.contains("#4"), "{denial}");
    // The next Wednesday (10-23) the 10-14..10-16 trades have left the window.
    assert_eq!(ledger.day_trades_in_window(&cal, d("2013-10-21")), Ok(2));
    assert_eq!(ledger.day_trades_in_window(&cal, d("2013-10-23")), Ok(0));
}

#[test]
fn switch_from_pdt_to_intraday_margin() {
    let cal = Calendar::nyse();
    let mut ledger = DayTradeLedger::new();
    // Three day trades inside the windows of both 06-03 and 06-04.
    for t in ["2026-05-29", "2026-06-01", "2026-06-02"] {
        day_trade(&mut ledger, t, "SPY");
    }
    let account = MarginAccount { cash: dec!(10000), positions: vec![] };
    let view = AccountView::Margin { account: &account, day_trades: &ledger };
    let cases = [
        ("2026-06-03", None, "pdt-limit"),
        ("2026-06-04", None, "ok"),
        ("2026-06-04", Some(Regime::LegacyPdt), "pdt-limit"),
        ("2026-06-03", Some(Regime::IntradayMargin), "ok"),
        ("2026-06-03", Some(Regime::Off), "ok"),
    ];
    for (date, pinned, want) in cases {
        let rules = Rules::for_date(d(date), pinned);
        let o = order(date, "SPY", AssetClass::Equity, Side::Buy, dec!(10), dec!(100));
        assert_eq!(code(rules.check_order(&cal, view, &o)), want, "{date} {pinned:?}");
    }
}

#[test]
fn reg_t_initial_margin() {
    let cash_only = MarginAccount { cash: dec!(10000), positions: vec![] };
    assert_eq!(cash_only.reg_t_buying_power(), dec!(20000));
    let long = MarginAccount {
        cash: dec!(-5000),
        positions: vec![Position {
            instrument: spy(),
            class: AssetClass::Equity,
            qty: dec!(100),
            price: dec!(100),
        }],
    };
    assert_eq!(long.equity(), dec!(5000));
    assert_eq!(long.reg_t_requirement(), dec!(5000));
    assert_eq!(long.reg_t_buying_power(), dec!(0));
    let call = "SPY   231117C00450000";
    let cases = [
        (&cash_only, order("2013-10-15", "SPY", AssetClass::Equity, Side::Buy, dec!(200), dec!(100)), "ok"),
        (
            &cash_only,
            order("2013-10-15", "SPY", AssetClass::Equity, Side::Buy, dec!(201), dec!(100)),
            "reg-t-buying-power",
        ),
        (&cash_only, order("2013-10-15", "SPY", AssetClass::Equity, Side::Sell, dec!(200), dec!(100)), "ok"),
        (
            &cash_only,
            order("2013-10-15", "SPY", AssetClass::Equity, Side::Sell, dec!(201), dec!(100)),
            "reg-t-buying-power",
        ),
        // Long options are paid in full: 1 contract at $100 = $10,000.
        (&cash_only, order("2023-08-03", call, AssetClass::Option, Side::Buy, dec!(1), dec!(100)), "ok"),
        (
            &cash_only,
            order("2023-08-03", call, AssetClass::Option, Side::Buy, dec!(1), dec!(100.01)),
            "reg-t-buying-power",
        ),
        (
            &cash_only,
            order("2023-08-03", call, AssetClass::Option, Side::Sell, dec!(1), dec!(1)),
            "short-option-unsupported",
        ),
        // Fully used: no more opening, but closing always passes.
        (
            &long,
            order("2013-10-15", "SPY", AssetClass::Equity, Side::Buy, dec!(1), dec!(100)),
            "reg-t-buying-power",
        ),
        (&long, order("2013-10-15", "SPY", AssetClass::Equity, Side::Sell, dec!(100), dec!(100)), "ok"),
        (
            &long,
            // Flips to a 1-share short, which the freed equity covers.
            order("2013-10-15", "SPY", AssetClass::Equity, Side::Sell, dec!(101), dec!(100)),
            "ok",
        ),
    ];
    for (account, o, want) in cases {
        assert_eq!(
            code(account.check_reg_t(&o)),
            want,
            "{} {} {} @ {}",
            o.side,
            o.qty,
            o.instrument,
            o.price
        );
    }
}

#[test]
fn intraday_margin_deficit() {
    let underwater = MarginAccount {
        cash: dec!(-15000),
        positions: vec![Position {
            instrument: spy(),
            class: AssetClass::Equity,
            qty: dec!(200),
            price: dec!(90),
        }],
    };
    // Equity 3,000; maintenance 25 % of 18,000 = 4,500; deficit 1,500.
    assert_eq!(underwater.equity(), dec!(3000));
    assert_eq!(underwater.intraday_deficit(), dec!(1500));
    let fresh = MarginAccount { cash: dec!(10000), positions: vec![] };
    let cases = [
        // Increasing the deficit is refused; shrinking it is allowed.
        (
            &underwater,
            order("2026-06-04", "SPY", AssetClass::Equity, Side::Buy, dec!(10), dec!(90)),
            "intraday-margin-deficit",
        ),
        (&underwater, order("2026-06-04", "SPY", AssetClass::Equity, Side::Sell, dec!(50), dec!(90)), "ok"),
        // 25 % long: $10,000 carries $40,000 of stock intraday, not a cent more.
        (&fresh, order("2026-06-04", "SPY", AssetClass::Equity, Side::Buy, dec!(400), dec!(100)), "ok"),
        (
            &fresh,
            order("2026-06-04", "SPY", AssetClass::Equity, Side::Buy, dec!(401), dec!(100)),
            "intraday-margin-deficit",
        ),
        // 30 % short: $33,300 short is the most.
        (&fresh, order("2026-06-04", "SPY", AssetClass::Equity, Side::Sell, dec!(333), dec!(100)), "ok"),
        (
            &fresh,
            order("2026-06-04", "SPY", AssetClass::Equity, Side::Sell, dec!(334), dec!(100)),
            "intraday-margin-deficit",
        ),
        // 100 % long options.
        (
            &fresh,
            order("2026-06-04", "SPY   260618C00600000", AssetClass::Option, Side::Buy, dec!(2), dec!(50)),
            "ok",
        ),
        (
            &fresh,
            order("2026-06-04", "SPY   260618C00600000", AssetClass::Option, Side::Buy, dec!(2), dec!(50.01)),
            "intraday-margin-deficit",
        ),
    ];
    for (account, o, want) in cases {
        assert_eq!(
            code(account.check_intraday_margin(&o)),
            want,
            "{} {} {} @ {}",
            o.side,
            o.qty,
            o.instrument,
            o.price
        );
    }
}

#[test]
fn rules_combine_reg_t_min_equity_and_intraday_margin() {
    let cal = Calendar::nyse();
    let ledger = DayTradeLedger::new();
    let fresh = MarginAccount { cash: dec!(10000), positions: vec![] };
    let tiny = MarginAccount { cash: dec!(1500), positions: vec![] };
    let per_order = Rules::for_date(d("2026-06-04"), None);
    let end_of_day = Rules { reg_t: RegTTiming::EndOfDay, ..per_order };
    let buy = |qty| order("2026-06-04", "SPY", AssetClass::Equity, Side::Buy, qty, dec!(100));
    let cases = [
        (per_order, &fresh, buy(dec!(200)), "ok"),
        (per_order, &fresh, buy(dec!(400)), "reg-t-buying-power"),
        (end_of_day, &fresh, buy(dec!(400)), "ok"),
        (end_of_day, &fresh, buy(dec!(401)), "intraday-margin-deficit"),
        // $1,500 equity: buying with own cash is fine, any credit is not.
        (per_order, &tiny, buy(dec!(15)), "ok"),
        (per_order, &tiny, buy(dec!(16)), "min-equity"),
        (per_order, &fresh, buy(dec!(0)), "invalid-order"),
        (
            per_order,
            &fresh,
            order("2031-01-02", "SPY", AssetClass::Equity, Side::Buy, dec!(1), dec!(1)),
            "calendar",
        ),
    ];
    for (rules, account, o, want) in cases {
        let view = AccountView::Margin { account, day_trades: &ledger };
        assert_eq!(code(rules.check_order(&cal, view, &o)), want, "{rules:?} {} {}", o.qty, account.cash);
    }
}

#[test]
fn settlement_dates_by_era() {
    let cal = Calendar::nyse();
    let eq = AssetClass::Equity;
    let cases = [
        ("2013-10-14", eq, "2013-10-17"),                 // T+3 in 2013
        ("2013-11-26", eq, "2013-12-02"),                 // T+3 over Thanksgiving
        ("2013-03-27", eq, "2013-04-02"),                 // T+3 over Good Friday
        ("2012-10-26", eq, "2012-11-02"),                 // T+3 over Hurricane Sandy
        ("2017-09-01", eq, "2017-09-07"),                 // last T+3 day (Labor Day 09-04)
        ("2017-09-05", eq, "2017-09-07"),                 // first T+2 day
        ("2024-05-24", eq, "2024-05-29"),                 // last T+2 day (Memorial Day 05-27)
        ("2024-05-28", eq, "2024-05-29"),                 // first T+1 day
        ("2025-07-03", eq, "2025-07-07"),                 // T+1 over Independence Day
        ("2025-12-24", eq, "2025-12-26"),                 // T+1 over Christmas
        ("2013-10-14", AssetClass::Option, "2013-10-15"), // listed options: T+1
    ];
    for (trade, class, settles) in cases {
        assert_eq!(settlement_date(&cal, d(trade), class), Ok(d(settles)), "{trade} {class:?}");
    }
}

#[test]
fn cash_account_uses_settled_funds_only_2013() {
    let cal = Calendar::nyse();
    let mut acct = SettlementLedger::new(dec!(10000));
    let buy = |date, qty| order(date, "SPY", AssetClass::Equity, Side::Buy, qty, dec!(100));
    let sell = |date, qty| order(date, "SPY", AssetClass::Equity, Side::Sell, qty, dec!(105));
    assert_eq!(code(acct.check_order(&cal, &sell("2013-10-14", dec!(1)))), "cash-account-short");
    assert_eq!(code(acct.check_order(&cal, &buy("2013-10-14", dec!(101)))), "unsettled-funds");
    assert_eq!(code(acct.check_order(&cal, &buy("2013-10-14", dec!(100)))), "ok");
    acct.record_buy(d("2013-10-14"), &spy(), AssetClass::Equity, dec!(100), dec!(100));
    // Paid with settled funds: selling the next day is fine. Proceeds settle T+3 (Fri 10-18).
    assert_eq!(code(acct.check_order(&cal, &sell("2013-10-15", dec!(101)))), "insufficient-position");
    acct.record_sell(&cal, d("2013-10-15"), &spy(), AssetClass::Equity, dec!(100), dec!(105)).expect("sell");
    assert_eq!(acct.settled_cash(d("2013-10-17")), dec!(0));
    assert_eq!(acct.unsettled_cash(d("2013-10-17")), dec!(10500));
    assert_eq!(code(acct.check_order(&cal, &buy("2013-10-17", dec!(1)))), "unsettled-funds");
    assert_eq!(acct.settled_cash(d("2013-10-18")), dec!(10500));
    assert_eq!(code(acct.check_order(&cal, &buy("2013-10-18", dec!(105)))), "ok");
}

#[test]
fn cash_account_free_riding_and_t_plus_1_in_2025() {
    let cal = Calendar::nyse();
    let mut acct = SettlementLedger::new(dec!(0));
    acct.add_paid_position(&spy(), dec!(100), d("2025-06-30"));
    // Sold Thursday 2025-07-03 (early close); July 4 is a holiday: settles Monday 07-07 (T+1).
    acct.record_sell(&cal, d("2025-07-03"), &spy(), AssetClass::Equity, dec!(100), dec!(600)).expect("sell");
    let buy = |date| order(date, "QQQ", AssetClass::Equity, Side::Buy, dec!(10), dec!(500));
    assert_eq!(code(acct.check_order(&cal, &buy("2025-07-03"))), "unsettled-funds");
    assert_eq!(code(acct.check_order(&cal, &buy("2025-07-07"))), "ok");
    // A fill bought with the unsettled proceeds (e.g. placed outside runner) is not paid for until
    // 07-07: selling it before then is free-riding.
    let qqq = InstrumentId::from("QQQ");
    acct.record_buy(d("2025-07-03"), &qqq, AssetClass::Equity, dec!(10), dec!(500));
    assert_eq!(acct.unsettled_cash(d("2025-07-03")), dec!(55000));
    let sell = |date| order(date, "QQQ", AssetClass::Equity, Side::Sell, dec!(10), dec!(510));
    assert_eq!(code(acct.check_order(&cal, &sell("2025-07-03"))), "free-riding");
    let denial = acct.record_sell(&cal, d("2025-07-03"), &qqq, AssetClass::Equity, dec!(10), dec!(510));
    assert_eq!(code(denial), "free-riding");
    assert_eq!(acct.position(&qqq), dec!(10), "a refused sale records nothing");
    assert_eq!(code(acct.check_order(&cal, &sell("2025-07-07"))), "ok");
    acct.record_sell(&cal, d("2025-07-07"), &qqq, AssetClass::Equity, dec!(10), dec!(510)).expect("sell");
    // 55,000 settled on 07-07, plus 5,100 from the second sale on 07-08.
    assert_eq!(acct.settled_cash(d("2025-07-07")), dec!(55000));
    assert_eq!(acct.settled_cash(d("2025-07-08")), dec!(60100));
}

#[test]
fn cash_account_through_rules() {
    let cal = Calendar::nyse();
    let acct = SettlementLedger::new(dec!(1000));
    let rules = Rules::for_date(d("2013-10-15"), None);
    let o = order("2013-10-15", "SPY", AssetClass::Equity, Side::Buy, dec!(11), dec!(100));
    assert_eq!(code(rules.check_order(&cal, AccountView::Cash(&acct), &o)), "unsettled-funds");
    let o = order("2013-10-15", "SPY", AssetClass::Equity, Side::Buy, dec!(10), dec!(100));
    assert_eq!(code(rules.check_order(&cal, AccountView::Cash(&acct), &o)), "ok");
}
