//! The agent's own books: its account (cash, fees, positions, marks) and the orders it has at
//! the venue — the ones still in flight among them.
//!
//! The venue keeps its account and the agent keeps this one; they agree because a fill
//! changes this book only when its event arrives from the venue, with the venue's price and
//! commission. Marks follow the prints and quotes the agent sees (last trade, else quote mid),
//! as the simulated venue marks.
//!
//! An order **blocks** from the moment it is sent until the venue has said what became of it
//! now: a market-type order (market, marketable limit) until it fills, partly fills, or ends;
//! a resting one (limit, stop) until it is accepted. While an order blocks, the agent sends no
//! new entry: its next decision waits for the outcome (a reverse is a close, then an open once
//! the close has filled), and what it holds is its *projected* position — the position plus
//! what the blocking orders will add.

use rust_decimal::Decimal;

use crate::market::event::Quote;
use crate::model::ledger::Ledger;
use crate::model::order::{Fill, OrderEvent, OrderKind, OrderRequest, Position};
use crate::model::{ClientOrderId, Money, Price, Qty, SymbolId};

/// An order the agent has at the venue.
#[derive(Debug, Clone)]
pub(crate) struct Tracked {
    /// The order as sent.
    pub req: OrderRequest,
    /// Quantity not yet filled.
    pub leaves: Qty,
    /// Whether the agent waits for its outcome before deciding anything new.
    pub blocking: bool,
}

/// Cash, positions, marks ([`Ledger`]) and working orders.
#[derive(Debug, Clone)]
pub(crate) struct Book {
    ledger: Ledger,
    orders: Vec<Tracked>,
}

impl Book {
    /// An account holding `cash` and nothing else.
    pub fn new(cash: Money, multiplier: Decimal) -> Self {
        Self { ledger: Ledger::new(cash, multiplier), orders: Vec::new() }
    }

    /// A trade printed.
    #[inline]
    pub fn mark_trade(&mut self, s: SymbolId, price: Price, size: Qty) {
        self.ledger.mark_trade(s, price, size);
    }

    /// A quote arrived (or was computed, for a synthetic option).
    #[inline]
    pub fn mark_quote(&mut self, q: &Quote) {
        self.ledger.mark_quote(q.symbol, q.touch());
    }

    /// Forget `s`'s prices (a new option contract is traded under the same symbol).
    pub fn clear_marks(&mut self, s: SymbolId) {
        self.ledger.clear_marks(s);
    }

    /// The position in `s`.
    #[inline]
    pub fn position(&self, s: SymbolId) -> Position {
        self.ledger.position(s)
    }

    /// The signed quantity held in `s`.
    #[inline]
    pub fn qty(&self, s: SymbolId) -> Qty {
        self.ledger.qty(s)
    }

    /// What will be held in `s` once the blocking orders are done.
    #[inline(always)]
    pub fn projected_qty(&self, s: SymbolId) -> Qty {
        let held = self.qty(s);
        if self.orders.is_empty() { held } else { self.with_blocking(s, held) }
    }

    /// `held` plus what the blocking orders on `s` will add.
    #[inline(never)]
    fn with_blocking(&self, s: SymbolId, held: Qty) -> Qty {
        self.orders
            .iter()
            .filter(|o| o.blocking && o.req.symbol == s)
            .fold(held, |q, o| q + o.req.side.sign() * o.leaves)
    }

    /// Cash.
    #[inline]
    pub fn cash(&self) -> Money {
        self.ledger.cash()
    }

    /// Commissions paid.
    pub fn fees(&self) -> Money {
        self.ledger.fees()
    }

    /// The mark of `s`: its last trade, else its quote mid.
    #[inline]
    pub fn mark(&self, s: SymbolId) -> Option<Price> {
        self.ledger.mark(s)
    }

    /// Cash plus every position at its mark (or its average price).
    pub fn equity(&self) -> Money {
        self.ledger.equity()
    }

    /// Book an execution the venue reported.
    pub fn apply_fill(&mut self, f: &Fill) {
        self.ledger.apply_fill(f);
    }

    /// Take over a position an earlier run left (restart), paid from cash at its average price
    /// so equity does not jump.
    pub fn restore(&mut self, s: SymbolId, qty: Qty, avg_price: Price) {
        self.ledger.restore(s, qty, avg_price);
    }

    /// Take over an order still working at the venue (restart): it blocks nothing.
    pub fn restore_order(&mut self, req: OrderRequest, leaves: Qty) {
        self.orders.push(Tracked { req, leaves, blocking: false });
    }

    /// An order was sent.
    pub fn sent(&mut self, req: &OrderRequest) {
        // Every order blocks until the venue answers; a resting one only until it is accepted.
        self.orders.push(Tracked { req: req.clone(), leaves: req.qty, blocking: true });
    }

    /// Follow an order event; returns the order it is about, if the agent sent it.
    pub fn on_order_event(&mut self, ev: &OrderEvent) -> Option<&Tracked> {
        let i = self.orders.iter().position(|o| &o.req.id == ev.id())?;
        let o = &mut self.orders[i];
        match ev {
            OrderEvent::Accepted { .. }
                if !matches!(o.req.kind, OrderKind::Market | OrderKind::MarketableLimit { .. }) =>
            {
                o.blocking = false;
            }
            OrderEvent::PartiallyFilled(f) => {
                o.leaves = f.leaves;
                o.blocking = false;
            }
            OrderEvent::Replaced { change, .. } => {
                if let Some(q) = change.qty {
                    let filled = o.req.qty - o.leaves;
                    o.req.qty = q;
                    o.leaves = q - filled;
                }
            }
            _ => {}
        }
        if ev.is_terminal() {
            // Kept until the caller has read it: removed by `forget_done`.
            o.blocking = false;
            o.leaves = Decimal::ZERO;
        }
        Some(&self.orders[i])
    }

    /// Drop orders that are done.
    pub fn forget_done(&mut self) {
        self.orders.retain(|o| !o.leaves.is_zero());
    }

    /// Whether an order blocks new decisions.
    #[inline]
    pub fn blocked(&self) -> bool {
        !self.orders.is_empty() && self.orders.iter().any(|o| o.blocking)
    }

    /// Whether any order is working at the venue.
    #[inline]
    pub fn has_orders(&self) -> bool {
        !self.orders.is_empty()
    }

    /// The ids of the working orders.
    pub fn order_ids(&self) -> impl Iterator<Item = &ClientOrderId> {
        self.orders.iter().map(|o| &o.req.id)
    }
}
