//! The runtime: what runs the components. It is the only place that knows tokio, the venues,
//! the journal, the account locks and the recipe → component build; the components
//! (`strategy`, `decision`, `risk`, `indicators`, `market`, `options`) know none of them, and
//! `tests/layering.rs` keeps it so. It wires an agent (`crate::engine`, pure) to its market data
//! and its venue and drives it: synchronously for a backtest, as tasks for `runner up`.
//!
//! - [`build`](crate::runtime::build): the recipe → component build: each component from the
//!   recipe block that configures it, with the recipe key to blame when it refuses;
//! - [`feed`](crate::runtime::feed): a replay served as a market-data feed (read ahead on a
//!   thread, paced when asked);
//! - [`clock`](crate::runtime::clock): data, paced-replay and wall clocks: when a timer the
//!   agent asked for is delivered without a market event;
//! - [`lockstep`](crate::runtime::lockstep): an agent and a simulated venue stepped together
//!   (backtests, paper runs);
//! - [`run`](crate::runtime::run): a recipe prepared for a run: its agent, venue and replay, and
//!   the synchronous backtest driver;
//! - [`fleet`](crate::runtime::fleet): fleet settings and the `runner up` driver (tokio tasks,
//!   pacing, journal, fleet loss limit, health);
//! - [`cli`](crate::runtime::cli): `runner up`, `runner backtest`, `runner status`;
//! - [`journal_sink`](crate::runtime::journal_sink): agent events → journal records, restart rebuild;
//! - [`status`](crate::runtime::status), [`progress`](crate::runtime::progress),
//!   [`signals`](crate::runtime::signals): status files, the progress line, SIGINT/SIGTERM/SIGHUP;
//! - [`credentials`](crate::runtime::credentials): the secrets a recipe names, decrypted once;
//! - [`venues`](crate::runtime::venues): the registry — which venue and market data a recipe
//!   gets, by kind, with its credentials;
//! - [`account_lock`](crate::runtime::account_lock), [`process`](crate::runtime::process): one
//!   broker account, one agent, across processes.

pub mod account_lock;
pub mod build;
pub mod chain;
pub mod cli;
pub mod clock;
pub mod credentials;
pub mod feed;
pub mod fleet;
pub mod http;
pub mod hub;
pub mod journal_sink;
pub mod latency;
pub mod live;
pub mod lockstep;
pub mod metrics;
pub mod notify;
pub mod online;
pub mod params;
pub mod process;
pub mod progress;
pub mod reconcile;
pub mod remote;
pub mod run;
pub mod signal_feed;
pub mod signals;
pub mod status;
pub mod venues;

/// Why a run could not start or finish. The command line maps it to an exit code (`cli`): the
/// runtime says what went wrong, not how the process ends.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Something the run needs could not be read or used: a file, the journal, the current
    /// directory, a value out of range on the command line.
    #[error("{0}")]
    Unusable(String),
    /// The run refused: an invalid recipe, a venue this build has no adapter for, an account in
    /// use, a journal that fails verification, no market data.
    #[error("{0}")]
    Refused(String),
}

impl RunError {
    /// [`RunError::Unusable`] with this message.
    pub fn unusable(message: impl Into<String>) -> Self {
        Self::Unusable(message.into())
    }

    /// [`RunError::Refused`] with this message.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::Refused(message.into())
    }
}
