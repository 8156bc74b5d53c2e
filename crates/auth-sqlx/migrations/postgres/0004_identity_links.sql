-- Third-party identities linked to local users (auth_core::store::IdentityLinks): a
-- provider's subject, once linked, signs in as that user from then on. A link is never
-- replaced: the primary key makes the first of concurrent links the only one.
CREATE TABLE IF NOT EXISTS auth_identity_links (
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX IF NOT EXISTS auth_identity_links_user ON auth_identity_links (user_id);
