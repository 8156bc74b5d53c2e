//! `POST /token`: RFC 6749 §4.3 (password) and §6 (refresh) grants.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use serde::Serialize;

use crate::credential::{Authenticator, PasswordLogin, User};
use crate::error::{AuthError, OAuthErrorCode};
use crate::form::{Form, FormError};
use crate::mfa::Proof;
use crate::token::TokenPair;
use crate::token::families::TokenManager;

/// Form bodies larger than this are refused without parsing.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// Which OAuth scopes each role may be granted. Empty (the default) means the deployment
/// does not use scopes: a request naming any scope gets `invalid_scope`.
#[derive(Debug, Clone, Default)]
pub struct ScopePolicy {
    by_role: HashMap<String, BTreeSet<String>>,
}

impl ScopePolicy {
    /// No scopes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `role` be granted `scopes`.
    pub fn allow<I, S>(mut self, role: &str, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.by_role
            .entry(role.to_string())
            .or_default()
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Every scope `user` may be granted.
    pub fn allowed(&self, user: &User) -> BTreeSet<String> {
        user.roles
            .iter()
            .filter_map(|r| self.by_role.get(r))
            .flatten()
            .cloned()
            .collect()
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token.
    pub refresh_token: String,
    /// The granted scope, when it differs from the one requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl TokenResponse {
    /// A response for `pair`, echoing `scope` when given.
    pub fn new(pair: TokenPair, scope: Option<String>) -> Self {
        Self {
            access_token: pair.access.token,
            token_type: "bearer",
            expires_in: pair.expires_in,
            refresh_token: pair.refresh.token,
            scope,
        }
    }

    /// The headers a token response must carry: tokens are never cached (RFC 6749 §5.1).
    pub fn headers() -> [(&'static str, &'static str); 3] {
        [
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
            ("pragma", "no-cache"),
        ]
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a successful token request gives.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenGrant {
    /// A token pair.
    Tokens(TokenResponse),
    /// The password was right, and the user has an active second factor: no tokens yet.
    /// The client sends `mfa_token` back with the `mfa_otp` grant and a code; the answer
    /// is a 403 `{"error":"mfa_required","error_description","mfa_token"}`.
    MfaRequired {
        /// Single-use, live for five minutes.
        mfa_token: String,
    },
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tokens(_) => f.write_str("Tokens(..)"),
            Self::MfaRequired { .. } => f.write_str("MfaRequired(..)"),
        }
    }
}

impl TokenGrant {
    /// The HTTP status: 200 for tokens, 403 for `mfa_required`.
    pub fn status(&self) -> u16 {
        match self {
            Self::Tokens(_) => 200,
            Self::MfaRequired { .. } => 403,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        match self {
            Self::Tokens(tokens) => tokens.body(),
            Self::MfaRequired { mfa_token } => serde_json::json!({
                "error": "mfa_required",
                "error_description": "A second factor is required: send the mfa_token back \
                    with grant_type=mfa_otp and the current code (otp) or a recovery code",
                "mfa_token": mfa_token,
            })
            .to_string(),
        }
    }
}

/// The token endpoint. Every failure is an [`AuthError::OAuth`] (RFC 6749 §5.2 shape).
#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    authn: Authenticator,
    manager: TokenManager,
    scopes: ScopePolicy,
}

const BAD_CREDENTIALS: &str = "Invalid username or password";
const BAD_REFRESH: &str = "The refresh token is invalid, expired or revoked";
const BAD_SECOND_FACTOR: &str =
    "The code is wrong, expired or already used, or the mfa_token is invalid, expired or spent";

fn invalid_request(description: impl Into<Cow<'static, str>>) -> AuthError {
    AuthError::oauth(OAuthErrorCode::InvalidRequest, description)
}

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by one space.
fn valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope.split(' ').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        })
}

impl TokenEndpoint {
    /// An endpoint issuing through `manager`, checking passwords with `authn`.
    pub fn new(authn: Authenticator, manager: TokenManager, scopes: ScopePolicy) -> Self {
        Self {
            authn,
            manager,
            scopes,
        }
    }

    /// Handles one request: its `Content-Type`, its raw body, and the client's address (for
    /// throttling). Never panics on any input.
    pub async fn handle(
        &self,
        content_type: Option<&str>,
        body: &[u8],
        client: Option<IpAddr>,
    ) -> Result<TokenGrant, AuthError> {
        let form = Form::parse(content_type, body, MAX_FORM_BYTES).map_err(form_error)?;
        form.any_repeated().map_err(form_error)?;
        let field = |name: &str| form.field(name).ok().flatten();
        let get = |name: &str| field(name).filter(|v| !v.is_empty());

        match get("grant_type").unwrap_or("password") {
            "password" => {
                let (Some(username), Some(password)) = (get("username"), get("password")) else {
                    return Err(invalid_request(
                        "The password grant needs `username` and `password`",
                    ));
                };
                let scope = checked_scope(field("scope"))?;
                self.password_grant(username, password, scope, client).await
            }
            "mfa_otp" => {
                let Some(mfa_token) = get("mfa_token") else {
                    return Err(invalid_request("The mfa_otp grant needs `mfa_token`"));
                };
                let proof = match (get("otp"), get("recovery_code")) {
                    (Some(otp), None) => Proof::Otp(otp),
                    (None, Some(code)) => Proof::RecoveryCode(code),
                    _ => {
                        return Err(invalid_request(
                            "The mfa_otp grant needs exactly one of `otp` and `recovery_code`",
                        ));
                    }
                };
                let scope = checked_scope(field("scope"))?;
                let user = self
                    .authn
                    .complete_second_factor(mfa_token, proof, client)
                    .await
                    .map_err(to_oauth)?;
                self.issue(&user, scope, &["pwd", "otp"], client).await
            }
            "refresh_token" => {
                let Some(token) = get("refresh_token") else {
                    return Err(invalid_request(
                        "The refresh_token grant needs `refresh_token`",
                    ));
                };
                let scope = checked_scope(field("scope"))?;
                let (pair, _) = self
                    .manager
                    .refresh(token, scope)
                    .await
                    .map_err(|e| match e {
                        AuthError::InvalidToken(_) => {
                            AuthError::oauth(OAuthErrorCode::InvalidGrant, BAD_REFRESH)
                        }
                        other => to_oauth(other),
                    })?;
                Ok(TokenGrant::Tokens(TokenResponse::new(pair, None)))
            }
            _ => Err(AuthError::oauth(
                OAuthErrorCode::UnsupportedGrantType,
                "Supported grant types: password, refresh_token, mfa_otp",
            )),
        }
    }

    async fn password_grant(
        &self,
        username: &str,
        password: &str,
        scope: Option<&str>,
        client: Option<IpAddr>,
    ) -> Result<TokenGrant, AuthError> {
        let login = self
            .authn
            .authenticate(username, password.to_string(), client)
            .await
            .map_err(to_oauth)?;
        match login {
            PasswordLogin::Complete(user) => self.issue(&user, scope, &["pwd"], client).await,
            PasswordLogin::SecondFactorRequired { mfa_token, .. } => {
                Ok(TokenGrant::MfaRequired { mfa_token })
            }
        }
    }

    /// A new login's token pair for `user`, with the scope narrowed to what the user may
    /// be granted and `amr` on both tokens.
    async fn issue(
        &self,
        user: &User,
        scope: Option<&str>,
        amr: &[&str],
        client: Option<IpAddr>,
    ) -> Result<TokenGrant, AuthError> {
        let allowed = self.scopes.allowed(user);
        let (granted, echo) = match scope {
            None if allowed.is_empty() => (None, None),
            None => {
                let all = allowed
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(" ");
                (Some(all.clone()), Some(all))
            }
            Some(requested) => {
                let wanted: Vec<&str> = requested.split(' ').collect();
                let granted: Vec<&str> = wanted
                    .iter()
                    .copied()
                    .filter(|s| allowed.contains(*s))
                    .collect();
                if granted.is_empty() {
                    return Err(AuthError::oauth(
                        OAuthErrorCode::InvalidScope,
                        "None of the requested scopes can be granted to this user",
                    ));
                }
                let g = granted.join(" ");
                let narrowed = granted.len() != wanted.len();
                (Some(g.clone()), narrowed.then_some(g))
            }
        };
        let meta = crate::store::TokenMeta {
            issued: self.manager.tokens().clock().unix_seconds(),
            client: client.map(|a| a.to_string()),
            user_agent: None,
        };
        let pair = self
            .manager
            .login_with_amr(user, granted, amr, &meta)
            .await
            .map_err(to_oauth)?;
        Ok(TokenGrant::Tokens(TokenResponse::new(pair, echo)))
    }
}

/// A `scope` parameter checked for RFC 6749 §3.3 syntax.
fn checked_scope(scope: Option<&str>) -> Result<Option<&str>, AuthError> {
    if scope.is_some_and(|s| !valid_scope(s)) {
        return Err(AuthError::oauth(
            OAuthErrorCode::InvalidScope,
            "The scope is malformed",
        ));
    }
    Ok(scope)
}

/// The token endpoint speaks only RFC 6749 errors.
fn to_oauth(e: AuthError) -> AuthError {
    match e {
        AuthError::InvalidCredentials => {
            AuthError::oauth(OAuthErrorCode::InvalidGrant, BAD_CREDENTIALS)
        }
        AuthError::Throttled { retry_after_secs } => AuthError::OAuth {
            code: OAuthErrorCode::SlowDown,
            description: "Too many failed attempts; retry later".into(),
            retry_after_secs: Some(retry_after_secs),
        },
        AuthError::StoreUnavailable(err) => {
            tracing::error!(error = %err, "token endpoint: state store unavailable");
            AuthError::oauth(
                OAuthErrorCode::TemporarilyUnavailable,
                "The service is temporarily unavailable; try again shortly",
            )
        }
        e @ AuthError::OAuth { .. } => e,
        AuthError::InvalidToken(_) => AuthError::oauth(OAuthErrorCode::InvalidGrant, BAD_REFRESH),
        AuthError::InvalidSecondFactor => {
            AuthError::oauth(OAuthErrorCode::InvalidGrant, BAD_SECOND_FACTOR)
        }
        AuthError::BadRequest { detail } => {
            AuthError::oauth(OAuthErrorCode::InvalidRequest, detail)
        }
        _ => AuthError::oauth(
            OAuthErrorCode::InvalidRequest,
            "The request could not be processed",
        ),
    }
}

/// The token endpoint's answer to a body that is not a usable form (RFC 6749 §3.2).
fn form_error(e: FormError) -> AuthError {
    match e {
        FormError::NotForm => {
            invalid_request("Send the parameters as application/x-www-form-urlencoded")
        }
        FormError::TooLarge => invalid_request("The request body is too large"),
        FormError::Repeated(name) => invalid_request(format!("The parameter `{name}` is repeated")),
    }
}
