//! `bench-actix MODE`: one actix-web 4 server with one worker.
//!
//! - `bare`: `GET /hello`, no auth.
//! - `ours`: `GET /jwt` (`auth_actix::Bearer`), `GET /apikey` (`ApiKey`), `GET /session`
//!   (`SessionUser`), plus the ready-made routes (`POST /token` for the login burst).
//! - `httpauth`: the peer `actix-web-httpauth` (`HttpAuthentication::bearer` middleware)
//!   with a hand-written `jsonwebtoken` HS256 check, claims put in the request's
//!   extensions, as its documentation shows.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench server aborts on a broken setup

use std::sync::LazyLock;

use actix_web::dev::ServiceRequest;
use actix_web::{App, HttpMessage, HttpResponse, HttpServer, web};
use actix_web_httpauth::extractors::bearer::BearerAuth;
use actix_web_httpauth::middleware::HttpAuthentication;
use auth_bench::{HELLO, PEER_SECRET, PeerClaims, announce, bind_addr, peer_token};

async fn hello() -> HttpResponse {
    HttpResponse::Ok().json(HELLO)
}

async fn jwt(_: auth_actix::Bearer) -> HttpResponse {
    hello().await
}

async fn apikey(_: auth_actix::ApiKey) -> HttpResponse {
    hello().await
}

async fn session(_: auth_actix::SessionUser) -> HttpResponse {
    hello().await
}

async fn peer_jwt(claims: web::ReqData<PeerClaims>) -> HttpResponse {
    let _ = claims.into_inner();
    hello().await
}

/// The key and the rules, built once.
static KEY: LazyLock<jsonwebtoken::DecodingKey> =
    LazyLock::new(|| jsonwebtoken::DecodingKey::from_secret(PEER_SECRET.as_bytes()).expect("key"));
static VALIDATION: LazyLock<jsonwebtoken::Validation> = LazyLock::new(auth_bench::peer_validation);

/// The validator a user of `actix-web-httpauth` writes around `jsonwebtoken`.
async fn validate(
    req: ServiceRequest,
    credentials: BearerAuth,
) -> Result<ServiceRequest, (actix_web::Error, ServiceRequest)> {
    match jsonwebtoken::decode::<PeerClaims>(credentials.token(), &KEY, &VALIDATION) {
        Ok(data) => {
            req.extensions_mut().insert(data.claims);
            Ok(req)
        }
        Err(_) => Err((actix_web::error::ErrorUnauthorized("invalid token"), req)),
    }
}

#[actix_web::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let (bind, routes, auth) = match mode.as_str() {
        "bare" => (
            bind_addr(),
            vec![("/hello", format!("Authorization: Bearer {}", peer_token()))],
            None,
        ),
        "ours" => {
            let ours = auth_bench::ours().await.expect("setup");
            (ours.bind, ours.routes(), Some(web::Data::new(ours.auth)))
        }
        "httpauth" => (
            bind_addr(),
            vec![("/jwt", format!("Authorization: Bearer {}", peer_token()))],
            None,
        ),
        other => {
            eprintln!("bench-actix: unknown mode `{other}` (bare, ours, httpauth)");
            std::process::exit(2);
        }
    };
    let listener = std::net::TcpListener::bind(bind).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = HttpServer::new(move || {
        let app = App::new();
        match (&auth, mode.as_str()) {
            (Some(auth), _) => {
                let mut app = app.app_data(auth.clone());
                for path in auth_bench::route_order() {
                    app = match path {
                        "/apikey" => app.route(path, web::get().to(apikey)),
                        "/session" => app.route(path, web::get().to(session)),
                        _ => app.route(path, web::get().to(jwt)),
                    };
                }
                app.configure(auth_actix::routes::auth_routes)
            }
            (None, "httpauth") => app.service(
                web::resource("/jwt")
                    .wrap(HttpAuthentication::bearer(validate))
                    .route(web::get().to(peer_jwt)),
            ),
            (None, _) => app.route("/hello", web::get().to(hello)),
        }
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    announce(addr, &routes);
    server.await.expect("serve");
}
