//! Authorization: "what may this caller do?"
//!
//! - [`rbac`]: a role → permission table with optional inheritance, and the checks the
//!   adapters' guards run (any of these roles, all of these roles, this permission).
//! - [`require_scopes`]: OAuth scopes from the token's `scope` claim (RFC 6750 §3.1).
//! - [`abac`]: policies over subject, action, resource and environment, written as plain
//!   functions or closures, combined with `all_of`, `any_of` and `not`, denying by
//!   default, and saying which rule decided.
//!
//! Every refusal is an [`AuthError`]: 403 with a detail that names
//! what was required (unless [`Disclosure::Hide`] is chosen).

pub mod abac;
pub mod rbac;

pub use abac::{Decision, Environment, Policy, all_of, any_of, not, rule};
pub use rbac::{Disclosure, Requirement, Role, RolePermissions};

use crate::error::AuthError;

/// Requires every scope in `required` to be granted (`granted` is the token's
/// space-separated `scope` claim). Failure: 403 with
/// `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`.
pub fn require_scopes(granted: Option<&str>, required: &[&str]) -> Result<(), AuthError> {
    let have: Vec<&str> = granted
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if required.iter().all(|r| have.contains(r)) {
        Ok(())
    } else {
        Err(AuthError::InsufficientScope {
            scope: required.join(" "),
        })
    }
}

#[cfg(test)]
mod tests;
