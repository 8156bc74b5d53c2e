//! Mapping a provider's identity to a local user.

use std::sync::Arc;

use super::flow::ExternalIdentity;
use crate::credential::{User, UserStore};
use crate::error::AuthError;

/// Turns a verified [`ExternalIdentity`] into the local user to sign in. Implement it
/// to link accounts your own way (by a stored provider subject, by invitation only...).
/// The identity's `email` is always one the provider asserted it verified (the flow
/// refuses every other login before calling the hook).
#[async_trait::async_trait]
pub trait IdentityHook: Send + Sync + std::fmt::Debug {
    /// The user to start a session for, or an error (rendered by the core's table).
    async fn link(&self, identity: &ExternalIdentity) -> Result<User, AuthError>;
}

/// The default hook: the user whose email matches (case-insensitively) signs in; an
/// unknown email creates a user with `roles` and no password (it can sign in only
/// through the provider). A disabled user is refused. Linking by email is safe only
/// because the email is one the provider verified: an `email_verified` that is absent,
/// `false` or not a boolean never reaches this hook.
#[derive(Debug, Clone)]
pub struct LinkByEmail {
    users: Arc<dyn UserStore>,
    roles: Vec<String>,
}

impl LinkByEmail {
    /// Links through `users`; new users get `roles`.
    pub fn new(users: Arc<dyn UserStore>, roles: Vec<String>) -> Self {
        Self { users, roles }
    }
}

/// A password hash that no password verifies: not a PHC string, so the password check
/// reports a mismatch (after the dummy hash, in the same time as a wrong password).
pub const NO_PASSWORD: &str = "!external-login-only";

#[async_trait::async_trait]
impl IdentityHook for LinkByEmail {
    async fn link(&self, identity: &ExternalIdentity) -> Result<User, AuthError> {
        let store_fault = |e: crate::StoreError| {
            tracing::error!(error = %e, "external login: the user store failed");
            AuthError::Internal
        };
        let user = match self
            .users
            .find_by_email(&identity.email)
            .await
            .map_err(store_fault)?
        {
            Some(user) => user,
            None => {
                tracing::info!(provider = %identity.provider, "external login: creating a user");
                self.users
                    .create_user(User {
                        id: String::new(),
                        username: identity.email.clone(),
                        email: Some(identity.email.clone()),
                        roles: self.roles.clone(),
                        password_hash: NO_PASSWORD.into(),
                        disabled: false,
                        data: serde_json::Value::Null,
                    })
                    .await
                    .map_err(store_fault)?
            }
        };
        if user.disabled {
            return Err(AuthError::ExternalLogin {
                detail: "This account is disabled".into(),
            });
        }
        Ok(user)
    }
}
