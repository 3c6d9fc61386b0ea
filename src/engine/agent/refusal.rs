//! Entries the agent refuses before the risk gate sees them (options: no expiry in the window,
//! no contract, a limit too far from the mid): each is an [`OrderDenied`] with a reason code,
//! exactly like a gate denial — journaled, in the report's denied orders, printed by `up`.
//!
//! What belongs here: building those denials and the checks that decide them. The gate's own
//! refusals stay in `crate::risk::gate`.

use rust_decimal::Decimal;

use super::{Agent, AgentEvent, Outbox};
use crate::market::event::Quote;
use crate::model::order::{OrderRequest, Purpose};
use crate::model::{Price, Qty, Side};
use crate::risk::gate::{DenyReason, OrderDenied};

impl Agent {
    /// Options: why the entry's marketable limit (ask + offset ticks) is too far from the mid
    /// for `max_slippage_ticks`, or `None` when it is within the guard (or there is none).
    pub(super) fn slippage_refusal(&self, q: &Quote) -> Option<String> {
        let max = self.cfg.max_slippage_ticks?;
        let tick = self.option.as_ref()?.contract()?.tick_size(q.ask);
        let limit = q.ask + tick * Decimal::from(self.cfg.offset_ticks);
        let mid = (q.bid + q.ask) / Decimal::TWO;
        (limit - mid > tick * Decimal::from(max)).then(|| {
            format!(
                "limit {limit} is {} from the mid {mid}, more than max_slippage_ticks {max} ({} each)",
                limit - mid,
                tick
            )
        })
    }

    /// The traded option's name: its contract's OCC symbol, or the underlying and the right
    /// asked for (`None` without options).
    pub(super) fn option_label(&self) -> Option<String> {
        self.option.as_ref().map(super::OptionLeg::label)
    }

    /// Refuse an option entry of `qty` at `price` for `reason`: an [`OrderDenied`] on the
    /// contract chosen (or the underlying and right when none was), recorded for the report and
    /// sent to `out`. The contract, if any, is released: nothing is held.
    pub(super) fn refuse_entry(
        &mut self,
        qty: Qty,
        price: Price,
        reason: DenyReason,
        message: String,
        out: &mut Outbox,
    ) {
        let label = self.option_label().unwrap_or_else(|| self.cfg.symbol_label.clone());
        let order = OrderRequest {
            id: self.next_id(),
            symbol: self.traded,
            instrument: crate::model::InstrumentId(label.clone()),
            side: Side::Buy,
            qty,
            kind: self.order_kind(Side::Buy, price, false),
            purpose: Purpose::Entry,
            ref_price: price,
            ts: self.now,
            expire_at: None,
        };
        let denied = OrderDenied { order, reason, message };
        self.recorder.on_denied(&denied, &label);
        out.events.push(AgentEvent::Denied(denied));
        if let Some(leg) = self.option.as_mut() {
            leg.release();
        }
    }
}
