//! # auth-warp
//!
//! The warp adapter of the auth toolkit: glue only. Filters turn a request into
//! `auth-core`'s framework-neutral view and call the core; failures are [`AuthReject`]
//! rejections that [`recover`] renders through the core's HTTP table. This crate never
//! chooses a status code.
//!
//! - **Filters**: [`bearer`] (and [`bearer_as`] for typed claims), [`api_key`],
//!   [`session`], [`authenticated`] (bearer or session, CSRF-checked), and
//!   [`optional_bearer`] and [`optional_authenticated`] (`None` only without
//!   credentials; 401 when refused, 503 on a store outage); [`require_roles`], [`require_permission`], [`require_scopes`]
//!   compose with `and`; [`csrf`] for handlers that read the session themselves.
//! - **Recovery**: add `.recover(auth_warp::recover)`; it renders auth rejections and
//!   passes every other rejection on to your own handler.
//! - **Routes**: [`routes`] (`/token`, `/refresh`, `/login`, `/logout`, `/logout/all`,
//!   `/sessions`).
//!
//! Put path and method filters *before* auth filters, so a request is only
//! authenticated by the route it is for.
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
//!     .map(|claims: auth_core::token::Claims| warp::reply::json(&serde_json::json!({ "id": claims.sub })));
//! let publish = warp::path!("publish")
//!     .and(warp::post())
//!     .and(auth_warp::require_roles(auth.clone(), ["editor", "admin"]))
//!     .map(|who: auth_core::Principal| who.user_id().to_string());
//! let app = me.or(publish).or(auth_warp::routes(auth)).recover(auth_warp::recover);
//! # let _ = app;
//! ```

/// Credentials for your own tests (a bearer header or a session cookie for any user,
/// minted without a password). Only with the `testing` feature, which belongs in
/// `[dev-dependencies]`: see [`auth_core::testing`].
#[cfg(feature = "testing")]
pub use auth_core::testing as test_helpers;

#[cfg(feature = "openapi")]
pub mod docs;

use std::convert::Infallible;
use std::net::SocketAddr;

use auth_core::credential::{ApiKeyRecord, KeySource};
use auth_core::policy::Requirement;
use auth_core::request::Request as CoreRequest;
use auth_core::session::{CredentialKind, Session, csrf_applies};
use auth_core::token::Claims;
use auth_core::{AuthError, Guard, Principal, Reply};
use warp::Filter;
use warp::http::header::{HeaderMap, HeaderName, HeaderValue};
use warp::http::{Method, StatusCode};
use warp::reject::Rejection;

pub use auth_core::Auth;

/// `auth-core`'s view of a warp request: its headers and query string.
#[derive(Debug, Clone)]
pub struct RequestView {
    headers: HeaderMap,
    query: Option<String>,
}

impl RequestView {
    /// A view from the parts warp hands out.
    pub fn new(headers: HeaderMap, query: Option<String>) -> Self {
        Self { headers, query }
    }
}

impl CoreRequest for RequestView {
    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.headers.get_all(name).iter().map(HeaderValue::as_bytes)
    }

    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
}

/// An authentication or authorization failure as a warp rejection; [`recover`] renders it.
#[derive(Debug)]
pub struct AuthReject(pub AuthError);

impl warp::reject::Reject for AuthReject {}

fn reject(e: AuthError) -> Rejection {
    warp::reject::custom(AuthReject(e))
}

/// Renders a core [`Reply`] (success or failure) as a warp response.
pub fn into_response(reply: Reply) -> warp::reply::Response {
    use warp::Reply as _;
    let mut response = reply.body.into_response();
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.remove(warp::http::header::CONTENT_TYPE);
    for (name, value) in reply.headers {
        match HeaderValue::from_str(&value) {
            Ok(v) => {
                headers.append(HeaderName::from_static(name), v);
            }
            Err(_) => tracing::error!(
                header = name,
                "auth-core produced a header value warp cannot send"
            ),
        }
    }
    response
}

/// Renders [`AuthReject`] rejections through the core's table; every other rejection is
/// returned unchanged for your own handler (or warp's default).
pub async fn recover(err: Rejection) -> Result<warp::reply::Response, Rejection> {
    match err.find::<AuthReject>() {
        Some(AuthReject(e)) => Ok(into_response(e.to_response())),
        None => Err(err),
    }
}

/// Extracts the [`Auth`] handle (for your own handlers).
pub fn with_auth(auth: Auth) -> impl Filter<Extract = (Auth,), Error = Infallible> + Clone {
    warp::any().map(move || auth.clone())
}

fn optional_query() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
}

/// The request's headers and query string as `auth-core` reads them, and its method.
pub fn view() -> impl Filter<Extract = (RequestView, Method), Error = Infallible> + Clone {
    warp::header::headers_cloned()
        .and(optional_query())
        .and(warp::method())
        .map(|headers, query, method| (RequestView::new(headers, query), method))
        .untuple_one()
}

/// The bearer caller's verified, unrevoked claims.
pub fn bearer(auth: Auth) -> impl Filter<Extract = (Claims,), Error = Rejection> + Clone {
    bearer_as::<auth_core::token::NoExtra>(auth)
}

/// The bearer caller's claims with caller-defined extra claims `E`.
pub fn bearer_as<E>(auth: Auth) -> impl Filter<Extract = (Claims<E>,), Error = Rejection> + Clone
where
    E: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    with_auth(auth)
        .and(view())
        .and_then(|auth: Auth, view: RequestView, _m: Method| async move {
            auth.bearer_as::<E>(&view).await.map_err(reject)
        })
}

/// `Some` claims, `None` when no credentials were sent, a rejection when a token was sent
/// but refused (401) or could not be checked (a store outage: 503, never anonymous), as
/// [`auth_core::optional`] decides for every adapter.
pub fn optional_bearer(
    auth: Auth,
) -> impl Filter<Extract = (Option<Claims>,), Error = Rejection> + Clone {
    with_auth(auth)
        .and(view())
        .and_then(|auth: Auth, view: RequestView, _m: Method| async move {
            auth_core::optional(auth.bearer(&view).await).map_err(reject)
        })
}

/// `Some` principal (bearer, else session, CSRF-checked on unsafe methods), `None` when
/// no credentials were sent, a rejection when some were refused or could not be checked
/// (503 on a store outage), as [`auth_core::optional`] decides.
pub fn optional_authenticated(
    auth: Auth,
) -> impl Filter<Extract = (Option<Principal>,), Error = Rejection> + Clone {
    with_auth(auth.clone()).and(csrf_view(auth)).and_then(
        |auth: Auth, view: RequestView, method: Method| async move {
            auth_core::optional(auth.principal(&view, method.as_str()).await).map_err(reject)
        },
    )
}

/// As [`view`], and for an HTML form (cookie-authenticated, unsafe, form body, no
/// `X-CSRF-Token` header, as [`Auth::csrf_form_wanted`] decides) its `csrf_token` field
/// presented as the `X-CSRF-Token` header to the CSRF check. Only then is the body read
/// (at most [`MAX_CSRF_FORM_BYTES`](auth_core::session::MAX_CSRF_FORM_BYTES)), and warp
/// hands a body out once: a handler behind a cookie-authenticated filter that reads the
/// form itself should take the token from the `X-CSRF-Token` header.
pub fn csrf_view(
    auth: Auth,
) -> impl Filter<Extract = (RequestView, Method), Error = Rejection> + Clone {
    let wanted = {
        let auth = auth.clone();
        view().and_then(move |view: RequestView, method: Method| {
            let wanted = auth.csrf_form_wanted(&view, method.as_str());
            async move {
                if wanted {
                    Ok((view, method))
                } else {
                    Err(warp::reject::not_found())
                }
            }
        })
    }
    .untuple_one();
    let with_form = wanted
        .and(warp::body::content_length_limit(BODY_LIMIT).and(warp::body::bytes()))
        .map(
            |view: RequestView, method: Method, body: warp::hyper::body::Bytes| {
                (view, method, Some(body))
            },
        );
    let without = view().map(|view: RequestView, method: Method| (view, method, None));
    with_form
        .or(without)
        .unify()
        .untuple_one()
        .and_then(
            move |mut view: RequestView, method: Method, body: Option<warp::hyper::body::Bytes>| {
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
                    Ok((view, method))
                }
            },
        )
        .untuple_one()
}

/// The API-key caller: the key's record and where it was found.
pub fn api_key(
    auth: Auth,
) -> impl Filter<Extract = ((ApiKeyRecord, KeySource),), Error = Rejection> + Clone {
    with_auth(auth)
        .and(view())
        .and_then(|auth: Auth, view: RequestView, _m: Method| async move {
            auth.api_key(&view).await.map_err(reject)
        })
}

/// The session caller; on unsafe methods the CSRF check runs as well.
pub fn session(auth: Auth) -> impl Filter<Extract = (Session,), Error = Rejection> + Clone {
    with_auth(auth.clone()).and(csrf_view(auth)).and_then(
        |auth: Auth, view: RequestView, method: Method| async move {
            let session = auth.session(&view).await.map_err(reject)?;
            if csrf_applies(CredentialKind::Session, method.as_str()) {
                auth.parts()
                    .sessions
                    .check_csrf(method.as_str(), &view, &session)
                    .map_err(reject)?;
            }
            Ok::<_, Rejection>(session)
        },
    )
}

/// Any authenticated principal: bearer when an `Authorization` header is sent, else the
/// session cookie (CSRF-checked on unsafe methods).
pub fn authenticated(auth: Auth) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone {
    with_auth(auth.clone()).and(csrf_view(auth)).and_then(
        |auth: Auth, view: RequestView, method: Method| async move {
            auth.principal(&view, method.as_str()).await.map_err(reject)
        },
    )
}

fn guarded(
    auth: Auth,
    guard: Guard,
) -> impl Filter<Extract = (Option<Principal>,), Error = Rejection> + Clone {
    with_auth(auth.clone()).and(csrf_view(auth)).and_then(
        move |auth: Auth, view: RequestView, method: Method| {
            let guard = guard.clone();
            async move {
                auth.guard(&view, method.as_str(), &guard)
                    .await
                    .map_err(reject)
            }
        },
    )
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

/// A bearer principal granted every one of `scopes` (RFC 6750 `insufficient_scope`).
pub fn require_scopes(
    auth: Auth,
    scopes: &[&str],
) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone {
    require(
        auth,
        Guard::Scopes(scopes.iter().map(|s| s.to_string()).collect()),
    )
}

/// CSRF protection for cookie-authenticated unsafe requests (no `Authorization` header),
/// for handlers that read the session cookie themselves. Extracts nothing.
pub fn csrf(auth: Auth) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    guarded(auth, Guard::Csrf).map(|_| ()).untuple_one()
}

/// The ABAC helper: decides `action` on a loaded `resource` with `policy`; a denial is an
/// [`AuthError::Forbidden`] carrying `detail`, ready to `reject` or render.
pub fn authorize<S: ?Sized, R: ?Sized>(
    auth: &Auth,
    policy: &dyn auth_core::policy::Policy<S, R>,
    subject: &S,
    action: &str,
    resource: &R,
    detail: &'static str,
) -> Result<(), Rejection> {
    // The core decides, on its injected clock.
    auth.authorize(policy, subject, action, resource, detail)
        .map_err(reject)
}

/// Bodies larger than this are refused before any handler runs.
const BODY_LIMIT: u64 = 64 * 1024;

fn content_type() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::header::optional::<String>("content-type")
        .or(warp::any().map(|| None))
        .unify()
}

fn body() -> impl Filter<Extract = (warp::hyper::body::Bytes,), Error = Rejection> + Clone {
    warp::body::content_length_limit(BODY_LIMIT).and(warp::body::bytes())
}

/// The ready-made routes: `/token`, `/refresh`, `/login`, `/logout`, `/logout/all`,
/// `/sessions`, `/sessions/{id}`, and third-party login's `/auth/{provider}/login` and
/// `/auth/{provider}/callback`. Each is a thin call into `auth-core`'s endpoint.
pub fn routes(
    auth: Auth,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let a = || with_auth(auth.clone());
    let token = warp::path!("token")
        .and(warp::post())
        .and(a())
        .and(content_type())
        .and(warp::addr::remote())
        .and(body())
        .then(
            |auth: Auth,
             ct: Option<String>,
             addr: Option<SocketAddr>,
             body: warp::hyper::body::Bytes| async move {
                into_response(
                    auth.token_endpoint(ct.as_deref(), &body, addr.map(|a| a.ip()))
                        .await,
                )
            },
        );
    let refresh = warp::path!("refresh")
        .and(warp::post())
        .and(a())
        .and(body())
        .then(|auth: Auth, body: warp::hyper::body::Bytes| async move {
            into_response(auth.refresh_endpoint(&body).await)
        });
    let login = warp::path!("login")
        .and(warp::post())
        .and(a())
        .and(view())
        .and(content_type())
        .and(warp::addr::remote())
        .and(body())
        .then(
            |auth: Auth,
             view: RequestView,
             _m: Method,
             ct: Option<String>,
             addr: Option<SocketAddr>,
             body: warp::hyper::body::Bytes| async move {
                into_response(
                    auth.login_endpoint(&view, ct.as_deref(), &body, addr.map(|a| a.ip()))
                        .await,
                )
            },
        );
    let logout = warp::path!("logout")
        .and(warp::post())
        .and(a())
        .and(csrf_view(auth.clone()))
        .then(|auth: Auth, view: RequestView, m: Method| async move {
            into_response(auth.logout_endpoint(&view, m.as_str()).await)
        });
    let logout_all = warp::path!("logout" / "all")
        .and(warp::post())
        .and(a())
        .and(view())
        .then(|auth: Auth, view: RequestView, _m: Method| async move {
            into_response(auth.logout_all_endpoint(&view).await)
        });
    let sessions = warp::path!("sessions")
        .and(warp::get())
        .and(a())
        .and(view())
        .then(|auth: Auth, view: RequestView, _m: Method| async move {
            into_response(auth.sessions_endpoint(&view).await)
        });
    let delete_session = warp::path!("sessions" / String)
        .and(warp::delete())
        .and(a())
        .and(view())
        .then(
            |id: String, auth: Auth, view: RequestView, _m: Method| async move {
                into_response(auth.delete_session_endpoint(&view, &id).await)
            },
        );
    let external_login = warp::path!("auth" / String / "login")
        .and(warp::get())
        .and(a())
        .and(view())
        .map(
            |provider: String, auth: Auth, view: RequestView, _m: Method| {
                into_response(auth.external_login_endpoint(&provider, &view))
            },
        );
    let external_callback = warp::path!("auth" / String / "callback")
        .and(warp::get())
        .and(a())
        .and(view())
        .then(
            |provider: String, auth: Auth, view: RequestView, _m: Method| async move {
                into_response(auth.external_callback_endpoint(&provider, &view).await)
            },
        );
    token
        .or(refresh)
        .unify()
        .or(external_login)
        .unify()
        .or(external_callback)
        .unify()
        .or(login)
        .unify()
        .or(logout)
        .unify()
        .or(logout_all)
        .unify()
        .or(sessions)
        .unify()
        .or(delete_session)
        .unify()
}

/// Wraps `routes` so answers to credentialed requests stay private
/// ([`Auth::private_headers`]): `Cache-Control: no-store` and `Vary: Authorization,
/// Cookie, X-API-Key` (appended to any `Vary` the handler set).
pub fn private_responses<F>(
    auth: Auth,
    routes: F,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone
where
    F: Filter<Extract = (warp::reply::Response,), Error = Rejection>
        + Clone
        + Send
        + Sync
        + 'static,
{
    view().and(routes).map(
        move |view: RequestView, _method: Method, mut response: warp::reply::Response| {
            for (name, value) in auth.private_headers(&view) {
                let name = HeaderName::from_static(name);
                let Ok(value) = HeaderValue::from_str(value) else {
                    continue;
                };
                if name == warp::http::header::VARY {
                    response.headers_mut().append(name, value);
                } else {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        },
    )
}
