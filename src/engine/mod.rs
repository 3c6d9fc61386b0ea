//! The agent loop: clocks, backtest and live-style runs.
//!
//! - [`agent`](crate::engine::agent): one agent's loop body over one input enum (market event | broker event | command);
//! - [`option_leg`](crate::engine::option_leg): options on the underlying's signals (synthetic chain in paper/backtest);
//! - [`candles`](crate::engine::candles): candle styles (standard, Heikin-Ashi, Renko) applied to the time
//!   candles of [`market::candles`](crate::market::candles); the session clock is
//!   [`market::session`](crate::market::session), shared with `runner candles`;
//! - [`related`](crate::engine::related): the other symbol a strategy reads but does not trade (correlation);
//! - [`run`](crate::engine::run): recipe → agent and replay, and the synchronous backtest driver (simulated clock);
//! - [`cli`](crate::engine::cli): `runner up`, `runner backtest`, `runner status`;
//! - [`fleet`](crate::engine::fleet): fleet settings and the live-style driver of `up` (tokio tasks, channels,
//!   wall-clock pacing, journal, fleet loss limit, health);
//! - [`progress`](crate::engine::progress): the progress line of `runner up` on a terminal;
//! - [`journal_sink`](crate::engine::journal_sink): agent events → journal records, restart rebuild;
//! - [`signals`](crate::engine::signals): SIGINT / SIGTERM stop `runner up` cleanly;
//! - [`status`](crate::engine::status): status files and `runner status`;
//! - [`credentials`](crate::engine::credentials): the secrets a recipe names, decrypted once at start;
//! - [`account_lock`](crate::engine::account_lock): one broker account belongs to one agent, across processes;
//! - [`process`](crate::engine::process): which process holds a lock or a journal run, and whether it still runs.

pub mod account_lock;
pub mod agent;
pub mod candles;
pub mod cli;
pub mod credentials;
pub mod event;
pub mod fleet;
pub mod journal_sink;
pub mod option_leg;
pub mod process;
pub mod progress;
pub mod related;
pub mod run;
pub mod signals;
pub mod status;
