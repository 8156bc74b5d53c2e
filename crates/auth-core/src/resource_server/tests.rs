//! Each refusal and each cache rule of resource-server mode, against an in-process
//! identity provider behind the `HttpClient` extension point (discovery, a JWKS with
//! `Cache-Control`, an outage switch and fetch counters).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::keys::ttl;
use super::*;
use crate::clock::ManualClock;
use crate::third_party::{HttpClientError, OutboundRequest, OutboundResponse};

const ISS: &str = "https://idp.example/realms/acme";
const AUD: &str = "orders-api";
const NOW: u64 = 1_800_000_000;

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/testdata/keys/{name}.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

struct Signer {
    kid: &'static str,
    alg: Algorithm,
    key: EncodingKey,
}

fn rsa() -> Signer {
    Signer {
        kid: "rsa-1",
        alg: Algorithm::RS256,
        key: EncodingKey::from_rsa_pem(&pem("rsa_private")).unwrap(),
    }
}
fn ec() -> Signer {
    Signer {
        kid: "ec-1",
        alg: Algorithm::ES256,
        key: EncodingKey::from_ec_pem(&pem("ec256_private")).unwrap(),
    }
}
fn ed() -> Signer {
    Signer {
        kid: "ed-1",
        alg: Algorithm::EdDSA,
        key: EncodingKey::from_ed_pem(&pem("ed25519_private")).unwrap(),
    }
}
fn rsa2() -> Signer {
    Signer {
        kid: "rsa-2",
        alg: Algorithm::RS256,
        key: EncodingKey::from_rsa_pem(&pem("rsa2_private")).unwrap(),
    }
}

fn jwk(s: &Signer) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(&s.key, s.alg).unwrap();
    jwk.common.key_id = Some(s.kid.into());
    jwk
}

/// The provider: discovery and JWKS, both counted, with an outage switch.
#[derive(Debug, Default)]
struct Idp {
    jwks: Mutex<Vec<Value>>,
    cache_control: Mutex<String>,
    down: AtomicBool,
    discovery_fetches: AtomicUsize,
    jwks_fetches: AtomicUsize,
}

impl Idp {
    fn with(keys: &[&Signer]) -> Arc<Self> {
        let idp = Arc::new(Idp::default());
        idp.publish(keys);
        *idp.cache_control.lock().unwrap() = "public, max-age=300".into();
        idp
    }
    fn publish(&self, keys: &[&Signer]) {
        *self.jwks.lock().unwrap() = keys
            .iter()
            .map(|s| serde_json::to_value(jwk(s)).unwrap())
            .collect();
    }
    fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl HttpClient for Idp {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, HttpClientError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(HttpClientError("connection refused".into()));
        }
        let (body, headers) = if request.url == format!("{ISS}/.well-known/openid-configuration") {
            self.discovery_fetches.fetch_add(1, Ordering::SeqCst);
            (
                json!({"issuer": ISS, "jwks_uri": format!("{ISS}/certs")}),
                vec![],
            )
        } else if request.url == format!("{ISS}/certs") {
            self.jwks_fetches.fetch_add(1, Ordering::SeqCst);
            (
                json!({"keys": *self.jwks.lock().unwrap()}),
                vec![(
                    "cache-control".to_string(),
                    self.cache_control.lock().unwrap().clone(),
                )],
            )
        } else {
            return Ok(OutboundResponse {
                status: 404,
                headers: vec![],
                body: vec![],
            });
        };
        Ok(OutboundResponse {
            status: 200,
            headers,
            body: serde_json::to_vec(&body).unwrap(),
        })
    }
}

fn claims() -> Value {
    json!({
        "iss": ISS, "aud": AUD, "sub": "f:123", "exp": NOW + 300, "iat": NOW, "nbf": NOW,
        "realm_access": {"roles": ["admin"]}, "scp": ["orders:read", "orders:write"],
        "email": "dana@acme.example",
    })
}

fn mint(s: &Signer, claims: &Value) -> String {
    let mut header = Header::new(s.alg);
    header.kid = Some(s.kid.into());
    jsonwebtoken::encode(&header, claims, &s.key).unwrap()
}

fn verifier(idp: &Arc<Idp>, clock: &Arc<ManualClock>) -> TrustedIssuers {
    TrustedIssuers::new(
        vec![
            TrustedIssuer::new(ISS, AUD)
                .unwrap()
                .roles_claim("realm_access.roles"),
        ],
        idp.clone(),
        clock.clone(),
    )
    .unwrap()
}

fn setup(keys: &[&Signer]) -> (Arc<Idp>, Arc<ManualClock>, TrustedIssuers) {
    let idp = Idp::with(keys);
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let v = verifier(&idp, &clock);
    (idp, clock, v)
}

fn refused(result: Result<Arc<ExternalClaims>, AuthError>, want: TokenError) {
    match result {
        Err(AuthError::InvalidToken(got)) => assert_eq!(got, want),
        other => panic!("expected {want:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn rs256_es256_and_eddsa_tokens_verify_with_roles_and_scopes() {
    let (r, e, d) = (rsa(), ec(), ed());
    let (_, _, v) = setup(&[&r, &e, &d]);
    for s in [&r, &e, &d] {
        let c = v.verify(&mint(s, &claims())).await.unwrap();
        assert_eq!(c.iss, ISS);
        assert_eq!(c.sub, "f:123");
        assert_eq!(c.roles, ["admin"]);
        assert_eq!(c.scopes, ["orders:read", "orders:write"]);
        assert_eq!(c.email.as_deref(), Some("dana@acme.example"));
    }
    let mut space_scopes = claims();
    space_scopes["scope"] = json!("a b");
    assert_eq!(
        v.verify(&mint(&r, &space_scopes)).await.unwrap().scopes,
        ["a", "b"]
    );
}

#[tokio::test]
async fn no_role_the_issuer_did_not_grant() {
    let r = rsa();
    let (_, _, v) = setup(&[&r]);
    let mut c = claims();
    c.as_object_mut().unwrap().remove("realm_access");
    c["roles"] = json!(["admin"]); // not the configured claim path
    assert!(v.verify(&mint(&r, &c)).await.unwrap().roles.is_empty());
}

#[tokio::test]
async fn a_namespaced_roles_claim_is_read_whole() {
    let r = rsa();
    let idp = Idp::with(&[&r]);
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let v = TrustedIssuers::new(
        vec![
            TrustedIssuer::new(ISS, AUD)
                .unwrap()
                .roles_claim("https://acme.example/roles"),
        ],
        idp,
        clock,
    )
    .unwrap();
    let mut c = claims();
    c["https://acme.example/roles"] = json!(["editor"]);
    assert_eq!(v.verify(&mint(&r, &c)).await.unwrap().roles, ["editor"]);
}

#[tokio::test]
async fn the_rsa_key_as_an_hmac_secret_is_refused() {
    let r = rsa();
    let (_, _, v) = setup(&[&r]);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(r.kid.into());
    let forged = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(&pem("rsa_public")).unwrap(),
    )
    .unwrap();
    refused(v.verify(&forged).await, TokenError::AlgorithmNotAllowed);
}

#[tokio::test]
async fn the_header_alg_must_fit_the_jwk() {
    let (r, e) = (rsa(), ec());
    let (_, _, v) = setup(&[&r, &e]);
    // An ES384 token under the P-256 key's kid.
    let es384 = Signer {
        kid: "ec-1",
        alg: Algorithm::ES384,
        key: EncodingKey::from_ec_pem(&pem("ec384_private")).unwrap(),
    };
    refused(
        v.verify(&mint(&es384, &claims())).await,
        TokenError::AlgorithmNotAllowed,
    );
    // PS256 with the RSA key whose JWK says RS256.
    let ps = Signer {
        kid: "rsa-1",
        alg: Algorithm::PS256,
        key: EncodingKey::from_rsa_pem(&pem("rsa_private")).unwrap(),
    };
    refused(
        v.verify(&mint(&ps, &claims())).await,
        TokenError::AlgorithmNotAllowed,
    );
    // An RSA signature under the EC key's kid.
    let cross = Signer {
        kid: "ec-1",
        ..rsa()
    };
    refused(
        v.verify(&mint(&cross, &claims())).await,
        TokenError::AlgorithmNotAllowed,
    );
}

#[tokio::test]
async fn a_symmetric_jwk_is_never_used() {
    let r = rsa();
    let idp = Idp::with(&[&r]);
    idp.jwks.lock().unwrap().push(json!({"kty": "oct", "kid": "oct-1", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}));
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let v = verifier(&idp, &clock);
    let hs = Signer {
        kid: "oct-1",
        alg: Algorithm::HS256,
        key: EncodingKey::from_secret(b"secret-secret-secret-secret-secret").unwrap(),
    };
    refused(
        v.verify(&mint(&hs, &claims())).await,
        TokenError::AlgorithmNotAllowed,
    );
}

#[tokio::test]
async fn audience_issuer_signature_and_required_claims() {
    let (r, r2) = (rsa(), rsa2());
    let (_, _, v) = setup(&[&r]);
    let mut c = claims();
    c["aud"] = json!("another-api");
    refused(v.verify(&mint(&r, &c)).await, TokenError::WrongAudience);
    let mut c = claims();
    c["iss"] = json!(format!("{ISS}/"));
    assert!(
        v.issuer_of(&mint(&r, &c)).is_none(),
        "iss is matched exactly"
    );
    refused(v.verify(&mint(&r, &c)).await, TokenError::WrongIssuer);
    let forged = Signer { kid: "rsa-1", ..r2 };
    refused(
        v.verify(&mint(&forged, &claims())).await,
        TokenError::BadSignature,
    );
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    refused(v.verify(&mint(&r, &c)).await, TokenError::MissingClaim);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    header.jku = Some("https://evil.example/jwks".into());
    let jku = jsonwebtoken::encode(&header, &claims(), &r.key).unwrap();
    refused(v.verify(&jku).await, TokenError::UnsupportedHeader);
    refused(v.verify("a.b.c").await, TokenError::WrongIssuer);
}

#[tokio::test]
async fn time_rules_on_the_injected_clock_with_60_s_leeway() {
    let r = rsa();
    let (_, clock, v) = setup(&[&r]);
    let token = mint(&r, &claims());
    clock.advance(Duration::from_secs(300 + 59));
    v.verify(&token).await.unwrap();
    clock.advance(Duration::from_secs(1));
    refused(v.verify(&token).await, TokenError::Expired);
    let mut c = claims();
    c["nbf"] = json!(NOW + 10_000);
    c["exp"] = json!(NOW + 20_000);
    refused(v.verify(&mint(&r, &c)).await, TokenError::NotYetValid);
    let mut c = claims();
    c["iat"] = json!(NOW + 10_000);
    c["exp"] = json!(NOW + 20_000);
    refused(v.verify(&mint(&r, &c)).await, TokenError::IssuedInFuture);
}

#[tokio::test]
async fn unknown_kids_refetch_once_per_30_s_in_a_single_flight() {
    let r = rsa();
    let (idp, clock, v) = setup(&[&r]);
    v.verify(&mint(&r, &claims())).await.unwrap();
    assert_eq!(idp.fetches(), 1);
    let v = Arc::new(v);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let v = v.clone();
        let made_up = Signer {
            kid: Box::leak(format!("made-up-{i}").into_boxed_str()),
            ..rsa()
        };
        tasks.push(tokio::spawn(async move {
            v.verify(&mint(&made_up, &claims())).await
        }));
    }
    for t in tasks {
        assert!(matches!(
            t.await.unwrap(),
            Err(AuthError::InvalidToken(TokenError::UnknownKey))
        ));
    }
    assert_eq!(idp.fetches(), 2, "50 made-up kids: one refetch");
    clock.advance(Duration::from_secs(29));
    let late = Signer {
        kid: "made-up-late",
        ..rsa()
    };
    refused(
        v.verify(&mint(&late, &claims())).await,
        TokenError::UnknownKey,
    );
    assert_eq!(idp.fetches(), 2);
    clock.advance(Duration::from_secs(1));
    refused(
        v.verify(&mint(&late, &claims())).await,
        TokenError::UnknownKey,
    );
    assert_eq!(idp.fetches(), 3);
}

#[tokio::test]
async fn a_key_rotated_in_is_found_by_one_refetch() {
    let (r, r2) = (rsa(), rsa2());
    let (idp, _, v) = setup(&[&r]);
    assert!(
        v.prefetch()
            .await
            .iter()
            .all(|(_, failed)| failed.is_none())
    );
    idp.publish(&[&r, &r2]);
    v.verify(&mint(&r2, &claims())).await.unwrap();
    assert_eq!(idp.fetches(), 2);
}

#[tokio::test]
async fn an_outage_keeps_the_cached_keys() {
    let r = rsa();
    let (idp, clock, v) = setup(&[&r]);
    v.prefetch().await;
    idp.down.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(3_600));
    let mut c = claims();
    c["exp"] = json!(NOW + 7_200);
    v.verify(&mint(&r, &c)).await.unwrap();
    // A refresh fails in the background; the keys stay.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut c2 = c.clone();
    c2["jti"] = json!("another");
    v.verify(&mint(&r, &c2)).await.unwrap();
}

#[tokio::test]
async fn an_issuer_never_reached_fails_closed_with_503() {
    let r = rsa();
    let (idp, clock, v) = setup(&[&r]);
    idp.down.store(true, Ordering::SeqCst);
    assert!(
        v.prefetch()
            .await
            .iter()
            .all(|(_, failed)| failed.is_some())
    );
    let token = mint(&r, &claims());
    assert!(matches!(
        v.verify(&token).await,
        Err(AuthError::IssuerUnavailable)
    ));
    assert_eq!(AuthError::IssuerUnavailable.to_response().status, 503);
    // Back up: the next attempt (30 s later) fetches and the token verifies.
    idp.down.store(false, Ordering::SeqCst);
    assert!(matches!(
        v.verify(&token).await,
        Err(AuthError::IssuerUnavailable)
    ));
    clock.advance(Duration::from_secs(30));
    v.verify(&token).await.unwrap();
}

#[tokio::test]
async fn verified_tokens_are_served_from_the_cache_with_the_time_rules_again() {
    let r = rsa();
    let (idp, clock, v) = setup(&[&r]);
    let token = mint(&r, &claims());
    let first = v.verify(&token).await.unwrap();
    idp.down.store(true, Ordering::SeqCst);
    assert!(Arc::ptr_eq(&first, &v.verify(&token).await.unwrap()));
    clock.advance(Duration::from_secs(360));
    refused(v.verify(&token).await, TokenError::Expired);
}

#[test]
fn cache_control_is_bounded_to_a_minute_and_a_day() {
    assert_eq!(ttl(Some("public, max-age=1")), 60);
    assert_eq!(ttl(Some("max-age=3600")), 3_600);
    assert_eq!(ttl(Some("max-age=9999999")), 86_400);
    assert_eq!(ttl(Some("no-store")), 60);
    assert_eq!(ttl(Some("max-age=junk")), 600);
    assert_eq!(ttl(None), 600);
}

#[test]
fn issuers_are_https_or_loopback_and_audiences_are_named() {
    assert!(TrustedIssuer::new("http://idp.example", AUD).is_err());
    assert!(TrustedIssuer::new("http://127.0.0.1:8080/realms/x", AUD).is_ok());
    assert!(TrustedIssuer::new("ftp://idp.example", AUD).is_err());
    assert!(TrustedIssuer::new(ISS, " ").is_err());
    assert_eq!(
        TrustedIssuer::new(ISS, AUD)
            .unwrap()
            .leeway_secs(600)
            .leeway_secs,
        60
    );
    let twice = vec![
        TrustedIssuer::new(ISS, AUD).unwrap(),
        TrustedIssuer::new(ISS, "x").unwrap(),
    ];
    let clock = Arc::new(ManualClock::at_unix(NOW));
    assert!(TrustedIssuers::new(twice, Idp::with(&[]), clock).is_err());
}

#[test]
fn jwks_of_the_provider_parse() {
    let set: JwkSet =
        serde_json::from_value(json!({"keys": [serde_json::to_value(jwk(&rsa())).unwrap()]}))
            .unwrap();
    assert_eq!(set.keys.len(), 1);
}

#[tokio::test]
async fn guards_work_on_external_principals_and_own_tokens_still_pass() {
    use crate::adapter::SimpleRequest;
    use crate::policy::Requirement;
    use crate::{Guard, Principal};
    let r = rsa();
    let idp = Idp::with(&[&r]);
    let auth = crate::AuthBuilder::new(&[1; 32], &[2; 32])
        .users(Arc::new(crate::credential::MemoryUsers::new()))
        .clock(Arc::new(ManualClock::at_unix(NOW)))
        .trusted_issuers(
            vec![
                TrustedIssuer::new(ISS, AUD)
                    .unwrap()
                    .roles_claim("realm_access.roles"),
            ],
            idp,
        )
        .build()
        .unwrap();
    let with =
        |token: &str| SimpleRequest::new().header("authorization", format!("Bearer {token}"));
    let admin = mint(&r, &claims());
    let principal = auth.principal(&with(&admin)).await.unwrap();
    assert!(matches!(&principal, Principal::External(c) if c.sub == "f:123"));
    assert_eq!(principal.issuer(), Some(ISS));
    let admins = Guard::Require(Requirement::any_role(["admin"]));
    assert!(auth.guard(&with(&admin), &admins).await.is_ok());
    let scoped = Guard::Scopes(vec!["orders:write".into()]);
    assert!(auth.guard(&with(&admin), &scoped).await.is_ok());
    let mut viewer = claims();
    viewer["realm_access"] = json!({"roles": ["viewer"]});
    viewer["scp"] = json!([]);
    let viewer = mint(&r, &viewer);
    assert!(matches!(
        auth.guard(&with(&viewer), &admins).await,
        Err(AuthError::Forbidden { .. })
    ));
    assert!(matches!(
        auth.guard(&with(&viewer), &scoped).await,
        Err(AuthError::InsufficientScope { .. })
    ));
    // The external subject never reads a local user.
    assert!(matches!(
        auth.user_of(&principal).await,
        Err(AuthError::Forbidden { .. })
    ));
    // The app's own tokens still verify beside the issuer's.
    let own = auth
        .tokens()
        .tokens()
        .issue_pair(&crate::token::Subject::new("7").with_roles(["viewer"]))
        .unwrap()
        .access
        .token;
    assert!(matches!(
        auth.principal(&with(&own)).await.unwrap(),
        Principal::Bearer(_)
    ));
    // Both caches are asked with the header's bytes first; each kind stays its own, and
    // the header rules hold for a cached token too.
    let Principal::External(first) = principal else {
        panic!("an external principal")
    };
    for value in [format!("Bearer {admin}"), format!("bearer  {admin} ")] {
        let again = SimpleRequest::new().header("authorization", value.clone());
        match auth.principal(&again).await.unwrap() {
            Principal::External(c) => assert!(Arc::ptr_eq(&c, &first), "{value:?}"),
            other => panic!("{value:?}: {other:?}"),
        }
    }
    assert!(matches!(
        auth.principal(&with(&own)).await.unwrap(),
        Principal::Bearer(_)
    ));
    assert!(matches!(
        auth.principal(&with(&admin).query("access_token=x")).await,
        Err(AuthError::InvalidBearerRequest { .. })
    ));
    let twice = with(&admin).header("authorization", format!("Bearer {admin}"));
    assert!(matches!(
        auth.principal(&twice).await,
        Err(AuthError::InvalidToken(TokenError::Malformed))
    ));
}

#[tokio::test]
async fn keys_are_refreshed_in_the_background_before_they_expire() {
    let (r, r2) = (rsa(), rsa2());
    let (idp, clock, v) = setup(&[&r]);
    v.prefetch().await;
    assert_eq!(idp.fetches(), 1);
    let mut c = claims();
    c["exp"] = json!(NOW + 3_600);
    let token = mint(&r, &c);
    // max-age=300: the refresh is due at 90 % of it, before the keys expire.
    clock.advance(Duration::from_secs(200));
    v.verify(&token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(idp.fetches(), 1, "not due yet");
    idp.publish(&[&r, &r2]);
    clock.advance(Duration::from_secs(75));
    v.verify(&token).await.unwrap();
    for _ in 0..100 {
        if idp.fetches() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(idp.fetches(), 2, "refreshed in the background");
    // The key published meanwhile is known without an unknown-kid refetch.
    let mut c2 = claims();
    c2["exp"] = json!(NOW + 3_600);
    v.verify(&mint(&r2, &c2)).await.unwrap();
    assert_eq!(idp.fetches(), 2);
}

#[tokio::test]
async fn id_tokens_and_other_token_types_are_not_access_tokens() {
    let r = rsa();
    let (_, _, v) = setup(&[&r]);
    let mut id_token = claims();
    id_token["typ"] = json!("ID");
    refused(
        v.verify(&mint(&r, &id_token)).await,
        TokenError::WrongTokenType,
    );
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(r.kid.into());
    header.typ = Some("logout+jwt".into());
    let logout = jsonwebtoken::encode(&header, &claims(), &r.key).unwrap();
    refused(v.verify(&logout).await, TokenError::WrongHeaderType);
    header.typ = Some("at+jwt".into());
    let at = jsonwebtoken::encode(&header, &claims(), &r.key).unwrap();
    v.verify(&at).await.unwrap();
}

#[tokio::test]
async fn a_key_replaced_under_its_kid_drops_cached_verifications() {
    let r = rsa();
    let (idp, clock, v) = setup(&[&r]);
    let mut c = claims();
    c["exp"] = json!(NOW + 3_600);
    let token = mint(&r, &c);
    v.verify(&token).await.unwrap();
    // The issuer replaces the key material under the same kid (a compromised key).
    let replacement = Signer {
        kid: "rsa-1",
        ..rsa2()
    };
    idp.publish(&[&replacement]);
    clock.advance(Duration::from_secs(300));
    let mut fresh = claims();
    fresh["exp"] = json!(NOW + 3_600);
    fresh["jti"] = json!("new");
    // A refresh is due: it runs in the background; wait for it.
    let _ = v.verify(&mint(&replacement, &fresh)).await;
    for _ in 0..100 {
        if idp.fetches() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    refused(v.verify(&token).await, TokenError::BadSignature);
    v.verify(&mint(&replacement, &fresh)).await.unwrap();
}

#[test]
fn urls_with_user_information_are_refused() {
    assert!(TrustedIssuer::new("http://localhost:x@evil.example/realms/a", AUD).is_err());
    assert!(TrustedIssuer::new("http://[::1]@evil.example/", AUD).is_err());
    assert!(TrustedIssuer::new("https://user@idp.example/", AUD).is_err());
    assert!(TrustedIssuer::new("http://[::1]:8080/realms/a", AUD).is_ok());
    assert!(TrustedIssuer::new("http://localhost/realms/a", AUD).is_ok());
}

#[tokio::test]
async fn only_a_trusted_issuers_token_is_verified_as_one_cached_or_not() {
    let r = rsa();
    let (idp, clock, v) = setup(&[&r]);
    // Another issuer's token, or no JWT at all: not a trusted issuer's, left to the caller.
    let mut other = claims();
    other["iss"] = json!("https://other.example");
    assert!(v.verify_if_trusted(&mint(&r, &other)).await.is_none());
    assert!(v.verify_if_trusted("not.a.jwt").await.is_none());
    // A trusted issuer's token is verified: refused when forged, cached when good.
    let forged = Signer {
        kid: "rsa-1",
        ..rsa2()
    };
    match v.verify_if_trusted(&mint(&forged, &claims())).await {
        Some(result) => refused(result, TokenError::BadSignature),
        None => panic!("a trusted issuer's token is verified"),
    }
    let token = mint(&r, &claims());
    let first = v.verify_if_trusted(&token).await.unwrap().unwrap();
    // From the cache now (the issuer is down): the same claims, time rules again.
    idp.down.store(true, Ordering::SeqCst);
    let hit = v.verify_if_trusted(&token).await.unwrap().unwrap();
    assert!(Arc::ptr_eq(&first, &hit));
    clock.advance(Duration::from_secs(360));
    match v.verify_if_trusted(&token).await {
        Some(result) => refused(result, TokenError::Expired),
        None => panic!("a cached token is still its issuer's"),
    }
}
