//! `/metrics` with 10 agents: rendering the text from the agents' views (goal: well under
//! 10 ms per scrape), and the per-event cost `on_event` adds to the trading path.

use criterion::{Criterion, criterion_group, criterion_main};
use runner::engine::agent::AgentEvent;
use runner::model::order::OrderEvent;
use runner::model::{ClientOrderId, Timestamp};
use runner::runtime::hub::{AgentView, PositionView};
use runner::runtime::metrics::Metrics;
use rust_decimal_macros::dec;

fn view(name: &str) -> AgentView {
    AgentView {
        name: name.to_owned(),
        recipe: format!("recipes/{name}.yaml"),
        account: format!("paper-{name}"),
        instrument: "SPY".to_owned(),
        run: format!("{name}-r1"),
        state: "active".to_owned(),
        health: "ok".to_owned(),
        position: PositionView { qty: dec!(100), avg_price: dec!(168.52) },
        pnl_today: dec!(-12.34),
        pnl_total: dec!(456.78),
        realized: dec!(400),
        equity: dec!(50456.78),
        starting_equity: dec!(50000),
        last_price: Some(dec!(168.9)),
        last_data: Some("2013-10-07T15:00:00Z".to_owned()),
        data_age_seconds: 0.4,
        last_signal: None,
        venue: "connected".to_owned(),
        orders: 12,
        fills: 10,
        denials: 2,
        feed_latency: None,
    }
}

fn metrics(c: &mut Criterion) {
    let names: Vec<String> = (0..10).map(|i| format!("agent-{i:02}")).collect();
    let m = Metrics::new(&names);
    m.set_loss_limit(Some(dec!(1000)));
    for i in 0..10 {
        for k in 0..100 {
            m.observe_feed_latency(i, 0.0001 * f64::from(k));
            m.observe_journal_write(i, 0.00001 * f64::from(k));
        }
    }
    let views: Vec<AgentView> = names.iter().map(|n| view(n)).collect();
    let lag = vec![0.01; 10];
    let text = m.render(&views, &lag);
    eprintln!("rendered {} bytes, {} lines for 10 agents", text.len(), text.lines().count());
    c.bench_function("metrics_render_10_agents", |b| {
        b.iter(|| m.render(std::hint::black_box(&views), std::hint::black_box(&lag)))
    });
    let fill = AgentEvent::Order(OrderEvent::Accepted { id: ClientOrderId::from("a-1"), ts: Timestamp(0) });
    c.bench_function("metrics_on_event_order", |b| b.iter(|| m.on_event(3, std::hint::black_box(&fill))));
    c.bench_function("metrics_observe_journal_write", |b| {
        b.iter(|| m.observe_journal_write(3, std::hint::black_box(0.00012)))
    });
}

criterion_group!(benches, metrics);
criterion_main!(benches);
