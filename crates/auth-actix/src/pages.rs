//! The team's own error pages on a scope: [`error_pages`], middleware that renders every
//! [`AuthRejection`] of the routes it wraps through an
//! [`ErrorPages`] (the core keeps status and headers, or grants the login redirect).

use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::error::InternalError;
use actix_web::http::header::AUTHORIZATION;
use auth_core::adapter::SimpleRequest;
use auth_core::render::ErrorPages;

use crate::{AuthRejection, LocalFuture, into_response};

/// Renders the refusals of the scope or resource it wraps with `pages`:
/// `web::scope("/app").wrap(require_roles(["admin"])).wrap(auth_actix::error_pages(pages))`
/// (actix-web runs the last `wrap` first, so this one sees the guard's refusal).
/// Responses that are not an [`AuthRejection`] pass unchanged.
pub fn error_pages(pages: ErrorPages) -> ErrorPagesTransform {
    ErrorPagesTransform { pages }
}

/// The middleware factory of [`error_pages`].
#[derive(Debug, Clone)]
pub struct ErrorPagesTransform {
    pages: ErrorPages,
}

impl<S, B> Transform<S, ServiceRequest> for ErrorPagesTransform
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = ErrorPagesMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ErrorPagesMiddleware {
            service: Rc::new(service),
            pages: self.pages.clone(),
        }))
    }
}

/// The service of [`error_pages`].
#[derive(Debug)]
pub struct ErrorPagesMiddleware<S> {
    service: Rc<S>,
    pages: ErrorPages,
}

impl<S, B> Service<ServiceRequest> for ErrorPagesMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // What the renderer and the redirect rule read, kept before the request moves on.
        let mut seen = SimpleRequest::new().with_method(req.method().as_str());
        if let Some(value) = req.headers().get(AUTHORIZATION) {
            seen = seen.header("authorization", value.as_bytes());
        }
        let path = req.uri().path_and_query().map(|p| p.as_str().to_owned());
        let service = Rc::clone(&self.service);
        let pages = self.pages.clone();
        Box::pin(async move {
            let render = |rejection: &AuthRejection| {
                into_response(pages.render(&rejection.0, &seen, path.as_deref()))
            };
            match service.call(req).await {
                Ok(response) => {
                    let rendered = response
                        .response()
                        .error()
                        .and_then(|e| e.as_error::<AuthRejection>())
                        .map(render);
                    Ok(match rendered {
                        Some(page) => response.into_response(page).map_into_right_body(),
                        None => response.map_into_left_body(),
                    })
                }
                // An error that middleware inside passed up (handlers' errors arrive as
                // responses above): still an error, now answering with the page.
                Err(error) => match error.as_error::<AuthRejection>() {
                    Some(rejection) => {
                        let page = render(rejection);
                        Err(InternalError::from_response(rejection.to_string(), page).into())
                    }
                    None => Err(error),
                },
            }
        })
    }
}
