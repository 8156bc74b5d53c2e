//! The ready-made endpoints (health, JWKS, token, refresh, login, logout, sessions,
//! third-party login) as framework-neutral functions on [`Auth`], each returning a
//! [`Reply`] the adapters render unchanged.

use serde_json::json;

use super::{Auth, Principal, Reply};
use crate::credential::{PasswordLogin, User};
use crate::error::{AuthError, TokenError};
use crate::request::Request;
use crate::token_endpoint::TokenResponse;

use super::mfa::{FieldsError, fields_of};

/// `/login` and `/refresh` bodies larger than this are refused without parsing.
pub(super) const MAX_LOGIN_BODY_BYTES: usize = 16 * 1024;

impl Auth {
    /// `GET /health`: 200 when the state store answers, else 503.
    pub async fn health(&self) -> Reply {
        match self.inner.store.get("health:probe").await {
            Ok(_) => Reply::json(200, &json!({"status": "ok"})),
            Err(e) => {
                tracing::error!(error = %e, "health: state store unavailable");
                AuthError::StoreUnavailable(e).into()
            }
        }
    }

    /// `GET /.well-known/jwks.json`: 200 with the JWK set of the keys that verify access
    /// tokens (the signing key and the previous keys still accepted; public parameters
    /// only), `{"keys": []}` when access tokens are HMAC-signed. Cacheable by anyone for
    /// five minutes (`Cache-Control: public, max-age=300`): after a rotation the new key
    /// is published at once and the previous one stays listed while its tokens live.
    pub fn jwks_endpoint(&self) -> Reply {
        Reply::json(200, &self.inner.tokens.tokens().jwks())
            .header("cache-control", "public, max-age=300")
    }

    /// `POST /token` (RFC 6749 password and refresh grants): the form `body`, its
    /// content type and the client's address (for the throttle) read from `request`.
    pub async fn token_endpoint(&self, request: &impl Request, body: &[u8]) -> Reply {
        let handled = self
            .inner
            .endpoint
            .handle(request.content_type(), body, self.client_addr(request))
            .await;
        match handled {
            Ok(grant) => TokenResponse::headers()
                .iter()
                .fold(Reply::new(grant.status()), |reply, (k, v)| {
                    reply.header(k, *v)
                })
                .body_text(grant.body()),
            Err(e) => e.into(),
        }
    }

    /// `POST /refresh` with JSON `{"refresh_token": "..."}`: rotation; 401 on failure.
    pub async fn refresh_endpoint(&self, body: &[u8]) -> Reply {
        #[derive(serde::Deserialize)]
        struct Body {
            refresh_token: String,
        }
        if body.len() > MAX_LOGIN_BODY_BYTES {
            return bad_request("The request body is too large");
        }
        let Ok(parsed) = serde_json::from_slice::<Body>(body) else {
            return bad_request("Send a JSON body {\"refresh_token\": \"...\"}");
        };
        match self.inner.tokens.refresh(&parsed.refresh_token, None).await {
            Ok((pair, _)) => token_reply(&TokenResponse::new(pair, None)),
            Err(e) => e.into(),
        }
    }

    /// `POST /login` (form `username`, `password`): starts a cookie session. The origin
    /// (login CSRF), the content type and the client's address come from `request`.
    pub async fn login_endpoint(&self, request: &impl Request, body: &[u8]) -> Reply {
        if !self.login_origin_allowed(request) {
            return AuthError::Forbidden {
                detail: "Login refused: the request's Origin is not this app's origin".into(),
            }
            .into();
        }
        let (username, password) = match login_fields(request.content_type(), body) {
            Ok(fields) => fields,
            Err(reply) => return reply,
        };
        let client = self.client_addr(request);
        let user = match self
            .inner
            .authenticator
            .authenticate(&username, password, client)
            .await
        {
            Ok(PasswordLogin::Complete(u)) => u,
            Ok(PasswordLogin::SecondFactorRequired { mfa_token, .. }) => {
                return Reply::json(
                    200,
                    &json!({"message": "Second factor required", "mfa_token": mfa_token}),
                )
                .header("cache-control", "no-store");
            }
            Err(e) => return e.into(),
        };
        self.start_session(&user, &["pwd"], request).await
    }

    /// Starts a cookie session for a signed-in `user` and answers as `/login` does.
    pub(super) async fn start_session(
        &self,
        user: &User,
        amr: &[&str],
        request: &impl Request,
    ) -> Reply {
        let sessions = &self.inner.sessions;
        let started = async {
            let data = sessions.data_for(user).await?;
            sessions.start_with_amr(user, data, amr, request).await
        };
        match started.await {
            Ok(started) => logged_in(started),
            Err(e) => e.into(),
        }
    }

    /// `POST /logout`: a bearer token logs out its login (its `jti` and family); a cookie
    /// session (with CSRF) is deleted and its cookie cleared.
    pub async fn logout_endpoint(&self, request: &impl Request) -> Reply {
        match self.principal(request).await {
            Ok(Principal::Bearer(claims)) => match self.inner.tokens.logout(&claims).await {
                Ok(()) => Reply::json(200, &json!({"message": "Logged out successfully"})),
                Err(e) => e.into(),
            },
            Ok(Principal::Session(session)) => match self.inner.sessions.end(&session).await {
                Ok(clear) => {
                    Reply::json(200, &json!({"message": "Logged out"})).header("set-cookie", clear)
                }
                Err(e) => e.into(),
            },
            Ok(Principal::External(_)) => {
                bad_request("A token of another issuer is logged out at that issuer, not here")
            }
            Err(e) => e.into(),
        }
    }

    /// `POST /logout/all` (bearer): every family and session of the caller.
    pub async fn logout_all_endpoint(&self, request: &impl Request) -> Reply {
        let claims = match self.bearer(request).await {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        match self.inner.tokens.logout_all(&claims.sub).await {
            Ok(()) => Reply::json(200, &json!({"message": "Logged out everywhere"})),
            Err(e) => e.into(),
        }
    }

    /// `GET /sessions` (bearer): the caller's live token families and cookie sessions,
    /// without any token or session id value (ids are opaque handles for `DELETE`).
    pub async fn sessions_endpoint(&self, request: &impl Request) -> Reply {
        let claims = match self.bearer(request).await {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let families = match self.inner.tokens.families(&claims.sub).await {
            Ok(f) => f,
            Err(e) => return e.into(),
        };
        let cookies = match self.inner.store.user_sessions(&claims.sub).await {
            Ok(s) => s,
            Err(e) => return AuthError::from(e).into(),
        };
        let mut list: Vec<serde_json::Value> = families
            .iter()
            .map(|f| json!({"id": format!("t.{}", f.sid), "kind": "token", "created": f.created, "last_seen": f.last_used}))
            .collect();
        list.extend(cookies.iter().map(|(key, r)| {
            // Keys are 64-hex digests (`session_key`); `get` keeps a key from another
            // writer of the store from panicking the listing (the whole key is shown).
            let shown = key.get(..32).unwrap_or(key);
            json!({"id": format!("s.{shown}"), "kind": "session", "created": r.created, "last_seen": r.last_seen})
        }));
        Reply::json(200, &json!({"sessions": list}))
    }

    /// `DELETE /sessions/{id}` (bearer): revokes one of the caller's families or sessions;
    /// 404 for unknown ids and other users' alike.
    pub async fn delete_session_endpoint(&self, request: &impl Request, id: &str) -> Reply {
        let claims = match self.bearer(request).await {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let not_found = || -> Reply {
            AuthError::NotFound {
                detail: "Session not found".into(),
            }
            .into()
        };
        let done = if let Some(sid) = id.strip_prefix("t.") {
            self.inner.tokens.revoke_family(&claims.sub, sid).await
        } else if let Some(prefix) = id.strip_prefix("s.").filter(|p| p.len() == 32) {
            match self.inner.store.user_sessions(&claims.sub).await {
                Ok(all) => match all.iter().find(|(k, _)| k.starts_with(prefix)) {
                    Some((key, _)) => self
                        .inner
                        .store
                        .remove_session(key)
                        .await
                        .map_err(AuthError::from),
                    None => Ok(false),
                },
                Err(e) => Err(e.into()),
            }
        } else {
            Ok(false)
        };
        match done {
            Ok(true) => Reply::json(200, &json!({"message": "Session revoked"})),
            Ok(false) => not_found(),
            Err(e) => e.into(),
        }
    }

    /// `GET /auth/{provider}/login?next=…`: 302 to the provider with `state`, PKCE S256
    /// `code_challenge` (and `nonce` for OpenID Connect), setting the short-lived
    /// HttpOnly pre-login cookie. 404 for an unknown provider. Feature `third-party`.
    #[cfg(feature = "third-party")]
    pub fn external_login_endpoint(&self, provider: &str, request: &impl Request) -> Reply {
        let Some(external) = &self.inner.external else {
            return unknown_provider();
        };
        let next = request.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "next")
                .map(|(_, v)| v.into_owned())
        });
        match external.begin(provider, next.as_deref()) {
            Ok(redirect) => Reply::new(302)
                .header("location", redirect.location)
                .header("set-cookie", redirect.set_cookie)
                .header("cache-control", "no-store"),
            Err(e) => e.into(),
        }
    }

    /// `GET /auth/{provider}/callback?code&state`: checks and consumes the state,
    /// exchanges the code with the PKCE verifier, verifies the id token (OpenID
    /// Connect), reads the user info, links the user through the
    /// [`IdentityHook`](crate::third_party::IdentityHook) and starts a cookie session exactly as `/login`
    /// does (fresh id, the presented one destroyed, a CSRF token, here also in the
    /// readable `csrf_token` cookie since a redirect has no body for it). 302 to the
    /// sanitised `next`. Any failure: the error's answer (400 problem+json, or 502 when
    /// the provider is unreachable), the pre-login cookie cleared, nothing started.
    /// Feature `third-party`.
    #[cfg(feature = "third-party")]
    pub async fn external_callback_endpoint(
        &self,
        provider: &str,
        request: &impl Request,
    ) -> Reply {
        let Some(external) = &self.inner.external else {
            return unknown_provider();
        };
        if external.provider(provider).is_none() {
            return unknown_provider();
        }
        let clear = external.clearing_cookie();
        let outcome = async {
            let done = external.finish(provider, request).await?;
            let user = self.inner.identity.link(&done.identity).await?;
            // The team's session data, plus where the login came from.
            let data = match self.inner.sessions.data_for(&user).await? {
                serde_json::Value::Null => json!({"provider": done.identity.provider}),
                serde_json::Value::Object(mut m) => {
                    m.insert("provider".into(), json!(done.identity.provider));
                    serde_json::Value::Object(m)
                }
                other => other,
            };
            let started = self.inner.sessions.start(&user, data, request).await?;
            Ok::<_, AuthError>((done.next, started))
        }
        .await;
        match outcome {
            Ok((next, started)) => {
                let csrf = cookie::Cookie::build(("csrf_token", started.csrf_token))
                    .secure(self.inner.sessions.config().secure)
                    .same_site(cookie::SameSite::Lax)
                    .path("/")
                    .max_age(cookie::time::Duration::seconds(
                        i64::try_from(self.inner.sessions.config().absolute_timeout.as_secs())
                            .unwrap_or(i64::MAX),
                    ))
                    .build()
                    .to_string();
                Reply::new(302)
                    .header("location", next)
                    .header("set-cookie", started.set_cookie)
                    .header("set-cookie", csrf)
                    .header("set-cookie", clear)
                    .header("cache-control", "no-store")
            }
            Err(e) => Reply::from(e)
                .header("set-cookie", clear)
                .header("cache-control", "no-store"),
        }
    }

    /// The user record behind a principal (for `/me`, `/dashboard`).
    /// A trusted issuer's subject is not a local user id and never reads one: 403.
    pub async fn user_of(&self, principal: &Principal) -> Result<User, AuthError> {
        if let Principal::External(_) = principal {
            return Err(AuthError::Forbidden {
                detail: "This token's issuer has no account here".into(),
            });
        }
        match self.inner.users.find_by_id(principal.user_id()).await? {
            Some(u) if !u.disabled => Ok(u),
            _ => Err(match principal {
                Principal::Session(_) => AuthError::NotAuthenticated,
                _ => TokenError::Revoked.into(),
            }),
        }
    }
}

/// `/login`'s `username` and `password`: from a form (what browsers post) or a JSON
/// object (what scripts send), at most [`MAX_LOGIN_BODY_BYTES`] ([`fields_of`]).
fn login_fields(content_type: Option<&str>, body: &[u8]) -> Result<(String, String), Reply> {
    let send =
        "Send `username` and `password` as application/x-www-form-urlencoded or as a JSON object";
    match fields_of(content_type, body, &["username", "password"]) {
        Ok([Some(u), Some(p)]) => Ok((u, p)),
        Ok(_) => Err(bad_request("Send both `username` and `password`")),
        Err(FieldsError::Repeated(name)) => {
            Err(bad_request(format!("The parameter `{name}` is repeated")))
        }
        Err(FieldsError::TooLarge | FieldsError::Unreadable) => Err(bad_request(send)),
    }
}

#[cfg(feature = "third-party")]
fn unknown_provider() -> Reply {
    AuthError::NotFound {
        detail: "Unknown login provider".into(),
    }
    .into()
}

/// `/login`'s answer once a session is started: the CSRF token in the body, the session
/// cookie. Every way of starting a session from a login form answers with it.
pub(crate) fn logged_in(started: crate::session::StartedSession) -> Reply {
    Reply::json(
        200,
        &json!({"message": "Logged in", "csrf_token": started.csrf_token}),
    )
    .header("set-cookie", started.set_cookie)
    .header("cache-control", "no-store")
}

pub(super) fn bad_request(detail: impl Into<std::borrow::Cow<'static, str>>) -> Reply {
    AuthError::BadRequest {
        detail: detail.into(),
    }
    .into()
}

fn token_reply(ok: &TokenResponse) -> Reply {
    TokenResponse::headers()
        .iter()
        .fold(Reply::new(200), |reply, (k, v)| reply.header(k, *v))
        .body_text(ok.body())
}
