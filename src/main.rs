//! The `runner` binary: parse arguments, run, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    runner::cli::main()
}
