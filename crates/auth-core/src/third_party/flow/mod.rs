//! The authorization-code flow with PKCE, both legs, framework-neutral.
//!
//! This module holds the flow's types, its construction and the first leg; the second
//! leg, the `oauth2` HTTP bridge and the choice of the identity are submodules.

mod callback;
mod oauth_http;
mod vouched;

use std::collections::BTreeMap;
use std::sync::Arc;

use cookie::Cookie;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, RedirectUrl, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::client::HttpClient;
use super::oidc::Jwks;
use super::provider::{ClientAuth, ProviderConfig, Providers};
use crate::clock::Clock;
use crate::error::AuthError;
use crate::store::StateStore;
pub(super) use vouched::identity_from;

/// How long a started login may take before its callback is refused.
pub const LOGIN_STATE_TTL_SECS: u64 = 600;
/// The longest `next` path kept; a longer one sends the user to `/`.
pub const MAX_NEXT_BYTES: usize = 2048;
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
