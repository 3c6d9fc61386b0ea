//! The agent: pure, synchronous, no I/O — one event in, requests and events out.
//!
//! - [`agent`](crate::engine::agent): one agent over one owned event enum (market data, order
//!   lifecycle from its venue, account, timer, connectivity, command), with its own books;
//! - [`event`](crate::engine::event): what goes in ([`Event`](crate::engine::event::Event)) and
//!   out ([`Outbox`](crate::engine::event::Outbox): venue requests and agent events);
//! - [`option_leg`](crate::engine::option_leg): options on the underlying's signals (contract
//!   selection and marks on the synthetic chain in backtests, on the broker's listed chain
//!   live);
//! - [`candles`](crate::engine::candles): candle styles (standard, Heikin-Ashi, Renko) applied to the time
//!   candles of [`market::candles`](crate::market::candles); the session clock is
//!   [`market::session`](crate::market::session), shared with `runner candles`;
//! - [`related`](crate::engine::related): the other symbol a strategy reads but does not trade (correlation).
//!
//! What runs an agent — venues, the journal, tokio tasks, the recipe → component build — is
//! [`crate::runtime`].

pub mod agent;
pub mod candles;
pub mod event;
pub mod option_leg;
pub mod related;
