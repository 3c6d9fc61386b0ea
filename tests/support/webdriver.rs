//! A minimal W3C WebDriver client for the dashboard's browser tests: a real `chromedriver`
//! (Debian's `chromium-driver`, installed by `.ci/setup`) started on a free 127.0.0.1 port,
//! driving headless Chromium; spoken to over reqwest (async, JSON). The chromedriver process
//! is killed by PID when the [`Browser`] is dropped.
//!
//! Only what the tests need: open a URL, find elements by CSS, click, type, read text, run a
//! script, resize the window, take a screenshot.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The W3C key of an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver error, with the driver's message.
#[derive(Debug)]
pub struct WdError(pub String);

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WdError {}

/// A result of a WebDriver command.
pub type WdResult<T> = Result<T, WdError>;

/// Where chromedriver is: `chromedriver` on PATH, else Debian's `/usr/bin/chromedriver`.
fn chromedriver_path() -> PathBuf {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("chromedriver");
            if p.is_file() {
                return p;
            }
        }
    }
    PathBuf::from("/usr/bin/chromedriver")
}

/// The Chromium binary, when it is where Debian puts it (else chromedriver finds Chrome itself).
fn chromium_path() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.is_file())
}

/// A chromedriver process and one browser session in it.
pub struct Browser {
    child: Option<Child>,
    http: reqwest::Client,
    base: String,
    session: String,
    profile: tempfile::TempDir,
}

/// An element of the page.
#[derive(Debug, Clone)]
pub struct Element(pub String);

impl Browser {
    /// Start chromedriver on a free port and open a headless Chromium session (1280×800).
    pub async fn start() -> Self {
        let driver = chromedriver_path();
        assert!(
            driver.is_file(),
            "chromedriver is not installed ({}): run .ci/setup (Debian packages chromium and chromium-driver)",
            driver.display()
        );
        runner::venue::tls::install(); // reqwest's rustls provider (ring), as the binary does
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("http client");
        for _ in 0..5 {
            let profile = tempfile::tempdir().expect("chromium profile dir");
            let port =
                TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
            let child = Command::new(&driver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
            let base = format!("http://127.0.0.1:{port}");
            let mut b =
                Self { child: Some(child), http: http.clone(), base, session: String::new(), profile };
            if b.wait_ready().await {
                b.new_session().await;
                return b;
            }
            b.kill();
        }
        panic!("chromedriver did not start on a free 127.0.0.1 port");
    }

    async fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                return false; // exited: the port was taken
            }
            if let Ok(r) = self.http.get(format!("{}/status", self.base)).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"].as_bool() == Some(true)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    async fn new_session(&mut self) {
        let mut options = json!({
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--window-size=1280,800",
                format!("--user-data-dir={}", self.profile.path().display()),
            ]
        });
        if let Some(bin) = chromium_path() {
            options["binary"] = json!(bin.display().to_string());
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}});
        let v = self
            .raw("POST", &format!("{}/session", self.base), Some(caps))
            .await
            .expect("new WebDriver session");
        self.session = v["sessionId"].as_str().expect("sessionId").to_owned();
    }

    /// One command: `method` on `url` with an optional JSON body; the response's `value`.
    async fn raw(&self, method: &str, url: &str, body: Option<Value>) -> WdResult<Value> {
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let resp = req.send().await.map_err(|e| WdError(format!("{method} {url}: {e}")))?;
        let status = resp.status();
        let v: Value = resp.json().await.map_err(|e| WdError(format!("{method} {url}: {e}")))?;
        if !status.is_success() {
            return Err(WdError(format!(
                "{method} {url}: {status}: {} {}",
                v["value"]["error"].as_str().unwrap_or(""),
                v["value"]["message"].as_str().unwrap_or("")
            )));
        }
        Ok(v["value"].clone())
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> WdResult<Value> {
        self.raw(method, &format!("{}/session/{}{path}", self.base, self.session), body).await
    }

    /// Open `url`.
    pub async fn goto(&self, url: &str) -> WdResult<()> {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await.map(drop)
    }

    /// The first element matching the CSS selector.
    pub async fn find(&self, css: &str) -> WdResult<Element> {
        let v = self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": css}))).await?;
        element_of(&v).ok_or_else(|| WdError(format!("{css}: no element reference in {v}")))
    }

    /// Every element matching the CSS selector.
    pub async fn find_all(&self, css: &str) -> WdResult<Vec<Element>> {
        let v = self.cmd("POST", "/elements", Some(json!({"using": "css selector", "value": css}))).await?;
        Ok(v.as_array().map(|a| a.iter().filter_map(element_of).collect()).unwrap_or_default())
    }

    /// Wait (up to `timeout`) for an element matching `css`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> WdResult<Element> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.find(css).await {
                Ok(e) => return Ok(e),
                Err(e) if Instant::now() >= deadline => {
                    return Err(WdError(format!("waiting for {css}: {e}")));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Wait (up to `timeout`) until `css`'s text satisfies `ok`; the last text seen.
    pub async fn wait_text(
        &self,
        css: &str,
        timeout: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> WdResult<String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            if let Ok(e) = self.find(css).await
                && let Ok(t) = self.text(&e).await
            {
                if ok(&t) {
                    return Ok(t);
                }
                last = t;
            }
            if Instant::now() >= deadline {
                return Err(WdError(format!("waiting on the text of {css}; last seen: {last:?}")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Click an element.
    pub async fn click(&self, e: &Element) -> WdResult<()> {
        self.cmd("POST", &format!("/element/{}/click", e.0), None).await.map(drop)
    }

    /// Clear a text field.
    pub async fn clear(&self, e: &Element) -> WdResult<()> {
        self.cmd("POST", &format!("/element/{}/clear", e.0), None).await.map(drop)
    }

    /// Type `text` into an element.
    pub async fn send_keys(&self, e: &Element, text: &str) -> WdResult<()> {
        self.cmd("POST", &format!("/element/{}/value", e.0), Some(json!({ "text": text }))).await.map(drop)
    }

    /// An element's rendered text.
    pub async fn text(&self, e: &Element) -> WdResult<String> {
        let v = self.cmd("GET", &format!("/element/{}/text", e.0), None).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The rendered text of the first element matching `css`. The page redraws its tables as
    /// events arrive: an element replaced between finding and reading it is found again.
    pub async fn text_of(&self, css: &str) -> WdResult<String> {
        let mut tries = 0;
        loop {
            let e = self.find(css).await?;
            match self.text(&e).await {
                Err(err) if err.0.contains("stale element") && tries < 5 => tries += 1,
                r => return r,
            }
        }
    }

    /// Run `script` (a function body; `arguments` holds `args`) and return its result.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> WdResult<Value> {
        self.cmd("POST", "/execute/sync", Some(json!({ "script": script, "args": args }))).await
    }

    /// Resize the browser window.
    pub async fn set_window_size(&self, width: u32, height: u32) -> WdResult<()> {
        self.cmd("POST", "/window/rect", Some(json!({ "width": width, "height": height }))).await.map(drop)
    }

    /// A PNG screenshot of the viewport, written to `path` (directories made).
    pub async fn screenshot(&self, path: &Path) -> WdResult<()> {
        use base64::Engine as _;
        let v = self.cmd("GET", "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| WdError(format!("screenshot: {e}")))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| WdError(format!("{}: {e}", dir.display())))?;
        }
        std::fs::write(path, png).map_err(|e| WdError(format!("{}: {e}", path.display())))
    }

    /// End the session (the drop kills chromedriver either way).
    pub async fn quit(mut self) {
        if !self.session.is_empty() {
            let _ = self.cmd("DELETE", "", None).await;
            self.session.clear();
        }
        self.kill();
    }

    /// End the session with a blocking request (from `Drop`, where nothing can be awaited),
    /// so Chromium closes, then stop chromedriver by its PID.
    fn kill(&mut self) {
        if !self.session.is_empty() {
            let session = std::mem::take(&mut self.session);
            let addr = self.base.trim_start_matches("http://").to_owned();
            if let Ok(mut conn) = std::net::TcpStream::connect(&addr) {
                use std::io::{Read, Write};
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let req = format!(
                    "DELETE /session/{session} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let mut sink = Vec::new();
                let _ = conn.write_all(req.as_bytes()).and_then(|()| conn.read_to_end(&mut sink));
            }
        }
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling our own child process by its PID.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill();
    }
}

fn element_of(v: &Value) -> Option<Element> {
    v.get(ELEMENT_KEY).and_then(Value::as_str).map(|s| Element(s.to_owned()))
}
