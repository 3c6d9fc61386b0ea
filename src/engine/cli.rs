//! `runner up`, `runner backtest` and `runner status`.

use crate::cli::{CmdResult, ExitError, GlobalArgs};

/// Arguments of `runner up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {}

/// Arguments of `runner backtest`.
#[derive(Debug, clap::Args)]
pub struct BacktestArgs {}

/// Arguments of `runner status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

/// Run `runner up`.
pub fn up(_args: UpArgs, _g: &GlobalArgs) -> CmdResult {
    Err(ExitError::usage("`runner up` is not implemented yet").into())
}

/// Run `runner backtest`.
pub fn backtest(_args: BacktestArgs, _g: &GlobalArgs) -> CmdResult {
    Err(ExitError::usage("`runner backtest` is not implemented yet").into())
}

/// Run `runner status`.
pub fn status(_args: StatusArgs, _g: &GlobalArgs) -> CmdResult {
    Err(ExitError::usage("`runner status` is not implemented yet").into())
}
