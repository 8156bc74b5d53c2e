//! THE table: every [`AuthError`] rendered as one HTTP answer.
//!
//! Adapters call [`AuthError::to_response`] and copy the status, headers and body into
//! their framework's response type. No adapter chooses a status code.
//!
//! - Resource errors are RFC 9457 problem details (`application/problem+json`).
//! - Bearer failures carry `WWW-Authenticate` per RFC 6750 §3: no `error` attribute when
//!   no credentials were sent, `error="invalid_token"` or `error="insufficient_scope"`
//!   otherwise.
//! - Token-endpoint errors ([`AuthError::OAuth`]) use the RFC 6749 §5.2 JSON shape with
//!   `Cache-Control: no-store`.
//!
//! Types from the `http` crate are deliberately absent: actix-web 4 uses `http` 0.2 and
//! everything else `http` 1, so headers are plain `(&'static str, String)` pairs.

use serde::Serialize;

use crate::error::{AuthError, OAuthErrorCode, Scheme};

/// `Content-Type` of problem-details bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// `Content-Type` of token-endpoint bodies.
pub const JSON: &str = "application/json";

/// An error rendered for the wire: status, headers (lower-case names) and body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Headers to set, names in lower case, `content-type` included.
    pub headers: Vec<(&'static str, String)>,
    /// The serialized JSON body.
    pub body: String,
}

impl ErrorResponse {
    /// The value of the first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An RFC 9457 problem-details body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Problem {
    /// A URI naming the kind of problem (stable; clients may match on it).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem (the same for every instance).
    pub title: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// A sentence about this occurrence. Never a secret, token or internal detail.
    pub detail: String,
}

/// An RFC 6749 §5.2 token-endpoint error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OAuthErrorBody {
    /// The error code (`invalid_grant`, ...).
    pub error: String,
    /// A sentence for the developer of the client.
    pub error_description: String,
}

const TYPE_PREFIX: &str = "urn:auth-toolkit:problem:";

/// An RFC 6749 error's code, description and `Retry-After`.
type OAuthParts<'a> = (OAuthErrorCode, &'a str, Option<u64>);

struct Row {
    status: u16,
    slug: &'static str,
    title: &'static str,
}

impl AuthError {
    /// The problem's title and detail (for an RFC 6749 error: its code and description),
    /// for renderers of other formats (HTML pages, gRPC messages) that keep the table's
    /// words without parsing its JSON.
    pub(crate) fn title_and_detail(&self) -> (String, String) {
        match self.problem_row() {
            Ok((row, detail)) => (row.title.to_string(), detail),
            Err((code, description, _)) => (code.as_str().to_string(), description.to_string()),
        }
    }

    /// The table's row and detail sentence, or for an RFC 6749 error its code,
    /// description and `Retry-After` (its own body).
    fn problem_row(&self) -> Result<(Row, String), OAuthParts<'_>> {
        let (row, detail): (Row, String) = match self {
            AuthError::MissingCredentials(scheme) => (
                row(401, "missing-credentials", "Authentication required"),
                match scheme {
                    Scheme::Bearer => "Not authenticated: send a bearer token".into(),
                    Scheme::ApiKey => "Invalid or missing API key".into(),
                    Scheme::Session => "Not authenticated".into(),
                },
            ),
            AuthError::InvalidToken(e) => (
                row(401, "invalid-token", "Invalid token"),
                capitalise(&e.to_string()),
            ),
            AuthError::InvalidCredentials => (
                row(401, "invalid-credentials", "Invalid credentials"),
                "Incorrect username or password".into(),
            ),
            AuthError::InvalidApiKey => (
                row(401, "invalid-api-key", "Invalid API key"),
                "Invalid or missing API key".into(),
            ),
            AuthError::NotAuthenticated => (
                row(401, "not-authenticated", "Authentication required"),
                "Not authenticated".into(),
            ),
            AuthError::HeaderTooLarge => (
                row(431, "header-too-large", "Request header fields too large"),
                "The authentication header is too large".into(),
            ),
            AuthError::Forbidden { detail } => {
                (row(403, "forbidden", "Forbidden"), detail.to_string())
            }
            AuthError::InsufficientScope { scope } => (
                row(403, "insufficient-scope", "Insufficient scope"),
                format!(
                    "Required scopes: [{}]",
                    scope.split(' ').collect::<Vec<_>>().join(", ")
                ),
            ),
            AuthError::Csrf => (
                row(403, "csrf", "CSRF check failed"),
                "CSRF token missing or invalid".into(),
            ),
            AuthError::Throttled { retry_after_secs } => (
                row(429, "throttled", "Too many requests"),
                format!("Too many failed attempts; retry after {retry_after_secs} seconds"),
            ),
            AuthError::NotFound { detail } => {
                (row(404, "not-found", "Not found"), detail.to_string())
            }
            AuthError::BadRequest { detail } => {
                (row(400, "bad-request", "Bad request"), detail.to_string())
            }
            AuthError::StoreUnavailable(_) => (
                row(503, "store-unavailable", "Service unavailable"),
                "The authentication state store is unavailable; try again shortly".into(),
            ),
            AuthError::IssuerUnavailable => (
                row(503, "issuer-unavailable", "Service unavailable"),
                "The token issuer's signing keys could not be fetched; try again shortly".into(),
            ),
            AuthError::InvalidBearerRequest { detail } => (
                row(400, "invalid-request", "Invalid request"),
                detail.to_string(),
            ),
            AuthError::ExternalLogin { detail } => (
                row(
                    400,
                    "external-login-failed",
                    "Login with the provider failed",
                ),
                detail.to_string(),
            ),
            AuthError::PasskeyRegistration { detail } => (
                row(
                    400,
                    "passkey-registration-failed",
                    "Passkey registration failed",
                ),
                detail.to_string(),
            ),
            AuthError::PasskeyLogin { detail } => (
                row(401, "passkey-login-failed", "Passkey sign-in failed"),
                detail.to_string(),
            ),
            AuthError::ProviderUnavailable => (
                row(502, "provider-unavailable", "Bad gateway"),
                "The login provider could not be reached; try again shortly".into(),
            ),
            AuthError::Conflict { detail } => {
                (row(409, "conflict", "Conflict"), detail.to_string())
            }
            AuthError::InvalidSecondFactor => (
                row(401, "invalid-second-factor", "Second factor refused"),
                "The code is wrong, expired or already used, or this sign-in has expired: \
                 enter a current code, or sign in again with your password"
                    .into(),
            ),
            AuthError::InsufficientUserAuthentication => (
                row(
                    403,
                    "insufficient-user-authentication",
                    "Second factor required",
                ),
                "This resource needs a sign-in with a second factor: sign in again with \
                 your authenticator app or a passkey"
                    .into(),
            ),
            AuthError::Internal => (
                row(500, "internal", "Internal server error"),
                "The server could not complete the request".into(),
            ),
            AuthError::OAuth {
                code,
                description,
                retry_after_secs,
            } => return Err((*code, description, *retry_after_secs)),
        };
        Ok((row, detail))
    }

    /// Renders this error as its one HTTP answer. See the module docs for the rules.
    pub fn to_response(&self) -> ErrorResponse {
        let (row, detail) = match self.problem_row() {
            Ok(found) => found,
            Err((code, description, retry_after_secs)) => {
                return oauth_response(code, description, retry_after_secs);
            }
        };

        let mut headers = vec![("content-type", PROBLEM_JSON.to_string())];
        match self {
            AuthError::MissingCredentials(Scheme::Bearer) => {
                headers.push(("www-authenticate", "Bearer".into()));
            }
            AuthError::MissingCredentials(Scheme::ApiKey) | AuthError::InvalidApiKey => {
                headers.push(("www-authenticate", "ApiKey".into()));
            }
            AuthError::MissingCredentials(Scheme::Session) | AuthError::NotAuthenticated => {
                headers.push(("www-authenticate", "Session".into()));
            }
            AuthError::InvalidToken(e) => headers.push((
                "www-authenticate",
                format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    capitalise(&e.to_string())
                ),
            )),
            AuthError::InsufficientScope { scope } => headers.push((
                "www-authenticate",
                format!(
                    "Bearer error=\"insufficient_scope\", error_description=\"The token lacks a required scope\", scope=\"{}\"",
                    quoted_string_safe(scope)
                ),
            )),
            AuthError::InvalidBearerRequest { detail } => headers.push((
                "www-authenticate",
                format!(
                    "Bearer error=\"invalid_request\", error_description=\"{}\"",
                    quoted_string_safe(detail)
                ),
            )),
            AuthError::InsufficientUserAuthentication => headers.push((
                "www-authenticate",
                "Bearer error=\"insufficient_user_authentication\", error_description=\"A second factor is required\"".into(),
            )),
            AuthError::Throttled { retry_after_secs } => {
                headers.push(("retry-after", retry_after_secs.to_string()));
            }
            AuthError::StoreUnavailable(_) => headers.push(("retry-after", "1".into())),
            AuthError::IssuerUnavailable => headers.push(("retry-after", "30".into())),
            _ => {}
        }

        let problem = Problem {
            kind: format!("{TYPE_PREFIX}{}", row.slug),
            title: row.title.to_string(),
            status: row.status,
            detail,
        };
        ErrorResponse {
            status: row.status,
            headers,
            body: to_json(&problem),
        }
    }
}

fn oauth_response(
    code: OAuthErrorCode,
    description: &str,
    retry_after_secs: Option<u64>,
) -> ErrorResponse {
    let status = match code {
        OAuthErrorCode::InvalidClient => 401,
        OAuthErrorCode::SlowDown => 429,
        OAuthErrorCode::TemporarilyUnavailable => 503,
        _ => 400,
    };
    let mut headers = vec![
        ("content-type", JSON.to_string()),
        ("cache-control", "no-store".to_string()),
        ("pragma", "no-cache".to_string()),
    ];
    if code == OAuthErrorCode::InvalidClient {
        headers.push(("www-authenticate", "Basic".to_string()));
    }
    if let Some(secs) = retry_after_secs {
        headers.push(("retry-after", secs.to_string()));
    } else if code == OAuthErrorCode::TemporarilyUnavailable {
        headers.push(("retry-after", "1".to_string()));
    }
    let body = OAuthErrorBody {
        error: code.as_str().to_string(),
        error_description: description.to_string(),
    };
    ErrorResponse {
        status,
        headers,
        body: to_json(&body),
    }
}

fn row(status: u16, slug: &'static str, title: &'static str) -> Row {
    Row {
        status,
        slug,
        title,
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Scope tokens are `%x21 / %x23-5B / %x5D-7E` (RFC 6749 §3.3); drop anything else so a
/// header value can never be broken out of.
fn quoted_string_safe(s: &str) -> String {
    s.chars()
        .filter(|c| *c == ' ' || (c.is_ascii_graphic() && *c != '"' && *c != '\\'))
        .collect()
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Serializing these plain structs of strings and integers cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"))
}

#[cfg(test)]
mod tests;
