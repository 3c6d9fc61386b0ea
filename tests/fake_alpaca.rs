//! The fake Alpaca itself, driven over HTTP and WebSocket the way a client would (reqwest and
//! tokio-tungstenite): auth, the official request schemas, Alpaca's order refusals, fills and
//! their `trade_updates`, replace semantics, the rate budget, the stocks stream's error codes.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::fake_alpaca::schema::{self, Schema};
use crate::support::fake_alpaca::{
    FakeAlpaca, FakeBar, FakeConfig, FakeContract, FakePosition, FakeTick, OptionKind, OrderType, Side,
};

/// Bound on every wait for a frame (a failing test fails instead of hanging).
const WAIT: Duration = Duration::from_secs(5);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Run a test's client side. One worker besides the blocked thread, so a spawned request
/// progresses while the test waits on the fake's state.
fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
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

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
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
    assert!(fake.wait_for_trade_listener(WAIT));
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
    let seen: Vec<(Option<String>, u16)> =
        fake.requests().into_iter().map(|r| (r.key_id, r.status)).collect();
    let key = Some(fake.config().key_id);
    assert_eq!(seen, [(None, 401), (key.clone(), 401), (key, 200)]);
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
    let requests = fake.requests();
    let first: Value = serde_json::from_str(&requests[0].body).expect("the recorded body");
    assert_eq!(first["client_order_id"], "agent1-0001");
    assert_eq!(requests[2].query, "client_order_id=agent1-0001");
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
    let seen: Vec<(String, String, u16)> =
        fake.requests().into_iter().map(|r| (r.method, r.path, r.status)).collect();
    let expected = [("/v2/clock", 200); 5]
        .into_iter()
        .chain([("/v2/account", 429), ("/v2/stocks/SPY/trades/latest", 404)])
        .map(|(path, status)| ("GET".to_owned(), path.to_owned(), status));
    assert_eq!(seen, expected.collect::<Vec<_>>());
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
        send(&mut ws, json!({"action": "subscribe", "trades": ["SPY"], "quotes": ["SPY"], "bars": ["*"]}))
            .await;
        let (ack, _) = next_frame(&mut ws).await.expect("a subscription ack");
        assert_eq!(
            (&ack[0]["T"], &ack[0]["trades"], &ack[0]["bars"]),
            (&json!("subscription"), &json!(["SPY"]), &json!(["*"]))
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
        let bar = FakeBar {
            open: dec!(400),
            high: dec!(401.5),
            low: dec!(399.75),
            close: dec!(401),
            volume: dec!(1200),
        };
        fake.publish_bar("QQQ", at(15, 1, 0), bar);
        let (bars, _) = next_frame(&mut ws).await.expect("the bar");
        assert_eq!(
            bars,
            json!([{"T": "b", "S": "QQQ", "o": 400, "h": 401.5, "l": 399.75, "c": 401, "v": 1200,
                    "t": "2025-01-02T15:01:00.000000000Z"}])
        );
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
    let frames = fake.client_frames();
    assert_eq!(
        (frames[0].stream.as_str(), &frames[0].frame["action"]),
        ("trade_updates", &json!("authenticate"))
    );
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

/// Every contract symbol of `GET path`, following `next_page_token` to the end.
async fn all_contracts(http: &Http, path: &str) -> (Vec<String>, usize) {
    let (mut symbols, mut pages, mut token) = (Vec::new(), 0, None::<String>);
    loop {
        let url = match &token {
            Some(t) => format!("{path}&page_token={t}"),
            None => path.to_owned(),
        };
        let (status, page) = http.get(&url).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        symbols.extend(
            page["option_contracts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["symbol"].as_str().unwrap().to_owned()),
        );
        match page["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => return (symbols, pages),
        }
    }
}

#[test]
fn the_option_chain_is_listed_paged_and_option_orders_fill_against_option_quotes() {
    let fake = FakeAlpaca::start(
        FakeConfig::default().with_spy_chain(dec!(590.4), &[day(2025, 1, 3), day(2025, 1, 10)]),
    );
    fake.publish_trade("SPY", at(15, 0, 0), dec!(590.4), dec!(1)); // a Thursday: the weekend is Jan 4-5
    let occ = FakeContract::new("SPY", day(2025, 1, 3), OptionKind::Call, dec!(590)).symbol;
    assert_eq!(occ, "SPY250103C00590000");
    block_on(async {
        let http = Http::new(&fake);
        let near = "/v2/options/contracts?underlying_symbols=SPY&type=call&strike_price_gte=588&strike_price_lte=592&limit=2";
        let (symbols, pages) = all_contracts(&http, near).await;
        assert_eq!(pages, 3);
        let strikes: Vec<&str> = symbols.iter().map(|s| &s[s.len() - 8..]).collect();
        assert_eq!(strikes, ["00588000", "00589000", "00590000", "00591000", "00592000"]);
        assert!(
            symbols.iter().all(|s| s.starts_with("SPY250103C")),
            "by default only up to the coming weekend"
        );
        let window = "/v2/options/contracts?underlying_symbols=SPY&type=put&expiration_date_gte=2025-01-01&expiration_date_lte=2025-01-31";
        assert_eq!(all_contracts(&http, window).await.0.len(), 2 * 21);
        let (status, contract) = http.get(&format!("/v2/options/contracts/{occ}")).await;
        assert_eq!(
            (status, contract["strike_price"].as_str(), contract["type"].as_str()),
            (200, Some("590"), Some("call"))
        );
        assert_eq!(http.get("/v2/options/contracts/SPY250103C00999000").await.0, 404);

        let option_order = |qty: &str, tif: &str, symbol: &str| {
            json!({"symbol": symbol, "qty": qty, "side": "buy", "type": "limit", "limit_price": "2.50",
                   "time_in_force": tif, "position_intent": "buy_to_open"})
        };
        for (body, why) in [
            (option_order("1", "gtc", &occ), "options are day only"),
            (option_order("1.5", "day", &occ), "whole contracts"),
            (option_order("1", "day", "SPY250103C00999000"), "not in the chain"),
        ] {
            let (status, answer) = http.post("/v2/orders", body).await;
            assert_eq!(status, 422, "{why}: {answer}");
        }
        let (status, placed) = http.post("/v2/orders", option_order("2", "day", &occ)).await;
        assert_eq!(status, 200, "{placed}");
        assert_eq!(
            (checked_order(&placed)["asset_class"].as_str(), placed["position_intent"].as_str()),
            (Some("us_option"), Some("buy_to_open"))
        );
        fake.set_option_quote(&occ, dec!(2.40), dec!(2.60));
        assert_eq!(fake.orders()[0].status, "new", "the ask is above the limit");
        fake.set_option_quote(&occ, dec!(2.35), dec!(2.45));
        let order = &fake.orders()[0];
        assert_eq!(
            (order.status.as_str(), order.filled_avg_price),
            ("filled", Some(dec!(2.45))),
            "bought at the ask"
        );

        let snapshots = "/v1beta1/options/snapshots/SPY?type=call&expiration_date=2025-01-03&strike_price_gte=590&strike_price_lte=590";
        let (status, snap) = http.get(snapshots).await;
        assert_eq!(status, 200);
        assert_eq!(
            (&snap["snapshots"][&occ]["latestQuote"]["ap"], &snap["snapshots"][&occ]["latestTrade"]["p"]),
            (&json!(2.45), &json!(2.45))
        );
        assert_eq!(snap["next_page_token"], Value::Null);
        let (_, quotes) = http.get(&format!("/v1beta1/options/quotes/latest?symbols={occ}")).await;
        assert_eq!(quotes["quotes"][&occ]["bp"], json!(2.35));

        let close = json!({"symbol": occ, "qty": "2", "side": "sell", "type": "market", "time_in_force": "day", "position_intent": "sell_to_close"});
        assert_eq!(http.post("/v2/orders", close).await.0, 200);
        assert_eq!(fake.orders()[1].filled_avg_price, Some(dec!(2.35)), "sold at the bid at once");
    });
    assert!(fake.positions().iter().all(|p| p.symbol == "SPY" || p.qty.is_zero()), "{:?}", fake.positions());
    assert_eq!(fake.cash(), dec!(100000) - dec!(490) + dec!(470));
}

#[test]
fn limits_fill_at_the_touch_or_their_limit_and_stops_trigger_on_trades() {
    let cfg = FakeConfig {
        positions: vec![FakePosition { symbol: "AAPL".into(), qty: dec!(5), avg_entry_price: dec!(200) }],
        ..FakeConfig::default()
    };
    let fake = FakeAlpaca::start(cfg);
    fake.publish_quote("SPY", at(15, 0, 0), dec!(500), dec!(3), dec!(500.10), dec!(4));
    block_on(async {
        let http = Http::new(&fake);
        assert_eq!(http.post("/v2/orders", limit_buy("SPY", "2", "501", "m-1")).await.0, 200);
        assert_eq!(fake.orders()[0].filled_avg_price, Some(dec!(500.10)), "marketable: at the touch");
        assert_eq!(http.post("/v2/orders", limit_buy("SPY", "2", "499", "m-2")).await.0, 200);
        fake.publish_trade("SPY", at(15, 0, 1), dec!(499.5), dec!(10));
        assert_eq!(fake.orders()[1].status, "new", "not reached yet");
        fake.publish_trade("SPY", at(15, 0, 2), dec!(498.7), dec!(10));
        assert_eq!(fake.orders()[1].filled_avg_price, Some(dec!(499)), "reached: at the limit");
        let stop = json!({"symbol": "AAPL", "qty": "5", "side": "sell", "type": "stop", "stop_price": "195", "time_in_force": "gtc"});
        assert_eq!(http.post("/v2/orders", stop).await.0, 200);
        fake.publish_trade("AAPL", at(15, 0, 3), dec!(196), dec!(10));
        assert_eq!(fake.orders()[2].status, "new");
        fake.publish_trade("AAPL", at(15, 0, 4), dec!(194.5), dec!(10));
        assert_eq!(fake.orders()[2].filled_avg_price, Some(dec!(194.5)), "triggered: at the print");
    });
    assert_eq!(
        fake.positions(),
        [FakePosition { symbol: "SPY".into(), qty: dec!(4), avg_entry_price: dec!(499.55) }]
    );
}

#[test]
fn partial_fills_take_the_printed_size() {
    let fake = FakeAlpaca::start(FakeConfig { partial_fills: true, ..FakeConfig::default() });
    block_on(async {
        let http = Http::new(&fake);
        let mut events = trade_listener(&fake).await;
        let order =
            json!({"symbol": "SPY", "qty": "250", "side": "buy", "type": "market", "time_in_force": "day"});
        assert_eq!(http.post("/v2/orders", order).await.0, 200);
        assert_eq!(next_frame(&mut events).await.unwrap().0["data"]["event"], "new");
        for (s, price) in [(1, dec!(500)), (2, dec!(501)), (3, dec!(502))] {
            fake.publish_trade("SPY", at(15, 0, s), price, dec!(100));
        }
        let mut seen = Vec::new();
        for _ in 0..3 {
            let (frame, _) = next_frame(&mut events).await.unwrap();
            let d = &frame["data"];
            seen.push((
                d["event"].as_str().unwrap().to_owned(),
                d["qty"].as_str().unwrap().to_owned(),
                d["position_qty"].as_str().unwrap().to_owned(),
            ));
        }
        let expected =
            [("partial_fill", "100", "100"), ("partial_fill", "100", "200"), ("fill", "50", "250")];
        assert_eq!(seen, expected.map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned())));
    });
    assert_eq!(
        fake.orders()[0].filled_avg_price,
        Some(dec!(500.8)),
        "(100 × 500 + 100 × 501 + 50 × 502) / 250"
    );
}

#[test]
fn cancels_expiries_and_cancel_all_send_their_events() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    block_on(async {
        let http = Http::new(&fake);
        let mut events = trade_listener(&fake).await;
        let (_, a) = http.post("/v2/orders", limit_buy("SPY", "1", "400", "c-1")).await;
        let (_, _b) = http.post("/v2/orders", limit_buy("SPY", "1", "401", "c-2")).await;
        let (_, _c) = http.post("/v2/orders", limit_buy("QQQ", "1", "300", "c-3")).await;
        let a_id = a["id"].as_str().unwrap();
        assert_eq!(http.delete(&format!("/v2/orders/{a_id}")).await, (204, Value::Null));
        let (status, body) = http.delete(&format!("/v2/orders/{a_id}")).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(http.delete("/v2/orders/00000000-0000-4000-8000-000000000000").await.0, 404);
        fake.expire_day_orders();
        let (status, all) = http.delete("/v2/orders").await;
        assert_eq!((status, all), (207, json!([])), "nothing left open");
        let mut kinds = Vec::new();
        for _ in 0..7 {
            kinds
                .push(next_frame(&mut events).await.unwrap().0["data"]["event"].as_str().unwrap().to_owned());
        }
        assert_eq!(kinds, ["new", "new", "new", "canceled", "order_cancel_rejected", "expired", "expired"]);
        let (_, closed) = http.get("/v2/orders?status=closed&direction=asc&symbols=SPY").await;
        let statuses: Vec<&str> =
            closed.as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["canceled", "expired"]);
        let (_, open) = http.get("/v2/orders").await;
        assert_eq!(open, json!([]));
    });
}

#[test]
fn delayed_acknowledgements_hold_the_answer_and_the_new_event() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    fake.delay_acks(Duration::from_millis(300));
    block_on(async {
        let http = Http::new(&fake);
        let mut events = trade_listener(&fake).await;
        let order =
            json!({"symbol": "SPY", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"});
        let pending = tokio::spawn(async move { http.post("/v2/orders", order).await });
        assert!(fake.wait_for_orders(1, WAIT));
        assert_eq!(fake.orders()[0].status, "pending_new");
        fake.publish_trade("SPY", at(15, 0, 0), dec!(500), dec!(100));
        assert_eq!(fake.orders()[0].filled_qty, dec!(0), "not working before it is acknowledged");
        let (status, answer) = pending.await.unwrap();
        assert_eq!((status, answer["status"].as_str()), (200, Some("new")));
        assert_eq!(next_frame(&mut events).await.unwrap().0["data"]["event"], "new");
        fake.publish_trade("SPY", at(15, 0, 1), dec!(500.5), dec!(100));
        assert_eq!(next_frame(&mut events).await.unwrap().0["data"]["event"], "fill");

        // A client that times out first: the order is acknowledged all the same.
        let impatient = Http::new(&fake);
        let req =
            impatient.client.post(format!("{}/v2/orders", impatient.base)).timeout(Duration::from_millis(50));
        let req =
            req.header("APCA-API-KEY-ID", &impatient.key).header("APCA-API-SECRET-KEY", &impatient.secret);
        let sent = req.json(&limit_buy("SPY", "1", "400", "t-1")).send().await;
        assert!(sent.is_err_and(|e| e.is_timeout()));
        assert!(fake.wait_for_order_status("t-1", "new", WAIT), "placed although the client gave up");
    });
}

#[test]
fn rejections_suppressed_updates_and_a_dropped_trade_stream_lose_or_change_events() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    block_on(async {
        let http = Http::new(&fake);
        let mut events = trade_listener(&fake).await;
        fake.reject_next_order("symbol halted");
        let (status, answer) = http.post("/v2/orders", limit_buy("SPY", "1", "400", "x-1")).await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("pending_new")));
        let (frame, _) = next_frame(&mut events).await.unwrap();
        assert_eq!(
            (frame["data"]["event"].as_str(), frame["data"]["order"]["status"].as_str()),
            (Some("rejected"), Some("rejected"))
        );
        assert_eq!(fake.orders()[0].reject_reason.as_deref(), Some("symbol halted"));

        fake.suppress_trade_updates(true);
        let market =
            json!({"symbol": "SPY", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"});
        assert_eq!(http.post("/v2/orders", market.clone()).await.0, 200);
        fake.publish_trade("SPY", at(15, 0, 0), dec!(500), dec!(100));
        assert_eq!(fake.orders()[1].status, "filled", "filled, but not streamed");
        fake.suppress_trade_updates(false);

        fake.drop_trade_stream();
        assert!(next_frame(&mut events).await.is_none(), "the socket was cut");
        assert_eq!(http.post("/v2/orders", market).await.0, 200);
        fake.publish_trade("SPY", at(15, 0, 1), dec!(501), dec!(100));
        let mut again = trade_listener(&fake).await;
        assert_eq!(http.post("/v2/orders", limit_buy("SPY", "1", "400", "x-4")).await.0, 200);
        let (frame, _) = next_frame(&mut again).await.unwrap();
        assert_eq!(frame["data"]["order"]["client_order_id"], "x-4", "no replay of what happened meanwhile");
        let (_, position) = http.get("/v2/positions/SPY").await;
        assert_eq!(position["qty"], "2", "REST shows the fills the stream did not");
    });
}

#[test]
fn clock_assets_and_a_position_opened_by_hand() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    fake.publish_trade("SPY", at(15, 0, 0), dec!(500), dec!(1)); // 10:00 in New York, a Thursday
    fake.open_position("NVDA", dec!(-3), dec!(120));
    block_on(async {
        let http = Http::new(&fake);
        let (_, clock) = http.get("/v2/clock").await;
        assert_eq!(
            clock,
            json!({"timestamp": "2025-01-02T15:00:00.000000000Z", "is_open": true,
            "next_open": "2025-01-03T14:30:00.000000000Z", "next_close": "2025-01-02T21:00:00.000000000Z"})
        );
        assert_eq!(http.get("/v2/assets/SPY").await.1["class"], "us_equity");
        assert_eq!(http.get("/v2/assets/NOPE").await.0, 404);
        let (_, position) = http.get("/v2/positions/NVDA").await;
        assert_eq!((position["side"].as_str(), position["qty"].as_str()), (Some("short"), Some("-3")));
        assert_eq!(http.get("/v2/positions/AAPL").await.0, 404);
        let (_, quote) = http.get("/v2/stocks/SPY/trades/latest").await;
        assert_eq!((&quote["symbol"], &quote["trade"]["p"]), (&json!("SPY"), &json!(500)));
        let buy_to_cover =
            json!({"symbol": "NVDA", "qty": "4", "side": "buy", "type": "market", "time_in_force": "day"});
        assert_eq!(http.post("/v2/orders", buy_to_cover).await.0, 403, "the mirror of a sell through zero");
    });
}

#[test]
fn the_stocks_stream_refuses_too_many_symbols_and_an_unpaid_feed() {
    let fake = FakeAlpaca::start(FakeConfig { symbol_limit: 2, ..FakeConfig::default() });
    let secret = fake.config().secret_key;
    block_on(async {
        let (mut ws, _) = data_auth(&fake, &secret).await;
        send(&mut ws, json!({"action": "subscribe", "trades": ["SPY", "QQQ"], "quotes": ["NVDA"]})).await;
        assert_eq!(next_frame(&mut ws).await.unwrap().0, error_frame(405, "symbol limit exceeded"));
        drop(ws);
        let mut sip = connect(&fake.data_stream_url("sip")).await;
        next_frame(&mut sip).await.expect("connected");
        send(&mut sip, json!({"action": "auth", "key": fake.config().key_id, "secret": secret})).await;
        assert_eq!(next_frame(&mut sip).await.unwrap().0, error_frame(409, "insufficient subscription"));
    });
}

#[test]
fn dropping_the_handle_shuts_the_server_down() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    let addr = fake.rest_url().trim_start_matches("http://").to_owned();
    assert!(std::net::TcpStream::connect(&addr).is_ok());
    drop(fake);
    assert!(std::net::TcpStream::connect(&addr).is_err(), "nothing listens any more");
}
