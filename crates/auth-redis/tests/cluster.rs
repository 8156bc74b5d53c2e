//! The store on a real Redis Cluster: 3 primaries of real `redis-server` processes on
//! free ports, built with `redis-cli --cluster create` (see `common`). The store and
//! session suites run on it unchanged, with and without the revocation replica.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a test fails by panicking

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use auth_core::clock::{Clock, SystemClock};
use auth_core::store::suite::Harness;
use auth_core::store::{Revocations, StateStore, TokenRef, TokenStatus};
use auth_redis::RedisStore;

struct Cluster {
    namespace: String,
    store: RedisStore,
    replica: bool,
}

impl Cluster {
    async fn client(&self) -> RedisStore {
        let store = common::connect_cluster(&self.namespace).await;
        if self.replica {
            store
                .with_replica(auth_redis::ReplicaConfig::default())
                .await
                .unwrap()
        } else {
            store
        }
    }
}

#[async_trait]
impl Harness for Cluster {
    fn store(&self) -> Arc<dyn StateStore> {
        Arc::new(self.store.clone())
    }
    async fn second_client(&self) -> Arc<dyn StateStore> {
        Arc::new(self.client().await)
    }
    fn now(&self) -> u64 {
        SystemClock.unix_seconds()
    }
    async fn advance(&self, secs: u64) {
        tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
    }
    fn propagation(&self) -> std::time::Duration {
        if self.replica {
            std::time::Duration::from_secs(2)
        } else {
            std::time::Duration::ZERO
        }
    }
}

async fn cluster(replica: bool) -> Cluster {
    let namespace = common::unique_namespace(if replica {
        "cluster-replica"
    } else {
        "cluster"
    });
    let mut c = Cluster {
        store: common::connect_cluster(&namespace).await,
        namespace,
        replica,
    };
    c.store = c.client().await;
    c
}

mod store {
    use super::*;
    auth_core::store_suite!(cluster(false));
}

mod replicated {
    use super::*;
    auth_core::store_suite!(cluster(true));
}

mod sessions {
    use super::*;
    auth_core::session_suite!(async {
        Arc::new(common::connect_cluster(&common::unique_namespace("cluster-sessions")).await)
            as Arc<dyn StateStore>
    });
}

/// Different users' keys land on every primary: no single hot slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_spread_over_every_primary() {
    let cluster = common::shared_cluster();
    let namespace = common::unique_namespace("cluster-spread");
    let store = common::connect_cluster(&namespace).await;
    let now = SystemClock.unix_seconds();
    for i in 0..60 {
        let sub = format!("user{i}");
        let t = TokenRef {
            iss: "i",
            jti: "j",
            sid: "s",
            sub: &sub,
            iat: now,
            exp: now + 600,
        };
        store.revoke_token(&t).await.unwrap();
        assert_eq!(store.check(&t).await.unwrap(), TokenStatus::Revoked);
    }
    let primaries = cluster.primaries();
    assert_eq!(primaries.len(), 3);
    for port in primaries {
        let keys = cluster.cli(
            port,
            &["--scan", "--pattern", &format!("{namespace}:{{u:*")],
        );
        let n = keys.lines().filter(|l| !l.is_empty()).count();
        assert!(
            n >= 5,
            "primary {port} holds {n} of the 60 users' blocked tokens: the users do not spread"
        );
    }
}

/// A store on connections the application already has: a cluster connection and a
/// single-server connection manager. Without a client of its own it refuses a replica
/// with an error that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_on_the_applications_own_connections() {
    let urls = common::shared_cluster().urls();
    let conn = redis::cluster::ClusterClient::new(urls)
        .unwrap()
        .get_async_connection()
        .await
        .unwrap();
    let ns = common::unique_namespace("cluster-own");
    let store = RedisStore::from_connection(conn, &ns, Arc::new(SystemClock))
        .await
        .unwrap();
    let other = common::connect_cluster(&ns).await;
    let now = SystemClock.unix_seconds();
    let t = TokenRef {
        iss: "i",
        jti: "own",
        sid: "s",
        sub: "u",
        iat: now,
        exp: now + 60,
    };
    store.revoke_token(&t).await.unwrap();
    assert_eq!(other.check(&t).await.unwrap(), TokenStatus::Revoked);
    let e = store
        .with_replica(auth_redis::ReplicaConfig::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("connection of its own"), "{e}");

    let single =
        redis::aio::ConnectionManager::new(redis::Client::open(common::redis_url()).unwrap())
            .await
            .unwrap();
    let ns = common::unique_namespace("single-own");
    let store = RedisStore::from_connection(single, &ns, Arc::new(SystemClock))
        .await
        .unwrap();
    store.revoke_token(&t).await.unwrap();
    assert_eq!(
        common::connect(&ns).await.check(&t).await.unwrap(),
        TokenStatus::Revoked
    );
}
