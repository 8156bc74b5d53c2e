//! The outbound HTTP client third-party login uses (token exchange, userinfo, JWKS).
//!
//! `auth-core` does not pick an HTTP stack: it calls an [`HttpClient`]. The
//! `reqwest-client` feature provides [`ReqwestClient`]; anything else (a client with a
//! proxy, a mock in a unit test) implements the trait in a few lines.

use std::fmt::Debug;
#[cfg(feature = "reqwest-client")]
use std::time::Duration;

/// The largest response body read from a provider (token, userinfo, JWKS answers are a
/// few KiB; a larger one is refused rather than buffered).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// An outbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The absolute URL.
    pub url: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body (empty for `GET`).
    pub body: Vec<u8>,
}

/// A provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body, at most [`MAX_RESPONSE_BYTES`].
    pub body: Vec<u8>,
}

/// Why an outbound request got no answer. The message is for logs; it never holds a
/// secret (the client secret travels in headers or the body, never in this text).
#[derive(Debug, thiserror::Error)]
#[error("request to the login provider failed: {0}")]
pub struct HttpClientError(pub String);

/// Sends requests to login providers. Implementations must not follow redirects (an
/// OAuth endpoint that redirects is refused, RFC 9700 §4.11) and must bound the time
/// and the body size.
#[async_trait::async_trait]
pub trait HttpClient: Send + Sync + Debug {
    /// Sends one request and reads the whole answer.
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, HttpClientError>;
}

/// An [`HttpClient`] over `reqwest` (rustls on aws-lc-rs, the platform's root
/// certificates): no redirects, a 10-second timeout, bodies capped at
/// [`MAX_RESPONSE_BYTES`].
#[cfg(feature = "reqwest-client")]
#[derive(Debug, Clone)]
pub struct ReqwestClient {
    client: reqwest::Client,
}

#[cfg(feature = "reqwest-client")]
impl ReqwestClient {
    /// A client with the defaults above.
    pub fn new() -> Result<Self, crate::ConfigError> {
        Self::with_timeout(Duration::from_secs(10))
    }

    /// A client with another timeout.
    pub fn with_timeout(timeout: Duration) -> Result<Self, crate::ConfigError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| crate::ConfigError::Invalid {
                setting: "HTTP client",
                reason: format!("cannot build it: {e}"),
            })?;
        Ok(Self { client })
    }
}

#[cfg(feature = "reqwest-client")]
#[async_trait::async_trait]
impl HttpClient for ReqwestClient {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, HttpClientError> {
        let method = match request.method {
            "POST" => reqwest::Method::POST,
            _ => reqwest::Method::GET,
        };
        let mut builder = self.client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if !request.body.is_empty() {
            builder = builder.body(request.body);
        }
        // The error text of reqwest names the URL, never headers or body.
        let mut response = builder
            .send()
            .await
            .map_err(|e| HttpClientError(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| HttpClientError(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(HttpClientError("the provider's answer is too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse {
            status,
            headers,
            body,
        })
    }
}

/// `GET url` (with `Authorization: Bearer` when given) and parse the 200 answer as JSON.
/// Anything else is [`AuthError::ProviderUnavailable`](crate::AuthError), logged with
/// `what` but never the token.
#[cfg(feature = "third-party")]
pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    http: &dyn HttpClient,
    url: &str,
    bearer: Option<&str>,
    what: &'static str,
) -> Result<T, crate::AuthError> {
    let mut headers = vec![
        ("accept".to_string(), "application/json".to_string()),
        ("user-agent".to_string(), "auth-toolkit".to_string()),
    ];
    if let Some(token) = bearer {
        headers.push(("authorization".into(), format!("Bearer {token}")));
    }
    let unavailable = |why: &dyn std::fmt::Display| {
        tracing::warn!(what, error = %why, "external login: provider request failed");
        crate::AuthError::ProviderUnavailable
    };
    let answer = http
        .send(OutboundRequest {
            method: "GET",
            url: url.to_string(),
            headers,
            body: Vec::new(),
        })
        .await
        .map_err(|e| unavailable(&e))?;
    if answer.status != 200 {
        return Err(unavailable(&format!("status {}", answer.status)));
    }
    serde_json::from_slice(&answer.body).map_err(|e| unavailable(&e))
}
