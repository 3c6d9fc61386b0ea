//! Refusals of a standing target, said once a day.
//!
//! What belongs here: `target-position` proposes its target again after every candle, and a
//! target the account cannot hold (a short in a cash account, an agent halted for the day) is
//! refused again on every one: dozens of identical denials a day. The first refusal of a
//! trading day for a reason is a denial like any other (journaled, reported); its repeats on
//! that day, while the target stays on the same side, are counted in the run's summary
//! (`repeated_denials`) and logged at `-v`, not journaled. A new trading day, or a target on
//! the other side (a short target turned long or flat), makes the next refusal a first again.
//! Signals of other strategies are separate decisions and are never folded.

use rust_decimal::Decimal;

/// The reasons the current target was refused for today.
#[derive(Debug, Default)]
pub(super) struct RepeatedDenials {
    /// The trading day the reasons are of.
    day: i64,
    /// The side of the target they were refused on: short (`true`) or long or flat.
    short: bool,
    /// Reason codes already denied (and journaled) today for a target on this side.
    seen: Vec<&'static str>,
    /// Whether the orders being sent adjust the position toward a target.
    acting: bool,
}

impl RepeatedDenials {
    /// A target signal (a fraction of the allocation) on trading day `day`: its orders follow.
    pub(super) fn target(&mut self, day: i64, target: Decimal) {
        let short = target < Decimal::ZERO;
        if day != self.day || short != self.short {
            self.seen.clear();
            self.day = day;
            self.short = short;
        }
        self.acting = true;
    }

    /// The target's orders are sent.
    pub(super) fn done(&mut self) {
        self.acting = false;
    }

    /// A denial with this reason code: a repeat of one already said today for the same target
    /// side (`true`), or one to journal (`false`; remembered when it refuses a target).
    pub(super) fn is_repeat(&mut self, code: &'static str) -> bool {
        if !self.acting {
            return false;
        }
        if self.seen.contains(&code) {
            return true;
        }
        self.seen.push(code);
        false
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn a_reason_is_said_once_a_day_while_the_target_stays_on_its_side() {
        let mut r = RepeatedDenials::default();
        // Not acting on a target: never a repeat.
        assert!(!r.is_repeat("halted") && !r.is_repeat("halted"));
        r.target(10, dec!(-0.5));
        assert!(!r.is_repeat("cash-account-short"));
        r.done();
        r.target(10, dec!(-0.7));
        assert!(r.is_repeat("cash-account-short"), "same day, still short");
        assert!(!r.is_repeat("halted"), "another reason is a first");
        r.done();
        assert!(!r.is_repeat("cash-account-short"), "done: not a target's order");
        r.target(10, dec!(0.2));
        r.target(10, dec!(-0.2));
        assert!(!r.is_repeat("cash-account-short"), "the target went long in between");
        r.target(11, dec!(-0.2));
        assert!(!r.is_repeat("cash-account-short"), "a new trading day");
        assert!(r.is_repeat("cash-account-short"));
    }
}
