//! Market data: typed events, replay of recorded files, sessions and candle building.
//!
//! - [`event`]: the events themselves ([`Trade`](event::Trade), [`Quote`](event::Quote),
//!   [`Bar`](event::Bar), [`MarketEvent`](event::MarketEvent), [`Candle`](event::Candle)).
//! - [`csv`]: the hand-rolled CSV/CSV.gz reader ([`csv::CsvSource`], [`csv::MarketDataError`]).
//! - [`lean`]: Lean's own zip files (`equity/usa/minute/spy/20131007_trade.zip`).
//! - [`replay`]: [`replay::Replay`] merges files/dirs/globs in time order; [`replay::SyntheticTrades`]
//!   turns vendor bars into trades for a trade-driven engine.
//! - [`session`]: [`session::Timeframe`], [`session::SessionSpec`] and the
//!   [`session::SessionCalendar`] trait through which the NYSE calendar plugs in.
//! - [`candles`]: [`candles::CandleBuilder`], time buckets that never span sessions.
//! - [`transform`]: Heikin-Ashi and Renko on any candle stream.
//! - [`cli`]: `runner candles`.
//!
//! Typical use (backtest): `Replay::open("data/spy-1s-trade-2013-10-07_11.csv.gz", &opts)?`
//! → optionally `SyntheticTrades::new(replay, BarTradePolicy::default())` → for each event,
//! `CandleBuilder::on_event` → completed [`Candle`](event::Candle)s → indicators → strategy.
//! Any such stream is a [`MarketData`] source.

pub mod candles;
pub mod cli;
pub mod csv;
pub mod event;
pub mod lean;
pub mod replay;
pub mod session;
pub mod transform;

/// A time-ordered source of market events: the replay today, live adapters later. Anything
/// that iterates `Result<MarketEvent, MarketDataError>` and is `Send` is one.
pub trait MarketData: Iterator<Item = Result<event::MarketEvent, csv::MarketDataError>> + Send {}

impl<T> MarketData for T where T: Iterator<Item = Result<event::MarketEvent, csv::MarketDataError>> + Send {}
