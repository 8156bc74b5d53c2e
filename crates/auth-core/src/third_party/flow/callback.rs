//! The second leg (`GET /auth/{provider}/callback`): the callback's query, the state
//! checked against the pre-login cookie and consumed once, the code exchange, the id
//! token and the user info.

use cookie::Cookie;
use jsonwebtoken::{Algorithm, Validation};
use oauth2::{AuthorizationCode, PkceCodeVerifier, RequestTokenError, TokenResponse as _};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::oauth_http::OAuthHttp;
use super::{
    Completed, ExternalLogin, LOGIN_STATE_TTL_SECS, PreLogin, STATE_ISSUER, failed, identity_from,
    safe_next, unknown_provider,
};
use crate::error::AuthError;
use crate::request::Request;
use crate::third_party::client::get_json;

const MAX_QUERY_BYTES: usize = 8 * 1024;

impl ExternalLogin {
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
        let info: serde_json::Map<String, serde_json::Value> = get_json(
            self.http.as_ref(),
            &registered.config.userinfo_url,
            Some(access_token),
            "userinfo",
        )
        .await?;
        let emails: Option<Vec<serde_json::Value>> = match &registered.config.emails_url {
            Some(url) => {
                Some(get_json(self.http.as_ref(), url, Some(access_token), "emails").await?)
            }
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

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
