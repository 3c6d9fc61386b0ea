//! The REST side: Trading API v2 and the Market Data endpoints the venue reads. Every request is
//! recorded; before it reaches its endpoint it passes the injected failures, the key check and
//! the rate budget, in that order.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Duration as Days, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::chain::FakeContract;
use super::schema::{self, Schema};
use super::state::{ApiError, Shared, State, ts};
use super::{RecordedRequest, ids, wire};

/// An answer: status and JSON text (none for 204).
struct Reply {
    status: u16,
    body: Option<String>,
}

impl Reply {
    fn json(v: &Value) -> Self {
        Self { status: 200, body: Some(v.to_string()) }
    }

    fn text(json: String) -> Self {
        Self { status: 200, body: Some(json) }
    }

    fn error(e: &ApiError) -> Self {
        Self { status: e.status, body: Some(e.body().to_string()) }
    }
}

type Answer = Result<Reply, ApiError>;

/// Query parameters, in order.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn list(&self, name: &str) -> Vec<&str> {
        self.get(name).map(|v| v.split(',').filter(|s| !s.is_empty()).collect()).unwrap_or_default()
    }

    fn dec(&self, name: &str) -> Result<Option<Decimal>, ApiError> {
        self.get(name)
            .map(|v| v.parse().map_err(|_| ApiError::new(422, format!("invalid {name}"))))
            .transpose()
    }

    fn date(&self, name: &str) -> Result<Option<NaiveDate>, ApiError> {
        self.get(name)
            .map(|v| v.parse().map_err(|_| ApiError::new(422, format!("invalid {name}"))))
            .transpose()
    }

    /// A time given as RFC 3339 or as a date (its midnight, UTC).
    fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        let Some(v) = self.get(name) else { return Ok(None) };
        if let Ok(t) = DateTime::parse_from_rfc3339(v) {
            return Ok(Some(t.to_utc()));
        }
        v.parse::<NaiveDate>()
            .map(|d| Some(d.and_time(NaiveTime::MIN).and_utc()))
            .map_err(|_| ApiError::new(422, format!("invalid {name}")))
    }

    fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::new(422, "invalid limit")),
            },
        }
    }

    /// The offset a `page_token` stands for (the fake's tokens are offsets).
    fn offset(&self) -> Result<usize, ApiError> {
        self.get("page_token")
            .map_or(Ok(0), |t| t.parse().map_err(|_| ApiError::new(422, "invalid page_token")))
    }
}

/// The one handler of every non-WebSocket request.
pub(super) async fn handle(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Utc::now();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let key = header("APCA-API-KEY-ID");
    let secret = header("APCA-API-SECRET-KEY");
    let path = uri.path().to_owned();
    let market_data = super::is_market_data(&path);
    let gate = shared.update(|s| {
        if let Some(status) = s.fail_next.pop_front() {
            return Err(injected(status));
        }
        let (Some(k), Some(sec)) = (&key, &secret) else {
            return Err(ApiError::new(401, "request is not authorized"));
        };
        if !s.keys_match(k, sec) {
            return Err(ApiError::new(401, "request is not authorized"));
        }
        if !s.admit(k, market_data, Instant::now()) {
            return Err(ApiError::new(429, "rate limit exceeded"));
        }
        Ok(())
    });
    let params = Params(Query::<Vec<(String, String)>>::try_from_uri(&uri).map(|q| q.0).unwrap_or_default());
    let reply = match gate {
        Err(e) => Reply::error(&e),
        Ok(()) => route(&shared, &method, &path, &params, &body).await.unwrap_or_else(|e| Reply::error(&e)),
    };
    shared.update(|s| {
        s.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            query: uri.query().unwrap_or_default().to_owned(),
            body: String::from_utf8_lossy(&body).into_owned(),
            status: reply.status,
            key_id: key.clone(),
            at: arrived,
        });
    });
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match reply.body {
        Some(b) => (status, [(header::CONTENT_TYPE, "application/json")], b).into_response(),
        None => status.into_response(),
    }
}

/// The error an injected failure answers with.
pub(super) fn injected(status: u16) -> ApiError {
    let message = match status {
        429 => "rate limit exceeded",
        500 => "internal server error",
        502 => "bad gateway",
        503 => "service unavailable",
        504 => "gateway timeout",
        _ => "injected failure",
    };
    ApiError::new(status, message)
}

async fn route(shared: &Arc<Shared>, method: &Method, path: &str, q: &Params, body: &[u8]) -> Answer {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let read = |f: &dyn Fn(&State) -> Answer| f(&shared.lock());
    match (method.as_str(), segs.as_slice()) {
        ("POST", ["v2", "orders"]) => place_order(shared, body).await,
        ("GET", ["v2", "orders"]) => read(&|s| list_orders(s, q)),
        ("DELETE", ["v2", "orders"]) => Ok(cancel_all(shared)),
        ("GET", ["v2", "orders:by_client_order_id"]) => read(&|s| {
            let id = q.get("client_order_id").unwrap_or_default();
            let o = s.orders.iter().find(|o| o.client_order_id == id);
            o.map(|o| Reply::json(&o.to_json())).ok_or_else(|| ApiError::new(404, "order not found"))
        }),
        ("GET", ["v2", "orders", id]) => read(&|s| Ok(Reply::json(&s.orders[s.order_index(id)?].to_json()))),
        ("PATCH", ["v2", "orders", id]) => {
            let body = checked_body(body, Schema::OrderReplace)?;
            shared.update(|s| s.replace(id, &body)).map(|order| Reply::json(&order))
        }
        ("DELETE", ["v2", "orders", id]) => {
            shared.update(|s| s.cancel(id)).map(|()| Reply { status: 204, body: None })
        }
        ("GET", ["v2", "account"]) => read(&|s| Ok(Reply::json(&s.account_json()))),
        ("GET", ["v2", "account", "activities", kind]) => read(&|s| activities(s, kind, q)),
        ("GET", ["v2", "positions"]) => read(&|s| {
            Ok(Reply::json(&Value::Array(s.positions.values().map(|p| s.position_json(p)).collect())))
        }),
        ("GET", ["v2", "positions", symbol]) => read(&|s| {
            let p = s.positions.get(*symbol).ok_or_else(|| ApiError::new(404, "position does not exist"))?;
            Ok(Reply::json(&s.position_json(p)))
        }),
        ("GET", ["v2", "assets", symbol]) => read(&|s| asset(s, symbol)),
        ("GET", ["v2", "clock"]) => read(&|s| Ok(Reply::json(&clock(s.now())))),
        ("GET", ["v2", "options", "contracts"]) => read(&|s| contracts(s, q)),
        ("GET", ["v2", "options", "contracts", symbol]) => read(&|s| {
            let c = s.chain.iter().find(|c| c.symbol == *symbol || ids::asset_id(&c.symbol) == *symbol);
            c.map(|c| Reply::json(&c.to_json())).ok_or_else(|| ApiError::new(404, "contract not found"))
        }),
        ("GET", ["v2", "stocks", symbol, "trades", "latest"]) => read(&|s| {
            let p = s.last_trade.get(*symbol).ok_or_else(|| ApiError::new(404, "no trade found"))?;
            let n = s.next_trade_id;
            Ok(Reply::text(wire::map([
                ("symbol", json!(symbol).to_string()),
                ("trade", wire::stock_trade(None, n, p)),
            ])))
        }),
        ("GET", ["v2", "stocks", symbol, "quotes", "latest"]) => read(&|s| {
            let t = s.last_quote.get(*symbol).ok_or_else(|| ApiError::new(404, "no quote found"))?;
            Ok(Reply::text(wire::map([
                ("symbol", json!(symbol).to_string()),
                ("quote", wire::stock_quote(None, t)),
            ])))
        }),
        ("GET", ["v1beta1", "options", "snapshots", underlying]) => {
            read(&|s| snapshots(s, Some(underlying), q))
        }
        ("GET", ["v1beta1", "options", "snapshots"]) => read(&|s| snapshots(s, None, q)),
        ("GET", ["v1beta1", "options", "quotes", "latest"]) => read(&|s| {
            let quotes = q.list("symbols").into_iter().filter_map(|sym| {
                let t = s.last_quote.get(sym).filter(|_| s.contract(sym).is_some())?;
                Some((sym, wire::option_quote(t)))
            });
            Ok(Reply::text(wire::map([("quotes", wire::map(quotes))])))
        }),
        _ => Err(ApiError::new(404, "endpoint not found")),
    }
}

/// A JSON body that conforms to `schema` (400 if it is not JSON, 422 with the validator's
/// message if it does not conform).
fn checked_body(body: &[u8], schema: Schema) -> Result<Value, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::new(400, "request body format is invalid"))?;
    schema::check(schema, &value).map_err(|m| ApiError::new(422, m))?;
    Ok(value)
}

/// `POST /v2/orders`: check, place, hold the acknowledgement if asked, acknowledge, and answer
/// (or, with `fail_after_effect`, answer an error although the order stands). The broker side
/// runs in its own task: a client that gives up waiting does not stop the acknowledgement.
async fn place_order(shared: &Arc<Shared>, body: &[u8]) -> Answer {
    let body = checked_body(body, Schema::OrderRequest)?;
    let (idx, delay, fail) =
        shared.update(|s| s.place(&body).map(|i| (i, s.ack_delay, s.fail_after_effect.pop_front())))?;
    let broker = shared.clone();
    let acknowledged = tokio::spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        broker.update(|s| s.acknowledge(idx))
    });
    let answer = acknowledged.await.map_err(|_| injected(500))?;
    match fail {
        Some(status) => Err(injected(status)),
        None => Ok(Reply::json(&answer)),
    }
}

fn list_orders(s: &State, q: &Params) -> Answer {
    let status = q.get("status").unwrap_or("open");
    if !matches!(status, "open" | "closed" | "all") {
        return Err(ApiError::new(422, "invalid status"));
    }
    let (after, until) = (q.time("after")?, q.time("until")?);
    let symbols = q.list("symbols");
    let mut orders: Vec<&super::FakeOrder> = s
        .orders
        .iter()
        .filter(|o| match status {
            "open" => o.is_open(),
            "closed" => !o.is_open(),
            _ => true,
        })
        .filter(|o| after.is_none_or(|t| o.created_at > t) && until.is_none_or(|t| o.created_at < t))
        .filter(|o| symbols.is_empty() || symbols.contains(&o.symbol.as_str()))
        .collect();
    if q.get("direction") != Some("asc") {
        orders.reverse();
    }
    orders.truncate(q.limit(50, 500)?);
    Ok(Reply::json(&Value::Array(orders.iter().map(|o| o.to_json()).collect())))
}

/// `DELETE /v2/orders`: cancel every open order; 207 with one status per order.
fn cancel_all(shared: &Arc<Shared>) -> Reply {
    let results = shared.update(|s| {
        let open: Vec<String> = s.orders.iter().filter(|o| o.is_open()).map(|o| o.id.clone()).collect();
        open.into_iter()
            .map(|id| {
                let status = if s.cancel(&id).is_ok() { 200 } else { 500 };
                let order = s.order_index(&id).map(|i| s.orders[i].to_json()).unwrap_or(Value::Null);
                json!({"id": id, "status": status, "body": order})
            })
            .collect::<Vec<_>>()
    });
    Reply { status: 207, body: Some(Value::Array(results).to_string()) }
}

/// `GET /v2/account/activities/{type}`: the executions for `FILL` (others are empty).
fn activities(s: &State, kind: &str, q: &Params) -> Answer {
    let (after, until) = (q.time("after")?, q.time("until")?);
    let mut list: Vec<Value> = if kind == "FILL" {
        s.executions
            .iter()
            .filter(|e| after.is_none_or(|t| e.ts > t) && until.is_none_or(|t| e.ts < t))
            .map(|e| s.activity_json(e))
            .collect()
    } else {
        Vec::new()
    };
    if q.get("direction") != Some("asc") {
        list.reverse();
    }
    Ok(Reply::json(&Value::Array(list)))
}

fn asset(s: &State, symbol: &str) -> Answer {
    let (class, exchange) = if s.contract(symbol).is_some() {
        ("us_option", "")
    } else if s.cfg.symbols.iter().any(|k| k == symbol) {
        ("us_equity", "ARCA")
    } else {
        return Err(ApiError::new(404, "asset not found"));
    };
    let equity = class == "us_equity";
    Ok(Reply::json(&json!({
        "id": ids::asset_id(symbol),
        "class": class,
        "exchange": exchange,
        "symbol": symbol,
        "name": symbol,
        "status": "active",
        "tradable": true,
        "marginable": equity,
        "shortable": equity,
        "easy_to_borrow": equity,
        "fractionable": equity,
        "attributes": [],
    })))
}

/// The legacy clock of `GET /v2/clock`: regular sessions 09:30–16:00 New York, weekdays (no
/// holidays), at the fake's "now".
fn clock(now: DateTime<Utc>) -> Value {
    let local = now.with_timezone(&New_York);
    let at = |day: NaiveDate, h: u32, m: u32| {
        let naive = day.and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN));
        New_York.from_local_datetime(&naive).earliest().map_or(now, |t| t.to_utc())
    };
    let weekday = |d: NaiveDate| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
    let next_day = |from: NaiveDate, when: &dyn Fn(NaiveDate) -> bool| {
        (0..8).map(|k| from + Days::days(k)).find(|d| weekday(*d) && when(*d)).unwrap_or(from)
    };
    let today = local.date_naive();
    let open = next_day(today, &|d| at(d, 9, 30) > now);
    let close = next_day(today, &|d| at(d, 16, 0) > now);
    let is_open = weekday(today) && at(today, 9, 30) <= now && now < at(today, 16, 0);
    json!({
        "timestamp": ts(now),
        "is_open": is_open,
        "next_open": ts(at(open, 9, 30)),
        "next_close": ts(at(close, 16, 0)),
    })
}

/// The chain's contracts the Trading API and Market Data filters select.
fn select<'a>(s: &'a State, underlyings: &[&str], q: &Params) -> Result<Vec<&'a FakeContract>, ApiError> {
    let (exp, exp_gte, exp_lte) =
        (q.date("expiration_date")?, q.date("expiration_date_gte")?, q.date("expiration_date_lte")?);
    let (k_gte, k_lte) = (q.dec("strike_price_gte")?, q.dec("strike_price_lte")?);
    let kind = q.get("type");
    let root = q.get("root_symbol");
    Ok(s.chain
        .iter()
        .filter(|c| underlyings.is_empty() || underlyings.contains(&c.underlying.as_str()))
        .filter(|c| root.is_none_or(|r| r == c.underlying))
        .filter(|c| kind.is_none_or(|k| k == c.kind.as_str()))
        .filter(|c| exp.is_none_or(|d| c.expiration == d))
        .filter(|c| exp_gte.is_none_or(|d| c.expiration >= d) && exp_lte.is_none_or(|d| c.expiration <= d))
        .filter(|c| k_gte.is_none_or(|k| c.strike >= k) && k_lte.is_none_or(|k| c.strike <= k))
        .collect())
}

/// One page of `items` from `q`'s `page_token` and `limit`, and the next page's token.
fn page<T>(items: Vec<T>, q: &Params, default: usize, max: usize) -> Result<(Vec<T>, Value), ApiError> {
    let (offset, limit) = (q.offset()?, q.limit(default, max)?);
    let total = items.len();
    let taken: Vec<T> = items.into_iter().skip(offset).take(limit).collect();
    let next = if offset + limit < total { json!((offset + limit).to_string()) } else { Value::Null };
    Ok((taken, next))
}

/// `GET /v2/options/contracts`. Without an expiration filter only contracts expiring by the
/// coming weekend (New York date of the fake's "now") are listed, as Alpaca does.
fn contracts(s: &State, q: &Params) -> Answer {
    let status = q.get("status").unwrap_or("active");
    let mut found =
        if status == "active" { select(s, &q.list("underlying_symbols"), q)? } else { Vec::new() };
    if q.get("expiration_date").is_none() && q.get("expiration_date_lte").is_none() {
        let today = s.now().with_timezone(&New_York).date_naive();
        let sunday = today + Days::days(i64::from((7 - today.weekday().num_days_from_sunday()) % 7));
        found.retain(|c| c.expiration <= sunday);
    }
    let (taken, next) = page(found, q, 100, 10_000)?;
    let list: Vec<Value> = taken.iter().map(|c| c.to_json()).collect();
    Ok(Reply::json(&json!({"option_contracts": list, "next_page_token": next})))
}

/// `GET /v1beta1/options/snapshots/{underlying}` (or `?symbols=`): each contract's latest quote and trade.
fn snapshots(s: &State, underlying: Option<&str>, q: &Params) -> Answer {
    let found = match underlying {
        Some(u) => select(s, &[u], q)?,
        // `?symbols=A,B`: those contracts (unknown ones are left out).
        None => {
            let wanted = q.list("symbols");
            if wanted.is_empty() {
                return Err(ApiError::new(400, "symbols is required"));
            }
            s.chain.iter().filter(|c| wanted.contains(&c.symbol.as_str())).collect()
        }
    };
    let (taken, next) = page(found, q, 100, 1000)?;
    let entries = taken.iter().map(|c| {
        let mut parts = Vec::new();
        if let Some(t) = s.last_quote.get(&c.symbol) {
            parts.push(("latestQuote", wire::option_quote(t)));
        }
        if let Some(p) = s.last_trade.get(&c.symbol) {
            parts.push(("latestTrade", wire::option_trade(p)));
        }
        (c.symbol.as_str(), wire::map(parts))
    });
    let snapshots = wire::map(entries);
    Ok(Reply::text(wire::map([("snapshots", snapshots), ("next_page_token", next.to_string())])))
}
