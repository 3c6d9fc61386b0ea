//! Replay of recorded market data: one or many CSV files merged into one time-ordered stream.
//!
//! [`Replay::open`] takes a file, a directory (every `*.csv` / `*.csv.gz` / Lean `*.zip` inside,
//! sorted by name) or a glob (`data/spy-ticks/*.csv.gz`). Each file is read lazily by a
//! [`CsvSource`]; the files are merged by timestamp with a k-way merge
//! that is **stable**: on equal timestamps, events keep file order (files sorted by path) and
//! row order. Memory stays flat in the tape's length: only one pending event per file is held.
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
use super::csv::{CsvKind, CsvOptions, CsvSource, MarketDataError};
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
    /// One slot per file, in file order: `None` once the file is exhausted, or while it is
    /// parked (see [`Parked`]).
    sources: Vec<Option<CsvSource>>,
    /// How to reopen a parked file; `None` for a file that is open or done.
    parked: Vec<Option<Parked>>,
    /// Kind, bar length of every file, in file order.
    meta: Vec<(CsvKind, i64)>,
    /// Every file's progress counter and text length (`None`: unknown), kept across parking.
    counters: Vec<Option<(super::csv::ReadCounter, u64)>>,
    heads: Vec<Option<MarketEvent>>,
    heap: BinaryHeap<Reverse<(Timestamp, usize)>>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    band: Option<PriceBand>,
    done: bool,
}

/// A file whose first event is known but which is closed until the merge reaches that event,
/// so a replay of many day files holds only the files it is reading (a file's read-ahead
/// buffers and thread cost ~1.5 MB): memory stays flat in the number of files too.
#[derive(Debug)]
struct Parked {
    path: PathBuf,
    opts: CsvOptions,
}

/// How far a [`Replay`] has read: text bytes parsed (decompressed for gzip) of the files' total
/// text length, updated every 1024 lines.
#[derive(Debug, Clone, Default)]
pub struct ReplayProgress {
    counters: Vec<super::csv::ReadCounter>,
    total: u64,
}

impl ReplayProgress {
    /// The fraction read, 0.0 to 1.0 (`None` when the size is unknown, e.g. Lean zips).
    pub fn fraction(&self) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let read: u64 = self.counters.iter().map(super::csv::ReadCounter::get).sum();
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

    /// Merge these files, each read with its options. One file is opened for reading at once;
    /// of several, each is only peeked at (header and first event, inflated inline) and parked
    /// until the merge reaches its first event.
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
        check_one_resolution(&peeked)?;
        let meta = peeked.iter().map(|s| (s.kind(), s.bar_duration())).collect();
        let counters = peeked.iter().map(CsvSource::progress).collect();
        let mut heads = Vec::with_capacity(files.len());
        let mut heap = BinaryHeap::with_capacity(files.len());
        let mut parked = Vec::with_capacity(files.len());
        for (i, (mut src, (path, csv_opts))) in peeked.into_iter().zip(files).enumerate() {
            let head = next_in_range(&mut src, opts.from)?;
            match &head {
                Some(ev) => {
                    heap.push(Reverse((ev.ts(), i)));
                    parked.push(Some(Parked { path, opts: csv_opts }));
                }
                None => parked.push(None),
            }
            heads.push(head);
        }
        let sources = std::iter::repeat_with(|| None).take(heads.len()).collect();
        let band = opts.price_band.map(PriceBand::new);
        Ok(Self {
            sources,
            parked,
            meta,
            counters,
            heads,
            heap,
            from: opts.from,
            to: opts.to,
            band,
            done: false,
        })
    }

    /// Merge already opened sources (their order breaks timestamp ties).
    ///
    /// # Errors
    /// A source's first row is bad.
    pub fn from_sources(mut sources: Vec<CsvSource>, opts: &ReplayOptions) -> Result<Self, MarketDataError> {
        check_one_resolution(&sources)?;
        let meta = sources.iter().map(|s| (s.kind(), s.bar_duration())).collect();
        let counters = sources.iter().map(CsvSource::progress).collect();
        let mut heads = Vec::with_capacity(sources.len());
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (i, src) in sources.iter_mut().enumerate() {
            let head = next_in_range(src, opts.from)?;
            if let Some(ev) = &head {
                heap.push(Reverse((ev.ts(), i)));
            }
            heads.push(head);
        }
        let parked = std::iter::repeat_with(|| None).take(sources.len()).collect();
        let sources = sources.into_iter().map(Some).collect();
        let band = opts.price_band.map(PriceBand::new);
        Ok(Self {
            sources,
            parked,
            meta,
            counters,
            heads,
            heap,
            from: opts.from,
            to: opts.to,
            band,
            done: false,
        })
    }

    /// How many files are open for reading right now (the others are parked until the merge
    /// reaches them, or done).
    pub fn open_files(&self) -> usize {
        self.sources.iter().filter(|s| s.is_some()).count()
    }

    /// A handle on how far the replay has read its files (shareable with another thread).
    pub fn progress(&self) -> ReplayProgress {
        let (mut counters, mut total) = (Vec::new(), 0);
        for file in &self.counters {
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

    fn advance(&mut self) -> Result<Option<MarketEvent>, MarketDataError> {
        if let [one] = self.sources.as_mut_slice() {
            // One file: no merge needed.
            if let Some(ev) = self.heads[0].take() {
                return Ok(Some(ev));
            }
            return match one {
                Some(src) => next_in_range(src, self.from),
                None => Ok(None),
            };
        }
        // Replace the top's key in place (one sift) rather than pop + push.
        let Some(mut top) = self.heap.peek_mut() else { return Ok(None) };
        let i = top.0.1;
        let ev = self.heads[i].take();
        if let Some(p) = self.parked[i].take() {
            // The merge has reached a parked file: open it for reading, past the head it gave.
            let mut src = CsvSource::open(&p.path, &p.opts)?;
            if let Some((c, _)) = &self.counters[i] {
                src.share_progress(c.clone());
            }
            next_in_range(&mut src, self.from)?;
            self.sources[i] = Some(src);
        }
        let next = match self.sources[i].as_mut() {
            Some(src) => next_in_range(src, self.from)?,
            None => None,
        };
        match next {
            Some(n) => {
                top.0 = (n.ts(), i);
                self.heads[i] = Some(n);
            }
            None => {
                std::collections::binary_heap::PeekMut::pop(top);
                // Done with this file: free its buffers and read-ahead thread now.
                self.sources[i] = None;
            }
        }
        Ok(ev)
    }
}

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

    #[test]
    fn files_are_opened_when_the_merge_reaches_them_and_closed_when_done() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Three day files one after another, and a fourth overlapping the second.
        let days = [("a", "07", 1), ("b", "08", 2), ("c", "09", 3), ("d", "08", 4)];
        for (name, day, price) in days {
            let rows: String =
                (0..3).map(|k| format!("2013-10-{day}T10:00:0{k}.000-04:00,{price}{k},100\n")).collect();
            std::fs::write(dir.path().join(format!("{name}.csv")), format!("timestamp,price,size\n{rows}"))
                .expect("write");
        }
        let mut r = Replay::open(&dir.path().to_string_lossy(), &ReplayOptions::default()).expect("open");
        assert_eq!(r.open_files(), 0, "all four only peeked at");
        let mut seen = Vec::new();
        let mut most_open = 0;
        while let Some(ev) = r.next() {
            let MarketEvent::Trade(t) = ev.expect("event") else { panic!("a trade") };
            seen.push(t.price);
            most_open = most_open.max(r.open_files());
        }
        // Time order; on equal times file order (b before d).
        let expected =
            [dec!(10), dec!(11), dec!(12), dec!(20), dec!(40), dec!(21), dec!(41), dec!(22), dec!(42)]
                .into_iter()
                .chain([dec!(30), dec!(31), dec!(32)])
                .collect::<Vec<_>>();
        assert_eq!(seen, expected);
        assert_eq!(most_open, 2, "the two overlapping files at once, never more");
        assert_eq!(r.open_files(), 0, "every file closed at the end");
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
