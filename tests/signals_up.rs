//! `runner up` with external signals end to end: a real `redis-server` (or a unix socket), the
//! recorded SPY day replayed at real speed on the paper venue, the real binary. Every signal
//! leads to exactly the orders the decision rules say, is journaled with its id, and is never
//! traded twice: not after a crash between the journal write and the acknowledgement, not after
//! a Redis restart.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::redis::RedisServer;
use crate::support::{repo_root, runner_command};

const WAIT: Duration = Duration::from_secs(60);

/// A temp project: a recipe, a journal and a state directory of its own.
struct Desk {
    dir: tempfile::TempDir,
}

impl Desk {
    /// An SPY external-signal agent on the replayed day (04:00 on, extended hours, at real speed:
    /// the price stays near the first prints while the test publishes).
    fn new(signals: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = repo_root().join("data/spy-1m-trade-2013-10-07_11.csv.gz");
        let recipe = format!(
            "version: 1
agent: spy-sig
provider:
  kind: replay
  path: {}
  speed: 1x
broker:
  kind: paper
  account: paper-spy-sig
  starting_equity: 50000
instrument:
  underlying: SPY
  kind: equity
algorithm:
  kind: external-signal
  timeframe: 1m
  signals:
{signals}
risk:
  allocation: 20000
  entry_size: 50%
session:
  calendar: nyse
  hours: extended
",
            data.display()
        );
        fs::write(dir.path().join("spy-sig.yaml"), recipe).expect("recipe");
        Self { dir }
    }

    fn redis(server: &RedisServer) -> Self {
        Self::redis_aged(server, "5s")
    }

    fn redis_aged(server: &RedisServer, max_age: &str) -> Self {
        Self::new(&format!(
            "    source: redis\n    url: {}/0\n    stream: spy\n    fields: {{ticker: Ticker, direction: Direction}}\n    max_signal_age: {max_age}",
            server.url()
        ))
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn up(&self, env: &[(&str, &str)]) -> Child {
        let out = fs::File::create(self.path("up.out")).expect("out");
        let err = fs::File::create(self.path("up.err")).expect("err");
        let mut cmd = runner_command();
        cmd.current_dir(self.dir.path())
            .env_remove("RUNNER_JOURNAL")
            .env("HOME", self.dir.path())
            .args(["up", "spy-sig.yaml", "--journal", "j.db", "--state-dir", "state"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn().expect("spawn runner up")
    }

    fn output(&self) -> String {
        let out = fs::read_to_string(self.path("up.out")).unwrap_or_default();
        let err = fs::read_to_string(self.path("up.err")).unwrap_or_default();
        format!("--- stdout\n{out}--- stderr\n{err}")
    }

    /// Wait until the agent has a price (it accepts signals from then on).
    fn wait_ready(&self) {
        let file = self.path("state/status/spy-sig.json");
        let start = Instant::now();
        while !fs::read_to_string(&file).is_ok_and(|t| t.contains("2013-10-07T04:0")) {
            assert!(start.elapsed() < WAIT, "the agent never saw a price:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_output(&self, needle: &str) {
        let start = Instant::now();
        while !self.output().contains(needle) {
            assert!(start.elapsed() < WAIT, "never printed {needle:?}:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop a run with SIGINT and wait for it.
    fn stop(&self, mut child: Child) {
        let pid = i32::try_from(child.id()).expect("pid");
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let status = wait_exit(&mut child);
        assert!(status.success(), "runner up failed ({status}):\n{}", self.output());
    }

    /// `runner journal <what> --format json`, parsed.
    fn journal(&self, what: &str) -> Vec<Value> {
        let out = runner_command()
            .current_dir(self.dir.path())
            .args(["journal", "--db", "j.db", "--format", "json", what])
            .output()
            .expect("runner journal");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).expect("json").as_array().cloned().unwrap_or_default()
    }

    fn signals(&self) -> Vec<Value> {
        self.journal("signals")
    }
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(start.elapsed() < WAIT, "runner up did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn xadd(conn: &mut redis::Connection, fields: &[(&str, &str)]) -> String {
    let mut cmd = redis::cmd("XADD");
    cmd.arg("spy").arg("*");
    for (k, v) in fields {
        cmd.arg(*k).arg(*v);
    }
    cmd.query(conn).expect("XADD")
}

fn pending(conn: &mut redis::Connection) -> i64 {
    let v: redis::Value =
        redis::cmd("XPENDING").arg("spy").arg("runner:spy-sig").query(conn).expect("XPENDING");
    match v {
        redis::Value::Array(items) => match items.first() {
            Some(redis::Value::Int(n)) => *n,
            _ => 0,
        },
        _ => 0,
    }
}

/// Wait until the journal holds `n` signals and Redis has none pending (all acknowledged).
fn wait_handled(desk: &Desk, conn: &mut redis::Connection, n: usize) {
    let start = Instant::now();
    while !(desk.signals().len() >= n && pending(conn) == 0) {
        assert!(start.elapsed() < WAIT, "signals not handled: {:?}\n{}", desk.signals(), desk.output());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn field<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn orders_of(v: &Value) -> usize {
    v.get("orders").and_then(Value::as_array).map_or(0, Vec::len)
}

/// (side, qty) of every fill, in order.
fn fills(desk: &Desk) -> Vec<(String, String)> {
    desk.journal("trades")
        .iter()
        .map(|f| {
            (
                field(f, "side").to_owned(),
                f.get("qty").map(|q| q.to_string().replace('"', "")).unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn redis_signals_trade_as_the_rules_say_and_bad_ones_are_journaled_refusals() {
    let server = RedisServer::start();
    let desk = Desk::redis(&server);
    let child = desk.up(&[]);
    desk.wait_ready();
    let mut conn = server.conn();
    // Published at uneven times, as another program would.
    let pause = |ms: u64| std::thread::sleep(Duration::from_millis(ms));
    let buy = xadd(&mut conn, &[("Ticker", "SPY"), ("Direction", "b")]);
    pause(170);
    xadd(&mut conn, &[("Ticker", "QQQ"), ("Direction", "s")]);
    pause(40);
    let sell = xadd(&mut conn, &[("Ticker", "spy"), ("Direction", "s")]);
    pause(260);
    let junk = xadd(&mut conn, &[("Ticker", "SPY"), ("Direction", "hold")]);
    let missing = xadd(&mut conn, &[("Direction", "b")]);
    pause(90);
    let buy2 = xadd(&mut conn, &[("Ticker", "SPY"), ("Direction", "b")]);
    wait_handled(&desk, &mut conn, 5);
    desk.stop(child);

    let sig = desk.signals();
    let by_id = |id: &str| sig.iter().find(|s| field(s, "signal_id") == id).cloned().unwrap_or(Value::Null);
    assert_eq!(sig.len(), 5, "QQQ is ignored, every other entry journaled: {sig:#?}");
    let b = by_id(&buy);
    assert_eq!((field(&b, "status"), orders_of(&b)), ("accepted", 1), "{b}");
    let s = by_id(&sell);
    assert_eq!(field(&s, "status"), "accepted", "{s}");
    let j = by_id(&junk);
    assert_eq!(field(&j, "status"), "refused");
    assert!(field(&j, "reason").contains("`Direction` is `hold`"), "{j}");
    let m = by_id(&missing);
    assert!(field(&m, "reason").contains("no `Ticker` field"), "{m}");
    assert_eq!(field(&by_id(&buy2), "status"), "accepted");
    // The rules: buy → long 59; sell → exit, then short 59; buy → exit, then long 59; the stop
    // flattens. (50 % of 20,000 at 167.27 is 59 shares.)
    let sides: Vec<String> = fills(&desk).into_iter().map(|(s, q)| format!("{s} {q}")).collect();
    assert_eq!(sides, ["buy 59", "sell 59", "sell 59", "buy 59", "buy 59", "sell 59"], "{}", desk.output());
    assert!(
        desk.output().contains("3 accepted, 2 refused, 0 duplicates, 1 for other tickers"),
        "{}",
        desk.output()
    );
}

#[test]
fn a_stale_signal_is_refused_not_traded_late() {
    let server = RedisServer::start();
    let desk = Desk::redis(&server);
    let mut conn = server.conn();
    // Published a minute before the agent starts: still in the stream when it starts, and
    // delivered (the group reads from the stream's start), but far too old to trade.
    let old_ms = chrono::Utc::now().timestamp_millis() - 60_000;
    let id: String = redis::cmd("XADD")
        .arg("spy")
        .arg(format!("{old_ms}-0"))
        .arg("Ticker")
        .arg("SPY")
        .arg("Direction")
        .arg("b")
        .query(&mut conn)
        .expect("XADD");
    redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("spy")
        .arg("runner:spy-sig")
        .arg("0")
        .query::<()>(&mut conn)
        .expect("group from the start");
    let child = desk.up(&[]);
    desk.wait_ready();
    wait_handled(&desk, &mut conn, 1);
    desk.stop(child);
    let sig = desk.signals();
    assert_eq!(sig.len(), 1, "{sig:#?}");
    assert_eq!(field(&sig[0], "signal_id"), id);
    assert_eq!(field(&sig[0], "status"), "refused");
    assert!(field(&sig[0], "reason").starts_with("stale: published 6"), "{}", sig[0]);
    assert!(fills(&desk).is_empty(), "a stale signal traded:\n{}", desk.output());
}

#[test]
fn a_crash_between_the_journal_and_the_ack_never_trades_a_signal_twice() {
    let server = RedisServer::start();
    // The restart may take seconds on a loaded machine: the entry it reads must not be stale.
    let desk = Desk::redis_aged(&server, "60s");
    let mut conn = server.conn();
    // 1. The runner dies (abort, as kill -9) after journaling the order, before XACK.
    let mut first = desk.up(&[("RUNNER_TEST_ABORT_BEFORE_SIGNAL_ACK", "1")]);
    desk.wait_ready();
    let id = xadd(&mut conn, &[("Ticker", "SPY"), ("Direction", "b")]);
    let status = wait_exit(&mut first);
    assert!(!status.success(), "the hook should have aborted:\n{}", desk.output());
    assert_eq!(pending(&mut conn), 1, "the entry stays pending after the crash");
    let sig = desk.signals();
    assert_eq!((sig.len(), orders_of(&sig[0])), (1, 1), "{sig:#?}");

    // 2. A new entry read by the agent's consumer but never journaled (a crash right after
    //    XREADGROUP): pending too; the restart must trade it, once.
    let host = runner::runtime::process::host_name();
    let unread = xadd(&mut conn, &[("Ticker", "SPY"), ("Direction", "s")]);
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("runner:spy-sig")
        .arg(format!("spy-sig@{host}"))
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg("spy")
        .arg(">")
        .query(&mut conn)
        .expect("XREADGROUP");
    assert_eq!(pending(&mut conn), 2);

    // 3. Restart: both pending entries are read again; the journaled one is a duplicate.
    let second = desk.up(&[]);
    desk.wait_ready();
    wait_handled(&desk, &mut conn, 2);
    desk.stop(second);
    let sig = desk.signals();
    assert_eq!(sig.len(), 2, "{sig:#?}");
    assert_eq!(sig.iter().filter(|s| field(s, "signal_id") == id).count(), 1);
    let s = sig.iter().find(|s| field(s, "signal_id") == unread).expect("the unread entry");
    assert_eq!(field(s, "status"), "accepted", "{s}");
    assert!(desk.output().contains("1 duplicates"), "{}", desk.output());
    // One buy order for the first signal, ever.
    let buys_with_signal = desk
        .journal("trades")
        .iter()
        .filter(|f| field(f, "client_order_id") == sig[0]["orders"][0].as_str().unwrap_or("?"))
        .count();
    assert_eq!(buys_with_signal, 1, "{}", desk.output());
}

#[test]
fn a_redis_restart_is_survived_and_later_signals_still_trade() {
    let mut server = RedisServer::start();
    let desk = Desk::redis(&server);
    let child = desk.up(&[]);
    desk.wait_ready();
    let mut conn = server.conn();
    xadd(&mut conn, &[("Ticker", "SPY"), ("Direction", "b")]);
    wait_handled(&desk, &mut conn, 1);
    server.restart();
    desk.wait_output("signal source");
    let mut conn = server.conn();
    xadd(&mut conn, &[("Ticker", "SPY"), ("Direction", "s")]);
    let start = Instant::now();
    while desk.signals().len() < 2 {
        assert!(start.elapsed() < WAIT, "the signal after the restart never came:\n{}", desk.output());
        std::thread::sleep(Duration::from_millis(100));
    }
    desk.stop(child);
    let sig = desk.signals();
    assert!(sig.iter().all(|s| field(s, "status") == "accepted"), "{sig:#?}");
    let out = desk.output();
    assert!(out.contains("signal source disconnected") || out.contains("signal source down"), "{out}");
}

/// One frame: 4-byte big-endian length, then the bytes.
fn frame(s: &mut std::os::unix::net::UnixStream, body: &[u8]) -> Value {
    let len = u32::try_from(body.len()).expect("len").to_be_bytes();
    s.write_all(&len).and_then(|()| s.write_all(body)).expect("write frame");
    let mut n = [0u8; 4];
    s.read_exact(&mut n).expect("ack length");
    let mut ack = vec![0u8; u32::from_be_bytes(n) as usize];
    s.read_exact(&mut ack).expect("ack");
    serde_json::from_slice(&ack).expect("ack json")
}

#[test]
fn socket_signals_are_acked_with_what_the_agent_did() {
    let desk = Desk::new("    source: socket\n    path: sig.sock");
    let child = desk.up(&[]);
    desk.wait_ready();
    let sock = desk.path("sig.sock");
    let mode = fs::metadata(&sock).expect("socket").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut s = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let a = frame(&mut s, br#"{"ticker":"SPY","direction":"buy","strength":0.5,"id":"s-1"}"#);
    assert_eq!(a["status"], "accepted", "{a}");
    assert_eq!(a["orders"].as_array().map(Vec::len), Some(1), "{a}");
    let d = frame(&mut s, br#"{"ticker":"SPY","direction":"buy","id":"s-1"}"#);
    assert_eq!(d["status"], "duplicate", "{d}");
    let i = frame(&mut s, br#"{"ticker":"NVDA","direction":"sell","id":"n-1"}"#);
    assert_eq!(i["status"], "ignored", "{i}");
    let e = frame(&mut s, b"{not json");
    assert_eq!(e["status"], "error", "{e}");
    let x = frame(&mut s, br#"{"ticker":"SPY","direction":"sell","id":"s-2"}"#);
    assert_eq!(x["status"], "accepted", "{x}");
    drop(s);
    // The SPY bot's own client: Python, length prefix then the message.
    let py = format!(
        "import socket, struct, json\n\
         s = socket.socket(socket.AF_UNIX); s.connect({:?})\n\
         m = json.dumps({{'ticker': 'SPY', 'direction': 'sell', 'id': 's-3'}}).encode()\n\
         s.sendall(struct.pack('>I', len(m)) + m)\n\
         n = struct.unpack('>I', s.recv(4, socket.MSG_WAITALL))[0]\n\
         print(json.loads(s.recv(n, socket.MSG_WAITALL))['status'])\n",
        sock.display().to_string()
    );
    let out = std::process::Command::new("python3").arg("-c").arg(py).output().expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "accepted",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    desk.stop(child);
    assert!(!Path::new(&sock).exists(), "the socket is removed on exit");
    let sig = desk.signals();
    assert_eq!(sig.len(), 3, "{sig:#?}");
    // A half-strength buy: half of the 50 % entry size, 10,000 at 167.27 → 29 shares.
    let sides: Vec<String> = fills(&desk).into_iter().map(|(s, q)| format!("{s} {q}")).collect();
    assert_eq!(sides.first().map(String::as_str), Some("buy 29"), "{sides:?}\n{}", desk.output());
}
