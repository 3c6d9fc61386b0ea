//! `runner backtest`, `runner up` and `runner report` end to end on real recorded SPY data
//! (the repo's data/: 1-second bars of 2013-10-07..11, QuantConnect Lean sample data).

use std::path::Path;

use crate::support::Run;

const RECIPE: &str = "tests/fixtures/engine/spy-9ma-shares-fees.yaml";

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

#[test]
fn backtest_and_up_make_the_same_trades() {
    let dir = tempfile::tempdir().unwrap();
    let bt_csv = dir.path().join("bt.csv");
    let up_csv = dir.path().join("up.csv");
    let bt_dir = dir.path().join("bt");
    let bt = Run::new(["backtest", RECIPE, "--trades-csv", s(&bt_csv), "--report-dir", s(&bt_dir)]).run();
    assert_eq!(bt.code, 0, "{}", bt.stderr);
    let up_dir = dir.path().join("up");
    let up = up_isolated(dir.path(), RECIPE, &["--trades-csv", s(&up_csv), "--report-dir", s(&up_dir)]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let a = std::fs::read_to_string(&bt_csv).unwrap();
    let b = std::fs::read_to_string(&up_csv).unwrap();
    assert_eq!(a, b);
    let lines: Vec<&str> = a.lines().collect();
    assert_eq!(lines[0], "entry_time,side,qty,entry_price,exit_time,exit_price,pnl,exit_reason");
    assert!(lines.len() > 3, "some trades on two real days: {a}");
    // Every trade is 100 shares, inside the session, flat before the close.
    for l in &lines[1..] {
        let c: Vec<&str> = l.split(',').collect();
        assert_eq!(c[2], "100", "{l}");
        assert!(c[0].ends_with("-04:00") && c[4].ends_with("-04:00"), "{l}");
        assert!(&c[4][11..16] <= "15:55", "no position past flatten_at: {l}");
    }
    // up prints the events as they happen.
    assert!(up.stdout.contains(" signal ") && up.stdout.contains(" filled "), "{}", up.stdout);
    assert!(bt.stdout.contains("Summary:") && bt.stdout.contains("profit factor"), "{}", bt.stdout);
    for f in ["deals.csv", "summary.json", "equity.svg"] {
        assert!(dir.path().join("bt").join(f).is_file(), "{f}");
    }
}

#[test]
fn report_reprints_a_saved_run_and_dates_filter() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let bt = Run::new([
        "backtest",
        RECIPE,
        "--from",
        "2013-10-08",
        "--to",
        "2013-10-08",
        "--report-dir",
        s(&run_dir),
    ])
    .run();
    assert_eq!(bt.code, 0, "{}", bt.stderr);
    let deals = std::fs::read_to_string(run_dir.join("deals.csv")).unwrap();
    assert!(deals.lines().skip(1).all(|l| l.contains(",2013-10-08T")), "{deals}");
    let rep = Run::new(["report", s(&run_dir)]).run();
    assert_eq!(rep.code, 0, "{}", rep.stderr);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap()).unwrap();
    assert!(rep.stdout.contains(&format!("trades         {}", summary["trades"])), "{}", rep.stdout);
    let svg = std::fs::read_to_string(run_dir.join("equity.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
    // Shares trade on the replayed prices: market, and no synthetic caption on the chart.
    assert!(deals.lines().next().unwrap().ends_with(",exit_reason,price_source"), "{deals}");
    assert!(deals.lines().skip(1).all(|l| l.ends_with(",market")), "{deals}");
    assert!(!svg.contains("synthetic"));
    // A run saved before the price_source column existed re-prints the same table.
    let old: String = deals.lines().map(|l| format!("{}\n", &l[..l.rfind(',').unwrap()])).collect();
    std::fs::write(run_dir.join("deals.csv"), old).unwrap();
    let again = Run::new(["report", s(&run_dir)]).run().success();
    assert_eq!(again.stdout, rep.stdout);
}

#[test]
fn a_backtest_on_no_data_fails_clearly_and_report_paths_print_alike() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = crate::support::repo_root().join(RECIPE);
    // A Saturday to the end of the data: nothing to replay is a failure, not a silent success.
    let r = Run::new(["backtest", s(&recipe), "--from", "2013-10-12", "--no-journal"]).dir(dir.path()).run();
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains("no market data in ")
            && r.stderr
                .contains("spy-1s-trade-2013-10-07_11.csv.gz from 2013-10-12 on; nothing was backtested"),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join(".runner").exists(), "no report for a run on nothing");
    let journal = dir.path().join("j.db");
    let r = Run::new(["backtest", s(&recipe), "--from", "2013-10-12", "--to", "2013-10-13"])
        .args(["--journal", s(&journal)])
        .dir(dir.path())
        .run()
        .code(1);
    assert!(r.stderr.contains("between 2013-10-12 and 2013-10-13"), "{}", r.stderr);
    let c = rusqlite::Connection::open(&journal).unwrap();
    let outcome: String = c.query_row("SELECT outcome FROM runs", [], |r| r.get(0)).unwrap();
    assert!(outcome.starts_with("error: no market data in "), "{outcome}");

    // Report paths under the current directory print relative to it, for up and backtest alike.
    let bt = Run::new(["backtest", s(&recipe), "--no-journal", "--to", "2013-10-07"])
        .args(["--report-dir", s(&dir.path().join("bt"))])
        .dir(dir.path())
        .run()
        .success();
    assert!(bt.stdout.contains("\nReport: bt (deals.csv"), "{}", bt.stdout);
    let up = Run::new(["up", s(&recipe), "--speed", "max", "--journal", "j.db", "--state-dir", "state"])
        .dir(dir.path())
        .run()
        .success();
    assert!(up.stdout.contains("\nReport: state/runs/spy-9ma-shares-fees-2"), "{}", up.stdout);
    assert!(up.stdout.contains(", journal j.db (run "), "{}", up.stdout);
}

#[test]
fn bad_inputs_are_clear_errors() {
    let r = Run::new(["backtest", "tests/fixtures/engine/no-such.yaml"]).run();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot read"), "{}", r.stderr);
    let r = Run::new(["backtest", RECIPE, "--from", "2013-10-09", "--to", "2013-10-08"]).run();
    assert_eq!(r.code, 2);
    let r = Run::new(["report", "/nonexistent/run"]).run();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
}

/// `runner up RECIPE --speed max EXTRA...` with its journal and run state inside `dir`.
fn up_isolated(dir: &Path, recipe: &str, extra: &[&str]) -> crate::support::Finished {
    let (state, journal) = (dir.join("state"), dir.join("j.db"));
    Run::new(["up", recipe, "--speed", "max", "--state-dir", s(&state), "--journal", s(&journal)])
        .args(extra)
        .run()
}

#[test]
fn the_main_job_runs_on_the_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = up_isolated(dir.path(), "recipes/spy-9ma-shares.yaml", &["--report-dir", s(dir.path())]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Summary:") && out.stdout.contains("net P&L"), "{}", out.stdout);
    // Five real trading days, every one of them traded and flat at 15:55.
    let deals = std::fs::read_to_string(dir.path().join("deals.csv")).unwrap();
    for day in ["07", "08", "09", "10", "11"] {
        assert!(deals.contains(&format!(",2013-10-{day}T15:55:00.000-04:00,")), "day {day}: {deals}");
    }
}

/// Starts `up` at 20 000× real time, sends `signal` (`INT`, `TERM`) once the first fill is on
/// stdout, and checks the run stops promptly, exits 0, flat, with a report, and is journaled
/// with outcome `stopped: WHY`.
fn signal_stops_up_cleanly_flat_and_with_a_report(signal: &str, why: &str) {
    let dir = tempfile::tempdir().unwrap();
    // 20 000× real time: the first fill (10-07 11:01) comes after ~1.3 s, the data ends after
    // ~15 s. Ctrl-C is sent once the first fill is on stdout, however slow the machine is.
    let mut child = crate::support::runner_command()
        .args([
            "up",
            RECIPE,
            "--state-dir",
            s(&dir.path().join("state")),
            "--journal",
            s(&dir.path().join("j.db")),
            "--speed",
            "20000x",
            "--report-dir",
            s(dir.path()),
        ])
        .current_dir(crate::support::repo_root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout_lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut seen = String::new();
    for line in stdout_lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(" filled ") {
            break;
        }
    }
    assert!(seen.contains(" filled "), "no fill before the end: {seen}");
    let killed = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = std::time::Instant::now();
    for line in stdout_lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "stops promptly");
    let stdout = seen;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("stopping ({why})")), "{stderr}");
    assert!(stdout.contains("Summary:"), "{stdout}");
    // Whatever was held is closed: the last position line is flat.
    if let Some(last) = stdout.lines().rev().find(|l| l.contains(" position ")) {
        assert!(last.contains(" flat realized "), "{last}");
    }
    // Stopped long before the end of the data.
    let deals = std::fs::read_to_string(dir.path().join("deals.csv")).unwrap();
    assert!(!deals.contains("2013-10-11"), "{deals}");
    assert!(stdout.contains(": journal run ") && stdout.contains(&format!("stopped: {why}")), "{stdout}");
    let c = rusqlite::Connection::open(dir.path().join("j.db")).unwrap();
    let outcome: String = c.query_row("SELECT outcome FROM runs", [], |r| r.get(0)).unwrap();
    assert_eq!(outcome, format!("stopped: {why}"));
}

#[test]
fn ctrl_c_stops_up_cleanly_flat_and_with_a_report() {
    signal_stops_up_cleanly_flat_and_with_a_report("INT", "interrupted");
}

#[test]
fn sigterm_stops_up_like_ctrl_c() {
    signal_stops_up_cleanly_flat_and_with_a_report("TERM", "terminated");
}

#[test]
fn spy_9ma_trades_synthetic_options_calls_on_long_puts_on_short() {
    let dir = tempfile::tempdir().unwrap();
    let bt_dir = dir.path().join("bt");
    let bt_csv = dir.path().join("bt.csv");
    let up_csv = dir.path().join("up.csv");
    let recipe = "recipes/spy-9ma.yaml";
    let bt = Run::new(["backtest", recipe, "--report-dir", s(&bt_dir), "--trades-csv", s(&bt_csv)]).run();
    assert_eq!(bt.code, 0, "{}", bt.stderr);
    assert!(bt.stdout.contains("option prices are synthetic"), "{}", bt.stdout);
    let up_dir = dir.path().join("up");
    let up = up_isolated(dir.path(), recipe, &["--report-dir", s(&up_dir), "--trades-csv", s(&up_csv)]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert_eq!(std::fs::read_to_string(&bt_csv).unwrap(), std::fs::read_to_string(&up_csv).unwrap());
    let summary = std::fs::read_to_string(bt_dir.join("summary.json")).unwrap();
    assert!(summary.contains("synthetic"), "{summary}");
    let deals = std::fs::read_to_string(bt_dir.join("deals.csv")).unwrap();
    let rows: Vec<Vec<&str>> = deals.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert!(rows.len() > 5, "{deals}");
    let (mut calls, mut puts) = (0, 0);
    for r in &rows {
        // OCC symbol: root padded to 6, yymmdd, C/P, strike × 1000 in 8 digits; bought only.
        let occ = r[1];
        assert_eq!(occ.len(), 21, "{occ}");
        assert!(occ.starts_with("SPY   1310"), "{occ}");
        match &occ[12..13] {
            "C" => calls += 1,
            "P" => puts += 1,
            other => panic!("right {other}"),
        }
        assert_eq!(r[2], "long", "options are bought, never written: {r:?}");
        let qty: u32 = r[3].parse().unwrap();
        assert!((1..=20).contains(&qty), "max_contracts 20: {r:?}");
        // Commission 0.65 per contract on entry and exit.
        assert_eq!(r[10], format!("{}", f64::from(qty) * 0.65 * 2.0), "{r:?}");
    }
    assert!(calls > 0 && puts > 0, "{deals}");
}

#[test]
fn external_signal_recipe_reads_its_signal_file_beside_the_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::support::repo_root().join("data/spy-1s-trade-2013-10-07_11.csv.gz");
    let recipe = format!(
        "version: 1\nagent: spy-signals\nprovider: {{kind: replay, path: {}}}\n\
         broker: {{kind: paper, account: p, starting_equity: 100000}}\n\
         instrument: {{underlying: SPY, kind: equity}}\n\
         algorithm: {{kind: external-signal, timeframe: 1m}}\n\
         risk: {{entry_size: 10}}\nsession: {{hours: regular, flatten_at: \"15:55\"}}\n",
        data.display()
    );
    let path = dir.path().join("spy-signals.yaml");
    std::fs::write(&path, recipe).unwrap();
    // Missing signal file: refused as `runner validate` refuses it, exit 1.
    let r = Run::new(["backtest", s(&path)]).run();
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("spy-signals.signals.csv"), "{}", r.stderr);
    std::fs::write(
        dir.path().join("spy-signals.signals.csv"),
        "timestamp,ticker,direction\n2013-10-07T10:00:00-04:00,SPY,b\n2013-10-07T11:00:00-04:00,SPY,s\n\
         2013-10-07T17:00:00-04:00,SPY,b\n",
    )
    .unwrap();
    let csv = dir.path().join("t.csv");
    let r = Run::new([
        "backtest",
        s(&path),
        "--to",
        "2013-10-07",
        "--trades-csv",
        s(&csv),
        "--report-dir",
        s(dir.path()),
    ])
    .run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let t = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = t.lines().collect();
    // b at 10:00 → long; s at 11:00 → reverse short; held to 15:55; the 17:00 b is out of session.
    assert_eq!(lines.len(), 3, "{t}");
    assert!(
        lines[1].starts_with("2013-10-07T10:00:00.000-04:00,long,10,") && lines[1].ends_with(",signal"),
        "{t}"
    );
    assert!(
        lines[2].starts_with("2013-10-07T11:00:00.000-04:00,short,10,") && lines[2].ends_with(",session end"),
        "{t}"
    );
}

/// A tape that goes quiet at 15:50 while a position is held: the clock, not a print, reaches
/// `flatten_at` (15:55), in a backtest and in a paced `runner up` alike; nothing is held
/// overnight.
#[test]
fn a_quiet_tape_is_flattened_at_flatten_at_by_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("quiet.csv"),
        "timestamp,price,size\n2013-10-07T09:31:00-04:00,100.00,100\n2013-10-07T15:50:00-04:00,101.00,100\n\
         2013-10-08T09:30:00-04:00,102.00,100\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("quiet.signals.csv"),
        "timestamp,ticker,direction\n2013-10-07T09:31:00-04:00,SPY,b\n",
    )
    .unwrap();
    let recipe = dir.path().join("quiet.yaml");
    std::fs::write(
        &recipe,
        "version: 1\nagent: quiet\nprovider: {kind: replay, path: quiet.csv}\n\
         broker: {kind: paper, account: paper-quiet, starting_equity: 10000}\n\
         instrument: {underlying: SPY, kind: equity}\n\
         algorithm: {kind: external-signal, timeframe: 5m}\n\
         risk: {entry_size: 10}\nsession: {hours: regular, flatten_at: \"15:55\"}\n",
    )
    .unwrap();
    let expected =
        "2013-10-07T09:31:00.000-04:00,long,10,100,2013-10-07T15:55:00.000-04:00,101,10,session end";
    let bt_csv = dir.path().join("bt.csv");
    Run::new(["backtest", s(&recipe), "--no-journal", "--trades-csv", s(&bt_csv)])
        .args(["--report-dir", s(&dir.path().join("bt"))])
        .run()
        .success();
    let bt = std::fs::read_to_string(&bt_csv).unwrap();
    assert_eq!(bt.lines().nth(1), Some(expected), "{bt}");
    // Paced: `runner up` at 80000x gets the same trades as the backtest.
    let up_csv = dir.path().join("up.csv");
    Run::new(["up", s(&recipe), "--speed", "80000x", "--trades-csv", s(&up_csv)])
        .args(["--state-dir", s(&dir.path().join("st")), "--journal", s(&dir.path().join("j.db"))])
        .args(["--report-dir", s(&dir.path().join("up"))])
        .run()
        .success();
    assert_eq!(std::fs::read_to_string(&up_csv).unwrap(), bt);
    // And the clock, not the next print, closes it: with the next print two days of data time
    // (30 s at 5000x) away, the session-end fill is in the journal while `up` still waits.
    let far = std::fs::read_to_string(dir.path().join("quiet.csv"))
        .unwrap()
        .replace("2013-10-08T09:30", "2013-10-10T09:30");
    std::fs::write(dir.path().join("quiet.csv"), far).unwrap();
    let db = dir.path().join("paced.db");
    let mut up = crate::fleet::spawn_up(&[
        s(&recipe),
        "--speed",
        "5000x",
        "--journal",
        s(&db),
        "--state-dir",
        s(&dir.path().join("st2")),
    ]);
    let closed = || {
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| {
                c.query_row("SELECT count(*) FROM fills WHERE side = 'sell'", [], |r| r.get::<_, i64>(0))
            })
            .is_ok_and(|n| n == 1)
    };
    crate::fleet::wait_for("the session-end fill", closed);
    assert!(up.try_wait().unwrap().is_none(), "filled before the next print, not at the end of the data");
    crate::fleet::kill9(&mut up);
}
