//! A randomly keyed hash for maps whose keys the server chose or verified: the
//! verified-token cache (tokens that passed verification), the session-key cache (ids of
//! live sessions), the memory store's session map (SHA-256 digests), its blocklist
//! (`iss` and `jti` of verified tokens) and its refresh families (the server's random
//! `sid`s). Tens of
//! instructions per lookup instead of SipHash's hundreds. The key is drawn per process
//! from the CSPRNG, so nobody outside can aim two keys at one bucket; and an attacker can
//! only probe these maps, never fill them with keys of their choice.

use std::hash::{BuildHasher, Hasher};

/// Builds [`KeyedHasher`]s: a random key, and how many bytes at the end of each write are
/// mixed in (all of them with `usize::MAX`; a token's last 32, its signature, in the
/// verified-token cache).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyedState {
    k0: u64,
    k1: u64,
    tail: usize,
}

impl KeyedState {
    /// A fresh random key, hashing the last `tail` bytes of each write (and its length).
    pub(crate) fn random(tail: usize) -> Self {
        let mut k = [0u8; 16];
        rand::fill(&mut k);
        let (a, b) = k.split_at(8);
        Self {
            k0: u64::from_le_bytes(a.try_into().unwrap_or_default()),
            k1: u64::from_le_bytes(b.try_into().unwrap_or_default()),
            tail: tail.max(1),
        }
    }
}

impl Default for KeyedState {
    /// Every byte hashed, under a fresh random key.
    fn default() -> Self {
        Self::random(usize::MAX)
    }
}

impl BuildHasher for KeyedState {
    type Hasher = KeyedHasher;
    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher {
            h: self.k0,
            k1: self.k1,
            tail: self.tail,
        }
    }
}

/// One word into the state: a multiply and a shift, so every input bit moves the high
/// bits; `finish` spreads them over the whole output.
fn mix(h: u64, word: u64) -> u64 {
    let h = (h ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

/// The hasher of [`KeyedState`].
pub(crate) struct KeyedHasher {
    h: u64,
    k1: u64,
    tail: usize,
}

impl Hasher for KeyedHasher {
    fn write(&mut self, bytes: &[u8]) {
        let tail = bytes.rchunks(self.tail).next().unwrap_or_default();
        let mut h = self.h ^ (bytes.len() as u64);
        // Whole words load at once; only the last, partial one is copied byte by byte.
        let mut words = tail.chunks_exact(8);
        for chunk in &mut words {
            h = mix(h, u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            for (w, b) in word.iter_mut().zip(rest) {
                *w = *b;
            }
            h = mix(h, u64::from_le_bytes(word));
        }
        self.h = h;
    }

    // A map hashes a `str` key as its bytes and then a 0xff byte, and a `[u8]` key as its
    // length and then its bytes: those small writes mix in one word each rather than
    // taking `write`'s path for a tail (this runs on every lookup).
    fn write_u8(&mut self, i: u8) {
        self.h = mix(self.h, u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.h = mix(self.h, i as u64);
    }

    fn finish(&self) -> u64 {
        // MurmurHash3's finaliser: every bit of the state reaches every output bit.
        let mut h = self.h ^ self.k1;
        h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use std::hash::BuildHasher as _;

    use super::KeyedState;

    #[test]
    fn equal_keys_hash_alike_and_distinct_keys_spread() {
        let all = KeyedState::random(usize::MAX);
        assert_eq!(all.hash_one("a session key"), all.hash_one("a session key"));
        let hashes: std::collections::HashSet<u64> = (0..10_000u32)
            .map(|i| all.hash_one(i.to_be_bytes()))
            .collect();
        assert_eq!(hashes.len(), 10_000, "no collision among 10 000 small keys");
        // Every byte counts, not only the tail.
        let (a, b) = ("x".repeat(40) + "same tail", "y".repeat(40) + "same tail");
        assert_ne!(all.hash_one(&a), all.hash_one(&b));
        // Two processes (two random keys) disagree.
        assert_ne!(
            KeyedState::default().hash_one(&a),
            KeyedState::default().hash_one(&a)
        );
        // With a tail of 32, only the last 32 bytes and the length count.
        let tail = KeyedState::random(32);
        let (c, d) = (
            "x".repeat(8) + &"t".repeat(32),
            "y".repeat(8) + &"t".repeat(32),
        );
        assert_eq!(tail.hash_one(&c), tail.hash_one(&d));
    }

    #[test]
    fn every_length_hashes_every_byte_of_its_tail_and_the_partial_last_word() {
        use std::hash::Hasher as _;
        // Each length from empty to five words, each byte position flipped in turn: a
        // flip inside the tail changes the hash, one before it does not.
        for tail in [1, 8, 13, 32, usize::MAX] {
            let state = KeyedState::random(tail);
            let hash = |bytes: &[u8]| {
                let mut h = state.build_hasher();
                h.write(bytes);
                h.finish()
            };
            for len in 0..=40usize {
                let base: Vec<u8> = (0..len).map(|i| i as u8).collect();
                assert_eq!(hash(&base), hash(&base.clone()));
                for at in 0..len {
                    let mut flipped = base.clone();
                    flipped[at] ^= 0x80;
                    let in_tail = at + tail.min(len) >= len;
                    assert_eq!(
                        hash(&flipped) != hash(&base),
                        in_tail,
                        "tail {tail}, length {len}, byte {at}"
                    );
                }
            }
        }
    }
}
