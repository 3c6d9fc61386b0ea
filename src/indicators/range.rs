//! Range indicators: ATR (Wilder) and Donchian channels.

use std::collections::VecDeque;

use rust_decimal::Decimal;

use super::{Candle, Indicator, check_period};

/// Average true range with Wilder smoothing, as TA-Lib computes it: the first candle only
/// provides a previous close; the first ATR is the mean of the next `n` true ranges; after
/// that `atr = (atr·(n−1) + tr) / n`.
#[derive(Debug, Clone)]
pub struct Atr {
    n: usize,
    prev_close: Option<Decimal>,
    count: usize,
    sum: Decimal,
    value: Option<Decimal>,
}

impl Atr {
    /// An ATR over `n` candles.
    ///
    /// # Errors
    /// `n` is 0.
    pub fn new(n: usize) -> Result<Self, String> {
        let n = check_period("ATR", n)?;
        Ok(Self { n, prev_close: None, count: 0, sum: Decimal::ZERO, value: None })
    }
}

/// True range of a candle given the previous close.
pub fn true_range(c: &Candle, prev_close: Decimal) -> Decimal {
    c.high.max(prev_close) - c.low.min(prev_close)
}

impl Indicator for Atr {
    type Input = Candle;
    type Output = Decimal;

    fn update(&mut self, c: Candle) -> Option<Decimal> {
        let prev = self.prev_close.replace(c.close)?;
        let tr = true_range(&c, prev);
        let n = Decimal::from(self.n);
        self.value = match self.value {
            Some(atr) => Some((atr * (n - Decimal::ONE) + tr) / n),
            None => {
                self.sum += tr;
                self.count += 1;
                (self.count == self.n).then(|| self.sum / n)
            }
        };
        self.value
    }
}

/// Donchian channel values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DonchianBands {
    /// Highest high of the last `n` candles.
    pub upper: Decimal,
    /// Lowest low of the last `n` candles.
    pub lower: Decimal,
    /// `(upper + lower) / 2`.
    pub middle: Decimal,
}

/// Donchian channels over the last `n` candles (this one included), with monotonic deques:
/// amortised O(1) per update.
#[derive(Debug, Clone)]
pub struct Donchian {
    n: usize,
    i: usize,
    highs: VecDeque<(usize, Decimal)>,
    lows: VecDeque<(usize, Decimal)>,
}

impl Donchian {
    /// Channels over `n` candles.
    ///
    /// # Errors
    /// `n` is 0.
    pub fn new(n: usize) -> Result<Self, String> {
        let n = check_period("Donchian", n)?;
        Ok(Self { n, i: 0, highs: VecDeque::new(), lows: VecDeque::new() })
    }
}

impl Indicator for Donchian {
    type Input = Candle;
    type Output = DonchianBands;

    fn update(&mut self, c: Candle) -> Option<DonchianBands> {
        let i = self.i;
        self.i += 1;
        while self.highs.back().is_some_and(|&(_, h)| h <= c.high) {
            self.highs.pop_back();
        }
        self.highs.push_back((i, c.high));
        while self.lows.back().is_some_and(|&(_, l)| l >= c.low) {
            self.lows.pop_back();
        }
        self.lows.push_back((i, c.low));
        while self.highs.front().is_some_and(|&(j, _)| j + self.n <= i) {
            self.highs.pop_front();
        }
        while self.lows.front().is_some_and(|&(j, _)| j + self.n <= i) {
            self.lows.pop_front();
        }
        if self.i < self.n {
            return None;
        }
        let upper = self.highs.front()?.1;
        let lower = self.lows.front()?.1;
        Some(DonchianBands { upper, lower, middle: (upper + lower) / Decimal::TWO })
    }
}
