//! Replay and candle-building throughput on the repo's recorded SPY ticks.
//!
//! `cargo bench --bench replay` (release). The engine's budget is 1.89 M ticks parsed and
//! backtested in under 0.5 s; these benches measure the market-data share of it. A file is
//! inflated and parsed on its own two threads (`market::pipeline`) while the bench's thread
//! merges, so `replay/*` and `replay_all/*` measure the slowest of those stages, not their sum.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use runner::indicators::{Atr, Ema, Indicator, Sma};
use runner::market::candles::CandleBuilder;
use runner::market::replay::{Replay, ReplayOptions};
use runner::market::session::{SessionHours, Window};
use runner::model::SymbolId;

/// The session of a recipe's `session.hours: NAME` (NYSE calendar).
fn hours(name: &str) -> SessionHours {
    SessionHours { window: name.parse::<Window>().unwrap_or_else(|e| panic!("{e}")), flatten_at: None }
}

fn ticks_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/spy-ticks")
}

fn bench(c: &mut Criterion) {
    let day = ticks_dir().join("spy_ticks_20131008.csv.gz");
    let events = Replay::from_files(std::slice::from_ref(&day), &ReplayOptions::default())
        .and_then(Replay::load_all)
        .unwrap_or_else(|e| panic!("bench data: {e}"));

    let mut g = c.benchmark_group("replay");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("parse_one_day_of_ticks_gz", |b| {
        b.iter(|| {
            let r = Replay::from_files(std::slice::from_ref(&day), &ReplayOptions::default())
                .unwrap_or_else(|e| panic!("{e}"));
            black_box(r.filter(Result::is_ok).count())
        });
    });
    g.bench_function("candles_5m_from_ticks", |b| {
        b.iter(|| {
            let mut cb = CandleBuilder::with_timeframe(
                SymbolId(0),
                "5m".parse().unwrap_or_else(|e| panic!("{e}")),
                hours("regular"),
            );
            let mut n = 0usize;
            for e in &events {
                n += usize::from(cb.on_event(e).is_some());
            }
            black_box(n)
        });
    });
    g.finish();

    let dir = ticks_dir();
    let five_days = Replay::open(&dir.to_string_lossy(), &ReplayOptions::default())
        .map(|r| r.filter(Result::is_ok).count())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut all = c.benchmark_group("replay_all");
    all.sample_size(10);
    all.throughput(Throughput::Elements(five_days as u64));
    all.bench_function("merge_five_days_of_ticks", |b| {
        b.iter(|| {
            let r = Replay::open(&dir.to_string_lossy(), &ReplayOptions::default())
                .unwrap_or_else(|e| panic!("{e}"));
            black_box(r.filter(Result::is_ok).count())
        });
    });
    all.finish();

    let closes: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            runner::market::event::MarketEvent::Trade(t) => Some(t.price),
            _ => None,
        })
        .take(100_000)
        .collect();
    let mut ind = c.benchmark_group("indicators");
    ind.throughput(Throughput::Elements(closes.len() as u64));
    ind.bench_function("sma_20", |b| {
        b.iter(|| {
            let mut s = Sma::new(20).unwrap_or_else(|e| panic!("{e}"));
            closes.iter().filter_map(|x| s.update(*x)).last()
        });
    });
    ind.bench_function("ema_20", |b| {
        b.iter(|| {
            let mut s = Ema::new(20).unwrap_or_else(|e| panic!("{e}"));
            closes.iter().filter_map(|x| s.update(*x)).last()
        });
    });
    let mut cb = CandleBuilder::with_timeframe(
        SymbolId(0),
        "1m".parse().unwrap_or_else(|e| panic!("{e}")),
        hours("extended"),
    );
    let candles: Vec<_> = events.iter().filter_map(|e| cb.on_event(e)).collect();
    ind.bench_function("atr_14_on_1m_candles", |b| {
        b.iter(|| {
            let mut a = Atr::new(14).unwrap_or_else(|e| panic!("{e}"));
            candles.iter().filter_map(|c| a.update(*c)).last()
        });
    });
    ind.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
