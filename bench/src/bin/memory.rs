//! `bench-memory entries`: memory held by the in-memory store at 1 000 000 entries (live
//! sessions, revoked `jti`s, listed tokens), as the growth of the resident set divided by
//! the count.
//!
//! `bench-memory soak SECONDS`: issue/refresh/logout and session churn against the memory
//! store with short lifetimes (access 20 s, refresh 40 s, sessions 30 s) at a fixed rate;
//! samples the resident set and the entries held every 10 s. Memory is flat when expired
//! entries are purged as fast as new ones arrive: judged over the second half of the run.
//!
//! Each figure is also printed as `result NAME VALUE` for `bench-run`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on a broken setup

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_bench::rss_bytes;
use auth_core::clock::ManualClock;
use auth_core::store::{MemoryStore, Revocations, SessionRecord, Sessions, TokenMeta, TokenRef};

const N: u64 = 1_000_000;
const NOW: u64 = 1_800_000_000;

fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("entries") => entries(),
        Some("soak") => {
            let seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(300);
            soak(seconds);
        }
        _ => {
            eprintln!("usage: bench-memory entries | soak [SECONDS]");
            std::process::exit(2);
        }
    }
}

fn entries() {
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
                user_id: (i % 10_000).to_string().into(),
                roles: vec!["viewer".into()].into(),
                created: NOW,
                last_seen: NOW,
                // 43 base64url characters, as issued tokens are (the memory store
                // shares the record's own text).
                csrf_token: format!("{:042x}A", i).into(),
                data: serde_json::Value::Null,
                expires_at: NOW + 3600,
                amr: Default::default(),
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
    for (name, bytes) in [("session", sessions), ("jti", jtis), ("listed", listed)] {
        println!(
            "memory store, {N} entries ({name}): {} MiB, {} bytes each",
            bytes >> 20,
            bytes / N
        );
        println!("result bytes_per_{name} {}", bytes / N);
    }
}

/// Login + refresh + logout cycles and session start/end per second of the soak.
const CYCLES_PER_SECOND: u64 = 1000;

fn soak(seconds: u64) {
    use auth_core::session::SessionConfig;
    use auth_core::store::StateStore;
    use auth_core::token::TokenConfig;
    use auth_core::{AuthBuilder, adapter::SimpleRequest};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let store = Arc::new(MemoryStore::new());
    let auth = AuthBuilder::new(
        b"soak-access-secret-0123456789abcdef012345",
        b"soak-refresh-secret-0123456789abcdef01234",
    )
    .token_config(
        TokenConfig::default()
            .access_ttl(Duration::from_secs(20))
            .refresh_ttl(Duration::from_secs(40)),
    )
    .store(store.clone() as Arc<dyn StateStore>)
    .users(Arc::new(reference_common::demo_users()))
    .sessions(
        SessionConfig::default()
            .absolute_timeout(Duration::from_secs(30))
            .idle_timeout(Duration::from_secs(30)),
    )
    .build()
    .expect("auth");
    let start = Instant::now();
    let mut samples: Vec<(u64, u64, usize)> = Vec::new();
    let mut cycles: u64 = 0;
    rt.block_on(async {
        let alice = auth
            .users()
            .find_by_username("alice")
            .await
            .expect("users")
            .expect("alice");
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut next_sample = 0;
        while start.elapsed() < Duration::from_secs(seconds) {
            tick.tick().await;
            for i in 0..CYCLES_PER_SECOND / 10 {
                // Log in, refresh once (rotation), use the new access token, log out.
                let pair = auth.tokens().login(&alice, None).await.expect("login");
                let (pair, _) = auth
                    .tokens()
                    .refresh(&pair.refresh.token, None)
                    .await
                    .expect("refresh");
                let claims = auth
                    .tokens()
                    .authenticate(&pair.access.token)
                    .await
                    .expect("authenticate");
                if i % 2 == 0 {
                    // Half the logins end with a logout, half are left to expire.
                    auth.tokens().logout(&claims).await.expect("logout");
                }
                // A cookie session: half logged out, half left to time out.
                let started = auth
                    .sessions()
                    .start(&alice, serde_json::Value::Null, &SimpleRequest::new())
                    .await
                    .expect("session");
                if i % 2 == 0 {
                    auth.sessions().end(&started.session).await.expect("end");
                }
                cycles += 1;
            }
            let t = start.elapsed().as_secs();
            if t >= next_sample {
                let sample = (t, rss_bytes(), store.held_entries());
                println!(
                    "soak t={:>3}s rss={:>6} KiB entries={:>7} cycles={cycles}",
                    sample.0,
                    sample.1 >> 10,
                    sample.2
                );
                samples.push(sample);
                next_sample = t + 10;
            }
        }
    });
    // Steady state: the lifetimes are at most 40 s, but entries settle a little later
    // (sweeps run every 1024 writes); the second half of the soak is judged.
    let half = seconds / 2;
    let at = |t: u64| samples.iter().find(|s| s.0 >= t).copied();
    let (Some(at60), Some(mid), Some(last)) = (at(60), at(half), samples.last().copied()) else {
        println!("result soak_seconds {seconds}");
        println!("result soak_too_short 1");
        return;
    };
    let second_half: Vec<_> = samples.iter().filter(|s| s.0 >= half).collect();
    let max_rss = second_half.iter().map(|s| s.1).max().unwrap_or(0);
    let max_entries = second_half.iter().map(|s| s.2).max().unwrap_or(0);
    // Sweeps make the entries a sawtooth: compare the highest sample of each window.
    let first_steady_max = samples
        .iter()
        .filter(|s| s.0 >= 60 && s.0 < half)
        .map(|s| s.2)
        .max()
        .unwrap_or(0);
    println!("result soak_seconds {seconds}");
    println!("result soak_half_s {}", mid.0);
    println!("result soak_cycles {cycles}");
    println!("result soak_rss_at_60s_kib {}", at60.1 >> 10);
    println!("result soak_rss_mid_kib {}", mid.1 >> 10);
    println!("result soak_rss_end_kib {}", last.1 >> 10);
    println!("result soak_rss_max_kib {}", max_rss >> 10);
    println!("result soak_entries_at_60s {}", at60.2);
    println!("result soak_entries_mid {}", mid.2);
    println!("result soak_entries_end {}", last.2);
    println!("result soak_entries_max {}", max_entries);
    println!("result soak_entries_max_60s_to_half {first_steady_max}");
    let rss: Vec<String> = samples.iter().map(|s| (s.1 >> 10).to_string()).collect();
    println!("result soak_rss_samples_kib {}", rss.join(","));
}
