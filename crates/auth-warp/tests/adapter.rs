//! The adapter's own API with `warp::test`: filters, composition with `and`, `recover`
//! leaving foreign rejections alone, the CSRF filter and the test helpers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth_core::credential::User;
use auth_core::token::Claims;
use auth_core::{Auth, Principal};
use auth_warp::test_helpers::{bearer_header, session_cookie};
use std::sync::Arc;
use warp::Filter;
use warp::http::StatusCode;

async fn auth() -> Auth {
    reference_common::for_tests().await.unwrap()
}

fn user(id: &str, role: &str) -> User {
    reference_common::test_user(id, role)
}

#[tokio::test]
async fn filters_compose_and_recover_renders_the_core_table() {
    let auth = auth().await;
    let whoami = warp::path!("whoami")
        .and(auth_warp::bearer(auth.clone()))
        .map(|c: Arc<Claims>| c.sub.clone());
    let admin = warp::path!("admin")
        .and(auth_warp::require_roles(auth.clone(), ["admin"]))
        .map(|p: Principal| p.user_id().to_string());
    let maybe = warp::path!("maybe")
        .and(auth_warp::optional_bearer(auth.clone()))
        .map(|c: Option<Arc<Claims>>| c.map_or("stranger".to_string(), |c| c.sub.clone()));
    let app = whoami
        .or(admin)
        .unify()
        .or(maybe)
        .unify()
        .recover(auth_warp::recover);

    let admin_h = bearer_header(&auth, &user("1", "admin")).await.unwrap();
    let viewer_h = bearer_header(&auth, &user("3", "viewer")).await.unwrap();
    let r = warp::test::request()
        .path("/whoami")
        .header("authorization", &admin_h)
        .reply(&app)
        .await;
    assert_eq!(r.body(), "1");
    let r = warp::test::request().path("/whoami").reply(&app).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = warp::test::request()
        .path("/admin")
        .header("authorization", &viewer_h)
        .reply(&app)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(r.body()).contains("Required roles: [admin]"));
    let r = warp::test::request().path("/maybe").reply(&app).await;
    assert_eq!(r.body(), "stranger");
    let r = warp::test::request()
        .path("/maybe")
        .header("authorization", "Bearer junk")
        .reply(&app)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn recover_leaves_other_rejections_to_the_users_handler() {
    #[derive(Debug)]
    struct Teapot;
    impl warp::reject::Reject for Teapot {}
    let auth = auth().await;
    let route = warp::path!("tea")
        .and_then(|| async { Err::<String, _>(warp::reject::custom(Teapot)) })
        .or(warp::path!("me")
            .and(auth_warp::bearer(auth))
            .map(|c: Arc<Claims>| c.sub.clone()))
        .unify()
        .recover(auth_warp::recover)
        .recover(|err: warp::Rejection| async move {
            if err.find::<Teapot>().is_some() {
                Ok(warp::reply::with_status("teapot", StatusCode::IM_A_TEAPOT))
            } else {
                Err(err)
            }
        });
    let r = warp::test::request().path("/tea").reply(&route).await;
    assert_eq!(
        r.status(),
        StatusCode::IM_A_TEAPOT,
        "the user's handler saw its own rejection"
    );
    let r = warp::test::request().path("/me").reply(&route).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn session_scope_and_csrf_filters() {
    let auth = auth().await;
    let dash = warp::path!("dash")
        .and(auth_warp::session(auth.clone()))
        .map(|s: auth_core::session::Session| s.record.user_id.to_string());
    let act = warp::path!("act")
        .and(warp::post())
        .and(auth_warp::csrf(auth.clone()))
        .map(|| "done".to_string());
    let scoped = warp::path!("scoped")
        .and(auth_warp::require_scopes(auth.clone(), &["articles:write"]))
        .map(|_: Principal| "ok".to_string());
    let app = dash
        .or(act)
        .unify()
        .or(scoped)
        .unify()
        .recover(auth_warp::recover);
    let (cookie, token) = session_cookie(&auth, &user("2", "editor")).await.unwrap();
    let r = warp::test::request()
        .path("/dash")
        .header("cookie", &cookie)
        .reply(&app)
        .await;
    assert_eq!(r.body(), "2");
    let r = warp::test::request()
        .method("POST")
        .path("/act")
        .header("cookie", &cookie)
        .reply(&app)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = warp::test::request()
        .method("POST")
        .path("/act")
        .header("cookie", &cookie)
        .header("x-csrf-token", &token)
        .reply(&app)
        .await;
    assert_eq!(r.body(), "done");
    let bearer = bearer_header(&auth, &user("2", "editor")).await.unwrap();
    let r = warp::test::request()
        .method("POST")
        .path("/act")
        .header("authorization", &bearer)
        .reply(&app)
        .await;
    assert_eq!(r.body(), "done", "bearer requests are exempt");
    let r = warp::test::request()
        .path("/scoped")
        .header("authorization", &bearer)
        .reply(&app)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
}
