//! # auth-warp
//!
//! The warp 0.4 (filters, rejection recovery) adapter of the auth toolkit: glue only. It turns a request into
//! `auth-core`'s framework-neutral view, calls the core, and renders the core's
//! [`ErrorResponse`](auth_core::ErrorResponse) on failure. It never chooses a status code.
//!
//! **Status:** not built yet (tracked by issue #9). Until then this crate re-exports
//! `auth-core`, so code written against the core today keeps compiling:
//!
//! ```
//! use auth_warp::auth_core::{AuthError, Scheme};
//!
//! let answer = AuthError::MissingCredentials(Scheme::Bearer).to_response();
//! assert_eq!(answer.status, 401);
//! assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
//! ```

pub use auth_core;
