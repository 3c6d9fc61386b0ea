//! Internal latency of a live agent on Alpaca: a market event handed over by the stocks
//! stream client → the order it causes handed to the Trading API client (which then writes
//! the HTTP request), through the real `runner up` driver (`runtime::fleet`), the real
//! Alpaca clients, and the in-repo fake Alpaca on 127.0.0.1 streaming the recorded SPY tape.
//!
//! `cargo bench --bench alpaca_latency` (release; prints p50 / p99 / max over every order).
//!
//! The start is when the feed client hands the parsed event to the agent task (the WebSocket
//! frame was read and parsed just before, on the feed's own task); the end is when the
//! execution task calls `submit` on the Alpaca client. Between them: the agent (candles,
//! indicators, strategy, decision, risk gate), the journal-first sink, pricing, and the
//! channel to the execution task.

#[path = "../tests/support/fake_alpaca/mod.rs"]
// The bench drives a small part of the fake's API.
#[allow(dead_code, unused_imports)]
mod fake_alpaca;

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use fake_alpaca::{FakeAlpaca, FakeConfig};

use runner::model::order::{ExitReason, OrderRequest, Purpose, Replace};
use runner::model::{ClientOrderId, Qty, Timestamp};
use runner::risk::gate::RiskApproved;
use runner::runtime::credentials::Credentials;
use runner::runtime::fleet::{self, Feed, FleetAgent, RunOptions, Trader};
use runner::runtime::remote::Remote;
use runner::runtime::run;
use runner::runtime::signals::Signals;
use runner::runtime::venues::{self, Execution, MarketData};
use runner::secrets::SecretMap;
use runner::venue::{DataEvent, ExecutionClient, MarketDataClient, Subscription, VenueEvent, VenueFuture};

/// When each market event (by its exchange time) reached the agent task.
type Arrivals = Arc<Mutex<HashMap<i64, Instant>>>;

/// The stocks feed, noting when each event is handed over.
struct TimedFeed {
    inner: Box<dyn MarketDataClient>,
    arrivals: Arrivals,
}

impl MarketDataClient for TimedFeed {
    fn connect(&mut self) -> VenueFuture<'_, ()> {
        self.inner.connect()
    }

    fn subscribe(&mut self, subscriptions: &[Subscription]) -> VenueFuture<'_, ()> {
        self.inner.subscribe(subscriptions)
    }

    fn next_event(&mut self) -> VenueFuture<'_, Option<DataEvent>> {
        Box::pin(async move {
            let ev = self.inner.next_event().await;
            if let Ok(Some(DataEvent::Market(m))) = &ev {
                self.arrivals.lock().unwrap().insert(m.ts().0, Instant::now());
            }
            ev
        })
    }
}

/// Latencies measured, in order.
#[derive(Default)]
struct Samples {
    /// Market event handed over → the order it decided handed to the client (not the
    /// session's flatten, which a timer decides).
    decided: Vec<Duration>,
    /// The close's fill handed over → the reversal's opening order handed to the client.
    after_fill: Vec<Duration>,
}

/// The Trading API client, noting how long after its deciding event each order reached it.
struct TimedExecution {
    inner: Box<dyn ExecutionClient>,
    arrivals: Arrivals,
    samples: Arc<Mutex<Samples>>,
    /// When the latest fill was handed over, until the next order.
    last_fill: Option<Instant>,
}

impl ExecutionClient for TimedExecution {
    fn submit(&mut self, order: RiskApproved<OrderRequest>) -> VenueFuture<'_, ()> {
        let now = Instant::now();
        let decided = self.arrivals.lock().unwrap().get(&order.inner().ts.0).copied();
        let mut samples = self.samples.lock().unwrap();
        match (decided, self.last_fill.take()) {
            // Decided on a market event before the latest fill: the open of a reversal, sent
            // once the close filled.
            (Some(t0), Some(fill)) if t0 < fill => samples.after_fill.push(now - fill),
            // The session's flatten is decided by the clock (a timer at 15:55), not by a frame.
            (Some(_), _) if order.inner().purpose == Purpose::Exit(ExitReason::SessionEnd) => {}
            (Some(t0), _) => samples.decided.push(now - t0),
            (None, _) => {}
        }
        drop(samples);
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
        Box::pin(async move {
            let ev = self.inner.next_event().await;
            if let Ok(Some(VenueEvent::Order(runner::model::order::OrderEvent::Filled(_)))) = &ev {
                self.last_fill = Some(Instant::now());
            }
            ev
        })
    }

    fn track(&mut self, order: OrderRequest, filled: Qty) {
        self.inner.track(order, filled);
    }
}

/// The recorded regular sessions of 2013-10-07..11 as one-second prints.
fn tape() -> Vec<(DateTime<Utc>, Decimal, Decimal)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/spy-1s-trade-2013-10-07_11.csv.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("tape"))
        .read_to_string(&mut text)
        .expect("gunzip");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            ("09:30:00".."16:00:00").contains(&&f[0][11..19]).then(|| {
                let t = DateTime::parse_from_rfc3339(f[0]).expect("time").with_timezone(&Utc);
                (t, f[4].parse().expect("price"), f[5].parse().expect("size"))
            })
        })
        .collect()
}

fn main() {
    let fake =
        Arc::new(FakeAlpaca::start(FakeConfig { market_at_last_trade: true, ..FakeConfig::default() }));
    let dir = tempfile::tempdir().expect("temp");
    let shares = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/recipes/spy-9ma-shares.yaml"))
        .expect("recipe");
    let body = &shares[shares.find("instrument:").expect("instrument")..];
    let recipe = dir.path().join("bench.yaml");
    let (rest, data, trades) = (fake.rest_url(), fake.data_stream_url("iex"), fake.trade_stream_url());
    std::fs::write(
        &recipe,
        format!(
            "version: 1\nagent: bench\nprovider:\n  kind: alpaca\n  credentials: bench\n  endpoints: {{rest: \"{rest}\", stream: \"{data}\"}}\n\
             broker:\n  kind: alpaca\n  account: bench\n  credentials: bench\n  endpoints: {{rest: \"{rest}\", stream: \"{trades}\"}}\n{body}"
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
    let arrivals: Arrivals = Arc::default();
    let samples = Arc::new(Mutex::new(Samples::default()));
    let _entered = rt.enter();
    let Execution::Remote { client, .. } = venues::execution(&p, &creds).expect("execution") else {
        panic!("not a remote venue")
    };
    let MarketData::Live { client: feed, subscriptions } =
        venues::market_data(&p, run::DateRange::default(), &creds).expect("feed")
    else {
        panic!("not a live feed")
    };
    let client = Box::new(TimedExecution {
        inner: client,
        arrivals: Arc::clone(&arrivals),
        samples: Arc::clone(&samples),
        last_fill: None,
    });
    let feed = Box::new(TimedFeed { inner: feed, arrivals: Arc::clone(&arrivals) });
    let agent = run::build_agent_with_cash(&p, Some(Decimal::from(100_000))).expect("agent");
    let (requests, orders) = tokio::sync::mpsc::unbounded_channel();
    let (answers, venue) = tokio::sync::mpsc::channel(1024);
    rt.spawn(runner::runtime::remote::execute(client, orders, answers));
    let agents = vec![FleetAgent {
        trader: Trader::Remote(Box::new(Remote::new(agent, requests, Decimal::new(1, 2)))),
        feed: Feed::Live { client: feed, subscriptions },
        venue: Some(venue),
        chain: None,
        name: "bench".into(),
        account: "bench".into(),
        sink: None,
        signals: None,
        recipe: recipe.clone(),
        recipe_text: None,
    }];
    let opts = RunOptions {
        state_dir: dir.path().join("state"),
        loss_limit: None,
        stale_after: None,
        stale_halt_after: None,
        journal: dir.path().join("unused.db"),
        notify: None,
        restart: None,
    };
    let tape = tape();
    let publisher = {
        let fake = Arc::clone(&fake);
        std::thread::spawn(move || {
            assert!(fake.wait_for_data_subscription("SPY", Duration::from_secs(30)), "never subscribed");
            let start = Instant::now();
            for (i, (ts, price, size)) in tape.iter().enumerate() {
                fake.publish_trade("SPY", *ts, *price, *size);
                // 10,000 prints a second.
                let due = start + Duration::from_micros(100 * (i as u64 + 1));
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            std::thread::sleep(Duration::from_millis(500));
            // SAFETY: signalling this process: the run stops as on Ctrl-C.
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
            tape.len()
        })
    };
    drop(_entered);
    fleet::run(&rt, signals, agents, &opts, None).expect("run");
    let prints = publisher.join().expect("publisher");
    let samples = samples.lock().unwrap();
    eprintln!("alpaca_latency over {prints} prints of 2013-10-07..11 (10,000 prints/s):");
    eprintln!(
        "  market event handed to the agent → its order handed to the Alpaca client: {}",
        summary(&samples.decided)
    );
    eprintln!(
        "  a close's fill handed over → the reversal's opening order handed over:   {}",
        summary(&samples.after_fill)
    );
}

/// `n orders: p50 … p99 … max …`.
fn summary(samples: &[Duration]) -> String {
    let mut l = samples.to_vec();
    l.sort_unstable();
    if l.is_empty() {
        return "no orders".to_owned();
    }
    let q = |f: f64| l[((f * l.len() as f64).ceil() as usize).clamp(1, l.len()) - 1];
    format!("{} orders, p50 {:?}, p99 {:?}, max {:?}", l.len(), q(0.50), q(0.99), l[l.len() - 1])
}
