//! The agent loop: clocks, backtest and live-style runs, the fleet manager.

pub mod cli;
