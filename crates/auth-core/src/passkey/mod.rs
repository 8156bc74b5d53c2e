//! Passkeys (WebAuthn): register a passkey while signed in, then sign in with it and no
//! password. Feature `passkeys`, on `webauthn-rs`.
//!
//! ```
//! # fn run(users: std::sync::Arc<auth_core::credential::MemoryUsers>) -> Result<(), auth_core::ConfigError> {
//! use auth_core::passkey::PasskeyConfig;
//!
//! let auth = auth_core::AuthBuilder::new(b"access-secret-of-at-least-32-bytes", b"refresh-secret-of-at-least-32-byte")
//!     .users(users)
//!     // The origin the browser shows; the relying party id is its host.
//!     .passkeys(PasskeyConfig::new("https://app.example.com")?.rp_name("Example"))
//!     .build()?;
//! # let _ = auth; Ok(()) }
//! ```
//!
//! The four ready-made endpoints are methods of [`Auth`](crate::Auth) (each adapter's
//! `passkeys` feature serves them under `/webauthn/…`):
//!
//! - [`passkey_register_start_endpoint`](crate::Auth::passkey_register_start_endpoint)
//!   and [`passkey_register_finish_endpoint`](crate::Auth::passkey_register_finish_endpoint),
//!   for a signed-in user (bearer, or session + CSRF);
//! - [`passkey_login_start_endpoint`](crate::Auth::passkey_login_start_endpoint) and
//!   [`passkey_login_finish_endpoint`](crate::Auth::passkey_login_finish_endpoint), which
//!   start a cookie session as `/login` does, with `amr` `["hwk"]`.
//!
//! What is kept where: the passkeys (public keys and sign counters) and each ceremony's
//! state live in the [`Passkeys`](crate::store::Passkeys) part of the state store, so
//! a ceremony may start on one instance and finish on another. The browser holds only
//! a random 256-bit ceremony handle, in an HttpOnly cookie scoped to `/webauthn` for five
//! minutes; the store keys the state by the handle's SHA-256 digest and hands it out
//! once, so a replayed finish fails. The WebAuthn user handle is derived from the user
//! id ([`user_handle`]), so no mapping is stored.
//!
//! [`PAGE_HTML`] is a small page (no external script) that drives all four from a
//! browser: an app serves it at `GET /webauthn` if it wants one.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::Cookie;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, PasskeyAuthentication, PasskeyRegistration, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

use crate::error::{AuthError, ConfigError};
use crate::request::Request;

#[cfg(test)]
mod tests;

/// A small HTML page with inline script, no external resource: a password login form, a
/// "Register a passkey" button, a "Sign in with a passkey" button (discoverable
/// credentials, no username), a "Log out" button and a status line. It calls `/login`,
/// `/logout`, `/dashboard` and the four `/webauthn/…` endpoints of the same origin.
pub const PAGE_HTML: &str = include_str!("page.html");

/// The name of the cookie that carries a ceremony's handle from start to finish.
const CEREMONY_COOKIE: &str = "webauthn_ceremony";
/// How long a ceremony may take, start to finish (also the cookie's `Max-Age`).
pub(crate) const CEREMONY_TTL_SECS: u64 = 300;
/// Passkey request bodies larger than this are refused without parsing.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Where passkeys are used: the web origin the browser shows (scheme, host, port), the
/// relying party id (the origin's host) and the name shown to the user.
#[derive(Debug, Clone)]
pub struct PasskeyConfig {
    origin: Url,
    rp_id: String,
    rp_name: Option<String>,
}

impl PasskeyConfig {
    /// Passkeys for `origin`, such as `https://app.example.com` or, in development,
    /// `http://localhost:8000`. Refused ([`ConfigError::InvalidPasskeyOrigin`]): not a
    /// URL, a path, query or credentials in it, an IP address or no host (the relying
    /// party id must be a domain), plain `http` other than on `localhost` (browsers offer
    /// WebAuthn only to secure origins).
    pub fn new(origin: &str) -> Result<Self, ConfigError> {
        let bad = |reason: &'static str| ConfigError::InvalidPasskeyOrigin {
            origin: origin.to_owned(),
            reason,
        };
        let url = Url::parse(origin).map_err(|_| {
            bad("not a URL; write the origin the browser shows, such as https://app.example.com")
        })?;
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad(
                "an origin has no path, query or fragment; write only scheme, host and port",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("an origin has no user name or password"));
        }
        let Some(host) = url.domain() else {
            return Err(bad(
                "the relying party id is the origin's host and must be a domain name, not an IP address (use localhost in development)",
            ));
        };
        match url.scheme() {
            "https" => {}
            "http" if host == "localhost" || host.ends_with(".localhost") => {}
            "http" => {
                return Err(bad(
                    "browsers offer passkeys only on secure origins: use https (plain http only for localhost)",
                ));
            }
            _ => return Err(bad("the scheme must be https (or http for localhost)")),
        }
        let rp_id = host.to_owned();
        Ok(Self {
            origin: url,
            rp_id,
            rp_name: None,
        })
    }

    /// The relying party's name, shown by the browser or authenticator when a passkey is
    /// created (default: the relying party id, the origin's host).
    #[must_use]
    pub fn rp_name(mut self, name: impl Into<String>) -> Self {
        self.rp_name = Some(name.into());
        self
    }

    /// The relying party id: the origin's host.
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// The origin, as the browser shows it (`https://app.example.com`).
    pub fn origin(&self) -> String {
        self.origin.origin().ascii_serialization()
    }
}

/// The WebAuthn user handle for a user id: the first 16 bytes of SHA-256 over a fixed
/// label and the id, as a UUID. Deterministic, so nothing maps handles to users; the
/// label keeps it from equalling any other digest of the id.
pub fn user_handle(user_id: &str) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"auth-toolkit webauthn user handle\0")
        .chain_update(user_id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    for (b, d) in bytes.iter_mut().zip(digest.iter()) {
        *b = *d;
    }
    Uuid::from_bytes(bytes)
}

/// The relying party as built from a [`PasskeyConfig`], with the cookie settings.
#[derive(Debug)]
pub(crate) struct RelyingParty {
    pub(crate) webauthn: Webauthn,
    secure: bool,
}

impl RelyingParty {
    /// Builds the WebAuthn relying party; `secure` is the session cookie's `Secure`.
    pub(crate) fn new(config: &PasskeyConfig, secure: bool) -> Result<Arc<Self>, ConfigError> {
        let bad = |reason: &'static str| ConfigError::InvalidPasskeyOrigin {
            origin: config.origin(),
            reason,
        };
        let name = config.rp_name.as_deref().unwrap_or(&config.rp_id);
        let webauthn = WebauthnBuilder::new(&config.rp_id, &config.origin)
            .map_err(|_| bad("the relying party id must be the origin's host"))?
            .rp_name(name)
            .build()
            .map_err(|_| bad("webauthn-rs refused this relying party"))?;
        Ok(Arc::new(Self { webauthn, secure }))
    }

    /// `Set-Cookie` carrying a new ceremony's handle.
    pub(crate) fn cookie(&self, value: &str, max_age: u64) -> String {
        Cookie::build((CEREMONY_COOKIE, value.to_owned()))
            .http_only(true)
            .secure(self.secure)
            .same_site(cookie::SameSite::Strict)
            .path("/webauthn")
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(max_age).unwrap_or(i64::MAX),
            ))
            .build()
            .to_string()
    }

    /// `Set-Cookie` that deletes the ceremony cookie (finish sends it whatever happened).
    pub(crate) fn clearing_cookie(&self) -> String {
        self.cookie("", 0)
    }
}

/// A ceremony's server-side state between start and finish, as stored.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Ceremony {
    /// Registering a passkey for `user_id`.
    Register {
        /// Who started it.
        user_id: String,
        /// What its finish checks.
        state: PasskeyRegistration,
    },
    /// Signing in with any discoverable passkey (no username given).
    Discoverable {
        /// What its finish checks.
        state: DiscoverableAuthentication,
    },
    /// Signing in as `user_id`, with one of that user's passkeys.
    User {
        /// The user named at start.
        user_id: String,
        /// What its finish checks.
        state: PasskeyAuthentication,
    },
}

/// The store key of a ceremony handle: never the handle itself, so a reader of the store
/// cannot finish someone's ceremony.
pub(crate) fn ceremony_key(handle: &str) -> String {
    format!("webauthn:{}", crate::session::session_key(handle))
}

/// The ceremony handle the request carries, if exactly one plausible one.
pub(crate) fn presented_handle(request: &impl Request) -> Option<String> {
    let mut total = 0usize;
    let mut found = None;
    for raw in request.header_values("cookie") {
        total += raw.len();
        if total > crate::session::MAX_COOKIE_HEADER_BYTES {
            return None;
        }
        let text = std::str::from_utf8(raw).ok()?;
        for cookie in Cookie::split_parse(text).flatten() {
            if cookie.name() == CEREMONY_COOKIE {
                if found.is_some() {
                    return None;
                }
                found = Some(cookie.value().to_owned());
            }
        }
    }
    found.filter(|v| v.len() == 43)
}

/// The canonical text of a credential id: base64url without padding.
pub(crate) fn credential_text(raw_id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw_id)
}

pub(crate) fn registration_failed(detail: impl Into<Cow<'static, str>>) -> AuthError {
    AuthError::PasskeyRegistration {
        detail: detail.into(),
    }
}

pub(crate) fn login_failed(detail: impl Into<Cow<'static, str>>) -> AuthError {
    AuthError::PasskeyLogin {
        detail: detail.into(),
    }
}

/// Passkeys are not configured: every `/webauthn/…` endpoint answers 404.
pub(crate) fn not_configured() -> AuthError {
    AuthError::NotFound {
        detail: "Passkeys are not enabled on this server".into(),
    }
}
