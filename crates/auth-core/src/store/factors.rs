//! [`SecondFactors`]: what the second factor keeps server-side (issue #29's flows read
//! and write it): each user's TOTP enrolment with its last accepted step, the digests of
//! the recovery codes, and the short-lived challenges between a right password and the
//! second factor.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::error::StoreError;

/// A user's TOTP enrolment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpEnrolment {
    /// The secret, sealed (`auth_core::mfa::SealedSecret`'s text): never the secret itself.
    pub sealed: String,
    /// Confirmed with a code (then required at login), or still pending.
    pub active: bool,
    /// The last accepted step (0 before the first): a step at or before it is a replay.
    pub last_step: u64,
}

/// Second-factor state. Every method that checks and changes does both in one atomic
/// step, so two concurrent requests cannot both use one code, one recovery code or one
/// challenge.
#[async_trait]
pub trait SecondFactors: Send + Sync + Debug {
    /// Stores a pending enrolment of `sealed` for `user_id`, replacing a pending one;
    /// `false` (nothing changed) when an active enrolment exists.
    async fn begin_totp(&self, user_id: &str, sealed: &str) -> Result<bool, StoreError>;

    /// The user's enrolment, pending or active.
    async fn totp(&self, user_id: &str) -> Result<Option<TotpEnrolment>, StoreError>;

    /// Activates the pending enrolment: marks it active, records `step` as used and stores
    /// `recovery_digests` (replacing any), at once. `false` when there is no pending
    /// enrolment (none, or already active).
    async fn activate_totp(
        &self,
        user_id: &str,
        step: u64,
        recovery_digests: &[String],
    ) -> Result<bool, StoreError>;

    /// Records `step` as the last accepted one if it is later than the stored one:
    /// `false` is a replay (or no active enrolment).
    async fn use_totp_step(&self, user_id: &str, step: u64) -> Result<bool, StoreError>;

    /// Spends the recovery code whose digest is `digest`: `false` when it is not (or no
    /// longer) there.
    async fn spend_recovery_code(&self, user_id: &str, digest: &str) -> Result<bool, StoreError>;

    /// How many recovery codes the user has left.
    async fn recovery_codes_left(&self, user_id: &str) -> Result<usize, StoreError>;

    /// Removes the enrolment and the recovery codes; `false` when there was none.
    async fn remove_totp(&self, user_id: &str) -> Result<bool, StoreError>;

    /// Starts a challenge under `key` (a digest of the `mfa_token`, never the token) for
    /// `user_id`, live until `expires_at` (Unix seconds).
    async fn start_challenge(
        &self,
        key: &str,
        user_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError>;

    /// The user of a live challenge (started, not spent, not expired).
    async fn challenge_user(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Counts one wrong code against a live challenge and spends it at `max_failures`;
    /// whether it is still live afterwards.
    async fn fail_challenge(&self, key: &str, max_failures: u32) -> Result<bool, StoreError>;

    /// Spends a live challenge: its user for the one caller that spent it, `None` for
    /// every other (spent, expired, unknown).
    async fn finish_challenge(&self, key: &str) -> Result<Option<String>, StoreError>;
}
