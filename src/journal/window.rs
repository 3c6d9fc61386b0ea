//! Business days and the rolling 5-business-day window used to count day trades.
//!
//! The NYSE calendar implements [`BusinessCalendar`], so weekends and exchange holidays are
//! both skipped; [`WeekdaysOnly`] remains for callers without an exchange calendar.

use chrono::{Datelike, NaiveDate, Weekday};

/// Decides which dates are business days.
pub trait BusinessCalendar {
    /// True when `date` is a trading (business) day.
    fn is_business_day(&self, date: NaiveDate) -> bool;
}

/// Monday to Friday, no holidays.
#[derive(Debug, Clone, Copy, Default)]
pub struct WeekdaysOnly;

impl BusinessCalendar for WeekdaysOnly {
    fn is_business_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
    }
}

/// The `n` most recent business days ending on or before `date`, oldest first.
///
/// Returns fewer than `n` only when the calendar has no business days before the start of
/// chrono's date range (never in practice).
pub fn last_business_days(cal: &impl BusinessCalendar, date: NaiveDate, n: usize) -> Vec<NaiveDate> {
    let mut days = Vec::with_capacity(n);
    let mut d = date;
    // A calendar that never has a business day would loop forever: cap the search at
    // 30 calendar days per business day wanted.
    let mut budget = 30 * n.max(1);
    while days.len() < n && budget > 0 {
        if cal.is_business_day(d) {
            days.push(d);
        }
        match d.pred_opt() {
            Some(p) => d = p,
            None => break,
        }
        budget -= 1;
    }
    days.reverse();
    days
}

/// Exchange holidays and weekends are not business days; a date outside the calendar's
/// range counts as a business day only if it is a weekday (the calendar cannot say more).
impl BusinessCalendar for crate::calendar::Calendar {
    fn is_business_day(&self, date: NaiveDate) -> bool {
        self.is_trading_day(date).unwrap_or_else(|_| WeekdaysOnly.is_business_day(date))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("test date")
    }

    #[test]
    fn window_skips_weekends() {
        // Tue 2013-10-08: Tue, Mon, (Sun, Sat), Fri, Thu, Wed.
        let w = last_business_days(&WeekdaysOnly, d("2013-10-08"), 5);
        assert_eq!(
            w,
            vec![d("2013-10-02"), d("2013-10-03"), d("2013-10-04"), d("2013-10-07"), d("2013-10-08")]
        );
        // From a Sunday the window ends on the Friday before.
        let w = last_business_days(&WeekdaysOnly, d("2013-10-06"), 5);
        assert_eq!(w.first(), Some(&d("2013-09-30")));
        assert_eq!(w.last(), Some(&d("2013-10-04")));
    }

    #[test]
    fn holiday_hook_is_honoured() {
        struct NoJuly4;
        impl BusinessCalendar for NoJuly4 {
            fn is_business_day(&self, date: NaiveDate) -> bool {
                WeekdaysOnly.is_business_day(date) && date != d("2024-07-04")
            }
        }
        let w = last_business_days(&NoJuly4, d("2024-07-08"), 5);
        assert_eq!(
            w,
            vec![d("2024-07-01"), d("2024-07-02"), d("2024-07-03"), d("2024-07-05"), d("2024-07-08")]
        );
    }

    #[test]
    fn nyse_calendar_skips_thanksgiving() {
        // Mon 2013-12-02: Mon, Fri 11-29 (early close, open), (Thanksgiving 11-28 closed), Wed, Tue.
        let w = last_business_days(&crate::calendar::Calendar::nyse(), d("2013-12-02"), 5);
        assert_eq!(
            w,
            vec![d("2013-11-25"), d("2013-11-26"), d("2013-11-27"), d("2013-11-29"), d("2013-12-02")]
        );
    }
}
