//! [`Passkeys`] on Redis: each passkey in the slot of its credential id (`{p:ID}`), so
//! registration ("only if absent"), a use (the sign counter only moves forward) and the
//! owner's removal are each one script; each user's credential ids in a sorted set in
//! the user's slot (`{u:USER}`), in registration order; each ceremony's state in its own
//! slot (`{w:KEY}`), gone at its expiry by Redis's own TTL and taken with `GETDEL`.
//!
//! On one server the passkey and the user's index change in the same script; on a
//! cluster they are two slots, so the passkey changes first and the index second. An
//! index entry whose passkey is gone (or belongs to someone else after a removal and a
//! new registration of its id) is skipped when the index is read.

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::{Passkeys, StoredPasskey};
use redis::AsyncCommands as _;

use crate::RedisStore;
use crate::conn::err;
use crate::keys::ms;

impl RedisStore {
    /// On one server: the user's index and its sequence, for a script to change along
    /// with the passkey; on a cluster none (another slot: the caller changes them after).
    fn index_keys(&self, user_id: &str) -> Vec<String> {
        if self.conn.is_cluster() {
            Vec::new()
        } else {
            vec![self.passkeys_key(user_id), self.passkey_seq_key(user_id)]
        }
    }
}

#[async_trait]
impl Passkeys for RedisStore {
    async fn add_passkey(&self, passkey: &StoredPasskey) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let added: i64 = self
            .scripts
            .add_passkey
            .key(self.passkey_key(&passkey.credential_id))
            .key(self.index_keys(&passkey.user_id))
            .arg(&passkey.user_id)
            .arg(&passkey.data)
            .arg(passkey.counter)
            .arg(passkey.created)
            .arg(&passkey.credential_id)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("add_passkey", e))?;
        if added != 1 {
            return Ok(false);
        }
        if self.conn.is_cluster() {
            self.scripts
                .index_passkey
                .key(self.passkeys_key(&passkey.user_id))
                .key(self.passkey_seq_key(&passkey.user_id))
                .arg(&passkey.credential_id)
                .invoke_async::<i64>(&mut c)
                .await
                .map_err(|e| err("add_passkey", e))?;
        }
        Ok(true)
    }

    async fn passkeys(&self, user_id: &str) -> Result<Vec<StoredPasskey>, StoreError> {
        let mut c = self.conn.clone();
        let ids: Vec<String> = c
            .zrange(self.passkeys_key(user_id), 0, -1)
            .await
            .map_err(|e| err("passkeys", e))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.passkey(&id).await? {
                Some(p) if p.user_id == user_id => out.push(p),
                _ => {}
            }
        }
        // Registration order within a second; oldest first across instances' clocks
        // (a stable sort).
        out.sort_by_key(|p| p.created);
        Ok(out)
    }

    async fn passkey(&self, credential_id: &str) -> Result<Option<StoredPasskey>, StoreError> {
        type Fields = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let mut c = self.conn.clone();
        let (user, data, counter, created): Fields = redis::cmd("HMGET")
            .arg(self.passkey_key(credential_id))
            .arg("user")
            .arg("data")
            .arg("counter")
            .arg("created")
            .query_async(&mut c)
            .await
            .map_err(|e| err("passkey", e))?;
        let Some(user_id) = user else {
            return Ok(None);
        };
        let data = data.ok_or_else(|| StoreError::new("corrupt passkey: data"))?;
        let counter = counter
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or_else(|| StoreError::new("corrupt passkey: counter"))?;
        let created = created
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| StoreError::new("corrupt passkey: created"))?;
        Ok(Some(StoredPasskey {
            user_id,
            credential_id: credential_id.to_owned(),
            data,
            counter,
            created,
        }))
    }

    async fn use_passkey(
        &self,
        credential_id: &str,
        counter: u32,
        data: &str,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let r: i64 = self
            .scripts
            .use_passkey
            .key(self.passkey_key(credential_id))
            .arg(counter)
            .arg(data)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("use_passkey", e))?;
        Ok(r == 1)
    }

    async fn remove_passkey(&self, user_id: &str, credential_id: &str) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let removed: i64 = self
            .scripts
            .remove_passkey
            .key(self.passkey_key(credential_id))
            .key(self.index_keys(user_id))
            .arg(user_id)
            .arg(credential_id)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("remove_passkey", e))?;
        if removed != 1 {
            return Ok(false);
        }
        if self.conn.is_cluster() {
            self.scripts
                .unindex_passkey
                .key(self.passkeys_key(user_id))
                .key(self.passkey_seq_key(user_id))
                .arg(credential_id)
                .invoke_async::<i64>(&mut c)
                .await
                .map_err(|e| err("remove_passkey", e))?;
        }
        Ok(true)
    }

    async fn put_ceremony(
        &self,
        key: &str,
        state: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        // Expiry is Redis's own TTL, as for MFA challenges: live until `expires_at`
        // (`PXAT` must be positive; a time in the past leaves nothing behind).
        let mut c = self.conn.clone();
        redis::cmd("SET")
            .arg(self.ceremony_key(key))
            .arg(state)
            .arg("PXAT")
            .arg(ms(expires_at).max(1))
            .query_async::<()>(&mut c)
            .await
            .map_err(|e| err("put_ceremony", e))
    }

    async fn take_ceremony(&self, key: &str) -> Result<Option<String>, StoreError> {
        // `GETDEL` (Redis ≥ 6.2): of concurrent takes exactly one gets the state.
        let mut c = self.conn.clone();
        redis::cmd("GETDEL")
            .arg(self.ceremony_key(key))
            .query_async(&mut c)
            .await
            .map_err(|e| err("take_ceremony", e))
    }
}
