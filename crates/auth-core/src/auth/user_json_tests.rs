//! `UserJson` writes the JSON `user_json` builds, byte for byte.
#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::{UserJson, user_json};
use crate::credential::User;

fn user(id: &str, email: Option<&str>, roles: &[&str]) -> User {
    User {
        id: id.into(),
        username: "alice".into(),
        email: email.map(str::to_owned),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        password_hash: "$argon2id$never-shown".into(),
        disabled: false,
        data: json!({"tenant": "never shown"}),
    }
}

#[test]
fn user_json_writes_the_same_json_as_the_value_without_secrets() {
    for u in [
        user("1", Some("alice@example.com"), &["admin", "user"]),
        user("u-7", None, &[]),
        user("18446744073709551616", Some("a\"b@example.com"), &["r"]),
    ] {
        let direct = serde_json::to_string(&UserJson(&u)).unwrap();
        let owned = serde_json::to_string(&UserJson(u.clone())).unwrap();
        let value = serde_json::to_string(&user_json(&u)).unwrap();
        assert_eq!(direct, value);
        assert_eq!(owned, value);
        assert!(
            !direct.contains("argon2") && !direct.contains("tenant"),
            "{direct}"
        );
    }
    // A numeric id is a number, any other a string; keys sorted as a Value writes them.
    let numeric = serde_json::to_string(&UserJson(user("42", None, &["user"]))).unwrap();
    assert_eq!(numeric, r#"{"email":null,"id":42,"roles":["user"]}"#);
    let text = serde_json::to_string(&UserJson(user("u-7", Some("e@x"), &[]))).unwrap();
    assert_eq!(text, r#"{"email":"e@x","id":"u-7","roles":[]}"#);
}
