//! The agent loop: clocks, backtest and live-style runs, the fleet manager.

pub mod account_lock;
pub mod cli;
