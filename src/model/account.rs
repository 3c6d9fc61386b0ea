//! What a venue says about an account: cash, buying power, positions and open orders, and
//! whether the venue and the market-data feed are reachable.
//!
//! The start-up reconciliation compares an [`AccountState`] with what the journal says; a
//! live venue also sends one after every reconnect.

use serde::Serialize;

use super::order::OrderKind;
use super::{ClientOrderId, InstrumentId, Money, Price, Qty, Side, Timestamp};

/// An account as its venue reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AccountState {
    /// When the venue reported it.
    pub ts: Timestamp,
    /// Cash.
    pub cash: Money,
    /// What the venue lets the account buy now.
    pub buying_power: Money,
    /// Cash plus positions at the venue's marks.
    pub equity: Money,
    /// Every non-flat position.
    pub positions: Vec<PositionReport>,
    /// Every order still working.
    pub open_orders: Vec<OpenOrder>,
}

/// A position as a venue reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PositionReport {
    /// The instrument (ticker, crypto pair, OCC symbol).
    pub instrument: InstrumentId,
    /// Signed quantity: > 0 long, < 0 short.
    pub qty: Qty,
    /// Average entry price.
    pub avg_price: Price,
}

/// A working order as a venue reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenOrder {
    /// Its client order id.
    pub id: ClientOrderId,
    /// The instrument.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Total quantity.
    pub qty: Qty,
    /// Quantity executed so far.
    pub filled: Qty,
    /// How it is priced.
    pub kind: OrderKind,
}

/// Which connection a [`Connectivity`] event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// The execution venue (orders, fills, account).
    Venue,
    /// The market-data feed.
    Feed,
    /// An external signal source (a Redis stream).
    Signals,
}

/// A connection came up, went down, or data was missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Connectivity {
    /// Connected (again).
    Up {
        /// Which connection.
        link: Link,
        /// When.
        ts: Timestamp,
    },
    /// Disconnected; the runtime is reconnecting.
    Down {
        /// Which connection.
        link: Link,
        /// When.
        ts: Timestamp,
        /// Why, as the transport said (never a credential).
        reason: String,
    },
    /// Nothing arrived between two times (a reconnect, a quiet feed during the session).
    Gap {
        /// Which connection.
        link: Link,
        /// The last event before the gap.
        from: Timestamp,
        /// The first event after it (or now).
        to: Timestamp,
    },
}

impl std::fmt::Display for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Venue => "venue",
            Self::Feed => "market data feed",
            Self::Signals => "signal source",
        })
    }
}

impl std::fmt::Display for Connectivity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = |ts: &Timestamp| ts.to_new_york().format("%Y-%m-%d %H:%M:%S%.3f").to_string();
        match self {
            Self::Up { link, .. } => write!(f, "{link} connected"),
            Self::Down { link, reason, .. } => write!(f, "{link} disconnected ({reason}); reconnecting"),
            Self::Gap { link, from, to } => {
                write!(f, "{link} gap: nothing between {} and {}", t(from), t(to))
            }
        }
    }
}
