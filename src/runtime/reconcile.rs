//! Restart by reconciliation: before the first market event, what the journal says the account
//! holds is compared with what the venue says.
//!
//! - Equal: the agent takes the positions over and trades.
//! - Different (the venue holds what the journal does not, or the reverse, or another quantity;
//!   an order only one side knows): the run refuses, printing the difference as a table, unless
//!   the recipe (`broker.reconcile: adopt`) or `--adopt` says to take the venue's state — then
//!   the adoption is journaled as inferred records and the agent starts from the venue's state.
//!
//! The simulated (paper) venue has no memory of its own: it is restored from the journal
//! (positions at their average price), and an order the journal left working did not outlive
//! the process that simulated it — it is journaled as canceled. So the paper path runs the same
//! comparison, and a journal that disagrees with itself shows up the same way.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::journal::{OrderRecord, OrderStatus, PositionRecord};
use crate::model::account::AccountState;
use crate::model::{ClientOrderId, InstrumentId, Qty};

/// One thing the journal and the venue disagree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gap {
    /// A position of another size (zero on one side included).
    Position {
        /// The instrument.
        instrument: InstrumentId,
        /// What the journal says is held (signed).
        journal: Qty,
        /// What the venue holds (signed).
        venue: Qty,
    },
    /// A working order only one side knows.
    Order {
        /// The order.
        id: ClientOrderId,
        /// Its instrument.
        instrument: InstrumentId,
        /// Whether the journal has it working (else the venue does).
        in_journal: bool,
    },
}

/// The differences between the journal's `positions` and `orders` and the venue's `state`.
pub fn compare(positions: &[PositionRecord], orders: &[OrderRecord], state: &AccountState) -> Vec<Gap> {
    let mut held: BTreeMap<&InstrumentId, (Qty, Qty)> = BTreeMap::new();
    for p in positions {
        held.entry(&p.instrument).or_default().0 += p.qty;
    }
    for p in &state.positions {
        held.entry(&p.instrument).or_default().1 += p.qty;
    }
    let mut gaps: Vec<Gap> = held
        .into_iter()
        .filter(|(_, (j, v))| j != v)
        .map(|(i, (journal, venue))| Gap::Position { instrument: i.clone(), journal, venue })
        .collect();
    for o in orders {
        if !state.open_orders.iter().any(|v| v.id == o.client_order_id) {
            let (id, instrument) = (o.client_order_id.clone(), o.instrument.clone());
            gaps.push(Gap::Order { id, instrument, in_journal: true });
        }
    }
    for v in &state.open_orders {
        if !orders.iter().any(|o| o.client_order_id == v.id) {
            gaps.push(Gap::Order { id: v.id.clone(), instrument: v.instrument.clone(), in_journal: false });
        }
    }
    gaps
}

/// The differences as a table for the terminal.
pub fn table(gaps: &[Gap]) -> String {
    let mut rows =
        vec![["WHAT".to_owned(), "INSTRUMENT".to_owned(), "JOURNAL".to_owned(), "VENUE".to_owned()]];
    for g in gaps {
        rows.push(match g {
            Gap::Position { instrument, journal, venue } => [
                "position".to_owned(),
                instrument.to_string(),
                journal.normalize().to_string(),
                venue.normalize().to_string(),
            ],
            Gap::Order { id, instrument, in_journal } => {
                let (j, v) = if *in_journal { ("working", "—") } else { ("—", "working") };
                [format!("order {id}"), instrument.to_string(), j.to_owned(), v.to_owned()]
            }
        });
    }
    let mut widths = [0usize; 4];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str("  ");
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// What adopting the venue's `state` writes into the journal: the venue's positions as inferred
/// snapshots (a flat one for a position only the journal had) and the orders' inferred states
/// (`canceled` for one only the journal had, `accepted` for one only the venue has), each for
/// `agent` on `account`.
pub fn adoption(
    gaps: &[Gap],
    journal_orders: &[OrderRecord],
    state: &AccountState,
    agent: &crate::model::AgentId,
    account: &crate::model::AccountId,
) -> (Vec<OrderRecord>, Vec<PositionRecord>) {
    let time = state.ts.to_utc();
    let mut orders = Vec::new();
    let mut positions = Vec::new();
    for g in gaps {
        match g {
            Gap::Position { instrument, venue, .. } => {
                let avg = state
                    .positions
                    .iter()
                    .find(|p| &p.instrument == instrument)
                    .map_or(Decimal::ZERO, |p| p.avg_price);
                positions.push(PositionRecord {
                    run: None,
                    agent: agent.clone(),
                    account: account.clone(),
                    instrument: instrument.clone(),
                    qty: *venue,
                    avg_price: avg,
                    time,
                });
            }
            Gap::Order { id, in_journal: true, .. } => {
                if let Some(o) = journal_orders.iter().find(|o| &o.client_order_id == id) {
                    orders.push(OrderRecord { status: OrderStatus::Canceled, ..o.clone() });
                }
            }
            Gap::Order { id, in_journal: false, .. } => {
                if let Some(v) = state.open_orders.iter().find(|o| &o.id == id) {
                    orders.push(venue_order(v, agent, account, time));
                }
            }
        }
    }
    (orders, positions)
}

/// A venue's open order as a journal record.
fn venue_order(
    v: &crate::model::account::OpenOrder,
    agent: &crate::model::AgentId,
    account: &crate::model::AccountId,
    time: chrono::DateTime<chrono::Utc>,
) -> OrderRecord {
    use crate::journal::OrderType;
    use crate::model::order::OrderKind;
    let (order_type, limit_price, stop_price) = match v.kind {
        OrderKind::Market => (OrderType::Market, None, None),
        OrderKind::MarketableLimit { .. } => (OrderType::Limit, None, None),
        OrderKind::Limit { limit } => (OrderType::Limit, Some(limit), None),
        OrderKind::Stop { stop } => (OrderType::Stop, None, Some(stop)),
        OrderKind::StopLimit { stop, limit } => (OrderType::StopLimit, Some(limit), Some(stop)),
    };
    OrderRecord {
        client_order_id: v.id.clone(),
        run: None,
        agent: agent.clone(),
        account: account.clone(),
        instrument: v.instrument.clone(),
        side: v.side,
        order_type,
        qty: v.qty,
        limit_price,
        stop_price,
        status: OrderStatus::Accepted,
        time,
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::model::account::{OpenOrder, PositionReport};
    use crate::model::order::OrderKind;
    use crate::model::{AccountId, AgentId, Side, Timestamp};

    fn position(instrument: &str, qty: Decimal) -> PositionRecord {
        PositionRecord {
            run: None,
            agent: AgentId::from("a"),
            account: AccountId::from("acct"),
            instrument: InstrumentId::from(instrument),
            qty,
            avg_price: dec!(100),
            time: chrono::Utc::now(),
        }
    }

    fn order(id: &str) -> OrderRecord {
        OrderRecord {
            client_order_id: ClientOrderId::from(id),
            run: None,
            agent: AgentId::from("a"),
            account: AccountId::from("acct"),
            instrument: InstrumentId::from("SPY"),
            side: Side::Buy,
            order_type: crate::journal::OrderType::Limit,
            qty: dec!(10),
            limit_price: Some(dec!(99)),
            stop_price: None,
            status: OrderStatus::Accepted,
            time: chrono::Utc::now(),
        }
    }

    fn venue(positions: &[(&str, Decimal)], orders: &[&str]) -> AccountState {
        AccountState {
            ts: Timestamp(1_381_152_600_000_000_000),
            positions: positions
                .iter()
                .map(|(i, q)| PositionReport {
                    instrument: InstrumentId::from(*i),
                    qty: *q,
                    avg_price: dec!(101),
                })
                .collect(),
            open_orders: orders
                .iter()
                .map(|id| OpenOrder {
                    id: ClientOrderId::from(*id),
                    instrument: InstrumentId::from("SPY"),
                    side: Side::Sell,
                    qty: dec!(5),
                    filled: Decimal::ZERO,
                    kind: OrderKind::Limit { limit: dec!(110) },
                })
                .collect(),
            ..AccountState::default()
        }
    }

    #[test]
    fn equal_books_have_no_gap_and_every_difference_is_named() {
        let journal = [position("SPY", dec!(100))];
        assert!(compare(&journal, &[order("a-1")], &venue(&[("SPY", dec!(100))], &["a-1"])).is_empty());
        let gaps =
            compare(&journal, &[order("a-1")], &venue(&[("SPY", dec!(60)), ("QQQ", dec!(-5))], &["b-9"]));
        assert_eq!(gaps.len(), 4, "{gaps:?}");
        assert!(gaps.contains(&Gap::Position {
            instrument: "QQQ".into(),
            journal: dec!(0),
            venue: dec!(-5)
        }));
        assert!(gaps.contains(&Gap::Position {
            instrument: "SPY".into(),
            journal: dec!(100),
            venue: dec!(60)
        }));
        assert!(gaps.contains(&Gap::Order { id: "a-1".into(), instrument: "SPY".into(), in_journal: true }));
        assert!(gaps.contains(&Gap::Order { id: "b-9".into(), instrument: "SPY".into(), in_journal: false }));
        let t = table(&gaps);
        assert!(t.contains("position   SPY         100      60"), "{t}");
        assert!(t.contains("order a-1  SPY         working  —"), "{t}");
    }

    #[test]
    fn adopting_journals_the_venue_state() {
        let journal = [position("SPY", dec!(100))];
        let state = venue(&[("SPY", dec!(60))], &["b-9"]);
        let gaps = compare(&journal, &[order("a-1")], &state);
        let (orders, positions) = adoption(&gaps, &[order("a-1")], &state, &"a".into(), &"acct".into());
        assert_eq!(positions.len(), 1);
        assert_eq!((positions[0].qty, positions[0].avg_price), (dec!(60), dec!(101)));
        let states: Vec<(&str, OrderStatus)> =
            orders.iter().map(|o| (o.client_order_id.as_str(), o.status)).collect();
        assert_eq!(states, [("a-1", OrderStatus::Canceled), ("b-9", OrderStatus::Accepted)]);
    }
}
