//! Feed latency: how long after its exchange timestamp each market event reached the agent
//! (wall clock at arrival minus the event's time), in a log-linear histogram — constant
//! memory, one add per event — summarised as p50 / p99 / max for the run summary and status.

use crate::model::Timestamp;
use crate::report::LatencySummary;

/// Buckets per power of two (precision: about 1/16 of the value, ~6 %).
const SUB: u32 = 16;
/// Powers of two of microseconds covered: up to 2^32 µs (~71 minutes); later goes in the last.
const OCTAVES: u32 = 32;

/// A latency histogram in microseconds.
#[derive(Debug, Clone)]
pub struct Latency {
    counts: Vec<u64>,
    total: u64,
    max_us: u64,
    /// Events stamped after their arrival (clock skew between the exchange and this host).
    ahead: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Self { counts: vec![0; (SUB * (OCTAVES + 1)) as usize], total: 0, max_us: 0, ahead: 0 }
    }
}

impl Latency {
    /// An event stamped `ts` arrived now.
    /// Returns the latency in seconds (zero when the event is stamped ahead of this clock).
    pub fn record(&mut self, ts: Timestamp) -> f64 {
        let now = Timestamp::from_datetime(&chrono::Utc::now());
        let nanos = now.0 - ts.0;
        if nanos < 0 {
            self.ahead += 1;
        }
        let us = u64::try_from(nanos / 1_000).unwrap_or(0);
        self.record_us(us);
        us as f64 / 1e6
    }

    /// Record a latency of `us` microseconds.
    pub fn record_us(&mut self, us: u64) {
        let i = bucket(us).min(self.counts.len() - 1);
        self.counts[i] += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    /// The latency at quantile `q` (0..=1), in microseconds: the upper edge of its bucket.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i).min(self.max_us);
            }
        }
        self.max_us
    }

    /// p50 / p99 / max and the count, for the report.
    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            events: self.total,
            p50_us: self.quantile_us(0.50),
            p99_us: self.quantile_us(0.99),
            max_us: self.max_us,
            ahead_of_clock: self.ahead,
        }
    }
}

/// The bucket of `us`: values below `SUB` exactly, then `SUB` buckets per power of two.
fn bucket(us: u64) -> usize {
    if us < u64::from(SUB) {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros(); // >= log2(SUB)
    let shift = octave - SUB.trailing_zeros();
    let sub = (us >> shift) - u64::from(SUB); // 0..SUB
    ((octave - SUB.trailing_zeros() + 1) * SUB) as usize + sub as usize
}

/// The largest value in bucket `i`.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    let sub = u64::from(SUB);
    if i < sub {
        return i;
    }
    let shift = i / sub - 1;
    let base = (sub + i % sub) << shift;
    base + (1 << shift) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_in_order_within_their_precision() {
        let mut last = 0;
        for us in [0, 1, 15, 16, 17, 31, 32, 33, 100, 1_000, 65_535, 1 << 20, 1 << 31] {
            let b = bucket(us);
            assert!(b >= last, "{us}");
            last = b;
            let top = upper(b);
            assert!(top >= us && top - us <= us / 16 + 1, "{us} → bucket {b} tops at {top}");
        }
    }

    #[test]
    fn quantiles_of_a_known_spread() {
        let mut l = Latency::default();
        for us in 1..=1000 {
            l.record_us(us);
        }
        let p50 = l.quantile_us(0.5);
        let p99 = l.quantile_us(0.99);
        assert!((500..=532).contains(&p50), "{p50}");
        assert!((990..=1000).contains(&p99), "{p99}");
        assert_eq!(l.summary().max_us, 1000);
        assert_eq!(Latency::default().quantile_us(0.99), 0);
    }
}
