//! Hand-rolled, allocation-free reader for the ISO-8601 market-data CSV files in `data/`.
//!
//! Three kinds of file are recognised from their header line (column order is free,
//! extra columns are ignored):
//!
//! | kind | required columns | becomes |
//! |---|---|---|
//! | [`CsvKind::Ticks`] | `timestamp,price,size` (+ optional `sale_condition`, `suspicious`) | [`MarketEvent::Trade`] |
//! | [`CsvKind::Bars`] | `timestamp,open,high,low,close,volume` | [`MarketEvent::Bar`] |
//! | [`CsvKind::QuoteBars`] | `timestamp,bid_close,ask_close,last_bid_size,last_ask_size` | [`MarketEvent::Quote`] |
//!
//! Timestamps are `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` and are parsed straight to a
//! [`Timestamp`]; prices and sizes are parsed straight from their text to `Decimal` (no `f64`).
//! Files may be gzip-compressed (detected from the magic bytes, not the name). After the header,
//! a file is inflated and parsed ahead of its reader on two helper threads
//! (`market::pipeline`). A `.zip` path is Lean's own format and is handed to [`super::lean`],
//! which yields the same events through the same [`CsvSource`].
//!
//! Conventions:
//! - a tick row with `suspicious` other than `0` is skipped (Lean's convention for bad prints);
//! - a tick row whose `sale_condition` (Lean's hex `TradeConditionFlags`) has a condition in
//!   [`NOT_LAST_SALE`] is skipped unless [`CsvOptions::all_prints`]: such prints (average-price,
//!   cash, next-day, seller's-option, prior-reference-price, out-of-sequence, odd-lot reports) do
//!   not set the consolidated last sale price, and one of them is an off-market print in the
//!   recorded SPY tape (2013-10-08 15:03:04, 601,349 shares at 167.51 with SPY near 165.98);
//! - a quote bar becomes one [`Quote`] with its *closing* bid/ask and last sizes, stamped at the
//!   bar's **end** (the moment that quote is known), so it never leaks the future;
//! - a bar's length is not in the file: it comes from [`CsvOptions::bar_duration`] or, failing
//!   that, from a `1s`/`5m`/`1h` token or a `second`/`minute`/`hour` word in the path
//!   (`spy-1s-trade-….csv.gz`, `…/minute/spy/…`);
//! - rows must be in non-decreasing time order within a file; anything else is an error with
//!   `file:line:column`;
//! - prices (tick price, bar open/high/low/close, quote bid/ask) must be greater than 0 and sizes
//!   (tick size, bar volume, quote sizes) 0 or more: a row breaking that is an error, not skipped
//!   (recorded data with such a row is damaged, and a run on it would trade on a price that never
//!   was);
//! - a line may be at most [`MAX_LINE`] bytes long (not counting its `\n` or `\r\n`), so memory
//!   stays flat whatever the file holds (a gzip bomb of one endless line is an error at its
//!   first 64 KiB).
//!
//! Errors never quote the file's content: a path handed over by mistake (a key file,
//! `/etc/shadow`) must not end up on a terminal or in a log. They name `file:line:column`,
//! the column's meaning and what was expected there.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;

use super::event::{Bar, MarketEvent, Quote, Trade};
use super::pipeline;
use crate::model::{SymbolId, Timestamp, fastdec};

/// An error while reading market data; always names the file (and line and column for bad rows),
/// never the file's content.
#[derive(Debug, thiserror::Error)]
pub enum MarketDataError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A row or header is malformed.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line number.
        line: u64,
        /// 1-based byte column where the bad field starts (1 for the header or a whole line).
        column: usize,
        /// What is wrong and what was expected (never the text found).
        message: String,
    },
    /// The data set as a whole cannot be used (no file matched, unknown bar length, …).
    #[error("{0}")]
    Invalid(String),
}

/// What a CSV file holds, detected from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvKind {
    /// Trade ticks.
    Ticks,
    /// OHLCV trade bars.
    Bars,
    /// OHLC bid/ask quote bars.
    QuoteBars,
}

/// Options for one CSV source.
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    /// Symbol stamped on every event of the file.
    pub symbol: SymbolId,
    /// Bar length in nanoseconds; `None` = guess from the path (see the module docs).
    pub bar_duration: Option<i64>,
    /// Only the first rows will be read (a replay peeking at where a file starts): inflate
    /// inline, without the read-ahead thread and its buffers.
    pub peek: bool,
    /// Keep tick rows whose sale condition is in [`NOT_LAST_SALE`] (skipped by default).
    pub all_prints: bool,
}

/// Lean `TradeConditionFlags` of prints that do not set the consolidated last sale price (CTA /
/// UTP eligibility): cash (1 << 1), next day (1 << 2), seller's option (1 << 3), out of sequence
/// (1 << 14), average price (1 << 20), prior reference price (1 << 25), odd lot (1 << 31).
/// Extended-hours and Form T prints are kept: extended-session recipes trade on them.
pub const NOT_LAST_SALE: u64 = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 14) | (1 << 20) | (1 << 25) | (1 << 31);

/// Lean's hex sale-condition flags (`20000020`, optionally `0x`-prefixed; empty = none).
#[inline]
fn parse_hex_flags(field: &[u8]) -> Option<u64> {
    let digits = field.strip_prefix(b"0x").or_else(|| field.strip_prefix(b"0X")).unwrap_or(field);
    if digits.len() > 16 || (digits.is_empty() && !field.is_empty()) {
        return None;
    }
    let mut v = 0u64;
    for &b in digits {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

/// Column positions for one kind of file.
#[derive(Debug, Clone, Copy)]
enum Layout {
    Ticks { price: usize, size: usize, condition: Option<usize>, suspicious: Option<usize> },
    Bars { open: usize, high: usize, low: usize, close: usize, volume: usize },
    Quotes { bid: usize, bid_size: usize, ask: usize, ask_size: usize },
}

const MAX_FIELDS: usize = 24;

/// The longest line read, in bytes (64 KiB). Real rows are under 100 bytes; a longer line is
/// not market data, and reading it whole would let one line take all memory.
pub const MAX_LINE: usize = 64 * 1024;

/// What a data file must start with, for error messages.
const KNOWN_HEADERS: &str = "expected a market-data CSV header: ticks `timestamp,price,size` \
    (optional `sale_condition`, `suspicious`), bars `timestamp,open,high,low,close,volume` or quote \
    bars `timestamp,bid_close,ask_close,last_bid_size,last_ask_size` (other columns ignored), or a \
    Lean `.zip`";

/// What is wrong with a row and where: the 1-based byte column of the field (or of the end of
/// the line), and a message that says what was expected there, never what was found.
struct RowError {
    column: usize,
    message: String,
}

impl RowError {
    /// `message` about `field`, a slice of `line`.
    #[cold]
    fn at(line: &[u8], field: &[u8], message: String) -> Self {
        Self { column: field.as_ptr().addr() - line.as_ptr().addr() + 1, message }
    }

    /// `field` (a slice of `line`) is bad: `problem` says what was expected. Binary or
    /// non-UTF-8 bytes are called that, since "expected a number" alone would hide that the
    /// file is not text at all.
    #[cold]
    fn field(line: &[u8], field: &[u8], name: &str, problem: &str) -> Self {
        let message = if is_text(field) {
            format!("bad {name}: {problem}")
        } else {
            format!("bad {name}: binary or non-UTF-8 bytes ({problem})")
        };
        Self::at(line, field, message)
    }
}

/// `text` split at its first `byte`: what comes before it, and what comes after it (`None`
/// when there is none).
#[inline]
pub(crate) fn split_at_byte(text: &[u8], byte: u8) -> (&[u8], Option<&[u8]>) {
    match find_byte(text, byte) {
        Some(p) => (&text[..p], text.get(p + 1..)),
        None => (text, None),
    }
}

/// The position of the first `byte` in `text`, looked for eight bytes at a time (the end of a
/// line: a byte-by-byte loop mispredicts its exit at every line).
#[inline]
fn find_byte(text: &[u8], byte: u8) -> Option<usize> {
    let (words, tail) = text.as_chunks::<8>();
    for (k, word) in words.iter().enumerate() {
        let found = byte_mask(*word, byte);
        if found != 0 {
            return Some(k * 8 + found.trailing_zeros() as usize / 8);
        }
    }
    tail.iter().position(|&b| b == byte).map(|p| words.len() * 8 + p)
}

/// The high bit of every byte of `word` (little-endian) that equals `byte`, and no other bit.
#[inline]
fn byte_mask(word: [u8; 8], byte: u8) -> u64 {
    const LOW7: u64 = u64::from_le_bytes([0x7f; 8]);
    let x = u64::from_le_bytes(word) ^ u64::from_le_bytes([byte; 8]);
    // A byte's high bit ends up set iff the byte is non-zero; no carry crosses bytes.
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// Split `line` at its commas into `fields`; returns how many there are. The commas are found
/// eight bytes at a time: a byte-by-byte loop mispredicts a branch at every field.
///
/// # Errors
/// More than [`MAX_FIELDS`] fields (at the first one too many).
#[inline]
fn split_fields<'a>(line: &'a [u8], fields: &mut [&'a [u8]; MAX_FIELDS]) -> Result<usize, RowError> {
    let (words, tail) = line.as_chunks::<8>();
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    let (mut n, mut start) = (0, 0);
    for (k, word) in words.iter().chain([&last]).enumerate() {
        let mut commas = byte_mask(*word, b',');
        while commas != 0 {
            let at = k * 8 + commas.trailing_zeros() as usize / 8;
            if n == MAX_FIELDS - 1 {
                let extra = &line[at + 1..];
                return Err(RowError::at(line, extra, format!("too many fields (more than {MAX_FIELDS})")));
            }
            fields[n] = &line[start..at];
            (n, start) = (n + 1, at + 1);
            commas &= commas - 1;
        }
    }
    fields[n] = &line[start..];
    Ok(n + 1)
}

/// UTF-8 without control characters other than tab: what a line of a text CSV holds.
fn is_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|t| !t.chars().any(|c| c.is_control() && c != '\t'))
}

/// A streaming reader of one CSV (or CSV.gz) file that yields [`MarketEvent`]s in file order.
///
/// The header is read on the caller's thread. A peek ([`CsvOptions::peek`]) goes on reading
/// there, line by line; otherwise the rest of the file is read and parsed ahead on two helper
/// threads (`market::pipeline`) and handed over in batches.
pub struct CsvSource {
    /// The file's layout and parsing state. Once the helper threads have taken over, they parse
    /// with their own copy, and this one only describes the file.
    rows: RowParser,
    input: Input,
    done: bool,
    progress: Progress,
}

/// Where a [`CsvSource`]'s events come from.
enum Input {
    /// Lines read and parsed on the caller's thread; `line` holds the current one, `parsed`
    /// its event.
    Inline { reader: Box<dyn BufRead + Send>, line: Vec<u8>, parsed: Vec<MarketEvent> },
    /// Events parsed ahead on helper threads.
    Piped(pipeline::Events),
}

/// How the rows of one file become events: the file's layout, and what carries over from row to
/// row (the line number, the last timestamp, the date cache).
#[derive(Clone)]
pub(crate) struct RowParser {
    /// The file name as shown in errors.
    path: String,
    /// The number of the last line handed to [`RowParser::row`] (1-based; the header is line 1).
    line_no: u64,
    layout: Layout,
    ts_col: usize,
    ncols: usize,
    symbol: SymbolId,
    bar_duration: i64,
    last_ts: i64,
    dates: DateCache,
    time: TimeFormat,
    price_scale: u32,
    /// Tick rows with any of these sale-condition flags are skipped (0: keep every print).
    skip_conditions: u64,
}

/// How much of a file's text a [`CsvSource`] has consumed, and where that is published for a
/// progress display.
#[derive(Default)]
struct Progress {
    /// Text bytes consumed so far.
    consumed: u64,
    /// Where `consumed` is published (every 1024 lines or, read ahead, every batch of events
    /// handed out, and at the end), and the file's text length (files opened by
    /// [`CsvSource::open`] whose length is known).
    shared: Option<(ReadCounter, u64)>,
}

impl Progress {
    /// `consumed` bytes are consumed; publish them if `publish`.
    fn reach(&mut self, consumed: u64, publish: bool) {
        self.consumed = consumed;
        if publish && let Some((c, _)) = &self.shared {
            c.set(consumed);
        }
    }
}

/// How many bytes of a file's text (decompressed for gzip) have been parsed, shared with
/// whoever shows progress. Cloning shares the count.
#[derive(Debug, Clone, Default)]
pub struct ReadCounter(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl ReadCounter {
    /// Bytes read so far.
    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set(&self, bytes: u64) {
        self.0.store(bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Market data comes from regular files (symbolic links to them are followed): opening a FIFO
/// would wait for a writer forever, and a device such as `/dev/zero` never ends.
fn check_regular_file(path: &Path) -> Result<(), MarketDataError> {
    let shown = || path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| MarketDataError::Io { path: shown(), source })?;
    let what = if meta.is_file() {
        return Ok(());
    } else if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file (a FIFO, socket or device)"
    };
    Err(MarketDataError::Invalid(format!(
        "{}: {what}: expected a market-data file (CSV, CSV.gz or Lean .zip)",
        shown()
    )))
}

/// The length of a file's text: its size, or for gzip the uncompressed size its trailer
/// records (ISIZE, the last 4 bytes; modulo 2^32, so `None` when that is less than the
/// compressed size, as for files over 4 GiB).
fn text_len(file: &File, gz: bool) -> Option<u64> {
    use std::io::{Seek, SeekFrom};
    let len = file.metadata().ok()?.len();
    if !gz {
        return Some(len);
    }
    if len < 18 {
        return None;
    }
    let mut f = file.try_clone().ok()?;
    let at = f.stream_position().ok()?;
    f.seek(SeekFrom::End(-4)).ok()?;
    let mut b = [0u8; 4];
    let read = f.read_exact(&mut b);
    f.seek(SeekFrom::Start(at)).ok()?;
    read.ok()?;
    let size = u64::from(u32::from_le_bytes(b));
    (size >= len).then_some(size)
}

/// How the time column is written.
#[derive(Debug, Clone, Copy)]
enum TimeFormat {
    /// ISO-8601 with offset.
    Iso,
    /// Lean: milliseconds since local midnight of the file's date (given in ns UTC).
    MillisSince(i64),
}

impl std::fmt::Debug for CsvSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvSource").field("path", &self.rows.path).finish()
    }
}

/// Read one line, its `\n` included, into `line`; at most `MAX_LINE + 2` bytes of it (a line
/// longer than that is refused whatever follows). Returns the bytes read, 0 at the end.
fn read_line(reader: &mut dyn BufRead, line: &mut Vec<u8>) -> std::io::Result<usize> {
    line.clear();
    reader.take(MAX_LINE as u64 + 2).read_until(b'\n', line)
}

impl CsvSource {
    /// Open a file (plain or gzip) and read its header.
    ///
    /// # Errors
    /// The file cannot be read or is not a regular file, its header is not one of the known
    /// kinds, or it holds bars whose length is neither given nor guessable from the path.
    pub fn open(path: &Path, opts: &CsvOptions) -> Result<Self, MarketDataError> {
        let shown = path.display().to_string();
        check_regular_file(path)?;
        if shown.to_ascii_lowercase().ends_with(".zip") {
            return super::lean::open(path, opts);
        }
        let io_err = |source| MarketDataError::Io { path: shown.clone(), source };
        let f = File::open(path).map_err(io_err)?;
        let mut magic = [0u8; 2];
        let gz = (&f).read(&mut magic).map_err(io_err)? == 2 && magic == [0x1f, 0x8b];
        let total = text_len(&f, gz);
        {
            use std::io::{Seek, SeekFrom};
            (&f).seek(SeekFrom::Start(0)).map_err(io_err)?;
        }
        let file = BufReader::with_capacity(1 << 16, f);
        let reader: Box<dyn BufRead + Send> = if gz {
            Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(file)))
        } else {
            Box::new(file)
        };
        let mut src = Self::from_reader(shown, path, reader, opts)?;
        if let Some(total) = total {
            let count = ReadCounter::default();
            count.set(src.progress.consumed);
            src.progress.shared = Some((count, total));
        }
        Ok(src)
    }

    /// Text bytes of the events handed out so far (updated every 1024 lines or batch of
    /// events) and the file's text length, for a progress display (`None` for sources not
    /// opened by [`CsvSource::open`], or a gzip file whose size is not known).
    pub fn progress(&self) -> Option<(ReadCounter, u64)> {
        self.progress.shared.clone()
    }

    /// Publish progress to `counter` (shared with an earlier opening of the same file, e.g. a
    /// replay's peek at it) instead of this source's own.
    pub fn share_progress(&mut self, counter: ReadCounter) {
        if let Some((c, _)) = &mut self.progress.shared {
            counter.set(self.progress.consumed);
            *c = counter;
        }
    }

    /// Read from any buffered reader; `name` is used in error messages and, with `path`, to
    /// guess the bar length.
    ///
    /// # Errors
    /// As [`CsvSource::open`], and no helper thread could be started.
    pub fn from_reader(
        name: String,
        path: &Path,
        mut reader: Box<dyn BufRead + Send>,
        opts: &CsvOptions,
    ) -> Result<Self, MarketDataError> {
        let mut line = Vec::with_capacity(256);
        let n = read_line(&mut reader, &mut line)
            .map_err(|source| MarketDataError::Io { path: name.clone(), source })?;
        let rows = RowParser::from_header(name, &line, path, opts)?;
        Self::start(rows, reader, line, n as u64, opts.peek)
    }

    /// A headerless Lean CSV (see [`super::lean`]): fixed columns, millisecond times from
    /// `midnight`, prices scaled down by `10^price_scale`.
    ///
    /// # Errors
    /// No helper thread could be started.
    #[allow(clippy::too_many_arguments)] // one private constructor; a builder would add nothing
    pub(crate) fn lean(
        name: String,
        reader: Box<dyn BufRead + Send>,
        kind: CsvKind,
        ncols: usize,
        midnight: Timestamp,
        price_scale: u32,
        bar_duration: i64,
        opts: &CsvOptions,
    ) -> Result<Self, MarketDataError> {
        let layout = match kind {
            CsvKind::Ticks => Layout::Ticks {
                price: 1,
                size: 2,
                condition: (ncols >= 6).then_some(4),
                suspicious: (ncols >= 6).then_some(5),
            },
            CsvKind::Bars => Layout::Bars { open: 1, high: 2, low: 3, close: 4, volume: 5 },
            CsvKind::QuoteBars => Layout::Quotes { bid: 4, bid_size: 5, ask: 9, ask_size: 10 },
        };
        let rows = RowParser {
            path: name,
            line_no: 0,
            layout,
            ts_col: 0,
            ncols,
            symbol: opts.symbol,
            bar_duration,
            last_ts: i64::MIN,
            dates: DateCache::default(),
            time: TimeFormat::MillisSince(midnight.0),
            price_scale,
            skip_conditions: skip_conditions(opts.all_prints),
        };
        Self::start(rows, reader, Vec::with_capacity(256), 0, opts.peek)
    }

    /// A source past its header (`consumed` bytes of text): read inline for a peek, else on
    /// helper threads.
    fn start(
        rows: RowParser,
        reader: Box<dyn BufRead + Send>,
        line: Vec<u8>,
        consumed: u64,
        peek: bool,
    ) -> Result<Self, MarketDataError> {
        let input = if peek {
            Input::Inline { reader, line, parsed: Vec::with_capacity(1) }
        } else {
            Input::Piped(pipeline::spawn(reader, rows.clone(), consumed)?)
        };
        Ok(Self { rows, input, done: false, progress: Progress { consumed, shared: None } })
    }

    /// The kind of file.
    pub fn kind(&self) -> CsvKind {
        match self.rows.layout {
            Layout::Ticks { .. } => CsvKind::Ticks,
            Layout::Bars { .. } => CsvKind::Bars,
            Layout::Quotes { .. } => CsvKind::QuoteBars,
        }
    }

    /// Bar length in nanoseconds (0 for ticks).
    pub fn bar_duration(&self) -> i64 {
        self.rows.bar_duration
    }

    /// The instrument its events carry.
    pub fn symbol(&self) -> SymbolId {
        self.rows.symbol
    }

    /// The file name as shown in errors.
    pub fn path(&self) -> &str {
        &self.rows.path
    }

    /// The next event if it is at hand (parsed ahead, in the batch being taken), without
    /// waiting; `None` says nothing about the file: ask [`CsvSource::next_event`].
    #[inline]
    pub(crate) fn next_ready(&mut self) -> Option<MarketEvent> {
        match &mut self.input {
            Input::Piped(events) => events.next_ready(),
            Input::Inline { .. } => None,
        }
    }

    /// The next event, `Ok(None)` at the end of the file.
    ///
    /// # Errors
    /// I/O errors and malformed rows (with `file:line:column`); after one, the source is done.
    #[inline]
    pub fn next_event(&mut self) -> Result<Option<MarketEvent>, MarketDataError> {
        if self.done {
            return Ok(None);
        }
        let progress = &mut self.progress;
        let next = match &mut self.input {
            Input::Piped(events) => events.next(|consumed| progress.reach(consumed, true)),
            Input::Inline { reader, line, parsed } => {
                next_inline(&mut self.rows, reader, line, parsed, progress)
            }
        };
        if !matches!(next, Ok(Some(_))) {
            self.done = true;
        }
        next
    }
}

/// The next event of an inline source: read lines until one holds an event.
fn next_inline(
    rows: &mut RowParser,
    reader: &mut Box<dyn BufRead + Send>,
    line: &mut Vec<u8>,
    parsed: &mut Vec<MarketEvent>,
    progress: &mut Progress,
) -> Result<Option<MarketEvent>, MarketDataError> {
    while parsed.is_empty() {
        let n = read_line(reader, line)
            .map_err(|source| MarketDataError::Io { path: rows.path.clone(), source })?;
        progress.reach(progress.consumed + n as u64, n == 0 || rows.line_no.is_multiple_of(1024));
        if n == 0 {
            return Ok(None);
        }
        rows.row(line, parsed)?;
    }
    Ok(parsed.pop())
}

/// The sale conditions skipped unless `all_prints`.
fn skip_conditions(all_prints: bool) -> u64 {
    if all_prints { 0 } else { NOT_LAST_SALE }
}

impl RowParser {
    /// The parser of a file whose first line (the header, `\n` included; empty for an empty
    /// file) is `header`.
    fn from_header(
        path: String,
        header: &[u8],
        file: &Path,
        opts: &CsvOptions,
    ) -> Result<Self, MarketDataError> {
        let mut rows = Self {
            path,
            line_no: 1,
            layout: Layout::Ticks { price: 0, size: 0, condition: None, suspicious: None },
            ts_col: 0,
            ncols: 0,
            symbol: opts.symbol,
            bar_duration: 0,
            last_ts: i64::MIN,
            dates: DateCache::default(),
            time: TimeFormat::Iso,
            price_scale: 0,
            skip_conditions: skip_conditions(opts.all_prints),
        };
        if header.is_empty() {
            return Err(rows.err_at(1, format!("empty file: {KNOWN_HEADERS}")));
        }
        let header = rows.line_body(header)?;
        let raw = header.strip_prefix(b"\xef\xbb\xbf").unwrap_or(header); // UTF-8 byte-order mark
        if !is_text(raw) {
            return Err(
                rows.err_at(1, format!("not a text file (binary or non-UTF-8 bytes): {KNOWN_HEADERS}"))
            );
        }
        let header = String::from_utf8_lossy(raw).trim().to_ascii_lowercase();
        let cols: Vec<&str> = header.split(',').map(str::trim).collect();
        if cols.len() > MAX_FIELDS {
            return Err(rows.err_at(
                1,
                format!("the header has {} columns (at most {MAX_FIELDS}): {KNOWN_HEADERS}", cols.len()),
            ));
        }
        let find = |name: &str| cols.iter().position(|c| *c == name);
        let Some(ts_col) = find("timestamp").or_else(|| find("time")) else {
            return Err(
                rows.err_at(1, format!("not a market-data header (no `timestamp` column): {KNOWN_HEADERS}"))
            );
        };
        rows.ts_col = ts_col;
        rows.ncols = cols.len();
        rows.layout = if let (Some(price), Some(size)) = (find("price"), find("size")) {
            Layout::Ticks { price, size, condition: find("sale_condition"), suspicious: find("suspicious") }
        } else if let (Some(open), Some(high), Some(low), Some(close), Some(volume)) =
            (find("open"), find("high"), find("low"), find("close"), find("volume"))
        {
            Layout::Bars { open, high, low, close, volume }
        } else if let (Some(bid), Some(bid_size), Some(ask), Some(ask_size)) =
            (find("bid_close"), find("last_bid_size"), find("ask_close"), find("last_ask_size"))
        {
            Layout::Quotes { bid, bid_size, ask, ask_size }
        } else {
            return Err(rows.err_at(
                1,
                format!("unknown header (a `timestamp` column, but not the columns of a known kind): {KNOWN_HEADERS}"),
            ));
        };
        if !matches!(rows.layout, Layout::Ticks { .. }) {
            rows.bar_duration = match opts.bar_duration.or_else(|| bar_duration_from_path(file)) {
                Some(d) if d > 0 => d,
                _ => {
                    return Err(MarketDataError::Invalid(format!(
                        "{}: cannot tell the bar length; put it in the file name (e.g. `spy-1m-….csv`) \
                         or give it explicitly",
                        rows.path
                    )));
                }
            };
        }
        Ok(rows)
    }

    /// The file name as shown in errors.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// An error at column `column` of the current line.
    #[cold]
    fn err_at(&self, column: usize, message: String) -> MarketDataError {
        MarketDataError::Parse { path: self.path.clone(), line: self.line_no, column, message }
    }

    /// A line without its line ending (`\n`, `\r\n`; further `\r`s before it are dropped too).
    ///
    /// # Errors
    /// The line is longer than [`MAX_LINE`] bytes (not counting its `\n` and one `\r`).
    #[inline]
    fn line_body<'a>(&self, line: &'a [u8]) -> Result<&'a [u8], MarketDataError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let mut body = line.strip_suffix(b"\r").unwrap_or(line);
        if body.len() > MAX_LINE {
            return Err(self.err_at(
                1,
                format!(
                    "line longer than {MAX_LINE} bytes: not a market-data row (a CSV row is under 100 bytes)"
                ),
            ));
        }
        while let [rest @ .., b'\r'] = body {
            body = rest;
        }
        Ok(body)
    }

    /// Parse the next line of the file (with or without its `\n`): its event, if it holds one
    /// (not an empty line or a skipped print), goes to `out`.
    ///
    /// # Errors
    /// A malformed or too long line, with `file:line:column`.
    #[inline]
    pub(crate) fn row(&mut self, line: &[u8], out: &mut Vec<MarketEvent>) -> Result<(), MarketDataError> {
        self.line_no += 1;
        let body = self.line_body(line)?;
        if body.is_empty() {
            return Ok(());
        }
        self.parse_line(body, out).map_err(|e| self.err_at(e.column, e.message))
    }

    fn parse_line(&mut self, line: &[u8], out: &mut Vec<MarketEvent>) -> Result<(), RowError> {
        let mut fields: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
        let n = split_fields(line, &mut fields)?;
        if n < self.ncols {
            let message = format!("expected {} fields, found {n}", self.ncols);
            return Err(RowError { column: line.len() + 1, message });
        }
        let ts_field = fields[self.ts_col];
        let ts = match self.time {
            TimeFormat::Iso => parse_timestamp_cached(ts_field, &mut self.dates)
                .map_err(|e| format!("{e} (expected YYYY-MM-DDTHH:MM:SS[.fraction] and Z or ±HH:MM)")),
            TimeFormat::MillisSince(midnight) => digits(ts_field)
                .filter(|ms| !ts_field.is_empty() && *ms < 86_400_000 * 2)
                .map(|ms| Timestamp(midnight + ms * 1_000_000))
                .ok_or_else(|| "expected milliseconds since midnight".to_owned()),
        }
        .map_err(|e| RowError::field(line, ts_field, "timestamp", &e))?;
        if ts.0 < self.last_ts {
            return Err(RowError::at(
                line,
                ts_field,
                format!("row is earlier than the row before it ({ts}); rows must be in time order"),
            ));
        }
        self.last_ts = ts.0;
        // A size: a decimal number, 0 or more.
        let size = |i: usize, name: &str| {
            parse_decimal(fields[i])
                .filter(|d| !d.is_sign_negative())
                .ok_or_else(|| RowError::field(line, fields[i], name, "expected a decimal number, 0 or more"))
        };
        // A price: a decimal number greater than 0, scaled down for Lean's integer prices.
        let scale = self.price_scale;
        let price = |i: usize, name: &str| {
            let mut d = parse_decimal(fields[i]).filter(|d| fastdec::is_positive(*d)).ok_or_else(|| {
                RowError::field(line, fields[i], name, "expected a decimal number greater than 0")
            })?;
            if scale > 0 {
                d.set_scale(d.scale() + scale)
                    .map_err(|_| RowError::field(line, fields[i], name, "too many decimals"))?;
            }
            Ok::<_, RowError>(d)
        };
        let symbol = self.symbol;
        let ev = match self.layout {
            Layout::Ticks { price: p, size: q, condition, suspicious } => {
                if let Some(s) = suspicious {
                    let flag = fields[s];
                    if !(flag.is_empty() || flag == b"0" || flag.eq_ignore_ascii_case(b"false")) {
                        return Ok(());
                    }
                }
                if let Some(c) = condition
                    && self.skip_conditions != 0
                {
                    let flags = parse_hex_flags(fields[c]).ok_or_else(|| {
                        RowError::field(line, fields[c], "sale_condition", "expected hexadecimal flags")
                    })?;
                    if flags & self.skip_conditions != 0 {
                        return Ok(());
                    }
                }
                MarketEvent::Trade(Trade { symbol, ts, price: price(p, "price")?, size: size(q, "size")? })
            }
            Layout::Bars { open, high, low, close, volume } => {
                let bar = Bar {
                    symbol,
                    ts,
                    duration_nanos: self.bar_duration,
                    open: price(open, "open")?,
                    high: price(high, "high")?,
                    low: price(low, "low")?,
                    close: price(close, "close")?,
                    volume: size(volume, "volume")?,
                };
                if bar.low > bar.high
                    || bar.open > bar.high
                    || bar.open < bar.low
                    || bar.close > bar.high
                    || bar.close < bar.low
                {
                    return Err(RowError::at(
                        line,
                        fields[open],
                        "inconsistent bar: open/close outside [low, high]".to_owned(),
                    ));
                }
                MarketEvent::Bar(bar)
            }
            Layout::Quotes { bid, bid_size, ask, ask_size } => MarketEvent::Quote(Quote {
                symbol,
                ts: ts.add_nanos(self.bar_duration),
                bid: price(bid, "bid")?,
                bid_size: size(bid_size, "bid size")?,
                ask: price(ask, "ask")?,
                ask_size: size(ask_size, "ask size")?,
            }),
        };
        out.push(ev);
        Ok(())
    }
}

impl Iterator for CsvSource {
    type Item = Result<MarketEvent, MarketDataError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

/// Guess a bar length (ns) from a path: a `1s`/`5m`/`1h`/`1d` token in the file name, or a
/// `second`/`minute`/`hour`/`daily` directory (Lean's layout).
pub fn bar_duration_from_path(path: &Path) -> Option<i64> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    for token in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        if let Some(d) = parse_duration_token(token) {
            return Some(d);
        }
    }
    for dir in path.ancestors().skip(1).filter_map(|p| p.file_name()) {
        let d = match dir.to_string_lossy().to_ascii_lowercase().as_str() {
            "second" => Timestamp::NANOS_PER_SEC,
            "minute" => 60 * Timestamp::NANOS_PER_SEC,
            "hour" => 3600 * Timestamp::NANOS_PER_SEC,
            "daily" => 86_400 * Timestamp::NANOS_PER_SEC,
            _ => continue,
        };
        return Some(d);
    }
    None
}

/// Parse `30s`, `1m`, `5min`, `4h`, `1d` into nanoseconds.
pub fn parse_duration_token(token: &str) -> Option<i64> {
    let split = token.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = token.split_at(split);
    let n: i64 = num.parse().ok().filter(|n| *n > 0)?;
    let unit_secs = match unit {
        "s" | "sec" | "second" | "seconds" => 1,
        "m" | "min" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return None,
    };
    n.checked_mul(unit_secs)?.checked_mul(Timestamp::NANOS_PER_SEC)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(b: &[u8]) -> Option<i64> {
    let mut v = 0i64;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(d))?;
    }
    Some(v)
}

/// Parse `YYYY-MM-DDTHH:MM:SS[.fffffffff](Z|±HH:MM)` (a space may replace the `T`).
///
/// # Errors
/// A short description of what is wrong.
pub fn parse_timestamp(s: &[u8]) -> Result<Timestamp, &'static str> {
    parse_timestamp_cached(s, &mut DateCache::default())
}

/// The day number of the last date parsed, and the local seconds of the last
/// `YYYY-MM-DDTHH:MM:SS` prefix; consecutive rows share a date (and, on tick data, mostly a
/// second), so the date and time arithmetic and validation are done once per day / second
/// instead of once per row.
#[derive(Debug, Clone, Copy, Default)]
struct DateCache {
    key: [u8; 10],
    days: i64,
    valid: bool,
    sec_key: [u8; 19],
    /// Local seconds since the epoch of `sec_key` (before the UTC offset).
    secs: i64,
    sec_valid: bool,
}

/// Validate `YYYY-MM-DDTHH:MM:SS` (the first 19 bytes of `s`, which has at least 20) and
/// return its local seconds since the epoch.
fn parse_local_seconds(s: &[u8], cache: &mut DateCache) -> Result<i64, &'static str> {
    if s[4] != b'-' || s[7] != b'-' || !(s[10] == b'T' || s[10] == b' ') || s[13] != b':' || s[16] != b':' {
        return Err("expected YYYY-MM-DDTHH:MM:SS");
    }
    let num = |r: std::ops::Range<usize>| digits(&s[r]).ok_or("non-digit in date or time");
    let days = if cache.valid && cache.key == s[..10] {
        cache.days
    } else {
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
            return Err("no such date");
        }
        let days = days_from_civil(y, mo, d);
        cache.key.copy_from_slice(&s[..10]);
        cache.days = days;
        cache.valid = true;
        days
    };
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 60 {
        return Err("no such time of day");
    }
    Ok(days * 86_400 + h * 3600 + mi * 60 + sec)
}

fn parse_timestamp_cached(s: &[u8], cache: &mut DateCache) -> Result<Timestamp, &'static str> {
    if s.len() < 20 {
        return Err("too short for YYYY-MM-DDTHH:MM:SS±HH:MM");
    }
    // The same first 19 bytes as a row already accepted: same checks, same local seconds.
    let local = if cache.sec_valid && cache.sec_key == s[..19] {
        cache.secs
    } else {
        let local = parse_local_seconds(s, cache)?;
        cache.sec_key.copy_from_slice(&s[..19]);
        cache.secs = local;
        cache.sec_valid = true;
        local
    };
    let mut i = 19;
    let mut nanos = 0i64;
    if s[i] == b'.' {
        i += 1;
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err("empty fraction of a second");
        }
        // Nanoseconds: the first nine digits, padded with zeros.
        let kept = (i - start).min(9);
        for &d in &s[start..start + kept] {
            nanos = nanos * 10 + i64::from(d - b'0');
        }
        nanos *= 10i64.pow((9 - kept) as u32);
    }
    let offset_secs = parse_utc_offset(&s[i..])?;
    let secs = local - offset_secs;
    secs.checked_mul(Timestamp::NANOS_PER_SEC)
        .and_then(|n| n.checked_add(nanos))
        .map(Timestamp)
        .ok_or("timestamp out of range")
}

/// `Z` or `±HH:MM` in seconds east of UTC.
fn parse_utc_offset(s: &[u8]) -> Result<i64, &'static str> {
    match s {
        b"Z" | b"z" => Ok(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = digits(&[*h1, *h2]).ok_or("bad UTC offset")?;
            let om = digits(&[*m1, *m2]).ok_or("bad UTC offset")?;
            if oh > 23 || om > 59 {
                return Err("bad UTC offset");
            }
            let v = oh * 3600 + om * 60;
            Ok(if *sign == b'-' { -v } else { v })
        }
        _ => Err("missing or malformed UTC offset (Z or ±HH:MM)"),
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The largest magnitude accepted for a price or size (exclusive): 10^18, far above any real
/// market value, so sums over any tape stay far from `Decimal`'s limit (≈ 7.9·10^28).
const MAX_MAGNITUDE: i64 = 1_000_000_000_000_000_000;
/// Digits before the decimal point that keep a value below [`MAX_MAGNITUDE`].
const MAX_INTEGER_DIGITS: u32 = 18;

/// Parse a plain decimal (`-12.3400`, `100`) exactly, without going through `f64`.
/// Returns `None` for anything else (exponents, empty text, stray characters) and for
/// magnitudes of 10^18 or more.
pub fn parse_decimal(s: &[u8]) -> Option<Decimal> {
    let (neg, body) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut mantissa: u64 = 0;
    let mut scale: u32 = 0;
    let mut ndigits = 0u32;
    let mut dot = false;
    for &c in body {
        if c == b'.' {
            if dot {
                return None;
            }
            dot = true;
            continue;
        }
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        ndigits += 1;
        if ndigits > 19 {
            // Too long for the fast path: let rust_decimal do it exactly.
            let text = std::str::from_utf8(s).ok()?;
            return Decimal::from_str_exact(text).ok().filter(|d| d.abs() < Decimal::from(MAX_MAGNITUDE));
        }
        mantissa = mantissa * 10 + u64::from(d);
        if dot {
            scale += 1;
        }
    }
    if ndigits == 0 || scale > 28 || ndigits - scale > MAX_INTEGER_DIGITS {
        return None;
    }
    // Truncating casts split the u64 mantissa into the two low 32-bit words.
    Some(Decimal::from_parts(mantissa as u32, (mantissa >> 32) as u32, 0, neg && mantissa != 0, scale))
}

/// Open a file as a [`CsvSource`]; a convenience for [`CsvSource::open`].
///
/// # Errors
/// As [`CsvSource::open`].
pub fn open(path: impl AsRef<Path>, opts: &CsvOptions) -> Result<CsvSource, MarketDataError> {
    CsvSource::open(path.as_ref(), opts)
}

/// Read a whole file's events (for tests and small files).
///
/// # Errors
/// As [`CsvSource::next_event`].
pub fn read_all(path: impl AsRef<Path>, opts: &CsvOptions) -> Result<Vec<MarketEvent>, MarketDataError> {
    open(path, opts)?.collect()
}

/// Read any reader (not necessarily a file, e.g. standard input) as a CSV source; gzip is
/// detected from the first bytes.
///
/// # Errors
/// As [`CsvSource::open`].
pub fn from_read<R: Read + Send + 'static>(
    name: &str,
    reader: R,
    opts: &CsvOptions,
) -> Result<CsvSource, MarketDataError> {
    let mut buffered = BufReader::with_capacity(1 << 16, reader);
    let gz = buffered
        .fill_buf()
        .map_err(|source| MarketDataError::Io { path: name.to_owned(), source })?
        .starts_with(&[0x1f, 0x8b]);
    let boxed: Box<dyn BufRead + Send> = if gz {
        Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(buffered)))
    } else {
        Box::new(buffered)
    };
    CsvSource::from_reader(name.to_owned(), &PathBuf::from(name), boxed, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_chrono() {
        for text in [
            "2013-10-07T09:30:00.000-04:00",
            "2016-10-07T00:00:04.000+00:00",
            "2024-02-29T23:59:59.123456789Z",
            "1969-12-31T23:59:59.5+05:30",
            "2013-10-07 04:00:00.464-04:00",
        ] {
            let ours = parse_timestamp(text.as_bytes()).unwrap();
            let chrono = chrono::DateTime::parse_from_rfc3339(&text.replace(' ', "T")).unwrap();
            assert_eq!(ours, Timestamp::from_datetime(&chrono), "{text}");
        }
        for bad in
            ["2013-10-07T09:30:00", "2013-02-30T09:30:00Z", "2013-10-07T25:30:00Z", "x013-10-07T09:30:00Z"]
        {
            assert!(parse_timestamp(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn decimals_are_exact() {
        for text in
            ["167.41", "0.0001", "-3.5", "100", "1234567890.1234567890123", "0", "-0.0", "999999999999999999"]
        {
            assert_eq!(parse_decimal(text.as_bytes()), Decimal::from_str_exact(text).ok(), "{text}");
        }
        for bad in ["", "1.2.3", "1e5", "abc", "-", ".", "1000000000000000000", "12345678901234567890.5"] {
            assert_eq!(parse_decimal(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn byte_order_mark_and_crlf_are_accepted() {
        let text = "\u{feff}timestamp,price,size\r\n2013-10-07T09:30:00.000-04:00,1.5,100\r\n\r\n";
        let events: Vec<_> =
            from_read("bom.csv", std::io::Cursor::new(text.as_bytes().to_vec()), &CsvOptions::default())
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(events.len(), 1);
        let MarketEvent::Trade(t) = events[0] else { panic!("not a trade") };
        assert_eq!((t.price, t.size), (Decimal::new(15, 1), Decimal::from(100)));
    }

    #[test]
    fn bar_length_from_path() {
        assert_eq!(
            bar_duration_from_path(Path::new("data/spy-1s-trade-2013-10-07_11.csv.gz")),
            Some(1_000_000_000)
        );
        assert_eq!(bar_duration_from_path(Path::new("x/spy_1m_trade.csv")), Some(60_000_000_000));
        assert_eq!(
            bar_duration_from_path(Path::new("lean/minute/spy/20131007_trade.csv")),
            Some(60_000_000_000)
        );
        assert_eq!(bar_duration_from_path(Path::new("spy_trade.csv")), None);
    }
}
