//! [`IdentityLinks`] on Redis: one key per provider subject, set once with
//! `SET NX GET` (Redis ≥ 7.0), so the first of concurrent links wins atomically.

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::IdentityLinks;
use redis::AsyncCommands as _;

use crate::RedisStore;
use crate::conn::err;

#[async_trait]
impl IdentityLinks for RedisStore {
    async fn linked_user(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut c = self.conn.clone();
        c.get(self.link_key(provider, subject))
            .await
            .map_err(|e| err("linked user", e))
    }

    async fn link_identity(
        &self,
        provider: &str,
        subject: &str,
        user_id: &str,
    ) -> Result<String, StoreError> {
        let mut c = self.conn.clone();
        let before: Option<String> = redis::cmd("SET")
            .arg(self.link_key(provider, subject))
            .arg(user_id)
            .arg("NX")
            .arg("GET")
            .query_async(&mut c)
            .await
            .map_err(|e| err("link identity", e))?;
        Ok(before.unwrap_or_else(|| user_id.to_owned()))
    }
}
