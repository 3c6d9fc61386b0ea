//! YAML store (placeholder, filled in next).
use super::error::Result;
use super::tree::{MapItem, Value};
/// Parses.
pub fn parse(_bytes: &[u8], _file: &str) -> Result<Vec<Vec<MapItem>>> {
    Err(super::error::SopsError::Unsupported("YAML not yet".into()))
}
/// Emits.
pub fn emit(_b: &[Vec<MapItem>], _s: Option<&Value>) -> Vec<u8> {
    vec![]
}
