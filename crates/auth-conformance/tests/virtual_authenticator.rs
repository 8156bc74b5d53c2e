//! Chromium's WebDriver virtual authenticator, through `auth_conformance::browser`: in a
//! real headless Chromium, add an authenticator, see it empty, register a passkey with
//! `navigator.credentials.create` on a `http://localhost` page (a secure context), find
//! that credential in the authenticator, sign in with it (`navigator.credentials.get`),
//! remove the authenticator. No Chromium or chromedriver is a failure, not a skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a test fails by panicking

use auth_conformance::browser::{
    Browser, BrowserError, add_virtual_authenticator, remove_virtual_authenticator,
    virtual_credentials,
};
use serde_json::{Value, json};

/// A page on `http://localhost:PORT/` (WebAuthn needs a secure context and a domain for
/// the relying party id, so `localhost`, not `127.0.0.1`).
async fn serve_a_page() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            axum::response::Html("<!DOCTYPE html><title>passkeys</title><p>passkeys</p>")
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://localhost:{port}/")
}

const CREATE: &str = r#"
const done = arguments[arguments.length - 1];
navigator.credentials.create({ publicKey: {
  challenge: new Uint8Array(32).fill(7),
  rp: { id: "localhost", name: "auth-toolkit" },
  user: { id: new Uint8Array([1, 2, 3, 4]), name: "alice", displayName: "Alice" },
  pubKeyCredParams: [{ type: "public-key", alg: -7 }],
  authenticatorSelection: { residentKey: "required", userVerification: "required" },
  timeout: 10000,
}}).then(c => done({ id: c.id, type: c.type }), e => done({ error: String(e) }));
"#;

const GET: &str = r#"
const done = arguments[arguments.length - 1];
navigator.credentials.get({ publicKey: {
  challenge: new Uint8Array(32).fill(9),
  rpId: "localhost",
  userVerification: "required",
  timeout: 10000,
}}).then(c => done({ id: c.id }), e => done({ error: String(e) }));
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_registers_and_signs_in_on_the_virtual_authenticator() {
    let page = serve_a_page().await;
    let browser = Browser::start().await.unwrap();
    browser.goto(&page).await.unwrap();

    let id = add_virtual_authenticator(&browser).await.unwrap();
    assert!(!id.is_empty());
    assert_eq!(virtual_credentials(&browser, &id).await.unwrap(), vec![]);

    let created: Value = browser.execute_async(CREATE, vec![]).await.unwrap();
    assert_eq!(created["type"], "public-key", "{created}");
    let credential_id = created["id"].as_str().unwrap();

    let credentials = virtual_credentials(&browser, &id).await.unwrap();
    assert_eq!(credentials.len(), 1, "{credentials:?}");
    let stored = &credentials[0];
    assert_eq!(stored.credential_id, credential_id);
    assert!(stored.is_resident_credential);
    assert_eq!(stored.rp_id.as_deref(), Some("localhost"));
    // base64url of the user id [1, 2, 3, 4].
    assert_eq!(stored.user_handle.as_deref(), Some("AQIDBA"));

    let signed_in: Value = browser.execute_async(GET, vec![]).await.unwrap();
    assert_eq!(signed_in, json!({ "id": credential_id }));
    let after = virtual_credentials(&browser, &id).await.unwrap();
    assert!(
        after[0].sign_count > stored.sign_count,
        "the signature counter moves: {after:?}"
    );

    remove_virtual_authenticator(&browser, &id).await.unwrap();
    // Gone: asking for its credentials is now a WebDriver error, with a clear message.
    let gone = virtual_credentials(&browser, &id).await.unwrap_err();
    assert!(matches!(gone, BrowserError::Command { .. }), "{gone}");
    assert!(gone.to_string().contains(&id), "{gone}");
    browser.quit().await.unwrap();
}
