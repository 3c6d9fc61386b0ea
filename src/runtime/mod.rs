//! The runtime: the only place that knows tokio, venues, the journal, locks and the recipe →
//! component build. It wires an agent (`crate::engine`, pure) to its market data and its venue
//! and drives it: synchronously for a backtest, as tasks for `runner up`.
//!
//! - [`lockstep`]: an agent and a simulated venue stepped together (backtests, paper runs).

pub mod lockstep;
