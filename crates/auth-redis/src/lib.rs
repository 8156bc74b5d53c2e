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
//! ```
//! use std::sync::Arc;
//! use auth_core::credential::{MemoryUsers, User};
//! use auth_redis::RedisStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "redis://127.0.0.1:6379";
//! # // The test suite's own Redis, and a namespace of this run's own.
//! # let url = &std::env::var("AUTH_TEST_REDIS_URL").unwrap_or_else(|_| url.to_owned());
//! # let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
//! # let myapp = &format!("doc-{}-{nanos}", std::process::id());
//! let store = RedisStore::connect(url, myapp).await?;
//! // or RedisStore::connect_cluster(&["redis://node-1:6379".into()], "myapp"), or rediss://
//! let auth = auth_core::AuthBuilder::new(b"access-secret-of-at-least-32-bytes", b"refresh-secret-of-at-least-32-byte")
//!     .users(Arc::new(MemoryUsers::new()))
//!     .store(Arc::new(store))
//!     .build()?;
//!
//! // A login, then "log out everywhere": every instance on this Redis refuses its token.
//! let ada = User {
//!     id: "1".into(),
//!     username: "ada".into(),
//!     email: None,
//!     roles: vec!["editor".into()],
//!     password_hash: String::new(),
//!     disabled: false,
//!     data: serde_json::Value::Null,
//! };
//! let pair = auth.tokens().login(&ada, None).await?;
//! assert!(auth.tokens().authenticate(&pair.access.token).await.is_ok());
//! auth.tokens().logout_all(&ada.id).await?;
//! assert!(auth.tokens().authenticate(&pair.access.token).await.is_err());
//! # Ok(()) }
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
//! | `NS:{u:USER}:totp` | hash | the user's TOTP enrolment: `sealed` (the sealed secret, never the secret), `active`, `last_step` (no TTL) |
//! | `NS:{u:USER}:recovery` | set | the digests of the user's unspent recovery codes (no TTL) |
//! | `NS:{m:KEY}:mfa` | hash | an MFA challenge under a digest of its `mfa_token`: `user`, `failures` (until its expiry) |
//! | `NS:{p:CREDENTIAL}:passkey` | hash | a passkey: `user`, `data` (public), `counter`, `created` (no TTL) |
//! | `NS:{u:USER}:passkeys` | sorted set | the user's passkey credential ids, in registration order (no TTL) |
//! | `NS:{u:USER}:passkeys:seq` | string | the sequence numbering the user's registrations |
//! | `NS:{w:KEY}:ceremony` | string | a WebAuthn ceremony's state under a digest of its handle (until its expiry) |
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
//! Rotation, sessions, counters, the allowlist, the second factor and passkeys always go
//! direct.
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
//! single server. A user's TOTP enrolment and recovery codes share it too, so activating
//! the second factor (the enrolment and the codes at once) is one script. A session is
//! tagged by its own key (`{s:…}`), a throttle counter by its (`{c:…}`), an MFA challenge
//! by its (`{m:…}`), a passkey by its credential id (`{p:…}`), a WebAuthn ceremony by its
//! key (`{w:…}`): different users, sessions, counters and challenges hash to different
//! slots, so the load spreads over every primary (no single hot slot). A session's own
//! key and its user's session index live in two slots, so on a cluster writing or ending
//! a session is two single-slot steps (the session first, then the index; a stale index
//! entry is pruned when read). A passkey and its user's index are two slots likewise:
//! registering or removing one is a script on the passkey (which decides), then one on
//! the index; an index entry whose passkey is gone is skipped when read.
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

use auth_core::StoreError;
use auth_core::clock::{Clock, SystemClock};

mod conn;
mod counters;
mod factors;
mod families;
mod keys;
mod links;
mod passkeys;
mod replica;
mod revocations;
mod scripts;
mod sessions;
pub use conn::{MIN_REDIS_VERSION, RedisConnection};
use conn::{Opener, err};
use keys::check_namespace;
pub use replica::ReplicaConfig;
use scripts::Scripts;

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

/// Where the store's Redis is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    /// One server: `redis://[:password@]host:port[/db]` or `rediss://…` (TLS).
    Single(String),
    /// Some nodes of a Redis Cluster, each a `redis://` or `rediss://` URL.
    Cluster(Vec<String>),
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
            scripts: Arc::new(Scripts::new()),
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

    fn now(&self) -> u64 {
        self.clock.unix_seconds()
    }
}

/// A stream entry: family `sid` of `sub` revoked until `until_ms`.
pub(crate) fn family_entry(sub: &str, sid: &str, until_ms: u64) -> Vec<String> {
    ["k", "f", "s", sub, "i", sid, "e"]
        .iter()
        .map(|f| f.to_string())
        .chain([until_ms.to_string()])
        .collect()
}

/// The crate's README, whose examples run as doctests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
