//! The document tree shared by every store: ordered maps, lists, scalars and comments,
//! mirroring Go sops' `TreeBranch` / `TreeItem` model.

use std::fmt;

use zeroize::Zeroize;

/// A value in a document (plaintext or, before decryption, `ENC[...]` strings).
#[derive(Clone, PartialEq)]
pub enum Value {
    /// `null` (never encrypted).
    Null,
    /// A string.
    Str(String),
    /// A 64-bit integer.
    Int(i64),
    /// A float (as Go sops, a float64).
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An ordered map with its comments.
    Map(Vec<MapItem>),
    /// A list with its comments.
    List(Vec<ListItem>),
}

/// One entry of a map: a key/value pair or a comment line (text after `#`).
#[derive(Clone, PartialEq)]
pub enum MapItem {
    /// `key: value`.
    Pair(String, Value),
    /// A comment line, without the leading `#`.
    Comment(String),
}

/// One entry of a list: a value or a comment line.
#[derive(Clone, PartialEq)]
pub enum ListItem {
    /// A list element.
    Value(Value),
    /// A comment line, without the leading `#`.
    Comment(String),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Str(_) => f.write_str("str([redacted])"),
            Value::Int(_) => f.write_str("int([redacted])"),
            Value::Float(_) => f.write_str("float([redacted])"),
            Value::Bool(_) => f.write_str("bool([redacted])"),
            Value::Map(items) => f.debug_list().entries(items).finish(),
            Value::List(items) => f.debug_list().entries(items).finish(),
        }
    }
}

impl fmt::Debug for MapItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapItem::Pair(k, v) => write!(f, "{k}: {v:?}"),
            MapItem::Comment(_) => f.write_str("#[redacted]"),
        }
    }
}

impl fmt::Debug for ListItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListItem::Value(v) => write!(f, "{v:?}"),
            ListItem::Comment(_) => f.write_str("#[redacted]"),
        }
    }
}

impl Zeroize for Value {
    fn zeroize(&mut self) {
        match self {
            Value::Str(s) => s.zeroize(),
            Value::Int(i) => i.zeroize(),
            Value::Float(x) => x.zeroize(),
            Value::Bool(b) => b.zeroize(),
            Value::Map(items) => items.iter_mut().for_each(|i| match i {
                MapItem::Pair(_, v) => v.zeroize(),
                MapItem::Comment(c) => c.zeroize(),
            }),
            Value::List(items) => items.iter_mut().for_each(|i| match i {
                ListItem::Value(v) => v.zeroize(),
                ListItem::Comment(c) => c.zeroize(),
            }),
            Value::Null => {}
        }
    }
}

impl Value {
    /// The value under `key` if this is a map.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(items) => map_get(items, key),
            _ => None,
        }
    }

    /// The string if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Str(_) => "string",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bool(_) => "bool",
            Value::Map(_) => "map",
            Value::List(_) => "list",
        }
    }
}

/// The value of `key` in an item list.
pub fn map_get<'a>(items: &'a [MapItem], key: &str) -> Option<&'a Value> {
    items.iter().find_map(|i| match i {
        MapItem::Pair(k, v) if k == key => Some(v),
        _ => None,
    })
}

/// A mutable reference to the value of `key` in an item list.
pub fn map_get_mut<'a>(items: &'a mut [MapItem], key: &str) -> Option<&'a mut Value> {
    items.iter_mut().find_map(|i| match i {
        MapItem::Pair(k, v) if k == key => Some(v),
        _ => None,
    })
}

/// Removes `key` from an item list, returning its value.
pub fn map_remove(items: &mut Vec<MapItem>, key: &str) -> Option<Value> {
    let pos = items.iter().position(|i| matches!(i, MapItem::Pair(k, _) if k == key))?;
    match items.remove(pos) {
        MapItem::Pair(_, v) => Some(v),
        MapItem::Comment(_) => None,
    }
}
