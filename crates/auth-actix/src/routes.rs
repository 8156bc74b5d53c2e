//! Ready-made routes: `App::new().configure(auth_actix::routes::configure)`. Each one is a
//! thin call into `auth-core`'s framework-neutral endpoint, so it answers exactly as the
//! other adapters.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::{RequestView, auth_of, into_response};

/// Bodies larger than this are refused before any handler runs.
const BODY_LIMIT: usize = 64 * 1024;

/// Registers `/token`, `/refresh`, `/login`, `/logout`, `/logout/all`, `/sessions`,
/// `/sessions/{id}`, and third-party login's `/auth/{provider}/login` and
/// `/auth/{provider}/callback`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let limit = || web::PayloadConfig::new(BODY_LIMIT);
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
    .service(web::resource("/sessions/{id}").route(web::delete().to(delete_session)))
    .service(web::resource("/auth/{provider}/login").route(web::get().to(external_login)))
    .service(web::resource("/auth/{provider}/callback").route(web::get().to(external_callback)));
}

fn content_type(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
}

fn client(req: &HttpRequest) -> Option<std::net::IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

async fn token(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(
            auth.token_endpoint(content_type(&req), &body, client(&req))
                .await,
        ),
        Err(e) => into_response(e.0.to_response()),
    }
}

async fn refresh(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(auth.refresh_endpoint(&body).await),
        Err(e) => into_response(e.0.to_response()),
    }
}

async fn login(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => {
            let view = RequestView::new(&req);
            into_response(
                auth.login_endpoint(&view, content_type(&req), &body, client(&req))
                    .await,
            )
        }
        Err(e) => into_response(e.0.to_response()),
    }
}

async fn logout(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let auth = match auth_of(&req) {
        Ok(auth) => auth,
        Err(e) => return into_response(e.0.to_response()),
    };
    let view = RequestView::new(&req);
    // An HTML form may carry the CSRF token as its `csrf_token` field.
    let mut headers = req.headers().clone();
    if auth.csrf_form_wanted(&view, req.method().as_str()) {
        match auth.csrf_form_token(Some(&body)) {
            Ok(Some(token)) => {
                if let Ok(value) = HeaderValue::from_str(&token) {
                    headers.insert(HeaderName::from_static("x-csrf-token"), value);
                }
            }
            Ok(None) => {}
            Err(e) => return into_response(e.to_response()),
        }
    }
    let view = RequestView {
        headers: &headers,
        query: req.query_string(),
    };
    into_response(auth.logout_endpoint(&view, req.method().as_str()).await)
}

async fn logout_all(req: HttpRequest) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(auth.logout_all_endpoint(&RequestView::new(&req)).await),
        Err(e) => into_response(e.0.to_response()),
    }
}

async fn list_sessions(req: HttpRequest) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(auth.sessions_endpoint(&RequestView::new(&req)).await),
        Err(e) => into_response(e.0.to_response()),
    }
}

async fn external_login(req: HttpRequest, provider: web::Path<String>) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(auth.external_login_endpoint(&provider, &RequestView::new(&req))),
        Err(e) => into_response(e.0.to_response()),
    }
}

async fn external_callback(req: HttpRequest, provider: web::Path<String>) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(
            auth.external_callback_endpoint(&provider, &RequestView::new(&req))
                .await,
        ),
        Err(e) => into_response(e.0.to_response()),
    }
}

async fn delete_session(req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    match auth_of(&req) {
        Ok(auth) => into_response(
            auth.delete_session_endpoint(&RequestView::new(&req), &id)
                .await,
        ),
        Err(e) => into_response(e.0.to_response()),
    }
}
