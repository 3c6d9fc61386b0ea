//! Crash-safe journal: SQLite (WAL, `synchronous=FULL`) records plus a hash-chained audit log.
//!
//! What belongs here: the record types the engine writes ([`record`]), the store and its
//! rebuild queries ([`store`]), the one rule for which journaled day trades and positions count
//! (`history`), a run's results from its fills ([`totals`]), the audit chain ([`audit`]), the business-day window used for day-trade counts
//! ([`window`]) and the `runner journal` commands ([`cli`]).
//! See `docs/journal.md` for the schema, the durability guarantees and the limits of `verify`.

pub mod audit;
pub mod cli;
pub mod history;
pub mod record;
pub mod store;
pub mod totals;
pub mod window;

pub use history::{AsOf, Counted, FIRST_EVENT_KEY};
pub use record::{
    ControlRecord, DayTradeRecord, DenialRecord, FillRecord, HaltRecord, HaltScope, NewRun, OrderRecord,
    OrderStatus, OrderType, PositionRecord, RunId, RunMode, RunRecord, SignalRecord,
};
pub use store::{Batch, Durability, Filter, Journal, JournalError, VerifyReport, WalSync, checkpoint};
pub use totals::RunTotals;

/// Default journal location, relative to the project directory.
pub const DEFAULT_PATH: &str = "journal/runner.db";
