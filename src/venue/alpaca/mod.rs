//! Alpaca: a paper or live account's Trading API and the stocks market-data stream.
//!
//! - [`AlpacaExecution`]: orders, fills and the account, as an
//!   [`ExecutionClient`](crate::venue::ExecutionClient) (REST plus the `trade_updates` stream).
//! - [`AlpacaStocksFeed`]: trades, quotes and minute bars from `…/v2/{iex|sip}`, as a
//!   [`MarketDataClient`](crate::venue::MarketDataClient).
//! - [`lookups`]: one-off reads for start-up and `runner validate --online` (the account, a
//!   symbol, the latest quote, the option chain and its quotes).
//!
//! All three take an [`AlpacaConfig`]: the endpoints (Alpaca's hosts or a stand-in), the keys,
//! and the timings. The REST calls of every client of one account in the process share one
//! request budget (`budget`). Keys are sent only in headers and auth frames: no message, log
//! line or `Debug` output shows them; refusals name the vault secret instead.

mod book;
mod budget;
pub mod config;
mod data;
mod execution;
mod http;
pub mod lookups;
mod socket;
mod trade_stream;
mod wire;

pub use config::{AlpacaConfig, Backoff, RequestBudget};
pub use data::AlpacaStocksFeed;
pub use execution::AlpacaExecution;
