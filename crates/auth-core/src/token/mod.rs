//! JWT access and refresh tokens: issuing and verifying.
//!
//! [`TokenService`] holds two [`KeyRing`]s (access and refresh tokens are signed with
//! different keys), the issuer and audience, lifetimes, leeway and the [`Clock`].
//!
//! Verification is stricter than `jsonwebtoken`'s defaults (which check `nbf` only when
//! asked, `iss`/`aud` only when present, and read the system clock). The header and the
//! claims are each parsed exactly once, and the signature is checked with
//! `jsonwebtoken::crypto::verify`. In this order:
//!
//! 1. the token's length is checked before any decoding (default 8 KiB);
//! 2. the header must name a `kid` in the ring and exactly that key's `alg`; its `typ`
//!    must be the one issued for this kind of token; `crit`, `jku`, `x5u`, `jwk`, `x5c`
//!    and `x5t` are refused outright (keys are never fetched or taken from a token), and
//!    any other unknown header parameter makes the token malformed;
//! 3. the signature is checked (by `jsonwebtoken`'s crypto backend, constant-time)
//!    before any claim is read;
//! 4. `exp`, `iat`, `nbf`, `sub`, `jti`, `sid` and `type` must be present with the right
//!    JSON types; `iss` and `aud` must be present and equal when configured;
//! 5. `exp`, `nbf` and `iat` are checked against the injected clock with a leeway of at
//!    most 60 s; `type` must match what the caller asked for.
//!
//! Revocation (blocklist, families, users) is checked on top of this by the stores.

mod cache;
mod claims;
mod keys;

use std::sync::Arc;
use std::time::Duration;

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::Header;
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};

pub use claims::{Audience, Claims, NoExtra, Subject, TokenType};
pub use keys::{Algorithm, Key, KeyRing};

use crate::clock::{Clock, SystemClock};
use crate::error::{ConfigError, TokenError};
use crate::ids::new_id;

/// The largest leeway a [`TokenConfig`] accepts.
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);

/// The header `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TYP: &str = "at+jwt";
/// The header `typ` of refresh tokens.
pub const REFRESH_TYP: &str = "JWT";

/// The `kid` of an HMAC key made from `secret` when none is named (the
/// [`AuthBuilder`](crate::AuthBuilder) shortcut): `hs-` and 16 base64url characters of a
/// domain-separated SHA-256 of the secret. Stable across restarts with the same secret,
/// different for every secret (so a restart with a new secret never mistakes old tokens
/// for its own), and revealing nothing a token's signature does not.
pub fn derived_kid(secret: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::new()
        .chain_update(b"auth-toolkit hmac kid v1\0")
        .chain_update(secret)
        .finalize();
    let head: Vec<u8> = digest.iter().copied().take(12).collect();
    format!("hs-{}", B64.encode(head))
}

/// 48 random bytes from the OS-seeded CSPRNG: an HMAC secret for development, or when a
/// deployment deliberately does not keep tokens across restarts.
pub fn random_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 48];
    rand::fill(secret.as_mut_slice());
    secret
}

/// Settings for issuing and verifying tokens.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// `iss` to issue and require; `None` issues and checks none.
    pub issuer: Option<String>,
    /// `aud` to issue and require; `None` issues and checks none.
    pub audience: Option<String>,
    /// Access-token lifetime (default 15 minutes).
    pub access_ttl: Duration,
    /// Refresh-token lifetime (default 30 days).
    pub refresh_ttl: Duration,
    /// Clock-skew allowance for `exp`, `nbf` and `iat` (default 30 s, at most 60 s).
    pub leeway: Duration,
    /// Tokens longer than this are refused before decoding (default 8 KiB).
    pub max_token_bytes: usize,
    /// Verified access tokens remembered (default 10 000; 0 turns the cache off). A hit
    /// skips the signature and parsing but still checks `exp`/`nbf`/`iat`; revocation is
    /// checked on every request either way. Bounded: about 1 KiB per entry at most.
    pub verified_cache: usize,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            leeway: Duration::from_secs(30),
            max_token_bytes: 8 * 1024,
            verified_cache: 10_000,
        }
    }
}

impl TokenConfig {
    /// Sets the issuer.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// Sets the audience.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    /// Sets the access-token lifetime.
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// Sets the refresh-token lifetime.
    pub fn refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// Sets the verified-token cache's capacity (0 turns it off).
    pub fn verified_cache(mut self, entries: usize) -> Self {
        self.verified_cache = entries;
        self
    }

    /// Sets the leeway (at most [`MAX_LEEWAY`]; checked by [`TokenService::new`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }
}

/// A freshly signed token and the identity facts a store needs about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The compact JWS to hand to the client.
    pub token: String,
    /// Its `jti`.
    pub jti: String,
    /// Its `iat`.
    pub iat: u64,
    /// Its `exp`.
    pub exp: u64,
}

/// An access token and a refresh token of one family (`sid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    /// The access token.
    pub access: IssuedToken,
    /// The refresh token.
    pub refresh: IssuedToken,
    /// The family both belong to.
    pub sid: String,
    /// Seconds until the access token expires (the token response's `expires_in`).
    pub expires_in: u64,
}

/// Signing failed: a server fault (a broken key), never the client's.
#[derive(Debug, thiserror::Error)]
#[error("signing a token failed: {0}")]
pub struct SigningError(String);

struct PreparedKey {
    key: Key,
    /// After a rotation, the previous keys verify until this moment (Unix seconds): the
    /// last one at which a token they signed can still be valid. `None`: no end.
    retire_at: Option<u64>,
}

struct Ring {
    keys: Vec<PreparedKey>,
    header: Header,
    typ: &'static str,
}

impl Ring {
    /// The live key `kid` at `now` (a retired key is as unknown as one never seen).
    fn find(&self, kid: &str, now: u64) -> Option<&PreparedKey> {
        self.keys
            .iter()
            .find(|k| k.key.kid == kid && k.retire_at.is_none_or(|t| now < t))
    }

    /// The ring's keys that still verify at `now`, signing key first.
    fn live(&self, now: u64) -> impl Iterator<Item = &PreparedKey> {
        self.keys
            .iter()
            .filter(move |k| k.retire_at.is_none_or(|t| now < t))
    }
}

/// The two rings, swapped as one value: a rotation is seen whole or not at all.
struct Rings {
    access: Ring,
    refresh: Ring,
}

struct Inner {
    /// The one owner of the keys: every clone of the service (the `Auth` handle, its
    /// token endpoint, the adapters) reads them here, so a rotation reaches all at once.
    rings: arc_swap::ArcSwap<Rings>,
    /// Serialises rotations (readers never wait for it).
    rotating: std::sync::Mutex<()>,
    config: TokenConfig,
    clock: Arc<dyn Clock>,
    cache: Option<cache::VerifiedCache>,
}

/// Issues and verifies access and refresh tokens. Cheap to clone (one `Arc`).
///
/// ```
/// use auth_core::token::{Algorithm, Key, KeyRing, Subject, TokenConfig, TokenService};
///
/// let access = KeyRing::new(Key::hmac("a1", Algorithm::HS256, b"an access secret of >= 32 bytes!")?);
/// let refresh = KeyRing::new(Key::hmac("r1", Algorithm::HS256, b"a refresh secret of >= 32 bytes!")?);
/// let config = TokenConfig::default().issuer("auth-reference").audience("auth-reference");
/// let tokens = TokenService::new(access, refresh, config)?;
///
/// let user = Subject::new("1").with_email("alice@example.com").with_roles(["admin"]);
/// let pair = tokens.issue_pair(&user)?;
///
/// let claims = tokens.verify_access(&pair.access.token)?;
/// assert_eq!(claims.sub, "1");
/// assert_eq!(claims.roles, ["admin"]);
/// assert!(tokens.verify_access(&pair.refresh.token).is_err()); // never interchangeable
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TokenService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rings = self.inner.rings.load();
        f.debug_struct("TokenService")
            .field("access_kid", &rings.access.header.kid)
            .field("refresh_kid", &rings.refresh.header.kid)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// A service on the system clock. See [`TokenService::with_clock`].
    pub fn new(
        access: KeyRing,
        refresh: KeyRing,
        config: TokenConfig,
    ) -> Result<Self, ConfigError> {
        Self::with_clock(access, refresh, config, Arc::new(SystemClock))
    }

    /// A service reading time from `clock`.
    ///
    /// Refuses: a signing key that cannot sign; access and refresh rings sharing key
    /// material; a leeway above [`MAX_LEEWAY`]; zero lifetimes; a build without a usable
    /// `jsonwebtoken` crypto backend (so that never surfaces as a panic on a request).
    pub fn with_clock(
        access: KeyRing,
        refresh: KeyRing,
        config: TokenConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Err(ConfigError::Invalid {
                setting: "jsonwebtoken crypto backend",
                reason: "no single backend is enabled; enable exactly one of `aws_lc_rs` or `rust_crypto` on jsonwebtoken".into(),
            });
        }
        if config.leeway > MAX_LEEWAY {
            return Err(ConfigError::LeewayTooLarge {
                max: MAX_LEEWAY.as_secs(),
                got: config.leeway.as_secs(),
            });
        }
        if config.access_ttl.is_zero() || config.refresh_ttl.is_zero() {
            return Err(ConfigError::Invalid {
                setting: "token lifetime",
                reason: "access and refresh lifetimes must be at least one second".into(),
            });
        }
        if config.max_token_bytes < 64 {
            return Err(ConfigError::Invalid {
                setting: "max_token_bytes",
                reason: "must be at least 64 bytes (the default is 8192)".into(),
            });
        }
        check_rings(&access, &refresh)?;
        let rings = Rings {
            access: prepare(access, &[], ACCESS_TYP),
            refresh: prepare(refresh, &[], REFRESH_TYP),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                rings: arc_swap::ArcSwap::from_pointee(rings),
                rotating: std::sync::Mutex::new(()),
                cache: cache::VerifiedCache::new(config.verified_cache),
                config,
                clock,
            }),
        })
    }

    /// Rotates the keys of a running service, as one step: `access` and `refresh` sign
    /// from now on; the keys that signed until now keep verifying until every token they
    /// signed has expired (its lifetime plus the leeway), then stop by themselves. Nobody
    /// is logged out. Every clone of this service (the [`Auth`](crate::Auth) handle, its
    /// token endpoint, the adapters' extractors) sees the new keys at once.
    ///
    /// Refuses (and changes nothing) a key that cannot sign, a `kid` already in its ring,
    /// and key material shared between access and refresh tokens.
    pub fn rotate(&self, access: Key, refresh: Key) -> Result<(), ConfigError> {
        let _one_at_a_time = self
            .inner
            .rotating
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = self.inner.clock.unix_seconds();
        let config = &self.inner.config;
        let leeway = config.leeway.as_secs();
        let current = self.inner.rings.load();
        let rotated = |ring: &Ring, new: Key, ttl: Duration| {
            // The previous signing key signed tokens until now; older keys keep the end
            // they already had.
            let retire = now.saturating_add(ttl.as_secs()).saturating_add(leeway);
            let mut keys = KeyRing::new(new);
            let mut ends = vec![None];
            for k in ring.live(now) {
                keys = keys.with_key(k.key.clone())?;
                ends.push(Some(k.retire_at.map_or(retire, |t| t.min(retire))));
            }
            Ok::<_, ConfigError>((keys, ends))
        };
        let (access, access_ends) = rotated(&current.access, access, config.access_ttl)?;
        let (refresh, refresh_ends) = rotated(&current.refresh, refresh, config.refresh_ttl)?;
        check_rings(&access, &refresh)?;
        self.inner.rings.store(Arc::new(Rings {
            access: prepare(access, &access_ends, ACCESS_TYP),
            refresh: prepare(refresh, &refresh_ends, REFRESH_TYP),
        }));
        tracing::info!(
            access_kid = %self.inner.rings.load().access.header.kid.as_deref().unwrap_or(""),
            "token keys rotated; the previous keys verify until their tokens expire"
        );
        Ok(())
    }

    /// Replaces both rings at once, with no grace period for keys left out: tokens signed
    /// by them are refused from now on (a compromised key). The verified-token cache is
    /// emptied, so no token of a removed key is served from it.
    pub fn replace_keys(&self, access: KeyRing, refresh: KeyRing) -> Result<(), ConfigError> {
        let _one_at_a_time = self
            .inner
            .rotating
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        check_rings(&access, &refresh)?;
        self.inner.rings.store(Arc::new(Rings {
            access: prepare(access, &[], ACCESS_TYP),
            refresh: prepare(refresh, &[], REFRESH_TYP),
        }));
        if let Some(cache) = &self.inner.cache {
            cache.clear();
        }
        Ok(())
    }

    /// The `kid`s that verify access tokens now, signing key first.
    pub fn access_kids(&self) -> Vec<String> {
        let now = self.inner.clock.unix_seconds();
        self.inner
            .rings
            .load()
            .access
            .live(now)
            .map(|k| k.key.kid.clone())
            .collect()
    }

    /// The configuration in force.
    pub fn config(&self) -> &TokenConfig {
        &self.inner.config
    }

    /// The clock in use.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Issues an access and a refresh token for a new login (a new family `sid`).
    pub fn issue_pair(&self, subject: &Subject) -> Result<TokenPair, SigningError> {
        self.issue_pair_with(subject, &new_id(), &NoExtra {})
    }

    /// Issues a pair in the family `sid` (refresh rotation keeps the family), with
    /// caller-defined extra claims on the access token.
    pub fn issue_pair_with<E: Serialize>(
        &self,
        subject: &Subject,
        sid: &str,
        extra: &E,
    ) -> Result<TokenPair, SigningError> {
        let access = self.issue(TokenType::Access, subject, sid, extra)?;
        let refresh = self.issue(TokenType::Refresh, subject, sid, &NoExtra {})?;
        let expires_in = self.inner.config.access_ttl.as_secs();
        Ok(TokenPair {
            access,
            refresh,
            sid: sid.to_string(),
            expires_in,
        })
    }

    /// Issues one token of `kind` in the family `sid`. Refresh tokens carry `sub` and
    /// `scope` only (roles and email are looked up afresh when they are used).
    pub fn issue<E: Serialize>(
        &self,
        kind: TokenType,
        subject: &Subject,
        sid: &str,
        extra: &E,
    ) -> Result<IssuedToken, SigningError> {
        let config = &self.inner.config;
        let now = self.inner.clock.unix_seconds();
        let rings = self.inner.rings.load();
        let (ring, ttl) = match kind {
            TokenType::Access => (&rings.access, config.access_ttl),
            TokenType::Refresh => (&rings.refresh, config.refresh_ttl),
        };
        let access = kind == TokenType::Access;
        let claims = Claims {
            sub: subject.id.clone(),
            exp: now.saturating_add(ttl.as_secs()),
            iat: now,
            nbf: now,
            jti: new_id(),
            iss: config.issuer.clone(),
            aud: config.audience.clone().map(Audience::One),
            sid: sid.to_string(),
            token_type: kind,
            email: if access { subject.email.clone() } else { None },
            roles: if access {
                subject.roles.clone()
            } else {
                Vec::new()
            },
            // Refresh tokens keep the granted scope, so a refresh can never widen it.
            scope: subject.scope.clone(),
            extra,
        };
        let signing = ring
            .keys
            .first()
            .and_then(|k| k.key.encoding.as_ref())
            .ok_or_else(|| SigningError("the signing key has no private part".into()))?;
        let token = jsonwebtoken::encode(&ring.header, &claims, signing)
            .map_err(|e| SigningError(e.to_string()))?;
        Ok(IssuedToken {
            token,
            jti: claims.jti,
            iat: claims.iat,
            exp: claims.exp,
        })
    }

    /// Verifies an access token (see the module docs for every rule).
    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        let Some(cache) = &self.inner.cache else {
            return self.verify(token, TokenType::Access);
        };
        if let Some(claims) = cache.get(token) {
            self.check_times(&claims)?;
            return Ok(claims);
        }
        let epoch = cache.epoch();
        let claims = self.verify(token, TokenType::Access)?;
        cache.insert(token, &claims, epoch);
        Ok(claims)
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
fn typ_matches(got: &str, want: &str) -> bool {
    const PREFIX: &[u8] = b"application/";
    let got = got.as_bytes();
    let got = match got.split_at_checked(PREFIX.len()) {
        Some((prefix, rest)) if !rest.is_empty() && prefix.eq_ignore_ascii_case(PREFIX) => rest,
        _ => got,
    };
    got.eq_ignore_ascii_case(want.as_bytes())
}

/// The rules both rings must meet together: a signing key that can sign, and no key
/// material shared between access and refresh tokens.
fn check_rings(access: &KeyRing, refresh: &KeyRing) -> Result<(), ConfigError> {
    for ring in [access, refresh] {
        if !ring.signing().can_sign() {
            return Err(ConfigError::NoSigningKey(ring.signing_kid().to_string()));
        }
    }
    if access.shares_material_with(refresh) {
        return Err(ConfigError::SameKeyForAccessAndRefresh);
    }
    Ok(())
}

/// A ring ready for use; `retire_at[i]` is when key `i` stops verifying (missing: never).
fn prepare(ring: KeyRing, retire_at: &[Option<u64>], typ: &'static str) -> Ring {
    let signing = ring.signing();
    let mut header = Header::new(signing.alg.to_jwt());
    header.typ = Some(typ.to_string());
    header.kid = Some(signing.kid.clone());
    let keys = ring
        .keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| PreparedKey {
            key,
            retire_at: retire_at.get(i).copied().flatten(),
        })
        .collect();
    Ring { keys, header, typ }
}

pub(crate) mod families;
#[cfg(test)]
mod rotation_tests;
#[cfg(test)]
mod tests;

impl TokenService {
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
