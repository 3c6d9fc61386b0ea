//! Market data: typed events, replay of recorded files, sessions and candle building.
//!
//! - [`event`]: the events themselves ([`Trade`](event::Trade), [`Quote`](event::Quote),
//!   [`Bar`](event::Bar), [`MarketEvent`](event::MarketEvent), [`Candle`](event::Candle)).
//! - [`csv`]: the hand-rolled CSV/CSV.gz reader ([`csv::CsvSource`], [`csv::MarketDataError`]).
//! - [`replay`]: [`replay::Replay`] merges files/dirs/globs in time order; [`replay::SyntheticTrades`]
//!   turns vendor bars into trades for a trade-driven engine.
//! - [`session`]: [`session::Timeframe`], [`session::SessionSpec`] and the
//!   [`session::SessionCalendar`] trait through which the NYSE calendar plugs in.
//! - [`candles`]: [`candles::CandleBuilder`], time buckets that never span sessions.
//! - [`transform`]: Heikin-Ashi and Renko on any candle stream.
//! - [`cli`]: `runner candles`.

pub mod candles;
pub mod cli;
pub mod csv;
pub mod event;
pub mod replay;
pub mod session;
pub mod transform;
