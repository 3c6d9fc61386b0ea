//! Decrypting a 100-key SOPS YAML file with an age identity (target: under 5 ms).

use criterion::{Criterion, criterion_group, criterion_main};
use runner::secrets::sops::{self, EncryptConfig, Format, KeySource, PlainDocument};

fn decrypt_100_keys(c: &mut Criterion) {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let mut text = String::from("# broker credentials\n");
    for i in 0..100 {
        text.push_str(&format!("key_{i:03}: secret-value-{i}-abcdefghijklmnopqrstuvwxyz\n"));
    }
    let doc = PlainDocument::parse(text.as_bytes(), Format::Yaml, "bench.yaml").expect("valid YAML");
    let enc =
        sops::encrypt(&doc, Format::Yaml, &EncryptConfig::new(vec![recipient], vec![])).expect("encrypts");
    let keys = KeySource::age(vec![identity]);
    c.bench_function("sops_decrypt_yaml_100_keys_age", |b| {
        b.iter(|| {
            sops::decrypt(std::hint::black_box(&enc), Format::Yaml, "bench.yaml", &keys).expect("decrypts")
        })
    });
}

criterion_group!(benches, decrypt_100_keys);
criterion_main!(benches);
