//! The scenarios, one public async function each (see `conformance_suite!`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::app::{App, Target};

pub mod attacks;
pub use attacks::{authenticated_responses_are_private, jwt_attack_corpus};
pub mod browser;
pub use browser::{
    allowed_origins_are_validated, credentialed_answers_are_never_stored, csrf_token_form_field,
    login_accepts_a_form_or_json, login_csrf_and_the_origin_policy,
};
pub mod external;
pub mod openapi;
pub use external::{
    external_login_bad_id_tokens, external_login_happy_path, external_login_open_redirects,
    external_login_pkce_mismatch_and_provider_error, external_login_replayed_state,
    external_login_wrong_state,
};
pub use openapi::openapi_spec_follows_the_guards;
pub mod throttle;
pub use throttle::{
    concurrent_guesses_cannot_pass_the_user_limit, concurrent_sprays_cannot_pass_the_address_limit,
    trusted_proxies_name_the_client_for_the_address_limit, username_forms_share_one_throttle,
};
pub mod cluster;
pub mod persistence;
pub use persistence::{
    a_restart_loses_nothing, concurrent_refreshes_across_two_instances_have_one_winner,
    database_outage_fails_closed_and_recovers, two_instances_share_one_database,
};
pub mod external_linking;
pub use external_linking::{
    external_login_checks_azp_and_at_hash,
    external_login_github_links_only_a_verified_primary_email,
    external_login_keeps_a_linked_subjects_account, external_login_links_only_verified_emails,
};
pub mod issuers;
pub use issuers::{
    an_issuer_unreachable_from_the_start_answers_503, cached_issuer_keys_outlive_an_outage,
    issuer_key_cache_has_a_60_second_floor, rotated_issuer_keys_are_picked_up_with_one_refetch,
    trusted_issuer_refusals_are_invalid_token, trusted_issuer_roles_drive_the_guards,
    trusted_issuer_roles_from_a_nested_claim, trusted_issuer_tokens_reach_whoami,
    two_trusted_issuers_beside_the_apps_own_tokens,
    unknown_kid_flood_refetches_the_jwks_at_most_once,
};
pub mod jwks;
pub use jwks::{
    jwks_bad_key_settings_exit_with_one_line, jwks_eddsa_tokens_verify_against_the_published_key,
    jwks_ephemeral_key_without_a_key_file, jwks_es256_tokens_verify_against_the_published_key,
    jwks_hs256_tokens_are_refused_when_asymmetric, jwks_is_empty_with_hs256,
    jwks_ps256_tokens_verify_against_the_published_key, jwks_rotation_keeps_old_tokens_valid,
    jwks_rs256_tokens_verify_against_the_published_key,
};
pub mod mfa;
pub use mfa::{
    second_factor_totp_flows, wrong_codes_spend_the_mfa_token_and_count_toward_the_throttle,
};
pub mod panics;
pub mod passkeys;
pub use passkeys::passkeys_register_and_sign_in_in_a_browser;
pub mod telemetry;
pub use panics::{
    multibyte_jwt_headers_are_refused_not_a_panic, multibyte_request_text_is_refused_not_a_panic,
};
pub use telemetry::metrics_count_what_the_core_decides;

const PASSWORDS: [(&str, &str); 3] = [
    ("alice", "password123"),
    ("bob", "password456"),
    ("carol", "password789"),
];

fn password_of(user: &str) -> &'static str {
    PASSWORDS
        .iter()
        .find(|(u, _)| *u == user)
        .map(|(_, p)| *p)
        .expect("a demo user")
}

async fn token_raw(app: &App, form: &[(&str, &str)]) -> Response {
    app.client
        .post(app.url("/token"))
        .form(form)
        .send()
        .await
        .expect("POST /token")
}

/// A token response for a demo user (password grant).
pub async fn login_bearer(app: &App, user: &str) -> Value {
    let r = token_raw(app, &[("username", user), ("password", password_of(user))]).await;
    assert_eq!(r.status(), 200, "password grant for {user}");
    r.json().await.expect("token JSON")
}

/// The claims of a token response's access token (decoded, not verified).
fn claims_of(token: &Value) -> Value {
    let access = token["access_token"].as_str().expect("access_token");
    let payload = access.split('.').nth(1).expect("three segments");
    serde_json::from_slice(&B64.decode(payload).expect("base64url")).expect("JSON claims")
}

/// The `/sessions` id of a token response's login (its family).
fn family_id(token: &Value) -> String {
    format!("t.{}", claims_of(token)["sid"].as_str().expect("sid"))
}

fn bearer(token: &Value) -> String {
    format!(
        "Bearer {}",
        token["access_token"].as_str().expect("access_token")
    )
}

async fn get(app: &App, path: &str, authorization: Option<&str>) -> Response {
    let mut req = app.client.get(app.url(path));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    req.send().await.expect("GET")
}

/// `GET path` carrying a session cookie.
/// `POST /logout` with the session cookie and its CSRF token.
async fn cookie_logout(app: &App, cookie: &str, csrf: &str) -> Response {
    app.client
        .post(app.url("/logout"))
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap()
}

async fn get_with_cookie(app: &App, path: &str, cookie: &str) -> Response {
    app.client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET")
}

/// `GET path` with the demo API key in the `X-API-Key` header.
async fn get_with_api_key(app: &App, path: &str) -> Response {
    app.client
        .get(app.url(path))
        .header("x-api-key", "secret-key-123")
        .send()
        .await
        .expect("GET")
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Asserts a problem+json body with `status` and returns it.
async fn problem(r: Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
    let body: Value = r.json().await.expect("problem JSON");
    assert_eq!(body["status"], status);
    for k in ["type", "title", "status", "detail"] {
        assert!(body.get(k).is_some(), "problem lacks `{k}`: {body}");
    }
    body
}

async fn oauth_error(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert_eq!(header(&r, "cache-control"), Some("no-store"));
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["error"], code, "{body}");
    body
}

async fn expect_invalid_token(r: Response) {
    assert_eq!(r.status(), 401);
    let www = header(&r, "www-authenticate")
        .unwrap_or_default()
        .to_string();
    assert!(
        www.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{www}"
    );
    problem(r, 401).await;
}

async fn cookie_login(app: &App, user: &str) -> (String, String, Response) {
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[("username", user), ("password", password_of(user))])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(r.status(), 200);
    let set_cookie = header(&r, "set-cookie").expect("Set-Cookie").to_string();
    let pair = set_cookie.split(';').next().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    // Re-send a dummy response for callers who only need cookie and token.
    let again = get(app, "/health", None).await;
    (pair, csrf, again)
}

/// Scenario: health.
pub async fn health(t: &Target) {
    let app = t.start().await;
    let r = get(&app, "/health", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));
}

/// Scenario: token password grant.
pub async fn token_password_grant(t: &Target) {
    let app = t.start().await;
    let r = token_raw(
        &app,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "password123"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), Some("no-store"));
    assert_eq!(header(&r, "pragma"), Some("no-cache"));
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["access_token"].is_string() && body["refresh_token"].is_string());
    // The access token carries the contract's claims and header.
    let token = body["access_token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let h: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    let c: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    assert!(h["typ"].is_string() && h["kid"].is_string());
    for k in [
        "sub", "exp", "iat", "nbf", "jti", "iss", "aud", "sid", "type", "email", "roles",
    ] {
        assert!(c.get(k).is_some(), "claim {k}");
    }
    assert_eq!(
        (c["sub"].as_str(), c["type"].as_str()),
        (Some("1"), Some("access"))
    );
    // grant_type absent means password.
    let r = token_raw(&app, &[("username", "bob"), ("password", "password456")]).await;
    assert_eq!(r.status(), 200);
}

/// Scenario: token errors follow rfc 6749.
pub async fn token_errors_follow_rfc_6749(t: &Target) {
    let app = t.start().await;
    let unknown = token_raw(
        &app,
        &[("username", "mallory"), ("password", "password123")],
    )
    .await;
    let unknown = oauth_error(unknown, 400, "invalid_grant").await;
    let wrong = token_raw(&app, &[("username", "alice"), ("password", "wrong")]).await;
    let wrong = oauth_error(wrong, 400, "invalid_grant").await;
    assert_eq!(
        unknown, wrong,
        "one identical description for unknown user and wrong password"
    );
    oauth_error(
        token_raw(&app, &[("username", "alice")]).await,
        400,
        "invalid_request",
    )
    .await;
    oauth_error(
        token_raw(
            &app,
            &[
                ("grant_type", "client_credentials"),
                ("username", "a"),
                ("password", "b"),
            ],
        )
        .await,
        400,
        "unsupported_grant_type",
    )
    .await;
    let json_body = app
        .client
        .post(app.url("/token"))
        .json(&json!({"username": "alice"}))
        .send()
        .await
        .unwrap();
    oauth_error(json_body, 400, "invalid_request").await;
}

/// Scenario: token throttling after five failures.
pub async fn token_throttling_after_five_failures(t: &Target) {
    let app = t.start().await;
    for _ in 0..5 {
        oauth_error(
            token_raw(&app, &[("username", "carol"), ("password", "nope")]).await,
            400,
            "invalid_grant",
        )
        .await;
    }
    let r = token_raw(&app, &[("username", "carol"), ("password", "password789")]).await;
    let retry: u64 = header(&r, "retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry > 0);
    oauth_error(r, 429, "slow_down").await;
    // Another user is not affected.
    assert_eq!(
        token_raw(&app, &[("username", "bob"), ("password", "password456")])
            .await
            .status(),
        200
    );
}

/// Scenario: one client address spraying 100 usernames is throttled: the 101st attempt
/// gets 429 with `Retry-After`, even for a real user's right password (the adapter must
/// hand the core the client's address).
pub async fn token_throttling_per_client_address(t: &Target) {
    let app = t.start().await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (client, url) = (app.client.clone(), app.url("/token"));
        tasks.push(tokio::spawn(async move {
            let user = format!("sprayed-{i}");
            client
                .post(url)
                .form(&[("username", user.as_str()), ("password", "guess")])
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::BAD_REQUEST);
    }
    let r = token_raw(&app, &[("username", "alice"), ("password", "password123")]).await;
    assert!(header(&r, "retry-after").is_some());
    oauth_error(r, 429, "slow_down").await;
}

/// Scenario: a token signed with the app's own key but never issued by it (a leaked key,
/// a forged `jti`): blocklist mode accepts it (nothing revoked it); allowlist mode refuses
/// it, because only issued, listed tokens are accepted.
pub async fn a_validly_signed_token_never_issued_depends_on_the_mode(t: &Target) {
    let app = t.start().await;
    let tok = login_bearer(&app, "carol").await;
    let access = tok["access_token"].as_str().unwrap();
    let header: Value =
        serde_json::from_slice(&B64.decode(access.split('.').next().unwrap()).unwrap()).unwrap();
    let mut claims = claims_of(&tok);
    claims["jti"] = json!("never-issued-jti-0000");
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = header["kid"].as_str().map(String::from);
    h.typ = header["typ"].as_str().map(String::from);
    let minted = jsonwebtoken::encode(
        &h,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(crate::app::ACCESS_SECRET.as_bytes()).unwrap(),
    )
    .unwrap();
    let r = get(&app, "/me", Some(&format!("Bearer {minted}"))).await;
    if t.allowlist {
        expect_invalid_token(r).await;
    } else {
        assert_eq!(r.status(), 200, "blocklist mode: signed and unrevoked");
    }
    assert_eq!(
        get(&app, "/me", Some(&bearer(&tok))).await.status(),
        200,
        "the issued token works in both modes"
    );
}

/// Scenario: me with and without a token.
pub async fn me_with_and_without_a_token(t: &Target) {
    let app = t.start().await;
    let tok = login_bearer(&app, "alice").await;
    let r = get(&app, "/me", Some(&bearer(&tok))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"id": 1, "email": "alice@example.com", "roles": ["admin"]})
    );
    let r = get(&app, "/me", None).await;
    assert_eq!(
        header(&r, "www-authenticate"),
        Some("Bearer"),
        "no error attribute without credentials"
    );
    problem(r, 401).await;
    expect_invalid_token(get(&app, "/me", Some("Bearer not.a.token")).await).await;
    let r = get(&app, "/me", Some("Basic YWxpY2U6cGFzc3dvcmQxMjM=")).await;
    assert_eq!(header(&r, "www-authenticate"), Some("Bearer"));
    problem(r, 401).await;
}

fn forge(header: Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    )
}

/// Scenario: token attacks are refused.
pub async fn token_attacks_are_refused(t: &Target) {
    let app = t.start().await;
    let tok = login_bearer(&app, "carol").await;
    let access = tok["access_token"].as_str().unwrap();
    let parts: Vec<&str> = access.split('.').collect();
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();

    let mut none = header.clone();
    none["alg"] = json!("none");
    let mut escalated = claims.clone();
    escalated["roles"] = json!(["admin"]);
    claims["sub"] = json!("1");
    let wrong_key = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = header["kid"].as_str().map(String::from);
        h.typ = header["typ"].as_str().map(String::from);
        jsonwebtoken::encode(
            &h,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&[7u8; 32]).unwrap(),
        )
        .unwrap()
    };
    let unknown_kid = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some("rotated-out".into());
        h.typ = header["typ"].as_str().map(String::from);
        jsonwebtoken::encode(
            &h,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(crate::app::ACCESS_SECRET.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let mut jku = header.clone();
    jku["jku"] = json!("http://127.0.0.1:9/jwks.json");
    let attacks = [
        unknown_kid,
        forge(jku, &claims, parts[2]),
        forge(none, &claims, ""),
        format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(escalated.to_string()),
            parts[2]
        ),
        format!("{}.{}.", parts[0], parts[1]),
        format!("{}.{}", parts[0], parts[1]),
        wrong_key,
        tok["refresh_token"].as_str().unwrap().to_string(),
        String::from("a.b.c.d"),
        format!("{access}\"quoted"),
    ];
    for attack in attacks {
        expect_invalid_token(get(&app, "/me", Some(&format!("Bearer {attack}"))).await).await;
    }
}

/// Scenario: header limits.
pub async fn header_limits(t: &Target) {
    let app = t.start().await;
    let tok = login_bearer(&app, "alice").await;
    let huge = format!("Bearer {}", "a".repeat(9000));
    let r = get(&app, "/me", Some(&huge)).await;
    assert!(r.status() == 431 || r.status() == 401, "{}", r.status());
    let dots = format!("Bearer {}", ".".repeat(1_000_000));
    let r = app
        .client
        .get(app.url("/me"))
        .header("authorization", dots)
        .send()
        .await;
    if let Ok(r) = r {
        assert!(
            [401u16, 431].contains(&r.status().as_u16()),
            "{}",
            r.status()
        );
    }
    let mut two = HeaderMap::new();
    two.append(
        "authorization",
        HeaderValue::from_str(&bearer(&tok)).unwrap(),
    );
    two.append(
        "authorization",
        HeaderValue::from_str(&bearer(&tok)).unwrap(),
    );
    let r = app
        .client
        .get(app.url("/me"))
        .headers(two)
        .send()
        .await
        .unwrap();
    expect_invalid_token(r).await;
    let raw = HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap();
    let r = app
        .client
        .get(app.url("/me"))
        .header("authorization", raw)
        .send()
        .await
        .unwrap();
    expect_invalid_token(r).await;
    // The app is still up.
    assert_eq!(get(&app, "/me", Some(&bearer(&tok))).await.status(), 200);
}

async fn refresh(app: &App, token: &str) -> Response {
    app.client
        .post(app.url("/refresh"))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap()
}

/// Scenario: refresh rotates and reuse revokes the family.
pub async fn refresh_rotates_and_reuse_revokes_the_family(t: &Target) {
    let app = t.start().await;
    let first = login_bearer(&app, "alice").await;
    let r = refresh(&app, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), Some("no-store"));
    let second: Value = r.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(get(&app, "/me", Some(&bearer(&second))).await.status(), 200);

    // Reuse of the rotated token: refused, and the whole family dies.
    expect_invalid_token(refresh(&app, first["refresh_token"].as_str().unwrap()).await).await;
    expect_invalid_token(get(&app, "/me", Some(&bearer(&second))).await).await;
    expect_invalid_token(get(&app, "/me", Some(&bearer(&first))).await).await;
    expect_invalid_token(refresh(&app, second["refresh_token"].as_str().unwrap()).await).await;
    // An access token is not a refresh token; junk is a 400 problem.
    let other = login_bearer(&app, "alice").await;
    expect_invalid_token(refresh(&app, other["access_token"].as_str().unwrap()).await).await;
    let junk = app
        .client
        .post(app.url("/refresh"))
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    problem(junk, 400).await;
}

/// Scenario: token endpoint refresh grant.
pub async fn token_endpoint_refresh_grant(t: &Target) {
    let app = t.start().await;
    let first = login_bearer(&app, "bob").await;
    let rt = first["refresh_token"].as_str().unwrap();
    let r = token_raw(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let again = token_raw(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    oauth_error(again, 400, "invalid_grant").await;
}

/// Scenario: concurrent refresh race has one winner.
pub async fn concurrent_refresh_race_has_one_winner(t: &Target) {
    let app = t.start().await;
    let tok = login_bearer(&app, "alice").await;
    let rt = tok["refresh_token"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (client, url, rt) = (app.client.clone(), app.url("/refresh"), rt.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"refresh_token": rt}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        let status = task.await.unwrap();
        assert!(
            status == StatusCode::OK || status == StatusCode::UNAUTHORIZED,
            "{status}"
        );
        ok += usize::from(status == StatusCode::OK);
    }
    assert_eq!(ok, 1, "exactly one of 20 concurrent refreshes wins");
}

/// Scenario: bearer logout revokes the login.
pub async fn bearer_logout_revokes_the_login(t: &Target) {
    let app = t.start().await;
    let tok = login_bearer(&app, "alice").await;
    let other = login_bearer(&app, "alice").await;
    let r = app
        .client
        .post(app.url("/logout"))
        .header("authorization", bearer(&tok))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "Logged out successfully"})
    );
    expect_invalid_token(get(&app, "/me", Some(&bearer(&tok))).await).await;
    expect_invalid_token(refresh(&app, tok["refresh_token"].as_str().unwrap()).await).await;
    assert_eq!(
        get(&app, "/me", Some(&bearer(&other))).await.status(),
        200,
        "another login lives"
    );
    let r = app.client.post(app.url("/logout")).send().await.unwrap();
    problem(r, 401).await;
}

/// Scenario: logout all revokes every login.
pub async fn logout_all_revokes_every_login(t: &Target) {
    let app = t.start().await;
    let a = login_bearer(&app, "bob").await;
    let b = login_bearer(&app, "bob").await;
    let carol = login_bearer(&app, "carol").await;
    let (cookie, _, _) = cookie_login(&app, "bob").await;
    let r = app
        .client
        .post(app.url("/logout/all"))
        .header("authorization", bearer(&a))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    expect_invalid_token(get(&app, "/me", Some(&bearer(&a))).await).await;
    expect_invalid_token(get(&app, "/me", Some(&bearer(&b))).await).await;
    let r = app
        .client
        .get(app.url("/dashboard"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    problem(r, 401).await;
    assert_eq!(get(&app, "/me", Some(&bearer(&carol))).await.status(), 200);
    problem(
        app.client
            .post(app.url("/logout/all"))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
}

/// Scenario: sessions are listed and revocable.
pub async fn sessions_are_listed_and_revocable(t: &Target) {
    let app = t.start().await;
    let a = login_bearer(&app, "alice").await;
    let b = login_bearer(&app, "alice").await;
    let (_cookie, _, _) = cookie_login(&app, "alice").await;
    let r = get(&app, "/sessions", Some(&bearer(&a))).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for secret in [&a["access_token"], &a["refresh_token"], &b["access_token"]] {
        assert!(
            !text.contains(secret.as_str().unwrap()),
            "no token values in /sessions"
        );
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    let list = body["sessions"].as_array().unwrap();
    assert_eq!(list.iter().filter(|s| s["kind"] == "token").count(), 2);
    assert_eq!(list.iter().filter(|s| s["kind"] == "session").count(), 1);
    for s in list {
        for k in ["id", "kind", "created", "last_seen"] {
            assert!(s.get(k).is_some(), "{s}");
        }
    }
    // Revoke b's login by its id.
    let b_sid = family_id(&b);
    let r = app
        .client
        .delete(app.url(&format!("/sessions/{b_sid}")))
        .header("authorization", bearer(&a))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    expect_invalid_token(get(&app, "/me", Some(&bearer(&b))).await).await;
    assert_eq!(get(&app, "/me", Some(&bearer(&a))).await.status(), 200);
    // Unknown ids and other users' ids are both 404.
    let carol = login_bearer(&app, "carol").await;
    let r = app
        .client
        .delete(app.url("/sessions/t.nope"))
        .header("authorization", bearer(&a))
        .send()
        .await
        .unwrap();
    problem(r, 404).await;
    let a_sid = family_id(&a);
    let r = app
        .client
        .delete(app.url(&format!("/sessions/{a_sid}")))
        .header("authorization", bearer(&carol))
        .send()
        .await
        .unwrap();
    problem(r, 404).await;
    assert_eq!(get(&app, "/me", Some(&bearer(&a))).await.status(), 200);
}

/// Scenario: api key in header and query.
pub async fn api_key_in_header_and_query(t: &Target) {
    let app = t.start().await;
    let r = get_with_api_key(&app, "/data").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "Access granted", "key_used": "secret..."})
    );
    let r = get(&app, "/data?api_key=another-key-456", None).await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "Access granted", "key_used": "anothe..."})
    );
    for bad in [None, Some("wrong-key-000"), Some("")] {
        let mut req = app.client.get(app.url("/data"));
        if let Some(k) = bad {
            req = req.header("x-api-key", k);
        }
        let body = problem(req.send().await.unwrap(), 401).await;
        assert_eq!(body["detail"], "Invalid or missing API key");
    }
}

/// Scenario: cookie login dashboard and logout.
pub async fn cookie_login_dashboard_and_logout(t: &Target) {
    let app = t.start().await;
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[("username", "bob"), ("password", "password456")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set_cookie = header(&r, "set-cookie").unwrap().to_string();
    let attrs: Vec<&str> = set_cookie.split("; ").collect();
    let (name, value) = attrs[0].split_once('=').unwrap();
    assert_eq!(name, "session_id");
    assert!(value.len() >= 22, "at least 128 bits");
    for a in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=3600",
    ] {
        assert!(attrs.contains(&a), "{a} in {set_cookie}");
    }
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "Logged in");
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    let cookie = attrs[0].to_string();

    let r = get_with_cookie(&app, "/dashboard", &cookie).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"user": {"id": 2, "email": "bob@example.com", "roles": ["editor"]}})
    );
    let body = problem(get(&app, "/dashboard", None).await, 401).await;
    assert_eq!(body["detail"], "Not authenticated");

    // Logout needs the CSRF token; then the server session is gone and the cookie cleared.
    let r = app
        .client
        .post(app.url("/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(r, 403).await["detail"],
        "CSRF token missing or invalid"
    );
    let r = cookie_logout(&app, &cookie, &csrf).await;
    assert_eq!(r.status(), 200);
    let cleared = header(&r, "set-cookie").unwrap().to_string();
    assert!(
        cleared.starts_with("session_id=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "Logged out"})
    );
    let r = get_with_cookie(&app, "/dashboard", &cookie).await;
    problem(r, 401).await;
}

/// Scenario: login fixation is prevented.
pub async fn login_fixation_is_prevented(t: &Target) {
    let app = t.start().await;
    let (old, _, _) = cookie_login(&app, "carol").await;
    let r = app
        .client
        .post(app.url("/login"))
        .header("cookie", &old)
        .form(&[("username", "carol"), ("password", "password789")])
        .send()
        .await
        .unwrap();
    let new = header(&r, "set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(new, old);
    let r = app
        .client
        .get(app.url("/dashboard"))
        .header("cookie", &old)
        .send()
        .await
        .unwrap();
    problem(r, 401).await;
    let r = app
        .client
        .get(app.url("/dashboard"))
        .header("cookie", &new)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Scenario: login failures and throttling.
pub async fn login_failures_and_throttling(t: &Target) {
    let app = t.start().await;
    let post = |u: &'static str, p: &'static str| {
        app.client
            .post(app.url("/login"))
            .form(&[("username", u), ("password", p)])
            .send()
    };
    let unknown = problem(post("mallory", "x").await.unwrap(), 401).await;
    let wrong = problem(post("alice", "x").await.unwrap(), 401).await;
    assert_eq!(
        unknown, wrong,
        "same sentence for unknown user and wrong password"
    );
    for _ in 0..4 {
        problem(post("alice", "x").await.unwrap(), 401).await;
    }
    let r = post("alice", "password123").await.unwrap();
    assert!(header(&r, "retry-after").is_some());
    problem(r, 429).await;
}

/// Scenario: csrf on cookie requests.
pub async fn csrf_on_cookie_requests(t: &Target) {
    let app = t.start().await;
    let (cookie, csrf, _) = cookie_login(&app, "bob").await;
    let post = || {
        app.client
            .post(app.url("/articles"))
            .header("cookie", &cookie)
    };
    let body = problem(post().send().await.unwrap(), 403).await;
    assert_eq!(body["detail"], "CSRF token missing or invalid");
    problem(
        post().header("x-csrf-token", "wrong").send().await.unwrap(),
        403,
    )
    .await;
    let foreign = post()
        .header("x-csrf-token", &csrf)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    problem(foreign, 403).await;
    let ok = post().header("x-csrf-token", &csrf).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.json::<Value>().await.unwrap(),
        json!({"created_by": "bob@example.com"})
    );
    // Bearer requests need no CSRF token.
    let tok = login_bearer(&app, "bob").await;
    let r = app
        .client
        .post(app.url("/articles"))
        .header("authorization", bearer(&tok))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Scenario: rbac roles.
pub async fn rbac_roles(t: &Target) {
    let app = t.start().await;
    let (alice, bob, carol) = (
        login_bearer(&app, "alice").await,
        login_bearer(&app, "bob").await,
        login_bearer(&app, "carol").await,
    );
    let post = |who: &Value| {
        app.client
            .post(app.url("/articles"))
            .header("authorization", bearer(who))
            .send()
    };
    assert_eq!(
        post(&alice).await.unwrap().json::<Value>().await.unwrap(),
        json!({"created_by": "alice@example.com"})
    );
    assert_eq!(post(&bob).await.unwrap().status(), 200);
    let body = problem(post(&carol).await.unwrap(), 403).await;
    assert_eq!(body["detail"], "Required roles: [editor, admin]");
    let r = app.client.post(app.url("/articles")).send().await.unwrap();
    assert_eq!(header(&r, "www-authenticate"), Some("Bearer"));
    problem(r, 401).await;

    let del = |who: &Value, id: &str| {
        app.client
            .delete(app.url(&format!("/users/{id}")))
            .header("authorization", bearer(who))
            .send()
    };
    let r = del(&alice, "2").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"deleted": 2}));
    assert_eq!(
        problem(del(&bob, "2").await.unwrap(), 403).await["detail"],
        "Required roles: [admin]"
    );
    let r = del(&alice, "abc").await.unwrap();
    assert!(r.status() == 400 || r.status() == 422);
    assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
    problem(
        app.client.delete(app.url("/users/2")).send().await.unwrap(),
        401,
    )
    .await;
}

/// Scenario: abac article policies.
pub async fn abac_article_policies(t: &Target) {
    let app = t.start().await;
    let (alice, bob, carol) = (
        login_bearer(&app, "alice").await,
        login_bearer(&app, "bob").await,
        login_bearer(&app, "carol").await,
    );
    let put = |who: &Value, id: u32| {
        app.client
            .put(app.url(&format!("/articles/{id}")))
            .header("authorization", bearer(who))
            .send()
    };
    let del = |who: &Value, id: u32| {
        app.client
            .delete(app.url(&format!("/articles/{id}")))
            .header("authorization", bearer(who))
            .send()
    };
    let r = put(&bob, 2).await.unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "Article updated"})
    );
    assert_eq!(
        put(&alice, 3).await.unwrap().status(),
        200,
        "admin edits anything"
    );
    problem(put(&carol, 2).await.unwrap(), 403).await;
    assert_eq!(
        problem(put(&bob, 99).await.unwrap(), 404).await["detail"],
        "Article not found"
    );
    problem(
        app.client.put(app.url("/articles/2")).send().await.unwrap(),
        401,
    )
    .await;

    assert_eq!(
        problem(del(&bob, 2).await.unwrap(), 403).await["detail"],
        "Cannot delete this article",
        "published"
    );
    problem(del(&carol, 1).await.unwrap(), 403).await;
    let r = del(&carol, 3).await.unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "Article deleted"})
    );
    problem(del(&carol, 3).await.unwrap(), 404).await;
    assert_eq!(
        del(&alice, 2).await.unwrap().status(),
        200,
        "admin deletes a published article"
    );
}

/// Scenario: reports accept bearer or session.
pub async fn reports_accept_bearer_or_session(t: &Target) {
    let app = t.start().await;
    let tok = login_bearer(&app, "carol").await;
    let r = get(&app, "/reports", Some(&bearer(&tok))).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"reports": []}));
    let (cookie, _, _) = cookie_login(&app, "carol").await;
    let r = app
        .client
        .get(app.url("/reports"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    problem(get(&app, "/reports", None).await, 401).await;
}

/// Scenario: bad configuration exits with one line.
pub async fn bad_configuration_exits_with_one_line(t: &Target) {
    let cases: [&[(&str, &str)]; 3] = [
        &[("AUTH_JWT_SECRET", "too-short")],
        &[
            ("AUTH_JWT_SECRET", "same-secret-same-secret-same-secret!!"),
            (
                "AUTH_REFRESH_SECRET",
                "same-secret-same-secret-same-secret!!",
            ),
        ],
        &[("AUTH_BIND", "not-an-address")],
    ];
    for env in cases {
        let mut cmd = std::process::Command::new(&t.binary);
        cmd.env("AUTH_JWT_SECRET", crate::app::ACCESS_SECRET)
            .env("AUTH_REFRESH_SECRET", crate::app::REFRESH_SECRET);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{env:?} must refuse to start");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "one line: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// A `redis-server` of the scenario's own on a free port (for scenarios that stop it),
/// and its URL, once it accepts connections.
pub(crate) async fn private_redis() -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("this scenario starts its own redis-server; install Debian's `redis-server`");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    (server, format!("redis://127.0.0.1:{port}"))
}

/// Scenarios with two app instances sharing one Redis.
pub mod shared {
    pub use super::browser::optional_bearer_fails_closed_on_store_outage;
    pub use super::external::external_login_across_instances;
    use super::*;
    use crate::app::unique_namespace;

    pub(crate) async fn pair_with(binary: &str, env: &[(&str, &str)]) -> (App, App) {
        let ns = unique_namespace();
        (
            App::start(binary, Some(&ns), env).await,
            App::start(binary, Some(&ns), env).await,
        )
    }

    /// A logout on instance `a` is refused by instance `b`: at once, or within `within`
    /// for instances that replicate revocations.
    pub(crate) async fn logout_across(
        binary: &str,
        env: &[(&str, &str)],
        within: std::time::Duration,
    ) {
        let (a, b) = pair_with(binary, env).await;
        let tok = login_bearer(&a, "alice").await;
        assert_eq!(
            get(&b, "/me", Some(&bearer(&tok))).await.status(),
            200,
            "a login on one is accepted by the other"
        );
        let r = a
            .client
            .post(a.url("/logout"))
            .header("authorization", bearer(&tok))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let deadline = std::time::Instant::now() + within;
        loop {
            let r = get(&b, "/me", Some(&bearer(&tok))).await;
            if r.status() == 401 || std::time::Instant::now() >= deadline {
                expect_invalid_token(r).await;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Scenario: in allowlist mode too, the listing is shared: a login on one instance
    /// is accepted by the other and a logout on one is refused by the other.
    pub async fn allowlist_is_shared_between_instances(binary: &str) {
        logout_across(
            binary,
            &[("AUTH_REVOCATION", "allowlist")],
            std::time::Duration::ZERO,
        )
        .await;
    }

    /// Scenario: with revocations replicated into each instance (`AUTH_REDIS_REPLICA`),
    /// a logout on one instance is refused by the other (within the propagation bound;
    /// the benchmark measures it in microseconds), and the other's own checks stay local.
    pub async fn logout_is_seen_by_a_replicated_instance(binary: &str) {
        logout_across(
            binary,
            &[("AUTH_REDIS_REPLICA", "true")],
            std::time::Duration::from_secs(2),
        )
        .await;
    }

    /// Scenario: logout is seen by the other instance.
    pub async fn logout_is_seen_by_the_other_instance(binary: &str) {
        logout_across(binary, &[], std::time::Duration::ZERO).await;
    }

    /// Scenario: session is seen by the other instance.
    pub async fn session_is_seen_by_the_other_instance(binary: &str) {
        session_across(binary, &[]).await;
    }

    pub(crate) async fn session_across(binary: &str, env: &[(&str, &str)]) {
        let (a, b) = pair_with(binary, env).await;
        let (cookie, csrf, _) = cookie_login(&a, "bob").await;
        let r = b
            .client
            .get(b.url("/dashboard"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = cookie_logout(&b, &cookie, &csrf).await;
        assert_eq!(r.status(), 200);
        let r = a
            .client
            .get(a.url("/dashboard"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        problem(r, 401).await;
    }

    /// Scenario: rotation is seen by the other instance.
    /// Scenario: the state store goes away (a redis-server this scenario started itself):
    /// protected routes and `/health` answer 503, never 200; nothing is allowed unchecked.
    pub async fn store_outage_fails_closed(binary: &str) {
        store_outage_fails_closed_with(binary, "blocklist").await;
    }

    /// Scenario: the same outage in allowlist mode: a listed token is refused (503), never
    /// accepted, while the list cannot be read.
    pub async fn store_outage_fails_closed_in_allowlist_mode(binary: &str) {
        store_outage_fails_closed_with(binary, "allowlist").await;
    }

    async fn store_outage_fails_closed_with(binary: &str, mode: &str) {
        let (mut server, url) = private_redis().await;
        let app = App::start(
            binary,
            None,
            &[("AUTH_REDIS_URL", url.as_str()), ("AUTH_REVOCATION", mode)],
        )
        .await;
        let tok = login_bearer(&app, "alice").await;
        assert_eq!(get(&app, "/me", Some(&bearer(&tok))).await.status(), 200);
        let _ = server.kill();
        let _ = server.wait();
        let r = get(&app, "/me", Some(&bearer(&tok))).await;
        assert_eq!(header(&r, "retry-after"), Some("1"));
        problem(r, 503).await;
        problem(get(&app, "/health", None).await, 503).await;
        let r = token_raw(&app, &[("username", "alice"), ("password", "password123")]).await;
        oauth_error(r, 503, "temporarily_unavailable").await;
    }

    /// Scenario: rotation is seen by the other instance.
    pub async fn rotation_is_seen_by_the_other_instance(binary: &str) {
        rotation_across(binary, &[]).await;
    }

    pub(crate) async fn rotation_across(binary: &str, env: &[(&str, &str)]) {
        let (a, b) = pair_with(binary, env).await;
        let first = login_bearer(&a, "carol").await;
        let rt = first["refresh_token"].as_str().unwrap();
        assert_eq!(refresh(&a, rt).await.status(), 200);
        expect_invalid_token(refresh(&b, rt).await).await;
        // Reuse on b revoked the family on a too.
        expect_invalid_token(get(&a, "/me", Some(&bearer(&first))).await).await;
    }
}
