//! Passkeys end to end: the app's `/webauthn` page in headless Chromium with a virtual
//! authenticator (CTAP2, internal, resident keys, user verification): a password login,
//! a passkey registered, a logout, a sign-in with the passkey (discoverable, no
//! username), the sign counter moving; then what must be refused over plain HTTP: a
//! replayed sign-in (with and without a fresh ceremony), a cloned authenticator whose sign
//! count went backwards, a forged origin in a real
//! answer, a registration finish with no ceremony, a registration with a bad attestation
//! or a foreign origin.

use reqwest::StatusCode;
use serde_json::Value;

use super::{bearer, login_bearer, problem};
use crate::app::{App, Target, free_port};
use crate::browser::{
    Browser, Locator, add_virtual_authenticator, put_virtual_credential, virtual_credentials,
};

/// Signs in with the page's own helpers (`post`, `fromB64u`, `credentialJson`), then
/// finishes with the answer, altered by `alter` (a JS statement on `json`, the
/// credential as sent): the finish's status and the body it sent.
fn sign_in_script(alter: &str) -> String {
    format!(
        r#"
const done = arguments[arguments.length - 1];
(async () => {{
  const {{ publicKey }} = await post("/webauthn/login/start");
  publicKey.challenge = fromB64u(publicKey.challenge);
  const cred = await navigator.credentials.get({{ publicKey }});
  const json = credentialJson(cred);
  {alter}
  const body = JSON.stringify(json);
  const res = await fetch("/webauthn/login/finish", {{
    method: "POST", headers: {{ "Content-Type": "application/json" }}, body,
  }});
  done({{ status: res.status, body }});
}})().catch(e => done({{ error: String(e) }}));
"#
    )
}

/// Signs in with a password from the page (for its session and CSRF token), registers
/// a new passkey, alters the answer with `alter` (a JS statement on `json`) and finishes:
/// the finish's status. The authenticator's existing credentials are not excluded, so it
/// makes a new one.
fn register_script(alter: &str) -> String {
    format!(
        r#"
const done = arguments[arguments.length - 1];
(async () => {{
  const form = new URLSearchParams();
  form.set("username", "alice");
  form.set("password", "password123");
  const login = await fetch("/login", {{ method: "POST", body: form, credentials: "same-origin" }});
  csrf = (await login.json()).csrf_token;
  const {{ publicKey }} = await post("/webauthn/register/start");
  publicKey.challenge = fromB64u(publicKey.challenge);
  publicKey.user.id = fromB64u(publicKey.user.id);
  publicKey.excludeCredentials = [];
  const cred = await navigator.credentials.create({{ publicKey }});
  const json = credentialJson(cred);
  {alter}
  const res = await fetch("/webauthn/register/finish", {{
    method: "POST", credentials: "same-origin",
    headers: {{ "Content-Type": "application/json", "X-CSRF-Token": csrf }},
    body: JSON.stringify(json),
  }});
  done({{ status: res.status }});
}})().catch(e => done({{ error: String(e) }}));
"#
    )
}

/// Cuts the attestation object short: it no longer parses.
const BAD_ATTESTATION: &str = r#"
  json.response.attestationObject = json.response.attestationObject.slice(0, 20);
"#;

/// Rewrites the signed client data's origin: the signature no longer matches, and the
/// origin is not the relying party's either way.
const FOREIGN_ORIGIN: &str = r#"
  const client = JSON.parse(new TextDecoder().decode(fromB64u(json.response.clientDataJSON)));
  client.origin = "http://evil.localhost:1";
  json.response.clientDataJSON = toB64u(new TextEncoder().encode(JSON.stringify(client)));
"#;

/// Clicks the element `locator` finds, once it exists.
async fn click(browser: &Browser, locator: Locator<'_>) {
    browser
        .click_when_there(locator)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Waits until the page's status line shows `needle`.
async fn status_shows(browser: &Browser, needle: &str) -> String {
    browser
        .wait_for_text(Locator::Id("status"), needle)
        .await
        .unwrap_or_else(|e| panic!("status never showed `{needle}`: {e}"))
}

/// `POST path` with a JSON body, and optionally a cookie and an authorization.
async fn post_json(
    app: &App,
    path: &str,
    body: &str,
    cookie: Option<&str>,
    authorization: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// A fresh sign-in ceremony over HTTP: its cookie (`name=value`).
async fn fresh_ceremony(app: &App) -> String {
    let r = post_json(app, "/webauthn/login/start", "", None, None).await;
    assert_eq!(r.status(), 200, "POST /webauthn/login/start");
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("webauthn_ceremony="))
        .and_then(|v| v.split(';').next())
        .expect("the ceremony cookie")
        .to_owned()
}

/// The browser flow and the refusals; see the module docs.
pub async fn passkeys_register_and_sign_in_in_a_browser(target: &Target) {
    // The origin names the port, so the port is chosen before the app starts.
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let bind = format!("127.0.0.1:{port}");
    let app = target
        .start_with(&[
            ("AUTH_BIND", &bind),
            ("AUTH_WEBAUTHN_ORIGIN", &origin),
            // Plain-HTTP development: the app's own origin is then `http://` (the login
            // and CSRF origin checks), as the page's.
            ("AUTH_COOKIE_SECURE", "false"),
        ])
        .await;
    let browser = Browser::start().await.expect("headless Chromium");
    browser
        .goto(&format!("{origin}/webauthn"))
        .await
        .expect("open /webauthn");
    let authenticator = add_virtual_authenticator(&browser)
        .await
        .expect("a virtual authenticator");

    // A password login on the page.
    let username = browser
        .wait()
        .for_element(Locator::Id("username"))
        .await
        .expect("the username field");
    username
        .send_keys("alice")
        .await
        .expect("type the username");
    let password = browser
        .find(Locator::Id("password"))
        .await
        .expect("the password field");
    password
        .send_keys("password123")
        .await
        .expect("type the password");
    click(&browser, Locator::Id("password-login")).await;
    status_shows(&browser, "signed in as alice").await;

    // Register a passkey: the authenticator now holds one discoverable credential.
    click(&browser, Locator::Id("register")).await;
    status_shows(&browser, "registered").await;
    let held = virtual_credentials(&browser, &authenticator)
        .await
        .expect("the authenticator's credentials");
    assert_eq!(held.len(), 1, "{held:?}");
    let registered = held.first().expect("one credential").clone();
    assert!(registered.is_resident_credential, "{registered:?}");
    assert_eq!(registered.rp_id.as_deref(), Some("localhost"));

    // Log out, then sign in with the passkey and no username.
    click(&browser, Locator::Id("logout")).await;
    status_shows(&browser, "signed out").await;
    click(&browser, Locator::Id("passkey-login")).await;
    let shown = status_shows(&browser, "signed in as alice").await;
    assert!(shown.contains("alice@"), "{shown}");
    let used = virtual_credentials(&browser, &authenticator)
        .await
        .expect("the authenticator's credentials");
    let after = used.first().expect("one credential");
    assert!(
        after.sign_count > registered.sign_count,
        "the sign count rose: {registered:?} then {after:?}"
    );

    // A real answer, used once in the browser...
    let signed: Value = browser
        .execute_async(&sign_in_script(""), vec![])
        .await
        .expect("a sign-in in the page");
    assert_eq!(signed["status"], 200, "{signed}");
    let body = signed["body"].as_str().expect("the finish body").to_owned();
    // ...is refused when replayed: with no ceremony, and within a fresh ceremony (its
    // challenge is another one).
    let replay = post_json(&app, "/webauthn/login/finish", &body, None, None).await;
    assert!(replay.headers().get("set-cookie").is_some());
    problem(replay, 401).await;
    let cookie = fresh_ceremony(&app).await;
    let replay = post_json(&app, "/webauthn/login/finish", &body, Some(&cookie), None).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert!(
        replay.headers().get("set-cookie").is_some(),
        "the spent ceremony's cookie is cleared"
    );

    // A real answer whose signed client data names another origin.
    let forged: Value = browser
        .execute_async(&sign_in_script(FOREIGN_ORIGIN), vec![])
        .await
        .expect("a forged sign-in in the page");
    assert_eq!(forged["status"], 401, "{forged}");

    // A registration finish with no ceremony started: 400, nothing stored.
    let alice = login_bearer(&app, "alice").await;
    let r = post_json(
        &app,
        "/webauthn/register/finish",
        &body,
        None,
        Some(&bearer(&alice)),
    )
    .await;
    let refused = problem(r, 400).await;
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.contains("start it again")),
        "{refused}"
    );

    // A cloned authenticator: the same key with a counter behind the one the app
    // stored (the signature is valid, the count went backwards): refused.
    let held = virtual_credentials(&browser, &authenticator)
        .await
        .expect("the authenticator's credentials");
    let current = held.first().expect("one credential").clone();
    assert!(current.sign_count >= 2, "{current:?}");
    put_virtual_credential(&browser, &authenticator, &current, 0)
        .await
        .expect("put the credential back with counter 0");
    let behind: Value = browser
        .execute_async(&sign_in_script(""), vec![])
        .await
        .expect("a sign-in with a counter behind");
    assert_eq!(behind["status"], 401, "{behind}");
    // Put back ahead of the stored counter, it signs in again.
    put_virtual_credential(&browser, &authenticator, &current, current.sign_count + 10)
        .await
        .expect("put the credential back ahead");
    let ahead: Value = browser
        .execute_async(&sign_in_script(""), vec![])
        .await
        .expect("a sign-in with a counter ahead");
    assert_eq!(ahead["status"], 200, "{ahead}");

    // Registration refuses a bad attestation and a foreign origin (400), and takes the
    // same ceremony unaltered.
    for (alter, status) in [(BAD_ATTESTATION, 400), (FOREIGN_ORIGIN, 400), ("", 200)] {
        let finished: Value = browser
            .execute_async(&register_script(alter), vec![])
            .await
            .expect("a registration in the page");
        assert_eq!(finished["status"], status, "{finished}");
    }

    browser.quit().await.expect("quit the browser");
}
