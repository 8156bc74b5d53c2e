//! The Redis server goes away mid-run and comes back: checks fail closed with the store
//! error (503), then the same client recovers without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a test fails by panicking

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::credential::MemoryUsers;
use auth_core::token::{Algorithm, Key, KeyRing, Subject, TokenConfig, TokenService};
use auth_core::{AuthError, TokenManager};
use auth_redis::RedisStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_fail_closed_while_redis_is_down_and_recover_after() {
    let server = common::OwnServer::start();
    let port = server.port;
    let store = RedisStore::connect(&format!("redis://127.0.0.1:{port}"), "fault")
        .await
        .unwrap();
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
    let token = tokens.issue_pair(&Subject::new("1")).unwrap().access.token;
    assert!(manager.authenticate(&token).await.is_ok());

    drop(server); // killed mid-run

    let err = manager.authenticate(&token).await.unwrap_err();
    assert!(
        matches!(err, AuthError::StoreUnavailable(_)),
        "fails closed: {err:?}"
    );
    assert_eq!(err.to_response().status, 503);
    assert!(store.ping().await.is_err());

    let _server = common::OwnServer::start_on(port); // back (empty: it keeps nothing on disk)
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match manager.authenticate(&token).await {
            Ok(claims) => {
                assert_eq!(claims.sub, "1");
                break;
            }
            Err(AuthError::StoreUnavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the same client did not recover: {e:?}"),
        }
    }
    assert!(store.ping().await.is_ok(), "the same client works again");
}

#[tokio::test]
async fn the_per_request_check_is_one_round_trip() {
    // A private server, so the only commands it counts are ours.
    use auth_core::store::{Revocations, TokenRef};
    let server = common::OwnServer::start();
    let store = RedisStore::connect(&server.url(), "roundtrip")
        .await
        .unwrap();
    let mut admin = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let t = TokenRef {
        iss: "i",
        jti: "j",
        sid: "s",
        sub: "u",
        iat: 1,
        exp: u64::MAX / 2000,
    };
    store.check(&t).await.unwrap(); // loads the script once (EVALSHA, NOSCRIPT, SCRIPT LOAD)
    let before = command_stats(&mut admin).await;
    for _ in 0..10 {
        store.check(&t).await.unwrap();
    }
    let after = command_stats(&mut admin).await;
    let mut delta: Vec<(String, u64)> = after
        .iter()
        .map(|(cmd, n)| (cmd.clone(), n - before.get(cmd).copied().unwrap_or(0)))
        .filter(|(_, d)| *d > 0)
        .collect();
    delta.sort();
    // The client sent 10 EVALSHA (one round trip per check); the three lookups ran inside
    // the script on the server; the INFO is ours.
    let expected: Vec<(String, u64)> = [
        ("evalsha", 10),
        ("exists", 10),
        ("get", 10),
        ("hget", 10),
        ("info", 1),
    ]
    .into_iter()
    .map(|(c, n)| (c.to_string(), n))
    .collect();
    assert_eq!(delta, expected);
}

async fn command_stats(
    c: &mut redis::aio::MultiplexedConnection,
) -> std::collections::HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(c)
        .await
        .unwrap();
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

/// With revocations replicated into the instance: while Redis answers, checks are local;
/// once the replica has not heard from Redis for `max_lag`, checks go direct and fail
/// closed; after Redis is back, the replica reconnects, resumes, and sees new
/// revocations made by another instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_replica_falls_back_to_direct_checks_and_fails_closed() {
    use auth_core::store::{Revocations, TokenStatus};
    let server = common::OwnServer::start();
    let port = server.port;
    let url = format!("redis://127.0.0.1:{port}");
    let config = auth_redis::ReplicaConfig::default().max_lag(Duration::from_millis(400));
    let a = replicated_store(&url, "replica-fault", config).await;
    let token = live_token;
    a.revoke_token(&token("j1")).await.unwrap();
    assert_eq!(a.check(&token("j1")).await.unwrap(), TokenStatus::Revoked);
    assert_eq!(a.check(&token("j2")).await.unwrap(), TokenStatus::Active);

    drop(server);
    tokio::time::sleep(Duration::from_millis(900)).await; // past max_lag
    assert!(
        a.check(&token("j2")).await.is_err(),
        "a stale replica never answers Active on its own"
    );

    let _server = common::OwnServer::start_on(port);
    let b = {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match RedisStore::connect(&url, "replica-fault").await {
                Ok(b) => break b,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("redis did not come back: {e}"),
            }
        }
    };
    b.revoke_token(&token("j3")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match a.check(&token("j3")).await {
            Ok(TokenStatus::Revoked) => break,
            Ok(TokenStatus::Active) | Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("the replica did not recover: {other:?}"),
        }
    }
    // The restarted server kept nothing (the stream the replica was reading is gone): the
    // replica took a new snapshot of what the new server holds before answering again.
}

/// With the default settings (the reader blocks 500 ms on `XREAD`), a replica that hears
/// no revocation for longer than `max_lag` stays fresh: its checks are answered locally,
/// with no call to Redis. (The reader's connection once used the client's default 500 ms
/// response timeout, equal to the block: every quiet read failed, the replica went stale
/// and every check went direct.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_replica_stays_fresh_with_default_settings() {
    use auth_core::store::{Revocations, TokenStatus};
    let server = common::OwnServer::start();
    let url = format!("redis://127.0.0.1:{}", server.port);
    let config = auth_redis::ReplicaConfig::default();
    let quiet = config.max_lag + Duration::from_millis(1500);
    let a = replicated_store(&url, "replica-quiet", config).await;
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let token = live_token("quiet");
    tokio::time::sleep(quiet).await; // no revocation for longer than max_lag
    let before = command_stats(&mut c).await;
    for _ in 0..100 {
        assert_eq!(a.check(&token).await.unwrap(), TokenStatus::Active);
    }
    let after = command_stats(&mut c).await;
    let calls =
        |m: &std::collections::HashMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    assert_eq!(
        calls(&after, "evalsha") - calls(&before, "evalsha"),
        0,
        "checks of a quiet, fresh replica are local"
    );
}

async fn replicated_store(url: &str, ns: &str, config: auth_redis::ReplicaConfig) -> RedisStore {
    RedisStore::connect(url, ns)
        .await
        .unwrap()
        .with_replica(config)
        .await
        .unwrap()
}

/// A token reference issued now, valid for 10 minutes.
fn live_token(jti: &'static str) -> auth_core::store::TokenRef<'static> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    auth_core::store::TokenRef {
        iss: "i",
        jti,
        sid: "s",
        sub: "u",
        iat: now,
        exp: now + 600,
    }
}
