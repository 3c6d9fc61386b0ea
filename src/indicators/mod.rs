//! Incremental technical indicators in `Decimal`, O(1) (amortised) per update.
//!
//! Every indicator implements [`Indicator`](crate::indicators::Indicator): feed one input at a time with
//! [`Indicator::update`](crate::indicators::Indicator::update); it returns `None` while warming up, then a value per input.
//!
//! | type | input | output | matches |
//! |---|---|---|---|
//! | [`Sma`](crate::indicators::Sma) | `Decimal` | `Decimal` | TA-Lib `SMA` |
//! | [`Ema`](crate::indicators::Ema) | `Decimal` | `Decimal` | TA-Lib `EMA` (seeded by the SMA of the first `n`) |
//! | [`Atr`](crate::indicators::Atr) | [`Candle`](crate::indicators::Candle) | `Decimal` | TA-Lib `ATR` (Wilder; first value at the `n+1`-th candle) |
//! | [`Donchian`](crate::indicators::Donchian) | [`Candle`](crate::indicators::Candle) | [`DonchianBands`](crate::indicators::DonchianBands) | TA-Lib `MAX(high)`/`MIN(low)` |
//! | [`PivotPoints`](crate::indicators::PivotPoints) | [`Candle`](crate::indicators::Candle) (one period) | [`PivotLevels`](crate::indicators::PivotLevels) | classic floor pivots |
//! | [`Fractals`](crate::indicators::Fractals) | [`Candle`](crate::indicators::Candle) | [`Fractal`](crate::indicators::Fractal) | Bill Williams 5-bar fractals |
//! | [`Swings`](crate::indicators::Swings) | [`Candle`](crate::indicators::Candle) | [`Swing`](crate::indicators::Swing) | N-bar swing highs/lows |
//!
//! [`IndicatorSpec`](crate::indicators::IndicatorSpec) parses `sma:9`-style names and builds a [`CandleIndicator`](crate::indicators::CandleIndicator), the
//! dynamic form used by `runner candles` (columns of optional decimals per candle).

mod dynamic;
mod levels;
mod moving;
mod range;

pub use dynamic::{CandleIndicator, IndicatorSpec};
pub use levels::{Fractal, Fractals, PivotLevels, PivotPoints, Swing, Swings};
pub use moving::{Ema, Sma};
pub use range::{Atr, Donchian, DonchianBands};

pub use crate::market::event::Candle;

/// An incremental indicator.
pub trait Indicator {
    /// What one update consumes (a price or a candle).
    type Input;
    /// What it produces once warmed up.
    type Output;

    /// Feed the next input; `None` while warming up (or, for pattern indicators, when nothing
    /// was found at this step).
    fn update(&mut self, input: Self::Input) -> Option<Self::Output>;
}

/// The longest period (or lookback) any indicator accepts. Indicators keep a window of up to
/// this many inputs, so the bound is what keeps `sma:4000000000` from asking for gigabytes;
/// recipes and `runner candles` are checked against it before anything is built.
pub const MAX_PERIOD: usize = 10_000;

/// Check a period: 1 ..= [`MAX_PERIOD`].
pub(crate) fn check_period(name: &str, n: usize) -> Result<usize, String> {
    if n == 0 || n > MAX_PERIOD {
        Err(format!("{name} period must be 1..={MAX_PERIOD}, got {n}"))
    } else {
        Ok(n)
    }
}
