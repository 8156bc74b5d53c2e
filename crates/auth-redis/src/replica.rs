//! Revocations replicated into each instance, so the per-request check needs no round
//! trip.
//!
//! Every revocation (a token, a family, a user's "log out everywhere", a family revoked
//! by refresh-token reuse) is appended, in the same atomic script that records it, to the
//! stream `NS:revocations`. Each instance with a replica reads the stream with `XREAD
//! BLOCK` on its own connection, applies entries to a local set, and resumes from its
//! last id after a reconnect, so nothing is missed. Its own revocations are applied
//! locally at once (read-your-writes).
//!
//! The check answers from the local set only while the replica is *fresh*: it heard from
//! Redis (an entry or an empty `XREAD` timeout) within [`ReplicaConfig::max_lag`], and it
//! has every entry since it started (the stream was not trimmed past its position).
//! Otherwise the check falls back to the direct one-round-trip script, which fails closed
//! (503) when Redis is down. Refresh rotation, sessions and the allowlist stay direct.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use auth_core::StoreError;
use auth_core::store::TokenRef;
use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands as _, Value};

/// How stale a replica may be before checks go to Redis directly.
#[derive(Debug, Clone, Copy)]
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

/// Entries kept in the stream (approximate trim). A replica that falls behind past the
/// trim point cannot know what it missed and stays on direct checks.
pub(crate) const STREAM_MAXLEN: u64 = 1_000_000;

#[derive(Default)]
struct State {
    /// `iss\0jti` → expiry (ms).
    tokens: HashMap<String, u64>,
    /// `sub\0sid` → until (ms).
    families: HashMap<String, u64>,
    /// `sub` → (cut-off iat in s, until in ms).
    users: HashMap<String, (u64, u64)>,
    last_id: String,
    heard_at: Option<Instant>,
    /// Entries may have been missed (trimmed away while disconnected).
    gap: bool,
    applied: u64,
}

pub(crate) struct Replica {
    state: Mutex<State>,
    config: ReplicaConfig,
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
            "u" => {
                let cut = num("a");
                let until = num("e");
                let entry = self.users.entry(sub).or_insert((0, 0));
                entry.0 = entry.0.max(cut);
                entry.1 = entry.1.max(until);
            }
            _ => {}
        }
        self.applied += 1;
    }

    fn purge(&mut self) {
        let now = now_ms();
        self.tokens.retain(|_, e| *e > now);
        self.families.retain(|_, e| *e > now);
        self.users.retain(|_, (_, e)| *e > now);
    }
}

impl Replica {
    /// Connects, reads the whole stream, and starts the reader task.
    pub(crate) async fn start(
        client: redis::Client,
        stream: String,
        config: ReplicaConfig,
    ) -> Result<Arc<Self>, StoreError> {
        let replica = Arc::new(Self {
            state: Mutex::new(State {
                last_id: "0-0".into(),
                ..State::default()
            }),
            config,
        });
        let mut conn = reader_connection(&client, &config)
            .await
            .map_err(|e| StoreError::new(format!("redis replica connect: {e}")))?;
        // Catch up in pages before serving, so a fresh instance never answers from an
        // empty set.
        loop {
            let last = replica.lock().last_id.clone();
            let page: StreamRangeReply = conn
                .xrange_count(&stream, format!("({last}"), "+", 10_000)
                .await
                .map_err(|e| StoreError::new(format!("redis replica catch-up: {e}")))?;
            let n = page.ids.len();
            {
                let mut s = replica.lock();
                for entry in &page.ids {
                    s.apply(&entry.map);
                    s.last_id = entry.id.clone();
                }
                s.heard_at = Some(Instant::now());
            }
            if n < 10_000 {
                break;
            }
        }
        tokio::spawn(read_loop(
            Arc::downgrade(&replica),
            client,
            conn,
            stream,
            config,
        ));
        Ok(replica)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The local answer, or `None` when the replica is not fresh enough to give one.
    pub(crate) fn check(&self, t: &TokenRef<'_>) -> Option<bool> {
        let s = self.lock();
        let fresh = !s.gap
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
            _ => {
                let e = s.users.entry(sub.to_string()).or_insert((0, 0));
                e.0 = e.0.max(extra);
                e.1 = e.1.max(until_ms);
            }
        }
    }

    /// Entries applied from the stream so far (for tests and metrics).
    pub(crate) fn applied(&self) -> u64 {
        self.lock().applied
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

/// How long the reader's `XREAD` blocks: a quarter of `max_lag`, at least 50 ms.
fn block_time(config: &ReplicaConfig) -> Duration {
    (config.max_lag / 4).max(Duration::from_millis(50))
}

/// The reader's own connection. Its response timeout must outlast the `XREAD` block (the
/// client's default, 500 ms, equals the default block: every quiet read would fail and
/// the replica would go stale); a server that does not answer within block + `max_lag`
/// is treated as gone.
async fn reader_connection(
    client: &redis::Client,
    config: &ReplicaConfig,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let timeouts = redis::AsyncConnectionConfig::new()
        .set_response_timeout(Some(block_time(config) + config.max_lag));
    client
        .get_multiplexed_async_connection_with_config(&timeouts)
        .await
}

async fn read_loop(
    replica: Weak<Replica>,
    client: redis::Client,
    mut conn: redis::aio::MultiplexedConnection,
    stream: String,
    config: ReplicaConfig,
) {
    let block = block_time(&config);
    let mut last_purge = Instant::now();
    loop {
        let Some(r) = replica.upgrade() else {
            return; // the store is gone
        };
        let last = r.lock().last_id.clone();
        let opts = StreamReadOptions::default()
            .block(usize::try_from(block.as_millis()).unwrap_or(500))
            .count(1000);
        drop(r);
        let read: Result<Option<StreamReadReply>, _> =
            conn.xread_options(&[&stream], &[&last], &opts).await;
        let Some(r) = replica.upgrade() else {
            return;
        };
        match read {
            Ok(reply) => {
                let mut s = r.lock();
                for key in reply.map(|r| r.keys).unwrap_or_default() {
                    for entry in key.ids {
                        s.apply(&entry.map);
                        s.last_id = entry.id;
                    }
                }
                s.heard_at = Some(Instant::now());
                if last_purge.elapsed() > Duration::from_secs(10) {
                    s.purge();
                    last_purge = Instant::now();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "redis replica: read failed; reconnecting");
                drop(r);
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Ok(c) = reader_connection(&client, &config).await {
                    conn = c;
                    // Entries trimmed past our position while we were away cannot be
                    // replayed: stay on direct checks from then on.
                    let first: Result<StreamRangeReply, _> =
                        conn.xrange_count(&stream, "-", "+", 1).await;
                    if let (Ok(first), Some(r)) = (first, replica.upgrade()) {
                        let mut s = r.lock();
                        if let Some(oldest) = first.ids.first()
                            && s.last_id != "0-0"
                            && id_before(&s.last_id, &oldest.id)
                        {
                            tracing::error!(
                                "redis replica: the stream was trimmed past this instance; using direct checks"
                            );
                            s.gap = true;
                        }
                    }
                }
            }
        }
    }
}

/// Whether stream id `a` is strictly before `b`, and not adjacent (some entry between
/// them may be missing).
fn id_before(a: &str, b: &str) -> bool {
    let parse = |id: &str| {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        (
            ms.parse::<u64>().unwrap_or(0),
            seq.parse::<u64>().unwrap_or(0),
        )
    };
    parse(a) < parse(b)
}
