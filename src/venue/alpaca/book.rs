//! The orders an [`AlpacaExecution`](super::AlpacaExecution) follows, and how what Alpaca says
//! about them becomes the spine's past-tense [`OrderEvent`]s. No I/O: the client feeds it
//! `trade_updates` events and REST snapshots, and drains the events it queues.
//!
//! - One of our orders is one or more Alpaca orders ("legs"): a replace makes a new Alpaca
//!   order whose `replaces` names the old one. Events resolve to our order by Alpaca id, by
//!   `replaces`, or by our client order id.
//! - Fills are counted per leg by cumulative `filled_qty`: an event or snapshot adds only what
//!   the leg has not booked yet, so a duplicate delivery (or a fill already recovered from REST)
//!   never books twice; execution ids are remembered too. A snapshot's missing quantity is
//!   priced so the leg's average matches Alpaca's `filled_avg_price`.
//! - Events for orders not followed here are ignored.

use std::collections::{HashMap, HashSet, VecDeque};

use super::wire;
use crate::model::account::{AccountState, OpenOrder, PositionReport};
use crate::model::order::{Fill, OrderEvent, OrderKind, OrderRequest, Replace};
use crate::model::{ClientOrderId, InstrumentId, Money, Price, Qty, Timestamp};

/// Decimal places of a fill price derived from an average.
const PRICE_DP: u32 = 8;

/// How to find a leg at Alpaca.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// By Alpaca's order id.
    Id(String),
    /// By our client order id (the first leg, before Alpaca's id is known).
    ClientId(ClientOrderId),
}

/// One Alpaca order of ours.
#[derive(Debug, Clone)]
struct Leg {
    /// Alpaca's id, once known.
    id: Option<String>,
    /// Quantity booked from it.
    booked: Qty,
    /// Money booked from it; `None` when part of it was booked by an earlier run.
    notional: Option<Money>,
    /// Replaced, or finished.
    done: bool,
}

impl Leg {
    fn new(id: Option<String>) -> Self {
        Self { id, booked: Qty::ZERO, notional: Some(Money::ZERO), done: false }
    }
}

/// One of our orders.
#[derive(Debug, Clone)]
struct Tracked {
    req: OrderRequest,
    legs: Vec<Leg>,
    accepted: bool,
    done: bool,
    /// Executions an earlier run booked, not yet matched to a leg.
    unassigned: Qty,
    /// The change of a replace in flight.
    change: Option<Replace>,
}

/// The followed orders, positions as fills and snapshots say, and the events to hand out.
#[derive(Debug, Default)]
pub struct Book {
    orders: Vec<Tracked>,
    positions: HashMap<InstrumentId, Qty>,
    executions: HashSet<String>,
    events: VecDeque<OrderEvent>,
}

impl Book {
    /// Follow an order about to be sent.
    pub fn track_new(&mut self, req: OrderRequest) {
        self.orders.push(Tracked {
            req,
            legs: vec![Leg::new(None)],
            accepted: false,
            done: false,
            unassigned: Qty::ZERO,
            change: None,
        });
    }

    /// Follow an order an earlier run placed, of which `filled` is booked already.
    pub fn track(&mut self, req: OrderRequest, filled: Qty) {
        self.forget(&req.id);
        self.orders.push(Tracked {
            req,
            legs: vec![Leg::new(None)],
            accepted: true,
            done: false,
            unassigned: filled,
            change: None,
        });
    }

    /// Stop following an order (it was never placed).
    pub fn forget(&mut self, id: &ClientOrderId) {
        self.orders.retain(|t| &t.req.id != id);
    }

    /// Whether an order is followed and not done.
    pub fn is_open(&self, id: &ClientOrderId) -> bool {
        self.index(id).is_some_and(|i| !self.orders[i].done)
    }

    /// Whether Alpaca's id of the order's first leg is known (the POST landed).
    pub fn is_placed(&self, id: &ClientOrderId) -> bool {
        self.index(id).is_some_and(|i| self.orders[i].legs.iter().any(|l| l.id.is_some()))
    }

    /// The next event to hand out.
    pub fn pop_event(&mut self) -> Option<OrderEvent> {
        self.events.pop_front()
    }

    /// Queue an event of the client's own (a refusal, a submission).
    pub fn push_event(&mut self, ev: OrderEvent) {
        self.events.push_back(ev);
    }

    /// The followed position in an instrument (fills and the last account snapshot).
    pub fn position(&self, instrument: &InstrumentId) -> Qty {
        self.positions.get(instrument).copied().unwrap_or_default()
    }

    /// Quantity of the order executed so far, over all its legs.
    pub fn filled(&self, id: &ClientOrderId) -> Qty {
        self.index(id).map_or(Qty::ZERO, |i| {
            let t = &self.orders[i];
            t.unassigned + t.legs.iter().map(|l| l.booked).sum::<Qty>()
        })
    }

    /// The Alpaca id to cancel or replace the order by: its working leg's.
    pub fn working_id(&self, id: &ClientOrderId) -> Option<&str> {
        let t = &self.orders[self.index(id)?];
        t.legs.iter().rev().find(|l| !l.done).and_then(|l| l.id.as_deref())
    }

    /// Where to look up every leg still open.
    pub fn lookups(&self) -> Vec<Lookup> {
        let open = self.orders.iter().filter(|t| !t.done);
        open.flat_map(|t| {
            t.legs.iter().filter(|l| !l.done).map(|l| match &l.id {
                Some(id) => Lookup::Id(id.clone()),
                None => Lookup::ClientId(t.req.id.clone()),
            })
        })
        .collect()
    }

    /// Alpaca took the order: the POST's answer (or the lookup that found it).
    pub fn placed(&mut self, id: &ClientOrderId, order: &wire::Order) {
        if let Some(i) = self.index(id)
            && !self.orders[i].legs.iter().any(|l| l.id.as_deref() == Some(order.id.as_str()))
        {
            self.assign(i, order);
        }
    }

    /// Alpaca took a replace: `new` is the replacing order.
    pub fn replace_sent(&mut self, id: &ClientOrderId, change: Replace, new: &wire::Order) {
        let Some(i) = self.index(id) else { return };
        self.orders[i].change = Some(change);
        if self.resolve(new).is_none() {
            self.orders[i].legs.push(Leg::new(Some(new.id.clone())));
        }
    }

    /// A replace whose outcome is unknown: the change, should the replace have happened.
    pub fn replace_maybe_sent(&mut self, id: &ClientOrderId, change: Replace) {
        if let Some(i) = self.index(id) {
            self.orders[i].change = Some(change);
        }
    }

    /// Map a `trade_updates` event.
    pub fn on_update(&mut self, u: &wire::TradeUpdate, now: Timestamp) {
        let Some((i, j)) = self.resolve(&u.order) else {
            tracing::debug!(event = %u.event, "Alpaca: an event for an order this agent did not place was ignored.");
            return;
        };
        if self.orders[i].done {
            tracing::debug!(event = %u.event, id = %self.orders[i].req.id, "Alpaca: an event for a finished order.");
            return;
        }
        let ts = u.timestamp.map_or(now, wire::ts);
        match u.event.as_str() {
            "new" | "accepted" | "pending_new" => self.accept(i, ts),
            "fill" | "partial_fill" => {
                if let Some(x) = &u.execution_id
                    && !self.executions.insert(x.clone())
                {
                    return;
                }
                let this = u.qty.zip(u.price);
                self.book_fills(i, j, &u.order, this, ts);
            }
            "canceled" => self.finish(i, j, ts, |id, ts| OrderEvent::Canceled { id, ts }),
            "expired" | "done_for_day" => self.finish(i, j, ts, |id, ts| OrderEvent::Expired { id, ts }),
            "rejected" => self.rejected(i, j, ts),
            "replaced" => self.replaced(i, j, &u.order, ts),
            "order_cancel_rejected" => {
                let reason = "Alpaca refused to cancel the order".to_owned();
                let id = self.orders[i].req.id.clone();
                self.events.push_back(OrderEvent::CancelRejected { id, ts, reason });
            }
            "order_replace_rejected" => self.replace_rejected(i, ts),
            "pending_cancel" | "pending_replace" | "stopped" | "suspended" | "calculated" => {
                tracing::debug!(event = %u.event, id = %self.orders[i].req.id, "Alpaca: order event noted.");
            }
            other => {
                tracing::warn!(event = other, id = %self.orders[i].req.id, "Alpaca: an unknown order event was ignored.");
            }
        }
    }

    /// Bring an order up to a REST snapshot of one of its legs: what the stream missed.
    pub fn apply_snapshot(&mut self, o: &wire::Order, now: Timestamp) {
        let Some((i, j)) = self.resolve(o) else { return };
        if self.orders[i].done {
            return;
        }
        let ts = o.updated_at.map_or(now, wire::ts);
        if !matches!(o.status.as_str(), "pending_new" | "rejected") {
            self.accept(i, ts);
        }
        self.book_fills(i, j, o, None, ts);
        match o.status.as_str() {
            "canceled" => self.finish(i, j, ts, |id, ts| OrderEvent::Canceled { id, ts }),
            "expired" | "done_for_day" => self.finish(i, j, ts, |id, ts| OrderEvent::Expired { id, ts }),
            "rejected" => self.rejected(i, j, ts),
            "replaced" => self.replaced(i, j, o, ts),
            _ => {}
        }
    }

    /// Alpaca has no order with this client id: it was never placed.
    pub fn unknown_at_venue(&mut self, id: &ClientOrderId, now: Timestamp) {
        let Some(i) = self.index(id) else { return };
        if self.orders[i].done || self.orders[i].legs.iter().any(|l| l.id.is_some()) {
            return;
        }
        self.orders[i].done = true;
        let reason = "Alpaca has no order with this client order id: it was never placed".to_owned();
        self.events.push_back(OrderEvent::Rejected { id: id.clone(), ts: now, reason });
    }

    /// An execution from the account's activities, if it belongs to a followed order (`order`
    /// resolves an Alpaca id this book does not know yet).
    pub fn activity_fill(&mut self, a: &wire::FillActivity, order: Option<&wire::Order>) -> Option<Fill> {
        let i = match self.leg_of(&a.order_id) {
            Some((i, _)) => i,
            None => self.resolve(order?)?.0,
        };
        let t = &self.orders[i].req;
        Some(Fill {
            id: t.id.clone(),
            symbol: t.symbol,
            instrument: t.instrument.clone(),
            side: t.side,
            qty: a.qty,
            price: a.price,
            commission: Money::ZERO,
            leaves: a.leaves_qty,
            purpose: t.purpose,
            ts: wire::ts(a.transaction_time),
        })
    }

    /// Whether an Alpaca order id belongs to a followed order.
    pub fn knows(&self, alpaca_id: &str) -> bool {
        self.leg_of(alpaca_id).is_some()
    }

    /// The account as Alpaca reports it; the positions also become the followed ones.
    pub fn account_state(
        &mut self,
        account: &wire::Account,
        positions: &[wire::Position],
        open: &[wire::Order],
        now: Timestamp,
    ) -> AccountState {
        self.positions = positions.iter().map(|p| (InstrumentId(p.symbol.clone()), p.signed_qty())).collect();
        AccountState {
            ts: now,
            cash: account.cash,
            buying_power: account.buying_power,
            equity: account.equity,
            positions: positions
                .iter()
                .filter(|p| !p.signed_qty().is_zero())
                .map(|p| PositionReport {
                    instrument: InstrumentId(p.symbol.clone()),
                    qty: p.signed_qty(),
                    avg_price: p.avg_entry_price,
                })
                .collect(),
            open_orders: open.iter().map(|o| self.open_order(o)).collect(),
        }
    }

    fn open_order(&self, o: &wire::Order) -> OpenOrder {
        let id = match self.leg_of(&o.id) {
            Some((i, _)) => self.orders[i].req.id.clone(),
            None => ClientOrderId(o.client_order_id.clone()),
        };
        OpenOrder {
            id,
            instrument: InstrumentId(o.symbol.clone()),
            side: o.side,
            qty: o.qty.unwrap_or_default(),
            filled: o.filled_qty,
            kind: order_kind(o),
        }
    }

    fn index(&self, id: &ClientOrderId) -> Option<usize> {
        self.orders.iter().rposition(|t| &t.req.id == id)
    }

    fn leg_of(&self, alpaca_id: &str) -> Option<(usize, usize)> {
        self.orders
            .iter()
            .enumerate()
            .find_map(|(i, t)| t.legs.iter().position(|l| l.id.as_deref() == Some(alpaca_id)).map(|j| (i, j)))
    }

    /// The followed order and leg an Alpaca order is, learning new legs on the way: the
    /// first sighting of a first leg (by our client id) and replacements (by `replaces`).
    fn resolve(&mut self, o: &wire::Order) -> Option<(usize, usize)> {
        if let Some(found) = self.leg_of(&o.id) {
            return Some(found);
        }
        let i = match o.replaces.as_deref().and_then(|r| self.leg_of(r)) {
            Some((i, _)) => i,
            None => self.index(&ClientOrderId(o.client_order_id.clone()))?,
        };
        Some((i, self.assign(i, o)))
    }

    /// Record `o` as a leg of order `i`: the first leg without an id, else a new one. Fills an
    /// earlier run booked are matched to it first.
    fn assign(&mut self, i: usize, o: &wire::Order) -> usize {
        let t = &mut self.orders[i];
        let j = match t.legs.iter().position(|l| l.id.is_none()) {
            Some(j) => j,
            None => {
                t.legs.push(Leg::new(None));
                t.legs.len() - 1
            }
        };
        let leg = &mut t.legs[j];
        leg.id = Some(o.id.clone());
        let earlier = o.filled_qty.min(t.unassigned).max(Qty::ZERO);
        if !earlier.is_zero() {
            t.unassigned -= earlier;
            leg.booked = earlier;
            leg.notional = None;
        }
        j
    }

    fn accept(&mut self, i: usize, ts: Timestamp) {
        let t = &mut self.orders[i];
        if !t.accepted {
            t.accepted = true;
            self.events.push_back(OrderEvent::Accepted { id: t.req.id.clone(), ts });
        }
    }

    /// Book what leg `j` executed beyond what is booked: `this` is the execution an event
    /// reports (quantity, price); anything else missing is priced from the leg's average.
    fn book_fills(&mut self, i: usize, j: usize, o: &wire::Order, this: Option<(Qty, Price)>, ts: Timestamp) {
        let missing = o.filled_qty - self.orders[i].legs[j].booked;
        if missing <= Qty::ZERO {
            return;
        }
        self.accept(i, ts);
        let this = this.filter(|(q, _)| *q > Qty::ZERO && *q <= missing);
        let this_qty = this.map_or(Qty::ZERO, |(q, _)| q);
        let earlier = missing - this_qty;
        if earlier > Qty::ZERO {
            let leg = &self.orders[i].legs[j];
            let this_money = this.map_or(Money::ZERO, |(q, p)| q * p);
            let price = match (o.filled_avg_price, leg.notional) {
                (Some(avg), Some(booked)) => {
                    ((avg * o.filled_qty - booked - this_money) / earlier).round_dp(PRICE_DP)
                }
                (Some(avg), None) => avg,
                (None, _) => this.map_or(Price::ZERO, |(_, p)| p),
            };
            self.book_fill(i, j, earlier, price, o.leaves() + this_qty, ts);
        }
        if let Some((q, p)) = this {
            self.book_fill(i, j, q, p, o.leaves(), ts);
        }
    }

    fn book_fill(&mut self, i: usize, j: usize, qty: Qty, price: Price, leaves: Qty, ts: Timestamp) {
        let t = &mut self.orders[i];
        let leg = &mut t.legs[j];
        leg.booked += qty;
        leg.notional = leg.notional.map(|n| n + qty * price);
        *self.positions.entry(t.req.instrument.clone()).or_default() += t.req.side.sign() * qty;
        let fill = Fill {
            id: t.req.id.clone(),
            symbol: t.req.symbol,
            instrument: t.req.instrument.clone(),
            side: t.req.side,
            qty,
            price,
            commission: Money::ZERO,
            leaves,
            purpose: t.req.purpose,
            ts,
        };
        if leaves.is_zero() {
            leg.done = true;
            t.done = true;
            self.events.push_back(OrderEvent::Filled(fill));
        } else {
            self.events.push_back(OrderEvent::PartiallyFilled(fill));
        }
    }

    /// Leg `j` ended; the order ends with it when it was the working leg.
    fn finish(
        &mut self,
        i: usize,
        j: usize,
        ts: Timestamp,
        event: impl FnOnce(ClientOrderId, Timestamp) -> OrderEvent,
    ) {
        let t = &mut self.orders[i];
        t.legs[j].done = true;
        if t.legs.iter().all(|l| l.done) {
            t.done = true;
            self.events.push_back(event(t.req.id.clone(), ts));
        }
    }

    /// Leg `j` was rejected: a replacement refused while the order it replaces still works is
    /// a refused replace; otherwise the order is rejected.
    fn rejected(&mut self, i: usize, j: usize, ts: Timestamp) {
        if j > 0 && !self.orders[i].legs[j - 1].done {
            self.orders[i].legs[j].done = true;
            self.replace_rejected(i, ts);
            return;
        }
        let reason = "Alpaca rejected the order".to_owned();
        self.finish(i, j, ts, |id, ts| OrderEvent::Rejected { id, ts, reason });
    }

    fn replace_rejected(&mut self, i: usize, ts: Timestamp) {
        let t = &mut self.orders[i];
        t.change = None;
        let reason = "Alpaca refused to replace the order".to_owned();
        self.events.push_back(OrderEvent::ReplaceRejected { id: t.req.id.clone(), ts, reason });
    }

    /// Leg `j` was replaced by `o.replaced_by`.
    fn replaced(&mut self, i: usize, j: usize, o: &wire::Order, ts: Timestamp) {
        if self.orders[i].legs[j].done {
            return;
        }
        self.accept(i, ts);
        let t = &mut self.orders[i];
        t.legs[j].done = true;
        if let Some(new) = &o.replaced_by
            && !t.legs.iter().any(|l| l.id.as_deref() == Some(new.as_str()))
        {
            t.legs.push(Leg::new(Some(new.clone())));
        }
        let change = t.change.take().unwrap_or_default();
        if let Some(q) = change.qty {
            t.req.qty = q;
        }
        self.events.push_back(OrderEvent::Replaced { id: t.req.id.clone(), ts, change });
    }
}

/// How an Alpaca order is priced, in our terms (a trailing stop reads as a stop at its
/// current trigger, else as a market order).
pub fn order_kind(o: &wire::Order) -> OrderKind {
    match (o.order_type.as_str(), o.limit_price, o.stop_price) {
        ("limit", Some(limit), _) => OrderKind::Limit { limit },
        ("stop_limit", Some(limit), Some(stop)) => OrderKind::StopLimit { stop, limit },
        ("stop" | "trailing_stop", _, Some(stop)) => OrderKind::Stop { stop },
        _ => OrderKind::Market,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::order::Purpose;
    use crate::model::{Side, SymbolId};
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    const NOW: Timestamp = Timestamp(1_000);

    fn req(id: &str, qty: Decimal) -> OrderRequest {
        OrderRequest {
            id: ClientOrderId::from(id),
            symbol: SymbolId(3),
            instrument: InstrumentId::from("SPY"),
            side: Side::Buy,
            qty,
            kind: OrderKind::Limit { limit: dec!(500) },
            purpose: Purpose::Entry,
            ref_price: dec!(500),
            ts: Timestamp(0),
            expire_at: None,
        }
    }

    fn order(
        id: &str,
        client: &str,
        status: &str,
        qty: Decimal,
        filled: Decimal,
        avg: Option<Decimal>,
    ) -> wire::Order {
        wire::Order {
            id: id.into(),
            client_order_id: client.into(),
            status: status.into(),
            symbol: "SPY".into(),
            qty: Some(qty),
            filled_qty: filled,
            filled_avg_price: avg,
            side: Side::Buy,
            order_type: "limit".into(),
            limit_price: Some(dec!(500)),
            stop_price: None,
            replaces: None,
            replaced_by: None,
            updated_at: None,
        }
    }

    fn update(event: &str, exec: Option<(&str, Decimal, Decimal)>, o: wire::Order) -> wire::TradeUpdate {
        wire::TradeUpdate {
            event: event.into(),
            execution_id: exec.map(|e| e.0.to_owned()),
            timestamp: None,
            price: exec.map(|e| e.2),
            qty: exec.map(|e| e.1),
            order: o,
        }
    }

    fn drain(b: &mut Book) -> Vec<OrderEvent> {
        std::iter::from_fn(|| b.pop_event()).collect()
    }

    fn fills(evs: &[OrderEvent]) -> Vec<(Decimal, Decimal, Decimal, bool)> {
        evs.iter()
            .filter_map(|e| e.fill().map(|f| (f.qty, f.price, f.leaves, matches!(e, OrderEvent::Filled(_)))))
            .collect()
    }

    #[test]
    fn stream_events_map_to_the_past_tense_once_each() {
        let mut b = Book::default();
        b.track_new(req("a-1", dec!(10)));
        b.placed(&"a-1".into(), &order("x1", "a-1", "accepted", dec!(10), dec!(0), None));
        for ev in ["pending_new", "accepted", "new"] {
            b.on_update(&update(ev, None, order("x1", "a-1", "new", dec!(10), dec!(0), None)), NOW);
        }
        let part = order("x1", "a-1", "partially_filled", dec!(10), dec!(4), Some(dec!(500)));
        b.on_update(&update("partial_fill", Some(("e1", dec!(4), dec!(500))), part.clone()), NOW);
        // The same execution again, and again under another id: nothing more.
        b.on_update(&update("partial_fill", Some(("e1", dec!(4), dec!(500))), part.clone()), NOW);
        b.on_update(&update("partial_fill", Some(("e1-dup", dec!(4), dec!(500))), part), NOW);
        b.on_update(&update("pending_cancel", None, order("x1", "a-1", "new", dec!(10), dec!(4), None)), NOW);
        b.on_update(&update("something_new", None, order("x1", "a-1", "new", dec!(10), dec!(4), None)), NOW);
        let done = order("x1", "a-1", "filled", dec!(10), dec!(10), Some(dec!(499.4)));
        b.on_update(&update("fill", Some(("e2", dec!(6), dec!(499))), done), NOW);
        let evs = drain(&mut b);
        assert!(matches!(evs[0], OrderEvent::Accepted { .. }), "{evs:?}");
        assert_eq!(evs.len(), 3, "{evs:?}");
        assert_eq!(fills(&evs), [(dec!(4), dec!(500), dec!(6), false), (dec!(6), dec!(499), dec!(0), true)]);
        let f = evs[2].fill().unwrap();
        assert_eq!((f.symbol, f.commission, f.purpose), (SymbolId(3), dec!(0), Purpose::Entry));
        assert_eq!(b.position(&InstrumentId::from("SPY")), dec!(10));
        // Events after the end, and for orders of others, are ignored.
        b.on_update(&update("canceled", None, order("x1", "a-1", "canceled", dec!(10), dec!(10), None)), NOW);
        b.on_update(
            &update(
                "fill",
                Some(("e9", dec!(1), dec!(1))),
                order("zz", "other", "filled", dec!(1), dec!(1), None),
            ),
            NOW,
        );
        assert!(drain(&mut b).is_empty());
    }

    #[test]
    fn a_snapshot_recovers_missed_fills_priced_to_the_average() {
        let mut b = Book::default();
        b.track_new(req("a-1", dec!(10)));
        b.placed(&"a-1".into(), &order("x1", "a-1", "accepted", dec!(10), dec!(0), None));
        b.on_update(
            &update(
                "partial_fill",
                Some(("e1", dec!(4), dec!(500))),
                order("x1", "a-1", "partially_filled", dec!(10), dec!(4), Some(dec!(500))),
            ),
            NOW,
        );
        // Missed: 6 more at 501 (average 500.6). REST says so; the late stream copy adds nothing.
        let filled = order("x1", "a-1", "filled", dec!(10), dec!(10), Some(dec!(500.6)));
        b.apply_snapshot(&filled, NOW);
        b.on_update(&update("fill", Some(("e2", dec!(6), dec!(501))), filled), NOW);
        let evs = drain(&mut b);
        assert_eq!(
            fills(&evs),
            [(dec!(4), dec!(500), dec!(6), false), (dec!(6), dec!(501), dec!(0), true)],
            "{evs:?}"
        );
        assert!(b.lookups().is_empty());
    }

    #[test]
    fn a_replace_keeps_one_order_over_two_alpaca_ids() {
        let mut b = Book::default();
        b.track_new(req("a-1", dec!(10)));
        b.placed(&"a-1".into(), &order("x1", "a-1", "new", dec!(10), dec!(0), None));
        let change = Replace { qty: Some(dec!(12)), limit: Some(dec!(501)), stop: None };
        let mut new = order("x2", "alpaca-made-up", "pending_new", dec!(12), dec!(0), None);
        new.replaces = Some("x1".into());
        b.replace_sent(&"a-1".into(), change, &new);
        // The replacement is what a cancel or another replace acts on from now on.
        assert_eq!(b.working_id(&"a-1".into()), Some("x2"));
        let mut old = order("x1", "a-1", "replaced", dec!(10), dec!(0), None);
        old.replaced_by = Some("x2".into());
        b.on_update(&update("replaced", None, old), NOW);
        assert_eq!(b.working_id(&"a-1".into()), Some("x2"));
        b.on_update(&update("new", None, new.clone()), NOW);
        let mut filled = new;
        (filled.status, filled.filled_qty) = ("filled".into(), dec!(12));
        b.on_update(&update("fill", Some(("e1", dec!(12), dec!(501))), filled), NOW);
        let evs = drain(&mut b);
        assert_eq!(evs.len(), 3, "{evs:?}");
        assert!(matches!(&evs[0], OrderEvent::Accepted { .. }));
        assert_eq!(evs[1], OrderEvent::Replaced { id: "a-1".into(), ts: NOW, change });
        assert_eq!(fills(&evs), [(dec!(12), dec!(501), dec!(0), true)]);
    }

    #[test]
    fn a_replacement_refused_after_the_old_order_filled_is_a_refused_replace() {
        let mut b = Book::default();
        b.track_new(req("a-1", dec!(10)));
        b.placed(&"a-1".into(), &order("x1", "a-1", "new", dec!(10), dec!(0), None));
        let mut new = order("x2", "made-up", "pending_new", dec!(12), dec!(0), None);
        new.replaces = Some("x1".into());
        b.replace_sent(&"a-1".into(), Replace { qty: Some(dec!(12)), ..Replace::default() }, &new);
        new.status = "rejected".into();
        b.on_update(&update("rejected", None, new), NOW);
        b.on_update(
            &update(
                "fill",
                Some(("e1", dec!(10), dec!(500))),
                order("x1", "a-1", "filled", dec!(10), dec!(10), Some(dec!(500))),
            ),
            NOW,
        );
        let evs = drain(&mut b);
        assert!(matches!(&evs[0], OrderEvent::ReplaceRejected { .. }), "{evs:?}");
        assert!(matches!(&evs[2], OrderEvent::Filled(f) if f.qty == dec!(10)), "{evs:?}");
    }

    #[test]
    fn terminal_events_end_the_order() {
        for (event, want) in [
            ("canceled", "canceled"),
            ("expired", "expired"),
            ("done_for_day", "expired"),
            ("rejected", "rejected"),
        ] {
            let mut b = Book::default();
            b.track_new(req("a-1", dec!(10)));
            b.on_update(&update(event, None, order("x1", "a-1", event, dec!(10), dec!(0), None)), NOW);
            let evs = drain(&mut b);
            let last = serde_json::to_value(evs.last().unwrap()).unwrap();
            assert_eq!(last["event"], want, "{event}: {evs:?}");
            assert!(!b.is_open(&"a-1".into()));
        }
        let mut b = Book::default();
        b.track_new(req("a-1", dec!(10)));
        b.on_update(
            &update("order_cancel_rejected", None, order("x1", "a-1", "filled", dec!(10), dec!(0), None)),
            NOW,
        );
        assert!(matches!(drain(&mut b)[..], [OrderEvent::CancelRejected { .. }]));
        assert!(b.is_open(&"a-1".into()));
    }

    #[test]
    fn fills_an_earlier_run_booked_are_not_booked_again() {
        let mut b = Book::default();
        b.track(req("a-1", dec!(10)), dec!(4));
        assert_eq!(b.lookups(), [Lookup::ClientId("a-1".into())]);
        // The snapshot says 7 executed at 500.3 on average: 3 are new, priced at the average.
        b.apply_snapshot(&order("x1", "a-1", "partially_filled", dec!(10), dec!(7), Some(dec!(500.3))), NOW);
        let evs = drain(&mut b);
        assert_eq!(fills(&evs), [(dec!(3), dec!(500.3), dec!(3), false)], "{evs:?}");
        assert_eq!(b.lookups(), [Lookup::Id("x1".into())]);
    }

    #[test]
    fn the_account_names_followed_orders_by_our_ids() {
        let mut b = Book::default();
        b.track_new(req("a-1", dec!(10)));
        b.placed(&"a-1".into(), &order("x1", "a-1", "new", dec!(10), dec!(0), None));
        let account: wire::Account =
            serde_json::from_str(r#"{"cash":"1000","buying_power":"2000","equity":"1500"}"#).unwrap();
        let positions: Vec<wire::Position> = serde_json::from_str(
            r#"[{"symbol":"SPY","qty":"-5","side":"short","avg_entry_price":"500"},{"symbol":"QQQ","qty":"0","avg_entry_price":"0"}]"#,
        )
        .unwrap();
        let mut stop = order("y9", "by-hand", "new", dec!(1), dec!(0), None);
        (stop.order_type, stop.limit_price, stop.stop_price) = ("stop".into(), None, Some(dec!(480)));
        let s = b.account_state(
            &account,
            &positions,
            &[order("x1", "a-1", "new", dec!(10), dec!(2), None), stop],
            NOW,
        );
        assert_eq!((s.cash, s.buying_power, s.equity), (dec!(1000), dec!(2000), dec!(1500)));
        assert_eq!(s.positions.len(), 1);
        assert_eq!((s.positions[0].qty, b.position(&InstrumentId::from("SPY"))), (dec!(-5), dec!(-5)));
        assert_eq!(s.open_orders[0].id.as_str(), "a-1");
        assert_eq!(s.open_orders[0].kind, OrderKind::Limit { limit: dec!(500) });
        assert_eq!(
            (s.open_orders[1].id.as_str(), s.open_orders[1].kind),
            ("by-hand", OrderKind::Stop { stop: dec!(480) })
        );
    }
}
