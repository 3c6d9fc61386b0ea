//! The paper broker: a deterministic matching simulator for backtests and paper runs.
//!
//! - Market orders fill against the latest quote (ask for buys, bid for sells) when the data
//!   has quotes, else against the latest trade moved by `slippage_ticks` against us.
//! - Marketable limits are priced at the far touch (or the last trade) ± `offset_ticks`.
//! - Resting limits fill at their limit when a trade prints at or through it (or the far
//!   touch reaches it); stops trigger when a trade prints at or through the stop.
//! - With `size_limited`, an execution takes at most the trade's (or touch's) size, so large
//!   orders fill partially over several prints.
//! - Commissions: per share (or per contract for options) plus per order on its first fill.
//!
//! All state changes happen in method calls; events are queued in an outbox that the agent
//! loop drains, so the same inputs always give the same events.

use rust_decimal::Decimal;

use crate::market::event::{Quote, Trade};
use crate::model::order::{Fill, OrderEvent, OrderKind, OrderRequest, Position, Purpose};
use crate::model::{ClientOrderId, Money, Price, Qty, Side, SymbolId, Timestamp};
use crate::risk::gate::RiskApproved;

/// Paper broker settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperConfig {
    /// Starting cash.
    pub starting_cash: Money,
    /// Commission per share (equities).
    pub commission_per_share: Money,
    /// Commission per contract (options).
    pub commission_per_contract: Money,
    /// Commission per order, charged on its first execution.
    pub commission_per_order: Money,
    /// Ticks of adverse slippage on fills against trades.
    pub slippage_ticks: u32,
    /// Price increment.
    pub tick: Price,
    /// Contract multiplier (1 for shares, 100 for US equity options).
    pub multiplier: Decimal,
    /// Whether quantities are option contracts (commission per contract).
    pub contracts: bool,
    /// Limit each execution to the size printed / quoted.
    pub size_limited: bool,
}

impl Default for PaperConfig {
    fn default() -> Self {
        Self {
            starting_cash: Decimal::from(100_000),
            commission_per_share: Decimal::ZERO,
            commission_per_contract: Decimal::ZERO,
            commission_per_order: Decimal::ZERO,
            slippage_ticks: 0,
            tick: Decimal::new(1, 2),
            multiplier: Decimal::ONE,
            contracts: false,
            size_limited: false,
        }
    }
}

#[derive(Debug, Clone)]
struct Working {
    req: OrderRequest,
    leaves: Qty,
    /// Effective limit (limit, marketable limit or triggered stop-limit).
    limit: Option<Price>,
    /// Untriggered stop price.
    stop: Option<Price>,
    filled_once: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Book {
    last: Option<(Price, Qty)>,
    quote: Option<Quote>,
}

/// The paper broker.
#[derive(Debug, Clone)]
pub struct PaperBroker {
    cfg: PaperConfig,
    working: Vec<Working>,
    books: Vec<Book>,
    positions: Vec<Position>,
    cash: Money,
    fees: Money,
    outbox: Vec<OrderEvent>,
}

impl PaperBroker {
    /// A broker with `cfg` and empty positions.
    pub fn new(cfg: PaperConfig) -> Self {
        let cash = cfg.starting_cash;
        Self {
            cfg,
            working: Vec::new(),
            books: Vec::new(),
            positions: Vec::new(),
            cash,
            fees: Decimal::ZERO,
            outbox: Vec::with_capacity(8),
        }
    }

    /// The configuration.
    #[inline]
    pub fn config(&self) -> &PaperConfig {
        &self.cfg
    }

    #[inline]
    fn book(&mut self, s: SymbolId) -> &mut Book {
        let i = usize::from(s.0);
        if self.books.len() <= i {
            self.books.resize(i + 1, Book::default());
        }
        &mut self.books[i]
    }

    fn pos_mut(&mut self, s: SymbolId) -> &mut Position {
        let i = usize::from(s.0);
        if self.positions.len() <= i {
            self.positions.resize(i + 1, Position::default());
        }
        &mut self.positions[i]
    }

    /// The position in `symbol`.
    #[inline]
    pub fn position(&self, symbol: SymbolId) -> Position {
        self.positions.get(usize::from(symbol.0)).copied().unwrap_or_default()
    }

    /// The signed quantity held in `symbol` (zero when none).
    #[inline]
    pub fn position_qty(&self, symbol: SymbolId) -> Qty {
        self.positions.get(usize::from(symbol.0)).map_or(Decimal::ZERO, |p| p.qty)
    }

    /// Cash after all executions and commissions.
    #[inline]
    pub fn cash(&self) -> Money {
        self.cash
    }

    /// Commissions paid so far.
    pub fn fees(&self) -> Money {
        self.fees
    }

    /// The latest trade price of `symbol`.
    pub fn last_price(&self, symbol: SymbolId) -> Option<Price> {
        self.books.get(usize::from(symbol.0)).and_then(|b| b.last.map(|l| l.0))
    }

    /// The mark of `symbol`: its last trade, else its quote mid.
    #[inline]
    pub fn mark(&self, symbol: SymbolId) -> Option<Price> {
        let b = self.books.get(usize::from(symbol.0))?;
        match b.last {
            Some((p, _)) => Some(p),
            None => quote_mid(b),
        }
    }

    /// Account equity: cash plus every position marked at its last trade (or quote mid).
    pub fn equity(&self) -> Money {
        let mut e = self.cash;
        for (i, p) in self.positions.iter().enumerate() {
            if !p.qty.is_zero() {
                let sym = SymbolId(u16::try_from(i).unwrap_or(u16::MAX));
                let mark = self.mark(sym).unwrap_or(p.avg_price);
                e += p.qty * mark * self.cfg.multiplier;
            }
        }
        e
    }

    /// Whether any order is working.
    #[inline]
    pub fn has_working_orders(&self) -> bool {
        !self.working.is_empty()
    }

    /// Whether events are queued for [`Self::drain_events`].
    #[inline]
    pub fn has_events(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Take the queued events (appends to `out`).
    #[inline]
    pub fn drain_events(&mut self, out: &mut Vec<OrderEvent>) {
        out.append(&mut self.outbox);
    }

    /// Submit an approved order; it is accepted or rejected at once, and a marketable order
    /// executes immediately against the latest market data.
    pub fn submit(&mut self, order: RiskApproved<OrderRequest>, now: Timestamp) {
        let req = order.into_inner();
        self.outbox.push(OrderEvent::Submitted { id: req.id.clone(), ts: now });
        let reject =
            |reason: &str| OrderEvent::Rejected { id: req.id.clone(), ts: now, reason: reason.to_owned() };
        if req.qty <= Decimal::ZERO {
            self.outbox.push(reject("quantity must be positive"));
            return;
        }
        let tick = self.cfg.tick;
        let book = *self.book(req.symbol);
        let (limit, stop) = match req.kind {
            OrderKind::Market => (None, None),
            OrderKind::Limit { limit } => (Some(limit), None),
            OrderKind::MarketableLimit { offset_ticks } => {
                let touch = match (book.quote, req.side) {
                    (Some(q), Side::Buy) => Some(q.ask),
                    (Some(q), Side::Sell) => Some(q.bid),
                    (None, _) => book.last.map(|l| l.0),
                };
                let Some(touch) = touch else {
                    self.outbox.push(reject("no market data to price a marketable limit"));
                    return;
                };
                (Some(touch + req.side.sign() * tick * Decimal::from(offset_ticks)), None)
            }
            OrderKind::Stop { stop } => (None, Some(stop)),
            OrderKind::StopLimit { stop, limit } => (Some(limit), Some(stop)),
        };
        if limit.is_some_and(|l| l <= Decimal::ZERO) || stop.is_some_and(|s| s <= Decimal::ZERO) {
            self.outbox.push(reject("prices must be positive"));
            return;
        }
        self.outbox.push(OrderEvent::Accepted { id: req.id.clone(), ts: now });
        let leaves = req.qty;
        self.working.push(Working { req, leaves, limit, stop, filled_once: false });
        // Try to execute at once against the latest quote, else the latest trade.
        let idx = self.working.len() - 1;
        if let Some(q) = book.quote {
            self.match_quote(idx, &q, now);
        } else if let Some((p, size)) = book.last {
            self.match_price(idx, p, size, now);
        }
        self.working.retain(|w| !w.leaves.is_zero());
    }

    /// Cancel a working order.
    pub fn cancel(&mut self, id: &ClientOrderId, now: Timestamp) {
        if let Some(i) = self.working.iter().position(|w| &w.req.id == id) {
            let w = self.working.remove(i);
            self.outbox.push(OrderEvent::Canceled { id: w.req.id, ts: now });
        }
    }

    /// Cancel every working order.
    pub fn cancel_all(&mut self, now: Timestamp) {
        for w in std::mem::take(&mut self.working) {
            self.outbox.push(OrderEvent::Canceled { id: w.req.id, ts: now });
        }
    }

    /// Expire orders whose time in force has run out at `now`.
    pub fn expire(&mut self, now: Timestamp) {
        if self.working.iter().any(|w| w.req.expire_at.is_some_and(|e| e <= now)) {
            let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.working)
                .into_iter()
                .partition(|w| w.req.expire_at.is_some_and(|e| e <= now));
            self.working = keep;
            for w in gone {
                self.outbox.push(OrderEvent::Expired { id: w.req.id, ts: now });
            }
        }
    }

    /// A trade printed: remember it and match working orders against it.
    #[inline]
    pub fn on_trade(&mut self, t: &Trade) {
        self.book(t.symbol).last = Some((t.price, t.size));
        if self.working.is_empty() {
            return;
        }
        let has_quotes = self.book(t.symbol).quote.is_some();
        for i in 0..self.working.len() {
            if self.working[i].req.symbol != t.symbol {
                continue;
            }
            // Stops trigger on trades; with quotes, executions happen against the quote.
            self.trigger(i, t.price);
            if has_quotes && self.working[i].stop.is_none() {
                if let Some(q) = self.books[usize::from(t.symbol.0)].quote {
                    self.match_quote(i, &q, t.ts);
                }
            } else {
                self.match_price(i, t.price, t.size, t.ts);
            }
        }
        self.working.retain(|w| !w.leaves.is_zero());
    }

    /// A quote update: remember it and match working orders against it.
    #[inline]
    pub fn on_quote(&mut self, q: &Quote) {
        self.book(q.symbol).quote = Some(*q);
        if self.working.is_empty() {
            return;
        }
        for i in 0..self.working.len() {
            if self.working[i].req.symbol == q.symbol && self.working[i].stop.is_none() {
                self.match_quote(i, q, q.ts);
            }
        }
        self.working.retain(|w| !w.leaves.is_zero());
    }

    fn trigger(&mut self, i: usize, price: Price) {
        let w = &mut self.working[i];
        if let Some(stop) = w.stop {
            let hit = match w.req.side {
                Side::Buy => price >= stop,
                Side::Sell => price <= stop,
            };
            if hit {
                w.stop = None;
            }
        }
    }

    /// Close the whole position in `symbol` at `price` outside the order book, as a settlement
    /// (an option held to expiry settles at intrinsic value, which may be zero): no order, no
    /// commission, one `Filled` event with `purpose` queued. Nothing happens when flat.
    pub fn settle(
        &mut self,
        symbol: SymbolId,
        price: Price,
        id: ClientOrderId,
        purpose: Purpose,
        ts: Timestamp,
    ) {
        let qty = self.position(symbol).qty;
        if qty.is_zero() {
            return;
        }
        let side = if qty > Decimal::ZERO { Side::Sell } else { Side::Buy };
        let mult = self.cfg.multiplier;
        self.cash -= side.sign() * qty.abs() * price * mult;
        self.book(symbol).last = Some((price, Decimal::ZERO));
        apply_fill(self.pos_mut(symbol), side, qty.abs(), price, mult);
        let fill = Fill {
            id,
            symbol,
            side,
            qty: qty.abs(),
            price,
            commission: Decimal::ZERO,
            leaves: Decimal::ZERO,
            purpose,
            ts,
        };
        self.outbox.push(OrderEvent::Filled(fill));
    }

    /// Execute working order `i` against a trade print at `price`.
    fn match_price(&mut self, i: usize, price: Price, size: Qty, ts: Timestamp) {
        let w = &self.working[i];
        if w.stop.is_some() || w.leaves.is_zero() {
            return;
        }
        let slip = self.cfg.tick * Decimal::from(self.cfg.slippage_ticks);
        let px = match (w.limit, w.req.side) {
            (None, Side::Buy) => price + slip,
            (None, Side::Sell) => price - slip,
            // A print at or through the limit fills the limit order at its limit
            // (or better when the print itself, slipped, is better).
            (Some(l), Side::Buy) if price <= l => (price + slip).min(l),
            (Some(l), Side::Sell) if price >= l => (price - slip).max(l),
            (Some(_), _) => return,
        };
        self.execute(i, px, size, ts);
    }

    /// Execute working order `i` against a quote.
    fn match_quote(&mut self, i: usize, q: &Quote, ts: Timestamp) {
        let w = &self.working[i];
        if w.stop.is_some() || w.leaves.is_zero() {
            return;
        }
        let (touch, size) = match w.req.side {
            Side::Buy => (q.ask, q.ask_size),
            Side::Sell => (q.bid, q.bid_size),
        };
        let ok = match (w.limit, w.req.side) {
            (None, _) => true,
            (Some(l), Side::Buy) => touch <= l,
            (Some(l), Side::Sell) => touch >= l,
        };
        if ok && touch > Decimal::ZERO {
            self.execute(i, touch, size, ts);
        }
    }

    fn execute(&mut self, i: usize, price: Price, avail: Qty, ts: Timestamp) {
        let cfg = &self.cfg;
        let w = &mut self.working[i];
        let qty = if cfg.size_limited && avail > Decimal::ZERO { w.leaves.min(avail) } else { w.leaves };
        let per_unit = if cfg.contracts { cfg.commission_per_contract } else { cfg.commission_per_share };
        let mut commission = per_unit * qty;
        if !w.filled_once {
            commission += cfg.commission_per_order;
            w.filled_once = true;
        }
        w.leaves -= qty;
        let fill = Fill {
            id: w.req.id.clone(),
            symbol: w.req.symbol,
            side: w.req.side,
            qty,
            price,
            commission,
            leaves: w.leaves,
            purpose: w.req.purpose,
            ts,
        };
        let mult = cfg.multiplier;
        let done = w.leaves.is_zero();
        self.cash -= fill.side.sign() * qty * price * mult + commission;
        self.fees += commission;
        apply_fill(self.pos_mut(fill.symbol), fill.side, qty, price, mult);
        self.outbox.push(if done { OrderEvent::Filled(fill) } else { OrderEvent::PartiallyFilled(fill) });
    }
}

/// Update a position with an execution; realized P&L is booked on the reducing part.
/// The quote mid of a book with no trade yet (kept out of line: `mark` stays tiny).
#[inline(never)]
fn quote_mid(b: &Book) -> Option<Price> {
    b.quote.map(|q| (q.bid + q.ask) / Decimal::TWO)
}

fn apply_fill(p: &mut Position, side: Side, qty: Qty, price: Price, mult: Decimal) {
    let signed = side.sign() * qty;
    if p.qty.is_zero() || p.qty.is_sign_positive() == signed.is_sign_positive() {
        let total = p.qty.abs() + qty;
        p.avg_price = (p.avg_price * p.qty.abs() + price * qty) / total;
        p.qty += signed;
        return;
    }
    let closing = qty.min(p.qty.abs());
    let dir = if p.qty.is_sign_positive() { Decimal::ONE } else { Decimal::NEGATIVE_ONE };
    p.realized += closing * (price - p.avg_price) * dir * mult;
    p.qty += signed;
    if p.qty.is_zero() {
        p.avg_price = Decimal::ZERO;
    } else if p.qty.is_sign_positive() != dir.is_sign_positive() {
        // Flipped through zero: the remainder opened at this price.
        p.avg_price = price;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::order::{ExitReason, Purpose};
    use crate::risk::gate::{GateContext, RiskGate, RiskLimits};
    use crate::strategy::Phase;
    use rust_decimal_macros::dec;

    const S: SymbolId = SymbolId(0);

    fn approve(side: Side, qty: Decimal, kind: OrderKind, n: u32) -> RiskApproved<OrderRequest> {
        let req = OrderRequest {
            id: ClientOrderId(format!("t-{n}")),
            symbol: S,
            side,
            qty,
            kind,
            purpose: Purpose::Entry,
            ref_price: dec!(100),
            ts: Timestamp(0),
            expire_at: Some(Timestamp(1000)),
        };
        let ctx = GateContext { phase: Phase::Open, position: Decimal::ZERO, day: 0 };
        RiskGate::new(RiskLimits::default()).check(req, &ctx).expect("approved")
    }

    fn trade(ts: i64, p: Decimal, size: Decimal) -> Trade {
        Trade { symbol: S, ts: Timestamp(ts), price: p, size }
    }

    fn events(b: &mut PaperBroker) -> Vec<OrderEvent> {
        let mut v = Vec::new();
        b.drain_events(&mut v);
        v
    }

    #[test]
    fn market_order_fills_at_last_trade_with_slippage_and_commissions() {
        let cfg = PaperConfig {
            slippage_ticks: 2,
            commission_per_share: dec!(0.005),
            commission_per_order: dec!(1),
            ..PaperConfig::default()
        };
        let mut b = PaperBroker::new(cfg);
        b.on_trade(&trade(1, dec!(100.00), dec!(100)));
        b.submit(approve(Side::Buy, dec!(100), OrderKind::Market, 1), Timestamp(1));
        let ev = events(&mut b);
        assert!(matches!(ev[0], OrderEvent::Submitted { .. }));
        assert!(matches!(ev[1], OrderEvent::Accepted { .. }));
        let f = ev[2].fill().unwrap();
        assert_eq!((f.price, f.qty, f.commission), (dec!(100.02), dec!(100), dec!(1.5)));
        assert!(matches!(ev[2], OrderEvent::Filled(_)));
        assert_eq!(b.cash(), dec!(100000) - dec!(10002) - dec!(1.5));
        // Sell at 101: realized = 100 × (100.98 − 100.02).
        b.on_trade(&trade(2, dec!(101), dec!(100)));
        assert_eq!(b.position(S).unrealized(dec!(101), Decimal::ONE), dec!(98));
        b.submit(approve(Side::Sell, dec!(100), OrderKind::Market, 2), Timestamp(2));
        let p = b.position(S);
        assert_eq!((p.qty, p.realized), (Decimal::ZERO, dec!(96)));
        assert_eq!(b.fees(), dec!(3));
        assert_eq!(b.equity(), dec!(100000) + dec!(96) - dec!(3));
    }

    #[test]
    fn limit_rests_then_fills_partially_by_print_size() {
        let cfg = PaperConfig { size_limited: true, ..PaperConfig::default() };
        let mut b = PaperBroker::new(cfg);
        b.on_trade(&trade(1, dec!(100.10), dec!(10)));
        b.submit(approve(Side::Buy, dec!(150), OrderKind::Limit { limit: dec!(100) }, 1), Timestamp(1));
        assert_eq!(events(&mut b).len(), 2, "submitted + accepted, resting");
        b.on_trade(&trade(2, dec!(100.01), dec!(500)));
        assert!(events(&mut b).is_empty());
        b.on_trade(&trade(3, dec!(99.98), dec!(100)));
        let ev = events(&mut b);
        let f = ev[0].fill().unwrap();
        assert!(matches!(ev[0], OrderEvent::PartiallyFilled(_)));
        assert_eq!((f.price, f.qty, f.leaves), (dec!(99.98), dec!(100), dec!(50)));
        b.on_trade(&trade(4, dec!(100), dec!(80)));
        let ev = events(&mut b);
        assert!(matches!(&ev[0], OrderEvent::Filled(f) if f.qty == dec!(50) && f.price == dec!(100)));
        assert!(!b.has_working_orders());
    }

    #[test]
    fn stop_and_stop_limit_trigger_on_prints() {
        let mut b = PaperBroker::new(PaperConfig::default());
        b.on_trade(&trade(1, dec!(100), dec!(1)));
        b.submit(approve(Side::Sell, dec!(10), OrderKind::Stop { stop: dec!(99.5) }, 1), Timestamp(1));
        b.submit(
            approve(Side::Buy, dec!(10), OrderKind::StopLimit { stop: dec!(101), limit: dec!(101.05) }, 2),
            Timestamp(1),
        );
        events(&mut b);
        b.on_trade(&trade(2, dec!(99.6), dec!(1)));
        assert!(events(&mut b).is_empty());
        b.on_trade(&trade(3, dec!(99.4), dec!(1)));
        let ev = events(&mut b);
        assert!(matches!(&ev[0], OrderEvent::Filled(f) if f.price == dec!(99.4) && f.side == Side::Sell));
        // Gaps over the stop-limit's limit: triggered but not filled.
        b.on_trade(&trade(4, dec!(101.2), dec!(1)));
        assert!(events(&mut b).is_empty());
        b.on_trade(&trade(5, dec!(101.04), dec!(1)));
        assert!(matches!(&events(&mut b)[0], OrderEvent::Filled(f) if f.price == dec!(101.04)));
    }

    #[test]
    fn quotes_price_market_and_marketable_limit_orders() {
        let mut b = PaperBroker::new(PaperConfig::default());
        let q = Quote {
            symbol: S,
            ts: Timestamp(1),
            bid: dec!(99.99),
            bid_size: dec!(5),
            ask: dec!(100.01),
            ask_size: dec!(5),
        };
        b.on_quote(&q);
        b.submit(
            approve(Side::Buy, dec!(10), OrderKind::MarketableLimit { offset_ticks: 1 }, 1),
            Timestamp(1),
        );
        let ev = events(&mut b);
        assert!(matches!(&ev[2], OrderEvent::Filled(f) if f.price == dec!(100.01)));
        b.submit(approve(Side::Sell, dec!(10), OrderKind::Market, 2), Timestamp(2));
        assert!(matches!(&events(&mut b)[2], OrderEvent::Filled(f) if f.price == dec!(99.99)));
    }

    #[test]
    fn cancel_expire_and_reject() {
        let mut b = PaperBroker::new(PaperConfig::default());
        b.submit(
            approve(Side::Buy, dec!(1), OrderKind::MarketableLimit { offset_ticks: 1 }, 1),
            Timestamp(1),
        );
        assert!(
            matches!(&events(&mut b)[1], OrderEvent::Rejected { reason, .. } if reason.contains("market data"))
        );
        b.on_trade(&trade(1, dec!(100), dec!(1)));
        b.submit(approve(Side::Buy, dec!(1), OrderKind::Limit { limit: dec!(90) }, 2), Timestamp(1));
        b.submit(approve(Side::Buy, dec!(1), OrderKind::Limit { limit: dec!(91) }, 3), Timestamp(1));
        events(&mut b);
        b.cancel(&ClientOrderId("t-2".into()), Timestamp(2));
        b.expire(Timestamp(1000));
        let ev = events(&mut b);
        assert!(matches!(&ev[0], OrderEvent::Canceled { id, .. } if id.as_str() == "t-2"));
        assert!(matches!(&ev[1], OrderEvent::Expired { id, .. } if id.as_str() == "t-3"));
        let _ = ExitReason::Signal;
    }

    #[test]
    fn reversal_books_realized_and_opens_the_remainder() {
        let mut p = Position::default();
        apply_fill(&mut p, Side::Buy, dec!(100), dec!(10), Decimal::ONE);
        apply_fill(&mut p, Side::Sell, dec!(150), dec!(12), Decimal::ONE);
        assert_eq!((p.qty, p.avg_price, p.realized), (dec!(-50), dec!(12), dec!(200)));
        apply_fill(&mut p, Side::Buy, dec!(50), dec!(11), dec!(100));
        assert_eq!((p.qty, p.realized), (Decimal::ZERO, dec!(200) + dec!(5000)));
    }
}
