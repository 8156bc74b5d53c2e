//! # auth-redis
//!
//! The Redis backend of `auth-core`'s state stores, for teams that run several instances
//! behind a load balancer: sessions, revocations, refresh families and login-throttle
//! counters live in one Redis, so a logout on one instance is refused by every other at
//! once, and a refresh rotation or a session change is seen everywhere.
//!
//! Give it to the builder, and every part of the `Auth` (tokens, sessions, throttling,
//! third-party login) keeps its state there:
//!
//! ```no_run
//! # async fn run(users: std::sync::Arc<auth_core::credential::MemoryUsers>) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use auth_redis::RedisStore;
//!
//! let store = RedisStore::connect("redis://127.0.0.1:6379", "myapp").await?;
//! // or RedisStore::connect_cluster(&["redis://node-1:6379".into()], "myapp"), or rediss://
//! let auth = auth_core::AuthBuilder::new(b"access-secret-of-at-least-32-bytes", b"refresh-secret-of-at-least-32-byte")
//!     .users(users)
//!     .store(Arc::new(store))
//!     .build()?;
//! # let _ = auth; Ok(()) }
//! ```
//!
//! ## Keys
//!
//! Every key starts with the namespace given to [`RedisStore::connect`]. Keys carry TTLs
//! equal to the lifetime of what they record (a blocked `jti` until the token's `exp`, a
//! family until its refresh token's `exp`), so Redis forgets them on time; no request path
//! ever scans keys (`KEYS`/`SCAN`): only a replica's snapshot does, in the background
//! (see below).
//!
//! | key | type | what |
//! |---|---|---|
//! | `NS:{u:USER}:jti:ISS:JTI` | string | a blocked token (by identity, never by its bytes) |
//! | `NS:{u:USER}:fam:SID` | hash | a refresh family: `current`, `created`, `last_used`, `revoked` |
//! | `NS:{u:USER}:fams` | set | the user's live families |
//! | `NS:{u:USER}:cut` | string | "log out everywhere" cut-off (tokens with `iat` before it are refused) |
//! | `NS:{u:USER}:sess` | set | the user's session keys |
//! | `NS:{s:DIGEST}:sess` | hash | a session (`record`, `last_seen`, `expires_at`) |
//! | `NS:{c:KEY}:ctr` | hash | a throttle counter (`count`, `last`) |
//! | `NS:revocations` | stream | every revocation, appended by the script that records it (on a cluster: right after it; trimmed to about 1 000 000 entries) |
//!
//! ## Replicated revocations
//!
//! [`RedisStore::with_replica`] keeps a copy of the revocations in the instance, fed by
//! `XREAD BLOCK` on the stream (resuming from its last id after a reconnect), so the
//! per-request check costs no round trip (0.43 µs against 94 µs for the direct script on
//! loopback; a revocation on one instance is refused by another 0.27 ms p50 / 0.82 ms p99
//! later: `bench-replication`, run by `cargo xtask bench`). The stream is trimmed, so it
//! is not the whole history: a replica starts from a snapshot of the revoked set (a
//! `SCAN`, `COUNT` 1000, of the namespace's blocked `jti`s, revoked families and user
//! cut-offs), then reads the stream from a position taken before the snapshot. After
//! every read it checks the stream (`XINFO STREAM`) for entries it never read that are
//! gone (trimmed or deleted past its position, e.g. while it was disconnected or far
//! behind; the stream deleted or recreated) and then takes a new snapshot. It answers
//! only while trusted (its last snapshot and the stream since applied, no gap found) and
//! fresh (heard from Redis within [`ReplicaConfig::max_lag`]); otherwise the check goes
//! direct and fails closed when Redis is down. Needs Redis 7.0 or later, as the scripts
//! do (`PEXPIRETIME`).
//! Rotation, sessions, counters and the allowlist always go direct.
//!
//! ## Redis Cluster
//!
//! [`RedisStore::connect_cluster`] (or [`RedisStore::connect_to`] with
//! [`Server::Cluster`]) talks to a Redis Cluster through the `redis` crate's async
//! cluster client: each command goes to its slot's primary, `MOVED`/`ASK` (resharding,
//! failover) are followed and the slot map refreshed, never surfaced.
//!
//! Everything one user's tokens touch shares the hash tag `{u:USER}`, so it lives in one
//! slot: the per-request check (blocked `jti`, revoked family, user cut-off) is one Lua
//! script, and rotation with reuse detection is one atomic script, on a cluster as on a
//! single server. A session is tagged by its own key (`{s:…}`), a throttle counter by
//! its (`{c:…}`): different users, sessions and counters hash to different slots, so the
//! load spreads over every primary (no single hot slot). A session's own key and its
//! user's session index live in two slots, so on a cluster writing or ending a session is
//! two single-slot steps (the session first, then the index; a stale index entry is
//! pruned when read).
//!
//! The revocation stream is one key, in a slot of its own: on a cluster the scripts
//! cannot append to it, so the store appends right after the script that recorded the
//! revocation (key first, stream second, which keeps the replica's snapshot rule: every
//! revocation appended before a stream position is in its key before that position).
//! If the append fails the caller gets the error (a 503; the revocation already holds for
//! every direct check), and a retry appends again. The replica's snapshot runs its `SCAN`
//! on every primary; after a failover that lost stream entries, the stream's counters go
//! back and the replica takes a new snapshot, as after a trim. A process that dies
//! between the two steps leaves a revocation other instances' replicas learn only at
//! their next snapshot: on a cluster with replicas, that window is the price of keeping
//! users spread over the slots.
//!
//! ## TLS and versions
//!
//! `rediss://` URLs connect over TLS (rustls, on the aws-lc-rs provider the rest of the
//! workspace uses), for one server and for a cluster; [`RedisStore::connect_to`] takes a
//! PEM CA to trust instead of the system's roots. Every constructor checks the server
//! version (`INFO server`, on every primary of a cluster) and refuses anything older than
//! [`MIN_REDIS_VERSION`] (7.0) with an error that says so.
//!
//! ## Failure
//!
//! Every error is an [`auth_core::StoreError`]; `auth-core` turns it into a 503 and never
//! allows a request it could not check. The connection manager reconnects by itself once
//! the server is back.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::clock::{Clock, SystemClock};
use auth_core::store::{
    Admission, Counter, Counters, Family, Limit, RefreshFamilies, Revocations, Rotation,
    SessionRecord, Sessions, TokenMeta, TokenRef, TokenStatus,
};
use redis::{AsyncCommands as _, Script};

mod conn;
mod replica;
pub use conn::{MIN_REDIS_VERSION, RedisConnection};
use conn::{Opener, err};
pub use replica::ReplicaConfig;

const CHECK: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if redis.call('HGET', KEYS[2], 'revoked') == '1' then return 1 end
local cut = redis.call('GET', KEYS[3])
if cut and tonumber(ARGV[1]) < tonumber(cut) then return 1 end
return 0
";

/// KEYS: allow hash; ARGV: field, "exp|meta", exp_ms, now. Prunes expired entries.
const LIST: &str = r"
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local exp = tonumber(string.match(all[i + 1], '^(%d+)|'))
  if exp and exp <= tonumber(ARGV[4]) then redis.call('HDEL', KEYS[1], all[i]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return 1
";

/// KEYS: allow hash, jti, fam, cut; ARGV: field, iat, now.
const CHECK_LISTED: &str = r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 1 end
local exp = tonumber(string.match(v, '^(%d+)|'))
if not exp or exp <= tonumber(ARGV[3]) then return 1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
if redis.call('HGET', KEYS[3], 'revoked') == '1' then return 1 end
local cut = redis.call('GET', KEYS[4])
if cut and tonumber(ARGV[2]) < tonumber(cut) then return 1 end
return 0
";

const START: &str = r"
redis.call('HSET', KEYS[1], 'current', ARGV[2], 'created', ARGV[4], 'last_used', ARGV[4], 'revoked', '0')
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[3]) then redis.call('PEXPIREAT', KEYS[2], ARGV[3]) end
return 1
";

/// KEYS: fam, fams, allow, stream (on one server; on a cluster the caller appends);
/// ARGV: sid, jti, next_jti, next_exp_ms, now, sub, maxlen. Returns {code, family expiry
/// in ms}: 0 unknown, 1 rotated, 2 reuse (the family revoked now), 3 reuse of a family
/// revoked before.
const ROTATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local f = redis.call('HMGET', KEYS[1], 'current', 'revoked')
if f[2] == '1' or f[1] ~= ARGV[2] then
  local e = redis.call('PEXPIRETIME', KEYS[1])
  local code = 3
  if f[2] ~= '1' then
    code = 2
    if KEYS[4] then
      redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'k', 'f', 's', ARGV[6], 'i', ARGV[1], 'e', e)
    end
  end
  redis.call('HSET', KEYS[1], 'revoked', '1')
  redis.call('SREM', KEYS[2], ARGV[1])
  redis.call('DEL', KEYS[3])
  return {code, e}
end
redis.call('HSET', KEYS[1], 'current', ARGV[3], 'last_used', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[4]) then redis.call('PEXPIREAT', KEYS[2], ARGV[4]) end
return {1, 0}
";

/// KEYS: fam, fams, allow, stream (on one server; on a cluster the caller appends);
/// ARGV: sid, until_ms, sub, maxlen.
const REVOKE_FAMILY: &str = r"
if KEYS[4] then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'k', 'f', 's', ARGV[3], 'i', ARGV[1], 'e', ARGV[2])
end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[1], 'revoked', '1')
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
redis.call('SREM', KEYS[2], ARGV[1])
return 1
";

/// KEYS: cut, fams, then fam_i, allow_i per family, then the stream (on one server; on a
/// cluster the caller appends); ARGV: at, until_ms, n, sub, maxlen, sid_1..sid_n.
/// Returns the cut-off now in force, or -1 when the family set changed since it was read
/// (the caller re-reads and retries).
const REVOKE_USER: &str = r"
local n = tonumber(ARGV[3])
local stream = KEYS[3 + 2 * n]
local members = redis.call('SMEMBERS', KEYS[2])
if #members ~= n then return -1 end
local want = {}
for i = 1, n do want[ARGV[5 + i]] = true end
for _, m in ipairs(members) do if not want[m] then return -1 end end
local cut = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cut then cut = tonumber(ARGV[1]) end
redis.call('SET', KEYS[1], cut, 'PXAT', ARGV[2])
if stream then
  redis.call('XADD', stream, 'MAXLEN', '~', ARGV[5], '*', 'k', 'u', 's', ARGV[4], 'a', cut, 'e', ARGV[2])
  for i = 1, n do
    redis.call('XADD', stream, 'MAXLEN', '~', ARGV[5], '*', 'k', 'f', 's', ARGV[4], 'i', ARGV[5 + i], 'e', ARGV[2])
  end
end
for i = 3, 2 + 2 * n, 2 do
  redis.call('HSET', KEYS[i], 'revoked', '1')
  if redis.call('PEXPIRETIME', KEYS[i]) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[i], ARGV[2]) end
  redis.call('DEL', KEYS[i + 1])
end
redis.call('DEL', KEYS[2])
return cut
";

const INCREMENT: &str = r"
local c = redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {c, redis.call('PEXPIRETIME', KEYS[1])}
";

// Check the limit and count in one step (`Limit::wait` in auth-core is the same rule).
// ARGV: now (s), window (ms), max, backoff (s), backoff_max (s).
const RESERVE: &str = r"
local now = tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'count', 'last')
if v[1] then
  local count = tonumber(v[1])
  local max = tonumber(ARGV[3])
  if count >= max then
    local backoff = math.min(tonumber(ARGV[4]) * (2 ^ math.min(count - max, 32)), tonumber(ARGV[5]))
    local locked = tonumber(v[2] or now) + backoff
    local pe = redis.call('PEXPIRETIME', KEYS[1])
    if pe > 0 then locked = math.min(locked, math.ceil(pe / 1000)) end
    if locked > now then return {0, locked - now} end
  end
end
local c = redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, c, redis.call('PEXPIRETIME', KEYS[1])}
";

const RELEASE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local c = redis.call('HINCRBY', KEYS[1], 'count', -1)
if c <= 0 then redis.call('DEL', KEYS[1]) end
return c
";

const GET_COUNTER: &str = r"
local v = redis.call('HMGET', KEYS[1], 'count', 'last')
if not v[1] then return false end
return {tonumber(v[1]), tonumber(v[2]), redis.call('PEXPIRETIME', KEYS[1])}
";

const TOUCH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_seen', ARGV[1], 'expires_at', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
";

struct Scripts {
    check: Script,
    check_listed: Script,
    list: Script,
    start: Script,
    rotate: Script,
    revoke_family: Script,
    revoke_user: Script,
    increment: Script,
    reserve: Script,
    release: Script,
    get_counter: Script,
    touch: Script,
}

/// All of `auth-core`'s state stores on one Redis or one Redis Cluster. Cheap to clone
/// (one multiplexed, self-reconnecting connection).
#[derive(Clone)]
pub struct RedisStore {
    conn: RedisConnection,
    /// How to open the replica reader's own connection (`None`: the store was given its
    /// connection by the application).
    opener: Option<Opener>,
    ns: Arc<str>,
    scripts: Arc<Scripts>,
    clock: Arc<dyn Clock>,
    replica: Option<Arc<replica::Replica>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("namespace", &self.ns)
            .finish_non_exhaustive()
    }
}

/// A key component: kept as is when plainly safe, hex-encoded otherwise, so user input can
/// neither break the key structure nor pick another hash tag.
fn part(s: &str) -> String {
    let plain = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if plain {
        s.to_string()
    } else {
        let mut out = String::with_capacity(1 + 2 * s.len());
        out.push('~');
        for b in s.bytes() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

/// The inverse of [`part`]: the original component, or `None` if `s` is not something
/// `part` produces.
pub(crate) fn unpart(s: &str) -> Option<String> {
    let Some(hex) = s.strip_prefix('~') else {
        return Some(s.to_string());
    };
    if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| char::from(b).to_digit(16);
            u8::try_from(digit(*pair.first()?)? * 16 + digit(*pair.get(1)?)?).ok()
        })
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

fn check_namespace(namespace: &str) -> Result<(), StoreError> {
    if namespace.is_empty()
        || !namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':'))
    {
        return Err(StoreError::new(
            "the Redis namespace must be non-empty letters, digits, `-`, `_` or `:`",
        ));
    }
    Ok(())
}

/// Where the store's Redis is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    /// One server: `redis://[:password@]host:port[/db]` or `rediss://…` (TLS).
    Single(String),
    /// Some nodes of a Redis Cluster, each a `redis://` or `rediss://` URL.
    Cluster(Vec<String>),
}

fn ms(secs: u64) -> u64 {
    secs.saturating_mul(1000)
}

impl RedisStore {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`), with every key under the
    /// namespace `namespace` (letters, digits, `-`, `_`, `:`; distinct apps sharing one
    /// Redis use distinct namespaces). Fails if the server does not answer now.
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, StoreError> {
        Self::connect_with_clock(url, namespace, Arc::new(SystemClock)).await
    }

    /// As [`RedisStore::connect`], reading "now" (for timestamps written into records)
    /// from `clock`. Expiry is Redis's own TTL on the server's clock.
    pub async fn connect_with_clock(
        url: &str,
        namespace: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        Self::connect_to(&Server::Single(url.to_string()), namespace, None, clock).await
    }

    /// Connects to the Redis Cluster one or more of whose nodes are `nodes`
    /// (`redis://` or `rediss://` URLs; the client learns the rest from them). Keys are
    /// hash-tagged per user, session and counter, so every multi-key step stays in one
    /// slot while users spread over all of them.
    pub async fn connect_cluster<S: AsRef<str>>(
        nodes: &[S],
        namespace: &str,
    ) -> Result<Self, StoreError> {
        let nodes = nodes.iter().map(|n| n.as_ref().to_string()).collect();
        Self::connect_to(
            &Server::Cluster(nodes),
            namespace,
            None,
            Arc::new(SystemClock),
        )
        .await
    }

    /// Connects to `server`, trusting the PEM certificates in `ca_pem` (instead of the
    /// system's roots) for `rediss://` URLs. Refuses a server older than
    /// [`MIN_REDIS_VERSION`] with an error that says so.
    pub async fn connect_to(
        server: &Server,
        namespace: &str,
        ca_pem: Option<&[u8]>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let opener = match server {
            Server::Single(url) => Opener::single(url, ca_pem)?,
            Server::Cluster(nodes) => Opener::cluster(nodes, ca_pem)?,
        };
        check_namespace(namespace)?;
        let conn = opener.open().await?;
        let mut store = Self::from_connection(conn, namespace, clock).await?;
        store.opener = Some(opener);
        Ok(store)
    }

    /// A store on a connection the application already has (one server or a cluster).
    /// Checks the server version as [`RedisStore::connect_to`] does. Such a store cannot
    /// open a second connection of its own, so [`RedisStore::with_replica`] refuses it.
    pub async fn from_connection(
        conn: impl Into<RedisConnection>,
        namespace: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        check_namespace(namespace)?;
        let mut conn = conn.into();
        conn::check_version(&mut conn).await?;
        Ok(Self {
            conn,
            opener: None,
            replica: None,
            ns: namespace.into(),
            scripts: Arc::new(Scripts {
                check: Script::new(CHECK),
                check_listed: Script::new(CHECK_LISTED),
                list: Script::new(LIST),
                start: Script::new(START),
                rotate: Script::new(ROTATE),
                revoke_family: Script::new(REVOKE_FAMILY),
                revoke_user: Script::new(REVOKE_USER),
                increment: Script::new(INCREMENT),
                reserve: Script::new(RESERVE),
                release: Script::new(RELEASE),
                get_counter: Script::new(GET_COUNTER),
                touch: Script::new(TOUCH),
            }),
            clock,
        })
    }

    /// Replicates revocations into this instance ([`replica`](crate::ReplicaConfig)): the
    /// per-request check answers from a local set kept current through a Redis Stream,
    /// falling back to the direct check whenever the replica is stale or untrusted. Loads
    /// the revoked set (a snapshot of the namespace's revocation keys, then the stream
    /// since) before returning, so the first check already knows every recorded
    /// revocation, however much of the stream was trimmed.
    pub async fn with_replica(mut self, config: ReplicaConfig) -> Result<Self, StoreError> {
        let Some(opener) = self.opener.clone() else {
            return Err(StoreError::new(
                "the revocation replica needs a connection of its own: build the store with connect, connect_cluster or connect_to",
            ));
        };
        self.replica = Some(replica::Replica::start(opener, &self.ns, config).await?);
        Ok(self)
    }

    /// Stream entries this instance's replica has applied (0 without a replica).
    pub fn replicated_entries(&self) -> u64 {
        self.replica.as_ref().map_or(0, |r| r.applied())
    }

    fn stream_key(&self) -> String {
        format!("{}:revocations", self.ns)
    }

    /// The stream key for a script to append to itself: on one server; `None` on a
    /// cluster, where the stream is in a slot of its own and [`RedisStore::append`] adds
    /// the entries after the script.
    fn script_stream(&self) -> Option<String> {
        (!self.conn.is_cluster()).then(|| self.stream_key())
    }

    /// On a cluster: appends `entries` (field/value lists) to the revocation stream,
    /// after the script that recorded them in their keys. The order keeps the replica's
    /// snapshot rule (a revocation appended before a position is in its key before it).
    /// Should this fail, the revocation holds for every direct check, the caller gets the
    /// error (a 503; a retry appends again) and replicas catch up on their next snapshot.
    async fn append(&self, entries: &[Vec<String>]) -> Result<(), StoreError> {
        if !self.conn.is_cluster() || entries.is_empty() {
            return Ok(());
        }
        let mut c = self.conn.clone();
        let mut pipe = redis::pipe();
        for fields in entries {
            pipe.cmd("XADD")
                .arg(self.stream_key())
                .arg("MAXLEN")
                .arg("~")
                .arg(replica::STREAM_MAXLEN)
                .arg("*")
                .arg(fields)
                .ignore();
        }
        pipe.query_async::<()>(&mut c)
            .await
            .map_err(|e| err("revocation stream", e))
    }

    /// Whether the server answers `PING` (for health checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| err("ping", e))
    }

    fn user(&self, sub: &str, what: &str) -> String {
        format!("{}:{{u:{}}}:{what}", self.ns, part(sub))
    }

    fn jti_key(&self, t: &TokenRef<'_>) -> String {
        self.user(t.sub, &format!("jti:{}:{}", part(t.iss), part(t.jti)))
    }

    fn fam_key(&self, sub: &str, sid: &str) -> String {
        self.user(sub, &format!("fam:{}", part(sid)))
    }

    fn allow_key(&self, sub: &str, sid: &str) -> String {
        self.user(sub, &format!("allow:{}", part(sid)))
    }

    fn allow_field(t: &TokenRef<'_>) -> String {
        format!("{}:{}", part(t.iss), part(t.jti))
    }

    fn session_key(&self, key: &str) -> String {
        format!("{}:{{s:{}}}:sess", self.ns, part(key))
    }

    fn counter_key(&self, key: &str) -> String {
        format!("{}:{{c:{}}}:ctr", self.ns, part(key))
    }

    fn now(&self) -> u64 {
        self.clock.unix_seconds()
    }
}

#[async_trait]
impl Revocations for RedisStore {
    async fn check(&self, t: &TokenRef<'_>) -> Result<TokenStatus, StoreError> {
        if let Some(revoked) = self.replica.as_ref().and_then(|r| r.check(t)) {
            return Ok(if revoked {
                TokenStatus::Revoked
            } else {
                TokenStatus::Active
            });
        }
        let mut c = self.conn.clone();
        let revoked: i64 = self
            .scripts
            .check
            .key(self.jti_key(t))
            .key(self.fam_key(t.sub, t.sid))
            .key(self.user(t.sub, "cut"))
            .arg(t.iat)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("check", e))?;
        Ok(if revoked == 1 {
            TokenStatus::Revoked
        } else {
            TokenStatus::Active
        })
    }

    async fn revoke_token(&self, t: &TokenRef<'_>) -> Result<(), StoreError> {
        if t.exp <= self.now() {
            return Ok(());
        }
        let mut c = self.conn.clone();
        // Both keys carry the user's hash tag: one atomic MULTI on one slot (with the
        // stream append on one server; after it on a cluster).
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(self.jti_key(t))
            .arg(1)
            .arg("PXAT")
            .arg(ms(t.exp))
            .ignore()
            .cmd("HDEL")
            .arg(self.allow_key(t.sub, t.sid))
            .arg(Self::allow_field(t))
            .ignore();
        let entry: Vec<String> = ["k", "t", "s", t.sub, "i", t.iss, "j", t.jti, "e"]
            .iter()
            .map(|f| f.to_string())
            .chain([ms(t.exp).to_string()])
            .collect();
        if let Some(stream) = self.script_stream() {
            pipe.cmd("XADD")
                .arg(stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(replica::STREAM_MAXLEN)
                .arg("*")
                .arg(&entry)
                .ignore();
        }
        pipe.query_async::<()>(&mut c)
            .await
            .map_err(|e| err("revoke_token", e))?;
        self.append(&[entry]).await?;
        if let Some(r) = &self.replica {
            r.record("t", t.sub, (t.iss, t.jti), 0, ms(t.exp));
        }
        Ok(())
    }

    async fn revoke_family(&self, sub: &str, sid: &str, until: u64) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let until_ms = ms(until.max(self.now() + 1));
        let mut inv = self.scripts.revoke_family.prepare_invoke();
        inv.key(self.fam_key(sub, sid))
            .key(self.user(sub, "fams"))
            .key(self.allow_key(sub, sid));
        if let Some(stream) = self.script_stream() {
            inv.key(stream);
        }
        inv.arg(sid)
            .arg(until_ms)
            .arg(sub)
            .arg(replica::STREAM_MAXLEN)
            .invoke_async::<i64>(&mut c)
            .await
            .map_err(|e| err("revoke_family", e))?;
        self.append(&[family_entry(sub, sid, until_ms)]).await?;
        if let Some(r) = &self.replica {
            r.record("f", sub, (sid, ""), 0, ms(until.max(self.now() + 1)));
        }
        Ok(())
    }

    async fn revoke_user(&self, sub: &str, at: u64, until: u64) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let until = ms(until.max(self.now() + 1));
        for _ in 0..5 {
            let sids: Vec<String> = c
                .smembers(self.user(sub, "fams"))
                .await
                .map_err(|e| err("revoke_user", e))?;
            let mut inv = self.scripts.revoke_user.prepare_invoke();
            inv.key(self.user(sub, "cut")).key(self.user(sub, "fams"));
            for sid in &sids {
                inv.key(self.fam_key(sub, sid))
                    .key(self.allow_key(sub, sid));
            }
            if let Some(stream) = self.script_stream() {
                inv.key(stream);
            }
            inv.arg(at)
                .arg(until)
                .arg(sids.len())
                .arg(sub)
                .arg(replica::STREAM_MAXLEN);
            for sid in &sids {
                inv.arg(sid);
            }
            let done: i64 = inv
                .invoke_async(&mut c)
                .await
                .map_err(|e| err("revoke_user", e))?;
            if done >= 0 {
                let mut entries = vec![
                    ["k", "u", "s", sub, "a"]
                        .iter()
                        .map(|f| f.to_string())
                        .chain([done.to_string(), "e".into(), until.to_string()])
                        .collect(),
                ];
                entries.extend(sids.iter().map(|sid| family_entry(sub, sid, until)));
                self.append(&entries).await?;
                if let Some(r) = &self.replica {
                    r.record("u", sub, ("", ""), at, until);
                    for sid in &sids {
                        r.record("f", sub, (sid, ""), 0, until);
                    }
                }
                return Ok(());
            }
        }
        Err(StoreError::new(
            "redis revoke_user: the user's families kept changing; try again",
        ))
    }

    async fn list_token(&self, t: &TokenRef<'_>, meta: &TokenMeta) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let meta = serde_json::to_string(meta)
            .map_err(|e| StoreError::new(format!("token meta encoding: {e}")))?;
        self.scripts
            .list
            .key(self.allow_key(t.sub, t.sid))
            .arg(Self::allow_field(t))
            .arg(format!("{}|{meta}", t.exp))
            .arg(ms(t.exp))
            .arg(self.now())
            .invoke_async::<i64>(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| err("list_token", e))
    }

    async fn check_listed(&self, t: &TokenRef<'_>) -> Result<TokenStatus, StoreError> {
        let mut c = self.conn.clone();
        let revoked: i64 = self
            .scripts
            .check_listed
            .key(self.allow_key(t.sub, t.sid))
            .key(self.jti_key(t))
            .key(self.fam_key(t.sub, t.sid))
            .key(self.user(t.sub, "cut"))
            .arg(Self::allow_field(t))
            .arg(t.iat)
            .arg(self.now())
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("check_listed", e))?;
        Ok(if revoked == 1 {
            TokenStatus::Revoked
        } else {
            TokenStatus::Active
        })
    }
}

#[async_trait]
impl RefreshFamilies for RedisStore {
    async fn start(&self, sub: &str, sid: &str, jti: &str, exp: u64) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        self.scripts
            .start
            .key(self.fam_key(sub, sid))
            .key(self.user(sub, "fams"))
            .arg(sid)
            .arg(jti)
            .arg(ms(exp))
            .arg(self.now())
            .invoke_async::<i64>(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| err("start", e))
    }

    async fn rotate(
        &self,
        sub: &str,
        sid: &str,
        jti: &str,
        next_jti: &str,
        next_exp: u64,
    ) -> Result<Rotation, StoreError> {
        let mut c = self.conn.clone();
        let mut inv = self.scripts.rotate.prepare_invoke();
        inv.key(self.fam_key(sub, sid))
            .key(self.user(sub, "fams"))
            .key(self.allow_key(sub, sid));
        if let Some(stream) = self.script_stream() {
            inv.key(stream);
        }
        let (r, expires_ms): (i64, i64) = inv
            .arg(sid)
            .arg(jti)
            .arg(next_jti)
            .arg(ms(next_exp))
            .arg(self.now())
            .arg(sub)
            .arg(replica::STREAM_MAXLEN)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("rotate", e))?;
        if r == 2 {
            let until = u64::try_from(expires_ms).unwrap_or(0);
            self.append(&[family_entry(sub, sid, until)]).await?;
        }
        Ok(match r {
            1 => Rotation::Rotated,
            2 | 3 => {
                // Read-your-writes; the stream entry brings the family's real expiry.
                if let Some(rep) = &self.replica {
                    rep.record("f", sub, (sid, ""), 0, u64::MAX);
                }
                Rotation::Reused
            }
            _ => Rotation::Unknown,
        })
    }

    async fn families(&self, sub: &str) -> Result<Vec<Family>, StoreError> {
        let mut c = self.conn.clone();
        let set = self.user(sub, "fams");
        let sids: Vec<String> = c.smembers(&set).await.map_err(|e| err("families", e))?;
        if sids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for sid in &sids {
            let k = self.fam_key(sub, sid);
            pipe.cmd("HMGET")
                .arg(&k)
                .arg("created")
                .arg("last_used")
                .arg("revoked");
            pipe.cmd("PEXPIRETIME").arg(&k);
        }
        let rows: Vec<redis::Value> = pipe
            .query_async(&mut c)
            .await
            .map_err(|e| err("families", e))?;
        let mut out = Vec::new();
        let mut stale = Vec::new();
        for (sid, pair) in sids.iter().zip(rows.chunks(2)) {
            let fields: Vec<Option<u64>> = pair
                .first()
                .and_then(|v| redis::from_redis_value(v.clone()).ok())
                .unwrap_or_default();
            let expires_ms: i64 = pair
                .get(1)
                .and_then(|v| redis::from_redis_value(v.clone()).ok())
                .unwrap_or(-2);
            match (
                fields.first().copied().flatten(),
                fields.get(2).copied().flatten(),
            ) {
                (Some(created), Some(0)) if expires_ms > 0 => out.push(Family {
                    sid: sid.clone(),
                    sub: sub.to_string(),
                    created,
                    last_used: fields.get(1).copied().flatten().unwrap_or(created),
                    expires_at: (expires_ms as u64) / 1000,
                }),
                (None, _) => stale.push(sid.clone()),
                _ => {}
            }
        }
        if !stale.is_empty() {
            // Families that expired: drop them from the index (best effort).
            let _: Result<i64, _> = c.srem(&set, stale).await;
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.sid.cmp(&b.sid)));
        Ok(out)
    }
}

#[async_trait]
impl Counters for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        let mut c = self.conn.clone();
        let v: Option<Vec<i64>> = self
            .scripts
            .get_counter
            .key(self.counter_key(key))
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("counter", e))?;
        Ok(v.and_then(|v| counter(&v, 1)))
    }

    async fn increment(&self, key: &str, window: Duration) -> Result<Counter, StoreError> {
        let mut c = self.conn.clone();
        let now = self.now();
        let v: Vec<i64> = self
            .scripts
            .increment
            .key(self.counter_key(key))
            .arg(now)
            .arg(window.as_millis().max(1000) as u64)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("increment", e))?;
        let count = v.first().copied().unwrap_or(1).max(0) as u64;
        let expires_ms = v.get(1).copied().unwrap_or(0).max(0) as u64;
        Ok(Counter {
            count,
            last: now,
            expires_at: expires_ms.div_ceil(1000),
        })
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        c.del::<_, ()>(self.counter_key(key))
            .await
            .map_err(|e| err("reset", e))
    }

    async fn reserve(
        &self,
        key: &str,
        window: Duration,
        limit: &Limit,
    ) -> Result<Admission, StoreError> {
        let mut c = self.conn.clone();
        let now = self.now();
        let v: Vec<i64> = self
            .scripts
            .reserve
            .key(self.counter_key(key))
            .arg(now)
            .arg(window.as_millis().max(1000) as u64)
            .arg(limit.max)
            .arg(limit.backoff)
            .arg(limit.backoff_max)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("reserve", e))?;
        match v.as_slice() {
            [0, wait] => Ok(Admission::Refused {
                retry_after_secs: (*wait).max(1) as u64,
            }),
            [1, count, expires_ms] => Ok(Admission::Admitted(Counter {
                count: (*count).max(0) as u64,
                last: now,
                expires_at: ((*expires_ms).max(0) as u64).div_ceil(1000),
            })),
            _ => Err(StoreError::new("reserve: unexpected answer from Redis")),
        }
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = self
            .scripts
            .release
            .key(self.counter_key(key))
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("release", e))?;
        Ok(())
    }
}

/// A stream entry: family `sid` of `sub` revoked until `until_ms`.
fn family_entry(sub: &str, sid: &str, until_ms: u64) -> Vec<String> {
    ["k", "f", "s", sub, "i", sid, "e"]
        .iter()
        .map(|f| f.to_string())
        .chain([until_ms.to_string()])
        .collect()
}

fn counter(v: &[i64], _: u8) -> Option<Counter> {
    let (count, last, exp) = (*v.first()?, *v.get(1)?, *v.get(2)?);
    (count > 0 && exp > 0).then(|| Counter {
        count: count as u64,
        last: last.max(0) as u64,
        expires_at: (exp as u64).div_ceil(1000),
    })
}

#[async_trait]
impl Sessions for RedisStore {
    async fn insert_session(&self, key: &str, record: &SessionRecord) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let json = serde_json::to_string(record)
            .map_err(|e| StoreError::new(format!("session encoding: {e}")))?;
        let k = self.session_key(key);
        let idx = self.user(&record.user_id, "sess");
        let exp = ms(record.expires_at);
        // The session (its own slot) and the user's index (the user's slot): one
        // pipeline on one server, one each on a cluster (a pipeline must stay in one
        // slot there), the session first.
        let mut pipe = redis::pipe();
        pipe.cmd("HSET")
            .arg(&k)
            .arg("record")
            .arg(json)
            .arg("last_seen")
            .arg(record.last_seen)
            .arg("expires_at")
            .arg(record.expires_at)
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&k)
            .arg(exp)
            .ignore();
        if self.conn.is_cluster() {
            pipe.query_async::<()>(&mut c)
                .await
                .map_err(|e| err("insert_session", e))?;
            pipe = redis::pipe();
        }
        pipe.cmd("SADD")
            .arg(&idx)
            .arg(key)
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&idx)
            .arg(exp)
            .arg("NX")
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&idx)
            .arg(exp)
            .arg("GT")
            .ignore()
            .query_async::<()>(&mut c)
            .await
            .map_err(|e| err("insert_session", e))
    }

    async fn load_session(&self, key: &str) -> Result<Option<SessionRecord>, StoreError> {
        let mut c = self.conn.clone();
        let (json, last_seen, expires_at): (Option<String>, Option<u64>, Option<u64>) =
            redis::cmd("HMGET")
                .arg(self.session_key(key))
                .arg("record")
                .arg("last_seen")
                .arg("expires_at")
                .query_async(&mut c)
                .await
                .map_err(|e| err("load_session", e))?;
        let Some(json) = json else { return Ok(None) };
        let mut record: SessionRecord = serde_json::from_str(&json)
            .map_err(|e| StoreError::new(format!("corrupt session record: {e}")))?;
        record.last_seen = last_seen.unwrap_or(record.last_seen);
        record.expires_at = expires_at.unwrap_or(record.expires_at);
        Ok(Some(record))
    }

    async fn touch_session(
        &self,
        key: &str,
        last_seen: u64,
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let r: i64 = self
            .scripts
            .touch
            .key(self.session_key(key))
            .arg(last_seen)
            .arg(expires_at)
            .arg(ms(expires_at))
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("touch_session", e))?;
        Ok(r == 1)
    }

    async fn remove_session(&self, key: &str) -> Result<bool, StoreError> {
        let Some(record) = self.load_session(key).await? else {
            return Ok(false);
        };
        let mut c = self.conn.clone();
        if self.conn.is_cluster() {
            // Two slots: the session first, then its index entry.
            let deleted: i64 = c
                .del(self.session_key(key))
                .await
                .map_err(|e| err("remove_session", e))?;
            c.srem::<_, _, ()>(self.user(&record.user_id, "sess"), key)
                .await
                .map_err(|e| err("remove_session", e))?;
            return Ok(deleted == 1);
        }
        let (deleted, _): (i64, i64) = redis::pipe()
            .cmd("DEL")
            .arg(self.session_key(key))
            .cmd("SREM")
            .arg(self.user(&record.user_id, "sess"))
            .arg(key)
            .query_async(&mut c)
            .await
            .map_err(|e| err("remove_session", e))?;
        Ok(deleted == 1)
    }

    async fn remove_user_sessions(&self, user_id: &str) -> Result<usize, StoreError> {
        let mut c = self.conn.clone();
        let idx = self.user(user_id, "sess");
        let keys: Vec<String> = c
            .smembers(&idx)
            .await
            .map_err(|e| err("remove_user_sessions", e))?;
        let mut removed = 0usize;
        if !keys.is_empty() {
            let full: Vec<String> = keys.iter().map(|k| self.session_key(k)).collect();
            let n: i64 = c
                .del(full)
                .await
                .map_err(|e| err("remove_user_sessions", e))?;
            removed = n.max(0) as usize;
        }
        c.del::<_, ()>(&idx)
            .await
            .map_err(|e| err("remove_user_sessions", e))?;
        Ok(removed)
    }

    async fn user_sessions(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, SessionRecord)>, StoreError> {
        let mut c = self.conn.clone();
        let idx = self.user(user_id, "sess");
        let keys: Vec<String> = c
            .smembers(&idx)
            .await
            .map_err(|e| err("user_sessions", e))?;
        let mut out = Vec::new();
        let mut stale = Vec::new();
        for k in keys {
            match self.load_session(&k).await? {
                Some(r) => out.push((k, r)),
                None => stale.push(k),
            }
        }
        if !stale.is_empty() {
            let _: Result<i64, _> = c.srem(&idx, stale).await;
        }
        out.sort_by(|a, b| a.1.created.cmp(&b.1.created).then(a.0.cmp(&b.0)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::{part, unpart};

    #[test]
    fn key_parts_cannot_break_the_key_or_pick_a_hash_tag() {
        assert_eq!(part("42"), "42");
        assert_eq!(part("alice@example.com"), "alice@example.com");
        assert_eq!(part("a}b{c"), "~617d627b63");
        assert_eq!(part(""), "~");
        assert!(part(&"x".repeat(65)).starts_with('~'));
        assert!(!part("x:y").contains(':'));
    }

    #[test]
    fn key_parts_decode_back_to_what_was_encoded() {
        for s in [
            "42",
            "",
            "a}b{c",
            "x:y",
            "https://iss.example/",
            "ü3",
            &"x".repeat(65),
        ] {
            assert_eq!(unpart(&part(s)).as_deref(), Some(s));
        }
        assert_eq!(unpart("~6"), None);
        assert_eq!(unpart("~+f"), None);
        assert_eq!(unpart("~ff"), None); // not UTF-8
    }
}
