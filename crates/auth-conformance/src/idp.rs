//! A fake OpenID Connect issuer for the resource-server scenarios (issue #23): the
//! issuer whose access tokens a reference app accepts beside its own
//! (`AUTH_TRUSTED_ISSUERS`).
//!
//! On `127.0.0.1:0` it serves `/.well-known/openid-configuration` (`issuer` = its base
//! URL, `jwks_uri`) and `/jwks` with a configurable `Cache-Control: max-age`. It holds one
//! signing key per algorithm (RS256, PS256, ES256, EdDSA), generated at start with
//! aws-lc-rs, and can rotate them ([`FakeIdp::rotate`]), go down
//! ([`FakeIdp::set_outage`]), answer slowly ([`FakeIdp::set_jwks_delay`]) and count the
//! fetches it saw ([`FakeIdp::jwks_fetches`], [`FakeIdp::discovery_fetches`]).
//!
//! It mints valid tokens ([`FakeIdp::mint`], [`FakeIdp::token`]) and the attacks a
//! resource server must refuse ([`FakeIdp::attack`] with an [`Attack`]); anything else can
//! be built with [`FakeIdp::mint_with_header`].
//!
//! Kids are named per provider (`rs256-1`, `es256-1`, ...; `rs256-2` after a rotation), so
//! two providers publish the same kids for different keys: an app must pick the issuer
//! by `iss`, never by `kid` alone.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair,
};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
pub use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The `aud` the provider's tokens name, and the app's `AUTH_TRUSTED_AUDIENCE`.
pub const AUDIENCE: &str = "conformance-api";

/// The algorithms the provider holds a key for.
pub const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// How the discovery and JWKS endpoints answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Normally.
    None,
    /// 503 to every request (still counted as a fetch).
    Unavailable,
    /// New connections are closed at once and open ones fail at their next read or
    /// write: no HTTP answer at all (not counted as a fetch).
    Closed,
}

/// A token a resource server must refuse; each is otherwise valid (right `iss`, `aud`,
/// times) unless its name says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// `alg: HS256` under the RS256 key's `kid`, HMAC-keyed with that key's public
    /// SubjectPublicKeyInfo PEM (the RSA-as-HMAC key confusion).
    HmacWithThePublicKeyPem,
    /// The ES256 key's `kid` with `alg: RS256` (signed by the EC key).
    AlgDisagreesWithTheKey,
    /// `alg: PS256` under the RS256 key's `kid`, with a valid PSS signature by that key:
    /// the JWK says `alg: RS256`, so the header disagrees with it.
    PssHeaderOnAnRs256Key,
    /// `alg: none` and an empty signature.
    AlgNone,
    /// A `kid` the JWKS never published (signed by the RS256 key).
    UnknownKid,
    /// The RS256 key's `kid`, signed by another RSA key.
    ForeignSignature,
    /// `iss` names an issuer that is not trusted.
    WrongIssuer,
    /// `iss` is the provider's with a trailing `/` (issuers match exactly).
    IssuerWithTrailingSlash,
    /// `aud` names another API.
    WrongAudience,
    /// No `exp`.
    MissingExp,
    /// Expired 120 s ago (past the 60 s leeway).
    Expired,
    /// `nbf` 300 s ahead.
    NotYetValid,
    /// `iat` 300 s ahead.
    IssuedInTheFuture,
}

impl Attack {
    /// Every attack.
    pub const ALL: [Attack; 13] = [
        Attack::HmacWithThePublicKeyPem,
        Attack::AlgDisagreesWithTheKey,
        Attack::PssHeaderOnAnRs256Key,
        Attack::AlgNone,
        Attack::UnknownKid,
        Attack::ForeignSignature,
        Attack::WrongIssuer,
        Attack::IssuerWithTrailingSlash,
        Attack::WrongAudience,
        Attack::MissingExp,
        Attack::Expired,
        Attack::NotYetValid,
        Attack::IssuedInTheFuture,
    ];
}

/// How [`FakeIdp::mint_with_header`] signs.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// With the provider's key `kid` (published or retired), by `scheme` (which must fit
    /// the key's type: RS256 or PS256 for RSA keys, ES256, EdDSA).
    Key(&'a str, Algorithm),
    /// With an RSA key the provider never published, by `scheme` (RS256 or PS256).
    Foreign(Algorithm),
    /// HMAC-SHA256 with this secret.
    Hmac(&'a [u8]),
    /// No signature (an empty third segment).
    Unsigned,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One signing key.
struct Key {
    kid: String,
    alg: Algorithm,
    pair: Pair,
    /// In the JWKS (a retired key can still sign).
    published: AtomicBool,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("published", &self.published())
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWS `alg` name.
pub fn alg_name(alg: Algorithm) -> String {
    serde_json::to_value(alg)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .expect("an algorithm name")
}

impl Key {
    fn published(&self) -> bool {
        self.published.load(Ordering::SeqCst)
    }

    fn generate(alg: Algorithm, kid: String) -> Key {
        let pair = match alg {
            Algorithm::RS256 | Algorithm::PS256 => {
                Pair::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"))
            }
            Algorithm::ES256 => Pair::Ec(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key"),
            ),
            Algorithm::EdDSA => Pair::Ed(Ed25519KeyPair::generate().expect("Ed25519 key")),
            other => panic!("the fake issuer holds no {other:?} keys"),
        };
        Key {
            kid,
            alg,
            pair,
            published: AtomicBool::new(true),
        }
    }

    fn jwk(&self) -> Value {
        let mut jwk = match &self.pair {
            Pair::Rsa(k) => json!({
                "kty": "RSA",
                "n": b64(k.public_key().modulus().big_endian_without_leading_zero()),
                "e": b64(k.public_key().exponent().big_endian_without_leading_zero()),
            }),
            Pair::Ec(k) => {
                // Uncompressed point: 0x04 || X || Y.
                let point = k.public_key().as_ref();
                json!({
                    "kty": "EC", "crv": "P-256",
                    "x": b64(&point[1..33]), "y": b64(&point[33..65]),
                })
            }
            Pair::Ed(k) => json!({
                "kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref()),
            }),
        };
        jwk["kid"] = json!(self.kid);
        jwk["alg"] = json!(alg_name(self.alg));
        jwk["use"] = json!("sig");
        jwk
    }

    fn sign(&self, scheme: Algorithm, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match (&self.pair, scheme) {
            (Pair::Rsa(k), Algorithm::RS256 | Algorithm::PS256) => {
                let padding: &'static dyn signature::RsaEncoding = if scheme == Algorithm::RS256 {
                    &signature::RSA_PKCS1_SHA256
                } else {
                    &signature::RSA_PSS_SHA256
                };
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(padding, &rng, input, &mut sig).expect("RSA sign");
                sig
            }
            (Pair::Ec(k), Algorithm::ES256) => {
                k.sign(&rng, input).expect("ECDSA sign").as_ref().to_vec()
            }
            (Pair::Ed(k), Algorithm::EdDSA) => k.sign(input).as_ref().to_vec(),
            (_, other) => panic!("the {} key cannot sign {other:?}", self.kid),
        }
    }

    /// The public key as a SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).
    fn public_pem(&self) -> String {
        let der: Vec<u8> = match &self.pair {
            Pair::Rsa(k) => {
                let der: PublicKeyX509Der<'static> = k.public_key().as_der().expect("SPKI");
                der.as_ref().to_vec()
            }
            Pair::Ed(k) => {
                let der: PublicKeyX509Der<'static> = k.public_key().as_der().expect("SPKI");
                der.as_ref().to_vec()
            }
            Pair::Ec(_) => panic!("no PEM export for the EC keys"),
        };
        let body = STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }
}

#[derive(Debug)]
struct Settings {
    keys: Vec<Arc<Key>>,
    max_age: Option<u64>,
    jwks_delay: Duration,
    outage: Outage,
    discovery_fetches: usize,
    jwks_fetches: usize,
}

#[derive(Debug)]
struct Shared {
    issuer: String,
    settings: Mutex<Settings>,
    /// [`Outage::Closed`], read by the listener and every connection without the lock.
    closed: AtomicBool,
    foreign: OnceLock<Key>,
}

/// The running issuer; stops when dropped.
#[derive(Debug)]
pub struct FakeIdp {
    /// The issuer identifier: `http://127.0.0.1:PORT` (no trailing `/`), the `iss` of
    /// its tokens and its discovery document's `issuer`.
    pub issuer: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A `kid` no provider ever publishes (distinct on each call).
pub fn unknown_kid() -> String {
    crate::app::unique_name("made-up")
}

/// The environment that makes a reference app trust `issuers` (in that order) with
/// [`AUDIENCE`]: `AUTH_TRUSTED_ISSUERS` and `AUTH_TRUSTED_AUDIENCE`.
pub fn trusted_env(issuers: &[&str]) -> Vec<(String, String)> {
    vec![
        ("AUTH_TRUSTED_ISSUERS".into(), issuers.join(",")),
        ("AUTH_TRUSTED_AUDIENCE".into(), AUDIENCE.into()),
    ]
}

fn kid_prefix(alg: Algorithm) -> String {
    alg_name(alg).to_ascii_lowercase()
}

impl FakeIdp {
    /// Starts an issuer with one key per algorithm of [`ALGORITHMS`] (`rs256-1`,
    /// `ps256-1`, `es256-1`, `eddsa-1`), `Cache-Control: max-age=300`, no outage.
    pub async fn start() -> FakeIdp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("local address"));
        let keys = ALGORITHMS
            .iter()
            .map(|&alg| Arc::new(Key::generate(alg, format!("{}-1", kid_prefix(alg)))))
            .collect();
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            settings: Mutex::new(Settings {
                keys,
                max_age: Some(300),
                jwks_delay: Duration::ZERO,
                outage: Outage::None,
                discovery_fetches: 0,
                jwks_fetches: 0,
            }),
            closed: AtomicBool::new(false),
            foreign: OnceLock::new(),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .with_state(shared.clone());
        let listener = Switchable {
            inner: listener,
            shared: shared.clone(),
        };
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeIdp {
            issuer,
            shared,
            task,
        }
    }

    fn settings(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.shared.settings.lock().expect("settings lock")
    }

    /// `<issuer>/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// `<issuer>/jwks`, the discovery document's `jwks_uri`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// The environment that makes an app trust this issuer alone (see [`trusted_env`]).
    pub fn app_env(&self) -> Vec<(String, String)> {
        trusted_env(&[&self.issuer])
    }

    /// The newest published key of `alg`.
    pub fn kid(&self, alg: Algorithm) -> String {
        self.settings()
            .keys
            .iter()
            .rev()
            .find(|k| k.alg == alg && k.published())
            .map(|k| k.kid.clone())
            .unwrap_or_else(|| panic!("no published {alg:?} key"))
    }

    /// The kids the JWKS publishes, in order.
    pub fn published_kids(&self) -> Vec<String> {
        self.settings()
            .keys
            .iter()
            .filter(|k| k.published())
            .map(|k| k.kid.clone())
            .collect()
    }

    fn key(&self, kid: &str) -> Arc<Key> {
        self.settings()
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .cloned()
            .unwrap_or_else(|| panic!("the fake issuer holds no key {kid:?}"))
    }

    /// Adds and publishes a new key of `alg`; returns its kid (`rs256-2`, ...).
    pub fn add_key(&self, alg: Algorithm) -> String {
        let n = self.settings().keys.iter().filter(|k| k.alg == alg).count() + 1;
        let kid = format!("{}-{n}", kid_prefix(alg));
        let key = Key::generate(alg, kid.clone());
        self.settings().keys.push(Arc::new(key));
        kid
    }

    /// Takes `kid` out of the JWKS (it can still sign, for tests of retired keys).
    pub fn retire_key(&self, kid: &str) {
        self.key(kid).published.store(false, Ordering::SeqCst);
    }

    /// Rotates `alg`: publishes a new key and retires the newest old one; returns the new
    /// kid.
    pub fn rotate(&self, alg: Algorithm) -> String {
        let old = self.kid(alg);
        let new = self.add_key(alg);
        self.retire_key(&old);
        new
    }

    /// The `Cache-Control: max-age` of both documents (`None`: no `Cache-Control`).
    pub fn set_max_age(&self, max_age: Option<u64>) {
        self.settings().max_age = max_age;
    }

    /// How long `/jwks` waits before answering (to make concurrent fetches overlap).
    pub fn set_jwks_delay(&self, delay: Duration) {
        self.settings().jwks_delay = delay;
    }

    /// Switches an outage on or off (see [`Outage`]).
    pub fn set_outage(&self, outage: Outage) {
        self.settings().outage = outage;
        self.shared
            .closed
            .store(outage == Outage::Closed, Ordering::SeqCst);
    }

    /// Requests to the discovery document that reached the provider (503s included).
    pub fn discovery_fetches(&self) -> usize {
        self.settings().discovery_fetches
    }

    /// Requests to `/jwks` that reached the provider (503s included).
    pub fn jwks_fetches(&self) -> usize {
        self.settings().jwks_fetches
    }

    /// The public key of RSA or Ed25519 key `kid` as a SubjectPublicKeyInfo PEM.
    pub fn public_key_pem(&self, kid: &str) -> String {
        self.key(kid).public_pem()
    }

    /// The JWK the JWKS publishes (or published) for `kid`.
    pub fn jwk(&self, kid: &str) -> Value {
        self.key(kid).jwk()
    }

    /// Valid claims for `sub`: `iss` this issuer, `aud` [`AUDIENCE`], `iat` and `nbf`
    /// now, `exp` in 5 minutes. No roles, no scopes.
    pub fn claims(&self, sub: &str) -> Value {
        let now = now();
        json!({
            "iss": self.issuer,
            "sub": sub,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        })
    }

    /// A token of `claims` signed with key `kid` by `alg`, header
    /// `{"alg", "typ": "JWT", "kid"}`. Panics if the provider holds no key `kid` or
    /// `alg` does not fit its type.
    pub fn mint(&self, claims: &Value, alg: Algorithm, kid: &str) -> String {
        let header = json!({"alg": alg_name(alg), "typ": "JWT", "kid": kid});
        self.mint_with_header(&header, claims, Signer::Key(kid, alg))
    }

    /// A valid token for `sub` by the newest `alg` key: [`FakeIdp::claims`] with the
    /// members of `extra` added (a `null` member removes the claim).
    pub fn token(&self, alg: Algorithm, sub: &str, extra: &Value) -> String {
        let mut claims = self.claims(sub);
        merge(&mut claims, extra);
        self.mint(&claims, alg, &self.kid(alg))
    }

    /// A token with exactly this header and these claims, signed as `signer` says.
    pub fn mint_with_header(&self, header: &Value, claims: &Value, signer: Signer<'_>) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = match signer {
            Signer::Key(kid, scheme) => self.key(kid).sign(scheme, input.as_bytes()),
            Signer::Foreign(scheme) => self
                .shared
                .foreign
                .get_or_init(|| Key::generate(Algorithm::RS256, "foreign".into()))
                .sign(scheme, input.as_bytes()),
            Signer::Hmac(secret) => {
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
                aws_lc_rs::hmac::sign(&key, input.as_bytes())
                    .as_ref()
                    .to_vec()
            }
            Signer::Unsigned => Vec::new(),
        };
        format!("{input}.{}", b64(&sig))
    }

    /// A token for `sub` that a resource server must refuse (see [`Attack`]).
    pub fn attack(&self, attack: Attack, sub: &str) -> String {
        let rs = self.kid(Algorithm::RS256);
        let mut claims = self.claims(sub);
        let header = |alg: &str, kid: &str| json!({"alg": alg, "typ": "JWT", "kid": kid});
        let now = now();
        match attack {
            Attack::HmacWithThePublicKeyPem => {
                let pem = self.public_key_pem(&rs);
                return self.mint_with_header(
                    &header("HS256", &rs),
                    &claims,
                    Signer::Hmac(pem.as_bytes()),
                );
            }
            Attack::AlgDisagreesWithTheKey => {
                let es = self.kid(Algorithm::ES256);
                return self.mint_with_header(
                    &header("RS256", &es),
                    &claims,
                    Signer::Key(&es, Algorithm::ES256),
                );
            }
            Attack::PssHeaderOnAnRs256Key => {
                return self.mint_with_header(
                    &header("PS256", &rs),
                    &claims,
                    Signer::Key(&rs, Algorithm::PS256),
                );
            }
            Attack::AlgNone => {
                return self.mint_with_header(&header("none", &rs), &claims, Signer::Unsigned);
            }
            Attack::UnknownKid => {
                return self.mint_with_header(
                    &header("RS256", &unknown_kid()),
                    &claims,
                    Signer::Key(&rs, Algorithm::RS256),
                );
            }
            Attack::ForeignSignature => {
                return self.mint_with_header(
                    &header("RS256", &rs),
                    &claims,
                    Signer::Foreign(Algorithm::RS256),
                );
            }
            Attack::WrongIssuer => claims["iss"] = json!("https://issuer.invalid"),
            Attack::IssuerWithTrailingSlash => claims["iss"] = json!(format!("{}/", self.issuer)),
            Attack::WrongAudience => claims["aud"] = json!("another-api"),
            Attack::MissingExp => {
                claims.as_object_mut().expect("claims").remove("exp");
            }
            Attack::Expired => {
                claims["iat"] = json!(now - 600);
                claims["nbf"] = json!(now - 600);
                claims["exp"] = json!(now - 120);
            }
            Attack::NotYetValid => {
                claims["nbf"] = json!(now + 300);
                claims["exp"] = json!(now + 600);
            }
            Attack::IssuedInTheFuture => {
                claims["iat"] = json!(now + 300);
                claims["exp"] = json!(now + 600);
            }
        }
        self.mint(&claims, Algorithm::RS256, &rs)
    }
}

/// Adds `extra`'s members to `claims`; a `null` member removes that claim.
pub fn merge(claims: &mut Value, extra: &Value) {
    let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) else {
        return;
    };
    for (k, v) in extra {
        if v.is_null() {
            claims.remove(k);
        } else {
            claims.insert(k.clone(), v.clone());
        }
    }
}

fn cache_control(max_age: Option<u64>) -> Vec<(header::HeaderName, String)> {
    max_age
        .map(|s| (header::CACHE_CONTROL, format!("public, max-age={s}")))
        .into_iter()
        .collect()
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "issuer down for the test").into_response()
}

fn with_headers(headers: Vec<(header::HeaderName, String)>, body: Value) -> Response {
    let mut response = axum::Json(body).into_response();
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("header value"));
    }
    response
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    let (outage, max_age) = {
        let mut s = shared.settings.lock().expect("settings lock");
        s.discovery_fetches += 1;
        (s.outage, s.max_age)
    };
    if outage != Outage::None {
        return unavailable();
    }
    let issuer = &shared.issuer;
    with_headers(
        cache_control(max_age),
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/jwks"),
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
        }),
    )
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    let delay = {
        let mut s = shared.settings.lock().expect("settings lock");
        s.jwks_fetches += 1;
        s.jwks_delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (outage, max_age, keys) = {
        let s = shared.settings.lock().expect("settings lock");
        let keys: Vec<Value> = s
            .keys
            .iter()
            .filter(|k| k.published())
            .map(|k| k.jwk())
            .collect();
        (s.outage, s.max_age, keys)
    };
    if outage != Outage::None {
        return unavailable();
    }
    with_headers(cache_control(max_age), json!({ "keys": keys }))
}

/// The listener: drops new connections while the outage is [`Outage::Closed`].
struct Switchable {
    inner: TcpListener,
    shared: Arc<Shared>,
}

impl axum::serve::Listener for Switchable {
    type Io = SwitchableIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            if self.shared.closed.load(Ordering::SeqCst) {
                drop(io);
                continue;
            }
            return (
                SwitchableIo {
                    io,
                    shared: self.shared.clone(),
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that fails its next read or write once the outage is
/// [`Outage::Closed`] (so a client's pooled connection dies too).
struct SwitchableIo {
    io: TcpStream,
    shared: Arc<Shared>,
}

impl SwitchableIo {
    fn check(&self) -> io::Result<()> {
        if self.shared.closed.load(Ordering::SeqCst) {
            Err(io::ErrorKind::ConnectionReset.into())
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for SwitchableIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for SwitchableIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
