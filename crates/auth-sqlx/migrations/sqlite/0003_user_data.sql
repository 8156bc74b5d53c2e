-- The team's own data about a user (auth_core::credential::User::data), as JSON text;
-- NULL when none. Applied once by sqlx's migrator, after 0002 (a database made by an
-- older migration set upgrades in place).
ALTER TABLE auth_users ADD COLUMN data TEXT;
