//! The replica's reader: `XREAD BLOCK` on its own connection, the stream's counters
//! (`XINFO STREAM`) and the gap check that sends it back to a snapshot.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::{Duration, Instant};

use auth_core::StoreError;
use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands as _, Value};

use super::{Replica, ReplicaConfig, field, replica_err};
use crate::conn::{Opener, ReaderConnection};

/// What the reader needs from `XINFO STREAM` (Redis 7.0 or later).
pub(super) struct StreamInfo {
    pub(super) last_generated: String,
    /// Entries ever appended.
    pub(super) entries_added: u64,
    /// Entries in the stream now.
    pub(super) length: u64,
    /// The highest id removed by `XDEL` (trimming does not move it).
    pub(super) max_deleted: String,
}

/// The stream's counters, or `None` when it does not exist.
pub(super) async fn stream_info(
    conn: &mut ReaderConnection,
    stream: &str,
) -> Result<Option<StreamInfo>, StoreError> {
    let reply: Value = match redis::cmd("XINFO")
        .arg("STREAM")
        .arg(stream)
        .query_async(conn)
        .await
    {
        Ok(v) => v,
        Err(e) if e.detail().is_some_and(|d| d.contains("no such key")) => return Ok(None),
        Err(e) => return Err(replica_err("stream info", e)),
    };
    let items: Vec<(Value, Value)> = match reply {
        Value::Array(flat) => {
            let mut it = flat.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            pairs
        }
        Value::Map(pairs) => pairs,
        _ => Vec::new(),
    };
    let map: HashMap<String, Value> = items
        .into_iter()
        .filter_map(|(k, v)| Some((redis::from_redis_value::<String>(k).ok()?, v)))
        .collect();
    let num = |n: &str| field(&map, n).and_then(|v| v.parse::<u64>().ok());
    match (
        field(&map, "last-generated-id"),
        num("entries-added"),
        num("length"),
        field(&map, "max-deleted-entry-id"),
    ) {
        (Some(last_generated), Some(entries_added), Some(length), Some(max_deleted)) => {
            Ok(Some(StreamInfo {
                last_generated,
                entries_added,
                length,
                max_deleted,
            }))
        }
        _ => Err(StoreError::new(
            "redis replica: XINFO STREAM lacks entries-added (the replica needs Redis 7.0 or later)",
        )),
    }
}

/// Why entries after the position (`id`, the stream's `entries-added` count `count` at
/// it) may be lost, given the stream as read *after* reading from that position; `None`
/// when every entry after it was still there when read. Trimming removes the oldest
/// entries first, so the stream lost one after the position exactly when more entries
/// were removed in all (`entries-added` - `length`) than were appended up to it.
pub(super) fn gap(id: &str, count: u64, info: Option<&StreamInfo>) -> Option<&'static str> {
    let Some(info) = info else {
        return (count > 0 || id != "0-0").then_some("the stream was deleted");
    };
    if info.entries_added < count || id_before(&info.last_generated, id) {
        Some("the stream was recreated")
    } else if info.entries_added.saturating_sub(info.length) > count {
        Some("the stream was trimmed past this instance's position")
    } else if id_before(id, &info.max_deleted) {
        Some("entries after this instance's position were deleted")
    } else {
        None
    }
}

/// How long the reader's `XREAD` blocks: a quarter of `max_lag`, at least 50 ms.
fn block_time(config: &ReplicaConfig) -> Duration {
    (config.max_lag / 4).max(Duration::from_millis(50))
}

/// The reader's own connection. Its response timeout must outlast the `XREAD` block (the
/// client's default, 500 ms, equals the default block: every quiet read would fail and
/// the replica would go stale); a server that does not answer within block + `max_lag`
/// is treated as gone.
pub(super) async fn reader_connection(
    opener: &Opener,
    config: &ReplicaConfig,
) -> redis::RedisResult<ReaderConnection> {
    opener
        .open_reader(block_time(config) + config.max_lag)
        .await
}

pub(super) async fn read_loop(
    replica: Weak<Replica>,
    opener: Opener,
    mut conn: ReaderConnection,
    config: ReplicaConfig,
) {
    let block = block_time(&config);
    let mut last_purge = Instant::now();
    loop {
        let Some(r) = replica.upgrade() else {
            return; // the store is gone
        };
        let step = r.step(&mut conn, block).await;
        if last_purge.elapsed() > Duration::from_secs(10) {
            r.lock().purge();
            last_purge = Instant::now();
        }
        drop(r);
        if let Err(e) = step {
            tracing::warn!(error = %e, "redis replica: read failed; reconnecting");
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Ok(c) = reader_connection(&opener, &config).await {
                conn = c;
            }
        }
    }
}

impl Replica {
    /// One turn of the reader: a snapshot if untrusted; otherwise one `XREAD` and the gap
    /// check after it. Fresh again (`heard_at`) only once the check found no gap.
    async fn step(&self, conn: &mut ReaderConnection, block: Duration) -> Result<(), StoreError> {
        if !self.lock().trusted {
            if self.resync(conn).await? {
                tracing::info!("redis replica: snapshot complete; answering locally again");
            } else {
                tokio::time::sleep(block).await; // the stream outran the snapshot: retry
            }
            return Ok(());
        }
        let (from_id, from_count) = {
            let s = self.lock();
            (s.last_id.clone(), s.counted)
        };
        let opts = StreamReadOptions::default()
            .block(usize::try_from(block.as_millis()).unwrap_or(500))
            .count(1000);
        let reply: Option<StreamReadReply> = conn
            .xread_options(&[&self.stream], &[&from_id], &opts)
            .await
            .map_err(|e| replica_err("read", e))?;
        self.lock().apply_entries(
            reply
                .map(|r| r.keys)
                .unwrap_or_default()
                .into_iter()
                .flat_map(|k| k.ids)
                .collect(),
        );
        let info = stream_info(conn, &self.stream).await?;
        let mut s = self.lock();
        if let Some(why) = gap(&from_id, from_count, info.as_ref()) {
            tracing::error!(
                "redis replica: {why}; checks go direct until a new snapshot completes"
            );
            s.trusted = false;
        } else {
            s.heard_at = Some(Instant::now());
        }
        Ok(())
    }
}

/// Whether stream id `a` is strictly before `b`.
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
