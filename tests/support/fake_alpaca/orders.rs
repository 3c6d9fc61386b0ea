//! Orders at the fake: the checks Alpaca makes when one is placed, replaced or canceled, the
//! matching against the prices the tests publish, and the `trade_updates` every change sends.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::FakePosition;
use super::ids;
use super::state::{ApiError, Execution, Print, State, dec, ts};

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

impl Side {
    /// `buy` / `sell`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        }
    }

    /// +1 for buys, -1 for sells.
    pub fn sign(self) -> Decimal {
        match self {
            Self::Buy => Decimal::ONE,
            Self::Sell => Decimal::NEGATIVE_ONE,
        }
    }
}

/// The order types the fake matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderType {
    /// Market.
    Market,
    /// Limit.
    Limit,
    /// Stop (a market order once a trade prints at or through the stop).
    Stop,
    /// Stop-limit (a limit order once a trade prints at or through the stop).
    StopLimit,
}

impl OrderType {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Market => "market",
            Self::Limit => "limit",
            Self::Stop => "stop",
            Self::StopLimit => "stop_limit",
        }
    }

    fn parse(s: &str) -> Result<Self, ApiError> {
        Ok(match s {
            "market" => Self::Market,
            "limit" => Self::Limit,
            "stop" => Self::Stop,
            "stop_limit" => Self::StopLimit,
            other => {
                return Err(ApiError::new(422, format!("order type {other} is not supported by the fake")));
            }
        })
    }

    fn has_limit(self) -> bool {
        matches!(self, Self::Limit | Self::StopLimit)
    }

    fn has_stop(self) -> bool {
        matches!(self, Self::Stop | Self::StopLimit)
    }
}

/// An order as the fake keeps it.
#[derive(Debug, Clone)]
pub struct FakeOrder {
    /// Alpaca's order id (a UUID).
    pub id: String,
    /// The client's id (or one the fake made up).
    pub client_order_id: String,
    /// Ticker or OCC symbol.
    pub symbol: String,
    /// Whether `symbol` is an option contract.
    pub option: bool,
    /// Buy or sell.
    pub side: Side,
    /// Market, limit, stop, stop-limit.
    pub order_type: OrderType,
    /// `day`, `gtc`, …
    pub time_in_force: String,
    /// Ordered quantity.
    pub qty: Decimal,
    /// Limit price.
    pub limit_price: Option<Decimal>,
    /// Stop price.
    pub stop_price: Option<Decimal>,
    /// Extended hours flag as sent.
    pub extended_hours: bool,
    /// `buy_to_open` … as sent.
    pub position_intent: Option<String>,
    /// Alpaca's status (`pending_new`, `new`, `partially_filled`, `filled`, `canceled`, …).
    pub status: String,
    /// Filled so far.
    pub filled_qty: Decimal,
    /// Average fill price.
    pub filled_avg_price: Option<Decimal>,
    /// When it was placed (the fake's market clock).
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it filled completely.
    pub filled_at: Option<DateTime<Utc>>,
    /// When it was canceled.
    pub canceled_at: Option<DateTime<Utc>>,
    /// When it expired.
    pub expired_at: Option<DateTime<Utc>>,
    /// When it was rejected.
    pub failed_at: Option<DateTime<Utc>>,
    /// When it was replaced.
    pub replaced_at: Option<DateTime<Utc>>,
    /// The order that replaced it.
    pub replaced_by: Option<String>,
    /// The order it replaced.
    pub replaces: Option<String>,
    /// Why [`super::FakeAlpaca::reject_next_order`] rejected it (not on the wire: Alpaca's
    /// `rejected` event carries no reason).
    pub reject_reason: Option<String>,
    /// A stop order whose stop has been reached.
    triggered: bool,
    /// Sum of price × qty over the fills.
    filled_value: Decimal,
}

impl FakeOrder {
    /// Still working (or about to): it can fill, be canceled or replaced.
    pub fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "pending_new" | "accepted" | "new" | "partially_filled")
    }

    fn remaining(&self) -> Decimal {
        self.qty - self.filled_qty
    }

    /// The `Order` object of the Trading API (decimals as strings, absent times as null).
    pub(super) fn to_json(&self) -> Value {
        let t = |o: Option<DateTime<Utc>>| o.map(ts);
        let mut v = json!({
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": ts(self.created_at),
            "updated_at": ts(self.updated_at),
            "submitted_at": ts(self.created_at),
            "filled_at": t(self.filled_at),
            "expired_at": t(self.expired_at),
            "canceled_at": t(self.canceled_at),
            "failed_at": t(self.failed_at),
            "replaced_at": t(self.replaced_at),
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": ids::asset_id(&self.symbol),
            "symbol": self.symbol,
            "asset_class": if self.option { "us_option" } else { "us_equity" },
            "notional": null,
            "qty": dec(self.qty),
            "filled_qty": dec(self.filled_qty),
            "filled_avg_price": self.filled_avg_price.map(dec),
            "order_class": "simple",
            "order_type": self.order_type.as_str(),
            "type": self.order_type.as_str(),
            "side": self.side.as_str(),
            "time_in_force": self.time_in_force,
            "limit_price": self.limit_price.map(dec),
            "stop_price": self.stop_price.map(dec),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": null,
            "trail_percent": null,
            "trail_price": null,
            "hwm": null,
        });
        if let Some(intent) = &self.position_intent {
            v["position_intent"] = json!(intent);
        }
        v
    }
}

fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::new(422, message)
}

/// A decimal field given as a string (or a number), if present.
fn dec_field(body: &Value, name: &str) -> Result<Option<Decimal>, ApiError> {
    let text = match body.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    match text.parse::<Decimal>() {
        Ok(d) if d > Decimal::ZERO => Ok(Some(d)),
        _ => Err(unprocessable(format!("invalid {name}"))),
    }
}

fn str_field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

/// A buy reaches `limit` at `price` (or a sell does), i.e. the limit would trade there.
fn within_limit(side: Side, price: Decimal, limit: Decimal) -> bool {
    match side {
        Side::Buy => price <= limit,
        Side::Sell => price >= limit,
    }
}

/// A trade at `price` reaches a buy (sell) stop at or above (below) `stop`.
fn through_stop(side: Side, price: Decimal, stop: Decimal) -> bool {
    match side {
        Side::Buy => price >= stop,
        Side::Sell => price <= stop,
    }
}

impl State {
    /// Place an order from a schema-checked `POST /v2/orders` body, making the checks Alpaca
    /// makes. The order starts `pending_new`; [`State::acknowledge`] makes it `new`.
    pub(super) fn place(&mut self, body: &Value) -> Result<usize, ApiError> {
        if let Some(class) = str_field(body, "order_class").filter(|c| !c.is_empty() && *c != "simple") {
            return Err(unprocessable(format!("order_class {class} is not supported by the fake")));
        }
        if body.get("notional").is_some_and(|n| !n.is_null()) {
            return Err(unprocessable("notional orders are not supported by the fake"));
        }
        let symbol = str_field(body, "symbol").ok_or_else(|| unprocessable("symbol is required"))?.to_owned();
        let qty = dec_field(body, "qty")?.ok_or_else(|| unprocessable("qty is required"))?;
        let side = match str_field(body, "side") {
            Some("buy") => Side::Buy,
            Some("sell") => Side::Sell,
            _ => return Err(unprocessable("side is required")),
        };
        let order_type = OrderType::parse(str_field(body, "type").unwrap_or_default())?;
        let tif = str_field(body, "time_in_force").unwrap_or_default().to_owned();
        let limit_price = dec_field(body, "limit_price")?;
        let stop_price = dec_field(body, "stop_price")?;
        if order_type.has_limit() != limit_price.is_some() {
            return Err(unprocessable(if order_type.has_limit() {
                "limit_price is required for limit and stop_limit orders"
            } else {
                "limit_price is only for limit and stop_limit orders"
            }));
        }
        if order_type.has_stop() != stop_price.is_some() {
            return Err(unprocessable(if order_type.has_stop() {
                "stop_price is required for stop and stop_limit orders"
            } else {
                "stop_price is only for stop and stop_limit orders"
            }));
        }
        let extended_hours = body.get("extended_hours").and_then(Value::as_bool).unwrap_or(false);
        if extended_hours && !(order_type == OrderType::Limit && (tif == "day" || tif == "gtc")) {
            return Err(unprocessable("extended hours order must be DAY or GTC limit orders"));
        }
        let option = self.check_asset(&symbol, qty, order_type, &tif)?;
        let client_order_id = match str_field(body, "client_order_id") {
            Some(id) => id.to_owned(),
            None => {
                let n = self.serial();
                ids::uuid(ids::CLIENT_ORDER, n)
            }
        };
        if self.orders.iter().any(|o| o.client_order_id == client_order_id) {
            return Err(unprocessable("client_order_id must be unique"));
        }
        self.check_position_rules(&symbol, side, qty)?;
        self.check_buying_power(&symbol, side, qty, limit_price.or(stop_price))?;
        let now = self.now();
        let n = self.serial();
        self.orders.push(FakeOrder {
            id: ids::uuid(ids::ORDER, n),
            client_order_id,
            symbol,
            option,
            side,
            order_type,
            time_in_force: tif,
            qty,
            limit_price,
            stop_price,
            extended_hours,
            position_intent: str_field(body, "position_intent").map(str::to_owned),
            status: "pending_new".into(),
            filled_qty: Decimal::ZERO,
            filled_avg_price: None,
            created_at: now,
            updated_at: now,
            filled_at: None,
            canceled_at: None,
            expired_at: None,
            failed_at: None,
            replaced_at: None,
            replaced_by: None,
            replaces: None,
            reject_reason: self.reject_next.take(),
            triggered: false,
            filled_value: Decimal::ZERO,
        });
        Ok(self.orders.len() - 1)
    }

    /// The asset must exist; options must be whole contracts of the chain, `day`, market or
    /// limit. Returns whether `symbol` is an option.
    fn check_asset(
        &self,
        symbol: &str,
        qty: Decimal,
        order_type: OrderType,
        tif: &str,
    ) -> Result<bool, ApiError> {
        if self.contract(symbol).is_some() {
            if qty.fract() != Decimal::ZERO {
                return Err(unprocessable("qty must be a whole number of contracts"));
            }
            if tif != "day" {
                return Err(unprocessable("options orders only accept time_in_force day"));
            }
            if !matches!(order_type, OrderType::Market | OrderType::Limit) {
                return Err(unprocessable("options orders must be market or limit orders"));
            }
            return Ok(true);
        }
        if !self.cfg.symbols.iter().any(|s| s == symbol) {
            return Err(unprocessable(format!("asset \"{symbol}\" not found")));
        }
        if qty.fract() != Decimal::ZERO && !(order_type == OrderType::Market && tif == "day") {
            return Err(unprocessable("fractional orders must be market orders with time_in_force day"));
        }
        Ok(false)
    }

    /// Alpaca's two refusals around positions: no order that takes a position through zero
    /// (counting the open orders that already reduce it), and no opposite-side order while
    /// another order in the symbol is open.
    fn check_position_rules(&self, symbol: &str, side: Side, qty: Decimal) -> Result<(), ApiError> {
        let held = self.positions.get(symbol).map_or(Decimal::ZERO, |p| p.qty);
        if held * side.sign() < Decimal::ZERO {
            let available = held.abs() - self.reserved(symbol, held).abs();
            if qty > available {
                return Err(ApiError::new(403, "insufficient qty available for order"));
            }
        }
        if self.orders.iter().any(|o| o.symbol == symbol && o.is_open() && o.side != side) {
            return Err(ApiError::new(403, "potential wash trade detected. use complex orders"));
        }
        Ok(())
    }

    /// A buy that opens or adds must fit the buying power, priced at its limit (or stop), else
    /// at the ask or the last trade.
    fn check_buying_power(
        &self,
        symbol: &str,
        side: Side,
        qty: Decimal,
        price: Option<Decimal>,
    ) -> Result<(), ApiError> {
        let held = self.positions.get(symbol).map_or(Decimal::ZERO, |p| p.qty);
        if side == Side::Sell || held < Decimal::ZERO {
            return Ok(());
        }
        let price = price
            .or_else(|| self.last_quote.get(symbol).map(|q| q.ask))
            .or_else(|| self.last_trade.get(symbol).map(|t| t.price));
        match price {
            Some(p) if qty * p * self.multiplier(symbol) > self.buying_power => {
                Err(ApiError::new(403, "insufficient buying power"))
            }
            _ => Ok(()),
        }
    }

    /// The broker acknowledges a placed order: `new` (or `rejected` when the tests asked for
    /// it), then an immediate fill if it is marketable. Returns the order as the REST answer
    /// shows it (before any fill).
    pub(super) fn acknowledge(&mut self, idx: usize) -> Value {
        let now = self.now();
        if self.orders[idx].status != "pending_new" {
            return self.orders[idx].to_json();
        }
        if self.orders[idx].reject_reason.is_some() {
            let answer = self.orders[idx].to_json();
            self.set_status(idx, "rejected", now);
            self.orders[idx].failed_at = Some(now);
            self.emit(idx, "rejected", now);
            return answer;
        }
        self.set_status(idx, "new", now);
        self.emit(idx, "new", now);
        let answer = self.orders[idx].to_json();
        self.fill_on_arrival(idx);
        answer
    }

    fn set_status(&mut self, idx: usize, status: &str, now: DateTime<Utc>) {
        let o = &mut self.orders[idx];
        o.status = status.to_owned();
        o.updated_at = now;
    }

    /// A `trade_updates` event about order `idx` (no fill details).
    fn emit(&mut self, idx: usize, event: &str, now: DateTime<Utc>) {
        let data = json!({"event": event, "timestamp": ts(now), "order": self.orders[idx].to_json()});
        self.push_trade_update(data);
    }

    /// A new order that is marketable fills at once: options against the contract's quote,
    /// equity limits at the touch of the last quote. Equity market orders wait for the next
    /// trade.
    fn fill_on_arrival(&mut self, idx: usize) {
        let o = &self.orders[idx];
        let Some(q) = self.last_quote.get(&o.symbol).copied() else { return };
        let (touch, size) = match o.side {
            Side::Buy => (q.ask, q.ask_size),
            Side::Sell => (q.bid, q.bid_size),
        };
        let fills = match o.order_type {
            OrderType::Market => o.option,
            OrderType::Limit => within_limit(o.side, touch, o.limit_price.unwrap_or_default()),
            OrderType::Stop | OrderType::StopLimit => false,
        };
        if fills && touch > Decimal::ZERO {
            self.execute(idx, touch, size, q.ts);
        }
    }

    /// Indices of the working orders in `symbol`, oldest first.
    fn working(&self, symbol: &str) -> Vec<usize> {
        (0..self.orders.len())
            .filter(|&i| {
                let o = &self.orders[i];
                o.symbol == symbol && matches!(o.status.as_str(), "new" | "partially_filled")
            })
            .collect()
    }

    /// A trade printed: market orders fill at its price, limits it reaches at their limit,
    /// stops it reaches trigger.
    pub(super) fn on_trade(&mut self, symbol: &str, price: Decimal, size: Decimal, at: DateTime<Utc>) {
        for idx in self.working(symbol) {
            let o = &mut self.orders[idx];
            if let Some(stop) = o.stop_price
                && !o.triggered
                && through_stop(o.side, price, stop)
            {
                o.triggered = true;
            }
            let fill_price = match o.order_type {
                OrderType::Market => Some(price),
                OrderType::Stop => o.triggered.then_some(price),
                OrderType::Limit | OrderType::StopLimit => o.limit_price.filter(|&l| {
                    (o.triggered || o.order_type == OrderType::Limit) && within_limit(o.side, price, l)
                }),
            };
            if let Some(p) = fill_price {
                self.execute(idx, p, size, at);
            }
        }
    }

    /// A quote changed: resting limits the far touch reaches fill — equity limits at their
    /// limit, options (and option market orders) at the touch.
    pub(super) fn on_quote(&mut self, symbol: &str) {
        let Some(q) = self.last_quote.get(symbol).copied() else { return };
        for idx in self.working(symbol) {
            let o = &self.orders[idx];
            let (touch, size) = match o.side {
                Side::Buy => (q.ask, q.ask_size),
                Side::Sell => (q.bid, q.bid_size),
            };
            if touch <= Decimal::ZERO {
                continue;
            }
            let limit = o.limit_price.filter(|_| o.order_type == OrderType::Limit || o.triggered);
            let price = match (o.option, o.order_type, limit) {
                (true, OrderType::Market, _) => Some(touch),
                (true, _, Some(l)) => within_limit(o.side, touch, l).then_some(touch),
                (false, OrderType::Limit | OrderType::StopLimit, Some(l)) => {
                    within_limit(o.side, touch, l).then_some(l)
                }
                _ => None,
            };
            if let Some(p) = price {
                self.execute(idx, p, size, q.ts);
            }
        }
    }

    /// One execution of order `idx` at `price` for up to `size` (the whole remainder unless
    /// partial fills are on): the order, the position, the cash and the stream follow.
    fn execute(&mut self, idx: usize, price: Decimal, size: Decimal, at: DateTime<Utc>) {
        let remaining = self.orders[idx].remaining();
        let qty =
            if self.cfg.partial_fills && size > Decimal::ZERO { remaining.min(size) } else { remaining };
        let (symbol, side) = (self.orders[idx].symbol.clone(), self.orders[idx].side);
        let o = &mut self.orders[idx];
        o.filled_qty += qty;
        o.filled_value += price * qty;
        o.filled_avg_price = Some(o.filled_value / o.filled_qty);
        o.updated_at = at;
        let done = o.filled_qty == o.qty;
        o.status = if done { "filled" } else { "partially_filled" }.into();
        if done {
            o.filled_at = Some(at);
        }
        if self.orders[idx].option {
            self.last_trade.insert(symbol.clone(), Print { price, size: qty, ts: at });
        }
        let position_qty = self.book_fill(&symbol, side, qty, price);
        let cash = side.sign() * qty * price * self.multiplier(&symbol);
        self.cash -= cash;
        self.buying_power -= cash;
        let n = self.serial();
        let execution = Execution {
            id: ids::uuid(ids::EXECUTION, n),
            order: idx,
            price,
            qty,
            cum_qty: self.orders[idx].filled_qty,
            leaves_qty: self.orders[idx].remaining(),
            partial: !done,
            ts: at,
        };
        let data = json!({
            "event": if done { "fill" } else { "partial_fill" },
            "execution_id": execution.id,
            "timestamp": ts(at),
            "price": dec(price),
            "qty": dec(qty),
            "position_qty": dec(position_qty),
            "order": self.orders[idx].to_json(),
        });
        self.executions.push(execution);
        self.push_trade_update(data);
    }

    /// Apply a fill to the position; returns the new (signed) quantity.
    fn book_fill(&mut self, symbol: &str, side: Side, qty: Decimal, price: Decimal) -> Decimal {
        let p = self.positions.entry(symbol.to_owned()).or_insert_with(|| FakePosition {
            symbol: symbol.to_owned(),
            qty: Decimal::ZERO,
            avg_entry_price: Decimal::ZERO,
        });
        let delta = side.sign() * qty;
        let new = p.qty + delta;
        if p.qty.is_zero() || p.qty.is_sign_negative() == delta.is_sign_negative() {
            p.avg_entry_price = (p.avg_entry_price * p.qty.abs() + price * qty) / new.abs();
        } else if !new.is_zero() && new.is_sign_negative() != p.qty.is_sign_negative() {
            p.avg_entry_price = price;
        }
        p.qty = new;
        if new.is_zero() {
            self.positions.remove(symbol);
        }
        new
    }

    /// The index of order `id`.
    pub(super) fn order_index(&self, id: &str) -> Result<usize, ApiError> {
        self.orders.iter().position(|o| o.id == id).ok_or_else(|| ApiError::new(404, "order not found"))
    }

    /// `DELETE /v2/orders/{id}`: an open order becomes `canceled`; any other refuses (422 and
    /// `order_cancel_rejected` on the stream).
    pub(super) fn cancel(&mut self, id: &str) -> Result<(), ApiError> {
        let idx = self.order_index(id)?;
        let now = self.now();
        if !self.orders[idx].is_open() {
            self.emit(idx, "order_cancel_rejected", now);
            return Err(unprocessable(format!(
                "order is not cancelable (status {})",
                self.orders[idx].status
            )));
        }
        self.set_status(idx, "canceled", now);
        self.orders[idx].canceled_at = Some(now);
        self.emit(idx, "canceled", now);
        Ok(())
    }

    /// `PATCH /v2/orders/{id}` with a schema-checked body, Alpaca's way: the old order becomes
    /// `replaced` and a new order (new id, `replaces` = the old one) carries on. Events:
    /// `pending_replace` and `replaced` for the old order, `new` for the new one.
    pub(super) fn replace(&mut self, id: &str, body: &Value) -> Result<usize, ApiError> {
        let idx = self.order_index(id)?;
        let now = self.now();
        let old = self.orders[idx].clone();
        if old.status == "pending_new" {
            return Err(unprocessable("unable to replace order, order isn't sent to exchange yet"));
        }
        if !old.is_open() {
            self.emit(idx, "order_replace_rejected", now);
            return Err(unprocessable(format!("order is not replaceable (status {})", old.status)));
        }
        let qty = dec_field(body, "qty")?.unwrap_or(old.remaining());
        let limit_price = dec_field(body, "limit_price")?.or(old.limit_price);
        let stop_price = dec_field(body, "stop_price")?.or(old.stop_price);
        if limit_price.is_some() != old.order_type.has_limit()
            || stop_price.is_some() != old.order_type.has_stop()
        {
            return Err(unprocessable(format!("the prices do not fit a {} order", old.order_type.as_str())));
        }
        let n = self.serial();
        let client_order_id = match str_field(body, "client_order_id") {
            Some(c) if self.orders.iter().any(|o| o.client_order_id == c) => {
                return Err(unprocessable("client_order_id must be unique"));
            }
            Some(c) => c.to_owned(),
            None => ids::uuid(ids::CLIENT_ORDER, n),
        };
        let new_id = ids::uuid(ids::ORDER, n);
        self.set_status(idx, "pending_replace", now);
        self.emit(idx, "pending_replace", now);
        self.set_status(idx, "replaced", now);
        self.orders[idx].replaced_at = Some(now);
        self.orders[idx].replaced_by = Some(new_id.clone());
        self.emit(idx, "replaced", now);
        self.orders.push(FakeOrder {
            id: new_id,
            client_order_id,
            qty,
            limit_price,
            stop_price,
            time_in_force: str_field(body, "time_in_force").map_or(old.time_in_force.clone(), str::to_owned),
            status: "new".into(),
            filled_qty: Decimal::ZERO,
            filled_avg_price: None,
            created_at: now,
            updated_at: now,
            replaces: Some(old.id.clone()),
            replaced_by: None,
            replaced_at: None,
            triggered: false,
            filled_value: Decimal::ZERO,
            ..old
        });
        let new_idx = self.orders.len() - 1;
        self.emit(new_idx, "new", now);
        Ok(new_idx)
    }

    /// Every open `day` order expires (the session ended): `expired` on the stream.
    pub(super) fn expire_day_orders(&mut self) {
        let now = self.now();
        for idx in 0..self.orders.len() {
            if self.orders[idx].is_open() && self.orders[idx].time_in_force == "day" {
                self.set_status(idx, "expired", now);
                self.orders[idx].expired_at = Some(now);
                self.emit(idx, "expired", now);
            }
        }
    }

    /// A `FILL` activity of `GET /v2/account/activities/FILL`.
    pub(super) fn activity_json(&self, e: &Execution) -> Value {
        let o = &self.orders[e.order];
        json!({
            "id": format!("{}::{}", e.ts.format("%Y%m%d%H%M%S%3f"), e.id),
            "activity_type": "FILL",
            "transaction_time": ts(e.ts),
            "type": if e.partial { "partial_fill" } else { "fill" },
            "price": dec(e.price),
            "qty": dec(e.qty),
            "side": o.side.as_str(),
            "symbol": o.symbol,
            "leaves_qty": dec(e.leaves_qty),
            "order_id": o.id,
            "cum_qty": dec(e.cum_qty),
            "order_status": if e.partial { "partially_filled" } else { "filled" },
        })
    }
}
