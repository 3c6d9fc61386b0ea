//! `runner up`, `runner backtest` and `runner status`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::NaiveDate;

use super::run::{self, DateRange};
use crate::cli::{CmdResult, ExitError, GlobalArgs};
use crate::recipe::types::Speed;
use crate::report::{self, Report};

/// Arguments of `runner up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Recipe files to run.
    #[arg(required = true)]
    pub recipes: Vec<PathBuf>,
    /// Replay pacing: `max` or a multiple of real time such as `60x` (overrides the recipe).
    #[arg(long)]
    pub speed: Option<Speed>,
    /// Also write the closed trades as CSV to this file.
    #[arg(long)]
    pub trades_csv: Option<PathBuf>,
    /// Directory for the run report (default `.runner/runs/<run-id>`).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
}

/// Arguments of `runner backtest`.
#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// The recipe file.
    pub recipe: PathBuf,
    /// First trading date (YYYY-MM-DD, New York), inclusive.
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last trading date (YYYY-MM-DD, New York), inclusive.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Also write the closed trades as CSV to this file.
    #[arg(long)]
    pub trades_csv: Option<PathBuf>,
    /// Directory for the run report (default `.runner/runs/<run-id>`).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
}

/// Arguments of `runner status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

fn run_id(agent: &str, mode: &str) -> String {
    format!("{agent}-{mode}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"))
}

fn finish(report: &Report, title: &str, dir: &Path, trades_csv: Option<&Path>) -> anyhow::Result<()> {
    report
        .write_dir(dir, title)
        .map_err(|e| ExitError::usage(format!("cannot write report to {}: {e}", dir.display())))?;
    if let Some(path) = trades_csv {
        report::write_atomic(path, report.trades_csv().as_bytes())
            .map_err(|e| ExitError::usage(format!("cannot write {}: {e}", path.display())))?;
    }
    say(&format!(
        "== {title}\n{}Report: {} (deals.csv, summary.json, equity.svg)\n",
        report::render(&report.deals_csv(), &report.summary),
        dir.display()
    ));
    Ok(())
}

/// Print to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Run `runner up`.
pub fn up(args: UpArgs, _g: &GlobalArgs) -> CmdResult {
    if args.recipes.len() > 1 && args.trades_csv.is_some() {
        return Err(ExitError::usage("--trades-csv takes one recipe").into());
    }
    // Load and build every agent before starting any.
    let mut agents = Vec::with_capacity(args.recipes.len());
    for path in &args.recipes {
        let p = run::prepare(path)?;
        let agent = run::build_agent(&p)?;
        let replay = run::open_replay(&p, DateRange::default())?;
        let speed = args.speed.or(p.recipe.provider.speed).unwrap_or(Speed::Max);
        let name = p.recipe.agent.clone();
        say(&format!("{name}: paper broker, replaying {} at {speed}\n", p.data.display()));
        agents.push(run::LiveAgent { agent, replay, speed, name });
    }
    let names: Vec<String> = agents.iter().map(|a| a.name.clone()).collect();
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(ExitError::failed(format!("agent `{dup}` is given twice")).into());
    }
    let reports = run::live(agents)?;
    let many = names.len() > 1;
    for (name, report) in names.iter().zip(&reports) {
        let dir = match &args.report_dir {
            Some(d) if many => d.join(name),
            Some(d) => d.clone(),
            None => PathBuf::from(".runner/runs").join(run_id(name, "up")),
        };
        finish(report, &format!("{name} (paper, replay)"), &dir, args.trades_csv.as_deref())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Run `runner backtest`.
pub fn backtest(args: BacktestArgs, _g: &GlobalArgs) -> CmdResult {
    if let (Some(f), Some(t)) = (args.from, args.to)
        && f > t
    {
        return Err(ExitError::usage(format!("--from {f} is after --to {t}")).into());
    }
    let p = run::prepare(&args.recipe)?;
    let agent = run::build_agent(&p)?;
    let replay = run::open_replay(&p, DateRange { from: args.from, to: args.to })?;
    let report = run::backtest(agent, replay).map_err(|e| ExitError::usage(format!("{e:#}")))?;
    let name = &p.recipe.agent;
    let dir = args
        .report_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(".runner/runs").join(run_id(name, "backtest")));
    finish(&report, &format!("{name} (backtest)"), &dir, args.trades_csv.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

/// Run `runner status`.
pub fn status(_args: StatusArgs, _g: &GlobalArgs) -> CmdResult {
    Err(ExitError::usage("`runner status` is not implemented yet").into())
}
