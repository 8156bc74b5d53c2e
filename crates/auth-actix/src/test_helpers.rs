//! For your own tests: a bearer header or a session cookie for a given user, without a
//! real login (no password, no throttling).

use auth_core::credential::User;
use auth_core::request::SimpleRequest;
use auth_core::{Auth, AuthError};

/// `Authorization` header value carrying a fresh access token for `user`.
pub async fn bearer_header(auth: &Auth, user: &User) -> Result<String, AuthError> {
    let pair = auth.parts().tokens.login(user, None).await?;
    Ok(format!("Bearer {}", pair.access.token))
}

/// A `Cookie` header value for a fresh session of `user`, and its CSRF token.
pub async fn session_cookie(auth: &Auth, user: &User) -> Result<(String, String), AuthError> {
    let started = auth
        .parts()
        .sessions
        .start(user, serde_json::Value::Null, &SimpleRequest::new())
        .await?;
    let pair = started
        .set_cookie
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    Ok((pair, started.csrf_token))
}
