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
