//! Layering that a test keeps (issue 10 §5): which modules of `src/` may name which.
//!
//! Every `src/**/*.rs` file is read with its comments and string and character literals blanked
//! out, and what its code names is collected with the line: each `crate::x` path (in `use`
//! lines, in function bodies, in tests, and each branch of `crate::{x, y}`), each `super::` path
//! that climbs out to the crate root, and `tokio`. A name a rule forbids fails the test with
//! `file:line`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::repo_root;

/// The components: pure and synchronous, each configured by its own types.
const COMPONENTS: &[&str] = &["strategy", "decision", "risk", "indicators", "market", "options"];

/// One layering rule.
struct Rule {
    /// The rule in words, for the failure message.
    says: &'static str,
    /// Whether it applies to a file.
    applies: fn(&SourceFile) -> bool,
    /// Whether it forbids a name (`crate::recipe`, `tokio`).
    forbids: fn(&str) -> bool,
}

const RULES: &[Rule] = &[
    Rule {
        says: "`model` imports nothing of ours",
        applies: |f| f.top() == "model",
        forbids: |name| name.starts_with("crate::") && name != "crate::model",
    },
    Rule {
        says: "components import neither recipe, journal, cli, engine, runtime, report nor tokio: \
               each defines its own config, and the runtime builds it from the recipe",
        applies: |f| COMPONENTS.contains(&f.top()) && !f.is_cli(),
        forbids: |name| {
            matches!(
                name,
                "crate::recipe"
                    | "crate::journal"
                    | "crate::cli"
                    | "crate::engine"
                    | "crate::runtime"
                    | "crate::report"
                    | "tokio"
            )
        },
    },
    Rule {
        says: "nothing imports `cli` but src/cli.rs, src/main.rs and */cli.rs: only `cli` knows exit codes",
        applies: |f| !f.is_cli(),
        forbids: |name| name == "crate::cli",
    },
    Rule {
        says: "the agent (`engine`) is pure: it imports neither tokio, the venues, the journal, the \
               recipe, the runtime nor cli; the runtime builds it and drives it",
        applies: |f| f.top() == "engine",
        forbids: |name| {
            matches!(
                name,
                "crate::venue"
                    | "crate::journal"
                    | "crate::recipe"
                    | "crate::runtime"
                    | "crate::cli"
                    | "tokio"
            )
        },
    },
    Rule {
        says: "venues know the market, the orders and the risk gate's approval, not the agent, the \
               journal, the recipe or the runtime (which builds them)",
        applies: |f| f.top() == "venue",
        forbids: |name| {
            matches!(
                name,
                "crate::engine" | "crate::journal" | "crate::recipe" | "crate::runtime" | "crate::cli"
            )
        },
    },
];

/// Forbidden names still in the tree, to go with the engine/runtime split: `(file, name)`. The
/// test also fails when one of them is gone, so that the list only ever shrinks.
const KNOWN: &[(&str, &str)] = &[];

/// One source file: where it is, its module path, and its code without comments or literals.
struct SourceFile {
    /// Path from the repository root, with `/`.
    path: String,
    /// Module path inside the crate (`["market", "session"]`; empty for lib.rs and main.rs).
    module: Vec<String>,
    /// The text with comments and literals replaced by spaces (line breaks kept).
    code: String,
}

impl SourceFile {
    fn new(path: &str, text: &str) -> Self {
        let inner = path.strip_prefix("src/").unwrap_or(path).trim_end_matches(".rs");
        let mut module: Vec<String> = inner.split('/').map(str::to_owned).collect();
        if module.last().is_some_and(|m| m == "mod" || m == "lib" || m == "main") {
            module.pop();
        }
        Self { path: path.to_owned(), module, code: blank_comments_and_literals(text) }
    }

    /// The top-level module the file belongs to (`""` for the crate roots).
    fn top(&self) -> &str {
        self.module.first().map_or("", String::as_str)
    }

    /// The command-line layer: `cli` itself, any `*/cli.rs`, and the binary's main.rs.
    fn is_cli(&self) -> bool {
        self.top() == "cli" || self.path.ends_with("/cli.rs") || self.path == "src/main.rs"
    }

    /// What the code names, with 1-based lines: `crate::x` for a top-level module of the crate,
    /// `tokio` for the runtime.
    fn names(&self) -> Vec<(String, usize)> {
        let tokens = tokenize(&self.code);
        let mut out = Vec::new();
        // Inline `mod x { … }` blocks: the module path and the brace depth each one opened at.
        let mut inline: Vec<(String, usize)> = Vec::new();
        let mut depth: usize = 0;
        for (i, (tok, line)) in tokens.iter().enumerate() {
            let line = *line;
            let next = |k: usize| tokens.get(i + k).map_or("", |t| t.0.as_str());
            match tok.as_str() {
                "{" => depth += 1,
                "}" => {
                    depth = depth.saturating_sub(1);
                    if inline.last().is_some_and(|(_, d)| *d == depth) {
                        inline.pop();
                    }
                }
                "mod" if is_ident(next(1)) && next(2) == "{" => {
                    inline.push((next(1).to_owned(), depth));
                }
                "tokio" => out.push(("tokio".to_owned(), line)),
                "crate" if next(1) == "::" => out.extend(top_modules(&tokens[i + 2..])),
                "super" if i == 0 || tokens[i - 1].0 != "::" => {
                    let mut here: Vec<&str> = self.module.iter().map(String::as_str).collect();
                    here.extend(inline.iter().map(|(m, _)| m.as_str()));
                    let mut k = i;
                    while tokens.get(k).is_some_and(|t| t.0 == "super")
                        && tokens.get(k + 1).is_some_and(|t| t.0 == "::")
                    {
                        here.pop();
                        k += 2;
                    }
                    match here.first() {
                        Some(top) => out.push((format!("crate::{top}"), line)),
                        None => out.extend(top_modules(&tokens[k..])),
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// The top-level modules a path from the crate root names, given the tokens after `crate::`:
/// `recipe` in `recipe::Recipe`, `model` and `recipe` in `{model::X, recipe::Y}`.
fn top_modules(tokens: &[(String, usize)]) -> Vec<(String, usize)> {
    let Some((first, line)) = tokens.first() else { return Vec::new() };
    if first != "{" {
        return if is_ident(first) { vec![(format!("crate::{first}"), *line)] } else { Vec::new() };
    }
    let mut out = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    for (tok, line) in tokens {
        match tok.as_str() {
            "{" => depth += 1,
            "}" if depth == 1 => break,
            "}" => depth -= 1,
            "," if depth == 1 => item_start = true,
            t if item_start && depth == 1 => {
                if is_ident(t) && t != "self" {
                    out.push((format!("crate::{t}"), *line));
                }
                item_start = false;
            }
            _ => {}
        }
    }
    out
}

fn is_ident(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// The code as tokens with their 1-based lines: identifiers, `::`, and single other characters.
fn tokenize(code: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
        } else if c.is_alphabetic() || c == '_' {
            let mut word = c.to_string();
            while let Some(&n) = chars.peek().filter(|n| n.is_alphanumeric() || **n == '_') {
                word.push(n);
                chars.next();
            }
            out.push((word, line));
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            out.push(("::".to_owned(), line));
        } else if !c.is_whitespace() {
            out.push((c.to_string(), line));
        }
    }
    out
}

/// `text` with every comment, string literal (plain, byte, raw) and character literal replaced
/// by spaces; line breaks stay, so lines keep their numbers. Lifetimes are left alone.
fn blank_comments_and_literals(text: &str) -> String {
    let src: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank =
        |out: &mut String, s: &[char]| out.extend(s.iter().map(|&c| if c == '\n' { '\n' } else { ' ' }));
    let mut i = 0;
    while i < src.len() {
        let at = |k: usize| src.get(i + k).copied().unwrap_or('\0');
        let after_ident = i > 0 && (src[i - 1].is_alphanumeric() || src[i - 1] == '_');
        let end = if at(0) == '/' && at(1) == '/' {
            src[i..].iter().position(|&c| c == '\n').map_or(src.len(), |n| i + n)
        } else if at(0) == '/' && at(1) == '*' {
            block_comment_end(&src, i)
        } else if at(0) == '"' {
            string_end(&src, i + 1)
        } else if !after_ident
            && (at(0) == 'r' || (at(0) == 'b' && at(1) == 'r'))
            && raw_string_start(&src, i).is_some()
        {
            raw_string_start(&src, i).map_or(i + 1, |(open, hashes)| raw_string_end(&src, open, hashes))
        } else if !after_ident && at(0) == 'b' && (at(1) == '"' || at(1) == '\'') {
            if at(1) == '"' { string_end(&src, i + 2) } else { char_end(&src, i + 1).unwrap_or(i + 2) }
        } else if at(0) == '\'' {
            char_end(&src, i).unwrap_or(i + 1)
        } else {
            out.push(src[i]);
            i += 1;
            continue;
        };
        let end = end.min(src.len());
        blank(&mut out, &src[i..end]);
        i = end;
    }
    out
}

/// The index after the `*/` closing the (nestable) block comment opening at `start`.
fn block_comment_end(src: &[char], start: usize) -> usize {
    let (mut i, mut depth) = (start, 0);
    while i + 1 < src.len() {
        match (src[i], src[i + 1]) {
            ('/', '*') => (depth, i) = (depth + 1, i + 2),
            ('*', '/') if depth == 1 => return i + 2,
            ('*', '/') => (depth, i) = (depth - 1, i + 2),
            _ => i += 1,
        }
    }
    src.len()
}

/// The index after the `"` closing a string whose text starts at `from` (escapes skipped).
fn string_end(src: &[char], from: usize) -> usize {
    let mut i = from;
    while i < src.len() {
        match src[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    src.len()
}

/// A raw string (`r"…"`, `r#"…"#`, `br"…"`) opening at `i`: the index of its `"` and its `#` count.
fn raw_string_start(src: &[char], i: usize) -> Option<(usize, usize)> {
    let mut k = if src[i] == 'b' { i + 2 } else { i + 1 };
    let hashes = src[k..].iter().take_while(|&&c| c == '#').count();
    k += hashes;
    (src.get(k) == Some(&'"')).then_some((k, hashes))
}

/// The index after the `"###` closing a raw string whose opening quote is at `open`.
fn raw_string_end(src: &[char], open: usize, hashes: usize) -> usize {
    let mut i = open + 1;
    while i < src.len() {
        if src[i] == '"' && src[i + 1..].iter().take(hashes).filter(|&&c| c == '#').count() == hashes {
            return i + 1 + hashes;
        }
        i += 1;
    }
    src.len()
}

/// The index after a character literal opening at `i` (`'x'`, `'\n'`, `'\u{1F600}'`), or `None`
/// for a lifetime or label (`'a`, `'static`).
fn char_end(src: &[char], i: usize) -> Option<usize> {
    match src.get(i + 1)? {
        '\\' => src[i + 2..].iter().position(|&c| c == '\'').map(|n| i + 2 + n + 1),
        _ => (src.get(i + 2) == Some(&'\'')).then_some(i + 3),
    }
}

/// Every `.rs` file under `dir`, with paths relative to the repository root.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<SourceFile>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(root, &p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let rel = p.strip_prefix(root).expect("under the root").to_string_lossy().replace('\\', "/");
            out.push(SourceFile::new(&rel, &text));
        }
    }
}

#[test]
fn the_scanner_reads_code_not_comments_or_literals() {
    let text = r####"//! crate::journal in a module doc
use crate::{model::Side, recipe::Recipe};
/// [`crate::cli::ExitError`] in a doc comment
fn f<'a>(x: &'a str) -> char {
    let s = "crate::journal \" crate::cli";
    let r = r#"crate::cli "quoted" crate::journal"#;
    let b = b'"'; /* crate::cli /* nested */ crate::cli */ let q = '"';
    crate::report::x(super::super::engine::y(), super::decision::z());
    'x'
}
#[cfg(test)]
mod tests {
    use super::*;
    use super::super::super::{runtime::Build, self};
    #[tokio::test]
    async fn t() {}
}
"####;
    let f = SourceFile::new("src/strategy/sub.rs", text);
    let names: Vec<(String, usize)> = f.names();
    let want = [
        ("crate::model", 2),
        ("crate::recipe", 2),
        ("crate::report", 8),
        ("crate::engine", 8),
        ("crate::strategy", 8),
        ("crate::strategy", 13),
        ("crate::runtime", 14),
        ("tokio", 15),
    ];
    let want: Vec<(String, usize)> = want.iter().map(|(n, l)| ((*n).to_owned(), *l)).collect();
    assert_eq!(names, want);
    assert_eq!(f.module, ["strategy", "sub"]);
    assert!(!f.is_cli());
    assert!(SourceFile::new("src/market/cli.rs", "").is_cli());
    assert_eq!(SourceFile::new("src/market/mod.rs", "").module, ["market"]);
}

#[test]
fn modules_import_only_across_allowed_layers() {
    let root = repo_root();
    let mut files = Vec::new();
    rust_files(&root, &root.join("src"), &mut files);
    for top in COMPONENTS.iter().chain(&["model", "cli"]) {
        assert!(files.iter().any(|f| f.top() == *top), "no source file of `{top}` found under src/");
    }
    // Rule → the places that break it.
    let mut broken: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut known_seen = BTreeSet::new();
    for f in &files {
        for (name, line) in f.names() {
            for rule in RULES.iter().filter(|r| (r.applies)(f) && (r.forbids)(&name)) {
                if KNOWN.contains(&(f.path.as_str(), name.as_str())) {
                    known_seen.insert((f.path.as_str(), name.clone()));
                } else {
                    broken.entry(rule.says).or_default().push(format!("  {}:{line}: {name}", f.path));
                }
            }
        }
    }
    let stale: Vec<String> = KNOWN
        .iter()
        .filter(|(path, name)| !known_seen.contains(&(*path, (*name).to_owned())))
        .map(|(path, name)| format!("  {path} no longer names {name}"))
        .collect();
    if !stale.is_empty() {
        broken.insert("gone: remove from KNOWN in tests/layering.rs", stale);
    }
    let report: Vec<String> =
        broken.iter().map(|(says, places)| format!("{says}:\n{}", places.join("\n"))).collect();
    assert!(report.is_empty(), "layering broken\n{}", report.join("\n"));
}
