//! One account's accounting: cash, commissions, a position per instrument and the latest prices
//! it is marked at. The agent keeps one of its own and the simulated venue keeps one, fed the
//! same fills, so the two agree to the cent by construction.

use rust_decimal::Decimal;

use super::order::{Fill, Position};
use super::{Money, Price, Qty, Side, SymbolId, Timestamp};

/// A top-of-book quote as the ledger marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    /// Best bid.
    pub bid: Price,
    /// Size at the bid.
    pub bid_size: Qty,
    /// Best ask.
    pub ask: Price,
    /// Size at the ask.
    pub ask_size: Qty,
    /// When it was quoted.
    pub ts: Timestamp,
}

/// The latest prices of one instrument.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    /// The last trade: price and size.
    pub last: Option<(Price, Qty)>,
    /// The last quote.
    pub quote: Option<Touch>,
}

impl Marks {
    /// The mark: the last trade, else the quote mid.
    #[inline]
    pub fn mark(&self) -> Option<Price> {
        match self.last {
            Some((p, _)) => Some(p),
            None => self.quote_mid(),
        }
    }

    /// Kept out of line: `mark` stays tiny.
    #[inline(never)]
    fn quote_mid(&self) -> Option<Price> {
        self.quote.map(|q| (q.bid + q.ask) / Decimal::TWO)
    }
}

/// Values kept per instrument, indexed by [`SymbolId`]; an instrument not seen yet reads as
/// the default.
#[derive(Debug, Clone, Default)]
pub struct PerSymbol<T>(Vec<T>);

impl<T: Default + Clone> PerSymbol<T> {
    /// The value of `s`, if it was ever set.
    #[inline]
    pub fn get(&self, s: SymbolId) -> Option<&T> {
        self.0.get(usize::from(s.0))
    }

    /// The value of `s`, made if needed.
    #[inline]
    pub fn get_mut(&mut self, s: SymbolId) -> &mut T {
        let i = usize::from(s.0);
        if self.0.len() <= i {
            self.grow(i);
        }
        &mut self.0[i]
    }

    #[cold]
    fn grow(&mut self, i: usize) {
        self.0.resize(i + 1, T::default());
    }

    /// Every value set, with its symbol.
    pub fn iter(&self) -> impl Iterator<Item = (SymbolId, &T)> {
        self.0.iter().enumerate().map(|(i, v)| (SymbolId(u16::try_from(i).unwrap_or(u16::MAX)), v))
    }
}

/// Cash, commissions, positions and marks of one account.
#[derive(Debug, Clone)]
pub struct Ledger {
    cash: Money,
    fees: Money,
    /// Contract multiplier (1 for shares and coins, 100 for US equity options).
    multiplier: Decimal,
    positions: PerSymbol<Position>,
    marks: PerSymbol<Marks>,
}

impl Ledger {
    /// An account holding `cash` and nothing else.
    pub fn new(cash: Money, multiplier: Decimal) -> Self {
        Self {
            cash,
            fees: Decimal::ZERO,
            multiplier,
            positions: PerSymbol::default(),
            marks: PerSymbol::default(),
        }
    }

    /// A trade printed.
    #[inline]
    pub fn mark_trade(&mut self, s: SymbolId, price: Price, size: Qty) {
        self.marks.get_mut(s).last = Some((price, size));
    }

    /// A quote arrived (or was computed, for a synthetic option).
    #[inline]
    pub fn mark_quote(&mut self, s: SymbolId, quote: Touch) {
        self.marks.get_mut(s).quote = Some(quote);
    }

    /// Forget `s`'s prices (a new option contract is traded under the same symbol).
    pub fn clear_marks(&mut self, s: SymbolId) {
        *self.marks.get_mut(s) = Marks::default();
    }

    /// The latest prices of `s`.
    #[inline]
    pub fn marks(&self, s: SymbolId) -> Marks {
        self.marks.get(s).copied().unwrap_or_default()
    }

    /// The mark of `s`: its last trade, else its quote mid.
    #[inline]
    pub fn mark(&self, s: SymbolId) -> Option<Price> {
        self.marks.get(s)?.mark()
    }

    /// The position in `s`.
    #[inline]
    pub fn position(&self, s: SymbolId) -> Position {
        self.positions.get(s).copied().unwrap_or_default()
    }

    /// The signed quantity held in `s`.
    #[inline]
    pub fn qty(&self, s: SymbolId) -> Qty {
        self.positions.get(s).map_or(Decimal::ZERO, |p| p.qty)
    }

    /// Every non-flat position.
    pub fn positions(&self) -> impl Iterator<Item = (SymbolId, &Position)> {
        self.positions.iter().filter(|(_, p)| !p.qty.is_zero())
    }

    /// Cash.
    #[inline]
    pub fn cash(&self) -> Money {
        self.cash
    }

    /// Commissions paid.
    pub fn fees(&self) -> Money {
        self.fees
    }

    /// The contract multiplier.
    pub fn multiplier(&self) -> Decimal {
        self.multiplier
    }

    /// Cash plus every position at its mark (or its average price).
    pub fn equity(&self) -> Money {
        let mut e = self.cash;
        for (s, p) in self.positions() {
            let mark = self.mark(s).unwrap_or(p.avg_price);
            e += p.qty * mark * self.multiplier;
        }
        e
    }

    /// Book an execution.
    pub fn apply_fill(&mut self, f: &Fill) {
        let mult = self.multiplier;
        self.cash -= f.side.sign() * f.qty * f.price * mult + f.commission;
        self.fees += f.commission;
        self.positions.get_mut(f.symbol).apply(f.side, f.qty, f.price, mult);
    }

    /// Take over a position an earlier run left (restart), paid from cash at its average price
    /// so equity does not jump.
    pub fn restore(&mut self, s: SymbolId, qty: Qty, avg_price: Price) {
        if qty.is_zero() {
            return;
        }
        let side = if qty > Decimal::ZERO { Side::Buy } else { Side::Sell };
        let mult = self.multiplier;
        self.cash -= qty * avg_price * mult;
        self.positions.get_mut(s).apply(side, qty.abs(), avg_price, mult);
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::model::order::Purpose;
    use crate::model::{ClientOrderId, InstrumentId};

    fn fill(side: Side, qty: Decimal, price: Decimal, commission: Decimal) -> Fill {
        Fill {
            id: ClientOrderId::from("a-1"),
            symbol: SymbolId(0),
            instrument: InstrumentId::from("SPY"),
            side,
            qty,
            price,
            commission,
            leaves: Decimal::ZERO,
            purpose: Purpose::Entry,
            ts: Timestamp(0),
        }
    }

    #[test]
    fn fills_move_cash_fees_and_positions_and_equity_follows_the_marks() {
        let mut l = Ledger::new(dec!(10000), Decimal::ONE);
        l.apply_fill(&fill(Side::Buy, dec!(10), dec!(100), dec!(1)));
        assert_eq!((l.cash(), l.fees(), l.qty(SymbolId(0))), (dec!(8999), dec!(1), dec!(10)));
        assert_eq!(l.equity(), dec!(9999), "no mark yet: the average price");
        l.mark_trade(SymbolId(0), dec!(101), dec!(5));
        assert_eq!(l.equity(), dec!(10009));
        // A quote marks only while no trade has printed.
        l.clear_marks(SymbolId(0));
        let touch =
            Touch { bid: dec!(99), bid_size: dec!(1), ask: dec!(99.5), ask_size: dec!(1), ts: Timestamp(1) };
        l.mark_quote(SymbolId(0), touch);
        assert_eq!(l.mark(SymbolId(0)), Some(dec!(99.25)));
        l.restore(SymbolId(1), dec!(-5), dec!(50));
        assert_eq!(l.cash(), dec!(8999) + dec!(250));
        assert_eq!(l.positions().count(), 2);
    }
}
