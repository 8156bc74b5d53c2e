//! [`Passkeys`]: what WebAuthn keeps server-side: each user's passkeys (public keys with
//! their sign counters, never a secret) and the state of a ceremony between its start
//! and its finish, single-use.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::error::StoreError;

/// A registered passkey as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    /// The user it signs in.
    pub user_id: String,
    /// The credential id, base64url without padding (unique across all users).
    pub credential_id: String,
    /// The credential as the WebAuthn library serialises it (its public key, algorithm,
    /// counter): public data only.
    pub data: String,
    /// The authenticator's signature counter at the last use (0 for authenticators that
    /// keep none).
    pub counter: u32,
    /// Registered at (Unix seconds).
    pub created: u64,
}

/// Passkey state. Each check-and-change is one atomic step: a ceremony is taken by one
/// caller only, and a sign counter only moves forward.
#[async_trait]
pub trait Passkeys: Send + Sync + Debug {
    /// Stores a new passkey; `false` (nothing changed) when its credential id is
    /// registered already, to this user or another.
    async fn add_passkey(&self, passkey: &StoredPasskey) -> Result<bool, StoreError>;

    /// The user's passkeys, oldest first.
    async fn passkeys(&self, user_id: &str) -> Result<Vec<StoredPasskey>, StoreError>;

    /// The passkey with this credential id, whoever it belongs to.
    async fn passkey(&self, credential_id: &str) -> Result<Option<StoredPasskey>, StoreError>;

    /// Records a successful use: stores `counter` and `data` when `counter` is above the
    /// stored counter, or when both are 0 (an authenticator without a counter). `false`,
    /// and nothing changed, otherwise: a counter that did not move forward is the sign
    /// of a cloned authenticator (or of a concurrent use of one signature), and the
    /// login is refused.
    async fn use_passkey(
        &self,
        credential_id: &str,
        counter: u32,
        data: &str,
    ) -> Result<bool, StoreError>;

    /// Removes one of the user's passkeys; `false` when the user has no such passkey.
    async fn remove_passkey(&self, user_id: &str, credential_id: &str) -> Result<bool, StoreError>;

    /// Keeps a ceremony's state under `key` (a digest of the ceremony's handle, never the
    /// handle) until `expires_at` (Unix seconds), replacing any state under that key.
    async fn put_ceremony(&self, key: &str, state: &str, expires_at: u64)
    -> Result<(), StoreError>;

    /// Takes a live ceremony's state: returns and removes it in one step, so of several
    /// concurrent finishes exactly one gets it. `None` when spent, expired or unknown.
    async fn take_ceremony(&self, key: &str) -> Result<Option<String>, StoreError>;
}
