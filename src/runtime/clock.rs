//! What time it is for a running agent, and when to wake it if no market event does.
//!
//! The agent has no clock: time reaches it with its events. The runtime's clock decides when
//! a [`Timer`] the agent asked for is delivered without a market event:
//!
//! - [`DataClock`]: the data's time (a backtest, a replay at `--speed max`). A timer is
//!   delivered when the data jumps past its `deliver_by`; nothing sleeps.
//! - [`PacedClock`]: a replay paced at a multiple of real time. Data time runs with the wall
//!   clock from the first event on; a timer is delivered when that time passes its
//!   `deliver_by` — the same moment in data time as [`DataClock`], so a paced replay trades
//!   exactly as the backtest does, even through a quiet stretch of the tape.
//! - [`WallClock`]: the wall clock. A timer is delivered at its `at`.
//! - [`FeedClock`]: live feeds. The feed's time, run on by the wall clock between events: a
//!   feed that goes quiet at 15:50 still flattens at 15:55 (live, the feed's time is the wall
//!   clock's, less its latency), and a feed that runs ahead of the wall clock (a recorded day
//!   streamed by a test server) delivers timers by its data, as a replay does.

use std::time::{Duration, Instant};

use crate::engine::agent::Timer;
use crate::model::Timestamp;

/// The runtime's time for one agent.
pub trait Clock: Send {
    /// Now, in data time.
    fn now(&self) -> Timestamp;
    /// A market event stamped `ts` arrived.
    fn seen(&mut self, ts: Timestamp);
    /// When (wall clock) to deliver `timer` if no market event does first; `None` when only
    /// the data delivers it.
    fn wake_at(&self, timer: &Timer) -> Option<Instant>;
}

/// The data's time: timers are delivered by the data ([`crate::runtime::lockstep`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct DataClock {
    last: Timestamp,
}

impl Clock for DataClock {
    fn now(&self) -> Timestamp {
        self.last
    }

    fn seen(&mut self, ts: Timestamp) {
        self.last = self.last.max(ts);
    }

    fn wake_at(&self, _timer: &Timer) -> Option<Instant> {
        None
    }
}

/// Data time running at `speed` × the wall clock from the first event on.
#[derive(Debug, Clone, Copy)]
pub struct PacedClock {
    speed: f64,
    /// The wall instant and data time of the first event.
    anchor: Option<(Instant, Timestamp)>,
}

impl PacedClock {
    /// A clock at `speed` × real time (> 0).
    pub fn new(speed: f64) -> Self {
        Self { speed, anchor: None }
    }

    fn wall(&self, ts: Timestamp) -> Option<Instant> {
        let (start, t0) = self.anchor?;
        let nanos = ts.0.saturating_sub(t0.0).max(0) as f64 / self.speed;
        Some(start + Duration::from_nanos(nanos.min(u64::MAX as f64) as u64))
    }
}

impl Clock for PacedClock {
    fn now(&self) -> Timestamp {
        match self.anchor {
            Some((start, t0)) => {
                let ahead = start.elapsed().as_nanos() as f64 * self.speed;
                t0.add_nanos(ahead.min(i64::MAX as f64) as i64)
            }
            None => Timestamp(0),
        }
    }

    fn seen(&mut self, ts: Timestamp) {
        if self.anchor.is_none() {
            self.anchor = Some((Instant::now(), ts));
        }
    }

    fn wake_at(&self, timer: &Timer) -> Option<Instant> {
        self.wall(timer.deliver_by)
    }
}

/// The wall clock (live feeds).
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(&chrono::Utc::now())
    }

    fn seen(&mut self, _ts: Timestamp) {}

    fn wake_at(&self, timer: &Timer) -> Option<Instant> {
        let ahead = timer.at.0.saturating_sub(self.now().0).max(0);
        Some(Instant::now() + Duration::from_nanos(u64::try_from(ahead).unwrap_or_default()))
    }
}

/// The feed's time, run on by the wall clock since its latest event; never goes back.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeedClock {
    /// The wall instant of the latest event and the feed time it set.
    anchor: Option<(Instant, Timestamp)>,
}

impl Clock for FeedClock {
    fn now(&self) -> Timestamp {
        match self.anchor {
            Some((at, t)) => t.add_nanos(i64::try_from(at.elapsed().as_nanos()).unwrap_or(i64::MAX)),
            None => Timestamp::from_datetime(&chrono::Utc::now()),
        }
    }

    fn seen(&mut self, ts: Timestamp) {
        let now = self.now();
        self.anchor = Some((Instant::now(), if self.anchor.is_some() { ts.max(now) } else { ts }));
    }

    fn wake_at(&self, timer: &Timer) -> Option<Instant> {
        let ahead = timer.at.0.saturating_sub(self.now().0).max(0);
        Some(Instant::now() + Duration::from_nanos(u64::try_from(ahead).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = Timestamp::NANOS_PER_SEC;

    fn timer(at: i64, deliver_by: i64) -> Timer {
        Timer { at: Timestamp(at), deliver_by: Timestamp(deliver_by) }
    }

    #[test]
    fn the_data_clock_never_sleeps_and_follows_the_data() {
        let mut c = DataClock::default();
        c.seen(Timestamp(5));
        c.seen(Timestamp(3));
        assert_eq!(c.now(), Timestamp(5));
        assert_eq!(c.wake_at(&timer(10, 20)), None);
    }

    #[test]
    fn a_paced_clock_wakes_at_deliver_by_in_scaled_time() {
        let mut c = PacedClock::new(60.0);
        assert_eq!(c.wake_at(&timer(10, 20)), None, "no time before the first event");
        c.seen(Timestamp(1_000 * SEC));
        let (start, _) = c.anchor.expect("anchored");
        // 60 s of data time later is one wall second after the first event.
        assert_eq!(c.wake_at(&timer(1_030 * SEC, 1_060 * SEC)), Some(start + Duration::from_secs(1)));
        assert!(c.now() >= Timestamp(1_000 * SEC));
    }

    #[test]
    fn the_feed_clock_follows_a_feed_that_runs_ahead_and_never_goes_back() {
        let mut c = FeedClock::default();
        c.seen(Timestamp(1_000 * SEC));
        let t = c.now();
        assert!(t >= Timestamp(1_000 * SEC) && t < Timestamp(1_001 * SEC), "{t:?}");
        c.seen(Timestamp(500 * SEC));
        assert!(c.now() >= Timestamp(1_000 * SEC), "a late event does not move time back");
        c.seen(Timestamp(5_000 * SEC));
        let soon = c.wake_at(&timer(5_002 * SEC, 5_003 * SEC)).expect("wakes");
        let d = soon.duration_since(Instant::now());
        assert!(d <= Duration::from_secs(2) && d > Duration::from_millis(1500), "{d:?}");
    }

    #[test]
    fn the_wall_clock_wakes_at_the_timer_itself() {
        let c = WallClock;
        let now = c.now();
        let soon = c.wake_at(&timer(now.0 + 2 * SEC, now.0 + 3_600 * SEC)).expect("wakes");
        let d = soon.duration_since(Instant::now());
        assert!(d <= Duration::from_secs(2) && d > Duration::from_millis(1500), "{d:?}");
        let past = c.wake_at(&timer(now.0 - SEC, now.0)).expect("wakes");
        assert!(past <= Instant::now());
    }
}
