//! `bench-stores`: the reference apps' auth routes (`/token`, `/refresh`, `/login`, …)
//! and a session-authenticated `/dashboard`, on the store the `AUTH_*` variables select
//! (memory; `AUTH_REDIS_URL`; `AUTH_DATABASE_URL` for SQLite or Postgres), through
//! `reference_common::build`, exactly as the reference apps wire it. `bench-run`
//! measures login, refresh and the session request on each store with it.
//!
//! Announces itself as the other bench servers do: `listening on URL`, then `route KEY
//! VALUE` lines (`/dashboard` with alice's session cookie, `refresh:N` with refresh
//! tokens for the refresh chains), then `ready`.

use auth_axum::{AuthRejection, SessionUser};
use auth_core::adapter::SimpleRequest;
use auth_core::{Auth, user_json};
use axum::extract::{FromRef, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

/// Refresh chains the driver runs at once (one wrk connection each).
const CHAINS: usize = 2;

#[derive(Clone, FromRef)]
struct AppState {
    auth: Auth,
}

async fn dashboard(
    State(auth): State<Auth>,
    SessionUser(session): SessionUser,
) -> Result<Json<Value>, AuthRejection> {
    let user = auth
        .user_of(&auth_core::Principal::Session(session))
        .await?;
    Ok(Json(serde_json::json!({"user": user_json(&user)})))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let reference = reference_common::from_env_or_exit().await;
    let auth = reference.auth.clone();
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! {
        eprintln!("bench-stores: {what}: {e}");
        std::process::exit(1)
    };
    let alice = match auth.users().find_by_username("alice").await {
        Ok(Some(u)) => u,
        Ok(None) => fail("demo user", &"alice is missing"),
        Err(e) => fail("demo user", &e),
    };
    let session = match auth
        .sessions()
        .start(&alice, Value::Null, &SimpleRequest::new())
        .await
    {
        Ok(s) => s,
        Err(e) => fail("session", &e),
    };
    let cookie = session
        .set_cookie
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut refresh = Vec::new();
    for _ in 0..CHAINS {
        match auth.tokens().login(&alice, None).await {
            Ok(pair) => refresh.push(pair.refresh.token),
            Err(e) => fail("login", &e),
        }
    }
    let app = Router::new()
        .route("/dashboard", get(dashboard))
        .merge(auth_axum::routes::auth_routes())
        .with_state(AppState { auth });
    let listener = match tokio::net::TcpListener::bind(reference.settings.bind).await {
        Ok(l) => l,
        Err(e) => fail("bind", &e),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => fail("bind", &e),
    };
    println!("listening on http://{addr}");
    println!("route /dashboard Cookie: {cookie}");
    for (i, token) in refresh.iter().enumerate() {
        println!("route refresh:{i} {token}");
    }
    println!("ready");
    if let Err(e) = axum::serve(listener, app).await {
        fail("serve", &e);
    }
}
