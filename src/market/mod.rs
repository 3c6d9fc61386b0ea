//! Market data: typed events, replay of recorded files, sessions and candle building.
//!
//! - [`event`](crate::market::event): the events themselves ([`Trade`](crate::market::event::Trade), [`Quote`](crate::market::event::Quote),
//!   [`Bar`](crate::market::event::Bar), [`MarketEvent`](crate::market::event::MarketEvent), [`Candle`](crate::market::event::Candle)).
//! - [`csv`](crate::market::csv): the hand-rolled CSV/CSV.gz reader ([`csv::CsvSource`](crate::market::csv::CsvSource), [`csv::MarketDataError`](crate::market::csv::MarketDataError)).
//! - [`lean`](crate::market::lean): Lean's own zip files (`equity/usa/minute/spy/20131007_trade.zip`).
//! - `pipeline`: a file inflated and parsed on two helper threads, ahead of its reader.
//! - [`replay`](crate::market::replay): [`replay::Replay`](crate::market::replay::Replay) merges files/dirs/globs in time order; [`replay::SyntheticTrades`](crate::market::replay::SyntheticTrades)
//!   turns vendor bars into trades for a trade-driven engine.
//! - [`band`](crate::market::band): [`band::PriceBand`](crate::market::band::PriceBand), the off-market print filter a replay applies
//!   (`provider.price_band`, `runner candles --price-band`).
//! - [`session`](crate::market::session): [`session::Timeframe`](crate::market::session::Timeframe), the session
//!   [`session::Window`](crate::market::session::Window) (NYSE calendar, explicit hours, 24x7) and the trading-day
//!   [`session::SessionClock`](crate::market::session::SessionClock): the one session implementation.
//! - [`candles`](crate::market::candles): [`candles::CandleBuilder`](crate::market::candles::CandleBuilder), the one
//!   candle aggregation, shared by the engine's agents and `runner candles`.
//! - [`transform`](crate::market::transform): Heikin-Ashi and Renko on any candle stream.
//! - [`cli`](crate::market::cli): `runner candles`.
//!
//! Typical use (backtest): `Replay::open("data/spy-1s-trade-2013-10-07_11.csv.gz", &opts)?`
//! → optionally `SyntheticTrades::new(replay, BarTradePolicy::default())` → for each event,
//! `CandleBuilder::on_event` (the agent: `CandleBuilder::on_price`) → completed
//! [`Candle`](crate::market::event::Candle)s → candle style → indicators → strategy.
//! Any such stream is a [`MarketData`](crate::market::MarketData) source.

pub mod band;
pub mod candles;
pub mod cli;
pub mod csv;
pub mod event;
pub mod lean;
mod pipeline;
pub mod replay;
pub mod session;
pub mod transform;

/// A time-ordered source of market events: the replay today, live adapters later. Anything
/// that iterates `Result<MarketEvent, MarketDataError>` and is `Send` is one.
pub trait MarketData: Iterator<Item = Result<event::MarketEvent, csv::MarketDataError>> + Send {}

impl<T> MarketData for T where T: Iterator<Item = Result<event::MarketEvent, csv::MarketDataError>> + Send {}
