//! The `trade_updates` stream (`/stream`): `authenticate`, then `listen`, then order events.
//! Server frames are binary (as on the paper endpoint) unless the config asks for text.

use std::sync::Arc;

use axum::extract::State as AxState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::ClientFrame;
use super::state::{Out, Shared, State, TradeConn};

/// What the server answers a client frame with, and whether it then closes.
struct Answer {
    frames: Vec<Value>,
    close: bool,
}

pub(super) async fn upgrade(ws: WebSocketUpgrade, AxState(shared): AxState<Arc<Shared>>) -> Response {
    ws.on_upgrade(move |socket| serve(socket, shared))
}

async fn serve(mut socket: WebSocket, shared: Arc<Shared>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (id, binary) = shared.update(|s| {
        let id = s.serial();
        s.trade_conns.push(TradeConn { id, tx, authorized: false, listening: false });
        (id, s.cfg.binary_trade_frames)
    });
    let frame = |text: String| if binary { Message::Binary(text.into()) } else { Message::Text(text.into()) };
    loop {
        tokio::select! {
            msg = socket.recv() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => break,
                };
                let answer = shared.update(|s| s.on_trade_frame(id, &text));
                let mut failed = false;
                for f in answer.frames {
                    failed |= socket.send(frame(f.to_string())).await.is_err();
                }
                if answer.close || failed {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
            }
            out = rx.recv() => match out {
                Some(Out::Frame(text)) => {
                    if socket.send(frame(text)).await.is_err() {
                        break;
                    }
                }
                // Only data connections are pinged.
                Some(Out::Ping(_)) => {}
                // Dropped by the tests: the socket goes without a closing handshake.
                Some(Out::Drop) | None => return,
            },
        }
    }
    shared.update(|s| s.trade_conns.retain(|c| c.id != id));
}

impl State {
    /// A client frame on connection `id`.
    fn on_trade_frame(&mut self, id: u64, text: &str) -> Answer {
        let frame = serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_owned()));
        self.client_frames.push(ClientFrame { stream: "trade_updates".into(), frame: frame.clone() });
        let authorized = |action: &str, ok: bool| {
            let status = if ok { "authorized" } else { "unauthorized" };
            json!({"stream": "authorization", "data": {"status": status, "action": action}})
        };
        let data = &frame["data"];
        match frame["action"].as_str() {
            Some("authenticate") => {
                let ok = self.keys_match(
                    data["key_id"].as_str().unwrap_or_default(),
                    data["secret_key"].as_str().unwrap_or_default(),
                );
                if let Some(c) = self.trade_conns.iter_mut().find(|c| c.id == id) {
                    c.authorized = ok;
                }
                Answer { frames: vec![authorized("authenticate", ok)], close: !ok }
            }
            Some("listen") => {
                let Some(c) = self.trade_conns.iter_mut().find(|c| c.id == id && c.authorized) else {
                    return Answer { frames: vec![authorized("listen", false)], close: true };
                };
                let wanted = data["streams"].as_array().cloned().unwrap_or_default();
                let streams: Vec<Value> = wanted.into_iter().filter(|s| s == "trade_updates").collect();
                c.listening = !streams.is_empty();
                Answer {
                    frames: vec![json!({"stream": "listening", "data": {"streams": streams}})],
                    close: false,
                }
            }
            _ => Answer { frames: Vec::new(), close: false },
        }
    }
}
