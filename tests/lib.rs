//! The one integration-test binary: every module runs the real `runner` binary.

mod support;

mod calendar;
mod cli;
mod engine;
mod indicators;
mod market;
mod options;
mod recipes;
mod strategy;
