//! Results a trader can believe (issue 12, items 1 and 2): quantities follow the instrument, a
//! cash account cannot short, gaps in the data are reported, and equity never silently passes
//! zero. Each test runs `runner backtest` on a recipe written per case over the recorded data
//! in `data/`, and reads the run's `deals.csv` and `summary.json`.

use crate::support::{Run, repo_root};

/// What a backtest produced.
struct Outcome {
    stdout: String,
    /// `deals.csv` rows (header dropped), split on commas.
    deals: Vec<Vec<String>>,
    summary: serde_json::Value,
}

impl Outcome {
    /// The denials with this reason code.
    fn denials(&self, code: &str) -> Vec<&serde_json::Value> {
        let all = self.summary["denials"].as_array().map(Vec::as_slice).unwrap_or_default();
        all.iter().filter(|d| d["code"] == code).collect()
    }
}

/// `runner backtest` of `recipe` (YAML; `{data}` stands for the `data/` directory), with the
/// external signals `signals` (`timestamp,ticker,direction` rows) beside it when given.
fn backtest(recipe: &str, signals: Option<&str>) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe.replace("{data}", &repo_root().join("data").display().to_string());
    let path = dir.path().join("case.yaml");
    std::fs::write(&path, recipe).unwrap();
    if let Some(rows) = signals {
        std::fs::write(dir.path().join("case.signals.csv"), format!("timestamp,ticker,direction\n{rows}"))
            .unwrap();
    }
    let out = dir.path().join("run");
    let r = Run::new(["backtest", path.to_str().unwrap(), "--report-dir", out.to_str().unwrap()]).run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let deals = std::fs::read_to_string(out.join("deals.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    let summary = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    Outcome { stdout: r.stdout, deals, summary }
}

/// The BTC recipe: target-position on Heikin-Ashi candles, a $5,000 allocation, a cash
/// account, around the clock. `broker` extends the broker block.
const BTC: &str = "version: 1\nagent: btc-5k\n\
    provider: {kind: replay, path: {data}/coinbase-btcusd-1m-trade.csv.gz}\n\
    broker: {kind: paper, account: btc, starting_equity: 5000BROKER}\n\
    instrument: {underlying: BTC-USD, kind: crypto}\n\
    algorithm: {kind: target-position, timeframe: 15m, candles: heikin-ashi, tolerance: 5%}\n\
    risk: {allocation: 5000}\nsession: {calendar: 24x7}\ncompliance: {regime: off}\n";

#[test]
fn btc_trades_fractional_coins_in_a_cash_account_and_never_short() {
    let o = backtest(&BTC.replace("BROKER", ", account_type: cash"), None);
    // BTC is near $7,000 in April 2018: $5,000 buys a fraction of a coin, in satoshis.
    let april: Vec<_> = o.deals.iter().filter(|d| d[4].starts_with("2018-04")).collect();
    assert!(!april.is_empty(), "no deal in April 2018:\n{}", o.stdout);
    for d in &april {
        let qty: rust_decimal::Decimal = d[3].parse().unwrap();
        assert!(!qty.fract().is_zero() && qty.scale() <= 8, "{d:?}");
    }
    // The cash account holds coins or nothing: every deal is long, and the target's short
    // half is refused with a reason.
    assert!(o.deals.iter().all(|d| d[2] == "long"), "{:?}", o.deals);
    let shorts = o.denials("cash-account-short");
    assert!(!shorts.is_empty(), "{}", o.stdout);
    assert!(shorts[0]["message"].as_str().unwrap().contains("needs a margin account"), "{}", shorts[0]);
    assert!(o.summary["ending_equity"].as_str().unwrap().parse::<f64>().unwrap() > 0.0);
}

#[test]
fn an_equity_entry_below_one_share_is_denied_and_reported() {
    // $100 cannot buy one SPY share (≈ $168): the entry is refused, not dropped.
    let recipe = "version: 1\nagent: spy-100\n\
        provider: {kind: replay, path: {data}/spy-1m-trade-2013-10-07_11.csv.gz}\n\
        broker: {kind: paper, account: p, starting_equity: 100000}\n\
        instrument: {underlying: SPY, kind: equity}\n\
        algorithm: {kind: external-signal, timeframe: 1m}\nrisk: {allocation: 100}\n";
    let o = backtest(recipe, Some("2013-10-08T10:00:00-04:00,SPY,b\n"));
    assert!(o.deals.is_empty(), "{:?}", o.deals);
    let denied = o.denials("size-below-minimum");
    assert_eq!(denied.len(), 1, "{}", o.stdout);
    assert_eq!((denied[0]["side"].as_str(), denied[0]["qty"].as_str()), (Some("buy"), Some("0")));
    assert!(denied[0]["time"].as_str().unwrap().starts_with("2013-10-08T10:0"), "{}", denied[0]);
    assert_eq!(o.summary["denied_orders"], 1);
    assert!(
        o.stdout.contains("Denied orders (1):") && o.stdout.contains("size-below-minimum"),
        "{}",
        o.stdout
    );
}

#[test]
fn gaps_in_the_data_are_counted_and_reported() {
    // The BTC file has days of 2016, 2017 and 2018 with months between them: three gaps.
    let o = backtest(&BTC.replace("BROKER", ", account_type: cash"), None);
    assert_eq!(o.summary["data_gaps"], 3, "{}", o.summary);
    assert!(o.stdout.contains("  data gaps      3 (trading sessions without a price"), "{}", o.stdout);
    // A tape without missing sessions has none (the nights and the weekend are the session's
    // normal breaks).
    let recipe = "version: 1\nagent: spy-gapless\n\
        provider: {kind: replay, path: {data}/spy-1m-trade-2013-10-07_11.csv.gz}\n\
        broker: {kind: paper, account: p, starting_equity: 100000}\n\
        instrument: {underlying: SPY, kind: equity}\n\
        algorithm: {kind: external-signal, timeframe: 1m}\n";
    let o = backtest(recipe, Some(""));
    assert_eq!(o.summary["data_gaps"], 0, "{}", o.summary);
    assert!(!o.stdout.contains("data gaps"), "{}", o.stdout);
}

#[test]
fn a_recipe_may_flatten_before_a_gap_in_the_data() {
    // The same short as below, held into the 2016–2017 gap, but the recipe says
    // `flatten_before_gap`: it is closed at the last 2016 price, not ridden through the gap.
    let signals = "2016-10-09T17:00:00+00:00,BTC-USD,s\n";
    let recipe = "version: 1\nagent: btc-short\n\
        provider: {kind: replay, path: {data}/coinbase-btcusd-1m-trade.csv.gz}\n\
        broker: {kind: paper, account: btc, account_type: margin, starting_equity: 5000}\n\
        instrument: {underlying: BTC-USD, kind: crypto}\n\
        algorithm: {kind: external-signal, timeframe: 1m}\n\
        risk: {allocation: 5000}\nsession: {calendar: 24x7, flatten_before_gap: true}\ncompliance: {regime: off}\n";
    let o = backtest(recipe, Some(signals));
    assert_eq!(o.deals.len(), 1, "{:?}", o.deals);
    let d = &o.deals[0];
    assert_eq!((d[2].as_str(), d[13].as_str()), ("short", "data gap"), "{d:?}");
    assert!(d[7].starts_with("2016-"), "closed before the gap: {d:?}");
    assert!(o.denials("halted").is_empty(), "{}", o.stdout);
}

#[test]
fn equity_at_zero_halts_the_agent_for_the_rest_of_the_run() {
    // Short $5,000 of BTC at ≈ $618 in a margin account, held across the 2016–2017 gap: at the
    // first price after it (≈ $4,700) equity is far below zero. The agent halts there, flattens,
    // says why, and stays halted: the December buy is refused with the reason.
    let signals = "2016-10-09T17:00:00+00:00,BTC-USD,s\n2017-12-17T12:00:00+00:00,BTC-USD,b\n";
    let recipe = "version: 1\nagent: btc-short\n\
        provider: {kind: replay, path: {data}/coinbase-btcusd-1m-trade.csv.gz}\n\
        broker: {kind: paper, account: btc, account_type: margin, starting_equity: 5000}\n\
        instrument: {underlying: BTC-USD, kind: crypto}\n\
        algorithm: {kind: external-signal, timeframe: 1m}\n\
        risk: {allocation: 5000}\nsession: {calendar: 24x7}\ncompliance: {regime: off}\n";
    let o = backtest(recipe, Some(signals));
    assert_eq!(o.deals.len(), 1, "{:?}", o.deals);
    let d = &o.deals[0];
    assert_eq!((d[2].as_str(), d[13].as_str()), ("short", "halt"), "{d:?}");
    assert!(d[7].starts_with("2017-09-0"), "closed at the first price after the gap: {d:?}");
    let halted = o.denials("halted");
    assert_eq!(halted.len(), 1, "{}", o.stdout);
    assert!(halted[0]["time"].as_str().unwrap().starts_with("2017-12-17"), "{}", halted[0]);
    let why = halted[0]["message"].as_str().unwrap();
    assert!(why.contains("equity-exhausted: equity -") && why.contains("rest of the run"), "{why}");
}
