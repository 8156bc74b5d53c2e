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

/// `raw` as a session id: [`ID_LEN`] base64url characters.
fn valid_id(raw: &[u8]) -> Option<&str> {
    if raw.len() != ID_LEN || !raw.iter().fold(true, |ok, b| ok & is_id_byte(*b)) {
        return None;
    }
    std::str::from_utf8(raw).ok()
}

impl SessionManager {
    /// The session id the request carries in our cookie, if exactly one well-formed one.
    /// Junk, duplicates, oversized or non-UTF-8 cookie headers give `None`, never a panic.
    pub fn presented_id(&self, request: &impl Request) -> Option<String> {
        self.presented_id_ref(request).map(str::to_owned)
    }

    /// As [`SessionManager::presented_id`], borrowed from the request: this runs on every
    /// request (the session extractors, and the private-response headers of every
    /// response), so it neither allocates nor builds a `Cookie` per pair.
    pub(crate) fn presented_id_ref<'r>(&self, request: &'r impl Request) -> Option<&'r str> {
        valid_id(self.presented_value(request)?)
    }

    /// The bytes of the one value our cookie carries, if it has an id's length (not yet
    /// checked as an id). Pairs are split at `;` and at their first `=`, with spaces and
    /// tabs around names and values ignored (RFC 6265 §5.2); a pair without `=` is
    /// skipped, as the `cookie` crate does. Junk (a header that is not UTF-8), two values
    /// of our cookie (cookie tossing: trust neither) and oversized headers give `None`.
    fn presented_value<'r>(&self, request: &'r impl Request) -> Option<&'r [u8]> {
        let mut total = 0usize;
        let mut found: Option<&'r [u8]> = None;
        let name = self.cookie_name.as_bytes();
        for raw in request.header_values("cookie") {
            total += raw.len();
            if total > MAX_COOKIE_HEADER_BYTES {
                return None;
            }
            // A header that is not UTF-8 is junk as a whole (ASCII, the usual case, is
            // checked a word at a time).
            if !raw.is_ascii() {
                std::str::from_utf8(raw).ok()?;
            }
            let mut rest = raw;
            loop {
                let (pair, next) = match memchr::memchr(b';', rest) {
                    Some(i) => (rest.get(..i).unwrap_or_default(), rest.get(i + 1..)),
                    None => (rest, None),
                };
                if let Some(eq) = memchr::memchr(b'=', pair) {
                    let (n, v) = pair.split_at(eq);
                    if n.trim_ascii() == name {
                        if found.is_some() {
                            return None;
                        }
                        // `v` starts with the `=`.
                        found = Some(v.get(1..).unwrap_or_default().trim_ascii());
                    }
                }
                match next {
                    Some(next) => rest = next,
                    None => break,
                }
            }
        }
        found.filter(|v| v.len() == ID_LEN)
    }

    /// The store key of the session id the request presents, from the key cache when the
    /// id was seen before (then it was checked as an id when it entered, and equal bytes
    /// need no check again), and whether it was; the id's bytes with it. `None` without
    /// a well-formed id.
    pub(super) fn presented_key<'r>(
        &self,
        request: &'r impl Request,
    ) -> Option<(&'r [u8], Arc<str>, bool)> {
        let raw = self.presented_value(request)?;
        if let Some(key) = self.keys.as_ref().and_then(|c| c.get(raw)) {
            return Some((raw, key, true));
        }
        let key: Arc<str> = session_key(valid_id(raw)?).into();
        Some((raw, key, false))
    }

    /// Store keys held in the key cache.
    #[cfg(test)]
    pub(crate) fn cached_keys(&self) -> usize {
        self.keys.as_ref().map_or(0, |c| c.len())
    }

    /// Remembers the store key of a live session's id (already checked as an id).
    pub(super) fn remember_key(&self, id: &(impl AsRef<[u8]> + ?Sized), key: &Arc<str>) {
        if let Some(cache) = &self.keys {
            cache.remember(id, key);
        }
    }
}
