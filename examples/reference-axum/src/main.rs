//! The axum reference app: serves `docs/CONTRACT.md` using only `auth-axum`'s public API,
//! with `/openapi.json` and `/docs` from the same guards it enforces.
//! `cargo run -p reference-axum`.

use std::net::SocketAddr;

use auth_axum::{
    ApiKey, AuthRejection, Authenticated, Bearer, SessionUser, into_response, require,
};
use auth_core::{Auth, Principal, UserJson, user_json};
use axum::extract::{FromRef, Path, State};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use reference_common::articles::{delete_policy, edit_policy};
use reference_common::{Articles, Metrics, actor, parse_id, print_listening};
use serde_json::{Value, json};

#[derive(Clone, FromRef)]
struct AppState {
    auth: Auth,
    articles: Articles,
    metrics: Metrics,
}

fn app(state: AppState) -> Router {
    let auth = &state.auth;
    let editors = Router::new()
        .route("/articles", post(create_article))
        .route_layer(require(auth, reference_common::editors()));
    let admins = Router::new()
        .route("/users/{user_id}", delete(delete_user))
        .route_layer(require(auth, reference_common::admins()));
    let second_factor = Router::new()
        .route("/mfa/check", get(mfa_check))
        .route_layer(auth_axum::require_second_factor(auth));
    Router::new()
        .route("/me", get(me))
        .route("/data", get(data))
        .route("/dashboard", get(dashboard))
        .route("/reports", get(reports))
        .route("/articles/{id}", put(update_article).delete(delete_article))
        .route("/health", get(health))
        .route("/hello", get(hello))
        .route("/whoami", get(whoami))
        .route("/metrics", get(metrics))
        .merge(editors)
        .merge(admins)
        .merge(second_factor)
        .merge(auth_axum::routes::auth_routes())
        .merge(auth_axum::routes::passkey_page_route())
        .merge(auth_axum::docs::docs_routes(&reference_common::api_doc(
            auth,
        )))
        .layer(axum::middleware::from_fn_with_state(
            auth.clone(),
            auth_axum::private_responses,
        ))
        .with_state(state)
}

async fn me(
    State(auth): State<Auth>,
    Bearer(claims): Bearer,
) -> Result<Json<UserJson>, AuthRejection> {
    let user = auth.user_of(&Principal::Bearer(claims)).await?;
    Ok(Json(UserJson(user)))
}

async fn data(ApiKey(record, _): ApiKey) -> Json<Value> {
    Json(json!({"message": "Access granted", "key_used": record.display_prefix}))
}

async fn dashboard(
    State(auth): State<Auth>,
    SessionUser(session): SessionUser,
) -> Result<Json<Value>, AuthRejection> {
    let user = auth.user_of(&Principal::Session(session)).await?;
    Ok(Json(json!({"user": user_json(&user)})))
}

async fn reports(Authenticated(_): Authenticated) -> Json<Value> {
    Json(json!({"reports": []}))
}

async fn create_article(
    State(auth): State<Auth>,
    Authenticated(who): Authenticated,
) -> Result<Json<Value>, AuthRejection> {
    let author = reference_common::author_of(&auth, &who).await?;
    Ok(Json(json!({"created_by": author})))
}

/// Only for a sign-in with a second factor (the guard answers everyone else).
async fn mfa_check(Authenticated(who): Authenticated) -> Json<Value> {
    Json(reference_common::mfa_check_json(&who))
}

/// Who the bearer is and where the token came from (own or a trusted issuer's).
async fn whoami(Authenticated(who): Authenticated) -> Json<Value> {
    Json(reference_common::whoami_json(&who))
}

async fn delete_user(Path(raw): Path<String>) -> Result<Json<Value>, AuthRejection> {
    let id = parse_id(&raw, "user_id")?;
    Ok(Json(json!({"deleted": id})))
}

async fn update_article(
    State(auth): State<Auth>,
    State(articles): State<Articles>,
    Authenticated(who): Authenticated,
    Path(raw): Path<String>,
) -> Result<Json<Value>, AuthRejection> {
    let article = articles.load(&raw)?;
    auth.authorize(
        &*edit_policy(),
        &actor(&who),
        "edit",
        &article,
        "Cannot edit this article",
    )?;
    Ok(Json(json!({"message": "Article updated"})))
}

async fn delete_article(
    State(auth): State<Auth>,
    State(articles): State<Articles>,
    Authenticated(who): Authenticated,
    Path(raw): Path<String>,
) -> Result<Json<Value>, AuthRejection> {
    let article = articles.load(&raw)?;
    auth.authorize(
        &*delete_policy(),
        &actor(&who),
        "delete",
        &article,
        "Cannot delete this article",
    )?;
    articles.remove(article.id);
    Ok(Json(json!({"message": "Article deleted"})))
}

async fn hello(who: Option<Bearer>) -> Json<Value> {
    Json(reference_common::hello(
        who.as_ref().map(|Bearer(c)| c.sub.as_str()),
    ))
}

async fn metrics(State(metrics): State<Metrics>) -> Response {
    into_response(metrics.reply())
}

async fn health(State(auth): State<Auth>) -> Response {
    into_response(auth.health().await)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let reference = reference_common::from_env_or_exit().await;
    let (listener, addr) = reference_common::bind_or_exit(reference.settings.bind);
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        eprintln!("error: cannot hand the socket on {addr} to the runtime");
        std::process::exit(2);
    };
    let state = AppState {
        auth: reference.auth,
        articles: reference.articles,
        metrics: reference.metrics,
    };
    print_listening(addr);
    let served = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await;
    if let Err(e) = served {
        eprintln!("error: server stopped: {e}");
        std::process::exit(1);
    }
}
