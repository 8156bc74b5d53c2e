//! Passkeys' routes (feature `passkeys`): the four `/webauthn/…` endpoints, part of
//! [`auth_routes`](crate::routes::auth_routes), and the optional page at `GET /webauthn`.
//! Glue only: each is one call into `auth-core`.

use warp::Filter;
use warp::hyper::body::Bytes;

use crate::routes::optional_body;
use warp::reject::Rejection;

use crate::{Auth, RequestView, into_response, view, with_auth};

/// `POST /webauthn/register/start`, `/webauthn/register/finish` (bearer, or session +
/// CSRF), `/webauthn/login/start` and `/webauthn/login/finish` (no credential). Already
/// in [`auth_routes`](crate::routes::auth_routes) with the `passkeys` feature.
pub fn passkey_routes(
    auth: Auth,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let a = || with_auth(auth.clone()).and(view());
    let register_start = warp::path!("webauthn" / "register" / "start")
        .and(warp::post())
        .and(a())
        .then(|auth: Auth, view: RequestView| async move {
            into_response(auth.passkey_register_start_endpoint(&view).await)
        });
    let register_finish = warp::path!("webauthn" / "register" / "finish")
        .and(warp::post())
        .and(a())
        .and(optional_body())
        .then(|auth: Auth, view: RequestView, body: Bytes| async move {
            into_response(auth.passkey_register_finish_endpoint(&view, &body).await)
        });
    let login_start = warp::path!("webauthn" / "login" / "start")
        .and(warp::post())
        .and(with_auth(auth.clone()))
        .and(optional_body())
        .then(|auth: Auth, body: Bytes| async move {
            into_response(auth.passkey_login_start_endpoint(&body).await)
        });
    let login_finish = warp::path!("webauthn" / "login" / "finish")
        .and(warp::post())
        .and(a())
        .and(optional_body())
        .then(|auth: Auth, view: RequestView, body: Bytes| async move {
            into_response(auth.passkey_login_finish_endpoint(&view, &body).await)
        });
    register_start
        .or(register_finish)
        .unify()
        .or(login_start)
        .unify()
        .or(login_finish)
        .unify()
}

/// `GET /webauthn`: a page that registers and signs in with passkeys
/// ([`auth_core::passkey::PAGE_HTML`]). Not in `auth_routes`: add it if you want it.
pub fn passkey_page_route(
    auth: Auth,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("webauthn")
        .and(warp::get())
        .and(with_auth(auth))
        .map(|auth: Auth| into_response(auth.passkey_page_endpoint()))
}
