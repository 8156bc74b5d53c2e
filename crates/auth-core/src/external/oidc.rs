//! OpenID Connect id-token verification against the provider's JWKS.

use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;

use super::client::HttpClient;
use crate::error::AuthError;

/// The largest id token looked at.
const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;
/// The JWKS is fetched again for an unknown `kid` at most this often, so tokens with
/// made-up key ids cannot turn the app into a request amplifier.
const REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// A fetched JWKS is trusted this long without a refetch.
const MAX_AGE: Duration = Duration::from_secs(3600);
/// Clock skew allowed on `exp`, `iat` and `nbf` (OpenID Connect Core §3.1.3.7).
const LEEWAY_SECS: u64 = 60;
/// Asymmetric algorithms only: a provider's id token is never MACed with a secret we
/// would have to share, and `none` is never accepted.
const ALLOWED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The id-token claims the flow uses.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IdClaims {
    pub sub: String,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub azp: Option<String>,
    #[serde(default)]
    pub aud: serde_json::Value,
}

fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Some(b),
        serde_json::Value::String(s) => Some(s == "true"),
        _ => None,
    })
}

struct Cached {
    set: JwkSet,
    fetched: Instant,
}

/// One provider's key set, fetched lazily and refreshed on an unknown `kid`.
pub(crate) struct Jwks {
    url: String,
    cache: Mutex<Option<Cached>>,
}

impl Jwks {
    pub(crate) fn new(url: String) -> Self {
        Self {
            url,
            cache: Mutex::new(None),
        }
    }

    async fn fetch(&self, http: &dyn HttpClient) -> Result<JwkSet, AuthError> {
        super::client::get_json(http, &self.url, None, "JWKS").await
    }

    /// The key for `kid` (or the only key, when the token names none), refetching the
    /// set when it is stale or lacks the `kid` (at most once per [`REFETCH_INTERVAL`]).
    async fn key(
        &self,
        http: &dyn HttpClient,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, AuthError> {
        fn lookup(set: &JwkSet, kid: Option<&str>) -> Option<jsonwebtoken::jwk::Jwk> {
            match kid {
                Some(kid) => set.find(kid).cloned(),
                None if set.keys.len() == 1 => set.keys.first().cloned(),
                None => None,
            }
        }
        let mut cache = self.cache.lock().await;
        let fresh = cache
            .as_ref()
            .is_some_and(|c| c.fetched.elapsed() < MAX_AGE);
        let mut jwk = cache
            .as_ref()
            .filter(|_| fresh)
            .and_then(|c| lookup(&c.set, kid));
        let may_refetch = cache
            .as_ref()
            .is_none_or(|c| !fresh || c.fetched.elapsed() >= REFETCH_INTERVAL);
        if jwk.is_none() && may_refetch {
            let set = self.fetch(http).await?;
            jwk = lookup(&set, kid);
            *cache = Some(Cached {
                set,
                fetched: Instant::now(),
            });
        }
        let jwk = jwk.ok_or_else(|| invalid("The id token was signed with an unknown key"))?;
        if let Some(key_alg) = jwk.common.key_algorithm
            && format!("{key_alg:?}") != format!("{alg:?}")
        {
            return Err(invalid("The id token's algorithm does not match its key"));
        }
        DecodingKey::from_jwk(&jwk).map_err(|_| invalid("The provider's signing key is unusable"))
    }

    /// Verifies an id token: size, header (`alg` asymmetric and allowed, no `crit`),
    /// signature against the provider's key, `iss`, `aud` (and `azp` when several
    /// audiences), `exp`/`iat`/`nbf` with 60 s leeway, and `nonce`.
    pub(crate) async fn verify(
        &self,
        http: &dyn HttpClient,
        token: &str,
        issuer: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<IdClaims, AuthError> {
        if token.len() > MAX_ID_TOKEN_BYTES {
            return Err(invalid("The id token is too large"));
        }
        let header_json = token
            .split('.')
            .next()
            .and_then(|h| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(h)
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .ok_or_else(|| invalid("The id token is malformed"))?;
        if header_json.get("crit").is_some() {
            return Err(invalid(
                "The id token carries a critical header we do not support",
            ));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| invalid("The id token is malformed"))?;
        if !ALLOWED.contains(&header.alg) {
            return Err(invalid("The id token's algorithm is not allowed"));
        }
        let key = self.key(http, header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
            .map_err(|e| {
                invalid(match e.kind() {
                    ErrorKind::InvalidSignature => "The id token's signature is invalid",
                    ErrorKind::InvalidAudience => "The id token is for another client",
                    ErrorKind::InvalidIssuer => "The id token has the wrong issuer",
                    ErrorKind::ExpiredSignature => "The id token has expired",
                    ErrorKind::ImmatureSignature => "The id token is not valid yet",
                    _ => "The id token is invalid",
                })
            })?
            .claims;
        if let serde_json::Value::Array(auds) = &claims.aud
            && auds.len() > 1
            && claims.azp.as_deref() != Some(client_id)
        {
            return Err(invalid("The id token is for another client"));
        }
        let sent = claims.nonce.as_deref().unwrap_or("");
        if nonce.is_empty() || !bool::from(sent.as_bytes().ct_eq(nonce.as_bytes())) {
            return Err(invalid("The id token's nonce does not match"));
        }
        Ok(claims)
    }
}

fn invalid(detail: &'static str) -> AuthError {
    AuthError::ExternalLogin {
        detail: detail.into(),
    }
}
