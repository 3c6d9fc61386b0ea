//! `target-position`: hold a signed fraction of the allocation proportional to a signal strength.
//!
//! The strength is a stochastic reading of the last N completed candles:
//! `s = 100 · (close − LL_N) / (HH_N − LL_N)` (50 when the range is empty). The target is
//! `(2s − 100) / 100` of the allocation: fully long at the top of the range, fully short at
//! the bottom, flat in the middle. A target is proposed on the first in-session trade after
//! each completed candle; the decision engine trades only when the position is outside the
//! recipe's `tolerance` band around the target (see `decision`).

use std::collections::VecDeque;

use rust_decimal::Decimal;

use super::{Direction, Phase, Signal, Strategy, TradeContext};
use crate::market::event::{Candle, Trade};

/// The target-position strategy state.
#[derive(Debug, Clone)]
pub struct TargetPosition {
    n: usize,
    /// Allowed distance from the target, as a fraction of the allocation.
    pub tolerance: Decimal,
    highs: VecDeque<Decimal>,
    lows: VecDeque<Decimal>,
    pending: Option<(Decimal, u8)>,
}

impl TargetPosition {
    /// A new strategy over `n` candles with the given tolerance fraction.
    pub fn new(n: u32, tolerance: Decimal) -> Result<Self, String> {
        let max = crate::indicators::MAX_PERIOD;
        if n == 0 || n as usize > max {
            return Err(format!("ma_period (the range length) must be 1..={max}, got {n}"));
        }
        let n = n as usize;
        Ok(Self {
            n,
            tolerance,
            highs: VecDeque::with_capacity(n + 1),
            lows: VecDeque::with_capacity(n + 1),
            pending: None,
        })
    }

    /// The range the target is read in: the highest high and the lowest low of the last N
    /// completed candles (`None` until N candles have completed).
    pub fn range(&self) -> Option<(Decimal, Decimal)> {
        if self.highs.len() < self.n {
            return None;
        }
        Some((self.highs.iter().copied().max()?, self.lows.iter().copied().min()?))
    }
}

impl Strategy for TargetPosition {
    fn on_candle(&mut self, c: &Candle) {
        self.highs.push_back(c.high);
        self.lows.push_back(c.low);
        if self.highs.len() > self.n {
            self.highs.pop_front();
            self.lows.pop_front();
        }
        if self.highs.len() < self.n {
            return;
        }
        let hh = self.highs.iter().copied().max().unwrap_or(c.high);
        let ll = self.lows.iter().copied().min().unwrap_or(c.low);
        let hundred = Decimal::ONE_HUNDRED;
        let s = if hh > ll { hundred * (c.close - ll) / (hh - ll) } else { Decimal::from(50) };
        let s = s.clamp(Decimal::ZERO, hundred);
        let target = (Decimal::TWO * s - hundred) / hundred;
        let strength = u8::try_from(s.round().mantissa()).unwrap_or(100).min(100);
        self.pending = Some((target, strength));
    }

    #[inline]
    fn on_trade(&mut self, t: &Trade, ctx: TradeContext) -> Option<Signal> {
        if ctx.phase != Phase::Open {
            return None;
        }
        let (target, strength) = self.pending.take()?;
        Some(Signal {
            ts: t.ts,
            symbol: t.symbol,
            price: t.price,
            direction: Direction::Target(target),
            strength,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SymbolId, Timestamp};
    use crate::strategy::Holding;
    use rust_decimal_macros::dec;

    fn candle(h: Decimal, l: Decimal, c: Decimal) -> Candle {
        Candle {
            symbol: SymbolId(0),
            start: Timestamp(0),
            end: Timestamp(1),
            open: c,
            high: h,
            low: l,
            close: c,
            volume: dec!(1),
        }
    }

    #[test]
    fn target_follows_position_in_range() {
        let mut s = TargetPosition::new(2, dec!(0.1)).unwrap();
        let t = Trade { symbol: SymbolId(0), ts: Timestamp(5), price: dec!(10), size: dec!(1) };
        let ctx = TradeContext { phase: Phase::Open, holding: Holding::Flat };
        s.on_candle(&candle(dec!(12), dec!(8), dec!(10)));
        assert_eq!(s.on_trade(&t, ctx), None, "needs N candles");
        s.on_candle(&candle(dec!(11), dec!(9), dec!(11)));
        let sig = s.on_trade(&t, ctx).unwrap();
        // range 8..12, close 11 → s = 75 %, target = +0.5.
        assert_eq!(sig.direction, Direction::Target(dec!(0.5)));
        assert_eq!(sig.strength, 75);
        assert_eq!(s.on_trade(&t, ctx), None, "once per candle");
        s.on_candle(&candle(dec!(9), dec!(8), dec!(8)));
        let out = TradeContext { phase: Phase::OutOfSession, holding: Holding::Long };
        assert_eq!(s.on_trade(&t, out), None);
        assert_eq!(s.on_trade(&t, ctx).unwrap().direction, Direction::Target(dec!(-1)));
    }

    #[test]
    fn the_range_is_the_last_n_candles_high_and_low() {
        let mut s = TargetPosition::new(2, dec!(0.1)).unwrap();
        assert_eq!(s.range(), None);
        s.on_candle(&candle(dec!(12), dec!(8), dec!(10)));
        assert_eq!(s.range(), None, "needs N candles");
        s.on_candle(&candle(dec!(11), dec!(9), dec!(11)));
        assert_eq!(s.range(), Some((dec!(12), dec!(8))));
        s.on_candle(&candle(dec!(10), dec!(9.5), dec!(10)));
        assert_eq!(s.range(), Some((dec!(11), dec!(9))), "the oldest candle left the range");
    }
}
