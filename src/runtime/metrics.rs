//! Prometheus metrics of a running fleet (`GET /metrics`).
//!
//! What belongs here: the metric families (per agent and fleet), updated by the fleet driver as
//! events happen ([`Metrics::on_event`], the observe functions) and rendered in the Prometheus
//! text format with the agents' current numbers ([`Metrics::render`]).

use crate::engine::agent::AgentEvent;

use super::hub::AgentView;

/// The fleet's metrics.
#[derive(Debug, Default)]
pub struct Metrics {}

impl Metrics {
    /// Metrics for the agents `names` (their label values), in agent order.
    pub fn new(_names: &[String]) -> Self {
        Self {}
    }

    /// Count what agent `agent` (its index) just did.
    pub fn on_event(&self, _agent: usize, _ev: &AgentEvent) {}

    /// A market event reached agent `agent` this many seconds after its exchange time.
    pub fn observe_feed_latency(&self, _agent: usize, _seconds: f64) {}

    /// Agent `agent`'s journal took this many seconds to write one event.
    pub fn observe_journal_write(&self, _agent: usize, _seconds: f64) {}

    /// The text exposition, with the agents' current numbers and loop lag (seconds since each
    /// agent's loop last ran).
    pub fn render(&self, _agents: &[AgentView], _loop_lag: &[f64]) -> String {
        String::new()
    }
}
