//! [`Passkeys`] on SQL: registered passkeys (`auth_passkeys`) and ceremony states
//! (`auth_passkey_ceremonies`). Every check-and-change is one statement: a registration
//! is one `INSERT … ON CONFLICT DO NOTHING` (a taken id changes no row), a use one
//! `UPDATE` whose `WHERE` holds the counter rule, a removal one `DELETE` whose `WHERE`
//! holds the owner, and a ceremony is taken by one `DELETE … RETURNING`.

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::{Passkeys, StoredPasskey};

use super::RowExt;
use crate::{SqlStore, fault, int, uint, with_pool};

const PASSKEY_COLUMNS: &str = "user_id, credential_id, data, counter, created";

fn passkey(row: &impl RowExt) -> Result<StoredPasskey, sqlx::Error> {
    let counter = row.int(3)?;
    Ok(StoredPasskey {
        user_id: row.text(0)?,
        credential_id: row.text(1)?,
        data: row.text(2)?,
        counter: u32::try_from(counter).map_err(|_| {
            sqlx::Error::Decode(format!("passkey counter out of range: {counter}").into())
        })?,
        created: uint(row.int(4)?),
    })
}

#[async_trait]
impl Passkeys for SqlStore {
    async fn add_passkey(&self, passkey: &StoredPasskey) -> Result<bool, StoreError> {
        // `seq` numbers the user's registrations (the order within one second).
        let added = with_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO auth_passkeys (credential_id, user_id, data, counter, created, seq) \
             VALUES ($1, $2, $3, $4, $5, \
             (SELECT COALESCE(MAX(seq), 0) + 1 FROM auth_passkeys WHERE user_id = $2)) \
             ON CONFLICT (credential_id) DO NOTHING",
        )
        .bind(&passkey.credential_id)
        .bind(&passkey.user_id)
        .bind(&passkey.data)
        .bind(i64::from(passkey.counter))
        .bind(int(passkey.created))
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(fault("add_passkey"))?;
        Ok(added > 0)
    }

    async fn passkeys(&self, user_id: &str) -> Result<Vec<StoredPasskey>, StoreError> {
        with_pool!(&self.pool, |p| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PASSKEY_COLUMNS} FROM auth_passkeys WHERE user_id = $1 \
                 ORDER BY created, seq, credential_id"
            )))
            .bind(user_id)
            .fetch_all(p)
            .await;
            rows.and_then(|rows| rows.iter().map(passkey).collect())
        })
        .map_err(fault("passkeys"))
    }

    async fn passkey(&self, credential_id: &str) -> Result<Option<StoredPasskey>, StoreError> {
        with_pool!(&self.pool, |p| {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PASSKEY_COLUMNS} FROM auth_passkeys WHERE credential_id = $1"
            )))
            .bind(credential_id)
            .fetch_optional(p)
            .await;
            row.and_then(|r| r.as_ref().map(passkey).transpose())
        })
        .map_err(fault("passkey"))
    }

    async fn use_passkey(
        &self,
        credential_id: &str,
        counter: u32,
        data: &str,
    ) -> Result<bool, StoreError> {
        // The `WHERE` is the counter rule: of concurrent uses with one counter, the first
        // to update moves it; the others (Postgres re-reads the row) find it not above.
        let changed = with_pool!(&self.pool, |p| sqlx::query(
            "UPDATE auth_passkeys SET counter = $2, data = $3 \
             WHERE credential_id = $1 AND ($2 > counter OR ($2 = 0 AND counter = 0))",
        )
        .bind(credential_id)
        .bind(i64::from(counter))
        .bind(data)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(fault("use_passkey"))?;
        Ok(changed > 0)
    }

    async fn remove_passkey(&self, user_id: &str, credential_id: &str) -> Result<bool, StoreError> {
        let gone = with_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM auth_passkeys WHERE credential_id = $1 AND user_id = $2"
        )
        .bind(credential_id)
        .bind(user_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(fault("remove_passkey"))?;
        Ok(gone > 0)
    }

    async fn put_ceremony(
        &self,
        key: &str,
        state: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO auth_passkey_ceremonies (ckey, state, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (ckey) DO UPDATE SET state = excluded.state, \
             expires_at = excluded.expires_at",
        )
        .bind(key)
        .bind(state)
        .bind(int(expires_at))
        .execute(p)
        .await
        .map(|_| ()))
        .map_err(fault("put_ceremony"))
    }

    async fn take_ceremony(&self, key: &str) -> Result<Option<String>, StoreError> {
        let now = self.now();
        // One `DELETE … RETURNING`: of concurrent takes exactly one deletes the row.
        with_pool!(&self.pool, |p| sqlx::query_scalar(
            "DELETE FROM auth_passkey_ceremonies WHERE ckey = $1 AND expires_at > $2 \
             RETURNING state"
        )
        .bind(key)
        .bind(now)
        .fetch_optional(p)
        .await)
        .map_err(fault("take_ceremony"))
    }
}
