//! Our own OAuth 2.0 token endpoint, framework-neutral (login *with someone else's*
//! account is [`third_party`](crate::third_party)).
//!
//! The token endpoint (RFC 6749 §3.2) with the `password` and `refresh_token` grants, and
//! `mfa_otp`, the second step of a password grant for a user with a second factor.
//!
//! RFC 9700 §2.4 says the resource-owner password grant **must not** be used with
//! third-party clients: it hands the user's password to the client. Like the tutorial this
//! toolkit grew from, it is offered for *first-party* apps (your own web or mobile client
//! talking to your own API). For anything else use the authorization-code flow with PKCE.

mod endpoint;

pub use endpoint::{MAX_FORM_BYTES, ScopePolicy, TokenEndpoint, TokenGrant, TokenResponse};

#[cfg(test)]
mod tests;
