//! Orders and their lifecycle: what the agent asks a venue for, and what the venue tells
//! back, in the past tense (submitted, accepted, filled, canceled, rejected, expired).
//!
//! These types cross every seam — agent, risk gate, venues, journal, report — so they live in
//! `model`, which imports nothing else of ours. An order reaches a venue only wrapped in
//! [`RiskApproved`](crate::risk::gate::RiskApproved).

use rust_decimal::Decimal;

use super::{ClientOrderId, Money, Price, Qty, Side, SymbolId, Timestamp};

/// How an order is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    /// Fill at the market.
    Market,
    /// Fill at this price or better.
    Limit {
        /// Limit price.
        limit: Price,
    },
    /// A limit at the far touch (ask for buys, bid for sells) moved `offset_ticks` further
    /// through the book; priced by the broker when it accepts the order.
    MarketableLimit {
        /// Ticks beyond the far touch.
        offset_ticks: u32,
    },
    /// A market order once the price trades through `stop`.
    Stop {
        /// Trigger price.
        stop: Price,
    },
    /// A limit order once the price trades through `stop`.
    StopLimit {
        /// Trigger price.
        stop: Price,
        /// Limit price after triggering.
        limit: Price,
    },
}

/// Why a position was closed (the report's "exit reason").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitReason {
    /// The strategy asked to close or reverse.
    Signal,
    /// Stop loss or trailing stop.
    Stop,
    /// Take profit.
    Target,
    /// `flatten_at` or the end of the session.
    SessionEnd,
    /// The run was stopped (Ctrl-C or end of data).
    Shutdown,
    /// The agent halted (daily loss limit, max drawdown, or a halt command) and flattened.
    Halt,
    /// An option held past its last trading time settled at intrinsic value.
    Expiry,
}

impl ExitReason {
    /// The report label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signal => "signal",
            Self::Stop => "stop",
            Self::Target => "target",
            Self::SessionEnd => "session end",
            Self::Shutdown => "shutdown",
            Self::Halt => "halt",
            Self::Expiry => "expiry",
        }
    }

    /// Parse a report label.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "signal" => Self::Signal,
            "stop" => Self::Stop,
            "target" => Self::Target,
            "session end" => Self::SessionEnd,
            "shutdown" => Self::Shutdown,
            "halt" => Self::Halt,
            "expiry" => Self::Expiry,
            _ => return None,
        })
    }
}

/// What an order is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Open a position.
    Entry,
    /// Add to a position.
    Add,
    /// Move towards a target position (may open, add or reduce).
    Adjust,
    /// Close (part of) a position.
    Exit(ExitReason),
}

impl Purpose {
    /// Whether the order can only reduce the position.
    pub fn is_exit(self) -> bool {
        matches!(self, Self::Exit(_))
    }
}

/// An order as the decision engine asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    /// Deterministic client id (`{agent}-{sequence}`).
    pub id: ClientOrderId,
    /// Instrument.
    pub symbol: SymbolId,
    /// Buy or sell.
    pub side: Side,
    /// Quantity (> 0).
    pub qty: Qty,
    /// Pricing.
    pub kind: OrderKind,
    /// What it is for.
    pub purpose: Purpose,
    /// The price the decision was made at (the triggering trade).
    pub ref_price: Price,
    /// When it was created.
    pub ts: Timestamp,
    /// Good until this time; `None` = good till canceled.
    pub expire_at: Option<Timestamp>,
}

/// One execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// The order.
    pub id: ClientOrderId,
    /// Instrument.
    pub symbol: SymbolId,
    /// Buy or sell.
    pub side: Side,
    /// Executed quantity.
    pub qty: Qty,
    /// Execution price.
    pub price: Price,
    /// Commission charged for this execution.
    pub commission: Money,
    /// Quantity still working after this execution.
    pub leaves: Qty,
    /// What the order was for.
    pub purpose: Purpose,
    /// When.
    pub ts: Timestamp,
}

/// The order lifecycle, in the past tense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    /// Sent to the venue.
    Submitted {
        /// The order.
        id: ClientOrderId,
        /// When.
        ts: Timestamp,
    },
    /// Acknowledged and working.
    Accepted {
        /// The order.
        id: ClientOrderId,
        /// When.
        ts: Timestamp,
    },
    /// Partly executed; still working.
    PartiallyFilled(Fill),
    /// Completely executed.
    Filled(Fill),
    /// Canceled on our request.
    Canceled {
        /// The order.
        id: ClientOrderId,
        /// When.
        ts: Timestamp,
    },
    /// Refused by the venue.
    Rejected {
        /// The order.
        id: ClientOrderId,
        /// When.
        ts: Timestamp,
        /// Why.
        reason: String,
    },
    /// Its time in force ran out.
    Expired {
        /// The order.
        id: ClientOrderId,
        /// When.
        ts: Timestamp,
    },
}

impl OrderEvent {
    /// The fill carried by a (partial) fill event.
    pub fn fill(&self) -> Option<&Fill> {
        match self {
            Self::PartiallyFilled(f) | Self::Filled(f) => Some(f),
            _ => None,
        }
    }
}

/// A position in one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Signed quantity: > 0 long, < 0 short.
    pub qty: Qty,
    /// Average entry price of the open quantity.
    pub avg_price: Price,
    /// Realized P&L (before commissions) since the start of the run.
    pub realized: Money,
}

impl Position {
    /// Unrealized P&L at `mark`, for a contract `multiplier`.
    pub fn unrealized(&self, mark: Price, multiplier: Decimal) -> Money {
        self.qty * (mark - self.avg_price) * multiplier
    }
}
