//! The authorization-code flow with PKCE, both legs, framework-neutral.

use std::collections::BTreeMap;
use std::sync::Arc;

use cookie::Cookie;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse as _,
    TokenUrl,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::client::{HttpClient, HttpClientError, OutboundRequest};
use super::oidc::Jwks;
use super::provider::{ClientAuth, ProviderConfig, Providers};
use crate::clock::Clock;
use crate::error::AuthError;
use crate::request::Request;
use crate::store::StateStore;

/// How long a started login may take before its callback is refused.
pub const LOGIN_STATE_TTL_SECS: u64 = 600;
/// The longest `next` path kept; a longer one sends the user to `/`.
pub const MAX_NEXT_BYTES: usize = 2048;
const MAX_QUERY_BYTES: usize = 8 * 1024;
const STATE_ISSUER: &str = "auth-toolkit/external-login";

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type ProviderTokens = StandardTokenResponse<IdTokenField, BasicTokenType>;
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    ProviderTokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// What the provider said about the user, after every check passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    /// The provider's name.
    pub provider: String,
    /// The provider's stable user id (`sub`, or GitHub's numeric `id`).
    pub subject: String,
    /// The email address, always one the provider asserted it verified
    /// (`email_verified: true`, or the primary verified entry of a GitHub-style email
    /// list): a login with any other address is refused before it gets here, so a
    /// hook may link by it.
    pub email: String,
    /// The display name, if sent.
    pub name: Option<String>,
}

/// The first leg's answer: where to send the browser, and the pre-login cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRedirect {
    /// The provider's authorization URL with `state`, `code_challenge` (S256) and, for
    /// OpenID Connect, `nonce`.
    pub location: String,
    /// The `Set-Cookie` value binding state, verifier and nonce to this browser.
    pub set_cookie: String,
}

/// The second leg's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// Who logged in.
    pub identity: ExternalIdentity,
    /// Where to send the browser: a same-origin relative path.
    pub next: String,
}

/// The pre-login state, MACed into the pre-login cookie.
#[derive(Debug, Serialize, Deserialize)]
struct PreLogin {
    iss: String,
    exp: u64,
    /// Provider name.
    p: String,
    /// The `state` sent to the provider.
    s: String,
    /// The PKCE verifier.
    v: String,
    /// The OpenID Connect nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    /// The sanitised `next`.
    x: String,
}

struct Registered {
    config: ProviderConfig,
    client: OAuthClient,
    jwks: Option<Jwks>,
}

/// Third-party login: the provider registry and both legs of the authorization-code
/// flow with PKCE (RFC 7636, S256 only), with OpenID Connect id-token checks where the
/// provider is configured for it.
///
/// The pre-login state (the `state`, the PKCE verifier, the nonce and `next`) lives in
/// a short-lived HttpOnly cookie, MACed with a key derived from the access-token secret
/// so every instance sharing that secret can finish a login another one started. Each
/// `state` is accepted once: its digest is counted in the state store's counters
/// (memory or Redis), so a replayed callback is refused on every instance.
pub struct ExternalLogin {
    providers: BTreeMap<String, Registered>,
    http: Arc<dyn HttpClient>,
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    cookie_name: &'static str,
    secure: bool,
}

impl std::fmt::Debug for ExternalLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalLogin")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .field("cookie_name", &self.cookie_name)
            .finish_non_exhaustive()
    }
}

impl ExternalLogin {
    /// The flow for `providers`. `state_secret` keys the pre-login cookie's MAC (the
    /// builder passes the access-token secret; any ≥ 32-byte secret shared by the
    /// instances works); `secure` sets the cookie's `Secure` attribute and `__Host-`
    /// prefix.
    pub fn new(
        providers: &Providers,
        http: Arc<dyn HttpClient>,
        store: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
        state_secret: &[u8],
        secure: bool,
    ) -> Result<Self, crate::ConfigError> {
        let mut registered = BTreeMap::new();
        for name in providers.names() {
            let Some(config) = providers.get(name) else {
                continue;
            };
            let bad = |what: &str, e: oauth2::url::ParseError| crate::ConfigError::Invalid {
                setting: "AUTH_OAUTH_<NAME>_*",
                reason: format!("the {what} of provider `{name}` is not a URL ({e})"),
            };
            let client = oauth2::Client::new(ClientId::new(config.client_id.clone()))
                .set_client_secret(ClientSecret::new(config.client_secret.clone()))
                .set_auth_uri(
                    AuthUrl::new(config.auth_url.clone()).map_err(|e| bad("auth URL", e))?,
                )
                .set_token_uri(
                    TokenUrl::new(config.token_url.clone()).map_err(|e| bad("token URL", e))?,
                )
                .set_redirect_uri(
                    RedirectUrl::new(config.redirect_url.clone())
                        .map_err(|e| bad("redirect URL", e))?,
                )
                .set_auth_type(match config.client_auth {
                    ClientAuth::Basic => AuthType::BasicAuth,
                    ClientAuth::Body => AuthType::RequestBody,
                });
            let jwks = config.oidc.as_ref().map(|o| Jwks::new(o.jwks_url.clone()));
            registered.insert(
                name.to_string(),
                Registered {
                    config: config.clone(),
                    client,
                    jwks,
                },
            );
        }
        let mut hasher = Sha256::new();
        hasher.update(b"auth-toolkit/external-login-state/v1\0");
        hasher.update(state_secret);
        let key = hasher.finalize();
        let key_error = |e: jsonwebtoken::errors::Error| crate::ConfigError::Invalid {
            setting: "external login",
            reason: format!("cannot key the login state ({e})"),
        };
        Ok(Self {
            providers: registered,
            http,
            store,
            clock,
            encoding: EncodingKey::from_secret(&key).map_err(key_error)?,
            decoding: DecodingKey::from_secret(&key).map_err(key_error)?,
            cookie_name: if secure {
                "__Host-oauth_state"
            } else {
                "oauth_state"
            },
            secure,
        })
    }

    /// The configured provider called `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.get(name).map(|r| &r.config)
    }

    /// The pre-login cookie's name.
    pub fn cookie_name(&self) -> &str {
        self.cookie_name
    }

    /// `Set-Cookie` that deletes the pre-login cookie.
    pub fn clearing_cookie(&self) -> String {
        self.cookie("", 0)
    }

    fn cookie(&self, value: &str, max_age: u64) -> String {
        Cookie::build((self.cookie_name, value.to_string()))
            .http_only(true)
            .secure(self.secure)
            .same_site(cookie::SameSite::Lax)
            .path("/")
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(max_age).unwrap_or(i64::MAX),
            ))
            .build()
            .to_string()
    }

    /// The first leg (`GET /auth/{provider}/login?next=…`): fresh `state`, PKCE S256
    /// verifier and (for OpenID Connect) nonce; the provider's URL and the cookie that
    /// remembers them. [`AuthError::NotFound`] for an unknown provider.
    pub fn begin(&self, provider: &str, next: Option<&str>) -> Result<LoginRedirect, AuthError> {
        let registered = self.providers.get(provider).ok_or_else(unknown_provider)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = registered
            .jwks
            .as_ref()
            .map(|_| crate::ids::random_b64::<32>());
        let mut request = registered
            .client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_scopes(registered.config.scopes.iter().cloned().map(Scope::new));
        if let Some(n) = &nonce {
            request = request.add_extra_param("nonce", n.clone());
        }
        let (url, state) = request.url();
        let pre = PreLogin {
            iss: STATE_ISSUER.into(),
            exp: self.clock.unix_seconds() + LOGIN_STATE_TTL_SECS,
            p: provider.into(),
            s: state.secret().clone(),
            v: verifier.secret().clone(),
            n: nonce,
            x: safe_next(next),
        };
        let value = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &pre, &self.encoding)
            .map_err(|e| {
                tracing::error!(error = %e, "external login: cannot sign the pre-login state");
                AuthError::Internal
            })?;
        Ok(LoginRedirect {
            location: url.to_string(),
            set_cookie: self.cookie(&value, LOGIN_STATE_TTL_SECS),
        })
    }

    /// The second leg (`GET /auth/{provider}/callback?code&state`): checks the state
    /// against the pre-login cookie and consumes it (once only), exchanges the code with
    /// the PKCE verifier, verifies the id token (OpenID Connect), and reads the user
    /// info. Starts nothing: the caller maps the identity to a user and starts a
    /// session.
    pub async fn finish(
        &self,
        provider: &str,
        request: &impl Request,
    ) -> Result<Completed, AuthError> {
        let registered = self.providers.get(provider).ok_or_else(unknown_provider)?;
        let query = CallbackQuery::parse(request.query().unwrap_or(""))?;
        let pre = self.pre_login(request)?;
        if pre.p != provider {
            return Err(failed("The login was started with another provider"));
        }
        if let Some(error) = query.error {
            tracing::info!(provider, error = %error, "external login: the provider answered with an error");
            return Err(failed(format!(
                "The provider did not authorize the login ({error})"
            )));
        }
        let (Some(code), Some(state)) = (query.code, query.state) else {
            return Err(failed("The callback lacks `code` or `state`"));
        };
        if !bool::from(state.as_bytes().ct_eq(pre.s.as_bytes())) {
            return Err(failed(
                "The login state does not match; start the login again",
            ));
        }
        // One use per state, on every instance: the first callback counts 1.
        let digest = hex(&Sha256::digest(state.as_bytes()));
        let used = self
            .store
            .increment(
                &format!("oauth-state:{digest}"),
                std::time::Duration::from_secs(LOGIN_STATE_TTL_SECS + 60),
            )
            .await?;
        if used.count > 1 {
            tracing::warn!(provider, "external login: a login state was replayed");
            return Err(failed(
                "This login state has already been used; start the login again",
            ));
        }

        let call = OAuthHttp(self.http.clone());
        let tokens = registered
            .client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pre.v.clone()))
            .request_async(&call)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(answer) => {
                    let code = safe_code(answer.error().as_ref());
                    tracing::info!(provider, error = %code, "external login: the provider refused the code");
                    failed(format!(
                        "The provider refused the authorization code ({code})"
                    ))
                }
                other => {
                    tracing::warn!(provider, error = %other, "external login: token exchange failed");
                    AuthError::ProviderUnavailable
                }
            })?;

        let id_claims = match &registered.jwks {
            Some(jwks) => {
                let Some(id_token) = tokens.extra_fields().id_token.as_deref() else {
                    return Err(failed("The provider sent no id token"));
                };
                let oidc = registered.config.oidc.as_ref().ok_or(AuthError::Internal)?;
                Some(
                    jwks.verify(
                        self.http.as_ref(),
                        id_token,
                        &oidc.issuer,
                        &registered.config.client_id,
                        pre.n.as_deref().unwrap_or(""),
                        tokens.access_token().secret(),
                    )
                    .await?,
                )
            }
            None => None,
        };

        let access_token = tokens.access_token().secret();
        let info: serde_json::Map<String, serde_json::Value> = super::client::get_json(
            self.http.as_ref(),
            &registered.config.userinfo_url,
            Some(access_token),
            "userinfo",
        )
        .await?;
        let emails: Option<Vec<serde_json::Value>> = match &registered.config.emails_url {
            Some(url) => Some(
                super::client::get_json(self.http.as_ref(), url, Some(access_token), "emails")
                    .await?,
            ),
            None => None,
        };
        let identity = identity_from(provider, &info, id_claims.as_ref(), emails.as_deref())?;
        Ok(Completed {
            identity,
            next: safe_next(Some(&pre.x)),
        })
    }

    fn pre_login(&self, request: &impl Request) -> Result<PreLogin, AuthError> {
        let mut total = 0usize;
        let mut found: Option<String> = None;
        for raw in request.header_values("cookie") {
            total += raw.len();
            if total > crate::session::MAX_COOKIE_HEADER_BYTES {
                return Err(failed("The cookie header is too large"));
            }
            let Ok(text) = std::str::from_utf8(raw) else {
                continue;
            };
            for cookie in Cookie::split_parse(text).flatten() {
                if cookie.name() == self.cookie_name {
                    if found.is_some() {
                        return Err(failed("Two login state cookies were sent"));
                    }
                    found = Some(cookie.value().to_string());
                }
            }
        }
        let Some(value) = found.filter(|v| !v.is_empty()) else {
            return Err(failed(
                "The login state cookie is missing or expired; start the login again",
            ));
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false; // checked below with the injected clock
        validation.required_spec_claims.clear();
        validation.set_issuer(&[STATE_ISSUER]);
        let pre = jsonwebtoken::decode::<PreLogin>(&value, &self.decoding, &validation)
            .map_err(|_| failed("The login state cookie is invalid; start the login again"))?
            .claims;
        if pre.exp <= self.clock.unix_seconds() {
            return Err(failed("The login has expired; start the login again"));
        }
        Ok(pre)
    }
}

/// The `oauth2` crate's view of our [`HttpClient`].
struct OAuthHttp(Arc<dyn HttpClient>);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpClientError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<oauth2::HttpResponse, HttpClientError>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let answer = self.0.send(to_outbound(request)).await?;
            let mut builder = oauth2::http::Response::builder().status(answer.status);
            for (name, value) in &answer.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            builder
                .body(answer.body)
                .map_err(|e| HttpClientError(e.to_string()))
        })
    }
}

fn to_outbound(req: oauth2::HttpRequest) -> OutboundRequest {
    let method = if req.method() == oauth2::http::Method::POST {
        "POST"
    } else {
        "GET"
    };
    let url = req.uri().to_string();
    let headers = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    OutboundRequest {
        method,
        url,
        headers,
        body: req.into_body(),
    }
}

/// The provider's answers (userinfo, the verified id token's claims, a GitHub-style
/// email list) as the identity to link.
pub(super) fn identity_from(
    provider: &str,
    info: &serde_json::Map<String, serde_json::Value>,
    id: Option<&super::oidc::IdClaims>,
    emails: Option<&[serde_json::Value]>,
) -> Result<ExternalIdentity, AuthError> {
    use serde_json::Value;
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let subject = text(info.get("sub")).or_else(|| text(info.get("id")));
    if let (Some(id), Some(sub)) = (id, &subject)
        && &id.sub != sub
    {
        // OpenID Connect Core §5.3.2: the userinfo `sub` must be the id token's.
        return Err(failed(
            "The provider's user info does not match its id token",
        ));
    }
    let subject = subject
        .or_else(|| id.map(|c| c.sub.clone()))
        .ok_or_else(|| failed("The provider did not say who the user is"))?;
    let email = vouched_email(info, id, emails)?;
    if email.len() > 254 || !email.contains('@') || email.chars().any(char::is_control) {
        return Err(failed("The provider sent an unusable email address"));
    }
    Ok(ExternalIdentity {
        provider: provider.to_string(),
        subject,
        email,
        name: text(info.get("name")),
    })
}

/// THE decision on which email a login carries (and so which account it may link to):
/// only an address the provider asserts it verified.
///
/// - With a GitHub-style email list: the entry with `primary: true` and
///   `verified: true`; the userinfo `email` (GitHub's public one) is not trusted.
/// - Otherwise the userinfo `email` (else the id token's), verified only when a source
///   that names this very address says `email_verified: true` and none says `false`.
///   Only the JSON boolean counts: absent, `"true"`, `1` or `null` assert nothing, and
///   one source's flag never vouches for another source's address.
///
/// Anything else is refused: the contract allows "a new user is created instead, or
/// the login is refused", and a new user cannot be created for an address an account
/// already has (the user store keeps emails unique, so creating one returns the
/// existing account), nor usefully for an address nobody vouched for.
fn vouched_email(
    info: &serde_json::Map<String, serde_json::Value>,
    id: Option<&super::oidc::IdClaims>,
    emails: Option<&[serde_json::Value]>,
) -> Result<String, AuthError> {
    use serde_json::Value;
    let not_verified = || failed("The provider has not verified this email address");
    let is_true = |v: Option<&Value>| matches!(v, Some(Value::Bool(true)));
    if let Some(list) = emails {
        return list
            .iter()
            .find_map(|entry| match entry.get("email") {
                Some(Value::String(e))
                    if !e.is_empty()
                        && is_true(entry.get("primary"))
                        && is_true(entry.get("verified")) =>
                {
                    Some(e.clone())
                }
                _ => None,
            })
            .ok_or_else(not_verified);
    }
    let from_info = match info.get("email") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.as_str()),
        _ => None,
    };
    let from_id = id
        .and_then(|c| c.email.as_deref())
        .filter(|e| !e.is_empty());
    let Some(email) = from_info.or(from_id) else {
        return Err(failed("The provider did not share an email address"));
    };
    let mut said = Vec::with_capacity(2);
    if from_info == Some(email) {
        said.push(match info.get("email_verified") {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        });
    }
    if from_id == Some(email) {
        said.push(id.and_then(|c| c.email_verified));
    }
    if said.contains(&Some(true)) && !said.contains(&Some(false)) {
        Ok(email.to_string())
    } else {
        Err(not_verified())
    }
}

struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

impl CallbackQuery {
    fn parse(query: &str) -> Result<Self, AuthError> {
        if query.len() > MAX_QUERY_BYTES {
            return Err(failed("The callback query is too large"));
        }
        let mut out = Self {
            code: None,
            state: None,
            error: None,
        };
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match k.as_ref() {
                "code" => &mut out.code,
                "state" => &mut out.state,
                "error" => &mut out.error,
                _ => continue,
            };
            if slot.is_some() {
                return Err(failed(format!("The callback repeats `{k}`")));
            }
            *slot = Some(v.into_owned());
        }
        out.error = out.error.map(|e| safe_code(&e));
        Ok(out)
    }
}

/// An error code from the provider, safe to repeat: RFC 6749 codes are `%x20-21 /
/// %x23-5B / %x5D-7E`; we keep letters, digits and `_` and at most 40 of them.
fn safe_code(code: &str) -> String {
    let kept: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect();
    if kept.is_empty() {
        "unknown_error".into()
    } else {
        kept
    }
}

fn failed(detail: impl Into<std::borrow::Cow<'static, str>>) -> AuthError {
    AuthError::ExternalLogin {
        detail: detail.into(),
    }
}

fn unknown_provider() -> AuthError {
    AuthError::NotFound {
        detail: "Unknown login provider".into(),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Where to send the browser after login: `next` if it is a same-origin relative path,
/// else `/`. Refused: anything not starting with exactly one `/` (`//evil.example`,
/// `https://…`, `evil`), any `\` (browsers read `/\evil` as `//evil`), any control
/// character or space (browsers strip tabs and newlines, turning `/\t/evil` into
/// `//evil`), non-ASCII, and anything over [`MAX_NEXT_BYTES`].
pub fn safe_next(next: Option<&str>) -> String {
    let Some(next) = next else {
        return "/".into();
    };
    let bytes = next.as_bytes();
    let ok = bytes.len() <= MAX_NEXT_BYTES
        && bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && bytes
            .iter()
            .all(|b| (0x21..0x7f).contains(b) && *b != b'\\');
    if ok { next.into() } else { "/".into() }
}
