//! [`SecondFactors`] on SQL: TOTP enrolments (`auth_totp`), recovery-code digests
//! (`auth_recovery_codes`) and MFA challenges (`auth_mfa_challenges`). Every check-and-change
//! is one statement whose `WHERE` holds the check (a used step, a spent code, a spent or
//! expired challenge changes no row), or one transaction where several rows change at once
//! (activation with its recovery codes, removal, the failure that spends a challenge).

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::{SecondFactors, TotpEnrolment};

use super::RowExt;
use crate::{SqlStore, fault, int, uint, with_pool, with_tx};

fn enrolment(row: &impl RowExt) -> Result<TotpEnrolment, sqlx::Error> {
    Ok(TotpEnrolment {
        sealed: row.text(0)?,
        active: row.int(1)? != 0,
        last_step: uint(row.int(2)?),
    })
}

#[async_trait]
impl SecondFactors for SqlStore {
    async fn begin_totp(&self, user_id: &str, sealed: &str) -> Result<bool, StoreError> {
        // The upsert's `WHERE` keeps an active enrolment: then no row changes.
        let changed = with_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO auth_totp (user_id, sealed, active, last_step) VALUES ($1, $2, 0, 0) \
             ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, active = 0, \
             last_step = 0 WHERE auth_totp.active = 0",
        )
        .bind(user_id)
        .bind(sealed)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(fault("begin_totp"))?;
        Ok(changed > 0)
    }

    async fn totp(&self, user_id: &str) -> Result<Option<TotpEnrolment>, StoreError> {
        with_pool!(&self.pool, |p| {
            let row =
                sqlx::query("SELECT sealed, active, last_step FROM auth_totp WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_optional(p)
                    .await;
            row.and_then(|r| r.as_ref().map(enrolment).transpose())
        })
        .map_err(fault("totp"))
    }

    async fn activate_totp(
        &self,
        user_id: &str,
        step: u64,
        recovery_digests: &[String],
    ) -> Result<bool, StoreError> {
        let step = int(step);
        // The first statement decides (of concurrent activations one finds the enrolment
        // pending: Postgres re-reads the row another transaction changed, SQLite has one
        // writer); the codes are replaced in the same transaction.
        let done: Result<bool, sqlx::Error> = retrying!(with_tx!(&self.pool, |tx| async {
            let activated = sqlx::query(
                "UPDATE auth_totp SET active = 1, last_step = $2 \
                 WHERE user_id = $1 AND active = 0",
            )
            .bind(user_id)
            .bind(step)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if activated == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM auth_recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            for digest in recovery_digests {
                sqlx::query(
                    "INSERT INTO auth_recovery_codes (user_id, digest) VALUES ($1, $2) \
                     ON CONFLICT (user_id, digest) DO NOTHING",
                )
                .bind(user_id)
                .bind(digest)
                .execute(&mut *tx)
                .await?;
            }
            Ok::<_, sqlx::Error>(true)
        }
        .await));
        done.map_err(fault("activate_totp"))
    }

    async fn use_totp_step(&self, user_id: &str, step: u64) -> Result<bool, StoreError> {
        let changed = with_pool!(&self.pool, |p| sqlx::query(
            "UPDATE auth_totp SET last_step = $2 \
             WHERE user_id = $1 AND active = 1 AND last_step < $2",
        )
        .bind(user_id)
        .bind(int(step))
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(fault("use_totp_step"))?;
        Ok(changed > 0)
    }

    async fn spend_recovery_code(&self, user_id: &str, digest: &str) -> Result<bool, StoreError> {
        let gone = with_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM auth_recovery_codes WHERE user_id = $1 AND digest = $2"
        )
        .bind(user_id)
        .bind(digest)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(fault("spend_recovery_code"))?;
        Ok(gone > 0)
    }

    async fn recovery_codes_left(&self, user_id: &str) -> Result<usize, StoreError> {
        let left: i64 = with_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM auth_recovery_codes WHERE user_id = $1"
        )
        .bind(user_id)
        .fetch_one(p)
        .await)
        .map_err(fault("recovery_codes_left"))?;
        Ok(usize::try_from(left).unwrap_or(0))
    }

    async fn remove_totp(&self, user_id: &str) -> Result<bool, StoreError> {
        let done: Result<u64, sqlx::Error> = retrying!(with_tx!(&self.pool, |tx| async {
            sqlx::query("DELETE FROM auth_recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let gone = sqlx::query("DELETE FROM auth_totp WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            Ok::<_, sqlx::Error>(gone)
        }
        .await));
        Ok(done.map_err(fault("remove_totp"))? > 0)
    }

    async fn start_challenge(
        &self,
        key: &str,
        user_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO auth_mfa_challenges (ckey, user_id, failures, expires_at) \
             VALUES ($1, $2, 0, $3) \
             ON CONFLICT (ckey) DO UPDATE SET user_id = excluded.user_id, failures = 0, \
             expires_at = excluded.expires_at",
        )
        .bind(key)
        .bind(user_id)
        .bind(int(expires_at))
        .execute(p)
        .await
        .map(|_| ()))
        .map_err(fault("start_challenge"))
    }

    async fn challenge_user(&self, key: &str) -> Result<Option<String>, StoreError> {
        let now = self.now();
        with_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT user_id FROM auth_mfa_challenges WHERE ckey = $1 AND expires_at > $2"
        )
        .bind(key)
        .bind(now)
        .fetch_optional(p)
        .await)
        .map_err(fault("challenge_user"))
    }

    async fn fail_challenge(&self, key: &str, max_failures: u32) -> Result<bool, StoreError> {
        let now = self.now();
        let max = i64::from(max_failures);
        // The `UPDATE` counts the failure on a live challenge and locks its row until the
        // commit, so a concurrent finish or failure waits and then sees the outcome: a
        // challenge that reached `max_failures` is gone in the same transaction.
        let done: Result<bool, sqlx::Error> = retrying!(with_tx!(&self.pool, |tx| async {
            let failures: Option<i64> = sqlx::query_scalar(
                "UPDATE auth_mfa_challenges SET failures = failures + 1 \
                 WHERE ckey = $1 AND expires_at > $2 RETURNING failures",
            )
            .bind(key)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            match failures {
                None => Ok(false),
                Some(f) if f >= max => {
                    sqlx::query("DELETE FROM auth_mfa_challenges WHERE ckey = $1")
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                    Ok(false)
                }
                Some(_) => Ok::<_, sqlx::Error>(true),
            }
        }
        .await));
        done.map_err(fault("fail_challenge"))
    }

    async fn finish_challenge(&self, key: &str) -> Result<Option<String>, StoreError> {
        let now = self.now();
        // One `DELETE … RETURNING`: of concurrent finishes exactly one deletes the row.
        with_pool!(&self.pool, |p| sqlx::query_scalar(
            "DELETE FROM auth_mfa_challenges WHERE ckey = $1 AND expires_at > $2 \
             RETURNING user_id"
        )
        .bind(key)
        .bind(now)
        .fetch_optional(p)
        .await)
        .map_err(fault("finish_challenge"))
    }
}
