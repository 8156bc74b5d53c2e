//! The load-test server for `docs/BENCHMARKS.md`: one small JSON route served twice, open
//! (`/open`) and behind the `Bearer` extractor (`/protected`: full verification plus the
//! revocation check on the memory store), in one process build.
//!
//! `cargo run --release -p auth-axum --example load` prints the listening line and an
//! access token for `wrk -H "Authorization: Bearer …"`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark server aborts on a broken setup

use auth_axum::Bearer;
use auth_core::Auth;
use auth_core::credential::User;
use axum::extract::FromRef;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

#[derive(Clone, FromRef)]
struct State {
    auth: Auth,
}

async fn open() -> Json<Value> {
    Json(json!({"message": "hello", "items": [1, 2, 3]}))
}

async fn protected(Bearer(_claims): Bearer) -> Json<Value> {
    Json(json!({"message": "hello", "items": [1, 2, 3]}))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let settings = reference_common::Settings::from_lookup(|name| match name {
        "AUTH_JWT_SECRET" => Some("load-test-access-secret-0123456789abcdef".into()),
        "AUTH_REFRESH_SECRET" => Some("load-test-refresh-secret-0123456789abcde".into()),
        "AUTH_BIND" => std::env::var("AUTH_BIND").ok(),
        _ => None,
    })
    .expect("settings");
    let bind = settings.bind;
    let auth = reference_common::build(settings).await.expect("build").auth;
    let alice = User {
        id: "1".into(),
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        roles: vec!["admin".into()],
        password_hash: String::new(),
        disabled: false,
    };
    let header = auth_axum::test_helpers::bearer_header(&auth, &alice)
        .await
        .expect("token");
    let app = Router::new()
        .route("/open", get(open))
        .route("/protected", get(protected))
        .with_state(State { auth });
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    println!(
        "listening on http://{}",
        listener.local_addr().expect("addr")
    );
    println!("{header}");
    axum::serve(listener, app).await.expect("serve");
}
