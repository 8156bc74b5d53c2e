//! `authctl jwt verify --jwks FILE|URL`: a JWK set read from a file or fetched over
//! http(s), and the one key of it a token names by `kid`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::Fail;

/// A JWK set larger than this is refused (a real one is a few KiB).
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// A JWK set (`{"keys": [...]}`) and where it came from (for messages).
#[derive(Debug)]
pub struct Jwks {
    keys: Vec<Value>,
    /// The file or URL it was read from.
    pub source: String,
}

impl Jwks {
    /// Reads `source`: an `http://` or `https://` URL is fetched (10 s timeout), anything
    /// else is a file path.
    pub fn load(source: &str) -> Result<Self, Fail> {
        let lower = source.to_ascii_lowercase();
        let bytes = if lower.starts_with("https://") || lower.starts_with("http://") {
            fetch(source)?
        } else {
            std::fs::read(source)
                .map_err(|e| Fail(format!("cannot read the JWKS file {source}: {e}")))?
        };
        Self::parse(&bytes, source)
    }

    fn parse(bytes: &[u8], source: &str) -> Result<Self, Fail> {
        let not_a_set = || {
            Fail(format!(
                "{source} is not a JWK set: expected a JSON object {{\"keys\": [...]}} (RFC 7517 §5)"
            ))
        };
        let doc: Value = serde_json::from_slice(bytes).map_err(|_| not_a_set())?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(not_a_set)?
            .clone();
        Ok(Self {
            keys,
            source: source.to_string(),
        })
    }

    /// The verification key for a token whose header names `kid` and `alg`, or why
    /// there is none (a negative answer about the token, not a usage error): no `kid`, a
    /// `kid` the set does not hold, an HMAC `alg` (a JWKS publishes public keys), or an
    /// `alg` the JWK does not fit (its own `alg`, key type or curve).
    pub fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, String> {
        let Some(kid) = kid else {
            return Err("the token has no `kid`, so no key of the JWKS can be picked".into());
        };
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(format!(
                "alg {alg:?} is an HMAC algorithm: a JWKS publishes public keys, never a secret to verify it with"
            ));
        }
        let jwk = self
            .keys
            .iter()
            .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
            .ok_or_else(|| format!("the JWKS ({}) has no key with kid `{kid}`", self.source))?;
        // auth-core's checks for a public JWK: `use` is `sig`, the JWK's own `alg` (when
        // given) is the token's, the key type and curve fit it, no `oct` secret.
        let ours = format!("{alg:?}")
            .parse::<auth_core::token::Algorithm>()
            .map_err(|e| e.to_string())?;
        auth_core::token::Key::public_jwk(kid, ours, &jwk.to_string())
            .map_err(|e| format!("the token's alg {alg:?} does not fit its JWK: {e}"))?;
        let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone())
            .map_err(|e| format!("the JWK `{kid}` cannot be read ({e})"))?;
        DecodingKey::from_jwk(&parsed).map_err(|e| format!("the JWK `{kid}` is not usable ({e})"))
    }
}

/// `GET url` with a small client on a runtime of its own: the body, if the answer is 2xx
/// and at most [`MAX_JWKS_BYTES`].
fn fetch(url: &str) -> Result<Vec<u8>, Fail> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail(format!("cannot start the HTTP client: {e}")))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| Fail(format!("cannot build the HTTP client: {e}")))?;
        let response = client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| Fail(format!("cannot fetch the JWKS from {url}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Fail(format!(
                "cannot fetch the JWKS from {url}: HTTP {status}"
            )));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(Fail(format!("the JWKS at {url} is over 1 MiB")));
        }
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Fail(format!("cannot read the JWKS from {url}: {e}")))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(Fail(format!("the JWKS at {url} is over 1 MiB")));
            }
        }
        Ok(body)
    })
}
