//! Loading recipe and fleet files: reading with a size cap and UTF-8 check, the YAML
//! syntax pass (serde-saphyr with a resource budget, into a JSON value for the schema
//! pass), and the span map from JSON pointers to `line:column` (saphyr `MarkedYaml`).

use std::collections::HashMap;
use std::path::Path;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use super::diagnostics::{Diagnostic, Pos};

/// Largest recipe or fleet file accepted, in bytes (1 MiB). Real recipes are a few KiB;
/// the cap keeps a stray data file passed by mistake from being parsed at all.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A source file held in memory for diagnostics.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as the user gave it (used in diagnostics).
    pub name: String,
    /// The text.
    pub text: String,
}

impl Source {
    /// A source from text already in memory.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self { name: name.into(), text: text.into() }
    }

    /// The 1-based line `n` as YAML counts lines ([`yaml_lines`]), without its line ending
    /// (empty when out of range).
    pub fn line(&self, n: usize) -> &str {
        yaml_lines(&self.text).nth(n.saturating_sub(1)).unwrap_or("")
    }

    /// The lines as YAML counts them ([`yaml_lines`]).
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        yaml_lines(&self.text)
    }
}

/// Why a file could not be read as text.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be opened or read (an I/O problem: exit code 2).
    Io(std::io::Error),
    /// The file was read but is not acceptable text: a located diagnostic.
    Invalid(Box<Diagnostic>),
}

/// What a path is when it is not a regular file (`None` for a regular file). Recipes, fleet
/// files and market data are read from regular files only: opening a FIFO waits for a writer,
/// and a device such as `/dev/zero` never ends.
pub fn special_file_kind(ft: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_file() {
        None
    } else if ft.is_dir() {
        Some("a directory")
    } else if ft.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if ft.is_char_device() {
        Some("a character device")
    } else if ft.is_block_device() {
        Some("a block device")
    } else if ft.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// Why [`open_regular`] refused a path.
#[derive(Debug)]
pub enum OpenError {
    /// The path could not be examined or opened.
    Io(std::io::Error),
    /// The path is something other than a regular file (see [`special_file_kind`]).
    NotRegular(&'static str),
}

/// Open `path` for reading if it is a regular file (symlinks followed), without ever
/// blocking: the type is checked before opening (opening some devices has effects), the
/// file is opened with `O_NONBLOCK` (a FIFO swapped in meanwhile does not wait for a
/// writer), and what was opened is checked again.
pub fn open_regular(path: &Path) -> Result<std::fs::File, OpenError> {
    use std::os::unix::fs::OpenOptionsExt;
    let kind = |md: std::fs::Metadata| {
        special_file_kind(md.file_type()).map_or(Ok(()), |k| Err(OpenError::NotRegular(k)))
    };
    kind(std::fs::metadata(path).map_err(OpenError::Io)?)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(OpenError::Io)?;
    kind(file.metadata().map_err(OpenError::Io)?)?;
    Ok(file)
}

/// Read a file as UTF-8 text, refusing anything but a regular file ([`open_regular`]),
/// files over [`MAX_FILE_BYTES`] (the cap is enforced while reading) and invalid UTF-8.
pub fn read_source(path: &Path) -> Result<Source, ReadError> {
    use std::io::Read;
    let name = path.display().to_string();
    let file = match open_regular(path) {
        Ok(f) => f,
        Err(OpenError::Io(e)) => return Err(ReadError::Io(e)),
        Err(OpenError::NotRegular(kind)) => {
            return Err(ReadError::Invalid(Box::new(Diagnostic::file_error(
                &name,
                "not-a-file",
                format!("{name} is {kind}, not a regular file: nothing was read from it"),
                Some("recipes and fleet files are read from regular files only".into()),
            ))));
        }
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::Invalid(Box::new(Diagnostic::error(
            &name,
            Pos::START,
            "file-too-large",
            format!("file is larger than {} KiB; recipes are small YAML files", MAX_FILE_BYTES / 1024),
            Some("is this a data file? recipes point at data with provider.path".into()),
        ))));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source { name, text }),
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            // `valid` is valid UTF-8 by construction (valid_up_to), so this cannot fail.
            let prefix = std::str::from_utf8(valid).unwrap_or("");
            let (line, col) = end_position(prefix);
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let d = Diagnostic::error(
                &name,
                Pos { line, column: col, len: 1 },
                "not-utf8",
                "file is not valid UTF-8 text",
                Some("save the recipe as UTF-8".into()),
            )
            .with_source_line(yaml_lines(&text).nth(line - 1).unwrap_or(""));
            Err(ReadError::Invalid(Box::new(d)))
        }
    }
}

/// The lines of `text` as YAML counts them: each ended by LF, CRLF or a bare CR (classic Mac
/// OS), without its line ending; like [`str::lines`], no empty line after a final break.
pub fn yaml_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        match t.find(['\n', '\r']) {
            Some(i) => {
                let ending = if t[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&t[i + ending..]);
                Some(&t[..i])
            }
            None => {
                rest = None;
                (!t.is_empty()).then_some(t)
            }
        }
    })
}

/// The 1-based (line, column) just after `prefix`, with YAML's line breaks (LF, CRLF, CR).
pub fn end_position(prefix: &str) -> (usize, usize) {
    let bare_cr = prefix.match_indices('\r').filter(|(i, _)| !prefix[i + 1..].starts_with('\n')).count();
    let line = prefix.matches('\n').count() + bare_cr + 1;
    let last = prefix.rfind(['\n', '\r']).map_or(prefix, |i| &prefix[i + 1..]);
    (line, last.chars().count() + 1)
}

/// The resource budget for parsing recipes: generous for real recipes, small enough that
/// alias bombs, deep nesting and huge documents end in an error quickly.
pub fn parse_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 32;
    budget.max_events = 200_000;
    budget.max_nodes = 100_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = 4 * 1024 * 1024;
    budget.max_merge_keys = 100;
    budget.max_recorded_anchor_events = 100_000;
    let mut opts = serde_saphyr::Options::default();
    opts.budget = Some(budget);
    opts.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    // YAML 1.2 core booleans only: `off` (compliance.regime) and `no` stay strings.
    opts.strict_booleans = true;
    opts.with_snippet = false;
    opts
}

/// Deserialize `src` into `T` with the recipe budget.
pub fn from_str_limited<T: serde::de::DeserializeOwned>(src: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(src, parse_options())
}

/// Turn a serde-saphyr error into (position, message) without its rendered snippet.
pub fn saphyr_error_parts(err: &serde_saphyr::Error, src: &Source) -> (Pos, String) {
    let pos = err.location().filter(|l| l.line() > 0).map_or(Pos::START, |l| Pos {
        line: l.line() as usize,
        column: (l.column() as usize).max(1),
        len: 1,
    });
    let raw = err.without_snippet().to_string();
    let msg = clean_message(&raw);
    let lines = src.lines().count().max(1);
    let pos = if pos.line > lines {
        // Errors at end of input: point just past the last line's text.
        let last = src.line(lines);
        Pos { line: lines, column: last.chars().count() + 1, len: 1 }
    } else {
        pos
    };
    (pos, msg)
}

/// The message for a file holding more than one YAML document (the parser reports it where
/// the second one starts).
pub const SECOND_DOCUMENT: &str =
    "a second YAML document starts here: a recipe or fleet file holds exactly one document";

/// Strip serde-saphyr's `error: line N column M:` prefix from a message.
fn clean_message(raw: &str) -> String {
    let mut m = raw.trim();
    m = m.strip_prefix("error:").unwrap_or(m).trim_start();
    if let Some(rest) = m.strip_prefix("line ")
        && let Some(idx) = rest.find(": ")
    {
        let head = &rest[..idx];
        if head.split_whitespace().all(|w| w == "column" || w.chars().all(|c| c.is_ascii_digit())) {
            m = &rest[idx + 2..];
        }
    }
    let mut m = m.lines().next().unwrap_or("").trim();
    // Drop a trailing " at line N, column M ..." (the position is reported separately).
    if let Some(i) = m.find(" at line ") {
        m = &m[..i];
    }
    let m = m.trim_end_matches(',').trim();
    if let Some(rest) = m.strip_prefix("budget breached: ") {
        let what = rest.split([' ', '{']).next().unwrap_or(rest);
        if what == "Documents" {
            return SECOND_DOCUMENT.to_string();
        }
        return format!(
            "input exceeds the parser's safety limits ({what}): too many nodes, aliases or nesting levels for a recipe"
        );
    }
    if let Some(rest) = m.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return format!("duplicate key `{key}`");
    }
    m.to_string()
}

/// Where a node and (for mapping values) its key sit in the source.
#[derive(Debug, Clone, Copy)]
pub struct NodeSpan {
    /// Position of the key (`None` for the root and for sequence items).
    pub key: Option<Pos>,
    /// Position of the value.
    pub value: Pos,
}

/// JSON pointer (`/provider/kind`) → source positions, and the YAML tags (`!custom`) found.
#[derive(Debug, Default, Clone)]
pub struct SpanMap {
    map: HashMap<String, NodeSpan>,
    tags: Vec<(Pos, String)>,
}

impl SpanMap {
    /// Build the map from YAML text that already passed the syntax pass.
    ///
    /// Only call after [`from_str_limited`] succeeded: that pass enforces the depth and
    /// size budget, so this second (span-keeping) parse is bounded.
    pub fn build(src: &str) -> Self {
        let mut m = Self::default();
        if let Ok(docs) = MarkedYaml::load_from_str(src)
            && let Some(doc) = docs.first()
        {
            m.walk(doc, String::new(), None, src);
        }
        m
    }

    fn walk(&mut self, node: &MarkedYaml<'_>, ptr: String, key: Option<Pos>, src: &str) {
        let value = span_pos(node, src);
        self.map.insert(ptr.clone(), NodeSpan { key, value });
        match &node.data {
            YamlData::Mapping(map) => {
                for (k, v) in map {
                    let Some(name) = scalar_text(k) else { continue };
                    let child = format!("{ptr}/{}", escape_pointer(&name));
                    let kpos = span_pos(k, src);
                    self.walk(v, child, Some(kpos), src);
                }
            }
            YamlData::Sequence(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.walk(v, format!("{ptr}/{i}"), None, src);
                }
            }
            YamlData::Tagged(tag, inner) => {
                self.tags.push((value, tag_text(tag)));
                self.walk(inner, ptr.clone(), key, src);
                // A tagged scalar's own span is empty: the tagged node's covers the value.
                self.map.insert(ptr, NodeSpan { key, value });
            }
            _ => {}
        }
    }

    /// The explicit YAML tags in the source (`!custom`, `!<tag:…>`) and where they are. The
    /// core tags (`!!str`, `!!int`, …) are resolved by the parser and not listed.
    pub fn tags(&self) -> &[(Pos, String)] {
        &self.tags
    }

    /// The spans of the node at `ptr`, if it exists in the source.
    pub fn get(&self, ptr: &str) -> Option<NodeSpan> {
        self.map.get(ptr).copied()
    }

    /// The value span starting exactly at `line:column`, to widen a caret to the value.
    pub fn value_starting_at(&self, line: usize, column: usize) -> Option<Pos> {
        self.map.values().map(|s| s.value).find(|p| p.line == line && p.column == column)
    }

    /// Position of the value at `ptr`, or of its nearest existing ancestor's key.
    pub fn value_or_parent(&self, ptr: &str) -> Pos {
        if let Some(s) = self.map.get(ptr) {
            return s.value;
        }
        self.key_or_parent(ptr)
    }

    /// Position of the key at `ptr` (its value for items), or of its nearest existing ancestor.
    pub fn key_or_parent(&self, ptr: &str) -> Pos {
        let mut p = ptr;
        loop {
            if let Some(s) = self.map.get(p) {
                return s.key.unwrap_or(s.value);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return Pos::START,
            }
        }
    }
}

fn span_pos(node: &MarkedYaml<'_>, src: &str) -> Pos {
    let s = node.span.start;
    let e = node.span.end;
    let len = if e.line() == s.line() && e.col() > s.col() { e.col() - s.col() } else { 1 };
    let line = s.line().max(1);
    // A block mapping's span can start at its first key; a scalar's at its first char.
    let _ = src;
    Pos { line, column: s.col() + 1, len }
}

/// A tag as written: `!custom`, `!!python/object`, `!<tag:example.com:x>`.
fn tag_text(tag: &saphyr::Tag) -> String {
    match tag.handle.as_str() {
        "" => format!("!<{}>", tag.suffix),
        "tag:yaml.org,2002:" => format!("!!{}", tag.suffix),
        handle => format!("{handle}{}", tag.suffix),
    }
}

fn scalar_text(node: &MarkedYaml<'_>) -> Option<String> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(s.to_string()),
        YamlData::Value(Scalar::Integer(i)) => Some(i.to_string()),
        YamlData::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        YamlData::Value(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        YamlData::Value(Scalar::Null) => Some("null".into()),
        YamlData::Representation(s, _, _) => Some(s.to_string()),
        _ => None,
    }
}

/// Escape one JSON-pointer segment (`~` → `~0`, `/` → `~1`).
pub fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer shown as a dotted field path (`/risk/stop_loss` → `risk.stop_loss`).
pub fn pointer_to_path(ptr: &str) -> String {
    if ptr.is_empty() {
        return "(top level)".into();
    }
    ptr.trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_map_points_at_keys_and_values() {
        let src = "version: 1\nprovider:\n  kind: replay\n  path: x.csv\n";
        let m = SpanMap::build(src);
        let k = m.get("/provider/kind").unwrap();
        assert_eq!((k.key.unwrap().line, k.key.unwrap().column), (3, 3));
        assert_eq!((k.value.line, k.value.column, k.value.len), (3, 9, 6));
        assert_eq!(m.key_or_parent("/provider/nope").line, 2);
    }

    #[test]
    fn lines_and_positions_count_every_yaml_line_break() {
        let text = "a\r\nb\rc\n\nd";
        assert_eq!(yaml_lines(text).collect::<Vec<_>>(), ["a", "b", "c", "", "d"]);
        assert_eq!(yaml_lines("a\n").collect::<Vec<_>>(), ["a"]);
        assert_eq!(end_position("a\r\nb\rcd"), (3, 3));
        assert_eq!(end_position(""), (1, 1));
    }

    #[test]
    fn messages_lose_location_prefix() {
        assert_eq!(clean_message("error: line 4 column 1: unknown field `x`"), "unknown field `x`");
        assert_eq!(clean_message("plain"), "plain");
    }
}
