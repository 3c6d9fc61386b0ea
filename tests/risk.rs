//! The risk gate end to end: `runner backtest` on small hand-made tick tapes
//! (tests/fixtures/risk/) with an external-signal recipe written per case, checking the trades,
//! the exit reasons and the "Denied orders" of the run report.

use crate::support::{Run, repo_root};

/// What a backtest produced.
struct Outcome {
    stdout: String,
    /// `--trades-csv` rows (header dropped), split on commas.
    trades: Vec<Vec<String>>,
    summary: serde_json::Value,
}

impl Outcome {
    /// The denial codes, in order.
    fn denial_codes(&self) -> Vec<String> {
        self.summary["denials"]
            .as_array()
            .map(|a| a.iter().map(|d| d["code"].as_str().unwrap_or_default().to_owned()).collect())
            .unwrap_or_default()
    }
}

/// Run one case: `tape` from the fixtures, `signals` as (RFC 3339 time, `b`|`s`), the recipe's
/// `broker` extras, its `risk` section, `flatten_at` and extra top-level YAML.
fn run_case(
    tape: &str,
    signals: &[(&str, &str)],
    broker: &str,
    risk: &str,
    flatten_at: &str,
    extra: &str,
) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let data = repo_root().join("tests/fixtures/risk").join(tape);
    let recipe = format!(
        "version: 1\nagent: risk-case\nprovider: {{kind: replay, path: {}}}\n\
         broker: {{kind: paper, account: p{broker}}}\n\
         instrument: {{underlying: SPY, kind: equity}}\n\
         algorithm: {{kind: external-signal, timeframe: 5m}}\n\
         risk: {{{risk}}}\nsession: {{hours: regular, flatten_at: \"{flatten_at}\"}}\n{extra}",
        data.display()
    );
    let path = dir.path().join("risk-case.yaml");
    std::fs::write(&path, recipe).unwrap();
    let mut sig = String::from("timestamp,ticker,direction\n");
    for (ts, d) in signals {
        sig.push_str(&format!("{ts},SPY,{d}\n"));
    }
    std::fs::write(dir.path().join("risk-case.signals.csv"), sig).unwrap();
    let csv = dir.path().join("trades.csv");
    let out = dir.path().join("run");
    let r = Run::new([
        "backtest",
        path.to_str().unwrap(),
        "--trades-csv",
        csv.to_str().unwrap(),
        "--report-dir",
        out.to_str().unwrap(),
    ])
    .run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let trades = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    let summary = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    Outcome { stdout: r.stdout, trades, summary }
}

fn at(date: &str, time: &str) -> String {
    format!("{date}T{time}.000-04:00")
}

#[test]
fn protective_exits_fire_on_intra_candle_prices() {
    // One 5-minute candle 09:30–09:35; the exits must fire at the print, not at the close.
    let cases = [
        ("entry_size: 100, take_profit: 2%", "09:32:00", "102.5", "target"),
        ("entry_size: 100, trailing_stop: 3%", "09:33:00", "100.8", "stop"),
        ("entry_size: 100, stop_loss: 2%", "09:33:30", "97.5", "stop"),
    ];
    for (risk, time, price, reason) in cases {
        let o = run_case("exits.csv", &[("2013-10-08T09:31:00-04:00", "b")], "", risk, "15:55", "");
        assert_eq!(o.trades.len(), 1, "{risk}: {:?}", o.trades);
        let t = &o.trades[0];
        assert_eq!(t[0], at("2013-10-08", "09:31:00"), "{risk}");
        assert_eq!((t[1].as_str(), t[3].as_str()), ("long", "100"), "{risk}");
        assert_eq!(t[4], at("2013-10-08", time), "{risk}: exit before the candle closes");
        assert_eq!((t[5].as_str(), t[7].as_str()), (price, reason), "{risk}");
    }
}

#[test]
fn loss_limits_halt_and_flatten() {
    // Day 1: long 100 at 100, a print at 96.90 loses 310. Signals later that day are refused;
    // day 2 trades again after a daily-loss halt, not after a drawdown halt.
    let signals = [
        ("2013-10-08T09:31:00-04:00", "b"),
        ("2013-10-08T10:00:00-04:00", "s"),
        ("2013-10-08T10:30:00-04:00", "b"),
        ("2013-10-09T09:31:00-04:00", "b"),
    ];
    let cases =
        [("entry_size: 100, daily_loss_limit: 300", true), ("entry_size: 100, max_drawdown: 0.3%", false)];
    for (risk, day2) in cases {
        let o = run_case("loss.csv", &signals, ", starting_equity: 100000", risk, "15:55", "");
        let first = &o.trades[0];
        assert_eq!(first[4], at("2013-10-08", "09:50:00"), "{risk}: flattened at the breach");
        assert_eq!((first[5].as_str(), first[7].as_str()), ("96.9", "halt"), "{risk}");
        let codes = o.denial_codes();
        assert_eq!(&codes[..2], ["halted", "halted"], "{risk}: {codes:?}");
        if day2 {
            assert_eq!(codes.len(), 2, "{codes:?}");
            assert_eq!(o.trades.len(), 2, "{risk}: {:?}", o.trades);
            assert_eq!(o.trades[1][0], at("2013-10-09", "09:31:00"), "active again the next day");
        } else {
            assert_eq!(codes.len(), 3, "{risk}: halted until restart: {codes:?}");
            assert_eq!(o.trades.len(), 1, "{risk}: {:?}", o.trades);
        }
        assert!(o.stdout.contains("Denied orders (") && o.stdout.contains("halted"), "{}", o.stdout);
        assert_eq!(o.summary["denied_orders"], codes.len());
    }
}

#[test]
fn order_rate_and_trades_per_day_limits() {
    // b, s, b seconds apart: the reversal's exit always passes, further entries hit the limit;
    // at 09:32:30 the 60-second window has slid.
    let signals = [
        ("2013-10-08T09:31:00-04:00", "b"),
        ("2013-10-08T09:31:10-04:00", "s"),
        ("2013-10-08T09:31:20-04:00", "b"),
        ("2013-10-08T09:32:30-04:00", "s"),
    ];
    let cases: [(&str, &[&str], usize); 2] = [
        // Orders: entry, exit (2 in the minute) → entry refused; 09:31:20 entry refused.
        ("entry_size: 100, max_orders_per_minute: 2", &["order-rate", "order-rate"], 2),
        // Entries: 09:31:00 and 09:31:10 → the third (09:31:20) and fourth are refused.
        ("entry_size: 100, max_trades_per_day: 2", &["max-trades-per-day", "max-trades-per-day"], 2),
    ];
    for (risk, want, deals) in cases {
        let o = run_case("rapid.csv", &signals, "", risk, "15:55", "");
        assert_eq!(o.denial_codes(), want, "{risk}: {}", o.stdout);
        assert_eq!(o.trades.len(), deals, "{risk}: {:?}", o.trades);
    }
}

#[test]
fn pdt_by_trading_date() {
    // One day trade a day (buy 09:31, flatten_at 09:45), four days running.
    let days13 = ["2013-10-07", "2013-10-08", "2013-10-09", "2013-10-10"];
    let days26 = ["2026-06-08", "2026-06-09", "2026-06-10", "2026-06-11"];
    let cases: [(&str, &[&str; 4], &str, &str, usize, &[&str]); 4] = [
        ("pdt-2013.csv", &days13, "10000", "", 3, &["pdt_limit"]),
        ("pdt-2013.csv", &days13, "30000", "", 4, &[]),
        // From 2026-06-04 intraday margin governs: 10,000 of equity covers 100 shares at 100.
        ("pdt-2026.csv", &days26, "10000", "", 4, &[]),
        // A recipe pinning the legacy rule keeps PDT.
        ("pdt-2026.csv", &days26, "10000", "compliance: {regime: legacy-pdt}\n", 3, &["pdt_limit"]),
    ];
    for (tape, days, equity, extra, deals, want) in cases {
        let signals: Vec<String> = days.iter().map(|d| format!("{d}T09:31:00-04:00")).collect();
        let signals: Vec<(&str, &str)> = signals.iter().map(|t| (t.as_str(), "b")).collect();
        let broker = format!(", starting_equity: {equity}");
        let o = run_case(tape, &signals, &broker, "entry_size: 100", "09:45", extra);
        assert_eq!(o.trades.len(), deals, "{tape} {equity} {extra}: {:?}", o.trades);
        for (t, d) in o.trades.iter().zip(days.iter()) {
            assert_eq!(
                (t[0].as_str(), t[4].as_str()),
                (at(d, "09:31:00").as_str(), at(d, "09:45:00").as_str())
            );
        }
        assert_eq!(o.denial_codes(), want, "{tape} {equity} {extra}");
        if !want.is_empty() {
            let d = &o.summary["denials"][0];
            assert!(d["time"].as_str().unwrap().starts_with(days[3]), "the 4th day: {d}");
            assert!(d["message"].as_str().unwrap().contains("3 day trades"), "{d}");
        }
    }
}

#[test]
fn cash_account_cannot_reuse_unsettled_proceeds() {
    // 2,000 settled; 10 shares at 100 a time. Buy (1,000 left), sell (proceeds settle T+1),
    // buy (0 left), sell, buy → refused; the next day the proceeds have settled.
    let signals = [
        ("2026-06-09T09:31:00-04:00", "b"),
        ("2026-06-09T09:32:00-04:00", "s"),
        ("2026-06-09T09:33:00-04:00", "b"),
        ("2026-06-09T09:34:00-04:00", "s"),
        ("2026-06-09T09:35:00-04:00", "b"),
        ("2026-06-10T09:31:00-04:00", "b"),
    ];
    let o = run_case(
        "cash.csv",
        &signals,
        ", account_type: cash, starting_equity: 2000",
        "entry_size: 10",
        "15:55",
        "",
    );
    let codes = o.denial_codes();
    // Each `s` closes the long and its short entry is refused (no shorts in a cash account).
    assert_eq!(codes, ["cash_account_short", "cash_account_short", "unsettled_funds"], "{}", o.stdout);
    let d = &o.summary["denials"][2];
    assert!(d["time"].as_str().unwrap().starts_with("2026-06-09T09:35"), "{d}");
    let entries: Vec<&str> = o.trades.iter().map(|t| t[0].as_str()).collect();
    assert_eq!(
        entries,
        [at("2026-06-09", "09:31:00"), at("2026-06-09", "09:33:00"), at("2026-06-10", "09:31:00")],
        "settled the next trading day (T+1)"
    );
}
