//! The in-memory store: the embedded default for a single instance.
//!
//! This module holds the store, its maps and their sweeping; each state trait is
//! implemented in a submodule.

mod counters;
mod factors;
mod links;
mod passkeys;
mod sessions;
#[cfg(test)]
mod tests;
mod tokens;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::Mutex;

use super::{Counter, TokenMeta};
use crate::clock::{Clock, SystemClock};
use crate::keyed_hash::KeyedState;

/// Sweep expired entries after this many writes at least, so memory stays bounded under
/// churn without a background task.
const SWEEP_EVERY: u64 = 1024;

/// A write that comes this many seconds after the last sweep sweeps again, whatever the
/// count: in a steady churn, expired entries then stay below `SWEEP_SECONDS` worth.
const SWEEP_SECONDS: u64 = 10;

/// When a map was last swept, how many writes it has seen since, and how many since (and
/// when) it last swept to make room.
#[derive(Debug, Default)]
struct SweepClock {
    writes: u64,
    last: u64,
    since_room: u64,
    room_at: u64,
}

/// Counts a write at `now`, before it adds to maps holding `held` entries; `full` when one
/// of them is full (this write's new key would make its table grow). True when a sweep
/// is due:
/// - `SWEEP_SECONDS` after the last one, or after `max(SWEEP_EVERY, held / 2)` writes, so
///   a sweep (which visits every entry) costs about two entry visits per write at any
///   size, and expired entries never exceed about half of those held;
/// - or when a map is full, unless it already swept for room in this second and in the
///   last `held / 8` writes: expired entries then make room instead of doubling the
///   table, so a table's size follows its live entries, not how many expired ones the
///   last periodic sweep left (a doubling under steady churn is memory the allocator
///   keeps: the resident set would step up and never come down). At most one such sweep
///   a second or eight more entry visits per write, and a map full of live entries
///   still grows.
fn sweep_due(clock: &mut SweepClock, held: usize, full: bool, now: u64) -> bool {
    clock.writes += 1;
    clock.since_room += 1;
    let make_room = full && (now > clock.room_at || clock.since_room >= (held as u64 / 8).max(1));
    if make_room {
        clock.since_room = 0;
        clock.room_at = now;
    }
    if make_room
        || clock.writes >= SWEEP_EVERY.max(held as u64 / 2)
        || now >= clock.last.saturating_add(SWEEP_SECONDS)
    {
        clock.writes = 0;
        clock.last = now;
        true
    } else {
        false
    }
}

/// Whether `map` is full: its next new key makes the table grow.
fn full<K, V, S>(map: &HashMap<K, V, S>) -> bool {
    map.len() >= map.capacity()
}

/// All server-side state in process memory. Cheap to clone (shared `Arc`s); entries expire
/// on the injected clock and expired entries are purged.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    counters: Arc<Mutex<Expiring<Counter>>>,
    state: Arc<Mutex<TokenState>>,
    sessions: Arc<Mutex<sessions::SessionState>>,
    /// Linked identities, `provider \0 subject` -> user id. They never expire.
    links: Arc<Mutex<HashMap<String, String>>>,
    /// Second factors: enrolments, recovery digests, challenges.
    factors: Arc<Mutex<factors::FactorState>>,
    /// Passkeys and their ceremonies.
    passkeys: Arc<Mutex<passkeys::PasskeyState>>,
}

/// Revocations and families share one lock: rotation, reuse detection and the
/// per-request check each see one consistent state.
#[derive(Debug, Default)]
struct TokenState {
    /// Blocked tokens by `iss \0 jti`: keys of verified tokens, so a random-keyed hash
    /// (cheaper than SipHash on the per-request check) is safe here.
    blocked: Expiring<(), KeyedState>,
    /// Families by `sid`, boxed: the table holds a pointer per bucket, not the entry, so
    /// its empty half (a table is at most 7/8 full, about half after it doubles) and
    /// each doubling cost 40 bytes a bucket instead of 104. Every `sid` is the server's
    /// own random id (a family is created at login, and an unknown one is revoked only
    /// after the owner check), so the random-keyed hash serves the per-request check.
    families: Expiring<Box<FamilyEntry>, KeyedState>,
    /// Live family ids per user, to list them and to revoke them all.
    by_user: HashMap<String, HashSet<String>>,
    /// "Log out everywhere" cut-offs per user.
    user_cutoff: Expiring<u64>,
    /// Allowlist mode: listed tokens per family, `iss \0 jti` -> (exp, meta).
    listed: HashMap<String, HashMap<String, (u64, TokenMeta)>>,
}

#[derive(Debug, Clone)]
struct FamilyEntry {
    sub: String,
    current: String,
    created: u64,
    last_used: u64,
    revoked: bool,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A store reading time from `clock` (tests pass a `ManualClock`).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            counters: Arc::new(Mutex::new(Expiring::default())),
            state: Arc::new(Mutex::new(TokenState::default())),
            links: Arc::new(Mutex::new(HashMap::new())),
            sessions: Arc::new(Mutex::new(sessions::SessionState::default())),
            factors: Arc::new(Mutex::new(factors::FactorState::default())),
            passkeys: Arc::new(Mutex::new(passkeys::PasskeyState::default())),
        }
    }

    fn now(&self) -> u64 {
        self.clock.unix_seconds()
    }

    /// Entries held, expired or not yet swept: what the memory actually holds.
    pub fn held_entries(&self) -> usize {
        let s = lock(&self.state);
        let sessions = lock(&self.sessions).held();
        lock(&self.counters).map.len()
            + s.blocked.map.len()
            + s.families.map.len()
            + s.user_cutoff.map.len()
            + sessions
    }

    /// Removes every expired entry now (it otherwise happens at a write 10 s after the last
    /// sweep, or after `max(1024, held / 2)` writes).
    pub fn purge_expired(&self) {
        let now = self.now();
        lock(&self.counters).sweep(now);
        lock(&self.state).sweep(now);
        lock(&self.sessions).sweep(now);
        lock(&self.factors).sweep(now);
        lock(&self.passkeys).sweep(now);
    }
}

impl TokenState {
    fn sweep(&mut self, now: u64) {
        self.listed.retain(|_, tokens| {
            tokens.retain(|_, (exp, _)| *exp > now);
            !tokens.is_empty()
        });
        self.blocked.sweep(now);
        self.user_cutoff.sweep(now);
        self.families.sweep(now);
        let families = &self.families;
        self.by_user.retain(|_, sids| {
            sids.retain(|sid| families.map.contains_key(sid));
            !sids.is_empty()
        });
    }

    /// Counts a write about `sub`'s tokens, before it inserts (see [`sweep_due`]).
    fn note_write(&mut self, now: u64, sub: &str) {
        let held = self.blocked.map.len()
            + self.families.map.len()
            + self.user_cutoff.map.len()
            + self.listed.len();
        // The maps nearly every write adds to; the rest grow rarely (and are swept too).
        let full = full(&self.blocked.map)
            || full(&self.families.map)
            || self
                .by_user
                .get(sub)
                .is_some_and(|sids| sids.len() >= sids.capacity());
        if sweep_due(&mut self.blocked.sweeps, held, full, now) {
            self.sweep(now);
        }
    }
}

/// A map whose entries carry an expiry.
#[derive(Debug)]
struct Expiring<V, S = RandomState> {
    map: HashMap<String, (V, u64), S>,
    sweeps: SweepClock,
}

impl<V, S: Default> Default for Expiring<V, S> {
    fn default() -> Self {
        Self {
            map: HashMap::default(),
            sweeps: SweepClock::default(),
        }
    }
}

impl<V, S: BuildHasher> Expiring<V, S> {
    fn get(&self, key: &str, now: u64) -> Option<&V> {
        self.map
            .get(key)
            .filter(|(_, exp)| *exp > now)
            .map(|(v, _)| v)
    }

    fn get_mut(&mut self, key: &str, now: u64) -> Option<&mut (V, u64)> {
        self.map.get_mut(key).filter(|(_, exp)| *exp > now)
    }

    fn insert(&mut self, key: String, value: V, expires_at: u64) {
        self.map.insert(key, (value, expires_at));
    }

    fn sweep(&mut self, now: u64) {
        self.map.retain(|_, (_, exp)| *exp > now);
    }

    /// Counts a write, before it inserts (see [`sweep_due`]).
    fn note_write(&mut self, now: u64) {
        if sweep_due(&mut self.sweeps, self.map.len(), full(&self.map), now) {
            self.sweep(now);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update under these locks is a few inserts that cannot panic half-way in a way
    // that breaks an invariant, so a poisoned lock is safe to keep using.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Calls `f` with the blocked-map key of `iss` and `jti`, built on the stack when it fits
/// in 128 bytes: the check on every authenticated request allocates nothing.
fn with_blocked_key<R>(iss: &str, jti: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0u8; 128];
    let len = iss.len() + 1 + jti.len();
    if let Some(key) = buf.get_mut(..len) {
        let (head, rest) = key.split_at_mut(iss.len());
        head.copy_from_slice(iss.as_bytes());
        if let Some((nul, tail)) = rest.split_first_mut() {
            *nul = 0;
            tail.copy_from_slice(jti.as_bytes());
        }
        // Two `str`s joined by a NUL: always UTF-8.
        if let Ok(key) = std::str::from_utf8(key) {
            return f(key);
        }
    }
    f(&blocked_key(iss, jti))
}

fn blocked_key(iss: &str, jti: &str) -> String {
    // Built by hand, not with `format!`: this runs on every authenticated request.
    let mut key = String::with_capacity(iss.len() + 1 + jti.len());
    key.push_str(iss);
    key.push('\0');
    key.push_str(jti);
    key
}
