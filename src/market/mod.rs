//! Market data: typed events, replay sources and candle building.

pub mod cli;
pub mod event;
