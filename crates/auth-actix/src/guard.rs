//! Guard middleware: [`Require`] (`.wrap(…)`) checks one [`Guard`] through `auth-core`
//! (as every adapter does), and the HTML-form CSRF field reader.

use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpMessage, web};
use auth_core::adapter::MAX_CSRF_FORM_BYTES;
use auth_core::policy::Requirement;
use auth_core::{AuthError, Guard, Principal};

use crate::{Auth, AuthRejection, LocalFuture, RequestView};

/// Middleware (`.wrap(…)`) that authenticates every request of a scope or resource and
/// applies one rule, answering 401/403 from the core's table.
#[derive(Debug, Clone)]
pub struct Require {
    rule: Guard,
}

/// Requires `guard`: the general form of [`require_roles`] and friends, for guards
/// defined once and also published (e.g. in OpenAPI with `auth-openapi`).
pub fn require(guard: Guard) -> Require {
    Require { rule: guard }
}

impl Require {
    /// The guard this middleware checks.
    pub fn guard(&self) -> &Guard {
        &self.rule
    }
}

/// Requires any of `roles`: `web::scope("/admin").wrap(require_roles(["admin"]))`.
pub fn require_roles<I, R>(roles: I) -> Require
where
    I: IntoIterator<Item = R>,
    R: auth_core::policy::Role,
{
    Require {
        rule: Guard::Require(Requirement::any_role(roles)),
    }
}

/// Requires a permission (through the role table).
pub fn require_permission(permission: &str) -> Require {
    Require {
        rule: Guard::Require(Requirement::permission(permission)),
    }
}

/// Requires bearer tokens granted every one of `scopes` (RFC 6750 `insufficient_scope`):
/// `web::scope("/articles").wrap(require_scopes(["articles:write"]))`.
pub fn require_scopes<I, S>(scopes: I) -> Require
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    Require {
        rule: Guard::Scopes(scopes.into_iter().map(|s| s.as_ref().to_owned()).collect()),
    }
}

/// Requires a sign-in with a second factor (a TOTP code or a passkey: `amr` names `otp`,
/// `hwk`, `swk` or `mfa`); a password-only login gets 403 `insufficient_user_authentication`
/// (RFC 9470): `web::scope("/billing").wrap(require_second_factor())`.
pub fn require_second_factor() -> Require {
    Require {
        rule: Guard::SecondFactor,
    }
}

/// CSRF protection for cookie-authenticated unsafe requests (no `Authorization` header),
/// for handlers that read the session themselves.
pub fn csrf() -> Require {
    Require { rule: Guard::Csrf }
}

impl<S, B> Transform<S, ServiceRequest> for Require
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireMiddleware {
            service: Rc::new(service),
            rule: self.rule.clone(),
        }))
    }
}

/// The service of [`Require`].
#[derive(Debug)]
pub struct RequireMiddleware<S> {
    service: Rc<S>,
    rule: Guard,
}

/// For an HTML form (cookie-authenticated, unsafe, form body, no `X-CSRF-Token` header,
/// as [`Auth::csrf_form_wanted`] decides), reads the body (at most
/// [`MAX_CSRF_FORM_BYTES`]), presents its
/// `csrf_token` field as the `X-CSRF-Token` header to the CSRF checks that follow, and
/// puts the body back for the handler. Every other request passes untouched. The guard
/// middleware ([`require`], [`csrf`], …) call it; call it in your own middleware to
/// accept the field elsewhere.
pub async fn csrf_form_field(req: &mut ServiceRequest) -> Result<(), AuthError> {
    let Some(auth) = req
        .app_data::<web::Data<Auth>>()
        .map(|d| d.get_ref().clone())
    else {
        return Ok(());
    };
    if !auth.csrf_form_wanted(&RequestView::of_service(req)) {
        return Ok(());
    }
    let stream = actix_web::body::BodyStream::new(req.take_payload());
    let bytes = actix_web::body::to_bytes_limited(stream, MAX_CSRF_FORM_BYTES)
        .await
        .ok()
        .and_then(Result::ok);
    let token = auth.csrf_form_token(bytes.as_deref())?;
    if let Some(value) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
        req.headers_mut()
            .insert(HeaderName::from_static("x-csrf-token"), value);
    }
    req.set_payload(Payload::from(bytes.unwrap_or_default()));
    Ok(())
}

async fn apply(rule: &Guard, req: &ServiceRequest) -> Result<Option<Principal>, AuthError> {
    let Some(auth) = req
        .app_data::<web::Data<Auth>>()
        .map(|d| d.get_ref().clone())
    else {
        tracing::error!(
            "auth-actix: no Auth registered; add `.app_data(web::Data::new(auth))` to your App"
        );
        return Err(AuthError::Internal);
    };
    auth.guard(&RequestView::of_service(req), rule).await
}

impl<S, B> Service<ServiceRequest> for RequireMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let rule = self.rule.clone();
        Box::pin(async move {
            let mut req = req;
            if let Err(e) = csrf_form_field(&mut req).await {
                return Ok(req.error_response(AuthRejection(e)).map_into_right_body());
            }
            match apply(&rule, &req).await {
                Ok(principal) => {
                    if let Some(p) = principal {
                        req.extensions_mut().insert(p);
                    }
                    service
                        .call(req)
                        .await
                        .map(ServiceResponse::map_into_left_body)
                }
                // The error stays attached to the response (`error_pages` renders it).
                Err(e) => Ok(req.error_response(AuthRejection(e)).map_into_right_body()),
            }
        })
    }
}
