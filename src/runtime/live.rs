//! Starting an agent on a remote venue: read the account, reconcile it with the journal, and
//! take over what the venue holds and what is still working there.
//!
//! The venue is the truth about the account; the journal is the truth about what this agent
//! did. At start:
//! 1. An order the journal left working that the venue no longer works finished while no
//!    process watched: its executions are read from the venue and journaled (with the order's
//!    final state and the position they leave); without any, it is journaled as canceled.
//! 2. What the journal then holds is compared with the venue's positions and working orders
//!    (`super::reconcile`): a difference refuses the start with the table, or with `adopt`
//!    (`--adopt`, `broker.reconcile: adopt`) the venue's state is journaled as inferred.
//! 3. The agent takes over the venue's positions and working orders; the venue client tracks
//!    the orders, so their fills reach the agent. Nothing is sent twice: a client order id is
//!    never reused, and an order is never placed again because a restart could not see it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::journal_sink::{JournalSink, Restored};
use super::reconcile::{adoption, compare, table};
use crate::engine::agent::Agent;
use crate::journal::{FillRecord, OrderRecord, OrderStatus, OrderType, PositionRecord};
use crate::model::account::{AccountState, OpenOrder};
use crate::model::order::{ExitReason, Fill, OrderKind, OrderRequest, Position, Purpose};
use crate::model::{AccountId, AgentId, ClientOrderId, InstrumentId, Side, SymbolId, Timestamp};
use crate::venue::ExecutionClient;

/// Who is starting, for the journal and the lines printed.
pub struct Starting<'a> {
    /// The agent's name.
    pub agent: &'a AgentId,
    /// Its broker account.
    pub account: &'a AccountId,
    /// The traded underlying (symbol 0); anything else it holds is its option leg (symbol 1).
    pub underlying: &'a str,
    /// Take the venue's state when it differs from the journal's.
    pub adopt: bool,
}

impl Starting<'_> {
    /// The journal record of this agent's position `p` in `instrument` at `time`.
    fn position(&self, instrument: &InstrumentId, p: &Position, time: DateTime<Utc>) -> PositionRecord {
        PositionRecord {
            run: None,
            agent: self.agent.clone(),
            account: self.account.clone(),
            instrument: instrument.clone(),
            qty: p.qty,
            avg_price: p.avg_price,
            time,
        }
    }
}

/// Reconcile `client`'s account (`state`, read just before) with what `restored` (the journal) says, journal what was
/// learned, and hand the venue's positions and working orders to `agent` and `client`.
/// Returns the lines to print; `Err` is the refusal (with the difference as a table).
pub async fn take_over(
    client: &mut dyn ExecutionClient,
    agent: &mut Agent,
    sink: &mut JournalSink,
    restored: &Restored,
    who: &Starting<'_>,
    state: &AccountState,
) -> Result<Vec<String>, String> {
    let name = who.agent.as_str();
    let now = Utc::now();
    let mut lines = Vec::new();
    let working: HashMap<&ClientOrderId, &OpenOrder> = state.open_orders.iter().map(|o| (&o.id, o)).collect();
    let (still, finished): (Vec<&OrderRecord>, Vec<&OrderRecord>) =
        restored.open_orders.iter().partition(|o| working.contains_key(&o.client_order_id));
    let mut positions: BTreeMap<InstrumentId, Position> = restored
        .open_positions
        .iter()
        .map(|p| {
            (p.instrument.clone(), Position { qty: p.qty, avg_price: p.avg_price, realized: Decimal::ZERO })
        })
        .collect();
    if !finished.is_empty() {
        let since = finished.iter().map(|o| o.time).min().unwrap_or(now) - chrono::Duration::minutes(1);
        let asked: Vec<OrderRequest> = finished.iter().map(|o| request_of(o, who.underlying)).collect();
        let fills = client
            .fills_since(Timestamp::from_datetime(&since), &asked)
            .await
            .map_err(|e| format!("cannot read the venue's executions, so nothing was traded: {e}"))?;
        let (records, orders, changed) = recover(&finished, &fills, &mut positions, who);
        for o in &orders {
            lines.push(match o.status {
                OrderStatus::Canceled => format!(
                    "{name}: order {} ({} {} {}) is no longer working at the venue and never executed: journaled as canceled",
                    o.client_order_id, o.side, o.qty, o.instrument
                ),
                _ => format!(
                    "{name}: order {} ({} {} {}) executed at the venue while no process watched: its fills are journaled",
                    o.client_order_id, o.side, o.qty, o.instrument
                ),
            });
        }
        let position_records: Vec<PositionRecord> = changed
            .iter()
            .map(|i| who.position(i, &positions.get(i).copied().unwrap_or_default(), now))
            .collect();
        sink.record_recovered(&records, &orders, &position_records, now)
            .map_err(|e| format!("journal: {e}"))?;
    }
    let held: Vec<PositionRecord> =
        positions.iter().filter(|(_, p)| !p.qty.is_zero()).map(|(i, p)| who.position(i, p, now)).collect();
    let still: Vec<OrderRecord> = still.into_iter().cloned().collect();
    let gaps = compare(&held, &still, state);
    if !gaps.is_empty() {
        if !who.adopt {
            return Err(format!(
                "the venue's account differs from the journal; nothing was traded. Inspect both, or take the \
                 venue's state with `runner up --adopt` (broker.reconcile: adopt):\n{}",
                table(&gaps)
            ));
        }
        let (orders, positions) = adoption(&gaps, &still, state, who.agent, who.account);
        sink.record_inferred(&orders, &positions, now).map_err(|e| format!("journal: {e}"))?;
        let line = format!("{name}: reconciliation: adopted the venue's state:\n{}", table(&gaps));
        sink.note(line.clone());
        lines.push(line);
    }
    hand_over(client, agent, state, &still, who, now, &mut lines)?;
    Ok(lines)
}

/// The fills of `finished` orders among the venue's `fills`, applied to `positions`: the fill
/// records, each order's final record, and the instruments whose position changed.
fn recover(
    finished: &[&OrderRecord],
    fills: &[Fill],
    positions: &mut BTreeMap<InstrumentId, Position>,
    who: &Starting<'_>,
) -> (Vec<FillRecord>, Vec<OrderRecord>, Vec<InstrumentId>) {
    let (mut records, mut orders, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for o in finished {
        let mine: Vec<&Fill> = fills.iter().filter(|f| f.id == o.client_order_id).collect();
        let executed: Decimal = mine.iter().map(|f| f.qty).sum();
        for (n, f) in mine.iter().enumerate() {
            let mult =
                if f.instrument.as_str() == who.underlying { Decimal::ONE } else { Decimal::ONE_HUNDRED };
            positions.entry(f.instrument.clone()).or_default().apply(f.side, f.qty, f.price, mult);
            if !changed.contains(&f.instrument) {
                changed.push(f.instrument.clone());
            }
            records.push(FillRecord {
                fill_id: format!("{}-recovered-{}", o.client_order_id, n + 1),
                client_order_id: o.client_order_id.clone(),
                run: None,
                agent: who.agent.clone(),
                account: who.account.clone(),
                instrument: f.instrument.clone(),
                side: f.side,
                qty: f.qty,
                price: f.price,
                fee: f.commission,
                time: f.ts.to_utc(),
            });
        }
        // Not executed in full: canceled or expired at the venue, after any partial fills.
        let status = if !executed.is_zero() && executed >= o.qty {
            OrderStatus::Filled
        } else {
            OrderStatus::Canceled
        };
        orders.push(OrderRecord { status, ..(*o).clone() });
    }
    (records, orders, changed)
}

/// The venue's positions and working orders to the agent (and the orders to the client).
fn hand_over(
    client: &mut dyn ExecutionClient,
    agent: &mut Agent,
    state: &AccountState,
    journal_orders: &[OrderRecord],
    who: &Starting<'_>,
    now: DateTime<Utc>,
    lines: &mut Vec<String>,
) -> Result<(), String> {
    let name = who.agent.as_str();
    let ts = Timestamp::from_datetime(&now);
    for pos in &state.positions {
        agent.restore_position(&pos.instrument, pos.qty, pos.avg_price, ts)?;
        lines.push(format!(
            "{name}: holding {} {} at {} at the venue; the agent manages it from here",
            pos.qty, pos.instrument, pos.avg_price
        ));
    }
    for o in &state.open_orders {
        let held: Decimal =
            state.positions.iter().filter(|p| p.instrument == o.instrument).map(|p| p.qty).sum();
        let reduces =
            (o.side == Side::Sell && held > Decimal::ZERO) || (o.side == Side::Buy && held < Decimal::ZERO);
        let placed = journal_orders
            .iter()
            .find(|j| j.client_order_id == o.id)
            .map_or(ts, |j| Timestamp::from_datetime(&j.time));
        let req = OrderRequest {
            id: o.id.clone(),
            symbol: if o.instrument.as_str() == who.underlying { SymbolId(0) } else { SymbolId(1) },
            instrument: o.instrument.clone(),
            side: o.side,
            qty: o.qty,
            kind: o.kind,
            purpose: if reduces { Purpose::Exit(ExitReason::Signal) } else { Purpose::Entry },
            ref_price: limit_of(&o.kind).unwrap_or_default(),
            ts: placed,
            expire_at: None,
        };
        agent.restore_order(req.clone(), o.qty - o.filled);
        client.track(req, o.filled);
        lines.push(format!(
            "{name}: order {} ({} {} {}, {} filled) is still working at the venue; the agent follows it",
            o.id, o.side, o.qty, o.instrument, o.filled
        ));
    }
    Ok(())
}

/// A priced order's limit (or stop) price.
fn limit_of(kind: &OrderKind) -> Option<Decimal> {
    match *kind {
        OrderKind::Limit { limit } | OrderKind::StopLimit { limit, .. } => Some(limit),
        OrderKind::Stop { stop } => Some(stop),
        OrderKind::Market | OrderKind::MarketableLimit { .. } => None,
    }
}

/// The order a journal record describes (what a venue client needs to look it up).
fn request_of(o: &OrderRecord, underlying: &str) -> OrderRequest {
    let kind = match (o.order_type, o.limit_price, o.stop_price) {
        (OrderType::Limit, Some(limit), _) => OrderKind::Limit { limit },
        (OrderType::Stop, _, Some(stop)) => OrderKind::Stop { stop },
        (OrderType::StopLimit, Some(limit), Some(stop)) => OrderKind::StopLimit { stop, limit },
        _ => OrderKind::Market,
    };
    OrderRequest {
        id: o.client_order_id.clone(),
        symbol: if o.instrument.as_str() == underlying { SymbolId(0) } else { SymbolId(1) },
        instrument: o.instrument.clone(),
        side: o.side,
        qty: o.qty,
        kind,
        purpose: Purpose::Entry,
        ref_price: o.limit_price.or(o.stop_price).unwrap_or_default(),
        ts: Timestamp::from_datetime(&o.time),
        expire_at: None,
    }
}
