//! Cookie sessions and CSRF protection: the tutorial's `/login`, `/dashboard`, `/logout`
//! cookie flow, safe by default.
//!
//! - Session ids are 256 bits from the CSPRNG, base64url (43 characters). The store keys
//!   each session by the SHA-256 of its id, so reading the store does not hand out cookies.
//! - Cookies are built by the `cookie` crate: `HttpOnly; Secure; SameSite=Lax; Path=/;
//!   Max-Age`. An opt-in `__Host-` prefix forces `Secure`, `Path=/` and no `Domain`;
//!   insecure combinations are refused when the [`SessionManager`] is built.
//! - Starting a session always issues a fresh id and destroys any id the client presented
//!   (session fixation). Ending one deletes it server-side and clears the cookie.
//! - Idle and absolute timeouts; the idle expiry slides, but the store is written at most
//!   once per `touch_interval`, not on every request.
//! - CSRF for cookie-authenticated unsafe methods: a synchronizer token kept in the
//!   session, compared in constant time with `X-CSRF-Token` (or an HTML form's
//!   `csrf_token` field, which the adapters present as that header), plus an `Origin`
//!   check by scheme, host and port ([`OriginPolicy`], also applied to `POST /login`).
//!   A request that sends no `Origin` passes the origin check (non-browser clients send
//!   none; browsers send one on every cross-origin unsafe request): the token is what a
//!   forged request cannot carry, so it is required either way.
//!   Bearer- and API-key-authenticated requests need none ([`csrf_applies`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use auth_core::clock::SystemClock;
//! use auth_core::credential::User;
//! use auth_core::adapter::SimpleRequest;
//! use auth_core::session::{SessionConfig, SessionManager};
//! use auth_core::store::MemoryStore;
//!
//! let sessions = SessionManager::new(SessionConfig::default(), Arc::new(MemoryStore::new()), Arc::new(SystemClock))?;
//! let alice = User { id: "1".into(), username: "alice".into(), email: None, roles: vec!["admin".into()], password_hash: String::new(), disabled: false, data: serde_json::Value::Null };
//!
//! let started = sessions.start(&alice, serde_json::Value::Null, &SimpleRequest::new()).await?;
//! assert!(started.set_cookie.contains("HttpOnly") && started.set_cookie.contains("SameSite=Lax"));
//!
//! // The browser sends the cookie back:
//! let cookie = started.set_cookie.split(';').next().unwrap();
//! let next = SimpleRequest::new().header("cookie", cookie);
//! let session = sessions.require(&next).await?;
//! assert_eq!(&*session.record.user_id, "1");
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use cookie::{Cookie, SameSite as CookieSameSite};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::Clock;
use crate::credential::User;
use crate::error::{AuthError, ConfigError, StoreError};
use crate::ids::random_b64;
use crate::request::{Request, header_value, is_safe_method};
use crate::store::{SessionRecord, StateStore};

mod config;
mod keys;
mod load;
mod origin;

#[cfg(any(test, feature = "store-test-suite"))]
pub mod suite;

pub use origin::{Origin, OriginError, OriginPolicy};

/// The largest form body the CSRF check reads for the `csrf_token` field (16 KiB).
pub const MAX_CSRF_FORM_BYTES: usize = 16 * 1024;

/// Length of a session id: 32 random bytes in unpadded base64url.
const ID_LEN: usize = 43;
/// `Cookie` headers larger than this (all of them together) are not read.
pub const MAX_COOKIE_HEADER_BYTES: usize = 8 * 1024;

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Never sent on cross-site requests.
    Strict,
    /// Sent on top-level cross-site navigations only (the default).
    Lax,
    /// Sent on every request; requires `Secure`.
    None,
}

/// Session and cookie settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// The cookie's name (default `session_id`); with `host_prefix`, `__Host-` is prepended.
    pub cookie_name: String,
    /// Use the `__Host-` prefix: the browser then only accepts the cookie with `Secure`,
    /// `Path=/` and no `Domain`, so no subdomain can set or shadow it. Default `false`.
    pub host_prefix: bool,
    /// The `Secure` attribute (default `true`; turn off only for plain-HTTP development).
    pub secure: bool,
    /// The `SameSite` attribute (default `Lax`).
    pub same_site: SameSite,
    /// The `Domain` attribute (default none: host-only).
    pub domain: Option<String>,
    /// The `Path` attribute (default `/`).
    pub path: String,
    /// The longest a session lives, however active (default 1 hour; also the `Max-Age`).
    pub absolute_timeout: Duration,
    /// A session unused this long ends (default 30 minutes).
    pub idle_timeout: Duration,
    /// The store is written to slide the idle expiry at most this often (default 60 s).
    pub touch_interval: Duration,
    /// Origins (`scheme://host[:port]`) allowed on cookie-authenticated unsafe requests
    /// and on `POST /login`, besides the app's own (see [`OriginPolicy`]). Compared by
    /// scheme, host and port. Default: none.
    pub allowed_origins: Vec<String>,
    /// How many session ids' store keys (their SHA-256) are remembered, so that a
    /// session's later requests need no digest (default 10 000; 0 turns it off). Only ids
    /// of live sessions enter; the store is still asked on every request, so an ended
    /// session ends at once.
    pub key_cache: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            cookie_name: "session_id".into(),
            host_prefix: false,
            secure: true,
            same_site: SameSite::Lax,
            domain: None,
            path: "/".into(),
            absolute_timeout: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(1800),
            touch_interval: Duration::from_secs(60),
            allowed_origins: Vec::new(),
            key_cache: 10_000,
        }
    }
}

impl SessionConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |reason: &str| ConfigError::Invalid {
            setting: "session cookie",
            reason: reason.to_string(),
        };
        let name_ok = !self.cookie_name.is_empty()
            && self.cookie_name.len() <= 64
            && self
                .cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(bad(
                "the cookie name must be 1 to 64 letters, digits, `_` or `-`",
            ));
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(bad(
                "SameSite=None without Secure is refused by browsers and unsafe; set `secure: true` or use SameSite=Lax",
            ));
        }
        if self.host_prefix {
            if !self.secure {
                return Err(bad(
                    "the __Host- prefix requires Secure; set `secure: true`",
                ));
            }
            if self.domain.is_some() {
                return Err(bad("the __Host- prefix forbids a Domain; remove `domain`"));
            }
            if self.path != "/" {
                return Err(bad("the __Host- prefix requires Path=/; set `path: \"/\"`"));
            }
        }
        if !self.path.starts_with('/')
            || self.path.bytes().any(|b| b == b';' || b.is_ascii_control())
        {
            return Err(bad(
                "the path must start with `/` and hold no `;` or control characters",
            ));
        }
        if self.domain.as_deref().is_some_and(|d| {
            d.is_empty()
                || d.bytes()
                    .any(|b| b == b';' || b.is_ascii_whitespace() || b.is_ascii_control())
        }) {
            return Err(bad("the domain must be a plain host name"));
        }
        if self.absolute_timeout.is_zero() || self.idle_timeout.is_zero() {
            return Err(bad("session timeouts must be at least one second"));
        }
        Ok(())
    }
}

/// A live session, as loaded for a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The store key (a digest of the id; the id itself is only ever in the cookie),
    /// shared with the key cache.
    pub key: Arc<str>,
    /// What the store holds.
    pub record: SessionRecord,
}

/// A session just started: the cookie to set and the CSRF token to hand the client.
#[derive(Debug, Clone)]
pub struct StartedSession {
    /// The session.
    pub session: Session,
    /// The `Set-Cookie` header value.
    pub set_cookie: String,
    /// The CSRF token (also in `session.record`), returned in the login response.
    pub csrf_token: String,
}

/// How a request authenticated, for the CSRF rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// `Authorization: Bearer`.
    Bearer,
    /// An API key.
    ApiKey,
    /// A session cookie.
    Session,
}

/// Whether a request needs the CSRF check: only cookie-authenticated requests with an
/// unsafe method. Browsers attach cookies by themselves; they never attach bearer tokens
/// or API keys, so those cannot be forged cross-site.
pub fn csrf_applies(kind: CredentialKind, method: &str) -> bool {
    kind == CredentialKind::Session && !is_safe_method(method)
}

/// The SHA-256 of a session id, in hex: the store key.
pub fn session_key(id: &str) -> String {
    crate::ids::hex(&Sha256::digest(id.as_bytes()))
}

/// Starts, loads, slides and ends cookie sessions; checks CSRF.
#[derive(Debug, Clone)]
pub struct SessionManager {
    config: Arc<SessionConfig>,
    cookie_name: Arc<str>,
    origins: Arc<OriginPolicy>,
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    data: Option<Arc<dyn SessionData>>,
    users: Option<Arc<dyn crate::credential::UserStore>>,
    /// Session id → its store key, for ids of live sessions only (the verified-token
    /// cache's bounded maps, randomly keyed). A memo of a pure function: an entry is
    /// never stale, only evicted.
    keys: Option<Arc<crate::token::cache::VerifiedCache<Arc<str>>>>,
}

/// A team's per-session data (its `tenant_id`, say), attached when a session starts: by
/// the ready-made `/login` and by third-party login alike. Change it later with
/// [`SessionManager::update_data`].
///
/// ```
/// use auth_core::credential::User;
/// use auth_core::session::SessionData;
/// use auth_core::StoreError;
///
/// #[derive(Debug)]
/// struct Tenant;
///
/// #[async_trait::async_trait]
/// impl SessionData for Tenant {
///     async fn session_data(&self, user: &User) -> Result<serde_json::Value, StoreError> {
///         Ok(serde_json::json!({ "tenant_id": format!("tenant-of-{}", user.id) }))
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait SessionData: Send + Sync + std::fmt::Debug {
    /// The data a new session of `user` starts with.
    async fn session_data(&self, user: &User) -> Result<serde_json::Value, StoreError>;
}

/// The largest session data [`SessionManager::update_data`] stores (serialised).
pub const MAX_SESSION_DATA_BYTES: usize = 64 * 1024;

impl SessionManager {
    /// A manager over `store`. Refuses insecure or contradictory cookie settings.
    pub fn new(
        config: SessionConfig,
        store: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let origins =
            OriginPolicy::new(&config.allowed_origins, config.secure || config.host_prefix)?;
        let cookie_name = if config.host_prefix {
            format!("__Host-{}", config.cookie_name)
        } else {
            config.cookie_name.clone()
        };
        let keys = crate::token::cache::VerifiedCache::new(config.key_cache).map(Arc::new);
        Ok(Self {
            config: Arc::new(config),
            cookie_name: cookie_name.into(),
            origins: Arc::new(origins),
            store,
            clock,
            data: None,
            users: None,
            keys,
        })
    }

    /// The same manager reading the user again whenever it slides a session (at most once
    /// per `touch_interval`): a disabled or deleted user's sessions end there, and removed
    /// roles are gone from the session, instead of living until the session expires.
    /// [`AuthBuilder`](crate::AuthBuilder) sets it.
    pub fn with_users(mut self, users: Arc<dyn crate::credential::UserStore>) -> Self {
        self.users = Some(users);
        self
    }

    /// The same manager attaching `hook`'s data to every session it starts for a login.
    pub fn with_data_hook(mut self, hook: Arc<dyn SessionData>) -> Self {
        self.data = Some(hook);
        self
    }

    /// The data a new session of `user` starts with: the hook's, or `null` without one.
    pub async fn data_for(&self, user: &User) -> Result<serde_json::Value, AuthError> {
        match &self.data {
            Some(hook) => Ok(hook.session_data(user).await?),
            None => Ok(serde_json::Value::Null),
        }
    }

    /// Replaces the data of a live session (read it back from the next request's
    /// [`Session::record`]). `Err(NotAuthenticated)` if the session has ended meanwhile;
    /// data over [`MAX_SESSION_DATA_BYTES`] is refused and nothing changes.
    pub async fn update_data(
        &self,
        session: &Session,
        data: serde_json::Value,
    ) -> Result<(), AuthError> {
        let size = serde_json::to_vec(&data).map_or(usize::MAX, |v| v.len());
        if size > MAX_SESSION_DATA_BYTES {
            return Err(AuthError::BadRequest {
                detail: format!("Session data is limited to {MAX_SESSION_DATA_BYTES} bytes").into(),
            });
        }
        if self.store.update_session_data(&session.key, &data).await? {
            Ok(())
        } else {
            Err(AuthError::NotAuthenticated)
        }
    }

    /// The cookie's name as sent (with the `__Host-` prefix when configured).
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The settings.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    fn cookie(&self, value: &str, max_age: Duration) -> String {
        let mut c = Cookie::build((self.cookie_name.to_string(), value.to_string()))
            .http_only(true)
            .secure(self.config.secure || self.config.host_prefix)
            .same_site(match self.config.same_site {
                SameSite::Strict => CookieSameSite::Strict,
                SameSite::Lax => CookieSameSite::Lax,
                SameSite::None => CookieSameSite::None,
            })
            .path(self.config.path.clone())
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
            ));
        if let Some(d) = &self.config.domain {
            c = c.domain(d.clone());
        }
        c.build().to_string()
    }

    /// A `Set-Cookie` value that deletes the cookie (`Max-Age=0`, same name, path and
    /// domain, so the browser matches it).
    pub fn clearing_cookie(&self) -> String {
        self.cookie("", Duration::ZERO)
    }

    /// Starts a session for `user`, destroying any session the request presented
    /// (fixation), and returns the cookie to set and the CSRF token. The session records
    /// no authentication method; [`SessionManager::start_with_amr`] records them.
    pub async fn start(
        &self,
        user: &User,
        data: serde_json::Value,
        request: &impl Request,
    ) -> Result<StartedSession, AuthError> {
        self.start_with_amr(user, data, &[], request).await
    }

    /// As [`SessionManager::start`], recording how the user authenticated (RFC 8176
    /// `amr`: `["pwd"]`, `["pwd", "otp"]`, `["hwk"]`), which second-factor guards read.
    pub async fn start_with_amr(
        &self,
        user: &User,
        data: serde_json::Value,
        amr: &[&str],
        request: &impl Request,
    ) -> Result<StartedSession, AuthError> {
        if let Some(old) = self.presented_id_ref(request) {
            self.store.remove_session(&session_key(old)).await?;
        }
        let now = self.clock.unix_seconds();
        let id = random_b64::<32>();
        let csrf_token = random_b64::<32>();
        let absolute = now + self.config.absolute_timeout.as_secs();
        let record = SessionRecord {
            user_id: user.id.as_str().into(),
            roles: user.roles.as_slice().into(),
            created: now,
            last_seen: now,
            csrf_token: csrf_token.as_str().into(),
            data,
            expires_at: absolute.min(now + self.config.idle_timeout.as_secs()),
            amr: amr.iter().map(|m| (*m).to_owned()).collect(),
        };
        let key: Arc<str> = session_key(&id).into();
        self.store.insert_session(&key, &record).await?;
        self.remember_key(&id, &key);
        Ok(StartedSession {
            session: Session { key, record },
            set_cookie: self.cookie(&id, self.config.absolute_timeout),
            csrf_token,
        })
    }

    /// Ends `session` server-side; returns the `Set-Cookie` value that clears the cookie.
    pub async fn end(&self, session: &Session) -> Result<String, AuthError> {
        self.store.remove_session(&session.key).await?;
        Ok(self.clearing_cookie())
    }

    /// Ends every session of `user_id` ("log out everywhere").
    pub async fn end_all(&self, user_id: &str) -> Result<usize, AuthError> {
        Ok(self.store.remove_user_sessions(user_id).await?)
    }

    /// The CSRF check for a cookie-authenticated request: safe methods pass; unsafe ones
    /// need an allowed `Origin` (when one is sent; see [`SessionManager::origin_allowed`])
    /// and `X-CSRF-Token` equal to the session's token (compared in constant time).
    /// Failure is [`AuthError::Csrf`].
    pub fn check_csrf(&self, request: &impl Request, session: &Session) -> Result<(), AuthError> {
        if is_safe_method(request.method()) {
            return Ok(());
        }
        if !self.origin_allowed(request) {
            return Err(AuthError::Csrf);
        }
        let sent = match header_value(request, "x-csrf-token") {
            Ok(Some(t)) => t,
            _ => return Err(AuthError::Csrf),
        };
        let want = session.record.csrf_token.as_bytes();
        if want.is_empty() || !bool::from(sent.as_bytes().ct_eq(want)) {
            return Err(AuthError::Csrf);
        }
        Ok(())
    }

    /// The one origin decision, for cookie-authenticated unsafe requests and for
    /// `POST /login`: `true` without an `Origin` header (non-browser clients), else
    /// whether it is the app's own origin or a configured one ([`OriginPolicy`]).
    pub fn origin_allowed(&self, request: &impl Request) -> bool {
        self.origins.allows(request)
    }

    /// Whether the CSRF check needs the `csrf_token` field of this request's body: an
    /// unsafe method, the session cookie, no `Authorization` and no `X-CSRF-Token`
    /// header, and an `application/x-www-form-urlencoded` body. Only then does an adapter
    /// read the body (at most [`MAX_CSRF_FORM_BYTES`], keeping it for the handler) and
    /// pass it to [`SessionManager::csrf_form_token`].
    pub fn csrf_form_wanted(&self, request: &impl Request) -> bool {
        !is_safe_method(request.method())
            && request.header_values("authorization").next().is_none()
            && request.header_values("x-csrf-token").next().is_none()
            && crate::form::is_form(request.content_type())
            && self.presented_id_ref(request).is_some()
    }

    /// The `csrf_token` field of a form body, for the adapter to present as the
    /// `X-CSRF-Token` header that [`SessionManager::check_csrf`] compares. `body` is
    /// `None` when the adapter could not read it within [`MAX_CSRF_FORM_BYTES`]: then
    /// (and for a larger one) [`AuthError::BadRequest`]. `Ok(None)` when the field is
    /// absent, repeated, empty or not visible ASCII (the check then fails).
    pub fn csrf_form_token(&self, body: Option<&[u8]>) -> Result<Option<String>, AuthError> {
        let Some(body) = body.filter(|b| b.len() <= MAX_CSRF_FORM_BYTES) else {
            return Err(AuthError::BadRequest {
                detail: "The form is too large to read its `csrf_token`; send the token in the X-CSRF-Token header".into(),
            });
        };
        let form = crate::form::Form::from_body(body);
        Ok(form
            .field("csrf_token")
            .ok()
            .flatten()
            .filter(|t| !t.is_empty() && t.len() <= 256 && t.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_owned))
    }
}

#[cfg(test)]
mod tests;
