//! `bench-cluster` (run by `cargo xtask bench`)
//!
//! The Redis store on one server (`AUTH_TEST_REDIS_URL`, default 127.0.0.1:6379) beside
//! a local Redis Cluster of 3 primaries this binary starts itself (`redis-server
//! --cluster-enabled yes`, `redis-cli --cluster create`, free ports; stopped at exit):
//! per operation, sequential on one task, over 200 users spread over the slots:
//! - `authenticate`: HS256 JWT verify + the revocation check, direct (one `EVALSHA`);
//! - the same with the replica (the check answered locally);
//! - `refresh`: verify + check + rotation script + the new pair.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on a broken setup

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::TokenManager;
use auth_core::credential::{MemoryUsers, User};
use auth_core::store::StateStore;
use auth_core::token::{Algorithm, Key, KeyRing, TokenConfig, TokenService};
use auth_redis::{RedisStore, ReplicaConfig};

const USERS: usize = 200;
const CHECKS: usize = 20_000;
const REFRESHES: usize = 2_000;

fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// The nodes run under a shell that kills them when this process's end of its stdin
/// closes (at exit, however it ends).
fn start_cluster() -> (Vec<Child>, Vec<String>) {
    let mut children = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..3 {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("bench-cluster-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"redis-server "$@" & p=$!; while read -r _; do :; done; kill $p; wait $p; rm -rf "$D""#)
            .arg("sh")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--cluster-enabled", "yes", "--dir"])
            .arg(&dir)
            .env("D", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
        children.push(child);
        ports.push(port);
    }
    let out = Command::new("timeout")
        .args(["60", "redis-cli", "--cluster", "create"])
        .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "redis-cli --cluster create failed");
    for p in &ports {
        loop {
            let info = Command::new("redis-cli")
                .args(["-p", &p.to_string(), "cluster", "info"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let urls = ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect();
    (children, urls)
}

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
        m.authenticate(&pairs[i % USERS].access.token).await.unwrap();
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
    let (_nodes, nodes) = start_cluster();
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
