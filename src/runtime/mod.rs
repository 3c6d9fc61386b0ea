//! The runtime: what runs the components. It is the only place that knows tokio, the venues,
//! the journal, the account locks and the recipe → component build; the components
//! (`strategy`, `decision`, `risk`, `indicators`, `market`, `options`) know none of them, and
//! `tests/layering.rs` keeps it so.
//!
//! - [`build`](crate::runtime::build): the recipe → component build: each component from the recipe block that
//!   configures it, with the recipe key to blame when it refuses.
//!
//! The drivers (backtest, `runner up`'s tasks, the fleet) join it from `engine` with the
//! engine/runtime split.

pub mod build;
