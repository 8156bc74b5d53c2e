//! The second factor's scenarios of the store suite ([`SecondFactors`](crate::store::SecondFactors)).

use super::Harness;

pub async fn totp_enrolment_is_pending_until_activated_once<H: Harness>(h: &H) {
    let (a, b) = (h.store(), h.second_client().await);
    assert_eq!(a.totp("u1").await.unwrap(), None);
    assert!(a.begin_totp("u1", "sealed-1").await.unwrap());
    // A second enrolment before confirmation replaces the pending one.
    assert!(b.begin_totp("u1", "sealed-2").await.unwrap());
    let pending = a.totp("u1").await.unwrap().unwrap();
    assert_eq!(pending.sealed, "sealed-2");
    assert!(!pending.active);
    assert!(
        !a.use_totp_step("u1", 10).await.unwrap(),
        "pending: no login"
    );
    let digests: Vec<String> = (0..10).map(|i| format!("digest-{i}")).collect();
    assert!(b.activate_totp("u1", 100, &digests).await.unwrap());
    assert!(!a.activate_totp("u1", 101, &digests).await.unwrap(), "once");
    let active = a.totp("u1").await.unwrap().unwrap();
    assert!(active.active);
    assert_eq!(active.last_step, 100);
    assert_eq!(active.sealed, "sealed-2");
    // While active, a new enrolment is refused and changes nothing.
    assert!(!a.begin_totp("u1", "sealed-3").await.unwrap());
    assert_eq!(a.totp("u1").await.unwrap().unwrap().sealed, "sealed-2");
    assert_eq!(a.recovery_codes_left("u1").await.unwrap(), 10);
    // Other users are untouched.
    assert_eq!(a.totp("u2").await.unwrap(), None);
    assert!(!a.activate_totp("u2", 1, &digests).await.unwrap());
}

pub async fn a_totp_step_is_used_once_even_concurrently<H: Harness>(h: &H) {
    let (a, b) = (h.store(), h.second_client().await);
    assert!(a.begin_totp("u1", "sealed").await.unwrap());
    assert!(a.activate_totp("u1", 100, &[]).await.unwrap());
    assert!(
        !a.use_totp_step("u1", 100).await.unwrap(),
        "the confirming step"
    );
    assert!(!a.use_totp_step("u1", 99).await.unwrap(), "an older step");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            client.use_totp_step("u1", 101).await.unwrap()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += usize::from(t.await.unwrap());
    }
    assert_eq!(accepted, 1, "one of twenty concurrent uses of step 101");
    assert!(b.use_totp_step("u1", 103).await.unwrap());
    assert!(
        !a.use_totp_step("u1", 102).await.unwrap(),
        "behind the last"
    );
    assert_eq!(a.totp("u1").await.unwrap().unwrap().last_step, 103);
}

pub async fn recovery_codes_are_spent_once<H: Harness>(h: &H) {
    let (a, b) = (h.store(), h.second_client().await);
    assert!(
        !a.spend_recovery_code("u1", "d1").await.unwrap(),
        "no codes"
    );
    assert!(a.begin_totp("u1", "sealed").await.unwrap());
    let digests = vec!["d1".to_string(), "d2".to_string(), "d3".to_string()];
    assert!(a.activate_totp("u1", 1, &digests).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..10 {
        let client = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            client.spend_recovery_code("u1", "d2").await.unwrap()
        }));
    }
    let mut spent = 0;
    for t in tasks {
        spent += usize::from(t.await.unwrap());
    }
    assert_eq!(spent, 1, "one of ten concurrent spends of one code");
    assert_eq!(b.recovery_codes_left("u1").await.unwrap(), 2);
    assert!(
        !a.spend_recovery_code("u2", "d1").await.unwrap(),
        "another user's"
    );
    assert!(a.spend_recovery_code("u1", "d1").await.unwrap());
    // Removing the factor removes the codes; a new activation brings new ones only.
    assert!(a.remove_totp("u1").await.unwrap());
    assert!(!a.remove_totp("u1").await.unwrap());
    assert_eq!(a.totp("u1").await.unwrap(), None);
    assert_eq!(a.recovery_codes_left("u1").await.unwrap(), 0);
    assert!(!a.spend_recovery_code("u1", "d3").await.unwrap());
    assert!(a.begin_totp("u1", "sealed-again").await.unwrap());
    assert!(a.activate_totp("u1", 5, &["e1".to_string()]).await.unwrap());
    assert!(!a.spend_recovery_code("u1", "d3").await.unwrap());
    assert_eq!(a.recovery_codes_left("u1").await.unwrap(), 1);
}

pub async fn challenges_are_single_use_count_failures_and_expire<H: Harness>(h: &H) {
    let (a, b) = (h.store(), h.second_client().await);
    let now = h.now();
    a.start_challenge("c1", "u1", now + 2).await.unwrap();
    assert_eq!(b.challenge_user("c1").await.unwrap().as_deref(), Some("u1"));
    assert_eq!(a.challenge_user("unknown").await.unwrap(), None);
    // Four wrong codes leave it live; the fifth spends it.
    for _ in 0..4 {
        assert!(a.fail_challenge("c1", 5).await.unwrap());
    }
    assert!(!b.fail_challenge("c1", 5).await.unwrap());
    assert_eq!(a.challenge_user("c1").await.unwrap(), None);
    assert_eq!(a.finish_challenge("c1").await.unwrap(), None);

    // Of concurrent finishes, exactly one gets the user.
    a.start_challenge("c2", "u2", now + 2).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let client = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            client.finish_challenge("c2").await.unwrap()
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        winners.extend(t.await.unwrap());
    }
    assert_eq!(winners, ["u2"]);
    assert!(!a.fail_challenge("c2", 5).await.unwrap(), "spent");

    // An unused challenge expires.
    a.start_challenge("c3", "u3", now + 2).await.unwrap();
    h.advance(3).await;
    assert_eq!(a.challenge_user("c3").await.unwrap(), None);
    assert_eq!(b.finish_challenge("c3").await.unwrap(), None);
}
