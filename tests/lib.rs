//! The one integration-test binary: every module runs the real `runner` binary.

mod support;

mod calendar;
mod cli;
mod journal;
mod options;
mod secrets_cli;
mod sops_compat;
