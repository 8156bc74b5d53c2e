#![allow(clippy::indexing_slicing, clippy::string_slice)] // test code: a bad index fails the test
use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::clock::ManualClock;
use crate::credential::{MemoryUsers, UserStore};
use crate::store::MemoryStore;

#[test]
fn next_is_kept_only_when_same_origin_relative() {
    for ok in [
        "/",
        "/dashboard",
        "/a/b?c=d&e=f#frag",
        "/%2F%2Fevil.example",
    ] {
        assert_eq!(safe_next(Some(ok)), ok, "{ok:?}");
    }
    for bad in [
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example",
        "http:evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
        "/\t/evil.example",
        "/\r\nSet-Cookie: a=b",
        "/ space",
        "/caf\u{e9}",
        "/a\\b",
    ] {
        assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
    }
    assert_eq!(safe_next(None), "/");
    assert_eq!(
        safe_next(Some(&format!("/{}", "a".repeat(MAX_NEXT_BYTES)))),
        "/"
    );
}

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn providers_from_variables_with_presets() {
    let get = vars(&[
        ("AUTH_OAUTH_PROVIDERS", "google, github"),
        ("AUTH_OAUTH_GOOGLE_CLIENT_ID", "gid"),
        ("AUTH_OAUTH_GOOGLE_CLIENT_SECRET", "gsecret"),
        (
            "AUTH_OAUTH_GOOGLE_REDIRECT_URL",
            "https://app.example/auth/google/callback",
        ),
        ("AUTH_OAUTH_GITHUB_CLIENT_ID", "hid"),
        ("AUTH_OAUTH_GITHUB_CLIENT_SECRET", "hsecret"),
        (
            "AUTH_OAUTH_GITHUB_REDIRECT_URL",
            "https://app.example/auth/github/callback",
        ),
        ("AUTH_OAUTH_GITHUB_SCOPES", "read:user"),
    ]);
    let providers = Providers::from_vars(&get).unwrap();
    assert_eq!(providers.names().collect::<Vec<_>>(), ["github", "google"]);
    let google = providers.get("google").unwrap();
    assert_eq!(google.token_url, "https://oauth2.googleapis.com/token");
    assert_eq!(
        google.oidc.as_ref().unwrap().issuer,
        "https://accounts.google.com"
    );
    assert_eq!(google.scopes, ["openid", "email", "profile"]);
    let github = providers.get("github").unwrap();
    assert!(github.oidc.is_none());
    assert_eq!(github.scopes, ["read:user"]);
    assert_eq!(github.client_auth, ClientAuth::Body);
    assert_eq!(
        github.emails_url.as_deref(),
        Some("https://api.github.com/user/emails"),
        "the verified flag is only at /user/emails"
    );
    assert_eq!(google.emails_url, None);
    let debug = format!("{github:?}");
    assert!(
        !debug.contains("hsecret") && debug.contains("<redacted>"),
        "{debug}"
    );
    assert!(Providers::from_vars(&vars(&[])).unwrap().is_empty());
}

#[test]
fn provider_variables_are_checked() {
    let base = [
        ("AUTH_OAUTH_PROVIDERS", "corp"),
        ("AUTH_OAUTH_CORP_CLIENT_ID", "id"),
        ("AUTH_OAUTH_CORP_CLIENT_SECRET", "secret"),
        ("AUTH_OAUTH_CORP_REDIRECT_URL", "https://app.example/cb"),
        ("AUTH_OAUTH_CORP_AUTH_URL", "https://idp.example/authorize"),
        ("AUTH_OAUTH_CORP_TOKEN_URL", "https://idp.example/token"),
        (
            "AUTH_OAUTH_CORP_USERINFO_URL",
            "https://idp.example/userinfo",
        ),
    ];
    assert!(Providers::from_vars(&vars(&base)).is_ok());
    let with = |extra: &[(&'static str, &'static str)], drop: &str| {
        let mut all: Vec<(&str, &str)> = base.iter().copied().filter(|(k, _)| *k != drop).collect();
        all.extend_from_slice(extra);
        Providers::from_vars(&vars(&all)).unwrap_err().to_string()
    };
    assert!(with(&[], "AUTH_OAUTH_CORP_TOKEN_URL").contains("AUTH_OAUTH_CORP_TOKEN_URL"));
    assert!(with(&[], "AUTH_OAUTH_CORP_CLIENT_SECRET").contains("CLIENT_SECRET"));
    assert!(with(&[("AUTH_OAUTH_CORP_ISSUER", "https://idp.example")], "").contains("JWKS_URL"));
    assert!(
        with(
            &[("AUTH_OAUTH_CORP_AUTH_URL", "http://idp.example/authorize")],
            "AUTH_OAUTH_CORP_AUTH_URL"
        )
        .contains("https")
    );
    assert!(
        with(
            &[("AUTH_OAUTH_CORP_AUTH_URL", "not a url")],
            "AUTH_OAUTH_CORP_AUTH_URL"
        )
        .contains("not a URL")
    );
    assert!(with(&[("AUTH_OAUTH_CORP_CLIENT_AUTH", "jwt")], "").contains("basic"));
    let bad_name = Providers::from_vars(&vars(&[("AUTH_OAUTH_PROVIDERS", "Evil/Name")]));
    assert!(bad_name.unwrap_err().to_string().contains("provider name"));
}

#[derive(Debug)]
struct Unreachable;

#[async_trait::async_trait]
impl HttpClient for Unreachable {
    async fn send(&self, _: OutboundRequest) -> Result<OutboundResponse, HttpClientError> {
        Err(HttpClientError("no network in this test".into()))
    }
}

fn flow() -> ExternalLogin {
    let providers = Providers::new()
        .with(ProviderConfig::github(
            "id",
            "secret",
            "https://app.example/auth/github/callback",
        ))
        .unwrap();
    ExternalLogin::new(
        &providers,
        Arc::new(Unreachable),
        Arc::new(MemoryStore::new()),
        Arc::new(ManualClock::at_unix(1_000_000)),
        b"state-secret-of-at-least-32-bytes-long",
        true,
    )
    .unwrap()
}

#[test]
fn begin_sends_state_and_pkce_s256_and_sets_a_scoped_cookie() {
    let flow = flow();
    let a = flow.begin("github", Some("//evil.example")).unwrap();
    let b = flow.begin("github", None).unwrap();
    assert!(
        a.location
            .starts_with("https://github.com/login/oauth/authorize?")
    );
    let params: HashMap<String, String> =
        form_urlencoded::parse(a.location.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["code_challenge"].len(), 43);
    assert_eq!(params["client_id"], "id");
    assert_eq!(params["scope"], "read:user user:email");
    assert!(params["state"].len() >= 22);
    assert!(
        !params.contains_key("nonce"),
        "GitHub is not OpenID Connect"
    );
    assert!(!a.location.contains("secret"));
    assert_ne!(
        a.location, b.location,
        "fresh state and challenge per login"
    );
    for attr in [
        "__Host-oauth_state=",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=600",
    ] {
        assert!(a.set_cookie.contains(attr), "{attr} in {}", a.set_cookie);
    }
    assert!(matches!(
        flow.begin("gitlab", None),
        Err(crate::AuthError::NotFound { .. })
    ));
}

#[tokio::test]
async fn callback_failures_start_nothing_and_never_call_out_before_the_state_checks() {
    let flow = flow();
    let started = flow.begin("github", None).unwrap();
    let cookie = started.set_cookie.split(';').next().unwrap().to_string();
    let state: String =
        form_urlencoded::parse(started.location.split_once('?').unwrap().1.as_bytes())
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned();
    let request = |query: String, cookie: Option<&str>| {
        let mut r = crate::request::SimpleRequest::new().query(&query);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r
    };
    let err = |e: crate::AuthError| e.to_response();
    // Missing cookie, wrong state: 400 before any outbound call (Unreachable would 502).
    let r = err(flow
        .finish("github", &request(format!("code=c&state={state}"), None))
        .await
        .unwrap_err());
    assert_eq!(r.status, 400);
    let r = err(flow
        .finish(
            "github",
            &request("code=c&state=wrong".into(), Some(&cookie)),
        )
        .await
        .unwrap_err());
    assert_eq!(r.status, 400);
    let r = err(flow
        .finish(
            "github",
            &request(format!("code=c&code=d&state={state}"), Some(&cookie)),
        )
        .await
        .unwrap_err());
    assert_eq!(r.status, 400);
    // The right state reaches the provider, which is unreachable: 502, and the state is
    // spent, so a retry is a replay.
    let r = err(flow
        .finish(
            "github",
            &request(format!("code=c&state={state}"), Some(&cookie)),
        )
        .await
        .unwrap_err());
    assert_eq!(r.status, 502);
    let again = flow
        .finish(
            "github",
            &request(format!("code=c&state={state}"), Some(&cookie)),
        )
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already been used"), "{again}");
}

#[tokio::test]
async fn expired_login_state_is_refused() {
    let clock = Arc::new(ManualClock::at_unix(1_000_000));
    let providers = Providers::new()
        .with(ProviderConfig::github(
            "id",
            "secret",
            "https://app.example/cb",
        ))
        .unwrap();
    let flow = ExternalLogin::new(
        &providers,
        Arc::new(Unreachable),
        Arc::new(MemoryStore::new()),
        clock.clone(),
        b"state-secret-of-at-least-32-bytes-long",
        false,
    )
    .unwrap();
    let started = flow.begin("github", None).unwrap();
    assert!(started.set_cookie.starts_with("oauth_state="));
    let cookie = started.set_cookie.split(';').next().unwrap().to_string();
    clock.advance(std::time::Duration::from_secs(LOGIN_STATE_TTL_SECS + 1));
    let r = crate::request::SimpleRequest::new()
        .query("code=c&state=s")
        .header("cookie", cookie);
    let e = flow.finish("github", &r).await.unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
}

#[tokio::test]
async fn link_by_email_links_creates_and_refuses_disabled_users() {
    let users = Arc::new(MemoryUsers::demo());
    let hook = LinkByEmail::new(users.clone(), vec!["viewer".into()]);
    let identity = |email: &str| ExternalIdentity {
        provider: "test".into(),
        subject: "s".into(),
        email: email.into(),
        name: None,
    };
    assert_eq!(
        hook.link(&identity("ALICE@example.com")).await.unwrap().id,
        "1"
    );
    let dave = hook.link(&identity("dave@example.com")).await.unwrap();
    assert_eq!(
        (dave.id.as_str(), dave.roles.as_slice()),
        ("4", ["viewer".to_string()].as_slice())
    );
    assert_eq!(
        hook.link(&identity("Dave@Example.com")).await.unwrap().id,
        "4"
    );
    // A linked-only user has no password that verifies.
    assert_eq!(
        users.find_by_id("4").await.unwrap().unwrap().password_hash,
        NO_PASSWORD
    );
    let mut carol = users.find_by_id("3").await.unwrap().unwrap();
    carol.disabled = true;
    users.insert(carol);
    assert!(hook.link(&identity("carol@example.com")).await.is_err());
}

fn userinfo(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

fn id_claims(v: serde_json::Value) -> super::oidc::IdClaims {
    serde_json::from_value(v).unwrap()
}

fn email_of(
    info: serde_json::Value,
    id: Option<serde_json::Value>,
    emails: Option<serde_json::Value>,
) -> Result<String, String> {
    let id = id.map(id_claims);
    let emails = emails.map(|e| e.as_array().unwrap().clone());
    super::flow::identity_from("test", &userinfo(info), id.as_ref(), emails.as_deref())
        .map(|i| i.email)
        .map_err(|e| e.to_string())
}

#[test]
fn only_an_email_the_provider_verified_makes_an_identity() {
    use serde_json::json;
    let with = |flag: Option<serde_json::Value>| {
        let mut info = json!({"sub": "s", "email": "alice@example.com"});
        if let Some(f) = flag {
            info["email_verified"] = f;
        }
        email_of(info, None, None)
    };
    assert_eq!(with(Some(json!(true))).unwrap(), "alice@example.com");
    for flag in [
        None,
        Some(json!(false)),
        Some(json!("true")),
        Some(json!("TRUE")),
        Some(json!(1)),
        Some(json!(null)),
        Some(json!([true])),
        Some(json!({"value": true})),
    ] {
        let e = with(flag.clone()).unwrap_err();
        assert!(e.contains("not verified"), "{flag:?}: {e}");
    }
    // No email at all is its own refusal.
    let e = email_of(json!({"sub": "s", "email_verified": true}), None, None).unwrap_err();
    assert!(e.contains("did not share an email"), "{e}");
}

#[test]
fn an_id_token_vouches_only_for_its_own_email_and_only_with_a_boolean() {
    use serde_json::json;
    let token = |email: &str, verified: serde_json::Value| json!({"sub": "s", "email": email, "email_verified": verified});
    let plain = json!({"sub": "s", "email": "alice@example.com"});
    // The id token vouches for the same address the userinfo names.
    assert_eq!(
        email_of(
            plain.clone(),
            Some(token("alice@example.com", json!(true))),
            None
        )
        .unwrap(),
        "alice@example.com"
    );
    // The userinfo answer names another address than the one the id token vouches
    // for: the flag is not carried over.
    let e = email_of(
        plain.clone(),
        Some(token("mallory@example.com", json!(true))),
        None,
    )
    .unwrap_err();
    assert!(e.contains("not verified"), "{e}");
    // A string in the id token asserts nothing either.
    let e = email_of(plain, Some(token("alice@example.com", json!("true"))), None).unwrap_err();
    assert!(e.contains("not verified"), "{e}");
    // One source says false: refused even if the other says true.
    let e = email_of(
        json!({"sub": "s", "email": "alice@example.com", "email_verified": true}),
        Some(token("alice@example.com", json!(false))),
        None,
    )
    .unwrap_err();
    assert!(e.contains("not verified"), "{e}");
    // No userinfo email: the id token's, if it vouches for it.
    assert_eq!(
        email_of(
            json!({"sub": "s"}),
            Some(token("alice@example.com", json!(true))),
            None
        )
        .unwrap(),
        "alice@example.com"
    );
    let e = email_of(
        json!({"sub": "s", "email_verified": true}),
        Some(json!({"sub": "s", "email": "alice@example.com"})),
        None,
    )
    .unwrap_err();
    assert!(e.contains("not verified"), "{e}");
}

#[test]
fn a_github_email_list_gives_only_the_primary_verified_address() {
    use serde_json::json;
    // GitHub's `/user`: a public email, no flag; it is never trusted on its own.
    let user = json!({"id": 4242, "login": "octo", "email": "alice@example.com"});
    let list = |entries: serde_json::Value| email_of(user.clone(), None, Some(entries));
    assert_eq!(
        list(json!([
            {"email": "alice@example.com", "primary": false, "verified": true},
            {"email": "bob@example.com", "primary": true, "verified": true, "visibility": "private"},
        ]))
        .unwrap(),
        "bob@example.com"
    );
    for entries in [
        json!([]),
        json!([{"email": "alice@example.com", "primary": true, "verified": false}]),
        json!([{"email": "alice@example.com", "primary": true}]),
        json!([{"email": "alice@example.com", "primary": true, "verified": "true"}]),
        json!([{"email": "alice@example.com", "primary": "true", "verified": true}]),
        json!([{"email": "alice@example.com", "verified": true}]),
        json!([
            {"email": "alice@example.com", "primary": false, "verified": true},
            {"email": "mallory@example.com", "primary": true, "verified": false},
        ]),
        json!([{"email": "", "primary": true, "verified": true}]),
        json!([{"email": 7, "primary": true, "verified": true}]),
        json!(["alice@example.com"]),
    ] {
        let e = list(entries.clone()).unwrap_err();
        assert!(e.contains("not verified"), "{entries}: {e}");
    }
    let github = ProviderConfig::github("id", "secret", "https://app.example/cb");
    assert_eq!(
        github.emails_url.as_deref(),
        Some("https://api.github.com/user/emails")
    );
    assert_eq!(
        ProviderConfig::google("id", "secret", "https://app.example/cb").emails_url,
        None
    );
}

#[test]
fn emails_url_is_read_and_checked() {
    let base = [
        ("AUTH_OAUTH_PROVIDERS", "corp"),
        ("AUTH_OAUTH_CORP_CLIENT_ID", "id"),
        ("AUTH_OAUTH_CORP_CLIENT_SECRET", "secret"),
        ("AUTH_OAUTH_CORP_REDIRECT_URL", "https://app.example/cb"),
        ("AUTH_OAUTH_CORP_AUTH_URL", "https://idp.example/authorize"),
        ("AUTH_OAUTH_CORP_TOKEN_URL", "https://idp.example/token"),
        ("AUTH_OAUTH_CORP_USERINFO_URL", "https://idp.example/user"),
    ];
    let read = |emails: Option<&'static str>| {
        let mut all = base.to_vec();
        if let Some(e) = emails {
            all.push(("AUTH_OAUTH_CORP_EMAILS_URL", e));
        }
        Providers::from_vars(&vars(&all))
    };
    assert_eq!(read(None).unwrap().get("corp").unwrap().emails_url, None);
    assert_eq!(
        read(Some("https://idp.example/user/emails"))
            .unwrap()
            .get("corp")
            .unwrap()
            .emails_url
            .as_deref(),
        Some("https://idp.example/user/emails")
    );
    let e = read(Some("http://idp.example/user/emails")).unwrap_err();
    assert!(e.to_string().contains("emails URL"), "{e}");
}

#[test]
fn an_id_token_must_name_this_client_as_its_authorized_party() {
    use super::oidc::authorized_party_is_us;
    use serde_json::json;
    let claims = |aud: serde_json::Value, azp: Option<serde_json::Value>| {
        let mut c = json!({"sub": "s", "aud": aud});
        if let Some(a) = azp {
            c["azp"] = a;
        }
        id_claims(c)
    };
    let both = json!(["us", "them"]);
    assert!(authorized_party_is_us(&claims(json!("us"), None), "us"));
    assert!(authorized_party_is_us(&claims(json!(["us"]), None), "us"));
    assert!(authorized_party_is_us(
        &claims(json!("us"), Some(json!("us"))),
        "us"
    ));
    assert!(authorized_party_is_us(
        &claims(both.clone(), Some(json!("us"))),
        "us"
    ));
    // Several audiences without `azp`, or an `azp` that is another client (with one
    // audience too), or not a string.
    assert!(!authorized_party_is_us(&claims(both.clone(), None), "us"));
    assert!(!authorized_party_is_us(
        &claims(both.clone(), Some(json!("them"))),
        "us"
    ));
    assert!(!authorized_party_is_us(
        &claims(json!("us"), Some(json!("them"))),
        "us"
    ));
    assert!(!authorized_party_is_us(
        &claims(json!("us"), Some(json!(["us"]))),
        "us"
    ));
    // `null` reads as absent: accepted with one audience, refused with several.
    assert!(authorized_party_is_us(
        &claims(json!("us"), Some(json!(null))),
        "us"
    ));
    assert!(!authorized_party_is_us(
        &claims(both, Some(json!(null))),
        "us"
    ));
}

#[test]
fn at_hash_must_be_the_access_tokens() {
    use super::oidc::access_token_is_bound;
    use base64::Engine as _;
    use jsonwebtoken::Algorithm;
    use serde_json::json;
    use sha2::Digest as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    // The published example of panva/oidc-token-hash (RS256).
    let access = "YmJiZTAwYmYtMzgyOC00NzhkLTkyOTItNjJjNDM3MGYzOWIy9sFhvH8K_x8UIHj1osisS57f5DduL-ar_qw5jl3lthwpMjm283aVMQXDmoqqqydDSqJfbhptzw8rUVwkuQbolw";
    let rs256 = json!("x7vk7f6BvQj0jQHYFIk4ag");
    assert!(access_token_is_bound(
        Algorithm::RS256,
        Some(&rs256),
        access
    ));
    assert!(access_token_is_bound(
        Algorithm::ES256,
        Some(&rs256),
        access
    ));
    assert!(!access_token_is_bound(
        Algorithm::RS256,
        Some(&rs256),
        "foobar"
    ));
    // The hash follows the algorithm: the left half of SHA-384 / SHA-512 (EdDSA:
    // Ed25519, SHA-512 as OpenID Connect libraries do).
    let h384 = json!(b64(&sha2::Sha384::digest(access.as_bytes())[..24]));
    let h512 = json!(b64(&sha2::Sha512::digest(access.as_bytes())[..32]));
    for alg in [Algorithm::RS384, Algorithm::PS384, Algorithm::ES384] {
        assert!(access_token_is_bound(alg, Some(&h384), access), "{alg:?}");
        assert!(!access_token_is_bound(alg, Some(&rs256), access), "{alg:?}");
    }
    for alg in [Algorithm::RS512, Algorithm::PS512, Algorithm::EdDSA] {
        assert!(access_token_is_bound(alg, Some(&h512), access), "{alg:?}");
        assert!(!access_token_is_bound(alg, Some(&h384), access), "{alg:?}");
    }
    // Absent is allowed (optional in the code flow); padding, the full hash, another
    // type, or a symmetric algorithm are not.
    assert!(access_token_is_bound(Algorithm::RS256, None, access));
    for bad in [
        json!("x7vk7f6BvQj0jQHYFIk4ag=="),
        json!(b64(&sha2::Sha256::digest(access.as_bytes()))),
        json!(""),
        json!(null),
        json!(["x7vk7f6BvQj0jQHYFIk4ag"]),
    ] {
        assert!(
            !access_token_is_bound(Algorithm::RS256, Some(&bad), access),
            "{bad}"
        );
    }
    assert!(!access_token_is_bound(
        Algorithm::HS256,
        Some(&rs256),
        access
    ));
}

#[tokio::test]
async fn a_linked_subject_keeps_its_account_when_its_email_changes() {
    let users = Arc::new(MemoryUsers::demo());
    let store = Arc::new(MemoryStore::new());
    let hook = LinkByEmail::new(users.clone(), vec!["viewer".into()]).with_links(store.clone());
    let identity = |subject: &str, email: &str| ExternalIdentity {
        provider: "test".into(),
        subject: subject.into(),
        email: email.into(),
        name: None,
    };
    // First login: linked by the verified email, and the subject is remembered.
    assert_eq!(
        hook.link(&identity("s-1", "alice@example.com"))
            .await
            .unwrap()
            .id,
        "1"
    );
    assert_eq!(
        crate::store::IdentityLinks::linked_user(&*store, "test", "s-1")
            .await
            .unwrap()
            .as_deref(),
        Some("1")
    );
    // The provider now reports another (verified) email for the same subject: still
    // alice, and no account is created for the new address.
    assert_eq!(
        hook.link(&identity("s-1", "alice.new@example.com"))
            .await
            .unwrap()
            .id,
        "1"
    );
    assert!(
        users
            .find_by_email("alice.new@example.com")
            .await
            .unwrap()
            .is_none()
    );
    // The same subject at another provider is another identity.
    let other = ExternalIdentity {
        provider: "other".into(),
        ..identity("s-1", "zed@example.com")
    };
    assert_ne!(hook.link(&other).await.unwrap().id, "1");
    // A linked user who is disabled is refused, as by email.
    let mut alice = users.find_by_id("1").await.unwrap().unwrap();
    alice.disabled = true;
    users.insert(alice);
    assert!(
        hook.link(&identity("s-1", "alice.new@example.com"))
            .await
            .is_err()
    );
}
