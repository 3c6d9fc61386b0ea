//! The engine's candle aggregation for strategies: buckets `[start, start + tf)` on a grid
//! aligned to exchange-local midnight, labelled by start, only from in-session prices, cut
//! at the session close, completed by the first price at or past the bucket's end.
//!
//! A price stamped exactly on a boundary belongs to the new bucket; the old candle is
//! returned first, before that price is looked at. Empty buckets make no candle.
//! (The market module's general candle builder covers Heikin-Ashi and Renko for
//! `runner candles`; this one is the allocation-free hot path the agent loop needs.)

use super::session::Day;
use crate::market::event::Candle;
use crate::model::{Price, Qty, SymbolId, Timestamp};

/// Aggregates prices into time candles.
#[derive(Debug, Clone)]
pub struct CandleAggregator {
    symbol: SymbolId,
    tf: i64,
    cur: Option<Candle>,
}

impl CandleAggregator {
    /// Candles of `tf_nanos` for `symbol`.
    pub fn new(symbol: SymbolId, tf_nanos: i64) -> Self {
        Self { symbol, tf: tf_nanos.max(1), cur: None }
    }

    /// Complete the forming candle if `ts` is at or past its end.
    #[inline]
    pub fn roll(&mut self, ts: Timestamp) -> Option<Candle> {
        if self.cur.as_ref().is_some_and(|c| ts >= c.end) { self.cur.take() } else { None }
    }

    /// Add an in-session price (or a bar's OHLC) stamped `ts`, after [`Self::roll`].
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
                    if high > c.high {
                        c.high = high;
                    }
                    if low < c.low {
                        c.low = low;
                    }
                    c.close = close;
                }
                c.volume += volume;
            }
            None => {
                let start = day.midnight + (ts.0 - day.midnight).div_euclid(self.tf) * self.tf;
                let end = (start + self.tf).min(day.close);
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
