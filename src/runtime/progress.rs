//! The progress line `runner up` keeps on a terminal's stderr while it replays.
//!
//! What belongs here: the [`Board`] the agent tasks report to (how far each agent's replay has
//! read, its replay time, its event count) and the formatting of the line: a bar with a
//! percentage for one agent, or a combined bar with each agent's percentage for several. The
//! fraction comes from [`crate::market::replay::ReplayProgress`] (file bytes read of the total;
//! compressed bytes for gzip). The line is redrawn at most every [`REDRAW`] and cleared before
//! any normal output line (the driver does that); it is only shown when stderr is a terminal.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::model::Timestamp;

/// Least time between two redraws of the line by one agent.
pub const REDRAW: Duration = Duration::from_millis(100);

/// One agent's progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The agent's name.
    pub name: String,
    /// Fraction of its replay read, 0.0–1.0 (`None` when the data's size is unknown).
    pub fraction: Option<f64>,
    /// Its replay time (the latest event's time).
    pub at: Option<Timestamp>,
    /// Events handled.
    pub events: u64,
}

/// A bar `width` cells wide filled to `fraction`: `[#####-----]`.
pub fn bar(fraction: f64, width: usize) -> String {
    let f = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
    // Cells are whole: rounding down keeps a full bar for the very end.
    let full = ((f * width as f64).floor() as usize).min(width);
    format!("[{}{}]", "#".repeat(full), "-".repeat(width - full))
}

/// `f` as a whole percentage, right-aligned in 4 characters (` 43%`); never 100 % before the end.
fn percent(f: f64) -> String {
    let f = if f.is_finite() { f.clamp(0.0, 1.0) } else { 0.0 };
    let p = (f * 100.0).floor() as u32;
    format!("{p:>3}%")
}

/// The progress line (no line break, at most `max` characters).
///
/// One agent: `spy-9ma [##########----------]  50%  2013-10-09 11:20:03  123456 events`
/// (without a known size: `spy-9ma 123456 events, at 2013-10-09 11:20:03`). Several agents: a
/// bar of their mean and each agent's percentage: `[#######-------------]  35%  spy 50%  qqq 20%`.
pub fn line(entries: &[Entry], max: usize) -> String {
    let at = |e: &Entry| e.at.map(|t| t.to_new_york().format("%Y-%m-%d %H:%M:%S").to_string());
    let text = match entries {
        [] => String::new(),
        [e] => match e.fraction {
            Some(f) => {
                let when = at(e).map(|t| format!("  {t}")).unwrap_or_default();
                format!("{} {} {}{when}  {} events", e.name, bar(f, 20), percent(f), e.events)
            }
            None => {
                let when = at(e).map(|t| format!(", at {t}")).unwrap_or_default();
                format!("{} {} events{when}", e.name, e.events)
            }
        },
        many => {
            let known: Vec<f64> = many.iter().filter_map(|e| e.fraction).collect();
            let mut s = if known.len() == many.len() {
                let mean = known.iter().sum::<f64>() / known.len() as f64;
                format!("{} {}", bar(mean, 20), percent(mean))
            } else {
                format!("{} events", many.iter().map(|e| e.events).sum::<u64>())
            };
            for e in many {
                match e.fraction {
                    Some(f) => s.push_str(&format!("  {} {}", e.name, percent(f).trim_start())),
                    None => s.push_str(&format!("  {} {} events", e.name, e.events)),
                }
            }
            s
        }
    };
    text.chars().take(max).collect()
}

/// The terminal's width from `COLUMNS`, else 80; the line stays one character short of it so it
/// never wraps (a wrapped line cannot be cleared with `\r`).
pub fn max_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|w| *w > 1)
        .unwrap_or(80)
        - 1
}

/// The agents' progress, shared by their tasks; each draws the whole line.
#[derive(Debug)]
pub struct Board {
    entries: Mutex<Vec<Entry>>,
    max: usize,
}

impl Board {
    /// A board for these agents, in order.
    pub fn new(names: &[String]) -> Self {
        let entries = names
            .iter()
            .map(|n| Entry { name: n.clone(), fraction: Some(0.0), at: None, events: 0 })
            .collect();
        Self { entries: Mutex::new(entries), max: max_width() }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // A panic while holding the lock leaves plain numbers behind; keep using them.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Record agent `i`'s progress and redraw the line.
    pub fn update(&self, i: usize, fraction: Option<f64>, at: Timestamp, events: u64) {
        let mut e = self.entries();
        if let Some(x) = e.get_mut(i) {
            x.fraction = fraction;
            x.at = Some(at);
            x.events = events;
        }
        let text = line(&e, self.max);
        // Drawn under the lock so two agents never interleave their lines.
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{text}");
        let _ = err.flush();
    }

    /// Agent `i` is done: clear the line and say how many events it replayed (the other agents
    /// redraw theirs on their next update).
    pub fn finish(&self, i: usize, events: u64) {
        let mut e = self.entries();
        let name = e.get(i).map(|x| x.name.clone()).unwrap_or_default();
        if let Some(x) = e.get_mut(i) {
            x.fraction = x.fraction.map(|_| 1.0);
            x.events = events;
        }
        let many = e.len() > 1;
        let mut err = std::io::stderr().lock();
        let _ = if many {
            writeln!(err, "\r\x1b[K{name}: {events} events replayed")
        } else {
            writeln!(err, "\r\x1b[K{events} events replayed")
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(s).unwrap())
    }

    #[test]
    fn bars_fill_by_fraction_and_never_overflow() {
        assert_eq!(bar(0.0, 10), "[----------]");
        assert_eq!(bar(0.5, 10), "[#####-----]");
        assert_eq!(bar(0.99, 10), "[#########-]");
        assert_eq!(bar(1.0, 10), "[##########]");
        assert_eq!(bar(1.7, 4), "[####]");
        assert_eq!(bar(-0.2, 4), "[----]");
        assert_eq!(bar(f64::NAN, 4), "[----]");
        assert_eq!(
            (percent(0.999), percent(1.0), percent(0.05)),
            (" 99%".into(), "100%".into(), "  5%".into())
        );
    }

    #[test]
    fn one_agent_gets_a_bar_with_percentage_time_and_count() {
        let e = Entry {
            name: "spy-9ma".into(),
            fraction: Some(0.5),
            at: Some(at("2013-10-09T11:20:03-04:00")),
            events: 123_456,
        };
        assert_eq!(
            line(std::slice::from_ref(&e), 200),
            "spy-9ma [##########----------]  50%  2013-10-09 11:20:03  123456 events"
        );
        // Unknown size: the count and the replay time only.
        let unknown = Entry { fraction: None, ..e.clone() };
        assert_eq!(line(&[unknown], 200), "spy-9ma 123456 events, at 2013-10-09 11:20:03");
        // Never wider than the terminal.
        assert_eq!(line(&[e], 20).chars().count(), 20);
    }

    #[test]
    fn several_agents_share_one_line() {
        let e =
            |name: &str, f: Option<f64>, events| Entry { name: name.into(), fraction: f, at: None, events };
        let two = [e("spy", Some(0.5), 10), e("qqq", Some(0.2), 5)];
        assert_eq!(line(&two, 200), "[#######-------------]  35%  spy 50%  qqq 20%");
        let mixed = [e("spy", Some(0.5), 10), e("lean", None, 5)];
        assert_eq!(line(&mixed, 200), "15 events  spy 50%  lean 5 events");
        assert_eq!(line(&[], 200), "");
    }

    #[test]
    fn replay_progress_follows_the_text_parsed_of_plain_and_gzip_files() {
        use crate::market::replay::{Replay, ReplayOptions};
        use std::io::Write as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut text = String::from("timestamp,price,size\n");
        let start = at("2013-10-07T09:30:00-04:00");
        for i in 0..5000i64 {
            let t = Timestamp(start.0 + i * 1_000_000_000).to_new_york();
            text.push_str(&format!("{},{}.{:02},100\n", t.to_rfc3339(), 168 + i % 3, i % 100));
        }
        let plain = dir.path().join("a.csv");
        std::fs::write(&plain, &text).expect("write");
        let gz = dir.path().join("b.csv.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(text.as_bytes()).expect("gzip");
        std::fs::write(&gz, enc.finish().expect("gzip")).expect("write");
        for path in [&plain, &gz] {
            let mut replay =
                Replay::open(path.to_str().expect("utf-8"), &ReplayOptions::default()).expect("opens");
            let progress = replay.progress();
            let first = progress.fraction().expect("size known");
            assert!(first < 0.05, "{path:?}: {first}");
            let mut mid = None;
            for n in 1.. {
                match replay.next() {
                    Some(ev) => {
                        ev.expect("event");
                    }
                    None => break,
                }
                if n == 2500 {
                    mid = progress.fraction();
                }
            }
            // Updated every 1024 lines: about half-way after half the events.
            let mid = mid.expect("size known");
            assert!((0.35..=0.55).contains(&mid), "{path:?}: {mid}");
            assert_eq!(progress.fraction(), Some(1.0), "{path:?}");
        }
    }
}
