//! The second factor's building blocks: TOTP (RFC 6238) with its secrets sealed at rest,
//! and single-use recovery codes.
//!
//! - [`Totp`]: enrolment (a fresh 160-bit secret, its base32 form and the `otpauth://` URL
//!   an authenticator app scans) and verification: SHA-1, 6 digits, 30-second steps, one
//!   step of drift either way, every candidate compared in constant time, and a code
//!   accepted once: a step at or before the last accepted one is refused as a replay.
//! - [`MfaKey`]: the AES-256-GCM key (from your configuration) that seals each TOTP secret
//!   for storage ([`SealedSecret`]); the user's id is the associated data, so a sealed
//!   secret copied to another user's record does not open.
//! - [`RecoveryCodes`]: ten single-use codes, shown once, stored only as SHA-256 digests.
//!
//! Secrets and codes never appear in a `Debug` output, a log line or an error.
//!
//! ```
//! use auth_core::mfa::{MfaKey, Totp};
//!
//! let key = MfaKey::new(&[7u8; 32]).unwrap(); // from your configuration, never the source
//! let totp = Totp::new(key, "Acme");
//! let enrolment = totp.enrol("42", "ada@example.com").unwrap();
//! assert!(enrolment.otpauth_url().starts_with("otpauth://totp/"));
//!
//! // The user's app shows the code of the current step; the first use is accepted...
//! let now = 1_800_000_000;
//! let code = totp.code_at("42", enrolment.sealed(), now).unwrap();
//! let step = totp.verify("42", enrolment.sealed(), &code, now, None).unwrap();
//! // ...and the same code again is a replay.
//! assert!(totp.verify("42", enrolment.sealed(), &code, now, Some(step)).is_err());
//! ```

mod flow;
mod recovery;

pub use flow::{MAX_CODE_FAILURES, MFA_TOKEN_TTL, PendingTotp, Proof, SecondFactor};
pub use recovery::{RECOVERY_CODE_COUNT, RecoveryCodes};

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq as _;

/// Digits of a TOTP code.
pub const TOTP_DIGITS: usize = 6;
/// Seconds of a TOTP step.
pub const TOTP_STEP_SECS: u64 = 30;
/// Bytes of a TOTP secret (160 bits, as RFC 4226 recommends).
pub const TOTP_SECRET_BYTES: usize = 20;

/// Why a second-factor step failed. Messages say what to do and carry no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MfaError {
    /// The code is not the current one (or not 6 digits).
    #[error("the code is wrong or expired: enter the current code from the authenticator app")]
    WrongCode,
    /// The code's step was already used.
    #[error("this code was already used: wait for the next code")]
    Replayed,
    /// The sealed secret does not open with this key (another key, another user's record,
    /// or tampered with).
    #[error("the stored second-factor secret cannot be read with the configured key")]
    Unreadable,
    /// The account name cannot be put in an `otpauth://` URL.
    #[error("the account name cannot be used in an otpauth URL: {0}")]
    AccountName(String),
}

/// The AES-256-GCM key sealing TOTP secrets at rest.
pub struct MfaKey(LessSafeKey);

impl fmt::Debug for MfaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MfaKey(..)")
    }
}

impl MfaKey {
    /// A key of exactly 32 bytes (e.g. 32 random bytes from your secret store).
    pub fn new(key: &[u8]) -> Result<Self, crate::ConfigError> {
        let invalid = || crate::ConfigError::InvalidMfaKey { got: key.len() };
        if key.len() != 32 {
            return Err(invalid());
        }
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| invalid())?;
        Ok(Self(LessSafeKey::new(unbound)))
    }

    /// `plaintext` sealed for `user_id`: a random nonce, then the ciphertext and its tag.
    fn seal(&self, user_id: &str, plaintext: &[u8]) -> Result<SealedSecret, MfaError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let mut sealed = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(user_id.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| MfaError::Unreadable)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(SealedSecret(URL_SAFE_NO_PAD.encode(out)))
    }

    /// The secret of `sealed`, if it opens for `user_id` with this key.
    fn open(&self, user_id: &str, sealed: &SealedSecret) -> Result<Vec<u8>, MfaError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(&sealed.0)
            .map_err(|_| MfaError::Unreadable)?;
        let (nonce, ciphertext) = bytes
            .split_at_checked(NONCE_LEN)
            .ok_or(MfaError::Unreadable)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MfaError::Unreadable)?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(user_id.as_bytes()), &mut in_out)
            .map_err(|_| MfaError::Unreadable)?;
        Ok(plain.to_vec())
    }
}

/// A TOTP secret sealed for storage (base64url text: nonce, ciphertext, tag).
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(String);

impl SealedSecret {
    /// The stored text, as read back from a store.
    pub fn from_stored(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The text to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedSecret(..)")
    }
}

/// A new TOTP enrolment: what the user's app needs (shown once), and what to store.
pub struct Enrolment {
    secret: String,
    otpauth_url: String,
    sealed: SealedSecret,
}

impl fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrolment").finish_non_exhaustive()
    }
}

impl Enrolment {
    /// The secret in base32 (RFC 4648, no padding), for typing into an app.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The `otpauth://totp/...` URL an authenticator app scans (as a QR code).
    pub fn otpauth_url(&self) -> &str {
        &self.otpauth_url
    }

    /// The secret sealed for storage.
    pub fn sealed(&self) -> &SealedSecret {
        &self.sealed
    }
}

/// TOTP for one issuer, sealing secrets with one [`MfaKey`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Totp {
    key: Arc<MfaKey>,
    issuer: String,
}

impl Totp {
    /// TOTP named `issuer` in authenticator apps, sealing with `key`.
    pub fn new(key: MfaKey, issuer: impl Into<String>) -> Self {
        Self {
            key: Arc::new(key),
            issuer: issuer.into(),
        }
    }

    fn generator(&self, secret: Vec<u8>, account_name: &str) -> totp_rs::Totp {
        totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(TOTP_STEP_SECS)
            .with_secret(secret)
            .with_account_name(account_name)
            .with_issuer(Some(self.issuer.as_str()))
            .build_noncompliant()
    }

    /// A new secret for `user_id`, shown to the user as `account_name` (an email or a
    /// username; it must not contain `:`).
    pub fn enrol(&self, user_id: &str, account_name: &str) -> Result<Enrolment, MfaError> {
        let mut secret = [0u8; TOTP_SECRET_BYTES];
        rand::fill(&mut secret);
        self.enrol_with(user_id, account_name, &secret)
    }

    /// An enrolment of an existing `secret` (a migration from another system).
    pub fn enrol_with(
        &self,
        user_id: &str,
        account_name: &str,
        secret: &[u8],
    ) -> Result<Enrolment, MfaError> {
        let generator = self.generator(secret.to_vec(), account_name);
        let otpauth_url = generator
            .to_url()
            .map_err(|e| MfaError::AccountName(e.to_string()))?;
        Ok(Enrolment {
            secret: generator.secret().to_base32(),
            otpauth_url,
            sealed: self.key.seal(user_id, secret)?,
        })
    }

    /// The code of the step holding `unix_secs` (for tests and tools: a server only
    /// verifies).
    pub fn code_at(
        &self,
        user_id: &str,
        sealed: &SealedSecret,
        unix_secs: u64,
    ) -> Result<String, MfaError> {
        let secret = self.key.open(user_id, sealed)?;
        Ok(self.generator(secret, "-").generate(unix_secs).to_string())
    }

    /// Checks `code` at `unix_secs` against the previous, current and next steps, each in
    /// constant time. The accepted step (store it: a step at or before it is refused next
    /// time, [`MfaError::Replayed`]), or why not.
    pub fn verify(
        &self,
        user_id: &str,
        sealed: &SealedSecret,
        code: &str,
        unix_secs: u64,
        last_step: Option<u64>,
    ) -> Result<u64, MfaError> {
        let code = code.trim();
        if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MfaError::WrongCode);
        }
        let generator = self.generator(self.key.open(user_id, sealed)?, "-");
        let current = unix_secs / TOTP_STEP_SECS;
        let mut matched = None;
        for step in current.saturating_sub(1)..=current.saturating_add(1) {
            let expected = generator.generate(step * TOTP_STEP_SECS).to_string();
            // No early exit: every candidate is compared whatever matched before.
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && matched.is_none() {
                matched = Some(step);
            }
        }
        let step = matched.ok_or(MfaError::WrongCode)?;
        if last_step.is_some_and(|last| step <= last) {
            return Err(MfaError::Replayed);
        }
        Ok(step)
    }
}

#[cfg(test)]
mod tests;
