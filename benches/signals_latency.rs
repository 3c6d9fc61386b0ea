//! Signal appended to a Redis stream → the order it causes handed to the venue client, through
//! a real local `redis-server` (XADD by the publisher, XREADGROUP/XACK by runner), the real
//! signal source, `runner up`'s agent loop and journal (the signal and its order are written
//! before the order leaves, fsync'ed after it), with prices from the in-repo fake Alpaca's stream. The
//! venue client fills at once (see [`InstantVenue`]): what is timed is runner's own path.
//!
//! `cargo bench --bench signals_latency` prints p50/p90/p99/max for two phases of 1,000
//! signals, alternating buy and sell (every sell after the first buy closes the long before it
//! opens the short; the latency is to its first order): first each signal published once the
//! one before is acknowledged (nothing pending in the group) after a random pause under 1 ms —
//! signals as they come in trading; then back to back, each as soon as the one before has its
//! orders out, while runner still syncs and acknowledges that one.

#[path = "../tests/support/fake_alpaca/mod.rs"]
#[allow(dead_code, unused_imports)]
mod fake_alpaca;
#[path = "../tests/support/redis.rs"]
#[allow(dead_code)]
mod redis_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;

use fake_alpaca::{FakeAlpaca, FakeConfig};
use runner::journal::{Durability, Journal, RunMode};
use runner::model::account::AccountState;
use runner::model::order::{Fill, OrderEvent, OrderRequest, Replace};
use runner::model::{AccountId, AgentId, ClientOrderId, Qty, Timestamp};
use runner::risk::gate::RiskApproved;
use runner::runtime::credentials::Credentials;
use runner::runtime::fleet::{self, Feed, FleetAgent, RunOptions, Trader};
use runner::runtime::journal_sink::{JournalSink, SinkInfo};
use runner::runtime::remote::Remote;
use runner::runtime::run;
use runner::runtime::signals::Signals;
use runner::runtime::venues::{self, MarketData};
use runner::secrets::SecretMap;
use runner::venue::{ExecutionClient, VenueEvent, VenueFuture};

const SIGNALS: usize = 1_000;

/// Entries of the bench's group read and not yet acknowledged (`XPENDING` summary).
fn pending(conn: &mut redis::Connection) -> i64 {
    let v: redis::Value =
        redis::cmd("XPENDING").arg("spy").arg("runner:bench").query(conn).expect("XPENDING");
    match v {
        redis::Value::Array(parts) => match parts.first() {
            Some(redis::Value::Int(n)) => *n,
            _ => 0,
        },
        _ => 0,
    }
}

/// When each order was handed to the venue client, and a wake-up for the publisher.
#[derive(Default)]
struct Submits {
    times: Mutex<Vec<Instant>>,
    more: std::sync::Condvar,
}

/// The venue: notes when each order is handed to it and fills it at once (at the print's
/// price), so every signal's orders go out without waiting on a broker (the fake Alpaca's
/// order API keeps Alpaca's 200 requests a minute, which 1,000 signals would exceed).
struct InstantVenue {
    submits: Arc<Submits>,
    tx: tokio::sync::mpsc::UnboundedSender<VenueEvent>,
    rx: tokio::sync::mpsc::UnboundedReceiver<VenueEvent>,
}

impl ExecutionClient for InstantVenue {
    fn submit(&mut self, order: RiskApproved<OrderRequest>) -> VenueFuture<'_, ()> {
        let at = Instant::now();
        self.submits.times.lock().unwrap().push(at);
        self.submits.more.notify_all();
        let o = order.inner();
        let _ = self.tx.send(VenueEvent::Order(OrderEvent::Accepted { id: o.id.clone(), ts: o.ts }));
        let _ = self.tx.send(VenueEvent::Order(OrderEvent::Filled(Fill {
            id: o.id.clone(),
            symbol: o.symbol,
            instrument: o.instrument.clone(),
            side: o.side,
            qty: o.qty,
            price: PRICE,
            commission: Decimal::ZERO,
            leaves: Decimal::ZERO,
            purpose: o.purpose,
            ts: o.ts,
        })));
        Box::pin(async { Ok(()) })
    }
    fn cancel(&mut self, _id: ClientOrderId) -> VenueFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn replace(&mut self, _id: ClientOrderId, _change: Replace) -> VenueFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn account(&mut self) -> VenueFuture<'_, AccountState> {
        Box::pin(async {
            Ok(AccountState {
                ts: Timestamp(0),
                cash: Decimal::from(100_000),
                buying_power: Decimal::from(200_000),
                equity: Decimal::from(100_000),
                positions: Vec::new(),
                open_orders: Vec::new(),
            })
        })
    }
    fn fills_since(&mut self, _since: Timestamp, _orders: &[OrderRequest]) -> VenueFuture<'_, Vec<Fill>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn next_event(&mut self) -> VenueFuture<'_, Option<VenueEvent>> {
        Box::pin(async move { Ok(self.rx.recv().await) })
    }
    fn track(&mut self, _order: OrderRequest, _filled: Qty) {}
}

const PRICE: Decimal = Decimal::from_parts(16727, 0, 0, false, 2);

fn main() {
    let redis = redis_support::RedisServer::start();
    let fake =
        Arc::new(FakeAlpaca::start(FakeConfig { market_at_last_trade: true, ..FakeConfig::default() }));
    let dir = tempfile::tempdir().expect("temp");
    let recipe = dir.path().join("bench.yaml");
    let (rest, data, trades) = (fake.rest_url(), fake.data_stream_url("iex"), fake.trade_stream_url());
    std::fs::write(
        &recipe,
        format!(
            "version: 1\nagent: bench\nprovider:\n  kind: alpaca\n  credentials: bench\n  endpoints: {{rest: \"{rest}\", stream: \"{data}\"}}\n\
             broker:\n  kind: alpaca\n  account: bench\n  credentials: bench\n  endpoints: {{rest: \"{rest}\", stream: \"{trades}\"}}\n\
             instrument: {{underlying: SPY, kind: equity}}\n\
             algorithm:\n  kind: external-signal\n  timeframe: 1m\n  signals: {{source: redis, url: \"{}/0\", stream: spy, fields: {{ticker: Ticker, direction: Direction}}}}\n\
             orders: {{type: market}}\nrisk: {{allocation: 20000, entry_size: 50%}}\nsession: {{calendar: nyse, hours: regular}}\n",
            redis.url()
        ),
    )
    .expect("write recipe");
    let p = run::prepare(&recipe).expect("prepare");
    let mut keys = SecretMap::new();
    keys.insert("key_id", fake.config().key_id.into());
    keys.insert("secret_key", fake.config().secret_key.into());
    let creds = Credentials {
        loaded: vec![("broker", "bench".into(), keys.clone()), ("provider", "bench".into(), keys)],
    };
    let rt = fleet::runtime().expect("runtime");
    let signals = {
        let _entered = rt.enter();
        Signals::install().expect("signals")
    };
    let submits: Arc<Submits> = Arc::default();
    let _entered = rt.enter();
    let MarketData::Live { client: feed, subscriptions } =
        venues::market_data(&p, run::DateRange::default(), &creds).expect("feed")
    else {
        panic!("not a live feed")
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let client = Box::new(InstantVenue { submits: Arc::clone(&submits), tx, rx });
    let agent = run::build_agent_with_cash(&p, Some(Decimal::from(100_000))).expect("agent");
    let (requests, orders) = tokio::sync::mpsc::unbounded_channel();
    let (answers, venue) = tokio::sync::mpsc::channel(1024);
    rt.spawn(runner::runtime::remote::execute(client, orders, answers));
    let wiring =
        runner::runtime::signal_feed::start(&p.recipe, &recipe, &creds).expect("signals").expect("redis");
    let journal = Journal::open_with(dir.path().join("j.db"), Durability::Full).expect("journal");
    let info = SinkInfo {
        agent: AgentId("bench".into()),
        account: AccountId("bench".into()),
        instrument: "SPY".into(),
        recipe: recipe.display().to_string(),
        mode: RunMode::Paper,
    };
    let mut sink = JournalSink::begin(journal, info, BTreeMap::new()).expect("sink");
    // As `runner up` does: the fleet's checkpointer runs the WAL checkpoints.
    sink.defer_checkpoints();
    let agents = vec![FleetAgent {
        trader: Trader::Remote(Box::new(Remote::new(agent, requests, Decimal::new(1, 2)))),
        feed: Feed::Live { client: feed, subscriptions },
        venue: Some(venue),
        chain: None,
        name: "bench".into(),
        account: "bench".into(),
        sink: Some(sink),
        signals: Some(wiring),
        recipe: recipe.clone(),
        recipe_text: None,
    }];
    let opts = RunOptions {
        state_dir: dir.path().join("state"),
        loss_limit: None,
        stale_after: None,
        stale_halt_after: None,
        journal: dir.path().join("j.db"),
        notify: None,
        restart: None,
    };
    let publisher = {
        let fake = Arc::clone(&fake);
        let submits = Arc::clone(&submits);
        let mut conn = redis.conn();
        std::thread::spawn(move || {
            assert!(fake.wait_for_data_subscription("SPY", Duration::from_secs(30)), "never subscribed");
            // One print inside a session, so the agent has a price and an open session.
            let at = chrono::DateTime::parse_from_rfc3339("2013-10-07T14:00:00Z").expect("ts").to_utc();
            fake.publish_trade("SPY", at, PRICE, Decimal::from(100));
            std::thread::sleep(Duration::from_millis(500));
            let mut expected = 0;
            let mut phase = |spaced: bool, first: usize| -> Vec<Duration> {
                let mut latencies = Vec::with_capacity(SIGNALS);
                for i in first..first + SIGNALS {
                    if spaced {
                        // As signals come in trading: the one before is handled and
                        // acknowledged (nothing pending in the group), then a random pause.
                        while pending(&mut conn) > 0 {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        std::thread::sleep(Duration::from_micros(rand::Rng::gen_range(
                            &mut rand::thread_rng(),
                            0..1_000,
                        )));
                    }
                    let direction = if i % 2 == 0 { "b" } else { "s" };
                    let before = submits.times.lock().unwrap().len();
                    let t0 = Instant::now();
                    let _: String = redis::cmd("XADD")
                        .arg("spy")
                        .arg("*")
                        .arg("Ticker")
                        .arg("SPY")
                        .arg("Direction")
                        .arg(direction)
                        .query(&mut conn)
                        .expect("XADD");
                    // The first signal opens; each later one closes, then opens the other way.
                    expected += if i == 0 { 1 } else { 2 };
                    // Waits without spinning: the publisher must not take a core from runner.
                    let s = submits.times.lock().unwrap();
                    let (s, timeout) = submits
                        .more
                        .wait_timeout_while(s, Duration::from_secs(10), |s| s.len() < expected)
                        .unwrap();
                    assert!(!timeout.timed_out(), "signal {i} caused no orders");
                    latencies.push(s[before].saturating_duration_since(t0));
                }
                latencies
            };
            let spaced = phase(true, 0);
            let back_to_back = phase(false, SIGNALS);
            // SAFETY: signalling this process: the run stops as on Ctrl-C.
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
            (spaced, back_to_back)
        })
    };
    drop(_entered);
    fleet::run(&rt, signals, agents, &opts, None).expect("run");
    let (spaced, back_to_back) = publisher.join().expect("publisher");
    for (what, mut l) in [
        ("each once the one before is acknowledged, after a random pause under 1 ms", spaced),
        ("back to back, each as soon as the one before has its orders out", back_to_back),
    ] {
        l.sort_unstable();
        let q = |f: f64| l[((f * l.len() as f64).ceil() as usize).clamp(1, l.len()) - 1];
        eprintln!(
            "signals_latency: XADD → first order handed to the broker client, {} signals through redis-server, \
             the journal and the agent loop, {what}: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
            l.len(),
            q(0.50),
            q(0.90),
            q(0.99),
            l[l.len() - 1]
        );
    }
}
