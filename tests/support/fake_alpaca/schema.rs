//! The official request and response schemas (cut from Alpaca's Trading API OpenAPI file, see
//! `tests/fixtures/alpaca/README.md`), compiled once.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::Value;

/// The schemas the fake checks against.
#[derive(Debug, Clone, Copy)]
pub enum Schema {
    /// `POST /v2/orders` request body.
    OrderRequest,
    /// `PATCH /v2/orders/{order_id}` request body.
    OrderReplace,
    /// The `Order` object of the responses (formats such as `date-time` checked).
    Order,
}

fn compile(text: &str) -> Validator {
    let schema: Value = serde_json::from_str(text).expect("the schema fixture is JSON");
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema fixture compiles")
}

fn validator(schema: Schema) -> &'static Validator {
    static REQUEST: OnceLock<Validator> = OnceLock::new();
    static REPLACE: OnceLock<Validator> = OnceLock::new();
    static ORDER: OnceLock<Validator> = OnceLock::new();
    match schema {
        Schema::OrderRequest => {
            REQUEST.get_or_init(|| compile(include_str!("../../fixtures/alpaca/order-request.schema.json")))
        }
        Schema::OrderReplace => {
            REPLACE.get_or_init(|| compile(include_str!("../../fixtures/alpaca/order-replace.schema.json")))
        }
        Schema::Order => {
            ORDER.get_or_init(|| compile(include_str!("../../fixtures/alpaca/order.schema.json")))
        }
    }
}

/// Check `value` against `schema`: the validator's messages (with the JSON pointer of each
/// offending value), joined, when it does not conform.
pub fn check(schema: Schema, value: &Value) -> Result<(), String> {
    let errors: Vec<String> = validator(schema)
        .iter_errors(value)
        .map(|e| match e.instance_path().as_str() {
            "" => e.to_string(),
            path => format!("{path}: {e}"),
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}
