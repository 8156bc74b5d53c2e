//! Third-party login scenarios (`GET /auth/{provider}/login` and `/callback`) against the
//! [`TestProvider`]. The scenario plays the browser: it follows each redirect by hand and
//! carries the cookies itself.

use reqwest::Response;
use serde_json::{Value, json};

use super::{cookie_login, header, problem};
use crate::app::{App, Target};
use crate::provider::{Mode, REDIRECT_URL, TestProvider};

/// An app with `provider` registered as `test`.
pub(super) async fn start(t: &Target, provider: &TestProvider) -> App {
    let env = provider.app_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    t.start_with(&pairs).await
}

fn set_cookies(r: &Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect()
}

fn query_of(url: &str) -> Vec<(String, String)> {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// A started login: where the app sent the browser, and the pre-login cookie pair.
struct Started {
    authorize_url: String,
    cookie: String,
}

/// `GET /auth/test/login?next=…`: asserts the redirect and the cookie.
async fn begin(app: &App, provider: &TestProvider, next: Option<&str>) -> Started {
    let mut url = app.url("/auth/test/login");
    if let Some(next) = next {
        url.push_str("?next=");
        url.push_str(&form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>());
    }
    let r = app.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(header(&r, "cache-control"), Some("no-store"));
    let location = header(&r, "location").unwrap().to_string();
    assert!(
        location.starts_with(&format!("{}/authorize?", provider.base)),
        "{location}"
    );
    let q = query_of(&location);
    assert_eq!(param(&q, "response_type").as_deref(), Some("code"));
    assert_eq!(param(&q, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param(&q, "code_challenge").map(|c| c.len()), Some(43));
    assert_eq!(param(&q, "redirect_uri").as_deref(), Some(REDIRECT_URL));
    assert!(
        param(&q, "state").is_some_and(|s| s.len() >= 22),
        "{location}"
    );
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let attrs: Vec<&str> = cookies[0].split("; ").collect();
    for a in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=600",
    ] {
        assert!(attrs.contains(&a), "{a} in {}", cookies[0]);
    }
    let cookie = attrs[0].to_string();
    assert!(cookie.starts_with("__Host-oauth_state="), "{cookie}");
    // The verifier never leaves the server side in the URL.
    assert!(!location.contains("code_verifier"));
    Started {
        authorize_url: location,
        cookie,
    }
}

/// The browser at the provider: the provider's redirect back, as the callback's query.
async fn at_provider(app: &App, started: &Started) -> String {
    let r = app.client.get(&started.authorize_url).send().await.unwrap();
    assert_eq!(r.status(), 303, "the test provider redirects with 303");
    let back = header(&r, "location").unwrap().to_string();
    assert!(back.starts_with(REDIRECT_URL), "{back}");
    back.split_once('?').unwrap().1.to_string()
}

/// `GET /auth/test/callback?{query}` with `cookie`.
async fn callback(app: &App, query: &str, cookie: Option<&str>) -> Response {
    let mut req = app
        .client
        .get(app.url(&format!("/auth/test/callback?{query}")));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

/// A failed callback: 400 problem, pre-login cookie cleared, no session started.
pub(super) async fn refused(r: Response, detail_contains: &str) -> Value {
    let cookies = set_cookies(&r);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-oauth_state=;") && c.contains("Max-Age=0")),
        "pre-login cookie cleared: {cookies:?}"
    );
    assert!(
        !cookies.iter().any(|c| c.starts_with("session_id=")),
        "no session started: {cookies:?}"
    );
    assert_eq!(header(&r, "location"), None);
    let body = problem(r, 400).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(detail_contains),
        "`{detail}` should mention `{detail_contains}`"
    );
    assert!(
        !detail.contains('<'),
        "provider text is not echoed: {detail}"
    );
    body
}

/// The whole login for the provider's current user; the callback's answer.
pub(super) async fn full_login(app: &App, provider: &TestProvider, next: Option<&str>) -> Response {
    let started = begin(app, provider, next).await;
    let query = at_provider(app, &started).await;
    callback(app, &query, Some(&started.cookie)).await
}

/// A successful callback: 302 to `next`, session and CSRF cookies, pre-login cookie
/// cleared. Returns the session cookie pair.
pub(super) fn logged_in(r: &Response, next: &str) -> String {
    assert_eq!(r.status(), 302, "{:?}", r.headers());
    assert_eq!(header(r, "location"), Some(next));
    assert_eq!(header(r, "cache-control"), Some("no-store"));
    let cookies = set_cookies(r);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("session_id="))
        .unwrap_or_else(|| panic!("a session cookie: {cookies:?}"));
    let attrs: Vec<&str> = session.split("; ").collect();
    for a in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(attrs.contains(&a), "{a} in {session}");
    }
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with("csrf_token="))
        .expect("the CSRF token cookie");
    assert!(!csrf.contains("HttpOnly"), "readable by the page: {csrf}");
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-oauth_state=;") && c.contains("Max-Age=0"))
    );
    attrs[0].to_string()
}

pub(super) async fn dashboard(app: &App, cookie: &str) -> Response {
    app.client
        .get(app.url("/dashboard"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// Scenario: the happy path with OpenID Connect (id token verified) and with plain
/// OAuth 2.0; an existing email links to the demo user, an unknown one creates a viewer;
/// a session presented at the callback is destroyed (fixation); the CSRF token works.
pub async fn external_login_happy_path(t: &Target) {
    for oidc in [true, false] {
        let provider = TestProvider::start(oidc).await;
        let app = start(t, &provider).await;

        // Unknown provider: 404 on both legs.
        let r = app
            .client
            .get(app.url("/auth/nope/login"))
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r, 404).await["detail"], "Unknown login provider");
        let r = app
            .client
            .get(app.url("/auth/nope/callback?code=x&state=y"))
            .send()
            .await
            .unwrap();
        problem(r, 404).await;

        // OpenID Connect logins carry a nonce.
        let started = begin(&app, &provider, Some("/dashboard")).await;
        assert_eq!(
            param(&query_of(&started.authorize_url), "nonce").is_some(),
            oidc
        );

        // A session the browser already had is destroyed (fixation).
        let (old, _, _) = cookie_login(&app, "bob").await;
        let query = at_provider(&app, &started).await;
        let r = callback(&app, &query, Some(&format!("{}; {old}", started.cookie))).await;
        let csrf = set_cookies(&r)
            .into_iter()
            .find(|c| c.starts_with("csrf_token="))
            .map(|c| c.split(';').next().unwrap()["csrf_token=".len()..].to_string())
            .unwrap();
        let session = logged_in(&r, "/dashboard");
        assert_ne!(session, old);
        problem(dashboard(&app, &old).await, 401).await;
        let r = dashboard(&app, &session).await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"user": {"id": 1, "email": "alice@example.com", "roles": ["admin"]}})
        );

        // The session behaves as a /login session: CSRF on unsafe methods, then logout.
        let r = app
            .client
            .post(app.url("/logout"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        problem(r, 403).await;
        let r = app
            .client
            .post(app.url("/logout"))
            .header("cookie", &session)
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        problem(dashboard(&app, &session).await, 401).await;

        // An unknown email creates a user with role viewer; the next login finds it.
        provider.set_user("dave@example.com", true);
        let r = full_login(&app, &provider, None).await;
        let session = logged_in(&r, "/");
        let user: Value = dashboard(&app, &session).await.json().await.unwrap();
        assert_eq!(user["user"]["email"], "dave@example.com");
        assert_eq!(user["user"]["roles"], json!(["viewer"]));
        let id = user["user"]["id"].clone();
        assert_eq!(id, json!(4));
        let r = full_login(&app, &provider, None).await;
        let session = logged_in(&r, "/");
        let again: Value = dashboard(&app, &session).await.json().await.unwrap();
        assert_eq!(again["user"]["id"], id);

        // An email the provider has not verified links to nobody.
        provider.set_user("alice@example.com", false);
        refused(full_login(&app, &provider, None).await, "not verified").await;
    }
}

/// Scenario: a wrong `state`, a missing pre-login cookie, a cookie from another login,
/// and a forged cookie are refused before any code exchange.
pub async fn external_login_wrong_state(t: &Target) {
    let provider = TestProvider::start(true).await;
    let app = start(t, &provider).await;
    let started = begin(&app, &provider, None).await;
    let query = at_provider(&app, &started).await;
    let q = query_of(&format!("?{query}"));
    let code = param(&q, "code").unwrap();
    let state = param(&q, "state").unwrap();

    let tampered = format!("code={code}&state={}x", &state);
    refused(
        callback(&app, &tampered, Some(&started.cookie)).await,
        "state",
    )
    .await;
    refused(
        callback(&app, &format!("code={code}"), Some(&started.cookie)).await,
        "`code` or `state`",
    )
    .await;
    refused(callback(&app, &query, None).await, "cookie is missing").await;
    let other = begin(&app, &provider, None).await;
    refused(
        callback(&app, &query, Some(&other.cookie)).await,
        "state does not match",
    )
    .await;
    let forged = format!("{}A", started.cookie);
    refused(callback(&app, &query, Some(&forged)).await, "invalid").await;
    assert_eq!(provider.token_requests(), 0, "no code was exchanged");

    // The untouched login still completes.
    logged_in(&callback(&app, &query, Some(&started.cookie)).await, "/");
    assert_eq!(provider.token_requests(), 1);
}

/// Scenario: a callback replayed (same query and cookie) after a successful login is
/// refused and starts nothing.
pub async fn external_login_replayed_state(t: &Target) {
    let provider = TestProvider::start(false).await;
    let app = start(t, &provider).await;
    let started = begin(&app, &provider, None).await;
    let query = at_provider(&app, &started).await;
    logged_in(&callback(&app, &query, Some(&started.cookie)).await, "/");
    refused(
        callback(&app, &query, Some(&started.cookie)).await,
        "already been used",
    )
    .await;
    assert_eq!(
        provider.token_requests(),
        1,
        "the replay never reached the provider"
    );
}

/// Scenario: a code obtained under another login's PKCE challenge (code injection) is
/// refused by the provider, since the verifier does not match; and a provider that
/// answers the authorization with an error.
pub async fn external_login_pkce_mismatch_and_provider_error(t: &Target) {
    let provider = TestProvider::start(true).await;
    let app = start(t, &provider).await;
    let victim = begin(&app, &provider, None).await;
    let attacker = begin(&app, &provider, None).await;
    let attacker_query = at_provider(&app, &attacker).await;
    let code = param(&query_of(&format!("?{attacker_query}")), "code").unwrap();
    let victim_state = param(&query_of(&victim.authorize_url), "state").unwrap();
    let injected = format!(
        "code={code}&state={}",
        form_urlencoded::byte_serialize(victim_state.as_bytes()).collect::<String>()
    );
    let body = refused(
        callback(&app, &injected, Some(&victim.cookie)).await,
        "refused the authorization code",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("invalid_grant"),
        "{body}"
    );
    assert_eq!(provider.token_requests(), 1);

    provider.set_mode(Mode::Deny);
    let started = begin(&app, &provider, None).await;
    let query = at_provider(&app, &started).await;
    assert!(query.contains("error=access_denied"), "{query}");
    let body = refused(
        callback(&app, &query, Some(&started.cookie)).await,
        "access_denied",
    )
    .await;
    assert!(
        !body["detail"].as_str().unwrap().contains("declined"),
        "{body}"
    );
    assert_eq!(provider.token_requests(), 1);
}

/// Scenario: `next` is kept only when it is a same-origin relative path.
pub async fn external_login_open_redirects(t: &Target) {
    let provider = TestProvider::start(false).await;
    let app = start(t, &provider).await;
    for (next, expected) in [
        ("/dashboard?tab=1", "/dashboard?tab=1"),
        ("/reports", "/reports"),
        ("//evil.example", "/"),
        ("//evil.example/path", "/"),
        ("https://evil.example", "/"),
        ("http:evil.example", "/"),
        ("/\\evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\r\nSet-Cookie: x=y", "/"),
        ("evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
        ("/caf\u{e9}", "/"),
    ] {
        let r = full_login(&app, &provider, Some(next)).await;
        logged_in(&r, expected);
    }
}

/// Scenario: id tokens that fail verification (signature, audience, nonce) are
/// refused, and nothing is started.
pub async fn external_login_bad_id_tokens(t: &Target) {
    let provider = TestProvider::start(true).await;
    let app = start(t, &provider).await;
    for (mode, detail) in [
        (Mode::BadSignature, "signature is invalid"),
        (Mode::WrongAudience, "another client"),
        (Mode::WrongNonce, "nonce does not match"),
    ] {
        provider.set_mode(mode);
        refused(
            full_login(&app, &provider, Some("/dashboard")).await,
            detail,
        )
        .await;
    }
    provider.set_mode(Mode::Normal);
    logged_in(&full_login(&app, &provider, None).await, "/");
}

/// Scenario (two instances sharing one Redis): a login started on one instance finishes
/// on the other (the pre-login cookie is keyed from the shared secret), and replaying
/// its callback on the first is refused (the spent state is in the shared store).
pub async fn external_login_across_instances(binary: &str) {
    let provider = TestProvider::start(true).await;
    let env = provider.app_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let ns = crate::app::unique_namespace();
    let a = App::start(binary, Some(&ns), &pairs).await;
    let b = App::start(binary, Some(&ns), &pairs).await;
    let started = begin(&a, &provider, Some("/dashboard")).await;
    let query = at_provider(&a, &started).await;
    let session = logged_in(
        &callback(&b, &query, Some(&started.cookie)).await,
        "/dashboard",
    );
    assert_eq!(dashboard(&a, &session).await.status(), 200);
    refused(
        callback(&a, &query, Some(&started.cookie)).await,
        "already been used",
    )
    .await;
    assert_eq!(provider.token_requests(), 1);
}
