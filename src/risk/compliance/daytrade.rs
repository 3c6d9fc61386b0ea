//! Day trades as FINRA Rule 4210(f)(8)(B) defines them, counted over a rolling window of five
//! business days on the exchange calendar, and the legacy pattern-day-trader (PDT) check.
//!
//! A day trade is opening and closing the same security (an option counts; the security is the
//! [`InstrumentId`], so each OCC symbol is its own security) on the same trading day in a margin
//! account. Counting follows FINRA's sequence interpretation: one or more opening fills followed
//! by one or more closing fills that close same-day opened quantity count as ONE day trade; a new
//! opening after that starts a new sequence. Closing a position carried overnight, with no
//! same-day opening left to close, is not a day trade. A closing fill is matched against the
//! quantity opened that day first (conservative: it never under-counts).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::{Denial, Effect, OrderCheck, RuleResult, codes, name, split_effect, usd};
use crate::calendar::{Calendar, CalendarError};
use crate::model::{InstrumentId, Money, Qty, Side};

/// Minimum equity of a pattern day trader's margin account (FINRA Rule 4210(f)(8)(B)(iv)).
pub const PDT_MIN_EQUITY: Money = dec!(25000);
/// Day trades allowed in the window before the account becomes a pattern day trader.
pub const PDT_MAX_DAY_TRADES: u32 = 3;
/// Length of the rolling window, in business days (today included).
pub const PDT_WINDOW_DAYS: i64 = 5;

/// One executed fill, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// Trading date (exchange-local) of the execution.
    pub date: NaiveDate,
    /// The security.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Filled quantity, positive.
    pub qty: Qty,
    /// Whether it opened or closed position.
    pub effect: Effect,
}

/// A counted day trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTrade {
    /// The trading date.
    pub date: NaiveDate,
    /// The security.
    pub instrument: InstrumentId,
}

#[derive(Debug, Clone, Default)]
struct DayState {
    /// Quantity opened today and not yet closed today.
    open_unmatched: Qty,
    /// Whether an opening fill happened since the last counted day trade.
    opened_since_count: bool,
}

/// Records fills and counts day trades per trading date.
#[derive(Debug, Clone, Default)]
pub struct DayTradeLedger {
    state: HashMap<(NaiveDate, InstrumentId), DayState>,
    trades: BTreeMap<NaiveDate, Vec<InstrumentId>>,
}

impl DayTradeLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record an executed fill; returns the day trade it completed, if it completed one.
    /// A fill with a non-positive quantity is ignored.
    pub fn record_fill(&mut self, fill: &Fill) -> Option<DayTrade> {
        if fill.qty <= Decimal::ZERO {
            return None;
        }
        let st = self.state.entry((fill.date, fill.instrument.clone())).or_default();
        match fill.effect {
            Effect::Open => {
                st.open_unmatched += fill.qty;
                st.opened_since_count = true;
                None
            }
            Effect::Close => {
                if st.open_unmatched <= Decimal::ZERO {
                    return None; // closes an overnight position only
                }
                st.open_unmatched -= fill.qty.min(st.open_unmatched);
                if !st.opened_since_count {
                    return None; // continues a sequence already counted
                }
                st.opened_since_count = false;
                self.trades.entry(fill.date).or_default().push(fill.instrument.clone());
                Some(DayTrade { date: fill.date, instrument: fill.instrument.clone() })
            }
        }
    }

    /// Record an order's fill against the position held before it, splitting a flip into its
    /// closing and opening parts. Returns the day trade completed, if any.
    pub fn record_order_fill(
        &mut self,
        date: NaiveDate,
        instrument: &InstrumentId,
        side: Side,
        qty: Qty,
        position_before: Qty,
    ) -> Option<DayTrade> {
        let (close, open) = split_effect(position_before, side, qty);
        let mut done = None;
        for (q, effect) in [(close, Effect::Close), (open, Effect::Open)] {
            if q > Decimal::ZERO {
                let fill = Fill { date, instrument: instrument.clone(), side, qty: q, effect };
                done = done.or(self.record_fill(&fill));
            }
        }
        done
    }

    /// Whether closing `instrument` on `date` would complete a (new) day trade.
    pub fn would_be_day_trade(&self, date: NaiveDate, instrument: &InstrumentId) -> bool {
        self.state
            .get(&(date, instrument.clone()))
            .is_some_and(|st| st.open_unmatched > Decimal::ZERO && st.opened_since_count)
    }

    /// First trading date of the 5-business-day window that ends on `date` (or on the last
    /// trading day before it, if `date` is not a trading day).
    pub fn window_start(cal: &Calendar, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
        let end = if cal.is_trading_day(date)? { date } else { cal.previous_trading_day(date)? };
        cal.add_business_days(end, -(PDT_WINDOW_DAYS - 1))
    }

    /// Day trades counted in the window of five business days ending on `date`.
    pub fn day_trades_in_window(&self, cal: &Calendar, date: NaiveDate) -> Result<u32, CalendarError> {
        let start = Self::window_start(cal, date)?;
        let n: usize = self.trades.range(start..=date).map(|(_, v)| v.len()).sum();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The day trades counted in the window ending on `date`, oldest first.
    pub fn day_trades(&self, cal: &Calendar, date: NaiveDate) -> Result<Vec<DayTrade>, CalendarError> {
        let start = Self::window_start(cal, date)?;
        Ok(self
            .trades
            .range(start..=date)
            .flat_map(|(d, v)| v.iter().map(|i| DayTrade { date: *d, instrument: i.clone() }))
            .collect())
    }

    /// Whether the account counts as a pattern day trader on `date` (4+ day trades in the window).
    /// FINRA's second test (day trades over 6 % of all trades) is not applied: runner assumes it holds.
    pub fn is_pattern_day_trader(&self, cal: &Calendar, date: NaiveDate) -> Result<bool, CalendarError> {
        Ok(self.day_trades_in_window(cal, date)? > PDT_MAX_DAY_TRADES)
    }

    /// Forget per-day state and trades before `date` (they can no longer fall in a window).
    pub fn prune_before(&mut self, date: NaiveDate) {
        self.state.retain(|(d, _), _| *d >= date);
        self.trades = self.trades.split_off(&date);
    }

    /// The legacy PDT rule for a margin account with `equity` holding `position` (signed) of the
    /// order's instrument.
    ///
    /// With equity below $25,000: refuse a closing order that would complete the 4th day trade in
    /// the window, and refuse an opening order when 3 day trades are already counted (closing it
    /// the same day would be the 4th). Equity of $25,000 or more: no limit.
    pub fn check_pdt(&self, cal: &Calendar, order: &OrderCheck, position: Qty, equity: Money) -> RuleResult {
        if equity >= PDT_MIN_EQUITY {
            return Ok(());
        }
        let (close, open) = split_effect(position, order.side, order.qty);
        let count = self.day_trades_in_window(cal, order.date)?;
        let start = Self::window_start(cal, order.date)?;
        if close > Decimal::ZERO
            && self.would_be_day_trade(order.date, &order.instrument)
            && count >= PDT_MAX_DAY_TRADES
        {
            return Err(Denial::new(
                codes::PDT_LIMIT,
                format!(
                    "closing {} on {} would be day trade #{} in the 5 business days {start} – {}; \
                     equity {} is below {}",
                    name(&order.instrument),
                    order.date,
                    count + 1,
                    order.date,
                    usd(equity),
                    usd(PDT_MIN_EQUITY)
                ),
            ));
        }
        if open > Decimal::ZERO && count >= PDT_MAX_DAY_TRADES {
            return Err(Denial::new(
                codes::PDT_LIMIT,
                format!(
                    "{count} day trades already in the 5 business days {start} – {}; opening {} could \
                     only be closed today as a 4th day trade; equity {} is below {}",
                    order.date,
                    name(&order.instrument),
                    usd(equity),
                    usd(PDT_MIN_EQUITY)
                ),
            ));
        }
        Ok(())
    }
}
