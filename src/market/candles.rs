//! Time candles from trades and vendor bars: the one candle aggregation, used by the engine's
//! agents (for their strategies) and by `runner candles`, so the command prints exactly the
//! candles a strategy sees.
//!
//! Rules (see also docs/strategies.md):
//! - buckets are `[start, start + tf)` on a grid aligned to local (New York) midnight,
//!   labelled by their grid start, in exchange time ([`Day::bucket`]); `tf` is any length from
//!   1 s to 4 h, or `1d`: one candle per trading session, `[open, close)` of that day's
//!   session on the calendar (early closes included), labelled by the open;
//! - only prices inside the session ([`SessionClock`]: the NYSE calendar's regular or
//!   extended hours, an explicit window, or 24x7) go into candles; a bucket's end is cut at
//!   the session close, so a candle never spans sessions. The first candle of a session that
//!   opens off the grid keeps its grid label: with a 09:30 open, the first 1h candle is
//!   `[09:00, 10:00)` and holds the prices of 09:30–10:00;
//! - a candle completes on the first price at or past its end — in or out of the session, so
//!   the session's last candle completes on the first print after the close — or at the end
//!   of the data ([`CandleBuilder::flush`]). A price stamped exactly on a boundary belongs to
//!   the new bucket; the old candle is returned first, before that price is looked at;
//! - empty buckets make no candle;
//! - a vendor [`Bar`] adds its OHLCV to the bucket of its start time (first open, max high,
//!   min low, last close, summed volume); a bar longer than the timeframe is not split.
//!   This is how 1-second bars roll up into minute bars identical to Lean's minute files;
//! - events must come in time order (the replay guarantees it).
//!
//! [`CandleAggregator`] is the allocation-free core the hot path needs; [`CandleBuilder`]
//! puts it behind the session clock and is what both the agent loop and the command drive.
//! Heikin-Ashi and Renko are applied to completed candles afterwards
//! ([`crate::engine::candles::CandleStyle`]).

use super::event::{Bar, Candle, MarketEvent, Trade};
use super::session::{Day, SessionClock, SessionHours, Timeframe};
use crate::model::{Price, Qty, SymbolId, Timestamp, fastdec};
use crate::strategy::Phase;

/// Aggregates in-session prices into time candles of one length for one instrument.
#[derive(Debug, Clone)]
pub struct CandleAggregator {
    symbol: SymbolId,
    tf: i64,
    cur: Option<Candle>,
    /// A completed candle not yet taken ([`Self::roll_in_place`]).
    done: Option<Candle>,
}

impl CandleAggregator {
    /// Candles of `tf_nanos` for `symbol`.
    pub fn new(symbol: SymbolId, tf_nanos: i64) -> Self {
        Self { symbol, tf: tf_nanos.max(1), cur: None, done: None }
    }

    /// The forming candle, if any.
    pub fn current(&self) -> Option<&Candle> {
        self.cur.as_ref()
    }

    /// Complete the forming candle if `ts` is at or past its end.
    #[inline]
    pub fn roll(&mut self, ts: Timestamp) -> Option<Candle> {
        if self.cur.as_ref().is_some_and(|c| ts >= c.end) { self.cur.take() } else { None }
    }

    /// [`Self::roll`] keeping the completed candle here until [`Self::take_completed`]:
    /// whether one completed. The hot path moves no candle unless one completes.
    #[inline]
    pub fn roll_in_place(&mut self, ts: Timestamp) -> bool {
        if self.cur.as_ref().is_some_and(|c| ts >= c.end) {
            self.done = self.cur.take();
            true
        } else {
            false
        }
    }

    /// The candle [`Self::roll_in_place`] completed, if not yet taken.
    #[inline]
    pub fn take_completed(&mut self) -> Option<Candle> {
        self.done.take()
    }

    /// Add an in-session price (or a bar's OHLCV) stamped `ts` of `day`, after [`Self::roll`].
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        ts: Timestamp,
        day: &Day,
        open: Price,
        high: Price,
        low: Price,
        close: Price,
        volume: Qty,
    ) {
        match &mut self.cur {
            Some(c) => {
                // Most prints repeat the last price: the same bits are the same value, so the
                // high/low comparisons can be skipped without any Decimal arithmetic.
                if high.serialize() != c.close.serialize() || low.serialize() != c.close.serialize() {
                    if fastdec::gt(high, c.high) {
                        c.high = high;
                    }
                    if fastdec::lt(low, c.low) {
                        c.low = low;
                    }
                    c.close = close;
                }
                fastdec::add_assign(&mut c.volume, volume);
            }
            None => {
                let (start, end) = day.bucket(ts.0, self.tf);
                self.cur = Some(Candle {
                    symbol: self.symbol,
                    start: Timestamp(start),
                    end: Timestamp(end),
                    open,
                    high,
                    low,
                    close,
                    volume,
                });
            }
        }
    }

    /// The forming candle, taken at the end of the data.
    pub fn finish(&mut self) -> Option<Candle> {
        self.cur.take()
    }
}

/// Candles of one timeframe for one instrument, behind the session clock: what an agent
/// builds for its strategy and what `runner candles` prints. See the module docs for the rules.
#[derive(Debug, Clone)]
pub struct CandleBuilder {
    symbol: SymbolId,
    clock: SessionClock,
    agg: CandleAggregator,
}

impl CandleBuilder {
    /// Candles of `tf_nanos` for `symbol` in the session `hours` (New York days; UTC days for
    /// 24x7, [`SessionHours::zone`]).
    pub fn new(symbol: SymbolId, tf_nanos: i64, hours: SessionHours) -> Self {
        Self {
            symbol,
            clock: SessionClock::new(hours.zone(), hours),
            agg: CandleAggregator::new(symbol, tf_nanos),
        }
    }

    /// Candles of timeframe `tf` for `symbol` in the session `hours`.
    pub fn with_timeframe(symbol: SymbolId, tf: Timeframe, hours: SessionHours) -> Self {
        Self::new(symbol, tf.nanos(), hours)
    }

    /// A price (a trade: `open = high = low = close`; a bar: its OHLCV) of this builder's
    /// instrument stamped `ts`: where `ts` falls in its trading day ([`Self::day`] is then that
    /// day), and whether it completed a candle ([`Self::take_completed`] hands it over; it was
    /// completed before this price was added).
    // Always inlined, the day read in place and the completed candle kept here: in the agent
    // loop the clock and the roll then cost what they cost before they were shared (returning
    // the day and the candle through memory added ~8 % to the engine's instructions).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn on_price(
        &mut self,
        ts: Timestamp,
        open: Price,
        high: Price,
        low: Price,
        close: Price,
        volume: Qty,
    ) -> (Phase, bool) {
        let phase = self.clock.phase_of(ts);
        let completed = self.agg.roll_in_place(ts);
        if phase != Phase::OutOfSession {
            self.agg.add(ts, self.clock.today(), open, high, low, close, volume);
        }
        (phase, completed)
    }

    /// The candle the latest [`Self::on_price`] completed, if not yet taken.
    #[inline]
    pub fn take_completed(&mut self) -> Option<Candle> {
        self.agg.take_completed()
    }

    /// The trading day of the latest price (session bounds, flatten time, day index).
    #[inline]
    pub fn day(&self) -> &Day {
        self.clock.today()
    }

    /// Apply a trade; returns the candle it completed, if any.
    pub fn on_trade(&mut self, t: &Trade) -> Option<Candle> {
        if t.symbol != self.symbol {
            return None;
        }
        self.on_price(t.ts, t.price, t.price, t.price, t.price, t.size);
        self.take_completed()
    }

    /// Apply a vendor bar (its OHLCV at its start); returns the candle it completed, if any.
    pub fn on_bar(&mut self, b: &Bar) -> Option<Candle> {
        if b.symbol != self.symbol {
            return None;
        }
        self.on_price(b.ts, b.open, b.high, b.low, b.close, b.volume);
        self.take_completed()
    }

    /// Apply any event of this instrument: trades and bars build candles, quotes only move the
    /// clock ([`Self::on_time`]); other instruments' events are ignored, as an agent does.
    pub fn on_event(&mut self, ev: &MarketEvent) -> Option<Candle> {
        match ev {
            MarketEvent::Trade(t) => self.on_trade(t),
            MarketEvent::Bar(b) => self.on_bar(b),
            MarketEvent::Quote(q) if q.symbol == self.symbol => self.on_time(q.ts),
            MarketEvent::Quote(_) => None,
        }
    }

    /// The clock reached `now`: complete the forming candle if `now` is at or past its end.
    pub fn on_time(&mut self, now: Timestamp) -> Option<Candle> {
        self.agg.roll(now)
    }

    /// The forming candle, if any (not yet complete).
    pub fn current(&self) -> Option<&Candle> {
        self.agg.current()
    }

    /// End of data: complete whatever candle is forming (a completed one not yet taken comes
    /// first; then call again for the forming one).
    pub fn flush(&mut self) -> Option<Candle> {
        self.agg.take_completed().or_else(|| self.agg.finish())
    }
}

/// All candles of a time-ordered event stream at once (tests, tools).
pub fn build_all(
    events: impl IntoIterator<Item = MarketEvent>,
    symbol: SymbolId,
    tf: Timeframe,
    hours: SessionHours,
) -> Vec<Candle> {
    let mut b = CandleBuilder::with_timeframe(symbol, tf, hours);
    let mut out: Vec<Candle> = events.into_iter().filter_map(|e| b.on_event(&e)).collect();
    out.extend(b.flush());
    out
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::calendar::{Calendar, Hours};
    use crate::market::session::Window;

    fn ny(s: &str) -> Timestamp {
        crate::market::csv::parse_timestamp(s.as_bytes()).expect("test time")
    }

    fn trade(ts: &str, p: Decimal) -> Trade {
        Trade { symbol: SymbolId(0), ts: ny(ts), price: p, size: dec!(1) }
    }

    fn builder(tf: &str, window: Window) -> CandleBuilder {
        let tf: Timeframe = tf.parse().expect("timeframe");
        CandleBuilder::with_timeframe(SymbolId(0), tf, SessionHours { window, flatten_at: None })
    }

    fn regular() -> Window {
        Window::Calendar(Calendar::nyse(), Hours::Regular)
    }

    #[test]
    fn boundary_trade_opens_the_next_bucket() {
        let mut b = builder("5m", regular());
        assert_eq!(b.on_trade(&trade("2013-10-07T09:29:59-04:00", dec!(1))), None, "pre-market ignored");
        assert!(b.current().is_none());
        assert_eq!(b.on_trade(&trade("2013-10-07T09:31:00-04:00", dec!(2))), None);
        assert_eq!(b.on_trade(&trade("2013-10-07T09:33:00-04:00", dec!(2.5))), None);
        assert_eq!(b.on_trade(&trade("2013-10-07T09:34:59.999-04:00", dec!(1.5))), None);
        let c = b.on_trade(&trade("2013-10-07T09:35:00-04:00", dec!(4))).expect("completed");
        assert_eq!(
            (c.start, c.end, c.open, c.high, c.low, c.close, c.volume),
            (
                ny("2013-10-07T09:30:00-04:00"),
                ny("2013-10-07T09:35:00-04:00"),
                dec!(2),
                dec!(2.5),
                dec!(1.5),
                dec!(1.5),
                dec!(3)
            )
        );
        assert_eq!(b.current().expect("forming").open, dec!(4));
    }

    #[test]
    fn session_cuts_buckets_and_the_next_print_completes_them() {
        let mut b = builder("1h", regular());
        b.on_trade(&trade("2013-10-07T09:45:00-04:00", dec!(1)));
        let c = b.on_time(ny("2013-10-07T10:00:00-04:00")).expect("completed by the clock");
        assert_eq!((c.start, c.end), (ny("2013-10-07T09:00:00-04:00"), ny("2013-10-07T10:00:00-04:00")));
        b.on_trade(&trade("2013-10-07T15:59:59-04:00", dec!(1)));
        assert_eq!(b.on_time(ny("2013-10-07T15:59:59.5-04:00")), None);
        let c =
            b.on_trade(&trade("2013-10-07T16:00:00-04:00", dec!(9))).expect("after-hours print completes");
        assert_eq!((c.start, c.end), (ny("2013-10-07T15:00:00-04:00"), ny("2013-10-07T16:00:00-04:00")));
        assert!(b.current().is_none(), "after-hours trade starts nothing");
        // 90m on the grid from midnight: 15:00–16:30 cut at the 16:00 close.
        let mut b = builder("90m", regular());
        b.on_trade(&trade("2013-10-07T15:10:00-04:00", dec!(1)));
        let c = b.flush().expect("forming");
        assert_eq!((c.start, c.end), (ny("2013-10-07T15:00:00-04:00"), ny("2013-10-07T16:00:00-04:00")));
    }

    #[test]
    fn holidays_make_no_candles_and_early_closes_cut_them() {
        let mut b = builder("1h", regular());
        let a = b.on_trade(&trade("2013-11-27T12:30:00-05:00", dec!(1)));
        assert!(a.is_none());
        let first =
            b.on_trade(&trade("2013-11-28T12:30:00-05:00", dec!(2))).expect("the next print completes it");
        assert_eq!(first.start, ny("2013-11-27T12:00:00-05:00"));
        assert!(b.current().is_none(), "Thanksgiving: no session");
        b.on_trade(&trade("2013-11-29T12:30:00-05:00", dec!(3)));
        let last =
            b.on_trade(&trade("2013-11-29T13:30:00-05:00", dec!(4))).expect("completed after the close");
        assert_eq!(
            (last.start, last.end),
            (ny("2013-11-29T12:00:00-05:00"), ny("2013-11-29T13:00:00-05:00"))
        );
        assert_eq!(last.close, dec!(3));
        assert!(b.flush().is_none(), "a print after the early close starts nothing");
    }

    #[test]
    fn bars_roll_up_and_other_symbols_are_ignored() {
        let mut b = builder("5m", Window::AllDay);
        let bar = |ts: &str, o, h, l, c, v| Bar {
            symbol: SymbolId(0),
            ts: ny(ts),
            duration_nanos: 60 * Timestamp::NANOS_PER_SEC,
            open: o,
            high: h,
            low: l,
            close: c,
            volume: v,
        };
        b.on_bar(&bar("2013-10-05T10:00:00-04:00", dec!(10), dec!(11), dec!(9), dec!(10.5), dec!(100)));
        b.on_bar(&bar("2013-10-05T10:01:00-04:00", dec!(10.5), dec!(12), dec!(10), dec!(11), dec!(50)));
        let other = Trade {
            symbol: SymbolId(7),
            ts: ny("2013-10-05T10:02:00-04:00"),
            price: dec!(99),
            size: dec!(1),
        };
        assert_eq!(b.on_event(&MarketEvent::Trade(other)), None);
        let c = b.flush().expect("forming");
        assert_eq!(
            (c.open, c.high, c.low, c.close, c.volume),
            (dec!(10), dec!(12), dec!(9), dec!(11), dec!(150)),
            "a Saturday trades 24x7"
        );
    }
}
