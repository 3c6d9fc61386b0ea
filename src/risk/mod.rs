//! Risk gate (per-agent limits, fleet guardrails) and the US compliance rulebook.
//!
//! - [`gate`](crate::risk::gate): the `RiskApproved<T>` newtype (the broker accepts nothing else), `OrderDenied`
//!   events with reason codes, per-agent position/notional/trade-count limits, and the
//!   protective exits (stop loss, take profit, trailing stop) checked on every price;
//! - [`compliance`](crate::risk::compliance): the dated US rulebook.

/// The US compliance rulebook: PDT / intraday margin, Reg T, cash-account settlement.
pub mod compliance;
pub mod gate;
