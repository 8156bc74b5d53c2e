//! The `*_now` methods against their awaited twins: the same answer whenever they give
//! one, and `None` exactly when the twin would wait for or write to a store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{Auth, Principal};
use crate::clock::ManualClock;
use crate::credential::{MemoryUsers, User};
use crate::request::SimpleRequest;
use crate::store::MemoryStore;
use crate::token::NoExtra;
use crate::token::families::RevocationMode;
use crate::{AuthBuilder, AuthError, Scheme};

fn alice() -> User {
    User {
        id: "1".into(),
        username: "alice".into(),
        email: None,
        roles: vec!["admin".into()],
        password_hash: String::new(),
        disabled: false,
        data: Value::Null,
    }
}

fn auth(mode: RevocationMode) -> (Auth, Arc<ManualClock>) {
    let users = MemoryUsers::new();
    users.insert(alice());
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let auth = AuthBuilder::new(&[1; 32], &[2; 32])
        .users(Arc::new(users))
        .clock(clock.clone())
        .store(Arc::new(MemoryStore::with_clock(clock.clone())))
        .revocation_mode(mode)
        .build()
        .unwrap();
    (auth, clock)
}

fn bearer(token: &str) -> SimpleRequest {
    SimpleRequest::new().header("authorization", format!("Bearer {token}"))
}

/// A fresh session of alice, and the `Cookie` value that presents it.
async fn session(auth: &Auth) -> (crate::session::StartedSession, String) {
    let started = auth
        .sessions()
        .start(&alice(), Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    let cookie = started.set_cookie.split(';').next().unwrap().to_owned();
    (started, cookie)
}

/// The error's text, to compare two answers (`AuthError` is not `PartialEq`).
fn text<T>(r: &Result<T, AuthError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{e:?}"),
    }
}

/// The in-place answer to `request`, which must be given and agree with the awaited
/// one; its text.
async fn bearer_both(auth: &Auth, request: &SimpleRequest) -> String {
    let now = auth
        .bearer_now_as::<NoExtra>(request)
        .expect("answered in place");
    assert_eq!(text(&now), text(&auth.bearer(request).await));
    text(&now)
}

#[tokio::test]
async fn a_bearer_is_answered_in_place_as_the_awaited_check_answers() {
    let (auth, clock) = auth(RevocationMode::Blocklist);
    let pair = auth.tokens().login(&alice(), None).await.unwrap();
    let request = bearer(&pair.access.token);
    // Not yet in the verified-token cache: verified in place all the same.
    let now = auth.bearer_now_as::<NoExtra>(&request).unwrap().unwrap();
    assert_eq!(now.sub, "1");
    assert_eq!(bearer_both(&auth, &request).await, "ok");

    for request in [
        SimpleRequest::new(),
        SimpleRequest::new().header("authorization", "Bearer not.a.token"),
        SimpleRequest::new().header("authorization", "Basic YWxpY2U6cHc="),
        bearer(&pair.access.token).header("authorization", "Bearer x"),
        bearer(&pair.access.token).query(&format!("access_token={}", pair.access.token)),
    ] {
        assert_ne!(bearer_both(&auth, &request).await, "ok", "{request:?}");
    }

    // Revoked: the in-place check reads the same blocklist.
    auth.tokens().logout(&now).await.unwrap();
    assert!(bearer_both(&auth, &request).await.contains("Revoked"));

    // Expired, though still in the cache: refused in place.
    let fresh = auth.tokens().login(&alice(), None).await.unwrap();
    let request = bearer(&fresh.access.token);
    assert_eq!(bearer_both(&auth, &request).await, "ok");
    clock.advance(Duration::from_secs(24 * 3600));
    assert!(bearer_both(&auth, &request).await.contains("Expired"));
}

#[tokio::test]
async fn allowlist_mode_is_answered_in_place_by_the_memory_store() {
    let (auth, _) = auth(RevocationMode::Allowlist);
    let pair = auth.tokens().login(&alice(), None).await.unwrap();
    let request = bearer(&pair.access.token);
    assert_eq!(bearer_both(&auth, &request).await, "ok");
    // Unlisted by its logout: refused in place as awaited.
    let claims = auth.bearer(&request).await.unwrap();
    auth.tokens().logout(&claims).await.unwrap();
    assert!(bearer_both(&auth, &request).await.contains("Revoked"));
    let missing = auth.bearer_now_as::<NoExtra>(&SimpleRequest::new());
    assert!(matches!(
        missing,
        Some(Err(AuthError::MissingCredentials(Scheme::Bearer)))
    ));
}

#[tokio::test]
async fn a_session_is_answered_in_place_until_it_needs_a_write() {
    let (auth, clock) = auth(RevocationMode::Blocklist);
    let (started, cookie) = session(&auth).await;
    let get = SimpleRequest::new().header("cookie", cookie.as_str());
    let now = auth.session_now(&get).unwrap().unwrap();
    assert_eq!(now.key, started.session.key);
    assert_eq!(now.key, auth.session(&get).await.unwrap().key);

    // Unsafe without the CSRF token: refused in place; with it: let through.
    let post = SimpleRequest::new()
        .with_method("POST")
        .header("cookie", cookie.as_str());
    assert!(matches!(
        auth.session_now(&post),
        Some(Err(AuthError::Csrf))
    ));
    assert_eq!(
        text(&auth.session(&post).await),
        text(&Err::<(), _>(AuthError::Csrf))
    );
    let with_token = post.header("x-csrf-token", started.csrf_token.as_str());
    assert!(auth.session_now(&with_token).unwrap().is_ok());

    // No cookie, an unknown one: not authenticated, in place and awaited.
    for request in [
        SimpleRequest::new(),
        SimpleRequest::new().header("cookie", "session_id=AAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        assert!(matches!(
            auth.session_now(&request),
            Some(Err(AuthError::NotAuthenticated))
        ));
        assert!(matches!(
            auth.session(&request).await,
            Err(AuthError::NotAuthenticated)
        ));
    }

    // The idle-expiry slide is a write: left to the awaited load, after which the
    // session is answered in place again.
    clock.advance(Duration::from_secs(61));
    assert!(auth.session_now(&get).is_none());
    let touched = auth.session(&get).await.unwrap();
    assert!(touched.record.last_seen > started.session.record.last_seen);
    assert_eq!(auth.session_now(&get).unwrap().unwrap().key, touched.key);

    // Idle past its timeout: the store no longer holds it, for either door.
    clock.advance(Duration::from_secs(1801));
    assert!(matches!(
        auth.session_now(&get),
        Some(Err(AuthError::NotAuthenticated))
    ));
    assert!(matches!(
        auth.session(&get).await,
        Err(AuthError::NotAuthenticated)
    ));
}

#[tokio::test]
async fn a_principal_is_answered_in_place_from_the_caches() {
    let (auth, _) = auth(RevocationMode::Blocklist);
    let pair = auth.tokens().login(&alice(), None).await.unwrap();
    let request = bearer(&pair.access.token);
    // A token not yet verified: the awaited path verifies it (a trusted issuer may be
    // asked for its keys).
    assert!(auth.principal_now(&request).is_none());
    assert!(matches!(
        auth.principal(&request).await,
        Ok(Principal::Bearer(_))
    ));
    match auth.principal_now(&request) {
        Some(Ok(Principal::Bearer(claims))) => assert_eq!(claims.jti, pair.access.jti),
        other => panic!(
            "expected the cached bearer, got {:?}",
            other.map(|r| text(&r))
        ),
    }
    // A header that breaks the rules is refused in place.
    let twice = request.clone().header("authorization", "Bearer x");
    let now = auth.principal_now(&twice).unwrap();
    assert!(now.is_err());
    assert_eq!(text(&now), text(&auth.principal(&twice).await));

    let (started, cookie) = session(&auth).await;
    let by_cookie = SimpleRequest::new().header("cookie", cookie.as_str());
    assert!(matches!(
        auth.principal_now(&by_cookie),
        Some(Ok(Principal::Session(s))) if s.key == started.session.key
    ));
    let nothing = auth.principal_now(&SimpleRequest::new()).unwrap();
    assert!(matches!(
        nothing,
        Err(AuthError::MissingCredentials(Scheme::Bearer))
    ));
    assert_eq!(
        text(&nothing),
        text(&auth.principal(&SimpleRequest::new()).await)
    );
}
