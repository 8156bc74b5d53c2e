use proptest::prelude::*;

use super::*;

fn roles(r: &[&str]) -> Vec<String> {
    r.iter().map(|s| s.to_string()).collect()
}

/// This file's own role table (the library ships none).
fn table() -> RolePermissions {
    RolePermissions::new()
        .grant("admin", ["read", "write", "delete", "manage_users"])
        .grant("editor", ["read", "write"])
        .grant("viewer", ["read"])
}

#[test]
fn the_empty_table_grants_nothing() {
    let t = RolePermissions::new();
    assert!(t.permissions_of(&["admin"]).is_empty());
    assert!(!t.has_permission(&["admin"], "read"));
    assert!(
        Requirement::permission("read")
            .check_roles(&["admin"], &t)
            .is_err()
    );
    // Role requirements need no table: a caller holds its own roles.
    assert!(
        Requirement::any_role(["admin"])
            .check_roles(&["admin"], &t)
            .is_ok()
    );
}

#[test]
fn a_table_grants_its_permissions() {
    let t = table();
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
    let t = table();
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
    let t = table();
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
    let t = table().grant(AppRole::Editor, ["publish"]);
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

/// This file's own ABAC example (the library ships none): documents with an owner and a
/// lock; a reviewer or the owner reads, the owner edits while unlocked.
#[derive(Debug)]
struct User {
    id: u64,
    reviewer: bool,
}

#[derive(Debug)]
struct Doc {
    owner: u64,
    locked: bool,
}

fn user(id: u64, reviewer: bool) -> User {
    User { id, reviewer }
}

fn doc(owner: u64, locked: bool) -> Doc {
    Doc { owner, locked }
}

fn is_reviewer() -> Box<dyn Policy<User, Doc>> {
    rule("reviewer", |u: &User, _: &str, _: &Doc, _: &Environment| {
        u.reviewer
    })
}

fn is_owner() -> Box<dyn Policy<User, Doc>> {
    rule("owner", |u: &User, _: &str, d: &Doc, _: &Environment| {
        u.id == d.owner
    })
}

/// Read: a reviewer or the owner.
fn read_policy() -> Box<dyn Policy<User, Doc>> {
    any_of(vec![is_reviewer(), is_owner()])
}

/// Edit: the owner, while the document is not locked.
fn edit_policy() -> Box<dyn Policy<User, Doc>> {
    all_of(vec![
        is_owner(),
        not(rule(
            "locked",
            |_: &User, _: &str, d: &Doc, _: &Environment| d.locked,
        )),
    ])
}

fn policy_for(action: &str) -> Box<dyn Policy<User, Doc>> {
    match action {
        "read" => read_policy(),
        "edit" => edit_policy(),
        _ => any_of(Vec::new()),
    }
}

#[test]
fn a_policy_table_row_by_row() {
    let env = Environment::default();
    let (rita, olaf, nina) = (user(1, true), user(2, false), user(3, false));
    let (olafs_open, olafs_locked) = (doc(2, false), doc(2, true));
    let (read, edit) = (read_policy(), edit_policy());
    // (who, document, may read, may edit)
    let rows = [
        (&rita, &olafs_open, true, false),
        (&rita, &olafs_locked, true, false),
        (&olaf, &olafs_open, true, true),
        (&olaf, &olafs_locked, true, false), // his own, but locked
        (&nina, &olafs_open, false, false),
        (&nina, &olafs_locked, false, false),
    ];
    for (who, what, may_read, may_edit) in rows {
        assert_eq!(
            read.decide(who, "read", what, &env).allowed,
            may_read,
            "read: user {} {what:?}",
            who.id
        );
        assert_eq!(
            edit.decide(who, "edit", what, &env).allowed,
            may_edit,
            "edit: user {} {what:?}",
            who.id
        );
    }
}

#[test]
fn decisions_say_which_rule_decided() {
    let env = Environment::default();
    let d = edit_policy().decide(&user(2, false), "edit", &doc(2, false), &env);
    assert!(d.allowed);
    assert_eq!(
        d.reason,
        "allowed by all of [owner, not (denied: locked does not hold)]"
    );
    let d = read_policy().decide(&user(3, false), "read", &doc(2, false), &env);
    assert!(!d.allowed);
    assert_eq!(
        d.reason,
        "denied: none of [reviewer does not hold; owner does not hold]"
    );
    let d = read_policy().decide(&user(1, true), "read", &doc(2, true), &env);
    assert_eq!(d.reason, "allowed by reviewer");
    assert!(d.clone().require("Cannot read this document").is_ok());
    let denied = policy_for("edit").decide(&user(2, false), "edit", &doc(2, true), &env);
    assert!(!denied.allowed, "{denied:?}");
    let res = denied
        .require("Cannot edit this document")
        .unwrap_err()
        .to_response();
    assert_eq!(res.status, 403);
    assert!(res.body.contains("Cannot edit this document"));
    assert!(
        !policy_for("delete")
            .decide(&user(1, true), "delete", &doc(1, false), &env)
            .allowed,
        "unknown actions are denied"
    );
}

#[test]
fn policies_may_use_the_environment() {
    let office_hours = rule(
        "office hours",
        |_: &User, _: &str, _: &Doc, env: &Environment| {
            (9 * 3600..17 * 3600).contains(&(env.now % 86_400))
        },
    );
    let at = |secs: u64| Environment {
        now: secs,
        client: None,
    };
    assert!(
        office_hours
            .decide(&user(1, false), "edit", &doc(1, false), &at(10 * 3600))
            .allowed
    );
    assert!(
        !office_hours
            .decide(&user(1, false), "edit", &doc(1, false), &at(20 * 3600))
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
        let t = table();
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

/// The builder ships no role table: without `.roles(..)` no role grants a permission;
/// the team's table, handed to `.roles(..)`, decides.
#[test]
fn the_builders_role_table_is_empty_until_one_is_given() {
    use crate::token::{Claims, NoExtra, TokenType};
    let admin = crate::Principal::Bearer(std::sync::Arc::new(Claims {
        sub: "1".into(),
        exp: u64::MAX,
        iat: 0,
        nbf: 0,
        jti: "j".into(),
        iss: None,
        aud: None,
        sid: "s".into(),
        token_type: TokenType::Access,
        email: None,
        roles: roles(&["admin"]),
        scope: None,
        amr: vec![],
        extra: NoExtra {},
    }));
    let build = |b: crate::AuthBuilder| {
        b.users(std::sync::Arc::new(crate::credential::MemoryUsers::new()))
            .build()
            .unwrap()
    };
    let bare = build(crate::AuthBuilder::new(&[1; 32], &[2; 32]));
    let err = bare
        .require(&admin, &Requirement::permission("read"))
        .unwrap_err();
    assert_eq!(err.to_response().status, 403);
    assert!(
        bare.require(&admin, &Requirement::any_role(["admin"]))
            .is_ok(),
        "role requirements need no table"
    );
    let configured = build(crate::AuthBuilder::new(&[1; 32], &[2; 32]).roles(table()));
    assert!(
        configured
            .require(&admin, &Requirement::permission("read"))
            .is_ok()
    );
    assert!(
        configured
            .require(&admin, &Requirement::permission("publish"))
            .is_err()
    );
}
