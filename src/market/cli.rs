//! `runner candles`.

use crate::cli::{CmdResult, ExitError, GlobalArgs};

/// Arguments of `runner candles`.
#[derive(Debug, clap::Args)]
pub struct CandlesArgs {}

/// Run `runner candles`.
pub fn candles(_args: CandlesArgs, _g: &GlobalArgs) -> CmdResult {
    Err(ExitError::usage("`runner candles` is not implemented yet").into())
}
