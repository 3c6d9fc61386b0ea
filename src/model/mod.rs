//! Domain types shared across modules: timestamps, sides, typed identifiers, percentages.
//!
//! Money, prices and quantities are `rust_decimal::Decimal` everywhere on the order
//! path; there is no `f64` for them.

pub mod account;
pub mod chain;
pub mod fastdec;
pub mod ledger;
pub mod order;
pub mod value;

pub use value::Percent;
pub(crate) use value::string_serde;

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The exchange time zone of US markets.
pub const NEW_YORK: Tz = chrono_tz::America::New_York;

/// A price. Always a `Decimal`.
pub type Price = rust_decimal::Decimal;
/// A quantity (shares, contracts, coins). Always a `Decimal`.
pub type Qty = rust_decimal::Decimal;
/// An amount of money in the account currency. Always a `Decimal`.
pub type Money = rust_decimal::Decimal;

/// `qty` rounded toward zero to a whole number of `increment`s, the smallest step a venue
/// trades the instrument in (1 for shares and contracts, e.g. 0.00000001 for bitcoin). An
/// increment that is not positive counts as 1.
pub fn round_to_increment(qty: Qty, increment: Qty) -> Qty {
    if increment <= rust_decimal::Decimal::ZERO || increment == rust_decimal::Decimal::ONE {
        return qty.trunc();
    }
    qty.checked_div(increment).map_or_else(|| qty.trunc(), |n| n.trunc() * increment)
}

/// A point in time: nanoseconds since the Unix epoch, UTC.
///
/// Compact (8 bytes) and `Copy`, so market events stay small on the hot path;
/// convert with [`Timestamp::to_utc`] / [`Timestamp::to_exchange`] where a calendar view is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Nanoseconds in one second.
    pub const NANOS_PER_SEC: i64 = 1_000_000_000;

    /// From any chrono date-time.
    pub fn from_datetime<T: TimeZone>(dt: &DateTime<T>) -> Self {
        Self(dt.timestamp_nanos_opt().unwrap_or(i64::MAX))
    }

    /// As a UTC date-time.
    pub fn to_utc(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }

    /// As a date-time in the given exchange time zone.
    pub fn to_exchange(self, tz: Tz) -> DateTime<Tz> {
        self.to_utc().with_timezone(&tz)
    }

    /// As a New York date-time.
    pub fn to_new_york(self) -> DateTime<Tz> {
        self.to_exchange(NEW_YORK)
    }

    /// Whole seconds since the epoch (floor).
    pub fn seconds(self) -> i64 {
        self.0.div_euclid(Self::NANOS_PER_SEC)
    }

    /// This timestamp plus a number of nanoseconds.
    #[must_use]
    pub fn add_nanos(self, nanos: i64) -> Self {
        Self(self.0.saturating_add(nanos))
    }
}

/// As RFC 3339 in UTC with nine fractional digits (`2013-10-07T13:30:00.000000000Z`), the
/// journal's spelling: exact, and sortable as text.
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.to_utc().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_new_york().to_rfc3339_opts(chrono::SecondsFormat::Millis, false))
    }
}

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Buy (increase a long, reduce a short).
    Buy,
    /// Sell (reduce a long, increase a short).
    Sell,
}

impl Side {
    /// The other side.
    #[must_use]
    pub fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }

    /// +1 for buy, -1 for sell.
    pub fn sign(self) -> rust_decimal::Decimal {
        match self {
            Self::Buy => rust_decimal::Decimal::ONE,
            Self::Sell => rust_decimal::Decimal::NEGATIVE_ONE,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        })
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

string_id!(
    /// The name of an agent (the recipe's `agent`).
    AgentId
);
string_id!(
    /// A broker account name (the recipe's `broker.account`).
    AccountId
);
impl AccountId {
    /// The longest account name [`AccountId::parse`] accepts, in characters.
    pub const MAX_LEN: usize = 200;

    /// [`AccountId::parse`]'s rule as a regular expression (the recipe schema's pattern for
    /// `broker.account`, so editors check it too).
    pub const PATTERN: &'static str = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$";

    /// The one rule for account names: 1 to [`AccountId::MAX_LEN`] ASCII letters, digits,
    /// `.`, `_` or `-`, not starting with `.`. Such a name is safe as a file name (account
    /// locks are files named after it): no separator, no `..`, nothing hidden.
    ///
    /// # Errors
    /// The name breaks the rule; the error says how.
    pub fn parse(name: &str) -> Result<Self, BadAccountName> {
        let reason = if name.is_empty() {
            "is empty"
        } else if name.starts_with('.') {
            "starts with `.`"
        } else if name.len() > Self::MAX_LEN {
            "is longer than 200 characters"
        } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            "has a character other than ASCII letters, digits, `.`, `_` and `-`"
        } else {
            return Ok(Self(name.to_owned()));
        };
        Err(BadAccountName { name: name.to_owned(), reason })
    }
}

/// An account name that breaks [`AccountId::parse`]'s rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "account name {name:?} {reason}: use 1 to 200 ASCII letters, digits, `.`, `_` or `-`, not starting with `.`"
)]
pub struct BadAccountName {
    /// The name as given.
    pub name: String,
    /// How it breaks the rule.
    pub reason: &'static str,
}

string_id!(
    /// An instrument: a ticker (`SPY`), a crypto pair (`BTC-USD`) or an OCC option symbol.
    InstrumentId
);
string_id!(
    /// A client order id; deterministic (`{agent}-{sequence}`) so a retried submit cannot duplicate an order.
    ClientOrderId
);

/// A compact per-run index of an instrument (its position in the run's symbol table),
/// carried by market events instead of a string so events stay `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(transparent)]
pub struct SymbolId(pub u16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_follow_one_rule_and_the_pattern_states_it() {
        let pattern = regex::Regex::new(AccountId::PATTERN).expect("pattern compiles");
        let long = "a".repeat(AccountId::MAX_LEN);
        let too_long = "a".repeat(AccountId::MAX_LEN + 1);
        for good in ["paper-spy", "PAPER_1", "a", "a.b", "-x", "_", long.as_str()] {
            assert_eq!(AccountId::parse(good).map(|a| a.0).as_deref(), Ok(good));
            assert!(pattern.is_match(good), "{good}");
        }
        for bad in ["", ".hidden", "..", "../../tmp/evil", "a/b", "a b", "é", "a\n", too_long.as_str()] {
            let e = AccountId::parse(bad).expect_err(bad);
            assert_eq!(e.name, bad);
            assert!(!pattern.is_match(bad), "{bad:?}");
        }
        let e = AccountId::parse("../../tmp/evil").unwrap_err().to_string();
        assert!(e.contains("starts with `.`") && e.contains("use 1 to 200 ASCII letters"), "{e}");
    }
}
