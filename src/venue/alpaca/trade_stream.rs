//! The `trade_updates` stream, kept open by a task of its own: connect, `authenticate`,
//! `listen`, forward every event; when the connection drops, say so and reconnect with capped,
//! jittered backoff. What the events mean is decided by the client that reads them
//! (`super::execution`), which also re-reads what was missed (the stream has no replay).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::config::AlpacaConfig;
use super::socket::{self, Socket};
use super::wire::{Authorization, StreamFrame, TradeUpdate};
use crate::venue::VenueError;
use secrecy::ExposeSecret;

/// Longest wait for the answers to `authenticate` and `listen`.
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);

/// What the stream task reports.
#[derive(Debug)]
pub enum StreamMsg {
    /// Connected, authorized and listening.
    Up,
    /// The connection dropped (or could not be made); the task is reconnecting.
    Down(String),
    /// An order event.
    Update(Box<TradeUpdate>),
    /// Alpaca refused the keys: the task has stopped.
    Refused(VenueError),
}

/// How one connection ended.
enum Ended {
    /// Dropped or never made: try again.
    Lost(String),
    /// The keys were refused, or the client is gone: stop.
    Stop,
}

/// Start the task; it runs until `tx`'s receiver is dropped or the keys are refused.
pub fn spawn(cfg: Arc<AlpacaConfig>, tx: mpsc::Sender<StreamMsg>) -> JoinHandle<()> {
    tokio::spawn(run(cfg, tx))
}

async fn run(cfg: Arc<AlpacaConfig>, tx: mpsc::Sender<StreamMsg>) {
    let mut attempt = 0u32;
    // Whether the last connection was up: a Down is sent once per outage.
    let mut was_up = true;
    loop {
        let mut up = false;
        match session(&cfg, &tx, &mut up).await {
            Ended::Stop => return,
            Ended::Lost(reason) => {
                if up {
                    attempt = 0;
                }
                if (up || was_up) && tx.send(StreamMsg::Down(reason.clone())).await.is_err() {
                    return;
                }
                was_up = up;
                let wait = cfg.reconnect.delay(attempt);
                tracing::warn!(account = %cfg.account, "Alpaca trade_updates stream: {reason}; reconnecting in {wait:?}.");
                attempt = attempt.saturating_add(1);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// One connection: handshake, then forward events until it drops. Sets `up` once listening.
async fn session(cfg: &AlpacaConfig, tx: &mpsc::Sender<StreamMsg>, up: &mut bool) -> Ended {
    let mut ws = match socket::connect(&cfg.trade_stream_url, cfg.request_timeout).await {
        Ok(ws) => ws,
        Err(reason) => return Ended::Lost(reason),
    };
    if let Err(ended) = handshake(cfg, &mut ws, tx).await {
        return ended;
    }
    *up = true;
    if tx.send(StreamMsg::Up).await.is_err() {
        return Ended::Stop;
    }
    loop {
        let payload = match socket::next_payload(&mut ws).await {
            Ok(p) => p,
            Err(reason) => return Ended::Lost(reason),
        };
        let Some(update) = parse_update(&payload) else { continue };
        if tx.send(StreamMsg::Update(Box::new(update))).await.is_err() {
            return Ended::Stop;
        }
    }
}

async fn handshake(cfg: &AlpacaConfig, ws: &mut Socket, tx: &mpsc::Sender<StreamMsg>) -> Result<(), Ended> {
    let auth = json!({"action": "authenticate", "data": {
        "key_id": cfg.key_id.expose_secret(), "secret_key": cfg.secret_key.expose_secret()}});
    socket::send(ws, &auth).await.map_err(Ended::Lost)?;
    loop {
        let payload = socket::next_payload_within(ws, HANDSHAKE_WITHIN, "authorization answer")
            .await
            .map_err(Ended::Lost)?;
        let Ok(frame) = serde_json::from_slice::<StreamFrame>(&payload) else { continue };
        if frame.stream != "authorization" {
            continue;
        }
        let status =
            serde_json::from_value::<Authorization>(frame.data).map(|a| a.status).unwrap_or_default();
        if status == "authorized" {
            break;
        }
        let refused = VenueError::Terminal(cfg.keys_refused(&format!("trade_updates stream: {status}")));
        // The receiver may be gone already; the task stops either way.
        let _ = tx.send(StreamMsg::Refused(refused)).await;
        return Err(Ended::Stop);
    }
    socket::send(ws, &json!({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        .await
        .map_err(Ended::Lost)?;
    loop {
        let payload = socket::next_payload_within(ws, HANDSHAKE_WITHIN, "listening answer")
            .await
            .map_err(Ended::Lost)?;
        if serde_json::from_slice::<StreamFrame>(&payload).is_ok_and(|f| f.stream == "listening") {
            return Ok(());
        }
    }
}

/// A `trade_updates` frame's event; other frames and unreadable ones are logged and skipped.
fn parse_update(payload: &[u8]) -> Option<TradeUpdate> {
    let frame = match serde_json::from_slice::<StreamFrame>(payload) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!("Alpaca trade_updates: an unreadable frame was ignored ({e}).");
            return None;
        }
    };
    if frame.stream != "trade_updates" {
        tracing::debug!(stream = %frame.stream, "Alpaca trade_updates: frame ignored.");
        return None;
    }
    match serde_json::from_value(frame.data) {
        Ok(u) => Some(u),
        Err(e) => {
            tracing::warn!("Alpaca trade_updates: an unreadable event was ignored ({e}).");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_fill_frame_parses_and_other_frames_are_skipped() {
        let frame = br#"{"stream":"trade_updates","data":{"event":"fill","execution_id":"e-1",
            "timestamp":"2022-04-19T17:45:05.024916716Z","price":"105.8988475","qty":"10","position_qty":"10",
            "order":{"id":"a-1","client_order_id":"agent-1","status":"filled","symbol":"SPY","qty":"10",
            "filled_qty":"10","filled_avg_price":"105.8988475","side":"buy","type":"market",
            "created_at":"2022-04-19T13:45:04.981350886-04:00","updated_at":"2022-04-19T13:45:05.027690731-04:00"}}}"#;
        let u = parse_update(frame).expect("an update");
        assert_eq!((u.event.as_str(), u.price, u.qty), ("fill", Some(dec!(105.8988475)), Some(dec!(10))));
        assert_eq!(u.order.leaves(), dec!(0));
        assert!(parse_update(br#"{"stream":"listening","data":{"streams":["trade_updates"]}}"#).is_none());
        assert!(parse_update(b"not json").is_none());
    }
}
