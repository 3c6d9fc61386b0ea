//! What a run traded, from its journaled fills alone: the closed deals (round trips, as the
//! report counts them), their net P&L and the dates the fills span. `runner journal runs` and
//! `runner runs` show these for runs whose report is not at hand (a crash, `--report-dir`
//! elsewhere).
//!
//! A deal still open when the run's fills end is not counted, and neither is its P&L; a
//! position a run took over from an earlier one enters through its first fill, as if opened
//! there. A fill of an option contract (an OCC symbol) counts its contract multiplier.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{FillRecord, Journal, JournalError, RunId};
use crate::model::order::{Fill, Purpose};
use crate::model::{Money, NEW_YORK, SymbolId, Timestamp};
use crate::report::Recorder;

/// One run's results as its fills tell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct RunTotals {
    /// Closed deals.
    pub trades: usize,
    /// Their P&L after fees.
    pub net_pnl: Money,
    /// New York date of the first fill.
    pub first_fill: Option<NaiveDate>,
    /// New York date of the last fill.
    pub last_fill: Option<NaiveDate>,
}

impl RunTotals {
    /// The totals of `fills` (one run's, in journal order).
    pub fn of(fills: &[FillRecord]) -> Self {
        let mut books: BTreeMap<&str, Recorder> = BTreeMap::new();
        for f in fills {
            let instrument = f.instrument.as_str();
            let book = books
                .entry(instrument)
                .or_insert_with(|| Recorder::new("", instrument, multiplier(instrument)));
            book.on_fill(&Fill {
                id: f.client_order_id.clone(),
                symbol: SymbolId(0),
                instrument: f.instrument.clone(),
                side: f.side,
                qty: f.qty,
                price: f.price,
                commission: f.fee,
                leaves: Decimal::ZERO,
                purpose: Purpose::Entry,
                ts: Timestamp::from_datetime(&f.time),
            });
        }
        let deals = books.values().flat_map(|b| &b.deals);
        let date = |f: &FillRecord| f.time.with_timezone(&NEW_YORK).date_naive();
        Self {
            trades: deals.clone().count(),
            net_pnl: deals.map(crate::report::Deal::net_pnl).sum(),
            first_fill: fills.first().map(date),
            last_fill: fills.last().map(date),
        }
    }
}

/// Shares (or units) per contract: an OCC option symbol's multiplier, else 1.
fn multiplier(instrument: &str) -> Decimal {
    instrument
        .parse::<crate::options::occ::OptionContract>()
        .map_or(Decimal::ONE, |c| Decimal::from(c.multiplier))
}

impl Journal {
    /// What `run` traded, from its fills.
    pub fn run_totals(&self, run: &RunId) -> Result<RunTotals, JournalError> {
        Ok(RunTotals::of(&self.fills_for_run(run)?))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use rust_decimal_macros::dec;

    use super::*;
    use crate::model::{AccountId, AgentId, ClientOrderId, InstrumentId, Side};

    fn fill(instrument: &str, side: Side, qty: Decimal, price: Decimal, day: u32) -> FillRecord {
        FillRecord {
            fill_id: format!("{instrument}-{day}-{side}"),
            client_order_id: ClientOrderId("o".into()),
            run: None,
            agent: AgentId::from("a"),
            account: AccountId::from("acct"),
            instrument: InstrumentId::from(instrument),
            side,
            qty,
            price,
            fee: dec!(1),
            time: Utc.with_ymd_and_hms(2013, 10, day, 15, 0, 0).single().expect("time"),
        }
    }

    #[test]
    fn closed_deals_count_with_their_multiplier_and_an_open_one_does_not() {
        let occ = "SPY   131019P00168000";
        let fills = [
            fill("SPY", Side::Buy, dec!(100), dec!(168), 7),
            fill("SPY", Side::Sell, dec!(100), dec!(169), 7),
            fill(occ, Side::Buy, dec!(2), dec!(1.85), 8),
            fill(occ, Side::Sell, dec!(2), dec!(1.70), 9),
            fill("SPY", Side::Buy, dec!(10), dec!(170), 10),
        ];
        let t = RunTotals::of(&fills);
        assert_eq!(t.trades, 2);
        // +100 − 2 fees on the shares, −0.15 × 2 × 100 − 2 fees on the contracts.
        assert_eq!(t.net_pnl, dec!(98) + dec!(-32));
        assert_eq!(t.first_fill, NaiveDate::from_ymd_opt(2013, 10, 7));
        assert_eq!(t.last_fill, NaiveDate::from_ymd_opt(2013, 10, 10));
        assert_eq!(RunTotals::of(&[]), RunTotals::default());
    }
}
