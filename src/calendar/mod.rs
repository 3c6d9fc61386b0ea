//! Market calendars: which days an exchange trades, and when.
//!
//! What belongs here: the NYSE (XNYS) calendar — regular and extended hours, holidays with
//! their observance rules, early closes at 13:00, the special closures of 2000–2030 and the
//! irregular sessions the exchange really had (late opens, an unscheduled early close) — and a
//! 24x7 calendar for crypto venues. Everything is pure and computed from rules plus a small
//! table of exceptions ([`NYSE_EXCEPTIONS`]); nothing is read from disk or the network.
//!
//! The NYSE calendar only answers for dates in [`NYSE_FIRST_YEAR`]..=[`NYSE_LAST_YEAR`]. Outside
//! that span it fails closed with [`CalendarError::OutOfRange`] instead of guessing (the exchange
//! announces closures, such as a national day of mourning, that no rule can predict).
//!
//! Sources: NYSE Rule 7.2 (holidays), NYSE's published holiday and early-close schedules, NYSE
//! Arca Rule 7.34 (extended sessions 04:00–20:00, late session ending 17:00 on early-close days),
//! NYSE Group's historical list of market closings and delayed openings (for the irregular
//! sessions; see [`NYSE_EXCEPTIONS`]). Tests compare every day of 2000–2030 with a table generated
//! from `exchange-calendars` (XNYS), which has the closures but not the irregular sessions.
//!
//! [`NYSE_EXCEPTIONS`]: crate::calendar::NYSE_EXCEPTIONS
//! [`NYSE_FIRST_YEAR`]: crate::calendar::NYSE_FIRST_YEAR
//! [`NYSE_LAST_YEAR`]: crate::calendar::NYSE_LAST_YEAR
//! [`CalendarError::OutOfRange`]: crate::calendar::CalendarError::OutOfRange

pub mod cli;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;

use crate::model::NEW_YORK;

/// First year the NYSE calendar answers for.
pub const NYSE_FIRST_YEAR: i32 = 2000;
/// Last year the NYSE calendar answers for.
pub const NYSE_LAST_YEAR: i32 = 2030;

/// Why a calendar question could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The date is outside the years the calendar knows; it refuses to guess.
    #[error(
        "{date} is outside the {calendar} calendar's range ({first}-01-01 to {last}-12-31); \
         runner does not guess trading days it has no table for"
    )]
    OutOfRange {
        /// The date asked about.
        date: NaiveDate,
        /// The calendar's name.
        calendar: &'static str,
        /// First supported year.
        first: i32,
        /// Last supported year.
        last: i32,
    },
    /// A wall-clock time does not exist in the exchange time zone on that date.
    #[error("{time} on {date} does not exist in the exchange time zone")]
    NoSuchLocalTime {
        /// The date.
        date: NaiveDate,
        /// The wall-clock time.
        time: NaiveTime,
    },
}

/// Which part of the trading day a question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hours {
    /// The regular (core) session: 09:30–16:00 ET, 09:30–13:00 on early-close days, the real
    /// hours on the irregular days of [`NYSE_EXCEPTIONS`].
    Regular,
    /// Regular plus pre-market and post-market: 04:00–20:00 ET, 04:00–17:00 on early-close days.
    Extended,
}

/// A `[start, end)` span of exchange time.
pub type Window = (DateTime<Tz>, DateTime<Tz>);

/// One trading session of one trading day, in the exchange time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The trading date (exchange-local).
    pub date: NaiveDate,
    /// Start of the pre-market (extended) session.
    pub pre_open: DateTime<Tz>,
    /// Regular-session open.
    pub open: DateTime<Tz>,
    /// Regular-session close (13:00 ET on scheduled early-close days).
    pub close: DateTime<Tz>,
    /// End of the post-market (extended) session.
    pub post_close: DateTime<Tz>,
    /// Whether the regular session closes early (scheduled, or irregular as on 2005-06-01).
    pub early_close: bool,
}

impl Session {
    /// The `[start, end)` window of the session for these hours.
    pub fn window(&self, hours: Hours) -> Window {
        match hours {
            Hours::Regular => (self.open, self.close),
            Hours::Extended => (self.pre_open, self.post_close),
        }
    }

    /// Whether `t` falls inside the `[start, end)` window for these hours.
    pub fn contains<T: TimeZone>(&self, t: &DateTime<T>, hours: Hours) -> bool {
        let (start, end) = self.window(hours);
        let t = t.with_timezone(&start.timezone());
        start <= t && t < end
    }
}

/// What kind of day a date is on a calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayKind {
    /// A full trading day.
    Open,
    /// A trading day whose regular session closes early (13:00 by rule, another time on an
    /// irregular day: [`Session::close`] has it); the reason.
    EarlyClose(&'static str),
    /// A trading day whose regular session opened late ([`Session::open`] has the time); the
    /// reason.
    LateOpen(&'static str),
    /// No trading; the reason (`Saturday`, `Good Friday`, `Hurricane Sandy`, …).
    Closed(&'static str),
}

impl DayKind {
    /// Whether the exchange trades on this day.
    pub fn is_trading(self) -> bool {
        !matches!(self, Self::Closed(_))
    }
}

/// What an entry of [`NYSE_EXCEPTIONS`] does to its date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exception {
    /// The exchange was (or will be) closed all day.
    Closed,
    /// The regular session closed at 13:00 although no rule says so.
    EarlyClose,
    /// A full day although a rule would make it an early close.
    FullDay,
    /// The regular session opened late, at this New York wall-clock time `(hour, minute)`.
    LateOpen(u32, u32),
    /// The regular session closed early, at this New York wall-clock time `(hour, minute)`,
    /// for an event no schedule announced (the extended session still ends at 20:00).
    CloseAt(u32, u32),
}

/// Days the rules get wrong: special closures, one-off early closes and the irregular sessions
/// the exchange really had, 2000–2030.
///
/// `(year, month, day, what, reason)`. Checked before the rules.
///
/// The late opens and the 15:56 close come from NYSE Group's historical list of market closings
/// and delayed openings ("NYSE Closings", the exchange's own record of every full or partial
/// closing; the delayed openings of 2001–2006 were moments of silence, the 2002 one a
/// commemoration of the September 11 attacks).
pub const NYSE_EXCEPTIONS: &[(i32, u32, u32, Exception, &str)] = &[
    (2001, 9, 11, Exception::Closed, "September 11 attacks"),
    (2001, 9, 12, Exception::Closed, "September 11 attacks"),
    (2001, 9, 13, Exception::Closed, "September 11 attacks"),
    (2001, 9, 14, Exception::Closed, "September 11 attacks"),
    (2001, 9, 17, Exception::LateOpen(9, 33), "moment of silence for the victims of September 11"),
    (
        2001,
        10,
        8,
        Exception::LateOpen(9, 31),
        "moment of silence for the troops of Operation Enduring Freedom",
    ),
    (2002, 9, 11, Exception::LateOpen(12, 0), "first anniversary of the September 11 attacks"),
    (2003, 3, 20, Exception::LateOpen(9, 32), "moment of silence for Operation Iraqi Freedom"),
    (2003, 12, 26, Exception::EarlyClose, "day after Christmas"),
    (2004, 6, 7, Exception::LateOpen(9, 32), "moment of silence for President Reagan"),
    (2004, 6, 11, Exception::Closed, "national day of mourning for President Reagan"),
    (2005, 6, 1, Exception::CloseAt(15, 56), "systems communication problem"),
    (2006, 12, 27, Exception::LateOpen(9, 32), "moment of silence for President Ford"),
    (2007, 1, 2, Exception::Closed, "national day of mourning for President Ford"),
    (2012, 10, 29, Exception::Closed, "Hurricane Sandy"),
    (2012, 10, 30, Exception::Closed, "Hurricane Sandy"),
    (2018, 12, 5, Exception::Closed, "national day of mourning for President George H. W. Bush"),
    (2025, 1, 9, Exception::Closed, "national day of mourning for President Carter"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nyse,
    AlwaysOpen,
}

/// A trading calendar: [`Calendar::nyse`] for US equities and options, [`Calendar::always_open`]
/// for crypto venues that trade around the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    kind: Kind,
}

const NYSE_PRE_OPEN: (u32, u32) = (4, 0);
const NYSE_OPEN: (u32, u32) = (9, 30);
const NYSE_CLOSE: (u32, u32) = (16, 0);
const NYSE_EARLY_CLOSE: (u32, u32) = (13, 0);
const NYSE_POST_CLOSE: (u32, u32) = (20, 0);
const NYSE_EARLY_POST_CLOSE: (u32, u32) = (17, 0);

impl Calendar {
    /// The New York Stock Exchange (XNYS), 2000–2030.
    pub fn nyse() -> Self {
        Self { kind: Kind::Nyse }
    }

    /// A 24x7 calendar (crypto): every day trades, sessions are whole UTC days.
    pub fn always_open() -> Self {
        Self { kind: Kind::AlwaysOpen }
    }

    /// A short name: `XNYS` or `24x7`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Nyse => "XNYS",
            Kind::AlwaysOpen => "24x7",
        }
    }

    /// The exchange time zone.
    pub fn timezone(&self) -> Tz {
        match self.kind {
            Kind::Nyse => NEW_YORK,
            Kind::AlwaysOpen => chrono_tz::UTC,
        }
    }

    /// The first and last dates this calendar answers for.
    pub fn range(&self) -> (NaiveDate, NaiveDate) {
        match self.kind {
            Kind::Nyse => (first_of_year(NYSE_FIRST_YEAR), last_of_year(NYSE_LAST_YEAR)),
            Kind::AlwaysOpen => (NaiveDate::MIN, NaiveDate::MAX),
        }
    }

    fn check(&self, date: NaiveDate) -> Result<(), CalendarError> {
        let (first, last) = self.range();
        if date < first || date > last {
            return Err(CalendarError::OutOfRange {
                date,
                calendar: self.name(),
                first: first.year(),
                last: last.year(),
            });
        }
        Ok(())
    }

    /// What kind of day `date` is.
    pub fn day_kind(&self, date: NaiveDate) -> Result<DayKind, CalendarError> {
        self.check(date)?;
        Ok(match self.kind {
            Kind::AlwaysOpen => DayKind::Open,
            Kind::Nyse => nyse_day(date),
        })
    }

    /// Whether the exchange trades on `date`.
    pub fn is_trading_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        Ok(self.day_kind(date)?.is_trading())
    }

    /// Why the exchange is closed on `date`, or `None` on a trading day.
    pub fn closure_reason(&self, date: NaiveDate) -> Result<Option<&'static str>, CalendarError> {
        Ok(match self.day_kind(date)? {
            DayKind::Closed(reason) => Some(reason),
            DayKind::Open | DayKind::EarlyClose(_) | DayKind::LateOpen(_) => None,
        })
    }

    /// The session of `date`, or `None` when the exchange is closed that day.
    pub fn session(&self, date: NaiveDate) -> Result<Option<Session>, CalendarError> {
        let kind = self.day_kind(date)?;
        if !kind.is_trading() {
            return Ok(None);
        }
        Ok(Some(match self.kind {
            Kind::AlwaysOpen => {
                let tz = chrono_tz::UTC;
                let start = tz.from_utc_datetime(&date.and_time(NaiveTime::MIN));
                let end = match date.succ_opt() {
                    Some(next) => tz.from_utc_datetime(&next.and_time(NaiveTime::MIN)),
                    None => tz.from_utc_datetime(&NaiveDate::MAX.and_time(NaiveTime::MIN)),
                };
                Session {
                    date,
                    pre_open: start,
                    open: start,
                    close: end,
                    post_close: end,
                    early_close: false,
                }
            }
            Kind::Nyse => {
                let (open, close, post) = nyse_hours(date, kind);
                Session {
                    date,
                    pre_open: local(date, NYSE_PRE_OPEN)?,
                    open: local(date, open)?,
                    close: local(date, close)?,
                    post_close: local(date, post)?,
                    early_close: matches!(kind, DayKind::EarlyClose(_)),
                }
            }
        }))
    }

    /// The `[start, end)` window of `date` for these hours, or `None` on a closed day.
    pub fn window(&self, date: NaiveDate, hours: Hours) -> Result<Option<Window>, CalendarError> {
        Ok(self.session(date)?.map(|s| s.window(hours)))
    }

    /// Whether the market is open at instant `t` for these hours.
    pub fn is_open_at<T: TimeZone>(&self, t: &DateTime<T>, hours: Hours) -> Result<bool, CalendarError> {
        let date = t.with_timezone(&self.timezone()).date_naive();
        Ok(self.session(date)?.is_some_and(|s| s.contains(t, hours)))
    }

    /// Whether the market is open at `ts` (the engine's nanosecond timestamp) for these hours.
    pub fn is_open_at_timestamp(
        &self,
        ts: crate::model::Timestamp,
        hours: Hours,
    ) -> Result<bool, CalendarError> {
        self.is_open_at(&ts.to_utc(), hours)
    }

    /// The first trading day strictly after `date`.
    pub fn next_trading_day(&self, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
        self.step(date, true)
    }

    /// The last trading day strictly before `date`.
    pub fn previous_trading_day(&self, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
        self.step(date, false)
    }

    fn step(&self, date: NaiveDate, forward: bool) -> Result<NaiveDate, CalendarError> {
        let mut d = date;
        loop {
            let moved = if forward { d.succ_opt() } else { d.pred_opt() };
            // Stepping off chrono's representable range: report the date we could not pass.
            d = moved.ok_or(CalendarError::OutOfRange {
                date: d,
                calendar: self.name(),
                first: self.range().0.year(),
                last: self.range().1.year(),
            })?;
            if self.is_trading_day(d)? {
                return Ok(d);
            }
        }
    }

    /// `date` moved by `n` trading days: `n > 0` forward, `n < 0` back, `0` gives `date` itself.
    ///
    /// Settlement on T+1 is `add_business_days(trade_date, 1)`.
    pub fn add_business_days(&self, date: NaiveDate, n: i64) -> Result<NaiveDate, CalendarError> {
        self.check(date)?;
        let mut d = date;
        for _ in 0..n.unsigned_abs() {
            d = self.step(d, n > 0)?;
        }
        Ok(d)
    }

    /// How many trading days lie in `(from, to]` — the number of steps from `from` to `to`.
    /// Negative when `to` is before `from`; zero when they are equal.
    pub fn business_days_between(&self, from: NaiveDate, to: NaiveDate) -> Result<i64, CalendarError> {
        self.check(from)?;
        self.check(to)?;
        let (lo, hi, sign) = if from <= to { (from, to, 1) } else { (to, from, -1) };
        let mut count = 0i64;
        let mut d = lo;
        while d < hi {
            // `d < hi` and `hi` is a valid date, so a successor exists.
            let Some(next) = d.succ_opt() else { break };
            d = next;
            if self.is_trading_day(d)? {
                count += 1;
            }
        }
        Ok(sign * count)
    }

    /// Every date in `[from, to]` with its kind, in order.
    pub fn days(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<(NaiveDate, DayKind)>, CalendarError> {
        self.check(from)?;
        self.check(to)?;
        let mut out = Vec::new();
        for d in from.iter_days().take_while(|d| *d <= to) {
            out.push((d, self.day_kind(d)?));
        }
        Ok(out)
    }
}

fn first_of_year(year: i32) -> NaiveDate {
    NaiveDate::from_yo_opt(year, 1).unwrap_or(NaiveDate::MIN)
}

fn last_of_year(year: i32) -> NaiveDate {
    first_of_year(year + 1).pred_opt().unwrap_or(NaiveDate::MAX)
}

/// A New York wall-clock time on `date` (04:00–20:00 never falls in a DST gap or overlap).
fn local(date: NaiveDate, (h, m): (u32, u32)) -> Result<DateTime<Tz>, CalendarError> {
    let time = NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
    NEW_YORK
        .from_local_datetime(&date.and_time(time))
        .earliest()
        .ok_or(CalendarError::NoSuchLocalTime { date, time })
}

fn ymd(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day)
}

/// The `n`-th (1-based) `weekday` of a month.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

/// The last `weekday` of a month.
fn last_weekday(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    let next_month = if month == 12 { ymd(year + 1, 1, 1) } else { ymd(year, month + 1, 1) }?;
    let last = next_month.pred_opt()?;
    let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
    last.checked_sub_days(Days::new(u64::from(back)))
}

/// Easter Sunday (Gregorian), by the anonymous Gregorian algorithm (Meeus/Jones/Butcher).
fn easter(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// Whether `date` is the day a fixed-date holiday (`month`/`day`) is observed: the day itself on
/// a weekday, the Friday before when it falls on a Saturday, the Monday after on a Sunday.
fn observed(date: NaiveDate, month: u32, day: u32) -> bool {
    let Some(actual) = ymd(date.year(), month, day) else { return false };
    let obs = match actual.weekday() {
        Weekday::Sat => actual.pred_opt(),
        Weekday::Sun => actual.succ_opt(),
        _ => Some(actual),
    };
    obs == Some(date)
}

/// The NYSE holiday observed on `date`, if any (rules only, no exceptions).
fn nyse_holiday(date: NaiveDate) -> Option<&'static str> {
    let y = date.year();
    let (m, d, wd) = (date.month(), date.day(), date.weekday());
    // New Year's Day: Sunday → Monday; NYSE does NOT close the Friday before a Saturday Jan 1.
    if (m == 1 && d == 1 && !matches!(wd, Weekday::Sat | Weekday::Sun))
        || (m == 1 && d == 2 && wd == Weekday::Mon)
    {
        return Some("New Year's Day");
    }
    // Martin Luther King Jr. Day (NYSE since 1998): third Monday of January.
    if y >= 1998 && Some(date) == nth_weekday(y, 1, Weekday::Mon, 3) {
        return Some("Martin Luther King Jr. Day");
    }
    if Some(date) == nth_weekday(y, 2, Weekday::Mon, 3) {
        return Some("Washington's Birthday (Presidents' Day)");
    }
    if Some(date) == easter(y).and_then(|e| e.checked_sub_days(Days::new(2))) {
        return Some("Good Friday");
    }
    if Some(date) == last_weekday(y, 5, Weekday::Mon) {
        return Some("Memorial Day");
    }
    // Juneteenth National Independence Day: an NYSE holiday from 2022.
    if y >= 2022 && observed(date, 6, 19) {
        return Some("Juneteenth");
    }
    if observed(date, 7, 4) {
        return Some("Independence Day");
    }
    if Some(date) == nth_weekday(y, 9, Weekday::Mon, 1) {
        return Some("Labor Day");
    }
    if Some(date) == nth_weekday(y, 11, Weekday::Thu, 4) {
        return Some("Thanksgiving Day");
    }
    if observed(date, 12, 25) {
        return Some("Christmas Day");
    }
    None
}

/// The rule-based early close (13:00) on a trading `date`, if any.
fn nyse_early_close(date: NaiveDate) -> Option<&'static str> {
    let y = date.year();
    // Independence Day on a Thursday: before 2013 NYSE closed early on Friday July 5 instead of
    // Wednesday July 3; from 2013 on the Wednesday.
    let thursday_fourth = date.month() == 7 && ymd(y, 7, 4).is_some_and(|d| d.weekday() == Weekday::Thu);
    if date.month() == 7 && date.day() == 3 && !(thursday_fourth && y < 2013) {
        return Some("day before Independence Day");
    }
    if date.month() == 7 && date.day() == 5 && thursday_fourth && y < 2013 {
        return Some("day after Independence Day");
    }
    if Some(date) == nth_weekday(y, 11, Weekday::Thu, 4).and_then(|t| t.succ_opt()) {
        return Some("day after Thanksgiving");
    }
    if date.month() == 12 && date.day() == 24 {
        return Some("Christmas Eve");
    }
    None
}

/// The entry of [`NYSE_EXCEPTIONS`] for `date`, if any.
fn nyse_exception(date: NaiveDate) -> Option<(Exception, &'static str)> {
    NYSE_EXCEPTIONS
        .iter()
        .find(|(y, m, d, _, _)| date.year() == *y && date.month() == *m && date.day() == *d)
        .map(|&(_, _, _, what, reason)| (what, reason))
}

/// The regular open, regular close and post-market close of a trading `date` of this kind.
fn nyse_hours(date: NaiveDate, kind: DayKind) -> ((u32, u32), (u32, u32), (u32, u32)) {
    match nyse_exception(date) {
        Some((Exception::LateOpen(h, m), _)) => ((h, m), NYSE_CLOSE, NYSE_POST_CLOSE),
        Some((Exception::CloseAt(h, m), _)) => (NYSE_OPEN, (h, m), NYSE_POST_CLOSE),
        _ if matches!(kind, DayKind::EarlyClose(_)) => (NYSE_OPEN, NYSE_EARLY_CLOSE, NYSE_EARLY_POST_CLOSE),
        _ => (NYSE_OPEN, NYSE_CLOSE, NYSE_POST_CLOSE),
    }
}

fn nyse_day(date: NaiveDate) -> DayKind {
    if let Some((what, reason)) = nyse_exception(date) {
        match what {
            Exception::Closed => return DayKind::Closed(reason),
            Exception::EarlyClose | Exception::CloseAt(..) => return DayKind::EarlyClose(reason),
            Exception::LateOpen(..) => return DayKind::LateOpen(reason),
            Exception::FullDay => return DayKind::Open,
        }
    }
    match date.weekday() {
        Weekday::Sat => return DayKind::Closed("Saturday"),
        Weekday::Sun => return DayKind::Closed("Sunday"),
        _ => {}
    }
    if let Some(holiday) = nyse_holiday(date) {
        return DayKind::Closed(holiday);
    }
    match nyse_early_close(date) {
        Some(reason) => DayKind::EarlyClose(reason),
        None => DayKind::Open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("test date")
    }

    #[test]
    fn easter_known_years() {
        for (y, e) in [(2000, "2000-04-23"), (2008, "2008-03-23"), (2011, "2011-04-24"), (2024, "2024-03-31")]
        {
            assert_eq!(easter(y), Some(d(e)));
        }
    }

    #[test]
    fn last_monday_of_may() {
        assert_eq!(last_weekday(2021, 5, Weekday::Mon), Some(d("2021-05-31")));
        assert_eq!(last_weekday(2020, 5, Weekday::Mon), Some(d("2020-05-25")));
    }
}
