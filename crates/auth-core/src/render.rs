//! The team's own error pages: an [`ErrorRenderer`] chooses the body of a refusal (an
//! HTML page, the team's error JSON) or a redirect to the login page, per route group;
//! the core keeps its rules.
//!
//! [`ErrorPages::render`] starts from the core's answer ([`AuthError::to_response`]) and
//! lets the renderer replace only the body and its content type: the status, the
//! `WWW-Authenticate` challenge, `Retry-After` and every other header stay the core's. The
//! one exception is [`Rendering::RedirectToLogin`], which the core grants only where a
//! browser navigation would otherwise meet a bare 401: a `GET` or `HEAD` answered 401
//! that carried no `Authorization` header (an API client with a token still gets its
//! 401 and challenge). Then the answer is `303 See Other` to the login page with the
//! request's own path and query as `next` (a local path only, never another origin).
//!
//! Each adapter applies it to a route group under one name, `error_pages`: a tower layer
//! in auth-axum, middleware for a scope in auth-actix, a wrapper around a group of filters
//! in auth-warp. Refusals on other routes keep the core's problem+json.
//!
//! ```
//! use auth_core::adapter::SimpleRequest;
//! use auth_core::render::{ErrorPages, ErrorRenderer, Failure, Rendering};
//! use auth_core::{AuthError, Scheme};
//!
//! struct Html;
//! impl ErrorRenderer for Html {
//!     fn render(&self, failure: &Failure<'_>) -> Rendering {
//!         match failure.status() {
//!             401 => Rendering::redirect_to_login("/login"),
//!             status => Rendering::html(format!("<h1>{status}</h1><p>{}</p>", failure.detail())),
//!         }
//!     }
//! }
//!
//! let pages = ErrorPages::new(Html);
//! let browser = SimpleRequest::new();
//! let reply = pages.render(&AuthError::MissingCredentials(Scheme::Bearer), &browser, Some("/app/orders?page=2"));
//! assert_eq!(reply.status(), 303);
//! assert_eq!(reply.header_value("location"), Some("/login?next=%2Fapp%2Forders%3Fpage%3D2"));
//!
//! let forbidden = AuthError::Forbidden { detail: "Editors only".into() };
//! let reply = pages.render(&forbidden, &browser, Some("/app/edit"));
//! assert_eq!(reply.status(), 403);
//! assert_eq!(reply.header_value("content-type"), Some("text/html; charset=utf-8"));
//! assert!(reply.body().contains("Editors only"));
//! ```

use std::fmt;
use std::sync::Arc;

use crate::AuthError;
use crate::http::ErrorResponse;
use crate::reply::Reply;
use crate::request::Request;

/// Chooses how a refusal looks on a route group. Called once per refusal, after the
/// core has decided the status and headers ([`Failure`]).
pub trait ErrorRenderer: Send + Sync + 'static {
    /// The body (or login redirect) for this refusal; [`Rendering::Problem`] keeps the
    /// core's problem+json.
    fn render(&self, failure: &Failure<'_>) -> Rendering;
}

impl<F> ErrorRenderer for F
where
    F: Fn(&Failure<'_>) -> Rendering + Send + Sync + 'static,
{
    fn render(&self, failure: &Failure<'_>) -> Rendering {
        self(failure)
    }
}

/// A refusal as the core decided it, for an [`ErrorRenderer`].
#[derive(Debug)]
pub struct Failure<'a> {
    error: &'a AuthError,
    response: &'a ErrorResponse,
    title: String,
    detail: String,
    method: &'a str,
    path: Option<&'a str>,
}

impl<'a> Failure<'a> {
    /// The error.
    pub fn error(&self) -> &'a AuthError {
        self.error
    }

    /// The status the core chose (kept whatever the body).
    pub fn status(&self) -> u16 {
        self.response.status
    }

    /// The problem's title (`Unauthorized`, `Forbidden`, …).
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The problem's detail: a sentence for the user, never a secret (escape it for HTML).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The core's answer: status, headers, problem+json body.
    pub fn response(&self) -> &'a ErrorResponse {
        self.response
    }

    /// The request method.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The request's path and query, when the adapter knows it.
    pub fn path(&self) -> Option<&'a str> {
        self.path
    }
}

/// What a refusal looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rendering {
    /// The core's problem+json.
    Problem,
    /// This body with this content type, under the core's status and headers.
    Body {
        /// The `Content-Type` value (visible ASCII).
        content_type: String,
        /// The body.
        body: String,
    },
    /// `303 See Other` to this local login path with `next` = the request's path, where
    /// the core allows it (see the module documentation); elsewhere the core's
    /// problem+json.
    RedirectToLogin {
        /// A local path such as `/login` (starting with one `/`).
        login_path: String,
    },
}

impl Rendering {
    /// An HTML page (`text/html; charset=utf-8`).
    pub fn html(body: impl Into<String>) -> Self {
        Self::Body {
            content_type: "text/html; charset=utf-8".into(),
            body: body.into(),
        }
    }

    /// A JSON body (`application/json`).
    pub fn json(body: &serde_json::Value) -> Self {
        Self::Body {
            content_type: "application/json".into(),
            body: body.to_string(),
        }
    }

    /// A redirect to the login page, e.g. `/login`.
    pub fn redirect_to_login(login_path: impl Into<String>) -> Self {
        Self::RedirectToLogin {
            login_path: login_path.into(),
        }
    }
}

/// A route group's [`ErrorRenderer`], cheap to clone, applied by the adapters.
#[derive(Clone)]
pub struct ErrorPages {
    renderer: Arc<dyn ErrorRenderer>,
}

impl fmt::Debug for ErrorPages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorPages").finish_non_exhaustive()
    }
}

/// Whether `path` is a path of this origin: one leading `/`, not `//` or `/\` (which
/// browsers read as another host), no control characters.
fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.bytes().any(|b| b.is_ascii_control())
}

impl ErrorPages {
    /// Pages rendered by `renderer`.
    pub fn new(renderer: impl ErrorRenderer) -> Self {
        Self {
            renderer: Arc::new(renderer),
        }
    }

    /// The answer to `error` on `request` (whose path and query are `path`): the core's
    /// status and headers with the renderer's body, or the login redirect where allowed.
    pub fn render(&self, error: &AuthError, request: &impl Request, path: Option<&str>) -> Reply {
        let response = error.to_response();
        let (title, detail) = error.title_and_detail();
        let failure = Failure {
            error,
            response: &response,
            title,
            detail,
            method: request.method(),
            path,
        };
        match self.renderer.render(&failure) {
            Rendering::Problem => response.into(),
            Rendering::Body { content_type, body } => {
                let mut reply = Reply::new(response.status).body_text(body);
                for (name, value) in response.headers {
                    if name != "content-type" {
                        reply = reply.header(name, value);
                    }
                }
                reply.header("content-type", content_type)
            }
            Rendering::RedirectToLogin { login_path } => {
                let browser_navigation = response.status == 401
                    && ["GET", "HEAD"]
                        .iter()
                        .any(|m| m.eq_ignore_ascii_case(request.method()))
                    && request.header_values("authorization").next().is_none();
                if !browser_navigation || !is_local_path(&login_path) {
                    return response.into();
                }
                let mut location = login_path;
                if let Some(next) = path.filter(|p| is_local_path(p)) {
                    let encoded: String =
                        form_urlencoded::byte_serialize(next.as_bytes()).collect();
                    location.push(if location.contains('?') { '&' } else { '?' });
                    location.push_str("next=");
                    location.push_str(&encoded);
                }
                Reply::new(303)
                    .header("location", location)
                    .header("cache-control", "no-store")
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::Scheme;
    use crate::adapter::SimpleRequest;

    fn login_redirect() -> ErrorPages {
        ErrorPages::new(|_: &Failure<'_>| Rendering::redirect_to_login("/login"))
    }

    #[test]
    fn a_body_keeps_the_core_status_and_challenge() {
        let pages = ErrorPages::new(|f: &Failure<'_>| {
            Rendering::json(&serde_json::json!({"code": f.status(), "why": f.detail()}))
        });
        let err = AuthError::InvalidToken(crate::TokenError::Expired);
        let reply = pages.render(&err, &SimpleRequest::new(), Some("/api/x"));
        assert_eq!(reply.status(), 401);
        assert_eq!(reply.header_value("content-type"), Some("application/json"));
        let www = reply.header_value("www-authenticate").unwrap_or_default();
        assert!(www.starts_with("Bearer error=\"invalid_token\""), "{www}");
        let body: serde_json::Value = serde_json::from_str(reply.body()).unwrap_or_default();
        assert_eq!(body["code"], 401);
        assert!(body["why"].as_str().is_some_and(|s| !s.is_empty()));
        let throttled = AuthError::Throttled {
            retry_after_secs: 7,
        };
        let reply = pages.render(&throttled, &SimpleRequest::new(), None);
        assert_eq!(reply.status(), 429);
        assert_eq!(reply.header_value("retry-after"), Some("7"));
    }

    #[test]
    fn the_login_redirect_only_for_a_browser_navigation() {
        let pages = login_redirect();
        let missing = AuthError::MissingCredentials(Scheme::Bearer);
        let reply = pages.render(&missing, &SimpleRequest::new(), Some("/app?a=1&b=2"));
        assert_eq!(reply.status(), 303);
        assert_eq!(
            reply.header_value("location"),
            Some("/login?next=%2Fapp%3Fa%3D1%26b%3D2")
        );
        // A POST, a request with a token, a 403, a 503: the core's answer.
        let post = SimpleRequest::new().with_method("POST");
        assert_eq!(pages.render(&missing, &post, Some("/app")).status(), 401);
        let with_token = SimpleRequest::new().header("authorization", "Bearer x");
        assert_eq!(
            pages.render(&missing, &with_token, Some("/app")).status(),
            401
        );
        let forbidden = AuthError::Forbidden {
            detail: "no".into(),
        };
        let reply = pages.render(&forbidden, &SimpleRequest::new(), Some("/app"));
        assert_eq!(reply.status(), 403);
        assert_eq!(
            reply.header_value("content-type"),
            Some("application/problem+json")
        );
        let down = AuthError::StoreUnavailable(crate::StoreError::new("down"));
        assert_eq!(
            pages
                .render(&down, &SimpleRequest::new(), Some("/app"))
                .status(),
            503
        );
    }

    #[test]
    fn next_and_the_login_path_stay_on_this_origin() {
        let missing = AuthError::MissingCredentials(Scheme::Bearer);
        let get = SimpleRequest::new();
        for evil in [
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example/",
        ] {
            let reply = login_redirect().render(&missing, &get, Some(evil));
            assert_eq!(reply.header_value("location"), Some("/login"), "{evil}");
        }
        let off_site = ErrorPages::new(|_: &Failure<'_>| {
            Rendering::redirect_to_login("https://evil.example/login")
        });
        assert_eq!(off_site.render(&missing, &get, Some("/app")).status(), 401);
        let reply = login_redirect().render(&missing, &get, None);
        assert_eq!(reply.header_value("location"), Some("/login"));
    }
}
