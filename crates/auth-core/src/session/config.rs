//! The chainable setters of [`SessionConfig`], so code outside this crate builds it from
//! [`SessionConfig::default`] without a struct literal.

use std::time::Duration;

use super::{SameSite, SessionConfig};

impl SessionConfig {
    /// Sets the cookie's name (`__Host-` is prepended with `host_prefix`).
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// Sets whether the cookie carries the `__Host-` prefix.
    pub fn host_prefix(mut self, on: bool) -> Self {
        self.host_prefix = on;
        self
    }

    /// Sets the `Secure` attribute (turn off only for plain-HTTP development).
    pub fn secure(mut self, on: bool) -> Self {
        self.secure = on;
        self
    }

    /// Sets the `SameSite` attribute.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Sets the `Domain` attribute (by default the cookie is host-only).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets the `Path` attribute.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets the longest a session lives, however active (also the `Max-Age`).
    pub fn absolute_timeout(mut self, timeout: Duration) -> Self {
        self.absolute_timeout = timeout;
        self
    }

    /// Sets how long an unused session lasts.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets how often, at most, the store is written to slide the idle expiry.
    pub fn touch_interval(mut self, interval: Duration) -> Self {
        self.touch_interval = interval;
        self
    }

    /// Sets how many session ids' store keys are remembered (0 turns the cache off).
    pub fn key_cache(mut self, entries: usize) -> Self {
        self.key_cache = entries;
        self
    }

    /// Sets the origins allowed besides the app's own (`scheme://host[:port]`).
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }
}
