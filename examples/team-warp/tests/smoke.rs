//! Starts `team-warp` against the local Redis and checks it over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../../team-shared/smoke.rs"]
mod smoke;

#[tokio::test]
async fn service_works() {
    smoke::service_works(env!("CARGO_BIN_EXE_team-warp")).await;
}

#[tokio::test]
async fn refuses_to_start_without_keys() {
    smoke::refuses_to_start_without_keys(env!("CARGO_BIN_EXE_team-warp")).await;
}

#[tokio::test]
async fn browser_pages_work() {
    smoke::browser_pages_work(env!("CARGO_BIN_EXE_team-warp")).await;
}
