//! Options end to end through the real binary: `recipes/spy-9ma.yaml` over the repo's real SPY
//! data (synthetic chain) against a committed snapshot of its deals, and a hand-made tape that
//! holds a contract across its expiry (settlement at intrinsic value, exit reason `expiry`).

use std::path::Path;

use rust_decimal::Decimal;

use crate::support::{Run, repo_root};

const SNAPSHOT: &str = "tests/fixtures/options/spy-9ma.deals.csv";

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|_| panic!("not a decimal: {s:?}"))
}

/// The deals CSV's rows as column maps, checked against its header.
fn rows(csv: &str) -> Vec<Vec<String>> {
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "strategy,symbol,side,entry_qty,entry_time,entry_price,exit_qty,exit_time,exit_price,pnl,\
             charges,net_pnl,net_pnl_pct,exit_reason,price_source"
        )
    );
    lines.map(|l| l.split(',').map(str::to_owned).collect()).collect()
}

#[test]
fn spy_9ma_backtest_matches_the_deals_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        Run::new(["backtest", "recipes/spy-9ma.yaml", "--no-journal", "--report-dir", s(dir.path())]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("option prices are synthetic"), "the report says so: {}", out.stdout);
    let deals = std::fs::read_to_string(dir.path().join("deals.csv")).unwrap();
    let snapshot = repo_root().join(SNAPSHOT);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snapshot, &deals).unwrap();
    }
    let want = std::fs::read_to_string(&snapshot).expect("snapshot exists (UPDATE_SNAPSHOTS=1 writes it)");
    assert_eq!(deals, want, "deals differ from {SNAPSHOT}; rerun with UPDATE_SNAPSHOTS=1 if intended");

    let rows = rows(&deals);
    assert!(rows.len() > 5, "some option trades over five real days");
    for r in &rows {
        // OCC symbol: 6-character padded root, yymmdd, C/P, strike × 1000 in 8 digits.
        let occ = &r[1];
        assert_eq!(occ.len(), 21, "{occ}");
        assert!(occ.starts_with("SPY   131019") && matches!(&occ[12..13], "C" | "P"), "{occ}");
        // Dollar P&L: price difference × contracts × 100.
        let qty = dec(&r[3]);
        assert!(qty > Decimal::ZERO && qty <= Decimal::from(20), "max_contracts 20: {r:?}");
        assert_eq!(dec(&r[9]), (dec(&r[8]) - dec(&r[5])) * qty * Decimal::ONE_HUNDRED, "{r:?}");
        assert_eq!(dec(&r[10]), dec("0.65") * qty * Decimal::TWO, "commission per contract, both legs");
        assert_eq!(r[2], "long", "options are only bought");
        assert!(&r[7][11..16] <= "15:55", "flat by flatten_at: {r:?}");
        assert_ne!(r[13], "expiry", "flatten_at closes everything before any expiry");
        assert_eq!(r[14], "synthetic", "every deal says its prices are synthetic: {r:?}");
    }
    // So does the chart, under its title.
    let svg = std::fs::read_to_string(dir.path().join("equity.svg")).unwrap();
    assert!(
        svg.contains(">option prices are synthetic: Black-Scholes on the underlying, implied volatility 16%, rate 0.1%, not market quotes</text>"),
        "{svg}"
    );
}

#[test]
fn up_shows_the_contract_chosen_at_each_entry() {
    let dir = tempfile::tempdir().unwrap();
    let out = Run::new(["up", "recipes/spy-9ma.yaml", "--speed", "max", "--report-dir", s(dir.path())])
        .args(["--journal", s(&dir.path().join("j.db")), "--state-dir", s(&dir.path().join("state"))])
        .args(["--fleet-loss-limit", "1000000"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let deals = std::fs::read_to_string(dir.path().join("deals.csv")).unwrap();
    let rows = rows(&deals);
    let chosen: Vec<&str> = out.stdout.lines().filter(|l| l.contains(" contract SPY ")).collect();
    // Every entry shows its contract; a choice whose entry the risk gate then refuses (the
    // recipe's daily loss limit halts the agent) shows one too, followed by the denial.
    assert!(chosen.len() >= rows.len(), "a choice per option trade:\n{}", out.stdout);
    let mut lines = chosen.iter();
    for r in &rows {
        assert!(
            // The terminal spells the OCC symbol with one space (`SPY 131019C00168000`).
            lines.any(|line| line.contains(&r[1].split_whitespace().collect::<Vec<_>>().join(" "))),
            "the entry of {r:?} trades a contract shown, in order:\n{}",
            out.stdout
        );
    }
    for line in &chosen {
        assert!(line.contains("expiry 2013-10-19") && line.contains("synthetic quote"), "{line}");
        assert!(line.contains("last trade 2013-10-18 16:00"), "{line}");
    }
    assert!(rows.iter().any(|r| r[13] == "halt"), "the daily loss limit halts the agent: {rows:?}");
}

/// A hand-made SPY tape from Thursday 2013-10-17 to Monday 2013-10-21, across the October
/// monthly expiry (OCC date Saturday the 19th, last trading time Friday the 18th at 16:00).
const TAPE: &str = "timestamp,price,size
2013-10-17T10:00:00.000-04:00,170.00,100
2013-10-17T10:00:01.000-04:00,170.10,100
2013-10-17T15:00:00.000-04:00,170.40,100
2013-10-18T10:00:00.000-04:00,171.00,100
2013-10-18T15:59:59.000-04:00,172.35,100
2013-10-21T09:30:00.000-04:00,173.00,100
2013-10-21T10:00:00.000-04:00,173.10,100
";

const EXPIRY_RECIPE: &str = "version: 1
agent: expiry-hold
provider:
  kind: replay
  path: tape.csv
broker:
  kind: paper
  account: paper-expiry
  starting_equity: 50000
  commission_per_contract: 0.65
instrument:
  underlying: SPY
  kind: option
  expiry: {min_days: 0, max_days: 7, prefer: nearest}
  strike: atm
algorithm:
  kind: external-signal
  timeframe: 1m
orders:
  type: marketable-limit
  limit_offset_ticks: 1
risk:
  allocation: 10000
  entry_size: 50%
  max_contracts: 5
session:
  calendar: nyse
  hours: regular
";

/// Runs the expiry recipe with one signal (`b` or `s`) on Friday, the contract's last trading
/// day, and returns the deals: held into the close, the contract settles there.
fn hold_across_expiry(direction: &str) -> (Vec<Vec<String>>, String) {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("tape.csv", TAPE);
    write("expiry.yaml", EXPIRY_RECIPE);
    write(
        "expiry.signals.csv",
        &format!("timestamp,ticker,direction\n2013-10-18T10:00:00-04:00,SPY,{direction}\n"),
    );
    let recipe = dir.path().join("expiry.yaml");
    let report = dir.path().join("report");
    let out = Run::new(["up", s(&recipe), "--speed", "max", "--report-dir", s(&report)])
        .args(["--journal", s(&report.join("j.db")), "--state-dir", s(&report.join("state"))])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let deals = std::fs::read_to_string(report.join("deals.csv")).unwrap();
    (rows(&deals), out.stdout)
}

#[test]
fn a_call_held_past_expiry_settles_at_intrinsic_value() {
    let (rows, stdout) = hold_across_expiry("b");
    assert_eq!(rows.len(), 1, "one trade, no new position on the expired contract: {rows:?}");
    let r = &rows[0];
    // ATM at 171.00 on Friday: the 171 call of the monthly, on its last trading day.
    assert_eq!(r[1], "SPY   131019C00171000");
    assert_eq!(r[4], "2013-10-18T10:00:00.000-04:00");
    // The tape is quiet from 15:59:59: the session end (16:00) comes by the clock, and the
    // contract's last trading time with it. Settled there at the underlying's last price:
    // 172.35 − 171 = 1.35.
    assert_eq!(
        (r[7].as_str(), dec(&r[8]), r[13].as_str()),
        ("2013-10-18T16:00:00.000-04:00", dec("1.35"), "expiry")
    );
    let qty = dec(&r[3]);
    assert_eq!(dec(&r[9]), (dec("1.35") - dec(&r[5])) * qty * Decimal::ONE_HUNDRED);
    assert_eq!(dec(&r[10]), dec("0.65") * qty, "no commission on settlement");
    assert!(stdout.contains("SPY   131019C00171000 expired: settled at intrinsic value 1.35"), "{stdout}");
}

#[test]
fn a_put_held_past_expiry_out_of_the_money_settles_at_zero() {
    let (rows, _) = hold_across_expiry("s");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r[1], "SPY   131019P00171000");
    assert_eq!((dec(&r[8]), r[13].as_str()), (Decimal::ZERO, "expiry"));
    assert_eq!(dec(&r[9]), -dec(&r[5]) * dec(&r[3]) * Decimal::ONE_HUNDRED, "the whole premium is lost");
}

/// spy-9ma with `edit` applied to its text, over the repo's data, in `dir` as `NAME.yaml`.
fn spy_9ma_variant(dir: &Path, name: &str, edit: impl Fn(&str) -> String) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo_root().join("recipes/spy-9ma.yaml"))
        .unwrap()
        .replace("../data/", &format!("{}/data/", repo_root().display()));
    let body = edit(&text);
    assert_ne!(body, text, "the edit applies");
    let recipe = dir.join(format!("{name}.yaml"));
    std::fs::write(&recipe, body).unwrap();
    recipe
}

/// A journaled denial: (instrument, qty, reason code, message).
type JournaledDenial = (String, String, String, String);

/// A backtest of `recipe` journaled into `dir/NAME.db`, report in `dir/NAME`: stdout, deals
/// rows, summary.json, and the journal's denials as (instrument, qty, code, message).
fn journaled_backtest(
    dir: &Path,
    recipe: &Path,
    name: &str,
) -> (String, Vec<Vec<String>>, serde_json::Value, Vec<JournaledDenial>) {
    let (report, db) = (dir.join(name), dir.join(format!("{name}.db")));
    let out = Run::new(["backtest", s(recipe), "--journal", s(&db), "--report-dir", s(&report)]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let deals = rows(&std::fs::read_to_string(report.join("deals.csv")).unwrap());
    let summary =
        serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).unwrap()).unwrap();
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut st =
        c.prepare("SELECT instrument, qty, reason_code, message FROM denials ORDER BY audit_seq").unwrap();
    let denials = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (out.stdout, deals, summary, denials)
}

#[test]
fn max_slippage_guard_denies_entries_whose_limit_is_too_far_from_the_mid() {
    let dir = tempfile::tempdir().unwrap();
    let guard = |ticks: u32| {
        move |t: &str| {
            t.replace(
                "  limit_offset_ticks: 1\n",
                &format!("  limit_offset_ticks: 1\n  max_slippage_ticks: {ticks}\n"),
            )
        }
    };
    // The synthetic spread is a few cents: ask + 1 tick is ≥ 2 ticks from the mid.
    let tight = spy_9ma_variant(dir.path(), "tight", guard(1));
    let (stdout, deals, summary, journal) = journaled_backtest(dir.path(), &tight, "tight");
    assert!(deals.is_empty(), "every entry is refused:\n{stdout}");
    let denials = summary["denials"].as_array().expect("denials in summary.json");
    assert!(!denials.is_empty(), "{summary}");
    assert_eq!(summary["denied_orders"], denials.len(), "{summary}");
    assert_eq!(journal.len(), denials.len(), "every refusal is journaled: {journal:?}");
    for (d, (instrument, qty, code, message)) in denials.iter().zip(&journal) {
        assert_eq!(d["code"], "max-slippage", "{d}");
        assert_eq!(code, "max-slippage");
        // A contract was chosen: the denial names it by its OCC symbol, with the quantity asked.
        let occ = d["instrument"].as_str().unwrap();
        assert!(occ.starts_with("SPY   131019") && occ.len() == 21, "{d}");
        assert_eq!(instrument, occ);
        assert!(dec(qty) > Decimal::ZERO, "{qty}");
        assert!(message.contains("more than max_slippage_ticks 1"), "{message}");
        // The terminal spells the OCC symbol with one space (`SPY 131019C00168000`).
        let shown = occ.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(stdout.lines().any(|l| l.contains(&shown) && l.contains("max-slippage")), "{stdout}");
    }
    assert!(stdout.contains(&format!("denied orders  {}", denials.len())), "{stdout}");
    let loose = spy_9ma_variant(dir.path(), "loose", guard(50));
    let (_, deals, summary, _) = journaled_backtest(dir.path(), &loose, "loose");
    assert!(!deals.is_empty(), "a loose guard lets entries through");
    let codes =
        summary["denials"].as_array().map_or(Vec::new(), |d| d.iter().map(|d| d["code"].clone()).collect());
    assert!(!codes.iter().any(|c| c == "max-slippage"), "{codes:?}");
}

#[test]
fn an_expiry_window_with_no_listed_expiry_denies_the_entry_and_up_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    // 1–2 calendar days out: only Thursday has a listed expiry (Friday's weekly) in the window.
    let recipe = spy_9ma_variant(dir.path(), "narrow", |t| {
        t.replace("    min_days: 7\n    max_days: 14\n", "    min_days: 1\n    max_days: 2\n")
    });
    let (stdout, _, summary, journal) = journaled_backtest(dir.path(), &recipe, "narrow");
    let refused: Vec<&serde_json::Value> = summary["denials"]
        .as_array()
        .expect("denials in summary.json")
        .iter()
        .filter(|d| d["code"] == "no-expiry-in-window")
        .collect();
    assert!(!refused.is_empty(), "{summary}");
    for d in &refused {
        // No contract was chosen: the underlying and the right asked for; no quantity.
        assert!(matches!(d["instrument"].as_str(), Some("SPY call" | "SPY put")), "{d}");
        assert_eq!(d["qty"], "0", "{d}");
        let message = d["message"].as_str().unwrap();
        assert!(message.contains("no SPY expiry between 1 and 2 calendar days"), "{message}");
        // Thursday 10-10 has Friday's weekly one day out; every other day has none in 1–2 days.
        assert_ne!(&d["time"].as_str().unwrap()[..10], "2013-10-10", "{d}");
    }
    let journaled: Vec<_> = journal.iter().filter(|j| j.2 == "no-expiry-in-window").collect();
    assert_eq!(journaled.len(), refused.len(), "{journal:?}");
    assert!(journaled.iter().all(|j| j.0 == "SPY call" || j.0 == "SPY put"), "{journal:?}");
    assert!(stdout.contains("Denied orders (") && stdout.contains("no-expiry-in-window"), "{stdout}");

    // `up` prints each refusal as it happens.
    let report = dir.path().join("up");
    let out = Run::new(["up", s(&recipe), "--speed", "max", "--report-dir", s(&report)])
        .args(["--journal", s(&dir.path().join("up.db")), "--state-dir", s(&dir.path().join("state"))])
        .args(["--fleet-loss-limit", "1000000"])
        .run()
        .success();
    let printed: Vec<&str> =
        out.stdout.lines().filter(|l| l.contains(" denied: no-expiry-in-window (no SPY expiry")).collect();
    assert!(!printed.is_empty(), "{}", out.stdout);
}

/// The recipe of the kill -9 cases: `EXPIRY_RECIPE` under its own agent and account.
fn killed_recipe(dir: &Path) -> std::path::PathBuf {
    let text =
        EXPIRY_RECIPE.replace("agent: expiry-hold", "agent: opt-kill").replace("paper-expiry", "paper-kill");
    let recipe = dir.join("kill.yaml");
    std::fs::write(&recipe, text).unwrap();
    recipe
}

/// The newest position snapshot per instrument, from the journal.
fn open_option_positions(db: &Path) -> Vec<(String, String, String)> {
    let Ok(c) = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return Vec::new();
    };
    let Ok(mut st) = c.prepare(
        "SELECT instrument, qty, avg_price FROM positions p WHERE audit_seq = \
         (SELECT max(audit_seq) FROM positions q WHERE q.instrument = p.instrument) AND qty != '0'",
    ) else {
        return Vec::new();
    };
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

/// Buys a call at 10:00 on Thursday 2013-10-17 (`runner up` at real speed, so the contract is
/// held for minutes), kills the process with SIGKILL while it holds it, then restarts the same
/// agent with no signals over `restart_tape`. Returns the restart's stdout, the journal, the
/// contract and the entry (qty, avg price) that were left open.
fn kill_while_holding_a_call(
    dir: &Path,
    restart_tape: &str,
) -> (String, std::path::PathBuf, String, (Decimal, Decimal)) {
    use crate::fleet::{kill9, spawn_up, verify, wait_for};
    let (db, st) = (dir.join("j.db"), dir.join("state"));
    std::fs::write(
        dir.join("tape.csv"),
        "timestamp,price,size\n2013-10-17T10:00:00.000-04:00,170.00,100\n\
         2013-10-17T10:00:01.000-04:00,170.10,100\n2013-10-17T10:30:00.000-04:00,170.40,100\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("kill.signals.csv"),
        "timestamp,ticker,direction\n2013-10-17T10:00:00-04:00,SPY,b\n",
    )
    .unwrap();
    let recipe = killed_recipe(dir);
    let mut up = spawn_up(&[s(&recipe), "--speed", "1x", "--journal", s(&db), "--state-dir", s(&st)]);
    wait_for("the call's position snapshot", || !open_option_positions(&db).is_empty());
    kill9(&mut up);
    verify(&db);
    let open = open_option_positions(&db);
    assert_eq!(open.len(), 1, "one contract held: {open:?}");
    let (occ, qty, avg) = open[0].clone();
    // ATM at 170.00: the 170 call of the October monthly, named by its OCC symbol in the journal.
    assert_eq!(occ, "SPY   131019C00170000");

    // The restart sees the underlying again; no new signal.
    std::fs::write(dir.join("tape.csv"), restart_tape).unwrap();
    std::fs::write(
        dir.join("kill.signals.csv"),
        "timestamp,ticker,direction\n2013-10-25T10:00:00-04:00,SPY,b\n",
    )
    .unwrap();
    let out = Run::new(["up", s(&recipe), "--speed", "max", "--journal", s(&db), "--state-dir", s(&st)])
        .args(["--report-dir", s(&dir.join("report"))])
        .run()
        .success();
    assert!(
        out.stdout.contains(&format!("opt-kill: holding {qty} {occ} at {avg} taken over from run opt-kill-")),
        "{}",
        out.stdout
    );
    assert!(open_option_positions(&db).is_empty(), "flat in the journal afterwards: {}", out.stdout);
    verify(&db);
    (out.stdout, db, occ, (dec(&qty), dec(&avg)))
}

/// The restart's closing fill (the journal's last): (instrument, side, qty, price, time).
fn closing_fill(db: &Path) -> (String, String, Decimal, Decimal, String) {
    let c = rusqlite::Connection::open(db).unwrap();
    let (instrument, side, qty, price, time): (String, String, String, String, String) = c
        .query_row(
            "SELECT instrument, side, qty, price, time FROM fills ORDER BY audit_seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    (instrument, side, dec(&qty), dec(&price), time)
}

#[test]
fn a_contract_left_by_a_killed_run_is_taken_over_and_closed_at_its_synthetic_bid() {
    use runner::options::{ChainSettings, ChainSource, OptionContract, SyntheticChain};
    let dir = tempfile::tempdir().unwrap();
    let tape = "timestamp,price,size\n2013-10-17T11:00:00.000-04:00,170.50,100\n\
                2013-10-17T11:00:05.000-04:00,170.55,100\n";
    let (_, db, occ, (qty, avg)) = kill_while_holding_a_call(dir.path(), tape);
    // The restart holds the call until its data ends, then closes it (exit reason shutdown) at
    // the bid the recipe's chain (default IV 16 %, NYSE days) quotes at its last print.
    let chain =
        SyntheticChain::new("SPY", ChainSettings::default(), runner::calendar::Calendar::nyse()).unwrap();
    let contract: OptionContract = occ.parse().unwrap();
    let at = runner::model::Timestamp::from_datetime(
        &chrono::DateTime::parse_from_rfc3339("2013-10-17T11:00:05-04:00").unwrap(),
    );
    let bid = chain.quote(&contract, dec("170.55"), at).unwrap().bid;
    assert!(bid > Decimal::ZERO && bid < dec("170.50"), "a premium, not the underlying's price: {bid}");
    let (instrument, side, closed, price, _) = closing_fill(&db);
    assert_eq!((instrument, side.as_str(), closed, price), (occ.clone(), "sell", qty, bid));
    let deals = std::fs::read_to_string(dir.path().join("report/deals.csv")).unwrap();
    let row = deals.lines().nth(1).unwrap();
    assert!(row.contains(&occ) && row.contains(",shutdown,"), "{deals}");
    assert!(row.contains(&format!(",{avg},")), "entry at its average: {deals}");
    // `runner journal trades` names the contract on both fills.
    let trades = Run::new(["journal", "--db", s(&db), "trades"]).run().success();
    let rows: Vec<&str> = trades.stdout.lines().filter(|l| l.contains("opt-kill")).collect();
    assert_eq!(rows.len(), 2, "{}", trades.stdout);
    // …in the one spelling every table uses (`SPY 131019P00168000`).
    let shown = runner::risk::text::instrument(&occ);
    assert!(rows.iter().all(|l| l.contains(&shown)), "{}", trades.stdout);
    assert!(rows[1].contains(&bid.to_string()), "{}", trades.stdout);
}

#[test]
fn a_contract_left_by_a_killed_run_past_its_expiry_settles_at_intrinsic_value() {
    let dir = tempfile::tempdir().unwrap();
    // Monday 2013-10-21: the October monthly stopped trading on Friday at 16:00. Nothing saw the
    // underlying since Thursday: it settles at the first price there is, 173.00 − 170 strike.
    let tape = "timestamp,price,size\n2013-10-21T09:30:00.000-04:00,173.00,100\n\
                2013-10-21T09:31:00.000-04:00,173.10,100\n";
    let (stdout, db, occ, (qty, _)) = kill_while_holding_a_call(dir.path(), tape);
    let (instrument, side, closed, price, time) = closing_fill(&db);
    assert_eq!((instrument, side.as_str(), closed, price), (occ.clone(), "sell", qty, dec("3.00")));
    assert!(time.starts_with("2013-10-18T20:00:00"), "stamped at the last trading time: {time}");
    assert!(stdout.contains(&format!("{occ} expired: settled at intrinsic value 3.00")), "{stdout}");
    let deals = std::fs::read_to_string(dir.path().join("report/deals.csv")).unwrap();
    assert!(deals.lines().nth(1).unwrap().contains(",expiry,"), "{deals}");
}
