//! The OpenAPI 3.1 document of the dashboard's API (`GET /api/openapi.json`, committed as
//! `docs/openapi.json`; a test keeps the two equal).
//!
//! What belongs here: the paths, and the schemas — generated from the response types with
//! schemars where they derive `JsonSchema` (the hub's views, the run view, parameters, runs),
//! written out here for the journal's record types (which stay free of schema derives).

use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::rows::RunRow;
use crate::report::view::RunView;
use crate::runtime::hub::{AgentView, ControlRecord, FleetView};
use crate::runtime::params::Param;

/// The document as pretty JSON with a final newline (what `docs/openapi.json` holds).
pub fn document_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut t =
            serde_json::to_string_pretty(&document()).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        t.push('\n');
        t
    })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_body(schema: Value, description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn err(description: &str) -> Value {
    json_body(schema_ref("Error"), description)
}

fn name_param() -> Value {
    json!({ "name": "name", "in": "path", "required": true, "description": "The agent's name",
            "schema": { "type": "string" } })
}

/// A reload's `positions` query parameter.
fn positions_param() -> Value {
    json!({ "name": "positions", "in": "query", "required": false,
            "description": "What restarting an agent that holds a position or has working orders does: `refuse` (the default: the reload is refused), `flatten` (close it first, restart once flat) or `carry` (restart holding it; the new run takes it over, reconciled with the venue — live data, no working orders, same instrument)",
            "schema": { "type": "string", "enum": ["refuse", "flatten", "carry"], "default": "refuse" } })
}

/// A string property.
fn s(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

/// A nullable string property.
fn ns(description: &str) -> Value {
    json!({ "type": ["string", "null"], "description": description })
}

/// A decimal string property.
fn d(description: &str) -> Value {
    json!({ "type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": description })
}

/// A nullable decimal string property.
fn nd(description: &str) -> Value {
    json!({ "type": ["string", "null"], "pattern": r"^-?\d+(\.\d+)?$", "description": description })
}

/// A time property (RFC 3339 UTC).
fn t(description: &str) -> Value {
    json!({ "type": "string", "format": "date-time", "description": description })
}

/// An object schema with every property required.
fn object(description: &str, props: &[(&str, Value)]) -> Value {
    let required: Vec<&str> = props.iter().map(|(k, _)| *k).collect();
    let properties: Map<String, Value> = props.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    json!({ "type": "object", "description": description, "properties": properties, "required": required })
}

/// The journal's record types, as they serialize (`crate::journal::record`).
fn journal_schemas() -> Vec<(&'static str, Value)> {
    let side = json!({ "type": "string", "enum": ["buy", "sell"], "description": "Buy or sell" });
    vec![
        (
            "OrderRow",
            object(
                "One state of an order (every status change is a row; the latest wins)",
                &[
                    ("client_order_id", s("Deterministic client order id")),
                    ("run", ns("Run that placed it")),
                    ("agent", s("Agent")),
                    ("account", s("Broker account")),
                    ("instrument", s("Instrument (an option in OCC form)")),
                    ("side", side.clone()),
                    (
                        "order_type",
                        json!({ "type": "string", "enum": ["market", "limit", "stop", "stop_limit"] }),
                    ),
                    ("qty", d("Ordered quantity")),
                    ("limit_price", nd("Limit price")),
                    ("stop_price", nd("Stop price")),
                    (
                        "status",
                        json!({ "type": "string", "enum": ["submitted", "accepted", "partially_filled",
                                "filled", "canceled", "rejected", "expired"] }),
                    ),
                    ("time", t("When the order reached this status")),
                ],
            ),
        ),
        (
            "FillRow",
            object(
                "One execution",
                &[
                    ("fill_id", s("Execution id")),
                    ("client_order_id", s("Order it belongs to")),
                    ("run", ns("Run")),
                    ("agent", s("Agent")),
                    ("account", s("Broker account")),
                    ("instrument", s("Instrument")),
                    ("side", side.clone()),
                    ("qty", d("Filled quantity (positive)")),
                    ("price", d("Fill price")),
                    ("fee", d("Fees and commissions (positive)")),
                    ("time", t("Execution time")),
                ],
            ),
        ),
        (
            "DenialRow",
            object(
                "An order intent refused by the risk gate",
                &[
                    ("run", ns("Run")),
                    ("agent", s("Agent")),
                    ("account", s("Broker account")),
                    ("instrument", s("Instrument")),
                    ("side", side),
                    ("qty", d("Quantity of the refused intent")),
                    ("client_order_id", ns("Client order id it would have had")),
                    ("reason_code", s("Stable reason code (`pdt`, `max_position`, …)")),
                    ("message", s("Why, for people")),
                    ("time", t("When it was refused")),
                ],
            ),
        ),
        (
            "ControlRow",
            object(
                "An operator's action as journaled",
                &[
                    ("run", ns("Run")),
                    ("agent", ns("Agent (null for the fleet)")),
                    (
                        "action",
                        s("`halt`, `resume`, `flatten`, `enable`, `disable`, `set-param`, `fleet-halt`"),
                    ),
                    ("by", s("Who asked (`http 127.0.0.1:53022`)")),
                    ("key", ns("For `set-param`: the recipe key")),
                    ("old", ns("For `set-param`: the value before")),
                    ("new", ns("For `set-param`: the value asked for")),
                    ("result", s("`applied`, `pending`, or `refused: …`")),
                    ("time", t("When")),
                ],
            ),
        ),
        ("Error", object("Every failure's body", &[("error", s("What went wrong"))])),
        ("FleetHalt", object("The fleet halt, carried out", &[("reason", s("The reason every agent got"))])),
        (
            "Reloaded",
            object(
                "What one agent did with its recipe file read again",
                &[
                    ("agent", s("Agent name")),
                    ("record", schema_ref("ControlRecord")),
                    ("error", s("Why nothing changed (an invalid file, keys that need a restart)")),
                ],
            ),
        ),
        (
            "ParamEdit",
            json!({ "type": "object", "description": "A parameter edit",
                    "properties": { "key": s("The recipe key, dotted (`algorithm.ma_period`)"),
                                    "value": { "type": ["string", "number", "boolean"],
                                               "description": "The new value" } },
                    "required": ["key", "value"] }),
        ),
    ]
}

/// The whole document.
pub fn document() -> Value {
    let mut g = SchemaSettings::draft2020_12()
        .for_serialize()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    // Each type's schema (and those it uses) lands in the definitions.
    let _ = (
        g.subschema_for::<FleetView>(),
        g.subschema_for::<AgentView>(),
        g.subschema_for::<RunView>(),
        g.subschema_for::<ControlRecord>(),
        g.subschema_for::<Param>(),
        g.subschema_for::<RunRow>(),
    );
    let mut schemas = g.take_definitions(true);
    for (name, schema) in journal_schemas() {
        schemas.insert(name.to_owned(), schema);
    }
    schemas.sort_keys();
    let array = |name: &str| json!({ "type": "array", "items": schema_ref(name) });
    let limit = json!({ "name": "limit", "in": "query", "required": false,
                        "description": "The newest N rows (default 500)",
                        "schema": { "type": "integer", "minimum": 1 } });
    let rows = |name: &str, what: &str| {
        json!({ "get": {
            "summary": format!("This run's {what}, from the journal (newest last)"),
            "parameters": [name_param(), limit.clone()],
            "responses": { "200": json_body(array(name), what), "404": err("No such agent") } } })
    };
    let control = |what: &str| {
        json!({ "post": {
            "summary": what, "security": [{ "bearer": [] }], "parameters": [name_param()],
            "responses": {
                "200": json_body(schema_ref("ControlRecord"), "Carried out (as journaled)"),
                "401": err("No token, or a wrong one"),
                "404": err("No such agent"),
                "409": err("Refused (already halted, not running any more …)") } } })
    };
    let paths = json!({
        "/api/fleet": { "get": { "summary": "The fleet summary",
            "responses": { "200": json_body(schema_ref("FleetView"), "The fleet") } } },
        "/api/fleet/halt": { "post": { "summary": "Halt every agent (the kill switch)",
            "security": [{ "bearer": [] }],
            "responses": { "200": json_body(schema_ref("FleetHalt"), "Halted"),
                           "401": err("No token, or a wrong one") } } },
        "/api/fleet/reload": { "post": { "summary": "Every agent reads its recipe file again: changed parameters that may change mid-run are applied; any other change restarts the agent in a new run (see `positions`)",
            "security": [{ "bearer": [] }], "parameters": [positions_param()],
            "responses": { "200": json_body(array("Reloaded"), "One answer per agent"),
                           "400": err("An unknown `positions`"),
                           "401": err("No token, or a wrong one") } } },
        "/api/agents/{name}/reload": { "post": { "summary": "The agent reads its recipe file again (as the fleet's reload does, for one agent)",
            "security": [{ "bearer": [] }], "parameters": [name_param(), positions_param()],
            "responses": { "200": json_body(schema_ref("ControlRecord"), "Applied, unchanged, or restarting"),
                           "400": err("An unknown `positions`"),
                           "401": err("No token, or a wrong one"),
                           "404": err("No such agent"),
                           "409": err("Refused, and why: the file is not valid, the agent was renamed or moved to another account, it holds a position and `positions` is `refuse`, …") } } },
        "/api/agents": { "get": { "summary": "Every agent's current numbers",
            "responses": { "200": json_body(array("AgentView"), "The agents") } } },
        "/api/agents/{name}": { "get": { "summary": "One agent's current numbers",
            "parameters": [name_param()],
            "responses": { "200": json_body(schema_ref("AgentView"), "The agent"),
                           "404": err("No such agent") } } },
        "/api/agents/{name}/run": { "get": { "summary": "The agent's run so far (charts, deals, halts, summary)",
            "parameters": [name_param()],
            "responses": { "200": json_body(schema_ref("RunView"), "The run view"),
                           "404": err("No such agent"), "409": err("The run ended and left no view") } } },
        "/api/agents/{name}/orders": rows("OrderRow", "orders"),
        "/api/agents/{name}/fills": rows("FillRow", "fills"),
        "/api/agents/{name}/denials": rows("DenialRow", "denials"),
        "/api/agents/{name}/controls": rows("ControlRow", "operator controls"),
        "/api/agents/{name}/params": {
            "get": { "summary": "The recipe's parameters, and which may change while it runs",
                "parameters": [name_param()],
                "responses": { "200": json_body(array("Param"), "The parameters"),
                               "404": err("No such agent") } },
            "post": { "summary": "Change one parameter (validated like `runner validate`)",
                "security": [{ "bearer": [] }], "parameters": [name_param()],
                "requestBody": { "required": true,
                    "content": { "application/json": { "schema": schema_ref("ParamEdit") } } },
                "responses": {
                    "200": json_body(schema_ref("ControlRecord"), "Accepted (applied now or at the next safe point)"),
                    "401": err("No token, or a wrong one"), "404": err("No such agent"),
                    "422": err("Refused: the validator's message") } } },
        "/api/agents/{name}/halt": control("Halt: cancel, flatten, no entries for the rest of the trading day"),
        "/api/agents/{name}/resume": control("Lift a halt or reduce-only state"),
        "/api/agents/{name}/flatten": control("Close the position now"),
        "/api/agents/{name}/enable": control("Put a disabled agent back into trading"),
        "/api/agents/{name}/disable": control("Take the agent out of trading until enabled"),
        "/api/runs": { "get": { "summary": "The journal's runs (and report directories it does not know)",
            "responses": { "200": json_body(array("RunRow"), "The runs, oldest first") } } },
        "/api/runs/{id}": { "get": { "summary": "A finished run's view (its report directory's run.json)",
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
            "responses": { "200": json_body(schema_ref("RunView"), "The run view"),
                           "404": err("No such run, or no view of it") } } },
        "/api/events": { "get": { "summary": "Live events (server-sent events)",
            "description": "First `event: hello` with `{seq, fleet, agents}`; then each hub event as \
                `id: <seq>`, `event: <kind>`, `data: <JSON>` (kinds: order_sent, order, denied, position, \
                state, signal, external, candle, info, warning, connectivity, snapshot, health, control, \
                fleet_halt, finished); `: keep-alive` comments every 15 s; `event: lagged` with \
                `{missed}` when the subscriber fell behind (reload).",
            "responses": { "200": { "description": "The event stream",
                "content": { "text/event-stream": { "schema": { "type": "string" } } } } } } },
        "/metrics": { "get": { "summary": "Prometheus metrics (text format 0.0.4)",
            "responses": { "200": { "description": "The metrics",
                "content": { "text/plain": { "schema": { "type": "string" } } } } } } },
        "/api/openapi.json": { "get": { "summary": "This document",
            "responses": { "200": { "description": "OpenAPI 3.1",
                "content": { "application/json": { "schema": { "type": "object" } } } } } } },
    });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "runner dashboard API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The JSON API of `runner up --http ADDR` (see docs/api.md). Money and prices \
                are decimal strings, times RFC 3339 UTC. Reads are open on a loopback address; every \
                control needs `Authorization: Bearer <token>`, and on any other address every route \
                but the page and its assets does."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/openapi.json` is what the code generates (`UPDATE_SNAPSHOTS=1` rewrites it).
    #[test]
    fn committed_document_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
        let want = document_text();
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
            crate::report::write_atomic(&path, want.as_bytes()).expect("write docs/openapi.json");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(have == want, "docs/openapi.json is stale: rerun with UPDATE_SNAPSHOTS=1");
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"").skip(1) {
            let target = part.split('"').next().unwrap_or_default();
            let name = target.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{target}"));
            assert!(schemas.contains_key(name), "{target} is not in components.schemas");
        }
        for name in ["AgentView", "FleetView", "RunView", "ControlRecord", "Param", "RunRow", "OrderRow"] {
            assert!(schemas.contains_key(name), "{name}");
        }
        // Money is a decimal string, never a float.
        assert_eq!(schemas["AgentView"]["properties"]["pnl_today"]["type"], "string");
    }
}
