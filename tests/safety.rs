//! Safe by default, end to end with the real binary: one account, one agent whatever the
//! flags; no restart from a tampered journal; every signal that would end `runner up` ends it
//! cleanly; `runner status` survives hostile status files; private file permissions.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::fleet::{kill9, spawn_up, wait_for};
use crate::support::{Run, repo_root, runner_command};

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// A copy of the fleet test recipe `a` in `dir` as `file`, trading `account` as `agent`.
fn recipe(dir: &Path, file: &str, agent: &str, account: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/fleet/a.yaml")).unwrap();
    let data = repo_root().join("data").display().to_string();
    let text = text
        .replace("agent: fleet-a", &format!("agent: {agent}"))
        .replace("account: paper-fleet-a", &format!("account: {account}"))
        .replace("../../../data", &data);
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// The journal's runs (id, outcome), oldest first; an error while the journal is still being
/// created (the file exists before its tables do).
fn try_runs(db: &Path) -> rusqlite::Result<Vec<(String, Option<String>)>> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = c.prepare("SELECT id, outcome FROM runs ORDER BY audit_seq")?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
}

fn runs(db: &Path) -> Vec<(String, Option<String>)> {
    try_runs(db).unwrap()
}

/// Wait until the journal has a run that has not ended (the background `up` is trading).
fn wait_running(db: &Path) {
    wait_for("a running run in the journal", || {
        try_runs(db).is_ok_and(|runs| runs.iter().any(|(_, o)| o.is_none()))
    });
}

#[test]
fn another_state_dir_or_agent_name_cannot_trade_a_held_account() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let first = recipe(dir.path(), "first.yaml", "alpha", "shared-acct");
    let mut up = spawn_up(&[
        s(&first),
        "--speed",
        "60x",
        "--journal",
        s(&db),
        "--state-dir",
        s(&dir.path().join("s1")),
    ]);
    wait_running(&db);
    // Another state directory, the same recipe: refused by the host-wide account lock.
    let again = Run::new(["up", s(&first), "--speed", "max", "--journal", s(&db)])
        .args(["--state-dir", s(&dir.path().join("s2"))])
        .run()
        .code(1);
    assert!(again.stderr.contains("account shared-acct (paper) is held by agent alpha"), "{}", again.stderr);
    // Another agent name on the same account, another journal: refused too.
    let other = recipe(dir.path(), "other.yaml", "beta", "shared-acct");
    let beta = Run::new(["up", s(&other), "--speed", "max", "--journal", s(&dir.path().join("k.db"))])
        .args(["--state-dir", s(&dir.path().join("s3"))])
        .run()
        .code(1);
    assert!(beta.stderr.contains("is held by agent alpha"), "{}", beta.stderr);
    // The first run was never touched: still running, not journaled as crashed.
    assert_eq!(runs(&db).len(), 1, "{:?}", runs(&db));
    assert!(runs(&db)[0].1.is_none());
    kill9(&mut up);
}

#[test]
fn the_journal_refuses_a_second_holder_whose_process_still_runs() {
    // Two lock directories (as two containers without a shared /run/lock would have): the
    // journal still knows the first run's process is alive and refuses the second.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let first = recipe(dir.path(), "first.yaml", "alpha", "acct-j");
    let mut up = spawn_up(&[
        s(&first),
        "--speed",
        "60x",
        "--journal",
        s(&db),
        "--state-dir",
        s(&dir.path().join("s1")),
    ]);
    wait_running(&db);
    let second = Run::new(["up", s(&first), "--speed", "max", "--journal", s(&db)])
        .env("RUNNER_LOCK_DIR", dir.path().join("other-locks"))
        .run()
        .code(1);
    assert!(second.stderr.contains("account acct-j is in use"), "{}", second.stderr);
    assert!(second.stderr.contains("is still running"), "{}", second.stderr);
    let before = runs(&db);
    assert_eq!(before.len(), 1, "nothing was begun: {before:?}");
    assert!(before[0].1.is_none(), "the live run is not marked crashed: {before:?}");
    // Once its process is gone (kill -9), the run is found crashed and the account is free.
    kill9(&mut up);
    let out = Run::new(["up", s(&first), "--speed", "max", "--journal", s(&db)])
        .env("RUNNER_LOCK_DIR", dir.path().join("other-locks"))
        .args(["--report-dir", s(&dir.path().join("r"))])
        .run()
        .success();
    assert!(out.stdout.contains("never ended (its process died); journaled as crashed"), "{}", out.stdout);
    let after = runs(&db);
    assert!(after[0].1.as_deref().is_some_and(|o| o.starts_with("crashed")), "{after:?}");
}

#[test]
fn up_refuses_to_restore_from_a_journal_that_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let a = recipe(dir.path(), "a.yaml", "tamper", "acct-t");
    let mut up =
        spawn_up(&[s(&a), "--speed", "2000x", "--journal", s(&db), "--state-dir", s(&dir.path().join("s"))]);
    wait_for("a position in the journal", || {
        db.exists()
            && rusqlite::Connection::open(&db)
                .and_then(|c| c.query_row("SELECT count(*) FROM positions", [], |r| r.get::<_, i64>(0)))
                .is_ok_and(|n| n > 0)
    });
    kill9(&mut up);
    // Someone edits the newest position: 100 shares become -8600.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute(
        "UPDATE positions SET qty = '-8600' WHERE audit_seq = (SELECT max(audit_seq) FROM positions)",
        [],
    )
    .unwrap();
    drop(c);
    let before = runs(&db);
    let out = Run::new(["up", s(&a), "--speed", "max", "--journal", s(&db)])
        .args(["--state-dir", s(&dir.path().join("s"))])
        .run()
        .code(1);
    assert!(out.stderr.contains("fails verification"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("runner journal verify --db {}", db.display())), "{}", out.stderr);
    assert_eq!(runs(&db), before, "nothing was written into the broken journal");
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: sending a signal to our own child process.
    let r = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(r, 0, "kill");
}

#[test]
fn sighup_stops_cleanly_and_sigusr1_prints_status_without_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let st = dir.path().join("state");
    let a = recipe(dir.path(), "a.yaml", "hup", "acct-h");
    let report = dir.path().join("report");
    let mut up = runner_command()
        .args(["up", s(&a), "--speed", "60x", "--journal", s(&db), "--state-dir", s(&st)])
        .args(["--report-dir", s(&report)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_running(&db);
    wait_for("a status file", || st.join("status/hup.json").is_file());
    let sent = std::time::SystemTime::now();
    signal(&up, libc::SIGUSR1);
    // Still running afterwards: the status file is rewritten after the signal (once a second).
    wait_for("the status file to be rewritten after SIGUSR1", || {
        std::fs::metadata(st.join("status/hup.json")).and_then(|m| m.modified()).is_ok_and(|t| t > sent)
    });
    assert!(up.try_wait().unwrap().is_none(), "SIGUSR1 ended runner up");
    signal(&up, libc::SIGHUP);
    let out = up.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("hup: "), "SIGUSR1 printed the status line: {stderr}");
    assert!(stderr.contains("stopping (hangup)"), "{stderr}");
    let r = runs(&db);
    assert_eq!(r[0].1.as_deref(), Some("stopped: hangup"), "{r:?}");
    assert!(report.join("summary.json").is_file());
    let left: Vec<_> = std::fs::read_dir(st.join("status")).unwrap().collect();
    assert!(left.is_empty(), "status files left after a clean exit: {left:?}");
}

#[test]
fn a_sigterm_at_any_moment_of_start_up_leaves_no_run_unended() {
    let dir = tempfile::tempdir().unwrap();
    let recipes: Vec<PathBuf> = (0..8)
        .map(|i| recipe(dir.path(), &format!("r{i}.yaml"), &format!("agent-{i}"), &format!("acct-{i}")))
        .collect();
    for (i, delay_ms) in [0u64, 10, 25, 50, 80, 120, 200].into_iter().enumerate() {
        let db = dir.path().join(format!("j{i}.db"));
        let mut cmd = runner_command();
        cmd.args([
            "up",
            "--speed",
            "max",
            "--journal",
            s(&db),
            "--state-dir",
            s(&dir.path().join(format!("s{i}"))),
        ]);
        cmd.args(recipes.iter().map(|p| s(p)));
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        signal(&child, libc::SIGTERM);
        let status = child.wait_with_output().unwrap().status;
        if db.exists() {
            let open: Vec<_> = runs(&db).into_iter().filter(|(_, o)| o.is_none()).collect();
            assert!(
                open.is_empty(),
                "SIGTERM after {delay_ms} ms left runs never ended: {open:?} ({status})"
            );
        }
    }
}

#[test]
fn status_reads_bounded_regular_files_and_prints_escapes_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("status");
    std::fs::create_dir_all(&status).unwrap();
    std::os::unix::fs::symlink("/dev/zero", status.join("zero.json")).unwrap();
    let row = serde_json::json!({
        "agent": "evil\u{1b}[2J\u{1b}]0;pwned\u{7}",
        "account": "a", "pid": 1, "run": "", "state": "active", "position": "0",
        "avg_price": "0", "day_pnl": "0", "equity": "0", "health": "ok", "last_event": "",
        "updated_at": "",
    });
    std::fs::write(status.join("evil.json"), row.to_string()).unwrap();
    let out = Run::new(["status", "--state-dir", s(dir.path())]).run().success();
    assert!(!out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{7}'), "{:?}", out.stdout);
    assert!(out.stdout.contains("evil\\u{1b}[2J"), "{}", out.stdout);
    assert!(out.stderr.contains("zero.json"), "{}", out.stderr);
}

#[test]
fn the_journal_reports_and_state_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal/j.db");
    let report = dir.path().join("report");
    let a = recipe(dir.path(), "a.yaml", "private", "acct-p");
    // Under `umask 000` too: the policy does not depend on the umask.
    let mut cmd = runner_command();
    cmd.args(["backtest", s(&a), "--journal", s(&db), "--report-dir", s(&report)]);
    // SAFETY: umask in the child between fork and exec only changes the child's mask.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    assert_eq!(mode(&report), 0o700);
    assert_eq!(mode(&report.join("summary.json")), 0o600);
    for side in ["j.db-wal", "j.db-shm"] {
        let p = dir.path().join("journal").join(side);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{side}");
        }
    }
}

#[test]
fn journal_tables_print_escapes_from_an_edited_journal_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let a = recipe(dir.path(), "a.yaml", "esc", "acct-e");
    Run::new(["backtest", s(&a), "--journal", s(&db), "--report-dir", s(&dir.path().join("r"))])
        .run()
        .success();
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute("UPDATE runs SET outcome = 'done\u{1b}]0;pwned\u{7}'", []).unwrap();
    drop(c);
    let out = Run::new(["journal", "--db", s(&db), "runs"]).run().success();
    assert!(!out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{7}'), "{:?}", out.stdout);
    assert!(out.stdout.contains("done\\u{1b}]0;pwned\\u{7}"), "{}", out.stdout);
}

#[test]
fn kill_9_with_an_order_working_then_restart_sends_nothing_twice_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    // A limit entry 50 ticks away from the market rests for hours (at 2000x, seconds).
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/fleet/a.yaml"))
        .unwrap()
        .replace("agent: fleet-a", "agent: resting")
        .replace("account: paper-fleet-a", "account: acct-rest")
        .replace("../../../data", &repo_root().join("data").display().to_string())
        .replace("orders:\n  type: market", "orders:\n  type: limit\n  limit_offset_ticks: 50");
    assert!(text.contains("type: limit"), "{text}");
    let recipe = dir.path().join("rest.yaml");
    std::fs::write(&recipe, text).unwrap();
    let st = dir.path().join("s");
    let mut up = spawn_up(&[s(&recipe), "--speed", "2000x", "--journal", s(&db), "--state-dir", s(&st)]);
    let working = || -> bool {
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM orders o WHERE status = 'accepted' AND audit_seq = \
                     (SELECT max(audit_seq) FROM orders p WHERE p.client_order_id = o.client_order_id)",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .is_ok_and(|n| n > 0)
    };
    wait_for("a resting order", working);
    kill9(&mut up);
    crate::fleet::verify(&db);
    let out = Run::new(["up", s(&recipe), "--speed", "max", "--journal", s(&db), "--state-dir", s(&st)])
        .args(["--report-dir", s(&dir.path().join("r"))])
        .run()
        .success();
    assert!(
        out.stdout.contains("a simulated order does not outlive its process: journaled as canceled"),
        "{}",
        out.stdout
    );
    let c = rusqlite::Connection::open(&db).unwrap();
    let q = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    // Every submission has its own id, across both runs; every fill belongs to a submitted order.
    let submitted = q("SELECT count(*) FROM orders WHERE status = 'submitted'");
    assert!(submitted >= 2, "both runs traded");
    assert_eq!(q("SELECT count(DISTINCT client_order_id) FROM orders WHERE status = 'submitted'"), submitted);
    assert_eq!(
        q("SELECT count(*) FROM fills WHERE client_order_id NOT IN (SELECT client_order_id FROM orders)"),
        0
    );
    // Nothing is left working in the journal: the dead order is canceled, the new run ended clean.
    assert_eq!(
        q("SELECT count(*) FROM orders o WHERE status IN ('submitted', 'accepted') AND audit_seq = \
           (SELECT max(audit_seq) FROM orders p WHERE p.client_order_id = o.client_order_id)"),
        0
    );
    crate::fleet::verify(&db);
}
