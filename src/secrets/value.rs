//! Secret values in memory: [`SecretString`] (zeroized on drop, never printed) and
//! [`SecretMap`] (the decrypted keys of one secrets file).
//!
//! Nothing in this module ever formats a secret: `Debug` and `Display` print `[redacted]`.
//! The only way to the characters is [`SecretString::expose`], which makes every reveal
//! easy to find with grep.

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroizing;

/// What `Debug`/`Display` print instead of a secret.
pub const REDACTED: &str = "[redacted]";

/// A secret text value: wiped from memory when dropped, `[redacted]` when formatted.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wrap a value (the `String` is moved, not copied, so no stray copy is left behind).
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The secret characters. Call only where the value is really needed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Another name for [`SecretString`], for code that talks about "values".
pub type SecretValue = SecretString;

/// The decrypted top-level keys of one secrets file, in key order.
///
/// Nested maps and lists are flattened to `outer.inner` / `list.0` keys; non-string scalars
/// keep the text sops would print (`8443`, `true`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretMap {
    values: BTreeMap<String, SecretString>,
}

impl SecretMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&SecretString> {
        self.values.get(key)
    }

    /// Insert or replace a value.
    pub fn insert(&mut self, key: impl Into<String>, value: SecretString) {
        self.values.insert(key.into(), value);
    }

    /// Remove a value, returning it.
    pub fn remove(&mut self, key: &str) -> Option<SecretString> {
        self.values.remove(key)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The key names, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Key/value pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SecretString)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the map has no keys.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl fmt::Debug for SecretMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.values.keys().map(|k| (k, REDACTED))).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = SecretString::from("hunter2-canary");
        assert_eq!(format!("{s}"), REDACTED);
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(s.expose(), "hunter2-canary");
        let mut m = SecretMap::new();
        m.insert("api_key", s);
        let dbg = format!("{m:?}");
        assert!(dbg.contains("api_key") && !dbg.contains("hunter2"), "{dbg}");
    }
}
