//! The token endpoint, request by request.
#![allow(clippy::indexing_slicing, clippy::string_slice)] // test code: a bad index fails the test

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::clock::ManualClock;
use crate::credential::{
    Authenticator, LoginThrottle, MemoryUsers, PasswordParams, Passwords, ThrottleConfig, User,
};
use crate::error::AuthError;
use crate::store::MemoryStore;
use crate::token::families::TokenManager;
use crate::token::{Algorithm, Key, KeyRing, TokenConfig, TokenService};

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
const CLIENT: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 9)));

fn endpoint(scopes: ScopePolicy) -> (TokenEndpoint, TokenManager) {
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let store = Arc::new(MemoryStore::with_clock(clock.clone()));
    let passwords = Passwords::new(PasswordParams {
        m_cost: 256,
        t_cost: 1,
        p_cost: 1,
    })
    .unwrap();
    let users = Arc::new(MemoryUsers::new());
    for (id, name, role) in [("1", "alice", "admin"), ("3", "carol", "viewer")] {
        users.insert(User {
            id: id.into(),
            username: name.into(),
            email: Some(format!("{name}@example.com")),
            roles: vec![role.into()],
            password_hash: passwords.hash_blocking(&format!("pw-{name}")).unwrap(),
            disabled: false,
            data: serde_json::Value::Null,
        });
    }
    let tokens = TokenService::with_clock(
        KeyRing::new(Key::hmac("a", Algorithm::HS256, &[1; 32]).unwrap()),
        KeyRing::new(Key::hmac("r", Algorithm::HS256, &[2; 32]).unwrap()),
        TokenConfig::default()
            .issuer("auth-reference")
            .audience("auth-reference"),
        clock.clone(),
    )
    .unwrap();
    let throttle = LoginThrottle::new(ThrottleConfig::default(), store.clone());
    let manager = TokenManager::new(tokens, users.clone(), store);
    let authn = Authenticator::new(users, passwords, throttle);
    (TokenEndpoint::new(authn, manager.clone(), scopes), manager)
}

async fn post(ep: &TokenEndpoint, body: &str) -> Result<TokenResponse, AuthError> {
    match ep.handle(FORM, body.as_bytes(), CLIENT).await? {
        TokenGrant::Tokens(tokens) => Ok(tokens),
        other => panic!("expected tokens, got {other:?}"),
    }
}

fn oauth_error(e: AuthError) -> (u16, String, Value) {
    let res = e.to_response();
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body: Value = serde_json::from_str(&res.body).unwrap();
    (
        res.status,
        body["error"].as_str().unwrap().to_string(),
        body,
    )
}

#[tokio::test]
async fn password_grant_issues_a_pair_with_no_store_headers() {
    let (ep, manager) = endpoint(ScopePolicy::new());
    let ok = post(&ep, "grant_type=password&username=alice&password=pw-alice")
        .await
        .unwrap();
    assert_eq!(ok.token_type, "bearer");
    assert_eq!(ok.expires_in, 900);
    assert!(ok.scope.is_none());
    let body: Value = serde_json::from_str(&ok.body()).unwrap();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["access_token", "expires_in", "refresh_token", "token_type"]
    );
    assert!(TokenResponse::headers().contains(&("cache-control", "no-store")));
    assert!(TokenResponse::headers().contains(&("pragma", "no-cache")));
    let claims = manager.authenticate(&ok.access_token).await.unwrap();
    assert_eq!(claims.email.as_deref(), Some("alice@example.com"));
}

#[tokio::test]
async fn an_absent_grant_type_means_password() {
    let (ep, _) = endpoint(ScopePolicy::new());
    assert!(post(&ep, "username=alice&password=pw-alice").await.is_ok());
}

#[tokio::test]
async fn unknown_user_and_wrong_password_give_one_identical_invalid_grant() {
    let (ep, _) = endpoint(ScopePolicy::new());
    let a = post(&ep, "username=nobody&password=pw-alice")
        .await
        .unwrap_err()
        .to_response();
    let b = post(&ep, "username=alice&password=wrong")
        .await
        .unwrap_err()
        .to_response();
    assert_eq!(a, b);
    assert_eq!(a.status, 400);
    let body: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_description"], "Invalid username or password");
}

#[tokio::test]
async fn malformed_requests_are_invalid_request() {
    let (ep, _) = endpoint(ScopePolicy::new());
    for body in [
        "grant_type=password&username=alice",
        "grant_type=password&password=x",
        "username=&password=pw-alice",
        "grant_type=password&username=alice&username=bob&password=pw-alice",
        "grant_type=refresh_token",
    ] {
        let (status, error, _) = oauth_error(post(&ep, body).await.unwrap_err());
        assert_eq!((status, error.as_str()), (400, "invalid_request"), "{body}");
    }
    let e = ep
        .handle(Some("application/json"), b"{}", CLIENT)
        .await
        .unwrap_err();
    assert_eq!(oauth_error(e).1, "invalid_request");
    let e = ep
        .handle(None, b"username=alice&password=pw-alice", CLIENT)
        .await
        .unwrap_err();
    assert_eq!(oauth_error(e).1, "invalid_request");
    let huge = format!("username=alice&password={}", "x".repeat(MAX_FORM_BYTES));
    assert_eq!(
        oauth_error(post(&ep, &huge).await.unwrap_err()).1,
        "invalid_request"
    );
    let junk: Vec<u8> = (0..=255u8).cycle().take(4000).collect();
    assert!(
        ep.handle(FORM, &junk, CLIENT).await.is_err(),
        "junk bytes: an error, not a panic"
    );
}

#[tokio::test]
async fn other_grant_types_are_unsupported() {
    let (ep, _) = endpoint(ScopePolicy::new());
    for g in [
        "client_credentials",
        "authorization_code",
        "implicit",
        "PASSWORD",
    ] {
        let (status, error, _) = oauth_error(
            post(&ep, &format!("grant_type={g}&username=a&password=b"))
                .await
                .unwrap_err(),
        );
        assert_eq!(
            (status, error.as_str()),
            (400, "unsupported_grant_type"),
            "{g}"
        );
    }
}

#[tokio::test]
async fn granted_scope_is_requested_intersect_allowed_and_echoed_when_narrowed() {
    let scopes = ScopePolicy::new()
        .allow("admin", ["read", "write", "delete"])
        .allow("viewer", ["read"]);
    let (ep, manager) = endpoint(scopes);

    let full = post(&ep, "username=alice&password=pw-alice&scope=read%20write")
        .await
        .unwrap();
    assert_eq!(full.scope, None, "granted as requested: no echo needed");
    assert_eq!(
        manager
            .authenticate(&full.access_token)
            .await
            .unwrap()
            .scope
            .as_deref(),
        Some("read write")
    );

    let narrowed = post(&ep, "username=carol&password=pw-carol&scope=read+write")
        .await
        .unwrap();
    assert_eq!(narrowed.scope.as_deref(), Some("read"), "narrowed: echoed");

    let (_, error, _) = oauth_error(
        post(&ep, "username=carol&password=pw-carol&scope=delete")
            .await
            .unwrap_err(),
    );
    assert_eq!(error, "invalid_scope");
    let (_, error, _) = oauth_error(
        post(&ep, "username=carol&password=pw-carol&scope=a%22b")
            .await
            .unwrap_err(),
    );
    assert_eq!(error, "invalid_scope", "malformed scope token");

    let default = post(&ep, "username=alice&password=pw-alice").await.unwrap();
    assert_eq!(
        default.scope.as_deref(),
        Some("delete read write"),
        "no request: everything allowed, echoed"
    );
}

#[tokio::test]
async fn scopes_requested_where_none_are_configured_are_invalid_scope() {
    let (ep, _) = endpoint(ScopePolicy::new());
    let (_, error, _) = oauth_error(
        post(&ep, "username=alice&password=pw-alice&scope=read")
            .await
            .unwrap_err(),
    );
    assert_eq!(error, "invalid_scope");
}

#[tokio::test]
async fn the_sixth_failure_is_429_slow_down_with_retry_after() {
    let (ep, _) = endpoint(ScopePolicy::new());
    for _ in 0..5 {
        assert_eq!(
            oauth_error(post(&ep, "username=alice&password=bad").await.unwrap_err()).1,
            "invalid_grant"
        );
    }
    let res = post(&ep, "username=alice&password=pw-alice")
        .await
        .unwrap_err()
        .to_response();
    assert_eq!(res.status, 429);
    assert_eq!(res.header("retry-after"), Some("60"));
    assert!(res.body.contains("slow_down"));
}

#[tokio::test]
async fn refresh_grant_rotates_and_reuse_revokes_the_family() {
    let (ep, manager) = endpoint(ScopePolicy::new());
    let first = post(&ep, "username=alice&password=pw-alice").await.unwrap();
    let second = post(
        &ep,
        &format!(
            "grant_type=refresh_token&refresh_token={}",
            first.refresh_token
        ),
    )
    .await
    .unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert!(manager.authenticate(&second.access_token).await.is_ok());

    // The first refresh token again: reuse. Refused, and the family is revoked.
    let e = post(
        &ep,
        &format!(
            "grant_type=refresh_token&refresh_token={}",
            first.refresh_token
        ),
    )
    .await
    .unwrap_err();
    let (status, error, body) = oauth_error(e);
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert_eq!(
        body["error_description"],
        "The refresh token is invalid, expired or revoked"
    );
    assert!(
        manager.authenticate(&second.access_token).await.is_err(),
        "the family's access token"
    );
    assert!(manager.authenticate(&first.access_token).await.is_err());
    let e = post(
        &ep,
        &format!(
            "grant_type=refresh_token&refresh_token={}",
            second.refresh_token
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(
        oauth_error(e).1,
        "invalid_grant",
        "the family's newest refresh token too"
    );

    // An access token is not a refresh token.
    let other = post(&ep, "username=alice&password=pw-alice").await.unwrap();
    let e = post(
        &ep,
        &format!(
            "grant_type=refresh_token&refresh_token={}",
            other.access_token
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(oauth_error(e).1, "invalid_grant");
}
