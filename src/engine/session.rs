//! The agent's trading-day clock: session window, `flatten_at` and the candle grid origin,
//! computed once per exchange-local day and cached, so a timestamp costs a few integer
//! comparisons on the hot path.
//!
//! Holidays and early closes come from the calendar module (hook: [`SessionClock::new`]
//! takes fixed hours today; NYSE early closes are not applied yet).

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;

use crate::model::Timestamp;
use crate::strategy::Phase;

/// Session hours in exchange-local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionHours {
    /// Session open.
    pub open: NaiveTime,
    /// Session close (exclusive).
    pub close: NaiveTime,
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
        let open = local_ns(self.tz, date, self.hours.open);
        let close = local_ns(self.tz, date, self.hours.close);
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
            open: NaiveTime::from_hms_opt(9, 30, 0).unwrap(),
            close: NaiveTime::from_hms_opt(16, 0, 0).unwrap(),
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
}
