//! `AUTH_DATABASE_REPLICA`: off by default, and refused in one line unless the state is on
//! Postgres.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use reference_common::Settings;

fn refused(vars: &[(&str, &str)]) -> String {
    match settings(vars) {
        Ok(_) => panic!("{vars:?} should be refused"),
        Err(e) => e,
    }
}

fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
    Settings::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
}

#[test]
fn the_database_replica_is_off_by_default_and_needs_postgres() {
    assert!(!settings(&[]).unwrap().database_replica);
    let pg = settings(&[
        ("AUTH_DATABASE_URL", "postgres://u@db/auth"),
        ("AUTH_DATABASE_REPLICA", "true"),
    ])
    .unwrap();
    assert!(pg.database_replica);
    for vars in [
        &[("AUTH_DATABASE_REPLICA", "true")][..],
        &[
            ("AUTH_DATABASE_URL", "sqlite:///tmp/auth.db"),
            ("AUTH_DATABASE_REPLICA", "1"),
        ],
        &[
            ("AUTH_DATABASE_URL", "postgres://u@db/auth"),
            ("AUTH_REDIS_URL", "redis://127.0.0.1"),
            ("AUTH_DATABASE_REPLICA", "true"),
        ],
    ] {
        let err = refused(vars);
        assert!(err.starts_with("AUTH_DATABASE_REPLICA=true needs"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
    let err = refused(&[("AUTH_DATABASE_REPLICA", "yes")]);
    assert!(err.contains("must be true or false"), "{err}");
}
