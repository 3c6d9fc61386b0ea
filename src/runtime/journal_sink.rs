//! Journal wiring: turns one agent's [`AgentEvent`] stream into journal records, in order.
//!
//! What belongs here: the mapping from engine events to [`crate::journal`] records (orders and
//! every status change, fills, position snapshots, risk-gate denials, halts, day trades), the
//! day-trade detector that feeds `day_trades`, and the restart rebuild (day-trade history and
//! open positions left by a crashed run of the same agent). Drivers own the sink; the agent
//! never sees the journal.
//!
//! What a restart inherits is decided by [`crate::journal::history`] (shared with `runner journal
//! day-trades`): day trades and positions of earlier paper/live runs timed before this run's
//! first market event, which `runner up` records as the run's `first_event` metadata.
//!
//! A restart reconciles what the journal says the account holds (positions and working orders)
//! with what its venue says (`super::reconcile`); the sink reads the journal's side
//! ([`JournalSink::restore`]) and journals what the reconciliation decides (orders the venue no
//! longer has, an adopted venue state: [`JournalSink::record_inferred`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::process::{Liveness, ProcessStamp};
use crate::engine::agent::{AgentEvent, StateChange};
use crate::journal::AsOf;
use crate::journal::{
    DayTradeRecord, DenialRecord, FillRecord, HaltRecord, HaltScope, Journal, JournalError, NewRun,
    OrderRecord, OrderStatus, OrderType, PositionRecord, RunId, RunMode, RunRecord, SignalRecord, WalSync,
};
use crate::model::order::{OrderEvent, OrderKind, OrderRequest};
use crate::model::{AccountId, AgentId, ClientOrderId, Price, Side, Timestamp};

/// A record waiting for its step's commit ([`JournalSink::begin_step`]).
#[derive(Debug)]
enum Rec {
    Order(OrderRecord),
    Fill(FillRecord),
    DayTrade(DayTradeRecord),
    Position(PositionRecord),
    Denial(DenialRecord),
    Halt(HaltRecord),
    Signal(SignalRecord),
    Control(crate::journal::ControlRecord),
}

/// Who and what a sink journals for.
#[derive(Debug, Clone)]
pub struct SinkInfo {
    /// The agent.
    pub agent: AgentId,
    /// Its broker account.
    pub account: AccountId,
    /// The recipe's instrument (the underlying's ticker).
    pub instrument: String,
    /// Recipe path as given.
    pub recipe: String,
    /// Backtest, paper or live.
    pub mode: RunMode,
}

/// What a restart found in the journal.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// Day trades of this account from earlier paper/live runs that happened before this run's
    /// first market event, oldest first.
    pub day_trades: Vec<DayTradeRecord>,
    /// Earlier paper/live runs of this agent on this account that never ended (their process
    /// died); they are now ended with outcome `crashed`.
    pub crashed_runs: Vec<RunId>,
    /// Open positions a previous run of this agent left behind before this run's first event.
    pub open_positions: Vec<PositionRecord>,
    /// Orders earlier runs of this agent left working (their newest state is not final).
    pub open_orders: Vec<OrderRecord>,
    /// Day trades of earlier paper/live runs left out because they happened at or after this
    /// run's first market event (a replay of the same dates re-creates them).
    pub not_restored: usize,
}

/// Journals one agent's run. Write errors are kept (the first one) and reported by
/// [`JournalSink::error`]; the driver stops the agent when one happens.
pub struct JournalSink {
    journal: Journal,
    info: SinkInfo,
    run: RunId,
    orders: HashMap<ClientOrderId, OrderRecord>,
    fills: u64,
    /// Day-trade detector: signed position and the quantity opened on `day`.
    pos: Decimal,
    day: Option<NaiveDate>,
    opened_today: Decimal,
    opened_since_count: bool,
    error: Option<JournalError>,
    /// Where the agent's external signals come from (`redis:<stream>:<group>`, `socket`).
    signal_source: String,
    /// While an external signal is handed to the agent: the orders it sends, written together
    /// with the signal's record in one commit (one fsync) when its outcome comes — still before
    /// any request leaves (the agent reports the outcome in the same step).
    signal_step: Option<Vec<OrderRecord>>,
    /// Records of the current step, written in one commit at its end ([`Self::end_step`]) or
    /// before an order leaves; `None` outside a step (every record is committed at once).
    step: Option<Vec<Rec>>,
    /// What the start found worth telling an operator (a reconciliation that adopted the
    /// venue's state): the fleet puts it on its bus once the run begins.
    notes: Vec<String>,
    /// Told how long each commit took (the fleet's `runner_journal_write_seconds`).
    commit_observer: Option<Box<dyn FnMut(std::time::Duration) + Send>>,
    /// A commit of the current step carried what must survive power loss and was written
    /// without its fsync: the driver takes it ([`Self::take_unsynced`]) once the step's
    /// requests have left, and syncs before anything is acknowledged.
    unsynced: bool,
}

fn side_word(s: crate::runtime::signal_feed::Side) -> &'static str {
    match s {
        crate::runtime::signal_feed::Side::Buy => "buy",
        crate::runtime::signal_feed::Side::Sell => "sell",
    }
}

fn utc(ts: Timestamp) -> DateTime<Utc> {
    ts.to_utc()
}

fn order_type(kind: &OrderKind) -> (OrderType, Option<Price>, Option<Price>) {
    match *kind {
        OrderKind::Market => (OrderType::Market, None, None),
        // A marketable limit's price is set at the touch by the broker; it is journaled as a
        // limit order without a price.
        OrderKind::MarketableLimit { .. } => (OrderType::Limit, None, None),
        OrderKind::Limit { limit } => (OrderType::Limit, Some(limit), None),
        OrderKind::Stop { stop } => (OrderType::Stop, None, Some(stop)),
        OrderKind::StopLimit { stop, limit } => (OrderType::StopLimit, Some(limit), Some(stop)),
    }
}

/// Whether a run that never ended still holds its account: its process (host, pid and
/// process start, from the run's metadata) is alive, or it ran on another host, which this
/// host cannot check. `None` when it is gone (a crash): the new run may go on.
pub fn still_running(run: &RunRecord) -> Option<String> {
    let stamp = ProcessStamp::read_from(&run.begin.metadata)?;
    let account = run.begin.metadata.get("account").map_or("?", String::as_str);
    match stamp.liveness() {
        Liveness::Gone => None,
        Liveness::Alive => Some(format!(
            "account {account} is in use: run {} of agent {} ({stamp}) is still running (one account belongs to \
             one agent; stop that run first)",
            run.id, run.begin.agent
        )),
        Liveness::OtherHost(host) => Some(format!(
            "account {account} may be in use: run {} of agent {} was started on host {host} and never ended; \
             this host cannot tell whether it still runs. Stop it there, or if that process is gone, end the \
             run with `runner journal end-run {}`",
            run.id, run.begin.agent, run.id
        )),
    }
}

impl JournalSink {
    /// Record the start of a run in `journal` and return the sink.
    pub fn begin(
        mut journal: Journal,
        info: SinkInfo,
        metadata: BTreeMap<String, String>,
    ) -> Result<Self, JournalError> {
        let new = NewRun {
            agent: info.agent.clone(),
            recipe: info.recipe.clone(),
            mode: info.mode,
            started_at: Utc::now(),
            metadata,
        };
        let run = journal.begin_run_exclusive(&new, still_running)?;
        Ok(Self {
            journal,
            info,
            run,
            orders: HashMap::new(),
            fills: 0,
            pos: Decimal::ZERO,
            day: None,
            opened_today: Decimal::ZERO,
            opened_since_count: false,
            error: None,
            signal_source: String::new(),
            signal_step: None,
            step: None,
            notes: Vec::new(),
            commit_observer: None,
            unsynced: false,
        })
    }

    /// Name the agent's external signal source: its signals are journaled (and recognised
    /// again) under it.
    pub fn set_signal_source(&mut self, source: String) {
        self.signal_source = source;
    }

    /// An external signal is about to be handed to the agent: its orders are journaled with its
    /// record, in one commit, when the agent reports what it did ([`AgentEvent::External`]).
    pub fn begin_signal(&mut self) {
        self.signal_step = Some(Vec::new());
    }

    /// The signal's step is over: anything still held is written (the agent always reports an
    /// outcome first, so this is a safeguard).
    pub fn end_signal(&mut self) {
        let held = self.signal_step.take().unwrap_or_default();
        self.write(held.into_iter().map(Rec::Order), true);
    }

    /// Whether signal `id` of this agent's source was handled before (a redelivery). A read
    /// error counts as handled: a signal is never traded twice, at worst once not at all.
    pub fn signal_seen(&self, id: &str) -> bool {
        match self.journal.signal_seen(&self.info.agent, &self.signal_source, id) {
            Ok(found) => found.is_some(),
            Err(e) => {
                tracing::error!(error = %e, "journal: cannot look up signal {id}; treating it as handled");
                true
            }
        }
    }

    /// Journal a signal the runtime refused before the agent saw it (stale, malformed).
    pub fn signal_refused(
        &mut self,
        id: Option<&str>,
        body: Option<&crate::runtime::signal_feed::SignalBody>,
        reason: &str,
        published: Timestamp,
        now: Timestamp,
    ) {
        let rec = SignalRecord {
            run: Some(self.run.clone()),
            agent: self.info.agent.clone(),
            source: self.signal_source.clone(),
            signal_id: id.map(str::to_owned),
            ticker: body.map(|b| b.ticker.clone()).unwrap_or_default(),
            direction: body.map(|b| side_word(b.side).to_owned()).unwrap_or_default(),
            strength: body.map_or(0, |b| b.strength),
            status: "refused".into(),
            reason: Some(reason.to_owned()),
            orders: Vec::new(),
            published: utc(published),
            time: utc(now),
        };
        self.write([Rec::Signal(rec)], false);
    }

    /// Leave the journal's checkpoints to the fleet's checkpointer (see
    /// [`crate::journal::Journal::defer_checkpoints`]); `runner up` does, a backtest does not.
    pub fn defer_checkpoints(&mut self) {
        let r = self.journal.defer_checkpoints();
        self.keep(r);
    }

    /// Keep `note` for the operator (see [`Self::take_notes`]).
    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// The start's notes, once.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// This run's id.
    pub fn run_id(&self) -> &RunId {
        &self.run
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<&JournalError> {
        self.error.as_ref()
    }

    /// One step of the agent begins: its records are committed together when it ends (one
    /// fsync per step rather than per record), and at once whenever an order is about to
    /// leave for its venue (the journal holds an order before the venue does).
    pub fn begin_step(&mut self) {
        if self.step.is_none() {
            self.step = Some(Vec::new());
        }
    }

    /// The step is over: its records are committed.
    pub fn end_step(&mut self) {
        self.flush();
        self.step = None;
    }

    /// The fsync a step's commits still owe (an order that left, a signal's verdict, a halt, an
    /// operator's action were written without it), once: run it ([`WalSync::sync`], blocking)
    /// before acknowledging anything, and report a failure with [`Self::sync_failed`]. Later
    /// synced commits cover it too. `None` when nothing is owed.
    pub fn take_unsynced(&mut self) -> Option<WalSync> {
        if !std::mem::take(&mut self.unsynced) {
            return None;
        }
        self.journal.wal_sync()
    }

    /// The owed fsync failed: the journal is failed like a failed write (the driver stops).
    pub fn sync_failed(&mut self, e: JournalError) {
        self.keep::<()>(Err(e));
    }

    /// Journal `recs`: now when outside a step or `durable_now` (everything of the step so far
    /// with them), else at the step's end.
    fn write(&mut self, recs: impl IntoIterator<Item = Rec>, durable_now: bool) {
        match self.step.as_mut() {
            Some(buf) => {
                buf.extend(recs);
                if durable_now {
                    self.flush();
                }
            }
            None => {
                let v: Vec<Rec> = recs.into_iter().collect();
                self.commit(v);
            }
        }
    }

    fn flush(&mut self) {
        if let Some(buf) = self.step.as_mut()
            && !buf.is_empty()
        {
            let v = std::mem::take(buf);
            self.commit(v);
        }
    }

    fn commit(&mut self, recs: Vec<Rec>) {
        if recs.is_empty() {
            return;
        }
        // Group commit (`Journal::set_synced`): a batch holding what must survive power loss
        // (an order about to leave, a signal's verdict, a halt, a day trade, an operator's
        // action) is fsync'ed. Inside a step the commit is written at once (it outlives the
        // process) and its fsync is left to the driver, which takes it right after the step's
        // requests have left and before any acknowledgement ([`Self::take_unsynced`]): the fsync
        // stays off the path from a decision to its order. Status changes, fills and positions
        // ride on the next fsync.
        let must_sync = recs.iter().any(|r| match r {
            Rec::Order(o) => o.status == OrderStatus::Submitted,
            Rec::Signal(_) | Rec::Halt(_) | Rec::DayTrade(_) | Rec::Control(_) => true,
            Rec::Fill(_) | Rec::Position(_) | Rec::Denial(_) => false,
        });
        let sync_now = must_sync && self.step.is_none();
        let synced = self.journal.set_synced(sync_now);
        self.keep(synced);
        if must_sync && !sync_now {
            self.unsynced = true;
        }
        let started = self.commit_observer.is_some().then(std::time::Instant::now);
        let r = self.journal.batch().and_then(|mut b| {
            for r in &recs {
                match r {
                    Rec::Order(o) => b.record_order(o)?,
                    Rec::Fill(f) => b.record_fill(f)?,
                    Rec::DayTrade(d) => b.record_day_trade(d)?,
                    Rec::Position(p) => b.record_position(p)?,
                    Rec::Denial(d) => b.record_denial(d)?,
                    Rec::Halt(h) => b.record_halt(h)?,
                    Rec::Signal(x) => b.record_signal(x)?,
                    Rec::Control(c) => b.record_control(c)?,
                };
            }
            b.commit()
        });
        if let (Some(t), Some(observe)) = (started, self.commit_observer.as_mut()) {
            observe(t.elapsed());
        }
        self.keep(r);
    }

    /// Tell `f` how long each commit takes (its records, their audit entries, the fsync when
    /// there is one).
    pub fn observe_commits(&mut self, f: impl FnMut(std::time::Duration) + Send + 'static) {
        self.commit_observer = Some(Box::new(f));
    }

    fn keep<T>(&mut self, r: Result<T, JournalError>) {
        if let Err(e) = r
            && self.error.is_none()
        {
            self.error = Some(e);
        }
    }

    /// Restart rebuild: this account's day trades from earlier paper/live runs (backtests
    /// are simulations and never count) and the open positions earlier runs of this agent
    /// left, both only from before this run's first market event (its run metadata
    /// `first_event`; see [`crate::journal::history`]), and the orders they left working.
    ///
    /// [`JournalSink::begin`] refused to start while a run that never ended on this account
    /// still had a live process ([`still_running`]), and the caller holds the account lock; so
    /// a paper/live run of this account (any agent) that never ended belongs to a dead
    /// process: it is ended with outcome `crashed (found by <this run>)`.
    pub fn restore(&mut self) -> Result<Restored, JournalError> {
        let runs = self.journal.runs()?;
        let account = self.info.account.as_str();
        let broker =
            |m: &BTreeMap<String, String>| m.get("broker").cloned().unwrap_or_else(|| "paper".to_owned());
        let my_broker = runs.iter().find(|r| r.id == self.run).map(|r| broker(&r.begin.metadata));
        let crashed_runs: Vec<RunId> = runs
            .iter()
            .filter(|r| {
                r.id != self.run
                    && r.ended_at.is_none()
                    && r.begin.mode != RunMode::Backtest
                    && r.begin.metadata.get("account").map(String::as_str) == Some(account)
                    && Some(broker(&r.begin.metadata)) == my_broker
            })
            .map(|r| r.id.clone())
            .collect();
        let outcome = format!("crashed (found by {})", self.run);
        for id in &crashed_runs {
            self.journal.end_run(id, Utc::now(), &outcome)?;
        }
        // One rule for what counts, shared with `runner journal day-trades`
        // (crate::journal::history): paper/live runs only, and only what happened before this
        // run's first market event.
        let as_of = AsOf::Run(&self.run);
        let day_trades = self.journal.counted_day_trades(
            Some(&self.info.account),
            NaiveDate::MIN..=NaiveDate::MAX,
            as_of,
        )?;
        let positions = self.journal.counted_open_positions(&self.info.agent, &self.info.account, as_of)?;
        let open_positions = positions.counted;
        let not_restored = day_trades.superseded;
        let day_trades = day_trades.counted;
        let open_orders = self.journal.open_orders_of(&self.info.agent, &self.info.account, &self.run)?;
        // The day-trade detector continues from what is held.
        self.pos = open_positions.iter().map(|p| p.qty).sum();
        Ok(Restored { day_trades, crashed_runs, open_positions, not_restored, open_orders })
    }

    /// Journal what a restart found out rather than saw happen: an order's new state
    /// (`canceled` for one the venue no longer has; `accepted` for one only the venue has) or a
    /// position the venue holds, each at `time`, in one commit.
    pub fn record_inferred(
        &mut self,
        orders: &[OrderRecord],
        positions: &[PositionRecord],
        time: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let mut b = self.journal.batch()?;
        for o in orders {
            b.record_order(&OrderRecord { run: Some(self.run.clone()), time, ..o.clone() })?;
        }
        for p in positions {
            b.record_position(&PositionRecord { run: Some(self.run.clone()), time, ..p.clone() })?;
        }
        b.commit()
    }

    /// Journal executions a restart learned of from the venue (an order that filled while no
    /// process watched), with the order's final state and the positions they leave, in one
    /// commit.
    pub fn record_recovered(
        &mut self,
        fills: &[FillRecord],
        orders: &[OrderRecord],
        positions: &[PositionRecord],
        time: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let mut b = self.journal.batch()?;
        for f in fills {
            b.record_fill(&FillRecord { run: Some(self.run.clone()), ..f.clone() })?;
        }
        for o in orders {
            b.record_order(&OrderRecord { run: Some(self.run.clone()), time, ..o.clone() })?;
        }
        for p in positions {
            b.record_position(&PositionRecord { run: Some(self.run.clone()), time, ..p.clone() })?;
        }
        b.commit()
    }

    fn order_from(&self, req: &OrderRequest) -> OrderRecord {
        let (order_type, limit_price, stop_price) = order_type(&req.kind);
        OrderRecord {
            client_order_id: req.id.clone(),
            run: Some(self.run.clone()),
            agent: self.info.agent.clone(),
            account: self.info.account.clone(),
            instrument: req.instrument.clone(),
            side: req.side,
            order_type,
            qty: req.qty,
            limit_price,
            stop_price,
            status: OrderStatus::Submitted,
            time: utc(req.ts),
        }
    }

    fn status(&mut self, id: &ClientOrderId, status: OrderStatus, ts: Timestamp) {
        if let Some(o) = self.orders.get_mut(id) {
            o.status = status;
            o.time = utc(ts);
            let o = o.clone();
            self.write([Rec::Order(o)], false);
        }
    }

    /// Journal one agent event.
    pub fn on_event(&mut self, ev: &AgentEvent) {
        match ev {
            AgentEvent::OrderSent(req) => {
                let o = self.order_from(req);
                self.orders.insert(req.id.clone(), o.clone());
                if let Some(held) = self.signal_step.as_mut() {
                    held.push(o);
                } else {
                    self.write([Rec::Order(o)], true);
                }
            }
            AgentEvent::Denied(d) => {
                let rec = DenialRecord {
                    run: Some(self.run.clone()),
                    agent: self.info.agent.clone(),
                    account: self.info.account.clone(),
                    instrument: d.order.instrument.clone(),
                    side: d.order.side,
                    qty: d.order.qty,
                    client_order_id: Some(d.order.id.clone()),
                    reason_code: d.reason.code().to_owned(),
                    message: crate::risk::gate::describe(d),
                    time: utc(d.order.ts),
                };
                self.write([Rec::Denial(rec)], false);
            }
            AgentEvent::Order(OrderEvent::Accepted { id, ts }) => self.status(id, OrderStatus::Accepted, *ts),
            AgentEvent::Order(OrderEvent::Canceled { id, ts }) => self.status(id, OrderStatus::Canceled, *ts),
            AgentEvent::Order(OrderEvent::Expired { id, ts }) => self.status(id, OrderStatus::Expired, *ts),
            AgentEvent::Order(OrderEvent::Rejected { id, ts, .. }) => {
                self.status(id, OrderStatus::Rejected, *ts);
            }
            AgentEvent::Order(OrderEvent::Filled(f)) | AgentEvent::Order(OrderEvent::PartiallyFilled(f)) => {
                self.fills += 1;
                let rec = FillRecord {
                    fill_id: format!("{}-{}", self.run, self.fills),
                    client_order_id: f.id.clone(),
                    run: Some(self.run.clone()),
                    agent: self.info.agent.clone(),
                    account: self.info.account.clone(),
                    instrument: f.instrument.clone(),
                    side: f.side,
                    qty: f.qty,
                    price: f.price,
                    fee: f.commission,
                    time: utc(f.ts),
                };
                let day_trade = self.detect_day_trade(f.side, f.qty, f.ts);
                let status =
                    if f.leaves.is_zero() { OrderStatus::Filled } else { OrderStatus::PartiallyFilled };
                let order = self.orders.get_mut(&f.id).map(|o| {
                    o.status = status;
                    o.time = utc(f.ts);
                    o.clone()
                });
                let dt = day_trade.map(|(date, qty)| DayTradeRecord {
                    run: Some(self.run.clone()),
                    account: self.info.account.clone(),
                    agent: self.info.agent.clone(),
                    instrument: rec.instrument.clone(),
                    trade_date: date,
                    qty,
                    time: utc(f.ts),
                });
                // The fill, the order's new status and a day trade it completes: one commit.
                let recs =
                    std::iter::once(Rec::Fill(rec)).chain(order.map(Rec::Order)).chain(dt.map(Rec::DayTrade));
                self.write(recs, false);
            }
            AgentEvent::Order(_) => {}
            AgentEvent::Position { ts, instrument, qty, avg_price, .. } => {
                let rec = PositionRecord {
                    run: Some(self.run.clone()),
                    agent: self.info.agent.clone(),
                    account: self.info.account.clone(),
                    instrument: instrument.clone(),
                    qty: *qty,
                    avg_price: *avg_price,
                    time: utc(*ts),
                };
                self.write([Rec::Position(rec)], false);
            }
            // The agent reports its halts (its own loss guards, or a fleet halt it obeyed).
            AgentEvent::State { ts, state: StateChange::Halted, reason } => {
                self.halt(HaltScope::Agent, reason, *ts);
            }
            AgentEvent::State { ts, state: StateChange::Disabled, reason } => {
                self.halt(HaltScope::Agent, &format!("disabled: {reason}"), *ts);
            }
            AgentEvent::External(x) => {
                let rec = SignalRecord {
                    run: Some(self.run.clone()),
                    agent: self.info.agent.clone(),
                    source: self.signal_source.clone(),
                    signal_id: x.id.clone(),
                    ticker: self.info.instrument.clone(),
                    direction: match x.signal.direction {
                        crate::strategy::Direction::Short => "sell",
                        _ => "buy",
                    }
                    .to_owned(),
                    strength: x.signal.strength,
                    status: if x.refused.is_some() { "refused" } else { "accepted" }.to_owned(),
                    reason: x.refused.clone(),
                    orders: x.orders.clone(),
                    published: utc(x.signal.ts),
                    time: utc(x.ts),
                };
                // The signal's orders and its row: one commit, before the orders leave.
                let held = self.signal_step.take().unwrap_or_default();
                self.write(held.into_iter().map(Rec::Order).chain([Rec::Signal(rec)]), true);
            }
            AgentEvent::State { .. }
            | AgentEvent::Warning { .. }
            | AgentEvent::Connectivity(_)
            | AgentEvent::Signal(_)
            | AgentEvent::Info { .. }
            | AgentEvent::Candle(_) => {}
        }
    }

    /// Day-trade detector, counting as the compliance ledger does (FINRA's sequence reading):
    /// opening fills followed by closing fills that close quantity opened the same New York
    /// date are ONE day trade; a new opening starts a new sequence; closing a position carried
    /// overnight is not a day trade. Returns the date and the quantity the first closing fill
    /// matched.
    fn detect_day_trade(&mut self, side: Side, qty: Decimal, ts: Timestamp) -> Option<(NaiveDate, Decimal)> {
        let date = ts.to_new_york().date_naive();
        if self.day != Some(date) {
            self.day = Some(date);
            self.opened_today = Decimal::ZERO;
            self.opened_since_count = false;
        }
        let signed = side.sign() * qty;
        let mut result = None;
        if self.pos.is_zero() || self.pos.is_sign_positive() == signed.is_sign_positive() {
            self.opened_today += qty;
            self.opened_since_count = true;
        } else {
            let closed = qty.min(self.pos.abs());
            if self.opened_today > Decimal::ZERO {
                let matched = closed.min(self.opened_today);
                self.opened_today -= matched;
                if self.opened_since_count {
                    self.opened_since_count = false;
                    result = Some((date, matched));
                }
            }
            // A reversal opens the rest.
            if qty > closed {
                self.opened_today += qty - closed;
                self.opened_since_count = true;
            }
        }
        self.pos += signed;
        result
    }

    /// Journal an operator's action on this agent.
    pub fn control(&mut self, c: &super::hub::ControlRecord) {
        let rec = crate::journal::ControlRecord {
            run: Some(self.run.clone()),
            agent: Some(self.info.agent.clone()),
            action: c.action.clone(),
            by: c.by.clone(),
            key: c.key.clone(),
            old: c.old.clone(),
            new: c.new.clone(),
            result: c.result.clone(),
            time: Utc::now(),
        };
        self.write([Rec::Control(rec)], false);
    }

    /// Journal a halt (agent or fleet scope).
    pub fn halt(&mut self, scope: HaltScope, reason: &str, ts: Timestamp) {
        let rec = HaltRecord {
            run: Some(self.run.clone()),
            scope,
            agent: (scope == HaltScope::Agent).then(|| self.info.agent.clone()),
            reason: reason.to_owned(),
            time: utc(ts),
        };
        self.write([Rec::Halt(rec)], false);
    }

    /// Record the end of the run (`completed`, `halted`, `error: …`).
    pub fn end(mut self, outcome: &str) -> Result<RunId, JournalError> {
        self.end_step();
        // The run's end (and everything before it) reaches the disk.
        let synced = self.journal.set_synced(true);
        self.keep(synced);
        if let Some(e) = self.error.take() {
            let _ = self.journal.end_run(&self.run, Utc::now(), &format!("error: {e}"));
            return Err(e);
        }
        self.journal.end_run(&self.run, Utc::now(), outcome)?;
        Ok(self.run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Durability;
    use crate::model::InstrumentId;
    use rust_decimal_macros::dec;

    fn sink(dir: &std::path::Path) -> JournalSink {
        sink_with(dir, Durability::ProcessCrash)
    }

    fn sink_with(dir: &std::path::Path, durability: Durability) -> JournalSink {
        let j = Journal::open_with(dir.join("j.db"), durability).expect("journal");
        let info = SinkInfo {
            agent: AgentId::from("a"),
            account: AccountId::from("acct"),
            instrument: "SPY".into(),
            recipe: "r.yaml".into(),
            mode: RunMode::Paper,
        };
        JournalSink::begin(j, info, BTreeMap::new()).expect("begin")
    }

    #[test]
    fn day_trades_are_same_day_round_trips() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = sink(dir.path());
        // 2013-10-07 14:00 UTC = 10:00 New York.
        let t = Timestamp(1_381_154_400_000_000_000);
        let hour = 3_600_000_000_000;
        assert_eq!(s.detect_day_trade(Side::Buy, dec!(100), t), None);
        assert_eq!(
            s.detect_day_trade(Side::Sell, dec!(150), t.add_nanos(hour)),
            Some((NaiveDate::from_ymd_opt(2013, 10, 7).expect("date"), dec!(100)))
        );
        // Short 50 held overnight: closing it the next day is not a day trade.
        let next = t.add_nanos(24 * hour);
        assert_eq!(s.detect_day_trade(Side::Buy, dec!(50), next), None);
        // Two partial closes of one opening: one day trade; a new opening starts another.
        let d8 = Some((NaiveDate::from_ymd_opt(2013, 10, 8).expect("date"), dec!(40)));
        assert_eq!(s.detect_day_trade(Side::Buy, dec!(100), next), None);
        assert_eq!(s.detect_day_trade(Side::Sell, dec!(40), next), d8);
        assert_eq!(s.detect_day_trade(Side::Sell, dec!(60), next), None);
        assert_eq!(s.detect_day_trade(Side::Buy, dec!(40), next), None);
        assert_eq!(s.detect_day_trade(Side::Sell, dec!(40), next), d8);
    }

    /// A journal where an earlier paper run of agent `a` on `acct` left `positions` open.
    #[test]
    fn an_order_in_a_step_is_written_before_it_leaves_and_synced_once_after() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = sink_with(dir.path(), Durability::Full);
        let order = OrderRecord {
            client_order_id: ClientOrderId::from("a-x-1"),
            run: Some(s.run.clone()),
            agent: AgentId::from("a"),
            account: AccountId::from("acct"),
            instrument: InstrumentId::from("SPY"),
            side: Side::Buy,
            order_type: OrderType::Market,
            qty: dec!(10),
            limit_price: None,
            stop_price: None,
            status: OrderStatus::Submitted,
            time: Utc::now(),
        };
        s.begin_step();
        s.write([Rec::Order(order.clone())], true);
        // Written (another connection reads it, as a restart after kill -9 would) before the
        // step ends and the order leaves; the fsync is owed, not taken.
        let other = Journal::open(dir.path().join("j.db")).expect("second connection");
        let seen = other.order_history(&ClientOrderId::from("a-x-1")).expect("orders");
        assert_eq!(seen.len(), 1, "the order is in the journal before it leaves");
        assert!(s.unsynced, "its fsync is owed");
        s.end_step();
        let wal = s.take_unsynced().expect("owed once");
        wal.sync().expect("fsync of the WAL");
        assert!(s.take_unsynced().is_none(), "and only once");
        // A fill alone owes nothing; outside a step a submitted order is synced in its commit.
        s.begin_step();
        s.write([Rec::Order(OrderRecord { status: OrderStatus::Filled, ..order.clone() })], false);
        s.end_step();
        assert!(s.take_unsynced().is_none());
        s.write([Rec::Order(OrderRecord { client_order_id: ClientOrderId::from("a-x-2"), ..order })], true);
        assert!(s.take_unsynced().is_none());
        assert!(s.error().is_none());
        // A backtest journal never syncs.
        let bt = sink(&dir.path().join("bt"));
        assert!(bt.journal.wal_sync().is_none());
    }

    fn crashed_with(dir: &std::path::Path, positions: &[(&str, Decimal, Decimal)]) -> RunId {
        let mut j = Journal::open_with(dir.join("j.db"), Durability::ProcessCrash).expect("journal");
        let run = j
            .begin_run(&NewRun {
                agent: AgentId::from("a"),
                recipe: "r.yaml".into(),
                mode: RunMode::Paper,
                started_at: Utc::now(),
                metadata: [("account".to_owned(), "acct".to_owned())].into(),
            })
            .expect("begin");
        for (instrument, qty, avg_price) in positions {
            j.record_position(&PositionRecord {
                run: Some(run.clone()),
                agent: AgentId::from("a"),
                account: AccountId::from("acct"),
                instrument: InstrumentId::from(*instrument),
                qty: *qty,
                avg_price: *avg_price,
                time: Utc::now(),
            })
            .expect("position");
        }
        run
    }

    #[test]
    fn a_restart_finds_the_crashed_run_its_positions_and_its_working_orders() {
        let dir = tempfile::tempdir().expect("tmp");
        let old = crashed_with(dir.path(), &[("SPY", dec!(100), dec!(168.10))]);
        let mut j = Journal::open(dir.path().join("j.db")).expect("journal");
        let order = |id: &str, status| OrderRecord {
            client_order_id: ClientOrderId::from(id),
            run: Some(old.clone()),
            agent: AgentId::from("a"),
            account: AccountId::from("acct"),
            instrument: InstrumentId::from("SPY"),
            side: Side::Sell,
            order_type: OrderType::Limit,
            qty: dec!(100),
            limit_price: Some(dec!(170)),
            stop_price: None,
            status,
            time: Utc::now(),
        };
        // One order still working, one that filled: only the first is left open.
        j.record_order(&order("a-x-1", OrderStatus::Submitted)).expect("order");
        j.record_order(&order("a-x-1", OrderStatus::Accepted)).expect("order");
        j.record_order(&order("a-x-2", OrderStatus::Submitted)).expect("order");
        j.record_order(&order("a-x-2", OrderStatus::Filled)).expect("order");
        drop(j);
        let mut s = sink(dir.path());
        let restored = s.restore().expect("restore");
        assert_eq!(restored.crashed_runs, vec![old]);
        let held: Vec<_> = restored.open_positions.iter().map(|p| (p.instrument.as_str(), p.qty)).collect();
        assert_eq!(held, [("SPY", dec!(100))]);
        let open: Vec<_> = restored.open_orders.iter().map(|o| o.client_order_id.as_str()).collect();
        assert_eq!(open, ["a-x-1"]);
        // Closing the position carried in is not a day trade.
        let t = Timestamp(1_381_154_400_000_000_000);
        assert_eq!(s.detect_day_trade(Side::Sell, dec!(100), t), None);
    }
}
