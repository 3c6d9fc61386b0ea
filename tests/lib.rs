//! The one integration-test binary: every module runs the real `runner` binary (but `layering`,
//! which reads the sources).

mod support;

mod agent_parts;
mod alpaca_client;
mod alpaca_up;
mod calendar;
mod cli;
mod correlation;
mod dashboard_browser;
mod engine;
mod fake_alpaca;
mod fleet;
mod hostile_files;
mod http_api;
mod indicators;
mod journal;
mod layering;
mod market;
mod market_input;
mod metrics_notify;
mod operator;
mod options;
mod options_e2e;
mod options_listed;
mod recipes;
mod results_charts;
mod results_more;
mod results_output;
mod results_qty;
mod results_range;
mod results_runs;
mod risk;
mod safety;
mod secrets_cli;
mod secrets_demo;
mod signals_redis;
mod signals_socket;
mod signals_up;
mod sops_compat;
mod sops_ssh;
mod strategy;
mod validate_run;
mod validate_secrets;
