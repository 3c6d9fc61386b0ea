//! Market data: replay of the repo's recorded data, candles, and `runner candles`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use runner::engine::agent::{AgentEvent, Command};
use runner::market::band::PriceBandConfig;
use runner::market::candles::build_all;
use runner::market::csv::{CsvKind, CsvOptions, MarketDataError, parse_timestamp, read_all};
use runner::market::event::{Candle, MarketEvent};
use runner::market::replay::{BarTradePolicy, BarTradeTiming, Replay, ReplayOptions, SyntheticTrades};
use runner::market::session::{SessionHours, Window, local_instant};
use runner::model::{NEW_YORK, SymbolId, Timestamp};
use runner::runtime::run::{self, DateRange};
use rust_decimal::Decimal;

use crate::support::{Run, repo_root};

fn data(name: &str) -> PathBuf {
    repo_root().join("data").join(name)
}

fn replay(paths: &[PathBuf]) -> Vec<MarketEvent> {
    Replay::from_files(paths, &ReplayOptions::default()).expect("open").load_all().expect("read")
}

fn ny(s: &str) -> Timestamp {
    parse_timestamp(format!("{s}-04:00").as_bytes()).unwrap()
}

/// The session of `runner candles --session NAME` (and of a recipe's `session.hours: NAME`).
fn hours(name: &str) -> SessionHours {
    SessionHours { window: name.parse::<Window>().unwrap(), flatten_at: None }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Lean's minute file vs minute candles built by `CandleBuilder` from Lean's second file.
///
/// Lean's two files are not fully consistent, so the comparison pins down exactly how they
/// differ: high, low and close agree on every minute; the open differs only at 09:30 on
/// 2013-10-09 and 2013-10-10, where the second file lacks the opening print; volume differs in
/// a few runs of adjacent minutes where Lean's second file filed prints near a minute boundary
/// in the neighbouring minute, so every such run sums to zero — except those two 09:30 minutes.
#[test]
fn one_minute_candles_from_lean_seconds_reproduce_lean_minutes() {
    let seconds = replay(&[data("spy-1s-trade-2013-10-07_11.csv.gz")]);
    let minutes = replay(&[data("spy-1m-trade-2013-10-07_11.csv.gz")]);
    let built = build_all(seconds, SymbolId(0), "1m".parse().unwrap(), hours("extended"));
    let lean: Vec<_> = minutes
        .iter()
        .map(|e| match e {
            MarketEvent::Bar(b) => *b,
            other => panic!("not a bar: {other:?}"),
        })
        .collect();
    assert_eq!(built.len(), lean.len());
    assert_eq!(built.len(), 4128);
    let opening_gaps = [ny("2013-10-09T09:30:00"), ny("2013-10-10T09:30:00")];
    let mut open_mismatch = vec![];
    let mut vol_diff: Vec<Decimal> = vec![];
    for (c, b) in built.iter().zip(&lean) {
        assert_eq!(c.start, b.ts);
        assert_eq!(c.end.0 - c.start.0, 60 * Timestamp::NANOS_PER_SEC);
        assert_eq!((c.high, c.low, c.close), (b.high, b.low, b.close), "minute {}", b.ts);
        if c.open != b.open {
            open_mismatch.push(b.ts);
        }
        vol_diff.push(c.volume - b.volume);
    }
    assert_eq!(open_mismatch, opening_gaps);
    let equal_volume = vol_diff.iter().filter(|d| d.is_zero()).count();
    assert!(equal_volume > 3900, "only {equal_volume} minutes with equal volume");
    // Runs of consecutive minutes with a volume difference each sum to zero.
    let mut i = 0;
    while i < vol_diff.len() {
        if vol_diff[i].is_zero() {
            i += 1;
            continue;
        }
        if opening_gaps.contains(&lean[i].ts) {
            assert!(vol_diff[i] < Decimal::ZERO, "opening print missing from the second file");
            i += 1;
            continue;
        }
        let start = i;
        let mut sum = Decimal::ZERO;
        while i < vol_diff.len() && !vol_diff[i].is_zero() && !opening_gaps.contains(&lean[i].ts) {
            sum += vol_diff[i];
            i += 1;
        }
        assert!(sum.is_zero(), "volume moved out of the run starting {}: {sum}", lean[start].ts);
    }
}

/// Bars → synthetic trades → candles gives the same candles as rolling the bars up directly.
#[test]
fn synthetic_trades_from_second_bars_build_the_same_candles() {
    let path = data("spy-1s-trade-2013-10-07_11.csv.gz");
    let opts = ReplayOptions { to: Some(ny("2013-10-08T00:00:00")), ..ReplayOptions::default() };
    let cal = hours("regular");
    for timing in [BarTradeTiming::Spread, BarTradeTiming::AtStart] {
        let bars = Replay::from_files(std::slice::from_ref(&path), &opts).unwrap();
        let direct = build_all(bars.map(Result::unwrap), SymbolId(0), "5m".parse().unwrap(), cal);
        let bars = Replay::from_files(std::slice::from_ref(&path), &opts).unwrap();
        let trades: Vec<_> =
            SyntheticTrades::new(bars, BarTradePolicy { timing }).map(Result::unwrap).collect();
        assert!(trades.iter().all(|e| matches!(e, MarketEvent::Trade(_))));
        assert!(trades.windows(2).all(|w| w[0].ts() <= w[1].ts()), "synthetic trades stay in time order");
        let via_trades = build_all(trades, SymbolId(0), "5m".parse().unwrap(), cal);
        assert_eq!(direct.len(), 78);
        assert_eq!(direct, via_trades, "{timing:?}");
    }
}

/// Rows of a tick file, counted here from its text: (all rows, rows flagged suspicious, other rows
/// whose sale condition does not set the last sale price — cash 1, next day 2, seller 3, out of
/// sequence 14, average price 20, prior reference price 25, odd lot 31, Lean's flag bits).
fn tick_rows(path: &Path) -> (usize, usize, usize) {
    let text =
        std::io::read_to_string(flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())).unwrap();
    let not_last_sale = [1, 2, 3, 14, 20, 25, 31].iter().fold(0u64, |m, b| m | (1 << b));
    let (mut all, mut suspicious, mut skipped) = (0, 0, 0);
    for row in text.lines().skip(1) {
        let f: Vec<&str> = row.split(',').collect();
        all += 1;
        if f[5] != "0" {
            suspicious += 1;
        } else if u64::from_str_radix(f[4], 16).unwrap() & not_last_sale != 0 {
            skipped += 1;
        }
    }
    (all, suspicious, skipped)
}

/// Prints that do not set the last sale price are skipped unless asked for; the off-market print
/// of 2013-10-08 15:03:04 (an average-price report at 167.51, SPY near 165.98) is one of them.
#[test]
fn prints_that_do_not_set_the_last_price_are_skipped_by_default() {
    let path = data("spy-ticks/spy_ticks_20131008.csv.gz");
    let (all, suspicious, skipped) = tick_rows(&path);
    assert!(skipped > 0 && suspicious == 0, "{skipped} {suspicious}");
    let default = read_all(&path, &CsvOptions::default()).unwrap();
    let every = read_all(&path, &CsvOptions { all_prints: true, ..CsvOptions::default() }).unwrap();
    assert_eq!((default.len(), every.len()), (all - skipped, all));
    let off_market = |events: &[MarketEvent]| {
        events.iter().any(|e| {
            matches!(e, MarketEvent::Trade(t) if t.price == Decimal::new(16751, 2)
            && t.size == Decimal::from(601_349))
        })
    };
    assert!(!off_market(&default) && off_market(&every));
    // The same through `runner candles`: the 15:00 candle's high with and without it.
    let high = |extra: &[&str]| {
        let mut args =
            vec!["candles", "data/spy-ticks/spy_ticks_20131008.csv.gz", "-t", "5m", "--format", "csv"];
        args.extend_from_slice(extra);
        let out = Run::new(args).run().success().stdout;
        let row =
            out.lines().find(|l| l.starts_with("2013-10-08T15:00:00")).expect("15:00 candle").to_owned();
        row.split(',').nth(3).expect("high").to_owned()
    };
    assert_eq!(high(&["--all-prints", "--price-band", "off"]), "167.51");
    assert_eq!(high(&["--price-band", "off"]), "166.04");
    // A malformed condition is an error naming the file and line, not a silent keep or skip.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "timestamp,price,size,exchange,sale_condition,suspicious\n2013-10-08T10:00:00.000-04:00,166,100,P,zz,0\n",
    )
    .unwrap();
    let err = read_all(&bad, &CsvOptions::default()).unwrap_err().to_string();
    assert!(err.contains("bad.csv:2") && err.contains("sale_condition"), "{err}");
}

/// Candles from ticks equal a plain group-by of the same ticks (computed here independently).
#[test]
fn tick_candles_equal_a_plain_group_by() {
    let path = data("spy-ticks/spy_ticks_20131007.csv.gz");
    let events = read_all(&path, &CsvOptions::default()).unwrap();
    let (all, suspicious, skipped) = tick_rows(&path);
    assert_eq!(events.len(), all - suspicious - skipped);
    let candles = build_all(events.iter().copied(), SymbolId(0), "5m".parse().unwrap(), hours("regular"));
    let mut groups: BTreeMap<i64, Vec<(Decimal, Decimal)>> = BTreeMap::new();
    for e in &events {
        let MarketEvent::Trade(t) = e else { panic!("not a trade") };
        let local = t.ts.to_new_york();
        let mins = chrono::Timelike::hour(&local) * 60 + chrono::Timelike::minute(&local);
        if (570..960).contains(&mins) {
            let bucket_min = mins - mins % 5;
            let key = local_instant(local.date_naive(), bucket_min * 60, NEW_YORK).unwrap().0;
            groups.entry(key).or_default().push((t.price, t.size));
        }
    }
    assert_eq!(candles.len(), groups.len());
    for (c, (start, prints)) in candles.iter().zip(&groups) {
        assert_eq!(c.start.0, *start);
        assert_eq!(c.open, prints[0].0);
        assert_eq!(c.close, prints[prints.len() - 1].0);
        assert_eq!(c.high, prints.iter().map(|p| p.0).max().unwrap());
        assert_eq!(c.low, prints.iter().map(|p| p.0).min().unwrap());
        assert_eq!(c.volume, prints.iter().map(|p| p.1).sum::<Decimal>());
    }
}

#[test]
fn glob_and_directory_merge_files_in_time_order() {
    let glob = repo_root().join("data/spy-ticks/spy_ticks_2013100[78].csv.gz");
    let r = Replay::open(glob.to_str().unwrap(), &ReplayOptions::default()).unwrap();
    assert_eq!(r.kinds(), [CsvKind::Ticks, CsvKind::Ticks]);
    let mut n = 0usize;
    let mut last = Timestamp(i64::MIN);
    for e in r {
        let e = e.unwrap();
        assert!(e.ts() >= last);
        last = e.ts();
        n += 1;
    }
    let count = |day: &str| {
        let (all, suspicious, skipped) = tick_rows(&data(&format!("spy-ticks/spy_ticks_201310{day}.csv.gz")));
        all - suspicious - skipped
    };
    assert_eq!(n, count("07") + count("08"));

    // Interleaved files with equal timestamps: ties keep file order, then row order.
    let dir = tempfile::tempdir().unwrap();
    let h = "timestamp,price,size,exchange,sale_condition,suspicious\n";
    write(
        dir.path(),
        "a.csv",
        &format!("{h}2013-10-07T09:30:00.000-04:00,1,1,P,0,0\n2013-10-07T09:30:02.000-04:00,3,1,P,0,0\n"),
    );
    write(
        dir.path(),
        "b.csv",
        &format!(
            "{h}2013-10-07T09:30:00.000-04:00,2,1,P,0,0\n2013-10-07T09:30:01.000-04:00,4,1,P,0,0\n2013-10-07T09:30:02.000-04:00,5,1,P,0,1\n"
        ),
    );
    write(dir.path(), "notes.txt", "ignored");
    let prices: Vec<String> = Replay::open(dir.path().to_str().unwrap(), &ReplayOptions::default())
        .unwrap()
        .map(|e| match e.unwrap() {
            MarketEvent::Trade(t) => t.price.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(prices, ["1", "2", "4", "3"], "suspicious print skipped, ties stable");
}

#[test]
fn quote_bars_become_quotes_at_bar_end() {
    let q = read_all(data("spy-1m-quote-2013-10-07_11.csv.gz"), &CsvOptions::default()).unwrap();
    assert_eq!(q.len(), 4557);
    let MarketEvent::Quote(first) = q[0] else { panic!("not a quote") };
    assert_eq!(first.ts, ny("2013-10-07T04:01:00"), "04:00 bar known at 04:01");
    assert!(first.bid < first.ask);
    let coin = read_all(data("coinbase-btcusd-1m-trade.csv.gz"), &CsvOptions::default()).unwrap();
    assert_eq!(coin.len(), 12_423);
    let MarketEvent::Bar(b) = coin[0] else { panic!("not a bar") };
    assert_eq!((b.duration_nanos, b.open.to_string()), (60 * Timestamp::NANOS_PER_SEC, "611.78".into()));
}

#[test]
fn bad_input_is_an_error_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let h = "timestamp,open,high,low,close,volume\n";
    let ok = "2013-10-07T09:30:00.000-04:00,1,2,0.5,1.5,10\n";
    let cases = [
        (
            "x-1m-a.csv",
            format!("{h}{ok}2013-10-07T09:31:00.000-04:00,1,2,0.5,abc,10\n"),
            ":3:39: bad close: expected a decimal number greater than 0",
        ),
        ("x-1m-b.csv", format!("{h}{ok}2013-10-07T09:31:00.000,1,2,0.5,1,10\n"), ":3:1: bad timestamp"),
        ("x-1m-c.csv", format!("{h}{ok}2013-10-07T09:31:00.000-04:00,1,2\n"), ":3:34: expected 6 fields"),
        (
            "x-1m-d.csv",
            format!("{h}{ok}2013-10-07T09:29:00.000-04:00,1,2,0.5,1,10\n"),
            ":3:1: row is earlier",
        ),
        ("x-1m-e.csv", format!("{h}2013-10-07T09:31:00.000-04:00,1,2,3,1,10\n"), ":2:31: inconsistent bar"),
        (
            "x-1m-f.csv",
            "when,what\n1,2\n".to_owned(),
            ":1:1: not a market-data header (no `timestamp` column)",
        ),
        ("x-1m-g.csv", String::new(), ":1:1: empty file"),
        ("x-1m-h.csv", "timestamp,foo\n".to_owned(), ":1:1: unknown header"),
        ("nolength.csv", format!("{h}{ok}"), "cannot tell the bar length"),
    ];
    for (name, text, want) in cases {
        let p = write(dir.path(), name, &text);
        let err = Replay::open(p.to_str().unwrap(), &ReplayOptions::default())
            .and_then(Replay::load_all)
            .expect_err(name);
        let msg = err.to_string();
        assert!(msg.contains(want), "{name}: {msg}");
        if !matches!(err, MarketDataError::Invalid(_)) {
            assert!(msg.contains(name), "{name}: {msg}");
        }
    }
    // Gzip is detected from the content, not the name; a truncated gzip is an I/O error.
    let gz = std::fs::read(data("spy-1m-trade-2013-10-07_11.csv.gz")).unwrap();
    let p = dir.path().join("cut-1m.csv");
    std::fs::File::create(&p).unwrap().write_all(&gz[..gz.len() / 2]).unwrap();
    let err = Replay::open(p.to_str().unwrap(), &ReplayOptions::default()).unwrap().load_all().unwrap_err();
    assert!(matches!(err, MarketDataError::Io { .. }), "{err}");
    assert!(Replay::open("no/such/file.csv", &ReplayOptions::default()).is_err());
    assert!(Replay::open(dir.path().join("*.nothing").to_str().unwrap(), &ReplayOptions::default()).is_err());
}

/// `(start, end)` of each CSV row, as `HH:MM` New York time, for the rows of `date`.
fn spans(csv: &str, date: &str) -> Vec<(String, String)> {
    csv.lines()
        .skip(1)
        .filter(|l| l.starts_with(date))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0][11..16].to_owned(), f[1][11..16].to_owned())
        })
        .collect()
}

fn owned(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

/// The NYSE calendar decides the sessions: no candles on Thanksgiving, and the day after
/// closes at 13:00 (17:00 extended), cutting the last candle. 90-minute buckets lie on the
/// grid from midnight, so the first of a day is labelled 09:00 and holds 09:30–10:30.
#[test]
fn holidays_and_early_closes_come_from_the_nyse_calendar() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("timestamp,price,size,exchange,sale_condition,suspicious\n");
    for day in ["2013-11-27", "2013-11-28", "2013-11-29"] {
        for m in (8 * 60..18 * 60).step_by(10) {
            let price = Decimal::from(100 + m % 7);
            text.push_str(&format!("{day}T{:02}:{:02}:00.000-05:00,{price},1,P,0,0\n", m / 60, m % 60));
        }
    }
    write(dir.path(), "thanksgiving.csv", &text);
    let regular =
        Run::new(["candles", "thanksgiving.csv", "-t", "90m", "-f", "csv"]).dir(dir.path()).run().success();
    assert_eq!(
        spans(&regular.stdout, "2013-11-27"),
        owned(&[
            ("09:00", "10:30"),
            ("10:30", "12:00"),
            ("12:00", "13:30"),
            ("13:30", "15:00"),
            ("15:00", "16:00")
        ])
    );
    assert!(spans(&regular.stdout, "2013-11-28").is_empty(), "{}", regular.stdout);
    assert_eq!(
        spans(&regular.stdout, "2013-11-29"),
        owned(&[("09:00", "10:30"), ("10:30", "12:00"), ("12:00", "13:00")])
    );
    // The first candle's open is the first print inside the session (09:30), its volume the
    // prints of 09:30–10:20.
    let first: Vec<&str> = regular.stdout.lines().nth(1).unwrap().split(',').collect();
    assert_eq!((first[2], first[6]), ((100 + (9 * 60 + 30) % 7).to_string().as_str(), "6"));
    let extended = Run::new(["candles", "thanksgiving.csv", "-t", "4h", "-s", "extended", "-f", "csv"])
        .dir(dir.path())
        .run()
        .success();
    assert_eq!(
        spans(&extended.stdout, "2013-11-29"),
        owned(&[("08:00", "12:00"), ("12:00", "16:00"), ("16:00", "17:00")])
    );
    assert!(spans(&extended.stdout, "2013-11-28").is_empty());
    let window = Run::new(["candles", "thanksgiving.csv", "-t", "1h", "-s", "10:15-15:00", "-f", "csv"])
        .dir(dir.path())
        .run()
        .success();
    assert_eq!(
        spans(&window.stdout, "2013-11-29"),
        owned(&[("10:00", "11:00"), ("11:00", "12:00"), ("12:00", "13:00")])
    );
    let full = Run::new(["candles", "thanksgiving.csv", "-t", "4h", "-s", "full", "-f", "csv"])
        .dir(dir.path())
        .run()
        .success();
    // 24x7 days are UTC days: 4-hour candles start at 00, 04, … UTC (07:00, 11:00, … New York
    // in November).
    assert_eq!(
        spans(&full.stdout, "2013-11-28"),
        owned(&[("07:00", "11:00"), ("11:00", "15:00"), ("15:00", "19:00")])
    );
    // --tz changes how times print, not the grid the engine uses.
    let utc = Run::new(["candles", "thanksgiving.csv", "-t", "4h", "-s", "full", "-f", "csv", "--tz", "UTC"])
        .dir(dir.path())
        .run()
        .success();
    assert_eq!(utc.stdout.lines().count(), full.stdout.lines().count());
    assert!(
        full.stdout
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("2013-11-27T07:00:00-05:00,2013-11-27T11:00:00-05:00,")
    );
    assert!(
        utc.stdout
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("2013-11-27T12:00:00+00:00,2013-11-27T16:00:00+00:00,")
    );
}

/// `runner candles` prints exactly the candles the engine's strategy sees: each recipe is run
/// through the real agent loop (its `AgentEvent::Candle`s are what `Strategy::on_candle` got)
/// and compared with the command's CSV for the same data, timeframe, session and style.
#[test]
fn candles_command_prints_what_the_strategy_sees() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(repo_root().join("recipes/spy-9ma-shares.yaml")).unwrap();
    let data_path = data("spy-1s-trade-2013-10-07_11.csv.gz");
    let base = base.replace("../data/spy-1s-trade-2013-10-07_11.csv.gz", data_path.to_str().unwrap());
    assert!(
        base.contains("timeframe: 5m")
            && base.contains("candles: standard")
            && base.contains("hours: regular")
    );
    let cases: [(&str, &str, &str, &[&str]); 4] = [
        ("5m", "standard", "regular", &[]),
        ("1h", "heikin-ashi", "extended", &["--transform", "heikin-ashi"]),
        ("90m", "standard", "{start: \"10:15\", end: \"15:00\"}", &["--session", "10:15-15:00"]),
        ("15m", "renko\n  brick_size: 0.25", "regular", &["--transform", "renko:0.25"]),
    ];
    for (tf, style, hours, extra) in cases {
        let text = base
            .replace("timeframe: 5m", &format!("timeframe: {tf}"))
            .replace("candles: standard", &format!("candles: {style}"))
            .replace("hours: regular", &format!("hours: {hours}"))
            .replace("flatten_at: \"15:55\"", "flatten_at: \"14:55\""); // inside every session here
        let recipe = write(dir.path(), &format!("r-{tf}.yaml"), &text);
        let prepared = run::prepare(&recipe).unwrap();
        let venue = runner::runtime::venues::simulated(&prepared).unwrap();
        let mut agent = run::build_lockstep(&prepared, venue).unwrap();
        let mut seen: Vec<Candle> = vec![];
        let mut sink = |e: &AgentEvent| {
            if let AgentEvent::Candle(c) = e {
                seen.push(*c);
            }
        };
        for ev in run::open_replay(&prepared, DateRange::default()).unwrap() {
            agent.market(ev.unwrap(), &mut sink);
        }
        agent.command(Command::Shutdown, &mut sink);

        let mut args = vec!["candles", data_path.to_str().unwrap(), "-t", tf, "-f", "csv"];
        if !extra.contains(&"--session") {
            args.extend(["--session", if hours == "extended" { "extended" } else { "regular" }]);
        }
        args.extend(extra);
        let out = Run::new(args).run().success();
        let rows: Vec<Vec<&str>> = out.stdout.lines().skip(1).map(|l| l.split(',').collect()).collect();
        assert!(seen.len() >= 20, "{tf} {style}: only {} candles", seen.len());
        assert_eq!(rows.len(), seen.len(), "{tf} {style} {hours}");
        let time = |t: Timestamp| t.to_new_york().format("%Y-%m-%dT%H:%M:%S%:z").to_string();
        for (row, c) in rows.iter().zip(&seen) {
            assert_eq!((row[0], row[1]), (time(c.start).as_str(), time(c.end).as_str()), "{tf} {style}");
            let values: Vec<Decimal> = row[2..7].iter().map(|v| v.parse().unwrap()).collect();
            assert_eq!(values, [c.open, c.high, c.low, c.close, c.volume], "{tf} {style} {}", row[0]);
        }
    }
}

#[test]
fn candles_command_prints_csv_with_indicators() {
    let out = Run::new([
        "candles",
        "data/spy-1m-trade-2013-10-07_11.csv.gz",
        "--timeframe",
        "5m",
        "--indicators",
        "sma:9,atr:14,donchian:20",
        "--format",
        "csv",
        "--from",
        "2013-10-08",
        "--to",
        "2013-10-09",
    ])
    .run()
    .success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "start,end,open,high,low,close,volume,sma_9,atr_14,donchian_20_upper,donchian_20_middle,donchian_20_lower"
    );
    assert_eq!(lines.len(), 1 + 2 * 78);
    assert!(lines[1].starts_with("2013-10-08T09:30:00-04:00,2013-10-08T09:35:00-04:00,"), "{}", lines[1]);
    assert!(lines[156].starts_with("2013-10-09T15:55:00-04:00,2013-10-09T16:00:00-04:00,"), "{}", lines[156]);
    // Same OHLCV as the TA-Lib fixture (built independently in Python from the same data).
    let fixture =
        std::fs::read_to_string(repo_root().join("tests/fixtures/indicators/talib_spy_5m.csv")).unwrap();
    let fix: Vec<&str> = fixture.lines().skip(1 + 78).take(156).collect();
    for (ours, theirs) in lines[1..].iter().zip(fix) {
        let o: Vec<&str> = ours.split(',').collect();
        let t: Vec<&str> = theirs.split(',').collect();
        assert_eq!(o[0], t[0]);
        for k in 2..7 {
            assert_eq!(o[k].parse::<Decimal>().unwrap(), t[k - 1].parse::<Decimal>().unwrap(), "{ours}");
        }
    }
    // Warmed up on 2013-10-07 (before --from): SMA(9) is there from the first candle.
    assert!(!lines[1].split(',').nth(7).unwrap().is_empty());

    let table =
        Run::new(["candles", "data/spy-ticks", "-t", "1h", "--session", "extended", "--to", "2013-10-07"])
            .run()
            .success();
    let rows: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(rows.len(), 1 + 16, "{}", table.stdout);
    assert!(rows[0].starts_with("start"));
    assert!(rows[1].starts_with("2013-10-07T04:00:00-04:00"));
}

#[test]
fn candles_command_rejects_bad_input() {
    let bad_tf = Run::new(["candles", "data/spy-ticks", "--timeframe", "5x"]).run().code(2);
    assert!(bad_tf.stderr.contains("5x"), "{}", bad_tf.stderr);
    let missing = Run::new(["candles", "data/nothing-here.csv"]).run().code(2);
    assert!(missing.stderr.contains("nothing-here.csv"), "{}", missing.stderr);
    let too_short =
        Run::new(["candles", "data/spy-1m-trade-2013-10-07_11.csv.gz", "-t", "30s"]).run().code(2);
    assert!(too_short.stderr.contains("shorter than"), "{}", too_short.stderr);
    let bad_ind = Run::new(["candles", "data/spy-ticks", "-i", "sma:0"]).run().code(2);
    assert!(bad_ind.stderr.contains("sma"), "{}", bad_ind.stderr);
}

/// Relative paths resolve from the working directory; stdin works; output ignores the
/// machine's TZ.
#[test]
fn candles_command_from_another_dir_and_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(data("spy-1m-trade-2013-10-07_11.csv.gz"), dir.path().join("spy-1m.csv.gz")).unwrap();
    let from_file = Run::new(["candles", "spy-1m.csv.gz", "-t", "1h", "-f", "csv", "--to", "2013-10-07"])
        .dir(dir.path())
        .env("TZ", "Asia/Tokyo")
        .run()
        .success();
    assert_eq!(from_file.stdout.lines().count(), 1 + 7);
    assert!(
        from_file
            .stdout
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("2013-10-07T09:00:00-04:00,2013-10-07T10:00:00-04:00,")
    );
    let gz = std::fs::read(data("spy-1m-trade-2013-10-07_11.csv.gz")).unwrap();
    let from_stdin =
        Run::new(["candles", "-", "--bar-length", "1m", "-t", "1h", "-f", "csv", "--to", "2013-10-07"])
            .env_remove("TZ")
            .stdin(gz)
            .run()
            .success();
    assert_eq!(from_stdin.stdout, from_file.stdout);
    let no_length = Run::new(["candles", "-"]).stdin("timestamp,open,high,low,close,volume\n").run().code(2);
    assert!(no_length.stderr.contains("bar length"), "{}", no_length.stderr);
}

/// Lean's own zips read to the same events as the converted CSVs in data/.
#[test]
fn lean_zips_match_the_converted_csv() {
    let lean = repo_root().join("tests/fixtures/lean");
    let day = |events: Vec<MarketEvent>, from: &str, to: &str| -> Vec<MarketEvent> {
        let (from, to) = (parse_timestamp(from.as_bytes()).unwrap(), parse_timestamp(to.as_bytes()).unwrap());
        events.into_iter().filter(|e| e.ts() >= from && e.ts() < to).collect()
    };
    let cases = [
        (
            "equity/usa/minute/spy/20131007_trade.zip",
            "spy-1m-trade-2013-10-07_11.csv.gz",
            "2013-10-07T00:00:00-04:00",
            "2013-10-08T00:00:00-04:00",
        ),
        (
            "equity/usa/minute/spy/20131007_quote.zip",
            "spy-1m-quote-2013-10-07_11.csv.gz",
            "2013-10-07T00:00:00-04:00",
            "2013-10-08T00:00:00-04:00",
        ),
        (
            "crypto/coinbase/minute/btcusd/20161007_trade.zip",
            "coinbase-btcusd-1m-trade.csv.gz",
            "2016-10-07T00:00:00Z",
            "2016-10-08T00:00:00Z",
        ),
    ];
    for (zip, csv, from, to) in cases {
        let ours = read_all(lean.join(zip), &CsvOptions::default()).unwrap();
        let want = day(read_all(data(csv), &CsvOptions::default()).unwrap(), from, to);
        assert!(ours.len() > 300, "{zip}: {}", ours.len());
        assert_eq!(ours, want, "{zip}");
    }
    // The directory form picks up zips; unsupported layouts are clear errors.
    let r = Replay::open(lean.join("equity/usa/minute/spy").to_str().unwrap(), &ReplayOptions::default())
        .unwrap();
    assert_eq!(r.kinds(), [CsvKind::QuoteBars, CsvKind::Bars]);
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("20131007_trade.zip");
    std::fs::copy(lean.join("equity/usa/minute/spy/20131007_trade.zip"), &odd).unwrap();
    let err = read_all(&odd, &CsvOptions::default()).unwrap_err().to_string();
    assert!(err.contains("equity") && err.contains("20131007_trade.zip"), "{err}");
    let bad = dir.path().join("equity/usa/minute/spy");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("20131007_trade.zip"), b"not a zip at all, just text").unwrap();
    let err = read_all(bad.join("20131007_trade.zip"), &CsvOptions::default()).unwrap_err();
    assert!(matches!(err, MarketDataError::Io { .. }), "{err}");
}

#[test]
fn renko_with_a_tiny_brick_is_a_usage_error() {
    let out = Run::new([
        "candles",
        "data/spy-1m-trade-2013-10-07_11.csv.gz",
        "-t",
        "1h",
        "--transform",
        "renko:0.00000001",
    ])
    .run()
    .code(2);
    assert!(out.stderr.contains("too small"), "{}", out.stderr);
    let ok = Run::new([
        "candles",
        "data/spy-1m-trade-2013-10-07_11.csv.gz",
        "-t",
        "5m",
        "--transform",
        "renko:0.25",
        "-f",
        "csv",
    ])
    .run()
    .success();
    let bricks: Vec<&str> = ok.stdout.lines().skip(1).collect();
    assert!(bricks.len() > 5, "{}", ok.stdout);
    for b in bricks {
        let f: Vec<Decimal> = b.split(',').skip(2).take(4).map(|x| x.parse().unwrap()).collect();
        assert_eq!((f[0] - f[3]).abs(), "0.25".parse::<Decimal>().unwrap(), "{b}");
    }
}

/// Ticks with bars, or bars of two lengths, for one instrument would count every trade twice
/// (doubled volume): refused, naming both files. Quote bars may accompany trades.
#[test]
fn one_instrument_at_two_resolutions_is_refused() {
    let mixed = Run::new(["candles", "data/spy-1[ms]-trade-2013-10-07_11.csv.gz", "-t", "30m"]).run().code(2);
    assert!(
        mixed.stderr.contains("spy-1m-trade-2013-10-07_11.csv.gz (1m bars)")
            && mixed.stderr.contains("spy-1s-trade-2013-10-07_11.csv.gz (1s bars)")
            && mixed.stderr.contains("count every trade twice"),
        "{}",
        mixed.stderr
    );
    let ticks = repo_root().join("data/spy-ticks/spy_ticks_20131007.csv.gz");
    let bars = repo_root().join("data/spy-1s-trade-2013-10-07_11.csv.gz");
    let (ticks, bars) = (ticks.to_str().unwrap(), bars.to_str().unwrap());
    let with_ticks =
        Replay::open_many(&[(ticks, SymbolId(0)), (bars, SymbolId(0))], &ReplayOptions::default());
    let Err(err) = with_ticks else { panic!("ticks and 1 s bars of one symbol are refused") };
    let err = err.to_string();
    assert!(err.contains("(trade ticks)") && err.contains("(1s bars)"), "{err}");
    // Trades with quote bars, and two symbols at different resolutions, are fine.
    Run::new(["candles", "data/spy-1m-*-2013-10-07_11.csv.gz", "-t", "30m"]).run().success();
    let spy = repo_root().join("data/spy-1s-trade-2013-10-07_11.csv.gz");
    let btc = repo_root().join("data/coinbase-btcusd-1m-trade.csv.gz");
    Replay::open_many(
        &[(spy.to_str().unwrap(), SymbolId(0)), (btc.to_str().unwrap(), SymbolId(2))],
        &ReplayOptions::default(),
    )
    .expect("two symbols");
}

/// The 5-minute candle starting at `start` (`HH:MM` on 2013-10-08) of `runner candles DATA`,
/// as (high, stderr).
fn high_on_the_8th(data: &str, start: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["candles", data, "-t", "5m", "-f", "csv"];
    args.extend_from_slice(extra);
    let out = Run::new(args).run().success();
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("2013-10-08T{start}:00")))
        .unwrap_or_else(|| panic!("{start} candle in\n{}", out.stdout))
        .to_owned();
    (row.split(',').nth(3).expect("high").to_owned(), out.stderr)
}

/// The off-market prints at 167.51 while SPY traded near 165.95 — the tick at 15:36:10.115
/// (its sale condition sets the last price, so only the band catches it) and Lean's 1-second
/// bars of 15:03:04 and 15:36:10 — are dropped by the default price band, from ticks and bars
/// alike, and counted; `--price-band off` keeps them.
#[test]
fn the_price_band_drops_off_market_prints_from_ticks_and_bars() {
    let ticks = "data/spy-ticks/spy_ticks_20131008.csv.gz";
    let (high, note) = high_on_the_8th(ticks, "15:35", &[]);
    assert_eq!(high, "166.05");
    assert!(note.contains("the price band dropped 9 off-market print(s)"), "{note}");
    assert_eq!(high_on_the_8th(ticks, "15:35", &["--price-band", "off"]).0, "167.51");
    let bars = "data/spy-1s-trade-2013-10-07_11.csv.gz";
    for (start, clean) in [("15:00", "166.03"), ("15:35", "166.05")] {
        let (high, note) = high_on_the_8th(bars, start, &[]);
        assert_eq!(high, clean, "{start}");
        assert!(note.contains("the price band dropped 29 off-market print(s)"), "{note}");
        assert_eq!(high_on_the_8th(bars, start, &["--price-band", "off"]).0, "167.51", "{start}");
    }
    // The same through the library: exactly those bars of the 8th's session are gone.
    let path = data("spy-1s-trade-2013-10-07_11.csv.gz");
    let band =
        PriceBandConfig { max_deviation: Decimal::new(5, 3), window_nanos: 10 * Timestamp::NANOS_PER_SEC };
    let filtered = Replay::open(
        path.to_str().unwrap(),
        &ReplayOptions { price_band: Some(band), ..ReplayOptions::default() },
    )
    .unwrap();
    let dropped = filtered.dropped_prints();
    let kept: std::collections::HashSet<Timestamp> = filtered.map(|e| e.unwrap().ts()).collect();
    assert_eq!(dropped.get(), 29);
    let session = ny("2013-10-08T09:30:00")..ny("2013-10-08T16:00:00");
    let gone: Vec<Timestamp> = replay(&[path])
        .iter()
        .map(MarketEvent::ts)
        .filter(|t| !kept.contains(t) && session.contains(t))
        .collect();
    assert_eq!(gone, [ny("2013-10-08T15:03:04"), ny("2013-10-08T15:36:10")]);
}

/// A gap open of 4 %, a halt, and a real jump inside the window confirmed by the prints after
/// it: the band re-anchors and keeps the market's prints; only the isolated print is dropped.
#[test]
fn the_price_band_follows_gaps_halts_and_confirmed_moves() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("timestamp,price,size\n");
    let rows = [
        ("2013-10-07T15:59:00", "100.00"),
        ("2013-10-08T09:30:00", "104.00"), // the open, 4 % up: kept
        ("2013-10-08T09:30:01", "104.10"),
        ("2013-10-08T09:30:02", "109.00"), // isolated: dropped
        ("2013-10-08T09:30:03", "104.10"),
        ("2013-10-08T09:31:00", "98.00"), // after a minute without prints (a halt): kept
        ("2013-10-08T09:31:01", "101.00"), // a jump...
        ("2013-10-08T09:31:01", "101.10"),
        ("2013-10-08T09:31:02", "101.05"), // ...confirmed by the third print in a row
        ("2013-10-08T09:31:03", "101.00"),
    ];
    for (t, p) in rows {
        text.push_str(&format!("{t}.000-04:00,{p},100\n"));
    }
    write(dir.path(), "gap.csv", &text);
    let out = Run::new(["candles", "gap.csv", "-t", "1m", "-f", "csv", "-s", "extended"])
        .dir(dir.path())
        .run()
        .success();
    let candles: Vec<Vec<&str>> = out.stdout.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let ohlc = |c: &Vec<&str>| (c[2].to_owned(), c[3].to_owned(), c[4].to_owned(), c[5].to_owned());
    assert_eq!(candles.len(), 3, "{}", out.stdout);
    let s = |v: &str| v.to_owned();
    assert_eq!(ohlc(&candles[1]), (s("104"), s("104.1"), s("104"), s("104.1")), "{}", out.stdout);
    assert_eq!(ohlc(&candles[2]), (s("98"), s("101.05"), s("98"), s("101")), "{}", out.stdout);
    assert!(out.stderr.contains("dropped 3 off-market print(s)"), "{}", out.stderr);
}

/// The run summary counts what the band dropped (summary.json and the printed report), for
/// `backtest` and `up` alike; `provider.price_band: off` drops nothing.
#[test]
fn the_run_summary_counts_off_band_prints() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(repo_root().join("recipes/spy-9ma-shares.yaml")).unwrap();
    let data_path = data("spy-1s-trade-2013-10-07_11.csv.gz");
    let on = base.replace("../data/spy-1s-trade-2013-10-07_11.csv.gz", data_path.to_str().unwrap());
    let off = on.replace("  kind: replay\n", "  kind: replay\n  price_band: off\n");
    assert_ne!(on, off);
    for (name, text, dropped) in [("on", on, 29), ("off", off, 0)] {
        let recipe = write(dir.path(), &format!("{name}.yaml"), &text);
        let report = dir.path().join(format!("bt-{name}"));
        let bt = Run::new([
            "backtest",
            recipe.to_str().unwrap(),
            "--no-journal",
            "--report-dir",
            report.to_str().unwrap(),
        ])
        .run()
        .success();
        assert!(
            bt.stdout.contains(&format!("  dropped prints {dropped} off the price band")),
            "{}",
            bt.stdout
        );
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["off_band_prints"], dropped, "{name}");
    }
    let report = dir.path().join("up");
    let state = dir.path().join("state");
    let journal = dir.path().join("j.db");
    let recipe = dir.path().join("on.yaml");
    Run::new([
        "up",
        recipe.to_str().unwrap(),
        "--speed",
        "max",
        "--report-dir",
        report.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ])
    .run()
    .success();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["off_band_prints"], 29);
}
