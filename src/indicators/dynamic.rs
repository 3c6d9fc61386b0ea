//! Indicators chosen at run time by name (`sma:9`, `atr:14`, `donchian:20`, …), as columns.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::{
    Atr, Candle, Donchian, Ema, Fractals, Indicator, MAX_PERIOD, PivotPoints, Sma, Swings, check_period,
};

/// An indicator named on the command line or in a recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndicatorSpec {
    /// `sma:N` of closes.
    Sma(usize),
    /// `ema:N` of closes.
    Ema(usize),
    /// `atr:N` (Wilder).
    Atr(usize),
    /// `donchian:N` (upper, middle, lower).
    Donchian(usize),
    /// `pivots`: classic levels from the previous candle.
    Pivots,
    /// `fractals`: Bill Williams 5-bar fractals.
    Fractals,
    /// `swings:N`: N-bar swing highs/lows.
    Swings(usize),
}

impl FromStr for IndicatorSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        let (name, arg) = match t.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (t.as_str(), None),
        };
        // Bounded here, before anything is built: a period sizes the indicator's window.
        let period = || -> Result<usize, String> {
            let a = arg.ok_or_else(|| format!("`{name}` needs a period, e.g. `{name}:14`"))?;
            let bad = || format!("bad period `{a}` for `{name}`: expected a whole number 1..={MAX_PERIOD}");
            let n = a.trim().parse::<usize>().map_err(|_| bad())?;
            check_period(name, n).map_err(|_| bad())
        };
        let no_arg = |spec: Self| match arg {
            None => Ok(spec),
            Some(_) => Err(format!("`{name}` takes no period")),
        };
        match name {
            "sma" => Ok(Self::Sma(period()?)),
            "ema" => Ok(Self::Ema(period()?)),
            "atr" => Ok(Self::Atr(period()?)),
            "donchian" => Ok(Self::Donchian(period()?)),
            "swings" | "swing" => Ok(Self::Swings(period()?)),
            "pivots" | "pivot" => no_arg(Self::Pivots),
            "fractals" | "fractal" => no_arg(Self::Fractals),
            _ => Err(format!(
                "unknown indicator `{s}`: expected sma:N, ema:N, atr:N, donchian:N, swings:N, pivots or fractals"
            )),
        }
    }
}

impl fmt::Display for IndicatorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sma(n) => write!(f, "sma:{n}"),
            Self::Ema(n) => write!(f, "ema:{n}"),
            Self::Atr(n) => write!(f, "atr:{n}"),
            Self::Donchian(n) => write!(f, "donchian:{n}"),
            Self::Swings(n) => write!(f, "swings:{n}"),
            Self::Pivots => f.write_str("pivots"),
            Self::Fractals => f.write_str("fractals"),
        }
    }
}

impl IndicatorSpec {
    /// Parse a comma-separated list (`sma:9,atr:14`).
    ///
    /// # Errors
    /// Any item is not a known indicator.
    pub fn parse_list(s: &str) -> Result<Vec<Self>, String> {
        s.split(',').filter(|p| !p.trim().is_empty()).map(str::parse).collect()
    }

    /// The column names this indicator produces.
    pub fn columns(&self) -> Vec<String> {
        let base = self.to_string().replace(':', "_");
        match self {
            Self::Donchian(_) => ["upper", "middle", "lower"].iter().map(|s| format!("{base}_{s}")).collect(),
            Self::Pivots => {
                ["p", "r1", "s1", "r2", "s2", "r3", "s3"].iter().map(|s| format!("pivot_{s}")).collect()
            }
            Self::Fractals => vec!["fractal_high".into(), "fractal_low".into()],
            Self::Swings(_) => vec![format!("{base}_high"), format!("{base}_low")],
            _ => vec![base],
        }
    }

    /// How many completed candles it reads before its first value: what a run starting part-way
    /// through the data replays before its start. Moving averages of all history (EMA, ATR's
    /// Wilder smoothing) keep a trace of older candles that fades but never reaches zero.
    pub fn warm_up(&self) -> usize {
        match *self {
            Self::Sma(n) | Self::Ema(n) | Self::Donchian(n) => n,
            Self::Atr(n) => n + 1,
            Self::Swings(n) => 2 * n + 1,
            Self::Pivots => 1,
            Self::Fractals => 5,
        }
    }

    /// A fresh indicator of this kind.
    ///
    /// # Errors
    /// A period of 0 (only possible for a spec built by hand; parsing rejects it).
    pub fn build(&self) -> Result<CandleIndicator, String> {
        let inner = match *self {
            Self::Sma(n) => Inner::Sma(Sma::new(n)?),
            Self::Ema(n) => Inner::Ema(Ema::new(n)?),
            Self::Atr(n) => Inner::Atr(Atr::new(n)?),
            Self::Donchian(n) => Inner::Donchian(Donchian::new(n)?),
            Self::Swings(n) => Inner::Swings(Swings::new(n)?),
            Self::Pivots => Inner::Pivots(PivotPoints, None),
            Self::Fractals => Inner::Fractals(Fractals::new()),
        };
        Ok(CandleIndicator { spec: *self, inner })
    }
}

#[derive(Debug, Clone)]
enum Inner {
    Sma(Sma),
    Ema(Ema),
    Atr(Atr),
    Donchian(Donchian),
    Pivots(PivotPoints, Option<super::PivotLevels>),
    Fractals(Fractals),
    Swings(Swings),
}

/// An indicator fed candle by candle, producing a row of optional values (one per column).
///
/// Pattern indicators (fractals, swings) report in the row of the candle that *confirms* them;
/// pivots show the levels of the previous candle, i.e. those in force during this one.
#[derive(Debug, Clone)]
pub struct CandleIndicator {
    spec: IndicatorSpec,
    inner: Inner,
}

impl CandleIndicator {
    /// What it is.
    pub fn spec(&self) -> IndicatorSpec {
        self.spec
    }

    /// Feed a candle; the values of [`IndicatorSpec::columns`], `None` where there is none.
    pub fn update(&mut self, c: &Candle) -> Vec<Option<Decimal>> {
        match &mut self.inner {
            Inner::Sma(i) => vec![i.update(c.close)],
            Inner::Ema(i) => vec![i.update(c.close)],
            Inner::Atr(i) => vec![i.update(*c)],
            Inner::Donchian(i) => match i.update(*c) {
                Some(b) => vec![Some(b.upper), Some(b.middle), Some(b.lower)],
                None => vec![None; 3],
            },
            Inner::Pivots(i, prev) => {
                let out = match prev {
                    Some(l) => [l.pivot, l.r1, l.s1, l.r2, l.s2, l.r3, l.s3].map(Some).to_vec(),
                    None => vec![None; 7],
                };
                *prev = i.update(*c);
                out
            }
            Inner::Fractals(i) => {
                let f = i.update(*c);
                vec![f.and_then(|f| f.high), f.and_then(|f| f.low)]
            }
            Inner::Swings(i) => {
                let s = i.update(*c);
                vec![s.and_then(|s| s.high), s.and_then(|s| s.low)]
            }
        }
    }
}
