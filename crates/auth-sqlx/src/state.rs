//! The four state traits of `auth-core` on SQL. The same statements run on Postgres and
//! SQLite (`$N` placeholders, `INSERT … ON CONFLICT … DO UPDATE … RETURNING`, `CASE`
//! rather than `GREATEST`/`MAX(a, b)`).

use std::time::Duration;

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::{
    Admission, Counter, Counters, Family, Limit, RefreshFamilies, Revocations, Rotation,
    SessionRecord, Sessions, TokenMeta, TokenRef, TokenStatus,
};
use sqlx::Row as _;

use crate::{SqlStore, fault, int, transient, uint, with_pool, with_tx};

/// Attempts of a transaction that hit a deadlock, a serialization failure or a busy
/// database before the error is returned.
const TX_ATTEMPTS: u32 = 5;

/// Runs `$attempt` (a `Result<T, sqlx::Error>` expression) again while it fails with a
/// transient error, at most `TX_ATTEMPTS` times.
macro_rules! retrying {
    ($attempt:expr) => {{
        let mut tries = 0;
        loop {
            tries += 1;
            match $attempt {
                Err(e) if tries < TX_ATTEMPTS && transient(&e) => {
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(tries))).await;
                }
                other => break other,
            }
        }
    }};
}

fn status(revoked: bool) -> TokenStatus {
    if revoked {
        TokenStatus::Revoked
    } else {
        TokenStatus::Active
    }
}

impl SqlStore {
    /// One check statement (`CHECK` or `CHECK_LISTED`): whether `t` is refused now.
    async fn token_status(
        &self,
        sql: &'static str,
        t: &TokenRef<'_>,
        what: &'static str,
    ) -> Result<TokenStatus, StoreError> {
        let now = self.now();
        let revoked: i64 = with_pool!(&self.pool, |p| sqlx::query_scalar(sql)
            .bind(t.iss)
            .bind(t.jti)
            .bind(t.sid)
            .bind(t.sub)
            .bind(now)
            .bind(int(t.iat))
            .fetch_one(p)
            .await)
        .map_err(fault(what))?;
        Ok(status(revoked != 0))
    }
}

#[async_trait]
impl Revocations for SqlStore {
    async fn check(&self, t: &TokenRef<'_>) -> Result<TokenStatus, StoreError> {
        self.token_status(CHECK, t, "check").await
    }

    async fn revoke_token(&self, t: &TokenRef<'_>) -> Result<(), StoreError> {
        let now = self.now();
        let exp = int(t.exp);
        let done: Result<(), sqlx::Error> = retrying!(with_tx!(&self.pool, |tx| async {
            sqlx::query("DELETE FROM auth_listed WHERE iss = $1 AND jti = $2")
                .bind(t.iss)
                .bind(t.jti)
                .execute(&mut *tx)
                .await?;
            if exp > now {
                sqlx::query(
                    "INSERT INTO auth_blocked (iss, jti, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (iss, jti) DO UPDATE SET expires_at = CASE \
                     WHEN auth_blocked.expires_at > excluded.expires_at \
                     THEN auth_blocked.expires_at ELSE excluded.expires_at END",
                )
                .bind(t.iss)
                .bind(t.jti)
                .bind(exp)
                .execute(&mut *tx)
                .await?;
            }
            Ok::<_, sqlx::Error>(())
        }
        .await));
        done.map_err(fault("revoke_token"))
    }

    async fn revoke_family(&self, sub: &str, sid: &str, until: u64) -> Result<(), StoreError> {
        let now = self.now();
        let until = int(until);
        // A new row expires at `until` but never before `now + 1`; a live one keeps the
        // later of its expiry and `until`.
        let fresh = if until > now { until } else { now + 1 };
        let done: Result<(), sqlx::Error> = retrying!(with_tx!(&self.pool, |tx| async {
            sqlx::query("DELETE FROM auth_listed WHERE sid = $1")
                .bind(sid)
                .execute(&mut *tx)
                .await?;
            sqlx::query(REVOKE_FAMILY)
                .bind(sid)
                .bind(sub)
                .bind(now)
                .bind(fresh)
                .bind(until)
                .execute(&mut *tx)
                .await?;
            Ok::<_, sqlx::Error>(())
        }
        .await));
        done.map_err(fault("revoke_family"))
    }

    async fn revoke_user(&self, sub: &str, at: u64, until: u64) -> Result<(), StoreError> {
        let now = self.now();
        let (at, until) = (int(at), int(until));
        let keep = if until > now { until } else { now + 1 };
        let done: Result<(), sqlx::Error> = retrying!(with_tx!(&self.pool, |tx| async {
            sqlx::query(
                "INSERT INTO auth_user_cutoffs (sub, cutoff, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (sub) DO UPDATE SET \
                 cutoff = CASE WHEN auth_user_cutoffs.expires_at > $4 \
                     AND auth_user_cutoffs.cutoff > excluded.cutoff \
                     THEN auth_user_cutoffs.cutoff ELSE excluded.cutoff END, \
                 expires_at = excluded.expires_at",
            )
            .bind(sub)
            .bind(at)
            .bind(keep)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM auth_listed WHERE sid IN (SELECT sid FROM auth_families \
                 WHERE sub = $1 AND revoked = 0 AND expires_at > $2)",
            )
            .bind(sub)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE auth_families SET revoked = 1, expires_at = CASE \
                 WHEN expires_at > $2 THEN expires_at ELSE $2 END \
                 WHERE sub = $1 AND revoked = 0 AND expires_at > $3",
            )
            .bind(sub)
            .bind(until)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Ok::<_, sqlx::Error>(())
        }
        .await));
        done.map_err(fault("revoke_user"))
    }

    async fn list_token(&self, t: &TokenRef<'_>, meta: &TokenMeta) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO auth_listed (iss, jti, sid, sub, issued, client, user_agent, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (iss, jti) DO UPDATE SET sid = excluded.sid, sub = excluded.sub, \
             issued = excluded.issued, client = excluded.client, \
             user_agent = excluded.user_agent, expires_at = excluded.expires_at",
        )
        .bind(t.iss)
        .bind(t.jti)
        .bind(t.sid)
        .bind(t.sub)
        .bind(int(meta.issued))
        .bind(meta.client.as_deref())
        .bind(meta.user_agent.as_deref())
        .bind(int(t.exp))
        .execute(p)
        .await
        .map(|_| ()))
        .map_err(fault("list_token"))?;
        Ok(())
    }

    async fn check_listed(&self, t: &TokenRef<'_>) -> Result<TokenStatus, StoreError> {
        self.token_status(CHECK_LISTED, t, "check_listed").await
    }
}

/// 1 when the token is revoked by its jti ($1, $2), its family ($3) or its user's cut-off
/// ($4, with iat $6), at $5; else 0.
const CHECK: &str = "SELECT CAST(CASE WHEN \
     EXISTS (SELECT 1 FROM auth_blocked WHERE iss = $1 AND jti = $2 AND expires_at > $5) \
     OR EXISTS (SELECT 1 FROM auth_families WHERE sid = $3 AND revoked = 1 AND expires_at > $5) \
     OR EXISTS (SELECT 1 FROM auth_user_cutoffs WHERE sub = $4 AND cutoff > $6 AND expires_at > $5) \
     THEN 1 ELSE 0 END AS BIGINT)";

/// 1 (refused) unless listed (same iss, jti and family, unexpired) and not revoked.
const CHECK_LISTED: &str = "SELECT CAST(CASE WHEN \
     NOT EXISTS (SELECT 1 FROM auth_listed WHERE iss = $1 AND jti = $2 AND sid = $3 AND expires_at > $5) \
     OR EXISTS (SELECT 1 FROM auth_blocked WHERE iss = $1 AND jti = $2 AND expires_at > $5) \
     OR EXISTS (SELECT 1 FROM auth_families WHERE sid = $3 AND revoked = 1 AND expires_at > $5) \
     OR EXISTS (SELECT 1 FROM auth_user_cutoffs WHERE sub = $4 AND cutoff > $6 AND expires_at > $5) \
     THEN 1 ELSE 0 END AS BIGINT)";

/// Marks family $1 (of user $2) revoked at $3: a live row keeps the later of its expiry
/// and $5; a missing or expired one is recorded revoked until $4, so a family this
/// database never saw is refused everywhere.
const REVOKE_FAMILY: &str = "INSERT INTO auth_families \
     (sid, sub, current_jti, created, last_used, revoked, expires_at) \
     VALUES ($1, $2, '', $3, $3, 1, $4) \
     ON CONFLICT (sid) DO UPDATE SET revoked = 1, \
     sub = CASE WHEN auth_families.expires_at > $3 THEN auth_families.sub ELSE excluded.sub END, \
     current_jti = CASE WHEN auth_families.expires_at > $3 THEN auth_families.current_jti ELSE '' END, \
     created = CASE WHEN auth_families.expires_at > $3 THEN auth_families.created ELSE $3 END, \
     last_used = CASE WHEN auth_families.expires_at > $3 THEN auth_families.last_used ELSE $3 END, \
     expires_at = CASE WHEN auth_families.expires_at > $3 AND auth_families.expires_at > $5 \
         THEN auth_families.expires_at ELSE $5 END";

fn family(row: &impl RowExt) -> Result<Family, sqlx::Error> {
    Ok(Family {
        sid: row.text(0)?,
        sub: row.text(1)?,
        created: uint(row.int(2)?),
        last_used: uint(row.int(3)?),
        expires_at: uint(row.int(4)?),
    })
}

/// Column access shared by both backends' rows.
pub(crate) trait RowExt {
    fn int(&self, i: usize) -> Result<i64, sqlx::Error>;
    fn text(&self, i: usize) -> Result<String, sqlx::Error>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, sqlx::Error>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, sqlx::Error>;
}

macro_rules! row_ext_for {
    ($row:ty) => {
        impl RowExt for $row {
            fn int(&self, i: usize) -> Result<i64, sqlx::Error> {
                self.try_get(i)
            }
            fn text(&self, i: usize) -> Result<String, sqlx::Error> {
                self.try_get(i)
            }
            fn opt_text(&self, i: usize) -> Result<Option<String>, sqlx::Error> {
                self.try_get(i)
            }
            fn opt_int(&self, i: usize) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(i)
            }
        }
    };
}
#[cfg(feature = "postgres")]
row_ext_for!(sqlx::postgres::PgRow);
#[cfg(feature = "sqlite")]
row_ext_for!(sqlx::sqlite::SqliteRow);

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
             RETURNING revoked";
        let now = self.now();
        let revoked: Option<i64> = with_pool!(&self.pool, |p| sqlx::query_scalar(SQL)
            .bind(sid)
            .bind(sub)
            .bind(jti)
            .bind(next_jti)
            .bind(int(next_exp))
            .bind(now)
            .fetch_optional(p)
            .await)
        .map_err(fault("rotate"))?;
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

const SESSION_COLUMNS: &str =
    "skey, user_id, roles, created, last_seen, csrf_token, data, expires_at";

fn session(row: &impl RowExt) -> Result<(String, SessionRecord), StoreError> {
    let bad = |e: sqlx::Error| StoreError::new(format!("sql session row: {e}"));
    let roles: Vec<String> = serde_json::from_str(&row.text(2).map_err(bad)?)
        .map_err(|e| StoreError::new(format!("corrupt session roles: {e}")))?;
    let data: serde_json::Value = serde_json::from_str(&row.text(6).map_err(bad)?)
        .map_err(|e| StoreError::new(format!("corrupt session data: {e}")))?;
    Ok((
        row.text(0).map_err(bad)?,
        SessionRecord {
            user_id: row.text(1).map_err(bad)?,
            roles,
            created: uint(row.int(3).map_err(bad)?),
            last_seen: uint(row.int(4).map_err(bad)?),
            csrf_token: row.text(5).map_err(bad)?,
            data,
            expires_at: uint(row.int(7).map_err(bad)?),
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
        with_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO auth_sessions (skey, user_id, roles, created, last_seen, csrf_token, data, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (skey) DO UPDATE SET user_id = excluded.user_id, roles = excluded.roles, \
             created = excluded.created, last_seen = excluded.last_seen, \
             csrf_token = excluded.csrf_token, data = excluded.data, expires_at = excluded.expires_at",
        )
        .bind(key)
        .bind(&record.user_id)
        .bind(&roles)
        .bind(int(record.created))
        .bind(int(record.last_seen))
        .bind(&record.csrf_token)
        .bind(&data)
        .bind(int(record.expires_at))
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

fn counter(row: &impl RowExt) -> Result<Counter, sqlx::Error> {
    Ok(Counter {
        count: uint(row.int(0)?),
        last: uint(row.int(1)?),
        expires_at: uint(row.int(2)?),
    })
}

/// The lock of [`Limit::wait`] in SQL terms: for `extra = hits - max` below `knee` the
/// lock is `backoff << extra`; from `knee` on it is `cap`. (`Limit::wait` doubles at most
/// 32 times and caps at `backoff_max`; below the knee the shift cannot overflow.)
fn lock_shape(limit: &Limit) -> (i64, i64, i64) {
    let lock = |k: u32| {
        limit
            .backoff
            .saturating_mul(1u64 << k)
            .min(limit.backoff_max)
    };
    let knee = (0..32u32)
        .find(|&k| lock(k) >= limit.backoff_max)
        .unwrap_or(32);
    (int(limit.backoff), i64::from(knee), int(lock(knee)))
}

#[async_trait]
impl Counters for SqlStore {
    async fn get(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        let now = self.now();
        with_pool!(&self.pool, |p| {
            let row = sqlx::query(
                "SELECT hits, last_hit, expires_at FROM auth_counters \
                 WHERE ckey = $1 AND expires_at > $2",
            )
            .bind(key)
            .bind(now)
            .fetch_optional(p)
            .await;
            row.and_then(|r| r.as_ref().map(counter).transpose())
        })
        .map_err(fault("get"))
    }

    async fn increment(&self, key: &str, window: Duration) -> Result<Counter, StoreError> {
        let now = self.now();
        let fresh = now.saturating_add(int(window.as_secs().max(1)));
        with_pool!(&self.pool, |p| {
            let row = sqlx::query(
                "INSERT INTO auth_counters (ckey, hits, last_hit, expires_at) VALUES ($1, 1, $2, $3) \
                 ON CONFLICT (ckey) DO UPDATE SET \
                 hits = CASE WHEN auth_counters.expires_at > $2 THEN auth_counters.hits + 1 ELSE 1 END, \
                 last_hit = $2, \
                 expires_at = CASE WHEN auth_counters.expires_at > $2 \
                     THEN auth_counters.expires_at ELSE excluded.expires_at END \
                 RETURNING hits, last_hit, expires_at",
            )
            .bind(key)
            .bind(now)
            .bind(fresh)
            .fetch_one(p)
            .await;
            row.and_then(|r| counter(&r))
        })
        .map_err(fault("increment"))
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM auth_counters WHERE ckey = $1"
        )
        .bind(key)
        .execute(p)
        .await
        .map(|_| ()))
        .map_err(fault("reset"))?;
        Ok(())
    }

    async fn reserve(
        &self,
        key: &str,
        window: Duration,
        limit: &Limit,
    ) -> Result<Admission, StoreError> {
        // Check and count in one statement: the `WHERE` of the upsert is the `Limit` rule
        // (admit a missing or expired counter, fewer than `max` hits, or a lock that has
        // ended), evaluated on the row under its lock. A refused attempt writes nothing.
        const SQL: &str = "INSERT INTO auth_counters (ckey, hits, last_hit, expires_at) VALUES ($1, 1, $2, $3) \
             ON CONFLICT (ckey) DO UPDATE SET \
             hits = CASE WHEN auth_counters.expires_at > $2 THEN auth_counters.hits + 1 ELSE 1 END, \
             last_hit = $2, \
             expires_at = CASE WHEN auth_counters.expires_at > $2 \
                 THEN auth_counters.expires_at ELSE excluded.expires_at END \
             WHERE auth_counters.expires_at <= $2 \
                OR auth_counters.hits < $4 \
                OR auth_counters.last_hit + CASE WHEN auth_counters.hits - $4 >= $6 THEN $7 \
                   ELSE $5 * (CAST(1 AS BIGINT) << CAST(auth_counters.hits - $4 AS INTEGER)) END <= $2 \
             RETURNING hits, last_hit, expires_at";
        let (backoff, knee, cap) = lock_shape(limit);
        for _ in 0..3 {
            let now = self.now();
            let fresh = now.saturating_add(int(window.as_secs().max(1)));
            let admitted = with_pool!(&self.pool, |p| {
                let row = sqlx::query(SQL)
                    .bind(key)
                    .bind(now)
                    .bind(fresh)
                    .bind(int(limit.max))
                    .bind(backoff)
                    .bind(knee)
                    .bind(cap)
                    .fetch_optional(p)
                    .await;
                row.and_then(|r| r.as_ref().map(counter).transpose())
            })
            .map_err(fault("reserve"))?;
            if let Some(c) = admitted {
                return Ok(Admission::Admitted(c));
            }
            // Refused: say for how long, from the counter as it is now.
            let Some(c) = self.get(key).await? else {
                continue; // the window closed meanwhile: try again
            };
            let wait = limit.wait(&c, uint(now));
            if wait > 0 {
                return Ok(Admission::Refused {
                    retry_after_secs: wait,
                });
            }
        }
        // Three refusals whose locks had each ended by the time they were read: only a
        // clock far out of step with another instance's does this.
        Ok(Admission::Refused {
            retry_after_secs: 1,
        })
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let now = self.now();
        let left: Option<i64> = with_pool!(&self.pool, |p| sqlx::query_scalar(
            "UPDATE auth_counters SET hits = hits - 1 \
             WHERE ckey = $1 AND expires_at > $2 AND hits > 0 RETURNING hits"
        )
        .bind(key)
        .bind(now)
        .fetch_optional(p)
        .await)
        .map_err(fault("release"))?;
        if left.is_some_and(|n| n <= 0) {
            with_pool!(&self.pool, |p| sqlx::query(
                "DELETE FROM auth_counters WHERE ckey = $1 AND hits <= 0"
            )
            .bind(key)
            .execute(p)
            .await
            .map(|_| ()))
            .map_err(fault("release"))?;
        }
        Ok(())
    }
}
