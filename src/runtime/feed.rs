//! A replay as a market-data feed ([`MarketDataClient`]): the recorded events, read on a
//! blocking thread ahead of the agent, paced against the wall clock when asked (`--speed 60x`),
//! handed over through a bounded channel. The end of the data is the end of the feed; a bad row
//! is a terminal error at its place in the stream.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::market::event::MarketEvent;
use crate::market::replay::Replay;
use crate::venue::{DataEvent, MarketDataClient, Subscription, VenueError, VenueFuture};

/// How many events may wait between the reader thread and the agent.
const AHEAD: usize = 4096;

/// A replay served as a feed.
pub struct ReplayFeed {
    replay: Option<Replay>,
    /// A multiple of real time, or `None` for as fast as the agent takes it.
    pace: Option<f64>,
    events: Option<mpsc::Receiver<Result<MarketEvent, String>>>,
}

impl ReplayFeed {
    /// Serve `replay` at `pace` × real time (`None`: as fast as it is read).
    pub fn new(replay: Replay, pace: Option<f64>) -> Self {
        Self { replay: Some(replay), pace, events: None }
    }
}

/// Read `replay` into `tx`, sleeping until each event's time at `pace` × real time; stops when
/// the receiver is gone.
fn pump(replay: Replay, pace: Option<f64>, tx: &mpsc::Sender<Result<MarketEvent, String>>) {
    let start = Instant::now();
    let mut first: Option<i64> = None;
    for ev in replay {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                let _ = tx.blocking_send(Err(format!("{e:#}")));
                return;
            }
        };
        if let Some(f) = pace {
            let t0 = *first.get_or_insert(ev.ts().0);
            let due = Duration::from_secs_f64(((ev.ts().0 - t0) as f64 / 1e9) / f);
            loop {
                let elapsed = start.elapsed();
                if due <= elapsed || tx.is_closed() {
                    break;
                }
                std::thread::sleep((due - elapsed).min(Duration::from_millis(50)));
            }
        }
        if tx.blocking_send(Ok(ev)).is_err() {
            return;
        }
    }
}

impl MarketDataClient for ReplayFeed {
    /// Start reading (once; must run inside a tokio runtime).
    fn connect(&mut self) -> VenueFuture<'_, ()> {
        if let Some(replay) = self.replay.take() {
            let (tx, rx) = mpsc::channel(AHEAD);
            let pace = self.pace;
            tokio::task::spawn_blocking(move || pump(replay, pace, &tx));
            self.events = Some(rx);
        }
        Box::pin(async { Ok(()) })
    }

    /// A replay's files are its subscription: nothing to ask for.
    fn subscribe(&mut self, _subscriptions: &[Subscription]) -> VenueFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    fn next_event(&mut self) -> VenueFuture<'_, Option<DataEvent>> {
        Box::pin(async move {
            let Some(rx) = self.events.as_mut() else {
                return Err(VenueError::Terminal("the replay feed is not connected".to_owned()));
            };
            match rx.recv().await {
                Some(Ok(ev)) => Ok(Some(DataEvent::Market(ev))),
                Some(Err(e)) => Err(VenueError::Terminal(e)),
                None => Ok(None),
            }
        })
    }
}
