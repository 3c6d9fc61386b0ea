//! Alpaca's REST APIs (Trading and Market Data) through one account's request budget.
//!
//! Every attempt takes a slot of the account's [`Budget`] first. A 429 waits (`Retry-After` when
//! given, else the backoff) and tries again, whatever the method: Alpaca did nothing with it.
//! GET and DELETE are retried after a 5xx or a transport error, a bounded number of times with
//! jittered backoff; POST and PATCH never are (the caller decides, see
//! `super::execution`). The keys go in headers marked sensitive and appear in no message.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;

use super::budget::Budget;
use super::config::AlpacaConfig;
use super::wire::ErrorBody;
use crate::venue::VenueError;

/// How many 429s in a row one request sits out before giving up.
const MAX_RATE_LIMITED: u32 = 10;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How much of an unexpected body a message quotes.
const QUOTE_LEN: usize = 200;

/// Which of Alpaca's two REST APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// The Trading API (orders, account, positions, assets, option contracts).
    Trading,
    /// The Market Data API (quotes, option snapshots).
    Data,
}

/// Why a request failed, after the retries it was entitled to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Alpaca answered with an error status.
    Status {
        /// The HTTP status.
        status: u16,
        /// Alpaca's message (or the start of the body).
        message: String,
    },
    /// No answer: a timeout, a refused or dropped connection.
    Transport(String),
    /// An answer the client cannot read.
    Decode(String),
}

impl Failure {
    /// Whether Alpaca may have acted on the request (a 5xx or no answer at all).
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status >= 500,
            Self::Transport(_) => true,
            Self::Decode(_) => false,
        }
    }

    /// Whether this is Alpaca refusing the keys: any 401, and a 403 that says so (other 403s
    /// refuse an order: `insufficient qty available for order`, `potential wash trade …`).
    pub fn keys_refused(&self) -> bool {
        let Self::Status { status, message } = self else { return false };
        let m = message.to_ascii_lowercase();
        *status == 401
            || (*status == 403
                && ["forbidden", "not authorized", "unauthorized", "authenticat", "api key", "access key"]
                    .iter()
                    .any(|w| m.contains(w)))
    }

    /// The 4xx message of a refusal that concerns the request itself (not the keys).
    pub fn refusal(&self) -> Option<&str> {
        match self {
            Self::Status { status, message }
                if (400..500).contains(status) && *status != 429 && !self.keys_refused() =>
            {
                Some(message)
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status { status, message } => write!(f, "Alpaca answered {status}: {message}"),
            Self::Transport(e) => write!(f, "no answer from Alpaca: {e}"),
            Self::Decode(e) => write!(f, "unexpected answer from Alpaca: {e}"),
        }
    }
}

/// A REST client of one account.
#[derive(Debug, Clone)]
pub struct Rest {
    http: reqwest::Client,
    cfg: Arc<AlpacaConfig>,
    budget: Arc<Budget>,
}

impl Rest {
    /// A client for `cfg`'s account, sharing the account's request budget.
    ///
    /// # Errors
    /// The HTTP client cannot be built (no TLS roots).
    pub fn new(cfg: Arc<AlpacaConfig>) -> Result<Self, VenueError> {
        crate::venue::tls::install();
        let http = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.request_timeout)
            .build()
            .map_err(|e| VenueError::Terminal(format!("cannot set up HTTPS for Alpaca: {e}")))?;
        Ok(Self { budget: Budget::of(&cfg), http, cfg })
    }

    /// The configuration.
    pub fn config(&self) -> &AlpacaConfig {
        &self.cfg
    }

    /// The [`VenueError`] for a failure: refused keys name the secret.
    pub fn venue_error(&self, f: &Failure) -> VenueError {
        match f {
            Failure::Status { status, message } if f.keys_refused() => {
                VenueError::Terminal(self.cfg.keys_refused(&format!("{status} {message}")))
            }
            Failure::Status { status, .. } if *status >= 500 || *status == 429 => {
                VenueError::Retryable(f.to_string())
            }
            Failure::Status { .. } | Failure::Decode(_) => VenueError::Terminal(f.to_string()),
            Failure::Transport(_) => VenueError::Retryable(f.to_string()),
        }
    }

    /// GET and decode, retried after a 5xx or a transport error.
    pub async fn get<T: DeserializeOwned>(
        &self,
        api: Api,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, Failure> {
        let body = self.send(Method::GET, api, path, query, None, true).await?;
        decode(&body)
    }

    /// POST a JSON body and decode the answer; not retried but after a 429.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, Failure> {
        decode(&self.send(Method::POST, Api::Trading, path, &[], Some(body), false).await?)
    }

    /// PATCH a JSON body and decode the answer; not retried but after a 429.
    pub async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, Failure> {
        decode(&self.send(Method::PATCH, Api::Trading, path, &[], Some(body), false).await?)
    }

    /// DELETE, retried after a 5xx or a transport error.
    pub async fn delete(&self, path: &str) -> Result<(), Failure> {
        self.send(Method::DELETE, Api::Trading, path, &[], None, true).await.map(drop)
    }

    async fn send(
        &self,
        method: Method,
        api: Api,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        retry: bool,
    ) -> Result<Vec<u8>, Failure> {
        let base = match api {
            Api::Trading => &self.cfg.trading_url,
            Api::Data => &self.cfg.data_url,
        };
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let (mut failures, mut limited) = (0u32, 0u32);
        loop {
            self.budget.acquire().await;
            let mut req = self.http.request(method.clone(), &url).headers(self.auth_headers()?).query(query);
            if let Some(b) = body {
                req = req.json(b);
            }
            let failure = match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    return resp
                        .bytes()
                        .await
                        .map(|b| b.to_vec())
                        .map_err(|e| Failure::Transport(e.to_string()));
                }
                Ok(resp) if resp.status() == StatusCode::TOO_MANY_REQUESTS => {
                    let wait = retry_after(resp.headers()).unwrap_or_else(|| self.cfg.retry.delay(limited));
                    let failure = status_failure(resp).await;
                    if limited + 1 >= MAX_RATE_LIMITED {
                        return Err(failure);
                    }
                    tracing::warn!(account = %self.cfg.account, %method, path, "Alpaca rate-limited a request; waiting {wait:?}.");
                    limited += 1;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Ok(resp) => status_failure(resp).await,
                Err(e) => Failure::Transport(transport_reason(&e)),
            };
            if !(retry && failure.outcome_unknown()) || failures + 1 >= self.cfg.retry.tries.max(1) {
                return Err(failure);
            }
            let wait = self.cfg.retry.delay(failures);
            tracing::warn!(account = %self.cfg.account, %method, path, "{failure}; retrying in {wait:?}.");
            failures += 1;
            tokio::time::sleep(wait).await;
        }
    }

    fn auth_headers(&self) -> Result<HeaderMap, Failure> {
        let mut headers = HeaderMap::with_capacity(2);
        for (name, value) in
            [("APCA-API-KEY-ID", &self.cfg.key_id), ("APCA-API-SECRET-KEY", &self.cfg.secret_key)]
        {
            let mut v = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
                Failure::Decode(format!(
                    "the {} in secret `{}` has characters an HTTP header cannot carry",
                    if name == "APCA-API-KEY-ID" { "key_id" } else { "secret_key" },
                    self.cfg.secret_name
                ))
            })?;
            v.set_sensitive(true);
            headers.insert(name, v);
        }
        Ok(headers)
    }
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    // An empty body (a 204) reads as JSON null.
    let body = if body.is_empty() { b"null".as_slice() } else { body };
    serde_json::from_slice(body).map_err(|e| Failure::Decode(e.to_string()))
}

async fn status_failure(resp: reqwest::Response) -> Failure {
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    let message = match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(e) => e.message,
        Err(_) => {
            crate::text::printable(&String::from_utf8_lossy(&body[..body.len().min(QUOTE_LEN)])).into_owned()
        }
    };
    Failure::Status { status, message }
}

/// A transport error without the URL (which is not secret, but long) and with its cause.
fn transport_reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "connection failed"
    };
    match std::error::Error::source(e) {
        Some(cause) => format!("{kind} ({cause})"),
        None => kind.to_owned(),
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, message: &str) -> Failure {
        Failure::Status { status, message: message.into() }
    }

    #[test]
    fn refusals_of_keys_and_of_orders_are_told_apart() {
        assert!(status(401, "request is not authorized").keys_refused());
        assert!(status(403, "forbidden.").keys_refused());
        assert!(
            !status(403, "insufficient qty available for order (requested: 10, available: 0)").keys_refused()
        );
        assert!(!status(403, "potential wash trade detected. use complex orders").keys_refused());
        assert_eq!(
            status(403, "potential wash trade detected").refusal(),
            Some("potential wash trade detected")
        );
        assert_eq!(status(422, "qty must be > 0").refusal(), Some("qty must be > 0"));
        assert_eq!(status(401, "no").refusal(), None);
        assert_eq!(status(429, "slow down").refusal(), None);
        assert!(
            status(503, "").outcome_unknown() && Failure::Transport("timed out".into()).outcome_unknown()
        );
        assert!(!status(422, "").outcome_unknown());
    }
}
