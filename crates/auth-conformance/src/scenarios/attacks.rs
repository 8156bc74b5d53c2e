//! The known ways JWT verification has failed, as HTTP requests to `GET /me`, each with
//! its expected status and `WWW-Authenticate`. Tokens that must reach the claim checks
//! are MACed with the app's real secret, so only the rule under test can refuse them.

use std::net::TcpListener;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{bearer, get, header, login_bearer, problem};
use crate::app::{ACCESS_SECRET, App, Target, access_kid};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `header.claims.signature` with the header and claims as given (any JSON text) and
/// an HS256 MAC under `secret`.
fn mac(header_json: &str, claims_json: &str, secret: &[u8]) -> String {
    let message = format!("{}.{}", B64.encode(header_json), B64.encode(claims_json));
    let key = EncodingKey::from_secret(secret).unwrap();
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
    format!("{message}.{sig}")
}

/// The apps' own access-token header.
fn our_header() -> String {
    format!(
        r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}"}}"#,
        access_kid()
    )
}

/// Our header with `extra` members added (JSON object text without braces).
fn header_with(extra: &str) -> String {
    format!(
        r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}",{extra}}}"#,
        access_kid()
    )
}

/// Expects 401 with `Bearer error="invalid_token"` and exactly `description`.
async fn refused(app: &App, token: &str, description: &str, case: &str) {
    let r = get(app, "/me", Some(&format!("Bearer {token}"))).await;
    assert_eq!(r.status(), 401, "{case}");
    let www = header(&r, "www-authenticate")
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        www,
        format!("Bearer error=\"invalid_token\", error_description=\"{description}\""),
        "{case}"
    );
    let body = problem(r, 401).await;
    assert_eq!(body["detail"], description, "{case}");
}

/// Expects 401 `invalid_token` whatever the description (cases whose first failing rule
/// depends on which bit was hit).
async fn refused_any(app: &App, token: &str, case: &str) {
    let r = get(app, "/me", Some(&format!("Bearer {token}"))).await;
    assert_eq!(r.status(), 401, "{case}");
    let www = header(&r, "www-authenticate")
        .unwrap_or_default()
        .to_string();
    assert!(
        www.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{case}: {www}"
    );
}

const MALFORMED: &str = "The token is malformed";
const UNSUPPORTED: &str = "The token header carries an unsupported parameter";
const UNKNOWN_KEY: &str = "The token was signed with an unknown key";
const ALG: &str = "The token's algorithm is not allowed";
const SIGNATURE: &str = "The token signature is invalid";
const MISSING: &str = "The token lacks a required claim";

/// An EC P-256 public key (the conformance provider's), as an attacker would find it.
const EC_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEb9fURk/JEU+4l3UdnDRUwx7j2JDY
1WavgZ5rG0lPxvfhuAihzDetjTeGyjG1CavXb6LA0y5gKvwNc/vjyEhfEg==
-----END PUBLIC KEY-----
";
const RSA_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo
4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u
+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyeh
kd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ
0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdg
cKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbc
mwIDAQAB
-----END PUBLIC KEY-----
";

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// Flips one bit of the decoded segment `index` and re-encodes it canonically.
fn flip(token: &str, index: usize, bit: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let mut bytes = B64.decode(&parts[index]).unwrap();
    let at = bit / 8 % bytes.len();
    bytes[at] ^= 1 << (bit % 8);
    parts[index] = B64.encode(bytes);
    parts.join(".")
}

/// Scenario: the JWT attack corpus (CVE-class mistakes of JWT libraries), each refused
/// with its documented answer; no request ever leaves the app for a key URL.
pub async fn jwt_attack_corpus(t: &Target) {
    let app = t.start().await;
    let tok = login_bearer(&app, "carol").await;
    let access = tok["access_token"].as_str().unwrap().to_string();
    let parts: Vec<&str> = access.split('.').collect();
    let claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    let secret = ACCESS_SECRET.as_bytes();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        f(&mut c);
        mac(&our_header(), &c.to_string(), secret)
    };
    // Sanity: a token re-MACed by this scenario is accepted, so refusals below are
    // caused by the one change each makes.
    let control = with(&|_| {});
    assert_eq!(
        get(&app, "/me", Some(&format!("Bearer {control}")))
            .await
            .status(),
        200
    );

    // alg none, in every spelling, signed or not.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = format!(
            r#"{{"alg":"{alg}","typ":"at+jwt","kid":"{}"}}"#,
            access_kid()
        );
        let unsigned = format!("{}.{}.", B64.encode(&h), parts[1]);
        refused(&app, &unsigned, ALG, alg).await;
        refused(&app, &format!("{unsigned}{}", parts[2]), ALG, alg).await;
    }
    // HS256 MACed with a public key as the secret (PEM and DER, RSA and EC).
    for (name, key) in [
        ("rsa pem", RSA_PUBLIC_PEM.as_bytes().to_vec()),
        ("rsa der", pem_der(RSA_PUBLIC_PEM)),
        ("ec pem", EC_PUBLIC_PEM.as_bytes().to_vec()),
        ("ec der", pem_der(EC_PUBLIC_PEM)),
    ] {
        refused(
            &app,
            &mac(&our_header(), &claims.to_string(), &key),
            SIGNATURE,
            name,
        )
        .await;
    }
    // An algorithm the key is not for (the key is HS256 only).
    for alg in ["HS384", "HS512", "RS256", "PS256", "ES256", "EdDSA"] {
        let h = format!(
            r#"{{"alg":"{alg}","typ":"at+jwt","kid":"{}"}}"#,
            access_kid()
        );
        refused(
            &app,
            &format!("{}.{}.{}", B64.encode(&h), parts[1], parts[2]),
            ALG,
            alg,
        )
        .await;
    }
    // ES256 with r = s = 0 (the "psychic signature", CVE-2022-21449).
    let zero = B64.encode([0u8; 64]);
    let es = &format!(
        r#"{{"alg":"ES256","typ":"at+jwt","kid":"{}"}}"#,
        access_kid()
    );
    refused(
        &app,
        &format!("{}.{}.{zero}", B64.encode(es), parts[1]),
        ALG,
        "r=s=0",
    )
    .await;
    // One flipped bit in each segment.
    for bit in [0, 7, 13, 42, 100] {
        refused_any(&app, &flip(&access, 0, bit), "header bit").await;
        refused(&app, &flip(&access, 1, bit), SIGNATURE, "claims bit").await;
        refused(&app, &flip(&access, 2, bit), SIGNATURE, "signature bit").await;
    }
    // Wrong shapes.
    for (case, token) in [
        ("two segments", format!("{}.{}", parts[0], parts[1])),
        ("four segments", format!("{access}.{}", parts[2])),
        ("JWE (five segments)", format!("{}.a.b.c.d", parts[0])),
        (
            "JWS JSON",
            format!(r#"{{"payload":"{}","signatures":[]}}"#, parts[1]),
        ),
        ("quotes", format!("\"{access}\"")),
        (
            "quote inside",
            format!("{}\"{}", &access[..20], &access[20..]),
        ),
    ] {
        refused(&app, &token, MALFORMED, case).await;
    }
    let r = get(&app, "/me", Some("Bearer ")).await;
    assert_eq!(r.status(), 401, "empty token");
    // Non-canonical base64url: padding, and unused trailing bits set.
    refused(
        &app,
        &format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        MALFORMED,
        "padded header",
    )
    .await;
    refused(
        &app,
        &format!("{}.{}=.{}", parts[0], parts[1], parts[2]),
        SIGNATURE,
        "padded claims",
    )
    .await;
    let sig = parts[2];
    let last = sig.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    let twisted = alphabet.chars().nth(idx ^ 1).unwrap(); // a bit the 32-byte MAC does not use
    let non_canonical = format!(
        "{}.{}.{}{twisted}",
        parts[0],
        parts[1],
        &sig[..sig.len() - 1]
    );
    refused(&app, &non_canonical, SIGNATURE, "trailing bits").await;

    // exp / nbf of the wrong JSON type (CVE-2026-25537: treated as absent elsewhere).
    for claim in ["exp", "nbf", "iat"] {
        for (case, value) in [
            ("string", json!(format!("{}", now() + 600))),
            ("float", json!(now() as f64 + 600.5)),
            ("negative", json!(-1)),
            ("null", Value::Null),
            ("array", json!([now() + 600])),
            ("object", json!({"n": 1})),
        ] {
            let token = with(&|c| c[claim] = value.clone());
            refused(&app, &token, MISSING, &format!("{claim} as {case}")).await;
        }
        let absent = with(&|c| {
            c.as_object_mut().unwrap().remove(claim);
        });
        refused(&app, &absent, MISSING, &format!("{claim} absent")).await;
    }
    refused(
        &app,
        &with(&|c| c["exp"] = json!(now() - 3600)),
        "The token has expired",
        "expired",
    )
    .await;
    refused(
        &app,
        &with(&|c| c["nbf"] = json!(now() + 3600)),
        "The token is not valid yet",
        "nbf ahead",
    )
    .await;
    refused(
        &app,
        &with(&|c| c["iat"] = json!(now() + 3600)),
        "The token was issued in the future",
        "iat ahead",
    )
    .await;
    // Issuer by prefix or superstring; audience arrays.
    for iss in [
        "auth-ref",
        "auth-reference-evil",
        "AUTH-REFERENCE",
        "auth-reference ",
    ] {
        refused(
            &app,
            &with(&|c| c["iss"] = json!(iss)),
            "The token has the wrong issuer",
            iss,
        )
        .await;
    }
    let ok = with(&|c| c["aud"] = json!(["other", "auth-reference"]));
    assert_eq!(
        get(&app, "/me", Some(&format!("Bearer {ok}")))
            .await
            .status(),
        200,
        "aud array with ours"
    );
    for aud in [
        json!(["other", "auth-reference-evil"]),
        json!([]),
        json!("auth-ref"),
    ] {
        refused(
            &app,
            &with(&|c| c["aud"] = aud.clone()),
            "The token has the wrong audience",
            "aud",
        )
        .await;
    }
    // A refresh token, and another issuer's id token, used as access tokens.
    refused(
        &app,
        tok["refresh_token"].as_str().unwrap(),
        UNKNOWN_KEY,
        "refresh token",
    )
    .await;
    let id_token = {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some("test-key-1".into());
        let key = EncodingKey::from_ec_pem(crate::provider::signing_key_pem().as_bytes()).unwrap();
        jsonwebtoken::encode(
            &h,
            &json!({"sub": "1", "aud": "auth-reference", "exp": now() + 600}),
            &key,
        )
        .unwrap()
    };
    refused(&app, &id_token, UNKNOWN_KEY, "id token").await;
    let typed = mac(
        &format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{}"}}"#, access_kid()),
        &claims.to_string(),
        secret,
    );
    refused(
        &app,
        &typed,
        "The token has the wrong type header",
        "typ JWT",
    )
    .await;
    let refresh_typed = with(&|c| c["type"] = json!("refresh"));
    refused(
        &app,
        &refresh_typed,
        "The token is of the wrong type for this use",
        "type refresh",
    )
    .await;

    // kid: unknown, a path, NUL, huge.
    for kid in [
        "rotated-out",
        "../../dev/null",
        &format!("{}\u{0}", access_kid()),
        "' OR 1=1 --",
    ] {
        let h = json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}).to_string();
        refused(
            &app,
            &mac(&h, &claims.to_string(), secret),
            UNKNOWN_KEY,
            kid,
        )
        .await;
    }
    let h = json!({"alg": "HS256", "typ": "at+jwt", "kid": "k".repeat(64 * 1024)}).to_string();
    let r = app
        .client
        .get(app.url("/me"))
        .header("authorization", format!("Bearer {}", mac(&h, "{}", secret)))
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), 431, "64 KiB kid");
    }

    // Key-carrying headers and crit: refused, and no request is made to the URL.
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let url = format!("http://{}/jwks.json", trap.local_addr().unwrap());
    let attacker_jwk = r#"{"kty":"oct","k":"YXR0YWNrZXItc2VjcmV0LXRoYXQtaXMtMzItYnl0ZXMh"}"#;
    for extra in [
        format!(r#""jku":"{url}""#),
        format!(r#""x5u":"{url}""#),
        format!(r#""jwk":{attacker_jwk}"#),
        r#""x5c":["MIIB"]"#.to_string(),
        r#""crit":["exp"]"#.to_string(),
        r#""crit":[]"#.to_string(),
    ] {
        let token = mac(
            &header_with(&extra),
            &claims.to_string(),
            b"attacker-secret-that-is-32-bytes!",
        );
        refused(&app, &token, UNSUPPORTED, &extra).await;
        let token = mac(&header_with(&extra), &claims.to_string(), secret);
        refused(&app, &token, UNSUPPORTED, &extra).await;
    }
    assert!(
        trap.accept().is_err(),
        "the app fetched a key URL from a token"
    );
    // Any header parameter this service does not issue makes the token malformed.
    let b64 = mac(
        &header_with(r#""crit":["b64"],"b64":false"#),
        &claims.to_string(),
        secret,
    );
    refused(&app, &b64, MALFORMED, "b64").await;
    let zip = mac(&header_with(r#""zip":"DEF""#), &claims.to_string(), secret);
    refused(&app, &zip, MALFORMED, "zip").await;

    // Duplicate names: in the claims (two `sub`), in the header (two `alg`).
    let dup_claims = claims.to_string().replacen('{', r#"{"sub":"1","#, 1);
    refused(
        &app,
        &mac(&our_header(), &dup_claims, secret),
        MISSING,
        "duplicate sub",
    )
    .await;
    let dup_header = &format!(
        r#"{{"alg":"HS256","alg":"none","typ":"at+jwt","kid":"{}"}}"#,
        access_kid()
    );
    refused(
        &app,
        &mac(dup_header, &claims.to_string(), secret),
        MALFORMED,
        "duplicate alg",
    )
    .await;

    // `Bearer ` and a million dots: answered fast by size, not parsed.
    let r = app
        .client
        .get(app.url("/me"))
        .header("authorization", format!("Bearer {}", ".".repeat(1_000_000)))
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), 431);
    }

    // A token in the query: never accepted (RFC 6750 §2.3 is optional; URLs leak); with
    // the header too: one method per request (§2), 400 invalid_request.
    for (case, with_header) in [("query only", false), ("query and header", true)] {
        let mut req = app
            .client
            .get(app.url(&format!("/me?access_token={access}")));
        if with_header {
            req = req.header("authorization", bearer(&tok));
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 400, "{case}");
        let www = header(&r, "www-authenticate").unwrap().to_string();
        assert!(
            www.starts_with("Bearer error=\"invalid_request\""),
            "{case}: {www}"
        );
        problem(r, 400).await;
    }

    // After all of it, the real token still works.
    assert_eq!(get(&app, "/me", Some(&bearer(&tok))).await.status(), 200);
}

/// Scenario: answers to credentialed requests are `Cache-Control: no-store` and
/// `Vary: Authorization, Cookie`; a presented cookie cannot inject attributes into the
/// `Set-Cookie` the app sends.
pub async fn authenticated_responses_are_private(t: &Target) {
    let app = t.start().await;
    let tok = login_bearer(&app, "alice").await;
    let check = |r: &reqwest::Response, case: &str| {
        assert_eq!(header(r, "cache-control"), Some("no-store"), "{case}");
        let vary: Vec<String> = r
            .headers()
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
            .collect();
        assert!(
            vary.iter().any(|v| v.contains("cookie")),
            "{case}: {vary:?}"
        );
        assert!(
            vary.iter().any(|v| v.contains("authorization")),
            "{case}: {vary:?}"
        );
    };
    let r = get(&app, "/me", Some(&bearer(&tok))).await;
    assert_eq!(r.status(), 200);
    check(&r, "bearer /me");
    let r = get(&app, "/me", Some("Bearer not-a-token")).await;
    check(&r, "refused bearer");

    let (cookie, _, _) = super::cookie_login(&app, "bob").await;
    let r = super::get_with_cookie(&app, "/dashboard", &cookie).await;
    assert_eq!(r.status(), 200);
    check(&r, "session /dashboard");
    let r = super::get_with_api_key(&app, "/data").await;
    assert_eq!(r.status(), 200);
    check(&r, "api key /data");
    let r = get(&app, "/health", None).await;
    assert_ne!(
        header(&r, "cache-control"),
        Some("no-store"),
        "anonymous answers stay cacheable"
    );

    // Injection attempts in the presented cookies never reach the Set-Cookie we send.
    let attempts: [&[u8]; 4] = [
        b"session_id=x; Domain=evil.example; Path=/; HttpOnly",
        b"session_id=x%3B%20Domain%3Devil.example",
        b"session_id=\"x; Domain=evil.example\"",
        b"session_id=x\xff; SameSite=None",
    ];
    for raw in attempts {
        let presented = reqwest::header::HeaderValue::from_bytes(raw).unwrap();
        let r = app
            .client
            .post(app.url("/login"))
            .header("cookie", presented.clone())
            .form(&[("username", "bob"), ("password", "password456")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{presented:?}");
        let set: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert_eq!(set.len(), 1, "{set:?}");
        assert!(!set[0].to_ascii_lowercase().contains("evil"), "{}", set[0]);
        let attrs: Vec<&str> = set[0].split("; ").collect();
        let value = attrs[0].strip_prefix("session_id=").unwrap();
        assert!(
            value.len() == 43
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{value}"
        );
        let mut names: Vec<&str> = attrs[1..]
            .iter()
            .map(|a| a.split('=').next().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["HttpOnly", "Max-Age", "Path", "SameSite", "Secure"],
            "{}",
            set[0]
        );
    }
}
