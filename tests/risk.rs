//! The risk gate end to end: `runner backtest` on small hand-made tick tapes
//! (tests/fixtures/risk/) with an external-signal recipe written per case, checking the trades,
//! the exit reasons and the "Denied orders" of the run report.

use crate::support::{Run, repo_root};

/// The broker extras of a case that does not test the account: the engine's default
/// equity, written out (`runner backtest` validates the recipe, and a paper broker needs it).
const EQUITY: &str = ", starting_equity: 100000";

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
        ("entry_size: 100, trailing_stop: 3%", "09:33:00", "100.8", "trailing stop"),
        ("entry_size: 100, stop_loss: 2%", "09:33:30", "97.5", "stop"),
    ];
    for (risk, time, price, reason) in cases {
        let o = run_case("exits.csv", &[("2013-10-08T09:31:00-04:00", "b")], EQUITY, risk, "15:55", "");
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
    // day 2 trades again after either halt (both last for the rest of the day).
    let signals = [
        ("2013-10-08T09:31:00-04:00", "b"),
        ("2013-10-08T10:00:00-04:00", "s"),
        ("2013-10-08T10:30:00-04:00", "b"),
        ("2013-10-09T09:31:00-04:00", "b"),
    ];
    for risk in ["entry_size: 100, daily_loss_limit: 300", "entry_size: 100, max_drawdown: 0.3%"] {
        let o = run_case("loss.csv", &signals, ", starting_equity: 100000", risk, "15:55", "");
        let first = &o.trades[0];
        assert_eq!(first[4], at("2013-10-08", "09:50:00"), "{risk}: flattened at the breach");
        assert_eq!((first[5].as_str(), first[7].as_str()), ("96.9", "halt"), "{risk}");
        let codes = o.denial_codes();
        assert_eq!(codes, ["halted", "halted"], "{risk}: {codes:?}");
        assert_eq!(o.trades.len(), 2, "{risk}: {:?}", o.trades);
        assert_eq!(o.trades[1][0], at("2013-10-09", "09:31:00"), "{risk}: active again the next day");
        assert!(o.stdout.contains("Denied orders (") && o.stdout.contains("halted"), "{}", o.stdout);
        assert_eq!(o.summary["denied_orders"], codes.len());
    }
}

#[test]
fn max_drawdown_halts_for_the_day_and_the_next_day_measures_from_its_start() {
    // 100,000 and 1 % max drawdown, long 100 shares on each day's 09:31 signal.
    // Day 1: the peak is 101,000 (at 110); 99.80 leaves 99,980 <= 99,990: halt, flatten.
    // Day 2 starts at 99,980, below the old peak's floor — measured from the old peak the agent
    // would halt again at the first print. The peak is re-based to 99,980: 95 (99,480) passes,
    // 101 makes a new peak 100,080, and 90 (98,980 <= 99,079.20) halts it for the rest of day 2.
    let signals = [
        ("2013-10-08T09:31:00-04:00", "b"),
        ("2013-10-08T10:30:00-04:00", "b"),
        ("2013-10-09T09:31:00-04:00", "b"),
        ("2013-10-09T11:30:00-04:00", "b"),
    ];
    let o = run_case(
        "drawdown.csv",
        &signals,
        ", starting_equity: 100000",
        "entry_size: 100, max_drawdown: 1%",
        "15:55",
        "",
    );
    let t: Vec<[&str; 4]> =
        o.trades.iter().map(|t| [t[0].as_str(), t[4].as_str(), t[5].as_str(), t[7].as_str()]).collect();
    assert_eq!(
        t,
        [
            [at("2013-10-08", "09:31:00").as_str(), &at("2013-10-08", "09:50:00"), "99.8", "halt"],
            [at("2013-10-09", "09:31:00").as_str(), &at("2013-10-09", "11:00:00"), "90", "halt"],
        ],
        "{}",
        o.stdout
    );
    // One refused entry after each day's halt, none on day 2's open.
    assert_eq!(o.denial_codes(), ["halted", "halted"]);
    let times: Vec<&str> =
        o.summary["denials"].as_array().unwrap().iter().map(|d| d["time"].as_str().unwrap()).collect();
    assert!(
        times[0].starts_with("2013-10-08T10:30") && times[1].starts_with("2013-10-09T11:30"),
        "{times:?}"
    );
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
        let o = run_case("rapid.csv", &signals, EQUITY, risk, "15:55", "");
        assert_eq!(o.denial_codes(), want, "{risk}: {}", o.stdout);
        assert_eq!(o.trades.len(), deals, "{risk}: {:?}", o.trades);
    }
}

#[test]
fn pdt_by_trading_date() {
    // One day trade a day (buy 09:31, flatten_at 09:45), four days running.
    let days13 = ["2013-10-07", "2013-10-08", "2013-10-09", "2013-10-10"];
    let days26 = ["2026-06-08", "2026-06-09", "2026-06-10", "2026-06-11"];
    // (tape, its days, starting equity, extra YAML, deals, denial codes)
    type Case<'a> = (&'a str, &'a [&'a str; 4], &'a str, &'a str, usize, &'a [&'a str]);
    let cases: [Case<'_>; 4] = [
        ("pdt-2013.csv", &days13, "10000", "", 3, &["pdt-limit"]),
        ("pdt-2013.csv", &days13, "30000", "", 4, &[]),
        // From 2026-06-04 intraday margin governs: 10,000 of equity covers 100 shares at 100.
        ("pdt-2026.csv", &days26, "10000", "", 4, &[]),
        // A recipe pinning the legacy rule keeps PDT.
        ("pdt-2026.csv", &days26, "10000", "compliance: {regime: legacy-pdt}\n", 3, &["pdt-limit"]),
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
    assert_eq!(codes, ["cash-account-short", "cash-account-short", "unsettled-funds"], "{}", o.stdout);
    let d = &o.summary["denials"][2];
    assert!(d["time"].as_str().unwrap().starts_with("2026-06-09T09:35"), "{d}");
    let entries: Vec<&str> = o.trades.iter().map(|t| t[0].as_str()).collect();
    assert_eq!(
        entries,
        [at("2026-06-09", "09:31:00"), at("2026-06-09", "09:33:00"), at("2026-06-10", "09:31:00")],
        "settled the next trading day (T+1)"
    );
}

/// The agent API the fleet uses: `Command::Halt`, `Agent::trading_state`, `Agent::day_trades`
/// and `Agent::restore_day_trades` (library level, hand-made prints).
mod agent_api {
    use runner::engine::agent::{AgentEvent, Command};
    use runner::market::event::MarketEvent;
    use runner::model::order::OrderEvent;
    use runner::risk::gate::TradingState;
    use runner::runtime::build;
    use runner::runtime::lockstep::Lockstep;
    use runner::strategy::{Direction, external_signal::ExternalEvent};
    use rust_decimal::Decimal;

    use crate::support::ts;

    fn trade(t: &str, p: &str) -> MarketEvent {
        crate::support::trade_input(t, p, Decimal::ONE_HUNDRED)
    }

    fn agent(orders: &str, buys: &[&str]) -> Lockstep {
        let y = format!(
            "version: 1\nagent: t\nprovider: {{kind: replay, path: x.csv}}\n\
             broker: {{kind: paper, account: p, starting_equity: 10000}}\n\
             instrument: {{underlying: SPY, kind: equity}}\n\
             algorithm: {{kind: external-signal, timeframe: 1m}}\n{orders}\
             risk: {{entry_size: 10}}\nsession: {{hours: regular, flatten_at: \"15:55\"}}\n"
        );
        let r = runner::recipe::from_yaml_str(&y).unwrap();
        let events = buys
            .iter()
            .map(|t| ExternalEvent { ts: ts(t), direction: Direction::Long, strength: 100 })
            .collect();
        let s = build::strategy(&r, runner::model::SymbolId(0), Some(events)).unwrap();
        crate::support::lockstep(&r, s)
    }

    #[test]
    fn halt_cancels_flattens_and_lasts_the_trading_day() {
        // A resting limit entry is canceled by the halt and never fills.
        let mut a = agent("orders: {type: limit, limit_offset_ticks: 50}\n", &["2013-10-08T10:00:00-04:00"]);
        let mut canceled = 0;
        let mut sink = |e: &AgentEvent| {
            if let AgentEvent::Order(OrderEvent::Canceled { .. }) = e {
                canceled += 1;
            }
        };
        a.market(trade("2013-10-08T10:00:00-04:00", "100"), &mut sink);
        assert!(a.agent().has_orders() && a.venue().has_working_orders(), "limit 99.50 rests");
        a.command(Command::Halt { reason: "fleet daily loss".into() }, &mut sink);
        a.market(trade("2013-10-08T10:01:00-04:00", "99"), &mut sink);
        assert_eq!(canceled, 1);
        assert_eq!(a.agent().trading_state(), TradingState::Halted);
        assert!(a.agent().position_qty().is_zero());

        // A filled position is flattened (exit reason `halt`); entries are refused that day and
        // pass again the next trading day.
        let days = ["2013-10-08T10:00:00-04:00", "2013-10-08T11:00:00-04:00", "2013-10-09T10:00:00-04:00"];
        let mut a = agent("", &days);
        let mut denied = Vec::new();
        let mut sink = |e: &AgentEvent| {
            if let AgentEvent::Denied(d) = e {
                denied.push((d.order.ts, d.reason.code()));
            }
        };
        a.market(trade(days[0], "100"), &mut sink);
        assert_eq!(a.agent().position_qty(), Decimal::TEN);
        a.command(Command::Halt { reason: "kill switch".into() }, &mut sink);
        assert!(a.agent().position_qty().is_zero(), "flattened");
        a.market(trade(days[1], "101"), &mut sink);
        assert_eq!(a.agent().trading_state(), TradingState::Halted);
        a.market(trade(days[2], "102"), &mut sink);
        assert_eq!(a.agent().trading_state(), TradingState::Active);
        assert_eq!(a.agent().position_qty(), Decimal::TEN, "the next day trades again");
        assert_eq!(denied, [(ts(days[1]), "halted")]);
        // Bought and sold on 2013-10-08: one day trade, which a new agent can restore.
        let trades = a.agent().day_trades();
        assert_eq!(trades.len(), 1);
        assert_eq!(trades[0].date.to_string(), "2013-10-08");
        a.command(Command::Shutdown, &mut |_| {});
        let csv = a.into_agent().into_report().trades_csv();
        assert_eq!(csv.lines().nth(1).unwrap().rsplit(',').next(), Some("halt"), "{csv}");
        let mut b = agent("", &[]);
        b.parts_mut().0.restore_day_trades(&trades);
        assert_eq!(b.agent().day_trades(), trades);

        // A halt before the first price covers the day of that price.
        let mut c = agent("", &days[1..]);
        c.command(Command::Halt { reason: "before the open".into() }, &mut |_| {});
        c.market(trade(days[1], "101"), &mut |_| {});
        assert_eq!(c.agent().trading_state(), TradingState::Halted);
        assert!(c.agent().position_qty().is_zero());
        c.market(trade(days[2], "102"), &mut |_| {});
        assert_eq!(c.agent().position_qty(), Decimal::TEN);
    }
}

#[test]
fn option_day_trades_count_for_pdt() {
    // The options recipe with 10,000 of equity on the repo's 2013 SPY data: every bought and
    // sold contract the same day is a day trade (each OCC symbol its own security); after three,
    // openings are refused.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_root().join("recipes/spy-9ma.yaml")).unwrap();
    let data = repo_root().join("data/");
    let text = text
        .replace("starting_equity: 50000", "starting_equity: 10000")
        .replace("path: ../data/", &format!("path: {}", data.display()))
        .replace("allocation: 25000", "allocation: 5000")
        .replace("daily_loss_limit: 1000", "daily_loss_limit: 500");
    assert!(text.contains("starting_equity: 10000") && text.contains("kind: option"), "{text}");
    let path = dir.path().join("spy-opt.yaml");
    std::fs::write(&path, text).unwrap();
    let out = dir.path().join("run");
    let db = dir.path().join("j.db");
    let r = Run::new(["backtest", path.to_str().unwrap(), "--report-dir", out.to_str().unwrap()])
        .args(["--journal", db.to_str().unwrap()])
        .run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let deals = std::fs::read_to_string(out.join("deals.csv")).unwrap();
    let rows: Vec<Vec<&str>> = deals.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "{deals}");
    for row in &rows {
        assert!(row[1].starts_with("SPY   1310"), "an option: {row:?}");
        assert_eq!((&row[4][..10], &row[7][..10]), ("2013-10-07", "2013-10-07"), "a day trade: {row:?}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let denials = summary["denials"].as_array().unwrap();
    assert!(!denials.is_empty());
    for d in denials {
        assert_eq!(d["code"], "pdt-limit", "{d}");
        assert!(d["message"].as_str().unwrap().contains("3 day trades"), "{d}");
        // The refused opening names the contract it would have bought.
        let occ = d["instrument"].as_str().unwrap();
        assert!(occ.starts_with("SPY   1310") && occ.len() == 21, "{d}");
        assert!(
            r.stdout
                .lines()
                .any(|l| l.contains(&runner::report::instrument_text(occ)) && l.contains("pdt-limit")),
            "the Denied orders table shows {occ}:\n{}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("Denied orders (") && r.stdout.contains("pdt-limit"), "{}", r.stdout);

    // The journal names every contract by its OCC symbol: fills, positions, day trades, denials.
    let c = rusqlite::Connection::open(&db).unwrap();
    let column = |sql: &str| -> Vec<String> {
        let mut st = c.prepare(sql).unwrap();
        st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let fills = column("SELECT instrument FROM fills ORDER BY audit_seq");
    let want: Vec<String> = rows.iter().flat_map(|r| [r[1].to_owned(), r[1].to_owned()]).collect();
    assert_eq!(fills, want, "each deal's entry and exit fill carry its contract");
    assert_eq!(
        column("SELECT instrument FROM day_trades ORDER BY audit_seq"),
        rows.iter().map(|r| r[1].to_owned()).collect::<Vec<_>>()
    );
    let positions =
        column("SELECT DISTINCT instrument FROM positions UNION SELECT DISTINCT instrument FROM orders");
    assert!(positions.iter().all(|i| i.starts_with("SPY   1310")), "{positions:?}");
    let journaled_denials = column("SELECT instrument FROM denials ORDER BY audit_seq");
    let reported: Vec<String> =
        denials.iter().map(|d| d["instrument"].as_str().unwrap().to_owned()).collect();
    assert_eq!(journaled_denials, reported);
    // And the journal's commands show them.
    let db = db.to_str().unwrap();
    let trades = Run::new(["journal", "--db", db, "trades"]).run().success();
    // In the one spelling every table uses (`SPY 131019C00168000`).
    let shown = runner::risk::text::instrument(rows[0][1]);
    assert!(trades.stdout.contains(&format!("{shown}  buy")), "{}", trades.stdout);
    assert!(!trades.stdout.contains("SPY option"), "{}", trades.stdout);
    // A backtest's day trades are its own simulated account's: the gate's count leaves them out,
    // `--run` shows them.
    let dts = Run::new(["journal", "--db", db, "day-trades", "--date", "2013-10-07"]).run().success();
    assert!(dts.stdout.contains("not counted: 3 of backtest runs"), "{}", dts.stdout);
    let run_id =
        r.stdout.split("journal run ").nth(1).and_then(|t| t.split([':', '\n', ' ']).next()).unwrap();
    let dts = Run::new(["journal", "--db", db, "day-trades", "--date", "2013-10-07", "--run", run_id])
        .run()
        .success();
    let spelled = |occ: &str| runner::risk::text::instrument(occ);
    assert!(
        dts.stdout.contains("3 day trade(s)") && dts.stdout.contains(&spelled(rows[2][1])),
        "{}",
        dts.stdout
    );
    let den = Run::new(["journal", "--db", db, "denials"]).run().success();
    assert!(den.stdout.contains(&format!("{}  buy", spelled(&reported[0]))), "{}", den.stdout);
}
