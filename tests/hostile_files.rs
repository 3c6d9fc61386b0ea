//! Recipe paths that used to hang `runner`: directory symlink loops, a FIFO or a device named
//! `*.yaml`, special files as market data. Each run must end, with a diagnostic per path; the
//! harness kills a run still going after a generous guard time and fails the test, so a
//! regression fails instead of hanging the suite.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::recipes::TICKS;
use crate::support::{Finished, repo_root, runner_bin, test_journal};

/// How long a run may take before it is taken for a hang (each finishes in well under a second).
const GUARD: Duration = Duration::from_secs(60);

/// `runner ARGS` in `dir`, killed (and the test failed) if it has not exited within [`GUARD`].
fn run_guarded(dir: &Path, args: &[&str]) -> Finished {
    let child = Command::new(runner_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("RUNNER_JOURNAL", test_journal())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn runner");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(GUARD) {
        Ok(out) => {
            let out = out.expect("wait for runner");
            Finished {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            // The pid is our own child's, which has not been waited for yet.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("runner {args:?} was still running after {GUARD:?}: it hangs");
        }
    }
}

/// A directory `r/` holding one valid recipe (`r/a.yaml`) and its data.
fn recipes_dir(root: &Path) -> std::path::PathBuf {
    let r = root.join("r");
    fs::create_dir(&r).unwrap();
    fs::write(r.join("data.csv"), TICKS).unwrap();
    let text = fs::read_to_string(repo_root().join("tests/fixtures/recipes/good/spy-options.yaml"))
        .unwrap()
        .replace("../sample.csv", "data.csv");
    fs::write(r.join("a.yaml"), text).unwrap();
    r
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().expect("run mkfifo").success();
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn directory_symlink_loops_are_searched_once() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipes_dir(dir.path());
    // One loop: the recipe was found again under r/l1/, r/l1/l1/, … and reported as sharing
    // its account with itself.
    std::os::unix::fs::symlink(".", r.join("l1")).unwrap();
    let out = run_guarded(dir.path(), &["validate", "--no-fleet", "r"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("√ r/a.yaml\n"), "{}", out.stdout);
    assert!(out.stdout.contains("1 file: 1 ok"), "{}", out.stdout);
    assert!(!out.stdout.contains("shared-account"), "{}", out.stdout);
    // Two loops: the paths multiplied without end (memory growing, never finishing).
    std::os::unix::fs::symlink(".", r.join("l2")).unwrap();
    let out = run_guarded(dir.path(), &["validate", "--no-fleet", "r"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("1 file: 1 ok"), "{}", out.stdout);
    // The same file by two paths, and a directory through its alias: one file, not "empty".
    let out = run_guarded(dir.path(), &["validate", "--no-fleet", "r", "r/l1", "r/l2/a.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("1 file: 1 ok"), "{}", out.stdout);
}

#[test]
fn a_fifo_named_yaml_is_reported_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipes_dir(dir.path());
    mkfifo(&r.join("x.yaml"));
    let out = run_guarded(dir.path(), &["validate", "--no-fleet", "r"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("√ r/a.yaml\n"), "the other recipe is still checked: {}", out.stdout);
    assert!(
        out.stdout.contains("error[not-a-file]: r/x.yaml is a FIFO (named pipe), not a regular file"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--> r/x.yaml\n"), "{}", out.stdout);
    // Every command that loads a recipe goes through the same open.
    for args in [
        ["show", "r/x.yaml"].as_slice(),
        &["backtest", "--no-journal", "r/x.yaml"],
        &["up", "--speed", "max", "--state-dir", "state", "r/x.yaml"],
    ] {
        let out = run_guarded(dir.path(), args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("is a FIFO (named pipe), not a regular file"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn a_device_named_yaml_is_reported_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipes_dir(dir.path());
    std::os::unix::fs::symlink("/dev/zero", r.join("z.yaml")).unwrap();
    let out = run_guarded(dir.path(), &["validate", "--no-fleet", "r/z.yaml", "r/a.yaml"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("error[not-a-file]: r/z.yaml is a character device, not a regular file"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("√ r/a.yaml\n"), "{}", out.stdout);
}

#[test]
fn special_files_as_market_data_are_reported_at_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipes_dir(dir.path());
    mkfifo(&r.join("pipe.csv"));
    let text = fs::read_to_string(r.join("a.yaml")).unwrap();
    for (data, kind) in [("pipe.csv", "a FIFO (named pipe)"), ("/dev/zero", "a character device")] {
        fs::write(r.join("a.yaml"), text.replace("path: data.csv", &format!("path: {data}"))).unwrap();
        let out = run_guarded(dir.path(), &["validate", "--no-fleet", "r/a.yaml"]);
        assert_eq!(out.code, 1, "{}", out.stdout);
        assert!(out.stdout.contains(&format!("is {kind}, not a regular file")), "{}", out.stdout);
        assert!(out.stdout.contains("--> r/a.yaml:5:9"), "at provider.path: {}", out.stdout);
        let out = run_guarded(dir.path(), &["backtest", "--no-journal", "r/a.yaml"]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(out.stderr.contains(&format!("is {kind}, not a regular file")), "{}", out.stderr);
    }
}

#[test]
fn a_signal_file_that_is_a_fifo_or_a_device_is_refused_not_read() {
    use crate::support::repo_root;
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("sig.yaml");
    let text = std::fs::read_to_string(repo_root().join("recipes/spy-9ma-shares.yaml"))
        .unwrap()
        .replace("../data/", &format!("{}/", repo_root().join("data").display()));
    // An external-signal recipe on the same data; its signal file is /dev/zero.
    let text = text.replace("kind: ma-cross-breakout", "kind: external-signal");
    std::fs::write(&recipe, text).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("sig.signals.csv")).unwrap();
    let out = crate::support::Run::new(["backtest", recipe.to_str().unwrap(), "--no-journal"]).run();
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
}
