//! Revocations replicated into each instance, so the per-request check needs no round
//! trip.
//!
//! Every revocation (a token, a family, a user's "log out everywhere", a family revoked
//! by refresh-token reuse) is appended, in the same atomic script that records it (on a
//! Redis Cluster, where the stream is in a slot of its own: right after that script), to
//! the stream `NS:revocations`. Each instance with a replica reads the stream with `XREAD
//! BLOCK` on its own connection, applies entries to a local set, and resumes from its
//! last id after a reconnect. Its own revocations are applied locally at once
//! (read-your-writes).
//!
//! The stream is trimmed, so it cannot be the whole history: a replica first loads the
//! whole revoked set from the keys that hold it (a *snapshot*: `SCAN` of the namespace's
//! blocked `jti`s, revoked families and user cut-offs, on every primary of a cluster),
//! then reads the stream from a
//! position taken *before* the snapshot, so nothing written during the snapshot is
//! missed. After every read it compares its position with the stream (`XINFO STREAM`):
//! if an entry it had not read was trimmed or deleted, or the stream was deleted or
//! recreated, it takes a new snapshot the same way.
//!
//! The check answers from the local set only while the replica is *trusted* and
//! *fresh*: its last snapshot and the stream since are applied with no gap found, and it
//! heard from Redis (an entry or an empty `XREAD` timeout, then a gap check) within
//! [`ReplicaConfig::max_lag`]. Otherwise the check falls back to the direct
//! one-round-trip script, which fails closed (503) when Redis is down. Refresh rotation,
//! sessions and the allowlist stay direct.

mod snapshot;
mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_core::StoreError;
use auth_core::store::TokenRef;

use crate::conn::{Opener, ReaderConnection};
use redis::streams::StreamRangeReply;
use redis::{AsyncCommands as _, Value};
use stream::{gap, read_loop, reader_connection, stream_info};

/// How stale a replica may be before checks go to Redis directly.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ReplicaConfig {
    /// Longest time without hearing from Redis (default 2 s; the reader blocks at most
    /// a quarter of it per `XREAD`).
    pub max_lag: Duration,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        Self {
            max_lag: Duration::from_secs(2),
        }
    }
}

impl ReplicaConfig {
    /// Sets the longest time without hearing from Redis before checks go direct (the
    /// reader blocks at most a quarter of it per `XREAD`).
    pub fn max_lag(mut self, max_lag: Duration) -> Self {
        self.max_lag = max_lag;
        self
    }
}

/// Entries kept in the stream (approximate trim). A replica that falls behind past the
/// trim point takes a new snapshot.
pub(crate) const STREAM_MAXLEN: u64 = 1_000_000;

/// Entries per `XRANGE` page when catching up after a snapshot.
const CATCH_UP_PAGE: usize = 10_000;

#[derive(Default)]
struct State {
    /// `iss\0jti` → expiry (ms).
    tokens: HashMap<String, u64>,
    /// `sub\0sid` → until (ms).
    families: HashMap<String, u64>,
    /// `sub` → (cut-off iat in s, until in ms).
    users: HashMap<String, (u64, u64)>,
    /// Id of the last stream entry read (or the stream's position when the last
    /// snapshot began).
    last_id: String,
    /// The stream's `entries-added` count at `last_id`: how many entries were ever
    /// appended up to it.
    counted: u64,
    heard_at: Option<Instant>,
    /// A snapshot and every stream entry since it are applied, and no gap was found
    /// since. Only the end of a complete snapshot sets it; a gap clears it.
    trusted: bool,
    applied: u64,
}

pub(crate) struct Replica {
    state: Mutex<State>,
    config: ReplicaConfig,
    /// `NS:revocations`.
    stream: String,
    /// `NS:{u:`, the start of every key that records a user's revocations.
    user_prefix: String,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn field(map: &HashMap<String, Value>, name: &str) -> Option<String> {
    match map.get(name)? {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn replica_err(op: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::new(format!("redis replica {op}: {e}"))
}

impl State {
    fn apply(&mut self, map: &HashMap<String, Value>) {
        let num = |n: &str| {
            field(map, n)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let (Some(kind), Some(sub)) = (field(map, "k"), field(map, "s")) else {
            return;
        };
        match kind.as_str() {
            "t" => {
                if let (Some(iss), Some(jti)) = (field(map, "i"), field(map, "j")) {
                    self.tokens.insert(pair_key(&iss, &jti), num("e"));
                }
            }
            "f" => {
                if let Some(sid) = field(map, "i") {
                    self.families.insert(pair_key(&sub, &sid), num("e"));
                }
            }
            "u" => self.user(sub, num("a"), num("e")),
            _ => {}
        }
        self.applied += 1;
    }

    fn user(&mut self, sub: String, cut: u64, until: u64) {
        let entry = self.users.entry(sub).or_insert((0, 0));
        entry.0 = entry.0.max(cut);
        entry.1 = entry.1.max(until);
    }

    /// Applies stream entries read after `last_id`, in order.
    fn apply_entries(&mut self, entries: Vec<redis::streams::StreamId>) {
        for entry in entries {
            self.apply(&entry.map);
            self.last_id = entry.id;
            self.counted += 1;
        }
    }

    fn purge(&mut self) {
        let now = now_ms();
        self.tokens.retain(|_, e| *e > now);
        self.families.retain(|_, e| *e > now);
        self.users.retain(|_, (_, e)| *e > now);
    }
}

impl Replica {
    /// Connects, takes a snapshot of the revoked set and reads the stream since, and
    /// starts the reader task.
    pub(crate) async fn start(
        opener: Opener,
        namespace: &str,
        config: ReplicaConfig,
    ) -> Result<Arc<Self>, StoreError> {
        let replica = Arc::new(Self {
            state: Mutex::new(State {
                last_id: "0-0".into(),
                ..State::default()
            }),
            config,
            stream: format!("{namespace}:revocations"),
            user_prefix: format!("{namespace}:{{u:"),
        });
        let mut conn = reader_connection(&opener, &config)
            .await
            .map_err(|e| replica_err("connect", e))?;
        // Before serving, so a fresh instance never answers from an empty set. Should the
        // stream be trimmed past the snapshot's position meanwhile, the replica starts
        // untrusted (checks go direct) and the reader takes another snapshot.
        replica.resync(&mut conn).await?;
        tokio::spawn(read_loop(Arc::downgrade(&replica), opener, conn, config));
        Ok(replica)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The local answer, or `None` when the replica is not trusted and fresh enough to
    /// give one.
    pub(crate) fn check(&self, t: &TokenRef<'_>) -> Option<bool> {
        let s = self.lock();
        let fresh = s.trusted
            && s.heard_at
                .is_some_and(|h| h.elapsed() <= self.config.max_lag);
        if !fresh {
            return None;
        }
        let now = now_ms();
        let live = |until: Option<&u64>| until.is_some_and(|u| *u > now);
        let revoked = live(s.tokens.get(&pair_key(t.iss, t.jti)))
            || live(s.families.get(&pair_key(t.sub, t.sid)))
            || s.users
                .get(t.sub)
                .is_some_and(|(cut, until)| *until > now && t.iat < *cut);
        Some(revoked)
    }

    /// Read-your-writes: this instance's own revocation, applied at once.
    pub(crate) fn record(
        &self,
        kind: &str,
        sub: &str,
        ident: (&str, &str),
        extra: u64,
        until_ms: u64,
    ) {
        let mut s = self.lock();
        match kind {
            "t" => {
                s.tokens.insert(pair_key(ident.0, ident.1), until_ms);
            }
            "f" => {
                s.families.insert(pair_key(sub, ident.0), until_ms);
            }
            _ => s.user(sub.to_string(), extra, until_ms),
        }
    }

    /// Entries applied from the stream so far (for tests and metrics).
    pub(crate) fn applied(&self) -> u64 {
        self.lock().applied
    }

    /// Loads the whole revoked set, then the stream since a position taken before it;
    /// trusted at the end unless the stream lost entries after that position meanwhile.
    /// Answers whether the replica is trusted now.
    async fn resync(&self, conn: &mut ReaderConnection) -> Result<bool, StoreError> {
        self.lock().trusted = false;
        // 1. The position first: every revocation appended up to it was recorded in its
        //    key before (the same atomic script), so the snapshot below sees it.
        let (from_id, from_count) = match stream_info(conn, &self.stream).await? {
            Some(info) => (info.last_generated, info.entries_added),
            None => ("0-0".to_string(), 0),
        };
        // 2. The snapshot.
        self.snapshot(conn).await?;
        // 3. Everything appended since the position.
        {
            let mut s = self.lock();
            s.last_id.clone_from(&from_id);
            s.counted = from_count;
        }
        loop {
            let last = self.lock().last_id.clone();
            let page: StreamRangeReply = conn
                .xrange_count(&self.stream, format!("({last}"), "+", CATCH_UP_PAGE)
                .await
                .map_err(|e| replica_err("catch-up", e))?;
            let n = page.ids.len();
            self.lock().apply_entries(page.ids);
            if n < CATCH_UP_PAGE {
                break;
            }
        }
        // 4. Nothing after the position may have gone before it was read.
        let info = stream_info(conn, &self.stream).await?;
        if let Some(why) = gap(&from_id, from_count, info.as_ref()) {
            tracing::warn!(
                "redis replica: {why} during the snapshot; checks stay direct until the next one completes"
            );
            return Ok(false);
        }
        let mut s = self.lock();
        s.trusted = true;
        s.heard_at = Some(Instant::now());
        Ok(true)
    }
}

/// `a` NUL `b`, the replica's key for a token or a family; built by hand (no `format!`):
/// it runs on every request.
fn pair_key(a: &str, b: &str) -> String {
    let mut key = String::with_capacity(a.len() + 1 + b.len());
    key.push_str(a);
    key.push('\0');
    key.push_str(b);
    key
}
