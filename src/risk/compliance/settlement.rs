//! Cash accounts: settlement dates, settled funds and free-riding (Regulation T §220.8, SEC Rule
//! 15c6-1).
//!
//! - Settlement cycle by trade date, on the exchange calendar's business days: T+3 before
//!   2017-09-05, T+2 from 2017-09-05, T+1 from 2024-05-28 (equities); listed options settle T+1.
//! - A purchase must be covered by funds that are settled on the trade date (runner's rule; the
//!   law tolerates more, runner does not).
//! - Free-riding: a position bought with proceeds that were still unsettled cannot be sold before
//!   those proceeds settle (the purchase is not yet paid for). The ledger tracks, per lot, the date
//!   it is paid for and refuses such a sale.
//! - No short sales in a cash account.

use std::collections::{HashMap, VecDeque};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{AssetClass, Denial, OrderCheck, RuleResult, codes, name, usd};
use crate::calendar::{Calendar, CalendarError};
use crate::model::{InstrumentId, Money, Price, Qty, Side};

/// First trade date settled T+2 (SEC amendment of Rule 15c6-1, compliance date 2017-09-05).
pub fn t_plus_2_from() -> NaiveDate {
    // A valid calendar date; `MIN` is never reached.
    NaiveDate::from_ymd_opt(2017, 9, 5).unwrap_or(NaiveDate::MIN)
}

/// First trade date settled T+1 (SEC Release 34-96930, compliance date 2024-05-28).
pub fn t_plus_1_from() -> NaiveDate {
    // A valid calendar date; `MIN` is never reached.
    NaiveDate::from_ymd_opt(2024, 5, 28).unwrap_or(NaiveDate::MIN)
}

/// Settlement cycle in business days for a trade of `class` on `trade_date`.
pub fn settlement_cycle(trade_date: NaiveDate, class: AssetClass) -> i64 {
    match class {
        AssetClass::Option => 1,
        AssetClass::Equity if trade_date >= t_plus_1_from() => 1,
        AssetClass::Equity if trade_date >= t_plus_2_from() => 2,
        AssetClass::Equity => 3,
    }
}

/// The settlement date of a trade: the trade date plus the cycle, in the calendar's business days.
pub fn settlement_date(
    cal: &Calendar,
    trade_date: NaiveDate,
    class: AssetClass,
) -> Result<NaiveDate, CalendarError> {
    cal.add_business_days(trade_date, settlement_cycle(trade_date, class))
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    settles: NaiveDate,
    amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Lot {
    qty: Qty,
    /// The first date on which the lot is paid for with settled funds.
    paid_on: NaiveDate,
}

/// A cash account's money and holdings by settlement state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettlementLedger {
    settled: Money,
    pending: Vec<Pending>,
    lots: HashMap<InstrumentId, VecDeque<Lot>>,
}

impl SettlementLedger {
    /// A cash account holding `settled_cash` of settled funds and nothing else.
    pub fn new(settled_cash: Money) -> Self {
        Self { settled: settled_cash, ..Self::default() }
    }

    /// Add settled cash (a deposit that has cleared).
    pub fn deposit(&mut self, amount: Money) {
        self.settled += amount;
    }

    /// Record a position held and paid for before the ledger starts.
    pub fn add_paid_position(&mut self, instrument: &InstrumentId, qty: Qty, paid_on: NaiveDate) {
        if qty > Decimal::ZERO {
            self.lots.entry(instrument.clone()).or_default().push_back(Lot { qty, paid_on });
        }
    }

    /// Funds settled and uncommitted as of `date`.
    pub fn settled_cash(&self, date: NaiveDate) -> Money {
        self.settled + self.pending.iter().filter(|p| p.settles <= date).map(|p| p.amount).sum::<Decimal>()
    }

    /// Sale proceeds not yet settled on `date`.
    pub fn unsettled_cash(&self, date: NaiveDate) -> Money {
        self.pending.iter().filter(|p| p.settles > date).map(|p| p.amount).sum()
    }

    /// Quantity held of `instrument`.
    pub fn position(&self, instrument: &InstrumentId) -> Qty {
        self.lots.get(instrument).map_or(Decimal::ZERO, |l| l.iter().map(|lot| lot.qty).sum())
    }

    /// Move everything that has settled by `date` into settled cash.
    pub fn settle(&mut self, date: NaiveDate) {
        let (done, keep): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|p| p.settles <= date);
        self.settled += done.iter().map(|p| p.amount).sum::<Decimal>();
        self.pending = keep;
    }

    /// The cash-account rules for `order`: buys need settled funds; sells need the position, and
    /// the lots sold must be paid for (no free-riding); no short sales.
    pub fn check_order(&self, _cal: &Calendar, order: &OrderCheck) -> RuleResult {
        match order.side {
            Side::Buy => {
                let cost = order.notional();
                let settled = self.settled_cash(order.date);
                if cost > settled {
                    return Err(Denial::new(
                        codes::UNSETTLED_FUNDS,
                        format!(
                            "buying {} {} costs {} but settled funds on {} are {} ({} unsettled)",
                            order.qty,
                            name(&order.instrument),
                            usd(cost),
                            order.date,
                            usd(settled),
                            usd(self.unsettled_cash(order.date))
                        ),
                    ));
                }
                Ok(())
            }
            Side::Sell => self.check_sell(order.date, &order.instrument, order.qty),
        }
    }

    fn check_sell(&self, date: NaiveDate, instrument: &InstrumentId, qty: Qty) -> RuleResult {
        let held = self.position(instrument);
        let shown = name(instrument);
        if held <= Decimal::ZERO {
            return Err(Denial::new(
                codes::CASH_ACCOUNT_SHORT,
                format!("selling {qty} {shown} short needs a margin account (cash account holds none)"),
            ));
        }
        if qty > held {
            return Err(Denial::new(
                codes::INSUFFICIENT_POSITION,
                format!("selling {qty} {shown} but the cash account holds {held}"),
            ));
        }
        let mut left = qty;
        for lot in self.lots.get(instrument).into_iter().flatten() {
            if left <= Decimal::ZERO {
                break;
            }
            if lot.paid_on > date {
                return Err(Denial::new(
                    codes::FREE_RIDING,
                    format!(
                        "{shown} bought with unsettled proceeds is not paid for until {}; selling it on \
                         {date} would be free-riding",
                        lot.paid_on
                    ),
                ));
            }
            left -= lot.qty.min(left);
        }
        Ok(())
    }

    /// Record a buy fill. Settled funds pay first; any rest is taken from unsettled proceeds
    /// (earliest first) and the lot is paid for only when those settle. If even that does not
    /// cover it, settled cash goes negative and the lot stays unpaid until a deposit.
    pub fn record_buy(
        &mut self,
        date: NaiveDate,
        instrument: &InstrumentId,
        class: AssetClass,
        qty: Qty,
        price: Price,
    ) {
        self.settle(date);
        let mut owed = qty * price * class.multiplier();
        let from_settled = owed.min(self.settled.max(Decimal::ZERO));
        self.settled -= from_settled;
        owed -= from_settled;
        let mut paid_on = date;
        self.pending.sort_by_key(|p| p.settles);
        for p in self.pending.iter_mut().filter(|p| p.amount > Decimal::ZERO) {
            if owed <= Decimal::ZERO {
                break;
            }
            let take = owed.min(p.amount);
            p.amount -= take;
            owed -= take;
            paid_on = paid_on.max(p.settles);
        }
        self.pending.retain(|p| !p.amount.is_zero());
        if owed > Decimal::ZERO {
            self.settled -= owed;
            paid_on = NaiveDate::MAX;
        }
        self.add_paid_position(instrument, qty, paid_on);
    }

    /// Record a sell fill: lots leave first-in first-out; the proceeds settle on the settlement
    /// date. Refuses (and records nothing) a sale the rules refuse.
    pub fn record_sell(
        &mut self,
        cal: &Calendar,
        date: NaiveDate,
        instrument: &InstrumentId,
        class: AssetClass,
        qty: Qty,
        price: Price,
    ) -> RuleResult {
        self.settle(date);
        self.check_sell(date, instrument, qty)?;
        let settles = settlement_date(cal, date, class)?;
        let mut left = qty;
        if let Some(lots) = self.lots.get_mut(instrument) {
            while left > Decimal::ZERO {
                let Some(front) = lots.front_mut() else { break };
                let take = front.qty.min(left);
                front.qty -= take;
                left -= take;
                if front.qty.is_zero() {
                    lots.pop_front();
                }
            }
            if lots.is_empty() {
                self.lots.remove(instrument);
            }
        }
        self.pending.push(Pending { settles, amount: qty * price * class.multiplier() });
        Ok(())
    }
}
