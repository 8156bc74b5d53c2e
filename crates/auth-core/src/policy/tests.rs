use proptest::prelude::*;

use super::articles::{Actor, Article, delete_policy, edit_policy, policy_for};
use super::*;

fn roles(r: &[&str]) -> Vec<String> {
    r.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_contract_table_grants_its_permissions() {
    let t = RolePermissions::contract_default();
    let p = |r: &[&str]| t.permissions_of(&roles(r)).into_iter().collect::<Vec<_>>();
    assert_eq!(p(&["admin"]), ["delete", "manage_users", "read", "write"]);
    assert_eq!(p(&["editor"]), ["read", "write"]);
    assert_eq!(p(&["viewer"]), ["read"]);
    assert!(p(&["nobody"]).is_empty());
    assert!(t.has_permission(&["editor"], "write"));
    assert!(!t.has_permission(&["viewer"], "write"));
}

#[test]
fn any_all_and_permission_checks() {
    let t = RolePermissions::contract_default();
    let any = Requirement::any_role(["editor", "admin"]);
    assert!(any.check_roles(&["admin"], &t).is_ok());
    assert!(any.check_roles(&["editor"], &t).is_ok());
    let err = any.check_roles(&["viewer"], &t).unwrap_err();
    let res = err.to_response();
    assert_eq!(res.status, 403);
    assert!(
        res.body.contains("Required roles: [editor, admin]"),
        "{}",
        res.body
    );

    let all = Requirement::all_roles(["editor", "viewer"]);
    assert!(all.check_roles(&["editor", "viewer"], &t).is_ok());
    assert!(all.check_roles(&["editor"], &t).is_err());
    assert!(
        Requirement::all_roles(Vec::<&str>::new())
            .check_roles(&["admin"], &t)
            .is_err(),
        "empty denies"
    );

    let perm = Requirement::permission("manage_users");
    assert!(perm.check_roles(&["admin"], &t).is_ok());
    let e = perm.check_roles(&["editor"], &t).unwrap_err().to_response();
    assert!(e.body.contains("Required permission: manage_users"));
    let no_roles: [&str; 0] = [];
    assert!(
        Requirement::permission("read")
            .check_roles(&no_roles, &t)
            .is_err()
    );
}

#[test]
fn requirements_can_be_hidden() {
    let t = RolePermissions::contract_default();
    let e = Requirement::any_role(["admin"])
        .check(&["viewer"], &t, Disclosure::Hide)
        .unwrap_err()
        .to_response();
    assert_eq!(e.status, 403);
    assert!(!e.body.contains("admin"), "{}", e.body);
    assert!(e.body.contains("You do not have permission"));
}

#[test]
fn inheritance_grants_parent_permissions_and_roles_and_survives_cycles() {
    let t = RolePermissions::new()
        .grant("viewer", ["read"])
        .grant("editor", ["write"])
        .grant("admin", ["delete"])
        .inherit("editor", "viewer")
        .inherit("admin", "editor")
        .inherit("viewer", "admin"); // a cycle: harmless
    assert!(t.has_permission(&["admin"], "read"));
    assert!(t.has_permission(&["editor"], "read"));
    assert!(t.has_role(&["admin"], "viewer"));
    assert!(
        Requirement::any_role(["viewer"])
            .check_roles(&["admin"], &t)
            .is_ok()
    );
    let all: Vec<String> = t.permissions_of(&["editor"]).into_iter().collect();
    assert_eq!(
        all,
        ["delete", "read", "write"],
        "through the cycle, each once"
    );
}

#[test]
fn roles_may_be_the_users_own_enum() {
    #[derive(Clone, Copy)]
    enum AppRole {
        Admin,
        Editor,
    }
    impl Role for AppRole {
        fn as_role(&self) -> &str {
            match self {
                AppRole::Admin => "admin",
                AppRole::Editor => "editor",
            }
        }
    }
    let t = RolePermissions::contract_default().grant(AppRole::Editor, ["publish"]);
    assert!(t.has_permission(&[AppRole::Editor], "publish"));
    assert!(
        Requirement::any_role([AppRole::Admin])
            .check_roles(&[AppRole::Admin], &t)
            .is_ok()
    );
    assert!(
        Requirement::any_role([AppRole::Admin])
            .check_roles(&[AppRole::Editor], &t)
            .is_err()
    );
}

#[test]
fn scopes_must_all_be_granted() {
    assert!(require_scopes(Some("read write"), &["read"]).is_ok());
    assert!(require_scopes(Some("read write"), &["read", "write"]).is_ok());
    let e = require_scopes(Some("read"), &["read", "write"])
        .unwrap_err()
        .to_response();
    assert_eq!(e.status, 403);
    assert_eq!(
        e.header("www-authenticate"),
        Some(
            "Bearer error=\"insufficient_scope\", error_description=\"The token lacks a required scope\", scope=\"read write\""
        )
    );
    assert!(require_scopes(None, &["read"]).is_err());
    assert!(
        require_scopes(Some("readwrite"), &["read"]).is_err(),
        "whole tokens only"
    );
}

fn actor(id: u64, role: &str) -> Actor {
    Actor {
        id,
        roles: roles(&[role]),
    }
}

fn article(id: u64, author_id: u64, published: bool) -> Article {
    Article {
        id,
        title: String::new(),
        author_id,
        published,
    }
}

#[test]
fn the_tutorial_policy_table_row_by_row() {
    let env = Environment::default();
    let (alice, bob, carol) = (actor(1, "admin"), actor(2, "editor"), actor(3, "viewer"));
    let (hello, rocks, draft) = (
        article(1, 1, false),
        article(2, 2, true),
        article(3, 3, false),
    );
    let edit = edit_policy();
    let delete = delete_policy();
    // (who, article, may edit, may delete)
    let table = [
        (&alice, &hello, true, true),
        (&alice, &rocks, true, true),
        (&alice, &draft, true, true),
        (&bob, &hello, false, false),
        (&bob, &rocks, true, false), // his own, but published
        (&bob, &draft, false, false),
        (&carol, &hello, false, false),
        (&carol, &rocks, false, false),
        (&carol, &draft, true, true), // her own, unpublished
    ];
    for (who, what, may_edit, may_delete) in table {
        assert_eq!(
            edit.decide(who, "edit", what, &env).allowed,
            may_edit,
            "edit: user {} article {}",
            who.id,
            what.id
        );
        assert_eq!(
            delete.decide(who, "delete", what, &env).allowed,
            may_delete,
            "delete: user {} article {}",
            who.id,
            what.id
        );
    }
}

#[test]
fn decisions_say_which_rule_decided() {
    let env = Environment::default();
    let d = delete_policy().decide(&actor(3, "viewer"), "delete", &article(3, 3, false), &env);
    assert_eq!(d.reason, "allowed by all of [author, unpublished]");
    let d = delete_policy().decide(&actor(2, "editor"), "delete", &article(2, 2, true), &env);
    assert!(!d.allowed);
    assert_eq!(
        d.reason,
        "denied: none of [admin does not hold; unpublished does not hold]"
    );
    let d = edit_policy().decide(&actor(1, "admin"), "edit", &article(2, 2, true), &env);
    assert_eq!(d.reason, "allowed by admin");
    let e = d.clone().require("Cannot edit this article");
    assert!(e.is_ok());
    let denied =
        policy_for("delete").decide(&actor(2, "editor"), "delete", &article(2, 2, true), &env);
    let res = denied
        .require("Cannot delete this article")
        .unwrap_err()
        .to_response();
    assert_eq!(res.status, 403);
    assert!(res.body.contains("Cannot delete this article"));
    assert!(
        !policy_for("publish")
            .decide(&actor(1, "admin"), "publish", &article(1, 1, false), &env)
            .allowed,
        "unknown actions are denied"
    );
}

#[test]
fn policies_may_use_the_environment() {
    let office_hours = rule(
        "office hours",
        |_: &Actor, _: &str, _: &Article, env: &Environment| {
            (9 * 3600..17 * 3600).contains(&(env.now % 86_400))
        },
    );
    let at = |secs: u64| Environment {
        now: secs,
        client: None,
    };
    assert!(
        office_hours
            .decide(
                &actor(1, "admin"),
                "edit",
                &article(1, 1, false),
                &at(10 * 3600)
            )
            .allowed
    );
    assert!(
        !office_hours
            .decide(
                &actor(1, "admin"),
                "edit",
                &article(1, 1, false),
                &at(20 * 3600)
            )
            .allowed
    );
}

fn constant(b: bool) -> Box<dyn Policy<(), ()>> {
    rule(
        if b { "yes" } else { "no" },
        move |_: &(), _: &str, _: &(), _: &Environment| b,
    )
}

fn eval(p: &dyn Policy<(), ()>) -> bool {
    p.decide(&(), "act", &(), &Environment::default()).allowed
}

#[test]
fn empty_combinators_deny() {
    assert!(!eval(&*all_of::<(), ()>(Vec::new())));
    assert!(!eval(&*any_of::<(), ()>(Vec::new())));
}

proptest! {
    #[test]
    fn any_of_is_or_and_all_of_is_and(bits in proptest::collection::vec(any::<bool>(), 1..8)) {
        let any = any_of(bits.iter().map(|b| constant(*b)).collect());
        let all = all_of(bits.iter().map(|b| constant(*b)).collect());
        prop_assert_eq!(eval(&*any), bits.iter().any(|b| *b));
        prop_assert_eq!(eval(&*all), bits.iter().all(|b| *b));
    }

    #[test]
    fn deny_by_default_only_an_allowing_rule_allows(bits in proptest::collection::vec(Just(false), 0..8)) {
        prop_assert!(!eval(&*any_of(bits.iter().map(|b| constant(*b)).collect())));
        prop_assert!(!eval(&*all_of(bits.iter().map(|b| constant(*b)).collect())));
    }

    #[test]
    fn double_negation_and_singletons_are_identity(b in any::<bool>()) {
        prop_assert_eq!(eval(&*not(not(constant(b)))), b);
        prop_assert_eq!(eval(&*all_of(vec![constant(b)])), b);
        prop_assert_eq!(eval(&*any_of(vec![constant(b)])), b);
        prop_assert_eq!(eval(&*not(constant(b))), !b);
    }

    #[test]
    fn de_morgan(a in any::<bool>(), b in any::<bool>()) {
        let lhs = not(all_of(vec![constant(a), constant(b)]));
        let rhs = any_of(vec![not(constant(a)), not(constant(b))]);
        prop_assert_eq!(eval(&*lhs), eval(&*rhs));
        let lhs = not(any_of(vec![constant(a), constant(b)]));
        let rhs = all_of(vec![not(constant(a)), not(constant(b))]);
        prop_assert_eq!(eval(&*lhs), eval(&*rhs));
    }

    #[test]
    fn order_does_not_change_the_outcome(mut bits in proptest::collection::vec(any::<bool>(), 1..8)) {
        let before = (eval(&*any_of(bits.iter().map(|b| constant(*b)).collect())), eval(&*all_of(bits.iter().map(|b| constant(*b)).collect())));
        bits.reverse();
        let after = (eval(&*any_of(bits.iter().map(|b| constant(*b)).collect())), eval(&*all_of(bits.iter().map(|b| constant(*b)).collect())));
        prop_assert_eq!(before, after);
    }

    #[test]
    fn rbac_denies_roles_outside_the_table(role in "[a-z]{1,12}", perm in "[a-z_]{1,12}") {
        let t = RolePermissions::contract_default();
        prop_assume!(!["admin", "editor", "viewer"].contains(&role.as_str()));
        prop_assert!(!t.has_permission(&[role.as_str()], &perm));
        prop_assert!(Requirement::permission(perm).check_roles(&[role.as_str()], &t).is_err());
    }
}

/// `Auth::authorize` decides on the injected clock (the adapters no longer read the
/// system clock): a time-bound policy follows a `ManualClock`.
#[test]
fn auth_authorize_decides_on_the_injected_clock() {
    use crate::policy::abac::{Decision, Environment, Policy};
    struct OpenUntil(u64);
    impl Policy<str, str> for OpenUntil {
        fn decide(&self, _: &str, _: &str, _: &str, env: &Environment) -> Decision {
            if env.now < self.0 {
                Decision::allow("before the deadline")
            } else {
                Decision::deny("after the deadline")
            }
        }
    }
    let clock = std::sync::Arc::new(crate::clock::ManualClock::at_unix(1_000));
    let auth = crate::AuthBuilder::new(&[1; 32], &[2; 32])
        .users(std::sync::Arc::new(crate::credential::MemoryUsers::new()))
        .clock(clock.clone())
        .build()
        .unwrap();
    let policy = OpenUntil(1_010);
    assert!(
        auth.authorize(&policy, "u", "read", "doc", "Closed")
            .is_ok()
    );
    clock.advance(std::time::Duration::from_secs(10));
    let err = auth
        .authorize(&policy, "u", "read", "doc", "Closed")
        .unwrap_err();
    assert_eq!(err.to_response().status, 403);
}
