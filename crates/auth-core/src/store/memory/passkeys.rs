//! [`Passkeys`] in memory: credentials by id, each user's ids, and ceremony states, under
//! one lock, so each check-and-change is one step.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{Expiring, MemoryStore, lock};
use crate::error::StoreError;
use crate::store::{Passkeys, StoredPasskey};

/// The passkeys' state.
#[derive(Debug, Default)]
pub(super) struct PasskeyState {
    /// By credential id.
    by_id: HashMap<String, StoredPasskey>,
    /// Each user's credential ids, in registration order.
    by_user: HashMap<String, Vec<String>>,
    /// Ceremony states by key.
    ceremonies: Expiring<String>,
}

impl PasskeyState {
    /// Drops expired ceremonies (passkeys do not expire).
    pub(super) fn sweep(&mut self, now: u64) {
        self.ceremonies.sweep(now);
    }
}

#[async_trait]
impl Passkeys for MemoryStore {
    async fn add_passkey(&self, passkey: &StoredPasskey) -> Result<bool, StoreError> {
        let mut state = lock(&self.passkeys);
        if state.by_id.contains_key(&passkey.credential_id) {
            return Ok(false);
        }
        state
            .by_user
            .entry(passkey.user_id.clone())
            .or_default()
            .push(passkey.credential_id.clone());
        state
            .by_id
            .insert(passkey.credential_id.clone(), passkey.clone());
        Ok(true)
    }

    async fn passkeys(&self, user_id: &str) -> Result<Vec<StoredPasskey>, StoreError> {
        let state = lock(&self.passkeys);
        Ok(state
            .by_user
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|id| state.by_id.get(id).cloned())
            .collect())
    }

    async fn passkey(&self, credential_id: &str) -> Result<Option<StoredPasskey>, StoreError> {
        Ok(lock(&self.passkeys).by_id.get(credential_id).cloned())
    }

    async fn use_passkey(
        &self,
        credential_id: &str,
        counter: u32,
        data: &str,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.passkeys);
        match state.by_id.get_mut(credential_id) {
            Some(p) if counter > p.counter || (counter == 0 && p.counter == 0) => {
                p.counter = counter;
                data.clone_into(&mut p.data);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn remove_passkey(&self, user_id: &str, credential_id: &str) -> Result<bool, StoreError> {
        let mut state = lock(&self.passkeys);
        let owned = state
            .by_id
            .get(credential_id)
            .is_some_and(|p| p.user_id == user_id);
        if !owned {
            return Ok(false);
        }
        state.by_id.remove(credential_id);
        if let Some(ids) = state.by_user.get_mut(user_id) {
            ids.retain(|id| id != credential_id);
            if ids.is_empty() {
                state.by_user.remove(user_id);
            }
        }
        Ok(true)
    }

    async fn put_ceremony(
        &self,
        key: &str,
        ceremony: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let mut state = lock(&self.passkeys);
        state.ceremonies.note_write(now);
        state
            .ceremonies
            .insert(key.to_owned(), ceremony.to_owned(), expires_at);
        Ok(())
    }

    async fn take_ceremony(&self, key: &str) -> Result<Option<String>, StoreError> {
        let now = self.now();
        let mut state = lock(&self.passkeys);
        let live = state.ceremonies.get(key, now).is_some();
        let taken = state.ceremonies.map.remove(key);
        Ok(taken.filter(|_| live).map(|(s, _)| s))
    }
}
