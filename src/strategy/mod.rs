//! Trading strategies: pure, synchronous, fed completed candles and trades, returning signals.
//!
//! A strategy owns no I/O and no clock: the engine tells it, for every trade, where the
//! trade falls in the trading day ([`Phase`](crate::strategy::Phase)) and what the agent holds ([`Holding`](crate::strategy::Holding)).
//! Strategies say *what* they want ([`Signal`](crate::strategy::Signal)); the decision engine turns that into orders.
//!
//! - [`ma_cross_breakout`](crate::strategy::ma_cross_breakout): the documented default rule (docs/strategies.md);
//! - [`correlation`](crate::strategy::correlation): the primary breaks a swing level while a correlated symbol diverges;
//! - [`target_position`](crate::strategy::target_position): strength → target percentage of the allocation, with a tolerance band;
//! - [`external_signal`](crate::strategy::external_signal): follow timestamped buy/sell signals read from a file or stream.
//!
//! Each strategy's constructor takes its parameters; the runtime builds the recipe's strategy
//! from its `algorithm` block (`runtime::build::strategy`).

pub mod correlation;
pub mod external_signal;
pub mod ma_cross_breakout;
pub mod target_position;

use rust_decimal::Decimal;

use crate::market::event::{Candle, Trade};
use crate::model::{Price, SymbolId, Timestamp};

/// Where a trade falls in the agent's trading day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Outside the recipe's session window: no entries.
    OutOfSession,
    /// Inside the session and before `flatten_at`: entries allowed.
    Open,
    /// Inside the session, at or after `flatten_at`: flatten, no entries.
    AfterFlatten,
}

/// The direction of the agent's current position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Holding {
    /// No position.
    #[default]
    Flat,
    /// Long.
    Long,
    /// Short.
    Short,
}

/// What a strategy asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Be long (enter, or close a short and reverse).
    Long,
    /// Be short (enter, or close a long and reverse).
    Short,
    /// Hold nothing.
    Flat,
    /// Hold this signed fraction of the allocation (target-position); 0.6 = 60 % long.
    Target(Decimal),
}

impl std::fmt::Display for Direction {
    /// `Long`, `Short`, `Flat`; a target as a percentage of the allocation: `target 79.3 % long`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Long => f.write_str("Long"),
            Self::Short => f.write_str("Short"),
            Self::Flat => f.write_str("Flat"),
            Self::Target(t) if t.is_zero() => f.write_str("target flat"),
            Self::Target(t) => {
                let side = if t.is_sign_negative() { "short" } else { "long" };
                write!(f, "target {} % {side}", (t.abs() * Decimal::ONE_HUNDRED).round_dp(1).normalize())
            }
        }
    }
}

/// A strategy's output: a direction with a strength of 0–100 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Signal {
    /// When (the timestamp of the triggering trade).
    pub ts: Timestamp,
    /// Which instrument.
    pub symbol: SymbolId,
    /// The reference price (the triggering trade's price).
    pub price: Price,
    /// What is asked for.
    pub direction: Direction,
    /// Conviction, 0–100 (percent).
    pub strength: u8,
}

/// The context the engine gives a strategy with each trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeContext {
    /// Where the trade falls in the trading day.
    pub phase: Phase,
    /// What the agent holds right now.
    pub holding: Holding,
}

/// A trading strategy: pure and synchronous.
pub trait Strategy {
    /// A candle of the strategy's timeframe has completed (called before the trade that completed it).
    fn on_candle(&mut self, candle: &Candle);
    /// A trade print; may return a signal.
    fn on_trade(&mut self, trade: &Trade, ctx: TradeContext) -> Option<Signal>;
    /// A candle of the other symbol the strategy reads (correlation's `correlated`) has
    /// completed, in time order with the traded symbol's. Ignored by single-symbol strategies.
    fn on_related_candle(&mut self, _candle: &Candle) {}
    /// A trade of the other symbol the strategy reads. Ignored by single-symbol strategies.
    fn on_related_trade(&mut self, _trade: &Trade) {}
}

/// Every built-in strategy, dispatched statically (no virtual call on the hot path).
#[derive(Debug, Clone)]
pub enum AnyStrategy {
    /// `ma-cross-breakout`.
    MaCrossBreakout(ma_cross_breakout::MaCrossBreakout),
    /// `target-position`.
    TargetPosition(target_position::TargetPosition),
    /// `external-signal`.
    ExternalSignal(external_signal::ExternalSignal),
    /// `correlation` (boxed: two symbols' swing trackers make it the largest by far).
    Correlation(Box<correlation::Correlation>),
}

impl Strategy for AnyStrategy {
    #[inline]
    fn on_candle(&mut self, candle: &Candle) {
        match self {
            Self::MaCrossBreakout(s) => s.on_candle(candle),
            Self::TargetPosition(s) => s.on_candle(candle),
            Self::ExternalSignal(s) => s.on_candle(candle),
            Self::Correlation(s) => s.on_candle(candle),
        }
    }

    #[inline]
    fn on_trade(&mut self, trade: &Trade, ctx: TradeContext) -> Option<Signal> {
        match self {
            Self::MaCrossBreakout(s) => s.on_trade(trade, ctx),
            Self::TargetPosition(s) => s.on_trade(trade, ctx),
            Self::ExternalSignal(s) => s.on_trade(trade, ctx),
            Self::Correlation(s) => s.on_trade(trade, ctx),
        }
    }

    fn on_related_candle(&mut self, candle: &Candle) {
        if let Self::Correlation(s) = self {
            s.on_related_candle(candle);
        }
    }

    #[inline]
    fn on_related_trade(&mut self, trade: &Trade) {
        if let Self::Correlation(s) = self {
            s.on_related_trade(trade);
        }
    }
}
