//! Our own asymmetric tokens and `GET /.well-known/jwks.json` (issue #23): each
//! asymmetric `AUTH_JWT_ALG` with a key file, the published keys, HS256 refused, rotation
//! with `AUTH_JWT_PREVIOUS_KEY_FILES`, and the ephemeral key. These start the app with
//! their own key settings, so they run once per app (on the memory store).

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{bearer, get, header, login_bearer};
use crate::app::{ACCESS_SECRET, App, Target, access_kid};

/// Test-only keys (`crates/auth-conformance/keys/`, public: never use them elsewhere).
const RSA_KEY: &str = include_str!("../../keys/rsa_private.pem");
const RSA_KEY_2: &str = include_str!("../../keys/rsa2_private.pem");
const EC256_KEY: &str = include_str!("../../keys/ec256_private.pem");
const ED25519_KEY: &str = include_str!("../../keys/ed25519_private.pem");

/// Members a published JWK must never carry (RSA, EC and OKP private parts, `oct`
/// secrets).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// `pem` written to a fresh file of its own (removed when dropped).
struct KeyFile(PathBuf);

impl KeyFile {
    fn new(pem: &str) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "auth-conformance-key-{}-{}.pem",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, pem).expect("write a key file");
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `GET /.well-known/jwks.json`: 200, public caching, no private member; the body.
async fn jwks(app: &App) -> Value {
    let r = get(app, "/.well-known/jwks.json", None).await;
    assert_eq!(r.status(), 200, "GET /.well-known/jwks.json");
    let cache = header(&r, "cache-control").unwrap_or_default().to_string();
    assert!(
        cache.contains("public") && cache.contains("max-age="),
        "Cache-Control: public, max-age=...; got {cache:?}"
    );
    assert!(!cache.contains("no-store"), "{cache}");
    let body: Value = r.json().await.expect("JWKS JSON");
    let keys = body["keys"].as_array().expect("a `keys` array");
    for jwk in keys {
        for member in PRIVATE_MEMBERS {
            assert!(
                jwk.get(member).is_none(),
                "private `{member}` published: {jwk}"
            );
        }
        assert_eq!(jwk["use"], "sig", "{jwk}");
    }
    body
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("a kid").to_string())
        .collect()
}

/// The JOSE header of a token response's access token (decoded, not verified).
fn access_header(token: &Value) -> Value {
    let access = token["access_token"].as_str().expect("access_token");
    let head = access.split('.').next().expect("a header segment");
    serde_json::from_slice(&B64.decode(head).expect("base64url")).expect("JSON header")
}

/// The RFC 7638 thumbprint of a published JWK, from its members alone.
fn thumbprint(jwk: &Value) -> String {
    let required: &[&str] = match jwk["kty"].as_str().expect("kty") {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        other => panic!("unexpected kty {other}"),
    };
    let members: Vec<String> = required
        .iter()
        .map(|m| format!("\"{m}\":\"{}\"", jwk[*m].as_str().expect("a string member")))
        .collect();
    B64.encode(Sha256::digest(
        format!("{{{}}}", members.join(",")).as_bytes(),
    ))
}

/// Verifies `token` against the JWK of `jwks` its `kid` names, with plain jsonwebtoken.
fn verify_with_jwks(token: &str, jwks: &Value, alg: &str) -> Value {
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(jwks.clone()).expect("a JWK set jsonwebtoken reads");
    let head = jsonwebtoken::decode_header(token).expect("a JOSE header");
    let kid = head.kid.expect("a kid");
    let jwk = set.find(&kid).expect("the token's kid is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("a usable JWK");
    let alg: jsonwebtoken::Algorithm = alg.parse().expect("a JOSE algorithm");
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_audience(&["auth-reference"]);
    validation.set_issuer(&["auth-reference"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("{alg:?} token does not verify against the JWKS: {e}"))
        .claims
}

/// One asymmetric algorithm end to end: the token's `alg` and `kid`, the `kid` as the
/// published key's thumbprint, plain jsonwebtoken verifying it from the JWKS, `/me`.
async fn signs_and_publishes(t: &Target, alg: &str, pem: &str) {
    let key = KeyFile::new(pem);
    let app = t
        .start_with(&[
            ("AUTH_JWT_ALG", alg),
            ("AUTH_JWT_PRIVATE_KEY_FILE", key.path()),
        ])
        .await;
    let token = login_bearer(&app, "alice").await;
    let head = access_header(&token);
    assert_eq!(head["alg"], alg);
    assert_eq!(head["typ"], "at+jwt");
    let set = jwks(&app).await;
    let keys = set["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "{alg}: exactly the signing key: {set}");
    assert_eq!(head["kid"], keys[0]["kid"], "{alg}");
    assert_eq!(keys[0]["alg"], alg);
    assert_eq!(
        keys[0]["kid"].as_str(),
        Some(thumbprint(&keys[0]).as_str()),
        "{alg}: the kid is the RFC 7638 thumbprint"
    );
    let access = token["access_token"].as_str().expect("access_token");
    let claims = verify_with_jwks(access, &set, alg);
    assert_eq!(claims["sub"], "1");
    let me = get(&app, "/me", Some(&bearer(&token))).await;
    assert_eq!(me.status(), 200, "{alg}: /me with the token");
    let body: Value = me.json().await.expect("/me JSON");
    assert_eq!(body["email"], "alice@example.com");
    // The same key, restarted: the same kid, and the token still works.
    drop(app);
    let again = t
        .start_with(&[
            ("AUTH_JWT_ALG", alg),
            ("AUTH_JWT_PRIVATE_KEY_FILE", key.path()),
        ])
        .await;
    assert_eq!(kids(&jwks(&again).await), kids(&set), "{alg}: a stable kid");
    let me = get(&again, "/me", Some(&bearer(&token))).await;
    assert_eq!(
        me.status(),
        200,
        "{alg}: /me after a restart with the same key"
    );
}

/// RS256 with a key file.
pub async fn jwks_rs256_tokens_verify_against_the_published_key(t: &Target) {
    signs_and_publishes(t, "RS256", RSA_KEY).await;
}

/// PS256 with a key file.
pub async fn jwks_ps256_tokens_verify_against_the_published_key(t: &Target) {
    signs_and_publishes(t, "PS256", RSA_KEY).await;
}

/// ES256 with a key file.
pub async fn jwks_es256_tokens_verify_against_the_published_key(t: &Target) {
    signs_and_publishes(t, "ES256", EC256_KEY).await;
}

/// EdDSA (Ed25519) with a key file.
pub async fn jwks_eddsa_tokens_verify_against_the_published_key(t: &Target) {
    signs_and_publishes(t, "EdDSA", ED25519_KEY).await;
}

/// HS256 (the default) publishes nothing: `{"keys": []}`, still cacheable.
pub async fn jwks_is_empty_with_hs256(t: &Target) {
    let app = t.start().await;
    assert_eq!(jwks(&app).await, json!({"keys": []}));
    let token = login_bearer(&app, "alice").await;
    assert_eq!(access_header(&token)["alg"], "HS256");
}

/// With an asymmetric algorithm, a token MACed HS256 with the app's own
/// `AUTH_JWT_SECRET` is refused, whichever `kid` it names.
pub async fn jwks_hs256_tokens_are_refused_when_asymmetric(t: &Target) {
    let key = KeyFile::new(EC256_KEY);
    let app = t
        .start_with(&[
            ("AUTH_JWT_ALG", "ES256"),
            ("AUTH_JWT_PRIVATE_KEY_FILE", key.path()),
        ])
        .await;
    let genuine = login_bearer(&app, "alice").await;
    let payload = genuine["access_token"]
        .as_str()
        .and_then(|t| t.split('.').nth(1))
        .expect("a claims segment");
    let claims: Value =
        serde_json::from_slice(&B64.decode(payload).expect("base64url")).expect("claims");
    let ours = kids(&jwks(&app).await).remove(0);
    for kid in [ours, access_kid()] {
        let head = json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
        let message = format!(
            "{}.{}",
            B64.encode(head.to_string()),
            B64.encode(claims.to_string())
        );
        let secret =
            jsonwebtoken::EncodingKey::from_secret(ACCESS_SECRET.as_bytes()).expect("an HMAC key");
        let sig =
            jsonwebtoken::crypto::sign(message.as_bytes(), &secret, jsonwebtoken::Algorithm::HS256)
                .expect("HMAC");
        let forged = format!("Bearer {message}.{sig}");
        let r = get(&app, "/me", Some(&forged)).await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "HS256 token with kid {kid}"
        );
        let www = header(&r, "www-authenticate").unwrap_or_default();
        assert!(www.contains("invalid_token"), "{www}");
    }
    let r = get(&app, "/me", Some(&bearer(&genuine))).await;
    assert_eq!(r.status(), 200, "the genuine ES256 token");
}

/// Rotation without logging anyone out: key A signs; restarted with key B and
/// `AUTH_JWT_PREVIOUS_KEY_FILES=A`, A's token still works, both kids are published
/// (B first) and new tokens are signed with B.
pub async fn jwks_rotation_keeps_old_tokens_valid(t: &Target) {
    let a = KeyFile::new(RSA_KEY);
    let b = KeyFile::new(RSA_KEY_2);
    let first = t
        .start_with(&[
            ("AUTH_JWT_ALG", "RS256"),
            ("AUTH_JWT_PRIVATE_KEY_FILE", a.path()),
        ])
        .await;
    let old = login_bearer(&first, "alice").await;
    let kid_a = kids(&jwks(&first).await).remove(0);
    assert_eq!(access_header(&old)["kid"], kid_a.as_str());
    drop(first);

    let rotated = t
        .start_with(&[
            ("AUTH_JWT_ALG", "RS256"),
            ("AUTH_JWT_PRIVATE_KEY_FILE", b.path()),
            ("AUTH_JWT_PREVIOUS_KEY_FILES", a.path()),
        ])
        .await;
    let set = jwks(&rotated).await;
    let published = kids(&set);
    assert_eq!(published.len(), 2, "{set}");
    assert_eq!(published[1], kid_a, "the previous key is still published");
    let kid_b = published[0].clone();
    assert_ne!(kid_a, kid_b);
    let me = get(&rotated, "/me", Some(&bearer(&old))).await;
    assert_eq!(me.status(), 200, "a token of the previous key still works");
    let new = login_bearer(&rotated, "alice").await;
    assert_eq!(
        access_header(&new)["kid"],
        kid_b.as_str(),
        "new tokens use B"
    );
    let access = new["access_token"].as_str().expect("access_token");
    verify_with_jwks(access, &set, "RS256");
    let old_access = old["access_token"].as_str().expect("access_token");
    verify_with_jwks(old_access, &set, "RS256");
    assert_eq!(
        get(&rotated, "/me", Some(&bearer(&new))).await.status(),
        200
    );
}

/// No key file with an asymmetric algorithm: the app starts on an ephemeral key and
/// publishes exactly that one.
pub async fn jwks_ephemeral_key_without_a_key_file(t: &Target) {
    for alg in ["ES256", "EdDSA"] {
        let app = t.start_with(&[("AUTH_JWT_ALG", alg)]).await;
        let set = jwks(&app).await;
        assert_eq!(kids(&set).len(), 1, "{alg}: one ephemeral key: {set}");
        let token = login_bearer(&app, "alice").await;
        assert_eq!(access_header(&token)["alg"], alg);
        let access = token["access_token"].as_str().expect("access_token");
        verify_with_jwks(access, &set, alg);
        assert_eq!(get(&app, "/me", Some(&bearer(&token))).await.status(), 200);
    }
}

/// Key settings the app cannot use end it with one `error:` line and a non-zero exit,
/// never a panic.
pub async fn jwks_bad_key_settings_exit_with_one_line(t: &Target) {
    let garbage = KeyFile::new("not a key");
    let ec = KeyFile::new(EC256_KEY);
    let cases: [&[(&str, &str)]; 6] = [
        &[("AUTH_JWT_ALG", "none")],
        &[
            ("AUTH_JWT_ALG", "ES256"),
            ("AUTH_JWT_PRIVATE_KEY_FILE", "/nonexistent/key.pem"),
        ],
        &[
            ("AUTH_JWT_ALG", "ES256"),
            ("AUTH_JWT_PRIVATE_KEY_FILE", garbage.path()),
        ],
        &[
            ("AUTH_JWT_ALG", "RS256"),
            ("AUTH_JWT_PRIVATE_KEY_FILE", ec.path()),
        ],
        &[("AUTH_JWT_PRIVATE_KEY_FILE", ec.path())],
        &[
            ("AUTH_JWT_ALG", "ES256"),
            ("AUTH_JWT_PREVIOUS_KEY_FILES", garbage.path()),
        ],
    ];
    for env in cases {
        let mut cmd = std::process::Command::new(&t.binary);
        cmd.env("AUTH_BIND", "127.0.0.1:0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .env("AUTH_JWT_SECRET", ACCESS_SECRET)
            .env("AUTH_REFRESH_SECRET", crate::app::REFRESH_SECRET)
            .env_remove("AUTH_REDIS_URL")
            .env_remove("AUTH_DATABASE_URL");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = run_to_exit(cmd, env).await;
        assert!(!out.status.success(), "{env:?} must refuse to start");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "{env:?}: one line: {err}");
        assert!(!err.contains("panicked"), "{err}");
        let body = EC256_KEY.lines().nth(1).expect("a PEM body line");
        assert!(!err.contains(body), "no key material printed: {err}");
    }
}

/// Runs `cmd` to its exit; an app that starts instead is killed within 30 s and fails the
/// scenario (rather than hanging it).
async fn run_to_exit(mut cmd: std::process::Command, env: &[(&str, &str)]) -> std::process::Output {
    let mut child = cmd.spawn().expect("run the app");
    for _ in 0..300 {
        if child.try_wait().expect("wait for the app").is_some() {
            return child.wait_with_output().expect("the app's output");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{env:?}: the app started instead of refusing the configuration");
}
