//! The passkeys' scenarios of the store suite ([`Passkeys`](crate::store::Passkeys)).

use std::sync::Arc;

use super::Harness;
use crate::store::StoredPasskey;

fn passkey(user: &str, id: &str, counter: u32, now: u64) -> StoredPasskey {
    StoredPasskey {
        user_id: user.into(),
        credential_id: id.into(),
        data: format!("{{\"cred\":\"{id}\",\"counter\":{counter}}}"),
        counter,
        created: now,
    }
}

#[allow(clippy::indexing_slicing)]
pub async fn passkeys_are_registered_once_listed_and_removed<H: Harness>(h: &H) {
    let (a, b) = (h.store(), h.second_client().await);
    let now = h.now();
    assert!(a.passkeys("u1").await.unwrap().is_empty());
    assert!(
        a.add_passkey(&passkey("u1", "cred-1", 0, now))
            .await
            .unwrap()
    );
    assert!(
        b.add_passkey(&passkey("u1", "cred-2", 5, now))
            .await
            .unwrap()
    );
    // A credential id is registered once, to whoever registered it first.
    assert!(
        !b.add_passkey(&passkey("u2", "cred-1", 9, now))
            .await
            .unwrap()
    );
    let listed = a.passkeys("u1").await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|p| p.credential_id.as_str()).collect();
    assert_eq!(ids, ["cred-1", "cred-2"], "oldest first");
    assert_eq!(listed[1], passkey("u1", "cred-2", 5, now));
    assert_eq!(b.passkey("cred-1").await.unwrap().unwrap().user_id, "u1");
    assert!(a.passkeys("u2").await.unwrap().is_empty());
    assert_eq!(a.passkey("nope").await.unwrap(), None);
    // Only its owner removes a passkey.
    assert!(!a.remove_passkey("u2", "cred-1").await.unwrap());
    assert!(b.remove_passkey("u1", "cred-1").await.unwrap());
    assert!(!a.remove_passkey("u1", "cred-1").await.unwrap());
    assert_eq!(a.passkey("cred-1").await.unwrap(), None);
    let ids: Vec<String> = a
        .passkeys("u1")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.credential_id)
        .collect();
    assert_eq!(ids, ["cred-2"]);
    // Removed, the id may be registered again.
    assert!(
        a.add_passkey(&passkey("u2", "cred-1", 0, now))
            .await
            .unwrap()
    );
}

#[allow(clippy::indexing_slicing)]
pub async fn a_sign_counter_only_moves_forward_even_concurrently<H: Harness>(h: &H) {
    let (a, b) = (h.store(), h.second_client().await);
    let now = h.now();
    assert!(
        a.add_passkey(&passkey("u1", "counted", 3, now))
            .await
            .unwrap()
    );
    assert!(a.use_passkey("counted", 4, "{\"v\":4}").await.unwrap());
    assert!(
        !b.use_passkey("counted", 4, "{\"v\":44}").await.unwrap(),
        "same"
    );
    assert!(
        !b.use_passkey("counted", 2, "{\"v\":2}").await.unwrap(),
        "back"
    );
    let stored = b.passkey("counted").await.unwrap().unwrap();
    assert_eq!((stored.counter, stored.data.as_str()), (4, "{\"v\":4}"));
    assert!(!a.use_passkey("unknown", 9, "{}").await.unwrap());
    // Ten concurrent uses of one signature (counter 10): exactly one is accepted.
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let s = if i % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            tokio::spawn(async move { s.use_passkey("counted", 10, "{\"v\":10}").await })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1);
    // An authenticator without a counter stays at 0 and is accepted each time.
    assert!(
        a.add_passkey(&passkey("u1", "counterless", 0, now))
            .await
            .unwrap()
    );
    assert!(a.use_passkey("counterless", 0, "{}").await.unwrap());
    assert!(b.use_passkey("counterless", 0, "{}").await.unwrap());
    // Once it counted, it may not fall back to 0.
    assert!(a.use_passkey("counterless", 1, "{}").await.unwrap());
    assert!(!a.use_passkey("counterless", 0, "{}").await.unwrap());
    assert_eq!(a.passkeys("u1").await.unwrap()[1].counter, 1);
}

pub async fn ceremonies_are_taken_once_and_expire<H: Harness>(h: &H) {
    let (a, b) = (h.store(), h.second_client().await);
    let now = h.now();
    a.put_ceremony("c1", "{\"state\":1}", now + 60)
        .await
        .unwrap();
    assert_eq!(
        b.take_ceremony("c1").await.unwrap().as_deref(),
        Some("{\"state\":1}")
    );
    assert_eq!(a.take_ceremony("c1").await.unwrap(), None, "single use");
    assert_eq!(a.take_ceremony("never").await.unwrap(), None);
    // Concurrent finishes: exactly one takes it.
    a.put_ceremony("c2", "s", now + 60).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let s = if i % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            tokio::spawn(async move { s.take_ceremony("c2").await })
        })
        .collect();
    let mut taken = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().is_some() {
            taken += 1;
        }
    }
    assert_eq!(taken, 1);
    // Expired states are gone.
    a.put_ceremony("c3", "s", now + 1).await.unwrap();
    h.advance(2).await;
    assert_eq!(b.take_ceremony("c3").await.unwrap(), None);
}
