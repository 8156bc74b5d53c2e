//! Passkeys' routes (feature `passkeys`): the four `/webauthn/…` endpoints, part of
//! [`auth_routes`](crate::routes::auth_routes), and the optional page at `GET /webauthn`.
//! Glue only: each is one call into `auth-core`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRef, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};

use crate::{Auth, RequestView, into_response};

/// `POST /webauthn/register/start`, `/webauthn/register/finish` (bearer, or session +
/// CSRF), `/webauthn/login/start` and `/webauthn/login/finish` (no credential). Already
/// in [`auth_routes`](crate::routes::auth_routes) with the `passkeys` feature.
pub fn passkey_routes<S>() -> Router<S>
where
    Auth: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/webauthn/register/start", post(register_start))
        .route("/webauthn/register/finish", post(register_finish))
        .route("/webauthn/login/start", post(login_start))
        .route("/webauthn/login/finish", post(login_finish))
}

/// `GET /webauthn`: a page that registers and signs in with passkeys
/// ([`auth_core::passkey::PAGE_HTML`]). Not in `auth_routes`: merge it if you want it.
pub fn passkey_page_route<S>() -> Router<S>
where
    Auth: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/webauthn", get(page))
}

async fn page(State(auth): State<Auth>) -> Response {
    into_response(auth.passkey_page_endpoint())
}

async fn register_start(State(auth): State<Auth>, parts: Parts) -> Response {
    into_response(
        auth.passkey_register_start_endpoint(&RequestView::new(&parts))
            .await,
    )
}

async fn register_finish(State(auth): State<Auth>, parts: Parts, body: Bytes) -> Response {
    into_response(
        auth.passkey_register_finish_endpoint(&RequestView::new(&parts), &body)
            .await,
    )
}

async fn login_start(State(auth): State<Auth>, body: Bytes) -> Response {
    into_response(auth.passkey_login_start_endpoint(&body).await)
}

async fn login_finish(State(auth): State<Auth>, parts: Parts, body: Bytes) -> Response {
    into_response(
        auth.passkey_login_finish_endpoint(&RequestView::new(&parts), &body)
            .await,
    )
}
