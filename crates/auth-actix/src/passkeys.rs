//! Passkeys' routes (feature `passkeys`): the four `/webauthn/…` endpoints, part of
//! [`auth_routes`](crate::routes::auth_routes), and the optional page at `GET /webauthn`.
//! Glue only: each is one call into `auth-core`.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::adapter::MAX_BODY_BYTES;

use crate::{RequestView, auth_of, into_response};

/// Registers `POST /webauthn/register/start`, `/webauthn/register/finish` (bearer, or
/// session + CSRF), `/webauthn/login/start` and `/webauthn/login/finish` (no
/// credential). Already in [`auth_routes`](crate::routes::auth_routes) with the
/// `passkeys` feature.
pub fn passkey_routes(cfg: &mut web::ServiceConfig) {
    let limit = || web::PayloadConfig::new(MAX_BODY_BYTES);
    cfg.service(web::resource("/webauthn/register/start").route(web::post().to(register_start)))
        .service(
            web::resource("/webauthn/register/finish")
                .app_data(limit())
                .route(web::post().to(register_finish)),
        )
        .service(
            web::resource("/webauthn/login/start")
                .app_data(limit())
                .route(web::post().to(login_start)),
        )
        .service(
            web::resource("/webauthn/login/finish")
                .app_data(limit())
                .route(web::post().to(login_finish)),
        );
}

/// Registers `GET /webauthn`: a page that registers and signs in with passkeys
/// ([`auth_core::passkey::PAGE_HTML`]). Not in `auth_routes`: configure it if you want it.
pub fn passkey_page_route(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/webauthn").route(web::get().to(page)));
}

async fn page(req: HttpRequest) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(auth.passkey_page_endpoint()),
        Err(e) => into_response(e),
    }
}

async fn register_start(req: HttpRequest) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(
            auth.passkey_register_start_endpoint(&RequestView::new(&req))
                .await,
        ),
        Err(e) => into_response(e),
    }
}

async fn register_finish(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(
            auth.passkey_register_finish_endpoint(&RequestView::new(&req), &body)
                .await,
        ),
        Err(e) => into_response(e),
    }
}

async fn login_start(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(auth.passkey_login_start_endpoint(&body).await),
        Err(e) => into_response(e),
    }
}

async fn login_finish(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(
            auth.passkey_login_finish_endpoint(&RequestView::new(&req), &body)
                .await,
        ),
        Err(e) => into_response(e),
    }
}
