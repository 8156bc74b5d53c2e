//! What the three reference apps share, so they answer alike: configuration from the
//! environment exactly as `docs/CONTRACT.md` describes it, the demo users, keys and articles,
//! the role table ([`roles`]) and the article policies ([`articles`]),
//! and the choice of state store (memory, Redis when `AUTH_REDIS_URL` or `AUTH_REDIS_CLUSTER_NODES` is set, or a SQL
//! database when `AUTH_DATABASE_URL` is set).
//!
//! ```
//! let env = |name: &str| match name {
//!     "AUTH_JWT_SECRET" => Some("x".repeat(32)),
//!     "AUTH_REFRESH_SECRET" => Some("y".repeat(32)),
//!     _ => None,
//! };
//! let settings = reference_common::Settings::from_lookup(env).unwrap();
//! assert_eq!(settings.bind.to_string(), "127.0.0.1:8000");
//! assert!(reference_common::Settings::from_lookup(|n| (n == "AUTH_JWT_SECRET").then(|| "short".into())).is_err());
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::credential::{
    ApiKeyConfig, ApiKeyStore, MemoryApiKeys, MemoryUsers, User, UserStore,
};
use auth_core::session::SessionConfig;
use auth_core::store::{MemoryStore, StateStore};
use auth_core::token::TokenConfig;
use auth_core::{Auth, AuthBuilder, AuthError, Principal, RevocationMode};
use serde_json::{Value, json};

pub mod articles;
pub mod metrics;
pub mod roles;
pub mod signing;
pub use metrics::Metrics;

use articles::Article;

/// The contract's settings, read from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `AUTH_BIND` (default `127.0.0.1:8000`).
    pub bind: SocketAddr,
    /// `AUTH_JWT_SECRET`, or a random one.
    pub access_secret: Vec<u8>,
    /// `AUTH_REFRESH_SECRET`, or a random one.
    pub refresh_secret: Vec<u8>,
    /// `AUTH_JWT_ALG`, `AUTH_JWT_PRIVATE_KEY_FILE`, `AUTH_JWT_PREVIOUS_KEY_FILES`: how
    /// access tokens are signed (HS256 with `AUTH_JWT_SECRET` by default).
    pub access_signing: signing::AccessSigning,
    /// `AUTH_REDIS_URL`.
    pub redis_url: Option<String>,
    /// `AUTH_REDIS_CLUSTER_NODES`: a comma list of `redis://` (or `rediss://`) node URLs
    /// of a Redis Cluster, instead of `AUTH_REDIS_URL` (empty when unset).
    pub redis_cluster_nodes: Vec<String>,
    /// `AUTH_REDIS_CA_FILE`: a PEM file of CA certificates to trust for `rediss://`
    /// instead of the system's roots.
    pub redis_ca_file: Option<String>,
    /// `AUTH_DATABASE_URL` (`sqlite://PATH` or `postgres://…`): users, API keys and (unless
    /// `AUTH_REDIS_URL` is also set) all server-side state live in that database.
    pub database_url: Option<String>,
    /// `AUTH_REDIS_NAMESPACE` (default `auth-reference`): lets tests share one Redis.
    pub redis_namespace: String,
    /// `AUTH_REDIS_REPLICA` (`true`/`false`, default `false`): replicate revocations into
    /// this instance through a Redis Stream, so checks need no round trip.
    pub redis_replica: bool,
    /// `AUTH_DATABASE_REPLICA` (`true`/`false`, default `false`): with the state on
    /// Postgres (`AUTH_DATABASE_URL=postgres://…`, no Redis), replicate revocations into
    /// this instance through LISTEN/NOTIFY, so checks need no round trip.
    pub database_replica: bool,
    /// `AUTH_ACCESS_TTL_SECS` (default 900).
    pub access_ttl: u64,
    /// `AUTH_REFRESH_TTL_SECS` (default 2592000).
    pub refresh_ttl: u64,
    /// `AUTH_SESSION_TTL_SECS` (default 3600).
    pub session_ttl: u64,
    /// `AUTH_COOKIE_SECURE` (default `true`).
    pub cookie_secure: bool,
    /// `AUTH_ISSUER` (default `auth-reference`).
    pub issuer: String,
    /// `AUTH_AUDIENCE` (default `auth-reference`).
    pub audience: String,
    /// `AUTH_REVOCATION` (default `blocklist`).
    pub revocation: RevocationMode,
    /// `AUTH_VERIFIED_CACHE`: verified access tokens remembered (default 10000; 0 = off).
    pub verified_cache: usize,
    /// `AUTH_ALLOWED_ORIGINS`: origins `scheme://host[:port]`, comma-separated, allowed
    /// on `POST /login` and cookie-authenticated unsafe requests besides the app's own
    /// (default none).
    pub allowed_origins: Vec<String>,
    /// `AUTH_OAUTH_PROVIDERS` and each provider's `AUTH_OAUTH_<NAME>_…` variables.
    pub providers: auth_core::third_party::Providers,
    /// `AUTH_TRUSTED_ISSUERS` with `AUTH_TRUSTED_AUDIENCE` and `AUTH_TRUSTED_ROLES_CLAIM`:
    /// identity providers whose access tokens are accepted (resource-server mode).
    pub trusted_issuers: Vec<auth_core::resource_server::TrustedIssuer>,
    /// `AUTH_TRUSTED_PROXIES`: CIDR blocks whose forwarding headers name the client.
    pub trusted_proxies: auth_core::proxy::TrustedProxies,
    /// `AUTH_WEBAUTHN_ORIGIN`: the origin the browser shows (e.g. `http://localhost:8000`)
    /// for passkeys; the relying party id is its host. Unset: the `/webauthn/…` routes
    /// answer 404.
    pub webauthn: Option<auth_core::passkey::PasskeyConfig>,
    /// `AUTH_METRICS` (`1`/`true` or `0`/`false`, default off): Prometheus text on
    /// `GET /metrics`.
    pub metrics: bool,
    /// `AUTH_MFA_KEY`: 64 hex digits (32 bytes) sealing TOTP secrets at rest, or a
    /// random key (enrolments then do not survive a restart).
    pub mfa_key: [u8; 32],
    /// Warnings to print at start-up (never containing a secret).
    pub warnings: Vec<String>,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `get` (tests pass a closure).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut warnings = Vec::new();
        let bind = get("AUTH_BIND")
            .unwrap_or_else(|| "127.0.0.1:8000".into())
            .parse()
            .map_err(|_| "AUTH_BIND must be HOST:PORT, e.g. 127.0.0.1:8000".to_string())?;
        let secret = |name: &str| -> Result<Vec<u8>, String> {
            match get(name) {
                Some(s) if s.len() >= 32 => Ok(s.into_bytes()),
                Some(s) => Err(format!(
                    "{name} is {} bytes; use at least 32 random bytes (e.g. `openssl rand -base64 48`)",
                    s.len()
                )),
                None => Ok(Vec::new()),
            }
        };
        let mut access_secret = secret("AUTH_JWT_SECRET")?;
        let mut refresh_secret = secret("AUTH_REFRESH_SECRET")?;
        if access_secret.is_empty() {
            access_secret = auth_core::token::random_secret();
            warnings.push("AUTH_JWT_SECRET is not set: using a random secret; tokens will not survive a restart".into());
        }
        if refresh_secret.is_empty() {
            refresh_secret = auth_core::token::random_secret();
            warnings.push("AUTH_REFRESH_SECRET is not set: using a random secret; refresh tokens will not survive a restart".into());
        }
        if access_secret == refresh_secret {
            return Err("AUTH_REFRESH_SECRET must differ from AUTH_JWT_SECRET".into());
        }
        let access_signing = signing::AccessSigning::from_lookup(&get, &mut warnings)?;
        let mfa_key = mfa_key(get("AUTH_MFA_KEY"), &mut warnings)?;
        let secs = |name: &str, default: u64| -> Result<u64, String> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("{name} must be a positive number of seconds, got `{v}`")
                }),
            }
        };
        let cookie_secure = match get("AUTH_COOKIE_SECURE").as_deref() {
            None | Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(other) => {
                return Err(format!(
                    "AUTH_COOKIE_SECURE must be true or false, got `{other}`"
                ));
            }
        };
        let revocation = match get("AUTH_REVOCATION") {
            None => RevocationMode::Blocklist,
            Some(mode) => mode.parse::<RevocationMode>().map_err(|_| {
                format!("AUTH_REVOCATION must be `blocklist` or `allowlist`, got `{mode}`")
            })?,
        };
        let providers =
            auth_core::third_party::Providers::from_vars(&get).map_err(|e| e.to_string())?;
        let allowed_origins = match get("AUTH_ALLOWED_ORIGINS") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|entry| {
                    let entry = entry.trim();
                    auth_core::session::Origin::parse(entry)
                        .map(|_| entry.to_string())
                        .map_err(|e| {
                            format!("AUTH_ALLOWED_ORIGINS: `{entry}` is {e} (a comma-separated list, e.g. https://app.example,http://localhost:3000)")
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let trusted_issuers = trusted_issuers(&get)?;
        let flag = |name: &str| match get(name).as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(format!("{name} must be true or false, got `{other}`")),
        };
        let database_replica = flag("AUTH_DATABASE_REPLICA")?;
        if database_replica {
            let url = get("AUTH_DATABASE_URL").unwrap_or_default();
            let redis = get("AUTH_REDIS_URL").is_some_and(|u| !u.is_empty())
                || get("AUTH_REDIS_CLUSTER_NODES").is_some_and(|n| !n.trim().is_empty());
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) || redis {
                return Err("AUTH_DATABASE_REPLICA=true needs the state on Postgres: AUTH_DATABASE_URL=postgres://… and no AUTH_REDIS_URL/AUTH_REDIS_CLUSTER_NODES (with Redis use AUTH_REDIS_REPLICA)".into());
            }
        }
        let webauthn = get("AUTH_WEBAUTHN_ORIGIN")
            .filter(|o| !o.is_empty())
            .map(|origin| {
                auth_core::passkey::PasskeyConfig::new(&origin)
                    .map_err(|e| format!("AUTH_WEBAUTHN_ORIGIN: {e}"))
            })
            .transpose()?;
        let trusted_proxies = match get("AUTH_TRUSTED_PROXIES") {
            None => auth_core::proxy::TrustedProxies::default(),
            Some(list) => auth_core::proxy::TrustedProxies::parse(&list)
                .map_err(|e| format!("AUTH_TRUSTED_PROXIES: {e}"))?,
        };
        Ok(Self {
            bind,
            access_secret,
            refresh_secret,
            access_signing,
            redis_url: get("AUTH_REDIS_URL").filter(|u| !u.is_empty()),
            redis_cluster_nodes: get("AUTH_REDIS_CLUSTER_NODES")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            redis_ca_file: get("AUTH_REDIS_CA_FILE").filter(|f| !f.is_empty()),
            database_url: get("AUTH_DATABASE_URL").filter(|u| !u.is_empty()),
            redis_namespace: get("AUTH_REDIS_NAMESPACE").unwrap_or_else(|| "auth-reference".into()),
            redis_replica: flag("AUTH_REDIS_REPLICA")?,
            database_replica,
            access_ttl: secs("AUTH_ACCESS_TTL_SECS", 900)?,
            refresh_ttl: secs("AUTH_REFRESH_TTL_SECS", 2_592_000)?,
            session_ttl: secs("AUTH_SESSION_TTL_SECS", 3600)?,
            cookie_secure,
            issuer: get("AUTH_ISSUER").unwrap_or_else(|| "auth-reference".into()),
            audience: get("AUTH_AUDIENCE").unwrap_or_else(|| "auth-reference".into()),
            revocation,
            verified_cache: match get("AUTH_VERIFIED_CACHE") {
                None => 10_000,
                Some(v) => v.parse::<usize>().map_err(|_| {
                    format!("AUTH_VERIFIED_CACHE must be a number of entries (0 turns it off), got `{v}`")
                })?,
            },
            allowed_origins,
            providers,
            trusted_issuers,
            trusted_proxies,
            webauthn,
            metrics: match get("AUTH_METRICS").as_deref() {
                None | Some("") | Some("0") | Some("false") => false,
                Some("1") | Some("true") => true,
                Some(other) => {
                    return Err(format!("AUTH_METRICS must be 1 or 0, got `{other}`"));
                }
            },
            mfa_key,
            warnings,
        })
    }
}

/// `AUTH_MFA_KEY` as 32 bytes: 64 hex digits (`openssl rand -hex 32`); absent → random,
/// with a warning.
fn mfa_key(value: Option<String>, warnings: &mut Vec<String>) -> Result<[u8; 32], String> {
    let mut key = [0u8; 32];
    let Some(hex) = value.filter(|v| !v.is_empty()) else {
        for (k, r) in key.iter_mut().zip(auth_core::token::random_secret()) {
            *k = r;
        }
        warnings.push("AUTH_MFA_KEY is not set: using a random key; second-factor enrolments will not survive a restart".into());
        return Ok(key);
    };
    let bad =
        || "AUTH_MFA_KEY must be 64 hex digits (32 bytes), e.g. `openssl rand -hex 32`".to_string();
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(bad());
    }
    for (byte, pair) in key.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let text = std::str::from_utf8(pair).map_err(|_| bad())?;
        *byte = u8::from_str_radix(text, 16).map_err(|_| bad())?;
    }
    Ok(key)
}

/// What `GET /mfa/check` answers to a caller who signed in with a second factor.
pub fn mfa_check_json(who: &Principal) -> Value {
    json!({"message": "Signed in with a second factor", "amr": who.amr()})
}

/// The demo articles (contract: "Hello World", "FastAPI Rocks", "Draft Notes").
#[derive(Debug, Clone)]
pub struct Articles {
    inner: Arc<Mutex<BTreeMap<u64, Article>>>,
}

impl Default for Articles {
    fn default() -> Self {
        let mut map = BTreeMap::new();
        for (id, title, author_id, published) in [
            (1, "Hello World", 1, false),
            (2, "FastAPI Rocks", 2, true),
            (3, "Draft Notes", 3, false),
        ] {
            map.insert(
                id,
                Article {
                    id,
                    title: title.into(),
                    author_id,
                    published,
                },
            );
        }
        Self {
            inner: Arc::new(Mutex::new(map)),
        }
    }
}

impl Articles {
    /// The article with `id`.
    pub fn get(&self, id: u64) -> Option<Article> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// Removes the article with `id`.
    pub fn remove(&self, id: u64) -> Option<Article> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
    }
}

/// A built reference app: the auth facade, the demo articles, and where to listen.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Everything auth.
    pub auth: Auth,
    /// The demo articles.
    pub articles: Articles,
    /// The settings.
    pub settings: Settings,
    /// `GET /metrics` (`AUTH_METRICS`).
    pub metrics: Metrics,
    /// The database's purge task, while the app lives.
    _purge: Option<Arc<auth_sqlx::PurgeTask>>,
}

/// The contract's demo API keys (stored only as digests).
pub const DEMO_API_KEYS: [&str; 2] = ["secret-key-123", "another-key-456"];

/// Builds the reference app from `settings`: memory store, Redis at `AUTH_REDIS_URL` or
/// on the cluster `AUTH_REDIS_CLUSTER_NODES`, or the database at `AUTH_DATABASE_URL`
/// (migrated at start-up, the demo data seeded once into an empty database; with Redis
/// too, the state lives in Redis and the users and API keys in the database).
pub async fn build(settings: Settings) -> Result<Reference, String> {
    // Installed first, so the recorder sees everything the app counts.
    let metrics = if settings.metrics {
        Metrics::install()?
    } else {
        Metrics::off()
    };
    let server = match (&settings.redis_url, settings.redis_cluster_nodes.is_empty()) {
        (Some(_), false) => {
            return Err(
                "AUTH_REDIS_URL and AUTH_REDIS_CLUSTER_NODES are both set: choose one".into(),
            );
        }
        (Some(url), true) => Some(("AUTH_REDIS_URL", auth_redis::Server::Single(url.clone()))),
        (None, false) => Some((
            "AUTH_REDIS_CLUSTER_NODES",
            auth_redis::Server::Cluster(settings.redis_cluster_nodes.clone()),
        )),
        (None, true) => None,
    };
    let database = match &settings.database_url {
        Some(url) => Some(
            auth_sqlx::SqlStore::connect(url)
                .await
                .map_err(|e| format!("AUTH_DATABASE_URL: cannot open the database ({e})"))?,
        ),
        None => None,
    };
    let store: Arc<dyn StateStore> = match (server, &database) {
        (None, Some(db)) if settings.database_replica => Arc::new(
            db.clone()
                .with_replica(auth_sqlx::ReplicaConfig::default())
                .await
                .map_err(|e| format!("AUTH_DATABASE_REPLICA: {e}"))?,
        ),
        (None, Some(db)) => Arc::new(db.clone()),
        (Some((var, server)), _) => {
            let ca = match &settings.redis_ca_file {
                Some(path) => Some(
                    std::fs::read(path)
                        .map_err(|e| format!("AUTH_REDIS_CA_FILE: cannot read {path}: {e}"))?,
                ),
                None => None,
            };
            let store = auth_redis::RedisStore::connect_to(
                &server,
                &settings.redis_namespace,
                ca.as_deref(),
                Arc::new(auth_core::clock::SystemClock),
            )
            .await
            .map_err(|e| format!("{var}: cannot use Redis ({e})"))?;
            let store = if settings.redis_replica {
                store
                    .with_replica(auth_redis::ReplicaConfig::default())
                    .await
                    .map_err(|e| format!("AUTH_REDIS_REPLICA: {e}"))?
            } else {
                store
            };
            Arc::new(store)
        }
        (None, None) => Arc::new(MemoryStore::new()),
    };
    let (users, api_keys): (Arc<dyn UserStore>, Arc<dyn ApiKeyStore>) = match &database {
        Some(db) => {
            let users = db.users();
            if users
                .count()
                .await
                .map_err(|e| format!("AUTH_DATABASE_URL: {e}"))?
                == 0
            {
                for user in demo_user_list() {
                    users
                        .insert_if_absent(&user)
                        .await
                        .map_err(|e| format!("AUTH_DATABASE_URL: seeding users: {e}"))?;
                }
            }
            (Arc::new(users), Arc::new(db.api_keys()))
        }
        None => (Arc::new(demo_users()), Arc::new(MemoryApiKeys::new())),
    };
    // Expired rows of the database go in the background (bounded batches).
    let purge = database
        .as_ref()
        .map(|db| Arc::new(db.spawn_purge(auth_sqlx::PurgeConfig::default())));
    let seed_keys = match &database {
        Some(db) => db
            .api_keys()
            .is_empty()
            .await
            .map_err(|e| format!("AUTH_DATABASE_URL: {e}"))?,
        None => true,
    };
    let mut builder = AuthBuilder::new(&settings.access_secret, &settings.refresh_secret);
    if let signing::AccessSigning::Asymmetric { ring, .. } = &settings.access_signing {
        // Access tokens on the asymmetric ring; refresh tokens stay HS256 with
        // AUTH_REFRESH_SECRET (only this app verifies them), under the kid the builder's
        // HMAC shortcut would give them.
        let refresh = auth_core::token::Key::hmac(
            auth_core::token::derived_kid(&settings.refresh_secret),
            auth_core::token::Algorithm::HS256,
            &settings.refresh_secret,
        )
        .map_err(|e| format!("AUTH_REFRESH_SECRET: {e}"))?;
        builder = builder.key_rings(ring.clone(), auth_core::token::KeyRing::new(refresh));
    }
    if !settings.providers.is_empty() {
        let http = auth_core::third_party::ReqwestClient::new().map_err(|e| e.to_string())?;
        builder = builder.external_login(settings.providers.clone(), Arc::new(http));
    }
    if !settings.trusted_issuers.is_empty() {
        let http = auth_core::third_party::ReqwestClient::new().map_err(|e| e.to_string())?;
        builder = builder.trusted_issuers(settings.trusted_issuers.clone(), Arc::new(http));
    }
    if let Some(passkeys) = &settings.webauthn {
        builder = builder.passkeys(passkeys.clone());
    }
    let auth = builder
        .token_config(
            TokenConfig::default()
                .issuer(settings.issuer.clone())
                .audience(settings.audience.clone())
                .access_ttl(Duration::from_secs(settings.access_ttl))
                .refresh_ttl(Duration::from_secs(settings.refresh_ttl))
                .verified_cache(settings.verified_cache),
        )
        .store(store)
        .trusted_proxies(settings.trusted_proxies.clone())
        .second_factor(
            auth_core::mfa::MfaKey::new(&settings.mfa_key).map_err(|e| e.to_string())?,
            settings.issuer.clone(),
        )
        .revocation_mode(settings.revocation)
        // The contract's roles, explicitly: the builder's own table is empty.
        .roles(roles::contract_roles())
        .users(users)
        .api_keys(
            api_keys,
            ApiKeyConfig::default()
                .query_param("api_key")
                .allow_legacy(true),
        )
        .sessions(
            SessionConfig::default()
                .secure(settings.cookie_secure)
                .absolute_timeout(Duration::from_secs(settings.session_ttl))
                .idle_timeout(Duration::from_secs(settings.session_ttl))
                .allowed_origins(settings.allowed_origins.clone()),
        )
        .build()
        .map_err(|e| e.to_string())?;
    for (issuer, failed) in auth.prefetch_issuer_keys().await {
        if let Some(why) = failed {
            eprintln!(
                "warning: trusted issuer {issuer}: its keys could not be fetched ({why}); its tokens answer 503 until they are"
            );
        }
    }
    for key in DEMO_API_KEYS.into_iter().filter(|_| seed_keys) {
        auth.api_keys()
            .register_legacy(key, "demo", "demo", Vec::new())
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(Reference {
        auth,
        articles: Articles::default(),
        settings,
        metrics,
        _purge: purge,
    })
}

/// `AUTH_TRUSTED_ISSUERS` (comma list of issuer URLs), `AUTH_TRUSTED_AUDIENCE` (required
/// with issuers), `AUTH_TRUSTED_ROLES_CLAIM` (default `roles`).
fn trusted_issuers(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<auth_core::resource_server::TrustedIssuer>, String> {
    let Some(list) = get("AUTH_TRUSTED_ISSUERS").filter(|l| !l.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let audience = get("AUTH_TRUSTED_AUDIENCE")
        .filter(|a| !a.trim().is_empty())
        .ok_or("AUTH_TRUSTED_AUDIENCE is required with AUTH_TRUSTED_ISSUERS: the `aud` those tokens must name")?;
    let roles = get("AUTH_TRUSTED_ROLES_CLAIM").unwrap_or_else(|| "roles".into());
    list.split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(|issuer| {
            auth_core::resource_server::TrustedIssuer::new(issuer, audience.clone())
                .map(|i| i.roles_claim(roles.clone()))
                .map_err(|e| format!("AUTH_TRUSTED_ISSUERS: {e}"))
        })
        .collect()
}

/// `GET /whoami`: where the bearer's token came from and what it grants.
pub fn whoami_json(who: &Principal) -> Value {
    json!({
        "sub": who.subject(),
        "iss": who.issuer(),
        "roles": who.roles(),
        "scopes": who.scopes(),
    })
}

/// Who created an article: the local user's email; for a trusted issuer's token, its
/// `email` claim, else its issuer and subject (it has no local account).
pub async fn author_of(auth: &Auth, who: &Principal) -> Result<Option<String>, AuthError> {
    match who {
        Principal::External(c) => Ok(Some(
            c.email
                .clone()
                .unwrap_or_else(|| format!("{}#{}", c.iss, c.sub)),
        )),
        _ => Ok(auth.user_of(who).await?.email),
    }
}

/// Reads the environment and builds; on any configuration error prints one line and
/// exits non-zero (never a panic trace).
pub async fn from_env_or_exit() -> Reference {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => exit_config(&e),
    };
    for w in &settings.warnings {
        eprintln!("warning: {w}");
    }
    match build(settings).await {
        Ok(r) => r,
        Err(e) => exit_config(&e),
    }
}

fn exit_config(reason: &str) -> ! {
    eprintln!("error: {reason}");
    std::process::exit(2)
}

/// The reference configuration on in-memory stores, with test secrets, for in-process
/// tests of the adapters and examples.
pub async fn for_tests() -> Result<Auth, String> {
    let settings = Settings::from_lookup(|name| match name {
        "AUTH_JWT_SECRET" => Some("in-process-test-access-secret-0123456789".into()),
        "AUTH_REFRESH_SECRET" => Some("in-process-test-refresh-secret-012345678".into()),
        _ => None,
    })?;
    Ok(build(settings).await?.auth)
}

/// A user with one role and no password, for tests that mint credentials with
/// `auth_core::testing`.
pub fn test_user(id: &str, role: &str) -> User {
    User {
        id: id.into(),
        username: format!("u{id}"),
        email: Some(format!("u{id}@example.com")),
        roles: vec![role.into()],
        password_hash: String::new(),
        disabled: false,
        data: Value::Null,
    }
}

/// The contract's start-up line, printed once the socket accepts connections.
pub fn print_listening(addr: SocketAddr) {
    println!("listening on http://{addr}");
}

/// Binds `addr` (the contract's `AUTH_BIND`), or prints one line and exits non-zero.
pub fn bind_or_exit(addr: SocketAddr) -> (std::net::TcpListener, SocketAddr) {
    let bound = std::net::TcpListener::bind(addr).and_then(|l| {
        l.set_nonblocking(true)?;
        let local = l.local_addr()?;
        Ok((l, local))
    });
    match bound {
        Ok(b) => b,
        Err(e) => exit_config(&format!("cannot listen on {addr}: {e}")),
    }
}

/// A path id as an integer, or the contract's 400 problem.
pub fn parse_id(raw: &str, what: &str) -> Result<u64, auth_core::AuthError> {
    raw.parse::<u64>()
        .map_err(|_| auth_core::AuthError::BadRequest {
            detail: format!("{what} must be a non-negative integer").into(),
        })
}

/// The contract's demo users (alice/admin, bob/editor, carol/viewer). Their passwords are
/// stored only as argon2id PHC strings at the default parameters; the passwords
/// themselves are in the contract's demo table. Reference-app data: the library crates
/// ship no users.
pub fn demo_users() -> MemoryUsers {
    let users = MemoryUsers::new();
    for user in demo_user_list() {
        users.insert(user);
    }
    users
}

/// The contract's demo users as records (what [`demo_users`] holds and what an empty
/// database is seeded with).
pub fn demo_user_list() -> Vec<User> {
    /// argon2id (m=19456, t=2, p=1) of the three demo passwords, in user order.
    const HASHES: [&str; 3] = [
        "$argon2id$v=19$m=19456,t=2,p=1$h5bA6wPj9u3W2bY9jgec1w$d3Cgs/eSVcisKsKxKxYg6UP9V1zvF8Lob3PXRzdEmTs",
        "$argon2id$v=19$m=19456,t=2,p=1$yRuy+ErkJIfQK/SgP7Curg$fPMNimv+9egtJht+FfjaZPWx4g7WZNNyHFWL2mc3g5E",
        "$argon2id$v=19$m=19456,t=2,p=1$G/wd/doD9QUZtDxkFaEMhA$dUZpfyyXDxOFzcDV+QpblhUA3hO4OdcrQR1HuN919kc",
    ];
    let mut users = Vec::new();
    for ((id, name, role), phc) in [
        ("1", "alice", "admin"),
        ("2", "bob", "editor"),
        ("3", "carol", "viewer"),
    ]
    .into_iter()
    .zip(HASHES)
    {
        users.push(User {
            id: id.into(),
            username: name.into(),
            email: Some(format!("{name}@example.com")),
            roles: vec![role.into()],
            password_hash: phc.into(),
            disabled: false,
            data: serde_json::Value::Null,
        });
    }
    users
}

/// The body of `GET /hello` (optional bearer): `{"user": "<sub>"}`, or `{"user": null}`
/// when no credential was sent.
pub fn hello(user: Option<&str>) -> serde_json::Value {
    serde_json::json!({ "user": user })
}

/// The ABAC subject for a principal.
pub fn actor(who: &auth_core::Principal) -> articles::Actor {
    articles::Actor {
        id: who.user_id().parse().unwrap_or(0),
        roles: who.roles().to_vec(),
    }
}

impl Articles {
    /// The article a path names, or the contract's 400 (not an integer) or 404.
    pub fn load(&self, raw_id: &str) -> Result<Article, auth_core::AuthError> {
        let id = parse_id(raw_id, "article id")?;
        self.get(id).ok_or(auth_core::AuthError::NotFound {
            detail: "Article not found".into(),
        })
    }
}

/// The guard of `POST /articles` (editors and admins). Each app wraps the route in it
/// through its adapter, and [`api_doc`] publishes the same value.
pub fn editors() -> auth_core::Guard {
    auth_core::Guard::Require(auth_core::policy::Requirement::any_role([
        "editor", "admin",
    ]))
}

/// The guard of `DELETE /users/{user_id}` (admins).
pub fn admins() -> auth_core::Guard {
    auth_core::Guard::Require(auth_core::policy::Requirement::any_role(["admin"]))
}

/// The contract's routes as OpenAPI: every scheme `auth` is configured with, and each
/// route's accepted credentials and guard.
pub fn api_doc(auth: &Auth) -> auth_openapi::ApiDoc {
    use auth_openapi::Protection as P;
    let principal = P::bearer_or_session;
    let doc = auth_openapi::ApiDoc::new(
        auth,
        "auth-toolkit reference app",
        env!("CARGO_PKG_VERSION"),
    )
    .route(
        "POST",
        "/token",
        "OAuth2 token endpoint (password, refresh_token and mfa_otp grants)",
        P::none(),
    )
    .route("POST", "/refresh", "Rotate a refresh token", P::none())
    .route("GET", "/me", "The caller's profile", P::bearer())
    .route(
        "POST",
        "/logout",
        "Log out this login (bearer) or session (cookie + CSRF)",
        principal(),
    )
    .route(
        "POST",
        "/logout/all",
        "Log out every login and session",
        P::bearer(),
    )
    .route(
        "GET",
        "/sessions",
        "The caller's logins and sessions",
        P::bearer(),
    )
    .route(
        "DELETE",
        "/sessions/{id}",
        "Revoke one login or session",
        P::bearer(),
    )
    .route("GET", "/data", "API-key protected data", P::api_key())
    .route(
        "POST",
        "/login",
        "Form login: starts a cookie session",
        P::none(),
    )
    .route("GET", "/dashboard", "The session's user", P::session())
    .route(
        "GET",
        "/reports",
        "Reports (bearer or session)",
        principal(),
    )
    .route(
        "POST",
        "/articles",
        "Create an article",
        principal().guard(&editors()),
    )
    .route(
        "DELETE",
        "/users/{user_id}",
        "Delete a user",
        principal().guard(&admins()),
    )
    .route(
        "PUT",
        "/articles/{id}",
        "Edit an article (ABAC: the author or an admin)",
        principal(),
    )
    .route(
        "DELETE",
        "/articles/{id}",
        "Delete an article (ABAC: an admin, or the author of an unpublished article)",
        principal(),
    )
    .route(
        "GET",
        "/auth/{provider}/login",
        "Start a third-party login",
        P::none(),
    )
    .route(
        "GET",
        "/auth/{provider}/callback",
        "Finish a third-party login",
        P::none(),
    )
    .route(
        "POST",
        "/mfa/totp/enroll",
        "Start a TOTP enrolment (secret and otpauth URL)",
        principal(),
    )
    .route(
        "POST",
        "/mfa/totp/confirm",
        "Confirm the enrolment with a code: the recovery codes",
        principal(),
    )
    .route(
        "DELETE",
        "/mfa/totp",
        "Remove the second factor (a code or a recovery code)",
        principal(),
    )
    .route(
        "POST",
        "/login/mfa",
        "Second step of a form login: the code or a recovery code",
        P::none(),
    )
    .route(
        "GET",
        "/mfa/check",
        "Only for a sign-in with a second factor",
        principal().guard(&auth_core::Guard::SecondFactor),
    )
    .route(
        "GET",
        "/health",
        "Liveness and state-store reachability",
        P::none(),
    );
    if !auth.passkeys_enabled() {
        return doc;
    }
    doc.route(
        "POST",
        "/webauthn/register/start",
        "Start registering a passkey: the options for navigator.credentials.create",
        principal(),
    )
    .route(
        "POST",
        "/webauthn/register/finish",
        "Finish registering a passkey with the browser's PublicKeyCredential",
        principal(),
    )
    .route(
        "POST",
        "/webauthn/login/start",
        "Start a passkey sign-in: the options for navigator.credentials.get",
        P::none(),
    )
    .route(
        "POST",
        "/webauthn/login/finish",
        "Finish a passkey sign-in: starts a cookie session (amr hwk)",
        P::none(),
    )
}
