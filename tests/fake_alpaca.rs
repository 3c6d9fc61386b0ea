//! The fake Alpaca itself, driven over HTTP and WebSocket the way a client would (reqwest and
//! tokio-tungstenite): auth, the official request schemas, Alpaca's order refusals, fills and
//! their `trade_updates`, replace semantics, the rate budget, the stocks stream's error codes.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::fake_alpaca::schema::{self, Schema};
use crate::support::fake_alpaca::{FakeAlpaca, FakeConfig, FakePosition, FakeTick, OrderType, Side};

/// Bound on every wait for a frame (a failing test fails instead of hanging).
const WAIT: Duration = Duration::from_secs(5);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 2, h, m, s).single().expect("a valid time")
}

/// A REST client of one fake, with its keys (or others).
struct Http {
    client: reqwest::Client,
    base: String,
    key: String,
    secret: String,
}

impl Http {
    fn new(fake: &FakeAlpaca) -> Self {
        // reqwest is built without a default TLS provider (the runner installs ring at start).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cfg = fake.config();
        Self {
            client: reqwest::Client::new(),
            base: fake.rest_url(),
            key: cfg.key_id,
            secret: cfg.secret_key,
        }
    }

    fn with_secret(mut self, secret: &str) -> Self {
        self.secret = secret.into();
        self
    }

    /// `METHOD path` with the key headers (and a JSON body): status and JSON answer (null if
    /// the body is empty).
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("APCA-API-KEY-ID", &self.key)
            .header("APCA-API-SECRET-KEY", &self.secret);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the fake answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("a body");
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") })
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }
}

/// An order answer that conforms to the spec's `Order` schema.
fn checked_order(v: &Value) -> &Value {
    if let Err(e) = schema::check(Schema::Order, v) {
        panic!("not an Order per the spec: {e}\n{v:#}");
    }
    v
}

fn limit_buy(symbol: &str, qty: &str, limit: &str, cid: &str) -> Value {
    json!({"symbol": symbol, "qty": qty, "side": "buy", "type": "limit", "limit_price": limit,
           "time_in_force": "day", "client_order_id": cid})
}

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.expect("the fake accepts WebSocket connections").0
}

/// The next data frame (text or binary) as JSON, with whether it was binary; `None` once the
/// server closed.
async fn next_frame(ws: &mut Ws) -> Option<(Value, bool)> {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next()).await.expect("a frame within the bound");
        match msg {
            Some(Ok(Message::Text(t))) => {
                return Some((serde_json::from_str(&t).expect("JSON frame"), false));
            }
            Some(Ok(Message::Binary(b))) => {
                return Some((serde_json::from_slice(&b).expect("JSON frame"), true));
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.expect("send a frame");
}

/// A `trade_updates` client that authenticated and listens.
async fn trade_listener(fake: &FakeAlpaca) -> Ws {
    let cfg = fake.config();
    let mut ws = connect(&fake.trade_stream_url()).await;
    send(
        &mut ws,
        json!({"action": "authenticate", "data": {"key_id": cfg.key_id, "secret_key": cfg.secret_key}}),
    )
    .await;
    let (auth, binary) = next_frame(&mut ws).await.expect("an authorization frame");
    assert!(binary, "paper sends binary frames");
    assert_eq!(
        auth,
        json!({"stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}})
    );
    send(&mut ws, json!({"action": "listen", "data": {"streams": ["trade_updates"]}})).await;
    let (ack, _) = next_frame(&mut ws).await.expect("a listening frame");
    assert_eq!(ack, json!({"stream": "listening", "data": {"streams": ["trade_updates"]}}));
    ws
}

/// A stocks stream client past `connected`, after sending `auth` with `secret`: the answer.
async fn data_auth(fake: &FakeAlpaca, secret: &str) -> (Ws, Value) {
    let mut ws = connect(&fake.data_stream_url("iex")).await;
    let (hello, _) = next_frame(&mut ws).await.expect("connected");
    assert_eq!(hello, json!([{"T": "success", "msg": "connected"}]));
    send(&mut ws, json!({"action": "auth", "key": fake.config().key_id, "secret": secret})).await;
    let (answer, _) = next_frame(&mut ws).await.expect("an auth answer");
    (ws, answer)
}

fn error_frame(code: u16, msg: &str) -> Value {
    json!([{"T": "error", "code": code, "msg": msg}])
}

#[test]
fn rest_refuses_requests_without_the_right_keys() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    block_on(async {
        let anonymous =
            reqwest::Client::new().get(format!("{}/v2/account", fake.rest_url())).send().await.unwrap();
        assert_eq!(anonymous.status().as_u16(), 401);
        let body: Value = anonymous.json().await.unwrap();
        assert_eq!(body, json!({"code": 40110000, "message": "request is not authorized"}));
        let (status, body) = Http::new(&fake).with_secret("wrong").get("/v2/account").await;
        assert_eq!((status, body["code"].clone()), (401, json!(40110000)));
        let (status, account) = Http::new(&fake).get("/v2/account").await;
        assert_eq!(status, 200);
        assert_eq!(
            (account["cash"].as_str(), account["buying_power"].as_str()),
            (Some("100000"), Some("200000"))
        );
        assert!(account.get("pattern_day_trader").is_none() && account.get("daytrade_count").is_none());
    });
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401, 200]);
}

#[test]
fn an_order_body_outside_the_official_schema_gets_422_with_the_validators_message() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    block_on(async {
        let http = Http::new(&fake);
        let (status, body) = http
            .post("/v2/orders", json!({"symbol": "SPY", "qty": "1", "side": "buy", "type": "market"}))
            .await;
        assert_eq!(status, 422);
        assert_eq!(body["code"], json!(42210000));
        assert!(body["message"].as_str().unwrap().contains("time_in_force"), "{body}");
        let bad_type =
            json!({"symbol": "SPY", "qty": "1", "side": "buy", "type": "fast", "time_in_force": "day"});
        let (status, body) = http.post("/v2/orders", bad_type).await;
        assert_eq!(status, 422);
        assert!(body["message"].as_str().unwrap().starts_with("/type: \"fast\" is not one of"), "{body}");
        let numeric_qty =
            json!({"symbol": "SPY", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day"});
        let (status, body) = http.post("/v2/orders", numeric_qty).await;
        assert_eq!(status, 422);
        assert!(body["message"].as_str().unwrap().contains("/qty"), "{body}");
    });
    assert!(fake.orders().is_empty(), "nothing is placed");
}

#[test]
fn a_repeated_client_order_id_is_refused_and_found_by_client_id() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    block_on(async {
        let http = Http::new(&fake);
        let (status, first) = http.post("/v2/orders", limit_buy("SPY", "2", "400", "agent1-0001")).await;
        assert_eq!(status, 200, "{first}");
        checked_order(&first);
        let (status, body) = http.post("/v2/orders", limit_buy("SPY", "2", "400", "agent1-0001")).await;
        assert_eq!((status, body["message"].as_str()), (422, Some("client_order_id must be unique")));
        let (status, found) = http.get("/v2/orders:by_client_order_id?client_order_id=agent1-0001").await;
        assert_eq!((status, &found["id"]), (200, &first["id"]));
        let (status, _) = http.get("/v2/orders:by_client_order_id?client_order_id=never-sent").await;
        assert_eq!(status, 404);
    });
    assert_eq!(fake.orders().len(), 1);
}

#[test]
fn a_sell_through_zero_is_refused_counting_the_open_sells() {
    let cfg = FakeConfig {
        positions: vec![FakePosition { symbol: "SPY".into(), qty: dec!(10), avg_entry_price: dec!(500) }],
        ..FakeConfig::default()
    };
    let fake = FakeAlpaca::start(cfg);
    block_on(async {
        let http = Http::new(&fake);
        let sell = |qty: &str, limit: &str| json!({"symbol": "SPY", "qty": qty, "side": "sell", "type": "limit", "limit_price": limit, "time_in_force": "day"});
        let (status, body) = http.post("/v2/orders", sell("15", "600")).await;
        assert_eq!(
            (status, body),
            (403, json!({"code": 40310000, "message": "insufficient qty available for order"}))
        );
        let (status, _) = http.post("/v2/orders", sell("6", "600")).await;
        assert_eq!(status, 200);
        let (status, body) = http.post("/v2/orders", sell("5", "600")).await;
        assert_eq!((status, body["message"].as_str()), (403, Some("insufficient qty available for order")));
        let (status, _) = http.post("/v2/orders", sell("4", "600")).await;
        assert_eq!(status, 200, "exactly what is left");
        let (_, position) = http.get("/v2/positions/SPY").await;
        assert_eq!((position["qty"].as_str(), position["qty_available"].as_str()), (Some("10"), Some("0")));
    });
}

#[test]
fn an_opposite_side_order_while_another_is_open_is_a_potential_wash_trade() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    block_on(async {
        let http = Http::new(&fake);
        let (status, _) = http.post("/v2/orders", limit_buy("NVDA", "3", "100", "b1")).await;
        assert_eq!(status, 200);
        let short =
            json!({"symbol": "NVDA", "qty": "1", "side": "sell", "type": "market", "time_in_force": "day"});
        let (status, body) = http.post("/v2/orders", short).await;
        assert_eq!(
            (status, body),
            (403, json!({"code": 40310000, "message": "potential wash trade detected. use complex orders"}))
        );
    });
}

#[test]
fn a_market_order_fills_on_the_next_trade_and_streams_binary_trade_updates() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    block_on(async {
        let http = Http::new(&fake);
        let mut events = trade_listener(&fake).await;
        fake.publish_trade("SPY", at(15, 0, 0), dec!(500), dec!(100));
        let order = json!({"symbol": "SPY", "qty": "10", "side": "buy", "type": "market", "time_in_force": "day",
                           "client_order_id": "agent1-0002"});
        let (status, placed) = http.post("/v2/orders", order).await;
        assert_eq!((status, placed["status"].as_str()), (200, Some("new")), "{placed}");
        checked_order(&placed);
        let (new, binary) = next_frame(&mut events).await.expect("the new event");
        assert!(binary);
        assert_eq!(
            (new["stream"].as_str(), new["data"]["event"].as_str()),
            (Some("trade_updates"), Some("new"))
        );
        assert_eq!(new["data"]["order"]["id"], placed["id"]);

        fake.publish_trade("SPY", at(15, 0, 1), dec!(501.25), dec!(100));
        let (fill, binary) = next_frame(&mut events).await.expect("the fill event");
        assert!(binary);
        let data = &fill["data"];
        assert_eq!(data["event"], "fill");
        assert_eq!((data["price"].as_str(), data["qty"].as_str()), (Some("501.25"), Some("10")));
        assert_eq!(data["position_qty"], "10");
        assert_eq!(data["timestamp"], "2025-01-02T15:00:01.000000000Z");
        assert!(data["execution_id"].as_str().is_some_and(|id| id.len() == 36));
        let filled = checked_order(&data["order"]);
        assert_eq!(
            (filled["status"].as_str(), filled["filled_avg_price"].as_str()),
            (Some("filled"), Some("501.25"))
        );

        let (_, by_id) = http.get(&format!("/v2/orders/{}", placed["id"].as_str().unwrap())).await;
        assert_eq!(checked_order(&by_id)["filled_qty"], "10");
        let (_, positions) = http.get("/v2/positions").await;
        assert_eq!(positions[0]["symbol"], "SPY");
        assert_eq!(
            (positions[0]["qty"].as_str(), positions[0]["avg_entry_price"].as_str()),
            (Some("10"), Some("501.25"))
        );
        let (_, fills) = http.get("/v2/account/activities/FILL").await;
        assert_eq!(
            (fills[0]["price"].as_str(), fills[0]["order_id"].clone()),
            (Some("501.25"), placed["id"].clone())
        );
    });
    let order = &fake.orders()[0];
    assert_eq!((order.side, order.order_type, order.filled_qty), (Side::Buy, OrderType::Market, dec!(10)));
    assert_eq!(fake.cash(), dec!(100000) - dec!(5012.5));
    assert_eq!(
        fake.positions(),
        [FakePosition { symbol: "SPY".into(), qty: dec!(10), avg_entry_price: dec!(501.25) }]
    );
}

#[test]
fn a_replace_makes_a_new_order_and_a_filled_order_cannot_be_replaced() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    block_on(async {
        let http = Http::new(&fake);
        let (_, old) = http.post("/v2/orders", limit_buy("SPY", "2", "490", "r-1")).await;
        let old_id = old["id"].as_str().unwrap().to_owned();
        let (status, body) = http.patch(&format!("/v2/orders/{old_id}"), json!({"qty": 5})).await;
        assert_eq!(status, 422, "the replace body is schema-checked too: {body}");
        let (status, new) =
            http.patch(&format!("/v2/orders/{old_id}"), json!({"qty": "5", "limit_price": "499"})).await;
        assert_eq!(status, 200, "{new}");
        checked_order(&new);
        assert_ne!(new["id"], old["id"]);
        assert_eq!((new["replaces"].as_str(), new["qty"].as_str()), (Some(old_id.as_str()), Some("5")));
        assert_eq!((new["limit_price"].as_str(), new["status"].as_str()), (Some("499"), Some("new")));
        let (_, old_now) = http.get(&format!("/v2/orders/{old_id}")).await;
        assert_eq!((old_now["status"].as_str(), &old_now["replaced_by"]), (Some("replaced"), &new["id"]));

        fake.publish_trade("SPY", at(15, 1, 0), dec!(498), dec!(10));
        let new_id = new["id"].as_str().unwrap();
        let (_, filled) = http.get(&format!("/v2/orders/{new_id}")).await;
        assert_eq!(
            (filled["status"].as_str(), filled["filled_avg_price"].as_str()),
            (Some("filled"), Some("499"))
        );
        let (status, body) = http.patch(&format!("/v2/orders/{new_id}"), json!({"limit_price": "480"})).await;
        assert_eq!(status, 422, "{body}");
    });
}

#[test]
fn requests_past_the_budget_are_answered_429_and_recorded() {
    let fake = FakeAlpaca::start(FakeConfig { rate_limit_per_min: 5, ..FakeConfig::default() });
    block_on(async {
        let http = Http::new(&fake);
        for _ in 0..5 {
            assert_eq!(http.get("/v2/clock").await.0, 200);
        }
        let (status, body) = http.get("/v2/account").await;
        assert_eq!((status, body["code"].clone()), (429, json!(42910000)));
        assert_eq!(http.get("/v2/stocks/SPY/trades/latest").await.0, 404, "market data has its own budget");
    });
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 404]);
    assert_eq!(fake.peak_requests_per_minute(), (5, 1));
}

#[test]
fn injected_failures_answer_without_effect_or_after_the_effect() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    block_on(async {
        let http = Http::new(&fake);
        fake.fail_next(1, 503);
        assert_eq!(http.post("/v2/orders", limit_buy("SPY", "1", "400", "f-1")).await.0, 503);
        assert!(fake.orders().is_empty(), "a plain failure places nothing");
        fake.fail_after_effect(1, 500);
        assert_eq!(http.post("/v2/orders", limit_buy("SPY", "1", "400", "f-1")).await.0, 500);
        let (status, found) = http.get("/v2/orders:by_client_order_id?client_order_id=f-1").await;
        assert_eq!((status, found["status"].as_str()), (200, Some("new")), "the order stands");
    });
}

#[test]
fn the_stocks_stream_batches_subscribed_events_as_json_numbers() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    let secret = fake.config().secret_key;
    block_on(async {
        let (mut ws, answer) = data_auth(&fake, &secret).await;
        assert_eq!(answer, json!([{"T": "success", "msg": "authenticated"}]));
        send(&mut ws, json!({"action": "subscribe", "trades": ["SPY"], "quotes": ["SPY"]})).await;
        let (ack, _) = next_frame(&mut ws).await.expect("a subscription ack");
        assert_eq!(
            (&ack[0]["T"], &ack[0]["trades"], &ack[0]["bars"]),
            (&json!("subscription"), &json!(["SPY"]), &json!([]))
        );
        assert!(fake.wait_for_data_subscription("SPY", WAIT));
        let trade = |s: u32, p: Decimal| FakeTick::Trade {
            symbol: "SPY".into(),
            ts: at(15, 0, s),
            price: p,
            size: dec!(100),
        };
        let quote = FakeTick::Quote {
            symbol: "SPY".into(),
            ts: at(15, 0, 2),
            bid: dec!(501.24),
            bid_size: dec!(3),
            ask: dec!(501.26),
            ask_size: dec!(4),
        };
        let other =
            FakeTick::Trade { symbol: "QQQ".into(), ts: at(15, 0, 3), price: dec!(400), size: dec!(1) };
        fake.publish_batch(&[trade(1, dec!(501.25)), quote, other, trade(4, dec!(501.3))]);
        let (batch, binary) = next_frame(&mut ws).await.expect("one batch");
        assert!(!binary, "market data is text");
        let kinds: Vec<&str> = batch.as_array().unwrap().iter().map(|m| m["T"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["t", "q", "t"], "unsubscribed symbols are not sent");
        assert_eq!((&batch[0]["p"], &batch[0]["s"]), (&json!(501.25), &json!(100)));
        assert_eq!(batch[0]["t"], "2025-01-02T15:00:01.000000000Z");
        assert_eq!((&batch[1]["bp"], &batch[1]["as"]), (&json!(501.24), &json!(4)));
    });
}

#[test]
fn the_stocks_stream_answers_the_protocol_error_codes() {
    let fake = FakeAlpaca::start(FakeConfig {
        auth_timeout: Duration::from_millis(200),
        dead_socket_hold: Duration::from_secs(60),
        ..FakeConfig::default()
    });
    let secret = fake.config().secret_key;
    block_on(async {
        // 401: subscribing before authenticating (the connection stays).
        let mut early = connect(&fake.data_stream_url("iex")).await;
        next_frame(&mut early).await.expect("connected");
        send(&mut early, json!({"action": "subscribe", "trades": ["SPY"]})).await;
        assert_eq!(next_frame(&mut early).await.unwrap().0, error_frame(401, "not authenticated"));
        // 404: nothing authenticated within the timeout, then the server closes.
        assert_eq!(next_frame(&mut early).await.unwrap().0, error_frame(404, "auth timeout"));
        assert!(next_frame(&mut early).await.is_none(), "closed after 404");

        // 402: wrong secret, then closed.
        let (mut ws, answer) = data_auth(&fake, "wrong").await;
        assert_eq!(answer, error_frame(402, "auth failed"));
        assert!(next_frame(&mut ws).await.is_none(), "closed after 402");

        // 400 and 403 on a live connection, 406 for a second connection of the key.
        let (mut first, answer) = data_auth(&fake, &secret).await;
        assert_eq!(answer, json!([{"T": "success", "msg": "authenticated"}]));
        send(&mut first, json!({"action": "dance"})).await;
        assert_eq!(next_frame(&mut first).await.unwrap().0, error_frame(400, "invalid syntax"));
        send(&mut first, json!({"action": "auth", "key": fake.config().key_id, "secret": secret})).await;
        assert_eq!(next_frame(&mut first).await.unwrap().0, error_frame(403, "already authenticated"));
        let (mut second, answer) = data_auth(&fake, &secret).await;
        assert_eq!(answer, error_frame(406, "connection limit exceeded"));
        assert!(next_frame(&mut second).await.is_none(), "closed after 406");

        // A dropped socket is held: reconnecting meanwhile gets 406 too.
        fake.drop_data_stream();
        assert!(next_frame(&mut first).await.is_none(), "the socket was cut");
        let (_, answer) = data_auth(&fake, &secret).await;
        assert_eq!(answer, error_frame(406, "connection limit exceeded"));
    });
}

#[test]
fn the_trade_stream_refuses_wrong_keys_and_closes() {
    let fake = FakeAlpaca::start(FakeConfig { binary_trade_frames: false, ..FakeConfig::default() });
    block_on(async {
        let mut ws = connect(&fake.trade_stream_url()).await;
        send(
            &mut ws,
            json!({"action": "authenticate", "data": {"key_id": "nobody", "secret_key": "nothing"}}),
        )
        .await;
        let (answer, binary) = next_frame(&mut ws).await.expect("an answer");
        assert!(!binary, "text frames when configured");
        assert_eq!(
            answer,
            json!({"stream": "authorization", "data": {"status": "unauthorized", "action": "authenticate"}})
        );
        assert!(next_frame(&mut ws).await.is_none(), "closed");
    });
    assert_eq!(fake.client_frames()[0].frame["action"], "authenticate");
}
