//! Prometheus metrics of a running fleet (`GET /metrics`).
//!
//! What belongs here: the metric families (per agent and fleet), updated by the fleet driver as
//! events happen ([`Metrics::on_event`], the observe functions) and rendered in the Prometheus
//! text format (version 0.0.4, [`CONTENT_TYPE`]) with the agents' current numbers
//! ([`Metrics::render`]).
//!
//! Two kinds of numbers:
//! - Counters and histograms (orders by status, denials by reason, fills, reconnects, feed
//!   latency, journal write latency) are counted as events happen. [`Metrics::on_event`] runs on
//!   every agent event on the trading path, so it only touches atomics handed out at start
//!   (one per agent and label value), never allocates for the common events, and ignores
//!   candles; a denial (rare) may create its reason's series the first time.
//! - Gauges (equity, P&L, position, data age, loop lag, state, health, the fleet's day P&L and
//!   loss limit) are set from the [`AgentView`]s handed to [`Metrics::render`], so they are
//!   current at scrape time and never drift from what the dashboard shows.
//!
//! Names follow the Prometheus conventions: the `runner_` prefix, base units (seconds,
//! dollars of the account currency), `_total` for counters. The list is in `docs/metrics.md`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::engine::agent::AgentEvent;
use crate::model::Money;
use crate::model::account::{Connectivity, Link};
use crate::model::order::OrderEvent;

use super::hub::AgentView;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Order statuses counted by `runner_orders_total{status}`, in [`status_index`] order.
const STATUSES: [&str; 7] =
    ["submitted", "accepted", "filled", "partially_filled", "canceled", "rejected", "expired"];

/// Connections counted by `runner_reconnects_total{link}`, in [`link_index`] order.
const LINKS: [&str; 3] = ["venue", "feed", "signals"];

/// Agent states of `runner_agent_state{state}` (as [`AgentView::state`] spells them).
const STATES: [&str; 5] = ["active", "reduce-only", "halted", "disabled", "stopped"];

/// Upper bounds (seconds) of the feed latency histogram: exchange time to the agent.
const FEED_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Upper bounds (seconds) of the journal write histogram: one event into SQLite.
const JOURNAL_BUCKETS: [f64; 13] =
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentLabel {
    agent: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    agent: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    agent: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LinkLabel {
    agent: String,
    link: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    agent: String,
    state: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// A histogram with fixed bounds, updated with atomics only (the library's own takes a lock
/// per observation). The sum is kept in nanoseconds.
#[derive(Debug, Clone)]
struct Hist {
    inner: std::sync::Arc<HistInner>,
}

#[derive(Debug)]
struct HistInner {
    bounds: &'static [f64],
    /// Per bucket (not cumulative); the last one is `+Inf`.
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Hist {
    fn new(bounds: &'static [f64]) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self { inner: std::sync::Arc::new(HistInner { bounds, counts, sum_nanos: AtomicU64::new(0) }) }
    }

    fn observe(&self, seconds: f64) {
        // A clock that went backwards, or NaN: counted as zero rather than lost.
        let s = if seconds.is_finite() && seconds > 0.0 { seconds } else { 0.0 };
        let i = self.inner.bounds.iter().position(|b| s <= *b).unwrap_or(self.inner.bounds.len());
        self.inner.counts[i].fetch_add(1, Ordering::Relaxed);
        // `as` saturates: a silly value cannot wrap the sum.
        self.inner.sum_nanos.fetch_add((s * 1e9) as u64, Ordering::Relaxed);
    }
}

impl TypedMetric for Hist {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Hist {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let h = &self.inner;
        let mut buckets = Vec::with_capacity(h.counts.len());
        let mut count = 0;
        for (i, c) in h.counts.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            count += n;
            buckets.push((h.bounds.get(i).copied().unwrap_or(f64::INFINITY), n));
        }
        let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

fn new_feed_hist() -> Hist {
    Hist::new(&FEED_BUCKETS)
}

fn new_journal_hist() -> Hist {
    Hist::new(&JOURNAL_BUCKETS)
}

/// One agent's handles (clones of the registered families' series).
#[derive(Debug)]
struct Slot {
    name: String,
    orders: [Counter; STATUSES.len()],
    fills: Counter,
    reconnects: [Counter; LINKS.len()],
    down: [AtomicBool; LINKS.len()],
    feed_latency: Hist,
    journal_write: Hist,
    equity: FloatGauge,
    pnl_today: FloatGauge,
    pnl_total: FloatGauge,
    realized: FloatGauge,
    unrealized: FloatGauge,
    position: FloatGauge,
    data_age: FloatGauge,
    loop_lag: FloatGauge,
    healthy: FloatGauge,
    state: [FloatGauge; STATES.len()],
}

/// The fleet's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    slots: Vec<Slot>,
    denials: Family<ReasonLabel, Counter>,
    fleet_pnl_today: FloatGauge,
    fleet_pnl_total: FloatGauge,
    fleet_loss_limit: FloatGauge,
    agents_gauge: FloatGauge,
    loss_limit: Mutex<Option<Money>>,
    /// One render at a time: the gauges are set, then encoded.
    rendering: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(&[])
    }
}

fn gauge_family(registry: &mut Registry, name: &str, help: &str) -> Family<AgentLabel, FloatGauge> {
    let f = Family::<AgentLabel, FloatGauge>::default();
    registry.register(name, help, f.clone());
    f
}

fn gauge(registry: &mut Registry, name: &str, help: &str) -> FloatGauge {
    let g = FloatGauge::default();
    registry.register(name, help, g.clone());
    g
}

fn decimal(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

impl Metrics {
    /// Metrics for the agents `names` (their label values), in agent order.
    pub fn new(names: &[String]) -> Self {
        let mut r = Registry::with_prefix("runner");
        let orders = Family::<StatusLabel, Counter>::default();
        r.register("orders", "Order lifecycle events from the venue, by status.", orders.clone());
        let denials = Family::<ReasonLabel, Counter>::default();
        r.register("denials", "Orders the risk gate refused, by reason code.", denials.clone());
        let fills = Family::<AgentLabel, Counter>::default();
        r.register("fills", "Fills (partial and complete).", fills.clone());
        let reconnects = Family::<LinkLabel, Counter>::default();
        r.register("reconnects", "Connections that came back after going down.", reconnects.clone());
        let feed = Family::<AgentLabel, Hist, fn() -> Hist>::new_with_constructor(new_feed_hist);
        r.register(
            "feed_latency_seconds",
            "Live market data: exchange time to the agent, in seconds.",
            feed.clone(),
        );
        let journal = Family::<AgentLabel, Hist, fn() -> Hist>::new_with_constructor(new_journal_hist);
        r.register(
            "journal_write_seconds",
            "Time of one journal commit of the agent, in seconds.",
            journal.clone(),
        );
        let equity = gauge_family(&mut r, "equity_dollars", "Account equity now.");
        let pnl_today =
            gauge_family(&mut r, "pnl_today_dollars", "Equity change since the trading day's start.");
        let pnl_total = gauge_family(&mut r, "pnl_total_dollars", "Equity change since the run's start.");
        let realized = gauge_family(&mut r, "realized_pnl_dollars", "Realized P&L of the run so far.");
        let unrealized = gauge_family(
            &mut r,
            "unrealized_pnl_dollars",
            "Equity change of the run not yet realized (the open position's mark).",
        );
        let position = gauge_family(&mut r, "position", "Signed position (shares, contracts or coins).");
        let data_age =
            gauge_family(&mut r, "data_age_seconds", "Wall-clock seconds since the latest market event.");
        let loop_lag =
            gauge_family(&mut r, "loop_lag_seconds", "Wall-clock seconds since the agent's loop last ran.");
        let healthy = gauge_family(&mut r, "agent_healthy", "1 when the agent is healthy, else 0.");
        let state = Family::<StateLabel, FloatGauge>::default();
        r.register("agent_state", "1 for the agent's current trading state, else 0.", state.clone());
        let agents_gauge = gauge(&mut r, "fleet_agents", "Agents in this runner up.");
        let fleet_pnl_today = gauge(&mut r, "fleet_pnl_today_dollars", "The agents' day P&L, summed.");
        let fleet_pnl_total = gauge(&mut r, "fleet_pnl_total_dollars", "The agents' run P&L, summed.");
        let fleet_loss_limit = FloatGauge::default();

        let slots = names
            .iter()
            .map(|name| {
                let agent = AgentLabel { agent: name.clone() };
                let g = |f: &Family<AgentLabel, FloatGauge>| f.get_or_create(&agent).clone();
                Slot {
                    name: name.clone(),
                    orders: STATUSES.map(|status| {
                        orders.get_or_create(&StatusLabel { agent: name.clone(), status }).clone()
                    }),
                    fills: fills.get_or_create(&agent).clone(),
                    reconnects: LINKS.map(|link| {
                        reconnects.get_or_create(&LinkLabel { agent: name.clone(), link }).clone()
                    }),
                    down: [AtomicBool::new(false), AtomicBool::new(false), AtomicBool::new(false)],
                    feed_latency: feed.get_or_create(&agent).clone(),
                    journal_write: journal.get_or_create(&agent).clone(),
                    equity: g(&equity),
                    pnl_today: g(&pnl_today),
                    pnl_total: g(&pnl_total),
                    realized: g(&realized),
                    unrealized: g(&unrealized),
                    position: g(&position),
                    data_age: g(&data_age),
                    loop_lag: g(&loop_lag),
                    healthy: g(&healthy),
                    state: STATES
                        .map(|s| state.get_or_create(&StateLabel { agent: name.clone(), state: s }).clone()),
                }
            })
            .collect();
        Self {
            registry: r,
            slots,
            denials,
            fleet_pnl_today,
            fleet_pnl_total,
            fleet_loss_limit,
            agents_gauge,
            loss_limit: Mutex::new(None),
            rendering: Mutex::new(()),
        }
    }

    /// The fleet daily loss limit (a positive amount) `runner_fleet_loss_limit_dollars` shows;
    /// without one the metric is absent.
    pub fn set_loss_limit(&self, limit: Option<Money>) {
        *self.loss_limit.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = limit;
    }

    /// Count what agent `agent` (its index) just did.
    #[inline]
    pub fn on_event(&self, agent: usize, ev: &AgentEvent) {
        let Some(slot) = self.slots.get(agent) else { return };
        match ev {
            AgentEvent::Order(o) => {
                if let Some(i) = status_index(o) {
                    slot.orders[i].inc();
                }
                if matches!(o, OrderEvent::Filled(_) | OrderEvent::PartiallyFilled(_)) {
                    slot.fills.inc();
                }
            }
            AgentEvent::Denied(d) => {
                self.denials
                    .get_or_create(&ReasonLabel { agent: slot.name.clone(), reason: d.reason.code() })
                    .inc();
            }
            AgentEvent::Connectivity(c) => match c {
                Connectivity::Down { link, .. } => {
                    slot.down[link_index(*link)].store(true, Ordering::Relaxed)
                }
                Connectivity::Up { link, .. } => {
                    let i = link_index(*link);
                    if slot.down[i].swap(false, Ordering::Relaxed) {
                        slot.reconnects[i].inc();
                    }
                }
                Connectivity::Gap { .. } => {}
            },
            _ => {}
        }
    }

    /// A market event reached agent `agent` this many seconds after its exchange time.
    #[inline]
    pub fn observe_feed_latency(&self, agent: usize, seconds: f64) {
        if let Some(s) = self.slots.get(agent) {
            s.feed_latency.observe(seconds);
        }
    }

    /// One journal commit of agent `agent` took this many seconds.
    #[inline]
    pub fn observe_journal_write(&self, agent: usize, seconds: f64) {
        if let Some(s) = self.slots.get(agent) {
            s.journal_write.observe(seconds);
        }
    }

    /// The text exposition, with the agents' current numbers and loop lag (seconds since each
    /// agent's loop last ran).
    pub fn render(&self, agents: &[AgentView], loop_lag: &[f64]) -> String {
        let _one = self.rendering.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut today = Decimal::ZERO;
        let mut total = Decimal::ZERO;
        for (i, v) in agents.iter().enumerate() {
            today += v.pnl_today;
            total += v.pnl_total;
            // The views come in agent order; look the name up if they ever do not.
            let slot = match self.slots.get(i) {
                Some(s) if s.name == v.name => s,
                _ => match self.slots.iter().find(|s| s.name == v.name) {
                    Some(s) => s,
                    None => continue,
                },
            };
            slot.equity.set(decimal(v.equity));
            slot.pnl_today.set(decimal(v.pnl_today));
            slot.pnl_total.set(decimal(v.pnl_total));
            slot.realized.set(decimal(v.realized));
            slot.unrealized.set(decimal(v.pnl_total - v.realized));
            slot.position.set(decimal(v.position.qty));
            slot.data_age.set(v.data_age_seconds);
            slot.loop_lag.set(loop_lag.get(i).copied().unwrap_or(0.0));
            slot.healthy.set(if v.health == "ok" { 1.0 } else { 0.0 });
            for (s, g) in STATES.iter().zip(&slot.state) {
                g.set(if *s == v.state { 1.0 } else { 0.0 });
            }
        }
        self.agents_gauge.set(agents.len() as f64);
        self.fleet_pnl_today.set(decimal(today));
        self.fleet_pnl_total.set(decimal(total));
        let limit = *self.loss_limit.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::with_capacity(8192 + 4096 * self.slots.len());
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        if let Some(limit) = limit {
            // Only with a limit: an absent limit is no metric rather than a zero one.
            self.fleet_loss_limit.set(decimal(limit));
            let mut r = Registry::with_prefix("runner");
            r.register(
                "fleet_loss_limit_dollars",
                "The fleet daily loss limit (positive).",
                self.fleet_loss_limit.clone(),
            );
            let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &r);
        }
        out
    }
}

fn status_index(o: &OrderEvent) -> Option<usize> {
    Some(match o {
        OrderEvent::Submitted { .. } => 0,
        OrderEvent::Accepted { .. } => 1,
        OrderEvent::Filled(_) => 2,
        OrderEvent::PartiallyFilled(_) => 3,
        OrderEvent::Canceled { .. } => 4,
        OrderEvent::Rejected { .. } => 5,
        OrderEvent::Expired { .. } => 6,
        _ => return None,
    })
}

fn link_index(l: Link) -> usize {
    match l {
        Link::Venue => 0,
        Link::Feed => 1,
        Link::Signals => 2,
    }
}
