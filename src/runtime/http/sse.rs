//! `GET /api/events`: the hub's events as server-sent events.
//!
//! The stream opens with a `hello` event holding the fleet and every agent's view as they are
//! when the subscription starts (`{"seq", "fleet", "agents"}`), then each hub event as
//! `id: <seq>` / `event: <kind>` / `data: <the event's JSON>`; a `: keep-alive` comment every
//! 15 s keeps proxies from closing it. A subscriber that falls more than the bus's capacity
//! behind gets `event: lagged` with `{"missed": n}` and should reload its snapshot. The stream
//! ends when the server stops.
//!
//! What belongs here: turning the bus into that stream. Trading never waits on it: the hub's
//! bus drops what a slow subscriber has not read.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use super::api::AppState;
use crate::runtime::hub::HubEvent;

/// How often an idle stream sends a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The SSE frame of one hub event.
pub fn frame(ev: &HubEvent) -> Event {
    let value = serde_json::to_value(ev).unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}));
    let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("event").to_owned();
    Event::default().id(ev.seq.to_string()).event(kind).data(value.to_string())
}

enum Step {
    Hello(Event, broadcast::Receiver<Arc<HubEvent>>, watch::Receiver<bool>),
    Live(broadcast::Receiver<Arc<HubEvent>>, watch::Receiver<bool>),
}

/// The stream of one subscriber.
fn stream(
    hello: Event,
    rx: broadcast::Receiver<Arc<HubEvent>>,
    stop: watch::Receiver<bool>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(Some(Step::Hello(hello, rx, stop)), |step| async move {
        match step? {
            Step::Hello(hello, rx, stop) => Some((Ok(hello), Some(Step::Live(rx, stop)))),
            Step::Live(mut rx, mut stop) => {
                if *stop.borrow() {
                    return None;
                }
                tokio::select! {
                    got = rx.recv() => match got {
                        Ok(ev) => Some((Ok(frame(&ev)), Some(Step::Live(rx, stop)))),
                        Err(RecvError::Lagged(n)) => {
                            let ev = Event::default()
                                .event("lagged")
                                .data(serde_json::json!({ "missed": n }).to_string());
                            Some((Ok(ev), Some(Step::Live(rx, stop))))
                        }
                        Err(RecvError::Closed) => None,
                    },
                    _ = stop.changed() => None,
                }
            }
        }
    })
}

/// `GET /api/events`.
pub async fn events(State(state): State<AppState>) -> Response {
    let Some(hub) = state.hub.as_ref() else {
        return super::api::error(axum::http::StatusCode::NOT_FOUND, "no running fleet here");
    };
    // Subscribe first: nothing published after the snapshot is missed.
    let rx = hub.subscribe();
    let hello = serde_json::json!({ "seq": hub.seq(), "fleet": hub.fleet(), "agents": hub.agents() });
    let hello = Event::default().id(hub.seq().to_string()).event("hello").data(hello.to_string());
    let mut r = Sse::new(stream(hello, rx, state.stop.clone()))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response();
    r.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-cache"));
    r
}
