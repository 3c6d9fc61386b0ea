//! `runner` runs automated trading agents described by declarative YAML recipes.
//!
//! The binary is a thin wrapper around [`cli::main`]; everything lives in this library
//! so integration tests and benchmarks can reach it.

/// Market calendars: NYSE sessions, holidays, early closes.
pub mod calendar;
/// Command-line interface: argument parsing, logging set-up, dispatch and exit codes.
pub mod cli;
/// Decision engine: signal + position + account → order intents.
pub mod decision;
/// The agent loop, clocks, backtest and live-style runs.
pub mod engine;
/// Files runner writes and reads back: private permissions, bounded reads.
pub mod files;
/// Incremental technical indicators in `Decimal`.
pub mod indicators;
/// Crash-safe SQLite journal with a hash-chained audit log.
pub mod journal;
/// Market data: events, replay sources and candle building.
pub mod market;
/// Domain types shared across modules: ids, money, instruments.
pub mod model;
/// Options: OCC symbols, chains, pricing and contract selection.
pub mod options;
/// Recipes: the typed model, the schema, loading and validation.
pub mod recipe;
/// Run reports: deals, metrics, equity curve.
pub mod report;
/// Risk gate and US compliance rulebook.
pub mod risk;
/// The runtime: tokio, venues, the journal, locks and the recipe → component build.
pub mod runtime;
/// SOPS-compatible secrets vault.
pub mod secrets;
/// Trading strategies (pure, synchronous).
pub mod strategy;
/// Text from files and other processes made safe to print on a terminal.
pub mod text;
/// Venues: the execution and market-data traits, and the simulated venue.
pub mod venue;
