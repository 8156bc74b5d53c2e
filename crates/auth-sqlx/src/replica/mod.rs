//! Revocations replicated into each instance on Postgres, so the per-request check needs
//! no round trip.
//!
//! Every revocation write (a token, a family, a user's "log out everywhere", a family
//! revoked by refresh-token reuse) sends `pg_notify` on the schema's channel
//! (`auth_revocations_` followed by the `md5` of `current_schema()`, so two schemas on one
//! database never hear each other) in the transaction or statement that records it:
//! Postgres delivers a notification only if that write committed, and to every listener
//! in commit order. Each payload is a small JSON object carrying the row as the write left
//! it; one that would not fit Postgres's 8000-byte limit is sent as "reload" instead.
//!
//! A replica LISTENs on its own connection (`application_name` from
//! [`ReplicaConfig::application_name`]), *then* loads a snapshot of the live revocation
//! rows through the pool: every write committed before the snapshot began is in it, every
//! one committed after the LISTEN arrives as a notification (some both: applying twice is
//! harmless). After a lost connection it does the same again, since notifications sent
//! while it was away are gone.
//!
//! Heartbeat: each replica sends a notification of its own on its channel every quarter
//! of [`ReplicaConfig::max_lag`] (a one-statement `pg_notify` on a second connection of
//! its own, so a busy application pool never makes the replica stale). Postgres
//! delivers notifications in commit order, so receiving its own heartbeat proves every
//! revocation committed before that heartbeat was sent has been applied; the replica is
//! *fresh* while the last heartbeat it got back was sent within `max_lag`. A round trip on
//! the listener connection would prove as much but cannot run while it waits for a
//! notification.
//!
//! The check answers from memory only while the replica is *trusted* (a snapshot loaded
//! since the last lost connection) and *fresh*; otherwise it runs the direct statement,
//! which fails closed (503) when the database is down. The allowlist, rotation, sessions
//! and everything else stay direct.

mod listen;
mod payload;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_core::StoreError;
use auth_core::store::TokenRef;

pub(crate) use payload::{cutoff_payload, family_payload, notify, token_payload};

/// How stale a Postgres revocation replica may be before checks go to the database
/// directly, and how its listener connection is named.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReplicaConfig {
    /// Longest time since the last heartbeat came back before checks go direct
    /// (default 2 s; a heartbeat is sent every quarter of it, at least every 50 ms).
    pub max_lag: Duration,
    /// `application_name` of the listener connection (default `auth-sqlx-replica`; the
    /// heartbeat's connection adds `-heartbeat`), so an operator can find them in
    /// `pg_stat_activity`.
    pub application_name: String,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        Self {
            max_lag: Duration::from_secs(2),
            application_name: "auth-sqlx-replica".into(),
        }
    }
}

impl ReplicaConfig {
    /// Sets the longest time without a heartbeat back before checks go direct.
    pub fn max_lag(mut self, max_lag: Duration) -> Self {
        self.max_lag = max_lag;
        self
    }

    /// Sets the `application_name` of the listener connection.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    /// Between two heartbeats: a quarter of `max_lag`, at least 50 ms.
    fn heartbeat(&self) -> Duration {
        (self.max_lag / 4).max(Duration::from_millis(50))
    }
}

/// Why [`crate::SqlStore::with_replica`] could not start a replica.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicaError {
    /// The store is not on Postgres: SQLite has no LISTEN/NOTIFY.
    #[error(
        "the revocation replica needs Postgres (LISTEN/NOTIFY): use a postgres:// database or turn the replica off"
    )]
    NotPostgres,
    /// The listener or the first snapshot failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ReplicaError> for StoreError {
    fn from(e: ReplicaError) -> Self {
        match e {
            ReplicaError::Store(e) => e,
            other => StoreError::new(other.to_string()),
        }
    }
}

/// Heartbeats sent and not yet back, at most this many (older ones are forgotten).
const PENDING_BEATS: usize = 64;

/// The revoked set as the database holds it (expiries in the store clock's seconds).
#[derive(Default)]
pub(crate) struct Revoked {
    /// `iss\0jti` → expiry.
    pub(crate) tokens: HashMap<String, i64>,
    /// `sid` → until.
    pub(crate) families: HashMap<String, i64>,
    /// `sub` → (cut-off iat, until).
    pub(crate) users: HashMap<String, (i64, i64)>,
}

impl Revoked {
    pub(crate) fn token(&mut self, key: String, until: i64) {
        let e = self.tokens.entry(key).or_insert(until);
        *e = (*e).max(until);
    }

    pub(crate) fn family(&mut self, sid: String, until: i64) {
        let e = self.families.entry(sid).or_insert(until);
        *e = (*e).max(until);
    }

    /// A user's cut-off: the later cut and the later expiry of a live entry (never less
    /// than the database refuses), or the new one when the old has expired.
    pub(crate) fn user(&mut self, sub: String, cut: i64, until: i64, now: i64) {
        let e = self.users.entry(sub).or_insert((cut, until));
        if e.1 <= now {
            *e = (cut, until);
        } else {
            *e = (e.0.max(cut), e.1.max(until));
        }
    }

    fn purge(&mut self, now: i64) {
        self.tokens.retain(|_, e| *e > now);
        self.families.retain(|_, e| *e > now);
        self.users.retain(|_, (_, e)| *e > now);
    }
}

struct State {
    revoked: Revoked,
    /// A snapshot was loaded since the listener last (re)connected.
    trusted: bool,
    /// Everything committed before this instant is applied.
    heard_at: Option<Instant>,
    /// Heartbeats sent: (sequence number, when).
    beats: VecDeque<(u64, Instant)>,
}

/// One instance's copy of the revoked set.
pub(crate) struct Replica {
    state: Mutex<State>,
    config: ReplicaConfig,
    /// Tells this replica's heartbeats from other instances'.
    instance: String,
    applied: AtomicU64,
    direct: AtomicU64,
    snapshots: AtomicU64,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A token's key in the replica: `iss` NUL `jti`, built by hand (it runs per request).
pub(crate) fn pair_key(a: &str, b: &str) -> String {
    let mut key = String::with_capacity(a.len() + 1 + b.len());
    key.push_str(a);
    key.push('\0');
    key.push_str(b);
    key
}

fn instance_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Replica {
    fn new(config: ReplicaConfig) -> Self {
        Self {
            state: Mutex::new(State {
                revoked: Revoked::default(),
                trusted: false,
                heard_at: None,
                beats: VecDeque::new(),
            }),
            config,
            instance: instance_id(),
            applied: AtomicU64::new(0),
            direct: AtomicU64::new(0),
            snapshots: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The local answer at `now` (the store clock's seconds), or `None` when the replica
    /// is not trusted and fresh enough to give one (the caller then asks the database and
    /// this counts it).
    pub(crate) fn check(&self, t: &TokenRef<'_>, now: i64) -> Option<bool> {
        let s = self.lock();
        let fresh = s.trusted
            && s.heard_at
                .is_some_and(|h| h.elapsed() <= self.config.max_lag);
        if !fresh {
            drop(s);
            self.direct.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let iat = crate::int(t.iat);
        let r = &s.revoked;
        let revoked = r
            .tokens
            .get(&pair_key(t.iss, t.jti))
            .is_some_and(|e| *e > now)
            || r.families.get(t.sid).is_some_and(|e| *e > now)
            || r.users
                .get(t.sub)
                .is_some_and(|(cut, until)| *until > now && *cut > iat);
        Some(revoked)
    }

    /// Read-your-writes: this instance's own committed revocations, applied at once.
    pub(crate) fn record(&self, now: i64, apply: impl FnOnce(&mut Revoked, i64)) {
        apply(&mut self.lock().revoked, now);
    }

    /// Notifications applied so far.
    pub(crate) fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }

    /// Checks that went to the database because the replica was stale or reloading.
    pub(crate) fn direct_checks(&self) -> u64 {
        self.direct.load(Ordering::Relaxed)
    }

    /// Snapshots loaded (1 after the start, one more after each lost connection).
    pub(crate) fn snapshots(&self) -> u64 {
        self.snapshots.load(Ordering::Relaxed)
    }

    fn distrust(&self) {
        self.lock().trusted = false;
    }

    fn trusted(&self) -> bool {
        self.lock().trusted
    }

    /// Numbers the next heartbeat and remembers when it was sent.
    fn beat(&self) -> u64 {
        let mut s = self.lock();
        let seq = s.beats.back().map_or(0, |(n, _)| n + 1);
        s.beats.push_back((seq, Instant::now()));
        while s.beats.len() > PENDING_BEATS {
            s.beats.pop_front();
        }
        seq
    }

    /// Heartbeat `seq` of this instance came back: fresh as of when it was sent.
    fn beat_back(&self, seq: u64) {
        let mut s = self.lock();
        while let Some(&(n, sent)) = s.beats.front() {
            if n > seq {
                break;
            }
            s.beats.pop_front();
            if n == seq {
                s.heard_at = Some(s.heard_at.map_or(sent, |h| h.max(sent)));
            }
        }
    }

    fn purge(&self, now: i64) {
        self.lock().revoked.purge(now);
    }
}

impl crate::SqlStore {
    /// Replicates revocations into this instance (Postgres only; see
    /// [`ReplicaConfig`] and the crate docs' "Replicated revocations"): the per-request
    /// check answers from a local copy kept current by LISTEN/NOTIFY, and goes to the
    /// database whenever that copy may be stale. Loads the live revocations before
    /// returning, so the first check already knows every committed one. On SQLite:
    /// [`ReplicaError::NotPostgres`].
    pub async fn with_replica(mut self, config: ReplicaConfig) -> Result<Self, ReplicaError> {
        match &self.pool {
            #[cfg(feature = "postgres")]
            crate::Pool::Postgres(p) => {
                self.replica = Some(start(p, self.clock.clone(), config).await?);
                Ok(self)
            }
            #[cfg(feature = "sqlite")]
            crate::Pool::Sqlite(_) => {
                let _ = config;
                Err(ReplicaError::NotPostgres)
            }
        }
    }

    /// Revocations this instance's replica has applied from notifications (0 without a
    /// replica).
    pub fn replicated_entries(&self) -> u64 {
        self.replica.as_ref().map_or(0, |r| r.applied())
    }

    /// Checks that went to the database although a replica is configured (it was stale,
    /// or reloading after a lost connection); 0 without a replica. For tests and metrics.
    pub fn replica_direct_checks(&self) -> u64 {
        self.replica.as_ref().map_or(0, |r| r.direct_checks())
    }

    /// Snapshots the replica has loaded: 1 after the start, one more after each lost
    /// listener connection or reload (0 without a replica).
    pub fn replica_snapshots(&self) -> u64 {
        self.replica.as_ref().map_or(0, |r| r.snapshots())
    }
}

/// Starts a replica on `pool`: LISTEN, snapshot, then the listener and heartbeat tasks.
#[cfg(feature = "postgres")]
pub(crate) async fn start(
    pool: &sqlx::PgPool,
    clock: Arc<dyn auth_core::clock::Clock>,
    config: ReplicaConfig,
) -> Result<Arc<Replica>, StoreError> {
    listen::start(pool, clock, config).await
}
