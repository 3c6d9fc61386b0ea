//! Agent parts driven through the real agent with recipes built by the runtime (library API,
//! hand-made prints): candle styles reaching the strategy, the related symbol's candles.

mod candle_styles {
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use runner::engine::agent::{Agent, Event, Outbox};
    use runner::market::event::{MarketEvent, Trade};
    use runner::model::{SymbolId, Timestamp};
    use runner::strategy::AnyStrategy;

    fn recipe(candles: &str) -> runner::recipe::Recipe {
        let yaml = format!(
            "version: 1\nagent: styles\nprovider: {{kind: replay, path: x.csv}}\n\
             broker: {{kind: paper, account: p, starting_equity: 10000}}\n\
             instrument: {{underlying: SPY, kind: equity}}\n\
             algorithm: {{kind: ma-cross-breakout, timeframe: 1m, ma_period: 2, breakout_lookback: 2, {candles}}}\n\
             orders: {{type: market}}\nrisk: {{allocation: 10000, entry_size: 1, max_shares: 1}}\n\
             session: {{calendar: nyse, hours: regular}}\n"
        );
        runner::recipe::from_yaml_str(&yaml).expect("test recipe loads")
    }

    fn at(hms: &str) -> Timestamp {
        let s = format!("2013-10-07T{hms}-04:00");
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(&s).expect("test time"))
    }

    /// Replays `(time, price)` prints and returns the strategy's SMA after each one.
    fn smas(candles: &str, tape: &[(&str, Decimal)]) -> Vec<Option<Decimal>> {
        let r = recipe(candles);
        let cfg = runner::runtime::build::agent_config(&r).expect("config");
        let strat = runner::runtime::build::strategy(&r, SymbolId(0), None).expect("strategy");
        let mut agent = Agent::new(cfg, SymbolId(0), strat);
        let mut sink = Outbox::new();
        tape.iter()
            .map(|(t, p)| {
                let tr = Trade { symbol: SymbolId(0), ts: at(t), price: *p, size: dec!(1) };
                agent.handle(Event::Market(MarketEvent::Trade(tr)), &mut sink);
                match agent.strategy() {
                    AnyStrategy::MaCrossBreakout(m) => m.sma(),
                    _ => unreachable!("the recipe asks for ma-cross-breakout"),
                }
            })
            .collect()
    }

    #[test]
    fn heikin_ashi_candles_reach_the_moving_average() {
        // 10:00 O10 H12 L9 C11, 10:01 O11 H11 L8 C8, 10:02 a flat 10, then one print to close it.
        let tape = [
            ("10:00:00", dec!(10)),
            ("10:00:10", dec!(12)),
            ("10:00:20", dec!(9)),
            ("10:00:30", dec!(11)),
            ("10:01:00", dec!(11)),
            ("10:01:30", dec!(8)),
            ("10:02:00", dec!(10)),
            ("10:03:00", dec!(10)),
        ];
        let std = smas("candles: standard", &tape);
        let ha = smas("candles: heikin-ashi", &tape);
        // Standard closes 11, 8, 10: SMA(2) = 9.5 after the second candle, 9 after the third.
        assert_eq!(std[6], Some(dec!(9.5)));
        assert_eq!(std[7], Some(dec!(9)));
        // By hand, Heikin-Ashi: close = (O+H+L+C)/4, open = (prev open + prev close)/2.
        // 1: open (10+11)/2 = 10.5, close 42/4 = 10.5. 2: open 10.5, close 38/4 = 9.5.
        // 3: open (10.5+9.5)/2 = 10, close 10. SMA(2): (10.5+9.5)/2 = 10, then (9.5+10)/2 = 9.75.
        assert_eq!(ha[6], Some(dec!(10)));
        assert_eq!(ha[7], Some(dec!(9.75)));
        assert_eq!(std[..6], ha[..6], "nothing differs before the second candle completes");
    }

    #[test]
    fn renko_bricks_reach_the_moving_average() {
        // One print per minute: candle closes 100, 102.5, 100.5, 99.9 (and a last print to close).
        let tape = [
            ("10:00:00", dec!(100)),
            ("10:01:00", dec!(102.5)),
            ("10:02:00", dec!(100.5)),
            ("10:03:00", dec!(99.9)),
            ("10:04:00", dec!(99.9)),
        ];
        let std = smas("candles: standard", &tape);
        let renko = smas("candles: renko, brick_size: 1", &tape);
        assert_eq!(std[4], Some(dec!(100.2)), "(100.5 + 99.9) / 2");
        // Bricks of 1 from 100: 102.5 makes 100→101 and 101→102; 100.5 is one brick back
        // (no reversal); 99.9 is two back: the brick 101→100. Closes 101, 102, 100.
        assert_eq!(renko[2], Some(dec!(101.5)), "two bricks from one candle");
        assert_eq!(renko[3], Some(dec!(101.5)), "one brick back is no reversal");
        assert_eq!(renko[4], Some(dec!(101)), "(102 + 100) / 2");
    }

    #[test]
    fn renko_needs_a_brick_size() {
        let mut r = recipe("candles: renko, brick_size: 1");
        r.algorithm.brick_size = None;
        assert!(runner::runtime::build::agent_config(&r).is_err());
    }
}

mod related_symbol {
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use std::path::Path;

    use runner::engine::agent::{Agent, Event, Outbox};
    use runner::engine::related::{RELATED_SYMBOL, RelatedFeed};
    use runner::market::event::{Bar, MarketEvent};
    use runner::model::{SymbolId, Timestamp};
    use runner::recipe::Recipe;
    use runner::runtime::build;
    use runner::strategy::AnyStrategy;

    fn recipe() -> Recipe {
        let yaml = "version: 1\nagent: related\n\
             provider: {kind: replay, path: spy.csv, symbols: {QQQ: qqq.csv}}\n\
             broker: {kind: paper, account: p, starting_equity: 10000}\n\
             instrument: {underlying: SPY, kind: equity}\n\
             algorithm: {kind: correlation, timeframe: 1m, primary: SPY, correlated: QQQ, \
             swing_lookback: 10, fractal_lookback: 2}\n\
             session: {calendar: nyse, hours: regular}\n";
        runner::recipe::from_yaml_str(yaml).expect("test recipe loads")
    }

    fn at(hms: &str) -> Timestamp {
        let s = format!("2013-10-07T{hms}-04:00");
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(&s).expect("test time"))
    }

    fn bar(hms: &str, h: Decimal, l: Decimal, c: Decimal) -> Event {
        let b = Bar {
            symbol: RELATED_SYMBOL,
            ts: at(hms),
            duration_nanos: 60 * Timestamp::NANOS_PER_SEC,
            open: c,
            high: h,
            low: l,
            close: c,
            volume: dec!(10),
        };
        Event::Market(MarketEvent::Bar(b))
    }

    fn levels(a: &Agent) -> ((Option<Decimal>, Option<Decimal>), Option<Decimal>) {
        match a.strategy() {
            AnyStrategy::Correlation(s) => (s.correlated_levels(), s.correlated_price()),
            _ => unreachable!("the recipe asks for correlation"),
        }
    }

    #[test]
    fn correlated_bars_make_candles_in_session_and_the_latest_price_any_time() {
        let r = recipe();
        let base = Path::new("/recipes");
        assert_eq!(build::related_data(&r, base).unwrap(), Some(("QQQ".to_owned(), base.join("qqq.csv"))));
        let cfg = runner::runtime::build::agent_config(&r).expect("config");
        let strat = build::strategy(&r, SymbolId(0), None).expect("strategy");
        let feed = RelatedFeed::new(RELATED_SYMBOL, &cfg);
        let mut agent = Agent::new(cfg, SymbolId(0), strat).with_related(feed);
        let mut sink = Outbox::new();
        // A pre-market bar far below everything: the latest price, but in no candle.
        agent.handle(bar("09:00:00", dec!(1), dec!(1), dec!(1)), &mut sink);
        assert_eq!(levels(&agent), ((None, None), Some(dec!(1))));
        // Five in-session bars: a swing low at 79.50 in the middle (its high is no fractal).
        let bars = [
            ("09:30:00", dec!(80.40), dec!(80.00)),
            ("09:31:00", dec!(80.30), dec!(79.80)),
            ("09:32:00", dec!(80.10), dec!(79.50)),
            ("09:33:00", dec!(80.20), dec!(79.70)),
            ("09:34:00", dec!(80.30), dec!(79.90)),
        ];
        for (t, h, l) in bars {
            agent.handle(bar(t, h, l, (h + l) / Decimal::TWO), &mut sink);
        }
        // The fifth candle is still forming: no swing yet.
        assert_eq!(levels(&agent).0, (None, None));
        // The next bar completes it (its own price is already the latest).
        agent.handle(bar("09:35:00", dec!(79.80), dec!(79.30), dec!(79.40)), &mut sink);
        assert_eq!(levels(&agent), ((None, Some(dec!(79.50))), Some(dec!(79.40))));
    }
}

/// A 24x7 (crypto) agent's trading day is the UTC day: a daily-loss halt ends once, at UTC
/// midnight, not at New York midnight.
mod crypto_days {
    use runner::engine::agent::{AgentEvent, StateChange};
    use runner::market::event::{MarketEvent, Trade};
    use runner::model::{SymbolId, Timestamp};
    use runner::strategy::{Direction, external_signal::ExternalEvent};
    use rust_decimal::Decimal;

    fn at(s: &str) -> Timestamp {
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(s).expect("time"))
    }

    fn print(s: &str, price: i64) -> MarketEvent {
        MarketEvent::Trade(Trade {
            symbol: SymbolId(0),
            ts: at(s),
            price: Decimal::from(price),
            size: Decimal::ONE,
        })
    }

    #[test]
    fn a_halt_ends_at_utc_midnight_once() {
        let yaml = "version: 1\nagent: btc\nprovider: {kind: replay, path: x.csv}\n\
             broker: {kind: paper, account: p, starting_equity: 10000}\n\
             instrument: {underlying: BTC-USD, kind: crypto}\n\
             algorithm: {kind: external-signal, timeframe: 1m}\n\
             risk: {entry_size: 1, daily_loss_limit: 100}\nsession: {calendar: 24x7}\n";
        let r = runner::recipe::from_yaml_str(yaml).expect("recipe");
        let signals =
            vec![ExternalEvent { ts: at("2018-04-04T22:00:00Z"), direction: Direction::Long, strength: 100 }];
        let s = runner::runtime::build::strategy(&r, SymbolId(0), Some(signals)).expect("strategy");
        let mut run = crate::support::lockstep(&r, s);
        let mut states = Vec::new();
        let mut sink = |e: &AgentEvent| {
            if let AgentEvent::State { ts, state, .. } = e {
                states.push((*ts, *state));
            }
        };
        // Long 1 BTC at 7000, down 150 at 23:00 UTC: halted for the rest of the UTC day.
        for (t, p) in [
            ("2018-04-04T22:00:00Z", 7000),
            ("2018-04-04T23:00:00Z", 6850),
            // 00:30 UTC is still the evening of the 4th in New York: a new trading day here.
            ("2018-04-05T00:30:00Z", 6860),
            // New York midnight (04:00 UTC): nothing happens.
            ("2018-04-05T04:30:00Z", 6870),
        ] {
            run.market(print(t, p), &mut sink);
        }
        assert_eq!(
            states,
            [
                (at("2018-04-04T23:00:00Z"), StateChange::Halted),
                (at("2018-04-05T00:30:00Z"), StateChange::Active)
            ]
        );
    }
}
