//! The session tests every store backend runs unchanged (feature `store-test-suite`):
//! `auth_core::session_suite!(async { Arc<dyn StateStore> })`. The session manager reads a
//! manual clock set to the real time, so timeouts are tested without waiting, on a real
//! server as on memory.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice,
    missing_docs
)] // a test fails by panicking

use std::sync::Arc;
use std::time::Duration;

use super::{SessionConfig, SessionManager, session_key};
use crate::clock::{Clock, ManualClock, SystemClock};
use crate::credential::User;
use crate::error::AuthError;
use crate::request::SimpleRequest;
use crate::store::StateStore;

/// Instantiates every session scenario as a `#[tokio::test]`; `$make` is a future of an
/// `Arc<dyn StateStore>` with a fresh namespace.
#[macro_export]
macro_rules! session_suite {
    ($make:expr) => {
        $crate::session_suite!(@tests $make;
            the_store_never_holds_the_raw_id,
            login_destroys_a_presented_session_fixation,
            idle_timeout_ends_a_session,
            absolute_timeout_ends_even_an_active_session,
            sliding_expiry_writes_at_most_once_per_interval,
            logout_ends_the_session_server_side_and_clears_the_cookie,
            log_out_everywhere_ends_every_session_of_the_user,
            csrf_is_required_on_unsafe_cookie_requests,
            session_data_is_attached_at_login_and_can_change,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $make.await;
                $crate::session::suite::$name(store).await;
            }
        )*
    };
}

pub fn user(id: &str) -> User {
    User {
        id: id.into(),
        username: format!("user{id}"),
        email: None,
        roles: vec!["viewer".into()],
        password_hash: String::new(),
        disabled: false,
        data: serde_json::Value::Null,
    }
}

fn manager(store: Arc<dyn StateStore>) -> (SessionManager, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let config = SessionConfig {
        absolute_timeout: Duration::from_secs(3600),
        idle_timeout: Duration::from_secs(600),
        touch_interval: Duration::from_secs(60),
        ..SessionConfig::default()
    };
    (
        SessionManager::new(config, store, clock.clone()).unwrap(),
        clock,
    )
}

/// The request a browser sends back after `Set-Cookie: value`.
pub fn with_cookie(set_cookie: &str) -> SimpleRequest {
    let pair = set_cookie.split(';').next().unwrap();
    SimpleRequest::new().header("cookie", pair)
}

fn id_of(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

pub async fn the_store_never_holds_the_raw_id(store: Arc<dyn StateStore>) {
    let (m, _) = manager(store.clone());
    let started = m
        .start(&user("1"), serde_json::Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    let id = id_of(&started.set_cookie);
    assert_eq!(*started.session.key, session_key(&id));
    assert!(
        store.load_session(&id).await.unwrap().is_none(),
        "not under the raw id"
    );
    let keys: Vec<String> = store
        .user_sessions("1")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, [session_key(&id)]);
    let record = store
        .load_session(&session_key(&id))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !format!("{record:?}").contains(&id),
        "no copy of the id in the record"
    );
}

pub async fn login_destroys_a_presented_session_fixation(store: Arc<dyn StateStore>) {
    let (m, _) = manager(store);
    let first = m
        .start(&user("1"), serde_json::Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    let presented = with_cookie(&first.set_cookie);
    let second = m
        .start(&user("1"), serde_json::Value::Null, &presented)
        .await
        .unwrap();
    assert_ne!(
        id_of(&first.set_cookie),
        id_of(&second.set_cookie),
        "a fresh id"
    );
    assert_ne!(first.csrf_token, second.csrf_token);
    assert!(
        m.load(&presented).await.unwrap().is_none(),
        "the presented session is gone"
    );
    assert!(
        m.load(&with_cookie(&second.set_cookie))
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn idle_timeout_ends_a_session(store: Arc<dyn StateStore>) {
    let (m, clock) = manager(store);
    let s = m
        .start(&user("1"), serde_json::Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    let req = with_cookie(&s.set_cookie);
    clock.advance(Duration::from_secs(599));
    assert!(
        m.load(&req).await.unwrap().is_some(),
        "just inside the idle timeout"
    );
    clock.advance(Duration::from_secs(599));
    assert!(
        m.load(&req).await.unwrap().is_some(),
        "the previous request slid the expiry"
    );
    clock.advance(Duration::from_secs(600));
    assert!(
        m.load(&req).await.unwrap().is_none(),
        "idle for the whole timeout"
    );
    let e = m.require(&req).await.unwrap_err();
    assert!(matches!(e, AuthError::NotAuthenticated));
    assert_eq!(e.to_response().status, 401);
}

pub async fn absolute_timeout_ends_even_an_active_session(store: Arc<dyn StateStore>) {
    let (m, clock) = manager(store);
    let s = m
        .start(&user("1"), serde_json::Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    let req = with_cookie(&s.set_cookie);
    for _ in 0..11 {
        clock.advance(Duration::from_secs(300));
        assert!(
            m.load(&req).await.unwrap().is_some(),
            "active every 5 minutes"
        );
    }
    clock.advance(Duration::from_secs(300)); // 3600 s after the start
    assert!(
        m.load(&req).await.unwrap().is_none(),
        "the absolute timeout"
    );
}

pub async fn sliding_expiry_writes_at_most_once_per_interval(store: Arc<dyn StateStore>) {
    let (m, clock) = manager(store.clone());
    let s = m
        .start(&user("1"), serde_json::Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    let req = with_cookie(&s.set_cookie);
    let created = s.session.record.created;
    for _ in 0..5 {
        clock.advance(Duration::from_secs(10));
        m.load(&req).await.unwrap().unwrap();
    }
    let stored = store.load_session(&s.session.key).await.unwrap().unwrap();
    assert_eq!(stored.last_seen, created, "50 s of requests: no write yet");
    clock.advance(Duration::from_secs(10));
    let seen = m.load(&req).await.unwrap().unwrap();
    let stored = store.load_session(&s.session.key).await.unwrap().unwrap();
    assert_eq!(
        stored.last_seen,
        created + 60,
        "one write after the interval"
    );
    assert_eq!(seen.record.last_seen, created + 60);
    assert_eq!(stored.expires_at, created + 60 + 600);
}

pub async fn logout_ends_the_session_server_side_and_clears_the_cookie(store: Arc<dyn StateStore>) {
    let (m, _) = manager(store.clone());
    let s = m
        .start(&user("1"), serde_json::Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    let req = with_cookie(&s.set_cookie);
    let session = m.require(&req).await.unwrap();
    let clear = m.end(&session).await.unwrap();
    assert!(clear.starts_with("session_id=;"), "{clear}");
    assert!(
        clear.contains("Max-Age=0") && clear.contains("Path=/"),
        "{clear}"
    );
    assert!(
        m.load(&req).await.unwrap().is_none(),
        "a replayed cookie finds nothing"
    );
    assert!(store.load_session(&s.session.key).await.unwrap().is_none());
}

pub async fn log_out_everywhere_ends_every_session_of_the_user(store: Arc<dyn StateStore>) {
    let (m, _) = manager(store);
    let a = m
        .start(&user("1"), serde_json::Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    let b = m
        .start(&user("1"), serde_json::Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    let other = m
        .start(&user("2"), serde_json::Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    assert_eq!(m.end_all("1").await.unwrap(), 2);
    assert!(m.load(&with_cookie(&a.set_cookie)).await.unwrap().is_none());
    assert!(m.load(&with_cookie(&b.set_cookie)).await.unwrap().is_none());
    assert!(
        m.load(&with_cookie(&other.set_cookie))
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn csrf_is_required_on_unsafe_cookie_requests(store: Arc<dyn StateStore>) {
    let (m, _) = manager(store);
    let s = m
        .start(&user("1"), serde_json::Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    let base = || with_cookie(&s.set_cookie).header("host", "app.example");
    let session = m.require(&base()).await.unwrap();
    let token = s.csrf_token.as_str();

    // Safe methods need nothing.
    assert!(m.check_csrf(&base().with_method("GET"), &session).is_ok());
    // Missing, wrong, right.
    for method in ["POST", "PUT", "PATCH", "DELETE", "post"] {
        assert!(
            matches!(
                m.check_csrf(&base().with_method(method), &session),
                Err(AuthError::Csrf)
            ),
            "{method}"
        );
    }
    let wrong = base().header("x-csrf-token", "x".repeat(43));
    assert!(matches!(
        m.check_csrf(&wrong.with_method("POST"), &session),
        Err(AuthError::Csrf)
    ));
    let truncated = base().header("x-csrf-token", &token[..42]);
    assert!(matches!(
        m.check_csrf(&truncated.with_method("POST"), &session),
        Err(AuthError::Csrf)
    ));
    let right = base().header("x-csrf-token", token);
    assert!(m.check_csrf(&right.with_method("POST"), &session).is_ok());
    // The same token from a foreign Origin is refused; our own Origin passes.
    let foreign = base()
        .header("x-csrf-token", token)
        .header("origin", "https://evil.example");
    assert!(matches!(
        m.check_csrf(&foreign.with_method("POST"), &session),
        Err(AuthError::Csrf)
    ));
    let null = base()
        .header("x-csrf-token", token)
        .header("origin", "null");
    assert!(matches!(
        m.check_csrf(&null.with_method("POST"), &session),
        Err(AuthError::Csrf)
    ));
    let own = base()
        .header("x-csrf-token", token)
        .header("origin", "https://app.example");
    assert!(m.check_csrf(&own.with_method("POST"), &session).is_ok());
    // Another session's token is not this session's.
    let other = m
        .start(&user("1"), serde_json::Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    let crossed = base().header("x-csrf-token", other.csrf_token.as_str());
    assert!(matches!(
        m.check_csrf(&crossed.with_method("POST"), &session),
        Err(AuthError::Csrf)
    ));
    let res = AuthError::Csrf.to_response();
    assert_eq!(res.status, 403);
    assert!(res.body.contains("CSRF token missing or invalid"));
}

#[derive(Debug)]
struct Tenant;

#[async_trait::async_trait]
impl super::SessionData for Tenant {
    async fn session_data(&self, user: &User) -> Result<serde_json::Value, crate::StoreError> {
        Ok(serde_json::json!({ "tenant_id": format!("t-{}", user.id) }))
    }
}

/// A session starts with the hook's data and keeps whatever is written to it later; a
/// session that has ended cannot be written to; oversized data changes nothing.
pub async fn session_data_is_attached_at_login_and_can_change(store: Arc<dyn StateStore>) {
    let (m, _) = manager(store);
    let m = m.with_data_hook(Arc::new(Tenant));
    let data = m.data_for(&user("7")).await.unwrap();
    let started = m
        .start(&user("7"), data, &SimpleRequest::new())
        .await
        .unwrap();
    let back = with_cookie(&started.set_cookie);
    let session = m.load(&back).await.unwrap().unwrap();
    assert_eq!(session.record.data, serde_json::json!({"tenant_id": "t-7"}));

    m.update_data(
        &session,
        serde_json::json!({"tenant_id": "t-8", "cart": [1, 2]}),
    )
    .await
    .unwrap();
    let again = m.load(&back).await.unwrap().unwrap();
    assert_eq!(
        again.record.data,
        serde_json::json!({"tenant_id": "t-8", "cart": [1, 2]})
    );
    assert_eq!(again.record.csrf_token, session.record.csrf_token);
    assert_eq!(&*again.record.user_id, "7");

    let huge = serde_json::json!({ "blob": "x".repeat(super::MAX_SESSION_DATA_BYTES) });
    assert!(matches!(
        m.update_data(&session, huge).await,
        Err(AuthError::BadRequest { .. })
    ));
    assert_eq!(
        m.load(&back).await.unwrap().unwrap().record.data,
        again.record.data
    );

    m.end(&again).await.unwrap();
    assert!(matches!(
        m.update_data(&session, serde_json::json!({})).await,
        Err(AuthError::NotAuthenticated)
    ));
}
