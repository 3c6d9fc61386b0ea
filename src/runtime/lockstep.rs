//! An agent and its simulated venue, stepped in lockstep: each market event reaches the venue
//! first (working orders match against it), then the agent; every request the agent makes is
//! carried out by the venue at once, and every answer goes back to the agent, before the next
//! event. No channels, no sleeping: `runner backtest` runs it at memory speed, and `runner up`
//! on a paper broker runs the very same steps, which is why the two trade alike.
//!
//! Time is the data's (a simulated clock). A timer the agent asked for
//! ([`Agent::next_timer`]) is delivered at its time when the data jumps past it — past the end
//! of its New York day — without a market event that would have woken the agent itself (a
//! tape that goes quiet at 15:50 still flattens at 15:55).

use crate::engine::agent::{Agent, AgentEvent, Command, Event, Outbox, Request};
use crate::market::event::MarketEvent;
use crate::model::Timestamp;
use crate::model::account::Connectivity;
use crate::model::chain::ChainSnapshot;
use crate::model::order::OrderEvent;
use crate::venue::sim::SimVenue;

/// An agent trading on a simulated venue.
pub struct Lockstep {
    agent: Agent,
    venue: SimVenue,
    out: Outbox,
    answers: Vec<OrderEvent>,
}

impl Lockstep {
    /// `agent` trading on `venue`.
    pub fn new(agent: Agent, venue: SimVenue) -> Self {
        Self { agent, venue, out: Outbox::new(), answers: Vec::with_capacity(8) }
    }

    /// The agent.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The venue.
    pub fn venue(&self) -> &SimVenue {
        &self.venue
    }

    /// Both, to restore an earlier run's state before the first event.
    pub fn parts_mut(&mut self) -> (&mut Agent, &mut SimVenue) {
        (&mut self.agent, &mut self.venue)
    }

    /// One market event, and everything it leads to; `sink` sees every agent event in order.
    #[inline]
    pub fn market(&mut self, ev: MarketEvent, sink: &mut impl FnMut(&AgentEvent)) {
        // Before the timers the gap's days would bring: the close is at the last price before it.
        if self.agent.config().flatten_before_gap && ev.symbol() == self.agent.symbol() {
            self.gap_ahead(ev.ts(), sink);
        }
        if let Some(t) = self.agent.next_timer()
            && ev.ts() > t.deliver_by
        {
            self.due_timers(ev, sink);
        }
        self.venue.on_market(&ev);
        if self.venue.has_events() {
            self.settle(sink);
        }
        self.agent.on_market(&ev, &mut self.out);
        if !self.out.is_empty() {
            self.settle(sink);
        }
    }

    /// A command (shutdown, halt, reduce-only), and everything it leads to. A shutdown first
    /// brings the venue to the agent's time (an option past its last trading time settles).
    pub fn command(&mut self, command: Command, sink: &mut impl FnMut(&AgentEvent)) {
        if command == Command::Shutdown {
            self.venue.advance(self.agent.now());
            self.settle(sink);
        }
        self.agent.handle(Event::Command(command), &mut self.out);
        self.settle(sink);
    }

    /// A timer the agent asked for, delivered without a market event: the venue moves to its
    /// time first (day orders expire, an expired option settles), then the agent.
    pub fn timer(&mut self, at: Timestamp, sink: &mut impl FnMut(&AgentEvent)) {
        self.venue.advance(at);
        self.settle(sink);
        self.agent.handle(Event::Timer(at), &mut self.out);
        self.settle(sink);
    }

    /// A broker's listed option chain (a dry run on live data): the venue fills option orders
    /// at its quotes, and the agent chooses contracts from it.
    pub fn chain(&mut self, snapshot: std::sync::Arc<ChainSnapshot>, sink: &mut impl FnMut(&AgentEvent)) {
        self.venue.on_chain(&snapshot);
        self.settle(sink);
        self.agent.handle(Event::Chain(snapshot), &mut self.out);
        self.settle(sink);
    }

    /// An external signal (a stream entry, a socket message), and everything it leads to.
    pub fn external(&mut self, x: crate::engine::agent::ExternalIn, sink: &mut impl FnMut(&AgentEvent)) {
        self.agent.handle(Event::External(x), &mut self.out);
        self.settle(sink);
    }

    /// A feed's or venue's connection changed.
    pub fn connectivity(&mut self, change: Connectivity, sink: &mut impl FnMut(&AgentEvent)) {
        self.agent.handle(Event::Connectivity(change), &mut self.out);
        self.settle(sink);
    }

    /// Recorded data that stops for whole sessions next: the agent closes before the venue sees
    /// the next price (it fills at the last one).
    #[cold]
    fn gap_ahead(&mut self, next: Timestamp, sink: &mut impl FnMut(&AgentEvent)) {
        if self.agent.flatten_before_gap(next, &mut self.out) {
            self.settle(sink);
        }
    }

    /// Deliver timers the data jumped past (see the module docs).
    #[cold]
    fn due_timers(&mut self, ev: MarketEvent, sink: &mut impl FnMut(&AgentEvent)) {
        while let Some(t) = self.agent.next_timer() {
            if ev.ts() <= t.deliver_by {
                return;
            }
            self.timer(t.at, sink);
            if self.agent.next_timer() == Some(t) {
                return;
            }
        }
    }

    /// Report the agent's events, carry out its requests, hand the venue's answers back —
    /// until nothing is left.
    fn settle(&mut self, sink: &mut impl FnMut(&AgentEvent)) {
        loop {
            for e in &self.out.events {
                sink(e);
            }
            self.out.events.clear();
            for r in self.out.requests.drain(..) {
                match r {
                    Request::Submit(order) => self.venue.submit(order),
                    Request::Cancel { id, ts } => self.venue.cancel(&id, ts),
                    Request::Replace { id, change, ts } => self.venue.replace(&id, change, ts),
                }
            }
            if !self.venue.has_events() {
                return;
            }
            self.venue.drain_events(&mut self.answers);
            for ev in self.answers.drain(..) {
                self.agent.handle(Event::Order(ev), &mut self.out);
            }
        }
    }

    /// The agent, once the run is over.
    pub fn into_agent(self) -> Agent {
        self.agent
    }
}
