//! Request text that once made an app panic (issue #21): JWT headers whose `typ`, `kid`
//! or `alg` carry multibyte characters, MACed with the app's real secret so that they
//! reach every check after the key lookup. Each must be answered with its documented
//! 401, never a dropped connection, and the app must keep answering afterwards.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::Response;
use serde_json::{Value, json};

use super::{header, login_bearer, problem};
use crate::app::{ACCESS_SECRET, App, REFRESH_SECRET, Target};

const WRONG_TYP: &str = "The token has the wrong type header";
const UNKNOWN_KEY: &str = "The token was signed with an unknown key";
const ALG: &str = "The token's algorithm is not allowed";

/// `header.claims.signature`, HS256-MACed under `secret`.
fn mac(header: &Value, claims: &Value, secret: &str) -> String {
    let message = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let key = EncodingKey::from_secret(secret.as_bytes()).unwrap();
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
    format!("{message}.{sig}")
}

/// The decoded header and claims of a token we were issued.
fn decoded(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut next = || {
        let segment = parts.next().expect("three segments");
        serde_json::from_slice::<Value>(&B64.decode(segment).unwrap()).unwrap()
    };
    let header = next();
    (header, next())
}

/// `typ` values with a multibyte character (2, 3 and 4 bytes) at every byte position
/// from 0 to 14, so that one straddles byte 11/12/13 whatever the slicing; plus the
/// `application/` prefix cut inside a character.
pub fn multibyte_typs() -> Vec<String> {
    let mut typs = vec![
        "aaaaaaaaaaaé".to_string(),
        "applicationé".to_string(),
        "applicationé/at+jwt".to_string(),
        "application/at+jwté".to_string(),
        "application/é".to_string(),
        "ét+jwt".to_string(),
        "é".repeat(7),
        "€".repeat(5),
        "\u{1F600}".repeat(4),
    ];
    for ch in ['é', '€', '\u{1F600}'] {
        for at in 0..=14 {
            typs.push(format!("{}{ch}aaa", "a".repeat(at)));
        }
    }
    typs
}

/// Sends `Bearer token` to `GET /me`; a dropped connection fails the case by name.
async fn me(app: &App, token: &str, case: &str) -> Response {
    app.client
        .get(app.url("/me"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{case}: no answer (the app panicked?): {e}"))
}

/// Expects 401 `Bearer error="invalid_token"` with exactly `description`.
async fn refused(r: Response, description: &str, case: &str) {
    assert_eq!(r.status(), 401, "{case}");
    assert_eq!(
        header(&r, "www-authenticate"),
        Some(
            format!("Bearer error=\"invalid_token\", error_description=\"{description}\"").as_str()
        ),
        "{case}"
    );
    assert_eq!(problem(r, 401).await["detail"], description, "{case}");
}

/// The app still answers, and still accepts a good token.
async fn still_answers(app: &App, good: &str, case: &str) {
    let r = me(app, good, case).await;
    assert_eq!(r.status(), 200, "after {case}: the good token");
}

/// Scenario: JWT headers with multibyte `typ`, `kid` and `alg` (issue #21), signed with
/// the app's real key, get 401 `invalid_token` on `/me` and `/refresh`; the app keeps
/// answering.
pub async fn multibyte_jwt_headers_are_refused_not_a_panic(t: &Target) {
    let app = t.start().await;
    let tok = login_bearer(&app, "carol").await;
    let access = tok["access_token"].as_str().unwrap();
    let (ours, claims) = decoded(access);
    let good = mac(&ours, &claims, ACCESS_SECRET);
    still_answers(&app, &good, "the control token").await;

    for typ in multibyte_typs() {
        let mut h = ours.clone();
        h["typ"] = json!(typ);
        let case = format!("access typ {typ:?}");
        refused(
            me(&app, &mac(&h, &claims, ACCESS_SECRET), &case).await,
            WRONG_TYP,
            &case,
        )
        .await;
    }
    still_answers(&app, &good, "multibyte typ").await;

    for kid in [
        "é",
        "access-1é",
        "aaaaaaaaaaaé",
        "\u{1F600}access-1",
        "€€€€€",
    ] {
        let mut h = ours.clone();
        h["kid"] = json!(kid);
        let case = format!("kid {kid:?}");
        refused(
            me(&app, &mac(&h, &claims, ACCESS_SECRET), &case).await,
            UNKNOWN_KEY,
            &case,
        )
        .await;
    }
    for alg in ["HS256é", "é", "HS25\u{1F600}", "aaaaaaaaaaaé", "ＨＳ２５６"] {
        let mut h = ours.clone();
        h["alg"] = json!(alg);
        let case = format!("alg {alg:?}");
        refused(
            me(&app, &mac(&h, &claims, ACCESS_SECRET), &case).await,
            ALG,
            &case,
        )
        .await;
    }
    still_answers(&app, &good, "multibyte kid and alg").await;

    // The refresh path checks its own `typ` ("JWT") the same way.
    let (refresh_header, refresh_claims) = decoded(tok["refresh_token"].as_str().unwrap());
    for typ in [
        "aaaaaaaaaaaé",
        "applicationé/JWT",
        "JWTé",
        "\u{1F600}".repeat(3).as_str(),
    ] {
        let mut h = refresh_header.clone();
        h["typ"] = json!(typ);
        let case = format!("refresh typ {typ:?}");
        let r = app
            .client
            .post(app.url("/refresh"))
            .json(&json!({"refresh_token": mac(&h, &refresh_claims, REFRESH_SECRET)}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{case}: no answer (the app panicked?): {e}"));
        refused(r, WRONG_TYP, &case).await;
    }
    still_answers(&app, &good, "multibyte refresh typ").await;
    let r = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200, "health after the multibyte headers");
}

/// Sends `GET path` with one raw header (any bytes); a dropped connection fails the case.
async fn get_raw(app: &App, path: &str, name: &str, value: &[u8], case: &str) -> Response {
    let value = reqwest::header::HeaderValue::from_bytes(value).expect("a sendable header");
    app.client
        .get(app.url(path))
        .header(name, value)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{case}: no answer (the app panicked?): {e}"))
}

/// Scenario: other request text with multibyte characters where byte-index slicing
/// would panic (the issue #21 sweep): the `Authorization` header itself, an API key in
/// the header and in the query (`key_used` shows the first 6 *characters*), a session
/// cookie. Each gets its documented refusal and the app keeps answering.
pub async fn multibyte_request_text_is_refused_not_a_panic(t: &Target) {
    let app = t.start().await;
    let tok = login_bearer(&app, "carol").await;
    let access = tok["access_token"].as_str().unwrap();
    let good = access.to_string();
    const MALFORMED: &str = "The token is malformed";
    for value in [
        "Bearer aaaaaaaaaaaé".to_string(),
        format!("Bearer {access}é"),
        "Bearer €".to_string(),
        "Béarer abc.def.ghi".to_string(),
        "Bearer\u{a0}abc.def.ghi".to_string(),
    ] {
        let case = format!("authorization {value:?}");
        let r = get_raw(&app, "/me", "authorization", value.as_bytes(), &case).await;
        refused(r, MALFORMED, &case).await;
    }
    for key in ["secret-key-12é", "ééééééé", "€€€", "secreté"] {
        let case = format!("x-api-key {key:?}");
        let r = get_raw(&app, "/data", "x-api-key", key.as_bytes(), &case).await;
        assert_eq!(
            problem(r, 401).await["detail"],
            "Invalid or missing API key",
            "{case}"
        );
        let case = format!("api_key query {key:?}");
        let query: String = form_urlencoded_byte(key);
        let r = app
            .client
            .get(app.url(&format!("/data?api_key={query}")))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{case}: no answer (the app panicked?): {e}"));
        assert_eq!(
            problem(r, 401).await["detail"],
            "Invalid or missing API key",
            "{case}"
        );
    }
    for cookie in [
        "session_id=aaaaaaaaaaaé",
        "session_id=€€€€€€€€€€€€€€€",
        "séssion_id=x",
    ] {
        let case = format!("cookie {cookie:?}");
        let r = get_raw(&app, "/dashboard", "cookie", cookie.as_bytes(), &case).await;
        assert_eq!(r.status(), 401, "{case}");
        problem(r, 401).await;
    }
    still_answers(&app, &good, "multibyte request text").await;
}

/// Percent-encodes every byte of `s` (enough for a query value).
fn form_urlencoded_byte(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}
