//! Signals from a Redis stream, read with a consumer group.
//!
//! [`spawn`] starts a task that, for one stream, group and consumer:
//! 1. connects (`redis://` or `rediss://`; the password comes from the recipe's secret and is
//!    never logged nor put in an error) and creates the group (`XGROUP CREATE … $ MKSTREAM`; an
//!    existing group is fine, and keeps its position);
//! 2. re-reads this consumer's own pending entries (`XREADGROUP … 0`: read before, never
//!    acknowledged), then claims the entries other consumers of the group left pending for at
//!    least `claim_idle` (`XAUTOCLAIM`: a crashed predecessor's);
//! 3. reads new entries (`XREADGROUP … COUNT n BLOCK ms … >`), claiming again now and then.
//!
//! Each entry becomes an [`Inbound`] (id = the entry id, published = the id's millisecond time,
//! body = the entry's fields read through the recipe's [`FieldMap`]). Entries are handed over
//! one at a time, in order: the task waits for the loop's [`Verdict`](super::Verdict) and only
//! then acknowledges the entry (`XACK`), whatever the verdict. A reply that never comes (the
//! loop dropped it: it stopped) leaves the entry pending and ends the task, so the next start
//! reads it again. Memory stays bounded however long the stream: at most one `COUNT` batch is
//! held.
//!
//! A lost connection is reported once as `Link::Signals` down, retried with a capped, jittered
//! [`Backoff`], and reported up again once the group is back; reading then resumes with the
//! pending entries first, so nothing read but not acknowledged is lost. When the server comes
//! back without the group (it lost its data, e.g. a restart without persistence), the group is
//! created again from the start of the stream, since every entry in it is then newer than the
//! last one read. The task ends when the loop closes its channel.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, IntoConnectionInfo, Value};
use secrecy::ExposeSecret;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{Backoff, FieldMap, Inbound, SignalBody, SignalInput};
use crate::model::Timestamp;
use crate::model::account::{Connectivity, Link};

/// Where and how to read a stream.
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` URL, without a password (that comes from the vault).
    pub url: String,
    /// The password, from the recipe's secret.
    pub password: Option<secrecy::SecretString>,
    /// The stream key, e.g. `nvda`.
    pub stream: String,
    /// The consumer group.
    pub group: String,
    /// This consumer's name in the group.
    pub consumer: String,
    /// Which fields carry what.
    pub fields: FieldMap,
    /// Entries pending this long with another consumer are claimed (`XAUTOCLAIM`).
    pub claim_idle: Duration,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("stream", &self.stream)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("fields", &self.fields)
            .field("claim_idle", &self.claim_idle)
            .finish()
    }
}

/// How the reader paces itself; [`Default`] suits live use.
#[derive(Debug, Clone)]
pub struct RedisTuning {
    /// Entries per read (`COUNT`): at most this many are held at once.
    pub batch: usize,
    /// How long one read waits for new entries (`BLOCK`).
    pub block: Duration,
    /// How often the group's idle pending entries are claimed again (`XAUTOCLAIM`); `None`:
    /// half of `claim_idle`, between 1 s and 60 s.
    pub claim_every: Option<Duration>,
    /// The first reconnect wait; it doubles up to `backoff_cap`.
    pub backoff_first: Duration,
    /// The longest reconnect wait.
    pub backoff_cap: Duration,
    /// How long connecting may take.
    pub connect_timeout: Duration,
}

impl Default for RedisTuning {
    fn default() -> Self {
        Self {
            batch: 100,
            block: Duration::from_secs(2),
            claim_every: None,
            backoff_first: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// Read the stream in a task until `tx` closes.
pub fn spawn(cfg: RedisConfig, tx: mpsc::Sender<SignalInput>) -> tokio::task::JoinHandle<()> {
    spawn_with(cfg, RedisTuning::default(), tx)
}

/// [`spawn`] with explicit pacing.
pub fn spawn_with(
    cfg: RedisConfig,
    tuning: RedisTuning,
    tx: mpsc::Sender<SignalInput>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(cfg, tuning, tx))
}

/// How a session ended without a Redis error.
enum End {
    /// The loop closed the channel.
    Closed,
    /// The loop dropped a reply: it stopped; the entry stays pending.
    ReplyDropped,
}

async fn run(cfg: RedisConfig, tuning: RedisTuning, tx: mpsc::Sender<SignalInput>) {
    let client = match client(&cfg.url, cfg.password.as_ref().map(|p| p.expose_secret())) {
        Ok(c) => c,
        Err(reason) => {
            tracing::error!(stream = %cfg.stream, "redis signal source unusable: {reason}");
            let _ = tx.send(link_down(reason)).await;
            tx.closed().await;
            return;
        }
    };
    tracing::info!(url = %redact_url(&cfg.url), stream = %cfg.stream, group = %cfg.group,
        consumer = %cfg.consumer, "reading signals from a Redis stream");
    let mut backoff = Backoff::new(tuning.backoff_first, tuning.backoff_cap);
    let mut reader = Reader { cfg: &cfg, tuning: &tuning, tx: &tx, down: false, started: false };
    loop {
        let reason = match reader.session(&client, &mut backoff).await {
            Ok(End::Closed) => return,
            Ok(End::ReplyDropped) => {
                tracing::debug!(stream = %cfg.stream, "signal reply dropped: the entry stays pending");
                return;
            }
            Err(e) => scrub(&describe(&e), &cfg),
        };
        if !reader.down {
            tracing::warn!(stream = %cfg.stream, "redis signal source down: {reason}");
            reader.down = true;
            if tx.send(link_down(reason)).await.is_err() {
                return;
            }
        } else {
            tracing::debug!(stream = %cfg.stream, "redis signal source still down: {reason}");
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(backoff.next_wait()) => {}
        }
    }
}

/// One connection's worth of reading.
struct Reader<'a> {
    cfg: &'a RedisConfig,
    tuning: &'a RedisTuning,
    tx: &'a mpsc::Sender<SignalInput>,
    /// A `Down` was sent and no `Up` since.
    down: bool,
    /// The group was made (or found) once: a group missing later is made from the stream's start.
    started: bool,
}

impl Reader<'_> {
    async fn session(&mut self, client: &Client, backoff: &mut Backoff) -> redis::RedisResult<End> {
        let (cfg, tuning) = (self.cfg, self.tuning);
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(tuning.connect_timeout))
            .set_response_timeout(Some(tuning.block + Duration::from_secs(5)));
        let mut con = client.get_multiplexed_async_connection_with_config(&config).await?;
        let from = if self.started { "0" } else { "$" };
        let created: redis::RedisResult<Value> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&cfg.stream)
            .arg(&cfg.group)
            .arg(from)
            .arg("MKSTREAM")
            .query_async(&mut con)
            .await;
        match created {
            Ok(_) => {
                if self.started {
                    tracing::warn!(stream = %cfg.stream, group = %cfg.group,
                        "the consumer group was gone (the server lost its data?): made again from the stream's start");
                }
            }
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(e),
        }
        self.started = true;
        backoff.reset();
        if self.down {
            self.down = false;
            tracing::info!(stream = %cfg.stream, "redis signal source up again");
            if self
                .tx
                .send(SignalInput::Link(Connectivity::Up { link: Link::Signals, ts: now() }))
                .await
                .is_err()
            {
                return Ok(End::Closed);
            }
        }

        // This consumer's own pending entries first: read before and never acknowledged.
        let mut last = "0".to_owned();
        loop {
            let reply: Value = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(&cfg.group)
                .arg(&cfg.consumer)
                .arg("COUNT")
                .arg(tuning.batch)
                .arg("STREAMS")
                .arg(&cfg.stream)
                .arg(&last)
                .query_async(&mut con)
                .await?;
            let entries = read_reply_entries(reply)?;
            let Some(tail) = entries.last() else { break };
            last = tail.id.clone();
            if let Some(end) = self.deliver_all(&mut con, entries).await? {
                return Ok(end);
            }
        }

        let claim_every = tuning
            .claim_every
            .unwrap_or_else(|| (cfg.claim_idle / 2).clamp(Duration::from_secs(1), Duration::from_secs(60)));
        let mut next_claim = Instant::now();
        loop {
            if Instant::now() >= next_claim {
                if let Some(end) = self.claim(&mut con).await? {
                    return Ok(end);
                }
                next_claim = Instant::now() + claim_every;
            }
            let block = tuning
                .block
                .min(next_claim.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1));
            let mut read = redis::cmd("XREADGROUP");
            read.arg("GROUP")
                .arg(&cfg.group)
                .arg(&cfg.consumer)
                .arg("COUNT")
                .arg(tuning.batch)
                .arg("BLOCK")
                .arg(u64::try_from(block.as_millis()).unwrap_or(u64::MAX))
                .arg("STREAMS")
                .arg(&cfg.stream)
                .arg(">");
            let reply = tokio::select! {
                _ = self.tx.closed() => return Ok(End::Closed),
                r = read.query_async::<Value>(&mut con) => r?,
            };
            let entries = read_reply_entries(reply)?;
            if let Some(end) = self.deliver_all(&mut con, entries).await? {
                return Ok(end);
            }
        }
    }

    /// Claim every entry of the group idle at least `claim_idle`, and deliver it.
    async fn claim(&self, con: &mut MultiplexedConnection) -> redis::RedisResult<Option<End>> {
        let cfg = self.cfg;
        let mut cursor = "0-0".to_owned();
        loop {
            let reply: Value = redis::cmd("XAUTOCLAIM")
                .arg(&cfg.stream)
                .arg(&cfg.group)
                .arg(&cfg.consumer)
                .arg(u64::try_from(cfg.claim_idle.as_millis()).unwrap_or(u64::MAX))
                .arg(&cursor)
                .arg("COUNT")
                .arg(self.tuning.batch)
                .query_async(con)
                .await?;
            let (next, entries) = autoclaim_reply(reply)?;
            if !entries.is_empty() {
                tracing::info!(stream = %cfg.stream, claimed = entries.len(),
                    "claimed entries another consumer left pending");
            }
            if let Some(end) = self.deliver_all(con, entries).await? {
                return Ok(Some(end));
            }
            if next == "0-0" {
                return Ok(None);
            }
            cursor = next;
        }
    }

    /// Hand each entry to the loop in order, acknowledging each once answered.
    async fn deliver_all(
        &self,
        con: &mut MultiplexedConnection,
        entries: Vec<Entry>,
    ) -> redis::RedisResult<Option<End>> {
        let cfg = self.cfg;
        for entry in entries {
            let Some(fields) = entry.fields else {
                // Deleted from the stream while pending: nothing to deliver.
                tracing::warn!(stream = %cfg.stream, id = %entry.id, "a pending entry was deleted from the stream");
                self.ack(con, &entry.id).await?;
                continue;
            };
            let (reply, answer) = oneshot::channel();
            let inbound = Inbound {
                published: entry_time(&entry.id).unwrap_or_else(now),
                body: entry_body(&cfg.fields, &fields),
                id: Some(entry.id.clone()),
                reply,
            };
            if self.tx.send(SignalInput::Signal(inbound)).await.is_err() {
                return Ok(Some(End::Closed));
            }
            match answer.await {
                Ok(verdict) => {
                    tracing::debug!(stream = %cfg.stream, id = %entry.id, verdict = verdict.status(), "signal answered");
                    self.ack(con, &entry.id).await?;
                }
                Err(_) => return Ok(Some(End::ReplyDropped)),
            }
        }
        Ok(None)
    }

    async fn ack(&self, con: &mut MultiplexedConnection, id: &str) -> redis::RedisResult<()> {
        let _: Value =
            redis::cmd("XACK").arg(&self.cfg.stream).arg(&self.cfg.group).arg(id).query_async(con).await?;
        Ok(())
    }
}

/// A stream entry as read: its id and its field/value pairs (`None`: deleted while pending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `1733212345678-0`.
    pub id: String,
    /// Field/value pairs in stream order, as bytes.
    pub fields: Option<Vec<(Vec<u8>, Vec<u8>)>>,
}

/// A Redis client for `url` with `password` (which wins over one in the URL). The error never
/// shows the URL's password.
pub fn client(url: &str, password: Option<&str>) -> Result<Client, String> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("redis" | "rediss") => {}
        _ => return Err(format!("`{}` is not a redis:// or rediss:// URL", redact_url(url))),
    }
    if scheme.as_deref() == Some("rediss") {
        crate::venue::tls::install();
    }
    let info = url
        .into_connection_info()
        .map_err(|e| format!("cannot use the Redis URL `{}`: {}", redact_url(url), e.category()))?;
    let info = match password {
        Some(p) => {
            let settings = info.redis_settings().clone().set_password(p);
            info.set_redis_settings(settings)
        }
        None => info,
    };
    Client::open(info)
        .map_err(|e| format!("cannot use the Redis URL `{}`: {}", redact_url(url), e.category()))
}

/// The URL with any password in it replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            // `user:password@`; a lone `user@` is a user name.
            let shown = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => userinfo.to_owned(),
            };
            format!("{scheme}://{shown}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// A Redis error as one line for a `Down` reason or a log.
pub(super) fn describe(e: &redis::RedisError) -> String {
    match e.kind() {
        redis::ErrorKind::AuthenticationFailed => {
            "authentication failed: wrong password (or user)".to_owned()
        }
        _ if e.code() == Some("WRONGPASS") => "authentication failed: wrong password (or user)".to_owned(),
        _ if e.code() == Some("NOAUTH") => "authentication required: the server wants a password".to_owned(),
        _ => e.to_string(),
    }
}

/// `msg` with the URL's password, if any, cut out (belt and braces: Redis errors do not echo it).
fn scrub(msg: &str, cfg: &RedisConfig) -> String {
    let mut out = msg.replace(&cfg.url, &redact_url(&cfg.url));
    if let Some(p) = cfg.password.as_ref().map(|p| p.expose_secret()).filter(|p| p.len() >= 3) {
        out = out.replace(p, "***");
    }
    out
}

fn now() -> Timestamp {
    Timestamp::from_datetime(&chrono::Utc::now())
}

fn link_down(reason: String) -> SignalInput {
    SignalInput::Link(Connectivity::Down { link: Link::Signals, ts: now(), reason })
}

/// When an entry was added: its id's millisecond part.
pub fn entry_time(id: &str) -> Option<Timestamp> {
    let ms: i64 = id.split_once('-').map_or(id, |(ms, _)| ms).parse().ok()?;
    ms.checked_mul(1_000_000).map(Timestamp)
}

/// An entry's fields read as a signal: a mapped field whose value is not UTF-8 is an error
/// naming the field; other fields that are not text are ignored.
pub fn entry_body(map: &FieldMap, fields: &[(Vec<u8>, Vec<u8>)]) -> Result<SignalBody, String> {
    let mut pairs = Vec::with_capacity(fields.len());
    for (k, v) in fields {
        let Ok(k) = std::str::from_utf8(k) else { continue };
        match std::str::from_utf8(v) {
            Ok(v) => pairs.push((k, v)),
            Err(_) if k == map.ticker || k == map.direction || map.strength.as_deref() == Some(k) => {
                return Err(format!("`{k}` is not UTF-8 text"));
            }
            Err(_) => {}
        }
    }
    map.parse(pairs)
}

fn unexpected(what: &str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "unexpected reply", what.to_owned()))
}

fn text(v: Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

/// Entries from an array of `[id, [field, value, …]]` (an `XRANGE` reply).
pub fn read_entries(v: Value) -> redis::RedisResult<Vec<Entry>> {
    let items = match v {
        Value::Array(items) | Value::Set(items) => items,
        Value::Nil => return Ok(Vec::new()),
        _ => return Err(unexpected("stream entries are not an array")),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(parts) = item else { return Err(unexpected("a stream entry is not an array")) };
        let mut parts = parts.into_iter();
        let id = parts.next().and_then(text).ok_or_else(|| unexpected("a stream entry has no id"))?;
        let fields = match parts.next() {
            None | Some(Value::Nil) => None,
            Some(Value::Array(kv)) => {
                let mut pairs = Vec::with_capacity(kv.len() / 2);
                let mut kv = kv.into_iter();
                while let (Some(k), Some(v)) = (kv.next(), kv.next()) {
                    pairs.push((bytes(k).unwrap_or_default(), bytes(v).unwrap_or_default()));
                }
                Some(pairs)
            }
            Some(Value::Map(kv)) => Some(
                kv.into_iter()
                    .map(|(k, v)| (bytes(k).unwrap_or_default(), bytes(v).unwrap_or_default()))
                    .collect(),
            ),
            Some(_) => return Err(unexpected("a stream entry's fields are not an array")),
        };
        out.push(Entry { id, fields });
    }
    Ok(out)
}

/// The entries of the one stream in an `XREADGROUP` reply (nil when a block timed out).
fn read_reply_entries(v: Value) -> redis::RedisResult<Vec<Entry>> {
    let streams: Vec<(Value, Value)> = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|s| match s {
                Value::Array(kv) => {
                    let mut kv = kv.into_iter();
                    Ok((kv.next().unwrap_or_default(), kv.next().unwrap_or_default()))
                }
                _ => Err(unexpected("a stream of XREADGROUP is not an array")),
            })
            .collect::<Result<_, _>>()?,
        Value::Map(kv) => kv,
        _ => return Err(unexpected("XREADGROUP reply")),
    };
    let mut out = Vec::new();
    for (_name, entries) in streams {
        out.extend(read_entries(entries)?);
    }
    Ok(out)
}

/// `XAUTOCLAIM`'s next cursor and claimed entries.
fn autoclaim_reply(v: Value) -> redis::RedisResult<(String, Vec<Entry>)> {
    let Value::Array(parts) = v else { return Err(unexpected("XAUTOCLAIM reply")) };
    let mut parts = parts.into_iter();
    let cursor = parts.next().and_then(text).ok_or_else(|| unexpected("XAUTOCLAIM cursor"))?;
    let entries = read_entries(parts.next().unwrap_or(Value::Nil))?;
    Ok((cursor, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> FieldMap {
        FieldMap {
            ticker: "Ticker".into(),
            direction: "Direction".into(),
            buy: "b".into(),
            sell: "s".into(),
            strength: None,
        }
    }

    #[test]
    fn passwords_never_shown() {
        assert_eq!(redact_url("redis://:hunter2@host:6379/0"), "redis://:***@host:6379/0");
        assert_eq!(redact_url("rediss://me:hunter2@host"), "rediss://me:***@host");
        assert_eq!(redact_url("redis://host:6379"), "redis://host:6379");
        let e = client("http://:hunter2@host", None).unwrap_err();
        assert!(!e.contains("hunter2") && e.contains("redis://"), "{e}");
    }

    #[test]
    fn entry_ids_give_the_publish_time() {
        assert_eq!(entry_time("1733212345678-3"), Some(Timestamp(1_733_212_345_678_000_000)));
        assert_eq!(entry_time("junk"), None);
    }

    #[test]
    fn non_utf8_values_are_errors_naming_the_field() {
        let f = vec![(b"Ticker".to_vec(), vec![0xff, 0xfe]), (b"Direction".to_vec(), b"b".to_vec())];
        assert_eq!(entry_body(&map(), &f).unwrap_err(), "`Ticker` is not UTF-8 text");
        let f = vec![
            (b"Ticker".to_vec(), b"NVDA".to_vec()),
            (b"Direction".to_vec(), b"s".to_vec()),
            (b"Blob".to_vec(), vec![0xff]),
        ];
        assert_eq!(entry_body(&map(), &f).unwrap().ticker, "NVDA");
    }

    #[test]
    fn replies_are_read_without_panics() {
        let entry = |id: &str| {
            Value::Array(vec![
                Value::BulkString(id.as_bytes().to_vec()),
                Value::Array(vec![
                    Value::BulkString(b"Ticker".to_vec()),
                    Value::BulkString(b"NVDA".to_vec()),
                ]),
            ])
        };
        let reply = Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"nvda".to_vec()),
            Value::Array(vec![
                entry("1-0"),
                Value::Array(vec![Value::BulkString(b"2-0".to_vec()), Value::Nil]),
            ]),
        ])]);
        let got = read_reply_entries(reply).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], Entry { id: "2-0".into(), fields: None });
        assert!(read_reply_entries(Value::Int(3)).is_err());
        assert!(read_entries(Value::Array(vec![Value::Int(1)])).is_err());
        assert!(autoclaim_reply(Value::Array(vec![])).is_err());
        let (c, e) = autoclaim_reply(Value::Array(vec![
            Value::BulkString(b"0-0".to_vec()),
            Value::Array(vec![entry("5-1")]),
        ]))
        .unwrap();
        assert_eq!((c.as_str(), e.len()), ("0-0", 1));
    }
}
