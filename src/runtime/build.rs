//! The recipe → component build: each component built from the recipe block that configures it,
//! with the component's own constructor and types (Vector's split: config never spawns, the
//! components never parse a recipe).
//!
//! `runner up` and `runner backtest` build with these at start, and `runner validate` calls the
//! same functions, so that what a run refuses at start, validate refuses too. Errors name the
//! recipe key they come from.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;

use crate::engine::candles::CandleStyle;
use crate::engine::option_leg::{ContractPricer, OptionLeg, TradingDayFn};
use crate::market::session::{SessionHours, Window};
use crate::market::transform::{HeikinAshi, Renko};
use crate::model::SymbolId;
use crate::options::{ChainSettings, OptionSelection, SyntheticChain};
use crate::recipe::Recipe;
use crate::recipe::model::{AlgorithmKind, CandleStyle as RecipeStyle};
use crate::strategy::external_signal::{ExternalEvent, ExternalSignal};
use crate::strategy::{AnyStrategy, correlation, ma_cross_breakout, target_position};

/// Why the recipe's `algorithm` block cannot be built: a parameter missing or out of range.
#[derive(Debug, thiserror::Error)]
#[error("algorithm.{field}: {message}")]
pub struct AlgorithmError {
    /// The recipe field (`ma_period/breakout_lookback` when either may be the culprit).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// The recipe's strategy, trading `symbol`. `signals` is the external-signal feed, required by
/// `external-signal` (read with [`crate::strategy::external_signal::read_signal_file`]).
///
/// # Errors
/// A parameter the strategy refuses, or `external-signal` without a feed.
pub fn strategy(
    recipe: &Recipe,
    symbol: SymbolId,
    signals: Option<Vec<ExternalEvent>>,
) -> Result<AnyStrategy, AlgorithmError> {
    let a = &recipe.algorithm;
    match a.kind {
        AlgorithmKind::MaCrossBreakout => {
            let n = a.ma_period.unwrap_or(9);
            let k = a.breakout_lookback.unwrap_or(7);
            let mode = a.breakout_mode_or_default();
            let s = ma_cross_breakout::MaCrossBreakout::new(n, k, mode)
                .map_err(|message| AlgorithmError { field: "ma_period/breakout_lookback", message })?;
            Ok(AnyStrategy::MaCrossBreakout(s))
        }
        AlgorithmKind::TargetPosition => {
            let n = a.target_position_period();
            let tol = a.tolerance_or_default().fraction();
            let s = target_position::TargetPosition::new(n, tol)
                .map_err(|message| AlgorithmError { field: "ma_period", message })?;
            Ok(AnyStrategy::TargetPosition(s))
        }
        AlgorithmKind::ExternalSignal => {
            let events = signals.ok_or(AlgorithmError {
                field: "kind",
                message: "external-signal needs a signal feed (provider `signals` file)".into(),
            })?;
            Ok(AnyStrategy::ExternalSignal(ExternalSignal::new(symbol, events)))
        }
        AlgorithmKind::Correlation => {
            let f = a.fractal_lookback_or_default();
            let s = a.swing_lookback_or_default();
            let s = correlation::Correlation::new(f, s)
                .map_err(|message| AlgorithmError { field: "swing_lookback/fractal_lookback", message })?;
            Ok(AnyStrategy::Correlation(Box::new(s)))
        }
    }
}

/// The session hours of the recipe's `session` block: its calendar's window and `flatten_at`.
pub fn session_hours(recipe: &Recipe) -> SessionHours {
    let s = &recipe.session;
    SessionHours { window: Window::new(s.calendar, s.hours), flatten_at: s.flatten_at.map(|c| c.0) }
}

/// The candle style of `algorithm.candles` (`renko` needs a positive `brick_size`).
///
/// # Errors
/// `renko` without a usable brick size.
pub fn candle_style(recipe: &Recipe) -> Result<CandleStyle, String> {
    let a = &recipe.algorithm;
    Ok(match a.candles {
        RecipeStyle::Standard => CandleStyle::Standard,
        RecipeStyle::HeikinAshi => CandleStyle::HeikinAshi(HeikinAshi::new()),
        RecipeStyle::Renko => {
            let size = a.brick_size.ok_or("renko candles need algorithm.brick_size")?;
            CandleStyle::Renko(Renko::new(size.value())?)
        }
    })
}

/// The option side of an options recipe, from its `instrument` block, booked under `symbol`.
///
/// # Errors
/// No expiry window or strike rule, an empty window, or chain settings out of range.
pub fn option_leg(recipe: &Recipe, symbol: SymbolId) -> Result<OptionLeg, String> {
    let chain = option_chain(recipe)?;
    let i = &recipe.instrument;
    let expiry = i.expiry.ok_or("instrument.expiry is required for options")?;
    let strike = i.strike.ok_or("instrument.strike is required for options")?;
    OptionLeg::new(chain, OptionSelection { expiry, strike }, symbol).map_err(|e| e.to_string())
}

/// A pricer on an options recipe's synthetic chain (the one its agent trades on).
///
/// # Errors
/// Chain settings out of range.
pub fn contract_pricer(recipe: &Recipe) -> Result<ContractPricer, String> {
    option_chain(recipe).map(ContractPricer::new)
}

/// The synthetic chain of the recipe's `instrument` (its `implied_vol` and `rate`), on NYSE
/// trading days: the one its agent selects and marks contracts on, and the simulated venue
/// quotes them on.
///
/// # Errors
/// Chain settings out of range.
pub fn option_chain(recipe: &Recipe) -> Result<SyntheticChain<TradingDayFn>, String> {
    let i = &recipe.instrument;
    let iv = i.implied_vol_or_default().fraction();
    let implied_vol = iv.to_f64().ok_or_else(|| format!("implied_vol {iv} is out of range"))?;
    let settings = ChainSettings { implied_vol, rate: i.rate_or_default(), ..ChainSettings::default() };
    SyntheticChain::new(&i.underlying, settings, nyse_trading_day as TradingDayFn).map_err(|e| e.to_string())
}

/// NYSE trading days (holidays and special closures excluded).
fn nyse_trading_day(d: NaiveDate) -> bool {
    crate::calendar::Calendar::nyse().is_trading_day(d).unwrap_or(false)
}

/// The other symbol the recipe's algorithm reads and its data path, resolved against `base`
/// (the recipe's directory): `Ok(None)` when the algorithm reads one symbol only.
///
/// # Errors
/// correlation without `algorithm.correlated`, or without its `provider.symbols` entry.
pub fn related_data(recipe: &Recipe, base: &Path) -> Result<Option<(String, PathBuf)>, String> {
    if recipe.algorithm.kind != AlgorithmKind::Correlation {
        return Ok(None);
    }
    let sym = recipe.algorithm.correlated.as_deref().ok_or("correlation needs `algorithm.correlated`")?;
    let path = recipe.provider.symbols.as_ref().and_then(|m| m.get(sym)).ok_or_else(|| {
        format!(
            "correlation needs the data of its correlated symbol {sym}: set `provider.symbols.{sym}` \
             to a CSV file, glob or directory (relative to the recipe)"
        )
    })?;
    Ok(Some((sym.to_owned(), base.join(path))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(algorithm: &str, extra: &str) -> Recipe {
        let yaml = format!(
            "version: 1\nagent: build\nprovider: {{kind: replay, path: spy.csv{extra}}}\n\
             broker: {{kind: paper, account: p, starting_equity: 10000}}\n\
             instrument: {{underlying: SPY, kind: equity}}\n\
             algorithm: {{timeframe: 1m, {algorithm}}}\n"
        );
        crate::recipe::from_yaml_str(&yaml).expect("test recipe loads")
    }

    #[test]
    fn a_refused_parameter_names_its_recipe_key() {
        let r = recipe("kind: ma-cross-breakout, ma_period: 9, breakout_lookback: 7", "");
        assert!(matches!(strategy(&r, SymbolId(0), None), Ok(AnyStrategy::MaCrossBreakout(_))));
        let mut r = r;
        r.algorithm.ma_period = Some(0);
        let e = strategy(&r, SymbolId(0), None).unwrap_err();
        assert_eq!(e.field, "ma_period/breakout_lookback");
        assert!(e.to_string().starts_with("algorithm.ma_period/breakout_lookback: ma_period must be"), "{e}");
        let r = recipe("kind: external-signal", "");
        assert_eq!(strategy(&r, SymbolId(0), None).unwrap_err().field, "kind");
    }

    #[test]
    fn correlation_without_its_data_is_refused() {
        let cor = "kind: correlation, primary: SPY, correlated: QQQ";
        let r = recipe(cor, ", symbols: {QQQ: qqq.csv}");
        let base = Path::new("/recipes");
        assert_eq!(related_data(&r, base), Ok(Some(("QQQ".to_owned(), base.join("qqq.csv")))));
        let e = related_data(&recipe(cor, ""), base).unwrap_err();
        assert!(e.contains("provider.symbols.QQQ"), "{e}");
        assert_eq!(related_data(&recipe("kind: ma-cross-breakout, ma_period: 9", ""), base), Ok(None));
    }
}
