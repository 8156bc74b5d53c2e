//! `cargo bench -p auth-core --bench tokens`
//!
//! Our full access-token verification (cache off), the same with the verified-token
//! cache hit, and a plain `jsonwebtoken::decode` of the same token with the same key, in
//! one run (ratios from one run only: machines are noisy).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark aborts on a broken setup

use std::hint::black_box;

use auth_core::token::{Algorithm, Key, KeyRing, Subject, TokenConfig, TokenService};
use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;

const ACCESS: &[u8] = b"bench-access-secret-0123456789abcdef";
const REFRESH: &[u8] = b"bench-refresh-secret-0123456789abcde";

/// What a hand-written check would decode into: the contract's claims, no extras.
#[allow(dead_code)]
#[derive(Deserialize)]
struct PlainClaims {
    sub: String,
    exp: u64,
    iat: u64,
    nbf: u64,
    jti: String,
    iss: String,
    aud: String,
    sid: String,
    #[serde(rename = "type")]
    token_type: String,
    email: String,
    roles: Vec<String>,
}

fn verify(c: &mut Criterion) {
    let svc = TokenService::new(
        KeyRing::new(Key::hmac("a1", Algorithm::HS256, ACCESS).expect("key")),
        KeyRing::new(Key::hmac("r1", Algorithm::HS256, REFRESH).expect("key")),
        TokenConfig::default()
            .issuer("auth-reference")
            .audience("auth-reference")
            .verified_cache(0),
    )
    .expect("service");
    let cached = TokenService::new(
        KeyRing::new(Key::hmac("a1", Algorithm::HS256, ACCESS).expect("key")),
        KeyRing::new(Key::hmac("r1", Algorithm::HS256, REFRESH).expect("key")),
        TokenConfig::default()
            .issuer("auth-reference")
            .audience("auth-reference"),
    )
    .expect("service");
    let subject = Subject::new("1")
        .with_email("alice@example.com")
        .with_roles(["admin"]);
    let token = svc.issue_pair(&subject).expect("issue").access.token;

    let key = jsonwebtoken::DecodingKey::from_secret(ACCESS).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&["auth-reference"]);
    validation.set_audience(&["auth-reference"]);
    validation.validate_nbf = true;

    assert!(jsonwebtoken::decode::<PlainClaims>(&token, &key, &validation).is_ok());
    assert!(svc.verify_access(&token).is_ok());

    let mut group = c.benchmark_group("hs256_access_verify");
    group.bench_function("plain_jsonwebtoken_decode", |b| {
        b.iter(|| jsonwebtoken::decode::<PlainClaims>(black_box(&token), &key, &validation))
    });
    group.bench_function("auth_core_verify_access", |b| {
        b.iter(|| svc.verify_access(black_box(&token)))
    });
    assert!(cached.verify_access(&token).is_ok());
    group.bench_function("auth_core_verify_access_cached", |b| {
        b.iter(|| cached.verify_access(black_box(&token)))
    });
    group.finish();

    c.bench_function("hs256_issue_pair", |b| {
        b.iter(|| svc.issue_pair(black_box(&subject)))
    });
}

criterion_group!(benches, verify);
criterion_main!(benches);
