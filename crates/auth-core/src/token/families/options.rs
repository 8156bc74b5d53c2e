//! The options a [`TokenManager`](super::TokenManager) is built with: a team's extra
//! access-token claims ([`ExtraClaims`]) and how revocation is enforced
//! ([`RevocationMode`]).

use crate::credential::User;
use crate::error::StoreError;

/// A team's own access-token claims (its `tenant_id`, say), computed from the user at
/// login and computed again at every refresh, so a route that extracts
/// `Bearer<MyClaims>` accepts refreshed tokens too and sees current values.
///
/// ```
/// use auth_core::credential::User;
/// use auth_core::{ExtraClaims, StoreError};
/// use serde_json::{Map, Value, json};
///
/// #[derive(Debug)]
/// struct Tenant;
///
/// #[async_trait::async_trait]
/// impl ExtraClaims for Tenant {
///     async fn extra_claims(&self, user: &User) -> Result<Map<String, Value>, StoreError> {
///         // Look the tenant up in your own table here.
///         let mut claims = Map::new();
///         claims.insert("tenant_id".into(), json!(format!("tenant-of-{}", user.id)));
///         Ok(claims)
///     }
/// }
/// ```
///
/// Registered claim names (`sub`, `exp`, `roles`, ...) cannot be set this way: a login or
/// refresh whose hook returns one fails (500, logged), rather than issue a token whose
/// claim the verifier would refuse as a duplicate.
#[async_trait::async_trait]
pub trait ExtraClaims: Send + Sync + std::fmt::Debug {
    /// The extra claims of `user`'s next access token.
    async fn extra_claims(
        &self,
        user: &User,
    ) -> Result<serde_json::Map<String, serde_json::Value>, StoreError>;
}

/// Claim names our tokens set themselves.
pub(super) const REGISTERED_CLAIMS: [&str; 13] = [
    "sub", "exp", "iat", "nbf", "jti", "iss", "aud", "sid", "type", "email", "roles", "scope",
    "amr",
];

/// How revocation is enforced (the tutorial's two patterns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RevocationMode {
    /// Store only revoked `jti`s (and revoked families and users): cheap; the default.
    #[default]
    Blocklist,
    /// Store every issued `jti` until its `exp`; a token is accepted only while listed.
    /// More storage, more control: revoking removes the entry, and nothing unlisted (a
    /// token minted with a leaked key, say) is ever accepted.
    Allowlist,
}

impl std::str::FromStr for RevocationMode {
    type Err = crate::ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "blocklist" => Ok(Self::Blocklist),
            "allowlist" => Ok(Self::Allowlist),
            other => Err(crate::ConfigError::Invalid {
                setting: "revocation mode",
                reason: format!("`{other}` is not a mode; use `blocklist` or `allowlist`"),
            }),
        }
    }
}
