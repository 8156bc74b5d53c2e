//! Users and API key records on SQL.

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::credential::{ApiKeyRecord, ApiKeyStore, KeyDigest, User, UserStore};

use crate::state::RowExt;
use crate::{Pool, fault, int, uint, with_pool};

/// Users in the table `auth_users` ([`auth_core::credential::UserStore`]). Emails are
/// unique after ASCII case folding, so two concurrent first logins of one email through
/// a provider make one account.
#[derive(Debug, Clone)]
pub struct SqlUsers {
    pool: Pool,
}

const USER_COLUMNS: &str = "id, username, email, roles, password_hash, disabled, data";

fn user(row: &impl RowExt) -> Result<User, StoreError> {
    let bad = |e: sqlx::Error| StoreError::new(format!("sql user row: {e}"));
    let roles: Vec<String> = serde_json::from_str(&row.text(3).map_err(bad)?)
        .map_err(|e| StoreError::new(format!("corrupt user roles: {e}")))?;
    Ok(User {
        id: row.text(0).map_err(bad)?,
        username: row.text(1).map_err(bad)?,
        email: row.opt_text(2).map_err(bad)?,
        roles,
        password_hash: row.text(4).map_err(bad)?,
        disabled: row.int(5).map_err(bad)? != 0,
        data: match row.opt_text(6).map_err(bad)? {
            None => serde_json::Value::Null,
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| StoreError::new(format!("corrupt user data: {e}")))?,
        },
    })
}

/// `User::data` as stored: `NULL` for `Null`, else JSON text.
fn encode_data(data: &serde_json::Value) -> Result<Option<String>, StoreError> {
    match data {
        serde_json::Value::Null => Ok(None),
        other => serde_json::to_string(other)
            .map(Some)
            .map_err(|e| StoreError::new(format!("user data encoding: {e}"))),
    }
}

fn fold(email: &str) -> String {
    email.to_ascii_lowercase()
}

impl SqlUsers {
    /// Users in the database behind `pool` (migrations applied by [`crate::SqlStore`]).
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    async fn find_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<User>, StoreError> {
        with_pool!(&self.pool, |p| {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS} FROM auth_users WHERE {column} = $1"
            )))
            .bind(value)
            .fetch_optional(p)
            .await
            .map_err(fault("find user"))?;
            row.as_ref().map(user).transpose()
        })
    }

    /// Adds `user` unless one with its id, username or email exists; `true` when added.
    /// What a seed step calls (the reference apps seed their demo users this way).
    pub async fn insert_if_absent(&self, user: &User) -> Result<bool, StoreError> {
        let roles = serde_json::to_string(&user.roles)
            .map_err(|e| StoreError::new(format!("user roles encoding: {e}")))?;
        let data = encode_data(&user.data)?;
        let added = with_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO auth_users (id, username, email, email_folded, roles, password_hash, disabled, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(user.email.as_deref())
        .bind(user.email.as_deref().map(fold))
        .bind(&roles)
        .bind(&user.password_hash)
        .bind(i64::from(user.disabled))
        .bind(data.as_deref())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(fault("insert user"))?;
        Ok(added > 0)
    }

    /// Replaces the roles and the disabled flag of user `id`; `false` if there is none.
    pub async fn update_access(
        &self,
        id: &str,
        roles: &[String],
        disabled: bool,
    ) -> Result<bool, StoreError> {
        let roles = serde_json::to_string(roles)
            .map_err(|e| StoreError::new(format!("user roles encoding: {e}")))?;
        let changed = with_pool!(&self.pool, |p| sqlx::query(
            "UPDATE auth_users SET roles = $2, disabled = $3 WHERE id = $1"
        )
        .bind(id)
        .bind(&roles)
        .bind(i64::from(disabled))
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(fault("update user"))?;
        Ok(changed > 0)
    }

    /// Replaces the team's own data of user `id` ([`User::data`]); `false` if there is
    /// none. Sessions and tokens pick it up at their next read of the user (a sliding
    /// session, a refresh).
    pub async fn update_data(
        &self,
        id: &str,
        data: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        let data = encode_data(data)?;
        let changed = with_pool!(&self.pool, |p| sqlx::query(
            "UPDATE auth_users SET data = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(data.as_deref())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(fault("update user data"))?;
        Ok(changed > 0)
    }

    /// How many users the table holds (the reference apps seed an empty one).
    pub async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = with_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM auth_users"
        )
        .fetch_one(p)
        .await)
        .map_err(fault("count users"))?;
        Ok(uint(n))
    }
}

#[async_trait]
impl UserStore for SqlUsers {
    async fn find_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.find_where("username", username).await
    }

    async fn find_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.find_where("id", id).await
    }

    async fn update_password_hash(&self, id: &str, phc: &str) -> Result<(), StoreError> {
        let changed = with_pool!(&self.pool, |p| sqlx::query(
            "UPDATE auth_users SET password_hash = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(phc)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(fault("update password hash"))?;
        if changed == 0 {
            return Err(StoreError::new("update password hash: no such user"));
        }
        Ok(())
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.find_where("email_folded", &fold(email)).await
    }

    async fn create_user(&self, user: User) -> Result<User, StoreError> {
        // A given id is used as is; an empty one becomes the next number (as the demo
        // users' "1", "2", "3" are), found again when a concurrent creation took it.
        for _ in 0..20 {
            let mut candidate = user.clone();
            if candidate.id.is_empty() {
                candidate.id = (self.max_numeric_id().await? + 1).to_string();
            }
            // One statement: the unique email (folded) makes a concurrent second creation
            // of the same email a no-op, and that caller gets the first one's user.
            if self.insert_if_absent(&candidate).await? {
                return Ok(candidate);
            }
            if let Some(email) = &user.email
                && let Some(existing) = self.find_by_email(email).await?
            {
                return Ok(existing);
            }
            if !user.id.is_empty() || self.find_by_username(&user.username).await?.is_some() {
                break;
            }
            // The number was taken meanwhile: take the next one.
        }
        Err(StoreError::new("a user with this id or username exists"))
    }
}

impl SqlUsers {
    /// The largest id that is a number (0 when none is).
    async fn max_numeric_id(&self) -> Result<i64, StoreError> {
        let found: Result<i64, sqlx::Error> =
            match &self.pool {
                #[cfg(feature = "postgres")]
                Pool::Postgres(p) => sqlx::query_scalar(
                    "SELECT CAST(COALESCE(MAX(CAST(id AS BIGINT)), 0) AS BIGINT) FROM auth_users \
                     WHERE id ~ '^[0-9]{1,18}$'",
                )
                .fetch_one(p)
                .await,
                #[cfg(feature = "sqlite")]
                Pool::Sqlite(p) => sqlx::query_scalar(
                    "SELECT CAST(COALESCE(MAX(CAST(id AS INTEGER)), 0) AS BIGINT) FROM auth_users \
                     WHERE id <> '' AND id NOT GLOB '*[^0-9]*' AND length(id) <= 18",
                )
                .fetch_one(p)
                .await,
            };
        found.map_err(fault("next user id"))
    }
}

/// API key records in the table `auth_api_keys`
/// ([`auth_core::credential::ApiKeyStore`]): the SHA-256 digest of a key (hex), never
/// the key.
#[derive(Debug, Clone)]
pub struct SqlApiKeys {
    pool: Pool,
}

fn hex(digest: &KeyDigest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<KeyDigest> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let digit = |c: u8| (c as char).to_digit(16);
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let [hi, lo] = *pair else { return None };
        *byte = u8::try_from(digit(hi)? * 16 + digit(lo)?).ok()?;
    }
    Some(out)
}

fn api_key(row: &impl RowExt) -> Result<ApiKeyRecord, StoreError> {
    let bad = |e: sqlx::Error| StoreError::new(format!("sql api key row: {e}"));
    let list = |i: usize| -> Result<Vec<String>, StoreError> {
        serde_json::from_str(&row.text(i).map_err(bad)?)
            .map_err(|e| StoreError::new(format!("corrupt api key record: {e}")))
    };
    Ok(ApiKeyRecord {
        digest: unhex(&row.text(0).map_err(bad)?)
            .ok_or_else(|| StoreError::new("corrupt api key digest"))?,
        name: row.text(1).map_err(bad)?,
        owner: row.text(2).map_err(bad)?,
        roles: list(3)?,
        scopes: list(4)?,
        created: uint(row.int(5).map_err(bad)?),
        expires: row.opt_int(6).map_err(bad)?.map(uint),
        revoked: row.int(7).map_err(bad)? != 0,
        display_prefix: row.text(8).map_err(bad)?,
    })
}

impl SqlApiKeys {
    /// API keys in the database behind `pool` (migrations applied by [`crate::SqlStore`]).
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Whether any key record exists (the reference apps seed an empty table).
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let n: i64 = with_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM auth_api_keys"
        )
        .fetch_one(p)
        .await)
        .map_err(fault("count api keys"))?;
        Ok(n == 0)
    }
}

#[async_trait]
impl ApiKeyStore for SqlApiKeys {
    async fn find(&self, digest: &KeyDigest) -> Result<Option<ApiKeyRecord>, StoreError> {
        with_pool!(&self.pool, |p| {
            let row = sqlx::query(
                "SELECT digest, name, owner, roles, scopes, created, expires, revoked, display_prefix \
                 FROM auth_api_keys WHERE digest = $1",
            )
            .bind(hex(digest))
            .fetch_optional(p)
            .await
            .map_err(fault("find api key"))?;
            row.as_ref().map(api_key).transpose()
        })
    }

    async fn insert(&self, record: ApiKeyRecord) -> Result<(), StoreError> {
        let encode = |v: &Vec<String>| {
            serde_json::to_string(v)
                .map_err(|e| StoreError::new(format!("api key record encoding: {e}")))
        };
        let (roles, scopes) = (encode(&record.roles)?, encode(&record.scopes)?);
        with_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO auth_api_keys \
             (digest, name, owner, roles, scopes, created, expires, revoked, display_prefix) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (digest) DO UPDATE SET name = excluded.name, owner = excluded.owner, \
             roles = excluded.roles, scopes = excluded.scopes, created = excluded.created, \
             expires = excluded.expires, revoked = excluded.revoked, \
             display_prefix = excluded.display_prefix",
        )
        .bind(hex(&record.digest))
        .bind(&record.name)
        .bind(&record.owner)
        .bind(&roles)
        .bind(&scopes)
        .bind(int(record.created))
        .bind(record.expires.map(int))
        .bind(i64::from(record.revoked))
        .bind(&record.display_prefix)
        .execute(p)
        .await
        .map(|_| ()))
        .map_err(fault("insert api key"))?;
        Ok(())
    }

    async fn revoke(&self, digest: &KeyDigest) -> Result<bool, StoreError> {
        let changed = with_pool!(&self.pool, |p| sqlx::query(
            "UPDATE auth_api_keys SET revoked = 1 WHERE digest = $1"
        )
        .bind(hex(digest))
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(fault("revoke api key"))?;
        Ok(changed > 0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn digests_round_trip_through_hex() {
        let d: super::KeyDigest = std::array::from_fn(|i| (i * 37 % 256) as u8);
        assert_eq!(super::unhex(&super::hex(&d)), Some(d));
        assert_eq!(super::unhex("zz"), None);
        assert_eq!(super::unhex(&"g".repeat(64)), None);
    }
}
