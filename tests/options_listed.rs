//! Options on the broker's listed chain: an agent built by `build::option_leg_listed` and the
//! simulated venue, both fed the same chain snapshots (as the runtime hands them out), choose
//! the listed contract the recipe's rule names, send its marketable limit from the real ask and
//! fill at the listed prices; a contract without a two-sided quote is refused, never guessed.

use std::sync::Arc;

use runner::engine::agent::{Agent, AgentEvent, Event, Outbox};
use runner::model::chain::{ChainSnapshot, ContractQuote, ListedContract};
use runner::model::order::{OrderEvent, OrderKind, OrderRequest};
use runner::model::{InstrumentId, Side, SymbolId, Timestamp};
use runner::options::OptionRight;
use runner::risk::gate::DenyReason;
use runner::runtime::build;
use runner::runtime::lockstep::Lockstep;
use runner::strategy::Direction;
use runner::strategy::external_signal::ExternalEvent;
use runner::venue::sim::SimVenue;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::{trade_input, ts};

/// Monday 2025-06-09, 10:00 New York: the first signal.
const OPEN: &str = "2025-06-09T10:00:00-04:00";

/// A SPY options recipe trading on external signals: `strike` rule, 7 to 14 days out.
fn recipe(strike: &str, orders: &str) -> runner::recipe::Recipe {
    let yaml = format!(
        "version: 1\nagent: spy-listed\nprovider: {{kind: replay, path: x.csv}}\n\
         broker: {{kind: paper, account: p, starting_equity: 50000, commission_per_contract: 0.65}}\n\
         instrument: {{underlying: SPY, kind: option, expiry: {{min_days: 7, max_days: 14, prefer: nearest}}, \
         strike: \"{strike}\", rate: 0.04}}\n\
         algorithm: {{kind: external-signal, timeframe: 1m}}\n\
         orders: {{type: marketable-limit, limit_offset_ticks: 1{orders}}}\n\
         risk: {{entry_size: 2, max_contracts: 20}}\n\
         session: {{calendar: nyse, hours: regular, flatten_at: \"15:55\"}}\n"
    );
    runner::recipe::from_yaml_str(&yaml).expect("recipe")
}

/// The agent of `recipe` on the listed chain and its paper venue (synthetic quoting as the
/// fallback), with `signals` as `(time, direction)`.
fn lockstep(recipe: &runner::recipe::Recipe, signals: &[(&str, Direction)]) -> Lockstep {
    let events =
        signals.iter().map(|(t, d)| ExternalEvent { ts: ts(t), direction: *d, strength: 100 }).collect();
    let strategy = build::strategy(recipe, SymbolId(0), Some(events)).expect("strategy");
    let cfg = build::agent_config(recipe).expect("agent config");
    let leg = build::option_leg_listed(recipe, SymbolId(1)).expect("listed option leg");
    let agent = Agent::new(cfg, SymbolId(0), strategy).with_options(leg);
    let chain = build::option_chain(recipe).expect("synthetic chain");
    let venue =
        SimVenue::new(runner::runtime::run::sim_config(recipe)).with_synthetic_options(Box::new(chain));
    Lockstep::new(agent, venue)
}

/// What Alpaca lists for SPY at 600.30: calls and puts 598 to 602 expiring 2025-06-11, -16 and
/// -20, each quoted 4 cents wide (the 601 call: 6.20 / 6.24). `quote` may override one quote.
fn listing(at: Timestamp, quote: Option<(&str, Decimal, Decimal)>) -> ChainSnapshot {
    let (mut contracts, mut quotes) = (Vec::new(), Vec::new());
    for (expiry, yymmdd) in [((2025, 6, 11), "250611"), ((2025, 6, 16), "250616"), ((2025, 6, 20), "250620")]
    {
        for strike in 598..=602_i64 {
            for (right, letter) in [(OptionRight::Call, 'C'), (OptionRight::Put, 'P')] {
                let instrument = InstrumentId(format!("SPY{yymmdd}{letter}{:08}", strike * 1000));
                contracts.push(ListedContract {
                    instrument: instrument.clone(),
                    underlying: "SPY".to_owned(),
                    expiry: chrono::NaiveDate::from_ymd_opt(expiry.0, expiry.1, expiry.2).expect("date"),
                    strike: Decimal::from(strike),
                    right,
                    multiplier: dec!(100),
                });
                let inside = if right == OptionRight::Call { 600 - strike } else { strike - 600 };
                let bid = dec!(7.20) + Decimal::from(inside);
                quotes.push(ContractQuote { instrument, bid, ask: bid + dec!(0.04), ts: at });
            }
        }
    }
    if let Some((name, bid, ask)) = quote {
        quotes.retain(|q| q.instrument.as_str() != name);
        quotes.push(ContractQuote { instrument: InstrumentId::from(name), bid, ask, ts: at });
    }
    ChainSnapshot { ts: at, contracts, quotes }
}

/// Hand `snap` to the venue and the agent, as the runtime does on each poll.
fn poll(run: &mut Lockstep, snap: ChainSnapshot) {
    let snap = Arc::new(snap);
    let (agent, venue) = run.parts_mut();
    venue.on_chain(&snap);
    let mut out = Outbox::new();
    agent.handle(Event::Chain(snap), &mut out);
    assert!(out.is_empty(), "a good snapshot asks nothing and warns of nothing: {:?}", out.events);
}

/// Every agent event of a print of SPY at `price` at `t`.
fn print(run: &mut Lockstep, t: &str, price: &str) -> Vec<AgentEvent> {
    let mut seen = Vec::new();
    run.market(trade_input(t, price, dec!(100)), &mut |e: &AgentEvent| seen.push(e.clone()));
    seen
}

fn sent(events: &[AgentEvent]) -> Vec<&OrderRequest> {
    events.iter().filter_map(|e| if let AgentEvent::OrderSent(o) = e { Some(o) } else { None }).collect()
}

fn fills(events: &[AgentEvent]) -> Vec<(Side, Decimal, Decimal)> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Order(OrderEvent::Filled(f)) => Some((f.side, f.qty, f.price)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_agent_buys_the_listed_contract_at_the_real_ask_and_sells_at_the_real_bid() {
    let r = recipe("otm:1", "");
    let mut run = lockstep(&r, &[(OPEN, Direction::Long), ("2025-06-09T10:30:00-04:00", Direction::Flat)]);
    poll(&mut run, listing(ts("2025-06-09T09:59:55-04:00"), None));
    let events = print(&mut run, OPEN, "600.30");
    // 7 to 14 days from Monday 06-09: the listed 06-16 expiry; one strike out of the money of
    // 600 for a call: 601, spelled as Alpaca lists it.
    let orders = sent(&events);
    assert_eq!(orders.len(), 1, "{events:?}");
    let buy = orders[0];
    assert_eq!(buy.instrument.as_str(), "SPY250616C00601000");
    assert_eq!(
        (buy.side, buy.qty, buy.ref_price),
        (Side::Buy, dec!(2), dec!(6.24)),
        "priced from the real ask"
    );
    assert_eq!(buy.kind, OrderKind::MarketableLimit { offset_ticks: 1 });
    let info = events
        .iter()
        .find_map(|e| if let AgentEvent::Info { message, .. } = e { Some(message) } else { None });
    assert!(info.is_some_and(|m| m.contains("listed quote 6.20 / 6.24")), "{info:?}");
    assert_eq!(fills(&events), [(Side::Buy, dec!(2), dec!(6.24))], "filled at the listed ask");
    let agent = run.agent();
    assert_eq!(agent.position_qty(), dec!(2));
    // Cash paid 2 × 624 + 1.30 commission; marked at the listed mid 6.22 (not a model price).
    assert_eq!(agent.equity(), dec!(50000) - dec!(1248) - dec!(1.30) + dec!(1244));

    // The next poll reprices the held contract; a print of the underlying does not.
    poll(
        &mut run,
        listing(ts("2025-06-09T10:15:00-04:00"), Some(("SPY250616C00601000", dec!(6.80), dec!(6.84)))),
    );
    let events = print(&mut run, "2025-06-09T10:15:01-04:00", "601.10");
    assert!(sent(&events).is_empty() && fills(&events).is_empty(), "{events:?}");
    assert_eq!(
        run.agent().equity(),
        dec!(50000) - dec!(1.30) + dec!(2) * dec!(100) * (dec!(6.82) - dec!(6.24))
    );

    // Flat: sold at the listed bid, the venue agreeing on the price.
    let events = print(&mut run, "2025-06-09T10:30:00-04:00", "601.20");
    assert_eq!(fills(&events), [(Side::Sell, dec!(2), dec!(6.80))], "{events:?}");
    assert_eq!(run.venue().position(SymbolId(1)).realized, dec!(2) * dec!(100) * (dec!(6.80) - dec!(6.24)));
    let report = run.into_agent().into_report();
    assert_eq!(report.deals.len(), 1);
    assert_eq!(report.deals[0].price_source, runner::report::PriceSource::Market);
    assert!(
        !report.summary.note.as_deref().unwrap_or_default().contains("synthetic"),
        "{:?}",
        report.summary.note
    );
}

#[test]
fn a_contract_without_a_two_sided_quote_is_refused_not_guessed() {
    for (bid, ask) in [(dec!(0), dec!(6.24)), (dec!(6.30), dec!(6.24))] {
        let r = recipe("otm:1", "");
        let mut run = lockstep(&r, &[(OPEN, Direction::Long)]);
        poll(&mut run, listing(ts("2025-06-09T09:59:55-04:00"), Some(("SPY250616C00601000", bid, ask))));
        let events = print(&mut run, OPEN, "600.30");
        assert!(sent(&events).is_empty() && fills(&events).is_empty(), "{events:?}");
        let denied = events.iter().find_map(|e| if let AgentEvent::Denied(d) = e { Some(d) } else { None });
        let denied = denied.expect("the entry is refused");
        assert_eq!(denied.reason, DenyReason::NoContract);
        let why = format!("SPY250616C00601000 has no two-sided quote (bid {bid}, ask {ask})");
        assert!(denied.message.contains(&why), "{}", denied.message);
        assert_eq!(run.agent().position_qty(), Decimal::ZERO);
    }
    // Before the first listing arrives, nothing is listed: refused too.
    let r = recipe("atm", "");
    let mut run = lockstep(&r, &[(OPEN, Direction::Short)]);
    let events = print(&mut run, OPEN, "600.30");
    let denied = events.iter().find_map(|e| if let AgentEvent::Denied(d) = e { Some(d) } else { None });
    assert!(denied.is_some_and(|d| d.reason == DenyReason::NoExpiryInWindow), "{events:?}");
}

#[test]
fn the_slippage_guard_measures_the_real_spread_in_the_contracts_ticks() {
    // The 600 put quoted 7.00 / 7.40: the limit 7.41 (ask + one 1-cent tick) is 21 ticks from
    // the mid 7.20, more than the 10 allowed.
    let r = recipe("atm", ", max_slippage_ticks: 10");
    let mut run = lockstep(&r, &[(OPEN, Direction::Short)]);
    poll(
        &mut run,
        listing(ts("2025-06-09T09:59:55-04:00"), Some(("SPY250616P00600000", dec!(7.00), dec!(7.40)))),
    );
    let events = print(&mut run, OPEN, "600.30");
    let denied = events.iter().find_map(|e| if let AgentEvent::Denied(d) = e { Some(d) } else { None });
    let denied = denied.expect("refused for slippage");
    assert_eq!(denied.reason, DenyReason::MaxSlippage);
    assert!(denied.message.contains("limit 7.41 is 0.21 from the mid 7.20"), "{}", denied.message);
    assert_eq!(denied.order.instrument.as_str(), "SPY250616P00600000");
}

#[test]
fn bad_chain_entries_are_reported_and_the_rest_is_used() {
    let r = recipe("atm", "");
    let mut run = lockstep(&r, &[(OPEN, Direction::Long)]);
    let at = ts("2025-06-09T09:59:55-04:00");
    let mut snap = listing(at, None);
    snap.quotes.push(ContractQuote {
        instrument: InstrumentId::from("SPY 250616"),
        bid: dec!(1),
        ask: dec!(2),
        ts: at,
    });
    let snap = Arc::new(snap);
    let (agent, venue) = run.parts_mut();
    venue.on_chain(&snap);
    let mut out = Outbox::new();
    agent.handle(Event::Chain(snap), &mut out);
    assert!(out.requests.is_empty());
    let warned = out
        .events
        .iter()
        .find_map(|e| if let AgentEvent::Warning { message, .. } = e { Some(message) } else { None });
    assert!(
        warned.is_some_and(|m| m.contains("1 option chain entries refused") && m.contains("SPY 250616")),
        "{out:?}"
    );
    let events = print(&mut run, OPEN, "600.30");
    assert_eq!(fills(&events), [(Side::Buy, dec!(2), dec!(7.24))], "the 600 call at its listed ask");
}
