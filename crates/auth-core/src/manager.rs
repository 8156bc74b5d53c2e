//! Tokens with server-side state: login families, rotation with reuse detection,
//! revocation, and the per-request check.

use std::sync::Arc;

use crate::credential::{User, UserStore};
use crate::error::{AuthError, TokenError};
use crate::store::{Family, Rotation, StateStore, TokenRef, TokenStatus};
use crate::token::{Claims, NoExtra, Subject, TokenPair, TokenService};

/// Issues, refreshes, checks and revokes tokens on top of the state stores. Cheap to clone.
///
/// Every failure to reach a store is [`AuthError::StoreUnavailable`] (503): nothing is
/// ever allowed because the store could not be asked.
#[derive(Debug, Clone)]
pub struct TokenManager {
    tokens: TokenService,
    users: Arc<dyn UserStore>,
    store: Arc<dyn StateStore>,
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
            exp: c.exp,
        }
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
        let pair = self
            .tokens
            .issue_pair(&subject_of(user, scope))
            .map_err(internal)?;
        self.store
            .start(&user.id, &pair.sid, &pair.refresh.jti, pair.refresh.exp)
            .await?;
        Ok(pair)
    }

    /// Verifies an access token and checks it against every revocation rule (one store
    /// round trip).
    pub async fn authenticate(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.tokens.verify_access(token)?;
        self.check(&claims).await?;
        Ok(claims)
    }

    /// The revocation check alone, for claims verified elsewhere.
    pub async fn check<E>(&self, claims: &Claims<E>) -> Result<(), AuthError> {
        match self.store.check(&self.token_ref(claims)).await? {
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
        if self.store.check(&self.token_ref(&claims)).await? == TokenStatus::Revoked {
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
        let pair = self
            .tokens
            .issue_pair_with(&subject_of(&user, granted), &claims.sid, &NoExtra {})
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
            Rotation::Rotated => Ok((pair, user)),
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

    /// "Log out everywhere": every token issued to `sub` until now is refused.
    pub async fn logout_all(&self, sub: &str) -> Result<(), AuthError> {
        let now = self.tokens.clock().unix_seconds();
        self.store.revoke_user(sub, now, self.horizon()).await?;
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
