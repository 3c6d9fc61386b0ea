//! The simulated venue: a deterministic matching simulator for backtests and paper runs.
//!
//! - Market orders fill against the latest quote (ask for buys, bid for sells) when the data
//!   has quotes, else against the latest trade moved by `slippage_ticks` against us.
//! - Marketable limits are priced at the far touch (or the last trade) ± `offset_ticks`.
//! - Resting limits fill at their limit when a trade prints at or through it (or the far
//!   touch reaches it); stops trigger when a trade prints at or through the stop.
//! - With `size_limited`, an execution takes at most the trade's (or touch's) size, so large
//!   orders fill partially over several prints.
//! - Commissions: per share (or per contract for options) plus per order on its first fill.
//! - Day orders expire at their `expire_at`; an option contract held past its last trading
//!   time is settled at intrinsic value (a `Filled` event with exit reason `expiry`, no
//!   commission) and its working orders are canceled.
//! - Options in paper and backtest runs have no recorded quotes: with a synthetic chain
//!   ([`SimVenue::with_synthetic_options`]) the contract an order names is quoted from the
//!   underlying by Black-Scholes, and requoted whenever the underlying prints a new price while
//!   the contract is held — the agent's own marks use the same chain, so both see one price.
//!   A dry run on live data also gets the broker's option chain ([`SimVenue::on_chain`]): a
//!   contract with a listed two-sided quote is priced from the real quotes instead (buys at the
//!   ask, sells at the bid, limits respected), and only those; the synthetic chain is the
//!   fallback for a contract the broker has not quoted. A marketable limit on an option is
//!   offset by the contract's tick.
//!
//! The venue keeps its own account (cash, positions, working orders), as a broker does: the
//! agent learns about it only through the [`OrderEvent`]s it queues. Every state change happens
//! in a method call and events are queued in an outbox that the driver drains, so the same
//! inputs always give the same events. The runtime steps it in lockstep with the agent: the
//! market event first, then the agent, then the agent's requests (`crate::runtime::lockstep`).

use rust_decimal::Decimal;

use crate::market::event::{MarketEvent, Quote, Trade};
use crate::model::account::{AccountState, OpenOrder, PositionReport};
use crate::model::chain::ChainSnapshot;
use crate::model::ledger::{Ledger, PerSymbol, Touch};
use crate::model::order::{
    ExitReason, Fill, OrderEvent, OrderKind, OrderRequest, Position, Purpose, Replace,
};
use crate::model::{ClientOrderId, InstrumentId, Money, Price, Qty, Side, SymbolId, Timestamp};
use crate::options::{ChainSource, ListedQuote, Listing, OptionContract};
use crate::risk::gate::RiskApproved;

/// Simulated venue settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
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
    /// The instrument whose prints drive matching (the agent's underlying); prints of other
    /// instruments (a symbol a strategy only reads) do not reach the book.
    pub underlying: SymbolId,
    /// Its name at the venue (ticker or pair).
    pub underlying_name: InstrumentId,
}

impl Default for SimConfig {
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
            underlying: SymbolId(0),
            underlying_name: InstrumentId::from("SIM"),
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

/// The option contract the venue quotes: on the broker's listed quotes when it has them,
/// else on the synthetic chain.
struct OptionQuoting {
    chain: Box<dyn ChainSource + Send>,
    /// The broker's listing and quotes ([`SimVenue::on_chain`]; empty in backtests).
    listing: Listing,
    /// The option symbol and the contract it names now, while it is held or being traded.
    held: Option<(SymbolId, OptionContract)>,
    /// The held contract's last trading time.
    expires_at: Option<Timestamp>,
    /// The underlying's last price while the contract is held (its settlement price).
    last_underlying: Option<Price>,
    /// The time of the listed quote the held contract was last priced at; `None` while it is
    /// priced on the synthetic chain.
    listed_at: Option<Timestamp>,
}

impl std::fmt::Debug for OptionQuoting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OptionQuoting").field("held", &self.held).finish_non_exhaustive()
    }
}

/// The simulated venue.
#[derive(Debug)]
pub struct SimVenue {
    cfg: SimConfig,
    working: Vec<Working>,
    /// Cash, commissions, positions and marks.
    ledger: Ledger,
    /// The venue name of each symbol traded so far.
    names: PerSymbol<Option<InstrumentId>>,
    /// The latest time the venue has seen (a market event, a request, a time step).
    now: Timestamp,
    options: Option<OptionQuoting>,
    outbox: Vec<OrderEvent>,
}

impl SimVenue {
    /// A venue with `cfg` and no positions.
    pub fn new(cfg: SimConfig) -> Self {
        let mut names = PerSymbol::default();
        *names.get_mut(cfg.underlying) = Some(cfg.underlying_name.clone());
        Self {
            ledger: Ledger::new(cfg.starting_cash, cfg.multiplier),
            cfg,
            working: Vec::new(),
            names,
            now: Timestamp(i64::MIN),
            options: None,
            outbox: Vec::with_capacity(8),
        }
    }

    /// Quote option contracts on `chain` from the underlying's prints (paper and backtest runs
    /// of an options recipe).
    #[must_use]
    pub fn with_synthetic_options(mut self, chain: Box<dyn ChainSource + Send>) -> Self {
        let listing = Listing::new(chain.underlying());
        self.options = Some(OptionQuoting {
            chain,
            listing,
            held: None,
            expires_at: None,
            last_underlying: None,
            listed_at: None,
        });
        self
    }

    /// A poll of the broker's option chain (a dry run on live data): its quotes price option
    /// orders from now on, and a working order on the held contract matches against each newer
    /// two-sided quote of it. Ignored by a venue without options (see
    /// [`Self::with_synthetic_options`]); entries the chain refuses are the agent's to report.
    pub fn on_chain(&mut self, snap: &ChainSnapshot) {
        let Some(o) = self.options.as_mut() else { return };
        o.listing.apply(snap, o.held.as_ref().map(|(_, c)| c));
        let Some((symbol, contract)) = &o.held else { return };
        let Some(l) =
            o.listing.quote(contract).filter(|l| l.is_two_sided() && o.listed_at.is_none_or(|t| l.ts > t))
        else {
            return;
        };
        o.listed_at = Some(l.ts);
        let symbol = *symbol;
        self.now = self.now.max(snap.ts);
        let quote = option_quote(symbol, l.bid, l.ask, self.now);
        self.on_quote(&quote);
    }

    /// Start from positions an earlier run left (restart): each is booked at its average
    /// price, paid from cash, so equity is unchanged by the restore.
    pub fn restore_position(
        &mut self,
        symbol: SymbolId,
        instrument: InstrumentId,
        qty: Qty,
        avg_price: Price,
    ) {
        if qty.is_zero() {
            return;
        }
        self.name(symbol, &instrument);
        if let Some(o) = self.options.as_mut()
            && symbol != self.cfg.underlying
            && let Ok(contract) = instrument.as_str().parse::<OptionContract>()
        {
            o.expires_at =
                Some(Timestamp::from_datetime(&contract.last_trading_time(o.chain.trading_days())));
            o.held = Some((symbol, contract));
            o.listed_at = None;
        }
        self.ledger.restore(symbol, qty, avg_price);
    }

    /// The configuration.
    #[inline]
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    fn name(&mut self, s: SymbolId, name: &InstrumentId) {
        let slot = self.names.get_mut(s);
        if slot.as_ref() != Some(name) {
            *slot = Some(name.clone());
        }
    }

    /// The position in `symbol`.
    #[inline]
    pub fn position(&self, symbol: SymbolId) -> Position {
        self.ledger.position(symbol)
    }

    /// Cash after all executions and commissions.
    #[inline]
    pub fn cash(&self) -> Money {
        self.ledger.cash()
    }

    /// Commissions charged so far.
    pub fn fees(&self) -> Money {
        self.ledger.fees()
    }

    /// The mark of `symbol`: its last trade, else its quote mid.
    pub fn mark(&self, symbol: SymbolId) -> Option<Price> {
        self.ledger.mark(symbol)
    }

    /// Account equity: cash plus every position at its mark (or its average price).
    pub fn equity(&self) -> Money {
        self.ledger.equity()
    }

    /// The account as a broker would report it.
    pub fn snapshot(&self) -> AccountState {
        let name = |s: SymbolId| {
            self.names.get(s).cloned().flatten().unwrap_or_else(|| InstrumentId(format!("#{}", s.0)))
        };
        let positions = self
            .ledger
            .positions()
            .map(|(s, p)| PositionReport { instrument: name(s), qty: p.qty, avg_price: p.avg_price })
            .collect();
        let open_orders = self
            .working
            .iter()
            .map(|w| OpenOrder {
                id: w.req.id.clone(),
                instrument: w.req.instrument.clone(),
                side: w.req.side,
                qty: w.req.qty,
                filled: w.req.qty - w.leaves,
                kind: w.req.kind,
            })
            .collect();
        let equity = self.equity();
        let cash = self.ledger.cash();
        AccountState { ts: self.now, cash, buying_power: cash, equity, positions, open_orders }
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

    /// A market event: expired options settle first, then trades and quotes of the underlying
    /// (a bar acts as one print at its close) match working orders, the held option contract
    /// is requoted, and day orders past their time expire.
    #[inline]
    pub fn on_market(&mut self, ev: &MarketEvent) {
        // The common case: a print of the underlying with nothing working and no option held
        // only moves the book.
        if let MarketEvent::Trade(t) = ev
            && t.symbol == self.cfg.underlying
            && self.working.is_empty()
            && self.options.is_none()
        {
            self.now = t.ts;
            self.ledger.mark_trade(t.symbol, t.price, t.size);
            return;
        }
        self.on_market_event(ev);
    }

    /// [`Self::on_market`] beyond its common case.
    #[inline(never)]
    fn on_market_event(&mut self, ev: &MarketEvent) {
        let trade = match ev {
            MarketEvent::Trade(t) => *t,
            MarketEvent::Bar(b) => Trade { symbol: b.symbol, ts: b.ts, price: b.close, size: b.volume },
            MarketEvent::Quote(q) => {
                if q.symbol == self.cfg.underlying {
                    self.now = self.now.max(q.ts);
                    self.on_quote(q);
                }
                return;
            }
        };
        if trade.symbol != self.cfg.underlying {
            return;
        }
        self.now = trade.ts;
        if self.options.is_some() {
            self.settle_expired(trade.ts, Some(trade.price));
        }
        self.on_trade(&trade);
        if self.options.is_some() {
            self.requote(trade.price, trade.ts);
        }
        if !self.working.is_empty() {
            self.expire(trade.ts);
        }
    }

    /// Time passed without a market event (a timer): day orders past their time expire and an
    /// option past its last trading time settles.
    pub fn advance(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        if self.options.is_some() {
            self.settle_expired(now, None);
        }
        if !self.working.is_empty() {
            self.expire(now);
        }
    }

    /// Submit an approved order; it is accepted or rejected at once, and a marketable order
    /// executes immediately against the latest market data.
    pub fn submit(&mut self, order: RiskApproved<OrderRequest>) {
        let req = order.into_inner();
        let now = req.ts.max(self.now);
        self.name(req.symbol, &req.instrument);
        if req.symbol != self.cfg.underlying {
            self.quote_new_contract(&req, now);
        }
        self.outbox.push(OrderEvent::Submitted { id: req.id.clone(), ts: now });
        let reject =
            |reason: &str| OrderEvent::Rejected { id: req.id.clone(), ts: now, reason: reason.to_owned() };
        if req.qty <= Decimal::ZERO {
            self.outbox.push(reject("quantity must be positive"));
            return;
        }
        if self.working.iter().any(|w| w.req.id == req.id) {
            self.outbox.push(reject("duplicate client order id"));
            return;
        }
        let book = self.ledger.marks(req.symbol);
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
                let tick = self.tick(req.symbol, touch);
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

    /// Cancel a working order (an unknown or finished one: `CancelRejected`).
    pub fn cancel(&mut self, id: &ClientOrderId, now: Timestamp) {
        let now = now.max(self.now);
        match self.working.iter().position(|w| &w.req.id == id) {
            Some(i) => {
                let w = self.working.remove(i);
                self.outbox.push(OrderEvent::Canceled { id: w.req.id, ts: now });
            }
            None => self.outbox.push(OrderEvent::CancelRejected {
                id: id.clone(),
                ts: now,
                reason: "no such working order".to_owned(),
            }),
        }
    }

    /// Change a working order's quantity, limit or stop; it then matches at once if it can.
    pub fn replace(&mut self, id: &ClientOrderId, change: Replace, now: Timestamp) {
        let now = now.max(self.now);
        let Some(i) = self.working.iter().position(|w| &w.req.id == id) else {
            self.outbox.push(OrderEvent::ReplaceRejected {
                id: id.clone(),
                ts: now,
                reason: "no such working order".to_owned(),
            });
            return;
        };
        let w = &mut self.working[i];
        let filled = w.req.qty - w.leaves;
        let refuse = match change.qty {
            Some(q) if q <= filled => Some("the new quantity is not above what has already filled"),
            _ if change.limit.is_some_and(|l| l <= Decimal::ZERO) => Some("prices must be positive"),
            _ if change.stop.is_some_and(|s| s <= Decimal::ZERO) => Some("prices must be positive"),
            _ if change.limit.is_some() && w.limit.is_none() => Some("the order has no limit price"),
            _ if change.stop.is_some() && w.stop.is_none() => Some("the order has no working stop"),
            _ => None,
        };
        if let Some(reason) = refuse {
            let ev = OrderEvent::ReplaceRejected { id: id.clone(), ts: now, reason: reason.to_owned() };
            self.outbox.push(ev);
            return;
        }
        if let Some(q) = change.qty {
            w.leaves = q - filled;
            w.req.qty = q;
        }
        if change.limit.is_some() {
            w.limit = change.limit;
        }
        if change.stop.is_some() {
            w.stop = change.stop;
        }
        self.outbox.push(OrderEvent::Replaced { id: id.clone(), ts: now, change });
        let symbol = self.working[i].req.symbol;
        let book = self.ledger.marks(symbol);
        if let Some(q) = book.quote {
            self.match_quote(i, &q, now);
        } else if let Some((p, size)) = book.last {
            self.trigger(i, p);
            self.match_price(i, p, size, now);
        }
        self.working.retain(|w| !w.leaves.is_zero());
    }

    /// Expire orders whose time in force has run out at `now`.
    fn expire(&mut self, now: Timestamp) {
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
    fn on_trade(&mut self, t: &Trade) {
        self.ledger.mark_trade(t.symbol, t.price, t.size);
        if self.working.is_empty() {
            return;
        }
        let quote = self.ledger.marks(t.symbol).quote;
        for i in 0..self.working.len() {
            if self.working[i].req.symbol != t.symbol {
                continue;
            }
            // Stops trigger on trades; with quotes, executions happen against the quote.
            self.trigger(i, t.price);
            if let Some(q) = quote
                && self.working[i].stop.is_none()
            {
                self.match_quote(i, &q, t.ts);
            } else {
                self.match_price(i, t.price, t.size, t.ts);
            }
        }
        self.working.retain(|w| !w.leaves.is_zero());
    }

    /// A quote update: remember it and match working orders against it.
    #[inline]
    fn on_quote(&mut self, q: &Quote) {
        self.ledger.mark_quote(q.symbol, q.touch());
        if self.working.is_empty() {
            return;
        }
        for i in 0..self.working.len() {
            if self.working[i].req.symbol == q.symbol && self.working[i].stop.is_none() {
                self.match_quote(i, &q.touch(), q.ts);
            }
        }
        self.working.retain(|w| !w.leaves.is_zero());
    }

    /// The price increment of `symbol` at `price`: the option contract's own, else the venue's.
    fn tick(&self, symbol: SymbolId, price: Price) -> Price {
        match self.options.as_ref().and_then(|o| o.held.as_ref()) {
            Some((s, c)) if *s == symbol => c.tick_size(price),
            _ => self.cfg.tick,
        }
    }

    /// An order on an option contract: a contract the venue does not hold yet is quoted at its
    /// listed two-sided quote if the broker's chain has one, else on the synthetic chain at the
    /// underlying's last price (neither: the order meets whatever quotes the data has).
    fn quote_new_contract(&mut self, req: &OrderRequest, now: Timestamp) {
        let underlying = self.mark(self.cfg.underlying);
        let Some(o) = self.options.as_mut() else { return };
        let Ok(contract) = req.instrument.as_str().parse::<OptionContract>() else { return };
        if o.held.as_ref().is_some_and(|(s, c)| *s == req.symbol && *c == contract) {
            return;
        }
        let listed = o.listing.quote(&contract).filter(ListedQuote::is_two_sided);
        let (bid, ask) = match (listed, underlying) {
            (Some(l), _) => (l.bid, l.ask),
            (None, Some(u)) => match o.chain.quote(&contract, u, now) {
                Ok(q) => (q.bid, q.ask),
                Err(_) => return,
            },
            (None, None) => return,
        };
        o.listed_at = listed.map(|l| l.ts);
        o.expires_at = Some(Timestamp::from_datetime(&contract.last_trading_time(o.chain.trading_days())));
        o.held = Some((req.symbol, contract));
        o.last_underlying = underlying;
        let quote = option_quote(req.symbol, bid, ask, now);
        self.on_quote(&quote);
    }

    /// Requote the held contract when the underlying printed a new price (on the synthetic
    /// chain; a contract priced from listed quotes waits for the next chain snapshot).
    #[inline]
    fn requote(&mut self, underlying: Price, ts: Timestamp) {
        let Some(o) = self.options.as_mut() else { return };
        let Some((symbol, contract)) = &o.held else { return };
        if o.last_underlying == Some(underlying) {
            return;
        }
        o.last_underlying = Some(underlying);
        if o.listed_at.is_some() {
            return;
        }
        let symbol = *symbol;
        if let Ok(q) = o.chain.quote(contract, underlying, ts) {
            let quote = option_quote(symbol, q.bid, q.ask, ts);
            self.on_quote(&quote);
        }
    }

    /// The held contract reached its last trading time by `now`: its working orders are
    /// canceled and the position settles at intrinsic value at the underlying's last price
    /// before then — or, for a contract never quoted here (taken over at a restart after its
    /// last trading time), at `first`, the first underlying price seen since.
    fn settle_expired(&mut self, now: Timestamp, first: Option<Price>) {
        let Some(o) = self.options.as_ref() else { return };
        if o.expires_at.is_none_or(|e| now < e) {
            return;
        }
        let Some(o) = self.options.as_mut() else { return };
        let at = o.expires_at.take().unwrap_or(now);
        let Some((symbol, contract)) = o.held.take() else { return };
        let underlying = o.last_underlying.take().or(first);
        let (gone, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.working).into_iter().partition(|w| w.req.symbol == symbol);
        self.working = keep;
        for w in gone {
            self.outbox.push(OrderEvent::Canceled { id: w.req.id, ts: now });
        }
        let qty = self.position(symbol).qty;
        let Some(underlying) = underlying else { return };
        if qty.is_zero() {
            return;
        }
        let price = contract.intrinsic(underlying);
        let side = if qty > Decimal::ZERO { Side::Sell } else { Side::Buy };
        self.ledger.mark_trade(symbol, price, Decimal::ZERO);
        let fill = Fill {
            id: ClientOrderId(format!("{}-expiry", contract.occ_symbol().replace(' ', ""))),
            symbol,
            instrument: self
                .names
                .get(symbol)
                .cloned()
                .flatten()
                .unwrap_or_else(|| InstrumentId(contract.occ_symbol())),
            side,
            qty: qty.abs(),
            price,
            commission: Decimal::ZERO,
            leaves: Decimal::ZERO,
            purpose: Purpose::Exit(ExitReason::Expiry),
            ts: at,
        };
        self.ledger.apply_fill(&fill);
        self.outbox.push(OrderEvent::Filled(fill));
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
    fn match_quote(&mut self, i: usize, q: &Touch, ts: Timestamp) {
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
            instrument: w.req.instrument.clone(),
            side: w.req.side,
            qty,
            price,
            commission,
            leaves: w.leaves,
            purpose: w.req.purpose,
            ts,
        };
        let done = w.leaves.is_zero();
        self.ledger.apply_fill(&fill);
        self.outbox.push(if done { OrderEvent::Filled(fill) } else { OrderEvent::PartiallyFilled(fill) });
    }
}

/// An option quote (synthetic, or listed without sizes): deep enough that size never limits
/// a fill.
fn option_quote(symbol: SymbolId, bid: Price, ask: Price, ts: Timestamp) -> Quote {
    let size = Qty::from(10_000);
    Quote { symbol, ts, bid, bid_size: size, ask, ask_size: size }
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
            instrument: InstrumentId::from("SIM"),
            side,
            qty,
            kind,
            purpose: Purpose::Entry,
            ref_price: dec!(100),
            ts: Timestamp(1),
            expire_at: Some(Timestamp(1000)),
        };
        let ctx = GateContext { phase: Phase::Open, position: Decimal::ZERO, day: 0 };
        RiskGate::new(RiskLimits::default()).check(req, &ctx).expect("approved")
    }

    fn trade(ts: i64, p: Decimal, size: Decimal) -> Trade {
        Trade { symbol: S, ts: Timestamp(ts), price: p, size }
    }

    fn events(b: &mut SimVenue) -> Vec<OrderEvent> {
        let mut v = Vec::new();
        b.drain_events(&mut v);
        v
    }

    #[test]
    fn market_order_fills_at_last_trade_with_slippage_and_commissions() {
        let cfg = SimConfig {
            slippage_ticks: 2,
            commission_per_share: dec!(0.005),
            commission_per_order: dec!(1),
            ..SimConfig::default()
        };
        let mut b = SimVenue::new(cfg);
        b.on_market(&MarketEvent::Trade(trade(1, dec!(100.00), dec!(100))));
        b.submit(approve(Side::Buy, dec!(100), OrderKind::Market, 1));
        let ev = events(&mut b);
        assert!(matches!(ev[0], OrderEvent::Submitted { .. }));
        assert!(matches!(ev[1], OrderEvent::Accepted { .. }));
        let f = ev[2].fill().unwrap();
        assert_eq!((f.price, f.qty, f.commission), (dec!(100.02), dec!(100), dec!(1.5)));
        assert!(matches!(ev[2], OrderEvent::Filled(_)));
        assert_eq!(b.cash(), dec!(100000) - dec!(10002) - dec!(1.5));
        // Sell at 101: realized = 100 × (100.98 − 100.02).
        b.on_market(&MarketEvent::Trade(trade(2, dec!(101), dec!(100))));
        assert_eq!(b.position(S).unrealized(dec!(101), Decimal::ONE), dec!(98));
        b.submit(approve(Side::Sell, dec!(100), OrderKind::Market, 2));
        let p = b.position(S);
        assert_eq!((p.qty, p.realized), (Decimal::ZERO, dec!(96)));
        assert_eq!(b.fees(), dec!(3));
        assert_eq!(b.equity(), dec!(100000) + dec!(96) - dec!(3));
    }

    #[test]
    fn limit_rests_then_fills_partially_by_print_size() {
        let cfg = SimConfig { size_limited: true, ..SimConfig::default() };
        let mut b = SimVenue::new(cfg);
        b.on_market(&MarketEvent::Trade(trade(1, dec!(100.10), dec!(10))));
        b.submit(approve(Side::Buy, dec!(150), OrderKind::Limit { limit: dec!(100) }, 1));
        assert_eq!(events(&mut b).len(), 2, "submitted + accepted, resting");
        b.on_market(&MarketEvent::Trade(trade(2, dec!(100.01), dec!(500))));
        assert!(events(&mut b).is_empty());
        b.on_market(&MarketEvent::Trade(trade(3, dec!(99.98), dec!(100))));
        let ev = events(&mut b);
        let f = ev[0].fill().unwrap();
        assert!(matches!(ev[0], OrderEvent::PartiallyFilled(_)));
        assert_eq!((f.price, f.qty, f.leaves), (dec!(99.98), dec!(100), dec!(50)));
        b.on_market(&MarketEvent::Trade(trade(4, dec!(100), dec!(80))));
        let ev = events(&mut b);
        assert!(matches!(&ev[0], OrderEvent::Filled(f) if f.qty == dec!(50) && f.price == dec!(100)));
        assert!(!b.has_working_orders());
    }

    #[test]
    fn stop_and_stop_limit_trigger_on_prints() {
        let mut b = SimVenue::new(SimConfig::default());
        b.on_market(&MarketEvent::Trade(trade(1, dec!(100), dec!(1))));
        b.submit(approve(Side::Sell, dec!(10), OrderKind::Stop { stop: dec!(99.5) }, 1));
        b.submit(approve(
            Side::Buy,
            dec!(10),
            OrderKind::StopLimit { stop: dec!(101), limit: dec!(101.05) },
            2,
        ));
        events(&mut b);
        b.on_market(&MarketEvent::Trade(trade(2, dec!(99.6), dec!(1))));
        assert!(events(&mut b).is_empty());
        b.on_market(&MarketEvent::Trade(trade(3, dec!(99.4), dec!(1))));
        let ev = events(&mut b);
        assert!(matches!(&ev[0], OrderEvent::Filled(f) if f.price == dec!(99.4) && f.side == Side::Sell));
        // Gaps over the stop-limit's limit: triggered but not filled.
        b.on_market(&MarketEvent::Trade(trade(4, dec!(101.2), dec!(1))));
        assert!(events(&mut b).is_empty());
        b.on_market(&MarketEvent::Trade(trade(5, dec!(101.04), dec!(1))));
        assert!(matches!(&events(&mut b)[0], OrderEvent::Filled(f) if f.price == dec!(101.04)));
    }

    #[test]
    fn quotes_price_market_and_marketable_limit_orders() {
        let mut b = SimVenue::new(SimConfig::default());
        let q = Quote {
            symbol: S,
            ts: Timestamp(1),
            bid: dec!(99.99),
            bid_size: dec!(5),
            ask: dec!(100.01),
            ask_size: dec!(5),
        };
        b.on_market(&MarketEvent::Quote(q));
        b.submit(approve(Side::Buy, dec!(10), OrderKind::MarketableLimit { offset_ticks: 1 }, 1));
        let ev = events(&mut b);
        assert!(matches!(&ev[2], OrderEvent::Filled(f) if f.price == dec!(100.01)));
        b.submit(approve(Side::Sell, dec!(10), OrderKind::Market, 2));
        assert!(matches!(&events(&mut b)[2], OrderEvent::Filled(f) if f.price == dec!(99.99)));
    }

    /// A venue quoting SPY options on the synthetic chain, SPY at 600.30 on 2025-06-09 10:00.
    fn option_venue() -> (SimVenue, Timestamp) {
        use crate::options::{ChainSettings, HolidaySet, SyntheticChain};
        let at = Timestamp::from_datetime(
            &chrono::DateTime::parse_from_rfc3339("2025-06-09T10:00:00-04:00").unwrap(),
        );
        let cfg = SimConfig { multiplier: dec!(100), contracts: true, ..SimConfig::default() };
        let chain = SyntheticChain::new("SPY", ChainSettings::default(), HolidaySet::default()).unwrap();
        let mut b = SimVenue::new(cfg).with_synthetic_options(Box::new(chain));
        b.on_market(&MarketEvent::Trade(trade(at.0, dec!(600.30), dec!(1))));
        (b, at)
    }

    /// An order on the option contract `instrument`, booked under symbol 1.
    fn option_order(
        instrument: &str,
        side: Side,
        kind: OrderKind,
        n: u32,
        at: Timestamp,
    ) -> RiskApproved<OrderRequest> {
        let mut req = approve(side, dec!(2), kind, n).into_inner();
        req.symbol = SymbolId(1);
        req.instrument = InstrumentId::from(instrument);
        req.ts = at;
        req.expire_at = None;
        let ctx = GateContext { phase: Phase::Open, position: Decimal::ZERO, day: 0 };
        RiskGate::new(RiskLimits::default()).check(req, &ctx).expect("approved")
    }

    /// The broker's chain: the SPY 2025-06-16 600 call, quoted `bid` / `ask` at `ts`.
    fn chain_snapshot(bid: Decimal, ask: Decimal, ts: Timestamp) -> ChainSnapshot {
        use crate::model::chain::{ContractQuote, ListedContract};
        use crate::options::OptionRight;
        let instrument = InstrumentId::from("SPY250616C00600000");
        let contract = ListedContract {
            instrument: instrument.clone(),
            underlying: "SPY".to_owned(),
            expiry: chrono::NaiveDate::from_ymd_opt(2025, 6, 16).unwrap(),
            strike: dec!(600),
            right: OptionRight::Call,
            multiplier: dec!(100),
        };
        ChainSnapshot {
            ts,
            contracts: vec![contract],
            quotes: vec![ContractQuote { instrument, bid, ask, ts }],
        }
    }

    #[test]
    fn listed_quotes_fill_option_orders_at_the_real_touch_within_limits() {
        let (mut b, at) = option_venue();
        b.on_chain(&chain_snapshot(dec!(7.10), dec!(7.14), at));
        // Either OCC spelling names the listed contract.
        let call = "SPY   250616C00600000";
        b.submit(option_order(call, Side::Buy, OrderKind::MarketableLimit { offset_ticks: 1 }, 1, at));
        let ev = events(&mut b);
        assert!(matches!(&ev[2], OrderEvent::Filled(f) if f.price == dec!(7.14)), "{ev:?}");
        // The underlying moves: a listed price is not replaced by a model one.
        b.on_market(&MarketEvent::Trade(trade(at.0 + 1, dec!(610), dec!(1))));
        assert_eq!(b.mark(SymbolId(1)), Some(dec!(7.12)));
        // A sell limit above the bid rests; a newer snapshot lifts the bid through it: filled at the bid.
        b.submit(option_order(call, Side::Sell, OrderKind::Limit { limit: dec!(7.20) }, 2, at));
        assert_eq!(events(&mut b).len(), 2, "submitted + accepted, resting");
        b.on_chain(&chain_snapshot(dec!(7.15), dec!(7.19), at.add_nanos(1)));
        assert!(events(&mut b).is_empty(), "bid 7.15 is below the limit");
        b.on_chain(&chain_snapshot(dec!(7.15), dec!(7.19), at.add_nanos(2)));
        b.on_chain(&chain_snapshot(dec!(7.25), dec!(7.29), at.add_nanos(1)));
        assert!(events(&mut b).is_empty(), "an older quote changes nothing");
        b.on_chain(&chain_snapshot(dec!(7.25), dec!(7.29), at.add_nanos(3)));
        let ev = events(&mut b);
        assert!(
            matches!(&ev[0], OrderEvent::Filled(f) if f.price == dec!(7.25) && f.side == Side::Sell),
            "{ev:?}"
        );
    }

    #[test]
    fn an_option_without_a_listed_quote_is_quoted_on_the_synthetic_chain() {
        let (mut b, at) = option_venue();
        // Listed, but one-sided: the synthetic chain prices the order.
        b.on_chain(&chain_snapshot(dec!(0), dec!(7.14), at));
        b.submit(option_order("SPY250616C00600000", Side::Buy, OrderKind::Market, 1, at));
        let ev = events(&mut b);
        let f = ev[2].fill().expect("filled");
        assert!(f.price != dec!(7.14) && f.price > dec!(5), "{f:?}");
        // A venue without options ignores the chain.
        let mut plain = SimVenue::new(SimConfig::default());
        plain.on_chain(&chain_snapshot(dec!(7.10), dec!(7.14), at));
        assert!(!plain.has_events());
    }

    #[test]
    fn cancel_expire_and_reject() {
        let mut b = SimVenue::new(SimConfig::default());
        b.submit(approve(Side::Buy, dec!(1), OrderKind::MarketableLimit { offset_ticks: 1 }, 1));
        assert!(
            matches!(&events(&mut b)[1], OrderEvent::Rejected { reason, .. } if reason.contains("market data"))
        );
        b.on_market(&MarketEvent::Trade(trade(1, dec!(100), dec!(1))));
        b.submit(approve(Side::Buy, dec!(1), OrderKind::Limit { limit: dec!(90) }, 2));
        b.submit(approve(Side::Buy, dec!(1), OrderKind::Limit { limit: dec!(91) }, 3));
        events(&mut b);
        b.cancel(&ClientOrderId("t-2".into()), Timestamp(2));
        b.advance(Timestamp(1000));
        let ev = events(&mut b);
        assert!(matches!(&ev[0], OrderEvent::Canceled { id, .. } if id.as_str() == "t-2"));
        assert!(matches!(&ev[1], OrderEvent::Expired { id, .. } if id.as_str() == "t-3"));
        let _ = ExitReason::Signal;
    }
}
