//! [`TokenConfig`]: the issuer, audience, lifetimes, leeway and limits a
//! [`TokenService`](super::TokenService) issues and verifies with.

use std::time::Duration;

/// Settings for issuing and verifying tokens.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenConfig {
    /// `iss` to issue and require; `None` issues and checks none.
    pub issuer: Option<String>,
    /// `aud` to issue and require; `None` issues and checks none.
    pub audience: Option<String>,
    /// Access-token lifetime (default 15 minutes).
    pub access_ttl: Duration,
    /// Refresh-token lifetime (default 30 days).
    pub refresh_ttl: Duration,
    /// Clock-skew allowance for `exp`, `nbf` and `iat` (default 30 s, at most 60 s).
    pub leeway: Duration,
    /// Tokens longer than this are refused before decoding (default 8 KiB).
    pub max_token_bytes: usize,
    /// Verified access tokens remembered (default 10 000; 0 turns the cache off). A hit
    /// skips the signature and parsing but still checks `exp`/`nbf`/`iat`; revocation is
    /// checked on every request either way. Bounded: about 1 KiB per entry at most.
    pub verified_cache: usize,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            leeway: Duration::from_secs(30),
            max_token_bytes: 8 * 1024,
            verified_cache: 10_000,
        }
    }
}

impl TokenConfig {
    /// Sets the issuer.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// Sets the audience.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    /// Sets the access-token lifetime.
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// Sets the refresh-token lifetime.
    pub fn refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// Sets the verified-token cache's capacity (0 turns it off).
    pub fn verified_cache(mut self, entries: usize) -> Self {
        self.verified_cache = entries;
        self
    }

    /// Sets the leeway (at most [`MAX_LEEWAY`](super::MAX_LEEWAY); checked by [`TokenService::new`](super::TokenService::new)).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Sets the longest token accepted; longer ones are refused before decoding (at
    /// least 64 bytes; checked by [`TokenService::new`](super::TokenService::new)).
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }
}
