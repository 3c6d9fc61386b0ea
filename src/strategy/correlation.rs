//! `correlation`: trade the primary symbol when it breaks its last swing level while the
//! correlated symbol is on the other side of its own (a divergence between the two).
//!
//! The rule is stated precisely in `docs/strategies.md` (section `correlation`); this file
//! implements exactly that. Swing highs/lows are fractals found by the
//! [`Swings`](crate::indicators::Swings) indicator with `fractal_lookback` candles on each
//! side, one tracker per symbol; a level expires once its candle has left the
//! `swing_lookback` most recent completed candles.
//!
//! The engine feeds the primary's candles and trades through [`Strategy::on_candle`] /
//! [`Strategy::on_trade`], and the correlated symbol's through
//! [`Strategy::on_related_candle`] / [`Strategy::on_related_trade`]. A primary trade costs a
//! few comparisons; the swing trackers move only when a candle completes.

use super::{Direction, Holding, Phase, Signal, Strategy, TradeContext};
use crate::indicators::{Indicator, Swings};
use crate::market::event::{Candle, Trade};
use crate::model::{Price, fastdec};

/// Default `fractal_lookback`: candles on each side of a fractal (Bill Williams).
pub const DEFAULT_FRACTAL_LOOKBACK: u32 = 2;
/// Default `swing_lookback`: completed candles a swing level stays usable.
pub const DEFAULT_SWING_LOOKBACK: u32 = 20;

/// A swing level: its price and the index of the candle it was found at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Level {
    at: u64,
    price: Price,
}

/// One symbol's swing tracker: the last fractal high and low and how old they are.
#[derive(Debug, Clone)]
struct SwingTracker {
    fractals: Swings,
    /// Fractal lookback (how late a fractal is confirmed).
    f: u64,
    /// Swing lookback (how long a level stays usable).
    s: u64,
    /// Completed candles so far.
    candles: u64,
    high: Option<Level>,
    low: Option<Level>,
}

/// What one completed candle confirmed.
#[derive(Debug, Clone, Copy, Default)]
struct Confirmed {
    high: bool,
    low: bool,
}

impl SwingTracker {
    fn new(fractal_lookback: u32, swing_lookback: u32) -> Result<Self, String> {
        Ok(Self {
            fractals: Swings::new(fractal_lookback as usize)?,
            f: u64::from(fractal_lookback),
            s: u64::from(swing_lookback),
            candles: 0,
            high: None,
            low: None,
        })
    }

    fn on_candle(&mut self, c: &Candle) -> Confirmed {
        let i = self.candles;
        self.candles += 1;
        let mut new = Confirmed::default();
        if let Some(sw) = self.fractals.update(*c) {
            // The indicator reports the fractal `f` candles late: it is candle `i - f`
            // (i >= 2f here, since the indicator needs 2f + 1 candles).
            let at = i.saturating_sub(self.f);
            if let Some(h) = sw.high {
                self.high = Some(Level { at, price: h });
                new.high = true;
            }
            if let Some(l) = sw.low {
                self.low = Some(Level { at, price: l });
                new.low = true;
            }
        }
        new
    }

    /// Whether a level's candle is among the `s` most recent completed candles.
    #[inline]
    fn live(&self, l: Option<Level>) -> Option<Price> {
        l.filter(|l| l.at + self.s >= self.candles).map(|l| l.price)
    }

    /// The last swing high, if it has not expired.
    #[inline]
    fn swing_high(&self) -> Option<Price> {
        self.live(self.high)
    }

    /// The last swing low, if it has not expired.
    #[inline]
    fn swing_low(&self) -> Option<Price> {
        self.live(self.low)
    }
}

/// The largest `fractal_lookback` (candles on each side of a fractal) [`Correlation::new`]
/// accepts; the recipe schema states the same bound.
pub const MAX_FRACTAL_LOOKBACK: u32 = 1_000;

/// The largest `swing_lookback` (candles a swing level stays usable) [`Correlation::new`]
/// accepts; the recipe schema states the same bound.
pub const MAX_SWING_LOOKBACK: u32 = 10_000;

/// The correlation strategy state.
#[derive(Debug, Clone)]
pub struct Correlation {
    primary: SwingTracker,
    correlated: SwingTracker,
    /// The correlated symbol's latest trade price.
    correlated_last: Option<Price>,
    /// The primary's current swing high has not produced a long signal yet.
    long_armed: bool,
    /// The primary's current swing low has not produced a short signal yet.
    short_armed: bool,
}

impl Correlation {
    /// A new strategy: fractals with `fractal_lookback` (≥ 1) candles on each side, levels
    /// usable for `swing_lookback` (> `fractal_lookback`) completed candles.
    ///
    /// # Errors
    /// A lookback out of range.
    pub fn new(fractal_lookback: u32, swing_lookback: u32) -> Result<Self, String> {
        if fractal_lookback == 0 || fractal_lookback > MAX_FRACTAL_LOOKBACK {
            return Err(format!(
                "fractal_lookback must be 1..={MAX_FRACTAL_LOOKBACK}, got {fractal_lookback}"
            ));
        }
        if swing_lookback <= fractal_lookback || swing_lookback > MAX_SWING_LOOKBACK {
            return Err(format!(
                "swing_lookback must be more than fractal_lookback ({fractal_lookback}) and at most \
                 {MAX_SWING_LOOKBACK}, got {swing_lookback}"
            ));
        }
        Ok(Self {
            primary: SwingTracker::new(fractal_lookback, swing_lookback)?,
            correlated: SwingTracker::new(fractal_lookback, swing_lookback)?,
            correlated_last: None,
            long_armed: false,
            short_armed: false,
        })
    }

    /// The primary's usable (swing high, swing low).
    pub fn primary_levels(&self) -> (Option<Price>, Option<Price>) {
        (self.primary.swing_high(), self.primary.swing_low())
    }

    /// The correlated symbol's usable (swing high, swing low).
    pub fn correlated_levels(&self) -> (Option<Price>, Option<Price>) {
        (self.correlated.swing_high(), self.correlated.swing_low())
    }

    /// The correlated symbol's latest trade price.
    pub fn correlated_price(&self) -> Option<Price> {
        self.correlated_last
    }

    /// Whether a long / a short can still fire on the primary's current swing high / low.
    pub fn armed(&self) -> (bool, bool) {
        (self.long_armed, self.short_armed)
    }

    /// Long condition: the primary above its swing high, the correlated below its swing low.
    #[inline]
    fn long_holds(&self, price: Price, other: Price) -> bool {
        self.long_armed
            && self.primary.swing_high().is_some_and(|h| fastdec::gt(price, h))
            && self.correlated.swing_low().is_some_and(|l| fastdec::lt(other, l))
    }

    /// Short condition: the mirror.
    #[inline]
    fn short_holds(&self, price: Price, other: Price) -> bool {
        self.short_armed
            && self.primary.swing_low().is_some_and(|l| fastdec::lt(price, l))
            && self.correlated.swing_high().is_some_and(|h| fastdec::gt(other, h))
    }
}

impl Strategy for Correlation {
    fn on_candle(&mut self, c: &Candle) {
        let new = self.primary.on_candle(c);
        // A new swing level can be broken once more.
        if new.high {
            self.long_armed = true;
        }
        if new.low {
            self.short_armed = true;
        }
    }

    fn on_related_candle(&mut self, c: &Candle) {
        self.correlated.on_candle(c);
    }

    #[inline]
    fn on_related_trade(&mut self, t: &Trade) {
        self.correlated_last = Some(t.price);
    }

    #[inline]
    fn on_trade(&mut self, t: &Trade, ctx: TradeContext) -> Option<Signal> {
        if ctx.phase != Phase::Open || !(self.long_armed || self.short_armed) {
            return None;
        }
        let other = self.correlated_last?;
        let long = self.long_holds(t.price, other);
        let short = self.short_holds(t.price, other);
        let direction = match (long, short) {
            (true, false) => {
                self.long_armed = false;
                (ctx.holding != Holding::Long).then_some(Direction::Long)
            }
            (false, true) => {
                self.short_armed = false;
                (ctx.holding != Holding::Short).then_some(Direction::Short)
            }
            // Neither, or both at once (crossed levels on both symbols): stand aside.
            _ => None,
        }?;
        Some(Signal { ts: t.ts, symbol: t.symbol, price: t.price, direction, strength: 100 })
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::model::{SymbolId, Timestamp};

    const MIN: i64 = 60 * Timestamp::NANOS_PER_SEC;

    fn candle(sym: u16, i: i64, h: Decimal, l: Decimal) -> Candle {
        let mid = (h + l) / Decimal::TWO;
        Candle {
            symbol: SymbolId(sym),
            start: Timestamp(i * MIN),
            end: Timestamp((i + 1) * MIN),
            open: mid,
            high: h,
            low: l,
            close: mid,
            volume: dec!(100),
        }
    }

    fn trade(sym: u16, i: i64, p: Decimal) -> Trade {
        Trade { symbol: SymbolId(sym), ts: Timestamp(i * MIN), price: p, size: dec!(1) }
    }

    fn open(h: Holding) -> TradeContext {
        TradeContext { phase: Phase::Open, holding: h }
    }

    /// Feed one candle per symbol, `(high, low)` each; candle `i` of both.
    fn feed(s: &mut Correlation, i: i64, p: (Decimal, Decimal), c: (Decimal, Decimal)) {
        s.on_candle(&candle(0, i, p.0, p.1));
        s.on_related_candle(&candle(1, i, c.0, c.1));
    }

    /// Five candles per symbol with fractal lookback 2: the primary's middle candle is a
    /// swing high at 101 (its low 100 is no fractal), the correlated's middle candle is a
    /// swing low at 49 (its high is none either).
    fn diverging() -> Correlation {
        let mut s = Correlation::new(2, 10).unwrap();
        let p = [
            (dec!(100.4), dec!(99.6)),
            (dec!(100.6), dec!(99.8)),
            (dec!(101.0), dec!(100.0)),
            (dec!(100.7), dec!(99.9)),
            (dec!(100.5), dec!(99.7)),
        ];
        let c = [
            (dec!(50.4), dec!(49.6)),
            (dec!(50.3), dec!(49.4)),
            (dec!(50.0), dec!(49.0)),
            (dec!(50.5), dec!(49.3)),
            (dec!(50.6), dec!(49.5)),
        ];
        for (i, (pp, cc)) in p.iter().zip(c).enumerate() {
            feed(&mut s, i as i64, *pp, cc);
        }
        s
    }

    #[test]
    fn no_signal_without_swings() {
        let mut s = Correlation::new(2, 10).unwrap();
        // Four candles: a fractal needs 2 + 1 + 2.
        for i in 0..4 {
            feed(
                &mut s,
                i,
                (dec!(100) + Decimal::from(i), dec!(99)),
                (dec!(50), dec!(49) - Decimal::from(i)),
            );
        }
        assert_eq!(s.primary_levels(), (None, None));
        s.on_related_trade(&trade(1, 4, dec!(10)));
        for p in [dec!(1000), dec!(1)] {
            assert_eq!(s.on_trade(&trade(0, 4, p), open(Holding::Flat)), None, "{p}");
        }
        // Swings on the primary only: still no signal while the correlated has none.
        let mut s = Correlation::new(2, 10).unwrap();
        let p = [dec!(100), dec!(100.5), dec!(101), dec!(100.5), dec!(100)];
        for (i, h) in p.into_iter().enumerate() {
            feed(&mut s, i as i64, (h, h - dec!(1)), (dec!(50), dec!(49)));
        }
        assert_eq!(s.primary_levels().0, Some(dec!(101)));
        assert_eq!(s.correlated_levels(), (None, None), "flat highs and lows make no fractal");
        s.on_related_trade(&trade(1, 5, dec!(10)));
        assert_eq!(s.on_trade(&trade(0, 5, dec!(102)), open(Holding::Flat)), None);
    }

    #[test]
    fn breakout_long_when_the_correlated_is_below_its_swing_low() {
        let mut s = diverging();
        assert_eq!(s.primary_levels(), (Some(dec!(101.0)), None));
        assert_eq!(s.correlated_levels(), (None, Some(dec!(49.0))));
        // Correlated not below its swing low yet (equal is not below): nothing.
        s.on_related_trade(&trade(1, 5, dec!(49.0)));
        assert_eq!(s.on_trade(&trade(0, 5, dec!(101.5)), open(Holding::Flat)), None);
        // Correlated below, primary at the level (not above): nothing.
        s.on_related_trade(&trade(1, 5, dec!(48.99)));
        assert_eq!(s.on_trade(&trade(0, 5, dec!(101.0)), open(Holding::Flat)), None);
        let sig = s.on_trade(&trade(0, 5, dec!(101.01)), open(Holding::Flat)).expect("long");
        assert_eq!(sig.direction, Direction::Long);
        assert_eq!(sig.price, dec!(101.01));
        assert_eq!(sig.strength, 100);
    }

    #[test]
    fn no_entry_outside_the_open_phase_and_the_level_stays_armed() {
        let mut s = diverging();
        s.on_related_trade(&trade(1, 5, dec!(48)));
        for phase in [Phase::OutOfSession, Phase::AfterFlatten] {
            let ctx = TradeContext { phase, holding: Holding::Flat };
            assert_eq!(s.on_trade(&trade(0, 5, dec!(102)), ctx), None);
        }
        assert_eq!(s.armed(), (true, false));
        assert!(s.on_trade(&trade(0, 5, dec!(102)), open(Holding::Flat)).is_some());
    }

    #[test]
    fn one_signal_per_breakout() {
        let mut s = diverging();
        s.on_related_trade(&trade(1, 5, dec!(48)));
        let mut signals = 0;
        for (k, p) in [dec!(101.5), dec!(102), dec!(100), dec!(101.5), dec!(103)].into_iter().enumerate() {
            let held = if signals > 0 { Holding::Long } else { Holding::Flat };
            signals += usize::from(s.on_trade(&trade(0, 5 + k as i64, p), open(held)).is_some());
        }
        assert_eq!(signals, 1);
        // Even flat again (e.g. stopped out), the same swing high does not fire twice.
        assert_eq!(s.on_trade(&trade(0, 9, dec!(104)), open(Holding::Flat)), None);
        assert_eq!(s.armed(), (false, false));
    }

    #[test]
    fn already_long_consumes_the_breakout_without_a_signal() {
        let mut s = diverging();
        s.on_related_trade(&trade(1, 5, dec!(48)));
        assert_eq!(s.on_trade(&trade(0, 5, dec!(102)), open(Holding::Long)), None);
        assert_eq!(s.armed(), (false, false));
    }

    #[test]
    fn mirror_short() {
        // Primary: a swing low at 99 (middle candle); correlated: a swing high at 51.
        let mut s = Correlation::new(2, 10).unwrap();
        let p = [
            (dec!(100.5), dec!(99.5)),
            (dec!(100.4), dec!(99.3)),
            (dec!(100.0), dec!(99.0)),
            (dec!(100.3), dec!(99.4)),
            (dec!(100.2), dec!(99.6)),
        ];
        let c = [
            (dec!(50.5), dec!(49.5)),
            (dec!(50.7), dec!(49.6)),
            (dec!(51.0), dec!(50.0)),
            (dec!(50.6), dec!(49.7)),
            (dec!(50.4), dec!(49.8)),
        ];
        for (i, (pp, cc)) in p.iter().zip(c).enumerate() {
            feed(&mut s, i as i64, *pp, cc);
        }
        assert_eq!(s.primary_levels(), (None, Some(dec!(99.0))));
        assert_eq!(s.correlated_levels(), (Some(dec!(51.0)), None));
        s.on_related_trade(&trade(1, 5, dec!(51.2)));
        let sig = s.on_trade(&trade(0, 5, dec!(98.9)), open(Holding::Flat)).expect("short");
        assert_eq!(sig.direction, Direction::Short);
        // The swing low is consumed: a lower primary price does nothing more.
        assert_eq!(s.on_trade(&trade(0, 5, dec!(98)), open(Holding::Short)), None);
    }

    #[test]
    fn reversal_from_long_to_short_on_new_swings() {
        let mut s = diverging();
        s.on_related_trade(&trade(1, 5, dec!(48)));
        assert_eq!(
            s.on_trade(&trade(0, 5, dec!(102)), open(Holding::Flat)).unwrap().direction,
            Direction::Long
        );
        // Candles 5..9: the primary rallies then makes a swing low at 101.5 (candle 7); the
        // correlated makes a swing high at 50 (candle 7).
        let p = [
            (dec!(103.0), dec!(102.0)),
            (dec!(102.8), dec!(101.8)),
            (dec!(102.5), dec!(101.5)),
            (dec!(102.9), dec!(101.9)),
            (dec!(103.1), dec!(102.1)),
        ];
        let c = [
            (dec!(49.0), dec!(48.0)),
            (dec!(49.5), dec!(48.5)),
            (dec!(50.0), dec!(49.1)),
            (dec!(49.6), dec!(48.8)),
            (dec!(49.4), dec!(48.6)),
        ];
        for (k, (pp, cc)) in p.iter().zip(c).enumerate() {
            feed(&mut s, 5 + k as i64, *pp, cc);
        }
        assert_eq!(s.primary_levels().1, Some(dec!(101.5)));
        assert_eq!(s.correlated_levels().0, Some(dec!(50.0)));
        // Correlated still below its swing high: no short yet.
        s.on_related_trade(&trade(1, 10, dec!(49.9)));
        assert_eq!(s.on_trade(&trade(0, 10, dec!(101.4)), open(Holding::Long)), None);
        s.on_related_trade(&trade(1, 10, dec!(50.1)));
        let sig = s.on_trade(&trade(0, 10, dec!(101.4)), open(Holding::Long)).expect("reverse");
        assert_eq!(sig.direction, Direction::Short);
        assert_eq!(sig.price, dec!(101.4));
    }

    #[test]
    fn levels_expire_after_swing_lookback_candles() {
        // swing_lookback 5: the fractal at candle 2 is usable while candles 2.. are among the
        // 5 most recent, i.e. after candles 4, 5 and 6; after candle 7 it has expired.
        let mut s = Correlation::new(2, 5).unwrap();
        let p = [
            (dec!(100.4), dec!(99.6)),
            (dec!(100.6), dec!(99.8)),
            (dec!(101.0), dec!(100.0)),
            (dec!(100.7), dec!(99.9)),
            (dec!(100.5), dec!(99.7)),
        ];
        for (i, pp) in p.iter().enumerate() {
            s.on_candle(&candle(0, i as i64, pp.0, pp.1));
        }
        for i in 5..7 {
            s.on_candle(&candle(0, i, dec!(100.5), dec!(99.7)));
            assert_eq!(s.primary_levels().0, Some(dec!(101.0)), "after candle {i}");
        }
        s.on_candle(&candle(0, 7, dec!(100.5), dec!(99.7)));
        assert_eq!(s.primary_levels().0, None);
    }

    #[test]
    fn bad_lookbacks_are_errors() {
        assert!(Correlation::new(0, 5).is_err());
        assert!(Correlation::new(2, 2).is_err());
        assert!(Correlation::new(2, 3).is_ok());
    }
}
