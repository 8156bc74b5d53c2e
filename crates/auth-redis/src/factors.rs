//! [`SecondFactors`] on Redis: a user's TOTP enrolment and recovery-code digests in the
//! user's slot (`{u:USER}`), so activation (enrolment and codes at once) is one script on
//! a cluster as on one server; each MFA challenge in its own slot (`{m:KEY}`), gone at its
//! expiry by Redis's own TTL. Every check-and-change is one script or one command.

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::{SecondFactors, TotpEnrolment};
use redis::AsyncCommands as _;

use crate::RedisStore;
use crate::conn::err;
use crate::keys::ms;

#[async_trait]
impl SecondFactors for RedisStore {
    async fn begin_totp(&self, user_id: &str, sealed: &str) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let r: i64 = self
            .scripts
            .begin_totp
            .key(self.totp_key(user_id))
            .arg(sealed)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("begin_totp", e))?;
        Ok(r == 1)
    }

    async fn totp(&self, user_id: &str) -> Result<Option<TotpEnrolment>, StoreError> {
        let mut c = self.conn.clone();
        let (sealed, active, last_step): (Option<String>, Option<String>, Option<String>) =
            redis::cmd("HMGET")
                .arg(self.totp_key(user_id))
                .arg("sealed")
                .arg("active")
                .arg("last_step")
                .query_async(&mut c)
                .await
                .map_err(|e| err("totp", e))?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        // Never the field values in the error: `sealed` is secret material.
        let active = match active.as_deref() {
            Some("1") => true,
            Some("0") => false,
            _ => return Err(StoreError::new("corrupt TOTP enrolment: active")),
        };
        let last_step = last_step
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| StoreError::new("corrupt TOTP enrolment: last_step"))?;
        Ok(Some(TotpEnrolment {
            sealed,
            active,
            last_step,
        }))
    }

    async fn activate_totp(
        &self,
        user_id: &str,
        step: u64,
        recovery_digests: &[String],
    ) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let r: i64 = self
            .scripts
            .activate_totp
            .key(self.totp_key(user_id))
            .key(self.recovery_key(user_id))
            .arg(step)
            .arg(recovery_digests)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("activate_totp", e))?;
        Ok(r == 1)
    }

    async fn use_totp_step(&self, user_id: &str, step: u64) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let r: i64 = self
            .scripts
            .use_totp_step
            .key(self.totp_key(user_id))
            .arg(step)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("use_totp_step", e))?;
        Ok(r == 1)
    }

    async fn spend_recovery_code(&self, user_id: &str, digest: &str) -> Result<bool, StoreError> {
        // `SREM` answers 1 to exactly one of concurrent spends of one code.
        let mut c = self.conn.clone();
        let removed: i64 = c
            .srem(self.recovery_key(user_id), digest)
            .await
            .map_err(|e| err("spend_recovery_code", e))?;
        Ok(removed == 1)
    }

    async fn recovery_codes_left(&self, user_id: &str) -> Result<usize, StoreError> {
        let mut c = self.conn.clone();
        let n: u64 = c
            .scard(self.recovery_key(user_id))
            .await
            .map_err(|e| err("recovery_codes_left", e))?;
        usize::try_from(n).map_err(|_| StoreError::new("recovery_codes_left: count out of range"))
    }

    async fn remove_totp(&self, user_id: &str) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let r: i64 = self
            .scripts
            .remove_totp
            .key(self.totp_key(user_id))
            .key(self.recovery_key(user_id))
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("remove_totp", e))?;
        Ok(r == 1)
    }

    async fn start_challenge(
        &self,
        key: &str,
        user_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        // Expiry is Redis's own TTL, as for sessions: live until `expires_at`.
        let mut c = self.conn.clone();
        self.scripts
            .start_challenge
            .key(self.challenge_key(key))
            .arg(user_id)
            .arg(ms(expires_at))
            .invoke_async::<i64>(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| err("start_challenge", e))
    }

    async fn challenge_user(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.conn.clone();
        c.hget(self.challenge_key(key), "user")
            .await
            .map_err(|e| err("challenge_user", e))
    }

    async fn fail_challenge(&self, key: &str, max_failures: u32) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let r: i64 = self
            .scripts
            .fail_challenge
            .key(self.challenge_key(key))
            .arg(max_failures)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("fail_challenge", e))?;
        Ok(r == 1)
    }

    async fn finish_challenge(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.conn.clone();
        self.scripts
            .finish_challenge
            .key(self.challenge_key(key))
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("finish_challenge", e))
    }
}
