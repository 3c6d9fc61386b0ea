//! A real `redis-server` for the tests: started on a free 127.0.0.1 port in a temp directory,
//! persistence off, stopped by PID when dropped. It never uses a Redis already running.
//! `redis-server` comes from `.ci/setup` (the Debian package).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    password: Option<String>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// A server without a password.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// A server that wants `password` (`--requirepass`).
    pub fn with_password(password: &str) -> Self {
        Self::launch(Some(password.to_owned()))
    }

    fn launch(password: Option<String>) -> Self {
        // A port the kernel just handed out, then freed: retried if someone takes it meanwhile.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir for redis-server");
            let port =
                TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
            let mut server = Self { child: None, port, password: password.clone(), dir };
            if server.spawn_child() {
                return server;
            }
        }
        panic!("redis-server did not start on a free 127.0.0.1 port");
    }

    /// Start the process on `self.port`; true once it answers PING.
    fn spawn_child(&mut self) -> bool {
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(self.dir.path())
        .arg("--logfile")
        .arg(self.log_path())
        .args(["--daemonize", "no", "--protected-mode", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if let Some(p) = &self.password {
            cmd.args(["--requirepass", p]);
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("redis-server is not installed: run .ci/setup")
            }
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None; // exited: the port was taken
                return false;
            }
            if self.answers_ping() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    /// Whether something answers `PING` on the port (`+PONG`, or `-NOAUTH` with a password).
    fn answers_ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).is_ok() && (line.starts_with('+') || line.starts_with('-'))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT` (no password in it).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A synchronous connection for the test's own commands (authenticated when needed).
    pub fn conn(&self) -> ::redis::Connection {
        let mut info = ::redis::IntoConnectionInfo::into_connection_info(self.url()).expect("url");
        if let Some(p) = &self.password {
            let settings = info.redis_settings().clone().set_password(p);
            info = info.set_redis_settings(settings);
        }
        ::redis::Client::open(info)
            .and_then(|c| c.get_connection())
            .expect("connect to the test redis-server")
    }

    /// Kill the server (SIGKILL, by PID), as a crash would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kill it and start it again on the same port (its data is gone: persistence is off).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.spawn_child() {
            assert!(Instant::now() < deadline, "redis-server did not come back on port {}", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
