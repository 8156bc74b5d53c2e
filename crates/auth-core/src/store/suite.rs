//! The one store test suite that every backend runs unchanged (enable the
//! `store-test-suite` feature). A backend provides a [`Harness`] and instantiates every
//! scenario with [`store_suite!`](crate::store_suite):
//!
//! ```text
//! auth_core::store_suite!(async { MyHarness::connect().await });
//! ```
//!
//! Time: the memory backend's harness moves a manual clock; a real server's harness waits
//! for real TTLs, so scenarios use lifetimes of a few seconds.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a test fails by panicking

use std::sync::Arc;

use async_trait::async_trait;

use super::{Rotation, SessionRecord, StateStore, TokenMeta, TokenRef, TokenStatus};

mod agree;
mod factors;
mod passkeys;
use agree::{checked, listed, loaded};
pub use factors::*;
pub use passkeys::*;

/// What a backend gives the suite.
#[async_trait]
pub trait Harness: Send + Sync + 'static {
    /// A client of the store under test.
    fn store(&self) -> Arc<dyn StateStore>;
    /// A second, independent client of the same state (a second app instance).
    async fn second_client(&self) -> Arc<dyn StateStore>;
    /// Now, in Unix seconds, as the store sees it.
    fn now(&self) -> u64;
    /// Lets `secs` seconds pass.
    async fn advance(&self, secs: u64);
    /// How long a revocation made through one client may take to reach another's
    /// *check* (default zero: at once). A store that replicates revocations into each
    /// instance declares its bound; the suite then waits at most that long (the
    /// contract's 100 ms figure is measured by a benchmark, not asserted here).
    fn propagation(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// `b.check(t)` until it answers `Revoked` or `within` has passed; the last answer.
async fn revoked_within(
    b: &Arc<dyn StateStore>,
    t: &TokenRef<'_>,
    within: std::time::Duration,
) -> TokenStatus {
    let deadline = std::time::Instant::now() + within;
    loop {
        // One door only: a revocation landing between two reads is not a disagreement.
        let status = b.check(t).await.unwrap();
        if status == TokenStatus::Revoked || std::time::Instant::now() >= deadline {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// Instantiates every scenario as a `#[tokio::test]`; `$make` is a future of a harness,
/// evaluated once per test (so each test gets its own namespace).
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        $crate::store_suite!(@tests $make;
            blocked_token_is_revoked_until_its_exp,
            revocation_is_keyed_on_issuer_and_jti,
            family_revocation_covers_every_token_of_the_family,
            user_revocation_refuses_earlier_tokens_and_ends_everything,
            rotation_consumes_and_reuse_revokes_the_family,
            rotation_of_an_unknown_family_or_another_users_is_unknown,
            concurrent_rotations_have_exactly_one_winner,
            a_second_client_sees_revocations_at_once,
            counters_count_in_fixed_windows_and_expire,
            reserve_checks_and_counts_in_one_step,
            a_lock_never_outlasts_its_window,
            sessions_live_slide_and_end,
            families_and_sessions_expire,
            families_are_listed_until_revoked,
            allowlist_accepts_only_listed_tokens,
            allowlist_entries_go_with_logout_family_and_user,
            allowlist_entries_expire_with_their_tokens,
            identities_link_once_and_for_good,
            totp_enrolment_is_pending_until_activated_once,
            a_totp_step_is_used_once_even_concurrently,
            recovery_codes_are_spent_once,
            challenges_are_single_use_count_failures_and_expire,
            passkeys_are_registered_once_listed_and_removed,
            a_sign_counter_only_moves_forward_even_concurrently,
            ceremonies_are_taken_once_and_expire,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let harness = $make.await;
                $crate::store::suite::$name(&harness).await;
            }
        )*
    };
}

fn token<'a>(jti: &'a str, sid: &'a str, sub: &'a str, iat: u64, exp: u64) -> TokenRef<'a> {
    TokenRef {
        iss: "auth-reference",
        jti,
        sid,
        sub,
        iat,
        exp,
    }
}

fn session(user: &str, now: u64, ttl: u64) -> SessionRecord {
    SessionRecord {
        user_id: user.into(),
        roles: vec!["viewer".into()].into(),
        created: now,
        last_seen: now,
        csrf_token: "csrf".into(),
        data: serde_json::json!({"theme": "dark"}),
        expires_at: now + ttl,
        amr: vec!["pwd".into(), "otp".into()].into(),
    }
}

pub async fn blocked_token_is_revoked_until_its_exp<H: Harness>(h: &H) {
    let s = h.store();
    let now = h.now();
    let t = token("j1", "s1", "u1", now, now + 2);
    assert_eq!(checked(&s, &t).await, TokenStatus::Active);
    s.revoke_token(&t).await.unwrap();
    assert_eq!(checked(&s, &t).await, TokenStatus::Revoked);
    let other = token("j2", "s1", "u1", now, now + 2);
    assert_eq!(
        checked(&s, &other).await,
        TokenStatus::Active,
        "only that jti"
    );
    h.advance(3).await;
    // Past its exp the entry is gone (the token itself is refused by `exp`).
    assert_eq!(
        checked(&s, &t).await,
        TokenStatus::Active,
        "the entry expired with the token"
    );
}

pub async fn revocation_is_keyed_on_issuer_and_jti<H: Harness>(h: &H) {
    let s = h.store();
    let now = h.now();
    let t = token("same-jti", "s1", "u1", now, now + 60);
    s.revoke_token(&t).await.unwrap();
    // Another encoding of the same token (any other bytes, same identity) is revoked...
    let copy = token("same-jti", "s1", "u1", now, now + 60);
    assert_eq!(checked(&s, &copy).await, TokenStatus::Revoked);
    // ...while the same jti from another issuer is another token.
    let foreign = TokenRef {
        iss: "other-issuer",
        ..t
    };
    assert_eq!(checked(&s, &foreign).await, TokenStatus::Active);
}

pub async fn family_revocation_covers_every_token_of_the_family<H: Harness>(h: &H) {
    let s = h.store();
    let now = h.now();
    s.start("u1", "fam", "r1", now + 600).await.unwrap();
    let access = token("a1", "fam", "u1", now, now + 60);
    let later = token("a2", "fam", "u1", now, now + 60);
    let other = token("b1", "fam2", "u1", now, now + 60);
    assert_eq!(checked(&s, &access).await, TokenStatus::Active);
    s.revoke_family("u1", "fam", now + 600).await.unwrap();
    assert_eq!(checked(&s, &access).await, TokenStatus::Revoked);
    assert_eq!(checked(&s, &later).await, TokenStatus::Revoked);
    assert_eq!(checked(&s, &other).await, TokenStatus::Active);
    assert_eq!(
        s.rotate("u1", "fam", "r1", "r2", now + 600).await.unwrap(),
        Rotation::Reused
    );
    // Revoking a family this instance never saw (another instance's) still sticks.
    s.revoke_family("u1", "never-started", now + 600)
        .await
        .unwrap();
    let t = token("c1", "never-started", "u1", now, now + 60);
    assert_eq!(checked(&s, &t).await, TokenStatus::Revoked);
}

pub async fn user_revocation_refuses_earlier_tokens_and_ends_everything<H: Harness>(h: &H) {
    let s = h.store();
    let now = h.now();
    s.start("u1", "f1", "r1", now + 600).await.unwrap();
    s.start("u1", "f2", "r2", now + 600).await.unwrap();
    s.start("u2", "g1", "q1", now + 600).await.unwrap();
    s.insert_session("k1", &session("u1", now, 600))
        .await
        .unwrap();
    s.insert_session("k2", &session("u1", now, 600))
        .await
        .unwrap();
    s.insert_session("k3", &session("u2", now, 600))
        .await
        .unwrap();

    s.revoke_user("u1", now, now + 600).await.unwrap();
    s.remove_user_sessions("u1").await.unwrap();

    let before = token("a", "f-unknown", "u1", now - 1, now + 60);
    assert_eq!(
        checked(&s, &before).await,
        TokenStatus::Revoked,
        "issued before the cut-off"
    );
    let same_second = token("b", "f1", "u1", now, now + 60);
    assert_eq!(
        checked(&s, &same_second).await,
        TokenStatus::Revoked,
        "its family is revoked"
    );
    let after = token("c", "f-new", "u1", now + 1, now + 60);
    assert_eq!(
        checked(&s, &after).await,
        TokenStatus::Active,
        "a later login works"
    );
    assert_eq!(
        s.rotate("u1", "f2", "r2", "r3", now + 600).await.unwrap(),
        Rotation::Reused
    );
    assert!(s.families("u1").await.unwrap().is_empty());
    assert!(loaded(&s, "k1").await.is_none());
    assert!(loaded(&s, "k2").await.is_none());
    // Another user is untouched.
    assert_eq!(
        checked(&s, &token("d", "g1", "u2", now - 1, now + 60)).await,
        TokenStatus::Active
    );
    assert!(loaded(&s, "k3").await.is_some());
    assert_eq!(s.families("u2").await.unwrap().len(), 1);
}

pub async fn rotation_consumes_and_reuse_revokes_the_family<H: Harness>(h: &H) {
    let s = h.store();
    let now = h.now();
    s.start("u1", "fam", "r1", now + 600).await.unwrap();
    assert_eq!(
        s.rotate("u1", "fam", "r1", "r2", now + 600).await.unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        s.rotate("u1", "fam", "r2", "r3", now + 600).await.unwrap(),
        Rotation::Rotated
    );
    let access = token("a3", "fam", "u1", now, now + 60);
    assert_eq!(checked(&s, &access).await, TokenStatus::Active);
    // r1 again: reuse. The family dies, its newest refresh and its access tokens with it.
    assert_eq!(
        s.rotate("u1", "fam", "r1", "x", now + 600).await.unwrap(),
        Rotation::Reused
    );
    assert_eq!(checked(&s, &access).await, TokenStatus::Revoked);
    assert_eq!(
        s.rotate("u1", "fam", "r3", "r4", now + 600).await.unwrap(),
        Rotation::Reused
    );
}

pub async fn rotation_of_an_unknown_family_or_another_users_is_unknown<H: Harness>(h: &H) {
    let s = h.store();
    let now = h.now();
    assert_eq!(
        s.rotate("u1", "nope", "r1", "r2", now + 600).await.unwrap(),
        Rotation::Unknown
    );
    s.start("u1", "fam", "r1", now + 600).await.unwrap();
    assert_eq!(
        s.rotate("u2", "fam", "r1", "r2", now + 600).await.unwrap(),
        Rotation::Unknown
    );
    assert_eq!(
        s.rotate("u1", "fam", "r1", "r2", now + 600).await.unwrap(),
        Rotation::Rotated
    );
}

pub async fn concurrent_rotations_have_exactly_one_winner<H: Harness>(h: &H) {
    let s = h.store();
    let now = h.now();
    s.start("u1", "fam", "r1", now + 600).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.rotate("u1", "fam", "r1", &format!("next-{i}"), now + 600)
                .await
                .unwrap()
        }));
    }
    let mut rotated = 0;
    for t in tasks {
        if t.await.unwrap() == Rotation::Rotated {
            rotated += 1;
        }
    }
    assert_eq!(
        rotated, 1,
        "exactly one of 100 concurrent presentations wins"
    );
}

pub async fn a_second_client_sees_revocations_at_once<H: Harness>(h: &H) {
    let a = h.store();
    let b = h.second_client().await;
    let now = h.now();
    let t = token("j1", "fam", "u1", now, now + 60);
    a.start("u1", "fam", "r1", now + 600).await.unwrap();
    assert_eq!(checked(&b, &t).await, TokenStatus::Active);
    a.revoke_token(&t).await.unwrap();
    assert_eq!(
        revoked_within(&b, &t, h.propagation()).await,
        TokenStatus::Revoked,
        "blocklist"
    );
    let t2 = token("j2", "fam", "u1", now, now + 60);
    b.revoke_family("u1", "fam", now + 600).await.unwrap();
    assert_eq!(
        revoked_within(&a, &t2, h.propagation()).await,
        TokenStatus::Revoked,
        "family"
    );
    a.insert_session("k", &session("u1", now, 600))
        .await
        .unwrap();
    assert!(loaded(&b, "k").await.is_some(), "sessions");
    b.start("u1", "fam2", "q1", now + 600).await.unwrap();
    assert_eq!(
        a.rotate("u1", "fam2", "q1", "q2", now + 600).await.unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        b.rotate("u1", "fam2", "q1", "q3", now + 600).await.unwrap(),
        Rotation::Reused,
        "rotation"
    );
}

pub async fn counters_count_in_fixed_windows_and_expire<H: Harness>(h: &H) {
    let s = h.store();
    let window = std::time::Duration::from_secs(2);
    assert!(
        s.get("ctr:a b/ü").await.unwrap().is_none(),
        "keys may hold any text"
    );
    let first = s.increment("ctr:a b/ü", window).await.unwrap();
    assert_eq!(first.count, 1);
    let second = s.increment("ctr:a b/ü", window).await.unwrap();
    assert_eq!(second.count, 2);
    assert!(
        second.expires_at <= first.expires_at + 1,
        "a fixed window does not slide"
    );
    assert_eq!(s.get("ctr:a b/ü").await.unwrap().unwrap().count, 2);
    s.reset("ctr:a b/ü").await.unwrap();
    assert!(s.get("ctr:a b/ü").await.unwrap().is_none());
    s.increment("ctr:other", window).await.unwrap();
    h.advance(3).await;
    assert!(
        s.get("ctr:other").await.unwrap().is_none(),
        "the window closed"
    );
    assert_eq!(
        s.increment("ctr:other", window).await.unwrap().count,
        1,
        "a new window"
    );
}

pub async fn reserve_checks_and_counts_in_one_step<H: Harness>(h: &H) {
    use super::{Admission, Limit};
    let s = h.store();
    let window = std::time::Duration::from_secs(60);
    let limit = Limit {
        max: 5,
        backoff: 2,
        backoff_max: 3,
    };
    // 40 concurrent reservations, through two clients: exactly `max` are admitted.
    let b = h.second_client().await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let client = if i % 2 == 0 { s.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            client.reserve("ctr:ü user", window, &limit).await.unwrap()
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Admission::Admitted(c) => {
                admitted += 1;
                assert!(c.count <= 5, "{c:?}");
            }
            Admission::Refused { retry_after_secs } => {
                assert!((1..=2).contains(&retry_after_secs), "{retry_after_secs}")
            }
        }
    }
    assert_eq!(admitted, 5, "check and count are one atomic step");
    assert_eq!(
        s.get("ctr:ü user").await.unwrap().unwrap().count,
        5,
        "refused attempts are not counted"
    );
    // Released reservations reopen the key; a release never goes below zero.
    s.release("ctr:ü user").await.unwrap();
    assert_eq!(s.get("ctr:ü user").await.unwrap().unwrap().count, 4);
    assert!(matches!(
        s.reserve("ctr:ü user", window, &limit).await.unwrap(),
        Admission::Admitted(c) if c.count == 5
    ));
    s.release("ctr:missing").await.unwrap();
    assert!(s.get("ctr:missing").await.unwrap().is_none());
    s.reserve("ctr:one", window, &limit).await.unwrap();
    s.release("ctr:one").await.unwrap();
    assert!(s.get("ctr:one").await.unwrap().is_none(), "zero is gone");
    // The lock ends `backoff` after the latest hit; the next hit past `max` doubles it
    // (capped at `backoff_max`).
    h.advance(3).await;
    assert!(matches!(
        s.reserve("ctr:ü user", window, &limit).await.unwrap(),
        Admission::Admitted(c) if c.count == 6
    ));
    match s.reserve("ctr:ü user", window, &limit).await.unwrap() {
        Admission::Refused { retry_after_secs } => {
            assert!((2..=3).contains(&retry_after_secs), "{retry_after_secs}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

pub async fn a_lock_never_outlasts_its_window<H: Harness>(h: &H) {
    use super::{Admission, Limit};
    let s = h.store();
    let window = std::time::Duration::from_secs(3);
    let limit = Limit {
        max: 2,
        backoff: 3600,
        backoff_max: 3600,
    };
    for _ in 0..2 {
        assert!(matches!(
            s.reserve("ctr:addr", window, &limit).await.unwrap(),
            Admission::Admitted(_)
        ));
    }
    match s.reserve("ctr:addr", window, &limit).await.unwrap() {
        // At most the window (plus one second where a store rounds its expiry up).
        Admission::Refused { retry_after_secs } => {
            assert!((1..=4).contains(&retry_after_secs), "{retry_after_secs}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    h.advance(5).await;
    assert!(matches!(
        s.reserve("ctr:addr", window, &limit).await.unwrap(),
        Admission::Admitted(c) if c.count == 1
    ));
}

pub async fn sessions_live_slide_and_end<H: Harness>(h: &H) {
    let s = h.store();
    let now = h.now();
    let rec = session("u1", now, 600);
    s.insert_session("key1", &rec).await.unwrap();
    assert_eq!(loaded(&s, "key1").await.unwrap(), rec);
    assert!(s.touch_session("key1", now + 5, now + 900).await.unwrap());
    let slid = loaded(&s, "key1").await.unwrap();
    assert_eq!((slid.last_seen, slid.expires_at), (now + 5, now + 900));
    assert!(!s.touch_session("missing", now, now + 10).await.unwrap());
    s.insert_session("key2", &session("u1", now, 600))
        .await
        .unwrap();
    assert_eq!(s.user_sessions("u1").await.unwrap().len(), 2);
    assert!(s.remove_session("key1").await.unwrap());
    assert!(!s.remove_session("key1").await.unwrap());
    assert!(loaded(&s, "key1").await.is_none());
    assert_eq!(s.remove_user_sessions("u1").await.unwrap(), 1);
    assert!(s.user_sessions("u1").await.unwrap().is_empty());
}

pub async fn families_and_sessions_expire<H: Harness>(h: &H) {
    let s = h.store();
    let now = h.now();
    s.start("u1", "fam", "r1", now + 2).await.unwrap();
    s.insert_session("k", &session("u1", now, 2)).await.unwrap();
    assert_eq!(s.families("u1").await.unwrap().len(), 1);
    h.advance(3).await;
    assert!(s.families("u1").await.unwrap().is_empty());
    assert!(loaded(&s, "k").await.is_none());
    assert!(s.user_sessions("u1").await.unwrap().is_empty());
    assert_eq!(
        s.rotate("u1", "fam", "r1", "r2", now + 600).await.unwrap(),
        Rotation::Unknown
    );
}

pub async fn families_are_listed_until_revoked<H: Harness>(h: &H) {
    let s = h.store();
    let now = h.now();
    s.start("u1", "f1", "r1", now + 600).await.unwrap();
    s.start("u1", "f2", "r2", now + 900).await.unwrap();
    let listed = s.families("u1").await.unwrap();
    let mut sids: Vec<&str> = listed.iter().map(|f| f.sid.as_str()).collect();
    sids.sort();
    assert_eq!(sids, ["f1", "f2"]);
    assert!(
        listed
            .iter()
            .all(|f| f.sub == "u1" && f.created >= now && f.expires_at >= now + 600)
    );
    s.revoke_family("u1", "f1", now + 600).await.unwrap();
    let left: Vec<String> = s
        .families("u1")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.sid)
        .collect();
    assert_eq!(left, ["f2"]);
}

fn meta() -> TokenMeta {
    TokenMeta {
        issued: 1,
        client: Some("192.0.2.7".into()),
        user_agent: Some("curl/8".into()),
    }
}

pub async fn allowlist_accepts_only_listed_tokens<H: Harness>(h: &H) {
    let s = h.store();
    let now = h.now();
    let t = token("j1", "fam", "u1", now, now + 60);
    assert_eq!(listed(&s, &t).await, TokenStatus::Revoked, "never listed");
    s.list_token(&t, &meta()).await.unwrap();
    assert_eq!(listed(&s, &t).await, TokenStatus::Active);
    let other = token("j2", "fam", "u1", now, now + 60);
    assert_eq!(
        listed(&s, &other).await,
        TokenStatus::Revoked,
        "only that jti"
    );
    let foreign = TokenRef {
        iss: "other-issuer",
        ..t
    };
    assert_eq!(
        listed(&s, &foreign).await,
        TokenStatus::Revoked,
        "keyed on iss + jti"
    );
    // A second client (another instance) sees the listing at once.
    let b = h.second_client().await;
    assert_eq!(listed(&b, &t).await, TokenStatus::Active);
}

pub async fn allowlist_entries_go_with_logout_family_and_user<H: Harness>(h: &H) {
    let s = h.store();
    let now = h.now();
    let a = token("a", "f1", "u1", now, now + 60);
    let b = token("b", "f1", "u1", now, now + 60);
    let c = token("c", "f2", "u1", now, now + 60);
    let d = token("d", "f3", "u1", now, now + 60);
    s.start("u1", "f2", "r2", now + 600).await.unwrap();
    s.start("u1", "f3", "r3", now + 600).await.unwrap();
    for t in [&a, &b, &c, &d] {
        s.list_token(t, &meta()).await.unwrap();
    }
    s.revoke_token(&a).await.unwrap();
    assert_eq!(
        listed(&s, &a).await,
        TokenStatus::Revoked,
        "logout removes its entry"
    );
    assert_eq!(listed(&s, &b).await, TokenStatus::Active);
    s.revoke_family("u1", "f1", now + 600).await.unwrap();
    assert_eq!(
        listed(&s, &b).await,
        TokenStatus::Revoked,
        "family revocation"
    );
    // Re-listing a token of a revoked family does not revive it.
    s.list_token(&b, &meta()).await.unwrap();
    assert_eq!(listed(&s, &b).await, TokenStatus::Revoked);
    assert_eq!(listed(&s, &c).await, TokenStatus::Active);
    s.revoke_user("u1", now, now + 600).await.unwrap();
    assert_eq!(
        listed(&s, &c).await,
        TokenStatus::Revoked,
        "log out everywhere"
    );
    assert_eq!(listed(&s, &d).await, TokenStatus::Revoked);
    let later = token("e", "f4", "u1", now + 1, now + 60);
    s.list_token(&later, &meta()).await.unwrap();
    assert_eq!(
        listed(&s, &later).await,
        TokenStatus::Active,
        "a later login works"
    );
}

pub async fn allowlist_entries_expire_with_their_tokens<H: Harness>(h: &H) {
    let s = h.store();
    let now = h.now();
    let short = token("s", "fam", "u1", now, now + 2);
    let long = token("l", "fam", "u1", now, now + 60);
    s.list_token(&short, &meta()).await.unwrap();
    s.list_token(&long, &meta()).await.unwrap();
    h.advance(3).await;
    assert_eq!(
        listed(&s, &short).await,
        TokenStatus::Revoked,
        "expired with its token"
    );
    assert_eq!(listed(&s, &long).await, TokenStatus::Active);
}

/// A provider subject links to one user, atomically (the first of concurrent links
/// through two clients wins), for good, and per provider.
pub async fn identities_link_once_and_for_good<H: Harness>(h: &H) {
    let (a, b) = (h.store(), h.second_client().await);
    assert_eq!(a.linked_user("github", "42").await.unwrap(), None);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            client
                .link_identity("github", "42", &format!("user-{i}"))
                .await
                .unwrap()
        }));
    }
    let mut winners = std::collections::HashSet::new();
    for t in tasks {
        winners.insert(t.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "one link wins: {winners:?}");
    let winner = winners.into_iter().next().unwrap();
    assert_eq!(
        b.linked_user("github", "42").await.unwrap(),
        Some(winner.clone())
    );
    assert_eq!(
        a.link_identity("github", "42", "someone-else")
            .await
            .unwrap(),
        winner,
        "a link is never replaced"
    );
    h.advance(3).await;
    assert_eq!(a.linked_user("github", "42").await.unwrap(), Some(winner));
    // Per provider, and subjects with separators stay apart.
    assert_eq!(a.linked_user("google", "42").await.unwrap(), None);
    a.link_identity("google", "4:2", "u-colon").await.unwrap();
    assert_eq!(a.linked_user("google:4", "2").await.unwrap(), None);
    assert_eq!(
        a.linked_user("google", "4:2").await.unwrap().as_deref(),
        Some("u-colon")
    );
}
