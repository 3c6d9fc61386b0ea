//! Recipe parameters an operator may change while an agent runs (`POST
//! /api/agents/{name}/params`): which keys, their current values, and the edit checked exactly
//! as `runner validate` checks a file.
//!
//! What belongs here: the editable keys of a recipe ([`editable`]); an edit applied to the
//! recipe's text in place (the rest of the file, comments included, stays as written) and run
//! through every validation pass ([`edit`]); and what the running agent must change for it
//! ([`plan`]). Sizing and limits apply at once; the strategy's parameters and the protective
//! exits at the next safe point (the agent flat, nothing working). The recipe file on disk is
//! never written: the change lives for this run, and the journal keeps who, when, old and new.

use std::path::Path;

use serde::Serialize;

use crate::engine::agent::Reconfigure;
use crate::model::SymbolId;
use crate::recipe::Recipe;
use crate::recipe::load::{Source, SpanMap};
use crate::recipe::model::{AlgorithmKind, InstrumentKind};
use crate::recipe::schema::SchemaKind;
use crate::recipe::validate::check_source;

/// One parameter of a running agent's recipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Param {
    /// The recipe key, dotted (`algorithm.ma_period`, `risk.max_shares`).
    pub key: String,
    /// Its current value as the recipe spells it (`""` when unset: the default applies).
    pub value: String,
    /// Whether it may change while the agent runs.
    pub editable: bool,
    /// When a change takes effect: `now`, or `when flat` (the next moment the agent holds
    /// nothing and has nothing working).
    pub applies: String,
}

/// When a key's change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// At once.
    Now,
    /// When the agent is flat.
    WhenFlat,
}

impl Applies {
    fn as_str(self) -> &'static str {
        match self {
            Self::Now => "now",
            Self::WhenFlat => "when flat",
        }
    }
}

/// The keys of `recipe` that may change mid-run, and when each applies.
pub fn editable_keys(recipe: &Recipe) -> Vec<(&'static str, Applies)> {
    use Applies::{Now, WhenFlat};
    let mut keys = match recipe.algorithm.kind {
        AlgorithmKind::MaCrossBreakout => vec![
            ("algorithm.ma_period", WhenFlat),
            ("algorithm.breakout_lookback", WhenFlat),
            ("algorithm.breakout_mode", WhenFlat),
        ],
        AlgorithmKind::TargetPosition => {
            vec![("algorithm.ma_period", WhenFlat), ("algorithm.tolerance", WhenFlat)]
        }
        // Correlation reads a second symbol's history and an external-signal agent has no
        // parameters of its own: their algorithm stays as started.
        AlgorithmKind::Correlation | AlgorithmKind::ExternalSignal => Vec::new(),
    };
    keys.extend([("risk.entry_size", Now), ("risk.add_size", Now)]);
    keys.push(match recipe.instrument.kind {
        InstrumentKind::Option => ("risk.max_contracts", Now),
        InstrumentKind::Equity | InstrumentKind::Crypto => ("risk.max_shares", Now),
    });
    keys.extend([
        ("risk.max_notional", Now),
        ("risk.max_trades_per_day", Now),
        ("risk.max_orders_per_minute", Now),
        ("risk.daily_loss_limit", Now),
        ("risk.max_drawdown", Now),
        ("risk.stop_loss", WhenFlat),
        ("risk.take_profit", WhenFlat),
        ("risk.trailing_stop", WhenFlat),
    ]);
    keys
}

/// The recipe's editable parameters with their current values.
pub fn editable(recipe: &Recipe) -> Vec<Param> {
    let json = serde_json::to_value(recipe).unwrap_or_default();
    editable_keys(recipe)
        .into_iter()
        .map(|(key, applies)| Param {
            key: key.to_owned(),
            value: match json.pointer(&pointer(key)) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            },
            editable: true,
            applies: applies.as_str().to_owned(),
        })
        .collect()
}

fn pointer(key: &str) -> String {
    format!("/{}", key.replace('.', "/"))
}

/// A checked edit: the recipe text with the change, the recipe it validates to, the value
/// before, and when it applies.
#[derive(Debug, Clone)]
pub struct Edit {
    /// The recipe text after the change.
    pub text: String,
    /// The recipe after the change.
    pub recipe: Recipe,
    /// The value before (`""` when unset).
    pub old: String,
    /// When it applies.
    pub applies: Applies,
}

/// Apply `key: value` to the recipe `text` (named `name`, relative paths resolved against
/// `base`) and run every validation pass `runner validate` runs on a file. Refused with the
/// validator's messages, or when the key may not change mid-run.
pub fn edit(
    name: &str,
    text: &str,
    base: &Path,
    current: &Recipe,
    key: &str,
    value: &str,
) -> Result<Edit, String> {
    let Some(applies) = editable_keys(current).into_iter().find(|(k, _)| *k == key).map(|(_, a)| a) else {
        let keys: Vec<&str> = editable_keys(current).into_iter().map(|(k, _)| k).collect();
        return Err(format!("`{key}` cannot change while the agent runs; these can: {}", keys.join(", ")));
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("`{key}` needs a value"));
    }
    // One plain scalar: nothing that YAML would read as structure, a comment or a second line.
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || " ._%$+-".contains(c)) {
        return Err(format!(
            "`{value}` is not a plain value for `{key}` (letters, digits, spaces and . _ % $ + - only)"
        ));
    }
    let old = editable(current).into_iter().find(|p| p.key == key).map(|p| p.value).unwrap_or_default();
    let text = set_scalar(text, key, value)?;
    let report = check_source(Source::new(name, text.clone()), SchemaKind::Recipe, base);
    if report.errors() > 0 {
        let messages: Vec<String> = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == crate::recipe::diagnostics::Severity::Error)
            .map(|d| match &d.hint {
                Some(h) => format!("{}: {} ({h})", d.code, d.message),
                None => format!("{}: {}", d.code, d.message),
            })
            .collect();
        return Err(messages.join("; "));
    }
    let recipe = report.recipe.ok_or_else(|| format!("`{key}: {value}` leaves no recipe to run"))?;
    Ok(Edit { text, recipe, old, applies })
}

/// `text` with the block-style scalar at `key` (dotted, two levels) set to `value`: replaced
/// where it is written, or added under its section (the section added at the end when absent).
fn set_scalar(text: &str, key: &str, value: &str) -> Result<String, String> {
    let (section, field) = key.split_once('.').ok_or_else(|| format!("`{key}` is not a recipe key"))?;
    let spans = SpanMap::build(text);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if let Some(span) = spans.get(&pointer(key)) {
        let pos = span.value;
        let line = lines.get_mut(pos.line - 1).ok_or("the recipe changed under the edit")?;
        let chars: Vec<char> = line.chars().collect();
        let start = pos.column - 1;
        let end = (start + pos.len).min(chars.len());
        if start > chars.len() {
            return Err(format!("`{key}` is not written as a one-line value in the recipe"));
        }
        let before: String = chars[..start].iter().collect();
        let after: String = chars[end..].iter().collect();
        *line = format!("{before}{value}{after}");
    } else if let Some(sec) = spans.get(&format!("/{section}")) {
        let key_line = sec.key.map_or(0, |k| k.line);
        // Indent as the section's first field is, else two spaces more than the section.
        let indent = if sec.value.line > key_line { sec.value.column - 1 } else { 2 };
        if key_line == 0 || (sec.value.line == key_line && !lines[key_line - 1].trim_end().ends_with(':')) {
            return Err(format!(
                "`{section}` is written inline in the recipe; edit the file to change `{key}`"
            ));
        }
        lines.insert(key_line, format!("{}{field}: {value}", " ".repeat(indent)));
    } else {
        lines.push(format!("{section}:"));
        lines.push(format!("  {field}: {value}"));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

/// What the running agent changes for `recipe` after edits of `keys`: sizing and limits
/// always; the exits when one of them changed; a new strategy when an `algorithm.` key did.
pub fn plan(recipe: &Recipe, symbol: SymbolId, keys: &[&str]) -> Result<Reconfigure, String> {
    let cfg = super::build::agent_config(recipe)?;
    let exits =
        keys.iter().any(|k| matches!(*k, "risk.stop_loss" | "risk.take_profit" | "risk.trailing_stop"));
    let strategy = if keys.iter().any(|k| k.starts_with("algorithm.")) {
        Some(
            super::build::strategy(recipe, symbol, None)
                .map_err(|e| format!("algorithm.{}: {}", e.field, e.message))?,
        )
    } else {
        None
    };
    Ok(Reconfigure {
        decision: cfg.decision,
        limits: cfg.limits,
        daily_loss_limit: cfg.daily_loss_limit,
        max_drawdown: cfg.max_drawdown,
        exits: exits.then_some(cfg.exits),
        strategy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECIPE: &str = "version: 1
agent: t
# the data
provider:
  kind: replay
  data: data.csv
broker:
  kind: paper
instrument:
  kind: equity
  underlying: SPY
algorithm:
  kind: ma-cross-breakout
  timeframe: 5m
  ma_period: 9   # the MA
  breakout_lookback: 7
";

    #[test]
    fn a_written_value_is_replaced_in_place_and_comments_stay() {
        let t = set_scalar(RECIPE, "algorithm.ma_period", "12").expect("edit");
        assert!(t.contains("  ma_period: 12   # the MA\n"), "{t}");
        assert!(t.contains("# the data\n"));
    }

    #[test]
    fn a_missing_value_goes_under_its_section_or_a_new_one() {
        let t = set_scalar(RECIPE, "broker.account", "x").expect("edit");
        assert!(t.contains("broker:\n  account: x\n  kind: paper\n"), "{t}");
        let t = set_scalar(RECIPE, "risk.max_shares", "50").expect("edit");
        assert!(t.ends_with("risk:\n  max_shares: 50\n"), "{t}");
    }
}
