//! YAML store with comments: a reader built on `saphyr-parser` events plus a comment scanner
//! (comments become items of the enclosing map or list, as in sops), and a writer in the
//! style of Go sops' yaml.v3 output (4-space indent, literal blocks for multi-line strings).

use std::collections::VecDeque;

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::cipher::go_format_float_yaml;
use super::error::{Result, SopsError};
use super::tree::{ListItem, MapItem, Value};

struct Comment {
    index: usize,
    col: usize,
    text: String,
}

enum Frame {
    Map { items: Vec<MapItem>, key: Option<String>, col: usize },
    Seq { items: Vec<ListItem>, col: usize },
}

struct Builder {
    comments: VecDeque<Comment>,
    stack: Vec<Frame>,
    branches: Vec<Vec<MapItem>>,
    line_starts: Vec<usize>,
}

impl Builder {
    fn line_of(&self, index: usize) -> usize {
        match self.line_starts.binary_search(&index) {
            Ok(l) => l,
            Err(l) => l - 1,
        }
    }

    /// Before a new block entry of the list on top: pending comments above its `- ` line that
    /// are indented deeper than the list go to the previous entry if that is a map (as yaml.v3
    /// attaches them), up to the first one that is not.
    fn give_to_previous_entry(&mut self, dash_line: usize) {
        let Some(Frame::Seq { items, col }) = self.stack.last_mut() else { return };
        let Some(ListItem::Value(Value::Map(prev))) = items.last_mut() else { return };
        while let Some(c) = self.comments.front() {
            let line = match self.line_starts.binary_search(&c.index) {
                Ok(l) => l,
                Err(l) => l - 1,
            };
            if line < dash_line && c.col > *col {
                let Some(c) = self.comments.pop_front() else { break };
                prev.push(MapItem::Comment(c.text));
            } else {
                break;
            }
        }
    }

    /// Moves pending comments on lines above line `line` into the top frame.
    fn flush_lines_before(&mut self, line: usize) {
        while let Some(c) = self.comments.front() {
            if self.line_of(c.index) < line {
                let Some(c) = self.comments.pop_front() else { break };
                self.push_comment(c.text);
            } else {
                break;
            }
        }
    }

    /// Moves pending comments that start before `index` (not those later on its line).
    fn flush_strictly_before(&mut self, index: usize) {
        while self.comments.front().is_some_and(|c| c.index < index) {
            let Some(c) = self.comments.pop_front() else { break };
            self.push_comment(c.text);
        }
    }

    /// Takes the pending comments that start at or after `index` on line `line`, in order.
    fn take_on_line_after(&mut self, index: usize, line: usize) -> Vec<String> {
        let mut taken = vec![];
        let mut rest = VecDeque::with_capacity(self.comments.len());
        while let Some(c) = self.comments.pop_front() {
            if c.index >= index && self.line_of(c.index) == line {
                taken.push(c.text);
            } else {
                rest.push_back(c);
            }
        }
        self.comments = rest;
        taken
    }

    /// Moves pending comments that come before `index` (or sit on its line) into the top frame.
    fn flush_before(&mut self, index: usize) {
        let line = self.line_of(index);
        while let Some(c) = self.comments.front() {
            if c.index < index || self.line_of(c.index) == line {
                let Some(c) = self.comments.pop_front() else { break };
                self.push_comment(c.text);
            } else {
                break;
            }
        }
    }

    fn push_comment(&mut self, text: String) {
        match self.stack.last_mut() {
            Some(Frame::Map { items, .. }) => items.push(MapItem::Comment(text)),
            Some(Frame::Seq { items, .. }) => items.push(ListItem::Comment(text)),
            None => match self.branches.last_mut() {
                Some(b) => b.push(MapItem::Comment(text)),
                None => self.branches.push(vec![MapItem::Comment(text)]),
            },
        }
    }

    /// Comments before `end` indented at least `col`: trailing comments of the closing container.
    fn flush_trailing(&mut self, end: usize, col: usize) {
        while let Some(c) = self.comments.front() {
            if c.index < end && c.col >= col {
                let Some(c) = self.comments.pop_front() else { break };
                self.push_comment(c.text);
            } else {
                break;
            }
        }
    }

    fn attach(&mut self, v: Value) -> std::result::Result<(), String> {
        match self.stack.last_mut() {
            None => match v {
                Value::Map(items) => {
                    self.branches.push(items);
                    Ok(())
                }
                Value::Null => {
                    self.branches.push(vec![]);
                    Ok(())
                }
                other => Err(format!("the document is a {}, not a map", other.kind())),
            },
            Some(Frame::Map { items, key, .. }) => match key.take() {
                Some(k) => {
                    items.push(MapItem::Pair(k, v));
                    Ok(())
                }
                None => Err("complex (non-scalar) map keys are not supported".into()),
            },
            Some(Frame::Seq { items, .. }) => {
                items.push(ListItem::Value(v));
                Ok(())
            }
        }
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }
}

fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let b = s.as_bytes();
    let digits = |t: &[u8]| !t.is_empty() && t.iter().all(u8::is_ascii_digit);
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits(unsigned.as_bytes()) {
        return match s.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => s.parse::<f64>().map(Value::Float).unwrap_or_else(|_| Value::Str(s.to_string())),
        };
    }
    if let Some(h) = s.strip_prefix("0x")
        && !h.is_empty()
        && h.bytes().all(|c| c.is_ascii_hexdigit())
        && let Ok(i) = i64::from_str_radix(h, 16)
    {
        return Value::Int(i);
    }
    if let Some(o) = s.strip_prefix("0o")
        && !o.is_empty()
        && let Ok(i) = i64::from_str_radix(o, 8)
    {
        return Value::Int(i);
    }
    // [-+]? ( \.[0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - f;
    }
    if int_digits + frac_digits > 0 && (int_digits > 0 || frac_digits > 0) {
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
                i += 1;
            }
            let e = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == e {
                return Value::Str(s.to_string());
            }
        }
        if i == b.len()
            && let Ok(f) = s.parse::<f64>()
        {
            return Value::Float(f);
        }
    }
    Value::Str(s.to_string())
}

fn scan_comments(src: &[char], covered: &[(usize, usize)]) -> Vec<Comment> {
    let mut out = vec![];
    let mut cov = covered.iter().peekable();
    let mut i = 0;
    let mut col = 0;
    while i < src.len() {
        let c = src[i];
        if c == '\n' {
            col = 0;
            i += 1;
            continue;
        }
        while cov.peek().is_some_and(|(_, e)| *e <= i) {
            cov.next();
        }
        let inside = cov.peek().is_some_and(|(s, e)| *s <= i && i < *e);
        if c == '#' && !inside && (col == 0 || src[i - 1].is_whitespace()) {
            let start = i;
            let mut j = i + 1;
            while j < src.len() && src[j] != '\n' {
                j += 1;
            }
            let mut text: String = src[i + 1..j].iter().collect();
            if text.ends_with('\r') {
                text.pop();
            }
            out.push(Comment { index: start, col, text });
            col += j - i;
            i = j;
            continue;
        }
        col += 1;
        i += 1;
    }
    out
}

/// The index just after the closing quote of the quoted scalar starting at `start`.
fn quoted_end(src: &[char], start: usize) -> Option<usize> {
    let q = *src.get(start)?;
    if q != '"' && q != '\'' {
        return None;
    }
    let mut i = start + 1;
    while i < src.len() {
        match src[i] {
            '\\' if q == '"' => i += 2,
            '\'' if q == '\'' && src.get(i + 1) == Some(&'\'') => i += 2,
            c if c == q => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Whether nothing but closing events follow event `n` up to the end of the file (a following
/// `---` document counts as content: yaml.v3 treats that case like any other).
fn only_closing_after(events: &[(Event<'_>, saphyr_parser::Span)], n: usize) -> bool {
    events.iter().skip(n + 1).all(|(e, _)| {
        matches!(e, Event::MappingEnd | Event::SequenceEnd | Event::DocumentEnd | Event::StreamEnd)
    })
}

/// The index where the collection opened by event `open` closes (its end event's start).
fn matching_end(events: &[(Event<'_>, saphyr_parser::Span)], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (ev, span) in events.get(open..)? {
        match ev {
            Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
            Event::MappingEnd | Event::SequenceEnd => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(span.start.index());
                }
            }
            _ => {}
        }
    }
    None
}

/// The line of the `- ` indicator of the list entry whose block collection starts at `start`:
/// `start`'s own line if a `-` precedes it there, else the nearest line above holding only a
/// `-` (and perhaps a comment), skipping blank and comment lines.
fn dash_line(src: &[char], line_starts: &[usize], start: usize) -> usize {
    let line = match line_starts.binary_search(&start) {
        Ok(l) => l,
        Err(l) => l - 1,
    };
    let text = |l: usize| -> String {
        let from = line_starts[l];
        let to = line_starts.get(l + 1).copied().unwrap_or(src.len()).min(src.len());
        src[from..to].iter().collect()
    };
    if src[line_starts[line]..start].contains(&'-') {
        return line;
    }
    let mut l = line;
    while l > 0 {
        l -= 1;
        let t = text(l);
        let t = t.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        return if t.starts_with('-') { l } else { line };
    }
    line
}

/// Parses a (multi-document) YAML file into one map per document.
pub fn parse(bytes: &[u8], file: &str) -> Result<Vec<Vec<MapItem>>> {
    let err = |reason: String| SopsError::Malformed { file: file.to_string(), format: "YAML", reason };
    let text = std::str::from_utf8(bytes).map_err(|_| err("not UTF-8".into()))?;
    let mut events = vec![];
    for ev in Parser::new_from_str(text) {
        // Scan errors carry a position and a description of the syntax problem, not content.
        let (ev, span) = ev.map_err(|e| err(e.to_string()))?;
        events.push((ev, span));
    }
    let src: Vec<char> = text.chars().collect();
    let mut covered: Vec<(usize, usize)> = events
        .iter()
        .filter_map(|(e, s)| match e {
            // saphyr's span of a quoted scalar runs past the closing quote (over a trailing
            // comment), so find the closing quote in the source.
            Event::Scalar(_, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted, ..) => {
                Some((s.start.index(), quoted_end(&src, s.start.index()).unwrap_or(s.end.index())))
            }
            Event::Scalar(..) => Some((s.start.index(), s.end.index())),
            _ => None,
        })
        .collect();
    covered.sort_unstable();
    let mut line_starts = vec![0];
    for (i, c) in src.iter().enumerate() {
        if *c == '\n' {
            line_starts.push(i + 1);
        }
    }
    let mut b = Builder {
        comments: scan_comments(&src, &covered).into(),
        stack: vec![],
        branches: vec![],
        line_starts,
    };
    // yaml.v3 (and so sops) attaches comments to nodes in ways the placement below follows:
    // - `key: value  # c`: the comment goes before `key` in its map, except when the value is
    //   a flow collection (`key: [1, 2]  # c`): then it is the collection's first entry;
    // - a block collection that is a list entry (`- x: 1`, `- # c` + `  x: 1`): comments on
    //   the `- ` line and below belong to that collection, those above it to the list.
    let flow_at = |i: usize| matches!(src.get(i), Some('[' | '{'));
    for (n, (ev, span)) in events.iter().enumerate() {
        let start = span.start.index();
        match ev {
            Event::Scalar(val, style, _, tag) => {
                if b.expecting_key() {
                    let value_is_flow = matches!(
                        events.get(n + 1),
                        Some((Event::MappingStart(..) | Event::SequenceStart(..), s)) if flow_at(s.start.index())
                    );
                    if value_is_flow {
                        b.flush_strictly_before(start);
                    } else {
                        b.flush_before(start);
                    }
                    if let Some(Frame::Map { key, .. }) = b.stack.last_mut() {
                        *key = Some(val.to_string());
                    }
                    continue;
                }
                if matches!(b.stack.last(), Some(Frame::Seq { .. })) {
                    b.flush_before(start);
                }
                let v = match (style, tag.as_ref().map(|t| t.suffix.as_str())) {
                    (_, Some("str")) => Value::Str(val.to_string()),
                    (_, Some("int" | "float" | "bool" | "null")) => resolve_plain(val),
                    (ScalarStyle::Plain, None) => resolve_plain(val),
                    _ => Value::Str(val.to_string()),
                };
                b.attach(v).map_err(err)?;
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if b.expecting_key() {
                    return Err(err("complex (non-scalar) map keys are not supported".into()));
                }
                let flow = flow_at(start);
                let in_seq = matches!(b.stack.last(), Some(Frame::Seq { .. }));
                if in_seq && flow {
                    b.flush_before(start);
                } else if in_seq {
                    let dash = dash_line(&src, &b.line_starts, start);
                    b.give_to_previous_entry(dash);
                    b.flush_lines_before(dash);
                }
                // `key: [1, 2]  # c`: the comment after the closing bracket is the collection's.
                let leading = if flow && !in_seq {
                    match matching_end(&events, n) {
                        Some(end) => {
                            let end_line = b.line_of(end);
                            b.take_on_line_after(end, end_line)
                        }
                        None => vec![],
                    }
                } else {
                    vec![]
                };
                // A map that is a list entry ends where the list's `- ` column ends (sops/yaml.v3
                // keep comments at that column after the entry inside the entry's map).
                let col = match b.stack.last() {
                    Some(Frame::Seq { col, .. }) if matches!(ev, Event::MappingStart(..)) => *col,
                    // A block list's column is its `- `'s (saphyr starts an indentless list's
                    // span at the first entry's content).
                    _ if matches!(ev, Event::SequenceStart(..)) && !flow => {
                        let line_start = b.line_starts[b.line_of(start)];
                        src.get(line_start..=start)
                            .and_then(|t| t.iter().rposition(|c| *c == '-'))
                            .unwrap_or(span.start.col())
                    }
                    _ => span.start.col(),
                };
                b.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map { items: leading.into_iter().map(MapItem::Comment).collect(), key: None, col }
                } else {
                    Frame::Seq { items: leading.into_iter().map(ListItem::Comment).collect(), col }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let col = match b.stack.last() {
                    Some(Frame::Map { col, .. } | Frame::Seq { col, .. }) => *col,
                    None => return Err(err("unbalanced YAML events".into())),
                };
                // A map that is a list entry followed by another entry keeps only the comments
                // indented deeper than the `- `; one at the `- ` column belongs to the list.
                // At the end of the document, yaml.v3 gives a comment at the `- ` column after
                // a last map entry to the map holding the list, not to the entry.
                let entry_of_list = matches!(ev, Event::MappingEnd)
                    && b.stack.len() >= 2
                    && matches!(b.stack.get(b.stack.len() - 2), Some(Frame::Seq { .. }));
                let last_entry = matches!(events.get(n + 1), Some((Event::SequenceEnd, _)));
                let at_end = only_closing_after(&events, n);
                let deeper_only = entry_of_list && (!last_entry || at_end);
                let list_of_maps_at_end = matches!(ev, Event::SequenceEnd)
                    && at_end
                    && matches!(b.stack.last(), Some(Frame::Seq { items, .. })
                        if matches!(items.last(), Some(ListItem::Value(Value::Map(_)))));
                if !list_of_maps_at_end {
                    b.flush_trailing(start, if deeper_only { col + 1 } else { col });
                }
                let v = match b.stack.pop() {
                    Some(Frame::Map { items, .. }) => Value::Map(items),
                    Some(Frame::Seq { items, .. }) => Value::List(items),
                    None => return Err(err("unbalanced YAML events".into())),
                };
                b.attach(v).map_err(err)?;
            }
            Event::Alias(_) => return Err(err("aliases (*name) are not supported".into())),
            Event::DocumentEnd => {
                let rest: Vec<_> = b.comments.drain(..).collect();
                // Comments after the last value stay with this document unless a new one follows.
                b.comments = rest.into();
                let end = start;
                while b.comments.front().is_some_and(|c| c.index < end) {
                    if let Some(c) = b.comments.pop_front() {
                        b.push_comment(c.text);
                    }
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::Nothing => {}
        }
    }
    while let Some(c) = b.comments.pop_front() {
        b.push_comment(c.text);
    }
    if b.branches.is_empty() {
        b.branches.push(vec![]);
    }
    Ok(b.branches)
}

// ---------------------------------------------------------------- writer

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return true;
    }
    if !matches!(resolve_plain(s), Value::Str(_)) {
        return true;
    }
    const YAML11: [&str; 16] =
        ["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"];
    if YAML11.contains(&s) {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return true;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.contains('\t') {
        return true;
    }
    if s.chars().any(|c| c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}') {
        return true;
    }
    // Numbers in other notations (1_000, 0b1, 012), timestamps and sexagesimals (1:30): other
    // YAML readers may not take them as strings, so quote them.
    let b = s.as_bytes();
    if b[0].is_ascii_digit() || b[0] == b'+' || b[0] == b'-' || b[0] == b'.' {
        let date = b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-';
        let numeric = s.bytes().filter(|&c| c == b'.').count() <= 1
            && s.chars().all(|c| c.is_ascii_hexdigit() || "xXoObB_+-.".contains(c));
        if date || s.contains(':') || numeric {
            return true;
        }
    }
    false
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02X}"));
                } else {
                    out.push_str(&format!("\\u{n:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar_key(k: &str) -> String {
    if needs_quotes(k) { double_quoted(k) } else { k.to_string() }
}

fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n', '\t'])
        && !s.ends_with("\n\n")
        && !s
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}')
}

/// Writes a scalar after `key:` or `- ` (including the leading space).
fn scalar(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Null => out.push_str(" null\n"),
        Value::Bool(b) => out.push_str(if *b { " true\n" } else { " false\n" }),
        Value::Int(i) => {
            out.push(' ');
            out.push_str(&i.to_string());
            out.push('\n');
        }
        Value::Float(f) => {
            out.push(' ');
            out.push_str(&go_format_float_yaml(*f));
            out.push('\n');
        }
        Value::Str(s) if literal_ok(s) => {
            out.push_str(if s.ends_with('\n') { " |\n" } else { " |-\n" });
            for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
                if !line.is_empty() {
                    push_indent(out, indent);
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        Value::Str(s) => {
            out.push(' ');
            if needs_quotes(s) {
                out.push_str(&double_quoted(s));
            } else {
                out.push_str(s);
            }
            out.push('\n');
        }
        Value::Map(_) | Value::List(_) => {}
    }
}

fn push_indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// The indentation of a block nested under a map key at `indent`: the next multiple of 4,
/// as yaml.v3 aligns everything that is not directly inside a `- ` entry.
fn nested(indent: usize) -> usize {
    4 * ((indent + 4) / 4)
}

fn emit_map(out: &mut String, items: &[MapItem], indent: usize) {
    for item in items {
        match item {
            MapItem::Comment(c) => {
                push_indent(out, indent);
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            MapItem::Pair(k, v) => {
                push_indent(out, indent);
                out.push_str(&scalar_key(k));
                out.push(':');
                match v {
                    Value::Map(m) if m.is_empty() => out.push_str(" {}\n"),
                    Value::List(l) if l.is_empty() => out.push_str(" []\n"),
                    Value::Map(m) => {
                        out.push('\n');
                        emit_map(out, m, nested(indent));
                    }
                    Value::List(l) => {
                        out.push('\n');
                        emit_list(out, l, nested(indent));
                    }
                    leaf => scalar(out, leaf, nested(indent)),
                }
            }
        }
    }
}

/// Emits a block collection as a list entry: `- ` followed by its first line.
fn entry_block(out: &mut String, indent: usize, child: String) {
    push_indent(out, indent);
    out.push_str("- ");
    out.push_str(child.get(indent + 2..).unwrap_or(""));
}

fn comment_line(out: &mut String, indent: usize, text: &str) {
    push_indent(out, indent);
    out.push('#');
    out.push_str(text);
    out.push('\n');
}

fn emit_list(out: &mut String, items: &[ListItem], indent: usize) {
    for item in items {
        match item {
            // Go sops writes an encrypted comment inside a list as a list entry.
            ListItem::Comment(c) if super::cipher::is_encrypted(c) => {
                push_indent(out, indent);
                out.push_str("- ");
                out.push_str(c);
                out.push('\n');
            }
            ListItem::Comment(c) => {
                push_indent(out, indent);
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            ListItem::Value(v) => match v {
                Value::Map(m) if m.is_empty() => {
                    push_indent(out, indent);
                    out.push_str("- {}\n");
                }
                Value::List(l) if l.is_empty() => {
                    push_indent(out, indent);
                    out.push_str("- []\n");
                }
                // Like yaml.v3 in sops: comments that open a map or list entry are written
                // above its `- ` (so they are read back as comments of this list).
                Value::Map(m) => {
                    let lead = m.iter().take_while(|i| matches!(i, MapItem::Comment(_))).count();
                    for c in m[..lead].iter().filter_map(|i| match i {
                        MapItem::Comment(c) => Some(c),
                        MapItem::Pair(..) => None,
                    }) {
                        comment_line(out, indent, c);
                    }
                    if lead == m.len() {
                        push_indent(out, indent);
                        out.push_str("- {}\n");
                    } else {
                        let mut child = String::new();
                        emit_map(&mut child, &m[lead..], indent + 2);
                        entry_block(out, indent, child);
                    }
                }
                Value::List(l) => {
                    let lead = l
                        .iter()
                        .take_while(|i| matches!(i, ListItem::Comment(c) if !super::cipher::is_encrypted(c)))
                        .count();
                    for c in l[..lead].iter().filter_map(|i| match i {
                        ListItem::Comment(c) => Some(c),
                        ListItem::Value(_) => None,
                    }) {
                        comment_line(out, indent, c);
                    }
                    if lead == l.len() {
                        push_indent(out, indent);
                        out.push_str("- []\n");
                    } else {
                        let mut child = String::new();
                        emit_list(&mut child, &l[lead..], indent + 2);
                        entry_block(out, indent, child);
                    }
                }
                leaf => {
                    push_indent(out, indent);
                    out.push('-');
                    scalar(out, leaf, nested(indent));
                }
            },
        }
    }
}

/// Writes the documents (each followed by the `sops` block, if given), separated by `---`.
pub fn emit(branches: &[Vec<MapItem>], sops: Option<&Value>) -> Vec<u8> {
    let mut out = String::new();
    for (i, b) in branches.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let mut items = b.clone();
        if let Some(s) = sops {
            items.push(MapItem::Pair("sops".into(), s.clone()));
        }
        if items.is_empty() {
            out.push_str("{}\n");
        } else {
            emit_map(&mut out, &items, 0);
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_placed_like_sops() {
        let src = "# head\na: 1 # one\nq: \"x # no\" # yes\ns: 'it''s # no' # yes2\nb:\n    # inner\n    c: x # inline\n    lit: |\n        # not a comment\n        y\n# before d\nd: [1, 2]\n";
        let doc = parse(src.as_bytes(), "t").unwrap();
        let b = &doc[0];
        assert!(matches!(&b[0], MapItem::Comment(c) if c == " head"));
        let Some(Value::Map(inner)) = super::super::tree::map_get(b, "b") else { panic!("b is not a map") };
        assert!(matches!(&inner[0], MapItem::Comment(c) if c == " inner"));
        assert!(matches!(&inner[1], MapItem::Comment(c) if c == " inline"));
        assert!(
            matches!(&inner[3], MapItem::Pair(k, Value::Str(s)) if k == "lit" && s == "# not a comment\ny\n")
        );
        let top: Vec<&str> = b
            .iter()
            .filter_map(|i| match i {
                MapItem::Comment(c) => Some(c.as_str()),
                MapItem::Pair(..) => None,
            })
            .collect();
        assert_eq!(top, [" head", " one", " yes", " yes2", " before d"]);
        assert!(matches!(&b[4], MapItem::Pair(k, Value::Str(s)) if k == "q" && s == "x # no"));
        assert!(matches!(&b[6], MapItem::Pair(k, Value::Str(s)) if k == "s" && s == "it's # no"));
        let again = parse(&emit(&doc, None), "t").unwrap();
        assert_eq!(again, doc);
    }

    #[test]
    fn plain_scalar_resolution() {
        assert_eq!(resolve_plain("8443"), Value::Int(8443));
        assert_eq!(resolve_plain("1.0e+21"), Value::Float(1e21));
        assert_eq!(resolve_plain("2026-11-22T03:42:52Z"), Value::Str("2026-11-22T03:42:52Z".into()));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert!(needs_quotes("y") && needs_quotes("2026-11-22T03:42:52Z") && needs_quotes("012"));
        assert!(!needs_quotes("ENC[AES256_GCM,data:AA==,iv:x,tag:y,type:str]") && !needs_quotes("3.11.0"));
        assert!(needs_quotes("1_000") && needs_quotes("0b101") && needs_quotes("1:30") && needs_quotes("-"));
    }
}
