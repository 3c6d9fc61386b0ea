//! The fake broker's state behind one lock: account, positions, orders, the latest prices, the
//! controls the tests set, what was recorded, and the stream connections every change is pushed
//! to. The lock is never held across an `.await`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

use super::chain::FakeContract;
use super::{ClientFrame, FakeConfig, FakeOrder, FakePosition, RecordedRequest, ids};

/// What a stream connection's task is told to do.
pub(super) enum Out {
    /// Send this JSON text.
    Frame(String),
    /// Drop the socket without a closing handshake (a network cut).
    Drop,
    /// A WebSocket ping carrying this number (the pong says the client read up to here).
    Ping(u64),
}

/// A `trade_updates` connection.
pub(super) struct TradeConn {
    pub id: u64,
    pub tx: UnboundedSender<Out>,
    pub authorized: bool,
    pub listening: bool,
}

/// A stocks data stream connection.
pub(super) struct DataConn {
    pub id: u64,
    pub feed: String,
    /// The key it authenticated with, once it has.
    pub key: Option<String>,
    /// Subscribed symbols per channel (`trades`, `quotes`, `bars`, …).
    pub subs: BTreeMap<&'static str, Vec<String>>,
    pub tx: UnboundedSender<Out>,
    /// The number of the latest ping the client answered.
    pub pong: u64,
}

/// The latest quote of a symbol (equity or option contract).
#[derive(Debug, Clone, Copy)]
pub(super) struct Touch {
    pub bid: Decimal,
    pub bid_size: Decimal,
    pub ask: Decimal,
    pub ask_size: Decimal,
    pub ts: DateTime<Utc>,
}

/// The latest trade of a symbol.
#[derive(Debug, Clone, Copy)]
pub(super) struct Print {
    pub price: Decimal,
    pub size: Decimal,
    pub ts: DateTime<Utc>,
}

/// One execution, as `GET /v2/account/activities/FILL` lists it.
pub(super) struct Execution {
    pub id: String,
    pub order: usize,
    pub price: Decimal,
    pub qty: Decimal,
    pub cum_qty: Decimal,
    pub leaves_qty: Decimal,
    pub partial: bool,
    pub ts: DateTime<Utc>,
}

/// An error answer: HTTP status plus Alpaca's `{code, message}` body.
#[derive(Debug, Clone)]
pub(super) struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    /// Alpaca's eight-digit error code: the status followed by `10000`.
    pub fn body(&self) -> Value {
        json!({"code": u64::from(self.status) * 100_000 + 10_000, "message": self.message})
    }
}

/// Everything the fake knows.
pub(super) struct State {
    pub cfg: FakeConfig,
    /// Bumped on every change (for [`Shared::wait_until`]).
    pub generation: u64,
    /// The market's clock: the time of the latest published event.
    pub clock: Option<DateTime<Utc>>,
    pub cash: Decimal,
    pub buying_power: Decimal,
    pub positions: BTreeMap<String, FakePosition>,
    pub orders: Vec<FakeOrder>,
    pub executions: Vec<Execution>,
    pub last_trade: HashMap<String, Print>,
    pub last_quote: HashMap<String, Touch>,
    pub chain: Vec<FakeContract>,
    pub next_id: u64,
    pub next_trade_id: u64,
    // Controls.
    pub fail_next: VecDeque<u16>,
    pub fail_after_effect: VecDeque<u16>,
    pub ack_delay: Duration,
    pub reject_next: Option<String>,
    pub suppress_trade_updates: bool,
    // Records.
    pub requests: Vec<RecordedRequest>,
    pub client_frames: Vec<ClientFrame>,
    /// Served requests per (key, market-data API?) in the last minute.
    pub rate: HashMap<(String, bool), VecDeque<Instant>>,
    // Streams.
    pub trade_conns: Vec<TradeConn>,
    pub data_conns: Vec<DataConn>,
    /// Keys whose dropped data socket the server still "holds", until when.
    pub held: HashMap<String, Instant>,
}

impl State {
    fn new(cfg: FakeConfig) -> Self {
        let positions =
            cfg.positions.iter().map(|p| (p.symbol.clone(), p.clone())).collect::<BTreeMap<_, _>>();
        Self {
            cash: cfg.cash,
            buying_power: cfg.buying_power,
            chain: cfg.option_contracts.clone(),
            positions,
            cfg,
            generation: 0,
            clock: None,
            orders: Vec::new(),
            executions: Vec::new(),
            last_trade: HashMap::new(),
            last_quote: HashMap::new(),
            next_id: 1,
            next_trade_id: 1,
            fail_next: VecDeque::new(),
            fail_after_effect: VecDeque::new(),
            ack_delay: Duration::ZERO,
            reject_next: None,
            suppress_trade_updates: false,
            requests: Vec::new(),
            client_frames: Vec::new(),
            rate: HashMap::new(),
            trade_conns: Vec::new(),
            data_conns: Vec::new(),
            held: HashMap::new(),
        }
    }

    /// The fake's "now": the latest market event's time, else the wall clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.unwrap_or_else(Utc::now)
    }

    /// A fresh serial number (order ids, executions, connections).
    pub fn serial(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Whether the key pair is the configured one.
    pub fn keys_match(&self, key: &str, secret: &str) -> bool {
        key == self.cfg.key_id && secret == self.cfg.secret_key
    }

    /// Count a request against `key`'s budget for the rolling minute; `false` when the budget
    /// is spent (the request is then refused and not counted).
    pub fn admit(&mut self, key: &str, market_data: bool, now: Instant) -> bool {
        let limit = self.cfg.rate_limit_per_min as usize;
        let window = self.rate.entry((key.to_owned(), market_data)).or_default();
        while window.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            window.pop_front();
        }
        if window.len() >= limit {
            return false;
        }
        window.push_back(now);
        true
    }

    /// The contract of the chain called `symbol`, if there is one.
    pub fn contract(&self, symbol: &str) -> Option<&FakeContract> {
        self.chain.iter().find(|c| c.symbol == symbol)
    }

    /// The price a position in `symbol` is marked at: the last trade, else the quote's middle
    /// (options), else the entry price.
    pub fn mark(&self, symbol: &str, fallback: Decimal) -> Decimal {
        if let Some(t) = self.last_trade.get(symbol) {
            return t.price;
        }
        self.last_quote.get(symbol).map_or(fallback, |q| (q.bid + q.ask) / Decimal::TWO)
    }

    /// The contract multiplier of `symbol` (100 for options, 1 for shares).
    pub fn multiplier(&self, symbol: &str) -> Decimal {
        if self.contract(symbol).is_some() { Decimal::ONE_HUNDRED } else { Decimal::ONE }
    }

    /// Market value of a position (signed: shorts are negative).
    pub fn market_value(&self, p: &FakePosition) -> Decimal {
        p.qty * self.mark(&p.symbol, p.avg_entry_price) * self.multiplier(&p.symbol)
    }

    /// The `Account` object of `GET /v2/account`. No `pattern_day_trader` / `daytrade_count`:
    /// Alpaca removed them on 2026-07-06.
    pub fn account_json(&self) -> Value {
        let (mut long, mut short) = (Decimal::ZERO, Decimal::ZERO);
        for p in self.positions.values() {
            let v = self.market_value(p);
            if v >= Decimal::ZERO {
                long += v;
            } else {
                short += v;
            }
        }
        let equity = self.cash + long + short;
        json!({
            "id": ids::uuid(0xacc0_0000, 1),
            "account_number": "PA0FAKE00001",
            "status": "ACTIVE",
            "crypto_status": "INACTIVE",
            "currency": "USD",
            "cash": dec(self.cash),
            "buying_power": dec(self.buying_power),
            "regt_buying_power": dec(self.buying_power),
            "non_marginable_buying_power": dec(self.cash.max(Decimal::ZERO)),
            "options_buying_power": dec(self.cash.max(Decimal::ZERO)),
            "equity": dec(equity),
            "last_equity": dec(equity),
            "portfolio_value": dec(equity),
            "long_market_value": dec(long),
            "short_market_value": dec(short),
            "initial_margin": "0",
            "maintenance_margin": "0",
            "multiplier": "2",
            "shorting_enabled": true,
            "trading_blocked": false,
            "transfers_blocked": false,
            "account_blocked": false,
            "trade_suspended_by_user": false,
            "options_approved_level": 2,
            "options_trading_level": 2,
            "created_at": "2024-01-02T14:30:00Z",
        })
    }

    /// The `Position` object of `GET /v2/positions`.
    pub fn position_json(&self, p: &FakePosition) -> Value {
        let mark = self.mark(&p.symbol, p.avg_entry_price);
        let mult = self.multiplier(&p.symbol);
        let cost = p.qty * p.avg_entry_price * mult;
        let value = p.qty * mark * mult;
        let pl = value - cost;
        let plpc = if cost.is_zero() { Decimal::ZERO } else { pl / cost.abs() };
        let option = self.contract(&p.symbol).is_some();
        json!({
            "asset_id": ids::asset_id(&p.symbol),
            "symbol": p.symbol,
            "exchange": if option { "" } else { "ARCA" },
            "asset_class": if option { "us_option" } else { "us_equity" },
            "asset_marginable": !option,
            "avg_entry_price": dec(p.avg_entry_price),
            "qty": dec(p.qty),
            "qty_available": dec(p.qty - self.reserved(&p.symbol, p.qty)),
            "side": if p.qty >= Decimal::ZERO { "long" } else { "short" },
            "market_value": dec(value),
            "cost_basis": dec(cost),
            "unrealized_pl": dec(pl),
            "unrealized_plpc": dec(plpc.round_dp(6)),
            "unrealized_intraday_pl": dec(pl),
            "unrealized_intraday_plpc": dec(plpc.round_dp(6)),
            "current_price": dec(mark),
            "lastday_price": dec(mark),
            "change_today": "0",
        })
    }

    /// Quantity of `symbol` held by open orders that would reduce a position of `qty`
    /// (sells against a long, buys against a short), signed like the position.
    pub fn reserved(&self, symbol: &str, qty: Decimal) -> Decimal {
        self.orders
            .iter()
            .filter(|o| o.symbol == symbol && o.is_open() && o.side.sign() * qty < Decimal::ZERO)
            .map(|o| (o.qty - o.filled_qty) * -o.side.sign())
            .sum()
    }

    /// Send a `trade_updates` frame to every listener (unless the tests suppress them). A frame
    /// nobody listens to is lost, as on Alpaca (no replay).
    pub fn push_trade_update(&mut self, data: Value) {
        if self.suppress_trade_updates {
            return;
        }
        let frame = json!({"stream": "trade_updates", "data": data}).to_string();
        self.trade_conns.retain(|c| !c.listening || c.tx.send(Out::Frame(frame.clone())).is_ok());
    }
}

/// Decimal as the API writes it: a string without trailing zeros.
pub(super) fn dec(d: Decimal) -> String {
    d.normalize().to_string()
}

/// RFC 3339 with nanoseconds, UTC, as Alpaca writes timestamps.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// The state and a condition variable signalled on every change.
pub(super) struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    pub fn new(cfg: FakeConfig) -> Self {
        Self { state: Mutex::new(State::new(cfg)), changed: Condvar::new() }
    }

    /// Read the state (a panicking test thread must not wedge the server: poison is ignored).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Change the state and wake the waiters.
    pub fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut s = self.lock();
        let r = f(&mut s);
        s.generation += 1;
        drop(s);
        self.changed.notify_all();
        r
    }

    /// Wait until `pred` holds, re-checking after every change; `false` once `timeout` passed.
    pub fn wait_until(&self, timeout: Duration, mut pred: impl FnMut(&State) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if pred(&s) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = self.changed.wait_timeout(s, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}
