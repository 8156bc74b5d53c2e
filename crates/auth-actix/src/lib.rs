//! # auth-actix
//!
//! The actix-web adapter of the auth toolkit: glue only. Requests become `auth-core`'s
//! framework-neutral view, the core decides, and failures render the core's HTTP table
//! through [`ResponseError`]. This crate never chooses a status.
//!
//! - **Extractors** (`FromRequest`): [`Bearer`] (typed claims), [`ApiKey`],
//!   [`SessionUser`], [`Authenticated`] (bearer or session, CSRF-checked); [`Maybe`]`<…>`
//!   of each is `None` when no credentials were sent, and keeps a refused credential's
//!   401 and a store outage's 503 (actix-web's own `Option<…>` swallows every error:
//!   do not use it for credentials).
//! - **Guards**: [`require_roles`], [`require_permission`], [`require_scopes`] are
//!   middleware (`.wrap(…)`) on a scope or resource that answer 401/403. They are not
//!   routing [`Guard`](actix_web::guard::Guard)s: a routing guard that does not match makes
//!   the route *vanish* (404, or another route answers), which is not an authorization
//!   check, so this crate offers none. [`csrf`] protects cookie-authenticated unsafe
//!   requests.
//! - **Error pages**: [`error_pages`] (`.wrap(…)` on a scope) renders that scope's
//!   refusals with the team's own [`ErrorRenderer`](auth_core::render::ErrorRenderer):
//!   an HTML page, or a redirect to the login page for browser routes; the core keeps
//!   the status and `WWW-Authenticate`.
//! - **Routes**: [`routes::auth_routes`] registers `/token`, `/refresh`, `/login`,
//!   `/logout`, `/logout/all`, `/sessions` (`App::new().configure(routes::auth_routes)`).
//!
//! ## The same names on every adapter
//!
//! | | auth-axum | auth-actix | auth-warp |
//! |---|---|---|---|
//! | rejection | `AuthRejection` | [`AuthRejection`] | `AuthRejection` |
//! | optional bearer | `Option<Bearer>` | [`Maybe`]`<`[`Bearer`]`>` | `optional_bearer(auth)` |
//! | guards | `require_roles(&auth, …)` | [`require_roles`]`(…)` | `require_roles(auth, …)` |
//! | ready routes | `routes::auth_routes()` | [`routes::auth_routes`] | `routes::auth_routes(auth)` |
//! | error pages | `error_pages(pages)` layer | [`error_pages`]`(pages)` | `error_pages(pages, filter)` |
//!
//! actix-web's own idioms decide the rest: its `Option<T>` extractor turns every error
//! into `None`, so optional credentials are [`Maybe`]`<T>`, which fails closed; the
//! [`Auth`] lives in `web::Data`, so guards take no handle; routes are registered with a
//! `fn(&mut ServiceConfig)` passed to `App::configure`.
//!
//! The [`Auth`] handle is registered as `web::Data<Auth>`; without it every extractor
//! fails with a logged error saying what to add.
//!
//! ```
//! use actix_web::{App, HttpResponse, web};
//! use auth_actix::{Authenticated, Bearer, require_roles};
//!
//! async fn me(Bearer(claims): Bearer) -> HttpResponse {
//!     HttpResponse::Ok().json(serde_json::json!({ "id": claims.sub, "roles": claims.roles }))
//! }
//!
//! async fn publish(Authenticated(who): Authenticated) -> HttpResponse {
//!     HttpResponse::Ok().json(serde_json::json!({ "published_by": who.user_id() }))
//! }
//!
//! fn app(auth: auth_core::Auth) -> App<impl actix_web::dev::ServiceFactory<
//!     actix_web::dev::ServiceRequest, Config = (), Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
//!     Error = actix_web::Error, InitError = ()>> {
//!     App::new()
//!         .app_data(web::Data::new(auth))
//!         .route("/me", web::get().to(me))
//!         .service(web::scope("/editors").wrap(require_roles(["editor", "admin"])).route("/publish", web::post().to(publish)))
//!         .configure(auth_actix::routes::auth_routes)
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
//! - `testing`: `auth_actix::test_helpers`, credentials minted without a password for your
//!   tests; enable it in `[dev-dependencies]` only.

#[cfg(feature = "openapi")]
pub mod docs;
mod guard;
mod pages;
#[cfg(feature = "passkeys")]
mod passkeys;
pub mod routes;
/// Credentials for your own tests (a bearer header or a session cookie for any user,
/// minted without a password). Only with the `testing` feature, which belongs in
/// `[dev-dependencies]`: see [`auth_core::testing`].
#[cfg(feature = "testing")]
pub use auth_core::testing as test_helpers;
pub use guard::{
    Require, RequireMiddleware, csrf, csrf_form_field, require, require_permission, require_roles,
    require_scopes, require_second_factor,
};
pub use pages::{ErrorPagesMiddleware, ErrorPagesTransform, error_pages};

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use auth_core::adapter::{Answer, Reply, Request as CoreRequest};
use auth_core::credential::{ApiKeyRecord, KeySource};
use auth_core::policy::Requirement;
use auth_core::session::Session;
use auth_core::token::{Claims, NoExtra};
use auth_core::{AuthError, Principal};
use serde::de::DeserializeOwned;

pub use auth_core::Auth;

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// An extractor's future: ready at once when the core answered in place (no allocation,
/// no request clone), else the boxed store round trip.
pub type Answered<T> = Answer<Result<T, AuthRejection>, LocalFuture<Result<T, AuthRejection>>>;

/// `auth-core`'s view of an actix request: method, headers, query string, peer address.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    method: &'a Method,
    headers: &'a HeaderMap,
    query: &'a str,
    peer: Option<IpAddr>,
}

impl<'a> RequestView<'a> {
    /// A view of `req`.
    pub fn new(req: &'a HttpRequest) -> Self {
        Self {
            method: req.method(),
            headers: req.headers(),
            query: req.query_string(),
            peer: req.peer_addr().map(|a| a.ip()),
        }
    }

    /// A view of a service request (in middleware).
    pub fn of_service(req: &'a ServiceRequest) -> Self {
        Self::new(req.request())
    }

    /// The same request with other headers (e.g. a form's CSRF token added).
    pub fn with_headers(self, headers: &'a HeaderMap) -> Self {
        Self { headers, ..self }
    }
}

impl CoreRequest for RequestView<'_> {
    fn method(&self) -> &str {
        self.method.as_str()
    }

    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        use actix_web::http::header::{AUTHORIZATION, COOKIE};
        // A known name is not parsed again on each lookup.
        match name {
            "authorization" => self.headers.get_all(AUTHORIZATION),
            "cookie" => self.headers.get_all(COOKIE),
            other => self.headers.get_all(other),
        }
        .map(HeaderValue::as_bytes)
    }

    fn query(&self) -> Option<&str> {
        (!self.query.is_empty()).then_some(self.query)
    }

    fn peer_addr(&self) -> Option<IpAddr> {
        self.peer
    }
}

/// Renders a core [`Reply`] (success or failure), or an [`AuthError`], as an actix
/// response.
pub fn into_response(reply: impl Into<Reply>) -> HttpResponse {
    let (status, headers, body) = reply.into().into_parts();
    let mut builder = HttpResponse::build(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    // The core sends only visible ASCII (`Reply::header`): each value converts.
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::try_from(value) {
            builder.append_header((HeaderName::from_static(name), value));
        }
    }
    builder.body(body)
}

impl From<AuthRejection> for Reply {
    fn from(rejection: AuthRejection) -> Self {
        rejection.0.into()
    }
}

/// An authentication or authorization failure: renders `auth-core`'s HTTP table.
#[derive(Debug)]
pub struct AuthRejection(pub AuthError);

impl From<AuthError> for AuthRejection {
    fn from(e: AuthError) -> Self {
        Self(e)
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.to_response().status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        into_response(self.0.to_response())
    }
}

/// The registered [`Auth`], or an error that says how to register it.
pub fn auth_of(req: &HttpRequest) -> Result<Auth, AuthRejection> {
    registered(req).cloned()
}

/// [`auth_of`] borrowed: an extractor answered in place does not clone the handle.
fn registered(req: &HttpRequest) -> Result<&Auth, AuthRejection> {
    match req.app_data::<web::Data<Auth>>() {
        Some(data) => Ok(data.get_ref()),
        None => {
            tracing::error!(
                "auth-actix: no Auth registered; add `.app_data(web::Data::new(auth))` to your App"
            );
            Err(AuthRejection(AuthError::Internal))
        }
    }
}

/// The bearer caller: a verified, unrevoked access token's claims, with caller-defined
/// extra claims `E`. The claims are shared (`Arc`) with the verified-token cache, so a
/// request with a token already seen copies nothing; read them through the `Arc`
/// (`claims.sub`), or `Arc::unwrap_or_clone` for an owned copy.
///
/// Do not use `Option<Bearer>`: actix-web's own `Option<T>` extractor turns *every*
/// error into `None`, so a refused token and a state-store outage would both read as
/// "anonymous". Use [`Maybe`]`<Bearer>`: `None` only when no
/// credential was sent, 401 for a refused token, 503 when the store is down.
#[derive(Debug, Clone)]
pub struct Bearer<E = NoExtra>(pub Arc<Claims<E>>);

impl<E: DeserializeOwned + Send + Sync + 'static> FromRequest for Bearer<E> {
    type Error = AuthRejection;
    type Future = Answered<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let auth = match registered(req) {
            Ok(auth) => auth,
            Err(e) => return Answer::ready(Err(e)),
        };
        let now = auth.bearer_now_as::<E>(&RequestView::new(req));
        Answer::now_or(now.map(|r| Ok(Bearer(r?))), || -> LocalFuture<_> {
            let (req, auth) = (req.clone(), auth.clone());
            Box::pin(async move { Ok(Bearer(auth.bearer_as::<E>(&RequestView::new(&req)).await?)) })
        })
    }
}

/// An optional credential for any of this crate's extractors (`Maybe<Bearer>`,
/// `Maybe<SessionUser>`, `Maybe<Authenticated>`, `Maybe<ApiKey>`): `None` only when no
/// credential of the kind was sent; a refused one is its error (401/403) and a store
/// outage is 503, never "anonymous" ([`auth_core::optional`] decides). Use it instead of
/// `Option<…>`, which actix-web makes swallow every error.
#[derive(Debug, Clone)]
pub struct Maybe<T>(pub Option<T>);

impl<T> FromRequest for Maybe<T>
where
    T: FromRequest<Error = AuthRejection> + 'static,
{
    type Error = AuthRejection;
    type Future = LocalFuture<Result<Self, AuthRejection>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let inner = T::from_request(req, payload);
        Box::pin(async move {
            let result = inner.await.map_err(|AuthRejection(e)| e);
            Ok(Maybe(auth_core::optional(result)?))
        })
    }
}

/// The API-key caller: the key's record and where the key was found.
#[derive(Debug, Clone)]
pub struct ApiKey(pub ApiKeyRecord, pub KeySource);

impl FromRequest for ApiKey {
    type Error = AuthRejection;
    type Future = LocalFuture<Result<Self, AuthRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let auth = auth_of(&req)?;
            let (record, source) = auth.api_key(&RequestView::new(&req)).await?;
            Ok(ApiKey(record, source))
        })
    }
}

/// The session caller. On unsafe methods the CSRF check runs as well.
#[derive(Debug, Clone)]
pub struct SessionUser(pub Session);

impl FromRequest for SessionUser {
    type Error = AuthRejection;
    type Future = Answered<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let auth = match registered(req) {
            Ok(auth) => auth,
            Err(e) => return Answer::ready(Err(e)),
        };
        let now = auth.session_now(&RequestView::new(req));
        Answer::now_or(now.map(|r| Ok(SessionUser(r?))), || -> LocalFuture<_> {
            let (req, auth) = (req.clone(), auth.clone());
            Box::pin(async move { Ok(SessionUser(auth.session(&RequestView::new(&req)).await?)) })
        })
    }
}

/// Any authenticated principal: bearer if an `Authorization` header is sent, else the
/// session cookie (CSRF-checked on unsafe methods). Reuses what a guard middleware already
/// verified for this request: it looks for a [`Principal`] in the request extensions
/// first. A middleware of your own that authenticates the request should do the same,
/// `req.extensions_mut().insert(principal)`, so that handlers behind it do not
/// authenticate (and hit the store) a second time.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = AuthRejection;
    type Future = Answered<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(p) = req.extensions().get::<Principal>() {
            return Answer::ready(Ok(Authenticated(p.clone())));
        }
        let auth = match registered(req) {
            Ok(auth) => auth,
            Err(e) => return Answer::ready(Err(e)),
        };
        let now = auth.principal_now(&RequestView::new(req)).map(|r| {
            let principal = r?;
            req.extensions_mut().insert(principal.clone());
            Ok(Authenticated(principal))
        });
        Answer::now_or(now, || -> LocalFuture<_> {
            let (req, auth) = (req.clone(), auth.clone());
            Box::pin(async move {
                let principal = auth.principal(&RequestView::new(&req)).await?;
                req.extensions_mut().insert(principal.clone());
                Ok(Authenticated(principal))
            })
        })
    }
}

/// A fixed set of roles for the [`RequireRoles`] extractor.
pub trait RoleSet: 'static {
    /// The roles; any one of them is enough.
    const ROLES: &'static [&'static str];
}

/// Guards one handler: the principal must hold one of `R::ROLES`.
#[derive(Debug)]
pub struct RequireRoles<R: RoleSet> {
    /// The authenticated principal that holds one of the roles.
    pub principal: Principal,
    roles: PhantomData<R>,
}

impl<R: RoleSet> FromRequest for RequireRoles<R> {
    type Error = AuthRejection;
    type Future = LocalFuture<Result<Self, AuthRejection>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authenticated = Authenticated::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let Authenticated(principal) = authenticated.await?;
            auth_of(&req)?.require(&principal, &Requirement::any_role(R::ROLES.iter().copied()))?;
            Ok(RequireRoles {
                principal,
                roles: PhantomData,
            })
        })
    }
}

/// Middleware keeping answers to credentialed requests private
/// ([`Auth::private_headers`]): `Cache-Control: no-store` and `Vary: Authorization,
/// Cookie, X-API-Key` (appended to any `Vary` the handler set).
///
/// `App::new().wrap(actix_web::middleware::from_fn(auth_actix::private_responses))`
pub async fn private_responses(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    // Decided on the request, borrowed from the app's `Auth`: nothing is collected per
    // request.
    let auth = req.app_data::<web::Data<Auth>>().cloned();
    let headers = match &auth {
        Some(auth) => auth.private_headers(&RequestView::new(req.request())),
        None => &[],
    };
    let mut response = next.call(req).await?;
    for (name, value) in headers {
        let Ok(value) = HeaderValue::from_str(value) else {
            continue;
        };
        let name = HeaderName::from_static(name);
        if name == actix_web::http::header::VARY {
            response.headers_mut().append(name, value);
        } else {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// The crate's README, whose examples run as doctests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
