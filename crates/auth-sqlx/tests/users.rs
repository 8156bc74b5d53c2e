//! Users and API keys on a real Postgres database and a real SQLite file: round trips,
//! the login's rehash path writing the table, one account per email under concurrent
//! first logins, API keys kept as digests only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a test fails by panicking

mod common;

use std::sync::Arc;

use auth_core::AuthError;
use auth_core::clock::SystemClock;
use auth_core::credential::{
    ApiKeyConfig, ApiKeyStore, ApiKeys, Authenticator, LoginThrottle, PasswordParams, Passwords,
    ThrottleConfig, User, UserStore,
};
use auth_sqlx::SqlStore;

fn alice(hash: &str) -> User {
    User {
        id: "1".into(),
        username: "alice".into(),
        email: Some("Alice@Example.com".into()),
        roles: vec!["admin".into(), "editor".into()],
        password_hash: hash.into(),
        disabled: false,
        data: serde_json::Value::Null,
    }
}

async fn users_round_trip_with_emails_folded(store: SqlStore) {
    let users = store.users();
    assert_eq!(users.count().await.unwrap(), 0);
    assert!(users.insert_if_absent(&alice("phc")).await.unwrap());
    assert!(
        !users.insert_if_absent(&alice("other")).await.unwrap(),
        "seeding twice adds nothing"
    );
    assert_eq!(
        users.find_by_username("alice").await.unwrap(),
        Some(alice("phc"))
    );
    assert_eq!(users.find_by_id("1").await.unwrap(), Some(alice("phc")));
    assert_eq!(
        users.find_by_email("aLiCe@example.COM").await.unwrap(),
        Some(alice("phc")),
        "emails compare case-insensitively"
    );
    assert!(users.find_by_username("ALICE").await.unwrap().is_none());
    assert!(users.find_by_id("2").await.unwrap().is_none());
    assert!(
        users
            .update_access("1", &["viewer".into()], true)
            .await
            .unwrap()
    );
    let changed = users.find_by_id("1").await.unwrap().unwrap();
    assert_eq!(
        (changed.roles, changed.disabled),
        (vec!["viewer".into()], true)
    );
    assert!(!users.update_access("9", &[], false).await.unwrap());
    assert!(
        users.update_password_hash("9", "x").await.is_err(),
        "no such user"
    );
}

/// The team's own data (`User::data`) is stored, read back and replaced; `Null` stays
/// `NULL`.
async fn a_users_own_data_round_trips(store: SqlStore) {
    let users = store.users();
    let mut dana = alice("phc");
    dana.id = "7".into();
    dana.username = "dana".into();
    dana.email = None;
    dana.data = serde_json::json!({"tenant_id": "t-9", "display_name": "Dana Ø"});
    assert!(users.insert_if_absent(&dana).await.unwrap());
    assert_eq!(users.find_by_id("7").await.unwrap(), Some(dana.clone()));
    assert!(
        users
            .update_data("7", &serde_json::json!({"tenant_id": "t-10"}))
            .await
            .unwrap()
    );
    assert_eq!(
        users.find_by_username("dana").await.unwrap().unwrap().data,
        serde_json::json!({"tenant_id": "t-10"})
    );
    assert!(
        users
            .update_data("7", &serde_json::Value::Null)
            .await
            .unwrap()
    );
    assert!(users.find_by_id("7").await.unwrap().unwrap().data.is_null());
    assert!(
        !users
            .update_data("8", &serde_json::Value::Null)
            .await
            .unwrap()
    );
}

async fn a_login_with_an_outdated_hash_rehashes_into_the_table(store: SqlStore) {
    let weak = Passwords::new(PasswordParams {
        m_cost: 1024,
        t_cost: 1,
        p_cost: 1,
    })
    .unwrap();
    let old = weak.hash_blocking("correct horse").unwrap();
    let users = store.users();
    users.insert_if_absent(&alice(&old)).await.unwrap();
    let login = Authenticator::new(
        Arc::new(users.clone()),
        Passwords::new(PasswordParams::default()).unwrap(),
        LoginThrottle::new(ThrottleConfig::default(), Arc::new(store.clone())),
    );
    let user = login
        .authenticate("alice", "correct horse".into(), None)
        .await
        .unwrap();
    assert_eq!(user.user().id, "1");
    let stored = users.find_by_id("1").await.unwrap().unwrap().password_hash;
    assert_ne!(stored, old, "the outdated hash was replaced");
    assert!(stored.contains("m=19456"), "{stored}");
    // The new hash verifies, and a wrong password still fails.
    login
        .authenticate("alice", "correct horse".into(), None)
        .await
        .unwrap();
    assert!(matches!(
        login.authenticate("alice", "wrong".into(), None).await,
        Err(AuthError::InvalidCredentials)
    ));
}

async fn concurrent_first_logins_of_one_email_make_one_account(store: SqlStore) {
    let users = Arc::new(store.users());
    let mut tasks = Vec::new();
    for i in 0..12 {
        let users = users.clone();
        tasks.push(tokio::spawn(async move {
            let email = if i % 2 == 0 {
                "new@example.com"
            } else {
                "NEW@example.com"
            };
            users
                .create_user(User {
                    id: String::new(),
                    username: email.to_ascii_lowercase(),
                    email: Some(email.into()),
                    roles: vec!["viewer".into()],
                    password_hash: "!external-login-only".into(),
                    disabled: false,
                    data: serde_json::Value::Null,
                })
                .await
                .unwrap()
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().id);
    }
    assert_eq!(ids.len(), 1, "one account: {ids:?}");
    assert_eq!(users.count().await.unwrap(), 1);
    let id = ids.into_iter().next().unwrap();
    assert_eq!(id, "1", "the next number");
    assert_eq!(
        users
            .find_by_email("new@EXAMPLE.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );
    // A clash on the username alone (another email) is an error, not a second account.
    let clash = users
        .create_user(User {
            id: String::new(),
            username: "new@example.com".into(),
            email: Some("other@example.com".into()),
            roles: vec![],
            password_hash: String::new(),
            disabled: false,
            data: serde_json::Value::Null,
        })
        .await;
    assert!(clash.is_err());
    // Numbers continue after the largest numeric id, whatever other ids exist.
    users.insert_if_absent(&alice("phc")).await.unwrap();
    let mut odd = alice("phc");
    (odd.id, odd.username, odd.email) = ("svc-x".into(), "svc".into(), None);
    users.insert_if_absent(&odd).await.unwrap();
    let next = users
        .create_user(User {
            id: String::new(),
            username: "zed".into(),
            email: Some("zed@example.com".into()),
            roles: vec![],
            password_hash: String::new(),
            disabled: false,
            data: serde_json::Value::Null,
        })
        .await
        .unwrap();
    assert_eq!(next.id, "2");
}

async fn api_keys_are_kept_as_digests_only(store: SqlStore) {
    let records = store.api_keys();
    assert!(records.is_empty().await.unwrap());
    let keys = ApiKeys::new(
        ApiKeyConfig::default(),
        Arc::new(records.clone()),
        Arc::new(SystemClock),
    )
    .unwrap();
    let new = keys
        .create("ci", "svc-1", vec!["editor".into()], None)
        .await
        .unwrap();
    let found = keys.verify(&new.key).await.unwrap();
    assert_eq!(found, new.record);
    assert_eq!(
        records.find(&new.record.digest).await.unwrap(),
        Some(new.record.clone())
    );
    // Nothing in the database holds the key.
    let dump = dump_api_keys(&store).await;
    assert!(!dump.contains(&new.key), "the key itself is never stored");
    assert!(records.revoke(&new.record.digest).await.unwrap());
    assert!(matches!(
        keys.verify(&new.key).await,
        Err(AuthError::InvalidApiKey)
    ));
    assert!(
        records
            .find(&new.record.digest)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert!(!records.revoke(&[7u8; 32]).await.unwrap());
    assert!(records.find(&[7u8; 32]).await.unwrap().is_none());
}

/// Every text column of every API key row, concatenated.
async fn dump_api_keys(store: &SqlStore) -> String {
    const SQL: &str =
        "SELECT digest || name || owner || roles || scopes || display_prefix FROM auth_api_keys";
    let rows: Vec<String> = match store.pool() {
        auth_sqlx::Pool::Postgres(p) => sqlx::query_scalar(SQL).fetch_all(p).await.unwrap(),
        auth_sqlx::Pool::Sqlite(p) => sqlx::query_scalar(SQL).fetch_all(p).await.unwrap(),
        _ => unreachable!(),
    };
    rows.concat()
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let url = crate::common::fresh_postgres().await;
                    super::$name(auth_sqlx::SqlStore::connect(&url).await.unwrap()).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let url = crate::common::fresh_sqlite();
                    super::$name(auth_sqlx::SqlStore::connect(&url).await.unwrap()).await;
                }
            )*
        }
    };
}

on_both!(
    users_round_trip_with_emails_folded,
    a_users_own_data_round_trips,
    a_login_with_an_outdated_hash_rehashes_into_the_table,
    concurrent_first_logins_of_one_email_make_one_account,
    api_keys_are_kept_as_digests_only,
);
