//! Signals over a local unix socket: the SPY bot's pattern of length-prefixed JSON frames.
//!
//! A publisher connects to the socket (created `0600`, so only the runner's user can) and
//! sends frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON:
//!
//! ```json
//! {"ticker":"SPY","direction":"buy","strength":0.8,"id":"abc","ts":"2026-12-03T14:30:00Z"}
//! ```
//!
//! `direction` is `buy`/`sell` (or `b`/`s`, any case); `strength` is optional (a fraction 0–1 or
//! a percentage, see [`parse_strength`]); `id` is an optional string of at most
//! [`MAX_ID_CHARS`] characters (a signal without one cannot be recognised if sent again); `ts`
//! is the optional RFC 3339 time it was published (the receipt time when absent). Other keys
//! are ignored.
//!
//! Every frame is answered, in order, with a frame of the same shape whose JSON names what
//! became of it (`id` is echoed when the frame had a usable one):
//! `{"id":"abc","status":"accepted","orders":["…"]}`, `{"status":"refused","reason":"…"}`,
//! `{"status":"duplicate"}`, `{"status":"ignored","reason":"ticker NVDA is not this agent's"}`,
//! or `{"status":"error","reason":"…"}` for a frame that is not a signal.
//!
//! Which frames reach the agent: a signal goes to the agent's loop as an [`Inbound`], and its ack
//! waits for the loop's [`Verdict`] (given once the journal holds it). A frame with a usable
//! `id` whose signal is malformed (no ticker, unknown direction, bad strength or `ts`) also goes
//! to the loop, with its body an `Err`, so the refusal is journaled under its id; its ack is then
//! `refused`. Without an id, or when the frame is not a JSON object at all (bad UTF-8, bad JSON,
//! a bad `id`), the frame is answered with an `error` ack without involving the agent. An empty
//! frame is an `error` ack too. After any of these the connection stays open for the next frame.
//!
//! The connection is closed: after the `error` ack of a frame whose announced length is over
//! [`SocketConfig::max_frame_bytes`] (its bytes are neither read nor allocated); when the client
//! disconnects, also in the middle of a frame (nothing of that frame reaches the agent); after an
//! `error` ack when the agent stopped before answering. At most [`MAX_CLIENTS`] clients are
//! served at once: one more gets an `error` ack and is closed. When the agent's channel closes
//! the server stops, and dropping the [`SocketServer`] removes the socket file (if it is still
//! the one this server bound).

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;

use super::{Inbound, Side, SignalBody, SignalInput, Verdict, parse_strength, shown};
use crate::model::Timestamp;

/// The default largest frame, in bytes (64 KiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024;
/// How many clients are served at once.
pub const MAX_CLIENTS: usize = 64;
/// The longest `id`, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// The longest socket path, in bytes (`sun_path` holds 108 with its terminating NUL).
const MAX_PATH_BYTES: usize = 107;
/// The longest ticker, in bytes.
const MAX_TICKER_BYTES: usize = 32;

/// Where to listen.
#[derive(Debug, Clone)]
pub struct SocketConfig {
    /// The socket's path (created 0600, removed on exit).
    pub path: PathBuf,
    /// The largest frame accepted, in bytes.
    pub max_frame_bytes: usize,
}

impl SocketConfig {
    /// At `path`, with the default frame limit ([`DEFAULT_MAX_FRAME_BYTES`]).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), max_frame_bytes: DEFAULT_MAX_FRAME_BYTES }
    }
}

/// A bound socket; dropping it removes the socket file.
#[derive(Debug)]
pub struct SocketServer {
    cfg: SocketConfig,
    /// Listening since `bind`; taken by `spawn`.
    listener: Option<std::os::unix::net::UnixListener>,
    /// The socket file's device and inode, so that drop removes only our own file.
    file: (u64, u64),
}

/// An `io::Error` whose message names the socket.
fn fail(kind: io::ErrorKind, path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(kind, format!("signal socket {}: {what}", path.display()))
}

impl SocketServer {
    /// Bind the socket at `cfg.path`, mode 0600 from the start: it is bound inside a fresh 0700
    /// directory beside the path, restricted, then linked into place (never replacing anything).
    /// A socket file left by a dead process (nobody accepts on it) is replaced; a live one is an
    /// "already in use" error, and any other file there is refused. The parent directory must
    /// exist. Needs no tokio runtime.
    pub fn bind(cfg: SocketConfig) -> io::Result<Self> {
        let path = cfg.path.clone();
        let len = path.as_os_str().len();
        if len > MAX_PATH_BYTES {
            return Err(fail(
                io::ErrorKind::InvalidInput,
                &path,
                format!("the path is {len} bytes; a unix socket path is at most {MAX_PATH_BYTES}"),
            ));
        }
        if path.file_name().is_none() {
            return Err(fail(io::ErrorKind::InvalidInput, &path, "not a file path"));
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        match fs::metadata(parent) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(fail(io::ErrorKind::NotADirectory, &path, "its parent is not a directory")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let why = format!("its directory {} does not exist", parent.display());
                return Err(fail(io::ErrorKind::NotFound, &path, why));
            }
            Err(e) => return Err(fail(e.kind(), &path, format!("its directory cannot be read: {e}"))),
        }
        remove_if_stale(&path)?;

        let tmp = tempfile::Builder::new()
            .prefix(".rsock")
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir_in(parent)
            .map_err(|e| fail(e.kind(), &path, format!("cannot make a private directory beside it: {e}")))?;
        let tmp_sock = tmp.path().join("s");
        let listener = std::os::unix::net::UnixListener::bind(&tmp_sock)
            .map_err(|e| fail(e.kind(), &path, format!("cannot bind: {e}")))?;
        fs::set_permissions(&tmp_sock, fs::Permissions::from_mode(0o600))
            .map_err(|e| fail(e.kind(), &path, format!("cannot restrict it to 0600: {e}")))?;
        match fs::hard_link(&tmp_sock, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(fail(
                    io::ErrorKind::AddrInUse,
                    &path,
                    "already in use (bound by another process meanwhile)",
                ));
            }
            // A file system without hard links: the path was free a moment ago.
            Err(_) => fs::rename(&tmp_sock, &path)
                .map_err(|e| fail(e.kind(), &path, format!("cannot move it into place: {e}")))?,
        }
        drop(tmp);
        let m = fs::symlink_metadata(&path).map_err(|e| fail(e.kind(), &path, e))?;
        listener.set_nonblocking(true).map_err(|e| fail(e.kind(), &path, e))?;
        tracing::debug!(path = %path.display(), "Signal socket bound.");
        Ok(Self { cfg, listener: Some(listener), file: (m.dev(), m.ino()) })
    }

    /// Serve clients in a task until `tx` closes; the socket file goes when the task ends.
    pub fn spawn(mut self, tx: mpsc::Sender<SignalInput>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let Some(std_listener) = self.listener.take() else { return };
            let listener = match tokio::net::UnixListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(path = %self.cfg.path.display(), "signal socket: cannot listen: {e}");
                    return;
                }
            };
            let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
            let mut clients = JoinSet::new();
            let max = self.cfg.max_frame_bytes;
            loop {
                tokio::select! {
                    () = tx.closed() => break,
                    Some(_) = clients.join_next(), if !clients.is_empty() => {}
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => match slots.clone().try_acquire_owned() {
                            Ok(slot) => {
                                clients.spawn(serve(stream, tx.clone(), max, slot));
                            }
                            Err(_) => {
                                tracing::warn!(
                                    path = %self.cfg.path.display(),
                                    "signal socket: a client turned away, {MAX_CLIENTS} already connected"
                                );
                                clients.spawn(turn_away(stream));
                            }
                        },
                        Err(e) => {
                            tracing::warn!(path = %self.cfg.path.display(), "signal socket: accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    },
                }
            }
            // Dropping `clients` ends every connection; dropping `self` removes the file.
            drop(clients);
            drop(listener);
            tracing::debug!(path = %self.cfg.path.display(), "Signal socket closed.");
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.cfg.path
    }
}

impl Drop for SocketServer {
    fn drop(&mut self) {
        if let Ok(m) = fs::symlink_metadata(&self.cfg.path)
            && (m.dev(), m.ino()) == self.file
        {
            let _ = fs::remove_file(&self.cfg.path);
        }
    }
}

/// Remove a socket file nobody accepts on; refuse a live socket or anything else.
fn remove_if_stale(path: &Path) -> io::Result<()> {
    let m = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(fail(e.kind(), path, e)),
    };
    if !m.file_type().is_socket() {
        return Err(fail(
            io::ErrorKind::AlreadyExists,
            path,
            "exists and is not a socket; refusing to replace it",
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => {
            Err(fail(io::ErrorKind::AddrInUse, path, "already in use (another process is listening on it)"))
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "Removing a stale signal socket (nobody listens on it).");
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(fail(e.kind(), path, e)),
                _ => Ok(()),
            }
        }
        Err(e) => Err(fail(e.kind(), path, format!("cannot tell whether it is in use: {e}"))),
    }
}

/// One frame as read off a connection.
#[derive(Debug)]
enum Frame {
    /// A frame's bytes.
    Data(Vec<u8>),
    /// A zero-length frame.
    Empty,
    /// A frame announced longer than the limit (not read).
    TooLong(usize),
    /// The connection ended (between frames or in the middle of one) or failed.
    Closed,
}

async fn read_frame(r: &mut (impl AsyncRead + Unpin), max: usize) -> Frame {
    let mut len = [0u8; 4];
    if r.read_exact(&mut len).await.is_err() {
        return Frame::Closed;
    }
    let n = u32::from_be_bytes(len) as usize;
    if n == 0 {
        return Frame::Empty;
    }
    if n > max {
        return Frame::TooLong(n);
    }
    let mut buf = vec![0u8; n];
    match r.read_exact(&mut buf).await {
        Ok(_) => Frame::Data(buf),
        Err(_) => Frame::Closed,
    }
}

/// Write one ack frame; false when the client is gone.
async fn write_ack(w: &mut (impl AsyncWrite + Unpin), ack: &Value) -> bool {
    let json = ack.to_string();
    let Ok(len) = u32::try_from(json.len()) else { return false };
    let mut out = Vec::with_capacity(4 + json.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(json.as_bytes());
    w.write_all(&out).await.is_ok()
}

/// Tell a client over the cap why, and close.
async fn turn_away(mut stream: UnixStream) {
    let ack = error_ack(None, &format!("too many clients ({MAX_CLIENTS} already connected)"));
    let _ = tokio::time::timeout(Duration::from_secs(1), write_ack(&mut stream, &ack)).await;
}

/// One client: frames in, acks out, in order.
async fn serve(
    mut stream: UnixStream,
    tx: mpsc::Sender<SignalInput>,
    max: usize,
    _slot: OwnedSemaphorePermit,
) {
    loop {
        let frame = tokio::select! {
            () = tx.closed() => return,
            frame = read_frame(&mut stream, max) => frame,
        };
        let bytes = match frame {
            Frame::Closed => return,
            Frame::Empty => {
                if !write_ack(&mut stream, &error_ack(None, "empty frame (length 0)")).await {
                    return;
                }
                continue;
            }
            Frame::TooLong(n) => {
                let why = format!("frame of {n} bytes is over the limit of {max} bytes; closing");
                write_ack(&mut stream, &error_ack(None, &why)).await;
                return;
            }
            Frame::Data(bytes) => bytes,
        };
        let (id, published, body) = match decode(&bytes, now()) {
            Decoded::Error { id, reason } => {
                tracing::debug!("signal socket: a frame refused: {reason}");
                if !write_ack(&mut stream, &error_ack(id.as_deref(), &reason)).await {
                    return;
                }
                continue;
            }
            Decoded::Signal { id, published, body } => (id, published, body),
        };
        let ticker = body.as_ref().ok().map(|b| b.ticker.clone());
        let (reply, answer) = oneshot::channel();
        let inbound = Inbound { id: id.clone(), published, body, reply };
        if tx.send(SignalInput::Signal(inbound)).await.is_err() {
            return;
        }
        let Ok(verdict) = answer.await else {
            write_ack(&mut stream, &error_ack(id.as_deref(), "the agent stopped before answering")).await;
            return;
        };
        if !write_ack(&mut stream, &verdict_ack(id.as_deref(), &verdict, ticker.as_deref())).await {
            return;
        }
    }
}

fn now() -> Timestamp {
    Timestamp::from_datetime(&chrono::Utc::now())
}

/// A frame read as a signal.
#[derive(Debug, PartialEq, Eq)]
enum Decoded {
    /// For the agent (a body `Err` only when the frame has an id to journal the refusal under).
    Signal { id: Option<String>, published: Timestamp, body: Result<SignalBody, String> },
    /// Answered with an `error` ack, without the agent.
    Error { id: Option<String>, reason: String },
}

/// Read a frame's bytes as a signal; `received` is the publication time when it has no `ts`.
fn decode(frame: &[u8], received: Timestamp) -> Decoded {
    let text = match std::str::from_utf8(frame) {
        Ok(t) => t,
        Err(e) => {
            let reason = format!("the frame is not UTF-8 (invalid byte at offset {})", e.valid_up_to());
            return Decoded::Error { id: None, reason };
        }
    };
    let obj = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => o,
        Ok(other) => {
            let reason = format!("the frame is JSON {}, expected an object", kind(&other));
            return Decoded::Error { id: None, reason };
        }
        Err(e) => return Decoded::Error { id: None, reason: format!("the frame is not JSON: {e}") },
    };
    let id = match obj.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Decoded::Error { id: None, reason: "`id` is empty".into() };
        }
        Some(Value::String(s)) if s.chars().count() > MAX_ID_CHARS => {
            let reason = format!("`id` is {} characters, at most {MAX_ID_CHARS}", s.chars().count());
            return Decoded::Error { id: None, reason };
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Decoded::Error {
                id: None,
                reason: format!("`id` is {}, expected a string", kind(other)),
            };
        }
    };
    let (published, body) = match published(&obj, received) {
        Ok(t) => (t, body(&obj)),
        Err(e) => (received, Err(e)),
    };
    match (id, body) {
        (None, Err(reason)) => Decoded::Error { id: None, reason },
        (id, body) => Decoded::Signal { id, published, body },
    }
}

/// The JSON kind of a value, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn published(obj: &Map<String, Value>, received: Timestamp) -> Result<Timestamp, String> {
    match obj.get("ts") {
        None | Some(Value::Null) => Ok(received),
        Some(Value::String(s)) => {
            chrono::DateTime::parse_from_rfc3339(s.trim()).map(|t| Timestamp::from_datetime(&t)).map_err(
                |_| format!("`ts` is {}, expected an RFC 3339 time like 2026-12-03T14:30:00Z", shown(s)),
            )
        }
        Some(other) => Err(format!("`ts` is {}, expected an RFC 3339 time string", kind(other))),
    }
}

fn body(obj: &Map<String, Value>) -> Result<SignalBody, String> {
    let ticker = match obj.get("ticker") {
        None | Some(Value::Null) => return Err("no `ticker`".into()),
        Some(Value::String(s)) => s.trim(),
        Some(other) => return Err(format!("`ticker` is {}, expected a string", kind(other))),
    };
    if ticker.is_empty() || ticker.len() > MAX_TICKER_BYTES {
        return Err(format!("`ticker` {} is not a ticker", shown(ticker)));
    }
    let side = match obj.get("direction") {
        None | Some(Value::Null) => return Err("no `direction`".into()),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "buy" | "b" => Side::Buy,
            "sell" | "s" => Side::Sell,
            _ => return Err(format!("`direction` is {}, expected `buy` or `sell` (or `b`, `s`)", shown(s))),
        },
        Some(other) => return Err(format!("`direction` is {}, expected `buy` or `sell`", kind(other))),
    };
    let strength = match obj.get("strength") {
        None | Some(Value::Null) => Some(100),
        Some(Value::Number(n)) => parse_strength(&n.to_string()),
        Some(Value::String(s)) => parse_strength(s),
        Some(_) => None,
    }
    .ok_or_else(|| {
        let v = obj.get("strength").map(Value::to_string).unwrap_or_default();
        format!("`strength` is {}, expected a fraction 0–1 or a percentage 0–100", shown(&v))
    })?;
    Ok(SignalBody { ticker: ticker.to_owned(), side, strength })
}

/// An ack's common start: the id when there is one, then the status.
fn ack(id: Option<&str>, status: &str) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(id) = id {
        m.insert("id".into(), Value::from(id));
    }
    m.insert("status".into(), Value::from(status));
    m
}

/// The ack of a frame that is not a signal.
fn error_ack(id: Option<&str>, reason: &str) -> Value {
    let mut m = ack(id, "error");
    m.insert("reason".into(), Value::from(reason));
    Value::Object(m)
}

/// The ack of the agent's verdict on a signal (for `ticker`, when it read as one).
fn verdict_ack(id: Option<&str>, verdict: &Verdict, ticker: Option<&str>) -> Value {
    let mut m = ack(id, verdict.status());
    match verdict {
        Verdict::Accepted { orders } => {
            m.insert("orders".into(), orders.iter().map(|o| Value::from(o.as_str())).collect());
        }
        Verdict::Refused(reason) => {
            m.insert("reason".into(), Value::from(reason.as_str()));
        }
        Verdict::Duplicate => {}
        Verdict::OtherTicker => {
            let reason = match ticker {
                Some(t) => format!("ticker {t} is not this agent's"),
                None => "the ticker is not this agent's".to_owned(),
            };
            m.insert("reason".into(), Value::from(reason));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Timestamp = Timestamp(1_700_000_000_000_000_000);

    fn signal(frame: &str) -> (Option<String>, Timestamp, Result<SignalBody, String>) {
        match decode(frame.as_bytes(), AT) {
            Decoded::Signal { id, published, body } => (id, published, body),
            Decoded::Error { reason, .. } => panic!("{frame}: an error ack: {reason}"),
        }
    }

    fn error(frame: &[u8]) -> String {
        match decode(frame, AT) {
            Decoded::Error { reason, .. } => reason,
            other => panic!("{}: {other:?}", String::from_utf8_lossy(frame)),
        }
    }

    #[test]
    fn a_full_frame_reads_as_a_signal() {
        let (id, published, body) = signal(
            r#"{"ticker":"SPY","direction":"buy","strength":0.8,"id":"abc","ts":"2026-12-03T14:30:00Z"}"#,
        );
        assert_eq!(id.as_deref(), Some("abc"));
        let ts = chrono::DateTime::parse_from_rfc3339("2026-12-03T14:30:00Z").unwrap();
        assert_eq!(published, Timestamp::from_datetime(&ts));
        assert_eq!(body, Ok(SignalBody { ticker: "SPY".into(), side: Side::Buy, strength: 80 }));
    }

    #[test]
    fn optional_fields_default() {
        let (id, published, body) = signal(r#"{"ticker":" nvda ","direction":"S","extra":[1,2]}"#);
        assert_eq!((id, published), (None, AT));
        assert_eq!(body, Ok(SignalBody { ticker: "nvda".into(), side: Side::Sell, strength: 100 }));
        let (id, _, _) = signal(r#"{"ticker":"SPY","direction":"b","id":null,"ts":null,"strength":null}"#);
        assert_eq!(id, None);
    }

    #[test]
    fn directions_and_strengths() {
        for (d, side) in [
            ("buy", Side::Buy),
            ("BUY", Side::Buy),
            ("b", Side::Buy),
            ("Sell", Side::Sell),
            ("s", Side::Sell),
        ] {
            let (_, _, body) = signal(&format!(r#"{{"ticker":"SPY","direction":"{d}"}}"#));
            assert_eq!(body.unwrap().side, side, "{d}");
        }
        for (s, pct) in [("0.8", 80), ("1", 100), ("0", 0), ("65", 65), (r#""40%""#, 40), (r#""0.25""#, 25)] {
            let (_, _, body) = signal(&format!(r#"{{"ticker":"SPY","direction":"b","strength":{s}}}"#));
            assert_eq!(body.unwrap().strength, pct, "{s}");
        }
    }

    #[test]
    fn a_bad_signal_with_an_id_goes_to_the_agent_as_a_refusal() {
        let cases = [
            (r#"{"id":"x","direction":"buy"}"#, "no `ticker`"),
            (r#"{"id":"x","ticker":"SPY"}"#, "no `direction`"),
            (r#"{"id":"x","ticker":"SPY","direction":"hold"}"#, "`direction` is `hold`"),
            (r#"{"id":"x","ticker":"SPY","direction":"b","strength":150}"#, "`strength` is `150`"),
            (r#"{"id":"x","ticker":"SPY","direction":"b","strength":true}"#, "`strength` is `true`"),
            (r#"{"id":"x","ticker":7,"direction":"b"}"#, "`ticker` is a number"),
            (r#"{"id":"x","ticker":"","direction":"b"}"#, "is not a ticker"),
            (r#"{"id":"x","ticker":"SPY","direction":"b","ts":"yesterday"}"#, "`ts` is `yesterday`"),
        ];
        for (frame, want) in cases {
            let (id, published, body) = signal(frame);
            assert_eq!((id.as_deref(), published), (Some("x"), AT), "{frame}");
            let e = body.unwrap_err();
            assert!(e.contains(want), "{frame}: {e}");
        }
    }

    #[test]
    fn a_bad_signal_without_an_id_is_an_error_ack() {
        assert_eq!(error(br#"{"direction":"buy"}"#), "no `ticker`");
        assert!(error(br#"{"ticker":"SPY","direction":"hold"}"#).contains("expected `buy` or `sell`"));
    }

    #[test]
    fn frames_that_are_not_signals() {
        assert!(error(b"\xff\xfe{}").contains("not UTF-8"));
        assert!(error(b"{\"ticker\":").contains("not JSON"));
        assert!(error(b"[1,2]").contains("JSON an array, expected an object"));
        assert!(error(b"\"SPY buy\"").contains("expected an object"));
        assert!(error(br#"{"id":42,"ticker":"SPY","direction":"b"}"#).contains("`id` is a number"));
        assert!(error(br#"{"id":" ","ticker":"SPY","direction":"b"}"#).contains("`id` is empty"));
        let long = format!(r#"{{"id":"{}","ticker":"SPY","direction":"b"}}"#, "x".repeat(129));
        assert!(error(long.as_bytes()).contains("`id` is 129 characters, at most 128"));
        let ok = format!(r#"{{"id":"{}","ticker":"SPY","direction":"b"}}"#, "é".repeat(128));
        assert_eq!(signal(&ok).0.map(|s| s.chars().count()), Some(128));
    }

    #[test]
    fn errors_never_echo_a_long_value() {
        let long = "z".repeat(500);
        let e = error(format!(r#"{{"ticker":"SPY","direction":"{long}"}}"#).as_bytes());
        assert!(e.len() < 120 && e.contains('…'), "{e}");
        let (_, _, body) = signal(&format!(r#"{{"id":"i","ticker":"SPY","direction":"b","ts":"{long}"}}"#));
        let e = body.unwrap_err();
        assert!(e.len() < 120 && e.contains('…'), "{e}");
    }

    #[test]
    fn acks_name_the_verdict() {
        let accepted =
            verdict_ack(Some("abc"), &Verdict::Accepted { orders: vec!["o1".into()] }, Some("SPY"));
        assert_eq!(accepted.to_string(), r#"{"id":"abc","status":"accepted","orders":["o1"]}"#);
        let refused = verdict_ack(None, &Verdict::Refused("stale".into()), Some("SPY"));
        assert_eq!(refused.to_string(), r#"{"status":"refused","reason":"stale"}"#);
        assert_eq!(verdict_ack(None, &Verdict::Duplicate, None).to_string(), r#"{"status":"duplicate"}"#);
        let other = verdict_ack(None, &Verdict::OtherTicker, Some("NVDA"));
        assert_eq!(other.to_string(), r#"{"status":"ignored","reason":"ticker NVDA is not this agent's"}"#);
        assert_eq!(error_ack(None, "bad").to_string(), r#"{"status":"error","reason":"bad"}"#);
    }

    #[tokio::test]
    async fn frames_are_read_by_their_length() {
        let mut input: &[u8] = &[0, 0, 0, 2, b'{', b'}', 0, 0, 0, 0, 0, 0, 0, 9, 1, 2];
        assert!(matches!(read_frame(&mut input, 8).await, Frame::Data(b) if b == b"{}"));
        assert!(matches!(read_frame(&mut input, 8).await, Frame::Empty));
        assert!(matches!(read_frame(&mut input, 8).await, Frame::TooLong(9)));
        let mut half: &[u8] = &[0, 0, 0, 5, b'{'];
        assert!(matches!(read_frame(&mut half, 8).await, Frame::Closed));
        let mut half_header: &[u8] = &[0, 0];
        assert!(matches!(read_frame(&mut half_header, 8).await, Frame::Closed));
    }
}
