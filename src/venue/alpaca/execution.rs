//! [`AlpacaExecution`]: an Alpaca account as an [`ExecutionClient`].
//!
//! - Orders go out as `POST /v2/orders` with our order id as `client_order_id`. A POST is never
//!   repeated blindly: after a timeout, a dropped connection, a 5xx or an unreadable answer the
//!   order is looked up by client id first (found → placed; 404 → not placed, POST again, a
//!   bounded number of times), and a 422 saying the client id is not unique means "placed".
//! - Refusals of the order itself (400, 403 such as `insufficient qty available for order`, 422)
//!   become `Rejected` events with Alpaca's message; refused keys (401, 403 saying so) are a
//!   terminal error naming the secret.
//! - Events come from the `trade_updates` stream (`super::trade_stream`) and are mapped by
//!   `super::book::Book`. After every (re)connect and every `poll_every`, the open orders are
//!   re-read by id and what the stream missed is emitted, followed by the account.
//!
//! [`ExecutionClient::next_event`] is cancel-safe: a re-read in progress is kept across calls,
//! and nothing is lost when its future is dropped (the runtime `select!`s on it).

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::book::{Book, Lookup};
use super::config::AlpacaConfig;
use super::http::{Api, Failure, Rest};
use super::trade_stream::{self, StreamMsg};
use super::wire;
use crate::model::account::{AccountState, Connectivity, Link};
use crate::model::order::{Fill, OrderEvent, OrderKind, OrderRequest, Purpose, Replace};
use crate::model::{ClientOrderId, Qty, Side, Timestamp};
use crate::options::OptionContract;
use crate::risk::gate::RiskApproved;
use crate::venue::{ExecutionClient, VenueError, VenueEvent, VenueFuture};

/// Alpaca's limit on `client_order_id`.
const MAX_CLIENT_ID: usize = 128;
/// Longest `replaced_by` chain followed in one look-up.
const MAX_CHAIN: usize = 16;
/// Activities per page.
const ACTIVITY_PAGE: usize = 100;
/// Most pages read in one listing.
const MAX_PAGES: usize = 1000;

/// What a re-read brings back: order snapshots, client ids Alpaca does not know, the account.
struct Resync {
    orders: Vec<wire::Order>,
    unknown: Vec<ClientOrderId>,
    account: AccountParts,
}

/// The three reads an account snapshot takes.
struct AccountParts {
    account: wire::Account,
    positions: Vec<wire::Position>,
    open: Vec<wire::Order>,
}

/// What woke [`AlpacaExecution::next`] up.
enum Step {
    Resynced(Result<Resync, Failure>),
    Stream(Option<StreamMsg>),
    Poll,
}

type ResyncFuture = Pin<Box<dyn Future<Output = Result<Resync, Failure>> + Send>>;

/// Whether a POST placed the order.
enum Placed {
    /// Alpaca has it.
    Yes(Box<wire::Order>),
    /// Alpaca refused it (its message).
    Refused(String),
    /// It is certainly not placed.
    No(VenueError),
    /// Nobody knows yet: the order stays followed and the next re-read finds out.
    Unknown(VenueError),
}

/// An Alpaca account: orders, fills, the account, through REST and the `trade_updates` stream.
pub struct AlpacaExecution {
    rest: Rest,
    extended_hours: bool,
    book: Book,
    /// Events to hand out, in order (the book's order events join at every step).
    outbox: VecDeque<VenueEvent>,
    stream: mpsc::Receiver<StreamMsg>,
    task: JoinHandle<()>,
    poll: Interval,
    resync_due: bool,
    resync: Option<ResyncFuture>,
}

impl std::fmt::Debug for AlpacaExecution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlpacaExecution")
            .field("account", &self.rest.config().account)
            .finish_non_exhaustive()
    }
}

impl Drop for AlpacaExecution {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AlpacaExecution {
    /// A client of `cfg`'s account; it starts following the `trade_updates` stream at once.
    /// `extended_hours` lets limit day orders of shares trade outside the regular session.
    ///
    /// # Errors
    /// Called outside a tokio runtime, or HTTPS cannot be set up.
    pub fn new(cfg: AlpacaConfig, extended_hours: bool) -> Result<Self, VenueError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(VenueError::Terminal("the Alpaca client needs a tokio runtime".into()));
        }
        let cfg = Arc::new(cfg);
        let rest = Rest::new(Arc::clone(&cfg))?;
        let (tx, stream) = mpsc::channel(1024);
        let task = trade_stream::spawn(Arc::clone(&cfg), tx);
        let mut poll = tokio::time::interval_at(Instant::now() + cfg.poll_every, cfg.poll_every);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ok(Self {
            rest,
            extended_hours,
            book: Book::default(),
            outbox: VecDeque::new(),
            stream,
            task,
            poll,
            resync_due: false,
            resync: None,
        })
    }

    /// Follow an order an earlier run placed (restart), of which `filled` is booked already:
    /// its later events, and what the next re-read finds, map back to it.
    pub fn track(&mut self, order: OrderRequest, filled: Qty) {
        self.book.track(order, filled);
        self.resync_due = true;
    }

    async fn submit_order(&mut self, req: OrderRequest) -> Result<(), VenueError> {
        let now = now();
        if let Some(reason) = refusal(&req) {
            self.book.push_event(OrderEvent::Rejected { id: req.id, ts: now, reason });
            return Ok(());
        }
        let id = req.id.clone();
        if self.book.is_placed(&id) {
            tracing::debug!(%id, "Alpaca: the order was placed already.");
            return Ok(());
        }
        let held = self.book.position(&req.instrument);
        let body = order_body(&req, intent(&req, held), self.extended_hours);
        if !self.book.is_open(&id) {
            self.book.track_new(req);
        }
        match place(&self.rest, &id, &body).await {
            Placed::Yes(order) => {
                self.book.placed(&id, &order);
                self.book.push_event(OrderEvent::Submitted { id, ts: now });
                Ok(())
            }
            Placed::Refused(reason) => {
                self.book.forget(&id);
                self.book.push_event(OrderEvent::Rejected { id, ts: now, reason });
                Ok(())
            }
            Placed::No(e) => {
                self.book.forget(&id);
                Err(e)
            }
            Placed::Unknown(e) => {
                self.resync_due = true;
                Err(e)
            }
        }
    }

    /// The Alpaca id to act on for one of our orders, looking it up when not known yet.
    async fn working_id(&mut self, id: &ClientOrderId) -> Result<Option<String>, VenueError> {
        if let Some(aid) = self.book.working_id(id) {
            return Ok(Some(aid.to_owned()));
        }
        if !self.book.is_open(id) {
            return Ok(None);
        }
        let orders = chain(&self.rest, Lookup::ClientId(id.clone())).await;
        match orders {
            Ok(orders) => {
                for o in &orders {
                    self.book.apply_snapshot(o, now());
                }
                Ok(self.book.working_id(id).map(str::to_owned))
            }
            Err(f) if is_not_found(&f) => {
                self.book.unknown_at_venue(id, now());
                Ok(None)
            }
            Err(f) => Err(self.rest.venue_error(&f)),
        }
    }

    async fn cancel_order(&mut self, id: ClientOrderId) -> Result<(), VenueError> {
        let Some(aid) = self.working_id(&id).await? else {
            let reason = "no such working order".to_owned();
            self.book.push_event(OrderEvent::CancelRejected { id, ts: now(), reason });
            return Ok(());
        };
        match self.rest.delete(&format!("/v2/orders/{aid}")).await {
            Ok(()) => Ok(()),
            Err(f) if f.refusal().is_some() => {
                let reason = f.refusal().unwrap_or_default().to_owned();
                self.book.push_event(OrderEvent::CancelRejected { id, ts: now(), reason });
                Ok(())
            }
            Err(f) => Err(self.rest.venue_error(&f)),
        }
    }

    async fn replace_order(&mut self, id: ClientOrderId, change: Replace) -> Result<(), VenueError> {
        let refuse =
            |reason: &str| OrderEvent::ReplaceRejected { id: id.clone(), ts: now(), reason: reason.into() };
        let Some(aid) = self.working_id(&id).await? else {
            self.book.push_event(refuse("no such working order"));
            return Ok(());
        };
        // Our quantity is the order's new total; the replacing Alpaca order carries what is left.
        let left = change.qty.map(|q| q - self.book.filled(&id));
        if left.is_some_and(|q| q <= Qty::ZERO) {
            self.book.push_event(refuse("the new quantity is not above what has already filled"));
            return Ok(());
        }
        let mut body = serde_json::Map::new();
        for (key, value) in [("qty", left), ("limit_price", change.limit), ("stop_price", change.stop)] {
            if let Some(v) = value {
                body.insert(key.to_owned(), Value::String(v.normalize().to_string()));
            }
        }
        if body.is_empty() {
            self.book.push_event(refuse("nothing to change"));
            return Ok(());
        }
        match self.rest.patch::<wire::Order>(&format!("/v2/orders/{aid}"), &Value::Object(body)).await {
            Ok(new) => {
                self.book.replace_sent(&id, change, &new);
                Ok(())
            }
            Err(f) if f.refusal().is_some() => {
                self.book.push_event(refuse(f.refusal().unwrap_or_default()));
                Ok(())
            }
            Err(f) if f.outcome_unknown() || matches!(f, Failure::Decode(_)) => {
                self.book.replace_maybe_sent(&id, change);
                self.resync_due = true;
                Err(self.rest.venue_error(&f))
            }
            Err(f) => Err(self.rest.venue_error(&f)),
        }
    }

    async fn account_now(&mut self) -> Result<AccountState, VenueError> {
        let parts = fetch_account(&self.rest).await.map_err(|f| self.rest.venue_error(&f))?;
        Ok(self.book.account_state(&parts.account, &parts.positions, &parts.open, now()))
    }

    async fn fills_after(&mut self, since: Timestamp) -> Result<Vec<Fill>, VenueError> {
        // `after` is exclusive and read to the second: ask from the second before, keep from `since`.
        let after = Timestamp(since.seconds().saturating_sub(1).saturating_mul(Timestamp::NANOS_PER_SEC));
        let after = after.to_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut fills = Vec::new();
        let mut orders: HashMap<String, Option<wire::Order>> = HashMap::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![
                ("after", after.clone()),
                ("direction", "asc".to_owned()),
                ("page_size", ACTIVITY_PAGE.to_string()),
            ];
            query.extend(token.take().map(|t| ("page_token", t)));
            let page: Vec<wire::FillActivity> = self
                .rest
                .get(Api::Trading, "/v2/account/activities/FILL", &query)
                .await
                .map_err(|f| self.rest.venue_error(&f))?;
            for a in &page {
                if wire::ts(a.transaction_time) < since {
                    continue;
                }
                if !self.book.knows(&a.order_id) && !orders.contains_key(&a.order_id) {
                    let path = format!("/v2/orders/{}", a.order_id);
                    let o = self.rest.get::<wire::Order>(Api::Trading, &path, &[]).await.ok();
                    orders.insert(a.order_id.clone(), o);
                }
                let order = orders.get(&a.order_id).and_then(Option::as_ref);
                fills.extend(self.book.activity_fill(a, order));
            }
            match page.last() {
                Some(last) if page.len() >= ACTIVITY_PAGE => token = Some(last.id.clone()),
                _ => break,
            }
        }
        Ok(fills)
    }

    /// The next event: queued ones first, then the stream, re-reads and the poll timer.
    async fn next(&mut self) -> Result<Option<VenueEvent>, VenueError> {
        loop {
            self.drain_book();
            if let Some(ev) = self.outbox.pop_front() {
                return Ok(Some(ev));
            }
            if self.resync_due && self.resync.is_none() {
                self.resync_due = false;
                self.resync = Some(start_resync(self.rest.clone(), self.book.lookups()));
            }
            let step = {
                let Self { resync, stream, poll, .. } = &mut *self;
                let resync = async {
                    match resync.as_mut() {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    done = resync => Step::Resynced(done),
                    msg = stream.recv() => Step::Stream(msg),
                    _ = poll.tick() => Step::Poll,
                }
            };
            match step {
                Step::Resynced(done) => {
                    self.resync = None;
                    self.apply_resync(done)?;
                }
                Step::Stream(Some(msg)) => self.on_stream(msg)?,
                Step::Stream(None) => return Ok(None),
                Step::Poll => self.resync_due = true,
            }
        }
    }

    fn on_stream(&mut self, msg: StreamMsg) -> Result<(), VenueError> {
        match msg {
            StreamMsg::Update(u) => self.book.on_update(&u, now()),
            StreamMsg::Up => {
                self.outbox
                    .push_back(VenueEvent::Connectivity(Connectivity::Up { link: Link::Venue, ts: now() }));
                self.resync_due = true;
            }
            StreamMsg::Down(reason) => {
                let down = Connectivity::Down { link: Link::Venue, ts: now(), reason };
                self.outbox.push_back(VenueEvent::Connectivity(down));
            }
            StreamMsg::Refused(e) => return Err(e),
        }
        Ok(())
    }

    fn apply_resync(&mut self, done: Result<Resync, Failure>) -> Result<(), VenueError> {
        let r = match done {
            Ok(r) => r,
            Err(f) if f.keys_refused() => return Err(self.rest.venue_error(&f)),
            Err(f) => {
                tracing::warn!(account = %self.rest.config().account, "Alpaca: re-reading orders failed ({f}); trying again at the next poll.");
                return Ok(());
            }
        };
        let now = now();
        for o in &r.orders {
            self.book.apply_snapshot(o, now);
        }
        for id in &r.unknown {
            self.book.unknown_at_venue(id, now);
        }
        let AccountParts { account, positions, open } = &r.account;
        let state = self.book.account_state(account, positions, open, now);
        // The order events the re-read found come before the account they led to.
        self.drain_book();
        self.outbox.push_back(VenueEvent::Account(state));
        Ok(())
    }

    /// Move the book's order events behind the events queued so far, keeping their order.
    fn drain_book(&mut self) {
        while let Some(ev) = self.book.pop_event() {
            self.outbox.push_back(VenueEvent::Order(ev));
        }
    }
}

impl ExecutionClient for AlpacaExecution {
    fn submit(&mut self, order: RiskApproved<OrderRequest>) -> VenueFuture<'_, ()> {
        Box::pin(self.submit_order(order.into_inner()))
    }

    fn cancel(&mut self, id: ClientOrderId) -> VenueFuture<'_, ()> {
        Box::pin(self.cancel_order(id))
    }

    fn replace(&mut self, id: ClientOrderId, change: Replace) -> VenueFuture<'_, ()> {
        Box::pin(self.replace_order(id, change))
    }

    fn account(&mut self) -> VenueFuture<'_, AccountState> {
        Box::pin(self.account_now())
    }

    fn fills_since(&mut self, since: Timestamp, orders: &[OrderRequest]) -> VenueFuture<'_, Vec<Fill>> {
        let looked_up: Vec<OrderRequest> =
            orders.iter().filter(|o| !self.book.is_open(&o.id)).cloned().collect();
        Box::pin(async move {
            // Followed for the look-up only: their later events are not the agent's business.
            for o in &looked_up {
                self.book.track(o.clone(), Qty::ZERO);
            }
            let fills = self.fills_after(since).await;
            for o in &looked_up {
                self.book.forget(&o.id);
            }
            fills
        })
    }

    fn track(&mut self, order: OrderRequest, filled: Qty) {
        AlpacaExecution::track(self, order, filled);
    }

    fn next_event(&mut self) -> VenueFuture<'_, Option<VenueEvent>> {
        Box::pin(self.next())
    }
}

fn now() -> Timestamp {
    Timestamp::from_datetime(&chrono::Utc::now())
}

/// Why an order cannot go to Alpaca as it is, if it cannot.
fn refusal(req: &OrderRequest) -> Option<String> {
    if req.id.as_str().len() > MAX_CLIENT_ID {
        return Some(format!("the order id is longer than Alpaca's {MAX_CLIENT_ID} characters"));
    }
    if let OrderKind::MarketableLimit { .. } = req.kind {
        return Some(
            "no quote to price the marketable limit: the runtime prices it before it reaches Alpaca".into(),
        );
    }
    if req.instrument.as_str().parse::<OptionContract>().is_ok() && !req.qty.fract().is_zero() {
        return Some(format!("options trade in whole contracts, not {}", req.qty));
    }
    None
}

/// The `position_intent` of an option order, from its purpose (an adjustment from `held`, the
/// followed position); `None` for shares.
fn intent(req: &OrderRequest, held: Qty) -> Option<&'static str> {
    req.instrument.as_str().parse::<OptionContract>().ok()?;
    let closes = match req.purpose {
        Purpose::Entry | Purpose::Add => false,
        Purpose::Exit(_) => true,
        Purpose::Adjust => match req.side {
            Side::Buy => held < Qty::ZERO,
            Side::Sell => held > Qty::ZERO,
        },
    };
    Some(match (req.side, closes) {
        (Side::Buy, false) => "buy_to_open",
        (Side::Sell, false) => "sell_to_open",
        (Side::Buy, true) => "buy_to_close",
        (Side::Sell, true) => "sell_to_close",
    })
}

/// The `POST /v2/orders` body of an order (`intent`: an option's `position_intent`).
fn order_body(req: &OrderRequest, intent: Option<&str>, extended_hours: bool) -> Value {
    let contract = req.instrument.as_str().parse::<OptionContract>().ok();
    let symbol = contract.as_ref().map_or_else(|| req.instrument.to_string(), OptionContract::compact_symbol);
    let (kind, limit, stop) = match req.kind {
        OrderKind::Market | OrderKind::MarketableLimit { .. } => ("market", None, None),
        OrderKind::Limit { limit } => ("limit", Some(limit), None),
        OrderKind::Stop { stop } => ("stop", None, Some(stop)),
        OrderKind::StopLimit { stop, limit } => ("stop_limit", Some(limit), Some(stop)),
    };
    let day = contract.is_some() || req.expire_at.is_some();
    let mut body = json!({
        "symbol": symbol,
        "qty": req.qty.normalize().to_string(),
        "side": req.side.to_string(),
        "type": kind,
        "time_in_force": if day { "day" } else { "gtc" },
        "client_order_id": req.id.as_str(),
    });
    let fields = [
        ("limit_price", limit.map(|p| Value::String(p.normalize().to_string()))),
        ("stop_price", stop.map(|p| Value::String(p.normalize().to_string()))),
        ("position_intent", intent.map(|i| Value::String(i.to_owned()))),
        (
            "extended_hours",
            (extended_hours && contract.is_none() && kind == "limit" && day).then_some(Value::Bool(true)),
        ),
    ];
    for (key, value) in fields {
        if let Some(v) = value {
            body[key] = v;
        }
    }
    body
}

/// POST an order, looking it up by client id whenever the outcome is unknown.
async fn place(rest: &Rest, id: &ClientOrderId, body: &Value) -> Placed {
    let tries = rest.config().retry.tries.max(1);
    let mut last = None;
    for attempt in 0..tries {
        if attempt > 0 {
            tokio::time::sleep(rest.config().retry.delay(attempt - 1)).await;
        }
        let failure = match rest.post::<wire::Order>("/v2/orders", body).await {
            Ok(order) => return Placed::Yes(Box::new(order)),
            Err(f) => f,
        };
        let duplicate = duplicate_id(&failure);
        if failure.keys_refused() {
            return Placed::No(rest.venue_error(&failure));
        }
        if let (Some(reason), false) = (failure.refusal(), duplicate) {
            return Placed::Refused(reason.to_owned());
        }
        if !(duplicate || failure.outcome_unknown() || matches!(failure, Failure::Decode(_))) {
            return Placed::No(rest.venue_error(&failure));
        }
        match lookup(rest, id).await {
            Ok(Some(order)) => return Placed::Yes(Box::new(order)),
            Ok(None) if duplicate => {
                return Placed::Unknown(VenueError::Retryable(format!(
                    "order {id}: Alpaca says the client order id is taken but cannot find it"
                )));
            }
            Ok(None) => {
                tracing::warn!(%id, "Alpaca: {failure}, and the order is not there; sending it again.");
                last = Some(failure);
            }
            Err(f) => {
                return Placed::Unknown(VenueError::Retryable(format!(
                    "order {id}: {failure}, and looking it up failed too ({f})"
                )));
            }
        }
    }
    let last = last.map_or_else(String::new, |f| format!(": {f}"));
    Placed::No(VenueError::Retryable(format!("Alpaca did not take order {id} after {tries} tries{last}")))
}

/// Whether a failure is Alpaca saying the client order id is taken.
fn duplicate_id(f: &Failure) -> bool {
    let Failure::Status { status: 422, message } = f else { return false };
    let m = message.to_ascii_lowercase();
    (m.contains("client_order_id") || m.contains("client order id")) && m.contains("unique")
}

fn is_not_found(f: &Failure) -> bool {
    matches!(f, Failure::Status { status: 404, .. })
}

/// The order with our client id, if Alpaca has one.
async fn lookup(rest: &Rest, id: &ClientOrderId) -> Result<Option<wire::Order>, Failure> {
    let query = [("client_order_id", id.to_string())];
    match rest.get(Api::Trading, "/v2/orders:by_client_order_id", &query).await {
        Ok(o) => Ok(Some(o)),
        Err(f) if is_not_found(&f) => Ok(None),
        Err(f) => Err(f),
    }
}

/// An order and the orders that replaced it, in order.
async fn chain(rest: &Rest, start: Lookup) -> Result<Vec<wire::Order>, Failure> {
    let first: wire::Order = match start {
        Lookup::Id(id) => rest.get(Api::Trading, &format!("/v2/orders/{id}"), &[]).await?,
        Lookup::ClientId(id) => {
            let query = [("client_order_id", id.to_string())];
            rest.get(Api::Trading, "/v2/orders:by_client_order_id", &query).await?
        }
    };
    let mut orders = vec![first];
    while orders.len() < MAX_CHAIN {
        let Some(next) = orders.last().and_then(|o| o.replaced_by.clone()) else { break };
        orders.push(rest.get(Api::Trading, &format!("/v2/orders/{next}"), &[]).await?);
    }
    Ok(orders)
}

async fn fetch_account(rest: &Rest) -> Result<AccountParts, Failure> {
    let account = rest.get(Api::Trading, "/v2/account", &[]).await?;
    let positions = rest.get(Api::Trading, "/v2/positions", &[]).await?;
    let query = [("status", "open".to_owned()), ("limit", "500".to_owned()), ("nested", "false".to_owned())];
    let open = rest.get(Api::Trading, "/v2/orders", &query).await?;
    Ok(AccountParts { account, positions, open })
}

/// Re-read every open leg (following replacements) and the account.
fn start_resync(rest: Rest, lookups: Vec<Lookup>) -> ResyncFuture {
    Box::pin(async move {
        let mut orders: Vec<wire::Order> = Vec::new();
        let mut unknown = Vec::new();
        let mut seen = HashSet::new();
        for l in lookups {
            if let Lookup::Id(id) = &l
                && seen.contains(id)
            {
                continue;
            }
            let client_id = match &l {
                Lookup::ClientId(id) => Some(id.clone()),
                Lookup::Id(_) => None,
            };
            match chain(&rest, l).await {
                Ok(found) => {
                    seen.extend(found.iter().map(|o| o.id.clone()));
                    orders.extend(found);
                }
                Err(f) if is_not_found(&f) && client_id.is_some() => unknown.extend(client_id),
                Err(f) => return Err(f),
            }
        }
        let account = fetch_account(&rest).await?;
        Ok(Resync { orders, unknown, account })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::order::ExitReason;
    use crate::model::{InstrumentId, SymbolId};
    use rust_decimal_macros::dec;

    fn req(instrument: &str, side: Side, qty: Qty, kind: OrderKind, purpose: Purpose) -> OrderRequest {
        OrderRequest {
            id: ClientOrderId::from("nvda-1-7"),
            symbol: SymbolId(0),
            instrument: InstrumentId::from(instrument),
            side,
            qty,
            kind,
            purpose,
            ref_price: dec!(100),
            ts: Timestamp(0),
            expire_at: None,
        }
    }

    #[test]
    fn equity_orders_are_gtc_unless_they_expire_and_only_limit_day_orders_go_extended() {
        let r =
            req("NVDA", Side::Buy, dec!(10.50), OrderKind::Limit { limit: dec!(120.100) }, Purpose::Entry);
        assert_eq!(
            order_body(&r, None, true),
            json!({"symbol": "NVDA", "qty": "10.5", "side": "buy", "type": "limit", "time_in_force": "gtc",
                   "client_order_id": "nvda-1-7", "limit_price": "120.1"})
        );
        let day = OrderRequest { expire_at: Some(Timestamp(5)), ..r };
        assert_eq!(order_body(&day, None, true)["extended_hours"], json!(true));
        assert_eq!(order_body(&day, None, true)["time_in_force"], json!("day"));
        assert!(order_body(&day, None, false).get("extended_hours").is_none());
        let stop = req(
            "NVDA",
            Side::Sell,
            dec!(3),
            OrderKind::StopLimit { stop: dec!(99), limit: dec!(98.5) },
            Purpose::Entry,
        );
        let b = order_body(&OrderRequest { expire_at: Some(Timestamp(5)), ..stop }, None, true);
        assert_eq!(
            (&b["type"], &b["stop_price"], &b["limit_price"]),
            (&json!("stop_limit"), &json!("99"), &json!("98.5"))
        );
        assert!(b.get("extended_hours").is_none());
    }

    #[test]
    fn option_orders_are_day_orders_with_the_compact_symbol_and_an_intent() {
        let exit = Purpose::Exit(ExitReason::Target);
        let r = req("SPY   241122C00590000", Side::Sell, dec!(2), OrderKind::Market, exit);
        let b = order_body(&r, Some("sell_to_close"), true);
        assert_eq!(b["symbol"], json!("SPY241122C00590000"));
        assert_eq!((&b["time_in_force"], &b["position_intent"]), (&json!("day"), &json!("sell_to_close")));
        assert!(b.get("extended_hours").is_none());
    }

    #[test]
    fn orders_alpaca_cannot_take_are_refused_before_sending() {
        let r = req("SPY241122C00590000", Side::Buy, dec!(1.5), OrderKind::Market, Purpose::Entry);
        assert!(refusal(&r).is_some_and(|m| m.contains("whole contracts")));
        let r =
            req("SPY", Side::Buy, dec!(1.5), OrderKind::MarketableLimit { offset_ticks: 1 }, Purpose::Entry);
        assert!(refusal(&r).is_some_and(|m| m.starts_with("no quote to price")));
        let long = OrderRequest {
            id: ClientOrderId("x".repeat(129)),
            ..req("SPY", Side::Buy, dec!(1), OrderKind::Market, Purpose::Entry)
        };
        assert!(refusal(&long).is_some_and(|m| m.contains("128")));
        let ok = OrderRequest { id: ClientOrderId("x".repeat(128)), ..long };
        assert_eq!(refusal(&ok), None);
    }

    #[test]
    fn option_intents_follow_the_purpose_and_the_position() {
        let occ = "SPY241122C00590000";
        let at = |side, purpose, held| intent(&req(occ, side, dec!(1), OrderKind::Market, purpose), held);
        assert_eq!(at(Side::Buy, Purpose::Entry, dec!(0)), Some("buy_to_open"));
        assert_eq!(at(Side::Sell, Purpose::Add, dec!(-1)), Some("sell_to_open"));
        assert_eq!(at(Side::Sell, Purpose::Exit(ExitReason::Stop), dec!(1)), Some("sell_to_close"));
        assert_eq!(at(Side::Buy, Purpose::Exit(ExitReason::Signal), dec!(-1)), Some("buy_to_close"));
        assert_eq!(at(Side::Sell, Purpose::Adjust, dec!(3)), Some("sell_to_close"));
        assert_eq!(at(Side::Sell, Purpose::Adjust, dec!(0)), Some("sell_to_open"));
        assert_eq!(at(Side::Buy, Purpose::Adjust, dec!(-2)), Some("buy_to_close"));
        assert_eq!(intent(&req("SPY", Side::Buy, dec!(1), OrderKind::Market, Purpose::Entry), dec!(0)), None);
    }

    #[test]
    fn a_duplicate_client_id_is_recognised() {
        let f = |status, m: &str| Failure::Status { status, message: m.into() };
        assert!(duplicate_id(&f(422, "client_order_id must be unique")));
        assert!(!duplicate_id(&f(422, "qty must be > 0")));
        assert!(!duplicate_id(&f(403, "client_order_id must be unique")));
    }
}
