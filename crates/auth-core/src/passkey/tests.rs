//! What can be checked without a browser: configuration, the ceremony cookie, single
//! use, the same-user rule, unknown credentials. The browser ceremonies run in the
//! conformance suite (`auth-conformance`, a virtual authenticator in Chromium).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;
use crate::credential::{MemoryUsers, User};
use crate::request::SimpleRequest;
use crate::{Auth, AuthBuilder, Reply};

const ASSERTION: &str = r#"{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"authenticatorData":"AAAA","clientDataJSON":"AAAA","signature":"AAAA","userHandle":null}}"#;
const ATTESTATION: &str = r#"{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"attestationObject":"AAAA","clientDataJSON":"AAAA"}}"#;

fn user(id: &str) -> User {
    User {
        id: id.into(),
        username: format!("user{id}"),
        email: Some(format!("user{id}@example.com")),
        roles: vec!["viewer".into()],
        password_hash: String::new(),
        disabled: false,
        data: serde_json::Value::Null,
    }
}

fn auth(passkeys: bool) -> Auth {
    let users = MemoryUsers::new();
    users.insert(user("1"));
    users.insert(user("2"));
    let mut builder = AuthBuilder::new(&[1; 32], &[2; 32]).users(Arc::new(users));
    if passkeys {
        builder = builder.passkeys(PasskeyConfig::new("http://localhost:8000").unwrap());
    }
    builder.build().unwrap()
}

/// A `POST` as user `id`, with a bearer token.
async fn as_user(auth: &Auth, id: &str) -> SimpleRequest {
    let pair = auth.tokens().login(&user(id), None).await.unwrap();
    SimpleRequest::new()
        .with_method("POST")
        .header("authorization", format!("Bearer {}", pair.access.token))
}

/// The `name=value` part of the reply's ceremony cookie.
fn ceremony_cookie(reply: &Reply) -> String {
    let set = reply
        .headers()
        .iter()
        .find(|(n, v)| *n == "set-cookie" && v.starts_with("webauthn_ceremony="))
        .map(|(_, v)| v.clone())
        .expect("a ceremony cookie");
    set.split(';').next().unwrap().to_owned()
}

fn detail(reply: &Reply) -> String {
    let body: serde_json::Value = serde_json::from_str(reply.body()).unwrap();
    body["detail"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn origins_that_cannot_host_passkeys_are_refused_with_the_fix() {
    for (origin, says) in [
        ("not a url", "not a URL"),
        ("http://example.com", "https"),
        ("https://10.0.0.1", "domain name"),
        ("https://app.example.com/login", "no path"),
        ("https://user:pw@app.example.com", "no user name"),
        ("ftp://app.example.com", "scheme"),
    ] {
        let err = PasskeyConfig::new(origin).unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidPasskeyOrigin { .. }),
            "{origin}"
        );
        assert!(err.to_string().contains(says), "{origin}: {err}");
    }
    let local = PasskeyConfig::new("http://localhost:8000").unwrap();
    assert_eq!(local.rp_id(), "localhost");
    assert_eq!(local.origin(), "http://localhost:8000");
    let public = PasskeyConfig::new("https://app.example.com").unwrap();
    assert_eq!(public.rp_id(), "app.example.com");
    assert_eq!(public.origin(), "https://app.example.com");
}

#[test]
fn the_user_handle_is_derived_from_the_user_id() {
    assert_eq!(user_handle("1"), user_handle("1"));
    assert_ne!(user_handle("1"), user_handle("2"));
    assert_ne!(user_handle("1"), user_handle("1 "));
}

#[tokio::test]
async fn without_passkeys_configured_every_endpoint_is_404() {
    let auth = auth(false);
    let req = as_user(&auth, "1").await;
    assert_eq!(
        auth.passkey_register_start_endpoint(&req).await.status(),
        404
    );
    assert_eq!(
        auth.passkey_register_finish_endpoint(&req, ATTESTATION.as_bytes())
            .await
            .status(),
        404
    );
    assert_eq!(auth.passkey_login_start_endpoint(b"").await.status(), 404);
    assert_eq!(
        auth.passkey_login_finish_endpoint(&req, ASSERTION.as_bytes())
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn registration_start_needs_a_signed_in_user() {
    let auth = auth(true);
    let anonymous = SimpleRequest::new().with_method("POST");
    assert_eq!(
        auth.passkey_register_start_endpoint(&anonymous)
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn registration_start_offers_a_discoverable_passkey_for_the_derived_handle() {
    let auth = auth(true);
    let reply = auth
        .passkey_register_start_endpoint(&as_user(&auth, "1").await)
        .await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    let body: serde_json::Value = serde_json::from_str(reply.body()).unwrap();
    let options = &body["publicKey"];
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["user"]["name"], "user1");
    assert_eq!(
        options["user"]["id"],
        URL_SAFE_NO_PAD.encode(user_handle("1").as_bytes())
    );
    assert_eq!(
        options["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    assert!(options["challenge"].as_str().is_some_and(|c| c.len() >= 43));
    let set = reply
        .headers()
        .iter()
        .find(|(n, _)| *n == "set-cookie")
        .map(|(_, v)| v.clone())
        .unwrap();
    for attr in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/webauthn",
        "Max-Age=300",
        "Secure",
    ] {
        assert!(set.split("; ").any(|a| a == attr), "{attr} in {set}");
    }
    assert_eq!(reply.header_value("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn registration_finish_without_a_ceremony_is_400() {
    let auth = auth(true);
    let reply = auth
        .passkey_register_finish_endpoint(&as_user(&auth, "1").await, ATTESTATION.as_bytes())
        .await;
    assert_eq!(reply.status(), 400);
    assert!(
        detail(&reply).contains("start it again"),
        "{}",
        reply.body()
    );
    assert!(
        reply
            .headers()
            .iter()
            .any(|(n, v)| *n == "set-cookie" && v.contains("Max-Age=0")),
        "the ceremony cookie is cleared"
    );
}

#[tokio::test]
async fn another_user_cannot_finish_a_registration_and_spends_it() {
    let auth = auth(true);
    let start = auth
        .passkey_register_start_endpoint(&as_user(&auth, "1").await)
        .await;
    let cookie = ceremony_cookie(&start);
    let intruder = as_user(&auth, "2").await.header("cookie", cookie.clone());
    let reply = auth
        .passkey_register_finish_endpoint(&intruder, ATTESTATION.as_bytes())
        .await;
    assert_eq!(reply.status(), 400);
    assert!(detail(&reply).contains("another user"), "{}", reply.body());
    // Taken once: the rightful user's finish now finds nothing either.
    let owner = as_user(&auth, "1").await.header("cookie", cookie);
    let reply = auth
        .passkey_register_finish_endpoint(&owner, ATTESTATION.as_bytes())
        .await;
    assert_eq!(reply.status(), 400);
    assert!(
        detail(&reply).contains("start it again"),
        "{}",
        reply.body()
    );
}

#[tokio::test]
async fn a_bad_attestation_is_400_and_stores_nothing() {
    let auth = auth(true);
    let start = auth
        .passkey_register_start_endpoint(&as_user(&auth, "1").await)
        .await;
    let req = as_user(&auth, "1")
        .await
        .header("cookie", ceremony_cookie(&start));
    let reply = auth
        .passkey_register_finish_endpoint(&req, ATTESTATION.as_bytes())
        .await;
    assert_eq!(reply.status(), 400, "{}", reply.body());
    assert!(auth.store().passkeys("1").await.unwrap().is_empty());
}

#[tokio::test]
async fn login_start_without_a_username_asks_for_a_discoverable_passkey() {
    let auth = auth(true);
    for body in [
        &b""[..],
        br#"{"username":"nobody"}"#,
        br#"{"username":"user1"}"#,
    ] {
        let reply = auth.passkey_login_start_endpoint(body).await;
        assert_eq!(reply.status(), 200, "{}", reply.body());
        let parsed: serde_json::Value = serde_json::from_str(reply.body()).unwrap();
        assert_eq!(parsed["publicKey"]["rpId"], "localhost");
        assert!(
            parsed["publicKey"]["allowCredentials"]
                .as_array()
                .is_none_or(Vec::is_empty),
            "no passkeys registered: nothing to allow"
        );
        assert!(parsed.get("mediation").is_none());
        ceremony_cookie(&reply);
    }
    assert_eq!(
        auth.passkey_login_start_endpoint(b"[1,2]").await.status(),
        400
    );
}

#[tokio::test]
async fn an_unknown_credential_is_401_and_the_ceremony_is_single_use() {
    let auth = auth(true);
    let start = auth.passkey_login_start_endpoint(b"").await;
    let req = SimpleRequest::new()
        .with_method("POST")
        .header("cookie", ceremony_cookie(&start));
    let reply = auth
        .passkey_login_finish_endpoint(&req, ASSERTION.as_bytes())
        .await;
    assert_eq!(reply.status(), 401);
    assert!(
        detail(&reply).contains("not registered"),
        "{}",
        reply.body()
    );
    assert!(
        reply
            .header_value("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    // The same finish again: the ceremony is spent.
    let reply = auth
        .passkey_login_finish_endpoint(&req, ASSERTION.as_bytes())
        .await;
    assert_eq!(reply.status(), 401);
    assert!(
        detail(&reply).contains("start it again"),
        "{}",
        reply.body()
    );
}

#[tokio::test]
async fn login_finish_refuses_oversized_and_malformed_bodies_and_foreign_origins() {
    let auth = auth(true);
    let req = SimpleRequest::new().with_method("POST");
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(
        auth.passkey_login_finish_endpoint(&req, &big)
            .await
            .status(),
        400
    );
    assert_eq!(
        auth.passkey_login_finish_endpoint(&req, b"{}")
            .await
            .status(),
        400
    );
    let foreign = req.header("origin", "https://evil.example");
    assert_eq!(
        auth.passkey_login_finish_endpoint(&foreign, ASSERTION.as_bytes())
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn a_registration_ceremony_cannot_finish_a_login() {
    let auth = auth(true);
    let start = auth
        .passkey_register_start_endpoint(&as_user(&auth, "1").await)
        .await;
    let req = SimpleRequest::new()
        .with_method("POST")
        .header("cookie", ceremony_cookie(&start));
    let reply = auth
        .passkey_login_finish_endpoint(&req, ASSERTION.as_bytes())
        .await;
    assert_eq!(reply.status(), 401);
    assert!(
        detail(&reply).contains("a registration is"),
        "{}",
        reply.body()
    );
}

#[tokio::test]
async fn every_finish_answer_says_no_store_once() {
    let auth = auth(true);
    let req = SimpleRequest::new().with_method("POST");
    let reply = auth
        .passkey_login_finish_endpoint(&req, ASSERTION.as_bytes())
        .await;
    let no_store = reply
        .headers()
        .iter()
        .filter(|(n, v)| *n == "cache-control" && v == "no-store")
        .count();
    assert_eq!(no_store, 1, "{:?}", reply.headers());
}
