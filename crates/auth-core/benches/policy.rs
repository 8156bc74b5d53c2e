//! `cargo bench -p auth-core --bench policy`
//!
//! A typical RBAC check (any of two roles; a permission through the contract's table) and
//! an ABAC decision (the tutorial's delete policy: admin, or author of an unpublished
//! article).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark aborts on a broken setup

use std::hint::black_box;

use auth_core::policy::articles::{Actor, Article, delete_policy};
use auth_core::policy::{Environment, Requirement, RolePermissions};
use criterion::{Criterion, criterion_group, criterion_main};

fn policy(c: &mut Criterion) {
    let table = RolePermissions::contract_default();
    let roles = vec!["editor".to_string()];
    let any = Requirement::any_role(["editor", "admin"]);
    let perm = Requirement::permission("write");
    let delete = delete_policy();
    let carol = Actor {
        id: 3,
        roles: vec!["viewer".into()],
    };
    let draft = Article {
        id: 3,
        title: "Draft Notes".into(),
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
