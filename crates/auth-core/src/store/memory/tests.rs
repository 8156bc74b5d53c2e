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
            let rec = crate::store::SessionRecord {
                user_id: "u".into(),
                roles: vec![],
                created: now,
                last_seen: now,
                csrf_token: String::new(),
                data: serde_json::Value::Null,
                expires_at: now + 10,
                amr: Vec::new(),
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
