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
/// The replay's pace: the recorded week at 1,000× real time (a trade every few seconds; at a
/// slower pace the run uses so little CPU that clock ticks decide the ratio).
const SPEED: &str = "1000x";

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
        // Its own fleet file: the repository's would limit the agents to 8.
        let fleet = dir.join("runner.yaml");
        std::fs::write(&fleet, "version: 1\nmax_concurrent_agents: 16\n").expect("fleet file");
        let mut cmd = Command::new(runner());
        cmd.arg("up")
            .args(recipes)
            .arg("--fleet")
            .arg(&fleet)
            .args(["--speed", SPEED, "--journal"])
            .arg(dir.join("j.db"))
            .arg("--state-dir")
            .arg(dir.join("state"))
            .env("RUNNER_HTTP_TOKEN", "bench-token-0123456789")
            .env_remove("RUNNER_JOURNAL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("stderr.txt")).expect("stderr file"));
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
        let addr = http.then(|| {
            rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
                panic!(
                    "runner up printed no dashboard address: {}",
                    std::fs::read_to_string(dir.join("stderr.txt")).unwrap_or_default()
                )
            })
        });
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
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");

    // 1 and 2. Twice each, alternating: without --http, then with it and one browser on the
    // agent page (started before runner, so both measure the same stretch of the tape: from 5 s
    // after the start, for PHASE).
    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut lat = Vec::new();
    for _ in 0..2 {
        let d = tempfile::tempdir().expect("tempdir");
        let plain = Up::start(d.path(), &one, false);
        without.push(cpu_over_phase(&plain));
        drop(plain);

        let d = tempfile::tempdir().expect("tempdir");
        let (cpu, seen) = rt.block_on(async {
            let b = webdriver::Browser::start().await;
            let started = Instant::now();
            let served = Up::start(d.path(), &one, true);
            let addr = served.addr.clone().expect("address");
            b.goto(&format!("http://{addr}/#/agent/spy-9ma-0")).await.expect("page");
            b.execute(
                "window.__lat = []; const es = new EventSource('/api/events'); \
                 es.addEventListener('order', e => { const d = JSON.parse(e.data); \
                 window.__lat.push(Date.now() - Date.parse(d.wall)); });",
                vec![],
            )
            .await
            .expect("listen");
            let pid = served.child.id();
            let cpu = tokio::task::spawn_blocking(move || {
                std::thread::sleep(
                    (started + Duration::from_secs(5)).saturating_duration_since(Instant::now()),
                );
                let start = proc_cpu(pid);
                std::thread::sleep(PHASE);
                proc_cpu(pid) - start
            })
            .await
            .expect("cpu");
            let seen = b.execute("return window.__lat", vec![]).await.expect("latencies");
            b.quit().await;
            drop(served);
            (cpu, seen)
        });
        with.push(cpu);
        lat.extend(seen.as_array().into_iter().flatten().filter_map(serde_json::Value::as_f64));
    }
    let (w0, w1) = (without.iter().sum::<f64>() / 2.0, with.iter().sum::<f64>() / 2.0);
    println!(
        "dashboard CPU: runner up at {SPEED}, CPU seconds over {}s: without --http {:.2} and {:.2} (mean {w0:.2}, \
         {:.1} % of a core); with --http and one browser on the agent page {:.2} and {:.2} (mean {w1:.2}): {:+.1} %",
        PHASE.as_secs(),
        without[0],
        without[1],
        w0 / PHASE.as_secs_f64() * 100.0,
        with[0],
        with[1],
        (w1 - w0) / w0 * 100.0
    );
    let mut ms = lat;
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
