//! A team's own actix-web service on auth-toolkit: its user map with tenants, its keys
//! from the environment (rotated at run time by an admin), a role-guarded scope, an
//! optional-auth route, cookie sessions with CSRF, its own error JSON, HTML error pages
//! for its browser routes, and Redis.
//! The framework-neutral half is `../team-shared/team.rs`; this file is the actix wiring.
//!
//! `TEAM_JWT_SECRET=... TEAM_REFRESH_SECRET=... cargo run -p team-actix`

#[path = "../../team-shared/team.rs"]
mod team;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use auth_actix::{AuthRejection, Bearer, Maybe, SessionUser, require_roles};
use auth_core::Auth;
use serde_json::json;
use team::{Preferences, TenantClaims};

/// Typed claims: the tenant the `ExtraClaims` hook put in the token.
async fn whoami(Bearer(claims): Bearer<TenantClaims>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user": claims.sub, "tenant_id": claims.extra.tenant_id}))
}

/// Optional auth with `Maybe`: `None` only without a token; a bad token is still a 401.
/// Not `Option<Bearer>`: actix-web's `Option` turns every error (a forged token, a Redis
/// outage) into "anonymous".
async fn hello(Maybe(who): Maybe<Bearer>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user": who.map(|Bearer(claims)| claims.sub.clone())}))
}

/// The cookie session and the data the `SessionData` hook attached.
async fn session(SessionUser(session): SessionUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user": session.record.user_id, "data": session.record.data}))
}

/// An unsafe route on a cookie session: `SessionUser` checks the CSRF token on POST.
async fn preferences(
    auth: web::Data<Auth>,
    SessionUser(session): SessionUser,
    prefs: web::Json<Preferences>,
) -> Result<HttpResponse, AuthRejection> {
    let data = team::with_preferences(&session.record.data, &prefs)?;
    auth.sessions().update_data(&session, data.clone()).await?;
    Ok(HttpResponse::Ok().json(json!({"data": data})))
}

/// A browser page on the cookie session.
async fn orders_page(SessionUser(session): SessionUser) -> HttpResponse {
    let text = format!("Orders of user {}", session.record.user_id);
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(team::page("Orders", &text))
}

/// A browser page for admins only (the resource's guard).
async fn admin_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(team::page("Admin", "Admins only"))
}

/// Admins only (the scope's guard). The new keys come from the environment.
async fn rotate_keys(auth: web::Data<Auth>) -> Result<HttpResponse, AuthRejection> {
    let kid = team::rotate_keys(&auth)?;
    Ok(HttpResponse::Ok().json(json!({"access_kid": kid})))
}

/// Rewrites the core's problem-details responses (extractor errors, the guard
/// middleware's 401/403, the ready-made routes) into the team's error JSON; status and
/// WWW-Authenticate stay the core's.
async fn team_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(req).await?;
    let content_type = response.headers().get(CONTENT_TYPE);
    if !team::is_problem(content_type.map(HeaderValue::as_bytes)) {
        return Ok(response.map_into_boxed_body());
    }
    let (req, response) = response.into_parts();
    let (mut response, body) = response.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let body = match team::team_error_body(&bytes) {
        Some(team_body) => {
            let json = HeaderValue::from_static("application/json");
            response.headers_mut().insert(CONTENT_TYPE, json);
            BoxBody::new(team_body)
        }
        None => BoxBody::new(bytes),
    };
    Ok(ServiceResponse::new(req, response.set_body(body)))
}

#[actix_web::main]
async fn main() {
    let (auth, listener) = team::start().await;
    let auth = web::Data::new(auth);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(auth.clone())
            .route("/whoami", web::get().to(whoami))
            .route("/hello", web::get().to(hello))
            .route("/session", web::get().to(session))
            .route("/preferences", web::post().to(preferences))
            // The role guard covers the whole scope: handlers inside need not check.
            .service(
                web::scope("/admin")
                    .wrap(require_roles(["admin"]))
                    .route("/rotate-keys", web::post().to(rotate_keys)),
            )
            // Browser routes: HTML pages, and the login page for a visitor without a
            // session. `error_pages` is the outer wrap, so it sees the guard's refusals.
            .service(
                web::scope("/app")
                    .route("/orders", web::get().to(orders_page))
                    .service(
                        web::resource("/admin")
                            .wrap(require_roles(["admin"]))
                            .route(web::get().to(admin_page)),
                    )
                    .wrap(auth_actix::error_pages(team::browser_pages())),
            )
            // `/token`, `/refresh`, `/login`, `/logout`, `/logout/all`, `/sessions`.
            .configure(auth_actix::routes::auth_routes)
            .wrap(from_fn(team_errors))
            // No shared cache keeps an answer to a credentialed request.
            .wrap(from_fn(auth_actix::private_responses))
    })
    .listen(listener)
    .unwrap_or_else(|e| team::exit(&format!("cannot serve: {e}")));
    if let Err(e) = server.run().await {
        team::exit(&format!("server stopped: {e}"));
    }
}
