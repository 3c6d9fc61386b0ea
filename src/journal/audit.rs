//! The hash-chained audit log: canonical JSON, entry hashes, and chain verification.
//!
//! Every journal record is appended, in the same SQLite transaction as the record itself,
//! to the `audit` table as entry `seq` with
//! `hash = SHA-256(prev_hash || canonical_json({"data": record, "kind": kind, "seq": seq}))`,
//! where `prev_hash` is the 32 raw bytes of the previous entry's hash (32 zero bytes for the
//! first entry). The `chain_head` table holds the last `seq` and hash, updated in the same
//! transaction, so deleting the newest entries is detected too.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// Canonical JSON: object keys sorted (by UTF-8 bytes), no insignificant whitespace,
/// strings escaped as `serde_json` does. Journal records contain no floats (decimals are
/// strings), so number formatting is unambiguous.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        // Scalars: serde_json's own rendering is deterministic.
        other => out.push_str(&other.to_string()),
    }
}

/// The hash of one audit entry.
pub fn entry_hash(prev: &[u8; 32], seq: i64, kind: &str, data_json: &str) -> [u8; 32] {
    // `data_json` is already canonical; embed it verbatim in the canonical envelope
    // (keys "data" < "kind" < "seq" are in sorted order).
    let envelope =
        format!("{{\"data\":{data_json},\"kind\":{},\"seq\":{seq}}}", Value::String(kind.to_owned()));
    let mut h = Sha256::new();
    h.update(prev);
    h.update(envelope.as_bytes());
    h.finalize().into()
}

/// Lower-case hex of a hash.
pub fn to_hex(bytes: &[u8; 32]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(64);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parse a 64-digit hex hash.
pub fn from_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_recursively_and_has_no_spaces() {
        let v: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"z": [3, {"y": "x", "c": null}], "é": "q\"uote"}}"#)
                .expect("test literal is valid JSON");
        assert_eq!(canonical_json(&v), r#"{"a":{"z":[3,{"c":null,"y":"x"}],"é":"q\"uote"},"b":1}"#);
    }

    #[test]
    fn hash_depends_on_every_input() {
        let base = entry_hash(&GENESIS, 1, "fill", "{}");
        assert_ne!(base, entry_hash(&GENESIS, 2, "fill", "{}"));
        assert_ne!(base, entry_hash(&GENESIS, 1, "order", "{}"));
        assert_ne!(base, entry_hash(&GENESIS, 1, "fill", "{\"a\":1}"));
        assert_ne!(base, entry_hash(&[1; 32], 1, "fill", "{}"));
        assert_eq!(from_hex(&to_hex(&base)), Some(base));
        assert_eq!(from_hex("zz"), None);
    }
}
