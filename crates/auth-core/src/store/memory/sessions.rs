//! [`Sessions`] in memory: sessions by key, with a per-user index.

use async_trait::async_trait;

use super::{MemoryStore, lock, sweep_due};
use crate::error::StoreError;
use crate::store::{SessionRecord, Sessions};

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
