//! The adapter's own API in process: Option extractors, guards, the CSRF layer and the
//! test helpers (the conformance suite covers the reference app over HTTP).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth_axum::test_helpers::{bearer_header, session_cookie};
use auth_axum::{
    ApiKey, Bearer, RequireRoles, RoleSet, SessionUser, csrf, require_permission, require_scopes,
};
use auth_core::Auth;
use auth_core::credential::User;
use axum::Router;
use axum::body::Body;
use axum::extract::FromRef;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use tower::ServiceExt as _;

#[derive(Clone, FromRef)]
struct State {
    auth: Auth,
}

async fn auth() -> Auth {
    reference_common::for_tests().await.unwrap()
}

fn user(id: &str, role: &str) -> User {
    reference_common::test_user(id, role)
}

async fn maybe(bearer: Option<Bearer>) -> String {
    match bearer {
        Some(Bearer(c)) => format!("hello {}", c.sub),
        None => "hello stranger".into(),
    }
}

async fn body_text(r: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn req(method: &str, path: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(path)
}

#[tokio::test]
async fn option_bearer_is_none_without_credentials_and_401_with_bad_ones() {
    let auth = auth().await;
    let app = Router::new()
        .route("/", get(maybe))
        .with_state(State { auth: auth.clone() });
    let r = app
        .clone()
        .oneshot(req("GET", "/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(body_text(r).await, "hello stranger");
    let r = app
        .clone()
        .oneshot(
            req("GET", "/")
                .header("authorization", "Bearer junk")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let header = bearer_header(&auth, &user("1", "admin")).await.unwrap();
    let r = app
        .oneshot(
            req("GET", "/")
                .header("authorization", header)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(body_text(r).await, "hello 1");
}

#[tokio::test]
async fn option_api_key_and_session_extractors() {
    async fn key(k: Option<ApiKey>) -> &'static str {
        if k.is_some() { "key" } else { "no key" }
    }
    async fn sess(s: Option<SessionUser>) -> String {
        s.map_or("no session".into(), |SessionUser(s)| {
            s.record.user_id.to_string()
        })
    }
    let auth = auth().await;
    let app = Router::new()
        .route("/k", get(key))
        .route("/s", get(sess))
        .with_state(State { auth: auth.clone() });
    let r = app
        .clone()
        .oneshot(req("GET", "/k").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(body_text(r).await, "no key");
    let r = app
        .clone()
        .oneshot(
            req("GET", "/k")
                .header("x-api-key", "secret-key-123")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(body_text(r).await, "key");
    let r = app
        .clone()
        .oneshot(
            req("GET", "/k")
                .header("x-api-key", "nope-nope-nope")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (cookie, _) = session_cookie(&auth, &user("3", "viewer")).await.unwrap();
    let r = app
        .clone()
        .oneshot(
            req("GET", "/s")
                .header("cookie", cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(body_text(r).await, "3");
    let r = app
        .oneshot(req("GET", "/s").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(body_text(r).await, "no session");
}

struct Admins;
impl RoleSet for Admins {
    const ROLES: &'static [&'static str] = &["admin"];
}

#[tokio::test]
async fn the_require_roles_extractor_guards_one_handler() {
    async fn admin_only(RequireRoles { principal: who, .. }: RequireRoles<Admins>) -> String {
        who.user_id().to_string()
    }
    let auth = auth().await;
    let app = Router::new()
        .route("/", get(admin_only))
        .with_state(State { auth: auth.clone() });
    let admin = bearer_header(&auth, &user("1", "admin")).await.unwrap();
    let viewer = bearer_header(&auth, &user("3", "viewer")).await.unwrap();
    let r = app
        .clone()
        .oneshot(
            req("GET", "/")
                .header("authorization", admin)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(body_text(r).await, "1");
    let r = app
        .oneshot(
            req("GET", "/")
                .header("authorization", viewer)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(body_text(r).await.contains("Required roles: [admin]"));
}

#[tokio::test]
async fn permission_and_scope_layers() {
    let auth = auth().await;
    let app = Router::new()
        .route("/manage", get(|| async { "managed" }))
        .route_layer(require_permission(&auth, "manage_users"))
        .merge(
            Router::new()
                .route("/scoped", get(|| async { "scoped" }))
                .route_layer(require_scopes(&auth, ["articles:write"])),
        )
        .with_state(State { auth: auth.clone() });
    let admin = bearer_header(&auth, &user("1", "admin")).await.unwrap();
    let editor = bearer_header(&auth, &user("2", "editor")).await.unwrap();
    let r = app
        .clone()
        .oneshot(
            req("GET", "/manage")
                .header("authorization", &admin)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(body_text(r).await, "managed");
    let r = app
        .clone()
        .oneshot(
            req("GET", "/manage")
                .header("authorization", &editor)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        body_text(r)
            .await
            .contains("Required permission: manage_users")
    );
    // A token without the scope: 403 insufficient_scope (RFC 6750 §3.1).
    let r = app
        .clone()
        .oneshot(
            req("GET", "/scoped")
                .header("authorization", &admin)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let www = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        www.starts_with("Bearer error=\"insufficient_scope\"")
            && www.ends_with("scope=\"articles:write\""),
        "{www}"
    );
    let r = app
        .oneshot(req("GET", "/scoped").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn the_csrf_layer_protects_cookie_requests_only() {
    let auth = auth().await;
    let app = Router::new()
        .route("/action", post(|| async { "done" }))
        .layer(csrf(&auth))
        .with_state(State { auth: auth.clone() });
    let (cookie, token) = session_cookie(&auth, &user("2", "editor")).await.unwrap();
    let r = app
        .clone()
        .oneshot(
            req("POST", "/action")
                .header("cookie", &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(body_text(r).await.contains("CSRF token missing or invalid"));
    let r = app
        .clone()
        .oneshot(
            req("POST", "/action")
                .header("cookie", &cookie)
                .header("x-csrf-token", &token)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(body_text(r).await, "done");
    let bearer = bearer_header(&auth, &user("2", "editor")).await.unwrap();
    let r = app
        .oneshot(
            req("POST", "/action")
                .header("authorization", bearer)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(body_text(r).await, "done", "bearer requests are exempt");
}
