//! The tutorial's two article policies, the reference apps' ABAC example (they lived in
//! `auth_core::policy::articles` before issue #22: the library ships no demo data):
//!
//! - edit: the author, or an admin;
//! - delete: an admin, or the author of an unpublished article.
//!
//! ```
//! use auth_core::policy::Environment;
//! use reference_common::articles::{Actor, Article, delete_policy};
//!
//! let carol = Actor { id: 3, roles: vec!["viewer".into()] };
//! let draft = Article { id: 3, title: "Draft Notes".into(), author_id: 3, published: false };
//! let d = delete_policy().decide(&carol, "delete", &draft, &Environment::default());
//! assert_eq!(d.reason, "allowed by all of [author, unpublished]");
//! ```

use auth_core::policy::{Environment, Policy, all_of, any_of, rule};
use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(id: u64, role: &str) -> Actor {
        Actor {
            id,
            roles: vec![role.to_string()],
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
        assert!(
            policy_for("update")
                .decide(&actor(2, "editor"), "update", &article(2, 2, true), &env)
                .allowed
        );
        let denied =
            policy_for("delete").decide(&actor(2, "editor"), "delete", &article(2, 2, true), &env);
        assert!(denied.require("Cannot delete this article").is_err());
        assert!(
            !policy_for("publish")
                .decide(&actor(1, "admin"), "publish", &article(1, 1, false), &env)
                .allowed,
            "unknown actions are denied"
        );
    }
}
