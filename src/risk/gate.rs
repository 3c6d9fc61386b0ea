//! The per-agent risk gate: every order passes here before a broker sees it.
//!
//! [`RiskApproved<T>`] can only be made by [`RiskGate::check`]; brokers take nothing else.
//! Refusals are [`OrderDenied`] events with a [`DenyReason`] code (our refusal, distinct from
//! a venue's `OrderRejected`). Exits are never refused; entries are refused when sized below
//! one quantity increment, when they would sell short in a cash account, when the agent's
//! [`TradingState`] is not `Active`, beyond the order rate, outside the session and after
//! `flatten_at`, beyond the daily entry count, when the US compliance rules refuse them
//! ([`AccountCompliance`]), and clipped to the position, notional and allocation limits (in
//! whole quantity increments).

use std::collections::VecDeque;
use std::fmt;

use rust_decimal::Decimal;

use crate::model::order::{ExitReason, OrderKind, OrderRequest, Purpose};
use crate::model::{Money, Price, Qty, Side, Timestamp, fastdec, round_to_increment};
use crate::risk::account::{AccountCompliance, AccountSnapshot};
use crate::risk::compliance::codes;
use crate::strategy::Phase;

/// An agent's trading state (as in Nautilus Trader): what the gate lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TradingState {
    /// Entries and exits pass (subject to the limits).
    #[default]
    Active,
    /// Only orders that reduce the position pass.
    ReduceOnly,
    /// Only exits pass; the agent has canceled its orders and flattened.
    Halted,
}

impl TradingState {
    /// `active`, `reduce-only` or `halted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::ReduceOnly => "reduce-only",
            Self::Halted => "halted",
        }
    }
}

impl fmt::Display for TradingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order the risk gate approved. Only the gate can make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskApproved<T>(T);

impl<T> RiskApproved<T> {
    /// The approved item.
    pub fn inner(&self) -> &T {
        &self.0
    }

    /// Take the approved item out (brokers do this when they accept it).
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl RiskApproved<OrderRequest> {
    /// A marketable limit priced at `limit` (by the runtime, at the far touch, for a venue that
    /// takes limit prices only): the same approved order as a limit. Other kinds are unchanged.
    pub fn priced_at(mut self, limit: Price) -> Self {
        if let OrderKind::MarketableLimit { .. } = self.0.kind {
            self.0.kind = OrderKind::Limit { limit };
        }
        self
    }
}

/// Why the gate refused an order (serialised as its [`DenyReason::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// An entry outside the session window.
    OutsideSession,
    /// An entry at or after `flatten_at`.
    AfterFlatten,
    /// The position limit (shares / contracts) leaves no room.
    MaxPosition,
    /// The notional limit leaves no room.
    MaxNotional,
    /// `max_trades_per_day` entries already made today.
    MaxTradesPerDay,
    /// Nothing to order (an exit of zero or negative quantity, or one that would not reduce).
    ZeroQuantity,
    /// An entry, add or adjustment sized below one quantity increment (less than a share, a
    /// contract, or the venue's smallest fraction of a coin).
    SizeBelowMinimum,
    /// The allocation (money the agent may put at risk) leaves no room.
    Allocation,
    /// The agent is halted (daily loss, drawdown or a halt command): no entries.
    Halted,
    /// The agent is reduce-only: no order may increase the position.
    ReduceOnly,
    /// `max_orders_per_minute` orders already sent in the last 60 seconds.
    OrderRate,
    /// Options: no listed expiry falls inside the recipe's expiry window (never guessed).
    NoExpiryInWindow,
    /// Options: the entry's marketable limit lies more than `max_slippage_ticks` from the mid.
    MaxSlippage,
    /// Options: no contract could be chosen or opened (no strikes or quote, or the contract
    /// may not be opened now, e.g. after its last trading time).
    NoContract,
    /// A compliance rule refused it; the code is one of [`crate::risk::compliance::codes`]. A
    /// cash account's short sale is refused with `cash-account-short` whether or not the US
    /// rulebook applies (crypto too).
    Compliance(&'static str),
}

impl DenyReason {
    /// A stable code for journals and logs.
    pub fn code(self) -> &'static str {
        match self {
            Self::OutsideSession => "outside-session",
            Self::AfterFlatten => "after-flatten",
            Self::MaxPosition => "max-position",
            Self::MaxNotional => "max-notional",
            Self::MaxTradesPerDay => "max-trades-per-day",
            Self::ZeroQuantity => "zero-quantity",
            Self::SizeBelowMinimum => "size-below-minimum",
            Self::Allocation => "allocation",
            Self::Halted => "halted",
            Self::ReduceOnly => "reduce-only",
            Self::OrderRate => "order-rate",
            Self::NoExpiryInWindow => "no-expiry-in-window",
            Self::MaxSlippage => "max-slippage",
            Self::NoContract => "no-contract",
            Self::Compliance(code) => code,
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl serde::Serialize for DenyReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// An order the gate refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrderDenied {
    /// The refused request.
    pub order: OrderRequest,
    /// Why.
    pub reason: DenyReason,
    /// What decided it, with the numbers (never a secret).
    pub message: String,
}

/// Per-agent limits (from the recipe's `risk` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RiskLimits {
    /// Largest absolute position in units (shares or contracts).
    pub max_units: Option<Qty>,
    /// Largest position notional (units × price × multiplier).
    pub max_notional: Option<Money>,
    /// Contract multiplier for notional checks (1 when unset).
    pub multiplier: Option<Decimal>,
    /// Most entries per trading day.
    pub max_trades_per_day: Option<u32>,
    /// Money the agent may put at risk: a cap on the position's notional like `max_notional`.
    pub allocation: Option<Money>,
    /// Most orders (entries and exits) in any 60 seconds; entries beyond it are refused,
    /// exits are counted but never refused.
    pub max_orders_per_minute: Option<u32>,
    /// The smallest quantity step (`None`: whole units); clipped sizes are rounded down to it.
    pub increment: Option<Qty>,
    /// A cash account: no order may leave the position short.
    pub cash_account: bool,
}

/// What the gate needs to know about the agent at the time of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateContext {
    /// Where the order falls in the trading day.
    pub phase: Phase,
    /// The signed position in the order's instrument, including working orders' effect
    /// already decided in this step.
    pub position: Qty,
    /// A number identifying the trading day (for the daily entry count).
    pub day: i64,
}

/// The per-agent risk gate.
#[derive(Debug, Clone)]
pub struct RiskGate {
    limits: RiskLimits,
    day: i64,
    entries_today: u32,
    state: TradingState,
    /// Why the agent was halted (empty: no reason given), for the denials while it is.
    halt_reason: String,
    /// Times of the orders approved in the last 60 seconds (only kept with an order-rate limit).
    recent: VecDeque<Timestamp>,
    compliance: Option<AccountCompliance>,
}

const MINUTE_NS: i64 = 60_000_000_000;

impl RiskGate {
    /// A gate enforcing `limits`.
    pub fn new(limits: RiskLimits) -> Self {
        Self {
            limits,
            day: i64::MIN,
            entries_today: 0,
            state: TradingState::Active,
            halt_reason: String::new(),
            recent: VecDeque::new(),
            compliance: None,
        }
    }

    /// Also enforce the US compliance rules of this account.
    #[must_use]
    pub fn with_compliance(mut self, c: AccountCompliance) -> Self {
        self.compliance = Some(c);
        self
    }

    /// The account's compliance state, if enforced.
    pub fn compliance(&self) -> Option<&AccountCompliance> {
        self.compliance.as_ref()
    }

    /// The account's compliance state, mutable (the agent feeds it fills).
    pub fn compliance_mut(&mut self) -> Option<&mut AccountCompliance> {
        self.compliance.as_mut()
    }

    /// The current trading state.
    pub fn state(&self) -> TradingState {
        self.state
    }

    /// Change the trading state.
    pub fn set_state(&mut self, state: TradingState) {
        self.state = state;
    }

    /// New limits (an operator's parameter change); the state and counters stay.
    pub fn set_limits(&mut self, limits: RiskLimits) {
        self.limits = limits;
    }

    /// Halt, for `reason` (named by every entry refused while halted).
    pub fn halt(&mut self, reason: &str) {
        self.state = TradingState::Halted;
        reason.clone_into(&mut self.halt_reason);
    }

    /// Approve, clip or deny an order (no compliance snapshot: the compliance rules are skipped).
    pub fn check(
        &mut self,
        order: OrderRequest,
        ctx: &GateContext,
    ) -> Result<RiskApproved<OrderRequest>, Box<OrderDenied>> {
        self.check_with(order, ctx, None)
    }

    /// Approve, clip or deny an order; with `acct`, the compliance rules (if configured) check
    /// the order's opening quantity against that account snapshot.
    pub fn check_with(
        &mut self,
        mut order: OrderRequest,
        ctx: &GateContext,
        acct: Option<&AccountSnapshot>,
    ) -> Result<RiskApproved<OrderRequest>, Box<OrderDenied>> {
        let deny = |order: OrderRequest, reason: DenyReason, message: String| {
            Err(Box::new(OrderDenied { order, reason, message }))
        };
        if order.qty <= Decimal::ZERO {
            if order.purpose.is_exit() {
                return deny(order, DenyReason::ZeroQuantity, "nothing to order".into());
            }
            let m = format!(
                "the size buys less than the smallest quantity ({}) at {}",
                self.increment().normalize(),
                order.ref_price
            );
            return deny(order, DenyReason::SizeBelowMinimum, m);
        }
        if let Purpose::Exit(_) = order.purpose {
            // Reduce-only: never more than the position.
            let held = ctx.position.abs();
            let reduces = (order.side == Side::Sell) == ctx.position.is_sign_positive() && !held.is_zero();
            if !reduces {
                let m = format!("an exit must reduce the position ({})", ctx.position);
                return deny(order, DenyReason::ZeroQuantity, m);
            }
            order.qty = order.qty.min(held);
            self.note_order(order.ts);
            return Ok(RiskApproved(order));
        }
        if self.limits.cash_account && order.side == Side::Sell && order.qty > ctx.position {
            if ctx.position <= Decimal::ZERO {
                let m = format!(
                    "selling {} short needs a margin account (the cash account holds none)",
                    order.qty.normalize()
                );
                return deny(order, DenyReason::Compliance(codes::CASH_ACCOUNT_SHORT), m);
            }
            // Sell what is held, never more.
            order.qty = ctx.position;
        }
        // Does this order increase the absolute position?
        let after = ctx.position + order.side.sign() * order.qty;
        let increases = after.abs() > ctx.position.abs();
        // Clip to the position limits first, so an order denied for any reason below is
        // reported with the size it would have been sent with.
        let no_room = match increases.then(|| self.capped(&order, ctx)) {
            Some(Ok(qty)) => {
                order.qty = qty;
                None
            }
            Some(Err(no_room)) => Some(no_room),
            None => None,
        };
        if increases {
            match self.state {
                TradingState::Active => {}
                TradingState::ReduceOnly => {
                    return deny(order, DenyReason::ReduceOnly, "the agent is reduce-only".into());
                }
                TradingState::Halted => {
                    let m = if self.halt_reason.is_empty() {
                        "the agent is halted".to_owned()
                    } else {
                        format!("the agent is halted ({})", self.halt_reason)
                    };
                    return deny(order, DenyReason::Halted, m);
                }
            }
        }
        if let Some(max) = self.limits.max_orders_per_minute {
            let cutoff = order.ts.0.saturating_sub(MINUTE_NS);
            while self.recent.front().is_some_and(|t| t.0 <= cutoff) {
                self.recent.pop_front();
            }
            if self.recent.len() >= max as usize {
                let m =
                    format!("{} orders in the last 60 s (max_orders_per_minute {max})", self.recent.len());
                return deny(order, DenyReason::OrderRate, m);
            }
        }
        if increases {
            match ctx.phase {
                Phase::Open => {}
                Phase::OutOfSession => {
                    return deny(order, DenyReason::OutsideSession, "no entries outside the session".into());
                }
                Phase::AfterFlatten => {
                    return deny(order, DenyReason::AfterFlatten, "no entries after flatten_at".into());
                }
            }
        }
        let opens = matches!(order.purpose, Purpose::Entry) || (increases && ctx.position.is_zero());
        if opens {
            if ctx.day != self.day {
                self.day = ctx.day;
                self.entries_today = 0;
            }
            if let Some(m) = self.limits.max_trades_per_day.filter(|m| self.entries_today >= *m) {
                let msg = format!("{} entries today (max_trades_per_day {m})", self.entries_today);
                return deny(order, DenyReason::MaxTradesPerDay, msg);
            }
        }
        if increases {
            if let Some((reason, m)) = no_room {
                return deny(order, reason, m);
            }
            let flips =
                !ctx.position.is_zero() && (ctx.position.is_sign_positive() != (order.side == Side::Buy));
            let reducing = if flips { ctx.position.abs() } else { Decimal::ZERO };
            if let (Some(c), Some(acct)) = (self.compliance.as_ref(), acct) {
                let opening = order.qty - reducing;
                if opening > Decimal::ZERO
                    && let Err(d) = c.check(acct, order.side, opening, order.ref_price)
                {
                    return deny(order, DenyReason::Compliance(d.code), d.message);
                }
            }
        }
        if opens {
            self.entries_today += 1;
        }
        self.note_order(order.ts);
        Ok(RiskApproved(order))
    }

    /// The size an order that increases the position may have: the part that reduces an
    /// opposite position is always allowed; the opening part is clipped so |position| stays
    /// within max units, max notional and allocation. `Err` when there is no room at all.
    fn capped(&self, order: &OrderRequest, ctx: &GateContext) -> Result<Qty, (DenyReason, String)> {
        let flips = !ctx.position.is_zero() && (ctx.position.is_sign_positive() != (order.side == Side::Buy));
        let reducing = if flips { ctx.position.abs() } else { Decimal::ZERO };
        let held_same_side = if flips { Decimal::ZERO } else { ctx.position.abs() };
        let mut cap: Option<(Qty, DenyReason)> = self.limits.max_units.map(|m| (m, DenyReason::MaxPosition));
        let unit = order.ref_price * self.limits.multiplier.unwrap_or(Decimal::ONE);
        for (limit, reason) in [
            (self.limits.max_notional, DenyReason::MaxNotional),
            (self.limits.allocation, DenyReason::Allocation),
        ] {
            if let (Some(max), true) = (limit, unit > Decimal::ZERO) {
                let by_notional = round_to_increment(max / unit, self.increment());
                if cap.is_none_or(|(c, _)| by_notional < c) {
                    cap = Some((by_notional, reason));
                }
            }
        }
        let Some((cap, reason)) = cap else { return Ok(order.qty) };
        let room = (cap - held_same_side).max(Decimal::ZERO);
        if order.qty - reducing <= room {
            return Ok(order.qty);
        }
        if room.is_zero() && reducing.is_zero() {
            return Err((
                reason,
                format!("position {} leaves no room under the {reason} cap of {cap}", ctx.position),
            ));
        }
        Ok(reducing + room)
    }

    /// The smallest quantity step: the configured increment, else one unit.
    fn increment(&self) -> Qty {
        self.limits.increment.unwrap_or(Decimal::ONE)
    }

    fn note_order(&mut self, ts: Timestamp) {
        if self.limits.max_orders_per_minute.is_some() {
            self.recent.push_back(ts);
        }
    }
}

/// Protective exits for one open position: stop loss, take profit, trailing stop.
///
/// Levels are computed once when the position opens (and when the best price moves for the
/// trailing stop), so a price update costs a few comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProtectiveExits {
    stop_loss: Option<Decimal>,
    take_profit: Option<Decimal>,
    trailing: Option<Decimal>,
    long: bool,
    active: bool,
    stop_px: Option<Price>,
    target_px: Option<Price>,
    best: Price,
    trail_px: Option<Price>,
}

impl ProtectiveExits {
    /// Fractions of the entry value (`0.3` = 30 %); `None` disables a rule.
    pub fn new(stop_loss: Option<Decimal>, take_profit: Option<Decimal>, trailing: Option<Decimal>) -> Self {
        Self { stop_loss, take_profit, trailing, ..Self::default() }
    }

    /// Whether any rule is configured.
    pub fn enabled(&self) -> bool {
        self.stop_loss.is_some() || self.take_profit.is_some() || self.trailing.is_some()
    }

    /// A position opened at `entry` (long if `long`).
    pub fn arm(&mut self, entry: Price, long: bool) {
        if !self.enabled() {
            return;
        }
        let one = Decimal::ONE;
        let dir = if long { one } else { -one };
        self.long = long;
        self.active = true;
        self.stop_px = self.stop_loss.map(|f| entry * (one - dir * f));
        self.target_px = self.take_profit.map(|f| entry * (one + dir * f));
        self.best = entry;
        self.trail_px = self.trailing.map(|f| entry * (one - dir * f));
    }

    /// The position closed.
    pub fn disarm(&mut self) {
        self.active = false;
    }

    /// A new price: the exit it triggers, if any.
    #[inline]
    pub fn on_price(&mut self, price: Price) -> Option<ExitReason> {
        if !self.active {
            return None;
        }
        let beyond =
            |a: Price, b: Price, long: bool| if long { fastdec::le(a, b) } else { fastdec::ge(a, b) };
        if self.stop_px.is_some_and(|s| beyond(price, s, self.long)) {
            return Some(ExitReason::Stop);
        }
        if self.target_px.is_some_and(|t| beyond(t, price, self.long)) {
            return Some(ExitReason::Target);
        }
        if let (Some(f), Some(trail)) = (self.trailing, self.trail_px) {
            if beyond(price, trail, self.long) {
                return Some(ExitReason::TrailingStop);
            }
            let better =
                if self.long { fastdec::gt(price, self.best) } else { fastdec::lt(price, self.best) };
            if better {
                self.best = price;
                let dir = if self.long { Decimal::ONE } else { Decimal::NEGATIVE_ONE };
                self.trail_px = Some(price * (Decimal::ONE - dir * f));
            }
        }
        None
    }
}

/// For reports and logs: a compact description of a denial.
pub fn describe(d: &OrderDenied) -> String {
    format!("order {} {} {} denied: {} ({})", d.order.id, d.order.side, d.order.qty, d.reason, d.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::order::OrderKind;
    use crate::model::{ClientOrderId, SymbolId, Timestamp};
    use rust_decimal_macros::dec;

    fn req(side: Side, qty: Decimal, purpose: Purpose) -> OrderRequest {
        OrderRequest {
            id: ClientOrderId("a-1".into()),
            symbol: SymbolId(0),
            instrument: crate::model::InstrumentId::from("SPY"),
            side,
            qty,
            kind: OrderKind::Market,
            purpose,
            ref_price: dec!(100),
            ts: Timestamp(0),
            expire_at: None,
        }
    }

    fn ctx(phase: Phase, position: Decimal, day: i64) -> GateContext {
        GateContext { phase, position, day }
    }

    #[test]
    fn entries_only_in_session_exits_always() {
        let mut g = RiskGate::new(RiskLimits::default());
        for (phase, reason) in [
            (Phase::OutOfSession, DenyReason::OutsideSession),
            (Phase::AfterFlatten, DenyReason::AfterFlatten),
        ] {
            let d = g.check(req(Side::Buy, dec!(10), Purpose::Entry), &ctx(phase, dec!(0), 0)).unwrap_err();
            assert_eq!(d.reason, reason);
            let ok = g.check(
                req(Side::Sell, dec!(10), Purpose::Exit(ExitReason::SessionEnd)),
                &ctx(phase, dec!(10), 0),
            );
            assert_eq!(ok.unwrap().inner().qty, dec!(10));
        }
        let d = g.check(
            req(Side::Buy, dec!(10), Purpose::Exit(ExitReason::Signal)),
            &ctx(Phase::Open, dec!(10), 0),
        );
        assert_eq!(d.unwrap_err().reason, DenyReason::ZeroQuantity, "an exit that would add is refused");
    }

    #[test]
    fn position_and_notional_limits_clip_then_deny() {
        let limits = RiskLimits {
            max_units: Some(dec!(150)),
            max_notional: Some(dec!(12000)),
            ..RiskLimits::default()
        };
        let mut g = RiskGate::new(limits);
        let a = g.check(req(Side::Buy, dec!(200), Purpose::Entry), &ctx(Phase::Open, dec!(0), 0)).unwrap();
        assert_eq!(a.inner().qty, dec!(120), "notional 12000 / 100");
        let d = g.check(req(Side::Buy, dec!(10), Purpose::Add), &ctx(Phase::Open, dec!(150), 0)).unwrap_err();
        assert_eq!(d.reason, DenyReason::MaxNotional, "120 units of notional is the binding cap");
        let mut g = RiskGate::new(RiskLimits { max_units: Some(dec!(150)), ..RiskLimits::default() });
        let a = g.check(req(Side::Sell, dec!(200), Purpose::Add), &ctx(Phase::Open, dec!(-100), 0)).unwrap();
        assert_eq!(a.inner().qty, dec!(50));
        let d =
            g.check(req(Side::Sell, dec!(1), Purpose::Add), &ctx(Phase::Open, dec!(-150), 0)).unwrap_err();
        assert_eq!(d.reason, DenyReason::MaxPosition);
    }

    #[test]
    fn a_denied_order_shows_the_size_it_would_have_been_sent_with() {
        let mut g = RiskGate::new(RiskLimits { max_units: Some(dec!(20)), ..RiskLimits::default() });
        g.set_state(TradingState::Halted);
        let d = g.check(req(Side::Buy, dec!(71), Purpose::Entry), &ctx(Phase::Open, dec!(0), 0)).unwrap_err();
        assert_eq!((d.reason, d.order.qty), (DenyReason::Halted, dec!(20)));
        let mut g = RiskGate::new(RiskLimits { max_units: Some(dec!(20)), ..RiskLimits::default() });
        let d = g
            .check(req(Side::Buy, dec!(71), Purpose::Entry), &ctx(Phase::OutOfSession, dec!(0), 0))
            .unwrap_err();
        assert_eq!((d.reason, d.order.qty), (DenyReason::OutsideSession, dec!(20)));
    }

    #[test]
    fn max_trades_per_day_resets_each_day() {
        let limits = RiskLimits { max_trades_per_day: Some(1), ..RiskLimits::default() };
        let mut g = RiskGate::new(limits);
        assert!(g.check(req(Side::Buy, dec!(1), Purpose::Entry), &ctx(Phase::Open, dec!(0), 1)).is_ok());
        let d = g.check(req(Side::Sell, dec!(1), Purpose::Entry), &ctx(Phase::Open, dec!(0), 1)).unwrap_err();
        assert_eq!(d.reason, DenyReason::MaxTradesPerDay);
        assert!(g.check(req(Side::Sell, dec!(1), Purpose::Entry), &ctx(Phase::Open, dec!(0), 2)).is_ok());
    }

    #[test]
    fn trading_state_order_rate_and_allocation() {
        let at = |secs: i64, side, purpose| {
            let mut r = req(side, dec!(10), purpose);
            r.ts = Timestamp(secs * 1_000_000_000);
            r
        };
        let open = |p| ctx(Phase::Open, p, 0);
        // (state, position, order side, purpose, expected denial)
        let cases = [
            (TradingState::Halted, dec!(0), Side::Buy, Purpose::Entry, Some(DenyReason::Halted)),
            (TradingState::ReduceOnly, dec!(0), Side::Buy, Purpose::Entry, Some(DenyReason::ReduceOnly)),
            (TradingState::ReduceOnly, dec!(10), Side::Buy, Purpose::Add, Some(DenyReason::ReduceOnly)),
            (TradingState::Halted, dec!(10), Side::Sell, Purpose::Exit(ExitReason::Halt), None),
            (TradingState::ReduceOnly, dec!(-10), Side::Buy, Purpose::Exit(ExitReason::Stop), None),
        ];
        for (state, pos, side, purpose, want) in cases {
            let mut g = RiskGate::new(RiskLimits::default());
            g.set_state(state);
            let got = g.check(at(0, side, purpose), &open(pos)).err().map(|d| d.reason);
            assert_eq!(got, want, "{state} {pos} {side} {purpose:?}");
        }
        // Two orders a minute: exits count and pass, entries beyond are refused until the
        // window slides.
        let mut g = RiskGate::new(RiskLimits { max_orders_per_minute: Some(2), ..RiskLimits::default() });
        assert!(g.check(at(0, Side::Buy, Purpose::Entry), &open(dec!(0))).is_ok());
        assert!(g.check(at(10, Side::Sell, Purpose::Exit(ExitReason::Signal)), &open(dec!(10))).is_ok());
        assert!(g.check(at(20, Side::Sell, Purpose::Exit(ExitReason::Signal)), &open(dec!(10))).is_ok());
        let d = g.check(at(30, Side::Buy, Purpose::Entry), &open(dec!(0))).unwrap_err();
        assert_eq!(d.reason, DenyReason::OrderRate);
        assert!(d.message.contains("3 orders"), "{}", d.message);
        assert!(
            g.check(at(81, Side::Buy, Purpose::Entry), &open(dec!(0))).is_ok(),
            "the window has slid past them"
        );
        // Allocation caps the notional like max_notional.
        let mut g = RiskGate::new(RiskLimits { allocation: Some(dec!(550)), ..RiskLimits::default() });
        let mut big = req(Side::Buy, dec!(10), Purpose::Entry);
        big.ref_price = dec!(100);
        assert_eq!(g.check(big.clone(), &open(dec!(0))).unwrap().inner().qty, dec!(5));
        assert_eq!(g.check(big, &open(dec!(5))).unwrap_err().reason, DenyReason::Allocation);
    }

    #[test]
    fn sizes_below_one_increment_and_cash_account_shorts_are_refused() {
        let open = |p| ctx(Phase::Open, p, 0);
        let mut g = RiskGate::new(RiskLimits::default());
        let d = g.check(req(Side::Buy, dec!(0), Purpose::Entry), &open(dec!(0))).unwrap_err();
        assert_eq!(d.reason, DenyReason::SizeBelowMinimum);
        assert_eq!(d.message, "the size buys less than the smallest quantity (1) at 100");
        let d = g.check(req(Side::Sell, dec!(0), Purpose::Exit(ExitReason::Stop)), &open(dec!(1)));
        assert_eq!(d.unwrap_err().reason, DenyReason::ZeroQuantity);
        // Fractional coins: the allocation clips in increments.
        let coin = RiskLimits {
            allocation: Some(dec!(50)),
            increment: Some(dec!(0.001)),
            cash_account: true,
            ..RiskLimits::default()
        };
        let mut g = RiskGate::new(coin);
        let a = g.check(req(Side::Buy, dec!(0.7), Purpose::Entry), &open(dec!(0))).unwrap();
        assert_eq!(a.inner().qty, dec!(0.5));
        // A cash account sells what it holds, and never short.
        let a = g.check(req(Side::Sell, dec!(0.9), Purpose::Adjust), &open(dec!(0.5))).unwrap();
        assert_eq!(a.inner().qty, dec!(0.5));
        let d = g.check(req(Side::Sell, dec!(0.2), Purpose::Entry), &open(dec!(0))).unwrap_err();
        assert_eq!(d.reason.code(), "cash-account-short");
    }

    #[test]
    fn protective_exits() {
        let mut p = ProtectiveExits::new(Some(dec!(0.1)), Some(dec!(0.2)), Some(dec!(0.05)));
        assert_eq!(p.on_price(dec!(1)), None, "inactive until armed");
        p.arm(dec!(100), true);
        assert_eq!(p.on_price(dec!(96)), None);
        assert_eq!(p.on_price(dec!(95)), Some(ExitReason::TrailingStop), "trailing 5 % below 100");
        p.arm(dec!(100), true);
        assert_eq!(p.on_price(dec!(110)), None);
        assert_eq!(p.on_price(dec!(104.5)), Some(ExitReason::TrailingStop), "trail from 110");
        p.arm(dec!(100), false);
        assert_eq!(p.on_price(dec!(80)), Some(ExitReason::Target));
        let mut p = ProtectiveExits::new(Some(dec!(0.1)), None, None);
        p.arm(dec!(100), false);
        assert_eq!(p.on_price(dec!(109.99)), None);
        assert_eq!(p.on_price(dec!(110)), Some(ExitReason::Stop));
    }

    #[test]
    fn every_reason_code_is_lower_case_with_hyphens() {
        use crate::risk::compliance::codes;
        let reasons = [
            DenyReason::OutsideSession,
            DenyReason::AfterFlatten,
            DenyReason::MaxPosition,
            DenyReason::MaxNotional,
            DenyReason::MaxTradesPerDay,
            DenyReason::ZeroQuantity,
            DenyReason::SizeBelowMinimum,
            DenyReason::Allocation,
            DenyReason::Halted,
            DenyReason::ReduceOnly,
            DenyReason::OrderRate,
            DenyReason::NoExpiryInWindow,
            DenyReason::MaxSlippage,
            DenyReason::NoContract,
        ];
        let compliance = [
            codes::PDT_LIMIT,
            codes::INTRADAY_MARGIN_DEFICIT,
            codes::MIN_EQUITY,
            codes::REG_T_BUYING_POWER,
            codes::UNSETTLED_FUNDS,
            codes::FREE_RIDING,
            codes::CASH_ACCOUNT_SHORT,
            codes::SHORT_OPTION_UNSUPPORTED,
            codes::INSUFFICIENT_POSITION,
            codes::INVALID_ORDER,
            codes::CALENDAR,
        ];
        let all = reasons
            .iter()
            .map(|r| r.code())
            .chain(compliance.iter().map(|c| DenyReason::Compliance(c).code()));
        for code in all {
            assert!(
                !code.is_empty()
                    && code.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    && !code.starts_with('-')
                    && !code.ends_with('-'),
                "{code}"
            );
        }
    }
}
