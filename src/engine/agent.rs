//! One agent: a single owned [`Event`] in, state changes only here, an [`Outbox`] of venue
//! requests and [`AgentEvent`]s out. No I/O, no clock of its own, no venue inside.
//!
//! `Event::Market` → session clock and candle aggregation ([`CandleBuilder`], the same code
//! `runner candles` runs; completed candles go to the strategy first) → marks → loss guards →
//! protective exits and session flatten → strategy → decision → risk gate → a `Submit` request.
//! What the venue does with it comes back later as `Event::Order` (accepted, filled, …): the
//! agent's own books (cash, positions, working orders; `agent/book.rs`) change only then.
//! While an order it sent is still in flight, new entries wait for its outcome.
//! The risk side (trading state, loss guards, compliance ledgers) is in `agent/risk.rs`; gaps
//! in the data (whole sessions without a price) are reported by `agent/gaps.rs`.
//! Backtest and `runner up` drive exactly this code, so they make the same trades.

use rust_decimal::Decimal;

use self::book::Book;
use super::candles::CandleStyle;
pub use super::event::{
    AgentEvent, Command, Event, ExternalIn, ExternalOutcome, Outbox, Request, StateChange, Timer,
};
use super::option_leg::OptionLeg;
use super::related::RelatedFeed;
use crate::decision::{Decision, DecisionConfig, OrderIntent};
use crate::market::candles::CandleBuilder;
use crate::market::event::{Candle, MarketEvent, Trade};
use crate::market::session::{SessionClock, SessionHours};
use crate::model::chain::ChainSnapshot;
use crate::model::order::{ExitReason, OrderEvent, OrderKind, OrderRequest, OrderType, Purpose};
use crate::model::{ClientOrderId, InstrumentId, Money, Price, Qty, Side, SymbolId, Timestamp, fastdec};
use crate::report::{Recorder, Report};
use crate::risk::account::ComplianceConfig;
use crate::risk::gate::{DenyReason, GateContext, ProtectiveExits, RiskGate, RiskLimits, TradingState};
use crate::risk::guard::LossGuard;
use crate::strategy::external_signal::ExternalEvent;
use crate::strategy::{AnyStrategy, Direction, Holding, Phase, Signal, Strategy, TradeContext};

mod book;
mod gaps;
mod refusal;
mod repeats;
mod risk;

/// Agent settings (`crate::runtime::build::agent_config` makes them from a recipe).
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Agent name.
    pub name: String,
    /// Client order ids are `{order_prefix}-{sequence}`: the runtime makes the prefix unique
    /// per run (agent name plus a run tag), so ids never repeat across restarts.
    pub order_prefix: String,
    /// Algorithm label for reports.
    pub strategy_label: String,
    /// Instrument label for reports, and the underlying's name at the venue.
    pub symbol_label: String,
    /// Candle length in nanoseconds.
    pub timeframe_nanos: i64,
    /// Session hours.
    pub hours: SessionHours,
    /// Cash the account starts with.
    pub starting_cash: Money,
    /// Price increment of the traded instrument.
    pub tick: Price,
    /// Contract multiplier (1 for shares and coins, 100 for US equity options).
    pub multiplier: Decimal,
    /// Sizing.
    pub decision: DecisionConfig,
    /// Limits.
    pub limits: RiskLimits,
    /// Protective exits.
    pub exits: ProtectiveExits,
    /// Order type for entries.
    pub order_type: OrderType,
    /// Ticks for limit / marketable-limit / stop prices.
    pub offset_ticks: u32,
    /// Options: refuse (`max-slippage`) an entry whose marketable limit lies more than this many ticks from the mid.
    pub max_slippage_ticks: Option<u32>,
    /// Daily loss limit (money).
    pub daily_loss_limit: Option<Money>,
    /// Max drawdown from the equity peak (fraction).
    pub max_drawdown: Option<Decimal>,
    /// The US compliance rules of the account (`None`: not enforced).
    pub compliance: Option<ComplianceConfig>,
    /// Candle style the strategy sees (standard, Heikin-Ashi, Renko).
    pub candle_style: CandleStyle,
    /// Close the position before a gap in recorded data ([`Agent::flatten_before_gap`]).
    pub flatten_before_gap: bool,
}

/// How many of the latest candles an agent keeps to warm up a reconfigured strategy.
pub const WARMUP_KEEP: usize = 2_048;

/// New settings for a running agent ([`Agent::reconfigure`]): an operator changed recipe
/// parameters.
#[derive(Debug)]
pub struct Reconfigure {
    /// Sizing.
    pub decision: DecisionConfig,
    /// Limits.
    pub limits: RiskLimits,
    /// Daily loss limit.
    pub daily_loss_limit: Option<Money>,
    /// Max drawdown (fraction).
    pub max_drawdown: Option<Decimal>,
    /// Protective exits (only while flat).
    pub exits: Option<ProtectiveExits>,
    /// A new strategy (only while flat), warmed up on the candles the agent kept.
    pub strategy: Option<AnyStrategy>,
}

/// A decision that waits for an order in flight (see `agent/book.rs`).
#[derive(Debug, Clone, Copy)]
struct Pending {
    signal: Signal,
    price: Price,
    phase: Phase,
}

/// One agent: strategy, decision, risk gate, its books and report, driven by [`Agent::handle`].
pub struct Agent {
    cfg: AgentConfig,
    symbol: SymbolId,
    strategy: AnyStrategy,
    candles: CandleBuilder,
    /// The session clock for times no price brought (timers).
    clock: SessionClock,
    style: CandleStyle,
    decision: Decision,
    gate: RiskGate,
    exits: ProtectiveExits,
    book: Book,
    recorder: Recorder,
    seq: u64,
    now: Timestamp,
    /// Shutdown asked: orders canceled, the position being closed.
    stopping: bool,
    /// Shutdown done: nothing works at the venue any more, the report can be made.
    stopped: bool,
    day_index: i64,
    /// The trading day of the latest price (0 before the first), to notice gaps in the data.
    price_day: i64,
    session_close: i64,
    /// The symbol positions are held in: the instrument, or the option contract.
    traded: SymbolId,
    option: Option<OptionLeg>,
    guard: LossGuard,
    /// A day-long halt (daily loss, max drawdown, halt command) ends when this trading day is over.
    halted_day: Option<i64>,
    /// Taken out of trading by an operator ([`Command::Disable`]) until enabled again.
    disabled: bool,
    /// The latest candles the strategy saw (after the candle style), to warm up a strategy
    /// whose parameters an operator changed ([`Agent::reconfigure`]).
    seen: std::collections::VecDeque<Candle>,
    /// The other symbol the strategy reads (correlation), if any.
    related: Option<RelatedFeed>,
    /// The latest signal, waiting for an order in flight.
    pending: Option<Pending>,
    /// When to be woken without a market event ([`Agent::next_timer`]).
    timer: Option<Timer>,
    /// A standing target's refusals already said today (see `agent/repeats.rs`).
    repeats: repeats::RepeatedDenials,
}

impl Agent {
    /// An agent trading `symbol` with `strategy`.
    pub fn new(cfg: AgentConfig, symbol: SymbolId, strategy: AnyStrategy) -> Self {
        let recorder = Recorder::new(&cfg.strategy_label, &cfg.symbol_label, cfg.multiplier);
        Self {
            symbol,
            strategy,
            candles: CandleBuilder::new(symbol, cfg.timeframe_nanos, cfg.hours),
            clock: SessionClock::new(cfg.hours.zone(), cfg.hours),
            style: cfg.candle_style.clone(),
            decision: Decision::new(cfg.decision),
            gate: risk::build_gate(&cfg),
            guard: LossGuard::new(cfg.daily_loss_limit, cfg.max_drawdown, cfg.starting_cash),
            halted_day: None,
            disabled: false,
            seen: std::collections::VecDeque::new(),
            exits: cfg.exits,
            book: Book::new(cfg.starting_cash, cfg.multiplier),
            recorder,
            seq: 0,
            now: Timestamp(0),
            stopping: false,
            stopped: false,
            day_index: 0,
            price_day: 0,
            session_close: 0,
            traded: symbol,
            option: None,
            related: None,
            pending: None,
            timer: None,
            repeats: repeats::RepeatedDenials::default(),
            cfg,
        }
    }

    /// Also read `feed`'s symbol (not traded): its candles and trades go to the strategy.
    #[must_use]
    pub fn with_related(mut self, feed: RelatedFeed) -> Self {
        self.related = Some(feed);
        self
    }

    /// Trade options on this agent's signals (positions booked under `leg.symbol`).
    #[must_use]
    pub fn with_options(mut self, leg: OptionLeg) -> Self {
        self.traded = leg.symbol;
        self.recorder.set_note(leg.note());
        if leg.synthetic() {
            self.recorder.set_price_source(crate::report::PriceSource::Synthetic);
        }
        self.option = Some(leg);
        self
    }

    /// The settings.
    pub fn config(&self) -> &AgentConfig {
        &self.cfg
    }

    /// The symbol whose prices drive the agent (its instrument, or an option's underlying).
    pub fn symbol(&self) -> SymbolId {
        self.symbol
    }

    /// The symbol positions are held in (the instrument, or the option contract).
    pub fn traded_symbol(&self) -> SymbolId {
        self.traded
    }

    /// Account equity as the agent books it.
    pub fn equity(&self) -> Money {
        self.book.equity()
    }

    /// Cash as the agent books it.
    pub fn cash(&self) -> Money {
        self.book.cash()
    }

    /// The signed quantity held in the traded instrument.
    pub fn position_qty(&self) -> Qty {
        self.book.qty(self.traded)
    }

    /// The strategy (its indicator state, for tests and status).
    pub fn strategy(&self) -> &AnyStrategy {
        &self.strategy
    }

    /// A copy of the agent's session clock (the runtime asks it whether the session is open,
    /// to judge a quiet feed).
    pub fn session_clock(&self) -> SessionClock {
        self.clock.clone()
    }

    /// The trading day of the latest event: days since 1970-01-01 in the session's zone (New
    /// York; UTC for 24x7), 0 before the first price.
    pub fn trading_day(&self) -> i64 {
        self.day_index
    }

    /// The latest event time seen.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Whether a shutdown has been asked for.
    pub fn stopped(&self) -> bool {
        self.stopping || self.stopped
    }

    /// Whether the agent has a price for its symbol (an external signal is acted on at it).
    pub fn has_price(&self) -> bool {
        self.book.mark(self.symbol).is_some()
    }

    /// Whether the agent holds nothing and has nothing working: the safe point at which a
    /// strategy or its exits may be replaced.
    pub fn is_flat(&self) -> bool {
        self.book.projected_qty(self.traded).is_zero() && !self.book.has_orders() && self.pending.is_none()
    }

    /// Apply an operator's parameter change. Sizing and limits take effect at once; a new
    /// strategy or new exits only while [`Self::is_flat`] (refused otherwise). The new strategy
    /// first sees the candles the agent kept (at most [`WARMUP_KEEP`]).
    pub fn reconfigure(&mut self, r: Reconfigure) -> Result<(), String> {
        if (r.strategy.is_some() || r.exits.is_some()) && !self.is_flat() {
            return Err("a new strategy or new exits wait until the agent is flat".into());
        }
        self.cfg.decision = r.decision;
        self.decision = Decision::new(r.decision);
        self.cfg.limits = r.limits;
        self.gate.set_limits(r.limits);
        self.cfg.daily_loss_limit = r.daily_loss_limit;
        self.cfg.max_drawdown = r.max_drawdown;
        self.guard.set_limits(r.daily_loss_limit, r.max_drawdown);
        if let Some(exits) = r.exits {
            self.cfg.exits = exits;
            self.exits = exits;
        }
        if let Some(mut strategy) = r.strategy {
            for c in &self.seen {
                strategy.on_candle(c);
            }
            self.strategy = strategy;
        }
        Ok(())
    }

    /// The latest price of the traded symbol (the option contract's, for an option agent).
    pub fn last_price(&self) -> Option<Price> {
        self.book.mark(self.traded)
    }

    /// Whether the agent has orders working at its venue.
    pub fn has_orders(&self) -> bool {
        self.book.has_orders()
    }

    /// Take over a position its venue holds (a restart, before the first event): booked at its
    /// average price, protected by the recipe's exits, and reported as a deal opened at `ts`
    /// when it is closed. `instrument` is the ticker, or an option contract's OCC symbol.
    ///
    /// # Errors
    /// An instrument this agent does not trade (another ticker, not an option on its underlying).
    pub fn restore_position(
        &mut self,
        instrument: &InstrumentId,
        qty: Qty,
        avg_price: Price,
        ts: Timestamp,
    ) -> Result<(), String> {
        if qty.is_zero() {
            return Ok(());
        }
        if instrument.as_str() != self.cfg.symbol_label {
            let contract = instrument
                .as_str()
                .parse::<crate::options::OptionContract>()
                .ok()
                .filter(|c| c.underlying == self.cfg.symbol_label);
            match (self.option.as_mut(), contract) {
                (Some(leg), Some(c)) => leg.restore(c),
                _ => return Err(format!("{instrument} is not what agent {} trades", self.cfg.name)),
            }
            self.recorder.set_symbol(instrument.as_str());
        }
        self.book.restore(self.traded, qty, avg_price);
        let side = if qty > Decimal::ZERO { Side::Buy } else { Side::Sell };
        self.recorder.on_fill(&crate::model::order::Fill {
            id: ClientOrderId(format!("{}-restored", self.cfg.order_prefix)),
            symbol: self.traded,
            instrument: instrument.clone(),
            side,
            qty: qty.abs(),
            price: avg_price,
            commission: Decimal::ZERO,
            leaves: Decimal::ZERO,
            purpose: Purpose::Entry,
            ts,
        });
        self.exits.arm(avg_price, qty > Decimal::ZERO);
        Ok(())
    }

    /// Take over an order still working at its venue (a restart, before the first event).
    pub fn restore_order(&mut self, req: OrderRequest, leaves: Qty) {
        self.book.restore_order(req, leaves);
    }

    /// When the agent wants to be woken if no market event comes first (see [`Timer`]).
    #[inline]
    pub fn next_timer(&self) -> Option<Timer> {
        self.timer
    }

    /// Process one event; what it leads to is appended to `out`.
    pub fn handle(&mut self, event: Event, out: &mut Outbox) {
        match event {
            Event::Market(ev) => self.on_market(&ev, out),
            Event::Order(ev) => self.on_order_event(ev, out),
            // The runtime reconciles the account before the first event; later snapshots change
            // nothing the agent decides on (its books follow the fills).
            Event::Account(_) => {}
            Event::Timer(ts) => self.on_timer(ts, out),
            Event::Connectivity(c) => out.events.push(AgentEvent::Connectivity(c)),
            Event::Chain(snap) => self.on_chain(&snap, out),
            Event::External(x) => self.on_external(x, out),
            Event::Command(Command::Shutdown) => self.shutdown(out),
            Event::Command(Command::Halt { reason }) => self.halt(TradingState::Halted, &reason, out),
            Event::Command(Command::ReduceOnly { reason }) => {
                self.halt(TradingState::ReduceOnly, &reason, out);
            }
            Event::Command(Command::Resume { reason }) => self.resume(&reason, out),
            Event::Command(Command::Flatten { reason }) => self.flatten(&reason, out),
            Event::Command(Command::Disable { reason }) => self.disable(&reason, out),
            Event::Command(Command::Enable { reason }) => self.enable(&reason, out),
        }
    }

    /// [`Self::handle`] of `Event::Market`, without moving the event (the hot path).
    #[inline]
    pub fn on_market(&mut self, ev: &MarketEvent, out: &mut Outbox) {
        match *ev {
            MarketEvent::Trade(t) => {
                self.on_price(t.ts, t.price, t.price, t.price, t.price, t.size, t, out);
            }
            MarketEvent::Bar(b) => {
                // A bar acts as one print at its close, stamped at its start.
                let t = Trade { symbol: b.symbol, ts: b.ts, price: b.close, size: b.volume };
                self.on_price(b.ts, b.open, b.high, b.low, b.close, b.volume, t, out);
            }
            MarketEvent::Quote(q) => {
                if q.symbol == self.symbol {
                    self.now = self.now.max(q.ts);
                    self.book.mark_quote(&q);
                }
            }
        }
    }

    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn on_price(
        &mut self,
        ts: Timestamp,
        open: Price,
        high: Price,
        low: Price,
        close: Price,
        volume: Decimal,
        t: Trade,
        out: &mut Outbox,
    ) {
        if t.symbol != self.symbol || self.stopped() {
            if !self.stopped()
                && let Some(r) = self.related.as_mut()
                && r.symbol() == t.symbol
            {
                r.on_price([open, high, low, close, volume], &t, &mut self.strategy, &mut out.events);
            }
            return;
        }
        self.now = ts;
        if self.option.as_ref().is_some_and(|leg| leg.expired(ts)) {
            self.on_expiry();
        }
        // 1. Session clock and candles: a completed candle reaches the strategy before this price.
        let (phase, completed) = self.candles.on_price(ts, open, high, low, close, volume);
        let day = self.candles.day();
        let day_index = day.index;
        if day_index != self.day_index {
            self.day_index = day_index;
            self.session_close = day.close;
            self.refresh_timer();
        }
        if day_index != self.price_day {
            self.on_price_day(day_index, ts, out);
        }
        if completed && let Some(c) = self.candles.take_completed() {
            self.completed(&c, out);
        }
        if let Some(r) = self.related.as_mut() {
            r.roll(ts, &mut self.strategy, &mut out.events);
        }
        // 2. Marks: the print, and the held option contract requoted from it.
        self.book.mark_trade(t.symbol, t.price, t.size);
        if let Some(q) = self.option.as_mut().and_then(|leg| leg.requote(t.price, ts)) {
            self.book.mark_quote(&q);
        }
        // 2b. Trading state: a new day ends a day-long halt; loss guards on every price.
        self.watch_losses(day_index, phase, out);
        // 3. Session flatten and protective exits (on the traded instrument's price).
        if !self.book.projected_qty(self.traded).is_zero() {
            let mark = self.book.mark(self.traded).unwrap_or(t.price);
            if phase != Phase::Open {
                self.close_position(ExitReason::SessionEnd, phase, out);
            } else if let Some(reason) = self.exits.on_price(mark) {
                self.close_position(reason, phase, out);
            }
        }
        // 4. Strategy → decision → risk → venue.
        let holding = self.holding();
        if let Some(sig) = self.strategy.on_trade(&t, TradeContext { phase, holding }) {
            out.events.push(AgentEvent::Signal(sig));
            self.act(sig, t.price, phase, out);
        }
    }

    /// An external signal: acted on at once, at the traded symbol's latest print, through the
    /// same decision and risk path as a strategy's own signal. Ends with
    /// [`AgentEvent::External`]: the orders it caused, or why it was refused.
    fn on_external(&mut self, x: ExternalIn, out: &mut Outbox) {
        let start = out.events.len();
        let refused = self.take_external(&x.signal, out).err();
        let mut orders = Vec::new();
        let mut denied = None;
        for e in &out.events[start..] {
            match e {
                AgentEvent::OrderSent(o) => orders.push(o.id.clone()),
                AgentEvent::Denied(d) if denied.is_none() => {
                    denied = Some(format!("{}: {}", d.reason, d.message))
                }
                _ => {}
            }
        }
        let refused = refused.or(if orders.is_empty() { denied } else { None });
        if let Some(why) = &refused {
            tracing::info!(agent = %self.cfg.name, id = ?x.id, "external signal {} refused: {why}", x.signal.direction);
        }
        out.events.push(AgentEvent::External(ExternalOutcome {
            ts: self.now,
            id: x.id,
            signal: x.signal,
            refused,
            orders,
        }));
    }

    fn take_external(&mut self, e: &ExternalEvent, out: &mut Outbox) -> Result<(), String> {
        if self.stopped() {
            return Err("the agent is stopping".into());
        }
        let Some(price) = self.book.mark(self.symbol) else {
            return Err(format!("no price for {} yet", self.cfg.symbol_label));
        };
        let (phase, _) = self.clock.phase(self.now);
        let holding = self.holding();
        let AnyStrategy::ExternalSignal(s) = &mut self.strategy else {
            return Err("this agent's algorithm takes no external signals".into());
        };
        let sig = s.on_external(e, price, self.now, TradeContext { phase, holding })?;
        out.events.push(AgentEvent::Signal(sig));
        self.act(sig, price, phase, out);
        Ok(())
    }

    /// A time came that no market event brought: the session clock moves to it (a new day
    /// ends a halt; past flatten or the session end the position is closed).
    fn on_timer(&mut self, ts: Timestamp, out: &mut Outbox) {
        if self.stopped() {
            return;
        }
        self.now = self.now.max(ts);
        let (phase, day) = self.clock.phase(self.now);
        self.day_index = day.index;
        self.session_close = day.close;
        self.watch_losses(day.index, phase, out);
        if phase != Phase::Open && !self.book.projected_qty(self.traded).is_zero() {
            self.close_position(ExitReason::SessionEnd, phase, out);
        }
        self.refresh_timer();
    }

    /// Recompute [`Self::next_timer`]: the session's flatten (or end) while the agent holds a
    /// position or has orders working; the next trading day while it is halted.
    fn refresh_timer(&mut self) {
        const DAY: i64 = 86_400 * Timestamp::NANOS_PER_SEC;
        if self.stopped() || self.now.0 == 0 {
            self.timer = None;
            return;
        }
        let day = self.clock.day(self.now);
        let exposed = self.book.has_orders() || !self.book.qty(self.traded).is_zero();
        let flatten = (exposed && self.now.0 < day.flatten && day.open < day.close)
            .then(|| Timer { at: Timestamp(day.flatten), deliver_by: Timestamp(day.next - 1) });
        let roll = self
            .halted_day
            .is_some()
            .then(|| Timer { at: Timestamp(day.next), deliver_by: Timestamp(day.next + DAY - 1) });
        self.timer = match (flatten, roll) {
            (Some(f), Some(r)) => Some(if f.at <= r.at { f } else { r }),
            (f, r) => f.or(r),
        };
    }

    /// What the agent holds once its orders in flight are done, as the strategy sees it (a
    /// call is long, a put is short).
    #[inline]
    fn holding(&self) -> Holding {
        let qty = self.book.projected_qty(self.traded);
        if self.option.is_none() {
            return holding(qty);
        }
        match self.option.as_ref().and_then(OptionLeg::is_call) {
            Some(call) if fastdec::is_positive(qty) => {
                if call {
                    Holding::Long
                } else {
                    Holding::Short
                }
            }
            _ => holding(qty),
        }
    }

    /// Act on a signal, or keep it until the order in flight has its outcome.
    fn act(&mut self, sig: Signal, price: Price, phase: Phase, out: &mut Outbox) {
        if self.book.blocked() {
            tracing::info!(agent = %self.cfg.name, at = %sig.ts, "signal {}: waits for the order in flight", sig.direction);
            self.pending = Some(Pending { signal: sig, price, phase });
            return;
        }
        if self.option.is_some() {
            let held = self.holding();
            self.option_signal(&sig, held, phase, out);
            return;
        }
        let pos = self.book.projected_qty(self.traded);
        let intents = self.decision.decide(&sig, pos);
        if let Direction::Target(t) = sig.direction {
            self.repeats.target(self.day_index, t);
        }
        for i in intents.iter() {
            if self.book.blocked() {
                // A reverse: the entry waits for the close to fill.
                self.pending = Some(Pending { signal: sig, price, phase });
                break;
            }
            self.send(i, price, phase, out);
        }
        self.repeats.done();
    }

    /// Options: a long view buys a call, a short view buys a put; reversing sells the held
    /// contract first, and the new contract is bought once that sale has filled.
    fn option_signal(&mut self, sig: &Signal, held: Holding, phase: Phase, out: &mut Outbox) {
        let long = match sig.direction {
            Direction::Long => true,
            Direction::Short => false,
            Direction::Flat => {
                self.close_position(ExitReason::Signal, phase, out);
                return;
            }
            Direction::Target(_) => {
                let message = "target-position signals are not supported for options; ignored".to_owned();
                out.events.push(AgentEvent::Warning { ts: sig.ts, message });
                return;
            }
        };
        let view = if long { Holding::Long } else { Holding::Short };
        if held == view {
            tracing::info!(agent = %self.cfg.name, at = %sig.ts, "entry skipped because the position is already {}", sig.direction);
            return;
        }
        if held != Holding::Flat {
            self.close_position(ExitReason::Signal, phase, out);
            if self.book.blocked() {
                self.pending = Some(Pending { signal: *sig, price: sig.price, phase });
                return;
            }
            if !self.book.qty(self.traded).is_zero() {
                return; // the close was refused; no new contract
            }
        }
        if phase != Phase::Open {
            tracing::info!(agent = %self.cfg.name, at = %sig.ts, ?phase, "entry skipped because the session is not open");
            return;
        }
        let Some(leg) = self.option.as_mut() else { return };
        leg.release();
        // A new contract trades under the same symbol: the old one's prices mean nothing now.
        self.book.clear_marks(self.traded);
        match leg.select(long, sig.price, sig.ts) {
            Ok(q) => {
                let message = leg.describe_choice(&q, sig.price);
                out.events.push(AgentEvent::Info { ts: sig.ts, message });
                let qty = self.decision.units(self.cfg.decision.entry_size, q.ask);
                if let Some(message) = self.slippage_refusal(&q) {
                    self.refuse_entry(qty, q.ask, DenyReason::MaxSlippage, message, out);
                    return;
                }
                self.book.mark_quote(&q);
                let intent = OrderIntent { side: Side::Buy, qty, purpose: Purpose::Entry };
                self.send(&intent, q.ask, phase, out);
            }
            Err(e) => {
                let reason = match e {
                    crate::options::OptionsError::NoExpiryInWindow { .. } => DenyReason::NoExpiryInWindow,
                    _ => DenyReason::NoContract,
                };
                // No contract, no premium: the quantity is unknown (0).
                self.refuse_entry(Decimal::ZERO, sig.price, reason, e.to_string(), out);
            }
        }
    }

    /// A poll of the broker's option chain: the listed chain takes it, the held contract is
    /// marked at its newer quote (protective exits look at it on the next print), and entries
    /// the snapshot could not take are reported.
    #[cold]
    fn on_chain(&mut self, snap: &ChainSnapshot, out: &mut Outbox) {
        let Some(leg) = self.option.as_mut() else { return };
        let (refused, quote) = leg.on_chain(snap);
        if let Some(q) = quote {
            self.book.mark_quote(&q);
        }
        if !refused.is_empty() {
            out.events.push(AgentEvent::Warning { ts: snap.ts, message: refused.to_string() });
        }
    }

    /// The held option contract stopped trading: the venue settles it and cancels its orders
    /// (events to come); a contract chosen but never held is simply let go.
    #[cold]
    #[inline(never)]
    fn on_expiry(&mut self) {
        if self.book.qty(self.traded).is_zero()
            && let Some(leg) = self.option.as_mut()
        {
            leg.release();
        }
    }

    fn completed(&mut self, c: &Candle, out: &mut Outbox) {
        tracing::debug!(
            agent = %self.cfg.name,
            at = %c.end,
            open = %c.open, high = %c.high, low = %c.low, close = %c.close, volume = %c.volume,
            "candle"
        );
        let strategy = &mut self.strategy;
        let events = &mut out.events;
        let kept = &mut self.seen;
        let seen = |x: &Candle| {
            strategy.on_candle(x);
            if kept.len() == WARMUP_KEEP {
                kept.pop_front();
            }
            kept.push_back(*x);
            events.push(AgentEvent::Candle(*x));
        };
        if let Err(message) = self.style.apply(c, seen) {
            out.events.push(AgentEvent::Warning { ts: c.end, message });
        }
        self.recorder.candle(c, &self.strategy);
        self.recorder.sample(c.end, self.book.equity());
    }

    /// Close what will be held once the orders in flight are done.
    fn close_position(&mut self, reason: ExitReason, phase: Phase, out: &mut Outbox) {
        let pos = self.book.projected_qty(self.traded);
        if pos.is_zero() {
            return;
        }
        // A position taken over at a restart has no price before the first event: its average
        // price stands in (a market exit needs none; the gate needs a reference).
        let mark = self.book.mark(self.traded);
        let avg = Some(self.book.position(self.traded).avg_price).filter(|p| !p.is_zero());
        let Some(price) = mark.or(avg) else { return };
        let side = if pos > Decimal::ZERO { Side::Sell } else { Side::Buy };
        let intent = OrderIntent { side, qty: pos.abs(), purpose: Purpose::Exit(reason) };
        self.send(&intent, price, phase, out);
    }

    /// Ask the venue to cancel every working order.
    fn cancel_all(&mut self, out: &mut Outbox) {
        let now = self.now;
        for id in self.book.order_ids() {
            out.requests.push(Request::Cancel { id: id.clone(), ts: now });
        }
    }

    fn order_kind(&self, side: Side, price: Price, exit: bool) -> OrderKind {
        let off = self.cfg.tick * Decimal::from(self.cfg.offset_ticks);
        let s = side.sign();
        match self.cfg.order_type {
            OrderType::Market => OrderKind::Market,
            OrderType::MarketableLimit => OrderKind::MarketableLimit { offset_ticks: self.cfg.offset_ticks },
            // Exits must leave the market: they go as market orders for the other types.
            _ if exit => OrderKind::Market,
            OrderType::Limit => OrderKind::Limit { limit: price - s * off },
            OrderType::Stop => OrderKind::Stop { stop: price + s * off },
            OrderType::StopLimit => {
                OrderKind::StopLimit { stop: price + s * off, limit: price + s * off * Decimal::TWO }
            }
        }
    }

    /// The next client order id: never repeated in this run, and (with the runtime's per-run
    /// prefix) never across runs.
    fn next_id(&mut self) -> ClientOrderId {
        self.seq += 1;
        ClientOrderId(format!("{}-{}", self.cfg.order_prefix, self.seq))
    }

    /// The traded instrument's name at the venue: the ticker, or the option contract.
    fn instrument(&self, label: Option<&str>) -> InstrumentId {
        InstrumentId(label.unwrap_or(&self.cfg.symbol_label).to_owned())
    }

    fn send(&mut self, i: &OrderIntent, price: Price, phase: Phase, out: &mut Outbox) {
        let label = self.option_label();
        let req = OrderRequest {
            id: self.next_id(),
            symbol: self.traded,
            instrument: self.instrument(label.as_deref()),
            side: i.side,
            qty: i.qty,
            kind: self.order_kind(i.side, price, i.purpose.is_exit()),
            purpose: i.purpose,
            ref_price: price,
            ts: self.now,
            // Day orders: expire at the session close.
            expire_at: Some(Timestamp(self.session_close.max(self.now.0))),
        };
        let ctx = GateContext { phase, position: self.book.projected_qty(self.traded), day: self.day_index };
        let acct = self.account_snapshot(price);
        match self.gate.check_with(req, &ctx, acct.as_ref()) {
            Ok(approved) => {
                out.events.push(AgentEvent::OrderSent(approved.inner().clone()));
                self.book.sent(approved.inner());
                out.requests.push(Request::Submit(approved));
                self.refresh_timer();
            }
            Err(denied) => {
                if self.repeats.is_repeat(denied.reason.code()) {
                    tracing::info!(
                        agent = %self.cfg.name,
                        at = %self.now,
                        "{} {} refused again today: {} (counted, not journaled)",
                        denied.order.side,
                        denied.order.qty.normalize(),
                        denied.reason.code()
                    );
                    self.recorder.on_repeated_denial();
                    return;
                }
                let instrument = label.as_deref().unwrap_or(&self.cfg.symbol_label);
                self.recorder.on_denied(&denied, instrument);
                out.events.push(AgentEvent::Denied(*denied));
            }
        }
    }

    fn on_order_event(&mut self, ev: OrderEvent, out: &mut Outbox) {
        // A venue does not know what an order was for: the agent's own order says.
        let purpose = self.book.on_order_event(&ev).map(|o| o.req.purpose);
        let ev = match ev {
            OrderEvent::Filled(mut f) | OrderEvent::PartiallyFilled(mut f) if purpose.is_some() => {
                f.purpose = purpose.unwrap_or(f.purpose);
                if f.leaves.is_zero() { OrderEvent::Filled(f) } else { OrderEvent::PartiallyFilled(f) }
            }
            ev => ev,
        };
        if let Some(f) = ev.fill()
            && purpose.is_none()
        {
            self.foreign_fill(f, out);
        }
        let fill = ev.fill().cloned();
        out.events.push(AgentEvent::Order(ev));
        if let Some(f) = fill {
            self.book.apply_fill(&f);
            let p = self.book.position(self.traded);
            if let Some(leg) = self.option.as_ref()
                && leg.contract().is_some()
            {
                self.recorder.set_symbol(&leg.label());
            }
            self.recorder.on_fill(&f);
            self.record_compliance_fill(&f, p.qty);
            if p.qty.is_zero()
                && let Some(leg) = self.option.as_mut()
            {
                leg.release();
            }
            if p.qty.is_zero() {
                self.exits.disarm();
            } else {
                self.exits.arm(p.avg_price, p.qty > Decimal::ZERO);
            }
            out.events.push(AgentEvent::Position {
                ts: f.ts,
                instrument: f.instrument.clone(),
                qty: p.qty,
                avg_price: p.avg_price,
                realized: p.realized,
                equity: self.book.equity(),
            });
        }
        self.book.forget_done();
        self.refresh_timer();
        if self.stopping {
            self.try_finish(out);
        } else if !self.book.blocked()
            && let Some(p) = self.pending.take()
        {
            self.act(p.signal, p.price, p.phase, out);
        }
    }

    /// A fill for an order this agent did not send: an option settled at expiry (the venue's
    /// doing), else a trade someone made by hand on the account. Booked either way, so the
    /// agent's books keep matching the venue's.
    #[cold]
    fn foreign_fill(&mut self, f: &crate::model::order::Fill, out: &mut Outbox) {
        if f.purpose == Purpose::Exit(ExitReason::Expiry) {
            let (ts, message) = match self.option.as_ref().and_then(OptionLeg::settlement) {
                Some((_, at, message)) => (at, message),
                None => {
                    let name = self.option.as_ref().map(OptionLeg::label).unwrap_or_default();
                    (f.ts, format!("{name} expired: settled at intrinsic value {}", f.price))
                }
            };
            out.events.push(AgentEvent::Info { ts, message });
            return;
        }
        let message = format!(
            "fill for order {} that this agent did not send: {} {} at {}; booked",
            f.id, f.side, f.qty, f.price
        );
        out.events.push(AgentEvent::Warning { ts: f.ts, message });
    }

    fn shutdown(&mut self, out: &mut Outbox) {
        if self.stopped() {
            return;
        }
        self.cancel_all(out);
        // Exits are always approved; the phase only matters for entries.
        self.close_position(ExitReason::Shutdown, Phase::OutOfSession, out);
        self.stopping = true;
        self.pending = None;
        self.timer = None;
        self.try_finish(out);
    }

    /// Shutdown ends once nothing works at the venue: the last candle completes then.
    fn try_finish(&mut self, out: &mut Outbox) {
        if self.stopped || self.book.has_orders() {
            return;
        }
        if let Some(c) = self.candles.flush() {
            self.completed(&c, out);
        }
        self.stopped = true;
    }

    /// The report of the run so far (the agent keeps running): what the dashboard shows of a
    /// live agent. Costs a copy of the bounded chart and the deals; call it on request, not
    /// on every event.
    pub fn report_so_far(&self) -> Report {
        let mut recorder = self.recorder.clone();
        let equity = self.book.equity();
        recorder.sample(self.now, equity);
        recorder.finish(self.cfg.starting_cash, equity, self.book.fees())
    }

    /// Finish the run and produce the report (call after [`Command::Shutdown`] has been
    /// handled and the venue's answers delivered).
    pub fn into_report(mut self) -> Report {
        if !self.stopped
            && let Some(c) = self.candles.flush()
        {
            let equity = self.book.equity();
            self.recorder.sample(c.end, equity);
        }
        let equity = self.book.equity();
        self.recorder.sample(self.now, equity);
        if let AnyStrategy::ExternalSignal(s) = &self.strategy {
            self.recorder.signals_refused(s.refused());
        }
        self.recorder.finish(self.cfg.starting_cash, equity, self.book.fees())
    }
}

#[inline]
fn holding(qty: Decimal) -> Holding {
    if qty.is_zero() {
        Holding::Flat
    } else if qty.is_sign_negative() {
        Holding::Short
    } else {
        Holding::Long
    }
}
