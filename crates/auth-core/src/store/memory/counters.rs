//! [`Counters`] in memory: check and count under one lock.

use std::time::Duration;

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::error::StoreError;
use crate::store::{Admission, Counter, Counters, Limit};

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
        map.note_write(now);
        map.insert(key.to_string(), counter, counter.expires_at);
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
