//! Backtest throughput of the 9MA-breakout equity recipe (`recipes/spy-9ma-shares.yaml`:
//! 100 shares, zero commission, market orders filled at the triggering trade's price) over
//! the 1.89 M real SPY trades of 2013-10-07..11 (`data/spy-ticks/`), and over that tape
//! repeated 10× with dates shifted by whole weeks.
//!
//! `cargo bench --bench backtest` (release). Throughput is reported in trades/s:
//! - `in_memory/*`: events already parsed (the recipe's price band and the engine);
//! - `with_parsing/*`: read the .gz files, parse, merge, price band and backtest (whole
//!   pipeline but the report files).

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use runner::engine::agent::{AgentEvent, Command};
use runner::market::band::PriceBand;
use runner::market::event::{MarketEvent, Trade};
use runner::market::replay::{Replay, ReplayOptions};
use runner::model::Timestamp;
use runner::runtime::lockstep::Lockstep;
use runner::runtime::run::{self, Prepared};

const WEEK: i64 = 7 * 86_400 * Timestamp::NANOS_PER_SEC;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn prepared() -> Prepared {
    run::prepare(&root().join("recipes/spy-9ma-shares.yaml")).unwrap_or_else(|e| panic!("recipe: {e:#}"))
}

fn agent(p: &Prepared) -> Lockstep {
    let venue = runner::runtime::venues::simulated(p).unwrap_or_else(|e| panic!("venue: {e:#}"));
    run::build_lockstep(p, venue).unwrap_or_else(|e| panic!("agent: {e:#}"))
}

/// The tape, with the recipe's price band when `p` is given (as `runner backtest` reads it).
fn ticks(dir: &Path, p: Option<&Prepared>) -> Replay {
    let price_band = p.and_then(|p| p.recipe.provider.price_band_or_default().config());
    Replay::open(&dir.to_string_lossy(), &ReplayOptions { price_band, ..ReplayOptions::default() })
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Drive `agent` over the in-memory trades through the recipe's price band, `times` × with
/// week-shifted timestamps.
fn run_trades(mut agent: Lockstep, p: &Prepared, trades: &[Trade], times: i64) -> usize {
    let mut sink = |_: &AgentEvent| {};
    let mut band = p.recipe.provider.price_band_or_default().config().map(PriceBand::new);
    for k in 0..times {
        for t in trades {
            let mut t = *t;
            t.ts = Timestamp(t.ts.0 + k * WEEK);
            let ev = MarketEvent::Trade(t);
            if band.as_mut().is_some_and(|b| !b.admit(&ev)) {
                continue;
            }
            agent.market(ev, &mut sink);
        }
    }
    agent.command(Command::Shutdown, &mut sink);
    agent.into_agent().into_report().deals.len()
}

/// Read, parse and backtest the tape `times` × with week-shifted timestamps.
fn run_files(mut agent: Lockstep, p: &Prepared, dir: &Path, times: i64) -> usize {
    let mut sink = |_: &AgentEvent| {};
    for k in 0..times {
        for ev in ticks(dir, Some(p)) {
            let MarketEvent::Trade(mut t) = ev.unwrap_or_else(|e| panic!("{e}")) else { continue };
            t.ts = Timestamp(t.ts.0 + k * WEEK);
            agent.market(MarketEvent::Trade(t), &mut sink);
        }
    }
    agent.command(Command::Shutdown, &mut sink);
    agent.into_agent().into_report().deals.len()
}

fn bench(c: &mut Criterion) {
    let p = prepared();
    let dir = root().join("data/spy-ticks");
    let trades: Vec<Trade> = ticks(&dir, None)
        .filter_map(|e| match e {
            Ok(MarketEvent::Trade(t)) => Some(t),
            _ => None,
        })
        .collect();
    let n = trades.len() as u64;
    println!("{} trades; deals on the 5-day tape: {}", n, run_trades(agent(&p), &p, &trades, 1));

    let mut g = c.benchmark_group("in_memory");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function("5_days", |b| b.iter(|| black_box(run_trades(agent(&p), &p, &trades, 1))));
    g.throughput(Throughput::Elements(10 * n));
    g.bench_function("5_days_x10", |b| b.iter(|| black_box(run_trades(agent(&p), &p, &trades, 10))));
    g.finish();

    let mut g = c.benchmark_group("with_parsing");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function("5_days", |b| b.iter(|| black_box(run_files(agent(&p), &p, &dir, 1))));
    g.throughput(Throughput::Elements(10 * n));
    g.bench_function("5_days_x10", |b| b.iter(|| black_box(run_files(agent(&p), &p, &dir, 10))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
