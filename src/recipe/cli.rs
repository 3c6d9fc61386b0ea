//! `runner validate`, `runner show` and `runner schema`.

use std::path::PathBuf;

use crate::cli::{CmdResult, ExitError, GlobalArgs};

/// Arguments of `runner validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Recipe files or directories (searched recursively for *.yaml and *.yml).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Arguments of `runner show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The recipe to print.
    pub recipe: PathBuf,
}

/// Arguments of `runner schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Exit non-zero when the committed schema files are stale instead of writing them.
    #[arg(long)]
    pub check: bool,
}

/// Run `runner validate`.
pub fn validate(_args: ValidateArgs, _g: &GlobalArgs) -> CmdResult {
    Err(ExitError::usage("`runner validate` is not implemented yet").into())
}

/// Run `runner show`.
pub fn show(_args: ShowArgs, _g: &GlobalArgs) -> CmdResult {
    Err(ExitError::usage("`runner show` is not implemented yet").into())
}

/// Run `runner schema`.
pub fn schema(_args: SchemaArgs, _g: &GlobalArgs) -> CmdResult {
    Err(ExitError::usage("`runner schema` is not implemented yet").into())
}
