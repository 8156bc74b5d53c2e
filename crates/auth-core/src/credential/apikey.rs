//! API keys: generation, format checking, digest lookup.
//!
//! A generated key looks like `ak_` + 43 base62 characters (≈256 bits from the CSPRNG) +
//! a 6-character base62 checksum. The checksum lets a typo or a foreign string be refused
//! before any store lookup (and lets secret scanners recognise leaked keys).
//!
//! Only the SHA-256 digest of a key is stored. A slow password hash (argon2) is not needed
//! here: slow hashes protect *low-entropy* secrets from offline guessing, and a 256-bit
//! random key cannot be guessed however fast the hash is. A fast digest also lets every
//! request be checked in microseconds. The store is looked up by digest and the record's
//! digest compared again in constant time (`subtle`); timing differences of the lookup can
//! at most reveal bits of a digest, which do not help find a preimage.

use std::sync::Arc;

use async_trait::async_trait;
use rand::RngExt as _;
use rand::distr::Alphanumeric;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::Clock;
use crate::error::{AuthError, ConfigError, StoreError};
use crate::request::{Request, header_value};

const BODY_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Longest legacy (free-form) key accepted; longer input is refused without a lookup.
const MAX_LEGACY_LEN: usize = 128;

/// A SHA-256 digest of an API key: what the store keeps.
pub type KeyDigest = [u8; 32];

/// What the store keeps about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// SHA-256 of the key.
    pub digest: KeyDigest,
    /// A label for people ("CI deploy key").
    pub name: String,
    /// The owning user or service.
    pub owner: String,
    /// Roles granted to requests made with this key.
    pub roles: Vec<String>,
    /// OAuth-style scopes granted to requests made with this key.
    pub scopes: Vec<String>,
    /// Creation time (Unix seconds).
    pub created: u64,
    /// Expiry (Unix seconds); `None` never expires.
    pub expires: Option<u64>,
    /// A revoked key is refused.
    pub revoked: bool,
    /// The first characters of the key, for display (`ak_Xy3...`); never the whole key.
    pub display_prefix: String,
}

/// Where API key records live.
#[async_trait]
pub trait ApiKeyStore: Send + Sync + std::fmt::Debug {
    /// The record with this digest.
    async fn find(&self, digest: &KeyDigest) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Adds or replaces a record.
    async fn insert(&self, record: ApiKeyRecord) -> Result<(), StoreError>;
    /// Marks a key revoked; `false` if there was no such key.
    async fn revoke(&self, digest: &KeyDigest) -> Result<bool, StoreError>;
}

/// Where a key was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The configured header.
    Header,
    /// The configured query parameter (logged as a warning: URLs end up in logs).
    Query,
}

/// API key settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiKeyConfig {
    /// The prefix of generated keys (default `ak_`): letters, digits and `_`.
    pub prefix: String,
    /// The header carrying the key (default `x-api-key`, matched case-insensitively).
    pub header: String,
    /// The query parameter carrying the key, if allowed (default: not allowed).
    pub query_param: Option<String>,
    /// Accept keys not in the generated format (pre-existing keys); they are still looked
    /// up only by digest. Default `false`.
    pub allow_legacy: bool,
    /// How many keys' digests are remembered once a key has been found in the store, so
    /// that its later requests need neither the checksum nor the digest computed again
    /// (default 10 000; 0 turns it off). The store is still asked on every request, so a
    /// revoked key is refused at once.
    pub digest_cache: usize,
}

impl Default for ApiKeyConfig {
    fn default() -> Self {
        Self {
            prefix: "ak_".into(),
            header: "x-api-key".into(),
            query_param: None,
            allow_legacy: false,
            digest_cache: 10_000,
        }
    }
}

impl ApiKeyConfig {
    /// Sets the prefix of generated keys (letters, digits and `_`; checked by
    /// [`ApiKeys::new`]).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets the header carrying the key (matched case-insensitively).
    pub fn header(mut self, header: impl Into<String>) -> Self {
        self.header = header.into();
        self
    }

    /// Allows the key in the query parameter `name` (by default it is not allowed).
    pub fn query_param(mut self, name: impl Into<String>) -> Self {
        self.query_param = Some(name.into());
        self
    }

    /// Sets whether keys not in the generated format are accepted.
    pub fn allow_legacy(mut self, on: bool) -> Self {
        self.allow_legacy = on;
        self
    }

    /// Sets how many found keys' digests are remembered (0 turns the cache off).
    pub fn digest_cache(mut self, entries: usize) -> Self {
        self.digest_cache = entries;
        self
    }
}

/// A newly generated key: show `key` to its owner once, store `record`.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The key itself. It is not stored anywhere; print it once.
    pub key: String,
    /// The record to store.
    pub record: ApiKeyRecord,
}

/// Generates and checks API keys.
#[derive(Debug, Clone)]
pub struct ApiKeys {
    config: ApiKeyConfig,
    store: Arc<dyn ApiKeyStore>,
    clock: Arc<dyn Clock>,
    /// Key → its digest, for keys the store has found (the checksum check and SHA-256
    /// memoised in the verified-token cache's bounded, randomly keyed maps; junk never
    /// enters).
    digests: Option<Arc<crate::token::cache::VerifiedCache<KeyDigest>>>,
}

/// SHA-256 of a key.
pub fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

fn checksum(prefix_and_body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let d: [u8; 32] = Sha256::digest(prefix_and_body).into();
    let [d0, d1, d2, d3, ..] = d;
    let mut n = u32::from_be_bytes([d0, d1, d2, d3]);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        // In bounds: `n % 62 < 62 == BASE62.len()`.
        #[allow(clippy::indexing_slicing)]
        let digit = BASE62[(n % 62) as usize];
        *slot = digit;
        n /= 62;
    }
    out
}

impl ApiKeys {
    /// Key handling over `store`. Refuses a prefix that is empty or not `[A-Za-z0-9_]`.
    pub fn new(
        config: ApiKeyConfig,
        store: Arc<dyn ApiKeyStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        if config.prefix.is_empty()
            || config.prefix.len() > 16
            || !config
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(ConfigError::Invalid {
                setting: "api key prefix",
                reason: "use 1 to 16 letters, digits or underscores, e.g. `ak_`".into(),
            });
        }
        let digests = crate::token::cache::VerifiedCache::new(config.digest_cache).map(Arc::new);
        Ok(Self {
            config,
            store,
            clock,
            digests,
        })
    }

    /// The settings.
    pub fn config(&self) -> &ApiKeyConfig {
        &self.config
    }

    /// Digests held in the cache.
    #[cfg(test)]
    pub(crate) fn cached_digests(&self) -> usize {
        self.digests.as_ref().map_or(0, |c| c.len())
    }

    /// A fresh key and the record to store for it (not stored yet: see [`ApiKeys::create`]).
    pub fn generate(
        &self,
        name: &str,
        owner: &str,
        roles: Vec<String>,
        expires: Option<u64>,
    ) -> NewApiKey {
        let body: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(BODY_LEN)
            .map(char::from)
            .collect();
        let mut key = format!("{}{body}", self.config.prefix);
        let sum = checksum(key.as_bytes());
        key.extend(sum.iter().map(|b| char::from(*b)));
        let record = ApiKeyRecord {
            digest: digest(&key),
            name: name.into(),
            owner: owner.into(),
            roles,
            scopes: Vec::new(),
            created: self.clock.unix_seconds(),
            expires,
            revoked: false,
            display_prefix: display_prefix(&key),
        };
        NewApiKey { key, record }
    }

    /// Generates a key and stores its record; returns the key to show once.
    pub async fn create(
        &self,
        name: &str,
        owner: &str,
        roles: Vec<String>,
        expires: Option<u64>,
    ) -> Result<NewApiKey, StoreError> {
        let new = self.generate(name, owner, roles, expires);
        self.store.insert(new.record.clone()).await?;
        Ok(new)
    }

    /// Registers a pre-existing key that is not in the generated format (needs
    /// `allow_legacy`). Only its digest is stored.
    pub async fn register_legacy(
        &self,
        key: &str,
        name: &str,
        owner: &str,
        roles: Vec<String>,
    ) -> Result<(), StoreError> {
        let record = ApiKeyRecord {
            digest: digest(key),
            name: name.into(),
            owner: owner.into(),
            roles,
            scopes: Vec::new(),
            created: self.clock.unix_seconds(),
            expires: None,
            revoked: false,
            display_prefix: display_prefix(key),
        };
        self.store.insert(record).await
    }

    /// Whether `key` is well-formed: a generated key with a valid checksum, or (when
    /// allowed) a plausible legacy key. No store call.
    pub fn well_formed(&self, key: &str) -> bool {
        if let Some(rest) = key.strip_prefix(self.config.prefix.as_str())
            && rest.len() == BODY_LEN + CHECKSUM_LEN
            && rest.bytes().all(|b| b.is_ascii_alphanumeric())
            && let Some((head, sum)) = key
                .as_bytes()
                .split_at_checked(key.len().saturating_sub(CHECKSUM_LEN))
        {
            return bool::from(checksum(head).ct_eq(sum));
        }
        self.config.allow_legacy
            && !key.starts_with(self.config.prefix.as_str())
            && (8..=MAX_LEGACY_LEN).contains(&key.len())
            && key.bytes().all(|b| b.is_ascii_graphic())
    }

    /// The record of a valid, unexpired, unrevoked key; [`AuthError::InvalidApiKey`]
    /// otherwise (malformed keys without a store call).
    pub async fn verify(&self, key: &str) -> Result<ApiKeyRecord, AuthError> {
        let cached = self.digests.as_ref().and_then(|c| c.get(key));
        let d = match cached {
            Some(d) => d,
            None if self.well_formed(key) => digest(key),
            None => return Err(AuthError::InvalidApiKey),
        };
        let record = self.store.find(&d).await?.ok_or(AuthError::InvalidApiKey)?;
        if !bool::from(record.digest.ct_eq(&d)) || record.revoked {
            return Err(AuthError::InvalidApiKey);
        }
        if cached.is_none()
            && let Some(cache) = &self.digests
        {
            cache.remember(key, &d);
        }
        if record
            .expires
            .is_some_and(|exp| self.clock.unix_seconds() >= exp)
        {
            return Err(AuthError::InvalidApiKey);
        }
        Ok(record)
    }

    /// Finds the key in a request (header first, then the query parameter if enabled) and
    /// verifies it. A key in the query string logs a warning that never contains the key.
    pub async fn authenticate(
        &self,
        request: &impl Request,
    ) -> Result<(ApiKeyRecord, KeySource), AuthError> {
        let (key, source) = self.extract(request)?;
        let record = self.verify(&key).await?;
        Ok((record, source))
    }

    /// The key and where it was found, without verifying it.
    pub fn extract(&self, request: &impl Request) -> Result<(String, KeySource), AuthError> {
        match header_value(request, &self.config.header) {
            Ok(Some(v)) => return Ok((v.to_string(), KeySource::Header)),
            Ok(None) => {}
            Err(_) => return Err(AuthError::InvalidApiKey),
        }
        if let Some(param) = &self.config.query_param
            && let Some(query) = request.query()
        {
            let mut found = None;
            for (name, value) in form_urlencoded::parse(query.as_bytes()) {
                if name == param.as_str() {
                    if found.is_some() {
                        return Err(AuthError::InvalidApiKey);
                    }
                    found = Some(value.into_owned());
                }
            }
            if let Some(key) = found {
                tracing::warn!(
                    parameter = %param,
                    "API key sent in the query string, where proxies and access logs record it; send it in the `{}` header instead",
                    self.config.header
                );
                return Ok((key, KeySource::Query));
            }
        }
        Err(AuthError::MissingCredentials(crate::error::Scheme::ApiKey))
    }
}

/// The first 6 characters of a key and `...`, as the contract's `key_used`.
pub fn display_prefix(key: &str) -> String {
    let head: String = key.chars().take(6).collect();
    format!("{head}...")
}

/// API key records in process memory.
#[derive(Debug, Default)]
pub struct MemoryApiKeys {
    map: std::sync::RwLock<std::collections::HashMap<KeyDigest, ApiKeyRecord>>,
}

impl MemoryApiKeys {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ApiKeyStore for MemoryApiKeys {
    async fn find(&self, digest: &KeyDigest) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
            .cloned())
    }

    async fn insert(&self, record: ApiKeyRecord) -> Result<(), StoreError> {
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(record.digest, record);
        Ok(())
    }

    async fn revoke(&self, digest: &KeyDigest) -> Result<bool, StoreError> {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        Ok(map.get_mut(digest).map(|r| r.revoked = true).is_some())
    }
}
