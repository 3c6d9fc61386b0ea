//! A run as the dashboard draws it: one JSON document with the price chart (candles and the
//! strategy's indicator lines), the equity curve, the deals (the report's columns), halts,
//! denials and the summary.
//!
//! What belongs here: turning a [`Report`] — a finished run's, or a running agent's report so
//! far ([`crate::engine::agent::Agent::report_so_far`]) — into [`RunView`]. A finished run's
//! directory holds it as `run.json` ([`Report::write_dir`]), so a backtest opens in the same
//! pages as a live agent. Money and prices are decimal strings, times RFC 3339 UTC.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Report, Summary, iso, side_word};
use crate::model::{Money, Price};

/// Everything the run pages show of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunView {
    /// The instrument of the candles (an option agent's underlying).
    pub instrument: String,
    /// The indicator lines' names, in the order of each candle's `lines`.
    pub lines: Vec<String>,
    /// Candles, oldest first (bounded: long runs are merged, see [`super::chart`]).
    pub candles: Vec<CandleView>,
    /// Equity after each candle, oldest first.
    pub equity: Vec<EquityPoint>,
    /// Closed deals, oldest first.
    pub deals: Vec<DealView>,
    /// Halts (and operator disables), with why.
    pub halts: Vec<HaltView>,
    /// The run's summary (the same as `summary.json`).
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub summary: Summary,
}

/// One candle and the strategy's indicator values at its close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CandleView {
    /// Start.
    pub t: String,
    /// Open.
    pub o: Price,
    /// High.
    pub h: Price,
    /// Low.
    pub l: Price,
    /// Close.
    pub c: Price,
    /// Indicator values in [`RunView::lines`] order (`null` while warming up).
    pub v: Vec<Option<Decimal>>,
}

/// Equity at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EquityPoint {
    /// When.
    pub t: String,
    /// Account equity.
    pub equity: Money,
    /// How far below its peak so far (zero or positive).
    pub drawdown: Money,
}

/// A closed deal, with the columns of `deals.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DealView {
    /// Strategy.
    pub strategy: String,
    /// Instrument.
    pub symbol: String,
    /// `long` or `short`.
    pub side: String,
    /// Size.
    pub entry_qty: Decimal,
    /// First entry.
    pub entry_time: String,
    /// Average entry price.
    pub entry_price: Price,
    /// Quantity closed.
    pub exit_qty: Decimal,
    /// Last exit.
    pub exit_time: String,
    /// Average exit price.
    pub exit_price: Price,
    /// Gross P&L.
    pub pnl: Money,
    /// Commissions.
    pub charges: Money,
    /// Net P&L.
    pub net_pnl: Money,
    /// Net P&L in percent of the entry value.
    pub net_pnl_pct: Decimal,
    /// How it closed.
    pub exit_reason: String,
    /// `market` or `synthetic`.
    pub price_source: String,
}

/// A halt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HaltView {
    /// When.
    pub t: String,
    /// Why.
    pub reason: String,
}

impl RunView {
    /// The view of `report`.
    pub fn of(report: &Report) -> Self {
        let chart = &report.chart;
        let mut peak = Decimal::MIN;
        Self {
            instrument: report.underlying.clone(),
            lines: chart.names.iter().map(|n| (*n).to_owned()).collect(),
            candles: chart
                .candles
                .iter()
                .map(|c| CandleView {
                    t: iso(c.start),
                    o: c.open,
                    h: c.high,
                    l: c.low,
                    c: c.close,
                    v: c.lines.clone(),
                })
                .collect(),
            equity: report
                .equity
                .iter()
                .map(|(ts, e)| {
                    peak = peak.max(*e);
                    EquityPoint { t: iso(*ts), equity: e.round_dp(2), drawdown: (peak - *e).round_dp(2) }
                })
                .collect(),
            deals: report
                .deals
                .iter()
                .map(|d| DealView {
                    strategy: d.strategy.clone(),
                    symbol: d.symbol.clone(),
                    side: side_word(d.side).to_owned(),
                    entry_qty: d.entry_qty.normalize(),
                    entry_time: iso(d.entry_time),
                    entry_price: d.entry_price.normalize(),
                    exit_qty: d.exit_qty.normalize(),
                    exit_time: iso(d.exit_time),
                    exit_price: d.exit_price.normalize(),
                    pnl: d.pnl.normalize(),
                    charges: d.charges.normalize(),
                    net_pnl: d.net_pnl().normalize(),
                    net_pnl_pct: d.net_pnl_pct(report.multiplier).normalize(),
                    exit_reason: d.exit_reason.as_str().to_owned(),
                    price_source: d.price_source.as_str().to_owned(),
                })
                .collect(),
            halts: report.halts.iter().map(|h| HaltView { t: iso(h.ts), reason: h.reason.clone() }).collect(),
            summary: report.summary.clone(),
        }
    }
}
