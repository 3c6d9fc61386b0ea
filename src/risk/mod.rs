//! Risk gate (per-agent limits, trading state, fleet guardrails) and the US compliance rulebook.
//!
//! - [`gate`](crate::risk::gate): the `RiskApproved<T>` newtype (the broker accepts nothing else), `OrderDenied`
//!   events with reason codes, the agent's `TradingState`, per-agent position/notional/allocation,
//!   trade-count and order-rate limits, and the protective exits (stop loss, take profit,
//!   trailing stop) checked on every price;
//! - [`guard`](crate::risk::guard): daily loss limit and max drawdown, watched on every price update;
//! - [`account`](crate::risk::account): the compliance rules applied to one agent's account
//!   (day-trade and settlement ledgers fed by its fills);
//! - [`compliance`](crate::risk::compliance): the dated US rulebook;
//! - [`text`](crate::risk::text): instrument names and money as the messages spell them.

pub mod account;
/// The US compliance rulebook: PDT / intraday margin, Reg T, cash-account settlement.
pub mod compliance;
pub mod gate;
pub mod guard;
pub mod text;
