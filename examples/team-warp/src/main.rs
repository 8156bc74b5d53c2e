//! A team's own warp service on auth-toolkit: its user map with tenants, its keys from
//! the environment (rotated at run time by an admin), a role-guarded route group, an
//! optional-auth route, cookie sessions with CSRF, its own error JSON, HTML error pages
//! for its browser routes, and Redis.
//! The framework-neutral half is `../team-shared/team.rs`; this file is the warp wiring.
//!
//! `TEAM_JWT_SECRET=... TEAM_REFRESH_SECRET=... cargo run -p team-warp`

#[path = "../../team-shared/team.rs"]
mod team;

use std::sync::Arc;

use auth_core::session::Session;
use auth_core::token::Claims;
use auth_core::{Auth, Principal};
use auth_warp::{reject, with_auth};
use serde_json::{Value, json};
use team::{Preferences, TenantClaims};
use warp::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use warp::hyper::body::{Body as _, Bytes};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

fn reply(body: Value) -> Response {
    warp::reply::json(&body).into_response()
}

/// The routes. Path and method filters come before auth filters, so a request is only
/// authenticated by the route it is for.
fn app(auth: Auth) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    // Typed claims: the tenant the `ExtraClaims` hook put in the token.
    let whoami = warp::path!("whoami")
        .and(warp::get())
        .and(auth_warp::bearer_as::<TenantClaims>(auth.clone()))
        .map(|claims: Arc<Claims<TenantClaims>>| {
            reply(json!({"user": claims.sub, "tenant_id": claims.extra.tenant_id}))
        });
    // Optional auth: `None` only without a token; a bad token is still a 401.
    let hello = warp::path!("hello")
        .and(warp::get())
        .and(auth_warp::optional_bearer(auth.clone()))
        .map(|who: Option<Arc<Claims>>| {
            reply(json!({"user": who.map(|claims| claims.sub.clone())}))
        });
    // The cookie session and the data the `SessionData` hook attached.
    let session = warp::path!("session")
        .and(warp::get())
        .and(auth_warp::session(auth.clone()))
        .map(|s: Session| reply(json!({"user": s.record.user_id, "data": s.record.data})));
    // An unsafe route on a cookie session: `auth_warp::session` checks CSRF on POST.
    let preferences = warp::path!("preferences")
        .and(warp::post())
        .and(auth_warp::session(auth.clone()))
        .and(warp::body::content_length_limit(4096).and(warp::body::json()))
        .and(with_auth(auth.clone()))
        .and_then(|s: Session, prefs: Preferences, auth: Auth| async move {
            let data = team::with_preferences(&s.record.data, &prefs).map_err(reject)?;
            auth.sessions()
                .update_data(&s, data.clone())
                .await
                .map_err(reject)?;
            Ok::<_, Rejection>(reply(json!({"data": data})))
        });
    // The role guard covers the whole `/admin` group. The new keys come from the
    // environment.
    let rotate = warp::path!("rotate-keys")
        .and(warp::post())
        .and(with_auth(auth.clone()))
        .and_then(|auth: Auth| async move {
            let kid = team::rotate_keys(&auth).map_err(reject)?;
            Ok::<_, Rejection>(reply(json!({"access_kid": kid})))
        });
    let admin = warp::path("admin")
        .and(auth_warp::require_roles(auth.clone(), ["admin"]))
        .and(rotate)
        .map(|_admin: Principal, response: Response| response);
    // Browser routes: HTML pages, and the login page for a visitor without a session.
    let orders = warp::path!("orders")
        .and(warp::get())
        .and(auth_warp::session(auth.clone()))
        .map(|s: Session| {
            let text = format!("Orders of user {}", s.record.user_id);
            warp::reply::html(team::page("Orders", &text)).into_response()
        });
    let admin_page = warp::path!("admin")
        .and(warp::get())
        .and(auth_warp::require_roles(auth.clone(), ["admin"]))
        .map(|_admin: Principal| {
            warp::reply::html(team::page("Admin", "Admins only")).into_response()
        });
    let browser = auth_warp::error_pages(
        team::browser_pages(),
        warp::path("app").and(orders.or(admin_page).unify()),
    );
    whoami
        .or(hello)
        .unify()
        .or(session)
        .unify()
        .or(preferences)
        .unify()
        .or(admin)
        .unify()
        .or(browser)
        .unify()
        // `/token`, `/refresh`, `/login`, `/logout`, `/logout/all`, `/sessions`.
        .or(auth_warp::routes::auth_routes(auth))
        .unify()
}

/// Rewrites the core's problem-details responses (rejections rendered by
/// `auth_warp::recover`, and the ready-made routes' own) into the team's error JSON;
/// status and WWW-Authenticate stay the core's.
async fn team_errors(response: Response) -> Response {
    let content_type = response.headers().get(CONTENT_TYPE);
    if !team::is_problem(content_type.map(HeaderValue::as_bytes)) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(Ok(frame)) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        if let Ok(data) = frame.into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    let Some(team_body) = team::team_error_body(&bytes) else {
        return Response::from_parts(parts, Bytes::from(bytes).into());
    };
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Bytes::from(team_body).into())
}

#[tokio::main]
async fn main() {
    let (auth, listener) = team::start().await;
    let listener = tokio::net::TcpListener::from_std(listener)
        .unwrap_or_else(|e| team::exit(&format!("cannot serve: {e}")));
    // `auth_warp::recover` renders auth rejections; `team_errors` reshapes them. No
    // shared cache keeps an answer to a credentialed request (`private_responses`).
    let routes = app(auth.clone())
        .recover(auth_warp::recover)
        .unify()
        .then(team_errors);
    warp::serve(auth_warp::private_responses(auth, routes))
        .incoming(listener)
        .run()
        .await;
}
