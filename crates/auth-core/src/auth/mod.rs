//! [`Auth`]: everything an adapter needs, behind one cheap-to-clone handle.
//!
//! - this file: the handle, the principal of a request (bearer, API key, session + CSRF,
//!   guards), and the decisions made once for every adapter (origins, private answers,
//!   ABAC on the injected clock, key rotation);
//! - `endpoints.rs`: the ready-made endpoints (token, refresh, login, logout, sessions,
//!   third-party login) as framework-neutral functions returning a [`Reply`]; adapters
//!   convert requests in and replies out, so all three frameworks answer byte for byte
//!   alike;
//! - `builder.rs`: [`AuthBuilder`].

use std::sync::Arc;

use crate::credential::{ApiKeyRecord, ApiKeys, KeySource, User, UserStore};
use crate::error::{AuthError, Scheme};
use crate::policy::{Requirement, RolePermissions};
use crate::request::Request;
use crate::session::{CredentialKind, Session, SessionManager, csrf_applies};
use crate::store::StateStore;
use crate::telemetry::{self, AuthScheme};
use crate::token::Claims;
use crate::token::families::TokenManager;

mod bearer;
#[cfg(test)]
mod bearer_tests;
mod builder;
mod endpoints;
mod mfa;
#[cfg(test)]
mod mfa_tests;
mod now;
#[cfg(test)]
mod now_tests;
mod parts;
#[cfg(feature = "passkeys")]
mod passkey_endpoints;
#[cfg(test)]
mod user_json_tests;

pub use builder::AuthBuilder;
pub(crate) use parts::AuthParts;
use parts::Shared;

pub use crate::reply::Reply;

/// Who made a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// A verified, unrevoked access token (its claims shared with the verified-token
    /// cache).
    Bearer(Arc<Claims>),
    /// A live cookie session.
    Session(Session),
    /// A verified access token of a trusted identity provider (resource-server mode):
    /// its issuer, subject, roles and scopes. Revocation does not apply to it.
    External(Arc<crate::resource_server::ExternalClaims>),
}

impl Principal {
    /// The user id; for a trusted issuer's token `ISSUER#SUBJECT`, never a bare subject
    /// that could pass for a local user id.
    pub fn user_id(&self) -> &str {
        match self {
            Principal::Bearer(c) => &c.sub,
            Principal::Session(s) => &s.record.user_id,
            Principal::External(c) => &c.id,
        }
    }

    /// The roles.
    pub fn roles(&self) -> &[String] {
        match self {
            Principal::Bearer(c) => &c.roles,
            Principal::Session(s) => &s.record.roles,
            Principal::External(c) => &c.roles,
        }
    }

    /// How the request authenticated.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Principal::Bearer(_) | Principal::External(_) => CredentialKind::Bearer,
            Principal::Session(_) => CredentialKind::Session,
        }
    }

    /// The subject as its issuer names it: the user id for our own tokens and sessions,
    /// the issuer's `sub` for a trusted issuer's token (where [`Principal::user_id`] is
    /// `ISSUER#SUBJECT`).
    pub fn subject(&self) -> &str {
        match self {
            Principal::External(c) => &c.sub,
            _ => self.user_id(),
        }
    }

    /// Who issued the credential: the token's `iss` (ours or a trusted issuer's), `None`
    /// for a cookie session or our own token without an issuer configured.
    pub fn issuer(&self) -> Option<&str> {
        match self {
            Principal::Bearer(c) => c.iss.as_deref(),
            Principal::Session(_) => None,
            Principal::External(c) => Some(&c.iss),
        }
    }

    /// How the user authenticated (RFC 8176 `amr`): from our token or session as the
    /// login recorded it, from a trusted issuer's token its `amr` claim, if any.
    pub fn amr(&self) -> Vec<&str> {
        match self {
            Principal::Bearer(c) => c.amr.iter().map(String::as_str).collect(),
            Principal::Session(s) => s.record.amr.iter().map(String::as_str).collect(),
            Principal::External(c) => c
                .claims
                .get("amr")
                .and_then(serde_json::Value::as_array)
                .map(|all| all.iter().filter_map(serde_json::Value::as_str).collect())
                .unwrap_or_default(),
        }
    }

    /// The granted OAuth scopes (none for a cookie session).
    pub fn scopes(&self) -> Vec<&str> {
        match self {
            Principal::Bearer(c) => c.scopes().collect(),
            Principal::Session(_) => Vec::new(),
            Principal::External(c) => c.scopes.iter().map(String::as_str).collect(),
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
    /// An authenticated principal that signed in with a second factor (its `amr` names
    /// `otp`, `hwk`, `swk` or `mfa`); otherwise 403 `insufficient_user_authentication`
    /// (RFC 9470), telling the client to sign in again with one.
    SecondFactor,
}

/// Everything an adapter needs. Cheap to clone: one reference count (warp clones its
/// filters, and the `Auth` in each, for every request).
#[derive(Debug, Clone)]
pub struct Auth {
    inner: Arc<Shared>,
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

/// The user as `/me` and `/dashboard` show it, as a JSON value ([`UserJson`] writes the
/// same JSON without building one).
pub fn user_json(user: &User) -> serde_json::Value {
    serde_json::to_value(UserJson(user)).unwrap_or_default()
}

/// The user as `/me` and `/dashboard` show it, serialized straight from the [`User`] (an
/// owned one or a reference): `{"email": …, "id": …, "roles": […]}`, the id a number when
/// it is one. The same JSON as [`user_json`], without building a `serde_json::Value`
/// and dropping it again on every request: `Json(UserJson(user))` in a handler.
#[derive(Debug, Clone)]
pub struct UserJson<U = User>(pub U);

impl<U: std::borrow::Borrow<User>> serde::Serialize for UserJson<U> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let user = self.0.borrow();
        // Keys in the order a `serde_json::Value` object (sorted) writes them.
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("email", &user.email)?;
        match user.id.parse::<u64>() {
            Ok(n) => map.serialize_entry("id", &n)?,
            Err(_) => map.serialize_entry("id", &user.id)?,
        }
        map.serialize_entry("roles", &user.roles)?;
        map.end()
    }
}

impl Auth {
    /// Assembles the facade.
    pub(crate) fn new(parts: AuthParts) -> Self {
        let vary = format!("Authorization, Cookie, {}", parts.api_keys.config().header);
        Self {
            inner: Arc::new(Shared {
                parts,
                private: [("cache-control", "no-store".into()), ("vary", vary)],
            }),
        }
    }

    /// Tokens with their state: login, refresh rotation, revocation, logout.
    pub fn tokens(&self) -> &TokenManager {
        &self.inner.tokens
    }

    /// Cookie sessions (start, load, end, [`SessionManager::update_data`]).
    pub fn sessions(&self) -> &SessionManager {
        &self.inner.sessions
    }

    /// API keys (issue, register, revoke, authenticate).
    pub fn api_keys(&self) -> &ApiKeys {
        &self.inner.api_keys
    }

    /// The user store this `Auth` reads.
    pub fn users(&self) -> &Arc<dyn UserStore> {
        &self.inner.users
    }

    /// The state store (revocations, refresh families, sessions, counters).
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.inner.store
    }

    /// The role → permission table the guards check.
    pub fn roles(&self) -> &RolePermissions {
        &self.inner.roles
    }

    /// Decides `action` on a loaded `resource` with an ABAC `policy`, at the injected
    /// clock's now; a denial is [`AuthError::Forbidden`] carrying `detail` (the decision's
    /// reason is logged, never sent). The one ABAC decision: handlers call it directly
    /// (`?` turns the error into each adapter's rejection).
    ///
    /// ```
    /// use auth_core::policy::{Environment, rule};
    ///
    /// struct User { id: u64 }
    /// struct Doc { owner: u64 }
    /// let owner_only = rule("owner", |u: &User, _: &str, d: &Doc, _: &Environment| u.id == d.owner);
    /// # let auth = auth_core::AuthBuilder::new(&[1; 32], &[2; 32])
    /// #     .users(std::sync::Arc::new(auth_core::credential::MemoryUsers::new()))
    /// #     .build()
    /// #     .unwrap();
    /// let detail = "Cannot delete this document";
    /// assert!(auth.authorize(&*owner_only, &User { id: 3 }, "delete", &Doc { owner: 3 }, detail).is_ok());
    /// assert!(auth.authorize(&*owner_only, &User { id: 2 }, "delete", &Doc { owner: 3 }, detail).is_err());
    /// ```
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
        bearer::bearer_text(bearer::bearer_header(request)?)
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
            &self.inner.private[..]
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
            || self.inner.sessions.presented_id_ref(request).is_some()
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
    pub fn csrf_form_wanted(&self, request: &impl Request) -> bool {
        self.inner.sessions.csrf_form_wanted(request)
    }

    /// The `csrf_token` field of a form body ([`SessionManager::csrf_form_token`]), for
    /// the adapter to present as `X-CSRF-Token` to the CSRF check.
    pub fn csrf_form_token(&self, body: Option<&[u8]>) -> Result<Option<String>, AuthError> {
        self.inner.sessions.csrf_form_token(body)
    }

    /// The caller's verified, unrevoked access-token claims, shared with the
    /// verified-token cache (a cached token costs a reference count, not a copy).
    pub async fn bearer(&self, request: &impl Request) -> Result<Arc<Claims>, AuthError> {
        self.bearer_as(request).await
    }

    /// As [`Auth::bearer`], with caller-defined claims `E`.
    pub async fn bearer_as<E: serde::de::DeserializeOwned + Send + Sync + 'static>(
        &self,
        request: &impl Request,
    ) -> Result<Arc<Claims<E>>, AuthError> {
        let work = async {
            let claims = self.bearer_claims::<E>(request)?;
            self.inner.tokens.check(&claims).await?;
            Ok(claims)
        };
        telemetry::authenticate(work, |_| AuthScheme::Bearer).await
    }

    /// The caller's API key record.
    pub async fn api_key(
        &self,
        request: &impl Request,
    ) -> Result<(ApiKeyRecord, KeySource), AuthError> {
        let work = self.inner.api_keys.authenticate(request);
        telemetry::authenticate(work, |_| AuthScheme::ApiKey).await
    }

    /// The caller's live session ([`AuthError::NotAuthenticated`] without one); on an
    /// unsafe method the CSRF check runs too ([`AuthError::Csrf`]). Every adapter's session
    /// extractor decides here.
    pub async fn session(&self, request: &impl Request) -> Result<Session, AuthError> {
        let work = async {
            let session = self.inner.sessions.require(request).await?;
            self.inner.sessions.check_csrf(request, &session)?;
            Ok(session)
        };
        telemetry::authenticate(work, |_| AuthScheme::Session).await
    }

    /// Bearer when an `Authorization` header is sent, else the session cookie. For a
    /// cookie session and an unsafe method, the CSRF check runs too.
    pub async fn principal(&self, request: &impl Request) -> Result<Principal, AuthError> {
        let work = async {
            if request.header_values("authorization").next().is_some() {
                return self.bearer_principal_unrecorded(request).await;
            }
            match self.inner.sessions.load(request).await? {
                Some(session) => {
                    self.inner.sessions.check_csrf(request, &session)?;
                    Ok(Principal::Session(session))
                }
                None => Err(AuthError::MissingCredentials(Scheme::Bearer)),
            }
        };
        telemetry::authenticate(work, |r| self.scheme_of(request, r)).await
    }

    /// The bearer caller as a [`Principal`]: a trusted issuer's token (its `iss` names
    /// one, resource-server mode) becomes [`Principal::External`], any other our own
    /// [`Principal::Bearer`]. The issuer is selected by `iss`, never by trying keys.
    pub async fn bearer_principal(&self, request: &impl Request) -> Result<Principal, AuthError> {
        let work = self.bearer_principal_unrecorded(request);
        telemetry::authenticate(work, |r| self.scheme_of(request, r)).await
    }

    async fn bearer_principal_unrecorded(
        &self,
        request: &impl Request,
    ) -> Result<Principal, AuthError> {
        let raw = bearer::bearer_header(request)?;
        // A cached token is found first, by its bytes: ours (no trusted issuer's token is
        // in our cache), then a trusted issuer's.
        if let Some(hit) = self.cached_bearer(raw) {
            let claims = hit?;
            self.inner.tokens.check(&claims).await?;
            return Ok(Principal::Bearer(claims));
        }
        if let Some(trusted) = &self.inner.trusted
            && let Some(hit) = bearer::bearer_candidate(raw).and_then(|t| trusted.cached(t))
        {
            return Ok(Principal::External(hit?));
        }
        let token = bearer::bearer_text(raw)?;
        if let Some(trusted) = &self.inner.trusted
            && let Some(verified) = trusted.verify_if_trusted(token).await
        {
            return Ok(Principal::External(verified?));
        }
        Ok(Principal::Bearer(
            self.inner.tokens.authenticate(token).await?,
        ))
    }

    /// The credential scheme an authentication of `request` used, for the metrics: the
    /// principal's own when it succeeded, otherwise what the request presented.
    fn scheme_of(
        &self,
        request: &impl Request,
        result: &Result<Principal, AuthError>,
    ) -> AuthScheme {
        match result {
            Ok(Principal::Bearer(_)) => AuthScheme::Bearer,
            Ok(Principal::Session(_)) => AuthScheme::Session,
            Ok(Principal::External(_)) => AuthScheme::External,
            Err(_) if request.header_values("authorization").next().is_some() => {
                let external = self.inner.trusted.as_ref().is_some_and(|trusted| {
                    self.bearer_token(request)
                        .is_ok_and(|token| trusted.issuer_of(token).is_some())
                });
                if external {
                    AuthScheme::External
                } else {
                    AuthScheme::Bearer
                }
            }
            Err(_) if self.inner.sessions.presented_id_ref(request).is_some() => {
                AuthScheme::Session
            }
            Err(_) => AuthScheme::Bearer,
        }
    }

    /// The client's address, decided once for every adapter: the socket peer, or behind
    /// a trusted proxy the forwarded client
    /// ([`TrustedProxies::client_addr`](crate::proxy::TrustedProxies::client_addr)).
    /// What the per-address login throttle counts.
    pub fn client_addr(&self, request: &impl Request) -> Option<std::net::IpAddr> {
        self.inner.proxies.client_addr(request)
    }

    /// Fetches the keys of every trusted issuer now (call it at start-up); returns each
    /// issuer with the reason its fetch failed, if it did. Empty without trusted issuers.
    pub async fn prefetch_issuer_keys(&self) -> Vec<(String, Option<String>)> {
        match &self.inner.trusted {
            Some(trusted) => trusted.prefetch().await,
            None => Vec::new(),
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
        guard: &Guard,
    ) -> Result<Option<Principal>, AuthError> {
        match guard {
            Guard::Csrf => {
                if csrf_applies(CredentialKind::Session, request.method())
                    && request.header_values("authorization").next().is_none()
                    && let Some(session) = self.inner.sessions.load(request).await?
                {
                    self.inner.sessions.check_csrf(request, &session)?;
                }
                Ok(None)
            }
            Guard::Require(requirement) => {
                let principal = self.principal(request).await?;
                self.require(&principal, requirement)?;
                Ok(Some(principal))
            }
            Guard::SecondFactor => {
                let principal = self.principal(request).await?;
                if !mfa::has_second_factor(&principal) {
                    return Err(AuthError::InsufficientUserAuthentication);
                }
                Ok(Some(principal))
            }
            Guard::Scopes(scopes) => {
                let principal = self.principal(request).await?;
                let granted = match &principal {
                    Principal::Bearer(c) => c.scope.clone(),
                    Principal::Session(_) => None,
                    Principal::External(c) => c.scope(),
                };
                let need: Vec<&str> = scopes.iter().map(String::as_str).collect();
                crate::policy::require_scopes(granted.as_deref(), &need)?;
                Ok(Some(principal))
            }
        }
    }
}
