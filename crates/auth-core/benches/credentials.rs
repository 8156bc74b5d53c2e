//! `cargo bench -p auth-core --bench credentials`
//!
//! argon2id verification at OWASP's defaults (the cost of one login) and API-key
//! verification (format + checksum + SHA-256 + lookup + constant-time compare).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark aborts on a broken setup

use std::hint::black_box;
use std::sync::Arc;

use auth_core::clock::SystemClock;
use auth_core::credential::{ApiKeyConfig, ApiKeys, MemoryApiKeys, PasswordParams, Passwords};
use criterion::{Criterion, criterion_group, criterion_main};

fn passwords(c: &mut Criterion) {
    let pw = Passwords::new(PasswordParams::default()).expect("params");
    let phc = pw.hash_blocking("password123").expect("hash");
    let mut g = c.benchmark_group("argon2id_default");
    g.sample_size(20);
    g.bench_function("verify_m19456_t2_p1", |b| {
        b.iter(|| pw.verify_blocking(black_box("password123"), black_box(&phc)))
    });
    g.finish();
}

fn api_keys(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let keys = ApiKeys::new(
        ApiKeyConfig::default(),
        Arc::new(MemoryApiKeys::new()),
        Arc::new(SystemClock),
    )
    .expect("config");
    let key = rt
        .block_on(keys.create("bench", "alice", vec!["admin".into()], None))
        .expect("create")
        .key;
    let mut broken = key.clone();
    broken.pop();
    broken.push('!');
    let mut g = c.benchmark_group("api_key");
    g.bench_function("verify_valid", |b| {
        b.iter(|| rt.block_on(keys.verify(black_box(&key))))
    });
    g.bench_function("refuse_bad_checksum", |b| {
        b.iter(|| rt.block_on(keys.verify(black_box(&broken))))
    });
    g.finish();
}

criterion_group!(benches, passwords, api_keys);
criterion_main!(benches);
