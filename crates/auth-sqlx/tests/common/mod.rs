//! Real databases for the tests: a fresh Postgres database per test on the server at
//! `AUTH_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`;
//! `.ci/run` starts a throwaway cluster when none answers), and a fresh SQLite file.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use auth_core::clock::Clock;
use auth_sqlx::{SqlOptions, SqlStore};
use sqlx::Connection as _;

/// The server the Postgres tests use.
pub fn admin_url() -> String {
    std::env::var("AUTH_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new, empty schema on the Postgres server, as a URL whose connections use it
/// (`search_path`): tables, indexes and sqlx's migration table all live in it, so tests
/// never see each other's rows. Panics loudly when no server answers.
pub async fn fresh_postgres() -> String {
    let admin = admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "no Postgres at AUTH_TEST_DATABASE_URL ({e}); `.ci/run` starts one \
             (Debian's postgresql package)"
            )
        });
    let name = unique("auth_test");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let sep = if admin.contains('?') { '&' } else { '?' };
    format!("{admin}{sep}options[search_path]={name}")
}

/// A new SQLite file (not yet created); its URL.
pub fn fresh_sqlite() -> String {
    let path = std::env::temp_dir().join(format!("{}.db", unique("auth_test")));
    format!("sqlite://{}", path.display())
}

/// A store on `url` reading time from `clock`.
pub async fn store(url: &str, clock: Arc<dyn Clock>) -> SqlStore {
    SqlStore::connect_with(
        url,
        SqlOptions {
            clock,
            ..SqlOptions::default()
        },
    )
    .await
    .unwrap()
}
