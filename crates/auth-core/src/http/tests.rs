//! The table's answers, variant by variant.

use super::*;
use crate::error::{StoreError, TokenError};

fn problem(res: &ErrorResponse) -> Problem {
    assert_eq!(res.header("content-type"), Some(PROBLEM_JSON));
    let p: Problem = serde_json::from_str(&res.body).unwrap();
    assert_eq!(p.status, res.status, "status repeated in the body");
    assert!(p.kind.starts_with(TYPE_PREFIX));
    p
}

#[test]
fn missing_bearer_has_no_error_attribute() {
    let res = AuthError::MissingCredentials(Scheme::Bearer).to_response();
    assert_eq!(res.status, 401);
    assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        problem(&res).detail,
        "Not authenticated: send a bearer token"
    );
}

#[test]
fn missing_api_key_and_session() {
    let res = AuthError::MissingCredentials(Scheme::ApiKey).to_response();
    assert_eq!(
        (res.status, res.header("www-authenticate")),
        (401, Some("ApiKey"))
    );
    assert_eq!(problem(&res).detail, "Invalid or missing API key");
    let res = AuthError::MissingCredentials(Scheme::Session).to_response();
    assert_eq!(
        (res.status, res.header("www-authenticate")),
        (401, Some("Session"))
    );
    assert_eq!(problem(&res).detail, "Not authenticated");
}

#[test]
fn every_token_error_is_401_invalid_token_with_its_description() {
    let all = [
        TokenError::TooLong,
        TokenError::Malformed,
        TokenError::UnsupportedHeader,
        TokenError::WrongHeaderType,
        TokenError::UnknownKey,
        TokenError::AlgorithmNotAllowed,
        TokenError::BadSignature,
        TokenError::MissingClaim,
        TokenError::Expired,
        TokenError::NotYetValid,
        TokenError::IssuedInFuture,
        TokenError::WrongIssuer,
        TokenError::WrongAudience,
        TokenError::WrongTokenType,
        TokenError::Revoked,
    ];
    for e in all {
        let res = AuthError::InvalidToken(e.clone()).to_response();
        assert_eq!(res.status, 401, "{e:?}");
        let www = res.header("www-authenticate").unwrap();
        let sentence = capitalise(&e.to_string());
        assert_eq!(
            www,
            format!("Bearer error=\"invalid_token\", error_description=\"{sentence}\"")
        );
        assert!(
            !sentence.contains('"') && !sentence.contains('\\'),
            "quotable"
        );
        assert_eq!(problem(&res).detail, sentence);
    }
    let p = problem(&AuthError::from(TokenError::Expired).to_response());
    assert_eq!(p.detail, "The token has expired");
    assert_eq!(p.title, "Invalid token");
}

#[test]
fn invalid_credentials_is_one_sentence() {
    let res = AuthError::InvalidCredentials.to_response();
    assert_eq!(res.status, 401);
    assert_eq!(problem(&res).detail, "Incorrect username or password");
}

#[test]
fn invalid_api_key() {
    let res = AuthError::InvalidApiKey.to_response();
    assert_eq!(res.status, 401);
    assert_eq!(res.header("www-authenticate"), Some("ApiKey"));
    assert_eq!(problem(&res).detail, "Invalid or missing API key");
}

#[test]
fn not_authenticated() {
    let res = AuthError::NotAuthenticated.to_response();
    assert_eq!(res.status, 401);
    assert_eq!(problem(&res).detail, "Not authenticated");
}

#[test]
fn header_too_large_is_431() {
    let res = AuthError::HeaderTooLarge.to_response();
    assert_eq!(res.status, 431);
    assert!(res.header("www-authenticate").is_none());
    problem(&res);
}

#[test]
fn forbidden_names_what_was_required() {
    let res = AuthError::forbidden("Required roles: [editor, admin]").to_response();
    assert_eq!(res.status, 403);
    assert!(res.header("www-authenticate").is_none());
    assert_eq!(problem(&res).detail, "Required roles: [editor, admin]");
}

#[test]
fn insufficient_scope_follows_rfc_6750() {
    let res = AuthError::InsufficientScope {
        scope: "articles:write admin".into(),
    }
    .to_response();
    assert_eq!(res.status, 403);
    assert_eq!(
        res.header("www-authenticate"),
        Some(
            "Bearer error=\"insufficient_scope\", error_description=\"The token lacks a required scope\", scope=\"articles:write admin\""
        )
    );
    assert_eq!(
        problem(&res).detail,
        "Required scopes: [articles:write, admin]"
    );
    // A scope can never break out of the quoted string.
    let res = AuthError::InsufficientScope {
        scope: "a\", evil=\"1".into(),
    }
    .to_response();
    assert!(
        res.header("www-authenticate")
            .unwrap()
            .ends_with("scope=\"a, evil=1\"")
    );
}

#[test]
fn csrf_is_403_with_the_contract_sentence() {
    let res = AuthError::Csrf.to_response();
    assert_eq!(res.status, 403);
    assert_eq!(problem(&res).detail, "CSRF token missing or invalid");
}

#[test]
fn throttled_is_429_with_retry_after() {
    let res = AuthError::Throttled {
        retry_after_secs: 42,
    }
    .to_response();
    assert_eq!(res.status, 429);
    assert_eq!(res.header("retry-after"), Some("42"));
    assert!(problem(&res).detail.contains("42 seconds"));
}

#[test]
fn not_found_and_bad_request() {
    let res = AuthError::NotFound {
        detail: "Article not found".into(),
    }
    .to_response();
    assert_eq!(
        (res.status, problem(&res).detail.as_str()),
        (404, "Article not found")
    );
    let res = AuthError::BadRequest {
        detail: "user_id must be an integer".into(),
    }
    .to_response();
    assert_eq!(res.status, 400);
    problem(&res);
}

#[test]
fn store_unavailable_is_503_and_hides_the_cause() {
    let res = AuthError::from(StoreError::new("redis://:hunter2@10.0.0.1 refused")).to_response();
    assert_eq!(res.status, 503);
    assert_eq!(res.header("retry-after"), Some("1"));
    assert!(!res.body.contains("hunter2") && !res.body.contains("redis"));
    problem(&res);
}

#[test]
fn internal_is_a_bare_500() {
    let res = AuthError::Internal.to_response();
    assert_eq!(res.status, 500);
    assert_eq!(
        problem(&res).detail,
        "The server could not complete the request"
    );
}

#[test]
fn passkey_registration_failures_are_400_and_sign_in_failures_401() {
    let res = AuthError::PasskeyRegistration {
        detail: "Start the registration again".into(),
    }
    .to_response();
    assert_eq!(res.status, 400);
    let p = problem(&res);
    assert_eq!(
        p.kind,
        "urn:auth-toolkit:problem:passkey-registration-failed"
    );
    assert_eq!(p.detail, "Start the registration again");
    let res = AuthError::PasskeyLogin {
        detail: "Sign in again".into(),
    }
    .to_response();
    assert_eq!(res.status, 401);
    assert_eq!(
        problem(&res).kind,
        "urn:auth-toolkit:problem:passkey-login-failed"
    );
}

#[test]
fn external_login_failures_are_400_and_an_unreachable_provider_502() {
    let res = AuthError::ExternalLogin {
        detail: "The id token's nonce does not match".into(),
    }
    .to_response();
    assert_eq!(res.status, 400);
    assert_eq!(res.header("www-authenticate"), None);
    let p = problem(&res);
    assert_eq!(p.kind, "urn:auth-toolkit:problem:external-login-failed");
    assert_eq!(p.detail, "The id token's nonce does not match");
    let res = AuthError::ProviderUnavailable.to_response();
    assert_eq!(res.status, 502);
    assert_eq!(
        problem(&res).kind,
        "urn:auth-toolkit:problem:provider-unavailable"
    );
}

#[test]
fn token_endpoint_errors_use_the_rfc_6749_shape() {
    let cases = [
        (OAuthErrorCode::InvalidRequest, 400),
        (OAuthErrorCode::InvalidGrant, 400),
        (OAuthErrorCode::UnauthorizedClient, 400),
        (OAuthErrorCode::UnsupportedGrantType, 400),
        (OAuthErrorCode::InvalidScope, 400),
        (OAuthErrorCode::InvalidClient, 401),
        (OAuthErrorCode::TemporarilyUnavailable, 503),
    ];
    for (code, status) in cases {
        let res = AuthError::oauth(code, "Something to fix").to_response();
        assert_eq!(res.status, status, "{code:?}");
        assert_eq!(res.header("content-type"), Some(JSON));
        assert_eq!(res.header("cache-control"), Some("no-store"));
        assert_eq!(res.header("pragma"), Some("no-cache"));
        let body: OAuthErrorBody = serde_json::from_str(&res.body).unwrap();
        assert_eq!(body.error, code.as_str());
        assert_eq!(body.error_description, "Something to fix");
        let v: serde_json::Value = serde_json::from_str(&res.body).unwrap();
        assert_eq!(
            v.as_object().unwrap().len(),
            2,
            "exactly error and error_description"
        );
    }
    let res = AuthError::oauth(OAuthErrorCode::InvalidClient, "x").to_response();
    assert_eq!(res.header("www-authenticate"), Some("Basic"));
}

#[test]
fn token_endpoint_throttling_is_429_slow_down_with_retry_after() {
    let res = AuthError::OAuth {
        code: OAuthErrorCode::SlowDown,
        description: "Too many failed attempts".into(),
        retry_after_secs: Some(30),
    }
    .to_response();
    assert_eq!(res.status, 429);
    assert_eq!(res.header("retry-after"), Some("30"));
    assert!(res.body.contains("\"slow_down\""));
}
