//! JSON store: a top-level object in key order, written like Go sops (`encoding/json`
//! escaping, tab indentation, trailing newline).

use super::cipher::go_format_float_json;
use super::error::{Result, SopsError};
use super::tree::{ListItem, MapItem, Value};

fn from_json(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Array(a) => {
            Value::List(a.into_iter().map(|v| ListItem::Value(from_json(v))).collect())
        }
        serde_json::Value::Object(o) => {
            Value::Map(o.into_iter().map(|(k, v)| MapItem::Pair(k, from_json(v))).collect())
        }
    }
}

/// Parses a JSON document (must be an object).
pub fn parse(bytes: &[u8], file: &str) -> Result<Vec<MapItem>> {
    let err = |reason: String| SopsError::Malformed { file: file.to_string(), format: "JSON", reason };
    // serde_json errors carry only positions and token kinds, not values.
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| err(e.to_string()))?;
    match from_json(v) {
        Value::Map(items) => Ok(items),
        other => Err(err(format!("the top level is a {}, not an object", other.kind()))),
    }
}

fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push('\t');
    }
}

fn value(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&go_format_float_json(*f)),
        Value::Str(s) => push_str(out, s),
        Value::Map(items) => map(
            out,
            items.iter().filter_map(|i| match i {
                MapItem::Pair(k, v) => Some((k.as_str(), v)),
                MapItem::Comment(_) => None,
            }),
            depth,
        ),
        Value::List(items) => {
            let vals: Vec<&Value> = items
                .iter()
                .filter_map(|i| match i {
                    ListItem::Value(v) => Some(v),
                    ListItem::Comment(_) => None,
                })
                .collect();
            if vals.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push_str("[\n");
            for (n, v) in vals.iter().enumerate() {
                indent(out, depth + 1);
                value(out, v, depth + 1);
                out.push_str(if n + 1 < vals.len() { ",\n" } else { "\n" });
            }
            indent(out, depth);
            out.push(']');
        }
    }
}

fn map<'a>(out: &mut String, entries: impl Iterator<Item = (&'a str, &'a Value)>, depth: usize) {
    let entries: Vec<_> = entries.collect();
    if entries.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    for (n, (k, v)) in entries.iter().enumerate() {
        indent(out, depth + 1);
        push_str(out, k);
        out.push_str(": ");
        value(out, v, depth + 1);
        out.push_str(if n + 1 < entries.len() { ",\n" } else { "\n" });
    }
    indent(out, depth);
    out.push('}');
}

/// Writes the document (and the `sops` block last, if given). Comments are dropped (JSON has none).
pub fn emit(items: &[MapItem], sops: Option<&Value>) -> Vec<u8> {
    let mut out = String::new();
    let entries = items
        .iter()
        .filter_map(|i| match i {
            MapItem::Pair(k, v) => Some((k.as_str(), v)),
            MapItem::Comment(_) => None,
        })
        .chain(sops.map(|s| ("sops", s)));
    map(&mut out, entries, 0);
    out.push('\n');
    out.into_bytes()
}
