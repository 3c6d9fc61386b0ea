//! `runner calendar`: print NYSE trading days with their hours (early closes and late opens with
//! the reason; with `--all`, closed days with the reason too).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use chrono::{Datelike, Days, NaiveDate, Utc};

use super::{Calendar, DayKind};
use crate::cli::{CmdResult, ExitError, GlobalArgs};

/// Output format of `runner calendar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CalendarFormat {
    /// Aligned columns for people.
    Table,
    /// Comma-separated values with a header line.
    Csv,
}

/// Arguments of `runner calendar`.
#[derive(Debug, clap::Args)]
pub struct CalendarArgs {
    /// First date (YYYY-MM-DD); defaults to today in New York.
    #[arg(long, value_name = "DATE")]
    pub from: Option<NaiveDate>,
    /// Last date, inclusive (YYYY-MM-DD); defaults to 30 days after --from.
    #[arg(long, value_name = "DATE")]
    pub to: Option<NaiveDate>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CalendarFormat::Table)]
    pub format: CalendarFormat,
    /// Also list closed days (weekends, holidays, special closures) with the reason.
    #[arg(long)]
    pub all: bool,
}

/// Run `runner calendar`.
pub fn calendar(args: CalendarArgs, _g: &GlobalArgs) -> CmdResult {
    let cal = Calendar::nyse();
    let from = args.from.unwrap_or_else(|| Utc::now().with_timezone(&cal.timezone()).date_naive());
    let to = match args.to {
        Some(to) => to,
        None => from.checked_add_days(Days::new(30)).unwrap_or(from),
    };
    if to < from {
        return Err(ExitError::usage(format!("--to {to} is before --from {from}")).into());
    }
    let days = cal.days(from, to).map_err(|e| ExitError::usage(e.to_string()))?;

    let mut out = String::new();
    match args.format {
        CalendarFormat::Csv => out.push_str("date,status,pre_open,open,close,post_close,reason\n"),
        CalendarFormat::Table => {
            let _ = writeln!(
                out,
                "{:<10}  {:<3}  {:<6}  {:>8}  {:>5}  {:>5}  {:>10}  note",
                "date", "day", "status", "pre_open", "open", "close", "post_close"
            );
        }
    }
    for (date, kind) in days {
        if !args.all && !kind.is_trading() {
            continue;
        }
        let session = cal.session(date).map_err(|e| ExitError::usage(e.to_string()))?;
        let hm = |t: chrono::DateTime<chrono_tz::Tz>| t.format("%H:%M").to_string();
        let (pre, open, close, post) = match session {
            Some(s) => (hm(s.pre_open), hm(s.open), hm(s.close), hm(s.post_close)),
            None => Default::default(),
        };
        let (status, reason) = match kind {
            DayKind::Open => ("open", ""),
            DayKind::EarlyClose(r) => ("early", r),
            DayKind::LateOpen(r) => ("late", r),
            DayKind::Closed(r) => ("closed", r),
        };
        match args.format {
            CalendarFormat::Csv => {
                let reason = if reason.contains([',', '"']) {
                    format!("\"{}\"", reason.replace('"', "\"\""))
                } else {
                    reason.to_owned()
                };
                let _ = writeln!(out, "{date},{status},{pre},{open},{close},{post},{reason}");
            }
            CalendarFormat::Table => {
                let wd = date.weekday().to_string();
                let line = format!(
                    "{date:<10}  {wd:<3}  {status:<6}  {pre:>8}  {open:>5}  {close:>5}  {post:>10}  {reason}"
                );
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| ExitError::usage(format!("cannot write to standard output: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
