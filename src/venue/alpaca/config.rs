//! What an Alpaca client needs to know: where the four endpoints are, whose keys to send, and
//! how patient to be. Plain data: the runtime fills it from the recipe and the vault.

use std::time::Duration;

use rand::Rng;
use secrecy::SecretString;

/// Trading API of paper accounts.
pub const PAPER_TRADING_URL: &str = "https://paper-api.alpaca.markets";
/// Trading API of live accounts.
pub const LIVE_TRADING_URL: &str = "https://api.alpaca.markets";
/// `trade_updates` stream of paper accounts.
pub const PAPER_TRADE_STREAM_URL: &str = "wss://paper-api.alpaca.markets/stream";
/// `trade_updates` stream of live accounts.
pub const LIVE_TRADE_STREAM_URL: &str = "wss://api.alpaca.markets/stream";
/// Market Data API (the same host for paper and live keys).
pub const DATA_URL: &str = "https://data.alpaca.markets";
/// Market-data streams; the stocks stream is `{STREAM_DATA_URL}/v2/{feed}`.
pub const STREAM_DATA_URL: &str = "wss://stream.data.alpaca.markets";

/// The stocks stream of a feed (`iex` or `sip`).
pub fn stocks_stream_url(feed: &str) -> String {
    format!("{STREAM_DATA_URL}/v2/{feed}")
}

/// How many requests an account may send in a time window (Alpaca: 200 a minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestBudget {
    /// Requests allowed in any window.
    pub requests: u32,
    /// The window.
    pub per: Duration,
}

impl Default for RequestBudget {
    fn default() -> Self {
        Self { requests: 200, per: Duration::from_secs(60) }
    }
}

/// Capped exponential backoff with jitter: attempt `n` waits between half and all of
/// `first × 2ⁿ` (at most `cap`), so retries spread out and never spin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first wait.
    pub first: Duration,
    /// The longest wait.
    pub cap: Duration,
    /// How many times a request is tried in all (REST retries; reconnects never give up).
    pub tries: u32,
}

impl Backoff {
    /// The wait before retry number `attempt` (0 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.first.saturating_mul(2u32.saturating_pow(attempt.min(16))).min(self.cap);
        let half = ceiling / 2;
        let jitter = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::thread_rng().gen_range(0..=jitter))
    }
}

/// One Alpaca account's endpoints, keys and timings.
///
/// The keys are [`SecretString`]s: `Debug` prints them redacted, and no message of the client
/// contains them (errors name the secret, `secret_name`, instead).
#[derive(Debug, Clone)]
pub struct AlpacaConfig {
    /// Trading API base (`https://paper-api.alpaca.markets`, or a test server).
    pub trading_url: String,
    /// The `trade_updates` stream (`wss://paper-api.alpaca.markets/stream`).
    pub trade_stream_url: String,
    /// Market Data API base (`https://data.alpaca.markets`).
    pub data_url: String,
    /// The stocks stream, feed included (`wss://stream.data.alpaca.markets/v2/iex`).
    pub stocks_stream_url: String,
    /// The account's name in the recipe (messages, and the key of the request budget).
    pub account: String,
    /// The name of the vault secret the keys come from (messages only).
    pub secret_name: String,
    /// `APCA-API-KEY-ID`.
    pub key_id: SecretString,
    /// `APCA-API-SECRET-KEY`.
    pub secret_key: SecretString,
    /// The request budget shared by every client of this account in the process (the first
    /// client of an account sets it).
    pub budget: RequestBudget,
    /// Longest wait for one HTTP answer.
    pub request_timeout: Duration,
    /// Retries of GET and DELETE after a 5xx or a transport error, and of rate-limited requests
    /// without a `Retry-After`.
    pub retry: Backoff,
    /// Waits between reconnects of a dropped stream.
    pub reconnect: Backoff,
    /// How often open orders and the account are re-read while the trade stream is up.
    pub poll_every: Duration,
    /// How long to wait after the data stream's 406 (connection limit) before trying again:
    /// Alpaca may hold a dropped socket for up to ~90 s.
    pub connection_limit_wait: Duration,
}

impl AlpacaConfig {
    /// A paper account on Alpaca's hosts, data from the `iex` feed.
    pub fn paper(account: &str, secret_name: &str, key_id: SecretString, secret_key: SecretString) -> Self {
        Self::with_hosts(PAPER_TRADING_URL, PAPER_TRADE_STREAM_URL, account, secret_name, key_id, secret_key)
    }

    /// A live account on Alpaca's hosts, data from the `iex` feed.
    pub fn live(account: &str, secret_name: &str, key_id: SecretString, secret_key: SecretString) -> Self {
        Self::with_hosts(LIVE_TRADING_URL, LIVE_TRADE_STREAM_URL, account, secret_name, key_id, secret_key)
    }

    fn with_hosts(
        trading_url: &str,
        trade_stream_url: &str,
        account: &str,
        secret_name: &str,
        key_id: SecretString,
        secret_key: SecretString,
    ) -> Self {
        Self {
            trading_url: trading_url.to_owned(),
            trade_stream_url: trade_stream_url.to_owned(),
            data_url: DATA_URL.to_owned(),
            stocks_stream_url: stocks_stream_url("iex"),
            account: account.to_owned(),
            secret_name: secret_name.to_owned(),
            key_id,
            secret_key,
            budget: RequestBudget::default(),
            request_timeout: Duration::from_secs(10),
            retry: Backoff { first: Duration::from_millis(200), cap: Duration::from_secs(5), tries: 4 },
            reconnect: Backoff { first: Duration::from_millis(500), cap: Duration::from_secs(30), tries: 0 },
            poll_every: Duration::from_secs(30),
            connection_limit_wait: Duration::from_secs(30),
        }
    }

    /// The message for keys Alpaca refused: names the secret, never a key.
    pub(crate) fn keys_refused(&self, what: &str) -> String {
        format!(
            "Alpaca refused the keys in secret `{}` ({what}): check key_id / secret_key and that paper keys \
             go to the paper endpoint",
            self.secret_name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn debug_output_never_shows_the_keys() {
        let cfg = AlpacaConfig::paper("paper", "alpaca-paper", "PKTESTKEY".into(), "s3cr3t-value".into());
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("PKTESTKEY") && !shown.contains("s3cr3t-value"), "{shown}");
        assert_eq!(cfg.key_id.expose_secret(), "PKTESTKEY");
        let refused = cfg.keys_refused("401 request is not authorized");
        assert!(refused.contains("secret `alpaca-paper`") && !refused.contains("PKTESTKEY"), "{refused}");
    }

    #[test]
    fn backoff_stays_between_half_and_the_capped_ceiling() {
        let b = Backoff { first: Duration::from_millis(200), cap: Duration::from_secs(5), tries: 4 };
        for attempt in 0..40 {
            let ceiling = (Duration::from_millis(200) * 2u32.pow(attempt.min(5))).min(b.cap);
            let d = b.delay(attempt);
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn hosts_follow_the_environment() {
        let live = AlpacaConfig::live("live", "alpaca-live", "k".into(), "s".into());
        assert_eq!(live.trading_url, "https://api.alpaca.markets");
        assert_eq!(live.trade_stream_url, "wss://api.alpaca.markets/stream");
        assert_eq!(live.stocks_stream_url, "wss://stream.data.alpaca.markets/v2/iex");
        assert_eq!(stocks_stream_url("sip"), "wss://stream.data.alpaca.markets/v2/sip");
    }
}
