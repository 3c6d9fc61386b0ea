//! QuantConnect Lean's own data files: `YYYYMMDD_{trade,quote}.zip` holding one headerless CSV.
//!
//! Supported: equities and crypto at tick (trades only), second and minute resolution, laid
//! out as in Lean's `Data/` folder (`equity/usa/minute/spy/20131007_trade.zip`,
//! `crypto/coinbase/second/btcusd/20161007_trade.zip`); the asset class, resolution, date and
//! kind come from that path. Column 0 is milliseconds since midnight of the file's date in the
//! data time zone (America/New_York for equities, UTC for crypto); equity prices are integers
//! ×10 000 and are scaled back exactly (`1674100` → `167.4100`). Row formats:
//! - tick trades: `ms,price,size[,exchange,sale_condition,suspicious]`;
//! - trade bars: `ms,open,high,low,close,volume`;
//! - quote bars: `ms,bid_o,bid_h,bid_l,bid_c,last_bid_size,ask_o,ask_h,ask_l,ask_c,last_ask_size`.
//!
//! Only the archive's first entry is read (Lean writes one); it is inflated as a stream (on the
//! helper threads of any [`CsvSource`]), so memory stays flat. Daily/hour files, options and futures are not supported.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use chrono::NaiveDate;

use super::csv::{CsvKind, CsvOptions, CsvSource, MarketDataError};
use super::session::local_instant;
use crate::model::{NEW_YORK, Timestamp};

/// Open a Lean zip as a [`CsvSource`].
///
/// # Errors
/// The path does not look like Lean's layout, the kind is unsupported, or the zip is unreadable.
pub fn open(path: &Path, opts: &CsvOptions) -> Result<CsvSource, MarketDataError> {
    let shown = path.display().to_string();
    let invalid = |why: &str| MarketDataError::Invalid(format!("{shown}: {why}"));
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let stem = name.strip_suffix(".zip").unwrap_or(&name);
    let (date_text, kind_text) =
        stem.split_once('_').ok_or_else(|| invalid("expected a Lean file name like 20131007_trade.zip"))?;
    let date = NaiveDate::parse_from_str(date_text, "%Y%m%d")
        .map_err(|_| invalid("expected a Lean file name like 20131007_trade.zip"))?;
    let dirs: Vec<String> = path
        .ancestors()
        .skip(1)
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .collect();
    let has = |d: &str| dirs.iter().any(|x| x == d);
    let (tz, scale) = if has("equity") {
        (NEW_YORK, 4)
    } else if has("crypto") {
        (chrono_tz::UTC, 0)
    } else {
        return Err(invalid(
            "only Lean equity and crypto files are supported (no `equity`/`crypto` folder in the path)",
        ));
    };
    let resolution = if has("tick") {
        0
    } else if has("second") {
        Timestamp::NANOS_PER_SEC
    } else if has("minute") {
        60 * Timestamp::NANOS_PER_SEC
    } else {
        return Err(invalid("only Lean tick, second and minute files are supported"));
    };
    let quote = match kind_text {
        "trade" => false,
        "quote" => true,
        _ => return Err(invalid("expected a `_trade` or `_quote` Lean file")),
    };
    let (kind, ncols) = match (resolution, quote) {
        (0, false) if scale > 0 => (CsvKind::Ticks, 6),
        (0, false) => (CsvKind::Ticks, 3),
        (0, true) => return Err(invalid("Lean tick quote files are not supported")),
        (_, false) => (CsvKind::Bars, 6),
        (_, true) => (CsvKind::QuoteBars, 11),
    };
    let midnight =
        local_instant(date, 0, tz).ok_or_else(|| invalid("the file's date has no local midnight"))?;
    let file = File::open(path).map_err(|source| MarketDataError::Io { path: shown.clone(), source })?;
    let reader = first_entry(BufReader::with_capacity(1 << 16, file))
        .map_err(|source| MarketDataError::Io { path: shown.clone(), source })?;
    CsvSource::lean(shown, reader, kind, ncols, midnight, scale, resolution, opts)
}

/// The data of a zip's first entry, from its local file header (deflated or stored).
fn first_entry(mut r: BufReader<File>) -> std::io::Result<Box<dyn BufRead + Send>> {
    let bad = |why: &str| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not a readable zip: {why}"))
    };
    let mut h = [0u8; 30];
    r.read_exact(&mut h)?;
    if h[..4] != [0x50, 0x4b, 0x03, 0x04] {
        return Err(bad("no local file header"));
    }
    let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
    let flags = u16_at(6);
    let method = u16_at(8);
    let csize = u32::from_le_bytes([h[18], h[19], h[20], h[21]]);
    let skip = u64::from(u16_at(26)) + u64::from(u16_at(28));
    if flags & 1 != 0 {
        return Err(bad("encrypted entry"));
    }
    std::io::copy(&mut (&mut r).take(skip), &mut std::io::sink())?;
    match method {
        8 => Ok(Box::new(BufReader::new(flate2::bufread::DeflateDecoder::new(r)))),
        0 if csize != u32::MAX && flags & 8 == 0 => Ok(Box::new(BufReader::new(r.take(u64::from(csize))))),
        _ => Err(bad("unsupported compression method or layout")),
    }
}
