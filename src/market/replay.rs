//! Replay of recorded market data: one or many CSV files merged into one time-ordered stream.
//!
//! [`Replay::open`] takes a file, a directory (every `*.csv` / `*.csv.gz` / Lean `*.zip` inside,
//! sorted by name) or a glob (`data/spy-ticks/*.csv.gz`). Each file is read by a [`CsvSource`],
//! which inflates and parses it ahead on two helper threads; the files are merged by timestamp
//! with a k-way merge that is **stable**: on equal timestamps, events keep file order (files
//! sorted by path) and row order. Memory stays flat in the tape's length (each open file holds
//! a bounded number of chunks and batches of events) and in the number of files (a file is
//! opened at most [`FILES_AHEAD`] files before the merge reaches it). An error
//! (a bad row, a file that cannot be read) comes in its place: after every event before it.
//! One instrument's trades must come at one resolution (see `check_one_resolution`): ticks
//! with bars, or bars of two lengths, would count every trade twice and are refused.
//!
//! With [`ReplayOptions::price_band`], the merged stream passes through a [`PriceBand`]: trades
//! and bars far off the recent price are dropped, and [`Replay::dropped_prints`] counts them.
//!
//! Vendor bars can drive a trade-driven engine through [`SyntheticTrades`], which replaces
//! each [`Bar`] by the trades of a [`BarTradePolicy`] (see [`bar_trades`]).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;

use super::band::{DroppedPrints, PriceBand, PriceBandConfig};
use super::csv::{CsvKind, CsvOptions, CsvSource, MarketDataError, ReadCounter};
use super::event::{Bar, MarketEvent, Trade};
use crate::model::{SymbolId, Timestamp};

/// Options for a [`Replay`].
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Symbol stamped on every event.
    pub symbol: SymbolId,
    /// Bar length in nanoseconds for bar files; `None` = guess from each file's path.
    pub bar_duration: Option<i64>,
    /// Drop events before this instant.
    pub from: Option<Timestamp>,
    /// Drop events at or after this instant (the replay stops there).
    pub to: Option<Timestamp>,
    /// Keep tick prints that do not set the last sale price (see [`super::csv::NOT_LAST_SALE`]).
    pub all_prints: bool,
    /// Drop prints off the recent price ([`PriceBand`]); `None` keeps every print.
    pub price_band: Option<PriceBandConfig>,
}

/// A time-ordered, streaming merge of one or more market-data files.
#[derive(Debug)]
pub struct Replay {
    files: Files,
    /// Kind, bar length of every file, in file order.
    meta: Vec<(CsvKind, i64)>,
    /// The next event of every file but the lead (its first while it is parked); `None` once
    /// a file is done. The lead's is there only when it has just taken the lead.
    heads: Vec<Option<MarketEvent>>,
    /// The file whose next event comes first (earliest, then first in file order); `None` once
    /// every file is done. It stays out of `heap` while it keeps the lead, so that a run of
    /// events of one file costs no heap operation, and its next event is read only when it is
    /// wanted.
    lead: Option<usize>,
    /// The other files with a head, keyed by it.
    heap: BinaryHeap<Reverse<(Timestamp, usize)>>,
    to: Option<Timestamp>,
    band: Option<PriceBand>,
    done: bool,
}

/// How many files a merge of several opens ahead of the events it has reached: each reads
/// and parses its first `market::pipeline` buffers while the merge is still in earlier files.
pub const FILES_AHEAD: usize = 1;

/// The files of a [`Replay`], in file order, and how far each has been opened.
///
/// A merge of several files first only peeks at each (header and first event, inflated
/// inline) and parks it. A parked file is opened (its helper threads started) when the merge
/// reaches its first event, or up to [`FILES_AHEAD`] files earlier, in the order the merge
/// reaches them; it is closed as soon as it is done. So a replay of many day files holds the
/// files it is reading and [`FILES_AHEAD`] more (each ~2.5 MB of buffers and two threads):
/// memory stays flat in the number of files.
#[derive(Debug)]
struct Files {
    slots: Vec<Slot>,
    /// The parked files in the order the merge reaches them (first event, then file order).
    queue: Vec<usize>,
    /// How many of `queue` have been opened.
    opened: usize,
    /// Files opened ahead that the merge has not reached yet.
    ahead: usize,
    /// Every file's progress counter and text length (`None`: unknown), kept across parking.
    counters: Vec<Option<(ReadCounter, u64)>>,
    from: Option<Timestamp>,
}

/// Where one file of a [`Replay`] is.
#[derive(Debug)]
enum Slot {
    /// Peeked at (its first event is its head) and closed.
    Parked(Parked),
    /// Opened ahead of the merge, its first event still to be skipped (or the error opening
    /// it, reported when the merge reaches it).
    Ahead(Result<CsvSource, MarketDataError>),
    /// Being read by the merge.
    Open(CsvSource),
    /// Exhausted, or failed.
    Done,
}

/// How to reopen a file that was peeked at.
#[derive(Debug)]
struct Parked {
    path: PathBuf,
    opts: CsvOptions,
}

impl Files {
    /// File `i`'s next event, after the one the merge has taken; a parked file is opened (and
    /// the files after it ahead) when the merge takes its first.
    ///
    /// # Errors
    /// The file cannot be reopened, or its next row is bad.
    #[inline]
    fn next(&mut self, i: usize) -> Result<Option<MarketEvent>, MarketDataError> {
        // Most often: the next event of the batch at hand.
        if let Slot::Open(src) = &mut self.slots[i]
            && let Some(ev) = src.next_ready()
            && self.from.is_none_or(|f| ev.ts() >= f)
        {
            return Ok(Some(ev));
        }
        self.next_slow(i)
    }

    /// [`Files::next`] when no event is at hand: wait for the next batch, open the file, or
    /// find the file done.
    fn next_slow(&mut self, i: usize) -> Result<Option<MarketEvent>, MarketDataError> {
        if matches!(self.slots[i], Slot::Parked(_) | Slot::Ahead(_)) {
            self.reach(i)?;
        }
        let next = match &mut self.slots[i] {
            Slot::Open(src) => next_in_range(src, self.from),
            _ => Ok(None),
        };
        if !matches!(next, Ok(Some(_))) {
            // Done (or failed): free its buffers and threads now.
            self.slots[i] = Slot::Done;
        }
        next
    }

    /// The merge has taken file `i`'s first event: open the file if it is not yet, open the
    /// next ones ahead, and skip past that event.
    fn reach(&mut self, i: usize) -> Result<(), MarketDataError> {
        let opened = match std::mem::replace(&mut self.slots[i], Slot::Done) {
            Slot::Parked(p) => self.open(i, &p),
            Slot::Ahead(src) => {
                self.ahead -= 1;
                src
            }
            other => {
                self.slots[i] = other;
                return Ok(());
            }
        };
        self.open_ahead();
        let mut src = opened?;
        next_in_range(&mut src, self.from)?;
        self.slots[i] = Slot::Open(src);
        Ok(())
    }

    /// Open parked files, in the order the merge reaches them, up to [`FILES_AHEAD`] ahead.
    fn open_ahead(&mut self) {
        while self.ahead < FILES_AHEAD
            && let Some(&j) = self.queue.get(self.opened)
        {
            self.opened += 1;
            if let Slot::Parked(p) = &self.slots[j] {
                self.slots[j] = Slot::Ahead(self.open(j, p));
                self.ahead += 1;
            }
        }
    }

    /// Reopen parked file `i` for reading, its progress counted where its peek's was.
    fn open(&self, i: usize, p: &Parked) -> Result<CsvSource, MarketDataError> {
        let mut src = CsvSource::open(&p.path, &p.opts)?;
        if let Some((c, _)) = &self.counters[i] {
            src.share_progress(c.clone());
        }
        Ok(src)
    }

    /// How many files are open for reading.
    fn open_count(&self) -> usize {
        self.slots.iter().filter(|s| matches!(s, Slot::Open(_) | Slot::Ahead(Ok(_)))).count()
    }
}

/// How far a [`Replay`] has read: text bytes parsed (decompressed for gzip) of the files' total
/// text length, updated every 1024 lines or batch of events handed out.
#[derive(Debug, Clone, Default)]
pub struct ReplayProgress {
    counters: Vec<ReadCounter>,
    total: u64,
}

impl ReplayProgress {
    /// The fraction read, 0.0 to 1.0 (`None` when the size is unknown, e.g. Lean zips).
    pub fn fraction(&self) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let read: u64 = self.counters.iter().map(ReadCounter::get).sum();
        Some((read as f64 / self.total as f64).clamp(0.0, 1.0))
    }
}

/// The files a `path` argument names: itself, the data files (`*.csv`, `*.csv.gz`, Lean `*.zip`)
/// of a directory, or a glob's matches, sorted by path.
///
/// # Errors
/// Nothing matches, or a glob pattern is malformed.
pub fn resolve_paths(path: &str) -> Result<Vec<PathBuf>, MarketDataError> {
    let p = Path::new(path);
    let mut files: Vec<PathBuf> = if p.is_dir() {
        let rd =
            std::fs::read_dir(p).map_err(|source| MarketDataError::Io { path: path.to_owned(), source })?;
        let mut v = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|source| MarketDataError::Io { path: path.to_owned(), source })?;
            let name = entry.file_name().to_string_lossy().to_ascii_lowercase();
            let data_file = name.ends_with(".csv") || name.ends_with(".csv.gz") || name.ends_with(".zip");
            if data_file && entry.path().is_file() {
                v.push(entry.path());
            }
        }
        v
    } else if p.exists() {
        vec![p.to_path_buf()]
    } else if path.contains(['*', '?', '[']) {
        let paths =
            glob::glob(path).map_err(|e| MarketDataError::Invalid(format!("bad glob `{path}`: {e}")))?;
        let mut v = Vec::new();
        for entry in paths {
            let p = entry.map_err(|e| MarketDataError::Invalid(format!("{e}")))?;
            if p.is_file() {
                v.push(p);
            }
        }
        v
    } else {
        return Err(MarketDataError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        });
    };
    files.sort();
    if files.is_empty() {
        return Err(MarketDataError::Invalid(format!(
            "no market-data files (*.csv, *.csv.gz, *.zip) match `{path}`"
        )));
    }
    Ok(files)
}

/// Trades of one instrument must come at one resolution: ticks together with bars, or bars of
/// two lengths (`data/` holds SPY at 1 s and 1 m), would count every trade twice — doubled
/// volumes and candles built from both. Quote bars may accompany either.
fn check_one_resolution(sources: &[CsvSource]) -> Result<(), MarketDataError> {
    let mut seen: Vec<(SymbolId, CsvKind, i64, &str)> = Vec::new();
    for s in sources.iter().filter(|s| s.kind() != CsvKind::QuoteBars) {
        let this = (s.symbol(), s.kind(), s.bar_duration());
        if let Some(first) = seen.iter().find(|f| f.0 == this.0 && (f.1, f.2) != (this.1, this.2)) {
            let what = |k: CsvKind, d: i64| match k {
                CsvKind::Ticks => "trade ticks".to_owned(),
                _ => {
                    let secs = d / 1_000_000_000;
                    let (n, unit) = [(86_400, "d"), (3_600, "h"), (60, "m")]
                        .into_iter()
                        .find(|(u, _)| secs > 0 && secs % u == 0)
                        .map_or((secs, "s"), |(u, name)| (secs / u, name));
                    format!("{n}{unit} bars")
                }
            };
            return Err(MarketDataError::Invalid(format!(
                "{} ({}) and {} ({}) are replayed as one instrument's trades at two resolutions, \
                 which would count every trade twice; point the path at files of one resolution",
                first.3,
                what(first.1, first.2),
                s.path(),
                what(this.1, this.2),
            )));
        }
        seen.push((this.0, this.1, this.2, s.path()));
    }
    Ok(())
}

impl Replay {
    /// Open a file, directory or glob (see the module docs).
    ///
    /// # Errors
    /// Nothing matches, or a file cannot be opened or has a bad header or first row.
    pub fn open(path: &str, opts: &ReplayOptions) -> Result<Self, MarketDataError> {
        Self::from_files(&resolve_paths(path)?, opts)
    }

    /// Merge several instruments: each `(path, symbol)` is a file, directory or glob whose events
    /// get that symbol. Ties break by the order given, then by path.
    ///
    /// # Errors
    /// As [`Replay::open`].
    pub fn open_many(inputs: &[(&str, SymbolId)], opts: &ReplayOptions) -> Result<Self, MarketDataError> {
        let mut files = Vec::new();
        for (path, symbol) in inputs {
            let csv_opts = CsvOptions {
                symbol: *symbol,
                bar_duration: opts.bar_duration,
                peek: false,
                all_prints: opts.all_prints,
            };
            for f in resolve_paths(path)? {
                files.push((f, csv_opts.clone()));
            }
        }
        Self::from_file_options(files, opts)
    }

    /// Merge these files (their order breaks timestamp ties).
    ///
    /// # Errors
    /// A file cannot be opened or has a bad header or first row.
    pub fn from_files(files: &[PathBuf], opts: &ReplayOptions) -> Result<Self, MarketDataError> {
        let csv_opts = CsvOptions {
            symbol: opts.symbol,
            bar_duration: opts.bar_duration,
            peek: false,
            all_prints: opts.all_prints,
        };
        Self::from_file_options(files.iter().map(|f| (f.clone(), csv_opts.clone())).collect(), opts)
    }

    /// Merge these files, each read with its options. A single file is opened for reading at
    /// once; of several, each is only peeked at and parked (see [`Files`]).
    fn from_file_options(
        files: Vec<(PathBuf, CsvOptions)>,
        opts: &ReplayOptions,
    ) -> Result<Self, MarketDataError> {
        if files.len() == 1 {
            let (path, csv_opts) = &files[0];
            return Self::from_sources(vec![CsvSource::open(path, csv_opts)?], opts);
        }
        let mut peeked = Vec::with_capacity(files.len());
        for (path, csv_opts) in &files {
            peeked.push(CsvSource::open(path, &CsvOptions { peek: true, ..csv_opts.clone() })?);
        }
        let (meta, counters) = survey(&peeked)?;
        let mut heads = Vec::with_capacity(files.len());
        let mut slots = Vec::with_capacity(files.len());
        for (mut src, (path, csv_opts)) in peeked.into_iter().zip(files) {
            let head = next_in_range(&mut src, opts.from)?;
            slots.push(if head.is_some() {
                Slot::Parked(Parked { path, opts: csv_opts })
            } else {
                Slot::Done
            });
            heads.push(head);
        }
        Ok(Self::merge(slots, heads, meta, counters, opts))
    }

    /// Merge already opened sources (their order breaks timestamp ties).
    ///
    /// # Errors
    /// A source's first row is bad.
    pub fn from_sources(mut sources: Vec<CsvSource>, opts: &ReplayOptions) -> Result<Self, MarketDataError> {
        let (meta, counters) = survey(&sources)?;
        let mut heads = Vec::with_capacity(sources.len());
        for src in &mut sources {
            heads.push(next_in_range(src, opts.from)?);
        }
        Ok(Self::merge(sources.into_iter().map(Slot::Open).collect(), heads, meta, counters, opts))
    }

    /// The merge of `slots`, whose first events are `heads`.
    fn merge(
        slots: Vec<Slot>,
        heads: Vec<Option<MarketEvent>>,
        meta: Vec<(CsvKind, i64)>,
        counters: Vec<Option<(ReadCounter, u64)>>,
        opts: &ReplayOptions,
    ) -> Self {
        let mut heap: BinaryHeap<_> =
            heads.iter().enumerate().filter_map(|(i, h)| h.map(|ev| Reverse((ev.ts(), i)))).collect();
        let lead = heap.pop().map(|Reverse((_, i))| i);
        let mut queue: Vec<usize> =
            (0..slots.len()).filter(|&i| matches!(slots[i], Slot::Parked(_))).collect();
        queue.sort_by_key(|&i| heads[i].map(|ev| (ev.ts(), i)));
        Self {
            files: Files { slots, queue, opened: 0, ahead: 0, counters, from: opts.from },
            meta,
            heads,
            lead,
            heap,
            to: opts.to,
            band: opts.price_band.map(PriceBand::new),
            done: false,
        }
    }

    /// How many files are open for reading right now: those the merge has reached and not
    /// finished, and up to [`FILES_AHEAD`] more (the others are parked until then, or done).
    pub fn open_files(&self) -> usize {
        self.files.open_count()
    }

    /// A handle on how far the replay has read its files (shareable with another thread).
    pub fn progress(&self) -> ReplayProgress {
        let (mut counters, mut total) = (Vec::new(), 0);
        for file in &self.files.counters {
            match file {
                Some((c, len)) => {
                    counters.push(c.clone());
                    total += len;
                }
                // One file of unknown size: the fraction is unknown.
                None => return ReplayProgress::default(),
            }
        }
        ReplayProgress { counters, total }
    }

    /// How many prints the price band dropped so far (shared: read it after the replay is
    /// consumed; always 0 without a band).
    pub fn dropped_prints(&self) -> DroppedPrints {
        self.band.as_ref().map(PriceBand::dropped).unwrap_or_default()
    }

    /// The kinds of the merged files, in file order.
    pub fn kinds(&self) -> Vec<CsvKind> {
        self.meta.iter().map(|m| m.0).collect()
    }

    /// The longest bar length among the files (0 if all are ticks).
    pub fn max_bar_duration(&self) -> i64 {
        self.meta.iter().map(|m| m.1).max().unwrap_or(0)
    }

    /// Read everything into memory (benchmarks, small files).
    ///
    /// # Errors
    /// The first error met while reading.
    pub fn load_all(self) -> Result<Vec<MarketEvent>, MarketDataError> {
        self.collect()
    }

    /// The next event in time order. The lead's next event is fetched only now, so that an
    /// error comes exactly after the events before it.
    fn advance(&mut self) -> Result<Option<MarketEvent>, MarketDataError> {
        loop {
            let Some(i) = self.lead else { return Ok(None) };
            let next = match self.heads[i].take() {
                // The first event of a file that has just taken the lead.
                Some(head) => Some(head),
                None => self.files.next(i)?,
            };
            let Some(ev) = next else {
                // Done with the lead: the next file takes it.
                self.lead = self.heap.pop().map(|Reverse((_, j))| j);
                continue;
            };
            // Another file's head comes first: it takes the lead, and `ev` waits as this
            // file's head.
            let key = (ev.ts(), i);
            if let Some(mut top) = self.heap.peek_mut()
                && top.0 < key
            {
                self.heads[i] = Some(ev);
                self.lead = Some(std::mem::replace(&mut *top, Reverse(key)).0.1);
                continue;
            }
            return Ok(Some(ev));
        }
    }
}

/// Every file's kind, bar length and progress counter, once checked that each instrument comes
/// at one resolution.
fn survey(sources: &[CsvSource]) -> Result<FilesSurvey, MarketDataError> {
    check_one_resolution(sources)?;
    let meta = sources.iter().map(|s| (s.kind(), s.bar_duration())).collect();
    Ok((meta, sources.iter().map(CsvSource::progress).collect()))
}

/// What [`survey`] finds: kind and bar length, progress counter and text length, per file.
type FilesSurvey = (Vec<(CsvKind, i64)>, Vec<Option<(ReadCounter, u64)>>);

#[inline(always)]
fn next_in_range(
    src: &mut CsvSource,
    from: Option<Timestamp>,
) -> Result<Option<MarketEvent>, MarketDataError> {
    loop {
        match src.next_event()? {
            Some(ev) if from.is_some_and(|f| ev.ts() < f) => {}
            other => return Ok(other),
        }
    }
}

impl Iterator for Replay {
    type Item = Result<MarketEvent, MarketDataError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            return match self.advance() {
                Ok(Some(ev)) if self.to.is_none_or(|t| ev.ts() < t) => {
                    if self.band.as_mut().is_some_and(|b| !b.admit(&ev)) {
                        continue;
                    }
                    Some(Ok(ev))
                }
                Ok(_) => {
                    // End of data, or past `to`: stop reading.
                    self.done = true;
                    None
                }
                Err(e) => {
                    self.done = true;
                    Some(Err(e))
                }
            };
        }
    }
}

/// When the synthetic trades of a bar happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BarTradeTiming {
    /// All at the bar's start timestamp.
    AtStart,
    /// Spread evenly within the bar: trade `i` of `n` at `start + i·duration/n`, so every trade
    /// stays inside `[start, start + duration)` and lands in the same candle as the bar.
    #[default]
    Spread,
}

/// How a bar becomes trades; see [`bar_trades`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BarTradePolicy {
    /// When the trades happen.
    pub timing: BarTradeTiming,
}

/// Up to four synthetic trades of one bar, in order.
#[derive(Debug, Clone, Copy)]
pub struct BarTrades {
    trades: [Option<Trade>; 4],
    next: usize,
}

impl Iterator for BarTrades {
    type Item = Trade;

    fn next(&mut self) -> Option<Trade> {
        while self.next < 4 {
            self.next += 1;
            if let Some(t) = self.trades[self.next - 1] {
                return Some(t);
            }
        }
        None
    }
}

/// The synthetic trades of a bar: the price path **open → nearer extreme → farther extreme →
/// close** (the extreme closer to the open is assumed to be hit first; on a tie, the high), with
/// consecutive equal prices merged into one trade. The bar's volume is shared out: every trade
/// but the last gets `volume / n` truncated to 8 decimal places, the last gets the rest, so the
/// sizes add up to the bar's volume exactly. Timing follows [`BarTradeTiming`].
pub fn bar_trades(bar: &Bar, policy: BarTradePolicy) -> BarTrades {
    let high_first = bar.high - bar.open <= bar.open - bar.low;
    let path = if high_first {
        [bar.open, bar.high, bar.low, bar.close]
    } else {
        [bar.open, bar.low, bar.high, bar.close]
    };
    let mut prices = [Decimal::ZERO; 4];
    let mut n = 0usize;
    for p in path {
        if n == 0 || prices[n - 1] != p {
            prices[n] = p;
            n += 1;
        }
    }
    // n is 1..=4, so the conversion cannot fail.
    let n_dec = Decimal::from(n as u32);
    let share = (bar.volume / n_dec).trunc_with_scale(8);
    let mut trades = [None; 4];
    let mut given = Decimal::ZERO;
    for (i, price) in prices.iter().take(n).enumerate() {
        let size = if i + 1 == n { bar.volume - given } else { share };
        given += size;
        let offset = match policy.timing {
            BarTradeTiming::AtStart => 0,
            BarTradeTiming::Spread => bar.duration_nanos / n as i64 * i as i64,
        };
        trades[i] = Some(Trade { symbol: bar.symbol, ts: bar.ts.add_nanos(offset), price: *price, size });
    }
    BarTrades { trades, next: 0 }
}

/// An iterator adapter that replaces every [`MarketEvent::Bar`] by its synthetic trades
/// ([`bar_trades`]); trades and quotes pass through unchanged.
///
/// With [`BarTradeTiming::Spread`] the trades of a bar carry timestamps up to the bar's end, so
/// the output is time-ordered only if no other source's event falls inside a bar (true for a
/// stream of bars alone, e.g. the 1-second SPY file). For a merge of bars with ticks or quotes,
/// use [`BarTradeTiming::AtStart`], which never reorders.
#[derive(Debug)]
pub struct SyntheticTrades<I> {
    inner: I,
    policy: BarTradePolicy,
    pending: Option<BarTrades>,
}

impl<I> SyntheticTrades<I> {
    /// Wrap an event stream.
    pub fn new(inner: I, policy: BarTradePolicy) -> Self {
        Self { inner, policy, pending: None }
    }
}

impl<I, E> Iterator for SyntheticTrades<I>
where
    I: Iterator<Item = Result<MarketEvent, E>>,
{
    type Item = Result<MarketEvent, E>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(t) = self.pending.as_mut().and_then(Iterator::next) {
                return Some(Ok(MarketEvent::Trade(t)));
            }
            self.pending = None;
            match self.inner.next()? {
                Ok(MarketEvent::Bar(bar)) => self.pending = Some(bar_trades(&bar, self.policy)),
                other => return Some(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// `name.csv` in `dir`: a tick row at 10:00:0k on 2013-10-`day` of price `{price}{k}` for
    /// each `k` of `rows` (a row given as `None` is a bad one: a negative price).
    fn day_file(dir: &Path, name: &str, day: &str, price: u32, rows: &[Option<u32>]) {
        let rows: String = rows
            .iter()
            .enumerate()
            .map(|(k, ok)| match ok {
                Some(_) => format!("2013-10-{day}T10:00:0{k}.000-04:00,{price}{k},100\n"),
                None => format!("2013-10-{day}T10:00:0{k}.000-04:00,-1,100\n"),
            })
            .collect();
        std::fs::write(dir.join(format!("{name}.csv")), format!("timestamp,price,size\n{rows}"))
            .expect("write");
    }

    /// The prices of a replay's events up to its end or error, the open-file count after each,
    /// and the error.
    fn drain(mut r: Replay) -> (Vec<Decimal>, Vec<usize>, Option<String>) {
        let (mut prices, mut open) = (Vec::new(), Vec::new());
        while let Some(ev) = r.next() {
            match ev {
                Ok(MarketEvent::Trade(t)) => prices.push(t.price),
                Ok(other) => panic!("not a trade: {other:?}"),
                Err(e) => return (prices, open, Some(e.to_string())),
            }
            open.push(r.open_files());
        }
        assert_eq!(r.open_files(), 0, "every file closed at the end");
        (prices, open, None)
    }

    const GOOD: [Option<u32>; 3] = [Some(0), Some(1), Some(2)];

    #[test]
    fn files_are_opened_one_ahead_of_the_merge_and_closed_when_done() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Three day files one after another, and a fourth overlapping the second.
        for (name, day, price) in [("a", "07", 1), ("b", "08", 2), ("c", "09", 3), ("d", "08", 4)] {
            day_file(dir.path(), name, day, price, &GOOD);
        }
        let r = Replay::open(&dir.path().to_string_lossy(), &ReplayOptions::default()).expect("open");
        assert_eq!(r.open_files(), 0, "all four only peeked at");
        let (prices, open, error) = drain(r);
        assert_eq!(error, None);
        // Time order; on equal times file order (b before d).
        let expected =
            [dec!(10), dec!(11), dec!(12), dec!(20), dec!(40), dec!(21), dec!(41), dec!(22), dec!(42)]
                .into_iter()
                .chain([dec!(30), dec!(31), dec!(32)])
                .collect::<Vec<_>>();
        assert_eq!(prices, expected);
        assert_eq!(open.iter().max(), Some(&(2 + FILES_AHEAD)), "the two overlapping files and one ahead");
    }

    /// Day files are read one after another, the next one opened (and read ahead) while the
    /// merge is still in the one before, and never more: memory stays flat in their number.
    #[test]
    fn day_files_are_read_one_ahead_and_no_more() {
        let dir = tempfile::tempdir().expect("temp dir");
        let days = ["07", "08", "09", "10", "11", "12"];
        for (k, day) in days.iter().enumerate() {
            day_file(dir.path(), &format!("day{k}"), day, k as u32 + 1, &GOOD);
        }
        let r = Replay::open(&dir.path().to_string_lossy(), &ReplayOptions::default()).expect("open");
        let (prices, open, error) = drain(r);
        assert_eq!((prices.len(), error), (3 * days.len(), None));
        // While the merge is in any day but the last, the next day is open too; never more.
        let most: Vec<usize> = open.chunks(3).map(|day| day.iter().copied().max().unwrap_or(0)).collect();
        let mut expected = vec![1 + FILES_AHEAD; days.len() - 1];
        expected.push(1);
        assert_eq!(most, expected, "files open after each event: {open:?}");
    }

    /// A bad row comes after every event before it, in time order: the events of the files
    /// before its file, and its file's rows before it.
    #[test]
    fn an_error_comes_after_the_events_before_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        day_file(dir.path(), "a", "07", 1, &GOOD);
        day_file(dir.path(), "b", "08", 2, &[Some(0), None, Some(2)]);
        day_file(dir.path(), "c", "09", 3, &GOOD);
        let r = Replay::open(&dir.path().to_string_lossy(), &ReplayOptions::default()).expect("open");
        let (prices, _, error) = drain(r);
        assert_eq!(prices, [dec!(10), dec!(11), dec!(12), dec!(20)]);
        let error = error.expect("an error");
        assert!(error.contains("b.csv:3:31: bad price"), "{error}");
    }

    /// A file that cannot be reopened when it is opened ahead of the merge is reported when the
    /// merge reaches it, after the event its peek gave.
    #[test]
    fn a_file_gone_before_the_merge_reaches_it_is_an_error_in_its_place() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, day, price) in [("a", "07", 1), ("b", "08", 2), ("c", "09", 3)] {
            day_file(dir.path(), name, day, price, &GOOD);
        }
        let r = Replay::open(&dir.path().to_string_lossy(), &ReplayOptions::default()).expect("open");
        std::fs::remove_file(dir.path().join("c.csv")).expect("remove");
        let (prices, _, error) = drain(r);
        assert_eq!(prices, [dec!(10), dec!(11), dec!(12), dec!(20), dec!(21), dec!(22), dec!(30)]);
        let error = error.expect("an error");
        assert!(error.contains("c.csv"), "{error}");
    }

    fn bar(o: Decimal, h: Decimal, l: Decimal, c: Decimal, v: Decimal) -> Bar {
        Bar {
            symbol: SymbolId(0),
            ts: Timestamp(1_000),
            duration_nanos: 60,
            open: o,
            high: h,
            low: l,
            close: c,
            volume: v,
        }
    }

    #[test]
    fn nearer_extreme_first_and_volume_adds_up() {
        let b = bar(dec!(10), dec!(12), dec!(9.5), dec!(11), dec!(100));
        let t: Vec<_> = bar_trades(&b, BarTradePolicy::default()).collect();
        assert_eq!(t.iter().map(|t| t.price).collect::<Vec<_>>(), [dec!(10), dec!(9.5), dec!(12), dec!(11)]);
        assert_eq!(t.iter().map(|t| t.ts.0).collect::<Vec<_>>(), [1000, 1015, 1030, 1045]);
        assert_eq!(t.iter().map(|t| t.size).sum::<Decimal>(), dec!(100));
    }

    #[test]
    fn flat_bar_is_one_trade_and_thirds_add_up() {
        let b = bar(dec!(5), dec!(5), dec!(5), dec!(5), dec!(7));
        let t: Vec<_> = bar_trades(&b, BarTradePolicy { timing: BarTradeTiming::AtStart }).collect();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].size, dec!(7));
        let b = bar(dec!(5), dec!(6), dec!(5), dec!(6), dec!(10));
        let t: Vec<_> = bar_trades(&b, BarTradePolicy::default()).collect();
        assert_eq!(t.iter().map(|t| t.price).collect::<Vec<_>>(), [dec!(5), dec!(6)]);
        let b = bar(dec!(5), dec!(6), dec!(4), dec!(4), dec!(10));
        let t: Vec<_> = bar_trades(&b, BarTradePolicy::default()).collect();
        assert_eq!(t.len(), 3);
        assert_eq!(t.iter().map(|t| t.size).sum::<Decimal>(), dec!(10));
    }
}
