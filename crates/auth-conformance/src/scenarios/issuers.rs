//! Resource-server mode (issue #23): access tokens of trusted OpenID Connect issuers
//! (`AUTH_TRUSTED_ISSUERS`, `AUTH_TRUSTED_AUDIENCE`, `AUTH_TRUSTED_ROLES_CLAIM`) accepted
//! beside the app's own, against the [`FakeIdp`]. Every case goes through the app's HTTP
//! surface: `GET /whoami`, `GET /me`, and the role guards of `POST /articles` and
//! `DELETE /users/{id}`.
//!
//! The key cache is observed through the issuer's fetch counters; every wait is a short,
//! bounded one.

use std::time::Duration;

use reqwest::Response;
use serde_json::{Value, json};

use super::{bearer, claims_of, expect_invalid_token, get, header, problem};
use crate::app::{App, Target};
use crate::idp::{ALGORITHMS, AUDIENCE, Algorithm, Attack, FakeIdp, Outage, now, trusted_env};

/// An app trusting `issuers` (in that order) with [`AUDIENCE`], plus `extra` environment.
async fn start(t: &Target, issuers: &[&FakeIdp], extra: &[(&str, &str)]) -> App {
    let list: Vec<&str> = issuers.iter().map(|i| i.issuer.as_str()).collect();
    let env = trusted_env(&list);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.extend_from_slice(extra);
    t.start_with(&pairs).await
}

async fn whoami(app: &App, token: &str) -> Response {
    get(app, "/whoami", Some(&format!("Bearer {token}"))).await
}

/// `GET /whoami` answers 200 with exactly `sub`, `iss`, `roles` and `scopes` (arrays of
/// strings); returns the body with `roles` and `scopes` sorted.
async fn whoami_ok(app: &App, token: &str, what: &str) -> Value {
    let r = whoami(app, token).await;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{what}: /whoami answered {text}");
    let mut body: Value = serde_json::from_str(&text).expect("/whoami JSON");
    let mut keys: Vec<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["iss", "roles", "scopes", "sub"], "{what}: {body}");
    for list in ["roles", "scopes"] {
        let mut items: Vec<String> = body[list]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: `{list}` is not an array: {body}"))
            .iter()
            .map(|v| v.as_str().expect("strings").to_string())
            .collect();
        items.sort();
        body[list] = json!(items);
    }
    body
}

/// A refused token: 401 with `WWW-Authenticate: Bearer error="invalid_token", ...`.
async fn refused(app: &App, token: &str, what: &str) {
    let r = whoami(app, token).await;
    assert_eq!(
        r.status(),
        401,
        "{what} was not refused: {}",
        header(&r, "www-authenticate").unwrap_or("")
    );
    expect_invalid_token(r).await;
}

/// The app's own access token for alice (password grant).
async fn own_token(app: &App) -> Value {
    let r = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "password123"),
        ])
        .send()
        .await
        .expect("POST /token");
    assert_eq!(r.status(), 200, "password grant for alice");
    r.json().await.expect("token JSON")
}

async fn delete_user(app: &App, token: &str, id: u32) -> Response {
    app.client
        .delete(app.url(&format!("/users/{id}")))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("DELETE /users")
}

async fn post_article(app: &App, token: &str) -> Response {
    app.client
        .post(app.url("/articles"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("POST /articles")
}

/// A 403 of the role guard naming `roles`.
async fn forbidden(r: Response, roles: &str, what: &str) {
    assert_eq!(r.status(), 403, "{what}");
    assert_eq!(
        problem(r, 403).await["detail"],
        format!("Required roles: [{roles}]"),
        "{what}"
    );
}

/// The fetch counters once nothing has moved them for 300 ms (a background fetch still
/// in flight is counted), bounded to 3 s.
async fn settled_fetches(idp: &FakeIdp) -> (usize, usize) {
    let mut last = (idp.discovery_fetches(), idp.jwks_fetches());
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = (idp.discovery_fetches(), idp.jwks_fetches());
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// Scenario: a trusted issuer's tokens, by each algorithm, reach `GET /whoami` with
/// their `sub`, `iss`, roles (`roles`) and scopes (`scope` or `scp`).
pub async fn trusted_issuer_tokens_reach_whoami(t: &Target) {
    let idp = FakeIdp::start().await;
    let app = start(t, &[&idp], &[]).await;

    let token = idp.token(
        Algorithm::RS256,
        "ext-alice",
        &json!({"roles": ["viewer", "editor"], "scope": "write:articles read:articles"}),
    );
    assert_eq!(
        whoami_ok(&app, &token, "RS256 with roles and scope").await,
        json!({
            "sub": "ext-alice",
            "iss": idp.issuer,
            "roles": ["editor", "viewer"],
            "scopes": ["read:articles", "write:articles"],
        })
    );

    for alg in ALGORITHMS {
        let sub = format!("ext-{}", crate::idp::alg_name(alg));
        let token = idp.token(alg, &sub, &json!({"roles": ["viewer"]}));
        let body = whoami_ok(&app, &token, &format!("{alg:?}")).await;
        assert_eq!(body["sub"], sub.as_str(), "{alg:?}");
        assert_eq!(body["iss"], idp.issuer.as_str(), "{alg:?}");
        assert_eq!(body["roles"], json!(["viewer"]), "{alg:?}");
        assert_eq!(body["scopes"], json!([]), "{alg:?}");
    }

    let cases = [
        ("`scp` as an array", json!({"scp": ["read", "write"]})),
        ("`scp` as a string", json!({"scp": "read write"})),
        ("`scope` as a string", json!({"scope": "read write"})),
    ];
    for (what, extra) in cases {
        let token = idp.token(Algorithm::ES256, "ext-scopes", &extra);
        let body = whoami_ok(&app, &token, what).await;
        assert_eq!(body["scopes"], json!(["read", "write"]), "{what}");
        assert_eq!(body["roles"], json!([]), "{what}");
    }

    let token = idp.token(Algorithm::RS256, "ext-bare", &json!({}));
    let body = whoami_ok(&app, &token, "no roles, no scopes").await;
    assert_eq!(body["roles"], json!([]), "no role the issuer did not grant");
    assert_eq!(body["scopes"], json!([]));

    let token = idp.token(
        Algorithm::RS256,
        "ext-aud",
        &json!({"aud": ["another-api", AUDIENCE]}),
    );
    whoami_ok(&app, &token, "an `aud` array naming the audience").await;

    let now = now();
    let token = idp.token(
        Algorithm::RS256,
        "ext-leeway",
        &json!({"iat": now - 600, "nbf": now - 600, "exp": now - 20}),
    );
    whoami_ok(&app, &token, "expired 20 s ago, within the 60 s leeway").await;
    let token = idp.token(
        Algorithm::RS256,
        "ext-leeway",
        &json!({"iat": now + 20, "nbf": now + 20, "exp": now + 300}),
    );
    whoami_ok(
        &app,
        &token,
        "`iat` and `nbf` 20 s ahead, within the leeway",
    )
    .await;

    let r = get(&app, "/whoami", None).await;
    assert_eq!(r.status(), 401, "no credential");
    assert_eq!(header(&r, "www-authenticate"), Some("Bearer"));
}

/// Scenario: with `AUTH_TRUSTED_ROLES_CLAIM=realm_access.roles` the roles come from that
/// nested claim alone (a top-level `roles` grants nothing).
pub async fn trusted_issuer_roles_from_a_nested_claim(t: &Target) {
    let idp = FakeIdp::start().await;
    let app = start(
        t,
        &[&idp],
        &[("AUTH_TRUSTED_ROLES_CLAIM", "realm_access.roles")],
    )
    .await;
    let token = idp.token(
        Algorithm::RS256,
        "ext-nested",
        &json!({"realm_access": {"roles": ["editor", "viewer"]}, "roles": ["admin"]}),
    );
    let body = whoami_ok(&app, &token, "realm_access.roles").await;
    assert_eq!(body["roles"], json!(["editor", "viewer"]));
    assert_eq!(body["sub"], "ext-nested");
    assert_eq!(post_article(&app, &token).await.status(), 200, "editor");
    forbidden(
        delete_user(&app, &token, 2).await,
        "admin",
        "a top-level `roles: [admin]` is not the configured claim",
    )
    .await;

    let token = idp.token(Algorithm::RS256, "ext-flat", &json!({"roles": ["admin"]}));
    let body = whoami_ok(&app, &token, "only a top-level roles").await;
    assert_eq!(body["roles"], json!([]));
}

/// Scenario: every refusal of a trusted issuer's token is 401 `invalid_token`: the
/// RSA-as-HMAC confusion, a header `alg` that disagrees with the JWK, `alg: none`, an
/// unknown `kid`, another key's signature, a wrong or untrusted `iss`, a wrong `aud`, no
/// `exp`, expired, not yet valid, issued in the future, and a trusted key minting the
/// app's own `iss`.
pub async fn trusted_issuer_refusals_are_invalid_token(t: &Target) {
    let idp = FakeIdp::start().await;
    let app = start(t, &[&idp], &[]).await;
    // The keys are fetched and good tokens pass: the refusals below are the tokens'.
    whoami_ok(
        &app,
        &idp.token(Algorithm::RS256, "ext-ok", &json!({})),
        "a valid token",
    )
    .await;
    for attack in Attack::ALL {
        refused(
            &app,
            &idp.attack(attack, "ext-attacker"),
            &format!("{attack:?}"),
        )
        .await;
    }
    // A trusted issuer's key does not mint the app's own tokens.
    let own = claims_of(&own_token(&app).await);
    let mut claims = idp.claims("1");
    claims["iss"] = own["iss"].clone();
    claims["aud"] = own["aud"].clone();
    claims["roles"] = json!(["admin"]);
    let rs = idp.kid(Algorithm::RS256);
    refused(
        &app,
        &idp.mint(&claims, Algorithm::RS256, &rs),
        "the app's own iss and aud",
    )
    .await;
    // Refused tokens are refused by the guards too, not let through as anonymous.
    let token = idp.attack(Attack::WrongAudience, "ext-attacker");
    let r = delete_user(&app, &token, 2).await;
    assert_eq!(r.status(), 401, "a refused token at DELETE /users/2");
}

/// Scenario: two trusted issuers at once beside the app's own tokens: each issuer's tokens
/// name it, a token claiming one issuer but signed by the other's key (same `kid`) is
/// refused, and alice's own token still works at `/whoami` and `/me`.
pub async fn two_trusted_issuers_beside_the_apps_own_tokens(t: &Target) {
    let (a, b) = (FakeIdp::start().await, FakeIdp::start().await);
    let app = start(t, &[&a, &b], &[]).await;
    for (idp, name) in [(&a, "first"), (&b, "second")] {
        for alg in [Algorithm::RS256, Algorithm::ES256] {
            let token = idp.token(alg, &format!("ext-{name}"), &json!({"roles": ["viewer"]}));
            let body = whoami_ok(&app, &token, &format!("{name} issuer, {alg:?}")).await;
            assert_eq!(body["iss"], idp.issuer.as_str());
            assert_eq!(body["sub"], format!("ext-{name}"));
        }
    }
    // `iss` selects the issuer: the second's key under a kid both publish proves nothing
    // about the first.
    let kid = b.kid(Algorithm::RS256);
    assert_eq!(kid, a.kid(Algorithm::RS256), "the same kid at both");
    let forged = b.mint(&a.claims("ext-forged"), Algorithm::RS256, &kid);
    refused(&app, &forged, "the first issuer's claims, the second's key").await;

    let own = own_token(&app).await;
    let claims = claims_of(&own);
    let body = whoami_ok(
        &app,
        own["access_token"].as_str().unwrap(),
        "the app's own token",
    )
    .await;
    assert_eq!(body["sub"], claims["sub"]);
    assert_eq!(body["iss"], claims["iss"]);
    assert_eq!(body["roles"], json!(["admin"]));
    let r = get(&app, "/me", Some(&bearer(&own))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"id": 1, "email": "alice@example.com", "roles": ["admin"]})
    );
}

/// Scenario: the role guards work on a trusted issuer's principals unchanged, with only
/// the roles the issuer granted (a `sub` equal to a local user's id gets none of its
/// roles).
pub async fn trusted_issuer_roles_drive_the_guards(t: &Target) {
    let idp = FakeIdp::start().await;
    let app = start(t, &[&idp], &[]).await;
    let admin = idp.token(Algorithm::RS256, "ext-admin", &json!({"roles": ["admin"]}));
    let r = delete_user(&app, &admin, 2).await;
    assert_eq!(r.status(), 200, "admin at DELETE /users/2");
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"deleted": 2}));
    assert_eq!(post_article(&app, &admin).await.status(), 200, "admin");

    let editor = idp.token(
        Algorithm::ES256,
        "ext-editor",
        &json!({"roles": ["editor"]}),
    );
    forbidden(delete_user(&app, &editor, 2).await, "admin", "editor").await;
    assert_eq!(post_article(&app, &editor).await.status(), 200, "editor");

    let viewer = idp.token(
        Algorithm::EdDSA,
        "ext-viewer",
        &json!({"roles": ["viewer"]}),
    );
    forbidden(delete_user(&app, &viewer, 2).await, "admin", "viewer").await;
    forbidden(post_article(&app, &viewer).await, "editor, admin", "viewer").await;

    // alice is user 1 and an admin; an external "1" without roles is neither.
    let none = idp.token(Algorithm::RS256, "1", &json!({}));
    assert_eq!(
        whoami_ok(&app, &none, "sub 1 without roles").await["roles"],
        json!([])
    );
    forbidden(
        delete_user(&app, &none, 2).await,
        "admin",
        "sub 1 without roles",
    )
    .await;
    forbidden(
        post_article(&app, &none).await,
        "editor, admin",
        "sub 1 without roles",
    )
    .await;
}

/// Scenario: 50 concurrent requests with made-up kids (then 10 more) cause at most one
/// JWKS refetch (unknown kids are refetched at most once per 30 s, single flight), and
/// each is 401.
pub async fn unknown_kid_flood_refetches_the_jwks_at_most_once(t: &Target) {
    let idp = FakeIdp::start().await;
    let app = start(t, &[&idp], &[]).await;
    whoami_ok(
        &app,
        &idp.token(Algorithm::RS256, "ext-ok", &json!({})),
        "a valid token",
    )
    .await;
    let (discovery, jwks) = settled_fetches(&idp).await;
    assert!(jwks >= 1, "the keys came from the JWKS");
    // A slow JWKS makes the concurrent misses overlap a fetch in flight.
    idp.set_jwks_delay(Duration::from_millis(200));

    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let client = app.client.clone();
        let url = app.url("/whoami");
        let token = idp.attack(Attack::UnknownKid, "ext-flood");
        flood.spawn(async move {
            let r = client
                .get(url)
                .header("authorization", format!("Bearer {token}"))
                .send()
                .await
                .expect("GET /whoami");
            let www = header(&r, "www-authenticate").unwrap_or("").to_string();
            (r.status().as_u16(), www)
        });
    }
    while let Some(done) = flood.join_next().await {
        let (status, www) = done.unwrap();
        assert_eq!(status, 401, "an unknown kid");
        assert!(www.contains("error=\"invalid_token\""), "{www}");
    }
    for _ in 0..10 {
        refused(
            &app,
            &idp.attack(Attack::UnknownKid, "ext-flood"),
            "an unknown kid after the flood",
        )
        .await;
    }
    let (discovery_after, jwks_after) = settled_fetches(&idp).await;
    assert!(
        jwks_after <= jwks + 1,
        "60 unknown kids fetched the JWKS {} times",
        jwks_after - jwks
    );
    assert!(
        discovery_after <= discovery + 1,
        "60 unknown kids fetched the discovery document {} times",
        discovery_after - discovery
    );
    whoami_ok(
        &app,
        &idp.token(Algorithm::ES256, "ext-ok", &json!({})),
        "a valid token after the flood",
    )
    .await;
}

/// Scenario: after the issuer rotates its RS256 key, a token with the new kid is
/// accepted at once with exactly one JWKS refetch, and the retired kid is refused.
pub async fn rotated_issuer_keys_are_picked_up_with_one_refetch(t: &Target) {
    let idp = FakeIdp::start().await;
    let app = start(t, &[&idp], &[]).await;
    let old = idp.kid(Algorithm::RS256);
    let before = idp.token(Algorithm::RS256, "ext-before", &json!({}));
    whoami_ok(&app, &before, "the first key").await;
    let (_, jwks) = settled_fetches(&idp).await;

    let new = idp.rotate(Algorithm::RS256);
    assert_ne!(new, old);
    let after = idp.token(Algorithm::RS256, "ext-after", &json!({}));
    whoami_ok(&app, &after, "the new kid").await;
    assert_eq!(idp.jwks_fetches(), jwks + 1, "one refetch for the new kid");

    let retired = idp.mint(&idp.claims("ext-retired"), Algorithm::RS256, &old);
    refused(
        &app,
        &retired,
        "the retired kid, gone from the refetched JWKS",
    )
    .await;
    whoami_ok(
        &app,
        &idp.token(Algorithm::RS256, "ext-again", &json!({})),
        "the new kid again",
    )
    .await;
    let (_, jwks_after) = settled_fetches(&idp).await;
    assert_eq!(jwks_after, jwks + 1, "no refetch beyond the one");
}

/// Scenario: with the keys cached, an issuer that goes down (connections closed, then
/// 503) changes nothing: its tokens are still accepted, an unknown kid is still 401.
pub async fn cached_issuer_keys_outlive_an_outage(t: &Target) {
    let idp = FakeIdp::start().await;
    let app = start(t, &[&idp], &[]).await;
    whoami_ok(
        &app,
        &idp.token(Algorithm::RS256, "ext-up", &json!({})),
        "before the outage",
    )
    .await;

    for outage in [Outage::Closed, Outage::Unavailable] {
        idp.set_outage(outage);
        for alg in [Algorithm::RS256, Algorithm::EdDSA] {
            let token = idp.token(alg, "ext-down", &json!({"roles": ["viewer"]}));
            let body = whoami_ok(&app, &token, &format!("{outage:?}, {alg:?}")).await;
            assert_eq!(body["roles"], json!(["viewer"]));
        }
        refused(
            &app,
            &idp.attack(Attack::UnknownKid, "ext-down"),
            &format!("an unknown kid during {outage:?}"),
        )
        .await;
    }
    idp.set_outage(Outage::None);
    whoami_ok(
        &app,
        &idp.token(Algorithm::ES256, "ext-back", &json!({})),
        "after the outage",
    )
    .await;
}

/// Scenario: an issuer unreachable since the app started (503, or connections closed)
/// answers 503 for its tokens, neither 401 nor 200; the app's own tokens still work.
pub async fn an_issuer_unreachable_from_the_start_answers_503(t: &Target) {
    let down = FakeIdp::start().await;
    down.set_outage(Outage::Unavailable);
    let closed = FakeIdp::start().await;
    closed.set_outage(Outage::Closed);
    let app = start(t, &[&down, &closed], &[]).await;
    for (idp, what) in [(&down, "answering 503"), (&closed, "closing connections")] {
        for attempt in 0..2 {
            let token = idp.token(Algorithm::RS256, "ext-unknown", &json!({}));
            let r = whoami(&app, &token).await;
            assert_eq!(
                r.status(),
                503,
                "a token of an issuer {what} since the start (attempt {attempt})"
            );
        }
    }
    let own = own_token(&app).await;
    whoami_ok(
        &app,
        own["access_token"].as_str().unwrap(),
        "the app's own token",
    )
    .await;
}

/// Scenario: the key cache honours `Cache-Control` within its bounds: `max-age=1` is
/// raised to the 60 s floor, so 2.5 s later a token is verified without a refetch (and
/// no background refresh has run).
pub async fn issuer_key_cache_has_a_60_second_floor(t: &Target) {
    let idp = FakeIdp::start().await;
    idp.set_max_age(Some(1));
    let app = start(t, &[&idp], &[]).await;
    whoami_ok(
        &app,
        &idp.token(Algorithm::RS256, "ext-first", &json!({})),
        "the first token",
    )
    .await;
    let fetched = settled_fetches(&idp).await;
    assert!(fetched.1 >= 1, "the keys came from the JWKS");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    whoami_ok(
        &app,
        &idp.token(Algorithm::RS256, "ext-later", &json!({})),
        "2.5 s later",
    )
    .await;
    assert_eq!(
        settled_fetches(&idp).await,
        fetched,
        "(discovery, JWKS) fetches: max-age=1 was taken literally"
    );
}
