//! Guards for route groups: [`RequireLayer`], a tower layer that checks one [`Guard`]
//! through `auth-core` (as every adapter does), and the HTML-form CSRF field reader.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use auth_core::adapter::MAX_CSRF_FORM_BYTES;
use auth_core::policy::Requirement;
use auth_core::{AuthError, Guard};
use axum::extract::Request;
use axum::http::header::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::{Auth, AuthRejection, RequestView};

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

/// Requires bearer tokens granted every one of `scopes` (RFC 6750 `insufficient_scope`):
/// `.route_layer(require_scopes(&auth, ["articles:write"]))`.
pub fn require_scopes<I, S>(auth: &Auth, scopes: I) -> RequireLayer
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    RequireLayer {
        auth: auth.clone(),
        rule: Guard::Scopes(scopes.into_iter().map(|s| s.as_ref().to_owned()).collect()),
    }
}

/// Requires a sign-in with a second factor (a TOTP code or a passkey: `amr` names `otp`,
/// `hwk`, `swk` or `mfa`); a password-only login gets 403 `insufficient_user_authentication`
/// (RFC 9470): `.route_layer(require_second_factor(&auth))`.
pub fn require_second_factor(auth: &Auth) -> RequireLayer {
    RequireLayer {
        auth: auth.clone(),
        rule: Guard::SecondFactor,
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
            let checked = auth.guard(&RequestView::new(&parts), &rule).await;
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
/// [`MAX_CSRF_FORM_BYTES`]), presents its
/// `csrf_token` field as the `X-CSRF-Token` header to the CSRF checks that follow, and
/// hands the body on to the handler unchanged. Every other request passes untouched.
pub async fn csrf_form_field(auth: &Auth, request: Request) -> Result<Request, AuthError> {
    if !auth.csrf_form_wanted(&RequestView::of(&request)) {
        return Ok(request);
    }
    let (mut parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_CSRF_FORM_BYTES).await.ok();
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
