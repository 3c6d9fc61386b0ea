//! Run building blocks: loading a recipe for the engine, building its agent and simulated
//! venue, opening its replay, and the backtest driver ([`backtest`]: the agent and its venue in
//! lockstep over the replay, journaled; no channels, no sleeping). The `runner up` driver
//! (tokio tasks, pacing, fleet guardrails) is [`super::fleet`].

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::RunError;
use crate::engine::agent::{Agent, AgentEvent, Command, StateChange};
use crate::engine::candles::CandleStyle;
use crate::engine::related::{RELATED_SYMBOL, RelatedFeed};
use crate::market::candles::CandleBuilder;
use crate::market::event::{Candle, MarketEvent, Trade};
use crate::market::replay::{Replay, ReplayOptions};
use crate::market::session::SessionClock;
use crate::model::account::Connectivity;
use crate::model::order::{OrderEvent, OrderKind, Purpose};
use crate::model::{InstrumentId, NEW_YORK, SymbolId, Timestamp};
use crate::recipe::Recipe;
use crate::recipe::model::AlgorithmKind;
use crate::runtime::build;
use crate::runtime::lockstep::Lockstep;
use crate::strategy::{AnyStrategy, Holding, Strategy, TradeContext, external_signal};
use crate::venue::sim::{SimConfig, SimVenue};

/// A recipe loaded and ready to run.
pub struct Prepared {
    /// The recipe.
    pub recipe: Recipe,
    /// Its data path, resolved against the recipe's directory.
    pub data: PathBuf,
    /// The external-signal file, when the algorithm replays recorded signals.
    pub signals: Option<PathBuf>,
    /// The other symbol the algorithm reads (correlation) and its data path, resolved.
    pub related: Option<(String, PathBuf)>,
}

/// Load a recipe file through every check `runner validate` makes, and resolve its data path.
pub fn prepare(recipe_path: &Path) -> anyhow::Result<Prepared> {
    let recipe = crate::recipe::cli::load_for_run(recipe_path)?;
    let base = recipe_path.parent().unwrap_or(Path::new("."));
    // A replay's data path; live providers have none (`super::venues` decides what runs).
    let data = base.join(recipe.provider.path.clone().unwrap_or_default());
    let signals = recipe.signal_file(recipe_path);
    let related = build::related_data(&recipe, base)
        .map_err(|e| RunError::refused(format!("{}: {e}", recipe_path.display())))?;
    Ok(Prepared { recipe, data, signals, related })
}

/// A tag no earlier run of an agent had: the start time in milliseconds (base 36) and two
/// random characters. Client order ids are `{agent}-{tag}-{sequence}`, so a restarted agent
/// never reuses an id its venue already has; the journal refuses a repeat anyway.
pub fn run_tag() -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut n = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
    let mut tag = Vec::with_capacity(11);
    while n > 0 {
        tag.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    tag.reverse();
    for _ in 0..2 {
        tag.push(DIGITS[usize::from(rand::random::<u8>() % 36)]);
    }
    String::from_utf8(tag).unwrap_or_default()
}

/// Build the agent for a prepared recipe; its client order ids carry a fresh [`run_tag`].
pub fn build_agent(p: &Prepared) -> anyhow::Result<Agent> {
    build_agent_with_cash(p, None)
}

/// [`build_agent`] for an account holding `cash` (a live venue's, read at start) instead of the
/// recipe's paper `starting_equity`.
pub fn build_agent_with_cash(p: &Prepared, cash: Option<crate::model::Money>) -> anyhow::Result<Agent> {
    let mut recipe = std::borrow::Cow::Borrowed(&p.recipe);
    if let Some(cash) = cash {
        recipe.to_mut().broker.starting_equity = Some(crate::recipe::types::Money(cash));
    }
    let cfg = build::agent_config(&recipe).map_err(|e| RunError::refused(e.to_string()))?;
    let cold = Warm::cold(p, &cfg)?;
    assemble_agent(p, cfg, cold)
}

/// [`build_agent`] whose strategy, candle style and related feed were warmed up.
pub fn build_agent_warmed(p: &Prepared, warm: Warm) -> anyhow::Result<Agent> {
    let cfg = build::agent_config(&p.recipe).map_err(|e| RunError::refused(e.to_string()))?;
    assemble_agent(p, cfg, warm)
}

/// The agent of a prepared recipe from its settings and its strategy's state.
fn assemble_agent(
    p: &Prepared,
    mut cfg: crate::engine::agent::AgentConfig,
    warm: Warm,
) -> anyhow::Result<Agent> {
    let sym = SymbolId(0);
    cfg.order_prefix = format!("{}-{}", cfg.name, run_tag());
    cfg.candle_style = warm.style;
    let mut agent = Agent::new(cfg, sym, warm.strategy);
    if let Some(feed) = warm.related {
        agent = agent.with_related(feed);
    }
    if p.recipe.instrument.kind == crate::recipe::model::InstrumentKind::Option {
        // Live data: the broker's listed chain (polled by the runtime); recorded data: the
        // synthetic one.
        let leg = if p.recipe.provider.kind == crate::recipe::model::ProviderKind::Replay {
            build::option_leg(&p.recipe, SymbolId(1))
        } else {
            build::option_leg_listed(&p.recipe, SymbolId(1))
        }
        .map_err(|e| RunError::refused(format!("instrument: {e}")))?;
        return Ok(agent.with_options(leg));
    }
    Ok(agent)
}

/// The state an agent's strategy starts from: cold, or warmed up on the data before a backtest's
/// `--from` ([`warm_up`]).
pub struct Warm {
    strategy: AnyStrategy,
    style: CandleStyle,
    related: Option<RelatedFeed>,
    /// Candles of the traded symbol the warm-up fed the strategy.
    pub candles: u64,
    /// The first date the warm-up read (the `--from` date when nothing was needed).
    pub from: NaiveDate,
}

impl Warm {
    /// The recipe's strategy, candle style and related feed, as built: nothing seen yet.
    fn cold(p: &Prepared, cfg: &crate::engine::agent::AgentConfig) -> anyhow::Result<Self> {
        let signals = match &p.signals {
            Some(path) => Some(
                external_signal::read_signal_file(path, &p.recipe.instrument.underlying)
                    .map_err(|e| RunError::unusable(e.to_string()))?,
            ),
            // Live signals (a stream, a socket) reach the agent as events.
            None => (p.recipe.algorithm.kind == AlgorithmKind::ExternalSignal).then(Vec::new),
        };
        let strategy =
            build::strategy(&p.recipe, SymbolId(0), signals).map_err(|e| RunError::refused(e.to_string()))?;
        let related = p.related.as_ref().map(|_| RelatedFeed::new(RELATED_SYMBOL, cfg));
        Ok(Self { strategy, style: cfg.candle_style.clone(), related, candles: 0, from: NaiveDate::MIN })
    }

    /// A price of the warm-up data, as the agent would take it (completed candles to the
    /// strategy before the trade; the related symbol's to its feed), the strategy's signal
    /// dropped: nothing is traded.
    fn on_price(&mut self, candles: &mut CandleBuilder, ohlcv: [rust_decimal::Decimal; 5], t: &Trade) {
        let mut ignored = Vec::new();
        if t.symbol == RELATED_SYMBOL {
            if let Some(feed) = self.related.as_mut() {
                feed.on_price(ohlcv, t, &mut self.strategy, &mut ignored);
            }
            return;
        }
        if t.symbol != SymbolId(0) {
            return;
        }
        let [open, high, low, close, volume] = ohlcv;
        let (phase, completed) = candles.on_price(t.ts, open, high, low, close, volume);
        if completed && let Some(c) = candles.take_completed() {
            self.completed(&c);
        }
        self.roll_related(t.ts);
        let _ = self.strategy.on_trade(t, TradeContext { phase, holding: Holding::Flat });
    }

    fn completed(&mut self, c: &Candle) {
        let strategy = &mut self.strategy;
        let mut seen = 0;
        // A candle the style refuses is refused again, and said, in the run proper.
        let _ = self.style.apply(c, |x| {
            strategy.on_candle(x);
            seen += 1;
        });
        self.candles += seen;
    }

    fn roll_related(&mut self, ts: Timestamp) {
        if let Some(feed) = self.related.as_mut() {
            feed.roll(ts, &mut self.strategy, &mut Vec::new());
        }
    }
}

/// How many completed candles the recipe's strategy reads before it can act: its moving
/// average and breakout window, range, or swing window, and one more for the cross or
/// the candle style's previous candle.
pub fn warm_up_candles(r: &Recipe) -> u64 {
    let a = &r.algorithm;
    let need = match a.kind {
        AlgorithmKind::MaCrossBreakout => a.ma_period.unwrap_or(9).max(a.breakout_lookback.unwrap_or(7)),
        AlgorithmKind::TargetPosition => a.target_position_period(),
        AlgorithmKind::Correlation => a.swing_lookback_or_default(),
        AlgorithmKind::ExternalSignal => 0,
    };
    u64::from(need) + 1
}

/// Warm a prepared recipe's strategy up for a backtest starting on `from`: replay the whole
/// trading days before it that hold [`warm_up_candles`] candles through the candle builder,
/// candle style, related feed and strategy, with no agent — nothing is traded, journaled or
/// reported. The candles due by `from` complete at its first instant, as in a run over all the
/// data (where the next price completes them).
pub fn warm_up(p: &Prepared, from: NaiveDate) -> anyhow::Result<Warm> {
    let cfg = build::agent_config(&p.recipe).map_err(|e| RunError::refused(e.to_string()))?;
    let mut warm = Warm::cold(p, &cfg)?;
    let mut clock = SessionClock::new(cfg.hours.zone(), cfg.hours);
    warm.from = clock.warm_up_start(from, warm_up_candles(&p.recipe), cfg.timeframe_nanos);
    let Some(last) = from.pred_opt().filter(|_| warm.from < from) else { return Ok(warm) };
    let mut candles = CandleBuilder::new(SymbolId(0), cfg.timeframe_nanos, cfg.hours);
    for ev in open_replay(p, DateRange { from: Some(warm.from), to: Some(last) })? {
        match ev.map_err(|e| RunError::unusable(e.to_string()))? {
            MarketEvent::Trade(t) => {
                warm.on_price(&mut candles, [t.price, t.price, t.price, t.price, t.size], &t)
            }
            MarketEvent::Bar(b) => {
                let t = Trade { symbol: b.symbol, ts: b.ts, price: b.close, size: b.volume };
                warm.on_price(&mut candles, [b.open, b.high, b.low, b.close, b.volume], &t);
            }
            MarketEvent::Quote(_) => {}
        }
    }
    let start = DateRange { from: Some(from), to: None }.replay_options(SymbolId(0)).from;
    if let Some(start) = start {
        if let Some(c) = candles.on_time(start) {
            warm.completed(&c);
        }
        warm.roll_related(start);
    }
    Ok(warm)
}

/// The simulated venue a paper or backtest run of a prepared recipe trades on: the recipe's
/// starting equity, commissions and slippage; options quoted on its synthetic chain.
pub fn sim_venue(p: &Prepared) -> anyhow::Result<SimVenue> {
    let r = &p.recipe;
    let venue = SimVenue::new(sim_config(r));
    if r.instrument.kind != crate::recipe::model::InstrumentKind::Option {
        return Ok(venue);
    }
    let chain = build::option_chain(r).map_err(|e| RunError::refused(format!("instrument: {e}")))?;
    Ok(venue.with_synthetic_options(Box::new(chain)))
}

/// The simulated venue's settings for a recipe: its starting equity, commissions and slippage.
pub fn sim_config(r: &Recipe) -> SimConfig {
    let b = &r.broker;
    let option = r.instrument.kind == crate::recipe::model::InstrumentKind::Option;
    SimConfig {
        starting_cash: b.starting_equity.map_or(rust_decimal::Decimal::from(100_000), |m| m.value()),
        commission_per_share: b.commission_per_share_or_default().value(),
        commission_per_contract: b.commission_per_contract_or_default().value(),
        commission_per_order: b.commission_per_order_or_default().value(),
        slippage_ticks: b.slippage_ticks_or_default(),
        tick: rust_decimal::Decimal::new(1, 2),
        multiplier: if option { rust_decimal::Decimal::ONE_HUNDRED } else { rust_decimal::Decimal::ONE },
        contracts: option,
        size_limited: false,
        underlying: SymbolId(0),
        underlying_name: InstrumentId(r.instrument.underlying.clone()),
    }
}

/// The agent of a prepared recipe on `venue`, ready to step.
pub fn build_lockstep(p: &Prepared, venue: SimVenue) -> anyhow::Result<Lockstep> {
    Ok(Lockstep::new(build_agent(p)?, venue))
}

/// An inclusive New York date range filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct DateRange {
    /// First date.
    pub from: Option<NaiveDate>,
    /// Last date.
    pub to: Option<NaiveDate>,
}

impl DateRange {
    /// The range as replay options for `symbol`: from local midnight of `from` to local
    /// midnight after `to`.
    pub fn replay_options(&self, symbol: SymbolId) -> ReplayOptions {
        let at = |d: NaiveDate| {
            use chrono::TimeZone;
            NEW_YORK
                .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
                .earliest()
                .map(|t| Timestamp::from_datetime(&t))
        };
        ReplayOptions {
            symbol,
            bar_duration: None,
            from: self.from.and_then(at),
            to: self.to.and_then(|d| d.succ_opt()).and_then(at),
            all_prints: false,
            price_band: None,
        }
    }
}

/// Open the replay of a prepared recipe, limited to `range`.
pub fn open_replay(p: &Prepared, range: DateRange) -> anyhow::Result<Replay> {
    let path = p.data.to_string_lossy();
    let opts = ReplayOptions {
        all_prints: p.recipe.provider.all_prints,
        price_band: p.recipe.provider.price_band_or_default().config(),
        ..range.replay_options(SymbolId(0))
    };
    let usage = |e: crate::market::csv::MarketDataError| RunError::unusable(e.to_string());
    match &p.related {
        None => Replay::open(&path, &opts).map_err(|e| usage(e).into()),
        Some((sym, data)) => {
            let other = data.to_string_lossy();
            // Say which symbol's data is missing before opening anything.
            crate::market::replay::resolve_paths(&other)
                .map_err(|e| RunError::unusable(format!("provider.symbols.{sym}: {e}")))?;
            // The related symbol first: it wins timestamp ties (docs/strategies.md, correlation).
            let inputs = [(&*other, crate::engine::related::RELATED_SYMBOL), (&*path, SymbolId(0))];
            Replay::open_many(&inputs, &opts).map_err(|e| usage(e).into())
        }
    }
}

/// Backtest: drive the agent synchronously over the replay, journaling every event in order.
/// A replay with no market event at all is a failure (exit 1): `no_data` says what was asked
/// for (the data and date range); the journal run ends with that error.
pub fn backtest(
    mut run: Lockstep,
    replay: Replay,
    mut sink: Option<super::journal_sink::JournalSink>,
    no_data: &str,
) -> anyhow::Result<super::fleet::Finished> {
    let mut fail: Option<String> = None;
    let mut out = |ev: &AgentEvent| {
        if let Some(s) = sink.as_mut() {
            s.on_event(ev);
        }
    };
    let mut events: u64 = 0;
    let dropped = replay.dropped_prints();
    for ev in replay {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                fail = Some(e.to_string());
                break;
            }
        };
        events += 1;
        run.market(ev, &mut out);
    }
    run.command(Command::Shutdown, &mut out);
    let empty = fail.is_none() && events == 0;
    let journal_run = match sink {
        Some(s) => {
            let outcome = match &fail {
                Some(f) => format!("error: {f}"),
                None if empty => format!("error: {no_data}"),
                None => "completed".to_owned(),
            };
            Some(s.end(&outcome).map_err(|e| RunError::unusable(format!("journal: {e}")))?.to_string())
        }
        None => None,
    };
    if let Some(f) = fail {
        return Err(RunError::unusable(f).into());
    }
    if empty {
        return Err(RunError::refused(no_data).into());
    }
    let report = run.into_agent().into_report().with_off_band_prints(dropped.get());
    Ok(super::fleet::Finished { report, outcome: super::fleet::Outcome::Completed, run: journal_run })
}

/// Format an agent event as one line for the terminal (`None` for quiet events). Orders name
/// the instrument and their price (`buy 20 SPY 131019P00168000 LMT 1.85`); prices show the
/// cent tick ([`crate::report::price`]); a halt's reason comes before the exit it causes (the
/// agent's event order), and the day roll that ends a halt is a plain line, not a warning.
pub fn describe(agent: &str, ev: &AgentEvent) -> Option<String> {
    use crate::report::{instrument_text, price};
    let t = |ts: Timestamp| crate::report::iso(ts);
    Some(match ev {
        AgentEvent::External(x) => {
            let id = x.id.as_deref().map(|i| format!(" {i}")).unwrap_or_default();
            match &x.refused {
                Some(why) => {
                    format!("{} {agent} external signal{id} {}: refused: {why}", t(x.ts), x.signal.direction)
                }
                // The signal and order lines that follow say what it did.
                None => return None,
            }
        }
        AgentEvent::Signal(s) => match s.direction {
            crate::strategy::Direction::Target(_) => {
                format!("{} {agent} signal {} @ {}", t(s.ts), s.direction, price(s.price))
            }
            _ => format!(
                "{} {agent} signal {} strength {}% @ {}",
                t(s.ts),
                s.direction,
                s.strength,
                price(s.price)
            ),
        },
        AgentEvent::Denied(d) => {
            let o = &d.order;
            format!(
                "{} {agent} order {} {} {} {} denied: {} ({})",
                t(o.ts),
                o.id,
                o.side,
                o.qty,
                instrument_text(o.instrument.as_str()),
                d.reason,
                d.message
            )
        }
        AgentEvent::OrderSent(o) => {
            let purpose = match o.purpose {
                Purpose::Entry => "entry".to_owned(),
                Purpose::Add => "add".to_owned(),
                Purpose::Adjust => "adjust".to_owned(),
                Purpose::Exit(r) => format!("exit: {}", r.as_str()),
            };
            format!(
                "{} {agent} order {} {} {} {} {} ({purpose})",
                t(o.ts),
                o.id,
                o.side,
                o.qty,
                instrument_text(o.instrument.as_str()),
                order_price(o.kind, o.side)
            )
        }
        AgentEvent::Order(OrderEvent::Filled(f)) | AgentEvent::Order(OrderEvent::PartiallyFilled(f)) => {
            format!(
                "{} {agent} filled {} {} {} {} @ {} fee {} (leaves {})",
                t(f.ts),
                f.id,
                f.side,
                f.qty,
                instrument_text(f.instrument.as_str()),
                price(f.price),
                f.commission.round_dp(2),
                f.leaves
            )
        }
        AgentEvent::Order(OrderEvent::Rejected { id, ts, reason }) => {
            format!("{} {agent} rejected {id}: {reason}", t(*ts))
        }
        AgentEvent::Order(OrderEvent::Canceled { id, ts }) => format!("{} {agent} canceled {id}", t(*ts)),
        AgentEvent::Order(OrderEvent::Expired { id, ts }) => format!("{} {agent} expired {id}", t(*ts)),
        AgentEvent::Order(OrderEvent::Replaced { id, ts, change }) => {
            format!("{} {agent} replaced {id}: {change:?}", t(*ts))
        }
        AgentEvent::Order(OrderEvent::CancelRejected { id, ts, reason }) => {
            format!("{} {agent} cancel of {id} refused: {reason}", t(*ts))
        }
        AgentEvent::Order(OrderEvent::ReplaceRejected { id, ts, reason }) => {
            format!("{} {agent} replace of {id} refused: {reason}", t(*ts))
        }
        AgentEvent::Order(_) | AgentEvent::Candle(_) => return None,
        AgentEvent::State { ts, state, reason } => match state {
            StateChange::Halted => format!("{} {agent} warning: halted: {reason}", t(*ts)),
            StateChange::ReduceOnly => format!("{} {agent} warning: reduce-only: {reason}", t(*ts)),
            StateChange::Active => format!("{} {agent} active again: {reason}", t(*ts)),
            StateChange::Disabled => format!("{} {agent} warning: disabled: {reason}", t(*ts)),
        },
        AgentEvent::Connectivity(c) => match c {
            Connectivity::Up { ts, .. } | Connectivity::Down { ts, .. } => format!("{} {agent} {c}", t(*ts)),
            Connectivity::Gap { .. } => format!("{agent} {c}"),
        },
        AgentEvent::Warning { ts, message } => format!("{} {agent} warning: {message}", t(*ts)),
        AgentEvent::Info { ts, message } => format!("{} {agent} {message}", t(*ts)),
        AgentEvent::Position { ts, instrument, qty, avg_price, realized, equity } => {
            let held = if qty.is_zero() {
                "flat".to_owned()
            } else {
                format!("{qty} @ {}", price(avg_price.round_dp(4)))
            };
            format!(
                "{} {agent} position {} {held} realized {} equity {}",
                t(*ts),
                instrument_text(instrument.as_str()),
                price(realized.round_dp(2)),
                price(equity.round_dp(2))
            )
        }
    })
}

/// An order's pricing as a trader writes it: `MKT`, `LMT 1.85`, `STP 1.80`, `STP 1.80 LMT 1.78`;
/// a marketable limit's price is set at the venue from its touch, so it shows its offset
/// (`MKT-LMT +1 tick` for a buy above the ask, `MKT-LMT -1 tick` for a sell below the bid).
fn order_price(kind: OrderKind, side: crate::model::Side) -> String {
    use crate::report::price;
    match kind {
        OrderKind::Market => "MKT".to_owned(),
        OrderKind::Limit { limit } => format!("LMT {}", price(limit)),
        OrderKind::MarketableLimit { offset_ticks } => {
            let sign = match side {
                crate::model::Side::Buy => '+',
                crate::model::Side::Sell => '-',
            };
            let unit = if offset_ticks == 1 { "tick" } else { "ticks" };
            format!("MKT-LMT {sign}{offset_ticks} {unit}")
        }
        OrderKind::Stop { stop } => format!("STP {}", price(stop)),
        OrderKind::StopLimit { stop, limit } => format!("STP {} LMT {}", price(stop), price(limit)),
    }
}
