//! Attribute-based access control: policies over subject, action, resource and
//! environment.
//!
//! ```
//! use auth_core::policy::{Environment, Policy, any_of, rule};
//!
//! struct User { id: u64, admin: bool }
//! struct Doc { owner: u64 }
//!
//! let edit = any_of(vec![
//!     rule("owner", |u: &User, _action: &str, d: &Doc, _env: &Environment| u.id == d.owner),
//!     rule("admin", |u: &User, _: &str, _: &Doc, _: &Environment| u.admin),
//! ]);
//! let env = Environment::default();
//! let d = edit.decide(&User { id: 2, admin: false }, "edit", &Doc { owner: 2 }, &env);
//! assert!(d.allowed);
//! assert_eq!(d.reason, "allowed by owner");
//! assert!(!edit.decide(&User { id: 3, admin: false }, "edit", &Doc { owner: 2 }, &env).allowed);
//! ```

use std::net::IpAddr;

/// What a decision may depend on besides subject, action and resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// Now, in Unix seconds (from the injected clock).
    pub now: u64,
    /// The client's address, when known.
    pub client: Option<IpAddr>,
}

/// A decision and the rule that made it (for logs, 403 details and the CLI simulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether access is allowed.
    pub allowed: bool,
    /// Which rule allowed or denied (`allowed by author`, `denied: no rule allowed`).
    pub reason: String,
}

impl Decision {
    /// Allowed by `rule`.
    pub fn allow(rule: &str) -> Self {
        Self {
            allowed: true,
            reason: format!("allowed by {rule}"),
        }
    }

    /// Denied because of `why`.
    pub fn deny(why: impl Into<String>) -> Self {
        Self {
            allowed: false,
            reason: format!("denied: {}", why.into()),
        }
    }

    /// `Ok` when allowed, else a 403 with `detail` (the sentence for the client; the
    /// reason is for logs and may name internal rules).
    pub fn require(self, detail: &'static str) -> Result<(), crate::AuthError> {
        if self.allowed {
            Ok(())
        } else {
            tracing::debug!(reason = %self.reason, "access denied by policy");
            Err(crate::AuthError::forbidden(detail))
        }
    }
}

/// A policy deciding whether subject `S` may perform an action on resource `R`.
pub trait Policy<S: ?Sized, R: ?Sized>: Send + Sync {
    /// The decision. Implementations deny unless a rule allows.
    fn decide(&self, subject: &S, action: &str, resource: &R, env: &Environment) -> Decision;
}

/// A named rule from a function or closure returning `true` to allow.
pub struct Rule<F> {
    name: &'static str,
    f: F,
}

impl<F> std::fmt::Debug for Rule<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule").field("name", &self.name).finish()
    }
}

/// A rule named `name` that allows when `f` returns `true`.
pub fn rule<S, R, F>(name: &'static str, f: F) -> Box<dyn Policy<S, R>>
where
    F: Fn(&S, &str, &R, &Environment) -> bool + Send + Sync + 'static,
    S: ?Sized + 'static,
    R: ?Sized + 'static,
{
    Box::new(Rule { name, f })
}

impl<S: ?Sized, R: ?Sized, F> Policy<S, R> for Rule<F>
where
    F: Fn(&S, &str, &R, &Environment) -> bool + Send + Sync,
{
    fn decide(&self, subject: &S, action: &str, resource: &R, env: &Environment) -> Decision {
        if (self.f)(subject, action, resource, env) {
            Decision::allow(self.name)
        } else {
            Decision::deny(format!("{} does not hold", self.name))
        }
    }
}

struct AllOf<S: ?Sized, R: ?Sized>(Vec<Box<dyn Policy<S, R>>>);
struct AnyOf<S: ?Sized, R: ?Sized>(Vec<Box<dyn Policy<S, R>>>);
struct Not<S: ?Sized, R: ?Sized>(Box<dyn Policy<S, R>>);

/// Allows when every policy allows; an empty list denies (deny by default).
pub fn all_of<S: ?Sized + 'static, R: ?Sized + 'static>(
    policies: Vec<Box<dyn Policy<S, R>>>,
) -> Box<dyn Policy<S, R>> {
    Box::new(AllOf(policies))
}

/// Allows when any policy allows; an empty list denies.
pub fn any_of<S: ?Sized + 'static, R: ?Sized + 'static>(
    policies: Vec<Box<dyn Policy<S, R>>>,
) -> Box<dyn Policy<S, R>> {
    Box::new(AnyOf(policies))
}

/// Allows exactly when `policy` denies.
pub fn not<S: ?Sized + 'static, R: ?Sized + 'static>(
    policy: Box<dyn Policy<S, R>>,
) -> Box<dyn Policy<S, R>> {
    Box::new(Not(policy))
}

impl<S: ?Sized, R: ?Sized> Policy<S, R> for AllOf<S, R> {
    fn decide(&self, s: &S, a: &str, r: &R, e: &Environment) -> Decision {
        if self.0.is_empty() {
            return Decision::deny("no rule (empty all_of)");
        }
        let mut reasons = Vec::with_capacity(self.0.len());
        for p in &self.0 {
            let d = p.decide(s, a, r, e);
            if !d.allowed {
                return d;
            }
            reasons.push(d.reason.trim_start_matches("allowed by ").to_string());
        }
        Decision {
            allowed: true,
            reason: format!("allowed by all of [{}]", reasons.join(", ")),
        }
    }
}

impl<S: ?Sized, R: ?Sized> Policy<S, R> for AnyOf<S, R> {
    fn decide(&self, s: &S, a: &str, r: &R, e: &Environment) -> Decision {
        let mut denials = Vec::with_capacity(self.0.len());
        for p in &self.0 {
            let d = p.decide(s, a, r, e);
            if d.allowed {
                return d;
            }
            denials.push(d.reason.trim_start_matches("denied: ").to_string());
        }
        if denials.is_empty() {
            Decision::deny("no rule (empty any_of)")
        } else {
            Decision::deny(format!("none of [{}]", denials.join("; ")))
        }
    }
}

impl<S: ?Sized, R: ?Sized> Policy<S, R> for Not<S, R> {
    fn decide(&self, s: &S, a: &str, r: &R, e: &Environment) -> Decision {
        let d = self.0.decide(s, a, r, e);
        if d.allowed {
            Decision::deny(format!("not ({})", d.reason))
        } else {
            Decision {
                allowed: true,
                reason: format!("allowed by not ({})", d.reason),
            }
        }
    }
}
