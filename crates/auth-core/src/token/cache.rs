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
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

use super::Claims;

const SHARDS: usize = 16;

/// Bytes of the token's end that are hashed.
const TAIL: usize = 32;

/// A randomly keyed hash of the last [`TAIL`] bytes of what is hashed (and its length).
#[derive(Debug, Clone, Copy)]
struct TailState {
    k0: u64,
    k1: u64,
}

impl TailState {
    fn random() -> Self {
        let mut k = [0u8; 16];
        rand::fill(&mut k);
        let (a, b) = k.split_at(8);
        Self {
            k0: u64::from_le_bytes(a.try_into().unwrap_or_default()),
            k1: u64::from_le_bytes(b.try_into().unwrap_or_default()),
        }
    }
}

impl BuildHasher for TailState {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher {
            h: self.k0,
            k1: self.k1,
        }
    }
}

struct TailHasher {
    h: u64,
    k1: u64,
}

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let tail = bytes.rchunks(TAIL).next().unwrap_or_default();
        let mut h = self.h ^ (bytes.len() as u64);
        for chunk in tail.chunks(8) {
            let mut word = [0u8; 8];
            for (w, b) in word.iter_mut().zip(chunk) {
                *w = *b;
            }
            h = (h ^ u64::from_le_bytes(word)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            h ^= h >> 29;
        }
        self.h = h;
    }

    fn finish(&self) -> u64 {
        // MurmurHash3's finaliser: every bit of the state reaches every output bit.
        let mut h = self.h ^ self.k1;
        h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Verified claims with the key epoch they were verified under.
type Entry<V> = (V, u64);

struct Shard<V> {
    current: HashMap<Box<str>, Entry<V>, TailState>,
    previous: HashMap<Box<str>, Entry<V>, TailState>,
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
    shard_hasher: TailState,
    /// Bumped when keys are replaced: entries verified under an older epoch are never
    /// served, even one a verification in flight during the replacement inserts late.
    epoch: std::sync::atomic::AtomicU64,
}

impl<V: Clone> VerifiedCache<V> {
    /// A cache of at most `capacity` entries; `None` when `capacity` is 0.
    pub(crate) fn new(capacity: usize) -> Option<Self> {
        if capacity == 0 {
            return None;
        }
        let map_hasher = TailState::random();
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
            shard_hasher: TailState::random(),
            epoch: std::sync::atomic::AtomicU64::new(0),
        })
    }

    // In bounds: `i < SHARDS`, and `new` builds exactly `SHARDS` shards.
    #[allow(clippy::indexing_slicing)]
    fn shard(&self, token: &str) -> &Mutex<Shard<V>> {
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

    pub(crate) fn get(&self, token: &str) -> Option<V> {
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

    /// Remembers `claims`, verified under `epoch` (read before the verification began).
    pub(crate) fn insert(&self, token: &str, claims: &V, epoch: u64) {
        let mut shard = self.shard(token).lock().unwrap_or_else(|p| p.into_inner());
        Self::put(
            &mut shard,
            self.generation_cap,
            token.into(),
            (claims.clone(), epoch),
        );
    }

    fn put(shard: &mut Shard<V>, cap: usize, key: Box<str>, entry: Entry<V>) {
        if shard.current.len() >= cap && !shard.current.contains_key(&key) {
            let fresh = HashMap::with_hasher(*shard.current.hasher());
            shard.previous = std::mem::replace(&mut shard.current, fresh);
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
