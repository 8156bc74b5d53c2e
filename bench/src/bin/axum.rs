//! `bench-axum MODE`: one axum 0.8 server on a single-threaded tokio runtime.
//!
//! - `bare`: `GET /hello`, no auth.
//! - `ours`: `GET /jwt` (`auth_axum::Bearer`), `GET /apikey` (`ApiKey`), `GET /session`
//!   (`SessionUser`), plus the ready-made routes (`POST /token` for the login burst).
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
        other => {
            eprintln!("bench-axum: unknown mode `{other}` (bare, ours, jwt-auth, login)");
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
