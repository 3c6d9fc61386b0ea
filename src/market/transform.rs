//! Candle transforms usable on any candle stream: Heikin-Ashi and Renko.
//!
//! Both take completed [`Candle`]s one at a time and produce [`Candle`]s, so their output can
//! feed indicators or strategies like ordinary candles.

use rust_decimal::Decimal;

use super::event::Candle;

/// Heikin-Ashi smoothing.
///
/// `close = (O+H+L+C)/4`; `open = (previous HA open + previous HA close)/2`, or `(O+C)/2` for
/// the first candle; `high = max(H, open, close)`; `low = min(L, open, close)`. Times, symbol
/// and volume are the source candle's.
#[derive(Debug, Clone, Default)]
pub struct HeikinAshi {
    prev: Option<(Decimal, Decimal)>,
}

impl HeikinAshi {
    /// A fresh transform.
    pub fn new() -> Self {
        Self::default()
    }

    /// Transform the next candle.
    pub fn update(&mut self, c: &Candle) -> Candle {
        let close = (c.open + c.high + c.low + c.close) / Decimal::from(4);
        let open = match self.prev {
            Some((o, cl)) => (o + cl) / Decimal::TWO,
            None => (c.open + c.close) / Decimal::TWO,
        };
        self.prev = Some((open, close));
        Candle { open, close, high: c.high.max(open).max(close), low: c.low.min(open).min(close), ..*c }
    }
}

/// Classic close-based Renko bricks of a fixed size.
///
/// The first candle's close is the reference. A new brick in the current direction needs the
/// close to move one brick beyond the last brick's far edge; a reversal needs two bricks (the
/// close must pass the last brick's near edge by a full brick). One candle can make several
/// bricks. A brick is a [`Candle`] with `open`/`close` on its edges, `high = max`, `low = min`,
/// the source candle's times; the first brick of a candle carries its volume, the rest zero.
#[derive(Debug, Clone)]
pub struct Renko {
    size: Decimal,
    /// Last brick's (open, close), or the reference price as (p, p) before the first brick.
    last: Option<(Decimal, Decimal)>,
}

impl Renko {
    /// Bricks of this size.
    ///
    /// # Errors
    /// The size is not positive.
    pub fn new(size: Decimal) -> Result<Self, String> {
        if size <= Decimal::ZERO || size >= Decimal::from(1_000_000_000_000_000_000_i64) {
            return Err(format!("Renko brick size must be positive and below 10^18, not {size}"));
        }
        Ok(Self { size, last: None })
    }

    /// Most bricks one candle may make; more means the brick size is far too small.
    pub const MAX_BRICKS_PER_CANDLE: usize = 100_000;

    /// Feed a candle; returns the bricks it completed (often none).
    ///
    /// # Errors
    /// The candle would make more than [`Renko::MAX_BRICKS_PER_CANDLE`] bricks (the brick
    /// size is too small for the prices); the state is left unchanged and nothing is allocated.
    pub fn update(&mut self, c: &Candle) -> Result<Vec<Candle>, String> {
        let Some((mut o, mut cl)) = self.last else {
            self.last = Some((c.close, c.close));
            return Ok(Vec::new());
        };
        let p = c.close;
        // Continuing needs one brick beyond the far edge, reversing one beyond the near edge
        // (two bricks from the far one): both are "a brick past the top/bottom", and every
        // further brick continues, so the count is the distance past that edge in bricks.
        let (top, bottom) = (o.max(cl), o.min(cl));
        let distance = if p >= top + self.size {
            p - top
        } else if p <= bottom - self.size {
            bottom - p
        } else {
            return Ok(Vec::new());
        };
        let count = distance
            .checked_div(self.size)
            .and_then(|n| usize::try_from(n.trunc()).ok())
            .filter(|n| *n <= Self::MAX_BRICKS_PER_CANDLE)
            .ok_or_else(|| {
                format!(
                    "Renko brick size {} is too small: one candle would make more than {} bricks",
                    self.size,
                    Self::MAX_BRICKS_PER_CANDLE
                )
            })?;
        let brick = |open: Decimal, close: Decimal, first: bool| Candle {
            open,
            close,
            high: open.max(close),
            low: open.min(close),
            volume: if first { c.volume } else { Decimal::ZERO },
            ..*c
        };
        let mut out = Vec::with_capacity(count);
        loop {
            let top = o.max(cl);
            let bottom = o.min(cl);
            let b = if p >= top + self.size {
                brick(top, top + self.size, out.is_empty())
            } else if p <= bottom - self.size {
                brick(bottom, bottom - self.size, out.is_empty())
            } else {
                break;
            };
            (o, cl) = (b.open, b.close);
            out.push(b);
        }
        self.last = Some((o, cl));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SymbolId, Timestamp};
    use rust_decimal_macros::dec;

    fn candle(o: Decimal, h: Decimal, l: Decimal, c: Decimal) -> Candle {
        Candle {
            symbol: SymbolId(0),
            start: Timestamp(0),
            end: Timestamp(1),
            open: o,
            high: h,
            low: l,
            close: c,
            volume: dec!(10),
        }
    }

    #[test]
    fn heikin_ashi_by_hand() {
        let mut ha = HeikinAshi::new();
        let a = ha.update(&candle(dec!(10), dec!(12), dec!(9), dec!(11)));
        assert_eq!((a.open, a.close, a.high, a.low), (dec!(10.5), dec!(10.5), dec!(12), dec!(9)));
        let b = ha.update(&candle(dec!(11), dec!(11), dec!(8), dec!(8)));
        assert_eq!((b.open, b.close, b.high, b.low), (dec!(10.5), dec!(9.5), dec!(11), dec!(8)));
    }

    #[test]
    fn renko_needs_two_bricks_to_reverse() {
        let mut r = Renko::new(dec!(1)).unwrap();
        assert!(r.update(&candle(dec!(100), dec!(100), dec!(100), dec!(100))).unwrap().is_empty());
        let up = r.update(&candle(dec!(100), dec!(102.5), dec!(100), dec!(102.5))).unwrap();
        assert_eq!(
            up.iter().map(|b| (b.open, b.close)).collect::<Vec<_>>(),
            [(dec!(100), dec!(101)), (dec!(101), dec!(102))]
        );
        assert_eq!(up[1].volume, dec!(0));
        assert!(
            r.update(&candle(dec!(102), dec!(102), dec!(100.5), dec!(100.5))).unwrap().is_empty(),
            "one brick back is no reversal"
        );
        let down = r.update(&candle(dec!(101), dec!(101), dec!(99.9), dec!(99.9))).unwrap();
        let mut tiny = Renko::new(dec!(0.0000001)).unwrap();
        tiny.update(&candle(dec!(1), dec!(1), dec!(1), dec!(1))).unwrap();
        assert!(tiny.update(&candle(dec!(1), dec!(2), dec!(1), dec!(2))).is_err());
        assert_eq!(down.iter().map(|b| (b.open, b.close)).collect::<Vec<_>>(), [(dec!(101), dec!(100))]);
    }
}
