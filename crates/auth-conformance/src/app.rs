//! Starting a reference app for a scenario.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::parse_listening_line;

/// The test secrets every scenario's app gets (at least 32 bytes, distinct).
pub const ACCESS_SECRET: &str = "conformance-access-secret-0123456789abcdef";
/// The `kid` the apps' access tokens carry: derived from [`ACCESS_SECRET`] as
/// `auth_core::token::derived_kid` documents (forged tokens need it to reach the
/// signature check).
pub fn access_kid() -> String {
    auth_core::token::derived_kid(ACCESS_SECRET.as_bytes())
}

/// See [`ACCESS_SECRET`].
pub const REFRESH_SECRET: &str = "conformance-refresh-secret-0123456789abcde";

/// How to start the app under test: which binary, and which state store.
#[derive(Debug, Clone)]
pub struct Target {
    /// Path of the reference binary.
    pub binary: String,
    /// Run on Redis (`AUTH_TEST_REDIS_URL`) instead of memory.
    pub redis: bool,
    /// Run on a SQL database (`AUTH_DATABASE_URL`) instead of memory.
    pub database: Option<Database>,
    /// Run with `AUTH_REVOCATION=allowlist`.
    pub allowlist: bool,
    /// Run on a Redis Cluster ([`crate::cluster::cluster_nodes`]) instead.
    pub cluster: bool,
}

/// The SQL databases a target can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// A fresh SQLite file per app (or per group of apps sharing it).
    Sqlite,
    /// A fresh schema on the Postgres server at `AUTH_TEST_DATABASE_URL` (default
    /// `postgres://postgres@127.0.0.1:5432/postgres`; `.ci/run` starts one).
    Postgres,
}

/// Where a group of apps keeps its state: a Redis namespace or a database, fresh for the
/// group, so apps started on one [`Storage`] share everything (and a restarted app finds
/// what its predecessor left).
#[derive(Debug, Clone, Default)]
pub struct Storage {
    /// `AUTH_REDIS_NAMESPACE`, with `AUTH_REDIS_URL`.
    pub redis_namespace: Option<String>,
    /// `AUTH_DATABASE_URL`.
    pub database_url: Option<String>,
}

impl Target {
    /// The in-memory store.
    pub fn memory(binary: &str) -> Self {
        Self {
            binary: binary.into(),
            redis: false,
            database: None,
            allowlist: false,
            cluster: false,
        }
    }

    /// A fresh SQLite file per app.
    pub fn sqlite(binary: &str) -> Self {
        Self {
            database: Some(Database::Sqlite),
            ..Self::memory(binary)
        }
    }

    /// A fresh schema per app on the Postgres server at `AUTH_TEST_DATABASE_URL`.
    pub fn postgres(binary: &str) -> Self {
        Self {
            database: Some(Database::Postgres),
            ..Self::memory(binary)
        }
    }

    /// Redis at `AUTH_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`).
    pub fn redis(binary: &str) -> Self {
        Self {
            binary: binary.into(),
            redis: true,
            database: None,
            allowlist: false,
            cluster: false,
        }
    }

    /// A Redis Cluster (`AUTH_TEST_REDIS_CLUSTER_NODES`, or a local one this suite starts).
    pub fn cluster(binary: &str) -> Self {
        Self {
            binary: binary.into(),
            redis: true,
            database: None,
            allowlist: false,
            cluster: true,
        }
    }

    /// The same target in allowlist revocation mode.
    pub fn allowlist(mut self) -> Self {
        self.allowlist = true;
        self
    }

    /// Starts one app with a fresh state namespace.
    pub async fn start(&self) -> App {
        self.start_with(&[]).await
    }

    /// Starts one app with extra environment.
    pub async fn start_with(&self, env: &[(&str, &str)]) -> App {
        let storage = self.storage().await;
        self.start_on(&storage, env).await
    }

    /// Fresh state for a group of apps (nothing for the memory store).
    pub async fn storage(&self) -> Storage {
        Storage {
            redis_namespace: self.redis.then(unique_namespace),
            database_url: match self.database {
                None => None,
                Some(Database::Sqlite) => Some(fresh_sqlite()),
                Some(Database::Postgres) => Some(fresh_postgres().await),
            },
        }
    }

    /// Starts one app on `storage`, with extra environment.
    pub async fn start_on(&self, storage: &Storage, env: &[(&str, &str)]) -> App {
        let mut all: Vec<(&str, &str)> = env.to_vec();
        if self.allowlist {
            all.push(("AUTH_REVOCATION", "allowlist"));
        }
        let nodes;
        if self.cluster {
            nodes = crate::cluster::cluster_nodes();
            all.extend(cluster_env(&nodes));
        }
        if let Some(url) = &storage.database_url {
            all.push(("AUTH_DATABASE_URL", url.as_str()));
        }
        App::start(&self.binary, storage.redis_namespace.as_deref(), &all).await
    }

    /// Whether the state outlives an app (Redis or a database).
    pub fn persistent(&self) -> bool {
        self.redis || self.database.is_some()
    }
}

/// A free port on 127.0.0.1, for an app whose address must be known before it starts
/// (passkeys: `AUTH_WEBAUTHN_ORIGIN` names the port). The probe listener is closed at
/// once; start the app on it with `AUTH_BIND=127.0.0.1:PORT`.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// The Postgres server the database targets use.
pub fn database_url() -> String {
    std::env::var("AUTH_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A name no other scenario uses: `PREFIX_PID_NANOS_N`.
pub(crate) fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new SQLite file's URL (the app creates the file).
pub fn fresh_sqlite() -> String {
    let path = std::env::temp_dir().join(format!("{}.db", unique_name("conformance")));
    format!("sqlite://{}", path.display())
}

/// A new, empty schema on the Postgres server, as a URL whose connections use it
/// (`search_path`), so apps on different schemas never see each other's rows. Panics
/// loudly without a server.
pub async fn fresh_postgres() -> String {
    use sqlx::Connection as _;
    let admin = database_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "no Postgres at AUTH_TEST_DATABASE_URL={admin} ({e}); `.ci/run` starts one \
             (Debian's postgresql package)"
            )
        });
    let name = unique_name("conformance");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
        .execute(&mut conn)
        .await
        .expect("CREATE SCHEMA");
    let _ = conn.close().await;
    let sep = if admin.contains('?') { '&' } else { '?' };
    format!("{admin}{sep}options[search_path]={name}")
}

/// The environment that moves an app from `AUTH_REDIS_URL` to the cluster `nodes`.
pub fn cluster_env(nodes: &str) -> [(&'static str, &str); 2] {
    [("AUTH_REDIS_URL", ""), ("AUTH_REDIS_CLUSTER_NODES", nodes)]
}

/// The Redis URL the suite uses.
pub fn redis_url() -> String {
    std::env::var("AUTH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A Redis namespace no other scenario uses.
pub fn unique_namespace() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "conformance:{}:{nanos}:{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A running reference app; killed when dropped.
#[derive(Debug)]
pub struct App {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A client that keeps no cookies, follows no redirects and pools no connections.
    pub client: reqwest::Client,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl App {
    /// Starts `binary` on `127.0.0.1:0` with the test secrets, on Redis namespace
    /// `redis_ns` when given, and waits for its `listening on` line.
    pub async fn start(binary: &str, redis_ns: Option<&str>, env: &[(&str, &str)]) -> App {
        let mut cmd = Command::new(binary);
        cmd.env("AUTH_BIND", "127.0.0.1:0")
            .env("AUTH_JWT_SECRET", ACCESS_SECRET)
            .env("AUTH_REFRESH_SECRET", REFRESH_SECRET)
            .env_remove("AUTH_REDIS_URL")
            .env_remove("AUTH_REDIS_CLUSTER_NODES")
            .env_remove("AUTH_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(ns) = redis_ns {
            cmd.env("AUTH_REDIS_URL", redis_url())
                .env("AUTH_REDIS_NAMESPACE", ns);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let line = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                let _ = BufReader::new(stdout).read_line(&mut line);
                line
            }),
        )
        .await;
        let line = match line {
            Ok(Ok(line)) => line,
            _ => String::new(),
        };
        let Some(addr) = parse_listening_line(&line).map(String::from) else {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!(
                "{binary} did not print `listening on http://HOST:PORT` (got {line:?}); stderr:\n{err}\n\
                 (Redis scenarios need a server at {}; `.ci/run` starts one.)",
                redis_url()
            );
        };
        // No pooled connections: scenarios send requests a server may answer by closing
        // the connection (oversized headers), and a reused dead connection must not turn
        // into a false failure of the next request.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        App {
            child,
            base: format!("http://{addr}"),
            client,
        }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
