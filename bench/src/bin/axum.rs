//! `bench-axum MODE`: one axum 0.8 server on a single-threaded tokio runtime.
//!
//! - `bare`: `GET /hello`, no auth.
//! - `ours`: `GET /jwt` (`auth_axum::Bearer`), `GET /apikey` (`ApiKey`), `GET /session`
//!   (`SessionUser`), `GET /rs256` (`Authenticated`: with `AUTH_TRUSTED_ISSUERS` naming
//!   the bench's issuer, its RS256 tokens in resource-server mode), plus the ready-made
//!   routes (`POST /token` for the login burst).
//! - `issuer`: the bench's external identity provider ([`auth_bench::issuer`]): OIDC
//!   discovery and the JWKS; it announces its token on `/rs256`.
//! - `jwt-authorizer`: the peer `jwt-authorizer` (its layer built `from_jwks_url` on the
//!   issuer at `BENCH_ISSUER`, `iss` and `aud` validated, `JwtClaims` in the handler) on
//!   `GET /rs256`, and a bare `GET /hello` beside it. It runs on axum 0.7: the newest
//!   jwt-authorizer (0.15) is built on axum 0.7, and no release supports axum 0.8.
//! - `jwt-auth`: the peer `axum-jwt-auth` (`Claims<T>` extractor, `LocalDecoder`, HS256).
//! - `login`: the peer `axum-login` with `tower-sessions`' memory store
//!   (`login_required!` on `GET /session`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench server aborts on a broken setup

use std::sync::Arc;

use auth_bench::{HELLO, Hello, PEER_SECRET, PeerClaims, announce, bind_addr, peer_token};
use axum::routing::{get, post};
use axum::{Json, Router};

async fn hello() -> Json<Hello> {
    Json(HELLO)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let (app, bind, routes, login) = match mode.as_str() {
        "bare" => (
            Router::new().route("/hello", get(hello)),
            bind_addr(),
            vec![("/hello", format!("Authorization: Bearer {}", peer_token()))],
            false,
        ),
        "ours" => {
            let ours = auth_bench::ours().await.expect("setup");
            let app = Router::new()
                .route(
                    "/jwt",
                    get(|auth_axum::Bearer(_claims): auth_axum::Bearer| hello()),
                )
                .route("/apikey", get(|_key: auth_axum::ApiKey| hello()))
                .route("/session", get(|_s: auth_axum::SessionUser| hello()))
                .route("/rs256", get(|_who: auth_axum::Authenticated| hello()))
                .merge(auth_axum::routes::auth_routes())
                .with_state(ours.auth.clone());
            (app, ours.bind, ours.routes(), false)
        }
        "jwt-auth" => {
            use axum_jwt_auth::{Claims, Decoder, LocalDecoder};
            let mut validation = jsonwebtoken10::Validation::new(jsonwebtoken10::Algorithm::HS256);
            validation.set_audience(&[auth_bench::PEER_AUDIENCE]);
            let decoder = LocalDecoder::builder()
                .keys(vec![jsonwebtoken10::DecodingKey::from_secret(
                    PEER_SECRET.as_bytes(),
                )])
                .validation(validation)
                .build()
                .expect("decoder");
            let decoder: Decoder<PeerClaims> = Arc::new(decoder);
            let app = Router::new()
                .route("/jwt", get(|_c: Claims<PeerClaims>| hello()))
                .with_state(decoder);
            (
                app,
                bind_addr(),
                vec![("/jwt", format!("Authorization: Bearer {}", peer_token()))],
                false,
            )
        }
        "login" => {
            use axum_login::tower_sessions::{MemoryStore, SessionManagerLayer};
            use axum_login::{AuthManagerLayerBuilder, login_required};
            let layer = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
            let auth = AuthManagerLayerBuilder::new(peer_login::Backend, layer).build();
            let app = Router::new()
                .route("/session", get(hello))
                .route_layer(login_required!(peer_login::Backend))
                .route("/login", post(peer_login::login))
                .layer(auth);
            (app, bind_addr(), Vec::new(), true)
        }
        "issuer" => return serve_issuer().await,
        "jwt-authorizer" => return peer_jwt_authorizer::serve().await,
        other => {
            eprintln!(
                "bench-axum: unknown mode `{other}` (bare, ours, jwt-auth, login, issuer, jwt-authorizer)"
            );
            std::process::exit(2);
        }
    };
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let routes = if login {
        let cookie = auth_bench::login_cookie(addr, "/login")
            .await
            .expect("log in to the peer");
        vec![("/session", cookie)]
    } else {
        routes
    };
    announce(addr, &routes);
    server.await.expect("server task").expect("serve");
}

/// The bench's identity provider: binds, then serves discovery and the JWKS for its own
/// URL, and announces the token it issued.
async fn serve_issuer() {
    let listener = tokio::net::TcpListener::bind(bind_addr())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let url = format!("http://{addr}");
    let app = auth_bench::issuer::router(&url).expect("issuer routes");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let token = auth_bench::issuer::bearer_header(&url).expect("issue the token");
    announce(addr, &[("/rs256", token)]);
    server.await.expect("server task").expect("serve");
}

/// The peer `jwt-authorizer` 0.15, on its framework, axum 0.7 (`axum07`).
mod peer_jwt_authorizer {
    use auth_bench::{HELLO, Hello, announce, bind_addr, issuer};
    use axum07::routing::get;
    use axum07::{Json, Router};
    use jwt_authorizer::{IntoLayer, JwtAuthorizer, JwtClaims, RegisteredClaims, Validation};

    async fn hello() -> Json<Hello> {
        Json(HELLO)
    }

    async fn protected(JwtClaims(_claims): JwtClaims<RegisteredClaims>) -> Json<Hello> {
        Json(HELLO)
    }

    /// Serves `/rs256` behind the peer's layer (keys from the issuer's JWKS URL) and a
    /// bare `/hello`, both announced with the issuer's token.
    pub async fn serve() {
        let issuer = issuer::from_env().expect("BENCH_ISSUER: the issuer's URL");
        let authorizer = JwtAuthorizer::<RegisteredClaims>::from_jwks_url(&format!(
            "{issuer}{}",
            issuer::JWKS_PATH
        ))
        .validation(Validation::new().iss(&[&issuer]).aud(&[issuer::AUDIENCE]))
        .build()
        .await
        .expect("the peer's authorizer");
        let app = Router::new()
            .route("/rs256", get(protected))
            .layer(authorizer.into_layer())
            .route("/hello", get(hello));
        let listener = tokio::net::TcpListener::bind(bind_addr())
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move { axum07::serve(listener, app).await });
        let header = issuer::bearer_header(&issuer).expect("the issuer's token");
        announce(addr, &[("/rs256", header.clone()), ("/hello", header)]);
        server.await.expect("server task").expect("serve");
    }
}

/// The smallest `axum-login` backend: one user, logged in by `POST /login`.
mod peer_login {
    use axum::http::StatusCode;
    use axum_login::{AuthUser, AuthnBackend, UserId};

    #[derive(Debug, Clone)]
    pub struct User {
        id: u64,
        hash: [u8; 32],
    }

    impl AuthUser for User {
        type Id = u64;
        fn id(&self) -> u64 {
            self.id
        }
        fn session_auth_hash(&self) -> &[u8] {
            &self.hash
        }
    }

    const ALICE: User = User {
        id: 1,
        hash: [7; 32],
    };

    #[derive(Debug, Clone)]
    pub struct Backend;

    impl AuthnBackend for Backend {
        type User = User;
        type Credentials = ();
        type Error = std::convert::Infallible;

        async fn authenticate(&self, _: ()) -> Result<Option<User>, Self::Error> {
            Ok(Some(ALICE))
        }

        async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, Self::Error> {
            Ok((*id == ALICE.id).then_some(ALICE))
        }
    }

    pub async fn login(mut session: axum_login::AuthSession<Backend>) -> StatusCode {
        match session.login(&ALICE).await {
            Ok(()) => StatusCode::NO_CONTENT,
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
