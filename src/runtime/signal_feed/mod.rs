//! External signals from other systems, for the `external-signal` algorithm: a Redis stream
//! ([`redis`]) or a local unix socket ([`socket`]). (A recorded signal file is read whole by
//! the strategy instead, so a backtest stays deterministic.)
//!
//! A source runs as its own task and hands the agent's loop [`SignalInput`]s over a channel.
//! Each [`Inbound`] signal carries a one-shot reply: the loop answers it with a [`Verdict`]
//! only once the journal holds what the agent did with the signal (the order it caused, or why
//! it was refused). Only then does the source acknowledge it to its publisher (`XACK` for a
//! stream, an ack frame for the socket) — so a crash before the journal write leaves the entry
//! pending (it is claimed again at the next start), and a crash after it leaves a journaled id
//! that the loop answers [`Verdict::Duplicate`] instead of trading it twice.

pub mod record;
pub mod redis;
pub mod socket;

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::model::Timestamp;
use crate::model::account::Connectivity;

/// What a signal source hands the agent's loop.
#[derive(Debug)]
pub enum SignalInput {
    /// A signal (or an entry that could not be read as one).
    Signal(Inbound),
    /// The source's connection went down or came back (`Link::Signals`).
    Link(Connectivity),
}

/// One signal as a source read it.
#[derive(Debug)]
pub struct Inbound {
    /// The source's id for it: the stream entry id (`1733212345678-0`), or the socket message's
    /// `id`. `None` when a socket message has none (it cannot be recognised if sent again).
    pub id: Option<String>,
    /// When the publisher published it: a stream entry id's millisecond time, a socket
    /// message's `ts`, else when it was received.
    pub published: Timestamp,
    /// The signal, or why the entry is not one (missing field, unknown direction, bad JSON).
    pub body: Result<SignalBody, String>,
    /// Where the verdict goes, once the journal holds it.
    pub reply: oneshot::Sender<Verdict>,
}

/// The content of a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalBody {
    /// The ticker as published (compared case-insensitively with the recipe's symbol).
    pub ticker: String,
    /// Buy (be long) or sell (be short).
    pub side: Side,
    /// Strength in percent, 0–100 (100 when the signal has none).
    pub strength: u8,
}

/// A signal's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Be long.
    Buy,
    /// Be short.
    Sell,
}

/// What became of a signal, as the source passes it back to the publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The agent acted on it; `orders` are the client order ids it sent (none when the
    /// position already matched).
    Accepted {
        /// Client order ids of the orders it caused.
        orders: Vec<String>,
    },
    /// Refused, and why (stale, outside the session, malformed, halted, denied by risk).
    Refused(String),
    /// Its id was handled before (a redelivery): nothing done.
    Duplicate,
    /// For another ticker than the recipe's symbol: ignored (and counted).
    OtherTicker,
}

impl Verdict {
    /// The one-word status a socket ack and the journal use.
    pub fn status(&self) -> &'static str {
        match self {
            Self::Accepted { .. } => "accepted",
            Self::Refused(_) => "refused",
            Self::Duplicate => "duplicate",
            Self::OtherTicker => "ignored",
        }
    }
}

/// Which fields of a stream entry carry what, and the direction values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMap {
    /// The ticker field, e.g. `Ticker`.
    pub ticker: String,
    /// The direction field, e.g. `Direction`.
    pub direction: String,
    /// The direction value meaning buy, e.g. `b`.
    pub buy: String,
    /// The direction value meaning sell, e.g. `s`.
    pub sell: String,
    /// The optional strength field.
    pub strength: Option<String>,
}

impl FieldMap {
    /// Read a stream entry's fields as a signal; the error names the field and never echoes a
    /// long value.
    pub fn parse<'a>(
        &self,
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<SignalBody, String> {
        let (mut ticker, mut direction, mut strength) = (None, None, None);
        for (k, v) in fields {
            if k == self.ticker {
                ticker = Some(v);
            } else if k == self.direction {
                direction = Some(v);
            } else if self.strength.as_deref() == Some(k) {
                strength = Some(v);
            }
        }
        let ticker = ticker.ok_or_else(|| format!("no `{}` field", self.ticker))?.trim();
        if ticker.is_empty() || ticker.len() > 32 {
            return Err(format!("`{}` is not a ticker", self.ticker));
        }
        let d = direction.ok_or_else(|| format!("no `{}` field", self.direction))?.trim();
        let side = if d == self.buy {
            Side::Buy
        } else if d == self.sell {
            Side::Sell
        } else {
            return Err(format!(
                "`{}` is {}, expected `{}` or `{}`",
                self.direction,
                shown(d),
                self.buy,
                self.sell
            ));
        };
        let strength = match strength {
            None => 100,
            Some(s) => parse_strength(s).ok_or_else(|| {
                format!(
                    "`{}` is {}, expected a fraction 0–1 or a percentage 0–100",
                    self.strength.as_deref().unwrap_or_default(),
                    shown(s)
                )
            })?,
        };
        Ok(SignalBody { ticker: ticker.to_owned(), side, strength })
    }
}

/// A value shown in an error: quoted, and cut when long.
pub fn shown(v: &str) -> String {
    const MAX: usize = 24;
    match v.char_indices().nth(MAX) {
        None => format!("`{v}`"),
        Some((i, _)) => format!("`{}…`", &v[..i]),
    }
}

/// A strength: a fraction `0`–`1` (`0.8`), or a percentage above 1 up to 100 (`80`, `80%`).
pub fn parse_strength(s: &str) -> Option<u8> {
    let s = s.trim();
    let (num, pct) = match s.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (s, false),
    };
    let v: rust_decimal::Decimal = num.parse().ok()?;
    let pct_value =
        if !pct && v <= rust_decimal::Decimal::ONE { v * rust_decimal::Decimal::ONE_HUNDRED } else { v };
    if pct_value < rust_decimal::Decimal::ZERO || pct_value > rust_decimal::Decimal::ONE_HUNDRED {
        return None;
    }
    use rust_decimal::prelude::ToPrimitive;
    pct_value.round().to_u8()
}

/// Reconnect back-off: doubles from `first` up to `cap`, with up to 25 % random jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    first: Duration,
    cap: Duration,
}

impl Backoff {
    /// From `first`, capped at `cap`.
    pub fn new(first: Duration, cap: Duration) -> Self {
        Self { next: first, first, cap }
    }

    /// The next wait.
    pub fn next_wait(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.cap);
        let jitter = rand::random::<f64>() * 0.25;
        base.mul_f64(1.0 + jitter).min(self.cap)
    }

    /// Connected again: start over.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// An agent's live signal source, started: the channel its loop reads, and what the loop
/// checks each signal against.
pub struct Wiring {
    /// What the source hands the loop.
    pub rx: mpsc::Receiver<SignalInput>,
    /// The recipe's symbol (signals for other tickers are ignored and counted).
    pub ticker: String,
    /// Older signals are refused as stale.
    pub max_age: Duration,
    /// The journal's name for the source (`redis:<stream>:<group>`, `socket:<path>`).
    pub source: String,
    /// The socket, kept bound for the run (removed when dropped).
    pub task: tokio::task::JoinHandle<()>,
}

impl Drop for Wiring {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start the live signal source `recipe` names (`algorithm.signals` with `source: redis` or
/// `socket`); `None` for every other recipe. Needs a tokio runtime (`rt.enter()`).
///
/// # Errors
/// A socket that cannot be bound, a Redis password secret without `password`.
pub fn start(
    recipe: &crate::recipe::model::Recipe,
    recipe_file: &std::path::Path,
    creds: &super::credentials::Credentials,
) -> Result<Option<Wiring>, String> {
    use crate::recipe::model::{AlgorithmKind, SignalSourceKind};
    if recipe.algorithm.kind != AlgorithmKind::ExternalSignal {
        return Ok(None);
    }
    let sig = recipe.algorithm.signals_or_default();
    let (tx, rx) = mpsc::channel(64);
    let max_age = sig.max_signal_age_or_default();
    let ticker = recipe.instrument.underlying.clone();
    match sig.source {
        SignalSourceKind::File => Ok(None),
        SignalSourceKind::Redis => {
            let stream = sig.stream.clone().unwrap_or_default();
            let group = sig.group.clone().unwrap_or_else(|| format!("runner:{}", recipe.agent));
            let f = sig.fields.clone().ok_or("algorithm.signals.fields is missing")?;
            let password = match creds.get("signals") {
                Some(m) => Some(
                    m.get("password")
                        .ok_or("the signals secret has no `password`")?
                        .expose()
                        .to_owned()
                        .into(),
                ),
                None => None,
            };
            let host = Some(super::process::host_name())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".to_owned());
            let cfg = redis::RedisConfig {
                url: sig.url.clone().unwrap_or_default(),
                password,
                stream: stream.clone(),
                group: group.clone(),
                consumer: format!("{}@{host}", recipe.agent),
                fields: FieldMap {
                    ticker: f.ticker,
                    direction: f.direction,
                    buy: f.buy,
                    sell: f.sell,
                    strength: f.strength,
                },
                claim_idle: Duration::from_secs(30),
            };
            let task = redis::spawn(cfg, tx);
            Ok(Some(Wiring { rx, ticker, max_age, source: format!("redis:{stream}:{group}"), task }))
        }
        SignalSourceKind::Socket => {
            let rel = sig.path.clone().ok_or("algorithm.signals.path is missing")?;
            let path = recipe_file.parent().unwrap_or(std::path::Path::new("")).join(rel);
            let server = socket::SocketServer::bind(socket::SocketConfig::new(&path))
                .map_err(|e| format!("signal socket {}: {e}", path.display()))?;
            let task = server.spawn(tx);
            Ok(Some(Wiring { rx, ticker, max_age, source: "socket".to_owned(), task }))
        }
    }
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
            strength: Some("Strength".into()),
        }
    }

    #[test]
    fn entries_read_as_signals() {
        let m = map();
        assert_eq!(
            m.parse([("Ticker", "NVDA"), ("Direction", "b")]),
            Ok(SignalBody { ticker: "NVDA".into(), side: Side::Buy, strength: 100 })
        );
        assert_eq!(
            m.parse([("Ticker", "NVDA"), ("Direction", "s"), ("Strength", "0.8")]).unwrap().strength,
            80
        );
        assert_eq!(
            m.parse([("Ticker", "NVDA"), ("Direction", "s"), ("Strength", "40%")]).unwrap().strength,
            40
        );
        assert_eq!(
            m.parse([("Ticker", "NVDA"), ("Direction", "s"), ("Strength", "65")]).unwrap().strength,
            65
        );
    }

    #[test]
    fn bad_entries_say_which_field() {
        let m = map();
        assert_eq!(m.parse([("Direction", "b")]).unwrap_err(), "no `Ticker` field");
        assert_eq!(m.parse([("Ticker", "NVDA")]).unwrap_err(), "no `Direction` field");
        let e =
            m.parse([("Ticker", "NVDA"), ("Direction", "hold-and-a-very-long-value-indeed")]).unwrap_err();
        assert!(e.contains("expected `b` or `s`") && e.contains('…') && !e.contains("indeed"), "{e}");
        assert!(m.parse([("Ticker", "NVDA"), ("Direction", "b"), ("Strength", "150")]).is_err());
        assert!(m.parse([("Ticker", "NVDA"), ("Direction", "b"), ("Strength", "-0.5")]).is_err());
    }

    #[test]
    fn backoff_doubles_to_its_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let w: Vec<_> = (0..6).map(|_| b.next_wait()).collect();
        assert!(w[0] >= Duration::from_millis(100) && w[0] <= Duration::from_millis(125));
        assert!(w[1] >= Duration::from_millis(200));
        assert!(w.iter().all(|d| *d <= Duration::from_secs(1)));
        b.reset();
        assert!(b.next_wait() <= Duration::from_millis(125));
    }
}
