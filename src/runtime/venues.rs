//! Which venue and which market data a recipe gets: the registry, by `broker.kind` and
//! `provider.kind`, with the credentials the recipe names (decrypted once, at start, held in
//! memory and wiped when the run ends).
//!
//! This build has the simulated venue, the replay feed, and Alpaca (the Trading API as a venue,
//! the stocks stream as a feed). A kind whose adapter is not part of the build fails here, at
//! start, before anything is journaled or sent — a simulation never stands in for an account a
//! recipe names.

use super::RunError;
use super::credentials::Credentials;
use super::run::{DateRange, Prepared};
use crate::market::replay::Replay;
use crate::model::{InstrumentId, SymbolId};
use crate::recipe::kind_name;
use crate::recipe::model::{BrokerKind, Environment, ProviderKind};
use crate::venue::alpaca::{AlpacaConfig, AlpacaExecution, AlpacaStocksFeed};
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
pub fn execution(p: &Prepared, credentials: &Credentials) -> anyhow::Result<Execution> {
    match p.recipe.broker.kind {
        BrokerKind::Paper => Ok(Execution::Simulated(Box::new(super::run::sim_venue(p)?))),
        BrokerKind::Alpaca => {
            let cfg = alpaca_config(p, credentials, Role::Broker)?;
            let extended = p.recipe.session.hours
                != crate::recipe::model::Hours::Named(crate::recipe::model::NamedHours::Regular);
            let client = AlpacaExecution::new(cfg, extended).map_err(|e| RunError::refused(e.to_string()))?;
            Ok(Execution::Remote {
                client: Box::new(client),
                live: p.recipe.broker.environment == Environment::Live,
            })
        }
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
pub fn market_data(p: &Prepared, range: DateRange, credentials: &Credentials) -> anyhow::Result<MarketData> {
    match p.recipe.provider.kind {
        ProviderKind::Replay => Ok(MarketData::Replay(Box::new(super::run::open_replay(p, range)?))),
        ProviderKind::Alpaca => {
            let cfg = alpaca_config(p, credentials, Role::Provider)?;
            let subscriptions = vec![Subscription {
                symbol: SymbolId(0),
                instrument: InstrumentId(p.recipe.instrument.underlying.clone()),
                trades: true,
                quotes: true,
                bars: false,
            }];
            Ok(MarketData::Live { client: Box::new(AlpacaStocksFeed::new(cfg)), subscriptions })
        }
        kind => Err(RunError::refused(format!(
            "provider.kind: {0}: the {0} market-data adapter is not part of this build (provider.kind: \
             replay runs on recorded data)",
            kind_name(&kind)
        ))
        .into()),
    }
}

/// Whose credentials and endpoints an adapter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `broker`: the Trading API.
    Broker,
    /// `provider`: the Market Data API.
    Provider,
}

/// An Alpaca client's settings for a recipe: the environment's hosts (`broker.environment`),
/// the feed (`provider.feed`), the recipe's `endpoints` instead of Alpaca's hosts, and the keys
/// of the secret the recipe names for `role` (the other role's when only one names a secret).
///
/// # Errors
/// No secret named for Alpaca, or one without `key_id` / `secret_key`.
pub fn alpaca_config(p: &Prepared, credentials: &Credentials, role: Role) -> anyhow::Result<AlpacaConfig> {
    let r = &p.recipe;
    let (first, second) = match role {
        Role::Broker => ("broker", "provider"),
        Role::Provider => ("provider", "broker"),
    };
    let (name, keys) = credentials.named(first).or_else(|| credentials.named(second)).ok_or_else(|| {
        RunError::refused("alpaca needs credentials: name a secret with key_id and secret_key")
    })?;
    let key = |k: &str| {
        keys.get(k)
            .map(|v| secrecy::SecretString::from(v.expose().to_owned()))
            .ok_or_else(|| RunError::refused(format!("credentials `{name}` lack {k}")))
    };
    let (key_id, secret_key) = (key("key_id")?, key("secret_key")?);
    let account = &r.broker.account;
    let mut cfg = if r.broker.kind == BrokerKind::Alpaca && r.broker.environment == Environment::Live {
        AlpacaConfig::live(account, name, key_id, secret_key)
    } else {
        AlpacaConfig::paper(account, name, key_id, secret_key)
    };
    if let Some(feed) = &r.provider.feed {
        cfg.stocks_stream_url = crate::venue::alpaca::config::stocks_stream_url(feed);
    }
    let broker = r.broker.endpoints.as_ref().filter(|_| r.broker.kind == BrokerKind::Alpaca);
    let provider = r.provider.endpoints.as_ref().filter(|_| r.provider.kind == ProviderKind::Alpaca);
    if let Some(e) = broker {
        set(&mut cfg.trading_url, e.rest.as_ref());
        set(&mut cfg.trade_stream_url, e.stream.as_ref());
    }
    if let Some(e) = provider {
        set(&mut cfg.data_url, e.rest.as_ref());
        set(&mut cfg.stocks_stream_url, e.stream.as_ref());
    }
    Ok(cfg)
}

fn set(field: &mut String, value: Option<&String>) {
    if let Some(v) = value {
        v.trim_end_matches('/').clone_into(field);
    }
}
