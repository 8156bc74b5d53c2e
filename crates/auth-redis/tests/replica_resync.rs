//! A replica that cannot replay every revocation from the stream (it started after the
//! stream was trimmed, or the stream was trimmed past its position while it was away or
//! behind) must load the whole revoked set from Redis before it answers a check on its
//! own. Each test runs its own `redis-server`, so the command counts it reads (to tell a
//! local answer from a direct one) are ours alone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a test fails by panicking

mod common;

use std::time::{Duration, Instant};

use auth_core::store::{Revocations, TokenRef, TokenStatus};
use auth_redis::{RedisStore, ReplicaConfig};
use redis::aio::MultiplexedConnection;

const MAX_LAG: Duration = Duration::from_millis(800);

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token of `sub` issued at `iat`, valid for 10 minutes.
fn token<'a>(iss: &'a str, jti: &'a str, sid: &'a str, sub: &'a str, iat: u64) -> TokenRef<'a> {
    TokenRef {
        iss,
        jti,
        sid,
        sub,
        iat,
        exp: now() + 600,
    }
}

async fn admin(server: &common::OwnServer) -> MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn evalsha_calls(c: &mut MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(c)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:"))
        .and_then(|rest| {
            rest.split(',')
                .find_map(|kv| kv.strip_prefix("calls="))?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Checks every token on `store`: their statuses, and whether the store answered them all
/// locally (no `EVALSHA` of the direct check reached the server).
async fn check_all(
    store: &RedisStore,
    admin: &mut MultiplexedConnection,
    tokens: &[TokenRef<'_>],
) -> (Vec<TokenStatus>, bool) {
    let before = evalsha_calls(admin).await;
    let mut statuses = Vec::new();
    for t in tokens {
        statuses.push(store.check(t).await.unwrap());
    }
    let local = evalsha_calls(admin).await == before;
    (statuses, local)
}

/// Polls until the replica answers locally, asserting on every poll (direct or local)
/// that every status is the expected one.
async fn until_local(
    store: &RedisStore,
    admin: &mut MultiplexedConnection,
    tokens: &[TokenRef<'_>],
    expected: &[TokenStatus],
    what: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (statuses, local) = check_all(store, admin, tokens).await;
        assert_eq!(statuses, expected, "{what} (answered locally: {local})");
        if local {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the replica never became trusted again"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The replica's reader connection on `admin`'s server (the one blocked in `XREAD`, or
/// between two reads), if connected.
async fn reader_id(admin: &mut MultiplexedConnection) -> Option<u64> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(admin)
        .await
        .unwrap();
    let ids: Vec<u64> = list
        .lines()
        .filter(|l| l.contains(" cmd=xread ") || l.contains(" cmd=xinfo"))
        .filter_map(|l| l.strip_prefix("id=")?.split(' ').next()?.parse().ok())
        .collect();
    assert!(ids.len() <= 1, "one reader: {list}");
    ids.first().copied()
}

/// Revoked through one store: a token, a family and a user, with identifiers the key
/// layout has to encode (`:`, `/`, `{`, non-ASCII).
struct Revoked {
    cut: u64,
}

impl Revoked {
    async fn write(store: &RedisStore) -> Self {
        let t = now();
        store
            .revoke_token(&token("https://iss.example/", "jti:1", "s-a", "{u}1", t))
            .await
            .unwrap();
        store.revoke_family("u2", "sid/2", t + 600).await.unwrap();
        store.revoke_user("ü3", t + 1, t + 600).await.unwrap();
        Self { cut: t + 1 }
    }

    /// Revoked (token, family, user), then live (another token, another family, a token
    /// of the user issued after the cut-off).
    fn tokens(&self) -> Vec<TokenRef<'static>> {
        let t = now();
        vec![
            token("https://iss.example/", "jti:1", "s-a", "{u}1", t),
            token("i", "any", "sid/2", "u2", t),
            token("i", "old", "s3", "ü3", self.cut - 1),
            token("https://iss.example/", "jti:2", "s-a", "{u}1", t),
            token("i", "any", "sid/3", "u2", t),
            token("i", "new", "s3", "ü3", self.cut + 1),
        ]
    }

    fn expected() -> Vec<TokenStatus> {
        use TokenStatus::{Active, Revoked};
        vec![Revoked, Revoked, Revoked, Active, Active, Active]
    }
}

/// 200 000 keys of no interest, so that a snapshot (`SCAN` visits every key) takes a
/// while.
async fn fill(admin: &mut MultiplexedConnection) {
    for chunk in 0..200 {
        let mut mset = redis::cmd("MSET");
        for i in 0..1000 {
            mset.arg(format!("filler:{chunk}:{i}")).arg(1);
        }
        let _: () = mset.query_async(admin).await.unwrap();
    }
}

async fn trim_all(admin: &mut MultiplexedConnection, stream: &str) {
    let _: i64 = redis::cmd("XTRIM")
        .arg(stream)
        .arg("MAXLEN")
        .arg(0)
        .query_async(admin)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_started_after_the_stream_was_trimmed_refuses_what_was_revoked() {
    let server = common::OwnServer::start();
    let mut admin = admin(&server).await;
    let writer = RedisStore::connect(&server.url(), "resync").await.unwrap();
    let revoked = Revoked::write(&writer).await;
    trim_all(&mut admin, "resync:revocations").await; // the entries are gone

    let replica = RedisStore::connect(&server.url(), "resync")
        .await
        .unwrap()
        .with_replica(ReplicaConfig::default())
        .await
        .unwrap();
    let (statuses, local) = check_all(&replica, &mut admin, &revoked.tokens()).await;
    assert_eq!(statuses, Revoked::expected(), "answered locally: {local}");
    assert!(
        local,
        "a replica that finished its snapshot answers locally"
    );
}

/// The reader loses its connection, and cannot reconnect, while another instance revokes
/// and the stream is trimmed past the reader's position; once it is back it must notice
/// the gap and load the revoked set again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_missed_trimmed_entries_while_away_resyncs() {
    let server = common::OwnServer::start();
    let mut admin = admin(&server).await;
    let writer = RedisStore::connect(&server.url(), "away").await.unwrap();
    let replica = RedisStore::connect(&server.url(), "away")
        .await
        .unwrap()
        .with_replica(ReplicaConfig::default().max_lag(MAX_LAG))
        .await
        .unwrap();
    let t = now();
    let before = token("i", "before", "s0", "u0", t);
    writer.revoke_token(&before).await.unwrap();
    // A fresh replica answers from its copy, which the stream reaches shortly after the
    // write (the documented propagation delay): wait for it before asserting every poll.
    let deadline = Instant::now() + Duration::from_secs(2);
    while replica.check(&before).await.unwrap() != TokenStatus::Revoked {
        assert!(
            Instant::now() < deadline,
            "the revocation never reached the replica"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    until_local(
        &replica,
        &mut admin,
        &[before],
        &[TokenStatus::Revoked],
        "revoked before the disconnection",
    )
    .await;

    // Cut the reader off and keep it out (no new connection is accepted).
    let reader = reader_id(&mut admin)
        .await
        .expect("the reader is connected");
    let info: String = redis::cmd("INFO")
        .arg("clients")
        .query_async(&mut admin)
        .await
        .unwrap();
    let connected: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let killed = Instant::now();
    let _: () = redis::pipe()
        .cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(reader)
        .ignore()
        .cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg(connected - 1)
        .ignore()
        .query_async(&mut admin)
        .await
        .unwrap();

    let revoked = Revoked::write(&writer).await;
    trim_all(&mut admin, "away:revocations").await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg(10_000)
        .query_async(&mut admin)
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(15);
    while reader_id(&mut admin).await.is_none() {
        assert!(Instant::now() < deadline, "the reader did not reconnect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Within `max_lag` of its last read a replica may answer from what it had then (its
    // documented lag); from then on it must know what it missed.
    tokio::time::sleep(
        (killed + MAX_LAG + Duration::from_millis(100)).saturating_duration_since(Instant::now()),
    )
    .await;
    let mut tokens = revoked.tokens();
    tokens.push(before);
    let mut expected = Revoked::expected();
    expected.push(TokenStatus::Revoked);
    until_local(
        &replica,
        &mut admin,
        &tokens,
        &expected,
        "revoked while the replica was away, then trimmed",
    )
    .await;
}

/// The stream is trimmed past the reader's position while it stays connected (an entry
/// appended and trimmed away in one transaction, before the blocked reader is served):
/// the reader must notice the gap on its next read and load the revoked set again. The
/// keyspace is large, so the snapshot takes a while: no check may answer from the replica
/// before it is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_stream_is_trimmed_past_it_while_connected_resyncs() {
    let server = common::OwnServer::start();
    let mut admin = admin(&server).await;
    fill(&mut admin).await;
    let replica = RedisStore::connect(&server.url(), "live")
        .await
        .unwrap()
        .with_replica(ReplicaConfig::default().max_lag(MAX_LAG))
        .await
        .unwrap();
    let t = now();
    let missed = token("i", "missed", "s", "u", t);
    let live = token("i", "live", "s", "u", t);
    until_local(
        &replica,
        &mut admin,
        &[missed, live],
        &[TokenStatus::Active, TokenStatus::Active],
        "nothing revoked yet",
    )
    .await;

    // What `revoke_token` writes (the documented key layout), and the trim, in one
    // transaction: the reader can never read the entry.
    let exp_ms = missed.exp * 1000;
    let _: () = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("live:{u:u}:jti:i:missed")
        .arg(1)
        .arg("PXAT")
        .arg(exp_ms)
        .ignore()
        .cmd("XADD")
        .arg("live:revocations")
        .arg("*")
        .arg(&["k", "t", "s", "u", "i", "i", "j", "missed", "e"])
        .arg(exp_ms)
        .ignore()
        .cmd("XTRIM")
        .arg("live:revocations")
        .arg("MAXLEN")
        .arg(0)
        .ignore()
        .query_async(&mut admin)
        .await
        .unwrap();

    // Within its lag the replica may still answer from what it had; once its next read
    // finds the gap it must stop answering on its own (checks go direct)...
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, local) = check_all(&replica, &mut admin, &[missed, live]).await;
        if !local {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never noticed the entry trimmed past it"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ... until its snapshot is complete, which knows the revocation.
    until_local(
        &replica,
        &mut admin,
        &[missed, live],
        &[TokenStatus::Revoked, TokenStatus::Active],
        "revoked and trimmed away before the reader saw it",
    )
    .await;
}

/// Another instance keeps revoking while a replica starts on a keyspace large enough for
/// its snapshot to take a while: every revocation is seen, whether the snapshot's `SCAN`
/// had already passed its key or not (the stream is read from a position taken before
/// the snapshot began).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_made_during_the_snapshot_are_not_missed() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let server = common::OwnServer::start();
    let mut admin = admin(&server).await;
    fill(&mut admin).await;
    let writer = RedisStore::connect(&server.url(), "during").await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let jtis: Vec<String> = (0..100_000).map(|i| format!("w{i}")).collect();
    let jtis = Arc::new(jtis);
    let writing = {
        let (stop, jtis) = (stop.clone(), jtis.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < jtis.len() {
                let t = token("i", &jtis[n], "s", "u", now());
                writer.revoke_token(&t).await.unwrap();
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let replica = RedisStore::connect(&server.url(), "during")
        .await
        .unwrap()
        .with_replica(ReplicaConfig::default().max_lag(MAX_LAG))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, Ordering::Relaxed);
    let written = writing.await.unwrap();
    assert!(written > 100, "the writer kept writing: {written}");
    let tokens: Vec<TokenRef<'_>> = jtis[..written]
        .iter()
        .map(|j| token("i", j, "s", "u", now()))
        .collect();
    // Replication takes a moment (a missed revocation would stay missed: it is not in the
    // stream after the replica's position, and no gap would make it look again).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (statuses, local) = check_all(&replica, &mut admin, &tokens).await;
        let active = statuses
            .iter()
            .filter(|s| **s == TokenStatus::Active)
            .count();
        if local && active == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{active} of {written} revocations made during the snapshot are missing (local: {local})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
