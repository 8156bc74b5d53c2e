//! [`Sessions`] on SQL: one row per session, keyed by the digest of its id.

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::{SessionRecord, Sessions};

use super::RowExt;
use crate::{SqlStore, fault, int, uint, with_pool};

const SESSION_COLUMNS: &str =
    "skey, user_id, roles, created, last_seen, csrf_token, data, expires_at, amr";

fn session(row: &impl RowExt) -> Result<(String, SessionRecord), StoreError> {
    let bad = |e: sqlx::Error| StoreError::new(format!("sql session row: {e}"));
    let roles: Vec<String> = serde_json::from_str(&row.text(2).map_err(bad)?)
        .map_err(|e| StoreError::new(format!("corrupt session roles: {e}")))?;
    let data: serde_json::Value = serde_json::from_str(&row.text(6).map_err(bad)?)
        .map_err(|e| StoreError::new(format!("corrupt session data: {e}")))?;
    let amr: Vec<String> = serde_json::from_str(&row.text(8).map_err(bad)?)
        .map_err(|e| StoreError::new(format!("corrupt session amr: {e}")))?;
    Ok((
        row.text(0).map_err(bad)?,
        SessionRecord {
            user_id: row.text(1).map_err(bad)?.into(),
            roles: roles.into(),
            created: uint(row.int(3).map_err(bad)?),
            last_seen: uint(row.int(4).map_err(bad)?),
            csrf_token: row.text(5).map_err(bad)?.into(),
            data,
            expires_at: uint(row.int(7).map_err(bad)?),
            amr: amr.into(),
        },
    ))
}

#[async_trait]
impl Sessions for SqlStore {
    async fn insert_session(&self, key: &str, record: &SessionRecord) -> Result<(), StoreError> {
        let roles = serde_json::to_string(&record.roles)
            .map_err(|e| StoreError::new(format!("session encoding: {e}")))?;
        let data = serde_json::to_string(&record.data)
            .map_err(|e| StoreError::new(format!("session encoding: {e}")))?;
        let amr = serde_json::to_string(&record.amr)
            .map_err(|e| StoreError::new(format!("session encoding: {e}")))?;
        with_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO auth_sessions (skey, user_id, roles, created, last_seen, csrf_token, data, expires_at, amr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (skey) DO UPDATE SET user_id = excluded.user_id, roles = excluded.roles, \
             created = excluded.created, last_seen = excluded.last_seen, \
             csrf_token = excluded.csrf_token, data = excluded.data, expires_at = excluded.expires_at, \
             amr = excluded.amr",
        )
        .bind(key)
        .bind(&record.user_id)
        .bind(&roles)
        .bind(int(record.created))
        .bind(int(record.last_seen))
        .bind(&record.csrf_token)
        .bind(&data)
        .bind(int(record.expires_at))
        .bind(&amr)
        .execute(p)
        .await
        .map(|_| ()))
        .map_err(fault("insert_session"))?;
        Ok(())
    }

    async fn load_session(&self, key: &str) -> Result<Option<SessionRecord>, StoreError> {
        let now = self.now();
        with_pool!(&self.pool, |p| {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {SESSION_COLUMNS} FROM auth_sessions WHERE skey = $1 AND expires_at > $2"
            )))
            .bind(key)
            .bind(now)
            .fetch_optional(p)
            .await
            .map_err(fault("load_session"))?;
            row.as_ref().map(session).transpose()
        })
        .map(|found| found.map(|(_, record)| record))
    }

    async fn touch_session(
        &self,
        key: &str,
        last_seen: u64,
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let changed = with_pool!(&self.pool, |p| sqlx::query(
            "UPDATE auth_sessions SET last_seen = $2, expires_at = $3 \
             WHERE skey = $1 AND expires_at > $4",
        )
        .bind(key)
        .bind(int(last_seen))
        .bind(int(expires_at))
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(fault("touch_session"))?;
        Ok(changed > 0)
    }

    async fn remove_session(&self, key: &str) -> Result<bool, StoreError> {
        let now = self.now();
        let gone: Option<i64> = with_pool!(&self.pool, |p| sqlx::query_scalar(
            "DELETE FROM auth_sessions WHERE skey = $1 RETURNING expires_at"
        )
        .bind(key)
        .fetch_optional(p)
        .await)
        .map_err(fault("remove_session"))?;
        Ok(gone.is_some_and(|exp| exp > now))
    }

    async fn remove_user_sessions(&self, user_id: &str) -> Result<usize, StoreError> {
        let now = self.now();
        let gone: Vec<i64> = with_pool!(&self.pool, |p| sqlx::query_scalar(
            "DELETE FROM auth_sessions WHERE user_id = $1 RETURNING expires_at"
        )
        .bind(user_id)
        .fetch_all(p)
        .await)
        .map_err(fault("remove_user_sessions"))?;
        Ok(gone.into_iter().filter(|exp| *exp > now).count())
    }

    async fn user_sessions(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, SessionRecord)>, StoreError> {
        let now = self.now();
        with_pool!(&self.pool, |p| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {SESSION_COLUMNS} FROM auth_sessions \
                 WHERE user_id = $1 AND expires_at > $2 ORDER BY created, skey"
            )))
            .bind(user_id)
            .bind(now)
            .fetch_all(p)
            .await
            .map_err(fault("user_sessions"))?;
            rows.iter().map(session).collect()
        })
    }
}
