//! [`Revocations`] on SQL: the per-request checks (one statement each, or the replica's
//! answer), blocked tokens, revoked families and users' cut-offs (each write notifying the
//! replicas in its transaction), and the allowlist.

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::{Revocations, TokenMeta, TokenRef, TokenStatus};

use crate::replica::{cutoff_payload, family_payload, notify, pair_key, token_payload};
use crate::{SqlStore, fault, int, with_pool, with_tx};

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
        Ok(TokenStatus::revoked_if(revoked != 0))
    }
}

#[async_trait]
impl Revocations for SqlStore {
    fn check_now(&self, t: &TokenRef<'_>) -> Option<Result<TokenStatus, StoreError>> {
        let revoked = self.replica.as_ref()?.check(t, self.now())?;
        Some(Ok(TokenStatus::revoked_if(revoked)))
    }

    async fn check(&self, t: &TokenRef<'_>) -> Result<TokenStatus, StoreError> {
        if let Some(status) = self.check_now(t) {
            return status;
        }
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
                let until: i64 = sqlx::query_scalar(
                    "INSERT INTO auth_blocked (iss, jti, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (iss, jti) DO UPDATE SET expires_at = CASE \
                     WHEN auth_blocked.expires_at > excluded.expires_at \
                     THEN auth_blocked.expires_at ELSE excluded.expires_at END \
                     RETURNING expires_at",
                )
                .bind(t.iss)
                .bind(t.jti)
                .bind(exp)
                .fetch_one(&mut *tx)
                .await?;
                notify(&mut *tx, vec![token_payload(t.iss, t.jti, until)]).await?;
            }
            Ok::<_, sqlx::Error>(())
        }
        .await));
        done.map_err(fault("revoke_token"))?;
        if let Some(r) = &self.replica
            && exp > now
        {
            r.record(now, |s, _| s.token(pair_key(t.iss, t.jti), exp));
        }
        Ok(())
    }

    async fn revoke_family(&self, sub: &str, sid: &str, until: u64) -> Result<(), StoreError> {
        let now = self.now();
        let until = int(until);
        // A new row expires at `until` but never before `now + 1`; a live one keeps the
        // later of its expiry and `until`.
        let fresh = if until > now { until } else { now + 1 };
        let done: Result<i64, sqlx::Error> = retrying!(with_tx!(&self.pool, |tx| async {
            sqlx::query("DELETE FROM auth_listed WHERE sid = $1")
                .bind(sid)
                .execute(&mut *tx)
                .await?;
            let kept: i64 = sqlx::query_scalar(REVOKE_FAMILY)
                .bind(sid)
                .bind(sub)
                .bind(now)
                .bind(fresh)
                .bind(until)
                .fetch_one(&mut *tx)
                .await?;
            notify(&mut *tx, vec![family_payload(sid, kept)]).await?;
            Ok::<_, sqlx::Error>(kept)
        }
        .await));
        let kept = done.map_err(fault("revoke_family"))?;
        if let Some(r) = &self.replica {
            r.record(now, |s, _| s.family(sid.to_string(), kept));
        }
        Ok(())
    }

    async fn revoke_user(&self, sub: &str, at: u64, until: u64) -> Result<(), StoreError> {
        let now = self.now();
        let (at, until) = (int(at), int(until));
        let keep = if until > now { until } else { now + 1 };
        type Written = ((i64, i64), Vec<(String, i64)>);
        let done: Result<Written, sqlx::Error> = retrying!(with_tx!(&self.pool, |tx| async {
            let cut: (i64, i64) = sqlx::query_as(
                "INSERT INTO auth_user_cutoffs (sub, cutoff, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (sub) DO UPDATE SET \
                 cutoff = CASE WHEN auth_user_cutoffs.expires_at > $4 \
                     AND auth_user_cutoffs.cutoff > excluded.cutoff \
                     THEN auth_user_cutoffs.cutoff ELSE excluded.cutoff END, \
                 expires_at = excluded.expires_at \
                 RETURNING cutoff, expires_at",
            )
            .bind(sub)
            .bind(at)
            .bind(keep)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM auth_listed WHERE sid IN (SELECT sid FROM auth_families \
                 WHERE sub = $1 AND revoked = 0 AND expires_at > $2)",
            )
            .bind(sub)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let families: Vec<(String, i64)> = sqlx::query_as(
                "UPDATE auth_families SET revoked = 1, expires_at = CASE \
                 WHEN expires_at > $2 THEN expires_at ELSE $2 END \
                 WHERE sub = $1 AND revoked = 0 AND expires_at > $3 \
                 RETURNING sid, expires_at",
            )
            .bind(sub)
            .bind(until)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            let mut payloads = vec![cutoff_payload(sub, cut.0, cut.1)];
            payloads.extend(families.iter().map(|(sid, e)| family_payload(sid, *e)));
            notify(&mut *tx, payloads).await?;
            Ok::<_, sqlx::Error>((cut, families))
        }
        .await));
        let ((cut, kept), families) = done.map_err(fault("revoke_user"))?;
        if let Some(r) = &self.replica {
            r.record(now, |s, now| {
                s.user(sub.to_string(), cut, kept, now);
                for (sid, e) in families {
                    s.family(sid, e);
                }
            });
        }
        Ok(())
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
/// database never saw is refused everywhere. Returns the expiry it keeps (the replicas'
/// notification carries it).
const REVOKE_FAMILY: &str = "INSERT INTO auth_families \
     (sid, sub, current_jti, created, last_used, revoked, expires_at) \
     VALUES ($1, $2, '', $3, $3, 1, $4) \
     ON CONFLICT (sid) DO UPDATE SET revoked = 1, \
     sub = CASE WHEN auth_families.expires_at > $3 THEN auth_families.sub ELSE excluded.sub END, \
     current_jti = CASE WHEN auth_families.expires_at > $3 THEN auth_families.current_jti ELSE '' END, \
     created = CASE WHEN auth_families.expires_at > $3 THEN auth_families.created ELSE $3 END, \
     last_used = CASE WHEN auth_families.expires_at > $3 THEN auth_families.last_used ELSE $3 END, \
     expires_at = CASE WHEN auth_families.expires_at > $3 AND auth_families.expires_at > $5 \
         THEN auth_families.expires_at ELSE $5 END \
     RETURNING expires_at";
