//! Which journaled day trades and positions are an account's history: the one rule shared by
//! the restart rebuild (the risk gate's restored PDT window, the positions a crashed run left)
//! and `runner journal day-trades`, so the two always count the same.
//!
//! The rule (docs/journal.md, "Whose history counts"):
//! - Only paper and live runs count. Backtests simulate an account of their own, and a record
//!   without a run cannot be placed.
//! - A run's metadata `first_event` is the time of the first market event it replayed or saw.
//!   A run that starts at time F re-plays (or lives through) everything from F on, in a fresh
//!   paper account, so it **supersedes** the records of every earlier run of the same account
//!   timed at or after F: those belong to a timeline this run has replaced. Records timed before
//!   F are history it inherits.
//! - Seen from a run (the restart rebuild) that run is the newest one: it inherits exactly the
//!   records strictly before its own first event, never "history" from its own future.
//! - Runs written without `first_event` (journals from before this rule) supersede nothing.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use chrono::{DateTime, NaiveDate, Utc};

use super::record::ts;
use super::{DayTradeRecord, Journal, JournalError, PositionRecord, RunId, RunMode, RunRecord};
use crate::model::{AccountId, AgentId};

/// Run metadata key holding the time of the run's first market event (RFC 3339 UTC, as
/// [`ts::format`] writes it).
pub const FIRST_EVENT_KEY: &str = "first_event";

/// Whose view of the history.
#[derive(Debug, Clone, Copy)]
pub enum AsOf<'a> {
    /// After every run in the journal (`runner journal day-trades`).
    Latest,
    /// What this run inherits when it starts: runs begun before it, cut at its first event.
    /// Its own records are not part of its history.
    Run(&'a RunId),
}

/// Records that count, and how many were left out and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted<T> {
    /// The records that count, in journal order.
    pub counted: Vec<T>,
    /// Left out: written by backtest runs (or by no run).
    pub backtest: usize,
    /// Left out: superseded by a later run that started at or before their time.
    pub superseded: usize,
}

/// The runs in view and, per run, the earliest first event of a later run per account.
struct View {
    modes: HashMap<RunId, RunMode>,
    /// run → account → earliest `first_event` of the runs begun after it (in view).
    cutoff: HashMap<RunId, HashMap<String, DateTime<Utc>>>,
    /// The as-of run, whose own records are excluded.
    own: Option<RunId>,
}

impl View {
    fn new(runs: Vec<RunRecord>, as_of: AsOf<'_>) -> Self {
        let mut runs = runs;
        let own = match as_of {
            AsOf::Latest => None,
            AsOf::Run(id) => {
                if let Some(i) = runs.iter().position(|r| &r.id == id) {
                    runs.truncate(i + 1);
                }
                Some(id.clone())
            }
        };
        let mut cutoff = HashMap::with_capacity(runs.len());
        let mut later: HashMap<String, DateTime<Utc>> = HashMap::new();
        // Runs come oldest first (begin order); walk newest first.
        for r in runs.iter().rev() {
            cutoff.insert(r.id.clone(), later.clone());
            if r.begin.mode == RunMode::Backtest {
                continue;
            }
            let first = r.begin.metadata.get(FIRST_EVENT_KEY).and_then(|t| ts::parse(t).ok());
            if let (Some(account), Some(first)) = (r.begin.metadata.get("account"), first) {
                let e = later.entry(account.clone()).or_insert(first);
                *e = (*e).min(first);
            }
        }
        let modes = runs.into_iter().map(|r| (r.id, r.begin.mode)).collect();
        Self { modes, cutoff, own }
    }

    /// Whether a record of `run` on `account` at `time` counts; `Err(true)` = left out as a
    /// backtest (or unknown run), `Err(false)` = superseded; `None` = the as-of run's own record
    /// or a run begun after it (not in view at all).
    fn judge(
        &self,
        run: Option<&RunId>,
        account: &AccountId,
        time: DateTime<Utc>,
    ) -> Option<Result<(), bool>> {
        let Some(run) = run else { return Some(Err(true)) };
        if self.own.as_ref() == Some(run) {
            return None;
        }
        let Some(mode) = self.modes.get(run) else {
            // A run id with no run row cannot be placed; one begun after the as-of run is not
            // in view (`modes` holds every run in view).
            return if self.own.is_some() { None } else { Some(Err(true)) };
        };
        if *mode == RunMode::Backtest {
            return Some(Err(true));
        }
        match self.cutoff.get(run).and_then(|c| c.get(account.as_str())) {
            Some(cut) if time >= *cut => Some(Err(false)),
            _ => Some(Ok(())),
        }
    }

    fn split<T>(
        &self,
        records: Vec<T>,
        key: impl Fn(&T) -> (Option<&RunId>, &AccountId, DateTime<Utc>),
    ) -> Counted<T> {
        let mut out = Counted { counted: Vec::new(), backtest: 0, superseded: 0 };
        for r in records {
            let (run, account, time) = key(&r);
            match self.judge(run, account, time) {
                Some(Ok(())) => out.counted.push(r),
                Some(Err(true)) => out.backtest += 1,
                Some(Err(false)) => out.superseded += 1,
                None => {}
            }
        }
        out
    }
}

impl Journal {
    /// The day trades that count for `account` (all accounts when `None`) with a trade date in
    /// `dates`, as seen from `as_of` (see the module docs), oldest trade date first.
    ///
    /// The risk gate's restart rebuild and `runner journal day-trades` both use this.
    pub fn counted_day_trades(
        &self,
        account: Option<&AccountId>,
        dates: RangeInclusive<NaiveDate>,
        as_of: AsOf<'_>,
    ) -> Result<Counted<DayTradeRecord>, JournalError> {
        let view = View::new(self.runs()?, as_of);
        let mut records = match account {
            Some(a) => self.day_trades_since(a, *dates.start())?,
            None => self.all_day_trades_since(*dates.start())?,
        };
        records.retain(|d| dates.contains(&d.trade_date));
        Ok(view.split(records, |d| (d.run.as_ref(), &d.account, d.time)))
    }

    /// The open positions of `agent` on `account` that count as seen from `as_of`: per
    /// instrument the newest counted snapshot, kept when it is not flat.
    pub fn counted_open_positions(
        &self,
        agent: &AgentId,
        account: &AccountId,
        as_of: AsOf<'_>,
    ) -> Result<Counted<PositionRecord>, JournalError> {
        let view = View::new(self.runs()?, as_of);
        let all = self.positions_of(agent, account)?;
        let mut split = view.split(all, |p| (p.run.as_ref(), &p.account, p.time));
        // Newest counted snapshot per instrument (records are in journal order).
        let mut latest: HashMap<String, PositionRecord> = HashMap::new();
        for p in split.counted {
            latest.insert(p.instrument.to_string(), p);
        }
        let mut open: Vec<PositionRecord> = latest.into_values().filter(|p| !p.qty.is_zero()).collect();
        open.sort_by(|a, b| a.instrument.cmp(&b.instrument));
        split.counted = open;
        Ok(split)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::journal::NewRun;
    use crate::model::InstrumentId;

    /// 2013-10-`d` `h`:`m` New York (EDT, UTC−4).
    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2013, 10, d, h + 4, m, 0).single().expect("valid time")
    }

    fn begin(j: &mut Journal, mode: RunMode, first: Option<DateTime<Utc>>) -> RunId {
        let mut metadata: std::collections::BTreeMap<String, String> =
            [("account".to_owned(), "acct".to_owned())].into();
        if let Some(f) = first {
            metadata.insert(FIRST_EVENT_KEY.to_owned(), ts::format(&f));
        }
        j.begin_run(&NewRun {
            agent: AgentId::from("a"),
            recipe: "r.yaml".into(),
            mode,
            started_at: Utc::now(),
            metadata,
        })
        .expect("begin")
    }

    fn day_trade(j: &mut Journal, run: &RunId, time: DateTime<Utc>) {
        j.record_day_trade(&DayTradeRecord {
            run: Some(run.clone()),
            account: AccountId::from("acct"),
            agent: AgentId::from("a"),
            instrument: InstrumentId::from("SPY"),
            trade_date: time.with_timezone(&crate::model::NEW_YORK).date_naive(),
            qty: dec!(100),
            time,
        })
        .expect("day trade");
    }

    fn position(j: &mut Journal, run: &RunId, qty: Decimal, time: DateTime<Utc>) {
        j.record_position(&PositionRecord {
            run: Some(run.clone()),
            agent: AgentId::from("a"),
            account: AccountId::from("acct"),
            instrument: InstrumentId::from("SPY"),
            qty,
            avg_price: dec!(100),
            time,
        })
        .expect("position");
    }

    #[test]
    fn a_run_inherits_only_what_happened_before_its_first_event() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut j = Journal::open(dir.path().join("j.db")).expect("open");
        let acct = AccountId::from("acct");
        let all = NaiveDate::MIN..=NaiveDate::MAX;
        // Run 1 replays 10-07 and 10-08 from the open: a day trade each day, then a position
        // left open on 10-08 at 14:00 (it crashed).
        let r1 = begin(&mut j, RunMode::Paper, Some(at(7, 9, 30)));
        day_trade(&mut j, &r1, at(7, 10, 0));
        day_trade(&mut j, &r1, at(8, 10, 0));
        position(&mut j, &r1, dec!(100), at(8, 14, 0));
        // A backtest over the same dates never counts and supersedes nothing.
        let bt = begin(&mut j, RunMode::Backtest, Some(at(7, 9, 30)));
        day_trade(&mut j, &bt, at(7, 11, 0));
        // Run 2 restarts in the middle of 10-08 (12:00): it keeps the morning's day trade of
        // that same day and the 10-07 one, and the position opened after noon is its own future.
        let r2 = begin(&mut j, RunMode::Paper, Some(at(8, 12, 0)));
        let seen = j.counted_day_trades(Some(&acct), all.clone(), AsOf::Run(&r2)).expect("count");
        assert_eq!(seen.counted.len(), 2);
        assert_eq!((seen.backtest, seen.superseded), (1, 0));
        let open = j.counted_open_positions(&AgentId::from("a"), &acct, AsOf::Run(&r2)).expect("pos");
        assert!(open.counted.is_empty(), "opened at 14:00, after run 2's first event: {open:?}");
        // Run 3 replays both days again from 10-07's open: it inherits nothing of them.
        day_trade(&mut j, &r2, at(8, 15, 0));
        let r3 = begin(&mut j, RunMode::Paper, Some(at(7, 9, 30)));
        let seen = j.counted_day_trades(Some(&acct), all.clone(), AsOf::Run(&r3)).expect("count");
        assert!(seen.counted.is_empty(), "{seen:?}");
        assert_eq!(seen.superseded, 3);
        day_trade(&mut j, &r3, at(7, 10, 0));
        // Afterwards (the day-trades command) only run 3's own trade is history.
        let now = j.counted_day_trades(Some(&acct), all, AsOf::Latest).expect("count");
        assert_eq!(now.counted.len(), 1);
        assert_eq!(now.counted[0].run.as_ref(), Some(&r3));
        let r4 = begin(&mut j, RunMode::Paper, Some(at(9, 9, 30)));
        let open = j.counted_open_positions(&AgentId::from("a"), &acct, AsOf::Run(&r4)).expect("pos");
        assert!(open.counted.is_empty(), "run 1's position was superseded by runs 2 and 3: {open:?}");
        // Without `first_event` (an older journal) nothing is superseded.
        let old = begin(&mut j, RunMode::Paper, None);
        position(&mut j, &old, dec!(-50), at(9, 10, 0));
        let r5 = begin(&mut j, RunMode::Paper, Some(at(10, 9, 30)));
        let open = j.counted_open_positions(&AgentId::from("a"), &acct, AsOf::Run(&r5)).expect("pos");
        assert_eq!(open.counted.len(), 1);
        assert_eq!(open.counted[0].qty, dec!(-50));
    }
}
