//! `ma-cross-breakout`: a close crossing its N-candle simple moving average arms an entry,
//! which fires on a trade breaking out of the K most recent completed candles' range.
//!
//! The rule is stated precisely in `docs/strategies.md`; this file implements exactly that.
//! All comparisons are exact: the MA test is `N·close` against the sum of the last N closes,
//! in `Decimal`, so no rounding can create or hide a cross.
//!
//! Hot path: a trade costs one or two `Decimal` comparisons while armed and nothing otherwise;
//! the rolling windows are updated only when a candle completes.

use std::collections::VecDeque;

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Direction, Holding, Phase, Signal, Strategy, TradeContext};
use crate::market::event::{Candle, Trade};
use crate::model::{Price, fastdec};

/// Breakout confirmation for ma-cross-breakout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BreakoutMode {
    /// Price must break the high/low of the last `breakout_lookback` candles.
    #[default]
    Range,
    /// The moving average's slope must agree with the cross.
    MaSlope,
}

/// The ma-cross-breakout strategy state.
#[derive(Debug, Clone)]
pub struct MaCrossBreakout {
    n: usize,
    n_dec: Decimal,
    k: usize,
    mode: BreakoutMode,
    /// The last N+1 closes (oldest first).
    closes: VecDeque<Price>,
    /// Sum of the last N closes (valid once `closes.len() > n - 1`).
    sum: Decimal,
    /// Highs and lows of the last K completed candles.
    highs: VecDeque<Price>,
    lows: VecDeque<Price>,
    /// Highest high / lowest low of `highs` / `lows` (the breakout levels).
    hh: Price,
    ll: Price,
    /// The MA rose / fell on the last completed candle (ma-slope mode).
    slope_up: bool,
    slope_down: bool,
    armed_long: bool,
    armed_short: bool,
    candles_seen: u64,
}

impl MaCrossBreakout {
    /// A new strategy with MA period `n` (≥ 1) and breakout lookback `k` (≥ 1).
    pub fn new(n: u32, k: u32, mode: BreakoutMode) -> Result<Self, String> {
        let max = crate::indicators::MAX_PERIOD;
        if n == 0 || n as usize > max {
            return Err(format!("ma_period must be 1..={max}, got {n}"));
        }
        if k == 0 || k as usize > max {
            return Err(format!("breakout_lookback must be 1..={max}, got {k}"));
        }
        let (n, k) = (n as usize, k as usize);
        Ok(Self {
            n,
            n_dec: Decimal::from(n as u64),
            k,
            mode,
            closes: VecDeque::with_capacity(n + 2),
            sum: Decimal::ZERO,
            highs: VecDeque::with_capacity(k + 1),
            lows: VecDeque::with_capacity(k + 1),
            hh: Decimal::ZERO,
            ll: Decimal::ZERO,
            slope_up: false,
            slope_down: false,
            armed_long: false,
            armed_short: false,
            candles_seen: 0,
        })
    }

    /// Whether a long entry is armed.
    pub fn armed_long(&self) -> bool {
        self.armed_long
    }

    /// Whether a short entry is armed.
    pub fn armed_short(&self) -> bool {
        self.armed_short
    }

    /// The current breakout levels (highest high, lowest low) of the last K completed candles.
    pub fn levels(&self) -> Option<(Price, Price)> {
        (!self.highs.is_empty()).then_some((self.hh, self.ll))
    }

    /// The current SMA, once N candles have completed.
    pub fn sma(&self) -> Option<Decimal> {
        (self.closes.len() >= self.n).then(|| self.sum / self.n_dec)
    }
}

impl Strategy for MaCrossBreakout {
    fn on_candle(&mut self, c: &Candle) {
        self.candles_seen += 1;
        // Rolling sum of the last N closes, keeping the previous one for the cross test.
        let prev_sum = self.sum;
        let had_prev = self.closes.len() >= self.n; // sum_{i-1} covered N closes
        let prev_close = self.closes.back().copied();
        self.closes.push_back(c.close);
        self.sum += c.close;
        if self.closes.len() > self.n {
            // Invariant: len was n+1 at most before, so pop keeps exactly n closes in the sum.
            if let Some(old) = self.closes.pop_front() {
                self.sum -= old;
            }
        }
        // Breakout window: the K most recently completed candles, this one included.
        self.highs.push_back(c.high);
        self.lows.push_back(c.low);
        if self.highs.len() > self.k {
            self.highs.pop_front();
            self.lows.pop_front();
        }
        self.hh = self.highs.iter().copied().max().unwrap_or(c.high);
        self.ll = self.lows.iter().copied().min().unwrap_or(c.low);
        tracing::debug!(
            at = %c.end,
            close = %c.close,
            sma = ?self.sma().map(|m| m.round_dp(4)),
            highest = %self.hh,
            lowest = %self.ll,
            "ma-cross-breakout candle"
        );

        if let (true, Some(pc)) = (had_prev, prev_close) {
            // close_i vs SMA_i  <=>  N·close_i vs sum_i ; same for i-1.
            let now_above = self.n_dec * c.close > self.sum;
            let now_below = self.n_dec * c.close < self.sum;
            let prev_above = self.n_dec * pc > prev_sum;
            let prev_below = self.n_dec * pc < prev_sum;
            if now_above && !prev_above {
                self.armed_long = true;
                self.armed_short = false;
                tracing::info!(
                    at = %c.end,
                    close = %c.close,
                    sma = %(self.sum / self.n_dec).round_dp(4),
                    breakout_above = %self.hh,
                    "cross above the SMA: long armed, entry on a print above the breakout level"
                );
            } else if now_below && !prev_below {
                self.armed_short = true;
                self.armed_long = false;
                tracing::info!(
                    at = %c.end,
                    close = %c.close,
                    sma = %(self.sum / self.n_dec).round_dp(4),
                    breakout_below = %self.ll,
                    "cross below the SMA: short armed, entry on a print below the breakout level"
                );
            }
            self.slope_up = self.sum > prev_sum;
            self.slope_down = self.sum < prev_sum;
        }
    }

    #[inline]
    fn on_trade(&mut self, t: &Trade, ctx: TradeContext) -> Option<Signal> {
        if ctx.phase != Phase::Open || !(self.armed_long || self.armed_short) {
            return None;
        }
        let (long_fires, short_fires) = match self.mode {
            BreakoutMode::Range => (
                self.armed_long && fastdec::gt(t.price, self.hh),
                self.armed_short && fastdec::lt(t.price, self.ll),
            ),
            BreakoutMode::MaSlope => (self.armed_long && self.slope_up, self.armed_short && self.slope_down),
        };
        let (direction, held) = if long_fires {
            self.armed_long = false;
            (Direction::Long, Holding::Long)
        } else if short_fires {
            self.armed_short = false;
            (Direction::Short, Holding::Short)
        } else {
            return None;
        };
        let level = if long_fires { self.hh } else { self.ll };
        if ctx.holding == held {
            tracing::info!(at = %t.ts, price = %t.price, %level, "breakout: entry skipped because the position is already {direction}");
            return None;
        }
        tracing::info!(at = %t.ts, price = %t.price, %level, "breakout past the level: {direction} signal");
        Some(Signal { ts: t.ts, symbol: t.symbol, price: t.price, direction, strength: 100 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SymbolId, Timestamp};
    use rust_decimal_macros::dec;

    const MIN: i64 = 60 * Timestamp::NANOS_PER_SEC;

    fn candle(i: i64, o: Decimal, h: Decimal, l: Decimal, c: Decimal) -> Candle {
        Candle {
            symbol: SymbolId(0),
            start: Timestamp(i * MIN),
            end: Timestamp((i + 1) * MIN),
            open: o,
            high: h,
            low: l,
            close: c,
            volume: dec!(100),
        }
    }

    fn flat(i: i64, c: Decimal) -> Candle {
        candle(i, c, c + dec!(0.05), c - dec!(0.05), c)
    }

    fn trade(i: i64, p: Decimal) -> Trade {
        Trade { symbol: SymbolId(0), ts: Timestamp(i * MIN), price: p, size: dec!(1) }
    }

    fn open(h: Holding) -> TradeContext {
        TradeContext { phase: Phase::Open, holding: h }
    }

    /// Three candles at 100, then one closing at 101 with N=3: a cross up on the 4th.
    fn crossed_up() -> MaCrossBreakout {
        let mut s = MaCrossBreakout::new(3, 2, BreakoutMode::Range).unwrap();
        for i in 0..3 {
            s.on_candle(&flat(i, dec!(100)));
        }
        assert!(!s.armed_long());
        s.on_candle(&candle(3, dec!(100), dec!(101.2), dec!(99.9), dec!(101)));
        s
    }

    #[test]
    fn cross_up_arms_long_and_window_is_last_k() {
        let s = crossed_up();
        assert!(s.armed_long() && !s.armed_short());
        assert_eq!(s.levels(), Some((dec!(101.2), dec!(99.9))));
    }

    #[test]
    fn cross_without_breakout_makes_no_trade() {
        let mut s = crossed_up();
        for (i, p) in [dec!(101.0), dec!(101.2), dec!(100.5), dec!(99.95)].into_iter().enumerate() {
            assert_eq!(s.on_trade(&trade(4 + i as i64, p), open(Holding::Flat)), None, "{p}");
        }
        assert!(s.armed_long());
    }

    #[test]
    fn breakout_after_cross_goes_long_once() {
        let mut s = crossed_up();
        let sig = s.on_trade(&trade(4, dec!(101.21)), open(Holding::Flat)).expect("breakout");
        assert_eq!(sig.direction, Direction::Long);
        assert_eq!(sig.price, dec!(101.21));
        assert_eq!(sig.strength, 100);
        // The arm is consumed: a higher price does nothing more.
        assert_eq!(s.on_trade(&trade(4, dec!(102)), open(Holding::Long)), None);
        assert!(!s.armed_long());
    }

    #[test]
    fn no_entry_outside_session_or_after_flatten_but_arm_persists() {
        let mut s = crossed_up();
        for phase in [Phase::OutOfSession, Phase::AfterFlatten] {
            let ctx = TradeContext { phase, holding: Holding::Flat };
            assert_eq!(s.on_trade(&trade(4, dec!(105)), ctx), None);
        }
        assert!(s.armed_long(), "arming persists overnight");
        assert!(s.on_trade(&trade(5, dec!(105)), open(Holding::Flat)).is_some());
    }

    #[test]
    fn already_long_consumes_the_arm_without_a_signal() {
        let mut s = crossed_up();
        assert_eq!(s.on_trade(&trade(4, dec!(102)), open(Holding::Long)), None);
        assert!(!s.armed_long());
    }

    #[test]
    fn reverse_from_long_to_short() {
        let mut s = crossed_up();
        assert!(s.on_trade(&trade(4, dec!(102)), open(Holding::Flat)).is_some());
        // Close back below the MA: sum of last 3 closes (100, 101, 98) = 299 > 3*98.
        s.on_candle(&candle(4, dec!(101), dec!(101.5), dec!(97.8), dec!(98)));
        assert!(s.armed_short());
        let (_, ll) = s.levels().unwrap();
        assert_eq!(ll, dec!(97.8));
        assert_eq!(s.on_trade(&trade(5, dec!(97.8)), open(Holding::Long)), None, "equal is no break");
        let sig = s.on_trade(&trade(5, dec!(97.79)), open(Holding::Long)).expect("break down");
        assert_eq!(sig.direction, Direction::Short);
        assert_eq!(sig.price, dec!(97.79));
    }

    #[test]
    fn chop_around_the_ma_makes_no_trade_storm() {
        // Closes alternate around the MA; every cross re-arms, but price never leaves the
        // range of the last K candles, so nothing fires.
        let mut s = MaCrossBreakout::new(3, 3, BreakoutMode::Range).unwrap();
        let mut signals = 0;
        for i in 0..200 {
            let c = if i % 2 == 0 { dec!(100.10) } else { dec!(99.90) };
            s.on_candle(&candle(i, dec!(100), dec!(100.5), dec!(99.5), c));
            for p in [dec!(100.4), dec!(99.6), dec!(100.0)] {
                let h = Holding::Flat;
                signals += usize::from(s.on_trade(&trade(i + 1, p), open(h)).is_some());
            }
        }
        assert_eq!(signals, 0);
    }

    #[test]
    fn window_rolls_while_armed() {
        let mut s = crossed_up(); // K = 2: HH over candles 2..3 = 101.2
        s.on_candle(&candle(4, dec!(101), dec!(101.1), dec!(100.9), dec!(101))); // candles 3..4
        assert_eq!(s.levels().unwrap().0, dec!(101.2));
        s.on_candle(&candle(5, dec!(101), dec!(101.05), dec!(100.95), dec!(101))); // candles 4..5
        assert_eq!(s.levels().unwrap().0, dec!(101.1));
        assert!(s.armed_long());
        assert!(s.on_trade(&trade(6, dec!(101.11)), open(Holding::Flat)).is_some());
    }

    #[test]
    fn needs_n_plus_one_candles_and_exact_equality_is_not_a_cross() {
        let mut s = MaCrossBreakout::new(3, 2, BreakoutMode::Range).unwrap();
        // Only 3 candles: the third is above the MA of the first three but there is no i-1 SMA.
        s.on_candle(&flat(0, dec!(99)));
        s.on_candle(&flat(1, dec!(99)));
        s.on_candle(&flat(2, dec!(102)));
        assert!(!s.armed_long());
        // close == SMA exactly: (99 + 102 + x)/3 == x  <=> x = 100.5: not above, no cross.
        s.on_candle(&flat(3, dec!(100.5)));
        assert!(!s.armed_long() && !s.armed_short());
    }

    #[test]
    fn ma_slope_mode_fires_when_slope_agrees() {
        let mut s = MaCrossBreakout::new(3, 2, BreakoutMode::MaSlope).unwrap();
        for i in 0..3 {
            s.on_candle(&flat(i, dec!(100)));
        }
        s.on_candle(&flat(3, dec!(101)));
        let sig = s.on_trade(&trade(4, dec!(100.5)), open(Holding::Flat)).expect("slope up");
        assert_eq!(sig.direction, Direction::Long);
    }
}
