//! The warp reference app: serves `docs/CONTRACT.md` using only `auth-warp`'s public API,
//! with `/openapi.json` and `/docs` from the same guards it enforces.
//! `cargo run -p reference-warp`.

use std::sync::Arc;

use auth_core::credential::{ApiKeyRecord, KeySource};
use auth_core::session::Session;
use auth_core::token::Claims;
use auth_core::{Auth, Principal, Reply, UserJson, user_json};
use auth_warp::{authenticated, into_response, reject as fail, require, with_auth};
use reference_common::articles::{delete_policy, edit_policy};
use reference_common::{Articles, Metrics, actor, parse_id, print_listening};
use serde_json::{Value, json};
use warp::Filter;
use warp::reject::Rejection;
use warp::reply::Response;

type Handled = Result<Response, Rejection>;

fn ok(body: &Value) -> Response {
    into_response(Reply::json(200, body))
}

async fn user_json_of(auth: &Auth, who: &Principal) -> Result<Value, Rejection> {
    auth.user_of(who).await.map(|u| user_json(&u)).map_err(fail)
}

fn app(
    auth: Auth,
    articles: Articles,
    metrics: Metrics,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let with_articles = {
        let articles = articles.clone();
        warp::any().map(move || articles.clone())
    };
    let me = warp::path!("me")
        .and(warp::get())
        .and(with_auth(auth.clone()))
        .and(auth_warp::bearer(auth.clone()))
        .and_then(|auth: Auth, claims: Arc<Claims>| async move {
            let user = auth
                .user_of(&Principal::Bearer(claims))
                .await
                .map_err(fail)?;
            Ok::<_, Rejection>(into_response(Reply::json(200, &UserJson(user))))
        });
    let data = warp::path!("data")
        .and(warp::get())
        .and(auth_warp::api_key(auth.clone()))
        .map(|(record, _): (ApiKeyRecord, KeySource)| {
            ok(&json!({"message": "Access granted", "key_used": record.display_prefix}))
        });
    let dashboard = warp::path!("dashboard")
        .and(warp::get())
        .and(with_auth(auth.clone()))
        .and(auth_warp::session(auth.clone()))
        .and_then(|auth: Auth, session: Session| async move {
            Ok::<_, Rejection>(ok(
                &json!({"user": user_json_of(&auth, &Principal::Session(session)).await?}),
            ))
        });
    let reports = warp::path!("reports")
        .and(warp::get())
        .and(authenticated(auth.clone()))
        .map(|_: Principal| ok(&json!({"reports": []})));
    let create_article = warp::path!("articles")
        .and(warp::post())
        .and(with_auth(auth.clone()))
        .and(require(auth.clone(), reference_common::editors()))
        .and_then(|auth: Auth, who: Principal| async move {
            let author = reference_common::author_of(&auth, &who)
                .await
                .map_err(fail)?;
            Ok::<_, Rejection>(ok(&json!({"created_by": author})))
        });
    let delete_user = warp::path!("users" / String)
        .and(warp::delete())
        .and(require(auth.clone(), reference_common::admins()))
        .and_then(|raw: String, _: Principal| async move {
            let id = parse_id(&raw, "user_id").map_err(fail)?;
            Ok::<_, Rejection>(ok(&json!({"deleted": id})))
        });
    let update_article = warp::path!("articles" / String)
        .and(warp::put())
        .and(authenticated(auth.clone()))
        .and(with_articles.clone())
        .and(with_auth(auth.clone()))
        .and_then(
            |raw: String, who: Principal, articles: Articles, auth: Auth| async move {
                let article = articles.load(&raw).map_err(fail)?;
                auth.authorize(
                    &*edit_policy(),
                    &actor(&who),
                    "edit",
                    &article,
                    "Cannot edit this article",
                )
                .map_err(fail)?;
                Handled::Ok(ok(&json!({"message": "Article updated"})))
            },
        );
    let delete_article = warp::path!("articles" / String)
        .and(warp::delete())
        .and(authenticated(auth.clone()))
        .and(with_articles)
        .and(with_auth(auth.clone()))
        .and_then(
            |raw: String, who: Principal, articles: Articles, auth: Auth| async move {
                let article = articles.load(&raw).map_err(fail)?;
                auth.authorize(
                    &*delete_policy(),
                    &actor(&who),
                    "delete",
                    &article,
                    "Cannot delete this article",
                )
                .map_err(fail)?;
                articles.remove(article.id);
                Handled::Ok(ok(&json!({"message": "Article deleted"})))
            },
        );
    let health = warp::path!("health")
        .and(warp::get())
        .and(with_auth(auth.clone()))
        .then(|auth: Auth| async move { into_response(auth.health().await) });

    let hello = warp::path!("hello")
        .and(warp::get())
        .and(auth_warp::optional_bearer(auth.clone()))
        .map(|who: Option<Arc<Claims>>| {
            ok(&reference_common::hello(
                who.as_ref().map(|c| c.sub.as_str()),
            ))
        });

    let whoami = warp::path!("whoami")
        .and(warp::get())
        .and(authenticated(auth.clone()))
        .map(|who: Principal| ok(&reference_common::whoami_json(&who)));

    let mfa_check = warp::path!("mfa" / "check")
        .and(warp::get())
        .and(auth_warp::require_second_factor(auth.clone()))
        .map(|who: Principal| ok(&reference_common::mfa_check_json(&who)));

    let metrics = warp::path!("metrics")
        .and(warp::get())
        .map(move || into_response(metrics.reply()));

    let docs = auth_warp::docs::docs(&reference_common::api_doc(&auth));
    me.or(data)
        .unify()
        .or(dashboard)
        .unify()
        .or(reports)
        .unify()
        .or(create_article)
        .unify()
        .or(delete_user)
        .unify()
        .or(update_article)
        .unify()
        .or(delete_article)
        .unify()
        .or(health)
        .unify()
        .or(hello)
        .unify()
        .or(whoami)
        .unify()
        .or(mfa_check)
        .unify()
        .or(metrics)
        .unify()
        .or(docs)
        .unify()
        .or(auth_warp::routes::passkey_page_route(auth.clone()))
        .unify()
        .or(auth_warp::routes::auth_routes(auth))
        .unify()
        .boxed()
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
    let auth = reference.auth.clone();
    // Private-response headers go on refusals too, so they wrap the recovered filter.
    let routes = auth_warp::private_responses(
        auth,
        app(reference.auth, reference.articles, reference.metrics)
            .recover(auth_warp::recover)
            .unify(),
    );
    print_listening(addr);
    warp::serve(routes).incoming(listener).run().await;
}
