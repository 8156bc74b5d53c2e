//! Third-party login: which provider answers may link to an existing account, and the
//! id-token bindings (`azp`, `at_hash`) that say the answer is for this client and this
//! access token. Played against the [`TestProvider`] like the scenarios in `external`.

use serde_json::{Value, json};

use super::external::{dashboard, full_login, logged_in, refused, start};
use crate::app::{App, Target};
use crate::provider::{Mode, TestProvider};

/// Logs in through the provider and returns `/dashboard`'s `user`.
async fn logs_in_as(app: &App, provider: &TestProvider) -> Value {
    let session = logged_in(&full_login(app, provider, None).await, "/");
    let r = dashboard(app, &session).await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["user"].clone()
}

fn alice() -> Value {
    json!({"id": 1, "email": "alice@example.com", "roles": ["admin"]})
}

/// Scenario: the userinfo answer's email links to the existing user only when the
/// provider asserts `email_verified: true` (the JSON boolean). Absent, `false`, the
/// string `"true"`, `1` or `null` link to nobody: the login is refused (400, nothing
/// started), for an existing email (no takeover of alice, the admin) and an unknown
/// one alike (no account is created for an address nobody vouched for). With OpenID
/// Connect the id token carries the same claim, so neither source vouches.
pub async fn external_login_links_only_verified_emails(t: &Target) {
    for oidc in [true, false] {
        let provider = TestProvider::start(oidc).await;
        let app = start(t, &provider).await;
        for claim in [
            None,
            Some(json!(false)),
            Some(json!("true")),
            Some(json!(1)),
            Some(Value::Null),
        ] {
            for email in ["alice@example.com", "erin@example.com"] {
                provider.set_user_claim(email, claim.clone());
                refused(full_login(&app, &provider, None).await, "not verified").await;
            }
        }
        // Nothing was created for erin: once verified, erin is a new viewer (id 4).
        provider.set_user_claim("erin@example.com", Some(json!(true)));
        assert_eq!(
            logs_in_as(&app, &provider).await,
            json!({"id": 4, "email": "erin@example.com", "roles": ["viewer"]})
        );
        provider.set_user_claim("alice@example.com", Some(json!(true)));
        assert_eq!(logs_in_as(&app, &provider).await, alice());
    }
}

/// Scenario: a GitHub-like provider (`AUTH_OAUTH_<NAME>_EMAILS_URL`, set by the GitHub
/// preset): `/user` has no `email_verified`, so its `email` is not trusted; only the
/// `/user/emails` entry that is `primary` and `verified: true` links.
pub async fn external_login_github_links_only_a_verified_primary_email(t: &Target) {
    let provider = TestProvider::start_github().await;
    let app = start(t, &provider).await;
    assert_eq!(logs_in_as(&app, &provider).await, alice());

    // The primary email is alice's but unverified (and type-confused): refused.
    for verified in [json!(false), json!("true"), Value::Null] {
        provider.set_user_claim("alice@example.com", Some(verified));
        refused(full_login(&app, &provider, None).await, "not verified").await;
    }
    // alice's address is verified but not primary; the primary is unverified.
    provider.set_user_claim("alice@example.com", Some(json!(true)));
    provider.set_github_emails(json!([
        {"email": "alice@example.com", "primary": false, "verified": true, "visibility": null},
        {"email": "mallory@example.com", "primary": true, "verified": false, "visibility": "public"},
    ]));
    refused(full_login(&app, &provider, None).await, "not verified").await;
    // `primary` must be the JSON boolean too.
    provider.set_github_emails(json!([
        {"email": "alice@example.com", "primary": "true", "verified": true},
    ]));
    refused(full_login(&app, &provider, None).await, "not verified").await;
    // No email at all.
    provider.set_github_emails(json!([]));
    refused(full_login(&app, &provider, None).await, "not verified").await;
    // The verified primary email decides, whatever `/user` shows (alice's address).
    provider.set_github_emails(json!([
        {"email": "alice@example.com", "primary": false, "verified": false},
        {"email": "bob@example.com", "primary": true, "verified": true, "visibility": "private"},
    ]));
    assert_eq!(
        logs_in_as(&app, &provider).await,
        json!({"id": 2, "email": "bob@example.com", "roles": ["editor"]})
    );
}

/// Scenario: an id token with several audiences is accepted only when `azp` names this
/// client, an `azp` naming another client is refused even with one audience (OpenID
/// Connect Core §3.1.3.7, points 3 to 5), and an `at_hash` that is not the access
/// token's is refused (§3.1.3.8; absent is allowed in the code flow).
pub async fn external_login_checks_azp_and_at_hash(t: &Target) {
    let provider = TestProvider::start(true).await;
    let app = start(t, &provider).await;
    for (mode, detail) in [
        (Mode::ManyAudiencesNoAzp, "another client"),
        (Mode::ManyAudiencesOtherAzp, "another client"),
        (Mode::OtherAzp, "another client"),
        (Mode::WrongAtHash, "access token"),
    ] {
        provider.set_mode(mode);
        refused(full_login(&app, &provider, None).await, detail).await;
    }
    // The valid shapes: several audiences with our `azp`, no `at_hash`, and the
    // default token (one audience, a matching `at_hash`).
    for mode in [Mode::ManyAudiencesOurAzp, Mode::NoAtHash, Mode::Normal] {
        provider.set_mode(mode);
        assert_eq!(logs_in_as(&app, &provider).await, alice(), "{mode:?}");
    }
}

/// Scenario: a provider subject, once linked, signs in as that user from then on: when
/// the provider later reports another (verified) address for the same subject, it is
/// still alice, and no account is made for the new address; another subject with that
/// new address is another account.
pub async fn external_login_keeps_a_linked_subjects_account(t: &Target) {
    let provider = TestProvider::start(true).await;
    let app = start(t, &provider).await;
    provider.set_subject(Some("account-7"));
    provider.set_user("alice@example.com", true);
    assert_eq!(logs_in_as(&app, &provider).await, alice());
    provider.set_user("alice.renamed@example.com", true);
    assert_eq!(logs_in_as(&app, &provider).await, alice());
    provider.set_subject(None);
    assert_eq!(
        logs_in_as(&app, &provider).await,
        json!({"id": 4, "email": "alice.renamed@example.com", "roles": ["viewer"]})
    );
}
