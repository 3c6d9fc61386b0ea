//! The exchange calendar as a source of candle sessions: holidays make no session, early
//! closes cut the session short, and the recipe's hours choose which window of the day counts.

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::Calendar;
use crate::market::session::{Session, SessionCalendar, SessionSpec};
use crate::model::Timestamp;

/// Sessions of a [`Calendar`] for one choice of hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarSessions {
    /// The exchange calendar.
    pub calendar: Calendar,
    /// Which hours of each trading day form the session.
    pub spec: SessionSpec,
}

impl CalendarSessions {
    /// Sessions of `calendar` for `spec` hours.
    pub fn new(calendar: Calendar, spec: SessionSpec) -> Self {
        Self { calendar, spec }
    }
}

impl SessionCalendar for CalendarSessions {
    fn tz(&self) -> Tz {
        self.calendar.timezone()
    }

    /// `None` on closed days and outside the calendar's range (fail closed).
    fn session(&self, date: NaiveDate) -> Option<Session> {
        let day = self.calendar.session(date).ok()??;
        let ts = |dt: &chrono::DateTime<Tz>| Timestamp::from_datetime(dt);
        let (open, close) = match self.spec {
            SessionSpec::Regular => (ts(&day.open), ts(&day.close)),
            SessionSpec::Extended => (ts(&day.pre_open), ts(&day.post_close)),
            SessionSpec::FullDay | SessionSpec::Custom { .. } => {
                let own = self.spec.window(date, self.tz())?;
                // An explicit window ends no later than the exchange does that day: at the
                // regular close if it lies within regular hours, else at the extended close.
                let regular_close = ts(&day.close);
                let full_regular_close = SessionSpec::Regular.window(date, self.tz())?.close;
                let limit = if own.close <= full_regular_close { regular_close } else { ts(&day.post_close) };
                (own.open, own.close.min(limit))
            }
        };
        (open < close).then_some(Session { open, close })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("test date")
    }

    fn hm(ts: Timestamp) -> String {
        ts.to_new_york().format("%H:%M").to_string()
    }

    #[test]
    fn holidays_early_closes_and_explicit_windows() {
        let regular = CalendarSessions::new(Calendar::nyse(), SessionSpec::Regular);
        assert!(regular.session(d("2013-11-28")).is_none(), "Thanksgiving has no session");
        let bf = regular.session(d("2013-11-29")).expect("day after Thanksgiving trades");
        assert_eq!((hm(bf.open), hm(bf.close)), ("09:30".into(), "13:00".into()));
        let ext = CalendarSessions::new(Calendar::nyse(), SessionSpec::Extended);
        let e = ext.session(d("2013-11-29")).expect("extended session");
        assert_eq!((hm(e.open), hm(e.close)), ("04:00".into(), "17:00".into()));

        let t = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").expect("time");
        let custom = CalendarSessions::new(
            Calendar::nyse(),
            SessionSpec::Custom { start: t("10:00"), end: t("15:00") },
        );
        let c = custom.session(d("2013-10-08")).expect("normal day");
        assert_eq!((hm(c.open), hm(c.close)), ("10:00".into(), "15:00".into()));
        let c = custom.session(d("2013-11-29")).expect("early close");
        assert_eq!((hm(c.open), hm(c.close)), ("10:00".into(), "13:00".into()));
        assert!(custom.session(d("1999-01-04")).is_none(), "outside the calendar: closed");
    }
}
