//! Ready-made routes, to `merge` into your router. Each one is a thin call into
//! `auth-core`'s framework-neutral endpoint, so it answers exactly as the other adapters.
//!
//! | route | what |
//! |---|---|
//! | `POST /token` | OAuth2 token endpoint: `password`, `refresh_token` and `mfa_otp` grants |
//! | `POST /refresh` | JSON `{"refresh_token"}`: rotation with reuse detection |
//! | `POST /login` | form login: starts a cookie session, returns the CSRF token |
//! | `POST /logout` | bearer: that login's tokens; cookie (+ CSRF): that session |
//! | `POST /logout/all` | bearer: every login and session of the user |
//! | `GET /sessions`, `DELETE /sessions/{id}` | the caller's live logins and sessions |
//! | `POST /mfa/totp/enroll`, `POST /mfa/totp/confirm`, `DELETE /mfa/totp` | the caller's TOTP second factor |
//! | `POST /login/mfa` | the second step of a cookie login with a second factor |
//! | `GET /auth/{provider}/login`, `GET /auth/{provider}/callback` | third-party login (authorization code + PKCE), feature `third-party` |
//! | `POST /webauthn/register/start`, `/finish`, `POST /webauthn/login/start`, `/finish` | passkeys (WebAuthn), feature `passkeys` |
//! | `GET /.well-known/jwks.json` | the public keys that verify access tokens (`{"keys": []}` with HMAC) |

use auth_core::adapter::MAX_BODY_BYTES;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRef, Path, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{delete, get, post};

#[cfg(feature = "passkeys")]
pub use crate::passkeys::{passkey_page_route, passkey_routes};
use crate::{Auth, RequestView, into_response};

/// All the ready-made routes. Needs `Auth: FromRef<S>`; the client address for login
/// throttling comes from `ConnectInfo<SocketAddr>` when the server provides it
/// (`into_make_service_with_connect_info`).
pub fn auth_routes<S>() -> Router<S>
where
    Auth: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    let router = Router::new()
        .route("/token", post(token))
        .route("/refresh", post(refresh))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/logout/all", post(logout_all))
        .route("/sessions", get(list_sessions))
        .route("/sessions/{id}", delete(delete_session));
    #[cfg(feature = "third-party")]
    let router = router
        .route("/auth/{provider}/login", get(external_login))
        .route("/auth/{provider}/callback", get(external_callback));
    #[cfg(feature = "passkeys")]
    let router = router.merge(passkey_routes());
    router
        .merge(second_factor_routes())
        .merge(jwks_route())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The second factor's routes (already part of [`auth_routes`]): TOTP enrolment,
/// confirmation and removal for the caller (bearer, or session + CSRF), and
/// `POST /login/mfa`. They answer 404 unless `AuthBuilder::second_factor` is set.
pub fn second_factor_routes<S>() -> Router<S>
where
    Auth: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/mfa/totp/enroll", post(mfa_enroll))
        .route("/mfa/totp/confirm", post(mfa_confirm))
        .route("/mfa/totp", delete(mfa_disable))
        .route("/login/mfa", post(login_mfa))
}

async fn mfa_enroll(State(auth): State<Auth>, parts: Parts) -> Response {
    into_response(auth.mfa_enroll_endpoint(&RequestView::new(&parts)).await)
}

async fn mfa_confirm(State(auth): State<Auth>, parts: Parts, body: Bytes) -> Response {
    into_response(
        auth.mfa_confirm_endpoint(&RequestView::new(&parts), &body)
            .await,
    )
}

async fn mfa_disable(State(auth): State<Auth>, parts: Parts, body: Bytes) -> Response {
    into_response(
        auth.mfa_disable_endpoint(&RequestView::new(&parts), &body)
            .await,
    )
}

async fn login_mfa(State(auth): State<Auth>, parts: Parts, body: Bytes) -> Response {
    into_response(
        auth.login_mfa_endpoint(&RequestView::new(&parts), &body)
            .await,
    )
}

/// `GET /.well-known/jwks.json` alone (already part of [`auth_routes`]): the JWK set of
/// the keys that verify access tokens, as [`Auth::jwks_endpoint`] answers it.
pub fn jwks_route<S>() -> Router<S>
where
    Auth: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

async fn jwks(State(auth): State<Auth>) -> Response {
    into_response(auth.jwks_endpoint())
}

async fn token(State(auth): State<Auth>, parts: Parts, body: Bytes) -> Response {
    into_response(auth.token_endpoint(&RequestView::new(&parts), &body).await)
}

async fn refresh(State(auth): State<Auth>, body: Bytes) -> Response {
    into_response(auth.refresh_endpoint(&body).await)
}

async fn login(State(auth): State<Auth>, parts: Parts, body: Bytes) -> Response {
    into_response(auth.login_endpoint(&RequestView::new(&parts), &body).await)
}

async fn logout(State(auth): State<Auth>, request: axum::extract::Request) -> Response {
    // An HTML form may carry the CSRF token as its `csrf_token` field.
    let parts = match crate::csrf_form_field(&auth, request).await {
        Ok(request) => request.into_parts().0,
        Err(e) => return into_response(e),
    };
    into_response(auth.logout_endpoint(&RequestView::new(&parts)).await)
}

async fn logout_all(State(auth): State<Auth>, parts: Parts) -> Response {
    into_response(auth.logout_all_endpoint(&RequestView::new(&parts)).await)
}

async fn list_sessions(State(auth): State<Auth>, parts: Parts) -> Response {
    into_response(auth.sessions_endpoint(&RequestView::new(&parts)).await)
}

#[cfg(feature = "third-party")]
async fn external_login(
    State(auth): State<Auth>,
    Path(provider): Path<String>,
    parts: Parts,
) -> Response {
    into_response(auth.external_login_endpoint(&provider, &RequestView::new(&parts)))
}

#[cfg(feature = "third-party")]
async fn external_callback(
    State(auth): State<Auth>,
    Path(provider): Path<String>,
    parts: Parts,
) -> Response {
    into_response(
        auth.external_callback_endpoint(&provider, &RequestView::new(&parts))
            .await,
    )
}

async fn delete_session(
    State(auth): State<Auth>,
    Path(id): Path<String>,
    parts: Parts,
) -> Response {
    into_response(
        auth.delete_session_endpoint(&RequestView::new(&parts), &id)
            .await,
    )
}
