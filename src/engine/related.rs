//! The other symbol a strategy reads but does not trade (correlation's `correlated`): its own
//! candles. Where its data comes from (`provider.symbols` of a replay recipe) is
//! `runtime::build::related_data`.
//!
//! Its events arrive in the agent's one input stream, merged with the traded symbol's by
//! timestamp ([`crate::market::replay::Replay::open_many`]; on equal timestamps the related
//! symbol's events come first, so a traded-symbol trade is judged with everything known at
//! its instant — with bar files, each bar against the other symbol's bar of the same interval).
//! [`RelatedFeed`] builds its candles with the same [`CandleBuilder`] as the traded symbol's, on the same
//! timeframe, session and candle style as the traded symbol's, and hands completed candles
//! and every trade to the strategy. Nothing of it reaches the broker.
//!
//! A candle completes at the first event of *either* symbol at or past its end: the merged
//! stream is in time order, so nothing older can still arrive, and the strategy sees both
//! symbols' candles of a bucket before the traded symbol's next trade.

use super::agent::{AgentConfig, AgentEvent};
use super::candles::CandleStyle;
use crate::market::candles::CandleBuilder;
use crate::market::event::{Candle, Trade};
use crate::model::{Price, SymbolId, Timestamp};
use crate::strategy::Strategy;

/// The symbol id of the related symbol's events (0 is the traded symbol, 1 an option leg).
pub const RELATED_SYMBOL: SymbolId = SymbolId(2);

/// Candles and trades of the related symbol, for the strategy.
#[derive(Debug, Clone)]
pub struct RelatedFeed {
    symbol: SymbolId,
    candles: CandleBuilder,
    style: CandleStyle,
}

impl RelatedFeed {
    /// A feed for `symbol` on the agent's timeframe, session and candle style.
    pub fn new(symbol: SymbolId, cfg: &AgentConfig) -> Self {
        Self {
            symbol,
            candles: CandleBuilder::new(symbol, cfg.timeframe_nanos, cfg.hours),
            style: cfg.candle_style.clone(),
        }
    }

    /// The symbol id its events carry.
    #[inline]
    pub fn symbol(&self) -> SymbolId {
        self.symbol
    }

    /// Time has reached `ts` (an event of either symbol): complete the forming candle if due.
    #[inline]
    pub fn roll<S: Strategy>(&mut self, ts: Timestamp, strategy: &mut S, out: &mut Vec<AgentEvent>) {
        if let Some(c) = self.candles.on_time(ts) {
            self.completed(&c, strategy, out);
        }
    }

    /// A price of the related symbol (`ohlcv`: a trade's price five times with its size, or a
    /// bar's OHLC and volume, `t` the print at its close): candles
    /// from in-session prices, then the trade to the strategy (every trade, in session or not:
    /// the strategy compares with the latest price).
    pub fn on_price<S: Strategy>(
        &mut self,
        ohlcv: [Price; 5],
        t: &Trade,
        strategy: &mut S,
        out: &mut Vec<AgentEvent>,
    ) {
        let [open, high, low, close, volume] = ohlcv;
        let (_, completed) = self.candles.on_price(t.ts, open, high, low, close, volume);
        if completed && let Some(c) = self.candles.take_completed() {
            self.completed(&c, strategy, out);
        }
        strategy.on_related_trade(t);
    }

    fn completed<S: Strategy>(&mut self, c: &Candle, strategy: &mut S, out: &mut Vec<AgentEvent>) {
        if let Err(message) = self.style.apply(c, |x| strategy.on_related_candle(x)) {
            out.push(AgentEvent::Warning { ts: c.end, message: format!("correlated symbol: {message}") });
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use std::path::Path;

    use super::*;
    use crate::engine::agent::{Agent, Event, Outbox};
    use crate::market::event::{Bar, MarketEvent};
    use crate::recipe::Recipe;
    use crate::runtime::build;
    use crate::strategy::AnyStrategy;

    fn recipe() -> Recipe {
        let yaml = "version: 1\nagent: related\n\
             provider: {kind: replay, path: spy.csv, symbols: {QQQ: qqq.csv}}\n\
             broker: {kind: paper, account: p, starting_equity: 10000}\n\
             instrument: {underlying: SPY, kind: equity}\n\
             algorithm: {kind: correlation, timeframe: 1m, primary: SPY, correlated: QQQ, \
             swing_lookback: 10, fractal_lookback: 2}\n\
             session: {calendar: nyse, hours: regular}\n";
        crate::recipe::from_yaml_str(yaml).expect("test recipe loads")
    }

    fn at(hms: &str) -> Timestamp {
        let s = format!("2013-10-07T{hms}-04:00");
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(&s).expect("test time"))
    }

    fn bar(hms: &str, h: Decimal, l: Decimal, c: Decimal) -> Event {
        let b = Bar {
            symbol: RELATED_SYMBOL,
            ts: at(hms),
            duration_nanos: 60 * Timestamp::NANOS_PER_SEC,
            open: c,
            high: h,
            low: l,
            close: c,
            volume: dec!(10),
        };
        Event::Market(MarketEvent::Bar(b))
    }

    fn levels(a: &Agent) -> ((Option<Decimal>, Option<Decimal>), Option<Decimal>) {
        match a.strategy() {
            AnyStrategy::Correlation(s) => (s.correlated_levels(), s.correlated_price()),
            _ => unreachable!("the recipe asks for correlation"),
        }
    }

    #[test]
    fn correlated_bars_make_candles_in_session_and_the_latest_price_any_time() {
        let r = recipe();
        let base = Path::new("/recipes");
        assert_eq!(build::related_data(&r, base).unwrap(), Some(("QQQ".to_owned(), base.join("qqq.csv"))));
        let cfg = AgentConfig::from_recipe(&r).expect("config");
        let strat = build::strategy(&r, SymbolId(0), None).expect("strategy");
        let feed = RelatedFeed::new(RELATED_SYMBOL, &cfg);
        let mut agent = Agent::new(cfg, SymbolId(0), strat).with_related(feed);
        let mut sink = Outbox::new();
        // A pre-market bar far below everything: the latest price, but in no candle.
        agent.handle(bar("09:00:00", dec!(1), dec!(1), dec!(1)), &mut sink);
        assert_eq!(levels(&agent), ((None, None), Some(dec!(1))));
        // Five in-session bars: a swing low at 79.50 in the middle (its high is no fractal).
        let bars = [
            ("09:30:00", dec!(80.40), dec!(80.00)),
            ("09:31:00", dec!(80.30), dec!(79.80)),
            ("09:32:00", dec!(80.10), dec!(79.50)),
            ("09:33:00", dec!(80.20), dec!(79.70)),
            ("09:34:00", dec!(80.30), dec!(79.90)),
        ];
        for (t, h, l) in bars {
            agent.handle(bar(t, h, l, (h + l) / Decimal::TWO), &mut sink);
        }
        // The fifth candle is still forming: no swing yet.
        assert_eq!(levels(&agent).0, (None, None));
        // The next bar completes it (its own price is already the latest).
        agent.handle(bar("09:35:00", dec!(79.80), dec!(79.30), dec!(79.40)), &mut sink);
        assert_eq!(levels(&agent), ((None, Some(dec!(79.50))), Some(dec!(79.40))));
    }
}
