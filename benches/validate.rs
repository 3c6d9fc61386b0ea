//! Benchmark: `runner validate` over 1,000 recipes (every pass, cross-recipe checks
//! included), through the library API the CLI uses. Target: under 1 s in release.
//!
//! Run: `cargo bench --bench validate`.

use std::fs;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use runner::recipe::validate::{ValidateOptions, validate_paths};

const RECIPE: &str = include_str!("../recipes/spy-9ma.yaml");

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let recipes = dir.path().join("recipes");
    fs::create_dir_all(&recipes).expect("mkdir");
    fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    // Validate opens the data as the replay does (up to its first trade): the real file.
    let data = "data/spy-1s-trade-2013-10-07_11.csv.gz";
    fs::copy(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(data), dir.path().join(data))
        .expect("data");
    for i in 0..1_000 {
        let text = RECIPE
            .replace("agent: spy-9ma", &format!("agent: spy-9ma-{i}"))
            .replace("account: paper-spy", &format!("account: paper-spy-{i}"));
        fs::write(recipes.join(format!("r{i:04}.yaml")), text).expect("write recipe");
    }
    let paths = vec![PathBuf::from(&recipes)];
    let opts = ValidateOptions { fleet: None, no_fleet_discovery: true, check_secrets: false };
    // Sanity: all 1,000 are valid, so the benchmark measures the full pipeline.
    let reports = validate_paths(&paths, &opts).expect("validate");
    assert_eq!(reports.len(), 1_000);
    assert!(reports.iter().all(|r| r.errors() == 0), "bench recipes must be valid");

    let mut g = c.benchmark_group("validate");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(10));
    g.bench_function("1000_recipes", |b| {
        b.iter(|| validate_paths(&paths, &opts).expect("validate"));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
