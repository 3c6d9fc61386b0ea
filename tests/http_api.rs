//! The dashboard's HTTP API end to end: the real `runner up --http 127.0.0.1:0` replaying the
//! recorded SPY tape (paced, so the agent is still running while the test talks to it), driven
//! with reqwest. Controls without the token, or with a wrong one, are refused (401); with it
//! they are carried out and journaled; reads, the event stream, `/metrics`, the OpenAPI
//! document and `runner report RUN --serve`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Run, repo_root, runner_command};

const A: &str = "tests/fixtures/fleet/a.yaml";
const AGENT: &str = "fleet-a";

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// A `runner` process serving HTTP: its base URL; stopped with SIGTERM (then reaped) on drop.
struct Served {
    child: Child,
    base: String,
    /// What it printed to stdout after the address line (read on a thread).
    rest: std::sync::mpsc::Receiver<String>,
}

impl Served {
    /// Start `runner ARGS...` with `env`, and wait for the stdout line with `http://ADDR`.
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = runner_command();
        cmd.env_remove("RUNNER_JOURNAL").env_remove("RUNNER_HTTP_TOKEN");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn runner");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).expect("runner printed its http:// address");
            if let Some(at) = line.find("http://") {
                let addr = line[at + 7..].split(['/', ' ']).next().expect("address").to_owned();
                break format!("http://{addr}");
            }
        };
        Self { child, base, rest: rx }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, and the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().expect("reap");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

fn client() -> reqwest::Client {
    // reqwest is built without a default TLS provider (the runner installs ring at start).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// Status, headers and JSON body (Null when the body is not JSON).
async fn call(req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await.expect("body");
    (status, headers, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// `runner up A --speed SPEED --http LISTEN` in `dir`, with the control token `token`.
fn up(dir: &Path, speed: &str, listen: &str, token: &str) -> Served {
    let (db, st) = (dir.join("j.db"), dir.join("state"));
    Served::start(
        &["up", A, "--speed", speed, "--journal", s(&db), "--state-dir", s(&st), "--http", listen],
        &[("RUNNER_HTTP_TOKEN", token)],
    )
}

/// Poll `cond` every 100 ms for up to 60 s.
async fn wait_for<F: std::future::Future<Output = bool>>(what: &str, mut cond: impl FnMut() -> F) {
    let start = Instant::now();
    while !cond().await {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn is_decimal(v: &Value) -> bool {
    v.as_str().is_some_and(|t| t.parse::<rust_decimal::Decimal>().is_ok())
}

const CONTROLS: &[&str] = &["halt", "resume", "flatten", "enable", "disable"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_need_the_token_and_are_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let token = "t0ken-for-the-http-api-test";
    let server = up(dir.path(), "3000x", "127.0.0.1:0", token);
    let http = client();
    let mut posts: Vec<String> = CONTROLS.iter().map(|c| format!("/api/agents/{AGENT}/{c}")).collect();
    posts.push(format!("/api/agents/{AGENT}/params"));
    posts.push("/api/fleet/halt".to_owned());
    for path in &posts {
        for auth in [None, Some("Bearer wrong-token"), Some(token), Some("Basic dXNlcjpwYXNz")] {
            let mut req = http.post(server.url(path)).json(&serde_json::json!({"key": "x", "value": 1}));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let (status, headers, body) = call(req).await;
            assert_eq!(status, 401, "{path} with {auth:?}: {body}");
            assert_eq!(
                headers.get("www-authenticate").map(|v| v.to_str().unwrap()),
                Some("Bearer"),
                "{path}"
            );
            assert!(body["error"].as_str().is_some_and(|e| e.contains("Authorization: Bearer")), "{body}");
            assert!(!body.to_string().contains(token), "the token is never in an answer");
        }
    }
    // Nothing was carried out: no control in the journal, the agent is active.
    let (_, _, rows) = call(http.get(server.url(&format!("/api/agents/{AGENT}/controls")))).await;
    assert_eq!(rows, serde_json::json!([]));
    let bearer = format!("Bearer {token}");
    let post = |path: String| http.post(server.url(&path)).header("authorization", &bearer);
    let mut done = Vec::new();
    // The parameters: the list, edits the validator refuses (422 with its message, nothing
    // journaled), and a valid one, journaled with the old and new value.
    let params = format!("/api/agents/{AGENT}/params");
    let (status, _, list) = call(http.get(server.url(&params))).await;
    assert_eq!(status, 200, "{list}");
    let find = |list: &Value, key: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{key}: {list}"))
    };
    let ma = find(&list, "algorithm.ma_period");
    assert_eq!(
        (&ma["value"], &ma["editable"], &ma["applies"]),
        (&Value::from("9"), &Value::from(true), &Value::from("when flat"))
    );
    assert_eq!(find(&list, "risk.entry_size")["value"], "100");
    for (key, value, says) in [
        ("risk.entry_size", "-3", "entry_size"),
        ("broker.account", "x", "cannot change while the agent runs"),
    ] {
        let (status, _, body) =
            call(post(params.clone()).json(&serde_json::json!({"key": key, "value": value}))).await;
        assert_eq!(status, 422, "{key}: {body}");
        assert!(body["error"].as_str().unwrap().contains(says), "{key}: {body}");
    }
    let (status, _, body) =
        call(post(params.clone()).json(&serde_json::json!({"key": "risk.entry_size", "value": 50}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["action"], &body["key"], &body["old"], &body["new"]),
        (&Value::from("set-param"), &Value::from("risk.entry_size"), &Value::from("100"), &Value::from("50")),
        "{body}"
    );
    assert_eq!(body["result"], "applied", "{body}");
    done.push("set-param");
    let (_, _, list) = call(http.get(server.url(&params))).await;
    assert_eq!(find(&list, "risk.entry_size")["value"], "50", "{list}");
    for (control, want) in
        [("halt", 200), ("halt", 409), ("resume", 200), ("resume", 409), ("disable", 200), ("enable", 200)]
    {
        let (status, _, body) = call(post(format!("/api/agents/{AGENT}/{control}"))).await;
        assert_eq!(status, want, "{control}: {body}");
        if want == 200 {
            assert_eq!(body["action"], control, "{body}");
            assert_eq!(body["result"], "applied", "{body}");
            assert!(body["by"].as_str().unwrap().starts_with("http 127.0.0.1:"), "{body}");
            done.push(control);
        } else {
            assert!(body["error"].as_str().unwrap().contains("already"), "{body}");
        }
    }
    // Flatten is carried out, or refused when there is nothing to close.
    let (status, _, body) = call(post(format!("/api/agents/{AGENT}/flatten"))).await;
    match status {
        200 => done.push("flatten"),
        409 => assert!(body["error"].as_str().unwrap().contains("no position"), "{body}"),
        other => panic!("flatten: {other} {body}"),
    }
    // An unknown agent is 404; a parameter edit that is not JSON is 422 with the reason.
    let (status, _, body) = call(post("/api/agents/nobody/halt".to_owned())).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("nobody"), "{body}");
    let (status, _, body) = call(
        post(format!("/api/agents/{AGENT}/params"))
            .body("not json")
            .header("content-type", "application/json"),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    // A body past 64 KiB is refused.
    let big = serde_json::json!({"key": "algorithm.ma_period", "value": "9".repeat(70 * 1024)});
    let (status, _, _) = call(post(format!("/api/agents/{AGENT}/params")).json(&big)).await;
    assert_eq!(status, 413);
    // The journal's controls table has each carried-out control, in order, with who asked.
    let (status, _, rows) = call(http.get(server.url(&format!("/api/agents/{AGENT}/controls")))).await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, done, "{rows}");
    let db = rusqlite::Connection::open_with_flags(
        dir.path().join("j.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let journaled: Vec<(String, String)> = db
        .prepare("SELECT action, by_whom FROM controls WHERE agent = ?1 ORDER BY audit_seq")
        .unwrap()
        .query_map([AGENT], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(journaled.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(), done);
    assert!(journaled.iter().all(|(_, by)| by.starts_with("http 127.0.0.1:")), "{journaled:?}");
    // The agent's halt is in the halts table.
    let halts: i64 = db
        .query_row("SELECT count(*) FROM halts WHERE agent = ?1 AND scope = 'agent'", [AGENT], |r| r.get(0))
        .unwrap();
    assert!(halts >= 1, "the halt is journaled");
    // The kill switch: the fleet is halted, and the agent journals the halt it obeyed.
    let (status, _, body) = call(post("/api/fleet/halt".to_owned())).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["reason"].as_str().unwrap().contains("http 127.0.0.1:"), "{body}");
    let (_, _, fleet) = call(http.get(server.url("/api/fleet"))).await;
    assert_eq!(fleet["halted"], body["reason"], "{fleet}");
    wait_for("the fleet halt in the journal's halts table", || async {
        db.query_row("SELECT count(*) FROM halts WHERE reason LIKE 'fleet halted by http%'", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
            >= 1
    })
    .await;
    Run::new(["journal", "--db", s(&dir.path().join("j.db")), "verify"]).run().success();
}

/// Reads one SSE frame's fields.
fn frames(text: &str) -> Vec<(String, String, String)> {
    text.split("\n\n")
        .filter(|f| !f.trim().is_empty() && !f.starts_with(':'))
        .map(|f| {
            let field = |name: &str| {
                f.lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim_start().to_owned()))
                    .unwrap_or_default()
            };
            (field("id:"), field("event:"), field("data:"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_events_metrics_and_the_openapi_document() {
    let dir = tempfile::tempdir().unwrap();
    let server = up(dir.path(), "3000x", "127.0.0.1:0", "another-test-token");
    let http = client();
    // The event stream: hello first, then the agent's events with their sequence numbers.
    let mut events = http.get(server.url("/api/events")).send().await.unwrap();
    assert_eq!(events.status(), 200);
    assert!(events.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut text = String::new();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !seen.iter().any(|(_, kind, _): &(String, String, String)| kind == "order") {
        assert!(
            Instant::now() < deadline,
            "no order event within 90 s: {:?}",
            seen.iter().map(|f| &f.1).collect::<Vec<_>>()
        );
        let chunk =
            tokio::time::timeout(Duration::from_secs(60), events.chunk()).await.expect("an event").unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk.expect("the stream stays open")));
        if let Some(end) = text.rfind("\n\n") {
            seen.extend(frames(&text[..end + 2]));
            text.drain(..end + 2);
        }
    }
    let (_, kind, hello) = &seen[0];
    assert_eq!(kind, "hello");
    let hello: Value = serde_json::from_str(hello).unwrap();
    assert_eq!(hello["agents"][0]["name"], AGENT, "{hello}");
    assert_eq!(hello["fleet"]["agents"], 1, "{hello}");
    let mut last = 0u64;
    for (id, kind, data) in &seen[1..] {
        let seq: u64 = id.parse().unwrap_or_else(|_| panic!("id {id:?} of {kind}"));
        assert!(seq > last, "ids increase: {seq} after {last}");
        last = seq;
        let data: Value = serde_json::from_str(data).unwrap();
        assert_eq!(data["seq"], seq);
        assert_eq!(data["kind"].as_str(), Some(kind.as_str()), "{data}");
    }
    let order =
        seen.iter().find(|f| f.1 == "order").map(|f| serde_json::from_str::<Value>(&f.2).unwrap()).unwrap();
    assert_eq!(order["agent"], AGENT, "{order}");
    drop(events);
    // The agents: their numbers as decimal strings.
    let (status, _, agents) = call(http.get(server.url("/api/agents"))).await;
    assert_eq!(status, 200);
    let a = &agents[0];
    assert_eq!(a["name"], AGENT, "{a}");
    for key in ["state", "health", "run", "venue", "recipe", "account", "instrument"] {
        assert!(a[key].is_string(), "{key}: {a}");
    }
    for key in ["pnl_today", "pnl_total", "realized", "equity", "starting_equity"] {
        assert!(is_decimal(&a[key]), "{key}: {a}");
    }
    assert!(is_decimal(&a["position"]["qty"]) && is_decimal(&a["position"]["avg_price"]), "{a}");
    assert!(a["orders"].as_u64().unwrap() >= 1, "{a}");
    let (status, _, one) = call(http.get(server.url(&format!("/api/agents/{AGENT}")))).await;
    assert_eq!((status, &one["name"]), (200, &Value::from(AGENT)));
    let (status, _, fleet) = call(http.get(server.url("/api/fleet"))).await;
    assert_eq!(status, 200);
    assert!(is_decimal(&fleet["pnl_today"]) && fleet["halted"].is_null(), "{fleet}");
    // This run's orders and fills, from the journal, as the record types serialize.
    let (status, _, orders) = call(http.get(server.url(&format!("/api/agents/{AGENT}/orders")))).await;
    assert_eq!(status, 200, "{orders}");
    let orders = orders.as_array().unwrap().clone();
    assert!(!orders.is_empty());
    assert!(orders.iter().all(|o| o["run"] == a["run"] && is_decimal(&o["qty"])), "{orders:?}");
    let (_, _, one) = call(http.get(server.url(&format!("/api/agents/{AGENT}/orders?limit=1")))).await;
    assert_eq!(one.as_array().unwrap().len(), 1);
    let (status, _, _) = call(http.get(server.url(&format!("/api/agents/{AGENT}/orders?limit=x")))).await;
    assert_eq!(status, 400);
    wait_for("a fill in the journal", || async {
        let (_, _, fills) = call(http.get(server.url(&format!("/api/agents/{AGENT}/fills")))).await;
        fills.as_array().is_some_and(|f| f.iter().any(|x| is_decimal(&x["price"]) && x["agent"] == AGENT))
    })
    .await;
    let (status, _, denials) = call(http.get(server.url(&format!("/api/agents/{AGENT}/denials")))).await;
    assert!(status == 200 && denials.is_array(), "{denials}");
    // The live run view: candles with the strategy's lines.
    let (status, _, view) = call(http.get(server.url(&format!("/api/agents/{AGENT}/run")))).await;
    assert_eq!(status, 200, "{view}");
    assert!(!view["candles"].as_array().unwrap().is_empty() && view["lines"].is_array(), "{view}");
    // The journal's runs: this one, still running.
    let (_, _, runs) = call(http.get(server.url("/api/runs"))).await;
    let run = runs.as_array().unwrap().iter().find(|r| r["id"] == a["run"]).expect("this run is listed");
    assert!(run["ended"].is_null() && run["mode"] == "paper", "{run}");
    // Metrics: Prometheus text.
    let r = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    // The run has orders and fills: its journal commits and sent orders are counted.
    let text = r.text().await.unwrap();
    let count = |name: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name}:\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(count(&format!("runner_journal_write_seconds_count{{agent=\"{AGENT}\"}}")) >= 1.0, "{text}");
    assert!(
        count(&format!("runner_orders_total{{agent=\"{AGENT}\",status=\"submitted\"}}")) >= 1.0,
        "{text}"
    );
    // The OpenAPI document is the committed one.
    let (status, _, doc) = call(http.get(server.url("/api/openapi.json"))).await;
    assert_eq!(status, 200);
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("docs/openapi.json")).unwrap())
            .unwrap();
    assert!(doc == committed, "docs/openapi.json is stale (UPDATE_SNAPSHOTS=1 cargo test --lib openapi)");
    // The page and its assets; unknown routes are JSON 404s.
    for (path, kind) in
        [("/", "text/html"), ("/assets/app.js", "text/javascript"), ("/assets/app.css", "text/css")]
    {
        let r = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        assert_eq!(r.headers()["cache-control"], "no-cache", "{path}");
    }
    let (status, _, body) = call(http.get(server.url("/api/nothing"))).await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("/api/nothing"), "{body}");
    let (status, _, body) = call(http.delete(server.url("/api/agents"))).await;
    assert_eq!(status, 405, "{body}");
    assert!(body["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_a_token_is_needed_to_start_and_to_read() {
    let dir = tempfile::tempdir().unwrap();
    let (db, st) = (dir.path().join("j.db"), dir.path().join("state"));
    let refused = Run::new([
        "up",
        A,
        "--speed",
        "max",
        "--journal",
        s(&db),
        "--state-dir",
        s(&st),
        "--http",
        "0.0.0.0:0",
    ])
    .env_remove("RUNNER_HTTP_TOKEN")
    .run();
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("0.0.0.0:0 is not a loopback address: set RUNNER_HTTP_TOKEN"),
        "{}",
        refused.stderr
    );
    assert!(!db.exists(), "nothing was journaled");
    // With a token, reads need it too; the page and its assets do not.
    let token = "a-token-for-every-route";
    let server = up(dir.path(), "3000x", "0.0.0.0:0", token);
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let base = format!("http://127.0.0.1:{port}");
    let http = client();
    for path in ["/api/agents", "/api/fleet", "/api/runs", "/metrics", "/api/events", "/api/openapi.json"] {
        let (status, headers, _) = call(http.get(format!("{base}{path}"))).await;
        assert_eq!(status, 401, "{path}");
        assert!(headers.contains_key("www-authenticate"), "{path}");
        let r = http.get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path} with the token");
    }
    for path in ["/", "/assets/app.js", "/assets/app.css"] {
        assert_eq!(http.get(format!("{base}{path}")).send().await.unwrap().status(), 200, "{path}");
    }
}

/// A finished backtest in `dir`: its run id.
fn backtest(dir: &Path) -> String {
    let out =
        Run::new(["backtest", A, "--journal", s(&dir.join("j.db")), "--state-dir", s(&dir.join("state"))])
            .run()
            .success();
    let at = out.stdout.find("journal run ").expect("the run id is printed");
    out.stdout[at + 12..].split([':', ' ', '\n']).next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_serve_shows_a_finished_run() {
    let dir = tempfile::tempdir().unwrap();
    let id = backtest(dir.path());
    let runs_dir: PathBuf = dir.path().join("state/runs");
    assert!(runs_dir.join(&id).join("run.json").is_file());
    let mut server = Served::start(
        &[
            "report",
            &id,
            "--journal",
            s(&dir.path().join("j.db")),
            "--state-dir",
            s(&dir.path().join("state")),
            "--serve",
            "127.0.0.1:0",
        ],
        &[],
    );
    let http = client();
    let (status, _, runs) = call(http.get(server.url("/api/runs"))).await;
    assert_eq!(status, 200);
    let run = runs.as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).expect("the run is listed");
    assert_eq!(
        (&run["agent"], &run["mode"], &run["view"]),
        (&Value::from(AGENT), &Value::from("backtest"), &Value::from(true))
    );
    assert_eq!(run["outcome"], "completed", "{run}");
    let (status, _, view) = call(http.get(server.url(&format!("/api/runs/{id}")))).await;
    assert_eq!(status, 200);
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(runs_dir.join(&id).join("run.json")).unwrap()).unwrap();
    assert_eq!(view, on_disk);
    assert!(!view["deals"].as_array().unwrap().is_empty(), "the backtest traded");
    let (status, _, body) = call(http.get(server.url("/api/runs/fleet-a-20990101T000000Z-00000000"))).await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("no such run"), "{body}");
    let (status, _, _) = call(http.get(server.url("/api/runs/..%2Fj.db"))).await;
    assert_eq!(status, 404);
    // No agents, no controls.
    assert_eq!(call(http.get(server.url("/api/agents"))).await.0, 404);
    assert_eq!(call(http.post(server.url("/api/fleet/halt"))).await.0, 404);
    assert_eq!(http.get(server.url("/")).send().await.unwrap().status(), 200);
    assert!(server.stop().success(), "SIGTERM stops it cleanly");
    let rest: Vec<String> = server.rest.try_iter().collect();
    assert!(rest.is_empty(), "{rest:?}");
}

/// Fleet agent `a` replaying the recorded SPY data at `speed` in a temp project, served on a
/// free loopback port with `token`: the server, the recipe's path and text, the journal, the
/// state directory.
struct FleetA {
    served: Served,
    recipe: PathBuf,
    text: String,
    db: PathBuf,
    state: PathBuf,
    /// The project; bind it (`_dir: _project`): a pattern's `..` would drop it at once.
    _dir: tempfile::TempDir,
}

fn serve_fleet_a(speed: &str, token: &str) -> FleetA {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = repo_root().join("data/spy-1s-trade-2013-10-07_11.csv.gz");
    let text = std::fs::read_to_string(repo_root().join(A))
        .expect("fixture")
        .replace("../../../data/spy-1s-trade-2013-10-07_11.csv.gz", s(&data));
    let recipe = dir.path().join("a.yaml");
    std::fs::write(&recipe, &text).expect("recipe");
    let (db, state) = (dir.path().join("j.db"), dir.path().join("state"));
    let served = Served::start(
        &[
            "up",
            s(&recipe),
            "--speed",
            speed,
            "--journal",
            s(&db),
            "--state-dir",
            s(&state),
            "--http",
            "127.0.0.1:0",
        ],
        &[("RUNNER_HTTP_TOKEN", token)],
    );
    FleetA { served, recipe, text, db, state, _dir: dir }
}

/// The first column of `sql`'s rows, as text.
fn column(db: &Path, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("journal");
    conn.prepare(sql).unwrap().query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_takes_the_parameters_a_running_agent_may_change_and_refuses_the_rest() {
    let token = "reload-token-0123456789";
    let FleetA { served, recipe, text, db, _dir: _project, .. } = serve_fleet_a("20x", token);
    let c = client();
    let reload = || c.post(served.url("/api/fleet/reload")).bearer_auth(token);
    let (status, _, body) = call(c.post(served.url("/api/fleet/reload"))).await;
    assert_eq!(status, 401, "{body}");
    // DNS rebinding: a page of another site whose name now points at 127.0.0.1 reads nothing.
    let (status, _, body) = call(c.get(served.url("/api/agents")).header("host", "evil.example:8787")).await;
    assert_eq!(status, 421, "{body}");
    let (status, _, body) = call(reload()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["record"]["result"], "unchanged", "{body}");

    // A limit (applies now) and a strategy parameter (when flat) changed on disk.
    std::fs::write(&recipe, text.replace("entry_size: 100", "entry_size: 50\n  max_shares: 60"))
        .expect("edit");
    let (status, _, body) = call(reload()).await;
    assert_eq!(status, 200, "{body}");
    let rec = &body[0]["record"];
    assert_eq!(rec["action"], "reload", "{body}");
    assert!(rec["result"].as_str().unwrap().starts_with("applied"), "{body}");
    let changed = rec["new"].as_str().unwrap();
    assert!(
        changed.contains("risk.entry_size 100 → 50") && changed.contains("risk.max_shares  → 60"),
        "{changed}"
    );
    let (_, _, params) = call(c.get(served.url(&format!("/api/agents/{AGENT}/params")))).await;
    let value = |k: &str| params.as_array().unwrap().iter().find(|p| p["key"] == k).unwrap()["value"].clone();
    assert_eq!((value("risk.entry_size"), value("risk.max_shares")), ("50".into(), "60".into()), "{params}");

    // Anything else needs a restart: refused, naming the key, nothing changed.
    std::fs::write(&recipe, text.replace("account: paper-fleet-a", "account: paper-fleet-z")).expect("edit");
    let (status, _, body) = call(reload()).await;
    assert_eq!(status, 200, "{body}");
    let err = body[0]["error"].as_str().unwrap_or_default();
    assert!(err.contains("broker.account") && err.contains("restart"), "{body}");
    // An invalid file changes nothing either, and says why with its position.
    std::fs::write(&recipe, text.replace("ma_period: 9", "ma_period: 0")).expect("edit");
    let (_, _, body) = call(reload()).await;
    let err = body[0]["error"].as_str().unwrap_or_default();
    assert!(err.contains("not valid") && err.contains("a.yaml:"), "{body}");
    let (_, _, params) = call(c.get(served.url(&format!("/api/agents/{AGENT}/params")))).await;
    let value = |k: &str| params.as_array().unwrap().iter().find(|p| p["key"] == k).unwrap()["value"].clone();
    assert_eq!(value("algorithm.ma_period"), "9", "{params}");
    drop(served);
    let actions = column(&db, "SELECT result FROM controls WHERE action = 'reload' ORDER BY audit_seq");
    assert_eq!(actions, ["unchanged", "applied"], "refused reloads change nothing and journal nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_changes_more_than_parameters_restarts_the_agent_in_a_new_run() {
    let token = "restart-token-0123456789";
    let FleetA { mut served, recipe, text, db, state: st, _dir: _project } = serve_fleet_a("20x", token);
    let c = client();
    let agents = || c.get(served.url("/api/agents"));
    let (_, _, list) = call(agents()).await;
    let first_run = list[0]["run"].as_str().expect("run id").to_owned();
    let reload = |q: &str| c.post(served.url(&format!("/api/agents/{AGENT}/reload{q}"))).bearer_auth(token);

    // A bad `positions` is refused before anything is read.
    let (status, _, body) = call(reload("?positions=sometimes")).await;
    assert_eq!(status, 400, "{body}");
    // A rename is never a restart: the name keys the agent's history and controls.
    std::fs::write(&recipe, text.replace("agent: fleet-a", "agent: fleet-b")).expect("edit");
    let (status, _, body) = call(reload("")).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("renamed"), "{body}");

    // Disabled, the agent is flat with no orders: a changed timeframe restarts it.
    let (status, _, body) =
        call(c.post(served.url(&format!("/api/agents/{AGENT}/disable"))).bearer_auth(token)).await;
    assert_eq!(status, 200, "{body}");
    std::fs::write(&recipe, text.replace("timeframe: 5m", "timeframe: 1m")).expect("edit");
    let (status, _, body) = call(reload("")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "restarting", "{body}");
    assert_eq!(body["new"], "algorithm.timeframe", "{body}");
    // The slot shows the new run, trading again (a new run starts enabled).
    let deadline = Instant::now() + Duration::from_secs(60);
    let now = loop {
        let (_, _, list) = call(agents()).await;
        if list[0]["run"] != first_run.as_str() && list[0]["state"] == "active" {
            break list[0].clone();
        }
        assert!(Instant::now() < deadline, "no new run: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let second_run = now["run"].as_str().unwrap().to_owned();
    // The new run reads its candles at the new timeframe: its parameters are the file's.
    let (_, _, params) = call(c.get(served.url(&format!("/api/agents/{AGENT}/params")))).await;
    assert!(params.as_array().is_some_and(|p| !p.is_empty()), "{params}");
    // The old run's report was written when it ended.
    assert!(st.join("runs").join(&first_run).join("run.json").is_file(), "the old run's report");
    assert!(served.stop().success());
    let conn = rusqlite::Connection::open(&db).expect("journal");
    let runs: Vec<(String, Option<String>)> = conn
        .prepare("SELECT id, outcome FROM runs WHERE agent = 'fleet-a' ORDER BY started_at")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].0, first_run);
    assert_eq!(runs[0].1.as_deref(), Some("restarted: the recipe changed (algorithm.timeframe)"), "{runs:?}");
    assert_eq!(runs[1].0, second_run);
    assert!(runs[1].1.as_deref().is_some_and(|o| o.starts_with("stopped")), "{runs:?}");
    let results = column(&db, "SELECT result FROM controls WHERE action = 'reload' ORDER BY audit_seq");
    assert_eq!(results, ["restarting"], "the refused rename journaled nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_an_agent_holding_a_position_needs_flatten_or_carry() {
    let token = "restart-token-9876543210";
    let FleetA { mut served, recipe, text, db, _dir: _project, .. } = serve_fleet_a("1000x", token);
    let c = client();
    let reload = |q: &str| c.post(served.url(&format!("/api/agents/{AGENT}/reload{q}"))).bearer_auth(token);
    // The timeframe on disk changes; each restart below runs the file as it then is.
    let timeframes = ["timeframe: 1m", "timeframe: 5m"];
    let mut changes = 0;
    std::fs::write(&recipe, text.replace("timeframe: 5m", timeframes[0])).expect("edit");
    // Wait for a position, then ask for the restart: refused without flatten or carry, carry-over
    // refused on replayed data, and with flatten it restarts once flat. The position may close
    // between two calls: then that call restarts the (flat) agent, and the test waits for the
    // next position with the file changed back, until all three answers saw it held.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (refused, no_carry, flattening) = loop {
        let (_, _, list) = call(c.get(served.url("/api/agents"))).await;
        if list[0]["state"] == "active" && list[0]["position"]["qty"].as_str().is_some_and(|q| q != "0") {
            let (status, _, plain) = call(reload("")).await;
            if status == 409 {
                let (status, _, carry) = call(reload("?positions=carry")).await;
                if status == 409 {
                    let (status, _, flatten) = call(reload("?positions=flatten")).await;
                    assert_eq!(status, 200, "{flatten}");
                    if flatten["result"] == "restarting; flattening first" {
                        break (plain, carry, flatten);
                    }
                    assert_eq!(flatten["result"], "restarting", "{flatten}");
                } else {
                    assert_eq!(carry["result"], "restarting", "{carry}");
                }
            } else {
                assert_eq!(plain["result"], "restarting", "{plain}");
            }
            // One restart of the flat agent happened; the file changes back for the next one.
            changes += 1;
            std::fs::write(&recipe, text.replace("timeframe: 5m", timeframes[changes % 2])).expect("edit");
        }
        assert!(Instant::now() < deadline, "the agent never held a position: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let why = refused["error"].as_str().unwrap_or_default();
    assert!(why.contains("positions=flatten") && why.contains("positions=carry"), "{refused}");
    let why = no_carry["error"].as_str().unwrap_or_default();
    assert!(why.contains("live market data"), "{no_carry}");
    assert_eq!(flattening["new"], "algorithm.timeframe", "{flattening}");
    let runs_now = changes + 2;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let conn = rusqlite::Connection::open(&db).expect("journal");
        let n: i64 =
            conn.query_row("SELECT count(*) FROM runs WHERE agent = 'fleet-a'", [], |r| r.get(0)).unwrap();
        if n == runs_now as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "no new run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served.stop().success());
    let conn = rusqlite::Connection::open(&db).expect("journal");
    // The run that held the position when the flatten-first restart was asked for.
    let (held, outcome): (String, String) = conn
        .query_row(
            "SELECT id, outcome FROM runs WHERE agent = 'fleet-a' ORDER BY started_at LIMIT 1 OFFSET ?1",
            [changes as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(outcome, "restarted: the recipe changed (algorithm.timeframe)");
    let last_qty: String = conn
        .query_row(
            "SELECT qty FROM positions WHERE run_id = ?1 ORDER BY audit_seq DESC LIMIT 1",
            [&held],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(last_qty.parse::<f64>().unwrap(), 0.0, "the old run ended flat");
}
