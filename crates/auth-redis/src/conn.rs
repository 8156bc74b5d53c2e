//! The connection a [`RedisStore`](crate::RedisStore) talks through: one server or a
//! Redis Cluster, plain or TLS, and the checks made when it is opened.

use std::time::Duration;

use auth_core::StoreError;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// The oldest Redis the store runs on: its scripts use `PEXPIRETIME` and the replica
/// reads `XINFO STREAM`'s `entries-added`, both new in 7.0.
pub const MIN_REDIS_VERSION: (u32, u32) = (7, 0);

/// A connection to the store's Redis, as [`RedisStore::from_connection`] takes it: one
/// server or a cluster. Cheap to clone (each is multiplexed).
///
/// [`RedisStore::from_connection`]: crate::RedisStore::from_connection
#[derive(Clone)]
pub enum RedisConnection {
    /// One server, reconnecting by itself.
    Single(ConnectionManager),
    /// A Redis Cluster: each command goes to its slot's primary; `MOVED`/`ASK` are
    /// followed and the slot map refreshed by the client.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "RedisConnection::Single",
            Self::Cluster(_) => "RedisConnection::Cluster",
        })
    }
}

impl From<ConnectionManager> for RedisConnection {
    fn from(c: ConnectionManager) -> Self {
        Self::Single(c)
    }
}

impl From<ClusterConnection> for RedisConnection {
    fn from(c: ClusterConnection) -> Self {
        Self::Cluster(c)
    }
}

/// `ConnectionLike` for an enum of a single-server and a cluster connection: every call
/// goes to the variant's own connection.
macro_rules! delegate_connection_like {
    ($ty:ty) => {
        impl ConnectionLike for $ty {
            fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
                match self {
                    Self::Single(c) => c.req_packed_command(cmd),
                    Self::Cluster(c) => c.req_packed_command(cmd),
                }
            }

            fn req_packed_commands<'a>(
                &'a mut self,
                pipeline: &'a Pipeline,
                offset: usize,
                count: usize,
            ) -> RedisFuture<'a, Vec<Value>> {
                match self {
                    Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
                    Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
                }
            }

            fn get_db(&self) -> i64 {
                match self {
                    Self::Single(c) => c.get_db(),
                    Self::Cluster(c) => c.get_db(),
                }
            }
        }
    };
}

delegate_connection_like!(RedisConnection);

impl RedisConnection {
    /// Whether this is a cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Runs `cmd` on every primary (on one server: on it), one answer per primary.
    pub(crate) async fn on_each_primary(
        &mut self,
        cmd: &Cmd,
    ) -> Result<Vec<(String, Value)>, redis::RedisError> {
        match self {
            Self::Single(c) => Ok(vec![(String::new(), cmd.query_async(c).await?)]),
            Self::Cluster(c) => {
                let mut out = Vec::new();
                for (host, port) in primaries(c).await? {
                    let v = c
                        .route_command(
                            cmd.clone(),
                            RoutingInfo::SingleNode(by_address(&host, port)),
                        )
                        .await?;
                    out.push((format!("{host}:{port}"), v));
                }
                Ok(out)
            }
        }
    }
}

/// The cluster's primaries (`CLUSTER SLOTS`), each once.
async fn primaries(c: &mut ClusterConnection) -> Result<Vec<(String, u16)>, redis::RedisError> {
    let slots: Vec<Value> = redis::cmd("CLUSTER").arg("SLOTS").query_async(c).await?;
    let mut out: Vec<(String, u16)> = Vec::new();
    for range in slots {
        let Value::Array(parts) = range else { continue };
        let Some(Value::Array(node)) = parts.get(2) else {
            continue;
        };
        let host: Option<String> = node
            .first()
            .and_then(|v| redis::from_redis_value(v.clone()).ok());
        let port: Option<u16> = node
            .get(1)
            .and_then(|v| redis::from_redis_value(v.clone()).ok());
        if let (Some(host), Some(port)) = (host, port)
            && !out.iter().any(|(h, p)| *h == host && *p == port)
        {
            out.push((host, port));
        }
    }
    if out.is_empty() {
        return Err(redis::RedisError::from((
            redis::ErrorKind::Client,
            "CLUSTER SLOTS named no primary",
        )));
    }
    Ok(out)
}

pub(crate) fn err(op: &str, e: redis::RedisError) -> StoreError {
    StoreError::new(format!("redis {op}: {e}"))
}

/// How to open (and reopen) a connection: the replica's reader needs its own, with a
/// longer response timeout than the store's (its `XREAD` blocks).
#[derive(Clone)]
pub(crate) enum Opener {
    Single(Box<redis::Client>),
    Cluster(Box<ClusterClient>),
}

impl Opener {
    /// The TLS stack for `rediss://`: rustls on aws-lc-rs, installed as the process's
    /// default provider unless the application installed one first (the `redis` crate
    /// builds its rustls configuration from the default). Plain `redis://` installs
    /// nothing.
    fn tls_provider<S: AsRef<str>>(urls: &[S]) {
        if urls.iter().any(|u| u.as_ref().starts_with("rediss://"))
            && rustls::crypto::CryptoProvider::get_default().is_none()
        {
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
    }

    /// A client for `url` (`redis://` or `rediss://`), trusting `ca_pem` (PEM) if given
    /// instead of the system's roots.
    pub(crate) fn single(url: &str, ca_pem: Option<&[u8]>) -> Result<Self, StoreError> {
        Self::tls_provider(&[url]);
        let client = match ca_pem {
            Some(pem) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.to_vec()),
                },
            ),
            None => redis::Client::open(url),
        }
        .map_err(|e| err("url", e))?;
        Ok(Self::Single(Box::new(client)))
    }

    /// A client for the cluster whose nodes (some of them are enough) are `nodes`.
    pub(crate) fn cluster<S: AsRef<str>>(
        nodes: &[S],
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, StoreError> {
        Self::tls_provider(nodes);
        if nodes.is_empty() {
            return Err(StoreError::new("redis cluster: no node URL given"));
        }
        let urls: Vec<&str> = nodes.iter().map(AsRef::as_ref).collect();
        let mut builder = ClusterClient::builder(urls)
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(2))
            .retries(3)
            .max_retry_wait(500);
        if let Some(pem) = ca_pem {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.to_vec()),
            });
        }
        let client = builder.build().map_err(|e| err("cluster", e))?;
        Ok(Self::Cluster(Box::new(client)))
    }

    /// The store's connection: 2 s timeouts, reconnecting by itself.
    pub(crate) async fn open(&self) -> Result<RedisConnection, StoreError> {
        match self {
            Self::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(2)))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_with_config((**client).clone(), config)
                    .await
                    .map(RedisConnection::Single)
                    .map_err(|e| err("connect", e))
            }
            Self::Cluster(client) => client
                .get_async_connection()
                .await
                .map(RedisConnection::Cluster)
                .map_err(|e| err("cluster connect", e)),
        }
    }

    /// A connection of its own whose answers may take `response_timeout` (a blocking
    /// read).
    pub(crate) async fn open_reader(
        &self,
        response_timeout: Duration,
    ) -> redis::RedisResult<ReaderConnection> {
        match self {
            Self::Single(client) => {
                let timeouts = redis::AsyncConnectionConfig::new()
                    .set_response_timeout(Some(response_timeout));
                client
                    .get_multiplexed_async_connection_with_config(&timeouts)
                    .await
                    .map(ReaderConnection::Single)
            }
            Self::Cluster(client) => client
                .get_async_connection_with_config(
                    ClusterConfig::new()
                        .set_connection_timeout(Duration::from_secs(2))
                        .set_response_timeout(response_timeout),
                )
                .await
                .map(|c| ReaderConnection::Cluster(RedisConnection::Cluster(c))),
        }
    }
}

/// The replica reader's own connection.
pub(crate) enum ReaderConnection {
    Single(redis::aio::MultiplexedConnection),
    Cluster(RedisConnection),
}

delegate_connection_like!(ReaderConnection);

/// One primary: `None` on a single server.
pub(crate) type Node = Option<(String, u16)>;

impl ReaderConnection {
    /// The primaries to walk for a snapshot: the one server, or each cluster primary.
    pub(crate) async fn primaries(&mut self) -> Result<Vec<Node>, redis::RedisError> {
        match self {
            Self::Single(_) | Self::Cluster(RedisConnection::Single(_)) => Ok(vec![None]),
            Self::Cluster(RedisConnection::Cluster(c)) => {
                Ok(primaries(c).await?.into_iter().map(Some).collect())
            }
        }
    }

    /// Runs `cmd` on `node`.
    pub(crate) async fn query_on<T: redis::FromRedisValue>(
        &mut self,
        node: &Node,
        cmd: &Cmd,
    ) -> Result<T, redis::RedisError> {
        match (self, node) {
            (Self::Cluster(RedisConnection::Cluster(c)), Some((host, port))) => {
                let v = c
                    .route_command(
                        cmd.clone(),
                        RoutingInfo::SingleNode(by_address(host, *port)),
                    )
                    .await?;
                redis::from_redis_value(v).map_err(Into::into)
            }
            (c, _) => cmd.query_async(c).await,
        }
    }

    /// Runs `pipe` (plain, not `MULTI`) on `node`: on a cluster its keys may be in any of
    /// the node's slots.
    pub(crate) async fn pipe_on(
        &mut self,
        node: &Node,
        pipe: &Pipeline,
    ) -> Result<Vec<Value>, redis::RedisError> {
        match (self, node) {
            (Self::Cluster(RedisConnection::Cluster(c)), Some((host, port))) => {
                let n = pipe.len();
                c.route_pipeline(pipe.clone(), 0, n, by_address(host, *port))
                    .await
            }
            (c, _) => pipe.query_async(c).await,
        }
    }
}

fn by_address(host: &str, port: u16) -> SingleNodeRoutingInfo {
    SingleNodeRoutingInfo::ByAddress {
        host: host.to_string(),
        port,
    }
}

/// The `major.minor` in `INFO server`'s `redis_version`.
fn version(info: &str) -> Option<(u32, u32)> {
    let v = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("redis_version:"))?;
    let mut it = v.split('.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Refuses a server (any primary of a cluster) older than [`MIN_REDIS_VERSION`], with a
/// message that says so, rather than failing later on the first script.
pub(crate) async fn check_version(conn: &mut RedisConnection) -> Result<(), StoreError> {
    let answers = conn
        .on_each_primary(redis::cmd("INFO").arg("server"))
        .await
        .map_err(|e| err("version check", e))?;
    for (node, v) in answers {
        let info: String =
            redis::from_redis_value(v).map_err(|e| err("version check", e.into()))?;
        let (major, minor) = MIN_REDIS_VERSION;
        match version(&info) {
            Some(found) if found >= MIN_REDIS_VERSION => {}
            found => {
                let found = found.map_or("an unknown version".to_string(), |(a, b)| {
                    format!("version {a}.{b}")
                });
                let at = if node.is_empty() {
                    String::new()
                } else {
                    format!(" at {node}")
                };
                return Err(StoreError::new(format!(
                    "the Redis server{at} runs {found}; auth-redis needs Redis {major}.{minor} or later (its scripts use PEXPIRETIME)"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::version;

    #[test]
    fn reads_the_version_from_info() {
        assert_eq!(
            version("# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n"),
            Some((7, 0))
        );
        assert_eq!(version("redis_version:6.2.14\r\n"), Some((6, 2)));
        assert_eq!(version("redis_version:10.1.0\r\n"), Some((10, 1)));
        assert_eq!(version("nothing here"), None);
    }
}
