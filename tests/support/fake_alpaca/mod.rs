//! A fake Alpaca on 127.0.0.1 for the tests: Trading API v2 (REST and the `trade_updates`
//! stream) and the Market Data API (latest stock quotes and trades, option snapshots and quotes,
//! the stocks stream), on one port, following the published protocol.
//!
//! It checks the auth headers and a per-key request budget, validates order bodies against the
//! official OpenAPI request schemas (`tests/fixtures/alpaca/`), keeps orders, positions and cash,
//! fills orders against the prices the test publishes, and streams every change. Controls make
//! it fail: drop a socket, answer 429/5xx, answer 5xx after placing an order, delay
//! acknowledgements, reject an order, hold back the order events.
//!
//! ```ignore
//! let fake = FakeAlpaca::start(FakeConfig::default());
//! // point the venue at fake.rest_url(), fake.trade_stream_url(), fake.data_stream_url("iex")
//! assert!(fake.wait_for_data_subscription("SPY", Duration::from_secs(5)));
//! fake.publish_trade("SPY", at, dec!(501.25), dec!(100));   // streams it, fills market orders
//! assert_eq!(fake.orders()[0].status, "filled");
//! ```
//!
//! Fills: a market order fills at the next trade published after it was acknowledged; a limit
//! order fills at its limit when a trade reaches it (or the far touch of a later quote does),
//! and at once at the touch if it is marketable against the last quote when it arrives; stops
//! trigger on trades at or through the stop. Option orders fill against
//! [`FakeAlpaca::set_option_quote`] (buys at the ask, sells at the bid, limits respected).
//!
//! Time: the fake's "now" (order timestamps, the clock) is the time of the latest published
//! event, or the wall clock before the first one, so a replayed tape gives consistent times.
//!
//! Shut down by dropping the handle: the server thread, its runtime and every connection end.

mod chain;
mod data_stream;
mod ids;
mod orders;
mod rest;
pub mod schema;
mod state;
mod trade_stream;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{any, get};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tokio::sync::oneshot;

pub use chain::{FakeContract, OptionKind, chain_around};
pub use orders::{FakeOrder, OrderType, Side};
use state::{Out, Shared};

/// How the fake account starts and how strict the fake is.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// `APCA-API-KEY-ID` the fake accepts.
    pub key_id: String,
    /// `APCA-API-SECRET-KEY` the fake accepts.
    pub secret_key: String,
    /// Starting cash.
    pub cash: Decimal,
    /// Starting buying power (moves with the cash of every fill).
    pub buying_power: Decimal,
    /// Positions at start.
    pub positions: Vec<FakePosition>,
    /// Tradable equity symbols (the assets the fake knows).
    pub symbols: Vec<String>,
    /// The option chain (see [`chain_around`] / [`FakeConfig::with_spy_chain`]).
    pub option_contracts: Vec<FakeContract>,
    /// `trade_updates` frames as binary messages (the paper endpoint does); else text.
    pub binary_trade_frames: bool,
    /// Requests per key per rolling minute, for the Trading API and the Market Data API each.
    pub rate_limit_per_min: u32,
    /// After [`FakeAlpaca::drop_data_stream`], how long the server "holds" the dead socket:
    /// a new data connection for the key meanwhile gets 406 (Alpaca: up to ~90 s).
    pub dead_socket_hold: Duration,
    /// Time a data stream client has to authenticate (Alpaca: 10 s), else 404.
    pub auth_timeout: Duration,
    /// Whether the key may stream the `sip` feed (else 409 insufficient subscription).
    pub sip_entitled: bool,
    /// Distinct symbols one data connection may subscribe to (else 405).
    pub symbol_limit: usize,
    /// Fills take at most the printed (or quoted) size, so large orders fill in parts.
    pub partial_fills: bool,
    /// Most messages in one data stream frame.
    pub batch_max: usize,
    /// Equity market orders fill on arrival at the last published trade (as the simulated
    /// venue fills them), instead of at the next trade.
    pub market_at_last_trade: bool,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            key_id: "PKFAKEKEY0000000001".into(),
            secret_key: "fake-secret-key-0000000000000000000000001".into(),
            cash: Decimal::from(100_000),
            buying_power: Decimal::from(200_000),
            positions: Vec::new(),
            symbols: ["SPY", "QQQ", "NVDA", "AAPL", "MSFT", "AMD", "TSLA", "IBM", "VOO"]
                .map(String::from)
                .to_vec(),
            option_contracts: Vec::new(),
            binary_trade_frames: true,
            rate_limit_per_min: 200,
            dead_socket_hold: Duration::ZERO,
            auth_timeout: Duration::from_secs(10),
            sip_entitled: false,
            symbol_limit: 30,
            partial_fills: false,
            batch_max: 100,
            market_at_last_trade: false,
        }
    }
}

impl FakeConfig {
    /// Add a SPY chain: for each expiration, calls and puts at 10 strikes each side of
    /// `around`, $1 apart.
    pub fn with_spy_chain(mut self, around: Decimal, expirations: &[chrono::NaiveDate]) -> Self {
        self.option_contracts.extend(chain_around("SPY", around, expirations, 10, Decimal::ONE));
        self
    }
}

/// A position: signed quantity (negative = short) and average entry price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePosition {
    /// Ticker or OCC symbol.
    pub symbol: String,
    /// Shares or contracts, negative when short.
    pub qty: Decimal,
    /// Average entry price.
    pub avg_entry_price: Decimal,
}

/// A minute bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeBar {
    /// Open.
    pub open: Decimal,
    /// High.
    pub high: Decimal,
    /// Low.
    pub low: Decimal,
    /// Close.
    pub close: Decimal,
    /// Volume.
    pub volume: Decimal,
}

/// A market event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeTick {
    /// A trade print.
    Trade {
        /// Symbol.
        symbol: String,
        /// Exchange time.
        ts: DateTime<Utc>,
        /// Price.
        price: Decimal,
        /// Size.
        size: Decimal,
    },
    /// A top-of-book quote.
    Quote {
        /// Symbol.
        symbol: String,
        /// Exchange time.
        ts: DateTime<Utc>,
        /// Bid.
        bid: Decimal,
        /// Bid size.
        bid_size: Decimal,
        /// Ask.
        ask: Decimal,
        /// Ask size.
        ask_size: Decimal,
    },
    /// A minute bar (streamed only; bars fill nothing).
    Bar {
        /// Symbol.
        symbol: String,
        /// Start of the minute.
        ts: DateTime<Utc>,
        /// Prices and volume.
        bar: FakeBar,
    },
}

/// One REST request as the fake saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path, e.g. `/v2/orders`.
    pub path: String,
    /// Raw query string (empty if none).
    pub query: String,
    /// Body as text (empty if none).
    pub body: String,
    /// Status the fake answered.
    pub status: u16,
    /// The `APCA-API-KEY-ID` header, if sent.
    pub key_id: Option<String>,
    /// When it arrived (wall clock).
    pub at: DateTime<Utc>,
}

/// A frame a client sent on a stream.
#[derive(Debug, Clone)]
pub struct ClientFrame {
    /// `trade_updates`, or the data feed (`iex`, `sip`).
    pub stream: String,
    /// The frame (a JSON string value if it was not JSON).
    pub frame: serde_json::Value,
}

/// A running fake; dropping it shuts it down.
pub struct FakeAlpaca {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeAlpaca {
    /// Start a fake on `127.0.0.1:<free port>`, served from its own thread and runtime.
    pub fn start(cfg: FakeConfig) -> Self {
        let shared = Arc::new(Shared::new(cfg));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("bound address");
        let app = Router::new()
            .route("/stream", get(trade_stream::upgrade))
            .route("/v2/iex", get(data_stream::upgrade))
            .route("/v2/sip", get(data_stream::upgrade))
            .fallback(any(rest::handle))
            .with_state(shared.clone());
        let (shutdown, stop) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("fake-alpaca-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake alpaca runtime");
                rt.block_on(async move {
                    use axum::serve::ListenerExt;
                    // Small frames (a ping after a print) leave at once, not after a delayed ACK.
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener").tap_io(|tcp| {
                            let _ = tcp.set_nodelay(true);
                        });
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = stop => {}
                    }
                });
                // Dropping the runtime ends every connection task.
            })
            .expect("spawn the fake alpaca thread");
        Self { shared, addr, shutdown: Some(shutdown), thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT`: the Trading API base and the Market Data API base.
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT/stream`: the `trade_updates` stream.
    pub fn trade_stream_url(&self) -> String {
        format!("ws://{}/stream", self.addr)
    }

    /// `ws://127.0.0.1:PORT/v2/{feed}`: the stocks stream (`iex` or `sip`).
    pub fn data_stream_url(&self, feed: &str) -> String {
        format!("ws://{}/v2/{feed}", self.addr)
    }

    /// The configuration the fake runs with.
    pub fn config(&self) -> FakeConfig {
        self.shared.lock().cfg.clone()
    }

    // --- market ---

    /// Publish a trade: streamed to subscribers, and working orders fill against it.
    pub fn publish_trade(&self, symbol: &str, ts: DateTime<Utc>, price: Decimal, size: Decimal) {
        self.publish_batch(&[FakeTick::Trade { symbol: symbol.into(), ts, price, size }]);
    }

    /// Publish a quote: streamed to subscribers; resting limits the far touch reaches fill.
    pub fn publish_quote(
        &self,
        symbol: &str,
        ts: DateTime<Utc>,
        bid: Decimal,
        bid_size: Decimal,
        ask: Decimal,
        ask_size: Decimal,
    ) {
        self.publish_batch(&[FakeTick::Quote { symbol: symbol.into(), ts, bid, bid_size, ask, ask_size }]);
    }

    /// Publish a minute bar (streamed only).
    pub fn publish_bar(&self, symbol: &str, ts: DateTime<Utc>, bar: FakeBar) {
        self.publish_batch(&[FakeTick::Bar { symbol: symbol.into(), ts, bar }]);
    }

    /// Publish many events in order; each subscriber gets them in array frames of at most
    /// `batch_max` messages.
    pub fn publish_batch(&self, events: &[FakeTick]) {
        self.shared.update(|s| s.publish(events));
    }

    /// Quote an option contract (REST snapshots and latest quotes show it); its working
    /// orders fill against it.
    pub fn set_option_quote(&self, occ: &str, bid: Decimal, ask: Decimal) {
        self.shared.update(|s| s.quote_option(occ, bid, ask));
    }

    /// The session ends: every open `day` order expires (`expired` on the stream).
    pub fn expire_day_orders(&self) {
        self.shared.update(|s| s.expire_day_orders());
    }

    // --- waiting on observable state ---

    /// Wait until an authenticated data connection subscribes to `symbol` (any channel);
    /// `false` if none did within `timeout`.
    pub fn wait_for_data_subscription(&self, symbol: &str, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| {
            s.data_conns.iter().any(|c| c.key.is_some() && c.subs.values().flatten().any(|x| x == symbol))
        })
    }

    /// Wait until a client listens to `trade_updates`; `false` if none did within `timeout`.
    pub fn wait_for_trade_listener(&self, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| s.trade_conns.iter().any(|c| c.listening))
    }

    /// Wait until the fake holds at least `n` orders (in any status).
    pub fn wait_for_orders(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| s.orders.len() >= n)
    }

    /// Wait until the order with `client_order_id` has `status`.
    pub fn wait_for_order_status(&self, client_order_id: &str, status: &str, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| {
            s.orders.iter().any(|o| o.client_order_id == client_order_id && o.status == status)
        })
    }

    // --- introspection ---

    /// Every order, oldest first (replacements are separate orders).
    pub fn orders(&self) -> Vec<FakeOrder> {
        self.shared.lock().orders.clone()
    }

    /// The open positions, by symbol.
    pub fn positions(&self) -> Vec<FakePosition> {
        self.shared.lock().positions.values().cloned().collect()
    }

    /// Cash now.
    pub fn cash(&self) -> Decimal {
        self.shared.lock().cash
    }

    /// Every REST request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Every frame clients sent on the streams, oldest first.
    pub fn client_frames(&self) -> Vec<ClientFrame> {
        self.shared.lock().client_frames.clone()
    }

    /// The most requests served (not refused with 429) within one rolling minute so far, per
    /// API (`(trading, market_data)`), from the recorded arrival times: what a budget test
    /// asserts.
    pub fn peak_requests_per_minute(&self) -> (usize, usize) {
        let requests = self.requests();
        let peak = |market_data: bool| {
            let times: Vec<DateTime<Utc>> = requests
                .iter()
                .filter(|r| r.status != 429 && is_market_data(&r.path) == market_data)
                .map(|r| r.at)
                .collect();
            (0..times.len())
                .map(|i| {
                    times[i..].iter().take_while(|t| **t - times[i] < chrono::TimeDelta::minutes(1)).count()
                })
                .max()
                .unwrap_or(0)
        };
        (peak(false), peak(true))
    }

    // --- controls ---

    /// A position opened by hand at the broker (replaces any position in `symbol`; qty 0
    /// closes it). Cash is not touched.
    pub fn open_position(&self, symbol: &str, qty: Decimal, avg_entry_price: Decimal) {
        self.shared.update(|s| {
            if qty.is_zero() {
                s.positions.remove(symbol);
            } else {
                s.positions
                    .insert(symbol.into(), FakePosition { symbol: symbol.into(), qty, avg_entry_price });
            }
        });
    }

    /// Cut every `trade_updates` connection (no closing handshake). Events until a client
    /// listens again are lost.
    pub fn drop_trade_stream(&self) {
        self.shared.update(|s| {
            for c in s.trade_conns.drain(..) {
                let _ = c.tx.send(Out::Drop);
            }
        });
    }

    /// Wait until every authenticated data client has read everything streamed to it so far
    /// (a WebSocket ping after it, answered); `false` if one did not within `timeout`. A test
    /// that streams a tape calls it to keep the client from falling behind on a loaded machine.
    pub fn sync_data_streams(&self, timeout: Duration) -> bool {
        let n = self.shared.update(|s| {
            let n = s.serial();
            for c in s.data_conns.iter().filter(|c| c.key.is_some()) {
                let _ = c.tx.send(Out::Ping(n));
            }
            n
        });
        self.shared
            .wait_until(timeout, |s| s.data_conns.iter().filter(|c| c.key.is_some()).all(|c| c.pong >= n))
    }

    /// Cut every data connection (no closing handshake); for `dead_socket_hold` the server
    /// still counts them, so a reconnect gets 406.
    pub fn drop_data_stream(&self) {
        self.shared.update(|s| {
            let until = Instant::now() + s.cfg.dead_socket_hold;
            for c in s.data_conns.drain(..) {
                if let Some(key) = c.key {
                    s.held.insert(key, until);
                }
                let _ = c.tx.send(Out::Drop);
            }
        });
    }

    /// The next `n` REST requests answer `status` (429, 500, 503, 504, …) and do nothing else.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.shared.update(|s| s.fail_next.extend(std::iter::repeat_n(status, n)));
    }

    /// The next `n` accepted order POSTs place the order but answer `status` (a 5xx): the case
    /// where a blind retry would place the order twice. For a client-side timeout after the
    /// effect, use [`FakeAlpaca::delay_acks`] longer than the client's timeout instead.
    pub fn fail_after_effect(&self, n: usize, status: u16) {
        self.shared.update(|s| s.fail_after_effect.extend(std::iter::repeat_n(status, n)));
    }

    /// Hold each order's REST answer and its `new` event for `d` (the order is `pending_new`
    /// meanwhile and does not fill). Zero turns it off.
    pub fn delay_acks(&self, d: Duration) {
        self.shared.update(|s| s.ack_delay = d);
    }

    /// The next order is accepted by REST, then `rejected` on the stream (`message` is kept on
    /// the [`FakeOrder`]; Alpaca's event carries no reason).
    pub fn reject_next_order(&self, message: &str) {
        self.shared.update(|s| s.reject_next = Some(message.into()));
    }

    /// While on, fills and other order changes happen but are not streamed (so a client must
    /// recover them from REST). Events meanwhile are lost, as after a disconnect.
    pub fn suppress_trade_updates(&self, on: bool) {
        self.shared.update(|s| s.suppress_trade_updates = on);
    }
}

/// Whether a REST path belongs to the Market Data API (its own rate budget).
fn is_market_data(path: &str) -> bool {
    path.starts_with("/v2/stocks/") || path.starts_with("/v1beta1/")
}

impl Drop for FakeAlpaca {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
