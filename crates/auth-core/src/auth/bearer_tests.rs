//! `Auth::bearer_token`: the header rules every adapter's bearer extractor relies on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use crate::adapter::SimpleRequest;
use crate::credential::MemoryUsers;
use crate::error::TokenError;
use crate::{AuthBuilder, AuthError, Scheme};

fn token_of(value: &str) -> Result<String, AuthError> {
    let auth = AuthBuilder::new(&[1; 32], &[2; 32])
        .users(Arc::new(MemoryUsers::new()))
        .build()
        .unwrap();
    let request = SimpleRequest::new().header("authorization", value);
    auth.bearer_token(&request).map(str::to_owned)
}

fn malformed(result: Result<String, AuthError>) -> bool {
    matches!(result, Err(AuthError::InvalidToken(TokenError::Malformed)))
}

#[test]
fn the_token_is_read_whatever_the_spaces_around_it() {
    for value in [
        "Bearer abc.def.ghi",
        "bearer abc.def.ghi",
        "BEARER abc.def.ghi",
        "Bearer   abc.def.ghi",
        "  Bearer abc.def.ghi  ",
        "Bearer abc.def.ghi ",
    ] {
        assert_eq!(token_of(value).unwrap(), "abc.def.ghi", "{value:?}");
    }
}

#[test]
fn a_space_inside_the_token_or_no_token_is_malformed() {
    for value in [
        "Bearer abc def",
        "Bearer abc  def ",
        " Bearer a b c",
        "Bearer",
        "Bearer   ",
    ] {
        assert!(malformed(token_of(value)), "{value:?}");
    }
}

#[test]
fn another_scheme_is_no_bearer_credential() {
    for value in ["Basic YWxpY2U6c2VjcmV0", "Token abc", "Bearerabc"] {
        assert!(
            matches!(
                token_of(value),
                Err(AuthError::MissingCredentials(Scheme::Bearer))
            ),
            "{value:?}"
        );
    }
}

#[test]
fn control_characters_and_two_headers_are_refused() {
    assert!(malformed(token_of("Bearer abc\tdef")));
    let auth = AuthBuilder::new(&[1; 32], &[2; 32])
        .users(Arc::new(MemoryUsers::new()))
        .build()
        .unwrap();
    let twice = SimpleRequest::new()
        .header("authorization", "Bearer a")
        .header("authorization", "Bearer b");
    assert!(malformed(auth.bearer_token(&twice).map(str::to_owned)));
}

/// A token the verified-token cache holds is found by the header's bytes before any text
/// check; every other rule (the query, a second header, spacing, revocation, expiry)
/// still decides exactly as before.
#[tokio::test]
async fn a_cached_token_found_by_its_bytes_keeps_every_header_rule() {
    use std::time::Duration;

    use crate::clock::ManualClock;
    use crate::credential::User;

    let clock = Arc::new(ManualClock::at_unix(1_900_000_000));
    let auth = AuthBuilder::new(&[1; 32], &[2; 32])
        .users(Arc::new(MemoryUsers::new()))
        .clock(clock.clone())
        .build()
        .unwrap();
    let user = User {
        id: "7".into(),
        username: "alice".into(),
        email: None,
        roles: vec!["user".into()],
        password_hash: String::new(),
        disabled: false,
        data: serde_json::Value::Null,
    };
    let token = auth.tokens().login(&user, None).await.unwrap().access.token;
    let with = |value: String| SimpleRequest::new().header("authorization", value);
    let cached = || auth.tokens().tokens().cached_tokens();

    // The first request verifies and caches; each usual form is then served from it.
    assert_eq!(cached(), 0);
    let first = auth.bearer(&with(format!("Bearer {token}"))).await.unwrap();
    assert_eq!(cached(), 1);
    for value in [
        format!("Bearer {token}"),
        format!("bearer {token}"),
        format!("BEARER {token}"),
        format!("Bearer   {token}"),
        format!(" Bearer {token} "),
    ] {
        let claims = auth.bearer(&with(value.clone())).await.unwrap();
        assert!(
            Arc::ptr_eq(&claims, &first),
            "{value:?} shares the cached claims"
        );
        let principal = auth.bearer_principal(&with(value.clone())).await.unwrap();
        assert!(matches!(principal, crate::Principal::Bearer(c) if Arc::ptr_eq(&c, &first)));
    }
    assert_eq!(cached(), 1);

    // The rules before the lookup hold for a cached token too.
    let in_query = with(format!("Bearer {token}")).query("access_token=x");
    assert!(matches!(
        auth.bearer(&in_query).await,
        Err(AuthError::InvalidBearerRequest { .. })
    ));
    let twice = with(format!("Bearer {token}")).header("authorization", format!("Bearer {token}"));
    assert!(matches!(
        auth.bearer(&twice).await,
        Err(AuthError::InvalidToken(TokenError::Malformed))
    ));
    for value in [
        format!("Bearer {token}\t"),
        format!("Bearer {token} x"),
        format!("Bearer\t{token}"),
    ] {
        assert!(
            matches!(
                auth.bearer(&with(value.clone())).await,
                Err(AuthError::InvalidToken(TokenError::Malformed))
            ),
            "{value:?}"
        );
    }
    assert!(matches!(
        auth.bearer(&with(format!("Basic {token}"))).await,
        Err(AuthError::MissingCredentials(Scheme::Bearer))
    ));

    // Revocation is checked on a hit, and so is expiry.
    let other = auth.tokens().login(&user, None).await.unwrap().access.token;
    auth.bearer(&with(format!("Bearer {other}"))).await.unwrap();
    auth.tokens().logout(&first).await.unwrap();
    assert!(matches!(
        auth.bearer(&with(format!("Bearer {token}"))).await,
        Err(AuthError::InvalidToken(TokenError::Revoked))
    ));
    clock.advance(Duration::from_secs(24 * 3600));
    assert!(matches!(
        auth.bearer(&with(format!("Bearer {other}"))).await,
        Err(AuthError::InvalidToken(TokenError::Expired))
    ));
}
