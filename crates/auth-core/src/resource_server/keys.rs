//! One trusted issuer's signing keys: OIDC discovery, the JWKS, the cache and its
//! refresh rules (single flight, at most one refetch per 30 s, never emptied by a
//! failure).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::TrustedIssuer;
use crate::error::{AuthError, TokenError};
use crate::third_party::{HttpClient, OutboundRequest};

/// The shortest and longest time a fetched key set is used before a refresh.
const MIN_TTL_SECS: u64 = 60;
const MAX_TTL_SECS: u64 = 24 * 60 * 60;
/// Without a `Cache-Control: max-age`, keys are refreshed after this long.
const DEFAULT_TTL_SECS: u64 = 10 * 60;
/// At most one fetch per issuer in this many seconds for an unknown `kid` (or an issuer
/// whose keys were never fetched).
pub(super) const REFETCH_INTERVAL_SECS: u64 = 30;
/// A failed background refresh is retried after this long (the old keys stay).
const RETRY_SECS: u64 = 60;

/// The key family a JWK belongs to, with its curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

/// A usable verification key from the issuer's JWKS.
pub(super) struct VerifyKey {
    /// The JWK as published (to notice a key replaced under the same `kid`).
    published: String,
    kind: Kind,
    /// The JWK's own `alg`, when it names one.
    alg: Option<Algorithm>,
    pub(super) decoding: DecodingKey,
}

impl VerifyKey {
    /// The key for a token whose header says `alg`: its family and curve must fit, and
    /// its own `alg`, when it has one, must be the same. Never an HMAC algorithm.
    pub(super) fn allows(&self, alg: Algorithm) -> bool {
        let kind_fits = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => self.kind == Kind::Rsa,
            Algorithm::ES256 => self.kind == Kind::P256,
            Algorithm::ES384 => self.kind == Kind::P384,
            Algorithm::EdDSA => self.kind == Kind::Ed25519,
            // HMAC, and anything jsonwebtoken adds later: never.
            _ => false,
        };
        kind_fits && self.alg.is_none_or(|a| a == alg)
    }
}

#[derive(Default)]
struct State {
    keys: HashMap<String, Arc<VerifyKey>>,
    /// Whether any fetch ever succeeded.
    fetched: bool,
    /// When the keys should be refreshed (unix seconds).
    refresh_at: u64,
    /// When the last fetch was started (unix seconds), successful or not.
    last_attempt: Option<u64>,
    /// When an unknown `kid` last caused a refetch (start-up and background refreshes
    /// do not count, so a key rotated in just after start-up is found at once).
    last_kid_refetch: Option<u64>,
}

/// One issuer's keys and their cache.
pub(super) struct IssuerKeys {
    config: TrustedIssuer,
    state: RwLock<State>,
    /// Held by the one fetch in flight: concurrent callers wait for it, then read.
    fetching: tokio::sync::Mutex<()>,
    /// A background refresh is running.
    refreshing: AtomicBool,
    /// A fetch replaced or removed a key: cached verifications must be dropped.
    keys_changed: AtomicBool,
}

/// What [`IssuerKeys::key`] found.
pub(super) enum Lookup {
    Found(Arc<VerifyKey>),
    /// The issuer's keys were never fetched, and may not be fetched yet.
    NeverFetched,
    /// No key with that `kid` (after at most one permitted refetch).
    Unknown,
}

/// An issuer URL we may fetch from: `https://`, or `http://` on a loopback host (tests).
pub(super) fn check_url(url: &str) -> Result<(), String> {
    let authority = |rest: &str| rest.split(['/', '?', '#']).next().unwrap_or("").to_owned();
    for scheme in ["http://", "https://"] {
        if let Some(rest) = url.strip_prefix(scheme)
            && authority(rest).contains('@')
        {
            return Err("a URL with user information (`user@host`) is refused".into());
        }
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let authority = authority(rest);
        let host = authority.split(':').next().unwrap_or("");
        let loopback = host == "localhost"
            || host == "127.0.0.1"
            || authority == "[::1]"
            || authority.starts_with("[::1]:");
        return if loopback {
            Ok(())
        } else {
            Err("use an https:// URL (plain http is allowed only on a loopback host)".into())
        };
    }
    match url.strip_prefix("https://") {
        Some(rest) if !rest.is_empty() => Ok(()),
        _ => Err("not an https:// URL".into()),
    }
}

impl IssuerKeys {
    pub(super) fn new(config: TrustedIssuer) -> Self {
        Self {
            config,
            state: RwLock::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
            keys_changed: AtomicBool::new(false),
        }
    }

    pub(super) fn config(&self) -> &TrustedIssuer {
        &self.config
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a fetch replaced or removed keys since the last call.
    pub(super) fn take_keys_changed(&self) -> bool {
        self.keys_changed.swap(false, Ordering::SeqCst)
    }

    /// The key named `kid` (or the only key, when the token names none). Missing: one
    /// refetch, shared by all concurrent callers, at most once per
    /// [`REFETCH_INTERVAL_SECS`].
    pub(super) async fn key(&self, http: &dyn HttpClient, kid: Option<&str>, now: u64) -> Lookup {
        if let Some(found) = self.lookup(kid) {
            return Lookup::Found(found);
        }
        // Single flight: whoever holds the lock fetches; the others wait and read.
        let _flight = self.fetching.lock().await;
        if let Some(found) = self.lookup(kid) {
            return Lookup::Found(found);
        }
        let may_fetch = {
            let state = self.read();
            let last = if state.fetched {
                state.last_kid_refetch
            } else {
                state.last_attempt
            };
            last.is_none_or(|t| now.saturating_sub(t) >= REFETCH_INTERVAL_SECS)
        };
        if may_fetch {
            if self.read().fetched {
                let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
                state.last_kid_refetch = Some(now);
            }
            let _ = self.fetch_locked(http, now).await;
            if let Some(found) = self.lookup(kid) {
                return Lookup::Found(found);
            }
        }
        if self.read().fetched {
            Lookup::Unknown
        } else {
            Lookup::NeverFetched
        }
    }

    fn lookup(&self, kid: Option<&str>) -> Option<Arc<VerifyKey>> {
        let state = self.read();
        match kid {
            Some(kid) => state.keys.get(kid).cloned(),
            None if state.keys.len() == 1 => state.keys.values().next().cloned(),
            None => None,
        }
    }

    /// Fetches now (start-up prefetch), unless another fetch is in flight.
    pub(super) async fn fetch_now(&self, http: &dyn HttpClient, now: u64) -> Result<(), String> {
        let _flight = self.fetching.lock().await;
        self.fetch_locked(http, now).await
    }

    /// Starts a background refresh when the keys are due (and none runs yet). Needs a
    /// Tokio runtime; without one the next lookup refreshes instead.
    pub(super) fn refresh_if_due(self: &Arc<Self>, http: &Arc<dyn HttpClient>, now: u64) {
        let due = {
            let state = self.read();
            state.fetched && now >= state.refresh_at
        };
        if !due || self.refreshing.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.refreshing.store(false, Ordering::SeqCst);
            return;
        };
        let (me, http) = (Arc::clone(self), Arc::clone(http));
        runtime.spawn(async move {
            if let Ok(_flight) = me.fetching.try_lock()
                && let Err(why) = me.fetch_locked(&*http, now).await
            {
                tracing::warn!(issuer = me.config.issuer(), error = %why, "trusted issuer: key refresh failed; keeping the cached keys");
            }
            me.refreshing.store(false, Ordering::SeqCst);
        });
    }

    /// One fetch: discovery, then the JWKS. The caller holds `fetching`. On failure the
    /// cached keys stay; the next refresh is tried after [`RETRY_SECS`].
    async fn fetch_locked(&self, http: &dyn HttpClient, now: u64) -> Result<(), String> {
        {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            state.last_attempt = Some(now);
        }
        match self.download(http).await {
            Ok((keys, ttl)) => {
                let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
                // A key removed, or replaced under its `kid`: cached verifications go.
                let changed = state
                    .keys
                    .iter()
                    .any(|(k, old)| keys.get(k).is_none_or(|new| new.published != old.published));
                if changed {
                    self.keys_changed.store(true, Ordering::SeqCst);
                }
                state.keys = keys;
                state.fetched = true;
                state.refresh_at = now.saturating_add(ttl - ttl / 10);
                Ok(())
            }
            Err(why) => {
                let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
                state.refresh_at = now.saturating_add(RETRY_SECS);
                tracing::warn!(issuer = self.config.issuer(), error = %why, "trusted issuer: fetching keys failed");
                Err(why)
            }
        }
    }

    async fn download(
        &self,
        http: &dyn HttpClient,
    ) -> Result<(HashMap<String, Arc<VerifyKey>>, u64), String> {
        #[derive(serde::Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let base = self.config.issuer().trim_end_matches('/');
        let (body, _) = get(http, &format!("{base}/.well-known/openid-configuration")).await?;
        let discovery: Discovery = serde_json::from_slice(&body)
            .map_err(|e| format!("the discovery document is not OIDC JSON ({e})"))?;
        if discovery.issuer != self.config.issuer() {
            return Err("the discovery document names another issuer".into());
        }
        check_url(&discovery.jwks_uri).map_err(|why| format!("jwks_uri: {why}"))?;
        let (body, cache_control) = get(http, &discovery.jwks_uri).await?;
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| format!("the JWKS is not JSON ({e})"))?;
        let keys = usable_keys(&set);
        if keys.is_empty() {
            return Err("the JWKS holds no usable signing key".into());
        }
        Ok((keys, ttl(cache_control.as_deref())))
    }
}

/// GET `url`: the body and the `Cache-Control` header of a 200.
async fn get(http: &dyn HttpClient, url: &str) -> Result<(Vec<u8>, Option<String>), String> {
    let answer = http
        .send(OutboundRequest {
            method: "GET",
            url: url.to_string(),
            headers: vec![
                ("accept".into(), "application/json".into()),
                ("user-agent".into(), "auth-toolkit".into()),
            ],
            body: Vec::new(),
        })
        .await
        .map_err(|e| e.to_string())?;
    if answer.status != 200 {
        return Err(format!("status {}", answer.status));
    }
    let cache_control = answer
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("cache-control"))
        .map(|(_, v)| v.clone());
    Ok((answer.body, cache_control))
}

/// The cache lifetime a `Cache-Control` value asks for, bounded to
/// [[`MIN_TTL_SECS`], [`MAX_TTL_SECS`]].
pub(super) fn ttl(cache_control: Option<&str>) -> u64 {
    let Some(value) = cache_control else {
        return DEFAULT_TTL_SECS;
    };
    let mut max_age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return MIN_TTL_SECS;
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            max_age = n.trim_matches('"').parse::<u64>().ok();
        }
    }
    max_age
        .unwrap_or(DEFAULT_TTL_SECS)
        .clamp(MIN_TTL_SECS, MAX_TTL_SECS)
}

/// The signing keys of a JWKS this service can use: asymmetric (RSA, P-256, P-384,
/// Ed25519), for signatures, with a `kid` (or the set's only key). Symmetric keys are
/// never used.
fn usable_keys(set: &JwkSet) -> HashMap<String, Arc<VerifyKey>> {
    let mut out = HashMap::new();
    let only = set.keys.len() == 1;
    for jwk in &set.keys {
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != PublicKeyUse::Signature)
        {
            continue;
        }
        let Some(kind) = kind_of(jwk) else {
            continue;
        };
        let kid = match (&jwk.common.key_id, only) {
            (Some(kid), _) => kid.clone(),
            (None, true) => String::new(),
            (None, false) => continue,
        };
        let alg = match jwk.common.key_algorithm {
            None => None,
            // A JWK `alg` that is not a JWS signing algorithm (`RSA-OAEP`, …) is not
            // a signing key.
            Some(a) => match format!("{a:?}").parse::<Algorithm>() {
                Ok(a) => Some(a),
                Err(_) => continue,
            },
        };
        let Ok(decoding) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        let published = serde_json::to_string(jwk).unwrap_or_default();
        out.insert(
            kid,
            Arc::new(VerifyKey {
                published,
                kind,
                alg,
                decoding,
            }),
        );
    }
    out
}

fn kind_of(jwk: &Jwk) -> Option<Kind> {
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(Kind::Rsa),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Some(Kind::P256),
            EllipticCurve::P384 => Some(Kind::P384),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(okp) => {
            (okp.curve == EllipticCurve::Ed25519).then_some(Kind::Ed25519)
        }
        // Symmetric ("oct") keys are never trusted: the RSA-as-HMAC confusion and shared
        // secrets have no place in resource-server mode.
        _ => None,
    }
}

/// A lookup's refusal as the request's error.
pub(super) fn refusal(lookup: Lookup) -> Result<Arc<VerifyKey>, AuthError> {
    match lookup {
        Lookup::Found(key) => Ok(key),
        Lookup::NeverFetched => Err(AuthError::IssuerUnavailable),
        Lookup::Unknown => Err(TokenError::UnknownKey.into()),
    }
}
