//! Username and password login: throttling, constant-cost failures, transparent rehash.

use std::net::IpAddr;
use std::sync::Arc;

use super::password::{MAX_PASSWORD_BYTES, Passwords, Verified};
use super::throttle::LoginThrottle;
use super::users::{User, UserStore};
use tracing::Instrument as _;

use crate::error::{AuthError, StoreError};
use crate::telemetry::{self, LoginOutcome};

/// Usernames longer than this are refused without a store lookup.
pub const MAX_USERNAME_BYTES: usize = 256;

/// Checks a username and password. Shared by the token endpoint's password grant and
/// cookie login, so both throttle and fail identically.
///
/// - an unknown user, a disabled user and a wrong password give the same
///   [`AuthError::InvalidCredentials`] at the same cost (a dummy hash is verified for
///   unknown users);
/// - a throttled attempt is refused before any hashing, and every attempt is reserved
///   (checked and counted in one atomic step) before hashing, so concurrent guesses
///   cannot exceed the limit;
/// - a match against an out-of-date hash re-hashes the password with the current
///   parameters and stores it.
#[derive(Debug, Clone)]
pub struct Authenticator {
    users: Arc<dyn UserStore>,
    passwords: Passwords,
    throttle: LoginThrottle,
}

impl Authenticator {
    /// An authenticator over `users`.
    pub fn new(users: Arc<dyn UserStore>, passwords: Passwords, throttle: LoginThrottle) -> Self {
        Self {
            users,
            passwords,
            throttle,
        }
    }

    /// The user store.
    pub fn users(&self) -> &Arc<dyn UserStore> {
        &self.users
    }

    /// The password hasher.
    pub fn passwords(&self) -> &Passwords {
        &self.passwords
    }

    /// The user, if `username` and `password` match. `client` is the caller's address, for
    /// the per-address throttle.
    pub async fn authenticate(
        &self,
        username: &str,
        password: String,
        client: Option<IpAddr>,
    ) -> Result<User, AuthError> {
        let span = tracing::info_span!("auth.login", outcome = tracing::field::Empty);
        let result = self
            .check(username, password, client)
            .instrument(span.clone())
            .await;
        let outcome = LoginOutcome::of(&result);
        span.record("outcome", outcome.as_str());
        telemetry::login(outcome);
        result
    }

    async fn check(
        &self,
        username: &str,
        password: String,
        client: Option<IpAddr>,
    ) -> Result<User, AuthError> {
        if username.is_empty() || username.len() > MAX_USERNAME_BYTES {
            return Err(AuthError::InvalidCredentials);
        }
        // Reserved (checked and counted at once) before any hashing: parallel guesses
        // cannot all pass a check that none of them has been counted in yet.
        let attempt = crate::telemetry::store_call(
            "throttle_reserve",
            self.throttle.reserve(username, client),
        )
        .await?;
        if password.len() > MAX_PASSWORD_BYTES {
            // Refused before hashing, but still an attempt (the reservation stays).
            return Err(AuthError::InvalidCredentials);
        }

        let user = crate::telemetry::store_call("find_user", self.users.find_by_username(username))
            .await?;
        // A user without a usable hash (an external-only account) goes through the same
        // argon2 work as anyone else: `verify` falls back to the dummy hash.
        let verified = match &user {
            Some(u) => self
                .passwords
                .verify(password.clone(), u.password_hash.clone())
                .await
                .map_err(StoreError::from)?,
            None => {
                self.passwords
                    .verify_dummy(password.clone())
                    .await
                    .map_err(StoreError::from)?;
                Verified::Mismatch
            }
        };
        let user = match user {
            Some(u) if verified.is_match() && !u.disabled => u,
            // The reservation stays: it is this failure's count.
            _ => return Err(AuthError::InvalidCredentials),
        };

        self.throttle.succeeded(attempt).await?;
        if verified == Verified::NeedsRehash {
            self.upgrade_hash(&user, password).await;
        }
        Ok(user)
    }

    async fn upgrade_hash(&self, user: &User, password: String) {
        // Best effort: the login has succeeded either way; the next login retries.
        match self.passwords.hash(password).await {
            Ok(phc) => {
                if let Err(e) = self.users.update_password_hash(&user.id, &phc).await {
                    tracing::warn!(user_id = %user.id, error = %e, "could not store the upgraded password hash");
                }
            }
            Err(e) => {
                tracing::warn!(user_id = %user.id, error = %e, "could not re-hash a password")
            }
        }
    }
}
