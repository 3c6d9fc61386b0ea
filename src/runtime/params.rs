//! Recipe parameters an operator may change while an agent runs (`POST
//! /api/agents/{name}/params`): which keys, their current values, and the edit checked exactly
//! as `runner validate` checks the file.
//!
//! What belongs here: the list of editable keys of a recipe ([`editable`]) and turning an
//! edit into a validated recipe (or the validator's message).

use serde::Serialize;

/// One parameter of a running agent's recipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Param {
    /// The recipe key, dotted (`algorithm.params.fast_period`, `risk.max_position`).
    pub key: String,
    /// Its current value, as YAML scalar text.
    pub value: String,
    /// Whether it may change while the agent runs.
    pub editable: bool,
    /// When it takes effect: `now`, or `when flat` (the next moment the agent holds nothing).
    pub applies: String,
}
