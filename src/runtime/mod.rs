//! The runtime: what runs the components. It is the only place that knows tokio, the venues,
//! the journal, the account locks and the recipe → component build; the components
//! (`strategy`, `decision`, `risk`, `indicators`, `market`, `options`) know none of them, and
//! `tests/layering.rs` keeps it so. It wires an agent (`crate::engine`, pure) to its market data
//! and its venue and drives it: synchronously for a backtest, as tasks for `runner up`.
//!
//! - [`build`](crate::runtime::build): the recipe → component build: each component from the
//!   recipe block that configures it, with the recipe key to blame when it refuses;
//! - [`lockstep`](crate::runtime::lockstep): an agent and a simulated venue stepped together
//!   (backtests, paper runs).

pub mod build;
pub mod lockstep;
