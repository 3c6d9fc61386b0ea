//! `runner calendar`.

use crate::cli::{CmdResult, ExitError, GlobalArgs};

/// Arguments of `runner calendar`.
#[derive(Debug, clap::Args)]
pub struct CalendarArgs {}

/// Run `runner calendar`.
pub fn calendar(_args: CalendarArgs, _g: &GlobalArgs) -> CmdResult {
    Err(ExitError::usage("`runner calendar` is not implemented yet").into())
}
