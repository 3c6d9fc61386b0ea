//! `runner report RUN`: re-print a saved run from its directory.

use std::path::PathBuf;

use crate::cli::{CmdResult, ExitError, GlobalArgs};

/// Arguments of `runner report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A run directory (holding deals.csv and summary.json) or a run id under `.runner/runs/`.
    pub run: PathBuf,
}

/// Run `runner report`.
pub fn report(args: ReportArgs, _g: &GlobalArgs) -> CmdResult {
    let dir =
        if args.run.is_dir() { args.run.clone() } else { PathBuf::from(".runner/runs").join(&args.run) };
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| ExitError::usage(format!("cannot read {}: {e}", dir.join(name).display())))
    };
    let deals = read("deals.csv")?;
    let summary: super::Summary = serde_json::from_str(&read("summary.json")?).map_err(|e| {
        ExitError::usage(format!("{}: not a run summary: {e}", dir.join("summary.json").display()))
    })?;
    let text =
        format!("{}Equity chart: {}\n", super::render(&deals, &summary), dir.join("equity.svg").display());
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) ends the output quietly.
    let _ = std::io::Write::write_all(&mut out, text.as_bytes());
    Ok(std::process::ExitCode::SUCCESS)
}
