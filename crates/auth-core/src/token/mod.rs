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

pub(crate) mod cache;
mod claims;
mod config;
mod jwks;
#[cfg(test)]
mod jwks_tests;
mod keys;
mod rings;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Serialize;

pub use claims::{Audience, Claims, NoExtra, Subject, TokenType};
pub use config::TokenConfig;
pub use keys::{Algorithm, Key, KeyRing};
use rings::{Rings, check_rings, prepare};

use crate::clock::{Clock, SystemClock};
use crate::error::ConfigError;
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
            // Both kinds: a refresh keeps how the login authenticated.
            amr: subject.amr.clone(),
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
}

pub(crate) mod families;
#[cfg(test)]
mod rotation_tests;
#[cfg(test)]
mod tests;
