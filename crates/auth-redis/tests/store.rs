//! The one store test suite, on a real Redis (see `common.rs` for the server).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a test fails by panicking

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use auth_core::clock::{Clock, SystemClock};
use auth_core::store::StateStore;
use auth_core::store::suite::Harness;
use auth_redis::RedisStore;

struct Redis {
    namespace: String,
    store: RedisStore,
}

#[async_trait]
impl Harness for Redis {
    fn store(&self) -> Arc<dyn StateStore> {
        Arc::new(self.store.clone())
    }
    async fn second_client(&self) -> Arc<dyn StateStore> {
        // A separate connection: what a second app instance would have.
        Arc::new(common::connect(&self.namespace).await)
    }
    fn now(&self) -> u64 {
        SystemClock.unix_seconds()
    }
    async fn advance(&self, secs: u64) {
        // Real TTLs run on the server's clock: wait for them.
        tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
    }
}

async fn redis() -> Redis {
    let namespace = common::unique_namespace("suite");
    let store = common::connect(&namespace).await;
    Redis { namespace, store }
}

auth_core::store_suite!(redis());

/// The same suite with revocations replicated into each instance (`with_replica`): the
/// per-request check answers from the local set, kept current through the stream.
mod replicated {
    use super::*;

    struct Replicated {
        namespace: String,
        store: RedisStore,
    }

    #[async_trait]
    impl Harness for Replicated {
        fn store(&self) -> Arc<dyn StateStore> {
            Arc::new(self.store.clone())
        }
        async fn second_client(&self) -> Arc<dyn StateStore> {
            let other = common::connect(&self.namespace)
                .await
                .with_replica(auth_redis::ReplicaConfig::default())
                .await
                .unwrap();
            Arc::new(other)
        }
        fn now(&self) -> u64 {
            SystemClock.unix_seconds()
        }
        async fn advance(&self, secs: u64) {
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
        }
        fn propagation(&self) -> std::time::Duration {
            // Generous against a loaded CI machine; the figure is in the benchmark.
            std::time::Duration::from_secs(2)
        }
    }

    async fn replicated() -> Replicated {
        let namespace = common::unique_namespace("suite-replica");
        let store = common::connect(&namespace)
            .await
            .with_replica(auth_redis::ReplicaConfig::default())
            .await
            .unwrap();
        Replicated { namespace, store }
    }

    auth_core::store_suite!(replicated());
}
