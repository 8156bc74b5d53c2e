//! The reference apps' role table (the contract's roles). It lived in auth-core as
//! `RolePermissions::contract_default()` before issue #22: the library ships no roles, and
//! an `AuthBuilder` without `.roles(..)` grants no permission.

use auth_core::policy::RolePermissions;

/// The contract's table: admin: read, write, delete, manage_users; editor: read, write;
/// viewer: read. [`build`](crate::build) hands it to `AuthBuilder::roles`.
///
/// ```
/// let roles = reference_common::roles::contract_roles();
/// assert!(roles.has_permission(&["admin"], "manage_users"));
/// assert!(roles.has_permission(&["editor"], "write"));
/// assert!(!roles.has_permission(&["viewer"], "write"));
/// ```
pub fn contract_roles() -> RolePermissions {
    RolePermissions::new()
        .grant("admin", ["read", "write", "delete", "manage_users"])
        .grant("editor", ["read", "write"])
        .grant("viewer", ["read"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_table_grants_its_permissions() {
        let t = contract_roles();
        let p = |r: &str| t.permissions_of(&[r]).into_iter().collect::<Vec<_>>();
        assert_eq!(p("admin"), ["delete", "manage_users", "read", "write"]);
        assert_eq!(p("editor"), ["read", "write"]);
        assert_eq!(p("viewer"), ["read"]);
        assert!(p("nobody").is_empty());
    }
}
