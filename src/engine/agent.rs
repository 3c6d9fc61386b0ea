//! One agent's loop body: a single input enum in, state changes only here, events out.
//!
//! `Input::Market` → session clock and candle aggregation ([`CandleBuilder`], the same code
//! `runner candles` runs; completed candles go to the strategy first) → broker matching →
//! protective exits and session flatten → strategy → decision → risk gate → broker. Broker events come back through the same loop.
//! The risk side (trading state, loss guards, compliance ledgers) is in `agent/risk.rs`.
//! Backtest and live-style runs drive exactly this code, so they make the same trades.

use rust_decimal::Decimal;

use super::candles::CandleStyle;
use super::option_leg::OptionLeg;
use super::related::RelatedFeed;
use crate::broker::paper::{PaperBroker, PaperConfig};
use crate::decision::{Decision, DecisionConfig, OrderIntent};
use crate::market::candles::CandleBuilder;
use crate::market::event::{Candle, MarketEvent, Trade};
use crate::market::session::SessionHours;
use crate::model::order::{ExitReason, OrderEvent, OrderKind, OrderRequest, Purpose};
use crate::model::{ClientOrderId, Money, Price, Side, SymbolId, Timestamp, fastdec};
use crate::recipe::Recipe;
use crate::recipe::model::{InstrumentKind, OrderType};
use crate::report::{Recorder, Report};
use crate::risk::account::ComplianceConfig;
use crate::risk::gate::{
    DenyReason, GateContext, OrderDenied, ProtectiveExits, RiskGate, RiskLimits, TradingState,
};
use crate::risk::guard::LossGuard;
use crate::strategy::{AnyStrategy, Direction, Holding, Phase, Signal, Strategy, TradeContext};

mod refusal;
mod risk;

/// A command to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Stop: cancel working orders, flatten, finish the report.
    Shutdown,
    /// Halt (e.g. the fleet kill switch): cancel working orders, flatten, refuse entries for
    /// the rest of the trading day.
    Halt {
        /// Why (shown in the agent's output).
        reason: String,
    },
    /// Reduce-only: refuse every order that would increase the position (until restart).
    ReduceOnly {
        /// Why (shown in the agent's output).
        reason: String,
    },
}

/// Everything an agent loop consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Market data.
    Market(MarketEvent),
    /// An order event from the broker.
    Broker(OrderEvent),
    /// A command.
    Command(Command),
}

/// What the agent reports as it runs (printed by `runner up`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent<'a> {
    /// A completed candle, as the strategy sees it (after the candle style).
    Candle(&'a Candle),
    /// A strategy signal.
    Signal(&'a Signal),
    /// The risk gate refused an order.
    Denied(&'a OrderDenied),
    /// An order was created and approved.
    OrderSent(&'a OrderRequest),
    /// An order lifecycle event.
    Order(&'a OrderEvent),
    /// Something worth showing (e.g. the option contract chosen for an entry, an expiry settlement).
    Info {
        /// When.
        ts: Timestamp,
        /// What happened.
        message: String,
    },
    /// Something the agent could not do (e.g. no option contract in the expiry window).
    Warning {
        /// When.
        ts: Timestamp,
        /// What happened.
        message: String,
    },
    /// The name orders and fills on `symbol` go by from now on (an option contract's OCC
    /// symbol, announced before the first order on it). Quiet on the terminal; the journal
    /// labels its records with it.
    Instrument {
        /// The broker symbol.
        symbol: SymbolId,
        /// Its name.
        name: &'a str,
    },
    /// The position after a fill.
    Position {
        /// When.
        ts: Timestamp,
        /// Signed quantity.
        qty: Decimal,
        /// Average price.
        avg_price: Price,
        /// Realized P&L so far.
        realized: Money,
        /// Account equity.
        equity: Money,
    },
}

/// Agent settings derived from a recipe.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Agent name (client order id prefix).
    pub name: String,
    /// Algorithm label for reports.
    pub strategy_label: String,
    /// Instrument label for reports.
    pub symbol_label: String,
    /// Candle length in nanoseconds.
    pub timeframe_nanos: i64,
    /// Session hours.
    pub hours: SessionHours,
    /// Paper broker settings.
    pub paper: PaperConfig,
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
}

/// Why a recipe cannot run in the engine.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not supported yet.
    #[error("{0}")]
    Unsupported(String),
}

impl AgentConfig {
    /// Settings from a recipe.
    pub fn from_recipe(r: &Recipe) -> Result<Self, ConfigError> {
        let (multiplier, contracts) = match r.instrument.kind {
            InstrumentKind::Equity | InstrumentKind::Crypto => (Decimal::ONE, false),
            InstrumentKind::Option => (Decimal::ONE_HUNDRED, true),
        };
        let b = &r.broker;
        let starting = b.starting_equity.map_or(Decimal::from(100_000), |m| m.value());
        let allocation = r.allocation_or_default().map_or(starting, |m| m.value());
        let paper = PaperConfig {
            starting_cash: starting,
            commission_per_share: b.commission_per_share_or_default().value(),
            commission_per_contract: b.commission_per_contract_or_default().value(),
            commission_per_order: b.commission_per_order_or_default().value(),
            slippage_ticks: b.slippage_ticks_or_default(),
            tick: Decimal::new(1, 2),
            multiplier,
            contracts,
            size_limited: false,
        };
        let max_units = if contracts { r.risk.max_contracts } else { r.risk.max_shares };
        Ok(Self {
            name: r.agent.clone(),
            strategy_label: serde_json::to_value(r.algorithm.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            symbol_label: r.instrument.underlying.clone(),
            timeframe_nanos: r.algorithm.timeframe.nanos(),
            hours: crate::runtime::build::session_hours(r),
            paper,
            decision: DecisionConfig {
                allocation,
                entry_size: r.risk.entry_size_or_default(),
                add_size: r.risk.add_size,
                multiplier,
                tolerance: r.algorithm.tolerance_or_default().fraction(),
            },
            limits: RiskLimits {
                max_units: max_units.map(Decimal::from),
                max_notional: r.risk.max_notional.map(|m| m.value()),
                multiplier: Some(multiplier),
                max_trades_per_day: r.risk.max_trades_per_day,
                allocation: r.risk.allocation.map(|m| m.value()),
                max_orders_per_minute: r.risk.max_orders_per_minute,
            },
            exits: ProtectiveExits::new(
                r.risk.stop_loss.map(|p| p.fraction()),
                r.risk.take_profit.map(|p| p.fraction()),
                r.risk.trailing_stop.map(|p| p.fraction()),
            ),
            order_type: r.orders.order_type,
            offset_ticks: r.orders.limit_offset_ticks,
            max_slippage_ticks: r.orders.max_slippage_ticks,
            daily_loss_limit: r.risk.daily_loss_limit.map(|m| m.value()),
            max_drawdown: r.risk.max_drawdown.map(|p| p.fraction()),
            // US securities rules: not for crypto.
            compliance: (r.instrument.kind != InstrumentKind::Crypto)
                .then(|| risk::compliance_config(r, starting)),
            candle_style: crate::runtime::build::candle_style(r).map_err(ConfigError::Unsupported)?,
        })
    }
}

/// One agent: strategy, decision, risk gate, paper broker and report, driven by [`Agent::handle`].
pub struct Agent {
    cfg: AgentConfig,
    symbol: SymbolId,
    strategy: AnyStrategy,
    candles: CandleBuilder,
    style: CandleStyle,
    decision: Decision,
    gate: RiskGate,
    exits: ProtectiveExits,
    broker: PaperBroker,
    recorder: Recorder,
    seq: u64,
    now: Timestamp,
    outbox: Vec<OrderEvent>,
    stopped: bool,
    day_index: i64,
    session_close: i64,
    /// The broker symbol positions are held in: the instrument, or the option contract.
    traded: SymbolId,
    option: Option<OptionLeg>,
    /// The option leg's label last announced with [`AgentEvent::Instrument`].
    announced: String,
    guard: LossGuard,
    /// A day-long halt (daily loss, max drawdown, halt command) ends when this trading day is over.
    halted_day: Option<i64>,
    /// The other symbol the strategy reads (correlation), if any.
    related: Option<RelatedFeed>,
}

impl Agent {
    /// An agent trading `symbol` with `strategy`.
    pub fn new(cfg: AgentConfig, symbol: SymbolId, strategy: AnyStrategy) -> Self {
        let recorder = Recorder::new(&cfg.strategy_label, &cfg.symbol_label, cfg.paper.multiplier);
        Self {
            symbol,
            strategy,
            candles: CandleBuilder::new(symbol, cfg.timeframe_nanos, cfg.hours),
            style: cfg.candle_style.clone(),
            decision: Decision::new(cfg.decision),
            gate: risk::build_gate(&cfg),
            guard: LossGuard::new(cfg.daily_loss_limit, cfg.max_drawdown, cfg.paper.starting_cash),
            halted_day: None,
            exits: cfg.exits,
            broker: PaperBroker::new(cfg.paper.clone()),
            recorder,
            seq: 0,
            now: Timestamp(0),
            outbox: Vec::with_capacity(8),
            stopped: false,
            day_index: 0,
            session_close: 0,
            traded: symbol,
            option: None,
            announced: String::new(),
            related: None,
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
        self.recorder.set_price_source(crate::report::PriceSource::Synthetic);
        self.option = Some(leg);
        self
    }

    /// The paper broker (positions, cash, equity).
    pub fn broker(&self) -> &PaperBroker {
        &self.broker
    }

    /// The strategy (its indicator state, for tests and status).
    pub fn strategy(&self) -> &AnyStrategy {
        &self.strategy
    }

    /// The latest event time seen.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Whether a shutdown has been handled.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Process one input. `out` sees every signal, order event and position change.
    #[inline]
    pub fn handle<O: FnMut(AgentEvent<'_>)>(&mut self, input: Input, out: &mut O) {
        match input {
            Input::Market(MarketEvent::Trade(t)) => {
                self.on_price(t.ts, t.price, t.price, t.price, t.price, t.size, t, out);
            }
            Input::Market(MarketEvent::Bar(b)) => {
                // A bar acts as one print at its close, stamped at its start.
                let t = Trade { symbol: b.symbol, ts: b.ts, price: b.close, size: b.volume };
                self.on_price(b.ts, b.open, b.high, b.low, b.close, b.volume, t, out);
            }
            Input::Market(MarketEvent::Quote(q)) => {
                if q.symbol == self.symbol {
                    self.now = self.now.max(q.ts);
                    self.broker.on_quote(&q);
                    self.pump(out);
                }
            }
            Input::Broker(ev) => self.on_order_event(&ev, out),
            Input::Command(Command::Shutdown) => self.shutdown(out),
            Input::Command(Command::Halt { reason }) => self.halt(TradingState::Halted, &reason, out),
            Input::Command(Command::ReduceOnly { reason }) => {
                self.halt(TradingState::ReduceOnly, &reason, out);
            }
        }
    }

    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn on_price<O: FnMut(AgentEvent<'_>)>(
        &mut self,
        ts: Timestamp,
        open: Price,
        high: Price,
        low: Price,
        close: Price,
        volume: Decimal,
        t: Trade,
        out: &mut O,
    ) {
        if t.symbol != self.symbol || self.stopped {
            if !self.stopped
                && let Some(r) = self.related.as_mut()
                && r.symbol() == t.symbol
            {
                r.on_price([open, high, low, close, volume], &t, &mut self.strategy, out);
            }
            return;
        }
        self.now = ts;
        if self.option.as_ref().is_some_and(|leg| leg.expired(ts)) {
            self.settle_expiry(out);
        }
        // 1. Session clock and candles: a completed candle reaches the strategy before this price.
        let (phase, completed) = self.candles.on_price(ts, open, high, low, close, volume);
        let day = self.candles.day();
        let day_index = day.index;
        self.day_index = day_index;
        self.session_close = day.close;
        if completed && let Some(c) = self.candles.take_completed() {
            self.completed(&c, out);
        }
        if let Some(r) = self.related.as_mut() {
            r.roll(ts, &mut self.strategy, out);
        }
        // 2. The broker sees the print (working orders, marks).
        self.broker.on_trade(&t);
        if let Some(q) = self.option.as_mut().and_then(|leg| leg.requote(t.price, ts)) {
            self.broker.on_quote(&q);
        }
        if self.broker.has_working_orders() {
            self.broker.expire(ts);
        }
        self.pump(out);
        // 2b. Trading state: a new day ends a day-long halt; loss guards on every price.
        self.watch_losses(day_index, phase, out);
        // 3. Session flatten and protective exits (on the traded instrument's price).
        if !self.broker.position_qty(self.traded).is_zero() {
            let mark = self.broker.mark(self.traded).unwrap_or(t.price);
            if phase != Phase::Open {
                self.close_position(ExitReason::SessionEnd, phase, out);
            } else if let Some(reason) = self.exits.on_price(mark) {
                self.close_position(reason, phase, out);
            }
        }
        // 4. Strategy → decision → risk → broker.
        let holding = self.holding();
        if let Some(sig) = self.strategy.on_trade(&t, TradeContext { phase, holding }) {
            out(AgentEvent::Signal(&sig));
            if self.option.is_some() {
                self.option_signal(&sig, holding, phase, out);
            } else {
                let pos = self.broker.position(self.traded).qty;
                let intents = self.decision.decide(&sig, pos);
                for i in intents.iter() {
                    self.send(i, t.price, phase, out);
                }
            }
        }
    }

    /// What the agent holds, as the strategy sees it (a call is long, a put is short).
    #[inline]
    fn holding(&self) -> Holding {
        let qty = self.broker.position_qty(self.traded);
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

    /// Options: a long view buys a call, a short view buys a put; reversing sells the held
    /// contract first.
    fn option_signal<O: FnMut(AgentEvent<'_>)>(
        &mut self,
        sig: &Signal,
        held: Holding,
        phase: Phase,
        out: &mut O,
    ) {
        let long = match sig.direction {
            Direction::Long => true,
            Direction::Short => false,
            Direction::Flat => {
                self.close_position(ExitReason::Signal, phase, out);
                return;
            }
            Direction::Target(_) => {
                let message = "target-position signals are not supported for options; ignored".to_owned();
                out(AgentEvent::Warning { ts: sig.ts, message });
                return;
            }
        };
        let view = if long { Holding::Long } else { Holding::Short };
        if held == view {
            return;
        }
        if held != Holding::Flat {
            self.close_position(ExitReason::Signal, phase, out);
            if !self.broker.position(self.traded).qty.is_zero() {
                return; // the close is still working; no new contract until it is done
            }
        }
        if phase != Phase::Open {
            return;
        }
        let Some(leg) = self.option.as_mut() else { return };
        leg.release();
        match leg.select(long, sig.price, sig.ts) {
            Ok(q) => {
                out(AgentEvent::Info { ts: sig.ts, message: leg.describe_choice(&q, sig.price) });
                let qty = self.decision.units(self.cfg.decision.entry_size, q.ask);
                if let Some(message) = self.slippage_refusal(&q) {
                    self.refuse_entry(qty, q.ask, DenyReason::MaxSlippage, message, out);
                    return;
                }
                self.broker.on_quote(&q);
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

    /// An option held past its last trading time settles at intrinsic value (exit reason
    /// `expiry`); orders still working on it are canceled. Rare: kept out of the trade path.
    #[cold]
    #[inline(never)]
    fn settle_expiry<O: FnMut(AgentEvent<'_>)>(&mut self, out: &mut O) {
        let Some(leg) = self.option.as_mut() else { return };
        let settlement = leg.settlement();
        if self.broker.position(self.traded).qty.is_zero() {
            leg.release();
        }
        self.broker.cancel_all(self.now);
        if let Some((price, at, message)) = settlement
            && !self.broker.position(self.traded).qty.is_zero()
        {
            out(AgentEvent::Info { ts: at, message });
            self.seq += 1;
            let id = ClientOrderId(format!("{}-{}", self.cfg.name, self.seq));
            self.broker.settle(self.traded, price, id, Purpose::Exit(ExitReason::Expiry), at);
        }
        self.pump(out);
    }

    fn completed<O: FnMut(AgentEvent<'_>)>(&mut self, c: &Candle, out: &mut O) {
        let strategy = &mut self.strategy;
        let seen = |x: &Candle| {
            strategy.on_candle(x);
            out(AgentEvent::Candle(x));
        };
        if let Err(message) = self.style.apply(c, seen) {
            out(AgentEvent::Warning { ts: c.end, message });
        }
        self.recorder.sample(c.end, self.broker.equity());
    }

    fn close_position<O: FnMut(AgentEvent<'_>)>(&mut self, reason: ExitReason, phase: Phase, out: &mut O) {
        let pos = self.broker.position(self.traded).qty;
        if pos.is_zero() {
            return;
        }
        let Some(price) = self.broker.mark(self.traded) else { return };
        let side = if pos > Decimal::ZERO { Side::Sell } else { Side::Buy };
        let intent = OrderIntent { side, qty: pos.abs(), purpose: Purpose::Exit(reason) };
        self.send(&intent, price, phase, out);
    }

    fn order_kind(&self, side: Side, price: Price, exit: bool) -> OrderKind {
        let off = self.cfg.paper.tick * Decimal::from(self.cfg.offset_ticks);
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

    fn send<O: FnMut(AgentEvent<'_>)>(&mut self, i: &OrderIntent, price: Price, phase: Phase, out: &mut O) {
        let label = self.announce(out);
        self.seq += 1;
        let req = OrderRequest {
            id: ClientOrderId(format!("{}-{}", self.cfg.name, self.seq)),
            symbol: self.traded,
            side: i.side,
            qty: i.qty,
            kind: self.order_kind(i.side, price, i.purpose.is_exit()),
            purpose: i.purpose,
            ref_price: price,
            ts: self.now,
            // Day orders: expire at the session close.
            expire_at: Some(Timestamp(self.session_close.max(self.now.0))),
        };
        let ctx = GateContext { phase, position: self.broker.position(self.traded).qty, day: self.day_index };
        let acct = self.account_snapshot(price);
        match self.gate.check_with(req, &ctx, acct.as_ref()) {
            Ok(approved) => {
                out(AgentEvent::OrderSent(approved.inner()));
                self.broker.submit(approved, self.now);
                self.pump(out);
            }
            Err(denied) => {
                let instrument = label.as_deref().unwrap_or(&self.cfg.symbol_label);
                self.recorder.on_denied(&denied, instrument);
                out(AgentEvent::Denied(&denied));
            }
        }
    }

    /// Feed queued broker events back through the loop.
    #[inline]
    fn pump<O: FnMut(AgentEvent<'_>)>(&mut self, out: &mut O) {
        if !self.broker.has_events() {
            return;
        }
        self.broker.drain_events(&mut self.outbox);
        if self.outbox.is_empty() {
            return;
        }
        let mut buf = std::mem::take(&mut self.outbox);
        for ev in buf.drain(..) {
            self.on_order_event(&ev, out);
        }
        self.outbox = buf;
    }

    fn on_order_event<O: FnMut(AgentEvent<'_>)>(&mut self, ev: &OrderEvent, out: &mut O) {
        out(AgentEvent::Order(ev));
        if let Some(f) = ev.fill() {
            // The broker has already applied the fill: this is the position after it.
            let p = self.broker.position(self.traded);
            if let Some(c) = self.option.as_ref().and_then(OptionLeg::contract) {
                self.recorder.set_symbol(&c.occ_symbol());
            }
            self.recorder.on_fill(f);
            self.record_compliance_fill(f, p.qty);
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
            out(AgentEvent::Position {
                ts: f.ts,
                qty: p.qty,
                avg_price: p.avg_price,
                realized: p.realized,
                equity: self.broker.equity(),
            });
        }
    }

    fn shutdown<O: FnMut(AgentEvent<'_>)>(&mut self, out: &mut O) {
        if self.stopped {
            return;
        }
        if self.option.as_ref().is_some_and(|leg| leg.expired(self.now)) {
            self.settle_expiry(out);
        }
        self.broker.cancel_all(self.now);
        self.pump(out);
        // Exits are always approved; the phase only matters for entries.
        self.close_position(ExitReason::Shutdown, Phase::OutOfSession, out);
        if let Some(c) = self.candles.flush() {
            self.completed(&c, out);
        }
        self.stopped = true;
    }

    /// Finish the run and produce the report (call after [`Command::Shutdown`]).
    pub fn into_report(mut self) -> Report {
        let equity = self.broker.equity();
        self.recorder.sample(self.now, equity);
        self.recorder.finish(self.cfg.paper.starting_cash, equity, self.broker.fees())
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
