//! Option contracts and their OCC symbols (`SPY   241122C00590000`), tick sizes, last trading
//! time and intrinsic value.
//!
//! OCC symbology (since 2010): the root left-aligned and padded with spaces to 6 characters,
//! the expiration date as `yymmdd`, `C` or `P`, and the strike × 1000 as 8 digits.
//! `OptionContract::from_str` also accepts the unpadded form brokers such as Alpaca use
//! (`SPY241122C00590000`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::{OptionsError, TradingDays};
pub use crate::model::chain::OptionRight;
use crate::model::{Money, NEW_YORK, Price, Timestamp};

/// SPY's minimum price increment: every SPY series quotes in pennies.
pub const SPY_TICK: Decimal = dec!(0.01);

/// Roots whose options quote in pennies at every price (penny program, "all strikes" names).
const ALL_PENNY_ROOTS: [&str; 3] = ["SPY", "QQQ", "IWM"];

/// One listed option series: underlying root, call/put, strike, expiration date, multiplier.
///
/// `expiry` is the OCC expiration date, the one in the symbol. For SPY it is the last trading
/// day, except standard monthlies before February 2015, which carried the Saturday after the
/// third Friday (see [`OptionContract::last_trading_day`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct OptionContract {
    /// The OCC root, e.g. `SPY` (1–6 ASCII upper-case letters or digits).
    pub underlying: String,
    /// Call or put.
    pub right: OptionRight,
    /// Strike in dollars (at most three decimals).
    pub strike: Price,
    /// OCC expiration date.
    pub expiry: NaiveDate,
    /// Shares per contract (100 for standard equity and ETF options).
    pub multiplier: u32,
}

impl OptionContract {
    /// A standard (multiplier 100) contract, checked: root 1–6 upper-case ASCII letters/digits,
    /// strike positive, at most 3 decimals and below 100 000, expiry in 2000–2099.
    pub fn new(
        underlying: &str,
        right: OptionRight,
        strike: Price,
        expiry: NaiveDate,
    ) -> Result<Self, OptionsError> {
        check_root(underlying).map_err(OptionsError::BadContract)?;
        if strike <= Decimal::ZERO {
            return Err(OptionsError::BadContract(format!("strike {strike} must be positive")));
        }
        if (strike * dec!(1000)).fract() != Decimal::ZERO {
            return Err(OptionsError::BadContract(format!("strike {strike} has more than 3 decimals")));
        }
        if strike >= dec!(100000) {
            return Err(OptionsError::BadContract(format!("strike {strike} does not fit in 8 OCC digits")));
        }
        if !(2000..=2099).contains(&expiry.year()) {
            return Err(OptionsError::BadContract(format!("expiry {expiry} is outside 2000-2099")));
        }
        Ok(Self {
            underlying: underlying.to_owned(),
            right,
            strike: strike.normalize(),
            expiry,
            multiplier: 100,
        })
    }

    /// The OCC symbol with the root padded to 6 characters: `SPY   241122C00590000`.
    pub fn occ_symbol(&self) -> String {
        format!("{:<6}{}", self.underlying, self.tail())
    }

    /// The OCC symbol without padding, as Alpaca writes it: `SPY241122C00590000`.
    pub fn compact_symbol(&self) -> String {
        format!("{}{}", self.underlying, self.tail())
    }

    fn tail(&self) -> String {
        // Strike < 100 000 with ≤ 3 decimals (checked on construction), so this fits 8 digits.
        let milli = (self.strike * dec!(1000)).trunc();
        format!("{}{}{:08}", self.expiry.format("%y%m%d"), self.right.letter(), milli)
    }

    /// Minimum price increment for a premium of `price`: a penny for SPY/QQQ/IWM at any price;
    /// otherwise the penny-program rule (0.01 below $3, 0.05 from $3).
    pub fn tick_size(&self, price: Price) -> Price {
        if ALL_PENNY_ROOTS.contains(&self.underlying.as_str()) || price < dec!(3) {
            dec!(0.01)
        } else {
            dec!(0.05)
        }
    }

    /// The last day the contract trades: the expiry date itself when it is a trading day,
    /// otherwise the trading day before it (a Saturday expiry of an old monthly, or a holiday).
    pub fn last_trading_day(&self, days: &dyn TradingDays) -> NaiveDate {
        days.on_or_before(self.expiry)
    }

    /// The moment trading ends: the regular close (16:00 New York for SPY; earlier on an early-close
    /// day if the calendar says so) of the last trading day. PM-settled index options stop at the
    /// same 16:00 on their expiry day; only non-expiring index series trade to 16:15.
    pub fn last_trading_time(&self, days: &dyn TradingDays) -> DateTime<Tz> {
        let day = self.last_trading_day(days);
        new_york(day, days.session_close(day))
    }

    /// Whether a new position may be opened at `at`: a trading day, inside the regular session
    /// (09:30 to the close) and before the contract's last trading time.
    pub fn can_open(&self, at: Timestamp, days: &dyn TradingDays) -> Result<(), OptionsError> {
        let ny = at.to_new_york();
        let date = ny.date_naive();
        let refuse = |reason: String| OptionsError::CannotOpen {
            symbol: self.occ_symbol(),
            at: ny.to_rfc3339(),
            reason,
        };
        if !days.is_trading_day(date) {
            return Err(refuse(format!("{date} is not a trading day")));
        }
        let open = new_york(date, NaiveTime::from_hms_opt(9, 30, 0).unwrap_or(NaiveTime::MIN));
        let close = new_york(date, days.session_close(date));
        if ny < open || ny >= close {
            return Err(refuse("outside the regular session".to_owned()));
        }
        let last = self.last_trading_time(days);
        if ny >= last {
            return Err(refuse(format!("trading ended at {}", last.to_rfc3339())));
        }
        Ok(())
    }

    /// Whether the contract has stopped trading at `at` (at or after its last trading time).
    pub fn is_expired(&self, at: Timestamp, days: &dyn TradingDays) -> bool {
        at.to_new_york() >= self.last_trading_time(days)
    }

    /// Intrinsic value per share for an underlying price: max(S − K, 0) for a call,
    /// max(K − S, 0) for a put.
    pub fn intrinsic(&self, underlying: Price) -> Price {
        match self.right {
            OptionRight::Call => (underlying - self.strike).max(Decimal::ZERO),
            OptionRight::Put => (self.strike - underlying).max(Decimal::ZERO),
        }
    }

    /// What one long contract is worth at expiry (paper settlement): intrinsic × multiplier,
    /// using the underlying's closing price on the last trading day.
    pub fn settlement_value(&self, underlying_close: Price) -> Money {
        self.intrinsic(underlying_close) * Decimal::from(self.multiplier)
    }

    /// Calendar days from `date` to the expiry date (negative once past).
    pub fn days_to_expiry(&self, date: NaiveDate) -> i64 {
        (self.expiry - date).num_days()
    }
}

/// A New York wall-clock time; for a time in a DST gap (never 09:30/16:00) falls back to UTC reading.
fn new_york(date: NaiveDate, time: NaiveTime) -> DateTime<Tz> {
    let naive = date.and_time(time);
    NEW_YORK.from_local_datetime(&naive).earliest().unwrap_or_else(|| NEW_YORK.from_utc_datetime(&naive))
}

fn check_root(root: &str) -> Result<(), String> {
    if root.is_empty() || root.len() > 6 {
        return Err(format!("root {root:?} must be 1 to 6 characters"));
    }
    if !root.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return Err(format!("root {root:?} must be upper-case ASCII letters or digits"));
    }
    Ok(())
}

impl fmt::Display for OptionContract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.occ_symbol())
    }
}

impl FromStr for OptionContract {
    type Err = OptionsError;

    /// Parses a padded (`SPY   241122C00590000`) or compact (`SPY241122C00590000`) OCC symbol.
    fn from_str(symbol: &str) -> Result<Self, Self::Err> {
        let bad =
            |reason: &str| OptionsError::BadSymbol { symbol: symbol.to_owned(), reason: reason.to_owned() };
        if !symbol.is_ascii() {
            return Err(bad("not ASCII"));
        }
        if symbol.len() < 16 {
            return Err(bad("too short: want root, yymmdd, C/P and 8 strike digits"));
        }
        let (root_part, tail) = symbol.split_at(symbol.len() - 15);
        if root_part.len() > 6 {
            return Err(bad("root longer than 6 characters"));
        }
        let root = root_part.trim_end_matches(' ');
        if root_part.len() != root.len() && root_part.len() != 6 {
            return Err(bad("a padded root must be exactly 6 characters wide"));
        }
        check_root(root).map_err(|r| bad(&r))?;
        let (date, rest) = tail.split_at(6);
        let (right, strike) = rest.split_at(1);
        if !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("expiry must be 6 digits yymmdd"));
        }
        let expiry = NaiveDate::parse_from_str(&format!("20{date}"), "%Y%m%d")
            .map_err(|_| bad("expiry yymmdd is not a calendar date"))?;
        let right = match right {
            "C" => OptionRight::Call,
            "P" => OptionRight::Put,
            _ => return Err(bad("right must be C or P")),
        };
        if !strike.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("strike must be 8 digits"));
        }
        let milli: i64 = strike.parse().map_err(|_| bad("strike must be 8 digits"))?;
        if milli == 0 {
            return Err(bad("strike is zero"));
        }
        Self::new(root, right, Decimal::new(milli, 3), expiry).map_err(|e| bad(&e.to_string()))
    }
}
