//! The broker's real option chain: the contracts it lists for one underlying and their latest
//! quotes, kept from the [`ChainSnapshot`]s the runtime polls ([`Listing`]), and the same
//! [`ChainSource`] the synthetic chain is, so one selection code picks contracts from either
//! ([`ListedChain`]).
//!
//! Contracts are keyed by their canonical [`OptionContract`] (parsed from either OCC spelling),
//! and remember the broker's spelling for orders. What a snapshot changes is the rule written on
//! [`ChainSnapshot`]; a contract is selectable only with a two-sided quote, and its quote is the
//! real one — never a model price.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

use super::chain::{ChainSource, OptionQuote};
use super::occ::{OptionContract, OptionRight};
use super::pricing::{self, BsInputs};
use super::{OptionsError, TradingDays};
use crate::model::chain::{ChainSnapshot, ContractQuote, ListedContract};
use crate::model::{InstrumentId, Price, Timestamp};

/// The best bid and ask of a listed contract, as the broker last quoted them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedQuote {
    /// Best bid (0: nobody bids).
    pub bid: Price,
    /// Best ask (0: nobody offers).
    pub ask: Price,
    /// When it was quoted.
    pub ts: Timestamp,
}

impl ListedQuote {
    /// Both sides quoted and not crossed (`0 < bid ≤ ask`): the only quotes a contract is
    /// chosen, priced or filled on.
    pub fn is_two_sided(&self) -> bool {
        self.bid > Decimal::ZERO && self.ask >= self.bid
    }
}

/// Entries of a snapshot that were not taken: how many, and why the first one was not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refused {
    /// How many contracts and quotes were refused.
    pub count: usize,
    /// The reason for the first one.
    pub first: Option<String>,
}

impl Refused {
    /// Whether everything was taken.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn add(&mut self, reason: impl FnOnce() -> String) {
        if self.first.is_none() {
            self.first = Some(reason());
        }
        self.count += 1;
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} option chain entries refused", self.count)?;
        match &self.first {
            Some(first) => write!(f, "; the first: {first}"),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    /// The broker's spelling of the contract.
    name: InstrumentId,
    quote: Option<ListedQuote>,
}

/// The contracts a broker lists for one underlying, and their latest quotes.
///
/// Only standard contracts (multiplier 100, root = underlying) are listed here: an adjusted
/// contract delivers something else than 100 shares and is never traded.
#[derive(Debug, Clone)]
pub struct Listing {
    underlying: String,
    entries: BTreeMap<OptionContract, Entry>,
}

impl Listing {
    /// An empty listing for `underlying` (e.g. `SPY`).
    pub fn new(underlying: &str) -> Self {
        Self { underlying: underlying.to_owned(), entries: BTreeMap::new() }
    }

    /// Take a snapshot (the rule is on [`ChainSnapshot`]). `keep` — the contract held — stays
    /// listed with its quote when a new listing leaves it out (the broker's listing may be
    /// filtered to the expiry window the held contract has left), so it can still be priced
    /// and sold. Returns what was refused: a symbol that is not OCC, a contract whose fields
    /// disagree with its symbol, of another underlying or not standard, a negative price.
    pub fn apply(&mut self, snap: &ChainSnapshot, keep: Option<&OptionContract>) -> Refused {
        let mut refused = Refused::default();
        if !snap.contracts.is_empty() {
            let mut next = BTreeMap::new();
            for listed in &snap.contracts {
                match self.check(listed) {
                    Ok(c) => {
                        let quote = self.entries.get(&c).and_then(|e| e.quote);
                        next.insert(c, Entry { name: listed.instrument.clone(), quote });
                    }
                    Err(reason) => refused.add(|| reason),
                }
            }
            if let Some(c) = keep
                && !next.contains_key(c)
                && let Some(e) = self.entries.remove(c)
            {
                next.insert(c.clone(), e);
            }
            self.entries = next;
        }
        for q in &snap.quotes {
            if let Err(reason) = self.take_quote(q) {
                refused.add(|| reason);
            }
        }
        refused
    }

    /// A listed contract as its canonical contract, or why it is refused.
    fn check(&self, listed: &ListedContract) -> Result<OptionContract, String> {
        let c: OptionContract =
            listed.instrument.as_str().parse().map_err(|e: OptionsError| e.to_string())?;
        let name = &listed.instrument;
        if c.underlying != self.underlying || listed.underlying != self.underlying {
            return Err(format!(
                "{name} (underlying {}) is not on the {} chain",
                listed.underlying, self.underlying
            ));
        }
        if (listed.expiry, listed.strike, listed.right) != (c.expiry, c.strike, c.right) {
            return Err(format!(
                "{name} is listed as the {} {} {} but its symbol says otherwise",
                listed.expiry, listed.strike, listed.right
            ));
        }
        if listed.multiplier != Decimal::from(c.multiplier) {
            return Err(format!(
                "{name} has multiplier {}: an adjusted contract, not traded",
                listed.multiplier
            ));
        }
        Ok(c)
    }

    /// Store `q` if its contract is listed and it is not older than the quote held.
    fn take_quote(&mut self, q: &ContractQuote) -> Result<(), String> {
        let c: OptionContract = q.instrument.as_str().parse().map_err(|e: OptionsError| e.to_string())?;
        if q.bid < Decimal::ZERO || q.ask < Decimal::ZERO {
            return Err(format!("{} quoted at a negative price ({} / {})", q.instrument, q.bid, q.ask));
        }
        if let Some(e) = self.entries.get_mut(&c)
            && e.quote.is_none_or(|held| held.ts <= q.ts)
        {
            e.quote = Some(ListedQuote { bid: q.bid, ask: q.ask, ts: q.ts });
        }
        Ok(())
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The latest quote of `contract`, if it is listed and was quoted (one-sided or not).
    pub fn quote(&self, contract: &OptionContract) -> Option<ListedQuote> {
        self.entries.get(contract).and_then(|e| e.quote)
    }

    /// The broker's spelling of `contract`, if it is listed.
    pub fn name(&self, contract: &OptionContract) -> Option<&InstrumentId> {
        self.entries.get(contract).map(|e| &e.name)
    }

    /// The expiry dates listed on or after `date`, ascending.
    pub fn expiries(&self, date: NaiveDate) -> Vec<NaiveDate> {
        let mut out: Vec<NaiveDate> = self.entries.keys().map(|c| c.expiry).filter(|e| *e >= date).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The strikes listed for `expiry` and `right`, ascending (quoted or not).
    pub fn strikes(&self, expiry: NaiveDate, right: OptionRight) -> Vec<Price> {
        // Keys order by underlying, right, strike, expiry: one right's strikes come ascending.
        self.entries.keys().filter(|c| c.expiry == expiry && c.right == right).map(|c| c.strike).collect()
    }
}

/// A broker's listed chain as a [`ChainSource`]: expiries and strikes as listed, quotes as
/// quoted. Implied volatility and delta (for the `delta:D` strike rule) are implied from the
/// quote's mid by Black-Scholes with `rate`; a mid no volatility reproduces has none (NaN).
#[derive(Debug, Clone)]
pub struct ListedChain<D> {
    listing: Listing,
    rate: f64,
    days: D,
}

impl<D: TradingDays> ListedChain<D> {
    /// An empty chain for `underlying` over the calendar `days`; `rate` is the risk-free rate
    /// deltas are implied with.
    pub fn new(underlying: &str, rate: f64, days: D) -> Self {
        Self { listing: Listing::new(underlying), rate, days }
    }

    /// The listing and its quotes.
    pub fn listing(&self) -> &Listing {
        &self.listing
    }

    /// Take a snapshot (see [`Listing::apply`]).
    pub fn apply(&mut self, snap: &ChainSnapshot, keep: Option<&OptionContract>) -> Refused {
        self.listing.apply(snap, keep)
    }

    /// Implied volatility and delta from a premium, NaN when no volatility reproduces it.
    fn implied(
        &self,
        contract: &OptionContract,
        premium: Price,
        underlying: Price,
        at: Timestamp,
    ) -> (f64, f64) {
        let last = Timestamp::from_datetime(&contract.last_trading_time(&self.days));
        let inputs = BsInputs {
            spot: pricing::to_f64(underlying),
            strike: pricing::to_f64(contract.strike),
            years: pricing::years_between(at, last),
            rate: self.rate,
            dividend_yield: 0.0,
            vol: 1.0,
        };
        inputs
            .implied_vol(contract.right, pricing::to_f64(premium))
            .and_then(|vol| Ok((vol, BsInputs { vol, ..inputs }.greeks(contract.right)?.delta)))
            .unwrap_or((f64::NAN, f64::NAN))
    }
}

impl<D: TradingDays> ChainSource for ListedChain<D> {
    fn underlying(&self) -> &str {
        &self.listing.underlying
    }

    fn expiries(&self, date: NaiveDate) -> Vec<NaiveDate> {
        self.listing.expiries(date)
    }

    fn strikes(&self, expiry: NaiveDate, right: OptionRight, _underlying_price: Price) -> Vec<Price> {
        self.listing.strikes(expiry, right)
    }

    /// The contract's latest real quote; refused when it is not listed or has no two-sided quote.
    fn quote(
        &self,
        contract: &OptionContract,
        underlying_price: Price,
        at: Timestamp,
    ) -> Result<OptionQuote, OptionsError> {
        let Some(name) = self.listing.name(contract) else {
            return Err(OptionsError::NoQuote(format!(
                "{} is not in the broker's {} listing",
                contract.compact_symbol(),
                self.listing.underlying
            )));
        };
        let q = match self.listing.quote(contract) {
            Some(q) if q.is_two_sided() => q,
            Some(q) => {
                return Err(OptionsError::NoQuote(format!(
                    "{name} has no two-sided quote (bid {}, ask {}); refusing to price it",
                    q.bid, q.ask
                )));
            }
            None => return Err(OptionsError::NoQuote(format!("{name} has not been quoted yet"))),
        };
        let exact = (q.bid + q.ask) / Decimal::TWO;
        let mid =
            pricing::round_to_tick(exact, contract.tick_size(exact), RoundingStrategy::MidpointNearestEven);
        let (iv, delta) = self.implied(contract, exact, underlying_price, at);
        Ok(OptionQuote {
            contract: contract.clone(),
            bid: q.bid,
            ask: q.ask,
            mid,
            iv,
            delta,
            underlying_price,
            synthetic: false,
        })
    }

    fn trading_days(&self) -> &dyn TradingDays {
        &self.days
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::options::select::{Direction, ExpiryPreference, ExpiryWindow, OptionSelection};
    use crate::options::{HolidaySet, OptionsError};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    /// Monday 2025-06-09, 10:00 New York.
    fn monday() -> Timestamp {
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339("2025-06-09T10:00:00-04:00").unwrap())
    }

    /// A listed contract as the broker writes it (`symbol` in either OCC spelling).
    fn listed(symbol: &str) -> ListedContract {
        let c: OptionContract = symbol.parse().expect("OCC symbol");
        ListedContract {
            instrument: InstrumentId::from(symbol),
            underlying: c.underlying.clone(),
            expiry: c.expiry,
            strike: c.strike,
            right: c.right,
            multiplier: dec!(100),
        }
    }

    fn quote(symbol: &str, bid: Decimal, ask: Decimal) -> ContractQuote {
        ContractQuote { instrument: InstrumentId::from(symbol), bid, ask, ts: monday() }
    }

    /// SPY at 600.30 on 2025-06-09: calls and puts 598 to 602 on four expiries, 2, 7, 11 and 18
    /// days out, all quoted two-sided (the premium grows with the strike's distance in the money).
    fn snapshot() -> ChainSnapshot {
        let (mut contracts, mut quotes) = (Vec::new(), Vec::new());
        for expiry in ["250611", "250616", "250620", "250627"] {
            for strike in 598..=602 {
                for right in ['C', 'P'] {
                    let symbol = format!("SPY{expiry}{right}{:08}", strike * 1000);
                    let inside = if right == 'C' { 600 - strike } else { strike - 600 };
                    let bid = dec!(5) + Decimal::from(inside);
                    contracts.push(listed(&symbol));
                    quotes.push(quote(&symbol, bid, bid + dec!(0.03)));
                }
            }
        }
        ChainSnapshot { ts: monday(), contracts, quotes }
    }

    fn chain() -> ListedChain<HolidaySet> {
        // 2025-06-19 (Juneteenth) is an NYSE holiday.
        let mut chain = ListedChain::new("SPY", 0.04, HolidaySet::new([date(2025, 6, 19)]));
        assert!(chain.apply(&snapshot(), None).is_empty());
        chain
    }

    fn pick(
        chain: &ListedChain<HolidaySet>,
        window: (u32, u32, ExpiryPreference),
        strike: &str,
        dir: Direction,
    ) -> Result<(OptionContract, OptionQuote), OptionsError> {
        let expiry = ExpiryWindow { min_days: window.0, max_days: window.1, prefer: window.2 };
        let selection = OptionSelection { expiry, strike: strike.parse().expect("strike rule") };
        selection.select(chain, dir, dec!(600.30), monday())
    }

    #[test]
    fn expiries_come_from_the_listing_inside_the_window() {
        let chain = chain();
        let nearest = pick(&chain, (7, 14, ExpiryPreference::Nearest), "atm", Direction::Long).unwrap();
        assert_eq!(nearest.0.compact_symbol(), "SPY250616C00600000");
        let farthest = pick(&chain, (7, 14, ExpiryPreference::Farthest), "atm", Direction::Long).unwrap();
        assert_eq!(farthest.0.expiry, date(2025, 6, 20));
        let err = pick(&chain, (20, 30, ExpiryPreference::Nearest), "atm", Direction::Long).unwrap_err();
        assert!(matches!(err, OptionsError::NoExpiryInWindow { .. }), "{err}");
        assert!(err.to_string().contains("2025-06-11, 2025-06-16, 2025-06-20, 2025-06-27"), "{err}");
    }

    #[test]
    fn strike_rules_pick_among_the_listed_strikes_and_quote_the_real_prices() {
        let chain = chain();
        let window = (7, 14, ExpiryPreference::Nearest);
        for (rule, dir, strike) in [
            ("atm", Direction::Long, dec!(600)),
            ("otm:1", Direction::Long, dec!(601)),
            ("itm:2", Direction::Long, dec!(598)),
            ("atm", Direction::Short, dec!(600)),
            ("otm:1", Direction::Short, dec!(599)),
            ("itm:1", Direction::Short, dec!(601)),
        ] {
            let (c, q) = pick(&chain, window, rule, dir).unwrap();
            assert_eq!((c.strike, c.right), (strike, dir.right()), "{rule} {dir:?}");
            let inside = if c.right == OptionRight::Call { dec!(600) - strike } else { strike - dec!(600) };
            assert_eq!((q.bid, q.ask), (dec!(5) + inside, dec!(5.03) + inside), "{rule} {dir:?}");
            assert!(!q.synthetic);
        }
        // Past the listed strikes: refused, not moved to the last one.
        let err = pick(&chain, window, "otm:3", Direction::Long).unwrap_err().to_string();
        assert!(err.contains("reaches past the 5 strikes"), "{err}");
        // delta: the delta implied from each quote's mid; the deepest call has the largest.
        let (c, q) = pick(&chain, window, "delta:0.9", Direction::Long).unwrap();
        assert_eq!(c.strike, dec!(598));
        assert!(q.delta > 0.5 && q.iv.is_finite(), "{q:?}");
    }

    #[test]
    fn a_contract_without_a_two_sided_quote_is_refused() {
        let window = (7, 14, ExpiryPreference::Nearest);
        for (bid, ask, why) in [
            (dec!(0), dec!(5.03), "no two-sided quote (bid 0, ask 5.03)"),
            (dec!(5.10), dec!(5.00), "no two-sided quote (bid 5.10, ask 5.00)"),
        ] {
            let mut chain = chain();
            let later = ContractQuote { ts: monday().add_nanos(1), ..quote("SPY250616C00600000", bid, ask) };
            let snap = ChainSnapshot { ts: later.ts, contracts: Vec::new(), quotes: vec![later] };
            assert!(chain.apply(&snap, None).is_empty());
            let err = pick(&chain, window, "atm", Direction::Long).unwrap_err().to_string();
            assert!(err.contains(&format!("SPY250616C00600000 has {why}")), "{err}");
        }
        // Listed but never quoted.
        let mut chain = ListedChain::new("SPY", 0.04, HolidaySet::default());
        let snap = ChainSnapshot { ts: monday(), contracts: snapshot().contracts, quotes: Vec::new() };
        assert!(chain.apply(&snap, None).is_empty());
        let err = pick(&chain, window, "atm", Direction::Long).unwrap_err().to_string();
        assert!(err.contains("SPY250616C00600000 has not been quoted yet"), "{err}");
        // Nothing listed at all.
        let empty = ListedChain::new("SPY", 0.04, HolidaySet::default());
        let err = pick(&empty, window, "atm", Direction::Long).unwrap_err();
        assert!(err.to_string().contains("listed: none"), "{err}");
    }

    #[test]
    fn both_occ_spellings_name_the_same_contract() {
        // Listed padded, quoted compact (and the other way round): one contract, the broker's
        // spelling kept for orders.
        let mut chain = ListedChain::new("SPY", 0.04, HolidaySet::default());
        let snap = ChainSnapshot {
            ts: monday(),
            contracts: vec![listed("SPY   250616C00600000"), listed("SPY250616P00600000")],
            quotes: vec![
                quote("SPY250616C00600000", dec!(7.10), dec!(7.14)),
                quote("SPY   250616P00600000", dec!(6.50), dec!(6.55)),
            ],
        };
        assert!(chain.apply(&snap, None).is_empty());
        let window = (7, 14, ExpiryPreference::Nearest);
        let (c, q) = pick(&chain, window, "atm", Direction::Long).unwrap();
        assert_eq!((q.bid, q.ask), (dec!(7.10), dec!(7.14)));
        assert_eq!(chain.listing().name(&c).map(InstrumentId::as_str), Some("SPY   250616C00600000"));
        let (p, q) = pick(&chain, window, "atm", Direction::Short).unwrap();
        assert_eq!((q.bid, q.ask), (dec!(6.50), dec!(6.55)));
        assert_eq!(chain.listing().name(&p).map(InstrumentId::as_str), Some("SPY250616P00600000"));
    }

    #[test]
    fn snapshots_follow_the_rule_and_refuse_bad_entries() {
        let mut chain = chain();
        let call: OptionContract = "SPY250616C00600000".parse().unwrap();
        let gone: OptionContract = "SPY250611C00600000".parse().unwrap();
        // An older quote never replaces a newer one; a quote-only snapshot keeps the listing.
        let older =
            ContractQuote { ts: monday().add_nanos(-1), ..quote("SPY250616C00600000", dec!(1), dec!(2)) };
        let newer = ContractQuote {
            ts: monday().add_nanos(1),
            ..quote("SPY250616C00600000", dec!(5.01), dec!(5.04))
        };
        let unlisted = quote("SPY250616C00700000", dec!(1), dec!(2));
        let snap =
            ChainSnapshot { ts: monday(), contracts: Vec::new(), quotes: vec![newer, older, unlisted] };
        assert!(
            chain.apply(&snap, None).is_empty(),
            "a quote of an unlisted contract is ignored, not refused"
        );
        assert_eq!(chain.listing().quote(&call).map(|q| (q.bid, q.ask)), Some((dec!(5.01), dec!(5.04))));
        assert!(chain.listing().quote(&"SPY250616C00700000".parse().unwrap()).is_none());
        // A new listing replaces the old one, keeps the quotes of contracts still listed and
        // the held contract, and refuses what it cannot trust.
        let mut wrong_strike = listed("SPY250620C00600000");
        wrong_strike.strike = dec!(601);
        let adjusted = ListedContract { multiplier: dec!(10), ..listed("SPY250620C00601000") };
        let other = listed("QQQ250620C00500000");
        let bad =
            ListedContract { instrument: InstrumentId::from("SPY2506"), ..listed("SPY250620C00602000") };
        let snap = ChainSnapshot {
            ts: monday(),
            contracts: vec![listed("SPY250616C00600000"), wrong_strike, adjusted, other, bad],
            quotes: vec![quote("SPY250616C00600000", dec!(-1), dec!(2))],
        };
        let refused = chain.apply(&snap, Some(&gone));
        assert_eq!(refused.count, 5, "{refused}");
        let first = refused.first.clone().unwrap_or_default();
        assert!(first.contains("SPY250620C00600000 is listed as the 2025-06-20 601 call"), "{first}");
        assert_eq!(chain.listing().quote(&call).map(|q| q.bid), Some(dec!(5.01)));
        assert_eq!(chain.listing().quote(&gone).map(|q| q.bid), Some(dec!(5)), "the held contract stays");
        assert_eq!(chain.listing().expiries(date(2025, 6, 9)), [date(2025, 6, 11), date(2025, 6, 16)]);
        assert!(chain.listing().quote(&"SPY250620C00600000".parse().unwrap()).is_none());
    }
}
