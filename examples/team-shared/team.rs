//! The framework-neutral half of the team service: what a team writes once whatever web
//! framework it uses. Each of `team-axum`, `team-actix` and `team-warp` includes this file
//! with `#[path]` and adds only the framework wiring in its `main.rs`.
//!
//! It uses nothing but `auth-core`'s and `auth-redis`'s public API:
//! - [`TeamUsers`]: the team's own user map (its users carry a `tenant_id`), serving the
//!   login flow through `UserStore`, tokens through `ExtraClaims` and sessions through
//!   `SessionData`;
//! - [`Config`]: keys and settings from the environment, refusing to start without keys;
//! - [`build`]: the `Auth` handle, on Redis;
//! - [`rotate_keys`]: key rotation at run time, the new secrets read from the environment;
//! - [`team_error_body`]: the team's own error JSON in place of the core's problem details;
//! - [`browser_pages`]: HTML error pages and a redirect to the login page for the
//!   browser routes under `/app` (the core keeps status and `WWW-Authenticate`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use auth_core::credential::{User, UserStore};
use auth_core::render::{ErrorPages, Failure, Rendering};
use auth_core::session::SessionConfig;
use auth_core::token::{Algorithm, Key};
use auth_core::{Auth, AuthBuilder, AuthError, ExtraClaims, Problem, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// A user as the team stores it: more than the login flow needs (`tenant_id`).
#[derive(Debug, Clone)]
pub struct TeamUser {
    /// Stable id; becomes the token's `sub`.
    pub id: String,
    /// Login name.
    pub username: String,
    /// argon2id PHC string (never the password itself; never logged).
    pub password_hash: String,
    /// Role names (`admin` may rotate keys).
    pub roles: Vec<String>,
    /// The tenant the user belongs to, carried in tokens and sessions.
    pub tenant_id: String,
}

/// The team's user table. In a real service this is a database; a map keeps the
/// example short. The `RwLock` is there because the login flow may rehash a password.
#[derive(Debug, Default)]
pub struct TeamUsers {
    by_id: RwLock<HashMap<String, TeamUser>>,
}

impl TeamUsers {
    /// Three users in two tenants. Passwords `password123`, `password456` and
    /// `password789`, stored as argon2id hashes only (in a real service they come from
    /// the users' sign-up, never from the source code).
    pub fn seeded() -> Self {
        let users = Self::default();
        for (id, username, role, tenant, phc) in [
            (
                "1",
                "alice",
                "admin",
                "acme",
                "$argon2id$v=19$m=19456,t=2,p=1$h5bA6wPj9u3W2bY9jgec1w$d3Cgs/eSVcisKsKxKxYg6UP9V1zvF8Lob3PXRzdEmTs",
            ),
            (
                "2",
                "bob",
                "editor",
                "acme",
                "$argon2id$v=19$m=19456,t=2,p=1$yRuy+ErkJIfQK/SgP7Curg$fPMNimv+9egtJht+FfjaZPWx4g7WZNNyHFWL2mc3g5E",
            ),
            (
                "3",
                "carol",
                "viewer",
                "globex",
                "$argon2id$v=19$m=19456,t=2,p=1$G/wd/doD9QUZtDxkFaEMhA$dUZpfyyXDxOFzcDV+QpblhUA3hO4OdcrQR1HuN919kc",
            ),
        ] {
            users.write().insert(
                id.into(),
                TeamUser {
                    id: id.into(),
                    username: username.into(),
                    password_hash: phc.into(),
                    roles: vec![role.into()],
                    tenant_id: tenant.into(),
                },
            );
        }
        users
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, TeamUser>> {
        self.by_id.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, TeamUser>> {
        self.by_id.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The login view of a team user: what auth-core needs to check a password and issue
/// tokens, and the team's own data (`User::data`) the hooks below read back.
fn login_view(u: &TeamUser) -> User {
    User {
        id: u.id.clone(),
        username: u.username.clone(),
        email: None,
        roles: u.roles.clone(),
        password_hash: u.password_hash.clone(),
        disabled: false,
        data: json!({ "tenant_id": u.tenant_id }),
    }
}

/// The tenant a login view carries (set by [`login_view`]).
fn tenant_in(user: &User) -> Result<String, StoreError> {
    user.data
        .get("tenant_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| StoreError::new(format!("user {} carries no tenant_id", user.id)))
}

/// `/token`, `/login` and every token check read users through this. `find_by_email` and
/// `create_user` keep their refusing defaults: this service has no third-party login, so
/// nothing may create accounts behind the team's back.
#[async_trait::async_trait]
impl UserStore for TeamUsers {
    async fn find_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .read()
            .values()
            .find(|u| u.username == username)
            .map(login_view))
    }

    async fn find_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(self.read().get(id).map(login_view))
    }

    async fn update_password_hash(&self, id: &str, phc: &str) -> Result<(), StoreError> {
        match self.write().get_mut(id) {
            Some(u) => {
                u.password_hash = phc.into();
                Ok(())
            }
            None => Err(StoreError::new(format!("no user with id {id}"))),
        }
    }
}

/// The team's claims beside the standard ones; handlers read them with the adapter's
/// typed bearer (`Bearer<TenantClaims>`, `auth_warp::bearer_as::<TenantClaims>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantClaims {
    /// The caller's tenant.
    pub tenant_id: String,
}

/// Puts `tenant_id` in every access token, at login and again at every refresh, so a
/// refreshed token still carries it (and `Bearer<TenantClaims>` accepts it).
#[async_trait::async_trait]
impl ExtraClaims for TeamUsers {
    async fn extra_claims(&self, user: &User) -> Result<Map<String, Value>, StoreError> {
        let claims = TenantClaims {
            tenant_id: tenant_in(user)?,
        };
        match serde_json::to_value(claims) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(StoreError::new("tenant claims are not a JSON object")),
        }
    }
}

/// What a cookie session starts with: the tenant, and a preference the user may change
/// during the session (`POST /preferences`, through `SessionManager::update_data`).
#[async_trait::async_trait]
impl auth_core::session::SessionData for TeamUsers {
    async fn session_data(&self, user: &User) -> Result<Value, StoreError> {
        Ok(json!({ "tenant_id": tenant_in(user)?, "theme": "light" }))
    }
}

/// The data `POST /preferences` accepts.
#[derive(Debug, Deserialize)]
pub struct Preferences {
    /// `light` or `dark`.
    pub theme: String,
}

/// The session's data with the new preferences, or a 400 for a theme we do not offer
/// (the session data is ours: we store only values we know).
pub fn with_preferences(data: &Value, prefs: &Preferences) -> Result<Value, AuthError> {
    if !matches!(prefs.theme.as_str(), "light" | "dark") {
        return Err(AuthError::BadRequest {
            detail: "theme must be `light` or `dark`".into(),
        });
    }
    let mut data = data.clone();
    if let Some(map) = data.as_object_mut() {
        map.insert("theme".into(), json!(prefs.theme));
    }
    Ok(data)
}

/// The service's settings, from the environment. No `Debug`: it holds the secrets (and
/// the Redis URL may hold a password), which must never reach a log line.
pub struct Config {
    /// `TEAM_BIND` (default `127.0.0.1:8080`).
    pub bind: SocketAddr,
    jwt_secret: String,
    refresh_secret: String,
    redis_url: String,
    redis_namespace: String,
}

impl Config {
    /// Reads the environment. Keys are required: a team service never falls back to a
    /// random key (every restart would log everyone out, and instances would disagree).
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let secret = |name: &str| {
            var(name).ok_or_else(|| {
                format!("{name} is not set: give it at least 32 random bytes (e.g. `openssl rand -base64 48`)")
            })
        };
        Ok(Self {
            bind: var("TEAM_BIND")
                .unwrap_or_else(|| "127.0.0.1:8080".into())
                .parse()
                .map_err(|_| "TEAM_BIND must be HOST:PORT, e.g. 127.0.0.1:8080".to_string())?,
            jwt_secret: secret("TEAM_JWT_SECRET")?,
            refresh_secret: secret("TEAM_REFRESH_SECRET")?,
            redis_url: var("TEAM_REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
            redis_namespace: var("TEAM_REDIS_NAMESPACE").unwrap_or_else(|| "team".into()),
        })
    }
}

/// The `Auth` handle: the team's users and hooks, its keys, Redis for everything that
/// must be shared between instances (revocations, sessions, login throttling).
pub async fn build(config: &Config) -> Result<Auth, String> {
    let store = auth_redis::RedisStore::connect(&config.redis_url, &config.redis_namespace)
        .await
        .map_err(|e| format!("TEAM_REDIS_URL: cannot reach Redis ({e})"))?;
    let users = Arc::new(TeamUsers::seeded());
    // `build` refuses short or identical secrets with a message that says the fix.
    AuthBuilder::new(
        config.jwt_secret.as_bytes(),
        config.refresh_secret.as_bytes(),
    )
    .issuer("team-service")
    .audience("team-service")
    .users(users.clone())
    .extra_claims(users.clone())
    .session_data(users)
    .store(Arc::new(store))
    .sessions(SessionConfig::default()) // Secure cookies: serve it behind TLS.
    .build()
    .map_err(|e| e.to_string())
}

/// Rotates the token keys of this running instance to `TEAM_JWT_SECRET_NEXT` and
/// `TEAM_REFRESH_SECRET_NEXT`, named `access-<TEAM_KEY_ID_NEXT>` and
/// `refresh-<TEAM_KEY_ID_NEXT>`; returns the new access `kid`. Tokens signed before keep
/// working until they expire. Key material comes from the environment (your secret
/// store), never from the request. Keys live in each instance's memory: call the route
/// on every instance. To restart without logging anyone out, start with both keys in
/// rings (`AuthBuilder::key_rings`: the new key signing, the previous one verifying until
/// its tokens expire) rather than with the new secrets alone.
pub fn rotate_keys(auth: &Auth) -> Result<String, AuthError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(access), Some(refresh), Some(id)) = (
        var("TEAM_JWT_SECRET_NEXT"),
        var("TEAM_REFRESH_SECRET_NEXT"),
        var("TEAM_KEY_ID_NEXT"),
    ) else {
        tracing::error!(
            "key rotation: set TEAM_JWT_SECRET_NEXT, TEAM_REFRESH_SECRET_NEXT and TEAM_KEY_ID_NEXT"
        );
        return Err(AuthError::Internal);
    };
    let kid = format!("access-{id}");
    let rotate = || {
        let new_access = Key::hmac(kid.clone(), Algorithm::HS256, access.as_bytes())?;
        let new_refresh = Key::hmac(
            format!("refresh-{id}"),
            Algorithm::HS256,
            refresh.as_bytes(),
        )?;
        auth.rotate_keys(new_access, new_refresh)
    };
    match rotate() {
        Ok(()) => Ok(kid),
        Err(e) => {
            // Already rotated to this id, a short secret, ...: the reason goes to the log.
            tracing::error!(error = %e, "key rotation refused");
            Err(AuthError::Internal)
        }
    }
}

/// The team's error body, `{"error": {"code", "message", "status"}}`, for a body the
/// core rendered as problem details (`application/problem+json`); `None` for any other.
pub fn team_error_body(problem_json: &[u8]) -> Option<String> {
    let problem: Problem = serde_json::from_slice(problem_json).ok()?;
    let code = problem.kind.rsplit(':').next().unwrap_or_default();
    Some(
        json!({"error": {"code": code, "message": problem.detail, "status": problem.status}})
            .to_string(),
    )
}

/// The error pages of the browser routes (`/app/…`): a visitor without a session is sent
/// to the login page with `next` (the core allows the redirect only for a `GET`/`HEAD`
/// without an `Authorization` header; an API client still gets its 401); every other
/// refusal is an HTML page under the core's status.
pub fn browser_pages() -> ErrorPages {
    ErrorPages::new(|failure: &Failure<'_>| match failure.status() {
        401 => Rendering::redirect_to_login("/login"),
        _ => Rendering::html(page(failure.title(), failure.detail())),
    })
}

/// A small HTML page; `title` and `text` are escaped.
pub fn page(title: &str, text: &str) -> String {
    let (title, text) = (escape_html(title), escape_html(text));
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         </head><body><h1>{title}</h1><p>{text}</p></body></html>"
    )
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether a `Content-Type` is the core's problem details: only those bodies become the
/// team's shape. The token endpoint's RFC 6749 errors (`application/json`) stay as they
/// are, because OAuth clients parse them.
pub fn is_problem(content_type: Option<&[u8]>) -> bool {
    content_type == Some(auth_core::http::PROBLEM_JSON.as_bytes())
}

/// Start-up, the same whatever the framework: logs to stderr, reads the configuration,
/// builds `Auth`, binds `TEAM_BIND` and prints `listening on http://HOST:PORT`. Any
/// failure prints one line and exits (configuration errors are not panics).
pub async fn start() -> (Auth, std::net::TcpListener) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let config = Config::from_env().unwrap_or_else(|e| exit(&e));
    let auth = build(&config).await.unwrap_or_else(|e| exit(&e));
    let listener = std::net::TcpListener::bind(config.bind)
        .and_then(|l| {
            l.set_nonblocking(true)?;
            println!("listening on http://{}", l.local_addr()?);
            Ok(l)
        })
        .unwrap_or_else(|e| exit(&format!("cannot listen on {}: {e}", config.bind)));
    (auth, listener)
}

/// Prints one line and exits.
pub fn exit(reason: &str) -> ! {
    eprintln!("error: {reason}");
    std::process::exit(2)
}
