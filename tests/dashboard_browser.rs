//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (`support::webdriver`, chromedriver from Debian's `chromium-driver`, installed by
//! `.ci/setup`) against a real `runner up --http 127.0.0.1:0` replaying the recorded SPY data
//! at 2000x (the first fill ~13 s in, the run lasts minutes). Each test has its own temp
//! journal and state dir; the browser tests run one at a time (one Chromium on a small box).
//! Screenshots go to `target/test-artifacts/dashboard/*.png`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::webdriver::Browser;
use crate::support::{recipe_variant, repo_root, runner_command};

/// The control token the tests give `runner up` (`RUNNER_HTTP_TOKEN`).
const TOKEN: &str = "browser-test-token-5d1c";
const AGENT: &str = "spy-9ma";
const WAIT: Duration = Duration::from_secs(60);

/// One Chromium at a time.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn artifact(name: &str) -> PathBuf {
    repo_root().join("target/test-artifacts/dashboard").join(name)
}

/// A `runner up --http 127.0.0.1:0` in the background, stopped (SIGTERM, then SIGKILL) on drop.
struct Up {
    child: Child,
    /// `http://127.0.0.1:PORT`
    url: String,
    journal: PathBuf,
    output: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Up {
    /// `runner up` of `spy-9ma` (with `edits` to the recipe) at `speed`, with
    /// `RUNNER_HTTP_TOKEN` set; waits for its `dashboard:` line.
    fn start(edits: &[(&str, &str)], speed: &str, state_dir: Option<&Path>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let recipe = recipe_variant(dir.path(), AGENT, edits);
        let journal = dir.path().join("journal.db");
        let state = state_dir.map_or_else(|| dir.path().join("state"), Path::to_path_buf);
        let mut child = runner_command()
            .env_remove("RUNNER_JOURNAL")
            .env("RUNNER_HTTP_TOKEN", TOKEN)
            .arg("up")
            .arg(&recipe)
            .args(["--speed", speed, "--http", "127.0.0.1:0", "--journal"])
            .arg(&journal)
            .arg("--state-dir")
            .arg(&state)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn runner up");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let out = Arc::clone(&output);
        // Drain stdout for the whole run (a full pipe would stall the runner).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("dashboard: ") {
                    let url =
                        rest.split_whitespace().next().unwrap_or_default().trim_end_matches('/').to_owned();
                    let _ = tx.send(url);
                }
                out.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        let err = Arc::clone(&output);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                err.lock().unwrap().push_str(&format!("stderr: {line}\n"));
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("runner up printed no dashboard line:\n{}", output.lock().unwrap()));
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Self { child, url, journal, output, _dir: dir }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Rows of a journal query (read-only; the journal is being written).
    fn journal_strings(&self, sql: &str) -> Vec<String> {
        let c =
            rusqlite::Connection::open_with_flags(&self.journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .expect("open the journal");
        let mut st = c.prepare(sql).expect("journal query");
        st.query_map([], |r| r.get::<_, String>(0)).expect("query").map(Result::unwrap).collect()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        // SAFETY: signalling our own child process by its PID.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http() -> reqwest::Client {
    runner::venue::tls::install();
    reqwest::Client::new()
}

async fn api(up: &Up, path: &str) -> (u16, Value) {
    let r = http().get(format!("{}{path}", up.url)).send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn api_post(up: &Up, path: &str, body: Value) -> (u16, Value) {
    let r =
        http().post(format!("{}{path}", up.url)).bearer_auth(TOKEN).json(&body).send().await.expect("POST");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A money cell as the page shows it: `$1,234.50`, `-$12.00`.
fn is_money(s: &str) -> bool {
    let s = s.trim();
    let s = s.strip_prefix('-').unwrap_or(s);
    let Some(s) = s.strip_prefix('$') else { return false };
    let Some((int, dec)) = s.split_once('.') else { return false };
    dec.len() == 2
        && dec.bytes().all(|b| b.is_ascii_digit())
        && !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit() || b == b',')
}

/// Click the confirmation dialog's "Confirm", then give the token dialog `token`.
async fn confirm_and_give_token(b: &Browser, token: &str) {
    let yes = b.wait_for("#confirm-dialog[open] #confirm-yes", WAIT).await.expect("confirmation dialog");
    b.click(&yes).await.unwrap();
    give_token(b, token).await;
}

async fn give_token(b: &Browser, token: &str) {
    let input = b.wait_for("#token-dialog[open] #token-input", WAIT).await.expect("token dialog");
    b.send_keys(&input, token).await.unwrap();
    b.click(&b.find("#token-ok").await.unwrap()).await.unwrap();
}

/// Nothing on the page is wider than the window (wide tables scroll inside their own box).
async fn assert_fits(b: &Browser, what: &str) {
    let w = b
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
            vec![],
        )
        .await
        .unwrap();
    let (scroll, client) = (w[0].as_u64().unwrap(), w[1].as_u64().unwrap());
    assert!(scroll <= client, "{what}: the page is {scroll}px wide in a {client}px window");
}

async fn theme(b: &Browser) -> String {
    b.execute("return document.documentElement.dataset.theme", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_view_shows_the_agent_live_and_the_kill_switch_halts_the_fleet() {
    let _one = ONE_BROWSER.lock().await;
    // No loss-limit halt of its own: the P&L keeps moving until the kill switch.
    let up = Up::start(&[("daily_loss_limit: 1000", "daily_loss_limit: 100000")], "2000x", None);
    let b = Browser::start().await;
    b.goto(&format!("{}/", up.url)).await.unwrap();
    let row = format!("#agents tr[data-agent=\"{AGENT}\"]");
    b.wait_for(&row, WAIT).await.expect("the fleet table lists the agent");
    let name = b.text_of(&format!("{row} td:first-child a")).await.unwrap();
    assert_eq!(name, AGENT);
    let state = b.text_of(&format!("{row} td.state")).await.unwrap();
    assert_eq!(state, "active", "{}", up.output());
    // P&L is money with a $ sign and two decimals, and it moves as the replay trades.
    let cell = format!("{row} td.pnl-today");
    let first = b.text_of(&cell).await.unwrap();
    assert!(is_money(&first), "{first:?}");
    let later = b
        .wait_text(&cell, WAIT, |t| t != first && is_money(t))
        .await
        .unwrap_or_else(|e| panic!("the P&L cell never changed from {first}: {e}\n{}", up.output()));
    assert!(is_money(&later), "{later:?}");
    assert!(is_money(&b.text_of("#fleet-pnl-today").await.unwrap()));
    assert!(b.text_of("#loss-limit").await.unwrap().contains("limit"));
    // Live: the connection indicator says so.
    b.wait_text("#conn", WAIT, |t| t.contains("live")).await.expect("live updates");
    // The sparkline draws the equity so far.
    b.wait_for(&format!("{row} svg.spark polyline"), WAIT).await.expect("a sparkline");

    // Dark by default.
    assert_eq!(theme(&b).await, "dark");
    b.screenshot(&artifact("fleet.png")).await.unwrap();

    // Light on request, remembered across a reload.
    b.click(&b.find("#theme-toggle").await.unwrap()).await.unwrap();
    assert_eq!(theme(&b).await, "light");
    b.goto(&format!("{}/", up.url)).await.unwrap();
    b.wait_for(&row, WAIT).await.unwrap();
    assert_eq!(theme(&b).await, "light", "the theme choice survives a reload");
    b.wait_for(&format!("{row} svg.spark polyline"), WAIT).await.expect("a sparkline");
    b.screenshot(&artifact("fleet-light.png")).await.unwrap();
    b.click(&b.find("#theme-toggle").await.unwrap()).await.unwrap();
    assert_eq!(theme(&b).await, "dark");

    // Phone width: nothing wider than the screen (wide tables scroll in their own box).
    b.set_window_size(390, 844).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_fits(&b, "the fleet page at phone width").await;
    b.screenshot(&artifact("fleet-phone.png")).await.unwrap();
    b.set_window_size(1280, 800).await.unwrap();

    // The kill switch asks first; canceling does nothing.
    b.click(&b.find("#kill-switch").await.unwrap()).await.unwrap();
    let no = b.wait_for("#confirm-dialog[open] #confirm-no", WAIT).await.unwrap();
    b.click(&no).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, fleet) = api(&up, "/api/fleet").await;
    assert!(fleet["halted"].is_null(), "canceling the confirmation halted the fleet: {fleet}");
    // Confirmed, with the token: the fleet halts, the page says so, the journal records it.
    b.click(&b.find("#kill-switch").await.unwrap()).await.unwrap();
    confirm_and_give_token(&b, TOKEN).await;
    let banner =
        b.wait_text("#fleet-halted-reason", WAIT, |t| t.contains("halted")).await.expect("halt banner");
    assert!(banner.contains("by http 127.0.0.1:"), "{banner}");
    b.wait_text(&format!("{row} td.state"), WAIT, |t| t == "halted").await.expect("the agent shows halted");
    let (_, fleet) = api(&up, "/api/fleet").await;
    assert!(fleet["halted"].as_str().is_some_and(|r| r.contains("fleet halted by http")), "{fleet}");
    let deadline = Instant::now() + WAIT;
    while up.journal_strings("SELECT reason FROM halts").iter().all(|r| !r.contains("fleet halted by http")) {
        assert!(
            Instant::now() < deadline,
            "no fleet halt in the journal: {:?}",
            up.journal_strings("SELECT reason FROM halts")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing on the page is the token.
    let html = b.execute("return document.documentElement.outerHTML", vec![]).await.unwrap();
    assert!(!html.as_str().unwrap().contains(TOKEN), "the token is on the page");
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_view_shows_fills_live_and_the_halt_button_halts() {
    let _one = ONE_BROWSER.lock().await;
    // A loss limit the replay does not reach: the only halt is the operator's.
    let up = Up::start(&[("daily_loss_limit: 1000", "daily_loss_limit: 100000")], "2000x", None);
    let b = Browser::start().await;
    // Opened before the first fill (~13 s in): the fill arrives over the event stream.
    b.goto(&format!("{}/#/agent/{AGENT}", up.url)).await.unwrap();
    b.wait_text("#agent-name", WAIT, |t| t == AGENT).await.expect("agent page");
    b.wait_text("#agent-state", WAIT, |t| t == "active").await.expect("active");
    let fill = b
        .wait_text("#fills tbody tr:first-child", WAIT, |t| t.contains("SPY"))
        .await
        .unwrap_or_else(|e| panic!("no fill on the page: {e}\n{}", up.output()));
    assert!(fill.contains("buy") || fill.contains("sell"), "{fill}");
    b.wait_text("#orders tbody tr:first-child", WAIT, |t| t.contains("SPY")).await.expect("an order row");
    // The run view is fetched again after fills: a closed deal appears with the report's columns.
    let deal = b
        .wait_text("#deals tbody tr:first-child", WAIT, |t| t.contains("SPY") && t.contains('$'))
        .await
        .unwrap_or_else(|e| panic!("no deal on the page: {e}\n{}", up.output()));
    assert!(deal.contains("long") || deal.contains("short"), "{deal}");
    let head = b.text_of("#deals thead").await.unwrap();
    for col in ["Symbol", "Side", "Entry", "Exit", "Net P&L", "Exit reason"] {
        assert!(head.contains(col), "deals header {head:?} lacks {col}");
    }
    // Charts: candles, the strategy's line(s), deal markers, equity and drawdown.
    let counts = b
        .execute(
            "return [document.querySelectorAll('#price-chart .candles rect').length,
                     document.querySelectorAll('#price-chart path.indicator').length,
                     document.querySelectorAll('#price-chart .markers .entry').length,
                     document.querySelectorAll('#equity-chart path.equity').length,
                     document.querySelectorAll('#equity-chart path.drawdown').length]",
            vec![],
        )
        .await
        .unwrap();
    let n: Vec<u64> = counts.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(n[0] > 10, "candles: {n:?}");
    assert!(n[1] >= 1 && n[2] >= 1 && n[3] == 1 && n[4] == 1, "{n:?}");
    assert_fits(&b, "the agent page at 1280x800").await;
    b.screenshot(&artifact("agent.png")).await.unwrap();
    b.execute("document.querySelector('#deals-box').scrollIntoView()", vec![]).await.unwrap();
    b.screenshot(&artifact("agent-tables.png")).await.unwrap();
    // Back to the top: the sticky header would cover a button scrolled to the window's edge.
    b.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();

    // Halt: confirm, then a wrong token (401: asked again), then the right one.
    b.click(&b.find("#controls button[data-action=halt]").await.unwrap()).await.unwrap();
    confirm_and_give_token(&b, "not-the-token").await;
    let again = b.wait_text("#token-dialog[open] #token-text", WAIT, |t| t.contains("refused")).await;
    assert!(again.is_ok(), "a refused token is asked for again: {again:?}");
    give_token(&b, TOKEN).await;
    b.wait_text("#agent-state", WAIT, |t| t == "halted").await.expect("the page shows halted");
    let msg = b.text_of("#control-msg").await.unwrap();
    assert!(msg.starts_with("halt:"), "{msg}");
    let (_, agent) = api(&up, &format!("/api/agents/{AGENT}")).await;
    assert_eq!(agent["state"], "halted", "{agent}");
    let deadline = Instant::now() + WAIT;
    let sql = format!("SELECT reason FROM halts WHERE agent = '{AGENT}'");
    while up.journal_strings(&sql).iter().all(|r| !r.contains("halt by http 127.0.0.1:")) {
        assert!(Instant::now() < deadline, "no operator halt in the journal: {:?}", up.journal_strings(&sql));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The control is listed on the page.
    b.wait_text("#control-log tbody", WAIT, |t| t.contains("halt")).await.expect("control log row");
    // Phone width, agent view.
    b.set_window_size(390, 844).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_fits(&b, "the agent page at phone width").await;
    b.screenshot(&artifact("agent-phone.png")).await.unwrap();
    b.quit().await;
}

/// The first editable integer parameter of the agent, and its value.
async fn integer_param(up: &Up) -> (String, i64) {
    let (status, params) = api(up, &format!("/api/agents/{AGENT}/params")).await;
    assert_eq!(status, 200, "params: {params}");
    params
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| {
            let v = p["value"].as_str()?.parse::<i64>().ok()?;
            (p["editable"] == Value::Bool(true)).then(|| (p["key"].as_str().unwrap().to_owned(), v))
        })
        .unwrap_or_else(|| panic!("no editable integer parameter in {params}"))
}

async fn param_value(up: &Up, key: &str) -> String {
    let (_, params) = api(up, &format!("/api/agents/{AGENT}/params")).await;
    params.as_array().unwrap().iter().find(|p| p["key"] == key).unwrap()["value"].as_str().unwrap().to_owned()
}

/// Type `value` into `key`'s edit field and submit.
async fn edit_param(b: &Browser, key: &str, value: &str) {
    let field = b.wait_for(&format!("#params tr[data-key=\"{key}\"] input"), WAIT).await.expect("edit field");
    b.clear(&field).await.unwrap();
    b.send_keys(&field, value).await.unwrap();
    b.click(&b.find(&format!("#params tr[data-key=\"{key}\"] button[type=submit]")).await.unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_parameter_edit_shows_the_validators_message_and_changes_nothing() {
    let _one = ONE_BROWSER.lock().await;
    let up = Up::start(&[], "2000x", None);
    let (key, before) = integer_param(&up).await;
    let b = Browser::start().await;
    b.goto(&format!("{}/", up.url)).await.unwrap();
    b.execute("localStorage.setItem('runner.token', arguments[0])", vec![Value::from(TOKEN)]).await.unwrap();
    b.goto(&format!("{}/#/agent/{AGENT}", up.url)).await.unwrap();
    edit_param(&b, &key, "-3").await;
    let shown = b
        .wait_text(&format!("#params tr[data-key=\"{key}\"] .param-error"), WAIT, |t| !t.is_empty())
        .await
        .expect("an error next to the field");
    // Verbatim the server's (the validator's) message.
    let (status, err) =
        api_post(&up, &format!("/api/agents/{AGENT}/params"), serde_json::json!({"key": key, "value": "-3"}))
            .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(shown, err["error"].as_str().unwrap());
    assert_eq!(
        b.text_of(&format!("#params tr[data-key=\"{key}\"] .param-value")).await.unwrap(),
        before.to_string()
    );
    assert_eq!(param_value(&up, &key).await, before.to_string(), "an invalid edit changed the parameter");
    b.screenshot(&artifact("param-invalid.png")).await.unwrap();
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_parameter_edit_takes_effect() {
    let _one = ONE_BROWSER.lock().await;
    let up = Up::start(&[], "2000x", None);
    let (key, before) = integer_param(&up).await;
    let after = (before + 1).to_string();
    let b = Browser::start().await;
    b.goto(&format!("{}/", up.url)).await.unwrap();
    b.execute("localStorage.setItem('runner.token', arguments[0])", vec![Value::from(TOKEN)]).await.unwrap();
    b.goto(&format!("{}/#/agent/{AGENT}", up.url)).await.unwrap();
    edit_param(&b, &key, &after).await;
    let ok = b
        .wait_text(&format!("#params tr[data-key=\"{key}\"] .param-ok"), WAIT, |t| !t.is_empty())
        .await
        .expect("the edit is acknowledged");
    assert!(ok.starts_with("applied") || ok.starts_with("pending"), "{ok}");
    assert_eq!(b.text_of(&format!("#params tr[data-key=\"{key}\"] .param-value")).await.unwrap(), after);
    if ok.starts_with("applied") {
        assert_eq!(param_value(&up, &key).await, after);
    }
    let rows =
        up.journal_strings(&format!("SELECT new FROM controls WHERE action = 'set-param' AND key = '{key}'"));
    assert_eq!(rows, vec![after.clone()], "the edit is journaled");
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_list_opens_a_finished_backtest_in_the_run_pages() {
    let _one = ONE_BROWSER.lock().await;
    let state = tempfile::tempdir().unwrap();
    let journal = state.path().join("journal.db");
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_variant(dir.path(), AGENT, &[]);
    let bt = crate::support::Run::new(["backtest", &recipe, "--journal"])
        .arg(&journal)
        .arg("--state-dir")
        .arg(state.path())
        .run()
        .success();
    let id = bt
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("spy-9ma-") && w.len() > 20)
        .unwrap_or_else(|| panic!("no run id in {}", bt.stdout))
        .trim_end_matches([')', ',', '.'])
        .to_owned();
    assert!(state.path().join("runs").join(&id).join("run.json").is_file(), "{}", bt.stdout);
    let up = Up::start(&[], "2000x", Some(state.path()));
    let _ = &up.journal; // the up run has its own journal; the run list is the state dir's runs
    let b = Browser::start().await;
    b.goto(&format!("{}/#/runs", up.url)).await.unwrap();
    let (_, runs) = api(&up, "/api/runs").await;
    let link = format!("#runs a[href=\"#/run/{id}\"]");
    let found = b.wait_for(&link, WAIT).await;
    assert!(found.is_ok(), "run {id} not listed; /api/runs = {runs}");
    b.click(&found.unwrap()).await.unwrap();
    b.wait_text("#run-id", WAIT, |t| t == id).await.expect("the run page");
    b.wait_for("#price-chart .candles rect", WAIT).await.expect("candles");
    let deals = b.find_all("#deals tbody tr").await.unwrap().len();
    assert!(deals > 0, "deals of the backtest");
    assert!(b.find_all("#controls button").await.unwrap().is_empty(), "a finished run has no controls");
    assert!(is_money(&b.text_of("#run-net-pnl").await.unwrap()));
    b.screenshot(&artifact("run.png")).await.unwrap();
    // The correlation page: the fleet's one symbol correlates 1.00 with itself.
    b.goto(&format!("{}/#/correlation", up.url)).await.unwrap();
    if let Err(e) = b.wait_text("#corr-table td.cell", WAIT, |t| t == "1.00").await {
        let html = b.execute("return document.querySelector('#app').innerHTML", vec![]).await;
        panic!("heatmap: {e}\n{html:?}");
    }
    b.screenshot(&artifact("correlation.png")).await.unwrap();
    b.quit().await;
}
