//! The US compliance rulebook: pure rules, chosen by the trading date.
//!
//! What belongs here: the rules a US broker-dealer enforces on a customer's orders, written as
//! pure functions over plain data — no I/O, no clock. The risk gate builds the inputs (account
//! snapshot, ledgers, the order) and calls [`Rules::check_order`] or the individual rules; each
//! rule returns `Result<(), Denial>` with a stable reason code.
//!
//! - [`Regime`]: which day-trading rule is in force on a date ([`regime_for`]): the legacy
//!   pattern-day-trader rule before 2026-06-04, FINRA's intraday margin standard from then on.
//! - [`daytrade`]: FINRA's day-trade definition, the 5-business-day window and the PDT check.
//! - [`margin`]: Regulation T initial margin, the intraday maintenance-margin deficit check and
//!   the $2,000 minimum equity.
//! - [`settlement`]: cash accounts — settled funds only, no free-riding, T+3/T+2/T+1 by date.
//!
//! All money is `Decimal`. `docs/risk-and-compliance.md` states each rule's source and the exact
//! model implemented.
//!
//! [`Rules::check_order`]: crate::risk::compliance::Rules::check_order
//! [`Regime`]: crate::risk::compliance::Regime
//! [`regime_for`]: crate::risk::compliance::regime_for
//! [`daytrade`]: crate::risk::compliance::daytrade
//! [`margin`]: crate::risk::compliance::margin
//! [`settlement`]: crate::risk::compliance::settlement

pub mod daytrade;
pub mod margin;
pub mod settlement;

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::calendar::{Calendar, CalendarError};
use crate::model::{InstrumentId, Price, Qty, Side};

pub use daytrade::{DayTrade, Fill};
pub use daytrade::{DayTradeLedger, PDT_MIN_EQUITY};
pub use margin::{MarginAccount, Position};
pub use settlement::{SettlementLedger, settlement_date};

/// Reason codes of [`Denial`]s. Stable strings (lower case, hyphens, like every reason code):
/// journals and reports key on them.
pub mod codes {
    /// Legacy PDT: the order would make (or risk) a 4th day trade in 5 business days.
    pub const PDT_LIMIT: &str = "pdt-limit";
    /// Intraday margin: the order would create or increase an intraday margin deficit.
    pub const INTRADAY_MARGIN_DEFICIT: &str = "intraday-margin-deficit";
    /// Margin account equity below the $2,000 minimum for credit.
    pub const MIN_EQUITY: &str = "min-equity";
    /// Regulation T initial margin not met.
    pub const REG_T_BUYING_POWER: &str = "reg-t-buying-power";
    /// Cash account: not enough settled funds.
    pub const UNSETTLED_FUNDS: &str = "unsettled-funds";
    /// Cash account: selling a security before paying for it with settled funds.
    pub const FREE_RIDING: &str = "free-riding";
    /// Cash account: short sales need a margin account.
    pub const CASH_ACCOUNT_SHORT: &str = "cash-account-short";
    /// Writing (selling to open) options is outside the margin model runner implements.
    pub const SHORT_OPTION_UNSUPPORTED: &str = "short-option-unsupported";
    /// Selling more than the ledger holds.
    pub const INSUFFICIENT_POSITION: &str = "insufficient-position";
    /// The order itself is malformed (non-positive quantity or price).
    pub const INVALID_ORDER: &str = "invalid-order";
    /// The trading calendar cannot answer for the order's date (fail closed).
    pub const CALENDAR: &str = "calendar";
}

/// Why a rule refuses an order: a stable machine code and a human message (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Denial {
    /// Stable reason code, one of [`codes`].
    pub code: &'static str,
    /// What happened, with the numbers that decided it.
    pub message: String,
}

impl Denial {
    /// A denial with this code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Denial {}

impl From<CalendarError> for Denial {
    fn from(e: CalendarError) -> Self {
        Self::new(codes::CALENDAR, e.to_string())
    }
}

/// What every rule returns.
pub type RuleResult = Result<(), Denial>;

/// The first trading date on which FINRA's intraday margin standard replaces the PDT rule
/// (SR-FINRA-2025-017, FINRA Regulatory Notice 26-10).
pub fn intraday_margin_effective() -> NaiveDate {
    // 2026-06-04 is a valid calendar date; `MIN` is never reached.
    NaiveDate::from_ymd_opt(2026, 6, 4).unwrap_or(NaiveDate::MIN)
}

/// Which day-trading rule applies.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Regime {
    /// FINRA Rule 4210(f)(8)(B) pattern-day-trader rule (before 2026-06-04).
    LegacyPdt,
    /// FINRA Rule 4210 intraday margin standard (from 2026-06-04).
    IntradayMargin,
    /// Neither (e.g. a non-US venue). Regulation T and cash-account rules still apply.
    Off,
}

impl fmt::Display for Regime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LegacyPdt => "legacy-pdt",
            Self::IntradayMargin => "intraday-margin",
            Self::Off => "off",
        })
    }
}

/// The regime in force on trading `date`: `pinned` if given (a recipe pinning a broker that is
/// still phasing in), else legacy PDT before 2026-06-04 and intraday margin from that date.
pub fn regime_for(date: NaiveDate, pinned: Option<Regime>) -> Regime {
    match pinned {
        Some(r) => r,
        None if date < intraday_margin_effective() => Regime::LegacyPdt,
        None => Regime::IntradayMargin,
    }
}

/// Cash or margin account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountType {
    /// Cash account: pays in full with settled funds; no shorts, no day-trade rule.
    Cash,
    /// Margin account: Reg T credit, day-trade and intraday-margin rules.
    Margin,
}

/// What kind of security an instrument is, for margin purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetClass {
    /// A listed stock or ETF (multiplier 1).
    Equity,
    /// A listed equity option (multiplier 100).
    Option,
}

impl AssetClass {
    /// Units of the underlying per quantity unit: 1 share, or 100 for an option contract.
    pub fn multiplier(self) -> Decimal {
        match self {
            Self::Equity => Decimal::ONE,
            Self::Option => Decimal::ONE_HUNDRED,
        }
    }
}

/// Whether a fill opens (or increases) a position or closes (reduces) one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Buy to open / sell short to open.
    Open,
    /// Sell to close / buy to cover.
    Close,
}

/// Split an order of `qty` on `side` against the current signed `position` into the quantity that
/// closes and the quantity that opens (an order larger than the position flips it).
pub fn split_effect(position: Qty, side: Side, qty: Qty) -> (Qty, Qty) {
    let reduces =
        (side == Side::Sell && position > Decimal::ZERO) || (side == Side::Buy && position < Decimal::ZERO);
    if !reduces {
        return (Decimal::ZERO, qty);
    }
    let close = qty.min(position.abs());
    (close, qty - close)
}

/// An order as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderCheck {
    /// Trading date (exchange-local) the order would execute on.
    pub date: NaiveDate,
    /// The security.
    pub instrument: InstrumentId,
    /// Equity or option.
    pub class: AssetClass,
    /// Buy or sell.
    pub side: Side,
    /// Quantity, positive (shares or contracts).
    pub qty: Qty,
    /// Price per unit used to value the order (limit price, or a marketable estimate).
    pub price: Price,
}

impl OrderCheck {
    /// Notional value: qty × price × multiplier.
    pub fn notional(&self) -> Decimal {
        self.qty * self.price * self.class.multiplier()
    }

    /// Refuse a malformed order (non-positive quantity or price).
    pub fn validate(&self) -> RuleResult {
        if self.qty <= Decimal::ZERO || self.price <= Decimal::ZERO {
            return Err(Denial::new(
                codes::INVALID_ORDER,
                format!("order quantity ({}) and price ({}) must be positive", self.qty, self.price),
            ));
        }
        Ok(())
    }
}

/// The account side of a compliance check.
#[derive(Debug, Clone, Copy)]
pub enum AccountView<'a> {
    /// A cash account and its settlement ledger.
    Cash(&'a SettlementLedger),
    /// A margin account snapshot and its day-trade ledger.
    Margin {
        /// Cash and positions at current prices.
        account: &'a MarginAccount,
        /// Fills of the recent business days.
        day_trades: &'a DayTradeLedger,
    },
}

/// When Regulation T initial margin is enforced in a margin account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegTTiming {
    /// On every order that opens or increases a position (runner's default; stricter than the
    /// regulation, which assesses the day's net purchases at the end of the day).
    #[default]
    PerOrder,
    /// Not per order: the caller checks [`MarginAccount::check_reg_t`] on positions it is about to
    /// carry overnight. Intraday exposure is then bounded by the intraday margin check (and by the
    /// PDT rule under the legacy regime).
    EndOfDay,
}

/// The compliance rules in force for one account on one trading date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The day-trading regime.
    pub regime: Regime,
    /// When Reg T is enforced.
    pub reg_t: RegTTiming,
}

impl Rules {
    /// The rules for trading `date`, with an optional pinned regime and Reg T per order.
    pub fn for_date(date: NaiveDate, pinned: Option<Regime>) -> Self {
        Self { regime: regime_for(date, pinned), reg_t: RegTTiming::PerOrder }
    }

    /// Run every rule that applies to `order`; the first denial wins.
    ///
    /// Cash accounts: settled funds, no free-riding, no shorts (the day-trade rules are margin
    /// rules and do not apply). Margin accounts: Regulation T initial margin (per [`RegTTiming`]),
    /// the $2,000 minimum equity for credit, then the PDT check (legacy regime) or the intraday
    /// margin deficit check (intraday regime); `Off` skips the last step.
    pub fn check_order(&self, cal: &Calendar, view: AccountView<'_>, order: &OrderCheck) -> RuleResult {
        order.validate()?;
        cal.day_kind(order.date)?; // fail closed on dates the calendar cannot answer for
        match view {
            AccountView::Cash(ledger) => ledger.check_order(cal, order),
            AccountView::Margin { account, day_trades } => {
                if self.reg_t == RegTTiming::PerOrder {
                    account.check_reg_t(order)?;
                }
                account.check_min_equity(order)?;
                match self.regime {
                    Regime::LegacyPdt => {
                        let position = account.position_qty(&order.instrument);
                        day_trades.check_pdt(cal, order, position, account.equity())
                    }
                    Regime::IntradayMargin => account.check_intraday_margin(order),
                    Regime::Off => Ok(()),
                }
            }
        }
    }
}

/// Format money for messages: `$1234.50`.
pub(crate) fn usd(x: Decimal) -> String {
    format!("${}", crate::risk::text::money(x))
}

/// An instrument for messages, spelled as the report spells it (`SPY 131019P00168000`).
pub(crate) fn name(i: &InstrumentId) -> String {
    crate::risk::text::instrument(i.as_str())
}

#[cfg(test)]
mod tests;
