//! Trading options on the underlying's signals: the recipe's `instrument.kind: option`
//! (built from it by `runtime::build::option_leg`).
//!
//! The strategy still watches the underlying (candles, breakouts); a long signal buys a call,
//! a short signal buys a put (no writing), chosen by the options module from the recipe's
//! expiry window and strike rule, on one of two chains:
//! - backtests (and paper runs on recorded data) price contracts on the options module's
//!   synthetic chain (Black-Scholes from the underlying, the recipe's `implied_vol`), requoted
//!   whenever the underlying prints a new price while a contract is held; every report says the
//!   prices are synthetic;
//! - live, the chain is the broker's listing ([`OptionLeg::listed`]): contracts and quotes come
//!   in as [`ChainSnapshot`]s (`Event::Chain`), a contract is chosen only with a two-sided real
//!   quote, and the held contract is marked at each newer quote a snapshot brings.
//!
//! Trading days for the listing schedule and last trading days come from the NYSE calendar
//! (closed outside its 2000–2030 range).

use chrono::NaiveDate;

use crate::market::event::Quote;
use crate::model::chain::ChainSnapshot;
use crate::model::{Price, Qty, SymbolId, Timestamp};
use crate::options::listed::Refused;
use crate::options::{
    ChainSource, Direction as OptDirection, ListedChain, OptionContract, OptionRight, OptionSelection,
    OptionsError, SyntheticChain,
};

/// NYSE trading days (holidays and special closures excluded): the synthetic chain's calendar.
pub fn nyse_trading_day(d: NaiveDate) -> bool {
    crate::calendar::Calendar::nyse().is_trading_day(d).unwrap_or(false)
}

/// A trading-day predicate.
pub type TradingDayFn = fn(NaiveDate) -> bool;

/// Where an option leg's contracts and prices come from.
#[derive(Debug)]
enum LegChain {
    /// A model: Black-Scholes from the underlying's price.
    Synthetic(SyntheticChain<TradingDayFn>),
    /// The broker's listing and quotes.
    Listed(ListedChain<TradingDayFn>),
}

impl LegChain {
    fn source(&self) -> &dyn ChainSource {
        match self {
            Self::Synthetic(c) => c,
            Self::Listed(c) => c,
        }
    }
}

/// The option side of an agent: chain, selection rule, the contract currently held.
#[derive(Debug)]
pub struct OptionLeg {
    chain: LegChain,
    selection: OptionSelection,
    /// The broker symbol option positions are booked under.
    pub symbol: SymbolId,
    contract: Option<OptionContract>,
    /// The right the latest selection asked for (names an order before a contract is chosen).
    wanted: Option<OptionRight>,
    /// The held contract's last trading time (cached: checked on every print).
    expires_at: Option<Timestamp>,
    last_underlying: Option<Price>,
    /// Listed chain: the time of the held contract's quote last handed out.
    quoted_at: Option<Timestamp>,
}

impl OptionLeg {
    /// Trading contracts of the synthetic `chain` chosen by `selection`, booked under `symbol`.
    ///
    /// # Errors
    /// The selection's expiry window is empty (`min_days` after `max_days`).
    pub fn new(
        chain: SyntheticChain<TradingDayFn>,
        selection: OptionSelection,
        symbol: SymbolId,
    ) -> Result<Self, OptionsError> {
        Self::on(LegChain::Synthetic(chain), selection, symbol)
    }

    /// Trading contracts of the broker's listed `chain` chosen by `selection`, booked under
    /// `symbol`. The chain starts empty: until a [`ChainSnapshot`] lists contracts
    /// ([`Self::on_chain`]), every entry is refused.
    ///
    /// # Errors
    /// The selection's expiry window is empty (`min_days` after `max_days`).
    pub fn listed(
        chain: ListedChain<TradingDayFn>,
        selection: OptionSelection,
        symbol: SymbolId,
    ) -> Result<Self, OptionsError> {
        Self::on(LegChain::Listed(chain), selection, symbol)
    }

    fn on(chain: LegChain, selection: OptionSelection, symbol: SymbolId) -> Result<Self, OptionsError> {
        selection.expiry.check()?;
        Ok(Self {
            chain,
            selection,
            symbol,
            contract: None,
            wanted: None,
            expires_at: None,
            last_underlying: None,
            quoted_at: None,
        })
    }

    /// Whether prices come from a model (the synthetic chain) rather than the market.
    pub fn synthetic(&self) -> bool {
        matches!(self.chain, LegChain::Synthetic(_))
    }

    /// The contract held (or being traded), if any.
    pub fn contract(&self) -> Option<&OptionContract> {
        self.contract.as_ref()
    }

    /// The name orders on [`Self::symbol`] are sent, journaled and reported under: the
    /// contract's OCC symbol — padded on the synthetic chain (`SPY   131019C00168000`), the
    /// broker's spelling on a listed one (`SPY131019C00168000`, unpadded when not listed);
    /// before a contract is chosen, the underlying and the right asked for (`SPY call`), or
    /// `SPY option` when nothing was asked yet.
    pub fn label(&self) -> String {
        let underlying = self.chain.source().underlying();
        match (&self.contract, self.wanted, &self.chain) {
            (Some(c), _, LegChain::Synthetic(_)) => c.occ_symbol(),
            (Some(c), _, LegChain::Listed(chain)) => {
                chain.listing().name(c).map_or_else(|| c.compact_symbol(), |n| n.as_str().to_owned())
            }
            (None, Some(right), _) => format!("{underlying} {right}"),
            (None, None, _) => format!("{underlying} option"),
        }
    }

    /// Whether the held contract is a call (long view) or a put (short view).
    pub fn is_call(&self) -> Option<bool> {
        self.contract.as_ref().map(|c| c.right == OptionRight::Call)
    }

    fn to_quote(&self, bid: Price, ask: Price, ts: Timestamp) -> Quote {
        let size = Qty::from(10_000);
        Quote { symbol: self.symbol, ts, bid, bid_size: size, ask, ask_size: size }
    }

    /// Choose the contract for a long (call) or short (put) view and quote it. Refused (never
    /// guessed) when no expiry is in the window, or when the chosen contract may not be opened
    /// at `ts`: outside the regular session or at/after its last trading time.
    pub fn select(&mut self, long: bool, underlying: Price, ts: Timestamp) -> Result<Quote, OptionsError> {
        let dir = if long { OptDirection::Long } else { OptDirection::Short };
        self.wanted = Some(dir.right());
        let source = self.chain.source();
        let (contract, q) = self.selection.select(source, dir, underlying, ts)?;
        let days = source.trading_days();
        contract.can_open(ts, days)?;
        self.expires_at = Some(Timestamp::from_datetime(&contract.last_trading_time(days)));
        if let LegChain::Listed(chain) = &self.chain {
            self.quoted_at = chain.listing().quote(&contract).map(|l| l.ts);
        }
        self.contract = Some(contract);
        self.last_underlying = Some(underlying);
        Ok(self.to_quote(q.bid, q.ask, ts))
    }

    /// One line for the terminal: the contract just chosen and its quote (synthetic or listed).
    pub fn describe_choice(&self, q: &Quote, underlying: Price) -> String {
        let Some(c) = &self.contract else { return "no contract chosen".to_owned() };
        let last = self.expires_at.map_or_else(String::new, |t| {
            format!(", last trade {}", t.to_new_york().format("%Y-%m-%d %H:%M"))
        });
        use crate::report::price;
        let source = match &self.chain {
            LegChain::Synthetic(chain) => format!(
                "synthetic quote {} / {} (underlying {}, IV {:.0}%)",
                price(q.bid),
                price(q.ask),
                price(underlying),
                chain.settings().implied_vol * 100.0
            ),
            LegChain::Listed(_) => {
                format!("listed quote {} / {} (underlying {})", price(q.bid), price(q.ask), price(underlying))
            }
        };
        format!(
            "contract {} ({}, strike {}, expiry {}{last}) {source}",
            crate::report::instrument_text(&self.label()),
            c.right,
            c.strike,
            c.expiry
        )
    }

    /// Whether the held contract has stopped trading at `ts` (at or past its last trading time).
    #[inline]
    pub fn expired(&self, ts: Timestamp) -> bool {
        self.expires_at.is_some_and(|e| ts >= e)
    }

    /// The settlement of the held contract: intrinsic value per share at the underlying's last
    /// price before expiry, stamped at the contract's last trading time, and a line saying so.
    pub fn settlement(&self) -> Option<(Price, Timestamp, String)> {
        let c = self.contract.as_ref()?;
        let at = self.expires_at?;
        let underlying = self.last_underlying?;
        let value = c.intrinsic(underlying);
        let line = format!(
            "{} expired: settled at intrinsic value {value} (underlying {underlying}, strike {})",
            c.occ_symbol(),
            c.strike
        );
        Some((value, at, line))
    }

    /// Requote the held contract when the underlying price changed. On a listed chain a print
    /// only records the underlying (for the settlement at expiry): real quotes come with the
    /// chain snapshots, and [`Self::on_chain`] hands out each newer one.
    #[inline]
    pub fn requote(&mut self, underlying: Price, ts: Timestamp) -> Option<Quote> {
        let c = self.contract.as_ref()?;
        if self.last_underlying == Some(underlying) {
            return None;
        }
        self.last_underlying = Some(underlying);
        let LegChain::Synthetic(chain) = &self.chain else { return None };
        let q = chain.quote(c, underlying, ts).ok()?;
        Some(self.to_quote(q.bid, q.ask, ts))
    }

    /// A snapshot of the broker's chain (a synthetic leg ignores it: nothing refused, no quote).
    /// Returns what it refused, and the held contract's quote when the snapshot brought a newer
    /// two-sided one (a one-sided quote leaves the mark where it was).
    pub fn on_chain(&mut self, snap: &ChainSnapshot) -> (Refused, Option<Quote>) {
        let LegChain::Listed(chain) = &mut self.chain else { return (Refused::default(), None) };
        let refused = chain.apply(snap, self.contract.as_ref());
        let fresh = self
            .contract
            .as_ref()
            .and_then(|c| chain.listing().quote(c))
            .filter(|l| l.is_two_sided() && self.quoted_at.is_none_or(|t| l.ts > t));
        let quote = fresh.map(|l| {
            self.quoted_at = Some(l.ts);
            self.to_quote(l.bid, l.ask, l.ts)
        });
        (refused, quote)
    }

    /// Hold `contract` again (a restart found a position in it): it is requoted from the next
    /// underlying print (synthetic) or chain snapshot (listed) on, and settles at its last
    /// trading time.
    pub fn restore(&mut self, contract: OptionContract) {
        let days = self.chain.source().trading_days();
        self.expires_at = Some(Timestamp::from_datetime(&contract.last_trading_time(days)));
        self.wanted = Some(contract.right);
        self.contract = Some(contract);
        self.last_underlying = None;
        self.quoted_at = None;
    }

    /// Forget the contract (after it was closed).
    pub fn release(&mut self) {
        self.contract = None;
        self.expires_at = None;
        self.last_underlying = None;
        self.quoted_at = None;
    }

    /// The note every report of an options run carries: where the option prices came from.
    pub fn note(&self) -> String {
        match &self.chain {
            LegChain::Synthetic(chain) => format!(
                "option prices are synthetic: Black-Scholes on the underlying, implied volatility {}%, rate {}%, {}",
                percent(chain.settings().implied_vol),
                percent(chain.settings().rate),
                "not market quotes"
            ),
            LegChain::Listed(_) => {
                "option contracts and prices are the broker's: its listed chain and bid/ask quotes".to_owned()
            }
        }
    }

    /// The chain (for tests).
    pub fn chain(&self) -> &dyn ChainSource {
        self.chain.source()
    }
}

/// A fraction as a percentage number for text: 0.16 → `16`, 0.001 → `0.1`, 0.0125 → `1.25`.
fn percent(fraction: f64) -> String {
    let s = format!("{:.4}", fraction * 100.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_owned() } else { s.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::OptionRight;
    use rust_decimal_macros::dec;

    use crate::options::{ChainSettings, ExpiryPreference, ExpiryWindow, OptionSelection, Strike};

    /// `recipes/spy-9ma.yaml`'s chain: implied volatility 16 %, rate 0.1 %, NYSE trading days.
    fn chain() -> SyntheticChain<TradingDayFn> {
        let settings = ChainSettings { implied_vol: 0.16, rate: 0.001, ..ChainSettings::default() };
        SyntheticChain::new("SPY", settings, nyse_trading_day as TradingDayFn).expect("chain")
    }

    /// spy-9ma's leg: at the money, 7 to 14 days out (`min_days` to 14), nearest first.
    fn leg_from(min_days: u32) -> OptionLeg {
        let expiry = ExpiryWindow { min_days, max_days: 14, prefer: ExpiryPreference::Nearest };
        OptionLeg::new(chain(), OptionSelection { expiry, strike: Strike::Atm }, SymbolId(1))
            .expect("option leg")
    }

    fn leg() -> OptionLeg {
        leg_from(7)
    }

    fn at(s: &str) -> Timestamp {
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(s).unwrap())
    }

    #[test]
    fn long_buys_an_atm_call_short_an_atm_put_in_the_window() {
        let mut l = leg();
        let ts = at("2013-10-07T11:00:00-04:00");
        let q = l.select(true, dec!(168.09), ts).unwrap();
        let c = l.contract().unwrap().clone();
        assert_eq!(c.right, OptionRight::Call);
        assert_eq!(c.strike, dec!(168));
        // 7..14 calendar days from Monday 2013-10-07: the October monthly (last trading day Friday 10-18).
        assert_eq!(c.occ_symbol(), "SPY   131019C00168000");
        assert!(q.ask > q.bid && q.bid > rust_decimal::Decimal::ZERO && q.symbol == SymbolId(1));
        assert_eq!(l.is_call(), Some(true));
        l.release();
        l.select(false, dec!(168.09), ts).unwrap();
        assert_eq!(l.contract().unwrap().right, OptionRight::Put);
        assert!(l.note().contains("synthetic"));
        // spy-9ma sets the 2013 rate (0.001); the note says which rate priced the chain.
        assert!(l.note().contains("implied volatility 16%, rate 0.1%, not market quotes"), "{}", l.note());
        assert_eq!(
            (percent(0.04), percent(0.0125), percent(0.0), percent(-0.005)),
            ("4".into(), "1.25".into(), "0".into(), "-0.5".into())
        );
    }

    #[test]
    fn no_new_position_after_the_last_trading_time_and_settlement_at_intrinsic() {
        let mut l = leg_from(0);
        // Friday 2013-10-18, 15:00: the October monthly (last trading time 16:00 today) is 0 days out.
        l.select(true, dec!(170.2), at("2013-10-18T15:00:00-04:00")).expect("still trading");
        assert_eq!(l.contract().unwrap().occ_symbol(), "SPY   131019C00170000");
        assert!(!l.expired(at("2013-10-18T15:59:59-04:00")));
        assert!(l.expired(at("2013-10-18T16:00:00-04:00")));
        l.requote(dec!(171.25), at("2013-10-18T15:59:59-04:00"));
        let (value, ts, line) = l.settlement().expect("held");
        assert_eq!((value, ts), (dec!(1.25), at("2013-10-18T16:00:00-04:00")));
        assert!(line.contains("expired"), "{line}");
        l.release();
        // After the last trading time the same contract is refused, not opened.
        let err =
            l.select(true, dec!(170.2), at("2013-10-18T16:30:00-04:00")).expect_err("expired").to_string();
        assert!(err.contains("SPY   131019C00170000"), "{err}");
        assert!(l.contract().is_none() && l.settlement().is_none());
    }

    #[test]
    fn requotes_only_when_the_underlying_moves() {
        let mut l = leg();
        assert!(l.requote(dec!(168), at("2013-10-07T11:00:00-04:00")).is_none(), "nothing held");
        let ts = at("2013-10-07T11:00:00-04:00");
        let q0 = l.select(true, dec!(168.00), ts).unwrap();
        assert!(l.requote(dec!(168.00), ts).is_none());
        let q1 = l.requote(dec!(169.00), ts).expect("moved");
        assert!(q1.bid > q0.bid, "a call gains when the underlying rises");
    }

    /// A listed SPY 600 call and put for 2025-06-16, quoted `bid`/`ask` at `ts`.
    fn listing(bid: Price, ask: Price, ts: Timestamp) -> ChainSnapshot {
        use crate::model::InstrumentId;
        use crate::model::chain::{ContractQuote, ListedContract};
        let (mut contracts, mut quotes) = (Vec::new(), Vec::new());
        for (symbol, right) in
            [("SPY250616C00600000", OptionRight::Call), ("SPY250616P00600000", OptionRight::Put)]
        {
            let instrument = InstrumentId::from(symbol);
            contracts.push(ListedContract {
                instrument: instrument.clone(),
                underlying: "SPY".to_owned(),
                expiry: NaiveDate::from_ymd_opt(2025, 6, 16).unwrap(),
                strike: dec!(600),
                right,
                multiplier: dec!(100),
            });
            quotes.push(ContractQuote { instrument, bid, ask, ts });
        }
        ChainSnapshot { ts, contracts, quotes }
    }

    #[test]
    fn a_listed_leg_trades_the_brokers_contracts_at_their_quotes() {
        let expiry = ExpiryWindow { min_days: 7, max_days: 14, prefer: ExpiryPreference::Nearest };
        let chain = ListedChain::new("SPY", 0.04, nyse_trading_day as TradingDayFn);
        let mut l =
            OptionLeg::listed(chain, OptionSelection { expiry, strike: Strike::Atm }, SymbolId(1)).unwrap();
        assert!(!l.synthetic() && !l.note().contains("synthetic"), "{}", l.note());
        let ts = at("2025-06-09T10:00:00-04:00");
        // Nothing listed yet: refused.
        assert!(l.select(true, dec!(600.3), ts).is_err());
        let (refused, quote) = l.on_chain(&listing(dec!(7.10), dec!(7.14), ts));
        assert!(refused.is_empty() && quote.is_none(), "nothing held, nothing to mark");
        let q = l.select(true, dec!(600.3), ts).unwrap();
        assert_eq!((q.bid, q.ask, q.symbol), (dec!(7.10), dec!(7.14), SymbolId(1)));
        assert_eq!(l.label(), "SPY250616C00600000", "the broker's spelling");
        assert!(l.describe_choice(&q, dec!(600.3)).contains("listed quote 7.10 / 7.14"));
        // A print does not invent a price; the same quote again says nothing; a newer one marks.
        assert!(l.requote(dec!(601), ts).is_none());
        assert!(l.on_chain(&listing(dec!(7.10), dec!(7.14), ts)).1.is_none());
        let later = ts.add_nanos(Timestamp::NANOS_PER_SEC);
        let q = l.on_chain(&listing(dec!(7.50), dec!(7.55), later)).1.expect("newer quote");
        assert_eq!((q.bid, q.ask, q.ts), (dec!(7.50), dec!(7.55), later));
        // A one-sided quote leaves the mark alone.
        assert!(l.on_chain(&listing(dec!(0), dec!(7.60), later.add_nanos(1))).1.is_none());
        // A synthetic leg ignores chain snapshots.
        let mut synthetic = leg();
        let (refused, quote) = synthetic.on_chain(&listing(dec!(7.10), dec!(7.14), ts));
        assert!(refused.is_empty() && quote.is_none());
    }

    #[test]
    fn labels_name_the_contract_or_the_right_asked_for() {
        let mut l = leg();
        assert_eq!(l.label(), "SPY option");
        // Saturday: no contract may be opened, but the right asked for is known.
        assert!(l.select(false, dec!(168), at("2013-10-12T11:00:00-04:00")).is_err());
        assert_eq!(l.label(), "SPY put");
        l.select(true, dec!(168.09), at("2013-10-07T11:00:00-04:00")).unwrap();
        assert_eq!(l.label(), "SPY   131019C00168000");
    }
}
