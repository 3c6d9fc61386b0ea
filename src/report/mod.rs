//! Run reports: the deals table, summary metrics, CSV exports and the charts.
//!
//! [`Recorder`](crate::report::Recorder) is fed every fill, equity sample, completed candle
//! (with the strategy's indicator values) and halt by the agent loop and turns fills into
//! deals (round trips: flat → position → flat). [`Report`](crate::report::Report) is the finished result; it is
//! written to a run directory (`deals.csv`, `summary.json`, `equity.svg`, `price.svg`) and can be read
//! back by `runner report RUN`. The charts are drawn by [`svg`] from [`chart`]'s data.

pub mod chart;
pub mod cli;
pub mod svg;
pub mod view;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::model::order::{ExitReason, Fill, Purpose};
use crate::model::{Money, Price, Qty, Side, Timestamp};

/// One round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    /// Strategy (algorithm kind).
    pub strategy: String,
    /// Instrument.
    pub symbol: String,
    /// Long (`Buy`) or short (`Sell`).
    pub side: Side,
    /// Size of the position: the largest it was (a target-position deal adjusts it many times;
    /// the sum of those adjustments is not a size anyone held).
    pub entry_qty: Qty,
    /// First entry execution.
    pub entry_time: Timestamp,
    /// Average entry price.
    pub entry_price: Price,
    /// Quantity closed: a deal ends flat, so the whole position (the same size).
    pub exit_qty: Qty,
    /// Last exit execution.
    pub exit_time: Timestamp,
    /// Average exit price.
    pub exit_price: Price,
    /// Gross P&L.
    pub pnl: Money,
    /// Commissions on entry and exit.
    pub charges: Money,
    /// How it closed.
    pub exit_reason: ExitReason,
    /// Where its prices came from (synthetic option prices, or the market data).
    pub price_source: PriceSource,
}

/// Where a deal's prices came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PriceSource {
    /// The replayed (or live) market data.
    #[default]
    Market,
    /// A model (options: the synthetic Black-Scholes chain), not market quotes.
    Synthetic,
}

impl PriceSource {
    /// `market` or `synthetic` (the `price_source` column of `deals.csv`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Market => "market",
            Self::Synthetic => "synthetic",
        }
    }
}

impl Deal {
    /// P&L after charges.
    pub fn net_pnl(&self) -> Money {
        self.pnl - self.charges
    }

    /// Net P&L as a percentage of the entry value.
    pub fn net_pnl_pct(&self, multiplier: Decimal) -> Decimal {
        let basis = self.entry_price * self.entry_qty * multiplier;
        if basis.is_zero() {
            Decimal::ZERO
        } else {
            (self.net_pnl() / basis * Decimal::ONE_HUNDRED).round_dp(4)
        }
    }
}

#[derive(Debug, Clone)]
struct OpenDeal {
    side: Side,
    qty: Qty,
    /// The largest `qty` held.
    peak: Qty,
    entry_time: Timestamp,
    entry_cost: Money,
    entry_qty: Qty,
    exit_qty: Qty,
    exit_value: Money,
    exit_time: Timestamp,
    pnl: Money,
    charges: Money,
}

/// Turns fills into deals and keeps the equity curve.
#[derive(Debug, Clone)]
pub struct Recorder {
    strategy: String,
    symbol: String,
    multiplier: Decimal,
    open: Option<OpenDeal>,
    /// Finished deals.
    pub deals: Vec<Deal>,
    /// Equity samples (time, equity).
    pub equity: Vec<(Timestamp, Money)>,
    note: Option<String>,
    denials: Vec<DeniedOrder>,
    price_source: PriceSource,
    data_gaps: u64,
    signals_refused: u64,
    repeated_denials: u64,
    /// The instrument the candles are of (an option agent's underlying).
    underlying: String,
    chart: chart::ChartData,
    halts: Vec<chart::Halt>,
}

/// An order the risk gate refused, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeniedOrder {
    /// When (ISO-8601, New York offset).
    pub time: String,
    /// What would have been traded: the ticker, or an option contract's OCC symbol (the
    /// underlying and right, e.g. `SPY call`, if no contract was chosen yet). Empty in summaries
    /// written before the field existed.
    #[serde(default)]
    pub instrument: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Quantity asked for.
    pub qty: Decimal,
    /// The reason code (`pdt-limit`, `halted`, `max-trades-per-day`, …).
    pub code: String,
    /// What decided it.
    pub message: String,
}

impl Recorder {
    /// A recorder for one agent's instrument.
    pub fn new(strategy: &str, symbol: &str, multiplier: Decimal) -> Self {
        Self {
            strategy: strategy.to_owned(),
            symbol: symbol.to_owned(),
            multiplier,
            open: None,
            deals: Vec::new(),
            equity: Vec::new(),
            note: None,
            denials: Vec::new(),
            price_source: PriceSource::Market,
            data_gaps: 0,
            signals_refused: 0,
            repeated_denials: 0,
            underlying: symbol.to_owned(),
            chart: chart::ChartData::default(),
            halts: Vec::new(),
        }
    }

    /// Record a completed candle of the traded instrument (of the underlying, for options)
    /// with the strategy's indicator values after it, for the price chart (bounded: see
    /// [`chart`]).
    pub fn candle(&mut self, c: &crate::market::event::Candle, strategy: &crate::strategy::AnyStrategy) {
        self.chart.push(c, strategy);
    }

    /// Record a halt (the charts mark it).
    pub fn on_halt(&mut self, ts: Timestamp, reason: &str) {
        self.halts.push(chart::Halt { ts, reason: reason.to_owned() });
    }

    /// Where the prices of this run's deals come from (default: the market data).
    pub fn set_price_source(&mut self, source: PriceSource) {
        self.price_source = source;
    }

    /// Record an order the risk gate refused; `instrument` names what it would have traded.
    pub fn on_denied(&mut self, d: &crate::risk::gate::OrderDenied, instrument: &str) {
        self.denials.push(DeniedOrder {
            time: iso(d.order.ts),
            instrument: instrument.to_owned(),
            side: d.order.side.to_string(),
            qty: d.order.qty,
            code: d.reason.code().to_owned(),
            message: d.message.clone(),
        });
    }

    /// Record a refusal that repeats one already recorded the same trading day (a standing
    /// target refused again): counted, not listed.
    pub fn on_repeated_denial(&mut self) {
        self.repeated_denials += 1;
    }

    /// Record a gap in the market data (whole trading sessions without a price).
    pub fn on_gap(&mut self) {
        self.data_gaps += 1;
    }

    /// Record how many external signals the strategy refused because they came while the
    /// session was closed (the run's total, read at its end).
    pub fn signals_refused(&mut self, refused: u64) {
        self.signals_refused = refused;
    }

    /// Record an execution.
    pub fn on_fill(&mut self, f: &Fill) {
        let mut qty = f.qty;
        let mut commission = f.commission;
        // Reducing part first.
        if let Some(d) = &mut self.open
            && d.side != f.side
        {
            let closing = qty.min(d.qty);
            let share = if qty.is_zero() { Decimal::ZERO } else { commission * closing / qty };
            let avg = d.entry_cost / d.entry_qty;
            let dir = d.side.sign();
            d.pnl += closing * (f.price - avg) * dir * self.multiplier;
            d.charges += share;
            d.exit_qty += closing;
            d.exit_value += closing * f.price;
            d.exit_time = f.ts;
            d.qty -= closing;
            qty -= closing;
            commission -= share;
            if d.qty.is_zero() {
                let reason = match f.purpose {
                    Purpose::Exit(r) => r,
                    _ => ExitReason::Signal,
                };
                let d = self.open.take().unwrap_or_else(|| unreachable!("checked Some above"));
                self.deals.push(Deal {
                    strategy: self.strategy.clone(),
                    symbol: self.symbol.clone(),
                    side: d.side,
                    entry_qty: d.peak,
                    entry_time: d.entry_time,
                    entry_price: (d.entry_cost / d.entry_qty).round_dp(6),
                    exit_qty: d.peak,
                    exit_time: d.exit_time,
                    exit_price: (d.exit_value / d.exit_qty).round_dp(6),
                    pnl: d.pnl.round_dp(6),
                    charges: d.charges.round_dp(6),
                    exit_reason: reason,
                    price_source: self.price_source,
                });
            }
        }
        if qty.is_zero() {
            return;
        }
        match &mut self.open {
            Some(d) => {
                d.qty += qty;
                d.peak = d.peak.max(d.qty);
                d.entry_qty += qty;
                d.entry_cost += qty * f.price;
                d.charges += commission;
            }
            None => {
                self.open = Some(OpenDeal {
                    side: f.side,
                    qty,
                    peak: qty,
                    entry_time: f.ts,
                    entry_cost: qty * f.price,
                    entry_qty: qty,
                    exit_qty: Decimal::ZERO,
                    exit_value: Decimal::ZERO,
                    exit_time: f.ts,
                    pnl: Decimal::ZERO,
                    charges: commission,
                });
            }
        }
    }

    /// The instrument label for the next deals (e.g. an option contract's OCC symbol).
    pub fn set_symbol(&mut self, symbol: &str) {
        if self.open.is_none() && self.symbol != symbol {
            symbol.clone_into(&mut self.symbol);
        }
    }

    /// A note every report of this run carries (e.g. "option prices are synthetic").
    pub fn set_note(&mut self, note: String) {
        self.note = Some(note);
    }

    /// Record an equity sample.
    pub fn sample(&mut self, ts: Timestamp, equity: Money) {
        self.equity.push((ts, equity));
    }

    /// Finish: compute the summary.
    pub fn finish(self, starting: Money, ending: Money, fees: Money) -> Report {
        let mut summary = Summary::compute(&self.deals, &self.equity, starting, ending, fees);
        summary.note = self.note;
        summary.denied_orders = self.denials.len();
        summary.denials = self.denials;
        summary.repeated_denials = self.repeated_denials;
        summary.data_gaps = self.data_gaps;
        summary.signals_refused_out_of_session = self.signals_refused;
        Report {
            multiplier: self.multiplier,
            deals: self.deals,
            equity: self.equity,
            summary,
            underlying: self.underlying,
            chart: self.chart.finish(),
            halts: self.halts,
        }
    }
}

/// Summary metrics of a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Starting equity.
    pub starting_equity: Money,
    /// Ending equity.
    pub ending_equity: Money,
    /// Net P&L (ending − starting, i.e. after fees).
    pub net_pnl: Money,
    /// Number of deals.
    pub trades: usize,
    /// Deals with a positive net P&L.
    pub wins: usize,
    /// wins / trades, in percent.
    pub win_rate_pct: Decimal,
    /// Sum of winning net P&L / |sum of losing net P&L| (`null` when there is no loss).
    pub profit_factor: Option<Decimal>,
    /// Largest peak-to-trough fall of the equity curve, in money.
    pub max_drawdown: Money,
    /// The same, in percent of the peak.
    pub max_drawdown_pct: Decimal,
    /// Annualized Sharpe ratio of daily equity returns (√252; `null` with fewer than 2 days, or
    /// when the returns do not vary, e.g. a run with no trades).
    pub sharpe: Option<f64>,
    /// Commissions paid.
    pub fees: Money,
    /// A caveat about the run (e.g. synthetic option prices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Orders the risk gate refused.
    #[serde(default)]
    pub denied_orders: usize,
    /// Refusals of a standing target (`target-position`) that repeat one already listed the
    /// same trading day for the same reason: counted here, neither listed nor journaled.
    #[serde(default)]
    pub repeated_denials: u64,
    /// The refused orders, in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denials: Vec<DeniedOrder>,
    /// Trades and bars the price band dropped as off-market (`provider.price_band`): the run
    /// never saw them.
    #[serde(default)]
    pub off_band_prints: u64,
    /// Gaps in the market data: runs of whole trading sessions without a price of the traded
    /// instrument (each is also a warning of the run).
    #[serde(default)]
    pub data_gaps: u64,
    /// External signals that came while the session was closed: refused (never acted on
    /// later), each also a warning of the run.
    #[serde(default)]
    pub signals_refused_out_of_session: u64,
    /// Live feeds: how long after their exchange time market events arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_latency: Option<LatencySummary>,
    /// Which run this is: its id, agent, mode, recipe and data range (absent in summaries
    /// written before the field existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
}

/// What a report is the result of: the same run id the journal uses (also the report
/// directory's name), the agent, how it ran, the recipe and the data it covered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunInfo {
    /// The run id (`spy-9ma-20261202T150320Z-ffe5abb6`).
    pub id: String,
    /// The agent.
    pub agent: String,
    /// `backtest`, `paper` or `live`.
    pub mode: String,
    /// What ran, as the run's header said it (`backtest`, `paper broker, replaying … at max`).
    pub title: String,
    /// The recipe file.
    pub recipe: RecipeRef,
    /// First New York date of the market data the run saw.
    pub from: Option<chrono::NaiveDate>,
    /// Last New York date of the market data the run saw.
    pub to: Option<chrono::NaiveDate>,
    /// How the run ended (`completed`, `halted: …`, `stopped: …`), as the journal says it.
    pub outcome: String,
}

/// A recipe file as a run read it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecipeRef {
    /// The path as given on the command line.
    pub path: String,
    /// SHA-256 of the file's bytes (lower-case hex).
    pub sha256: String,
}

/// Feed latency over a run: exchange timestamp to arrival, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LatencySummary {
    /// Market events measured.
    pub events: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Events stamped later than their arrival (the exchange's clock ahead of this host's).
    pub ahead_of_clock: u64,
}

impl Summary {
    fn compute(
        deals: &[Deal],
        equity: &[(Timestamp, Money)],
        starting: Money,
        ending: Money,
        fees: Money,
    ) -> Self {
        let wins = deals.iter().filter(|d| d.net_pnl() > Decimal::ZERO).count();
        let gains: Money = deals.iter().map(Deal::net_pnl).filter(|p| *p > Decimal::ZERO).sum();
        let losses: Money = deals.iter().map(Deal::net_pnl).filter(|p| *p < Decimal::ZERO).sum();
        let profit_factor = (!losses.is_zero()).then(|| (gains / -losses).round_dp(4));
        let mut peak = starting;
        let (mut dd, mut dd_pct) = (Decimal::ZERO, Decimal::ZERO);
        for &(_, e) in equity.iter().chain(std::iter::once(&(Timestamp(0), ending))) {
            peak = peak.max(e);
            if peak - e > dd {
                dd = peak - e;
                if peak > Decimal::ZERO {
                    dd_pct = ((peak - e) / peak * Decimal::ONE_HUNDRED).round_dp(4);
                }
            }
        }
        // Daily returns from the last sample of each New York day.
        let mut closes: Vec<f64> = vec![starting.to_f64().unwrap_or(0.0)];
        let mut last_day = None;
        for &(ts, e) in equity {
            let day = ts.to_new_york().date_naive();
            let v = e.to_f64().unwrap_or(0.0);
            if last_day == Some(day) {
                if let Some(l) = closes.last_mut() {
                    *l = v;
                }
            } else {
                closes.push(v);
                last_day = Some(day);
            }
        }
        let rets: Vec<f64> = closes.windows(2).filter(|w| w[0] != 0.0).map(|w| w[1] / w[0] - 1.0).collect();
        // Undefined (not 0) when the returns do not vary: nothing to divide by.
        let sharpe = (rets.len() >= 2)
            .then(|| {
                let n = rets.len() as f64;
                let mean = rets.iter().sum::<f64>() / n;
                let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
                (var > 0.0).then(|| ((mean / var.sqrt()) * 252f64.sqrt() * 1e4).round() / 1e4)
            })
            .flatten();
        let trades = deals.len();
        Self {
            starting_equity: starting,
            ending_equity: ending,
            net_pnl: ending - starting,
            trades,
            wins,
            win_rate_pct: if trades == 0 {
                Decimal::ZERO
            } else {
                (Decimal::from(wins) / Decimal::from(trades) * Decimal::ONE_HUNDRED).round_dp(2)
            },
            profit_factor,
            max_drawdown: dd,
            max_drawdown_pct: dd_pct,
            sharpe,
            fees,
            note: None,
            denied_orders: 0,
            denials: Vec::new(),
            repeated_denials: 0,
            off_band_prints: 0,
            data_gaps: 0,
            signals_refused_out_of_session: 0,
            feed_latency: None,
            run: None,
        }
    }
}

/// A finished run's report.
#[derive(Debug, Clone)]
pub struct Report {
    /// Contract multiplier of the instrument (for P&L %).
    pub multiplier: Decimal,
    /// The deals.
    pub deals: Vec<Deal>,
    /// The equity curve.
    pub equity: Vec<(Timestamp, Money)>,
    /// The summary.
    pub summary: Summary,
    /// The instrument of the chart's candles (an option agent's underlying; deals of another
    /// instrument are marked on the time axis only).
    pub underlying: String,
    /// Candles and indicator lines for the price chart.
    pub chart: chart::ChartData,
    /// The run's halts.
    pub halts: Vec<chart::Halt>,
}

impl Report {
    /// The report with the count of prints the replay's price band dropped.
    pub fn with_off_band_prints(mut self, dropped: u64) -> Self {
        self.summary.off_band_prints = dropped;
        self
    }

    /// The report with a live feed's latency.
    pub fn with_feed_latency(mut self, latency: LatencySummary) -> Self {
        self.summary.feed_latency = Some(latency);
        self
    }
}

/// A duration in microseconds for text: `850 µs`, `12.3 ms`, `4.1 s`.
pub fn micros(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.1} s", us as f64 / 1e6),
    }
}

/// A price (or an amount of money) for text, to the cent tick every instrument the runner
/// trades uses: at least two decimals (`1.10`, `166.30`), more only when the value has them
/// (an average price).
pub fn price(p: Price) -> String {
    let mut p = p.normalize();
    if p.scale() < 2 {
        p.rescale(2);
    }
    p.to_string()
}

/// An instrument name for text, spelled one way everywhere (the risk rules' messages
/// included): an option's OCC symbol (padded `SPY   131019P00168000`, or compact as a broker
/// lists it) as `SPY 131019P00168000`; any other name as it is.
pub use crate::risk::text::instrument as instrument_text;

/// ISO-8601 with the New York offset, millisecond precision.
pub fn iso(ts: Timestamp) -> String {
    ts.to_new_york().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

fn side_word(s: Side) -> &'static str {
    match s {
        Side::Buy => "long",
        Side::Sell => "short",
    }
}

/// The header of `deals.csv`.
/// `price_source` is `synthetic` when the prices came from a model (options in paper and
/// backtest runs), `market` otherwise.
pub const DEALS_HEADER: &str = "strategy,symbol,side,entry_qty,entry_time,entry_price,exit_qty,exit_time,exit_price,pnl,charges,net_pnl,net_pnl_pct,exit_reason,price_source";

/// The header of the `--trades-csv` export.
pub const TRADES_HEADER: &str = "entry_time,side,qty,entry_price,exit_time,exit_price,pnl,exit_reason";

impl Report {
    /// `deals.csv` text.
    pub fn deals_csv(&self) -> String {
        let mut s = String::from(DEALS_HEADER);
        s.push('\n');
        for d in &self.deals {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                d.strategy,
                d.symbol,
                side_word(d.side),
                d.entry_qty.normalize(),
                iso(d.entry_time),
                d.entry_price.normalize(),
                d.exit_qty.normalize(),
                iso(d.exit_time),
                d.exit_price.normalize(),
                d.pnl.normalize(),
                d.charges.normalize(),
                d.net_pnl().normalize(),
                d.net_pnl_pct(self.multiplier).normalize(),
                d.exit_reason.as_str(),
                d.price_source.as_str()
            );
        }
        s
    }

    /// The `--trades-csv` export (P&L net of charges).
    pub fn trades_csv(&self) -> String {
        let mut s = String::from(TRADES_HEADER);
        s.push('\n');
        for d in &self.deals {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{}",
                iso(d.entry_time),
                side_word(d.side),
                d.entry_qty.normalize(),
                d.entry_price.normalize(),
                iso(d.exit_time),
                d.exit_price.normalize(),
                d.net_pnl().normalize(),
                d.exit_reason.as_str()
            );
        }
        s
    }

    /// Write `deals.csv`, `summary.json`, `equity.svg`, `price.svg` and `run.json` (what the
    /// dashboard's run pages draw, [`view::RunView`]) into `dir` (created if needed).
    pub fn write_dir(&self, dir: &Path, title: &str) -> std::io::Result<()> {
        crate::files::create_private_dir_all(dir)?;
        write_atomic(&dir.join("deals.csv"), self.deals_csv().as_bytes())?;
        let json = serde_json::to_string_pretty(&self.summary).map_err(std::io::Error::other)?;
        write_atomic(&dir.join("summary.json"), json.as_bytes())?;
        // The charts carry the run's caveat (synthetic option prices) as their caption.
        write_atomic(&dir.join("equity.svg"), svg::equity_svg(self, title).as_bytes())?;
        write_atomic(&dir.join("price.svg"), svg::price_svg(self, title).as_bytes())?;
        let view = serde_json::to_string(&view::RunView::of(self)).map_err(std::io::Error::other)?;
        write_atomic(&dir.join("run.json"), view.as_bytes())?;
        Ok(())
    }
}

/// Write a file atomically: a temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The printed deals table's columns: heading, `deals.csv` column, right-aligned.
const TABLE: [(&str, &str, bool); 14] = [
    ("strategy", "strategy", false),
    ("symbol", "symbol", false),
    ("side", "side", false),
    ("qty", "entry_qty", true),
    ("entry at", "entry_time", true),
    ("entry", "entry_price", true),
    ("qty out", "exit_qty", true),
    ("exit at", "exit_time", true),
    ("exit", "exit_price", true),
    ("P&L", "pnl", true),
    ("charges", "charges", true),
    ("net P&L", "net_pnl", true),
    ("net %", "net_pnl_pct", true),
    ("closed by", "exit_reason", false),
];

/// The deals table for the terminal, from `deals.csv` text (columns found by header name, so
/// older files render too). Deals are grouped under their entry date; times show the clock
/// only (an exit on a later day adds its month and day, or its full date in another year). One strategy for every deal goes in the title,
/// several get a column. OCC symbols are spelled as in every other line
/// ([`instrument_text`]: `SPY 131019P00168000`). Same-day option deals fit a 120-column terminal.
fn deals_table(deals_csv: &str) -> String {
    let mut lines = deals_csv.lines();
    let header: Vec<&str> = lines.next().map(|h| h.split(',').collect()).unwrap_or_default();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let cols: Vec<Option<usize>> = TABLE.iter().map(|(_, name, _)| col(name)).collect();
    let rows: Vec<Vec<&str>> = lines.filter(|l| !l.is_empty()).map(|l| l.split(',').collect()).collect();
    fn cell<'a>(r: &[&'a str], c: Option<usize>) -> &'a str {
        c.and_then(|c| r.get(c).copied()).unwrap_or("")
    }
    let strategies: std::collections::BTreeSet<&str> = rows.iter().map(|r| cell(r, cols[0])).collect();
    let one_strategy = strategies.len() <= 1;
    let mut out = String::new();
    match strategies.iter().next() {
        Some(s) if one_strategy && !s.is_empty() => {
            let _ = writeln!(out, "Deals ({}), strategy {s}:", rows.len());
        }
        _ => {
            let _ = writeln!(out, "Deals ({}):", rows.len());
        }
    }
    if rows.is_empty() {
        return out;
    }
    let shown: Vec<usize> =
        (0..TABLE.len()).filter(|&i| cols[i].is_some() && !(i == 0 && one_strategy)).collect();
    // Cells: dates go to the group lines, the exit time keeps its date when it is another day.
    let cells: Vec<(String, Vec<String>)> = rows
        .iter()
        .map(|r| {
            let entry_day = cell(r, cols[4]).get(..10).unwrap_or("").to_owned();
            let cells = shown
                .iter()
                .map(|&i| {
                    let v = cell(r, cols[i]);
                    match TABLE[i].1 {
                        "symbol" => instrument_text(v),
                        "entry_time" => clock(v),
                        "exit_time" if v.get(..10) == Some(entry_day.as_str()) => clock(v),
                        // Another day of the same year: `10-09 09:31:00`.
                        "exit_time" if v.len() == 29 && v.get(..4) == entry_day.get(..4) => {
                            format!("{} {}", &v[5..10], clock(v))
                        }
                        "exit_time" => short_time(v),
                        "net_pnl_pct" => {
                            v.parse::<Decimal>().map_or(v.to_owned(), |d| d.round_dp(2).to_string())
                        }
                        // Prices with at least cents, so the column's decimals line up.
                        "entry_price" | "exit_price" => v.parse::<Decimal>().map_or(v.to_owned(), price),
                        _ => v.to_owned(),
                    }
                })
                .collect();
            (entry_day, cells)
        })
        .collect();
    let mut widths: Vec<usize> = shown.iter().map(|&i| TABLE[i].0.len()).collect();
    for (_, c) in &cells {
        for (w, v) in widths.iter_mut().zip(c) {
            *w = (*w).max(v.chars().count());
        }
    }
    let line = |values: &mut dyn Iterator<Item = &str>| {
        let parts: Vec<String> = values
            .zip(&shown)
            .zip(&widths)
            .map(|((v, &i), &w)| if TABLE[i].2 { format!("{v:>w$}") } else { format!("{v:<w$}") })
            .collect();
        format!("  {}", parts.join("  ").trim_end())
    };
    let _ = writeln!(out, "{}", line(&mut shown.iter().map(|&i| TABLE[i].0)));
    let mut day = "";
    for (d, c) in &cells {
        if d != day {
            let _ = writeln!(out, "  {d}");
            day = d;
        }
        let _ = writeln!(out, "{}", line(&mut c.iter().map(String::as_str)));
    }
    out
}

/// `2013-10-07T10:35:00.000-04:00` → `10:35:00`.
fn clock(v: &str) -> String {
    if v.len() == 29 && v.as_bytes()[10] == b'T' { v[11..19].to_owned() } else { v.to_owned() }
}

/// Render the summary and deals as text for the terminal.
pub fn render(deals_csv: &str, s: &Summary) -> String {
    let mut out = deals_table(deals_csv);
    let _ = writeln!(out, "Summary:");
    let _ = writeln!(out, "  net P&L        {}", s.net_pnl.round_dp(2));
    let _ = writeln!(out, "  trades         {} ({} won, win rate {}%)", s.trades, s.wins, s.win_rate_pct);
    let pf = s.profit_factor.map_or("n/a (no losing trade)".to_owned(), |p| p.round_dp(2).to_string());
    let _ = writeln!(out, "  profit factor  {pf}");
    let _ = writeln!(
        out,
        "  max drawdown   {} ({}%)",
        s.max_drawdown.round_dp(2),
        s.max_drawdown_pct.round_dp(2)
    );
    let sharpe = match s.sharpe {
        Some(v) => format!("{v:.2}"),
        None if s.trades == 0 => "n/a (no trades)".to_owned(),
        None => "n/a (fewer than 2 days, or no change in equity)".to_owned(),
    };
    let _ = writeln!(out, "  Sharpe         {sharpe}");
    let _ = writeln!(out, "  fees           {}", s.fees.round_dp(2));
    let _ =
        writeln!(out, "  equity         {} → {}", s.starting_equity.round_dp(2), s.ending_equity.round_dp(2));
    if s.repeated_denials > 0 {
        let _ = writeln!(
            out,
            "  denied orders  {} (and {} repeats of them the same day, counted, not listed)",
            s.denied_orders, s.repeated_denials
        );
    } else {
        let _ = writeln!(out, "  denied orders  {}", s.denied_orders);
    }
    let _ = writeln!(out, "  dropped prints {} off the price band", s.off_band_prints);
    if s.data_gaps > 0 {
        let _ = writeln!(
            out,
            "  data gaps      {} (trading sessions without a price; see the warnings)",
            s.data_gaps
        );
    }
    if s.signals_refused_out_of_session > 0 {
        let _ = writeln!(
            out,
            "  signals refused {} outside the session (external signals; see the warnings)",
            s.signals_refused_out_of_session
        );
    }
    if let Some(l) = s.feed_latency.as_ref().filter(|l| l.events > 0) {
        let _ = writeln!(
            out,
            "  feed latency   p50 {} / p99 {} / max {} over {} events (exchange time → arrival)",
            micros(l.p50_us),
            micros(l.p99_us),
            micros(l.max_us),
            l.events
        );
    }
    if let Some(note) = &s.note {
        let _ = writeln!(out, "  note           {note}");
    }
    if !s.denials.is_empty() {
        let _ = writeln!(out, "Denied orders ({}):", s.denials.len());
        let names: Vec<String> = s.denials.iter().map(|d| instrument_text(&d.instrument)).collect();
        let w = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        for (d, name) in s.denials.iter().zip(&names) {
            // Summaries from before the instrument column have none to show.
            let instrument = if w == 0 { String::new() } else { format!("{name:<w$}  ") };
            let _ = writeln!(
                out,
                "  {}  {instrument}{:>4}  {:>8}  {}  {}",
                short_time(&d.time),
                d.side,
                d.qty.normalize(),
                d.code,
                d.message
            );
        }
    }
    out
}

/// `2013-10-07T10:35:00.000-04:00` → `2013-10-07 10:35:00` for the terminal table.
fn short_time(v: &str) -> String {
    if v.len() == 29 && v.as_bytes()[10] == b'T' {
        format!("{} {}", &v[..10], &v[11..19])
    } else {
        v.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientOrderId, SymbolId};
    use rust_decimal_macros::dec;

    fn fill(side: Side, qty: Decimal, price: Decimal, ts: i64, purpose: Purpose) -> Fill {
        Fill {
            id: ClientOrderId("x".into()),
            symbol: SymbolId(0),
            instrument: crate::model::InstrumentId::from("SPY"),
            side,
            qty,
            price,
            commission: dec!(1),
            leaves: Decimal::ZERO,
            purpose,
            ts: Timestamp(ts),
        }
    }

    #[test]
    fn fills_become_deals_and_metrics() {
        let mut r = Recorder::new("ma-cross-breakout", "SPY", Decimal::ONE);
        r.on_fill(&fill(Side::Buy, dec!(50), dec!(10), 1, Purpose::Entry));
        r.on_fill(&fill(Side::Buy, dec!(50), dec!(12), 2, Purpose::Add));
        r.on_fill(&fill(Side::Sell, dec!(100), dec!(13), 3, Purpose::Exit(ExitReason::Target)));
        r.on_fill(&fill(Side::Sell, dec!(10), dec!(13), 4, Purpose::Entry));
        r.on_fill(&fill(Side::Buy, dec!(10), dec!(14), 5, Purpose::Exit(ExitReason::Stop)));
        r.sample(Timestamp(3), dec!(1197));
        r.sample(Timestamp(5), dec!(1185));
        let rep = r.finish(dec!(1000), dec!(1185), dec!(5));
        assert_eq!(rep.deals.len(), 2);
        let d = &rep.deals[0];
        assert_eq!(
            (d.side, d.entry_qty, d.entry_price, d.exit_price),
            (Side::Buy, dec!(100), dec!(11), dec!(13))
        );
        assert_eq!((d.pnl, d.charges, d.exit_reason), (dec!(200), dec!(3), ExitReason::Target));
        assert_eq!(rep.deals[1].pnl, dec!(-10));
        let s = &rep.summary;
        assert_eq!((s.trades, s.wins, s.win_rate_pct), (2, 1, dec!(50)));
        assert_eq!(s.profit_factor, Some((dec!(197) / dec!(12)).round_dp(4)));
        assert_eq!(s.max_drawdown, dec!(12));
        let csv = rep.trades_csv();
        assert!(csv.starts_with(TRADES_HEADER));
        assert!(csv.lines().nth(1).unwrap().contains(",long,100,11,"), "{csv}");
    }

    #[test]
    fn a_target_position_deal_shows_the_largest_size_held_not_the_sum_of_adjustments() {
        let mut r = Recorder::new("target-position", "BTC-USD", Decimal::ONE);
        r.on_fill(&fill(Side::Buy, dec!(10), dec!(100), 1, Purpose::Entry));
        r.on_fill(&fill(Side::Buy, dec!(6), dec!(100), 2, Purpose::Adjust));
        r.on_fill(&fill(Side::Sell, dec!(5), dec!(110), 3, Purpose::Adjust));
        r.on_fill(&fill(Side::Buy, dec!(5), dec!(100), 4, Purpose::Adjust));
        r.on_fill(&fill(Side::Sell, dec!(16), dec!(110), 5, Purpose::Exit(ExitReason::Signal)));
        let rep = r.finish(dec!(1000), dec!(1000), dec!(0));
        let d = &rep.deals[0];
        assert_eq!(
            (d.entry_qty, d.exit_qty, d.entry_price, d.exit_price),
            (dec!(16), dec!(16), dec!(100), dec!(110))
        );
        assert_eq!(d.pnl, dec!(210));
    }

    #[test]
    fn prices_show_cents_and_occ_symbols_one_spelling() {
        assert_eq!(
            (price(dec!(1.1)), price(dec!(166.3)), price(dec!(50000))),
            ("1.10".into(), "166.30".into(), "50000.00".into())
        );
        assert_eq!(price(dec!(1.8450)), "1.845");
        for name in ["SPY   131019P00168000", "SPY131019P00168000"] {
            assert_eq!(instrument_text(name), "SPY 131019P00168000");
        }
        for name in ["SPY", "BTC-USD", "SPY call", "SPY   131019X00168000"] {
            assert_eq!(instrument_text(name), name);
        }
    }

    #[test]
    fn the_denied_orders_table_names_the_instrument() {
        let denied = |instrument: &str| DeniedOrder {
            time: "2013-10-07T15:21:53.000-04:00".into(),
            instrument: instrument.into(),
            side: "buy".into(),
            qty: dec!(20),
            code: "halted".into(),
            message: "the agent is halted".into(),
        };
        let r = Recorder::new("ma-cross-breakout", "SPY", Decimal::ONE_HUNDRED);
        let mut s = r.finish(dec!(1000), dec!(1000), dec!(0)).summary;
        s.denials = vec![denied("SPY   131019P00168000"), denied("SPY call")];
        let text = render(DEALS_HEADER, &s);
        assert!(
            text.contains("  2013-10-07 15:21:53  SPY 131019P00168000   buy        20  halted"),
            "{text}"
        );
        assert!(
            text.contains("  2013-10-07 15:21:53  SPY call              buy        20  halted"),
            "{text}"
        );
        // A summary.json written before the column existed still reads and renders.
        let json = serde_json::to_value(&s).expect("json");
        let mut old = json.clone();
        old["denials"][0].as_object_mut().expect("object").remove("instrument");
        old["denials"][1].as_object_mut().expect("object").remove("instrument");
        let old: Summary = serde_json::from_value(old).expect("old summary");
        assert_eq!(old.denials[0].instrument, "");
        assert!(render(DEALS_HEADER, &old).contains("  2013-10-07 15:21:53   buy        20  halted"));
    }

    #[test]
    fn the_deals_table_shows_every_deals_csv_column_in_120_columns() {
        let csv = format!(
            "{DEALS_HEADER}\n\
             ma-cross-breakout,SPY   131019P00168000,long,20,2013-10-07T11:01:32.000-04:00,1.85,20,2013-10-07T11:35:10.000-04:00,1.7,-300,26,-326,-8.8108,signal\n\
             ma-cross-breakout,SPY   131019C00166000,long,20,2013-10-08T15:50:00.000-04:00,1.5,15,2013-10-09T09:31:00.000-04:00,1.6,150,26,124,4.1333,session end\n"
        );
        let text = deals_table(&csv);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Deals (2), strategy ma-cross-breakout:", "{text}");
        let head = lines[1];
        for h in
            ["symbol", "side", "qty", "entry at", "entry", "qty out", "exit at", "exit", "P&L", "charges"]
        {
            assert!(head.contains(h), "{h}: {text}");
        }
        assert!(head.contains("net P&L") && head.contains("net %") && head.ends_with("closed by"), "{text}");
        assert_eq!(lines[2], "  2013-10-07");
        let cols = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            cols(lines[3]),
            [
                "SPY",
                "131019P00168000",
                "long",
                "20",
                "11:01:32",
                "1.85",
                "20",
                "11:35:10",
                "1.70",
                "-300",
                "26",
                "-326",
                "-8.81",
                "signal"
            ]
        );
        // Held overnight: the exit keeps its date; the exit quantity is its own column.
        assert_eq!(lines[4], "  2013-10-08");
        let overnight = cols(lines[5]);
        assert_eq!(
            (&overnight[4], &overnight[6], &overnight[7]),
            (&"15:50:00".into(), &"15".into(), &"10-09".into())
        );
        assert!(lines[5].ends_with("session end"), "{text}");
        // Same-day option deals (the usual case: flat by the close) fit a 120-column terminal.
        let same_day = csv.replace("2013-10-09T09:31:00", "2013-10-08T15:55:00");
        let text = deals_table(&same_day);
        assert!(text.lines().all(|l| l.chars().count() <= 120), "{text}");
        // Two strategies: a column instead of the title.
        let mixed = csv.replacen("ma-cross-breakout,SPY   131019C", "correlation,SPY   131019C", 1);
        let text = deals_table(&mixed);
        assert!(text.starts_with("Deals (2):\n  strategy  "), "{text}");
        assert!(text.contains("\n  correlation        SPY 131019C00166000"), "{text}");
        // No deals: the title only.
        assert_eq!(deals_table(DEALS_HEADER), "Deals (0):\n");
    }

    #[test]
    fn sharpe_is_not_available_when_equity_never_moves() {
        let day = 86_400_000_000_000;
        let mut r = Recorder::new("ma-cross-breakout", "SPY", Decimal::ONE);
        for d in 0..4 {
            r.sample(Timestamp(d * day + 1), dec!(1000));
        }
        let s = r.finish(dec!(1000), dec!(1000), dec!(0)).summary;
        assert_eq!((s.trades, s.sharpe), (0, None));
        assert!(render(DEALS_HEADER, &s).contains("  Sharpe         n/a (no trades)\n"));
        let json = serde_json::to_value(&s).expect("json");
        assert!(json["sharpe"].is_null(), "{json}");
    }
}
