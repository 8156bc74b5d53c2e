//! # auth-core
//!
//! The framework-neutral core of the auth toolkit: tokens, credentials, sessions, stores,
//! policies, and the one table that maps every auth error to HTTP. No web framework is in
//! its dependency tree; the `auth-axum`, `auth-actix` and `auth-warp` adapters are glue
//! around it.
//!
//! Issue a token pair at login and verify the access token on each request:
//!
//! ```
//! use auth_core::token::{Algorithm, Key, KeyRing, Subject, TokenConfig, TokenService};
//! use auth_core::{AuthError, TokenError};
//!
//! let access = KeyRing::new(Key::hmac("2026-11", Algorithm::HS256, b"access-secret-of-at-least-32-bytes")?);
//! let refresh = KeyRing::new(Key::hmac("r-2026-11", Algorithm::HS256, b"refresh-secret-of-at-least-32-byte")?);
//! let tokens = TokenService::new(
//!     access,
//!     refresh,
//!     TokenConfig::default().issuer("auth-reference").audience("auth-reference"),
//! )?;
//!
//! let alice = Subject::new("1").with_email("alice@example.com").with_roles(["admin"]);
//! let pair = tokens.issue_pair(&alice)?;
//! assert_eq!(pair.expires_in, 900);
//!
//! let claims = tokens.verify_access(&pair.access.token)?;
//! assert_eq!(claims.email.as_deref(), Some("alice@example.com"));
//!
//! // A tampered token is refused, and the core says how to answer over HTTP.
//! let tampered = format!("{}x", pair.access.token);
//! let err = AuthError::from(tokens.verify_access(&tampered).unwrap_err());
//! let response = err.to_response();
//! assert_eq!(response.status, 401);
//! assert!(response.header("www-authenticate").unwrap().starts_with("Bearer error=\"invalid_token\""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Crypto backend
//!
//! `jsonwebtoken` is built with its `aws_lc_rs` backend only (see `ARCHITECTURE.md`);
//! [`token::TokenService::new`] refuses to start if no single backend is available, so a
//! misbuilt binary fails at start-up rather than panicking on a request.
//!
//! ## Features
//!
//! None is on by default: the default build has tokens, passwords, sessions, API keys,
//! policies, the stores' traits and the in-memory store, and resource-server mode
//! ([`resource_server`], over any [`third_party::HttpClient`]).
//!
//! - `third-party`: third-party login ("Login with Google / GitHub", the [`third_party`]
//!   providers and flow, `AuthBuilder::external_login`, the `/auth/{provider}/login` and
//!   `/callback` endpoints), on the `oauth2` crate. The adapters' feature of the same
//!   name enables it and serves the two routes.
//! - `reqwest-client`: `third_party::ReqwestClient`, an HTTP client for third-party login
//!   and for fetching trusted issuers' keys (reqwest on rustls with aws-lc-rs). Without
//!   it, implement [`third_party::HttpClient`] over the client you already have.
//! - `passkeys`: WebAuthn passkeys ([`passkey`]: `AuthBuilder::passkeys`, registration
//!   and password-less sign-in, the `/webauthn/…` endpoints), on `webauthn-rs`, which
//!   builds on OpenSSL. The adapters' feature of the same name serves the four routes.
//! - `testing`: `auth_core::testing`, credentials minted without a password for your
//!   tests; enable it in `[dev-dependencies]` only.
//! - `store-test-suite`: `auth_core::store::suite`, the tests every state store passes,
//!   for your own store's tests.

pub mod adapter;
mod answer;
mod auth;
pub mod clock;
pub mod credential;
mod error;
mod form;
pub mod grpc;
pub mod http;
mod ids;
mod keyed_hash;
pub mod mfa;
#[cfg(feature = "passkeys")]
pub mod passkey;
pub mod policy;
pub mod proxy;
pub mod render;
mod reply;
mod request;
pub mod resource_server;
pub mod session;
pub mod store;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod third_party;
pub mod token;
pub mod token_endpoint;

pub use auth::{Auth, AuthBuilder, Guard, Principal, UserJson, optional, user_json};
pub use error::{AuthError, ConfigError, OAuthErrorCode, Scheme, StoreError, TokenError};
pub use http::{ErrorResponse, Problem};
pub use reply::Reply;
pub use token::families::{ExtraClaims, RevocationMode, TokenManager, subject_of};

/// The crate's README, whose examples run as doctests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
