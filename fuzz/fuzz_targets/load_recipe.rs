//! Fuzz the recipe loader: any bytes through every single-file validation pass
//! (UTF-8 check, bounded YAML parse, span map, JSON Schema, typed load, semantic checks)
//! and the diagnostic renderer. Nothing may panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runner::recipe::load::Source;
use runner::recipe::schema::SchemaKind;
use runner::recipe::validate::check_source;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let kind = if data.first().is_some_and(|b| b & 1 == 1) { SchemaKind::Fleet } else { SchemaKind::Recipe };
    let rep = check_source(Source::new("fuzz.yaml", text), kind, std::path::Path::new("/nonexistent"));
    for d in &rep.diagnostics {
        let _ = d.render();
    }
});
