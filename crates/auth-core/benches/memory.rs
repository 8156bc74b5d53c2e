//! `cargo bench -p auth-core --bench memory`
//!
//! Memory held by the in-memory store: 1 000 000 live sessions and 1 000 000 revoked
//! `jti`s, measured as the growth of the process's resident set (Linux `/proc/self/statm`)
//! while they are inserted, divided by the count. Not a criterion benchmark: one
//! measurement, printed.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark aborts on a broken setup

use std::sync::Arc;

use auth_core::clock::ManualClock;
use auth_core::store::{MemoryStore, Revocations, SessionRecord, Sessions, TokenMeta, TokenRef};

const N: u64 = 1_000_000;
const NOW: u64 = 1_800_000_000;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("statm");
    pages * 4096
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (such as `cargo test --benches`) only
    // checks that this builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let clock = Arc::new(ManualClock::at_unix(NOW));

    let store = MemoryStore::with_clock(clock.clone());
    let before = rss_bytes();
    rt.block_on(async {
        for i in 0..N {
            // Session keys are 64-hex-character digests, as the session module stores them.
            let key = format!("{:064x}", u128::from(i as u32) * 0x9e37_79b9_7f4a_7c15);
            let record = SessionRecord {
                user_id: (i % 10_000).to_string(),
                roles: vec!["viewer".into()],
                created: NOW,
                last_seen: NOW,
                csrf_token: format!("{:043}", i),
                data: serde_json::Value::Null,
                expires_at: NOW + 3600,
            };
            store.insert_session(&key, &record).await.expect("insert");
        }
    });
    let sessions = rss_bytes() - before;

    let store = MemoryStore::with_clock(clock);
    let before = rss_bytes();
    rt.block_on(async {
        for i in 0..N {
            // jti values are 22 base64url characters (128 bits), as issued.
            let jti = format!("{:022}", i);
            let t = TokenRef {
                iss: "auth-reference",
                jti: &jti,
                sid: "s",
                sub: "1",
                iat: NOW,
                exp: NOW + 900,
            };
            store.revoke_token(&t).await.expect("revoke");
        }
    });
    let jtis = rss_bytes() - before;

    let store = MemoryStore::with_clock(Arc::new(ManualClock::at_unix(NOW)));
    let before = rss_bytes();
    rt.block_on(async {
        for i in 0..N {
            // Allowlist mode: every issued token listed, two per login (access + refresh).
            let jti = format!("{:022}", i);
            let sid = format!("{:022}", i / 2);
            let sub = (i % 10_000).to_string();
            let t = TokenRef {
                iss: "auth-reference",
                jti: &jti,
                sid: &sid,
                sub: &sub,
                iat: NOW,
                exp: NOW + 900,
            };
            let meta = TokenMeta {
                issued: NOW,
                client: Some("192.0.2.7".into()),
                user_agent: None,
            };
            store.list_token(&t, &meta).await.expect("list");
        }
    });
    let listed = rss_bytes() - before;
    println!(
        "memory store, {N} listed tokens (allowlist, with client address): {} MiB, {} bytes per token",
        listed >> 20,
        listed / N
    );
    println!(
        "memory store, {N} live sessions: {} MiB, {} bytes per session",
        sessions >> 20,
        sessions / N
    );
    println!(
        "memory store, {N} revoked jtis:  {} MiB, {} bytes per jti",
        jtis >> 20,
        jtis / N
    );
}
