//! Everything a caller presents to prove who it is: passwords, API keys, and the login
//! flow with its throttling.

mod apikey;
mod login;
mod password;
mod throttle;
mod users;

pub use apikey::{
    ApiKeyConfig, ApiKeyRecord, ApiKeyStore, ApiKeys, KeyDigest, KeySource, MemoryApiKeys,
    NewApiKey, digest, display_prefix,
};
pub use login::{Authenticator, MAX_USERNAME_BYTES, PasswordLogin};
pub use password::{MAX_PASSWORD_BYTES, PasswordError, PasswordParams, Passwords, Verified};
pub use throttle::{Attempt, LoginThrottle, ThrottleConfig};
pub use users::{MemoryUsers, User, UserStore};

#[cfg(test)]
mod tests;
