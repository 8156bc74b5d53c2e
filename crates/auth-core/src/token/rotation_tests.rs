//! Key rotation on a running service: one call, one owner of the keys, no logout.
#![allow(clippy::indexing_slicing, clippy::string_slice)] // test code: a bad index fails the test

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::error::TokenError;

const NOW: u64 = 1_800_000_000;

fn hs(kid: &str, fill: u8) -> Key {
    Key::hmac(kid, Algorithm::HS256, &[fill; 32]).unwrap()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn service(cache: usize) -> (TokenService, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let tokens = TokenService::with_clock(
        KeyRing::new(hs("a1", 1)),
        KeyRing::new(hs("r1", 2)),
        TokenConfig::default()
            .access_ttl(Duration::from_secs(900))
            .refresh_ttl(Duration::from_secs(3600))
            .leeway(Duration::from_secs(30))
            .verified_cache(cache),
        clock.clone(),
    )
    .unwrap();
    (tokens, clock)
}

#[test]
fn a_rotation_signs_with_the_new_key_and_retires_the_old_one_after_its_tokens() {
    let (tokens, clock) = service(0);
    let before = tokens.issue_pair(&Subject::new("1")).unwrap();
    let clone = tokens.clone(); // e.g. the token endpoint's copy
    tokens.rotate(hs("a2", 3), hs("r2", 4)).unwrap();

    let after = clone.issue_pair(&Subject::new("1")).unwrap();
    assert_eq!(
        kid_of(&after.access.token),
        "a2",
        "every clone signs with the new key"
    );
    assert_eq!(kid_of(&after.refresh.token), "r2");
    assert_eq!(tokens.access_kids(), ["a2", "a1"]);
    // Nobody is logged out: tokens of the old keys still verify.
    assert!(clone.verify_access(&before.access.token).is_ok());
    assert!(clone.verify_refresh(&before.refresh.token).is_ok());

    // The old access key retires after the longest access token it signed (+ leeway),
    // the old refresh key after the longest refresh token.
    clock.advance(Duration::from_secs(900 + 30));
    assert_eq!(tokens.access_kids(), ["a2"]);
    assert!(tokens.verify_refresh(&before.refresh.token).is_ok());
    clock.advance(Duration::from_secs(3600 - 900));
    assert!(tokens.verify_refresh(&before.refresh.token).is_err());
    assert!(
        tokens.verify_access(&after.access.token).is_err(),
        "expired too"
    );
}

#[test]
fn a_retired_key_is_unknown_even_for_a_token_that_has_not_expired() {
    // A token minted with the old key with a far `exp` (a leaked key, say) stops at the
    // key's retirement, whatever it claims.
    let (tokens, clock) = service(0);
    let long = TokenService::with_clock(
        KeyRing::new(hs("a1", 1)),
        KeyRing::new(hs("r9", 9)),
        TokenConfig::default().access_ttl(Duration::from_secs(100_000)),
        clock.clone(),
    )
    .unwrap()
    .issue_pair(&Subject::new("1"))
    .unwrap();
    tokens.rotate(hs("a2", 3), hs("r2", 4)).unwrap();
    assert!(tokens.verify_access(&long.access.token).is_ok());
    clock.advance(Duration::from_secs(931));
    assert_eq!(
        tokens.verify_access(&long.access.token).unwrap_err(),
        TokenError::UnknownKey
    );
}

#[test]
fn a_rotation_that_breaks_a_rule_changes_nothing() {
    let (tokens, _) = service(0);
    // The refresh key reuses the access key's material.
    let err = tokens.rotate(hs("a2", 5), hs("r2", 5)).unwrap_err();
    assert!(
        matches!(err, ConfigError::SameKeyForAccessAndRefresh),
        "{err}"
    );
    // A kid still in the ring.
    let err = tokens.rotate(hs("a1", 6), hs("r2", 7)).unwrap_err();
    assert!(matches!(err, ConfigError::DuplicateKid(_)), "{err}");
    assert_eq!(tokens.access_kids(), ["a1"]);
    let pair = tokens.issue_pair(&Subject::new("1")).unwrap();
    assert_eq!(kid_of(&pair.access.token), "a1");
}

#[test]
fn replaced_keys_are_refused_at_once_even_from_the_cache() {
    let (tokens, _) = service(1000);
    let pair = tokens.issue_pair(&Subject::new("1")).unwrap();
    assert!(tokens.verify_access(&pair.access.token).is_ok());
    assert_eq!(tokens.cached_tokens(), 1);
    tokens
        .replace_keys(KeyRing::new(hs("a2", 3)), KeyRing::new(hs("r2", 4)))
        .unwrap();
    assert_eq!(
        tokens.verify_access(&pair.access.token).unwrap_err(),
        TokenError::UnknownKey
    );
}

/// Rotations while requests are in flight: issuing and verifying never fail, and every
/// token issued at any moment verifies.
#[test]
fn rotating_under_load_fails_no_request() {
    let (tokens, _) = service(1000);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (tokens, stop, done) = (tokens.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut held = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let pair = tokens.issue_pair(&Subject::new("1")).unwrap();
                    tokens.verify_access(&pair.access.token).unwrap();
                    tokens.verify_refresh(&pair.refresh.token).unwrap();
                    held.push(pair);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                // Everything issued during the rotations still verifies afterwards.
                for pair in held {
                    tokens.verify_access(&pair.access.token).unwrap();
                    tokens.verify_refresh(&pair.refresh.token).unwrap();
                }
            })
        })
        .collect();
    for i in 0..20u8 {
        while done.load(Ordering::Relaxed) < usize::from(i) * 20 {
            std::thread::yield_now();
        }
        tokens
            .rotate(
                hs(&format!("a-{i}"), 10 + i),
                hs(&format!("r-{i}"), 100 + i),
            )
            .unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(
        tokens.access_kids().len(),
        21,
        "all keys within their lifetime"
    );
}

/// The token endpoint has no key copy of its own: after `Auth::rotate_keys`, `/token`
/// signs with the new key, and the bearer check accepts both.
#[tokio::test]
async fn the_token_endpoint_signs_with_the_rotated_key() {
    let users = crate::credential::MemoryUsers::new();
    let passwords = crate::credential::Passwords::new(crate::credential::PasswordParams {
        m_cost: 256,
        t_cost: 1,
        p_cost: 1,
    })
    .unwrap();
    users.insert(crate::credential::User {
        id: "1".into(),
        username: "dave".into(),
        email: None,
        roles: vec![],
        password_hash: passwords.hash("pw".into()).await.unwrap(),
        disabled: false,
        data: serde_json::Value::Null,
    });
    let auth = crate::AuthBuilder::new(&[1; 32], &[2; 32])
        .users(Arc::new(users))
        .build()
        .unwrap();
    let token = |reply: crate::Reply| -> String {
        let body: serde_json::Value = serde_json::from_str(reply.body()).unwrap();
        body["access_token"].as_str().unwrap().to_string()
    };
    let form = crate::adapter::SimpleRequest::new()
        .with_method("POST")
        .header("content-type", "application/x-www-form-urlencoded");
    let login = || auth.token_endpoint(&form, b"grant_type=password&username=dave&password=pw");
    let before = token(login().await);
    auth.rotate_keys(hs("a-next", 3), hs("r-next", 4)).unwrap();
    let after = token(login().await);
    assert_eq!(kid_of(&after), "a-next");
    for t in [&before, &after] {
        auth.tokens().authenticate(t).await.unwrap();
    }
}

/// The builder names no fixed key: the shortcut's kid comes from the secret, and key
/// rings (with a previous key) let a restart after a rotation keep old tokens valid.
#[tokio::test]
async fn the_builder_takes_key_rings_and_derives_the_shortcut_kid() {
    let users = Arc::new(crate::credential::MemoryUsers::new());
    let shortcut = crate::AuthBuilder::new(&[1; 32], &[2; 32])
        .users(users.clone())
        .build()
        .unwrap();
    let old = shortcut
        .tokens()
        .login(
            &crate::credential::User {
                id: "1".into(),
                username: "u".into(),
                email: None,
                roles: vec![],
                password_hash: String::new(),
                disabled: false,
                data: serde_json::Value::Null,
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(kid_of(&old.access.token), derived_kid(&[1; 32]));
    assert_ne!(derived_kid(&[1; 32]), derived_kid(&[3; 32]));

    // Restart after a rotation: the new key signs, the previous one still verifies.
    let restarted = crate::AuthBuilder::new(&[9; 32], &[8; 32])
        .users(users)
        .key_rings(
            KeyRing::new(hs("access-next", 3))
                .with_key(Key::hmac(derived_kid(&[1; 32]), Algorithm::HS256, &[1; 32]).unwrap())
                .unwrap(),
            KeyRing::new(hs("refresh-next", 4))
                .with_key(Key::hmac(derived_kid(&[2; 32]), Algorithm::HS256, &[2; 32]).unwrap())
                .unwrap(),
        )
        .build()
        .unwrap();
    restarted
        .tokens()
        .authenticate(&old.access.token)
        .await
        .expect("the previous key still verifies after the restart");
    let new = restarted
        .tokens()
        .tokens()
        .issue_pair(&Subject::new("1"))
        .unwrap();
    assert_eq!(kid_of(&new.access.token), "access-next");
}
