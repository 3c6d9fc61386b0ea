//! INI store (sops' `ini` format, written like go-ini): every section is a map of string
//! values (AAD `section:key:`), `;`/`#` comments, the metadata flattened in a `[sops]` section.

use super::error::{Result, SopsError};
use super::tree::{MapItem, Value};

const DEFAULT_SECTION: &str = "DEFAULT";

/// Reads one value as go-ini does: `"""…"""` (may span lines), `"…"`, `` `…` ``, or bare text
/// cut at an inline `#`/`;` comment.
fn read_value<'a>(
    raw: &'a str,
    rest: &mut impl Iterator<Item = (usize, &'a str)>,
) -> std::result::Result<String, String> {
    let raw = raw.trim();
    if let Some(body) = raw.strip_prefix("\"\"\"") {
        if let Some(end) = body.find("\"\"\"") {
            return Ok(body[..end].to_string());
        }
        let mut out = body.to_string();
        for (_, line) in rest.by_ref() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            out.push('\n');
            if let Some(end) = line.find("\"\"\"") {
                out.push_str(&line[..end]);
                return Ok(out);
            }
            out.push_str(line);
        }
        return Err("unterminated \"\"\" value".into());
    }
    for q in ['"', '`'] {
        if raw.len() >= 2 && raw.starts_with(q) && raw.ends_with(q) {
            return Ok(raw[1..raw.len() - 1].to_string());
        }
    }
    let cut = raw.find(['#', ';']).unwrap_or(raw.len());
    Ok(raw[..cut].trim().to_string())
}

/// Parses an INI file into one map per section (`sops` holds the metadata, if any).
pub fn parse(bytes: &[u8], file: &str) -> Result<Vec<MapItem>> {
    let err = |reason: String| SopsError::Malformed { file: file.to_string(), format: "INI", reason };
    let text = std::str::from_utf8(bytes).map_err(|_| err("not UTF-8".into()))?;
    let mut sections: Vec<(String, Vec<MapItem>)> = vec![];
    // Consecutive comment lines form one comment (as go-ini's `Comment`); sops drops the
    // first line's `; ` and keeps the others verbatim.
    let mut pending: Vec<String> = vec![];
    let take = |pending: &mut Vec<String>| -> Option<MapItem> {
        if pending.is_empty() {
            return None;
        }
        let text = pending.join("\n");
        pending.clear();
        let first = text.strip_prefix([';', '#']).unwrap_or(&text);
        Some(MapItem::Comment(first.strip_prefix(' ').unwrap_or(first).to_string()))
    };
    let mut lines = text.split('\n').enumerate();
    while let Some((n, line)) = lines.next() {
        let line = line.strip_suffix('\r').unwrap_or(line).trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with([';', '#']) {
            pending.push(line.to_string());
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .ok_or_else(|| err(format!("line {}: unclosed section header", n + 1)))?;
            sections.push((name.trim().to_string(), take(&mut pending).into_iter().collect()));
            continue;
        }
        let pos =
            line.find(['=', ':']).ok_or_else(|| err(format!("line {}: expected key = value", n + 1)))?;
        let key = line[..pos].trim().to_string();
        let value =
            read_value(&line[pos + 1..], &mut lines).map_err(|e| err(format!("line {}: {e}", n + 1)))?;
        if sections.is_empty() {
            sections.push((DEFAULT_SECTION.to_string(), vec![]));
        }
        if let Some((_, items)) = sections.last_mut() {
            // As sops lays the tree out: a key's comment (the lines above it) comes right
            // after the key; only a section's own comment comes first.
            items.push(MapItem::Pair(key, Value::Str(value)));
            items.extend(take(&mut pending));
        }
    }
    // Comments after the last key of the file belong to nothing; go-ini (and so sops)
    // drops them.
    let mut out = vec![];
    for (name, items) in sections {
        if name == "sops" {
            let mut sops = Value::Map(vec![]);
            for item in items {
                if let MapItem::Pair(k, Value::Str(v)) = item {
                    super::dotenv::insert_flat(&mut sops, &k, v.replace("\\n", "\n"))
                        .map_err(|e| err(format!("[sops] {k}: {e}")))?;
                }
            }
            out.push(MapItem::Pair("sops".into(), sops));
        } else {
            out.push(MapItem::Pair(name, Value::Map(items)));
        }
    }
    Ok(out)
}

fn scalar(v: &Value) -> Option<String> {
    Some(match v {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => super::cipher::go_format_float_f(*f),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        Value::Map(_) | Value::List(_) => return None,
    })
}

fn quote(v: &str) -> String {
    if v.contains('\n') {
        format!("\"\"\"{v}\"\"\"")
    } else if v.contains(['#', ';']) || v.starts_with([' ', '"', '`']) || v.ends_with(' ') {
        if v.contains('`') { format!("\"\"\"{v}\"\"\"") } else { format!("`{v}`") }
    } else {
        v.to_string()
    }
}

fn section(out: &mut String, name: &str, items: &[(Option<String>, String, String)], head: Option<&str>) {
    if !out.is_empty() {
        out.push('\n');
    }
    if let Some(c) = head {
        out.push_str("; ");
        out.push_str(c);
        out.push('\n');
    }
    out.push('[');
    out.push_str(name);
    out.push_str("]\n");
    let width = items.iter().map(|(_, k, _)| k.chars().count()).max().unwrap_or(0);
    for (comment, k, v) in items {
        if let Some(c) = comment {
            out.push_str("; ");
            out.push_str(c);
            out.push('\n');
        }
        out.push_str(k);
        out.extend(std::iter::repeat_n(' ', width - k.chars().count()));
        out.push_str(" = ");
        out.push_str(v);
        out.push('\n');
    }
}

/// Writes the sections (and the flattened `[sops]` section last, if given).
pub fn emit(items: &[MapItem], sops: Option<&Value>) -> Result<Vec<u8>> {
    let mut out = String::new();
    for item in items {
        let MapItem::Pair(name, Value::Map(entries)) = item else {
            return Err(SopsError::Unsupported(
                "an INI document holds only sections of key = value pairs".into(),
            ));
        };
        // Read the tree as sops' INI store does: a comment first in the section is the
        // section's comment (above its header); any other comment is the comment of the
        // key before it (written above that key; the last one wins); a comment before any
        // key that is not first is dropped.
        let mut head = None;
        let mut rows: Vec<(Option<String>, String, String)> = vec![];
        for (i, e) in entries.iter().enumerate() {
            match e {
                MapItem::Comment(c) if i == 0 => head = Some(c.as_str()),
                MapItem::Comment(c) => {
                    if let Some(last) = rows.last_mut() {
                        last.0 = Some(c.clone());
                    }
                }
                MapItem::Pair(k, v) => {
                    let s = scalar(v).ok_or_else(|| {
                        SopsError::Unsupported(format!(
                            "INI values must be scalars; `{name}.{k}` is a {}",
                            v.kind()
                        ))
                    })?;
                    rows.push((None, k.clone(), quote(&s)));
                }
            }
        }
        section(&mut out, name, &rows, head);
    }
    if let Some(s) = sops {
        let mut flat = vec![];
        super::dotenv::flatten("", s, &mut flat);
        let rows: Vec<_> = flat.into_iter().map(|(k, v)| (None, k, v.replace('\n', "\\n"))).collect();
        section(&mut out, "sops", &rows, None);
    }
    Ok(out.into_bytes())
}
