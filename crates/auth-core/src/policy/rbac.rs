//! Role-based access control.

use std::collections::{BTreeSet, HashMap};

use crate::error::AuthError;

/// Something that names a role: `&str`, `String`, or your own enum (as the tutorial's
/// `class Role(str, Enum)`).
///
/// ```
/// use auth_core::policy::{Requirement, Role};
///
/// #[derive(Clone, Copy)]
/// enum AppRole { Admin, Editor }
/// impl Role for AppRole {
///     fn as_role(&self) -> &str {
///         match self { AppRole::Admin => "admin", AppRole::Editor => "editor" }
///     }
/// }
///
/// let need = Requirement::any_role([AppRole::Editor, AppRole::Admin]);
/// assert!(need.check_roles(&["editor".to_string()], &Default::default()).is_ok());
/// ```
pub trait Role {
    /// The role's name as tokens and users carry it.
    fn as_role(&self) -> &str;
}

impl Role for &str {
    fn as_role(&self) -> &str {
        self
    }
}

impl Role for String {
    fn as_role(&self) -> &str {
        self
    }
}

impl Role for &String {
    fn as_role(&self) -> &str {
        self
    }
}

/// Which permissions each role grants, and which roles include which.
///
/// The library ships no table: [`RolePermissions::new`] (also the
/// [`AuthBuilder`](crate::AuthBuilder)'s default) is empty, so no role grants any
/// permission until you build your own table and hand it to
/// [`AuthBuilder::roles`](crate::AuthBuilder::roles). Role requirements
/// ([`Requirement::any_role`], [`Requirement::all_roles`]) need no table: a caller holds
/// the roles its token or session carries (inheritance, when declared, adds more).
///
/// ```
/// use auth_core::policy::{Requirement, RolePermissions};
///
/// let table = RolePermissions::new()
///     .grant("viewer", ["read"])
///     .grant("editor", ["write"])
///     .inherit("editor", "viewer");
/// assert!(table.has_permission(&["editor"], "read"));
/// assert!(!table.has_permission(&["viewer"], "write"));
/// // The empty table grants nothing.
/// assert!(Requirement::permission("read").check_roles(&["editor"], &RolePermissions::new()).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RolePermissions {
    grants: HashMap<String, BTreeSet<String>>,
    inherits: HashMap<String, Vec<String>>,
}

impl RolePermissions {
    /// An empty table: no role grants any permission.
    pub fn new() -> Self {
        Self::default()
    }

    /// Grants `permissions` to `role`.
    pub fn grant<I, S>(mut self, role: impl Role, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.grants
            .entry(role.as_role().to_string())
            .or_default()
            .extend(permissions.into_iter().map(Into::into));
        self
    }

    /// `role` also has every permission of `parent` (and of its parents). Cycles are
    /// harmless: each role is visited once.
    pub fn inherit(mut self, role: impl Role, parent: impl Role) -> Self {
        self.inherits
            .entry(role.as_role().to_string())
            .or_default()
            .push(parent.as_role().to_string());
        self
    }

    /// Every permission the given roles grant, inheritance included.
    pub fn permissions_of<R: Role>(&self, roles: &[R]) -> BTreeSet<String> {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut stack: Vec<&str> = roles.iter().map(Role::as_role).collect();
        let mut out = BTreeSet::new();
        while let Some(role) = stack.pop() {
            if !seen.insert(role) {
                continue;
            }
            if let Some(p) = self.grants.get(role) {
                out.extend(p.iter().cloned());
            }
            if let Some(parents) = self.inherits.get(role) {
                stack.extend(parents.iter().map(String::as_str));
            }
        }
        out
    }

    /// Whether the roles grant `permission`.
    pub fn has_permission<R: Role>(&self, roles: &[R], permission: &str) -> bool {
        // Walk without allocating the whole set: stop at the first grant.
        let mut seen: Vec<&str> = Vec::new();
        let mut stack: Vec<&str> = roles.iter().map(Role::as_role).collect();
        while let Some(role) = stack.pop() {
            if seen.contains(&role) {
                continue;
            }
            seen.push(role);
            if self
                .grants
                .get(role)
                .is_some_and(|p| p.contains(permission))
            {
                return true;
            }
            if let Some(parents) = self.inherits.get(role) {
                stack.extend(parents.iter().map(String::as_str));
            }
        }
        false
    }

    /// Whether the roles include `role`, directly or by inheritance.
    pub fn has_role<R: Role>(&self, roles: &[R], role: &str) -> bool {
        let mut seen: Vec<&str> = Vec::new();
        let mut stack: Vec<&str> = roles.iter().map(Role::as_role).collect();
        while let Some(r) = stack.pop() {
            if r == role {
                return true;
            }
            if seen.contains(&r) {
                continue;
            }
            seen.push(r);
            if let Some(parents) = self.inherits.get(r) {
                stack.extend(parents.iter().map(String::as_str));
            }
        }
        false
    }
}

/// Whether a 403 says what was required.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Disclosure {
    /// `Required roles: [editor, admin]` (the tutorial's behaviour; the default).
    #[default]
    Name,
    /// Only `You do not have permission to perform this action`.
    Hide,
}

const HIDDEN: &str = "You do not have permission to perform this action";

/// What a route requires of its caller's roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// At least one of these roles.
    AnyRole(Vec<String>),
    /// Every one of these roles.
    AllRoles(Vec<String>),
    /// This permission, through any role.
    Permission(String),
}

impl Requirement {
    /// At least one of `roles`.
    pub fn any_role<R: Role>(roles: impl IntoIterator<Item = R>) -> Self {
        Self::AnyRole(roles.into_iter().map(|r| r.as_role().to_string()).collect())
    }

    /// All of `roles`.
    pub fn all_roles<R: Role>(roles: impl IntoIterator<Item = R>) -> Self {
        Self::AllRoles(roles.into_iter().map(|r| r.as_role().to_string()).collect())
    }

    /// The permission `permission`.
    pub fn permission(permission: impl Into<String>) -> Self {
        Self::Permission(permission.into())
    }

    /// Checks the caller's `roles` against the table (inheritance counts), naming what was
    /// required in the 403.
    pub fn check_roles<R: Role>(
        &self,
        roles: &[R],
        table: &RolePermissions,
    ) -> Result<(), AuthError> {
        self.check(roles, table, Disclosure::Name)
    }

    /// As [`Requirement::check_roles`], with the chosen [`Disclosure`].
    pub fn check<R: Role>(
        &self,
        roles: &[R],
        table: &RolePermissions,
        disclosure: Disclosure,
    ) -> Result<(), AuthError> {
        let ok = match self {
            Self::AnyRole(need) => need.iter().any(|n| table.has_role(roles, n)),
            Self::AllRoles(need) => {
                !need.is_empty() && need.iter().all(|n| table.has_role(roles, n))
            }
            Self::Permission(p) => table.has_permission(roles, p),
        };
        if ok {
            return Ok(());
        }
        Err(AuthError::forbidden(match disclosure {
            Disclosure::Hide => HIDDEN.to_string(),
            Disclosure::Name => self.describe(),
        }))
    }

    /// `Required roles: [editor, admin]`, `Required permission: write`, ...
    pub fn describe(&self) -> String {
        match self {
            Self::AnyRole(r) => format!("Required roles: [{}]", r.join(", ")),
            Self::AllRoles(r) => format!("Required roles (all of): [{}]", r.join(", ")),
            Self::Permission(p) => format!("Required permission: {p}"),
        }
    }
}
