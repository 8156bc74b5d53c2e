//! Login throttling on the shared [`Counters`] store.
//!
//! Two rules, both applied *before* any password hashing (a throttled attempt costs no
//! argon2 work):
//!
//! - per username: after `max_user_failures` consecutive failures, attempts are refused
//!   until a backoff has passed since the last failure; the backoff doubles with each
//!   further failure, up to a cap; a success resets the count;
//! - per client address: after `max_addr_failures` failures within `addr_window`, attempts
//!   from that address are refused until the window closes (one address cannot spray
//!   many usernames).
//!
//! Each attempt is *reserved* with [`Counters::reserve`]: the limit is checked and the
//! attempt counted in one atomic step, before hashing. A check made before hashing and a
//! count made after it would let parallel guesses all pass the check before any of them
//! is counted. A successful attempt gives its reservations back.
//!
//! Usernames are counted by their normalised form (Unicode NFKC, then lower case), so
//! `Carol`, `carol` and `ｃａｒｏｌ` share one counter.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use unicode_normalization::UnicodeNormalization;

use crate::error::AuthError;
use crate::store::{Admission, Counters, Limit};

/// Throttling thresholds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ThrottleConfig {
    /// Consecutive failures per username before lockout (default 5).
    pub max_user_failures: u64,
    /// The first lockout's length (default 60 s); each further failure doubles it.
    pub user_backoff: Duration,
    /// The longest lockout (default 15 min).
    pub user_backoff_max: Duration,
    /// How long consecutive failures are remembered without a new one (default 24 h).
    pub user_memory: Duration,
    /// Failures per client address within `addr_window` before lockout (default 100).
    pub max_addr_failures: u64,
    /// The per-address window (default 15 min).
    pub addr_window: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_user_failures: 5,
            user_backoff: Duration::from_secs(60),
            user_backoff_max: Duration::from_secs(15 * 60),
            user_memory: Duration::from_secs(24 * 3600),
            max_addr_failures: 100,
            addr_window: Duration::from_secs(15 * 60),
        }
    }
}

impl ThrottleConfig {
    /// Sets the consecutive failures per username before lockout.
    pub fn max_user_failures(mut self, failures: u64) -> Self {
        self.max_user_failures = failures;
        self
    }

    /// Sets the first lockout's length (each further failure doubles it).
    pub fn user_backoff(mut self, backoff: Duration) -> Self {
        self.user_backoff = backoff;
        self
    }

    /// Sets the longest lockout.
    pub fn user_backoff_max(mut self, backoff: Duration) -> Self {
        self.user_backoff_max = backoff;
        self
    }

    /// Sets how long consecutive failures are remembered without a new one.
    pub fn user_memory(mut self, memory: Duration) -> Self {
        self.user_memory = memory;
        self
    }

    /// Sets the failures per client address within `addr_window` before lockout.
    pub fn max_addr_failures(mut self, failures: u64) -> Self {
        self.max_addr_failures = failures;
        self
    }

    /// Sets the per-address window.
    pub fn addr_window(mut self, window: Duration) -> Self {
        self.addr_window = window;
        self
    }
}

/// Applies [`ThrottleConfig`] on a [`Counters`] store.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    counters: Arc<dyn Counters>,
}

/// The counter key of a username: NFKC, then lower case, so that case and compatibility
/// forms of one name share a counter.
fn user_key(username: &str) -> String {
    let normal: String = username.nfkc().collect();
    format!("login:user:{}", normal.to_lowercase())
}

/// IPv6 clients are counted per /64 ([`crate::proxy::throttle_key`]).
fn addr_key(addr: IpAddr) -> String {
    format!("login:addr:{}", crate::proxy::throttle_key(addr))
}

/// A login attempt that [`LoginThrottle::reserve`] admitted. Left alone it stays counted
/// as a failure; [`LoginThrottle::succeeded`] gives it back.
#[derive(Debug)]
#[must_use = "a reserved attempt is a failure unless `succeeded` is called"]
pub struct Attempt {
    user: String,
    addr: Option<String>,
}

impl LoginThrottle {
    /// A throttle over `counters`. The clock is the store's (it timestamps the hits).
    pub fn new(config: ThrottleConfig, counters: Arc<dyn Counters>) -> Self {
        Self { config, counters }
    }

    fn user_limit(&self) -> Limit {
        Limit {
            max: self.config.max_user_failures,
            backoff: self.config.user_backoff.as_secs(),
            backoff_max: self.config.user_backoff_max.as_secs(),
        }
    }

    fn addr_limit(&self) -> Limit {
        // Locked until the window closes: the lock never ends before the window does.
        let window = self.config.addr_window.as_secs();
        Limit {
            max: self.config.max_addr_failures,
            backoff: window,
            backoff_max: window,
        }
    }

    /// Reserves one attempt for `username` from `addr`: `Err(Throttled)` if either rule
    /// refuses it (nothing is counted then), `Err(StoreUnavailable)` if the store cannot
    /// be asked (fail closed). Otherwise the attempt is counted as a failure until
    /// [`LoginThrottle::succeeded`] says otherwise.
    pub async fn reserve(
        &self,
        username: &str,
        addr: Option<IpAddr>,
    ) -> Result<Attempt, AuthError> {
        let addr = addr.map(addr_key);
        if let Some(key) = &addr
            && let Admission::Refused { retry_after_secs } = self
                .counters
                .reserve(key, self.config.addr_window, &self.addr_limit())
                .await?
        {
            return Err(AuthError::Throttled { retry_after_secs });
        }
        let user = user_key(username);
        match self
            .counters
            .reserve(&user, self.config.user_memory, &self.user_limit())
            .await
        {
            Ok(Admission::Admitted(_)) => Ok(Attempt { user, addr }),
            Ok(Admission::Refused { retry_after_secs }) => {
                // The address's reservation was for an attempt that does not happen.
                if let Some(key) = &addr {
                    self.counters.release(key).await?;
                }
                Err(AuthError::Throttled { retry_after_secs })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The attempt succeeded: the username's consecutive failures are forgotten and the
    /// address's reservation is given back (its earlier failures are kept: a sprayer that
    /// guesses one password is still a sprayer).
    pub async fn succeeded(&self, attempt: Attempt) -> Result<(), AuthError> {
        self.counters.reset(&attempt.user).await?;
        if let Some(key) = &attempt.addr {
            self.counters.release(key).await?;
        }
        Ok(())
    }
}
