//! The second factor end to end through `Auth`'s endpoints, on a manual clock: TOTP
//! enrolment, the `mfa_required` answer and the `mfa_otp` grant, `/login/mfa`, recovery
//! codes, the throttle, removal, and the second-factor guard.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use serde_json::Value;

use super::{Auth, Guard};
use crate::clock::{Clock as _, ManualClock};
use crate::credential::{MemoryUsers, PasswordParams, Passwords, User};
use crate::mfa::{MfaKey, SealedSecret};
use crate::request::SimpleRequest;
use crate::store::MemoryStore;
use crate::{AuthBuilder, AuthError, Reply};

const NOW: u64 = 1_800_000_010;
const FORM: &str = "application/x-www-form-urlencoded";

struct Fx {
    auth: Auth,
    clock: Arc<ManualClock>,
}

fn fixture() -> Fx {
    let params = PasswordParams {
        m_cost: 256,
        t_cost: 1,
        p_cost: 1,
    };
    let users = MemoryUsers::new();
    users.insert(User {
        id: "4".into(),
        username: "dave".into(),
        email: Some("dave@example.com".into()),
        roles: vec!["viewer".into()],
        password_hash: Passwords::new(params)
            .unwrap()
            .hash_blocking("pw-dave")
            .unwrap(),
        disabled: false,
        data: Value::Null,
    });
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let auth = AuthBuilder::new(&[1; 32], &[2; 32])
        .users(Arc::new(users))
        .password_params(params)
        .clock(clock.clone())
        .store(Arc::new(MemoryStore::with_clock(clock.clone())))
        .second_factor(MfaKey::new(&[9; 32]).unwrap(), "Acme")
        .build()
        .unwrap();
    Fx { auth, clock }
}

fn json(reply: &Reply) -> Value {
    serde_json::from_str(reply.body()).unwrap()
}

fn post() -> SimpleRequest {
    SimpleRequest::new()
        .with_method("POST")
        .with_peer("192.0.2.7".parse().unwrap())
}

impl Fx {
    async fn bearer(&self) -> String {
        let reply = self.token("username=dave&password=pw-dave").await;
        assert_eq!(reply.status(), 200, "{}", reply.body());
        json(&reply)["access_token"].as_str().unwrap().to_owned()
    }

    async fn token(&self, form: &str) -> Reply {
        let request = post().header("content-type", FORM);
        self.auth.token_endpoint(&request, form.as_bytes()).await
    }

    /// The code of the current step, from the stored sealed secret.
    async fn code(&self) -> String {
        let stored = self.auth.store().totp("4").await.unwrap().unwrap();
        let sealed = SealedSecret::from_stored(stored.sealed);
        let factor = self.auth.second_factor().unwrap();
        factor
            .totp()
            .code_at("4", &sealed, self.clock.unix_seconds())
            .unwrap()
    }

    fn next_step(&self) {
        self.clock.advance(std::time::Duration::from_secs(30));
    }

    /// Enrols and confirms dave's second factor; his recovery codes.
    async fn activate(&self) -> Vec<String> {
        let bearer = format!("Bearer {}", self.bearer().await);
        let as_dave = || post().header("authorization", bearer.clone());
        let reply = self.auth.mfa_enroll_endpoint(&as_dave()).await;
        assert_eq!(reply.status(), 200, "{}", reply.body());
        let body = json(&reply);
        assert!(
            body["otpauth_url"]
                .as_str()
                .unwrap()
                .starts_with("otpauth://totp/Acme:dave%40example.com?")
        );
        assert_eq!(
            body["secret"].as_str().unwrap().len(),
            32,
            "160 bits, base32"
        );
        let confirm = |code: String| {
            let request = as_dave().header("content-type", "application/json");
            let body = serde_json::json!({ "code": code }).to_string();
            async move {
                self.auth
                    .mfa_confirm_endpoint(&request, body.as_bytes())
                    .await
            }
        };
        let wrong = confirm("000000".into()).await;
        assert_eq!(wrong.status(), 400, "{}", wrong.body());
        let ok = confirm(self.code().await).await;
        assert_eq!(ok.status(), 200, "{}", ok.body());
        let codes: Vec<String> =
            serde_json::from_value(json(&ok)["recovery_codes"].clone()).unwrap();
        assert_eq!(codes.len(), 10);
        // Active now: a second enrolment is a conflict.
        let again = self.auth.mfa_enroll_endpoint(&as_dave()).await;
        assert_eq!(again.status(), 409, "{}", again.body());
        self.next_step();
        codes
    }

    async fn mfa_token(&self) -> String {
        let reply = self.token("username=dave&password=pw-dave").await;
        assert_eq!(reply.status(), 403, "{}", reply.body());
        let body = json(&reply);
        assert_eq!(body["error"], "mfa_required");
        assert!(body.get("access_token").is_none());
        assert_eq!(reply.header_value("cache-control"), Some("no-store"));
        body["mfa_token"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn the_password_grant_asks_for_the_code_and_mfa_otp_issues_tokens_with_amr() {
    let fx = fixture();
    // Before enrolment: tokens at once, `amr` ["pwd"].
    let plain = fx.bearer().await;
    let claims = fx.auth.tokens().authenticate(&plain).await.unwrap();
    assert_eq!(claims.amr, ["pwd"]);
    fx.activate().await;

    let mfa_token = fx.mfa_token().await;
    let wrong = fx
        .token(&format!(
            "grant_type=mfa_otp&mfa_token={mfa_token}&otp=123456"
        ))
        .await;
    assert_eq!(wrong.status(), 400);
    assert_eq!(json(&wrong)["error"], "invalid_grant");
    let code = fx.code().await;
    let ok = fx
        .token(&format!(
            "grant_type=mfa_otp&mfa_token={mfa_token}&otp={code}"
        ))
        .await;
    assert_eq!(ok.status(), 200, "{}", ok.body());
    let access = json(&ok)["access_token"].as_str().unwrap().to_owned();
    let claims = fx.auth.tokens().authenticate(&access).await.unwrap();
    assert_eq!(claims.amr, ["pwd", "otp"]);
    // A refresh keeps how the login authenticated.
    let refresh = json(&ok)["refresh_token"].as_str().unwrap().to_owned();
    let (pair, _) = fx.auth.tokens().refresh(&refresh, None).await.unwrap();
    let claims = fx
        .auth
        .tokens()
        .authenticate(&pair.access.token)
        .await
        .unwrap();
    assert_eq!(claims.amr, ["pwd", "otp"]);

    // The mfa_token is spent; a new challenge refuses the same code (its step is used).
    let spent = fx
        .token(&format!(
            "grant_type=mfa_otp&mfa_token={mfa_token}&otp={code}"
        ))
        .await;
    assert_eq!(json(&spent)["error"], "invalid_grant");
    let second = fx.mfa_token().await;
    let replay = fx
        .token(&format!("grant_type=mfa_otp&mfa_token={second}&otp={code}"))
        .await;
    assert_eq!(json(&replay)["error"], "invalid_grant", "replayed code");
    fx.next_step();
    let code = fx.code().await;
    let ok = fx
        .token(&format!("grant_type=mfa_otp&mfa_token={second}&otp={code}"))
        .await;
    assert_eq!(ok.status(), 200, "the next step's code: {}", ok.body());

    // Malformed grants.
    for form in [
        "grant_type=mfa_otp&otp=123456".to_string(),
        format!("grant_type=mfa_otp&mfa_token={second}"),
        format!("grant_type=mfa_otp&mfa_token={second}&otp=1&recovery_code=2"),
    ] {
        let reply = fx.token(&form).await;
        assert_eq!(reply.status(), 400);
        assert_eq!(json(&reply)["error"], "invalid_request", "{form}");
    }
}

#[tokio::test]
async fn five_wrong_codes_spend_the_token_and_lock_the_user() {
    let fx = fixture();
    fx.activate().await;
    let mfa_token = fx.mfa_token().await;
    for _ in 0..5 {
        let wrong = fx
            .token(&format!(
                "grant_type=mfa_otp&mfa_token={mfa_token}&otp=000000"
            ))
            .await;
        assert_eq!(json(&wrong)["error"], "invalid_grant");
    }
    // Five wrong codes: the token is spent, even with the right code...
    let code = fx.code().await;
    let spent = fx
        .token(&format!(
            "grant_type=mfa_otp&mfa_token={mfa_token}&otp={code}"
        ))
        .await;
    assert_eq!(json(&spent)["error"], "invalid_grant", "{}", spent.body());
    // ...and they counted toward the user's throttle: the password is refused unread.
    let password = fx.token("username=dave&password=pw-dave").await;
    assert_eq!(password.status(), 429, "{}", password.body());
    assert!(password.header_value("retry-after").is_some());
    // ...and once the lock has passed, the token is still spent.
    fx.clock.advance(std::time::Duration::from_secs(3600));
    let code = fx.code().await;
    let spent = fx
        .token(&format!(
            "grant_type=mfa_otp&mfa_token={mfa_token}&otp={code}"
        ))
        .await;
    assert_eq!(json(&spent)["error"], "invalid_grant", "{}", spent.body());
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let fx = fixture();
    let codes = fx.activate().await;
    let mfa_token = fx.mfa_token().await;
    let typed = codes[3].to_uppercase().replace('-', " ");
    let ok = fx
        .token(&format!(
            "grant_type=mfa_otp&mfa_token={mfa_token}&recovery_code={typed}"
        ))
        .await;
    assert_eq!(ok.status(), 200, "{}", ok.body());
    let left = fx
        .auth
        .second_factor()
        .unwrap()
        .recovery_codes_left("4")
        .await
        .unwrap();
    assert_eq!(left, 9);
    let again = fx.mfa_token().await;
    let spent = fx
        .token(&format!(
            "grant_type=mfa_otp&mfa_token={again}&recovery_code={}",
            codes[3]
        ))
        .await;
    assert_eq!(json(&spent)["error"], "invalid_grant");
}

#[tokio::test]
async fn cookie_login_asks_for_the_code_and_login_mfa_starts_the_session() {
    let fx = fixture();
    fx.activate().await;
    let login = post().header("content-type", FORM);
    let reply = fx
        .auth
        .login_endpoint(&login, b"username=dave&password=pw-dave")
        .await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    assert_eq!(json(&reply)["message"], "Second factor required");
    assert!(reply.header_value("set-cookie").is_none(), "no session yet");
    let mfa_token = json(&reply)["mfa_token"].as_str().unwrap().to_owned();

    let wrong = fx
        .auth
        .login_mfa_endpoint(
            &login,
            format!("mfa_token={mfa_token}&otp=000000").as_bytes(),
        )
        .await;
    assert_eq!(wrong.status(), 401, "{}", wrong.body());
    assert!(wrong.header_value("set-cookie").is_none());
    let code = fx.code().await;
    let ok = fx
        .auth
        .login_mfa_endpoint(
            &login,
            format!("mfa_token={mfa_token}&otp={code}").as_bytes(),
        )
        .await;
    assert_eq!(ok.status(), 200, "{}", ok.body());
    assert_eq!(json(&ok)["message"], "Logged in");
    let cookie = ok.header_value("set-cookie").unwrap().to_owned();
    let session = crate::session::suite::with_cookie(&cookie);
    let loaded = fx.auth.sessions().load(&session).await.unwrap().unwrap();
    assert_eq!(*loaded.record.amr, ["pwd", "otp"]);
    // The session passes the second-factor guard.
    let principal = fx.auth.guard(&session, &Guard::SecondFactor).await.unwrap();
    assert!(principal.is_some());
}

#[tokio::test]
async fn the_guard_refuses_a_password_only_login_with_rfc_9470s_error() {
    let fx = fixture();
    let bearer = format!("Bearer {}", fx.bearer().await);
    let request = SimpleRequest::new().header("authorization", bearer);
    let err = fx
        .auth
        .guard(&request, &Guard::SecondFactor)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::InsufficientUserAuthentication));
    let response = err.to_response();
    assert_eq!(response.status, 403);
    assert!(
        response
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer error=\"insufficient_user_authentication\"")
    );
    // Nobody at all: 401, as any guard.
    let err = fx
        .auth
        .guard(&SimpleRequest::new(), &Guard::SecondFactor)
        .await
        .unwrap_err();
    assert_eq!(err.to_response().status, 401);
}

#[tokio::test]
async fn removing_the_second_factor_needs_a_code() {
    let fx = fixture();
    fx.activate().await;
    // Signed in with both factors.
    let mfa_token = fx.mfa_token().await;
    let code = fx.code().await;
    let ok = fx
        .token(&format!(
            "grant_type=mfa_otp&mfa_token={mfa_token}&otp={code}"
        ))
        .await;
    let bearer = format!("Bearer {}", json(&ok)["access_token"].as_str().unwrap());
    let delete = |code: &str| {
        let request = SimpleRequest::new()
            .with_method("DELETE")
            .header("authorization", bearer.clone())
            .header("content-type", "application/json");
        let body = serde_json::json!({ "code": code }).to_string();
        let auth = fx.auth.clone();
        async move { auth.mfa_disable_endpoint(&request, body.as_bytes()).await }
    };
    assert_eq!(delete("000000").await.status(), 400);
    assert_eq!(delete(&code).await.status(), 400, "a used code stays used");
    fx.next_step();
    let code = fx.code().await;
    let removed = delete(&code).await;
    assert_eq!(removed.status(), 200, "{}", removed.body());
    assert!(fx.auth.store().totp("4").await.unwrap().is_none());
    // Tokens at once again.
    assert_eq!(
        fx.token("username=dave&password=pw-dave").await.status(),
        200
    );
}
