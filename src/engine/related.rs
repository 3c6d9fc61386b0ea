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
