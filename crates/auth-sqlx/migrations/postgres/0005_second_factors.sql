-- The second factor (auth_core::store::SecondFactors): TOTP enrolments with their last
-- accepted step, the digests of the recovery codes, and the short-lived challenges
-- between a right password and the second factor. Applied once by sqlx's migrator, after
-- 0004 (a database made by an older migration set upgrades in place).

-- One TOTP enrolment per user: the sealed secret (never the secret), pending (active = 0)
-- until confirmed with a code, then active (1); last_step is the last accepted step.
CREATE TABLE IF NOT EXISTS auth_totp (
    user_id TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 0,
    last_step BIGINT NOT NULL DEFAULT 0
);

-- Single-use recovery codes: only their SHA-256 digests (hex), never the codes.
CREATE TABLE IF NOT EXISTS auth_recovery_codes (
    user_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (user_id, digest)
);

-- MFA challenges, keyed by a digest of the mfa_token (never the token): the user, the
-- wrong codes so far, and the moment the challenge stops mattering (purged after it).
CREATE TABLE IF NOT EXISTS auth_mfa_challenges (
    ckey TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    failures BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_mfa_challenges_expires ON auth_mfa_challenges (expires_at);
