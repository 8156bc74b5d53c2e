//! Ready-made routes: `App::new().configure(auth_actix::routes::auth_routes)`. Each one
//! is a thin call into `auth-core`'s framework-neutral endpoint, so it answers exactly as
//! the other adapters.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::adapter::MAX_BODY_BYTES;

#[cfg(feature = "passkeys")]
pub use crate::passkeys::{passkey_page_route, passkey_routes};
use crate::{RequestView, auth_of, into_response};

/// Registers `/token`, `/refresh`, `/login`, `/logout`, `/logout/all`, `/sessions`,
/// `/sessions/{id}`, the second factor's routes ([`second_factor_routes`]), third-party login's `/auth/{provider}/login` and
/// `/auth/{provider}/callback` (feature `third-party`), the passkey routes
/// `/webauthn/register/{start,finish}` and `/webauthn/login/{start,finish}` (feature
/// `passkeys`), and `GET /.well-known/jwks.json` (the public keys that
/// verify access tokens): `App::new().configure(auth_routes)`.
pub fn auth_routes(cfg: &mut web::ServiceConfig) {
    let limit = || web::PayloadConfig::new(MAX_BODY_BYTES);
    cfg.service(
        web::resource("/token")
            .app_data(limit())
            .route(web::post().to(token)),
    )
    .service(
        web::resource("/refresh")
            .app_data(limit())
            .route(web::post().to(refresh)),
    )
    .service(
        web::resource("/login")
            .app_data(limit())
            .route(web::post().to(login)),
    )
    .service(
        web::resource("/logout")
            .app_data(limit())
            .route(web::post().to(logout)),
    )
    .service(web::resource("/logout/all").route(web::post().to(logout_all)))
    .service(web::resource("/sessions").route(web::get().to(list_sessions)))
    .service(web::resource("/sessions/{id}").route(web::delete().to(delete_session)));
    #[cfg(feature = "third-party")]
    cfg.service(web::resource("/auth/{provider}/login").route(web::get().to(external_login)))
        .service(
            web::resource("/auth/{provider}/callback").route(web::get().to(external_callback)),
        );
    second_factor_routes(cfg);
    #[cfg(feature = "passkeys")]
    passkey_routes(cfg);
    cfg.service(web::resource("/.well-known/jwks.json").route(web::get().to(jwks)));
}

/// Registers the second factor's routes (already part of [`auth_routes`]):
/// `POST /mfa/totp/enroll`, `POST /mfa/totp/confirm`, `DELETE /mfa/totp` for the caller
/// (bearer, or session + CSRF) and `POST /login/mfa`. They answer 404 unless
/// `AuthBuilder::second_factor` is set.
pub fn second_factor_routes(cfg: &mut web::ServiceConfig) {
    let limit = || web::PayloadConfig::new(MAX_BODY_BYTES);
    cfg.service(web::resource("/mfa/totp/enroll").route(web::post().to(mfa_enroll)))
        .service(
            web::resource("/mfa/totp/confirm")
                .app_data(limit())
                .route(web::post().to(mfa_confirm)),
        )
        .service(
            web::resource("/mfa/totp")
                .app_data(limit())
                .route(web::delete().to(mfa_disable)),
        )
        .service(
            web::resource("/login/mfa")
                .app_data(limit())
                .route(web::post().to(login_mfa)),
        );
}

async fn mfa_enroll(req: HttpRequest) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(auth.mfa_enroll_endpoint(&RequestView::new(&req)).await),
        Err(e) => into_response(e),
    }
}

async fn mfa_confirm(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(
            auth.mfa_confirm_endpoint(&RequestView::new(&req), &body)
                .await,
        ),
        Err(e) => into_response(e),
    }
}

async fn mfa_disable(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(
            auth.mfa_disable_endpoint(&RequestView::new(&req), &body)
                .await,
        ),
        Err(e) => into_response(e),
    }
}

async fn login_mfa(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(
            auth.login_mfa_endpoint(&RequestView::new(&req), &body)
                .await,
        ),
        Err(e) => into_response(e),
    }
}

async fn jwks(req: HttpRequest) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(auth.jwks_endpoint()),
        Err(e) => into_response(e),
    }
}

async fn token(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(auth.token_endpoint(&RequestView::new(&req), &body).await),
        Err(e) => into_response(e),
    }
}

async fn refresh(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(auth.refresh_endpoint(&body).await),
        Err(e) => into_response(e),
    }
}

async fn login(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(auth.login_endpoint(&RequestView::new(&req), &body).await),
        Err(e) => into_response(e),
    }
}

async fn logout(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let auth = match auth_of(&req) {
        Ok(auth) => auth,
        Err(e) => return into_response(e),
    };
    let view = RequestView::new(&req);
    // An HTML form may carry the CSRF token as its `csrf_token` field.
    let mut headers = req.headers().clone();
    if auth.csrf_form_wanted(&view) {
        match auth.csrf_form_token(Some(&body)) {
            Ok(Some(token)) => {
                if let Ok(value) = HeaderValue::from_str(&token) {
                    headers.insert(HeaderName::from_static("x-csrf-token"), value);
                }
            }
            Ok(None) => {}
            Err(e) => return into_response(e),
        }
    }
    into_response(auth.logout_endpoint(&view.with_headers(&headers)).await)
}

async fn logout_all(req: HttpRequest) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(auth.logout_all_endpoint(&RequestView::new(&req)).await),
        Err(e) => into_response(e),
    }
}

async fn list_sessions(req: HttpRequest) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(auth.sessions_endpoint(&RequestView::new(&req)).await),
        Err(e) => into_response(e),
    }
}

#[cfg(feature = "third-party")]
async fn external_login(req: HttpRequest, provider: web::Path<String>) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(auth.external_login_endpoint(&provider, &RequestView::new(&req))),
        Err(e) => into_response(e),
    }
}

#[cfg(feature = "third-party")]
async fn external_callback(req: HttpRequest, provider: web::Path<String>) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(
            auth.external_callback_endpoint(&provider, &RequestView::new(&req))
                .await,
        ),
        Err(e) => into_response(e),
    }
}

async fn delete_session(req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(
            auth.delete_session_endpoint(&RequestView::new(&req), &id)
                .await,
        ),
        Err(e) => into_response(e),
    }
}
