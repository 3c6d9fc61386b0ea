//! Indicators against TA-Lib reference values (tests/fixtures/indicators/) and hand-made cases.

use std::path::PathBuf;
use std::str::FromStr;

use runner::indicators::{
    Atr, Candle, Donchian, Ema, Fractals, Indicator, IndicatorSpec, PivotLevels, PivotPoints, Sma, Swings,
};
use runner::market::candles::CandleBuilder;
use runner::market::replay::{Replay, ReplayOptions};
use runner::market::session::{SessionHours, Window};
use runner::model::{SymbolId, Timestamp};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::repo_root;

struct Reference {
    candles: Vec<Candle>,
    /// Column name → value per candle (None = TA-Lib's NaN warm-up).
    columns: Vec<(String, Vec<Option<f64>>)>,
    starts: Vec<String>,
}

fn reference() -> Reference {
    let path = repo_root().join("tests/fixtures/indicators/talib_spy_5m.csv");
    let text = std::fs::read_to_string(&path).expect("read TA-Lib reference");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let mut columns: Vec<(String, Vec<Option<f64>>)> =
        header[6..].iter().map(|h| ((*h).to_owned(), vec![])).collect();
    let mut candles = vec![];
    let mut starts = vec![];
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let d = |i: usize| Decimal::from_str(f[i]).expect("decimal");
        starts.push(f[0].to_owned());
        candles.push(Candle {
            symbol: SymbolId(0),
            start: Timestamp(0),
            end: Timestamp(0),
            open: d(1),
            high: d(2),
            low: d(3),
            close: d(4),
            volume: d(5),
        });
        for (i, col) in columns.iter_mut().enumerate() {
            let v = f[6 + i];
            col.1.push(if v.is_empty() { None } else { Some(v.parse().expect("float")) });
        }
    }
    Reference { candles, columns, starts }
}

fn column<'a>(r: &'a Reference, name: &str) -> &'a [Option<f64>] {
    &r.columns.iter().find(|c| c.0 == name).unwrap_or_else(|| panic!("no column {name}")).1
}

fn our_candles() -> Vec<Candle> {
    let path = repo_root().join("data/spy-1m-trade-2013-10-07_11.csv.gz");
    let replay = Replay::from_files(&[path], &ReplayOptions::default()).expect("open data");
    let hours = SessionHours { window: "regular".parse::<Window>().unwrap(), flatten_at: None };
    let mut b = CandleBuilder::with_timeframe(SymbolId(0), "5m".parse().unwrap(), hours);
    let mut out = vec![];
    for ev in replay {
        out.extend(b.on_event(&ev.expect("event")));
    }
    out.extend(b.flush());
    out
}

fn assert_close(name: &str, ours: &[Option<Decimal>], theirs: &[Option<f64>], tol: f64) {
    assert_eq!(ours.len(), theirs.len(), "{name}: lengths");
    let mut compared = 0;
    for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
        match (o, t) {
            (None, None) => {}
            (Some(o), Some(t)) => {
                let o: f64 = o.to_string().parse().unwrap();
                assert!((o - t).abs() <= tol, "{name}[{i}]: ours {o} vs TA-Lib {t}");
                compared += 1;
            }
            _ => panic!("{name}[{i}]: warm-up differs: ours {o:?} vs TA-Lib {t:?}"),
        }
    }
    assert!(compared > 300, "{name}: only {compared} values compared");
}

#[test]
fn five_minute_candles_match_the_reference_build() {
    let r = reference();
    let ours = our_candles();
    assert_eq!(ours.len(), r.candles.len());
    for (i, (o, t)) in ours.iter().zip(&r.candles).enumerate() {
        assert_eq!(
            (o.open, o.high, o.low, o.close, o.volume),
            (t.open, t.high, t.low, t.close, t.volume),
            "candle {i}"
        );
        let start = o.start.to_new_york().format("%Y-%m-%dT%H:%M:%S%:z").to_string();
        assert_eq!(start, r.starts[i]);
    }
}

#[test]
fn sma_ema_atr_donchian_match_talib() {
    let r = reference();
    let closes: Vec<Decimal> = r.candles.iter().map(|c| c.close).collect();
    for n in [9, 20] {
        let mut sma = Sma::new(n).unwrap();
        let mut ema = Ema::new(n).unwrap();
        let s: Vec<_> = closes.iter().map(|x| sma.update(*x)).collect();
        let e: Vec<_> = closes.iter().map(|x| ema.update(*x)).collect();
        assert_close(&format!("sma_{n}"), &s, column(&r, &format!("sma_{n}")), 1e-9);
        assert_close(&format!("ema_{n}"), &e, column(&r, &format!("ema_{n}")), 1e-9);
    }
    let mut atr = Atr::new(14).unwrap();
    let a: Vec<_> = r.candles.iter().map(|c| atr.update(*c)).collect();
    assert_close("atr_14", &a, column(&r, "atr_14"), 1e-9);
    // MAX/MIN are exact in TA-Lib (no arithmetic): compare exactly.
    let mut don = Donchian::new(20).unwrap();
    let d: Vec<_> = r.candles.iter().map(|c| don.update(*c)).collect();
    let upper: Vec<_> = d.iter().map(|b| b.map(|b| b.upper)).collect();
    let lower: Vec<_> = d.iter().map(|b| b.map(|b| b.lower)).collect();
    assert_close("max_high_20", &upper, column(&r, "max_high_20"), 0.0);
    assert_close("min_low_20", &lower, column(&r, "min_low_20"), 0.0);
    for b in d.iter().flatten() {
        assert_eq!(b.middle * dec!(2), b.upper + b.lower);
    }
}

fn c(h: Decimal, l: Decimal) -> Candle {
    Candle {
        symbol: SymbolId(0),
        start: Timestamp(0),
        end: Timestamp(0),
        open: l,
        high: h,
        low: l,
        close: h,
        volume: dec!(1),
    }
}

fn numbered(cs: Vec<Candle>) -> Vec<Candle> {
    cs.into_iter().enumerate().map(|(i, c)| Candle { start: Timestamp(i as i64), ..c }).collect()
}

#[test]
fn classic_pivots_by_hand() {
    let l = PivotLevels::from_hlc(dec!(110), dec!(90), dec!(100));
    assert_eq!(
        (l.pivot, l.r1, l.s1, l.r2, l.s2, l.r3, l.s3),
        (dec!(100), dec!(110), dec!(90), dec!(120), dec!(80), dec!(130), dec!(70))
    );
    let mut p = PivotPoints;
    let day = Candle { close: dec!(105), ..c(dec!(110), dec!(90)) };
    let l = p.update(day).unwrap();
    assert_eq!(l.pivot, dec!(305) / dec!(3));
    assert_eq!(l.r1, l.pivot * dec!(2) - dec!(90));
}

#[test]
fn fractals_need_two_lower_bars_each_side() {
    let highs = [dec!(1), dec!(2), dec!(5), dec!(3), dec!(2), dec!(5), dec!(4), dec!(6)];
    let lows = [dec!(0.5), dec!(1.5), dec!(4), dec!(2), dec!(1), dec!(3), dec!(3.5), dec!(5)];
    let cs = numbered(highs.iter().zip(lows).map(|(h, l)| c(*h, l)).collect());
    let mut f = Fractals::new();
    let found: Vec<_> = cs.iter().filter_map(|x| f.update(*x)).collect();
    // Bar 2 (high 5) is an up fractal; bar 4 (low 1) is a down fractal; bar 5's high 5 equals
    // bar 2's, but bar 7 (6) is higher, so no fractal there.
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!((found[0].at, found[0].high, found[0].low), (Timestamp(2), Some(dec!(5)), None));
    assert_eq!((found[1].at, found[1].high, found[1].low), (Timestamp(4), None, Some(dec!(1))));
}

#[test]
fn swings_with_lookback_and_flat_tops() {
    let highs = [dec!(1), dec!(3), dec!(3), dec!(2), dec!(1), dec!(2), dec!(4)];
    let cs = numbered(highs.iter().map(|h| c(*h, *h - dec!(0.5))).collect());
    let mut s = Swings::new(1).unwrap();
    let found: Vec<_> = cs.iter().filter_map(|x| s.update(*x)).collect();
    // Flat double top at bars 1-2: only bar 1 is a swing high; bar 4 is a swing low.
    let highs: Vec<_> = found.iter().filter(|s| s.high.is_some()).map(|s| s.at).collect();
    let lows: Vec<_> = found.iter().filter(|s| s.low.is_some()).map(|s| s.at).collect();
    assert_eq!(highs, [Timestamp(1)]);
    assert_eq!(lows, [Timestamp(4)]);
    // A wider lookback does not see bar 1 as a swing high when bar 6 is within reach.
    let mut s2 = Swings::new(2).unwrap();
    let found2: Vec<_> = cs.iter().filter_map(|x| s2.update(*x)).collect();
    assert!(found2.iter().all(|s| s.high.is_none()), "{found2:?}");
}

#[test]
fn indicator_specs_parse_and_reject() {
    let l = IndicatorSpec::parse_list("sma:9, atr:14,donchian:20,pivots,fractals,swings:3,ema:5").unwrap();
    assert_eq!(l.len(), 7);
    assert_eq!(l[2].columns(), ["donchian_20_upper", "donchian_20_middle", "donchian_20_lower"]);
    for bad in ["sma", "sma:0", "sma:x", "foo:3", "pivots:3"] {
        assert!(bad.parse::<IndicatorSpec>().is_err(), "{bad}");
    }
    let _ = PathBuf::new();
}
