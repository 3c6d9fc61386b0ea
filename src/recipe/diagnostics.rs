//! Diagnostics: one located problem (`file:line:column`, severity, code, message, hint)
//! and the deterministic renderers for humans (source line with a caret) and JSON.

use std::fmt::Write as _;

use serde::Serialize;

/// A 1-based position in a source file, with the length of the marked text (in chars).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// How many characters the caret underlines (at least 1).
    pub len: usize,
}

impl Pos {
    /// Line 1, column 1.
    pub const START: Pos = Pos { line: 1, column: 1, len: 1 };
}

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is invalid.
    Error,
    /// Suspicious but usable (an error under `--deny-warnings`).
    Warning,
    /// Information: something could not be checked here (e.g. no key to open a secret on
    /// a CI machine). Shown and counted, but never fails validation, even under
    /// `--deny-warnings`.
    Note,
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file, as given on the command line (or found in a directory).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Error, warning or note.
    pub severity: Severity,
    /// A stable identifier of the kind of problem, e.g. `unknown-field`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to fix it, if we can tell.
    pub hint: Option<String>,
    /// Caret length.
    #[serde(skip)]
    pub len: usize,
    /// The source line the caret points into.
    #[serde(skip)]
    pub source_line: String,
    /// About the file as a whole (e.g. it cannot be read): rendered without a source line.
    #[serde(skip)]
    pub whole_file: bool,
}

impl Diagnostic {
    /// A new error.
    pub fn error(
        file: &str,
        pos: Pos,
        code: &'static str,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        Self {
            file: file.to_string(),
            line: pos.line,
            column: pos.column,
            severity: Severity::Error,
            code,
            message: message.into(),
            hint,
            len: pos.len.max(1),
            source_line: String::new(),
            whole_file: false,
        }
    }

    /// An error about a whole file or directory (one that cannot be read, a directory
    /// holding no recipes): no line to show. In JSON it is at line 1, column 1.
    pub fn file_error(
        file: &str,
        code: &'static str,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        Self { whole_file: true, ..Self::error(file, Pos::START, code, message, hint) }
    }

    /// A new warning.
    pub fn warning(
        file: &str,
        pos: Pos,
        code: &'static str,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        Self { severity: Severity::Warning, ..Self::error(file, pos, code, message, hint) }
    }

    /// A new note (informational; never fails validation).
    pub fn note(
        file: &str,
        pos: Pos,
        code: &'static str,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        Self { severity: Severity::Note, ..Self::error(file, pos, code, message, hint) }
    }

    /// Attach the text of the line the diagnostic points into.
    pub fn with_source_line(mut self, line: &str) -> Self {
        self.source_line = line.to_string();
        self
    }

    /// Render for people:
    ///
    /// ```text
    /// error[unknown-field]: unknown field `kidn` in `provider`
    ///   --> recipes/x.yaml:9:3
    ///    |
    ///  9 |   kidn: replay
    ///    |   ^^^^
    ///    = hint: did you mean `kind`?
    /// ```
    pub fn render(&self) -> String {
        let mut out = String::new();
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        let _ = writeln!(out, "{sev}[{}]: {}", self.code, self.message);
        if self.whole_file {
            let _ = writeln!(out, "  --> {}", self.file);
            if let Some(h) = &self.hint {
                let _ = writeln!(out, "   = hint: {h}");
            }
            return out;
        }
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        let _ = writeln!(out, "{pad}--> {}:{}:{}", self.file, self.line, self.column);
        let shown = printable(&mask_url_password(&self.source_line));
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{num} | {}", shown.trim_end());
        let before: String = shown.chars().take(self.column.saturating_sub(1)).collect();
        let lead: String = before.chars().map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
        let avail = shown.chars().count().saturating_sub(self.column.saturating_sub(1)).max(1);
        let carets = "^".repeat(self.len.clamp(1, avail));
        let _ = writeln!(out, "{pad} | {lead}{carets}");
        if let Some(h) = &self.hint {
            let _ = writeln!(out, "{pad} = hint: {h}");
        }
        out
    }
}

/// A URL's password (`scheme://user:PASSWORD@host`) shown as `***`: a recipe line is
/// echoed in diagnostics, and a password written into one must not reach a terminal or a log.
fn mask_url_password(line: &str) -> String {
    let Some(scheme) = line.find("://") else { return line.to_owned() };
    let rest = &line[scheme + 3..];
    let end =
        rest.find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'').unwrap_or(rest.len());
    let authority = &rest[..end];
    let Some(at) = authority.rfind('@') else { return line.to_owned() };
    let Some(colon) = authority[..at].find(':') else { return line.to_owned() };
    let masked = "*".repeat(at - colon - 1);
    format!("{}{}{}{}", &line[..scheme + 3], &authority[..=colon], masked, &line[scheme + 3 + at..])
}

/// The line with control characters (other than tab) shown as `?`, capped at 200 chars,
/// so binary garbage cannot mess up a terminal.
fn printable(line: &str) -> String {
    line.chars().take(200).map(|c| if c.is_control() && c != '\t' { '?' } else { c }).collect()
}

/// Did-you-mean: the closest candidate to `word`, if it is close enough.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&word.to_ascii_lowercase(), &c.to_ascii_lowercase());
        if score >= 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_password_in_the_line_is_masked() {
        assert_eq!(mask_url_password("    url: redis://u:hunter2@h:1/0"), "    url: redis://u:*******@h:1/0");
        assert_eq!(mask_url_password("    url: redis://h:6379/0"), "    url: redis://h:6379/0");
        assert_eq!(mask_url_password("kind: replay"), "kind: replay");
    }

    #[test]
    fn renders_caret_under_the_span() {
        let d = Diagnostic::error(
            "r.yaml",
            Pos { line: 3, column: 9, len: 7 },
            "unknown-kind",
            "unknown provider kind `replayy`",
            Some("did you mean `replay`?".into()),
        )
        .with_source_line("  kind: replayy");
        assert_eq!(
            d.render(),
            "error[unknown-kind]: unknown provider kind `replayy`\n --> r.yaml:3:9\n  |\n3 |   kind: replayy\n  |         ^^^^^^^\n  = hint: did you mean `replay`?\n"
        );
    }

    #[test]
    fn did_you_mean_picks_close_words_only() {
        assert_eq!(did_you_mean("kidn", ["kind", "path"]).as_deref(), Some("kind"));
        assert_eq!(did_you_mean("zzzz", ["kind", "path"]), None);
    }
}
