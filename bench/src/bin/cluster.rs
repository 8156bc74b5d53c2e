//! `bench-cluster` (run by `cargo xtask bench`)
//!
//! The Redis store on one server (`AUTH_TEST_REDIS_URL`, default 127.0.0.1:6379) beside
//! a local Redis Cluster of 3 primaries this binary starts itself
//! ([`auth_bench::cluster::start`]; stopped at exit):
//! per operation, sequential on one task, over 200 users spread over the slots:
//! - `authenticate`: HS256 JWT verify + the revocation check, direct (one `EVALSHA`);
//! - the same with the replica (the check answered locally);
//! - `refresh`: verify + check + rotation script + the new pair.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on a broken setup

use std::sync::Arc;
use std::time::Instant;

use auth_core::TokenManager;
use auth_core::credential::{MemoryUsers, User};
use auth_core::store::StateStore;
use auth_core::token::{Algorithm, Key, KeyRing, TokenConfig, TokenService};
use auth_redis::{RedisStore, ReplicaConfig};

const USERS: usize = 200;
const CHECKS: usize = 20_000;
const REFRESHES: usize = 2_000;

fn manager(store: Arc<dyn StateStore>, users: Arc<MemoryUsers>) -> TokenManager {
    let tokens = TokenService::new(
        KeyRing::new(Key::hmac("a", Algorithm::HS256, &[1; 32]).unwrap()),
        KeyRing::new(Key::hmac("r", Algorithm::HS256, &[2; 32]).unwrap()),
        TokenConfig::default(),
    )
    .unwrap();
    TokenManager::new(tokens, users, store)
}

/// Mean µs per `authenticate` and per `refresh` on `store`.
async fn measure(store: Arc<dyn StateStore>) -> (f64, f64) {
    let users = Arc::new(MemoryUsers::new());
    let mut list = Vec::new();
    for i in 0..USERS {
        let user = User {
            id: format!("bench-user-{i}"),
            username: format!("bench{i}"),
            email: None,
            roles: vec![],
            password_hash: String::new(),
            disabled: false,
            data: serde_json::Value::Null,
        };
        users.insert(user.clone());
        list.push(user);
    }
    let m = manager(store, users);
    let mut pairs = Vec::new();
    for u in &list {
        pairs.push(m.login(u, None).await.unwrap());
    }
    for p in pairs.iter().take(20) {
        m.authenticate(&p.access.token).await.unwrap(); // scripts loaded everywhere
    }
    let start = Instant::now();
    for i in 0..CHECKS {
        m.authenticate(&pairs[i % USERS].access.token)
            .await
            .unwrap();
    }
    let check = start.elapsed().as_secs_f64() * 1e6 / CHECKS as f64;
    let start = Instant::now();
    for i in 0..REFRESHES {
        let k = i % USERS;
        let (next, _) = m.refresh(&pairs[k].refresh.token, None).await.unwrap();
        pairs[k] = next;
    }
    let refresh = start.elapsed().as_secs_f64() * 1e6 / REFRESHES as f64;
    (check, refresh)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url =
        std::env::var("AUTH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // Stopped when this guard drops, at the end of `main`.
    let local = auth_bench::cluster::start().expect("a local Redis Cluster");
    let nodes = local.urls.clone();
    let ns = format!("bench-cluster-{}", std::process::id());

    let single = RedisStore::connect(&url, &ns).await.unwrap();
    let cluster = RedisStore::connect_cluster(&nodes, &ns).await.unwrap();
    let single_replica = RedisStore::connect(&url, &format!("{ns}-r"))
        .await
        .unwrap()
        .with_replica(ReplicaConfig::default())
        .await
        .unwrap();
    let cluster_replica = RedisStore::connect_cluster(&nodes, &format!("{ns}-r"))
        .await
        .unwrap()
        .with_replica(ReplicaConfig::default())
        .await
        .unwrap();

    let (s_check, s_refresh) = measure(Arc::new(single)).await;
    let (c_check, c_refresh) = measure(Arc::new(cluster)).await;
    let (sr_check, _) = measure(Arc::new(single_replica)).await;
    let (cr_check, _) = measure(Arc::new(cluster_replica)).await;
    println!(
        "authenticate (JWT + revocation check): single {s_check:.1} µs, cluster {c_check:.1} µs; \
         with replica: single {sr_check:.2} µs, cluster {cr_check:.2} µs; \
         refresh: single {s_refresh:.1} µs, cluster {c_refresh:.1} µs"
    );
    println!("result cluster_single_check_us {s_check:.1}");
    println!("result cluster_cluster_check_us {c_check:.1}");
    println!("result cluster_single_replica_check_us {sr_check:.2}");
    println!("result cluster_cluster_replica_check_us {cr_check:.2}");
    println!("result cluster_single_refresh_us {s_refresh:.1}");
    println!("result cluster_cluster_refresh_us {c_refresh:.1}");
}
