//! [`Revocations`] on Redis: the per-request check (direct, or from the replica), blocked
//! tokens, revoked families and users' cut-offs, and the allowlist.

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::{Revocations, TokenMeta, TokenRef, TokenStatus};
use redis::AsyncCommands as _;

use crate::conn::err;
use crate::keys::ms;
use crate::{RedisStore, family_entry, replica};

#[async_trait]
impl Revocations for RedisStore {
    fn check_now(&self, t: &TokenRef<'_>) -> Option<Result<TokenStatus, StoreError>> {
        let revoked = self.replica.as_ref()?.check(t)?;
        Some(Ok(TokenStatus::revoked_if(revoked)))
    }

    async fn check(&self, t: &TokenRef<'_>) -> Result<TokenStatus, StoreError> {
        if let Some(status) = self.check_now(t) {
            return status;
        }
        let mut c = self.conn.clone();
        let revoked: i64 = self
            .scripts
            .check
            .key(self.jti_key(t))
            .key(self.fam_key(t.sub, t.sid))
            .key(self.user(t.sub, "cut"))
            .arg(t.iat)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("check", e))?;
        Ok(TokenStatus::revoked_if(revoked == 1))
    }

    async fn revoke_token(&self, t: &TokenRef<'_>) -> Result<(), StoreError> {
        if t.exp <= self.now() {
            return Ok(());
        }
        let mut c = self.conn.clone();
        // Both keys carry the user's hash tag: one atomic MULTI on one slot (with the
        // stream append on one server; after it on a cluster).
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(self.jti_key(t))
            .arg(1)
            .arg("PXAT")
            .arg(ms(t.exp))
            .ignore()
            .cmd("HDEL")
            .arg(self.allow_key(t.sub, t.sid))
            .arg(Self::allow_field(t))
            .ignore();
        let entry: Vec<String> = ["k", "t", "s", t.sub, "i", t.iss, "j", t.jti, "e"]
            .iter()
            .map(|f| f.to_string())
            .chain([ms(t.exp).to_string()])
            .collect();
        if let Some(stream) = self.script_stream() {
            pipe.cmd("XADD")
                .arg(stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(replica::STREAM_MAXLEN)
                .arg("*")
                .arg(&entry)
                .ignore();
        }
        pipe.query_async::<()>(&mut c)
            .await
            .map_err(|e| err("revoke_token", e))?;
        self.append(&[entry]).await?;
        if let Some(r) = &self.replica {
            r.record("t", t.sub, (t.iss, t.jti), 0, ms(t.exp));
        }
        Ok(())
    }

    async fn revoke_family(&self, sub: &str, sid: &str, until: u64) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let until_ms = ms(until.max(self.now() + 1));
        let mut inv = self.scripts.revoke_family.prepare_invoke();
        inv.key(self.fam_key(sub, sid))
            .key(self.user(sub, "fams"))
            .key(self.allow_key(sub, sid));
        if let Some(stream) = self.script_stream() {
            inv.key(stream);
        }
        inv.arg(sid)
            .arg(until_ms)
            .arg(sub)
            .arg(replica::STREAM_MAXLEN)
            .invoke_async::<i64>(&mut c)
            .await
            .map_err(|e| err("revoke_family", e))?;
        self.append(&[family_entry(sub, sid, until_ms)]).await?;
        if let Some(r) = &self.replica {
            r.record("f", sub, (sid, ""), 0, ms(until.max(self.now() + 1)));
        }
        Ok(())
    }

    async fn revoke_user(&self, sub: &str, at: u64, until: u64) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let until = ms(until.max(self.now() + 1));
        for _ in 0..5 {
            let sids: Vec<String> = c
                .smembers(self.user(sub, "fams"))
                .await
                .map_err(|e| err("revoke_user", e))?;
            let mut inv = self.scripts.revoke_user.prepare_invoke();
            inv.key(self.user(sub, "cut")).key(self.user(sub, "fams"));
            for sid in &sids {
                inv.key(self.fam_key(sub, sid))
                    .key(self.allow_key(sub, sid));
            }
            if let Some(stream) = self.script_stream() {
                inv.key(stream);
            }
            inv.arg(at)
                .arg(until)
                .arg(sids.len())
                .arg(sub)
                .arg(replica::STREAM_MAXLEN);
            for sid in &sids {
                inv.arg(sid);
            }
            let done: i64 = inv
                .invoke_async(&mut c)
                .await
                .map_err(|e| err("revoke_user", e))?;
            if done >= 0 {
                let mut entries = vec![
                    ["k", "u", "s", sub, "a"]
                        .iter()
                        .map(|f| f.to_string())
                        .chain([done.to_string(), "e".into(), until.to_string()])
                        .collect(),
                ];
                entries.extend(sids.iter().map(|sid| family_entry(sub, sid, until)));
                self.append(&entries).await?;
                if let Some(r) = &self.replica {
                    r.record("u", sub, ("", ""), at, until);
                    for sid in &sids {
                        r.record("f", sub, (sid, ""), 0, until);
                    }
                }
                return Ok(());
            }
        }
        Err(StoreError::new(
            "redis revoke_user: the user's families kept changing; try again",
        ))
    }

    async fn list_token(&self, t: &TokenRef<'_>, meta: &TokenMeta) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let meta = serde_json::to_string(meta)
            .map_err(|e| StoreError::new(format!("token meta encoding: {e}")))?;
        self.scripts
            .list
            .key(self.allow_key(t.sub, t.sid))
            .arg(Self::allow_field(t))
            .arg(format!("{}|{meta}", t.exp))
            .arg(ms(t.exp))
            .arg(self.now())
            .invoke_async::<i64>(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| err("list_token", e))
    }

    async fn check_listed(&self, t: &TokenRef<'_>) -> Result<TokenStatus, StoreError> {
        let mut c = self.conn.clone();
        let revoked: i64 = self
            .scripts
            .check_listed
            .key(self.allow_key(t.sub, t.sid))
            .key(self.jti_key(t))
            .key(self.fam_key(t.sub, t.sid))
            .key(self.user(t.sub, "cut"))
            .arg(Self::allow_field(t))
            .arg(t.iat)
            .arg(self.now())
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("check_listed", e))?;
        Ok(TokenStatus::revoked_if(revoked == 1))
    }
}
