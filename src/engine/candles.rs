//! Candle styles: what a strategy is shown of the time candles.
//!
//! The time candles themselves come from [`crate::market::candles::CandleBuilder`], the one
//! aggregation the agent loop and `runner candles` share. [`CandleStyle`] is the recipe's
//! `algorithm.candles` (and `runner candles --transform`): completed time candles pass through
//! Heikin-Ashi or Renko ([`crate::market::transform`]) before any strategy sees them. The
//! transform runs once per completed candle, never per trade, so it costs the trade path nothing.

use crate::market::event::Candle;
use crate::market::transform::{HeikinAshi, Renko};

/// How completed time candles are shown to the strategy (the recipe's `algorithm.candles`).
#[derive(Debug, Clone)]
pub enum CandleStyle {
    /// Plain OHLC candles, unchanged.
    Standard,
    /// Heikin-Ashi smoothed candles, one per time candle.
    HeikinAshi(HeikinAshi),
    /// Renko bricks made from the time candles' closes: none, one or several per candle.
    Renko(Renko),
}

impl CandleStyle {
    /// Pass one completed time candle through the style; `f` sees every candle the strategy
    /// should see, in order.
    ///
    /// # Errors
    /// Renko: the candle would make more bricks than [`Renko::MAX_BRICKS_PER_CANDLE`] (the
    /// brick size is far too small for the prices); nothing is passed on for that candle.
    #[inline]
    pub fn apply<F: FnMut(&Candle)>(&mut self, c: &Candle, mut f: F) -> Result<(), String> {
        match self {
            Self::Standard => f(c),
            Self::HeikinAshi(ha) => f(&ha.update(c)),
            Self::Renko(r) => {
                for b in r.update(c)? {
                    f(&b);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use crate::engine::agent::{Agent, AgentConfig, Event, Outbox};
    use crate::market::event::{MarketEvent, Trade};
    use crate::model::{SymbolId, Timestamp};
    use crate::strategy::AnyStrategy;

    fn recipe(candles: &str) -> crate::recipe::Recipe {
        let yaml = format!(
            "version: 1\nagent: styles\nprovider: {{kind: replay, path: x.csv}}\n\
             broker: {{kind: paper, account: p, starting_equity: 10000}}\n\
             instrument: {{underlying: SPY, kind: equity}}\n\
             algorithm: {{kind: ma-cross-breakout, timeframe: 1m, ma_period: 2, breakout_lookback: 2, {candles}}}\n\
             orders: {{type: market}}\nrisk: {{allocation: 10000, entry_size: 1, max_shares: 1}}\n\
             session: {{calendar: nyse, hours: regular}}\n"
        );
        crate::recipe::from_yaml_str(&yaml).expect("test recipe loads")
    }

    fn at(hms: &str) -> Timestamp {
        let s = format!("2013-10-07T{hms}-04:00");
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(&s).expect("test time"))
    }

    /// Replays `(time, price)` prints and returns the strategy's SMA after each one.
    fn smas(candles: &str, tape: &[(&str, Decimal)]) -> Vec<Option<Decimal>> {
        let r = recipe(candles);
        let cfg = AgentConfig::from_recipe(&r).expect("config");
        let strat = crate::runtime::build::strategy(&r, SymbolId(0), None).expect("strategy");
        let mut agent = Agent::new(cfg, SymbolId(0), strat);
        let mut sink = Outbox::new();
        tape.iter()
            .map(|(t, p)| {
                let tr = Trade { symbol: SymbolId(0), ts: at(t), price: *p, size: dec!(1) };
                agent.handle(Event::Market(MarketEvent::Trade(tr)), &mut sink);
                match agent.strategy() {
                    AnyStrategy::MaCrossBreakout(m) => m.sma(),
                    _ => unreachable!("the recipe asks for ma-cross-breakout"),
                }
            })
            .collect()
    }

    #[test]
    fn heikin_ashi_candles_reach_the_moving_average() {
        // 10:00 O10 H12 L9 C11, 10:01 O11 H11 L8 C8, 10:02 a flat 10, then one print to close it.
        let tape = [
            ("10:00:00", dec!(10)),
            ("10:00:10", dec!(12)),
            ("10:00:20", dec!(9)),
            ("10:00:30", dec!(11)),
            ("10:01:00", dec!(11)),
            ("10:01:30", dec!(8)),
            ("10:02:00", dec!(10)),
            ("10:03:00", dec!(10)),
        ];
        let std = smas("candles: standard", &tape);
        let ha = smas("candles: heikin-ashi", &tape);
        // Standard closes 11, 8, 10: SMA(2) = 9.5 after the second candle, 9 after the third.
        assert_eq!(std[6], Some(dec!(9.5)));
        assert_eq!(std[7], Some(dec!(9)));
        // By hand, Heikin-Ashi: close = (O+H+L+C)/4, open = (prev open + prev close)/2.
        // 1: open (10+11)/2 = 10.5, close 42/4 = 10.5. 2: open 10.5, close 38/4 = 9.5.
        // 3: open (10.5+9.5)/2 = 10, close 10. SMA(2): (10.5+9.5)/2 = 10, then (9.5+10)/2 = 9.75.
        assert_eq!(ha[6], Some(dec!(10)));
        assert_eq!(ha[7], Some(dec!(9.75)));
        assert_eq!(std[..6], ha[..6], "nothing differs before the second candle completes");
    }

    #[test]
    fn renko_bricks_reach_the_moving_average() {
        // One print per minute: candle closes 100, 102.5, 100.5, 99.9 (and a last print to close).
        let tape = [
            ("10:00:00", dec!(100)),
            ("10:01:00", dec!(102.5)),
            ("10:02:00", dec!(100.5)),
            ("10:03:00", dec!(99.9)),
            ("10:04:00", dec!(99.9)),
        ];
        let std = smas("candles: standard", &tape);
        let renko = smas("candles: renko, brick_size: 1", &tape);
        assert_eq!(std[4], Some(dec!(100.2)), "(100.5 + 99.9) / 2");
        // Bricks of 1 from 100: 102.5 makes 100→101 and 101→102; 100.5 is one brick back
        // (no reversal); 99.9 is two back: the brick 101→100. Closes 101, 102, 100.
        assert_eq!(renko[2], Some(dec!(101.5)), "two bricks from one candle");
        assert_eq!(renko[3], Some(dec!(101.5)), "one brick back is no reversal");
        assert_eq!(renko[4], Some(dec!(101)), "(102 + 100) / 2");
    }

    #[test]
    fn renko_needs_a_brick_size() {
        let mut r = recipe("candles: renko, brick_size: 1");
        r.algorithm.brick_size = None;
        assert!(AgentConfig::from_recipe(&r).is_err());
    }
}
