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
