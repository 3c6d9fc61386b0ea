//! Hostile or damaged market data: what `runner up`, `backtest` and `candles` say about a file
//! that is not market data, a row that is not a market price, or a line without an end.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::support::{Finished, Run, repo_root};

/// A private age key as `age-keygen` writes it (this one opens nothing).
const AGE_KEY: &str = "# created: 2026-11-20T10:00:00Z\n# public key: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\nAGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSHJ5V6Q\n";
/// The secret part of [`AGE_KEY`]: it must never be printed, in any case.
const AGE_SECRET: &str = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSHJ5V6Q";
/// A shadow-style password line and the hash in it.
const SHADOW: &str = "root:$6$saltsalt$Z9hashHASHhash0sEcReT0hash:19700:0:99999:7:::\n";
const SHADOW_HASH: &str = "Z9hashHASHhash0sEcReT0hash";

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// `recipes/spy-9ma-shares.yaml` with `provider.path` set to `data` (absolute), written to `dir`.
fn recipe_for(dir: &Path, data: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("recipes/spy-9ma-shares.yaml")).expect("recipe");
    let text = text.replace("../data/spy-1s-trade-2013-10-07_11.csv.gz", s(data));
    let path = dir.join(format!("{}.yaml", data.file_name().and_then(|n| n.to_str()).unwrap_or("data")));
    std::fs::write(&path, text).expect("write recipe");
    path
}

/// `runner candles`, `runner backtest` and `runner up` on `data`, each expected to fail.
fn every_command(dir: &Path, data: &Path) -> Vec<(&'static str, Finished)> {
    let recipe = recipe_for(dir, data);
    let state = dir.join("state");
    let journal = dir.join("journal.db");
    vec![
        ("candles", Run::new(["candles", s(data)]).run()),
        (
            "backtest",
            Run::new(["backtest", s(&recipe), "--no-journal", "--report-dir", s(&dir.join("r"))]).run(),
        ),
        (
            "up",
            Run::new([
                "up",
                s(&recipe),
                "--speed",
                "max",
                "--journal",
                s(&journal),
                "--state-dir",
                s(&state),
            ])
            .run(),
        ),
    ]
}

/// Neither stream shows `secret`, in any letter case.
#[track_caller]
fn assert_not_shown(command: &str, out: &Finished, secret: &str) {
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !text.to_ascii_lowercase().contains(&secret.to_ascii_lowercase()),
            "{command}: {name} shows the file's content:\n{text}"
        );
    }
}

/// A recipe pointed at a key file, a password file, or a CSV whose rows hold a secret: every
/// command fails, names `file:line:column` and what was expected, and prints none of the text.
#[test]
fn data_file_contents_never_reach_the_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let header = "timestamp,price,size,exchange,sale_condition,suspicious\n";
    let good = "2013-10-07T09:30:00.000-04:00,168.50,100,P,0,0\n";
    let cases = [
        ("age-key.txt", AGE_KEY.to_owned(), AGE_SECRET, "age-key.txt:1:1: not a market-data header"),
        ("shadow", SHADOW.to_owned(), SHADOW_HASH, "shadow:1:1: not a market-data header"),
        (
            "in-header.csv",
            format!("timestamp,{AGE_SECRET}\n{good}"),
            AGE_SECRET,
            "in-header.csv:1:1: unknown header",
        ),
        (
            "in-price.csv",
            format!("{header}{good}2013-10-07T09:30:01.000-04:00,{AGE_SECRET},100,P,0,0\n"),
            AGE_SECRET,
            "in-price.csv:3:31: bad price: expected a decimal number greater than 0",
        ),
        (
            "in-time.csv",
            format!("{header}{good}{AGE_SECRET},168.50,100,P,0,0\n"),
            AGE_SECRET,
            "in-time.csv:3:1: bad timestamp",
        ),
        (
            "in-condition.csv",
            format!("{header}{good}2013-10-07T09:30:01.000-04:00,168.50,100,P,{SHADOW_HASH},0\n"),
            SHADOW_HASH,
            "in-condition.csv:3:44: bad sale_condition: expected hexadecimal flags",
        ),
    ];
    for (name, text, secret, want) in cases {
        let data = dir.path().join(name);
        std::fs::write(&data, text).expect("plant file");
        for (command, out) in every_command(dir.path(), &data) {
            assert_ne!(out.code, 0, "{command} {name} succeeded:\n{}", out.stdout);
            assert!(out.stderr.contains(want), "{command} {name}: want `{want}` in\n{}", out.stderr);
            assert_not_shown(command, &out, secret);
        }
    }
}

/// Files that are not text, a row with bytes that are not UTF-8, and paths that are not
/// regular files (a FIFO would block the open forever, a device never ends) are each a clear
/// error naming the file.
#[test]
fn binary_files_and_special_files_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = dir.path().join("runner-binary.csv");
    let exe = std::fs::read(crate::support::runner_bin()).expect("read the runner binary");
    std::fs::write(&binary, &exe[..4096]).expect("write");
    let out = Run::new(["candles", s(&binary)]).run().code(2);
    assert!(
        out.stderr.contains("runner-binary.csv:1:1: not a text file (binary or non-UTF-8 bytes)"),
        "{}",
        out.stderr
    );

    let latin1 = dir.path().join("latin1.csv");
    std::fs::write(&latin1, b"timestamp,price,size\n2013-10-07T09:30:00.000-04:00,168\xe9,100\n")
        .expect("write");
    let out = Run::new(["candles", s(&latin1)]).run().code(2);
    assert!(
        out.stderr
            .contains("latin1.csv:2:31: bad price: binary or non-UTF-8 bytes (expected a decimal number"),
        "{}",
        out.stderr
    );

    let fifo = dir.path().join("ticks.csv");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    for path in [s(&fifo), "/dev/zero"] {
        let out = Run::new(["candles", path]).run().code(2);
        assert!(out.stderr.contains(&format!("{path}: not a regular file")), "{}", out.stderr);
    }
}

/// `name` in `dir`: gzip of `head` followed by one line of `len` bytes (written in chunks, so
/// the test itself never holds the line).
fn gzip_with_long_line(dir: &Path, name: &str, head: &str, len: usize) -> PathBuf {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).expect("create");
    let mut gz = flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast());
    gz.write_all(head.as_bytes()).expect("write");
    let chunk = vec![b'7'; 1 << 16];
    for _ in 0..len / chunk.len() {
        gz.write_all(&chunk).expect("write");
    }
    gz.write_all(b"\n").expect("write");
    gz.finish().expect("finish").flush().expect("flush");
    path
}

/// One line of 32 MiB (a gzip bomb in miniature: ~100 KB on disk) is refused at the line limit,
/// in the header or in a row, gzip or plain: the reader never holds more than 64 KiB of a line.
#[test]
fn an_endless_line_is_an_error_at_64_kib() {
    let dir = tempfile::tempdir().expect("temp dir");
    let header = "timestamp,price,size\n";
    let cases = [
        (gzip_with_long_line(dir.path(), "bomb.csv.gz", "", 32 << 20), 1),
        (gzip_with_long_line(dir.path(), "row-bomb.csv.gz", header, 32 << 20), 2),
    ];
    let plain = dir.path().join("long.csv");
    std::fs::write(&plain, format!("{header}{}\n", "7".repeat(1 << 20))).expect("write");
    for (path, line) in cases.into_iter().chain([(plain, 2)]) {
        let out = Run::new(["candles", s(&path)]).run().code(2);
        let want = format!("{}:{line}:1: line longer than 65536 bytes", s(&path));
        assert!(out.stderr.contains(&want), "want `{want}` in\n{}", out.stderr);
    }
}

/// A price of 0 or less, a price that is not a finite decimal, and a negative size are refused
/// with `file:line:column`: the replay stops there and the run ends as an error, so no order is
/// ever filled at such a price.
#[test]
fn prices_must_be_positive_and_sizes_not_negative() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ticks = "timestamp,price,size\n2013-10-07T09:30:00.000-04:00,168.5,100\n";
    let bars = "timestamp,open,high,low,close,volume\n";
    let quotes = "timestamp,bid_close,ask_close,last_bid_size,last_ask_size\n";
    let row = "2013-10-07T09:30:01.000-04:00";
    let cases = [
        ("neg.csv", format!("{ticks}{row},-5,100\n"), "neg.csv:3:31: bad price"),
        ("zero.csv", format!("{ticks}{row},0.00,100\n"), "zero.csv:3:31: bad price"),
        ("nan.csv", format!("{ticks}{row},NaN,100\n"), "nan.csv:3:31: bad price"),
        ("inf.csv", format!("{ticks}{row},inf,100\n"), "inf.csv:3:31: bad price"),
        (
            "size.csv",
            format!("{ticks}{row},168.5,-100\n"),
            "size.csv:3:37: bad size: expected a decimal number, 0 or more",
        ),
        ("bar-1m.csv", format!("{bars}{row},1,2,-1,1,10\n"), "bar-1m.csv:2:35: bad low"),
        ("quote-1m.csv", format!("{quotes}{row},0,168.5,100,100\n"), "quote-1m.csv:2:31: bad bid"),
    ];
    for (name, text, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let out = Run::new(["candles", s(&path), "-s", "full"]).run().code(2);
        assert!(out.stderr.contains(want), "{name}: want `{want}` in\n{}", out.stderr);
    }
    // The whole run fails on the row: no report of a run on a price that never was.
    let neg = dir.path().join("neg.csv");
    let recipe = recipe_for(dir.path(), &neg);
    let report = dir.path().join("report");
    let bt = Run::new(["backtest", s(&recipe), "--no-journal", "--report-dir", s(&report)]).run().code(2);
    assert!(
        bt.stderr.contains("neg.csv:3:31: bad price: expected a decimal number greater than 0"),
        "{}",
        bt.stderr
    );
    assert!(!report.exists(), "a report was written");
    let up = Run::new([
        "up",
        s(&recipe),
        "--speed",
        "max",
        "--journal",
        s(&dir.path().join("j.db")),
        "--state-dir",
        s(&dir.path().join("st")),
    ])
    .run();
    assert_ne!(up.code, 0, "{}", up.stdout);
    assert!(up.stderr.contains("neg.csv:3:31: bad price"), "{}", up.stderr);
}

/// `runner candles -i sma:4000000000` asked for a 64 GB window: every period is bounded by the
/// indicators' 10000 when the flag is parsed, as a usage error naming the flag.
#[test]
fn indicator_periods_are_bounded_when_the_flag_is_parsed() {
    for spec in ["sma:4000000000", "ema:10001", "atr:18446744073709551615", "donchian:20,swings:99999"] {
        let out = Run::new(["candles", "data/spy-1m-trade-2013-10-07_11.csv.gz", "-i", spec]).run().code(2);
        assert!(
            out.stderr.contains("--indicators") && out.stderr.contains("1..=10000"),
            "{spec}: {}",
            out.stderr
        );
    }
}
