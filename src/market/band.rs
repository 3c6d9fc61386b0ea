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
//! Cost per print: the common case — the reference price again (86 % of the SPY tape's trades),
//! within the window — is a comparison of bits and one of times. Any other price is compared
//! with the reference's precomputed band edges, and a new reference's edges are two exact
//! integer products (no division, no call into `rust_decimal`).

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
    limits: Limits,
    /// The first instrument's reference, kept in place (the traded one: no pointer to follow on
    /// the common path), and the others' (a related symbol), searched.
    first: Option<SymbolId>,
    reference: Reference,
    others: Vec<(SymbolId, Reference)>,
    dropped: DroppedPrints,
}

/// A [`PriceBandConfig`] as the checks use it.
#[derive(Debug, Clone, Copy)]
struct Limits {
    window: i64,
    /// `1 + max_deviation` and `1 − max_deviation`: the edges are the reference times these.
    up: Decimal,
    down: Decimal,
}

/// A price and its band.
#[derive(Debug, Clone, Copy)]
struct Level {
    price: Price,
    low: Price,
    high: Price,
}

impl Level {
    /// `price` and its band: exact products, no division.
    #[inline(always)]
    fn around(price: Price, limits: &Limits) -> Self {
        Self { price, low: times(price, limits.down), high: times(price, limits.up) }
    }

    /// Whether `low..=high` lies inside this level's band.
    #[inline(always)]
    fn holds(&self, low: Price, high: Price) -> bool {
        fastdec::ge(low, self.low) && fastdec::le(high, self.high)
    }
}

/// One instrument's reference price and band, and the level dropped prints agree on.
#[derive(Debug, Clone, Copy)]
struct Reference {
    /// The reference: the last accepted price, and its band.
    cur: Level,
    /// The last instant `cur` is the reference (its print plus the window); `i64::MIN` before
    /// the first print.
    until: i64,
    /// The band around the first of the latest dropped prints, if `agreeing > 0`.
    candidate: Level,
    /// How many dropped prints in a row agree with `candidate` (0: none since the last accepted).
    agreeing: u32,
}

impl PriceBand {
    /// A band with these limits. Any values are usable: a deviation of 100 % or more never
    /// drops a low print, a window of 0 or less makes every reference stale (nothing dropped).
    pub fn new(cfg: PriceBandConfig) -> Self {
        Self {
            limits: Limits {
                window: cfg.window_nanos,
                up: Decimal::ONE.saturating_add(cfg.max_deviation),
                down: Decimal::ONE.saturating_sub(cfg.max_deviation),
            },
            first: None,
            reference: Reference::NONE,
            others: Vec::new(),
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
        match ev {
            MarketEvent::Trade(t) => self.check(t.symbol, t.ts.0, t.price, None),
            MarketEvent::Bar(b) => {
                self.check(b.symbol, b.ts.0.saturating_add(b.duration_nanos), b.close, Some((b.low, b.high)))
            }
            MarketEvent::Quote(_) => true,
        }
    }

    /// Whether a print of `symbol` at `at` ending at `last` passes; `range` is a bar's
    /// `(low, high)` (a trade's range is its price). The common case — the reference price
    /// again, within the window — costs a comparison of bits and of the age.
    #[inline(always)]
    fn check(&mut self, symbol: SymbolId, at: i64, last: Price, range: Option<(Price, Price)>) -> bool {
        let limits = self.limits;
        let r = if self.first == Some(symbol) { &mut self.reference } else { self.other(symbol) };
        let repeat = match range {
            None => same(last, r.cur.price),
            Some((low, high)) => same(low, r.cur.price) && same(high, r.cur.price),
        };
        if repeat && at <= r.until {
            r.until = at.saturating_add(limits.window);
            r.agreeing = 0;
            return true;
        }
        let (low, high) = range.unwrap_or((last, last));
        if r.moved(at, low, high, last, &limits) {
            return true;
        }
        self.dropped.0.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// The reference of an instrument other than the first (a new one gets a fresh slot).
    #[cold]
    fn other(&mut self, symbol: SymbolId) -> &mut Reference {
        if self.first.is_none() {
            self.first = Some(symbol);
            return &mut self.reference;
        }
        let i = match self.others.iter().position(|(s, _)| *s == symbol) {
            Some(i) => i,
            None => {
                self.others.push((symbol, Reference::NONE));
                self.others.len() - 1
            }
        };
        &mut self.others[i].1
    }
}

impl Reference {
    /// No print yet.
    const NONE: Self = {
        let zero = Level { price: Decimal::ZERO, low: Decimal::ZERO, high: Decimal::ZERO };
        Self { cur: zero, until: i64::MIN, candidate: zero, agreeing: 0 }
    };

    /// [`PriceBand::check`] of a price other than the reference, or of a stale reference:
    /// whether it passes (and becomes the reference).
    #[inline(never)]
    fn moved(&mut self, at: i64, low: Price, high: Price, last: Price, limits: &Limits) -> bool {
        if at <= self.until && !self.cur.holds(low, high) && !self.confirms(low, high, last, limits) {
            return false;
        }
        self.cur = Level::around(last, limits);
        self.until = at.saturating_add(limits.window);
        self.agreeing = 0;
        true
    }

    /// A print outside the band: whether it is the [`CONFIRMING_PRINTS`]-th in a row agreeing
    /// with the first of them (a new level), else it starts or extends the candidate level.
    #[cold]
    fn confirms(&mut self, low: Price, high: Price, last: Price, limits: &Limits) -> bool {
        if self.agreeing > 0 && self.candidate.holds(low, high) {
            self.agreeing += 1;
        } else {
            self.candidate = Level::around(last, limits);
            self.agreeing = 1;
        }
        self.agreeing >= CONFIRMING_PRINTS
    }
}

/// The same bits: certainly the same value (no scale alignment, unlike a comparison). A price
/// written with another number of decimals (`166` and `166.00`) is not "the same" and takes the
/// comparison path, with the same result.
#[inline(always)]
fn same(a: Decimal, b: Decimal) -> bool {
    a.serialize() == b.serialize()
}

/// `a × b` exactly for positive `a` and `b` with mantissas below 2^64 (prices and band
/// factors): one 64×64-bit product of the mantissas at the sum of the scales, no division and
/// no call into `rust_decimal`; anything else goes to [`times_slow`].
#[inline(always)]
fn times(a: Decimal, b: Decimal) -> Decimal {
    let scale = a.scale() + b.scale();
    if let (Ok(ma), Ok(mb)) = (u64::try_from(a.mantissa()), u64::try_from(b.mantissa()))
        && scale <= 28
    {
        let m = u128::from(ma) * u128::from(mb);
        if m < (1u128 << 96) {
            // Truncating casts pick the three 32-bit words of a product below 2^96.
            #[allow(clippy::cast_possible_truncation)]
            return Decimal::from_parts(m as u32, (m >> 32) as u32, (m >> 64) as u32, false, scale);
        }
    }
    times_slow(a, b)
}

/// `rust_decimal`'s product (rounded to 28 digits), saturated at the largest magnitudes.
#[cold]
fn times_slow(a: Decimal, b: Decimal) -> Decimal {
    let saturated = if a.is_sign_negative() == b.is_sign_negative() { Decimal::MAX } else { Decimal::MIN };
    a.checked_mul(b).unwrap_or(saturated)
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
    fn going_back_to_the_previous_price_is_checked_against_the_current_band() {
        let mut b = PriceBand::new(PriceBandConfig { max_deviation: dec!(0.01), window_nanos: 10 * SEC });
        // 101 is in 100's band [99, 101] and 100 in 101's [99.99, 102.01]: back and forth.
        let bounce = [(0, dec!(100)), (1, dec!(101)), (2, dec!(100)), (3, dec!(101)), (4, dec!(100))];
        assert_eq!(passed(&mut b, &bounce), [true; 5]);
        // 99 is in 100's band, but 100 is 1.0101 % above 99, outside 99's band [98.01, 99.99].
        assert_eq!(passed(&mut b, &[(5, dec!(99)), (6, dec!(100)), (7, dec!(99.5))]), [true, false, true]);
        assert_eq!(b.dropped().get(), 1);
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
        assert_eq!((wide.limits.up, wide.limits.down), (Decimal::MAX, Decimal::ONE - Decimal::MAX));
    }
}
