//! One request budget per Alpaca account, shared by every client in the process.
//!
//! Alpaca allows 200 requests a minute per account and answers 429 beyond it. Agents of one
//! account in one process share one [`Budget`] from a process-wide registry (keyed by the
//! Trading API base and the key id), and every request, retries included, takes a slot first.
//! The budget is a sliding window: at most `requests` in *any* window of `per`, which is what a
//! server counting a rolling minute sees (a token bucket that starts full could let twice the
//! budget through in one rolling minute).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use secrecy::ExposeSecret;
use tokio::time::Instant;

use super::config::{AlpacaConfig, RequestBudget};

/// The budgets of the process, by (Trading API base, key id).
type Registry = Mutex<HashMap<(String, String), Arc<Budget>>>;

/// The request budget of one account.
#[derive(Debug)]
pub struct Budget {
    limit: RequestBudget,
    /// When each of the last `limit.requests` requests was let through, oldest first.
    sent: tokio::sync::Mutex<VecDeque<Instant>>,
}

impl Budget {
    fn new(limit: RequestBudget) -> Self {
        let slots = usize::try_from(limit.requests.max(1)).unwrap_or(usize::MAX);
        Self { limit, sent: tokio::sync::Mutex::new(VecDeque::with_capacity(slots)) }
    }

    /// The budget of `cfg`'s account: made on first use with `cfg.budget`, shared afterwards.
    pub fn of(cfg: &AlpacaConfig) -> Arc<Self> {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        let key = (cfg.trading_url.clone(), cfg.key_id.expose_secret().to_owned());
        let mut all = REGISTRY.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(all.entry(key).or_insert_with(|| Arc::new(Self::new(cfg.budget))))
    }

    /// Wait until one more request fits in the window, and count it.
    pub async fn acquire(&self) {
        // Holding the lock while waiting keeps callers in order (tokio's mutex is fair).
        let mut sent = self.sent.lock().await;
        tokio::time::sleep_until(self.slot(&sent, Instant::now())).await;
        self.record(&mut sent, Instant::now());
    }

    /// When a request asked for at `now` may go, given the send times in `sent`.
    fn slot(&self, sent: &VecDeque<Instant>, now: Instant) -> Instant {
        let requests = usize::try_from(self.limit.requests.max(1)).unwrap_or(usize::MAX);
        match sent.len().checked_sub(requests) {
            Some(i) => now.max(sent[i] + self.limit.per),
            None => now,
        }
    }

    /// Count a request sent at `at`, keeping only the times that can still matter.
    fn record(&self, sent: &mut VecDeque<Instant>, at: Instant) {
        let requests = usize::try_from(self.limit.requests.max(1)).unwrap_or(usize::MAX);
        sent.push_back(at);
        while sent.len() > requests {
            sent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn no_window_ever_holds_more_than_the_budget() {
        let budget = Budget::new(RequestBudget { requests: 3, per: Duration::from_secs(60) });
        let start = Instant::now();
        let mut sent = VecDeque::new();
        let mut at = Vec::new();
        // Seven requests asked for at once, then one asked for late.
        for ask in [0, 0, 0, 0, 0, 0, 0, 500] {
            let slot = budget.slot(&sent, start + Duration::from_secs(ask));
            budget.record(&mut sent, slot);
            at.push((slot - start).as_secs());
        }
        assert_eq!(at, [0, 0, 0, 60, 60, 60, 120, 500]);
        assert_eq!(sent.len(), 3);
    }

    #[test]
    fn one_account_one_budget() {
        let a = AlpacaConfig::paper("a", "s", "KEY-ONE-BUDGET".into(), "x".into());
        let mut b = a.clone();
        b.account = "another recipe name".into();
        assert!(Arc::ptr_eq(&Budget::of(&a), &Budget::of(&b)));
        let mut other = a.clone();
        other.key_id = "KEY-TWO-BUDGET".into();
        assert!(!Arc::ptr_eq(&Budget::of(&a), &Budget::of(&other)));
    }
}
