//! The price band: drops off-market prints before candles, strategies or the broker see them.
//!
//! Recorded tapes carry prints far from where the instrument trades: the SPY tape of
//! 2013-10-08 has a 1,002,300-share print at 167.51 at 15:36:10.115 while SPY traded at 165.95
//! (and Lean's 1-second bars carry it, and another at 15:03:04, as bars). A breakout rule would
//! enter on such a print and the paper broker would fill there. [`PriceBand`] drops them.
//!
//! The rule, per instrument:
//! - the **reference** is the last accepted price (a trade's price, a bar's close), for
//!   [`PriceBandConfig::window_nanos`] after it printed (a bar prints its close at its end);
//! - a trade is accepted if its price, a bar if its low and high, lie within
//!   reference × (1 ± [`PriceBandConfig::max_deviation`]); otherwise it is dropped and counted;
//! - with no reference (the first print) or a stale one (the night before, a halt, a quiet
//!   pre-market), the print is accepted and becomes the reference: an opening gap of several
//!   percent is the market, not an error. Bars longer than the window are therefore never
//!   checked (a minute can move more than a band meant for seconds);
//! - a new level is confirmed by [`CONFIRMING_PRINTS`] dropped prints in a row that agree with
//!   each other (each within the band around the first of them): the last of them is accepted
//!   and becomes the reference, so a real jump costs the prints before it, never more than the
//!   window's worth;
//! - quotes pass unchecked.
//!
//! Cost per print: a symbol lookup, the age, two comparisons with the precomputed band edges;
//! the edges are recomputed (two exact integer products, no division) only when the
//! reference price changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rust_decimal::Decimal;

use super::event::MarketEvent;
use crate::model::{Price, SymbolId, fastdec};

/// Dropped prints in a row, agreeing with each other, that make a new level.
pub const CONFIRMING_PRINTS: u32 = 3;

/// How wide the band is and how long a price stays its reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceBandConfig {
    /// Largest accepted distance from the reference, as a fraction of it (0.005 = 0.5 %).
    pub max_deviation: Decimal,
    /// How long an accepted price stays the reference, in nanoseconds.
    pub window_nanos: i64,
}

/// How many prints a [`PriceBand`] dropped; clones share the count (a replay's band runs on
/// the feeder's thread, the report is written by the driver's).
#[derive(Debug, Clone, Default)]
pub struct DroppedPrints(Arc<AtomicU64>);

impl DroppedPrints {
    /// Prints dropped so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The off-market print filter (see the module docs).
#[derive(Debug)]
pub struct PriceBand {
    window: i64,
    /// `1 + max_deviation` and `1 − max_deviation`: the edges are the reference times these.
    up: Decimal,
    down: Decimal,
    /// One reference per instrument seen (one or two in practice: a linear search is fastest).
    refs: Vec<(SymbolId, Reference)>,
    dropped: DroppedPrints,
}

/// One instrument's reference price, its band, and the level dropped prints agree on.
#[derive(Debug, Clone, Copy)]
struct Reference {
    price: Price,
    /// When `price` printed (ns); `None` before the first print.
    at: Option<i64>,
    low: Price,
    high: Price,
    /// The band around the first of the latest dropped prints, and how many agreed with it.
    candidate: Option<(Price, Price)>,
    agreeing: u32,
}

impl PriceBand {
    /// A band with these limits. Any values are usable: a deviation of 100 % or more never
    /// drops a low print, a window of 0 or less makes every reference stale (nothing dropped).
    pub fn new(cfg: PriceBandConfig) -> Self {
        Self {
            window: cfg.window_nanos,
            up: Decimal::ONE.saturating_add(cfg.max_deviation),
            down: Decimal::ONE.saturating_sub(cfg.max_deviation),
            refs: Vec::with_capacity(2),
            dropped: DroppedPrints::default(),
        }
    }

    /// The count of dropped prints, shared.
    pub fn dropped(&self) -> DroppedPrints {
        self.dropped.clone()
    }

    /// Whether `ev` passes; a dropped print is counted.
    #[inline]
    pub fn admit(&mut self, ev: &MarketEvent) -> bool {
        let (symbol, at, low, high, last) = match ev {
            MarketEvent::Trade(t) => (t.symbol, t.ts.0, t.price, t.price, t.price),
            MarketEvent::Bar(b) => {
                (b.symbol, b.ts.0.saturating_add(b.duration_nanos), b.low, b.high, b.close)
            }
            MarketEvent::Quote(_) => return true,
        };
        let (up, down, window) = (self.up, self.down, self.window);
        let r = self.reference(symbol);
        let fresh = r.at.is_some_and(|t| at.saturating_sub(t) <= window);
        if fresh && fastdec::ge(low, r.low) && fastdec::le(high, r.high) {
            r.accept(last, at, up, down);
            return true;
        }
        if !fresh || r.confirms(low, high, last, up, down) {
            r.accept(last, at, up, down);
            return true;
        }
        self.dropped.0.fetch_add(1, Ordering::Relaxed);
        false
    }

    #[inline]
    fn reference(&mut self, symbol: SymbolId) -> &mut Reference {
        let i = match self.refs.iter().position(|(s, _)| *s == symbol) {
            Some(i) => i,
            None => {
                let none = Reference {
                    price: Decimal::ZERO,
                    at: None,
                    low: Decimal::ZERO,
                    high: Decimal::ZERO,
                    candidate: None,
                    agreeing: 0,
                };
                self.refs.push((symbol, none));
                self.refs.len() - 1
            }
        };
        &mut self.refs[i].1
    }
}

impl Reference {
    /// `price` printed at `at` is accepted: it is the reference from now on.
    #[inline]
    fn accept(&mut self, price: Price, at: i64, up: Decimal, down: Decimal) {
        // Most prints repeat the reference: the same bits are the same value, same edges.
        if self.at.is_none() || price.serialize() != self.price.serialize() {
            self.price = price;
            (self.low, self.high) = (times(price, down), times(price, up));
        }
        self.at = Some(at);
        self.candidate = None;
    }

    /// A print outside the band: whether it is the [`CONFIRMING_PRINTS`]-th in a row agreeing
    /// with the first of them (a new level), else it starts or extends the candidate level.
    #[cold]
    fn confirms(&mut self, low: Price, high: Price, last: Price, up: Decimal, down: Decimal) -> bool {
        match self.candidate {
            Some((lo, hi)) if fastdec::ge(low, lo) && fastdec::le(high, hi) => self.agreeing += 1,
            _ => {
                self.candidate = Some((times(last, down), times(last, up)));
                self.agreeing = 1;
            }
        }
        self.agreeing >= CONFIRMING_PRINTS
    }
}

/// `a × b` exactly: the product of the mantissas at the sum of the scales (no division, no
/// call into `rust_decimal`) when it fits, else `rust_decimal`'s product, saturated.
#[inline]
fn times(a: Decimal, b: Decimal) -> Decimal {
    let scale = a.scale() + b.scale();
    if scale <= 28
        && let Some(m) = a.mantissa().checked_mul(b.mantissa())
        && m.unsigned_abs() < (1u128 << 96)
    {
        let abs = m.unsigned_abs();
        // Truncating casts pick the three 32-bit words of a magnitude below 2^96.
        #[allow(clippy::cast_possible_truncation)]
        return Decimal::from_parts(abs as u32, (abs >> 32) as u32, (abs >> 64) as u32, m < 0, scale);
    }
    a.checked_mul(b).unwrap_or(if a.is_sign_negative() == b.is_sign_negative() {
        Decimal::MAX
    } else {
        Decimal::MIN
    })
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::market::event::{Bar, Quote, Trade};
    use crate::model::Timestamp;

    const SEC: i64 = 1_000_000_000;

    fn band() -> PriceBand {
        PriceBand::new(PriceBandConfig { max_deviation: dec!(0.005), window_nanos: 10 * SEC })
    }

    fn trade(secs: i64, price: Decimal) -> MarketEvent {
        MarketEvent::Trade(Trade { symbol: SymbolId(0), ts: Timestamp(secs * SEC), price, size: dec!(100) })
    }

    /// Which of `prints` (seconds, price) pass.
    fn passed(b: &mut PriceBand, prints: &[(i64, Decimal)]) -> Vec<bool> {
        prints.iter().map(|(s, p)| b.admit(&trade(*s, *p))).collect()
    }

    #[test]
    fn an_isolated_print_off_the_market_is_dropped_and_counted() {
        let mut b = band();
        let tape =
            [(0, dec!(165.95)), (1, dec!(165.96)), (1, dec!(167.51)), (2, dec!(165.95)), (3, dec!(165.1))];
        // 167.51 is 0.93 % above 165.96; 165.1 is 0.52 % below 165.95.
        assert_eq!(passed(&mut b, &tape), [true, true, false, true, false]);
        assert_eq!(b.dropped().get(), 2);
        // The edges are exact: 165.95 × 1.005 = 166.77975 passes, a cent more does not.
        let mut b = band();
        assert_eq!(passed(&mut b, &[(0, dec!(165.95)), (1, dec!(166.77975)), (2, dec!(165.95))]), [true; 3]);
        assert_eq!(passed(&mut b, &[(3, dec!(166.78975))]), [false]);
    }

    #[test]
    fn a_gap_after_the_window_and_a_confirmed_level_move_the_band() {
        let mut b = band();
        // The open, 4 % above last night's close: the reference is stale, the print is the market.
        assert_eq!(passed(&mut b, &[(0, dec!(100)), (3600, dec!(104)), (3601, dec!(104.1))]), [true; 3]);
        // A jump inside the window: dropped until three prints in a row agree on the new level.
        let jump = [(3602, dec!(108)), (3602, dec!(108.2)), (3603, dec!(107.9)), (3603, dec!(108.1))];
        assert_eq!(passed(&mut b, &jump), [false, false, true, true]);
        // Prints that do not agree with each other start over; the band follows accepted prints.
        let scattered = [(3604, dec!(100)), (3604, dec!(112)), (3605, dec!(100)), (3605, dec!(108.3))];
        assert_eq!(passed(&mut b, &scattered), [false, false, false, true]);
        assert_eq!(b.dropped().get(), 5);
        // A halt longer than the window: the first print after it is kept.
        assert_eq!(passed(&mut b, &[(3700, dec!(99))]), [true]);
    }

    #[test]
    fn bars_are_checked_by_low_and_high_at_their_end_and_quotes_pass() {
        let mut b = band();
        let bar = |secs: i64, len: i64, low: Decimal, high: Decimal| {
            MarketEvent::Bar(Bar {
                symbol: SymbolId(0),
                ts: Timestamp(secs * SEC),
                duration_nanos: len * SEC,
                open: low,
                high,
                low,
                close: low,
                volume: dec!(1000),
            })
        };
        assert!(b.admit(&bar(0, 1, dec!(165.95), dec!(165.96))));
        assert!(!b.admit(&bar(1, 1, dec!(165.95), dec!(167.51))), "an off-market high");
        assert!(b.admit(&bar(2, 1, dec!(165.94), dec!(165.97))));
        // A minute bar ends 60 s after the reference: older than the window, never checked.
        assert!(b.admit(&bar(60, 60, dec!(165.9), dec!(167.51))));
        let quote = Quote {
            symbol: SymbolId(0),
            ts: Timestamp(121 * SEC),
            bid: dec!(1),
            bid_size: dec!(1),
            ask: dec!(1000),
            ask_size: dec!(1),
        };
        assert!(b.admit(&MarketEvent::Quote(quote)));
        assert_eq!(b.dropped().get(), 1);
    }

    #[test]
    fn each_instrument_has_its_own_reference() {
        let mut b = band();
        let other = MarketEvent::Trade(Trade {
            symbol: SymbolId(1),
            ts: Timestamp(SEC),
            price: dec!(380),
            size: dec!(1),
        });
        assert!(b.admit(&trade(0, dec!(165.95))));
        assert!(b.admit(&other));
        assert!(b.admit(&trade(2, dec!(165.9))));
    }

    #[test]
    fn products_are_exact_and_saturate() {
        for (a, f) in
            [(dec!(165.95), dec!(1.005)), (dec!(0.0001), dec!(0.995)), (dec!(12345678.1234), dec!(1.5))]
        {
            assert_eq!(times(a, f), a * f, "{a} × {f}");
        }
        assert_eq!(times(Decimal::MAX, dec!(2)), Decimal::MAX);
        let wide = PriceBand::new(PriceBandConfig { max_deviation: Decimal::MAX, window_nanos: SEC });
        assert_eq!((wide.up, wide.down), (Decimal::MAX, Decimal::ONE - Decimal::MAX));
    }
}
