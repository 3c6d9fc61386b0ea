//! `runner backtest`, `runner up` and `runner report` end to end on real recorded SPY data
//! (tests/fixtures/data: 1-second bars of 2013-10-07..08, QuantConnect Lean sample data).

use crate::support::Run;

const RECIPE: &str = "tests/fixtures/spy-9ma-shares.yaml";

fn s(p: &std::path::Path) -> &str {
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
    let up =
        Run::new(["up", RECIPE, "--speed", "max", "--trades-csv", s(&up_csv), "--report-dir", s(&up_dir)])
            .run();
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
}

#[test]
fn bad_inputs_are_clear_errors() {
    let r = Run::new(["backtest", "tests/fixtures/no-such.yaml"]).run();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot read"), "{}", r.stderr);
    let r = Run::new(["backtest", RECIPE, "--from", "2013-10-09", "--to", "2013-10-08"]).run();
    assert_eq!(r.code, 2);
    let r = Run::new(["report", "/nonexistent/run"]).run();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
}

#[test]
fn the_main_job_runs_on_the_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        Run::new(["up", "recipes/spy-9ma-shares.yaml", "--speed", "max", "--report-dir", s(dir.path())])
            .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Summary:") && out.stdout.contains("net P&L"), "{}", out.stdout);
    // Five real trading days, every one of them traded and flat at 15:55.
    let deals = std::fs::read_to_string(dir.path().join("deals.csv")).unwrap();
    for day in ["07", "08", "09", "10", "11"] {
        assert!(deals.contains(&format!(",2013-10-{day}T15:55:00.000-04:00,")), "day {day}: {deals}");
    }
}
