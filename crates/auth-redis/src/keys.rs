//! Key names: the namespace, the hash tags (`{u:USER}`, `{s:…}`, `{c:…}`, `{l:…}`,
//! `{m:…}`, `{p:…}`, `{w:…}`) and the encoding of user-supplied key parts, so input can neither break a
//! key's structure nor pick another hash tag.

use auth_core::StoreError;
use auth_core::store::TokenRef;

use crate::RedisStore;

/// A key component: kept as is when plainly safe, hex-encoded otherwise, so user input can
/// neither break the key structure nor pick another hash tag.
pub(crate) fn part(s: &str) -> String {
    let plain = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if plain {
        s.to_string()
    } else {
        let mut out = String::with_capacity(1 + 2 * s.len());
        out.push('~');
        for b in s.bytes() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

/// The inverse of [`part`]: the original component, or `None` if `s` is not something
/// `part` produces.
pub(crate) fn unpart(s: &str) -> Option<String> {
    let Some(hex) = s.strip_prefix('~') else {
        return Some(s.to_string());
    };
    if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| char::from(b).to_digit(16);
            u8::try_from(digit(*pair.first()?)? * 16 + digit(*pair.get(1)?)?).ok()
        })
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

pub(crate) fn check_namespace(namespace: &str) -> Result<(), StoreError> {
    if namespace.is_empty()
        || !namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':'))
    {
        return Err(StoreError::new(
            "the Redis namespace must be non-empty letters, digits, `-`, `_` or `:`",
        ));
    }
    Ok(())
}

/// Seconds to milliseconds (Redis expiry times).
pub(crate) fn ms(secs: u64) -> u64 {
    secs.saturating_mul(1000)
}

impl RedisStore {
    pub(crate) fn user(&self, sub: &str, what: &str) -> String {
        format!("{}:{{u:{}}}:{what}", self.ns, part(sub))
    }

    pub(crate) fn jti_key(&self, t: &TokenRef<'_>) -> String {
        self.user(t.sub, &format!("jti:{}:{}", part(t.iss), part(t.jti)))
    }

    pub(crate) fn fam_key(&self, sub: &str, sid: &str) -> String {
        self.user(sub, &format!("fam:{}", part(sid)))
    }

    pub(crate) fn allow_key(&self, sub: &str, sid: &str) -> String {
        self.user(sub, &format!("allow:{}", part(sid)))
    }

    pub(crate) fn allow_field(t: &TokenRef<'_>) -> String {
        format!("{}:{}", part(t.iss), part(t.jti))
    }

    pub(crate) fn session_key(&self, key: &str) -> String {
        format!("{}:{{s:{}}}:sess", self.ns, part(key))
    }

    pub(crate) fn counter_key(&self, key: &str) -> String {
        format!("{}:{{c:{}}}:ctr", self.ns, part(key))
    }

    /// A user's TOTP enrolment (hash: `sealed`, `active`, `last_step`), in the user's slot.
    pub(crate) fn totp_key(&self, user_id: &str) -> String {
        self.user(user_id, "totp")
    }

    /// A user's recovery-code digests (set), in the user's slot beside the enrolment.
    pub(crate) fn recovery_key(&self, user_id: &str) -> String {
        self.user(user_id, "recovery")
    }

    /// An MFA challenge (hash: `user`, `failures`), in a slot of its own; `key` is a
    /// digest of the `mfa_token`, never the token.
    pub(crate) fn challenge_key(&self, key: &str) -> String {
        format!("{}:{{m:{}}}:mfa", self.ns, part(key))
    }

    /// A passkey (hash: `user`, `data`, `counter`, `created`), in the slot of its
    /// credential id.
    pub(crate) fn passkey_key(&self, credential_id: &str) -> String {
        format!("{}:{{p:{}}}:passkey", self.ns, part(credential_id))
    }

    /// A user's passkey ids (sorted set, scored in registration order), in the user's slot.
    pub(crate) fn passkeys_key(&self, user_id: &str) -> String {
        self.user(user_id, "passkeys")
    }

    /// The sequence that numbers a user's passkey registrations, beside the index.
    pub(crate) fn passkey_seq_key(&self, user_id: &str) -> String {
        self.user(user_id, "passkeys:seq")
    }

    /// A WebAuthn ceremony's state (string), in a slot of its own; `key` is a digest of
    /// the ceremony's handle, never the handle.
    pub(crate) fn ceremony_key(&self, key: &str) -> String {
        format!("{}:{{w:{}}}:ceremony", self.ns, part(key))
    }

    /// A linked identity: both parts encoded, so `:` in either cannot make two pairs
    /// share a key.
    pub(crate) fn link_key(&self, provider: &str, subject: &str) -> String {
        format!(
            "{}:{{l:{}:{}}}:link",
            self.ns,
            part(provider),
            part(subject)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{part, unpart};

    #[test]
    fn key_parts_cannot_break_the_key_or_pick_a_hash_tag() {
        assert_eq!(part("42"), "42");
        assert_eq!(part("alice@example.com"), "alice@example.com");
        assert_eq!(part("a}b{c"), "~617d627b63");
        assert_eq!(part(""), "~");
        assert!(part(&"x".repeat(65)).starts_with('~'));
        assert!(!part("x:y").contains(':'));
    }

    #[test]
    fn key_parts_decode_back_to_what_was_encoded() {
        for s in [
            "42",
            "",
            "a}b{c",
            "x:y",
            "https://iss.example/",
            "ü3",
            &"x".repeat(65),
        ] {
            assert_eq!(unpart(&part(s)).as_deref(), Some(s));
        }
        assert_eq!(unpart("~6"), None);
        assert_eq!(unpart("~+f"), None);
        assert_eq!(unpart("~ff"), None); // not UTF-8
    }
}
