//! [`Counters`] on SQL: the login-throttle counters, checked and counted in one upsert.

use std::time::Duration;

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::{Admission, Counter, Counters, Limit};

use super::RowExt;
use crate::{SqlStore, fault, int, uint, with_pool};

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
