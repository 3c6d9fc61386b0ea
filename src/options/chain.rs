//! Option chains: the [`ChainSource`] trait, SPY's expiry listing schedule, and the synthetic,
//! Black-Scholes-priced chain used by paper and backtest runs when no real chain is available.
//!
//! Every quote a synthetic chain produces has `synthetic: true`; reports must carry that flag
//! through so a synthetic price is never shown as a market price.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;

use super::occ::{OptionContract, OptionRight};
use super::pricing::{self, BsInputs};
use super::{OptionsError, TradingDays};
use crate::model::{Price, Timestamp};

/// A quote for one contract at one moment.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OptionQuote {
    /// The contract quoted.
    pub contract: OptionContract,
    /// Best bid, on the contract's tick (0 when nobody bids).
    pub bid: Price,
    /// Best ask, on the contract's tick.
    pub ask: Price,
    /// Mid or model value, on the contract's tick.
    pub mid: Price,
    /// Implied volatility the quote was priced with (or implied from it).
    pub iv: f64,
    /// Delta per share (calls 0..1, puts −1..0).
    pub delta: f64,
    /// The underlying price used.
    pub underlying_price: Price,
    /// True when the quote comes from a model, not a market. Reports must show it.
    pub synthetic: bool,
}

/// Where option expiries, strikes and quotes come from: the synthetic chain (backtests), or a
/// broker's real chain ([`ListedChain`](crate::options::listed::ListedChain)).
pub trait ChainSource {
    /// The underlying root, e.g. `SPY`.
    fn underlying(&self) -> &str;

    /// OCC expiry dates listed on `date`, ascending, none before `date`.
    fn expiries(&self, date: NaiveDate) -> Vec<NaiveDate>;

    /// Strikes listed for `expiry` and `right` around `underlying_price`, ascending.
    fn strikes(&self, expiry: NaiveDate, right: OptionRight, underlying_price: Price) -> Vec<Price>;

    /// A quote for `contract` with the underlying at `underlying_price` at time `at`.
    fn quote(
        &self,
        contract: &OptionContract,
        underlying_price: Price,
        at: Timestamp,
    ) -> Result<OptionQuote, OptionsError>;

    /// The trading-day calendar the chain uses (for last trading days and windows).
    fn trading_days(&self) -> &dyn TradingDays;
}

/// Dates on which SPY expiry series started (sources in `docs/options.md`).
pub mod listing_dates {
    use chrono::NaiveDate;

    const fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        match NaiveDate::from_ymd_opt(y, m, d) {
            Some(d) => d,
            None => NaiveDate::MIN,
        }
    }

    /// SPY options first traded (standard third-Friday monthlies): 2005-01-10.
    pub const SPY_OPTIONS: NaiveDate = date(2005, 1, 10);
    /// End-of-quarter series (last trading day of Mar/Jun/Sep/Dec). CBOE launched Quarterlys in
    /// July 2006 and reported SPY Quarterly volume for December 2006; we list them from then.
    pub const QUARTERLY: NaiveDate = date(2006, 12, 1);
    /// Friday Weeklys on SPY (CBOE ETF Weeklys): 2010-06-04.
    pub const FRIDAY_WEEKLY: NaiveDate = date(2010, 6, 4);
    /// From November 2012 (CBOE IC12-093) up to five consecutive weeklies; before, one week ahead.
    pub const FIVE_WEEKLIES: NaiveDate = date(2012, 11, 1);
    /// Monthly OCC expiration dates moved from the Saturday after the third Friday to the Friday
    /// itself for expirations from February 2015.
    pub const FRIDAY_MONTHLY_EXPIRY: NaiveDate = date(2015, 2, 1);
    /// Wednesday-expiring SPY Weeklys: 2016-09-07 (MIAX listing alert; other venues the same season).
    pub const WEDNESDAY_WEEKLY: NaiveDate = date(2016, 9, 7);
    /// Monday-expiring SPY Weeklys: 2018-02-16 (Cboe announcement).
    pub const MONDAY_WEEKLY: NaiveDate = date(2018, 2, 16);
    /// Tuesday- and Thursday-expiring SPY series (every trading day expires): 2022-11-14
    /// (Cboe SR-CBOE-2022-059, filed and effective that day; Nasdaq ISE approval the same week).
    pub const TUESDAY_THURSDAY: NaiveDate = date(2022, 11, 14);
}

/// How far ahead SPY series are listed on a given day, and the real introduction dates of each
/// expiry kind ([`listing_dates`]).
///
/// The output is the set of OCC expiry dates a trader would have seen on `date`:
/// - standard monthlies: the third Friday of each of the next `monthly_months` months (the
///   Saturday after it in the OCC symbol for expirations before February 2015; Thursday when the
///   Friday is a holiday);
/// - quarterlies: the last trading day of each of the next `quarterly_count` calendar quarters;
/// - weeklies on each weekday that had them on `date`, expiring within the next `weekly_weeks`
///   weeks (one week before November 2012). A weekly on a holiday moves to the previous trading
///   day, except Monday weeklies, which move to the next (Tuesday), as the exchanges' rules say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpyListingSchedule {
    /// Weeks of weeklies listed ahead (5 consecutive plus the current week ≈ 6).
    pub weekly_weeks: u32,
    /// Months of standard monthlies listed ahead.
    pub monthly_months: u32,
    /// Quarter-end expiries listed ahead.
    pub quarterly_count: u32,
}

impl Default for SpyListingSchedule {
    fn default() -> Self {
        Self { weekly_weeks: 6, monthly_months: 12, quarterly_count: 4 }
    }
}

/// The third Friday of a month.
pub fn third_friday(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Fri, 3)
}

fn add_months(year: i32, month: u32, n: u32) -> (i32, u32) {
    let idx = i64::from(year) * 12 + i64::from(month - 1) + i64::from(n);
    // idx / 12 stays within i32 for any NaiveDate year.
    (i32::try_from(idx.div_euclid(12)).unwrap_or(year), u32::try_from(idx.rem_euclid(12)).unwrap_or(0) + 1)
}

fn last_day_of_month(year: i32, month: u32) -> Option<NaiveDate> {
    let (y, m) = add_months(year, month, 1);
    NaiveDate::from_ymd_opt(y, m, 1)?.pred_opt()
}

impl SpyListingSchedule {
    /// The OCC expiry dates listed on `date`, ascending and unique. Empty before SPY options existed.
    pub fn expiries(&self, date: NaiveDate, days: &dyn TradingDays) -> Vec<NaiveDate> {
        use listing_dates as L;
        let mut out = Vec::new();
        if date < L::SPY_OPTIONS {
            return out;
        }
        // Standard monthlies.
        for i in 0..=self.monthly_months {
            let (y, m) = add_months(date.year(), date.month(), i);
            let Some(friday) = third_friday(y, m) else { continue };
            let expiry = if friday < L::FRIDAY_MONTHLY_EXPIRY {
                friday + Duration::days(1)
            } else {
                days.on_or_before(friday)
            };
            if days.on_or_before(expiry) >= date {
                out.push(expiry);
            }
        }
        // Quarterlies.
        if date >= L::QUARTERLY {
            let mut listed = 0;
            let mut i = 0;
            while listed < self.quarterly_count && i < 24 {
                let (y, m) = add_months(date.year(), date.month(), i);
                i += 1;
                if m % 3 != 0 {
                    continue;
                }
                let Some(last) = last_day_of_month(y, m) else { continue };
                let expiry = days.on_or_before(last);
                if expiry >= date {
                    out.push(expiry);
                    listed += 1;
                }
            }
        }
        // Weeklies.
        let weeks = if date >= L::FIVE_WEEKLIES { self.weekly_weeks } else { 1 };
        let horizon = date + Duration::days(7 * i64::from(weeks));
        let kinds = [
            (Weekday::Mon, L::MONDAY_WEEKLY),
            (Weekday::Tue, L::TUESDAY_THURSDAY),
            (Weekday::Wed, L::WEDNESDAY_WEEKLY),
            (Weekday::Thu, L::TUESDAY_THURSDAY),
            (Weekday::Fri, L::FRIDAY_WEEKLY),
        ];
        for (weekday, since) in kinds {
            if date < since {
                continue;
            }
            // Start a few days back so a holiday-shifted expiry (Monday → Tuesday) is not missed.
            let mut d = date - Duration::days(3);
            while d <= horizon {
                if d.weekday() == weekday
                    && !(weekday == Weekday::Fri && third_friday(d.year(), d.month()) == Some(d))
                {
                    let expiry =
                        if weekday == Weekday::Mon { days.on_or_after(d) } else { days.on_or_before(d) };
                    if expiry >= date && expiry <= horizon {
                        out.push(expiry);
                    }
                }
                d += Duration::days(1);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The synthetic chain's implied volatility when none is set: 16 %, as a fraction.
pub const DEFAULT_IMPLIED_VOL: Decimal = dec!(0.16);

/// The synthetic chain's continuously compounded risk-free rate when none is set: 4 % a year.
pub const DEFAULT_RATE: f64 = 0.04;

/// The knobs of the synthetic chain; a recipe can set each of them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ChainSettings {
    /// Implied volatility for every strike and expiry (flat surface), annualised, e.g. 0.16.
    pub implied_vol: f64,
    /// Continuously compounded risk-free rate, e.g. 0.04.
    pub rate: f64,
    /// Continuous dividend yield of the underlying (0 ignores dividends).
    pub dividend_yield: f64,
    /// Bid/ask spread as a fraction of the model mid, e.g. 0.01 = 1 %.
    pub spread_pct: Decimal,
    /// The narrowest spread, in dollars (one tick for SPY).
    pub min_spread: Decimal,
    /// Distance between listed strikes, in dollars.
    pub strike_step: Decimal,
    /// Strikes listed on each side of the underlying price.
    pub strikes_each_side: u32,
}

impl Default for ChainSettings {
    /// [`DEFAULT_IMPLIED_VOL`] and [`DEFAULT_RATE`] (a recipe's defaults too), $1 strikes, a 1 % spread.
    fn default() -> Self {
        use rust_decimal::prelude::ToPrimitive;
        Self {
            // 16 %: a two-digit Decimal fraction always converts.
            implied_vol: DEFAULT_IMPLIED_VOL.to_f64().unwrap_or(0.16),
            rate: DEFAULT_RATE,
            dividend_yield: 0.0,
            spread_pct: dec!(0.01),
            min_spread: dec!(0.01),
            strike_step: dec!(1),
            strikes_each_side: 30,
        }
    }
}

/// The implied volatility (a fraction: 5 is 500 %) a chain must stay below; recipes are
/// checked against it too.
pub const MAX_IMPLIED_VOL: f64 = 5.0;

impl ChainSettings {
    /// Checks the settings are usable (positive vol, finite rate, non-negative spread, positive step).
    pub fn check(&self) -> Result<(), OptionsError> {
        let bad = |m: String| Err(OptionsError::BadPricingInput(m));
        if !(self.implied_vol.is_finite() && self.implied_vol > 0.0 && self.implied_vol < MAX_IMPLIED_VOL) {
            return bad(format!("implied_vol {} must be in (0, {MAX_IMPLIED_VOL})", self.implied_vol));
        }
        if !self.rate.is_finite() || !self.dividend_yield.is_finite() {
            return bad("rate and dividend_yield must be finite".to_owned());
        }
        if self.spread_pct < Decimal::ZERO || self.min_spread < Decimal::ZERO {
            return bad("spread_pct and min_spread must not be negative".to_owned());
        }
        if self.strike_step <= Decimal::ZERO {
            return bad(format!("strike_step {} must be positive", self.strike_step));
        }
        Ok(())
    }
}

/// A chain made up from SPY's listing schedule and Black-Scholes with a flat implied volatility.
#[derive(Debug, Clone)]
pub struct SyntheticChain<D> {
    underlying: String,
    settings: ChainSettings,
    schedule: SpyListingSchedule,
    days: D,
}

impl<D: TradingDays> SyntheticChain<D> {
    /// A synthetic chain for `underlying` (its listing follows SPY's schedule) over the calendar `days`.
    pub fn new(underlying: &str, settings: ChainSettings, days: D) -> Result<Self, OptionsError> {
        settings.check()?;
        Ok(Self {
            underlying: underlying.to_owned(),
            settings,
            schedule: SpyListingSchedule::default(),
            days,
        })
    }

    /// Replaces the listing horizons.
    #[must_use]
    pub fn with_schedule(mut self, schedule: SpyListingSchedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// The settings in force.
    pub fn settings(&self) -> &ChainSettings {
        &self.settings
    }
}

impl<D: TradingDays> ChainSource for SyntheticChain<D> {
    fn underlying(&self) -> &str {
        &self.underlying
    }

    fn expiries(&self, date: NaiveDate) -> Vec<NaiveDate> {
        self.schedule.expiries(date, &self.days)
    }

    fn strikes(&self, _expiry: NaiveDate, _right: OptionRight, underlying_price: Price) -> Vec<Price> {
        let step = self.settings.strike_step;
        if underlying_price <= Decimal::ZERO {
            return Vec::new();
        }
        let centre = pricing::round_to_tick(underlying_price, step, RoundingStrategy::MidpointAwayFromZero);
        let n = i64::from(self.settings.strikes_each_side);
        (-n..=n).map(|i| centre + Decimal::from(i) * step).filter(|k| *k > Decimal::ZERO).collect()
    }

    fn quote(
        &self,
        contract: &OptionContract,
        underlying_price: Price,
        at: Timestamp,
    ) -> Result<OptionQuote, OptionsError> {
        if contract.underlying != self.underlying {
            return Err(OptionsError::NoQuote(format!(
                "{} is not on this {} chain",
                contract.occ_symbol(),
                self.underlying
            )));
        }
        let last = Timestamp::from_datetime(&contract.last_trading_time(&self.days));
        let s = &self.settings;
        let inputs = BsInputs {
            spot: pricing::to_f64(underlying_price),
            strike: pricing::to_f64(contract.strike),
            years: pricing::years_between(at, last),
            rate: s.rate,
            dividend_yield: s.dividend_yield,
            vol: s.implied_vol,
        };
        let g = inputs.greeks(contract.right)?;
        let tick = contract.tick_size(Decimal::ONE);
        let mid = pricing::to_tick(g.price, tick, RoundingStrategy::MidpointNearestEven)?;
        let (bid, ask) = if inputs.years <= 0.0 {
            (mid, mid)
        } else {
            let exact = Decimal::try_from(g.price).map_err(|_| {
                OptionsError::BadPricingInput(format!("model price {} is not representable", g.price))
            })?;
            let half = (exact * s.spread_pct).max(s.min_spread) / dec!(2);
            let bid = pricing::round_to_tick(exact - half, tick, RoundingStrategy::ToNegativeInfinity)
                .max(Decimal::ZERO);
            let ask_tick = contract.tick_size(exact + half);
            let ask = pricing::round_to_tick(exact + half, ask_tick, RoundingStrategy::ToPositiveInfinity)
                .max(bid + ask_tick);
            (bid, ask)
        };
        Ok(OptionQuote {
            contract: contract.clone(),
            bid,
            ask,
            mid,
            iv: s.implied_vol,
            delta: g.delta,
            underlying_price,
            synthetic: true,
        })
    }

    fn trading_days(&self) -> &dyn TradingDays {
        &self.days
    }
}
