//! `external-signal`: follow timestamped buy/sell signals from outside (a Redis stream in live
//! use; for now a file).
//!
//! File format (CSV with a header): `timestamp,ticker,direction[,strength]`, the timestamp in
//! ISO-8601 with an offset, the direction `b` (buy → be long) or `s` (sell → be short), the
//! optional strength in percent (default 100). Rows for other tickers are skipped.
//! A signal is acted on at the first trade at or after its timestamp that falls inside the
//! session and before `flatten_at`; a signal superseded by a later one before such a trade,
//! or one that arrives outside the session, is dropped (a stale signal is never traded).

use std::path::{Path, PathBuf};

use super::{Direction, Phase, Signal, Strategy, TradeContext};
use crate::market::event::{Candle, Trade};
use crate::model::{SymbolId, Timestamp};

/// One external signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ExternalEvent {
    /// When the signal was published.
    pub ts: Timestamp,
    /// Long (`b`) or short (`s`).
    pub direction: Direction,
    /// Strength in percent.
    pub strength: u8,
}

/// A signal file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SignalFileError {
    /// The file could not be opened or read.
    #[error("cannot read signal file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A row is malformed.
    #[error("{path}:{line}: {message}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Parse signal rows for `ticker` from CSV text (see the module docs for the format).
pub fn parse_signals(text: &str, ticker: &str, path: &Path) -> Result<Vec<ExternalEvent>, SignalFileError> {
    let err = |line: usize, message: String| SignalFileError::Row { path: path.to_owned(), line, message };
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || (i == 0 && line.starts_with("timestamp")) {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if cols.len() < 3 || cols.len() > 4 {
            return Err(err(
                i + 1,
                format!("expected timestamp,ticker,direction[,strength], got {} columns", cols.len()),
            ));
        }
        let ts = chrono::DateTime::parse_from_rfc3339(cols[0])
            .map_err(|e| err(i + 1, format!("bad timestamp in column 1 (expected RFC 3339): {e}")))?;
        if !cols[1].eq_ignore_ascii_case(ticker) {
            continue;
        }
        let direction = match cols[2] {
            "b" | "B" | "buy" => Direction::Long,
            "s" | "S" | "sell" => Direction::Short,
            _ => return Err(err(i + 1, "direction in column 3 must be b or s".to_owned())),
        };
        let strength = match cols.get(3) {
            None => 100,
            Some(s) => s
                .parse::<u8>()
                .ok()
                .filter(|v| *v <= 100)
                .ok_or_else(|| err(i + 1, "strength in column 4 must be 0..=100".to_owned()))?,
        };
        out.push(ExternalEvent { ts: Timestamp::from_datetime(&ts), direction, strength });
    }
    // Stable sort: equal timestamps keep file order.
    out.sort_by_key(|e| e.ts);
    Ok(out)
}

/// Where a replayed `external-signal` recipe's signals are recorded: `<recipe name>.signals.csv`
/// beside the recipe file (`recipes/x.yaml` → `recipes/x.signals.csv`).
pub fn signal_file_for(recipe_path: &Path) -> PathBuf {
    let stem = recipe_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    recipe_path.with_file_name(format!("{stem}.signals.csv"))
}

/// The largest signal file read (64 MiB: about a million signals).
pub const MAX_SIGNAL_FILE_BYTES: u64 = 64 << 20;

/// Read a signal file for `ticker`: a regular file (never a FIFO or a device) of at most
/// [`MAX_SIGNAL_FILE_BYTES`].
pub fn read_signal_file(path: &Path, ticker: &str) -> Result<Vec<ExternalEvent>, SignalFileError> {
    let text = crate::files::read_named(path, MAX_SIGNAL_FILE_BYTES)
        .map_err(|e| SignalFileError::Io { path: path.to_owned(), source: std::io::Error::other(e) })?;
    parse_signals(&text, ticker, path)
}

/// The external-signal strategy: a cursor over the signal feed.
#[derive(Debug, Clone)]
pub struct ExternalSignal {
    symbol: SymbolId,
    events: Vec<ExternalEvent>,
    next: usize,
    /// Signals that arrived while the session was closed: refused, not acted on later.
    refused: u64,
}

impl ExternalSignal {
    /// Follow `events` (sorted by time) for `symbol`.
    pub fn new(symbol: SymbolId, events: Vec<ExternalEvent>) -> Self {
        Self { symbol, events, next: 0, refused: 0 }
    }

    /// How many signals arrived while the session was closed (refused; each one is logged as a
    /// warning).
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

impl ExternalSignal {
    /// A live signal, at `price` (the latest print) and `now`: the signal to act on, or why
    /// not (outside the session: refused and counted, never acted on later).
    pub fn on_external(
        &mut self,
        e: &ExternalEvent,
        price: crate::model::Price,
        now: Timestamp,
        ctx: TradeContext,
    ) -> Result<Signal, String> {
        if ctx.phase != Phase::Open {
            self.refused += 1;
            return Err(format!("outside the session ({})", phase_words(ctx.phase)));
        }
        Ok(Signal { ts: now, symbol: self.symbol, price, direction: e.direction, strength: e.strength })
    }
}

fn phase_words(p: Phase) -> &'static str {
    match p {
        Phase::Open => "open",
        Phase::AfterFlatten => "past flatten time",
        Phase::OutOfSession => "the market is closed",
    }
}

impl Strategy for ExternalSignal {
    fn on_candle(&mut self, _candle: &Candle) {}

    #[inline]
    fn on_trade(&mut self, t: &Trade, ctx: TradeContext) -> Option<Signal> {
        if t.symbol != self.symbol {
            return None;
        }
        let mut latest = None;
        while let Some(e) = self.events.get(self.next).filter(|e| e.ts <= t.ts) {
            latest = Some(*e);
            self.next += 1;
        }
        let e = latest?;
        if ctx.phase != Phase::Open {
            self.refused += 1;
            tracing::warn!(
                at = %e.ts,
                direction = %e.direction,
                strength = e.strength,
                refused = self.refused,
                "external signal outside the session: refused"
            );
            return None;
        }
        // A repeated direction is passed on too: the decision engine may add to the position.
        Some(Signal {
            ts: t.ts,
            symbol: t.symbol,
            price: t.price,
            direction: e.direction,
            strength: e.strength,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Holding;
    use rust_decimal_macros::dec;

    const CSV: &str = "timestamp,ticker,direction,strength\n\
        2013-10-07T10:00:00-04:00,SPY,b,80\n\
        2013-10-07T10:00:00-04:00,NVDA,s\n\
        2013-10-07T10:05:00.000-04:00,spy,s\n\
        2013-10-07T10:06:00-04:00,SPY,b\n\
        2013-10-07T10:07:00-04:00,SPY,s\n";

    fn ts(s: &str) -> Timestamp {
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(s).unwrap())
    }

    #[test]
    fn parses_and_filters_by_ticker() {
        let ev = parse_signals(CSV, "SPY", Path::new("x.csv")).unwrap();
        assert_eq!(ev.len(), 4);
        assert_eq!(
            ev[0],
            ExternalEvent { ts: ts("2013-10-07T10:00:00-04:00"), direction: Direction::Long, strength: 80 }
        );
        assert_eq!(ev[1].direction, Direction::Short);
        assert_eq!(ev[1].strength, 100);
    }

    #[test]
    fn bad_rows_are_located() {
        let e = parse_signals(
            "timestamp,ticker,direction\n2013-10-07T10:00:00-04:00,SPY,x\n",
            "SPY",
            Path::new("f.csv"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("f.csv:2:") && e.contains("b or s"), "{e}");
        let e = parse_signals("yesterday,SPY,b\n", "SPY", Path::new("f.csv")).unwrap_err().to_string();
        assert!(e.contains("f.csv:1: bad timestamp") && !e.contains("yesterday"), "{e}");
        let e = parse_signals("2013-10-07T10:00:00-04:00,SPY,b,secret\n", "SPY", Path::new("f.csv"));
        let e = e.unwrap_err().to_string();
        assert!(e.contains("column 4") && !e.contains("secret"), "{e}");
    }

    #[test]
    fn acts_at_the_first_open_trade_and_drops_stale_ones() {
        let ev = parse_signals(CSV, "SPY", Path::new("x.csv")).unwrap();
        let mut s = ExternalSignal::new(SymbolId(0), ev);
        let trade = |t: &str| Trade { symbol: SymbolId(0), ts: ts(t), price: dec!(170), size: dec!(1) };
        let open = TradeContext { phase: Phase::Open, holding: Holding::Flat };
        assert_eq!(s.on_trade(&trade("2013-10-07T09:59:59-04:00"), open), None);
        let sig = s.on_trade(&trade("2013-10-07T10:00:00-04:00"), open).unwrap();
        assert_eq!((sig.direction, sig.strength), (Direction::Long, 80));
        assert_eq!(s.on_trade(&trade("2013-10-07T10:01:00-04:00"), open), None, "acted once");
        // 10:05 and 10:06 arrive before the next trade: only the latest (b at 10:06) counts.
        let sig = s.on_trade(&trade("2013-10-07T10:06:30-04:00"), open).unwrap();
        assert_eq!(sig.direction, Direction::Long);
        // 10:07 arrives while out of session: dropped.
        let out = TradeContext { phase: Phase::OutOfSession, holding: Holding::Long };
        assert_eq!(s.on_trade(&trade("2013-10-07T10:08:00-04:00"), out), None);
        assert_eq!(s.on_trade(&trade("2013-10-07T10:09:00-04:00"), open), None);
        assert_eq!(s.refused(), 1, "counted as refused");
    }
}
