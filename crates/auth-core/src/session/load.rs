//! Loading the request's session: the awaited load (both timeouts checked, the idle
//! expiry slid, at most one write per `touch_interval`) and its in-place twin.

use super::{Session, SessionManager};
use crate::error::AuthError;
use crate::request::Request;
use crate::store::SessionRecord;

impl SessionManager {
    /// The request's live session, if any: checks both timeouts and slides the idle
    /// expiry (writing at most once per `touch_interval`).
    pub async fn load(&self, request: &impl Request) -> Result<Option<Session>, AuthError> {
        let Some((id, key, known)) = self.presented_key(request) else {
            return Ok(None);
        };
        // Held in this process (the memory store): no boxed store future per request.
        let loaded = crate::telemetry::store_call("load_session", async {
            match self.store.load_session_now(&key) {
                Some(loaded) => loaded,
                None => self.store.load_session(&key).await,
            }
        })
        .await?;
        let Some(mut record) = loaded else {
            return Ok(None);
        };
        if !known {
            self.remember_key(id, &key);
        }
        let now = self.clock.unix_seconds();
        match self.due(&record, now) {
            Due::Nothing => {}
            Due::Removal => {
                self.store.remove_session(&key).await?;
                return Ok(None);
            }
            Due::Touch { expires_at } => {
                // The user as the store knows them now (fail closed if it cannot be asked).
                let roles_now = match &self.users {
                    None => None,
                    Some(users) => match users.find_by_id(&record.user_id).await? {
                        Some(user) if !user.disabled => Some(user.roles),
                        _ => {
                            self.store.remove_session(&key).await?;
                            return Ok(None);
                        }
                    },
                };
                record.last_seen = now;
                record.expires_at = expires_at;
                match roles_now {
                    Some(roles) if *roles != *record.roles => {
                        record.roles = roles.into();
                        self.store.insert_session(&key, &record).await?;
                    }
                    _ => {
                        if !self.store.touch_session(&key, now, expires_at).await? {
                            return Ok(None);
                        }
                    }
                }
            }
        }
        Ok(Some(Session { key, record }))
    }

    /// [`SessionManager::load`] answered in place, when the store holds the session in
    /// this process ([`Sessions::load_session_now`](crate::store::Sessions::load_session_now))
    /// and it needs no write (neither expired nor due for its idle-expiry slide); `None`
    /// otherwise: then await [`SessionManager::load`], which does the same and the write.
    pub fn load_now(&self, request: &impl Request) -> Option<Result<Option<Session>, AuthError>> {
        let Some((id, key, known)) = self.presented_key(request) else {
            return Some(Ok(None));
        };
        let record = match self.store.load_session_now(&key)? {
            Ok(Some(record)) => record,
            Ok(None) => return Some(Ok(None)),
            Err(e) => return Some(Err(e.into())),
        };
        if self.due(&record, self.clock.unix_seconds()) != Due::Nothing {
            return None;
        }
        if !known {
            self.remember_key(id, &key);
        }
        Some(Ok(Some(Session { key, record })))
    }

    /// What a loaded session needs at `now`: nothing, removal (either timeout passed), or
    /// the idle-expiry slide (once per `touch_interval`).
    fn due(&self, record: &SessionRecord, now: u64) -> Due {
        let absolute = record.created + self.config.absolute_timeout.as_secs();
        let idle_end = record.last_seen + self.config.idle_timeout.as_secs();
        if now >= absolute || now >= idle_end {
            Due::Removal
        } else if now.saturating_sub(record.last_seen) >= self.config.touch_interval.as_secs() {
            Due::Touch {
                expires_at: absolute.min(now + self.config.idle_timeout.as_secs()),
            }
        } else {
            Due::Nothing
        }
    }

    /// As [`SessionManager::load`], but a missing session is [`AuthError::NotAuthenticated`].
    pub async fn require(&self, request: &impl Request) -> Result<Session, AuthError> {
        self.load(request).await?.ok_or(AuthError::NotAuthenticated)
    }
}

/// What a loaded session needs now (`SessionManager::due`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    Nothing,
    Removal,
    Touch { expires_at: u64 },
}
