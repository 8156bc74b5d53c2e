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
mod tests {
    use super::*;
    use crate::error::{StoreError, TokenError};

    fn problem(res: &ErrorResponse) -> Problem {
        assert_eq!(res.header("content-type"), Some(PROBLEM_JSON));
        let p: Problem = serde_json::from_str(&res.body).unwrap();
        assert_eq!(p.status, res.status, "status repeated in the body");
        assert!(p.kind.starts_with(TYPE_PREFIX));
        p
    }

    #[test]
    fn missing_bearer_has_no_error_attribute() {
        let res = AuthError::MissingCredentials(Scheme::Bearer).to_response();
        assert_eq!(res.status, 401);
        assert_eq!(res.header("www-authenticate"), Some("Bearer"));
        assert_eq!(
            problem(&res).detail,
            "Not authenticated: send a bearer token"
        );
    }

    #[test]
    fn missing_api_key_and_session() {
        let res = AuthError::MissingCredentials(Scheme::ApiKey).to_response();
        assert_eq!(
            (res.status, res.header("www-authenticate")),
            (401, Some("ApiKey"))
        );
        assert_eq!(problem(&res).detail, "Invalid or missing API key");
        let res = AuthError::MissingCredentials(Scheme::Session).to_response();
        assert_eq!(
            (res.status, res.header("www-authenticate")),
            (401, Some("Session"))
        );
        assert_eq!(problem(&res).detail, "Not authenticated");
    }

    #[test]
    fn every_token_error_is_401_invalid_token_with_its_description() {
        let all = [
            TokenError::TooLong,
            TokenError::Malformed,
            TokenError::UnsupportedHeader,
            TokenError::WrongHeaderType,
            TokenError::UnknownKey,
            TokenError::AlgorithmNotAllowed,
            TokenError::BadSignature,
            TokenError::MissingClaim,
            TokenError::Expired,
            TokenError::NotYetValid,
            TokenError::IssuedInFuture,
            TokenError::WrongIssuer,
            TokenError::WrongAudience,
            TokenError::WrongTokenType,
            TokenError::Revoked,
        ];
        for e in all {
            let res = AuthError::InvalidToken(e.clone()).to_response();
            assert_eq!(res.status, 401, "{e:?}");
            let www = res.header("www-authenticate").unwrap();
            let sentence = capitalise(&e.to_string());
            assert_eq!(
                www,
                format!("Bearer error=\"invalid_token\", error_description=\"{sentence}\"")
            );
            assert!(
                !sentence.contains('"') && !sentence.contains('\\'),
                "quotable"
            );
            assert_eq!(problem(&res).detail, sentence);
        }
        let p = problem(&AuthError::from(TokenError::Expired).to_response());
        assert_eq!(p.detail, "The token has expired");
        assert_eq!(p.title, "Invalid token");
    }

    #[test]
    fn invalid_credentials_is_one_sentence() {
        let res = AuthError::InvalidCredentials.to_response();
        assert_eq!(res.status, 401);
        assert_eq!(problem(&res).detail, "Incorrect username or password");
    }

    #[test]
    fn invalid_api_key() {
        let res = AuthError::InvalidApiKey.to_response();
        assert_eq!(res.status, 401);
        assert_eq!(res.header("www-authenticate"), Some("ApiKey"));
        assert_eq!(problem(&res).detail, "Invalid or missing API key");
    }

    #[test]
    fn not_authenticated() {
        let res = AuthError::NotAuthenticated.to_response();
        assert_eq!(res.status, 401);
        assert_eq!(problem(&res).detail, "Not authenticated");
    }

    #[test]
    fn header_too_large_is_431() {
        let res = AuthError::HeaderTooLarge.to_response();
        assert_eq!(res.status, 431);
        assert!(res.header("www-authenticate").is_none());
        problem(&res);
    }

    #[test]
    fn forbidden_names_what_was_required() {
        let res = AuthError::forbidden("Required roles: [editor, admin]").to_response();
        assert_eq!(res.status, 403);
        assert!(res.header("www-authenticate").is_none());
        assert_eq!(problem(&res).detail, "Required roles: [editor, admin]");
    }

    #[test]
    fn insufficient_scope_follows_rfc_6750() {
        let res = AuthError::InsufficientScope {
            scope: "articles:write admin".into(),
        }
        .to_response();
        assert_eq!(res.status, 403);
        assert_eq!(
            res.header("www-authenticate"),
            Some(
                "Bearer error=\"insufficient_scope\", error_description=\"The token lacks a required scope\", scope=\"articles:write admin\""
            )
        );
        assert_eq!(
            problem(&res).detail,
            "Required scopes: [articles:write, admin]"
        );
        // A scope can never break out of the quoted string.
        let res = AuthError::InsufficientScope {
            scope: "a\", evil=\"1".into(),
        }
        .to_response();
        assert!(
            res.header("www-authenticate")
                .unwrap()
                .ends_with("scope=\"a, evil=1\"")
        );
    }

    #[test]
    fn csrf_is_403_with_the_contract_sentence() {
        let res = AuthError::Csrf.to_response();
        assert_eq!(res.status, 403);
        assert_eq!(problem(&res).detail, "CSRF token missing or invalid");
    }

    #[test]
    fn throttled_is_429_with_retry_after() {
        let res = AuthError::Throttled {
            retry_after_secs: 42,
        }
        .to_response();
        assert_eq!(res.status, 429);
        assert_eq!(res.header("retry-after"), Some("42"));
        assert!(problem(&res).detail.contains("42 seconds"));
    }

    #[test]
    fn not_found_and_bad_request() {
        let res = AuthError::NotFound {
            detail: "Article not found".into(),
        }
        .to_response();
        assert_eq!(
            (res.status, problem(&res).detail.as_str()),
            (404, "Article not found")
        );
        let res = AuthError::BadRequest {
            detail: "user_id must be an integer".into(),
        }
        .to_response();
        assert_eq!(res.status, 400);
        problem(&res);
    }

    #[test]
    fn store_unavailable_is_503_and_hides_the_cause() {
        let res =
            AuthError::from(StoreError::new("redis://:hunter2@10.0.0.1 refused")).to_response();
        assert_eq!(res.status, 503);
        assert_eq!(res.header("retry-after"), Some("1"));
        assert!(!res.body.contains("hunter2") && !res.body.contains("redis"));
        problem(&res);
    }

    #[test]
    fn internal_is_a_bare_500() {
        let res = AuthError::Internal.to_response();
        assert_eq!(res.status, 500);
        assert_eq!(
            problem(&res).detail,
            "The server could not complete the request"
        );
    }

    #[test]
    fn passkey_registration_failures_are_400_and_sign_in_failures_401() {
        let res = AuthError::PasskeyRegistration {
            detail: "Start the registration again".into(),
        }
        .to_response();
        assert_eq!(res.status, 400);
        let p = problem(&res);
        assert_eq!(
            p.kind,
            "urn:auth-toolkit:problem:passkey-registration-failed"
        );
        assert_eq!(p.detail, "Start the registration again");
        let res = AuthError::PasskeyLogin {
            detail: "Sign in again".into(),
        }
        .to_response();
        assert_eq!(res.status, 401);
        assert_eq!(
            problem(&res).kind,
            "urn:auth-toolkit:problem:passkey-login-failed"
        );
    }

    #[test]
    fn external_login_failures_are_400_and_an_unreachable_provider_502() {
        let res = AuthError::ExternalLogin {
            detail: "The id token's nonce does not match".into(),
        }
        .to_response();
        assert_eq!(res.status, 400);
        assert_eq!(res.header("www-authenticate"), None);
        let p = problem(&res);
        assert_eq!(p.kind, "urn:auth-toolkit:problem:external-login-failed");
        assert_eq!(p.detail, "The id token's nonce does not match");
        let res = AuthError::ProviderUnavailable.to_response();
        assert_eq!(res.status, 502);
        assert_eq!(
            problem(&res).kind,
            "urn:auth-toolkit:problem:provider-unavailable"
        );
    }

    #[test]
    fn token_endpoint_errors_use_the_rfc_6749_shape() {
        let cases = [
            (OAuthErrorCode::InvalidRequest, 400),
            (OAuthErrorCode::InvalidGrant, 400),
            (OAuthErrorCode::UnauthorizedClient, 400),
            (OAuthErrorCode::UnsupportedGrantType, 400),
            (OAuthErrorCode::InvalidScope, 400),
            (OAuthErrorCode::InvalidClient, 401),
            (OAuthErrorCode::TemporarilyUnavailable, 503),
        ];
        for (code, status) in cases {
            let res = AuthError::oauth(code, "Something to fix").to_response();
            assert_eq!(res.status, status, "{code:?}");
            assert_eq!(res.header("content-type"), Some(JSON));
            assert_eq!(res.header("cache-control"), Some("no-store"));
            assert_eq!(res.header("pragma"), Some("no-cache"));
            let body: OAuthErrorBody = serde_json::from_str(&res.body).unwrap();
            assert_eq!(body.error, code.as_str());
            assert_eq!(body.error_description, "Something to fix");
            let v: serde_json::Value = serde_json::from_str(&res.body).unwrap();
            assert_eq!(
                v.as_object().unwrap().len(),
                2,
                "exactly error and error_description"
            );
        }
        let res = AuthError::oauth(OAuthErrorCode::InvalidClient, "x").to_response();
        assert_eq!(res.header("www-authenticate"), Some("Basic"));
    }

    #[test]
    fn token_endpoint_throttling_is_429_slow_down_with_retry_after() {
        let res = AuthError::OAuth {
            code: OAuthErrorCode::SlowDown,
            description: "Too many failed attempts".into(),
            retry_after_secs: Some(30),
        }
        .to_response();
        assert_eq!(res.status, 429);
        assert_eq!(res.header("retry-after"), Some("30"));
        assert!(res.body.contains("\"slow_down\""));
    }
}
