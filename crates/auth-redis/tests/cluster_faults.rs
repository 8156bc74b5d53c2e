//! Faults on a real Redis Cluster (3 primaries with a replica each): a primary killed
//! and its replica promoted, a manual `CLUSTER FAILOVER`, and slots moved during
//! requests. Checks fail closed (503) while a slot has no primary and recover by
//! themselves; `MOVED`/`ASK` are followed, never surfaced.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a test fails by panicking

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::clock::{Clock, SystemClock};
use auth_core::credential::MemoryUsers;
use auth_core::store::{Revocations, TokenRef, TokenStatus};
use auth_core::token::{Algorithm, Key, KeyRing, Subject, TokenConfig, TokenService};
use auth_core::{AuthError, TokenManager};
use auth_redis::RedisStore;

/// A live node as `CLUSTER NODES` shows it.
#[derive(Debug, Clone)]
struct Node {
    id: String,
    port: u16,
    primary: bool,
    /// A replica's primary (`-` for a primary).
    of: String,
    slots: Vec<(u16, u16)>,
}

/// The live nodes, as `via` sees them.
fn nodes(cluster: &common::OwnCluster, via: u16) -> Vec<Node> {
    cluster
        .cli(via, &["cluster", "nodes"])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = f.get(1)?.split(['@', ':']).nth(1)?.parse().ok()?;
            let flags = f.get(2)?;
            if flags.contains("fail") {
                return None;
            }
            let slots = f
                .iter()
                .skip(8)
                .filter_map(|r| {
                    let (a, b) = r.split_once('-').unwrap_or((r, r));
                    Some((a.parse().ok()?, b.parse().ok()?))
                })
                .collect();
            Some(Node {
                id: f.first()?.to_string(),
                port,
                primary: flags.contains("master"),
                of: f.get(3)?.to_string(),
                slots,
            })
        })
        .collect()
}

/// The port of the primary serving `tag`'s slot, and of its replica if it has one.
fn owner(cluster: &common::OwnCluster, via: u16, tag: &str) -> (u16, Option<u16>) {
    let slot: u16 = cluster
        .cli(via, &["cluster", "keyslot", tag])
        .trim()
        .parse()
        .unwrap();
    let all = nodes(cluster, via);
    let primary = all
        .iter()
        .find(|n| n.primary && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
        .expect("a primary serves the slot");
    let replica = all
        .iter()
        .find(|n| !n.primary && n.of == primary.id)
        .map(|n| n.port);
    (primary.port, replica)
}

fn manager(store: &RedisStore) -> (TokenService, TokenManager) {
    let tokens = TokenService::new(
        KeyRing::new(Key::hmac("a", Algorithm::HS256, &[1; 32]).unwrap()),
        KeyRing::new(Key::hmac("r", Algorithm::HS256, &[2; 32]).unwrap()),
        TokenConfig::default(),
    )
    .unwrap();
    let manager = TokenManager::new(
        tokens.clone(),
        Arc::new(MemoryUsers::new()),
        Arc::new(store.clone()),
    );
    (tokens, manager)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_fails_closed_then_its_promoted_replica_serves() {
    let mut cluster = common::OwnCluster::start(3, 1);
    let via = cluster.ports()[0];
    let store = RedisStore::connect_cluster(&cluster.urls(), "failover")
        .await
        .unwrap();
    let (tokens, manager) = manager(&store);
    let token = tokens.issue_pair(&Subject::new("1")).unwrap().access.token;
    assert!(manager.authenticate(&token).await.is_ok());

    let (primary, replica) = owner(&cluster, via, "u:1");
    let replica = replica.expect("the primary has a replica");
    let via = *cluster.ports().iter().find(|p| **p != primary).unwrap();
    cluster
        .nodes
        .iter_mut()
        .find(|n| n.port == primary)
        .unwrap()
        .kill();

    // While the slot has no primary: the store error (503), never an unchecked 200.
    let err = manager.authenticate(&token).await.unwrap_err();
    assert!(
        matches!(err, AuthError::StoreUnavailable(_)),
        "fails closed: {err:?}"
    );
    assert_eq!(err.to_response().status, 503);

    // The replica is promoted (cluster-node-timeout 2 s) and the same store recovers.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failures = 1;
    loop {
        match manager.authenticate(&token).await {
            Ok(claims) => {
                assert_eq!(claims.sub, "1");
                break;
            }
            Err(AuthError::StoreUnavailable(_)) if Instant::now() < deadline => {
                failures += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!(
                "did not recover after the failover ({failures} failures): {e:?}; replica role: {}; nodes: {}",
                cluster.cli(replica, &["role"]),
                cluster.cli(via, &["cluster", "nodes"])
            ),
        }
    }
    assert_eq!(
        owner(&cluster, via, "u:1").0,
        replica,
        "the slot moved to the replica"
    );
    assert!(
        cluster.cli(replica, &["role"]).starts_with("master"),
        "the replica was promoted"
    );
    // Revocations work on the new primary.
    let claims = manager.authenticate(&token).await.unwrap();
    let now = SystemClock.unix_seconds();
    let t = TokenRef {
        iss: "x",
        jti: &claims.jti,
        sid: "s",
        sub: "1",
        iat: now,
        exp: now + 60,
    };
    store.revoke_token(&t).await.unwrap();
    assert_eq!(store.check(&t).await.unwrap(), TokenStatus::Revoked);
}

/// Every user's blocked token reads as revoked: no error, no redirection surfaced.
async fn check_all(store: &RedisStore, subs: &[String], now: u64) {
    for sub in subs {
        let t = TokenRef {
            iss: "i",
            jti: "j",
            sid: "s",
            sub,
            iat: now,
            exp: now + 600,
        };
        match store.check(&t).await {
            Ok(TokenStatus::Revoked) => {}
            other => panic!("{sub}: {other:?} (a redirection surfaced?)"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_failover_and_moved_slots_are_followed_without_errors() {
    let cluster = common::OwnCluster::start(3, 1);
    let via = cluster.ports()[0];
    let store = RedisStore::connect_cluster(&cluster.urls(), "moves")
        .await
        .unwrap();
    let now = SystemClock.unix_seconds();
    let subs: Vec<String> = (0..100).map(|i| format!("user{i}")).collect();
    for sub in &subs {
        let t = TokenRef {
            iss: "i",
            jti: "j",
            sid: "s",
            sub,
            iat: now,
            exp: now + 600,
        };
        store.revoke_token(&t).await.unwrap();
    }

    // A graceful failover: the replica takes over; the client follows MOVED.
    let replica = owner(&cluster, via, "u:user0").1.expect("a replica");
    assert!(
        cluster
            .cli(replica, &["cluster", "failover"])
            .contains("OK")
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cluster.cli(replica, &["role"]).starts_with("master") {
        assert!(
            Instant::now() < deadline,
            "the manual failover did not complete"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    check_all(&store, &subs, now).await;
    cluster.wait_agreed(3);

    // Resharding while checks run: half of one primary's slots move to another (keys
    // migrate one by one: ASK while a slot is migrating, MOVED after).
    let primaries: Vec<Node> = nodes(&cluster, via)
        .into_iter()
        .filter(|n| n.primary)
        .collect();
    let (from, to) = (primaries[0].id.clone(), primaries[1].id.clone());
    let checker = tokio::spawn({
        let (store, subs) = (store.clone(), subs.clone());
        async move {
            let until = Instant::now() + Duration::from_secs(3);
            let mut rounds = 0;
            while Instant::now() < until {
                check_all(&store, &subs, now).await;
                rounds += 1;
            }
            rounds
        }
    });
    let out = std::process::Command::new("timeout")
        .args([
            "60",
            "redis-cli",
            "--cluster",
            "reshard",
            &format!("127.0.0.1:{via}"),
        ])
        .args(["--cluster-from", &from, "--cluster-to", &to])
        .args(["--cluster-slots", "2700", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reshard: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let rounds = checker.await.unwrap();
    assert!(rounds > 0);
    check_all(&store, &subs, now).await;
}

/// `EVALSHA` calls on every primary: the direct check's round trips.
fn evalsha_calls(cluster: &common::OwnCluster) -> u64 {
    cluster
        .primaries()
        .into_iter()
        .map(|p| {
            cluster
                .cli(p, &["info", "commandstats"])
                .lines()
                .find_map(|l| l.strip_prefix("cmdstat_evalsha:"))
                .and_then(|rest| {
                    rest.split(',')
                        .find_map(|kv| kv.strip_prefix("calls="))?
                        .parse::<u64>()
                        .ok()
                })
                .unwrap_or(0)
        })
        .sum()
}

/// `sub`'s blocked token (a `jti` of its own: a replica keys tokens by issuer and `jti`).
fn blocked(sub: &str, now: u64) -> TokenRef<'_> {
    TokenRef {
        iss: "i",
        jti: sub,
        sid: "s",
        sub,
        iat: now,
        exp: now + 600,
    }
}

/// Polls until `store` answers every check for `subs` (all revoked) and `live` (active)
/// locally, asserting the answers on every poll.
async fn until_local(cluster: &common::OwnCluster, store: &RedisStore, subs: &[String], now: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let before = evalsha_calls(cluster);
        for sub in subs {
            assert_eq!(
                store.check(&blocked(sub, now)).await.unwrap(),
                TokenStatus::Revoked,
                "{sub}"
            );
        }
        let live = TokenRef {
            jti: "never-revoked",
            ..blocked("user0", now)
        };
        assert_eq!(store.check(&live).await.unwrap(), TokenStatus::Active);
        if evalsha_calls(cluster) == before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never answered locally"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replica_loads_every_primary_after_a_trim_and_follows_a_failover() {
    let mut cluster = common::OwnCluster::start(3, 1);
    let via = cluster.ports()[0];
    let ns = "replica-failover";
    let writer = RedisStore::connect_cluster(&cluster.urls(), ns)
        .await
        .unwrap();
    let now = SystemClock.unix_seconds();
    let mut subs: Vec<String> = (0..60).map(|i| format!("user{i}")).collect();
    for sub in &subs {
        writer.revoke_token(&blocked(sub, now)).await.unwrap();
    }
    // Trimmed to nothing: only the snapshot (a SCAN on every primary) can know them.
    let stream = format!("{ns}:revocations");
    assert_eq!(
        cluster
            .cli(via, &["-c", "xtrim", &stream, "maxlen", "0"])
            .trim(),
        "60"
    );

    let replica = RedisStore::connect_cluster(&cluster.urls(), ns)
        .await
        .unwrap()
        .with_replica(auth_redis::ReplicaConfig::default())
        .await
        .unwrap();
    until_local(&cluster, &replica, &subs, now).await;

    // The stream's primary dies; its replica takes over. Revocations recorded meanwhile
    // fail closed for the writer (the append cannot reach the stream); once the new
    // primary serves, new revocations reach the replica again.
    let (primary, _) = owner(&cluster, via, &stream);
    let via = *cluster.ports().iter().find(|p| **p != primary).unwrap();
    cluster
        .nodes
        .iter_mut()
        .find(|n| n.port == primary)
        .unwrap()
        .kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 60..80 {
        let sub = format!("user{i}");
        loop {
            match writer.revoke_token(&blocked(&sub, now)).await {
                Ok(()) => break,
                Err(e) => {
                    assert!(Instant::now() < deadline, "the writer did not recover: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        subs.push(sub);
    }
    let _ = via;
    until_local(&cluster, &replica, &subs, now).await;
}
