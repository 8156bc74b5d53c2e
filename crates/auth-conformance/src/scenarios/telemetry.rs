//! `AUTH_METRICS`: the core's counters and verification histogram on `GET /metrics`.

use std::collections::BTreeMap;

use super::{
    bearer, cookie_login, get, get_with_cookie, login_bearer, problem, refresh, token_raw,
};
use crate::app::Target;

/// One Prometheus sample: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the Prometheus text exposition (the sample lines; comments skipped).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let value: f64 = value.parse().expect("a number");
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let inner = rest.strip_suffix('}').expect("closing brace");
                    let labels = inner
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                            (k.to_string(), v.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
            };
            (name, labels, value)
        })
        .collect()
}

/// The value of the sample `name` whose labels include every one of `want`.
fn value(all: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    all.iter()
        .filter(|(n, labels, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
        .sum()
}

/// Scenario: without `AUTH_METRICS`, `GET /metrics` is a 404 problem; with it, the
/// contract's series count logins, authentications by scheme and outcome, refreshes
/// (reuse included) and time verifications, and no label or line carries a username,
/// token, password or key.
pub async fn metrics_count_what_the_core_decides(t: &Target) {
    let plain = t.start().await;
    problem(get(&plain, "/metrics", None).await, 404).await;

    let app = t.start_with(&[("AUTH_METRICS", "1")]).await;
    // Logins: two good (one becomes a cookie session), one bad password.
    let alice = login_bearer(&app, "alice").await;
    let wrong = token_raw(
        &app,
        &[
            ("grant_type", "password"),
            ("username", "bob"),
            ("password", "not-bobs-password"),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 400);
    let (cookie, _csrf, _) = cookie_login(&app, "carol").await;

    // Authentications: bearer ok, missing, invalid; API key ok; session ok.
    assert_eq!(get(&app, "/me", Some(&bearer(&alice))).await.status(), 200);
    assert_eq!(get(&app, "/me", None).await.status(), 401);
    assert_eq!(
        get(&app, "/me", Some("Bearer not.a.token")).await.status(),
        401
    );
    let data = super::get_with_api_key(&app, "/data").await;
    assert_eq!(data.status(), 200);
    assert_eq!(
        get_with_cookie(&app, "/dashboard", &cookie).await.status(),
        200
    );

    // Refresh: one rotation, then the spent token again (reuse), then the revoked
    // family's access token (revoked).
    let spent = alice["refresh_token"].as_str().unwrap();
    let rotated = refresh(&app, spent).await;
    assert_eq!(rotated.status(), 200);
    let rotated: serde_json::Value = rotated.json().await.unwrap();
    assert_eq!(refresh(&app, spent).await.status(), 401);
    assert_eq!(
        get(&app, "/me", Some(&bearer(&rotated))).await.status(),
        401
    );

    let r = get(&app, "/metrics", None).await;
    assert_eq!(r.status(), 200);
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = r.text().await.unwrap();
    let all = samples(&text);

    let logins = "auth_logins_total";
    assert!(value(&all, logins, &[("outcome", "ok")]) >= 2.0, "{text}");
    assert!(value(&all, logins, &[("outcome", "invalid_credentials")]) >= 1.0);
    let auths = "auth_authentications_total";
    for (scheme, outcome) in [
        ("bearer", "ok"),
        ("bearer", "missing"),
        ("bearer", "invalid"),
        ("bearer", "revoked"),
        ("api_key", "ok"),
        ("session", "ok"),
    ] {
        assert!(
            value(&all, auths, &[("scheme", scheme), ("outcome", outcome)]) >= 1.0,
            "no {auths}{{scheme={scheme},outcome={outcome}}} in\n{text}"
        );
    }
    let refreshes = "auth_refresh_total";
    assert!(
        value(&all, refreshes, &[("outcome", "ok")]) >= 1.0,
        "{text}"
    );
    assert!(value(&all, refreshes, &[("outcome", "reuse_detected")]) >= 1.0);
    // A real histogram (buckets, not a summary), counting bearer verifications.
    let count = value(
        &all,
        "auth_verification_seconds_count",
        &[("scheme", "bearer")],
    );
    assert!(count >= 3.0, "{text}");
    let inf = value(
        &all,
        "auth_verification_seconds_bucket",
        &[("scheme", "bearer"), ("le", "+Inf")],
    );
    assert_eq!(inf, count);
    assert!(
        all.iter()
            .any(|(n, l, _)| n == "auth_verification_seconds_bucket" && l["le"] == "0.001"),
        "{text}"
    );

    // Nothing personal or secret in a label.
    let secrets = [
        "alice",
        "carol",
        "bob",
        "password123",
        "not-bobs-password",
        "secret-key-123",
        alice["access_token"].as_str().unwrap(),
        spent,
    ];
    for secret in secrets {
        assert!(!text.contains(secret), "`{secret}` appears in /metrics");
    }
}
