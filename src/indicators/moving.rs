//! Moving averages: simple and exponential.

use std::collections::VecDeque;

use rust_decimal::Decimal;

use super::{Indicator, check_period};

/// Simple moving average of the last `n` values (a running sum over a ring buffer).
#[derive(Debug, Clone)]
pub struct Sma {
    n: usize,
    window: VecDeque<Decimal>,
    sum: Decimal,
    divisor: Decimal,
}

impl Sma {
    /// An SMA over `n` values.
    ///
    /// # Errors
    /// `n` is 0.
    pub fn new(n: usize) -> Result<Self, String> {
        let n = check_period("SMA", n)?;
        Ok(Self { n, window: VecDeque::with_capacity(n + 1), sum: Decimal::ZERO, divisor: Decimal::from(n) })
    }

    /// The period.
    pub fn period(&self) -> usize {
        self.n
    }
}

impl Indicator for Sma {
    type Input = Decimal;
    type Output = Decimal;

    fn update(&mut self, x: Decimal) -> Option<Decimal> {
        self.window.push_back(x);
        self.sum += x;
        if self.window.len() > self.n {
            // The window just exceeded n, so it is not empty.
            if let Some(old) = self.window.pop_front() {
                self.sum -= old;
            }
        }
        (self.window.len() == self.n).then(|| self.sum / self.divisor)
    }
}

/// Exponential moving average with `k = 2 / (n + 1)`, seeded by the SMA of the first `n`
/// values (TA-Lib's default), then `ema += (x - ema) * k`.
#[derive(Debug, Clone)]
pub struct Ema {
    k: Decimal,
    seed: Sma,
    value: Option<Decimal>,
}

impl Ema {
    /// An EMA over `n` values.
    ///
    /// # Errors
    /// `n` is 0.
    pub fn new(n: usize) -> Result<Self, String> {
        let seed = Sma::new(n)?;
        Ok(Self { k: Decimal::TWO / Decimal::from(n + 1), seed, value: None })
    }

    /// The current value, if warmed up.
    pub fn value(&self) -> Option<Decimal> {
        self.value
    }
}

impl Indicator for Ema {
    type Input = Decimal;
    type Output = Decimal;

    fn update(&mut self, x: Decimal) -> Option<Decimal> {
        self.value = match self.value {
            Some(prev) => Some((x - prev) * self.k + prev),
            None => self.seed.update(x),
        };
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn sma_and_ema_by_hand() {
        let mut s = Sma::new(3).unwrap();
        let out: Vec<_> = [dec!(1), dec!(2), dec!(3), dec!(4)].into_iter().map(|x| s.update(x)).collect();
        assert_eq!(out, [None, None, Some(dec!(2)), Some(dec!(3))]);
        let mut e = Ema::new(3).unwrap();
        let out: Vec<_> = [dec!(1), dec!(2), dec!(3), dec!(5)].into_iter().map(|x| e.update(x)).collect();
        assert_eq!(out, [None, None, Some(dec!(2)), Some(dec!(3.5))]);
        assert!(Sma::new(0).is_err());
    }
}
