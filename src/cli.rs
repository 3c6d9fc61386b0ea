//! Command-line interface: the clap command tree, logging set-up, dispatch and exit codes.
//!
//! Each subcommand's arguments and implementation live in the module that owns the
//! behaviour (`recipe::cli`, `secrets::cli`, …); this file only wires them together.
//!
//! Exit codes (documented in README.md):
//! - `0` success;
//! - `1` the command ran and found a problem (invalid recipe, failed check, refused run);
//! - `2` usage error or I/O error (bad arguments, unreadable file).

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// An error that carries the exit code the process should end with.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitError {
    /// Process exit code.
    pub code: u8,
    /// Human-readable message, printed as `error: {message}`.
    pub message: String,
}

impl ExitError {
    /// A usage or I/O error (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self { code: 2, message: message.into() }
    }

    /// A problem found by the command (exit code 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self { code: 1, message: message.into() }
    }
}

/// What every command returns: the exit code on success paths, an error otherwise.
pub type CmdResult = anyhow::Result<ExitCode>;

/// Run automated trading agents from declarative YAML recipes.
#[derive(Debug, Parser)]
#[command(name = "runner", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). `RUST_LOG` overrides.
    /// Coloured only on a terminal without `NO_COLOR`.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Format of log lines on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate recipes and the fleet file; report every problem with file:line:column.
    Validate(crate::recipe::cli::ValidateArgs),
    /// Print a recipe fully resolved, with defaults filled in (secret values never shown).
    Show(crate::recipe::cli::ShowArgs),
    /// Write (or check) the JSON Schemas generated from the recipe types.
    Schema(crate::recipe::cli::SchemaArgs),
    /// Run agents live-style (paper or live brokers; replay data is paced).
    Up(crate::runtime::cli::UpArgs),
    /// Backtest a recipe over recorded data as fast as possible.
    Backtest(crate::runtime::cli::BacktestArgs),
    /// Show the report of a finished run (a run id, `latest`, or a run directory).
    Report(crate::report::cli::ReportArgs),
    /// List runs: id, agent, mode, data range, trades, net P&L and outcome.
    Runs(crate::report::cli::RunsArgs),
    /// Print the candles and indicator values the engine computes from market data.
    Candles(crate::market::cli::CandlesArgs),
    /// Print the NYSE trading calendar.
    Calendar(crate::calendar::cli::CalendarArgs),
    /// Manage SOPS-encrypted secrets.
    Secrets(crate::secrets::cli::SecretsArgs),
    /// Query and verify the journal.
    Journal(crate::journal::cli::JournalArgs),
    /// Show every running agent: state, position, P&L and health.
    Status(crate::runtime::cli::StatusArgs),
    /// External signal sources: record a Redis stream for backtests.
    Signals(SignalsArgs),
}

/// Arguments of `runner signals`.
#[derive(Debug, clap::Args)]
pub struct SignalsArgs {
    #[command(subcommand)]
    pub command: SignalsCommand,
}

/// The `runner signals` subcommands.
#[derive(Debug, Subcommand)]
pub enum SignalsCommand {
    /// Copy a Redis stream's entries into the signals CSV that backtests replay (no group, no ack).
    Record(crate::runtime::signal_feed::record::RecordArgs),
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    init_logging(&cli.global);
    match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            let code = exit_code(&err);
            eprintln!("error: {err:#}");
            ExitCode::from(code)
        }
    }
}

/// The exit code of a failed command: 2 for a usage or I/O error, 1 for a problem the command
/// found (README, "Exit codes").
fn exit_code(err: &anyhow::Error) -> u8 {
    use crate::runtime::RunError;
    if let Some(e) = err.downcast_ref::<ExitError>() {
        return e.code;
    }
    match err.downcast_ref::<RunError>() {
        Some(RunError::Unusable(_)) => 2,
        Some(RunError::Refused(_)) | None => 1,
    }
}

fn dispatch(cli: Cli) -> CmdResult {
    let g = &cli.global;
    match cli.command {
        Command::Validate(a) => {
            let online = a.online.then(|| (a.paths.clone(), a.fleet.clone()));
            let code = crate::recipe::cli::validate(a, g)?;
            match online {
                Some((paths, fleet)) if code == ExitCode::SUCCESS => {
                    crate::runtime::online::validate(&paths, fleet)
                }
                _ => Ok(code),
            }
        }
        Command::Show(a) => crate::recipe::cli::show(a, g),
        Command::Schema(a) => crate::recipe::cli::schema(a, g),
        Command::Up(a) => crate::runtime::cli::up(a, g),
        Command::Backtest(a) => crate::runtime::cli::backtest(a, g),
        Command::Report(a) => crate::report::cli::report(a, g),
        Command::Runs(a) => crate::report::cli::runs(a, g),
        Command::Candles(a) => crate::market::cli::candles(a, g),
        Command::Calendar(a) => crate::calendar::cli::calendar(a, g),
        Command::Secrets(a) => crate::secrets::cli::secrets(a, g),
        Command::Journal(a) => crate::journal::cli::journal(a, g),
        Command::Status(a) => crate::runtime::cli::status(a, g),
        Command::Signals(a) => match a.command {
            SignalsCommand::Record(r) => crate::runtime::signal_feed::record::record(r),
        },
    }
}

/// Whether log lines on stderr get colour escapes: only on a terminal, and never when
/// `NO_COLOR` is set to a non-empty value (<https://no-color.org>). A log redirected to a
/// file or a pipe stays plain text.
fn log_colours(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

fn init_logging(g: &GlobalArgs) {
    use tracing_subscriber::EnvFilter;
    let default = match g.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(log_colours(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR"),
        ));
    // A second initialisation (only possible in tests) is harmless: ignore it.
    let _ = match g.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::log_colours;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(log_colours(true, None));
        assert!(log_colours(true, Some("".into())));
        assert!(!log_colours(true, Some("1".into())));
        assert!(!log_colours(false, None));
    }
}
