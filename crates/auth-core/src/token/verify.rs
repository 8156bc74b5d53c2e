//! Verification: the header and key rules shared with [`KeyRing::verify_jws`], the
//! claim rules, the time rules and the verified-token cache (see the parent module's docs
//! for every rule, in order).

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::de::{DeserializeOwned, IgnoredAny};

use super::{Claims, Key, KeyRing, NoExtra, TokenService, TokenType, cache};
use crate::error::TokenError;

/// The shared claims as `Claims<E>`, for a caller that checked `E` is [`NoExtra`] (then
/// this is the identity and never fails).
fn as_extra<E: Send + Sync + 'static>(claims: Arc<Claims>) -> Result<Arc<Claims<E>>, TokenError> {
    let claims: Arc<dyn std::any::Any + Send + Sync> = claims;
    claims
        .downcast::<Claims<E>>()
        .map_err(|_| TokenError::Malformed)
}

impl TokenService {
    /// Verifies an access token (see the module docs for every rule).
    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        self.verify_access_shared(token).map(Arc::unwrap_or_clone)
    }

    /// As [`TokenService::verify_access`], the claims shared: a token found in the
    /// verified-token cache costs a reference count, not a copy of its claims. What the
    /// adapters' `Bearer` extractors hand out.
    pub fn verify_access_shared(&self, token: &str) -> Result<Arc<Claims>, TokenError> {
        let Some(cache) = &self.inner.cache else {
            return self.verify(token, TokenType::Access).map(Arc::new);
        };
        if let Some(claims) = cache.get(token) {
            self.check_times(&claims)?;
            return Ok(claims);
        }
        let epoch = cache.epoch();
        let claims = Arc::new(self.verify(token, TokenType::Access)?);
        cache.insert(token, &claims, epoch);
        Ok(claims)
    }

    /// The claims of an access token found in the verified-token cache by its bytes,
    /// time rules checked; `None` on a miss (or for claims `E` other than [`NoExtra`],
    /// which are not cached). A hit needs no text check of `token` first: only tokens that
    /// passed every rule entered, so equal bytes passed them too. What the adapters'
    /// bearer extractors try before checking the header value as text.
    pub(crate) fn cached_as<E: Send + Sync + 'static>(
        &self,
        token: &[u8],
    ) -> Option<Result<Arc<Claims<E>>, TokenError>> {
        if std::any::TypeId::of::<E>() != std::any::TypeId::of::<NoExtra>() {
            return None;
        }
        let claims = self.inner.cache.as_ref()?.get(token)?;
        Some(self.check_times(&claims).and_then(|()| as_extra(claims)))
    }

    /// As [`TokenService::verify_access_as`], the claims shared (see
    /// [`TokenService::verify_access_shared`]; only [`NoExtra`] claims are cached).
    pub fn verify_access_shared_as<E: DeserializeOwned + Send + Sync + 'static>(
        &self,
        token: &str,
    ) -> Result<Arc<Claims<E>>, TokenError> {
        if std::any::TypeId::of::<E>() == std::any::TypeId::of::<NoExtra>() {
            return as_extra(self.verify_access_shared(token)?);
        }
        self.verify(token, TokenType::Access).map(Arc::new)
    }

    /// Entries in the verified-token cache (0 when it is off).
    pub fn cached_tokens(&self) -> usize {
        self.inner
            .cache
            .as_ref()
            .map_or(0, cache::VerifiedCache::len)
    }

    /// Verifies an access token that carries caller-defined claims `E`; a token without
    /// them (or with them in the wrong shape) is refused as [`TokenError::MissingClaim`].
    /// With `E` = [`NoExtra`] (what the adapters' default `Bearer` asks for) this is
    /// [`TokenService::verify_access`], verified-token cache included.
    pub fn verify_access_as<E: DeserializeOwned + 'static>(
        &self,
        token: &str,
    ) -> Result<Claims<E>, TokenError> {
        if std::any::TypeId::of::<E>() == std::any::TypeId::of::<NoExtra>() {
            let claims: Box<dyn std::any::Any> = Box::new(self.verify_access(token)?);
            // E is NoExtra, so this is the identity; never fails.
            return claims
                .downcast::<Claims<E>>()
                .map(|c| *c)
                .map_err(|_| TokenError::Malformed);
        }
        self.verify(token, TokenType::Access)
    }

    /// Verifies a refresh token.
    pub fn verify_refresh(&self, token: &str) -> Result<Claims, TokenError> {
        self.verify(token, TokenType::Refresh)
    }

    /// Verifies a token of the given kind.
    pub fn verify<E: DeserializeOwned>(
        &self,
        token: &str,
        kind: TokenType,
    ) -> Result<Claims<E>, TokenError> {
        let inner = &*self.inner;
        if token.len() > inner.config.max_token_bytes {
            return Err(TokenError::TooLong);
        }
        let rings = inner.rings.load();
        let ring = match kind {
            TokenType::Access => &rings.access,
            TokenType::Refresh => &rings.refresh,
        };
        let now = inner.clock.unix_seconds();
        let claims_b64 = check_jws(
            token,
            |kid| ring.find(kid, now).map(|k| &k.key),
            Some(ring.typ),
        )?;

        // 3. The claims, parsed once; required claims are non-optional fields.
        let claims_json = B64.decode(claims_b64).map_err(|_| TokenError::Malformed)?;
        let claims: Claims<E> =
            serde_json::from_slice(&claims_json).map_err(|e| match e.classify() {
                serde_json::error::Category::Data => TokenError::MissingClaim,
                _ => TokenError::Malformed,
            })?;

        // 4. The rules, against the configuration and the injected clock.
        if let Some(iss) = &inner.config.issuer {
            match &claims.iss {
                None => return Err(TokenError::MissingClaim),
                Some(got) if got != iss => return Err(TokenError::WrongIssuer),
                Some(_) => {}
            }
        }
        if let Some(aud) = &inner.config.audience {
            match &claims.aud {
                None => return Err(TokenError::MissingClaim),
                Some(got) if !got.contains(aud) => return Err(TokenError::WrongAudience),
                Some(_) => {}
            }
        }
        self.check_times(&claims)?;
        if claims.token_type != kind {
            return Err(TokenError::WrongTokenType);
        }
        Ok(claims)
    }

    /// The time rules, against the injected clock with the configured leeway.
    fn check_times<E>(&self, claims: &Claims<E>) -> Result<(), TokenError> {
        let now = self.inner.clock.unix_seconds();
        let leeway = self.inner.config.leeway.as_secs();
        if now >= claims.exp.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        if claims.nbf > now.saturating_add(leeway) {
            return Err(TokenError::NotYetValid);
        }
        if claims.iat > now.saturating_add(leeway) {
            return Err(TokenError::IssuedInFuture);
        }
        Ok(())
    }
}

/// Steps 1 and 2 of verification, shared by [`TokenService`] and
/// [`KeyRing::verify_jws`]: three segments; the header parsed once (unknown parameters
/// malformed, key-carrying ones and `crit` refused); `kid` in the ring; exactly that
/// key's `alg`; `typ` when one is required; the signature by jsonwebtoken's crypto
/// backend. Returns the claims segment, not yet decoded.
fn check_jws<'t, 'k>(
    token: &'t str,
    find: impl Fn(&str) -> Option<&'k Key>,
    typ: Option<&str>,
) -> Result<&'t str, TokenError> {
    // `message` is `header.claims`, cut at the last `.` by `rsplit_once` (no index
    // arithmetic on the token text).
    let Some((message, signature)) = token.rsplit_once('.') else {
        return Err(TokenError::Malformed);
    };
    let Some((header_b64, claims_b64)) = message.split_once('.') else {
        return Err(TokenError::Malformed);
    };
    if claims_b64.contains('.') {
        return Err(TokenError::Malformed);
    }
    // The header, parsed once, unauthenticated: only used to pick the key.
    let header_json = B64.decode(header_b64).map_err(|_| TokenError::Malformed)?;
    let header: RawHeader<'_> =
        serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
    if header.has_refused_parameter() {
        return Err(TokenError::UnsupportedHeader);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(&find)
        .ok_or(TokenError::UnknownKey)?;
    if header.alg != key.alg.as_str() {
        return Err(TokenError::AlgorithmNotAllowed);
    }
    if let Some(want) = typ
        && !header.typ.as_deref().is_some_and(|t| typ_matches(t, want))
    {
        return Err(TokenError::WrongHeaderType);
    }
    // The signature, by jsonwebtoken's crypto backend, before any claim is read.
    let valid = jsonwebtoken::crypto::verify(
        signature,
        message.as_bytes(),
        &key.decoding,
        key.alg.to_jwt(),
    )
    .map_err(|_| TokenError::BadSignature)?;
    if !valid {
        return Err(TokenError::BadSignature);
    }
    Ok(claims_b64)
}

impl KeyRing {
    /// Verifies a compact JWS against this ring with the same header and key rules as
    /// token verification (no `typ` required, payload not interpreted) and returns the
    /// payload bytes. For JWS that are not our tokens, and for external test vectors.
    pub fn verify_jws(&self, jws: &str) -> Result<Vec<u8>, TokenError> {
        let payload = check_jws(jws, |kid| self.keys.iter().find(|k| k.kid == kid), None)?;
        B64.decode(payload).map_err(|_| TokenError::Malformed)
    }
}

/// The JOSE header as this service reads it. Unknown parameters make the token malformed;
/// the ones that would point at a key, or demand understanding (`crit`), are named so that
/// they can be refused explicitly.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
    #[serde(default)]
    jku: Option<IgnoredAny>,
    #[serde(default)]
    x5u: Option<IgnoredAny>,
    #[serde(default)]
    jwk: Option<IgnoredAny>,
    #[serde(default)]
    x5c: Option<IgnoredAny>,
    #[serde(default)]
    x5t: Option<IgnoredAny>,
    #[serde(default, rename = "x5t#S256")]
    x5t_s256: Option<IgnoredAny>,
}

impl RawHeader<'_> {
    fn has_refused_parameter(&self) -> bool {
        self.crit.is_some()
            || self.jku.is_some()
            || self.x5u.is_some()
            || self.jwk.is_some()
            || self.x5c.is_some()
            || self.x5t.is_some()
            || self.x5t_s256.is_some()
    }
}

/// RFC 7515 §4.1.9: `typ` is a media type, compared case-insensitively, and the
/// `application/` prefix may be omitted.
///
/// Compares bytes, never slices the text: `typ` is attacker-controlled, and a `str` cut
/// inside a multibyte character panics (issue #21). Non-ASCII bytes only ever equal
/// themselves, so a `typ` with any non-ASCII character never matches an ASCII `want`.
pub(super) fn typ_matches(got: &str, want: &str) -> bool {
    const PREFIX: &[u8] = b"application/";
    let got = got.as_bytes();
    let got = match got.split_at_checked(PREFIX.len()) {
        Some((prefix, rest)) if !rest.is_empty() && prefix.eq_ignore_ascii_case(PREFIX) => rest,
        _ => got,
    };
    got.eq_ignore_ascii_case(want.as_bytes())
}
