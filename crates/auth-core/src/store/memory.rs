//! The in-memory store: the embedded default for a single instance.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{
    Admission, Counter, Counters, Family, Limit, RefreshFamilies, Revocations, Rotation,
    SessionRecord, Sessions, TokenMeta, TokenRef, TokenStatus,
};
use crate::clock::{Clock, SystemClock};
use crate::error::StoreError;

/// Sweep expired entries after this many writes at least, so memory stays bounded under
/// churn without a background task.
const SWEEP_EVERY: u64 = 1024;

/// A write that comes this many seconds after the last sweep sweeps again, whatever the
/// count: in a steady churn, expired entries then stay below `SWEEP_SECONDS` worth.
const SWEEP_SECONDS: u64 = 10;

/// When a map was last swept and how many writes it has seen since.
#[derive(Debug, Default)]
struct SweepClock {
    writes: u64,
    last: u64,
}

/// Counts a write at `now`; true when a sweep is due: `SWEEP_SECONDS` after the last one,
/// or after `max(SWEEP_EVERY, held / 2)` writes, so a sweep (which visits every entry)
/// costs about two entry visits per write at any size, and expired entries never exceed
/// about half of those held.
fn sweep_due(clock: &mut SweepClock, held: usize, now: u64) -> bool {
    clock.writes += 1;
    if clock.writes >= SWEEP_EVERY.max(held as u64 / 2)
        || now >= clock.last.saturating_add(SWEEP_SECONDS)
    {
        clock.writes = 0;
        clock.last = now;
        true
    } else {
        false
    }
}

/// All server-side state in process memory. Cheap to clone (shared `Arc`s); entries expire
/// on the injected clock and expired entries are purged.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    counters: Arc<Mutex<Expiring<Counter>>>,
    state: Arc<Mutex<TokenState>>,
    sessions: Arc<Mutex<SessionState>>,
}

#[derive(Debug, Default)]
struct SessionState {
    by_key: Expiring<SessionRecord>,
    by_user: HashMap<String, HashSet<String>>,
}

impl SessionState {
    fn sweep(&mut self, now: u64) {
        self.by_key.sweep(now);
        let live = &self.by_key;
        self.by_user.retain(|_, keys| {
            keys.retain(|k| live.map.contains_key(k));
            !keys.is_empty()
        });
    }
}

/// Revocations and families share one lock: rotation, reuse detection and the
/// per-request check each see one consistent state.
#[derive(Debug, Default)]
struct TokenState {
    /// Blocked tokens by `iss \0 jti`.
    blocked: Expiring<()>,
    /// Families by `sid`.
    families: Expiring<FamilyEntry>,
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
            sessions: Arc::new(Mutex::new(SessionState::default())),
        }
    }

    fn now(&self) -> u64 {
        self.clock.unix_seconds()
    }

    /// Entries held, expired or not yet swept: what the memory actually holds.
    pub fn held_entries(&self) -> usize {
        let s = lock(&self.state);
        let sessions = lock(&self.sessions).by_key.map.len();
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

    fn note_write(&mut self, now: u64) {
        let held = self.blocked.map.len()
            + self.families.map.len()
            + self.user_cutoff.map.len()
            + self.listed.len();
        if sweep_due(&mut self.blocked.sweeps, held, now) {
            self.sweep(now);
        }
    }
}

/// A map whose entries carry an expiry.
#[derive(Debug)]
struct Expiring<V> {
    map: HashMap<String, (V, u64)>,
    sweeps: SweepClock,
}

impl<V> Default for Expiring<V> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            sweeps: SweepClock::default(),
        }
    }
}

impl<V> Expiring<V> {
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

    fn note_write(&mut self, now: u64) {
        if sweep_due(&mut self.sweeps, self.map.len(), now) {
            self.sweep(now);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update under these locks is a few inserts that cannot panic half-way in a way
    // that breaks an invariant, so a poisoned lock is safe to keep using.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn blocked_key(iss: &str, jti: &str) -> String {
    // Built by hand, not with `format!`: this runs on every authenticated request.
    let mut key = String::with_capacity(iss.len() + 1 + jti.len());
    key.push_str(iss);
    key.push('\0');
    key.push_str(jti);
    key
}

impl MemoryStore {
    /// Counts one hit on `key` unless `limit` locks it: check and count under one lock,
    /// the atomic step both `increment` and `reserve` take.
    fn count(&self, key: &str, window: Duration, limit: Option<&Limit>) -> Admission {
        let now = self.now();
        let mut map = lock(&self.counters);
        let counter = match map.get(key, now) {
            Some(c) => {
                let wait = limit.map_or(0, |l| l.wait(c, now));
                if wait > 0 {
                    return Admission::Refused {
                        retry_after_secs: wait,
                    };
                }
                Counter {
                    count: c.count + 1,
                    last: now,
                    expires_at: c.expires_at,
                }
            }
            None => Counter {
                count: 1,
                last: now,
                expires_at: now + window.as_secs().max(1),
            },
        };
        map.insert(key.to_string(), counter, counter.expires_at);
        map.note_write(now);
        Admission::Admitted(counter)
    }
}

#[async_trait]
impl Counters for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        let now = self.now();
        Ok(lock(&self.counters).get(key, now).copied())
    }

    async fn increment(&self, key: &str, window: Duration) -> Result<Counter, StoreError> {
        match self.count(key, window, None) {
            Admission::Admitted(counter) => Ok(counter),
            // Without a limit nothing is refused.
            Admission::Refused { .. } => Err(StoreError::new("increment: refused without a limit")),
        }
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        lock(&self.counters).map.remove(key);
        Ok(())
    }

    async fn reserve(
        &self,
        key: &str,
        window: Duration,
        limit: &Limit,
    ) -> Result<Admission, StoreError> {
        Ok(self.count(key, window, Some(limit)))
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let now = self.now();
        let mut map = lock(&self.counters);
        let empty = match map.get_mut(key, now) {
            Some((c, _)) => {
                c.count = c.count.saturating_sub(1);
                c.count == 0
            }
            None => false,
        };
        if empty {
            map.map.remove(key);
        }
        Ok(())
    }
}

#[async_trait]
impl Revocations for MemoryStore {
    async fn check(&self, t: &TokenRef<'_>) -> Result<TokenStatus, StoreError> {
        let now = self.now();
        let s = lock(&self.state);
        let revoked = s.blocked.get(&blocked_key(t.iss, t.jti), now).is_some()
            || s.families.get(t.sid, now).is_some_and(|f| f.revoked)
            || s.user_cutoff
                .get(t.sub, now)
                .is_some_and(|cut| t.iat < *cut);
        Ok(if revoked {
            TokenStatus::Revoked
        } else {
            TokenStatus::Active
        })
    }

    async fn revoke_token(&self, t: &TokenRef<'_>) -> Result<(), StoreError> {
        let now = self.now();
        if let Some(tokens) = lock(&self.state).listed.get_mut(t.sid) {
            tokens.remove(&blocked_key(t.iss, t.jti));
        }
        if t.exp <= now {
            return Ok(()); // already refused by its expiry
        }
        let mut s = lock(&self.state);
        s.blocked.insert(blocked_key(t.iss, t.jti), (), t.exp);
        s.note_write(now);
        Ok(())
    }

    async fn revoke_family(&self, sub: &str, sid: &str, until: u64) -> Result<(), StoreError> {
        let now = self.now();
        let mut s = lock(&self.state);
        revoke_family_locked(&mut s, sub, sid, until, now);
        s.note_write(now);
        Ok(())
    }

    async fn revoke_user(&self, sub: &str, at: u64, until: u64) -> Result<(), StoreError> {
        let now = self.now();
        let mut s = lock(&self.state);
        let cut = s.user_cutoff.get(sub, now).copied().unwrap_or(0).max(at);
        s.user_cutoff
            .insert(sub.to_string(), cut, until.max(now + 1));
        let sids: Vec<String> = s
            .by_user
            .get(sub)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default();
        for sid in sids {
            revoke_family_locked(&mut s, sub, &sid, until, now);
        }
        s.note_write(now);
        Ok(())
    }

    async fn list_token(&self, t: &TokenRef<'_>, meta: &TokenMeta) -> Result<(), StoreError> {
        let now = self.now();
        let mut s = lock(&self.state);
        let tokens = s.listed.entry(t.sid.to_string()).or_default();
        tokens.retain(|_, (exp, _)| *exp > now);
        tokens.insert(blocked_key(t.iss, t.jti), (t.exp, meta.clone()));
        s.note_write(now);
        Ok(())
    }

    async fn check_listed(&self, t: &TokenRef<'_>) -> Result<TokenStatus, StoreError> {
        let now = self.now();
        let s = lock(&self.state);
        let listed = s
            .listed
            .get(t.sid)
            .and_then(|tokens| tokens.get(&blocked_key(t.iss, t.jti)))
            .is_some_and(|(exp, _)| *exp > now);
        let revoked = !listed
            || s.blocked.get(&blocked_key(t.iss, t.jti), now).is_some()
            || s.families.get(t.sid, now).is_some_and(|f| f.revoked)
            || s.user_cutoff
                .get(t.sub, now)
                .is_some_and(|cut| t.iat < *cut);
        Ok(if revoked {
            TokenStatus::Revoked
        } else {
            TokenStatus::Active
        })
    }
}

fn revoke_family_locked(s: &mut TokenState, sub: &str, sid: &str, until: u64, now: u64) {
    s.listed.remove(sid);
    match s.families.get_mut(sid, now) {
        Some((f, exp)) => {
            f.revoked = true;
            *exp = (*exp).max(until);
        }
        None => {
            // Unknown here (another instance's memory, or swept): remember the revocation.
            let entry = FamilyEntry {
                sub: sub.to_string(),
                current: String::new(),
                created: now,
                last_used: now,
                revoked: true,
            };
            s.families
                .insert(sid.to_string(), entry, until.max(now + 1));
        }
    }
    if let Some(set) = s.by_user.get_mut(sub) {
        set.remove(sid);
    }
}

#[async_trait]
impl RefreshFamilies for MemoryStore {
    async fn start(&self, sub: &str, sid: &str, jti: &str, exp: u64) -> Result<(), StoreError> {
        let now = self.now();
        let mut s = lock(&self.state);
        let entry = FamilyEntry {
            sub: sub.to_string(),
            current: jti.to_string(),
            created: now,
            last_used: now,
            revoked: false,
        };
        s.families.insert(sid.to_string(), entry, exp);
        s.by_user
            .entry(sub.to_string())
            .or_default()
            .insert(sid.to_string());
        s.note_write(now);
        Ok(())
    }

    async fn rotate(
        &self,
        sub: &str,
        sid: &str,
        jti: &str,
        next_jti: &str,
        next_exp: u64,
    ) -> Result<Rotation, StoreError> {
        let now = self.now();
        let mut s = lock(&self.state);
        let Some((family, exp)) = s.families.get_mut(sid, now) else {
            return Ok(Rotation::Unknown);
        };
        if family.sub != sub {
            return Ok(Rotation::Unknown);
        }
        if family.revoked || family.current != jti {
            let until = *exp;
            revoke_family_locked(&mut s, sub, sid, until, now);
            s.note_write(now);
            return Ok(Rotation::Reused);
        }
        family.current = next_jti.to_string();
        family.last_used = now;
        *exp = next_exp;
        Ok(Rotation::Rotated)
    }

    async fn families(&self, sub: &str) -> Result<Vec<Family>, StoreError> {
        let now = self.now();
        let s = lock(&self.state);
        let mut out: Vec<Family> = s
            .by_user
            .get(sub)
            .into_iter()
            .flatten()
            .filter_map(|sid| {
                let (f, exp) = s.families.map.get(sid)?;
                (*exp > now && !f.revoked).then(|| Family {
                    sid: sid.clone(),
                    sub: f.sub.clone(),
                    created: f.created,
                    last_used: f.last_used,
                    expires_at: *exp,
                })
            })
            .collect();
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.sid.cmp(&b.sid)));
        Ok(out)
    }
}

#[async_trait]
impl Sessions for MemoryStore {
    async fn insert_session(&self, key: &str, record: &SessionRecord) -> Result<(), StoreError> {
        let now = self.now();
        let mut s = lock(&self.sessions);
        s.by_key
            .insert(key.to_string(), record.clone(), record.expires_at);
        s.by_user
            .entry(record.user_id.clone())
            .or_default()
            .insert(key.to_string());
        let held = s.by_key.map.len();
        if sweep_due(&mut s.by_key.sweeps, held, now) {
            s.sweep(now);
        }
        Ok(())
    }

    async fn load_session(&self, key: &str) -> Result<Option<SessionRecord>, StoreError> {
        let now = self.now();
        Ok(lock(&self.sessions).by_key.get(key, now).cloned())
    }

    async fn touch_session(
        &self,
        key: &str,
        last_seen: u64,
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let mut s = lock(&self.sessions);
        Ok(match s.by_key.get_mut(key, now) {
            Some((record, exp)) => {
                record.last_seen = last_seen;
                record.expires_at = expires_at;
                *exp = expires_at;
                true
            }
            None => false,
        })
    }

    async fn remove_session(&self, key: &str) -> Result<bool, StoreError> {
        let now = self.now();
        let mut s = lock(&self.sessions);
        let removed = s.by_key.map.remove(key);
        if let Some((record, _)) = &removed
            && let Some(keys) = s.by_user.get_mut(&record.user_id)
        {
            keys.remove(key);
        }
        Ok(removed.is_some_and(|(_, exp)| exp > now))
    }

    async fn remove_user_sessions(&self, user_id: &str) -> Result<usize, StoreError> {
        let now = self.now();
        let mut s = lock(&self.sessions);
        let keys = s.by_user.remove(user_id).unwrap_or_default();
        let mut live = 0;
        for k in keys {
            if s.by_key.map.remove(&k).is_some_and(|(_, exp)| exp > now) {
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
            .filter_map(|k| s.by_key.get(k, now).map(|r| (k.clone(), r.clone())))
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
        let mut s = lock(&self.sessions);
        match s.by_key.get_mut(key, now) {
            Some((record, _)) => {
                record.data = data.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::MemoryStore;
    use crate::clock::{Clock, ManualClock};
    use crate::store::StateStore;
    use crate::store::suite::Harness;

    struct Memory {
        clock: Arc<ManualClock>,
        store: MemoryStore,
    }

    #[async_trait]
    impl Harness for Memory {
        fn store(&self) -> Arc<dyn StateStore> {
            Arc::new(self.store.clone())
        }
        async fn second_client(&self) -> Arc<dyn StateStore> {
            // One process, one memory: a second handle shares it.
            Arc::new(self.store.clone())
        }
        fn now(&self) -> u64 {
            self.clock.unix_seconds()
        }
        async fn advance(&self, secs: u64) {
            self.clock.advance(std::time::Duration::from_secs(secs));
        }
    }

    async fn memory() -> Memory {
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        Memory {
            store: MemoryStore::with_clock(clock.clone()),
            clock,
        }
    }

    crate::store_suite!(memory());

    /// A token of user `u`, issued `now`, expiring `ttl` seconds later.
    fn short_lived(jti: &str, now: u64, ttl: u64) -> crate::store::TokenRef<'_> {
        crate::store::TokenRef {
            iss: "i",
            jti,
            sid: "s",
            sub: "u",
            iat: now,
            exp: now + ttl,
        }
    }

    #[tokio::test]
    async fn a_write_ten_seconds_after_the_last_sweep_sweeps_whatever_the_count() {
        use crate::store::Revocations;
        let h = memory().await;
        let s = &h.store;
        let revoke = |jti: String, now: u64| async move {
            s.revoke_token(&short_lived(&jti, now, 5)).await.unwrap();
        };
        let now = h.now();
        for i in 0..100 {
            revoke(format!("a{i}"), now).await; // far fewer than SWEEP_EVERY writes
        }
        assert_eq!(s.held_entries(), 100);
        h.advance(super::SWEEP_SECONDS + 1).await;
        revoke("b".into(), h.now()).await;
        assert_eq!(s.held_entries(), 1, "the 100 expired entries were swept");
    }

    #[tokio::test]
    async fn expired_entries_are_purged_so_memory_stays_bounded_under_churn() {
        use crate::store::{Counters, RefreshFamilies, Revocations, Sessions};
        let h = memory().await;
        let s = &h.store;
        for round in 0..5u64 {
            let now = h.now();
            for i in 0..2000u64 {
                let jti = format!("j{round}-{i}");
                s.revoke_token(&short_lived(&jti, now, 10)).await.unwrap();
                s.start("u", &format!("f{round}-{i}"), "r", now + 10)
                    .await
                    .unwrap();
                s.increment(&format!("c{round}-{i}"), std::time::Duration::from_secs(10))
                    .await
                    .unwrap();
                let rec = crate::store::SessionRecord {
                    user_id: "u".into(),
                    roles: vec![],
                    created: now,
                    last_seen: now,
                    csrf_token: String::new(),
                    data: serde_json::Value::Null,
                    expires_at: now + 10,
                };
                s.insert_session(&format!("k{round}-{i}"), &rec)
                    .await
                    .unwrap();
            }
            h.advance(11).await;
        }
        // Without sweeping, 5 rounds of churn would hold 40 000 entries.
        assert!(s.held_entries() < 2 * 8000, "held {}", s.held_entries());
        s.purge_expired();
        assert_eq!(s.held_entries(), 0);
    }
}
