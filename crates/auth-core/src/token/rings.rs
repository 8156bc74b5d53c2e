//! The prepared key rings a running [`TokenService`] signs and verifies with, and their
//! rotation: one owner of the keys, swapped whole.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Header;

use super::{ACCESS_TYP, Key, KeyRing, REFRESH_TYP, TokenService};
use crate::error::ConfigError;

/// A key of a ring, with the moment it stops verifying.
pub(super) struct PreparedKey {
    pub(super) key: Key,
    /// After a rotation, the previous keys verify until this moment (Unix seconds): the
    /// last one at which a token they signed can still be valid. `None`: no end.
    pub(super) retire_at: Option<u64>,
}

/// One kind of token's keys (signing key first), its header and its `typ`.
pub(super) struct Ring {
    pub(super) keys: Vec<PreparedKey>,
    pub(super) header: Header,
    pub(super) typ: &'static str,
}

impl Ring {
    /// The live key `kid` at `now` (a retired key is as unknown as one never seen).
    pub(super) fn find(&self, kid: &str, now: u64) -> Option<&PreparedKey> {
        self.keys
            .iter()
            .find(|k| k.key.kid == kid && k.retire_at.is_none_or(|t| now < t))
    }

    /// The ring's keys that still verify at `now`, signing key first.
    pub(super) fn live(&self, now: u64) -> impl Iterator<Item = &PreparedKey> {
        self.keys
            .iter()
            .filter(move |k| k.retire_at.is_none_or(|t| now < t))
    }
}

/// The two rings, swapped as one value: a rotation is seen whole or not at all.
pub(super) struct Rings {
    pub(super) access: Ring,
    pub(super) refresh: Ring,
}

impl TokenService {
    /// Rotates the keys of a running service, as one step: `access` and `refresh` sign
    /// from now on; the keys that signed until now keep verifying until every token they
    /// signed has expired (its lifetime plus the leeway), then stop by themselves. Nobody
    /// is logged out. Every clone of this service (the [`Auth`](crate::Auth) handle, its
    /// token endpoint, the adapters' extractors) sees the new keys at once.
    ///
    /// Refuses (and changes nothing) a key that cannot sign, a `kid` already in its ring,
    /// and key material shared between access and refresh tokens.
    pub fn rotate(&self, access: Key, refresh: Key) -> Result<(), ConfigError> {
        let _one_at_a_time = self
            .inner
            .rotating
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = self.inner.clock.unix_seconds();
        let config = &self.inner.config;
        let leeway = config.leeway.as_secs();
        let current = self.inner.rings.load();
        let rotated = |ring: &Ring, new: Key, ttl: Duration| {
            // The previous signing key signed tokens until now; older keys keep the end
            // they already had.
            let retire = now.saturating_add(ttl.as_secs()).saturating_add(leeway);
            let mut keys = KeyRing::new(new);
            let mut ends = vec![None];
            for k in ring.live(now) {
                keys = keys.with_key(k.key.clone())?;
                ends.push(Some(k.retire_at.map_or(retire, |t| t.min(retire))));
            }
            Ok::<_, ConfigError>((keys, ends))
        };
        let (access, access_ends) = rotated(&current.access, access, config.access_ttl)?;
        let (refresh, refresh_ends) = rotated(&current.refresh, refresh, config.refresh_ttl)?;
        check_rings(&access, &refresh)?;
        self.inner.rings.store(Arc::new(Rings {
            access: prepare(access, &access_ends, ACCESS_TYP),
            refresh: prepare(refresh, &refresh_ends, REFRESH_TYP),
        }));
        tracing::info!(
            access_kid = %self.inner.rings.load().access.header.kid.as_deref().unwrap_or(""),
            "token keys rotated; the previous keys verify until their tokens expire"
        );
        Ok(())
    }

    /// Replaces both rings at once, with no grace period for keys left out: tokens signed
    /// by them are refused from now on (a compromised key). The verified-token cache is
    /// emptied, so no token of a removed key is served from it.
    pub fn replace_keys(&self, access: KeyRing, refresh: KeyRing) -> Result<(), ConfigError> {
        let _one_at_a_time = self
            .inner
            .rotating
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        check_rings(&access, &refresh)?;
        self.inner.rings.store(Arc::new(Rings {
            access: prepare(access, &[], ACCESS_TYP),
            refresh: prepare(refresh, &[], REFRESH_TYP),
        }));
        if let Some(cache) = &self.inner.cache {
            cache.clear();
        }
        Ok(())
    }

    /// The `kid`s that verify access tokens now, signing key first.
    pub fn access_kids(&self) -> Vec<String> {
        let now = self.inner.clock.unix_seconds();
        self.inner
            .rings
            .load()
            .access
            .live(now)
            .map(|k| k.key.kid.clone())
            .collect()
    }
}

/// The rules both rings must meet together: a signing key that can sign, and no key
/// material shared between access and refresh tokens.
pub(super) fn check_rings(access: &KeyRing, refresh: &KeyRing) -> Result<(), ConfigError> {
    for ring in [access, refresh] {
        if !ring.signing().can_sign() {
            return Err(ConfigError::NoSigningKey(ring.signing_kid().to_string()));
        }
    }
    if access.shares_material_with(refresh) {
        return Err(ConfigError::SameKeyForAccessAndRefresh);
    }
    Ok(())
}

/// A ring ready for use; `retire_at[i]` is when key `i` stops verifying (missing: never).
pub(super) fn prepare(ring: KeyRing, retire_at: &[Option<u64>], typ: &'static str) -> Ring {
    let signing = ring.signing();
    let mut header = Header::new(signing.alg.to_jwt());
    header.typ = Some(typ.to_string());
    header.kid = Some(signing.kid.clone());
    let keys = ring
        .keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| PreparedKey {
            key,
            retire_at: retire_at.get(i).copied().flatten(),
        })
        .collect();
    Ring { keys, header, typ }
}
