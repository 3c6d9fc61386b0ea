//! Loss guards: the daily loss limit, the max drawdown and the end of equity, watched on every
//! price update.
//!
//! What belongs here: [`LossGuard`], a few comparisons per price that say when the agent must
//! halt. The agent acts on a [`Breach`]: cancel working orders, flatten, set the gate's
//! [`TradingState::Halted`](crate::risk::gate::TradingState). Equity at or below zero is always
//! watched, whatever the recipe sets, and its halt lasts for the rest of the run: an account
//! with nothing left must not trade on. The other two halts last for the rest of the trading
//! day. The next trading day re-bases the daily loss on the day's starting equity;
//! after a drawdown halt it also re-bases the peak on it — the halted agent is flat, so its
//! equity cannot climb back to the old peak, and measuring from that peak would halt it again
//! at the first price of every later day (docs/risk-and-compliance.md, "Max drawdown").

use std::fmt;

use rust_decimal::Decimal;

use crate::model::{Money, Price, Qty, fastdec};

/// Which guard tripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Breach {
    /// Equity fell `daily_loss_limit` below the day's starting equity.
    DailyLoss,
    /// Equity fell `max_drawdown` below its peak (since the start of the run, or since the
    /// day after the last drawdown halt).
    MaxDrawdown,
    /// Equity is at or below zero: the account has nothing left (for the rest of the run).
    EquityExhausted,
}

impl Breach {
    /// A stable code for logs and reports.
    pub fn code(self) -> &'static str {
        match self {
            Self::DailyLoss => "daily-loss-limit",
            Self::MaxDrawdown => "max-drawdown",
            Self::EquityExhausted => "equity-exhausted",
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
    /// Equity reached zero: nothing trips any more (the agent is halted for good).
    exhausted: bool,
    band: Option<Band>,
}

/// The prices of the traded instrument strictly between which, for a given cash balance and
/// position, equity can neither trip a guard nor make a new peak — so the per-price check is
/// two comparisons instead of an equity computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Band {
    cash: Money,
    qty: Qty,
    lo: Price,
    hi: Price,
    /// `lo` is `Decimal::MIN`: no lower bound (saves a cross-scale comparison per price).
    lo_open: bool,
    /// `hi` is `Decimal::MAX`: no upper bound.
    hi_open: bool,
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
            exhausted: false,
            band: None,
        }
    }

    /// The trading day the guard last saw (`i64::MIN` before the first).
    pub fn day(&self) -> i64 {
        self.day
    }

    /// Whether, with this cash and position, a price of `mark` provably changes nothing: no
    /// guard can trip and no new peak is made. Callers then skip computing equity.
    #[inline]
    pub fn quiet_at(&self, mark: Price, cash: Money, qty: Qty) -> bool {
        matches!(self.band, Some(b) if b.cash == cash && b.qty == qty
            && (b.lo_open || fastdec::lt(b.lo, mark)) && (b.hi_open || fastdec::lt(mark, b.hi)))
    }

    /// After a full check at equity `cash + qty × multiplier × price`, remember the band of
    /// prices inside which the next checks can be skipped (see [`Self::quiet_at`]).
    /// `scale` is the number of decimals prices are quoted with: bounds are rounded inwards to
    /// it (the band only ever shrinks, so rounding never hides a trip) and the per-price
    /// comparisons then need no rescaling.
    pub fn set_band(&mut self, cash: Money, qty: Qty, multiplier: Decimal, scale: u32) {
        let qm = qty * multiplier;
        let floor = [
            (!self.exhausted).then_some(Decimal::ZERO),
            (!self.drawdown_tripped)
                .then_some(())
                .and(self.max_drawdown)
                .map(|f| self.peak * (Decimal::ONE - f)),
            (!self.tripped_today).then_some(()).and(self.daily_loss_limit).map(|l| self.day_start - l),
        ]
        .into_iter()
        .flatten()
        .max();
        // A new peak only matters while the drawdown guard can still trip.
        let peak = (self.max_drawdown.is_some() && !self.drawdown_tripped).then_some(self.peak);
        let (lo, hi) = if qm.is_zero() {
            (Decimal::MIN, Decimal::MAX)
        } else {
            // Equity is linear in the price: the price at which it reaches `level`.
            let at = |level: Money| (level - cash).checked_div(qm);
            let trip = floor.map(at);
            let top = peak.map(at);
            if trip.is_some_and(|t| t.is_none()) || top.is_some_and(|t| t.is_none()) {
                self.band = None;
                return;
            }
            let (trip, top) = (trip.flatten(), top.flatten());
            if qm > Decimal::ZERO {
                // Long: trips at or below `trip`, new peak above `top`.
                (trip.unwrap_or(Decimal::MIN), top.unwrap_or(Decimal::MAX))
            } else {
                // Short: trips at or above `trip`, new peak below `top`.
                (top.unwrap_or(Decimal::MIN), trip.unwrap_or(Decimal::MAX))
            }
        };
        use rust_decimal::RoundingStrategy::{ToNegativeInfinity, ToPositiveInfinity};
        let lo = if lo == Decimal::MIN { lo } else { lo.round_dp_with_strategy(scale, ToPositiveInfinity) };
        let hi = if hi == Decimal::MAX { hi } else { hi.round_dp_with_strategy(scale, ToNegativeInfinity) };
        self.band =
            Some(Band { cash, qty, lo, hi, lo_open: lo == Decimal::MIN, hi_open: hi == Decimal::MAX });
    }

    /// New limits (an operator's parameter change); the day's start, peak and trips stay.
    /// The price band is dropped so the next price checks the new limits.
    pub fn set_limits(&mut self, daily_loss_limit: Option<Money>, max_drawdown: Option<Decimal>) {
        self.daily_loss_limit = daily_loss_limit;
        self.max_drawdown = max_drawdown;
        self.band = None;
    }

    /// Whether equity has reached zero (the agent is halted for the rest of the run).
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// A new trading day `day` begins: re-bases the daily loss on `equity`, and after a
    /// drawdown halt the peak too; returns whether a halt of the previous day is over.
    pub fn new_day(&mut self, day: i64, equity: Money) -> bool {
        if day == self.day {
            return false;
        }
        self.day = day;
        self.day_start = equity;
        self.band = None;
        let drawdown = std::mem::take(&mut self.drawdown_tripped);
        if drawdown {
            self.peak = equity;
        }
        std::mem::take(&mut self.tripped_today) || drawdown
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
    /// same day).
    #[inline]
    pub fn on_equity(&mut self, equity: Money) -> Option<Breach> {
        if self.exhausted {
            return None;
        }
        if equity <= Decimal::ZERO {
            self.exhausted = true;
            return Some(Breach::EquityExhausted);
        }
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

    /// Whether the drawdown guard has tripped today (halted for the rest of the day).
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
    fn drawdown_trips_for_the_day_and_the_next_day_rebases_the_peak() {
        let mut g = LossGuard::new(None, Some(dec!(0.1)), dec!(10000));
        g.new_day(1, dec!(10000));
        assert_eq!(g.on_equity(dec!(12000)), None);
        assert_eq!(g.on_equity(dec!(10801)), None);
        assert_eq!(g.on_equity(dec!(10800)), Some(Breach::MaxDrawdown));
        assert_eq!(g.on_equity(dec!(9000)), None, "once a day");
        assert!(g.drawdown_tripped());
        // Day 2 starts at 10800, below the old peak's floor: re-based, so no instant halt.
        assert!(g.new_day(2, dec!(10800)), "the next day ends the halt");
        assert!(!g.drawdown_tripped());
        assert_eq!(g.peak(), dec!(10800));
        assert_eq!(g.on_equity(dec!(9721)), None);
        assert_eq!(g.on_equity(dec!(9720)), Some(Breach::MaxDrawdown), "10 % below 10800");
        // Without a trip the peak carries over: it is a high-water mark, not a daily one.
        assert!(g.new_day(3, dec!(9720)));
        assert_eq!(g.on_equity(dec!(11000)), None);
        assert!(!g.new_day(4, dec!(10000)), "no halt to end");
        assert_eq!(g.peak(), dec!(11000));
        assert_eq!(g.on_equity(dec!(9900)), Some(Breach::MaxDrawdown), "10 % below 11000 set on day 3");
    }

    #[test]
    fn equity_at_zero_trips_once_for_the_run() {
        let mut g = LossGuard::new(None, None, dec!(5000));
        g.new_day(1, dec!(5000));
        // Short 8 at 600 (cash 9800): equity reaches 0 at a price of 1225.
        g.set_band(dec!(9800), dec!(-8), Decimal::ONE, 2);
        assert!(g.quiet_at(dec!(1224.99), dec!(9800), dec!(-8)));
        assert!(!g.quiet_at(dec!(1225), dec!(9800), dec!(-8)));
        assert_eq!(g.on_equity(dec!(0.01)), None);
        assert_eq!(g.on_equity(dec!(-27000)), Some(Breach::EquityExhausted));
        assert!(g.exhausted());
        assert!(!g.new_day(2, dec!(-27000)), "no day ends it");
        assert_eq!(g.on_equity(dec!(-30000)), None, "once");
        assert!(g.exhausted());
    }

    #[test]
    fn band_skips_only_prices_that_cannot_matter() {
        // Long 100 shares, cash 0 (bought at 100): equity = 100 × price.
        let mut g = LossGuard::new(Some(dec!(500)), Some(dec!(0.10)), dec!(10000));
        g.new_day(1, dec!(10000));
        g.set_band(dec!(0), dec!(100), Decimal::ONE, 2);
        // Daily floor 9500 → price 95; drawdown floor 9000 → 90; peak 10000 → price 100.
        assert!(g.quiet_at(dec!(99.99), dec!(0), dec!(100)));
        assert!(g.quiet_at(dec!(95.01), dec!(0), dec!(100)));
        assert!(!g.quiet_at(dec!(95), dec!(0), dec!(100)), "at the trip price: check");
        assert!(!g.quiet_at(dec!(100), dec!(0), dec!(100)), "at the peak: check");
        assert!(!g.quiet_at(dec!(99), dec!(1), dec!(100)), "cash changed: check");
        assert!(!g.quiet_at(dec!(99), dec!(0), dec!(50)), "position changed: check");
        assert_eq!(g.on_equity(dec!(9500)), Some(Breach::DailyLoss));
        // Short 100 at 100 (cash 20000): equity = 20000 − 100 × price.
        let mut g = LossGuard::new(Some(dec!(500)), None, dec!(10000));
        g.new_day(1, dec!(10000));
        g.set_band(dec!(20000), dec!(-100), Decimal::ONE, 2);
        assert!(g.quiet_at(dec!(104.99), dec!(20000), dec!(-100)));
        assert!(!g.quiet_at(dec!(105), dec!(20000), dec!(-100)), "short trips on the way up");
        assert!(g.quiet_at(dec!(1), dec!(20000), dec!(-100)), "no drawdown guard: no peak bound");
        // A new day forgets the band.
        g.new_day(2, dec!(10000));
        assert!(!g.quiet_at(dec!(100), dec!(20000), dec!(-100)));
    }
}
