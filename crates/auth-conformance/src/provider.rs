//! A login provider written for the tests: OAuth 2.0 authorization, token, userinfo and
//! JWKS endpoints on `127.0.0.1:0`, checking what a real provider checks (client
//! credentials, `redirect_uri`, PKCE S256, one-time codes) and able to misbehave on
//! demand (an error answer, an id token with a bad signature, a wrong `aud`, `azp`,
//! `nonce` or `at_hash`, an `email_verified` claim that is absent, false or a string).
//! [`TestProvider::start_github`] answers like GitHub instead: `/user` without
//! `email_verified`, and the verified flags at `/user/emails`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The client id the provider knows.
pub const CLIENT_ID: &str = "conformance-client";
/// The client's secret.
pub const CLIENT_SECRET: &str = "conformance-client-secret";
/// The redirect URL the apps register. `app.test` stands for the app under test: the
/// scenario plays the browser and sends the callback to the app's real address.
pub const REDIRECT_URL: &str = "http://app.test/auth/test/callback";
const KID: &str = "test-key-1";
/// ES256 signing key whose public half the JWKS publishes.
const SIGNING_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2s1QTS0NN8tYcoVI
Z8AkMVv61D7piEukXmO9xEEY68yhRANCAARv19RGT8kRT7iXdR2cNFTDHuPYkNjV
Zq+BnmsbSU/G9+G4CKHMN62NN4bKMbUJq9dvosDTLmAq/A1z++PISF8S
-----END PRIVATE KEY-----
";
const SIGNING_X: &str = "b9fURk_JEU-4l3UdnDRUwx7j2JDY1WavgZ5rG0lPxvc";
const SIGNING_Y: &str = "4bgIocw3rY03hsoxtQmr12-iwNMuYCr8DXP748hIXxI";
/// Another P-256 key, published nowhere: signs the "bad signature" id tokens under the
/// published `kid`.
const ATTACKER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgXKsJJ3GdWFI4Y6/i
2Q4jz1cu41v6mugVLAWnmteDazChRANCAARvpWLYmQOSElphG0o7l02rG0/RZQlo
f4nPuzUpRBLBhDrN7XVTh2RX7YPA5/vqA3i+Z3bR85f0jEx19cz9xsTk
-----END PRIVATE KEY-----
";

/// The provider's ES256 signing key (PKCS#8 PEM): tests use it to forge "another
/// issuer's" tokens.
pub fn signing_key_pem() -> &'static str {
    SIGNING_KEY
}

/// How the provider behaves on the next logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Like a correct provider.
    Normal,
    /// The user declines: the authorization endpoint redirects with
    /// `error=access_denied`.
    Deny,
    /// The id token is signed with a key that is not in the JWKS (same `kid`).
    BadSignature,
    /// The id token's `aud` names another client.
    WrongAudience,
    /// The id token's `nonce` is not the one sent.
    WrongNonce,
    /// The id token's `aud` names us and another client, without `azp`.
    ManyAudiencesNoAzp,
    /// The id token's `aud` names us and another client; `azp` names the other.
    ManyAudiencesOtherAzp,
    /// The id token's `aud` names us and another client; `azp` names us (valid).
    ManyAudiencesOurAzp,
    /// The id token's `aud` is us alone, but `azp` names another client.
    OtherAzp,
    /// The id token's `at_hash` is not the access token's.
    WrongAtHash,
    /// The id token carries no `at_hash` (valid: it is optional in the code flow).
    NoAtHash,
}

#[derive(Debug)]
struct Grant {
    challenge: String,
    redirect_uri: String,
    nonce: Option<String>,
}

#[derive(Debug)]
struct Inner {
    base: String,
    oidc: bool,
    mode: Mode,
    email: String,
    /// The `email_verified` claim as sent (absent when `None`).
    email_verified: Option<Value>,
    /// GitHub-like: `/user` has a numeric `id` and no `email_verified`; the flags are
    /// at `/user/emails`.
    github: bool,
    /// What `/user/emails` answers, when set; else the primary email with the
    /// `email_verified` claim as its `verified` flag.
    emails: Option<Value>,
    /// The account's subject when set ([`TestProvider::set_subject`]); else one derived
    /// from the account's email, so each address is its own account.
    subject: Option<String>,
    codes: HashMap<String, Grant>,
    access_tokens: HashMap<String, ()>,
    token_requests: usize,
}

/// The running provider; stops when dropped.
#[derive(Debug)]
pub struct TestProvider {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestProvider {
    /// Starts a provider; `oidc` adds id tokens and a JWKS. Logs in `alice@example.com`.
    pub async fn start(oidc: bool) -> Self {
        Self::start_flavor(oidc, false).await
    }

    /// Starts a provider that answers like GitHub (plain OAuth 2.0): `/user` carries a
    /// numeric `id`, `login`, a public `email` and no `email_verified`; the verified flag
    /// is only at `/user/emails` (`[{"email", "primary", "verified", "visibility"}]`).
    /// The app is told to read it (`AUTH_OAUTH_TEST_EMAILS_URL`).
    pub async fn start_github() -> Self {
        Self::start_flavor(false, true).await
    }

    async fn start_flavor(oidc: bool, github: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            base: base.clone(),
            oidc,
            mode: Mode::Normal,
            email: "alice@example.com".into(),
            email_verified: Some(Value::Bool(true)),
            github,
            emails: None,
            subject: None,
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            token_requests: 0,
        }));
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/user/emails", get(user_emails))
            .route("/jwks", get(jwks))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, inner, task }
    }

    /// Fixes the account's subject (`sub`, GitHub's `id`) whatever email it reports, as
    /// a real provider keeps it when a user changes their address; `None` derives it from
    /// the email again.
    pub fn set_subject(&self, subject: Option<&str>) {
        self.inner.lock().unwrap().subject = subject.map(str::to_owned);
    }

    /// Changes how the next logins go.
    pub fn set_mode(&self, mode: Mode) {
        self.inner.lock().unwrap().mode = mode;
    }

    /// The email the provider reports, and whether it says it verified it.
    pub fn set_user(&self, email: &str, verified: bool) {
        self.set_user_claim(email, Some(Value::Bool(verified)));
    }

    /// The email the provider reports, and its `email_verified` claim exactly as sent in
    /// the userinfo answer and the id token (GitHub-like: as the primary email's
    /// `verified` flag at `/user/emails`); `None` leaves the claim out.
    pub fn set_user_claim(&self, email: &str, email_verified: Option<Value>) {
        let mut inner = self.inner.lock().unwrap();
        inner.email = email.into();
        inner.email_verified = email_verified;
        inner.emails = None;
    }

    /// GitHub-like: what `/user/emails` answers, verbatim (`/user` keeps its `email`).
    pub fn set_github_emails(&self, emails: Value) {
        self.inner.lock().unwrap().emails = Some(emails);
    }

    /// How many token requests reached the provider.
    pub fn token_requests(&self) -> usize {
        self.inner.lock().unwrap().token_requests
    }

    /// The environment that registers this provider as `test` in a reference app.
    pub fn app_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("AUTH_OAUTH_PROVIDERS".to_string(), "test".to_string()),
            ("AUTH_OAUTH_TEST_CLIENT_ID".into(), CLIENT_ID.into()),
            ("AUTH_OAUTH_TEST_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
            (
                "AUTH_OAUTH_TEST_AUTH_URL".into(),
                format!("{}/authorize", self.base),
            ),
            (
                "AUTH_OAUTH_TEST_TOKEN_URL".into(),
                format!("{}/token", self.base),
            ),
            (
                "AUTH_OAUTH_TEST_USERINFO_URL".into(),
                format!("{}/userinfo", self.base),
            ),
            ("AUTH_OAUTH_TEST_REDIRECT_URL".into(), REDIRECT_URL.into()),
        ];
        let inner = self.inner.lock().unwrap();
        if inner.github {
            env.push((
                "AUTH_OAUTH_TEST_EMAILS_URL".into(),
                format!("{}/user/emails", self.base),
            ));
        }
        if inner.oidc {
            env.push(("AUTH_OAUTH_TEST_SCOPES".into(), "openid email".into()));
            env.push(("AUTH_OAUTH_TEST_ISSUER".into(), self.base.clone()));
            env.push((
                "AUTH_OAUTH_TEST_JWKS_URL".into(),
                format!("{}/jwks", self.base),
            ));
        }
        env
    }
}

fn random() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!(
        "{nanos}:{}:{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(seed.as_bytes()))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", ser.finish())
}

async fn authorize(
    State(inner): State<Arc<Mutex<Inner>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if p("client_id") != CLIENT_ID || p("redirect_uri") != REDIRECT_URL {
        return (StatusCode::BAD_REQUEST, "unknown client or redirect_uri").into_response();
    }
    let state = p("state");
    if p("response_type") != "code" {
        return Redirect::to(&with_query(
            REDIRECT_URL,
            &[("error", "unsupported_response_type"), ("state", state)],
        ))
        .into_response();
    }
    if p("code_challenge_method") != "S256" || p("code_challenge").len() != 43 {
        return Redirect::to(&with_query(
            REDIRECT_URL,
            &[
                ("error", "invalid_request"),
                ("error_description", "PKCE S256 is required"),
                ("state", state),
            ],
        ))
        .into_response();
    }
    let mut inner = inner.lock().unwrap();
    if inner.mode == Mode::Deny {
        return Redirect::to(&with_query(
            REDIRECT_URL,
            &[
                ("error", "access_denied"),
                ("error_description", "The user <script>declined</script>"),
                ("state", state),
            ],
        ))
        .into_response();
    }
    let code = random();
    inner.codes.insert(
        code.clone(),
        Grant {
            challenge: p("code_challenge").into(),
            redirect_uri: p("redirect_uri").into(),
            nonce: q.get("nonce").cloned(),
        },
    );
    Redirect::to(&with_query(
        REDIRECT_URL,
        &[("code", &code), ("state", state)],
    ))
    .into_response()
}

async fn token(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    inner.token_requests += 1;
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let by_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(basic.as_str());
    let by_body = form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    if !by_header && !by_body {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "");
    }
    let code = form.get("code").cloned().unwrap_or_default();
    // One use per code (RFC 6749 §4.1.2), whatever the outcome.
    let Some(grant) = inner.codes.remove(&code) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Unknown or used code",
        );
    };
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri mismatch",
        );
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if verifier.len() < 43 || challenge != grant.challenge {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "PKCE verification failed",
        );
    }
    let access = format!("at-{}", random());
    inner.access_tokens.insert(access.clone(), ());
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 3600,
    });
    if inner.oidc {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mode = inner.mode;
        let mut claims = json!({
            "iss": inner.base,
            "sub": subject_of(&inner),
            "aud": if mode == Mode::WrongAudience { "another-client" } else { CLIENT_ID },
            "exp": now + 300,
            "iat": now,
            "nonce": if mode == Mode::WrongNonce { Some("not-the-nonce-sent".to_string()) } else { grant.nonce.clone() },
            "email": inner.email,
            // OpenID Connect Core §3.3.2.11: the left half of SHA-256 (ES256) of the
            // access token's ASCII octets, base64url without padding.
            "at_hash": URL_SAFE_NO_PAD.encode(&Sha256::digest(access.as_bytes())[..16]),
        });
        if let Some(v) = &inner.email_verified {
            claims["email_verified"] = v.clone();
        }
        let both = json!([CLIENT_ID, "another-client"]);
        match mode {
            Mode::ManyAudiencesNoAzp => claims["aud"] = both,
            Mode::ManyAudiencesOtherAzp => {
                claims["aud"] = both;
                claims["azp"] = json!("another-client");
            }
            Mode::ManyAudiencesOurAzp => {
                claims["aud"] = both;
                claims["azp"] = json!(CLIENT_ID);
            }
            Mode::OtherAzp => claims["azp"] = json!("another-client"),
            Mode::WrongAtHash => {
                claims["at_hash"] =
                    json!(URL_SAFE_NO_PAD.encode(&Sha256::digest(b"another access token")[..16]));
            }
            Mode::NoAtHash => {
                claims.as_object_mut().unwrap().remove("at_hash");
            }
            _ => {}
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(KID.into());
        let pem = if mode == Mode::BadSignature {
            ATTACKER_KEY
        } else {
            SIGNING_KEY
        };
        let key = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
        body["id_token"] = Value::String(jsonwebtoken::encode(&header, &claims, &key).unwrap());
    }
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

/// The request's bearer token is one this provider issued.
fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    inner.access_tokens.contains_key(token)
}

fn invalid_token() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
    )
        .into_response()
}

async fn userinfo(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap) -> Response {
    let inner = inner.lock().unwrap();
    if !authorized(&inner, &headers) {
        return invalid_token();
    }
    if inner.github {
        // GitHub's `GET /user`: the public email, no verification flag.
        return axum::Json(json!({
            "id": github_id(&inner),
            "login": "test-user",
            "email": inner.email,
            "name": "Test User",
        }))
        .into_response();
    }
    let mut info = json!({
        "sub": subject_of(&inner),
        "email": inner.email,
        "name": "Test User",
    });
    if let Some(v) = &inner.email_verified {
        info["email_verified"] = v.clone();
    }
    axum::Json(info).into_response()
}

/// GitHub's `GET /user/emails`.
async fn user_emails(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap) -> Response {
    let inner = inner.lock().unwrap();
    if !authorized(&inner, &headers) {
        return invalid_token();
    }
    let emails = inner.emails.clone().unwrap_or_else(|| {
        json!([{
            "email": inner.email,
            "primary": true,
            "verified": inner.email_verified.clone().unwrap_or(Value::Null),
            "visibility": "public",
        }])
    });
    axum::Json(emails).into_response()
}

async fn jwks() -> Response {
    axum::Json(json!({"keys": [{
        "kty": "EC", "crv": "P-256", "x": SIGNING_X, "y": SIGNING_Y,
        "kid": KID, "alg": "ES256", "use": "sig",
    }]}))
    .into_response()
}

/// The account's subject: the fixed one, else derived from its email (for a GitHub-like
/// provider, the primary entry of `/user/emails` when set), so each address is its own
/// account.
fn subject_of(inner: &Inner) -> String {
    if let Some(s) = &inner.subject {
        return s.clone();
    }
    let primary = inner.emails.as_ref().and_then(|list| {
        list.as_array()?
            .iter()
            .find(|e| e["primary"] == Value::Bool(true))?["email"]
            .as_str()
            .map(str::to_owned)
    });
    format!(
        "user-{}",
        primary
            .unwrap_or_else(|| inner.email.clone())
            .to_ascii_lowercase()
    )
}

/// GitHub's numeric `id` for the account: a stable number from its subject.
fn github_id(inner: &Inner) -> u64 {
    subject_of(inner)
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
        % 1_000_000_000
}
