-- Passkeys (auth_core::store::Passkeys): each registered credential with its sign
-- counter, and the state of a WebAuthn ceremony between its start and its finish; and
-- the session's authentication methods (amr). Applied once by sqlx's migrator, after
-- 0005 (a database made by an older migration set upgrades in place).

-- Registered passkeys, by credential id (unique across all users): the credential as the
-- WebAuthn library serialises it (public data only), its last sign counter, when it was
-- registered, and seq (the user's registration order, after created).
CREATE TABLE IF NOT EXISTS auth_passkeys (
    credential_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    data TEXT NOT NULL,
    counter BIGINT NOT NULL,
    created BIGINT NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS auth_passkeys_user ON auth_passkeys (user_id);

-- Ceremony states, keyed by a digest of the ceremony's handle (never the handle), taken
-- once; purged after expires_at.
CREATE TABLE IF NOT EXISTS auth_passkey_ceremonies (
    ckey TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_passkey_ceremonies_expires ON auth_passkey_ceremonies (expires_at);

-- How the session's user authenticated (RFC 8176 values), a JSON array as roles is.
ALTER TABLE auth_sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '[]';
