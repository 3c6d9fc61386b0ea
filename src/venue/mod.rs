//! Venues: where orders go and where market data comes from, behind two traits.
//!
//! The agent never calls a venue. It emits requests (submit, cancel, replace — an order only as
//! [`RiskApproved`]; `crate::engine::event::Request`); the runtime hands them to the agent's
//! venue, and what the venue says back arrives later, in the past tense, as [`VenueEvent`]s the runtime feeds to the agent
//! (order lifecycle, account snapshots, connectivity). Nothing is assumed to happen inside the
//! call: a live venue answers later, partly, or not at all.
//!
//! - [`ExecutionClient`]: submit, cancel, replace, the account snapshot (cash, buying power,
//!   positions, open orders), fills since a time (what a restart reconciles against), and the
//!   stream of events.
//! - [`MarketDataClient`]: connect, subscribe to trades / quotes / bars of instruments, and a
//!   stream of market events plus connection state.
//! - [`alpaca`]: Alpaca's Trading API and stocks market-data stream (paper and live accounts).
//! - [`sim`]: the simulated venue (matching, fees, slippage) that paper runs and backtests trade
//!   on. Backtests step it synchronously, in lockstep with the agent (no channels, no sleeping);
//!   so does `runner up` for a paper broker, which is what makes `up` and `backtest` trade alike.
//!
//! Which venue a recipe gets is decided by the runtime (`crate::runtime::venues`), from
//! `provider.kind` and `broker.kind`, with the credentials the recipe names.

pub mod alpaca;
pub mod sim;
pub mod tls;

use std::future::Future;
use std::pin::Pin;

use crate::market::event::MarketEvent;
use crate::model::account::{AccountState, Connectivity};
use crate::model::order::{Fill, OrderEvent, OrderRequest, Replace};
use crate::model::{ClientOrderId, InstrumentId, Qty, SymbolId, Timestamp};
use crate::risk::gate::RiskApproved;

/// What a venue tells the runtime, in the past tense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VenueEvent {
    /// An order's lifecycle.
    Order(OrderEvent),
    /// The account as the venue sees it (on request, and after every reconnect).
    Account(AccountState),
    /// The venue connection came up or went down.
    Connectivity(Connectivity),
}

/// What a market-data feed produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataEvent {
    /// A trade, quote or bar.
    Market(MarketEvent),
    /// The feed connection came up, went down, or missed data.
    Connectivity(Connectivity),
}

/// Why a venue call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VenueError {
    /// Worth trying again later (a timeout, a 5xx, a dropped connection, rate limited).
    #[error("{0} (will retry)")]
    Retryable(String),
    /// Trying again will not help (refused credentials, a malformed request, unknown symbol).
    #[error("{0}")]
    Terminal(String),
}

/// A boxed future a venue returns (object-safe: the runtime holds venues as trait objects).
pub type VenueFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, VenueError>> + Send + 'a>>;

/// An execution venue: a broker or exchange account.
///
/// Calls return once the venue has the request (or refused it); what became of it arrives
/// later from [`ExecutionClient::next_event`]. A submit that timed out must not be repeated
/// blindly: the client looks the order up by its client id first.
pub trait ExecutionClient: Send {
    /// Place an approved order.
    fn submit(&mut self, order: RiskApproved<OrderRequest>) -> VenueFuture<'_, ()>;
    /// Cancel a working order.
    fn cancel(&mut self, id: ClientOrderId) -> VenueFuture<'_, ()>;
    /// Change a working order.
    fn replace(&mut self, id: ClientOrderId, change: Replace) -> VenueFuture<'_, ()>;
    /// The account now: cash, buying power, positions, open orders.
    fn account(&mut self) -> VenueFuture<'_, AccountState>;
    /// Executions at or after `since` of the orders the client follows and of `orders` (restart
    /// reconciliation: orders an earlier run left working, looked up without following them).
    fn fills_since(&mut self, since: Timestamp, orders: &[OrderRequest]) -> VenueFuture<'_, Vec<Fill>>;
    /// The next event; `Ok(None)` when the venue is closed for good. Cancel-safe: the runtime
    /// waits for it and for the agent's next request together, and drops it when a request
    /// comes first; nothing may be lost when it is dropped.
    fn next_event(&mut self) -> VenueFuture<'_, Option<VenueEvent>>;
    /// Take over an order placed by an earlier run that is still working at the venue (a
    /// restart), `filled` of it executed so far, so its later events reach the agent.
    fn track(&mut self, order: OrderRequest, filled: Qty);
}

/// What to receive for one instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The run's index for it (what market events carry).
    pub symbol: SymbolId,
    /// Its name at the venue.
    pub instrument: InstrumentId,
    /// Trade prints.
    pub trades: bool,
    /// Top-of-book quotes.
    pub quotes: bool,
    /// Vendor bars.
    pub bars: bool,
}

/// A market-data feed.
pub trait MarketDataClient: Send {
    /// Connect (and authenticate).
    fn connect(&mut self) -> VenueFuture<'_, ()>;
    /// Receive these instruments from now on.
    fn subscribe(&mut self, subscriptions: &[Subscription]) -> VenueFuture<'_, ()>;
    /// The next event; `Ok(None)` at the end of the data (a replay) or when closed for good.
    fn next_event(&mut self) -> VenueFuture<'_, Option<DataEvent>>;
}
