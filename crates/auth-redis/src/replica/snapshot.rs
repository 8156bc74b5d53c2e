//! The replica's snapshot: the whole revoked set, read from the keys that record it
//! (`SCAN` on every primary), so a replica never depends on the trimmed stream's history.

use auth_core::StoreError;
use redis::Value;

use super::{Replica, pair_key, replica_err};
use crate::conn::{Node, ReaderConnection};

/// Keys asked for per `SCAN` call of a snapshot (a hint to the server; each call stays
/// short however large the keyspace).
const SCAN_COUNT: usize = 1000;
impl Replica {
    /// Applies every revocation recorded in the namespace's keys: blocked `jti`s
    /// (`NS:{u:USER}:jti:ISS:JTI`), revoked families (`NS:{u:USER}:fam:SID` with
    /// `revoked` = 1) and user cut-offs (`NS:{u:USER}:cut`), each until its key's
    /// expiry. `SCAN` returns every key that exists from its first call to its last;
    /// `COUNT` keeps each call short. The values are read per page, each key on its own
    /// (they live in different hash slots): on Redis Cluster the same walk runs on each
    /// primary.
    pub(super) async fn snapshot(&self, conn: &mut ReaderConnection) -> Result<(), StoreError> {
        let nodes = conn
            .primaries()
            .await
            .map_err(|e| replica_err("snapshot", e))?;
        for node in &nodes {
            self.snapshot_node(conn, node).await?;
        }
        Ok(())
    }

    /// The snapshot's walk on one primary (the server itself, or one of a cluster's).
    async fn snapshot_node(
        &self,
        conn: &mut ReaderConnection,
        node: &Node,
    ) -> Result<(), StoreError> {
        let pattern = format!("{}*}}:*", self.user_prefix);
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = conn
                .query_on(
                    node,
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(SCAN_COUNT),
                )
                .await
                .map_err(|e| replica_err("snapshot", e))?;
            // Keys this crate writes are ASCII; any other name is not one of them.
            let found: Vec<(Recorded, String)> = keys
                .into_iter()
                .filter_map(|k| String::from_utf8(k).ok())
                .filter_map(|k| Some((recorded(&self.user_prefix, &k)?, k)))
                .collect();
            if !found.is_empty() {
                let mut pipe = redis::pipe();
                for (what, key) in &found {
                    match what {
                        Recorded::Family { .. } => pipe.cmd("HGET").arg(key).arg("revoked"),
                        Recorded::Token { .. } | Recorded::Cut { .. } => pipe.cmd("GET").arg(key),
                    };
                    pipe.cmd("PEXPIRETIME").arg(key);
                }
                let values: Vec<Value> = conn
                    .pipe_on(node, &pipe)
                    .await
                    .map_err(|e| replica_err("snapshot", e))?;
                let mut s = self.lock();
                for ((what, _), pair) in found.into_iter().zip(values.chunks(2)) {
                    let value: Option<String> = pair
                        .first()
                        .and_then(|v| redis::from_redis_value(v.clone()).ok())
                        .flatten();
                    let expires: i64 = pair
                        .get(1)
                        .and_then(|v| redis::from_redis_value(v.clone()).ok())
                        .unwrap_or(-2);
                    // -2: gone since the SCAN; -1: no expiry (never written so).
                    let until = match expires {
                        -1 => u64::MAX,
                        e if e > 0 => e as u64,
                        _ => continue,
                    };
                    let Some(value) = value else { continue };
                    match what {
                        Recorded::Token { iss, jti } => {
                            s.tokens.insert(pair_key(&iss, &jti), until);
                        }
                        Recorded::Family { sub, sid } => {
                            if value == "1" {
                                s.families.insert(pair_key(&sub, &sid), until);
                            }
                        }
                        Recorded::Cut { sub } => {
                            if let Ok(cut) = value.parse::<u64>() {
                                s.user(sub, cut, until);
                            }
                        }
                    }
                }
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// A key that may record a revocation, with the identities decoded from its name.
enum Recorded {
    Token { iss: String, jti: String },
    Family { sub: String, sid: String },
    Cut { sub: String },
}

/// What `key` (under `user_prefix`, `NS:{u:`) records, if it is a blocked `jti`, a
/// family or a cut-off. Key parts never contain `}` or `:` (see `part`).
fn recorded(user_prefix: &str, key: &str) -> Option<Recorded> {
    let (user, what) = key.strip_prefix(user_prefix)?.split_once("}:")?;
    if what == "cut" {
        return Some(Recorded::Cut {
            sub: crate::keys::unpart(user)?,
        });
    }
    if let Some(sid) = what.strip_prefix("fam:") {
        return Some(Recorded::Family {
            sub: crate::keys::unpart(user)?,
            sid: crate::keys::unpart(sid)?,
        });
    }
    let (iss, jti) = what.strip_prefix("jti:")?.split_once(':')?;
    Some(Recorded::Token {
        iss: crate::keys::unpart(iss)?,
        jti: crate::keys::unpart(jti)?,
    })
}
