//! Options: OCC symbols, chains (real and synthetic), Black-Scholes pricing, contract selection.
//!
//! What belongs here is everything about an option *instrument* that does not need a broker
//! or a running agent: the contract and its OCC symbol ([`occ`](crate::options::occ)), the pricing model
//! ([`pricing`](crate::options::pricing)), the listing schedule and the synthetic chain that stands in for a real one
//! in backtest runs ([`chain`](crate::options::chain)), the broker's real chain kept from polled snapshots
//! ([`listed`](crate::options::listed)), and the recipe-driven choice of a contract plus the
//! order-price and sizing helpers ([`select`](crate::options::select)). Everything is pure and synchronous.
//!
//! Trading-day knowledge comes in through the small [`TradingDays`](crate::options::TradingDays) trait so the NYSE calendar
//! (in `crate::calendar`) can be plugged in without this module depending on it.
//!
//! See `docs/options.md` for the model, its sources and the pricing error measured on real quotes.

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};

/// The synthetic chain, SPY's expiry listing schedule and the [`chain::ChainSource`] trait.
pub mod chain;
/// The broker's listed chain: real contracts and quotes from chain snapshots.
pub mod listed;
/// Option contracts and OCC symbols.
pub mod occ;
/// Black-Scholes(-Merton) prices, greeks and implied volatility.
pub mod pricing;
/// Contract selection from a recipe, marketable-limit prices and sizing.
pub mod select;

pub use chain::{ChainSettings, ChainSource, OptionQuote, SpyListingSchedule, SyntheticChain};
pub use listed::{ListedChain, ListedQuote, Listing};
pub use occ::{OptionContract, OptionRight, SPY_TICK};
pub use pricing::{BsInputs, Greeks};
pub use select::{Direction, ExpiryPreference, ExpiryWindow, OptionSelection, Strike};

/// Everything that can go wrong in this module. Messages name the bad input, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    /// A string is not a valid OCC option symbol.
    #[error("bad OCC option symbol {symbol:?}: {reason}")]
    BadSymbol {
        /// The symbol as given.
        symbol: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A contract field is out of range (strike, root, date).
    #[error("bad option contract: {0}")]
    BadContract(String),
    /// The expiry window itself is invalid (e.g. `min_days > max_days`).
    #[error("bad expiry window: {0}")]
    BadExpiryWindow(String),
    /// No listed expiry falls inside the window: the agent must not trade rather than guess.
    #[error(
        "no {underlying} expiry between {min_days} and {max_days} calendar days after {date} \
         (listed: {listed}); refusing to pick one outside the window"
    )]
    NoExpiryInWindow {
        /// The underlying.
        underlying: String,
        /// The trading date the selection was made on.
        date: NaiveDate,
        /// Window lower bound, calendar days.
        min_days: u32,
        /// Window upper bound, calendar days.
        max_days: u32,
        /// The expiries that were listed, for the message.
        listed: String,
    },
    /// A pricing input is not usable (non-positive price, NaN, negative volatility …).
    #[error("bad pricing input: {0}")]
    BadPricingInput(String),
    /// The chain has no usable quote (e.g. the contract cannot be priced).
    #[error("no quote: {0}")]
    NoQuote(String),
    /// The limit price would move further from the reference than the recipe allows.
    #[error("limit price {limit} is {slippage} away from {reference}, above the allowed {max_slippage}")]
    SlippageTooHigh {
        /// The computed limit price.
        limit: rust_decimal::Decimal,
        /// The quote side it was computed from (ask for buys, bid for sells).
        reference: rust_decimal::Decimal,
        /// |limit − reference|.
        slippage: rust_decimal::Decimal,
        /// The recipe's maximum.
        max_slippage: rust_decimal::Decimal,
    },
    /// The contract's last trading time has passed (or it is not a trading day).
    #[error("{symbol} cannot be opened at {at}: {reason}")]
    CannotOpen {
        /// The OCC symbol.
        symbol: String,
        /// When the open was attempted (New York time).
        at: String,
        /// Why not.
        reason: String,
    },
}

/// Which calendar days are trading days, and when the regular session closes.
///
/// The NYSE calendar (`crate::calendar`) is meant to implement this; tests use
/// [`HolidaySet`] or a closure (any `Fn(NaiveDate) -> bool` is a `TradingDays` with a 16:00 close).
/// `Arc<C>` (including `Arc<dyn TradingDays + Send + Sync>`) is one too, so one calendar can be
/// shared by several chains and agents.
pub trait TradingDays {
    /// Whether the exchange is open on `date`.
    fn is_trading_day(&self, date: NaiveDate) -> bool;

    /// The close of the regular session on `date`, New York time. 16:00 unless overridden
    /// (an early-close calendar returns 13:00 on those days).
    fn session_close(&self, _date: NaiveDate) -> NaiveTime {
        NaiveTime::from_hms_opt(16, 0, 0).unwrap_or(NaiveTime::MIN)
    }

    /// The latest trading day on or before `date` (searches back up to a year; returns `date`
    /// itself if none is found, which only happens with a calendar that has no trading days).
    fn on_or_before(&self, date: NaiveDate) -> NaiveDate {
        let mut d = date;
        for _ in 0..370 {
            if self.is_trading_day(d) {
                return d;
            }
            match d.pred_opt() {
                Some(p) => d = p,
                None => break,
            }
        }
        date
    }

    /// The earliest trading day on or after `date` (same search limits as [`Self::on_or_before`]).
    fn on_or_after(&self, date: NaiveDate) -> NaiveDate {
        let mut d = date;
        for _ in 0..370 {
            if self.is_trading_day(d) {
                return d;
            }
            match d.succ_opt() {
                Some(n) => d = n,
                None => break,
            }
        }
        date
    }
}

impl<F: Fn(NaiveDate) -> bool> TradingDays for F {
    fn is_trading_day(&self, date: NaiveDate) -> bool {
        self(date)
    }
}

impl<T: TradingDays + ?Sized> TradingDays for std::sync::Arc<T> {
    fn is_trading_day(&self, date: NaiveDate) -> bool {
        (**self).is_trading_day(date)
    }

    fn session_close(&self, date: NaiveDate) -> NaiveTime {
        (**self).session_close(date)
    }
}

/// Weekdays are trading days except for a given set of holidays; the session closes at 16:00.
///
/// A stand-in for the real NYSE calendar in tests and for callers without one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolidaySet {
    holidays: std::collections::BTreeSet<NaiveDate>,
}

impl HolidaySet {
    /// Weekdays minus the given holidays.
    pub fn new(holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        Self { holidays: holidays.into_iter().collect() }
    }
}

impl TradingDays for HolidaySet {
    fn is_trading_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&date)
    }
}

/// The NYSE calendar drives expiries and last trading times: a date outside the calendar's
/// range counts as closed (fail closed: no contract is listed or opened on an unknown day).
impl TradingDays for crate::calendar::Calendar {
    fn is_trading_day(&self, date: NaiveDate) -> bool {
        crate::calendar::Calendar::is_trading_day(self, date).unwrap_or(false)
    }

    fn session_close(&self, date: NaiveDate) -> NaiveTime {
        match self.session(date) {
            Ok(Some(s)) => s.close.time(),
            _ => NaiveTime::from_hms_opt(16, 0, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

#[cfg(test)]
mod calendar_tests {
    use super::*;
    use crate::calendar::Calendar;

    #[test]
    fn nyse_calendar_moves_holiday_expiries_and_knows_early_closes() {
        let cal = Calendar::nyse();
        // Good Friday 2024-03-29: closed; the Friday expiry moves to Thursday 03-28.
        let gf = NaiveDate::from_ymd_opt(2024, 3, 29).unwrap();
        assert!(!TradingDays::is_trading_day(&cal, gf));
        assert_eq!(cal.on_or_before(gf), NaiveDate::from_ymd_opt(2024, 3, 28).unwrap());
        // Day after Thanksgiving 2013 closes at 13:00.
        let bf = NaiveDate::from_ymd_opt(2013, 11, 29).unwrap();
        assert_eq!(cal.session_close(bf), NaiveTime::from_hms_opt(13, 0, 0).unwrap());
        // Outside the calendar's range: closed.
        assert!(!TradingDays::is_trading_day(&cal, NaiveDate::from_ymd_opt(1999, 6, 1).unwrap()));
    }
}
