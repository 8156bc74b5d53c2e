//! `cargo bench -p auth-core --bench policy`
//!
//! A typical RBAC check (any of two roles; a permission through a small role table of the
//! bench's own) and an ABAC decision (the bench's own delete policy: an admin, or the
//! author of an unpublished article). The library ships neither.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark aborts on a broken setup

use std::hint::black_box;

use auth_core::policy::{Environment, Policy, Requirement, RolePermissions, all_of, any_of, rule};
use criterion::{Criterion, criterion_group, criterion_main};

struct Actor {
    id: u64,
    roles: Vec<String>,
}

struct Article {
    author_id: u64,
    published: bool,
}

/// Delete: an admin, or the author of an unpublished article.
fn delete_policy() -> Box<dyn Policy<Actor, Article>> {
    any_of(vec![
        rule(
            "admin",
            |a: &Actor, _: &str, _: &Article, _: &Environment| a.roles.iter().any(|r| r == "admin"),
        ),
        all_of(vec![
            rule(
                "author",
                |a: &Actor, _: &str, r: &Article, _: &Environment| a.id == r.author_id,
            ),
            rule(
                "unpublished",
                |_: &Actor, _: &str, r: &Article, _: &Environment| !r.published,
            ),
        ]),
    ])
}

fn policy(c: &mut Criterion) {
    let table = RolePermissions::new()
        .grant("admin", ["read", "write", "delete", "manage_users"])
        .grant("editor", ["read", "write"])
        .grant("viewer", ["read"]);
    let roles = vec!["editor".to_string()];
    let any = Requirement::any_role(["editor", "admin"]);
    let perm = Requirement::permission("write");
    let delete = delete_policy();
    let carol = Actor {
        id: 3,
        roles: vec!["viewer".into()],
    };
    let draft = Article {
        author_id: 3,
        published: false,
    };
    let env = Environment::default();

    let mut g = c.benchmark_group("policy");
    g.bench_function("rbac_any_role", |b| {
        b.iter(|| any.check_roles(black_box(&roles), &table))
    });
    g.bench_function("rbac_permission", |b| {
        b.iter(|| perm.check_roles(black_box(&roles), &table))
    });
    g.bench_function("abac_delete_decision", |b| {
        b.iter(|| delete.decide(black_box(&carol), "delete", black_box(&draft), &env))
    });
    g.finish();
}

criterion_group!(benches, policy);
criterion_main!(benches);
