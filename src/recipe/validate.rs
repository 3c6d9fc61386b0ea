//! The validation pipeline behind `runner validate`, each pass collecting every problem:
//!
//! 1. read (regular files only, size cap, UTF-8) and YAML syntax (serde-saphyr with a
//!    resource budget);
//! 2. JSON Schema (the generated schema, Draft 2020-12), instance paths mapped to line:col;
//! 3. typed load into [`Recipe`] / [`Fleet`] (serde-saphyr), skipping spots the schema
//!    pass already reported;
//! 4. semantic checks on one recipe (ranges, kind-specific fields, sessions, the replay data
//!    and signal files opened as the run opens them, fill costs);
//! 5. once 1–4 found no error, what the engine builds from the recipe, with the runtime's
//!    build (`runtime::build`), so that what `runner up`/`backtest` refuse at start is refused here;
//! 6. cross-recipe checks (unique agents, one account per agent, credentials, fleet limits).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde_json::Value;

use super::diagnostics::{Diagnostic, Pos, Severity, did_you_mean};
use super::load::{
    Source, SpanMap, escape_pointer, from_str_limited, pointer_to_path, read_source, saphyr_error_parts,
};
use super::model::*;
use super::schema::{SchemaKind, allowed_values, properties_at, schema_for, validator};
use super::types::{ClockTime, Size};
use crate::market::event::MarketEvent;

/// Default fleet file name, looked for at the project root.
pub const FLEET_FILE: &str = "runner.yaml";

/// The result of checking one file.
#[derive(Debug)]
pub struct FileReport {
    /// The file name as shown in diagnostics.
    pub file: String,
    /// Recipe or fleet file.
    pub kind: SchemaKind,
    /// Every problem found, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    /// The typed recipe, when the typed load succeeded.
    pub recipe: Option<Recipe>,
    /// The typed fleet settings, when this is a fleet file and it loaded.
    pub fleet: Option<Fleet>,
    /// JSON pointer → position map of the file.
    pub spans: SpanMap,
    /// The file text (for source lines in diagnostics).
    pub source: Option<Source>,
    /// The file (or directory) could not be read: an I/O problem, exit code 2 at the end.
    pub unreadable: bool,
}

impl FileReport {
    /// Number of notes (informational; they never fail validation).
    pub fn notes(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Note).count()
    }

    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error).count()
    }

    /// Number of warnings.
    pub fn warnings(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Warning).count()
    }

    fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    fn finish(&mut self) {
        if let Some(src) = &self.source {
            for d in &mut self.diagnostics {
                if d.source_line.is_empty() {
                    d.source_line = src.line(d.line).to_string();
                }
            }
        }
        self.diagnostics.sort_by_key(|a| (a.line, a.column));
        self.diagnostics.dedup();
    }
}

/// Check one in-memory file through passes 1–5. `base_dir` is the directory relative
/// paths in the file are resolved against (the file's own directory).
pub fn check_source(src: Source, kind: SchemaKind, base_dir: &Path) -> FileReport {
    let mut rep = FileReport {
        file: src.name.clone(),
        kind,
        diagnostics: Vec::new(),
        recipe: None,
        fleet: None,
        spans: SpanMap::default(),
        source: None,
        unreadable: false,
    };
    let file = src.name.clone();
    if src.text.trim().is_empty()
        || src.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        rep.push(Diagnostic::error(
            &file,
            Pos::START,
            "empty-file",
            "file is empty: a recipe is a YAML mapping",
            Some(match kind {
                SchemaKind::Recipe => "start from recipes/spy-9ma.yaml".into(),
                SchemaKind::Fleet => "a fleet file needs at least `version: 1`".into(),
            }),
        ));
        rep.source = Some(src);
        rep.finish();
        return rep;
    }
    // Pass 1: YAML syntax (bounded).
    let instance: Value = match from_str_limited(&src.text) {
        Ok(v) => v,
        Err(e) => {
            let (pos, msg) = saphyr_error_parts(&e, &src);
            let (pos, msg) = locate_tab(pos, msg, &src);
            let hint = syntax_hint(&msg, &src, pos);
            rep.push(Diagnostic::error(&file, pos, "yaml-syntax", msg, hint));
            rep.source = Some(src);
            rep.finish();
            return rep;
        }
    };
    rep.spans = SpanMap::build(&src.text);
    if let Some(d) = bare_cr_warning(&src) {
        rep.push(d);
    }
    // Explicit tags would otherwise surface as confusing type errors from the later passes.
    if !rep.spans.tags().is_empty() {
        for (pos, tag) in rep.spans.tags().to_vec() {
            rep.push(Diagnostic::error(
                &file,
                Pos { len: tag.chars().count(), ..pos },
                "yaml-tag",
                format!("YAML tag `{tag}` is not supported: recipe values are plain YAML"),
                Some(format!("remove `{tag}`; write the value as a plain string, number, list or mapping")),
            ));
        }
        rep.source = Some(src);
        rep.finish();
        return rep;
    }
    // A retired form: say what to write instead, and nothing else (the schema would only
    // add noise about the keys that moved).
    if kind == SchemaKind::Recipe
        && let Some(d) = retired_redis_provider(&instance, &rep.spans, &file)
    {
        rep.push(d);
        rep.source = Some(src);
        rep.finish();
        return rep;
    }
    // Pass 2: schema.
    let schema_lines = schema_pass(&mut rep, kind, &instance);
    // Pass 3: typed load.
    match kind {
        SchemaKind::Recipe => match from_str_limited::<Recipe>(&src.text) {
            Ok(r) => rep.recipe = Some(r),
            Err(e) => typed_error(&mut rep, &e, &src, &schema_lines),
        },
        SchemaKind::Fleet => match from_str_limited::<Fleet>(&src.text) {
            Ok(f) => rep.fleet = Some(f),
            Err(e) => typed_error(&mut rep, &e, &src, &schema_lines),
        },
    }
    // Pass 4: semantic checks.
    if let Some(r) = rep.recipe.clone() {
        let mut c = Ctx { file: &file, spans: &rep.spans, out: Vec::new() };
        semantic_recipe(&mut c, &r, base_dir);
        let signals =
            check_signal_file(&mut c, &r, &base_dir.join(Path::new(&file).file_name().unwrap_or_default()));
        let clean = rep.errors() == 0 && c.out.iter().all(|d| d.severity != Severity::Error);
        if clean {
            engine_checks(&mut c, &r, base_dir, signals);
        }
        let out = c.out;
        rep.diagnostics.extend(out);
    }
    if let Some(f) = rep.fleet.clone() {
        let mut c = Ctx { file: &file, spans: &rep.spans, out: Vec::new() };
        semantic_fleet(&mut c, &f);
        let out = c.out;
        rep.diagnostics.extend(out);
    }
    rep.source = Some(src);
    rep.finish();
    rep
}

/// A line ended by a bare CR (classic Mac OS line endings): YAML reads it as a line break, so
/// the file parses, but most tools see one long line. Reported once, at the first one.
fn bare_cr_warning(src: &Source) -> Option<Diagnostic> {
    let text = &src.text;
    let at = text.match_indices('\r').map(|(i, _)| i).find(|&i| !text[i + 1..].starts_with('\n'))?;
    let (line, column) = super::load::end_position(&text[..at]);
    Some(Diagnostic::warning(
        &src.name,
        Pos { line, column, len: 1 },
        "cr-line-endings",
        "this line ends with a bare carriage return (CR, classic Mac OS line endings)",
        Some(
            "YAML reads a bare CR as a line break, but git, diff and most editors show such a file as \
             one line: save it with LF (or CRLF) line endings"
                .into(),
        ),
    ))
}

/// The parser may report a tab where it noticed it (e.g. the end of the previous line's
/// scalar) rather than where it is: point at the first tab in a line's indentation from
/// the reported line on (or else the first tab after the reported position).
fn locate_tab(pos: Pos, msg: String, src: &Source) -> (Pos, String) {
    let lower = msg.to_ascii_lowercase();
    if !lower.split(|c: char| !c.is_ascii_alphabetic()).any(|w| w == "tab" || w == "tabs") {
        return (pos, msg);
    }
    let lines = || src.lines().enumerate().skip(pos.line.saturating_sub(1));
    let indent_tab = lines().find_map(|(i, l)| {
        let lead = l.len() - l.trim_start_matches([' ', '\t']).len();
        l[..lead].chars().position(|c| c == '\t').map(|col| (i, col))
    });
    if let Some((i, col)) = indent_tab {
        let at = Pos { line: i + 1, column: col + 1, len: 1 };
        return (at, "a tab in the indentation: YAML indents with spaces only".into());
    }
    let any_tab = lines().find_map(|(i, l)| {
        let from = if i + 1 == pos.line { pos.column.saturating_sub(1) } else { 0 };
        l.chars().enumerate().skip(from).find(|&(_, c)| c == '\t').map(|(col, _)| (i, col))
    });
    match any_tab {
        Some((i, col)) => (Pos { line: i + 1, column: col + 1, len: 1 }, msg),
        None => (pos, msg),
    }
}

fn syntax_hint(msg: &str, src: &Source, pos: Pos) -> Option<String> {
    let line = src.line(pos.line);
    let m = msg.to_ascii_lowercase();
    if msg == super::load::SECOND_DOCUMENT {
        Some("remove this `---` and everything after it, or move the second document to its own file".into())
    } else if line.trim_start_matches(' ').starts_with('\t') || m.contains("tabs") {
        Some("YAML indentation must use spaces, not tabs".into())
    } else if m.contains("duplicate") {
        Some("each key may appear once per mapping; remove one of them".into())
    } else if m.contains("budget") || m.contains("depth") || m.contains("alias") || m.contains("limit") {
        Some("recipes are small, flat YAML files; this input exceeds the parser's safety limits".into())
    } else {
        None
    }
}

/// Report a typed-load error unless the schema pass already reported the same spot.
fn typed_error(rep: &mut FileReport, e: &serde_saphyr::Error, src: &Source, schema_lines: &[usize]) {
    let (mut pos, msg) = saphyr_error_parts(e, src);
    if let Some(p) = rep.spans.value_starting_at(pos.line, pos.column) {
        pos = p;
    }
    if !schema_lines.is_empty()
        && (schema_lines.contains(&pos.line) || msg.contains("missing field") || msg.contains("untagged"))
    {
        return;
    }
    if (msg.contains("unknown field") || msg.contains("unknown variant")) && !schema_lines.is_empty() {
        return;
    }
    rep.push(Diagnostic::error(&rep.file.clone(), pos, "invalid-value", msg, None));
}

/// Pass 2: validate against the schema. Returns the lines that got a diagnostic.
fn schema_pass(rep: &mut FileReport, kind: SchemaKind, instance: &Value) -> Vec<usize> {
    let root = schema_for(kind);
    let file = rep.file.clone();
    let new = schema_errors(validator(kind), root, instance, instance, "", &rep.spans, &file, 0);
    let mut lines = Vec::new();
    for d in new {
        lines.push(d.line);
        rep.push(d);
    }
    lines
}

/// When a mapping matches none of several alternatives (e.g. `hours` as a name or a
/// `{start, end}` window), validate it against the mapping alternative alone so the
/// problem inside it is reported precisely.
fn object_branch_errors(
    root: &Value,
    full: &Value,
    ptr: &str,
    spans: &SpanMap,
    file: &str,
    depth: u8,
) -> Option<Vec<Diagnostic>> {
    let sub_instance = instance_at(full, ptr).filter(|v| v.is_object())?;
    let branch = super::schema::schema_at(root, ptr).filter(|b| b.get("properties").is_some())?;
    if depth > 2 {
        return None;
    }
    let mut schema = branch.clone();
    if let (Some(obj), Some(defs)) = (schema.as_object_mut(), root.get("$defs")) {
        obj.insert("$defs".into(), defs.clone());
    }
    let v = jsonschema::draft202012::new(&schema).ok()?;
    let out = schema_errors(&v, root, sub_instance, full, ptr, spans, file, depth + 1);
    (!out.is_empty()).then_some(out)
}

/// Map validator errors on `sub` (found at `prefix` in `full`) to diagnostics.
#[allow(clippy::too_many_arguments)]
fn schema_errors(
    validator: &jsonschema::Validator,
    root: &Value,
    sub: &Value,
    full: &Value,
    prefix: &str,
    spans: &SpanMap,
    file: &str,
    depth: u8,
) -> Vec<Diagnostic> {
    let file = file.to_string();
    let instance = full;
    let mut new = Vec::new();
    for err in validator.iter_errors(sub) {
        let ptr = format!("{prefix}{}", err.instance_path().as_str());
        let field = pointer_to_path(&ptr);
        use jsonschema::error::ValidationErrorKind as K;
        if matches!(err.kind(), K::OneOfNotValid { .. } | K::AnyOf { .. })
            && let Some(found) = object_branch_errors(root, full, &ptr, spans, &file, depth)
        {
            new.extend(found);
            continue;
        }
        match err.kind() {
            K::AdditionalProperties { unexpected } => {
                let known = properties_at(root, &ptr);
                for key in unexpected {
                    let kp = format!("{ptr}/{}", super::load::escape_pointer(key));
                    let pos = spans.key_or_parent(&kp);
                    let hint = match did_you_mean(key, known.iter().map(String::as_str)) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("known fields here: {}", known.join(", ")),
                    };
                    let place = if ptr.is_empty() { String::new() } else { format!(" in `{field}`") };
                    new.push(Diagnostic::error(
                        &file,
                        pos,
                        "unknown-field",
                        format!("unknown field `{key}`{place}"),
                        Some(hint),
                    ));
                }
            }
            K::Required { property } => {
                let name = property.as_str().unwrap_or("?");
                let pos = spans.key_or_parent(&ptr);
                let place = if ptr.is_empty() { String::new() } else { format!(" in `{field}`") };
                let desc = super::schema::description_at(root, &format!("{ptr}/{name}"));
                new.push(Diagnostic::error(
                    &file,
                    pos,
                    "missing-field",
                    format!("missing required field `{name}`{place}"),
                    desc.map(|d| format!("`{name}`: {d}")),
                ));
            }
            K::Enum { .. } | K::OneOfNotValid { .. } | K::AnyOf { .. } | K::Constant { .. }
                if !allowed_values(root, &ptr).is_empty()
                    && instance_at(instance, &ptr).is_some_and(Value::is_string) =>
            {
                let vals = allowed_values(root, &ptr);
                let got = instance_at(instance, &ptr).and_then(Value::as_str).unwrap_or("");
                let pos = spans.value_or_parent(&ptr);
                let list = vals.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ");
                let hint = match did_you_mean(got, vals.iter().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`? known values: {list}"),
                    None => format!("known values: {list}"),
                };
                let code = if ptr.ends_with("/kind") { "unknown-kind" } else { "unknown-value" };
                new.push(Diagnostic::error(&file, pos, code, format!("unknown {field} `{got}`"), Some(hint)));
            }
            K::Type { kind: tk } => {
                let pos = spans.value_or_parent(&ptr);
                let got = instance_at(instance, &ptr).map_or("nothing", json_type);
                let desc = super::schema::description_at(root, &ptr);
                new.push(Diagnostic::error(
                    &file,
                    pos,
                    "wrong-type",
                    format!("`{field}` must be {}, found {got}", type_words(&format!("{tk:?}"))),
                    desc,
                ));
            }
            K::Pattern { .. } | K::OneOfNotValid { .. } | K::AnyOf { .. } => {
                let pos = spans.value_or_parent(&ptr);
                let shown = instance_at(instance, &ptr).map(short_value).unwrap_or_default();
                let vals = allowed_values(root, &ptr);
                let desc = if vals.is_empty() {
                    super::schema::type_description_at(root, &ptr)
                } else {
                    Some(format!(
                        "known values: {}",
                        vals.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                    ))
                };
                let message = if shown.is_empty() {
                    format!("`{field}` is empty")
                } else {
                    format!("`{shown}` is not a valid `{field}`")
                };
                new.push(Diagnostic::error(&file, pos, "invalid-value", message, desc));
            }
            K::Maximum { limit } | K::Minimum { limit } => {
                let pos = spans.value_or_parent(&ptr);
                let shown = instance_at(instance, &ptr).map(short_value).unwrap_or_default();
                let bound = if matches!(err.kind(), K::Maximum { .. }) { "at most" } else { "at least" };
                let desc = super::schema::description_at(root, &ptr);
                new.push(Diagnostic::error(
                    &file,
                    pos,
                    "out-of-range",
                    format!("`{field}` must be {bound} {limit}, found {shown}"),
                    desc,
                ));
            }
            _ => {
                // Anything else: the validator's own words, without the echoed value.
                let pos = spans.value_or_parent(&ptr);
                let echoed = instance_at(instance, &ptr).map(|v| format!("{v} ")).unwrap_or_default();
                let text = err.to_string();
                let why = text.strip_prefix(&echoed).unwrap_or(&text).to_string();
                new.push(Diagnostic::error(&file, pos, "schema", format!("`{field}`: {why}"), None));
            }
        }
    }
    new
}

fn instance_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a Value> {
    v.pointer(ptr)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn type_words(debug: &str) -> String {
    let d = debug.to_ascii_lowercase();
    let mut words = Vec::new();
    for (k, w) in [
        ("object", "a mapping"),
        ("array", "a list"),
        ("string", "a string"),
        ("integer", "a whole number"),
        ("number", "a number"),
        ("boolean", "true or false"),
    ] {
        if d.contains(k) && !(k == "number" && words.contains(&"a whole number") && !d.contains("number,")) {
            words.push(w);
        }
    }
    if words.is_empty() { "a different type".into() } else { words.join(" or ") }
}

fn short_value(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 40 { format!("{}…", s.chars().take(40).collect::<String>()) } else { s }
}

/// Collects semantic diagnostics with positions looked up by JSON pointer.
struct Ctx<'a> {
    file: &'a str,
    spans: &'a SpanMap,
    out: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn err(&mut self, ptr: &str, code: &'static str, msg: impl Into<String>, hint: Option<String>) {
        let pos = self.spans.value_or_parent(ptr);
        self.out.push(Diagnostic::error(self.file, pos, code, msg, hint));
    }
    fn err_key(&mut self, ptr: &str, code: &'static str, msg: impl Into<String>, hint: Option<String>) {
        let pos = self.spans.key_or_parent(ptr);
        self.out.push(Diagnostic::error(self.file, pos, code, msg, hint));
    }
    fn warn(&mut self, ptr: &str, code: &'static str, msg: impl Into<String>, hint: Option<String>) {
        let pos = self.spans.value_or_parent(ptr);
        self.out.push(Diagnostic::warning(self.file, pos, code, msg, hint));
    }
    /// `field` is set but only allowed with `allowed` (`what` names the kind in use).
    fn only_with(&mut self, ptr: &str, set: bool, allowed: &str, what: &str) {
        if set {
            let name = pointer_to_path(ptr);
            self.err_key(
                ptr,
                "field-not-allowed",
                format!("`{name}` is only allowed with {allowed}, not with {what}"),
                Some(format!("remove `{}`", ptr.rsplit('/').next().unwrap_or(""))),
            );
        }
    }
    fn require(&mut self, parent: &str, name: &str, set: bool, why: &str) {
        if !set {
            let pos = self.spans.key_or_parent(parent);
            self.out.push(Diagnostic::error(
                self.file,
                pos,
                "missing-field",
                format!("missing `{}.{name}`: {why}", pointer_to_path(parent)),
                None,
            ));
        }
    }
}

use super::kind_name as kebab;

/// NYSE hours: (start, end) of the named window.
fn named_window(cal: CalendarKind, h: NamedHours) -> (u32, u32) {
    match (cal, h) {
        (CalendarKind::AllDay, _) => (0, 24 * 60),
        (CalendarKind::Nyse, NamedHours::Regular) => (9 * 60 + 30, 16 * 60),
        (CalendarKind::Nyse, NamedHours::Extended) => (4 * 60, 20 * 60),
    }
}

fn minutes(t: ClockTime) -> u32 {
    use chrono::Timelike;
    t.0.hour() * 60 + t.0.minute()
}

fn fmt_min(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// `endpoints.rest` must be an `http(s)://` URL and `endpoints.stream` a `ws(s)://` one.
fn check_endpoints(c: &mut Ctx<'_>, ptr: &str, endpoints: Option<&Endpoints>) {
    let Some(e) = endpoints else { return };
    for (key, url, schemes) in [("rest", &e.rest, ["http", "https"]), ("stream", &e.stream, ["ws", "wss"])] {
        let Some(url) = url else { continue };
        let ok = reqwest::Url::parse(url).is_ok_and(|u| schemes.contains(&u.scheme()) && u.host().is_some());
        if !ok {
            c.err(
                &format!("{ptr}/{key}"),
                "invalid-value",
                format!("`{key}` is not a {}:// or {}:// URL", schemes[0], schemes[1]),
                Some(match key {
                    "rest" => "e.g. `http://127.0.0.1:8080`".into(),
                    _ => "e.g. `ws://127.0.0.1:8080/stream`".into(),
                }),
            );
        }
    }
}

/// `provider.kind: redis-signals` (before signals moved to `algorithm.signals`): the error
/// names what to write instead, with the recipe's own values.
fn retired_redis_provider(v: &Value, spans: &SpanMap, file: &str) -> Option<Diagnostic> {
    let p = v.get("provider")?;
    if p.get("kind")?.as_str()? != "redis-signals" {
        return None;
    }
    let text = |key: &str| p.get(key).and_then(Value::as_str).filter(|s| s.len() <= 200);
    // A URL with credentials in it is not repeated.
    let url = text("url").filter(|u| !u.contains('@')).unwrap_or("redis://127.0.0.1:6379/0");
    let stream = text("stream").unwrap_or("STREAM");
    let field = |key: &str, default: &str| {
        p.get("fields")
            .and_then(|f| f.get(key))
            .and_then(Value::as_str)
            .filter(|s| s.len() <= 100)
            .unwrap_or(default)
            .to_owned()
    };
    let mut fields = format!(
        "ticker: {}, direction: {}, buy: {}, sell: {}",
        field("ticker", "Ticker"),
        field("direction", "Direction"),
        field("buy", "b"),
        field("sell", "s")
    );
    if let Some(s) = p.get("fields").and_then(|f| f.get("strength")).and_then(Value::as_str) {
        fields.push_str(&format!(", strength: {s}"));
    }
    Some(Diagnostic::error(
        file,
        spans.value_or_parent("/provider/kind"),
        "retired",
        "`provider.kind: redis-signals` is gone: signals are the external-signal algorithm's input, and `provider` is the price feed",
        Some(format!(
            "move the stream to `algorithm.signals: {{source: redis, url: {url}, stream: {stream}, fields: {{{fields}}}}}` and make `provider` the prices orders are made at (e.g. `provider: {{kind: alpaca, feed: iex, credentials: …}}`, or `kind: replay` with recorded data); docs/signals.md"
        )),
    ))
}

/// `algorithm.signals`: only for external-signal; each source with its own keys.
fn check_signals(c: &mut Ctx<'_>, r: &Recipe) {
    let a = &r.algorithm;
    let is_ext = a.kind == AlgorithmKind::ExternalSignal;
    let Some(sig) = a.signals.as_ref() else {
        if is_ext && r.provider.kind != ProviderKind::Replay {
            c.err(
                "/algorithm/kind",
                "missing-field",
                format!(
                    "external-signal on the {} provider needs `algorithm.signals` (a recorded signals file is only for replay)",
                    kebab(&r.provider.kind)
                ),
                Some("add `signals: {source: redis, url: …, stream: …, fields: {ticker: …, direction: …}}` or `{source: socket, path: …}` (docs/signals.md)".into()),
            );
        }
        return;
    };
    if !is_ext {
        c.err_key(
            "/algorithm/signals",
            "field-not-allowed",
            format!("`algorithm.signals` is only allowed with external-signal, not with {}", kebab(&a.kind)),
            Some("remove `signals`".into()),
        );
        return;
    }
    let sk = kebab(&sig.source);
    let what = format!("`source: {sk}`");
    let redis = sig.source == SignalSourceKind::Redis;
    let socket = sig.source == SignalSourceKind::Socket;
    let file = sig.source == SignalSourceKind::File;
    for (key, set) in [
        ("url", sig.url.is_some()),
        ("stream", sig.stream.is_some()),
        ("group", sig.group.is_some()),
        ("fields", sig.fields.is_some()),
        ("credentials", sig.credentials.is_some()),
    ] {
        c.only_with(&format!("/algorithm/signals/{key}"), !redis && set, "`source: redis`", &what);
    }
    c.only_with("/algorithm/signals/path", redis && sig.path.is_some(), "`source: socket` or `file`", &what);
    c.only_with(
        "/algorithm/signals/max_signal_age",
        file && sig.max_signal_age.is_some(),
        "`source: redis` or `socket`",
        &what,
    );
    if redis {
        c.require(
            "/algorithm/signals",
            "url",
            sig.url.is_some(),
            "the Redis server, e.g. redis://127.0.0.1:6379/0",
        );
        c.require("/algorithm/signals", "stream", sig.stream.is_some(), "the stream key, e.g. nvda");
        c.require(
            "/algorithm/signals",
            "fields",
            sig.fields.is_some(),
            "which entry fields carry the ticker and the direction",
        );
        if let Some(u) = &sig.url {
            check_redis_url(c, u);
        }
        if let Some(f) = &sig.fields
            && f.buy == f.sell
        {
            c.err(
                "/algorithm/signals/fields/sell",
                "invalid-value",
                "`algorithm.signals.fields.buy` and `sell` must differ",
                None,
            );
        }
        if let Some(n) = &sig.credentials
            && !valid_secret_name(n)
        {
            c.err(
                "/algorithm/signals/credentials",
                "invalid-value",
                format!("`{n}` is not a secret name"),
                Some("use letters, digits, `-`, `_` or `.`; it names secrets/NAME.sops.yaml".into()),
            );
        }
        for (key, v) in [("stream", &sig.stream), ("group", &sig.group)] {
            if let Some(v) = v
                && (v.is_empty() || v.len() > 200 || v.chars().any(char::is_control))
            {
                c.err(
                    &format!("/algorithm/signals/{key}"),
                    "invalid-value",
                    format!("`algorithm.signals.{key}` must be 1–200 printable characters"),
                    None,
                );
            }
        }
    }
    if socket {
        c.require("/algorithm/signals", "path", sig.path.is_some(), "where the unix socket is created");
        if let Some(p) = &sig.path
            && p.as_os_str().len() > 100
        {
            c.err(
                "/algorithm/signals/path",
                "invalid-value",
                "a unix socket path must be shorter than 100 bytes",
                Some("use a shorter path, e.g. /tmp/runner-spy.sock".into()),
            );
        }
    }
    if file && r.provider.kind != ProviderKind::Replay {
        c.err(
            "/algorithm/signals/source",
            "unsupported",
            format!(
                "a signals file replays recorded signals: it needs the replay provider, not {}",
                kebab(&r.provider.kind)
            ),
            Some("use `source: redis` or `source: socket` with live prices".into()),
        );
    }
}

/// A Redis URL: `redis://` or `rediss://`, with a host, and no password in it.
fn check_redis_url(c: &mut Ctx<'_>, u: &str) {
    let ptr = "/algorithm/signals/url";
    let Some(rest) = u.strip_prefix("redis://").or_else(|| u.strip_prefix("rediss://")) else {
        c.err(
            ptr,
            "invalid-value",
            "`algorithm.signals.url` is not a redis:// or rediss:// URL",
            Some("e.g. `redis://127.0.0.1:6379/0`".into()),
        );
        return;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && userinfo.contains(':')
    {
        // Never echo the URL: it holds a password.
        c.err(
            ptr,
            "secret-in-recipe",
            "`algorithm.signals.url` holds a password: a recipe never carries one",
            Some("put the password in a secret (`runner secrets set NAME password`) and name it in `algorithm.signals.credentials`".into()),
        );
    } else if authority.is_empty() {
        c.err(
            ptr,
            "invalid-value",
            "`algorithm.signals.url` has no host",
            Some("e.g. `redis://127.0.0.1:6379/0`".into()),
        );
    }
}

fn semantic_recipe(c: &mut Ctx<'_>, r: &Recipe, base_dir: &Path) {
    let hundred = Decimal::ONE;
    // Provider.
    let p = &r.provider;
    let pk = kebab(&p.kind);
    let is_replay = p.kind == ProviderKind::Replay;
    let mut first_event = None;
    c.only_with("/provider/path", !is_replay && p.path.is_some(), "the replay provider", &format!("`{pk}`"));
    c.only_with(
        "/provider/all_prints",
        !is_replay && p.all_prints,
        "the replay provider",
        &format!("`{pk}`"),
    );
    c.only_with(
        "/provider/symbols",
        !is_replay && p.symbols.is_some(),
        "the replay provider",
        &format!("`{pk}`"),
    );
    c.only_with(
        "/session/flatten_before_gap",
        !is_replay && r.session.flatten_before_gap,
        "the replay provider (recorded data, where the gap is known ahead)",
        &format!("`{pk}`"),
    );
    c.only_with(
        "/provider/speed",
        !is_replay && p.speed.is_some(),
        "the replay provider",
        &format!("`{pk}`"),
    );
    c.only_with(
        "/provider/feed",
        p.kind != ProviderKind::Alpaca && p.feed.is_some(),
        "the alpaca provider",
        &format!("`{pk}`"),
    );
    if is_replay {
        c.require(
            "/provider",
            "path",
            p.path.is_some(),
            "the replay provider needs a CSV/CSV.gz file, glob or directory",
        );
        first_event = p
            .path
            .as_ref()
            .and_then(|path| check_replay_data(c, base_dir, "/provider/path", path, p.all_prints));
        for (sym, path) in p.symbols.iter().flatten() {
            let ptr = format!("/provider/symbols/{}", escape_pointer(sym));
            check_replay_data(c, base_dir, &ptr, path, p.all_prints);
        }
    }
    if let Some(feed) = &p.feed
        && !["iex", "sip"].contains(&feed.as_str())
    {
        c.err(
            "/provider/feed",
            "unknown-value",
            format!("unknown alpaca feed `{feed}`"),
            Some("use `iex` or `sip`".into()),
        );
    }
    c.only_with("/provider/endpoints", is_replay && p.endpoints.is_some(), "live providers", "`replay`");
    check_endpoints(c, "/provider/endpoints", p.endpoints.as_ref());
    match p.kind {
        ProviderKind::Replay => {
            c.only_with("/provider/credentials", p.credentials.is_some(), "live providers", "`replay`")
        }
        ProviderKind::Alpaca | ProviderKind::Polygon => c.require(
            "/provider",
            "credentials",
            p.credentials.is_some(),
            &format!("the {pk} provider needs API keys (a secret name)"),
        ),
        _ => {}
    }
    // Broker.
    let b = &r.broker;
    let bk = kebab(&b.kind);
    if b.kind == BrokerKind::Paper {
        if b.credentials.is_some() {
            c.err_key(
                "/broker/credentials",
                "credentials-refused",
                "the paper broker takes no credentials",
                Some("remove `credentials`; paper trading is simulated locally".into()),
            );
        }
        c.require(
            "/broker",
            "starting_equity",
            b.starting_equity.is_some(),
            "the paper broker needs the simulated account's starting equity",
        );
        c.only_with(
            "/broker/environment",
            b.environment != Environment::Paper,
            "live brokers",
            "`paper` (it is simulated: there is no live environment)",
        );
        c.only_with("/broker/endpoints", b.endpoints.is_some(), "live brokers", "`paper`");
    } else {
        if b.credentials.is_none() {
            let pos = c.spans.key_or_parent("/broker");
            c.out.push(Diagnostic::error(
                c.file,
                pos,
                "credentials-required",
                format!("the {bk} broker needs `credentials`"),
                Some(
                    "add `credentials: NAME` naming secrets/NAME.sops.yaml (create it with `runner secrets`)"
                        .to_string(),
                ),
            ));
        }
        c.only_with(
            "/broker/starting_equity",
            b.starting_equity.is_some(),
            "the paper broker",
            &format!("`{bk}`"),
        );
        c.only_with(
            "/broker/slippage_ticks",
            b.slippage_ticks.is_some(),
            "the paper broker",
            &format!("`{bk}`"),
        );
    }
    check_endpoints(c, "/broker/endpoints", b.endpoints.as_ref());
    if b.kind != BrokerKind::Paper && is_replay {
        c.err_key(
            "/broker/kind",
            "replay-with-live-broker",
            format!("the {bk} broker trades a real account, on live prices; `provider.kind: replay` replays recorded ones"),
            Some("use a live provider (e.g. `provider.kind: alpaca`), or `broker.kind: paper` to trade the recording".into()),
        );
    }
    if let Some(m) = b.starting_equity
        && m.value() <= Decimal::ZERO
    {
        c.err(
            "/broker/starting_equity",
            "out-of-range",
            "`broker.starting_equity` must be more than 0",
            None,
        );
    }
    for (f, v) in [
        ("commission_per_share", b.commission_per_share),
        ("commission_per_contract", b.commission_per_contract),
        ("commission_per_order", b.commission_per_order),
    ] {
        if v.is_some_and(|m| m.value() < Decimal::ZERO) {
            c.err(
                &format!("/broker/{f}"),
                "out-of-range",
                format!("`broker.{f}` must not be negative"),
                None,
            );
        }
    }
    for (ptr, name) in [("/broker/credentials", &b.credentials), ("/provider/credentials", &p.credentials)] {
        if let Some(n) = name
            && !valid_secret_name(n)
        {
            c.err(
                ptr,
                "invalid-value",
                format!("`{n}` is not a secret name"),
                Some("use letters, digits, `-`, `_` or `.`; it names secrets/NAME.sops.yaml".into()),
            );
        }
    }
    // Instrument.
    let i = &r.instrument;
    let ik = kebab(&i.kind);
    let is_opt = i.kind == InstrumentKind::Option;
    let what = format!("`{ik}` instruments");
    c.only_with("/instrument/expiry", !is_opt && i.expiry.is_some(), "options", &what);
    c.only_with("/instrument/strike", !is_opt && i.strike.is_some(), "options", &what);
    c.only_with("/instrument/allow_writing", !is_opt && i.allow_writing, "options", &what);
    c.only_with("/instrument/implied_vol", !is_opt && i.implied_vol.is_some(), "options", &what);
    c.only_with("/instrument/rate", !is_opt && i.rate.is_some(), "options", &what);
    c.only_with(
        "/instrument/quantity_increment",
        i.kind != InstrumentKind::Crypto && i.quantity_increment.is_some(),
        "crypto",
        &what,
    );
    c.only_with("/risk/max_contracts", !is_opt && r.risk.max_contracts.is_some(), "options", &what);
    c.only_with(
        "/broker/commission_per_contract",
        !is_opt && b.commission_per_contract.is_some(),
        "options",
        &what,
    );
    c.only_with(
        "/risk/max_shares",
        i.kind != InstrumentKind::Equity && r.risk.max_shares.is_some(),
        "equities",
        &what,
    );
    if is_opt {
        c.require(
            "/instrument",
            "expiry",
            i.expiry.is_some(),
            "options need an expiry window (min_days, max_days)",
        );
        c.require(
            "/instrument",
            "strike",
            i.strike.is_some(),
            "options need a strike choice (atm, itm:N, otm:N, delta:D)",
        );
    }
    if let Some(e) = &i.expiry
        && e.min_days > e.max_days
    {
        c.err(
            "/instrument/expiry/min_days",
            "invalid-range",
            format!("`instrument.expiry.min_days` ({}) is more than `max_days` ({})", e.min_days, e.max_days),
            Some("min_days must be less than or equal to max_days".into()),
        );
    }
    let max_vol = Decimal::try_from(crate::options::chain::MAX_IMPLIED_VOL).unwrap_or(Decimal::ONE);
    if i.implied_vol.is_some_and(|v| v.fraction() <= Decimal::ZERO || v.fraction() >= max_vol) {
        c.err(
            "/instrument/implied_vol",
            "out-of-range",
            format!(
                "`instrument.implied_vol` must be more than 0% and less than {}%",
                max_vol * Decimal::ONE_HUNDRED
            ),
            None,
        );
    }
    if i.rate.is_some_and(|v| !(-0.1..=0.5).contains(&v)) {
        c.err(
            "/instrument/rate",
            "out-of-range",
            "`instrument.rate` must be between -0.1 and 0.5 (a fraction: 0.001 is 0.1 %)",
            None,
        );
    }
    let u = i.underlying.trim();
    if u.is_empty() || u.chars().any(|ch| ch.is_whitespace() || ch.is_ascii_lowercase()) {
        c.err(
            "/instrument/underlying",
            "invalid-value",
            format!("`{u}` is not a symbol"),
            Some("write symbols in upper case, e.g. SPY or BTC-USD".into()),
        );
    } else if i.kind == InstrumentKind::Crypto && !u.contains('-') {
        c.err(
            "/instrument/underlying",
            "invalid-value",
            format!("`{u}` is not a crypto pair"),
            Some("write a pair such as BTC-USD".into()),
        );
    }
    if b.kind == BrokerKind::Coinbase && i.kind != InstrumentKind::Crypto {
        c.err(
            "/instrument/kind",
            "unsupported",
            format!("the coinbase broker trades crypto only, not {ik}"),
            None,
        );
    }
    if p.kind == ProviderKind::Coinbase && i.kind != InstrumentKind::Crypto {
        c.err(
            "/instrument/kind",
            "unsupported",
            format!("the coinbase provider has crypto data only, not {ik}"),
            None,
        );
    }
    if b.kind == BrokerKind::Schwab && i.kind == InstrumentKind::Crypto {
        c.err("/broker/kind", "unsupported", "the schwab broker does not trade crypto", None);
    }
    // Algorithm.
    let a = &r.algorithm;
    let ak = kebab(&a.kind);
    let what = format!("`{ak}`");
    let is_mac = a.kind == AlgorithmKind::MaCrossBreakout;
    let is_cor = a.kind == AlgorithmKind::Correlation;
    c.only_with(
        "/algorithm/ma_period",
        !is_mac && a.kind != AlgorithmKind::TargetPosition && a.ma_period.is_some(),
        "ma-cross-breakout and target-position",
        &what,
    );
    c.only_with(
        "/algorithm/breakout_lookback",
        !is_mac && a.breakout_lookback.is_some(),
        "ma-cross-breakout",
        &what,
    );
    c.only_with("/algorithm/breakout_mode", !is_mac && a.breakout_mode.is_some(), "ma-cross-breakout", &what);
    c.only_with("/algorithm/primary", !is_cor && a.primary.is_some(), "correlation", &what);
    c.only_with("/provider/symbols", !is_cor && p.symbols.is_some(), "the correlation algorithm", &what);
    c.only_with("/algorithm/correlated", !is_cor && a.correlated.is_some(), "correlation", &what);
    c.only_with("/algorithm/swing_lookback", !is_cor && a.swing_lookback.is_some(), "correlation", &what);
    c.only_with("/algorithm/fractal_lookback", !is_cor && a.fractal_lookback.is_some(), "correlation", &what);
    c.only_with(
        "/algorithm/tolerance",
        a.kind != AlgorithmKind::TargetPosition && a.tolerance.is_some(),
        "target-position",
        &what,
    );
    let renko = a.candles == CandleStyle::Renko;
    c.only_with(
        "/algorithm/brick_size",
        !renko && a.brick_size.is_some(),
        "renko candles",
        &format!("`{}` candles", kebab(&a.candles)),
    );
    if renko {
        c.require("/algorithm", "brick_size", a.brick_size.is_some(), "renko candles need a brick size");
    }
    if a.brick_size.is_some_and(|m| m.value() <= Decimal::ZERO) {
        c.err("/algorithm/brick_size", "out-of-range", "`algorithm.brick_size` must be more than 0", None);
    }
    if is_mac {
        c.require(
            "/algorithm",
            "ma_period",
            a.ma_period.is_some(),
            "ma-cross-breakout needs the moving-average period",
        );
        c.require(
            "/algorithm",
            "breakout_lookback",
            a.breakout_lookback.is_some(),
            "ma-cross-breakout needs the breakout lookback",
        );
    }
    if is_cor {
        c.require(
            "/algorithm",
            "primary",
            a.primary.is_some(),
            "correlation needs the primary (traded) symbol",
        );
        c.require(
            "/algorithm",
            "correlated",
            a.correlated.is_some(),
            "correlation needs the correlated symbol",
        );
        if a.primary.is_some() && a.primary == a.correlated {
            c.err(
                "/algorithm/correlated",
                "invalid-value",
                "`algorithm.correlated` must differ from `primary`",
                None,
            );
        }
        if let Some(cor) = &a.correlated {
            check_correlated_data(c, r, cor);
        }
        let f = a.fractal_lookback_or_default();
        let s = a.swing_lookback_or_default();
        if f > 0 && s <= f {
            let ptr = if a.swing_lookback.is_some() { "/algorithm/swing_lookback" } else { "/algorithm" };
            c.err(
                ptr,
                "out-of-range",
                format!("`algorithm.swing_lookback` ({s}) must be more than `fractal_lookback` ({f})"),
                Some(
                    "a fractal is confirmed `fractal_lookback` candles late; it must still be among the \
                     last `swing_lookback` candles then"
                        .into(),
                ),
            );
        }
        if let Some(pr) = &a.primary
            && pr != &i.underlying
        {
            c.warn(
                "/algorithm/primary",
                "mismatch",
                format!(
                    "`algorithm.primary` ({pr}) is not the traded `instrument.underlying` ({})",
                    i.underlying
                ),
                Some("the primary symbol is the one traded".into()),
            );
        }
    }
    check_signals(c, r);
    if a.tolerance.is_some_and(|t| t.fraction() >= hundred) {
        c.err("/algorithm/tolerance", "out-of-range", "`algorithm.tolerance` must be below 100%", None);
    }
    // Orders.
    let o = &r.orders;
    if matches!(o.order_type, OrderType::Market | OrderType::Stop) && o.limit_offset_ticks > 0 {
        c.warn(
            "/orders/limit_offset_ticks",
            "ignored-field",
            format!("`orders.limit_offset_ticks` is ignored for `{}` orders", kebab(&o.order_type)),
            Some("remove it, or use a limit order type".into()),
        );
    }
    // Risk.
    let k = &r.risk;
    if k.allocation.is_some_and(|m| m.value() <= Decimal::ZERO) {
        c.err("/risk/allocation", "out-of-range", "`risk.allocation` must be more than 0", None);
    }
    if k.daily_loss_limit.is_some_and(|m| m.value() <= Decimal::ZERO) {
        c.err("/risk/daily_loss_limit", "out-of-range", "`risk.daily_loss_limit` must be more than 0", None);
    }
    if k.max_notional.is_some_and(|m| m.value() <= Decimal::ZERO) {
        c.err("/risk/max_notional", "out-of-range", "`risk.max_notional` must be more than 0", None);
    }
    for (f, v) in [("entry_size", k.entry_size), ("add_size", k.add_size)] {
        let ptr = format!("/risk/{f}");
        match v {
            Some(Size::Percent(pc)) => {
                if pc.fraction() <= Decimal::ZERO || pc.fraction() > hundred {
                    c.err(
                        &ptr,
                        "out-of-range",
                        format!("`risk.{f}` must be more than 0% and at most 100%"),
                        None,
                    );
                } else if k.allocation.is_none() {
                    c.err(
                        &ptr,
                        "missing-field",
                        format!("`risk.{f}` is a percentage of `risk.allocation`, which is not set"),
                        Some("set `risk.allocation`, or give the size in units".into()),
                    );
                }
            }
            Some(Size::Units(n)) => {
                if n <= Decimal::ZERO {
                    c.err(&ptr, "out-of-range", format!("`risk.{f}` must be more than 0"), None);
                } else if i.kind != InstrumentKind::Crypto && !n.fract().is_zero() {
                    c.err(
                        &ptr,
                        "invalid-value",
                        format!(
                            "`risk.{f}` must be a whole number of {}",
                            if is_opt { "contracts" } else { "shares" }
                        ),
                        None,
                    );
                }
            }
            None => {}
        }
    }
    for (f, v) in
        [("stop_loss", k.stop_loss), ("trailing_stop", k.trailing_stop), ("max_drawdown", k.max_drawdown)]
    {
        if v.is_some_and(|pc| pc.fraction() <= Decimal::ZERO || pc.fraction() > hundred) {
            c.err(
                &format!("/risk/{f}"),
                "out-of-range",
                format!("`risk.{f}` must be more than 0% and at most 100%"),
                None,
            );
        }
    }
    if k.take_profit.is_some_and(|pc| pc.fraction() <= Decimal::ZERO) {
        c.err("/risk/take_profit", "out-of-range", "`risk.take_profit` must be more than 0%", None);
    }
    for (f, v) in [
        ("max_contracts", k.max_contracts),
        ("max_shares", k.max_shares),
        ("max_trades_per_day", k.max_trades_per_day),
        ("max_orders_per_minute", k.max_orders_per_minute),
    ] {
        if v == Some(0) {
            c.err(&format!("/risk/{f}"), "out-of-range", format!("`risk.{f}` must be at least 1"), None);
        }
    }
    if let (Some(al), Some(eq)) = (k.allocation, b.starting_equity)
        && al.value() > eq.value()
    {
        c.warn(
            "/risk/allocation",
            "allocation-exceeds-equity",
            format!("`risk.allocation` ({al}) is more than `broker.starting_equity` ({eq})"),
            None,
        );
    }
    if let (Some(dl), Some(al)) = (k.daily_loss_limit, k.allocation)
        && dl.value() > al.value()
    {
        c.warn(
            "/risk/daily_loss_limit",
            "limit-exceeds-allocation",
            format!("`risk.daily_loss_limit` ({dl}) is more than `risk.allocation` ({al})"),
            None,
        );
    }
    // Session.
    let s = &r.session;
    let cal = s.calendar;
    if i.kind == InstrumentKind::Crypto && cal == CalendarKind::Nyse {
        c.warn(
            "/session/calendar",
            "calendar-mismatch",
            "crypto trades around the clock but the calendar is `nyse`",
            Some("use `calendar: 24x7` for crypto".into()),
        );
    }
    if i.kind != InstrumentKind::Crypto && cal == CalendarKind::AllDay {
        c.err(
            "/session/calendar",
            "calendar-mismatch",
            format!("{ik} trades on the exchange calendar, not `24x7`"),
            Some("use `calendar: nyse`".into()),
        );
    }
    let cal_name = kebab(&cal);
    let (open, close) = named_window(cal, NamedHours::Extended);
    let (start, end) = match s.hours {
        Hours::Named(h) => named_window(cal, h),
        Hours::Window(w) => {
            let (st, en) = (minutes(w.start), minutes(w.end));
            if st >= en {
                c.err(
                    "/session/hours/end",
                    "invalid-range",
                    format!("session ends ({}) before it starts ({})", w.end, w.start),
                    Some("`end` must be later than `start` on the same day".into()),
                );
            } else if st < open || en > close {
                c.err_key(
                    "/session/hours",
                    "outside-calendar",
                    format!(
                        "session {}–{} is outside the {cal_name} calendar's hours {}–{}",
                        w.start,
                        w.end,
                        fmt_min(open),
                        fmt_min(close)
                    ),
                    Some(format!(
                        "keep the window within {}–{} (extended hours)",
                        fmt_min(open),
                        fmt_min(close)
                    )),
                );
            }
            (st, en)
        }
    };
    if let Some(fa) = s.flatten_at {
        let m = minutes(fa);
        if cal == CalendarKind::Nyse && (m <= start || m > end) {
            c.err(
                "/session/flatten_at",
                "outside-session",
                format!("`flatten_at` {fa} is outside the session {}–{}", fmt_min(start), fmt_min(end)),
                Some(format!("pick a time after {} and no later than {}", fmt_min(start), fmt_min(end))),
            );
        }
    }
    cost_warnings(c, r, first_event.as_ref());
}

/// A paper fill cost (slippage, commission) of at least this fraction of the price of what is
/// traded, or a commission per order of at least this fraction of the allocation, is a warning.
const COST_WARN_FRACTION: Decimal = rust_decimal_macros::dec!(0.01);

/// With no price to compare with (an option's premium is not known before the run; a live
/// provider's data is not read here), a cost of at least this much per share is a warning.
const COST_WARN_PER_SHARE: Decimal = rust_decimal_macros::dec!(1);

/// Warnings for paper fill costs far out of proportion, with their computed effect, from the
/// settings the engine's paper broker uses (`AgentConfig`) and the data's first price.
fn cost_warnings(c: &mut Ctx<'_>, r: &Recipe, first: Option<&MarketEvent>) {
    if r.broker.kind != BrokerKind::Paper {
        return;
    }
    let Ok(cfg) = crate::runtime::build::agent_config(r) else { return };
    let paper = &crate::runtime::run::sim_config(r);
    let price = first.filter(|_| !paper.contracts).map(event_price).filter(|p| *p > Decimal::ZERO);
    let unit = if paper.contracts {
        "share of a contract"
    } else if r.instrument.kind == InstrumentKind::Crypto {
        "coin"
    } else {
        "share"
    };
    let per_contract = |per_share: Decimal| {
        if paper.contracts {
            format!(" (${:.2} per contract)", per_share * paper.multiplier)
        } else {
            String::new()
        }
    };
    let slip = paper.tick * Decimal::from(paper.slippage_ticks);
    if let Some(effect) = cost_effect(slip, price) {
        c.warn(
            "/broker/slippage_ticks",
            "costly-fills",
            format!(
                "`broker.slippage_ticks` {} moves every fill by ${slip:.2} per {unit}{}{effect}",
                paper.slippage_ticks,
                per_contract(slip)
            ),
            Some(format!("slippage is counted in ticks of ${}", paper.tick)),
        );
    }
    let (field, charged, per_share) = if paper.contracts {
        (
            "commission_per_contract",
            paper.commission_per_contract,
            paper.commission_per_contract / paper.multiplier,
        )
    } else {
        ("commission_per_share", paper.commission_per_share, paper.commission_per_share)
    };
    if let Some(effect) = cost_effect(per_share, price) {
        c.warn(
            &format!("/broker/{field}"),
            "costly-fills",
            format!(
                "`broker.{field}` {charged} costs ${per_share:.2} per {unit} bought or sold{}{effect}",
                per_contract(per_share)
            ),
            None,
        );
    }
    let (order, allocation) = (paper.commission_per_order, cfg.decision.allocation);
    if allocation > Decimal::ZERO && order >= allocation * COST_WARN_FRACTION {
        c.warn(
            "/broker/commission_per_order",
            "costly-fills",
            format!(
                "`broker.commission_per_order` {order} costs ${order:.2} per order, {} % of the allocation ({allocation})",
                (order / allocation * Decimal::ONE_HUNDRED).round_dp(1)
            ),
            None,
        );
    }
}

/// `, N % of the data's first price (P)` when a cost per unit is out of proportion to the
/// price, an empty text when it is large with no price to compare with, `None` otherwise.
fn cost_effect(per_unit: Decimal, price: Option<Decimal>) -> Option<String> {
    match price {
        Some(p) => (per_unit >= p * COST_WARN_FRACTION).then(|| {
            format!(
                ", {} % of the data's first price ({p})",
                (per_unit / p * Decimal::ONE_HUNDRED).round_dp(1)
            )
        }),
        None => (per_unit >= COST_WARN_PER_SHARE).then(String::new),
    }
}

/// The price an event shows: a trade's price, a bar's close, a quote's mid.
fn event_price(ev: &MarketEvent) -> Decimal {
    match ev {
        MarketEvent::Trade(t) => t.price,
        MarketEvent::Bar(b) => b.close,
        MarketEvent::Quote(q) => (q.bid + q.ask) / Decimal::TWO,
    }
}

/// external-signal on replay from a file: the recorded signals the run reads
/// ([`Recipe::signal_file`]) must be there and readable.
/// Returns them (an empty feed when there is nothing to read).
fn check_signal_file(
    c: &mut Ctx<'_>,
    r: &Recipe,
    recipe_file: &Path,
) -> Vec<crate::strategy::external_signal::ExternalEvent> {
    use crate::strategy::external_signal::read_signal_file;
    if r.provider.kind != ProviderKind::Replay {
        return Vec::new();
    }
    let Some(path) = r.signal_file(recipe_file) else { return Vec::new() };
    let hint = Some(format!(
        "a replayed external-signal recipe reads its signals from {} (docs/strategies.md)",
        path.display()
    ));
    match std::fs::metadata(&path).map(|md| super::load::special_file_kind(md.file_type())) {
        Err(e) => {
            c.err("/algorithm/kind", "signals-missing", format!("cannot read {}: {e}", path.display()), hint);
            return Vec::new();
        }
        Ok(Some(kind)) => {
            c.err(
                "/algorithm/kind",
                "not-a-file",
                format!("{} is {kind}, not a regular file", path.display()),
                hint,
            );
            return Vec::new();
        }
        Ok(None) => {}
    }
    read_signal_file(&path, &r.instrument.underlying).unwrap_or_else(|e| {
        c.err("/algorithm/kind", "bad-signals", e.to_string(), hint);
        Vec::new()
    })
}

/// Build what `runner up` and `runner backtest` build from a recipe at start, with the
/// runtime's own build functions, and report a refusal at the recipe key it comes from, so that
/// what the run refuses at start, validate refuses too. Called once every other check
/// passed: the checks above say the same more precisely; this catches what they miss.
fn engine_checks(
    c: &mut Ctx<'_>,
    r: &Recipe,
    base_dir: &Path,
    signals: Vec<crate::strategy::external_signal::ExternalEvent>,
) {
    use crate::model::SymbolId;
    use crate::runtime::build::{self, AlgorithmError};
    let refused = "engine-refuses";
    let hint = || Some("`runner up` and `runner backtest` refuse this recipe at start".to_owned());
    if let Err(e) = crate::runtime::build::agent_config(r) {
        // Its one fallible part is the candle style, that is the Renko brick size.
        c.err("/algorithm/brick_size", refused, e.to_string(), hint());
    }
    if let Err(AlgorithmError { field, message }) = build::strategy(r, SymbolId(0), Some(signals)) {
        let name = field.split('/').find(|f| message.starts_with(f)).unwrap_or(field);
        c.err(&format!("/algorithm/{name}"), refused, format!("algorithm.{name}: {message}"), hint());
    }
    if r.instrument.kind == InstrumentKind::Option
        && let Err(e) = build::option_leg(r, SymbolId(1))
    {
        c.err_key("/instrument", refused, format!("instrument: {e}"), hint());
    }
    if let Err(e) = build::related_data(r, base_dir) {
        c.err_key("/provider/symbols", refused, e, hint());
    }
}

/// Whether `name` can name a file `secrets/NAME.sops.yaml` (no path separators, no `..`).
pub fn valid_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
}

/// Open replay data as the replay does (the same path resolution, the same reader, up to
/// each file's first event) and report what would stop the run at `ptr`: no data there, a
/// special file, a file that is not market data of a known format, files of two
/// resolutions. Returns the data's first event, when it could be read. Errors are the
/// market-data reader's, which name files and lines, never their content.
fn check_replay_data(
    c: &mut Ctx<'_>,
    base_dir: &Path,
    ptr: &str,
    path: &Path,
    all_prints: bool,
) -> Option<MarketEvent> {
    use crate::market::csv::{CsvOptions, MarketDataError, open};
    use crate::market::replay::{Replay, ReplayOptions, resolve_paths};
    let full = base_dir.join(path);
    let shown = path.display();
    let hint = match ptr.strip_prefix("/provider/symbols/") {
        Some(sym) => format!(
            "put {sym}'s market data for the same days as `provider.path` at {} (a *.csv, *.csv.gz \
             or Lean *.zip file, or a directory of them; see data/README.md)",
            full.display()
        ),
        None => format!("paths are relative to the recipe's directory ({})", display_dir(base_dir)),
    };
    let files = match resolve_paths(&full.to_string_lossy()) {
        Ok(files) => files,
        Err(e) => {
            let what = match &e {
                MarketDataError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    "does not exist".to_owned()
                }
                _ if full.is_dir() => "is a directory holding no market-data file".to_owned(),
                MarketDataError::Invalid(_) => "matches no market-data file".to_owned(),
                other => format!("cannot be read: {other}"),
            };
            c.err(ptr, "replay-path-missing", format!("replay data `{shown}` {what}"), Some(hint));
            return None;
        }
    };
    let mut first: Option<MarketEvent> = None;
    for f in &files {
        let kind = std::fs::metadata(f).map(|md| super::load::special_file_kind(md.file_type()));
        if let Ok(Some(kind)) = kind {
            c.err(
                ptr,
                "not-a-file",
                format!("replay data {} is {kind}, not a regular file", f.display()),
                Some("market data is read from regular files only".into()),
            );
            return None;
        }
        let opts = CsvOptions { peek: true, all_prints, ..CsvOptions::default() };
        match open(f, &opts).and_then(|mut src| src.next_event()) {
            Ok(ev) => first = first.into_iter().chain(ev).min_by_key(MarketEvent::ts),
            Err(e) => {
                c.err(ptr, "bad-market-data", format!("replay data `{shown}` cannot be replayed: {e}"), Some(
                    "market data is ticks (timestamp,price,size), bars (timestamp,open,high,low,close,volume) \
                     or quote bars, as CSV, CSV.gz or Lean zip (see data/README.md)"
                        .into(),
                ));
                return None;
            }
        }
    }
    if files.len() > 1
        && let Err(e) = Replay::from_files(&files, &ReplayOptions::default())
    {
        c.err(ptr, "bad-market-data", format!("replay data `{shown}` cannot be replayed: {e}"), None);
        return None;
    }
    first
}

/// correlation: the correlated symbol's data must be in `provider.symbols` (replay), and
/// `provider.symbols` holds nothing else.
fn check_correlated_data(c: &mut Ctx<'_>, r: &Recipe, cor: &str) {
    let p = &r.provider;
    if p.kind != ProviderKind::Replay {
        return;
    }
    let symbols = p.symbols.as_ref();
    if !symbols.is_some_and(|m| m.contains_key(cor)) {
        let (ptr, what) = match symbols {
            Some(_) => ("/provider/symbols", format!("`provider.symbols` has no entry for {cor}")),
            None => ("/provider", "missing `provider.symbols`".to_owned()),
        };
        c.err_key(
            ptr,
            "missing-field",
            format!("{what}: correlation needs the data of its correlated symbol {cor}"),
            Some(format!(
                "add `symbols: {{{cor}: path}}` under `provider` (a CSV/CSV.gz file, glob or directory, \
                 relative to the recipe)"
            )),
        );
    }
    for sym in symbols.into_iter().flat_map(|m| m.keys()) {
        let ptr = format!("/provider/symbols/{}", escape_pointer(sym));
        if sym == &r.instrument.underlying {
            c.err_key(
                &ptr,
                "invalid-value",
                format!("{sym} is the traded symbol: its data is `provider.path`"),
                Some(format!("remove `{sym}` from `provider.symbols`")),
            );
        } else if sym != cor {
            c.warn(
                &ptr,
                "unused",
                format!("`provider.symbols.{sym}` is not read: correlation compares with {cor}"),
                None,
            );
        }
    }
}

fn display_dir(d: &Path) -> String {
    let s = d.display().to_string();
    if s.is_empty() { ".".into() } else { s }
}

fn semantic_fleet(c: &mut Ctx<'_>, f: &Fleet) {
    if f.daily_loss_limit.is_some_and(|m| m.value() <= Decimal::ZERO) {
        c.err("/daily_loss_limit", "out-of-range", "`daily_loss_limit` must be more than 0", None);
    }
    if f.max_concurrent_agents == Some(0) {
        c.err("/max_concurrent_agents", "out-of-range", "`max_concurrent_agents` must be at least 1", None);
    }
    if f.stale_data_seconds == Some(0) {
        c.err("/stale_data_seconds", "out-of-range", "`stale_data_seconds` must be at least 1", None);
    }
}

/// One problem found with a credential reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialFinding {
    /// Error, warning or note.
    pub severity: crate::recipe::diagnostics::Severity,
    /// Stable code.
    pub code: &'static str,
    /// What is wrong (names the file, never a secret value).
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

/// Check the secret `name` that a `user` (e.g. "the alpaca broker") needs, in `secrets_dir`.
///
/// Without decrypting: the file exists and parses, the keys the adapter needs are present
/// (key names are clear text in SOPS files), and a key available here matches one of its
/// recipients — a *note* when none does, since CI validates without keys. With
/// `decrypt`, the file is also decrypted in memory (MAC verified) and every required value
/// must be non-empty; there, no key is an *error* (nothing could be verified). Messages name
/// files and keys, never values.
pub fn check_credentials(
    name: &str,
    secrets_dir: &Path,
    user: &str,
    required: &[&str],
    decrypt: bool,
) -> Vec<CredentialFinding> {
    use crate::recipe::diagnostics::Severity;
    let err = |code, message: String, hint: &str| CredentialFinding {
        severity: Severity::Error,
        code,
        message,
        hint: hint.to_string(),
    };
    let check = match crate::secrets::check_reference(secrets_dir, name) {
        Ok(c) => c,
        Err(e) => {
            // A broken key source (e.g. SOPS_AGE_KEY_FILE naming a missing file) still lets us
            // check the file itself, without any key.
            match crate::secrets::check_reference_with(secrets_dir, name, &Default::default()) {
                Ok(c) => c,
                Err(_) => {
                    return vec![err(
                        "secret-unreadable",
                        format!("secret `{name}` cannot be read: {e}"),
                        "check the file with `runner secrets list`",
                    )];
                }
            }
        }
    };
    let file = &check.path;
    if !check.exists {
        return vec![err(
            "secret-missing",
            format!("secret `{name}` not found: {} does not exist", file.display()),
            "create it with `runner secrets` (see docs/recipes.md, \"Credentials\")",
        )];
    }
    let mut out = Vec::new();
    let missing = check.missing_keys(required);
    if !missing.is_empty() {
        out.push(err(
            "secret-keys-missing",
            format!(
                "secret `{name}` ({}) lacks {} needed by {user}",
                file.display(),
                missing.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ),
            &format!("add them with `runner secrets set {name} {}`", missing.join(" ")),
        ));
    }
    if !check.public_keys.is_empty() {
        let keys = crate::secrets::exposed::describe(&check.public_keys);
        let message = format!(
            "secret `{name}` ({}) is encrypted to {keys}: anyone with this repository can read it",
            file.display()
        );
        out.push(err("secret-public-key", message, crate::secrets::exposed::FIX));
    }
    if check.demo {
        out.push(CredentialFinding {
            severity: Severity::Note,
            code: "secret-demo",
            message: format!(
                "secret `{name}` is the placeholder demo file {}: its values are not real credentials",
                file.display()
            ),
            hint: format!(
                "for real ones: `runner secrets init` (once), then `runner secrets set {name} {}` (see secrets/README.md)",
                required.join(" ")
            ),
        });
    }
    if !check.key_available {
        let mut recipients: Vec<String> = check.age_recipients.clone();
        recipients.extend(check.pgp_fingerprints.iter().map(|f| format!("pgp:{f}")));
        let recipients = if recipients.is_empty() { "none".to_string() } else { recipients.join(", ") };
        out.push(if decrypt {
            // The user asked for a decrypt check and nothing could be verified: an error.
            CredentialFinding {
                severity: Severity::Error,
                code: "secret-no-key",
                message: format!(
                    "--check-secrets: no key available here opens secret `{name}` (recipients: \
                     {recipients}), so it was not decrypted"
                ),
                hint: "run --check-secrets where the agent's key is (set SOPS_AGE_KEY_FILE, run \
                       `runner secrets init`, or import the GnuPG key); without a key, validate \
                       without --check-secrets"
                    .to_string(),
            }
        } else {
            CredentialFinding {
                severity: Severity::Note,
                code: "secret-no-key",
                message: format!(
                    "no key available here opens secret `{name}` (recipients: {recipients}); its \
                     decryption is not checked"
                ),
                hint: "expected where no keys are installed (CI), and not a failure even with \
                       --deny-warnings; on the machine that runs this agent set SOPS_AGE_KEY_FILE, \
                       run `runner secrets init`, or import the GnuPG key"
                    .to_string(),
            }
        });
        return out;
    }
    if decrypt {
        match crate::secrets::load(secrets_dir, name) {
            Ok(map) => {
                let empty: Vec<&str> = required
                    .iter()
                    .copied()
                    .filter(|k| map.get(k).is_some_and(|v| v.expose().trim().is_empty()))
                    .collect();
                if !empty.is_empty() {
                    out.push(err(
                        "secret-value-empty",
                        format!(
                            "secret `{name}` has empty {} needed by {user}",
                            empty.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                        ),
                        &format!("set them with `runner secrets set {name} {}`", empty.join(" ")),
                    ));
                }
            }
            Err(e) => out.push(err(
                "secret-decrypt",
                format!("secret `{name}` does not decrypt: {e}"),
                "check the recipients with `runner secrets list`",
            )),
        }
    }
    out
}

/// Where cross-recipe checks look for fleet settings.
#[derive(Debug, Clone, Default)]
pub struct FleetContext {
    /// Index of the fleet file in the report list, if there is one.
    pub fleet_index: Option<usize>,
    /// Directory holding `NAME.sops.yaml` secrets.
    pub secrets_dir: PathBuf,
    /// Also decrypt referenced secrets (in memory) and check their values.
    pub check_secrets: bool,
}

/// Pass 6: checks across all recipes (and the fleet file).
pub fn cross_checks(reports: &mut [FileReport], ctx: &FleetContext) {
    let fleet = ctx.fleet_index.and_then(|i| reports.get(i)).and_then(|r| r.fleet.clone());
    let mut agents: HashMap<String, (String, usize)> = HashMap::new();
    let mut accounts: HashMap<(String, String), (usize, String, usize)> = HashMap::new();
    let mut extra: Vec<(usize, Diagnostic)> = Vec::new();
    // "code name" of a secret → its once-per-secret findings: (report index, diagnostic, where it is named).
    let mut no_key: std::collections::BTreeMap<String, Vec<(usize, Diagnostic, String)>> = Default::default();
    for (idx, rep) in reports.iter().enumerate() {
        let Some(r) = &rep.recipe else { continue };
        let agent_pos = rep.spans.value_or_parent("/agent");
        if let Some((f, l)) = agents.get(&r.agent) {
            extra.push((
                idx,
                Diagnostic::error(
                    &rep.file,
                    agent_pos,
                    "duplicate-agent",
                    format!("agent `{}` is also defined in {f}:{l}", r.agent),
                    Some("agent names must be unique across the fleet".into()),
                ),
            ));
        } else {
            agents.insert(r.agent.clone(), (rep.file.clone(), agent_pos.line));
        }
        let acc_pos = rep.spans.value_or_parent("/broker/account");
        let key = (kebab(&r.broker.kind), r.broker.account.clone());
        if let Some((oi, of, ol)) = accounts.get(&key) {
            let other_agent = reports[*oi].recipe.as_ref().map(|x| x.agent.clone()).unwrap_or_default();
            extra.push((
                idx,
                Diagnostic::error(
                    &rep.file,
                    acc_pos,
                    "shared-account",
                    format!(
                        "broker account `{}` is also used by agent `{other_agent}` in {of}:{ol}",
                        r.broker.account
                    ),
                    Some("one broker account belongs to one agent; give each agent its own account".into()),
                ),
            ));
            extra.push((
                *oi,
                Diagnostic::error(
                    of,
                    Pos { line: *ol, ..reports[*oi].spans.value_or_parent("/broker/account") },
                    "shared-account",
                    format!(
                        "broker account `{}` is also used by agent `{}` in {}:{}",
                        r.broker.account, r.agent, rep.file, acc_pos.line
                    ),
                    Some("one broker account belongs to one agent; give each agent its own account".into()),
                ),
            ));
        } else {
            accounts.insert(key, (idx, rep.file.clone(), acc_pos.line));
        }
        let provider_kind = kebab(&r.provider.kind);
        let broker_kind = kebab(&r.broker.kind);
        for (ptr, name, kind, role) in [
            ("/provider/credentials", &r.provider.credentials, provider_kind, "provider"),
            ("/broker/credentials", &r.broker.credentials, broker_kind, "broker"),
        ] {
            let Some(n) = name.as_deref().filter(|n| valid_secret_name(n)) else { continue };
            if role == "broker" && r.broker.kind == BrokerKind::Paper {
                continue; // already refused: the paper broker takes no credentials
            }
            let user = format!("the {kind} {role}");
            let required = crate::secrets::required_keys(&kind);
            for f in check_credentials(n, &ctx.secrets_dir, &user, required, ctx.check_secrets) {
                let pos = rep.spans.value_or_parent(ptr);
                let d = match f.severity {
                    Severity::Error => Diagnostic::error(&rep.file, pos, f.code, f.message, Some(f.hint)),
                    Severity::Warning => Diagnostic::warning(&rep.file, pos, f.code, f.message, Some(f.hint)),
                    Severity::Note => Diagnostic::note(&rep.file, pos, f.code, f.message, Some(f.hint)),
                };
                if matches!(f.code, "secret-no-key" | "secret-demo") {
                    // Reported once per secret file, at its first use (below).
                    let place = format!("`{}` ({}:{})", pointer_to_path(ptr), rep.file, pos.line);
                    no_key.entry(format!("{} {n}", f.code)).or_default().push((idx, d, place));
                } else {
                    extra.push((idx, d));
                }
            }
        }
        if let (Some(fl), Some(al)) =
            (fleet.as_ref().and_then(|f| f.daily_loss_limit), r.risk.daily_loss_limit)
            && al.value() > fl.value()
        {
            let ff = ctx.fleet_index.map(|i| reports[i].file.clone()).unwrap_or_default();
            extra.push((
                    idx,
                    Diagnostic::warning(
                        &rep.file,
                        rep.spans.value_or_parent("/risk/daily_loss_limit"),
                        "fleet-limit",
                        format!("`risk.daily_loss_limit` ({al}) is more than the fleet's daily_loss_limit ({fl}) in {ff}"),
                        Some("the fleet limit stops every agent first; lower this one or raise the fleet's".into()),
                    ),
                ));
        }
    }
    // More agents than the fleet runs at once: `runner up` refuses to start them together.
    if let (Some(fi), Some(max)) = (ctx.fleet_index, fleet.as_ref().and_then(|f| f.max_concurrent_agents))
        && max > 0
        && agents.len() > max as usize
    {
        let n = agents.len();
        let fleet_rep = &reports[fi];
        extra.push((
            fi,
            Diagnostic::warning(
                &fleet_rep.file,
                fleet_rep.spans.value_or_parent("/max_concurrent_agents"),
                "fleet-limit",
                format!(
                    "{n} agents are validated together but `max_concurrent_agents` is {max}: \
                     `runner up` refuses to start more than {max} at once"
                ),
                Some(format!(
                    "raise `max_concurrent_agents` to at least {n}, or start at most {max} of them per `runner up`"
                )),
            ),
        ));
    }
    for (_, uses) in no_key {
        let mut uses = uses.into_iter();
        let Some((idx, mut d, _)) = uses.next() else { continue };
        let others: Vec<String> = uses.map(|(_, _, place)| place).collect();
        if !others.is_empty() {
            d.message.push_str(&format!("; also named by {}", others.join(", ")));
        }
        extra.push((idx, d));
    }
    for (i, d) in extra {
        reports[i].push(d);
    }
    for r in reports.iter_mut() {
        r.finish();
    }
}

/// Options for [`validate_paths`].
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// An explicit fleet file (otherwise the first `runner.yaml` among the inputs, else one
    /// found by walking up from the current directory to the project root).
    pub fleet: Option<PathBuf>,
    /// Do not look for a fleet file outside the given paths.
    pub no_fleet_discovery: bool,
    /// Decrypt referenced secrets in memory and check the values adapters need.
    pub check_secrets: bool,
}

/// An I/O or usage problem that stops validation (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// One input of `runner validate`, found by [`collect_files`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Input {
    /// A file to check.
    File(PathBuf),
    /// A path that cannot be read (missing, permission denied, a directory that cannot be
    /// listed): reported as a diagnostic, exit code 2 once everything else is checked.
    Unreadable(PathBuf, String),
    /// A directory given on the command line that holds no recipe (`*.yaml`, `*.yml`).
    NoRecipes(PathBuf),
}

/// How deep [`collect_files`] searches below a directory it is given.
pub const MAX_DIR_DEPTH: u32 = 32;

/// Collect the inputs to check: files as given; directories recursively (`*.yaml`, `*.yml`,
/// sorted, skipping hidden directories). Problems are inputs too, so every other file is
/// still checked.
///
/// Directories and files are known by their identity (device and inode, symlinks followed),
/// so a symlink loop, or a file reached by two paths, is visited once, under the first path
/// found; directories deeper than [`MAX_DIR_DEPTH`] are reported, not searched.
pub fn collect_files(paths: &[PathBuf]) -> Vec<Input> {
    let mut walk = Walk::default();
    for p in paths {
        match std::fs::metadata(p) {
            Err(e) => {
                walk.out.push(Input::Unreadable(p.clone(), format!("cannot read {}: {e}", p.display())))
            }
            Ok(md) if md.is_dir() => {
                if walk.dir(p, &md, 0) == 0 {
                    walk.out.push(Input::NoRecipes(p.clone()));
                }
            }
            Ok(md) => walk.file(p, Some(&md)),
        }
    }
    let mut seen = std::collections::HashSet::new();
    walk.out.retain(|p| seen.insert(p.clone()));
    walk.out
}

/// The state of [`collect_files`]: what it found, and the identities already visited.
#[derive(Default)]
struct Walk {
    out: Vec<Input>,
    /// Directory identity → how many recipes it holds (0 while it is being searched).
    dirs: HashMap<(u64, u64), usize>,
    files: std::collections::HashSet<(u64, u64)>,
}

impl Walk {
    /// Add a file unless its identity was seen; a path without metadata (a dangling symlink)
    /// is added as is, for reading it to report the problem.
    fn file(&mut self, path: &Path, md: Option<&std::fs::Metadata>) {
        use std::os::unix::fs::MetadataExt;
        if md.is_none_or(|md| self.files.insert((md.dev(), md.ino()))) {
            self.out.push(Input::File(path.to_path_buf()));
        }
    }

    /// Search `dir`; returns how many recipe files it holds (fleet files aside), counting
    /// those already found by another path, so a directory given twice is not "empty".
    fn dir(&mut self, dir: &Path, md: &std::fs::Metadata, depth: u32) -> usize {
        use std::os::unix::fs::MetadataExt;
        let id = (md.dev(), md.ino());
        if let Some(&found) = self.dirs.get(&id) {
            return found;
        }
        self.dirs.insert(id, 0);
        if depth > MAX_DIR_DEPTH {
            let msg = format!(
                "{} is nested more than {MAX_DIR_DEPTH} directories deep: not searched",
                dir.display()
            );
            self.out.push(Input::Unreadable(dir.to_path_buf(), msg));
            return 0;
        }
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                let msg = format!("cannot read directory {}: {e}", dir.display());
                self.out.push(Input::Unreadable(dir.to_path_buf(), msg));
                return 0;
            }
        };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        let mut found = 0;
        for e in entries {
            let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            let md = std::fs::metadata(&e).ok();
            if let Some(md) = md.as_ref().filter(|md| md.is_dir()) {
                found += self.dir(&e, md, depth + 1);
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                found += usize::from(!is_fleet_file(&e));
                self.file(&e, md.as_ref());
            }
        }
        self.dirs.insert(id, found);
        found
    }
}

/// Whether a file is a fleet file by its name (`runner.yaml` / `runner.yml`).
pub fn is_fleet_file(p: &Path) -> bool {
    matches!(p.file_name().and_then(|n| n.to_str()), Some("runner.yaml" | "runner.yml"))
}

/// Find `runner.yaml` walking up from `start` (stopping at a directory holding `.git`).
pub fn discover_fleet(start: &Path) -> Option<PathBuf> {
    let mut d = Some(start);
    while let Some(dir) = d {
        let f = dir.join(FLEET_FILE);
        if f.is_file() {
            return Some(f);
        }
        if dir.join(".git").exists() {
            return None;
        }
        d = dir.parent();
    }
    None
}

/// Check one file from disk (passes 1–5).
pub fn check_file(path: &Path, kind: SchemaKind) -> Result<FileReport, InputError> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    match read_source(path) {
        Ok(src) => Ok(check_source(src, kind, &base)),
        Err(super::load::ReadError::Io(e)) => Err(InputError(format!("cannot read {}: {e}", path.display()))),
        Err(super::load::ReadError::Invalid(d)) => {
            let mut rep = FileReport {
                file: path.display().to_string(),
                kind,
                diagnostics: vec![*d],
                recipe: None,
                fleet: None,
                spans: SpanMap::default(),
                source: None,
                unreadable: false,
            };
            rep.finish();
            Ok(rep)
        }
    }
}

/// Validate files and directories: every pass, including the cross-recipe checks.
pub fn validate_paths(paths: &[PathBuf], opts: &ValidateOptions) -> Result<Vec<FileReport>, InputError> {
    let inputs = collect_files(paths);
    let mut files: Vec<PathBuf> =
        inputs.iter().filter_map(|i| if let Input::File(f) = i { Some(f.clone()) } else { None }).collect();
    let mut fleet_path = opts.fleet.clone();
    if fleet_path.is_none() {
        fleet_path = files.iter().find(|p| is_fleet_file(p)).cloned();
    }
    if fleet_path.is_none() && !opts.no_fleet_discovery {
        let cwd = std::env::current_dir()
            .map_err(|e| InputError(format!("cannot read the current directory: {e}")))?;
        fleet_path = discover_fleet(&cwd).map(|p| p.strip_prefix(&cwd).map(Path::to_path_buf).unwrap_or(p));
    }
    if let Some(fp) = &fleet_path
        && !files.contains(fp)
    {
        files.insert(0, fp.clone());
    }
    let mut reports = Vec::with_capacity(files.len());
    let mut fleet_index = None;
    for f in &files {
        let is_fleet = fleet_path.as_ref() == Some(f) || is_fleet_file(f);
        if fleet_path.as_ref() == Some(f) {
            fleet_index = Some(reports.len());
        }
        tracing::debug!(file = %f.display(), fleet = is_fleet, "validating");
        let kind = if is_fleet { SchemaKind::Fleet } else { SchemaKind::Recipe };
        reports.push(check_file(f, kind).unwrap_or_else(|e| problem_report(f, kind, e.0, true)));
    }
    for i in inputs {
        match i {
            Input::File(_) => {}
            Input::Unreadable(p, msg) => reports.push(problem_report(&p, SchemaKind::Recipe, msg, true)),
            Input::NoRecipes(p) => reports.push(problem_report(&p, SchemaKind::Recipe, String::new(), false)),
        }
    }
    let secrets_dir = match (&fleet_path, fleet_index.and_then(|i| reports[i].fleet.as_ref())) {
        (Some(fp), Some(fl)) => {
            fp.parent().map(|d| d.join(&fl.secrets_dir)).unwrap_or_else(|| fl.secrets_dir.clone())
        }
        (Some(fp), None) => fp.parent().map(|d| d.join("secrets")).unwrap_or_else(|| "secrets".into()),
        _ => PathBuf::from("secrets"),
    };
    cross_checks(&mut reports, &FleetContext { fleet_index, secrets_dir, check_secrets: opts.check_secrets });
    Ok(reports)
}

/// The report of an input that could not be checked: unreadable (`io`), or a directory
/// holding no recipe.
fn problem_report(path: &Path, kind: SchemaKind, message: String, io: bool) -> FileReport {
    let file = path.display().to_string();
    let d = if io {
        Diagnostic::file_error(
            &file,
            "unreadable",
            message,
            Some("check the path and its permissions; the other files were still checked".into()),
        )
    } else {
        Diagnostic::file_error(
            &file,
            "no-recipes",
            format!("no recipes found in {file} (no *.yaml or *.yml files)"),
            Some("validating nothing is probably a mistake: check the directory".into()),
        )
    };
    FileReport {
        file,
        kind,
        diagnostics: vec![d],
        recipe: None,
        fleet: None,
        spans: SpanMap::default(),
        source: None,
        unreadable: io,
    }
}

/// Load one recipe for running it: every single-file pass must succeed (warnings are
/// allowed). On failure, the rendered diagnostics are in the error.
pub fn load_recipe(path: &Path) -> Result<Recipe, LoadError> {
    let rep = check_file(path, SchemaKind::Recipe)
        .map_err(|e| LoadError { rendered: e.0, diagnostics: Vec::new() })?;
    match (rep.errors(), rep.recipe) {
        (0, Some(r)) => Ok(r),
        _ => Err(LoadError {
            rendered: rep.diagnostics.iter().map(Diagnostic::render).collect::<Vec<_>>().join("\n"),
            diagnostics: rep.diagnostics,
        }),
    }
}

/// Why [`load_recipe`] failed.
#[derive(Debug, thiserror::Error)]
#[error("invalid recipe:\n{rendered}")]
pub struct LoadError {
    /// The diagnostics, rendered for people.
    pub rendered: String,
    /// The diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}
