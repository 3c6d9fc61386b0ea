//! An operator steering a running agent (the dashboard's controls, through the library): halt
//! and resume, flatten, disable and enable, and recipe parameters changed mid-run — checked by
//! the validator, applied at once or when the agent is flat.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use runner::engine::agent::{AgentEvent, Command, ExternalIn, StateChange};
use runner::market::event::{MarketEvent, Trade};
use runner::model::order::{ExitReason, Purpose};
use runner::model::{SymbolId, Timestamp};
use runner::risk::gate::TradingState;
use runner::runtime::lockstep::Lockstep;
use runner::runtime::params::{self, Applies};
use runner::strategy::Direction;
use runner::strategy::external_signal::ExternalEvent;
use runner::venue::sim::SimVenue;

const RECIPE: &str = "version: 1
agent: steered
provider:
  kind: replay
  path: x.csv
broker:
  kind: paper
  account: p
  starting_equity: 100000
instrument:
  underlying: SPY
  kind: equity
algorithm:
  kind: external-signal
  timeframe: 1m
orders:
  type: market
risk:
  allocation: 100000
  entry_size: 10
  max_shares: 100
session:
  calendar: nyse
  hours: regular
";

fn at(day: u32, hms: &str) -> Timestamp {
    let s = format!("2013-10-{day:02}T{hms}-04:00");
    Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(&s).expect("test time"))
}

fn trader(text: &str) -> Lockstep {
    let r = runner::recipe::from_yaml_str(text).expect("test recipe loads");
    let cfg = runner::runtime::build::agent_config(&r).expect("config");
    let strat = runner::runtime::build::strategy(&r, SymbolId(0), Some(Vec::new())).expect("strategy");
    let agent = runner::engine::agent::Agent::new(cfg, SymbolId(0), strat);
    Lockstep::new(agent, SimVenue::new(runner::runtime::run::sim_config(&r)))
}

struct Seen(Vec<AgentEvent>);

impl Seen {
    fn print(&mut self, t: &mut Lockstep, ts: Timestamp, price: Decimal) {
        let tr = Trade { symbol: SymbolId(0), ts, price, size: dec!(100) };
        t.market(MarketEvent::Trade(tr), &mut |e| self.0.push(e.clone()));
    }
    fn buy(&mut self, t: &mut Lockstep, ts: Timestamp) -> Option<String> {
        let x = ExternalIn {
            id: Some(format!("{}", ts.0)),
            signal: ExternalEvent { ts, direction: Direction::Long, strength: 100 },
        };
        let before = self.0.len();
        t.external(x, &mut |e| self.0.push(e.clone()));
        self.0[before..].iter().find_map(|e| match e {
            AgentEvent::External(o) => Some(o.refused.clone().unwrap_or_default()),
            _ => None,
        })
    }
    fn command(&mut self, t: &mut Lockstep, c: Command) -> Vec<AgentEvent> {
        let before = self.0.len();
        t.command(c, &mut |e| self.0.push(e.clone()));
        self.0[before..].to_vec()
    }
}

#[test]
fn disable_flattens_and_outlasts_a_new_day_until_enabled() {
    let mut t = trader(RECIPE);
    let mut seen = Seen(Vec::new());
    seen.print(&mut t, at(7, "10:00:00"), dec!(168));
    assert_eq!(seen.buy(&mut t, at(7, "10:00:01")).as_deref(), Some(""), "accepted");
    seen.print(&mut t, at(7, "10:00:02"), dec!(168.10));
    assert_eq!(t.agent().position_qty(), dec!(10));

    let evs = seen.command(&mut t, Command::Disable { reason: "disable by test".into() });
    assert!(evs.iter().any(|e| matches!(e, AgentEvent::State { state: StateChange::Disabled, .. })));
    assert!(
        evs.iter().any(
            |e| matches!(e, AgentEvent::OrderSent(o) if o.purpose == Purpose::Exit(ExitReason::Operator))
        ),
        "the position is closed by the operator: {evs:?}"
    );
    seen.print(&mut t, at(7, "10:00:03"), dec!(168.20));
    assert_eq!(t.agent().position_qty(), Decimal::ZERO);
    assert!(t.agent().disabled());
    assert!(seen.buy(&mut t, at(7, "10:00:04")).is_some_and(|r| !r.is_empty()), "entries refused");

    // A new trading day lifts a halt, not a disable.
    seen.print(&mut t, at(8, "10:00:00"), dec!(169));
    assert!(t.agent().disabled());
    assert_eq!(t.agent().trading_state(), TradingState::Halted);
    assert!(seen.buy(&mut t, at(8, "10:00:01")).is_some_and(|r| !r.is_empty()));

    let evs = seen.command(&mut t, Command::Enable { reason: "enable by test".into() });
    assert!(evs.iter().any(|e| matches!(e, AgentEvent::State { state: StateChange::Active, .. })));
    assert_eq!(seen.buy(&mut t, at(8, "10:00:02")).as_deref(), Some(""));
}

#[test]
fn resume_lifts_a_halt_the_same_day_and_flatten_keeps_trading() {
    let mut t = trader(RECIPE);
    let mut seen = Seen(Vec::new());
    seen.print(&mut t, at(7, "10:00:00"), dec!(168));
    seen.command(&mut t, Command::Halt { reason: "halt by test".into() });
    assert_eq!(t.agent().trading_state(), TradingState::Halted);
    assert!(seen.buy(&mut t, at(7, "10:00:01")).is_some_and(|r| !r.is_empty()));
    seen.command(&mut t, Command::Resume { reason: "resume by test".into() });
    assert_eq!(t.agent().trading_state(), TradingState::Active);
    assert_eq!(seen.buy(&mut t, at(7, "10:00:02")).as_deref(), Some(""));
    seen.print(&mut t, at(7, "10:00:03"), dec!(168.1));
    assert_eq!(t.agent().position_qty(), dec!(10));

    let evs = seen.command(&mut t, Command::Flatten { reason: "flatten by test".into() });
    assert!(
        evs.iter().any(
            |e| matches!(e, AgentEvent::OrderSent(o) if o.purpose == Purpose::Exit(ExitReason::Operator))
        )
    );
    seen.print(&mut t, at(7, "10:00:04"), dec!(168.2));
    assert_eq!(t.agent().position_qty(), Decimal::ZERO);
    assert_eq!(t.agent().trading_state(), TradingState::Active, "flatten does not halt");
    assert_eq!(seen.buy(&mut t, at(7, "10:00:05")).as_deref(), Some(""));
}

#[test]
fn a_parameter_edit_is_validated_like_the_file_and_limits_apply_at_once() {
    let r = runner::recipe::from_yaml_str(RECIPE).expect("recipe");
    // The validator checks the data and signal files exist, as `runner validate` does.
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path();
    std::fs::write(base.join("x.csv"), "timestamp,price,size\n2013-10-07T10:00:00-04:00,168,100\n")
        .expect("data");
    std::fs::write(base.join("steered.signals.csv"), "timestamp,ticker,direction\n").expect("signals");
    // The validator's own words for a bad value, and nothing changes.
    let bad = params::edit("steered.yaml", RECIPE, base, &r, "risk.max_shares", "-3").expect_err("negative");
    assert!(bad.contains("max_shares") || bad.contains("-3"), "{bad}");
    let bad =
        params::edit("steered.yaml", RECIPE, base, &r, "broker.account", "x").expect_err("not editable");
    assert!(bad.contains("cannot change while the agent runs"), "{bad}");
    let bad =
        params::edit("steered.yaml", RECIPE, base, &r, "risk.max_shares", "5\nagent: x").expect_err("inject");
    assert!(bad.contains("not a plain value"), "{bad}");

    let mut t = trader(RECIPE);
    let mut seen = Seen(Vec::new());
    seen.print(&mut t, at(7, "10:00:00"), dec!(168));
    let e = params::edit("steered.yaml", RECIPE, base, &r, "risk.max_shares", "4").expect("valid edit");
    assert_eq!((e.old.as_str(), e.applies), ("100", Applies::Now));
    let plan = params::plan(&e.recipe, SymbolId(0), &["risk.max_shares"]).expect("plan");
    t.parts_mut().0.reconfigure(plan).expect("applies now");
    assert_eq!(seen.buy(&mut t, at(7, "10:00:01")).as_deref(), Some(""));
    seen.print(&mut t, at(7, "10:00:02"), dec!(168.1));
    assert_eq!(t.agent().position_qty(), dec!(4), "the new limit clips the entry");

    // Exits wait for a flat agent.
    let e = params::edit("steered.yaml", &e.text, base, &e.recipe, "risk.stop_loss", "1%").expect("valid");
    assert_eq!(e.applies, Applies::WhenFlat);
    let plan = params::plan(&e.recipe, SymbolId(0), &["risk.stop_loss"]).expect("plan");
    assert!(t.parts_mut().0.reconfigure(plan).is_err(), "not while holding 4 shares");
    seen.command(&mut t, Command::Flatten { reason: "test".into() });
    seen.print(&mut t, at(7, "10:00:03"), dec!(168.2));
    let plan = params::plan(&e.recipe, SymbolId(0), &["risk.stop_loss"]).expect("plan");
    t.parts_mut().0.reconfigure(plan).expect("flat now");
}
