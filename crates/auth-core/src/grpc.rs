//! gRPC answers for auth failures, decided once for every tower service that guards a
//! gRPC server (`auth_axum::service` in front of `tonic`).
//!
//! A gRPC client reads the outcome from the `grpc-status` code and `grpc-message`, not
//! from the HTTP status, so a refused call is answered gRPC's way: HTTP 200,
//! `content-type: application/grpc`, no body, and the status in the headers (a
//! "trailers-only" response, as the gRPC over HTTP/2 protocol describes). The code comes
//! from the same row of the core's table as the HTTP status (401 →
//! `UNAUTHENTICATED`, 403 → `PERMISSION_DENIED`, 429 → `RESOURCE_EXHAUSTED`, 503 →
//! `UNAVAILABLE`, …), the message is the problem's detail, and the challenge headers
//! (`www-authenticate`, `retry-after`) go along as metadata.
//!
//! ```
//! use auth_core::adapter::SimpleRequest;
//! use auth_core::grpc::{self, GrpcCode};
//! use auth_core::{AuthError, Scheme};
//!
//! let call = SimpleRequest::new().with_method("POST").header("content-type", "application/grpc");
//! let refused = AuthError::MissingCredentials(Scheme::Bearer);
//! assert_eq!(grpc::code_of(&refused), GrpcCode::Unauthenticated);
//! let reply = grpc::refusal(&refused, &call);
//! assert_eq!(reply.status(), 200);
//! assert_eq!(reply.header_value("grpc-status"), Some("16"));
//! assert_eq!(reply.header_value("www-authenticate"), Some("Bearer"));
//!
//! // A plain HTTP request on the same service gets the core's problem+json.
//! let plain = SimpleRequest::new();
//! assert_eq!(grpc::refusal(&refused, &plain).status(), 401);
//! ```

use crate::AuthError;
use crate::reply::Reply;
use crate::request::Request;

/// The gRPC status codes an auth failure can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrpcCode {
    /// 3: the request is malformed (400, 431).
    InvalidArgument,
    /// 5: nothing to act on (404).
    NotFound,
    /// 7: authenticated, but not allowed (403).
    PermissionDenied,
    /// 8: throttled (429).
    ResourceExhausted,
    /// 13: the server failed (500).
    Internal,
    /// 14: a store, issuer or provider is unavailable (502, 503); retry later.
    Unavailable,
    /// 16: no valid credentials (401).
    Unauthenticated,
}

impl GrpcCode {
    /// The code's number on the wire (`grpc-status`).
    pub fn number(self) -> u8 {
        match self {
            GrpcCode::InvalidArgument => 3,
            GrpcCode::NotFound => 5,
            GrpcCode::PermissionDenied => 7,
            GrpcCode::ResourceExhausted => 8,
            GrpcCode::Internal => 13,
            GrpcCode::Unavailable => 14,
            GrpcCode::Unauthenticated => 16,
        }
    }

    /// The code for an HTTP status of the core's table.
    fn of_status(status: u16) -> Self {
        match status {
            401 => GrpcCode::Unauthenticated,
            403 => GrpcCode::PermissionDenied,
            404 => GrpcCode::NotFound,
            429 => GrpcCode::ResourceExhausted,
            400..=499 => GrpcCode::InvalidArgument,
            502..=504 => GrpcCode::Unavailable,
            _ => GrpcCode::Internal,
        }
    }
}

/// The gRPC code of `error`.
pub fn code_of(error: &AuthError) -> GrpcCode {
    GrpcCode::of_status(error.to_response().status)
}

/// Whether `request` is a gRPC call (`content-type: application/grpc`, with or without
/// a `+proto`/`+json` suffix).
pub fn is_grpc(request: &impl Request) -> bool {
    request
        .header_values("content-type")
        .next()
        .is_some_and(|value| {
            let value = value.to_ascii_lowercase();
            value == b"application/grpc" || value.starts_with(b"application/grpc+")
        })
}

/// The answer to a refused request on a guarded service: a trailers-only gRPC status for
/// a gRPC call ([`status_reply`]), the core's problem+json for anything else.
pub fn refusal(error: &AuthError, request: &impl Request) -> Reply {
    if is_grpc(request) {
        status_reply(error)
    } else {
        error.to_response().into()
    }
}

/// `error` as a trailers-only gRPC response: HTTP 200, `content-type: application/grpc`,
/// `grpc-status`, `grpc-message` (percent-encoded as the protocol requires) and the
/// core's `www-authenticate` and `retry-after` as metadata.
pub fn status_reply(error: &AuthError) -> Reply {
    let response = error.to_response();
    let (_, message) = error.title_and_detail();
    let mut reply = Reply::new(200)
        .header("content-type", "application/grpc")
        .header(
            "grpc-status",
            GrpcCode::of_status(response.status).number().to_string(),
        )
        .header("grpc-message", percent_encode(&message));
    for (name, value) in response.headers {
        if name == "www-authenticate" || name == "retry-after" {
            reply = reply.header(name, value);
        }
    }
    reply
}

/// gRPC's percent-encoding of `grpc-message`: bytes outside printable ASCII, and `%`,
/// as `%XX`.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::SimpleRequest;
    use crate::{Scheme, StoreError};

    #[test]
    fn codes_follow_the_http_table() {
        let forbidden = AuthError::Forbidden {
            detail: "Editors only".into(),
        };
        assert_eq!(code_of(&forbidden), GrpcCode::PermissionDenied);
        let throttled = AuthError::Throttled {
            retry_after_secs: 30,
        };
        assert_eq!(code_of(&throttled), GrpcCode::ResourceExhausted);
        let down = AuthError::StoreUnavailable(StoreError::new("redis down"));
        assert_eq!(code_of(&down), GrpcCode::Unavailable);
        assert_eq!(code_of(&AuthError::Internal), GrpcCode::Internal);
        assert_eq!(
            code_of(&AuthError::HeaderTooLarge),
            GrpcCode::InvalidArgument
        );
    }

    #[test]
    fn a_grpc_refusal_is_trailers_only_with_metadata() {
        let call = SimpleRequest::new()
            .with_method("POST")
            .header("content-type", "application/grpc+proto");
        let throttled = AuthError::Throttled {
            retry_after_secs: 30,
        };
        let reply = refusal(&throttled, &call);
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.header_value("content-type"), Some("application/grpc"));
        assert_eq!(reply.header_value("grpc-status"), Some("8"));
        assert_eq!(reply.header_value("retry-after"), Some("30"));
        assert_eq!(
            reply.header_value("grpc-message"),
            Some("Too many failed attempts; retry after 30 seconds")
        );
        assert!(reply.body().is_empty());
        let plain = SimpleRequest::new().header("content-type", "application/json");
        assert_eq!(refusal(&throttled, &plain).status(), 429);
        let missing = AuthError::MissingCredentials(Scheme::Bearer);
        assert_eq!(
            status_reply(&missing).header_value("grpc-status"),
            Some("16")
        );
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(percent_encode("100% sure: é\n"), "100%25 sure: %C3%A9%0A");
    }
}
