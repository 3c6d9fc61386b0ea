//! Candle styles: what a strategy is shown of the time candles.
//!
//! The time candles themselves come from [`crate::market::candles::CandleBuilder`], the one
//! aggregation the agent loop and `runner candles` share. [`CandleStyle`] is the recipe's
//! `algorithm.candles` (and `runner candles --transform`): completed time candles pass through
//! Heikin-Ashi or Renko ([`crate::market::transform`]) before any strategy sees them. The
//! transform runs once per completed candle, never per trade, so it costs the trade path nothing.

use crate::market::event::Candle;
use crate::market::transform::{HeikinAshi, Renko};

/// How completed time candles are shown to the strategy (the recipe's `algorithm.candles`).
#[derive(Debug, Clone)]
pub enum CandleStyle {
    /// Plain OHLC candles, unchanged.
    Standard,
    /// Heikin-Ashi smoothed candles, one per time candle.
    HeikinAshi(HeikinAshi),
    /// Renko bricks made from the time candles' closes: none, one or several per candle.
    Renko(Renko),
}

impl CandleStyle {
    /// Pass one completed time candle through the style; `f` sees every candle the strategy
    /// should see, in order.
    ///
    /// # Errors
    /// Renko: the candle would make more bricks than [`Renko::MAX_BRICKS_PER_CANDLE`] (the
    /// brick size is far too small for the prices); nothing is passed on for that candle.
    #[inline]
    pub fn apply<F: FnMut(&Candle)>(&mut self, c: &Candle, mut f: F) -> Result<(), String> {
        match self {
            Self::Standard => f(c),
            Self::HeikinAshi(ha) => f(&ha.update(c)),
            Self::Renko(r) => {
                for b in r.update(c)? {
                    f(&b);
                }
            }
        }
        Ok(())
    }
}
