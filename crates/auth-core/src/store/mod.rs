//! Server-side state behind small, dyn-compatible async traits (`Arc<dyn …>`), so the
//! in-memory default and the Redis backend (`auth-redis`) are interchangeable and one
//! store test suite runs against both.
//!
//! Every method returns `Result<_, StoreError>`: a caller that cannot ask the store fails
//! closed ([`crate::AuthError::StoreUnavailable`], 503), never open.

mod factors;
mod memory;
mod passkeys;
#[cfg(any(test, feature = "store-test-suite"))]
pub mod suite;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use factors::{SecondFactors, TotpEnrolment};
pub use memory::MemoryStore;
pub use passkeys::{Passkeys, StoredPasskey};

use crate::error::StoreError;

/// The identity of a token, as the revocation stores key it: never the token's bytes, so a
/// re-encoded copy of a revoked token is still revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRef<'a> {
    /// The issuer (`""` when none is configured).
    pub iss: &'a str,
    /// The token id.
    pub jti: &'a str,
    /// The family (login) the token belongs to.
    pub sid: &'a str,
    /// The user.
    pub sub: &'a str,
    /// Issued-at (Unix seconds).
    pub iat: u64,
    /// Expiry (Unix seconds): a blocklist entry lives until then.
    pub exp: u64,
}

/// Whether a token is still usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// Not revoked.
    Active,
    /// Its `jti`, its family or its user has been revoked.
    Revoked,
}

impl TokenStatus {
    /// `Revoked` when `revoked`, else `Active`: the answer of a store's check.
    pub const fn revoked_if(revoked: bool) -> Self {
        if revoked { Self::Revoked } else { Self::Active }
    }
}

/// What rotating a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was the family's current one; its successor is now current.
    Rotated,
    /// The presented token had already been used (or the family was revoked): the whole
    /// family is now revoked. RFC 9700 §4.14.2 reuse detection.
    Reused,
    /// No such family (expired, or never started here).
    Unknown,
}

/// A refresh family (one login) as listed to its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// The family id (`sid`).
    pub sid: String,
    /// The user.
    pub sub: String,
    /// When the login happened (Unix seconds).
    pub created: u64,
    /// When a token of the family was last issued (Unix seconds).
    pub last_used: u64,
    /// When the family's current refresh token expires.
    pub expires_at: u64,
}

/// Revocation state: blocked `jti`s, revoked families and "log out everywhere" cut-offs.
///
/// [`Revocations::check`] answers for all three rules in one round trip.
#[async_trait]
pub trait Revocations: Send + Sync + Debug {
    /// Whether `token` is revoked by its `jti`, its family or its user. One round trip.
    async fn check(&self, token: &TokenRef<'_>) -> Result<TokenStatus, StoreError>;

    /// [`Revocations::check`]'s answer when this process holds it and can give it without
    /// waiting (the memory store; a store's local replica once it is in sync), else
    /// `None`, and the caller awaits `check`. Asked on every authenticated request before
    /// `check`, so it must agree with it (the store test suite compares the two). The
    /// default is `None`: a store without local state needs nothing more.
    fn check_now(&self, token: &TokenRef<'_>) -> Option<Result<TokenStatus, StoreError>> {
        let _ = token;
        None
    }

    /// Blocks one token until its `exp` (the entry disappears afterwards).
    async fn revoke_token(&self, token: &TokenRef<'_>) -> Result<(), StoreError>;

    /// Revokes a whole family: every access and refresh token with that `sid`, until
    /// `until` (the latest expiry of any of its tokens).
    async fn revoke_family(&self, sub: &str, sid: &str, until: u64) -> Result<(), StoreError>;

    /// "Log out everywhere": every token of `sub` issued before `at` is refused, and every
    /// live family of the user is revoked. Remembered until `until`.
    async fn revoke_user(&self, sub: &str, at: u64, until: u64) -> Result<(), StoreError>;

    /// Allowlist mode: records an issued token (with what the issuer knew about the
    /// client) until its `exp`. Revoking the token, its family or its user removes it.
    async fn list_token(&self, token: &TokenRef<'_>, meta: &TokenMeta) -> Result<(), StoreError>;

    /// Allowlist mode: `Active` only while the token is listed (and neither its family nor
    /// its user is revoked). One round trip.
    async fn check_listed(&self, token: &TokenRef<'_>) -> Result<TokenStatus, StoreError>;

    /// [`Revocations::check_listed`]'s answer when this process holds it and can give it
    /// without waiting (the memory store), else `None`, and the caller awaits
    /// `check_listed`: [`Revocations::check_now`] for allowlist mode, under the same rule
    /// (the store test suite compares the two). The default is `None`.
    fn check_listed_now(&self, token: &TokenRef<'_>) -> Option<Result<TokenStatus, StoreError>> {
        let _ = token;
        None
    }
}

/// What an allowlist entry records about an issued token, beside its user and family.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenMeta {
    /// When it was issued (Unix seconds).
    pub issued: u64,
    /// The client's address, when the issuer knew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The client's user agent, when the issuer knew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// Refresh-token families for rotation with reuse detection (RFC 9700 §4.14).
#[async_trait]
pub trait RefreshFamilies: Send + Sync + Debug {
    /// Records a new family whose current refresh token is `jti`, expiring at `exp`.
    async fn start(&self, sub: &str, sid: &str, jti: &str, exp: u64) -> Result<(), StoreError>;

    /// Atomically consumes `jti` and makes `next_jti` (expiring at `next_exp`) current.
    /// Presenting a `jti` that is not current revokes the family. Of two concurrent
    /// presentations of one token exactly one gets [`Rotation::Rotated`].
    async fn rotate(
        &self,
        sub: &str,
        sid: &str,
        jti: &str,
        next_jti: &str,
        next_exp: u64,
    ) -> Result<Rotation, StoreError>;

    /// The user's live, unrevoked families.
    async fn families(&self, sub: &str) -> Result<Vec<Family>, StoreError>;
}

/// A cookie session as the store keeps it. The store key is a digest of the session id
/// (never the id itself), so reading the store does not hand out live cookies.
///
/// The texts and lists are shared (`Arc`): a store that holds sessions in memory hands
/// out a record per request by counting references, not by copying each string. Build
/// them with `.into()` (`"u-1".into()`, `vec!["admin".to_owned()].into()`); read them
/// as `&str` and `&[String]` (`&*record.user_id`, `record.roles.iter()`). The JSON a
/// store writes is the same as with owned strings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SessionRecord {
    /// The user.
    pub user_id: Arc<str>,
    /// The user's roles when the session started.
    pub roles: Arc<[String]>,
    /// Start (Unix seconds).
    pub created: u64,
    /// Last request seen (Unix seconds; written at most once per refresh interval).
    pub last_seen: u64,
    /// The synchronizer CSRF token.
    pub csrf_token: Arc<str>,
    /// Caller-defined data.
    #[serde(default)]
    pub data: serde_json::Value,
    /// When the store forgets the session (idle or absolute timeout, whichever is first).
    pub expires_at: u64,
    /// How the user authenticated (RFC 8176 values: `pwd`, `otp`, `hwk`, ...), as the
    /// login recorded it; empty for sessions started before stores kept it.
    #[serde(default, skip_serializing_if = "<[String]>::is_empty")]
    pub amr: Arc<[String]>,
}

/// Server-side cookie sessions, keyed by a digest of the session id.
#[async_trait]
pub trait Sessions: Send + Sync + Debug {
    /// Stores a session until `record.expires_at`.
    async fn insert_session(&self, key: &str, record: &SessionRecord) -> Result<(), StoreError>;
    /// The live session under `key`.
    async fn load_session(&self, key: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// [`Sessions::load_session`]'s answer when this process holds it and can give it
    /// without waiting (the memory store), else `None`, and the caller awaits
    /// `load_session`. Asked on every session request first, so it must agree with it (the
    /// store test suite compares the two). The default is `None`.
    fn load_session_now(&self, key: &str) -> Option<Result<Option<SessionRecord>, StoreError>> {
        let _ = key;
        None
    }
    /// Slides a live session: new `last_seen` and expiry. `false` if it is gone.
    async fn touch_session(
        &self,
        key: &str,
        last_seen: u64,
        expires_at: u64,
    ) -> Result<bool, StoreError>;
    /// Ends one session; `false` if there was none.
    async fn remove_session(&self, key: &str) -> Result<bool, StoreError>;
    /// Ends every session of `user_id`; returns how many.
    async fn remove_user_sessions(&self, user_id: &str) -> Result<usize, StoreError>;
    /// The live sessions of `user_id`, with their keys.
    async fn user_sessions(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, SessionRecord)>, StoreError>;

    /// Replaces a live session's caller-defined data; `false` if the session is gone.
    /// The default loads the record and stores it again (a concurrent slide of the same
    /// session may be undone by a second); a store with an atomic update overrides it.
    async fn update_session_data(
        &self,
        key: &str,
        data: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        match self.load_session(key).await? {
            Some(mut record) => {
                record.data = data.clone();
                self.insert_session(key, &record).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Third-party identities linked to local users: a provider's subject, once linked, signs
/// in as that user from then on, whatever email the provider reports later
/// (`third_party::LinkByEmail`, feature `third-party`, links at the first login).
#[async_trait]
pub trait IdentityLinks: Send + Sync + Debug {
    /// The local user id linked to `subject` at `provider`, if any.
    async fn linked_user(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Links `subject` at `provider` to `user_id` unless it is linked already, in one
    /// atomic step (of two concurrent first logins, the first link wins); returns the
    /// user id linked now.
    async fn link_identity(
        &self,
        provider: &str,
        subject: &str,
        user_id: &str,
    ) -> Result<String, StoreError>;
}

/// Everything server-side, in one store: what [`crate::TokenManager`] and the reference
/// apps take. Implemented for every type that implements the seven traits.
pub trait StateStore:
    Revocations + RefreshFamilies + Sessions + Counters + IdentityLinks + SecondFactors + Passkeys
{
}

impl<T> StateStore for T where
    T: Revocations
        + RefreshFamilies
        + Sessions
        + Counters
        + IdentityLinks
        + SecondFactors
        + Passkeys
{
}

/// A fixed-window counter: how many hits since the window opened, when the last one was,
/// and when the window closes (all in Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Hits in this window.
    pub count: u64,
    /// Time of the latest hit.
    pub last: u64,
    /// The window's end; the counter is gone after it.
    pub expires_at: u64,
}

/// The rule [`Counters::reserve`] applies, in the same atomic step as the count.
///
/// A key with fewer than `max` hits admits the attempt. At `max` hits or more, the key is
/// locked until `backoff` after its latest hit (doubled for every hit past `max`, at most
/// `backoff_max`), and never past the end of its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Hits after which the key locks.
    pub max: u64,
    /// The first lock's length, in seconds.
    pub backoff: u64,
    /// The longest lock, in seconds.
    pub backoff_max: u64,
}

impl Limit {
    /// Seconds left to wait for a key holding `c` at `now`; zero when an attempt may go.
    /// The one definition of the rule: the memory store calls it, the Redis script
    /// mirrors it (and the store suite holds both to it).
    pub fn wait(&self, c: &Counter, now: u64) -> u64 {
        if c.count < self.max {
            return 0;
        }
        let extra = (c.count - self.max).min(32);
        let backoff = self
            .backoff
            .saturating_mul(1u64 << extra)
            .min(self.backoff_max);
        c.last
            .saturating_add(backoff)
            .min(c.expires_at)
            .saturating_sub(now)
    }
}

/// What [`Counters::reserve`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The attempt is counted (the counter after it).
    Admitted(Counter),
    /// The key is locked: nothing was counted; try again after this many seconds.
    Refused {
        /// Seconds until the lock ends.
        retry_after_secs: u64,
    },
}

/// Counters for login throttling, shared by every instance that shares the store.
#[async_trait]
pub trait Counters: Send + Sync + Debug {
    /// Checks `limit` and counts one hit in one atomic step: of many concurrent calls on
    /// one key, at most `limit.max` are admitted while the key is locked. A missing or
    /// expired counter starts a new window of `window` length. Throttling reserves the
    /// attempt this way *before* the password is hashed, so parallel guesses cannot all
    /// pass a check made before any of them was counted.
    async fn reserve(
        &self,
        key: &str,
        window: Duration,
        limit: &Limit,
    ) -> Result<Admission, StoreError>;

    /// Gives back one hit that [`Counters::reserve`] admitted (the attempt turned out not
    /// to be a failure). Never goes below zero; a counter at zero is removed.
    async fn release(&self, key: &str) -> Result<(), StoreError>;

    /// The live counter under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Counter>, StoreError>;

    /// Adds one hit to `key`. A missing or expired counter starts a new window of `window`
    /// length; a live one keeps its window (fixed windows).
    async fn increment(&self, key: &str, window: Duration) -> Result<Counter, StoreError>;

    /// Removes `key` (a successful login resets its username's failures).
    async fn reset(&self, key: &str) -> Result<(), StoreError>;
}
