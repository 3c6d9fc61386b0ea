//! The agent's risk side: trading state, halts, loss guards and the compliance ledgers.
//!
//! What belongs here: everything the agent does to stay inside its limits besides the gate
//! check itself — building the gate from the recipe, the `Halt` / `ReduceOnly` commands, the
//! daily loss limit and max drawdown on every price, the account snapshot the compliance rules
//! see, feeding fills to the day-trade / settlement ledgers, and the day-trade records the fleet
//! persists across runs.

use super::{Agent, AgentConfig, AgentEvent, Outbox, StateChange};
use crate::model::order::{ExitReason, Fill};
use crate::model::{InstrumentId, Qty};
use crate::risk::account::{AccountCompliance, AccountSnapshot};
use crate::risk::compliance::{AssetClass, DayTrade};
use crate::risk::gate::{RiskGate, TradingState};
use crate::risk::guard::Breach;
use crate::risk::text::money;
use crate::strategy::Phase;

/// `halted_day` value of a halt received before the first price: it covers the day of that price.
const FIRST_DAY: i64 = i64::MIN;

/// The gate for an agent: its limits, plus the account's US compliance rules if configured.
pub(super) fn build_gate(cfg: &AgentConfig) -> RiskGate {
    let gate = RiskGate::new(cfg.limits);
    match cfg.compliance {
        Some(c) => gate.with_compliance(AccountCompliance::new(c)),
        None => gate,
    }
}

impl Agent {
    /// The agent's trading state: `Active`, `ReduceOnly` or `Halted`.
    pub fn trading_state(&self) -> TradingState {
        self.gate.state()
    }

    /// The day trades this account has counted (restored ones included), oldest first; empty
    /// when compliance is not enforced or the account is a cash account.
    pub fn day_trades(&self) -> Vec<DayTrade> {
        self.gate.compliance().map(|c| c.day_trade_records().to_vec()).unwrap_or_default()
    }

    /// Restore day trades persisted by an earlier run (call before the first input).
    pub fn restore_day_trades(&mut self, trades: &[DayTrade]) {
        if let Some(c) = self.gate.compliance_mut() {
            c.restore_day_trades(trades);
        }
    }

    /// `Halt`: cancel working orders, flatten, refuse entries for the rest of the trading day.
    /// `ReduceOnly`: refuse orders that increase the position (working orders stay).
    pub(super) fn halt(&mut self, state: TradingState, reason: &str, out: &mut Outbox) {
        if self.stopped() {
            return;
        }
        let ts = self.now;
        match state {
            TradingState::Halted => {
                // The reason first, then the cancels and the exit it causes.
                let why = reason.to_owned();
                self.recorder.on_halt(ts, reason);
                out.events.push(AgentEvent::State { ts, state: StateChange::Halted, reason: why });
                self.stand_down(ExitReason::Halt, out);
                // `day_index` is 0 only until the first price (1970-01-01 is never traded).
                self.halted_day = Some(if self.day_index == 0 { FIRST_DAY } else { self.day_index });
                self.gate.halt(reason);
                self.refresh_timer();
            }
            TradingState::ReduceOnly => {
                if self.gate.state() == TradingState::Active {
                    self.gate.set_state(TradingState::ReduceOnly);
                }
                let reason = reason.to_owned();
                out.events.push(AgentEvent::State { ts, state: StateChange::ReduceOnly, reason });
            }
            TradingState::Active => self.gate.set_state(TradingState::Active),
        }
    }

    /// Whether an operator took the agent out of trading ([`super::Command::Disable`]).
    pub fn disabled(&self) -> bool {
        self.disabled
    }

    /// An operator lifts a halt or reduce-only state. A disabled agent stays disabled (it
    /// needs [`super::Command::Enable`]); an active one is left as it is.
    pub(super) fn resume(&mut self, reason: &str, out: &mut Outbox) {
        if self.stopped() || self.disabled || self.gate.state() == TradingState::Active {
            return;
        }
        self.halted_day = None;
        self.reactivate(reason, out);
    }

    /// An operator closes the position: working orders canceled, an exit at market; the
    /// trading state stays as it is.
    pub(super) fn flatten(&mut self, reason: &str, out: &mut Outbox) {
        if self.stopped() {
            return;
        }
        out.events.push(AgentEvent::Info { ts: self.now, message: format!("flatten: {reason}") });
        self.stand_down(ExitReason::Operator, out);
        self.refresh_timer();
    }

    /// An operator takes the agent out of trading: cancel, flatten, refuse entries until
    /// enabled (a new trading day does not lift it).
    pub(super) fn disable(&mut self, reason: &str, out: &mut Outbox) {
        if self.stopped() || self.disabled {
            return;
        }
        let ts = self.now;
        self.disabled = true;
        self.recorder.on_halt(ts, reason);
        out.events.push(AgentEvent::State { ts, state: StateChange::Disabled, reason: reason.to_owned() });
        self.stand_down(ExitReason::Operator, out);
        self.halted_day = None;
        self.gate.halt(reason);
        self.refresh_timer();
    }

    /// An operator puts a disabled agent back into trading.
    pub(super) fn enable(&mut self, reason: &str, out: &mut Outbox) {
        if self.stopped() || !self.disabled {
            return;
        }
        self.disabled = false;
        self.reactivate(reason, out);
    }

    /// Cancel every working order, drop the decision waiting on them, and close the position
    /// (an exit is always approved; the phase only matters for entries).
    fn stand_down(&mut self, reason: ExitReason, out: &mut Outbox) {
        self.cancel_all(out);
        self.pending = None;
        self.close_position(reason, Phase::OutOfSession, out);
    }

    /// Trading again, and said so.
    fn reactivate(&mut self, reason: &str, out: &mut Outbox) {
        self.gate.set_state(TradingState::Active);
        out.events.push(AgentEvent::State {
            ts: self.now,
            state: StateChange::Active,
            reason: reason.to_owned(),
        });
        self.refresh_timer();
    }

    /// On every price: a new trading day ends a halt (every halt but the end of equity is
    /// day-long); then the daily loss limit, max drawdown and equity at zero are checked
    /// against the current equity.
    #[inline]
    pub(super) fn watch_losses(&mut self, day: i64, _phase: Phase, out: &mut Outbox) {
        if self.halted_day == Some(FIRST_DAY) {
            self.halted_day = Some(day);
        }
        if self.halted_day.is_some_and(|d| d != day) && !self.disabled {
            self.halted_day = None;
            if self.gate.state() == TradingState::Halted {
                self.gate.set_state(TradingState::Active);
                let reason = "a new trading day".to_owned();
                out.events.push(AgentEvent::State { ts: self.now, state: StateChange::Active, reason });
            }
            self.refresh_timer();
        }
        let cash = self.book.cash();
        let qty = self.book.qty(self.traded);
        let mark = self.book.mark(self.traded);
        if self.guard.day() == day && mark.is_some_and(|m| self.guard.quiet_at(m, cash, qty)) {
            return;
        }
        let equity = self.book.equity();
        self.guard.new_day(day, equity);
        let breach = self.guard.on_equity(equity);
        // The band is only valid when the traded instrument is all the account holds.
        match mark {
            Some(m) if equity == cash + qty * self.cfg.multiplier * m => {
                self.guard.set_band(cash, qty, self.cfg.multiplier, m.scale());
            }
            _ => {}
        }
        let Some(breach) = breach else { return };
        let reason = match breach {
            Breach::DailyLoss => format!(
                "{breach}: equity {} is {} below the day's start {}",
                money(equity),
                money(self.guard.day_start() - equity),
                money(self.guard.day_start())
            ),
            Breach::MaxDrawdown => format!(
                "{breach}: equity {} is {} below its peak {}; halted for the rest of the day \
                 (the next day measures from its starting equity)",
                money(equity),
                money(self.guard.peak() - equity),
                money(self.guard.peak())
            ),
            Breach::EquityExhausted => {
                format!(
                    "{breach}: equity {} is at or below zero; halted for the rest of the run",
                    money(equity)
                )
            }
        };
        self.halt(TradingState::Halted, &reason, out);
        if breach == Breach::EquityExhausted {
            // No new day ends this halt.
            self.halted_day = None;
            self.refresh_timer();
        }
    }

    fn compliance_instrument(&self) -> (InstrumentId, AssetClass) {
        match self.option.as_ref().and_then(super::OptionLeg::contract) {
            Some(c) => (InstrumentId(c.occ_symbol()), AssetClass::Option),
            None => (InstrumentId(self.cfg.symbol_label.clone()), AssetClass::Equity),
        }
    }

    /// The account as the compliance rules see it now (`None` when they are not enforced).
    pub(super) fn account_snapshot(&self, price: crate::model::Price) -> Option<AccountSnapshot> {
        self.gate.compliance()?;
        let (instrument, class) = self.compliance_instrument();
        Some(AccountSnapshot {
            date: self.now.to_new_york().date_naive(),
            cash: self.book.cash(),
            instrument,
            class,
            position: self.book.qty(self.traded),
            mark: self.book.mark(self.traded).unwrap_or(price),
        })
    }

    /// Feed a fill to the compliance ledgers; `after` is the signed position after it.
    pub(super) fn record_compliance_fill(&mut self, f: &Fill, after: Qty) {
        if self.gate.compliance().is_none() {
            return;
        }
        let (instrument, class) = self.compliance_instrument();
        let before = after - f.side.sign() * f.qty;
        let date = f.ts.to_new_york().date_naive();
        if let Some(c) = self.gate.compliance_mut() {
            c.on_fill(date, &instrument, class, f.side, f.qty, f.price, before);
        }
    }
}
