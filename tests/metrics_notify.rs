//! `/metrics` text and webhook notifications (issue 14): the metrics rendered and read back
//! with a strict parser of the Prometheus text format (0.0.4); the notifier driven through a
//! real `Hub` against a local axum receiver on 127.0.0.1 (Slack, Telegram and JSON bodies,
//! retries, `Retry-After`, event filters, a dead webhook); and `runner up` with a fleet file
//! whose webhook secret is a real SOPS file, the fleet loss limit tiny so the kill switch fires.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::support::{Run, repo_root};
use runner::engine::agent::{AgentEvent, StateChange};
use runner::model::account::{Connectivity, Link};
use runner::model::order::{Fill, OrderEvent, OrderKind, OrderRequest, Purpose};
use runner::model::{ClientOrderId, InstrumentId, Side, SymbolId, Timestamp};
use runner::recipe::model::{Notify, NotifyEvent, Webhook, WebhookFormat};
use runner::risk::gate::{DenyReason, OrderDenied};
use runner::runtime::hub::{AgentView, Board, Body, Hub, HubParts, PositionView};
use runner::runtime::metrics::Metrics;
use runner::runtime::notify::{self, NotifySetup};
use runner::secrets::{SecretMap, SecretString, SecretsError};

// ---------------------------------------------------------------------------------------------
// Fixtures

fn view(
    name: &str,
    equity: Decimal,
    today: Decimal,
    total: Decimal,
    realized: Decimal,
    qty: Decimal,
) -> AgentView {
    AgentView {
        name: name.to_owned(),
        recipe: format!("recipes/{name}.yaml"),
        account: format!("paper-{name}"),
        instrument: "SPY".to_owned(),
        run: format!("{name}-r1"),
        state: "active".to_owned(),
        health: "ok".to_owned(),
        position: PositionView { qty, avg_price: dec!(168.5) },
        pnl_today: today,
        pnl_total: total,
        realized,
        equity,
        starting_equity: equity - total,
        last_price: Some(dec!(168.7)),
        last_data: Some("2013-10-07T15:00:00Z".to_owned()),
        data_age_seconds: 1.5,
        last_signal: None,
        venue: "connected".to_owned(),
        orders: 3,
        fills: 2,
        denials: 1,
        feed_latency: None,
    }
}

fn order(id: &str) -> OrderRequest {
    OrderRequest {
        id: ClientOrderId::from(id),
        symbol: SymbolId(0),
        instrument: InstrumentId::from("SPY"),
        side: Side::Buy,
        qty: dec!(100),
        kind: OrderKind::Market,
        purpose: Purpose::Entry,
        ref_price: dec!(168.5),
        ts: Timestamp(0),
        expire_at: None,
    }
}

fn fill(id: &str, leaves: Decimal) -> Fill {
    Fill {
        id: ClientOrderId::from(id),
        symbol: SymbolId(0),
        instrument: InstrumentId::from("SPY"),
        side: Side::Buy,
        qty: dec!(50),
        price: dec!(168.5),
        commission: dec!(0.25),
        leaves,
        purpose: Purpose::Entry,
        ts: Timestamp(0),
    }
}

fn denied(reason: DenyReason) -> AgentEvent {
    AgentEvent::Denied(OrderDenied { order: order("x-1"), reason, message: "no room".to_owned() })
}

fn ts() -> Timestamp {
    Timestamp(1_381_150_800_000_000_000)
}

// ---------------------------------------------------------------------------------------------
// A strict reader of the Prometheus text exposition format, version 0.0.4

#[derive(Debug, Default)]
struct Family {
    kind: String,
    help: Option<String>,
    samples: Vec<Sample>,
}

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse::<f64>().map_err(|_| format!("bad value `{s}`")),
    }
}

/// `name{a="x",b="y"} value [timestamp]`.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name `{name}`"));
    }
    let rest = &line[name_end..];
    match rest.strip_prefix('{') {
        Some(r) => match r.strip_prefix('}') {
            Some(t) => finish_sample(name, t, BTreeMap::new()),
            None => parse_labels_tail(name, r, BTreeMap::new()),
        },
        None => finish_sample(name, rest, BTreeMap::new()),
    }
}

/// A label list from its next label name on, to the end of the line.
fn parse_labels_tail(name: &str, r: &str, mut labels: BTreeMap<String, String>) -> Result<Sample, String> {
    let eq = r.find('=').ok_or("label without =")?;
    let lname = &r[..eq];
    if !is_label_name(lname) {
        return Err(format!("bad label name `{lname}`"));
    }
    let after = r[eq + 1..].strip_prefix('"').ok_or("label value not quoted")?;
    let mut value = String::new();
    let mut it = after.char_indices();
    let end = loop {
        let (j, ch) = it.next().ok_or("unterminated label value")?;
        match ch {
            '\\' => {
                let (_, e) = it.next().ok_or("dangling escape")?;
                value.push(match e {
                    '\\' => '\\',
                    '"' => '"',
                    'n' => '\n',
                    _ => return Err(format!("bad escape \\{e}")),
                });
            }
            '"' => break j,
            '\n' => return Err("newline in label value".into()),
            c => value.push(c),
        }
    };
    if labels.insert(lname.to_owned(), value).is_some() {
        return Err(format!("label `{lname}` twice"));
    }
    let tail = &after[end + 1..];
    if let Some(t) = tail.strip_prefix(',') {
        if let Some(t) = t.strip_prefix('}') {
            return finish_sample(name, t, labels);
        }
        return parse_labels_tail(name, t, labels);
    }
    let t = tail.strip_prefix('}').ok_or("expected , or } after a label")?;
    finish_sample(name, t, labels)
}

fn finish_sample(name: &str, rest: &str, labels: BTreeMap<String, String>) -> Result<Sample, String> {
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut parts = rest.split(' ');
    let value = parse_value(parts.next().ok_or("no value")?)?;
    if let Some(t) = parts.next() {
        t.parse::<i64>().map_err(|_| format!("bad timestamp `{t}`"))?;
    }
    if parts.next().is_some() {
        return Err("trailing text".into());
    }
    Ok(Sample { name: name.to_owned(), labels, value })
}

/// Which family a sample name belongs to, given the declared ones.
fn family_of<'a>(name: &'a str, families: &HashMap<String, Family>) -> Option<&'a str> {
    if families.contains_key(name) {
        return Some(name);
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && families.get(base).is_some_and(|f| f.kind == "histogram" || f.kind == "summary")
        {
            return Some(base);
        }
    }
    None
}

/// Parse the whole text strictly: every sample has a declared family (`# TYPE` before its
/// samples), families are not interleaved, no series twice, histograms are cumulative with a
/// `+Inf` bucket equal to `_count`, counters end in `_total` and are never negative.
fn parse_exposition(text: &str) -> Result<HashMap<String, Family>, String> {
    let mut families: HashMap<String, Family> = HashMap::new();
    let mut finished: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    if !text.ends_with('\n') {
        return Err("the text must end with a newline".into());
    }
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            let mut words = c.trim_start().splitn(3, ' ');
            match words.next() {
                Some("TYPE") => {
                    let name = words.next().ok_or_else(|| at("TYPE without a name".into()))?;
                    let kind = words.next().ok_or_else(|| at("TYPE without a type".into()))?;
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(at(format!("unknown type {kind}")));
                    }
                    if !is_metric_name(name) {
                        return Err(at("bad metric name".into()));
                    }
                    let f = families.entry(name.to_owned()).or_default();
                    if !f.kind.is_empty() || !f.samples.is_empty() {
                        return Err(at("TYPE twice, or after samples".into()));
                    }
                    f.kind = kind.to_owned();
                }
                Some("HELP") => {
                    let name = words.next().ok_or_else(|| at("HELP without a name".into()))?;
                    let help = words.next().unwrap_or("").to_owned();
                    let f = families.entry(name.to_owned()).or_default();
                    if f.help.replace(help).is_some() {
                        return Err(at("HELP twice".into()));
                    }
                }
                _ => {}
            }
            continue;
        }
        let s = parse_sample(line).map_err(at)?;
        let fam = family_of(&s.name, &families).ok_or_else(|| at("sample of an undeclared family".into()))?;
        if current.as_deref() != Some(fam) {
            if finished.iter().any(|f| f == fam) {
                return Err(at("family interleaved with another".into()));
            }
            if let Some(c) = current.take() {
                finished.push(c);
            }
            current = Some(fam.to_owned());
        }
        if !seen.insert((s.name.clone(), s.labels.clone())) {
            return Err(at("series twice".into()));
        }
        let f = families.get_mut(fam).expect("declared");
        if f.kind.is_empty() {
            return Err(at("samples before TYPE".into()));
        }
        if f.kind == "counter" && (!s.name.ends_with("_total") || s.value < 0.0) {
            return Err(at("a counter sample must end in _total and be >= 0".into()));
        }
        f.samples.push(s);
    }
    // Histograms: cumulative buckets, +Inf == count, per label set.
    for (name, f) in &families {
        if f.kind != "histogram" {
            continue;
        }
        let mut series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        let mut counts = BTreeMap::new();
        for s in &f.samples {
            let mut key = s.labels.clone();
            if s.name.ends_with("_bucket") {
                let le = key.remove("le").ok_or(format!("{name}: bucket without le"))?;
                series.entry(key).or_default().push((parse_value(&le)?, s.value));
            } else if s.name.ends_with("_count") {
                counts.insert(key, s.value);
            }
        }
        for (key, b) in &series {
            if b.windows(2).any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1) {
                return Err(format!("{name}{key:?}: buckets not increasing/cumulative"));
            }
            let last = b.last().ok_or("no buckets")?;
            if last.0 != f64::INFINITY || Some(&last.1) != counts.get(key) {
                return Err(format!("{name}{key:?}: +Inf bucket must equal _count"));
            }
        }
    }
    Ok(families)
}

fn value(f: &HashMap<String, Family>, family: &str, sample: &str, labels: &[(&str, &str)]) -> Option<f64> {
    f.get(family)?
        .samples
        .iter()
        .find(|s| {
            s.name == sample
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

#[test]
fn the_strict_reader_refuses_broken_text() {
    for bad in [
        "runner_x 1\n",                                                      // no TYPE
        "# TYPE runner_x gauge\nrunner_x{a=\"1\"} 1\nrunner_x{a=\"1\"} 2\n", // series twice
        "# TYPE runner_x gauge\nrunner_x{a=1} 1\n",                          // unquoted
        "# TYPE runner_x counter\nrunner_x 1\n",                             // counter without _total
        "# TYPE runner_x gauge\nrunner_x one\n",                             // bad value
        "# TYPE runner_h histogram\nrunner_h_bucket{le=\"1\"} 2\nrunner_h_bucket{le=\"+Inf\"} 1\nrunner_h_count 1\n",
        "# TYPE runner_a gauge\n# TYPE runner_b gauge\nrunner_a 1\nrunner_b 1\nrunner_a{x=\"y\"} 1\n",
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted: {bad}");
    }
    let ok = "# HELP runner_x_total Things.\n# TYPE runner_x_total counter\nrunner_x_total{a=\"q\\\"\\\\\\n\",b=\"2\"} 3\n";
    let f = parse_exposition(ok).unwrap();
    assert_eq!(value(&f, "runner_x_total", "runner_x_total", &[("a", "q\"\\\n"), ("b", "2")]), Some(3.0));
}

#[test]
fn metrics_render_as_strict_prometheus_text_with_the_agents_numbers() {
    let names = vec!["spy-9ma".to_owned(), "qqq \"odd\"".to_owned()];
    let m = Metrics::new(&names);
    m.set_loss_limit(Some(dec!(500)));
    // Agent 0: an order's life, a partial and a full fill, a rejection, a reconnect.
    for ev in [
        AgentEvent::OrderSent(order("a-1")),
        AgentEvent::Order(OrderEvent::Submitted { id: "a-1".into(), ts: ts() }),
        AgentEvent::Order(OrderEvent::Accepted { id: "a-1".into(), ts: ts() }),
        AgentEvent::Order(OrderEvent::PartiallyFilled(fill("a-1", dec!(50)))),
        AgentEvent::Order(OrderEvent::Filled(fill("a-1", dec!(0)))),
        AgentEvent::Order(OrderEvent::Rejected { id: "a-2".into(), ts: ts(), reason: "no".into() }),
        AgentEvent::Connectivity(Connectivity::Up { link: Link::Feed, ts: ts() }),
        AgentEvent::Connectivity(Connectivity::Down { link: Link::Feed, ts: ts(), reason: "eof".into() }),
        AgentEvent::Connectivity(Connectivity::Up { link: Link::Feed, ts: ts() }),
        AgentEvent::Info { ts: ts(), message: "hello".into() },
    ] {
        m.on_event(0, &ev);
    }
    // Agent 1: denials by reason; an out-of-range agent index is ignored.
    m.on_event(1, &denied(DenyReason::MaxPosition));
    m.on_event(1, &denied(DenyReason::MaxPosition));
    m.on_event(1, &denied(DenyReason::Compliance("pdt-limit")));
    m.on_event(7, &denied(DenyReason::Halted));
    m.observe_feed_latency(0, 0.003);
    m.observe_feed_latency(0, 0.003);
    m.observe_feed_latency(0, 42.0);
    m.observe_journal_write(1, 0.0002);
    let mut b = view(&names[1], dec!(99000), dec!(-1000.25), dec!(-1000), dec!(-250), dec!(-10));
    b.state = "halted".into();
    b.health = "unhealthy: venue disconnected for 40s".into();
    let agents = vec![view(&names[0], dec!(50123.45), dec!(123.45), dec!(123.45), dec!(100), dec!(100)), b];
    let text = m.render(&agents, &[0.25, 3.0]);
    let f = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));

    let types = [
        ("runner_orders_total", "counter"),
        ("runner_denials_total", "counter"),
        ("runner_fills_total", "counter"),
        ("runner_reconnects_total", "counter"),
        ("runner_feed_latency_seconds", "histogram"),
        ("runner_journal_write_seconds", "histogram"),
        ("runner_equity_dollars", "gauge"),
        ("runner_pnl_today_dollars", "gauge"),
        ("runner_pnl_total_dollars", "gauge"),
        ("runner_realized_pnl_dollars", "gauge"),
        ("runner_unrealized_pnl_dollars", "gauge"),
        ("runner_position", "gauge"),
        ("runner_data_age_seconds", "gauge"),
        ("runner_loop_lag_seconds", "gauge"),
        ("runner_agent_healthy", "gauge"),
        ("runner_agent_state", "gauge"),
        ("runner_fleet_agents", "gauge"),
        ("runner_fleet_pnl_today_dollars", "gauge"),
        ("runner_fleet_pnl_total_dollars", "gauge"),
        ("runner_fleet_loss_limit_dollars", "gauge"),
    ];
    for (name, kind) in types {
        let fam = f.get(name).unwrap_or_else(|| panic!("no {name}\n{text}"));
        assert_eq!(fam.kind, kind, "{name}");
        assert!(fam.help.as_deref().is_some_and(|h| !h.is_empty()), "{name} has no help");
    }
    let a = names[0].as_str();
    let q = names[1].as_str();
    let orders =
        |status| value(&f, "runner_orders_total", "runner_orders_total", &[("agent", a), ("status", status)]);
    for (status, n) in [
        ("submitted", 1.0),
        ("accepted", 1.0),
        ("partially_filled", 1.0),
        ("filled", 1.0),
        ("rejected", 1.0),
        ("canceled", 0.0),
        ("expired", 0.0),
    ] {
        assert_eq!(orders(status), Some(n), "{status}");
    }
    assert_eq!(value(&f, "runner_fills_total", "runner_fills_total", &[("agent", a)]), Some(2.0));
    assert_eq!(value(&f, "runner_fills_total", "runner_fills_total", &[("agent", q)]), Some(0.0));
    let reconnects = |link| {
        value(&f, "runner_reconnects_total", "runner_reconnects_total", &[("agent", a), ("link", link)])
    };
    assert_eq!(reconnects("feed"), Some(1.0), "an Up without a Down before it is no reconnect");
    assert_eq!(reconnects("venue"), Some(0.0));
    let denials = |reason| {
        value(&f, "runner_denials_total", "runner_denials_total", &[("agent", q), ("reason", reason)])
    };
    assert_eq!(denials("max-position"), Some(2.0));
    assert_eq!(denials("pdt-limit"), Some(1.0));
    assert_eq!(f["runner_denials_total"].samples.len(), 2, "{text}");
    // The feed latency histogram: two in (0.0025, 0.005], one past every bound.
    let h = "runner_feed_latency_seconds";
    let bucket = |le| value(&f, h, "runner_feed_latency_seconds_bucket", &[("agent", a), ("le", le)]);
    assert_eq!(bucket("0.0025"), Some(0.0));
    assert_eq!(bucket("0.005"), Some(2.0));
    assert_eq!(bucket("10"), Some(2.0));
    assert_eq!(bucket("+Inf"), Some(3.0));
    let sum = value(&f, h, "runner_feed_latency_seconds_sum", &[("agent", a)]).unwrap();
    assert!((sum - 42.006).abs() < 1e-6, "{sum}");
    assert_eq!(
        value(&f, "runner_journal_write_seconds", "runner_journal_write_seconds_count", &[("agent", q)]),
        Some(1.0)
    );
    // Gauges: the views' numbers at scrape time.
    let g = |fam: &str, agent| value(&f, fam, fam, &[("agent", agent)]);
    assert_eq!(g("runner_equity_dollars", a), Some(50123.45));
    assert_eq!(g("runner_pnl_today_dollars", q), Some(-1000.25));
    assert_eq!(g("runner_realized_pnl_dollars", q), Some(-250.0));
    assert_eq!(g("runner_unrealized_pnl_dollars", q), Some(-750.0));
    assert_eq!(g("runner_position", q), Some(-10.0));
    assert_eq!(g("runner_data_age_seconds", a), Some(1.5));
    assert_eq!(g("runner_loop_lag_seconds", q), Some(3.0));
    assert_eq!(g("runner_agent_healthy", a), Some(1.0));
    assert_eq!(g("runner_agent_healthy", q), Some(0.0));
    let state = |s| value(&f, "runner_agent_state", "runner_agent_state", &[("agent", q), ("state", s)]);
    assert_eq!(state("halted"), Some(1.0));
    assert_eq!(state("active"), Some(0.0));
    let fleet = |fam: &str| value(&f, fam, fam, &[]);
    assert_eq!(fleet("runner_fleet_agents"), Some(2.0));
    assert_eq!(fleet("runner_fleet_pnl_today_dollars"), Some(-876.8));
    assert_eq!(fleet("runner_fleet_loss_limit_dollars"), Some(500.0));

    // A later scrape shows the later numbers; without a loss limit, no such metric.
    m.set_loss_limit(None);
    let agents = vec![
        view(a, dec!(1), dec!(2), dec!(3), dec!(1), dec!(0)),
        view(q, dec!(1), dec!(0), dec!(0), dec!(0), dec!(0)),
    ];
    let f = parse_exposition(&m.render(&agents, &[0.0, 0.0])).unwrap();
    assert_eq!(value(&f, "runner_equity_dollars", "runner_equity_dollars", &[("agent", a)]), Some(1.0));
    assert!(!f.contains_key("runner_fleet_loss_limit_dollars"));
}

// ---------------------------------------------------------------------------------------------
// The webhook receiver

/// What the receiver answers next for a webhook (then 200).
#[derive(Debug, Clone)]
enum Reply {
    Status(u16),
    TooMany {
        retry_after: &'static str,
    },
    /// Hang until released.
    Hang,
}

#[derive(Default)]
pub(crate) struct Inbox {
    got: Mutex<Vec<(String, Value, Instant)>>,
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    release: tokio::sync::Notify,
    released: std::sync::atomic::AtomicBool,
}

impl Inbox {
    pub(crate) fn bodies(&self, hook: &str) -> Vec<Value> {
        self.got.lock().unwrap().iter().filter(|(h, _, _)| h == hook).map(|(_, b, _)| b.clone()).collect()
    }

    fn times(&self, hook: &str) -> Vec<Instant> {
        self.got.lock().unwrap().iter().filter(|(h, _, _)| h == hook).map(|(_, _, t)| *t).collect()
    }

    fn script(&self, hook: &str, replies: &[Reply]) {
        self.script.lock().unwrap().insert(hook.to_owned(), replies.iter().cloned().collect());
    }
}

async fn receive(State(inbox): State<Arc<Inbox>>, UrlPath(hook): UrlPath<String>, body: String) -> Response {
    let value: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    inbox.got.lock().unwrap().push((hook.clone(), value, Instant::now()));
    let next = inbox.script.lock().unwrap().get_mut(&hook).and_then(VecDeque::pop_front);
    match next {
        None => StatusCode::OK.into_response(),
        Some(Reply::Status(s)) => StatusCode::from_u16(s).unwrap().into_response(),
        Some(Reply::TooMany { retry_after }) => {
            let mut h = HeaderMap::new();
            h.insert("retry-after", retry_after.parse().unwrap());
            (StatusCode::TOO_MANY_REQUESTS, h, "slow down").into_response()
        }
        Some(Reply::Hang) => {
            while !inbox.released.load(std::sync::atomic::Ordering::SeqCst) {
                inbox.release.notified().await;
            }
            StatusCode::OK.into_response()
        }
    }
}

/// A receiver on 127.0.0.1: its base URL (`http://127.0.0.1:PORT`) and what it got.
pub(crate) async fn receiver() -> (String, Arc<Inbox>) {
    let inbox = Arc::new(Inbox::default());
    let app = axum::Router::new()
        .route("/hook/{name}", axum::routing::post(receive))
        .with_state(Arc::clone(&inbox));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), inbox)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// A hub with a small board

struct TestBoard(Vec<AgentView>);

impl Board for TestBoard {
    fn agents(&self) -> Vec<AgentView> {
        self.0.clone()
    }
    fn loop_lag(&self) -> Vec<f64> {
        vec![0.0; self.0.len()]
    }
}

fn hub() -> Arc<Hub> {
    let (halt, _) = tokio::sync::watch::channel(None);
    let agents = vec![view("spy-9ma", dec!(50000), dec!(0), dec!(0), dec!(0), dec!(0))];
    Arc::new(Hub::new(HubParts {
        board: Box::new(TestBoard(agents)),
        controls: HashMap::new(),
        halt: Arc::new(halt),
        loss_limit: Some(dec!(20)),
        journal: "j.db".into(),
        runs_dir: "runs".into(),
        names: vec!["spy-9ma".into()],
    }))
}

fn webhook(name: &str, format: WebhookFormat, events: &[NotifyEvent]) -> Webhook {
    Webhook { name: name.to_owned(), format, credentials: format!("{name}-secret"), events: events.to_vec() }
}

/// A setup whose secrets point at `base`/hook/NAME (chat id `-100123`).
fn setup(base: &str, hooks: Vec<Webhook>, disconnected_seconds: Option<u32>) -> NotifySetup {
    let n = Notify { webhooks: hooks, disconnected_seconds, daily_summary_at: None };
    notify::setup_with(Some(&n), |cred| {
        let name = cred.strip_suffix("-secret").unwrap();
        let mut m = SecretMap::new();
        m.insert("url", SecretString::from(format!("{base}/hook/{name}")));
        m.insert("chat_id", SecretString::from("-100123"));
        Ok(m)
    })
    .unwrap()
    .unwrap()
    .with_retry(Duration::from_millis(20), 5)
}

fn state(state: StateChange, reason: &str) -> Body {
    Body::Agent(AgentEvent::State { ts: ts(), state, reason: reason.to_owned() })
}

fn rejected(id: &str) -> Body {
    Body::Agent(AgentEvent::Order(OrderEvent::Rejected {
        id: id.into(),
        ts: ts(),
        reason: "insufficient buying power".into(),
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kill_switch_reaches_slack_telegram_and_json_webhooks() {
    let (base, inbox) = receiver().await;
    let hub = hub();
    let hooks = vec![
        webhook("slack", WebhookFormat::Slack, &[]),
        webhook("tg", WebhookFormat::Telegram, &[]),
        webhook("js", WebhookFormat::Json, &[]),
    ];
    let n = notify::start(Arc::clone(&hub), Some(setup(&base, hooks, None))).expect("a notifier");
    let reason = hub.halt_fleet("http 127.0.0.1:5000");
    wait_for("three bodies", || ["slack", "tg", "js"].iter().all(|h| inbox.bodies(h).len() == 1)).await;
    let text = format!("Fleet kill switch: every agent halted: {reason}");
    assert_eq!(inbox.bodies("slack")[0], json!({ "text": text }));
    assert_eq!(
        inbox.bodies("tg")[0],
        json!({ "chat_id": "-100123", "text": text, "disable_web_page_preview": true })
    );
    let js = &inbox.bodies("js")[0];
    assert_eq!(js["event"], "kill-switch");
    assert_eq!(js["agent"], "");
    assert_eq!(js["text"], text.as_str());
    assert_eq!(js["details"], json!({ "reason": reason }));
    let at = js["at"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok() && at.ends_with('Z'), "{at}");
    n.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_retried_and_a_429_waits_for_its_retry_after() {
    let (base, inbox) = receiver().await;
    inbox.script("flaky", &[Reply::Status(500), Reply::Status(503)]);
    inbox.script("busy", &[Reply::TooMany { retry_after: "1" }]);
    inbox.script("gone", &[Reply::Status(404)]);
    let hub = hub();
    let hooks = vec![
        webhook("flaky", WebhookFormat::Slack, &[]),
        webhook("busy", WebhookFormat::Slack, &[]),
        webhook("gone", WebhookFormat::Slack, &[]),
    ];
    let n = notify::start(Arc::clone(&hub), Some(setup(&base, hooks, None))).unwrap();
    hub.emit("spy-9ma", state(StateChange::Halted, "daily loss limit 500 reached"));
    wait_for("the retries", || inbox.bodies("flaky").len() == 3 && inbox.bodies("busy").len() == 2).await;
    let flaky = inbox.bodies("flaky");
    assert!(
        flaky.iter().all(|b| *b == json!({ "text": "spy-9ma halted: daily loss limit 500 reached" })),
        "{flaky:?}"
    );
    let t = inbox.times("flaky");
    // Back-off: 20 ms then 40 ms (plus jitter) between the attempts.
    assert!(t[1] - t[0] >= Duration::from_millis(20) && t[2] - t[1] >= Duration::from_millis(40), "{t:?}");
    let t = inbox.times("busy");
    assert!(t[1] - t[0] >= Duration::from_millis(950), "Retry-After: 1 not honoured: {:?}", t[1] - t[0]);
    // A 404 is final: one attempt only.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(inbox.bodies("gone").len(), 1);
    assert_eq!(inbox.bodies("flaky").len(), 3);
    n.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_webhook_gets_only_the_events_it_asked_for() {
    let (base, inbox) = receiver().await;
    let hub = hub();
    let hooks = vec![
        webhook("halts", WebhookFormat::Json, &[NotifyEvent::Halt]),
        webhook("rejects", WebhookFormat::Json, &[NotifyEvent::OrderRejected]),
        webhook("links", WebhookFormat::Json, &[NotifyEvent::Disconnected, NotifyEvent::Reconciliation]),
    ];
    let n = notify::start(Arc::clone(&hub), Some(setup(&base, hooks, Some(1)))).unwrap();
    hub.emit("spy-9ma", Body::Agent(AgentEvent::OrderSent(order("spy-r1-7"))));
    hub.emit("spy-9ma", rejected("spy-r1-7"));
    hub.emit("spy-9ma", state(StateChange::Disabled, "disabled by http 127.0.0.1:1"));
    hub.emit("spy-9ma", state(StateChange::ReduceOnly, "not notified"));
    hub.emit("spy-9ma", state(StateChange::Active, "not notified"));
    hub.halt_fleet("test");
    hub.emit(
        "spy-9ma",
        Body::Agent(AgentEvent::Warning { ts: ts(), message: "fill for an order it never sent: x-9".into() }),
    );
    hub.emit("spy-9ma", Body::Agent(AgentEvent::Warning { ts: ts(), message: "no option contract".into() }));
    // The feed drops and comes back within the second: nothing; the venue stays down: notified.
    let down = |link| {
        Body::Agent(AgentEvent::Connectivity(Connectivity::Down { link, ts: ts(), reason: "eof".into() }))
    };
    hub.emit("spy-9ma", down(Link::Feed));
    hub.emit(
        "spy-9ma",
        Body::Agent(AgentEvent::Connectivity(Connectivity::Up { link: Link::Feed, ts: ts() })),
    );
    hub.emit("spy-9ma", down(Link::Venue));
    wait_for("the disconnection", || inbox.bodies("links").len() == 2).await;
    hub.emit(
        "spy-9ma",
        Body::Agent(AgentEvent::Connectivity(Connectivity::Up { link: Link::Venue, ts: ts() })),
    );
    wait_for("the reconnection", || inbox.bodies("links").len() == 3).await;
    n.finish().await;

    let halts = inbox.bodies("halts");
    assert_eq!(halts.len(), 1, "{halts:?}");
    assert_eq!(halts[0]["event"], "halt");
    assert_eq!(halts[0]["text"], "spy-9ma disabled: disabled by http 127.0.0.1:1");
    assert_eq!(halts[0]["details"]["kind"], "state");
    let rejects = inbox.bodies("rejects");
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(rejects[0]["event"], "order-rejected");
    assert_eq!(rejects[0]["agent"], "spy-9ma");
    assert_eq!(
        rejects[0]["text"],
        "spy-9ma: order spy-r1-7 (buy 100 SPY) rejected by the venue: insufficient buying power"
    );
    let links = inbox.bodies("links");
    assert_eq!(links[0]["event"], "reconciliation");
    assert_eq!(links[1]["event"], "disconnected");
    assert_eq!(links[1]["details"]["link"], "venue");
    assert!(
        links[1]["text"].as_str().unwrap().starts_with("spy-9ma: venue disconnected for 1s (eof)"),
        "{links:?}"
    );
    assert_eq!(links[2]["details"]["state"], "up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_webhook_never_holds_up_the_bus_or_the_other_webhooks() {
    let (base, inbox) = receiver().await;
    inbox.script("dead", &[Reply::Hang]);
    let hub = hub();
    let hooks = vec![webhook("dead", WebhookFormat::Slack, &[]), webhook("live", WebhookFormat::Slack, &[])];
    let n = notify::start(Arc::clone(&hub), Some(setup(&base, hooks, None).with_queue(2))).unwrap();
    hub.emit("a1", state(StateChange::Halted, "one"));
    // The dead webhook holds the first notification...
    wait_for("the first delivery to hang", || inbox.bodies("dead").len() == 1).await;
    // ...while the bus and the live webhook go on; the dead one's queue keeps the newest two.
    // (one at a time, so the live webhook's own small queue never overflows).
    for i in 2..=5 {
        hub.emit(&format!("a{i}"), state(StateChange::Halted, "more"));
        wait_for("the live webhook", || inbox.bodies("live").len() == i).await;
    }
    wait_for("the drops to be counted", || n.dropped("dead") == 2).await;
    assert_eq!(n.dropped("live"), 0);
    inbox.released.store(true, std::sync::atomic::Ordering::SeqCst);
    inbox.release.notify_waiters();
    wait_for("the dead webhook's queue", || inbox.bodies("dead").len() == 3).await;
    let texts: Vec<_> = inbox.bodies("dead").iter().map(|b| b["text"].as_str().unwrap().to_owned()).collect();
    assert_eq!(texts, ["a1 halted: one", "a4 halted: more", "a5 halted: more"]);
    n.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finishing_gives_up_on_a_hung_webhook_after_a_few_seconds() {
    let (base, inbox) = receiver().await;
    inbox.script("dead", &[Reply::Hang]);
    let hub = hub();
    let n = notify::start(
        Arc::clone(&hub),
        Some(setup(&base, vec![webhook("dead", WebhookFormat::Json, &[])], None)),
    )
    .unwrap();
    hub.halt_fleet("test");
    wait_for("the delivery to hang", || inbox.bodies("dead").len() == 1).await;
    let t0 = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), n.finish()).await.expect("finish returns");
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "finish gave the delivery its chance: {:?}",
        t0.elapsed()
    );
}

#[test]
fn setup_errors_name_the_webhook_and_never_a_secret_value() {
    let n = |format, daily: Option<&str>| Notify {
        webhooks: vec![webhook("desk", format, &[])],
        disconnected_seconds: None,
        daily_summary_at: daily.map(|d| d.parse().expect("a test time")),
    };
    let with = |pairs: &'static [(&'static str, &'static str)]| {
        move |_: &str| -> Result<SecretMap, SecretsError> {
            let mut m = SecretMap::new();
            for (k, v) in pairs {
                m.insert(*k, SecretString::from(*v));
            }
            Ok(m)
        }
    };
    let e = notify::setup_with(Some(&n(WebhookFormat::Slack, None)), with(&[("token", "tok-SECRET-1")]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "notify webhook `desk`: the credentials `desk-secret` have no `url` (the webhook's address)"
    );
    let e = notify::setup_with(
        Some(&n(WebhookFormat::Slack, None)),
        with(&[("url", "hooks.example/tok-SECRET-2")]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("is not an http(s) URL") && !e.contains("SECRET"), "{e}");
    let e = notify::setup_with(
        Some(&n(WebhookFormat::Telegram, None)),
        with(&[("url", "https://api.example/botSECRET/x")]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("telegram webhook needs `chat_id`") && !e.contains("SECRET"), "{e}");
    let ok = notify::setup_with(
        Some(&n(WebhookFormat::Json, Some("16:30"))),
        with(&[("url", "https://h.example/SECRET")]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(ok.webhooks(), ["desk"]);
    assert!(!format!("{ok:?}").contains("SECRET"), "{ok:?}");
    assert!(notify::setup_with(None, with(&[])).unwrap().is_none());
}

#[test]
fn the_daily_summary_goes_out_after_the_close_on_trading_days() {
    let at = chrono::NaiveTime::from_hms_opt(16, 15, 0).unwrap();
    let utc = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
    // A Friday morning: that afternoon (EDT, UTC-4).
    assert_eq!(notify::next_summary(utc("2024-07-05T14:00:00Z"), at), utc("2024-07-05T20:15:00Z"));
    // Friday after it: Monday.
    assert_eq!(notify::next_summary(utc("2024-07-05T21:00:00Z"), at), utc("2024-07-08T20:15:00Z"));
    // Before Independence Day: the 4th is skipped.
    assert_eq!(notify::next_summary(utc("2024-07-03T21:00:00Z"), at), utc("2024-07-05T20:15:00Z"));
    // Winter (EST, UTC-5).
    assert_eq!(notify::next_summary(utc("2024-01-10T12:00:00Z"), at), utc("2024-01-10T21:15:00Z"));

    let mut b = view("qqq", dec!(10000), dec!(-12.5), dec!(-12.5), dec!(0), dec!(-5));
    b.state = "halted".into();
    let n = notify::summary(
        &[view("spy", dec!(50100), dec!(100.25), dec!(100.25), dec!(100), dec!(0)), b],
        "t".into(),
    );
    assert_eq!(n.event, NotifyEvent::DailySummary);
    assert_eq!(
        n.text,
        "Daily summary, 2 agent(s):\n\
         spy: P&L today 100.25, run 100.25, 3 order(s), 2 fill(s), 1 denial(s), position flat, active\n\
         qqq: P&L today -12.5, run -12.5, 3 order(s), 2 fill(s), 1 denial(s), position -5 @ 168.5, halted\n\
         Fleet P&L today 87.75"
    );
    assert_eq!(n.details["agents"][1]["pnl_today"], "-12.5");
}

// ---------------------------------------------------------------------------------------------
// End to end

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn runner_up_sends_the_kill_switch_to_a_webhook_from_the_vault() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (base, inbox) = rt.block_on(receiver());
    let dir = tempfile::tempdir().unwrap();
    let id = age::x25519::Identity::generate();
    let key_file = dir.path().join("age-key.txt");
    std::fs::write(&key_file, format!("# throwaway test key\n{}\n", id.to_string().expose_secret())).unwrap();
    std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
    let plain = dir.path().join("plain.yaml");
    std::fs::write(&plain, format!("url: \"{base}/hook/desk?token=tok-SECRET-42\"\n")).unwrap();
    Run::new(["secrets", "encrypt", "--age"])
        .arg(id.to_public().to_string())
        .args(["--output", "secrets/desk-hook.sops.yaml", "plain.yaml"])
        .dir(dir.path())
        .run()
        .success();
    std::fs::remove_file(plain).unwrap();
    let fleet = dir.path().join("runner.yaml");
    std::fs::write(
        &fleet,
        "version: 1\ndaily_loss_limit: 20\nsecrets_dir: secrets\n\
         notify:\n  webhooks:\n    - name: desk\n      format: json\n      credentials: desk-hook\n      events: [kill-switch]\n",
    )
    .unwrap();
    let root = repo_root();
    let out = Run::new(["up"])
        .arg(root.join("tests/fixtures/fleet/a.yaml"))
        .arg(root.join("tests/fixtures/fleet/b.yaml"))
        .args(["--speed", "max", "--fleet", s(&fleet)])
        .args(["--journal", s(&dir.path().join("j.db")), "--state-dir", s(&dir.path().join("state"))])
        .env("SOPS_AGE_KEY_FILE", &key_file)
        .env("HOME", dir.path())
        .env("RUST_LOG", "debug")
        .run()
        .success();
    assert!(out.stdout.contains("fleet halt: fleet daily loss limit 20 reached"), "{}", out.stdout);
    // Delivered before `runner up` exited.
    let got = inbox.bodies("desk");
    assert!(!got.is_empty(), "no notification; stderr:\n{}", out.stderr);
    for b in &got {
        assert_eq!(b["event"], "kill-switch", "{got:?}");
        assert!(b["text"].as_str().unwrap().contains("fleet daily loss limit 20 reached"), "{b}");
    }
    // The webhook's token is in no output, even at debug level.
    assert!(!out.stdout.contains("tok-SECRET-42") && !out.stderr.contains("tok-SECRET-42"), "{}", out.stderr);
    drop(rt);
}

#[test]
fn a_bad_summary_time_is_refused_by_validate_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("runner.yaml");
    std::fs::write(
        &fleet,
        "version: 1\nnotify:\n  daily_summary_at: \"25:99\"\n  webhooks:\n    - name: desk\n      \
         format: slack\n      credentials: desk-hook\n",
    )
    .unwrap();
    let out = Run::new(["validate"]).arg(&fleet).run().code(1);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("runner.yaml:3:21") && text.contains("25:99"), "{text}");
}
