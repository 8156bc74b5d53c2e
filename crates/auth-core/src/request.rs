//! The framework-neutral view of a request: what the core may read from it.
//!
//! Each adapter implements [`Request`] for its framework's request type (axum and warp on
//! `http` 1, actix-web on `http` 0.2), so the core never names a framework type.

use std::net::IpAddr;

/// Read access to what the core's decisions need of a request: its method, headers,
/// query string and the address of the socket peer. Adapters implement it; the core
/// reads the content type, the origin and the credentials through it.
pub trait Request {
    /// The request method, as sent (`GET`, `POST`, …). Decides whether the CSRF check
    /// applies (only unsafe methods).
    fn method(&self) -> &str;

    /// Every value of the header `name` (ASCII, lower case), as raw bytes, in order.
    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]>;

    /// The raw query string (after `?`, still percent-encoded), if any.
    fn query(&self) -> Option<&str>;

    /// The address of the socket peer, when the server records it (the login throttle
    /// counts per address). `None` by default.
    fn peer_addr(&self) -> Option<IpAddr> {
        None
    }

    /// The single `Content-Type` value, trimmed; `None` when absent, repeated or not
    /// visible ASCII.
    fn content_type(&self) -> Option<&str>
    where
        Self: Sized,
    {
        header_value(self, "content-type").ok().flatten()
    }
}

/// Whether an HTTP method is safe (RFC 9110 §9.2.1: `GET`, `HEAD`, `OPTIONS`, `TRACE`),
/// compared case-insensitively. Only unsafe methods need the CSRF check.
pub fn is_safe_method(method: &str) -> bool {
    const SAFE: [&str; 4] = ["GET", "HEAD", "OPTIONS", "TRACE"];
    // The upper-case spelling every framework hands over is found by plain comparison.
    SAFE.contains(&method) || SAFE.iter().any(|m| m.eq_ignore_ascii_case(method))
}

/// Why a header could not be read as one text value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderProblem {
    /// The header was sent more than once.
    Repeated,
    /// Not visible ASCII (or over the size limit).
    Invalid,
}

/// The largest header value the core reads (8 KiB, as the contract's `Authorization`).
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// The single value of header `name`, as trimmed text: `Ok(None)` when absent, an error
/// when repeated, too large, or not visible ASCII.
pub fn header_value<'r>(
    request: &'r impl Request,
    name: &str,
) -> Result<Option<&'r str>, HeaderProblem> {
    let mut values = request.header_values(name);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(HeaderProblem::Repeated);
    }
    if first.len() > MAX_HEADER_BYTES
        || !first
            .iter()
            .all(|b| (0x20..0x7f).contains(b) || *b == b'\t')
    {
        return Err(HeaderProblem::Invalid);
    }
    let text = std::str::from_utf8(first).map_err(|_| HeaderProblem::Invalid)?;
    Ok(Some(text.trim()))
}

/// A simple owned request, for tests and for tools: `GET` with no headers until told
/// otherwise.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimpleRequest {
    /// The method (`GET` unless set).
    pub method: String,
    /// `(lower-case name, value)` pairs.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The raw query string.
    pub query: Option<String>,
    /// The socket peer's address.
    pub peer: Option<IpAddr>,
}

impl Default for SimpleRequest {
    fn default() -> Self {
        Self {
            method: "GET".into(),
            headers: Vec::new(),
            query: None,
            peer: None,
        }
    }
}

impl SimpleRequest {
    /// An empty `GET` request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the method (named `with_method` so that it does not shadow
    /// [`Request::method`]).
    pub fn with_method(mut self, method: &str) -> Self {
        self.method = method.into();
        self
    }

    /// Sets the socket peer's address.
    pub fn with_peer(mut self, addr: IpAddr) -> Self {
        self.peer = Some(addr);
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Sets the query string.
    pub fn query(mut self, query: &str) -> Self {
        self.query = Some(query.into());
        self
    }
}

impl Request for SimpleRequest {
    fn method(&self) -> &str {
        &self.method
    }

    fn peer_addr(&self) -> Option<IpAddr> {
        self.peer
    }

    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
}
