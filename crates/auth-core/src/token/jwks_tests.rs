//! Our own asymmetric tokens (issue #23): keys from a private PEM alone, thumbprint
//! `kid`s, the JWK set, and the refusals around them.
#![allow(clippy::indexing_slicing, clippy::string_slice)] // test code: a bad index fails the test

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::*;
use crate::clock::ManualClock;
use crate::error::TokenError;

const NOW: u64 = 1_800_000_000;
const ACCESS_SECRET: &[u8] = b"access-secret-access-secret-0123";
const REFRESH_SECRET: &[u8] = b"refresh-secret-refresh-secret-01";

/// Every asymmetric algorithm with the test key that fits it.
const ASYMMETRIC: [(Algorithm, &str); 9] = [
    (Algorithm::RS256, "rsa_private"),
    (Algorithm::RS384, "rsa_private"),
    (Algorithm::RS512, "rsa_private"),
    (Algorithm::PS256, "rsa_private"),
    (Algorithm::PS384, "rsa_private"),
    (Algorithm::PS512, "rsa_private"),
    (Algorithm::ES256, "ec256_private"),
    (Algorithm::ES384, "ec384_private"),
    (Algorithm::EdDSA, "ed25519_private"),
];

/// Members a JWK must never publish: RSA, EC and OKP private parts, and `oct` secrets.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

fn pem(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn config() -> TokenConfig {
    TokenConfig::default()
        .issuer("auth-reference")
        .audience("auth-reference")
        .leeway(Duration::from_secs(30))
}

fn refresh_ring() -> KeyRing {
    KeyRing::new(Key::hmac("r1", Algorithm::HS256, REFRESH_SECRET).unwrap())
}

fn service(access: KeyRing, clock: &Arc<ManualClock>) -> TokenService {
    TokenService::with_clock(access, refresh_ring(), config(), clock.clone()).unwrap()
}

fn alice() -> Subject {
    Subject::new("1")
        .with_email("alice@example.com")
        .with_roles(["admin"])
}

fn header_of(token: &str) -> Value {
    let head = token.split('.').next().unwrap();
    serde_json::from_slice(&B64.decode(head).unwrap()).unwrap()
}

/// The RFC 7638 thumbprint of a published JWK, computed here from its members alone
/// (required members only, lexicographic order, no whitespace), independently of the
/// library's own computation.
fn rfc7638(jwk: &Value) -> String {
    let required: &[&str] = match jwk["kty"].as_str().unwrap() {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        other => panic!("unexpected kty {other}"),
    };
    let members: Vec<String> = required
        .iter()
        .map(|m| format!("\"{m}\":\"{}\"", jwk[*m].as_str().unwrap()))
        .collect();
    let canonical = format!("{{{}}}", members.join(","));
    B64.encode(Sha256::digest(canonical.as_bytes()))
}

fn forge(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let key = jsonwebtoken::EncodingKey::from_secret(secret).unwrap();
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
        .unwrap();
    format!("{message}.{sig}")
}

fn valid_claims() -> Value {
    json!({
        "sub": "1", "exp": NOW + 900, "iat": NOW, "nbf": NOW, "jti": "j1",
        "iss": "auth-reference", "aud": "auth-reference", "sid": "s1", "type": "access",
        "email": "alice@example.com", "roles": ["admin"],
    })
}

#[test]
fn every_asymmetric_algorithm_signs_and_verifies_with_a_key_from_its_private_pem_alone() {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    for (alg, name) in ASYMMETRIC {
        let key = Key::from_private_pem(alg, &pem(name)).unwrap();
        assert!(key.can_sign(), "{alg:?}");
        assert_eq!(key.algorithm(), alg);
        let kid = key.kid().to_string();
        let svc = service(KeyRing::new(key), &clock);
        let pair = svc.issue_pair(&alice()).unwrap();
        let header = header_of(&pair.access.token);
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(header["kid"], kid.as_str());
        let claims = svc.verify_access(&pair.access.token).unwrap();
        assert_eq!(claims.sub, "1");

        // And with plain jsonwebtoken, from the published JWK alone.
        let jwks = svc.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{alg:?}");
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(keys[0].clone()).unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(alg.to_jwt());
        validation.set_audience(&["auth-reference"]);
        validation.validate_exp = false;
        jsonwebtoken::decode::<Value>(&pair.access.token, &decoding, &validation)
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
    }
}

#[test]
fn the_kid_is_the_rfc_7638_thumbprint_of_the_published_key() {
    for (alg, name) in ASYMMETRIC {
        let key = Key::from_private_pem(alg, &pem(name)).unwrap();
        let jwk = key.public_jwk_value().unwrap();
        assert_eq!(jwk["kid"], key.kid());
        assert_eq!(jwk["alg"], alg.as_str());
        assert_eq!(jwk["use"], "sig");
        assert_eq!(key.kid(), rfc7638(&jwk), "{alg:?}");
        assert_eq!(key.thumbprint().as_deref(), Some(key.kid()));
        assert_eq!(key.kid().len(), 43);
    }
    // Same key, same kid (across restarts); different keys, different kids.
    let a = Key::from_private_pem(Algorithm::RS256, &pem("rsa_private")).unwrap();
    let b = Key::from_private_pem(Algorithm::PS256, &pem("rsa_private")).unwrap();
    let c = Key::from_private_pem(Algorithm::RS256, &pem("rsa2_private")).unwrap();
    assert_eq!(a.kid(), b.kid());
    assert_ne!(a.kid(), c.kid());
}

#[test]
fn the_rfc_7638_example_key_has_the_rfc_thumbprint() {
    // RFC 7638 §3.1.
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    let key = Key::public_jwk("2011-04-29", Algorithm::RS256, &jwk.to_string()).unwrap();
    let want = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
    assert_eq!(key.thumbprint().as_deref(), Some(want));
    assert_eq!(rfc7638(&jwk), want);
}

#[test]
fn the_rfc_8037_ed25519_key_has_the_rfc_thumbprint_as_kid() {
    // RFC 8037 Appendix A.1 (the key) and A.3 (its thumbprint).
    let key = Key::from_private_pem(Algorithm::EdDSA, &pem("rfc8037_ed25519_private")).unwrap();
    let jwk = key.public_jwk_value().unwrap();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["x"], "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}

#[test]
fn the_jwks_publishes_signing_and_previous_keys_and_never_a_private_member() {
    let signing = Key::from_private_pem(Algorithm::ES256, &pem("ec256_private")).unwrap();
    let previous = Key::from_private_pem(Algorithm::RS256, &pem("rsa_private")).unwrap();
    let ed = Key::from_private_pem(Algorithm::EdDSA, &pem("ed25519_private")).unwrap();
    let hmac = Key::hmac("h1", Algorithm::HS256, ACCESS_SECRET).unwrap();
    let kids = [
        signing.kid().to_string(),
        previous.kid().to_string(),
        ed.kid().to_string(),
    ];
    let ring = KeyRing::new(signing)
        .with_key(previous)
        .unwrap()
        .with_key(ed)
        .unwrap()
        .with_key(hmac)
        .unwrap();
    let jwks = ring.jwks();
    let keys = jwks["keys"].as_array().unwrap();
    let published: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(published, kids, "signing key first, HMAC key left out");
    for jwk in keys {
        for member in PRIVATE_MEMBERS {
            assert!(jwk.get(member).is_none(), "`{member}` published: {jwk}");
        }
    }
    let text = jwks.to_string();
    assert!(!text.contains("PRIVATE"));
}

#[test]
fn an_hmac_ring_publishes_an_empty_set() {
    let ring = KeyRing::new(Key::hmac("a1", Algorithm::HS256, ACCESS_SECRET).unwrap());
    assert_eq!(ring.jwks(), json!({"keys": []}));
    let clock = Arc::new(ManualClock::at_unix(NOW));
    assert_eq!(service(ring, &clock).jwks(), json!({"keys": []}));
    let hmac = Key::hmac("a1", Algorithm::HS256, ACCESS_SECRET).unwrap();
    assert!(hmac.public_jwk_value().is_none());
    assert!(hmac.thumbprint().is_none());
}

#[test]
fn after_a_rotation_the_service_publishes_both_keys_until_the_old_one_retires() {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let a = Key::from_private_pem(Algorithm::RS256, &pem("rsa_private")).unwrap();
    let b = Key::from_private_pem(Algorithm::RS256, &pem("rsa2_private")).unwrap();
    let (kid_a, kid_b) = (a.kid().to_string(), b.kid().to_string());
    let svc = service(KeyRing::new(a), &clock);
    let old = svc.issue_pair(&alice()).unwrap();
    svc.rotate(b, Key::hmac("r2", Algorithm::HS256, &[3u8; 32]).unwrap())
        .unwrap();
    let kids = |svc: &TokenService| -> Vec<String> {
        svc.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(kids(&svc), [kid_b.clone(), kid_a]);
    assert!(svc.verify_access(&old.access.token).is_ok());
    let new = svc.issue_pair(&alice()).unwrap();
    assert_eq!(header_of(&new.access.token)["kid"], kid_b.as_str());
    clock.advance(Duration::from_secs(900 + 31));
    assert_eq!(kids(&svc), [kid_b]);
}

#[test]
fn a_token_signed_with_an_hs256_secret_is_refused_by_an_rs256_ring() {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let hmac = service(
        KeyRing::new(Key::hmac("a1", Algorithm::HS256, ACCESS_SECRET).unwrap()),
        &clock,
    );
    let rsa_key = Key::from_private_pem(Algorithm::RS256, &pem("rsa_private")).unwrap();
    let rsa_kid = rsa_key.kid().to_string();
    let rsa = service(KeyRing::new(rsa_key), &clock);

    // A genuine HS256 token of another service: its kid is unknown here.
    let token = hmac.issue_pair(&alice()).unwrap().access.token;
    assert!(matches!(
        rsa.verify_access(&token),
        Err(TokenError::UnknownKey)
    ));
    // The same secret, naming the RSA key's kid: the alg is not the key's own.
    let forged = forge(
        &json!({"alg": "HS256", "typ": "at+jwt", "kid": rsa_kid}),
        &valid_claims(),
        ACCESS_SECRET,
    );
    assert!(matches!(
        rsa.verify_access(&forged),
        Err(TokenError::AlgorithmNotAllowed)
    ));
}

#[test]
fn the_rsa_public_key_cannot_be_used_as_an_hmac_secret() {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let key = Key::from_private_pem(Algorithm::RS256, &pem("rsa_private")).unwrap();
    let kid = key.kid().to_string();
    let jwk = key.public_jwk_value().unwrap();
    let svc = service(KeyRing::new(key), &clock);
    // The classic confusion: HMAC keyed with what the attacker can read (the public PEM,
    // the JWK's modulus, the JWKS document itself).
    let public_pem = pem("rsa_public");
    let modulus = B64.decode(jwk["n"].as_str().unwrap()).unwrap();
    let document = svc.jwks().to_string().into_bytes();
    for secret in [public_pem, modulus, document] {
        let forged = forge(
            &json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}),
            &valid_claims(),
            &secret,
        );
        assert!(matches!(
            svc.verify_access(&forged),
            Err(TokenError::AlgorithmNotAllowed)
        ));
    }
}

#[test]
fn from_private_pem_refuses_with_a_typed_error() {
    let hmac = Key::from_private_pem(Algorithm::HS256, &pem("rsa_private"));
    assert!(matches!(
        hmac,
        Err(ConfigError::HmacAlgorithmForPrivateKey { alg: "HS256" })
    ));
    let cases: [(Algorithm, &str, &str); 6] = [
        (Algorithm::RS256, "ec256_private", "an EC P-256 key"),
        (Algorithm::PS256, "ed25519_private", "an Ed25519 key"),
        (Algorithm::ES256, "ec384_private", "an EC P-384 key"),
        (Algorithm::ES384, "ec256_private", "an EC P-256 key"),
        (Algorithm::EdDSA, "rsa_private", "an RSA key"),
        (
            Algorithm::RS256,
            "rsa1024_private",
            "an RSA key under 2048 bits",
        ),
    ];
    for (alg, name, want) in cases {
        match Key::from_private_pem(alg, &pem(name)) {
            Err(ConfigError::WrongKeyType { found, .. }) => assert_eq!(found, want, "{alg:?}"),
            other => panic!("{alg:?} with {name}: {other:?}"),
        }
    }
    for bad in [
        b"not a pem".as_slice(),
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        &pem("rsa_public"),
        &pem("ec256_public"),
    ] {
        let err = Key::from_private_pem(Algorithm::ES256, bad).unwrap_err();
        assert!(
            matches!(err, ConfigError::BadPrivateKeyPem { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("openssl genpkey"), "{err}");
    }
}

#[test]
fn the_jwks_endpoint_answers_the_set_with_a_public_cache_control() {
    let users = Arc::new(crate::credential::MemoryUsers::new());
    let hmac = crate::AuthBuilder::new(&[1; 32], &[2; 32])
        .users(users.clone())
        .build()
        .unwrap();
    let reply = hmac.jwks_endpoint();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.header_value("cache-control"),
        Some("public, max-age=300")
    );
    assert_eq!(
        serde_json::from_str::<Value>(reply.body()).unwrap(),
        json!({"keys": []})
    );

    let key = Key::from_private_pem(Algorithm::EdDSA, &pem("ed25519_private")).unwrap();
    let kid = key.kid().to_string();
    let ed = crate::AuthBuilder::new(&[1; 32], &[2; 32])
        .key_rings(KeyRing::new(key), refresh_ring())
        .users(users)
        .build()
        .unwrap();
    let reply = ed.jwks_endpoint();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.header_value("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(reply.body()).unwrap();
    assert_eq!(body["keys"][0]["kid"], kid.as_str());
    assert_eq!(body["keys"].as_array().unwrap().len(), 1);
}

#[test]
fn a_previous_key_verifies_from_its_public_pem_or_its_private_pem_without_signing() {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    for (alg, private, public) in [
        (Algorithm::RS256, "rsa_private", "rsa_public"),
        (Algorithm::ES256, "ec256_private", "ec256_public"),
        (Algorithm::EdDSA, "ed25519_private", "ed25519_public"),
    ] {
        let signer = Key::from_private_pem(alg, &pem(private)).unwrap();
        let from_public = Key::from_public_pem(alg, &pem(public)).unwrap();
        let stripped = signer.to_verify_only();
        assert_eq!(from_public.kid(), signer.kid(), "{alg:?}");
        assert_eq!(stripped.kid(), signer.kid());
        assert!(!from_public.can_sign() && !stripped.can_sign());
        assert_eq!(from_public.public_jwk_value(), signer.public_jwk_value());

        let token = service(KeyRing::new(signer), &clock)
            .issue_pair(&alice())
            .unwrap()
            .access
            .token;
        let new = Key::hmac("new", Algorithm::HS256, ACCESS_SECRET).unwrap();
        for previous in [from_public, stripped] {
            let ring = KeyRing::new(new.clone()).with_key(previous).unwrap();
            let svc = service(ring, &clock);
            assert!(svc.verify_access(&token).is_ok(), "{alg:?}");
        }
    }
    assert!(matches!(
        Key::from_public_pem(Algorithm::ES256, &pem("rsa_public")),
        Err(ConfigError::InvalidKey { .. })
    ));
}
