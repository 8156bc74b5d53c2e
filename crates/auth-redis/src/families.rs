//! [`RefreshFamilies`] on Redis: starting a family, rotation with reuse detection (one
//! atomic script) and listing a user's live families.

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::{Family, RefreshFamilies, Rotation};
use redis::AsyncCommands as _;

use crate::conn::err;
use crate::keys::ms;
use crate::{RedisStore, family_entry, replica};

#[async_trait]
impl RefreshFamilies for RedisStore {
    async fn start(&self, sub: &str, sid: &str, jti: &str, exp: u64) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        self.scripts
            .start
            .key(self.fam_key(sub, sid))
            .key(self.user(sub, "fams"))
            .arg(sid)
            .arg(jti)
            .arg(ms(exp))
            .arg(self.now())
            .invoke_async::<i64>(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| err("start", e))
    }

    async fn rotate(
        &self,
        sub: &str,
        sid: &str,
        jti: &str,
        next_jti: &str,
        next_exp: u64,
    ) -> Result<Rotation, StoreError> {
        let mut c = self.conn.clone();
        let mut inv = self.scripts.rotate.prepare_invoke();
        inv.key(self.fam_key(sub, sid))
            .key(self.user(sub, "fams"))
            .key(self.allow_key(sub, sid));
        if let Some(stream) = self.script_stream() {
            inv.key(stream);
        }
        let (r, expires_ms): (i64, i64) = inv
            .arg(sid)
            .arg(jti)
            .arg(next_jti)
            .arg(ms(next_exp))
            .arg(self.now())
            .arg(sub)
            .arg(replica::STREAM_MAXLEN)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("rotate", e))?;
        if r == 2 {
            let until = u64::try_from(expires_ms).unwrap_or(0);
            self.append(&[family_entry(sub, sid, until)]).await?;
        }
        Ok(match r {
            1 => Rotation::Rotated,
            2 | 3 => {
                // Read-your-writes; the stream entry brings the family's real expiry.
                if let Some(rep) = &self.replica {
                    rep.record("f", sub, (sid, ""), 0, u64::MAX);
                }
                Rotation::Reused
            }
            _ => Rotation::Unknown,
        })
    }

    async fn families(&self, sub: &str) -> Result<Vec<Family>, StoreError> {
        let mut c = self.conn.clone();
        let set = self.user(sub, "fams");
        let sids: Vec<String> = c.smembers(&set).await.map_err(|e| err("families", e))?;
        if sids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for sid in &sids {
            let k = self.fam_key(sub, sid);
            pipe.cmd("HMGET")
                .arg(&k)
                .arg("created")
                .arg("last_used")
                .arg("revoked");
            pipe.cmd("PEXPIRETIME").arg(&k);
        }
        let rows: Vec<redis::Value> = pipe
            .query_async(&mut c)
            .await
            .map_err(|e| err("families", e))?;
        let mut out = Vec::new();
        let mut stale = Vec::new();
        for (sid, pair) in sids.iter().zip(rows.chunks(2)) {
            let fields: Vec<Option<u64>> = pair
                .first()
                .and_then(|v| redis::from_redis_value(v.clone()).ok())
                .unwrap_or_default();
            let expires_ms: i64 = pair
                .get(1)
                .and_then(|v| redis::from_redis_value(v.clone()).ok())
                .unwrap_or(-2);
            match (
                fields.first().copied().flatten(),
                fields.get(2).copied().flatten(),
            ) {
                (Some(created), Some(0)) if expires_ms > 0 => out.push(Family {
                    sid: sid.clone(),
                    sub: sub.to_string(),
                    created,
                    last_used: fields.get(1).copied().flatten().unwrap_or(created),
                    expires_at: (expires_ms as u64) / 1000,
                }),
                (None, _) => stale.push(sid.clone()),
                _ => {}
            }
        }
        if !stale.is_empty() {
            // Families that expired: drop them from the index (best effort).
            let _: Result<i64, _> = c.srem(&set, stale).await;
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.sid.cmp(&b.sid)));
        Ok(out)
    }
}
