//! [`Auth`]: everything an adapter needs, behind one cheap-to-clone handle, and the
//! ready-made endpoints (token, refresh, login, logout, sessions) as framework-neutral
//! functions returning a [`Reply`]. Adapters convert requests in and replies out, so all
//! three frameworks answer byte for byte alike.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use crate::credential::{ApiKeyRecord, ApiKeys, Authenticator, KeySource, User, UserStore};
use crate::error::{AuthError, Scheme, TokenError};
use crate::http::{ErrorResponse, JSON};
use crate::oauth::{TokenEndpoint, TokenResponse};
use crate::policy::{Disclosure, Requirement, RolePermissions};
use crate::request::{MAX_HEADER_BYTES, Request};
use crate::session::{CredentialKind, Session, SessionManager, csrf_applies};
use crate::store::StateStore;
use crate::token::Claims;
use crate::token::families::TokenManager;

/// A response for the wire: status, headers (lower-case names) and body.
pub type Reply = ErrorResponse;

/// A JSON reply.
pub fn json_reply<T: Serialize>(status: u16, body: &T) -> Reply {
    ErrorResponse {
        status,
        headers: vec![("content-type", JSON.to_string())],
        body: serde_json::to_string(body).unwrap_or_else(|_| "{}".into()),
    }
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// A verified, unrevoked access token.
    Bearer(Claims),
    /// A live cookie session.
    Session(Session),
}

impl Principal {
    /// The user id.
    pub fn user_id(&self) -> &str {
        match self {
            Principal::Bearer(c) => &c.sub,
            Principal::Session(s) => &s.record.user_id,
        }
    }

    /// The roles.
    pub fn roles(&self) -> &[String] {
        match self {
            Principal::Bearer(c) => &c.roles,
            Principal::Session(s) => &s.record.roles,
        }
    }

    /// How the request authenticated.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Principal::Bearer(_) => CredentialKind::Bearer,
            Principal::Session(_) => CredentialKind::Session,
        }
    }
}

/// What a route guard requires. Every adapter's guard (axum layer, actix middleware,
/// warp filter) checks it through [`Auth::guard`], so they decide alike.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Guard {
    /// An authenticated principal (bearer, else session with CSRF) meeting a role or
    /// permission requirement.
    Require(Requirement),
    /// A bearer principal granted every one of these scopes.
    Scopes(Vec<String>),
    /// Only the CSRF rule: cookie-authenticated unsafe requests without an
    /// `Authorization` header need the session's token and an allowed `Origin`.
    Csrf,
}

/// The parts [`Auth`] is built from.
#[derive(Debug, Clone)]
pub struct AuthParts {
    /// Tokens with their state.
    pub tokens: TokenManager,
    /// The token endpoint.
    pub endpoint: TokenEndpoint,
    /// Password logins (shared by `/token` and `/login`).
    pub authenticator: Authenticator,
    /// Cookie sessions.
    pub sessions: SessionManager,
    /// API keys.
    pub api_keys: ApiKeys,
    /// Users.
    pub users: Arc<dyn UserStore>,
    /// The state store (for health checks).
    pub store: Arc<dyn StateStore>,
    /// The role → permission table.
    pub roles: RolePermissions,
    /// Whether a 403 names what was required.
    pub disclosure: Disclosure,
    /// Third-party login, when providers are configured.
    pub external: Option<Arc<crate::external::ExternalLogin>>,
    /// Maps a provider's identity to a local user.
    pub identity: Arc<dyn crate::external::IdentityHook>,
}

/// Everything an adapter needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Auth {
    inner: Arc<AuthParts>,
    /// [`Auth::private_headers`]' answer for credentialed requests, built once.
    private: Arc<[(&'static str, String); 2]>,
}

/// An optional credential's outcome: `Ok(None)` only when the request sent no
/// credential of the kind (or only a session cookie that no longer names a live
/// session); every other failure stays an error: a refused token (401), a store outage
/// (503). Every adapter's optional extractor (`Option<Bearer>` and its kin) decides here.
pub fn optional<T>(result: Result<T, AuthError>) -> Result<Option<T>, AuthError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(AuthError::MissingCredentials(_) | AuthError::NotAuthenticated) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The user as `/me` and `/dashboard` show it.
pub fn user_json(user: &User) -> serde_json::Value {
    let id = user
        .id
        .parse::<u64>()
        .map_or_else(|_| json!(user.id), |n| json!(n));
    json!({"id": id, "email": user.email, "roles": user.roles})
}

impl Auth {
    /// Assembles the facade.
    pub fn new(parts: AuthParts) -> Self {
        let vary = format!("Authorization, Cookie, {}", parts.api_keys.config().header);
        Self {
            inner: Arc::new(parts),
            private: Arc::new([("cache-control", "no-store".into()), ("vary", vary)]),
        }
    }

    /// The parts.
    pub fn parts(&self) -> &AuthParts {
        &self.inner
    }

    /// Decides `action` on a loaded `resource` with an ABAC `policy`, at the injected
    /// clock's now; a denial is [`AuthError::Forbidden`] carrying `detail` (the decision's
    /// reason is logged, never sent). The one ABAC decision every adapter's `authorize`
    /// helper calls.
    pub fn authorize<S: ?Sized, R: ?Sized>(
        &self,
        policy: &dyn crate::policy::Policy<S, R>,
        subject: &S,
        action: &str,
        resource: &R,
        detail: &'static str,
    ) -> Result<(), AuthError> {
        let env = crate::policy::Environment {
            now: self.inner.tokens.tokens().clock().unix_seconds(),
            client: None,
        };
        policy
            .decide(subject, action, resource, &env)
            .require(detail)
    }

    /// Rotates the token keys of this running `Auth`, as one call: `access` and `refresh`
    /// sign from now on, the previous keys verify until the tokens they signed expire and
    /// then retire by themselves. Every route, extractor and the token endpoint see the
    /// change at once (they share one owner of the keys); nobody is logged out.
    ///
    /// ```
    /// # fn run(auth: &auth_core::Auth) -> Result<(), auth_core::ConfigError> {
    /// use auth_core::token::{Algorithm, Key};
    /// // New secrets from your secret store; kids name them.
    /// auth.rotate_keys(
    ///     Key::hmac("access-2026-12", Algorithm::HS256, b"the next access secret, 32 bytes+")?,
    ///     Key::hmac("refresh-2026-12", Algorithm::HS256, b"the next refresh secret, 32 bytes")?,
    /// )?;
    /// # Ok(()) }
    /// ```
    pub fn rotate_keys(
        &self,
        access: crate::token::Key,
        refresh: crate::token::Key,
    ) -> Result<(), crate::ConfigError> {
        self.inner.tokens.tokens().rotate(access, refresh)
    }

    /// The bearer token of a request: exactly one `Authorization` header, at most 8 KiB of
    /// visible ASCII, scheme `Bearer`.
    pub fn bearer_token<'r>(&self, request: &'r impl Request) -> Result<&'r str, AuthError> {
        let in_query = request.query().is_some_and(|q| {
            form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token")
        });
        let mut values = request.header_values("authorization");
        if in_query {
            return Err(AuthError::InvalidBearerRequest {
                detail: if values.next().is_some() {
                    "Send the access token once, in the Authorization header only".into()
                } else {
                    "Send the access token in the Authorization header, not in the URL".into()
                },
            });
        }
        let Some(raw) = values.next() else {
            return Err(AuthError::MissingCredentials(Scheme::Bearer));
        };
        if values.next().is_some() {
            return Err(TokenError::Malformed.into());
        }
        if raw.len() > MAX_HEADER_BYTES {
            return Err(AuthError::HeaderTooLarge);
        }
        // Visible ASCII and spaces only. Written as a fold without an early exit so the
        // compiler vectorises it: this runs on every request.
        let visible = raw
            .iter()
            .fold(true, |ok, b| ok & (b.wrapping_sub(0x20) < 0x5f));
        if !visible {
            return Err(TokenError::Malformed.into());
        }
        let text = std::str::from_utf8(raw).map_err(|_| TokenError::Malformed)?;
        let (scheme, token) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::MissingCredentials(Scheme::Bearer));
        }
        let token = token.trim();
        if token.is_empty() || token.contains(' ') {
            return Err(TokenError::Malformed.into());
        }
        Ok(token)
    }

    /// Headers for the response to `request`, decided once for every adapter: when it
    /// carried a credential (an `Authorization` header, the API key header or query
    /// parameter, the session cookie), `Cache-Control: no-store` and
    /// `Vary: Authorization, Cookie, <API key header>`, so no shared cache stores or
    /// serves one user's answer to another (RFC 9111 §5.2.2.5, OWASP ASVS 5 V14.3);
    /// otherwise none. Adapters apply them to every response (`private_responses`),
    /// replacing `Cache-Control` and appending to any `Vary` the app set.
    pub fn private_headers(&self, request: &impl Request) -> &[(&'static str, String)] {
        if self.carries_credentials(request) {
            &self.private[..]
        } else {
            &[]
        }
    }

    /// Whether `request` carries any credential this app reads: an `Authorization`
    /// header, the API key header or query parameter, or the session cookie.
    pub fn carries_credentials(&self, request: &impl Request) -> bool {
        let keys = self.inner.api_keys.config();
        request.header_values("authorization").next().is_some()
            || request.header_values(&keys.header).next().is_some()
            || keys.query_param.as_deref().is_some_and(|param| {
                request
                    .query()
                    .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == param))
            })
            || self.inner.sessions.presented_id(request).is_some()
    }

    /// Whether `POST /login` may start a session for this request (login CSRF): `true`
    /// without an `Origin` header (non-browser clients), else only for the app's own
    /// origin or a configured one, compared by scheme, host and port
    /// ([`SessionManager::origin_allowed`], the same policy as the CSRF check).
    pub fn login_origin_allowed(&self, request: &impl Request) -> bool {
        self.inner.sessions.origin_allowed(request)
    }

    /// Whether the CSRF check of this request needs its body's `csrf_token` form field
    /// ([`SessionManager::csrf_form_wanted`]); adapters read the body only then.
    pub fn csrf_form_wanted(&self, request: &impl Request, method: &str) -> bool {
        self.inner.sessions.csrf_form_wanted(request, method)
    }

    /// The `csrf_token` field of a form body ([`SessionManager::csrf_form_token`]), for
    /// the adapter to present as `X-CSRF-Token` to the CSRF check.
    pub fn csrf_form_token(&self, body: Option<&[u8]>) -> Result<Option<String>, AuthError> {
        self.inner.sessions.csrf_form_token(body)
    }

    /// The caller's verified, unrevoked access-token claims.
    pub async fn bearer(&self, request: &impl Request) -> Result<Claims, AuthError> {
        let token = self.bearer_token(request)?;
        self.inner.tokens.authenticate(token).await
    }

    /// As [`Auth::bearer`], with caller-defined claims `E`.
    pub async fn bearer_as<E: serde::de::DeserializeOwned + 'static>(
        &self,
        request: &impl Request,
    ) -> Result<Claims<E>, AuthError> {
        let token = self.bearer_token(request)?;
        self.inner.tokens.authenticate_as::<E>(token).await
    }

    /// The caller's API key record.
    pub async fn api_key(
        &self,
        request: &impl Request,
    ) -> Result<(ApiKeyRecord, KeySource), AuthError> {
        self.inner.api_keys.authenticate(request).await
    }

    /// The caller's live session ([`AuthError::NotAuthenticated`] without one).
    pub async fn session(&self, request: &impl Request) -> Result<Session, AuthError> {
        self.inner.sessions.require(request).await
    }

    /// Bearer when an `Authorization` header is sent, else the session cookie. For a
    /// cookie session and an unsafe `method`, the CSRF check runs too.
    pub async fn principal(
        &self,
        request: &impl Request,
        method: &str,
    ) -> Result<Principal, AuthError> {
        if request.header_values("authorization").next().is_some() {
            return Ok(Principal::Bearer(self.bearer(request).await?));
        }
        match self.inner.sessions.load(request).await? {
            Some(session) => {
                if csrf_applies(CredentialKind::Session, method) {
                    self.inner.sessions.check_csrf(method, request, &session)?;
                }
                Ok(Principal::Session(session))
            }
            None => Err(AuthError::MissingCredentials(Scheme::Bearer)),
        }
    }

    /// Checks a role or permission requirement against the principal's roles.
    pub fn require(
        &self,
        principal: &Principal,
        requirement: &Requirement,
    ) -> Result<(), AuthError> {
        requirement.check(principal.roles(), &self.inner.roles, self.inner.disclosure)
    }

    /// Checks `guard` for a request; the principal it authenticated, if any (a CSRF-only
    /// guard authenticates nobody).
    pub async fn guard(
        &self,
        request: &impl Request,
        method: &str,
        guard: &Guard,
    ) -> Result<Option<Principal>, AuthError> {
        match guard {
            Guard::Csrf => {
                if csrf_applies(CredentialKind::Session, method)
                    && request.header_values("authorization").next().is_none()
                    && let Some(session) = self.inner.sessions.load(request).await?
                {
                    self.inner.sessions.check_csrf(method, request, &session)?;
                }
                Ok(None)
            }
            Guard::Require(requirement) => {
                let principal = self.principal(request, method).await?;
                self.require(&principal, requirement)?;
                Ok(Some(principal))
            }
            Guard::Scopes(scopes) => {
                let principal = self.principal(request, method).await?;
                let granted = match &principal {
                    Principal::Bearer(c) => c.scope.as_deref(),
                    Principal::Session(_) => None,
                };
                let need: Vec<&str> = scopes.iter().map(String::as_str).collect();
                crate::policy::require_scopes(granted, &need)?;
                Ok(Some(principal))
            }
        }
    }

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

/// Builds an [`Auth`] with secure defaults: the two token secrets and a user store are
/// required; the library ships no users and no default credentials.
///
/// Defaults: the in-memory state store (one process only: logout, revocation and
/// throttling stay local to it, and a warning is logged at build; select a shared store
/// with `.store(Arc::new(auth_redis::RedisStore::connect(url, "myapp").await?))` or
/// `.store(Arc::new(auth_sqlx::SqlStore::connect(url).await?))`),
/// argon2id at OWASP's parameters, 15-minute access and 30-day refresh tokens, default
/// throttling and cookie settings, API keys in the `X-API-Key` header, the contract's
/// role table, and 403s that name what was required.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use auth_core::credential::{MemoryUsers, PasswordParams, Passwords, User};
///
/// // Your users: implement `UserStore` over your table, or fill a `MemoryUsers`.
/// let users = MemoryUsers::new();
/// let hash = Passwords::new(PasswordParams::default())?.hash("correct horse".into()).await?;
/// users.insert(User {
///     id: "1".into(),
///     username: "alice".into(),
///     email: Some("alice@example.com".into()),
///     roles: vec!["admin".into()],
///     password_hash: hash,
///     disabled: false,
/// });
/// // Secrets come from the environment in a real service (a random secret logs
/// // everyone out at every restart).
/// let auth = auth_core::AuthBuilder::new(b"access-secret-of-at-least-32-bytes", b"refresh-secret-of-at-least-32-byte")
///     .users(Arc::new(users))
///     .issuer("my-app")
///     .build()?;
/// let alice = auth.parts().users.find_by_username("alice").await?.unwrap();
/// let pair = auth.parts().tokens.login(&alice, None).await?;
/// assert_eq!(auth.parts().tokens.authenticate(&pair.access.token).await?.sub, "1");
///
/// // Without a user store, building fails and says the fix.
/// let err = auth_core::AuthBuilder::new(b"access-secret-of-at-least-32-bytes", b"refresh-secret-of-at-least-32-byte")
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("AuthBuilder::users"));
/// # Ok(()) }
/// ```
pub struct AuthBuilder {
    access: Vec<u8>,
    refresh: Vec<u8>,
    tokens: crate::token::TokenConfig,
    store: Option<Arc<dyn StateStore>>,
    users: Option<Arc<dyn UserStore>>,
    api_keys: Option<Arc<dyn crate::credential::ApiKeyStore>>,
    api_key_config: crate::credential::ApiKeyConfig,
    passwords: crate::credential::PasswordParams,
    throttle: crate::credential::ThrottleConfig,
    sessions: crate::session::SessionConfig,
    scopes: crate::oauth::ScopePolicy,
    roles: RolePermissions,
    disclosure: Disclosure,
    clock: Arc<dyn crate::clock::Clock>,
    mode: crate::token::families::RevocationMode,
    providers: crate::external::Providers,
    http: Option<Arc<dyn crate::external::HttpClient>>,
    identity: Option<Arc<dyn crate::external::IdentityHook>>,
    extra_claims: Option<Arc<dyn crate::token::families::ExtraClaims>>,
    session_data: Option<Arc<dyn crate::session::SessionData>>,
    rings: Option<(crate::token::KeyRing, crate::token::KeyRing)>,
}

impl std::fmt::Debug for AuthBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthBuilder")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl AuthBuilder {
    /// A builder with the HS256 secrets for access and refresh tokens (each ≥ 32 bytes,
    /// and different: checked by [`AuthBuilder::build`]). Their `kid`s are derived from
    /// the secrets ([`derived_kid`](crate::token::derived_kid)); for kids of your own,
    /// asymmetric keys or a previous key that still verifies, add
    /// [`AuthBuilder::key_rings`].
    pub fn new(access_secret: &[u8], refresh_secret: &[u8]) -> Self {
        Self {
            access: access_secret.to_vec(),
            refresh: refresh_secret.to_vec(),
            tokens: crate::token::TokenConfig::default(),
            store: None,
            users: None,
            api_keys: None,
            api_key_config: crate::credential::ApiKeyConfig::default(),
            passwords: crate::credential::PasswordParams::default(),
            throttle: crate::credential::ThrottleConfig::default(),
            sessions: crate::session::SessionConfig::default(),
            scopes: crate::oauth::ScopePolicy::new(),
            roles: RolePermissions::contract_default(),
            disclosure: Disclosure::Name,
            clock: Arc::new(crate::clock::SystemClock),
            mode: crate::token::families::RevocationMode::Blocklist,
            providers: crate::external::Providers::new(),
            http: None,
            identity: None,
            extra_claims: None,
            session_data: None,
            rings: None,
        }
    }

    /// The token keys as key rings, instead of the HMAC shortcut of
    /// [`AuthBuilder::new`]: asymmetric keys (RS256, PS256, ES256, EdDSA from PEM), kids of
    /// your choosing, and previous keys that still verify (start after a rotation without
    /// logging anyone out: the previous key in the ring, the new one signing). The access
    /// secret given to `new` still keys the third-party login's state cookie.
    ///
    /// ```
    /// use auth_core::token::{Algorithm, Key, KeyRing};
    /// # fn run(users: std::sync::Arc<auth_core::credential::MemoryUsers>) -> Result<(), auth_core::ConfigError> {
    /// let access = KeyRing::new(Key::hmac("access-2026-12", Algorithm::HS256, b"the current access secret, 32 b+")?)
    ///     .with_key(Key::hmac("access-2026-11", Algorithm::HS256, b"the previous access secret, 32 b")?)?;
    /// let refresh = KeyRing::new(Key::hmac("refresh-2026-12", Algorithm::HS256, b"the current refresh secret, 32b+")?);
    /// let auth = auth_core::AuthBuilder::new(b"login-state-secret-of-at-least-32-b", b"unused-when-rings-are-given-32-byte")
    ///     .key_rings(access, refresh)
    ///     .users(users)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn key_rings(
        mut self,
        access: crate::token::KeyRing,
        refresh: crate::token::KeyRing,
    ) -> Self {
        self.rings = Some((access, refresh));
        self
    }

    /// Your per-session data, attached when a login starts a session (the ready-made
    /// `/login` and third-party login); see [`SessionData`](crate::session::SessionData).
    /// Change it during the session with
    /// [`SessionManager::update_data`](crate::session::SessionManager::update_data).
    pub fn session_data(mut self, hook: Arc<dyn crate::session::SessionData>) -> Self {
        self.session_data = Some(hook);
        self
    }

    /// Your own access-token claims, computed from the user at login and again at every
    /// refresh (so `Bearer<MyClaims>` routes accept refreshed tokens); see
    /// [`ExtraClaims`](crate::ExtraClaims).
    pub fn extra_claims(mut self, hook: Arc<dyn crate::token::families::ExtraClaims>) -> Self {
        self.extra_claims = Some(hook);
        self
    }

    /// Third-party login providers, and the HTTP client that talks to them (with the
    /// `reqwest-client` feature, [`ReqwestClient`](crate::external::ReqwestClient)).
    pub fn external_login(
        mut self,
        providers: crate::external::Providers,
        http: Arc<dyn crate::external::HttpClient>,
    ) -> Self {
        self.providers = providers;
        self.http = Some(http);
        self
    }

    /// How a provider's identity becomes a local user (default:
    /// [`LinkByEmail`](crate::external::LinkByEmail) over the user store, new users with
    /// role `viewer`).
    pub fn identity_hook(mut self, hook: Arc<dyn crate::external::IdentityHook>) -> Self {
        self.identity = Some(hook);
        self
    }

    /// Sets `iss` (issued and required).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.tokens.issuer = Some(issuer.into());
        self
    }

    /// Sets `aud` (issued and required).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.tokens.audience = Some(audience.into());
        self
    }

    /// Replaces the token settings (lifetimes, leeway, size limit; issuer and audience).
    pub fn token_config(mut self, config: crate::token::TokenConfig) -> Self {
        self.tokens = config;
        self
    }

    /// The state store. Default: in memory, for one process only (a warning is logged at
    /// build when it is chosen this way). Several instances share state through Redis,
    /// `.store(Arc::new(auth_redis::RedisStore::connect(url, "myapp").await?))`, or a SQL
    /// database, `.store(Arc::new(auth_sqlx::SqlStore::connect(url).await?))`.
    pub fn store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The user store (required: [`AuthBuilder::build`] refuses to build without one).
    pub fn users(mut self, users: Arc<dyn UserStore>) -> Self {
        self.users = Some(users);
        self
    }

    /// The API key store and settings (default: empty, in memory, header only).
    pub fn api_keys(
        mut self,
        store: Arc<dyn crate::credential::ApiKeyStore>,
        config: crate::credential::ApiKeyConfig,
    ) -> Self {
        self.api_keys = Some(store);
        self.api_key_config = config;
        self
    }

    /// argon2id parameters for new hashes.
    pub fn password_params(mut self, params: crate::credential::PasswordParams) -> Self {
        self.passwords = params;
        self
    }

    /// Login throttling thresholds.
    pub fn throttle(mut self, config: crate::credential::ThrottleConfig) -> Self {
        self.throttle = config;
        self
    }

    /// Session and cookie settings.
    pub fn sessions(mut self, config: crate::session::SessionConfig) -> Self {
        self.sessions = config;
        self
    }

    /// Which OAuth scopes each role may be granted.
    pub fn scopes(mut self, scopes: crate::oauth::ScopePolicy) -> Self {
        self.scopes = scopes;
        self
    }

    /// The role → permission table.
    pub fn roles(mut self, roles: RolePermissions) -> Self {
        self.roles = roles;
        self
    }

    /// Whether a 403 names what was required.
    pub fn disclosure(mut self, disclosure: Disclosure) -> Self {
        self.disclosure = disclosure;
        self
    }

    /// Blocklist (default) or allowlist revocation.
    pub fn revocation_mode(mut self, mode: crate::token::families::RevocationMode) -> Self {
        self.mode = mode;
        self
    }

    /// The clock (tests pass a `ManualClock`).
    pub fn clock(mut self, clock: Arc<dyn crate::clock::Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds, refusing weak or shared secrets and insecure settings with a
    /// [`ConfigError`](crate::ConfigError) that says the fix.
    pub fn build(self) -> Result<Auth, crate::ConfigError> {
        use crate::credential::{ApiKeys, LoginThrottle, MemoryApiKeys, Passwords};
        use crate::token::{Algorithm, Key, KeyRing, TokenService};
        let users = self.users.ok_or(crate::ConfigError::NoUserStore)?;
        let store = match self.store {
            Some(store) => store,
            None => {
                tracing::warn!(
                    "no state store configured: using the in-memory store, so logout, \
                     revocation and login throttling stay local to this process; pass a \
                     shared store with AuthBuilder::store for more than one instance"
                );
                Arc::new(crate::store::MemoryStore::with_clock(self.clock.clone()))
            }
        };
        let (access_ring, refresh_ring) = match self.rings {
            Some(rings) => rings,
            None => (
                KeyRing::new(Key::hmac(
                    crate::token::derived_kid(&self.access),
                    Algorithm::HS256,
                    &self.access,
                )?),
                KeyRing::new(Key::hmac(
                    crate::token::derived_kid(&self.refresh),
                    Algorithm::HS256,
                    &self.refresh,
                )?),
            ),
        };
        let tokens =
            TokenService::with_clock(access_ring, refresh_ring, self.tokens, self.clock.clone())?;
        let throttle = LoginThrottle::new(self.throttle, store.clone());
        let authenticator =
            Authenticator::new(users.clone(), Passwords::new(self.passwords)?, throttle);
        let mut manager =
            TokenManager::new(tokens, users.clone(), store.clone()).with_mode(self.mode);
        if let Some(hook) = self.extra_claims {
            manager = manager.with_extra_claims(hook);
        }
        let endpoint = TokenEndpoint::new(authenticator.clone(), manager.clone(), self.scopes);
        let mut sessions = SessionManager::new(self.sessions, store.clone(), self.clock.clone())?;
        if let Some(hook) = self.session_data {
            sessions = sessions.with_data_hook(hook);
        }
        sessions = sessions.with_users(users.clone());
        let key_store = self
            .api_keys
            .unwrap_or_else(|| Arc::new(MemoryApiKeys::new()));
        let external = match (&self.http, self.providers.is_empty()) {
            (Some(http), false) => Some(Arc::new(crate::external::ExternalLogin::new(
                &self.providers,
                http.clone(),
                store.clone(),
                self.clock.clone(),
                &self.access,
                sessions.config().secure,
            )?)),
            (None, false) => {
                return Err(crate::ConfigError::Invalid {
                    setting: "external login",
                    reason: "providers are configured without an HTTP client; pass one to AuthBuilder::external_login".into(),
                });
            }
            _ => None,
        };
        let identity = self.identity.unwrap_or_else(|| {
            Arc::new(crate::external::LinkByEmail::new(
                users.clone(),
                vec!["viewer".into()],
            ))
        });
        let api_keys = ApiKeys::new(self.api_key_config, key_store, self.clock)?;
        Ok(Auth::new(AuthParts {
            tokens: manager,
            endpoint,
            authenticator,
            sessions,
            api_keys,
            users,
            store,
            roles: self.roles,
            disclosure: self.disclosure,
            external,
            identity,
        }))
    }
}
