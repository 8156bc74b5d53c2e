//! `bench-warp MODE`: one warp 0.4 server on a single-threaded tokio runtime.
//!
//! - `bare`: `GET /hello`, no auth.
//! - `ours`: `GET /jwt` (`auth_warp::bearer`), `GET /apikey` (`api_key`), `GET /session`
//!   (`session`), plus the ready-made routes (`POST /token` for the login burst), with
//!   `auth_warp::recover`; the route named by `BENCH_FIRST_ROUTE` first
//!   (`auth_bench::route_order`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench server aborts on a broken setup

use auth_bench::{HELLO, announce, bind_addr, peer_token};
use warp::Filter;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let hello = || warp::reply::json(&HELLO);
    match mode.as_str() {
        "bare" => {
            let routes = warp::path!("hello").and(warp::get()).map(hello);
            let listener = tokio::net::TcpListener::bind(bind_addr())
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            announce(
                addr,
                &[("/hello", format!("Authorization: Bearer {}", peer_token()))],
            );
            warp::serve(routes).incoming(listener).run().await;
        }
        "ours" => {
            let ours = auth_bench::ours().await.expect("setup");
            let auth = ours.auth.clone();
            let jwt = warp::path!("jwt")
                .and(warp::get())
                .and(auth_warp::bearer(auth.clone()))
                .map(move |_| hello());
            let apikey = warp::path!("apikey")
                .and(warp::get())
                .and(auth_warp::api_key(auth.clone()))
                .map(move |_| hello());
            let session = warp::path!("session")
                .and(warp::get())
                .and(auth_warp::session(auth.clone()))
                .map(move |_| hello());
            let listener = tokio::net::TcpListener::bind(ours.bind)
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            announce(addr, &ours.routes());
            // The measured route first (`auth_bench::route_order`).
            macro_rules! serve {
                ($first:expr, $second:expr, $third:expr) => {
                    warp::serve(
                        $first
                            .or($second)
                            .or($third)
                            .or(auth_warp::routes::auth_routes(auth))
                            .recover(auth_warp::recover),
                    )
                    .incoming(listener)
                    .run()
                    .await
                };
            }
            match auth_bench::route_order()[0] {
                "/apikey" => serve!(apikey, jwt, session),
                "/session" => serve!(session, jwt, apikey),
                _ => serve!(jwt, apikey, session),
            }
        }
        other => {
            eprintln!("bench-warp: unknown mode `{other}` (bare, ours)");
            std::process::exit(2);
        }
    }
}
