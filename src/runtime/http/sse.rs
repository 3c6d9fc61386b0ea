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
use crate::engine::agent::AgentEvent;
use crate::runtime::hub::{Body, FleetNote, HubEvent};

/// How often an idle stream sends a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The name of an event's kind, as its `kind` field spells it.
pub fn kind_of(body: &Body) -> &'static str {
    match body {
        Body::Agent(ev) => match ev {
            AgentEvent::Candle(_) => "candle",
            AgentEvent::Signal(_) => "signal",
            AgentEvent::External(_) => "external",
            AgentEvent::Denied(_) => "denied",
            AgentEvent::OrderSent(_) => "order_sent",
            AgentEvent::Order(_) => "order",
            AgentEvent::State { .. } => "state",
            AgentEvent::Info { .. } => "info",
            AgentEvent::Warning { .. } => "warning",
            AgentEvent::Position { .. } => "position",
            AgentEvent::Connectivity(_) => "connectivity",
        },
        Body::Fleet(note) => match note {
            FleetNote::Snapshot(_) => "snapshot",
            FleetNote::Health { .. } => "health",
            FleetNote::Control(_) => "control",
            FleetNote::FleetHalt { .. } => "fleet_halt",
            FleetNote::Finished { .. } => "finished",
        },
    }
}

/// The SSE frame of one hub event: `id` its sequence number, `event` its kind, `data` its JSON.
pub fn frame(ev: &HubEvent) -> Event {
    let kind = kind_of(&ev.body);
    let data = serde_json::to_string(ev)
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string());
    Event::default().id(ev.seq.to_string()).event(kind).data(data)
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
    let seq = hub.seq();
    let hello = serde_json::json!({ "seq": seq, "fleet": hub.fleet(), "agents": hub.agents() });
    let hello = Event::default().id(seq.to_string()).event("hello").data(hello.to_string());
    let mut r = Sse::new(stream(hello, rx, state.stop.clone()))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response();
    r.headers_mut()
        .insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(seq: u64) -> Arc<HubEvent> {
        Arc::new(HubEvent {
            seq,
            agent: "a".to_owned(),
            wall: "2026-12-03T00:00:00.000Z".to_owned(),
            body: Body::Fleet(FleetNote::Health { health: format!("ok {seq}") }),
        })
    }

    /// The stream as the client reads it, until the bus closes.
    async fn read(rx: broadcast::Receiver<Arc<HubEvent>>, stop: watch::Receiver<bool>) -> String {
        let hello = Event::default().id("0").event("hello").data("{}");
        let body = Sse::new(stream(hello, rx, stop)).into_response().into_body();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("the stream ends");
        String::from_utf8(bytes.to_vec()).expect("UTF-8")
    }

    #[tokio::test]
    async fn hello_then_events_and_a_lagging_reader_is_told_how_many_it_missed() {
        let (tx, rx) = broadcast::channel(2);
        let (_stop_tx, stop) = watch::channel(false);
        for seq in 1..=5 {
            tx.send(health(seq)).expect("a receiver");
        }
        drop(tx);
        let text = read(rx, stop).await;
        let want = "id: 0\nevent: hello\ndata: {}\n\n\
                    event: lagged\ndata: {\"missed\":3}\n\n\
                    id: 4\nevent: health\ndata: {\"seq\":4,\"agent\":\"a\",\"wall\":\"2026-12-03T00:00:00.000Z\",\"kind\":\"health\",\"health\":\"ok 4\"}\n\n\
                    id: 5\nevent: health\ndata: {\"seq\":5,\"agent\":\"a\",\"wall\":\"2026-12-03T00:00:00.000Z\",\"kind\":\"health\",\"health\":\"ok 5\"}\n\n";
        assert_eq!(text, want);
    }

    #[tokio::test]
    async fn the_stream_ends_when_the_server_stops() {
        let (tx, rx) = broadcast::channel(8);
        let (stop_tx, stop) = watch::channel(false);
        let reader = tokio::spawn(read(rx, stop));
        tokio::task::yield_now().await;
        stop_tx.send(true).expect("a receiver");
        let text = tokio::time::timeout(Duration::from_secs(5), reader).await.expect("ended").expect("task");
        assert!(text.starts_with("id: 0\nevent: hello\n"), "{text}");
        drop(tx);
    }
}
