//! The tutorial's two article policies, shipped as examples and used by the reference
//! apps and `authctl policy check`:
//!
//! - edit: the author, or an admin;
//! - delete: an admin, or the author of an unpublished article.

use serde::{Deserialize, Serialize};

use super::abac::{Environment, Policy, all_of, any_of, rule};

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The user id.
    pub id: u64,
    /// The user's roles.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// An article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// The article id.
    pub id: u64,
    /// The title.
    #[serde(default)]
    pub title: String,
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

/// Edit: the author, or an admin.
pub fn edit_policy() -> Box<dyn Policy<Actor, Article>> {
    any_of(vec![is_author(), is_admin()])
}

/// Delete: an admin, or the author of an unpublished article.
pub fn delete_policy() -> Box<dyn Policy<Actor, Article>> {
    any_of(vec![
        is_admin(),
        all_of(vec![
            is_author(),
            rule(
                "unpublished",
                |_: &Actor, _: &str, r: &Article, _: &Environment| !r.published,
            ),
        ]),
    ])
}

/// The policy for `action` (`edit`/`update` or `delete`); any other action is denied.
pub fn policy_for(action: &str) -> Box<dyn Policy<Actor, Article>> {
    match action {
        "edit" | "update" => edit_policy(),
        "delete" => delete_policy(),
        _ => any_of(Vec::new()),
    }
}
