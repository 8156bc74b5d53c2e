//! For adapter authors: what a web-framework adapter needs from the core, in one place.
//!
//! An adapter (auth-axum, auth-actix, auth-warp, or one of your own) does three things
//! and decides nothing:
//!
//! 1. implements [`Request`] for its framework's request (method, headers, query, peer
//!    address), so the core reads requests without naming a framework type;
//! 2. calls [`Auth`](crate::Auth) (`bearer`, `principal`, `guard`, the `*_endpoint`s),
//!    which make every decision: which credential counts, the CSRF and origin rules,
//!    which status answers a failure, which answers stay private;
//! 3. renders the [`Reply`] (or an [`AuthError`](crate::AuthError)'s
//!    [`to_response`](crate::AuthError::to_response)) into its framework's response,
//!    unchanged, and applies [`Auth::private_headers`](crate::Auth::private_headers).
//!
//! An extractor may first ask the `*_now` twin of the method it calls
//! ([`Auth::bearer_now_as`](crate::Auth::bearer_now_as),
//! [`session_now`](crate::Auth::session_now), [`principal_now`](crate::Auth::principal_now)):
//! the same decision when it needs no store round trip, so that it can return an
//! [`Answer`] that is ready at once and box only the future that waits.
//!
//! It limits request bodies to [`MAX_BODY_BYTES`] and, for HTML forms, reads the
//! `csrf_token` field only when [`Auth::csrf_form_wanted`](crate::Auth::csrf_form_wanted)
//! says so (at most [`MAX_CSRF_FORM_BYTES`]). Optional extractors map through
//! [`optional`]. No adapter reads the clock or picks a status.
//!
//! ```
//! use auth_core::adapter::{Request, SimpleRequest};
//! // A test double an adapter's own tests can use; a real adapter wraps its request.
//! let request = SimpleRequest::new()
//!     .with_method("POST")
//!     .header("content-type", "application/x-www-form-urlencoded; charset=utf-8");
//! assert_eq!(request.method(), "POST");
//! assert_eq!(request.content_type(), Some("application/x-www-form-urlencoded; charset=utf-8"));
//! ```

pub use crate::answer::Answer;
pub use crate::auth::optional;
pub use crate::reply::Reply;
pub use crate::request::{
    HeaderProblem, MAX_HEADER_BYTES, Request, SimpleRequest, header_value, is_safe_method,
};
pub use crate::session::MAX_CSRF_FORM_BYTES;

/// The largest request body an adapter hands to the ready-made endpoints (64 KiB);
/// larger ones are refused before any handler runs (413 from the framework's own limit).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
