-- Server-side state of auth-core (auth-sqlx): revocations, refresh families, cookie
-- sessions, throttle counters. Times are Unix seconds; every row carries the moment
-- it stops mattering (expires_at) and the purge task deletes it after that.

-- Blocked tokens, by identity (issuer + jti), never by their bytes.
CREATE TABLE IF NOT EXISTS auth_blocked (
    iss TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (iss, jti)
);
CREATE INDEX IF NOT EXISTS auth_blocked_expires ON auth_blocked (expires_at);

-- Refresh-token families (one per login): the current refresh jti, revoked flag.
CREATE TABLE IF NOT EXISTS auth_families (
    sid TEXT PRIMARY KEY,
    sub TEXT NOT NULL,
    current_jti TEXT NOT NULL,
    created BIGINT NOT NULL,
    last_used BIGINT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_families_sub ON auth_families (sub);
CREATE INDEX IF NOT EXISTS auth_families_expires ON auth_families (expires_at);

-- "Log out everywhere": tokens of the user issued before cutoff are refused.
CREATE TABLE IF NOT EXISTS auth_user_cutoffs (
    sub TEXT PRIMARY KEY,
    cutoff BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_user_cutoffs_expires ON auth_user_cutoffs (expires_at);

-- Allowlist mode: every issued token, until its exp.
CREATE TABLE IF NOT EXISTS auth_listed (
    iss TEXT NOT NULL,
    jti TEXT NOT NULL,
    sid TEXT NOT NULL,
    sub TEXT NOT NULL,
    issued BIGINT NOT NULL,
    client TEXT,
    user_agent TEXT,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (iss, jti)
);
CREATE INDEX IF NOT EXISTS auth_listed_sid ON auth_listed (sid);
CREATE INDEX IF NOT EXISTS auth_listed_expires ON auth_listed (expires_at);

-- Cookie sessions, keyed by a digest of the session id (never the id itself).
CREATE TABLE IF NOT EXISTS auth_sessions (
    skey TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    roles TEXT NOT NULL,
    created BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    csrf_token TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_sessions_user ON auth_sessions (user_id);
CREATE INDEX IF NOT EXISTS auth_sessions_expires ON auth_sessions (expires_at);

-- Login-throttle counters (fixed windows).
CREATE TABLE IF NOT EXISTS auth_counters (
    ckey TEXT PRIMARY KEY,
    hits BIGINT NOT NULL,
    last_hit BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_counters_expires ON auth_counters (expires_at);
