//! An option chain as a broker lists it: the contracts on offer and their latest quotes, as
//! plain data. The runtime polls the broker (Alpaca's `/v2/options/contracts` for the listing,
//! its option snapshots for the quotes) and hands each result to the agent and to the simulated
//! venue as a [`ChainSnapshot`]; what a snapshot changes is decided by
//! `crate::options::listed`, the one place that reads it.

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{InstrumentId, Price, Timestamp};

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionRight {
    /// The right to buy the underlying at the strike.
    Call,
    /// The right to sell the underlying at the strike.
    Put,
}

impl OptionRight {
    /// `C` or `P`, as in OCC symbols.
    pub fn letter(self) -> char {
        match self {
            Self::Call => 'C',
            Self::Put => 'P',
        }
    }
}

impl fmt::Display for OptionRight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Call => "call",
            Self::Put => "put",
        })
    }
}

/// One contract the broker lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedContract {
    /// The OCC symbol as the broker spells it (Alpaca: `SPY250620C00550000`, no padding).
    pub instrument: InstrumentId,
    /// The underlying's ticker, e.g. `SPY`.
    pub underlying: String,
    /// The OCC expiration date.
    pub expiry: NaiveDate,
    /// The strike, in dollars.
    pub strike: Price,
    /// Call or put.
    pub right: OptionRight,
    /// Shares per contract (100 for a standard contract; adjusted contracts differ).
    pub multiplier: Decimal,
}

/// The best bid and ask of one contract at one moment (0 on a side nobody quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractQuote {
    /// The OCC symbol as the broker spells it.
    pub instrument: InstrumentId,
    /// Best bid.
    pub bid: Price,
    /// Best ask.
    pub ask: Price,
    /// When the quote was made (the exchange's time, else the poll's).
    pub ts: Timestamp,
}

/// What one poll of the broker's chain brought.
///
/// The rule: a snapshot with `contracts` is a new listing and replaces the previous one
/// (quotes of contracts still listed are kept); a snapshot without contracts only refreshes
/// quotes of the listing already held. Quotes apply to listed contracts only, and a quote
/// never replaces a newer one of the same contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSnapshot {
    /// When the poll was made.
    pub ts: Timestamp,
    /// The listing (empty: quotes only).
    pub contracts: Vec<ListedContract>,
    /// The latest quotes.
    pub quotes: Vec<ContractQuote>,
}
