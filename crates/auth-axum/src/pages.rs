//! The team's own error pages on a route group: [`error_pages`], a tower layer that
//! renders every [`AuthRejection`] of the routes under it through an
//! [`ErrorPages`](auth_core::render::ErrorPages) (the core keeps status and headers, or
//! grants the login redirect).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use auth_core::AuthError;
use auth_core::adapter::SimpleRequest;
use auth_core::render::ErrorPages;
use axum::extract::Request;
use axum::response::Response;

use crate::into_response;

/// The error an [`AuthRejection`](crate::AuthRejection) rendered, kept in the response's
/// extensions so that an [`error_pages`] layer can render it again its own way.
#[derive(Debug, Clone)]
pub(crate) struct Rejected(pub(crate) Arc<AuthError>);

/// Renders the refusals of the routes under it with `pages`:
/// `.layer(auth_axum::error_pages(ErrorPages::new(MyHtml)))` on a browser route group.
/// Responses that are not an [`AuthRejection`](crate::AuthRejection) pass unchanged.
pub fn error_pages(pages: ErrorPages) -> ErrorPagesLayer {
    ErrorPagesLayer { pages }
}

/// The layer of [`error_pages`].
#[derive(Debug, Clone)]
pub struct ErrorPagesLayer {
    pages: ErrorPages,
}

impl<S> tower_layer::Layer<S> for ErrorPagesLayer {
    type Service = ErrorPagesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorPagesService {
            inner,
            pages: self.pages.clone(),
        }
    }
}

/// The service of [`ErrorPagesLayer`].
#[derive(Debug, Clone)]
pub struct ErrorPagesService<S> {
    inner: S,
    pages: ErrorPages,
}

impl<S> tower_service::Service<Request> for ErrorPagesService<S>
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
        // What the renderer and the redirect rule read, kept before the request moves on.
        let mut seen = SimpleRequest::new().with_method(request.method().as_str());
        if let Some(value) = request.headers().get(axum::http::header::AUTHORIZATION) {
            seen = seen.header("authorization", value.as_bytes());
        }
        let path = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned());
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let pages = self.pages.clone();
        Box::pin(async move {
            let response = inner.call(request).await?;
            match response.extensions().get::<Rejected>() {
                Some(Rejected(error)) => {
                    Ok(into_response(pages.render(error, &seen, path.as_deref())))
                }
                None => Ok(response),
            }
        })
    }
}
