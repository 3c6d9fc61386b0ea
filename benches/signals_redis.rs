//! The Redis stream signal source against a real local `redis-server` (from `.ci/setup`):
//! - burst: 10,000 entries already in the stream, each handed to the loop, answered at once and
//!   acknowledged (`XACK`) before the next: entries per second, three runs;
//! - latency: one entry at a time, `XADD` by a publisher → the `Inbound` received by the loop
//!   (the source blocked in `XREADGROUP`): p50 / p99 / max over 1,000 entries.
//!
//! `cargo bench --bench signals_redis` (release).

#[path = "../tests/support/redis.rs"]
#[allow(dead_code)]
mod redis_server;

use std::time::{Duration, Instant};

use runner::runtime::signal_feed::redis::{RedisConfig, RedisTuning, spawn_with};
use runner::runtime::signal_feed::{FieldMap, SignalInput, Verdict};
use tokio::sync::mpsc;

fn config(url: String, stream: &str) -> RedisConfig {
    RedisConfig {
        url,
        password: None,
        stream: stream.into(),
        group: "runner:bench".into(),
        consumer: "bench".into(),
        fields: FieldMap {
            ticker: "Ticker".into(),
            direction: "Direction".into(),
            buy: "b".into(),
            sell: "s".into(),
            strength: None,
        },
        claim_idle: Duration::from_secs(600),
    }
}

fn make_group(con: &mut redis::Connection, stream: &str) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg("runner:bench")
        .arg("0")
        .arg("MKSTREAM")
        .query(con)
        .expect("XGROUP CREATE");
}

async fn answer(rx: &mut mpsc::Receiver<SignalInput>) -> Instant {
    match rx.recv().await.expect("source ended") {
        SignalInput::Signal(s) => {
            let at = Instant::now();
            s.reply.send(Verdict::Accepted { orders: vec![] }).expect("reply");
            at
        }
        SignalInput::Link(l) => panic!("link event in a bench: {l:?}"),
    }
}

fn main() {
    const BURST: usize = 10_000;
    const SINGLES: usize = 1_000;
    let server = redis_server::RedisServer::start();
    let mut con = server.conn();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    for run in 1..=3 {
        let stream = format!("burst{run}");
        make_group(&mut con, &stream);
        let mut pipe = redis::pipe();
        for i in 0..BURST {
            pipe.cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("Ticker")
                .arg("NVDA")
                .arg("Direction")
                .arg(["b", "s"][i % 2]);
        }
        let _: Vec<String> = pipe.query(&mut con).unwrap();
        let secs = rt.block_on(async {
            let (tx, mut rx) = mpsc::channel(16);
            let started = Instant::now();
            let task = spawn_with(config(server.url(), &stream), RedisTuning::default(), tx);
            for _ in 0..BURST {
                answer(&mut rx).await;
            }
            let secs = started.elapsed().as_secs_f64();
            drop(rx);
            let _ = task.await;
            secs
        });
        println!(
            "burst {run}: {BURST} entries in {secs:.3} s = {:.0} entries/s (read, answered, acknowledged)",
            BURST as f64 / secs
        );
    }

    make_group(&mut con, "single");
    let url = server.url();
    let mut lat: Vec<Duration> = rt.block_on(async move {
        let (tx, mut rx) = mpsc::channel(16);
        let tuning = RedisTuning { block: Duration::from_secs(5), ..RedisTuning::default() };
        let _task = spawn_with(config(url.clone(), "single"), tuning, tx);
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut publisher = client.get_multiplexed_async_connection().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await; // the source is blocked in XREADGROUP
        let mut out = Vec::with_capacity(SINGLES);
        for _ in 0..SINGLES {
            let sent = Instant::now();
            let _: String = redis::cmd("XADD")
                .arg("single")
                .arg("*")
                .arg("Ticker")
                .arg("NVDA")
                .arg("Direction")
                .arg("b")
                .query_async(&mut publisher)
                .await
                .unwrap();
            let got = answer(&mut rx).await;
            out.push(got - sent);
            tokio::time::sleep(Duration::from_millis(1)).await; // let the XACK go and the next read block
        }
        out
    });
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).saturating_sub(1).min(lat.len() - 1)];
    println!(
        "XADD → Inbound over {SINGLES} entries: p50 {:?}, p99 {:?}, max {:?}",
        pct(0.50),
        pct(0.99),
        lat[lat.len() - 1]
    );
}
