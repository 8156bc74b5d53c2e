//! [`Revocations`] and [`RefreshFamilies`] in memory: both under the one token-state
//! lock, so rotation, reuse detection and the per-request check see one state.

use async_trait::async_trait;

use super::{FamilyEntry, MemoryStore, TokenState, blocked_key, lock, with_blocked_key};
use crate::error::StoreError;
use crate::store::{
    Family, RefreshFamilies, Revocations, Rotation, TokenMeta, TokenRef, TokenStatus,
};

#[async_trait]
impl Revocations for MemoryStore {
    async fn check(&self, t: &TokenRef<'_>) -> Result<TokenStatus, StoreError> {
        Ok(self.blocklist_status(t))
    }

    fn check_now(&self, t: &TokenRef<'_>) -> Option<Result<TokenStatus, StoreError>> {
        Some(Ok(self.blocklist_status(t)))
    }

    async fn revoke_token(&self, t: &TokenRef<'_>) -> Result<(), StoreError> {
        let now = self.now();
        if let Some(tokens) = lock(&self.state).listed.get_mut(t.sid) {
            tokens.remove(&blocked_key(t.iss, t.jti));
        }
        if t.exp <= now {
            return Ok(()); // already refused by its expiry
        }
        let mut s = lock(&self.state);
        s.note_write(now, t.sub);
        s.blocked.insert(blocked_key(t.iss, t.jti), (), t.exp);
        Ok(())
    }

    async fn revoke_family(&self, sub: &str, sid: &str, until: u64) -> Result<(), StoreError> {
        let now = self.now();
        let mut s = lock(&self.state);
        s.note_write(now, sub);
        revoke_family_locked(&mut s, sub, sid, until, now);
        Ok(())
    }

    async fn revoke_user(&self, sub: &str, at: u64, until: u64) -> Result<(), StoreError> {
        let now = self.now();
        let mut s = lock(&self.state);
        s.note_write(now, sub);
        let cut = s.user_cutoff.get(sub, now).copied().unwrap_or(0).max(at);
        s.user_cutoff
            .insert(sub.to_string(), cut, until.max(now + 1));
        let sids: Vec<String> = s
            .by_user
            .get(sub)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default();
        for sid in sids {
            revoke_family_locked(&mut s, sub, &sid, until, now);
        }
        Ok(())
    }

    async fn list_token(&self, t: &TokenRef<'_>, meta: &TokenMeta) -> Result<(), StoreError> {
        let now = self.now();
        let mut s = lock(&self.state);
        s.note_write(now, t.sub);
        let tokens = s.listed.entry(t.sid.to_string()).or_default();
        tokens.retain(|_, (exp, _)| *exp > now);
        tokens.insert(blocked_key(t.iss, t.jti), (t.exp, meta.clone()));
        Ok(())
    }

    async fn check_listed(&self, t: &TokenRef<'_>) -> Result<TokenStatus, StoreError> {
        Ok(self.allowlist_status(t))
    }

    fn check_listed_now(&self, t: &TokenRef<'_>) -> Option<Result<TokenStatus, StoreError>> {
        Some(Ok(self.allowlist_status(t)))
    }
}

fn revoke_family_locked(s: &mut TokenState, sub: &str, sid: &str, until: u64, now: u64) {
    s.listed.remove(sid);
    match s.families.get_mut(sid, now) {
        Some((f, exp)) => {
            f.revoked = true;
            *exp = (*exp).max(until);
        }
        None => {
            // Unknown here (another instance's memory, or swept): remember the revocation.
            let entry = FamilyEntry {
                sub: sub.to_string(),
                current: String::new(),
                created: now,
                last_used: now,
                revoked: true,
            };
            s.families
                .insert(sid.to_string(), Box::new(entry), until.max(now + 1));
        }
    }
    if let Some(set) = s.by_user.get_mut(sub) {
        set.remove(sid);
    }
}

#[async_trait]
impl RefreshFamilies for MemoryStore {
    async fn start(&self, sub: &str, sid: &str, jti: &str, exp: u64) -> Result<(), StoreError> {
        let now = self.now();
        let mut s = lock(&self.state);
        s.note_write(now, sub);
        let entry = FamilyEntry {
            sub: sub.to_string(),
            current: jti.to_string(),
            created: now,
            last_used: now,
            revoked: false,
        };
        s.families.insert(sid.to_string(), Box::new(entry), exp);
        s.by_user
            .entry(sub.to_string())
            .or_default()
            .insert(sid.to_string());
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
        let now = self.now();
        let mut s = lock(&self.state);
        let Some((family, exp)) = s.families.get_mut(sid, now) else {
            return Ok(Rotation::Unknown);
        };
        if family.sub != sub {
            return Ok(Rotation::Unknown);
        }
        if family.revoked || family.current != jti {
            let until = *exp;
            s.note_write(now, sub);
            revoke_family_locked(&mut s, sub, sid, until, now);
            return Ok(Rotation::Reused);
        }
        family.current = next_jti.to_string();
        family.last_used = now;
        *exp = next_exp;
        Ok(Rotation::Rotated)
    }

    async fn families(&self, sub: &str) -> Result<Vec<Family>, StoreError> {
        let now = self.now();
        let s = lock(&self.state);
        let mut out: Vec<Family> = s
            .by_user
            .get(sub)
            .into_iter()
            .flatten()
            .filter_map(|sid| {
                let (f, exp) = s.families.map.get(sid)?;
                (*exp > now && !f.revoked).then(|| Family {
                    sid: sid.clone(),
                    sub: f.sub.clone(),
                    created: f.created,
                    last_used: f.last_used,
                    expires_at: *exp,
                })
            })
            .collect();
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.sid.cmp(&b.sid)));
        Ok(out)
    }
}

impl MemoryStore {
    /// The blocklist answer for `t`, now: its `jti`, its family or its user revoked.
    /// Allowlist mode's answer, for `check_listed` and `check_listed_now` alike.
    fn allowlist_status(&self, t: &TokenRef<'_>) -> TokenStatus {
        let now = self.now();
        let s = lock(&self.state);
        let (listed, blocked) = with_blocked_key(t.iss, t.jti, |key| {
            let listed = s
                .listed
                .get(t.sid)
                .and_then(|tokens| tokens.get(key))
                .is_some_and(|(exp, _)| *exp > now);
            (listed, s.blocked.get(key, now).is_some())
        });
        let revoked = !listed
            || blocked
            || s.families.get(t.sid, now).is_some_and(|f| f.revoked)
            || s.user_cutoff
                .get(t.sub, now)
                .is_some_and(|cut| t.iat < *cut);
        TokenStatus::revoked_if(revoked)
    }

    fn blocklist_status(&self, t: &TokenRef<'_>) -> TokenStatus {
        let now = self.now();
        let s = lock(&self.state);
        let revoked = with_blocked_key(t.iss, t.jti, |key| s.blocked.get(key, now).is_some())
            || s.families.get(t.sid, now).is_some_and(|f| f.revoked)
            || s.user_cutoff
                .get(t.sub, now)
                .is_some_and(|cut| t.iat < *cut);
        TokenStatus::revoked_if(revoked)
    }
}
