//! Signal appended to a Redis stream → the order it causes handed to the broker client, through
//! a real local `redis-server`, the real signal source, `runner up`'s agent loop (journal
//! included: the signal and its order are written, fsync'ed, before the order leaves) and the
//! Alpaca client talking to the in-repo fake Alpaca on 127.0.0.1.
//!
//! `cargo bench --bench signals_latency` prints p50/p99/max over 1,000 signals (each one sent
//! once the previous one's orders are out, alternating buy and sell: every sell after the first
//! buy closes the long before it opens the short, and the latency is to its first order).

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
use runner::model::order::{OrderRequest, Replace};
use runner::model::{AccountId, AgentId, ClientOrderId, Qty, Timestamp};
use runner::risk::gate::RiskApproved;
use runner::runtime::credentials::Credentials;
use runner::runtime::fleet::{self, Feed, FleetAgent, RunOptions, Trader};
use runner::runtime::journal_sink::{JournalSink, SinkInfo};
use runner::runtime::remote::Remote;
use runner::runtime::run;
use runner::runtime::signals::Signals;
use runner::runtime::venues::{self, Execution, MarketData};
use runner::secrets::SecretMap;
use runner::venue::{ExecutionClient, VenueEvent, VenueFuture};

const SIGNALS: usize = 1_000;

/// The broker client, noting when each order reaches it.
struct TimedExecution {
    inner: Box<dyn ExecutionClient>,
    submits: Arc<Mutex<Vec<Instant>>>,
}

impl ExecutionClient for TimedExecution {
    fn submit(&mut self, order: RiskApproved<OrderRequest>) -> VenueFuture<'_, ()> {
        self.submits.lock().unwrap().push(Instant::now());
        self.inner.submit(order)
    }
    fn cancel(&mut self, id: ClientOrderId) -> VenueFuture<'_, ()> {
        self.inner.cancel(id)
    }
    fn replace(&mut self, id: ClientOrderId, change: Replace) -> VenueFuture<'_, ()> {
        self.inner.replace(id, change)
    }
    fn account(&mut self) -> VenueFuture<'_, runner::model::account::AccountState> {
        self.inner.account()
    }
    fn fills_since(
        &mut self,
        since: Timestamp,
        orders: &[OrderRequest],
    ) -> VenueFuture<'_, Vec<runner::model::order::Fill>> {
        self.inner.fills_since(since, orders)
    }
    fn next_event(&mut self) -> VenueFuture<'_, Option<VenueEvent>> {
        self.inner.next_event()
    }
    fn track(&mut self, order: OrderRequest, filled: Qty) {
        self.inner.track(order, filled);
    }
}

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
    let submits: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let _entered = rt.enter();
    let Execution::Remote { client, .. } = venues::execution(&p, &creds).expect("execution") else {
        panic!("not a remote venue")
    };
    let MarketData::Live { client: feed, subscriptions } =
        venues::market_data(&p, run::DateRange::default(), &creds).expect("feed")
    else {
        panic!("not a live feed")
    };
    let client = Box::new(TimedExecution { inner: client, submits: Arc::clone(&submits) });
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
    let sink = JournalSink::begin(journal, info, BTreeMap::new()).expect("sink");
    let agents = vec![FleetAgent {
        trader: Trader::Remote(Box::new(Remote::new(agent, requests, Decimal::new(1, 2)))),
        feed: Feed::Live { client: feed, subscriptions },
        venue: Some(venue),
        chain: None,
        name: "bench".into(),
        account: "bench".into(),
        sink: Some(sink),
        signals: Some(wiring),
    }];
    let opts = RunOptions {
        state_dir: dir.path().join("state"),
        loss_limit: None,
        stale_after: None,
        stale_halt_after: None,
    };
    let publisher = {
        let fake = Arc::clone(&fake);
        let submits = Arc::clone(&submits);
        let mut conn = redis.conn();
        std::thread::spawn(move || {
            assert!(fake.wait_for_data_subscription("SPY", Duration::from_secs(30)), "never subscribed");
            // One print inside a session, so the agent has a price and an open session.
            let at = chrono::DateTime::parse_from_rfc3339("2013-10-07T14:00:00Z").expect("ts").to_utc();
            fake.publish_trade("SPY", at, Decimal::new(16727, 2), Decimal::from(100));
            std::thread::sleep(Duration::from_millis(500));
            let mut latencies = Vec::with_capacity(SIGNALS);
            let mut expected = 0;
            for i in 0..SIGNALS {
                let direction = if i % 2 == 0 { "b" } else { "s" };
                let before = submits.lock().unwrap().len();
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
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let s = submits.lock().unwrap();
                    if s.len() >= expected {
                        latencies.push(s[before].saturating_duration_since(t0));
                        break;
                    }
                    drop(s);
                    assert!(Instant::now() < deadline, "signal {i} caused no orders");
                    std::thread::yield_now();
                }
            }
            // SAFETY: signalling this process: the run stops as on Ctrl-C.
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
            latencies
        })
    };
    drop(_entered);
    fleet::run(&rt, signals, agents, &opts).expect("run");
    let mut l = publisher.join().expect("publisher");
    l.sort_unstable();
    let q = |f: f64| l[((f * l.len() as f64).ceil() as usize).clamp(1, l.len()) - 1];
    eprintln!(
        "signals_latency: XADD → first order handed to the broker client, {} signals through redis-server, \
         the journal (fsync) and the agent loop: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        l.len(),
        q(0.50),
        q(0.90),
        q(0.99),
        l[l.len() - 1]
    );
}
