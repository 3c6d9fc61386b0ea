//! Run reports: deals table, summary metrics, CSV export and equity-curve chart.

pub mod cli;
