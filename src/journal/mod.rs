//! Crash-safe journal: SQLite (WAL) records plus a hash-chained audit log.

pub mod cli;
