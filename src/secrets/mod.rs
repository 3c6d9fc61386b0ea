//! SOPS-compatible secrets vault: file format, keys (age, PGP), store and commands.

pub mod cli;
pub mod sops;
