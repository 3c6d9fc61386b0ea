//! The one integration-test binary: every module runs the real `runner` binary.

mod support;

mod calendar;
mod cli;
mod correlation;
mod engine;
mod fleet;
mod indicators;
mod journal;
mod market;
mod market_input;
mod options;
mod options_e2e;
mod recipes;
mod risk;
mod secrets_cli;
mod sops_compat;
mod sops_ssh;
mod strategy;
mod validate_secrets;
