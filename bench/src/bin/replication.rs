//! `bench-replication` (run by `cargo xtask bench`)
//!
//! Two instances (stores) with replicas on the Redis at `AUTH_TEST_REDIS_URL` (default
//! 127.0.0.1:6379): 1 000 revocations made on A, each timed from the start of A's
//! revoking call until B's check refuses the token (p50, p99, max); then the cost of one
//! check on B: answered by the replica vs the direct one-round-trip script (a store
//! without replica), in the same run.
//!
//! With `--postgres URL` (a fresh schema: `bench-run` makes one on the server at
//! `AUTH_TEST_DATABASE_URL`), the same 1 000 revocations between two `auth-sqlx` stores
//! on that database, each with its replica (`SqlStore::with_replica`: LISTEN/NOTIFY),
//! reported as `pg_propagation_*`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on a broken setup

use std::time::{Duration, Instant};

use auth_core::store::{Revocations, TokenRef, TokenStatus};
use auth_redis::{RedisStore, ReplicaConfig};

/// Revocations timed per store.
const REVOCATIONS: usize = 1000;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn token(jti: &str, now: u64) -> TokenRef<'_> {
    TokenRef {
        iss: "bench",
        jti,
        sid: "s",
        sub: "u",
        iat: now,
        exp: now + 600,
    }
}

/// [`REVOCATIONS`] revocations made on `a`, each timed from the start of A's revoking
/// call (its round trip included) until `b` refuses the token; sorted. Prints the
/// figures as `result {prefix}propagation_{p50,p99,max}_us`.
async fn propagation(a: &impl Revocations, b: &impl Revocations, prefix: &str, now: u64) {
    let jtis: Vec<String> = (0..REVOCATIONS).map(|i| format!("{prefix}j{i}")).collect();
    let mut lat = Vec::with_capacity(REVOCATIONS);
    for jti in &jtis {
        let t = token(jti, now);
        let start = Instant::now();
        a.revoke_token(&t).await.unwrap();
        while b.check(&t).await.unwrap() != TokenStatus::Revoked {
            tokio::task::yield_now().await;
            assert!(start.elapsed() < Duration::from_secs(5), "never propagated");
        }
        lat.push(start.elapsed());
    }
    lat.sort();
    let max = lat[lat.len() - 1];
    println!(
        "{prefix}propagation A->B over {} revocations: p50 {:?}, p99 {:?}, max {max:?}",
        lat.len(),
        pct(&lat, 0.50),
        pct(&lat, 0.99),
    );
    println!(
        "result {prefix}propagation_p50_us {}",
        pct(&lat, 0.50).as_micros()
    );
    println!(
        "result {prefix}propagation_p99_us {}",
        pct(&lat, 0.99).as_micros()
    );
    println!("result {prefix}propagation_max_us {}", max.as_micros());
}

/// The Postgres replica's propagation between two stores on `url` (a fresh schema).
async fn postgres(url: &str, now: u64) {
    let replica = || async {
        auth_sqlx::SqlStore::connect(url)
            .await
            .unwrap()
            .with_replica(auth_sqlx::ReplicaConfig::default())
            .await
            .unwrap()
    };
    let a = replica().await;
    let b = replica().await;
    propagation(&a, &b, "pg_", now).await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url =
        std::env::var("AUTH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let ns = format!("bench-replication-{}", std::process::id());
    let a = RedisStore::connect(&url, &ns)
        .await
        .unwrap()
        .with_replica(ReplicaConfig::default())
        .await
        .unwrap();
    let b = RedisStore::connect(&url, &ns)
        .await
        .unwrap()
        .with_replica(ReplicaConfig::default())
        .await
        .unwrap();
    let direct = RedisStore::connect(&url, &ns).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    propagation(&a, &b, "", now).await;

    let active = token("never-revoked", now);
    for (name, store) in [("replica", &b), ("direct", &direct)] {
        for _ in 0..1000 {
            store.check(&active).await.unwrap();
        }
        let n = 20_000;
        let start = Instant::now();
        for _ in 0..n {
            assert_eq!(store.check(&active).await.unwrap(), TokenStatus::Active);
        }
        let micros = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("check ({name}): {micros:.2} µs");
        println!("result check_{name}_us {micros:.2}");
    }

    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, pg_url] = args.as_slice()
        && flag == "--postgres"
    {
        postgres(pg_url, now).await;
    }
}
