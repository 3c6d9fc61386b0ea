//! The stocks stream (`/v2/iex`, `/v2/sip`): `connected`, `auth` within the timeout, subscribe
//! and unsubscribe, then `t`/`q`/`b` messages in batched JSON arrays, and every error frame of
//! the protocol (400–406, 409).
//!
//! After 402, 404, 406 and 409 the server closes the connection; after 400, 401, 403 and 405 it
//! keeps it open.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State as AxState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::Uri;
use axum::response::Response;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::state::{DataConn, Out, Print, Shared, State, Touch};
use super::{ClientFrame, FakeTick, wire};

/// The channels a client may subscribe to, as the protocol names them.
const CHANNELS: [&str; 6] = ["trades", "quotes", "bars", "dailyBars", "updatedBars", "statuses"];

/// What the server answers a client frame with, and whether it then closes.
struct Answer {
    frames: Vec<Value>,
    close: bool,
}

impl Answer {
    fn reply(frame: Value) -> Self {
        Self { frames: vec![json!([frame])], close: false }
    }

    fn error(code: u16, msg: &str) -> Self {
        let close = matches!(code, 402 | 404 | 406 | 409);
        Self { frames: vec![error_frame(code, msg)], close }
    }
}

fn error_frame(code: u16, msg: &str) -> Value {
    json!([{"T": "error", "code": code, "msg": msg}])
}

pub(super) async fn upgrade(
    ws: WebSocketUpgrade,
    uri: Uri,
    AxState(shared): AxState<Arc<Shared>>,
) -> Response {
    let feed = uri.path().rsplit('/').next().unwrap_or_default().to_owned();
    ws.on_upgrade(move |socket| serve(socket, shared, feed))
}

async fn serve(mut socket: WebSocket, shared: Arc<Shared>, feed: String) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (id, auth_timeout) = shared.update(|s| {
        let id = s.serial();
        s.data_conns.push(DataConn { id, feed, key: None, subs: Default::default(), tx, pong: 0 });
        (id, s.cfg.auth_timeout)
    });
    let connected = json!([{"T": "success", "msg": "connected"}]).to_string();
    if socket.send(Message::Text(connected.into())).await.is_err() {
        shared.update(|s| s.data_conns.retain(|c| c.id != id));
        return;
    }
    let deadline = tokio::time::sleep(auth_timeout);
    tokio::pin!(deadline);
    loop {
        let authenticated = shared.lock().data_conns.iter().any(|c| c.id == id && c.key.is_some());
        tokio::select! {
            msg = socket.recv() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Pong(p))) => {
                        let n = p.as_ref().try_into().map(u64::from_be_bytes).unwrap_or_default();
                        shared.update(|s| {
                            if let Some(c) = s.data_conns.iter_mut().find(|c| c.id == id) {
                                c.pong = c.pong.max(n);
                            }
                        });
                        continue;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => break,
                };
                let answer = shared.update(|s| s.on_data_frame(id, &text));
                let mut failed = false;
                for f in answer.frames {
                    failed |= socket.send(Message::Text(f.to_string().into())).await.is_err();
                }
                if answer.close || failed {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
            }
            out = rx.recv() => match out {
                Some(Out::Frame(text)) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Out::Ping(n)) => {
                    if socket.send(Message::Ping(n.to_be_bytes().to_vec().into())).await.is_err() {
                        break;
                    }
                }
                // Dropped by the tests: the socket goes without a closing handshake.
                Some(Out::Drop) | None => return,
            },
            () = &mut deadline, if !authenticated => {
                let _ = socket.send(Message::Text(error_frame(404, "auth timeout").to_string().into())).await;
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
        }
    }
    shared.update(|s| s.data_conns.retain(|c| c.id != id));
}

impl State {
    /// A client frame on data connection `id`.
    fn on_data_frame(&mut self, id: u64, text: &str) -> Answer {
        let Some(i) = self.data_conns.iter().position(|c| c.id == id) else {
            return Answer { frames: Vec::new(), close: true };
        };
        let parsed = serde_json::from_str::<Value>(text);
        let frame = parsed.as_ref().map_or_else(|_| Value::String(text.to_owned()), Clone::clone);
        self.client_frames
            .push(ClientFrame { stream: self.data_conns[i].feed.clone(), frame: frame.clone() });
        match frame.get("action").and_then(Value::as_str) {
            Some("auth") => self.authenticate_data(i, &frame),
            Some(action @ ("subscribe" | "unsubscribe")) => {
                if self.data_conns[i].key.is_none() {
                    return Answer::error(401, "not authenticated");
                }
                self.subscribe(i, &frame, action == "subscribe")
            }
            _ => Answer::error(400, "invalid syntax"),
        }
    }

    fn authenticate_data(&mut self, i: usize, frame: &Value) -> Answer {
        if self.data_conns[i].key.is_some() {
            return Answer::error(403, "already authenticated");
        }
        let key = frame["key"].as_str().unwrap_or_default().to_owned();
        if !self.keys_match(&key, frame["secret"].as_str().unwrap_or_default()) {
            return Answer::error(402, "auth failed");
        }
        if self.data_conns[i].feed == "sip" && !self.cfg.sip_entitled {
            return Answer::error(409, "insufficient subscription");
        }
        let held = self.held.get(&key).is_some_and(|until| Instant::now() < *until);
        let other = self.data_conns.iter().any(|c| c.key.as_deref() == Some(key.as_str()));
        if held || other {
            return Answer::error(406, "connection limit exceeded");
        }
        self.data_conns[i].key = Some(key);
        Answer::reply(json!({"T": "success", "msg": "authenticated"}))
    }

    /// Add (or remove) the frame's symbols per channel; 405 when the subscription would exceed
    /// the symbol limit (and nothing changes).
    fn subscribe(&mut self, i: usize, frame: &Value, add: bool) -> Answer {
        let mut subs = self.data_conns[i].subs.clone();
        for channel in CHANNELS {
            let symbols = match frame.get(channel) {
                None => continue,
                Some(Value::Array(list)) => {
                    list.iter().map(|s| s.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()
                }
                Some(_) => None,
            };
            let Some(symbols) = symbols else { return Answer::error(400, "invalid syntax") };
            let have = subs.entry(channel).or_default();
            for s in symbols {
                if add && !have.contains(&s) {
                    have.push(s);
                } else if !add {
                    have.retain(|h| *h != s);
                }
            }
        }
        let distinct: BTreeSet<&String> = subs.values().flatten().collect();
        if distinct.len() > self.cfg.symbol_limit {
            return Answer::error(405, "symbol limit exceeded");
        }
        let mut ack = json!({"T": "subscription"});
        for channel in CHANNELS {
            ack[channel] = json!(subs.get(channel).cloned().unwrap_or_default());
        }
        self.data_conns[i].subs = subs;
        Answer::reply(ack)
    }

    /// Publish market events in order: each updates the last prices and works the orders, and
    /// goes to every authenticated connection subscribed to it, batched into arrays of at most
    /// `batch_max` messages.
    pub(super) fn publish(&mut self, ticks: &[FakeTick]) {
        let mut out: Vec<Vec<String>> = vec![Vec::new(); self.data_conns.len()];
        for tick in ticks {
            let (channel, symbol, message) = match tick {
                FakeTick::Trade { symbol, ts, price, size } => {
                    self.clock = Some(*ts);
                    self.next_trade_id += 1;
                    let print = Print { price: *price, size: *size, ts: *ts };
                    self.last_trade.insert(symbol.clone(), print);
                    self.on_trade(symbol, *price, *size, *ts);
                    ("trades", symbol, wire::stock_trade(Some(symbol), self.next_trade_id, &print))
                }
                FakeTick::Quote { symbol, ts, bid, bid_size, ask, ask_size } => {
                    self.clock = Some(*ts);
                    let touch =
                        Touch { bid: *bid, bid_size: *bid_size, ask: *ask, ask_size: *ask_size, ts: *ts };
                    self.last_quote.insert(symbol.clone(), touch);
                    self.on_quote(symbol);
                    ("quotes", symbol, wire::stock_quote(Some(symbol), &touch))
                }
                FakeTick::Bar { symbol, ts, bar } => {
                    self.clock = Some(*ts);
                    ("bars", symbol, wire::stock_bar(symbol, bar, *ts))
                }
            };
            for (c, pending) in self.data_conns.iter().zip(out.iter_mut()) {
                let wants = c.subs.get(channel).is_some_and(|l| l.iter().any(|s| s == symbol || s == "*"));
                if c.key.is_some() && wants {
                    pending.push(message.clone());
                }
            }
        }
        let batch = self.cfg.batch_max.max(1);
        for (c, pending) in self.data_conns.iter().zip(out) {
            for chunk in pending.chunks(batch) {
                let _ = c.tx.send(Out::Frame(format!("[{}]", chunk.join(","))));
            }
        }
    }

    /// Quote an option contract (sizes unknown: zero) and work its orders.
    pub(super) fn quote_option(&mut self, occ: &str, bid: Decimal, ask: Decimal) {
        let ts = self.now();
        let touch = Touch { bid, bid_size: Decimal::ZERO, ask, ask_size: Decimal::ZERO, ts };
        self.last_quote.insert(occ.to_owned(), touch);
        self.on_quote(occ);
    }
}
