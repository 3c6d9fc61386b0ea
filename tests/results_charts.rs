//! The charts a trader reads (issue 12, item 9): `equity.svg` and `price.svg` of real
//! `runner backtest` runs on the repository's data, checked for structure — money and percent
//! labels, date labels that never crowd, the year, one mark per entry and exit, halts, the
//! drawdown panel, candles and the strategy's lines — not for hard-coded numbers.

use std::path::Path;

use regex::Regex;

use crate::support::{Run, recipe_variant as variant, repo_root};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `runner backtest RECIPE --no-journal` with its report in `dir/report`; the report's files.
struct Charts {
    equity: String,
    price: String,
    deals: usize,
}

fn backtest(dir: &Path, recipe: &str) -> Charts {
    let report = dir.join("report");
    let out = Run::new(["backtest", recipe, "--no-journal", "--report-dir", s(&report)]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let read = |name: &str| std::fs::read_to_string(report.join(name)).unwrap();
    let deals = read("deals.csv").lines().skip(1).filter(|l| !l.is_empty()).count();
    Charts { equity: read("equity.svg"), price: read("price.svg"), deals }
}

/// The texts of the elements of class `class` (`<text class="xlabel" …>TEXT</text>`).
fn texts(svg: &str, class: &str) -> Vec<String> {
    let re = Regex::new(&format!(r#"<text class="{class}"[^>]*>([^<]*)</text>"#)).unwrap();
    re.captures_iter(svg).map(|c| c[1].to_owned()).collect()
}

/// The x attributes of the date labels, in order.
fn label_xs(svg: &str) -> Vec<f64> {
    let re = Regex::new(r#"<text class="xlabel" x="([0-9.]+)""#).unwrap();
    re.captures_iter(svg).map(|c| c[1].parse().unwrap()).collect()
}

/// A number attribute of the first element with `class`.
fn data(svg: &str, class: &str, attr: &str) -> f64 {
    let re = Regex::new(&format!(r#"class="{class}"[^>]* {attr}="(-?[0-9.]+)""#)).unwrap();
    re.captures(svg).unwrap_or_else(|| panic!("no {attr} on {class}"))[1].parse().unwrap()
}

/// Entry and exit marks of deals (the legend's marks are `key`s, not counted).
fn trade_marks(svg: &str) -> usize {
    Regex::new(r#"class="trade (entry|exit) (long|short)""#).unwrap().find_iter(svg).count()
}

fn assert_labels_apart(svg: &str) {
    let xs = label_xs(svg);
    assert!(xs.len() >= 2, "{xs:?}");
    for w in xs.windows(2) {
        assert!(w[1] - w[0] >= 80.0, "date labels {} px apart: {xs:?}", w[1] - w[0]);
    }
}

#[test]
fn the_spy_equity_chart_is_in_dollars_and_percent_with_every_deal_the_halts_and_the_drawdown() {
    let dir = tempfile::tempdir().unwrap();
    let c = backtest(dir.path(), "recipes/spy-9ma.yaml");
    let eq = &c.equity;
    // Dollars on the left (`$50,000`), percent of the starting equity on the right.
    let money = Regex::new(r"^\$\d{1,3}(,\d{3})+$").unwrap();
    let dollars = texts(eq, "ylabel");
    assert!(dollars.iter().filter(|t| money.is_match(t)).count() >= 3, "{dollars:?}");
    assert!(dollars.contains(&"$50,000".to_owned()), "{dollars:?}");
    let pct = Regex::new(r"^([+-]\d+(\.\d+)?|0(\.0+)?)%$").unwrap();
    let percents = texts(eq, "pct");
    assert!(percents.len() >= 3 && percents.iter().all(|t| pct.is_match(t)), "{percents:?}");
    assert!(percents.iter().any(|t| t.starts_with('-')), "the run lost money: {percents:?}");
    // One week: day labels, the year on the first, never crowded.
    let labels = texts(eq, "xlabel");
    assert_eq!(labels.first().map(String::as_str), Some("Oct 7, 2013"), "{labels:?}");
    assert!(labels[1..].iter().all(|l| !l.contains("2013")), "{labels:?}");
    assert_labels_apart(eq);
    // Every deal: an entry mark and an exit mark.
    assert!(c.deals > 0);
    assert_eq!(trade_marks(eq), 2 * c.deals, "{} deals", c.deals);
    // The daily loss limit halted it: dashed lines with the reason's code.
    let halts = Regex::new(r#"<line class="halt" "#).unwrap().find_iter(eq).count();
    assert!(halts >= 1, "no halt line");
    assert!(eq.contains(">halt: daily-loss-limit</text>"), "{eq}");
    assert!(eq.contains("<title>halted: daily-loss-limit: equity "), "the whole reason as a tooltip");
    // The drawdown panel: a filled area, its scale in percent.
    assert!(eq.contains(r#"<g class="drawdown-panel""#) && eq.contains(r#"<polygon class="drawdown""#));
    assert!(data(eq, "drawdown-panel", "data-lo-pct") <= -1.0);
    // The same marks and halts on the price chart; options deals sit on the time axis.
    let price = &c.price;
    assert_eq!(trade_marks(price), 2 * c.deals);
    assert_eq!(Regex::new(r#"<line class="halt" "#).unwrap().find_iter(price).count(), halts);
    let ys: std::collections::BTreeSet<&str> =
        Regex::new(r#"class="trade exit (long|short)" cx="[0-9.]+" cy="([0-9.]+)""#)
            .unwrap()
            .captures_iter(price)
            .map(|c| c.get(2).unwrap().as_str())
            .collect();
    assert_eq!(ys.len(), 1, "option exits all on the time axis: {ys:?}");
    assert!(price.contains("option deals are marked on the time axis"));
}

#[test]
fn the_price_chart_has_the_candles_the_moving_average_and_the_breakout_range() {
    let dir = tempfile::tempdir().unwrap();
    let c = backtest(dir.path(), "recipes/spy-9ma.yaml");
    let p = &c.price;
    let candles = Regex::new(r#"<path class="candle (up|down)""#).unwrap().find_iter(p).count();
    // Five sessions of 5-minute candles (78 a day).
    assert_eq!(candles, 5 * 78, "candles");
    for name in ["moving average", "breakout high", "breakout low"] {
        let line = format!(r#"<polyline class="indicator" data-name="{name}""#);
        assert!(p.contains(&line), "{name}");
    }
    assert!(texts(p, "ylabel").iter().all(|t| Regex::new(r"^\$\d+\.\d\d$").unwrap().is_match(t)));
    assert_labels_apart(p);
    // `runner report` names both charts.
    let out = Run::new(["report", s(&dir.path().join("report"))]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let tail: Vec<&str> = out.stdout.lines().rev().take(2).collect();
    assert!(tail[1].starts_with("Equity chart: ") && tail[1].ends_with("equity.svg"), "{}", out.stdout);
    assert!(tail[0].starts_with("Price chart: ") && tail[0].ends_with("price.svg"), "{}", out.stdout);
}

#[test]
fn a_run_over_years_names_the_year_on_every_date_label_and_marks_share_deals_at_their_prices() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo_root().join("data/coinbase-btcusd-1m-trade.csv.gz");
    let recipe = variant(
        dir.path(),
        "btc-coinbase-ha",
        &[
            ("kind: coinbase\n  credentials: coinbase", &format!("kind: replay\n  path: {}", s(&data))),
            (
                "kind: coinbase\n  account: coinbase-btc\n  account_type: cash\n  commission_per_order: 0\n  credentials: coinbase",
                "kind: paper\n  account: coinbase-btc\n  account_type: cash\n  starting_equity: 10000\n  commission_per_order: 0",
            ),
        ],
    );
    let c = backtest(dir.path(), &recipe);
    let year = Regex::new(r"\b(2016|2017|2018)\b").unwrap();
    for svg in [&c.equity, &c.price] {
        let labels = texts(svg, "xlabel");
        assert!(labels.iter().all(|l| year.is_match(l)), "{labels:?}");
        assert!(
            labels.iter().any(|l| l.contains("2016")) && labels.iter().any(|l| l.contains("2018")),
            "{labels:?}"
        );
        assert_labels_apart(svg);
    }
    assert!(c.deals > 0);
    assert_eq!(trade_marks(&c.equity), 2 * c.deals);
    assert_eq!(trade_marks(&c.price), 2 * c.deals);
    // Coin deals sit at their prices, not on the time axis.
    assert!(!c.price.contains("on the time axis"));
    let ys: std::collections::BTreeSet<&str> =
        Regex::new(r#"class="trade exit (long|short)" cx="[0-9.]+" cy="([0-9.]+)""#)
            .unwrap()
            .captures_iter(&c.price)
            .map(|c| c.get(2).unwrap().as_str())
            .collect();
    assert!(ys.len() > 1, "{ys:?}");
}

#[test]
fn a_daily_recipe_makes_one_candle_per_session_and_a_flat_curve_shows_at_least_one_percent() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = variant(dir.path(), "spy-9ma-shares", &[("timeframe: 5m", "timeframe: 1d")]);
    let out = Run::new(["validate", &recipe]).run();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let c = backtest(dir.path(), &recipe);
    // The NYSE sessions of the recorded days, as `runner calendar` lists them.
    let cal = Run::new(["calendar", "--from", "2013-10-07", "--to", "2013-10-11"]).run();
    let session = Regex::new(r"^\d{4}-\d{2}-\d{2}\s+\w+\s+open\s").unwrap();
    let sessions = cal.stdout.lines().filter(|l| session.is_match(l)).count();
    assert_eq!(sessions, 5, "{}", cal.stdout);
    let candles = Regex::new(r#"<path class="candle (up|down)""#).unwrap().find_iter(&c.price).count();
    assert_eq!(candles, sessions);
    assert_eq!(texts(&c.price, "xlabel"), ["Oct 7, 2013", "Oct 8", "Oct 9", "Oct 10", "Oct 11"]);
    // No trade: equity never moves, and the chart still spans ±1 % of the starting equity.
    assert_eq!(c.deals, 0);
    assert!(data(&c.equity, "equity-panel", "data-lo-pct") <= -1.0);
    assert!(data(&c.equity, "equity-panel", "data-hi-pct") >= 1.0);
    assert!(
        texts(&c.equity, "pct").iter().any(|t| t == "+1.0%")
            && texts(&c.equity, "pct").iter().any(|t| t == "-1.0%")
    );
    // Longer than a session is refused, naming what is allowed.
    let weekly = variant(dir.path(), "spy-9ma-shares", &[("timeframe: 5m", "timeframe: 5d")]);
    let out = Run::new(["validate", &weekly]).run();
    assert_ne!(out.code, 0);
    assert!(out.stdout.contains("or 1d, one candle per trading session"), "{}", out.stdout);
}
