//! What the dashboard costs and how fast it answers, against the release `runner up` replaying
//! the recorded SPY week (the `spy-9ma` recipe, paced):
//!
//! 1. **CPU**: the runner process's CPU time (`utime + stime` of `/proc/PID/stat`) over the same
//!    stretch of wall clock, once without `--http`, once with `--http` and one headless Chromium
//!    showing the agent page (charts, tables, live updates) the whole time.
//! 2. **SSE**: for every order event (`order`: accepted, filled, …) the page receives, the
//!    browser's clock at receipt minus the event's `wall` (when the agent published it, right as
//!    it handled the venue's answer): an `EventSource` opened in the page itself.
//! 3. **`/metrics`** with 10 agents running: the time of 300 `GET /metrics` over fresh loopback
//!    connections.
//!
//! `cargo bench --bench dashboard` (needs `chromium` and `chromium-driver`: `.ci/setup`).

#[path = "../tests/support/webdriver.rs"]
#[allow(dead_code)]
mod webdriver;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long each CPU phase watches the run.
const PHASE: Duration = Duration::from_secs(60);
/// The replay's pace: a few trades a minute, as a day-trader's session at 60× real time.
const SPEED: &str = "60x";

fn runner() -> &'static str {
    env!("CARGO_BIN_EXE_runner")
}

/// `n` copies of spy-9ma in `dir` (agents `spy-9ma-0`…, each on its own account), with the data
/// path made absolute.
fn recipes(dir: &Path, n: usize) -> Vec<PathBuf> {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/recipes/spy-9ma.yaml")).expect("recipe");
    let text = text.replace("../data/", &format!("{root}/data/"));
    (0..n)
        .map(|i| {
            let p = dir.join(format!("spy-{i}.yaml"));
            let t = text
                .replace("agent: spy-9ma", &format!("agent: spy-9ma-{i}"))
                .replace("account: paper-spy", &format!("account: paper-spy-{i}"));
            std::fs::write(&p, t).expect("write recipe");
            p
        })
        .collect()
}

/// A running `runner up`; killed on drop.
struct Up {
    child: Child,
    addr: Option<String>,
}

impl Up {
    fn start(dir: &Path, recipes: &[PathBuf], http: bool) -> Self {
        let mut cmd = Command::new(runner());
        cmd.arg("up")
            .args(recipes)
            .args(["--speed", SPEED, "--journal"])
            .arg(dir.join("j.db"))
            .arg("--state-dir")
            .arg(dir.join("state"))
            .env("RUNNER_HTTP_TOKEN", "bench-token-0123456789")
            .env_remove("RUNNER_JOURNAL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if http {
            cmd.args(["--http", "127.0.0.1:0"]);
        }
        let mut child = cmd.spawn().expect("start runner up");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.find("http://") {
                    let _ = tx.send(line[at + 7..].split(['/', ' ']).next().unwrap_or_default().to_owned());
                }
            }
        });
        let addr = http.then(|| rx.recv_timeout(Duration::from_secs(60)).expect("the dashboard address"));
        Self { child, addr }
    }

    /// CPU seconds the process has used so far.
    fn cpu(&self) -> f64 {
        proc_cpu(self.child.id())
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds `up` uses over [`PHASE`], after a few seconds to start.
fn cpu_over_phase(up: &Up) -> f64 {
    std::thread::sleep(Duration::from_secs(5));
    let start = up.cpu();
    std::thread::sleep(PHASE);
    up.cpu() - start
}

fn get(addr: &str, path: &str) -> (Duration, usize) {
    let t = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("request");
    let mut body = Vec::new();
    s.read_to_end(&mut body).expect("answer");
    (t.elapsed(), body.len())
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let one = recipes(dir.path(), 1);

    // 1. CPU without the dashboard.
    let base_dir = tempfile::tempdir().expect("tempdir");
    let plain = Up::start(base_dir.path(), &one, false);
    let without = cpu_over_phase(&plain);
    drop(plain);

    // 1 and 2. With the dashboard and one browser on the agent page.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let served_dir = tempfile::tempdir().expect("tempdir");
    let served = Up::start(served_dir.path(), &one, true);
    let addr = served.addr.clone().expect("address");
    let (with, lat) = rt.block_on(async {
        let b = webdriver::Browser::start().await;
        b.goto(&format!("http://{addr}/#/agent/spy-9ma-0")).await.expect("page");
        b.execute(
            "window.__lat = []; const es = new EventSource('/api/events'); \
             es.addEventListener('order', e => { const d = JSON.parse(e.data); \
             window.__lat.push(Date.now() - Date.parse(d.wall)); });",
            vec![],
        )
        .await
        .expect("listen");
        let with = tokio::task::spawn_blocking({
            let pid = served.child.id();
            move || {
                std::thread::sleep(Duration::from_secs(5));
                let start = proc_cpu(pid);
                std::thread::sleep(PHASE);
                proc_cpu(pid) - start
            }
        })
        .await
        .expect("cpu");
        let lat = b.execute("return window.__lat", vec![]).await.expect("latencies");
        b.quit().await;
        (with, lat)
    });
    drop(served);
    let overhead = (with - without) / without * 100.0;
    println!(
        "dashboard CPU: runner up at {SPEED} used {without:.2} s CPU in {}s without --http, {with:.2} s with --http \
         and one browser on the agent page: {overhead:+.1} %",
        PHASE.as_secs()
    );
    let mut ms: Vec<f64> =
        lat.as_array().map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect()).unwrap_or_default();
    ms.sort_by(f64::total_cmp);
    if ms.is_empty() {
        println!("dashboard SSE: no order events reached the page in {}s", PHASE.as_secs());
    } else {
        println!(
            "dashboard SSE: order event published → received by the page, {} events: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            ms.len(),
            quantile(&ms, 0.5),
            quantile(&ms, 0.99),
            ms[ms.len() - 1]
        );
    }

    // 3. /metrics with 10 agents.
    let ten_dir = tempfile::tempdir().expect("tempdir");
    let ten = recipes(ten_dir.path(), 10);
    let up = Up::start(ten_dir.path(), &ten, true);
    let addr = up.addr.clone().expect("address");
    std::thread::sleep(Duration::from_secs(5));
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..300 {
        let (t, n) = get(&addr, "/metrics");
        times.push(t.as_secs_f64() * 1e3);
        size = n;
    }
    times.sort_by(f64::total_cmp);
    println!(
        "dashboard /metrics with 10 agents ({} kB): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over 300 requests",
        size / 1024,
        quantile(&times, 0.5),
        quantile(&times, 0.99),
        times[times.len() - 1]
    );
}

/// CPU seconds process `pid` has used so far.
fn proc_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime");
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}
