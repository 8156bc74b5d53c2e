//! The load-test server for `docs/BENCHMARKS.md`: one small JSON route served twice, open
//! (`/open`) and behind the `Bearer` extractor (`/protected`: full verification plus the
//! revocation check on the memory store), in one process build.
//!
//! `cargo run --release -p auth-axum --example load` prints the listening line and an
//! access token for `wrk -H "Authorization: Bearer …"`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark server aborts on a broken setup

use auth_axum::Bearer;
use auth_core::Auth;
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
    let (auth, bind, header) = reference_common::load_test_setup().await.expect("setup");
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
