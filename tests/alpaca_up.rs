//! `runner up` on Alpaca, end to end: the real `runner` binary, its keys in a SOPS file
//! encrypted to a throwaway age key, and the in-repo fake Alpaca (`support::fake_alpaca`) on
//! 127.0.0.1 standing in for the Trading API, `trade_updates` and the stocks stream.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use secrecy::ExposeSecret;

use crate::support::fake_alpaca::{FakeAlpaca, FakeConfig};
use crate::support::{Run, repo_root, runner_command};

const WAIT: Duration = Duration::from_secs(30);
/// Prints streamed between two waits for the client to have read them.
const SYNC_EVERY: usize = 5;

/// A project directory with a fleet file, a journal, the fake's keys in the vault, and a fake
/// Alpaca.
struct Desk {
    dir: tempfile::TempDir,
    key_file: PathBuf,
    fake: FakeAlpaca,
    /// The age recipient the project's secrets are encrypted to.
    recipient: String,
}

impl Desk {
    fn new(cfg: FakeConfig) -> Self {
        let fake = FakeAlpaca::start(cfg);
        let dir = tempfile::tempdir().expect("temp project");
        let id = age::x25519::Identity::generate();
        let key_file = dir.path().join("age-key.txt");
        fs::write(&key_file, format!("# throwaway test key\n{}\n", id.to_string().expose_secret()))
            .expect("key");
        fs::create_dir_all(dir.path().join("secrets")).expect("mkdir");
        fs::write(dir.path().join("runner.yaml"), "version: 1\njournal: j.db\nstate_dir: state\n")
            .expect("fleet");
        let keys = fake.config();
        let plain = dir.path().join("plain.yaml");
        fs::write(&plain, format!("key_id: {}\nsecret_key: {}\n", keys.key_id, keys.secret_key))
            .expect("plain");
        Run::new(["secrets", "encrypt", "--age"])
            .arg(id.to_public().to_string())
            .args(["--output", "secrets/alpaca-test.sops.yaml", "plain.yaml"])
            .dir(dir.path())
            .run()
            .success();
        fs::remove_file(plain).expect("rm plain");
        Self { dir, key_file, fake, recipient: id.to_public().to_string() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The endpoints block of a recipe, pointing at the fake.
    fn endpoints(&self) -> String {
        let rest = self.fake.rest_url();
        format!(
            "provider:\n  kind: alpaca\n  feed: iex\n  credentials: alpaca-test\n  endpoints: {{rest: \"{rest}\", stream: \"{}\"}}\n\
             broker:\n  kind: alpaca\n  account: alpaca-test\n  account_type: margin\n  credentials: alpaca-test\n  \
             endpoints: {{rest: \"{rest}\", stream: \"{}\"}}\n",
            self.fake.data_stream_url("iex"),
            self.fake.trade_stream_url()
        )
    }

    /// Write `recipes/NAME.yaml`.
    fn recipe(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(&format!("{name}.yaml"));
        fs::write(&path, text).expect("write recipe");
        path
    }

    /// `runner ARGS` in the project, with its key and the fleet file's journal.
    fn runner(&self, args: &[&str]) -> Run {
        Run::new(args)
            .dir(self.dir.path())
            .env("SOPS_AGE_KEY_FILE", &self.key_file)
            .env("HOME", self.dir.path())
            .env_remove("RUNNER_JOURNAL")
    }

    /// `runner up` in the project, output to `up.out` / `up.err`.
    fn spawn_up(&self, recipe: &Path, extra: &[&str]) -> Child {
        let out = fs::File::create(self.path("up.out")).expect("out");
        let err = fs::File::create(self.path("up.err")).expect("err");
        runner_command()
            .current_dir(self.dir.path())
            .env_remove("RUNNER_JOURNAL")
            .env("SOPS_AGE_KEY_FILE", &self.key_file)
            .env("HOME", self.dir.path())
            .arg("up")
            .arg(recipe)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn runner up")
    }

    /// Wait until the agent's status file says it has seen a market event stamped `at` (New
    /// York time text, e.g. `2013-10-09T10:00:00`).
    fn wait_seen(&self, agent: &str, at: &str) {
        let file = self.path(&format!("state/status/{agent}.json"));
        let start = Instant::now();
        while !fs::read_to_string(&file).is_ok_and(|t| t.contains(at)) {
            assert!(start.elapsed() < WAIT, "{agent} never saw {at}:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many orders runner has printed (each is journaled, then sent) and how many fills
    /// that complete an order (`leaves 0`) it has taken.
    fn order_and_fill_lines(&self) -> (usize, usize) {
        let out = fs::read_to_string(self.path("up.out")).unwrap_or_default();
        let orders = out.lines().filter(|l| l.contains(" order ") && !l.contains(" denied: ")).count();
        let filled = out.lines().filter(|l| l.contains(" filled ") && l.ends_with("(leaves 0)")).count();
        (orders, filled)
    }

    fn output(&self) -> String {
        let out = fs::read_to_string(self.path("up.out")).unwrap_or_default();
        let err = fs::read_to_string(self.path("up.err")).unwrap_or_default();
        format!("--- stdout\n{out}--- stderr\n{err}")
    }

    /// Wait until runner streams and listens.
    fn wait_connected(&self, child: &mut Child, symbol: &str) {
        let start = Instant::now();
        while !(self.fake.wait_for_data_subscription(symbol, Duration::from_millis(100))
            && self.fake.wait_for_trade_listener(Duration::from_millis(100)))
        {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("runner up exited ({status}) before connecting:\n{}", self.output());
            }
            assert!(start.elapsed() < WAIT, "runner never connected:\n{}", self.output());
        }
    }
}

/// Stop `child` with SIGTERM and wait for it.
fn terminate(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(start.elapsed() < WAIT, "runner up did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The recorded SPY session of `day` (09:30–16:00) as one-second prints `(time, price, size)`,
/// written as a ticks CSV beside the project for the backtest of the same day.
fn session_tape(day: &str, csv: &Path) -> Vec<(DateTime<Utc>, Decimal, Decimal)> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        fs::File::open(repo_root().join("data/spy-1s-trade-2013-10-07_11.csv.gz")).expect("tape"),
    )
    .read_to_string(&mut text)
    .expect("gunzip");
    let mut rows = Vec::new();
    let mut out = String::from("timestamp,price,size\n");
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (ts, close, volume) = (f[0], f[4], f[5]);
        if !ts.starts_with(day) || !("09:30:00".."16:00:00").contains(&&ts[11..19]) {
            continue;
        }
        out.push_str(&format!("{ts},{close},{volume}\n"));
        let t = DateTime::parse_from_rfc3339(ts).expect("time").with_timezone(&Utc);
        rows.push((t, close.parse().expect("price"), volume.parse().expect("size")));
    }
    fs::write(csv, out).expect("write tape");
    rows
}

/// spy-9ma on shares: the recipe body after `provider`/`broker`.
fn spy_shares_body() -> String {
    let text = fs::read_to_string(repo_root().join("recipes/spy-9ma-shares.yaml")).expect("recipe");
    let from = text.find("instrument:").expect("instrument block");
    text[from..].to_owned()
}

/// The deals of a trades CSV, without the header.
fn deals(csv: &Path) -> Vec<String> {
    let text = fs::read_to_string(csv).unwrap_or_else(|e| panic!("{}: {e}", csv.display()));
    text.lines().skip(1).map(str::to_owned).collect()
}

#[test]
fn an_equity_day_through_the_fake_trades_like_the_backtest() {
    let desk = Desk::new(FakeConfig {
        cash: Decimal::from(50_000),
        market_at_last_trade: true,
        ..FakeConfig::default()
    });
    let tape = session_tape("2013-10-09", &desk.path("tape.csv"));
    // The backtest of that day on the simulated venue: fills at the deciding print, no costs.
    let bt = desk.recipe(
        "bt",
        &format!(
            "version: 1\nagent: spy-bt\nprovider:\n  kind: replay\n  path: tape.csv\n  price_band: off\n\
             broker:\n  kind: paper\n  account: paper-bt\n  account_type: margin\n  starting_equity: 50000\n  \
             commission_per_share: 0\n  slippage_ticks: 0\n{}",
            spy_shares_body()
        ),
    );
    Run::new(["backtest", "--no-journal", "--trades-csv"])
        .arg(desk.path("bt.csv"))
        .arg(&bt)
        .dir(desk.dir.path())
        .run()
        .success();
    let expected = deals(&desk.path("bt.csv"));
    assert!(expected.len() >= 5, "the day trades: {expected:?}");

    let live = desk
        .recipe("live", &format!("version: 1\nagent: spy-live\n{}{}", desk.endpoints(), spy_shares_body()));
    let mut up = desk.spawn_up(&live, &["--trades-csv", "up.csv"]);
    desk.wait_connected(&mut up, "SPY");
    for (i, (ts, price, size)) in tape.iter().enumerate() {
        desk.fake.publish_trade("SPY", *ts, *price, *size);
        // Runner reads every few prints before the next ones: on a loaded machine it must not
        // fall seconds behind (a live venue's fills would then come minutes late in data time).
        if i % SYNC_EVERY == 0 {
            assert!(desk.fake.sync_data_streams(WAIT), "runner stopped reading:\n{}", desk.output());
            // An order runner decided has reached the fake before the tape moves on: data time
            // runs far faster than real time here, so an order still in flight on a loaded
            // machine would otherwise fill minutes later in data time.
            // Likewise a fill reaches runner (and the order it lets go, a reversal's opening one,
            // reaches the fake) before the tape moves on.
            let start = Instant::now();
            loop {
                let (orders, filled) = desk.order_and_fill_lines();
                let at_fake = desk.fake.orders();
                let fills_at_fake = at_fake.iter().filter(|o| o.status == "filled").count();
                if orders <= at_fake.len() && filled >= fills_at_fake {
                    break;
                }
                assert!(start.elapsed() < WAIT, "runner and the fake never agreed:\n{}", desk.output());
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    // Every order the day made is done before the run stops.
    let start = Instant::now();
    while desk.fake.orders().iter().any(|o| o.status == "new" || o.status == "accepted") {
        assert!(start.elapsed() < WAIT, "orders left working: {:?}", desk.fake.orders());
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = terminate(&mut up);
    assert!(status.success(), "runner up failed ({status}):\n{}", desk.output());
    // The same deals: side, size and why each closed. A live venue fills when the order
    // arrives, so a fill may come a few prints after the backtest's (runner lags the fake's
    // stream by however long it takes to read it); each live fill is at the market at its time.
    let got = deals(&desk.path("up.csv"));
    let what = |d: &String| {
        let f: Vec<&str> = d.split(',').collect();
        (f[1].to_owned(), f[2].to_owned(), f[7].to_owned())
    };
    assert_eq!(
        got.iter().map(what).collect::<Vec<_>>(),
        expected.iter().map(what).collect::<Vec<_>>(),
        "the Alpaca run's deals differ from the backtest's:\n{got:#?}\n{expected:#?}\n{}",
        desk.output()
    );
    let price_at: std::collections::HashMap<DateTime<Utc>, Decimal> =
        tape.iter().map(|(t, p, _)| (*t, *p)).collect();
    for (live, bt) in got.iter().zip(&expected) {
        let (l, b): (Vec<&str>, Vec<&str>) = (live.split(',').collect(), bt.split(',').collect());
        for (time, price) in [(0, 3), (4, 5)] {
            let at =
                |row: &[&str]| DateTime::parse_from_rfc3339(row[time]).expect("time").with_timezone(&Utc);
            let lag = at(&l) - at(&b);
            assert!(
                lag >= chrono::Duration::zero() && lag <= chrono::Duration::seconds(120),
                "a live fill {lag} from the backtest's: {live} vs {bt}"
            );
            let market = price_at.get(&at(&l)).copied();
            let filled: Decimal = l[price].parse().expect("price");
            assert!(market == Some(filled) || lag.is_zero(), "{live}: not the market price {market:?}");
        }
    }
    // Every order went to Alpaca once, under a unique client id.
    let orders = desk.fake.orders();
    let mut ids: Vec<&str> = orders.iter().map(|o| o.client_order_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), orders.len(), "a client order id was used twice");
    assert!(desk.fake.positions().is_empty(), "flat at the end: {:?}", desk.fake.positions());
    // The feed's latency (exchange time → arrival) is in the summary.
    assert!(desk.output().contains("feed latency   p50"), "{}", desk.output());
}

/// Publish `tape[from..]`, a print a millisecond, until `done` says so after a print; the
/// index after the last print published.
fn publish_until(
    fake: &FakeAlpaca,
    tape: &[(DateTime<Utc>, Decimal, Decimal)],
    from: usize,
    mut done: impl FnMut(&FakeAlpaca) -> bool,
) -> usize {
    for (i, (ts, price, size)) in tape.iter().enumerate().skip(from) {
        fake.publish_trade("SPY", *ts, *price, *size);
        if i % SYNC_EVERY == 0 {
            assert!(fake.sync_data_streams(WAIT), "the client stopped reading");
        }
        if done(fake) {
            return i + 1;
        }
    }
    tape.len()
}

/// A live spy-9ma-shares recipe on the fake.
fn live_recipe(desk: &Desk) -> PathBuf {
    desk.recipe("live", &format!("version: 1\nagent: spy-live\n{}{}", desk.endpoints(), spy_shares_body()))
}

/// POSTs of orders with this client order id that the fake answered.
fn posts_of(fake: &FakeAlpaca, client_order_id: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v2/orders")
        .filter(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|b| b.get("client_order_id").and_then(|v| v.as_str()).map(str::to_owned))
                .as_deref()
                == Some(client_order_id)
        })
        .count()
}

#[test]
fn kill_9_mid_order_then_restart_finds_the_fill_and_never_places_it_again() {
    let desk = Desk::new(FakeConfig { market_at_last_trade: true, ..FakeConfig::default() });
    let tape = session_tape("2013-10-09", &desk.path("tape.csv"));
    let recipe = live_recipe(&desk);
    let mut up = desk.spawn_up(&recipe, &[]);
    desk.wait_connected(&mut up, "SPY");
    // The broker takes the first order but holds its answer; runner is killed while it waits.
    desk.fake.delay_acks(Duration::from_secs(2));
    let at = publish_until(&desk.fake, &tape, 0, |f| !f.orders().is_empty());
    let first = desk.fake.orders()[0].client_order_id.clone();
    crate::fleet::kill9(&mut up);
    // Alpaca carries on without runner: the order is acknowledged, and fills.
    assert!(desk.fake.wait_for_order_status(&first, "filled", WAIT), "{:?}", desk.fake.orders());
    desk.fake.delay_acks(Duration::ZERO);
    // The restart finds the fill, journals it, and takes the position over.
    let mut up = desk.spawn_up(&recipe, &[]);
    desk.wait_connected(&mut up, "SPY");
    let start = Instant::now();
    while !desk.output().contains("executed at the venue while no process watched") {
        assert!(start.elapsed() < WAIT, "the restart did not recover the fill:\n{}", desk.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(desk.output().contains("holding 100 SPY"), "{}", desk.output());
    publish_until(&desk.fake, &tape, at, |_| false);
    let status = terminate(&mut up);
    assert!(status.success(), "restart failed ({status}):\n{}", desk.output());
    // One order under that id at the broker, and no second POST of it (the first one's
    // answer never reached the killed process, so the fake may not even have recorded it).
    assert_eq!(desk.fake.orders().iter().filter(|o| o.client_order_id == first).count(), 1);
    assert!(posts_of(&desk.fake, &first) <= 1, "the first order was sent again:\n{}", desk.output());
    let mut ids: Vec<String> = desk.fake.orders().into_iter().map(|o| o.client_order_id).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "a client order id repeated");
    assert!(
        desk.fake.positions().is_empty(),
        "flat after the stop: {:?}\n{}",
        desk.fake.positions(),
        desk.output()
    );
}

#[test]
fn a_fill_missed_while_the_stream_was_down_is_recovered_from_rest() {
    let desk = Desk::new(FakeConfig { market_at_last_trade: true, ..FakeConfig::default() });
    let tape = session_tape("2013-10-09", &desk.path("tape.csv"));
    let mut up = desk.spawn_up(&live_recipe(&desk), &[]);
    desk.wait_connected(&mut up, "SPY");
    // The fill happens, but its event never reaches runner; then the stream drops.
    desk.fake.suppress_trade_updates(true);
    let at = publish_until(&desk.fake, &tape, 0, |f| f.positions().iter().any(|p| p.symbol == "SPY"));
    let id = desk.fake.orders()[0].client_order_id.clone();
    desk.fake.suppress_trade_updates(false);
    desk.fake.drop_trade_stream();
    // After reconnecting, runner re-reads the orders and hands the agent the fill it missed.
    let start = Instant::now();
    while !desk.output().contains(&format!("filled {id} ")) {
        assert!(start.elapsed() < WAIT, "the missed fill was not recovered:\n{}", desk.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    publish_until(&desk.fake, &tape, at, |_| false);
    assert!(terminate(&mut up).success(), "{}", desk.output());
    let out = desk.output();
    assert_eq!(out.matches(&format!("filled {id} ")).count(), 1, "the fill was booked twice:\n{out}");
    assert!(out.contains("venue disconnected"), "the drop is shown:\n{out}");
    assert_eq!(posts_of(&desk.fake, &id), 1);
}

#[test]
fn a_position_opened_by_hand_refuses_the_start_unless_adopted() {
    let desk = Desk::new(FakeConfig::default());
    // A webhook (its URL in the vault) hears of the refused start and of the adoption.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
    let (base, inbox) = rt.block_on(crate::metrics_notify::receiver());
    fs::write(desk.path("hook.yaml"), format!("url: \"{base}/hook/desk\"\n")).expect("plain");
    desk.runner(&[
        "secrets",
        "encrypt",
        "--age",
        &desk.recipient,
        "--output",
        "secrets/hook.sops.yaml",
        "hook.yaml",
    ])
    .run()
    .success();
    fs::remove_file(desk.path("hook.yaml")).expect("rm plain");
    fs::write(
        desk.path("runner.yaml"),
        "version: 1\njournal: j.db\nstate_dir: state\nnotify:\n  webhooks:\n    - name: desk\n      \
         format: json\n      credentials: hook\n      events: [reconciliation]\n",
    )
    .expect("fleet");
    desk.fake.open_position("SPY", Decimal::from(30), Decimal::new(16_512, 2));
    let recipe = live_recipe(&desk);
    let out = desk.runner(&["up"]).arg(&recipe).run().code(1);
    assert!(out.stderr.contains("differs from the journal"), "{}", out.stderr);
    assert!(
        out.stderr.contains("SPY") && out.stderr.contains("30"),
        "the difference is shown: {}",
        out.stderr
    );
    assert!(desk.fake.orders().is_empty(), "nothing was traded");
    let refused = inbox.bodies("desk");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["event"], "reconciliation");
    assert!(refused[0]["text"].as_str().unwrap().contains("start refused"), "{refused:?}");
    // Adopted: the agent takes the 30 shares over (and flattens them when stopped).
    let mut up = desk.spawn_up(&recipe, &["--adopt"]);
    desk.wait_connected(&mut up, "SPY");
    let start = Instant::now();
    while !desk.output().contains("holding 30 SPY") {
        assert!(start.elapsed() < WAIT, "not adopted:\n{}", desk.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(desk.output().contains("adopted the venue's state"), "{}", desk.output());
    let start = Instant::now();
    while inbox.bodies("desk").len() < 2 {
        assert!(start.elapsed() < WAIT, "the adoption was not notified:\n{}", desk.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(inbox.bodies("desk")[1]["text"].as_str().unwrap().contains("adopted the venue's state"));
    let when = DateTime::parse_from_rfc3339("2013-10-09T10:00:00-04:00").expect("t").with_timezone(&Utc);
    desk.fake.publish_trade("SPY", when, Decimal::new(16_520, 2), Decimal::from(100));
    desk.wait_seen("spy-live", "2013-10-09T10:00:00");
    // SIGTERM flattens: the sell fills at the next print.
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(up.id() as libc::pid_t, libc::SIGTERM) };
    assert!(desk.fake.wait_for_orders(1, WAIT), "no flattening order:\n{}", desk.output());
    let exit = desk.fake.orders()[0].client_order_id.clone();
    assert!(desk.fake.wait_for_order_status(&exit, "new", WAIT), "{:?}", desk.fake.orders());
    desk.fake.publish_trade(
        "SPY",
        when + chrono::Duration::seconds(1),
        Decimal::new(16_521, 2),
        Decimal::from(100),
    );
    assert!(terminate(&mut up).success(), "{}", desk.output());
    assert!(
        desk.fake.positions().is_empty(),
        "{:?} {:?}\n{}",
        desk.fake.positions(),
        desk.fake.orders(),
        desk.output()
    );
}

#[test]
fn live_money_needs_the_live_flag() {
    let desk = Desk::new(FakeConfig::default());
    let text = fs::read_to_string(live_recipe(&desk))
        .expect("recipe")
        .replace("  kind: alpaca\n  account:", "  kind: alpaca\n  environment: live\n  account:");
    let recipe = desk.recipe("real-money", &text);
    let out = desk.runner(&["up"]).arg(&recipe).run().code(1);
    assert!(out.stderr.contains("--live"), "{}", out.stderr);
    assert!(desk.fake.requests().is_empty(), "nothing reached the broker: {:?}", desk.fake.requests());
}

#[test]
fn validate_online_authenticates_and_finds_the_symbol_without_placing_anything() {
    let desk = Desk::new(FakeConfig::default());
    let recipe = live_recipe(&desk);
    let online = |path: &Path| desk.runner(&["validate", "--online"]).arg(path).run();
    let out = online(&recipe).success();
    assert!(out.stdout.contains("√ ") && out.stdout.contains("authenticated"), "{}", out.stdout);
    assert!(out.stdout.contains("SPY tradable"), "{}", out.stdout);
    // An unknown symbol.
    let text = fs::read_to_string(&recipe).expect("recipe").replace("underlying: SPY", "underlying: ZZZZ");
    let out = online(&desk.recipe("unknown", &text)).code(1);
    assert!(out.stdout.contains("does not know the symbol ZZZZ"), "{}", out.stdout);
    // Keys Alpaca refuses: the secret is named, no key is shown.
    let plain = desk.path("bad.yaml");
    fs::write(&plain, "key_id: PKWRONGWRONGWRONG\nsecret_key: not-the-secret-at-all\n").expect("plain");
    let recipient = fs::read_to_string(&desk.key_file).expect("key");
    let id: age::x25519::Identity = recipient
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY"))
        .expect("identity")
        .parse()
        .expect("parse");
    Run::new(["secrets", "encrypt", "--age"])
        .arg(id.to_public().to_string())
        .args(["--output", "secrets/alpaca-bad.sops.yaml", "bad.yaml"])
        .dir(desk.dir.path())
        .run()
        .success();
    let text = fs::read_to_string(&recipe).expect("recipe").replace("alpaca-test", "alpaca-bad");
    let out = online(&desk.recipe("bad-keys", &text)).code(1);
    assert!(out.stdout.contains("secret `alpaca-bad`"), "{}", out.stdout);
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains("PKWRONG") && !text.contains("not-the-secret"), "a key leaked:\n{text}");
    }
    assert!(desk.fake.orders().is_empty(), "validate placed nothing");
    assert!(desk.fake.requests().iter().all(|r| r.method == "GET"), "{:?}", desk.fake.requests());
}

/// The recorded 2013-10-09 session moved to New York date `day` (same local times).
fn tape_on(
    day: chrono::NaiveDate,
    tape: &[(DateTime<Utc>, Decimal, Decimal)],
) -> Vec<(DateTime<Utc>, Decimal, Decimal)> {
    use chrono::TimeZone;
    let ny = chrono_tz::America::New_York;
    tape.iter()
        .map(|(t, p, s)| {
            let local = t.with_timezone(&ny).time();
            let moved = ny.from_local_datetime(&day.and_time(local)).single().expect("a New York time");
            (moved.with_timezone(&Utc), *p, *s)
        })
        .collect()
}

#[test]
fn a_live_options_entry_picks_its_contract_from_the_brokers_chain_at_its_quote() {
    let nyse = runner::calendar::Calendar::nyse();
    let today = Utc::now().with_timezone(&chrono_tz::America::New_York).date_naive();
    // The latest trading day: its session is what the fake streams, "today" for the agent.
    let day = if nyse.is_trading_day(today).expect("calendar") {
        today
    } else {
        nyse.previous_trading_day(today).expect("calendar")
    };
    // An expiry in both the agent's window (7–14 days after `day`) and the listing's (7–14 after today).
    let expiry = (9..=13)
        .map(|n| day + chrono::Days::new(n))
        .find(|d| nyse.is_trading_day(*d).unwrap_or(false) && *d >= today + chrono::Days::new(7))
        .expect("an expiry in the window");
    let desk = Desk::new(FakeConfig::default().with_spy_chain(Decimal::from(165), &[expiry]));
    let contracts: Vec<String> =
        desk.fake.config().option_contracts.iter().map(|c| c.symbol.clone()).collect();
    for occ in &contracts {
        desk.fake.set_option_quote(occ, Decimal::new(120, 2), Decimal::new(125, 2));
    }
    let tape = tape_on(day, &session_tape("2013-10-09", &desk.path("tape.csv")));
    let text = fs::read_to_string(repo_root().join("recipes/spy-9ma-alpaca.yaml")).expect("recipe");
    let body = &text[text.find("instrument:").expect("instrument")..];
    let recipe =
        desk.recipe("spy-options", &format!("version: 1\nagent: spy-options\n{}{body}", desk.endpoints()));
    let mut up = desk.spawn_up(&recipe, &[]);
    desk.wait_connected(&mut up, "SPY");
    // The listing and its quotes reach the agent before the signal (10:25).
    let start = Instant::now();
    while !desk.fake.requests().iter().any(|r| r.path == "/v1beta1/options/snapshots") {
        assert!(start.elapsed() < WAIT, "the chain was never polled:\n{}", desk.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    publish_until(&desk.fake, &tape, 0, |f| !f.orders().is_empty());
    let order = desk.fake.orders().into_iter().next().expect("an order");
    // The at-the-money call of the listed expiry (SPY at ~165.7 then), bought to open at the
    // listed ask plus the recipe's one tick, for the day.
    let atm = format!("SPY{}C00166000", expiry.format("%y%m%d"));
    assert_eq!(order.symbol, atm, "{order:?}\n{}", desk.output());
    assert!(contracts.contains(&order.symbol));
    assert_eq!(order.position_intent.as_deref(), Some("buy_to_open"));
    assert_eq!(order.time_in_force, "day");
    assert_eq!(order.limit_price, Some(Decimal::new(126, 2)), "{order:?}");
    assert!(
        desk.fake.wait_for_order_status(&order.client_order_id, "filled", WAIT),
        "{:?}",
        desk.fake.orders()
    );
    let _ = terminate(&mut up);
}

#[test]
fn a_dry_run_trades_the_paper_venue_on_alpacas_live_data_and_sends_nothing() {
    let desk = Desk::new(FakeConfig::default());
    let tape = session_tape("2013-10-09", &desk.path("tape.csv"));
    let provider = desk.endpoints();
    let provider = &provider[..provider.find("broker:").expect("broker block")];
    let recipe = desk.recipe(
        "dry-run",
        &format!(
            "version: 1\nagent: spy-dry\n{provider}broker:\n  kind: paper\n  account: paper-dry\n  starting_equity: 50000\n{}",
            spy_shares_body()
        ),
    );
    let mut up = desk.spawn_up(&recipe, &[]);
    let start = Instant::now();
    while !desk.fake.wait_for_data_subscription("SPY", Duration::from_millis(100)) {
        assert!(start.elapsed() < WAIT, "never subscribed:\n{}", desk.output());
    }
    let filled = |_: &FakeAlpaca| desk.output().contains(" filled spy-dry-");
    publish_until(&desk.fake, &tape, 0, filled);
    assert!(
        desk.output().contains("paper broker") && desk.output().contains("live alpaca data"),
        "{}",
        desk.output()
    );
    assert!(terminate(&mut up).success(), "{}", desk.output());
    assert!(
        desk.output().contains(" filled spy-dry-"),
        "the paper venue filled on live data:\n{}",
        desk.output()
    );
    assert!(desk.fake.orders().is_empty(), "a dry run sent an order to the broker");
    assert!(
        desk.fake.requests().iter().all(|r| !r.path.starts_with("/v2/orders")),
        "{:?}",
        desk.fake.requests()
    );
}

#[test]
fn a_quiet_feed_during_the_session_makes_the_agent_unhealthy_then_halts_its_entries() {
    let desk = Desk::new(FakeConfig::default());
    fs::write(
        desk.path("runner.yaml"),
        "version: 1\njournal: j.db\nstate_dir: state\nstale_data_seconds: 1\nstale_halt_seconds: 2\n",
    )
    .expect("fleet");
    let mut up = desk.spawn_up(&live_recipe(&desk), &[]);
    desk.wait_connected(&mut up, "SPY");
    // A few prints at 10:00 on a trading day (the feed's time: the session is open), then nothing.
    let when = DateTime::parse_from_rfc3339("2013-10-09T10:00:00-04:00").expect("t").with_timezone(&Utc);
    for s in 0..3 {
        desk.fake.publish_trade(
            "SPY",
            when + chrono::Duration::seconds(s),
            Decimal::new(16_520, 2),
            Decimal::ONE,
        );
    }
    let start = Instant::now();
    while !(desk.output().contains("unhealthy: no market data for")
        && desk.output().contains("during the session: no new entries today"))
    {
        assert!(start.elapsed() < WAIT, "no stale-data health or halt:\n{}", desk.output());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(desk.output().contains("reduce-only"), "entries halted, exits still allowed:\n{}", desk.output());
    assert!(terminate(&mut up).success(), "{}", desk.output());
}

#[test]
fn a_reload_with_carry_over_restarts_a_live_agent_holding_its_position() {
    let desk = Desk::new(FakeConfig { market_at_last_trade: true, ..FakeConfig::default() });
    let tape = session_tape("2013-10-09", &desk.path("tape.csv"));
    let recipe = live_recipe(&desk);
    let text = fs::read_to_string(&recipe).expect("recipe");
    let mut up = desk.spawn_up(&recipe, &["--http", "127.0.0.1:0"]);
    desk.wait_connected(&mut up, "SPY");
    // The loopback dashboard's address and the token it made.
    let base = {
        let out = fs::read_to_string(desk.path("up.out")).unwrap_or_default();
        let line =
            out.lines().find(|l| l.starts_with("dashboard: http://")).expect("dashboard line").to_owned();
        line["dashboard: ".len()..].split('/').take(3).collect::<Vec<_>>().join("/")
    };
    let token = fs::read_to_string(desk.path("state/http.token")).expect("token").trim().to_owned();
    // Trade until the agent holds shares at the broker.
    let at = publish_until(&desk.fake, &tape, 0, |f| !f.positions().is_empty());
    assert!(at < tape.len(), "the agent never entered:\n{}", desk.output());
    let orders_before = desk.fake.orders().len();
    // A key that needs a restart changes on disk; the reload carries the position over.
    fs::write(&recipe, text.replace("flatten_at: \"15:55\"", "flatten_at: \"15:50\"")).expect("edit");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // reqwest is built without a default TLS provider (the runner installs ring at start).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let reload = |q: &str| {
        let url = format!("{base}/api/agents/spy-live/reload{q}");
        rt.block_on(async {
            let r = reqwest::Client::new().post(url).bearer_auth(&token).send().await.expect("reload");
            (r.status().as_u16(), r.json::<serde_json::Value>().await.expect("json"))
        })
    };
    let (status, body) = reload("");
    assert_eq!(status, 409, "holding without flatten or carry: {body}");
    let (status, body) = reload("?positions=carry");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "restarting; carrying the position over", "{body}");
    assert_eq!(body["new"], "session.flatten_at", "{body}");
    // The new run takes the broker's position over from the journal: nothing was sold.
    let start = Instant::now();
    while desk.output().matches("account alpaca-test").count() < 2 {
        assert!(start.elapsed() < WAIT, "no new run:\n{}", desk.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(desk.fake.orders().len(), orders_before, "the carry-over sent an order:\n{}", desk.output());
    assert!(!desk.fake.positions().is_empty());
    publish_until(&desk.fake, &tape, at, |_| false);
    let status = terminate(&mut up);
    assert!(status.success(), "{status}:\n{}", desk.output());
    let conn = rusqlite::Connection::open(desk.path("j.db")).expect("journal");
    let outcomes: Vec<String> = conn
        .prepare("SELECT outcome FROM runs WHERE agent = 'spy-live' ORDER BY started_at")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert_eq!(outcomes[0], "restarted: the recipe changed (session.flatten_at)");
    assert!(desk.fake.positions().is_empty(), "flat after the stop:\n{}", desk.output());
}
