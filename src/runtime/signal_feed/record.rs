//! `runner signals record`: copy a Redis stream's entries into the signals CSV that the
//! `external-signal` algorithm replays (see `strategy::external_signal`), so a live signal day
//! can be backtested through the same agent.
//!
//! The stream is read with `XRANGE` in pages (no consumer group, nothing acknowledged: a
//! running agent's group is untouched). Each entry's time is its id's millisecond part, written
//! as RFC 3339 with the New York offset; the direction becomes `b`/`s`, the strength a percentage
//! (100 when the entry has none). Entries that are not signals are skipped and listed on stderr
//! with their ids. The file is written whole or not at all (temp file + rename).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use redis::{AsyncConnectionConfig, Value};

use super::redis::{client, describe, entry_body, entry_time, read_entries, redact_url};
use super::{FieldMap, Side};
use crate::runtime::RunError;
use crate::strategy::external_signal::MAX_SIGNAL_FILE_BYTES;

/// Arguments of `runner signals record`.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The server: `redis://host:port[/db]` or `rediss://…` (TLS). Put no password here: use
    /// --password-env. Default: the recipe's (--fields-from).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The stream key, e.g. `nvda`. Default: the recipe's (--fields-from).
    #[arg(long, value_name = "KEY")]
    pub stream: Option<String>,
    /// Take the URL, the stream and the field names from this recipe's
    /// `algorithm.signals` (`source: redis`); flags win.
    #[arg(long, value_name = "RECIPE")]
    pub fields_from: Option<PathBuf>,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// The field holding the ticker [default: Ticker].
    #[arg(long, value_name = "FIELD")]
    pub ticker_field: Option<String>,
    /// The field holding the direction [default: Direction].
    #[arg(long, value_name = "FIELD")]
    pub direction_field: Option<String>,
    /// The direction value meaning buy [default: b].
    #[arg(long, value_name = "VALUE")]
    pub buy: Option<String>,
    /// The direction value meaning sell [default: s].
    #[arg(long, value_name = "VALUE")]
    pub sell: Option<String>,
    /// The field holding the strength (a fraction 0–1 or a percentage), if any.
    #[arg(long, value_name = "FIELD")]
    pub strength_field: Option<String>,
    /// First entry id to record (`1733236200000-0`, or `-` for the stream's start, the default).
    #[arg(long, value_name = "ID", conflicts_with = "since")]
    pub from: Option<String>,
    /// Record entries added at or after this time (RFC 3339, e.g. 2024-12-03T09:30:00-05:00).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Last entry id, or time (RFC 3339), to record, inclusive (default: the stream's end).
    #[arg(long, value_name = "ID|TIME")]
    pub to: Option<String>,
    /// The CSV file to write (replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// What a recipe says about its Redis signals (every part optional).
#[derive(Debug, Default)]
struct FromRecipe {
    url: Option<String>,
    stream: Option<String>,
    ticker: Option<String>,
    direction: Option<String>,
    buy: Option<String>,
    sell: Option<String>,
    strength: Option<String>,
}

/// Read a recipe's `algorithm.signals` (`source: redis`) as the recipe type reads it. Only that
/// block must be valid: a recipe being written can be recorded for before it validates.
fn from_recipe(path: &std::path::Path) -> Result<FromRecipe, String> {
    use crate::recipe::model::{SignalSourceKind, Signals};
    let text = crate::files::read_named(path, 1 << 20)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc: serde_json::Value = serde_saphyr::from_str(&text)
        .map_err(|_| format!("{} is not a YAML recipe (check it with `runner validate`)", path.display()))?;
    let none =
        || format!("{} has no Redis signals (`algorithm.signals` with `source: redis`)", path.display());
    let block = doc.pointer("/algorithm/signals").cloned().ok_or_else(none)?;
    let signals: Signals = serde_json::from_value(block).map_err(|e| {
        format!("{}: algorithm.signals: {e} (check it with `runner validate`)", path.display())
    })?;
    if signals.source != SignalSourceKind::Redis {
        return Err(none());
    }
    let fields = signals.fields;
    Ok(FromRecipe {
        url: signals.url,
        stream: signals.stream,
        ticker: fields.as_ref().map(|f| f.ticker.clone()),
        direction: fields.as_ref().map(|f| f.direction.clone()),
        buy: fields.as_ref().map(|f| f.buy.clone()),
        sell: fields.as_ref().map(|f| f.sell.clone()),
        strength: fields.and_then(|f| f.strength),
    })
}

/// Entries per `XRANGE` page.
const PAGE: usize = 1000;
/// Skipped entries listed by id on stderr (the rest are counted).
const LISTED: usize = 20;

/// Run `runner signals record`.
pub fn record(args: RecordArgs) -> anyhow::Result<ExitCode> {
    let unusable = |m: String| anyhow::Error::new(RunError::Unusable(m));
    let start = match (&args.from, &args.since) {
        (Some(id), _) => {
            stream_id(id).ok_or_else(|| unusable(format!("--from {id}: not a stream entry id")))?
        }
        (None, Some(t)) => {
            format!("{}-0", time_ms(t).ok_or_else(|| unusable(format!("--since {t}: not an RFC 3339 time")))?)
        }
        (None, None) => "-".to_owned(),
    };
    let end = match &args.to {
        None => "+".to_owned(),
        Some(to) => stream_id(to)
            .or_else(|| time_ms(to).map(|ms| ms.to_string()))
            .ok_or_else(|| unusable(format!("--to {to}: neither a stream entry id nor an RFC 3339 time")))?,
    };
    let password = match &args.password_env {
        None => None,
        Some(var) => Some(
            std::env::var(var)
                .map_err(|_| unusable(format!("--password-env {var}: the variable is not set")))?,
        ),
    };
    let recipe = match &args.fields_from {
        Some(path) => from_recipe(path).map_err(unusable)?,
        None => FromRecipe::default(),
    };
    let url =
        args.url.or(recipe.url).ok_or_else(|| unusable("no --url (nor a recipe's, --fields-from)".into()))?;
    let stream = args
        .stream
        .or(recipe.stream)
        .ok_or_else(|| unusable("no --stream (nor a recipe's, --fields-from)".into()))?;
    let fields = FieldMap {
        ticker: args.ticker_field.or(recipe.ticker).unwrap_or_else(|| "Ticker".into()),
        direction: args.direction_field.or(recipe.direction).unwrap_or_else(|| "Direction".into()),
        buy: args.buy.or(recipe.buy).unwrap_or_else(|| "b".into()),
        sell: args.sell.or(recipe.sell).unwrap_or_else(|| "s".into()),
        strength: args.strength_field.or(recipe.strength),
    };
    let client = client(&url, password.as_deref()).map_err(unusable)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| unusable(format!("cannot start the runtime: {e}")))?;
    let url = redact_url(&url);
    let rec = rt
        .block_on(read_stream(&client, &stream, &start, &end, &fields))
        .map_err(|e| unusable(format!("reading stream `{stream}` from {url}: {}", describe(&e))))?;

    if rec.csv.len() as u64 > MAX_SIGNAL_FILE_BYTES {
        return Err(unusable(format!(
            "more than {} MiB of signals: record a narrower range (--since, --to)",
            MAX_SIGNAL_FILE_BYTES >> 20
        )));
    }
    crate::report::write_atomic(&args.out, rec.csv.as_bytes())
        .map_err(|e| unusable(format!("cannot write {}: {e}", args.out.display())))?;
    match (&rec.first, &rec.last) {
        (Some(first), Some(last)) => eprintln!(
            "recorded {} signals from stream `{}` ({first} … {last}) into {}",
            rec.written,
            stream,
            args.out.display()
        ),
        _ => eprintln!(
            "no signals in stream `{}` in that range; wrote the header to {}",
            stream,
            args.out.display()
        ),
    }
    if !rec.skipped.is_empty() {
        let mut msg = format!("skipped {} malformed entries:", rec.skipped.len());
        for (id, why) in rec.skipped.iter().take(LISTED) {
            let _ = write!(msg, "\n  {id}: {why}");
        }
        if rec.skipped.len() > LISTED {
            let _ = write!(msg, "\n  … and {} more", rec.skipped.len() - LISTED);
        }
        eprintln!("{msg}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What was read.
struct Recording {
    csv: String,
    written: usize,
    first: Option<String>,
    last: Option<String>,
    skipped: Vec<(String, String)>,
}

async fn read_stream(
    client: &redis::Client,
    stream: &str,
    start: &str,
    end: &str,
    fields: &FieldMap,
) -> redis::RedisResult<Recording> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(Duration::from_secs(30)));
    let mut con = client.get_multiplexed_async_connection_with_config(&config).await?;
    let mut rec = Recording {
        csv: "timestamp,ticker,direction,strength\n".to_owned(),
        written: 0,
        first: None,
        last: None,
        skipped: Vec::new(),
    };
    let mut from = start.to_owned();
    loop {
        let reply: Value = redis::cmd("XRANGE")
            .arg(stream)
            .arg(&from)
            .arg(end)
            .arg("COUNT")
            .arg(PAGE)
            .query_async(&mut con)
            .await?;
        let entries = read_entries(reply)?;
        let Some(tail) = entries.last() else { break };
        from = format!("({}", tail.id);
        let n = entries.len();
        for entry in entries {
            let Some(pairs) = entry.fields else { continue };
            let row = entry_body(fields, &pairs).and_then(|b| {
                if b.ticker.contains(|c: char| c == ',' || c == '"' || c.is_whitespace() || c.is_control()) {
                    return Err(format!("`{}` is not a ticker", fields.ticker));
                }
                let ts = entry_time(&entry.id).ok_or_else(|| "the entry id has no time".to_owned())?;
                let ts = ts.to_new_york().to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
                let dir = match b.side {
                    Side::Buy => 'b',
                    Side::Sell => 's',
                };
                Ok(format!("{ts},{},{dir},{}\n", b.ticker, b.strength))
            });
            match row {
                Ok(line) => {
                    rec.csv.push_str(&line);
                    rec.written += 1;
                    rec.first.get_or_insert_with(|| entry.id.clone());
                    rec.last = Some(entry.id);
                }
                Err(why) => rec.skipped.push((entry.id, why)),
            }
        }
        if n < PAGE || rec.csv.len() as u64 > MAX_SIGNAL_FILE_BYTES {
            break;
        }
    }
    Ok(rec)
}

/// A stream id as given (`-`, `+`, `MS` or `MS-SEQ`), if it is one.
fn stream_id(s: &str) -> Option<String> {
    let s = s.trim();
    if s == "-" || s == "+" {
        return Some(s.to_owned());
    }
    let digits = |p: &str| !p.is_empty() && p.len() <= 20 && p.bytes().all(|b| b.is_ascii_digit());
    let ok = match s.split_once('-') {
        Some((ms, seq)) => digits(ms) && digits(seq),
        None => digits(s),
    };
    ok.then(|| s.to_owned())
}

/// An RFC 3339 time as Unix milliseconds (not before 1970).
fn time_ms(s: &str) -> Option<u64> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?;
    u64::try_from(t.timestamp_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_times() {
        assert_eq!(stream_id("1733236200000-0").as_deref(), Some("1733236200000-0"));
        assert_eq!(stream_id("-").as_deref(), Some("-"));
        assert_eq!(stream_id("2024-12-03T09:30:00-05:00"), None);
        assert_eq!(stream_id("abc"), None);
        assert_eq!(time_ms("2024-12-03T09:30:00-05:00"), Some(1_733_236_200_000));
        assert_eq!(time_ms("1960-01-01T00:00:00Z"), None);
    }
}
