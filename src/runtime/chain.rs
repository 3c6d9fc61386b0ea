//! The listed option chain of a live options agent: polled from Alpaca and handed to the agent
//! (and, in a dry run, to the simulated venue) as [`ChainSnapshot`]s.
//!
//! The listing (`/v2/options/contracts`, the recipe's expiry window) is read at start and every
//! [`LISTING_EVERY`]; quotes (the Market Data API's option snapshots) every [`QUOTES_EVERY`],
//! for the contracts whose strike lies within [`STRIKE_BAND`] of the underlying's price at the
//! latest listing — the ones an at-the-money or near-the-money rule can pick, in a handful of
//! requests rather than the whole chain. A failed poll is a warning and is tried again at the
//! next one; refused keys end the polling (the agent then refuses to open contracts: it has no
//! quotes).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rust_decimal::Decimal;
use tokio::sync::mpsc;

use crate::model::chain::{ChainSnapshot, ContractQuote, ListedContract};
use crate::model::{InstrumentId, Timestamp};
use crate::options::ExpiryWindow;
use crate::venue::VenueError;
use crate::venue::alpaca::AlpacaConfig;
use crate::venue::alpaca::lookups::{self, ContractQuery, Snapshots};

/// How often the listing is read again.
pub const LISTING_EVERY: Duration = Duration::from_secs(30 * 60);
/// How often quotes are read.
pub const QUOTES_EVERY: Duration = Duration::from_secs(5);
/// Strikes quoted: within this fraction of the underlying's price.
pub const STRIKE_BAND: Decimal = Decimal::from_parts(3, 0, 0, false, 2);
/// Symbols per snapshot request.
const SYMBOLS_PER_REQUEST: usize = 100;

/// What to poll.
#[derive(Debug, Clone)]
pub struct ChainPoll {
    /// The client settings (the provider's keys and endpoints).
    pub cfg: AlpacaConfig,
    /// The underlying's ticker.
    pub underlying: String,
    /// The recipe's expiry window (calendar days).
    pub window: ExpiryWindow,
}

/// Poll until the agent is gone (`tx` closed) or the keys are refused.
pub async fn poll(p: ChainPoll, tx: mpsc::Sender<Arc<ChainSnapshot>>) {
    let mut listed: Vec<String> = Vec::new();
    let mut listing = tokio::time::interval(LISTING_EVERY);
    let mut quotes = tokio::time::interval(QUOTES_EVERY);
    loop {
        let snapshot = tokio::select! {
            _ = listing.tick() => match list(&p).await {
                Ok((contracts, near)) => {
                    listed = near;
                    // The listing and its first quotes together: the agent can choose at once.
                    let quotes = quote(&p, &listed).await.unwrap_or_default();
                    Ok(ChainSnapshot { ts: now(), contracts, quotes })
                }
                Err(e) => Err(e),
            },
            _ = quotes.tick() => quote(&p, &listed).await.map(|quotes| ChainSnapshot { ts: now(), contracts: Vec::new(), quotes }),
            () = tx.closed() => return,
        };
        match snapshot {
            Ok(s) if s.contracts.is_empty() && s.quotes.is_empty() => {}
            Ok(s) => {
                if tx.send(Arc::new(s)).await.is_err() {
                    return;
                }
            }
            Err(VenueError::Terminal(e)) => {
                tracing::warn!(underlying = %p.underlying, "option chain polling stopped: {e}");
                return;
            }
            Err(e) => tracing::warn!(underlying = %p.underlying, "option chain poll failed: {e}"),
        }
    }
}

/// The listing of the window, and the symbols near the money to quote.
async fn list(p: &ChainPoll) -> Result<(Vec<ListedContract>, Vec<String>), VenueError> {
    let today = Utc::now().with_timezone(&crate::model::NEW_YORK).date_naive();
    let days = |d: u32| chrono::Days::new(u64::from(d));
    let q = ContractQuery {
        underlying: p.underlying.clone(),
        expiry_from: today.checked_add_days(days(p.window.min_days)).unwrap_or(today),
        expiry_to: today.checked_add_days(days(p.window.max_days)).unwrap_or(today),
        strike_min: None,
        strike_max: None,
        right: None,
    };
    let listed = lookups::option_contracts(&p.cfg, &q).await?;
    let price =
        lookups::latest_quote(&p.cfg, &p.underlying).await.ok().map(|q| (q.bid + q.ask) / Decimal::TWO);
    let near = listed
        .iter()
        .filter(|c| c.tradable && price.is_none_or(|px| (c.strike - px).abs() <= px * STRIKE_BAND))
        .map(|c| c.occ.clone())
        .collect();
    let contracts = listed
        .into_iter()
        .filter(|c| c.tradable)
        .map(|c| ListedContract {
            instrument: InstrumentId(c.occ),
            underlying: c.underlying,
            expiry: c.expiration,
            strike: c.strike,
            right: c.right,
            multiplier: c.multiplier,
        })
        .collect();
    Ok((contracts, near))
}

/// The latest quotes of `symbols`.
async fn quote(p: &ChainPoll, symbols: &[String]) -> Result<Vec<ContractQuote>, VenueError> {
    let mut out = Vec::new();
    for chunk in symbols.chunks(SYMBOLS_PER_REQUEST) {
        let got = lookups::option_snapshots(&p.cfg, Snapshots::Symbols(chunk)).await?;
        out.extend(got.into_iter().map(|q| ContractQuote {
            instrument: InstrumentId(q.occ),
            bid: q.bid,
            ask: q.ask,
            ts: q.ts,
        }));
    }
    Ok(out)
}

fn now() -> Timestamp {
    Timestamp::from_datetime(&Utc::now())
}
