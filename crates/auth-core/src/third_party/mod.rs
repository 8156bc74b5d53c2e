//! Third-party login ("Login with Google / GitHub"): the OAuth 2.0 authorization-code
//! flow with PKCE (RFC 7636, S256) and, for OpenID Connect providers, id-token
//! verification against the provider's JWKS.
//!
//! Built on the `oauth2` crate for the protocol (authorization URL, PKCE, the token
//! exchange and its error answers) and on `jsonwebtoken` (already the toolkit's JWT
//! verifier) for id tokens, with the same rules as our own tokens: asymmetric
//! algorithms only, `alg` bound to the key, `iss`, `aud`, `exp`, `nonce` required.
//!
//! - [`ProviderConfig`] / [`Providers`]: the registry, with Google and GitHub presets
//!   and [`Providers::from_vars`] for `AUTH_OAUTH_<NAME>_…` variables.
//! - [`ExternalLogin`]: both legs; [`crate::Auth::external_login_endpoint`] and
//!   [`crate::Auth::external_callback_endpoint`] wrap them as HTTP answers, so every
//!   adapter serves `GET /auth/{provider}/login` and `/callback` alike.
//! - [`IdentityHook`]: maps the provider's identity to a local user; [`LinkByEmail`] is
//!   the default.
//! - [`HttpClient`]: the outbound client (feature `reqwest-client` gives
//!   `ReqwestClient`). Resource-server mode uses it too, so it is always here.
//!
//! Everything but the HTTP client and [`NO_PASSWORD`] needs the **`third-party`** feature (off by default;
//! it brings the `oauth2` crate): the provider registry, the login flow, the identity
//! hooks, and `AuthBuilder::external_login` with the two endpoints.
//!
//! Security notes: the `state` is compared in constant time and accepted once (counted
//! in the state store, so a replay fails on every instance); `next` must be a
//! same-origin relative path ([`safe_next`]); every failure clears the pre-login cookie
//! and starts nothing; provider error texts are never echoed, only the error code. A
//! login carries only an email the provider asserted it verified (`email_verified:
//! true`, the JSON boolean, or GitHub's primary verified email): any other is refused,
//! so no provider account can take over a local one by naming its address. An id
//! token must name this client in `azp` when it has one (and must have one with
//! several audiences), and its `at_hash`, when present, must be the access token's.
// Without the feature, the names above are not compiled: their links cannot resolve.
#![cfg_attr(not(feature = "third-party"), allow(rustdoc::broken_intra_doc_links))]

mod client;
#[cfg(feature = "third-party")]
mod flow;
#[cfg(feature = "third-party")]
mod identity;
#[cfg(feature = "third-party")]
mod oidc;
#[cfg(feature = "third-party")]
mod provider;

#[cfg(feature = "reqwest-client")]
pub use client::ReqwestClient;
pub use client::{
    HttpClient, HttpClientError, MAX_RESPONSE_BYTES, OutboundRequest, OutboundResponse,
};
#[cfg(feature = "third-party")]
pub use flow::{
    Completed, ExternalIdentity, ExternalLogin, LOGIN_STATE_TTL_SECS, LoginRedirect,
    MAX_NEXT_BYTES, safe_next,
};
#[cfg(feature = "third-party")]
pub use identity::{IdentityHook, LinkByEmail};
#[cfg(feature = "third-party")]
pub use provider::{ClientAuth, OidcConfig, ProviderConfig, Providers};

/// A password hash that no password verifies: not a PHC string, so the password check
/// reports a mismatch (after the dummy hash, in the same time as a wrong password).
/// `LinkByEmail` gives it to the users it creates (they sign in only through their
/// provider); a team importing such accounts can use it too.
pub const NO_PASSWORD: &str = "!external-login-only";

// Two attributes, so that clippy sees `cfg(test)` (unwrap allowed in tests).
#[cfg(test)]
#[cfg(feature = "third-party")]
mod tests;
