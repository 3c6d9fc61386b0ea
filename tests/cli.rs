//! The command tree itself: help, version, usage errors.

use crate::support::Run;

#[test]
fn help_lists_every_command() {
    let out = Run::new(["--help"]).run().success();
    for cmd in [
        "validate", "show", "schema", "up", "backtest", "report", "candles", "calendar", "secrets",
        "journal", "status", "runs",
    ] {
        assert!(out.stdout.contains(cmd), "--help does not mention {cmd}:\n{}", out.stdout);
    }
}

#[test]
fn unknown_command_is_a_usage_error() {
    let out = Run::new(["frobnicate"]).run().code(2);
    assert!(out.stderr.contains("frobnicate"), "{}", out.stderr);
}

/// Log lines carry colour escapes only on a terminal without NO_COLOR: a log redirected to a
/// file (here a pipe) is plain text.
#[test]
fn log_colours_only_on_a_terminal() {
    let args = ["-vv", "validate", "--no-fleet", "tests/fixtures/recipes/good"];
    let piped = Run::new(args).env_remove("NO_COLOR").run().success();
    assert!(piped.stderr.contains("validating"), "{}", piped.stderr);
    assert!(!piped.stderr.contains('\x1b'), "escape codes in a redirected log: {:?}", piped.stderr);
    // On a pseudo-terminal (util-linux `script`), colours are on unless NO_COLOR is set.
    let on_pty = |no_color: Option<&str>| {
        let dir = tempfile::tempdir().expect("temp dir");
        let command = format!(
            "cd {} && {} {}",
            crate::support::repo_root().display(),
            crate::support::runner_bin(),
            args.join(" ")
        );
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", &crate::support::pty_script(&command, ":")])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = cmd.output().expect("run `script` (util-linux)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_pty(None);
    assert!(coloured.contains("validating") && coloured.contains('\x1b'), "{coloured:?}");
    let plain = on_pty(Some("1"));
    assert!(plain.contains("validating") && !plain.contains('\x1b'), "{plain:?}");
}
