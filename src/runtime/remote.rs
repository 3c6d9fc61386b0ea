//! An agent trading on a remote venue (a broker's API): the agent task and the execution task.
//!
//! The agent task owns the agent ([`Remote`]): market events, timers, commands and what the
//! venue says reach it one at a time; every event it emits is handed to the sink (the journal
//! first) *before* its requests leave for the venue, so a request is never sent that the
//! journal does not hold. Requests go through a channel to the execution task ([`execute`]),
//! which owns the [`ExecutionClient`] and turns its answers into [`VenueEvent`]s for the agent.
//! Nothing is assumed to happen inside a call: a fill arrives later, as an event.
//!
//! A marketable limit is priced here, at the latest quote of the instrument (the far touch
//! plus the recipe's offset in ticks; the last trade when no quote came yet): a broker takes a
//! limit price, not a rule. The simulated venue prices it itself, at the same touch.

use std::collections::HashMap;
use std::sync::Arc;

use rust_decimal::Decimal;
use tokio::sync::mpsc;

use crate::engine::agent::{Agent, AgentEvent, Command, Event, Outbox, Request};
use crate::market::event::MarketEvent;
use crate::model::account::Connectivity;
use crate::model::chain::ChainSnapshot;
use crate::model::order::{OrderEvent, OrderKind, OrderRequest};
use crate::model::{InstrumentId, Price, Side, SymbolId, Timestamp};
use crate::venue::{ExecutionClient, VenueError, VenueEvent};

/// What the execution task tells the agent task: a venue event, or why the venue can no longer
/// be used (refused credentials; the agent stops).
pub type VenueInput = Result<VenueEvent, VenueError>;

/// The latest prices of one instrument.
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    bid: Option<Price>,
    ask: Option<Price>,
    last: Option<Price>,
}

/// An agent whose orders go to a remote venue.
pub struct Remote {
    agent: Agent,
    out: Outbox,
    requests: mpsc::UnboundedSender<Request>,
    /// Latest prices by the run's symbol (the feed) and by instrument name (option quotes).
    by_symbol: HashMap<SymbolId, Mark>,
    by_instrument: HashMap<InstrumentId, Mark>,
    tick: Price,
}

impl Remote {
    /// `agent`, whose requests go to `requests` (the execution task), with prices in `tick`s.
    pub fn new(agent: Agent, requests: mpsc::UnboundedSender<Request>, tick: Price) -> Self {
        Self {
            agent,
            out: Outbox::new(),
            requests,
            by_symbol: HashMap::new(),
            by_instrument: HashMap::new(),
            tick,
        }
    }

    /// The agent.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The agent, to restore an earlier run's state before the first event.
    pub fn agent_mut(&mut self) -> &mut Agent {
        &mut self.agent
    }

    /// One market event. Timers the data jumped past are delivered first (as in lockstep).
    pub fn market(&mut self, ev: MarketEvent, sink: &mut impl FnMut(&AgentEvent)) {
        while let Some(t) = self.agent.next_timer() {
            if ev.ts() <= t.deliver_by {
                break;
            }
            self.timer(t.at, sink);
            if self.agent.next_timer() == Some(t) {
                break;
            }
        }
        let mark = self.by_symbol.entry(ev.symbol()).or_default();
        match ev {
            MarketEvent::Trade(t) => mark.last = Some(t.price),
            MarketEvent::Quote(q) => {
                mark.bid = Some(q.bid).filter(|p| *p > Decimal::ZERO);
                mark.ask = Some(q.ask).filter(|p| *p > Decimal::ZERO);
            }
            MarketEvent::Bar(b) => mark.last = Some(b.close),
        }
        self.agent.on_market(&ev, &mut self.out);
        self.settle(sink);
    }

    /// The broker's listed option chain: its quotes price marketable limits on contracts, and
    /// the agent chooses contracts from it.
    pub fn chain(&mut self, snapshot: Arc<ChainSnapshot>, sink: &mut impl FnMut(&AgentEvent)) {
        for q in &snapshot.quotes {
            let mark = self.by_instrument.entry(q.instrument.clone()).or_default();
            mark.bid = Some(q.bid).filter(|p| *p > Decimal::ZERO);
            mark.ask = Some(q.ask).filter(|p| *p > Decimal::ZERO);
        }
        self.agent.handle(Event::Chain(snapshot), &mut self.out);
        self.settle(sink);
    }

    /// What the venue said.
    pub fn venue(&mut self, ev: VenueEvent, sink: &mut impl FnMut(&AgentEvent)) {
        let ev = match ev {
            VenueEvent::Order(o) => Event::Order(o),
            VenueEvent::Account(a) => Event::Account(a),
            VenueEvent::Connectivity(c) => Event::Connectivity(c),
        };
        self.agent.handle(ev, &mut self.out);
        self.settle(sink);
    }

    /// A command (shutdown, halt, reduce-only).
    pub fn command(&mut self, command: Command, sink: &mut impl FnMut(&AgentEvent)) {
        self.agent.handle(Event::Command(command), &mut self.out);
        self.settle(sink);
    }

    /// A timer the agent asked for, delivered by the clock.
    pub fn timer(&mut self, at: Timestamp, sink: &mut impl FnMut(&AgentEvent)) {
        self.agent.handle(Event::Timer(at), &mut self.out);
        self.settle(sink);
    }

    /// An external signal (a stream entry, a socket message): its orders go to the venue
    /// once the journal holds them.
    pub fn external(&mut self, x: crate::engine::agent::ExternalIn, sink: &mut impl FnMut(&AgentEvent)) {
        self.agent.handle(Event::External(x), &mut self.out);
        self.settle(sink);
    }

    /// A feed's connection changed.
    pub fn connectivity(&mut self, change: Connectivity, sink: &mut impl FnMut(&AgentEvent)) {
        self.agent.handle(Event::Connectivity(change), &mut self.out);
        self.settle(sink);
    }

    /// The agent, once the run is over.
    pub fn into_agent(self) -> Agent {
        self.agent
    }

    /// Report the agent's events (the journal writes them ahead), then send its requests; an
    /// order that cannot be priced is refused here, and the agent hears of it at once.
    fn settle(&mut self, sink: &mut impl FnMut(&AgentEvent)) {
        loop {
            for e in &self.out.events {
                sink(e);
            }
            self.out.events.clear();
            let mut refused = Vec::new();
            for r in std::mem::take(&mut self.out.requests) {
                let r = match r {
                    Request::Submit(order) => match self.limit(order.inner()) {
                        Ok(None) => Request::Submit(order),
                        Ok(Some(limit)) => Request::Submit(order.priced_at(limit)),
                        Err(reason) => {
                            let req = order.inner();
                            refused.push(OrderEvent::Rejected { id: req.id.clone(), ts: req.ts, reason });
                            continue;
                        }
                    },
                    r => r,
                };
                // A closed channel means the execution task ended; the agent task sees why.
                let _ = self.requests.send(r);
            }
            if refused.is_empty() {
                return;
            }
            for r in refused {
                self.agent.handle(Event::Order(r), &mut self.out);
            }
        }
    }

    /// The price of a marketable limit: the far touch moved `offset_ticks` through it (never
    /// below one tick); `None` for other kinds; why not when there is no quote.
    fn limit(&self, req: &OrderRequest) -> Result<Option<Price>, String> {
        let OrderKind::MarketableLimit { offset_ticks } = req.kind else { return Ok(None) };
        let mark = self.by_instrument.get(&req.instrument).or_else(|| self.by_symbol.get(&req.symbol));
        let touch = mark.and_then(|m| match req.side {
            Side::Buy => m.ask.or(m.last),
            Side::Sell => m.bid.or(m.last),
        });
        let touch =
            touch.ok_or_else(|| format!("no quote for {} to price the marketable limit", req.instrument))?;
        Ok(Some((touch + req.side.sign() * self.tick * Decimal::from(offset_ticks)).max(self.tick)))
    }
}

/// The execution task: carry out the agent's requests on `client` and pass on what it says,
/// until the agent task is gone or the venue can no longer be used.
///
/// A request and the client's next event are waited for together; the client's `next_event`
/// is cancel-safe ([`ExecutionClient`]), so a request never loses an event.
pub async fn execute(
    mut client: Box<dyn ExecutionClient>,
    mut requests: mpsc::UnboundedReceiver<Request>,
    events: mpsc::Sender<VenueInput>,
) {
    enum Step {
        Request(Option<Request>),
        Event(Result<Option<VenueEvent>, VenueError>),
    }
    loop {
        let step = tokio::select! {
            r = requests.recv() => Step::Request(r),
            e = client.next_event() => Step::Event(e),
        };
        let forward = match step {
            Step::Request(None) => return,
            Step::Request(Some(r)) => carry_out(client.as_mut(), r).await,
            Step::Event(Ok(Some(ev))) => vec![Ok(ev)],
            Step::Event(Ok(None)) => {
                vec![Err(VenueError::Terminal("the venue closed the connection for good".into()))]
            }
            Step::Event(Err(e)) => vec![Err(e)],
        };
        for f in forward {
            let fatal = matches!(f, Err(VenueError::Terminal(_)));
            if events.send(f).await.is_err() || fatal {
                return;
            }
        }
    }
}

/// One request on `client`; what the agent must hear when the venue did not take it.
async fn carry_out(client: &mut dyn ExecutionClient, r: Request) -> Vec<VenueInput> {
    let now = Timestamp::from_datetime(&chrono::Utc::now());
    match r {
        Request::Submit(order) => {
            let id = order.inner().id.clone();
            let ts = order.inner().ts.max(now);
            match client.submit(order).await {
                Ok(()) => Vec::new(),
                Err(VenueError::Retryable(why)) => {
                    tracing::warn!(order = %id, "the venue did not confirm the order: {why}");
                    vec![Ok(VenueEvent::Order(OrderEvent::Rejected {
                        id,
                        ts,
                        reason: format!(
                            "not confirmed by the venue ({why}); a later account read shows it if it was placed"
                        ),
                    }))]
                }
                Err(e @ VenueError::Terminal(_)) => {
                    let reason = e.to_string();
                    vec![Ok(VenueEvent::Order(OrderEvent::Rejected { id, ts, reason })), Err(e)]
                }
            }
        }
        Request::Cancel { id, ts } => match client.cancel(id.clone()).await {
            Ok(()) => Vec::new(),
            Err(VenueError::Retryable(reason)) => {
                vec![Ok(VenueEvent::Order(OrderEvent::CancelRejected { id, ts: ts.max(now), reason }))]
            }
            Err(e) => vec![Err(e)],
        },
        Request::Replace { id, change, ts } => match client.replace(id.clone(), change).await {
            Ok(()) => Vec::new(),
            Err(VenueError::Retryable(reason)) => {
                vec![Ok(VenueEvent::Order(OrderEvent::ReplaceRejected { id, ts: ts.max(now), reason }))]
            }
            Err(e) => vec![Err(e)],
        },
    }
}
