//! Replay input for the engine: recorded CSV / CSV.gz files (a file, a glob or a directory),
//! streamed in time order without allocating per event.
//!
//! Formats (header line decides): ticks `timestamp,price,size,…`; bars
//! `timestamp,open,high,low,close,volume` (duration from the file name: `1s`, `1m`, `5m`, `1h`,
//! default 1 minute); quotes `timestamp,bid_open,…,bid_close,last_bid_size,ask_open,…,ask_close,last_ask_size`.
//! Timestamps are ISO-8601 with an offset. Files are replayed one after another, ordered by
//! their first timestamp (the recorded files are one day or one range each).
//! This is the engine's lean reader; the market module's replay provider is the general one.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;

use crate::market::event::{Bar, MarketEvent, Quote, Trade};
use crate::model::{SymbolId, Timestamp};

/// A replay input problem.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Nothing matched the path.
    #[error("no data files found at {0}")]
    NoFiles(String),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line could not be parsed.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
}

/// The files a `path` (file, glob or directory) names, sorted by name.
pub fn resolve(path: &Path) -> Result<Vec<PathBuf>, ReplayError> {
    let shown = path.display().to_string();
    let mut files = if path.is_dir() {
        let rd =
            std::fs::read_dir(path).map_err(|source| ReplayError::Io { path: path.to_owned(), source })?;
        rd.filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.to_string_lossy();
                n.ends_with(".csv") || n.ends_with(".csv.gz")
            })
            .collect::<Vec<_>>()
    } else if path.exists() {
        vec![path.to_owned()]
    } else {
        glob::glob(&shown).map(|g| g.filter_map(Result::ok).collect()).unwrap_or_default()
    };
    files.sort();
    if files.is_empty() {
        return Err(ReplayError::NoFiles(shown));
    }
    Ok(files)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ticks,
    Bars(i64),
    Quotes,
}

/// One file being read.
struct FileReader {
    path: PathBuf,
    rd: Box<dyn BufRead + Send>,
    kind: Kind,
    line: String,
    lineno: u64,
}

fn bar_duration(path: &Path) -> i64 {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let s = Timestamp::NANOS_PER_SEC;
    for (tok, d) in [("1s", s), ("5s", 5 * s), ("1m", 60 * s), ("5m", 300 * s), ("1h", 3600 * s)] {
        for sep in ['-', '_'] {
            if name.contains(&format!("{sep}{tok}{sep}")) || name.contains(&format!("{sep}{tok}.")) {
                return d;
            }
        }
    }
    60 * s
}

impl FileReader {
    fn open(path: &Path) -> Result<Self, ReplayError> {
        let io = |source| ReplayError::Io { path: path.to_owned(), source };
        let f = File::open(path).map_err(io)?;
        let raw: Box<dyn Read + Send> = if path.to_string_lossy().ends_with(".gz") {
            Box::new(flate2::read::MultiGzDecoder::new(f))
        } else {
            Box::new(f)
        };
        let mut rd: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(1 << 16, raw));
        let mut header = String::new();
        rd.read_line(&mut header).map_err(io)?;
        let h = header.trim().to_ascii_lowercase();
        let kind = if h.starts_with("timestamp,price,size") {
            Kind::Ticks
        } else if h.starts_with("timestamp,open,high,low,close") {
            Kind::Bars(bar_duration(path))
        } else if h.starts_with("timestamp,bid_open") {
            Kind::Quotes
        } else {
            return Err(ReplayError::Parse {
                path: path.to_owned(),
                line: 1,
                message: format!("unknown header `{}` (expected ticks, bars or quotes)", h),
            });
        };
        Ok(Self { path: path.to_owned(), rd, kind, line: String::with_capacity(128), lineno: 1 })
    }

    fn next(&mut self, symbol: SymbolId) -> Result<Option<MarketEvent>, ReplayError> {
        loop {
            self.line.clear();
            let n = self
                .rd
                .read_line(&mut self.line)
                .map_err(|source| ReplayError::Io { path: self.path.clone(), source })?;
            if n == 0 {
                return Ok(None);
            }
            self.lineno += 1;
            let l = self.line.trim_end();
            if l.is_empty() {
                continue;
            }
            return parse_line(l.as_bytes(), self.kind, symbol).map(Some).map_err(|message| {
                ReplayError::Parse { path: self.path.clone(), line: self.lineno, message: message.to_owned() }
            });
        }
    }
}

fn parse_line(l: &[u8], kind: Kind, symbol: SymbolId) -> Result<MarketEvent, &'static str> {
    let mut cols = l.split(|b| *b == b',');
    let mut next = || cols.next().ok_or("missing column");
    let ts = parse_ts(next()?)?;
    let mut dec = || next().and_then(|c| parse_dec(c).ok_or("bad number"));
    Ok(match kind {
        Kind::Ticks => {
            let price = dec()?;
            let size = dec()?;
            MarketEvent::Trade(Trade { symbol, ts, price, size })
        }
        Kind::Bars(d) => {
            let (open, high, low, close, volume) = (dec()?, dec()?, dec()?, dec()?, dec()?);
            MarketEvent::Bar(Bar { symbol, ts, duration_nanos: d, open, high, low, close, volume })
        }
        Kind::Quotes => {
            let _ = (dec()?, dec()?, dec()?);
            let bid = dec()?;
            let bid_size = dec()?;
            let _ = (dec()?, dec()?, dec()?);
            let ask = dec()?;
            let ask_size = dec()?;
            MarketEvent::Quote(Quote { symbol, ts, bid, bid_size, ask, ask_size })
        }
    })
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(v)
}

/// Parse a plain decimal (`-12.3400`) exactly.
pub fn parse_dec(s: &[u8]) -> Option<Decimal> {
    let (neg, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = match s.iter().position(|b| *b == b'.') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &s[..0]),
    };
    if frac.len() > 18 || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    let mut m: i64 = if int.is_empty() { 0 } else { digits(int)? };
    for &b in frac {
        if !b.is_ascii_digit() {
            return None;
        }
        m = m.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(Decimal::new(if neg { -m } else { m }, frac.len() as u32))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parse `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)`.
pub fn parse_ts(s: &[u8]) -> Result<Timestamp, &'static str> {
    const BAD: &str = "bad timestamp (want YYYY-MM-DDTHH:MM:SS[.fff]±HH:MM)";
    if s.len() < 20
        || s[4] != b'-'
        || s[7] != b'-'
        || (s[10] != b'T' && s[10] != b' ')
        || s[13] != b':'
        || s[16] != b':'
    {
        return Err(BAD);
    }
    let n = |a: usize, b: usize| digits(&s[a..b]).ok_or(BAD);
    let (y, mo, d, h, mi, se) = (n(0, 4)?, n(5, 7)?, n(8, 10)?, n(11, 13)?, n(14, 16)?, n(17, 19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return Err(BAD);
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if s[i] == b'.' {
        i += 1;
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        if frac.is_empty() || frac.len() > 9 {
            return Err(BAD);
        }
        nanos = digits(frac).ok_or(BAD)? * 10i64.pow(9 - frac.len() as u32);
    }
    let offset = match s.get(i..) {
        Some(b"Z") => 0,
        Some(o) if o.len() == 6 && (o[0] == b'+' || o[0] == b'-') && o[3] == b':' => {
            let v = digits(&o[1..3]).ok_or(BAD)? * 3600 + digits(&o[4..6]).ok_or(BAD)? * 60;
            if o[0] == b'-' { -v } else { v }
        }
        _ => return Err(BAD),
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset;
    Ok(Timestamp(secs * Timestamp::NANOS_PER_SEC + nanos))
}

/// A streaming replay over several files, one after another.
pub struct Replay {
    files: Vec<PathBuf>,
    next_file: usize,
    cur: Option<FileReader>,
    symbol: SymbolId,
}

impl Replay {
    /// Open the files `path` names, for `symbol`. Files are ordered by their first timestamp.
    pub fn open(path: &Path, symbol: SymbolId) -> Result<Self, ReplayError> {
        let files = resolve(path)?;
        let mut keyed = Vec::with_capacity(files.len());
        for f in files {
            let mut r = FileReader::open(&f)?;
            let first = r.next(symbol)?.map_or(i64::MAX, |e| e.ts().0);
            keyed.push((first, f));
        }
        keyed.sort();
        Ok(Self { files: keyed.into_iter().map(|(_, f)| f).collect(), next_file: 0, cur: None, symbol })
    }

    /// The next event, `None` at the end of the data.
    pub fn next_event(&mut self) -> Result<Option<MarketEvent>, ReplayError> {
        loop {
            if let Some(r) = &mut self.cur {
                if let Some(e) = r.next(self.symbol)? {
                    return Ok(Some(e));
                }
                self.cur = None;
            }
            let Some(f) = self.files.get(self.next_file) else { return Ok(None) };
            self.next_file += 1;
            self.cur = Some(FileReader::open(f)?);
        }
    }

    /// Read everything into memory (benchmarks, small tests).
    pub fn load_all(mut self) -> Result<Vec<MarketEvent>, ReplayError> {
        let mut v = Vec::new();
        while let Some(e) = self.next_event()? {
            v.push(e);
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn timestamps_and_decimals() {
        let t = parse_ts(b"2013-10-07T04:00:00.464-04:00").unwrap();
        let want = chrono::DateTime::parse_from_rfc3339("2013-10-07T04:00:00.464-04:00").unwrap();
        assert_eq!(t, Timestamp::from_datetime(&want));
        assert_eq!(parse_ts(b"2013-10-07T08:00:00Z").unwrap().seconds(), t.seconds());
        assert!(parse_ts(b"2013-13-07T04:00:00-04:00").is_err());
        assert_eq!(parse_dec(b"167.41"), Some(dec!(167.41)));
        assert_eq!(parse_dec(b"-0.5"), Some(dec!(-0.5)));
        assert_eq!(parse_dec(b"100"), Some(dec!(100)));
        assert_eq!(parse_dec(b"1.2.3"), None);
        assert_eq!(parse_dec(b""), None);
    }

    #[test]
    fn reads_ticks_bars_and_reports_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let ticks = dir.path().join("t.csv");
        std::fs::write(&ticks, "timestamp,price,size,exchange,sale_condition,suspicious\n2013-10-07T09:30:00.000-04:00,168.5,100,P,0,0\n").unwrap();
        let ev = Replay::open(&ticks, SymbolId(0)).unwrap().load_all().unwrap();
        assert!(matches!(ev[0], MarketEvent::Trade(t) if t.price == dec!(168.5) && t.size == dec!(100)));
        let bars = dir.path().join("spy-1s-x.csv");
        std::fs::write(&bars, "timestamp,open,high,low,close,volume\n2013-10-07T09:30:00.000-04:00,1,2,0.5,1.5,10\nbad,1,2,3,4,5\n").unwrap();
        let mut r = Replay::open(&bars, SymbolId(0)).unwrap();
        assert!(
            matches!(r.next_event().unwrap(), Some(MarketEvent::Bar(b)) if b.duration_nanos == 1_000_000_000)
        );
        let e = r.next_event().unwrap_err().to_string();
        assert!(e.contains("spy-1s-x.csv:3:") && e.contains("timestamp"), "{e}");
    }
}
