//! The Alpaca venue client (`runner::venue::alpaca`) against the in-repo fake Alpaca: keys
//! refused, an order placed and filled through `trade_updates`, no double order after a 5xx or a
//! duplicate id, the request budget through a 429 storm, a fill recovered from REST after the
//! stream dropped, replace and cancel, and the stocks stream (auth, subscribe, exact batched
//! frames, 402, 406, reconnect with a gap).

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;

use crate::support::fake_alpaca::{FakeAlpaca, FakeBar, FakeConfig, FakeTick};
use runner::market::event::MarketEvent;
use runner::model::account::{Connectivity, Link};
use runner::model::order::{OrderEvent, OrderKind, OrderRequest, Purpose, Replace};
use runner::model::{ClientOrderId, InstrumentId, Side, SymbolId, Timestamp};
use runner::risk::gate::{GateContext, RiskGate, RiskLimits};
use runner::strategy::Phase;
use runner::venue::alpaca::lookups;
use runner::venue::alpaca::{AlpacaConfig, AlpacaExecution, AlpacaStocksFeed, Backoff, RequestBudget};
use runner::venue::{DataEvent, ExecutionClient, MarketDataClient, Subscription, VenueError, VenueEvent};

/// Bound on every wait (a failing test fails instead of hanging).
const WAIT: Duration = Duration::from_secs(10);
/// The vault secret the keys come from, as messages name it.
const SECRET: &str = "alpaca-paper-test";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// Run a blocking wait of the fake inside the client's runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f).await.expect("within the wait bound")
}

/// A client configuration for `fake`, with quick retries.
fn config(fake: &FakeAlpaca) -> AlpacaConfig {
    let keys = fake.config();
    let mut cfg = AlpacaConfig::paper("paper-test", SECRET, keys.key_id.into(), keys.secret_key.into());
    cfg.trading_url = fake.rest_url();
    cfg.trade_stream_url = fake.trade_stream_url();
    cfg.data_url = fake.rest_url();
    cfg.stocks_stream_url = fake.data_stream_url("iex");
    cfg.request_timeout = Duration::from_secs(5);
    cfg.retry = Backoff { first: Duration::from_millis(10), cap: Duration::from_millis(50), tries: 4 };
    cfg.reconnect = Backoff { first: Duration::from_millis(20), cap: Duration::from_millis(200), tries: 0 };
    cfg.poll_every = Duration::from_secs(600);
    cfg
}

fn order(id: &str, symbol: &str, side: Side, qty: Decimal, kind: OrderKind) -> OrderRequest {
    OrderRequest {
        id: ClientOrderId::from(id),
        symbol: SymbolId(0),
        instrument: InstrumentId::from(symbol),
        side,
        qty,
        kind,
        purpose: Purpose::Entry,
        ref_price: dec!(500),
        ts: Timestamp(0),
        expire_at: None,
    }
}

fn approve(req: OrderRequest) -> runner::risk::gate::RiskApproved<OrderRequest> {
    let ctx = GateContext { phase: Phase::Open, position: Decimal::ZERO, day: 0 };
    RiskGate::new(RiskLimits::default()).check(req, &ctx).expect("approved")
}

/// Events until one matches `stop` (included).
async fn events_until(c: &mut AlpacaExecution, stop: impl Fn(&VenueEvent) -> bool) -> Vec<VenueEvent> {
    let mut seen = Vec::new();
    loop {
        let ev = within(c.next_event()).await.expect("no venue error").expect("the venue is open");
        let done = stop(&ev);
        seen.push(ev);
        if done {
            return seen;
        }
    }
}

/// A connected execution client: its first Up and the account that follows.
async fn connected(cfg: AlpacaConfig) -> AlpacaExecution {
    let mut c = AlpacaExecution::new(cfg, false).expect("client");
    events_until(&mut c, |e| matches!(e, VenueEvent::Account(_))).await;
    c
}

fn order_events(evs: &[VenueEvent]) -> Vec<&OrderEvent> {
    evs.iter()
        .filter_map(|e| match e {
            VenueEvent::Order(o) => Some(o),
            _ => None,
        })
        .collect()
}

fn is_filled(e: &VenueEvent) -> bool {
    matches!(e, VenueEvent::Order(OrderEvent::Filled(_)))
}

fn posts(fake: &FakeAlpaca) -> usize {
    fake.requests().iter().filter(|r| r.method == "POST" && r.path == "/v2/orders").count()
}

#[test]
fn alpaca_refused_keys_are_named_by_their_secret_never_shown() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    let mut cfg = config(&fake);
    cfg.secret_key = "wrong-secret-value-123".into();
    let key_id = fake.config().key_id;
    let no_keys = |m: &str| !m.contains(&key_id) && !m.contains("wrong-secret-value-123");
    runtime().block_on(async {
        let Err(VenueError::Terminal(m)) = lookups::check_account(&cfg).await else { panic!("refused") };
        assert!(m.contains("secret `alpaca-paper-test`") && m.contains("401") && no_keys(&m), "{m}");
        let mut c = AlpacaExecution::new(cfg.clone(), false).expect("client");
        // The trade stream refuses the keys too: the client stops with the same kind of message.
        let Err(VenueError::Terminal(m)) = within(c.next_event()).await else { panic!("stream refused") };
        assert!(m.contains("secret `alpaca-paper-test`") && no_keys(&m), "{m}");
        let e = c.submit(approve(order("t-1", "SPY", Side::Buy, dec!(1), OrderKind::Market))).await;
        let Err(VenueError::Terminal(m)) = e else { panic!("{e:?}") };
        assert!(m.contains("check key_id / secret_key") && no_keys(&m), "{m}");
        let mut feed = AlpacaStocksFeed::new(cfg);
        let Err(VenueError::Terminal(m)) = within(feed.connect()).await else { panic!("402") };
        assert!(m.contains("402") && m.contains("secret `alpaca-paper-test`") && no_keys(&m), "{m}");
    });
    assert!(fake.orders().is_empty());
}

#[test]
fn alpaca_order_is_placed_and_filled_through_trade_updates() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    runtime().block_on(async {
        let mut c = connected(config(&fake)).await;
        let req = order("nvda-r1-1", "NVDA", Side::Buy, dec!(10), OrderKind::Market);
        c.submit(approve(req)).await.expect("submitted");
        blocking(|| assert!(fake.wait_for_orders(1, WAIT)));
        fake.publish_trade("NVDA", Utc::now(), dec!(120.37), dec!(500));
        let evs = events_until(&mut c, is_filled).await;
        let kinds: Vec<Value> =
            order_events(&evs).iter().map(|e| serde_json::to_value(e).unwrap()["event"].clone()).collect();
        assert_eq!(kinds, ["submitted", "accepted", "filled"], "{evs:?}");
        let Some(VenueEvent::Order(OrderEvent::Filled(f))) = evs.last() else { unreachable!() };
        assert_eq!((f.id.as_str(), f.qty, f.price, f.leaves), ("nvda-r1-1", dec!(10), dec!(120.37), dec!(0)));
        assert_eq!((f.instrument.as_str(), f.side, f.commission), ("NVDA", Side::Buy, dec!(0)));
    });
    let o = &fake.orders()[0];
    assert_eq!((o.client_order_id.as_str(), o.time_in_force.as_str()), ("nvda-r1-1", "gtc"));
}

#[test]
fn alpaca_5xx_after_the_order_was_placed_leaves_exactly_one_order() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    fake.fail_after_effect(1, 503);
    runtime().block_on(async {
        let mut c = AlpacaExecution::new(config(&fake), false).expect("client");
        let req = order("spy-r1-1", "SPY", Side::Buy, dec!(5), OrderKind::Limit { limit: dec!(400) });
        c.submit(approve(req)).await.expect("placed, as the look-up found");
    });
    assert_eq!(fake.orders().len(), 1);
    assert_eq!(posts(&fake), 1, "no second POST");
    let lookups = fake.requests().iter().filter(|r| r.path == "/v2/orders:by_client_order_id").count();
    assert_eq!(lookups, 1);
}

#[test]
fn alpaca_5xx_before_the_order_was_placed_sends_it_again_once() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    fake.fail_next(1, 503);
    runtime().block_on(async {
        let mut c = AlpacaExecution::new(config(&fake), false).expect("client");
        let req = order("spy-r1-2", "SPY", Side::Buy, dec!(5), OrderKind::Limit { limit: dec!(400) });
        c.submit(approve(req)).await.expect("placed on the second POST");
    });
    assert_eq!((fake.orders().len(), posts(&fake)), (1, 2));
}

#[test]
fn alpaca_duplicate_client_id_is_treated_as_placed() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    runtime().block_on(async {
        let req = || order("spy-r1-3", "SPY", Side::Buy, dec!(5), OrderKind::Limit { limit: dec!(400) });
        let mut first = AlpacaExecution::new(config(&fake), false).expect("client");
        first.submit(approve(req())).await.expect("placed");
        // A restarted process sends the same order again: Alpaca says the id is taken.
        let mut again = connected(config(&fake)).await;
        again.submit(approve(req())).await.expect("treated as placed");
        let evs =
            events_until(&mut again, |e| matches!(e, VenueEvent::Order(OrderEvent::Submitted { .. }))).await;
        assert!(!order_events(&evs).iter().any(|e| matches!(e, OrderEvent::Rejected { .. })), "{evs:?}");
    });
    assert_eq!(fake.orders().len(), 1);
    let refused = fake.requests().iter().filter(|r| r.path == "/v2/orders" && r.status == 422).count();
    assert_eq!(refused, 1);
}

#[test]
fn alpaca_refusals_of_an_order_become_rejected_events() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    fake.open_position("SPY", dec!(2), dec!(500));
    runtime().block_on(async {
        let mut c = connected(config(&fake)).await;
        // Selling through zero in one go: 403 insufficient qty.
        let req = order("spy-r1-4", "SPY", Side::Sell, dec!(5), OrderKind::Limit { limit: dec!(600) });
        c.submit(approve(req)).await.expect("a refusal is an event, not an error");
        let evs = events_until(&mut c, |e| matches!(e, VenueEvent::Order(OrderEvent::Rejected { .. }))).await;
        let Some(VenueEvent::Order(OrderEvent::Rejected { reason, .. })) = evs.last() else { unreachable!() };
        assert!(reason.contains("insufficient qty"), "{reason}");
        // A marketable limit reaching the venue unpriced is refused before sending.
        let req =
            order("spy-r1-5", "SPY", Side::Buy, dec!(1), OrderKind::MarketableLimit { offset_ticks: 1 });
        c.submit(approve(req)).await.expect("refused as an event");
        let evs = events_until(&mut c, |e| matches!(e, VenueEvent::Order(OrderEvent::Rejected { .. }))).await;
        let Some(VenueEvent::Order(OrderEvent::Rejected { reason, .. })) = evs.last() else { unreachable!() };
        assert!(reason.starts_with("no quote to price"), "{reason}");
    });
    assert!(fake.orders().is_empty());
}

#[test]
fn alpaca_429_storm_never_exceeds_the_request_budget() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    let window = Duration::from_millis(400);
    let mut cfg = config(&fake);
    cfg.budget = RequestBudget { requests: 4, per: window };
    fake.fail_next(6, 429);
    runtime().block_on(async {
        for _ in 0..4 {
            lookups::check_account(&cfg).await.expect("the account, once the storm is over");
        }
    });
    let requests = fake.requests();
    assert_eq!(requests.len(), 10, "4 reads and the 6 answered 429 in between");
    assert_eq!(requests.iter().filter(|r| r.status == 429).count(), 6, "no 429 beyond the injected ones");
    // No window of the budget's length ever saw more than 4 requests (less a little for the time
    // between the client sending and the fake recording).
    let span = chrono::TimeDelta::from_std(window - Duration::from_millis(40)).unwrap();
    let times: Vec<DateTime<Utc>> = requests.iter().map(|r| r.at).collect();
    for (i, start) in times.iter().enumerate() {
        let inside = times[i..].iter().take_while(|t| **t - *start < span).count();
        assert!(inside <= 4, "{inside} requests within {span} from request {i}: {times:?}");
    }
}

#[test]
fn alpaca_fill_missed_while_the_stream_was_down_is_recovered_from_rest() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    runtime().block_on(async {
        let mut c = connected(config(&fake)).await;
        let req = order("spy-r1-6", "SPY", Side::Buy, dec!(10), OrderKind::Limit { limit: dec!(500) });
        c.submit(approve(req)).await.expect("submitted");
        events_until(&mut c, |e| matches!(e, VenueEvent::Order(OrderEvent::Accepted { .. }))).await;
        // The order fills while nothing reaches the client, and the stream drops.
        fake.suppress_trade_updates(true);
        fake.publish_trade("SPY", Utc::now(), dec!(499.5), dec!(100));
        blocking(|| assert!(fake.wait_for_trade_listener(WAIT)));
        fake.drop_trade_stream();
        let evs = events_until(&mut c, |e| matches!(e, VenueEvent::Account(_))).await;
        fake.suppress_trade_updates(false);
        let down = evs.iter().position(|e| {
            matches!(e, VenueEvent::Connectivity(Connectivity::Down { link: Link::Venue, .. }))
        });
        let up = evs
            .iter()
            .position(|e| matches!(e, VenueEvent::Connectivity(Connectivity::Up { link: Link::Venue, .. })));
        let filled = evs.iter().position(is_filled);
        assert!(down < up && up < filled && filled.is_some(), "{evs:?}");
        let Some(VenueEvent::Order(OrderEvent::Filled(f))) = filled.map(|i| &evs[i]) else { unreachable!() };
        assert_eq!((f.id.as_str(), f.qty, f.price, f.leaves), ("spy-r1-6", dec!(10), dec!(500), dec!(0)));
        let Some(VenueEvent::Account(a)) = evs.last() else { unreachable!() };
        assert_eq!(
            a.positions.iter().map(|p| (p.instrument.as_str(), p.qty)).collect::<Vec<_>>(),
            [("SPY", dec!(10))]
        );
    });
    assert_eq!(fake.orders().len(), 1);
}

#[test]
fn alpaca_replace_and_cancel_follow_one_order_over_two_alpaca_ids() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    runtime().block_on(async {
        let mut c = connected(config(&fake)).await;
        let id = ClientOrderId::from("spy-r1-7");
        let req = order(id.as_str(), "SPY", Side::Buy, dec!(10), OrderKind::Limit { limit: dec!(400) });
        c.submit(approve(req)).await.expect("submitted");
        events_until(&mut c, |e| matches!(e, VenueEvent::Order(OrderEvent::Accepted { .. }))).await;
        let change = Replace { qty: Some(dec!(12)), limit: Some(dec!(401.5)), stop: None };
        c.replace(id.clone(), change).await.expect("replaced");
        let evs = events_until(&mut c, |e| matches!(e, VenueEvent::Order(OrderEvent::Replaced { .. }))).await;
        let Some(VenueEvent::Order(OrderEvent::Replaced { id: got, change: seen, .. })) = evs.last() else {
            unreachable!()
        };
        assert_eq!((got, *seen), (&id, change));
        c.cancel(id.clone()).await.expect("canceled");
        let evs = events_until(&mut c, |e| matches!(e, VenueEvent::Order(OrderEvent::Canceled { .. }))).await;
        assert_eq!(
            evs.last().and_then(|e| if let VenueEvent::Order(o) = e { Some(o.id()) } else { None }),
            Some(&id)
        );
        // A second cancel: the order is done.
        c.cancel(id.clone()).await.expect("answered by an event");
        let evs =
            events_until(&mut c, |e| matches!(e, VenueEvent::Order(OrderEvent::CancelRejected { .. }))).await;
        assert_eq!(order_events(&evs).len(), 1, "{evs:?}");
    });
    let orders = fake.orders();
    assert_eq!(orders.len(), 2);
    assert_eq!((orders[0].status.as_str(), orders[1].status.as_str()), ("replaced", "canceled"));
    assert_eq!(orders[1].replaces.as_deref(), Some(orders[0].id.as_str()));
    assert_eq!((orders[1].qty, orders[1].limit_price), (dec!(12), Some(dec!(401.5))));
    let patch = fake.requests().into_iter().find(|r| r.method == "PATCH").expect("a PATCH");
    let body: Value = serde_json::from_str(&patch.body).unwrap();
    assert_eq!(body, serde_json::json!({"qty": "12", "limit_price": "401.5"}));
}

fn subscription(symbol: u16, name: &str) -> Subscription {
    Subscription {
        symbol: SymbolId(symbol),
        instrument: InstrumentId::from(name),
        trades: true,
        quotes: true,
        bars: true,
    }
}

async fn next_data(feed: &mut AlpacaStocksFeed) -> DataEvent {
    within(feed.next_event()).await.expect("no feed error").expect("the feed is open")
}

#[test]
fn alpaca_stream_data_is_subscribed_and_parsed_exactly() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    let at: DateTime<Utc> = "2025-01-02T15:51:45.335689322Z".parse().unwrap();
    runtime().block_on(async {
        let mut feed = AlpacaStocksFeed::new(config(&fake));
        feed.subscribe(&[subscription(7, "SPY")]).await.expect("noted");
        within(feed.connect()).await.expect("connected");
        assert!(matches!(
            next_data(&mut feed).await,
            DataEvent::Connectivity(Connectivity::Up { link: Link::Feed, .. })
        ));
        blocking(|| assert!(fake.wait_for_data_subscription("SPY", WAIT)));
        let bar = FakeBar {
            open: dec!(388.985),
            high: dec!(389.13),
            low: dec!(388.975),
            close: dec!(389.12),
            volume: dec!(49378),
        };
        fake.publish_batch(&[
            FakeTick::Trade { symbol: "SPY".into(), ts: at, price: dec!(501.26), size: dec!(100) },
            FakeTick::Quote {
                symbol: "SPY".into(),
                ts: at,
                bid: dec!(501.24),
                bid_size: dec!(1),
                ask: dec!(501.27),
                ask_size: dec!(4),
            },
            FakeTick::Bar { symbol: "SPY".into(), ts: at, bar },
        ]);
        let ts = Timestamp::from_datetime(&at);
        let DataEvent::Market(MarketEvent::Trade(t)) = next_data(&mut feed).await else { panic!("a trade") };
        assert_eq!(
            (t.symbol, t.ts, t.price.to_string(), t.size),
            (SymbolId(7), ts, "501.26".into(), dec!(100))
        );
        let DataEvent::Market(MarketEvent::Quote(q)) = next_data(&mut feed).await else { panic!("a quote") };
        assert_eq!(
            (q.bid.to_string(), q.ask.to_string(), q.bid_size, q.ask_size),
            ("501.24".into(), "501.27".into(), dec!(1), dec!(4))
        );
        let DataEvent::Market(MarketEvent::Bar(b)) = next_data(&mut feed).await else { panic!("a bar") };
        assert_eq!(
            (b.open.to_string(), b.low.to_string(), b.volume, b.duration_nanos),
            ("388.985".into(), "388.975".into(), dec!(49378), 60_000_000_000)
        );
    });
    let frames: Vec<Value> = fake.client_frames().into_iter().map(|f| f.frame).collect();
    assert_eq!(frames[0]["action"], "auth");
    assert_eq!(
        frames[1],
        serde_json::json!({"action": "subscribe", "trades": ["SPY"], "quotes": ["SPY"], "bars": ["SPY"]})
    );
}

#[test]
fn alpaca_stream_drop_reconnects_resubscribes_and_reports_the_gap() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    let first: DateTime<Utc> = "2025-01-02T15:51:00.5Z".parse().unwrap();
    let later: DateTime<Utc> = "2025-01-02T15:53:10Z".parse().unwrap();
    runtime().block_on(async {
        let mut feed = AlpacaStocksFeed::new(config(&fake));
        within(feed.connect()).await.expect("connected");
        feed.subscribe(&[subscription(1, "QQQ")]).await.expect("subscribed");
        next_data(&mut feed).await;
        blocking(|| assert!(fake.wait_for_data_subscription("QQQ", WAIT)));
        fake.publish_trade("QQQ", first, dec!(420.1), dec!(5));
        assert!(matches!(next_data(&mut feed).await, DataEvent::Market(_)));
        fake.drop_data_stream();
        assert!(matches!(next_data(&mut feed).await, DataEvent::Connectivity(Connectivity::Down { link: Link::Feed, .. })));
        assert!(matches!(next_data(&mut feed).await, DataEvent::Connectivity(Connectivity::Up { link: Link::Feed, .. })));
        blocking(|| assert!(fake.wait_for_data_subscription("QQQ", WAIT)));
        fake.publish_trade("QQQ", later, dec!(421), dec!(5));
        let gap = next_data(&mut feed).await;
        let (from, to) = (Timestamp::from_datetime(&first), Timestamp::from_datetime(&later));
        assert_eq!(gap, DataEvent::Connectivity(Connectivity::Gap { link: Link::Feed, from, to }));
        assert!(matches!(next_data(&mut feed).await, DataEvent::Market(MarketEvent::Trade(t)) if t.price == dec!(421)));
    });
}

#[test]
fn alpaca_stream_connection_limit_waits_instead_of_spinning() {
    let hold = Duration::from_millis(1500);
    let fake = FakeAlpaca::start(FakeConfig { dead_socket_hold: hold, ..FakeConfig::default() });
    let wait = Duration::from_millis(400);
    runtime().block_on(async {
        let mut cfg = config(&fake);
        cfg.connection_limit_wait = wait;
        let mut feed = AlpacaStocksFeed::new(cfg);
        within(feed.connect()).await.expect("connected");
        next_data(&mut feed).await;
        fake.drop_data_stream();
        assert!(matches!(next_data(&mut feed).await, DataEvent::Connectivity(Connectivity::Down { .. })));
        // Up again once Alpaca lets the dead socket go.
        assert!(matches!(next_data(&mut feed).await, DataEvent::Connectivity(Connectivity::Up { .. })));
    });
    let auths = fake.client_frames().iter().filter(|f| f.frame["action"] == "auth").count();
    // The first connection, the attempts refused with 406 (one per wait at most while the socket
    // was held) and the one let in: a tight loop would have made hundreds.
    let most = 2 + usize::try_from(hold.as_millis() / wait.as_millis()).unwrap() + 1;
    assert!((3..=most).contains(&auths), "{auths} auth frames");
}

#[test]
fn alpaca_restart_follows_an_earlier_order_and_recovers_its_fill() {
    let fake = FakeAlpaca::start(FakeConfig::default());
    let since = Timestamp::from_datetime(&(Utc::now() - chrono::TimeDelta::minutes(1)));
    let req = order("spy-r1-8", "SPY", Side::Buy, dec!(10), OrderKind::Limit { limit: dec!(500) });
    runtime().block_on(async {
        let mut before = connected(config(&fake)).await;
        before.submit(approve(req.clone())).await.expect("submitted");
        events_until(&mut before, |e| matches!(e, VenueEvent::Order(OrderEvent::Accepted { .. }))).await;
        // The process dies; the order stays working at Alpaca.
        drop(before);
        let mut after = AlpacaExecution::new(config(&fake), false).expect("client");
        after.track(req.clone(), Decimal::ZERO);
        let account = after.account().await.expect("the account");
        assert_eq!(account.open_orders.len(), 1);
        assert_eq!(
            (account.open_orders[0].id.as_str(), account.open_orders[0].filled),
            ("spy-r1-8", dec!(0))
        );
        assert_eq!(account.open_orders[0].kind, OrderKind::Limit { limit: dec!(500) });
        drop(after);
        // It fills while no runner listens; the next run learns it from REST.
        fake.publish_trade("SPY", Utc::now(), dec!(499.5), dec!(100));
        let mut restarted = AlpacaExecution::new(config(&fake), false).expect("client");
        restarted.track(req.clone(), Decimal::ZERO);
        let evs = events_until(&mut restarted, |e| matches!(e, VenueEvent::Account(_))).await;
        let fills: Vec<_> = order_events(&evs).into_iter().filter_map(OrderEvent::fill).collect();
        assert_eq!(fills.len(), 1, "{evs:?}");
        assert_eq!((fills[0].id.as_str(), fills[0].qty, fills[0].price), ("spy-r1-8", dec!(10), dec!(500)));
        // And the executions since a time, for a run that already booked them (read-only).
        let mut reader = AlpacaExecution::new(config(&fake), false).expect("client");
        reader.track(req, dec!(10));
        let fills = reader.fills_since(since, &[]).await.expect("fills");
        assert_eq!(fills.len(), 1);
        assert_eq!(
            (fills[0].id.as_str(), fills[0].qty, fills[0].price, fills[0].leaves),
            ("spy-r1-8", dec!(10), dec!(500), dec!(0))
        );
    });
    assert_eq!((fake.orders().len(), posts(&fake)), (1, 1));
}

#[test]
fn alpaca_lookups_read_the_account_symbols_quotes_and_the_whole_option_chain() {
    let first = chrono::NaiveDate::from_ymd_opt(2025, 1, 3).unwrap();
    // 25 weekly expirations × 21 strikes × call and put: more than one page of 1000.
    let expirations: Vec<_> = (0..25).map(|w| first + chrono::Days::new(7 * w)).collect();
    let fake = FakeAlpaca::start(FakeConfig::default().with_spy_chain(dec!(590), &expirations));
    let cfg = config(&fake);
    let quoted = "SPY250103C00591000";
    fake.set_option_quote(quoted, dec!(2.41), dec!(2.47));
    fake.publish_quote("SPY", Utc::now(), dec!(590.01), dec!(3), dec!(590.03), dec!(7));
    runtime().block_on(async {
        let a = lookups::check_account(&cfg).await.expect("the account");
        assert_eq!((a.cash, a.buying_power, a.trading_blocked), (dec!(100000), dec!(200000), false));
        assert_eq!(lookups::asset_tradable(&cfg, "SPY").await, Ok(lookups::AssetStatus::Tradable));
        assert_eq!(lookups::asset_tradable(&cfg, "NOPE").await, Ok(lookups::AssetStatus::Unknown));
        assert_eq!(lookups::asset_tradable(&cfg, quoted).await, Ok(lookups::AssetStatus::Tradable));
        let q = lookups::latest_quote(&cfg, "SPY").await.expect("a quote");
        assert_eq!(
            (q.bid.to_string(), q.ask.to_string(), q.ask_size),
            ("590.01".into(), "590.03".into(), dec!(7))
        );
        let all = lookups::ContractQuery {
            underlying: "SPY".into(),
            expiry_from: first,
            expiry_to: *expirations.last().unwrap(),
            strike_min: None,
            strike_max: None,
            right: None,
        };
        let chain = lookups::option_contracts(&cfg, &all).await.expect("the chain");
        assert_eq!(chain.len(), 25 * 21 * 2);
        let narrow = lookups::ContractQuery {
            expiry_to: first,
            strike_min: Some(dec!(589)),
            strike_max: Some(dec!(591)),
            right: Some(runner::options::OptionRight::Call),
            ..all
        };
        let some = lookups::option_contracts(&cfg, &narrow).await.expect("a window of the chain");
        let strikes: Vec<Decimal> = some.iter().map(|c| c.strike).collect();
        assert_eq!(strikes, [dec!(589), dec!(590), dec!(591)]);
        let c = some.iter().find(|c| c.occ == quoted).expect("the quoted contract");
        assert_eq!(
            (c.expiration, c.multiplier, c.tradable, c.underlying.as_str()),
            (first, dec!(100), true, "SPY")
        );
        let quotes =
            lookups::option_snapshots(&cfg, lookups::Snapshots::Underlying("SPY")).await.expect("quotes");
        let q: Vec<_> = quotes.iter().map(|q| (q.occ.as_str(), q.bid, q.ask)).collect();
        assert_eq!(q, [(quoted, dec!(2.41), dec!(2.47))]);
    });
    let pages = fake.requests().iter().filter(|r| r.path == "/v2/options/contracts").count();
    assert_eq!(pages, 3, "two pages for the whole chain, one for the window");
}
