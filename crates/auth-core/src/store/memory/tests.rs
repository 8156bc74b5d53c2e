//! The store suite on `MemoryStore`, and its sweeping of expired entries.

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
            let rec = session_of("u", now, 10);
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

#[tokio::test]
async fn a_full_map_makes_room_from_its_expired_entries_before_its_table_grows() {
    use crate::store::{Revocations, Sessions};
    let h = memory().await;
    let s = &h.store;
    let blocked = || {
        let state = super::lock(&s.state);
        (state.blocked.map.len(), state.blocked.map.capacity())
    };
    let sessions = || super::lock(&s.sessions).fill();
    let session = |now: u64| session_of("u", now, 5);
    // Fill both tables to the last entry they hold before growing, with entries that
    // expire in 5 s; the periodic sweeps find nothing expired on the way.
    let now = h.now();
    let mut n = 0;
    while blocked().0 < 1000 || blocked().0 < blocked().1 {
        let jti = format!("a{n}");
        s.revoke_token(&short_lived(&jti, now, 5)).await.unwrap();
        n += 1;
    }
    let mut m = 0;
    while sessions().0 < 1000 || sessions().0 < sessions().1 {
        s.insert_session(&format!("{m:064x}"), &session(now))
            .await
            .unwrap();
        m += 1;
    }
    let (full_blocked, blocked_capacity) = blocked();
    let (full_sessions, sessions_capacity) = sessions();
    assert_eq!(full_blocked, blocked_capacity);
    assert_eq!(full_sessions, sessions_capacity);
    // Six seconds on (before the time-based sweep): every entry has expired. The next
    // new keys find the tables full: the expired entries make room, the tables keep
    // their size.
    h.advance(6).await;
    let now = h.now();
    for i in 0..full_blocked / 2 {
        let jti = format!("b{i}");
        s.revoke_token(&short_lived(&jti, now, 5)).await.unwrap();
    }
    for i in 0..full_sessions / 2 {
        s.insert_session(&format!("{:064x}", i + 1_000_000), &session(now))
            .await
            .unwrap();
    }
    // (`capacity` counts only free slots that are empty, not those the sweep marked
    // deleted: it may read lower until the table rehashes in place.)
    let (held, capacity) = blocked();
    assert_eq!(held, full_blocked / 2);
    assert!(
        capacity <= blocked_capacity,
        "{capacity} <= {blocked_capacity}"
    );
    let (held, capacity) = sessions();
    assert_eq!(held, full_sessions / 2);
    assert!(
        capacity <= sessions_capacity,
        "{capacity} <= {sessions_capacity}"
    );
    // Live entries still grow a full table.
    for i in 0..blocked_capacity {
        let jti = format!("c{i}");
        s.revoke_token(&short_lived(&jti, now, 5)).await.unwrap();
    }
    let (held, capacity) = blocked();
    assert_eq!(held, full_blocked / 2 + blocked_capacity);
    assert!(
        capacity > blocked_capacity,
        "{capacity} > {blocked_capacity}"
    );
}

/// A bare session of `user`, started at `now`, that expires `ttl` seconds later.
fn session_of(user: &str, now: u64, ttl: u64) -> crate::store::SessionRecord {
    crate::store::SessionRecord {
        user_id: user.into(),
        roles: Default::default(),
        created: now,
        last_seen: now,
        csrf_token: Default::default(),
        data: serde_json::Value::Null,
        expires_at: now + ttl,
        amr: Default::default(),
    }
}

/// A read hands out the record with its texts and lists shared with the store: two loads
/// of one session point at the same user id, roles, `amr` and CSRF token, and the
/// record reads back equal to what was stored.
#[tokio::test]
async fn a_loaded_session_shares_its_texts_and_lists_with_the_store() {
    use crate::store::Sessions as _;

    let clock = Arc::new(ManualClock::at_unix(1_900_000_000));
    let store = MemoryStore::with_clock(clock.clone());
    let now = clock.unix_seconds();
    let mut record = session_of("u-1", now, 60);
    record.roles = vec!["admin".to_owned(), "editor".to_owned()].into();
    record.amr = vec!["pwd".to_owned()].into();
    record.csrf_token = "Zm9vYmFyLWNzcmYtdG9rZW4tb2YtNDMtY2hhcmFjdGVycw".into();
    record.data = serde_json::json!({"theme": "dark"});
    let key = "ab".repeat(32);
    store.insert_session(&key, &record).await.unwrap();
    let first = store.load_session(&key).await.unwrap().unwrap();
    let second = store.load_session(&key).await.unwrap().unwrap();
    assert_eq!(first, record);
    assert!(Arc::ptr_eq(&first.user_id, &second.user_id));
    assert!(Arc::ptr_eq(&first.roles, &second.roles));
    assert!(Arc::ptr_eq(&first.amr, &second.amr));
    assert!(Arc::ptr_eq(&first.csrf_token, &second.csrf_token));
    // A second session with the same roles shares the one interned list.
    let other = "cd".repeat(32);
    store.insert_session(&other, &record).await.unwrap();
    let third = store.load_session(&other).await.unwrap().unwrap();
    assert!(Arc::ptr_eq(&first.roles, &third.roles));
}
