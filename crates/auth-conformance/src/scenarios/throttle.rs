//! Throttling under concurrency: every attempt is reserved (checked and counted in one
//! atomic step) before its password is hashed, so parallel guesses cannot pass a limit
//! that a sequence of guesses could not.

use reqwest::StatusCode;

use super::{header, oauth_error, password_of, problem};
use crate::app::{App, Target};

/// Sends `n` requests at once to `path` with the forms `form(i)`; their statuses.
async fn at_once(
    app: &App,
    path: &str,
    n: usize,
    form: impl Fn(usize) -> Vec<(String, String)>,
) -> Vec<StatusCode> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (client, url, body) = (app.client.clone(), app.url(path), form(i));
        tasks.push(tokio::spawn(async move {
            client.post(url).form(&body).send().await.unwrap().status()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn wrong_password(user: &str) -> impl Fn(usize) -> Vec<(String, String)> + '_ {
    move |i| {
        vec![
            ("username".into(), user.into()),
            ("password".into(), format!("wrong-{i}")),
        ]
    }
}

/// Asserts that at most `limit` of `statuses` got past the throttle (the rest are 429),
/// and that the ones that did were refused as bad credentials (`refused`).
fn at_most_past(statuses: &[StatusCode], limit: usize, refused: StatusCode, case: &str) {
    let past: Vec<_> = statuses
        .iter()
        .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(
        past.len() <= limit,
        "{case}: {} of {} attempts were verified (limit {limit}): {statuses:?}",
        past.len(),
        statuses.len()
    );
    assert!(!past.is_empty(), "{case}: some attempts are verified");
    assert!(past.iter().all(|s| **s == refused), "{case}: {statuses:?}");
}

/// Scenario: 40 wrong passwords for one username sent at once, to `/token` and to
/// `/login`: at most 5 are verified (the others answer 429), and the right password is
/// refused with 429 afterwards.
pub async fn concurrent_guesses_cannot_pass_the_user_limit(t: &Target) {
    let app = t.start().await;
    let statuses = at_once(&app, "/token", 40, wrong_password("carol")).await;
    at_most_past(&statuses, 5, StatusCode::BAD_REQUEST, "/token");
    let r = super::token_raw(
        &app,
        &[("username", "carol"), ("password", password_of("carol"))],
    )
    .await;
    assert!(header(&r, "retry-after").is_some());
    oauth_error(r, 429, "slow_down").await;

    let statuses = at_once(&app, "/login", 40, wrong_password("bob")).await;
    at_most_past(&statuses, 5, StatusCode::UNAUTHORIZED, "/login");
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[("username", "bob"), ("password", password_of("bob"))])
        .send()
        .await
        .unwrap();
    assert!(header(&r, "retry-after").is_some());
    assert!(header(&r, "set-cookie").is_none(), "no session started");
    problem(r, 429).await;
}

/// Scenario: case and compatibility forms of a username share its throttle: five wrong
/// passwords as `Carol`, `CAROL` and full-width `ｃａｒｏｌ` lock `carol`.
pub async fn username_forms_share_one_throttle(t: &Target) {
    let app = t.start().await;
    for user in ["Carol", "CAROL", "ｃａｒｏｌ", "cArOl", "carol"] {
        oauth_error(
            super::token_raw(&app, &[("username", user), ("password", "nope")]).await,
            400,
            "invalid_grant",
        )
        .await;
    }
    let r = super::token_raw(
        &app,
        &[("username", "carol"), ("password", password_of("carol"))],
    )
    .await;
    oauth_error(r, 429, "slow_down").await;
}

/// Scenario: one address spraying 150 usernames at once: at most 100 attempts are
/// verified, and then even a real user's right password from that address gets 429.
pub async fn concurrent_sprays_cannot_pass_the_address_limit(t: &Target) {
    let app = t.start().await;
    let statuses = at_once(&app, "/token", 150, |i| {
        vec![
            ("username".into(), format!("sprayed-{i}")),
            ("password".into(), "guess".into()),
        ]
    })
    .await;
    at_most_past(&statuses, 100, StatusCode::BAD_REQUEST, "spray");
    let r = super::token_raw(
        &app,
        &[("username", "alice"), ("password", password_of("alice"))],
    )
    .await;
    assert!(header(&r, "retry-after").is_some());
    oauth_error(r, 429, "slow_down").await;
}

/// `n` failed password grants from the client `xff` (as a proxy would forward it), 8 at
/// a time, each for another unknown username so only the address limit counts; their
/// statuses.
async fn failures_from(app: &App, xff: &str, tag: &str, n: usize) -> Vec<StatusCode> {
    let mut out = Vec::new();
    for batch in 0..n.div_ceil(8) {
        let mut tasks = Vec::new();
        for i in (batch * 8)..((batch + 1) * 8).min(n) {
            let (client, url, xff) = (app.client.clone(), app.url("/token"), xff.to_string());
            let body = vec![
                ("grant_type".to_string(), "password".to_string()),
                ("username".to_string(), format!("nobody-{tag}-{i}")),
                ("password".to_string(), "wrong".to_string()),
            ];
            tasks.push(tokio::spawn(async move {
                client
                    .post(url)
                    .header("x-forwarded-for", xff)
                    .form(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }));
        }
        for t in tasks {
            out.push(t.await.unwrap());
        }
    }
    out
}

/// Scenario: behind a trusted proxy (`AUTH_TRUSTED_PROXIES` names the test's own
/// loopback address), the per-address login limit counts the forwarded client: 100
/// failures from one client lock that client out and no other; IPv6 clients count per
/// /64. Without the setting, `X-Forwarded-For` is ignored: every request is the socket
/// peer's, so one client's failures lock out the next.
pub async fn trusted_proxies_name_the_client_for_the_address_limit(t: &Target) {
    let app = t
        .start_with(&[("AUTH_TRUSTED_PROXIES", "127.0.0.1/32, ::1")])
        .await;
    let first = failures_from(&app, "198.51.100.1, 203.0.113.7", "a", 100).await;
    assert!(
        first.iter().all(|s| *s == StatusCode::BAD_REQUEST),
        "{first:?}"
    );
    let again = failures_from(&app, "198.51.100.1, 203.0.113.7", "a2", 1).await;
    assert_eq!(
        again,
        [StatusCode::TOO_MANY_REQUESTS],
        "the same client is locked out"
    );
    // The leftmost entry is the client's own claim: changing it changes nothing.
    let spoof = failures_from(&app, "192.0.2.99, 203.0.113.7", "a3", 1).await;
    assert_eq!(spoof, [StatusCode::TOO_MANY_REQUESTS]);
    let other = failures_from(&app, "203.0.113.8", "b", 1).await;
    assert_eq!(other, [StatusCode::BAD_REQUEST], "another client is not");

    let v6 = failures_from(&app, "2001:db8:1:2::1", "c", 100).await;
    assert!(v6.iter().all(|s| *s == StatusCode::BAD_REQUEST), "{v6:?}");
    let same_64 = failures_from(&app, "2001:db8:1:2:ffff::9", "c2", 1).await;
    assert_eq!(
        same_64,
        [StatusCode::TOO_MANY_REQUESTS],
        "one /64 is one client"
    );
    let next_64 = failures_from(&app, "2001:db8:1:3::1", "d", 1).await;
    assert_eq!(next_64, [StatusCode::BAD_REQUEST]);

    // No trusted proxies: the header is the client's word and is ignored.
    let plain = t.start().await;
    let first = failures_from(&plain, "203.0.113.7", "e", 100).await;
    assert!(
        first.iter().all(|s| *s == StatusCode::BAD_REQUEST),
        "{first:?}"
    );
    let other = failures_from(&plain, "203.0.113.8", "f", 1).await;
    assert_eq!(
        other,
        [StatusCode::TOO_MANY_REQUESTS],
        "X-Forwarded-For was ignored"
    );
}
