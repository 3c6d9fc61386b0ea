//! Issue 12, items 5 and 8: one run, one id (journal run, report directory, summary.json and
//! the printed header); `runner runs`, `runner report ID|latest`; journal queries that separate
//! runs by id, agent, mode and dates. Real backtests and a paper `up` over the repo's SPY data.

use std::path::Path;

use serde_json::Value;

use crate::support::{Finished, Run, repo_root};

const RECIPE: &str = "tests/fixtures/engine/spy-9ma-shares-fees.yaml";

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// `runner ARGS… --journal j.db --state-dir state` in `dir`.
fn runner(dir: &Path, args: &[&str]) -> Finished {
    Run::new(args).args(["--journal", "j.db", "--state-dir", "state"]).dir(dir).run()
}

/// A backtest of the fixture in `dir` (extra flags after the recipe).
fn backtest(dir: &Path, extra: &[&str]) -> Finished {
    let recipe = repo_root().join(RECIPE);
    let mut args = vec!["backtest", s(&recipe)];
    args.extend_from_slice(extra);
    runner(dir, &args).success()
}

/// The run id a run printed (`…: journal run ID` at the end).
fn journal_run(out: &Finished) -> String {
    let id = out.stdout.split("journal run ").nth(1).and_then(|t| t.split([':', '\n']).next());
    id.unwrap_or_else(|| panic!("no journal run in\n{}", out.stdout)).to_owned()
}

/// The two header lines a run or `runner report` printed (`== …` and the recipe line).
fn header(stdout: &str) -> String {
    let from = stdout.find("== ").unwrap_or_else(|| panic!("no header in\n{stdout}"));
    stdout[from..].lines().take(2).map(|l| format!("{l}\n")).collect()
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .expect("json")
}

/// A money amount of a JSON file (a decimal string), whatever its scale.
fn money(v: &Value) -> rust_decimal::Decimal {
    v.as_str().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("not a decimal: {v}"))
}

/// `agent-YYYYMMDDTHHMMSSZ-xxxxxxxx`, the journal's id shape.
fn has_id_shape(id: &str, agent: &str) -> bool {
    let Some(rest) = id.strip_prefix(&format!("{agent}-")) else { return false };
    let (stamp, hex) = rest.split_once('-').unwrap_or_default();
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").is_ok()
        && hex.len() == 8
        && hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

#[test]
fn a_run_has_one_id_for_its_journal_run_report_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bt = backtest(d, &["--to", "2013-10-07"]);
    let id = journal_run(&bt);
    assert!(has_id_shape(&id, "spy-9ma-shares-fees"), "{id}");
    // The report directory is named by the journal's run id, and the summary says which run it is.
    assert!(bt.stdout.contains(&format!("\nReport: state/runs/{id} (deals.csv")), "{}", bt.stdout);
    let summary = json(&d.join("state/runs").join(&id).join("summary.json"));
    let run = &summary["run"];
    assert_eq!(run["id"], id.as_str());
    assert_eq!(run["agent"], "spy-9ma-shares-fees");
    assert_eq!(run["mode"], "backtest");
    assert_eq!(run["outcome"], "completed");
    assert_eq!((run["from"].as_str(), run["to"].as_str()), (Some("2013-10-07"), Some("2013-10-07")));
    let recipe = repo_root().join(RECIPE);
    assert_eq!(run["recipe"]["path"], s(&recipe));
    let sha = <sha2::Sha256 as sha2::Digest>::digest(std::fs::read(&recipe).unwrap());
    assert_eq!(run["recipe"]["sha256"], format!("{sha:x}"));
    let db = rusqlite::Connection::open(d.join("j.db")).unwrap();
    let meta: String = db.query_row("SELECT metadata FROM runs WHERE id = ?1", [&id], |r| r.get(0)).unwrap();
    assert!(meta.contains(&format!("\"recipe_sha256\":\"{sha:x}\"")), "{meta}");

    // `runner report` takes the journal's id, and prints the header the run printed.
    let head = header(&bt.stdout);
    assert!(head.starts_with(&format!("== spy-9ma-shares-fees (backtest), run {id}\n")), "{head}");
    assert!(head.ends_with(&format!("(sha256 {}), data 2013-10-07\n", &format!("{sha:x}")[..12])), "{head}");
    let rep = runner(d, &["report", &id]).success();
    assert!(rep.stdout.starts_with(&head), "{}", rep.stdout);
    assert_eq!(header(&runner(d, &["report", "latest"]).success().stdout), head);

    // Not journaled, a backtest still gets an id of the same shape, its directory's name.
    let quiet = backtest(d, &["--from", "2013-10-08", "--to", "2013-10-08", "--no-journal"]);
    assert!(!quiet.stdout.contains("journal run"), "{}", quiet.stdout);
    let other = quiet.stdout.split("Report: state/runs/").nth(1).and_then(|t| t.split(' ').next()).unwrap();
    assert!(has_id_shape(other, "spy-9ma-shares-fees") && other != id, "{other}");
    assert_eq!(json(&d.join("state/runs").join(other).join("summary.json"))["run"]["id"], other);
    let latest = runner(d, &["report", "latest"]).success();
    assert_eq!(header(&latest.stdout), header(&quiet.stdout));
    assert!(latest.stdout.contains(&format!("run {other}\n")), "{}", latest.stdout);

    // An unknown run is a clear usage error.
    let r = runner(d, &["report", "spy-9ma-shares-fees-20131007T000000Z-00000000"]).code(2);
    assert!(r.stderr.contains("no such run (see `runner runs`)"), "{}", r.stderr);
}

#[test]
fn runner_runs_lists_journal_and_report_runs_with_their_results() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = journal_run(&backtest(d, &["--to", "2013-10-07"]));
    backtest(d, &["--from", "2013-10-08", "--to", "2013-10-08", "--no-journal"]);
    // Journaled, but its report written elsewhere: its results come from the journal's fills.
    let elsewhere = d.join("elsewhere");
    let third = journal_run(&backtest(
        d,
        &["--from", "2013-10-09", "--to", "2013-10-09", "--report-dir", s(&elsewhere)],
    ));

    let out = runner(d, &["runs", "--format", "json"]).success();
    let rows: Value = serde_json::from_str(&out.stdout).expect("json");
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let summary = |dir: &Path| json(&dir.join("summary.json"));
    let reported = [
        (&rows[0], summary(&d.join("state/runs").join(&first)), "completed", "2013-10-07"),
        (
            &rows[1],
            summary(&d.join("state/runs").join(rows[1]["id"].as_str().unwrap())),
            "completed (not journaled)",
            "2013-10-08",
        ),
        (&rows[2], summary(&elsewhere), "completed", "2013-10-09"),
    ];
    for (row, sum, outcome, day) in reported {
        assert_eq!(row["agent"], "spy-9ma-shares-fees", "{row}");
        assert_eq!(row["mode"], "backtest", "{row}");
        assert_eq!((row["from"].as_str(), row["to"].as_str()), (Some(day), Some(day)), "{row}");
        assert_eq!(row["outcome"], outcome, "{row}");
        assert_eq!(row["trades"], sum["trades"], "{row}");
        assert!(row["trades"].as_u64().unwrap() > 0, "{row}");
        assert_eq!(money(&row["net_pnl"]), money(&sum["net_pnl"]), "{row}");
    }
    assert_eq!(rows[0]["id"], first.as_str());
    assert_eq!(rows[2]["id"], third.as_str());
    assert!(rows[2]["report"].is_null(), "{}", rows[2]);

    let table = runner(d, &["runs"]).success().stdout;
    let head = table.lines().next().unwrap();
    let cols: Vec<&str> = head.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(cols, ["RUN", "AGENT", "MODE", "RANGE", "TRADES", "NET P&L", "OUTCOME"], "{table}");
    assert!(table.contains("completed (not journaled)") && table.contains("3 run(s)"), "{table}");
}

#[test]
fn journal_queries_separate_runs_by_id_agent_mode_and_dates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bt = journal_run(&backtest(d, &["--to", "2013-10-07"]));
    let recipe = repo_root().join(RECIPE);
    let up = journal_run(&runner(d, &["up", s(&recipe), "--speed", "max"]).success());
    let fills = |args: &[&str]| -> Vec<Value> {
        let mut all = vec!["journal", "trades", "--db", "j.db", "--format", "json"];
        all.extend_from_slice(args);
        let out = Run::new(all).dir(d).run().success();
        serde_json::from_str::<Value>(&out.stdout).expect("json").as_array().expect("array").clone()
    };
    let of_run = |rows: &[Value], run: &str, mode: &str| {
        !rows.is_empty() && rows.iter().all(|f| f["run"] == run && f["mode"] == mode)
    };
    let everything = fills(&[]);
    let by_run = fills(&["--run", &bt]);
    assert!(of_run(&by_run, &bt, "backtest"), "{by_run:#?}");
    assert_eq!(fills(&["--mode", "backtest"]), by_run);
    let paper = fills(&["--mode", "paper"]);
    assert!(of_run(&paper, &up, "paper"), "{paper:#?}");
    assert_eq!(by_run.len() + paper.len(), everything.len());
    // Dates: from/to are New York days, inclusive, and combine with the mode.
    let two_days = fills(&["--mode", "paper", "--from", "2013-10-08", "--to", "2013-10-09"]);
    let day = |f: &Value| f["time"].as_str().unwrap()[..10].to_owned();
    assert!(of_run(&two_days, &up, "paper"), "{two_days:#?}");
    assert_eq!(
        two_days.len(),
        fills(&["--run", &up, "--date", "2013-10-08"]).len()
            + fills(&["--run", &up, "--date", "2013-10-09"]).len()
    );
    assert!(
        two_days.iter().all(|f| ("2013-10-08".."2013-10-10").contains(&day(f).as_str())),
        "{two_days:#?}"
    );
    assert!(fills(&["--run", &up, "--to", "2013-10-07"]).iter().all(|f| day(f) == "2013-10-07"));
    assert!(fills(&["--agent", "nobody"]).is_empty());

    // The tables show the run and its mode.
    let table =
        Run::new(["journal", "trades", "--db", "j.db", "--mode", "paper"]).dir(d).run().success().stdout;
    let head: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(&head[3..5], ["RUN", "MODE"], "{table}");
    assert!(table.lines().nth(1).unwrap().contains(&format!("  {up}  paper  ")), "{table}");
    let denials =
        Run::new(["journal", "denials", "--db", "j.db", "--run", &bt]).dir(d).run().success().stdout;
    assert!(denials.starts_with("TIME (NEW YORK)  RUN  MODE  AGENT"), "{denials}");

    // `journal runs` shows each run's trades and net P&L: the report's, for runs that end flat.
    let out = Run::new(["journal", "runs", "--db", "j.db", "--format", "json"]).dir(d).run().success();
    let runs: Value = serde_json::from_str(&out.stdout).expect("json");
    for (row, id) in runs.as_array().expect("array").iter().zip([&bt, &up]) {
        let sum = json(&d.join("state/runs").join(id).join("summary.json"));
        assert_eq!(row["id"], id.as_str());
        assert_eq!(row["trades"], sum["trades"], "{row}");
        assert_eq!(money(&row["net_pnl"]), money(&sum["net_pnl"]), "{row}");
    }
    let table = Run::new(["journal", "runs", "--db", "j.db"]).dir(d).run().success().stdout;
    assert!(table.lines().next().unwrap().contains("  TRADES  NET P&L  OUTCOME"), "{table}");

    // Bad queries are usage errors.
    let bad = Run::new(["journal", "trades", "--db", "j.db", "--from", "2013-10-09", "--to", "2013-10-08"])
        .dir(d)
        .run()
        .code(2);
    assert!(bad.stderr.contains("--from 2013-10-09 is after --to 2013-10-08"), "{}", bad.stderr);
    Run::new(["journal", "trades", "--db", "j.db", "--mode", "demo"]).dir(d).run().code(2);
    Run::new(["journal", "denials", "--db", "j.db", "--date", "2013-10-08", "--from", "2013-10-08"])
        .dir(d)
        .run()
        .code(2);
}
