//! The WebSocket plumbing both Alpaca streams share: connect with a deadline, send JSON, and
//! read the next data frame (text or binary: the paper `trade_updates` stream sends binary).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An open stream.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Open `url` within `deadline`; the error is the reason, for a Down event. Nagle's algorithm
/// is off: small frames (auth, subscribe, pongs) leave at once instead of waiting for an ACK.
pub async fn connect(url: &str, deadline: Duration) -> Result<Socket, String> {
    crate::venue::tls::install();
    let connecting = tokio_tungstenite::connect_async_with_config(url, None, true);
    match tokio::time::timeout(deadline, connecting).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(format!("cannot connect: {e}")),
        Err(_) => Err(format!("no connection within {deadline:?}")),
    }
}

/// Send one JSON message as a text frame.
pub async fn send(ws: &mut Socket, msg: &serde_json::Value) -> Result<(), String> {
    ws.send(Message::text(msg.to_string())).await.map_err(|e| format!("send failed: {e}"))
}

/// The next text or binary frame's bytes; pings are answered by the library. The error is why
/// the stream ended.
pub async fn next_payload(ws: &mut Socket) -> Result<Vec<u8>, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_bytes().to_vec()),
            Some(Ok(Message::Binary(b))) => return Ok(b.to_vec()),
            Some(Ok(Message::Close(frame))) => {
                return Err(match frame {
                    Some(f) if !f.reason.is_empty() => {
                        format!("closed by Alpaca ({}: {})", f.code, crate::text::printable(&f.reason))
                    }
                    _ => "closed by Alpaca".to_owned(),
                });
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("connection lost: {e}")),
            None => return Err("connection closed".to_owned()),
        }
    }
}

/// [`next_payload`] within `deadline`.
pub async fn next_payload_within(
    ws: &mut Socket,
    deadline: Duration,
    waiting_for: &str,
) -> Result<Vec<u8>, String> {
    tokio::time::timeout(deadline, next_payload(ws))
        .await
        .unwrap_or_else(|_| Err(format!("no {waiting_for} within {deadline:?}")))
}
