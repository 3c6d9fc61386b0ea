//! Webhook notifications of a running fleet: halts, the kill switch, long disconnections,
//! reconciliation mismatches, rejected orders and a daily summary, as Slack-, Telegram-
//! compatible or plain JSON bodies.
//!
//! What belongs here: decrypting the webhooks' secrets at start ([`setup`]), and the notifier
//! task ([`start`]) that listens to the hub and delivers with retries and back-off on its own
//! task, so a slow or failing webhook never blocks trading.
//!
//! How it runs: one listener task turns hub events into notifications and puts each on the
//! queue of every webhook that wants it; one delivery task per webhook posts them in order.
//! A queue is bounded: when a dead webhook lets it fill, the oldest notification is dropped and
//! counted ([`Notifier::dropped`]). The hub's `emit` never waits on any of this (it is a
//! broadcast send). A delivery is retried on a network error, a timeout, a 5xx or a 429 (after
//! its `Retry-After`), with exponential back-off and jitter; any other answer is final. Logs
//! name the webhook, never its URL (a webhook URL carries its token).

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::hub::{Body, FleetNote, Hub, HubEvent};
use crate::engine::agent::AgentEvent;
use crate::engine::event::StateChange;
use crate::model::account::{Connectivity, Link};
use crate::model::order::OrderEvent;
use crate::recipe::model::{Notify, NotifyEvent, WebhookFormat};
use crate::secrets::{SecretMap, SecretString, SecretsError};

/// A connection down longer than this is notified, unless the fleet file says otherwise.
pub const DEFAULT_DISCONNECTED: Duration = Duration::from_secs(30);
/// When the daily summary goes out (New York time), unless the fleet file says otherwise.
pub const DEFAULT_SUMMARY_AT: &str = "16:15";
/// How long one POST may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `Retry-After` obeyed (a longer one is shortened to this).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Rejected orders whose request is remembered for the message (side, quantity, instrument).
const SENT_REMEMBERED: usize = 256;

/// One webhook with its secrets (in memory only; `Debug` shows neither).
#[derive(Clone)]
struct Hook {
    name: String,
    format: WebhookFormat,
    url: SecretString,
    chat_id: Option<SecretString>,
    /// Empty: everything.
    events: Vec<NotifyEvent>,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl Hook {
    fn wants(&self, ev: NotifyEvent) -> bool {
        self.events.is_empty() || self.events.contains(&ev)
    }
}

/// The fleet file's `notify:` block with each webhook's secrets decrypted (in memory only).
#[derive(Debug, Clone)]
pub struct NotifySetup {
    hooks: Vec<Hook>,
    disconnected_after: Duration,
    summary_at: NaiveTime,
    retry_first: Duration,
    attempts: u32,
    queue: usize,
    grace: Duration,
}

impl NotifySetup {
    /// Retry timing: the first wait (doubled each time, plus up to 25 % jitter) and the most
    /// attempts per notification. Defaults: 1 s, 5.
    pub fn with_retry(mut self, first: Duration, attempts: u32) -> Self {
        self.retry_first = first;
        self.attempts = attempts.max(1);
        self
    }

    /// How many notifications may wait per webhook before the oldest is dropped (default 256).
    pub fn with_queue(mut self, capacity: usize) -> Self {
        self.queue = capacity.max(1);
        self
    }

    /// The webhooks' names, in the fleet file's order.
    pub fn webhooks(&self) -> Vec<&str> {
        self.hooks.iter().map(|h| h.name.as_str()).collect()
    }
}

/// Decrypt the secrets the `notify:` block names; `None` without one.
pub fn setup(notify: Option<&Notify>, secrets_dir: &Path) -> anyhow::Result<Option<NotifySetup>> {
    setup_with(notify, |name| crate::secrets::load(secrets_dir, name))
}

/// [`setup`] with the secrets read by `load` (a credentials name → its keys).
pub fn setup_with(
    notify: Option<&Notify>,
    mut load: impl FnMut(&str) -> Result<SecretMap, SecretsError>,
) -> anyhow::Result<Option<NotifySetup>> {
    let Some(n) = notify else { return Ok(None) };
    // A `ClockTime` in the fleet file: `runner validate` refuses a bad one at its position.
    let summary_at =
        n.daily_summary_at.map_or_else(|| NaiveTime::from_hms_opt(16, 15, 0).expect("a valid time"), |t| t.0);
    let mut hooks = Vec::with_capacity(n.webhooks.len());
    for w in &n.webhooks {
        let what = format!("notify webhook `{}`", w.name);
        let mut secrets = load(&w.credentials)
            .map_err(|e| anyhow::anyhow!("{what}: cannot read its credentials `{}`: {e}", w.credentials))?;
        let url = secrets.remove("url").filter(|u| !u.expose().trim().is_empty()).ok_or_else(|| {
            anyhow::anyhow!(
                "{what}: the credentials `{}` have no `url` (the webhook's address)",
                w.credentials
            )
        })?;
        match reqwest::Url::parse(url.expose().trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            // Never the value: a webhook URL carries its token.
            _ => anyhow::bail!("{what}: the `url` in `{}` is not an http(s) URL", w.credentials),
        }
        let chat_id = secrets.remove("chat_id").filter(|c| !c.expose().trim().is_empty());
        if w.format == WebhookFormat::Telegram && chat_id.is_none() {
            anyhow::bail!(
                "{what}: a telegram webhook needs `chat_id` in the credentials `{}`",
                w.credentials
            );
        }
        hooks.push(Hook {
            name: w.name.clone(),
            format: w.format,
            url: SecretString::new(url.expose().trim().to_owned()),
            chat_id,
            events: w.events.clone(),
        });
    }
    Ok(Some(NotifySetup {
        hooks,
        disconnected_after: n
            .disconnected_seconds
            .map_or(DEFAULT_DISCONNECTED, |s| Duration::from_secs(u64::from(s))),
        summary_at,
        retry_first: Duration::from_secs(1),
        attempts: 5,
        queue: 256,
        grace: Duration::from_secs(3),
    }))
}

/// One notification, as every format draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// What it is about.
    pub event: NotifyEvent,
    /// The agent (`""` for the fleet).
    pub agent: String,
    /// The message, one line or a few.
    pub text: String,
    /// When it happened (RFC 3339 UTC).
    pub at: String,
    /// The event's own fields.
    pub details: Value,
}

/// The event's name as the fleet file spells it (`kill-switch`).
fn event_name(e: NotifyEvent) -> &'static str {
    match e {
        NotifyEvent::Halt => "halt",
        NotifyEvent::KillSwitch => "kill-switch",
        NotifyEvent::Disconnected => "disconnected",
        NotifyEvent::Reconciliation => "reconciliation",
        NotifyEvent::OrderRejected => "order-rejected",
        NotifyEvent::DailySummary => "daily-summary",
    }
}

/// The body `hook` is sent for `note`.
fn body(hook: &Hook, note: &Note) -> Value {
    match hook.format {
        WebhookFormat::Slack => json!({ "text": note.text }),
        WebhookFormat::Telegram => json!({
            "chat_id": hook.chat_id.as_ref().map_or("", |c| c.expose()),
            "text": note.text,
            "disable_web_page_preview": true,
        }),
        WebhookFormat::Json => json!({
            "event": event_name(note.event),
            "agent": note.agent,
            "text": note.text,
            "at": note.at,
            "details": note.details,
        }),
    }
}

/// A webhook's waiting notifications.
#[derive(Debug)]
struct Queue {
    items: Mutex<VecDeque<Arc<Note>>>,
    capacity: usize,
    ready: tokio::sync::Notify,
    dropped: AtomicU64,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Note>>> {
        self.items.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Add `note`; when full, the oldest goes (and is counted). Returns whether one was dropped.
    fn push(&self, note: Arc<Note>) -> bool {
        let dropped = {
            let mut q = self.lock();
            let dropped = if q.len() >= self.capacity { q.pop_front().is_some() } else { false };
            q.push_back(note);
            dropped
        };
        if dropped {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.ready.notify_one();
        dropped
    }

    fn pop(&self) -> Option<Arc<Note>> {
        self.lock().pop_front()
    }
}

/// The running notifier.
#[derive(Debug)]
pub struct Notifier {
    stop: watch::Sender<bool>,
    listener: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
    queues: Vec<(String, Arc<Queue>)>,
    grace: Duration,
}

impl Notifier {
    /// How many notifications webhook `name` lost to a full queue so far.
    pub fn dropped(&self, name: &str) -> u64 {
        self.queues.iter().find(|(n, _)| n == name).map_or(0, |(_, q)| q.dropped.load(Ordering::Relaxed))
    }

    /// Give queued deliveries a last short chance (about 3 s), then stop.
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        let deadline = Instant::now() + self.grace;
        // The listener hands on what the bus still holds, then ends.
        let mut listener = self.listener;
        if tokio::time::timeout_at(deadline, &mut listener).await.is_err() {
            listener.abort();
        }
        for (w, (name, q)) in self.workers.into_iter().zip(&self.queues) {
            let mut w = w;
            if tokio::time::timeout_at(deadline, &mut w).await.is_err() {
                w.abort();
                let left = q.lock().len();
                tracing::warn!(webhook = %name, left, "notifications not delivered before exit");
            }
        }
    }
}

/// Start notifying from `hub`'s events; `None` without webhooks.
pub fn start(hub: Arc<Hub>, setup: Option<NotifySetup>) -> Option<Notifier> {
    let setup = setup.filter(|s| !s.hooks.is_empty())?;
    crate::venue::tls::install();
    let client = match reqwest::Client::builder().timeout(TIMEOUT).connect_timeout(TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot set up HTTPS for the webhooks, no notifications: {e}");
            return None;
        }
    };
    // Subscribed before returning: nothing emitted after `start` is missed.
    let rx = hub.subscribe();
    let (stop, stop_rx) = watch::channel(false);
    let queues: Vec<(String, Arc<Queue>)> = setup
        .hooks
        .iter()
        .map(|h| {
            let q = Queue {
                items: Mutex::new(VecDeque::new()),
                capacity: setup.queue,
                ready: tokio::sync::Notify::new(),
                dropped: AtomicU64::new(0),
            };
            (h.name.clone(), Arc::new(q))
        })
        .collect();
    let workers = setup
        .hooks
        .iter()
        .zip(&queues)
        .map(|(h, (_, q))| {
            let w = Worker {
                hook: h.clone(),
                queue: Arc::clone(q),
                client: client.clone(),
                first: setup.retry_first,
                attempts: setup.attempts,
            };
            tokio::spawn(w.run(stop_rx.clone()))
        })
        .collect();
    let listener = Listener {
        hub,
        hooks: setup.hooks.iter().zip(&queues).map(|(h, (_, q))| (h.clone(), Arc::clone(q))).collect(),
        disconnected_after: setup.disconnected_after,
        summary_at: setup.summary_at,
        watch: Watch::default(),
    };
    let listener = tokio::spawn(listener.run(rx, stop_rx));
    Some(Notifier { stop, listener, workers, queues, grace: setup.grace })
}

/// Deliver `note` now to every webhook that wants it, with the usual retries, giving up after
/// `within`: for what happens before a fleet runs (a start refused because the venue's account
/// differs from the journal), when there is no bus to listen to.
pub async fn send_now(setup: &NotifySetup, note: Note, within: Duration) {
    crate::venue::tls::install();
    let Ok(client) = reqwest::Client::builder().timeout(TIMEOUT).connect_timeout(TIMEOUT).build() else {
        tracing::error!("cannot set up HTTPS for the webhooks, no notification");
        return;
    };
    let sends = setup.hooks.iter().filter(|h| h.wants(note.event)).map(|h| {
        let w = Worker {
            hook: h.clone(),
            queue: Arc::new(Queue {
                items: Mutex::new(VecDeque::new()),
                capacity: 1,
                ready: tokio::sync::Notify::new(),
                dropped: AtomicU64::new(0),
            }),
            client: client.clone(),
            first: setup.retry_first,
            attempts: setup.attempts,
        };
        let note = note.clone();
        async move { w.deliver(&note).await }
    });
    let all = futures_util::future::join_all(sends);
    if tokio::time::timeout(within, all).await.is_err() {
        tracing::warn!("webhooks still failing after {}s; not waiting longer", within.as_secs());
    }
}

/// A start refused because the venue's account differs from the journal (`reconciliation`).
pub fn refused_start(agent: &str, why: &str) -> Note {
    Note {
        event: NotifyEvent::Reconciliation,
        agent: agent.to_owned(),
        text: format!("{agent}: start refused: {why}"),
        at: super::hub::now_rfc3339(),
        details: json!({ "refused": true }),
    }
}

/// What the listener remembers between events: connections down, orders sent.
#[derive(Debug, Default)]
pub struct Watch {
    /// (agent, link) → when it went down (wall), the venue's time, why, whether notified.
    down: HashMap<(String, &'static str), Down>,
    /// Order id → `buy 10 SPY`, for a rejection's message (bounded).
    sent: HashMap<String, String>,
    sent_order: VecDeque<String>,
}

#[derive(Debug, Clone)]
struct Down {
    link: Link,
    since: Instant,
    wall: String,
    reason: String,
    notified: bool,
}

impl Watch {
    /// The notification an event makes at once, if any (disconnections are timed: see
    /// [`Watch::overdue`]).
    pub fn on_event(&mut self, ev: &HubEvent, now: Instant) -> Option<Note> {
        let agent = ev.agent.as_str();
        let note = |event, text: String, details: Value| Note {
            event,
            agent: agent.to_owned(),
            text,
            at: ev.wall.clone(),
            details,
        };
        match &ev.body {
            Body::Fleet(FleetNote::FleetHalt { reason }) => Some(note(
                NotifyEvent::KillSwitch,
                format!("Fleet kill switch: every agent halted: {reason}"),
                json!({ "reason": reason }),
            )),
            Body::Fleet(_) => None,
            Body::Agent(a) => match a {
                AgentEvent::State {
                    state: s @ (StateChange::Halted | StateChange::Disabled),
                    reason,
                    ..
                } => {
                    let word = if *s == StateChange::Halted { "halted" } else { "disabled" };
                    Some(note(NotifyEvent::Halt, format!("{agent} {word}: {reason}"), details(a)))
                }
                AgentEvent::OrderSent(o) => {
                    let id = o.id.to_string();
                    if self.sent.len() >= SENT_REMEMBERED
                        && let Some(old) = self.sent_order.pop_front()
                    {
                        self.sent.remove(&old);
                    }
                    self.sent
                        .insert(id.clone(), format!("{} {} {}", o.side, o.qty.normalize(), o.instrument));
                    self.sent_order.push_back(id);
                    None
                }
                AgentEvent::Order(OrderEvent::Rejected { id, reason, .. }) => {
                    let what = self.sent.get(&id.to_string()).map_or_else(String::new, |w| format!(" ({w})"));
                    Some(note(
                        NotifyEvent::OrderRejected,
                        format!("{agent}: order {id}{what} rejected by the venue: {reason}"),
                        details(a),
                    ))
                }
                AgentEvent::Warning { message, .. } | AgentEvent::Info { message, .. }
                    if is_reconciliation(message) =>
                {
                    Some(note(NotifyEvent::Reconciliation, format!("{agent}: {message}"), details(a)))
                }
                AgentEvent::Connectivity(Connectivity::Down { link, reason, .. }) => {
                    self.down.entry((agent.to_owned(), link_name(*link))).or_insert(Down {
                        link: *link,
                        since: now,
                        wall: ev.wall.clone(),
                        reason: reason.clone(),
                        notified: false,
                    });
                    None
                }
                AgentEvent::Connectivity(Connectivity::Up { link, .. }) => {
                    let d = self.down.remove(&(agent.to_owned(), link_name(*link)))?;
                    // Back after a notified outage: say so (same event kind, so the same hooks).
                    d.notified.then(|| {
                        let secs = now.duration_since(d.since).as_secs();
                        note(
                            NotifyEvent::Disconnected,
                            format!("{agent}: {link} connected again after {secs}s"),
                            json!({ "link": link_name(*link), "state": "up", "down_since": d.wall, "seconds": secs }),
                        )
                    })
                }
                _ => None,
            },
        }
    }

    /// When the next disconnection becomes overdue.
    fn next_due(&self, after: Duration) -> Option<Instant> {
        self.down.values().filter(|d| !d.notified).map(|d| d.since + after).min()
    }

    /// Notifications for connections down longer than `after` at `now` (each once).
    pub fn overdue(&mut self, now: Instant, after: Duration) -> Vec<Note> {
        let mut out = Vec::new();
        for ((agent, _), d) in &mut self.down {
            let link = d.link;
            if d.notified || now.duration_since(d.since) < after {
                continue;
            }
            d.notified = true;
            let secs = now.duration_since(d.since).as_secs();
            out.push(Note {
                event: NotifyEvent::Disconnected,
                agent: agent.clone(),
                text: format!("{agent}: {link} disconnected for {secs}s ({}); still reconnecting", d.reason),
                at: super::hub::now_rfc3339(),
                details: json!({
                    "link": link_name(link), "state": "down", "down_since": d.wall, "seconds": secs, "reason": d.reason,
                }),
            });
        }
        out
    }
}

fn link_name(l: Link) -> &'static str {
    match l {
        Link::Venue => "venue",
        Link::Feed => "feed",
        Link::Signals => "signals",
    }
}

fn details(a: &AgentEvent) -> Value {
    serde_json::to_value(a).unwrap_or(Value::Null)
}

/// Whether an agent's message reports a difference between the journal and the venue.
fn is_reconciliation(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("reconcil") || m.contains("adopted the venue") || m.contains("never sent")
}

/// The daily summary of `agents` (one message for the fleet).
pub fn summary(agents: &[super::hub::AgentView], at: String) -> Note {
    let mut lines = vec![format!("Daily summary, {} agent(s):", agents.len())];
    let mut rows = Vec::with_capacity(agents.len());
    let mut today = rust_decimal::Decimal::ZERO;
    for a in agents {
        today += a.pnl_today;
        let position = if a.position.qty.is_zero() {
            "flat".to_owned()
        } else {
            format!("{} @ {}", a.position.qty, a.position.avg_price)
        };
        lines.push(format!(
            "{}: P&L today {}, run {}, {} order(s), {} fill(s), {} denial(s), position {}, {}",
            a.name, a.pnl_today, a.pnl_total, a.orders, a.fills, a.denials, position, a.state
        ));
        rows.push(json!({
            "agent": a.name, "pnl_today": a.pnl_today, "pnl_total": a.pnl_total, "orders": a.orders,
            "fills": a.fills, "denials": a.denials, "position": a.position, "state": a.state,
        }));
    }
    lines.push(format!("Fleet P&L today {}", today.round_dp(2)));
    Note {
        event: NotifyEvent::DailySummary,
        agent: String::new(),
        text: lines.join("\n"),
        at,
        details: json!({ "agents": rows, "pnl_today": today.round_dp(2) }),
    }
}

/// The next time after `now` that is `at` New York time on an NYSE trading day (any day when
/// the calendar does not cover it).
pub fn next_summary(now: DateTime<Utc>, at: NaiveTime) -> DateTime<Utc> {
    use chrono::TimeZone;
    let ny = chrono_tz::America::New_York;
    let cal = crate::calendar::Calendar::nyse();
    let mut date = now.with_timezone(&ny).date_naive();
    for _ in 0..30 {
        let trading = cal.is_trading_day(date).unwrap_or(true);
        if trading && let Some(t) = ny.from_local_datetime(&date.and_time(at)).earliest() {
            let t = t.with_timezone(&Utc);
            if t > now {
                return t;
            }
        }
        date = date.succ_opt().unwrap_or(date);
    }
    now + chrono::Duration::days(1)
}

struct Listener {
    hub: Arc<Hub>,
    hooks: Vec<(Hook, Arc<Queue>)>,
    disconnected_after: Duration,
    summary_at: NaiveTime,
    watch: Watch,
}

impl Listener {
    fn dispatch(&self, note: Note) {
        let note = Arc::new(note);
        for (h, q) in &self.hooks {
            if h.wants(note.event) && q.push(Arc::clone(&note)) {
                tracing::warn!(webhook = %h.name, "notification queue full: dropped the oldest");
            }
        }
    }

    fn handle(&mut self, ev: &HubEvent) {
        if let Some(n) = self.watch.on_event(ev, Instant::now()) {
            self.dispatch(n);
        }
    }

    async fn run(mut self, mut rx: broadcast::Receiver<Arc<HubEvent>>, mut stop: watch::Receiver<bool>) {
        let at = self.summary_at;
        let summary_in = |now: DateTime<Utc>| {
            let next = next_summary(now, at);
            Instant::now() + (next - now).to_std().unwrap_or_default()
        };
        let mut summary_at = summary_in(Utc::now());
        loop {
            let due = self.watch.next_due(self.disconnected_after);
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(ev) => self.handle(&ev),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "the notifier fell behind the event bus");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                () = sleep_until_opt(due) => {
                    for n in self.watch.overdue(Instant::now(), self.disconnected_after) {
                        self.dispatch(n);
                    }
                }
                () = tokio::time::sleep_until(summary_at) => {
                    let n = summary(&self.hub.agents(), super::hub::now_rfc3339());
                    self.dispatch(n);
                    // A minute on, so the same summary is never sent twice.
                    summary_at = summary_in(Utc::now() + chrono::Duration::minutes(1));
                }
                _ = stop.changed() => {
                    // What the bus still holds goes out too.
                    while let Ok(ev) = rx.try_recv() {
                        self.handle(&ev);
                    }
                    break;
                }
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

struct Worker {
    hook: Hook,
    queue: Arc<Queue>,
    client: reqwest::Client,
    first: Duration,
    attempts: u32,
}

impl Worker {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            let note = loop {
                if let Some(n) = self.queue.pop() {
                    break n;
                }
                if *stop.borrow() {
                    return;
                }
                tokio::select! {
                    () = self.queue.ready.notified() => {}
                    r = stop.changed() => if r.is_err() { return },
                }
            };
            self.deliver(&note).await;
        }
    }

    async fn deliver(&self, note: &Note) {
        let name = &self.hook.name;
        let payload = body(&self.hook, note);
        let event = event_name(note.event);
        for attempt in 1..=self.attempts {
            let res = self.client.post(self.hook.url.expose()).json(&payload).send().await;
            let wait = match res {
                Ok(r) if r.status().is_success() => {
                    tracing::debug!(webhook = %name, event, "notification delivered");
                    return;
                }
                Ok(r) if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                    let after = retry_after(r.headers(), Utc::now());
                    tracing::warn!(webhook = %name, event, attempt, "webhook asks to slow down (429)");
                    after.unwrap_or_else(|| backoff(self.first, attempt))
                }
                Ok(r)
                    if r.status().is_server_error() || r.status() == reqwest::StatusCode::REQUEST_TIMEOUT =>
                {
                    tracing::warn!(webhook = %name, event, attempt, status = r.status().as_u16(), "webhook failed");
                    backoff(self.first, attempt)
                }
                Ok(r) => {
                    tracing::error!(
                        webhook = %name, event, status = r.status().as_u16(),
                        "webhook refused the notification; not retried (check its credentials)"
                    );
                    return;
                }
                Err(e) => {
                    // `without_url`: the URL carries the webhook's token.
                    tracing::warn!(webhook = %name, event, attempt, "webhook unreachable: {}", e.without_url());
                    backoff(self.first, attempt)
                }
            };
            if attempt == self.attempts {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        tracing::error!(webhook = %name, event, attempts = self.attempts, "notification not delivered: gave up");
    }
}

/// The wait before attempt `attempt + 1`: `first` doubled per attempt, plus up to 25 % jitter.
pub fn backoff(first: Duration, attempt: u32) -> Duration {
    use rand::Rng;
    let base = first.saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
    let jitter: f64 = rand::thread_rng().gen_range(0.0..0.25);
    base + base.mul_f64(jitter)
}

/// A `Retry-After` header: seconds, or an HTTP date (capped at a minute).
pub fn retry_after(headers: &reqwest::header::HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    let d = match v.parse::<u64>() {
        Ok(s) => Duration::from_secs(s),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
            (at - now).to_std().unwrap_or_default()
        }
    };
    Some(d.min(MAX_RETRY_AFTER))
}
