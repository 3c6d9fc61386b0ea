//! The command tree itself: help, version, usage errors.

use crate::support::Run;

#[test]
fn help_lists_every_command() {
    let out = Run::new(["--help"]).run().success();
    for cmd in [
        "validate", "show", "schema", "up", "backtest", "report", "candles", "calendar", "secrets",
        "journal", "status",
    ] {
        assert!(out.stdout.contains(cmd), "--help does not mention {cmd}:\n{}", out.stdout);
    }
}

#[test]
fn unknown_command_is_a_usage_error() {
    let out = Run::new(["frobnicate"]).run().code(2);
    assert!(out.stderr.contains("frobnicate"), "{}", out.stderr);
}
