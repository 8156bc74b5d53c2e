//! What [`Auth`](super::Auth) is built from, and what it derives from them once.

use std::sync::Arc;

use crate::credential::{ApiKeys, Authenticator, UserStore};
use crate::policy::{Disclosure, RolePermissions};
use crate::session::SessionManager;
use crate::store::StateStore;
use crate::token::families::TokenManager;
use crate::token_endpoint::TokenEndpoint;

/// The parts [`Auth`] is built from ([`AuthBuilder`] assembles them).
#[derive(Debug, Clone)]
pub(crate) struct AuthParts {
    /// Tokens with their state.
    pub(crate) tokens: TokenManager,
    /// The token endpoint.
    pub(crate) endpoint: TokenEndpoint,
    /// Password logins (shared by `/token` and `/login`).
    pub(crate) authenticator: Authenticator,
    /// Cookie sessions.
    pub(crate) sessions: SessionManager,
    /// API keys.
    pub(crate) api_keys: ApiKeys,
    /// Users.
    pub(crate) users: Arc<dyn UserStore>,
    /// The state store (for health checks).
    pub(crate) store: Arc<dyn StateStore>,
    /// The role → permission table.
    pub(crate) roles: RolePermissions,
    /// Whether a 403 names what was required.
    pub(crate) disclosure: Disclosure,
    /// Third-party login, when providers are configured.
    #[cfg(feature = "third-party")]
    pub(crate) external: Option<Arc<crate::third_party::ExternalLogin>>,
    /// Maps a provider's identity to a local user.
    #[cfg(feature = "third-party")]
    pub(crate) identity: Arc<dyn crate::third_party::IdentityHook>,
    /// Resource-server mode: the trusted issuers, when configured.
    pub(crate) trusted: Option<Arc<crate::resource_server::TrustedIssuers>>,
    /// Whose forwarding headers say who the client is.
    pub(crate) proxies: crate::proxy::TrustedProxies,
    /// Passkeys, when configured.
    #[cfg(feature = "passkeys")]
    pub(crate) passkeys: Option<Arc<crate::passkey::RelyingParty>>,
}

/// [`AuthParts`] and what is derived from them once.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) parts: AuthParts,
    /// [`Auth::private_headers`]' answer for credentialed requests, built once.
    pub(super) private: [(&'static str, String); 2],
}

impl std::ops::Deref for Shared {
    type Target = AuthParts;
    fn deref(&self) -> &AuthParts {
        &self.parts
    }
}
