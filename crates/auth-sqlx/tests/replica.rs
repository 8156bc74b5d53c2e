//! The Postgres revocation replica against a real server: propagation between two
//! instances, the fall-back to direct checks and the reload after the listener's
//! connection is killed, a quiet replica kept fresh by its heartbeat, and the refusal on
//! SQLite. Each test has its own schema, hence its own channel.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a test fails by panicking

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::clock::{Clock, SystemClock};
use auth_core::store::{Revocations, TokenRef, TokenStatus};
use auth_sqlx::{ReplicaConfig, ReplicaError, SqlStore};
use sqlx::Connection as _;

fn now() -> u64 {
    SystemClock.unix_seconds()
}

fn token(jti: &str) -> TokenRef<'_> {
    let t = now();
    TokenRef {
        iss: "https://iss.example/",
        jti,
        sid: "s",
        sub: "u",
        iat: t,
        exp: t + 600,
    }
}

fn unique_name(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("auth-test-{what}-{}-{nanos}", std::process::id())
}

async fn replica(url: &str, config: ReplicaConfig) -> SqlStore {
    common::store(url, Arc::new(SystemClock))
        .await
        .with_replica(config)
        .await
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_instance_is_refused_by_another() {
    let url = common::fresh_postgres().await;
    let a = replica(&url, ReplicaConfig::default()).await;
    let b = replica(&url, ReplicaConfig::default()).await;
    let jtis: Vec<String> = (0..200).map(|i| format!("p{i}")).collect();
    let mut times = Vec::new();
    for (i, jti) in jtis.iter().enumerate() {
        let t = token(jti);
        assert_eq!(b.check(&t).await.unwrap(), TokenStatus::Active);
        let began = Instant::now();
        a.revoke_token(&t).await.unwrap();
        // A's own check answers at once (read-your-writes).
        assert_eq!(a.check(&t).await.unwrap(), TokenStatus::Revoked);
        while b.check(&t).await.unwrap() != TokenStatus::Revoked {
            assert!(
                began.elapsed() < Duration::from_secs(5),
                "revocation {i} never reached the other instance"
            );
            tokio::task::yield_now().await;
        }
        times.push(began.elapsed());
        // Once seen, never forgotten: every earlier revocation stays refused.
        for earlier in &jtis[..=i] {
            assert_eq!(
                b.check(&token(earlier)).await.unwrap(),
                TokenStatus::Revoked,
                "{earlier} answered Active after it had been refused"
            );
        }
    }
    times.sort();
    let (p50, p99, max) = (
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[times.len() - 1],
    );
    println!(
        "propagation over {} revocations: p50 {p50:?}, p99 {p99:?}, max {max:?}",
        times.len()
    );
    assert!(max <= Duration::from_secs(1), "slowest propagation {max:?}");
    assert!(b.replicated_entries() >= 200, "B applied the notifications");
}

/// Backends of the replica's listener (found by its `application_name`).
async fn listener_pids(admin: &mut sqlx::PgConnection, name: &str) -> Vec<i32> {
    sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE application_name = $1")
        .bind(name)
        .fetch_all(admin)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listener_falls_back_to_direct_checks_then_reloads() {
    let url = common::fresh_postgres().await;
    let name = unique_name("kill");
    let max_lag = Duration::from_millis(400);
    let writer = common::store(&url, Arc::new(SystemClock)).await;
    let replica = replica(
        &url,
        ReplicaConfig::default()
            .max_lag(max_lag)
            .application_name(name.clone()),
    )
    .await;
    let mut admin = sqlx::PgConnection::connect(&common::admin_url())
        .await
        .unwrap();
    let before = token("before");
    writer.revoke_token(&before).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while replica.check(&before).await.unwrap() != TokenStatus::Revoked {
        assert!(Instant::now() < deadline, "never replicated");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        listener_pids(&mut admin, &name).await.len(),
        1,
        "one listener"
    );
    let snapshots = replica.replica_snapshots();

    // Keep the listener out: kill its connection, and every new one, for a while.
    let killing = {
        let (url, name) = (common::admin_url(), name.clone());
        tokio::spawn(async move {
            let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
            let until = Instant::now() + Duration::from_millis(1200);
            let mut killed = 0;
            while Instant::now() < until {
                for pid in listener_pids(&mut admin, &name).await {
                    let _: Option<bool> = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
                        .bind(pid)
                        .fetch_one(&mut admin)
                        .await
                        .unwrap();
                    killed += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            killed
        })
    };
    // The replica notices and goes direct.
    let direct = replica.replica_direct_checks();
    let deadline = Instant::now() + Duration::from_secs(5);
    while replica.replica_direct_checks() == direct {
        assert_eq!(replica.check(&before).await.unwrap(), TokenStatus::Revoked);
        assert!(Instant::now() < deadline, "the replica never went direct");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Revocations while it cannot hear (it may reconnect between two kills): within
    // `max_lag` of the write the replica may still answer from what it had (its
    // documented lag, as for any replica); from then on every check must refuse.
    let during: Vec<String> = (0..3).map(|i| format!("during{i}")).collect();
    for jti in &during {
        writer.revoke_token(&token(jti)).await.unwrap();
        let bound = Instant::now() + max_lag + Duration::from_millis(20);
        while Instant::now() < bound {
            assert_eq!(replica.check(&before).await.unwrap(), TokenStatus::Revoked);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for _ in 0..20 {
            for seen in &during[..=during.iter().position(|j| j == jti).unwrap()] {
                assert_eq!(
                    replica.check(&token(seen)).await.unwrap(),
                    TokenStatus::Revoked,
                    "{seen} answered Active more than max_lag after its revocation"
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert!(killing.await.unwrap() >= 1, "the listener was killed");

    // Back: it reloads, then answers locally again (no direct check), and right.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let direct = replica.replica_direct_checks();
        for jti in during.iter().map(String::as_str).chain(["before"]) {
            assert_eq!(
                replica.check(&token(jti)).await.unwrap(),
                TokenStatus::Revoked
            );
        }
        assert_eq!(
            replica.check(&token("live")).await.unwrap(),
            TokenStatus::Active
        );
        if replica.replica_direct_checks() == direct {
            break;
        }
        assert!(Instant::now() < deadline, "the replica never reloaded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        replica.replica_snapshots() > snapshots,
        "a new snapshot was loaded"
    );
    assert_eq!(
        listener_pids(&mut admin, &name).await.len(),
        1,
        "listening again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_replica_stays_fresh_on_its_heartbeat() {
    let url = common::fresh_postgres().await;
    let max_lag = Duration::from_millis(300);
    let replica = replica(&url, ReplicaConfig::default().max_lag(max_lag)).await;
    let t = token("quiet");
    assert_eq!(replica.check(&t).await.unwrap(), TokenStatus::Active);
    // Nothing is revoked for several times max_lag.
    let quiet_until = Instant::now() + max_lag * 5;
    let mut checks = 0;
    while Instant::now() < quiet_until {
        assert_eq!(replica.check(&t).await.unwrap(), TokenStatus::Active);
        checks += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(checks > 50);
    assert_eq!(
        replica.replica_direct_checks(),
        0,
        "no check of a quiet, heartbeating replica went to the database"
    );
    assert_eq!(replica.replica_snapshots(), 1, "never reconnected");
    assert_eq!(
        replica.replicated_entries(),
        0,
        "heartbeats are not revocations"
    );
}

#[tokio::test]
async fn a_replica_on_sqlite_is_a_configuration_error() {
    let store = common::store(&common::fresh_sqlite(), Arc::new(SystemClock)).await;
    let err = store
        .with_replica(ReplicaConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ReplicaError::NotPostgres), "{err}");
    assert!(err.to_string().contains("postgres://"), "{err}");
}

/// Polls `store` until it refuses `t`; panics after 2 s.
async fn refused_soon(store: &SqlStore, t: &TokenRef<'_>, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while store.check(t).await.unwrap() != TokenStatus::Revoked {
        assert!(
            Instant::now() < deadline,
            "{what} never reached the other instance"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuse_detection_and_log_out_everywhere_reach_the_other_instance() {
    use auth_core::store::{RefreshFamilies, Rotation};
    let url = common::fresh_postgres().await;
    let a = replica(&url, ReplicaConfig::default()).await;
    let b = replica(&url, ReplicaConfig::default()).await;
    let t = now();
    a.start("ru", "fam-reuse", "r1", t + 600).await.unwrap();
    a.start("lu", "fam-user", "q1", t + 600).await.unwrap();
    let in_family = TokenRef {
        iss: "i",
        jti: "a1",
        sid: "fam-reuse",
        sub: "ru",
        iat: t,
        exp: t + 600,
    };
    assert_eq!(b.check(&in_family).await.unwrap(), TokenStatus::Active);
    assert_eq!(
        a.rotate("ru", "fam-reuse", "r1", "r2", t + 600)
            .await
            .unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        a.rotate("ru", "fam-reuse", "r1", "r3", t + 600)
            .await
            .unwrap(),
        Rotation::Reused
    );
    refused_soon(&b, &in_family, "reuse detection").await;

    // "Log out everywhere": the cut-off, and the user's families (a token issued at the
    // cut-off itself is refused through its family only).
    let same_second = TokenRef {
        iss: "i",
        jti: "b1",
        sid: "fam-user",
        sub: "lu",
        iat: t + 5,
        exp: t + 600,
    };
    let earlier = TokenRef {
        sid: "elsewhere",
        iat: t,
        ..same_second
    };
    a.revoke_user("lu", t + 5, t + 600).await.unwrap();
    refused_soon(&b, &earlier, "the cut-off").await;
    refused_soon(&b, &same_second, "the user's families").await;
    let later = TokenRef {
        sid: "elsewhere",
        iat: t + 6,
        ..same_second
    };
    assert_eq!(b.check(&later).await.unwrap(), TokenStatus::Active);
}
