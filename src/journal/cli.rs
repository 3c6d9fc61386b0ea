//! `runner journal`.

use crate::cli::{CmdResult, ExitError, GlobalArgs};

/// Arguments of `runner journal`.
#[derive(Debug, clap::Args)]
pub struct JournalArgs {}

/// Run `runner journal`.
pub fn journal(_args: JournalArgs, _g: &GlobalArgs) -> CmdResult {
    Err(ExitError::usage("`runner journal` is not implemented yet").into())
}
