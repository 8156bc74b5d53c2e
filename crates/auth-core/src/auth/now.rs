//! Authentications answered in place: the `*_now` methods an extractor tries before it
//! builds (and boxes) the future of a store round trip. Each decides exactly as its
//! awaited twin and records the same metrics; it answers `None` whenever the twin would
//! wait for a store, write to one, or open the `auth.*` spans: while tracing's DEBUG level
//! is enabled (their level, by any subscriber, for any target) every answer is awaited.

use std::sync::Arc;

use super::{Auth, Principal, bearer};
use crate::error::{AuthError, Scheme};
use crate::request::Request;
use crate::session::Session;
use crate::telemetry::{self, AuthScheme};
use crate::token::Claims;

impl Auth {
    /// [`Auth::bearer_as`] answered without waiting, when it can be: the token verified
    /// (or found in the verified-token cache) and its revocation state held in this
    /// process (the memory store, or a replica in sync). `None` when a store must be
    /// asked, or tracing's DEBUG level is enabled (the `auth.*` spans'): then await
    /// [`Auth::bearer_as`]. Recorded in the metrics as [`Auth::bearer_as`] records it.
    pub fn bearer_now_as<E: serde::de::DeserializeOwned + Send + Sync + 'static>(
        &self,
        request: &impl Request,
    ) -> Option<Result<Arc<Claims<E>>, AuthError>> {
        let work = || match self.bearer_claims::<E>(request) {
            Ok(claims) => Some(self.inner.tokens.check_now(&claims)?.map(|()| claims)),
            Err(e) => Some(Err(e)),
        };
        telemetry::authenticate_now(work, |_| AuthScheme::Bearer)
    }

    /// [`Auth::session`] answered without waiting, when it can be: the session held in
    /// this process (the memory store) and needing no write (see
    /// [`SessionManager::load_now`](crate::session::SessionManager::load_now)). `None`
    /// otherwise, or when tracing's DEBUG level is enabled (the `auth.*` spans'): then await
    /// [`Auth::session`].
    pub fn session_now(&self, request: &impl Request) -> Option<Result<Session, AuthError>> {
        let work = || {
            let session = self.session_loaded_now(request)?;
            Some(session.and_then(|s| s.ok_or(AuthError::NotAuthenticated)))
        };
        telemetry::authenticate_now(work, |_| AuthScheme::Session)
    }

    /// [`Auth::principal`] answered without waiting, when it can be: a bearer token
    /// already in a verified-token cache (ours, with its revocation state held in this
    /// process, or a trusted issuer's), or a session as [`Auth::session_now`] finds it.
    /// `None` otherwise (a token not yet verified, a store to ask), or when tracing's
    /// DEBUG level is enabled (the `auth.*` spans'): then await [`Auth::principal`].
    pub fn principal_now(&self, request: &impl Request) -> Option<Result<Principal, AuthError>> {
        let work = || {
            if request.header_values("authorization").next().is_some() {
                return self.cached_principal(request);
            }
            let session = self.session_loaded_now(request)?;
            Some(session.and_then(|s| {
                s.map(Principal::Session)
                    .ok_or(AuthError::MissingCredentials(Scheme::Bearer))
            }))
        };
        telemetry::authenticate_now(work, |r| self.scheme_of(request, r))
    }

    /// The request's session loaded in place and CSRF-checked (`Ok(None)` without one).
    fn session_loaded_now(
        &self,
        request: &impl Request,
    ) -> Option<Result<Option<Session>, AuthError>> {
        let sessions = &self.inner.sessions;
        Some(sessions.load_now(request)?.and_then(|loaded| {
            match loaded {
                Some(session) => sessions
                    .check_csrf(request, &session)
                    .map(|()| Some(session)),
                None => Ok(None),
            }
        }))
    }

    /// The bearer principal when a verified-token cache holds the token (as
    /// `bearer_principal_unrecorded` finds it first) and the revocation check of our own
    /// can be answered in place; a header that breaks the rules is refused at once.
    fn cached_principal(&self, request: &impl Request) -> Option<Result<Principal, AuthError>> {
        let raw = match bearer::bearer_header(request) {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        if let Some(hit) = self.cached_bearer(raw) {
            let claims = match hit {
                Ok(claims) => claims,
                Err(e) => return Some(Err(e.into())),
            };
            return Some(
                self.inner
                    .tokens
                    .check_now(&claims)?
                    .map(|()| Principal::Bearer(claims)),
            );
        }
        let trusted = self.inner.trusted.as_ref()?;
        let hit = bearer::bearer_candidate(raw).and_then(|t| trusted.cached(t))?;
        Some(hit.map(Principal::External))
    }
}
