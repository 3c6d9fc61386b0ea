//! Gaps in the market data: whole trading sessions without a single price of the traded
//! instrument (a feed that was down, or a data set with missing days).
//!
//! What belongs here: noticing such a gap when the first price after it arrives, and reporting
//! it — an [`AgentEvent::Warning`] naming the sessions missed, and a count in the run's summary.
//! A session's normal break (the night, a weekend, a holiday) is not a gap: only days on which
//! the session's calendar had a session and no price came count. A position held through a gap
//! is marked again only at the first price after it, so a result across a gap deserves a look.

use chrono::NaiveDate;

use super::{Agent, AgentEvent, Outbox};
use crate::model::Timestamp;

impl Agent {
    /// Recorded data only (the replay knows its next event): when the next price, at `next`,
    /// comes after whole trading sessions without one, and the recipe says
    /// `flatten_before_gap`, close the position now, at the last price before the gap.
    /// Returns whether it did.
    pub fn flatten_before_gap(&mut self, next: Timestamp, out: &mut Outbox) -> bool {
        if !self.cfg.flatten_before_gap
            || self.stopped()
            || self.now.0 == 0
            || self.book.projected_qty(self.traded).is_zero()
        {
            return false;
        }
        let today = self.clock.day(self.now).index;
        let mut d = self.clock.day(next);
        if d.index <= today + 1 {
            return false;
        }
        let mut missed = false;
        loop {
            d = self.clock.day(Timestamp(d.midnight - 1));
            if d.index <= today {
                break;
            }
            missed |= d.open < d.close;
        }
        if !missed {
            return false;
        }
        let (phase, _) = self.clock.phase(self.now);
        out.events.push(AgentEvent::Info {
            ts: self.now,
            message: format!(
                "the data stops here until {}: closing the position before the gap (flatten_before_gap)",
                crate::report::iso(next)
            ),
        });
        self.close_position(crate::model::order::ExitReason::DataGap, phase, out);
        true
    }

    /// The first price of trading day `day` (days since 1970-01-01 in the session's zone) at
    /// `ts`: reports the sessions missed since the day of the previous price, if any.
    #[cold]
    #[inline(never)]
    pub(super) fn on_price_day(&mut self, day: i64, ts: Timestamp, out: &mut Outbox) {
        let previous = std::mem::replace(&mut self.price_day, day);
        if previous == 0 || day <= previous + 1 {
            return;
        }
        // Walk back over the days in between on the session clock, midnight to midnight.
        let (mut missed, mut first, mut last) = (0_usize, 0_i64, 0_i64);
        let mut d = self.clock.day(ts);
        loop {
            d = self.clock.day(Timestamp(d.midnight - 1));
            if d.index <= previous {
                break;
            }
            if d.open < d.close {
                missed += 1;
                first = d.index;
                if last == 0 {
                    last = d.index;
                }
            }
        }
        if missed == 0 {
            return;
        }
        let date = |i: i64| {
            i32::try_from(i + 719_163)
                .ok()
                .and_then(NaiveDate::from_num_days_from_ce_opt)
                .map_or_else(String::new, |d| d.to_string())
        };
        let span = if missed == 1 { date(first) } else { format!("{} – {}", date(first), date(last)) };
        let message = format!(
            "gap in the data: no price in {missed} trading session{} ({span}); a position held \
             through it is marked again only now",
            if missed == 1 { "" } else { "s" }
        );
        self.recorder.on_gap();
        out.events.push(AgentEvent::Warning { ts, message });
    }
}
