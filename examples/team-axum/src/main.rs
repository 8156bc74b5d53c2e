//! A team's own axum service on auth-toolkit: its user map with tenants, its keys from
//! the environment (rotated at run time by an admin), a role-guarded route group, an
//! optional-auth route, cookie sessions with CSRF, its own error JSON, HTML error pages
//! for its browser routes, and Redis.
//! The framework-neutral half is `../team-shared/team.rs`; this file is the axum wiring.
//!
//! `TEAM_JWT_SECRET=... TEAM_REFRESH_SECRET=... cargo run -p team-axum`

#[path = "../../team-shared/team.rs"]
mod team;

use std::net::SocketAddr;

use auth_axum::{AuthRejection, Bearer, SessionUser, require_roles};
use auth_core::Auth;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use team::{Preferences, TenantClaims};

fn app(auth: Auth) -> Router {
    // The role guard covers the whole group: handlers inside need not check again.
    let admin = Router::new()
        .route("/admin/rotate-keys", post(rotate_keys))
        .route_layer(require_roles(&auth, ["admin"]));
    // Browser routes: HTML pages, and the login page for a visitor without a session.
    let browser = Router::new()
        .route("/app/orders", get(orders_page))
        .merge(
            Router::new()
                .route("/app/admin", get(admin_page))
                .route_layer(require_roles(&auth, ["admin"])),
        )
        .layer(auth_axum::error_pages(team::browser_pages()));
    Router::new()
        .route("/whoami", get(whoami))
        .route("/hello", get(hello))
        .route("/session", get(session))
        .route("/preferences", post(preferences))
        .merge(admin)
        .merge(browser)
        // `/token`, `/refresh`, `/login`, `/logout`, `/logout/all`, `/sessions`.
        .merge(auth_axum::routes::auth_routes())
        // Every problem the core renders (extractors, the guard layer, the ready-made
        // routes) gets the team's body; status and WWW-Authenticate stay the core's.
        .layer(axum::middleware::map_response(team_errors))
        // No shared cache keeps an answer to a credentialed request.
        .layer(axum::middleware::from_fn_with_state(
            auth.clone(),
            auth_axum::private_responses,
        ))
        .with_state(auth)
}

/// Typed claims: the tenant the `ExtraClaims` hook put in the token.
async fn whoami(Bearer(claims): Bearer<TenantClaims>) -> Json<Value> {
    Json(json!({"user": claims.sub, "tenant_id": claims.extra.tenant_id}))
}

/// Optional auth: `None` only without a token; a bad token is still a 401.
async fn hello(who: Option<Bearer>) -> Json<Value> {
    Json(json!({"user": who.map(|Bearer(claims)| claims.sub.clone())}))
}

/// The cookie session and the data the `SessionData` hook attached.
async fn session(SessionUser(session): SessionUser) -> Json<Value> {
    Json(json!({"user": session.record.user_id, "data": session.record.data}))
}

/// An unsafe route on a cookie session: `SessionUser` checks the CSRF token on POST.
async fn preferences(
    State(auth): State<Auth>,
    SessionUser(session): SessionUser,
    Json(prefs): Json<Preferences>,
) -> Result<Json<Value>, AuthRejection> {
    let data = team::with_preferences(&session.record.data, &prefs)?;
    auth.sessions().update_data(&session, data.clone()).await?;
    Ok(Json(json!({"data": data})))
}

/// A browser page on the cookie session.
async fn orders_page(SessionUser(session): SessionUser) -> Html<String> {
    Html(team::page(
        "Orders",
        &format!("Orders of user {}", session.record.user_id),
    ))
}

/// A browser page for admins only (the group's guard).
async fn admin_page() -> Html<String> {
    Html(team::page("Admin", "Admins only"))
}

/// Admins only (the group's guard). The new keys come from the environment.
async fn rotate_keys(State(auth): State<Auth>) -> Result<Json<Value>, AuthRejection> {
    let kid = team::rotate_keys(&auth)?;
    Ok(Json(json!({"access_kid": kid})))
}

/// Rewrites the core's problem-details responses into the team's error JSON.
async fn team_errors(response: Response) -> Response {
    let content_type = response.headers().get(CONTENT_TYPE);
    if !team::is_problem(content_type.map(HeaderValue::as_bytes)) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let Some(team_body) = team::team_error_body(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(team_body))
}

#[tokio::main]
async fn main() {
    let (auth, listener) = team::start().await;
    let listener = tokio::net::TcpListener::from_std(listener)
        .unwrap_or_else(|e| team::exit(&format!("cannot serve: {e}")));
    // Connect info gives the login throttle the client's address.
    let app = app(auth).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, app).await {
        team::exit(&format!("server stopped: {e}"));
    }
}
