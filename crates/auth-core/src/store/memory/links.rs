//! [`IdentityLinks`] in memory: one map under one lock.

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::error::StoreError;
use crate::store::IdentityLinks;

fn key(provider: &str, subject: &str) -> String {
    format!("{provider}\0{subject}")
}

#[async_trait]
impl IdentityLinks for MemoryStore {
    async fn linked_user(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(lock(&self.links).get(&key(provider, subject)).cloned())
    }

    async fn link_identity(
        &self,
        provider: &str,
        subject: &str,
        user_id: &str,
    ) -> Result<String, StoreError> {
        Ok(lock(&self.links)
            .entry(key(provider, subject))
            .or_insert_with(|| user_id.to_owned())
            .clone())
    }
}
