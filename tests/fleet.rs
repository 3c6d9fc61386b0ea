//! Fleet guardrails end to end with the real binary: journaled runs, account locks across
//! processes, the fleet kill switch, `runner status`, `kill -9` and restart.
//! Journals, locks and status files live in temp dirs; data is the repo's data/ SPY tape.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Run, repo_root, runner_command};

const A: &str = "tests/fixtures/fleet/a.yaml";
const B: &str = "tests/fixtures/fleet/b.yaml";

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// Start `runner up` in the background (output discarded).
pub(crate) fn spawn_up(args: &[&str]) -> Child {
    // The journal is the one the arguments or the fleet file name.
    runner_command()
        .env_remove("RUNNER_JOURNAL")
        .arg("up")
        .args(args)
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

    // kill -9: the status file stays but is shown stale with health unknown (the file still
    // says ok), the lock is free, the journal verifies.
    kill9(&mut holder);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&status_file).unwrap()).unwrap();
    assert_eq!(written["health"], "ok");
    let out = Run::new(["status", "--state-dir", s(&st)]).run().success();
    let row = out.stdout.lines().find(|l| l.starts_with("fleet-a")).unwrap_or_default().to_owned();
    assert!(row.contains("stopped (stale)"), "{}", out.stdout);
    let health_col = out.stdout.lines().next().and_then(|h| h.find("HEALTH")).unwrap();
    assert!(row[health_col..].starts_with("unknown "), "{}", out.stdout);
    assert!(!row.contains(" ok "), "{}", out.stdout);
    let out = Run::new(["status", "--state-dir", s(&st), "--format", "json"]).run().success();
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rows[0]["running"], false, "{}", out.stdout);
    assert_eq!(rows[0]["health"], "unknown", "{}", out.stdout);
    assert_eq!(rows[0]["last_health"], "ok", "{}", out.stdout);
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
    // The restart replays the same dates from their start: what the killed run did there is
    // re-created by this run, so it is neither restored nor flattened (a run never inherits
    // "history" from its own future). Restoring across runs on later dates is tested below.
    assert!(
        again.stdout.contains(&format!("not restored: {day_trades} day trade(s) of account paper-fleet-b")),
        "{day_trades} day trades\n{}",
        again.stdout
    );
    assert!(!again.stdout.contains(&format!(": restored {day_trades} day trade(s)")), "{}", again.stdout);
    assert!(!again.stdout.contains("flattened"), "{}", again.stdout);
    // The newest snapshot is this run's, flat at the session's end.
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
fn a_position_left_by_a_killed_run_is_taken_over_by_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (db, st) = (dir.path().join("j.db"), dir.path().join("state"));
    // At 10x the 09:31 buy fills ~6 s in and is held until 09:45 (~84 s later): kill -9 in between.
    let recipe = pdt_case(dir.path(), "held", &["2013-10-07", "2013-10-08"]);
    let mut up = spawn_up(&[s(&recipe), "--speed", "10x", "--journal", s(&db), "--state-dir", s(&st)]);
    wait_for("the entry fill", || fill_count(&db) >= 1);
    kill9(&mut up);
    assert_eq!(fill_count(&db), 1, "killed while holding");
    verify(&db);
    // The restart trades the next day (its first event is after the position was opened): the
    // paper venue is restored from the journal, the agent holds the 100 shares again, and its
    // own rules close them (flatten_at 09:45) — with a new order id, never the old one.
    let later = pdt_case(dir.path(), "later", &["2013-10-08"]);
    let report = dir.path().join("report");
    let out = Run::new(["up", s(&later), "--speed", "max", "--journal", s(&db), "--state-dir", s(&st)])
        .args(["--report-dir", s(&report)])
        .run()
        .success();
    assert!(
        out.stdout.contains("holding 100 SPY at 100.00 taken over from run pdt-agent-"),
        "{}",
        out.stdout
    );
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut stmt =
        c.prepare("SELECT client_order_id, side, qty, time FROM fills ORDER BY audit_seq").unwrap();
    let fills: Vec<(String, String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(fills.len(), 2, "{fills:?}");
    let (first, second) = (&fills[0], &fills[1]);
    assert_eq!((first.1.as_str(), second.1.as_str(), second.2.as_str()), ("buy", "sell", "100"));
    assert_ne!(first.0, second.0, "a new id for the new run's order");
    assert!(
        second.3.starts_with("2013-10-08T13:45"),
        "closed at flatten_at on the restart's day: {second:?}"
    );
    let deals = std::fs::read_to_string(report.join("deals.csv")).unwrap();
    assert_eq!(deals.lines().count(), 2, "one deal, the position taken over: {deals}");
    assert!(deals.lines().nth(1).unwrap().contains(",session end,"), "{deals}");
    verify(&db);
}

/// The first `count` day trades restored by `runner up`, from its "restored N day trade(s)" line.
fn restored_count(stdout: &str) -> usize {
    stdout
        .lines()
        .find_map(|l| l.split_once(": restored ").and_then(|(_, r)| r.split(' ').next()?.parse().ok()))
        .unwrap_or(0)
}

/// `runner journal day-trades --format json` for one account: (count, not counted as backtest,
/// not counted as superseded).
fn command_count(db: &Path, account: &str, date: &str) -> (u64, u64, u64) {
    let out = Run::new(["journal", "--db", s(db), "--format", "json", "day-trades", "--account", account])
        .args(["--date", date])
        .run()
        .success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["accounts"][0]["account"], account, "{}", out.stdout);
    let n = v["accounts"][0]["count"].as_u64().unwrap();
    assert_eq!(v["day_trades"].as_array().unwrap().len() as u64, n, "{}", out.stdout);
    let nc = &v["not_counted"];
    (n, nc["backtest"].as_u64().unwrap(), nc["superseded"].as_u64().unwrap())
}

#[test]
fn replaying_the_same_dates_twice_trades_the_same() {
    // The shares recipe under the PDT minimum on a new account, replayed twice into one journal:
    // the second run must not inherit the first run's day trades on the very dates it replays.
    let dir = tempfile::tempdir().unwrap();
    let (db, st) = (dir.path().join("j.db"), dir.path().join("state"));
    let text = std::fs::read_to_string(repo_root().join("recipes/spy-9ma-shares.yaml")).unwrap();
    let text = text
        .replace("starting_equity: 50000", "starting_equity: 20000")
        .replace("account: paper-spy-shares", "account: paper-replay-twice")
        .replace("path: ../data/", &format!("path: {}/", repo_root().join("data").display()));
    assert!(text.contains("starting_equity: 20000") && text.contains("paper-replay-twice"), "{text}");
    let recipe = dir.path().join("x.yaml");
    std::fs::write(&recipe, text).unwrap();
    let mut deals = Vec::new();
    let mut outs = Vec::new();
    for n in 0..2 {
        let report = dir.path().join(format!("r{n}"));
        let out = Run::new(["up", s(&recipe), "--speed", "max", "--journal", s(&db), "--state-dir", s(&st)])
            .args(["--report-dir", s(&report)])
            .run()
            .success();
        deals.push(std::fs::read_to_string(report.join("deals.csv")).unwrap());
        outs.push(out.stdout);
    }
    let trades = deals[0].lines().count() - 1;
    assert_eq!(trades, 3, "three day trades, then pdt-limit: {}", deals[0]);
    assert_eq!(deals[0], deals[1], "the same replay makes the same trades");
    assert_eq!(restored_count(&outs[1]), 0, "{}", outs[1]);
    assert!(outs[1].contains("not restored: 3 day trade(s) of account paper-replay-twice"), "{}", outs[1]);
    // A backtest of the same recipe into the same journal: its simulated day trades never count.
    Run::new(["backtest", s(&recipe), "--journal", s(&db), "--report-dir", s(&dir.path().join("bt"))])
        .run()
        .success();
    // The command counts what the gate counts: the 3 trades once, not 9.
    assert_eq!(command_count(&db, "paper-replay-twice", "2013-10-11"), (3, 3, 3));
    verify(&db);
}

#[test]
fn journal_day_trades_counts_what_the_gate_restores() {
    let dir = tempfile::tempdir().unwrap();
    let (db, st) = (dir.path().join("j.db"), dir.path().join("state"));
    let days = ["2013-10-07", "2013-10-08", "2013-10-09"];
    let first = pdt_case(dir.path(), "first", &days);
    // The same three days as a paper run twice and as a backtest: 9 journaled day trades.
    for _ in 0..2 {
        Run::new(["up", s(&first), "--speed", "max", "--journal", s(&db), "--state-dir", s(&st)])
            .run()
            .success();
    }
    Run::new(["backtest", s(&first), "--journal", s(&db), "--report-dir", s(&dir.path().join("bt"))])
        .run()
        .success();
    let c = rusqlite::Connection::open(&db).unwrap();
    let all: i64 = c.query_row("SELECT count(*) FROM day_trades", [], |r| r.get(0)).unwrap();
    assert_eq!(all, 9);
    let (counted, backtest, superseded) = command_count(&db, "paper-pdt", "2013-10-10");
    assert_eq!((counted, backtest, superseded), (3, 3, 3));
    // A run on the next day restores exactly what the command counted, and is refused its 4th.
    let second = pdt_case(dir.path(), "second", &["2013-10-10"]);
    let out = Run::new(["up", s(&second), "--speed", "max", "--journal", s(&db), "--state-dir", s(&st)])
        .run()
        .success();
    assert_eq!(restored_count(&out.stdout) as u64, counted, "{}", out.stdout);
    assert_eq!(denial_codes(&db), ["pdt-limit"], "{}", out.stdout);
    // After it, the window ending 10-10 still holds the same 3 (run 2 made none).
    assert_eq!(command_count(&db, "paper-pdt", "2013-10-10").0, counted);
    verify(&db);
}
