//! `runner report`.

use crate::cli::{CmdResult, ExitError, GlobalArgs};

/// Arguments of `runner report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {}

/// Run `runner report`.
pub fn report(_args: ReportArgs, _g: &GlobalArgs) -> CmdResult {
    Err(ExitError::usage("`runner report` is not implemented yet").into())
}
