//! Recipes: the typed model (serde + schemars), loading YAML with source spans,
//! validation passes and diagnostics.

pub mod cli;
