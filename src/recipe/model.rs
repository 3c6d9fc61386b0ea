//! The recipe model: what one agent is made of, as serde types.
//!
//! These types, with the components' own types they embed (re-exported here), are the single
//! source of truth: `runner schema` generates `schemas/recipe.schema.json` from them (doc
//! comments become descriptions), and the typed load deserialises recipes into them. Every
//! struct denies unknown fields.
//! Kind-specific settings (e.g. `path` only for the replay provider) are checked by the
//! semantic validation pass, which can point at the offending line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::defaults;
use super::types::{ClockTime, Money, Percent, Quantity, Size, Speed, Strike, Timeframe};
// The components' own types, written in recipes as they are.
pub use crate::market::session::{CalendarKind, Hours, HoursWindow, NamedHours};
pub use crate::options::{ExpiryPreference, ExpiryWindow};
pub use crate::strategy::ma_cross_breakout::BreakoutMode;

/// One trading agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "runner recipe")]
pub struct Recipe {
    /// Recipe format version. Only `1` exists.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// The agent's name: lowercase letters, digits and dashes, unique across the fleet.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$"))]
    pub agent: String,
    /// What the agent does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where market data comes from.
    pub provider: Provider,
    /// Where orders go.
    pub broker: Broker,
    /// What is traded.
    pub instrument: Instrument,
    /// The trading algorithm and its parameters.
    pub algorithm: Algorithm,
    /// How orders are placed.
    #[serde(default)]
    pub orders: Orders,
    /// Position sizing and risk limits.
    #[serde(default)]
    pub risk: Risk,
    /// When the agent trades.
    #[serde(default)]
    pub session: Session,
    /// US regulatory checks.
    #[serde(default)]
    pub compliance: Compliance,
}

/// Market-data provider kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// Recorded data from CSV / CSV.gz files, replayed in time order.
    Replay,
    /// Alpaca market data (stocks, options, crypto).
    Alpaca,
    /// Polygon.io market data.
    Polygon,
    /// Coinbase Advanced Trade market data.
    Coinbase,
}

/// Where market data come from (the prices orders are made at; an `external-signal`
/// algorithm's signals are `algorithm.signals`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// The provider kind.
    pub kind: ProviderKind,
    /// replay: a CSV or CSV.gz file, a glob, or a directory, relative to the recipe file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// replay: data of other symbols the algorithm reads (not traded), by symbol: each a CSV or
    /// CSV.gz file, a glob, or a directory, relative to the recipe file, merged in time order with
    /// `path`. correlation needs its `correlated` symbol here, e.g. `{QQQ: ../data/qqq}`.
    #[schemars(example = &symbols_example())]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbols: Option<BTreeMap<String, PathBuf>>,
    /// replay of tick files: keep the prints that do not set the consolidated last sale price
    /// (average-price, cash, next-day, seller's-option, prior-reference-price, out-of-sequence and
    /// odd-lot reports, from the `sale_condition` column). By default they are skipped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_prints: bool,
    /// replay: the off-market print filter. A trade whose price (a bar whose low or high) is more
    /// than `max_deviation` from the instrument's last accepted price, printed at most
    /// `window_seconds` before, is dropped before candles, strategy and broker see it, and
    /// counted in the run summary (`off_band_prints`). The first print, and the first after
    /// `window_seconds` without one (the open after a gap, the end of a halt), is always kept;
    /// three dropped prints in a row that agree with each other are a new level and are kept from
    /// the third on. Bars longer than `window_seconds` are never checked; quotes never are. `off`
    /// keeps every print. `runner candles --price-band` applies the same filter.
    #[schemars(extend("default" = defaults::PRICE_BAND), example = &"off")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_band: Option<PriceBand>,
    /// replay: pacing for `runner up` (`max` or a multiple such as `60x`); backtests always run at max.
    #[schemars(extend("default" = defaults::SPEED))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<Speed>,
    /// alpaca: the data feed (`iex` or `sip`).
    #[schemars(example = &"iex")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<String>,
    /// Name of the secret holding this provider's credentials (`secrets/NAME.sops.yaml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// Live providers: where to connect instead of the provider's own hosts (a proxy, a test
    /// server): `rest` is the market-data REST base, `stream` the market-data WebSocket (for
    /// alpaca the stocks stream, feed included, e.g. `ws://127.0.0.1:8080/v2/iex`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
}

/// Where a live adapter connects instead of its default hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    /// The REST base URL (`http://` or `https://`), e.g. `http://127.0.0.1:8080`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest: Option<String>,
    /// The WebSocket URL (`ws://` or `wss://`), e.g. `ws://127.0.0.1:8080/stream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
}

/// `provider.price_band`: the limits, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PriceBand {
    /// `off`: keep every print.
    Off(BandOff),
    /// Drop prints outside these limits.
    Limits(PriceBandLimits),
}

/// The word that turns the price band off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BandOff {
    /// Keep every print.
    Off,
}

/// How far from the recent price a print may be, and how recent that price must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceBandLimits {
    /// Largest distance from the reference price, in percent of it.
    #[schemars(example = &"1%")]
    pub max_deviation: Percent,
    /// How long an accepted price stays the reference, in seconds (1 to 3600).
    #[schemars(range(min = 1, max = 3600), example = &30)]
    pub window_seconds: u32,
}

impl PriceBand {
    /// The market component's settings; `None` when `off`.
    pub fn config(self) -> Option<crate::market::band::PriceBandConfig> {
        match self {
            Self::Off(_) => None,
            Self::Limits(l) => Some(crate::market::band::PriceBandConfig {
                max_deviation: l.max_deviation.fraction(),
                window_nanos: i64::from(l.window_seconds) * 1_000_000_000,
            }),
        }
    }
}

/// The command-line spelling: `off`, or `MAX_DEVIATION,WINDOW` such as `0.5%,10s`.
impl std::str::FromStr for PriceBand {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim() == "off" {
            return Ok(Self::Off(BandOff::Off));
        }
        let bad =
            || format!("bad price band `{s}`: expected off, or a deviation and a window such as 0.5%,10s");
        let (deviation, window) = s.split_once(',').ok_or_else(bad)?;
        let max_deviation = deviation.parse::<Percent>().map_err(|_| bad())?;
        let window_seconds = window
            .trim()
            .strip_suffix('s')
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=3600).contains(n))
            .ok_or_else(|| format!("bad price band window `{window}`: expected 1s to 3600s"))?;
        Ok(Self::Limits(PriceBandLimits { max_deviation, window_seconds }))
    }
}

impl std::fmt::Display for PriceBand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Off(_) => f.write_str("off"),
            Self::Limits(l) => write!(f, "{},{}s", l.max_deviation, l.window_seconds),
        }
    }
}

fn symbols_example() -> BTreeMap<String, PathBuf> {
    BTreeMap::from([("QQQ".to_owned(), PathBuf::from("../data/qqq"))])
}

/// Where an `external-signal` algorithm's signals come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SignalSourceKind {
    /// A Redis stream, read with a consumer group.
    Redis,
    /// A local unix socket: length-prefixed JSON frames, each answered with an ack.
    Socket,
    /// A recorded signals CSV (`timestamp,ticker,direction[,strength]`), for backtests.
    File,
}

/// The external signals an `external-signal` algorithm follows (docs/signals.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signals {
    /// Where the signals come from.
    pub source: SignalSourceKind,
    /// redis: the server, `redis://host:port/db` or `rediss://…` (TLS); the password comes from
    /// `credentials`, never the URL.
    #[schemars(example = &"redis://127.0.0.1:6379/0")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// redis: the stream key, e.g. `nvda`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// redis: the consumer group. By default each agent has its own (`runner:<agent>`), so every
    /// agent sees every signal; agents whose recipes name the same group split the entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// redis: which entry fields carry what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<SignalFields>,
    /// redis: the secret holding the Redis password (key `password`), `secrets/NAME.sops.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// socket: the unix socket's path; file: the signals CSV (default `<recipe>.signals.csv`
    /// beside the recipe). Relative to the recipe file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// redis, socket: a signal published longer ago than this when it reaches the agent is
    /// refused as stale and journaled, never traded late (`500ms`, `5s`, `1m`).
    #[schemars(extend("default" = defaults::MAX_SIGNAL_AGE))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_signal_age: Option<super::types::Age>,
}

/// Field mapping of an external signal stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalFields {
    /// Field holding the ticker, e.g. `Ticker`.
    pub ticker: String,
    /// Field holding the direction, e.g. `Direction`.
    pub direction: String,
    /// Direction value meaning buy / go long.
    #[serde(default = "default_buy_value")]
    pub buy: String,
    /// Direction value meaning sell / go short.
    #[serde(default = "default_sell_value")]
    pub sell: String,
    /// Optional field holding the signal strength in percent (0–100).
    #[schemars(example = &"Strength")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<String>,
}

fn default_buy_value() -> String {
    "b".into()
}
fn default_sell_value() -> String {
    "s".into()
}

/// Broker kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BrokerKind {
    /// Simulated broker filling against market data; needs no credentials.
    Paper,
    /// Alpaca (paper or live account, depending on the credentials).
    Alpaca,
    /// Charles Schwab.
    Schwab,
    /// Coinbase Advanced Trade.
    Coinbase,
}

/// Cash or margin account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AccountType {
    /// Trades only settled funds.
    Cash,
    /// Margin account (Reg T; day-trading rules apply).
    #[default]
    Margin,
}

/// Where orders go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    /// The broker kind.
    pub kind: BrokerKind,
    /// The account this agent trades. One account belongs to one agent. 1 to 200 ASCII
    /// letters, digits, `.`, `_` or `-`, not starting with `.` (it names the account's lock
    /// file).
    #[schemars(regex(pattern = crate::model::AccountId::PATTERN))]
    pub account: String,
    /// Cash or margin account.
    #[serde(default)]
    pub account_type: AccountType,
    /// paper: the starting equity of the simulated account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_equity: Option<Money>,
    /// Commission per share (equities, crypto), charged by the paper broker.
    #[schemars(extend("default" = defaults::COMMISSION))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_per_share: Option<Money>,
    /// Commission per option contract, charged by the paper broker.
    #[schemars(extend("default" = defaults::COMMISSION))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_per_contract: Option<Money>,
    /// Commission per order, charged by the paper broker.
    #[schemars(extend("default" = defaults::COMMISSION))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_per_order: Option<Money>,
    /// paper: slippage applied to fills against trades, in ticks.
    #[schemars(extend("default" = defaults::SLIPPAGE_TICKS))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slippage_ticks: Option<u32>,
    /// Name of the secret holding the broker credentials; required for live brokers, refused for paper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// At start, when the venue's positions or working orders differ from what the journal
    /// says: `refuse` (print the difference, exit 1) or `adopt` (take the venue's state and
    /// journal it as inferred records). `runner up --adopt` adopts for one run.
    #[serde(default, skip_serializing_if = "Reconcile::is_default")]
    pub reconcile: Reconcile,
    /// Live brokers: `paper` (the broker's paper-trading account, the default) or `live` (real
    /// money; `runner up` also needs `--live`, so a copied recipe never trades real money by
    /// accident).
    #[serde(default, skip_serializing_if = "Environment::is_default")]
    pub environment: Environment,
    /// Live brokers: where to connect instead of the broker's own hosts (a proxy, a test
    /// server): `rest` is the trading REST base, `stream` the order-updates WebSocket (for
    /// alpaca `trade_updates`, e.g. `ws://127.0.0.1:8080/stream`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
}

/// A live broker's paper-trading or real-money account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Environment {
    /// The broker's paper-trading account (no real money).
    #[default]
    Paper,
    /// The real-money account.
    Live,
}

impl Environment {
    fn is_default(&self) -> bool {
        *self == Self::Paper
    }
}

/// What a restart does when the venue and the journal disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Reconcile {
    /// Refuse to trade and show the difference.
    #[default]
    Refuse,
    /// Take the venue's state.
    Adopt,
}

impl Reconcile {
    fn is_default(&self) -> bool {
        *self == Self::Refuse
    }
}

/// Instrument kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InstrumentKind {
    /// Shares.
    Equity,
    /// Listed options on the underlying, chosen by expiry window and strike.
    Option,
    /// A crypto pair such as BTC-USD.
    Crypto,
}

/// What is traded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    /// The underlying symbol: `SPY`, `NVDA`, `BTC-USD`.
    pub underlying: String,
    /// Equity, option or crypto.
    pub kind: InstrumentKind,
    /// option: which expiries may be traded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<ExpiryWindow>,
    /// option: which strike to trade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strike: Option<Strike>,
    /// option: allow selling options to open (writing). Off by default: signals only buy calls or puts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_writing: bool,
    /// option: implied volatility used by the synthetic chain in paper and backtest runs.
    #[schemars(extend("default" = defaults::IMPLIED_VOL))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implied_vol: Option<Percent>,
    /// option: continuously compounded risk-free rate of the synthetic chain, as a fraction (0.001 for 0.1 %). Set it for the period replayed.
    #[schemars(extend("default" = defaults::RATE))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// crypto: the smallest quantity step the venue trades (its size or base increment); order sizes are rounded down to it, and an order smaller than one step is refused (`size-below-minimum`). Default 0.00000001 (one satoshi, Coinbase's BTC-USD increment). Shares and option contracts always trade in whole units.
    #[schemars(extend("default" = defaults::QUANTITY_INCREMENT_CRYPTO))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity_increment: Option<Quantity>,
}

/// Algorithm kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AlgorithmKind {
    /// Moving-average cross that arms an entry, taken on a breakout of recent candles.
    MaCrossBreakout,
    /// Buy when the primary breaks above its swing high while the correlated symbol is below its swing low; sell the mirror.
    Correlation,
    /// Follow buy/sell signals from an external stream.
    ExternalSignal,
    /// Hold a target percentage of the allocation proportional to the signal strength.
    TargetPosition,
}

/// Candle construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CandleStyle {
    /// Plain OHLC candles.
    #[default]
    Standard,
    /// Heikin-Ashi candles.
    HeikinAshi,
    /// Renko bricks of `brick_size`.
    Renko,
}

/// The trading algorithm and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Algorithm {
    /// The algorithm kind.
    pub kind: AlgorithmKind,
    /// Candle length, from 1s to 4h, or 1d (one candle per trading session, open to close).
    pub timeframe: Timeframe,
    /// Candle construction.
    #[serde(default)]
    pub candles: CandleStyle,
    /// renko: brick size in price units.
    #[schemars(example = 0.5)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brick_size: Option<Money>,
    /// ma-cross-breakout, target-position: period in candles of the moving average (ma-cross-breakout, required) or of the high-low range (target-position, default 20).
    #[schemars(range(min = 1, max = crate::indicators::MAX_PERIOD))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ma_period: Option<u32>,
    /// ma-cross-breakout: number of completed candles whose high/low range must be broken.
    #[schemars(range(min = 1, max = crate::indicators::MAX_PERIOD))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakout_lookback: Option<u32>,
    /// ma-cross-breakout: how the breakout is confirmed.
    #[schemars(extend("default" = defaults::BREAKOUT_MODE))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakout_mode: Option<BreakoutMode>,
    /// correlation: the symbol traded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// correlation: the symbol compared against (not traded); its data is `provider.symbols.<symbol>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlated: Option<String>,
    /// correlation: a swing high/low stays usable while its candle is among this many most
    /// recent completed candles (more than `fractal_lookback`).
    #[schemars(extend("default" = defaults::SWING_LOOKBACK))]
    #[schemars(range(min = 1, max = crate::strategy::correlation::MAX_SWING_LOOKBACK))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swing_lookback: Option<u32>,
    /// correlation: candles on each side of a fractal, the swing high/low (2 is Bill Williams' choice).
    #[schemars(extend("default" = defaults::FRACTAL_LOOKBACK))]
    #[schemars(range(min = 1, max = crate::strategy::correlation::MAX_FRACTAL_LOOKBACK))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fractal_lookback: Option<u32>,
    /// target-position: no trade while the position is within this band of the target.
    #[schemars(extend("default" = defaults::TOLERANCE))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Percent>,
    /// external-signal: where its signals come from (a Redis stream, a unix socket, or a
    /// recorded file; by default the file `<recipe>.signals.csv` beside the recipe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signals: Option<Signals>,
}

/// Order types (the type lives with the orders, in `model::order`).
pub use crate::model::order::OrderType;

/// How orders are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Orders {
    /// Order type for entries and exits.
    #[serde(default, rename = "type")]
    pub order_type: OrderType,
    /// Limit price offset in ticks (for limit, marketable-limit, stop-limit).
    #[serde(default)]
    pub limit_offset_ticks: u32,
    /// Options: refuse an entry (denial `max-slippage`) whose marketable limit is more than this many ticks from the mid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_slippage_ticks: Option<u32>,
}

/// Position sizing and risk limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Risk {
    /// Money the agent may put at risk; sizes in percent are of this amount. Default: the
    /// paper broker's `starting_equity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<Money>,
    /// Size of an entry: a percentage of the allocation or a number of units.
    #[schemars(extend("default" = defaults::ENTRY_SIZE))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_size: Option<Size>,
    /// Size of an add to an existing position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_size: Option<Size>,
    /// Largest position in option contracts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_contracts: Option<u32>,
    /// Largest position in shares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_shares: Option<u32>,
    /// Largest position notional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_notional: Option<Money>,
    /// Exit when the position loses this fraction of its entry value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_loss: Option<Percent>,
    /// Exit when the position gains this fraction of its entry value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_profit: Option<Percent>,
    /// Exit when the position falls this fraction from its best value since entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing_stop: Option<Percent>,
    /// Most entries per trading day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_trades_per_day: Option<u32>,
    /// Stop opening positions, flatten and halt for the day after losing this much in a day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_loss_limit: Option<Money>,
    /// Flatten and halt for the rest of the trading day after equity falls this fraction from its peak; the next day re-bases the peak to its starting equity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drawdown: Option<Percent>,
    /// Most orders per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_orders_per_minute: Option<u32>,
}

/// When the agent trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// The exchange calendar.
    #[serde(default)]
    pub calendar: CalendarKind,
    /// The trading window.
    #[serde(default)]
    pub hours: Hours,
    /// Close every position at this time; no entries after it; nothing held overnight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flatten_at: Option<ClockTime>,
    /// replay: when the recorded data stops for whole trading sessions (a gap, not the night or
    /// a weekend), close the position at the last price before the gap instead of holding it
    /// blind through it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flatten_before_gap: bool,
}

/// Compliance regimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Regime {
    /// The rules in force on each trading date: legacy PDT before 2026-06-04, intraday margin from then.
    #[default]
    Auto,
    /// Always the legacy pattern-day-trader rule (brokers phasing in until 2027-10-20).
    LegacyPdt,
    /// Always FINRA's intraday margin standards.
    IntradayMargin,
    /// No day-trading checks.
    Off,
}

/// Enforce or skip a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Enforcement {
    /// Refuse orders that break the rule.
    #[default]
    Enforce,
    /// Do not check.
    Off,
}

/// US regulatory checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Compliance {
    /// Day-trading regime.
    #[serde(default)]
    pub regime: Regime,
    /// Regulation T initial margin and cash-account settlement.
    #[serde(default)]
    pub reg_t: Enforcement,
}

/// Fleet-wide settings (`runner.yaml` at the project root).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "runner fleet file")]
pub struct Fleet {
    /// Fleet file format version. Only `1` exists.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// When the agents' combined P&L for the day falls below minus this amount, every agent stops opening positions, cancels its orders and flattens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_loss_limit: Option<Money>,
    /// Most agents running at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_agents: Option<u32>,
    /// Directory holding `NAME.sops.yaml` secrets, relative to this file.
    #[serde(default = "default_secrets_dir")]
    pub secrets_dir: PathBuf,
    /// The journal database, relative to this file.
    #[serde(default = "default_journal")]
    pub journal: PathBuf,
    /// Directory for run state: account locks, agent status, reports; relative to this file.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Seconds without market data before a running agent is reported unhealthy (live feeds:
    /// only while its session is open; default 30 for live feeds, none for replays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_data_seconds: Option<u32>,
    /// Live feeds: seconds without market data during the session after which an agent takes
    /// no new entries for the rest of its trading day (exits still run); default 120.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_halt_seconds: Option<u32>,
    /// The dashboard, JSON API and Prometheus metrics `runner up` serves (`--http` overrides
    /// `listen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSettings>,
    /// Webhook notifications (halts, the kill switch, disconnections, rejected orders, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
}

/// The fleet file's `http:` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Address to serve on, `HOST:PORT` (`127.0.0.1:8787`). Anything but a loopback address
    /// needs a control token.
    pub listen: String,
    /// Secrets file (`NAME.sops.yaml` in `secrets_dir`, key `token`) holding the bearer token the
    /// controls require; `RUNNER_HTTP_TOKEN` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
}

/// The fleet file's `notify:` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Where notifications go.
    pub webhooks: Vec<Webhook>,
    /// A venue or feed connection down for longer than this many seconds is notified (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnected_seconds: Option<u32>,
    /// When the daily summary goes out, `HH:MM` New York time (default `16:15`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_summary_at: Option<ClockTime>,
}

/// One webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// A name for messages about it (`desk-slack`).
    pub name: String,
    /// The body: `slack` (`{"text": …}`), `telegram` (`{"chat_id": …, "text": …}`) or `json`
    /// (the whole event).
    pub format: WebhookFormat,
    /// Secrets file (`NAME.sops.yaml` in `secrets_dir`) holding `url` (and `chat_id` for
    /// Telegram): webhook URLs carry their tokens, so they live in the vault.
    pub credentials: String,
    /// What to send (default: everything).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<NotifyEvent>,
}

/// A webhook body format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookFormat {
    /// Slack incoming webhook: `{"text": …}`.
    Slack,
    /// Telegram Bot API `sendMessage`: `{"chat_id": …, "text": …}`.
    Telegram,
    /// The event as JSON.
    Json,
}

/// What a webhook is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyEvent {
    /// An agent halted (loss limit, drawdown, operator).
    Halt,
    /// The fleet kill switch (fleet loss limit or operator).
    KillSwitch,
    /// A venue or feed connection down longer than `disconnected_seconds`.
    Disconnected,
    /// The venue's positions or orders differ from the journal's.
    Reconciliation,
    /// The venue rejected an order.
    OrderRejected,
    /// Each agent's day, after the close.
    DailySummary,
}

fn default_secrets_dir() -> PathBuf {
    "secrets".into()
}
fn default_journal() -> PathBuf {
    "journal/runner.db".into()
}
fn default_state_dir() -> PathBuf {
    ".runner".into()
}

impl Default for Fleet {
    fn default() -> Self {
        Self {
            version: 1,
            daily_loss_limit: None,
            max_concurrent_agents: None,
            secrets_dir: default_secrets_dir(),
            journal: default_journal(),
            state_dir: default_state_dir(),
            stale_data_seconds: None,
            stale_halt_seconds: None,
            http: None,
            notify: None,
        }
    }
}
