//! Mapping a provider's identity to a local user.

use std::sync::Arc;

use super::NO_PASSWORD;
use super::flow::ExternalIdentity;
use crate::credential::{User, UserStore};
use crate::error::AuthError;
use crate::store::IdentityLinks;

/// Turns a verified [`ExternalIdentity`] into the local user to sign in. Implement it
/// to link accounts your own way (by a stored provider subject, by invitation only...).
/// The identity's `email` is always one the provider asserted it verified (the flow
/// refuses every other login before calling the hook).
#[async_trait::async_trait]
pub trait IdentityHook: Send + Sync + std::fmt::Debug {
    /// The user to start a session for, or an error (rendered by the core's table).
    async fn link(&self, identity: &ExternalIdentity) -> Result<User, AuthError>;
}

/// The default hook: a provider subject linked before signs in as its linked user
/// ([`IdentityLinks`], when given: the builder gives its state store); otherwise the user
/// whose email matches (case-insensitively) signs in, and an unknown email creates a user
/// with `roles` and no password (it can sign in only through the provider); either way
/// the subject is then linked to that user for good, so a later change of email at the
/// provider does not change the account. A disabled user is refused. Linking by email is
/// safe only because the email is one the provider verified: an `email_verified` that is
/// absent, `false` or not a boolean never reaches this hook.
#[derive(Debug, Clone)]
pub struct LinkByEmail {
    users: Arc<dyn UserStore>,
    roles: Vec<String>,
    links: Option<Arc<dyn IdentityLinks>>,
}

impl LinkByEmail {
    /// Links through `users`; new users get `roles`.
    pub fn new(users: Arc<dyn UserStore>, roles: Vec<String>) -> Self {
        Self {
            users,
            roles,
            links: None,
        }
    }

    /// Remembers each provider subject's user in `links`, and signs a linked subject in
    /// as that user from then on.
    #[must_use]
    pub fn with_links(mut self, links: Arc<dyn IdentityLinks>) -> Self {
        self.links = Some(links);
        self
    }
}

#[async_trait::async_trait]
impl IdentityHook for LinkByEmail {
    async fn link(&self, identity: &ExternalIdentity) -> Result<User, AuthError> {
        let store_fault = |e: crate::StoreError| {
            tracing::error!(error = %e, "external login: the user store failed");
            AuthError::Internal
        };
        if let Some(links) = &self.links
            && let Some(id) = links
                .linked_user(&identity.provider, &identity.subject)
                .await?
        {
            return match self.users.find_by_id(&id).await.map_err(store_fault)? {
                Some(user) => enabled(user),
                None => Err(AuthError::ExternalLogin {
                    detail: "The account linked to this login no longer exists".into(),
                }),
            };
        }
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
        let user = enabled(user)?;
        let Some(links) = &self.links else {
            return Ok(user);
        };
        let linked = links
            .link_identity(&identity.provider, &identity.subject, &user.id)
            .await?;
        if linked == user.id {
            return Ok(user);
        }
        // A concurrent first login of this subject linked it first: sign in as that one.
        match self.users.find_by_id(&linked).await.map_err(store_fault)? {
            Some(user) => enabled(user),
            None => Err(AuthError::ExternalLogin {
                detail: "The account linked to this login no longer exists".into(),
            }),
        }
    }
}

fn enabled(user: User) -> Result<User, AuthError> {
    if user.disabled {
        return Err(AuthError::ExternalLogin {
            detail: "This account is disabled".into(),
        });
    }
    Ok(user)
}
