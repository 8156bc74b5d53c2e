//! The verified-token cache: exact access-token string → its verified claims.
//!
//! A client reuses its access token for minutes, so almost every request repeats a
//! verification already done. Only tokens that passed full verification (header, key,
//! signature, claim types, issuer, audience) enter; on a hit the time rules (`exp`, `nbf`,
//! `iat` against the injected clock) are checked again, and revocation is checked by the
//! caller on every request as before. Memory is bounded: at most `capacity` entries, kept
//! in two generations per shard (when the current one fills, it becomes the previous and
//! the old previous is dropped), so hot tokens stay and nothing grows without bound.
//! Keys are compared as whole strings. They are hashed by their last 32 bytes (the tail of
//! the signature) with a per-process random key, not by SipHash over the whole token: a
//! lookup then costs tens of instructions instead of ~2 000. Flooding is not possible:
//! only tokens that passed verification enter, and their signatures are not the
//! attacker's to choose; a probe with any other string only misses.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use super::Claims;
use crate::keyed_hash::KeyedState;

const SHARDS: usize = 16;

/// Bytes of the token's end that are hashed.
const TAIL: usize = 32;

/// Verified claims with the key epoch they were verified under.
type Entry<V> = (V, u64);

struct Shard<V> {
    current: HashMap<Box<[u8]>, Entry<V>, KeyedState>,
    previous: HashMap<Box<[u8]>, Entry<V>, KeyedState>,
}

/// The cache of verified tokens: our own access tokens' shared [`Claims`] by default, or
/// any other verified value (a trusted issuer's claims). A hit hands out a clone of `V`:
/// an `Arc`, so no claim is copied per request.
pub(crate) struct VerifiedCache<V = Arc<Claims>> {
    shards: Vec<Mutex<Shard<V>>>,
    /// Entries per generation per shard.
    generation_cap: usize,
    /// Picks the shard; keyed apart from the maps' own hasher, so that the keys of one
    /// shard still spread over all of its map's buckets.
    shard_hasher: KeyedState,
    /// Bumped when keys are replaced: entries verified under an older epoch are never
    /// served, even one a verification in flight during the replacement inserts late.
    epoch: std::sync::atomic::AtomicU64,
}

impl<V: Clone> std::fmt::Debug for VerifiedCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("held", &self.len())
            .finish()
    }
}

impl<V: Clone> VerifiedCache<V> {
    /// A cache of at most `capacity` entries; `None` when `capacity` is 0.
    pub(crate) fn new(capacity: usize) -> Option<Self> {
        if capacity == 0 {
            return None;
        }
        let map_hasher = KeyedState::random(TAIL);
        let empty = || HashMap::with_hasher(map_hasher);
        Some(Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        current: empty(),
                        previous: empty(),
                    })
                })
                .collect(),
            generation_cap: (capacity / SHARDS / 2).max(1),
            shard_hasher: KeyedState::random(TAIL),
            epoch: std::sync::atomic::AtomicU64::new(0),
        })
    }

    // In bounds: `i < SHARDS`, and `new` builds exactly `SHARDS` shards.
    #[allow(clippy::indexing_slicing)]
    fn shard(&self, token: &[u8]) -> &Mutex<Shard<V>> {
        let i = (self.shard_hasher.hash_one(token) as usize) % SHARDS;
        &self.shards[i]
    }

    /// The key epoch now: read it *before* verifying a token, and insert with it.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Forgets every entry (the keys were replaced): bumps the epoch first, so an insert
    /// racing with this never serves an entry of the old keys.
    pub(crate) fn clear(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            shard.current.clear();
            shard.previous.clear();
        }
    }

    /// The value held for `token` (its bytes: a header value need not be checked as text
    /// first to be found; only keys that passed verification were ever inserted).
    pub(crate) fn get(&self, token: &(impl AsRef<[u8]> + ?Sized)) -> Option<V> {
        let token = token.as_ref();
        let epoch = self.epoch();
        let mut shard = self.shard(token).lock().unwrap_or_else(|p| p.into_inner());
        if let Some((c, e)) = shard.current.get(token) {
            return (*e == epoch).then(|| c.clone());
        }
        // A hit in the previous generation is promoted, so hot tokens survive rotation.
        let (key, (claims, e)) = shard.previous.remove_entry(token)?;
        if e != epoch {
            return None;
        }
        let out = claims.clone();
        Self::put(&mut shard, self.generation_cap, key, (claims, e));
        Some(out)
    }

    /// Remembers the value of a pure function of `key` (a memo: no key epoch applies).
    pub(crate) fn remember(&self, key: &(impl AsRef<[u8]> + ?Sized), value: &V) {
        self.insert(key, value, self.epoch());
    }

    /// Remembers `claims`, verified under `epoch` (read before the verification began).
    pub(crate) fn insert(&self, token: &(impl AsRef<[u8]> + ?Sized), claims: &V, epoch: u64) {
        let token = token.as_ref();
        let mut shard = self.shard(token).lock().unwrap_or_else(|p| p.into_inner());
        Self::put(
            &mut shard,
            self.generation_cap,
            token.into(),
            (claims.clone(), epoch),
        );
    }

    fn put(shard: &mut Shard<V>, cap: usize, key: Box<[u8]>, entry: Entry<V>) {
        if shard.current.len() >= cap && !shard.current.contains_key(&key) {
            // The old previous generation's table becomes the new current one, emptied
            // but not freed: a cache that turns over under steady traffic allocates its
            // tables once instead of regrowing one from empty each generation.
            let Shard { current, previous } = shard;
            std::mem::swap(current, previous);
            current.clear();
        }
        shard.current.insert(key, entry);
    }

    /// Entries held (both generations), for tests and metrics.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|p| p.into_inner());
                s.current.len() + s.previous.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::{SHARDS, VerifiedCache};

    /// The least room any shard's current table has, and the entries held.
    fn least_room(cache: &VerifiedCache<u32>) -> (usize, usize) {
        let least = cache
            .shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .current
                    .capacity()
            })
            .min()
            .unwrap_or(0);
        (least, cache.len())
    }

    #[test]
    fn turning_over_reuses_the_tables_and_keeps_the_hot_entries() {
        let capacity = SHARDS * 2 * 100;
        let cache = VerifiedCache::<u32>::new(capacity).unwrap();
        assert_eq!(cache.generation_cap, 100);
        // Fill every shard's two generations, then turn them over many times.
        for i in 0..capacity as u32 * 2 {
            cache.remember(&format!("token-{i}"), &i);
        }
        for i in 0..capacity as u32 * 20 {
            cache.remember(&format!("later-{i}"), &i);
            // A token used all along stays (promoted out of the previous generation).
            cache.remember("hot", &7);
            assert_eq!(cache.get("hot"), Some(7));
            if i % 97 == 0 {
                // Each turnover empties the previous generation's table in place: every
                // current table, however few entries it has yet, already has room for a
                // whole generation (one regrown from empty would not).
                let (least, held) = least_room(&cache);
                assert!(least >= 100, "{least}");
                assert!(held <= capacity, "{held} <= {capacity}");
            }
        }
        // Entries of the newest generation are still found, older ones are gone.
        let last = capacity as u32 * 20 - 1;
        assert_eq!(cache.get(&format!("later-{last}")), Some(last));
        assert_eq!(cache.get("token-0"), None);
    }
}
