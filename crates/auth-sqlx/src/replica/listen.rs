//! The replica's tasks on Postgres: the listener (its own connection, `LISTEN`, the
//! snapshot after every (re)connection, notifications applied as they come) and the
//! heartbeat (a notification of its own, on a connection of its own).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use auth_core::StoreError;
use auth_core::clock::Clock;
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};

use super::payload::{CHANNEL_SQL, Event, heartbeat_payload, parse};
use super::{Replica, ReplicaConfig, Revoked, pair_key};
use crate::int;

/// Between two purges of expired entries.
const PURGE_EVERY: Duration = Duration::from_secs(10);

fn replica_err(op: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::new(format!("sql replica {op}: {e}"))
}

/// What both tasks share.
struct Link {
    pool: PgPool,
    /// The listener's own pool of one connection, named for `pg_stat_activity`.
    listen_pool: PgPool,
    /// The heartbeat's own connection (named `…-heartbeat`): a busy application pool
    /// never delays a heartbeat into a stale replica.
    beat_pool: PgPool,
    channel: String,
    clock: Arc<dyn Clock>,
}

impl Link {
    fn now(&self) -> i64 {
        int(self.clock.unix_seconds())
    }

    async fn open(&self) -> Result<PgListener, StoreError> {
        let mut l = PgListener::connect_with(&self.listen_pool)
            .await
            .map_err(|e| replica_err("connect", e))?;
        l.ignore_pool_close_event(true);
        l.listen(&self.channel)
            .await
            .map_err(|e| replica_err("listen", e))?;
        Ok(l)
    }

    /// The live revocation rows. Each `SELECT` sees every write committed before it
    /// began, so before `started`.
    async fn snapshot(&self) -> Result<Revoked, StoreError> {
        let now = self.now();
        let mut out = Revoked::default();
        let tokens: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT iss, jti, expires_at FROM auth_blocked WHERE expires_at > $1")
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| replica_err("snapshot", e))?;
        for (iss, jti, until) in tokens {
            out.token(pair_key(&iss, &jti), until);
        }
        let families: Vec<(String, i64)> = sqlx::query_as(
            "SELECT sid, expires_at FROM auth_families WHERE revoked = 1 AND expires_at > $1",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| replica_err("snapshot", e))?;
        for (sid, until) in families {
            out.family(sid, until);
        }
        let users: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT sub, cutoff, expires_at FROM auth_user_cutoffs WHERE expires_at > $1",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| replica_err("snapshot", e))?;
        for (sub, cut, until) in users {
            out.user(sub, cut, until, now);
        }
        Ok(out)
    }
}

impl Replica {
    /// Loads a snapshot (the listener already LISTENs: what commits from now on arrives
    /// as notifications) and trusts the replica as of when it began.
    async fn resync(&self, link: &Link) -> Result<(), StoreError> {
        self.distrust();
        let started = Instant::now();
        let revoked = link.snapshot().await?;
        let mut s = self.lock();
        s.revoked = revoked;
        s.trusted = true;
        s.heard_at = Some(s.heard_at.map_or(started, |h| h.max(started)));
        drop(s);
        self.snapshots
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Applies one notification.
    fn apply(&self, payload: &str, now: i64) {
        let Some(event) = parse(payload) else {
            // Not ours to understand (a newer writer?): reload rather than miss it.
            tracing::warn!("sql replica: unknown notification; reloading");
            self.distrust();
            return;
        };
        let mut s = self.lock();
        match event {
            Event::Token { iss, jti, until } => s.revoked.token(pair_key(&iss, &jti), until),
            Event::Family { sid, until } => s.revoked.family(sid, until),
            Event::User { sub, cut, until } => s.revoked.user(sub, cut, until, now),
            Event::Beat { instance, seq } => {
                drop(s);
                if instance == self.instance {
                    self.beat_back(seq);
                }
                return;
            }
            Event::Reload => {
                s.trusted = false;
                return;
            }
        }
        drop(s);
        self.applied
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// LISTEN, the first snapshot, then the two tasks. Returns once the replica can answer.
pub(super) async fn start(
    pool: &PgPool,
    clock: Arc<dyn Clock>,
    config: ReplicaConfig,
) -> Result<Arc<Replica>, StoreError> {
    let channel: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {CHANNEL_SQL}")))
        .fetch_one(pool)
        .await
        .map_err(|e| replica_err("channel", e))?;
    let one = |name: &str| {
        let options = (*pool.connect_options()).clone().application_name(name);
        PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options)
    };
    let link = Arc::new(Link {
        pool: pool.clone(),
        listen_pool: one(&config.application_name),
        beat_pool: one(&format!("{}-heartbeat", config.application_name)),
        channel,
        clock,
    });
    let replica = Arc::new(Replica::new(config));
    let listener = link.open().await?;
    replica.resync(&link).await?;
    tokio::spawn(listen_loop(
        Arc::downgrade(&replica),
        link.clone(),
        listener,
    ));
    tokio::spawn(heartbeat_loop(Arc::downgrade(&replica), link));
    Ok(replica)
}

/// Waits for notifications and applies them; after a lost connection (or a silence
/// longer than twice `max_lag`, when even heartbeats stopped) opens a new listener and
/// loads a new snapshot. Ends when the store is dropped.
async fn listen_loop(replica: Weak<Replica>, link: Arc<Link>, listener: PgListener) {
    let mut listener = Some(listener);
    loop {
        let Some(r) = replica.upgrade() else {
            return; // the store is gone
        };
        let silence = (r.config.max_lag * 2).max(Duration::from_secs(1));
        if listener.is_none() {
            match link.open().await {
                Ok(l) => listener = Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "sql replica: cannot listen; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            continue;
        }
        if !r.trusted() {
            match r.resync(&link).await {
                Ok(()) => tracing::info!("sql replica: snapshot loaded; answering locally again"),
                Err(e) => {
                    tracing::warn!(error = %e, "sql replica: snapshot failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            continue;
        }
        let Some(l) = listener.as_mut() else { continue };
        drop(r);
        let got = tokio::time::timeout(silence, l.try_recv()).await;
        let Some(r) = replica.upgrade() else {
            return;
        };
        match got {
            Ok(Ok(Some(n))) => {
                let now = link.now();
                r.apply(n.payload(), now);
                while let Some(n) = l.next_buffered() {
                    r.apply(n.payload(), now);
                }
            }
            // Lost and already reconnected (sqlx LISTENs again): what was sent meanwhile
            // is gone, so reload.
            Ok(Ok(None)) => {
                tracing::warn!("sql replica: listener connection lost; reloading");
                r.distrust();
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "sql replica: listener failed; reconnecting");
                r.distrust();
                listener = None;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(_) => {
                tracing::warn!("sql replica: nothing heard, not even heartbeats; reconnecting");
                r.distrust();
                listener = None;
            }
        }
    }
}

/// Sends this replica's heartbeat every quarter of `max_lag` and drops expired entries
/// now and then. Ends when the store is dropped.
async fn heartbeat_loop(replica: Weak<Replica>, link: Arc<Link>) {
    let Some(every) = replica.upgrade().map(|r| r.config.heartbeat()) else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_purge = Instant::now();
    loop {
        tick.tick().await;
        let Some(r) = replica.upgrade() else {
            return;
        };
        let payload = heartbeat_payload(&r.instance, r.beat());
        if last_purge.elapsed() > PURGE_EVERY {
            r.purge(link.now());
            last_purge = Instant::now();
        }
        drop(r);
        let sent = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT count(pg_notify({CHANNEL_SQL}, $1))"
        )))
        .bind(payload)
        .execute(&link.beat_pool)
        .await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "sql replica: heartbeat not sent");
        }
    }
}
