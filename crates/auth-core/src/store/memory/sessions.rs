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
            // Eight digits at a time (this runs on every session request).
            let mut out = [0u8; 32];
            let mut ok = true;
            for (o, digits) in out.chunks_exact_mut(4).zip(bytes.chunks_exact(8)) {
                let word = digits.try_into().map_or(u64::MAX, u64::from_le_bytes);
                match hex8(word) {
                    Some(four) => o.copy_from_slice(&four.to_le_bytes()),
                    None => ok = false,
                }
            }
            if ok {
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

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
const EVEN_BYTES: u64 = 0x00ff_00ff_00ff_00ff;

/// Eight lower-case hex digits (the first in the lowest byte of `w`) as four bytes (the
/// first in the lowest byte), or `None` if any byte is not one.
fn hex8(w: u64) -> Option<u32> {
    if w & HIGH_BITS != 0 {
        return None;
    }
    // Which bytes lie in `lo..=hi`: with every byte below 0x80, no sum carries into the
    // next byte, and a byte's high bit tells its side of the bound.
    let within = |lo: u64, hi: u64| {
        w.wrapping_add((0x80 - lo) * ONES) & !w.wrapping_add((0x7f - hi) * ONES) & HIGH_BITS
    };
    if within(u64::from(b'0'), u64::from(b'9')) | within(u64::from(b'a'), u64::from(b'f'))
        != HIGH_BITS
    {
        return None;
    }
    // A digit's value is its low nibble; a letter's (bit 6 set) its low nibble + 9.
    let nibbles = (w & (0x0f * ONES)) + ((w >> 6) & ONES) * 9;
    // Each 16-bit lane: its first digit (the high nibble) and its second, as one byte.
    let lanes = ((nibbles & EVEN_BYTES) << 4) | ((nibbles >> 8) & EVEN_BYTES);
    let halves = (lanes | (lanes >> 8)) & 0x0000_ffff_0000_ffff;
    u32::try_from((halves | (halves >> 16)) & 0xffff_ffff).ok()
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

impl MemoryStore {
    /// The live session under `key`, now (a record sharing the store's texts and lists).
    fn live_session(&self, key: &str) -> Option<SessionRecord> {
        let now = self.now();
        let key = Packed::key(key);
        let s = lock(&self.sessions);
        s.by_key
            .get(&key)
            .filter(|h| h.live(now))
            .map(|h| h.record())
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
        Ok(self.live_session(key))
    }

    fn load_session_now(&self, key: &str) -> Option<Result<Option<SessionRecord>, StoreError>> {
        Some(Ok(self.live_session(key)))
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
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::Packed;

    #[test]
    fn every_byte_in_every_place_of_a_key_decodes_as_a_table_would() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let base = "0123456789abcdef".repeat(4).into_bytes();
        for place in 0..64 {
            for byte in 0..=255u8 {
                let mut key = base.clone();
                key[place] = byte;
                let Ok(text) = std::str::from_utf8(&key) else {
                    continue; // a key is text: a lone high byte cannot be one
                };
                let expected: Option<Vec<u8>> = key
                    .chunks(2)
                    .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
                    .collect();
                match (Packed::key(text), expected) {
                    (Packed::Hex(got), Some(want)) => assert_eq!(got.to_vec(), want),
                    (Packed::Text(t), None) => assert_eq!(&*t, text),
                    (got, want) => panic!("{text}: {got:?} against {want:?}"),
                }
            }
        }
        for _ in 0..1000 {
            let bytes: [u8; 32] = rand::random();
            assert_eq!(Packed::key(&crate::ids::hex(&bytes)), Packed::Hex(bytes));
        }
    }

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
