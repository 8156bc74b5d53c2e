//! Login throttling on the shared [`Counters`] store.
//!
//! Two rules, both checked *before* any password hashing (a throttled attempt costs no
//! argon2 work):
//!
//! - per username: after `max_user_failures` consecutive failures, attempts are refused
//!   until a backoff has passed since the last failure; the backoff doubles with each
//!   further failure, up to a cap; a success resets the count;
//! - per client address: after `max_addr_failures` failures within `addr_window`, attempts
//!   from that address are refused until the window closes (one address cannot spray
//!   many usernames).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::AuthError;
use crate::store::Counters;

/// Throttling thresholds.
#[derive(Debug, Clone)]
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

/// Applies [`ThrottleConfig`] on a [`Counters`] store.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    counters: Arc<dyn Counters>,
    clock: Arc<dyn Clock>,
}

fn user_key(username: &str) -> String {
    format!("login:user:{username}")
}

fn addr_key(addr: IpAddr) -> String {
    format!("login:addr:{addr}")
}

impl LoginThrottle {
    /// A throttle over `counters`.
    pub fn new(config: ThrottleConfig, counters: Arc<dyn Counters>, clock: Arc<dyn Clock>) -> Self {
        Self {
            config,
            counters,
            clock,
        }
    }

    /// `Err(Throttled)` if either rule blocks this attempt; `Err(StoreUnavailable)` if the
    /// counters cannot be read (fail closed).
    pub async fn check(&self, username: &str, addr: Option<IpAddr>) -> Result<(), AuthError> {
        let now = self.clock.unix_seconds();
        let mut wait = 0u64;
        if let Some(c) = self.counters.get(&user_key(username)).await?
            && c.count >= self.config.max_user_failures
        {
            let extra = c.count - self.config.max_user_failures;
            let backoff = self
                .config
                .user_backoff
                .as_secs()
                .saturating_mul(1u64 << extra.min(32))
                .min(self.config.user_backoff_max.as_secs());
            wait = wait.max((c.last + backoff).saturating_sub(now));
        }
        if let Some(addr) = addr
            && let Some(c) = self.counters.get(&addr_key(addr)).await?
            && c.count >= self.config.max_addr_failures
        {
            wait = wait.max(c.expires_at.saturating_sub(now));
        }
        if wait > 0 {
            return Err(AuthError::Throttled {
                retry_after_secs: wait,
            });
        }
        Ok(())
    }

    /// Records a failed attempt against the username and the address.
    pub async fn failure(&self, username: &str, addr: Option<IpAddr>) -> Result<(), AuthError> {
        self.counters
            .increment(&user_key(username), self.config.user_memory)
            .await?;
        if let Some(addr) = addr {
            self.counters
                .increment(&addr_key(addr), self.config.addr_window)
                .await?;
        }
        Ok(())
    }

    /// Records a success: the username's consecutive failures are forgotten. The address
    /// counter is kept (a sprayer that guesses one password is still a sprayer).
    pub async fn success(&self, username: &str) -> Result<(), AuthError> {
        self.counters.reset(&user_key(username)).await?;
        Ok(())
    }
}
