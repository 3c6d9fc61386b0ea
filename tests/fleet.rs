//! Fleet guardrails end to end with the real binary: journaled runs, account locks across
//! processes, the fleet kill switch, `runner status`, `kill -9` and restart.
//! Journals, locks and status files live in temp dirs; data is the repo's data/ SPY tape.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Run, repo_root, runner_bin};

const A: &str = "tests/fixtures/fleet/a.yaml";
const B: &str = "tests/fixtures/fleet/b.yaml";

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// Start `runner up` in the background (output discarded).
pub(crate) fn spawn_up(args: &[&str]) -> Child {
    Command::new(runner_bin())
        .arg("up")
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn runner up")
}

pub(crate) fn kill9(child: &mut Child) {
    // SAFETY: sending SIGKILL to our own child process.
    let r = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    assert_eq!(r, 0, "kill -9");
    child.wait().expect("reap the killed runner");
}

/// Poll `cond` every 100 ms for up to 60 s.
pub(crate) fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn fill_count(db: &Path) -> usize {
    if !db.exists() {
        return 0;
    }
    let Ok(c) = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return 0;
    };
    c.query_row("SELECT count(*) FROM fills", [], |r| r.get::<_, i64>(0)).map_or(0, |n| n as usize)
}

pub(crate) fn verify(db: &Path) {
    Run::new(["journal", "--db", s(db), "verify"]).run().success();
}

#[test]
fn backtest_journals_every_fill_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let bt = Run::new(["backtest", A, "--journal", s(&db), "--report-dir", s(&dir.path().join("r"))])
        .run()
        .success();
    assert!(bt.stdout.contains("journal run fleet-a-"), "{}", bt.stdout);
    let deals = std::fs::read_to_string(dir.path().join("r/deals.csv")).unwrap();
    let trades = deals.lines().count() - 1;
    assert!(trades > 0, "{deals}");
    let out = Run::new(["journal", "--db", s(&db), "--format", "json", "trades"]).run().success();
    let fills: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    // Every closed trade is an entry fill and an exit fill (market orders fill at once).
    assert_eq!(fills.as_array().unwrap().len(), trades * 2, "{}", out.stdout);
    let c = rusqlite::Connection::open(&db).unwrap();
    let q = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(q("SELECT count(*) FROM runs WHERE mode = 'backtest' AND outcome = 'completed'"), 1);
    // Every round trip closes the same day (flatten_at 15:55): each is a day trade.
    assert_eq!(q("SELECT count(*) FROM day_trades") as usize, trades);
    assert_eq!(q("SELECT count(DISTINCT client_order_id) FROM orders") as usize, trades * 2);
    assert_eq!(q("SELECT count(*) FROM orders WHERE status = 'filled'") as usize, trades * 2);
    assert_eq!(q("SELECT count(*) FROM positions") as usize, trades * 2);
    verify(&db);
    // Opting out writes nothing.
    let none = dir.path().join("none.db");
    let r1 = dir.path().join("r1");
    Run::new(["backtest", A, "--journal", s(&none), "--no-journal", "--report-dir", s(&r1)]).run().success();
    assert!(!none.exists(), "--no-journal wins over --journal");
    Run::new(["backtest", A, "--no-journal", "--report-dir", s(&dir.path().join("r2"))]).run().success();
}

#[test]
fn status_lock_contention_and_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let st = dir.path().join("state");
    let mut holder = spawn_up(&[A, "--speed", "60x", "--journal", s(&db), "--state-dir", s(&st)]);
    let status_file = st.join("status/fleet-a.json");
    wait_for("the status file", || status_file.is_file());
    let out = Run::new(["status", "--state-dir", s(&st), "--format", "json"]).run().success();
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rows[0]["agent"], "fleet-a", "{}", out.stdout);
    assert_eq!(rows[0]["state"], "active", "{}", out.stdout);
    assert_eq!(rows[0]["running"], true, "{}", out.stdout);
    assert_eq!(rows[0]["pid"], holder.id(), "{}", out.stdout);
    assert_eq!(rows[0]["health"], "ok", "{}", out.stdout);
    let table = Run::new(["status", "--state-dir", s(&st)]).run().success();
    assert!(table.stdout.contains("fleet-a") && table.stdout.contains("active"), "{}", table.stdout);

    // A second `up` on the held account refuses and names the holder.
    let second = Run::new(["up", A, "--speed", "max", "--journal", s(&db), "--state-dir", s(&st)]).run();
    assert_eq!(second.code, 1, "{}\n{}", second.stdout, second.stderr);
    assert!(
        second.stderr.contains("held by agent fleet-a")
            && second.stderr.contains(&format!("pid {}", holder.id())),
        "{}",
        second.stderr
    );
    // Two recipes naming one account in one process are refused too.
    let dup = dir.path().join("dup.yaml");
    let text =
        std::fs::read_to_string(repo_root().join(B)).unwrap().replace("paper-fleet-b", "paper-fleet-a");
    std::fs::write(&dup, text.replace("../../../data", &repo_root().join("data").display().to_string()))
        .unwrap();
    let both =
        Run::new(["up", A, s(&dup), "--journal", s(&db), "--state-dir", s(&dir.path().join("o"))]).run();
    assert_eq!(both.code, 1, "{}", both.stderr);
    assert!(both.stderr.contains("one account belongs to one agent"), "{}", both.stderr);

    // kill -9: the status file stays but is shown stale, the lock is free, the journal verifies.
    kill9(&mut holder);
    let out = Run::new(["status", "--state-dir", s(&st)]).run().success();
    assert!(out.stdout.contains("stopped (stale)"), "{}", out.stdout);
    verify(&db);
    let again =
        Run::new(["up", A, "--speed", "max", "--journal", s(&db), "--state-dir", s(&st)]).run().success();
    assert!(again.stdout.contains("journal run fleet-a-"), "{}", again.stdout);
    // A clean exit removes the status file.
    assert!(!status_file.exists());
    verify(&db);
}

#[test]
fn fleet_loss_limit_halts_every_agent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let st = dir.path().join("state");
    let out = Run::new([
        "up",
        A,
        B,
        "--speed",
        "max",
        "--fleet-loss-limit",
        "20",
        "--journal",
        s(&db),
        "--state-dir",
        s(&st),
        "--report-dir",
        s(&dir.path().join("r")),
    ])
    .run()
    .success();
    assert!(out.stdout.contains("fleet halt: fleet daily loss limit 20 reached"), "{}", out.stdout);
    for agent in ["fleet-a", "fleet-b"] {
        assert!(
            out.stdout.contains(&format!("{agent} warning: halted: fleet daily loss limit")),
            "{}",
            out.stdout
        );
    }
    let c = rusqlite::Connection::open(&db).unwrap();
    let halts: Vec<(String, Option<String>)> = c
        .prepare("SELECT scope, agent FROM halts")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // At least one fleet halt; each agent journals every halt it obeyed.
    let fleet = halts.iter().filter(|h| h.0 == "fleet" && h.1.is_none()).count();
    assert!(fleet >= 1, "{halts:?}");
    // An agent that has already reached the end of its tape when the last fleet halt is
    // issued cannot obey it any more, so it may journal one halt fewer — never more.
    let mut obeyed = 0;
    for agent in ["fleet-a", "fleet-b"] {
        let n = halts.iter().filter(|h| h.0 == "agent" && h.1.as_deref() == Some(agent)).count();
        assert!(n == fleet || n + 1 == fleet, "{agent}: {n} halts for {fleet} fleet halts: {halts:?}");
        obeyed += n;
    }
    assert_eq!(halts.len(), fleet + obeyed, "{halts:?}");
    let halted: i64 = c
        .query_row(
            "SELECT count(*) FROM runs WHERE outcome LIKE 'halted: fleet daily loss limit%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(halted, 2);
    // Both flat at the end, and no new entry after the halt.
    let open: i64 = c
        .query_row(
            "SELECT count(*) FROM positions p WHERE audit_seq = (SELECT max(audit_seq) FROM positions q
             WHERE q.agent = p.agent) AND qty != '0'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(open, 0);
    verify(&db);
}

#[test]
fn kill_9_mid_run_then_restart_rebuilds_day_trades() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let st = dir.path().join("state");
    let mut up = spawn_up(&[B, "--speed", "3000x", "--journal", s(&db), "--state-dir", s(&st)]);
    // Wait for at least one round trip (two fills), then kill -9.
    wait_for("two fills in the journal", || fill_count(&db) >= 2);
    kill9(&mut up);
    verify(&db);
    let c = rusqlite::Connection::open(&db).unwrap();
    let day_trades: i64 = c.query_row("SELECT count(*) FROM day_trades", [], |r| r.get(0)).unwrap();
    let crashed: i64 =
        c.query_row("SELECT count(*) FROM runs WHERE ended_at IS NULL", [], |r| r.get(0)).unwrap();
    assert_eq!(crashed, 1);
    let again =
        Run::new(["up", B, "--speed", "max", "--journal", s(&db), "--state-dir", s(&st)]).run().success();
    assert!(
        again.stdout.contains("never ended (its process died); journaled as crashed"),
        "{}",
        again.stdout
    );
    let crashed: i64 = c
        .query_row("SELECT count(*) FROM runs WHERE outcome LIKE 'crashed (found by fleet-b-%'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(crashed, 1);
    assert!(day_trades >= 1, "two fills on one day make a day trade");
    assert!(
        again.stdout.contains(&format!("restored {day_trades} day trade(s) of account paper-fleet-b")),
        "{day_trades} day trades\n{}",
        again.stdout
    );
    // A position the crashed run left open is flattened in the journal at the first price.
    let open: i64 = c
        .query_row(
            "SELECT count(*) FROM positions WHERE audit_seq = (SELECT max(audit_seq) FROM positions) AND qty != '0'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(open, 0, "{}", again.stdout);
    verify(&db);
}

/// Write a PDT case: the repo's hand-made tape limited to `days`, an external-signal recipe
/// (margin account with 10,000, under the PDT minimum) buying at 09:31 each day and
/// flattening at 09:45, and its signal file. Returns the recipe path.
fn pdt_case(dir: &Path, name: &str, days: &[&str]) -> std::path::PathBuf {
    let tape = std::fs::read_to_string(repo_root().join("tests/fixtures/risk/pdt-2013.csv")).unwrap();
    let mut data = String::from("timestamp,price,size\n");
    for l in tape.lines().skip(1).filter(|l| days.iter().any(|d| l.starts_with(d))) {
        data.push_str(l);
        data.push('\n');
    }
    std::fs::write(dir.join(format!("{name}.csv")), data).unwrap();
    let mut sig = String::from("timestamp,ticker,direction\n");
    for d in days {
        sig.push_str(&format!("{d}T09:31:00-04:00,SPY,b\n"));
    }
    std::fs::write(dir.join(format!("{name}.signals.csv")), sig).unwrap();
    let recipe = format!(
        "version: 1\nagent: pdt-agent\nprovider: {{kind: replay, path: {name}.csv}}\n\
         broker: {{kind: paper, account: paper-pdt, starting_equity: 10000}}\n\
         instrument: {{underlying: SPY, kind: equity}}\n\
         algorithm: {{kind: external-signal, timeframe: 5m}}\n\
         risk: {{entry_size: 100}}\nsession: {{hours: regular, flatten_at: \"09:45\"}}\n"
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, recipe).unwrap();
    path
}

fn denial_codes(db: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c.prepare("SELECT reason_code FROM denials ORDER BY audit_seq").unwrap();
    st.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

#[test]
fn the_pdt_window_persists_across_runs_through_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let (db, st) = (dir.path().join("j.db"), dir.path().join("state"));
    // Run 1: three day trades on 10-07, 10-08, 10-09.
    let first = pdt_case(dir.path(), "first", &["2013-10-07", "2013-10-08", "2013-10-09"]);
    Run::new(["up", s(&first), "--speed", "max", "--journal", s(&db), "--state-dir", s(&st)]).run().success();
    assert!(denial_codes(&db).is_empty());
    let c = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = c.query_row("SELECT count(*) FROM day_trades", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 3);
    // Run 2, a new process on 10-10: the fourth day trade in five business days is refused,
    // because the three earlier ones came back from the journal.
    let second = pdt_case(dir.path(), "second", &["2013-10-10"]);
    let out = Run::new(["up", s(&second), "--speed", "max", "--journal", s(&db), "--state-dir", s(&st)])
        .run()
        .success();
    assert!(out.stdout.contains("restored 3 day trade(s) of account paper-pdt"), "{}", out.stdout);
    assert_eq!(denial_codes(&db), ["pdt-limit"], "{}", out.stdout);
    verify(&db);
    // Control: the same second run on a fresh journal trades.
    let fresh = dir.path().join("fresh.db");
    Run::new(["up", s(&second), "--speed", "max", "--journal", s(&fresh), "--state-dir", s(&st)])
        .run()
        .success();
    assert!(denial_codes(&fresh).is_empty());
    let trades: i64 = rusqlite::Connection::open(&fresh)
        .unwrap()
        .query_row("SELECT count(*) FROM fills", [], |r| r.get(0))
        .unwrap();
    assert_eq!(trades, 2);
}

#[test]
fn stale_market_data_makes_an_agent_unhealthy() {
    let dir = tempfile::tempdir().unwrap();
    // A fleet file in the temp dir: journal and state land beside it.
    let fleet = dir.path().join("runner.yaml");
    std::fs::write(&fleet, "version: 1\nstale_data_seconds: 1\n").unwrap();
    // At real time the hand-made tape has a minute between prints.
    let recipe = pdt_case(dir.path(), "slow", &["2013-10-07"]);
    let mut up = spawn_up(&[s(&recipe), "--speed", "1x", "--fleet", s(&fleet)]);
    let st = dir.path().join(".runner");
    let mut last = String::new();
    wait_for("an unhealthy status", || {
        let out = Run::new(["status", "--fleet", s(&fleet), "--format", "json"]).run();
        last = out.stdout;
        last.contains("unhealthy: no market data for")
    });
    let rows: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(rows[0]["agent"], "pdt-agent", "{last}");
    assert_eq!(rows[0]["running"], true, "{last}");
    assert!(st.join("status/pdt-agent.json").is_file());
    assert!(dir.path().join("journal/runner.db").is_file(), "the journal follows the fleet file");
    kill9(&mut up);
}

#[test]
fn a_position_left_by_a_killed_run_is_flattened_at_the_first_price() {
    let dir = tempfile::tempdir().unwrap();
    let (db, st) = (dir.path().join("j.db"), dir.path().join("state"));
    // At 10x the 09:31 buy fills ~6 s in and is held until 09:45 (~84 s later): kill -9 in between.
    let recipe = pdt_case(dir.path(), "held", &["2013-10-07", "2013-10-08"]);
    let mut up = spawn_up(&[s(&recipe), "--speed", "10x", "--journal", s(&db), "--state-dir", s(&st)]);
    wait_for("the entry fill", || fill_count(&db) >= 1);
    kill9(&mut up);
    assert_eq!(fill_count(&db), 1, "killed while holding");
    verify(&db);
    let out = Run::new(["up", s(&recipe), "--speed", "max", "--journal", s(&db), "--state-dir", s(&st)])
        .run()
        .success();
    assert!(out.stdout.contains("left 100 SPY open at 100"), "{}", out.stdout);
    // The first price of the new run is the tape's first print, 100.00 at 09:30 on 10-07.
    assert!(out.stdout.contains("flattened 100 SPY left open by run pdt-agent-"), "{}", out.stdout);
    assert!(out.stdout.contains("at the first price 100.00 (P&L 0.00)"), "{}", out.stdout);
    let c = rusqlite::Connection::open(&db).unwrap();
    let (side, qty, price): (String, String, String) = c
        .query_row(
            "SELECT side, qty, price FROM fills WHERE client_order_id = 'pdt-agent-recover-1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((side.as_str(), qty.as_str(), price.as_str()), ("sell", "100", "100.00"));
    verify(&db);
}
