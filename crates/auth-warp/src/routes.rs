//! Ready-made routes: [`auth_routes`] (`/token`, `/refresh`, `/login`, `/logout`,
//! `/logout/all`, `/sessions`, `/sessions/{id}`, third-party login (feature `third-party`),
//! `/.well-known/jwks.json`), and
//! [`private_responses`]. Each route is a thin call into `auth-core`'s endpoint, so it
//! answers exactly as the other adapters.

use auth_core::adapter::MAX_BODY_BYTES;
use warp::Filter;
use warp::http::header::{HeaderName, HeaderValue};
use warp::hyper::body::Bytes;
use warp::reject::Rejection;

#[cfg(feature = "passkeys")]
pub use crate::passkeys::{passkey_page_route, passkey_routes};
use crate::{Auth, RequestView, csrf_view, into_response, view, with_auth};

pub(crate) fn body() -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    let limit = u64::try_from(MAX_BODY_BYTES).unwrap_or(u64::MAX);
    warp::body::content_length_limit(limit).and(warp::body::bytes())
}

/// A body as [`body`] reads it, or an empty one when the request announces none (no
/// `Content-Length`, no `Transfer-Encoding`): a `DELETE` or a sign-in start usually has
/// none, and the core, not warp's 411, should answer it (a 401 first, for a request
/// without credentials, as on the other adapters). Shared by the second factor's and the
/// passkeys' routes.
pub(crate) fn optional_body() -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    let none = warp::header::optional::<String>("content-length")
        .and(warp::header::optional::<String>("transfer-encoding"))
        .and_then(
            |length: Option<String>, encoding: Option<String>| async move {
                match (length, encoding) {
                    (None, None) => Ok(Bytes::new()),
                    _ => Err(warp::reject::not_found()),
                }
            },
        );
    body().or(none).unify()
}

/// The ready-made routes: `/token`, `/refresh`, `/login`, `/logout`, `/logout/all`,
/// `/sessions`, `/sessions/{id}`, the second factor's routes ([`second_factor_routes`]), third-party login's `/auth/{provider}/login` and
/// `/auth/{provider}/callback` (feature `third-party`), the passkey routes
/// `/webauthn/register/{start,finish}` and `/webauthn/login/{start,finish}` (feature
/// `passkeys`), and `GET /.well-known/jwks.json` (the public keys that
/// verify access tokens). Each is a thin call into `auth-core`'s endpoint.
pub fn auth_routes(
    auth: Auth,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let a = || with_auth(auth.clone()).and(view());
    let token = warp::path!("token")
        .and(warp::post())
        .and(a())
        .and(body())
        .then(|auth: Auth, view: RequestView, body: Bytes| async move {
            into_response(auth.token_endpoint(&view, &body).await)
        });
    let refresh = warp::path!("refresh")
        .and(warp::post())
        .and(with_auth(auth.clone()))
        .and(body())
        .then(|auth: Auth, body: Bytes| async move {
            into_response(auth.refresh_endpoint(&body).await)
        });
    let login = warp::path!("login")
        .and(warp::post())
        .and(a())
        .and(body())
        .then(|auth: Auth, view: RequestView, body: Bytes| async move {
            into_response(auth.login_endpoint(&view, &body).await)
        });
    let logout = warp::path!("logout")
        .and(warp::post())
        .and(with_auth(auth.clone()))
        .and(csrf_view(auth.clone()))
        .then(|auth: Auth, view: RequestView| async move {
            into_response(auth.logout_endpoint(&view).await)
        });
    let logout_all = warp::path!("logout" / "all")
        .and(warp::post())
        .and(a())
        .then(|auth: Auth, view: RequestView| async move {
            into_response(auth.logout_all_endpoint(&view).await)
        });
    let sessions = warp::path!("sessions").and(warp::get()).and(a()).then(
        |auth: Auth, view: RequestView| async move {
            into_response(auth.sessions_endpoint(&view).await)
        },
    );
    let delete_session = warp::path!("sessions" / String)
        .and(warp::delete())
        .and(a())
        .then(|id: String, auth: Auth, view: RequestView| async move {
            into_response(auth.delete_session_endpoint(&view, &id).await)
        });
    #[cfg(feature = "third-party")]
    let external_login = warp::path!("auth" / String / "login")
        .and(warp::get())
        .and(a())
        .map(|provider: String, auth: Auth, view: RequestView| {
            into_response(auth.external_login_endpoint(&provider, &view))
        });
    #[cfg(feature = "third-party")]
    let external_callback = warp::path!("auth" / String / "callback")
        .and(warp::get())
        .and(a())
        .then(
            |provider: String, auth: Auth, view: RequestView| async move {
                into_response(auth.external_callback_endpoint(&provider, &view).await)
            },
        );
    let jwks = warp::path!(".well-known" / "jwks.json")
        .and(warp::get())
        .and(with_auth(auth.clone()))
        .map(|auth: Auth| into_response(auth.jwks_endpoint()));
    let routes = token.or(refresh).unify().or(jwks).unify();
    #[cfg(feature = "third-party")]
    let routes = routes
        .or(external_login)
        .unify()
        .or(external_callback)
        .unify();
    #[cfg(feature = "passkeys")]
    let routes = routes.or(passkey_routes(auth.clone())).unify();
    routes
        .or(second_factor_routes(auth))
        .unify()
        .or(login)
        .unify()
        .or(logout)
        .unify()
        .or(logout_all)
        .unify()
        .or(sessions)
        .unify()
        .or(delete_session)
        .unify()
        // Boxed: warp clones the whole filter tree, and drops it, on every request of
        // every route mounted beside these; one `Arc` costs less than this tree's parts.
        .boxed()
}

/// The second factor's routes (already part of [`auth_routes`]): `POST /mfa/totp/enroll`,
/// `POST /mfa/totp/confirm`, `DELETE /mfa/totp` for the caller (bearer, or session +
/// CSRF) and `POST /login/mfa`. They answer 404 unless `AuthBuilder::second_factor` is set.
pub fn second_factor_routes(
    auth: Auth,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let a = || with_auth(auth.clone()).and(view());
    let enroll = warp::path!("mfa" / "totp" / "enroll")
        .and(warp::post())
        .and(a())
        .then(|auth: Auth, view: RequestView| async move {
            into_response(auth.mfa_enroll_endpoint(&view).await)
        });
    let confirm = warp::path!("mfa" / "totp" / "confirm")
        .and(warp::post())
        .and(a())
        .and(optional_body())
        .then(|auth: Auth, view: RequestView, body: Bytes| async move {
            into_response(auth.mfa_confirm_endpoint(&view, &body).await)
        });
    let disable = warp::path!("mfa" / "totp")
        .and(warp::delete())
        .and(a())
        .and(optional_body())
        .then(|auth: Auth, view: RequestView, body: Bytes| async move {
            into_response(auth.mfa_disable_endpoint(&view, &body).await)
        });
    let login_mfa = warp::path!("login" / "mfa")
        .and(warp::post())
        .and(a())
        .and(body())
        .then(|auth: Auth, view: RequestView, body: Bytes| async move {
            into_response(auth.login_mfa_endpoint(&view, &body).await)
        });
    enroll
        .or(confirm)
        .unify()
        .or(disable)
        .unify()
        .or(login_mfa)
        .unify()
}

/// Wraps your `routes` so answers to credentialed requests stay private
/// ([`Auth::private_headers`]): `Cache-Control: no-store` and `Vary: Authorization,
/// Cookie, X-API-Key` (appended to any `Vary` the handler set).
pub fn private_responses<F>(
    auth: Auth,
    routes: F,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone
where
    F: Filter<Extract = (warp::reply::Response,), Error = Rejection>
        + Clone
        + Send
        + Sync
        + 'static,
{
    view().and(routes).map(
        move |view: RequestView, mut response: warp::reply::Response| {
            let headers = response.headers_mut();
            for (name, value) in auth.private_headers(&view) {
                let Ok(value) = HeaderValue::from_str(value) else {
                    continue;
                };
                let name = HeaderName::from_static(name);
                if name == warp::http::header::VARY {
                    headers.append(name, value);
                } else {
                    headers.insert(name, value);
                }
            }
            response
        },
    )
}
