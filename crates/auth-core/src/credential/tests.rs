//! Credential rules from the credentials issue, one test each.
#![allow(clippy::indexing_slicing, clippy::string_slice)] // test code: a bad index fails the test

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::clock::ManualClock;
use crate::error::{AuthError, StoreError};
use crate::request::SimpleRequest;
use crate::store::MemoryStore;

const NOW: u64 = 1_800_000_000;

fn cheap() -> PasswordParams {
    PasswordParams {
        m_cost: 256,
        t_cost: 1,
        p_cost: 1,
    }
}

struct Fixture {
    clock: Arc<ManualClock>,
    users: Arc<MemoryUsers>,
    passwords: Passwords,
    authn: Authenticator,
}

fn fixture_with(passwords: Passwords, users: MemoryUsers) -> Fixture {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let store = MemoryStore::with_clock(clock.clone());
    let users = Arc::new(users);
    let throttle = LoginThrottle::new(ThrottleConfig::default(), Arc::new(store));
    let authn = Authenticator::new(users.clone(), passwords.clone(), throttle);
    Fixture {
        clock,
        users,
        passwords,
        authn,
    }
}

/// One cheap-hashed user `dave` / `pw-dave`.
fn cheap_fixture() -> Fixture {
    let passwords = Passwords::new(cheap()).unwrap();
    let users = MemoryUsers::new();
    users.insert(User {
        id: "4".into(),
        username: "dave".into(),
        email: None,
        roles: vec!["viewer".into()],
        password_hash: passwords.hash_blocking("pw-dave").unwrap(),
        disabled: false,
        data: serde_json::Value::Null,
    });
    fixture_with(passwords, users)
}

const CLIENT: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));

#[tokio::test]
async fn demo_users_log_in_with_their_contract_passwords() {
    let f = fixture_with(
        Passwords::new(PasswordParams::default()).unwrap(),
        MemoryUsers::demo(),
    );
    for (name, pw, role) in [
        ("alice", "password123", "admin"),
        ("bob", "password456", "editor"),
        ("carol", "password789", "viewer"),
    ] {
        let login = f.authn.authenticate(name, pw.into(), CLIENT).await.unwrap();
        let user = login.user();
        assert_eq!(user.roles, [role]);
        assert!(
            user.password_hash
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
    }
}

#[tokio::test]
async fn unknown_user_and_wrong_password_fail_identically_and_both_hash() {
    let f = cheap_fixture();
    let before = f.passwords.verifications();
    let unknown = f
        .authn
        .authenticate("nobody", "pw".into(), CLIENT)
        .await
        .unwrap_err();
    let wrong = f
        .authn
        .authenticate("dave", "wrong".into(), CLIENT)
        .await
        .unwrap_err();
    assert!(matches!(unknown, AuthError::InvalidCredentials));
    assert!(matches!(wrong, AuthError::InvalidCredentials));
    assert_eq!(
        unknown.to_response(),
        wrong.to_response(),
        "status, headers and body word for word"
    );
    assert_eq!(
        f.passwords.verifications() - before,
        2,
        "the unknown user cost one verification too"
    );
}

#[tokio::test]
async fn a_disabled_user_fails_like_a_wrong_password() {
    let f = cheap_fixture();
    let mut dave = f.users.find_by_username("dave").await.unwrap().unwrap();
    dave.disabled = true;
    f.users.insert(dave);
    let err = f
        .authn
        .authenticate("dave", "pw-dave".into(), CLIENT)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidCredentials));
}

#[tokio::test]
async fn a_login_on_an_old_hash_upgrades_it_in_the_store() {
    let old = Passwords::new(cheap()).unwrap();
    let users = MemoryUsers::new();
    users.insert(User {
        id: "9".into(),
        username: "erin".into(),
        email: None,
        roles: vec![],
        password_hash: old.hash_blocking("pw").unwrap(),
        disabled: false,
        data: serde_json::Value::Null,
    });
    let newer = Passwords::new(PasswordParams {
        m_cost: 512,
        ..cheap()
    })
    .unwrap();
    let f = fixture_with(newer, users);
    f.authn
        .authenticate("erin", "pw".into(), CLIENT)
        .await
        .unwrap();
    let stored = f
        .users
        .find_by_id("9")
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(stored.contains("m=512,t=1,p=1"), "{stored}");
    assert_eq!(
        f.passwords.verify("pw".into(), stored).await.unwrap(),
        Verified::Ok
    );
}

#[tokio::test]
async fn a_2_kib_password_is_refused_without_hashing() {
    let f = cheap_fixture();
    let before = f.passwords.verifications();
    let err = f
        .authn
        .authenticate("dave", "x".repeat(2048), CLIENT)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidCredentials));
    assert_eq!(f.passwords.verifications(), before);
}

#[tokio::test]
async fn the_sixth_failure_gets_429_with_retry_after_and_costs_no_hashing() {
    let f = cheap_fixture();
    for _ in 0..5 {
        let e = f
            .authn
            .authenticate("dave", "wrong".into(), CLIENT)
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::InvalidCredentials));
    }
    let before = f.passwords.verifications();
    let e = f
        .authn
        .authenticate("dave", "pw-dave".into(), CLIENT)
        .await
        .unwrap_err();
    let AuthError::Throttled { retry_after_secs } = e else {
        panic!("expected 429, got {e:?}")
    };
    assert_eq!(retry_after_secs, 60);
    let res = AuthError::Throttled { retry_after_secs }.to_response();
    assert_eq!((res.status, res.header("retry-after")), (429, Some("60")));
    assert_eq!(
        f.passwords.verifications(),
        before,
        "a throttled attempt hashes nothing"
    );

    // The window passes: one more try is allowed; another failure doubles the backoff.
    f.clock.advance(Duration::from_secs(60));
    assert!(
        f.authn
            .authenticate("dave", "wrong".into(), CLIENT)
            .await
            .is_err()
    );
    match f.authn.authenticate("dave", "pw-dave".into(), CLIENT).await {
        Err(AuthError::Throttled { retry_after_secs }) => assert_eq!(retry_after_secs, 120),
        other => panic!("expected 429, got {other:?}"),
    }
    f.clock.advance(Duration::from_secs(120));
    assert!(
        f.authn
            .authenticate("dave", "pw-dave".into(), CLIENT)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_success_resets_the_username_count() {
    let f = cheap_fixture();
    for _ in 0..4 {
        assert!(
            f.authn
                .authenticate("dave", "wrong".into(), CLIENT)
                .await
                .is_err()
        );
    }
    f.authn
        .authenticate("dave", "pw-dave".into(), CLIENT)
        .await
        .unwrap();
    for _ in 0..4 {
        assert!(matches!(
            f.authn.authenticate("dave", "wrong".into(), CLIENT).await,
            Err(AuthError::InvalidCredentials)
        ));
    }
    assert!(
        f.authn
            .authenticate("dave", "pw-dave".into(), CLIENT)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn one_address_spraying_many_usernames_is_throttled_after_100_failures() {
    let f = cheap_fixture();
    for i in 0..100 {
        let e = f
            .authn
            .authenticate(&format!("user{i}"), "guess".into(), CLIENT)
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::InvalidCredentials), "attempt {i}");
    }
    // Even the right password for a fresh username is refused from that address...
    match f.authn.authenticate("dave", "pw-dave".into(), CLIENT).await {
        Err(AuthError::Throttled { retry_after_secs }) => assert_eq!(retry_after_secs, 15 * 60),
        other => panic!("expected 429, got {other:?}"),
    }
    // ...but not from another address, and not after the window.
    let other: Option<IpAddr> = Some("198.51.100.1".parse().unwrap());
    assert!(
        f.authn
            .authenticate("dave", "pw-dave".into(), other)
            .await
            .is_ok()
    );
    f.clock.advance(Duration::from_secs(15 * 60));
    assert!(
        f.authn
            .authenticate("dave", "pw-dave".into(), CLIENT)
            .await
            .is_ok()
    );
}

/// Sends `n` wrong logins at once (`guess(i)` gives the username and password from
/// `CLIENT`); how many were verified (refused as bad credentials rather than throttled).
async fn guesses_verified(
    f: &Fixture,
    n: usize,
    guess: impl Fn(usize) -> (String, String),
) -> usize {
    let mut guesses = Vec::new();
    for i in 0..n {
        let (authn, (user, password)) = (f.authn.clone(), guess(i));
        guesses.push(tokio::spawn(async move {
            authn.authenticate(&user, password, CLIENT).await
        }));
    }
    let mut verified = 0;
    for g in guesses {
        match g.await.unwrap() {
            Err(AuthError::InvalidCredentials) => verified += 1,
            Err(AuthError::Throttled { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    verified
}

/// 40 guesses at once for one username: each is reserved before it is hashed, so no
/// more than the limit are ever verified, and the right password is then refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_passwords_cannot_pass_the_user_limit() {
    let f = cheap_fixture();
    let before = f.passwords.verifications();
    let verified = guesses_verified(&f, 40, |i| ("dave".into(), format!("wrong-{i}"))).await;
    assert!(verified <= 5, "{verified} guesses were verified");
    assert!(f.passwords.verifications() - before <= 5);
    assert!(matches!(
        f.authn.authenticate("dave", "pw-dave".into(), CLIENT).await,
        Err(AuthError::Throttled { .. })
    ));
}

/// The same for one address spraying many usernames at once (limit 100).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sprays_from_one_address_cannot_pass_the_address_limit() {
    let f = cheap_fixture();
    let verified = guesses_verified(&f, 160, |i| (format!("user{i}"), "guess".into())).await;
    assert!(verified <= 100, "{verified} guesses were verified");
    assert!(matches!(
        f.authn.authenticate("dave", "pw-dave".into(), CLIENT).await,
        Err(AuthError::Throttled { .. })
    ));
}

/// A success gives back its address reservation: many good logins from one address (an
/// office behind one NAT) never lock that address.
#[tokio::test]
async fn successful_logins_do_not_count_against_the_address() {
    let f = cheap_fixture();
    for _ in 0..120 {
        f.authn
            .authenticate("dave", "pw-dave".into(), CLIENT)
            .await
            .unwrap();
    }
    for i in 0..99 {
        assert!(matches!(
            f.authn
                .authenticate(&format!("u{i}"), "x".into(), CLIENT)
                .await,
            Err(AuthError::InvalidCredentials)
        ));
    }
}

/// `Dave`, `DAVE` and the full-width `ｄａｖｅ` are one username to the throttle.
#[tokio::test]
async fn case_and_compatibility_forms_of_a_username_share_one_counter() {
    let f = cheap_fixture();
    for name in ["Dave", "DAVE", "ｄａｖｅ", "dAvE", "\u{FF24}ave"] {
        assert!(matches!(
            f.authn.authenticate(name, "wrong".into(), CLIENT).await,
            Err(AuthError::InvalidCredentials)
        ));
    }
    assert!(matches!(
        f.authn.authenticate("dave", "pw-dave".into(), CLIENT).await,
        Err(AuthError::Throttled { .. })
    ));
}

/// An account that only logs in through a provider has no password hash; trying a
/// password on it runs the same argon2 work as a wrong password (no account-type oracle).
#[tokio::test]
async fn an_external_only_account_costs_what_a_wrong_password_costs() {
    let f = cheap_fixture();
    f.users.insert(User {
        id: "5".into(),
        username: "ext".into(),
        email: Some("ext@example.com".into()),
        roles: vec!["viewer".into()],
        password_hash: crate::third_party::NO_PASSWORD.into(),
        disabled: false,
        data: serde_json::Value::Null,
    });
    let before = f.passwords.verifications();
    let err = f
        .authn
        .authenticate("ext", "anything".into(), CLIENT)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidCredentials));
    assert_eq!(
        f.passwords.verifications() - before,
        1,
        "one argon2 verification, as for a wrong password"
    );
    let wrong = f
        .authn
        .authenticate("dave", "wrong".into(), CLIENT)
        .await
        .unwrap_err();
    assert_eq!(err.to_response(), wrong.to_response());
}

#[tokio::test]
async fn a_store_error_fails_closed() {
    #[derive(Debug)]
    struct Down;
    #[async_trait]
    impl crate::store::Counters for Down {
        async fn get(&self, _: &str) -> Result<Option<crate::store::Counter>, StoreError> {
            Err(StoreError::new("connection refused"))
        }
        async fn increment(
            &self,
            _: &str,
            _: Duration,
        ) -> Result<crate::store::Counter, StoreError> {
            Err(StoreError::new("connection refused"))
        }
        async fn reset(&self, _: &str) -> Result<(), StoreError> {
            Err(StoreError::new("connection refused"))
        }
        async fn reserve(
            &self,
            _: &str,
            _: Duration,
            _: &crate::store::Limit,
        ) -> Result<crate::store::Admission, StoreError> {
            Err(StoreError::new("connection refused"))
        }
        async fn release(&self, _: &str) -> Result<(), StoreError> {
            Err(StoreError::new("connection refused"))
        }
    }
    let f = cheap_fixture();
    let throttle = LoginThrottle::new(ThrottleConfig::default(), Arc::new(Down));
    let authn = Authenticator::new(f.users.clone(), f.passwords.clone(), throttle);
    let err = authn
        .authenticate("dave", "pw-dave".into(), CLIENT)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::StoreUnavailable(_)));
    assert_eq!(err.to_response().status, 503);
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_logins_do_not_block_the_runtime() {
    // One async worker thread: if argon2 ran on it, nothing else could run until the
    // hashing was over.
    let f = fixture_with(
        Passwords::with_concurrency(PasswordParams::default(), 2).unwrap(),
        MemoryUsers::demo(),
    );
    let done = Arc::new(AtomicUsize::new(0));
    let mut logins = Vec::new();
    // Two at once per user: each attempt holds a throttle reservation while it hashes,
    // so more than five at once for one user would be refused by design.
    let demo = [
        ("alice", "password123"),
        ("bob", "password456"),
        ("carol", "password789"),
    ];
    for (user, password) in demo.into_iter().cycle().take(6) {
        let (authn, done) = (f.authn.clone(), done.clone());
        logins.push(tokio::spawn(async move {
            let r = authn.authenticate(user, password.into(), None).await;
            done.fetch_add(1, Ordering::SeqCst);
            r
        }));
    }
    // Wait (without sleeping) until hashing is under way on the hashing threads.
    while f.passwords.verifications() == 0 {
        tokio::task::yield_now().await;
    }
    let plain = tokio::spawn(async { "pong" }).await.unwrap();
    assert_eq!(plain, "pong");
    let finished_when_answered = done.load(Ordering::SeqCst);
    assert!(
        finished_when_answered < 6,
        "the plain request was answered while logins were hashing"
    );
    for l in logins {
        assert!(l.await.unwrap().is_ok());
    }
    assert_eq!(done.load(Ordering::SeqCst), 6);
}

/// The scheduling policy (`stat` field 41) of every thread of this process whose name
/// starts with `prefix`, and of the calling thread.
#[cfg(target_os = "linux")]
fn thread_policies(prefix: &str) -> (Vec<u32>, u32) {
    fn policy(stat: &str) -> Option<u32> {
        // Fields after `(comm)` start at field 3; policy is field 41.
        let after = stat.rsplit_once(')')?.1;
        after.split_whitespace().nth(38)?.parse().ok()
    }
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim().starts_with(prefix) {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            out.extend(policy(&stat));
        }
    }
    let me = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    (out, policy(&me).unwrap())
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn hashing_threads_run_under_sched_idle() {
    const SCHED_OTHER: u32 = 0;
    const SCHED_IDLE: u32 = 5;
    let passwords = Passwords::with_concurrency(cheap(), 3).unwrap();
    let phc = passwords.hash("correct horse".into()).await.unwrap();
    assert_eq!(
        passwords.verify("correct horse".into(), phc).await.unwrap(),
        Verified::Ok
    );
    // A thread takes its name (and lowers its priority) once it first runs, which on a
    // loaded machine can be after the two jobs above: wait for all three, a bounded time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (hashers, caller) = loop {
        let (hashers, caller) = thread_policies("argon2-");
        let started = hashers.len() >= 3 && hashers.iter().all(|p| *p == SCHED_IDLE);
        if started || std::time::Instant::now() >= deadline {
            break (hashers, caller);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert!(hashers.len() >= 3, "hashing threads: {hashers:?}");
    assert!(
        hashers.iter().all(|p| *p == SCHED_IDLE),
        "every hashing thread under SCHED_IDLE: {hashers:?}"
    );
    // The caller's own thread keeps the normal policy.
    assert_eq!(caller, SCHED_OTHER);
}

// --- API keys ---------------------------------------------------------------------

#[derive(Debug, Default)]
struct CountingKeys {
    inner: MemoryApiKeys,
    finds: AtomicUsize,
}

#[async_trait]
impl ApiKeyStore for CountingKeys {
    async fn find(&self, d: &KeyDigest) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.finds.fetch_add(1, Ordering::SeqCst);
        self.inner.find(d).await
    }
    async fn insert(&self, r: ApiKeyRecord) -> Result<(), StoreError> {
        self.inner.insert(r).await
    }
    async fn revoke(&self, d: &KeyDigest) -> Result<bool, StoreError> {
        self.inner.revoke(d).await
    }
}

fn keys(config: ApiKeyConfig) -> (ApiKeys, Arc<CountingKeys>, Arc<ManualClock>) {
    let store = Arc::new(CountingKeys::default());
    let clock = Arc::new(ManualClock::at_unix(NOW));
    (
        ApiKeys::new(config, store.clone(), clock.clone()).unwrap(),
        store,
        clock,
    )
}

#[tokio::test]
async fn generated_keys_have_prefix_entropy_and_checksum() {
    let (k, _, _) = keys(ApiKeyConfig::default());
    let a = k
        .create("ci", "alice", vec!["admin".into()], None)
        .await
        .unwrap();
    let b = k.generate("ci", "alice", vec![], None);
    assert!(a.key.starts_with("ak_"));
    assert_eq!(a.key.len(), 3 + 43 + 6);
    assert!(a.key[3..].bytes().all(|c| c.is_ascii_alphanumeric()));
    assert_ne!(a.key, b.key);
    assert_eq!(a.record.digest, digest(&a.key));
    assert_eq!(a.record.display_prefix, format!("{}...", &a.key[..6]));
    let rec = k.verify(&a.key).await.unwrap();
    assert_eq!(rec.roles, ["admin"]);
}

#[tokio::test]
async fn the_store_holds_only_the_digest() {
    let (k, store, _) = keys(ApiKeyConfig::default());
    let new = k.create("ci", "alice", vec![], None).await.unwrap();
    let stored = store.inner.find(&digest(&new.key)).await.unwrap().unwrap();
    let dump = format!("{stored:?}");
    assert!(
        !dump.contains(&new.key[6..]),
        "no part of the key beyond its display prefix is stored"
    );
}

#[tokio::test]
async fn a_broken_checksum_or_foreign_string_is_refused_without_a_store_call() {
    let (k, store, _) = keys(ApiKeyConfig::default());
    let good = k.create("ci", "alice", vec![], None).await.unwrap().key;
    let mut typo = good.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    for bad in [
        typo.as_str(),
        &good[..good.len() - 1],
        "secret-key-123",
        "",
        "ak_",
        &"a".repeat(10_000),
    ] {
        assert!(
            matches!(k.verify(bad).await, Err(AuthError::InvalidApiKey)),
            "{bad:?}"
        );
    }
    assert_eq!(store.finds.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn expired_and_revoked_keys_are_refused() {
    let (k, store, clock) = keys(ApiKeyConfig::default());
    let expiring = k
        .create("tmp", "bob", vec![], Some(NOW + 60))
        .await
        .unwrap()
        .key;
    assert!(k.verify(&expiring).await.is_ok());
    clock.advance(Duration::from_secs(60));
    assert!(matches!(
        k.verify(&expiring).await,
        Err(AuthError::InvalidApiKey)
    ));

    let revoked = k.create("old", "bob", vec![], None).await.unwrap().key;
    assert!(store.revoke(&digest(&revoked)).await.unwrap());
    assert!(matches!(
        k.verify(&revoked).await,
        Err(AuthError::InvalidApiKey)
    ));
}

#[tokio::test]
async fn a_found_keys_digest_is_remembered_but_the_store_decides_every_time() {
    for cache in [10_000, 0] {
        let (k, store, _) = keys(ApiKeyConfig::default().digest_cache(cache));
        let key = k.create("ci", "alice", vec![], None).await.unwrap().key;
        // Neither junk nor a well-formed key the store does not know enters the cache.
        let unknown = keys(ApiKeyConfig::default())
            .0
            .generate("x", "y", vec![], None)
            .key;
        for probe in [unknown.as_str(), "ak_junk", ""] {
            for _ in 0..3 {
                assert!(matches!(
                    k.verify(probe).await,
                    Err(AuthError::InvalidApiKey)
                ));
            }
        }
        assert_eq!(k.cached_digests(), 0, "cache {cache}");
        for _ in 0..3 {
            assert_eq!(k.verify(&key).await.unwrap().owner, "alice");
        }
        assert_eq!(k.cached_digests(), usize::from(cache > 0), "cache {cache}");
        // The cache compares whole keys: one character off is another (malformed) key.
        let mut off = key.clone();
        let last = off.pop().unwrap();
        off.push(if last == 'a' { 'b' } else { 'a' });
        assert!(matches!(
            k.verify(&off).await,
            Err(AuthError::InvalidApiKey)
        ));
        // Revoked in the store: refused at the next request, cached or not.
        let finds = store.finds.load(Ordering::SeqCst);
        assert!(store.revoke(&digest(&key)).await.unwrap());
        assert!(matches!(
            k.verify(&key).await,
            Err(AuthError::InvalidApiKey)
        ));
        assert_eq!(
            store.finds.load(Ordering::SeqCst),
            finds + 1,
            "the store decided"
        );
    }
}

#[tokio::test]
async fn the_contracts_legacy_demo_keys_work_when_allowed() {
    let (k, _, _) = keys(ApiKeyConfig {
        allow_legacy: true,
        ..ApiKeyConfig::default()
    });
    for key in ["secret-key-123", "another-key-456"] {
        k.register_legacy(key, "demo", "demo", vec![])
            .await
            .unwrap();
    }
    assert!(k.verify("secret-key-123").await.is_ok());
    assert!(k.verify("another-key-456").await.is_ok());
    assert!(matches!(
        k.verify("secret-key-124").await,
        Err(AuthError::InvalidApiKey)
    ));
    let rec = k.verify("secret-key-123").await.unwrap();
    assert_eq!(rec.display_prefix, "secret...");
}

#[tokio::test]
async fn keys_come_from_the_header_then_the_query_when_enabled() {
    let (k, _, _) = keys(ApiKeyConfig {
        query_param: Some("api_key".into()),
        ..ApiKeyConfig::default()
    });
    let key = k.create("ci", "alice", vec![], None).await.unwrap().key;
    let req = SimpleRequest::new().header("X-API-Key", key.as_str());
    assert_eq!(k.authenticate(&req).await.unwrap().1, KeySource::Header);
    let req = SimpleRequest::new().query(&format!("a=1&api_key={key}"));
    assert_eq!(k.authenticate(&req).await.unwrap().1, KeySource::Query);
    let twice = SimpleRequest::new()
        .header("x-api-key", key.as_str())
        .header("x-api-key", key.as_str());
    assert!(matches!(
        k.authenticate(&twice).await,
        Err(AuthError::InvalidApiKey)
    ));
    let non_ascii = SimpleRequest::new().header("x-api-key", vec![0xff, 0xfe]);
    assert!(matches!(
        k.authenticate(&non_ascii).await,
        Err(AuthError::InvalidApiKey)
    ));
    let missing = SimpleRequest::new();
    let e = k.authenticate(&missing).await.unwrap_err();
    assert_eq!(e.to_response().status, 401);

    // Query keys are refused when the query source is not enabled.
    let (strict, _, _) = keys(ApiKeyConfig::default());
    let req = SimpleRequest::new().query(&format!("api_key={key}"));
    assert!(strict.authenticate(&req).await.is_err());
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_query_key_logs_a_warning_without_the_key() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (k, _, _) = keys(ApiKeyConfig {
        query_param: Some("api_key".into()),
        ..ApiKeyConfig::default()
    });
    let key = k.create("ci", "alice", vec![], None).await.unwrap().key;
    let req = SimpleRequest::new().query(&format!("api_key={key}"));
    k.authenticate(&req).await.unwrap();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("WARN") && text.contains("query string"),
        "a warning was logged: {text}"
    );
    assert!(!text.contains(&key), "the key is not in the log");
    assert!(
        !text.contains(&key[3..12]),
        "no fragment of the key is in the log"
    );
}

/// A builder with no state store falls back to memory and says so once, with the fix; a
/// builder without a user store refuses to build, naming the fix.
#[test]
fn builder_defaults_are_explicit() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let secrets = (
        b"access-secret-of-at-least-32-bytes".as_slice(),
        b"refresh-secret-of-at-least-32-byte".as_slice(),
    );

    let err = crate::AuthBuilder::new(secrets.0, secrets.1)
        .build()
        .unwrap_err();
    assert!(matches!(err, crate::ConfigError::NoUserStore));
    assert!(err.to_string().contains("AuthBuilder::users"), "{err}");

    crate::AuthBuilder::new(secrets.0, secrets.1)
        .users(Arc::new(MemoryUsers::new()))
        .build()
        .unwrap();
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text.matches("WARN").count(), 1, "{text}");
    assert!(
        text.contains("in-memory store") && text.contains("AuthBuilder::store"),
        "{text}"
    );

    logs.0.lock().unwrap().clear();
    crate::AuthBuilder::new(secrets.0, secrets.1)
        .users(Arc::new(MemoryUsers::new()))
        .store(Arc::new(MemoryStore::new()))
        .build()
        .unwrap();
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        !text.contains("WARN"),
        "a chosen store is not warned about: {text}"
    );
}

/// The ready-made `/login` starts the session with the team's data (it used to store
/// `null`), and the team can change it during the session.
#[tokio::test]
async fn the_ready_made_login_attaches_the_teams_session_data() {
    #[derive(Debug)]
    struct Tenant;
    #[async_trait]
    impl crate::session::SessionData for Tenant {
        async fn session_data(&self, user: &User) -> Result<serde_json::Value, StoreError> {
            Ok(serde_json::json!({ "tenant_id": format!("t-{}", user.id) }))
        }
    }
    let f = cheap_fixture();
    let auth = crate::AuthBuilder::new(&[1; 32], &[2; 32])
        .users(f.users.clone())
        .password_params(cheap())
        .session_data(Arc::new(Tenant))
        .build()
        .unwrap();
    let reply = auth
        .login_endpoint(
            &SimpleRequest::new()
                .with_method("POST")
                .header("content-type", "application/x-www-form-urlencoded")
                .with_peer(CLIENT.unwrap()),
            b"username=dave&password=pw-dave",
        )
        .await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    let set_cookie = reply.header_value("set-cookie").unwrap().to_string();
    let back = crate::session::suite::with_cookie(&set_cookie);
    let sessions = &auth.sessions();
    let session = sessions.load(&back).await.unwrap().unwrap();
    assert_eq!(session.record.data, serde_json::json!({"tenant_id": "t-4"}));
    sessions
        .update_data(&session, serde_json::json!({"tenant_id": "t-9"}))
        .await
        .unwrap();
    let session = sessions.load(&back).await.unwrap().unwrap();
    assert_eq!(session.record.data, serde_json::json!({"tenant_id": "t-9"}));
}
