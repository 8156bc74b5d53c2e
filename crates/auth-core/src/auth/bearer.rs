//! The bearer credential of a request: where it is read from, the text rules, and the
//! verified-token cache asked first with the header's bytes.

use std::sync::Arc;

use super::Auth;
use crate::error::{AuthError, Scheme, TokenError};
use crate::request::{MAX_HEADER_BYTES, Request};
use crate::token::Claims;

impl Auth {
    /// The claims of the request's own bearer token, not yet checked for revocation:
    /// the cached claims when [`Auth::cached_bearer`] finds them, else
    /// [`Auth::bearer_token`]'s checks and the full verification.
    pub(super) fn bearer_claims<E: serde::de::DeserializeOwned + Send + Sync + 'static>(
        &self,
        request: &impl Request,
    ) -> Result<Arc<Claims<E>>, AuthError> {
        let raw = bearer_header(request)?;
        Ok(match self.cached_bearer::<E>(raw) {
            Some(hit) => hit?,
            None => self
                .inner
                .tokens
                .tokens()
                .verify_access_shared_as::<E>(bearer_text(raw)?)?,
        })
    }

    /// The claims of an `Authorization` value `Bearer <token>` whose token the
    /// verified-token cache holds, found by its bytes before any check of them as text
    /// (they passed those checks when they entered); `None` on a miss or any other form,
    /// which then takes [`Auth::bearer_token`]'s checks with the same errors as before.
    pub(super) fn cached_bearer<E: Send + Sync + 'static>(
        &self,
        raw: &[u8],
    ) -> Option<Result<Arc<Claims<E>>, TokenError>> {
        self.inner
            .tokens
            .tokens()
            .cached_as::<E>(bearer_candidate(raw)?)
    }
}

/// `Bearer ` and one space, the form every client sends (matched case-insensitively).
const BEARER_PREFIX: &[u8] = b"bearer ";

/// The bytes after `Bearer ` (and one space) in an `Authorization` value, unchecked: only
/// to be looked up in a cache of verified tokens, whose entries passed every text rule.
pub(super) fn bearer_candidate(raw: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = raw.split_at_checked(BEARER_PREFIX.len())?;
    scheme.eq_ignore_ascii_case(BEARER_PREFIX).then_some(token)
}

/// The `Authorization` header's single value, not yet checked as text: refused when the
/// token is also in the query, when the header is missing or repeated, or over 8 KiB.
pub(super) fn bearer_header(request: &impl Request) -> Result<&[u8], AuthError> {
    let in_query = request
        .query()
        .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token"));
    let mut values = request.header_values("authorization");
    if in_query {
        return Err(AuthError::InvalidBearerRequest {
            detail: if values.next().is_some() {
                "Send the access token once, in the Authorization header only".into()
            } else {
                "Send the access token in the Authorization header, not in the URL".into()
            },
        });
    }
    let Some(raw) = values.next() else {
        return Err(AuthError::MissingCredentials(Scheme::Bearer));
    };
    if values.next().is_some() {
        return Err(TokenError::Malformed.into());
    }
    if raw.len() > MAX_HEADER_BYTES {
        return Err(AuthError::HeaderTooLarge);
    }
    Ok(raw)
}

/// The token in an `Authorization` value: visible ASCII, scheme `Bearer`, one token.
pub(super) fn bearer_text(raw: &[u8]) -> Result<&str, AuthError> {
    // Visible ASCII and spaces only. Written as a fold without an early exit so the
    // compiler vectorises it.
    let visible = raw
        .iter()
        .fold(true, |ok, b| ok & (b.wrapping_sub(0x20) < 0x5f));
    if !visible {
        return Err(TokenError::Malformed.into());
    }
    let text = std::str::from_utf8(raw).map_err(|_| TokenError::Malformed)?;
    let trimmed = text.trim_matches(' ');
    let (scheme, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingCredentials(Scheme::Bearer));
    }
    let token = rest.trim_start_matches(' ');
    // `trimmed` has no trailing space, so a space in the token is two credentials in
    // one header. The same vectorised fold shape, not a `char` search.
    let inner_space = token.bytes().fold(false, |seen, b| seen | (b == b' '));
    if token.is_empty() || inner_space {
        return Err(TokenError::Malformed.into());
    }
    Ok(token)
}
