//! With a subscriber that records the `auth.*` spans, no authentication is answered in
//! place: every one runs through its awaited twin, inside its spans. Its own test binary,
//! because the subscriber raises the process-wide level hint that the in-place answers
//! read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_core::AuthBuilder;
use auth_core::adapter::SimpleRequest;
use auth_core::credential::{MemoryUsers, User};

#[tokio::test]
async fn a_debug_subscriber_takes_every_authentication_through_its_spans() {
    let user = User {
        id: "1".into(),
        username: "alice".into(),
        email: None,
        roles: vec![],
        password_hash: String::new(),
        disabled: false,
        data: serde_json::Value::Null,
    };
    let users = MemoryUsers::new();
    users.insert(user.clone());
    let auth = AuthBuilder::new(&[1; 32], &[2; 32])
        .users(Arc::new(users))
        .build()
        .unwrap();
    let pair = auth.tokens().login(&user, None).await.unwrap();
    let request =
        SimpleRequest::new().header("authorization", format!("Bearer {}", pair.access.token));
    let started = auth
        .sessions()
        .start(&user, serde_json::Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    let cookie = started.set_cookie.split(';').next().unwrap().to_owned();
    let by_cookie = SimpleRequest::new().header("cookie", cookie);

    // Without a subscriber: answered in place.
    assert!(
        auth.bearer_now_as::<auth_core::token::NoExtra>(&request)
            .is_some()
    );
    assert!(auth.session_now(&by_cookie).is_some());

    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_test_writer()
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    assert!(
        auth.bearer_now_as::<auth_core::token::NoExtra>(&request)
            .is_none()
    );
    assert!(auth.session_now(&by_cookie).is_none());
    assert!(auth.principal_now(&request).is_none());
    assert_eq!(auth.bearer(&request).await.unwrap().sub, "1");
    assert_eq!(
        auth.session(&by_cookie).await.unwrap().key,
        started.session.key
    );
}
