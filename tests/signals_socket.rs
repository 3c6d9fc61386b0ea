//! The unix socket signal source (`runner::runtime::signal_feed::socket`) over a real socket in
//! a temporary directory, with the test playing the agent's loop (it takes the `Inbound`s off
//! the channel and answers each with the verdict it chooses): the socket's mode and lifetime
//! (0600, a stale file replaced, a live one refused, removed on drop), a Rust and a Python
//! client (the SPY bot's `struct.pack('>I', len)` pattern), malformed, empty, oversized and half
//! frames, the client cap, and 10 clients × 100 pipelined frames.

use std::future::Future;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use runner::model::Timestamp;
use runner::runtime::signal_feed::socket::{MAX_CLIENTS, SocketConfig, SocketServer};
use runner::runtime::signal_feed::{Inbound, Side, SignalBody, SignalInput, Verdict};

/// Bound on every wait (a failing test fails instead of hanging).
const WAIT: Duration = Duration::from_secs(10);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f).await.expect("timed out")
}

fn sock_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("signals.sock")
}

/// What the fake loop saw of one signal.
#[derive(Debug, Clone)]
struct Seen {
    id: Option<String>,
    published: Timestamp,
    body: Result<SignalBody, String>,
}

/// The test's agent loop: answers every signal with `decide`'s verdict and records it.
struct Agent {
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Agent {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// The verdicts of these tests: another ticker is ignored, a malformed body refused, an id
/// starting `dup` a duplicate, `late` refused as stale, anything else accepted with one order.
fn decide(i: &Inbound) -> Verdict {
    match &i.body {
        Err(e) => Verdict::Refused(e.clone()),
        Ok(b) if !b.ticker.eq_ignore_ascii_case("SPY") => Verdict::OtherTicker,
        Ok(_) => match i.id.as_deref() {
            Some(id) if id.starts_with("dup") => Verdict::Duplicate,
            Some(id) if id.starts_with("late") => Verdict::Refused("stale: published 9 s ago".into()),
            Some(id) => Verdict::Accepted { orders: vec![format!("ord-{id}")] },
            None => Verdict::Accepted { orders: vec![] },
        },
    }
}

fn agent(mut rx: mpsc::Receiver<SignalInput>) -> Agent {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let task = tokio::spawn(async move {
        while let Some(input) = rx.recv().await {
            let SignalInput::Signal(i) = input else { continue };
            let verdict = decide(&i);
            log.lock().unwrap().push(Seen { id: i.id.clone(), published: i.published, body: i.body.clone() });
            let _ = i.reply.send(verdict);
        }
    });
    Agent { seen, task }
}

/// A served socket in `dir` (frame limit `max`) with the fake loop behind it.
fn serve(dir: &tempfile::TempDir, max: usize) -> (JoinHandle<()>, Agent) {
    let server =
        SocketServer::bind(SocketConfig { path: sock_path(dir), max_frame_bytes: max }).expect("bind");
    let (tx, rx) = mpsc::channel(16);
    (server.spawn(tx), agent(rx))
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

async fn send(s: &mut UnixStream, payload: &[u8]) {
    within(s.write_all(&frame(payload))).await.expect("write");
}

/// The next ack, or `None` when the server closed the connection.
async fn ack(s: &mut UnixStream) -> Option<Value> {
    let mut len = [0u8; 4];
    if within(s.read_exact(&mut len)).await.is_err() {
        return None;
    }
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    within(s.read_exact(&mut buf)).await.expect("a whole ack");
    Some(serde_json::from_slice(&buf).expect("an ack is JSON"))
}

async fn connect(path: &Path) -> UnixStream {
    within(UnixStream::connect(path)).await.expect("connect")
}

/// Send one frame and read its ack.
async fn ask(s: &mut UnixStream, payload: &[u8]) -> Value {
    send(s, payload).await;
    ack(s).await.expect("an ack")
}

fn now() -> Timestamp {
    Timestamp::from_datetime(&chrono::Utc::now())
}

#[test]
fn the_socket_is_0600_and_removed_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock_path(&dir);
    let server = SocketServer::bind(SocketConfig::new(&path)).expect("bind");
    let m = std::fs::symlink_metadata(&path).unwrap();
    assert!(m.file_type().is_socket());
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    // Nothing left beside it (the private directory it was bound in is gone).
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("signals.sock")]);
    assert_eq!(server.path(), path);
    drop(server);
    assert!(!path.exists(), "the socket file outlived the server");
}

#[test]
fn a_rust_client_gets_the_agents_verdicts() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (_server, agent) = serve(&dir, 64 * 1024);
        let mut s = connect(&sock_path(&dir)).await;

        let a = ask(
            &mut s,
            br#"{"ticker":"SPY","direction":"buy","strength":0.8,"id":"abc","ts":"2026-12-03T14:30:00Z"}"#,
        )
        .await;
        assert_eq!(a, json!({"id":"abc","status":"accepted","orders":["ord-abc"]}));
        let before = now();
        let a = ask(&mut s, br#"{"ticker":"spy","direction":"S","id":"late-1"}"#).await;
        assert_eq!(a, json!({"id":"late-1","status":"refused","reason":"stale: published 9 s ago"}));
        let after = now();
        assert_eq!(
            ask(&mut s, br#"{"ticker":"SPY","direction":"b","id":"dup-1"}"#).await,
            json!({"id":"dup-1","status":"duplicate"})
        );
        assert_eq!(
            ask(&mut s, br#"{"ticker":"NVDA","direction":"sell"}"#).await,
            json!({"status":"ignored","reason":"ticker NVDA is not this agent's"})
        );
        // A malformed signal with an id goes to the agent (to be journaled) and is refused.
        let a = ask(&mut s, br#"{"ticker":"SPY","direction":"hold","id":"m1"}"#).await;
        assert_eq!(a["status"], "refused");
        assert!(a["reason"].as_str().unwrap().contains("`direction` is `hold`"), "{a}");

        let seen = agent.seen();
        assert_eq!(seen.len(), 5);
        assert_eq!(seen[0].id.as_deref(), Some("abc"));
        assert_eq!(seen[0].body, Ok(SignalBody { ticker: "SPY".into(), side: Side::Buy, strength: 80 }));
        let ts = chrono::DateTime::parse_from_rfc3339("2026-12-03T14:30:00Z").unwrap();
        assert_eq!(seen[0].published, Timestamp::from_datetime(&ts));
        // No `ts`: published when received.
        assert!(before <= seen[1].published && seen[1].published <= after);
        assert_eq!(seen[1].body.as_ref().unwrap().side, Side::Sell);
        assert_eq!(seen[3].id, None);
        assert!(seen[4].body.is_err());
    });
}

/// The SPY bot's own client pattern, in Python: `struct.pack('>I', len(data)) + data`.
const PYTHON_CLIENT: &str = r#"
import json, socket, struct, sys

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError("closed")
        b += chunk
    return b

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
for msg in [
    {"ticker": "SPY", "direction": "buy", "strength": 0.8, "id": "py-1", "ts": "2026-12-03T14:30:00Z"},
    {"ticker": "SPY", "direction": "s", "strength": "40%", "id": "dup-py"},
    {"ticker": "QQQ", "direction": "b", "id": "py-3"},
]:
    data = json.dumps(msg).encode()
    s.sendall(struct.pack('>I', len(data)) + data)
    (n,) = struct.unpack('>I', recv_exact(s, 4))
    print(recv_exact(s, n).decode())
s.close()
"#;

#[test]
fn a_python_client_with_the_spy_bots_pattern() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (_server, agent) = serve(&dir, 64 * 1024);
        let out = within(
            tokio::process::Command::new("python3")
                .arg("-c")
                .arg(PYTHON_CLIENT)
                .arg(sock_path(&dir))
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("python3 runs");
        assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
        let acks: Vec<Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            acks,
            vec![
                json!({"id":"py-1","status":"accepted","orders":["ord-py-1"]}),
                json!({"id":"dup-py","status":"duplicate"}),
                json!({"id":"py-3","status":"ignored","reason":"ticker QQQ is not this agent's"}),
            ]
        );
        let seen = agent.seen();
        assert_eq!(seen[1].body, Ok(SignalBody { ticker: "SPY".into(), side: Side::Sell, strength: 40 }));
    });
}

#[test]
fn an_oversized_frame_gets_an_error_ack_and_the_connection_closes() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (_server, agent) = serve(&dir, 1024);
        let mut s = connect(&sock_path(&dir)).await;
        // Announce 1025 bytes (one over the limit) and send only the length: the server answers
        // without waiting for (or allocating) the body.
        within(s.write_all(&1025u32.to_be_bytes())).await.unwrap();
        let a = ack(&mut s).await.expect("an error ack");
        assert_eq!(
            a,
            json!({"status":"error","reason":"frame of 1025 bytes is over the limit of 1024 bytes; closing"})
        );
        assert_eq!(ack(&mut s).await, None, "the connection stays open");
        // A 4 GiB announcement: the same, nothing allocated.
        let mut s = connect(&sock_path(&dir)).await;
        within(s.write_all(&u32::MAX.to_be_bytes())).await.unwrap();
        assert_eq!(ack(&mut s).await.unwrap()["status"], "error");
        assert_eq!(ack(&mut s).await, None);
        // A frame of exactly the limit is read.
        let mut s = connect(&sock_path(&dir)).await;
        let head = br#"{"ticker":"SPY","direction":"b","id":"big","pad":""#;
        let mut payload = head.to_vec();
        payload.resize(1024 - 2, b'x');
        payload.extend_from_slice(b"\"}");
        assert_eq!(ask(&mut s, &payload).await["status"], "accepted");
        assert_eq!(agent.seen().len(), 1);
    });
}

#[test]
fn bad_frames_get_error_acks_and_the_connection_stays_usable() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (_server, agent) = serve(&dir, 64 * 1024);
        let mut s = connect(&sock_path(&dir)).await;
        let a = ask(&mut s, b"{\"ticker\":\"SPY\xff\"}").await;
        assert_eq!(a["status"], "error");
        assert!(a["reason"].as_str().unwrap().contains("not UTF-8"), "{a}");
        let a = ask(&mut s, b"{\"ticker\": SPY").await;
        assert_eq!(a["status"], "error");
        assert!(a["reason"].as_str().unwrap().contains("not JSON"), "{a}");
        let a = ask(&mut s, b"").await;
        assert_eq!(a, json!({"status":"error","reason":"empty frame (length 0)"}));
        // Malformed without an id: an error ack, the agent not involved.
        assert_eq!(
            ask(&mut s, br#"{"direction":"buy"}"#).await,
            json!({"status":"error","reason":"no `ticker`"})
        );
        let long_id = format!(r#"{{"ticker":"SPY","direction":"b","id":"{}"}}"#, "i".repeat(200));
        assert_eq!(ask(&mut s, long_id.as_bytes()).await["status"], "error");
        assert!(agent.seen().is_empty(), "{:?}", agent.seen());
        // Still usable.
        let a = ask(&mut s, br#"{"ticker":"SPY","direction":"buy","id":"after"}"#).await;
        assert_eq!(a, json!({"id":"after","status":"accepted","orders":["ord-after"]}));
        assert_eq!(agent.seen().len(), 1);
    });
}

#[test]
fn a_half_frame_then_disconnect_sends_nothing_and_the_server_serves_on() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (_server, agent) = serve(&dir, 64 * 1024);
        // Half a body.
        let mut s = connect(&sock_path(&dir)).await;
        let f = frame(br#"{"ticker":"SPY","direction":"buy","id":"half"}"#);
        within(s.write_all(&f[..f.len() / 2])).await.unwrap();
        drop(s);
        // Half a length.
        let mut s = connect(&sock_path(&dir)).await;
        within(s.write_all(&[0, 0])).await.unwrap();
        drop(s);
        // A whole frame, then half of the next.
        let mut s = connect(&sock_path(&dir)).await;
        assert_eq!(
            ask(&mut s, br#"{"ticker":"SPY","direction":"buy","id":"whole"}"#).await["status"],
            "accepted"
        );
        within(s.write_all(&f[..7])).await.unwrap();
        drop(s);

        let mut s = connect(&sock_path(&dir)).await;
        assert_eq!(
            ask(&mut s, br#"{"ticker":"SPY","direction":"sell","id":"next"}"#).await["status"],
            "accepted"
        );
        let ids: Vec<_> = agent.seen().into_iter().map(|x| x.id.unwrap()).collect();
        assert_eq!(ids, ["whole", "next"]);
    });
}

#[test]
fn ten_clients_of_a_hundred_pipelined_frames_are_all_answered_in_order() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (_server, agent) = serve(&dir, 64 * 1024);
        let mut clients = Vec::new();
        for c in 0..10 {
            let s = connect(&sock_path(&dir)).await;
            clients.push(tokio::spawn(async move {
                let (mut rd, mut wr) = s.into_split();
                let writer = tokio::spawn(async move {
                    for n in 0..100 {
                        let msg = format!(r#"{{"ticker":"SPY","direction":"b","id":"c{c}-{n}"}}"#);
                        wr.write_all(&frame(msg.as_bytes())).await.unwrap();
                    }
                    wr
                });
                let mut ids = Vec::new();
                for _ in 0..100 {
                    let mut len = [0u8; 4];
                    rd.read_exact(&mut len).await.unwrap();
                    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
                    rd.read_exact(&mut buf).await.unwrap();
                    let a: Value = serde_json::from_slice(&buf).unwrap();
                    assert_eq!(a["status"], "accepted", "{a}");
                    ids.push(a["id"].as_str().unwrap().to_owned());
                }
                let _wr = writer.await.unwrap();
                (c, ids)
            }));
        }
        for client in clients {
            let (c, ids) = within(client).await.unwrap();
            let want: Vec<_> = (0..100).map(|n| format!("c{c}-{n}")).collect();
            assert_eq!(ids, want, "client {c}'s acks out of order");
        }
        assert_eq!(agent.seen().len(), 1000);
    });
}

#[test]
fn a_client_over_the_cap_is_turned_away() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (_server, _agent) = serve(&dir, 64 * 1024);
        let mut held = Vec::new();
        for n in 0..MAX_CLIENTS {
            let mut s = connect(&sock_path(&dir)).await;
            let msg = format!(r#"{{"ticker":"SPY","direction":"b","id":"cap-{n}"}}"#);
            assert_eq!(ask(&mut s, msg.as_bytes()).await["status"], "accepted");
            held.push(s);
        }
        let mut extra = connect(&sock_path(&dir)).await;
        let a = ack(&mut extra).await.expect("an error ack");
        assert_eq!(
            a,
            json!({"status":"error","reason":format!("too many clients ({MAX_CLIENTS} already connected)")})
        );
        assert_eq!(ack(&mut extra).await, None);
        // One leaves: a slot frees up (once the server has seen it go).
        drop(held.pop());
        within(async {
            loop {
                // Turned away until then: the error ack, and the write may meet a closed socket.
                let mut s = connect(&sock_path(&dir)).await;
                let _ = s.write_all(&frame(br#"{"ticker":"SPY","direction":"b","id":"again"}"#)).await;
                let a = ack(&mut s).await.expect("an ack");
                if a["status"] == "accepted" {
                    break;
                }
                assert!(a["reason"].as_str().unwrap().starts_with("too many clients"), "{a}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    });
}

#[test]
fn the_server_stops_when_the_agent_goes_and_removes_its_file() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = sock_path(&dir);
        let (server, agent) = serve(&dir, 64 * 1024);
        let mut s = connect(&path).await;
        assert_eq!(
            ask(&mut s, br#"{"ticker":"SPY","direction":"b","id":"one"}"#).await["status"],
            "accepted"
        );
        agent.task.abort();
        within(server).await.expect("the server task ends");
        assert!(!path.exists(), "the socket file outlived the server");
        assert_eq!(ack(&mut s).await, None, "the client's connection ends");
    });
}

#[test]
fn an_agent_that_stops_before_answering_gets_an_error_ack() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let server = SocketServer::bind(SocketConfig::new(sock_path(&dir))).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let _server = server.spawn(tx);
        let loop_ = tokio::spawn(async move {
            // Takes the signal, then drops it unanswered.
            let first = rx.recv().await;
            drop(first);
            rx
        });
        let mut s = connect(&sock_path(&dir)).await;
        let a = ask(&mut s, br#"{"ticker":"SPY","direction":"b","id":"lost"}"#).await;
        assert_eq!(a, json!({"id":"lost","status":"error","reason":"the agent stopped before answering"}));
        assert_eq!(ack(&mut s).await, None);
        drop(within(loop_).await);
    });
}

#[test]
fn a_stale_socket_file_is_replaced() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = sock_path(&dir);
        // A dead runner's socket: bound, then its listener gone, the file left behind.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let old = std::fs::symlink_metadata(&path).unwrap().ino();
        let (_server, _agent) = serve(&dir, 64 * 1024);
        let m = std::fs::symlink_metadata(&path).unwrap();
        assert_ne!(m.ino(), old);
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
        let mut s = connect(&path).await;
        assert_eq!(
            ask(&mut s, br#"{"ticker":"SPY","direction":"b","id":"fresh"}"#).await["status"],
            "accepted"
        );
    });
}

#[test]
fn a_live_socket_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock_path(&dir);
    let first = SocketServer::bind(SocketConfig::new(&path)).unwrap();
    let ino = std::fs::symlink_metadata(&path).unwrap().ino();
    let e = SocketServer::bind(SocketConfig::new(&path)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    assert!(e.to_string().contains("already in use") && e.to_string().contains("signals.sock"), "{e}");
    assert_eq!(std::fs::symlink_metadata(&path).unwrap().ino(), ino, "the live socket was touched");
    // The other process also listens on a plain std listener: the same.
    drop(first);
    let _other = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let e = SocketServer::bind(SocketConfig::new(&path)).unwrap_err();
    assert!(e.to_string().contains("already in use"), "{e}");
}

#[test]
fn a_path_that_is_not_a_socket_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock_path(&dir);
    std::fs::write(&path, "precious").unwrap();
    let e = SocketServer::bind(SocketConfig::new(&path)).unwrap_err();
    assert!(e.to_string().contains("is not a socket; refusing to replace it"), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    // Nor a symlink to one, nor a directory.
    let target = dir.path().join("real.sock");
    let _l = std::os::unix::net::UnixListener::bind(&target).unwrap();
    let link = dir.path().join("link.sock");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(SocketServer::bind(SocketConfig::new(&link)).unwrap_err().to_string().contains("not a socket"));
    std::fs::create_dir(dir.path().join("d")).unwrap();
    assert!(SocketServer::bind(SocketConfig::new(dir.path().join("d"))).is_err());
    assert!(dir.path().join("d").is_dir());
}

#[test]
fn a_missing_directory_or_a_long_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = SocketServer::bind(SocketConfig::new(dir.path().join("nope/signals.sock"))).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    assert!(e.to_string().contains("does not exist") && e.to_string().contains("nope"), "{e}");
    let long = dir.path().join("x".repeat(120));
    let e = SocketServer::bind(SocketConfig::new(long)).unwrap_err();
    assert!(e.to_string().contains("a unix socket path is at most 107"), "{e}");
}

#[test]
fn drop_leaves_a_newer_socket_at_the_path_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock_path(&dir);
    let old = SocketServer::bind(SocketConfig::new(&path)).unwrap();
    std::fs::remove_file(&path).unwrap();
    let new = SocketServer::bind(SocketConfig::new(&path)).unwrap();
    drop(old);
    assert!(path.exists(), "the old server removed the new one's socket");
    drop(new);
    assert!(!path.exists());
}

/// The Python block of `docs/signals.md`'s "Unix socket" section.
fn documented_publisher() -> String {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/signals.md")).unwrap();
    let section = &doc[doc.find("## Unix socket").expect("the section")..];
    let start = section.find("```python\n").expect("a python block") + "```python\n".len();
    let len = section[start..].find("```").expect("its end");
    section[start..start + len].to_owned()
}

#[test]
fn the_documented_python_publisher_works() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (_server, agent) = serve(&dir, 64 * 1024);
        let script = documented_publisher();
        let run = |args: &[&str]| {
            let mut cmd = tokio::process::Command::new("python3");
            cmd.arg("-c").arg(&script).arg(sock_path(&dir)).args(args).kill_on_drop(true);
            cmd.output()
        };
        let before = now();
        let out = within(run(&["SPY", "buy", "0.8", "doc-1"])).await.expect("python3 runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let a: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(a, json!({"id":"doc-1","status":"accepted","orders":["ord-doc-1"]}));
        let seen = agent.seen();
        assert_eq!(seen[0].body, Ok(SignalBody { ticker: "SPY".into(), side: Side::Buy, strength: 80 }));
        // Its `ts` is the time it published (microseconds, so compare at that resolution).
        assert!(seen[0].published.0 >= before.0 / 1000 * 1000 && seen[0].published <= now());

        let out = within(run(&["NVDA", "sell"])).await.expect("python3 runs");
        assert_eq!(out.status.code(), Some(1));
        let a: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(a, json!({"status":"ignored","reason":"ticker NVDA is not this agent's"}));
    });
}
