//! What goes into an agent and what comes out: one owned [`Event`] in, an [`Outbox`] of venue
//! requests and [`AgentEvent`]s out.
//!
//! Agent events are owned and serialisable, so the runtime can journal them, print them and
//! (later) broadcast them to a dashboard without borrowing from the agent.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::market::event::{Candle, MarketEvent};
use crate::model::ClientOrderId;
use crate::model::account::{AccountState, Connectivity};
use crate::model::chain::ChainSnapshot;
use crate::model::order::{OrderEvent, OrderRequest, Replace};
use crate::model::{InstrumentId, Money, Price, Timestamp};
use crate::risk::gate::{OrderDenied, RiskApproved};
use crate::strategy::Signal;
use crate::strategy::external_signal::ExternalEvent;

/// What the agent asks its venue to do. The runtime carries it out; the outcome comes back as
/// [`Event::Order`].
#[derive(Debug)]
pub enum Request {
    /// Place an order the risk gate approved.
    Submit(RiskApproved<OrderRequest>),
    /// Cancel a working order.
    Cancel {
        /// The order.
        id: ClientOrderId,
        /// When the agent asked.
        ts: Timestamp,
    },
    /// Change a working order's quantity, limit or stop.
    Replace {
        /// The order.
        id: ClientOrderId,
        /// The change.
        change: Replace,
        /// When the agent asked.
        ts: Timestamp,
    },
}

/// A command to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Stop: cancel working orders, flatten, finish the report.
    Shutdown,
    /// Halt (e.g. the fleet kill switch): cancel working orders, flatten, refuse entries for
    /// the rest of the trading day.
    Halt {
        /// Why (shown in the agent's output).
        reason: String,
    },
    /// Reduce-only: refuse every order that would increase the position (until restart).
    ReduceOnly {
        /// Why (shown in the agent's output).
        reason: String,
    },
    /// An operator lifts a halt or reduce-only state: entries pass again (a disabled agent
    /// stays disabled; a loss limit still breached halts it again at the next price).
    Resume {
        /// Who and why (shown in the agent's output).
        reason: String,
    },
    /// Close the position now (cancel working orders, exit at market); the trading state does
    /// not change, so the strategy may enter again.
    Flatten {
        /// Who and why.
        reason: String,
    },
    /// Take the agent out of trading until [`Command::Enable`]: cancel, flatten, refuse
    /// entries; a new trading day does not lift it.
    Disable {
        /// Who and why.
        reason: String,
    },
    /// Put a disabled agent back into trading.
    Enable {
        /// Who and why.
        reason: String,
    },
}

/// Everything an agent consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Market data.
    Market(MarketEvent),
    /// An order's lifecycle, from the venue.
    Order(OrderEvent),
    /// The account as the venue reports it.
    Account(AccountState),
    /// A time the agent asked to be woken at ([`crate::engine::agent::Agent::next_timer`])
    /// has come, and no market event brought it.
    Timer(Timestamp),
    /// A venue or feed connection changed.
    Connectivity(Connectivity),
    /// A poll of the broker's option chain (listing and quotes), shared by every agent and
    /// venue it is handed to. An agent trading options on a listed chain takes it; every other
    /// agent ignores it.
    Chain(Arc<ChainSnapshot>),
    /// A signal from another system (a stream entry, a socket message) for an
    /// `external-signal` agent: acted on at once, at the latest price.
    External(ExternalIn),
    /// A command.
    Command(Command),
}

/// An external signal as it reaches the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalIn {
    /// The source's id for it (a stream entry id), carried through to the outcome.
    pub id: Option<String>,
    /// The signal (its time is when it was published).
    pub signal: ExternalEvent,
}

/// What the agent did with an external signal: the orders it sent, or why it refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalOutcome {
    /// When the agent took it (its clock).
    pub ts: Timestamp,
    /// The source's id for it.
    pub id: Option<String>,
    /// The signal.
    pub signal: ExternalEvent,
    /// Why nothing was done, when it was refused (outside the session, no price yet, the
    /// risk gate's reason).
    pub refused: Option<String>,
    /// The orders it caused (none when the position already matched, or an order in flight
    /// makes it wait).
    pub orders: Vec<ClientOrderId>,
}

/// When the agent wants to be woken without a market event: at `at` (flatten or session
/// end while it holds something; the next trading day while halted). With a simulated clock a
/// market event stamped at or before `deliver_by` wakes it instead (the same decision, at that
/// print: an order at the deadline would have filled there); live, the wall clock does at
/// `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    /// When.
    pub at: Timestamp,
    /// The latest market event time that still wakes the agent on its own (the end of the
    /// deadline's New York day).
    pub deliver_by: Timestamp,
}

/// How the agent's trading state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateChange {
    /// Entries refused for the rest of the trading day; orders canceled, position closed.
    Halted,
    /// Orders that would increase the position refused.
    ReduceOnly,
    /// Trading again (a new trading day ended a halt, or an operator resumed or enabled it).
    Active,
    /// Taken out of trading by an operator until enabled again.
    Disabled,
}

/// What the agent reports as it runs: journaled, printed by `runner up`, broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AgentEvent {
    /// A completed candle, as the strategy sees it (after the candle style).
    Candle(Candle),
    /// A strategy signal.
    Signal(Signal),
    /// What became of an external signal (after the signal, orders and denials it led to).
    External(ExternalOutcome),
    /// The risk gate (or the agent, for an option entry it could not price) refused an order.
    Denied(OrderDenied),
    /// An order was approved and sent to the venue.
    OrderSent(OrderRequest),
    /// An order lifecycle event from the venue.
    Order(OrderEvent),
    /// The trading state changed, and why.
    State {
        /// When.
        ts: Timestamp,
        /// The new state.
        state: StateChange,
        /// Why.
        reason: String,
    },
    /// Something worth showing (the option contract chosen, an expiry settlement).
    Info {
        /// When.
        ts: Timestamp,
        /// What happened.
        message: String,
    },
    /// Something the agent could not do (no option contract in the expiry window, a fill for
    /// an order it never sent).
    Warning {
        /// When.
        ts: Timestamp,
        /// What happened.
        message: String,
    },
    /// The position after a fill.
    Position {
        /// When.
        ts: Timestamp,
        /// The instrument (ticker, or the option contract's OCC symbol).
        instrument: InstrumentId,
        /// Signed quantity.
        qty: Decimal,
        /// Average price.
        avg_price: Price,
        /// Realized P&L so far.
        realized: Money,
        /// Account equity.
        equity: Money,
    },
    /// A venue or feed connection changed.
    Connectivity(Connectivity),
}

/// What one [`Event`] made the agent do: requests for its venue, in order, and events to
/// report, in order. The driver empties it after each event.
#[derive(Debug, Default)]
pub struct Outbox {
    /// For the venue.
    pub requests: Vec<Request>,
    /// For the journal, the terminal and everyone watching.
    pub events: Vec<AgentEvent>,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self { requests: Vec::with_capacity(4), events: Vec::with_capacity(8) }
    }

    /// Whether nothing is in it.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.events.is_empty()
    }
}
