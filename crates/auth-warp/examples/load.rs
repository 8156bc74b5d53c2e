//! The load-test server for `docs/BENCHMARKS.md`: one small JSON route served twice, open
//! (`/open`) and behind the `bearer` filter (`/protected`).
//!
//! `cargo run --release -p auth-warp --example load` prints the listening line and a
//! bearer header for `wrk -H "Authorization: …"`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark server aborts on a broken setup

use serde_json::json;
use warp::Filter;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (auth, bind, header) = reference_common::load_test_setup().await.expect("setup");
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
