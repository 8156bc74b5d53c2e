//! # auth-sqlx
//!
//! SQL backends of `auth-core`'s stores on [`sqlx`]: Postgres (feature `postgres`) and an
//! embedded SQLite file (feature `sqlite`, SQLite bundled), both on by default.
//!
//! [`SqlStore`] implements every state trait ([`auth_core::store::StateStore`]:
//! revocations in blocklist and allowlist modes, refresh families with rotation and reuse
//! detection, cookie sessions, login-throttle counters, identity links, second factors:
//! TOTP enrolments, recovery-code digests and MFA challenges); [`SqlUsers`] implements
//! [`auth_core::credential::UserStore`] (with the rehash path and the email lookup
//! third-party login links accounts through) and [`SqlApiKeys`]
//! [`auth_core::credential::ApiKeyStore`] (digests only). Nothing lives in the process:
//! several instances on one database share everything, and a restart loses nothing.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use auth_core::credential::{PasswordParams, Passwords, User};
//! use auth_sqlx::SqlStore;
//!
//! // Connects and applies the crate's migrations (idempotent); `postgres://…` alike.
//! let file = std::env::temp_dir().join(format!("auth-sqlx-doc-{}.db", std::process::id()));
//! let store = SqlStore::connect(&format!("sqlite://{}", file.display())).await?;
//! let _purge = store.spawn_purge(auth_sqlx::PurgeConfig::default());
//!
//! let users = store.users();
//! let hash = Passwords::new(PasswordParams::default())?.hash("correct horse".into()).await?;
//! users
//!     .insert_if_absent(&User {
//!         id: "1".into(),
//!         username: "alice".into(),
//!         email: Some("alice@example.com".into()),
//!         roles: vec!["admin".into()],
//!         password_hash: hash,
//!         disabled: false,
//!         data: serde_json::Value::Null,
//!     })
//!     .await?;
//!
//! // Tokens, sessions, revocations and throttling keep their state in the database.
//! let auth = auth_core::AuthBuilder::new(b"access-secret-of-at-least-32-bytes", b"refresh-secret-of-at-least-32-byte")
//!     .users(Arc::new(users))
//!     .store(Arc::new(store))
//!     .build()?;
//! let alice = auth.users().find_by_username("alice").await?.ok_or("no alice")?;
//! let pair = auth.tokens().login(&alice, None).await?;
//! assert_eq!(auth.tokens().authenticate(&pair.access.token).await?.sub, "1");
//! # drop(auth); let _ = std::fs::remove_file(&file); Ok(()) }
//! ```
//!
//! ## Atomicity
//!
//! Every step that decides something is one SQL statement, never a read followed by a
//! write: a refresh rotation is one `UPDATE … RETURNING` whose `SET` compares the presented
//! `jti` with the current one (so of many concurrent presentations, through any number of
//! instances, exactly one rotates and every other revokes the family), a throttle
//! reservation is one `INSERT … ON CONFLICT DO UPDATE … WHERE <the Limit rule> RETURNING`,
//! a TOTP step is accepted by one `UPDATE … WHERE last_step < $step`, a recovery code is
//! spent by one `DELETE`, an MFA challenge finished by one `DELETE … RETURNING`, a
//! passkey registered by one `INSERT … ON CONFLICT DO NOTHING`, its sign counter moved
//! forward by one `UPDATE … WHERE <the counter rule>` and a WebAuthn ceremony taken by
//! one `DELETE … RETURNING`.
//! Postgres runs them at `READ COMMITTED`, where an `UPDATE` re-reads a row another
//! transaction changed before applying its `SET`; SQLite runs one writer at a time.
//! Writes of several rows ("log out everywhere", a TOTP activation with its recovery
//! codes) are one transaction (`BEGIN IMMEDIATE` on SQLite), retried on a deadlock or a
//! serialization failure, so a failed call leaves no half-written state.
//!
//! ## Time
//!
//! Expiry is decided on the application's clock (as for the in-memory store), passed to
//! every statement: instances on one database must keep their clocks in sync, as they
//! already must for token expiry. Expired rows are never answered; [`SqlStore::purge_expired`]
//! deletes them in bounded batches, and [`SqlStore::spawn_purge`] runs it in the
//! background.
//!
//! ## Your own user table
//!
//! [`SqlUsers`] keeps users in its own table (`auth_users`). A team with an existing
//! user table implements [`auth_core::credential::UserStore`] over it instead; the
//! state store does not depend on where users live. For example, over a table
//! `people(person_id BIGINT, login TEXT, mail TEXT, pw TEXT, is_admin BOOLEAN, locked
//! BOOLEAN)` on Postgres:
//!
//! ```no_run
//! use async_trait::async_trait;
//! use auth_core::StoreError;
//! use auth_core::credential::{User, UserStore};
//! use sqlx::Row as _;
//!
//! #[derive(Debug)]
//! struct People(sqlx::PgPool);
//!
//! fn user(r: sqlx::postgres::PgRow) -> Result<User, sqlx::Error> {
//!     Ok(User {
//!         id: r.try_get::<i64, _>("person_id")?.to_string(),
//!         username: r.try_get("login")?,
//!         email: r.try_get("mail")?,
//!         roles: if r.try_get("is_admin")? { vec!["admin".into()] } else { vec!["viewer".into()] },
//!         password_hash: r.try_get("pw")?,
//!         disabled: r.try_get("locked")?,
//!         data: serde_json::Value::Null,
//!     })
//! }
//!
//! fn fault(e: sqlx::Error) -> StoreError {
//!     StoreError::new(format!("people: {e}"))
//! }
//!
//! #[async_trait]
//! impl UserStore for People {
//!     async fn find_by_username(&self, name: &str) -> Result<Option<User>, StoreError> {
//!         sqlx::query("SELECT * FROM people WHERE login = $1")
//!             .bind(name)
//!             .fetch_optional(&self.0)
//!             .await
//!             .map_err(fault)?
//!             .map(user)
//!             .transpose()
//!             .map_err(fault)
//!     }
//!     async fn find_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
//!         let Ok(id) = id.parse::<i64>() else { return Ok(None) };
//!         sqlx::query("SELECT * FROM people WHERE person_id = $1")
//!             .bind(id)
//!             .fetch_optional(&self.0)
//!             .await
//!             .map_err(fault)?
//!             .map(user)
//!             .transpose()
//!             .map_err(fault)
//!     }
//!     async fn update_password_hash(&self, id: &str, phc: &str) -> Result<(), StoreError> {
//!         let id = id.parse::<i64>().map_err(|_| StoreError::new("people: bad id"))?;
//!         sqlx::query("UPDATE people SET pw = $1 WHERE person_id = $2")
//!             .bind(phc)
//!             .bind(id)
//!             .execute(&self.0)
//!             .await
//!             .map_err(fault)?;
//!         Ok(())
//!     }
//! }
//! ```
//!
//! ## Failure
//!
//! Every database error is an [`auth_core::StoreError`]: `auth-core` answers 503 and
//! never lets a request through that it could not check. The pool reconnects by itself
//! when the database is back; a request waits at most
//! [`SqlOptions::acquire_timeout`] for a connection.

#[cfg(not(any(feature = "postgres", feature = "sqlite")))]
compile_error!("auth-sqlx needs at least one of the features `postgres` and `sqlite`");

mod state;
mod users;

use std::sync::Arc;
use std::time::Duration;

use auth_core::StoreError;
use auth_core::clock::{Clock, SystemClock};

pub use users::{SqlApiKeys, SqlUsers};

/// The Postgres migrations of this crate (applied by [`SqlStore::connect`]).
#[cfg(feature = "postgres")]
pub static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The SQLite migrations of this crate (applied by [`SqlStore::connect`]).
#[cfg(feature = "sqlite")]
pub static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// A connection pool to one of the supported databases.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Pool {
    /// Postgres.
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    /// SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
}

/// Runs `$body` with `$p` bound to the concrete pool (the same SQL text on both: `$N`
/// placeholders work on Postgres and on SQLite).
macro_rules! with_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            #[cfg(feature = "postgres")]
            $crate::Pool::Postgres($p) => $body,
            #[cfg(feature = "sqlite")]
            $crate::Pool::Sqlite($p) => $body,
        }
    };
}

/// Runs `$body` in a transaction bound to `$tx` (`BEGIN IMMEDIATE` on SQLite, so the
/// write lock is taken up front) and commits it; `$body` evaluates to
/// `Result<T, sqlx::Error>`. An error rolls back (the transaction is dropped).
macro_rules! with_tx {
    ($pool:expr, |$tx:ident| $body:expr) => {
        match $pool {
            #[cfg(feature = "postgres")]
            $crate::Pool::Postgres(p) => {
                async {
                    let mut $tx = p.begin().await?;
                    let out = $body?;
                    $tx.commit().await?;
                    Ok::<_, sqlx::Error>(out)
                }
                .await
            }
            #[cfg(feature = "sqlite")]
            $crate::Pool::Sqlite(p) => {
                async {
                    let mut $tx = p.begin_with("BEGIN IMMEDIATE").await?;
                    let out = $body?;
                    $tx.commit().await?;
                    Ok::<_, sqlx::Error>(out)
                }
                .await
            }
        }
    };
}
pub(crate) use {with_pool, with_tx};

/// How [`SqlStore::connect_with`] sets up the pool.
#[derive(Debug, Clone)]
pub struct SqlOptions {
    /// Where "now" comes from (tests pass a `ManualClock`). Default: the system clock.
    pub clock: Arc<dyn Clock>,
    /// Most connections in the pool (default 10).
    pub max_connections: u32,
    /// Longest wait for a connection before a request fails with a [`StoreError`] (a 503):
    /// default 3 s.
    pub acquire_timeout: Duration,
    /// Apply the crate's migrations on connect (default `true`).
    pub migrate: bool,
}

impl Default for SqlOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            migrate: true,
        }
    }
}

/// All server-side state in one SQL database. Cheap to clone (a shared pool).
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: Pool,
    clock: Arc<dyn Clock>,
}

/// A database error as a [`StoreError`] (the message never holds a bound value).
pub(crate) fn fault(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| StoreError::new(format!("sql {op}: {e}"))
}

/// Whether `e` is worth retrying: a deadlock or serialization failure (Postgres), a busy
/// or locked database (SQLite).
pub(crate) fn transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            Some("40001" | "40P01" | "5" | "6" | "517" | "261" | "262")
        ),
        _ => false,
    }
}

/// A Unix time or count as SQL's `BIGINT` (saturating: no value of ours comes near).
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A `BIGINT` read back as an unsigned value (a negative one cannot be ours: zero).
pub(crate) fn uint(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl SqlStore {
    /// Connects to `url` (`postgres://…`, `postgresql://…` or `sqlite://PATH`, the file
    /// created if missing) on the system clock and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, SqlOptions::default()).await
    }

    /// [`SqlStore::connect`] with options.
    pub async fn connect_with(url: &str, options: SqlOptions) -> Result<Self, StoreError> {
        let pool = open_pool(url, &options).await?;
        let store = Self {
            pool,
            clock: options.clock,
        };
        if options.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// A store over an existing pool (migrations not applied: call [`SqlStore::migrate`]).
    pub fn from_pool(pool: Pool, clock: Arc<dyn Clock>) -> Self {
        Self { pool, clock }
    }

    /// The pool, e.g. to share it with the application's own queries.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Applies this crate's migrations that the database lacks (idempotent; a database
    /// at an older set is brought up to date; concurrent starts are serialized by sqlx's
    /// migration lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let done = with_pool!(&self.pool, |p| migrator(p).run(p).await);
        done.map_err(|e| StoreError::new(format!("sql migrations: {e}")))
    }

    /// Users in this database (table `auth_users`).
    pub fn users(&self) -> SqlUsers {
        SqlUsers::new(self.pool.clone())
    }

    /// API key records in this database (table `auth_api_keys`).
    pub fn api_keys(&self) -> SqlApiKeys {
        SqlApiKeys::new(self.pool.clone())
    }

    /// One cheap query: whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(&self.pool, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(fault("ping"))
    }

    pub(crate) fn now(&self) -> i64 {
        int(self.clock.unix_seconds())
    }

    /// Deletes expired rows, at most `batch` per table per statement and at most
    /// `max_batches` statements per table; returns how many rows went. Never blocks the
    /// tables for long: each statement is one bounded `DELETE`.
    pub async fn purge_expired(&self, batch: u32, max_batches: u32) -> Result<u64, StoreError> {
        const TABLES: [&str; 8] = [
            "DELETE FROM auth_blocked WHERE (iss, jti) IN \
             (SELECT iss, jti FROM auth_blocked WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM auth_families WHERE sid IN \
             (SELECT sid FROM auth_families WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM auth_user_cutoffs WHERE sub IN \
             (SELECT sub FROM auth_user_cutoffs WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM auth_listed WHERE (iss, jti) IN \
             (SELECT iss, jti FROM auth_listed WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM auth_sessions WHERE skey IN \
             (SELECT skey FROM auth_sessions WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM auth_counters WHERE ckey IN \
             (SELECT ckey FROM auth_counters WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM auth_mfa_challenges WHERE ckey IN \
             (SELECT ckey FROM auth_mfa_challenges WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM auth_passkey_ceremonies WHERE ckey IN \
             (SELECT ckey FROM auth_passkey_ceremonies WHERE expires_at <= $1 LIMIT $2)",
        ];
        let now = self.now();
        let mut total = 0;
        for sql in TABLES {
            for _ in 0..max_batches.max(1) {
                let gone = with_pool!(&self.pool, |p| sqlx::query(sql)
                    .bind(now)
                    .bind(i64::from(batch))
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()))
                .map_err(fault("purge"))?;
                total += gone;
                if gone < u64::from(batch) {
                    break;
                }
            }
        }
        Ok(total)
    }

    /// Runs [`SqlStore::purge_expired`] every `config.every` in a background task (on
    /// the current Tokio runtime) until the returned handle is dropped. A failed round is
    /// logged and retried at the next tick.
    pub fn spawn_purge(&self, config: PurgeConfig) -> PurgeTask {
        let store = self.clone();
        let handle = tokio::spawn(async move {
            let mut tick = tokio::time::interval(config.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match store.purge_expired(config.batch, config.max_batches).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(rows = n, "auth-sqlx: purged expired rows"),
                    Err(e) => tracing::warn!(error = %e, "auth-sqlx: purge failed"),
                }
            }
        });
        PurgeTask(handle)
    }
}

/// How often and how much the background purge deletes.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PurgeConfig {
    /// Between rounds (default 60 s).
    pub every: Duration,
    /// Rows per `DELETE` (default 1000).
    pub batch: u32,
    /// `DELETE`s per table per round (default 10): a round deletes at most
    /// `batch × max_batches` rows per table, the rest waits for the next round.
    pub max_batches: u32,
}

impl Default for PurgeConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(60),
            batch: 1000,
            max_batches: 10,
        }
    }
}

impl PurgeConfig {
    /// Sets the time between rounds.
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// Sets the rows per `DELETE`.
    pub fn batch(mut self, rows: u32) -> Self {
        self.batch = rows;
        self
    }

    /// Sets the `DELETE`s per table per round.
    pub fn max_batches(mut self, batches: u32) -> Self {
        self.max_batches = batches;
        self
    }
}

/// The background purge of [`SqlStore::spawn_purge`]; dropping it stops the task.
#[derive(Debug)]
pub struct PurgeTask(tokio::task::JoinHandle<()>);

impl Drop for PurgeTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(feature = "postgres")]
fn migrator_pg() -> &'static sqlx::migrate::Migrator {
    &POSTGRES_MIGRATIONS
}

#[cfg(feature = "sqlite")]
fn migrator_sqlite() -> &'static sqlx::migrate::Migrator {
    &SQLITE_MIGRATIONS
}

/// The migration set of a pool's backend.
trait Migrations {
    fn migrations(&self) -> &'static sqlx::migrate::Migrator;
}

#[cfg(feature = "postgres")]
impl Migrations for sqlx::PgPool {
    fn migrations(&self) -> &'static sqlx::migrate::Migrator {
        migrator_pg()
    }
}

#[cfg(feature = "sqlite")]
impl Migrations for sqlx::SqlitePool {
    fn migrations(&self) -> &'static sqlx::migrate::Migrator {
        migrator_sqlite()
    }
}

fn migrator(p: &impl Migrations) -> &'static sqlx::migrate::Migrator {
    p.migrations()
}

async fn open_pool(url: &str, options: &SqlOptions) -> Result<Pool, StoreError> {
    // Never echo the URL: it may carry a password.
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => {
            let connect: sqlx::postgres::PgConnectOptions = url
                .parse()
                .map_err(|e| StoreError::new(format!("database URL: {e}")))?;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await
                .map_err(fault("connect"))?;
            Ok(Pool::Postgres(pool))
        }
        #[cfg(feature = "sqlite")]
        "sqlite" => {
            use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
            let connect: SqliteConnectOptions = url
                .parse()
                .map_err(|e| StoreError::new(format!("database URL: {e}")))?;
            let connect = connect
                .create_if_missing(true)
                // Readers never wait for the writer; writers queue on the busy timeout.
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10));
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await
                .map_err(fault("connect"))?;
            Ok(Pool::Sqlite(pool))
        }
        _ => Err(StoreError::new(
            "database URL: expected postgres://… or sqlite://PATH (with the matching auth-sqlx feature)",
        )),
    }
}

/// The crate's README, whose examples run as doctests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
