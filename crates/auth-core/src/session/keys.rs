//! The session id a request presents (the cookie header scanned in place) and its store
//! key (the SHA-256 of the id), remembered for live sessions.

use std::sync::Arc;

use super::{ID_LEN, MAX_COOKIE_HEADER_BYTES, SessionManager, session_key};
use crate::request::Request;

/// Whether a byte may appear in a session id (base64url): a table, as this runs for
/// every byte of every presented id.
fn is_id_byte(b: u8) -> bool {
    // Built at compile time: an index out of bounds would fail the build, not a request.
    #[allow(clippy::indexing_slicing)]
    const TABLE: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            let c = i as u8;
            t[i] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
            i += 1;
        }
        t
    };
    TABLE.get(usize::from(b)).copied().unwrap_or(false)
}

impl SessionManager {
    /// The session id the request carries in our cookie, if exactly one well-formed one.
    /// Junk, duplicates, oversized or non-UTF-8 cookie headers give `None`, never a panic.
    pub fn presented_id(&self, request: &impl Request) -> Option<String> {
        self.presented_id_ref(request).map(str::to_owned)
    }

    /// As [`SessionManager::presented_id`], borrowed from the request: this runs on every
    /// request (the session extractors, and the private-response headers of every
    /// response), so it neither allocates nor builds a `Cookie` per pair. Pairs are split
    /// at `;` and at their first `=`, with spaces and tabs around names and values
    /// ignored (RFC 6265 §5.2); a pair without `=` is skipped, as the `cookie` crate does.
    pub(crate) fn presented_id_ref<'r>(&self, request: &'r impl Request) -> Option<&'r str> {
        let mut total = 0usize;
        let mut found: Option<&'r [u8]> = None;
        let name = self.cookie_name.as_bytes();
        for raw in request.header_values("cookie") {
            total += raw.len();
            if total > MAX_COOKIE_HEADER_BYTES {
                return None;
            }
            // A header that is not UTF-8 is junk as a whole, as before.
            std::str::from_utf8(raw).ok()?;
            for pair in raw.split(|b| *b == b';') {
                let Some(eq) = pair.iter().position(|b| *b == b'=') else {
                    continue;
                };
                let (n, v) = pair.split_at(eq);
                if n.trim_ascii() != name {
                    continue;
                }
                if found.is_some() {
                    return None; // two values: ambiguous (cookie tossing); trust neither
                }
                // `v` starts with the `=`.
                found = Some(v.get(1..).unwrap_or_default().trim_ascii());
            }
        }
        let id = found
            .filter(|v| v.len() == ID_LEN && v.iter().fold(true, |ok, b| ok & is_id_byte(*b)))?;
        std::str::from_utf8(id).ok()
    }

    /// The store key of `id`, from the key cache when the id was seen before; whether it
    /// was.
    pub(super) fn key_of(&self, id: &str) -> (Arc<str>, bool) {
        match self.keys.as_ref().and_then(|c| c.get(id)) {
            Some(key) => (key, true),
            None => (session_key(id).into(), false),
        }
    }

    /// Store keys held in the key cache.
    #[cfg(test)]
    pub(crate) fn cached_keys(&self) -> usize {
        self.keys.as_ref().map_or(0, |c| c.len())
    }

    /// Remembers the store key of a live session's id.
    pub(super) fn remember_key(&self, id: &str, key: &Arc<str>) {
        if let Some(cache) = &self.keys {
            cache.remember(id, key);
        }
    }
}
