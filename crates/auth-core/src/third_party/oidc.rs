//! OpenID Connect id-token verification against the provider's JWKS.

use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256, Sha384, Sha512};
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
    /// `Some` only for a JSON boolean: the string `"true"` asserts nothing.
    #[serde(default, deserialize_with = "json_bool")]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub azp: Option<serde_json::Value>,
    #[serde(default)]
    pub aud: serde_json::Value,
    #[serde(default)]
    pub at_hash: Option<serde_json::Value>,
}

/// A claim that is a JSON boolean, or `None` (absent, or any other type).
fn json_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Some(b),
        _ => None,
    })
}

/// OpenID Connect Core §3.1.3.7, points 3 to 5: with several audiences, `azp` must be
/// present; when present, it must be our client id. (`aud` itself is checked by the
/// decoder.)
pub(crate) fn authorized_party_is_us(claims: &IdClaims, client_id: &str) -> bool {
    let several = matches!(&claims.aud, serde_json::Value::Array(auds) if auds.len() > 1);
    match &claims.azp {
        Some(serde_json::Value::String(azp)) => azp == client_id,
        Some(_) => false,
        None => !several,
    }
}

/// OpenID Connect Core §3.1.3.8 and §3.3.2.11: `at_hash`, when present, must be the
/// base64url (no padding) of the left half of the hash of the access token's ASCII
/// octets, with the hash of the id token's `alg` (SHA-256 for `*256`, SHA-384 for
/// `*384`, SHA-512 for `*512` and for `EdDSA`, whose only curve here is Ed25519, as
/// OpenID Connect libraries do). Compared in constant time. Absent is allowed (the
/// code flow makes it optional); any other type is refused.
pub(crate) fn access_token_is_bound(
    alg: Algorithm,
    at_hash: Option<&serde_json::Value>,
    access_token: &str,
) -> bool {
    let sent = match at_hash {
        None => return true,
        Some(serde_json::Value::String(s)) => s,
        Some(_) => return false,
    };
    let digest: Vec<u8> = match alg {
        Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 => {
            Sha256::digest(access_token.as_bytes()).to_vec()
        }
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => {
            Sha384::digest(access_token.as_bytes()).to_vec()
        }
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::EdDSA => {
            Sha512::digest(access_token.as_bytes()).to_vec()
        }
        // Never reached: `verify` accepts only the algorithms above.
        _ => return false,
    };
    let (left, _) = digest.split_at(digest.len() / 2);
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(left);
    bool::from(expected.as_bytes().ct_eq(sent.as_bytes()))
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
    /// signature against the provider's key, `iss`, `aud` and `azp`
    /// ([`authorized_party_is_us`]), `exp`/`iat`/`nbf` with 60 s leeway, `nonce`, and
    /// `at_hash` against the access token that came with it
    /// ([`access_token_is_bound`]).
    pub(crate) async fn verify(
        &self,
        http: &dyn HttpClient,
        token: &str,
        issuer: &str,
        client_id: &str,
        nonce: &str,
        access_token: &str,
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
        if !authorized_party_is_us(&claims, client_id) {
            return Err(invalid("The id token is for another client"));
        }
        let sent = claims.nonce.as_deref().unwrap_or("");
        if nonce.is_empty() || !bool::from(sent.as_bytes().ct_eq(nonce.as_bytes())) {
            return Err(invalid("The id token's nonce does not match"));
        }
        if !access_token_is_bound(header.alg, claims.at_hash.as_ref(), access_token) {
            return Err(invalid(
                "The id token was not issued with this access token (`at_hash`)",
            ));
        }
        Ok(claims)
    }
}

fn invalid(detail: &'static str) -> AuthError {
    AuthError::ExternalLogin {
        detail: detail.into(),
    }
}
