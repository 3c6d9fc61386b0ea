//! Timeframes and trading sessions for candle building.
//!
//! - [`Timeframe`]: a bucket length from `1s` to `4h`, parsed from `"1s"`, `"5m"`, `"4h"`.
//! - [`SessionSpec`]: which hours count: regular (09:30–16:00), extended (04:00–20:00),
//!   the whole day, or an explicit `{start, end}`, in the exchange time zone.
//! - [`SessionCalendar`]: *which days* trade and the exact session window of a day. The
//!   default [`WeekdaySessions`] trades every Monday–Friday with no holidays; the NYSE calendar
//!   (holidays, 13:00 early closes) plugs in by implementing the trait, or as a closure
//!   `Fn(NaiveDate) -> Option<Session>`.

use std::str::FromStr;

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;

use crate::model::Timestamp;

/// A candle length from 1 second to 4 hours: the recipe's `timeframe` type, the one definition.
pub use crate::recipe::types::Timeframe;

/// One trading session: `[open, close)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// First instant of the session.
    pub open: Timestamp,
    /// End of the session (exclusive).
    pub close: Timestamp,
}

impl Session {
    /// Whether `ts` lies in `[open, close)`.
    pub fn contains(&self, ts: Timestamp) -> bool {
        self.open <= ts && ts < self.close
    }
}

/// Which hours of a trading day count, in the exchange time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionSpec {
    /// Regular trading hours, 09:30–16:00.
    Regular,
    /// Extended hours, 04:00–20:00 (Lean's equity data covers these).
    Extended,
    /// The whole calendar day, 00:00–24:00 (crypto).
    FullDay,
    /// Explicit hours; `start < end`, within one day.
    Custom {
        /// Session start (local).
        start: NaiveTime,
        /// Session end (local, exclusive).
        end: NaiveTime,
    },
}

impl SessionSpec {
    /// Local `[start, end)` as seconds since midnight (end may be 86 400).
    pub fn local_bounds(self) -> (u32, u32) {
        use chrono::Timelike;
        match self {
            Self::Regular => (9 * 3600 + 30 * 60, 16 * 3600),
            Self::Extended => (4 * 3600, 20 * 3600),
            Self::FullDay => (0, 86_400),
            Self::Custom { start, end } => {
                (start.num_seconds_from_midnight(), end.num_seconds_from_midnight())
            }
        }
    }

    /// The session window of `date` in `tz` (no holiday logic).
    pub fn window(self, date: NaiveDate, tz: Tz) -> Option<Session> {
        let (s, e) = self.local_bounds();
        Some(Session { open: local_instant(date, s, tz)?, close: local_instant(date, e, tz)? })
    }
}

impl FromStr for SessionSpec {
    type Err = String;

    /// `regular`, `extended`, `full` (or `24h`), or `HH:MM-HH:MM`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "regular" | "rth" => Ok(Self::Regular),
            "extended" | "eth" => Ok(Self::Extended),
            "full" | "24h" | "all" => Ok(Self::FullDay),
            other => {
                let bad = || format!("bad session `{s}`: expected regular, extended, full or HH:MM-HH:MM");
                let (a, b) = other.split_once('-').ok_or_else(bad)?;
                let start = NaiveTime::parse_from_str(a.trim(), "%H:%M").map_err(|_| bad())?;
                let end = NaiveTime::parse_from_str(b.trim(), "%H:%M").map_err(|_| bad())?;
                if start >= end {
                    return Err(format!(
                        "bad session `{s}`: start must be before end (overnight sessions are not supported)"
                    ));
                }
                Ok(Self::Custom { start, end })
            }
        }
    }
}

/// The instant of `secs` seconds after local midnight of `date` in `tz` (wall clock).
/// An ambiguous wall time (DST fall-back) takes the earlier instant; a skipped one, `None`.
pub fn local_instant(date: NaiveDate, secs: u32, tz: Tz) -> Option<Timestamp> {
    let (date, secs) = if secs >= 86_400 { (date.succ_opt()?, secs - 86_400) } else { (date, secs) };
    let t = NaiveTime::from_num_seconds_from_midnight_opt(secs, 0)?;
    let dt = tz.from_local_datetime(&date.and_time(t)).earliest()?;
    Some(Timestamp::from_datetime(&dt))
}

/// Tells the candle builder the session window of a trading day.
pub trait SessionCalendar {
    /// The exchange time zone (bucket grids are aligned to its midnight).
    fn tz(&self) -> Tz;
    /// The session of `date` (a local date), or `None` if the market is closed that day.
    fn session(&self, date: NaiveDate) -> Option<Session>;
}

/// One calendar shared by many builders (one per symbol and timeframe).
impl<T: SessionCalendar + ?Sized> SessionCalendar for &T {
    fn tz(&self) -> Tz {
        (**self).tz()
    }

    fn session(&self, date: NaiveDate) -> Option<Session> {
        (**self).session(date)
    }
}

impl<T: SessionCalendar + ?Sized> SessionCalendar for std::sync::Arc<T> {
    fn tz(&self) -> Tz {
        (**self).tz()
    }

    fn session(&self, date: NaiveDate) -> Option<Session> {
        (**self).session(date)
    }
}

impl<T: SessionCalendar + ?Sized> SessionCalendar for Box<T> {
    fn tz(&self) -> Tz {
        (**self).tz()
    }

    fn session(&self, date: NaiveDate) -> Option<Session> {
        (**self).session(date)
    }
}

/// Every Monday–Friday (or every day) with a fixed [`SessionSpec`]; no holidays.
#[derive(Debug, Clone, Copy)]
pub struct WeekdaySessions {
    /// Hours that count.
    pub spec: SessionSpec,
    /// Exchange time zone.
    pub tz: Tz,
    /// Trade on Saturdays and Sundays too (crypto).
    pub weekends: bool,
}

impl WeekdaySessions {
    /// Monday–Friday in New York.
    pub fn new_york(spec: SessionSpec) -> Self {
        Self { spec, tz: crate::model::NEW_YORK, weekends: false }
    }
}

impl SessionCalendar for WeekdaySessions {
    fn tz(&self) -> Tz {
        self.tz
    }

    fn session(&self, date: NaiveDate) -> Option<Session> {
        if !self.weekends && matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            return None;
        }
        self.spec.window(date, self.tz)
    }
}

/// A calendar from a time zone and a closure; lets the NYSE calendar plug in without a new type:
/// `FnSessions { tz: NEW_YORK, f: |d| nyse.session(d) }`.
#[derive(Debug, Clone, Copy)]
pub struct FnSessions<F> {
    /// Exchange time zone.
    pub tz: Tz,
    /// The session of a local date.
    pub f: F,
}

impl<F: Fn(NaiveDate) -> Option<Session>> SessionCalendar for FnSessions<F> {
    fn tz(&self) -> Tz {
        self.tz
    }

    fn session(&self, date: NaiveDate) -> Option<Session> {
        (self.f)(date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeframes_parse_and_print() {
        for (s, secs) in [("1s", 1), ("30s", 30), ("5m", 300), ("1h", 3600), ("4h", 14_400), ("90m", 5400)] {
            let tf: Timeframe = s.parse().unwrap();
            assert_eq!(tf.seconds(), secs);
        }
        assert_eq!("90m".parse::<Timeframe>().unwrap().to_string(), "90m");
        for bad in ["", "0s", "5h", "m", "5x", "-1m", "1d"] {
            assert!(bad.parse::<Timeframe>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sessions_parse() {
        assert_eq!("regular".parse::<SessionSpec>().unwrap(), SessionSpec::Regular);
        assert!(matches!("09:30-13:00".parse::<SessionSpec>().unwrap(), SessionSpec::Custom { .. }));
        assert!("16:00-09:30".parse::<SessionSpec>().is_err());
    }
}
