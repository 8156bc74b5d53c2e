//! `cargo bench -p auth-redis --bench revocation`
//!
//! The per-request revocation check (blocked `jti`, revoked family, user cut-off), in
//! blocklist and allowlist mode, on the memory store and on Redis over loopback (`AUTH_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`), in one run.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark aborts on a broken setup

use std::hint::black_box;

use auth_core::store::{MemoryStore, RefreshFamilies, Revocations, TokenMeta, TokenRef};
use auth_redis::RedisStore;
use criterion::{Criterion, criterion_group, criterion_main};

fn check(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let url =
        std::env::var("AUTH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = rt
        .block_on(RedisStore::connect(&url, "authbench"))
        .unwrap_or_else(|e| panic!("this benchmark needs Redis at {url}: {e}"));
    let memory = MemoryStore::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let t = TokenRef {
        iss: "auth-reference",
        jti: "bench-jti",
        sid: "bench-sid",
        sub: "1",
        iat: now,
        exp: now + 900,
    };
    let revoked = TokenRef {
        jti: "bench-revoked",
        ..t
    };
    for store in [&redis as &(dyn Revocations + Sync), &memory] {
        rt.block_on(store.revoke_token(&revoked)).expect("revoke");
    }
    rt.block_on(redis.start("1", "bench-sid", "r", now + 900))
        .expect("start");
    rt.block_on(memory.start("1", "bench-sid", "r", now + 900))
        .expect("start");

    let meta = TokenMeta {
        issued: now,
        client: Some("127.0.0.1".into()),
        user_agent: None,
    };
    rt.block_on(redis.list_token(&t, &meta)).expect("list");
    rt.block_on(memory.list_token(&t, &meta)).expect("list");

    let mut g = c.benchmark_group("revocation_check");
    g.bench_function("memory", |b| {
        b.iter(|| rt.block_on(memory.check(black_box(&t))))
    });
    g.bench_function("memory_revoked", |b| {
        b.iter(|| rt.block_on(memory.check(black_box(&revoked))))
    });
    g.bench_function("redis_loopback", |b| {
        b.iter(|| rt.block_on(redis.check(black_box(&t))))
    });
    g.bench_function("redis_loopback_revoked", |b| {
        b.iter(|| rt.block_on(redis.check(black_box(&revoked))))
    });
    g.bench_function("memory_allowlist", |b| {
        b.iter(|| rt.block_on(memory.check_listed(black_box(&t))))
    });
    g.bench_function("redis_loopback_allowlist", |b| {
        b.iter(|| rt.block_on(redis.check_listed(black_box(&t))))
    });
    g.finish();
}

criterion_group!(benches, check);
criterion_main!(benches);
