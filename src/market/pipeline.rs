//! A market-data file read and parsed on two helper threads, ahead of its consumer.
//!
//! A [`CsvSource`](super::csv::CsvSource) that is not a peek reads its header itself and hands
//! the rest of the file here ([`spawn`]):
//! - the *read* thread reads the text (inflating gzip or a zip entry: one stream, so one core's
//!   work at most) into chunks of [`CHUNK`] bytes, each cut after its last `\n` so that it holds
//!   whole lines (the partial line starts the next chunk);
//! - the *parse* thread turns the lines into events with the file's [`RowParser`] and hands
//!   them over in batches of [`BATCH`];
//! - the consumer ([`Events`], on the replay's thread) takes the batches in order.
//!
//! So inflating, parsing and the consumer's own work (the merge, the engine) overlap, on as many
//! cores as there are. Every hand-over is a bounded channel and emptied buffers travel back to
//! be filled again, so a file holds at most [`CHUNKS_IN_FLIGHT`] + 3 chunks of text and
//! [`BATCHES_IN_FLIGHT`] + 2 batches of events (about 1.3 MB and 1.3 MB), whatever its length.
//! Dropping the consumer ends both threads at their next hand-over.
//!
//! Nothing is lost or moved: a batch ends at a bad row and the error follows it, so the consumer
//! gets every event before the bad row, then the error with the `file:line:column` the parse
//! thread counted; an I/O error follows the events of the lines read before it; a line too long
//! to be a row (over [`MAX_LINE`] + 1 bytes before its `\n`) ends the text where the read thread
//! stopped, and the parse thread refuses it.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use super::csv::{MAX_LINE, MarketDataError, RowParser, split_at_byte};
use super::event::MarketEvent;

/// Bytes of text per chunk (256 KiB: about 5,000 rows of ticks).
pub(crate) const CHUNK: usize = 1 << 18;
/// Chunks waiting for the parse thread.
const CHUNKS_IN_FLIGHT: usize = 2;
/// Events per batch.
const BATCH: usize = 2048;
/// Batches waiting for the consumer.
const BATCHES_IN_FLIGHT: usize = 4;

// The partial line a chunk starts with (at most `MAX_LINE + 1` bytes, or it is refused) must
// leave room for more text, or the read thread would make no progress.
const _: () = assert!(CHUNK > MAX_LINE + 1);

/// Whole lines of text; the last chunk of a file may end without a `\n`.
struct Chunk {
    text: Vec<u8>,
    /// The text ends here.
    last: bool,
}

/// Events in file order.
struct Batch {
    events: Vec<MarketEvent>,
    /// Text bytes consumed through the last line parsed into this batch.
    consumed: u64,
    /// The file's last batch.
    last: bool,
}

/// The consumer's end of a file's pipeline.
pub(crate) struct Events {
    batches: Receiver<Result<Batch, MarketDataError>>,
    /// Emptied batches, back to the parse thread.
    spent: Sender<Vec<MarketEvent>>,
    batch: Vec<MarketEvent>,
    /// The next event of `batch` to hand out.
    next: usize,
    /// `batch` is the file's last.
    last: bool,
    /// Text bytes consumed through the last line of `batch`.
    consumed: u64,
    path: String,
}

/// Start reading `reader` (positioned after the header, `consumed` bytes into the text) and
/// parsing it with `rows` on two helper threads.
///
/// # Errors
/// A thread could not be started.
pub(crate) fn spawn(
    reader: Box<dyn BufRead + Send>,
    rows: RowParser,
    consumed: u64,
) -> Result<Events, MarketDataError> {
    let path = rows.path().to_owned();
    let no_thread =
        |e: io::Error| MarketDataError::Invalid(format!("{path}: cannot start a thread to read it: {e}"));
    let (chunks, chunks_in) = sync_channel(CHUNKS_IN_FLIGHT);
    let (spent_chunks, spent_chunks_in) = channel();
    let (batches, batches_in) = sync_channel(BATCHES_IN_FLIGHT);
    let (spent_batches, spent_batches_in) = channel();
    std::thread::Builder::new()
        .name("market-read".into())
        .spawn(move || read(reader, &chunks, &spent_chunks_in))
        .map_err(no_thread)?;
    let out = Batcher { out: batches, spent: spent_batches_in, events: Vec::with_capacity(BATCH), consumed };
    std::thread::Builder::new()
        .name("market-parse".into())
        .spawn(move || parse(rows, consumed, &chunks_in, &spent_chunks, out))
        .map_err(no_thread)?;
    Ok(Events {
        batches: batches_in,
        spent: spent_batches,
        batch: Vec::new(),
        next: 0,
        last: false,
        consumed,
        path,
    })
}

/// The read thread: hand `reader`'s text over in line-aligned chunks until its end, an error,
/// or the parse thread is gone.
fn read(mut reader: impl Read, out: &SyncSender<io::Result<Chunk>>, spent: &Receiver<Vec<u8>>) {
    let mut text = Vec::with_capacity(CHUNK);
    loop {
        let room = (CHUNK - text.len()) as u64;
        let filled = (&mut reader).take(room).read_to_end(&mut text);
        let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        if let Err(e) = filled {
            text.truncate(whole);
            if out.send(Ok(Chunk { text, last: false })).is_ok() {
                let _ = out.send(Err(e));
            }
            return;
        }
        // The text ended, or its partial last line is already too long to be a row (the parse
        // thread refuses it): hand everything over and stop.
        let last = text.len() < CHUNK || text.len() - whole > MAX_LINE + 1;
        let cut = if last { text.len() } else { whole };
        let mut next = spent.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        next.clear();
        next.extend_from_slice(&text[cut..]);
        text.truncate(cut);
        if out.send(Ok(Chunk { text, last })).is_err() || last {
            return;
        }
        text = next;
    }
}

/// The parse thread: parse the chunks' lines, `consumed` bytes into the text, and hand the
/// events over until the last chunk, an error, or the consumer is gone.
fn parse(
    mut rows: RowParser,
    mut consumed: u64,
    chunks: &Receiver<io::Result<Chunk>>,
    spent: &Sender<Vec<u8>>,
    mut out: Batcher,
) {
    loop {
        let chunk = match chunks.recv() {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(source)) => return out.fail(MarketDataError::Io { path: rows.path().to_owned(), source }),
            Err(_) => return out.fail(stopped(rows.path())),
        };
        let text = chunk.text.as_slice();
        let mut rest = Some(text).filter(|t| !t.is_empty());
        while let Some(lines) = rest {
            let (line, after) = split_at_byte(lines, b'\n');
            rest = after.filter(|t| !t.is_empty());
            if let Err(e) = rows.row(line, &mut out.events) {
                return out.fail(e);
            }
            if out.events.len() == BATCH {
                out.consumed = consumed + (text.len() - rest.map_or(0, <[u8]>::len)) as u64;
                if !out.hand_over(false) {
                    return;
                }
            }
        }
        consumed += text.len() as u64;
        if chunk.last {
            out.consumed = consumed;
            return out.finish();
        }
        let _ = spent.send(chunk.text);
    }
}

/// The parse thread's end of the batch channel.
struct Batcher {
    out: SyncSender<Result<Batch, MarketDataError>>,
    /// Batches the consumer has emptied.
    spent: Receiver<Vec<MarketEvent>>,
    /// The batch being filled.
    events: Vec<MarketEvent>,
    /// Text bytes consumed through the line of its last event.
    consumed: u64,
}

impl Batcher {
    /// Hand the batch over (`consumed` says how far into the text it reaches). `false` when
    /// the consumer is gone.
    fn hand_over(&mut self, last: bool) -> bool {
        let events = std::mem::take(&mut self.events);
        let sent = self.out.send(Ok(Batch { events, consumed: self.consumed, last })).is_ok();
        // A buffer to fill next, taken only once the batch is handed over, so that a parse
        // thread waiting to hand one over holds no other.
        if sent && !last {
            self.events = self.spent.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH));
            self.events.clear();
        }
        sent
    }

    /// The text has ended: hand over the last batch.
    fn finish(mut self) {
        self.hand_over(true);
    }

    /// Hand over the events parsed so far, then `error`.
    fn fail(mut self, error: MarketDataError) {
        if self.events.is_empty() || self.hand_over(false) {
            let _ = self.out.send(Err(error));
        }
    }
}

/// A helper thread ended without handing over the end of the file (it cannot, short of a bug):
/// an error, never a silently shortened file.
#[cold]
fn stopped(path: &str) -> MarketDataError {
    MarketDataError::Invalid(format!("{path}: the thread reading it stopped before the end of the file"))
}

impl Events {
    /// The next event, `Ok(None)` at the end of the file. Whenever every event of a batch has
    /// been handed out, `consumed` is told how many bytes of the text those events cover.
    ///
    /// # Errors
    /// The file's I/O or parse error, in its place after the events before it.
    #[inline]
    pub(crate) fn next(
        &mut self,
        mut consumed: impl FnMut(u64),
    ) -> Result<Option<MarketEvent>, MarketDataError> {
        loop {
            if let Some(ev) = self.next_ready() {
                return Ok(Some(ev));
            }
            consumed(self.consumed);
            if self.last {
                return Ok(None);
            }
            self.take_batch()?;
        }
    }

    /// The next event of the batch at hand, if any.
    #[inline]
    pub(crate) fn next_ready(&mut self) -> Option<MarketEvent> {
        let ev = *self.batch.get(self.next)?;
        self.next += 1;
        Some(ev)
    }

    /// Wait for the next batch, and send the emptied one back.
    fn take_batch(&mut self) -> Result<(), MarketDataError> {
        let batch = self.batches.recv().map_err(|_| stopped(&self.path))??;
        let spent = std::mem::replace(&mut self.batch, batch.events);
        let _ = self.spent.send(spent);
        self.next = 0;
        self.last = batch.last;
        self.consumed = batch.consumed;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::market::csv::{CsvOptions, CsvSource, read_all};

    const HEADER: &str = "timestamp,price,size,exchange\n";

    /// A tick row of `len` bytes, its `\n` included, at `price` (six characters; `-68.50` is a
    /// bad one, in column 31).
    fn row(price: &str, len: usize) -> String {
        let head = format!("2013-10-07T09:30:00.000-04:00,{price},100,");
        format!("{head}{}\n", "P".repeat(len - head.len() - 1))
    }

    /// `text` after [`HEADER`] as `name.csv` and `name.csv.gz` in `dir`.
    fn files(dir: &Path, name: &str, text: &str) -> [PathBuf; 2] {
        let plain = dir.join(format!("{name}.csv"));
        std::fs::write(&plain, format!("{HEADER}{text}")).expect("write");
        let gz = dir.join(format!("{name}.csv.gz"));
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).expect("create"),
            flate2::Compression::fast(),
        );
        enc.write_all(format!("{HEADER}{text}").as_bytes()).expect("write");
        enc.finish().expect("finish");
        [plain, gz]
    }

    /// Rows of 64 bytes end exactly at the first chunk's end; rows of 60 bytes have one that
    /// straddles it (the second chunk starts with that row). A bad row just before, at, and
    /// just after the boundary is reported at its own line, after every row before it.
    #[test]
    fn a_bad_row_at_a_chunk_boundary_is_reported_at_its_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        for len in [64, 60] {
            // The first row (1-based, after the header) of the second chunk.
            let second = CHUNK / len + 1;
            for bad in second - 2..=second + 1 {
                let text: String =
                    (1..=second + 3).map(|k| row(if k == bad { "-68.50" } else { "168.50" }, len)).collect();
                for path in files(dir.path(), &format!("r{len}-{bad}"), &text) {
                    let src = CsvSource::open(&path, &CsvOptions::default()).expect("open");
                    let (mut good, mut error) = (0, None);
                    for ev in src {
                        match ev {
                            Ok(_) => good += 1,
                            Err(e) => error = Some(e.to_string()),
                        }
                    }
                    let want = format!("{}:{}:31: bad price", path.display(), bad + 1);
                    assert!(
                        error.as_ref().is_some_and(|e| e.contains(&want)),
                        "want `{want}`, got {error:?}"
                    );
                    assert_eq!(good, bad - 1, "{}: the rows before the bad one", path.display());
                }
            }
        }
    }

    /// A file whose last line has no `\n` keeps that row, whether the file is one chunk or
    /// several; a bad last line without `\n` is reported at its line.
    #[test]
    fn a_file_without_a_final_newline_keeps_its_last_row() {
        let dir = tempfile::tempdir().expect("temp dir");
        for rows in [3, CHUNK / 60 + 10] {
            // `rows` rows, the last at `last` and without its `\n`.
            let text = |last: &str| {
                let mut text: String = (1..rows).map(|_| row("168.50", 60)).chain([row(last, 60)]).collect();
                text.pop();
                text
            };
            for path in files(dir.path(), &format!("n{rows}"), &text("168.99")) {
                let events = read_all(&path, &CsvOptions::default()).expect("read");
                assert_eq!(events.len(), rows, "{}", path.display());
                assert!(matches!(events[rows - 1], MarketEvent::Trade(t) if t.price.to_string() == "168.99"));
            }
            for path in files(dir.path(), &format!("b{rows}"), &text("-68.50")) {
                let error = read_all(&path, &CsvOptions::default()).expect_err("bad last row").to_string();
                let want = format!("{}:{}:31: bad price", path.display(), rows + 1);
                assert!(error.contains(&want), "want `{want}`, got {error}");
            }
        }
    }

    /// A line of [`MAX_LINE`] bytes (with `\n` or `\r\n`) straddling a chunk boundary is read
    /// whole; one byte more is refused at its line, and nothing after it is read.
    #[test]
    fn the_line_limit_holds_across_chunk_boundaries() {
        let dir = tempfile::tempdir().expect("temp dir");
        let before: String = (0..4000).map(|_| row("168.50", 60)).collect();
        let longest = row("168.50", MAX_LINE + 1);
        let crlf = longest.replace('\n', "\r\n");
        let text = format!("{before}{longest}{crlf}{}", row("168.50", 60));
        for path in files(dir.path(), "longest", &text) {
            assert_eq!(read_all(&path, &CsvOptions::default()).expect("read").len(), 4003);
        }
        let text = format!("{before}{}{}", row("168.50", MAX_LINE + 2), row("168.50", 60));
        for path in files(dir.path(), "too-long", &text) {
            let error = read_all(&path, &CsvOptions::default()).expect_err("too long").to_string();
            let want = format!("{}:4002:1: line longer than {MAX_LINE} bytes", path.display());
            assert!(error.contains(&want), "want `{want}`, got {error}");
        }
    }
}
