//! The fake issuer itself: its documents, rotation, outages, counters, and that every
//! token it mints verifies (or fails) with jsonwebtoken as intended.

use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Value, json};

use super::*;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn get_json(url: &str) -> (reqwest::StatusCode, Option<String>, Value) {
    let r = client().get(url).send().await.unwrap();
    let status = r.status();
    let cache = r
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string());
    let body = r.json().await.unwrap_or(Value::Null);
    (status, cache, body)
}

/// The JWKS as served.
async fn served_keys(idp: &FakeIdp) -> Vec<Value> {
    let (status, _, body) = get_json(&idp.jwks_uri()).await;
    assert_eq!(status, 200);
    body["keys"].as_array().unwrap().clone()
}

async fn served_key(idp: &FakeIdp, kid: &str) -> DecodingKey {
    let keys = served_keys(idp).await;
    let jwk = keys.iter().find(|k| k["kid"] == kid).unwrap();
    let jwk: Jwk = serde_json::from_value(jwk.clone()).unwrap();
    DecodingKey::from_jwk(&jwk).unwrap()
}

fn validation(idp: &FakeIdp, alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.set_audience(&[AUDIENCE]);
    v.set_issuer(&[&idp.issuer]);
    v.leeway = 60;
    v.validate_nbf = true;
    v
}

fn segments(token: &str) -> (Value, Value, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let json = |s: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap();
    (json(parts[0]), json(parts[1]), parts[2].to_string())
}

/// The signature verifies over the signing input with `key` by `alg`.
fn signature_verifies(token: &str, key: &DecodingKey, alg: Algorithm) -> bool {
    let (message, sig) = token.rsplit_once('.').unwrap();
    jsonwebtoken::crypto::verify(sig, message.as_bytes(), key, alg).unwrap_or(false)
}

#[tokio::test]
async fn discovery_names_the_issuer_and_its_jwks() {
    let idp = FakeIdp::start().await;
    assert!(idp.issuer.starts_with("http://127.0.0.1:"));
    assert!(!idp.issuer.ends_with('/'));
    let (status, cache, doc) = get_json(&idp.discovery_url()).await;
    assert_eq!(status, 200);
    assert_eq!(cache.as_deref(), Some("public, max-age=300"));
    assert_eq!(doc["issuer"], idp.issuer);
    assert_eq!(doc["jwks_uri"], idp.jwks_uri());
    assert_eq!(idp.discovery_fetches(), 1);
    assert_eq!(idp.jwks_fetches(), 0);

    let (status, cache, jwks) = get_json(&idp.jwks_uri()).await;
    assert_eq!(status, 200);
    assert_eq!(cache.as_deref(), Some("public, max-age=300"));
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["rs256-1", "ps256-1", "es256-1", "eddsa-1"]);
    assert_eq!(idp.jwks_fetches(), 1);
    for key in jwks["keys"].as_array().unwrap() {
        assert_eq!(key["use"], "sig");
        assert!(key.get("d").is_none() && key.get("p").is_none(), "{key}");
    }
    let by_kid = |kid: &str| {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()
            .clone()
    };
    assert_eq!(by_kid("rs256-1")["kty"], "RSA");
    assert_eq!(by_kid("rs256-1")["alg"], "RS256");
    assert_eq!(by_kid("ps256-1")["alg"], "PS256");
    assert_eq!(by_kid("es256-1")["kty"], "EC");
    assert_eq!(by_kid("es256-1")["crv"], "P-256");
    assert_eq!(by_kid("eddsa-1")["kty"], "OKP");
    assert_eq!(by_kid("eddsa-1")["crv"], "Ed25519");
    assert_eq!(by_kid("eddsa-1")["alg"], "EdDSA");

    idp.set_max_age(Some(1));
    assert_eq!(
        get_json(&idp.jwks_uri()).await.1.as_deref(),
        Some("public, max-age=1")
    );
    idp.set_max_age(None);
    assert_eq!(get_json(&idp.discovery_url()).await.1, None);
    assert_eq!(idp.discovery_fetches(), 2);
    assert_eq!(idp.jwks_fetches(), 2);
    assert_eq!(
        trusted_env(&[&idp.issuer, "http://127.0.0.1:1"]),
        vec![
            (
                "AUTH_TRUSTED_ISSUERS".to_string(),
                format!("{},http://127.0.0.1:1", idp.issuer)
            ),
            ("AUTH_TRUSTED_AUDIENCE".to_string(), AUDIENCE.to_string()),
        ]
    );
}

#[tokio::test]
async fn minted_tokens_verify_against_the_served_jwks() {
    let idp = FakeIdp::start().await;
    for alg in ALGORITHMS {
        let kid = idp.kid(alg);
        let token = idp.token(
            alg,
            "ext-user",
            &json!({"roles": ["editor"], "scope": "read write", "nbf": null}),
        );
        let (header, claims, _) = segments(&token);
        assert_eq!(
            header,
            json!({"alg": alg_name(alg), "typ": "JWT", "kid": kid})
        );
        assert!(claims.get("nbf").is_none(), "null removes a claim");
        let data = jsonwebtoken::decode::<Value>(
            &token,
            &served_key(&idp, &kid).await,
            &validation(&idp, alg),
        )
        .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(data.claims["sub"], "ext-user");
        assert_eq!(data.claims["iss"], idp.issuer);
        assert_eq!(data.claims["aud"], AUDIENCE);
        assert_eq!(data.claims["roles"], json!(["editor"]));
        assert_eq!(data.header.kid.as_deref(), Some(kid.as_str()));
    }
    // mint() with explicit claims and kid.
    let claims = json!({"iss": idp.issuer, "aud": [AUDIENCE, "other"], "sub": "x",
        "exp": now() + 60});
    let token = idp.mint(&claims, Algorithm::ES256, "es256-1");
    let data = jsonwebtoken::decode::<Value>(
        &token,
        &served_key(&idp, "es256-1").await,
        &validation(&idp, Algorithm::ES256),
    )
    .unwrap();
    assert_eq!(data.claims, claims);
}

#[tokio::test]
async fn two_providers_publish_the_same_kids_for_different_keys() {
    let (a, b) = (FakeIdp::start().await, FakeIdp::start().await);
    assert_eq!(a.kid(Algorithm::RS256), b.kid(Algorithm::RS256));
    assert_ne!(a.jwk("rs256-1")["n"], b.jwk("rs256-1")["n"]);
    let token = b.token(Algorithm::RS256, "u", &json!({}));
    let mut v = validation(&a, Algorithm::RS256);
    v.iss = None;
    let err =
        jsonwebtoken::decode::<Value>(&token, &served_key(&a, "rs256-1").await, &v).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidSignature);
}

#[tokio::test]
async fn each_attack_fails_as_intended() {
    let idp = FakeIdp::start().await;
    let rs = idp.kid(Algorithm::RS256);
    let rs_key = served_key(&idp, &rs).await;
    let es_key = served_key(&idp, "es256-1").await;
    let published = idp.published_kids();
    for attack in Attack::ALL {
        let token = idp.attack(attack, "attacker");
        let (header, claims, sig) = segments(&token);
        let kid = header["kid"].as_str().unwrap().to_string();
        let rs256 =
            || jsonwebtoken::decode::<Value>(&token, &rs_key, &validation(&idp, Algorithm::RS256));
        match attack {
            Attack::HmacWithThePublicKeyPem => {
                assert_eq!(header["alg"], "HS256");
                assert_eq!(kid, rs);
                let pem = idp.public_key_pem(&rs);
                assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
                // The PEM is the RSA key's: jsonwebtoken reads it back as that key.
                let from_pem = DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
                let honest = idp.token(Algorithm::RS256, "u", &json!({}));
                assert!(signature_verifies(&honest, &from_pem, Algorithm::RS256));
                // A server that took the PEM as an HMAC secret would accept it.
                let hmac = DecodingKey::from_secret(pem.as_bytes()).unwrap();
                jsonwebtoken::decode::<Value>(&token, &hmac, &validation(&idp, Algorithm::HS256))
                    .unwrap();
                assert!(rs256().is_err());
            }
            Attack::AlgDisagreesWithTheKey => {
                assert_eq!(header["alg"], "RS256");
                assert_eq!(kid, "es256-1");
                assert!(signature_verifies(&token, &es_key, Algorithm::ES256));
                let mut v = validation(&idp, Algorithm::RS256);
                v.algorithms = vec![Algorithm::RS256];
                assert!(jsonwebtoken::decode::<Value>(&token, &es_key, &v).is_err());
            }
            Attack::PssHeaderOnAnRs256Key => {
                assert_eq!(header["alg"], "PS256");
                assert_eq!(kid, rs);
                assert_eq!(idp.jwk(&rs)["alg"], "RS256");
                // A valid PSS signature by the RS256 key: only the alg check refuses it.
                jsonwebtoken::decode::<Value>(&token, &rs_key, &validation(&idp, Algorithm::PS256))
                    .unwrap();
                assert_eq!(rs256().unwrap_err().kind(), &ErrorKind::InvalidAlgorithm);
            }
            Attack::AlgNone => {
                assert_eq!(header["alg"], "none");
                assert!(sig.is_empty());
                assert!(jsonwebtoken::decode_header(&token).is_err());
            }
            Attack::UnknownKid => {
                assert!(!published.contains(&kid), "{kid}");
                assert!(signature_verifies(&token, &rs_key, Algorithm::RS256));
                let (h2, _, _) = segments(&idp.attack(attack, "attacker"));
                assert_ne!(h2["kid"], header["kid"], "each unknown kid is new");
            }
            Attack::ForeignSignature => {
                assert_eq!(kid, rs);
                assert_eq!(rs256().unwrap_err().kind(), &ErrorKind::InvalidSignature);
            }
            Attack::WrongIssuer | Attack::IssuerWithTrailingSlash => {
                assert_ne!(claims["iss"], idp.issuer);
                assert_eq!(rs256().unwrap_err().kind(), &ErrorKind::InvalidIssuer);
            }
            Attack::WrongAudience => {
                assert_eq!(rs256().unwrap_err().kind(), &ErrorKind::InvalidAudience);
            }
            Attack::MissingExp => {
                assert!(claims.get("exp").is_none());
                assert_eq!(
                    rs256().unwrap_err().kind(),
                    &ErrorKind::MissingRequiredClaim("exp".into())
                );
            }
            Attack::Expired => {
                assert_eq!(rs256().unwrap_err().kind(), &ErrorKind::ExpiredSignature);
            }
            Attack::NotYetValid => {
                assert_eq!(rs256().unwrap_err().kind(), &ErrorKind::ImmatureSignature);
            }
            Attack::IssuedInTheFuture => {
                // jsonwebtoken does not check `iat`: the signature and the rest hold.
                rs256().unwrap();
                assert!(claims["iat"].as_u64().unwrap() > now() + 60);
            }
        }
        if !matches!(
            attack,
            Attack::HmacWithThePublicKeyPem
                | Attack::AlgDisagreesWithTheKey
                | Attack::PssHeaderOnAnRs256Key
                | Attack::AlgNone
                | Attack::UnknownKid
        ) {
            assert_eq!(header["alg"], "RS256", "{attack:?}");
            assert_eq!(kid, rs, "{attack:?}");
        }
    }
}

#[tokio::test]
async fn rotation_publishes_the_new_key_and_retires_the_old() {
    let idp = FakeIdp::start().await;
    let old = idp.kid(Algorithm::RS256);
    let old_key = served_key(&idp, &old).await;
    let new = idp.rotate(Algorithm::RS256);
    assert_eq!(new, "rs256-2");
    assert_eq!(idp.kid(Algorithm::RS256), new);
    let kids: Vec<String> = served_keys(&idp)
        .await
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert!(kids.contains(&new) && !kids.contains(&old), "{kids:?}");
    assert_eq!(kids, idp.published_kids());
    let token = idp.token(Algorithm::RS256, "u", &json!({}));
    assert_eq!(segments(&token).0["kid"], new);
    jsonwebtoken::decode::<Value>(
        &token,
        &served_key(&idp, &new).await,
        &validation(&idp, Algorithm::RS256),
    )
    .unwrap();
    // The retired key still signs, under its old kid, with its old key material.
    let retired = idp.mint(&idp.claims("u"), Algorithm::RS256, &old);
    jsonwebtoken::decode::<Value>(&retired, &old_key, &validation(&idp, Algorithm::RS256)).unwrap();
    // add_key alone keeps both published.
    let extra = idp.add_key(Algorithm::ES256);
    assert_eq!(extra, "es256-2");
    let kids = idp.published_kids();
    assert!(kids.contains(&"es256-1".to_string()) && kids.contains(&extra));
    idp.retire_key("es256-1");
    assert!(!idp.published_kids().contains(&"es256-1".to_string()));
}

#[tokio::test]
async fn outages_answer_503_or_close_the_connection() {
    let idp = FakeIdp::start().await;
    // A pooled connection opened before the outage.
    let pooled = reqwest::Client::new();
    assert_eq!(
        pooled.get(idp.jwks_uri()).send().await.unwrap().status(),
        200
    );

    idp.set_outage(Outage::Unavailable);
    assert_eq!(get_json(&idp.discovery_url()).await.0, 503);
    assert_eq!(get_json(&idp.jwks_uri()).await.0, 503);
    assert_eq!((idp.discovery_fetches(), idp.jwks_fetches()), (1, 2));

    idp.set_outage(Outage::Closed);
    for url in [idp.discovery_url(), idp.jwks_uri()] {
        assert!(client().get(&url).send().await.is_err(), "{url} answered");
    }
    assert!(pooled.get(idp.jwks_uri()).send().await.is_err());
    assert_eq!((idp.discovery_fetches(), idp.jwks_fetches()), (1, 2));

    idp.set_outage(Outage::None);
    assert_eq!(get_json(&idp.discovery_url()).await.0, 200);
    assert_eq!(get_json(&idp.jwks_uri()).await.0, 200);
    assert_eq!(
        pooled.get(idp.jwks_uri()).send().await.unwrap().status(),
        200
    );
    assert_eq!((idp.discovery_fetches(), idp.jwks_fetches()), (2, 4));
}

#[tokio::test]
async fn a_jwks_delay_slows_the_answer_and_counts_at_once() {
    let idp = FakeIdp::start().await;
    idp.set_jwks_delay(Duration::from_millis(300));
    let started = Instant::now();
    let url = idp.jwks_uri();
    let fetch = tokio::spawn(async move { client().get(url).send().await.unwrap().status() });
    let deadline = Instant::now() + Duration::from_secs(2);
    while idp.jwks_fetches() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(idp.jwks_fetches(), 1, "counted on arrival");
    assert_eq!(fetch.await.unwrap(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn merge_adds_and_removes() {
    let mut claims = json!({"a": 1, "b": 2});
    merge(&mut claims, &json!({"b": null, "c": [3]}));
    assert_eq!(claims, json!({"a": 1, "c": [3]}));
}
