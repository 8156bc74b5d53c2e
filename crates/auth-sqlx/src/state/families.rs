//! [`RefreshFamilies`] on SQL: starting a family, rotation with reuse detection decided
//! by one statement, and listing a user's live families.

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::{Family, RefreshFamilies, Rotation};

use super::RowExt;
use crate::{SqlStore, fault, int, uint, with_pool};

fn family(row: &impl RowExt) -> Result<Family, sqlx::Error> {
    Ok(Family {
        sid: row.text(0)?,
        sub: row.text(1)?,
        created: uint(row.int(2)?),
        last_used: uint(row.int(3)?),
        expires_at: uint(row.int(4)?),
    })
}

#[async_trait]
impl RefreshFamilies for SqlStore {
    async fn start(&self, sub: &str, sid: &str, jti: &str, exp: u64) -> Result<(), StoreError> {
        let now = self.now();
        // A revoked family stays revoked while it lives: `start` never revives it.
        with_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO auth_families (sid, sub, current_jti, created, last_used, revoked, expires_at) \
             VALUES ($1, $2, $3, $4, $4, 0, $5) \
             ON CONFLICT (sid) DO UPDATE SET sub = excluded.sub, current_jti = excluded.current_jti, \
             created = excluded.created, last_used = excluded.last_used, revoked = 0, \
             expires_at = excluded.expires_at \
             WHERE auth_families.revoked = 0 OR auth_families.expires_at <= $4",
        )
        .bind(sid)
        .bind(sub)
        .bind(jti)
        .bind(now)
        .bind(int(exp))
        .execute(p)
        .await
        .map(|_| ()))
        .map_err(fault("start"))?;
        Ok(())
    }

    async fn rotate(
        &self,
        sub: &str,
        sid: &str,
        jti: &str,
        next_jti: &str,
        next_exp: u64,
    ) -> Result<Rotation, StoreError> {
        // One statement decides: the `SET` reads the row as it is when this statement gets
        // its lock (Postgres re-reads a row a concurrent transaction changed; SQLite has
        // one writer), so of concurrent presentations of one token exactly one finds it
        // current. Every other presentation revokes the family.
        const SQL: &str = "UPDATE auth_families SET \
             current_jti = CASE WHEN revoked = 0 AND current_jti = $3 THEN $4 ELSE current_jti END, \
             last_used = CASE WHEN revoked = 0 AND current_jti = $3 THEN $6 ELSE last_used END, \
             expires_at = CASE WHEN revoked = 0 AND current_jti = $3 THEN $5 ELSE expires_at END, \
             revoked = CASE WHEN revoked = 0 AND current_jti = $3 THEN 0 ELSE 1 END \
             WHERE sid = $1 AND sub = $2 AND expires_at > $6 \
             RETURNING revoked, expires_at";
        let now = self.now();
        let revoked: Option<(i64, i64)> = match &self.pool {
            // Reuse detection revokes the family: the same statement tells the replicas
            // (delivered only if it commits).
            #[cfg(feature = "postgres")]
            crate::Pool::Postgres(p) => {
                sqlx::query_as(ROTATE_NOTIFYING)
                    .bind(sid)
                    .bind(sub)
                    .bind(jti)
                    .bind(next_jti)
                    .bind(int(next_exp))
                    .bind(now)
                    .fetch_optional(p)
                    .await
            }
            #[cfg(feature = "sqlite")]
            crate::Pool::Sqlite(p) => {
                sqlx::query_as(SQL)
                    .bind(sid)
                    .bind(sub)
                    .bind(jti)
                    .bind(next_jti)
                    .bind(int(next_exp))
                    .bind(now)
                    .fetch_optional(p)
                    .await
            }
        }
        .map_err(fault("rotate"))?;
        if let (Some(r), Some((1, until))) = (&self.replica, revoked) {
            r.record(now, |s, _| s.family(sid.to_string(), until));
        }
        let revoked = revoked.map(|(r, _)| r);
        match revoked {
            None => Ok(Rotation::Unknown),
            Some(0) => Ok(Rotation::Rotated),
            Some(_) => {
                // The family is revoked (decided above); its allowlist entries are refused
                // from now on by that, and removed here for tidiness.
                with_pool!(&self.pool, |p| sqlx::query(
                    "DELETE FROM auth_listed WHERE sid = $1"
                )
                .bind(sid)
                .execute(p)
                .await
                .map(|_| ()))
                .map_err(fault("rotate"))?;
                Ok(Rotation::Reused)
            }
        }
    }

    async fn families(&self, sub: &str) -> Result<Vec<Family>, StoreError> {
        let now = self.now();
        with_pool!(&self.pool, |p| {
            let rows = sqlx::query(
                "SELECT sid, sub, created, last_used, expires_at FROM auth_families \
                 WHERE sub = $1 AND revoked = 0 AND expires_at > $2 ORDER BY created, sid",
            )
            .bind(sub)
            .bind(now)
            .fetch_all(p)
            .await;
            rows.and_then(|rows| rows.iter().map(family).collect::<Result<Vec<_>, _>>())
        })
        .map_err(fault("families"))
    }
}

/// Rotation as one statement on Postgres: the `UPDATE` of `rotate` in a CTE, and a
/// `pg_notify` of the family when it ends revoked (reuse detected).
#[cfg(feature = "postgres")]
const ROTATE_NOTIFYING: &str = "WITH r AS (UPDATE auth_families SET \
     current_jti = CASE WHEN revoked = 0 AND current_jti = $3 THEN $4 ELSE current_jti END, \
     last_used = CASE WHEN revoked = 0 AND current_jti = $3 THEN $6 ELSE last_used END, \
     expires_at = CASE WHEN revoked = 0 AND current_jti = $3 THEN $5 ELSE expires_at END, \
     revoked = CASE WHEN revoked = 0 AND current_jti = $3 THEN 0 ELSE 1 END \
     WHERE sid = $1 AND sub = $2 AND expires_at > $6 \
     RETURNING sid, revoked, expires_at) \
     SELECT r.revoked, r.expires_at, CASE WHEN r.revoked = 1 THEN pg_notify(\
         'auth_revocations_' || md5(current_schema()), \
         json_build_object('k', 'f', 's', r.sid, 'e', r.expires_at)::text)::text END \
     FROM r";
