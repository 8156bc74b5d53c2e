//! [`Sessions`] in memory: sessions by key, with a per-user index, held compactly.
//!
//! A million live sessions is a normal load for one instance, so each is held in few
//! bytes: the key as the 32 bytes of its 64-hex digest (the session module's keys); the
//! user id shared with the index and the CSRF token as the record's own `Arc<str>`; role
//! and `amr` lists interned (one copy per distinct list); times as `u32` Unix seconds
//! (until 2106); data boxed, absent when null. A read hands out a [`SessionRecord`] that
//! shares every text and list with the store (reference counts, no string copied).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;

use super::{MemoryStore, SweepClock, lock, sweep_due};
use crate::error::StoreError;
use crate::keyed_hash::KeyedState;
use crate::store::{SessionRecord, Sessions};

/// The bytes behind a 64-hex key, or the text itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Packed {
    /// A lower-case 64-hex key, decoded.
    Hex([u8; 32]),
    /// Anything else, as given.
    Text(Box<str>),
}

impl Packed {
    fn key(text: &str) -> Self {
        let bytes = text.as_bytes();
        if bytes.len() == 64 {
            // One pass: decode every pair, and note any byte that is not a lower-case
            // hex digit (its table entry has the high bits set).
            let mut out = [0u8; 32];
            let mut bad = 0u8;
            for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                let (hi, lo) = match pair {
                    [hi, lo] => (nibble(*hi), nibble(*lo)),
                    _ => (NOT_HEX, NOT_HEX),
                };
                bad |= hi | lo;
                *o = (hi << 4) | (lo & 0x0f);
            }
            if bad & NOT_HEX == 0 {
                return Self::Hex(out);
            }
        }
        Self::Text(text.into())
    }

    fn text(&self) -> String {
        match self {
            Self::Hex(b) => crate::ids::hex(b),
            Self::Text(t) => t.to_string(),
        }
    }
}

/// A lower-case hex digit's value; `NOT_HEX` for any other byte. Built at compile time:
/// an index out of bounds would fail the build, not a request.
#[allow(clippy::indexing_slicing)]
const HEX_VALUES: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    table
};
const NOT_HEX: u8 = 0xf0;

fn nibble(c: u8) -> u8 {
    HEX_VALUES.get(usize::from(c)).copied().unwrap_or(NOT_HEX)
}

fn secs(t: u64) -> u32 {
    u32::try_from(t).unwrap_or(u32::MAX)
}

/// One session as held.
#[derive(Debug)]
struct Held {
    user: Arc<str>,
    roles: Arc<[String]>,
    amr: Arc<[String]>,
    data: Option<Box<serde_json::Value>>,
    csrf: Arc<str>,
    created: u32,
    last_seen: u32,
    expires_at: u32,
}

impl Held {
    fn record(&self) -> SessionRecord {
        SessionRecord {
            user_id: Arc::clone(&self.user),
            roles: Arc::clone(&self.roles),
            created: u64::from(self.created),
            last_seen: u64::from(self.last_seen),
            csrf_token: Arc::clone(&self.csrf),
            data: self
                .data
                .as_deref()
                .cloned()
                .unwrap_or(serde_json::Value::Null),
            expires_at: u64::from(self.expires_at),
            amr: Arc::clone(&self.amr),
        }
    }

    fn live(&self, now: u64) -> bool {
        u64::from(self.expires_at) > now
    }
}

/// The sessions' maps.
#[derive(Debug, Default)]
pub(super) struct SessionState {
    /// Keyed by digests (the session module's keys), hashed by a random-keyed hash
    /// rather than SipHash: a key is the SHA-256 of a server-chosen id, so no caller can
    /// aim keys at one bucket. Sessions are boxed: the table holds a pointer per bucket,
    /// so its empty buckets and each doubling cost 48 bytes a bucket instead of 152.
    by_key: HashMap<Packed, Box<Held>, KeyedState>,
    /// Each user's session keys.
    by_user: HashMap<Arc<str>, Vec<Packed>>,
    /// One copy of each distinct role or `amr` list.
    lists: HashSet<Arc<[String]>>,
    sweeps: SweepClock,
}

impl SessionState {
    /// Sessions held, expired or not yet swept.
    pub(super) fn held(&self) -> usize {
        self.by_key.len()
    }

    /// Sessions held, and how many the table holds before it grows.
    #[cfg(test)]
    pub(super) fn fill(&self) -> (usize, usize) {
        (self.by_key.len(), self.by_key.capacity())
    }

    /// Drops expired sessions, their index entries and lists no session uses.
    pub(super) fn sweep(&mut self, now: u64) {
        self.by_key.retain(|_, h| h.live(now));
        let live = &self.by_key;
        self.by_user.retain(|_, keys| {
            keys.retain(|k| live.contains_key(k));
            !keys.is_empty()
        });
        self.lists.retain(|l| Arc::strong_count(l) > 1);
    }

    fn intern(&mut self, list: &[String]) -> Arc<[String]> {
        if let Some(found) = self.lists.get(list) {
            return Arc::clone(found);
        }
        let new: Arc<[String]> = Arc::from(list);
        self.lists.insert(Arc::clone(&new));
        new
    }

    fn remove(&mut self, key: &Packed) -> Option<Box<Held>> {
        let held = self.by_key.remove(key)?;
        if let Some(keys) = self.by_user.get_mut(&held.user) {
            keys.retain(|k| k != key);
            if keys.is_empty() {
                self.by_user.remove(&held.user);
            }
        }
        Some(held)
    }
}

#[async_trait]
impl Sessions for MemoryStore {
    async fn insert_session(&self, key: &str, record: &SessionRecord) -> Result<(), StoreError> {
        let now = self.now();
        let key = Packed::key(key);
        let mut s = lock(&self.sessions);
        s.remove(&key);
        let full = super::full(&s.by_key)
            || s.by_user
                .get(&*record.user_id)
                .is_some_and(|keys| keys.len() >= keys.capacity());
        let held = s.by_key.len();
        if sweep_due(&mut s.sweeps, held, full, now) {
            s.sweep(now);
        }
        let user: Arc<str> = match s.by_user.get_key_value(&*record.user_id) {
            Some((user, _)) => Arc::clone(user),
            None => Arc::clone(&record.user_id),
        };
        let held = Held {
            user: Arc::clone(&user),
            roles: s.intern(&record.roles),
            amr: s.intern(&record.amr),
            data: (!record.data.is_null()).then(|| Box::new(record.data.clone())),
            csrf: Arc::clone(&record.csrf_token),
            created: secs(record.created),
            last_seen: secs(record.last_seen),
            expires_at: secs(record.expires_at),
        };
        s.by_user.entry(user).or_default().push(key.clone());
        s.by_key.insert(key, Box::new(held));
        Ok(())
    }

    async fn load_session(&self, key: &str) -> Result<Option<SessionRecord>, StoreError> {
        let now = self.now();
        let key = Packed::key(key);
        let s = lock(&self.sessions);
        Ok(s.by_key
            .get(&key)
            .filter(|h| h.live(now))
            .map(|h| h.record()))
    }

    async fn touch_session(
        &self,
        key: &str,
        last_seen: u64,
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let key = Packed::key(key);
        let mut s = lock(&self.sessions);
        Ok(match s.by_key.get_mut(&key).filter(|h| h.live(now)) {
            Some(held) => {
                held.last_seen = secs(last_seen);
                held.expires_at = secs(expires_at);
                true
            }
            None => false,
        })
    }

    async fn remove_session(&self, key: &str) -> Result<bool, StoreError> {
        let now = self.now();
        let removed = lock(&self.sessions).remove(&Packed::key(key));
        Ok(removed.is_some_and(|h| h.live(now)))
    }

    async fn remove_user_sessions(&self, user_id: &str) -> Result<usize, StoreError> {
        let now = self.now();
        let mut s = lock(&self.sessions);
        let keys = s.by_user.remove(user_id).unwrap_or_default();
        let mut live = 0;
        for k in keys {
            if s.by_key.remove(&k).is_some_and(|h| h.live(now)) {
                live += 1;
            }
        }
        Ok(live)
    }

    async fn user_sessions(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, SessionRecord)>, StoreError> {
        let now = self.now();
        let s = lock(&self.sessions);
        let mut out: Vec<(String, SessionRecord)> = s
            .by_user
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|k| {
                let held = s.by_key.get(k).filter(|h| h.live(now))?;
                Some((k.text(), held.record()))
            })
            .collect();
        out.sort_by(|a, b| a.1.created.cmp(&b.1.created).then(a.0.cmp(&b.0)));
        Ok(out)
    }

    async fn update_session_data(
        &self,
        key: &str,
        data: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        // One lock: no concurrent slide is undone.
        let now = self.now();
        let key = Packed::key(key);
        let mut s = lock(&self.sessions);
        match s.by_key.get_mut(&key).filter(|h| h.live(now)) {
            Some(held) => {
                held.data = (!data.is_null()).then(|| Box::new(data.clone()));
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::Packed;

    #[test]
    fn keys_round_trip_packed_or_not() {
        let hex = "00ff10a9".repeat(8);
        assert!(matches!(Packed::key(&hex), Packed::Hex(_)));
        assert_eq!(Packed::key(&hex).text(), hex);
        for odd in ["k1", &"00FF10A9".repeat(8), &"0g".repeat(32), "é", ""] {
            assert!(matches!(Packed::key(odd), Packed::Text(_)), "{odd}");
            assert_eq!(Packed::key(odd).text(), odd);
        }
    }
}
