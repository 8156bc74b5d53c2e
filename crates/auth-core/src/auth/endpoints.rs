//! The ready-made endpoints (health, token, refresh, login, logout, sessions,
//! third-party login) as framework-neutral functions on [`Auth`], each returning a
//! [`Reply`] the adapters render unchanged.

use std::net::IpAddr;

use serde_json::json;

use super::{Auth, Principal, Reply, json_reply};
use crate::credential::User;
use crate::error::{AuthError, TokenError};
use crate::http::ErrorResponse;
use crate::oauth::TokenResponse;
use crate::request::Request;

impl Auth {
    /// `GET /health`: 200 when the state store answers, else 503.
    pub async fn health(&self) -> Reply {
        match self.inner.store.get("health:probe").await {
            Ok(_) => json_reply(200, &json!({"status": "ok"})),
            Err(e) => {
                tracing::error!(error = %e, "health: state store unavailable");
                AuthError::StoreUnavailable(e).to_response()
            }
        }
    }

    /// `POST /token`.
    pub async fn token_endpoint(
        &self,
        content_type: Option<&str>,
        body: &[u8],
        client: Option<IpAddr>,
    ) -> Reply {
        match self.inner.endpoint.handle(content_type, body, client).await {
            Ok(ok) => token_reply(&ok),
            Err(e) => e.to_response(),
        }
    }

    /// `POST /refresh` with JSON `{"refresh_token": "..."}`: rotation; 401 on failure.
    pub async fn refresh_endpoint(&self, body: &[u8]) -> Reply {
        #[derive(serde::Deserialize)]
        struct Body {
            refresh_token: String,
        }
        if body.len() > 16 * 1024 {
            return AuthError::BadRequest {
                detail: "The request body is too large".into(),
            }
            .to_response();
        }
        let Ok(parsed) = serde_json::from_slice::<Body>(body) else {
            return AuthError::BadRequest {
                detail: "Send a JSON body {\"refresh_token\": \"...\"}".into(),
            }
            .to_response();
        };
        match self.inner.tokens.refresh(&parsed.refresh_token, None).await {
            Ok((pair, _)) => token_reply(&TokenResponse::new(pair, None)),
            Err(e) => e.to_response(),
        }
    }

    /// `POST /login` (form `username`, `password`): starts a cookie session.
    pub async fn login_endpoint(
        &self,
        request: &impl Request,
        content_type: Option<&str>,
        body: &[u8],
        client: Option<IpAddr>,
    ) -> Reply {
        if !self.login_origin_allowed(request) {
            return AuthError::Forbidden {
                detail: "Login refused: the request's Origin is not this app's origin".into(),
            }
            .to_response();
        }
        let form = content_type
            .and_then(|ct| ct.split(';').next())
            .is_some_and(|ct| {
                ct.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form || body.len() > 16 * 1024 {
            return AuthError::BadRequest {
                detail: "Send `username` and `password` as application/x-www-form-urlencoded"
                    .into(),
            }
            .to_response();
        }
        let mut username = None;
        let mut password = None;
        for (k, v) in form_urlencoded::parse(body) {
            match k.as_ref() {
                "username" if username.is_none() => username = Some(v.into_owned()),
                "password" if password.is_none() => password = Some(v.into_owned()),
                "username" | "password" => {
                    return AuthError::BadRequest {
                        detail: format!("The parameter `{k}` is repeated").into(),
                    }
                    .to_response();
                }
                _ => {}
            }
        }
        let (Some(username), Some(password)) = (username, password) else {
            return AuthError::BadRequest {
                detail: "Send both `username` and `password`".into(),
            }
            .to_response();
        };
        let user = match self
            .inner
            .authenticator
            .authenticate(&username, password, client)
            .await
        {
            Ok(u) => u,
            Err(e) => return e.to_response(),
        };
        let sessions = &self.inner.sessions;
        let started = async {
            let data = sessions.data_for(&user).await?;
            sessions.start(&user, data, request).await
        };
        match started.await {
            Ok(started) => {
                let mut reply = json_reply(
                    200,
                    &json!({"message": "Logged in", "csrf_token": started.csrf_token}),
                );
                reply.headers.push(("set-cookie", started.set_cookie));
                reply.headers.push(("cache-control", "no-store".into()));
                reply
            }
            Err(e) => e.to_response(),
        }
    }

    /// `POST /logout`: a bearer token logs out its login (its `jti` and family); a cookie
    /// session (with CSRF) is deleted and its cookie cleared.
    pub async fn logout_endpoint(&self, request: &impl Request, method: &str) -> Reply {
        match self.principal(request, method).await {
            Ok(Principal::Bearer(claims)) => match self.inner.tokens.logout(&claims).await {
                Ok(()) => json_reply(200, &json!({"message": "Logged out successfully"})),
                Err(e) => e.to_response(),
            },
            Ok(Principal::Session(session)) => match self.inner.sessions.end(&session).await {
                Ok(clear) => {
                    let mut reply = json_reply(200, &json!({"message": "Logged out"}));
                    reply.headers.push(("set-cookie", clear));
                    reply
                }
                Err(e) => e.to_response(),
            },
            Err(e) => e.to_response(),
        }
    }

    /// `POST /logout/all` (bearer): every family and session of the caller.
    pub async fn logout_all_endpoint(&self, request: &impl Request) -> Reply {
        let claims = match self.bearer(request).await {
            Ok(c) => c,
            Err(e) => return e.to_response(),
        };
        match self.inner.tokens.logout_all(&claims.sub).await {
            Ok(()) => json_reply(200, &json!({"message": "Logged out everywhere"})),
            Err(e) => e.to_response(),
        }
    }

    /// `GET /sessions` (bearer): the caller's live token families and cookie sessions,
    /// without any token or session id value (ids are opaque handles for `DELETE`).
    pub async fn sessions_endpoint(&self, request: &impl Request) -> Reply {
        let claims = match self.bearer(request).await {
            Ok(c) => c,
            Err(e) => return e.to_response(),
        };
        let families = match self.inner.tokens.families(&claims.sub).await {
            Ok(f) => f,
            Err(e) => return e.to_response(),
        };
        let cookies = match self.inner.store.user_sessions(&claims.sub).await {
            Ok(s) => s,
            Err(e) => return AuthError::from(e).to_response(),
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
        json_reply(200, &json!({"sessions": list}))
    }

    /// `DELETE /sessions/{id}` (bearer): revokes one of the caller's families or sessions;
    /// 404 for unknown ids and other users' alike.
    pub async fn delete_session_endpoint(&self, request: &impl Request, id: &str) -> Reply {
        let claims = match self.bearer(request).await {
            Ok(c) => c,
            Err(e) => return e.to_response(),
        };
        let not_found = || {
            AuthError::NotFound {
                detail: "Session not found".into(),
            }
            .to_response()
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
            Ok(true) => json_reply(200, &json!({"message": "Session revoked"})),
            Ok(false) => not_found(),
            Err(e) => e.to_response(),
        }
    }

    /// `GET /auth/{provider}/login?next=…`: 302 to the provider with `state`, PKCE S256
    /// `code_challenge` (and `nonce` for OpenID Connect), setting the short-lived
    /// HttpOnly pre-login cookie. 404 for an unknown provider.
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
            Ok(redirect) => ErrorResponse {
                status: 302,
                headers: vec![
                    ("location", redirect.location),
                    ("set-cookie", redirect.set_cookie),
                    ("cache-control", "no-store".into()),
                ],
                body: String::new(),
            },
            Err(e) => e.to_response(),
        }
    }

    /// `GET /auth/{provider}/callback?code&state`: checks and consumes the state,
    /// exchanges the code with the PKCE verifier, verifies the id token (OpenID
    /// Connect), reads the user info, links the user through the [`IdentityHook`]
    /// (crate::external::IdentityHook) and starts a cookie session exactly as `/login`
    /// does (fresh id, the presented one destroyed, a CSRF token, here also in the
    /// readable `csrf_token` cookie since a redirect has no body for it). 302 to the
    /// sanitised `next`. Any failure: the error's answer (400 problem+json, or 502 when
    /// the provider is unreachable), the pre-login cookie cleared, nothing started.
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
                ErrorResponse {
                    status: 302,
                    headers: vec![
                        ("location", next),
                        ("set-cookie", started.set_cookie),
                        ("set-cookie", csrf),
                        ("set-cookie", clear),
                        ("cache-control", "no-store".into()),
                    ],
                    body: String::new(),
                }
            }
            Err(e) => {
                let mut reply = e.to_response();
                reply.headers.push(("set-cookie", clear));
                reply.headers.push(("cache-control", "no-store".into()));
                reply
            }
        }
    }

    /// The user record behind a principal (for `/me`, `/dashboard`).
    pub async fn user_of(&self, principal: &Principal) -> Result<User, AuthError> {
        match self.inner.users.find_by_id(principal.user_id()).await? {
            Some(u) if !u.disabled => Ok(u),
            _ => Err(match principal {
                Principal::Bearer(_) => TokenError::Revoked.into(),
                Principal::Session(_) => AuthError::NotAuthenticated,
            }),
        }
    }
}

fn unknown_provider() -> Reply {
    AuthError::NotFound {
        detail: "Unknown login provider".into(),
    }
    .to_response()
}

fn token_reply(ok: &TokenResponse) -> Reply {
    ErrorResponse {
        status: 200,
        headers: TokenResponse::headers()
            .iter()
            .map(|(k, v)| (*k, v.to_string()))
            .collect(),
        body: ok.body(),
    }
}
