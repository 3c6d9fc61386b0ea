//! `runner secrets`.

use crate::cli::{CmdResult, ExitError, GlobalArgs};

/// Arguments of `runner secrets`.
#[derive(Debug, clap::Args)]
pub struct SecretsArgs {}

/// Run `runner secrets`.
pub fn secrets(_args: SecretsArgs, _g: &GlobalArgs) -> CmdResult {
    Err(ExitError::usage("`runner secrets` is not implemented yet").into())
}
