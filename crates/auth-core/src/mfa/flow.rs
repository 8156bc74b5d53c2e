//! [`SecondFactor`]: TOTP enrolment, confirmation and removal, and the challenge between
//! a right password and the second factor, on the state store.

use std::sync::Arc;
use std::time::Duration;

use super::{MfaError, RecoveryCodes, SealedSecret, Totp};
use crate::clock::Clock;
use crate::credential::User;
use crate::error::AuthError;
use crate::store::StateStore;

/// How long an `mfa_token` lives by default (five minutes).
pub const MFA_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Wrong codes after which an `mfa_token` is spent.
pub const MAX_CODE_FAILURES: u32 = 5;
/// Longest code or `mfa_token` read from a request; longer is refused unread.
const MAX_PROOF_BYTES: usize = 128;

/// What the user presents as the second factor.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Proof<'a> {
    /// The current code of the authenticator app.
    Otp(&'a str),
    /// One of the recovery codes (spent by its use).
    RecoveryCode(&'a str),
}

impl std::fmt::Debug for Proof<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proof::Otp(_) => "Otp(..)",
            Proof::RecoveryCode(_) => "RecoveryCode(..)",
        })
    }
}

/// A new enrolment as the user sees it once: the secret and the `otpauth://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingTotp {
    /// Base32 secret, for typing into an app.
    pub secret: String,
    /// The URL an authenticator app scans.
    pub otpauth_url: String,
}

impl std::fmt::Debug for PendingTotp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingTotp(..)")
    }
}

/// The second factor of one service: TOTP ([`Totp`]) on the state store. Cheap to
/// clone. Set it with `AuthBuilder::second_factor`; the login and token endpoints then
/// ask for it from every user who has confirmed an enrolment.
#[derive(Debug, Clone)]
pub struct SecondFactor {
    totp: Totp,
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    token_ttl: Duration,
}

impl SecondFactor {
    /// TOTP on `store`, reading time from `clock`.
    pub fn new(totp: Totp, store: Arc<dyn StateStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            totp,
            store,
            clock,
            token_ttl: MFA_TOKEN_TTL,
        }
    }

    /// The TOTP generator and sealer.
    pub fn totp(&self) -> &Totp {
        &self.totp
    }

    /// Whether `user_id` has an active (confirmed) second factor.
    pub async fn active(&self, user_id: &str) -> Result<bool, AuthError> {
        let enrolment = self.store.totp(user_id).await?;
        Ok(enrolment.is_some_and(|e| e.active))
    }

    /// Starts an enrolment for `user`: a new secret, sealed and stored as pending
    /// (replacing a pending one). [`AuthError::Conflict`] when one is active already.
    pub async fn enroll(&self, user: &User) -> Result<PendingTotp, AuthError> {
        let account = user.email.as_deref().unwrap_or(&user.username);
        // `:` separates issuer and account in the URL's label.
        let account: String = account.chars().filter(|c| *c != ':').collect();
        let enrolment = self.totp.enrol(&user.id, &account).map_err(mfa_internal)?;
        if !self
            .store
            .begin_totp(&user.id, enrolment.sealed().as_str())
            .await?
        {
            return Err(AuthError::Conflict {
                detail: "A second factor is already active: remove it (DELETE /mfa/totp) \
                         before enrolling again"
                    .into(),
            });
        }
        Ok(PendingTotp {
            secret: enrolment.secret().to_owned(),
            otpauth_url: enrolment.otpauth_url().to_owned(),
        })
    }

    /// Confirms the pending enrolment with a current `code`: it becomes active and ten
    /// recovery codes are returned (to show once; only their digests are stored).
    pub async fn confirm(&self, user_id: &str, code: &str) -> Result<RecoveryCodes, AuthError> {
        let enrolment = match self.store.totp(user_id).await? {
            Some(e) if !e.active => e,
            Some(_) => {
                return Err(bad_request(
                    "The second factor is already active; nothing to confirm",
                ));
            }
            None => {
                return Err(bad_request(
                    "No enrolment to confirm: start one with POST /mfa/totp/enroll",
                ));
            }
        };
        let sealed = SealedSecret::from_stored(enrolment.sealed);
        let step = self
            .totp
            .verify(user_id, &sealed, bounded(code)?, self.now(), None)
            .map_err(code_error)?;
        let codes = RecoveryCodes::generate();
        if !self
            .store
            .activate_totp(user_id, step, codes.digests())
            .await?
        {
            return Err(bad_request(
                "The enrolment changed meanwhile: start again with POST /mfa/totp/enroll",
            ));
        }
        Ok(codes)
    }

    /// Removes the second factor after checking a current code or a recovery code.
    pub async fn disable(&self, user_id: &str, code: &str) -> Result<(), AuthError> {
        let proof = if bounded(code)?.trim().bytes().all(|b| b.is_ascii_digit()) {
            Proof::Otp(code)
        } else {
            Proof::RecoveryCode(code)
        };
        if !self.check(user_id, proof).await? {
            return Err(bad_request(
                "The code is wrong or already used: enter the current code from the \
                 authenticator app, or an unused recovery code",
            ));
        }
        self.store.remove_totp(user_id).await?;
        Ok(())
    }

    /// Checks and uses `proof` for the active factor of `user_id` in one atomic step per
    /// kind: a TOTP step is accepted once, a recovery code is spent. `Ok(false)` for a
    /// wrong, replayed or spent code (or no active factor).
    pub async fn check(&self, user_id: &str, proof: Proof<'_>) -> Result<bool, AuthError> {
        match proof {
            Proof::Otp(code) => {
                let Some(enrolment) = self.store.totp(user_id).await?.filter(|e| e.active) else {
                    return Ok(false);
                };
                let sealed = SealedSecret::from_stored(enrolment.sealed);
                let last = Some(enrolment.last_step);
                match self
                    .totp
                    .verify(user_id, &sealed, bounded(code)?, self.now(), last)
                {
                    Ok(step) => Ok(self.store.use_totp_step(user_id, step).await?),
                    Err(MfaError::WrongCode | MfaError::Replayed) => Ok(false),
                    Err(e) => Err(mfa_internal(e)),
                }
            }
            Proof::RecoveryCode(code) => {
                if !self.active(user_id).await? {
                    return Ok(false);
                }
                let digest = RecoveryCodes::digest(bounded(code)?);
                Ok(self.store.spend_recovery_code(user_id, &digest).await?)
            }
        }
    }

    /// How many unused recovery codes `user_id` has.
    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<usize, AuthError> {
        Ok(self.store.recovery_codes_left(user_id).await?)
    }

    /// Starts a challenge for `user_id`: a fresh single-use `mfa_token` (256 random
    /// bits; the store keeps only its digest) live for five minutes.
    pub async fn challenge(&self, user_id: &str) -> Result<String, AuthError> {
        let token = crate::ids::random_b64::<32>();
        let expires = self.now().saturating_add(self.token_ttl.as_secs());
        self.store
            .start_challenge(&challenge_key(&token), user_id, expires)
            .await?;
        Ok(token)
    }

    /// The user of a live challenge.
    pub(crate) async fn challenge_user(
        &self,
        mfa_token: &str,
    ) -> Result<Option<String>, AuthError> {
        if mfa_token.len() > MAX_PROOF_BYTES {
            return Ok(None);
        }
        Ok(self.store.challenge_user(&challenge_key(mfa_token)).await?)
    }

    /// Counts a wrong code against the challenge (spent at [`MAX_CODE_FAILURES`]).
    pub(crate) async fn fail_challenge(&self, mfa_token: &str) -> Result<(), AuthError> {
        self.store
            .fail_challenge(&challenge_key(mfa_token), MAX_CODE_FAILURES)
            .await?;
        Ok(())
    }

    /// Spends the challenge: its user for the one caller that spent it.
    pub(crate) async fn finish_challenge(
        &self,
        mfa_token: &str,
    ) -> Result<Option<String>, AuthError> {
        Ok(self
            .store
            .finish_challenge(&challenge_key(mfa_token))
            .await?)
    }

    fn now(&self) -> u64 {
        self.clock.unix_seconds()
    }
}

/// The store key of a challenge: the token's digest, never the token.
fn challenge_key(token: &str) -> String {
    crate::session::session_key(token)
}

/// A code as read from a request, refused unread past [`MAX_PROOF_BYTES`].
fn bounded(code: &str) -> Result<&str, AuthError> {
    if code.len() > MAX_PROOF_BYTES {
        return Err(bad_request("The code is too long"));
    }
    Ok(code)
}

fn code_error(e: MfaError) -> AuthError {
    match e {
        MfaError::WrongCode | MfaError::Replayed => bad_request(
            "The code is wrong or expired: enter the current code from the authenticator app",
        ),
        other => mfa_internal(other),
    }
}

fn mfa_internal(e: MfaError) -> AuthError {
    tracing::error!(error = %e, "second factor: server-side failure");
    AuthError::Internal
}

fn bad_request(detail: &'static str) -> AuthError {
    AuthError::BadRequest {
        detail: detail.into(),
    }
}
