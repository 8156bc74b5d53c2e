//! `TokenManager`: logins, refresh, extra claims, logout and log out everywhere on the
//! in-memory store.

use std::sync::Arc;

use super::TokenManager;
use crate::clock::{Clock, ManualClock};
use crate::credential::{MemoryUsers, User};
use crate::error::{AuthError, TokenError};
use crate::request::SimpleRequest;
use crate::session::{SessionConfig, SessionManager};
use crate::store::{MemoryStore, StateStore};
use crate::token::{Algorithm, Key, KeyRing, TokenConfig, TokenService};

fn alice() -> User {
    User {
        id: "1".into(),
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        roles: vec!["admin".into()],
        password_hash: String::new(),
        disabled: false,
        data: serde_json::Value::Null,
    }
}

fn setup() -> (TokenManager, SessionManager, Arc<ManualClock>) {
    let (m, sessions, clock, _) = setup_with_users();
    (m, sessions, clock)
}

fn setup_with_users() -> (
    TokenManager,
    SessionManager,
    Arc<ManualClock>,
    Arc<MemoryUsers>,
) {
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::with_clock(clock.clone()));
    let users = Arc::new(MemoryUsers::new());
    users.insert(alice());
    let tokens = TokenService::with_clock(
        KeyRing::new(Key::hmac("a", Algorithm::HS256, &[1; 32]).unwrap()),
        KeyRing::new(Key::hmac("r", Algorithm::HS256, &[2; 32]).unwrap()),
        TokenConfig::default(),
        clock.clone(),
    )
    .unwrap();
    let sessions =
        SessionManager::new(SessionConfig::default(), store.clone(), clock.clone()).unwrap();
    (
        TokenManager::new(tokens, users.clone(), store),
        sessions,
        clock,
        users,
    )
}

#[derive(Debug)]
struct Tenant(std::sync::Mutex<String>);

#[async_trait::async_trait]
impl super::ExtraClaims for Tenant {
    async fn extra_claims(
        &self,
        _: &User,
    ) -> Result<serde_json::Map<String, serde_json::Value>, crate::StoreError> {
        let mut m = serde_json::Map::new();
        let tenant = self.0.lock().unwrap().clone();
        m.insert("tenant_id".into(), serde_json::json!(tenant));
        Ok(m)
    }
}

#[derive(Debug, serde::Deserialize)]
struct TenantClaims {
    tenant_id: String,
}

/// A team's typed extra claims survive refresh (computed again from the user, so a
/// changed value shows in the refreshed token); a registered name is refused.
#[tokio::test]
async fn extra_claims_are_on_login_and_refreshed_tokens() {
    let (m, _, _) = setup();
    let hook = Arc::new(Tenant(std::sync::Mutex::new("t1".into())));
    let m = m.with_extra_claims(hook.clone());
    let pair = m.login(&alice(), None).await.unwrap();
    let first = m
        .authenticate_as::<TenantClaims>(&pair.access.token)
        .await
        .unwrap();
    assert_eq!(first.extra.tenant_id, "t1");
    *hook.0.lock().unwrap() = "t2".into();
    let (next, _) = m.refresh(&pair.refresh.token, None).await.unwrap();
    let refreshed = m
        .authenticate_as::<TenantClaims>(&next.access.token)
        .await
        .expect("a refreshed token still carries the extra claims");
    assert_eq!(refreshed.extra.tenant_id, "t2");
    assert_eq!(refreshed.sid, first.sid, "same login");

    #[derive(Debug)]
    struct Overwrites;
    #[async_trait::async_trait]
    impl super::ExtraClaims for Overwrites {
        async fn extra_claims(
            &self,
            _: &User,
        ) -> Result<serde_json::Map<String, serde_json::Value>, crate::StoreError> {
            let mut m = serde_json::Map::new();
            m.insert("roles".into(), serde_json::json!(["admin"]));
            Ok(m)
        }
    }
    let (m, _, _) = setup();
    let m = m.with_extra_claims(Arc::new(Overwrites));
    assert!(matches!(
        m.login(&alice(), None).await,
        Err(AuthError::Internal)
    ));
}

/// A logged-out token stays refused through the whole verification leeway after its
/// `exp`, by its `jti` alone (not only through its family).
#[tokio::test]
async fn a_blocked_jti_stays_blocked_through_the_leeway() {
    let (m, _, clock) = setup();
    let pair = m.login(&alice(), None).await.unwrap();
    let claims = m.authenticate(&pair.access.token).await.unwrap();
    m.logout(&claims).await.unwrap();
    let leeway = m.tokens().config().leeway.as_secs();
    assert!(leeway > 1, "the default leeway is what this test is about");
    let now = clock.unix_seconds();
    clock.advance(std::time::Duration::from_secs(
        claims.exp - now + leeway - 1,
    ));
    // The same jti under another family and user: only the blocklist entry answers.
    let by_jti_only = crate::store::TokenRef {
        iss: "",
        jti: &claims.jti,
        sid: "another-family",
        sub: "another-user",
        iat: claims.iat,
        exp: claims.exp,
    };
    assert_eq!(
        m.store().check(&by_jti_only).await.unwrap(),
        crate::store::TokenStatus::Revoked,
        "the blocklist entry outlives exp by the leeway"
    );
}

/// Refresh reads the user again: a disabled user's refresh fails at once, and a
/// removed role is gone from the refreshed access token.
#[tokio::test]
async fn refresh_reads_the_user_again() {
    let (m, _, _, users) = setup_with_users();
    let pair = m.login(&alice(), None).await.unwrap();
    let mut demoted = alice();
    demoted.roles = vec!["viewer".into()];
    users.insert(demoted);
    let (next, user) = m.refresh(&pair.refresh.token, None).await.unwrap();
    assert_eq!(user.roles, ["viewer"]);
    let claims = m.authenticate(&next.access.token).await.unwrap();
    assert_eq!(claims.roles, ["viewer"], "the removed role is gone");

    let mut disabled = alice();
    disabled.disabled = true;
    users.insert(disabled);
    assert!(matches!(
        m.refresh(&next.refresh.token, None).await,
        Err(AuthError::InvalidToken(TokenError::Revoked))
    ));
}

#[tokio::test]
async fn logout_revokes_the_token_and_its_family_only() {
    let (m, _, _) = setup();
    let one = m.login(&alice(), None).await.unwrap();
    let two = m.login(&alice(), None).await.unwrap();
    let claims = m.authenticate(&one.access.token).await.unwrap();
    assert_eq!(
        m.tokens().cached_tokens(),
        1,
        "verified and cached: revocation must still win"
    );
    m.logout(&claims).await.unwrap();
    assert!(matches!(
        m.authenticate(&one.access.token).await,
        Err(AuthError::InvalidToken(TokenError::Revoked))
    ));
    assert!(
        m.refresh(&one.refresh.token, None).await.is_err(),
        "the login's refresh token too"
    );
    assert!(
        m.authenticate(&two.access.token).await.is_ok(),
        "another login is untouched"
    );
    assert_eq!(m.families("1").await.unwrap().len(), 1);
}

#[tokio::test]
async fn log_out_everywhere_ends_tokens_families_and_sessions() {
    let (m, sessions, clock) = setup();
    let pair = m.login(&alice(), None).await.unwrap();
    let cookie = sessions
        .start(&alice(), serde_json::Value::Null, &SimpleRequest::new())
        .await
        .unwrap();
    clock.advance(std::time::Duration::from_secs(5));
    m.logout_all("1").await.unwrap();
    assert!(m.authenticate(&pair.access.token).await.is_err());
    assert!(m.refresh(&pair.refresh.token, None).await.is_err());
    let back = crate::session::suite::with_cookie(&cookie.set_cookie);
    assert!(
        sessions.load(&back).await.unwrap().is_none(),
        "cookie sessions end too"
    );
    // A new login afterwards works.
    let again = m.login(&alice(), None).await.unwrap();
    assert!(m.authenticate(&again.access.token).await.is_ok());
    assert_eq!(clock.unix_seconds(), 1_800_000_005);
}

#[tokio::test]
async fn revoking_one_family_is_limited_to_the_owner() {
    let (m, _, _) = setup();
    let pair = m.login(&alice(), None).await.unwrap();
    assert!(
        !m.revoke_family("2", &pair.sid).await.unwrap(),
        "another user's id: unknown"
    );
    assert!(m.authenticate(&pair.access.token).await.is_ok());
    assert!(m.revoke_family("1", &pair.sid).await.unwrap());
    assert!(m.authenticate(&pair.access.token).await.is_err());
}
