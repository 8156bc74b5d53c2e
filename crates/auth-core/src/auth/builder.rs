//! [`AuthBuilder`]: secure defaults, every part of an [`Auth`] chosen in one place.

use std::sync::Arc;

use super::{Auth, AuthParts};
use crate::credential::{Authenticator, UserStore};
use crate::policy::{Disclosure, RolePermissions};
use crate::session::SessionManager;
use crate::store::StateStore;
use crate::token::families::TokenManager;
use crate::token_endpoint::TokenEndpoint;

/// Builds an [`Auth`] with secure defaults: the two token secrets and a user store are
/// required; the library ships no users and no default credentials.
///
/// Defaults: the in-memory state store (one process only: logout, revocation and
/// throttling stay local to it, and a warning is logged at build; select a shared store
/// with `.store(Arc::new(auth_redis::RedisStore::connect(url, "myapp").await?))` or
/// `.store(Arc::new(auth_sqlx::SqlStore::connect(url).await?))`),
/// argon2id at OWASP's parameters, 15-minute access and 30-day refresh tokens, default
/// throttling and cookie settings, API keys in the `X-API-Key` header, an empty role
/// table (no role grants any permission, so every `Requirement::permission` guard
/// refuses, until you hand your own table to [`AuthBuilder::roles`]), and 403s that name
/// what was required.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use auth_core::credential::{MemoryUsers, PasswordParams, Passwords, User};
///
/// // Your users: implement `UserStore` over your table, or fill a `MemoryUsers`.
/// let users = MemoryUsers::new();
/// let hash = Passwords::new(PasswordParams::default())?.hash("correct horse".into()).await?;
/// users.insert(User {
///     id: "1".into(),
///     username: "alice".into(),
///     email: Some("alice@example.com".into()),
///     roles: vec!["admin".into()],
///     password_hash: hash,
///     disabled: false,
///     data: serde_json::Value::Null,
/// });
/// // Secrets come from the environment in a real service (a random secret logs
/// // everyone out at every restart).
/// let auth = auth_core::AuthBuilder::new(b"access-secret-of-at-least-32-bytes", b"refresh-secret-of-at-least-32-byte")
///     .users(Arc::new(users))
///     .issuer("my-app")
///     .build()?;
/// let alice = auth.users().find_by_username("alice").await?.unwrap();
/// let pair = auth.tokens().login(&alice, None).await?;
/// assert_eq!(auth.tokens().authenticate(&pair.access.token).await?.sub, "1");
///
/// // Without a user store, building fails and says the fix.
/// let err = auth_core::AuthBuilder::new(b"access-secret-of-at-least-32-bytes", b"refresh-secret-of-at-least-32-byte")
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("AuthBuilder::users"));
/// # Ok(()) }
/// ```
pub struct AuthBuilder {
    access: Vec<u8>,
    refresh: Vec<u8>,
    tokens: crate::token::TokenConfig,
    store: Option<Arc<dyn StateStore>>,
    users: Option<Arc<dyn UserStore>>,
    api_keys: Option<Arc<dyn crate::credential::ApiKeyStore>>,
    api_key_config: crate::credential::ApiKeyConfig,
    passwords: crate::credential::PasswordParams,
    throttle: crate::credential::ThrottleConfig,
    sessions: crate::session::SessionConfig,
    scopes: crate::token_endpoint::ScopePolicy,
    roles: RolePermissions,
    disclosure: Disclosure,
    clock: Arc<dyn crate::clock::Clock>,
    mode: crate::token::families::RevocationMode,
    #[cfg(feature = "third-party")]
    providers: crate::third_party::Providers,
    #[cfg(feature = "third-party")]
    http: Option<Arc<dyn crate::third_party::HttpClient>>,
    #[cfg(feature = "third-party")]
    identity: Option<Arc<dyn crate::third_party::IdentityHook>>,
    proxies: crate::proxy::TrustedProxies,
    trusted: Option<(
        Vec<crate::resource_server::TrustedIssuer>,
        Arc<dyn crate::third_party::HttpClient>,
    )>,
    extra_claims: Option<Arc<dyn crate::token::families::ExtraClaims>>,
    session_data: Option<Arc<dyn crate::session::SessionData>>,
    rings: Option<(crate::token::KeyRing, crate::token::KeyRing)>,
    second_factor: Option<crate::mfa::Totp>,
    #[cfg(feature = "passkeys")]
    passkeys: Option<crate::passkey::PasskeyConfig>,
}

impl std::fmt::Debug for AuthBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthBuilder")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl AuthBuilder {
    /// A builder with the HS256 secrets for access and refresh tokens (each ≥ 32 bytes,
    /// and different: checked by [`AuthBuilder::build`]). Their `kid`s are derived from
    /// the secrets ([`derived_kid`](crate::token::derived_kid)); for kids of your own,
    /// asymmetric keys or a previous key that still verifies, add
    /// [`AuthBuilder::key_rings`].
    pub fn new(access_secret: &[u8], refresh_secret: &[u8]) -> Self {
        Self {
            access: access_secret.to_vec(),
            refresh: refresh_secret.to_vec(),
            tokens: crate::token::TokenConfig::default(),
            store: None,
            users: None,
            api_keys: None,
            api_key_config: crate::credential::ApiKeyConfig::default(),
            passwords: crate::credential::PasswordParams::default(),
            throttle: crate::credential::ThrottleConfig::default(),
            sessions: crate::session::SessionConfig::default(),
            scopes: crate::token_endpoint::ScopePolicy::new(),
            roles: RolePermissions::new(),
            disclosure: Disclosure::Name,
            clock: Arc::new(crate::clock::SystemClock),
            mode: crate::token::families::RevocationMode::Blocklist,
            #[cfg(feature = "third-party")]
            providers: crate::third_party::Providers::new(),
            #[cfg(feature = "third-party")]
            http: None,
            #[cfg(feature = "third-party")]
            identity: None,
            trusted: None,
            second_factor: None,
            proxies: crate::proxy::TrustedProxies::default(),
            extra_claims: None,
            session_data: None,
            rings: None,
            #[cfg(feature = "passkeys")]
            passkeys: None,
        }
    }

    /// The token keys as key rings, instead of the HMAC shortcut of
    /// [`AuthBuilder::new`]: asymmetric keys (RS256, PS256, ES256, EdDSA from PEM), kids of
    /// your choosing, and previous keys that still verify (start after a rotation without
    /// logging anyone out: the previous key in the ring, the new one signing). The access
    /// secret given to `new` still keys the third-party login's state cookie.
    ///
    /// ```
    /// use auth_core::token::{Algorithm, Key, KeyRing};
    /// # fn run(users: std::sync::Arc<auth_core::credential::MemoryUsers>) -> Result<(), auth_core::ConfigError> {
    /// let access = KeyRing::new(Key::hmac("access-2026-12", Algorithm::HS256, b"the current access secret, 32 b+")?)
    ///     .with_key(Key::hmac("access-2026-11", Algorithm::HS256, b"the previous access secret, 32 b")?)?;
    /// let refresh = KeyRing::new(Key::hmac("refresh-2026-12", Algorithm::HS256, b"the current refresh secret, 32b+")?);
    /// let auth = auth_core::AuthBuilder::new(b"login-state-secret-of-at-least-32-b", b"unused-when-rings-are-given-32-byte")
    ///     .key_rings(access, refresh)
    ///     .users(users)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn key_rings(
        mut self,
        access: crate::token::KeyRing,
        refresh: crate::token::KeyRing,
    ) -> Self {
        self.rings = Some((access, refresh));
        self
    }

    /// Turns on the second factor: TOTP (RFC 6238) with recovery codes, its secrets
    /// sealed at rest with `key` (32 bytes from your secret store: a lost key locks every
    /// enrolled user out of their authenticator app, leaving only recovery codes), named
    /// `issuer` in authenticator apps. Users who confirm an enrolment are then asked for
    /// a code after their password, at `/token` (`mfa_required`, then the `mfa_otp`
    /// grant) and `/login` (then `/login/mfa`).
    ///
    /// ```
    /// use auth_core::mfa::MfaKey;
    /// # let users = std::sync::Arc::new(auth_core::credential::MemoryUsers::new());
    /// let key = MfaKey::new(&[7u8; 32])?; // from your secret store, never the source
    /// let auth = auth_core::AuthBuilder::new(b"access-secret-of-at-least-32-bytes", b"refresh-secret-of-at-least-32-byte")
    ///     .users(users)
    ///     .second_factor(key, "Acme")
    ///     .build()?;
    /// assert!(auth.second_factor().is_some());
    /// # Ok::<(), auth_core::ConfigError>(())
    /// ```
    pub fn second_factor(mut self, key: crate::mfa::MfaKey, issuer: impl Into<String>) -> Self {
        self.second_factor = Some(crate::mfa::Totp::new(key, issuer));
        self
    }

    /// Your per-session data, attached when a login starts a session (the ready-made
    /// `/login` and third-party login); see [`SessionData`](crate::session::SessionData).
    /// Change it during the session with
    /// [`SessionManager::update_data`](crate::session::SessionManager::update_data).
    pub fn session_data(mut self, hook: Arc<dyn crate::session::SessionData>) -> Self {
        self.session_data = Some(hook);
        self
    }

    /// Your own access-token claims, computed from the user at login and again at every
    /// refresh (so `Bearer<MyClaims>` routes accept refreshed tokens); see
    /// [`ExtraClaims`](crate::ExtraClaims).
    pub fn extra_claims(mut self, hook: Arc<dyn crate::token::families::ExtraClaims>) -> Self {
        self.extra_claims = Some(hook);
        self
    }

    /// Third-party login providers, and the HTTP client that talks to them (with the
    /// `reqwest-client` feature, `third_party::ReqwestClient`). Feature `third-party`.
    #[cfg(feature = "third-party")]
    pub fn external_login(
        mut self,
        providers: crate::third_party::Providers,
        http: Arc<dyn crate::third_party::HttpClient>,
    ) -> Self {
        self.providers = providers;
        self.http = Some(http);
        self
    }

    /// How a provider's identity becomes a local user (default:
    /// [`LinkByEmail`](crate::third_party::LinkByEmail) over the user store, new users with
    /// role `viewer`). Feature `third-party`.
    #[cfg(feature = "third-party")]
    pub fn identity_hook(mut self, hook: Arc<dyn crate::third_party::IdentityHook>) -> Self {
        self.identity = Some(hook);
        self
    }

    /// Resource-server mode: also accept the access tokens of these identity providers
    /// (see [`resource_server`](crate::resource_server)), fetching their keys with `http`
    /// (with the `reqwest-client` feature, `third_party::ReqwestClient`). Call
    /// [`Auth::prefetch_issuer_keys`] at start-up so the first requests need not wait.
    ///
    /// ```
    /// # fn run(http: std::sync::Arc<dyn auth_core::third_party::HttpClient>) -> Result<(), auth_core::ConfigError> {
    /// use auth_core::resource_server::TrustedIssuer;
    /// let auth = auth_core::AuthBuilder::new(&[1; 32], &[2; 32])
    ///     .users(std::sync::Arc::new(auth_core::credential::MemoryUsers::new()))
    ///     .trusted_issuers(
    ///         vec![TrustedIssuer::new("https://acme.eu.auth0.com/", "https://orders.acme.com")?
    ///             .roles_claim("https://acme.com/roles")],
    ///         http,
    ///     )
    ///     .build()?;
    /// # let _ = auth; Ok(()) }
    /// ```
    pub fn trusted_issuers(
        mut self,
        issuers: Vec<crate::resource_server::TrustedIssuer>,
        http: Arc<dyn crate::third_party::HttpClient>,
    ) -> Self {
        self.trusted = Some((issuers, http));
        self
    }

    /// The proxies (load balancers, reverse proxies) whose `Forwarded` /
    /// `X-Forwarded-For` headers say who the client is; see
    /// [`proxy`](crate::proxy). Default: none, the client is the socket peer.
    pub fn trusted_proxies(mut self, proxies: crate::proxy::TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// Passkeys (WebAuthn) for the origin in `config`: the `/webauthn/…` endpoints
    /// answer (without this call they answer 404). See [`passkey`](crate::passkey).
    /// Feature `passkeys`.
    #[cfg(feature = "passkeys")]
    pub fn passkeys(mut self, config: crate::passkey::PasskeyConfig) -> Self {
        self.passkeys = Some(config);
        self
    }

    /// Sets `iss` (issued and required).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.tokens.issuer = Some(issuer.into());
        self
    }

    /// Sets `aud` (issued and required).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.tokens.audience = Some(audience.into());
        self
    }

    /// Replaces the token settings (lifetimes, leeway, size limit; issuer and audience).
    pub fn token_config(mut self, config: crate::token::TokenConfig) -> Self {
        self.tokens = config;
        self
    }

    /// The state store. Default: in memory, for one process only (a warning is logged at
    /// build when it is chosen this way). Several instances share state through Redis,
    /// `.store(Arc::new(auth_redis::RedisStore::connect(url, "myapp").await?))`, or a SQL
    /// database, `.store(Arc::new(auth_sqlx::SqlStore::connect(url).await?))`.
    pub fn store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The user store (required: [`AuthBuilder::build`] refuses to build without one).
    pub fn users(mut self, users: Arc<dyn UserStore>) -> Self {
        self.users = Some(users);
        self
    }

    /// The API key store and settings (default: empty, in memory, header only).
    pub fn api_keys(
        mut self,
        store: Arc<dyn crate::credential::ApiKeyStore>,
        config: crate::credential::ApiKeyConfig,
    ) -> Self {
        self.api_keys = Some(store);
        self.api_key_config = config;
        self
    }

    /// argon2id parameters for new hashes.
    pub fn password_params(mut self, params: crate::credential::PasswordParams) -> Self {
        self.passwords = params;
        self
    }

    /// Login throttling thresholds.
    pub fn throttle(mut self, config: crate::credential::ThrottleConfig) -> Self {
        self.throttle = config;
        self
    }

    /// Session and cookie settings.
    pub fn sessions(mut self, config: crate::session::SessionConfig) -> Self {
        self.sessions = config;
        self
    }

    /// Which OAuth scopes each role may be granted.
    pub fn scopes(mut self, scopes: crate::token_endpoint::ScopePolicy) -> Self {
        self.scopes = scopes;
        self
    }

    /// The role → permission table that permission requirements
    /// ([`Requirement::permission`](crate::policy::Requirement::permission), the
    /// adapters' `require_permission`) are checked against, and the role inheritance role
    /// requirements follow.
    ///
    /// Without this call the table is empty: no role grants any permission, so every
    /// permission guard answers 403. The library ships no roles of its own.
    ///
    /// ```
    /// use auth_core::policy::RolePermissions;
    /// # fn run(users: std::sync::Arc<auth_core::credential::MemoryUsers>) -> Result<(), auth_core::ConfigError> {
    /// let auth = auth_core::AuthBuilder::new(b"access-secret-of-at-least-32-bytes", b"refresh-secret-of-at-least-32-byte")
    ///     .users(users)
    ///     .roles(
    ///         RolePermissions::new()
    ///             .grant("support", ["read_tickets"])
    ///             .grant("lead", ["close_tickets"])
    ///             .inherit("lead", "support"),
    ///     )
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn roles(mut self, roles: RolePermissions) -> Self {
        self.roles = roles;
        self
    }

    /// Whether a 403 names what was required.
    pub fn disclosure(mut self, disclosure: Disclosure) -> Self {
        self.disclosure = disclosure;
        self
    }

    /// Blocklist (default) or allowlist revocation.
    pub fn revocation_mode(mut self, mode: crate::token::families::RevocationMode) -> Self {
        self.mode = mode;
        self
    }

    /// The clock (tests pass a `ManualClock`).
    pub fn clock(mut self, clock: Arc<dyn crate::clock::Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds, refusing weak or shared secrets and insecure settings with a
    /// [`ConfigError`](crate::ConfigError) that says the fix.
    pub fn build(self) -> Result<Auth, crate::ConfigError> {
        use crate::credential::{ApiKeys, LoginThrottle, MemoryApiKeys, Passwords};
        use crate::token::{Algorithm, Key, KeyRing, TokenService};
        let users = self.users.ok_or(crate::ConfigError::NoUserStore)?;
        let store = match self.store {
            Some(store) => store,
            None => {
                tracing::warn!(
                    "no state store configured: using the in-memory store, so logout, \
                     revocation and login throttling stay local to this process; pass a \
                     shared store with AuthBuilder::store for more than one instance"
                );
                Arc::new(crate::store::MemoryStore::with_clock(self.clock.clone()))
            }
        };
        let (access_ring, refresh_ring) = match self.rings {
            Some(rings) => rings,
            None => (
                KeyRing::new(Key::hmac(
                    crate::token::derived_kid(&self.access),
                    Algorithm::HS256,
                    &self.access,
                )?),
                KeyRing::new(Key::hmac(
                    crate::token::derived_kid(&self.refresh),
                    Algorithm::HS256,
                    &self.refresh,
                )?),
            ),
        };
        let tokens =
            TokenService::with_clock(access_ring, refresh_ring, self.tokens, self.clock.clone())?;
        let throttle = LoginThrottle::new(self.throttle, store.clone());
        let mut authenticator =
            Authenticator::new(users.clone(), Passwords::new(self.passwords)?, throttle);
        if let Some(totp) = self.second_factor {
            authenticator = authenticator.with_second_factor(crate::mfa::SecondFactor::new(
                totp,
                store.clone(),
                self.clock.clone(),
            ));
        }
        let mut manager =
            TokenManager::new(tokens, users.clone(), store.clone()).with_mode(self.mode);
        if let Some(hook) = self.extra_claims {
            manager = manager.with_extra_claims(hook);
        }
        let endpoint = TokenEndpoint::new(authenticator.clone(), manager.clone(), self.scopes);
        let mut sessions = SessionManager::new(self.sessions, store.clone(), self.clock.clone())?;
        if let Some(hook) = self.session_data {
            sessions = sessions.with_data_hook(hook);
        }
        sessions = sessions.with_users(users.clone());
        let key_store = self
            .api_keys
            .unwrap_or_else(|| Arc::new(MemoryApiKeys::new()));
        #[cfg(feature = "third-party")]
        let external = match (&self.http, self.providers.is_empty()) {
            (Some(http), false) => Some(Arc::new(crate::third_party::ExternalLogin::new(
                &self.providers,
                http.clone(),
                store.clone(),
                self.clock.clone(),
                &self.access,
                sessions.config().secure,
            )?)),
            (None, false) => {
                return Err(crate::ConfigError::Invalid {
                    setting: "external login",
                    reason: "providers are configured without an HTTP client; pass one to AuthBuilder::external_login".into(),
                });
            }
            _ => None,
        };
        #[cfg(feature = "third-party")]
        let identity = self.identity.unwrap_or_else(|| {
            let links: Arc<dyn crate::store::IdentityLinks> = store.clone();
            Arc::new(
                crate::third_party::LinkByEmail::new(users.clone(), vec!["viewer".into()])
                    .with_links(links),
            )
        });
        let trusted = match self.trusted {
            Some((issuers, http)) if !issuers.is_empty() => Some(Arc::new(
                crate::resource_server::TrustedIssuers::new(issuers, http, self.clock.clone())?,
            )),
            _ => None,
        };
        #[cfg(feature = "passkeys")]
        let passkeys = match &self.passkeys {
            Some(config) => Some(crate::passkey::RelyingParty::new(
                config,
                sessions.config().secure,
            )?),
            None => None,
        };
        let api_keys = ApiKeys::new(self.api_key_config, key_store, self.clock)?;
        Ok(Auth::new(AuthParts {
            tokens: manager,
            endpoint,
            authenticator,
            sessions,
            api_keys,
            users,
            store,
            roles: self.roles,
            disclosure: self.disclosure,
            #[cfg(feature = "third-party")]
            external,
            #[cfg(feature = "third-party")]
            identity,
            trusted,
            proxies: self.proxies,
            #[cfg(feature = "passkeys")]
            passkeys,
        }))
    }
}
