//! Loss guards: the daily loss limit and the max drawdown, watched on every price update.
//!
//! What belongs here: [`LossGuard`], a few comparisons per price that say when the agent must
//! halt. The agent acts on a [`Breach`]: cancel working orders, flatten, set the gate's
//! [`TradingState::Halted`](crate::risk::gate::TradingState). A daily-loss halt lasts for the
//! rest of the trading day (the next trading day starts Active again, with the day's starting
//! equity re-based); a drawdown halt lasts until the agent is restarted.

use std::fmt;

use rust_decimal::Decimal;

use crate::model::Money;

/// Which guard tripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Breach {
    /// Equity fell `daily_loss_limit` below the day's starting equity.
    DailyLoss,
    /// Equity fell `max_drawdown` below its peak since the start of the run.
    MaxDrawdown,
}

impl Breach {
    /// A stable code for logs and reports.
    pub fn code(self) -> &'static str {
        match self {
            Self::DailyLoss => "daily-loss-limit",
            Self::MaxDrawdown => "max-drawdown",
        }
    }
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Daily loss limit and max drawdown of one agent.
#[derive(Debug, Clone)]
pub struct LossGuard {
    daily_loss_limit: Option<Money>,
    max_drawdown: Option<Decimal>,
    day: i64,
    day_start: Money,
    peak: Money,
    tripped_today: bool,
    drawdown_tripped: bool,
}

impl LossGuard {
    /// A guard starting at `equity`; `max_drawdown` is a fraction (`0.1` = 10 %).
    pub fn new(daily_loss_limit: Option<Money>, max_drawdown: Option<Decimal>, equity: Money) -> Self {
        Self {
            daily_loss_limit,
            max_drawdown,
            day: i64::MIN,
            day_start: equity,
            peak: equity,
            tripped_today: false,
            drawdown_tripped: false,
        }
    }

    /// Whether any guard is configured (an agent without one skips the per-price work).
    pub fn enabled(&self) -> bool {
        self.daily_loss_limit.is_some() || self.max_drawdown.is_some()
    }

    /// A new trading day `day` begins (re-bases the daily loss on `equity`); returns whether a
    /// daily-loss halt of the previous day is over.
    pub fn new_day(&mut self, day: i64, equity: Money) -> bool {
        if day == self.day {
            return false;
        }
        self.day = day;
        self.day_start = equity;
        std::mem::take(&mut self.tripped_today)
    }

    /// The day's starting equity.
    pub fn day_start(&self) -> Money {
        self.day_start
    }

    /// The peak equity so far.
    pub fn peak(&self) -> Money {
        self.peak
    }

    /// Equity at a new price: the guard it trips, once (a tripped guard does not fire again the
    /// same day, or for the drawdown, ever).
    #[inline]
    pub fn on_equity(&mut self, equity: Money) -> Option<Breach> {
        if equity > self.peak {
            self.peak = equity;
        }
        if !self.drawdown_tripped
            && let Some(f) = self.max_drawdown
            && equity <= self.peak * (Decimal::ONE - f)
        {
            self.drawdown_tripped = true;
            return Some(Breach::MaxDrawdown);
        }
        if !self.tripped_today
            && let Some(limit) = self.daily_loss_limit
            && self.day_start - equity >= limit
        {
            self.tripped_today = true;
            return Some(Breach::DailyLoss);
        }
        None
    }

    /// Whether the drawdown guard has tripped (halted until restart).
    pub fn drawdown_tripped(&self) -> bool {
        self.drawdown_tripped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn daily_loss_trips_once_a_day_and_rebases() {
        let mut g = LossGuard::new(Some(dec!(500)), None, dec!(10000));
        assert!(!g.new_day(1, dec!(10000)));
        assert_eq!(g.on_equity(dec!(9501)), None);
        assert_eq!(g.on_equity(dec!(9500)), Some(Breach::DailyLoss));
        assert_eq!(g.on_equity(dec!(9000)), None, "once a day");
        assert!(g.new_day(2, dec!(9000)), "the next day ends the halt");
        assert_eq!(g.on_equity(dec!(8600)), None, "re-based on 9000");
        assert_eq!(g.on_equity(dec!(8500)), Some(Breach::DailyLoss));
    }

    #[test]
    fn drawdown_from_peak_trips_for_good() {
        let mut g = LossGuard::new(None, Some(dec!(0.1)), dec!(10000));
        g.new_day(1, dec!(10000));
        assert_eq!(g.on_equity(dec!(12000)), None);
        assert_eq!(g.on_equity(dec!(10801)), None);
        assert_eq!(g.on_equity(dec!(10800)), Some(Breach::MaxDrawdown));
        g.new_day(2, dec!(10800));
        assert_eq!(g.on_equity(dec!(5000)), None);
        assert!(g.drawdown_tripped());
    }
}
