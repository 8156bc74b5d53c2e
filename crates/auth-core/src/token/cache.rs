//! The verified-token cache: exact access-token string → its verified claims.
//!
//! A client reuses its access token for minutes, so almost every request repeats a
//! verification already done. Only tokens that passed full verification (header, key,
//! signature, claim types, issuer, audience) enter; on a hit the time rules (`exp`, `nbf`,
//! `iat` against the injected clock) are checked again, and revocation is checked by the
//! caller on every request as before. Memory is bounded: at most `capacity` entries, kept
//! in two generations per shard (when the current one fills, it becomes the previous and
//! the old previous is dropped), so hot tokens stay and nothing grows without bound.
//! Keys are compared as whole strings after a randomly keyed SipHash, so an attacker can
//! neither add entries without valid tokens nor aim collisions.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Mutex;

use super::Claims;

const SHARDS: usize = 16;

#[derive(Default)]
struct Shard {
    current: HashMap<Box<str>, Claims>,
    previous: HashMap<Box<str>, Claims>,
}

pub(crate) struct VerifiedCache {
    shards: Vec<Mutex<Shard>>,
    /// Entries per generation per shard.
    generation_cap: usize,
    hasher: RandomState,
}

impl VerifiedCache {
    /// A cache of at most `capacity` entries; `None` when `capacity` is 0.
    pub(crate) fn new(capacity: usize) -> Option<Self> {
        if capacity == 0 {
            return None;
        }
        Some(Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            generation_cap: (capacity / SHARDS / 2).max(1),
            hasher: RandomState::new(),
        })
    }

    fn shard(&self, token: &str) -> &Mutex<Shard> {
        let i = (self.hasher.hash_one(token) as usize) % SHARDS;
        &self.shards[i]
    }

    pub(crate) fn get(&self, token: &str) -> Option<Claims> {
        let mut shard = self.shard(token).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = shard.current.get(token) {
            return Some(c.clone());
        }
        // A hit in the previous generation is promoted, so hot tokens survive rotation.
        let (key, claims) = shard.previous.remove_entry(token)?;
        let out = claims.clone();
        Self::put(&mut shard, self.generation_cap, key, claims);
        Some(out)
    }

    pub(crate) fn insert(&self, token: &str, claims: &Claims) {
        let mut shard = self.shard(token).lock().unwrap_or_else(|p| p.into_inner());
        Self::put(
            &mut shard,
            self.generation_cap,
            token.into(),
            claims.clone(),
        );
    }

    fn put(shard: &mut Shard, cap: usize, key: Box<str>, claims: Claims) {
        if shard.current.len() >= cap && !shard.current.contains_key(&key) {
            shard.previous = std::mem::take(&mut shard.current);
        }
        shard.current.insert(key, claims);
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
