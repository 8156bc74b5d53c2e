//! The one store test suite of auth-core, unchanged, on a real Postgres database and on
//! a real SQLite file. Time is a manual clock shared by both clients (the SQL store
//! decides expiry on the application's clock), so expiry needs no waiting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a test fails by panicking

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use auth_core::clock::{Clock, ManualClock, SystemClock};
use auth_core::store::StateStore;
use auth_core::store::suite::Harness;
use auth_sqlx::SqlStore;

struct Sql {
    url: String,
    clock: Arc<ManualClock>,
    store: SqlStore,
}

#[async_trait]
impl Harness for Sql {
    fn store(&self) -> Arc<dyn StateStore> {
        Arc::new(self.store.clone())
    }
    async fn second_client(&self) -> Arc<dyn StateStore> {
        // Its own pool on the same database: what a second app instance would have.
        Arc::new(common::store(&self.url, self.clock.clone()).await)
    }
    fn now(&self) -> u64 {
        self.clock.unix_seconds()
    }
    async fn advance(&self, secs: u64) {
        self.clock.advance(std::time::Duration::from_secs(secs));
    }
}

async fn on(url: String) -> Sql {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let store = common::store(&url, clock.clone()).await;
    Sql { url, clock, store }
}

mod postgres {
    use super::*;
    auth_core::store_suite!(async { on(common::fresh_postgres().await).await });
}

mod sqlite {
    use super::*;
    auth_core::store_suite!(async { on(common::fresh_sqlite()).await });
}

/// The same suite on Postgres with revocations replicated into each instance
/// (`with_replica`): the per-request check answers from the local copy, kept current by
/// LISTEN/NOTIFY.
mod replicated {
    use super::*;
    use auth_sqlx::ReplicaConfig;

    struct Replicated(Sql);

    async fn replicated_store(url: &str, clock: Arc<ManualClock>) -> SqlStore {
        common::store(url, clock)
            .await
            .with_replica(ReplicaConfig::default())
            .await
            .unwrap()
    }

    #[async_trait]
    impl Harness for Replicated {
        fn store(&self) -> Arc<dyn StateStore> {
            Arc::new(self.0.store.clone())
        }
        async fn second_client(&self) -> Arc<dyn StateStore> {
            Arc::new(replicated_store(&self.0.url, self.0.clock.clone()).await)
        }
        fn now(&self) -> u64 {
            self.0.clock.unix_seconds()
        }
        async fn advance(&self, secs: u64) {
            self.0.clock.advance(std::time::Duration::from_secs(secs));
        }
        fn propagation(&self) -> std::time::Duration {
            // Generous against a loaded CI machine; the figure is in the benchmark.
            std::time::Duration::from_secs(2)
        }
    }

    async fn replicated() -> Replicated {
        let url = common::fresh_postgres().await;
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let store = replicated_store(&url, clock.clone()).await;
        Replicated(Sql { url, clock, store })
    }

    auth_core::store_suite!(replicated());
}
