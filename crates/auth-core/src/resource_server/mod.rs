//! Resource-server mode: accept the access tokens of the team's own identity provider
//! (Keycloak, Auth0, Okta, Cognito, Entra ID, any OpenID Connect issuer) beside the
//! tokens this service issues itself.
//!
//! - Each [`TrustedIssuer`] names an issuer URL and the audience its tokens must carry.
//!   Keys come from OIDC discovery (`<issuer>/.well-known/openid-configuration` →
//!   `jwks_uri`), parsed with `jsonwebtoken::jwk`, cached per `kid` for the JWKS answer's
//!   `Cache-Control: max-age` (bounded to [1 minute, 24 hours]), refreshed in the
//!   background before they expire, and kept while the issuer is unreachable: a failed
//!   fetch never empties the cache.
//! - An unknown `kid` triggers at most one refetch per issuer per 30 s, shared by every
//!   request waiting for it (single flight): made-up `kid`s never flood the provider.
//! - The token's `iss` selects the issuer (exact match), without trying keys. Only the
//!   asymmetric algorithms the JWK allows are accepted (its `kty`, `crv` and `alg` must
//!   agree with the header; never `HS*`, so an RSA key can never serve as an HMAC
//!   secret); `aud` must name the configured audience; `exp` is required, `nbf` and `iat`
//!   are honoured on the injected clock, with at most 60 s of leeway.
//! - An issuer whose keys were never fetched answers [`AuthError::IssuerUnavailable`]
//!   (503): fail closed, neither 401 nor 200.
//! - A verified token becomes an [`ExternalClaims`] (issuer, subject, roles from a
//!   configurable claim path such as `realm_access.roles`, scopes from `scope` or
//!   `scp`), the principal [`Principal::External`](crate::Principal::External) on which
//!   the role and scope guards work unchanged. It gets no role its issuer did not grant.
//!
//! ```
//! use auth_core::resource_server::TrustedIssuer;
//!
//! let keycloak = TrustedIssuer::new("https://sso.example.com/realms/acme", "orders-api")?
//!     .roles_claim("realm_access.roles");
//! assert_eq!(keycloak.issuer(), "https://sso.example.com/realms/acme");
//! # Ok::<(), auth_core::ConfigError>(())
//! ```

mod keys;
mod verify;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::clock::Clock;
use crate::error::{AuthError, ConfigError, TokenError};
use crate::third_party::HttpClient;
use crate::token::cache::VerifiedCache;

use keys::IssuerKeys;

/// The largest leeway allowed for the time claims of a trusted issuer's tokens.
pub const MAX_LEEWAY_SECS: u64 = 60;

/// Verified external tokens kept (exact token string → claims), as for our own tokens.
const CACHE_CAPACITY: usize = 16 * 1024;

/// One identity provider whose access tokens this service accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrustedIssuer {
    issuer: String,
    audience: String,
    roles_claim: String,
    leeway_secs: u64,
}

impl TrustedIssuer {
    /// Trust the issuer at `issuer` (its exact `iss`, an `https://` URL, or `http://` on
    /// a loopback host for tests) for tokens whose `aud` names `audience`. Roles are read
    /// from the `roles` claim until [`TrustedIssuer::roles_claim`] says otherwise.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let issuer = issuer.into();
        let audience = audience.into();
        keys::check_url(&issuer).map_err(|reason| ConfigError::InvalidTrustedIssuer {
            issuer: issuer.clone(),
            reason,
        })?;
        if audience.trim().is_empty() {
            return Err(ConfigError::InvalidTrustedIssuer {
                issuer,
                reason: "the audience is empty: name the `aud` this service's tokens carry".into(),
            });
        }
        Ok(Self {
            issuer,
            audience,
            roles_claim: "roles".into(),
            leeway_secs: MAX_LEEWAY_SECS,
        })
    }

    /// Reads roles from this claim path, dotted for nested objects
    /// (`realm_access.roles` for Keycloak, `https://example.com/roles` for an Auth0
    /// namespaced claim: a path segment is split on `.` only when the whole name is not
    /// a claim of its own).
    #[must_use]
    pub fn roles_claim(mut self, path: impl Into<String>) -> Self {
        self.roles_claim = path.into();
        self
    }

    /// The leeway for `exp`, `nbf` and `iat`, in seconds (at most [`MAX_LEEWAY_SECS`];
    /// larger values are lowered to it).
    #[must_use]
    pub fn leeway_secs(mut self, secs: u64) -> Self {
        self.leeway_secs = secs.min(MAX_LEEWAY_SECS);
        self
    }

    /// The issuer URL (the exact `iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience its tokens must name.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The claim path roles are read from.
    pub fn roles_claim_path(&self) -> &str {
        &self.roles_claim
    }
}

/// What a trusted issuer's verified access token says: where it came from, who it names
/// and what it grants.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ExternalClaims {
    /// The issuer (`iss`), one of the trusted ones.
    pub iss: String,
    /// The subject (`sub`) at that issuer: not a user id of this service.
    pub sub: String,
    /// `ISSUER#SUBJECT`: what [`Principal::user_id`](crate::Principal::user_id) answers
    /// for it, so an issuer's subject `"1"` is never mistaken for local user 1.
    pub id: String,
    /// The roles the issuer granted (from the configured claim path; empty without it).
    pub roles: Vec<String>,
    /// The scopes the issuer granted (`scope`, space-separated, or `scp`).
    pub scopes: Vec<String>,
    /// Expiry.
    pub exp: u64,
    /// The `email` claim, when the token carries one as a string.
    pub email: Option<String>,
    /// Every claim of the token, for a team's own checks.
    pub claims: Map<String, Value>,
}

impl ExternalClaims {
    /// The scopes as one space-separated string, as our own tokens carry them.
    pub fn scope(&self) -> Option<String> {
        (!self.scopes.is_empty()).then(|| self.scopes.join(" "))
    }
}

/// The verifier of every trusted issuer's tokens (see the [module docs](self)).
pub struct TrustedIssuers {
    issuers: Vec<Arc<IssuerKeys>>,
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    cache: Option<VerifiedCache<Arc<ExternalClaims>>>,
}

impl std::fmt::Debug for TrustedIssuers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedIssuers")
            .field(
                "issuers",
                &self
                    .issuers
                    .iter()
                    .map(|i| i.config().issuer())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl TrustedIssuers {
    /// A verifier for `issuers`, fetching keys with `http` and judging time by `clock`.
    /// Two entries for one issuer are refused.
    pub fn new(
        issuers: Vec<TrustedIssuer>,
        http: Arc<dyn HttpClient>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let mut seen: Vec<&str> = Vec::new();
        for i in &issuers {
            if seen.contains(&i.issuer()) {
                return Err(ConfigError::InvalidTrustedIssuer {
                    issuer: i.issuer.clone(),
                    reason: "it is listed twice".into(),
                });
            }
            seen.push(i.issuer());
        }
        Ok(Self {
            issuers: issuers
                .into_iter()
                .map(|c| Arc::new(IssuerKeys::new(c)))
                .collect(),
            http,
            clock,
            cache: VerifiedCache::new(CACHE_CAPACITY),
        })
    }

    /// The trusted issuer a token claims to come from (its unverified `iss`, matched
    /// exactly), or `None`: then it is not a trusted issuer's token at all.
    pub fn issuer_of(&self, token: &str) -> Option<&TrustedIssuer> {
        self.issuer_named(&verify::peek_issuer(token)?)
            .map(|i| i.config())
    }

    /// Fetches every issuer's keys now (at start-up, so the first requests need not
    /// wait); returns each issuer with the reason its fetch failed, if it did. A failure
    /// is not fatal: requests for that issuer answer 503 until a later fetch succeeds.
    pub async fn prefetch(&self) -> Vec<(String, Option<String>)> {
        let now = self.clock.unix_seconds();
        let mut out = Vec::with_capacity(self.issuers.len());
        for issuer in &self.issuers {
            let failed = issuer.fetch_now(&*self.http, now).await.err();
            out.push((issuer.config().issuer().to_string(), failed));
        }
        out
    }

    /// Verifies a token of a trusted issuer (see the [module docs](self) for every rule).
    /// [`AuthError::InvalidToken`] for any refusal, [`AuthError::IssuerUnavailable`] when
    /// its issuer's keys were never fetched.
    pub async fn verify(&self, token: &str) -> Result<Arc<ExternalClaims>, AuthError> {
        self.verify_if_trusted(token)
            .await
            .unwrap_or_else(|| Err(TokenError::WrongIssuer.into()))
    }

    /// [`TrustedIssuers::verify`] for a token whose `iss` names a trusted issuer, `None`
    /// for any other (then it is not a trusted issuer's token: [`issuer_of`] is `None`).
    /// A token verified before is found in the cache by its exact string, so its payload
    /// is not decoded again to find its issuer; any other is decoded once.
    ///
    /// [`issuer_of`]: TrustedIssuers::issuer_of
    pub async fn verify_if_trusted(
        &self,
        token: &str,
    ) -> Option<Result<Arc<ExternalClaims>, AuthError>> {
        if let Some(hit) = self.cached(token.as_bytes()) {
            return Some(hit);
        }
        let now = self.clock.unix_seconds();
        let issuer = self.issuer_named(&verify::peek_issuer(token)?)?;
        self.refresh_keys(issuer, now);
        let epoch = self.cache.as_ref().map_or(0, VerifiedCache::epoch);
        let claims = match verify::verify(issuer, &*self.http, token, now).await {
            Ok(claims) => Arc::new(claims),
            Err(e) => return Some(Err(e)),
        };
        if let Some(cache) = &self.cache {
            if issuer.take_keys_changed() {
                cache.clear();
            } else {
                // Inserted under the epoch read before verifying: a clear that raced with
                // this verification makes the entry unservable.
                cache.insert(token, &claims, epoch);
            }
        }
        Some(Ok(claims))
    }

    /// The claims of a token this cache holds, found by its bytes (a header value need
    /// not be checked as text first: only verified tokens entered), its time rules
    /// checked; `None` on a miss, or when its issuer's keys changed since (the cache is
    /// emptied and the token must be verified again).
    pub(crate) fn cached(&self, token: &[u8]) -> Option<Result<Arc<ExternalClaims>, AuthError>> {
        let hit = self.cache.as_ref()?.get(token)?;
        let now = self.clock.unix_seconds();
        // The cached claims name their issuer: no payload is decoded to find it.
        let issuer = self.issuer_named(&hit.iss)?;
        if self.refresh_keys(issuer, now) {
            return None;
        }
        Some(verify::time_rules_on_hit(&hit, issuer.config(), now).map(|()| hit))
    }

    /// Starts a due refresh of `issuer`'s keys in the background, whatever the fate of
    /// the token at hand; when a key was removed or replaced since the last look, empties
    /// the cache (nothing verified under the old set is served) and says so.
    fn refresh_keys(&self, issuer: &Arc<IssuerKeys>, now: u64) -> bool {
        issuer.refresh_if_due(&self.http, now);
        let changed = issuer.take_keys_changed();
        if changed && let Some(cache) = &self.cache {
            cache.clear();
        }
        changed
    }

    /// The trusted issuer whose URL is exactly `iss`.
    fn issuer_named(&self, iss: &str) -> Option<&Arc<IssuerKeys>> {
        self.issuers.iter().find(|i| i.config().issuer() == iss)
    }
}

#[cfg(test)]
mod tests;
