//! Migrations (idempotent, an older set upgrades) and the purge of expired rows, on a
//! real Postgres database and a real SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a test fails by panicking

mod common;

use std::sync::Arc;
use std::time::Duration;

use auth_core::clock::{Clock, ManualClock, SystemClock};
use auth_core::store::{
    Counters, Passkeys, RefreshFamilies, Revocations, SecondFactors, SessionRecord, Sessions,
    TokenRef, TokenStatus,
};
use auth_sqlx::{Pool, PurgeConfig, SqlOptions, SqlStore};

fn token(jti: &str, now: u64, ttl: u64) -> TokenRef<'_> {
    TokenRef {
        iss: "i",
        jti,
        sid: "s",
        sub: "u",
        iat: now,
        exp: now + ttl,
    }
}

/// Rows in `table`.
async fn rows(store: &SqlStore, table: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"));
    match store.pool() {
        Pool::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        Pool::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        _ => unreachable!(),
    }
}

async fn a_database_at_an_older_migration_set_upgrades_and_migrating_twice_is_a_no_op(url: String) {
    // The first set only, as an older release of the crate would have left it.
    let old = SqlStore::connect_with(
        &url,
        SqlOptions {
            migrate: false,
            ..SqlOptions::default()
        },
    )
    .await
    .unwrap();
    let now = SystemClock.unix_seconds();
    match old.pool() {
        Pool::Postgres(p) => auth_sqlx::POSTGRES_MIGRATIONS.run_to(1, p).await.unwrap(),
        Pool::Sqlite(p) => auth_sqlx::SQLITE_MIGRATIONS.run_to(1, p).await.unwrap(),
        _ => unreachable!(),
    }
    old.revoke_token(&token("j", now, 600)).await.unwrap();
    assert!(old.users().count().await.is_err(), "no user table yet");

    let new = SqlStore::connect(&url).await.unwrap();
    assert_eq!(
        new.check(&token("j", now, 600)).await.unwrap(),
        TokenStatus::Revoked,
        "data kept"
    );
    assert_eq!(
        new.users().count().await.unwrap(),
        0,
        "the users table was added"
    );
    assert!(
        new.begin_totp("u", "sealed").await.unwrap(),
        "the second factor's tables were added"
    );
    new.put_ceremony("c", "s", now + 60).await.unwrap();
    assert_eq!(
        new.take_ceremony("c").await.unwrap().as_deref(),
        Some("s"),
        "the passkeys' tables were added"
    );
    // Again, and concurrently from two starts: nothing changes, nothing fails.
    let (a, b) = tokio::join!(SqlStore::connect(&url), SqlStore::connect(&url));
    a.unwrap();
    b.unwrap();
    new.migrate().await.unwrap();
    assert_eq!(
        new.check(&token("j", now, 600)).await.unwrap(),
        TokenStatus::Revoked
    );
    assert_eq!(rows(&new, "_sqlx_migrations").await, 6);
}

/// Runs `sql` on the store's database.
async fn exec(store: &SqlStore, sql: &str) {
    match store.pool() {
        Pool::Postgres(p) => {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(p)
                .await
                .unwrap();
        }
        Pool::Sqlite(p) => {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(p)
                .await
                .unwrap();
        }
        _ => unreachable!(),
    }
}

/// Fault injection: a database trigger makes the *last* statement of "log out
/// everywhere" fail (the family update), after the user's cut-off was written and the
/// allowlist rows were deleted in the same transaction. The call fails (an error, not a
/// panic) and leaves no half-written row: no cut-off, the listed token still listed, the
/// family still live. Without the fault the same call then succeeds.
async fn a_failed_write_leaves_no_half_written_row(url: String) {
    let store = SqlStore::connect(&url).await.unwrap();
    let now = SystemClock.unix_seconds();
    let t = token("j1", now - 10, 600);
    store.start("u", "s", "j1", now + 600).await.unwrap();
    store
        .list_token(&t, &auth_core::store::TokenMeta::default())
        .await
        .unwrap();
    match store.pool() {
        Pool::Postgres(_) => {
            exec(
                &store,
                "CREATE FUNCTION injected_fault() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql",
            )
            .await;
            exec(
                &store,
                "CREATE TRIGGER injected BEFORE UPDATE ON auth_families \
                 FOR EACH ROW EXECUTE FUNCTION injected_fault()",
            )
            .await;
        }
        _ => {
            exec(
                &store,
                "CREATE TRIGGER injected BEFORE UPDATE ON auth_families \
                 BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
            )
            .await;
        }
    }
    assert!(store.revoke_user("u", now, now + 600).await.is_err());
    assert_eq!(
        rows(&store, "auth_user_cutoffs").await,
        0,
        "no cut-off was left"
    );
    assert_eq!(
        rows(&store, "auth_listed").await,
        1,
        "the listed token stayed listed"
    );
    assert_eq!(store.check(&t).await.unwrap(), TokenStatus::Active);
    assert_eq!(store.check_listed(&t).await.unwrap(), TokenStatus::Active);
    assert_eq!(
        store.families("u").await.unwrap().len(),
        1,
        "the family is live"
    );

    match store.pool() {
        Pool::Postgres(_) => exec(&store, "DROP TRIGGER injected ON auth_families").await,
        _ => exec(&store, "DROP TRIGGER injected").await,
    }
    store.revoke_user("u", now, now + 600).await.unwrap();
    assert_eq!(store.check(&t).await.unwrap(), TokenStatus::Revoked);
    assert!(store.families("u").await.unwrap().is_empty());
}

/// Users made before `auth_users.data` existed (migration set 2) keep working after the
/// upgrade, with `Null` data.
async fn users_from_before_the_data_column_upgrade(url: String) {
    let old = SqlStore::connect_with(
        &url,
        SqlOptions {
            migrate: false,
            ..SqlOptions::default()
        },
    )
    .await
    .unwrap();
    let insert = "INSERT INTO auth_users (id, username, roles, password_hash, disabled) \
                  VALUES ('5', 'erin', '[\"viewer\"]', 'phc', 0)";
    match old.pool() {
        Pool::Postgres(p) => {
            auth_sqlx::POSTGRES_MIGRATIONS.run_to(2, p).await.unwrap();
            sqlx::query(insert).execute(p).await.unwrap();
        }
        Pool::Sqlite(p) => {
            auth_sqlx::SQLITE_MIGRATIONS.run_to(2, p).await.unwrap();
            sqlx::query(insert).execute(p).await.unwrap();
        }
        _ => unreachable!(),
    }
    let new = SqlStore::connect(&url).await.unwrap();
    use auth_core::credential::UserStore as _;
    let erin = new.users().find_by_id("5").await.unwrap().unwrap();
    assert_eq!(
        (erin.username.as_str(), erin.data.is_null()),
        ("erin", true)
    );
    assert!(
        new.users()
            .update_data("5", &serde_json::json!({"team": "ops"}))
            .await
            .unwrap()
    );
    assert_eq!(
        new.users().find_by_id("5").await.unwrap().unwrap().data,
        serde_json::json!({"team": "ops"})
    );
}

async fn expired_rows_are_purged_in_bounded_batches(url: String) {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let store = common::store(&url, clock.clone()).await;
    let now = clock.unix_seconds();
    for i in 0..25 {
        store
            .revoke_token(&token(&format!("j{i}"), now, 10))
            .await
            .unwrap();
        store
            .start("u", &format!("f{i}"), "r", now + 10)
            .await
            .unwrap();
        store
            .increment(&format!("c{i}"), Duration::from_secs(10))
            .await
            .unwrap();
        let rec = SessionRecord {
            user_id: "u".into(),
            roles: Default::default(),
            created: now,
            last_seen: now,
            csrf_token: "c".into(),
            data: serde_json::Value::Null,
            expires_at: now + 10,
            amr: Default::default(),
        };
        store.insert_session(&format!("k{i}"), &rec).await.unwrap();
        store
            .start_challenge(&format!("m{i}"), "u", now + 10)
            .await
            .unwrap();
        store
            .put_ceremony(&format!("w{i}"), "state", now + 10)
            .await
            .unwrap();
    }
    // One that lives on.
    store.revoke_token(&token("live", now, 3600)).await.unwrap();
    assert_eq!(
        store.purge_expired(10, 2).await.unwrap(),
        0,
        "nothing expired yet"
    );
    clock.advance(Duration::from_secs(11));
    // At most 10 rows per statement and 2 statements per table: 20 of each table's 25.
    assert_eq!(store.purge_expired(10, 2).await.unwrap(), 6 * 20);
    assert_eq!(rows(&store, "auth_blocked").await, 6);
    // The background task takes the rest, and never the live row.
    let task = store.spawn_purge(
        PurgeConfig::default()
            .every(Duration::from_millis(20))
            .batch(10)
            .max_batches(2),
    );
    for _ in 0..200 {
        if rows(&store, "auth_sessions").await == 0
            && rows(&store, "auth_mfa_challenges").await == 0
            && rows(&store, "auth_passkey_ceremonies").await == 0
            && rows(&store, "auth_blocked").await == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(task);
    for table in [
        "auth_families",
        "auth_counters",
        "auth_sessions",
        "auth_mfa_challenges",
        "auth_passkey_ceremonies",
    ] {
        assert_eq!(rows(&store, table).await, 0, "{table}");
    }
    assert_eq!(rows(&store, "auth_blocked").await, 1);
    assert_eq!(
        store.check(&token("live", now, 3600)).await.unwrap(),
        TokenStatus::Revoked
    );
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::fresh_postgres().await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::fresh_sqlite()).await;
                }
            )*
        }
    };
}

on_both!(
    a_failed_write_leaves_no_half_written_row,
    users_from_before_the_data_column_upgrade,
    a_database_at_an_older_migration_set_upgrades_and_migrating_twice_is_a_no_op,
    expired_rows_are_purged_in_bounded_batches,
);
