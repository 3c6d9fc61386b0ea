//! Choosing a contract (expiry window + strike rule, the types a recipe's option instrument is
//! written in), and the order helpers that go with it: marketable-limit prices with a slippage
//! guard, and sizing from a dollar budget.
//!
//! Recipe form: `instrument: {underlying: SPY, kind: option, expiry: {min_days: 7, max_days: 14,
//! prefer: nearest}, strike: atm}` with `strike` one of `atm`, `itm:N`, `otm:N`, `delta:D`.
//!
//! Direction: a long signal buys a call, a short signal buys a put; the runner never writes
//! options. Rolling: a held contract is never rolled mid-position; every new entry re-selects
//! from the chain of that moment; a position still open near the last trading time is closed
//! ([`expiry_exit_due`](crate::options::select::expiry_exit_due)) and one still open at expiry settles at intrinsic value.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{Duration, NaiveDate};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::chain::{ChainSource, OptionQuote};
use super::occ::{OptionContract, OptionRight};
use super::{OptionsError, TradingDays};
use crate::model::{Money, Price, Side, Timestamp, string_serde};

/// The window of option expiries to choose from, in calendar days from the trading date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpiryWindow {
    /// Fewest calendar days to expiry.
    pub min_days: u32,
    /// Most calendar days to expiry.
    pub max_days: u32,
    /// Which expiry to take when several fall in the window.
    #[serde(default)]
    pub prefer: ExpiryPreference,
}

/// Which expiry to pick inside the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ExpiryPreference {
    /// The soonest expiry in the window.
    #[default]
    Nearest,
    /// The latest expiry in the window.
    Farthest,
}

/// Which option strike to trade, relative to the underlying price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strike {
    /// The strike nearest the underlying price.
    Atm,
    /// N strikes in the money.
    Itm(u32),
    /// N strikes out of the money.
    Otm(u32),
    /// The strike whose absolute delta is nearest this value (0 < delta < 1).
    Delta(Decimal),
}

impl Strike {
    /// The most strikes `itm:N` / `otm:N` may move from the money.
    pub const MAX_STRIKES_AWAY: u32 = 1000;
}

impl FromStr for Strike {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a strike choice: use atm, itm:N, otm:N or delta:0.30");
        let t = s.trim();
        if t == "atm" {
            return Ok(Self::Atm);
        }
        let (k, v) = t.split_once(':').ok_or_else(bad)?;
        match k {
            "itm" | "otm" => {
                let n: u32 = v.parse().map_err(|_| bad())?;
                if n > Self::MAX_STRIKES_AWAY {
                    return Err(format!("`{s}`: {n} strikes away is further than any chain lists"));
                }
                Ok(if k == "itm" { Self::Itm(n) } else { Self::Otm(n) })
            }
            "delta" => {
                let d = Decimal::from_str(v).map_err(|_| bad())?;
                if d > Decimal::ZERO && d < Decimal::ONE {
                    Ok(Self::Delta(d))
                } else {
                    Err(format!("`{s}`: delta must be between 0 and 1, e.g. delta:0.30"))
                }
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Strike {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Atm => f.write_str("atm"),
            Self::Itm(n) => write!(f, "itm:{n}"),
            Self::Otm(n) => write!(f, "otm:{n}"),
            Self::Delta(d) => write!(f, "delta:{d}"),
        }
    }
}

string_serde!(Strike, "a strike choice such as atm, itm:2, otm:1 or delta:0.30");

impl JsonSchema for Strike {
    fn schema_name() -> Cow<'static, str> {
        "Strike".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^(atm|itm:[0-9]+|otm:[0-9]+|delta:0?\\.[0-9]+)$",
            "description": "Strike selection: atm, itm:N or otm:N (N strikes in/out of the money), or delta:D (nearest absolute delta).",
            "examples": ["atm", "otm:2", "delta:0.30"]
        })
    }
}

impl ExpiryWindow {
    /// Checks `min_days <= max_days`.
    pub fn check(&self) -> Result<(), OptionsError> {
        if self.min_days > self.max_days {
            return Err(OptionsError::BadExpiryWindow(format!(
                "min_days {} is greater than max_days {}",
                self.min_days, self.max_days
            )));
        }
        Ok(())
    }

    /// The expiry to trade on `date` among `listed` (OCC dates). Days are counted to each
    /// expiry's last trading day. No listed expiry in the window is an error, never a guess.
    pub fn choose(
        &self,
        underlying: &str,
        date: NaiveDate,
        listed: &[NaiveDate],
        days: &dyn TradingDays,
    ) -> Result<NaiveDate, OptionsError> {
        self.check()?;
        let inside = listed.iter().copied().filter(|e| {
            let dte = (days.on_or_before(*e) - date).num_days();
            dte >= i64::from(self.min_days) && dte <= i64::from(self.max_days)
        });
        let pick = match self.prefer {
            ExpiryPreference::Nearest => inside.min(),
            ExpiryPreference::Farthest => inside.max(),
        };
        pick.ok_or_else(|| OptionsError::NoExpiryInWindow {
            underlying: underlying.to_owned(),
            date,
            min_days: self.min_days,
            max_days: self.max_days,
            listed: summarize(listed),
        })
    }
}

fn summarize(listed: &[NaiveDate]) -> String {
    if listed.is_empty() {
        return "none".to_owned();
    }
    let shown: Vec<String> = listed.iter().take(8).map(NaiveDate::to_string).collect();
    if listed.len() > 8 {
        format!("{}, … ({} in all)", shown.join(", "), listed.len())
    } else {
        shown.join(", ")
    }
}

/// What the signal asks for. Long buys a call; short buys a put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Bullish: buy a call.
    Long,
    /// Bearish: buy a put.
    Short,
}

impl Direction {
    /// The right bought for this direction.
    pub fn right(self) -> OptionRight {
        match self {
            Self::Long => OptionRight::Call,
            Self::Short => OptionRight::Put,
        }
    }
}

/// The recipe's option instrument: expiry window plus strike rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionSelection {
    /// Expiry window.
    pub expiry: ExpiryWindow,
    /// Strike rule.
    pub strike: Strike,
}

impl OptionSelection {
    /// Picks the contract to buy for `direction` at `at` with the underlying at `underlying_price`,
    /// and returns it with its quote. Errors (never guesses) when no expiry is in the window or
    /// the strike the rule names is not listed.
    pub fn select(
        &self,
        chain: &dyn ChainSource,
        direction: Direction,
        underlying_price: Price,
        at: Timestamp,
    ) -> Result<(OptionContract, OptionQuote), OptionsError> {
        let date = at.to_new_york().date_naive();
        let listed = chain.expiries(date);
        let expiry = self.expiry.choose(chain.underlying(), date, &listed, chain.trading_days())?;
        let right = direction.right();
        let strikes = chain.strikes(expiry, right, underlying_price);
        if strikes.is_empty() {
            return Err(OptionsError::NoQuote(format!("no {right} strikes listed for {expiry}")));
        }
        let contract_at = |k: Price| OptionContract::new(chain.underlying(), right, k, expiry);
        let atm = atm_index(&strikes, underlying_price);
        let index = match self.strike {
            Strike::Atm => Some(atm),
            Strike::Itm(n) | Strike::Otm(n) => {
                let n = n as usize;
                // Calls are in the money below the underlying, puts above.
                let toward_lower = matches!(
                    (self.strike, right),
                    (Strike::Itm(_), OptionRight::Call) | (Strike::Otm(_), OptionRight::Put)
                );
                if toward_lower { atm.checked_sub(n) } else { Some(atm + n).filter(|i| *i < strikes.len()) }
            }
            Strike::Delta(target) => {
                let target = super::pricing::to_f64(target);
                let mut best: Option<(f64, usize)> = None;
                for (i, k) in strikes.iter().enumerate() {
                    // A listed strike without a two-sided quote (or whose mid implies no
                    // volatility) has no delta to compare: it is passed over.
                    let q = match chain.quote(&contract_at(*k)?, underlying_price, at) {
                        Ok(q) => q,
                        Err(OptionsError::NoQuote(_)) => continue,
                        Err(e) => return Err(e),
                    };
                    let miss = (q.delta.abs() - target).abs();
                    if miss.is_finite() && best.is_none_or(|(m, _)| miss < m) {
                        best = Some((miss, i));
                    }
                }
                if best.is_none() {
                    return Err(OptionsError::NoQuote(format!(
                        "none of the {} {right} strikes listed for {expiry} has a quote to take a delta from",
                        strikes.len()
                    )));
                }
                best.map(|(_, i)| i)
            }
        };
        let Some(k) = index.and_then(|i| strikes.get(i)) else {
            return Err(OptionsError::NoQuote(format!(
                "strike rule {} reaches past the {} strikes listed for {expiry}",
                self.strike,
                strikes.len()
            )));
        };
        let contract = contract_at(*k)?;
        let quote = chain.quote(&contract, underlying_price, at)?;
        Ok((contract, quote))
    }
}

/// Index of the strike nearest `price` (the lower on a tie). `strikes` is ascending and non-empty.
fn atm_index(strikes: &[Price], price: Price) -> usize {
    let mut best = 0;
    for (i, k) in strikes.iter().enumerate() {
        if (*k - price).abs() < (strikes[best] - price).abs() {
            best = i;
        }
    }
    best
}

/// Whether a held contract is due to be closed ahead of expiry: `at` is within `lead` of its last
/// trading time (or past it). The engine closes such positions rather than carry them into settlement.
pub fn expiry_exit_due(
    contract: &OptionContract,
    at: Timestamp,
    days: &dyn TradingDays,
    lead: Duration,
) -> bool {
    at.to_new_york() + lead >= contract.last_trading_time(days)
}

/// A marketable-limit price: the ask plus `offset_ticks` ticks for a buy, the bid minus them for a
/// sell (never below one tick). With `max_slippage`, refuses a limit further than that from the mid.
pub fn marketable_limit(
    side: Side,
    quote: &OptionQuote,
    offset_ticks: u32,
    max_slippage: Option<Price>,
) -> Result<Price, OptionsError> {
    let tick = quote.contract.tick_size(quote.ask);
    let offset = tick * Decimal::from(offset_ticks);
    let limit = match side {
        Side::Buy => {
            if quote.ask <= Decimal::ZERO {
                return Err(OptionsError::NoQuote(format!("{} has no ask", quote.contract)));
            }
            quote.ask + offset
        }
        Side::Sell => (quote.bid - offset).max(tick),
    };
    let limit = super::pricing::round_to_tick(limit, tick, RoundingStrategy::MidpointAwayFromZero);
    if let Some(max) = max_slippage {
        let slippage = (limit - quote.mid).abs();
        if slippage > max {
            return Err(OptionsError::SlippageTooHigh {
                limit,
                reference: quote.mid,
                slippage,
                max_slippage: max,
            });
        }
    }
    Ok(limit)
}

/// How many contracts a dollar budget buys at `price` per share: floor(budget / (price ×
/// multiplier)), capped at `max_contracts`. A zero or negative budget buys none.
pub fn contracts_for_budget(
    budget: Money,
    price: Price,
    multiplier: u32,
    max_contracts: u32,
) -> Result<u32, OptionsError> {
    if price <= Decimal::ZERO || multiplier == 0 {
        return Err(OptionsError::BadPricingInput(format!(
            "cannot size at price {price} × multiplier {multiplier}"
        )));
    }
    if budget <= Decimal::ZERO {
        return Ok(0);
    }
    let n = (budget / (price * Decimal::from(multiplier))).floor();
    Ok(n.min(Decimal::from(max_contracts)).to_u32().unwrap_or(0))
}
