//! `rediss://`: the store over TLS to a single server and to a cluster, each a real
//! TLS-only `redis-server` certified by a CA made for this run with `openssl`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a test fails by panicking

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::clock::{Clock, SystemClock};
use auth_core::store::{RefreshFamilies, Revocations, Rotation, TokenRef, TokenStatus};
use auth_redis::{RedisStore, ReplicaConfig, Server};

fn token<'a>(sub: &'a str, jti: &'a str) -> TokenRef<'a> {
    let now = SystemClock.unix_seconds();
    TokenRef {
        iss: "tls",
        jti,
        sid: "s1",
        sub,
        iat: now,
        exp: now + 600,
    }
}

async fn exercise(store: &RedisStore, other: &RedisStore) {
    let now = SystemClock.unix_seconds();
    for i in 0..20 {
        let sub = format!("u{i}");
        let t = token(&sub, "j1");
        assert_eq!(store.check(&t).await.unwrap(), TokenStatus::Active);
        store.revoke_token(&t).await.unwrap();
        assert_eq!(store.check(&t).await.unwrap(), TokenStatus::Revoked);
        store.start(&sub, "s1", "r1", now + 600).await.unwrap();
        assert_eq!(
            store
                .rotate(&sub, "s1", "r1", "r2", now + 600)
                .await
                .unwrap(),
            Rotation::Rotated
        );
    }
    // The other instance (a replica) learns every revocation through the stream.
    let deadline = Instant::now() + Duration::from_secs(5);
    for i in 0..20 {
        let sub = format!("u{i}");
        while other.check(&token(&sub, "j1")).await.unwrap() != TokenStatus::Revoked {
            assert!(
                Instant::now() < deadline,
                "the replica never saw u{i}'s revocation"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_server_over_tls_with_a_private_ca() {
    let ca = common::ThrowawayCa::new();
    let server = common::tls_server(&ca);
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let connect = |ca_pem: Option<Vec<u8>>| {
        let url = url.clone();
        async move {
            RedisStore::connect_to(
                &Server::Single(url),
                "tls",
                ca_pem.as_deref(),
                Arc::new(SystemClock),
            )
            .await
        }
    };
    let store = connect(Some(ca.ca_pem())).await.unwrap();
    let other = connect(Some(ca.ca_pem()))
        .await
        .unwrap()
        .with_replica(ReplicaConfig::default())
        .await
        .unwrap();
    exercise(&store, &other).await;

    // Not trusted without the CA (the system roots do not know it): no connection, never
    // an unverified one.
    let e = connect(None).await.unwrap_err();
    assert!(e.to_string().contains("redis"), "{e}");
    // Plain text to a TLS-only port gets nowhere either.
    let plain = RedisStore::connect(&format!("redis://127.0.0.1:{}", server.port), "tls").await;
    assert!(plain.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_over_tls_with_a_private_ca() {
    let ca = common::ThrowawayCa::new();
    let cluster = common::OwnCluster::start_with(3, 0, Some(&ca));
    let nodes = cluster.urls();
    assert!(nodes.iter().all(|u| u.starts_with("rediss://")));
    let connect = || {
        let nodes = nodes.clone();
        let pem = ca.ca_pem();
        async move {
            RedisStore::connect_to(
                &Server::Cluster(nodes),
                "tls-cluster",
                Some(&pem),
                Arc::new(SystemClock),
            )
            .await
        }
    };
    let store = connect().await.unwrap();
    let other = connect()
        .await
        .unwrap()
        .with_replica(ReplicaConfig::default())
        .await
        .unwrap();
    exercise(&store, &other).await;

    let untrusted = RedisStore::connect_to(
        &Server::Cluster(nodes.clone()),
        "tls-cluster",
        None,
        Arc::new(SystemClock),
    )
    .await;
    assert!(untrusted.is_err(), "connected without trusting the CA");
}
