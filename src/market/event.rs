//! Typed market events with exchange timestamps.
//!
//! Events are small `Copy` values: a [`SymbolId`] instead of a string, a [`Timestamp`]
//! instead of a zoned date-time, and `Decimal` prices.

use crate::model::{Price, Qty, SymbolId, Timestamp};

/// One trade print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trade {
    /// Which instrument.
    pub symbol: SymbolId,
    /// Exchange timestamp.
    pub ts: Timestamp,
    /// Trade price.
    pub price: Price,
    /// Trade size.
    pub size: Qty,
}

/// A top-of-book quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// Which instrument.
    pub symbol: SymbolId,
    /// Exchange timestamp.
    pub ts: Timestamp,
    /// Best bid price.
    pub bid: Price,
    /// Size at the best bid.
    pub bid_size: Qty,
    /// Best ask price.
    pub ask: Price,
    /// Size at the best ask.
    pub ask_size: Qty,
}

impl Quote {
    /// The quote as a ledger marks it (without the instrument).
    #[inline]
    pub fn touch(&self) -> crate::model::ledger::Touch {
        crate::model::ledger::Touch {
            bid: self.bid,
            bid_size: self.bid_size,
            ask: self.ask,
            ask_size: self.ask_size,
            ts: self.ts,
        }
    }
}

/// An OHLCV bar from a data vendor, labelled by the start of its interval `[ts, ts + duration)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// Which instrument.
    pub symbol: SymbolId,
    /// Start of the interval.
    pub ts: Timestamp,
    /// Length of the interval in nanoseconds.
    pub duration_nanos: i64,
    /// First price.
    pub open: Price,
    /// Highest price.
    pub high: Price,
    /// Lowest price.
    pub low: Price,
    /// Last price.
    pub close: Price,
    /// Traded volume.
    pub volume: Qty,
}

/// Anything a market-data source produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketEvent {
    /// A trade print.
    Trade(Trade),
    /// A quote update.
    Quote(Quote),
    /// A vendor bar.
    Bar(Bar),
}

impl MarketEvent {
    /// The event's exchange timestamp (for bars, the start of the interval).
    pub fn ts(&self) -> Timestamp {
        match self {
            Self::Trade(t) => t.ts,
            Self::Quote(q) => q.ts,
            Self::Bar(b) => b.ts,
        }
    }

    /// The event's instrument.
    pub fn symbol(&self) -> SymbolId {
        match self {
            Self::Trade(t) => t.symbol,
            Self::Quote(q) => q.symbol,
            Self::Bar(b) => b.symbol,
        }
    }
}

/// A completed candle built by the engine, labelled by its start `[start, start + tf)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Candle {
    /// Which instrument.
    pub symbol: SymbolId,
    /// Start of the bucket.
    pub start: Timestamp,
    /// End of the bucket (exclusive), possibly cut short by a session end.
    pub end: Timestamp,
    /// First price.
    pub open: Price,
    /// Highest price.
    pub high: Price,
    /// Lowest price.
    pub low: Price,
    /// Last price.
    pub close: Price,
    /// Traded volume.
    pub volume: Qty,
}
