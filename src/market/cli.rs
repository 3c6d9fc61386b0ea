//! `runner candles`: print the candles (and indicator values) the engine computes.
//!
//! `runner candles DATA --timeframe 5m [--session regular|extended|full|HH:MM-HH:MM]
//! [--indicators sma:9,atr:14,donchian:20] [--transform heikin-ashi|renko:SIZE]
//! [--format table|csv] [--from DATE] [--to DATE] [--tz ZONE] [--bar-length 1m]
//! [--all-prints] [--price-band off|DEVIATION,WINDOW]`
//!
//! The candles come from [`crate::market::candles::CandleBuilder`] with the session of
//! [`crate::market::session::Window`] and pass through [`crate::engine::candles::CandleStyle`]:
//! the very code an agent runs for its strategy, so a recipe's candles can be checked against
//! another tool. `--session` means what a recipe's `session.hours` means (NYSE calendar:
//! holidays have no session, early closes end at 13:00; `full` is 24x7); the grid is aligned to
//! New York midnight, as in the engine.
//!
//! Prints off the recent price are dropped by the price band a recipe gets by default
//! ([`crate::market::band`], `provider.price_band`), so the candles are the strategy's; the
//! number dropped goes to stderr.
//!
//! `DATA` is a file, directory or glob (see [`crate::market::replay`]), or `-` for stdin. Vendor bars roll up
//! as aggregates; trades (ticks) build candles; quotes only move the clock. `--from`/`--to` are
//! inclusive local dates in `--tz`. Candles are labelled by start; times print in `--tz`.
//!
//! With `--from`, the whole trading days before it that hold the indicators' warm-up
//! ([`IndicatorSpec::warm_up`], one candle at least) are read first and feed the transform and
//! the indicators without being printed, so the values printed from `--from` on are those of a
//! run over all the data (exactly so for windowed indicators; EMA and ATR keep a fading trace of
//! older candles). A note on stderr says how many candles the warm-up read.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use chrono::NaiveDate;
use chrono_tz::Tz;
use clap::ValueEnum;
use rust_decimal::Decimal;

use crate::cli::{CmdResult, ExitError, GlobalArgs};
use crate::engine::candles::CandleStyle;
use crate::indicators::{CandleIndicator, IndicatorSpec};
use crate::market::candles::CandleBuilder;
use crate::market::csv::{CsvOptions, MarketDataError, from_read, parse_duration_token};
use crate::market::event::Candle;
use crate::market::replay::{Replay, ReplayOptions};
use crate::market::session::{SessionClock, SessionHours, Timeframe, Window, local_instant};
use crate::market::transform::{HeikinAshi, Renko};
use crate::model::Timestamp;
use crate::recipe::defaults;
use crate::recipe::model::PriceBand;

/// Arguments of `runner candles`.
#[derive(Debug, clap::Args)]
pub struct CandlesArgs {
    /// Market data: a CSV/CSV.gz file or Lean zip, a directory of them, a glob (quote it), or
    /// `-` for standard input (give --bar-length for bars).
    pub data: String,
    /// Candle length, 1s to 4h, or 1d for one candle per session (e.g. 30s, 1m, 5m, 1h, 4h, 1d).
    #[arg(long, short = 't', default_value = "1m", value_parser = parse_timeframe)]
    pub timeframe: Timeframe,
    /// Hours that count, as a recipe's session.hours: regular (NYSE 09:30-16:00, 13:00 on
    /// early-close days, none on holidays), extended (04:00-20:00, 17:00 on early-close days),
    /// full (24x7, weekends included) or HH:MM-HH:MM (New York time, on NYSE trading days).
    #[arg(long, short = 's', default_value = "regular", value_parser = parse_session)]
    pub session: Window,
    /// Comma-separated indicators: sma:N, ema:N, atr:N, donchian:N, swings:N, pivots, fractals.
    #[arg(long, short = 'i', value_parser = parse_indicators)]
    pub indicators: Option<IndicatorList>,
    /// Transform the candles before indicators: heikin-ashi or renko:BRICK_SIZE.
    #[arg(long, value_parser = parse_transform)]
    pub transform: Option<TransformSpec>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// First local date to include (YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last local date to include (YYYY-MM-DD, inclusive).
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Time zone of printed times and of --from/--to (sessions and the candle grid are New
    /// York's, as in the engine).
    #[arg(long, default_value = "America/New_York", value_parser = parse_tz)]
    pub tz: Tz,
    /// Bar length of bar files when their name does not say (e.g. 1s, 1m).
    #[arg(long, value_parser = parse_bar_length)]
    pub bar_length: Option<i64>,
    /// Tick files: keep prints that do not set the last sale price (average-price, cash,
    /// next-day, seller's-option, prior-reference, out-of-sequence, odd-lot), as the engine's
    /// `provider.all_prints` does. Skipped by default.
    #[arg(long)]
    pub all_prints: bool,
    /// Drop trades (bars by low/high) more than DEVIATION from the last accepted price of the
    /// past WINDOW, as a recipe's provider.price_band does (the default is a recipe's); `off`
    /// keeps every print.
    #[arg(long, value_name = "off|DEVIATION,WINDOW", default_value_t = defaults::PRICE_BAND)]
    pub price_band: PriceBand,
}

/// How `runner candles` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    Table,
    /// Comma-separated values with a header line.
    Csv,
}

/// A candle transform named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransformSpec {
    /// Heikin-Ashi.
    HeikinAshi,
    /// Renko with this brick size.
    Renko(Decimal),
}

/// The recipe's timeframe syntax, also accepting upper case and the units `sec`, `min`, `hour`.
fn parse_timeframe(s: &str) -> Result<Timeframe, String> {
    let t = s.trim().to_ascii_lowercase();
    let unit = t.trim_start_matches(|c: char| c.is_ascii_digit());
    let short = match unit {
        "sec" => "s",
        "min" => "m",
        "hour" => "h",
        "day" => "d",
        other => other,
    };
    format!("{}{short}", &t[..t.len() - unit.len()]).parse().map_err(|_| {
        format!(
            "bad timeframe `{s}`: expected e.g. 1s, 30s, 5m, 1h, 4h, 1d (1s to 4h, or 1d for one session)"
        )
    })
}

fn parse_session(s: &str) -> Result<Window, String> {
    s.parse()
}

/// A comma-separated list of indicators (one clap value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorList(pub Vec<IndicatorSpec>);

fn parse_indicators(s: &str) -> Result<IndicatorList, String> {
    IndicatorSpec::parse_list(s).map(IndicatorList)
}

fn parse_tz(s: &str) -> Result<Tz, String> {
    s.parse::<Tz>()
        .map_err(|_| format!("unknown time zone `{s}` (expected an IANA name like America/New_York or UTC)"))
}

fn parse_bar_length(s: &str) -> Result<i64, String> {
    parse_duration_token(&s.trim().to_ascii_lowercase())
        .ok_or_else(|| format!("bad bar length `{s}`: expected e.g. 1s, 1m"))
}

fn parse_transform(s: &str) -> Result<TransformSpec, String> {
    let t = s.trim().to_ascii_lowercase();
    if matches!(t.as_str(), "heikin-ashi" | "heikin_ashi" | "ha") {
        return Ok(TransformSpec::HeikinAshi);
    }
    if let Some(size) = t.strip_prefix("renko:") {
        let size = Decimal::from_str_exact(size.trim())
            .ok()
            .filter(|d| *d > Decimal::ZERO)
            .ok_or_else(|| format!("bad Renko brick size `{size}`: expected a positive decimal"))?;
        return Ok(TransformSpec::Renko(size));
    }
    Err(format!("bad transform `{s}`: expected heikin-ashi or renko:SIZE"))
}

fn data_error(e: MarketDataError) -> anyhow::Error {
    ExitError::usage(e.to_string()).into()
}

/// Applies the candle style (the optional transform), then the indicators, to each completed candle.
struct Pipeline {
    style: CandleStyle,
    indicators: Vec<CandleIndicator>,
}

impl Pipeline {
    fn rows(&mut self, c: &Candle) -> anyhow::Result<Vec<(Candle, Vec<Option<Decimal>>)>> {
        let mut rows = Vec::with_capacity(1);
        let indicators = &mut self.indicators;
        self.style
            .apply(c, |c| {
                let values = indicators.iter_mut().flat_map(|i| i.update(c)).collect();
                rows.push((*c, values));
            })
            .map_err(ExitError::usage)?;
        Ok(rows)
    }
}

/// Run `runner candles`.
pub fn candles(args: CandlesArgs, _g: &GlobalArgs) -> CmdResult {
    let tz = args.tz;
    let day_start = |d: NaiveDate| {
        local_instant(d, 0, tz).ok_or_else(|| ExitError::usage(format!("{d} has no midnight in {tz}")))
    };
    let from = args.from.map(day_start).transpose()?;
    let to = match args.to {
        Some(d) => {
            Some(local_instant(d, 86_400, tz).ok_or_else(|| ExitError::usage(format!("bad --to date {d}")))?)
        }
        None => None,
    };
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ExitError::usage("--from must not be after --to").into());
    }
    let hours = SessionHours { window: args.session, flatten_at: None };
    let specs = args.indicators.map(|l| l.0).unwrap_or_default();
    let warm_from = match args.from {
        Some(date) => {
            let candles = specs.iter().map(IndicatorSpec::warm_up).max().unwrap_or(0) + 1;
            let mut clock = SessionClock::new(hours.zone(), hours);
            let start = clock.warm_up_start(date, candles as u64, args.timeframe.nanos());
            (start < date).then(|| day_start(start)).transpose()?
        }
        None => None,
    };
    let opts = ReplayOptions {
        bar_duration: args.bar_length,
        from: warm_from.or(from),
        to,
        all_prints: args.all_prints,
        price_band: args.price_band.config(),
        ..ReplayOptions::default()
    };
    let replay = if args.data == "-" {
        let csv_opts = CsvOptions {
            bar_duration: args.bar_length,
            all_prints: args.all_prints,
            ..CsvOptions::default()
        };
        let src = from_read("<stdin>", std::io::stdin(), &csv_opts).map_err(data_error)?;
        Replay::from_sources(vec![src], &opts)
    } else {
        Replay::open(&args.data, &opts)
    }
    .map_err(data_error)?;
    let dropped = replay.dropped_prints();
    let bar_len = replay.max_bar_duration();
    if bar_len > args.timeframe.nanos() {
        return Err(ExitError::usage(format!(
            "timeframe {} is shorter than the data's bars ({}s); bars are not split",
            args.timeframe,
            bar_len / Timestamp::NANOS_PER_SEC
        ))
        .into());
    }
    let mut builder = CandleBuilder::with_timeframe(opts.symbol, args.timeframe, hours);
    let mut pipeline = Pipeline {
        style: match args.transform {
            None => CandleStyle::Standard,
            Some(TransformSpec::HeikinAshi) => CandleStyle::HeikinAshi(HeikinAshi::new()),
            Some(TransformSpec::Renko(size)) => {
                CandleStyle::Renko(Renko::new(size).map_err(ExitError::usage)?)
            }
        },
        indicators: specs
            .iter()
            .map(IndicatorSpec::build)
            .collect::<Result<_, _>>()
            .map_err(ExitError::usage)?,
    };
    let mut header: Vec<String> =
        ["start", "end", "open", "high", "low", "close", "volume"].iter().map(|s| (*s).to_owned()).collect();
    header.extend(specs.iter().flat_map(IndicatorSpec::columns));

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut table: Vec<Vec<String>> = Vec::new();
    let (mut count, mut warmed) = (0usize, 0usize);
    let mut emit = |c: &Candle, out: &mut BufWriter<_>| -> anyhow::Result<()> {
        for (candle, values) in pipeline.rows(c)? {
            // A warm-up candle (before --from) feeds the transform and indicators, unprinted.
            if from.is_some_and(|f| candle.start < f) {
                warmed += 1;
                continue;
            }
            count += 1;
            let mut row = vec![
                fmt_ts(candle.start, tz),
                fmt_ts(candle.end, tz),
                candle.open.normalize().to_string(),
                candle.high.normalize().to_string(),
                candle.low.normalize().to_string(),
                candle.close.normalize().to_string(),
                candle.volume.normalize().to_string(),
            ];
            row.extend(values.into_iter().map(|v| v.map(fmt_value).unwrap_or_default()));
            match args.format {
                OutputFormat::Csv => writeln!(out, "{}", row.join(","))?,
                OutputFormat::Table => table.push(row),
            }
        }
        Ok(())
    };
    let write_result = (|| -> anyhow::Result<()> {
        if args.format == OutputFormat::Csv {
            writeln!(out, "{}", header.join(","))?;
        }
        for ev in replay {
            let ev = ev.map_err(data_error)?;
            if let Some(c) = builder.on_event(&ev) {
                emit(&c, &mut out)?;
            }
        }
        if let Some(c) = builder.flush() {
            emit(&c, &mut out)?;
        }
        Ok(())
    })();
    if let Err(e) = write_result {
        if is_broken_pipe(&e) {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e);
    }
    if args.format == OutputFormat::Table {
        let res = write_table(&mut out, &header, &table);
        if let Err(e) = res
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            return Err(e.into());
        }
    }
    if let Err(e) = out.flush()
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e.into());
    }
    if dropped.get() > 0 {
        eprintln!(
            "note: the price band dropped {} off-market print(s) (--price-band off keeps them)",
            dropped.get()
        );
    }
    if let Some(start) = warm_from {
        eprintln!(
            "note: warm-up: {warmed} candle(s) from {} before --from fed the indicators, not printed",
            fmt_ts(start, tz)
        );
    }
    if count == 0 {
        eprintln!(
            "warning: no candles: the data has no trades or bars inside the session (try --session extended or full)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

fn fmt_ts(ts: Timestamp, tz: Tz) -> String {
    ts.to_exchange(tz).format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// Indicator values: at most 8 decimal places, no trailing zeros.
fn fmt_value(v: Decimal) -> String {
    v.round_dp(8).normalize().to_string()
}

fn write_table(out: &mut impl Write, header: &[String], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(String::len).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| if i < 2 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(header))?;
    for row in rows {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}
