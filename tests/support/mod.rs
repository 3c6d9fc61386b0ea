//! Helpers shared by the integration tests.
#![allow(dead_code)] // not every helper is used by every build of the test binary

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub mod fake_alpaca;
pub mod redis;
pub mod webdriver;

/// Path of the `runner` binary under test.
pub fn runner_bin() -> &'static str {
    env!("CARGO_BIN_EXE_runner")
}

/// The repository root (where Cargo.toml lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The journal file this test process's runs write to (in the system temp dir).
pub fn test_journal() -> PathBuf {
    std::env::temp_dir().join(format!("runner-tests-{}", std::process::id())).join("journal.db")
}

/// The account-lock directory of the test running on this thread. Account locks are
/// host-wide (`RUNNER_LOCK_DIR`, else `/run/lock/runner`), so tests that run the same
/// recipe at the same time would exclude each other: every test thread gets its own lock
/// directory, shared by all the `runner` processes that one test starts.
pub fn test_lock_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static DIR: PathBuf = std::env::temp_dir()
            .join(format!("runner-tests-{}", std::process::id()))
            .join(format!("locks-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    }
    DIR.with(Clone::clone)
}

/// A copy of `recipes/NAME.yaml` in `dir`, its data path made absolute, with each `(from, to)`
/// text replaced (each must be there); returns the copy's path.
pub fn recipe_variant(dir: &Path, name: &str, edits: &[(&str, &str)]) -> String {
    let data = repo_root().join("data");
    let mut text = std::fs::read_to_string(repo_root().join("recipes").join(format!("{name}.yaml")))
        .expect("recipe")
        .replace("../data", &data.display().to_string());
    for (from, to) in edits {
        assert!(text.contains(from), "{from} is not in {name}.yaml");
        text = text.replace(from, to);
    }
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).expect("write the recipe");
    path.display().to_string()
}

/// `runner` as the tests start it: in the repository root, logging quiet, journaling into the
/// per-test-process journal and locking in this test's lock directory (a test's own
/// `--journal`, `RUNNER_JOURNAL` or `RUNNER_LOCK_DIR` still wins).
pub fn runner_command() -> Command {
    let mut cmd = Command::new(runner_bin());
    cmd.current_dir(repo_root())
        .env_remove("RUST_LOG")
        .env("RUNNER_JOURNAL", test_journal())
        .env("RUNNER_LOCK_DIR", test_lock_dir());
    cmd
}

/// A `runner` invocation being built, just-style.
pub struct Run {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

/// What a finished run printed and how it exited.
#[derive(Debug)]
pub struct Finished {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output as text.
    pub stdout: String,
    /// Standard error as text.
    pub stderr: String,
}

impl Run {
    /// `runner ARGS...` in the repository root, with logging quiet by default.
    pub fn new<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = runner_command();
        cmd.args(args);
        Self { cmd, stdin: None }
    }

    /// Append one argument.
    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.arg(a);
        self
    }

    /// Append arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Run in this directory instead of the repository root.
    pub fn dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Set an environment variable.
    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// Remove an environment variable.
    pub fn env_remove(mut self, k: &str) -> Self {
        self.cmd.env_remove(k);
        self
    }

    /// Feed this to standard input.
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// Run to completion.
    pub fn run(mut self) -> Finished {
        use std::io::Write;
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.cmd.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = self.cmd.spawn().expect("spawn runner");
        if let Some(data) = self.stdin.take() {
            let mut stdin = child.stdin.take().expect("stdin");
            std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            });
        }
        let Output { status, stdout, stderr } = child.wait_with_output().expect("wait runner");
        Finished {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

impl Finished {
    /// Assert exit code 0 and return self.
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(self.code, 0, "expected success\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// Assert this exit code and return self.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A `sh -c` script that runs `command` on a pseudo-terminal (util-linux `script`, which writes
/// what the terminal shows to `./typescript`) and types into it what the shell snippet `feed`
/// prints to fd 3. `feed` may call `w TEXT` to wait (at most ~60 s) until TEXT is on screen.
/// The terminal's input is a FIFO (`./pty-input`) held open until `script` exits: at the end of
/// its input `script` may hang up a child that has not finished yet, which would be a race, not
/// a result. Run it in a scratch directory; it exits with `script`'s (the command's) status.
pub fn pty_script(command: &str, feed: &str) -> String {
    let wait = "w() { i=0; while [ $i -lt 600 ] && ! grep -q -e \"$1\" typescript 2>/dev/null; do sleep 0.1; i=$((i+1)); done; };";
    format!(
        "{wait} mkfifo pty-input; script -qfec '{command}' typescript < pty-input & pid=$!; exec 3>pty-input; {feed}; wait $pid; rc=$?; exec 3>&-; exit $rc"
    )
}

/// An RFC 3339 time (`2013-10-07T09:31:00-04:00`) as a [`runner::model::Timestamp`].
pub fn ts(s: &str) -> runner::model::Timestamp {
    runner::model::Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(s).expect("RFC 3339 time"))
}

/// A trade of the traded symbol (`SymbolId(0)`) at time `t` and price `p`.
pub fn trade_input(t: &str, p: &str, size: rust_decimal::Decimal) -> runner::market::event::MarketEvent {
    use runner::market::event::{MarketEvent, Trade};
    let price = p.parse().expect("decimal price");
    MarketEvent::Trade(Trade { symbol: runner::model::SymbolId(0), ts: ts(t), price, size })
}

/// The agent of `recipe` trading with `strategy` on the recipe's simulated venue (library
/// level: hand-made prints, no replay).
pub fn lockstep(
    recipe: &runner::recipe::Recipe,
    strategy: runner::strategy::AnyStrategy,
) -> runner::runtime::lockstep::Lockstep {
    use runner::engine::agent::Agent;
    let cfg = runner::runtime::build::agent_config(recipe).expect("agent config");
    let agent = Agent::new(cfg, runner::model::SymbolId(0), strategy);
    let venue = runner::venue::sim::SimVenue::new(runner::runtime::run::sim_config(recipe));
    runner::runtime::lockstep::Lockstep::new(agent, venue)
}
