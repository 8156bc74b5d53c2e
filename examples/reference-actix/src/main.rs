//! The actix-web reference app: serves `docs/CONTRACT.md` using only `auth-actix`'s public
//! API, with `/openapi.json` and `/docs` from the same guards it enforces.
//! `cargo run -p reference-actix`.

use actix_web::{App, HttpResponse, HttpServer, web};
use auth_actix::{
    ApiKey, AuthRejection, Authenticated, Bearer, Maybe, SessionUser, into_response, require,
};
use auth_core::{Auth, Principal, UserJson, user_json};
use reference_common::articles::{delete_policy, edit_policy};
use reference_common::{Articles, Metrics, actor, parse_id, print_listening};
use serde_json::json;

type Result<T> = std::result::Result<T, AuthRejection>;

async fn me(auth: web::Data<Auth>, Bearer(claims): Bearer) -> Result<HttpResponse> {
    let user = auth.user_of(&Principal::Bearer(claims)).await?;
    Ok(HttpResponse::Ok().json(UserJson(user)))
}

async fn data(ApiKey(record, _): ApiKey) -> HttpResponse {
    HttpResponse::Ok().json(json!({"message": "Access granted", "key_used": record.display_prefix}))
}

async fn dashboard(
    auth: web::Data<Auth>,
    SessionUser(session): SessionUser,
) -> Result<HttpResponse> {
    let user = auth.user_of(&Principal::Session(session)).await?;
    Ok(HttpResponse::Ok().json(json!({"user": user_json(&user)})))
}

async fn reports(Authenticated(_): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({"reports": []}))
}

async fn create_article(
    auth: web::Data<Auth>,
    Authenticated(who): Authenticated,
) -> Result<HttpResponse> {
    let author = reference_common::author_of(&auth, &who).await?;
    Ok(HttpResponse::Ok().json(json!({"created_by": author})))
}

/// Who the bearer is and where the token came from (own or a trusted issuer's).
/// Only for a sign-in with a second factor (the guard answers everyone else).
async fn mfa_check(Authenticated(who): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(reference_common::mfa_check_json(&who))
}

async fn whoami(Authenticated(who): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(reference_common::whoami_json(&who))
}

async fn delete_user(raw: web::Path<String>) -> Result<HttpResponse> {
    let id = parse_id(&raw, "user_id")?;
    Ok(HttpResponse::Ok().json(json!({"deleted": id})))
}

async fn update_article(
    auth: web::Data<Auth>,
    articles: web::Data<Articles>,
    Authenticated(who): Authenticated,
    raw: web::Path<String>,
) -> Result<HttpResponse> {
    let article = articles.load(&raw)?;
    auth.authorize(
        &*edit_policy(),
        &actor(&who),
        "edit",
        &article,
        "Cannot edit this article",
    )
    .map_err(AuthRejection)?;
    Ok(HttpResponse::Ok().json(json!({"message": "Article updated"})))
}

async fn delete_article(
    auth: web::Data<Auth>,
    articles: web::Data<Articles>,
    Authenticated(who): Authenticated,
    raw: web::Path<String>,
) -> Result<HttpResponse> {
    let article = articles.load(&raw)?;
    auth.authorize(
        &*delete_policy(),
        &actor(&who),
        "delete",
        &article,
        "Cannot delete this article",
    )
    .map_err(AuthRejection)?;
    articles.remove(article.id);
    Ok(HttpResponse::Ok().json(json!({"message": "Article deleted"})))
}

/// An optional bearer. Not `Option<Bearer>`: actix-web's `Option` swallows every error,
/// a refused token and a store outage alike; `Maybe` keeps them (401, 503).
async fn hello(Maybe(who): Maybe<Bearer>) -> HttpResponse {
    HttpResponse::Ok().json(reference_common::hello(
        who.as_ref().map(|Bearer(c)| c.sub.as_str()),
    ))
}

async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    into_response(metrics.reply())
}

async fn health(auth: web::Data<Auth>) -> HttpResponse {
    into_response(auth.health().await)
}

#[actix_web::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let reference = reference_common::from_env_or_exit().await;
    let (listener, addr) = reference_common::bind_or_exit(reference.settings.bind);
    let auth = web::Data::new(reference.auth);
    let articles = web::Data::new(reference.articles);
    let metrics_data = web::Data::new(reference.metrics);
    let docs = auth_actix::docs::configure(&reference_common::api_doc(&auth));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(auth.clone())
            .app_data(articles.clone())
            .app_data(metrics_data.clone())
            .route("/me", web::get().to(me))
            .route("/data", web::get().to(data))
            .route("/dashboard", web::get().to(dashboard))
            .route("/reports", web::get().to(reports))
            .route("/health", web::get().to(health))
            .route("/hello", web::get().to(hello))
            .route("/whoami", web::get().to(whoami))
            .route("/metrics", web::get().to(metrics))
            .service(
                web::resource("/articles")
                    .wrap(require(reference_common::editors()))
                    .route(web::post().to(create_article)),
            )
            .service(
                web::resource("/articles/{id}")
                    .route(web::put().to(update_article))
                    .route(web::delete().to(delete_article)),
            )
            .service(
                web::resource("/users/{user_id}")
                    .wrap(require(reference_common::admins()))
                    .route(web::delete().to(delete_user)),
            )
            .service(
                web::resource("/mfa/check")
                    .wrap(auth_actix::require_second_factor())
                    .route(web::get().to(mfa_check)),
            )
            .configure(auth_actix::routes::auth_routes)
            .configure(auth_actix::routes::passkey_page_route)
            .configure(docs.clone())
            .wrap(actix_web::middleware::from_fn(
                auth_actix::private_responses,
            ))
    })
    .listen(listener);
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot serve on {addr}: {e}");
            std::process::exit(2);
        }
    };
    print_listening(addr);
    if let Err(e) = server.run().await {
        eprintln!("error: server stopped: {e}");
        std::process::exit(1);
    }
}
