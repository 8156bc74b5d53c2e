//! `cargo bench -p auth-sqlx --bench stores` (also run by `cargo xtask criterion`)
//!
//! The store work of a login, a refresh and a session-authenticated request, on the
//! memory store, Redis (`AUTH_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`), a
//! SQLite file and Postgres (a fresh database on `AUTH_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`), in one run. Password hashing (the same
//! ~25 ms of argon2 on every store) and HTTP are left out: this is what the store adds.
//!
//! - login: reserve the username's and the address's throttle counters, find the user,
//!   reset and release them, start the refresh family;
//! - refresh: the revocation check of the presented token and the rotation;
//! - session: load the session and the revocation check of its user.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark aborts on a broken setup

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use auth_core::credential::{MemoryUsers, User, UserStore};
use auth_core::store::{Limit, MemoryStore, SessionRecord, StateStore, TokenRef};
use auth_sqlx::SqlStore;
use criterion::{Criterion, criterion_group, criterion_main};
use sqlx::Connection as _;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn alice() -> User {
    User {
        id: "1".into(),
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        roles: vec!["admin".into()],
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$x$y".into(),
        disabled: false,
        data: serde_json::Value::Null,
    }
}

async fn fresh_postgres() -> String {
    let admin = std::env::var("AUTH_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("this benchmark needs Postgres at {admin}: {e}"));
    let name = format!("auth_bench_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

struct Backend {
    name: &'static str,
    state: Arc<dyn StateStore>,
    users: Arc<dyn UserStore>,
}

async fn backends() -> Vec<Backend> {
    let memory_users = Arc::new(MemoryUsers::new());
    memory_users.insert(alice());
    let redis_url =
        std::env::var("AUTH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = auth_redis::RedisStore::connect(
        &redis_url,
        &format!("authbench-sql-{}", std::process::id()),
    )
    .await
    .unwrap_or_else(|e| panic!("this benchmark needs Redis at {redis_url}: {e}"));
    let sqlite_path = std::env::temp_dir().join(format!("auth_bench_{}.db", std::process::id()));
    let _ = std::fs::remove_file(&sqlite_path);
    let sqlite = SqlStore::connect(&format!("sqlite://{}", sqlite_path.display()))
        .await
        .unwrap();
    let postgres = SqlStore::connect(&fresh_postgres().await).await.unwrap();
    for sql in [&sqlite, &postgres] {
        sql.users().insert_if_absent(&alice()).await.unwrap();
    }
    vec![
        Backend {
            name: "memory",
            state: Arc::new(MemoryStore::new()),
            users: memory_users.clone(),
        },
        Backend {
            name: "redis",
            state: Arc::new(redis),
            users: memory_users,
        },
        Backend {
            name: "sqlite",
            users: Arc::new(sqlite.users()),
            state: Arc::new(sqlite),
        },
        Backend {
            name: "postgres",
            users: Arc::new(postgres.users()),
            state: Arc::new(postgres),
        },
    ]
}

fn stores(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let backends = rt.block_on(backends());
    let limit = Limit {
        max: 5,
        backoff: 60,
        backoff_max: 900,
    };
    let window = Duration::from_secs(900);
    let n = AtomicU64::new(0);

    let mut g = c.benchmark_group("login_store_work");
    for b in &backends {
        g.bench_function(b.name, |bench| {
            bench.iter(|| {
                rt.block_on(async {
                    let i = n.fetch_add(1, Ordering::Relaxed);
                    b.state.reserve("user:alice", window, &limit).await.unwrap();
                    b.state
                        .reserve("addr:127.0.0.1", window, &limit)
                        .await
                        .unwrap();
                    let user = b.users.find_by_username("alice").await.unwrap().unwrap();
                    b.state.reset("user:alice").await.unwrap();
                    b.state.release("addr:127.0.0.1").await.unwrap();
                    b.state
                        .start(&user.id, &format!("fam-{i}"), "r0", now() + 3600)
                        .await
                        .unwrap();
                })
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("refresh_store_work");
    for b in &backends {
        rt.block_on(b.state.start("1", "bench-fam", "r-0", now() + 3600))
            .unwrap();
        let current = AtomicU64::new(0);
        g.bench_function(b.name, |bench| {
            bench.iter(|| {
                rt.block_on(async {
                    let i = current.fetch_add(1, Ordering::Relaxed);
                    let (jti, next) = (format!("r-{i}"), format!("r-{}", i + 1));
                    let t = now();
                    let presented = TokenRef {
                        iss: "auth-reference",
                        jti: &jti,
                        sid: "bench-fam",
                        sub: "1",
                        iat: t,
                        exp: t + 3600,
                    };
                    b.state.check(&presented).await.unwrap();
                    let r = b
                        .state
                        .rotate("1", "bench-fam", &jti, &next, t + 3600)
                        .await
                        .unwrap();
                    assert_eq!(r, auth_core::store::Rotation::Rotated);
                })
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("session_request_store_work");
    for b in &backends {
        let t = now();
        let record = SessionRecord {
            user_id: "1".into(),
            roles: vec!["admin".into()].into(),
            created: t,
            last_seen: t,
            csrf_token: "csrf".into(),
            data: serde_json::json!({}),
            expires_at: t + 3600,
            amr: Default::default(),
        };
        rt.block_on(b.state.insert_session("bench-session", &record))
            .unwrap();
        g.bench_function(b.name, |bench| {
            bench.iter(|| {
                rt.block_on(async {
                    let s = b.state.load_session("bench-session").await.unwrap();
                    assert!(s.is_some());
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = stores
}
criterion_main!(benches);
