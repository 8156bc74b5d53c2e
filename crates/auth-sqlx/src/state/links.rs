//! [`IdentityLinks`] on SQL: one row per provider subject; the primary key makes the
//! first of concurrent links win (`INSERT … ON CONFLICT DO NOTHING`), and the link read
//! back afterwards is that winner's.

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::IdentityLinks;

use crate::{SqlStore, fault, with_pool};

#[async_trait]
impl IdentityLinks for SqlStore {
    async fn linked_user(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<String>, StoreError> {
        with_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT user_id FROM auth_identity_links WHERE provider = $1 AND subject = $2"
        )
        .bind(provider)
        .bind(subject)
        .fetch_optional(p)
        .await)
        .map_err(fault("linked user"))
    }

    async fn link_identity(
        &self,
        provider: &str,
        subject: &str,
        user_id: &str,
    ) -> Result<String, StoreError> {
        let now = self.now();
        with_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO auth_identity_links (provider, subject, user_id, created) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (provider, subject) DO NOTHING"
        )
        .bind(provider)
        .bind(subject)
        .bind(user_id)
        .bind(now)
        .execute(p)
        .await
        .map(|_| ()))
        .map_err(fault("link identity"))?;
        self.linked_user(provider, subject)
            .await?
            .ok_or_else(|| StoreError::new("an identity link vanished right after it was made"))
    }
}
