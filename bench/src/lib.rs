//! What the bench servers share: the one JSON body every server answers with, our
//! `Auth` built like the reference app's, the peers' HS256 token, the announce
//! protocol `bench-run` reads, the external RS256 issuer ([`issuer`]) and a local Redis
//! Cluster ([`cluster`]).
//!
//! Every server binary takes its mode as its first argument, binds `AUTH_BIND`
//! (default `127.0.0.1:0`), and prints, in order:
//!
//! ```text
//! listening on http://127.0.0.1:PORT
//! route /jwt Authorization: Bearer eyJ…
//! route /session Cookie: id=…
//! ready
//! ```
//!
//! A `route` line names a path and the one header a client sends to it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // bench servers abort on a broken setup

pub mod cluster;
pub mod issuer;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::Auth;
use serde::{Deserialize, Serialize};

/// The small JSON every server answers with: `{"message":"hello","items":[1,2,3]}`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Hello {
    /// Always `"hello"`.
    pub message: &'static str,
    /// Always `[1, 2, 3]`.
    pub items: [u8; 3],
}

/// The body.
pub const HELLO: Hello = Hello {
    message: "hello",
    items: [1, 2, 3],
};

/// The peers' HS256 secret (the peers are not ours to configure like ours).
pub const PEER_SECRET: &str = "bench-peer-secret-0123456789abcdef0123456";
/// The peers' audience.
pub const PEER_AUDIENCE: &str = "bench";

/// The claims the peer JWT servers check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerClaims {
    /// Subject.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Issued at.
    pub iat: u64,
    /// Expiry.
    pub exp: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A one-hour HS256 token for the peers (and the header bare servers are sent, so that
/// every server parses the same request).
pub fn peer_token() -> String {
    let now = now();
    let claims = PeerClaims {
        sub: "1".into(),
        aud: PEER_AUDIENCE.into(),
        iat: now,
        exp: now + 3600,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(PEER_SECRET.as_bytes()).expect("key"),
    )
    .expect("sign the peer token")
}

/// The peer check: `jsonwebtoken::decode` with HS256, `exp` and `aud`, as a user of the
/// peer crates writes it.
pub fn peer_validation() -> jsonwebtoken::Validation {
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_audience(&[PEER_AUDIENCE]);
    v
}

/// The measured routes of our servers in the order they are mounted: the one named by
/// `BENCH_FIRST_ROUTE` first (default `/jwt`), then the others. actix-web and warp try
/// routes in order, so the route measured is mounted first, as the bare server's only
/// route is: its row then pays for its auth, not for the routes tried before it.
pub fn route_order() -> [&'static str; 3] {
    match std::env::var("BENCH_FIRST_ROUTE").as_deref() {
        Ok("/apikey") => ["/apikey", "/jwt", "/session"],
        Ok("/session") => ["/session", "/jwt", "/apikey"],
        _ => ["/jwt", "/apikey", "/session"],
    }
}

/// `AUTH_BIND`, default `127.0.0.1:0`.
pub fn bind_addr() -> SocketAddr {
    std::env::var("AUTH_BIND")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// Prints the announce block (see the crate docs).
pub fn announce(addr: SocketAddr, routes: &[(&str, String)]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on http://{addr}");
    for (path, header) in routes {
        let _ = writeln!(out, "route {path} {header}");
    }
    let _ = writeln!(out, "ready");
    let _ = out.flush();
}

/// Our server's state and the credentials a client presents.
pub struct Ours {
    /// Built like the reference app's (memory store, or Redis from `AUTH_REDIS_URL`).
    pub auth: Auth,
    /// Where to listen.
    pub bind: SocketAddr,
    /// `Authorization: Bearer …` for alice.
    pub bearer: String,
    /// `X-API-Key: …` (a generated key with checksum).
    pub api_key: String,
    /// `Cookie: …` of a live session of alice.
    pub cookie: String,
    /// `Authorization: Bearer …` with the external issuer's RS256 token, when
    /// `AUTH_TRUSTED_ISSUERS` names the bench's issuer ([`issuer`]).
    pub external: Option<String>,
}

impl Ours {
    /// The route lines of our servers (`/rs256` only with the external issuer's token).
    pub fn routes(&self) -> Vec<(&'static str, String)> {
        [
            ("/jwt", self.bearer.clone()),
            ("/apikey", self.api_key.clone()),
            ("/session", self.cookie.clone()),
        ]
        .into_iter()
        .chain(self.external.clone().map(|h| ("/rs256", h)))
        .collect()
    }
}

/// Builds our `Auth` as the reference app does, from the bench's environment:
/// `AUTH_REDIS_URL`, `AUTH_REDIS_REPLICA`, `AUTH_REDIS_NAMESPACE`, `AUTH_DATABASE_URL`,
/// `AUTH_DATABASE_REPLICA`, `AUTH_VERIFIED_CACHE`, `AUTH_TRUSTED_ISSUERS` and
/// `AUTH_TRUSTED_AUDIENCE` (resource-server mode, for the [`issuer`]'s tokens)
/// (and short lifetimes through `AUTH_ACCESS_TTL_SECS`, `AUTH_REFRESH_TTL_SECS`,
/// `AUTH_SESSION_TTL_SECS` for the soak).
pub async fn ours() -> Result<Ours, String> {
    let settings = reference_common::Settings::from_lookup(|name| match name {
        "AUTH_JWT_SECRET" => Some("bench-access-secret-0123456789abcdef0123".into()),
        "AUTH_REFRESH_SECRET" => Some("bench-refresh-secret-0123456789abcdef012".into()),
        "AUTH_BIND"
        | "AUTH_REDIS_URL"
        | "AUTH_REDIS_REPLICA"
        | "AUTH_REDIS_NAMESPACE"
        | "AUTH_DATABASE_URL"
        | "AUTH_DATABASE_REPLICA"
        | "AUTH_VERIFIED_CACHE"
        | "AUTH_TRUSTED_ISSUERS"
        | "AUTH_TRUSTED_AUDIENCE"
        | "AUTH_ACCESS_TTL_SECS"
        | "AUTH_REFRESH_TTL_SECS"
        | "AUTH_SESSION_TTL_SECS" => std::env::var(name).ok(),
        _ => None,
    })?;
    let bind = settings.bind;
    let auth = reference_common::build(settings).await?.auth;
    let alice = auth
        .users()
        .find_by_username("alice")
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no demo user alice")?;
    let bearer = auth_core::testing::bearer_header(&auth, &alice)
        .await
        .map_err(|e| e.to_string())?;
    let key = auth
        .api_keys()
        .create("bench", &alice.id, Vec::new(), None)
        .await
        .map_err(|e| e.to_string())?;
    let (cookie, _csrf) = auth_core::testing::session_cookie(&auth, &alice)
        .await
        .map_err(|e| e.to_string())?;
    let external = match std::env::var("AUTH_TRUSTED_ISSUERS") {
        Ok(url) if !url.is_empty() => Some(issuer::bearer_header(&url)?),
        _ => None,
    };
    Ok(Ours {
        auth,
        external,
        bind,
        bearer: format!("Authorization: {bearer}"),
        api_key: format!("X-API-Key: {}", key.key),
        cookie: format!("Cookie: {cookie}"),
    })
}

/// Posts an empty form to `path` on our own server and returns the `Cookie:` header
/// that carries the session it set (for the session peers, whose login is a request).
pub async fn login_cookie(addr: SocketAddr, path: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .map_err(|_| "no answer to the login request".to_string())?
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    text.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie").then(|| {
                value
                    .trim()
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
        })
        .map(|pair| format!("Cookie: {pair}"))
        .ok_or_else(|| format!("the login answered without a cookie: {text}"))
}

/// The process's resident set in bytes (Linux `/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// Replaces what stands between the markers `begin` and `end` in the file at `path` (the
/// generated parts of `docs/BENCHMARKS.md`).
pub fn write_between(
    path: &std::path::Path,
    begin: &str,
    end: &str,
    text: &str,
) -> Result<(), String> {
    let doc = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (head, rest) = doc
        .split_once(begin)
        .ok_or_else(|| format!("no {begin} marker"))?;
    let (_, tail) = rest
        .split_once(end)
        .ok_or_else(|| format!("no {end} marker"))?;
    std::fs::write(path, format!("{head}{begin}\n{text}{end}{tail}")).map_err(|e| e.to_string())
}

/// Now, as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
