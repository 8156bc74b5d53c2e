//! The second factor (TOTP with recovery codes): enrolment, `mfa_required` and the
//! `mfa_otp` grant, `/login/mfa`, the second-factor guard, removal, and wrong codes
//! counted by the throttle.

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::Response;
use serde_json::Value;

use super::{
    bearer, claims_of, get, get_with_cookie, header, login_bearer, oauth_error, password_of,
    problem, token_raw,
};
use crate::app::{App, Target};

/// The authenticator app of the scenario: RFC 6238 codes of a base32 secret.
struct Authenticator(totp_rs::Totp);

impl Authenticator {
    fn new(secret_base32: &str) -> Self {
        let secret = totp_rs::Secret::try_from_base32(secret_base32).expect("a base32 secret");
        Self(
            totp_rs::Builder::new()
                .with_algorithm(totp_rs::Algorithm::SHA1)
                .with_digits(6)
                .with_step_duration(30)
                .with_secret(secret)
                .build_noncompliant(),
        )
    }

    /// The code of `step` (the server accepts the current step and one either side).
    fn code(&self, step: u64) -> String {
        self.0.generate(step * 30).to_string()
    }
}

/// The current 30-second step, waiting out the last 4 seconds of a step so that the
/// previous, current and next codes all stay acceptable for the next 25 seconds.
async fn fresh_step() -> u64 {
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        if 30 - now % 30 > 4 {
            return now / 30;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

async fn send_json(
    app: &App,
    method: reqwest::Method,
    path: &str,
    auth: &[(&str, &str)],
    body: &Value,
) -> Response {
    let mut req = app.client.request(method, app.url(path)).json(body);
    for (k, v) in auth {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request")
}

/// Enrols and confirms `user`'s TOTP with a bearer token, at step `step - 1` (so the
/// flows can use `step` and `step + 1`); the authenticator and the recovery codes.
async fn activate(app: &App, user: &str, step: u64) -> (Authenticator, Vec<String>) {
    let token = login_bearer(app, user).await;
    let auth = bearer(&token);
    let enroll = send_json(
        app,
        reqwest::Method::POST,
        "/mfa/totp/enroll",
        &[("authorization", &auth)],
        &serde_json::json!({}),
    )
    .await;
    assert_eq!(enroll.status(), 200);
    assert_eq!(header(&enroll, "cache-control"), Some("no-store"));
    let body: Value = enroll.json().await.expect("JSON");
    let url = body["otpauth_url"].as_str().expect("otpauth_url");
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    // SHA-1, 6 digits and 30 s are the Key URI format's defaults: absent, or stated.
    for (name, default) in [("algorithm", "SHA1"), ("digits", "6"), ("period", "30")] {
        let stated = url
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix(&format!("{name}=")));
        assert!(stated.is_none_or(|v| v == default), "{url}");
    }
    assert!(url.contains("secret=") && url.contains("issuer="), "{url}");
    let app_codes = Authenticator::new(body["secret"].as_str().expect("secret"));
    let confirm = |code: String| {
        let auth = auth.clone();
        async move {
            send_json(
                app,
                reqwest::Method::POST,
                "/mfa/totp/confirm",
                &[("authorization", &auth)],
                &serde_json::json!({ "code": code }),
            )
            .await
        }
    };
    let wrong = format!(
        "{:06}",
        (app_codes.code(step - 1).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    problem(confirm(wrong).await, 400).await;
    let ok = confirm(app_codes.code(step - 1)).await;
    assert_eq!(ok.status(), 200);
    let codes: Vec<String> =
        serde_json::from_value(ok.json::<Value>().await.unwrap()["recovery_codes"].clone())
            .expect("recovery_codes");
    assert_eq!(codes.len(), 10);
    let again = send_json(
        app,
        reqwest::Method::POST,
        "/mfa/totp/enroll",
        &[("authorization", &auth)],
        &serde_json::json!({}),
    )
    .await;
    problem(again, 409).await;
    (app_codes, codes)
}

/// The `mfa_token` of a password grant that asks for the second factor.
async fn mfa_required(app: &App, user: &str) -> String {
    let r = token_raw(app, &[("username", user), ("password", password_of(user))]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(header(&r, "cache-control"), Some("no-store"));
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["error"], "mfa_required", "{body}");
    assert!(body.get("access_token").is_none());
    assert!(body["error_description"].as_str().is_some());
    body["mfa_token"].as_str().expect("mfa_token").to_string()
}

async fn mfa_otp(app: &App, mfa_token: &str, field: &str, code: &str) -> Response {
    token_raw(
        app,
        &[
            ("grant_type", "mfa_otp"),
            ("mfa_token", mfa_token),
            (field, code),
        ],
    )
    .await
}

/// Scenario: TOTP end to end. Enrolment (bearer; session with CSRF), confirmation with a
/// code, 409 on a second enrolment; the password grant answers `mfa_required` and the
/// `mfa_otp` grant trades the token and a code for tokens with `amr` `["pwd","otp"]`
/// (wrong and replayed codes refused, the token single-use); the guard of `/mfa/check`
/// refuses a password-only login with RFC 9470's error; cookie login asks for the code
/// and `/login/mfa` starts the session; a recovery code works once; removal needs a code;
/// the login counter counts `mfa_required`.
pub async fn second_factor_totp_flows(t: &Target) {
    let app = t.start_with(&[("AUTH_METRICS", "1")]).await;
    let step = fresh_step().await;

    // A password-only login does not pass the second-factor guard.
    let plain = login_bearer(&app, "alice").await;
    assert_eq!(claims_of(&plain)["amr"], serde_json::json!(["pwd"]));
    let refused = get(&app, "/mfa/check", Some(&bearer(&plain))).await;
    let www = header(&refused, "www-authenticate")
        .unwrap_or_default()
        .to_string();
    assert!(
        www.starts_with("Bearer error=\"insufficient_user_authentication\""),
        "{www}"
    );
    problem(refused, 403).await;
    problem(get(&app, "/mfa/check", None).await, 401).await;
    // Enrolment needs a caller.
    problem(
        send_json(
            &app,
            reqwest::Method::POST,
            "/mfa/totp/enroll",
            &[],
            &serde_json::json!({}),
        )
        .await,
        401,
    )
    .await;

    let (alice_app, recovery) = activate(&app, "alice", step).await;
    let mfa_token = mfa_required(&app, "alice").await;
    oauth_error(
        mfa_otp(&app, &mfa_token, "otp", "000000x").await,
        400,
        "invalid_grant",
    )
    .await;
    // The confirming step's code is used already.
    let replay = mfa_otp(&app, &mfa_token, "otp", &alice_app.code(step - 1)).await;
    oauth_error(replay, 400, "invalid_grant").await;
    let ok = mfa_otp(&app, &mfa_token, "otp", &alice_app.code(step)).await;
    assert_eq!(ok.status(), 200);
    let tokens: Value = ok.json().await.unwrap();
    assert_eq!(claims_of(&tokens)["amr"], serde_json::json!(["pwd", "otp"]));
    let check = get(&app, "/mfa/check", Some(&bearer(&tokens))).await;
    assert_eq!(check.status(), 200);
    assert_eq!(
        check.json::<Value>().await.unwrap()["amr"],
        serde_json::json!(["pwd", "otp"])
    );
    // The token is spent.
    let spent = mfa_otp(&app, &mfa_token, "otp", &alice_app.code(step + 1)).await;
    oauth_error(spent, 400, "invalid_grant").await;
    oauth_error(
        token_raw(
            &app,
            &[("grant_type", "mfa_otp"), ("mfa_token", &mfa_token)],
        )
        .await,
        400,
        "invalid_request",
    )
    .await;

    // Cookie login: the code is asked for, then /login/mfa starts the session.
    let login = app
        .client
        .post(app.url("/login"))
        .form(&[("username", "alice"), ("password", password_of("alice"))])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert!(
        header(&login, "set-cookie").is_none(),
        "no session before the code"
    );
    let body: Value = login.json().await.unwrap();
    assert_eq!(body["message"], "Second factor required");
    let cookie_token = body["mfa_token"].as_str().unwrap().to_string();
    let login_mfa = |fields: Vec<(&'static str, String)>| {
        app.client.post(app.url("/login/mfa")).form(&fields).send()
    };
    let wrong = login_mfa(vec![
        ("mfa_token", cookie_token.clone()),
        ("otp", "123".into()),
    ])
    .await
    .unwrap();
    assert!(header(&wrong, "set-cookie").is_none());
    problem(wrong, 401).await;
    let ok = login_mfa(vec![
        ("mfa_token", cookie_token.clone()),
        ("recovery_code", recovery[0].clone()),
    ])
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    let set_cookie = header(&ok, "set-cookie")
        .expect("session cookie")
        .to_string();
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    assert_eq!(ok.json::<Value>().await.unwrap()["message"], "Logged in");
    assert_eq!(
        get_with_cookie(&app, "/dashboard", &cookie).await.status(),
        200
    );
    let check = get_with_cookie(&app, "/mfa/check", &cookie).await;
    assert_eq!(check.status(), 200);
    // That recovery code is spent.
    let again = mfa_required(&app, "alice").await;
    let reused = mfa_otp(&app, &again, "recovery_code", &recovery[0]).await;
    oauth_error(reused, 400, "invalid_grant").await;

    // Removal needs a code (here an unused recovery code); then tokens come at once.
    let remove = |code: &str| {
        let (auth, body) = (bearer(&tokens), serde_json::json!({ "code": code }));
        let app = &app;
        async move {
            send_json(
                app,
                reqwest::Method::DELETE,
                "/mfa/totp",
                &[("authorization", &auth)],
                &body,
            )
            .await
        }
    };
    problem(remove("not-a-code").await, 400).await;
    assert_eq!(remove(&recovery[1]).await.status(), 200);
    assert_eq!(login_bearer(&app, "alice").await["token_type"], "bearer");

    // A session enrols too, with its CSRF token.
    let (cookie, csrf, _) = super::cookie_login(&app, "carol").await;
    let no_csrf = send_json(
        &app,
        reqwest::Method::POST,
        "/mfa/totp/enroll",
        &[("cookie", &cookie)],
        &serde_json::json!({}),
    )
    .await;
    problem(no_csrf, 403).await;
    let with_csrf = send_json(
        &app,
        reqwest::Method::POST,
        "/mfa/totp/enroll",
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        &serde_json::json!({}),
    )
    .await;
    assert_eq!(with_csrf.status(), 200);

    let metrics = get(&app, "/metrics", None).await.text().await.unwrap();
    let counted = metrics
        .lines()
        .find(|l| l.starts_with("auth_logins_total{") && l.contains("outcome=\"mfa_required\""))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        counted >= 3.0,
        "mfa_required logins counted: {counted}\n{metrics}"
    );
}

/// Scenario: five wrong codes spend the `mfa_token` (the right code is refused after
/// them) and count toward the user's throttle (the next password grant is 429 with
/// `Retry-After`).
pub async fn wrong_codes_spend_the_mfa_token_and_count_toward_the_throttle(t: &Target) {
    let app = t.start().await;
    let step = fresh_step().await;
    let (bob_app, _) = activate(&app, "bob", step).await;
    let mfa_token = mfa_required(&app, "bob").await;
    let right = bob_app.code(step);
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    for _ in 0..5 {
        oauth_error(
            mfa_otp(&app, &mfa_token, "otp", &wrong).await,
            400,
            "invalid_grant",
        )
        .await;
    }
    oauth_error(
        mfa_otp(&app, &mfa_token, "otp", &right).await,
        400,
        "invalid_grant",
    )
    .await;
    let locked = token_raw(
        &app,
        &[("username", "bob"), ("password", password_of("bob"))],
    )
    .await;
    assert!(header(&locked, "retry-after").is_some());
    oauth_error(locked, 429, "slow_down").await;
}
