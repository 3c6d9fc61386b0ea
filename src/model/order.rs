//! Orders and their lifecycle: what the agent asks a venue for, and what the venue tells
//! back, in the past tense (submitted, accepted, filled, canceled, rejected, expired).
//!
//! These types cross every seam — agent, risk gate, venues, journal, report — so they live in
//! `model`, which imports nothing else of ours. An order reaches a venue only wrapped in
//! [`RiskApproved`](crate::risk::gate::RiskApproved).

use rust_decimal::Decimal;

use serde::Serialize;

use super::{ClientOrderId, InstrumentId, Money, Price, Qty, Side, SymbolId, Timestamp};

/// The order type a recipe asks for (entries; exits of the resting types go as market orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OrderType {
    /// Fill at the market.
    #[default]
    Market,
    /// Limit at `limit_offset_ticks` better than the last price.
    Limit,
    /// Limit at the far touch (ask for buys, bid for sells) plus `limit_offset_ticks`.
    MarketableLimit,
    /// Stop (market once triggered).
    Stop,
    /// Stop-limit.
    StopLimit,
}

/// How an order is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitReason {
    /// The strategy asked to close or reverse.
    Signal,
    /// Stop loss.
    Stop,
    /// Trailing stop.
    TrailingStop,
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
    /// Recorded data stops for whole sessions next: closed at the last price before the gap
    /// (`session.flatten_before_gap`).
    DataGap,
    /// An operator asked to flatten (the dashboard, the API) or disabled the agent.
    Operator,
}

impl ExitReason {
    /// The report label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signal => "signal",
            Self::Stop => "stop",
            Self::TrailingStop => "trailing stop",
            Self::Target => "target",
            Self::SessionEnd => "session end",
            Self::Shutdown => "shutdown",
            Self::Halt => "halt",
            Self::Expiry => "expiry",
            Self::DataGap => "data gap",
            Self::Operator => "operator",
        }
    }

    /// Parse a report label.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "signal" => Self::Signal,
            "stop" => Self::Stop,
            "trailing stop" => Self::TrailingStop,
            "target" => Self::Target,
            "session end" => Self::SessionEnd,
            "shutdown" => Self::Shutdown,
            "halt" => Self::Halt,
            "expiry" => Self::Expiry,
            "data gap" => Self::DataGap,
            "operator" => Self::Operator,
            _ => return None,
        })
    }
}

/// What an order is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRequest {
    /// Client order id, unique across runs of the agent (`{agent}-{run tag}-{sequence}`).
    pub id: ClientOrderId,
    /// Instrument (the run's symbol index).
    pub symbol: SymbolId,
    /// The instrument's name at the venue: the ticker, the crypto pair, or an option's OCC
    /// symbol.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Quantity (> 0).
    pub qty: Qty,
    /// Pricing.
    // Named apart from the `kind` tag an agent event carries around it (`order_sent`).
    #[serde(rename = "order_kind")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fill {
    /// The order.
    pub id: ClientOrderId,
    /// Instrument (the run's symbol index).
    pub symbol: SymbolId,
    /// Its name at the venue (ticker, pair, OCC symbol).
    pub instrument: InstrumentId,
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

/// A change to a working order (a venue's replace / modify): each `Some` field is the new value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Replace {
    /// New total quantity.
    pub qty: Option<Qty>,
    /// New limit price.
    pub limit: Option<Price>,
    /// New stop price.
    pub stop: Option<Price>,
}

/// The order lifecycle, in the past tense.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
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
    /// A replace took effect: the order now works with these values.
    Replaced {
        /// The order.
        id: ClientOrderId,
        /// When.
        ts: Timestamp,
        /// What changed.
        change: Replace,
    },
    /// A cancel was refused (the order had filled, or is unknown); the order stays as it was.
    CancelRejected {
        /// The order.
        id: ClientOrderId,
        /// When.
        ts: Timestamp,
        /// Why.
        reason: String,
    },
    /// A replace was refused; the order works unchanged.
    ReplaceRejected {
        /// The order.
        id: ClientOrderId,
        /// When.
        ts: Timestamp,
        /// Why.
        reason: String,
    },
}

impl OrderEvent {
    /// The order the event is about.
    pub fn id(&self) -> &ClientOrderId {
        match self {
            Self::Submitted { id, .. }
            | Self::Accepted { id, .. }
            | Self::Canceled { id, .. }
            | Self::Rejected { id, .. }
            | Self::Expired { id, .. }
            | Self::Replaced { id, .. }
            | Self::CancelRejected { id, .. }
            | Self::ReplaceRejected { id, .. } => id,
            Self::PartiallyFilled(f) | Self::Filled(f) => &f.id,
        }
    }

    /// When it happened.
    pub fn ts(&self) -> Timestamp {
        match self {
            Self::Submitted { ts, .. }
            | Self::Accepted { ts, .. }
            | Self::Canceled { ts, .. }
            | Self::Rejected { ts, .. }
            | Self::Expired { ts, .. }
            | Self::Replaced { ts, .. }
            | Self::CancelRejected { ts, .. }
            | Self::ReplaceRejected { ts, .. } => *ts,
            Self::PartiallyFilled(f) | Self::Filled(f) => f.ts,
        }
    }

    /// Whether the order is done after this event (filled, canceled, rejected, expired).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Filled(_) | Self::Canceled { .. } | Self::Rejected { .. } | Self::Expired { .. })
    }

    /// The fill carried by a (partial) fill event.
    pub fn fill(&self) -> Option<&Fill> {
        match self {
            Self::PartiallyFilled(f) | Self::Filled(f) => Some(f),
            _ => None,
        }
    }
}

/// A position in one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Position {
    /// Signed quantity: > 0 long, < 0 short.
    pub qty: Qty,
    /// Average entry price of the open quantity.
    pub avg_price: Price,
    /// Realized P&L (before commissions) since the start of the run.
    pub realized: Money,
}

impl Position {
    /// Book an execution of `qty` at `price` on `side`, for a contract `multiplier`: the
    /// average price of the open quantity moves, realized P&L is booked on the reducing part,
    /// and a fill through zero opens the remainder at `price`.
    pub fn apply(&mut self, side: Side, qty: Qty, price: Price, mult: Decimal) {
        let signed = side.sign() * qty;
        if self.qty.is_zero() || self.qty.is_sign_positive() == signed.is_sign_positive() {
            let total = self.qty.abs() + qty;
            self.avg_price = (self.avg_price * self.qty.abs() + price * qty) / total;
            self.qty += signed;
            return;
        }
        let closing = qty.min(self.qty.abs());
        let dir = if self.qty.is_sign_positive() { Decimal::ONE } else { Decimal::NEGATIVE_ONE };
        self.realized += closing * (price - self.avg_price) * dir * mult;
        self.qty += signed;
        if self.qty.is_zero() {
            self.avg_price = Decimal::ZERO;
        } else if self.qty.is_sign_positive() != dir.is_sign_positive() {
            // Flipped through zero: the remainder opened at this price.
            self.avg_price = price;
        }
    }

    /// Unrealized P&L at `mark`, for a contract `multiplier`.
    pub fn unrealized(&self, mark: Price, multiplier: Decimal) -> Money {
        self.qty * (mark - self.avg_price) * multiplier
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn reversal_books_realized_and_opens_the_remainder() {
        let mut p = Position::default();
        p.apply(Side::Buy, dec!(100), dec!(10), Decimal::ONE);
        p.apply(Side::Sell, dec!(150), dec!(12), Decimal::ONE);
        assert_eq!((p.qty, p.avg_price, p.realized), (dec!(-50), dec!(12), dec!(200)));
        p.apply(Side::Buy, dec!(50), dec!(11), dec!(100));
        assert_eq!((p.qty, p.realized), (Decimal::ZERO, dec!(200) + dec!(5000)));
    }
}
