//! Memory of live agents: the release `runner up` with 1 and with 10 agents, each on its own
//! Alpaca account (its own in-repo fake Alpaca on 127.0.0.1, its own keys in the vault),
//! trading the recorded SPY session of 2013-10-09 streamed to every agent at once. Prints the
//! process's peak resident set (`VmHWM`) at the end of each run.
//!
//! `cargo bench --bench alpaca_memory`.

#[path = "../tests/support/fake_alpaca/mod.rs"]
// The bench drives a small part of the fake's API.
#[allow(dead_code, unused_imports)]
mod fake_alpaca;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use secrecy::ExposeSecret;

use fake_alpaca::{FakeAlpaca, FakeConfig};

/// The regular session of 2013-10-09 as one-second prints.
fn tape() -> Vec<(DateTime<Utc>, Decimal, Decimal)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/spy-1s-trade-2013-10-07_11.csv.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("tape"))
        .read_to_string(&mut text)
        .expect("gunzip");
    text.lines()
        .skip(1)
        .filter(|l| l.starts_with("2013-10-09") && ("09:30:00".."16:00:00").contains(&&l[11..19]))
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let t = DateTime::parse_from_rfc3339(f[0]).expect("time").with_timezone(&Utc);
            (t, f[4].parse().expect("price"), f[5].parse().expect("size"))
        })
        .collect()
}

/// `runner up` with `n` agents; the peak RSS in kB.
fn peak_rss(n: usize, dir: &Path, tape: &[(DateTime<Utc>, Decimal, Decimal)]) -> u64 {
    let runner = env!("CARGO_BIN_EXE_runner");
    let id = age::x25519::Identity::generate();
    let key = dir.join("age-key.txt");
    std::fs::write(&key, format!("{}\n", id.to_string().expose_secret())).expect("key");
    std::fs::create_dir_all(dir.join("secrets")).expect("mkdir");
    std::fs::write(dir.join("runner.yaml"), "version: 1\njournal: j.db\nstate_dir: state\n").expect("fleet");
    let shares = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/recipes/spy-9ma-shares.yaml"))
        .expect("recipe");
    let body = &shares[shares.find("instrument:").expect("instrument")..];
    let mut fakes = Vec::new();
    let mut recipes = Vec::new();
    for i in 0..n {
        let fake = Arc::new(FakeAlpaca::start(FakeConfig {
            key_id: format!("PKMEMORY{i:012}"),
            market_at_last_trade: true,
            ..FakeConfig::default()
        }));
        let keys = fake.config();
        let plain = dir.join(format!("plain-{i}.yaml"));
        std::fs::write(&plain, format!("key_id: {}\nsecret_key: {}\n", keys.key_id, keys.secret_key))
            .expect("plain");
        let status = Command::new(runner)
            .current_dir(dir)
            .args(["secrets", "encrypt", "--age", &id.to_public().to_string(), "--output"])
            .arg(format!("secrets/acct-{i}.sops.yaml"))
            .arg(&plain)
            .status()
            .expect("encrypt");
        assert!(status.success());
        std::fs::remove_file(plain).expect("rm");
        let (rest, data, trades) = (fake.rest_url(), fake.data_stream_url("iex"), fake.trade_stream_url());
        let recipe = dir.join(format!("agent-{i}.yaml"));
        std::fs::write(
            &recipe,
            format!(
                "version: 1\nagent: agent-{i}\nprovider:\n  kind: alpaca\n  credentials: acct-{i}\n  endpoints: {{rest: \"{rest}\", stream: \"{data}\"}}\n\
                 broker:\n  kind: alpaca\n  account: acct-{i}\n  credentials: acct-{i}\n  endpoints: {{rest: \"{rest}\", stream: \"{trades}\"}}\n{body}"
            ),
        )
        .expect("recipe");
        recipes.push(recipe);
        fakes.push(fake);
    }
    let mut up = Command::new(runner)
        .current_dir(dir)
        .env("SOPS_AGE_KEY_FILE", &key)
        .env("RUNNER_LOCK_DIR", dir.join("locks"))
        .arg("up")
        .args(&recipes)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runner up");
    for f in &fakes {
        assert!(f.wait_for_data_subscription("SPY", Duration::from_secs(60)), "an agent never subscribed");
    }
    let start = Instant::now();
    for (i, (ts, price, size)) in tape.iter().enumerate() {
        for f in &fakes {
            f.publish_trade("SPY", *ts, *price, *size);
        }
        let due = start + Duration::from_micros(500 * (i as u64 + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    std::thread::sleep(Duration::from_millis(500));
    let status = std::fs::read_to_string(format!("/proc/{}/status", up.id())).expect("status");
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(up.id() as libc::pid_t, libc::SIGTERM) };
    up.wait().expect("wait");
    hwm
}

fn main() {
    let tape = tape();
    for n in [1, 10] {
        let dir = tempfile::tempdir().expect("temp");
        let kb = peak_rss(n, dir.path(), &tape);
        println!(
            "alpaca_memory: {n} live agent(s), {} prints each: runner up peak RSS {:.1} MB",
            tape.len(),
            kb as f64 / 1024.0
        );
    }
}
