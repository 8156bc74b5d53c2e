-- Users and API keys (auth-sqlx's SqlUsers and SqlApiKeys). A team with its own user
-- table implements auth_core::credential::UserStore over it instead (see the crate docs).

CREATE TABLE IF NOT EXISTS auth_users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT,
    -- The email folded to ASCII lower case: lookups and the one-account-per-email rule.
    email_folded TEXT UNIQUE,
    -- A JSON array of role names.
    roles TEXT NOT NULL,
    -- argon2id PHC string.
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);

-- API keys: only the SHA-256 digest of a key (hex), never the key.
CREATE TABLE IF NOT EXISTS auth_api_keys (
    digest TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    roles TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER,
    revoked INTEGER NOT NULL DEFAULT 0,
    display_prefix TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_api_keys_owner ON auth_api_keys (owner);
