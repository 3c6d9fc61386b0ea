//! dotenv store: `KEY=VALUE` lines (newlines escaped as `\n`) and `#` comments; the metadata
//! is flattened into `sops_…` keys (`__map_` / `__list_N` separators) as Go sops does.

use super::error::{Result, SopsError};
use super::tree::{ListItem, MapItem, Value};

const PREFIX: &str = "sops_";

/// Parses a dotenv file; `sops_*` keys are gathered back into a `sops` map.
pub fn parse(bytes: &[u8], file: &str) -> Result<Vec<MapItem>> {
    let err = |reason: String| SopsError::Malformed { file: file.to_string(), format: "dotenv", reason };
    let text = std::str::from_utf8(bytes).map_err(|_| err("not UTF-8".into()))?;
    let mut items = vec![];
    let mut sops = Value::Map(vec![]);
    let mut has_sops = false;
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            items.push(MapItem::Comment(c.to_string()));
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(err(format!("line {}: expected KEY=VALUE", n + 1)));
        };
        let v = v.replace("\\n", "\n");
        if let Some(flat) = k.strip_prefix(PREFIX) {
            has_sops = true;
            insert_flat(&mut sops, flat, v).map_err(|e| err(format!("line {}: {e}", n + 1)))?;
        } else {
            items.push(MapItem::Pair(k.to_string(), Value::Str(v)));
        }
    }
    if has_sops {
        items.push(MapItem::Pair("sops".into(), sops));
    }
    Ok(items)
}

enum Seg {
    Key(String),
    Index(usize),
}

fn segments(flat: &str) -> std::result::Result<Vec<Seg>, String> {
    let mut segs = vec![];
    let mut rest = flat;
    let next_sep = |s: &str| {
        let m = s.find("__map_");
        let l = s.find("__list_");
        match (m, l) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    };
    let end = next_sep(rest).unwrap_or(rest.len());
    segs.push(Seg::Key(rest[..end].to_string()));
    rest = &rest[end..];
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("__map_") {
            let end = next_sep(r).unwrap_or(r.len());
            segs.push(Seg::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("__list_") {
            let end = next_sep(r).unwrap_or(r.len());
            segs.push(Seg::Index(r[..end].parse().map_err(|_| "invalid list index in a sops_ key")?));
            rest = &r[end..];
        } else {
            return Err("invalid sops_ key".into());
        }
    }
    Ok(segs)
}

pub(super) fn insert_flat(root: &mut Value, flat: &str, v: String) -> std::result::Result<(), String> {
    let segs = segments(flat)?;
    let mut cur = root;
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let fresh = || {
            if last {
                Value::Null
            } else if matches!(segs[i + 1], Seg::Index(_)) {
                Value::List(vec![])
            } else {
                Value::Map(vec![])
            }
        };
        cur = match (seg, cur) {
            (Seg::Key(k), Value::Map(items)) => {
                let pos = match items.iter().position(|it| matches!(it, MapItem::Pair(kk, _) if kk == k)) {
                    Some(p) => p,
                    None => {
                        items.push(MapItem::Pair(k.clone(), fresh()));
                        items.len() - 1
                    }
                };
                match &mut items[pos] {
                    MapItem::Pair(_, v) => v,
                    MapItem::Comment(_) => return Err("invalid sops_ key".into()),
                }
            }
            (Seg::Index(idx), Value::List(items)) => {
                while items.len() <= *idx {
                    items.push(ListItem::Value(fresh()));
                }
                match &mut items[*idx] {
                    ListItem::Value(v) => v,
                    ListItem::Comment(_) => return Err("invalid sops_ key".into()),
                }
            }
            _ => return Err("inconsistent sops_ keys".into()),
        };
    }
    *cur = Value::Str(v);
    Ok(())
}

pub(super) fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Map(items) => {
            for it in items {
                if let MapItem::Pair(k, v) = it {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}__map_{k}") };
                    flatten(&p, v, out);
                }
            }
        }
        Value::List(items) => {
            for (i, it) in items.iter().enumerate() {
                if let ListItem::Value(v) = it {
                    flatten(&format!("{prefix}__list_{i}"), v, out);
                }
            }
        }
        Value::Null => {}
        Value::Str(s) => out.push((prefix.to_string(), s.clone())),
        Value::Int(i) => out.push((prefix.to_string(), i.to_string())),
        Value::Float(f) => out.push((prefix.to_string(), super::cipher::go_format_float_f(*f))),
        Value::Bool(b) => out.push((prefix.to_string(), b.to_string())),
    }
}

/// Writes a dotenv file (values must be strings; the flattened `sops_` block last).
pub fn emit(items: &[MapItem], sops: Option<&Value>) -> Result<Vec<u8>> {
    let mut out = String::new();
    for it in items {
        match it {
            MapItem::Comment(c) => {
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            MapItem::Pair(k, v) => {
                let s = match v {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    Value::Float(f) => super::cipher::go_format_float_f(*f),
                    Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
                    Value::Null => String::new(),
                    other => {
                        return Err(SopsError::Unsupported(format!(
                            "dotenv cannot hold the {} under `{k}`",
                            other.kind()
                        )));
                    }
                };
                if k.contains('=') || k.contains('\n') {
                    return Err(SopsError::Unsupported(format!("invalid dotenv key `{}`", k.escape_debug())));
                }
                out.push_str(k);
                out.push('=');
                out.push_str(&s.replace('\n', "\\n"));
                out.push('\n');
            }
        }
    }
    if let Some(s) = sops {
        let mut flat = vec![];
        flatten("", s, &mut flat);
        for (k, v) in flat {
            out.push_str(PREFIX);
            out.push_str(&k);
            out.push('=');
            out.push_str(&v.replace('\n', "\\n"));
            out.push('\n');
        }
    }
    Ok(out.into_bytes())
}
