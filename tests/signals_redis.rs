//! The Redis stream signal source against a real `redis-server` (issue 13 §1, §4): entries in
//! order, acknowledged only after the verdict, pending entries re-read and claimed, malformed
//! entries named, a server restart survived, a burst delivered, passwords; and
//! `runner signals record` end to end.

use std::time::Duration;

use ::redis::Commands;
use runner::model::Timestamp;
use runner::model::account::{Connectivity, Link};
use runner::runtime::signal_feed::redis::{RedisConfig, RedisTuning, spawn_with};
use runner::runtime::signal_feed::{FieldMap, Inbound, Side, SignalInput, Verdict};
use tokio::sync::mpsc;

use crate::support::Run;
use crate::support::redis::RedisServer;

const WAIT: Duration = Duration::from_secs(15);

fn fields() -> FieldMap {
    FieldMap {
        ticker: "Ticker".into(),
        direction: "Direction".into(),
        buy: "b".into(),
        sell: "s".into(),
        strength: Some("Strength".into()),
    }
}

fn config(server: &RedisServer, stream: &str, consumer: &str) -> RedisConfig {
    RedisConfig {
        url: server.url(),
        password: None,
        stream: stream.into(),
        group: "runner:test".into(),
        consumer: consumer.into(),
        fields: fields(),
        claim_idle: Duration::from_secs(600),
    }
}

fn tuning() -> RedisTuning {
    RedisTuning {
        batch: 50,
        block: Duration::from_millis(200),
        claim_every: Some(Duration::from_millis(100)),
        backoff_first: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(2),
    }
}

/// Make the group from the stream's start, so entries added before the source starts are read.
fn make_group(con: &mut ::redis::Connection, stream: &str) {
    let _: () = ::redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg("runner:test")
        .arg("0")
        .arg("MKSTREAM")
        .query(con)
        .expect("XGROUP CREATE");
}

fn xadd(con: &mut ::redis::Connection, stream: &str, kv: &[(&str, &[u8])]) -> String {
    let mut cmd = ::redis::cmd("XADD");
    cmd.arg(stream).arg("*");
    for (k, v) in kv {
        cmd.arg(*k).arg(*v);
    }
    cmd.query(con).expect("XADD")
}

fn signal(con: &mut ::redis::Connection, stream: &str, ticker: &str, dir: &str) -> String {
    xadd(con, stream, &[("Ticker", ticker.as_bytes()), ("Direction", dir.as_bytes())])
}

/// How many entries of the group are pending (read, not acknowledged).
fn pending(con: &mut ::redis::Connection, stream: &str) -> i64 {
    let v: ::redis::Value =
        ::redis::cmd("XPENDING").arg(stream).arg("runner:test").query(con).expect("XPENDING");
    match v {
        ::redis::Value::Array(parts) => match parts.first() {
            Some(::redis::Value::Int(n)) => *n,
            other => panic!("XPENDING count: {other:?}"),
        },
        other => panic!("XPENDING: {other:?}"),
    }
}

async fn next(rx: &mut mpsc::Receiver<SignalInput>) -> SignalInput {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("nothing from the signal source in time")
        .expect("source ended")
}

async fn next_signal(rx: &mut mpsc::Receiver<SignalInput>) -> Inbound {
    match next(rx).await {
        SignalInput::Signal(s) => s,
        SignalInput::Link(l) => panic!("expected a signal, got {l:?}"),
    }
}

/// Poll `f` until true (or fail after [`WAIT`]).
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn accept(s: Inbound) {
    s.reply.send(Verdict::Accepted { orders: vec![] }).expect("source waits for the verdict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_become_signals_in_order() {
    let server = RedisServer::start();
    let mut con = server.conn();
    make_group(&mut con, "nvda");
    let a = signal(&mut con, "nvda", "NVDA", "b");
    let b = xadd(&mut con, "nvda", &[("Ticker", b"NVDA"), ("Direction", b"s"), ("Strength", b"0.4")]);
    let c = signal(&mut con, "nvda", "AAPL", "b");
    let (tx, mut rx) = mpsc::channel(4);
    let task = spawn_with(config(&server, "nvda", "agent-1"), tuning(), tx);
    let mut got = Vec::new();
    for _ in 0..3 {
        let s = next_signal(&mut rx).await;
        got.push((s.id.clone().unwrap(), s.published, s.body.clone().unwrap()));
        accept(s);
    }
    let ms = |id: &str| Timestamp(id.split('-').next().unwrap().parse::<i64>().unwrap() * 1_000_000);
    assert_eq!(got.iter().map(|g| g.0.as_str()).collect::<Vec<_>>(), [a.as_str(), b.as_str(), c.as_str()]);
    assert_eq!(got[0].1, ms(&a));
    assert_eq!((got[0].2.ticker.as_str(), got[0].2.side, got[0].2.strength), ("NVDA", Side::Buy, 100));
    assert_eq!((got[1].2.side, got[1].2.strength), (Side::Sell, 40));
    assert_eq!(got[2].2.ticker, "AAPL");
    // Entries appended while it runs arrive too.
    let d = signal(&mut con, "nvda", "NVDA", "s");
    let s = next_signal(&mut rx).await;
    assert_eq!(s.id.as_deref(), Some(d.as_str()));
    accept(s);
    eventually("everything is acknowledged", || pending(&mut con, "nvda") == 0).await;
    drop(rx);
    tokio::time::timeout(WAIT, task).await.expect("the source ends when its channel closes").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_is_acknowledged_only_after_its_verdict() {
    let server = RedisServer::start();
    let mut con = server.conn();
    make_group(&mut con, "nvda");
    let (tx, mut rx) = mpsc::channel(4);
    let _task = spawn_with(config(&server, "nvda", "agent-1"), tuning(), tx);
    let id = signal(&mut con, "nvda", "NVDA", "b");
    let s = next_signal(&mut rx).await;
    assert_eq!(s.id.as_deref(), Some(id.as_str()));
    // Read but not answered: pending, and the next entry is not handed over before the verdict.
    let next_id = signal(&mut con, "nvda", "NVDA", "s");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(pending(&mut con, "nvda"), 1, "pending until the verdict");
    assert!(rx.try_recv().is_err(), "one entry at a time");
    // A refusal is acknowledged too.
    s.reply.send(Verdict::Refused("stale".into())).unwrap();
    let s2 = next_signal(&mut rx).await;
    assert_eq!(s2.id.as_deref(), Some(next_id.as_str()));
    assert_eq!(pending(&mut con, "nvda"), 1, "the first acknowledged, the second pending");
    s2.reply.send(Verdict::Duplicate).unwrap();
    eventually("both acknowledged", || pending(&mut con, "nvda") == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_reply_leaves_the_entry_pending_and_the_next_start_reads_it_again() {
    let server = RedisServer::start();
    let mut con = server.conn();
    make_group(&mut con, "nvda");
    let id = signal(&mut con, "nvda", "NVDA", "b");
    let (tx, mut rx) = mpsc::channel(4);
    let task = spawn_with(config(&server, "nvda", "agent-1"), tuning(), tx);
    let s = next_signal(&mut rx).await;
    drop(s); // the loop stopped before the journal held it
    tokio::time::timeout(WAIT, task).await.expect("the source stops with its loop").unwrap();
    assert_eq!(pending(&mut con, "nvda"), 1);

    // The same consumer starts again: its pending entry comes first, then it is acknowledged.
    let later = signal(&mut con, "nvda", "NVDA", "s");
    let (tx, mut rx) = mpsc::channel(4);
    let _task = spawn_with(config(&server, "nvda", "agent-1"), tuning(), tx);
    let again = next_signal(&mut rx).await;
    assert_eq!(again.id.as_deref(), Some(id.as_str()));
    accept(again);
    let s = next_signal(&mut rx).await;
    assert_eq!(s.id.as_deref(), Some(later.as_str()));
    accept(s);
    eventually("both acknowledged", || pending(&mut con, "nvda") == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_consumer_claims_a_crashed_consumers_idle_entries() {
    let server = RedisServer::start();
    let mut con = server.conn();
    make_group(&mut con, "nvda");
    let ids = [signal(&mut con, "nvda", "NVDA", "b"), signal(&mut con, "nvda", "NVDA", "s")];
    // A consumer reads both and dies before acknowledging.
    let read_at = std::time::Instant::now();
    let read: ::redis::Value = ::redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("runner:test")
        .arg("crashed")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg("nvda")
        .arg(">")
        .query(&mut con)
        .unwrap();
    assert_ne!(read, ::redis::Value::Nil);
    assert_eq!(pending(&mut con, "nvda"), 2);

    let mut cfg = config(&server, "nvda", "agent-2");
    cfg.claim_idle = Duration::from_millis(300);
    let (tx, mut rx) = mpsc::channel(4);
    let _task = spawn_with(cfg, tuning(), tx);
    for id in &ids {
        let s = next_signal(&mut rx).await;
        assert_eq!(s.id.as_deref(), Some(id.as_str()));
        accept(s);
    }
    assert!(read_at.elapsed() >= Duration::from_millis(300), "claimed only once idle for claim_idle");
    eventually("the claimed entries are acknowledged", || pending(&mut con, "nvda") == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_entries_are_errors_naming_the_field() {
    let server = RedisServer::start();
    let mut con = server.conn();
    make_group(&mut con, "nvda");
    let bad = [
        xadd(&mut con, "nvda", &[("Ticker", b"NVDA")]),
        xadd(&mut con, "nvda", &[("Ticker", b"NVDA"), ("Direction", b"hold")]),
        xadd(&mut con, "nvda", &[("Ticker", &[0xff, 0xfe, 0x00]), ("Direction", b"b")]),
        xadd(&mut con, "nvda", &[("Ticker", b"NVDA"), ("Direction", b"b"), ("Strength", b"250")]),
    ];
    let good = signal(&mut con, "nvda", "NVDA", "b");
    let (tx, mut rx) = mpsc::channel(4);
    let _task = spawn_with(config(&server, "nvda", "agent-1"), tuning(), tx);
    let mut errors = Vec::new();
    for id in &bad {
        let s = next_signal(&mut rx).await;
        assert_eq!(s.id.as_deref(), Some(id.as_str()));
        errors.push(s.body.clone().expect_err("a malformed entry is an error"));
        s.reply.send(Verdict::Refused("malformed".into())).unwrap();
    }
    assert_eq!(errors[0], "no `Direction` field");
    assert!(errors[1].contains("`Direction` is `hold`"), "{}", errors[1]);
    assert_eq!(errors[2], "`Ticker` is not UTF-8 text");
    assert!(errors[3].contains("`Strength`"), "{}", errors[3]);
    let s = next_signal(&mut rx).await;
    assert_eq!(s.id.as_deref(), Some(good.as_str()));
    assert!(s.body.is_ok());
    accept(s);
    eventually("refusals are acknowledged too", || pending(&mut con, "nvda") == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_is_down_then_up_and_nothing_is_lost() {
    let mut server = RedisServer::start();
    let mut con = server.conn();
    make_group(&mut con, "nvda");
    let (tx, mut rx) = mpsc::channel(4);
    let _task = spawn_with(config(&server, "nvda", "agent-1"), tuning(), tx);
    let before = signal(&mut con, "nvda", "NVDA", "b");
    let s = next_signal(&mut rx).await;
    assert_eq!(s.id.as_deref(), Some(before.as_str()));
    accept(s);

    server.restart(); // data gone (no persistence): the source makes the group again
    let mut con = server.conn();
    let after: Vec<String> = (0..3).map(|i| signal(&mut con, "nvda", "NVDA", ["b", "s", "b"][i])).collect();
    match next(&mut rx).await {
        SignalInput::Link(Connectivity::Down { link: Link::Signals, reason, .. }) => {
            assert!(!reason.is_empty())
        }
        other => panic!("expected Link Down, got {other:?}"),
    }
    match next(&mut rx).await {
        SignalInput::Link(Connectivity::Up { link: Link::Signals, .. }) => {}
        other => panic!("expected Link Up, got {other:?}"),
    }
    for id in &after {
        let s = next_signal(&mut rx).await;
        assert_eq!(s.id.as_deref(), Some(id.as_str()));
        accept(s);
    }
    let more = signal(&mut con, "nvda", "NVDA", "s");
    let s = next_signal(&mut rx).await;
    assert_eq!(s.id.as_deref(), Some(more.as_str()));
    accept(s);
    eventually("all acknowledged", || pending(&mut con, "nvda") == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_ten_thousand_entries_is_all_delivered() {
    const N: usize = 10_000;
    let server = RedisServer::start();
    let mut con = server.conn();
    make_group(&mut con, "burst");
    let mut pipe = ::redis::pipe();
    for i in 0..N {
        pipe.cmd("XADD")
            .arg("burst")
            .arg("*")
            .arg("Ticker")
            .arg("NVDA")
            .arg("Direction")
            .arg(["b", "s"][i % 2]);
    }
    let _: Vec<String> = pipe.query(&mut con).unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let _task = spawn_with(config(&server, "burst", "agent-1"), RedisTuning::default(), tx);
    let mut last = String::new();
    for i in 0..N {
        let s = next_signal(&mut rx).await;
        let id = s.id.clone().unwrap();
        let key = |id: &str| {
            let (ms, seq) = id.split_once('-').unwrap();
            (ms.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap())
        };
        assert!(last.is_empty() || key(&id) > key(&last), "entry {i} out of order: {id} after {last}");
        assert_eq!(s.body.as_ref().unwrap().side, [Side::Buy, Side::Sell][i % 2]);
        last = id;
        accept(s);
    }
    eventually("all acknowledged", || pending(&mut con, "burst") == 0).await;
    assert!(rx.try_recv().is_err(), "nothing more than the burst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_works_and_a_wrong_one_is_a_clear_error_without_it() {
    let server = RedisServer::with_password("s3cret-pw");
    let mut con = server.conn();
    make_group(&mut con, "nvda");
    let id = signal(&mut con, "nvda", "NVDA", "b");

    let mut cfg = config(&server, "nvda", "agent-1");
    cfg.password = Some("s3cret-pw".to_owned().into());
    let (tx, mut rx) = mpsc::channel(4);
    let _task = spawn_with(cfg, tuning(), tx);
    let s = next_signal(&mut rx).await;
    assert_eq!(s.id.as_deref(), Some(id.as_str()));
    accept(s);

    let down_reason = |input: SignalInput| match input {
        SignalInput::Link(Connectivity::Down { link: Link::Signals, reason, .. }) => reason,
        other => panic!("expected Link Down, got {other:?}"),
    };
    let mut wrong = config(&server, "nvda", "agent-2");
    wrong.password = Some("not-the-pw-xyz".to_owned().into());
    let (tx, mut rx) = mpsc::channel(4);
    let _task = spawn_with(wrong, tuning(), tx);
    let reason = down_reason(next(&mut rx).await);
    assert!(reason.contains("authentication failed"), "{reason}");
    assert!(!reason.contains("not-the-pw-xyz"), "{reason}");

    // A password put in the URL is not echoed either; none at all says one is needed.
    let mut in_url = config(&server, "nvda", "agent-3");
    in_url.url = format!("redis://:url-pw-xyz@127.0.0.1:{}", server.port());
    let (tx, mut rx) = mpsc::channel(4);
    let _task = spawn_with(in_url, tuning(), tx);
    let reason = down_reason(next(&mut rx).await);
    assert!(reason.contains("authentication failed") && !reason.contains("url-pw-xyz"), "{reason}");
    let (tx, mut rx) = mpsc::channel(4);
    let _task = spawn_with(config(&server, "nvda", "agent-4"), tuning(), tx);
    let reason = down_reason(next(&mut rx).await);
    assert!(reason.contains("password"), "{reason}");
}

#[test]
fn signals_record_writes_the_csv_the_external_signal_algorithm_replays() {
    let server = RedisServer::with_password("rec-pw");
    let mut con = server.conn();
    // 2024-12-03 09:30:00 and 09:31:00 New York (EST), and one before --since.
    let add = |con: &mut ::redis::Connection, id: &str, kv: &[(&str, &str)]| {
        let mut cmd = ::redis::cmd("XADD");
        cmd.arg("nvda").arg(id);
        for (k, v) in kv {
            cmd.arg(*k).arg(*v);
        }
        let _: String = cmd.query(con).unwrap();
    };
    add(&mut con, "1733236140000-0", &[("Ticker", "NVDA"), ("Direction", "s")]);
    add(&mut con, "1733236200000-0", &[("Ticker", "NVDA"), ("Direction", "b")]);
    add(&mut con, "1733236230000-0", &[("Ticker", "NVDA"), ("Direction", "maybe")]);
    add(&mut con, "1733236260000-0", &[("Ticker", "NVDA"), ("Direction", "s"), ("Strength", "0.5")]);
    add(&mut con, "1733236270000-0", &[("Ticker", "AAPL"), ("Direction", "b")]);
    let _: i64 = con.xlen("nvda").unwrap();

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nvda.signals.csv");
    let run = Run::new(["signals", "record", "--url"])
        .arg(server.url())
        .args(["--stream", "nvda", "--strength-field", "Strength", "--since", "2024-12-03T09:30:00-05:00"])
        .args(["--password-env", "REDIS_TEST_PW", "--out"])
        .arg(&out)
        .env("REDIS_TEST_PW", "rec-pw")
        .run()
        .success();
    assert!(run.stderr.contains("skipped 1") && run.stderr.contains("1733236230000-0"), "{}", run.stderr);
    assert!(!run.stderr.contains("rec-pw"));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("timestamp,ticker,direction,strength\n"), "{text}");
    assert!(text.contains("2024-12-03T09:30:00.000-05:00,NVDA,b,100"), "{text}");
    let events =
        runner::strategy::external_signal::parse_signals(&text, "NVDA", &out).expect("the CSV parses");
    assert_eq!(events.len(), 2, "{text}");
    assert_eq!(events[0].ts, Timestamp(1_733_236_200_000_000_000));
    assert_eq!((events[1].ts, events[1].strength), (Timestamp(1_733_236_260_000_000_000), 50));
    let aapl = runner::strategy::external_signal::parse_signals(&text, "AAPL", &out).unwrap();
    assert_eq!(aapl.len(), 1);

    // --to bounds it; a wrong password fails without showing it, and leaves no file behind.
    let out2 = dir.path().join("first.csv");
    Run::new(["signals", "record", "--url"])
        .arg(server.url())
        .args([
            "--stream",
            "nvda",
            "--from",
            "-",
            "--to",
            "1733236200000-0",
            "--password-env",
            "REDIS_TEST_PW",
        ])
        .arg("--out")
        .arg(&out2)
        .env("REDIS_TEST_PW", "rec-pw")
        .run()
        .success();
    let text = std::fs::read_to_string(&out2).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    let out3 = dir.path().join("never.csv");
    let failed = Run::new(["signals", "record", "--url"])
        .arg(server.url())
        .args(["--stream", "nvda", "--password-env", "REDIS_TEST_PW", "--out"])
        .arg(&out3)
        .env("REDIS_TEST_PW", "wrong-pw-xyz")
        .run();
    assert_ne!(failed.code, 0);
    assert!(
        failed.stderr.contains("authentication failed") && !failed.stderr.contains("wrong-pw-xyz"),
        "{}",
        failed.stderr
    );
    assert!(!out3.exists());
}

#[test]
fn signals_record_takes_the_stream_and_fields_from_a_recipe() {
    let server = RedisServer::start();
    let mut con = server.conn();
    for (id, side) in [("1733236200000-0", "BUY"), ("1733236260000-0", "SELL"), ("1733236270000-0", "b")] {
        let _: String = ::redis::cmd("XADD")
            .arg("spy-signals")
            .arg(id)
            .arg("Sym")
            .arg("SPY")
            .arg("Side")
            .arg(side)
            .query(&mut con)
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("spy.yaml");
    std::fs::write(
        &recipe,
        format!(
            "agent: spy\nalgorithm:\n  kind: external-signal\n  signals:\n    source: redis\n    url: {}\n    \
             stream: spy-signals\n    fields: {{ticker: Sym, direction: Side, buy: BUY, sell: SELL}}\n",
            server.url()
        ),
    )
    .unwrap();
    let out = dir.path().join("spy.signals.csv");
    let run =
        Run::new(["signals", "record", "--fields-from"]).arg(&recipe).arg("--out").arg(&out).run().success();
    assert!(
        run.stderr.contains("recorded 2 signals") && run.stderr.contains("1733236270000-0"),
        "{}",
        run.stderr
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let events = runner::strategy::external_signal::parse_signals(&text, "SPY", &out).unwrap();
    assert_eq!(events.len(), 2, "{text}");
    // A recipe without Redis signals is a clear error, and no file is written.
    std::fs::write(&recipe, "agent: spy\nalgorithm:\n  kind: sma-cross\n").unwrap();
    let out2 = dir.path().join("none.csv");
    let failed =
        Run::new(["signals", "record", "--fields-from"]).arg(&recipe).arg("--out").arg(&out2).run().code(2);
    assert!(failed.stderr.contains("has no Redis signals"), "{}", failed.stderr);
    assert!(!out2.exists());
}
