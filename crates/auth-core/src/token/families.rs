//! Token families: tokens with server-side state (login families, refresh rotation with
//! reuse detection, revocation, the per-request check). `TokenManager` lives here, beside
//! the stateless `TokenService` it builds on.

use std::sync::Arc;

use crate::credential::{User, UserStore};
use crate::error::{AuthError, StoreError, TokenError};
use crate::store::{Family, Rotation, StateStore, TokenMeta, TokenRef, TokenStatus};
use crate::token::{Claims, Subject, TokenPair, TokenService};

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
const REGISTERED_CLAIMS: [&str; 13] = [
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

/// Issues, refreshes, checks and revokes tokens on top of the state stores. Cheap to clone.
///
/// Every failure to reach a store is [`AuthError::StoreUnavailable`] (503): nothing is
/// ever allowed because the store could not be asked.
#[derive(Debug, Clone)]
pub struct TokenManager {
    tokens: TokenService,
    users: Arc<dyn UserStore>,
    store: Arc<dyn StateStore>,
    mode: RevocationMode,
    extra: Option<Arc<dyn ExtraClaims>>,
}

/// The subject a user's tokens are issued to.
pub fn subject_of(user: &User, scope: Option<String>) -> Subject {
    Subject {
        id: user.id.clone(),
        email: user.email.clone(),
        roles: user.roles.clone(),
        scope,
    }
}

impl TokenManager {
    /// A manager over `store` (the in-memory `MemoryStore` or the Redis store).
    pub fn new(
        tokens: TokenService,
        users: Arc<dyn UserStore>,
        store: Arc<dyn StateStore>,
    ) -> Self {
        Self {
            tokens,
            users,
            store,
            mode: RevocationMode::Blocklist,
            extra: None,
        }
    }

    /// The same manager enforcing `mode`, on the issuing and the checking paths alike.
    pub fn with_mode(mut self, mode: RevocationMode) -> Self {
        self.mode = mode;
        self
    }

    /// The same manager adding `hook`'s claims to every access token it issues, at login
    /// and at every refresh.
    pub fn with_extra_claims(mut self, hook: Arc<dyn ExtraClaims>) -> Self {
        self.extra = Some(hook);
        self
    }

    /// `user`'s extra claims (none without a hook).
    async fn extra_for(
        &self,
        user: &User,
    ) -> Result<serde_json::Map<String, serde_json::Value>, AuthError> {
        let Some(hook) = &self.extra else {
            return Ok(serde_json::Map::new());
        };
        let claims = hook.extra_claims(user).await?;
        if let Some(name) = claims
            .keys()
            .find(|k| REGISTERED_CLAIMS.contains(&k.as_str()))
        {
            tracing::error!(
                claim = %name,
                "the ExtraClaims hook returned a registered claim name; use another name"
            );
            return Err(AuthError::Internal);
        }
        Ok(claims)
    }

    /// The revocation mode in force.
    pub fn mode(&self) -> RevocationMode {
        self.mode
    }

    /// Allowlist mode: lists both tokens of a freshly issued pair.
    async fn list_pair(
        &self,
        sub: &str,
        pair: &TokenPair,
        meta: &TokenMeta,
    ) -> Result<(), AuthError> {
        if self.mode == RevocationMode::Allowlist {
            let iss = self.iss();
            for t in [&pair.access, &pair.refresh] {
                let r = TokenRef {
                    iss,
                    jti: &t.jti,
                    sid: &pair.sid,
                    sub,
                    iat: t.iat,
                    exp: self.valid_until(t.exp),
                };
                self.store.list_token(&r, meta).await?;
            }
        }
        Ok(())
    }

    async fn status(&self, r: &TokenRef<'_>) -> Result<TokenStatus, AuthError> {
        Ok(match self.mode {
            RevocationMode::Blocklist => self.store.check(r).await?,
            RevocationMode::Allowlist => self.store.check_listed(r).await?,
        })
    }

    /// The state store.
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    /// The stateless token service underneath.
    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    fn iss(&self) -> &str {
        self.tokens.config().issuer.as_deref().unwrap_or("")
    }

    fn token_ref<'a, E>(&'a self, c: &'a Claims<E>) -> TokenRef<'a> {
        TokenRef {
            iss: self.iss(),
            jti: &c.jti,
            sid: &c.sid,
            sub: &c.sub,
            iat: c.iat,
            exp: self.valid_until(c.exp),
        }
    }

    /// The last moment a token expiring at `exp` still verifies: `exp` plus the
    /// verification leeway. Revocation entries live until then, so a revoked token cannot
    /// come back to life in the leeway after its blocklist entry expired.
    fn valid_until(&self, exp: u64) -> u64 {
        exp.saturating_add(self.tokens.config().leeway.as_secs())
    }

    /// The latest moment any token issued now can still be valid (for revocation TTLs).
    fn horizon(&self) -> u64 {
        let c = self.tokens.config();
        self.tokens.clock().unix_seconds()
            + c.refresh_ttl.max(c.access_ttl).as_secs()
            + c.leeway.as_secs()
    }

    /// A new login: a fresh family and its first token pair.
    pub async fn login(&self, user: &User, scope: Option<String>) -> Result<TokenPair, AuthError> {
        let meta = TokenMeta {
            issued: self.tokens.clock().unix_seconds(),
            ..TokenMeta::default()
        };
        self.login_with_meta(user, scope, &meta).await
    }

    /// As [`TokenManager::login`], recording what is known of the client (address, user
    /// agent) with the allowlist entries.
    pub async fn login_with_meta(
        &self,
        user: &User,
        scope: Option<String>,
        meta: &TokenMeta,
    ) -> Result<TokenPair, AuthError> {
        let extra = self.extra_for(user).await?;
        let pair = self
            .tokens
            .issue_pair_with(&subject_of(user, scope), &crate::ids::new_id(), &extra)
            .map_err(internal)?;
        self.store
            .start(&user.id, &pair.sid, &pair.refresh.jti, pair.refresh.exp)
            .await?;
        self.list_pair(&user.id, &pair, meta).await?;
        Ok(pair)
    }

    /// Verifies an access token and checks it against every revocation rule (one store
    /// round trip).
    pub async fn authenticate(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.tokens.verify_access(token)?;
        self.check(&claims).await?;
        Ok(claims)
    }

    /// As [`TokenManager::authenticate`], for tokens carrying caller-defined claims `E`.
    pub async fn authenticate_as<E: serde::de::DeserializeOwned + 'static>(
        &self,
        token: &str,
    ) -> Result<Claims<E>, AuthError> {
        let claims = self.tokens.verify_access_as::<E>(token)?;
        self.check(&claims).await?;
        Ok(claims)
    }

    /// The revocation check alone, for claims verified elsewhere.
    pub async fn check<E>(&self, claims: &Claims<E>) -> Result<(), AuthError> {
        match self.status(&self.token_ref(claims)).await? {
            TokenStatus::Active => Ok(()),
            TokenStatus::Revoked => Err(TokenError::Revoked.into()),
        }
    }

    /// Rotates a refresh token: verifies it, consumes it, and returns a new pair in the
    /// same family. Presenting an already used refresh token revokes the whole family
    /// (access tokens included) and fails. Roles and email are read afresh from the user
    /// store; the scope can only stay or narrow (`scope`, if given, must be a subset).
    pub async fn refresh(
        &self,
        refresh_token: &str,
        scope: Option<&str>,
    ) -> Result<(TokenPair, User), AuthError> {
        let claims = self.tokens.verify_refresh(refresh_token)?;
        if self.status(&self.token_ref(&claims)).await? == TokenStatus::Revoked {
            return Err(TokenError::Revoked.into());
        }
        let user = match self.users.find_by_id(&claims.sub).await? {
            Some(u) if !u.disabled => u,
            _ => return Err(TokenError::Revoked.into()),
        };
        let granted = match scope {
            None => claims.scope.clone(),
            Some(requested) => {
                let had: Vec<&str> = claims.scopes().collect();
                if requested
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .any(|s| !had.contains(&s))
                {
                    return Err(AuthError::oauth(
                        crate::OAuthErrorCode::InvalidScope,
                        "A refresh can only keep or narrow the granted scope",
                    ));
                }
                Some(requested.to_string())
            }
        };
        // Extra claims are computed again from the current user: a refreshed token
        // carries them (a `Bearer<MyClaims>` route keeps accepting it) with fresh values.
        let extra = self.extra_for(&user).await?;
        let pair = self
            .tokens
            .issue_pair_with(&subject_of(&user, granted), &claims.sid, &extra)
            .map_err(internal)?;
        match self
            .store
            .rotate(
                &claims.sub,
                &claims.sid,
                &claims.jti,
                &pair.refresh.jti,
                pair.refresh.exp,
            )
            .await?
        {
            Rotation::Rotated => {
                let meta = TokenMeta {
                    issued: self.tokens.clock().unix_seconds(),
                    ..TokenMeta::default()
                };
                self.list_pair(&claims.sub, &pair, &meta).await?;
                Ok((pair, user))
            }
            Rotation::Reused => {
                tracing::warn!(user_id = %claims.sub, "refresh token reuse detected; the login's tokens are revoked");
                Err(TokenError::Revoked.into())
            }
            Rotation::Unknown => Err(TokenError::Revoked.into()),
        }
    }

    /// Logs out one login: the access token's `jti` is blocked until its `exp` and its
    /// family (every access and refresh token of that login) is revoked.
    pub async fn logout<E>(&self, claims: &Claims<E>) -> Result<(), AuthError> {
        self.store.revoke_token(&self.token_ref(claims)).await?;
        self.store
            .revoke_family(&claims.sub, &claims.sid, self.horizon())
            .await?;
        Ok(())
    }

    /// "Log out everywhere": every token issued to `sub` until now is refused and every
    /// cookie session of the user ends.
    pub async fn logout_all(&self, sub: &str) -> Result<(), AuthError> {
        let now = self.tokens.clock().unix_seconds();
        self.store.revoke_user(sub, now, self.horizon()).await?;
        self.store.remove_user_sessions(sub).await?;
        Ok(())
    }

    /// The user's live logins (token families).
    pub async fn families(&self, sub: &str) -> Result<Vec<Family>, AuthError> {
        Ok(self.store.families(sub).await?)
    }

    /// Revokes one of the user's families; `false` if `sid` is not a live family of `sub`
    /// (another user's id is indistinguishable from an unknown one).
    pub async fn revoke_family(&self, sub: &str, sid: &str) -> Result<bool, AuthError> {
        let owned = self.store.families(sub).await?.iter().any(|f| f.sid == sid);
        if owned {
            self.store.revoke_family(sub, sid, self.horizon()).await?;
        }
        Ok(owned)
    }
}

fn internal(e: crate::token::SigningError) -> AuthError {
    tracing::error!(error = %e, "token signing failed");
    AuthError::Internal
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::TokenManager;
    use crate::clock::{Clock, ManualClock};
    use crate::credential::{MemoryUsers, User};
    use crate::error::{AuthError, TokenError};
    use crate::request::SimpleRequest;
    use crate::session::{SessionConfig, SessionManager};
    use crate::store::{MemoryStore, StateStore};
    use crate::token::{Algorithm, Key, KeyRing, TokenConfig, TokenService};

    fn alice() -> User {
        User {
            id: "1".into(),
            username: "alice".into(),
            email: Some("alice@example.com".into()),
            roles: vec!["admin".into()],
            password_hash: String::new(),
            disabled: false,
        }
    }

    fn setup() -> (TokenManager, SessionManager, Arc<ManualClock>) {
        let (m, sessions, clock, _) = setup_with_users();
        (m, sessions, clock)
    }

    fn setup_with_users() -> (
        TokenManager,
        SessionManager,
        Arc<ManualClock>,
        Arc<MemoryUsers>,
    ) {
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::with_clock(clock.clone()));
        let users = Arc::new(MemoryUsers::new());
        users.insert(alice());
        let tokens = TokenService::with_clock(
            KeyRing::new(Key::hmac("a", Algorithm::HS256, &[1; 32]).unwrap()),
            KeyRing::new(Key::hmac("r", Algorithm::HS256, &[2; 32]).unwrap()),
            TokenConfig::default(),
            clock.clone(),
        )
        .unwrap();
        let sessions =
            SessionManager::new(SessionConfig::default(), store.clone(), clock.clone()).unwrap();
        (
            TokenManager::new(tokens, users.clone(), store),
            sessions,
            clock,
            users,
        )
    }

    #[derive(Debug)]
    struct Tenant(std::sync::Mutex<String>);

    #[async_trait::async_trait]
    impl super::ExtraClaims for Tenant {
        async fn extra_claims(
            &self,
            _: &User,
        ) -> Result<serde_json::Map<String, serde_json::Value>, crate::StoreError> {
            let mut m = serde_json::Map::new();
            let tenant = self.0.lock().unwrap().clone();
            m.insert("tenant_id".into(), serde_json::json!(tenant));
            Ok(m)
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct TenantClaims {
        tenant_id: String,
    }

    /// A team's typed extra claims survive refresh (computed again from the user, so a
    /// changed value shows in the refreshed token); a registered name is refused.
    #[tokio::test]
    async fn extra_claims_are_on_login_and_refreshed_tokens() {
        let (m, _, _) = setup();
        let hook = Arc::new(Tenant(std::sync::Mutex::new("t1".into())));
        let m = m.with_extra_claims(hook.clone());
        let pair = m.login(&alice(), None).await.unwrap();
        let first = m
            .authenticate_as::<TenantClaims>(&pair.access.token)
            .await
            .unwrap();
        assert_eq!(first.extra.tenant_id, "t1");
        *hook.0.lock().unwrap() = "t2".into();
        let (next, _) = m.refresh(&pair.refresh.token, None).await.unwrap();
        let refreshed = m
            .authenticate_as::<TenantClaims>(&next.access.token)
            .await
            .expect("a refreshed token still carries the extra claims");
        assert_eq!(refreshed.extra.tenant_id, "t2");
        assert_eq!(refreshed.sid, first.sid, "same login");

        #[derive(Debug)]
        struct Overwrites;
        #[async_trait::async_trait]
        impl super::ExtraClaims for Overwrites {
            async fn extra_claims(
                &self,
                _: &User,
            ) -> Result<serde_json::Map<String, serde_json::Value>, crate::StoreError> {
                let mut m = serde_json::Map::new();
                m.insert("roles".into(), serde_json::json!(["admin"]));
                Ok(m)
            }
        }
        let (m, _, _) = setup();
        let m = m.with_extra_claims(Arc::new(Overwrites));
        assert!(matches!(
            m.login(&alice(), None).await,
            Err(AuthError::Internal)
        ));
    }

    /// A logged-out token stays refused through the whole verification leeway after its
    /// `exp`, by its `jti` alone (not only through its family).
    #[tokio::test]
    async fn a_blocked_jti_stays_blocked_through_the_leeway() {
        let (m, _, clock) = setup();
        let pair = m.login(&alice(), None).await.unwrap();
        let claims = m.authenticate(&pair.access.token).await.unwrap();
        m.logout(&claims).await.unwrap();
        let leeway = m.tokens().config().leeway.as_secs();
        assert!(leeway > 1, "the default leeway is what this test is about");
        let now = clock.unix_seconds();
        clock.advance(std::time::Duration::from_secs(
            claims.exp - now + leeway - 1,
        ));
        // The same jti under another family and user: only the blocklist entry answers.
        let by_jti_only = crate::store::TokenRef {
            iss: "",
            jti: &claims.jti,
            sid: "another-family",
            sub: "another-user",
            iat: claims.iat,
            exp: claims.exp,
        };
        assert_eq!(
            m.store().check(&by_jti_only).await.unwrap(),
            crate::store::TokenStatus::Revoked,
            "the blocklist entry outlives exp by the leeway"
        );
    }

    /// Refresh reads the user again: a disabled user's refresh fails at once, and a
    /// removed role is gone from the refreshed access token.
    #[tokio::test]
    async fn refresh_reads_the_user_again() {
        let (m, _, _, users) = setup_with_users();
        let pair = m.login(&alice(), None).await.unwrap();
        let mut demoted = alice();
        demoted.roles = vec!["viewer".into()];
        users.insert(demoted);
        let (next, user) = m.refresh(&pair.refresh.token, None).await.unwrap();
        assert_eq!(user.roles, ["viewer"]);
        let claims = m.authenticate(&next.access.token).await.unwrap();
        assert_eq!(claims.roles, ["viewer"], "the removed role is gone");

        let mut disabled = alice();
        disabled.disabled = true;
        users.insert(disabled);
        assert!(matches!(
            m.refresh(&next.refresh.token, None).await,
            Err(AuthError::InvalidToken(TokenError::Revoked))
        ));
    }

    #[tokio::test]
    async fn logout_revokes_the_token_and_its_family_only() {
        let (m, _, _) = setup();
        let one = m.login(&alice(), None).await.unwrap();
        let two = m.login(&alice(), None).await.unwrap();
        let claims = m.authenticate(&one.access.token).await.unwrap();
        assert_eq!(
            m.tokens().cached_tokens(),
            1,
            "verified and cached: revocation must still win"
        );
        m.logout(&claims).await.unwrap();
        assert!(matches!(
            m.authenticate(&one.access.token).await,
            Err(AuthError::InvalidToken(TokenError::Revoked))
        ));
        assert!(
            m.refresh(&one.refresh.token, None).await.is_err(),
            "the login's refresh token too"
        );
        assert!(
            m.authenticate(&two.access.token).await.is_ok(),
            "another login is untouched"
        );
        assert_eq!(m.families("1").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn log_out_everywhere_ends_tokens_families_and_sessions() {
        let (m, sessions, clock) = setup();
        let pair = m.login(&alice(), None).await.unwrap();
        let cookie = sessions
            .start(&alice(), serde_json::Value::Null, &SimpleRequest::new())
            .await
            .unwrap();
        clock.advance(std::time::Duration::from_secs(5));
        m.logout_all("1").await.unwrap();
        assert!(m.authenticate(&pair.access.token).await.is_err());
        assert!(m.refresh(&pair.refresh.token, None).await.is_err());
        let back = crate::session::suite::with_cookie(&cookie.set_cookie);
        assert!(
            sessions.load(&back).await.unwrap().is_none(),
            "cookie sessions end too"
        );
        // A new login afterwards works.
        let again = m.login(&alice(), None).await.unwrap();
        assert!(m.authenticate(&again.access.token).await.is_ok());
        assert_eq!(clock.unix_seconds(), 1_800_000_005);
    }

    #[tokio::test]
    async fn revoking_one_family_is_limited_to_the_owner() {
        let (m, _, _) = setup();
        let pair = m.login(&alice(), None).await.unwrap();
        assert!(
            !m.revoke_family("2", &pair.sid).await.unwrap(),
            "another user's id: unknown"
        );
        assert!(m.authenticate(&pair.access.token).await.is_ok());
        assert!(m.revoke_family("1", &pair.sid).await.unwrap());
        assert!(m.authenticate(&pair.access.token).await.is_err());
    }
}
