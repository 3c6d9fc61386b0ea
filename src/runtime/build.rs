//! The recipe → component build: each component built from the recipe block that configures it,
//! with the component's own constructor and types (Vector's split: config never spawns, the
//! components never parse a recipe).
//!
//! `runner up` and `runner backtest` build with these at start, and `runner validate` calls the
//! same functions, so that what a run refuses at start, validate refuses too. Errors name the
//! recipe key they come from.

use std::path::{Path, PathBuf};

use rust_decimal::prelude::ToPrimitive;

use rust_decimal::Decimal;

use crate::decision::DecisionConfig;
use crate::engine::agent::AgentConfig;
use crate::engine::candles::CandleStyle;
use crate::engine::option_leg::{OptionLeg, TradingDayFn, nyse_trading_day};
use crate::market::session::{SessionHours, Window};
use crate::market::transform::{HeikinAshi, Renko};
use crate::model::Money;
use crate::model::SymbolId;
use crate::options::{ChainSettings, ListedChain, OptionSelection, SyntheticChain};
use crate::recipe::Recipe;
use crate::recipe::model::{
    AccountType as RecipeAccount, Enforcement, InstrumentKind, Regime as RecipeRegime,
};
use crate::recipe::model::{AlgorithmKind, CandleStyle as RecipeStyle};
use crate::risk::account::ComplianceConfig;
use crate::risk::compliance::{AccountType, Regime};
use crate::risk::gate::{ProtectiveExits, RiskLimits};
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

/// The agent's settings from a recipe: sizing, limits, exits, order type, session, compliance.
///
/// # Errors
/// A candle style the recipe cannot have (a Renko brick size out of range).
pub fn agent_config(r: &Recipe) -> Result<AgentConfig, String> {
    let (multiplier, contracts) = match r.instrument.kind {
        InstrumentKind::Equity | InstrumentKind::Crypto => (Decimal::ONE, false),
        InstrumentKind::Option => (Decimal::ONE_HUNDRED, true),
    };
    let b = &r.broker;
    let starting = b.starting_equity.map_or(Decimal::from(100_000), |m| m.value());
    let allocation = r.allocation_or_default().map_or(starting, |m| m.value());
    let max_units = if contracts { r.risk.max_contracts } else { r.risk.max_shares };
    let increment = r.instrument.quantity_increment_or_default();
    Ok(AgentConfig {
        name: r.agent.clone(),
        order_prefix: r.agent.clone(),
        strategy_label: serde_json::to_value(r.algorithm.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        symbol_label: r.instrument.underlying.clone(),
        timeframe_nanos: r.algorithm.timeframe.nanos(),
        hours: session_hours(r),
        starting_cash: starting,
        tick: Decimal::new(1, 2),
        multiplier,
        decision: DecisionConfig {
            allocation,
            entry_size: r.risk.entry_size_or_default(),
            add_size: r.risk.add_size,
            multiplier,
            increment,
            tolerance: r.algorithm.tolerance_or_default().fraction(),
        },
        limits: RiskLimits {
            max_units: max_units.map(Decimal::from),
            max_notional: r.risk.max_notional.map(|m| m.value()),
            multiplier: Some(multiplier),
            max_trades_per_day: r.risk.max_trades_per_day,
            allocation: r.risk.allocation.map(|m| m.value()),
            max_orders_per_minute: r.risk.max_orders_per_minute,
            increment: Some(increment),
            cash_account: b.account_type == RecipeAccount::Cash,
        },
        exits: ProtectiveExits::new(
            r.risk.stop_loss.map(|p| p.fraction()),
            r.risk.take_profit.map(|p| p.fraction()),
            r.risk.trailing_stop.map(|p| p.fraction()),
        ),
        order_type: r.orders.order_type,
        offset_ticks: r.orders.limit_offset_ticks,
        max_slippage_ticks: r.orders.max_slippage_ticks,
        daily_loss_limit: r.risk.daily_loss_limit.map(|m| m.value()),
        max_drawdown: r.risk.max_drawdown.map(|p| p.fraction()),
        // US securities rules: not for crypto.
        compliance: (r.instrument.kind != InstrumentKind::Crypto).then(|| compliance_config(r, starting)),
        candle_style: candle_style(r)?,
        flatten_before_gap: r.session.flatten_before_gap
            && r.provider.kind == crate::recipe::model::ProviderKind::Replay,
    })
}

/// The compliance settings of a recipe's account.
fn compliance_config(r: &Recipe, starting: Money) -> ComplianceConfig {
    ComplianceConfig {
        account_type: match r.broker.account_type {
            RecipeAccount::Cash => AccountType::Cash,
            RecipeAccount::Margin => AccountType::Margin,
        },
        pinned: match r.compliance.regime {
            RecipeRegime::Auto => None,
            RecipeRegime::LegacyPdt => Some(Regime::LegacyPdt),
            RecipeRegime::IntradayMargin => Some(Regime::IntradayMargin),
            RecipeRegime::Off => Some(Regime::Off),
        },
        reg_t: r.compliance.reg_t == Enforcement::Enforce,
        starting_cash: starting,
    }
}

/// The option side of an options recipe, from its `instrument` block, booked under `symbol`.
///
/// # Errors
/// No expiry window or strike rule, an empty window, or chain settings out of range.
pub fn option_leg(recipe: &Recipe, symbol: SymbolId) -> Result<OptionLeg, String> {
    let chain = option_chain(recipe)?;
    OptionLeg::new(chain, option_selection(recipe)?, symbol).map_err(|e| e.to_string())
}

/// The option side of an options recipe trading on the broker's listed chain (live): the
/// recipe's expiry window and strike rule, deltas implied with its `rate`, NYSE trading days;
/// contracts and quotes arrive as chain snapshots. Booked under `symbol`.
///
/// # Errors
/// No expiry window or strike rule, or an empty window.
pub fn option_leg_listed(recipe: &Recipe, symbol: SymbolId) -> Result<OptionLeg, String> {
    let i = &recipe.instrument;
    let chain = ListedChain::new(&i.underlying, i.rate_or_default(), nyse_trading_day as TradingDayFn);
    OptionLeg::listed(chain, option_selection(recipe)?, symbol).map_err(|e| e.to_string())
}

/// The recipe's expiry window and strike rule.
fn option_selection(recipe: &Recipe) -> Result<OptionSelection, String> {
    let i = &recipe.instrument;
    let expiry = i.expiry.ok_or("instrument.expiry is required for options")?;
    let strike = i.strike.ok_or("instrument.strike is required for options")?;
    Ok(OptionSelection { expiry, strike })
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
