//! What the price chart (`price.svg`) is drawn from: the traded instrument's completed time
//! candles (an option agent's: the underlying's), the strategy's own indicator values at each
//! candle's close, and the run's halts.
//!
//! Memory is bounded: at most [`MAX_CHART_CANDLES`] candles are kept. When that many are held,
//! each pair of neighbours is merged into one (first open, highest high, lowest low, last close,
//! the later indicator values), and from then on every two new candles make one kept candle (four
//! after the next halving, and so on). The chart so always covers the whole run, at a coarser
//! step for long runs; a run of 5,000 candles or fewer is drawn candle for candle.

use rust_decimal::Decimal;

use crate::market::event::Candle;
use crate::model::{Price, Timestamp};
use crate::strategy::AnyStrategy;

/// The most candles a run keeps for its price chart (see the module docs).
pub const MAX_CHART_CANDLES: usize = 5_000;

/// One candle of the price chart, with the strategy's indicator values at its close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartCandle {
    /// Start of the (first merged) candle.
    pub start: Timestamp,
    /// End of the (last merged) candle.
    pub end: Timestamp,
    /// First price.
    pub open: Price,
    /// Highest price.
    pub high: Price,
    /// Lowest price.
    pub low: Price,
    /// Last price.
    pub close: Price,
    /// The strategy's indicator values after this candle, in [`ChartData::names`] order
    /// (`None` while an indicator warms up).
    pub lines: Vec<Option<Decimal>>,
}

impl ChartCandle {
    /// Extend this candle by the one after it.
    pub(crate) fn merge(&mut self, later: &ChartCandle) {
        self.end = later.end;
        self.high = self.high.max(later.high);
        self.low = self.low.min(later.low);
        self.close = later.close;
        self.lines.clone_from(&later.lines);
    }
}

/// A halt of the agent: entries refused for the rest of the day (or run), with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halt {
    /// When it halted.
    pub ts: Timestamp,
    /// Why (`daily-loss-limit: equity … below …`).
    pub reason: String,
}

/// The candles and indicator lines of a run, bounded (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartData {
    /// The indicator lines' names (`moving average`, `breakout high`, …).
    pub names: Vec<&'static str>,
    /// The kept candles, oldest first.
    pub candles: Vec<ChartCandle>,
    /// How many completed candles each kept candle holds (1 until the first halving).
    pub merged: usize,
    /// The kept candle being filled (when `merged > 1`) and how many candles it holds.
    partial: Option<(ChartCandle, usize)>,
}

impl ChartData {
    /// Add a completed candle and the strategy's state after it.
    pub fn push(&mut self, c: &Candle, strategy: &AnyStrategy) {
        let (names, values) = strategy_lines(strategy);
        if self.names.is_empty() {
            self.names = names.to_vec();
        }
        let candle = ChartCandle {
            start: c.start,
            end: c.end,
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            lines: values[..names.len()].to_vec(),
        };
        self.add(candle);
    }

    fn add(&mut self, candle: ChartCandle) {
        let merged = self.merged.max(1);
        let (mut kept, n) = match self.partial.take() {
            Some((mut p, n)) => {
                p.merge(&candle);
                (p, n + 1)
            }
            None => (candle, 1),
        };
        if n < merged {
            self.partial = Some((kept, n));
            return;
        }
        if self.candles.len() >= MAX_CHART_CANDLES {
            let halved = self
                .candles
                .chunks(2)
                .map(|pair| {
                    let mut first = pair[0].clone();
                    if let Some(second) = pair.get(1) {
                        first.merge(second);
                    }
                    first
                })
                .collect();
            self.candles = halved;
            self.merged = merged * 2;
            // The candle just completed starts the next pair.
            if self.merged > n {
                self.partial = Some((kept, n));
                return;
            }
        }
        kept.lines.shrink_to_fit();
        self.candles.push(kept);
        self.merged = merged;
    }

    /// The kept candles with the one still being filled, oldest first.
    pub fn finish(mut self) -> Self {
        if let Some((p, _)) = self.partial.take() {
            self.candles.push(p);
        }
        self
    }
}

/// The indicator values a strategy computes and acts on, by name: the moving average and the
/// breakout range of `ma-cross-breakout`, the range `target-position` reads its target in (full
/// long at its high, full short at its low), the swing levels of `correlation`.
/// `external-signal` computes nothing, so it draws none.
fn strategy_lines(s: &AnyStrategy) -> (&'static [&'static str], [Option<Decimal>; 3]) {
    match s {
        AnyStrategy::MaCrossBreakout(m) => {
            let (high, low) = m.levels().unzip();
            (&["moving average", "breakout high", "breakout low"], [m.sma(), high, low])
        }
        AnyStrategy::Correlation(c) => {
            let (high, low) = c.primary_levels();
            (&["swing high", "swing low"], [high, low, None])
        }
        AnyStrategy::TargetPosition(t) => {
            let (high, low) = t.range().unzip();
            (&["range high", "range low"], [high, low, None])
        }
        AnyStrategy::ExternalSignal(_) => (&[], [None; 3]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::IndicatorSpec;
    use crate::model::SymbolId;
    use crate::strategy::Strategy;
    use crate::strategy::ma_cross_breakout::{BreakoutMode, MaCrossBreakout};
    use rust_decimal_macros::dec;

    fn candle(i: i64, close: Decimal) -> Candle {
        Candle {
            symbol: SymbolId(0),
            start: Timestamp(i * 300),
            end: Timestamp(i * 300 + 300),
            open: close - dec!(0.5),
            high: close + Decimal::ONE,
            low: close - Decimal::ONE,
            close,
            volume: Decimal::ONE,
        }
    }

    #[test]
    fn the_moving_average_is_the_strategys_and_equals_runner_candles_sma() {
        let mut s =
            AnyStrategy::MaCrossBreakout(MaCrossBreakout::new(3, 2, BreakoutMode::Range).expect("strategy"));
        let mut sma = IndicatorSpec::Sma(3).build().expect("sma");
        let mut chart = ChartData::default();
        for (i, close) in [dec!(10), dec!(11), dec!(13), dec!(12), dec!(9)].into_iter().enumerate() {
            let c = candle(i as i64, close);
            s.on_candle(&c);
            chart.push(&c, &s);
            let expected = sma.update(&c);
            assert_eq!(chart.candles[i].lines[0], expected[0], "candle {i}");
        }
        let chart = chart.finish();
        assert_eq!(chart.names, ["moving average", "breakout high", "breakout low"]);
        assert_eq!(chart.candles[1].lines[0], None, "warming up");
        // Breakout range of the last 2 candles: highs 13, 10 → 13; lows 11, 8 → 8.
        assert_eq!((chart.candles[4].lines[1], chart.candles[4].lines[2]), (Some(dec!(13)), Some(dec!(8))));
    }

    #[test]
    fn a_long_run_keeps_at_most_the_cap_and_covers_it_all() {
        let s =
            AnyStrategy::MaCrossBreakout(MaCrossBreakout::new(3, 2, BreakoutMode::Range).expect("strategy"));
        let mut chart = ChartData::default();
        let n = MAX_CHART_CANDLES as i64 * 3 + 7;
        for i in 0..n {
            chart.push(&candle(i, Decimal::from(100 + i % 50)), &s);
            assert!(chart.candles.len() <= MAX_CHART_CANDLES);
        }
        let chart = chart.finish();
        assert!(chart.candles.len() <= MAX_CHART_CANDLES + 1 && chart.candles.len() > MAX_CHART_CANDLES / 4);
        assert_eq!(chart.merged, 4);
        assert_eq!(chart.candles[0].start, Timestamp(0));
        assert_eq!(chart.candles.last().map(|c| c.end), Some(Timestamp(n * 300)));
        // Kept candles tile the run: each starts where the one before ended.
        assert!(chart.candles.windows(2).all(|w| w[0].end == w[1].start));
        assert!(chart.candles.iter().all(|c| c.high == c.high.max(c.open).max(c.close)));
    }
}
