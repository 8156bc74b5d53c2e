//! [`Reply`]: what a ready-made endpoint answers, success or failure, for an adapter to
//! render unchanged.

use serde::Serialize;

use crate::error::AuthError;
use crate::http::{ErrorResponse, JSON};

/// An answer for the wire: status, headers (lower-case names) and body. The ready-made
/// endpoints return it for successes and failures alike; an adapter turns it into its
/// framework's response with [`Reply::into_parts`] and decides nothing.
///
/// Header values are visible ASCII: [`Reply::header`] refuses any other value (logged,
/// not sent), so an adapter's conversion cannot fail.
///
/// ```
/// use auth_core::Reply;
/// let reply = Reply::json(201, &serde_json::json!({"id": 7})).header("location", "/items/7");
/// assert_eq!(reply.status(), 201);
/// assert_eq!(reply.header_value("location"), Some("/items/7"));
/// assert_eq!(reply.body(), r#"{"id":7}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    /// An empty answer with `status`.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// A JSON answer (`Content-Type: application/json`).
    pub fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> Self {
        Self::new(status)
            .header("content-type", JSON)
            .body_text(serde_json::to_string(body).unwrap_or_else(|_| "{}".into()))
    }

    /// Appends a header (a second one of the same name is sent too, as `Set-Cookie`
    /// needs). A value that is not visible ASCII is not added (logged as an error).
    #[must_use]
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        if field_value_ok(&value) {
            self.headers.push((name, value));
        } else {
            tracing::error!(
                header = name,
                "a reply header value is not visible ASCII; not sent"
            );
        }
        self
    }

    /// Replaces the body.
    #[must_use]
    pub fn body_text(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, in order (lower-case names).
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The value of the first header named `name` (lower case).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// Status, headers and body, for an adapter to build its framework's response.
    pub fn into_parts(self) -> (u16, Vec<(&'static str, String)>, String) {
        (self.status, self.headers, self.body)
    }
}

/// RFC 9110 §5.5 field values as we send them: visible ASCII, spaces and tabs.
fn field_value_ok(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

impl From<ErrorResponse> for Reply {
    fn from(e: ErrorResponse) -> Self {
        let mut reply = Reply::new(e.status).body_text(e.body);
        for (name, value) in e.headers {
            reply = reply.header(name, value);
        }
        reply
    }
}

impl From<AuthError> for Reply {
    fn from(e: AuthError) -> Self {
        e.to_response().into()
    }
}

impl From<&AuthError> for Reply {
    fn from(e: &AuthError) -> Self {
        e.to_response().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_with_a_line_break_is_not_sent() {
        let reply = Reply::new(200).header("location", "/a\r\nset-cookie: x=1");
        assert!(reply.headers().is_empty());
    }

    #[test]
    fn an_error_becomes_its_table_answer() {
        let reply = Reply::from(AuthError::NotAuthenticated);
        let table = AuthError::NotAuthenticated.to_response();
        assert_eq!(reply.status(), table.status);
        assert_eq!(reply.body(), table.body);
        assert_eq!(reply.headers(), &table.headers[..]);
    }
}
