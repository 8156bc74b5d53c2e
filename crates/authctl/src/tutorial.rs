//! The tutorial's article policies, built into `authctl` as an *example* for
//! `authctl policy check --policy articles`: a way to try the simulator, not your service's
//! policy (ABAC policies are Rust code in your service; authctl cannot read them). The
//! library ships no demo data (issue #22); the reference apps' copy is
//! `reference_common::articles`, which this binary must not depend on.
//!
//! - edit (or update): the author, or an admin;
//! - delete: an admin, or the author of an unpublished article;
//! - any other action: denied.

use auth_core::policy::{Environment, Policy, all_of, any_of, rule};
use serde::Deserialize;

/// Who is acting: `{"id": 2, "roles": ["editor"]}`.
#[derive(Debug, Deserialize)]
pub struct Actor {
    /// The user id.
    pub id: u64,
    /// The user's roles.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// An article: `{"id": 1, "author_id": 2, "published": false}`.
#[derive(Debug, Deserialize)]
pub struct Article {
    /// The author's user id.
    pub author_id: u64,
    /// Whether it is published.
    #[serde(default)]
    pub published: bool,
}

fn is_admin() -> Box<dyn Policy<Actor, Article>> {
    rule(
        "admin",
        |a: &Actor, _: &str, _: &Article, _: &Environment| a.roles.iter().any(|r| r == "admin"),
    )
}

fn is_author() -> Box<dyn Policy<Actor, Article>> {
    rule(
        "author",
        |a: &Actor, _: &str, r: &Article, _: &Environment| a.id == r.author_id,
    )
}

/// The example policy for `action`.
pub fn policy_for(action: &str) -> Box<dyn Policy<Actor, Article>> {
    match action {
        "edit" | "update" => any_of(vec![is_author(), is_admin()]),
        "delete" => any_of(vec![
            is_admin(),
            all_of(vec![
                is_author(),
                rule(
                    "unpublished",
                    |_: &Actor, _: &str, r: &Article, _: &Environment| !r.published,
                ),
            ]),
        ]),
        _ => any_of(Vec::new()),
    }
}
