//! Which venue and which market data a recipe gets: the registry, by `broker.kind` and
//! `provider.kind`, with the credentials the recipe names (decrypted once, at start, held in
//! memory and wiped when the run ends).
//!
//! This build has the simulated venue and the replay feed. A kind whose adapter is not part of
//! the build fails here, at start, before anything is journaled or sent — a simulation never
//! stands in for an account a recipe names.

use super::RunError;
use super::credentials::Credentials;
use super::run::{DateRange, Prepared};
use crate::market::replay::Replay;
use crate::recipe::kind_name;
use crate::recipe::model::{BrokerKind, ProviderKind};
use crate::venue::sim::SimVenue;
use crate::venue::{ExecutionClient, MarketDataClient, Subscription};

/// Where an agent's orders go.
pub enum Execution {
    /// The simulated venue, stepped in lockstep with the agent (`super::lockstep`).
    Simulated(Box<SimVenue>),
    /// A broker's API (`super::remote`), and whether it is the real-money account.
    Remote {
        /// The venue client.
        client: Box<dyn ExecutionClient>,
        /// `broker.environment: live`.
        live: bool,
    },
}

/// Where an agent's market data comes from.
pub enum MarketData {
    /// Recorded data, read from files.
    Replay(Box<Replay>),
    /// A live feed and what to subscribe to on it.
    Live {
        /// The feed.
        client: Box<dyn MarketDataClient>,
        /// The recipe's instruments.
        subscriptions: Vec<Subscription>,
    },
}

/// The venue for `runner up`: the recipe's broker, with its credentials.
///
/// # Errors
/// A broker kind this build has no adapter for.
pub fn execution(p: &Prepared, _credentials: &Credentials) -> anyhow::Result<Execution> {
    match p.recipe.broker.kind {
        BrokerKind::Paper => Ok(Execution::Simulated(Box::new(super::run::sim_venue(p)?))),
        kind => Err(RunError::refused(format!(
            "broker.kind: {0}: the {0} adapter is not part of this build, so nothing was sent (paper \
             trading, broker.kind: paper, works on any data)",
            kind_name(&kind)
        ))
        .into()),
    }
}

/// The venue for `runner backtest`: always the simulated one (a backtest simulates fills
/// whatever the recipe's broker is).
///
/// # Errors
/// The recipe's option chain cannot be built.
pub fn simulated(p: &Prepared) -> anyhow::Result<SimVenue> {
    super::run::sim_venue(p)
}

/// The market data of the recipe's provider, limited to `range`.
///
/// # Errors
/// A provider kind this build has no adapter for; data that cannot be opened.
pub fn market_data(p: &Prepared, range: DateRange, _credentials: &Credentials) -> anyhow::Result<MarketData> {
    match p.recipe.provider.kind {
        ProviderKind::Replay => Ok(MarketData::Replay(Box::new(super::run::open_replay(p, range)?))),
        kind => Err(RunError::refused(format!(
            "provider.kind: {0}: the {0} market-data adapter is not part of this build (provider.kind: \
             replay runs on recorded data)",
            kind_name(&kind)
        ))
        .into()),
    }
}
