//! Trading sessions and the trading-day clock: the one session implementation, used by the
//! engine's agents and by `runner candles`.
//!
//! What belongs here:
//! - the session's vocabulary, as a recipe writes it: [`Timeframe`] (a candle length from `1s`
//!   to `4h`, or `1d`: one candle per trading session), [`ClockTime`] (`"15:55"`), [`CalendarKind`] and [`Hours`] (`regular`,
//!   `extended` or an explicit [`HoursWindow`]);
//! - [`Window`]: which hours of each day count — the NYSE calendar's regular or extended
//!   session (holidays and special closures have no session, early-close days end at 13:00,
//!   17:00 extended), an explicit window on the calendar's trading days, fixed hours every day,
//!   or the whole day (24x7). [`Window::new`] maps a calendar and hours to it; its [`FromStr`]
//!   reads the `runner candles --session` syntax;
//! - [`SessionClock`]: the session window, `flatten_at` and the candle grid origin of each
//!   exchange-local day, computed once per day ([`Day`]) and cached, so a timestamp costs a
//!   few integer comparisons on the hot path;
//! - [`local_instant`]: a wall-clock time of a local date as an instant.
//!
//! Dates the NYSE calendar cannot answer for (outside 2000–2030) fail closed: no session.
//! The candle grid ([`Day::bucket`]) follows the wall clock: buckets are aligned to local
//! midnight, and on a day with a daylight-saving change the grid after the change is aligned
//! to local midnight in the new offset (the bucket containing the change is cut at it).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Offset, TimeZone};
use chrono_tz::Tz;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, Hours as CalendarHours};
use crate::model::{Timestamp, string_serde};
use crate::strategy::Phase;

/// A candle timeframe such as `1s`, `30s`, `5m`, `1h`, `4h` (from 1 second to 4 hours), or
/// `1d`: one candle per trading session, from its open to its close (see [`Day::bucket`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeframe {
    seconds: u32,
}

impl Timeframe {
    /// The longest intraday timeframe, in seconds (4 hours).
    pub const MAX_SECONDS: u32 = 4 * 3600;

    /// `1d`, in seconds: a daily candle (one per session, whatever the session's length).
    pub const DAY_SECONDS: u32 = 86_400;

    /// From a number of seconds (1 ..= 14400, or 86400 for `1d`).
    pub fn from_seconds(seconds: u32) -> Option<Self> {
        ((1..=Self::MAX_SECONDS).contains(&seconds) || seconds == Self::DAY_SECONDS)
            .then_some(Self { seconds })
    }

    /// Whether this is `1d` (one candle per session).
    pub fn is_daily(self) -> bool {
        self.seconds == Self::DAY_SECONDS
    }

    /// Length in seconds.
    pub fn seconds(self) -> u32 {
        self.seconds
    }

    /// Length in nanoseconds.
    pub fn nanos(self) -> i64 {
        i64::from(self.seconds) * 1_000_000_000
    }
}

impl FromStr for Timeframe {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{s}` is not a timeframe: write a number and a unit s, m or h (e.g. \"5m\"), or \"1d\"")
        };
        let range = || format!("`{s}` is out of range: timeframes go from 1s to 4h, or 1d (one session)");
        let t = s.trim();
        let unit = t.chars().last().ok_or_else(bad)?;
        let n: u32 = t[..t.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
        let mult = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            // A day is a session, not 24 hours: only `1d`.
            'd' if n == 1 => return Ok(Self { seconds: Self::DAY_SECONDS }),
            'd' => return Err(range()),
            _ => return Err(bad()),
        };
        n.checked_mul(mult)
            .filter(|&secs| secs <= Self::MAX_SECONDS)
            .and_then(Self::from_seconds)
            .ok_or_else(range)
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        if self.is_daily() {
            f.write_str("1d")
        } else if s.is_multiple_of(3600) {
            write!(f, "{}h", s / 3600)
        } else if s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

string_serde!(Timeframe, "a timeframe such as \"5m\"");

impl JsonSchema for Timeframe {
    fn schema_name() -> Cow<'static, str> {
        "Timeframe".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^([1-9][0-9]*[smh]|1d)$",
            "description": "Candle length: a number and a unit s, m or h, from 1s to 4h; or 1d, one candle per trading session (open to close).",
            "examples": ["1s", "5m", "1h", "1d"]
        })
    }
}

/// A wall-clock time in the exchange time zone, written `"HH:MM"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(pub NaiveTime);

impl FromStr for ClockTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let ok = t.len() == 5 && t.as_bytes()[2] == b':';
        let parsed = if ok { NaiveTime::parse_from_str(t, "%H:%M").ok() } else { None };
        parsed
            .map(Self)
            .ok_or_else(|| format!("`{s}` is not a time: write it as \"HH:MM\" (24-hour), e.g. \"15:55\""))
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

string_serde!(ClockTime, "a time such as \"15:55\"");

impl JsonSchema for ClockTime {
    fn schema_name() -> Cow<'static, str> {
        "ClockTime".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
            "description": "A time of day in the exchange time zone, \"HH:MM\" (24-hour).",
            "examples": ["09:30", "15:55"]
        })
    }
}

/// Trading calendars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CalendarKind {
    /// New York Stock Exchange: holidays, early closes, 09:30–16:00 regular hours.
    #[default]
    Nyse,
    /// Always open (crypto).
    #[serde(rename = "24x7")]
    AllDay,
}

/// Named session windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NamedHours {
    /// Regular hours (NYSE 09:30–16:00, 13:00 on early-close days).
    Regular,
    /// Extended hours (NYSE 04:00–20:00).
    Extended,
}

/// An explicit session window in the exchange time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HoursWindow {
    /// Session start, "HH:MM".
    pub start: ClockTime,
    /// Session end, "HH:MM".
    pub end: ClockTime,
}

/// Trading hours: `regular`, `extended` or an explicit `{start, end}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Hours {
    /// A named window.
    Named(NamedHours),
    /// An explicit window.
    Window(HoursWindow),
}

impl Default for Hours {
    fn default() -> Self {
        Self::Named(NamedHours::Regular)
    }
}

/// The end of the NYSE's full regular session; an explicit window ending by then ends at the
/// regular close on early-close days.
const REGULAR_CLOSE: NaiveTime = match NaiveTime::from_hms_opt(16, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};

/// Which hours of each day count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Fixed local times every day (weekends too): `[open, close)`.
    Fixed {
        /// Session open.
        open: NaiveTime,
        /// Session close (exclusive).
        close: NaiveTime,
    },
    /// The calendar's regular or extended session of each day (none on closed days).
    Calendar(Calendar, CalendarHours),
    /// An explicit window on the calendar's trading days only, inside the day's extended
    /// session; a window ending by 16:00 ends at the regular close on early-close days.
    CalendarWindow(Calendar, NaiveTime, NaiveTime),
    /// The whole day, every day (24x7).
    AllDay,
}

impl Window {
    /// The window of a calendar and its hours (a recipe's `session.calendar` and
    /// `session.hours`), as the engine runs it.
    pub fn new(calendar: CalendarKind, hours: Hours) -> Self {
        match (calendar, hours) {
            (CalendarKind::AllDay, _) => Self::AllDay,
            (CalendarKind::Nyse, Hours::Named(NamedHours::Regular)) => {
                Self::Calendar(Calendar::nyse(), CalendarHours::Regular)
            }
            (CalendarKind::Nyse, Hours::Named(NamedHours::Extended)) => {
                Self::Calendar(Calendar::nyse(), CalendarHours::Extended)
            }
            (CalendarKind::Nyse, Hours::Window(w)) => {
                Self::CalendarWindow(Calendar::nyse(), w.start.0, w.end.0)
            }
        }
    }
}

impl FromStr for Window {
    type Err = String;

    /// `regular`, `extended` (NYSE calendar), `full` (or `24x7`: the whole day, every day), or
    /// `HH:MM-HH:MM` (an explicit window on NYSE trading days) — the recipe's meanings.
    fn from_str(s: &str) -> Result<Self, String> {
        let hours = match s.trim().to_ascii_lowercase().as_str() {
            "regular" | "rth" => Hours::Named(NamedHours::Regular),
            "extended" | "eth" => Hours::Named(NamedHours::Extended),
            "full" | "24x7" | "24h" | "all" => return Ok(Self::AllDay),
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
                Hours::Window(HoursWindow { start: ClockTime(start), end: ClockTime(end) })
            }
        };
        Ok(Self::new(CalendarKind::Nyse, hours))
    }
}

impl SessionHours {
    /// The time zone whose days the session counts in: New York for the exchange calendar and
    /// fixed hours, UTC for 24x7 (crypto days roll once, at UTC midnight — the day boundary of
    /// every crypto venue's daily bars).
    pub fn zone(&self) -> Tz {
        match self.window {
            Window::AllDay => chrono_tz::UTC,
            _ => crate::model::NEW_YORK,
        }
    }
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
    /// Session open (`open == close` on a closed day).
    pub open: i64,
    /// Session close.
    pub close: i64,
    /// Flatten time (`close` when unset).
    pub flatten: i64,
    /// Days since 1970-01-01 of the local date.
    pub index: i64,
    /// The daylight-saving change inside this day, or `next` when there is none.
    pub shift_at: i64,
    /// The grid origin from `shift_at` on: local midnight in the new UTC offset.
    pub shifted_midnight: i64,
}

impl Day {
    /// The candle bucket `[start, end)` of `tf` nanoseconds containing `ts` (a time of this
    /// day): on the wall-clock grid aligned to local midnight, labelled by its grid start, its
    /// end cut at the session close (and at a daylight-saving change, which also starts the
    /// next bucket). A daily `tf` (`1d`) is the whole session: `[open, close)`, whatever its
    /// length (early closes, a daylight-saving day).
    #[inline]
    pub fn bucket(&self, ts: i64, tf: i64) -> (i64, i64) {
        if tf >= i64::from(Timeframe::DAY_SECONDS) * Timestamp::NANOS_PER_SEC {
            return (self.open.min(ts), self.close.max(ts + 1));
        }
        let (origin, lo, hi) = if ts < self.shift_at {
            (self.midnight, self.midnight, self.shift_at)
        } else {
            (self.shifted_midnight, self.shift_at, self.next)
        };
        let grid = origin + (ts - origin).div_euclid(tf) * tf;
        (grid.max(lo), (grid + tf).min(hi).min(self.close))
    }
}

/// The session clock: which [`Day`] a timestamp falls in, and its [`Phase`].
#[derive(Debug, Clone)]
pub struct SessionClock {
    tz: Tz,
    hours: SessionHours,
    day: Day,
}

/// The instant of `secs` seconds after local midnight of `date` in `tz` (wall clock; `secs`
/// may reach 86 400, the next midnight). An ambiguous wall time (DST fall-back) takes the
/// earlier instant; a skipped one is `None`.
pub fn local_instant(date: NaiveDate, secs: u32, tz: Tz) -> Option<Timestamp> {
    let (date, secs) = if secs >= 86_400 { (date.succ_opt()?, secs - 86_400) } else { (date, secs) };
    let t = NaiveTime::from_num_seconds_from_midnight_opt(secs, 0)?;
    let dt = tz.from_local_datetime(&date.and_time(t)).earliest()?;
    Some(Timestamp::from_datetime(&dt))
}

/// A local time as UTC nanoseconds; a time skipped by a DST change resolves to the instant an
/// hour later (the wall clock after the change).
fn local_ns(tz: Tz, date: NaiveDate, t: NaiveTime) -> i64 {
    use chrono::Timelike;
    let secs = t.num_seconds_from_midnight();
    local_instant(date, secs, tz).or_else(|| local_instant(date, secs + 3600, tz)).map_or(i64::MAX, |t| t.0)
}

/// The UTC offset in force at `ns`, in seconds.
fn offset_secs(tz: Tz, ns: i64) -> i64 {
    let utc = DateTime::from_timestamp_nanos(ns).naive_utc();
    i64::from(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc())
}

/// The daylight-saving change in `[midnight, next)`, if any: `(instant, grid origin after it)`.
fn dst_shift(tz: Tz, midnight: i64, next: i64) -> Option<(i64, i64)> {
    const NS: i64 = Timestamp::NANOS_PER_SEC;
    if next <= midnight || next == i64::MAX {
        return None;
    }
    let (before, after) = (offset_secs(tz, midnight), offset_secs(tz, next - 1));
    if before == after {
        return None;
    }
    // Offsets change on whole seconds: find the first second in the new offset.
    let (mut lo, mut hi) = (midnight.div_euclid(NS), (next - 1).div_euclid(NS));
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if offset_secs(tz, mid * NS) == before {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some((hi * NS, midnight - (after - before) * NS))
}

impl SessionClock {
    /// A clock for `hours` in `tz`.
    pub fn new(tz: Tz, hours: SessionHours) -> Self {
        Self { tz, hours, day: Day { midnight: i64::MAX, next: i64::MIN, ..Day::default() } }
    }

    /// The exchange time zone.
    pub fn tz(&self) -> Tz {
        self.tz
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
                Ok(Some(s)) => {
                    let limit = if c <= REGULAR_CLOSE { s.close } else { s.post_close };
                    let open = local_ns(self.tz, date, o).max(ns(s.pre_open));
                    let close = local_ns(self.tz, date, c).min(ns(limit));
                    if open < close { (open, close) } else { (midnight, midnight) }
                }
                _ => (midnight, midnight),
            },
        };
        let flatten = self.hours.flatten_at.map_or(close, |f| local_ns(self.tz, date, f).min(close));
        let index = i64::from(date.num_days_from_ce()) - 719_163;
        let (shift_at, shifted_midnight) = dst_shift(self.tz, midnight, next).unwrap_or((next, midnight));
        self.day = Day { midnight, next, open, close, flatten, index, shift_at, shifted_midnight };
    }

    /// Where `ts` falls in its trading day, and the day.
    #[inline]
    pub fn phase(&mut self, ts: Timestamp) -> (Phase, Day) {
        (self.phase_of(ts), self.day)
    }

    /// Where `ts` falls in its trading day; the day is then [`Self::today`] (no copy).
    #[inline]
    pub fn phase_of(&mut self, ts: Timestamp) -> Phase {
        if ts.0 < self.day.midnight || ts.0 >= self.day.next {
            self.recompute(ts);
        }
        let d = &self.day;
        if ts.0 < d.open || ts.0 >= d.close {
            Phase::OutOfSession
        } else if ts.0 >= d.flatten {
            Phase::AfterFlatten
        } else {
            Phase::Open
        }
    }

    /// The day of the latest timestamp looked at.
    #[inline]
    pub fn today(&self) -> &Day {
        &self.day
    }

    /// The first of the fewest whole days before `from` whose sessions hold at least `candles`
    /// candles of `tf_nanos` — where a warm-up for `from` starts; `from` itself when no candle
    /// is needed. Days without a session add nothing; the search goes back a year at most.
    pub fn warm_up_start(&mut self, from: NaiveDate, candles: u64, tf_nanos: i64) -> NaiveDate {
        const MAX_DAYS: usize = 366;
        let (mut start, mut held) = (from, 0u64);
        for _ in 0..MAX_DAYS {
            if held >= candles {
                break;
            }
            let Some(date) = start.pred_opt() else { break };
            start = date;
            let Some(noon) = local_instant(date, 12 * 3600, self.tz) else { continue };
            let day = self.day(noon);
            let length = (day.close - day.open).max(0);
            held += u64::try_from((length + tf_nanos - 1) / tf_nanos.max(1)).unwrap_or(0);
        }
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ny(s: &str) -> Timestamp {
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(s).expect("test time"))
    }

    fn hm(ns: i64) -> String {
        Timestamp(ns).to_new_york().format("%H:%M").to_string()
    }

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").expect("test time")
    }

    #[test]
    fn timeframes_parse_and_print() {
        for (s, secs) in [("1s", 1), ("30s", 30), ("5m", 300), ("1h", 3600), ("4h", 14_400), ("90m", 5400)] {
            let tf: Timeframe = s.parse().expect("timeframe");
            assert_eq!(tf.seconds(), secs);
        }
        assert_eq!("90m".parse::<Timeframe>().expect("timeframe").to_string(), "90m");
        assert_eq!("90s".parse::<Timeframe>().expect("timeframe").to_string(), "90s");
        for bad in ["", "0s", "5h", "24h", "m", "5x", "-1m", "0d", "2d", "5d", "86400s", "1440m"] {
            assert!(bad.parse::<Timeframe>().is_err(), "{bad}");
        }
        let day: Timeframe = "1d".parse().expect("1d");
        assert!(day.is_daily() && !"4h".parse::<Timeframe>().expect("4h").is_daily());
        assert_eq!((day.seconds(), day.to_string()), (86_400, "1d".to_owned()));
        assert!("5d".parse::<Timeframe>().unwrap_err().contains("1s to 4h, or 1d"));
    }

    #[test]
    fn a_daily_candle_is_one_session_open_to_close() {
        let day_tf = Timeframe::from_seconds(Timeframe::DAY_SECONDS).expect("1d").nanos();
        for (window, open, close) in [
            (Window::Calendar(Calendar::nyse(), CalendarHours::Regular), "09:30", "16:00"),
            (Window::Calendar(Calendar::nyse(), CalendarHours::Extended), "04:00", "20:00"),
        ] {
            let mut clock =
                SessionClock::new(chrono_tz::America::New_York, SessionHours { window, flatten_at: None });
            for at in ["2013-10-07T09:31:00-04:00", "2013-10-07T15:59:59-04:00", "2013-10-07T12:00:00-04:00"]
            {
                let ts = ny(at);
                if clock.phase_of(ts) == Phase::OutOfSession {
                    continue;
                }
                let (start, end) = clock.today().bucket(ts.0, day_tf);
                assert_eq!((hm(start), hm(end)), (open.to_owned(), close.to_owned()), "{at}");
            }
        }
        // An early close (the day after Thanksgiving 2013): the candle ends at 13:00.
        let regular = Window::Calendar(Calendar::nyse(), CalendarHours::Regular);
        let mut clock = SessionClock::new(
            chrono_tz::America::New_York,
            SessionHours { window: regular, flatten_at: None },
        );
        let ts = ny("2013-11-29T10:00:00-05:00");
        assert_eq!(clock.phase_of(ts), Phase::Open);
        let (start, end) = clock.today().bucket(ts.0, day_tf);
        assert_eq!((hm(start), hm(end)), ("09:30".to_owned(), "13:00".to_owned()));
    }

    #[test]
    fn clock_times_are_hh_mm() {
        assert_eq!("15:55".parse::<ClockTime>().unwrap().to_string(), "15:55");
        assert!("3:55".parse::<ClockTime>().is_err());
        assert!("25:00".parse::<ClockTime>().is_err());
    }

    #[test]
    fn windows_parse_like_recipes() {
        let nyse = Calendar::nyse();
        assert_eq!("regular".parse::<Window>(), Ok(Window::Calendar(nyse, CalendarHours::Regular)));
        assert_eq!("Extended".parse::<Window>(), Ok(Window::Calendar(nyse, CalendarHours::Extended)));
        assert_eq!("full".parse::<Window>(), Ok(Window::AllDay));
        assert_eq!("09:45-15:45".parse::<Window>(), Ok(Window::CalendarWindow(nyse, t("09:45"), t("15:45"))));
        assert!("16:00-09:30".parse::<Window>().is_err());
        assert!("morning".parse::<Window>().is_err());
    }

    #[test]
    fn phases_of_a_regular_day() {
        let hours = SessionHours {
            window: Window::Fixed { open: t("09:30"), close: t("16:00") },
            flatten_at: Some(t("15:55")),
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
        assert_eq!((d.shift_at, d.shifted_midnight), (d.next, d.midnight), "no DST change that day");
    }

    #[test]
    fn nyse_calendar_closes_holidays_and_closes_early() {
        let hours = SessionHours {
            window: Window::Calendar(Calendar::nyse(), CalendarHours::Regular),
            flatten_at: Some(t("15:55")),
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

        let mut ext = SessionClock::new(
            crate::model::NEW_YORK,
            SessionHours {
                window: Window::Calendar(Calendar::nyse(), CalendarHours::Extended),
                flatten_at: None,
            },
        );
        let d = ext.day(ny("2013-11-29T12:00:00-05:00"));
        assert_eq!((hm(d.open), hm(d.close)), ("04:00".into(), "17:00".into()));
    }

    #[test]
    fn explicit_windows_follow_the_calendar() {
        let window = |o: &str, c: &str| {
            SessionClock::new(
                crate::model::NEW_YORK,
                SessionHours {
                    window: Window::CalendarWindow(Calendar::nyse(), t(o), t(c)),
                    flatten_at: None,
                },
            )
        };
        let mut inside = window("10:00", "15:00");
        let d = inside.day(ny("2013-10-08T12:00:00-04:00"));
        assert_eq!((hm(d.open), hm(d.close)), ("10:00".into(), "15:00".into()));
        let d = inside.day(ny("2013-11-29T12:00:00-05:00"));
        assert_eq!((hm(d.open), hm(d.close)), ("10:00".into(), "13:00".into()), "early close");
        let d = inside.day(ny("2013-11-28T12:00:00-05:00"));
        assert_eq!(d.open, d.close, "holiday: no session");
        let d = inside.day(ny("1999-01-04T12:00:00-05:00"));
        assert_eq!(d.open, d.close, "outside the calendar: closed");
        let mut late = window("15:00", "19:00");
        let d = late.day(ny("2013-11-29T12:00:00-05:00"));
        assert_eq!((hm(d.open), hm(d.close)), ("15:00".into(), "17:00".into()), "extended early close");
        let mut early = window("03:00", "10:00");
        let d = early.day(ny("2013-10-08T12:00:00-04:00"));
        assert_eq!(hm(d.open), "04:00", "no earlier than the pre-market");
    }

    /// On 2013-11-03 New York falls back from EDT to EST at 02:00 EDT; on 2013-03-10 it springs
    /// forward at 02:00 EST. The grid follows the wall clock on both sides of the change.
    #[test]
    fn grid_follows_wall_clock_across_dst() {
        let hours = SessionHours { window: Window::AllDay, flatten_at: None };
        let mut c = SessionClock::new(crate::model::NEW_YORK, hours);
        let hour = 3600 * Timestamp::NANOS_PER_SEC;
        let label = |ns: i64| Timestamp(ns).to_new_york().format("%H:%M%:z").to_string();
        let bucket = |c: &mut SessionClock, s: &str, tf: i64| {
            let ts = ny(s);
            let (a, b) = c.day(ts).bucket(ts.0, tf);
            (label(a), label(b))
        };
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        // Fall back: 01:30 EDT, then 01:30 EST (the repeated hour), then 03:10 EST.
        assert_eq!(bucket(&mut c, "2013-11-03T01:30:00-04:00", hour), pair("01:00-04:00", "01:00-05:00"));
        assert_eq!(bucket(&mut c, "2013-11-03T01:30:00-05:00", hour), pair("01:00-05:00", "02:00-05:00"));
        assert_eq!(bucket(&mut c, "2013-11-03T03:10:00-05:00", hour), pair("03:00-05:00", "04:00-05:00"));
        assert_eq!(bucket(&mut c, "2013-11-03T01:30:00-04:00", 4 * hour), pair("00:00-04:00", "01:00-05:00"));
        assert_eq!(bucket(&mut c, "2013-11-03T02:30:00-05:00", 4 * hour), pair("01:00-05:00", "04:00-05:00"));
        assert_eq!(bucket(&mut c, "2013-11-03T22:30:00-05:00", 4 * hour), pair("20:00-05:00", "00:00-05:00"));
        // Spring forward: 01:30 EST, then 03:30 EDT (02:00-03:00 does not exist).
        assert_eq!(bucket(&mut c, "2013-03-10T01:30:00-05:00", hour), pair("01:00-05:00", "03:00-04:00"));
        assert_eq!(bucket(&mut c, "2013-03-10T03:30:00-04:00", hour), pair("03:00-04:00", "04:00-04:00"));
        assert_eq!(bucket(&mut c, "2013-03-10T01:30:00-05:00", 4 * hour), pair("00:00-05:00", "03:00-04:00"));
        assert_eq!(bucket(&mut c, "2013-03-10T03:30:00-04:00", 4 * hour), pair("03:00-04:00", "04:00-04:00"));
        assert_eq!(bucket(&mut c, "2013-03-10T05:00:00-04:00", 4 * hour), pair("04:00-04:00", "08:00-04:00"));
        // An ordinary day: one origin.
        assert_eq!(bucket(&mut c, "2013-10-07T09:31:00-04:00", hour), pair("09:00-04:00", "10:00-04:00"));
    }
}
