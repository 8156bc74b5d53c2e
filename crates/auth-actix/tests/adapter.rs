//! The adapter's own API in process (actix's test server): extractors, guard middleware,
//! the CSRF middleware, the missing-registration error and the test helpers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, test, web};
use auth_actix::test_helpers::{bearer_header, session_cookie};
use auth_actix::{
    Bearer, Maybe, RequireRoles, RoleSet, SessionUser, csrf, require_permission, require_scopes,
};
use auth_core::Auth;
use auth_core::credential::User;

async fn auth() -> Auth {
    reference_common::for_tests().await.unwrap()
}

fn user(id: &str, role: &str) -> User {
    reference_common::test_user(id, role)
}

struct Admins;
impl RoleSet for Admins {
    const ROLES: &'static [&'static str] = &["admin"];
}

async fn whoami(Bearer(c): Bearer) -> HttpResponse {
    HttpResponse::Ok().body(c.sub.clone())
}

async fn maybe(Maybe(c): Maybe<Bearer>) -> HttpResponse {
    HttpResponse::Ok().body(c.map_or("stranger".into(), |Bearer(c)| c.sub.clone()))
}

async fn admin_only(RequireRoles { principal, .. }: RequireRoles<Admins>) -> HttpResponse {
    HttpResponse::Ok().body(principal.user_id().to_string())
}

async fn session(SessionUser(s): SessionUser) -> HttpResponse {
    HttpResponse::Ok().body(s.record.user_id.to_string())
}

#[actix_web::test]
async fn extractors_render_the_core_table() {
    let auth = auth().await;
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(auth.clone()))
            .route("/whoami", web::get().to(whoami))
            .route("/maybe", web::get().to(maybe))
            .route("/admin", web::get().to(admin_only))
            .route("/session", web::get().to(session)),
    )
    .await;
    let admin = bearer_header(&auth, &user("1", "admin")).await.unwrap();
    let viewer = bearer_header(&auth, &user("3", "viewer")).await.unwrap();

    let r = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/whoami")
            .insert_header(("authorization", admin.as_str()))
            .to_request(),
    )
    .await;
    assert_eq!(test::read_body(r).await, "1");
    let r = test::call_service(&app, test::TestRequest::get().uri("/whoami").to_request()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers().get("www-authenticate").unwrap(), "Bearer");
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "application/problem+json"
    );

    let r = test::call_service(&app, test::TestRequest::get().uri("/maybe").to_request()).await;
    assert_eq!(test::read_body(r).await, "stranger");
    let r = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/maybe")
            .insert_header(("authorization", "Bearer junk"))
            .to_request(),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a refused token is a 401, not None"
    );

    let r = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/admin")
            .insert_header(("authorization", viewer.as_str()))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        String::from_utf8(test::read_body(r).await.to_vec())
            .unwrap()
            .contains("Required roles: [admin]")
    );

    let (cookie, _) = session_cookie(&auth, &user("3", "viewer")).await.unwrap();
    let r = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/session")
            .insert_header(("cookie", cookie.as_str()))
            .to_request(),
    )
    .await;
    assert_eq!(test::read_body(r).await, "3");
}

#[actix_web::test]
async fn guard_middleware_answers_401_and_403_never_404() {
    let auth = auth().await;
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(auth.clone()))
            .service(
                web::scope("/manage")
                    .wrap(require_permission("manage_users"))
                    .route("", web::get().to(HttpResponse::Ok)),
            )
            .service(
                web::scope("/scoped")
                    .wrap(require_scopes(["articles:write"]))
                    .route("", web::get().to(HttpResponse::Ok)),
            ),
    )
    .await;
    let admin = bearer_header(&auth, &user("1", "admin")).await.unwrap();
    let editor = bearer_header(&auth, &user("2", "editor")).await.unwrap();
    let call = |uri: &'static str, h: Option<&str>| {
        let mut req = test::TestRequest::get().uri(uri);
        if let Some(h) = h {
            req = req.insert_header(("authorization", h.to_string()));
        }
        req.to_request()
    };
    assert_eq!(
        test::call_service(&app, call("/manage", Some(&admin)))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        test::call_service(&app, call("/manage", Some(&editor)))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        test::call_service(&app, call("/manage", None))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = test::call_service(&app, call("/scoped", Some(&admin))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
}

#[actix_web::test]
async fn the_csrf_middleware_protects_cookie_requests_only() {
    let auth = auth().await;
    let app = test::init_service(
        App::new().app_data(web::Data::new(auth.clone())).service(
            web::scope("/act")
                .wrap(csrf())
                .route("", web::post().to(HttpResponse::Ok)),
        ),
    )
    .await;
    let (cookie, token) = session_cookie(&auth, &user("2", "editor")).await.unwrap();
    let r = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/act")
            .insert_header(("cookie", cookie.as_str()))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/act")
            .insert_header(("cookie", cookie.as_str()))
            .insert_header(("x-csrf-token", token.as_str()))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let bearer = bearer_header(&auth, &user("2", "editor")).await.unwrap();
    let r = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/act")
            .insert_header(("authorization", bearer.as_str()))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "bearer requests are exempt");
}

#[actix_web::test]
async fn a_missing_registration_is_a_500_not_a_panic() {
    let app = test::init_service(App::new().route("/whoami", web::get().to(whoami))).await;
    let r = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/whoami")
            .insert_header(("authorization", "Bearer x"))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
