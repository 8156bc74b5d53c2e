//! For users' own tests, re-exported by every adapter as `test_helpers`: a bearer header
//! or a session cookie for a given user, without a real login (no password, no
//! throttling). The credentials are real: they pass every check the app makes.
//!
//! Behind the `testing` feature, because anything that mints credentials without a
//! password must not be in a production build. Enable it for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! auth-axum = { version = "0.1", features = ["testing"] } # or auth-actix / auth-warp / auth-core
//! ```

use crate::credential::User;
use crate::request::SimpleRequest;
use crate::{Auth, AuthError};

/// `Authorization` header value carrying a fresh access token for `user`.
pub async fn bearer_header(auth: &Auth, user: &User) -> Result<String, AuthError> {
    let pair = auth.tokens().login(user, None).await?;
    Ok(format!("Bearer {}", pair.access.token))
}

/// A `Cookie` header value for a fresh session of `user`, and its CSRF token.
pub async fn session_cookie(auth: &Auth, user: &User) -> Result<(String, String), AuthError> {
    let started = auth
        .sessions()
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
