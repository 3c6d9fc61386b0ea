//! [`AlpacaStocksFeed`]: Alpaca's stocks stream (`…/v2/{iex|sip}`) as a [`MarketDataClient`].
//!
//! A task of its own keeps the stream: connect, expect `connected`, authenticate (within 10 s),
//! subscribe, and turn the batched array frames into [`MarketEvent`]s carrying each
//! subscription's [`SymbolId`]. Error frames are handled by code:
//!
//! | code | meaning | what the feed does |
//! |---|---|---|
//! | 401, 402, 404 | not authenticated, auth failed, auth timeout | stop: terminal error (402 names the secret) |
//! | 403 | already authenticated | ignored |
//! | 405, 408, 409 | symbol limit, v2 not enabled, insufficient subscription | stop: terminal error |
//! | 406 | connection limit exceeded | wait `connection_limit_wait`, then reconnect |
//! | 407 | slow client | warning |
//! | 500, dropped socket | | reconnect with capped, jittered backoff and resubscribe |
//!
//! Every connection reports `Up`, every outage `Down`; after a reconnect the first market event
//! is preceded by a `Gap` from the last event before the outage.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::config::AlpacaConfig;
use super::socket::{self, Socket};
use super::wire::{self, DataMessage};
use crate::market::event::{Bar, MarketEvent, Quote, Trade};
use crate::model::account::{Connectivity, Link};
use crate::model::{SymbolId, Timestamp};
use crate::venue::{DataEvent, MarketDataClient, Subscription, VenueError, VenueFuture};
use secrecy::ExposeSecret;

/// Alpaca closes a connection that has not authenticated within 10 s.
const AUTH_WITHIN: Duration = Duration::from_secs(10);
/// A minute bar's length.
const MINUTE_NANOS: i64 = 60 * Timestamp::NANOS_PER_SEC;

/// Alpaca's stocks stream.
pub struct AlpacaStocksFeed {
    cfg: Arc<AlpacaConfig>,
    /// Subscriptions asked for before [`MarketDataClient::connect`].
    pending: Vec<Subscription>,
    running: Option<Running>,
}

/// The stream task and the ends of its channels.
struct Running {
    task: JoinHandle<()>,
    events: mpsc::Receiver<Result<DataEvent, VenueError>>,
    subscribe: mpsc::UnboundedSender<Vec<Subscription>>,
}

impl std::fmt::Debug for AlpacaStocksFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlpacaStocksFeed").field("url", &self.cfg.stocks_stream_url).finish_non_exhaustive()
    }
}

impl Drop for AlpacaStocksFeed {
    fn drop(&mut self) {
        if let Some(r) = &self.running {
            r.task.abort();
        }
    }
}

impl AlpacaStocksFeed {
    /// A feed of `cfg`'s stocks stream; nothing happens before [`MarketDataClient::connect`].
    pub fn new(cfg: AlpacaConfig) -> Self {
        Self { cfg: Arc::new(cfg), pending: Vec::new(), running: None }
    }

    /// Start the task and wait for the first authenticated connection (retrying dropped
    /// connections and connection limits; refused keys and other terminal errors end it).
    async fn start(&mut self) -> Result<(), VenueError> {
        if self.running.is_some() {
            return Ok(());
        }
        let (events_tx, events) = mpsc::channel(4096);
        let (subscribe, commands) = mpsc::unbounded_channel();
        let (ready_tx, ready) = oneshot::channel();
        let task = Session {
            cfg: Arc::clone(&self.cfg),
            tx: events_tx,
            commands,
            symbols: HashMap::new(),
            subs: Vec::new(),
            last_ts: None,
            gap_from: None,
            ready: Some(ready_tx),
        };
        if !self.pending.is_empty() {
            // The channel is open: its receiver is in `task`.
            let _ = subscribe.send(std::mem::take(&mut self.pending));
        }
        self.running = Some(Running { task: tokio::spawn(task.run()), events, subscribe });
        ready
            .await
            .unwrap_or_else(|_| Err(VenueError::Terminal("the Alpaca market-data stream stopped".into())))
    }

    async fn add(&mut self, subs: Vec<Subscription>) -> Result<(), VenueError> {
        match &self.running {
            None => self.pending.extend(subs),
            Some(r) => {
                r.subscribe
                    .send(subs)
                    .map_err(|_| VenueError::Terminal("the Alpaca market-data stream has stopped".into()))?;
            }
        }
        Ok(())
    }

    async fn next(&mut self) -> Result<Option<DataEvent>, VenueError> {
        let Some(r) = self.running.as_mut() else {
            return Err(VenueError::Terminal("the Alpaca market-data feed is not connected".into()));
        };
        r.events.recv().await.transpose()
    }
}

impl MarketDataClient for AlpacaStocksFeed {
    fn connect(&mut self) -> VenueFuture<'_, ()> {
        Box::pin(self.start())
    }

    fn subscribe(&mut self, subscriptions: &[Subscription]) -> VenueFuture<'_, ()> {
        Box::pin(self.add(subscriptions.to_vec()))
    }

    fn next_event(&mut self) -> VenueFuture<'_, Option<DataEvent>> {
        Box::pin(self.next())
    }
}

/// How one connection ended.
enum Ended {
    /// Dropped (or refused for now): reconnect after the backoff.
    Lost(String),
    /// 406: wait `connection_limit_wait`, then reconnect.
    Limited,
    /// A terminal error frame.
    Fatal(VenueError),
    /// The feed was dropped.
    Stop,
}

/// What an error frame means for the connection.
fn on_error(cfg: &AlpacaConfig, code: u16, msg: &str) -> Option<Ended> {
    let fatal = |text: String| Some(Ended::Fatal(VenueError::Terminal(text)));
    let msg = crate::text::printable(msg);
    match code {
        402 => fatal(cfg.keys_refused(&format!("market-data stream: 402 {msg}"))),
        401 => {
            fatal(format!("Alpaca's market-data stream says the connection is not authenticated (401 {msg})"))
        }
        404 => fatal(format!("Alpaca's market-data stream timed out waiting for authentication (404 {msg})")),
        405 => fatal(format!(
            "Alpaca's market-data stream refused the subscription (405 {msg}): subscribe to fewer symbols"
        )),
        409 => fatal(format!(
            "Alpaca's market-data stream refused the feed (409 {msg}): the keys in secret `{}` have no subscription \
             for it; use `provider.feed: iex`",
            cfg.secret_name
        )),
        406 => Some(Ended::Limited),
        500 => Some(Ended::Lost(format!("Alpaca's market-data stream failed (500 {msg})"))),
        403 => {
            tracing::debug!("Alpaca market-data stream: already authenticated (403).");
            None
        }
        407 => {
            tracing::warn!(
                "Alpaca market-data stream: slow client (407): this process is not keeping up with the data."
            );
            None
        }
        400 => {
            tracing::warn!("Alpaca market-data stream: invalid syntax (400 {msg}).");
            None
        }
        _ => fatal(format!("Alpaca's market-data stream error {code}: {msg}")),
    }
}

/// The stream task's state.
struct Session {
    cfg: Arc<AlpacaConfig>,
    tx: mpsc::Sender<Result<DataEvent, VenueError>>,
    commands: mpsc::UnboundedReceiver<Vec<Subscription>>,
    /// Ticker → the run's symbol.
    symbols: HashMap<String, SymbolId>,
    /// Everything subscribed so far (sent again after a reconnect).
    subs: Vec<Subscription>,
    /// The last market event's time.
    last_ts: Option<Timestamp>,
    /// Where the gap of the last outage starts, until the first event after it.
    gap_from: Option<Timestamp>,
    /// Told about the first authenticated connection (or a terminal error before it).
    ready: Option<oneshot::Sender<Result<(), VenueError>>>,
}

impl Session {
    async fn run(mut self) {
        let mut attempt = 0u32;
        loop {
            let mut up = false;
            let wait = match self.connection(&mut up).await {
                Ended::Stop => return,
                Ended::Fatal(e) => {
                    match self.ready.take() {
                        Some(ready) => drop(ready.send(Err(e))),
                        None => drop(self.tx.send(Err(e)).await),
                    }
                    return;
                }
                Ended::Limited => {
                    let wait = self.cfg.connection_limit_wait;
                    tracing::warn!(
                        "Alpaca market-data stream: connection limit exceeded (406): another connection with these keys \
                         is open, or Alpaca still holds a dropped one; trying again in {wait:?}."
                    );
                    self.down(up, "connection limit exceeded (406)".into()).await;
                    wait
                }
                Ended::Lost(reason) => {
                    attempt = if up { 0 } else { attempt.saturating_add(1) };
                    let wait = self.cfg.reconnect.delay(attempt);
                    tracing::warn!("Alpaca market-data stream: {reason}; reconnecting in {wait:?}.");
                    self.down(up, reason).await;
                    wait
                }
            };
            if self.tx.is_closed() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// After a connection that was up: a Down event, and a gap to report from the last event.
    async fn down(&mut self, was_up: bool, reason: String) {
        if was_up {
            self.gap_from = self.last_ts;
            let down = Connectivity::Down { link: Link::Feed, ts: now(), reason };
            // A closed receiver is noticed by the caller.
            let _ = self.tx.send(Ok(DataEvent::Connectivity(down))).await;
        }
    }

    /// One connection: handshake, subscribe, then data until it ends. Sets `up` once
    /// authenticated.
    async fn connection(&mut self, up: &mut bool) -> Ended {
        let mut ws = match socket::connect(&self.cfg.stocks_stream_url, self.cfg.request_timeout).await {
            Ok(ws) => ws,
            Err(reason) => return Ended::Lost(reason),
        };
        if let Err(ended) = self.authenticate(&mut ws).await {
            return ended;
        }
        *up = true;
        if let Some(ready) = self.ready.take() {
            // connect() may have been given up on; the stream goes on.
            let _ = ready.send(Ok(()));
        }
        if self.send(DataEvent::Connectivity(Connectivity::Up { link: Link::Feed, ts: now() })).await.is_err()
        {
            return Ended::Stop;
        }
        if !self.subs.is_empty()
            && let Err(reason) = socket::send(&mut ws, &subscribe_action(&self.subs)).await
        {
            return Ended::Lost(reason);
        }
        loop {
            tokio::select! {
                payload = socket::next_payload(&mut ws) => match payload {
                    Ok(p) => {
                        if let Some(ended) = self.on_frame(&p).await {
                            return ended;
                        }
                    }
                    Err(reason) => return Ended::Lost(reason),
                },
                cmd = self.commands.recv() => {
                    let Some(subs) = cmd else { return Ended::Stop };
                    for s in &subs {
                        self.symbols.insert(s.instrument.to_string(), s.symbol);
                    }
                    self.subs.extend(subs.iter().cloned());
                    if let Err(reason) = socket::send(&mut ws, &subscribe_action(&subs)).await {
                        return Ended::Lost(reason);
                    }
                }
            }
        }
    }

    /// `connected`, `auth`, `authenticated`, within [`AUTH_WITHIN`].
    async fn authenticate(&mut self, ws: &mut Socket) -> Result<(), Ended> {
        let deadline = tokio::time::Instant::now() + AUTH_WITHIN;
        let mut sent = false;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let payload =
                socket::next_payload_within(ws, left, "authentication").await.map_err(Ended::Lost)?;
            let Ok(msgs) = serde_json::from_slice::<Vec<DataMessage>>(&payload) else { continue };
            for m in msgs {
                match m {
                    DataMessage::Success { msg } if msg == "connected" && !sent => {
                        let auth = json!({"action": "auth", "key": self.cfg.key_id.expose_secret(),
                            "secret": self.cfg.secret_key.expose_secret()});
                        socket::send(ws, &auth).await.map_err(Ended::Lost)?;
                        sent = true;
                    }
                    DataMessage::Success { msg } if msg == "authenticated" => return Ok(()),
                    DataMessage::Error { code, msg } => {
                        if let Some(ended) = on_error(&self.cfg, code, &msg) {
                            return Err(ended);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// One data frame; `Some` when it ends the connection.
    async fn on_frame(&mut self, payload: &[u8]) -> Option<Ended> {
        let msgs = match serde_json::from_slice::<Vec<DataMessage>>(payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("Alpaca market-data stream: an unreadable frame was ignored ({e}).");
                return None;
            }
        };
        for m in msgs {
            let event = match m {
                DataMessage::Error { code, msg } => match on_error(&self.cfg, code, &msg) {
                    Some(ended) => return Some(ended),
                    None => continue,
                },
                other => self.market_event(other),
            };
            if let Some(ev) = event
                && self.emit(ev).await.is_err()
            {
                return Some(Ended::Stop);
            }
        }
        None
    }

    /// A trade, quote or bar of a subscribed symbol as a market event.
    fn market_event(&self, m: DataMessage) -> Option<MarketEvent> {
        let symbol = |ticker: &str| {
            let s = self.symbols.get(ticker).copied();
            if s.is_none() {
                tracing::debug!(ticker, "Alpaca market-data stream: data for a symbol not subscribed.");
            }
            s
        };
        Some(match m {
            DataMessage::Trade { symbol: s, price, size, ts } => {
                MarketEvent::Trade(Trade { symbol: symbol(&s)?, ts: wire::ts(ts), price, size })
            }
            DataMessage::Quote { symbol: s, bid, bid_size, ask, ask_size, ts } => MarketEvent::Quote(Quote {
                symbol: symbol(&s)?,
                ts: wire::ts(ts),
                bid,
                bid_size,
                ask,
                ask_size,
            }),
            DataMessage::Bar { symbol: s, open, high, low, close, volume, ts } => MarketEvent::Bar(Bar {
                symbol: symbol(&s)?,
                ts: wire::ts(ts),
                duration_nanos: MINUTE_NANOS,
                open,
                high,
                low,
                close,
                volume,
            }),
            DataMessage::Success { .. } | DataMessage::Subscription | DataMessage::Other => return None,
            DataMessage::Error { .. } => return None,
        })
    }

    /// Hand out a market event, after the gap it closes if it is the first after an outage.
    async fn emit(&mut self, ev: MarketEvent) -> Result<(), ()> {
        if let Some(from) = self.gap_from.take() {
            self.send(DataEvent::Connectivity(Connectivity::Gap { link: Link::Feed, from, to: ev.ts() }))
                .await?;
        }
        self.last_ts = Some(self.last_ts.map_or(ev.ts(), |t| t.max(ev.ts())));
        self.send(DataEvent::Market(ev)).await
    }

    async fn send(&self, ev: DataEvent) -> Result<(), ()> {
        self.tx.send(Ok(ev)).await.map_err(drop)
    }
}

/// The `subscribe` action for some subscriptions.
fn subscribe_action(subs: &[Subscription]) -> serde_json::Value {
    let names = |want: fn(&Subscription) -> bool| -> Vec<&str> {
        subs.iter().filter(|s| want(s)).map(|s| s.instrument.as_str()).collect()
    };
    json!({
        "action": "subscribe",
        "trades": names(|s| s.trades),
        "quotes": names(|s| s.quotes),
        "bars": names(|s| s.bars),
    })
}

fn now() -> Timestamp {
    Timestamp::from_datetime(&chrono::Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InstrumentId;

    fn cfg() -> AlpacaConfig {
        AlpacaConfig::paper("paper", "alpaca-paper", "PKSECRETKEYID".into(), "very-secret".into())
    }

    #[test]
    fn error_codes_decide_what_happens() {
        let c = cfg();
        let Some(Ended::Fatal(VenueError::Terminal(m))) = on_error(&c, 402, "auth failed") else {
            panic!("402")
        };
        assert!(
            m.contains("secret `alpaca-paper`") && !m.contains("PKSECRETKEYID") && !m.contains("very-secret"),
            "{m}"
        );
        let Some(Ended::Fatal(VenueError::Terminal(m))) = on_error(&c, 409, "insufficient subscription")
        else {
            panic!("409")
        };
        assert!(m.contains("provider.feed: iex"), "{m}");
        for code in [401, 404, 405, 408] {
            assert!(matches!(on_error(&c, code, ""), Some(Ended::Fatal(_))), "{code}");
        }
        assert!(matches!(on_error(&c, 406, ""), Some(Ended::Limited)));
        assert!(matches!(on_error(&c, 500, "internal error"), Some(Ended::Lost(_))));
        for code in [400, 403, 407] {
            assert!(on_error(&c, code, "").is_none(), "{code}");
        }
    }

    #[test]
    fn subscribe_names_each_kind_of_data() {
        let sub = |name: &str, symbol, trades, quotes, bars| Subscription {
            symbol: SymbolId(symbol),
            instrument: InstrumentId::from(name),
            trades,
            quotes,
            bars,
        };
        let action = subscribe_action(&[sub("SPY", 0, true, true, false), sub("NVDA", 1, true, false, true)]);
        assert_eq!(
            action,
            json!({"action": "subscribe", "trades": ["SPY", "NVDA"], "quotes": ["SPY"], "bars": ["NVDA"]})
        );
    }
}
