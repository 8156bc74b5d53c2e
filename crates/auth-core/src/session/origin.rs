//! Web origins (RFC 6454) and the one policy deciding which `Origin` may drive a
//! cookie-authenticated request or `POST /login`.
//!
//! Origins compare by scheme, host and port (the scheme's default port when none is
//! written), never by host alone: `http://app.example` and `https://app.example:8443`
//! are not `https://app.example`.
//!
//! ```
//! use auth_core::session::Origin;
//!
//! let a = Origin::parse("https://App.example").unwrap();
//! assert_eq!(a, Origin::parse("https://app.example:443/").unwrap());
//! assert_ne!(a, Origin::parse("http://app.example").unwrap());
//! assert!(Origin::parse("https://app.example/path").is_err());
//! ```

use crate::error::ConfigError;
use crate::request::{Request, header_value};

/// A web origin: scheme (`http` or `https`), host (lower case, IDNA-normalised) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

/// Why a text is not an origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an origin `scheme://host[:port]`: {reason}")]
pub struct OriginError {
    reason: &'static str,
}

fn bad(reason: &'static str) -> OriginError {
    OriginError { reason }
}

impl Origin {
    /// Parses `scheme://host[:port]` (one trailing `/` allowed): scheme `http` or
    /// `https`, no user info, path, query or fragment.
    pub fn parse(text: &str) -> Result<Self, OriginError> {
        if text.is_empty() || text.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
            return Err(bad("empty, or not visible ASCII"));
        }
        let url = url::Url::parse(text).map_err(|_| bad("unparsable"))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("user info is not allowed"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a path, query or fragment is not allowed"));
        }
        // `Url` drops an empty query or fragment marker; an origin has neither.
        if text.contains('?') || text.contains('#') {
            return Err(bad("a path, query or fragment is not allowed"));
        }
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
            _ => return Err(bad("a host is required")),
        };
        let port = url
            .port_or_known_default()
            .ok_or(bad("the port is missing"))?;
        Ok(Self {
            scheme: url.scheme().to_string(),
            host,
            port,
        })
    }

    /// The origin a request reached as `scheme://{Host header}`; `None` when the `Host`
    /// header is absent, repeated or not a plain `host[:port]`.
    fn of_host(scheme: &str, request: &impl Request) -> Option<Self> {
        let host = header_value(request, "host").ok()??;
        let plain = !host.is_empty()
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        if !plain {
            return None;
        }
        Self::parse(&format!("{scheme}://{host}")).ok()
    }
}

/// Which `Origin` headers are allowed on cookie-authenticated unsafe requests and on
/// `POST /login`: the app's own origin and the configured ones.
///
/// The app's own origin is the `Host` the request was sent to, with scheme `https` when
/// session cookies are `Secure` (browsers then only send them over https, so the app is
/// served over https, directly or behind a proxy) and `http` otherwise (plain-HTTP
/// development). Other origins (another front end, another port) must be listed.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    own_scheme: &'static str,
    allowed: Vec<Origin>,
}

impl OriginPolicy {
    /// A policy allowing the own origin (scheme `https` when `secure`) and `allowed`.
    /// A malformed entry is a [`ConfigError`] naming it.
    pub fn new(allowed: &[String], secure: bool) -> Result<Self, ConfigError> {
        let allowed = allowed
            .iter()
            .map(|a| {
                Origin::parse(a.trim()).map_err(|e| ConfigError::Invalid {
                    setting: "allowed origins",
                    reason: format!("`{a}` is {e}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            own_scheme: if secure { "https" } else { "http" },
            allowed,
        })
    }

    /// Whether `origin` (an `Origin` header value) is allowed for `request`. `null`,
    /// malformed values and anything not the own origin or a listed one are not.
    pub fn allows_origin(&self, origin: &str, request: &impl Request) -> bool {
        let Ok(origin) = Origin::parse(origin) else {
            return false;
        };
        self.allowed.contains(&origin)
            || Origin::of_host(self.own_scheme, request).is_some_and(|own| own == origin)
    }

    /// Whether the request's `Origin` header, when it sends one, is allowed. Without one
    /// (non-browser clients) `true`; a repeated or unreadable header is `false`.
    pub fn allows(&self, request: &impl Request) -> bool {
        match header_value(request, "origin") {
            Ok(None) => true,
            Ok(Some(origin)) => self.allows_origin(origin, request),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::SimpleRequest;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let o = |s: &str| Origin::parse(s).unwrap();
        assert_eq!(o("https://app.example"), o("https://APP.example:443"));
        assert_eq!(o("http://app.example"), o("http://app.example:80/"));
        assert_ne!(o("https://app.example"), o("http://app.example"));
        assert_ne!(o("https://app.example"), o("https://app.example:8443"));
        assert_eq!(o("http://[::1]:3000"), o("http://[0:0::1]:3000"));
        for bad in [
            "",
            "null",
            "app.example",
            "ftp://app.example",
            "https://",
            "https://u@app.example",
            "https://app.example/x",
            "https://app.example?",
            "https://app.example#",
            "https://app.example:99999",
            "https://app example",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_own_origin_comes_from_the_host_and_the_cookie_security() {
        let secure = OriginPolicy::new(&[], true).unwrap();
        let plain = OriginPolicy::new(&[], false).unwrap();
        let req = |origin: &str| {
            SimpleRequest::new()
                .header("host", "app.example:8000")
                .header("origin", origin)
        };
        assert!(secure.allows(&req("https://app.example:8000")));
        assert!(!secure.allows(&req("http://app.example:8000")));
        assert!(!secure.allows(&req("https://app.example")));
        assert!(plain.allows(&req("http://app.example:8000")));
        assert!(!plain.allows(&req("https://app.example:8000")));
        assert!(secure.allows(&SimpleRequest::new().header("host", "app.example")));
        let junk_host = SimpleRequest::new()
            .header("host", "evil.example/@app.example")
            .header("origin", "https://evil.example");
        assert!(!secure.allows(&junk_host));
        let twice = req("https://app.example:8000").header("origin", "https://app.example:8000");
        assert!(!secure.allows(&twice));
    }

    #[test]
    fn listed_origins_are_allowed_besides_the_own_one() {
        let p = OriginPolicy::new(
            &[
                "https://front.example".into(),
                " http://localhost:3000 ".into(),
            ],
            true,
        )
        .unwrap();
        let req = |origin: &str| {
            SimpleRequest::new()
                .header("host", "api.example")
                .header("origin", origin)
        };
        assert!(p.allows(&req("https://front.example")));
        assert!(p.allows(&req("http://localhost:3000")));
        assert!(p.allows(&req("https://api.example")));
        assert!(!p.allows(&req("https://front.example:444")));
        assert!(!p.allows(&req("http://front.example")));
        assert!(!p.allows(&req("https://front.example.evil")));
        assert!(OriginPolicy::new(&["front.example".into()], true).is_err());
    }
}
