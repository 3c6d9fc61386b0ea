//! Time-bucket candles built from trades or vendor bars, session-aware.
//!
//! Rules of [`CandleBuilder`]:
//! - buckets are `[start, start + tf)` on a grid aligned to local (exchange) midnight of the
//!   calendar's time zone, labelled by their start ([`Candle::start`]);
//! - only events inside the day's session (from the [`SessionCalendar`]) count; others are
//!   ignored (but still move the clock, so they can complete a candle);
//! - a candle never spans sessions: a bucket is cut at the session's open and close, so the
//!   first 1h candle of a 09:30 session is `[09:30, 10:00)` and the last one of a 13:00 early
//!   close ends at 13:00 ([`Candle::end`]);
//! - a candle completes on the first event at or past its end (an event stamped exactly on a
//!   boundary belongs to the new bucket, and the old candle is returned *before* that event is
//!   applied), or when the clock passes its end ([`CandleBuilder::on_time`]), or at the end of
//!   the data ([`CandleBuilder::flush`]);
//! - empty buckets make no candle;
//! - a vendor [`Bar`] counts as one aggregate print at its start timestamp (first open, max
//!   high, min low, last close, summed volume); this is how 1-second bars roll up into minute
//!   bars identical to Lean's minute files. A bar longer than the timeframe is not split.
//!
//! The grid is computed on wall-clock time with the UTC offset in force at the bucket's first
//! event; only a bucket that contains a DST switch (02:00 local, so only full-day sessions) can
//! be off by the switch.
//!
//! A builder handles one instrument; the engine keeps one per symbol and timeframe.

use super::event::{Bar, Candle, MarketEvent, Trade};
use super::session::{Session, SessionCalendar, Timeframe, local_instant};
use crate::model::{Price, Qty, Timestamp};

/// The calendar day (local) an instant falls in, with its session; cached by the builder.
#[derive(Debug, Clone, Copy)]
struct Day {
    start: Timestamp,
    end: Timestamp,
    session: Option<Session>,
}

/// Builds candles of one timeframe for one instrument; see the module docs for the rules.
#[derive(Debug, Clone)]
pub struct CandleBuilder<C> {
    tf: Timeframe,
    cal: C,
    cur: Option<Candle>,
    day: Option<Day>,
    late: u64,
}

impl<C: SessionCalendar> CandleBuilder<C> {
    /// A builder for this timeframe and calendar.
    pub fn new(tf: Timeframe, cal: C) -> Self {
        Self { tf, cal, cur: None, day: None, late: 0 }
    }

    /// The timeframe.
    pub fn timeframe(&self) -> Timeframe {
        self.tf
    }

    /// The candle being built, if any (not yet complete).
    pub fn current(&self) -> Option<&Candle> {
        self.cur.as_ref()
    }

    /// When the current candle ends (its bucket end, cut at session close): the clock time
    /// at which [`CandleBuilder::on_time`] completes it if no event comes first.
    pub fn deadline(&self) -> Option<Timestamp> {
        self.cur.map(|c| c.end)
    }

    /// How many events were ignored because they were older than the current bucket.
    pub fn late_events(&self) -> u64 {
        self.late
    }

    /// Apply a trade; returns the candle it completed, if any.
    pub fn on_trade(&mut self, t: &Trade) -> Option<Candle> {
        self.apply(t.ts, t.symbol, t.price, t.price, t.price, t.price, t.size)
    }

    /// Apply a vendor bar as one aggregate print at its start; returns the candle it completed.
    pub fn on_bar(&mut self, b: &Bar) -> Option<Candle> {
        self.apply(b.ts, b.symbol, b.open, b.high, b.low, b.close, b.volume)
    }

    /// Apply any event: trades and bars build candles, quotes only move the clock.
    pub fn on_event(&mut self, ev: &MarketEvent) -> Option<Candle> {
        match ev {
            MarketEvent::Trade(t) => self.on_trade(t),
            MarketEvent::Bar(b) => self.on_bar(b),
            MarketEvent::Quote(q) => self.on_time(q.ts),
        }
    }

    /// The clock reached `now`: complete the current candle if `now` is at or past its end
    /// (e.g. at session close, when no further trade arrives).
    pub fn on_time(&mut self, now: Timestamp) -> Option<Candle> {
        if self.cur.is_some_and(|c| now >= c.end) { self.cur.take() } else { None }
    }

    /// End of data: complete whatever candle is open.
    pub fn flush(&mut self) -> Option<Candle> {
        self.cur.take()
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        ts: Timestamp,
        symbol: crate::model::SymbolId,
        open: Price,
        high: Price,
        low: Price,
        close: Price,
        volume: Qty,
    ) -> Option<Candle> {
        let mut done = None;
        if let Some(c) = self.cur.as_mut() {
            if ts < c.end {
                if ts >= c.start {
                    c.high = c.high.max(high);
                    c.low = c.low.min(low);
                    c.close = close;
                    c.volume += volume;
                } else {
                    self.late += 1;
                }
                return None;
            }
            done = self.cur.take();
        }
        if let Some((start, end)) = self.bucket(ts) {
            self.cur = Some(Candle { symbol, start, end, open, high, low, close, volume });
        }
        done
    }

    /// The (session-cut) bucket containing `ts`, or `None` outside the session.
    fn bucket(&mut self, ts: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let day = match self.day {
            Some(d) if d.start <= ts && ts < d.end => d,
            _ => {
                let tz = self.cal.tz();
                let date = ts.to_exchange(tz).date_naive();
                let start = local_instant(date, 0, tz)?;
                let end = local_instant(date, 86_400, tz)?;
                let d = Day { start, end, session: self.cal.session(date) };
                self.day = Some(d);
                d
            }
        };
        let session = day.session?;
        if !session.contains(ts) {
            return None;
        }
        let offset = i64::from(chrono::Offset::fix(ts.to_exchange(self.cal.tz()).offset()).local_minus_utc());
        let day_nanos = 86_400 * Timestamp::NANOS_PER_SEC;
        let tod = (ts.0 + offset * Timestamp::NANOS_PER_SEC).rem_euclid(day_nanos);
        let into_bucket = tod % self.tf.nanos();
        let grid_start = Timestamp(ts.0 - into_bucket);
        let start = grid_start.max(session.open);
        let end = grid_start.add_nanos(self.tf.nanos()).min(session.close);
        Some((start, end))
    }
}

/// Build all candles of an event stream at once (tests, the CLI); events must be time-ordered.
pub fn build_all<C: SessionCalendar>(
    events: impl IntoIterator<Item = MarketEvent>,
    tf: Timeframe,
    cal: C,
) -> Vec<Candle> {
    let mut b = CandleBuilder::new(tf, cal);
    let mut out: Vec<Candle> = events.into_iter().filter_map(|e| b.on_event(&e)).collect();
    out.extend(b.flush());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::session::{SessionSpec, WeekdaySessions};
    use crate::model::SymbolId;
    use rust_decimal_macros::dec;

    fn ny(s: &str) -> Timestamp {
        crate::market::csv::parse_timestamp(format!("{s}-04:00").as_bytes()).unwrap()
    }

    fn trade(ts: &str, p: rust_decimal::Decimal) -> Trade {
        Trade { symbol: SymbolId(0), ts: ny(ts), price: p, size: dec!(1) }
    }

    #[test]
    fn boundary_trade_opens_the_next_bucket() {
        let mut b =
            CandleBuilder::new("5m".parse().unwrap(), WeekdaySessions::new_york(SessionSpec::Regular));
        assert_eq!(b.on_trade(&trade("2013-10-07T09:29:59", dec!(1))), None, "pre-market ignored");
        assert_eq!(b.on_trade(&trade("2013-10-07T09:31:00", dec!(2))), None);
        assert_eq!(b.on_trade(&trade("2013-10-07T09:34:59.999", dec!(3))), None);
        let c = b.on_trade(&trade("2013-10-07T09:35:00", dec!(4))).unwrap();
        assert_eq!(
            (c.start, c.end, c.open, c.close, c.volume),
            (ny("2013-10-07T09:30:00"), ny("2013-10-07T09:35:00"), dec!(2), dec!(3), dec!(2))
        );
        assert_eq!(b.current().unwrap().open, dec!(4));
    }

    #[test]
    fn grid_follows_wall_clock_across_dst() {
        use crate::market::session::local_instant;
        let cal = WeekdaySessions { spec: SessionSpec::FullDay, tz: crate::model::NEW_YORK, weekends: true };
        let mut b = CandleBuilder::new("1h".parse().unwrap(), cal);
        // 2013-11-03 01:30 EDT, then 01:30 EST (the repeated hour), then 03:10 EST.
        let edt = Timestamp(
            local_instant(
                chrono::NaiveDate::from_ymd_opt(2013, 11, 3).unwrap(),
                5400,
                crate::model::NEW_YORK,
            )
            .unwrap()
            .0,
        );
        let est = edt.add_nanos(3600 * Timestamp::NANOS_PER_SEC);
        let t = |ts: Timestamp| Trade { symbol: SymbolId(0), ts, price: dec!(1), size: dec!(1) };
        assert_eq!(b.on_trade(&t(edt)), None);
        let first = b.on_trade(&t(est)).unwrap();
        assert_eq!(first.start.to_new_york().format("%H:%M%:z").to_string(), "01:00-04:00");
        assert_eq!(b.current().unwrap().start.to_new_york().format("%H:%M%:z").to_string(), "01:00-05:00");
        let later = est.add_nanos(100 * 60 * Timestamp::NANOS_PER_SEC);
        b.on_trade(&t(later));
        assert_eq!(b.current().unwrap().start.to_new_york().format("%H:%M%:z").to_string(), "03:00-05:00");
        assert_eq!(b.deadline().unwrap().to_new_york().format("%H:%M").to_string(), "04:00");
    }

    #[test]
    fn session_cuts_buckets_and_on_time_completes() {
        let mut b =
            CandleBuilder::new("1h".parse().unwrap(), WeekdaySessions::new_york(SessionSpec::Regular));
        b.on_trade(&trade("2013-10-07T09:45:00", dec!(1)));
        let c = b.on_time(ny("2013-10-07T10:00:00")).unwrap();
        assert_eq!((c.start, c.end), (ny("2013-10-07T09:30:00"), ny("2013-10-07T10:00:00")));
        b.on_trade(&trade("2013-10-07T15:59:59", dec!(1)));
        assert_eq!(b.on_time(ny("2013-10-07T15:59:59.5")), None);
        let c = b.on_trade(&trade("2013-10-07T16:00:00", dec!(9))).unwrap();
        assert_eq!((c.start, c.end), (ny("2013-10-07T15:00:00"), ny("2013-10-07T16:00:00")));
        assert!(b.current().is_none(), "after-hours trade starts nothing");
    }
}
