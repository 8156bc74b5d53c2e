//! # auth-axum
//!
//! The axum adapter of the auth toolkit: glue only. Requests become `auth-core`'s
//! framework-neutral view, the core decides, and failures render the core's HTTP table
//! (status, `WWW-Authenticate`, problem+json). This crate never chooses a status code.
//!
//! - **Extractors**: [`Bearer`] (typed claims), [`ApiKey`], [`SessionUser`],
//!   [`Authenticated`] (bearer or session, CSRF-checked), each also as `Option<…>`:
//!   `None` only when the request sent no such credential at all; a credential that was
//!   sent and refused is still a 401 (an invalid token never becomes "anonymous"), and a
//!   store outage a 503 ([`auth_core::optional`] decides, for every adapter).
//!   They find the [`Auth`] through axum's `FromRef`, so it lives in your own state.
//! - **Guards**: [`require_roles`], [`require_permission`], [`require_scopes`] are tower
//!   layers for route groups (`.route_layer(…)`); [`RequireRoles`] guards one handler.
//! - **Error pages**: [`error_pages`] renders a route group's refusals the team's way
//!   (an HTML page, a redirect to the login page) through `auth_core::render`.
//! - **Any tower service** ([`service`]): the bearer / API-key / guard layers for a
//!   service over `http::Request<B>`, e.g. a `tonic` gRPC server (refusals as gRPC
//!   statuses).
//! - **Routes**: [`routes::auth_routes`] (`/token`, `/refresh`, `/login`, `/logout`,
//!   `/logout/all`, `/sessions`) to `merge` into your router.
//!
//! ## The same names on every adapter
//!
//! | | auth-axum | auth-actix | auth-warp |
//! |---|---|---|---|
//! | rejection | [`AuthRejection`] | `AuthRejection` | `AuthRejection` |
//! | optional bearer | `Option<`[`Bearer`]`>` | `Maybe<Bearer>` | `optional_bearer(auth)` |
//! | guards | [`require_roles`]`(&auth, …)` | `require_roles(…)` | `require_roles(auth, …)` |
//! | ready routes | [`routes::auth_routes`]`()` | `routes::auth_routes` | `routes::auth_routes(auth)` |
//! | error pages | [`error_pages`]`(pages)` layer | `error_pages(pages)` | `error_pages(pages, filter)` |
//!
//! axum's own idioms decide the rest: extractors are optional through axum's
//! `OptionalFromRequestParts` (so `Option<Bearer>`, failing closed as described above),
//! and guard layers take `&Auth` when the router is built, because a tower layer cannot
//! reach the router's state.
//!
//! Forgetting to put the [`Auth`] in your state is caught at compile time. Plainly,
//! axum's inference then makes `Auth` the router's state, and `with_state` says
//! ``expected `Auth`, found `AppState` ``; with `#[axum::debug_handler(state = AppState)]`
//! on the handler the compiler names the fix: ``the trait `FromRef<AppState>` is not
//! implemented for `Auth` `` (derive `FromRef` on your state with an `auth: Auth` field).
//! Guard layers take the `Auth` when they are built, so they cannot be left without one.
//!
//! ```compile_fail
//! # use axum::{Router, routing::get};
//! #[derive(Clone)]
//! struct AppState { db: u8 } // no `auth: Auth`
//! async fn me(auth_axum::Bearer(claims): auth_axum::Bearer) -> String { claims.sub.clone() }
//! let app: Router<()> = Router::new().route("/me", get(me)).with_state(AppState { db: 0 });
//! ```
//!
//! ```
//! use auth_axum::{Authenticated, Bearer, require_roles};
//! use auth_core::Auth;
//! use axum::{Json, Router, extract::FromRef, routing::{get, post}};
//!
//! #[derive(Clone, FromRef)]
//! struct AppState { auth: Auth }
//!
//! async fn me(Bearer(claims): Bearer) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "id": claims.sub, "roles": claims.roles }))
//! }
//!
//! async fn create_article(Authenticated(who): Authenticated) -> String {
//!     format!("created by {}", who.user_id())
//! }
//!
//! fn app(auth: Auth) -> Router {
//!     let editors = Router::new()
//!         .route("/articles", post(create_article))
//!         .route_layer(require_roles(&auth, ["editor", "admin"]));
//!     Router::new()
//!         .route("/me", get(me))
//!         .merge(editors)
//!         .merge(auth_axum::routes::auth_routes())
//!         .with_state(AppState { auth })
//! }
//! # let _ = app;
//! ```
//!
//! ## Features
//!
//! None is on by default.
//!
//! - `third-party`: third-party login's routes in [`routes::auth_routes`],
//!   `GET /auth/{provider}/login` and `/callback` (enables auth-core's `third-party`;
//!   configure providers with `AuthBuilder::external_login`).
//! - `passkeys`: the passkey (WebAuthn) routes in [`routes::auth_routes`],
//!   `POST /webauthn/register/start`, `/finish`, `/webauthn/login/start`, `/finish`
//!   (enables auth-core's `passkeys`; configure with `AuthBuilder::passkeys`), and
//!   `routes::passkey_page_route`, a page that drives them.
//! - `openapi`: `/openapi.json` and `/docs` (Swagger UI) through `auth-openapi`.
//! - `testing`: `auth_axum::test_helpers`, credentials minted without a password for your
//!   tests; enable it in `[dev-dependencies]` only.

#[cfg(feature = "openapi")]
pub mod docs;
mod guard;
mod pages;
#[cfg(feature = "passkeys")]
mod passkeys;
pub mod routes;
pub mod service;
/// Credentials for your own tests (a bearer header or a session cookie for any user,
/// minted without a password). Only with the `testing` feature, which belongs in
/// `[dev-dependencies]`: see [`auth_core::testing`].
#[cfg(feature = "testing")]
pub use auth_core::testing as test_helpers;
pub use guard::{
    RequireLayer, RequireService, csrf, csrf_form_field, require, require_permission,
    require_roles, require_scopes, require_second_factor,
};
pub use pages::{ErrorPagesLayer, ErrorPagesService, error_pages};

use std::future::Future;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use auth_core::adapter::{Answer, Reply, Request as CoreRequest};
use auth_core::credential::{ApiKeyRecord, KeySource};
use auth_core::policy::Requirement;
use auth_core::session::Session;
use auth_core::token::{Claims, NoExtra};
use auth_core::{AuthError, Principal};
use axum::extract::{ConnectInfo, FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::header::{HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

pub use auth_core::Auth;

/// `auth-core`'s view of an axum request: method, headers, query string, and the peer
/// address when the server records it (`into_make_service_with_connect_info`).
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    method: &'a Method,
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    extensions: &'a Extensions,
}

impl<'a> RequestView<'a> {
    /// A view of request parts.
    pub fn new(parts: &'a Parts) -> Self {
        Self {
            method: &parts.method,
            headers: &parts.headers,
            query: parts.uri.query(),
            extensions: &parts.extensions,
        }
    }

    /// A view of a whole request.
    pub fn of<B>(request: &'a axum::http::Request<B>) -> Self {
        Self {
            method: request.method(),
            headers: request.headers(),
            query: request.uri().query(),
            extensions: request.extensions(),
        }
    }
}

impl CoreRequest for RequestView<'_> {
    fn method(&self) -> &str {
        self.method.as_str()
    }

    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        use axum::http::header::{AUTHORIZATION, COOKIE};
        // A known name is not parsed again on each lookup.
        match name {
            "authorization" => self.headers.get_all(AUTHORIZATION),
            "cookie" => self.headers.get_all(COOKIE),
            other => self.headers.get_all(other),
        }
        .iter()
        .map(HeaderValue::as_bytes)
    }

    fn query(&self) -> Option<&str> {
        self.query
    }

    fn peer_addr(&self) -> Option<IpAddr> {
        self.extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    }
}

/// Renders a core [`Reply`] (success or failure), or an [`AuthError`], as an axum
/// response.
pub fn into_response(reply: impl Into<Reply>) -> Response {
    let (status, headers, body) = reply.into().into_parts();
    let mut builder = Response::builder().status(status);
    // The core sends only visible ASCII (`Reply::header`): each value converts.
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder
        .body(axum::body::Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The boxed future of an extractor's [`Answer`] that must wait for a store.
type Waiting<'a, T> = Pin<Box<dyn Future<Output = Result<T, AuthRejection>> + Send + 'a>>;

/// An authentication or authorization failure: renders `auth-core`'s HTTP table.
#[derive(Debug)]
pub struct AuthRejection(pub AuthError);

impl From<AuthError> for AuthRejection {
    fn from(e: AuthError) -> Self {
        Self(e)
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let mut response = into_response(self.0.to_response());
        // For an `error_pages` layer above, which renders it its own way.
        response
            .extensions_mut()
            .insert(pages::Rejected(std::sync::Arc::new(self.0)));
        response
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for AuthRejection {}

/// `Option<T>`: `None` when no credentials were sent, the rejection when some were sent
/// and refused or could not be checked (a store outage is 503, never anonymous), as
/// [`auth_core::optional`] decides for every adapter.
macro_rules! optional_via_absence {
    ($ty:ty $(, $g:ident: $($bound:tt)+)?) => {
        impl<S $(, $g)?> OptionalFromRequestParts<S> for $ty
        where
            Auth: FromRef<S>,
            S: Send + Sync,
            $($g: $($bound)+)?
        {
            type Rejection = AuthRejection;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Option<Self>, Self::Rejection> {
                let result = <Self as FromRequestParts<S>>::from_request_parts(parts, state).await;
                Ok(auth_core::optional(result.map_err(|AuthRejection(e)| e))?)
            }
        }
    };
}

/// The bearer caller: a verified, unrevoked access token's claims, with caller-defined
/// extra claims `E`. The claims are shared (`Arc`) with the verified-token cache, so a
/// request with a token already seen copies nothing; read them through the `Arc`
/// (`claims.sub`), or `Arc::unwrap_or_clone` for an owned copy.
#[derive(Debug, Clone)]
pub struct Bearer<E = NoExtra>(pub Arc<Claims<E>>);

impl<S, E> FromRequestParts<S> for Bearer<E>
where
    Auth: FromRef<S>,
    S: Send + Sync,
    E: DeserializeOwned + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        let auth = Auth::from_ref(state);
        let view = RequestView::new(parts);
        let now = auth.bearer_now_as::<E>(&view);
        Answer::now_or(now.map(|r| Ok(Bearer(r?))), move || -> Waiting<'_, Self> {
            Box::pin(async move { Ok(Bearer(auth.bearer_as::<E>(&view).await?)) })
        })
    }
}

optional_via_absence!(Bearer<E>, E: DeserializeOwned + Send + Sync + 'static);

/// The API-key caller: the key's record and where the key was found.
#[derive(Debug, Clone)]
pub struct ApiKey(pub ApiKeyRecord, pub KeySource);

impl<S> FromRequestParts<S> for ApiKey
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_ref(state);
        let (record, source) = auth.api_key(&RequestView::new(parts)).await?;
        Ok(ApiKey(record, source))
    }
}

optional_via_absence!(ApiKey);

/// The session caller. On unsafe methods the CSRF check runs as well.
#[derive(Debug, Clone)]
pub struct SessionUser(pub Session);

impl<S> FromRequestParts<S> for SessionUser
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        let auth = Auth::from_ref(state);
        let view = RequestView::new(parts);
        let now = auth.session_now(&view);
        Answer::now_or(
            now.map(|r| Ok(SessionUser(r?))),
            move || -> Waiting<'_, Self> {
                Box::pin(async move { Ok(SessionUser(auth.session(&view).await?)) })
            },
        )
    }
}

optional_via_absence!(SessionUser);

/// Any authenticated principal: a bearer token if an `Authorization` header is sent,
/// else the session cookie (CSRF-checked on unsafe methods). Reuses the principal a guard
/// layer already verified for this request: it looks for a [`Principal`] in the request
/// extensions first. A guard or middleware of your own that authenticates the request
/// should do the same, `request.extensions_mut().insert(principal)`, so that handlers
/// behind it do not authenticate (and hit the store) a second time.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl<S> FromRequestParts<S> for Authenticated
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Answer::ready(Ok(Authenticated(p.clone())));
        }
        let auth = Auth::from_ref(state);
        let now = auth.principal_now(&RequestView::new(parts));
        let now = now.map(|r| {
            let principal = r?;
            parts.extensions.insert(principal.clone());
            Ok(Authenticated(principal))
        });
        Answer::now_or(now, move || -> Waiting<'_, Self> {
            Box::pin(async move {
                let principal = auth.principal(&RequestView::new(parts)).await?;
                parts.extensions.insert(principal.clone());
                Ok(Authenticated(principal))
            })
        })
    }
}

optional_via_absence!(Authenticated);

/// A fixed set of roles for the [`RequireRoles`] extractor.
///
/// ```
/// struct EditorOrAdmin;
/// impl auth_axum::RoleSet for EditorOrAdmin {
///     const ROLES: &'static [&'static str] = &["editor", "admin"];
/// }
/// ```
pub trait RoleSet: Send + Sync + 'static {
    /// The roles; any one of them is enough.
    const ROLES: &'static [&'static str];
}

/// Guards one handler: the principal must hold one of `R::ROLES`. Destructure it with
/// `RequireRoles { principal, .. }`.
#[derive(Debug)]
pub struct RequireRoles<R: RoleSet> {
    /// The authenticated principal that holds one of the roles.
    pub principal: Principal,
    roles: PhantomData<R>,
}

impl<S, R> FromRequestParts<S> for RequireRoles<R>
where
    Auth: FromRef<S>,
    S: Send + Sync,
    R: RoleSet,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(principal) =
            <Authenticated as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        Auth::from_ref(state)
            .require(&principal, &Requirement::any_role(R::ROLES.iter().copied()))?;
        Ok(RequireRoles {
            principal,
            roles: PhantomData,
        })
    }
}

/// Middleware keeping answers to credentialed requests private
/// ([`Auth::private_headers`]): `Cache-Control: no-store` and `Vary: Authorization,
/// Cookie, X-API-Key` (appended to any `Vary` the handler set).
///
/// `router.layer(axum::middleware::from_fn_with_state(auth.clone(), auth_axum::private_responses))`
pub async fn private_responses(
    axum::extract::State(auth): axum::extract::State<Auth>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    // Decided on the request, borrowed from `auth`: nothing is collected per request.
    let headers = auth.private_headers(&RequestView::new(&parts));
    let mut response = next
        .run(axum::extract::Request::from_parts(parts, body))
        .await;
    for (name, value) in headers {
        let Ok(value) = HeaderValue::from_str(value) else {
            continue;
        };
        let name = HeaderName::from_static(name);
        if name == axum::http::header::VARY {
            response.headers_mut().append(name, value);
        } else {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// The crate's README, whose examples run as doctests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
