//! Username and password login: throttling, constant-cost failures, transparent rehash.

use std::net::IpAddr;
use std::sync::Arc;

use super::password::{MAX_PASSWORD_BYTES, Passwords, Verified};
use super::throttle::LoginThrottle;
use super::users::{User, UserStore};
use tracing::Instrument as _;

use crate::error::{AuthError, StoreError};
use crate::mfa::{Proof, SecondFactor};
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
    second_factor: Option<SecondFactor>,
}

/// What a right password leads to.
#[derive(Debug, Clone)]
pub enum PasswordLogin {
    /// Signed in (`amr` `["pwd"]`).
    Complete(User),
    /// The user has an active second factor: no tokens or session yet. The client trades
    /// `mfa_token` (single-use, five minutes) and a code for them.
    SecondFactorRequired {
        /// The user whose password was right.
        user: User,
        /// The challenge's handle for the client.
        mfa_token: String,
    },
}

impl PasswordLogin {
    /// The user whose password was right (signed in or not yet).
    pub fn user(&self) -> &User {
        match self {
            Self::Complete(user) | Self::SecondFactorRequired { user, .. } => user,
        }
    }
}

impl Authenticator {
    /// An authenticator over `users`.
    pub fn new(users: Arc<dyn UserStore>, passwords: Passwords, throttle: LoginThrottle) -> Self {
        Self {
            users,
            passwords,
            throttle,
            second_factor: None,
        }
    }

    /// Asks every user with an active second factor for it after the password.
    pub fn with_second_factor(mut self, second_factor: SecondFactor) -> Self {
        self.second_factor = Some(second_factor);
        self
    }

    /// The second factor, when configured.
    pub fn second_factor(&self) -> Option<&SecondFactor> {
        self.second_factor.as_ref()
    }

    /// The user store.
    pub fn users(&self) -> &Arc<dyn UserStore> {
        &self.users
    }

    /// The password hasher.
    pub fn passwords(&self) -> &Passwords {
        &self.passwords
    }

    /// Checks `username` and `password`; `client` is the caller's address, for the
    /// per-address throttle. A right password gives [`PasswordLogin::Complete`], or, for
    /// a user with an active second factor, [`PasswordLogin::SecondFactorRequired`] with
    /// a fresh `mfa_token`: the login finishes with
    /// [`Authenticator::complete_second_factor`].
    pub async fn authenticate(
        &self,
        username: &str,
        password: String,
        client: Option<IpAddr>,
    ) -> Result<PasswordLogin, AuthError> {
        let span = tracing::info_span!("auth.login", outcome = tracing::field::Empty);
        let result = async {
            let user = self.check(username, password, client).await?;
            match &self.second_factor {
                Some(factor) if factor.active(&user.id).await? => {
                    let mfa_token = factor.challenge(&user.id).await?;
                    Ok(PasswordLogin::SecondFactorRequired { user, mfa_token })
                }
                _ => Ok(PasswordLogin::Complete(user)),
            }
        }
        .instrument(span.clone())
        .await;
        let outcome = match &result {
            Ok(PasswordLogin::SecondFactorRequired { .. }) => LoginOutcome::MfaRequired,
            other => LoginOutcome::of(other),
        };
        span.record("outcome", outcome.as_str());
        telemetry::login(outcome);
        result
    }

    /// The second step of a login: the `mfa_token` of [`PasswordLogin::SecondFactorRequired`]
    /// and a code. Each attempt counts toward the user's login throttle (checked and
    /// counted before the code is looked at; a success resets it), every wrong code
    /// counts against the token, and [`crate::mfa::MAX_CODE_FAILURES`] wrong codes spend
    /// it. One answer, [`AuthError::InvalidSecondFactor`], for a wrong, replayed or spent
    /// code and an unknown, expired or spent token; [`AuthError::Throttled`] when locked.
    pub async fn complete_second_factor(
        &self,
        mfa_token: &str,
        proof: Proof<'_>,
        client: Option<IpAddr>,
    ) -> Result<User, AuthError> {
        let span = tracing::info_span!("auth.login", outcome = tracing::field::Empty);
        let result = self
            .second_step(mfa_token, proof, client)
            .instrument(span.clone())
            .await;
        let outcome = LoginOutcome::of(&result);
        span.record("outcome", outcome.as_str());
        telemetry::login(outcome);
        result
    }

    async fn second_step(
        &self,
        mfa_token: &str,
        proof: Proof<'_>,
        client: Option<IpAddr>,
    ) -> Result<User, AuthError> {
        let Some(factor) = &self.second_factor else {
            return Err(AuthError::InvalidSecondFactor);
        };
        let Some(user_id) = factor.challenge_user(mfa_token).await? else {
            return Err(AuthError::InvalidSecondFactor);
        };
        let user = match self.users.find_by_id(&user_id).await? {
            Some(u) if !u.disabled => u,
            _ => {
                factor.finish_challenge(mfa_token).await?;
                return Err(AuthError::InvalidSecondFactor);
            }
        };
        // Reserved before the code is checked, as a password attempt is: parallel
        // guesses cannot all pass a check none of them was counted in.
        let attempt = self.throttle.reserve(&user.username, client).await?;
        if !factor.check(&user.id, proof).await? {
            // The reservation stays: it is this failure's count.
            factor.fail_challenge(mfa_token).await?;
            return Err(AuthError::InvalidSecondFactor);
        }
        match factor.finish_challenge(mfa_token).await? {
            Some(spent_by) if spent_by == user.id => {}
            _ => return Err(AuthError::InvalidSecondFactor),
        }
        self.throttle.succeeded(attempt).await?;
        Ok(user)
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
