//! Recipes: the typed model (serde + schemars), loading YAML with source spans,
//! validation passes and diagnostics.
//!
//! - [`model`]: the serde types, the single source of truth for the JSON Schema;
//! - [`defaults`]: what the engine uses for optional fields left out, and [`Recipe::resolved`];
//! - [`types`]: small value types (percentages, money, timeframes, strikes, …);
//! - [`load`]: reading files (size cap, UTF-8), the bounded YAML parse, the span map;
//! - [`schema`]: the generated JSON Schemas, validators and the docs generator;
//! - [`validate`]: the validation passes and cross-recipe checks;
//! - [`diagnostics`]: located problems and their renderers;
//! - [`cli`]: `runner validate`, `runner show`, `runner schema`.

pub mod cli;
pub mod defaults;
pub mod diagnostics;
pub mod load;
pub mod model;
pub mod schema;
pub mod types;
pub mod validate;

pub use diagnostics::{Diagnostic, Severity};
pub use model::{Fleet, Recipe};
pub use validate::{LoadError, check_credentials, load_recipe};

/// The name a recipe writes for a kind enum value (`alpaca`, `redis-signals`, `ma-cross-breakout`).
pub fn kind_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|j| j.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Parse a recipe from YAML text (typed load only, no semantic checks).
///
/// The validation pipeline gives located, collected diagnostics; this is the quick path
/// for code that already knows the recipe is valid (tests, the engine after validation). It
/// parses with the validator's options (YAML 1.2 booleans, so `off` is the word; the budget).
pub fn from_yaml_str(src: &str) -> Result<Recipe, serde_saphyr::Error> {
    load::from_str_limited(src)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn spy_9ma_loads_as_written() {
        let src = include_str!("../../recipes/spy-9ma.yaml");
        let r = from_yaml_str(src).expect("spy-9ma.yaml loads");
        assert_eq!(r.agent, "spy-9ma");
        assert_eq!(r.broker.commission_per_contract.map(|m| m.value()), Some(dec!(0.65)));
        assert_eq!(r.algorithm.timeframe.seconds(), 300);
        assert_eq!(r.risk.entry_size, Some(types::Size::Percent(types::Percent::from_fraction(dec!(0.5)))));
        assert_eq!(r.session.flatten_at.map(|t| t.to_string()).as_deref(), Some("15:55"));
        assert_eq!(r.instrument.strike, Some(types::Strike::Atm));
    }

    #[test]
    fn unknown_fields_and_kinds_are_rejected() {
        let src = include_str!("../../recipes/spy-9ma.yaml");
        let bad_field = src.replace("limit_offset_ticks: 1", "limit_offset_tick: 1");
        let e = from_yaml_str(&bad_field).unwrap_err().to_string();
        assert!(e.contains("limit_offset_tick"), "{e}");
        let bad_kind = src.replace("kind: ma-cross-breakout", "kind: ma-cross");
        let e = from_yaml_str(&bad_kind).unwrap_err().to_string();
        assert!(e.contains("ma-cross-breakout"), "lists known kinds: {e}");
    }
}
