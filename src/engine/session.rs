//! The agent's trading-day clock: session window, `flatten_at` and the candle grid origin,
//! computed once per exchange-local day and cached, so a timestamp costs a few integer
//! comparisons on the hot path.
//!
//! With the NYSE calendar, holidays and special closures have no session (every price is out
//! of session) and early-close days close at 13:00 (17:00 for extended hours); dates the
//! calendar cannot answer for (outside 2000–2030) fail closed, like the calendar itself. A 24x7
//! calendar trades the whole day.

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;

use crate::calendar::{Calendar, Hours};
use crate::model::Timestamp;
use crate::strategy::Phase;

/// Which hours of each day the agent trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Fixed local times every day: `[open, close)`.
    Fixed {
        /// Session open.
        open: NaiveTime,
        /// Session close (exclusive).
        close: NaiveTime,
    },
    /// The calendar's regular or extended session of each day (none on closed days).
    Calendar(Calendar, Hours),
    /// An explicit window on the calendar's trading days only, cut at its extended close.
    CalendarWindow(Calendar, NaiveTime, NaiveTime),
    /// The whole day, every day (24x7).
    AllDay,
}

/// Session hours in exchange-local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionHours {
    /// The trading window.
    pub window: Window,
    /// Flatten time, if any.
    pub flatten_at: Option<NaiveTime>,
}

/// The cached bounds of one exchange-local day, in UTC nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Day {
    /// Local midnight (the candle grid origin).
    pub midnight: i64,
    /// Next local midnight.
    pub next: i64,
    /// Session open.
    pub open: i64,
    /// Session close.
    pub close: i64,
    /// Flatten time (`close` when unset).
    pub flatten: i64,
    /// Days since 1970-01-01 of the local date.
    pub index: i64,
}

/// The session clock.
#[derive(Debug, Clone)]
pub struct SessionClock {
    tz: Tz,
    hours: SessionHours,
    day: Day,
}

fn local_ns(tz: Tz, date: NaiveDate, t: NaiveTime) -> i64 {
    let naive = date.and_time(t);
    // Ambiguous or skipped local times (DST changes) resolve to the earliest valid instant.
    let dt = tz
        .from_local_datetime(&naive)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(naive + chrono::Duration::hours(1))).earliest());
    dt.map_or(i64::MAX, |d| Timestamp::from_datetime(&d).0)
}

impl SessionClock {
    /// A clock for `hours` in `tz`.
    pub fn new(tz: Tz, hours: SessionHours) -> Self {
        Self { tz, hours, day: Day { midnight: i64::MAX, next: i64::MIN, ..Day::default() } }
    }

    /// The day containing `ts` (recomputed only when `ts` leaves the cached day).
    #[inline]
    pub fn day(&mut self, ts: Timestamp) -> Day {
        if ts.0 < self.day.midnight || ts.0 >= self.day.next {
            self.recompute(ts);
        }
        self.day
    }

    #[cold]
    fn recompute(&mut self, ts: Timestamp) {
        let date = ts.to_exchange(self.tz).date_naive();
        let midnight = local_ns(self.tz, date, NaiveTime::MIN);
        let next = date.succ_opt().map_or(i64::MAX, |d| local_ns(self.tz, d, NaiveTime::MIN));
        let ns = |dt: chrono::DateTime<Tz>| Timestamp::from_datetime(&dt).0;
        let (open, close) = match self.hours.window {
            Window::Fixed { open, close } => (local_ns(self.tz, date, open), local_ns(self.tz, date, close)),
            Window::AllDay => (midnight, next),
            Window::Calendar(cal, hours) => match cal.window(date, hours) {
                Ok(Some((o, c))) => (ns(o), ns(c)),
                // Closed day, or a date the calendar cannot answer for: no session.
                _ => (midnight, midnight),
            },
            Window::CalendarWindow(cal, o, c) => match cal.session(date) {
                Ok(Some(s)) => (local_ns(self.tz, date, o), local_ns(self.tz, date, c).min(ns(s.post_close))),
                _ => (midnight, midnight),
            },
        };
        let flatten = self.hours.flatten_at.map_or(close, |f| local_ns(self.tz, date, f).min(close));
        let index = i64::from(date.num_days_from_ce()) - 719_163;
        self.day = Day { midnight, next, open, close, flatten, index };
    }

    /// Where `ts` falls in its trading day.
    #[inline]
    pub fn phase(&mut self, ts: Timestamp) -> (Phase, Day) {
        let d = self.day(ts);
        let phase = if ts.0 < d.open || ts.0 >= d.close {
            Phase::OutOfSession
        } else if ts.0 >= d.flatten {
            Phase::AfterFlatten
        } else {
            Phase::Open
        };
        (phase, d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ny(s: &str) -> Timestamp {
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(s).unwrap())
    }

    #[test]
    fn phases_of_a_regular_day() {
        let hours = SessionHours {
            window: Window::Fixed {
                open: NaiveTime::from_hms_opt(9, 30, 0).unwrap(),
                close: NaiveTime::from_hms_opt(16, 0, 0).unwrap(),
            },
            flatten_at: NaiveTime::from_hms_opt(15, 55, 0),
        };
        let mut c = SessionClock::new(crate::model::NEW_YORK, hours);
        assert_eq!(c.phase(ny("2013-10-07T09:29:59.999-04:00")).0, Phase::OutOfSession);
        assert_eq!(c.phase(ny("2013-10-07T09:30:00-04:00")).0, Phase::Open);
        assert_eq!(c.phase(ny("2013-10-07T15:54:59.999-04:00")).0, Phase::Open);
        assert_eq!(c.phase(ny("2013-10-07T15:55:00-04:00")).0, Phase::AfterFlatten);
        assert_eq!(c.phase(ny("2013-10-07T16:00:00-04:00")).0, Phase::OutOfSession);
        let (_, d) = c.phase(ny("2013-10-08T12:00:00-04:00"));
        assert_eq!(d.midnight, ny("2013-10-08T00:00:00-04:00").0);
        assert_eq!(d.index, 15_986);
    }

    #[test]
    fn nyse_calendar_closes_holidays_and_closes_early() {
        let hours = SessionHours {
            window: Window::Calendar(Calendar::nyse(), Hours::Regular),
            flatten_at: NaiveTime::from_hms_opt(15, 55, 0),
        };
        let mut c = SessionClock::new(crate::model::NEW_YORK, hours);
        // Thanksgiving 2013: closed all day.
        assert_eq!(c.phase(ny("2013-11-28T12:00:00-05:00")).0, Phase::OutOfSession);
        // The day after: early close at 13:00, so flatten_at (15:55) is cut to 13:00.
        assert_eq!(c.phase(ny("2013-11-29T12:59:59-05:00")).0, Phase::Open);
        assert_eq!(c.phase(ny("2013-11-29T13:00:00-05:00")).0, Phase::OutOfSession);
        assert_eq!(c.phase(ny("2013-11-27T15:55:00-05:00")).0, Phase::AfterFlatten);
        // Outside the calendar's range: fail closed.
        assert_eq!(c.phase(ny("1999-06-01T12:00:00-04:00")).0, Phase::OutOfSession);
        let mut all = SessionClock::new(
            crate::model::NEW_YORK,
            SessionHours { window: Window::AllDay, flatten_at: None },
        );
        assert_eq!(all.phase(ny("2013-11-28T03:00:00-05:00")).0, Phase::Open);
    }
}
