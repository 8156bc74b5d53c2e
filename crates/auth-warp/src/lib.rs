//! # auth-warp
//!
//! The warp adapter of the auth toolkit: glue only. Filters turn a request into
//! `auth-core`'s framework-neutral view and call the core; failures are [`AuthRejection`]
//! rejections that [`recover`] renders through the core's HTTP table. This crate never
//! chooses a status code.
//!
//! - **Filters**: [`bearer`] (and [`bearer_as`] for typed claims), [`api_key`],
//!   [`session`], [`authenticated`] (bearer or session, CSRF-checked), and
//!   [`optional_bearer`] and [`optional_authenticated`] (`None` only without
//!   credentials; 401 when refused, 503 on a store outage); [`require_roles`],
//!   [`require_permission`], [`require_scopes`] compose with `and`; [`csrf`] for handlers
//!   that read the session themselves.
//! - **Recovery**: add `.recover(auth_warp::recover)`; it renders [`AuthRejection`]s and
//!   passes every other rejection on to your own handler. [`reject`] turns an
//!   [`AuthError`] of your own handler into one.
//! - **Error pages**: [`error_pages`] wraps a group of routes and renders its refusals
//!   with the team's own [`ErrorRenderer`](auth_core::render::ErrorRenderer) (an HTML
//!   page, a redirect to the login page); the core keeps status and `WWW-Authenticate`.
//! - **Routes**: [`routes::auth_routes`] (`/token`, `/refresh`, `/login`, `/logout`,
//!   `/logout/all`, `/sessions`, third-party login).
//!
//! Put path and method filters *before* auth filters, so a request is only
//! authenticated by the route it is for.
//!
//! ## The same names on every adapter
//!
//! | | auth-axum | auth-actix | auth-warp |
//! |---|---|---|---|
//! | rejection | `AuthRejection` | `AuthRejection` | [`AuthRejection`] |
//! | optional bearer | `Option<Bearer>` | `Maybe<Bearer>` | [`optional_bearer`] |
//! | guards | `require_roles(&auth, …)` | `require_roles(…)` | [`require_roles`]`(auth, …)` |
//! | ready routes | `routes::auth_routes()` | `routes::auth_routes` | [`routes::auth_routes`]`(auth)` |
//! | error pages | `error_pages(pages)` layer | `error_pages(pages)` | [`error_pages`]`(pages, filter)` |
//!
//! warp has no extractors and no shared application state: credentials are filters
//! that extract values (so the optional bearer is its own filter, not an `Option`), and
//! each filter takes the [`Auth`] handle by value, as warp filters own what they capture.
//!
//! ```
//! use auth_core::AuthBuilder;
//! use warp::Filter;
//!
//! // Your user store (the library ships no users); secrets from your configuration.
//! let users = std::sync::Arc::new(auth_core::credential::MemoryUsers::new());
//! let auth = AuthBuilder::new(b"access-secret-of-at-least-32-bytes", b"refresh-secret-of-at-least-32-byte")
//!     .users(users)
//!     .build()
//!     .unwrap();
//! let me = warp::path!("me")
//!     .and(warp::get())
//!     .and(auth_warp::bearer(auth.clone()))
//!     .map(|claims: std::sync::Arc<auth_core::token::Claims>| warp::reply::json(&serde_json::json!({ "id": claims.sub })));
//! let publish = warp::path!("publish")
//!     .and(warp::post())
//!     .and(auth_warp::require_roles(auth.clone(), ["editor", "admin"]))
//!     .map(|who: auth_core::Principal| who.user_id().to_string());
//! let app = me
//!     .or(publish)
//!     .or(auth_warp::routes::auth_routes(auth))
//!     .recover(auth_warp::recover);
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
//! - `testing`: `auth_warp::test_helpers`, credentials minted without a password for your
//!   tests; enable it in `[dev-dependencies]` only.

/// Credentials for your own tests (a bearer header or a session cookie for any user,
/// minted without a password). Only with the `testing` feature, which belongs in
/// `[dev-dependencies]`: see [`auth_core::testing`].
#[cfg(feature = "testing")]
pub use auth_core::testing as test_helpers;

#[cfg(feature = "openapi")]
pub mod docs;
mod pages;
#[cfg(feature = "passkeys")]
mod passkeys;
pub mod routes;
pub use pages::error_pages;
pub use routes::private_responses;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use auth_core::adapter::{Answer, MAX_BODY_BYTES, Reply, Request as CoreRequest};
use auth_core::credential::{ApiKeyRecord, KeySource};
use auth_core::policy::Requirement;
use auth_core::session::Session;
use auth_core::token::Claims;
use auth_core::{AuthError, Guard, Principal};
use warp::Filter;
use warp::http::header::{HeaderMap, HeaderName, HeaderValue};
use warp::http::{Method, StatusCode};
use warp::reject::Rejection;

pub use auth_core::Auth;

/// `auth-core`'s view of a warp request: method, headers, query string, peer address.
#[derive(Debug, Clone)]
pub struct RequestView {
    method: Method,
    headers: HeaderMap,
    query: Option<String>,
    peer: Option<IpAddr>,
}

impl RequestView {
    /// A view from the parts warp hands out ([`view`] builds it for you).
    pub fn new(
        method: Method,
        headers: HeaderMap,
        query: Option<String>,
        peer: Option<SocketAddr>,
    ) -> Self {
        Self {
            method,
            headers,
            query,
            peer: peer.map(|a| a.ip()),
        }
    }
}

impl CoreRequest for RequestView {
    fn method(&self) -> &str {
        self.method.as_str()
    }

    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        use warp::http::header::{AUTHORIZATION, COOKIE};
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
        self.query.as_deref()
    }

    fn peer_addr(&self) -> Option<IpAddr> {
        self.peer
    }
}

/// An authentication or authorization failure as a warp rejection; [`recover`] renders it.
#[derive(Debug)]
pub struct AuthRejection(pub AuthError);

impl warp::reject::Reject for AuthRejection {}

/// Turns an [`AuthError`] (from [`Auth::authorize`] or any call of your own into [`Auth`]) into
/// a rejection that [`recover`] renders through the core's table.
pub fn reject(e: AuthError) -> Rejection {
    warp::reject::custom(AuthRejection(e))
}

/// Renders a core [`Reply`] (success or failure), or an [`AuthError`], as a warp response.
pub fn into_response(reply: impl Into<Reply>) -> warp::reply::Response {
    let (status, headers, body) = reply.into().into_parts();
    let mut response = warp::reply::Response::new(body.into());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // The core sends only visible ASCII (`Reply::header`), so every value converts.
    let map = response.headers_mut();
    headers
        .into_iter()
        .filter_map(|(n, v)| Some((HeaderName::from_static(n), HeaderValue::try_from(v).ok()?)))
        .for_each(|(n, v)| {
            map.append(n, v);
        });
    response
}

/// Renders [`AuthRejection`]s through the core's table; every other rejection is
/// returned unchanged for your own handler (or warp's default).
pub async fn recover(err: Rejection) -> Result<warp::reply::Response, Rejection> {
    match err.find::<AuthRejection>() {
        Some(AuthRejection(e)) => Ok(into_response(e.to_response())),
        None => Err(err),
    }
}

/// Extracts the [`Auth`] handle (for your own handlers).
pub fn with_auth(auth: Auth) -> impl Filter<Extract = (Auth,), Error = Infallible> + Clone {
    warp::any().map(move || auth.clone())
}

/// The query string, `None` without one. Not `warp::query::raw()`: it rejects a request
/// without a query string, which costs a boxed rejection on nearly every request. The
/// pairs are decoded here and encoded again, so the core parses the same pairs (in order,
/// repeated names kept) that it would from the raw string; an empty query is `None`,
/// which the core reads as it reads `Some("")`.
fn optional_query() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::query::<Vec<(String, String)>>()
        .map(|pairs: Vec<(String, String)>| {
            (!pairs.is_empty()).then(|| {
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish()
            })
        })
        .or(warp::any().map(|| None))
        .unify()
}

/// The request as `auth-core` reads it: method, headers, query string, peer address.
pub fn view() -> impl Filter<Extract = (RequestView,), Error = Infallible> + Clone {
    warp::method()
        .and(warp::header::headers_cloned())
        .and(optional_query())
        .and(warp::addr::remote())
        .map(RequestView::new)
}

/// [`view`] handed to `check` with the [`Auth`] handle: one filter step fewer on every
/// request than `with_auth(auth).and(view())` (the cookie filters do the same with
/// [`csrf_view`]).
fn checked<T, F, Fut>(
    auth: Auth,
    check: F,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone
where
    F: Fn(Auth, RequestView) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, Rejection>> + Send,
    T: Send,
{
    view().and_then(move |view| check(auth.clone(), view))
}

/// The bearer caller's verified, unrevoked claims, shared (`Arc`) with the
/// verified-token cache: a request with a token already seen copies nothing.
pub fn bearer(auth: Auth) -> impl Filter<Extract = (Arc<Claims>,), Error = Rejection> + Clone {
    bearer_as::<auth_core::token::NoExtra>(auth)
}

/// The bearer caller's claims with caller-defined extra claims `E`.
pub fn bearer_as<E>(
    auth: Auth,
) -> impl Filter<Extract = (Arc<Claims<E>>,), Error = Rejection> + Clone
where
    E: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    view().and_then(move |view: RequestView| {
        answer(
            &auth,
            auth.bearer_now_as::<E>(&view),
            move |auth| async move { auth.bearer_as::<E>(&view).await },
        )
    })
}

/// The boxed future of an [`Answer`] that must wait for a store.
type Waiting<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, Rejection>> + Send>>;

/// The core's answer found in place (an `*_now` method's `Some`), else the future `wait`
/// builds with its own [`Auth`] handle, boxed: a filter whose answer is at hand moves a
/// few words, allocates nothing and does not clone the handle.
fn answer<T, W>(
    auth: &Auth,
    now: Option<Result<T, AuthError>>,
    wait: impl FnOnce(Auth) -> W,
) -> Answer<Result<T, Rejection>, Waiting<T>>
where
    W: std::future::Future<Output = Result<T, AuthError>> + Send + 'static,
    T: 'static,
{
    Answer::now_or(now.map(|r| r.map_err(reject)), || -> Waiting<T> {
        let work = wait(auth.clone());
        Box::pin(async move { work.await.map_err(reject) })
    })
}

/// `Some` claims, `None` when no credentials were sent, a rejection when a token was sent
/// but refused (401) or could not be checked (a store outage: 503, never anonymous), as
/// [`auth_core::optional`] decides for every adapter.
pub fn optional_bearer(
    auth: Auth,
) -> impl Filter<Extract = (Option<Arc<Claims>>,), Error = Rejection> + Clone {
    view().and_then(move |view: RequestView| {
        let now = auth.bearer_now_as(&view).map(auth_core::optional);
        answer(&auth, now, move |auth| async move {
            auth_core::optional(auth.bearer(&view).await)
        })
    })
}

/// `Some` principal (bearer, else session, CSRF-checked on unsafe methods), `None` when
/// no credentials were sent, a rejection when some were refused or could not be checked
/// (503 on a store outage), as [`auth_core::optional`] decides.
pub fn optional_authenticated(
    auth: Auth,
) -> impl Filter<Extract = (Option<Principal>,), Error = Rejection> + Clone {
    csrf_view(auth.clone()).and_then(move |view: RequestView| {
        let now = auth.principal_now(&view).map(auth_core::optional);
        answer(&auth, now, move |auth| async move {
            auth_core::optional(auth.principal(&view).await)
        })
    })
}

/// As [`view`], and for an HTML form (cookie-authenticated, unsafe, form body, no
/// `X-CSRF-Token` header, as [`Auth::csrf_form_wanted`] decides) its `csrf_token` field
/// presented as the `X-CSRF-Token` header to the CSRF check. Only then is the body read
/// (at most [`MAX_CSRF_FORM_BYTES`](auth_core::session::MAX_CSRF_FORM_BYTES)), and warp
/// hands a body out once: a handler behind a cookie-authenticated filter that reads the
/// form itself should take the token from the `X-CSRF-Token` header.
pub fn csrf_view(auth: Auth) -> impl Filter<Extract = (RequestView,), Error = Rejection> + Clone {
    // Nearly every request needs no form: one view, and the core says so (a safe method
    // is answered before any header is read).
    let plain = {
        let auth = auth.clone();
        view().and_then(move |view: RequestView| {
            let wanted = auth.csrf_form_wanted(&view);
            async move {
                if wanted {
                    Err(warp::reject::not_found())
                } else {
                    Ok(view)
                }
            }
        })
    };
    // Read up to the adapters' body limit: the core refuses a form over
    // MAX_CSRF_FORM_BYTES with its 400 (a smaller limit here would drop the body and
    // answer 403 instead). A body warp cannot read leaves the form's token out, so the
    // CSRF check refuses the request.
    let limit = u64::try_from(MAX_BODY_BYTES).unwrap_or(u64::MAX);
    let body = warp::body::content_length_limit(limit)
        .and(warp::body::bytes())
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    let with_form = view().and(body).and_then(
        move |mut view: RequestView, body: Option<warp::hyper::body::Bytes>| {
            let token = body.map(|b| auth.csrf_form_token(Some(&b)));
            async move {
                match token {
                    None | Some(Ok(None)) => {}
                    Some(Ok(Some(token))) => {
                        if let Ok(value) = HeaderValue::from_str(&token) {
                            view.headers
                                .insert(HeaderName::from_static("x-csrf-token"), value);
                        }
                    }
                    Some(Err(e)) => return Err(reject(e)),
                }
                Ok(view)
            }
        },
    );
    // Boxed: only a form request polls this branch, and every other request then moves
    // a pointer-sized future instead of one that can hold a body read.
    plain.or(with_form.boxed()).unify()
}

/// The API-key caller: the key's record and where it was found.
pub fn api_key(
    auth: Auth,
) -> impl Filter<Extract = ((ApiKeyRecord, KeySource),), Error = Rejection> + Clone {
    checked(auth, |auth: Auth, view: RequestView| async move {
        auth.api_key(&view).await.map_err(reject)
    })
}

/// The session caller; on unsafe methods the CSRF check runs as well.
pub fn session(auth: Auth) -> impl Filter<Extract = (Session,), Error = Rejection> + Clone {
    csrf_view(auth.clone()).and_then(move |view: RequestView| {
        answer(&auth, auth.session_now(&view), move |auth| async move {
            auth.session(&view).await
        })
    })
}

/// Any authenticated principal: bearer when an `Authorization` header is sent, else the
/// session cookie (CSRF-checked on unsafe methods).
pub fn authenticated(auth: Auth) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone {
    csrf_view(auth.clone()).and_then(move |view: RequestView| {
        answer(&auth, auth.principal_now(&view), move |auth| async move {
            auth.principal(&view).await
        })
    })
}

fn guarded(
    auth: Auth,
    guard: Guard,
) -> impl Filter<Extract = (Option<Principal>,), Error = Rejection> + Clone {
    csrf_view(auth.clone()).and_then(move |view: RequestView| {
        let (auth, guard) = (auth.clone(), guard.clone());
        async move { auth.guard(&view, &guard).await.map_err(reject) }
    })
}

/// An authenticated principal satisfying `guard`: the general form of
/// [`require_roles`] and friends, for guards defined once and also published (e.g. in
/// OpenAPI with `auth-openapi`).
pub fn require(
    auth: Auth,
    guard: Guard,
) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone {
    guarded(auth, guard).and_then(|principal: Option<Principal>| async move {
        // Require and Scopes guards always authenticate someone.
        principal.ok_or_else(|| reject(AuthError::MissingCredentials(auth_core::Scheme::Bearer)))
    })
}

/// An authenticated principal holding any of `roles` (401 or 403 otherwise).
pub fn require_roles<I, R>(
    auth: Auth,
    roles: I,
) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone
where
    I: IntoIterator<Item = R>,
    R: auth_core::policy::Role,
{
    require(auth, Guard::Require(Requirement::any_role(roles)))
}

/// An authenticated principal whose roles grant `permission`.
pub fn require_permission(
    auth: Auth,
    permission: &str,
) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone {
    require(auth, Guard::Require(Requirement::permission(permission)))
}

/// A bearer principal granted every one of `scopes` (RFC 6750 `insufficient_scope`):
/// `require_scopes(auth, ["articles:write"])`.
pub fn require_scopes<I, S>(
    auth: Auth,
    scopes: I,
) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    require(
        auth,
        Guard::Scopes(scopes.into_iter().map(|s| s.as_ref().to_owned()).collect()),
    )
}

/// An authenticated principal that signed in with a second factor (a TOTP code or a
/// passkey: `amr` names `otp`, `hwk`, `swk` or `mfa`); a password-only login is rejected
/// with 403 `insufficient_user_authentication` (RFC 9470).
pub fn require_second_factor(
    auth: Auth,
) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone {
    require(auth, Guard::SecondFactor)
}

/// CSRF protection for cookie-authenticated unsafe requests (no `Authorization` header),
/// for handlers that read the session cookie themselves. Extracts nothing.
pub fn csrf(auth: Auth) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    guarded(auth, Guard::Csrf).map(|_| ()).untuple_one()
}

/// The crate's README, whose examples run as doctests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
