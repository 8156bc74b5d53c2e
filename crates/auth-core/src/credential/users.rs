//! Users: the account record and the async store the login flow reads.

use std::collections::HashMap;
use std::sync::RwLock;

use async_trait::async_trait;

use crate::error::StoreError;

/// An account as the login flow needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id (becomes the token's `sub`).
    pub id: String,
    /// Login name.
    pub username: String,
    /// Email, if known.
    pub email: Option<String>,
    /// Role names.
    pub roles: Vec<String>,
    /// argon2id PHC string. Never log it.
    pub password_hash: String,
    /// A disabled account cannot log in (same error as a wrong password).
    pub disabled: bool,
    /// The team's own data about the user (a tenant, a display name, …), as JSON;
    /// `Null` when none. The core never reads it: a team's hooks (`ExtraClaims`,
    /// `SessionData`) and handlers do. Stores keep it (the SQL store in `auth_users.data`).
    pub data: serde_json::Value,
}

/// Where users live. Implement it over your own database; [`MemoryUsers`] is the
/// in-memory implementation.
#[async_trait]
pub trait UserStore: Send + Sync + std::fmt::Debug {
    /// The user with this login name.
    async fn find_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// The user with this id.
    async fn find_by_id(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// Replaces the user's password hash (after a rehash or a password change).
    async fn update_password_hash(&self, id: &str, phc: &str) -> Result<(), StoreError>;
    /// The user with this email, compared case-insensitively (third-party login links
    /// accounts through it). The default refuses: a store that cannot look users up by
    /// email must not have third-party logins silently create duplicates.
    async fn find_by_email(&self, _email: &str) -> Result<Option<User>, StoreError> {
        Err(StoreError::new(
            "this user store cannot find users by email; implement UserStore::find_by_email",
        ))
    }
    /// Stores a new user, assigning an id when `user.id` is empty, and returns the
    /// stored record. When a user with the same email (case-insensitively) already
    /// exists, returns that one instead (two concurrent first logins make one account).
    /// The default refuses.
    async fn create_user(&self, _user: User) -> Result<User, StoreError> {
        Err(StoreError::new(
            "this user store cannot create users; implement UserStore::create_user",
        ))
    }
}

/// Users in process memory.
#[derive(Debug, Default)]
pub struct MemoryUsers {
    by_id: RwLock<HashMap<String, User>>,
}

impl MemoryUsers {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a user.
    pub fn insert(&self, user: User) {
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.id.clone(), user);
    }

    /// Test fixture only (never compiled into the library): three users shaped like the
    /// reference apps' demo data, with argon2id hashes at the default parameters.
    #[cfg(test)]
    pub(crate) fn demo() -> Self {
        const HASHES: [&str; 3] = [
            "$argon2id$v=19$m=19456,t=2,p=1$h5bA6wPj9u3W2bY9jgec1w$d3Cgs/eSVcisKsKxKxYg6UP9V1zvF8Lob3PXRzdEmTs",
            "$argon2id$v=19$m=19456,t=2,p=1$yRuy+ErkJIfQK/SgP7Curg$fPMNimv+9egtJht+FfjaZPWx4g7WZNNyHFWL2mc3g5E",
            "$argon2id$v=19$m=19456,t=2,p=1$G/wd/doD9QUZtDxkFaEMhA$dUZpfyyXDxOFzcDV+QpblhUA3hO4OdcrQR1HuN919kc",
        ];
        let store = Self::new();
        for (id, name, email, role, phc) in [
            ("1", "alice", "alice@example.com", "admin", HASHES[0]),
            ("2", "bob", "bob@example.com", "editor", HASHES[1]),
            ("3", "carol", "carol@example.com", "viewer", HASHES[2]),
        ] {
            store.insert(User {
                id: id.into(),
                username: name.into(),
                email: Some(email.into()),
                roles: vec![role.into()],
                password_hash: phc.into(),
                disabled: false,
                data: serde_json::Value::Null,
            });
        }
        store
    }
}

#[async_trait]
impl UserStore for MemoryUsers {
    async fn find_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        Ok(map.values().find(|u| u.username == username).cloned())
    }

    async fn find_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(id).cloned())
    }

    async fn update_password_hash(&self, id: &str, phc: &str) -> Result<(), StoreError> {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(id) {
            Some(u) => {
                u.password_hash = phc.to_string();
                Ok(())
            }
            None => Err(StoreError::new(format!("no user with id {id}"))),
        }
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        Ok(map
            .values()
            .find(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .cloned())
    }

    async fn create_user(&self, mut user: User) -> Result<User, StoreError> {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        if let Some(email) = &user.email
            && let Some(existing) = map.values().find(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
        {
            return Ok(existing.clone());
        }
        if user.id.is_empty() {
            let next = map
                .keys()
                .filter_map(|k| k.parse::<u64>().ok())
                .max()
                .unwrap_or(0)
                + 1;
            user.id = next.to_string();
        }
        if map.contains_key(&user.id) || map.values().any(|u| u.username == user.username) {
            return Err(StoreError::new("a user with this id or username exists"));
        }
        map.insert(user.id.clone(), user.clone());
        Ok(user)
    }
}
