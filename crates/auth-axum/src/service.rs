//! Guards for any tower service over `http::Request<B>`, not only axum routers: a
//! [`tonic`](https://docs.rs/tonic) gRPC server, a hyper service, a tower stack of your
//! own.
//!
//! [`bearer`], [`api_key`] and [`require`] return a [`ServiceGuardLayer`]; its service
//! authenticates every request through `auth-core` before the inner service sees it,
//! puts what it found in the request extensions ([`Principal`], or the API key's
//! [`ApiKeyRecord`] and [`KeySource`]), and answers a refusal itself: a gRPC call
//! (`content-type: application/grpc…`) gets the gRPC status the core chose
//! (`UNAUTHENTICATED`, `PERMISSION_DENIED`, … with `www-authenticate` as metadata, see
//! [`auth_core::grpc`]), any other request the core's problem+json.
//!
//! ```
//! use auth_core::AuthBuilder;
//! use axum::body::Body;
//! use axum::http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt as _};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let users = std::sync::Arc::new(auth_core::credential::MemoryUsers::new());
//! let auth = AuthBuilder::new(b"access-secret-of-at-least-32-bytes", b"refresh-secret-of-at-least-32-byte")
//!     .users(users)
//!     .build()
//!     .unwrap();
//! // Any tower service over `http::Request<B>`: a function here; for a tonic server,
//! // `tonic::transport::Server::builder().layer(auth_axum::service::bearer(&auth))`
//! // (the `grpc-tonic` example).
//! let service = ServiceBuilder::new()
//!     .layer(auth_axum::service::bearer(&auth))
//!     .service_fn(|_call: Request<Body>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
//!     });
//! let call = Request::post("/demo.Identity/WhoAmI")
//!     .header("content-type", "application/grpc")
//!     .body(Body::empty())
//!     .unwrap();
//! let refused = service.oneshot(call).await.unwrap();
//! assert_eq!(refused.status(), 200); // gRPC carries its status in the headers:
//! assert_eq!(refused.headers()["grpc-status"], "16"); // UNAUTHENTICATED
//! assert_eq!(refused.headers()["www-authenticate"], "Bearer");
//! # }
//! ```
//!
//! A handler reads the caller from the request extensions:
//! `request.extensions().get::<auth_core::Principal>()` (tonic's `Request::extensions`).
//! The layer reads no body, so it never consumes a stream, and checks no CSRF form field
//! (a cookie-authenticated unsafe request still needs the `X-CSRF-Token` header).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use auth_core::credential::{ApiKeyRecord, KeySource};
use auth_core::policy::Requirement;
use auth_core::{Auth, AuthError, Guard, Principal};
use axum::body::{Body, Bytes, HttpBody};
use axum::http::request::Parts;
use axum::http::{Request, Response};

use crate::{RequestView, into_response};

/// What a [`ServiceGuardLayer`] checks.
#[derive(Debug, Clone)]
enum Check {
    /// A bearer token (ours, or a trusted issuer's).
    Bearer,
    /// An API key.
    ApiKey,
    /// A [`Guard`] (bearer, else session).
    Guard(Guard),
}

/// A tower layer guarding any service over `http::Request<B>`; see the module docs.
#[derive(Debug, Clone)]
pub struct ServiceGuardLayer {
    auth: Auth,
    check: Check,
}

/// Requires a valid bearer token (the app's own, or a trusted issuer's in
/// resource-server mode); the [`Principal`] goes into the request extensions.
pub fn bearer(auth: &Auth) -> ServiceGuardLayer {
    ServiceGuardLayer {
        auth: auth.clone(),
        check: Check::Bearer,
    }
}

/// Requires a valid API key (header or query parameter, as configured); its
/// [`ApiKeyRecord`] and [`KeySource`] go into the request extensions.
pub fn api_key(auth: &Auth) -> ServiceGuardLayer {
    ServiceGuardLayer {
        auth: auth.clone(),
        check: Check::ApiKey,
    }
}

/// Requires `guard` (the same [`Guard`]s as the router layers).
pub fn require(auth: &Auth, guard: Guard) -> ServiceGuardLayer {
    ServiceGuardLayer {
        auth: auth.clone(),
        check: Check::Guard(guard),
    }
}

/// Requires any of `roles`.
pub fn require_roles<I, R>(auth: &Auth, roles: I) -> ServiceGuardLayer
where
    I: IntoIterator<Item = R>,
    R: auth_core::policy::Role,
{
    require(auth, Guard::Require(Requirement::any_role(roles)))
}

/// Requires bearer tokens granted every one of `scopes`.
pub fn require_scopes<I, S>(auth: &Auth, scopes: I) -> ServiceGuardLayer
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let scopes = scopes.into_iter().map(|s| s.as_ref().to_owned()).collect();
    require(auth, Guard::Scopes(scopes))
}

impl<S> tower_layer::Layer<S> for ServiceGuardLayer {
    type Service = ServiceGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServiceGuard {
            inner,
            auth: self.auth.clone(),
            check: self.check.clone(),
        }
    }
}

/// The service of [`ServiceGuardLayer`].
#[derive(Debug, Clone)]
pub struct ServiceGuard<S> {
    inner: S,
    auth: Auth,
    check: Check,
}

/// Authenticates `parts` as `check` says, recording what was found in its extensions.
async fn authenticate(auth: &Auth, check: &Check, parts: &mut Parts) -> Result<(), AuthError> {
    let view = RequestView::new(parts);
    match check {
        Check::Bearer => {
            let principal = auth.bearer_principal(&view).await?;
            parts.extensions.insert(principal);
        }
        Check::ApiKey => {
            let (record, source): (ApiKeyRecord, KeySource) = auth.api_key(&view).await?;
            parts.extensions.insert(record);
            parts.extensions.insert(source);
        }
        Check::Guard(guard) => {
            let principal: Option<Principal> = auth.guard(&view, guard).await?;
            if let Some(principal) = principal {
                parts.extensions.insert(principal);
            }
        }
    }
    Ok(())
}

impl<S, B, ResBody> tower_service::Service<Request<B>> for ServiceGuard<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (auth, check) = (self.auth.clone(), self.check.clone());
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            if let Err(error) = authenticate(&auth, &check, &mut parts).await {
                let reply = auth_core::grpc::refusal(&error, &RequestView::new(&parts));
                return Ok(into_response(reply));
            }
            let response = inner.call(Request::from_parts(parts, body)).await?;
            Ok(response.map(Body::new))
        })
    }
}
