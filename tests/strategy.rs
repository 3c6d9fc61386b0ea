//! Strategy behaviour through the real agent loop (library API, hand-made trades):
//! boundary-stamped trades, session and flatten rules, external signals from a file.

use runner::engine::agent::{AgentEvent, Command};
use runner::market::event::MarketEvent;
use runner::model::{SymbolId, Timestamp};
use runner::runtime::build;
use runner::strategy::{Direction, external_signal};
use rust_decimal::Decimal;

fn recipe(extra_algo: &str, kind: &str) -> runner::recipe::Recipe {
    let y = format!(
        "version: 1\nagent: t\nprovider: {{kind: replay, path: x.csv}}\n\
         broker: {{kind: paper, account: p, starting_equity: 100000}}\n\
         instrument: {{underlying: SPY, kind: equity}}\n\
         algorithm: {{kind: {kind}, timeframe: 1m{extra_algo}}}\n\
         risk: {{entry_size: 10}}\nsession: {{hours: regular, flatten_at: \"15:55\"}}\n"
    );
    runner::recipe::from_yaml_str(&y).expect("test recipe")
}

use crate::support::ts;

fn trade(t: &str, p: &str) -> MarketEvent {
    crate::support::trade_input(t, p, Decimal::ONE)
}

/// Run inputs through an agent; return (signal time, direction) and the trades CSV.
fn run(
    r: &runner::recipe::Recipe,
    signals: Option<Vec<external_signal::ExternalEvent>>,
    inputs: Vec<MarketEvent>,
) -> (Vec<(Timestamp, Direction)>, String) {
    let s = build::strategy(r, SymbolId(0), signals).unwrap();
    let mut run = crate::support::lockstep(r, s);
    let mut sigs = Vec::new();
    let mut sink = |e: &AgentEvent| {
        if let AgentEvent::Signal(s) = e {
            sigs.push((s.ts, s.direction));
        }
    };
    for i in inputs {
        run.market(i, &mut sink);
    }
    run.command(Command::Shutdown, &mut sink);
    (sigs, run.into_agent().into_report().trades_csv())
}

/// Candles of 1 minute closing 100, 100, 101 (N = 2, K = 1): the third close crosses up.
fn cross_up_inputs() -> Vec<MarketEvent> {
    vec![
        trade("2013-10-07T10:00:00-04:00", "100"),
        trade("2013-10-07T10:01:00-04:00", "100"),
        trade("2013-10-07T10:02:00-04:00", "100.5"),
        trade("2013-10-07T10:02:30-04:00", "101"),
    ]
}

#[test]
fn boundary_stamped_trade_sees_the_completed_candle_first() {
    let r = recipe(", ma_period: 2, breakout_lookback: 1", "ma-cross-breakout");
    let mut inputs = cross_up_inputs();
    // Exactly on the 10:03 boundary: candle 10:02 (high 101) completes and arms long
    // before this trade is looked at, so 101.01 breaks out at once.
    inputs.push(trade("2013-10-07T10:03:00-04:00", "101.01"));
    let (sigs, csv) = run(&r, None, inputs);
    assert_eq!(sigs, vec![(ts("2013-10-07T10:03:00-04:00"), Direction::Long)]);
    // Held to the shutdown at the last price.
    assert!(csv.contains("2013-10-07T10:03:00.000-04:00,long,10,101.01,"), "{csv}");
}

#[test]
fn a_trade_one_tick_before_the_boundary_is_part_of_the_old_candle() {
    let r = recipe(", ma_period: 2, breakout_lookback: 1", "ma-cross-breakout");
    let mut inputs = cross_up_inputs();
    inputs.push(trade("2013-10-07T10:02:59.999-04:00", "101.01"));
    inputs.push(trade("2013-10-07T10:03:00-04:00", "101.01"));
    let (sigs, _) = run(&r, None, inputs);
    assert!(sigs.is_empty(), "101.01 is the candle's own high, not a breakout: {sigs:?}");
}

#[test]
fn flatten_at_closes_and_blocks_entries_and_arming_persists_overnight() {
    let r = recipe(", ma_period: 2, breakout_lookback: 1", "ma-cross-breakout");
    let inputs = vec![
        trade("2013-10-07T15:50:00-04:00", "100"),
        trade("2013-10-07T15:51:00-04:00", "100"),
        trade("2013-10-07T15:52:00-04:00", "101"),
        trade("2013-10-07T15:53:00-04:00", "101.5"), // arms at 15:53, breaks out → long
        trade("2013-10-07T15:55:00-04:00", "101.6"), // flatten
        trade("2013-10-07T15:56:00-04:00", "103"),
        // Overnight: out of session, nothing happens.
        trade("2013-10-08T09:00:00-04:00", "104"),
    ];
    let (sigs, csv) = run(&r, None, inputs);
    assert_eq!(sigs.len(), 1, "{sigs:?}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].ends_with(",101.6,1,session end"), "{csv}");
}

#[test]
fn external_signals_from_a_file_drive_entries_and_reversals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nvda.csv");
    std::fs::write(
        &path,
        "timestamp,ticker,direction\n2013-10-07T10:00:30-04:00,SPY,b\n2013-10-07T10:05:00-04:00,SPY,s\n2013-10-07T10:06:00-04:00,QQQ,b\n",
    )
    .unwrap();
    let events = external_signal::read_signal_file(&path, "SPY").unwrap();
    assert_eq!(events.len(), 2);
    let r = recipe("", "external-signal");
    let inputs = vec![
        trade("2013-10-07T10:00:00-04:00", "100"),
        trade("2013-10-07T10:01:00-04:00", "100.2"),
        trade("2013-10-07T10:05:00-04:00", "100.7"),
        trade("2013-10-07T10:09:00-04:00", "100.1"),
    ];
    let (sigs, csv) = run(&r, Some(events), inputs);
    assert_eq!(
        sigs,
        vec![
            (ts("2013-10-07T10:01:00-04:00"), Direction::Long),
            (ts("2013-10-07T10:05:00-04:00"), Direction::Short)
        ]
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[1].starts_with(
            "2013-10-07T10:01:00.000-04:00,long,10,100.2,2013-10-07T10:05:00.000-04:00,100.7,5,signal"
        ),
        "{csv}"
    );
    assert!(lines[2].starts_with("2013-10-07T10:05:00.000-04:00,short,10,100.7,"), "{csv}");
}

#[test]
fn stop_loss_and_take_profit_close_with_their_reasons() {
    let y = "version: 1\nagent: t\nprovider: {kind: replay, path: x.csv}\n\
             broker: {kind: paper, account: p, starting_equity: 100000}\n\
             instrument: {underlying: SPY, kind: equity}\n\
             algorithm: {kind: ma-cross-breakout, timeframe: 1m, ma_period: 2, breakout_lookback: 1}\n\
             risk: {entry_size: 10, stop_loss: 1%, take_profit: 2%}\nsession: {hours: regular}\n";
    let r = runner::recipe::from_yaml_str(y).unwrap();
    let mut inputs = cross_up_inputs();
    inputs.push(trade("2013-10-07T10:03:00-04:00", "101.01")); // long 10 @ 101.01
    inputs.push(trade("2013-10-07T10:03:30-04:00", "100.01")); // −0.99 %: held
    inputs.push(trade("2013-10-07T10:03:40-04:00", "99.99")); // −1.01 %: stop
    let (_, csv) = run(&r, None, inputs);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].ends_with(",99.99,-10.2,stop"), "{csv}");

    let mut inputs = cross_up_inputs();
    inputs.push(trade("2013-10-07T10:03:00-04:00", "101.01"));
    inputs.push(trade("2013-10-07T10:03:30-04:00", "103.04")); // +2.01 %: target
    let (_, csv) = run(&r, None, inputs);
    assert!(csv.lines().nth(1).unwrap().ends_with(",103.04,20.3,target"), "{csv}");
}

#[test]
fn target_position_trades_only_outside_the_tolerance_band() {
    let r = recipe(", ma_period: 2, tolerance: 20%", "target-position");
    // allocation defaults to the starting equity (100 000); prices near 100 → 1 000 shares = 100 %.
    let inputs = vec![
        trade("2013-10-07T10:00:00-04:00", "100"),
        trade("2013-10-07T10:00:30-04:00", "102"),
        trade("2013-10-07T10:01:00-04:00", "101"), // candle 10:00: h 102 l 100 c 102
        trade("2013-10-07T10:02:00-04:00", "101"), // candle 10:01: c 101 → range 100..102, s = 50 → target 0
        trade("2013-10-07T10:02:10-04:00", "101.5"),
        trade("2013-10-07T10:02:20-04:00", "102"),
        trade("2013-10-07T10:03:00-04:00", "102"), // candle 10:02: c 102, range 101..102 → s = 100 → +100 %
        trade("2013-10-07T10:04:00-04:00", "101.9"), // candle 10:03: c 102, range 101..102 → s = 100, within band
    ];
    let (sigs, csv) = run(&r, None, inputs);
    let one = Direction::Target(Decimal::ONE);
    let zero = Direction::Target(Decimal::ZERO);
    let dirs: Vec<Direction> = sigs.iter().map(|(_, d)| *d).collect();
    assert_eq!(dirs, vec![zero, one, one], "{sigs:?}");
    // Target 0 when flat: nothing. +100 % at 102: buy trunc(100 000 / 102) = 980. The next +100 %
    // at 101.9 wants 981, one share away, inside the 20 % band: no order. Shutdown closes it.
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].starts_with("2013-10-07T10:03:00.000-04:00,long,980,102,"), "{csv}");
    assert!(lines[1].ends_with(",shutdown"), "{csv}");
}
