//! The load-test server for `docs/BENCHMARKS.md`: one small JSON route served twice, open
//! (`/open`) and behind the `bearer` filter (`/protected`).
//!
//! `cargo run --release -p auth-warp --example load` prints the listening line and a
//! bearer header for `wrk -H "Authorization: …"`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark server aborts on a broken setup

use auth_core::credential::User;
use serde_json::json;
use warp::Filter;

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
    let header = auth_warp::test_helpers::bearer_header(&auth, &alice)
        .await
        .expect("token");
    let body = || warp::reply::json(&json!({"message": "hello", "items": [1, 2, 3]}));
    let open = warp::path!("open").map(body);
    let protected = warp::path!("protected")
        .and(auth_warp::bearer(auth))
        .map(move |_| body());
    let routes = open.or(protected).recover(auth_warp::recover);
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    println!(
        "listening on http://{}",
        listener.local_addr().expect("addr")
    );
    println!("{header}");
    warp::serve(routes).incoming(listener).run().await;
}
