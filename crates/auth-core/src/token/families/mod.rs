//! Token families: tokens with server-side state (login families, refresh rotation with
//! reuse detection, revocation, the per-request check). `TokenManager` lives here, beside
//! the stateless `TokenService` it builds on.

mod options;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::credential::{User, UserStore};
use tracing::Instrument as _;

use crate::error::{AuthError, StoreError, TokenError};
use crate::store::{Family, Rotation, StateStore, TokenMeta, TokenRef, TokenStatus};
use crate::telemetry::{self, RefreshOutcome};
use crate::token::{Claims, Subject, TokenPair, TokenService};

use options::REGISTERED_CLAIMS;
pub use options::{ExtraClaims, RevocationMode};

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
        amr: Vec::new(),
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
        // Held in this process (memory, a replica): no boxed store future per request.
        if let Some(status) = self.status_now(r) {
            return Ok(status?);
        }
        Ok(match self.mode {
            RevocationMode::Blocklist => self.store.check(r).await?,
            RevocationMode::Allowlist => self.store.check_listed(r).await?,
        })
    }

    /// The mode's status answered by the store in place, if it can.
    fn status_now(&self, r: &TokenRef<'_>) -> Option<Result<TokenStatus, StoreError>> {
        match self.mode {
            RevocationMode::Blocklist => self.store.check_now(r),
            RevocationMode::Allowlist => self.store.check_listed_now(r),
        }
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
        self.login_with_amr(user, scope, &[], meta).await
    }

    /// As [`TokenManager::login_with_meta`], with the login's authentication methods
    /// (RFC 8176 `amr`: `["pwd"]` for a password, `["pwd", "otp"]` after a second
    /// factor) on both tokens; every refresh of the family keeps them.
    pub async fn login_with_amr(
        &self,
        user: &User,
        scope: Option<String>,
        amr: &[&str],
        meta: &TokenMeta,
    ) -> Result<TokenPair, AuthError> {
        let extra = self.extra_for(user).await?;
        let subject = subject_of(user, scope).with_amr(amr.iter().copied());
        let pair = self
            .tokens
            .issue_pair_with(&subject, &crate::ids::new_id(), &extra)
            .map_err(internal)?;
        self.store
            .start(&user.id, &pair.sid, &pair.refresh.jti, pair.refresh.exp)
            .await?;
        self.list_pair(&user.id, &pair, meta).await?;
        Ok(pair)
    }

    /// Verifies an access token and checks it against every revocation rule (one store
    /// round trip). The claims are shared with the verified-token cache (no copy).
    pub async fn authenticate(&self, token: &str) -> Result<Arc<Claims>, AuthError> {
        let claims = self.tokens.verify_access_shared(token)?;
        self.check(&claims).await?;
        Ok(claims)
    }

    /// As [`TokenManager::authenticate`], for tokens carrying caller-defined claims `E`.
    pub async fn authenticate_as<E: serde::de::DeserializeOwned + Send + Sync + 'static>(
        &self,
        token: &str,
    ) -> Result<Arc<Claims<E>>, AuthError> {
        let claims = self.tokens.verify_access_shared_as::<E>(token)?;
        self.check(&claims).await?;
        Ok(claims)
    }

    /// The revocation check alone, for claims verified elsewhere.
    pub async fn check<E>(&self, claims: &Claims<E>) -> Result<(), AuthError> {
        let status =
            crate::telemetry::store_call("token_status", self.status(&self.token_ref(claims)))
                .await?;
        admitted(status)
    }

    /// [`TokenManager::check`] answered in place, when the store holds the answer in this
    /// process (the memory store in either mode, or a replica in sync in blocklist mode);
    /// `None` when it must be asked: then await [`TokenManager::check`].
    pub fn check_now<E>(&self, claims: &Claims<E>) -> Option<Result<(), AuthError>> {
        let status = self.status_now(&self.token_ref(claims))?;
        Some(status.map_err(AuthError::from).and_then(admitted))
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
        let span = tracing::info_span!("auth.refresh", outcome = tracing::field::Empty);
        let mut reused = false;
        let result = self
            .rotate(refresh_token, scope, &mut reused)
            .instrument(span.clone())
            .await;
        let outcome = match &result {
            Ok(_) => RefreshOutcome::Ok,
            Err(_) if reused => RefreshOutcome::ReuseDetected,
            Err(AuthError::StoreUnavailable(_) | AuthError::Internal) => {
                RefreshOutcome::Unavailable
            }
            Err(_) => RefreshOutcome::Invalid,
        };
        span.record("outcome", outcome.as_str());
        telemetry::refresh(outcome);
        result
    }

    async fn rotate(
        &self,
        refresh_token: &str,
        scope: Option<&str>,
        reused: &mut bool,
    ) -> Result<(TokenPair, User), AuthError> {
        let claims = self.tokens.verify_refresh(refresh_token)?;
        self.check(&claims).await?;
        let user =
            crate::telemetry::store_call("find_user", self.users.find_by_id(&claims.sub)).await?;
        let user = match user {
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
            .issue_pair_with(
                &subject_of(&user, granted).with_amr(claims.amr.iter().cloned()),
                &claims.sid,
                &extra,
            )
            .map_err(internal)?;
        match crate::telemetry::store_call(
            "rotate_family",
            self.store.rotate(
                &claims.sub,
                &claims.sid,
                &claims.jti,
                &pair.refresh.jti,
                pair.refresh.exp,
            ),
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
                *reused = true;
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

/// A token's revocation status as the check's verdict.
fn admitted(status: TokenStatus) -> Result<(), AuthError> {
    match status {
        TokenStatus::Active => Ok(()),
        TokenStatus::Revoked => Err(TokenError::Revoked.into()),
    }
}
