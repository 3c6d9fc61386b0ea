//! Decision engine: signal + position + account → order intents.
//!
//! - `Long`/`Short` when flat: enter `entry_size` of the allocation (or a fixed number of units),
//!   times the signal's strength (100 % for the built-in strategies; an external signal may say
//!   less);
//! - the same direction when already in it: add `add_size` if the recipe sets one, else nothing;
//! - the opposite direction: reverse = close 100 % first, then enter (two orders, in that order);
//! - `Flat`: close everything;
//! - `Target(f)`: move to `f × allocation` of notional, only when the position is outside the
//!   tolerance band around the target.
//!
//! Sizes ([`Size`](crate::decision::Size)) are a percentage of the allocation or a number of
//! units, as a recipe writes them. Quantities are rounded down to the instrument's quantity
//! increment (whole shares and contracts, fractions of a coin). An entry, add or adjustment that
//! rounds down to nothing is still an intent, of quantity 0: the risk gate refuses it as
//! `size-below-minimum`, so it is reported, never dropped silently.

mod size;

use rust_decimal::Decimal;

pub use size::Size;

use crate::model::order::{ExitReason, Purpose};
use crate::model::{Money, Price, Qty, Side, round_to_increment};
use crate::strategy::{Direction, Signal};

/// One order the decision engine wants (before risk and order-type pricing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderIntent {
    /// Buy or sell.
    pub side: Side,
    /// Units.
    pub qty: Qty,
    /// What for.
    pub purpose: Purpose,
}

/// Up to two intents (a reversal is a close and an entry), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Intents([Option<OrderIntent>; 2]);

impl Intents {
    fn push(&mut self, i: OrderIntent) {
        if self.0[0].is_none() {
            self.0[0] = Some(i);
        } else {
            self.0[1] = Some(i);
        }
    }

    /// The intents in submission order.
    pub fn iter(&self) -> impl Iterator<Item = &OrderIntent> {
        self.0.iter().flatten()
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.0[0].is_none()
    }
}

/// Sizing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionConfig {
    /// Money the agent may use; percentage sizes are of this.
    pub allocation: Money,
    /// Entry size.
    pub entry_size: Size,
    /// Add size (adds happen only when set).
    pub add_size: Option<Size>,
    /// Contract multiplier (1 for shares, 100 for options).
    pub multiplier: Decimal,
    /// The smallest quantity step (1 for shares and contracts); quantities are rounded down to it.
    pub increment: Qty,
    /// target-position: allowed distance from the target, as a fraction of the allocation.
    pub tolerance: Decimal,
}

/// The decision engine.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    cfg: DecisionConfig,
}

impl Decision {
    /// A decision engine with these settings.
    pub fn new(cfg: DecisionConfig) -> Self {
        Self { cfg }
    }

    /// Units for a size at a price, rounded down to the quantity increment (0 when the size
    /// buys less than one increment).
    pub fn units(&self, size: Size, price: Price) -> Qty {
        let units = match size {
            Size::Units(u) => u,
            Size::Percent(p) => {
                let unit = price * self.cfg.multiplier;
                if unit <= Decimal::ZERO {
                    return Decimal::ZERO;
                }
                self.cfg.allocation * p.fraction() / unit
            }
        };
        round_to_increment(units, self.cfg.increment)
    }

    /// The intents for `signal`, given the signed `position`.
    pub fn decide(&self, signal: &Signal, position: Qty) -> Intents {
        let mut out = Intents::default();
        let held = position.abs();
        let long = position > Decimal::ZERO;
        let short = position < Decimal::ZERO;
        let close = |side| OrderIntent { side, qty: held, purpose: Purpose::Exit(ExitReason::Signal) };
        let entry = |side| OrderIntent {
            side,
            qty: self.units(scaled(self.cfg.entry_size, signal.strength), signal.price),
            purpose: Purpose::Entry,
        };
        match signal.direction {
            Direction::Long | Direction::Short => {
                let (side, same, opposite) = match signal.direction {
                    Direction::Long => (Side::Buy, long, short),
                    _ => (Side::Sell, short, long),
                };
                if same {
                    if let Some(add) = self.cfg.add_size {
                        out.push(OrderIntent {
                            side,
                            qty: self.units(add, signal.price),
                            purpose: Purpose::Add,
                        });
                    }
                } else {
                    if opposite {
                        out.push(close(side));
                    }
                    out.push(entry(side));
                }
            }
            Direction::Flat => {
                if long {
                    out.push(close(Side::Sell));
                } else if short {
                    out.push(close(Side::Buy));
                }
            }
            Direction::Target(f) => {
                let unit = signal.price * self.cfg.multiplier;
                if unit <= Decimal::ZERO {
                    return out;
                }
                let exact = self.cfg.allocation * f / unit;
                let target = round_to_increment(exact, self.cfg.increment);
                let gap = target - position;
                let band = self.cfg.allocation * self.cfg.tolerance;
                if gap.is_zero() {
                    // Outside the band, but less than one increment away: refused, not dropped.
                    let wanted = exact - position;
                    if wanted.abs() * unit > band {
                        let side = if wanted > Decimal::ZERO { Side::Buy } else { Side::Sell };
                        out.push(OrderIntent { side, qty: Decimal::ZERO, purpose: Purpose::Adjust });
                    }
                    return out;
                }
                if gap.abs() * unit <= band {
                    tracing::info!(%target, %position, "{}: no order, the position is within the tolerance band", signal.direction);
                    return out;
                }
                let side = if gap > Decimal::ZERO { Side::Buy } else { Side::Sell };
                let crosses = (position > Decimal::ZERO && target < Decimal::ZERO)
                    || (position < Decimal::ZERO && target > Decimal::ZERO);
                if crosses {
                    out.push(close(side));
                    out.push(OrderIntent { side, qty: target.abs(), purpose: Purpose::Adjust });
                } else if target.is_zero() {
                    out.push(close(side));
                } else {
                    out.push(OrderIntent { side, qty: gap.abs(), purpose: Purpose::Adjust });
                }
            }
        }
        out
    }
}

/// `size` at `strength` percent (100 leaves it as it is).
fn scaled(size: Size, strength: u8) -> Size {
    if strength >= 100 {
        return size;
    }
    let f = Decimal::from(strength) / Decimal::ONE_HUNDRED;
    match size {
        Size::Units(u) => Size::Units(u * f),
        Size::Percent(p) => Size::Percent(crate::model::Percent::from_fraction(p.fraction() * f)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Percent, SymbolId, Timestamp};
    use rust_decimal_macros::dec;

    fn d(add: Option<Size>) -> Decision {
        Decision::new(DecisionConfig {
            allocation: dec!(10000),
            entry_size: Size::Percent(Percent::from_fraction(dec!(0.5))),
            add_size: add,
            multiplier: Decimal::ONE,
            increment: Decimal::ONE,
            tolerance: dec!(0.1),
        })
    }

    fn sig(direction: Direction) -> Signal {
        Signal { ts: Timestamp(0), symbol: SymbolId(0), price: dec!(33), direction, strength: 100 }
    }

    fn all(i: Intents) -> Vec<OrderIntent> {
        i.iter().copied().collect()
    }

    #[test]
    fn enter_add_reverse_flatten() {
        let e = all(d(None).decide(&sig(Direction::Long), dec!(0)));
        assert_eq!(e, vec![OrderIntent { side: Side::Buy, qty: dec!(151), purpose: Purpose::Entry }]);
        assert!(d(None).decide(&sig(Direction::Long), dec!(151)).is_empty());
        let add = all(d(Some(Size::Units(dec!(10)))).decide(&sig(Direction::Long), dec!(151)));
        assert_eq!(add[0].qty, dec!(10));
        assert_eq!(add[0].purpose, Purpose::Add);
        let rev = all(d(None).decide(&sig(Direction::Short), dec!(151)));
        assert_eq!(rev.len(), 2);
        assert_eq!(
            (rev[0].side, rev[0].qty, rev[0].purpose),
            (Side::Sell, dec!(151), Purpose::Exit(ExitReason::Signal))
        );
        assert_eq!((rev[1].side, rev[1].qty, rev[1].purpose), (Side::Sell, dec!(151), Purpose::Entry));
        let flat = all(d(None).decide(&sig(Direction::Flat), dec!(-7)));
        assert_eq!((flat[0].side, flat[0].qty), (Side::Buy, dec!(7)));
    }

    #[test]
    fn target_position_respects_the_band() {
        // Target 50 % of 10 000 at 33 = 151 shares; band = 1 000 of notional (30 shares).
        assert!(d(None).decide(&sig(Direction::Target(dec!(0.5))), dec!(130)).is_empty());
        let up = all(d(None).decide(&sig(Direction::Target(dec!(0.5))), dec!(100)));
        assert_eq!((up[0].side, up[0].qty), (Side::Buy, dec!(51)));
        let flip = all(d(None).decide(&sig(Direction::Target(dec!(-0.5))), dec!(100)));
        assert_eq!((flip[0].side, flip[0].qty, flip[1].qty), (Side::Sell, dec!(100), dec!(151)));
    }

    #[test]
    fn quantities_round_down_to_the_increment_and_nothing_is_dropped() {
        let coin = |increment| {
            Decision::new(DecisionConfig {
                allocation: dec!(5000),
                entry_size: Size::Percent(Percent::from_fraction(dec!(1))),
                add_size: None,
                multiplier: Decimal::ONE,
                increment,
                tolerance: dec!(0.05),
            })
        };
        let at = |direction| Signal { price: dec!(6789.12), ..sig(direction) };
        // 5 000 / 6 789.12 = 0.7364…: in satoshis, and nothing at all in whole coins.
        let e = all(coin(dec!(0.00000001)).decide(&at(Direction::Long), dec!(0)));
        assert_eq!((e[0].qty, e[0].purpose), (dec!(0.73647247), Purpose::Entry));
        let e = all(coin(Decimal::ONE).decide(&at(Direction::Long), dec!(0)));
        assert_eq!((e[0].qty, e[0].purpose), (dec!(0), Purpose::Entry), "kept, for the gate to refuse");
        let t = all(coin(Decimal::ONE).decide(&at(Direction::Target(dec!(0.5))), dec!(0)));
        assert_eq!((t[0].side, t[0].qty, t[0].purpose), (Side::Buy, dec!(0), Purpose::Adjust));
        let t = all(coin(dec!(0.001)).decide(&at(Direction::Target(dec!(-0.5))), dec!(0)));
        assert_eq!((t[0].side, t[0].qty), (Side::Sell, dec!(0.368)));
        assert!(
            coin(Decimal::ONE).decide(&at(Direction::Target(dec!(0.01))), dec!(0)).is_empty(),
            "in the band"
        );
    }

    #[test]
    fn a_weaker_signal_enters_a_smaller_position() {
        let d = d(None);
        let full = d.decide(&sig(Direction::Long), dec!(0));
        let mut half = sig(Direction::Long);
        half.strength = 50;
        let half = d.decide(&half, dec!(0));
        let q = |i: &Intents| i.iter().next().map(|o| o.qty).unwrap_or_default();
        assert_eq!(q(&half), (q(&full) / dec!(2)).floor(), "{full:?} {half:?}");
    }
}
