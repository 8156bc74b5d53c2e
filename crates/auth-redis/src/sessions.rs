//! [`Sessions`] on Redis: each session in its own slot, with a per-user index in the
//! user's slot.

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::{SessionRecord, Sessions};
use redis::AsyncCommands as _;

use crate::RedisStore;
use crate::conn::err;
use crate::keys::ms;

#[async_trait]
impl Sessions for RedisStore {
    async fn insert_session(&self, key: &str, record: &SessionRecord) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let json = serde_json::to_string(record)
            .map_err(|e| StoreError::new(format!("session encoding: {e}")))?;
        let k = self.session_key(key);
        let idx = self.user(&record.user_id, "sess");
        let exp = ms(record.expires_at);
        // The session (its own slot) and the user's index (the user's slot): one
        // pipeline on one server, one each on a cluster (a pipeline must stay in one
        // slot there), the session first.
        let mut pipe = redis::pipe();
        pipe.cmd("HSET")
            .arg(&k)
            .arg("record")
            .arg(json)
            .arg("last_seen")
            .arg(record.last_seen)
            .arg("expires_at")
            .arg(record.expires_at)
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&k)
            .arg(exp)
            .ignore();
        if self.conn.is_cluster() {
            pipe.query_async::<()>(&mut c)
                .await
                .map_err(|e| err("insert_session", e))?;
            pipe = redis::pipe();
        }
        pipe.cmd("SADD")
            .arg(&idx)
            .arg(key)
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&idx)
            .arg(exp)
            .arg("NX")
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&idx)
            .arg(exp)
            .arg("GT")
            .ignore()
            .query_async::<()>(&mut c)
            .await
            .map_err(|e| err("insert_session", e))
    }

    async fn load_session(&self, key: &str) -> Result<Option<SessionRecord>, StoreError> {
        let mut c = self.conn.clone();
        let (json, last_seen, expires_at): (Option<String>, Option<u64>, Option<u64>) =
            redis::cmd("HMGET")
                .arg(self.session_key(key))
                .arg("record")
                .arg("last_seen")
                .arg("expires_at")
                .query_async(&mut c)
                .await
                .map_err(|e| err("load_session", e))?;
        let Some(json) = json else { return Ok(None) };
        let mut record: SessionRecord = serde_json::from_str(&json)
            .map_err(|e| StoreError::new(format!("corrupt session record: {e}")))?;
        record.last_seen = last_seen.unwrap_or(record.last_seen);
        record.expires_at = expires_at.unwrap_or(record.expires_at);
        Ok(Some(record))
    }

    async fn touch_session(
        &self,
        key: &str,
        last_seen: u64,
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let r: i64 = self
            .scripts
            .touch
            .key(self.session_key(key))
            .arg(last_seen)
            .arg(expires_at)
            .arg(ms(expires_at))
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("touch_session", e))?;
        Ok(r == 1)
    }

    async fn remove_session(&self, key: &str) -> Result<bool, StoreError> {
        let Some(record) = self.load_session(key).await? else {
            return Ok(false);
        };
        let mut c = self.conn.clone();
        if self.conn.is_cluster() {
            // Two slots: the session first, then its index entry.
            let deleted: i64 = c
                .del(self.session_key(key))
                .await
                .map_err(|e| err("remove_session", e))?;
            c.srem::<_, _, ()>(self.user(&record.user_id, "sess"), key)
                .await
                .map_err(|e| err("remove_session", e))?;
            return Ok(deleted == 1);
        }
        let (deleted, _): (i64, i64) = redis::pipe()
            .cmd("DEL")
            .arg(self.session_key(key))
            .cmd("SREM")
            .arg(self.user(&record.user_id, "sess"))
            .arg(key)
            .query_async(&mut c)
            .await
            .map_err(|e| err("remove_session", e))?;
        Ok(deleted == 1)
    }

    async fn remove_user_sessions(&self, user_id: &str) -> Result<usize, StoreError> {
        let mut c = self.conn.clone();
        let idx = self.user(user_id, "sess");
        let keys: Vec<String> = c
            .smembers(&idx)
            .await
            .map_err(|e| err("remove_user_sessions", e))?;
        let mut removed = 0usize;
        if !keys.is_empty() {
            let full: Vec<String> = keys.iter().map(|k| self.session_key(k)).collect();
            let n: i64 = c
                .del(full)
                .await
                .map_err(|e| err("remove_user_sessions", e))?;
            removed = n.max(0) as usize;
        }
        c.del::<_, ()>(&idx)
            .await
            .map_err(|e| err("remove_user_sessions", e))?;
        Ok(removed)
    }

    async fn user_sessions(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, SessionRecord)>, StoreError> {
        let mut c = self.conn.clone();
        let idx = self.user(user_id, "sess");
        let keys: Vec<String> = c
            .smembers(&idx)
            .await
            .map_err(|e| err("user_sessions", e))?;
        let mut out = Vec::new();
        let mut stale = Vec::new();
        for k in keys {
            match self.load_session(&k).await? {
                Some(r) => out.push((k, r)),
                None => stale.push(k),
            }
        }
        if !stale.is_empty() {
            let _: Result<i64, _> = c.srem(&idx, stale).await;
        }
        out.sort_by(|a, b| a.1.created.cmp(&b.1.created).then(a.0.cmp(&b.0)));
        Ok(out)
    }
}
