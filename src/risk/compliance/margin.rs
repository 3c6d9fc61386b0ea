//! Margin-account rules: Regulation T initial margin, the $2,000 minimum equity for credit, and
//! the intraday margin deficit check of FINRA Rule 4210 as amended (Regulatory Notice 26-10).
//!
//! The model (also in `docs/risk-and-compliance.md`):
//! - market value of a position = signed qty × price × multiplier (100 for options);
//! - equity = cash + Σ market values (a short position's value is negative, a debit balance is
//!   negative cash);
//! - Reg T initial requirement = 50 % of long and of short equity market value, 100 % of long
//!   options;
//! - maintenance requirement = 25 % of long equity, 30 % of short equity, 100 % of long options;
//! - intraday margin deficit = max(0, maintenance requirement − equity), evaluated on the account
//!   as it would be right after the order fills at its price.
//!
//! Writing options (selling to open) is refused: its margin (20 % of the underlying less the
//! out-of-the-money amount, …) is outside this model.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::{AssetClass, Denial, OrderCheck, RuleResult, codes, name, split_effect, usd};
use crate::model::{InstrumentId, Money, Price, Qty, Side};

/// Regulation T initial margin for equity securities (12 CFR 220.12(a), (c)).
pub const REG_T_INITIAL: Decimal = dec!(0.50);
/// FINRA Rule 4210(c) maintenance margin on long equity positions.
pub const MAINTENANCE_LONG_EQUITY: Decimal = dec!(0.25);
/// FINRA Rule 4210(c) maintenance margin on short equity positions (stocks at $5 or more).
pub const MAINTENANCE_SHORT_EQUITY: Decimal = dec!(0.30);
/// Long options have no loan value: paid in full, 100 % requirement.
pub const LONG_OPTION_REQUIREMENT: Decimal = Decimal::ONE;
/// FINRA Rule 4210(b)(1) minimum equity before any credit is extended in a margin account.
pub const MIN_MARGIN_EQUITY: Money = dec!(2000);

/// One position of a margin account, marked at a price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The security.
    pub instrument: InstrumentId,
    /// Equity or option.
    pub class: AssetClass,
    /// Signed quantity: positive long, negative short.
    pub qty: Qty,
    /// Current price per unit.
    pub price: Price,
}

impl Position {
    /// Signed market value: qty × price × multiplier.
    pub fn market_value(&self) -> Money {
        self.qty * self.price * self.class.multiplier()
    }

    fn requirement(&self, long_equity: Decimal, short_equity: Decimal) -> Money {
        let mv = self.market_value();
        let rate = match (self.class, mv >= Decimal::ZERO) {
            (AssetClass::Equity, true) => long_equity,
            (AssetClass::Equity, false) => short_equity,
            // Long options are paid in full; short options (never opened by runner) are counted
            // at 100 % of their value as a floor.
            (AssetClass::Option, _) => LONG_OPTION_REQUIREMENT,
        };
        mv.abs() * rate
    }
}

/// A margin account snapshot: cash (negative = debit balance) and marked positions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarginAccount {
    /// Cash balance; negative when the customer owes the broker.
    pub cash: Money,
    /// Open positions.
    pub positions: Vec<Position>,
}

impl MarginAccount {
    /// Equity: cash plus the signed market value of every position.
    pub fn equity(&self) -> Money {
        self.cash + self.positions.iter().map(Position::market_value).sum::<Decimal>()
    }

    /// Signed quantity held of `instrument` (0 if none).
    pub fn position_qty(&self, instrument: &InstrumentId) -> Qty {
        self.positions.iter().filter(|p| &p.instrument == instrument).map(|p| p.qty).sum()
    }

    /// Regulation T initial requirement of the current positions.
    pub fn reg_t_requirement(&self) -> Money {
        self.positions.iter().map(|p| p.requirement(REG_T_INITIAL, REG_T_INITIAL)).sum()
    }

    /// Maintenance requirement of the current positions (25 % long, 30 % short, 100 % long options).
    pub fn maintenance_requirement(&self) -> Money {
        self.positions.iter().map(|p| p.requirement(MAINTENANCE_LONG_EQUITY, MAINTENANCE_SHORT_EQUITY)).sum()
    }

    /// Intraday margin deficit: how far equity is below the maintenance requirement (0 if not).
    pub fn intraday_deficit(&self) -> Money {
        (self.maintenance_requirement() - self.equity()).max(Decimal::ZERO)
    }

    /// Equity in excess of the Reg T initial requirement (0 if none).
    pub fn reg_t_excess(&self) -> Money {
        (self.equity() - self.reg_t_requirement()).max(Decimal::ZERO)
    }

    /// Reg T buying power for marginable equities: excess ÷ 50 %. For long options (paid in full)
    /// the buying power is [`MarginAccount::reg_t_excess`] itself.
    pub fn reg_t_buying_power(&self) -> Money {
        self.reg_t_excess() / REG_T_INITIAL
    }

    /// The account as it would be right after `order` fills at its price (no fees): cash moves by
    /// the notional, the position changes by the quantity and is marked at the order price.
    pub fn after(&self, order: &OrderCheck) -> MarginAccount {
        let mut next = self.clone();
        let signed = order.side.sign() * order.qty;
        next.cash -= signed * order.price * order.class.multiplier();
        let mut found = false;
        for p in next.positions.iter_mut().filter(|p| p.instrument == order.instrument) {
            if !found {
                p.qty += signed;
                found = true;
            }
            p.price = order.price;
        }
        if !found {
            next.positions.push(Position {
                instrument: order.instrument.clone(),
                class: order.class,
                qty: signed,
                price: order.price,
            });
        }
        next.positions.retain(|p| !p.qty.is_zero());
        next
    }

    fn opens(&self, order: &OrderCheck) -> Qty {
        split_effect(self.position_qty(&order.instrument), order.side, order.qty).1
    }

    /// Regulation T: an order that opens or increases a position must leave equity at or above
    /// the initial requirement (50 % equities, 100 % long options); selling options to open is
    /// refused. Orders that only reduce positions always pass.
    pub fn check_reg_t(&self, order: &OrderCheck) -> RuleResult {
        let opens = self.opens(order);
        if opens <= Decimal::ZERO {
            return Ok(());
        }
        if order.class == AssetClass::Option && order.side == Side::Sell {
            return Err(Denial::new(
                codes::SHORT_OPTION_UNSUPPORTED,
                format!(
                    "selling {} {} to open (writing options) is not supported",
                    opens,
                    name(&order.instrument)
                ),
            ));
        }
        let after = self.after(order);
        let (equity, required) = (after.equity(), after.reg_t_requirement());
        if equity < required {
            return Err(Denial::new(
                codes::REG_T_BUYING_POWER,
                format!(
                    "{} {} {} at {} needs Reg T initial margin {} but equity is {} (buying power {})",
                    order.side,
                    order.qty,
                    name(&order.instrument),
                    order.price,
                    usd(required),
                    usd(equity),
                    usd(self.reg_t_buying_power())
                ),
            ));
        }
        Ok(())
    }

    /// Minimum equity: an order that opens a position and leaves the account using credit (a debit
    /// balance or a short position) needs equity of at least $2,000.
    pub fn check_min_equity(&self, order: &OrderCheck) -> RuleResult {
        if self.opens(order) <= Decimal::ZERO {
            return Ok(());
        }
        let after = self.after(order);
        let uses_credit = after.cash < Decimal::ZERO || after.positions.iter().any(|p| p.qty < Decimal::ZERO);
        let equity = after.equity();
        if uses_credit && equity < MIN_MARGIN_EQUITY {
            return Err(Denial::new(
                codes::MIN_EQUITY,
                format!(
                    "margin credit needs equity of at least {}; equity after the order would be {}",
                    usd(MIN_MARGIN_EQUITY),
                    usd(equity)
                ),
            ));
        }
        Ok(())
    }

    /// Intraday margin: refuse an order that would create an intraday margin deficit or make an
    /// existing one larger. Orders that shrink a deficit pass.
    pub fn check_intraday_margin(&self, order: &OrderCheck) -> RuleResult {
        let before = self.intraday_deficit();
        let after = self.after(order);
        let deficit = after.intraday_deficit();
        if deficit > Decimal::ZERO && deficit > before {
            return Err(Denial::new(
                codes::INTRADAY_MARGIN_DEFICIT,
                format!(
                    "{} {} {} at {} would leave an intraday margin deficit of {} \
                     (maintenance {} > equity {}; deficit before {})",
                    order.side,
                    order.qty,
                    name(&order.instrument),
                    order.price,
                    usd(deficit),
                    usd(after.maintenance_requirement()),
                    usd(after.equity()),
                    usd(before)
                ),
            ));
        }
        Ok(())
    }
}
