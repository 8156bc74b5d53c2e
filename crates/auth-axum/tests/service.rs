//! `auth_axum::service`: the guard layers over a plain tower service (no axum router),
//! for plain HTTP and gRPC calls alike.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use auth_core::credential::{ApiKeyRecord, User};
use auth_core::{Auth, Principal};
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use tower::{ServiceBuilder, ServiceExt as _};

async fn auth() -> Auth {
    reference_common::for_tests().await.unwrap()
}

fn user(id: &str, role: &str) -> User {
    reference_common::test_user(id, role)
}

/// The inner service: who the layer let through.
async fn inner(request: Request<Body>) -> Result<Response<String>, Infallible> {
    let extensions = request.extensions();
    let who = match (
        extensions.get::<Principal>(),
        extensions.get::<ApiKeyRecord>(),
    ) {
        (Some(p), _) => format!("user {}", p.user_id()),
        (None, Some(key)) => format!("key {}", key.name),
        (None, None) => "nobody".into(),
    };
    Ok(Response::new(who))
}

async fn text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn call(grpc: bool) -> axum::http::request::Builder {
    let builder = Request::post("/svc/Method");
    if grpc {
        builder.header("content-type", "application/grpc")
    } else {
        builder.header("content-type", "application/json")
    }
}

#[tokio::test]
async fn bearer_lets_the_caller_through_and_refuses_others_per_protocol() {
    let auth = auth().await;
    let service = ServiceBuilder::new()
        .layer(auth_axum::service::require_roles(&auth, ["editor"]))
        .service_fn(inner);
    let editor = auth_core::testing::bearer_header(&auth, &user("2", "editor"))
        .await
        .unwrap();
    let ok = call(true)
        .header("authorization", &editor)
        .body(Body::empty())
        .unwrap();
    let response = service.clone().oneshot(ok).await.unwrap();
    assert_eq!(text(response).await, "user 2");

    // A plain HTTP request gets the core's problem+json.
    let plain = call(false).body(Body::empty()).unwrap();
    let response = service.clone().oneshot(plain).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(response.headers()["www-authenticate"], "Bearer");

    // A gRPC call from a viewer: PERMISSION_DENIED in the headers, no body.
    let viewer = auth_core::testing::bearer_header(&auth, &user("3", "viewer"))
        .await
        .unwrap();
    let denied = call(true)
        .header("authorization", &viewer)
        .body(Body::empty())
        .unwrap();
    let response = service.oneshot(denied).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "7");
    assert!(response.headers().contains_key("grpc-message"));
    assert_eq!(text(response).await, "");
}

#[tokio::test]
async fn api_keys_guard_a_service_too() {
    let auth = auth().await;
    let service = ServiceBuilder::new()
        .layer(auth_axum::service::api_key(&auth))
        .service_fn(inner);
    let with_key = call(true)
        .header("x-api-key", reference_common::DEMO_API_KEYS[0])
        .body(Body::empty())
        .unwrap();
    let response = service.clone().oneshot(with_key).await.unwrap();
    assert_eq!(text(response).await, "key demo");

    let wrong = call(true)
        .header("x-api-key", "not-a-key")
        .body(Body::empty())
        .unwrap();
    let response = service.oneshot(wrong).await.unwrap();
    assert_eq!(response.headers()["grpc-status"], "16");
    assert_eq!(response.headers()["www-authenticate"], "ApiKey");
}
