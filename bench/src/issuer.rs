//! The bench's external identity provider: an RS256 key, its JWKS and OIDC discovery
//! document served over plain HTTP on loopback, and the one access token it issued.
//!
//! The key is the repository's 2048-bit RSA test key (`crates/auth-core/testdata`), so
//! the token is a pure function of the issuer URL: every server given the same
//! [`ISSUER_ENV`] mints the very same token (PKCS#1 v1.5 signatures are deterministic),
//! and the peer and ours are measured on identical requests.
//!
//! `bench-axum issuer` serves it; `bench-run` passes its URL to the servers that accept
//! its tokens.

use auth_core::token::{Algorithm, Key};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};

/// The environment variable naming the issuer's URL (`http://127.0.0.1:PORT`) for the
/// servers that accept its tokens.
pub const ISSUER_ENV: &str = "BENCH_ISSUER";
/// The audience the issuer's tokens name (our `AUTH_TRUSTED_AUDIENCE`, the peer's `aud`).
pub const AUDIENCE: &str = "bench-api";
/// Where the JWKS is served, under the issuer URL.
pub const JWKS_PATH: &str = "/jwks.json";
/// The subject of the issued token.
const SUBJECT: &str = "bench-external-user";
/// `iat` of the issued token (fixed, so the token is deterministic): 2026-01-01.
const ISSUED_AT: u64 = 1_767_225_600;
/// `exp` of the issued token: 2100-01-01, past any bench run.
const EXPIRES: u64 = 4_102_444_800;

/// The issuer's private key (PKCS#8 PEM, RSA 2048).
const PRIVATE_PEM: &[u8] = include_bytes!("../../crates/auth-core/testdata/keys/rsa_private.pem");

/// The claims of the issued token.
#[derive(Debug, Serialize)]
struct IssuedClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    scope: &'a str,
}

/// The issuer's key as auth-core reads it: its `kid` (RFC 7638 thumbprint) and public JWK.
fn key() -> Result<Key, String> {
    Key::from_private_pem(Algorithm::RS256, PRIVATE_PEM).map_err(|e| e.to_string())
}

/// The issuer URL from [`ISSUER_ENV`], if set.
pub fn from_env() -> Option<String> {
    std::env::var(ISSUER_ENV).ok().filter(|u| !u.is_empty())
}

/// The RS256 access token `issuer` issued (header `kid` = the JWKS key's), as an
/// `Authorization: Bearer …` header line.
pub fn bearer_header(issuer: &str) -> Result<String, String> {
    let key = key()?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key.kid().to_string());
    let claims = IssuedClaims {
        iss: issuer,
        sub: SUBJECT,
        aud: AUDIENCE,
        iat: ISSUED_AT,
        exp: EXPIRES,
        scope: "read",
    };
    let encoding =
        jsonwebtoken::EncodingKey::from_rsa_pem(PRIVATE_PEM).map_err(|e| e.to_string())?;
    let token = jsonwebtoken::encode(&header, &claims, &encoding).map_err(|e| e.to_string())?;
    Ok(format!("Authorization: Bearer {token}"))
}

/// The JWK set: the one public key, with `kid`, `alg` and `use`.
pub fn jwks() -> Result<Value, String> {
    let jwk = key()?
        .public_jwk_value()
        .ok_or("the RSA key has no public JWK")?;
    Ok(json!({ "keys": [jwk] }))
}

/// The issuer's routes for `issuer` (its own URL): OIDC discovery at
/// `/.well-known/openid-configuration` and the JWKS at [`JWKS_PATH`], both cacheable
/// for an hour.
pub fn router(issuer: &str) -> Result<Router, String> {
    let discovery = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    let keys = jwks()?;
    let cached = |body: Value| {
        (
            [(axum::http::header::CACHE_CONTROL, "public, max-age=3600")],
            Json(body),
        )
    };
    Ok(Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || std::future::ready(cached(discovery.clone()))),
        )
        .route(
            JWKS_PATH,
            get(move || std::future::ready(cached(keys.clone()))),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_deterministic_and_verifies_with_the_served_jwks() {
        let issuer = "http://127.0.0.1:1";
        let header = bearer_header(issuer).unwrap();
        assert_eq!(
            header,
            bearer_header(issuer).unwrap(),
            "the same token every time"
        );
        let token = header.strip_prefix("Authorization: Bearer ").unwrap();
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks().unwrap()).unwrap();
        let kid = jsonwebtoken::decode_header(token).unwrap().kid;
        assert_eq!(kid, set.keys[0].common.key_id);
        let key = jsonwebtoken::DecodingKey::from_jwk(&set.keys[0]).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[issuer]);
        jsonwebtoken::decode::<Value>(token, &key, &validation).unwrap();
    }
}
