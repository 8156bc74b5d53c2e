//! Session rules that need no store, and the session suite on the memory store.
#![allow(clippy::indexing_slicing, clippy::string_slice)] // test code: a bad index fails the test

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::SystemClock;
use crate::request::SimpleRequest;
use crate::store::MemoryStore;

fn manager(config: SessionConfig) -> Result<SessionManager, ConfigError> {
    SessionManager::new(config, Arc::new(MemoryStore::new()), Arc::new(SystemClock))
}

/// A session of user "1" started on `m`, and its id as the cookie carries it.
async fn start_one(m: &SessionManager) -> (StartedSession, String) {
    let s = m
        .start(
            &suite::user("1"),
            serde_json::Value::Null,
            &SimpleRequest::new(),
        )
        .await
        .unwrap();
    let cookie = s.set_cookie.split(';').next().unwrap();
    let id = cookie.split_once('=').unwrap().1.to_string();
    (s, id)
}

crate::session_suite!(async { Arc::new(MemoryStore::new()) as Arc<dyn StateStore> });

#[tokio::test]
async fn ids_are_256_bit_url_safe_and_unique() {
    let m = manager(SessionConfig::default()).unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        let (s, id) = start_one(&m).await;
        assert_eq!(id.len(), 43, "32 bytes of base64url");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert!(seen.insert(id), "unique");
        assert_eq!(s.csrf_token.len(), 43);
    }
}

#[tokio::test]
async fn the_cookie_has_secure_defaults() {
    let m = manager(SessionConfig::default()).unwrap();
    let (s, _) = start_one(&m).await;
    let c = &s.set_cookie;
    assert!(c.starts_with("session_id="), "{c}");
    for attr in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=3600",
    ] {
        assert!(c.split("; ").any(|a| a == attr), "{attr} in {c}");
    }
    assert!(!c.contains("Domain"), "host-only by default");
}

#[tokio::test]
async fn the_host_prefix_forces_secure_root_path_and_no_domain() {
    let m = manager(SessionConfig {
        host_prefix: true,
        ..SessionConfig::default()
    })
    .unwrap();
    assert_eq!(m.cookie_name(), "__Host-session_id");
    let (s, _) = start_one(&m).await;
    assert!(s.set_cookie.starts_with("__Host-session_id="));
    assert!(
        s.set_cookie.contains("; Secure")
            && s.set_cookie.contains("; Path=/")
            && !s.set_cookie.contains("Domain")
    );
    let back = suite::with_cookie(&s.set_cookie);
    assert!(m.load(&back).await.unwrap().is_some());
    // The unprefixed name is another cookie (a subdomain could have set it).
    let id = s
        .set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1;
    let unprefixed = SimpleRequest::new().header("cookie", format!("session_id={id}"));
    assert!(m.load(&unprefixed).await.unwrap().is_none());

    for bad in [
        SessionConfig {
            host_prefix: true,
            secure: false,
            ..SessionConfig::default()
        },
        SessionConfig {
            host_prefix: true,
            domain: Some("example.com".into()),
            ..SessionConfig::default()
        },
        SessionConfig {
            host_prefix: true,
            path: "/app".into(),
            ..SessionConfig::default()
        },
    ] {
        let err = manager(bad).unwrap_err();
        assert!(err.to_string().contains("__Host-"), "{err}");
    }
}

#[test]
fn insecure_cookie_settings_are_refused_at_configuration() {
    let err = manager(SessionConfig {
        same_site: SameSite::None,
        secure: false,
        ..SessionConfig::default()
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("SameSite=None without Secure"),
        "{err}"
    );
    assert!(
        manager(SessionConfig {
            same_site: SameSite::None,
            ..SessionConfig::default()
        })
        .is_ok()
    );
    for bad in [
        SessionConfig {
            cookie_name: "a;b".into(),
            ..SessionConfig::default()
        },
        SessionConfig {
            cookie_name: String::new(),
            ..SessionConfig::default()
        },
        SessionConfig {
            path: "/a; Domain=evil".into(),
            ..SessionConfig::default()
        },
        SessionConfig {
            domain: Some("a.com; Secure".into()),
            ..SessionConfig::default()
        },
        SessionConfig {
            idle_timeout: Duration::ZERO,
            ..SessionConfig::default()
        },
    ] {
        assert!(manager(bad).is_err());
    }
}

#[tokio::test]
async fn junk_cookie_headers_are_not_authenticated_and_never_panic() {
    let m = manager(SessionConfig::default()).unwrap();
    let (_, id) = start_one(&m).await;
    let valid = SimpleRequest::new().header("cookie", format!("theme=dark; session_id={id}; x=1"));
    assert!(
        m.load(&valid).await.unwrap().is_some(),
        "a normal header with other cookies"
    );

    let junk: Vec<Vec<u8>> = vec![
        b"session_id=".to_vec(),
        b"session_id".to_vec(),
        b"=;;;==;".to_vec(),
        b";".to_vec(),
        format!("session_id={id}; session_id={id}").into_bytes(),
        format!("session_id=\"{id}\"").into_bytes(),
        format!("session_id={id}x").into_bytes(),
        format!("session_id={}", &id[1..]).into_bytes(),
        format!("session_id={}", "A".repeat(43)).into_bytes(),
        format!("session_id={id}; {}", "a=b; ".repeat(2000)).into_bytes(),
        vec![0xff, 0xfe, b'=', 0x80],
        "session_id=ünïcødé".as_bytes().to_vec(),
        format!("session_id={id}\0").into_bytes(),
    ];
    for header in junk {
        let req = SimpleRequest::new().header("cookie", header.clone());
        assert!(
            m.load(&req).await.unwrap().is_none(),
            "{:?}",
            String::from_utf8_lossy(&header)
        );
    }
    // Our cookie split over two Cookie headers (HTTP/2 style) once is fine; twice is not.
    let split = SimpleRequest::new()
        .header("cookie", "a=1")
        .header("cookie", format!("session_id={id}"));
    assert!(m.load(&split).await.unwrap().is_some());
    let twice = SimpleRequest::new()
        .header("cookie", format!("session_id={id}"))
        .header("cookie", format!("session_id={id}"));
    assert!(m.load(&twice).await.unwrap().is_none());
}

#[tokio::test]
async fn a_live_sessions_key_is_remembered_but_the_store_decides_every_time() {
    for cache in [10_000, 0] {
        let m = manager(SessionConfig::default().key_cache(cache)).unwrap();
        // An id without a live session never enters the cache.
        let unknown =
            SimpleRequest::new().header("cookie", format!("session_id={}", "A".repeat(43)));
        assert!(m.load(&unknown).await.unwrap().is_none());
        assert_eq!(m.cached_keys(), 0, "cache {cache}");
        let (started, id) = start_one(&m).await;
        let req = SimpleRequest::new().header("cookie", format!("session_id={id}"));
        for _ in 0..3 {
            let s = m.load(&req).await.unwrap().unwrap();
            assert_eq!(*s.key, session_key(&id), "cache {cache}");
            assert_eq!(&*s.record.user_id, "1");
        }
        assert_eq!(m.cached_keys(), usize::from(cache > 0), "cache {cache}");
        // Ended in the store: gone at the next request, cached or not.
        m.end(&started.session).await.unwrap();
        assert!(m.load(&req).await.unwrap().is_none(), "cache {cache}");
    }
}

#[tokio::test]
async fn a_cached_id_found_by_its_bytes_keeps_every_cookie_header_rule() {
    let m = manager(SessionConfig::default()).unwrap();
    let (_, id) = start_one(&m).await;
    let plain = SimpleRequest::new().header("cookie", format!("session_id={id}"));
    assert!(m.load(&plain).await.unwrap().is_some());
    assert_eq!(m.cached_keys(), 1, "the id's key is cached now");
    // Other spacing and other cookies around it: found, by the cache.
    for header in [
        format!("a=1; session_id={id}; b=2"),
        format!("  session_id =\t{id}  ;"),
        format!("x=y;session_id={id}"),
    ] {
        let req = SimpleRequest::new().header("cookie", header.as_str());
        let s = m
            .load(&req)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{header}"));
        assert_eq!(*s.key, session_key(&id));
    }
    // Every rule still holds for a cached id: two values (in one header or two), a
    // header that is not UTF-8 elsewhere, headers over the size bound, another name, an
    // id with more or fewer characters.
    let refused = [
        SimpleRequest::new().header("cookie", format!("session_id={id}; session_id={id}")),
        SimpleRequest::new()
            .header("cookie", format!("session_id={id}"))
            .header("cookie", format!("session_id={id}")),
        SimpleRequest::new().header(
            "cookie",
            [format!("session_id={id}; a=").as_bytes(), &[0xff]].concat(),
        ),
        SimpleRequest::new()
            .header("cookie", format!("session_id={id}"))
            .header(
                "cookie",
                format!("pad={}", "p".repeat(MAX_COOKIE_HEADER_BYTES)),
            ),
        SimpleRequest::new().header("cookie", format!("sessionid={id}")),
        SimpleRequest::new().header("cookie", format!("session_id={id}A")),
        SimpleRequest::new().header("cookie", format!("session_id={}", &id[1..])),
    ];
    for req in &refused {
        assert!(m.load(req).await.unwrap().is_none());
    }
    assert!(m.load(&plain).await.unwrap().is_some());
}

#[test]
fn a_cookie_value_cannot_inject_attributes() {
    // Values are always 43 base64url characters from the CSPRNG; and a presented value
    // carrying attribute syntax is never accepted as an id.
    let m = manager(SessionConfig::default()).unwrap();
    let req = SimpleRequest::new().header("cookie", "session_id=abc; Domain=evil.example; Path=/");
    assert!(m.presented_id(&req).is_none());
    assert_eq!(m.clearing_cookie().matches("Path=").count(), 1);
}

#[test]
fn csrf_applies_only_to_cookie_authenticated_unsafe_methods() {
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        assert!(csrf_applies(CredentialKind::Session, method));
        assert!(
            !csrf_applies(CredentialKind::Bearer, method),
            "bearer is exempt"
        );
        assert!(
            !csrf_applies(CredentialKind::ApiKey, method),
            "API key is exempt"
        );
    }
    for method in ["GET", "HEAD", "OPTIONS"] {
        assert!(!csrf_applies(CredentialKind::Session, method));
    }
}

#[tokio::test]
async fn configured_allowed_origins_are_allowed_besides_the_own_one() {
    let m = manager(SessionConfig {
        allowed_origins: vec![
            "https://app.example".into(),
            "https://admin.example/".into(),
        ],
        ..SessionConfig::default()
    })
    .unwrap();
    let (s, _) = start_one(&m).await;
    let session = m.require(&suite::with_cookie(&s.set_cookie)).await.unwrap();
    let req = |origin: &str| {
        suite::with_cookie(&s.set_cookie)
            .header("host", "api.example")
            .header("origin", origin)
            .header("x-csrf-token", s.csrf_token.as_str())
    };
    assert!(
        m.check_csrf(&req("https://admin.example").with_method("POST"), &session)
            .is_ok()
    );
    assert!(
        m.check_csrf(&req("https://APP.example").with_method("POST"), &session)
            .is_ok()
    );
    assert!(
        m.check_csrf(&req("https://api.example").with_method("POST"), &session)
            .is_ok(),
        "the own origin (Secure cookies: https) stays allowed"
    );
    assert!(
        m.check_csrf(&req("http://api.example").with_method("POST"), &session)
            .is_err(),
        "not over plain http"
    );
    assert!(
        m.check_csrf(&req("https://other.example").with_method("POST"), &session)
            .is_err(),
        "only the own and the listed origins"
    );
    assert!(
        m.check_csrf(
            &req("https://app.example.evil").with_method("POST"),
            &session
        )
        .is_err()
    );
}

/// A session re-reads its user when it slides (once per `touch_interval`): a disabled
/// user's session ends there and a removed role is gone, rather than living until the
/// session expires. Within the interval nothing is read (no store cost per request).
#[tokio::test]
async fn sliding_a_session_reads_the_user_again() {
    let clock = Arc::new(crate::clock::ManualClock::at_unix(1_800_000_000));
    let users = Arc::new(crate::credential::MemoryUsers::new());
    let mut alice = suite::user("1");
    alice.roles = vec!["admin".into(), "editor".into()];
    users.insert(alice.clone());
    let m = SessionManager::new(
        SessionConfig::default(),
        Arc::new(MemoryStore::with_clock(clock.clone())),
        clock.clone(),
    )
    .unwrap()
    .with_users(users.clone());
    let started = m
        .start(&alice, serde_json::Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    let back = suite::with_cookie(&started.set_cookie);

    let mut demoted = alice.clone();
    demoted.roles = vec!["editor".into()];
    users.insert(demoted.clone());
    let within = m.load(&back).await.unwrap().unwrap();
    assert_eq!(
        *within.record.roles,
        ["admin", "editor"],
        "read at most once per interval"
    );
    clock.advance(m.config().touch_interval);
    let slid = m.load(&back).await.unwrap().unwrap();
    assert_eq!(*slid.record.roles, ["editor"], "the removed role is gone");
    assert_eq!(
        *m.load(&back).await.unwrap().unwrap().record.roles,
        ["editor"]
    );

    let mut disabled = demoted;
    disabled.disabled = true;
    users.insert(disabled);
    clock.advance(m.config().touch_interval);
    assert!(
        m.load(&back).await.unwrap().is_none(),
        "a disabled user's session ends"
    );
    users.insert(alice);
    assert!(
        m.load(&back).await.unwrap().is_none(),
        "ended for good, not suspended"
    );
}

#[tokio::test]
async fn a_session_keeps_the_methods_it_was_started_with() {
    let m = manager(SessionConfig::default()).unwrap();
    let (plain, _) = start_one(&m).await;
    assert!(plain.session.record.amr.is_empty());
    let hwk = m
        .start_with_amr(
            &suite::user("1"),
            serde_json::Value::Null,
            &["hwk"],
            &SimpleRequest::new(),
        )
        .await
        .unwrap();
    let stored = m
        .store
        .load_session(&hwk.session.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*stored.amr, ["hwk"]);
}

#[tokio::test]
async fn a_session_past_its_timeout_is_left_to_the_awaited_load_which_removes_it() {
    // The store keeps its own (real) time, so it still holds the record that the
    // manager's clock says timed out: removing it is a write, not an in-place answer.
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let clock = Arc::new(crate::clock::ManualClock::new(SystemClock.now()));
    let m = SessionManager::new(SessionConfig::default(), store.clone(), clock.clone()).unwrap();
    let (s, _) = start_one(&m).await;
    let request = suite::with_cookie(&s.set_cookie);
    assert!(matches!(m.load_now(&request), Some(Ok(Some(_)))));
    clock.advance(Duration::from_secs(3601));
    assert!(m.load_now(&request).is_none());
    assert!(m.load(&request).await.unwrap().is_none());
    assert!(store.load_session(&s.session.key).await.unwrap().is_none());
    assert!(matches!(m.load_now(&request), Some(Ok(None))));
}
