//! The compliance side of the risk gate: one agent's broker account as the US rulebook sees it.
//!
//! What belongs here: [`AccountCompliance`], which owns the account's ledgers (the
//! [`DayTradeLedger`] for margin accounts, the [`SettlementLedger`] for cash accounts), is fed
//! the agent's fills, and checks an opening order with [`Rules::for_date`] on the order's
//! trading date. The rules themselves live in [`crate::risk::compliance`]; this file only builds
//! their inputs from the agent's state.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::calendar::Calendar;
use crate::model::{InstrumentId, Money, Price, Qty, Side};
use crate::risk::compliance::{
    AccountType, AccountView, AssetClass, DayTrade, DayTradeLedger, Denial, MarginAccount, OrderCheck,
    Position, Regime, Rules, SettlementLedger,
};

/// Compliance settings of one account (from the recipe's `broker.account_type` and `compliance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComplianceConfig {
    /// Cash or margin account.
    pub account_type: AccountType,
    /// A pinned day-trading regime (`None`: chosen by the trading date).
    pub pinned: Option<Regime>,
    /// Whether Regulation T (margin) and settlement (cash) rules are enforced.
    pub reg_t: bool,
    /// Starting cash (settled) of a cash account.
    pub starting_cash: Money,
}

/// The account snapshot an order is checked against (one instrument per agent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSnapshot {
    /// Trading date (New York) of the order.
    pub date: NaiveDate,
    /// Cash balance (negative: a margin debit).
    pub cash: Money,
    /// The traded security.
    pub instrument: InstrumentId,
    /// Equity or option.
    pub class: AssetClass,
    /// Signed position held in `instrument`.
    pub position: Qty,
    /// The price the position is marked at.
    pub mark: Price,
}

/// One agent's account under the US rulebook: ledgers plus the rule selection.
#[derive(Debug, Clone)]
pub struct AccountCompliance {
    cfg: ComplianceConfig,
    calendar: Calendar,
    day_trades: DayTradeLedger,
    /// Every counted day trade, in order (what [`AccountCompliance::day_trade_records`] returns).
    records: Vec<DayTrade>,
    settlement: SettlementLedger,
}

impl AccountCompliance {
    /// A fresh account (no day-trade history, all starting cash settled).
    pub fn new(cfg: ComplianceConfig) -> Self {
        Self {
            cfg,
            calendar: Calendar::nyse(),
            day_trades: DayTradeLedger::new(),
            records: Vec::new(),
            settlement: SettlementLedger::new(cfg.starting_cash),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ComplianceConfig {
        &self.cfg
    }

    /// The rules in force on `date` for this account.
    pub fn rules(&self, date: NaiveDate) -> Rules {
        let mut r = Rules::for_date(date, self.cfg.pinned);
        if !self.cfg.reg_t {
            r.reg_t = crate::risk::compliance::RegTTiming::EndOfDay;
        }
        r
    }

    /// Check the opening part of an order (`qty` on `side` at `price`) against the rules.
    pub fn check(&self, acct: &AccountSnapshot, side: Side, qty: Qty, price: Price) -> Result<(), Denial> {
        let order = OrderCheck {
            date: acct.date,
            instrument: acct.instrument.clone(),
            class: acct.class,
            side,
            qty,
            price,
        };
        let rules = self.rules(acct.date);
        match self.cfg.account_type {
            AccountType::Cash => {
                if !self.cfg.reg_t && side == Side::Buy {
                    return Ok(());
                }
                rules.check_order(&self.calendar, AccountView::Cash(&self.settlement), &order)
            }
            AccountType::Margin => {
                let account = MarginAccount {
                    cash: acct.cash,
                    positions: if acct.position.is_zero() {
                        Vec::new()
                    } else {
                        vec![Position {
                            instrument: acct.instrument.clone(),
                            class: acct.class,
                            qty: acct.position,
                            price: acct.mark,
                        }]
                    },
                };
                let view = AccountView::Margin { account: &account, day_trades: &self.day_trades };
                rules.check_order(&self.calendar, view, &order)
            }
        }
    }

    /// Record an executed fill; `position_before` is the signed position before it. Returns the
    /// day trade it completed, if any (margin accounts; options count like stocks).
    #[allow(clippy::too_many_arguments)]
    pub fn on_fill(
        &mut self,
        date: NaiveDate,
        instrument: &InstrumentId,
        class: AssetClass,
        side: Side,
        qty: Qty,
        price: Price,
        position_before: Qty,
    ) -> Option<DayTrade> {
        match self.cfg.account_type {
            AccountType::Margin => {
                let dt = self.day_trades.record_order_fill(date, instrument, side, qty, position_before);
                if let Some(d) = &dt {
                    self.records.push(d.clone());
                }
                dt
            }
            AccountType::Cash => {
                let (close, open) = crate::risk::compliance::split_effect(position_before, side, qty);
                if side == Side::Buy && open > Decimal::ZERO {
                    self.settlement.record_buy(date, instrument, class, open, price);
                }
                if side == Side::Sell && close > Decimal::ZERO {
                    // The broker already executed it; a sale the rules would refuse (only a
                    // position the ledger does not know) leaves the ledger as it was.
                    let _ =
                        self.settlement.record_sell(&self.calendar, date, instrument, class, close, price);
                }
                None
            }
        }
    }

    /// The day trades counted so far (oldest first), for persistence by the caller.
    pub fn day_trade_records(&self) -> &[DayTrade] {
        &self.records
    }

    /// Restore day trades persisted by an earlier run (e.g. from the journal). They count in the
    /// 5-business-day window like the ones this run makes.
    pub fn restore_day_trades(&mut self, trades: &[DayTrade]) {
        for t in trades {
            // An opening then a closing fill on that date make exactly one counted day trade.
            let fill = |effect, side| crate::risk::compliance::Fill {
                date: t.date,
                instrument: t.instrument.clone(),
                side,
                qty: Decimal::ONE,
                effect,
            };
            self.day_trades.record_fill(&fill(crate::risk::compliance::Effect::Open, Side::Buy));
            self.day_trades.record_fill(&fill(crate::risk::compliance::Effect::Close, Side::Sell));
            self.records.push(t.clone());
        }
    }

    /// Day trades counted in the 5-business-day window ending on `date`.
    pub fn day_trades_in_window(&self, date: NaiveDate) -> u32 {
        self.day_trades.day_trades_in_window(&self.calendar, date).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn snap(date: NaiveDate, cash: Money, position: Qty) -> AccountSnapshot {
        AccountSnapshot {
            date,
            cash,
            instrument: InstrumentId::from("SPY"),
            class: AssetClass::Equity,
            position,
            mark: dec!(100),
        }
    }

    #[test]
    fn restored_day_trades_count_and_pdt_refuses_opening() {
        let cfg = ComplianceConfig {
            account_type: AccountType::Margin,
            pinned: None,
            reg_t: true,
            starting_cash: dec!(10000),
        };
        let mut a = AccountCompliance::new(cfg);
        let spy = InstrumentId::from("SPY");
        let trades: Vec<DayTrade> =
            (7..=9).map(|day| DayTrade { date: d(2013, 10, day), instrument: spy.clone() }).collect();
        a.restore_day_trades(&trades);
        assert_eq!(a.day_trades_in_window(d(2013, 10, 10)), 3);
        let e = a.check(&snap(d(2013, 10, 10), dec!(10000), dec!(0)), Side::Buy, dec!(10), dec!(100));
        assert_eq!(e.unwrap_err().code, "pdt-limit");
        // 2026-06-10: intraday margin, no PDT.
        a.restore_day_trades(
            &(8..=10)
                .map(|day| DayTrade { date: d(2026, 6, day), instrument: spy.clone() })
                .collect::<Vec<_>>(),
        );
        assert!(a.check(&snap(d(2026, 6, 10), dec!(10000), dec!(0)), Side::Buy, dec!(10), dec!(100)).is_ok());
    }

    #[test]
    fn cash_account_waits_for_settlement() {
        let cfg = ComplianceConfig {
            account_type: AccountType::Cash,
            pinned: None,
            reg_t: true,
            starting_cash: dec!(1000),
        };
        let mut a = AccountCompliance::new(cfg);
        let spy = InstrumentId::from("SPY");
        let day = d(2026, 6, 10);
        assert!(a.check(&snap(day, dec!(1000), dec!(0)), Side::Buy, dec!(10), dec!(100)).is_ok());
        a.on_fill(day, &spy, AssetClass::Equity, Side::Buy, dec!(10), dec!(100), dec!(0));
        a.on_fill(day, &spy, AssetClass::Equity, Side::Sell, dec!(10), dec!(101), dec!(10));
        let e = a.check(&snap(day, dec!(1010), dec!(0)), Side::Buy, dec!(10), dec!(100)).unwrap_err();
        assert_eq!(e.code, "unsettled-funds");
        assert!(a.check(&snap(d(2026, 6, 11), dec!(1010), dec!(0)), Side::Buy, dec!(10), dec!(100)).is_ok());
    }
}
