//! `runner journal`: crash safety under `kill -9`, tamper detection, queries, account locks.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use chrono::{NaiveDate, TimeZone, Utc};
use runner::journal::{
    DayTradeRecord, DenialRecord, FillRecord, Journal, NewRun, PositionRecord, RunId, RunMode,
};
use runner::model::{AccountId, AgentId, ClientOrderId, InstrumentId, Side};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::{Run, runner_bin};

fn spawn(args: &[&str]) -> Child {
    Command::new(runner_bin())
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn runner")
}

/// Start `stress-write`, read acks until `kill_after`, SIGKILL it; returns (run id, last ack).
fn write_then_kill(db: &Path, kill_after: u64, durability: &str) -> (RunId, u64) {
    let db = db.to_str().expect("utf-8 temp path");
    let mut child =
        spawn(&["journal", "stress-write", "--db", db, "--count", "1000000", "--durability", durability]);
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("run line").expect("read");
    let run = RunId(first.strip_prefix("run ").expect("first line is `run ID`").to_owned());
    let mut last = 0;
    for line in lines.by_ref() {
        let line = line.expect("read ack");
        last = line.strip_prefix("ack ").expect("ack line").parse().expect("ack number");
        if last >= kill_after {
            break;
        }
    }
    // `Child::kill` is SIGKILL on Unix: no destructor, no SQLite close, no flush.
    child.kill().expect("kill -9");
    let status = child.wait().expect("wait");
    assert!(status.code().is_none(), "writer finished before being killed: {status:?}");
    (run, last)
}

#[test]
fn every_acked_record_survives_kill_9_and_the_chain_verifies() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("journal").join("runner.db");
    let mut runs = Vec::new();
    // Several kills at different moments, into the same journal: each restart appends to
    // what the previous (killed) writer left.
    // `process-crash` durability (synchronous=NORMAL) must also keep acked records across
    // kill -9: the OS still holds what the killed process wrote.
    for (kill_after, durability) in [(1, "full"), (23, "full"), (140, "full"), (60, "process-crash")] {
        let (run, acked) = write_then_kill(&db, kill_after, durability);
        assert!(acked >= kill_after);
        runs.push(run.clone());

        let out = Run::new(["journal", "verify", "--db", db.to_str().expect("utf-8")]).run().success();
        assert!(out.stdout.contains("chain intact"), "{}", out.stdout);

        let journal = Journal::open_existing(&db).expect("open after kill");
        let fills = journal.fills_for_run(&run).expect("fills");
        for i in 1..=acked {
            let id = format!("{run}-f{i}");
            assert!(fills.iter().any(|f| f.fill_id == id), "acked fill {id} lost after kill -9");
        }
        // Rebuild after restart: the position and day trades written before the kill.
        let positions = journal.open_positions(&AgentId::from("stress")).expect("positions");
        assert_eq!(positions.len(), 1, "{positions:?}");
        assert!(positions[0].qty >= Decimal::from(acked), "position {} < acked {acked}", positions[0].qty);
        assert_eq!(positions[0].run.as_ref(), Some(&run));
        let day = NaiveDate::from_ymd_opt(2013, 10, 7).expect("date");
        let trades = journal.day_trades_since(&AccountId::from("stress-acct"), day).expect("day trades");
        let this_run = trades.iter().filter(|d| d.run.as_ref() == Some(&run)).count() as u64;
        assert!(this_run >= acked / 3, "{this_run} day trades for {acked} acked steps");
    }
    // The CLI sees every killed run, none of them ended.
    let out = Run::new(["journal", "runs", "--db", db.to_str().expect("utf-8"), "--format", "json"])
        .run()
        .success();
    let listed: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let listed = listed.as_array().expect("array");
    assert_eq!(listed.len(), runs.len());
    for (r, id) in listed.iter().zip(&runs) {
        assert_eq!(r["id"], id.as_str());
        assert!(r["ended_at"].is_null());
    }
}

#[test]
fn a_writer_that_finishes_ends_its_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("j.db");
    let db_s = db.to_str().expect("utf-8");
    let out = Run::new(["journal", "stress-write", "--db", db_s, "--count", "4"]).run().success();
    assert!(out.stdout.ends_with("ack 4\n"), "{}", out.stdout);
    let out = Run::new(["journal", "runs", "--db", db_s]).run().success();
    assert!(out.stdout.contains("completed") && out.stdout.contains("backtest"), "{}", out.stdout);
    let out = Run::new(["journal", "trades", "--db", db_s, "--agent", "stress"]).run().success();
    assert!(out.stdout.contains("4 fill(s)"), "{}", out.stdout);
}

/// A journal built through the library, as the engine would.
fn sample_journal(path: &Path) -> Journal {
    let mut j = Journal::open(path).expect("open");
    let at = |d: u32, h: u32, m: u32| Utc.with_ymd_and_hms(2013, 10, d, h, m, 0).single().expect("time");
    let run = j
        .begin_run(&NewRun {
            agent: AgentId::from("spy-9ma"),
            recipe: "recipes/spy-9ma.yaml".into(),
            mode: RunMode::Paper,
            started_at: at(7, 13, 0),
            metadata: Default::default(),
        })
        .expect("begin");
    let fill = |n: u32, agent: &str, time| FillRecord {
        fill_id: format!("x{n}"),
        client_order_id: ClientOrderId(format!("{agent}-{n}")),
        run: Some(run.clone()),
        agent: AgentId::from(agent),
        account: AccountId::from("paper-1"),
        instrument: InstrumentId::from("SPY"),
        side: if n.is_multiple_of(2) { Side::Sell } else { Side::Buy },
        qty: dec!(100),
        price: dec!(168.01) + Decimal::from(n),
        fee: dec!(1.00),
        time,
    };
    // 2013-10-07 20:30 New York is 2013-10-08 00:30 UTC: it belongs to the 7th in New York.
    j.record_fill(&fill(1, "spy-9ma", at(7, 14, 0))).expect("fill");
    j.record_fill(&fill(2, "spy-9ma", at(8, 0, 30))).expect("fill");
    j.record_fill(&fill(3, "other", at(7, 15, 0))).expect("fill");
    j.record_fill(&fill(4, "spy-9ma", at(8, 14, 0))).expect("fill");
    j.record_denial(&DenialRecord {
        run: Some(run.clone()),
        agent: AgentId::from("spy-9ma"),
        account: AccountId::from("paper-1"),
        instrument: InstrumentId::from("SPY"),
        side: Side::Buy,
        qty: dec!(100),
        client_order_id: None,
        reason_code: "pdt".into(),
        message: "would be the 4th day trade in 5 business days".into(),
        time: at(8, 15, 0),
    })
    .expect("denial");
    // Day trades on Tue 1st (outside a window ending Tue 8th), Wed 2nd, Fri 4th, Mon 7th, Tue 8th,
    // and Wed 9th (after the window).
    for (d, account) in
        [(1, "paper-1"), (2, "paper-1"), (4, "paper-1"), (7, "paper-1"), (8, "paper-2"), (9, "paper-1")]
    {
        j.record_day_trade(&DayTradeRecord {
            run: Some(run.clone()),
            account: AccountId::from(account),
            agent: AgentId::from("spy-9ma"),
            instrument: InstrumentId::from("SPY"),
            trade_date: NaiveDate::from_ymd_opt(2013, 10, d).expect("date"),
            qty: dec!(100),
            time: at(d, 19, 0),
        })
        .expect("day trade");
    }
    j.record_position(&PositionRecord {
        run: Some(run),
        agent: AgentId::from("spy-9ma"),
        account: AccountId::from("paper-1"),
        instrument: InstrumentId::from("SPY"),
        qty: dec!(-100),
        avg_price: dec!(169.01),
        time: at(8, 15, 0),
    })
    .expect("position");
    j
}

#[test]
fn trades_filter_by_new_york_date_and_agent() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("j.db");
    drop(sample_journal(&db));
    let db = db.to_str().expect("utf-8");
    let out = Run::new(["journal", "trades", "--db", db, "--date", "2013-10-07", "--format", "json"])
        .run()
        .success();
    let fills: Vec<FillRecord> = serde_json::from_str(&out.stdout).expect("fills json");
    let ids: Vec<&str> = fills.iter().map(|f| f.fill_id.as_str()).collect();
    assert_eq!(ids, ["x1", "x2", "x3"]);
    assert_eq!(fills[1].price, dec!(170.01), "prices stay exact decimals");

    let out = Run::new(["journal", "trades", "--db", db, "--date", "2013-10-07", "--agent", "spy-9ma"])
        .run()
        .success();
    assert!(out.stdout.contains("TIME (NEW YORK)") && out.stdout.contains("2 fill(s)"), "{}", out.stdout);
    assert!(out.stdout.contains("2013-10-07 20:30:00.000"), "New York time shown:\n{}", out.stdout);
    assert!(!out.stdout.contains("other"), "{}", out.stdout);

    let out = Run::new(["journal", "trades", "--db", db]).run().success();
    assert!(out.stdout.contains("4 fill(s)"), "{}", out.stdout);

    Run::new(["journal", "trades", "--db", db, "--date", "2013-10-07", "--today"]).run().code(2);
    Run::new(["journal", "trades", "--db", db, "--date", "yesterday"]).run().code(2);
}

#[test]
fn denials_show_their_reasons() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("j.db");
    drop(sample_journal(&db));
    let db = db.to_str().expect("utf-8");
    let out = Run::new(["journal", "denials", "--db", db]).run().success();
    assert!(out.stdout.contains("pdt"), "{}", out.stdout);
    assert!(out.stdout.contains("would be the 4th day trade in 5 business days"), "{}", out.stdout);
    let out = Run::new(["journal", "denials", "--db", db, "--date", "2013-10-07", "--format", "json"])
        .run()
        .success();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out.stdout).expect("json"), serde_json::json!([]));
}

#[test]
fn day_trades_count_in_the_five_business_day_window() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("j.db");
    drop(sample_journal(&db));
    let db = db.to_str().expect("utf-8");
    // Window ending Tue 2013-10-08 = Wed 2nd .. Tue 8th (the weekend skipped).
    let out = Run::new(["journal", "day-trades", "--db", db, "--account", "paper-1", "--date", "2013-10-08"])
        .run()
        .success();
    assert!(out.stdout.contains("2013-10-02 .. 2013-10-08"), "{}", out.stdout);
    assert!(out.stdout.contains("account paper-1: 3 day trade(s)"), "{}", out.stdout);
    let out = Run::new(["journal", "day-trades", "--db", db, "--date", "2013-10-08", "--format", "json"])
        .run()
        .success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["window"]["from"], "2013-10-02");
    assert_eq!(
        v["accounts"],
        serde_json::json!([{"account": "paper-1", "count": 3}, {"account": "paper-2", "count": 1}])
    );
    // Window ending Mon 14th = Tue 8th .. Mon 14th: only the 9th for paper-1.
    let out = Run::new(["journal", "day-trades", "--db", db, "--account", "paper-1", "--date", "2013-10-14"])
        .run()
        .success();
    assert!(out.stdout.contains("account paper-1: 1 day trade(s)"), "{}", out.stdout);
}

#[test]
fn day_trade_window_skips_exchange_holidays() {
    // Day trades of a paper run on Thu 12-19, Fri 12-20, Tue 12-24, Thu 12-26 and Fri 12-27, 2013.
    // The window ending 12-27 is 12-20, 12-23, 12-24, 12-26, 12-27: Christmas (Wed 12-25) is an
    // NYSE holiday, so 12-20 is in it (a weekdays-only window would start on 12-23) and 12-19 is not.
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("j.db");
    let mut j = Journal::open(&db).expect("open");
    let run = j
        .begin_run(&NewRun {
            agent: AgentId::from("a"),
            recipe: "a.yaml".into(),
            mode: RunMode::Paper,
            started_at: Utc::now(),
            metadata: [("account".to_owned(), "paper-h".to_owned())].into(),
        })
        .expect("begin");
    for d in [19, 20, 24, 26, 27] {
        j.record_day_trade(&DayTradeRecord {
            run: Some(run.clone()),
            account: AccountId::from("paper-h"),
            agent: AgentId::from("a"),
            instrument: InstrumentId::from("SPY"),
            trade_date: NaiveDate::from_ymd_opt(2013, 12, d).expect("date"),
            qty: dec!(100),
            time: Utc.with_ymd_and_hms(2013, 12, d, 16, 0, 0).single().expect("time"),
        })
        .expect("day trade");
    }
    drop(j);
    let db = db.to_str().expect("utf-8");
    let out = Run::new(["journal", "day-trades", "--db", db, "--date", "2013-12-27"]).run().success();
    assert!(out.stdout.contains("window 2013-12-20 .. 2013-12-27"), "{}", out.stdout);
    assert!(out.stdout.contains("weekends and holidays skipped"), "{}", out.stdout);
    assert!(!out.stdout.contains("not yet"), "{}", out.stdout);
    assert!(out.stdout.contains("account paper-h: 4 day trade(s)"), "{}", out.stdout);
    let out = Run::new(["journal", "day-trades", "--db", db, "--date", "2013-12-27", "--format", "json"])
        .run()
        .success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(
        v["window"]["business_days"],
        serde_json::json!(["2013-12-20", "2013-12-23", "2013-12-24", "2013-12-26", "2013-12-27"])
    );
    assert_eq!(v["holidays_considered"], true);
    assert_eq!(v["calendar"], "NYSE");
    assert_eq!(v["accounts"], serde_json::json!([{"account": "paper-h", "count": 4}]));
}

#[test]
fn verify_detects_tampering_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("j.db");
    drop(sample_journal(&db));
    let db_s = db.to_str().expect("utf-8");
    let out = Run::new(["journal", "verify", "--db", db_s, "--format", "json"]).run().success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["ok"], true);
    let head = v["head_hash"].as_str().expect("head").to_owned();
    // The anchor stays valid as the journal grows.
    let mut j = Journal::open(&db).expect("reopen");
    j.record_halt(&runner::journal::HaltRecord {
        run: None,
        scope: runner::journal::HaltScope::Fleet,
        agent: None,
        reason: "manual".into(),
        time: Utc::now(),
    })
    .expect("halt");
    drop(j);
    let out = Run::new(["journal", "verify", "--db", db_s, "--anchor", &head]).run().success();
    assert!(out.stdout.contains("anchor found at entry 13"), "{}", out.stdout);

    let conn = rusqlite::Connection::open(&db).expect("raw");
    conn.execute("UPDATE fills SET qty = '1000' WHERE fill_id = 'x1'", []).expect("tamper");
    drop(conn);
    let out = Run::new(["journal", "verify", "--db", db_s]).run().code(1);
    assert!(out.stdout.contains("fill row of audit entry 2 was edited"), "{}", out.stdout);

    // Rewriting history consistently (deleting the newest entry with its row and fixing the
    // head) passes a plain verify; it is caught only against a head recorded elsewhere.
    let dir2 = tempfile::tempdir().expect("tmp");
    let db2 = dir2.path().join("j.db");
    let anchor = sample_journal(&db2).verify().expect("verify").head_hash;
    let conn = rusqlite::Connection::open(&db2).expect("raw");
    conn.execute_batch(
        "DELETE FROM positions; DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit);
         UPDATE chain_head SET seq = (SELECT max(seq) FROM audit),
                               hash = (SELECT hash FROM audit ORDER BY seq DESC LIMIT 1);",
    )
    .expect("rewrite");
    drop(conn);
    let db2_s = db2.to_str().expect("utf-8");
    let out = Run::new(["journal", "verify", "--db", db2_s]).run().success();
    assert!(out.stdout.contains("chain intact"), "{}", out.stdout);
    let out = Run::new(["journal", "verify", "--db", db2_s, "--anchor", &anchor]).run().code(1);
    assert!(out.stdout.contains("is not in the chain"), "{}", out.stdout);
}

#[test]
fn concurrent_writers_share_one_linear_chain() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("j.db");
    let db_s = db.to_str().expect("utf-8");
    let writers: Vec<Child> = ["w1", "w2", "w3"]
        .iter()
        .map(|agent| spawn(&["journal", "stress-write", "--db", db_s, "--count", "40", "--agent", agent]))
        .collect();
    for w in writers {
        let out = w.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = Run::new(["journal", "verify", "--db", db_s]).run().success();
    assert!(out.stdout.contains("chain intact"), "{}", out.stdout);
    let journal = Journal::open_existing(&db).expect("open");
    let runs = journal.runs().expect("runs");
    assert_eq!(runs.len(), 3);
    for run in runs {
        assert_eq!(journal.fills_for_run(&run.id).expect("fills").len(), 40, "{}", run.id);
        assert_eq!(run.outcome.as_deref(), Some("completed"));
    }
}

#[test]
fn default_path_is_relative_to_the_project_and_env_overrides_it() {
    let dir = tempfile::tempdir().expect("tmp");
    Run::new(["journal", "stress-write", "--count", "2"])
        .dir(dir.path())
        .env_remove("RUNNER_JOURNAL")
        .run()
        .success();
    let default = dir.path().join("journal").join("runner.db");
    assert!(default.is_file(), "journal/runner.db not created");
    let out = Run::new(["journal", "verify"]).env("RUNNER_JOURNAL", &default).run().success();
    assert!(out.stdout.contains("chain intact"), "{}", out.stdout);
}

#[test]
fn missing_journal_is_a_usage_error_and_not_created() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("nope.db");
    let out = Run::new(["journal", "verify", "--db", db.to_str().expect("utf-8")]).run().code(2);
    assert!(out.stderr.contains("no journal at"), "{}", out.stderr);
    assert!(!db.exists());
}

fn hold(dir: &Path, account: &str, agent: &str) -> (Child, String) {
    let mut child = spawn(&[
        "journal",
        "hold-lock",
        "--dir",
        dir.to_str().expect("utf-8"),
        "--account",
        account,
        "--agent",
        agent,
    ]);
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
    (child, line)
}

#[test]
fn an_account_lock_excludes_other_processes_until_its_holder_exits_or_dies() {
    let dir = tempfile::tempdir().expect("tmp");
    let locks = dir.path().join("locks");
    let locks_s = locks.to_str().expect("utf-8");
    let (mut alpha, line) = hold(&locks, "paper-1", "alpha");
    assert!(line.starts_with("locked paper-1 by alpha"), "{line}");

    // A second process is refused, and told who holds the account.
    let out =
        Run::new(["journal", "hold-lock", "--dir", locks_s, "--account", "paper-1", "--agent", "beta"]).run();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains(&format!("held by agent alpha (pid {}", alpha.id())), "{}", out.stderr);
    // Another account is independent.
    Run::new(["journal", "hold-lock", "--dir", locks_s, "--account", "paper-2", "--agent", "beta"])
        .run()
        .success();

    // kill -9 the holder: the OS drops its lock, nothing stale blocks the account.
    alpha.kill().expect("kill -9");
    alpha.wait().expect("wait");
    let out = Run::new(["journal", "hold-lock", "--dir", locks_s, "--account", "paper-1", "--agent", "beta"])
        .stdin("release\n")
        .run()
        .success();
    assert!(out.stdout.starts_with("locked paper-1 by beta"), "{}", out.stdout);

    // A holder that exits normally releases too.
    let (mut gamma, _) = hold(&locks, "paper-1", "gamma");
    let out =
        Run::new(["journal", "hold-lock", "--dir", locks_s, "--account", "paper-1", "--agent", "beta"]).run();
    assert!(out.stderr.contains("held by agent gamma"), "{}", out.stderr);
    let mut stdin = gamma.stdin.take().expect("stdin");
    stdin.flush().expect("flush");
    drop(stdin);
    assert!(gamma.wait().expect("wait").success());
    Run::new(["journal", "hold-lock", "--dir", locks_s, "--account", "paper-1", "--agent", "beta"])
        .run()
        .success();
}
