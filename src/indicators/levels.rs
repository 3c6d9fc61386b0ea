//! Price levels: classic pivot points, Bill Williams fractals and N-bar swing points.

use std::collections::VecDeque;

use rust_decimal::Decimal;

use super::{Candle, Indicator, check_period};
use crate::model::Timestamp;

/// Classic (floor-trader) pivot levels computed from one period's high, low and close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PivotLevels {
    /// `P = (H + L + C) / 3`.
    pub pivot: Decimal,
    /// `R1 = 2P − L`.
    pub r1: Decimal,
    /// `S1 = 2P − H`.
    pub s1: Decimal,
    /// `R2 = P + (H − L)`.
    pub r2: Decimal,
    /// `S2 = P − (H − L)`.
    pub s2: Decimal,
    /// `R3 = H + 2(P − L)`.
    pub r3: Decimal,
    /// `S3 = L − 2(H − P)`.
    pub s3: Decimal,
}

impl PivotLevels {
    /// The levels from a period's high, low and close.
    pub fn from_hlc(h: Decimal, l: Decimal, c: Decimal) -> Self {
        let p = (h + l + c) / Decimal::from(3);
        Self {
            pivot: p,
            r1: p * Decimal::TWO - l,
            s1: p * Decimal::TWO - h,
            r2: p + (h - l),
            s2: p - (h - l),
            r3: h + (p - l) * Decimal::TWO,
            s3: l - (h - p) * Decimal::TWO,
        }
    }
}

/// Classic pivot points: feed each *completed period* (e.g. a daily candle); the output is the
/// set of levels for the **next** period.
#[derive(Debug, Clone, Default)]
pub struct PivotPoints;

impl Indicator for PivotPoints {
    type Input = Candle;
    type Output = PivotLevels;

    fn update(&mut self, c: Candle) -> Option<PivotLevels> {
        Some(PivotLevels::from_hlc(c.high, c.low, c.close))
    }
}

/// A confirmed fractal: found at the candle starting `at`, two candles before the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fractal {
    /// Start of the middle candle of the five.
    pub at: Timestamp,
    /// Its high, if it is an up fractal (strictly above the two highs on each side).
    pub high: Option<Decimal>,
    /// Its low, if it is a down fractal (strictly below the two lows on each side).
    pub low: Option<Decimal>,
}

/// Bill Williams fractals over five candles; a fractal is reported once the two candles after
/// it have closed (so two candles late), and only when there is one.
#[derive(Debug, Clone, Default)]
pub struct Fractals {
    last: VecDeque<Candle>,
}

impl Fractals {
    /// A fresh detector.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for Fractals {
    type Input = Candle;
    type Output = Fractal;

    fn update(&mut self, c: Candle) -> Option<Fractal> {
        self.last.push_back(c);
        if self.last.len() > 5 {
            self.last.pop_front();
        }
        if self.last.len() < 5 {
            return None;
        }
        let mid = self.last[2];
        let others = [0, 1, 3, 4].map(|i| self.last[i]);
        let high = others.iter().all(|o| o.high < mid.high).then_some(mid.high);
        let low = others.iter().all(|o| o.low > mid.low).then_some(mid.low);
        (high.is_some() || low.is_some()).then_some(Fractal { at: mid.start, high, low })
    }
}

/// A confirmed swing point, found `n` candles before the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swing {
    /// Start of the swing candle.
    pub at: Timestamp,
    /// Its high, if it is a swing high.
    pub high: Option<Decimal>,
    /// Its low, if it is a swing low.
    pub low: Option<Decimal>,
}

/// N-bar swing highs/lows: a candle is a swing high when its high is above the highs of the `n`
/// candles before it and at least the highs of the `n` after it (so a flat double top counts
/// once, at its first candle); swing lows mirror this. Reported `n` candles late, once
/// confirmed. Sliding-window extremes with monotonic deques: amortised O(1) per update.
#[derive(Debug, Clone)]
pub struct Swings {
    n: usize,
    i: usize,
    window: VecDeque<Candle>,
    highs: VecDeque<(usize, Decimal)>,
    lows: VecDeque<(usize, Decimal)>,
}

impl Swings {
    /// Swings with `n` candles on each side.
    ///
    /// # Errors
    /// `n` is 0.
    pub fn new(n: usize) -> Result<Self, String> {
        let n = check_period("swing lookback", n)?;
        Ok(Self { n, i: 0, window: VecDeque::new(), highs: VecDeque::new(), lows: VecDeque::new() })
    }
}

impl Indicator for Swings {
    type Input = Candle;
    type Output = Swing;

    fn update(&mut self, c: Candle) -> Option<Swing> {
        let i = self.i;
        self.i += 1;
        let size = 2 * self.n + 1;
        self.window.push_back(c);
        if self.window.len() > size {
            self.window.pop_front();
        }
        // Strict pops keep the earliest of equal extremes at the front.
        while self.highs.back().is_some_and(|&(_, h)| h < c.high) {
            self.highs.pop_back();
        }
        self.highs.push_back((i, c.high));
        while self.lows.back().is_some_and(|&(_, l)| l > c.low) {
            self.lows.pop_back();
        }
        self.lows.push_back((i, c.low));
        while self.highs.front().is_some_and(|&(j, _)| j + size <= i) {
            self.highs.pop_front();
        }
        while self.lows.front().is_some_and(|&(j, _)| j + size <= i) {
            self.lows.pop_front();
        }
        if self.window.len() < size {
            return None;
        }
        let mid_idx = i - self.n;
        let mid = self.window[self.n];
        let high = (self.highs.front()?.0 == mid_idx).then_some(mid.high);
        let low = (self.lows.front()?.0 == mid_idx).then_some(mid.low);
        (high.is_some() || low.is_some()).then_some(Swing { at: mid.start, high, low })
    }
}
