//! Text that came from a file or another process, made safe to show on a terminal.
//!
//! A status file, a journal row or a data file can hold anything, ANSI escape sequences
//! included (`\x1b[2J` clears the screen; others retitle the window or, on some terminals,
//! write to the clipboard). Whatever `runner` prints that it did not write itself in this
//! process goes through [`printable`].

use std::borrow::Cow;

/// `s` with every control character (C0, DEL, C1; tab included) shown as `\u{…}`, so it
/// prints as plain text on one line.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_become_visible_text_and_plain_text_is_untouched() {
        assert!(matches!(printable("spy-9ma ok"), Cow::Borrowed(_)));
        assert_eq!(printable("a\x1b[2Jb\nc\u{9b}d"), "a\\u{1b}[2Jb\\u{a}c\\u{9b}d");
    }
}
