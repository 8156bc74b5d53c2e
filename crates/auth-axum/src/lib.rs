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
//! - **Routes**: [`routes::auth_routes`] (`/token`, `/refresh`, `/login`, `/logout`,
//!   `/logout/all`, `/sessions`) to `merge` into your router.
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
//! async fn me(auth_axum::Bearer(claims): auth_axum::Bearer) -> String { claims.sub }
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

#[cfg(feature = "openapi")]
pub mod docs;
pub mod routes;
/// Credentials for your own tests (a bearer header or a session cookie for any user,
/// minted without a password). Only with the `testing` feature, which belongs in
/// `[dev-dependencies]`: see [`auth_core::testing`].
#[cfg(feature = "testing")]
pub use auth_core::testing as test_helpers;

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use auth_core::credential::{ApiKeyRecord, KeySource};
use auth_core::policy::Requirement;
use auth_core::request::Request as CoreRequest;
use auth_core::session::{CredentialKind, Session, csrf_applies};
use auth_core::token::{Claims, NoExtra};
use auth_core::{AuthError, Guard, Principal, Reply};
use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::header::{HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

pub use auth_core::Auth;

/// `auth-core`'s view of an axum request: its headers and query string.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    headers: &'a HeaderMap,
    query: Option<&'a str>,
}

impl<'a> RequestView<'a> {
    /// A view of request parts.
    pub fn new(parts: &'a Parts) -> Self {
        Self {
            headers: &parts.headers,
            query: parts.uri.query(),
        }
    }

    /// A view of a whole request.
    pub fn of<B>(request: &'a axum::http::Request<B>) -> Self {
        Self {
            headers: request.headers(),
            query: request.uri().query(),
        }
    }
}

impl CoreRequest for RequestView<'_> {
    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.headers.get_all(name).iter().map(HeaderValue::as_bytes)
    }

    fn query(&self) -> Option<&str> {
        self.query
    }
}

/// Renders a core [`Reply`] (success or failure) as an axum response.
pub fn into_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, reply.body).into_response();
    let headers = response.headers_mut();
    headers.remove(axum::http::header::CONTENT_TYPE);
    for (name, value) in reply.headers {
        match HeaderValue::from_str(&value) {
            Ok(v) => {
                headers.append(HeaderName::from_static(name), v);
            }
            Err(_) => tracing::error!(
                header = name,
                "auth-core produced a header value axum cannot send"
            ),
        }
    }
    response
}

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
        into_response(self.0.to_response())
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
    ($ty:ty) => {
        impl<S> OptionalFromRequestParts<S> for $ty
        where
            Auth: FromRef<S>,
            S: Send + Sync,
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
/// extra claims `E`.
#[derive(Debug, Clone)]
pub struct Bearer<E = NoExtra>(pub Claims<E>);

impl<S, E> FromRequestParts<S> for Bearer<E>
where
    Auth: FromRef<S>,
    S: Send + Sync,
    E: DeserializeOwned + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_ref(state);
        Ok(Bearer(auth.bearer_as::<E>(&RequestView::new(parts)).await?))
    }
}

impl<S, E> OptionalFromRequestParts<S> for Bearer<E>
where
    Auth: FromRef<S>,
    S: Send + Sync,
    E: DeserializeOwned + Send + Sync + 'static,
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

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_ref(state);
        let view = RequestView::new(parts);
        let session = auth.session(&view).await?;
        if csrf_applies(CredentialKind::Session, parts.method.as_str()) {
            auth.parts()
                .sessions
                .check_csrf(parts.method.as_str(), &view, &session)?;
        }
        Ok(SessionUser(session))
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

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(Authenticated(p.clone()));
        }
        let auth = Auth::from_ref(state);
        let principal = auth
            .principal(&RequestView::new(parts), parts.method.as_str())
            .await?;
        parts.extensions.insert(principal.clone());
        Ok(Authenticated(principal))
    }
}

optional_via_absence!(Authenticated);

/// The ABAC helper: decides `action` on a loaded `resource` with `policy` and turns a
/// denial into a 403 carrying `detail` (the decision's reason is logged, not sent).
///
/// ```
/// use auth_axum::authorize;
/// use auth_core::policy::{Environment, rule};
///
/// struct User { id: u64 }
/// struct Doc { owner: u64 }
/// let owner_only = rule("owner", |u: &User, _: &str, d: &Doc, _: &Environment| u.id == d.owner);
/// # let auth = auth_core::AuthBuilder::new(&[1; 32], &[2; 32])
/// #     .users(std::sync::Arc::new(auth_core::credential::MemoryUsers::new()))
/// #     .build()
/// #     .unwrap();
/// assert!(authorize(&auth, &*owner_only, &User { id: 3 }, "delete", &Doc { owner: 3 }, "Cannot delete this document").is_ok());
/// assert!(authorize(&auth, &*owner_only, &User { id: 2 }, "delete", &Doc { owner: 3 }, "Cannot delete this document").is_err());
/// ```
pub fn authorize<S: ?Sized, R: ?Sized>(
    auth: &Auth,
    policy: &dyn auth_core::policy::Policy<S, R>,
    subject: &S,
    action: &str,
    resource: &R,
    detail: &'static str,
) -> Result<(), AuthRejection> {
    // The core decides, on its injected clock.
    Ok(auth.authorize(policy, subject, action, resource, detail)?)
}

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

/// A tower layer that checks one [`Guard`] (through `auth-core`, as every adapter does)
/// on every request of a route group; see [`require_roles`] and [`csrf`].
#[derive(Debug, Clone)]
pub struct RequireLayer {
    auth: Auth,
    rule: Guard,
}

/// Requires `guard` on a route group: the general form of [`require_roles`] and friends,
/// for guards defined once and also published (e.g. in OpenAPI with `auth-openapi`).
pub fn require(auth: &Auth, guard: Guard) -> RequireLayer {
    RequireLayer {
        auth: auth.clone(),
        rule: guard,
    }
}

impl RequireLayer {
    /// The guard this layer checks.
    pub fn guard(&self) -> &Guard {
        &self.rule
    }
}

/// Requires any of `roles` on a route group: `.route_layer(require_roles(&auth, ["editor", "admin"]))`.
pub fn require_roles<I, R>(auth: &Auth, roles: I) -> RequireLayer
where
    I: IntoIterator<Item = R>,
    R: auth_core::policy::Role,
{
    RequireLayer {
        auth: auth.clone(),
        rule: Guard::Require(Requirement::any_role(roles)),
    }
}

/// Requires a permission (through the role table) on a route group.
pub fn require_permission(auth: &Auth, permission: &str) -> RequireLayer {
    RequireLayer {
        auth: auth.clone(),
        rule: Guard::Require(Requirement::permission(permission)),
    }
}

/// Requires bearer tokens granted every one of `scopes` (RFC 6750 `insufficient_scope`).
pub fn require_scopes<'a>(auth: &Auth, scopes: impl IntoIterator<Item = &'a str>) -> RequireLayer {
    RequireLayer {
        auth: auth.clone(),
        rule: Guard::Scopes(scopes.into_iter().map(String::from).collect()),
    }
}

impl<S> tower_layer::Layer<S> for RequireLayer {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService {
            inner,
            auth: self.auth.clone(),
            rule: self.rule.clone(),
        }
    }
}

/// The service of [`RequireLayer`].
#[derive(Debug, Clone)]
pub struct RequireService<S> {
    inner: S,
    auth: Auth,
    rule: Guard,
}

impl<S> tower_service::Service<Request> for RequireService<S>
where
    S: tower_service::Service<Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (auth, rule) = (self.auth.clone(), self.rule.clone());
        Box::pin(async move {
            let (mut parts, body) = match csrf_form_field(&auth, request).await {
                Ok(request) => request.into_parts(),
                Err(e) => return Ok(AuthRejection(e).into_response()),
            };
            let checked = auth
                .guard(&RequestView::new(&parts), parts.method.as_str(), &rule)
                .await;
            match checked {
                Ok(principal) => {
                    if let Some(p) = principal {
                        parts.extensions.insert(p);
                    }
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(e) => Ok(AuthRejection(e).into_response()),
            }
        })
    }
}

/// For an HTML form (cookie-authenticated, unsafe, form body, no `X-CSRF-Token` header,
/// as [`Auth::csrf_form_wanted`] decides), reads the body (at most
/// [`MAX_CSRF_FORM_BYTES`](auth_core::session::MAX_CSRF_FORM_BYTES)), presents its
/// `csrf_token` field as the `X-CSRF-Token` header to the CSRF checks that follow, and
/// hands the body on to the handler unchanged. Every other request passes untouched.
pub async fn csrf_form_field(auth: &Auth, request: Request) -> Result<Request, AuthError> {
    if !auth.csrf_form_wanted(&RequestView::of(&request), request.method().as_str()) {
        return Ok(request);
    }
    let (mut parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, auth_core::session::MAX_CSRF_FORM_BYTES)
        .await
        .ok();
    let token = auth.csrf_form_token(bytes.as_deref())?;
    if let Some(value) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
        parts
            .headers
            .insert(HeaderName::from_static("x-csrf-token"), value);
    }
    Ok(Request::from_parts(
        parts,
        axum::body::Body::from(bytes.unwrap_or_default()),
    ))
}

/// A CSRF guard for route groups whose handlers read the session cookie themselves:
/// cookie-authenticated unsafe requests (no `Authorization` header) must carry the
/// session's `X-CSRF-Token` and an allowed `Origin`.
pub fn csrf(auth: &Auth) -> RequireLayer {
    RequireLayer {
        auth: auth.clone(),
        rule: Guard::Csrf,
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
    let headers: Vec<(HeaderName, HeaderValue)> = auth
        .private_headers(&RequestView::new(&parts))
        .iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_static(name),
                HeaderValue::from_str(value).ok()?,
            ))
        })
        .collect();
    let mut response = next
        .run(axum::extract::Request::from_parts(parts, body))
        .await;
    for (name, value) in headers {
        if name == axum::http::header::VARY {
            response.headers_mut().append(name, value);
        } else {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
