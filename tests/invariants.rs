//! Architecture invariants (see ARCHITECTURE.md), checked on the real dependency graph.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)] // a test fails by panicking

use std::process::Command;

fn cargo_tree(package: &str) -> String {
    cargo_tree_with(package, &["--edges", "normal,build"])
}

/// `cargo tree --prefix none --package PACKAGE` with `args`.
fn cargo_tree_with(package: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--prefix", "none", "--package", package])
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The `http` crate (request and response *types*, no I/O) is allowed: `oauth2` uses it
/// for the requests it hands to our `HttpClient`. It never appears in auth-core's public
/// API (actix-web 4 is on `http` 0.2, the rest on 1). No server, client or middleware
/// stack is allowed with default features; the optional `reqwest-client` feature brings
/// reqwest's client stack only.
#[test]
fn auth_core_depends_on_no_web_framework() {
    let tree = cargo_tree("auth-core");
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(&"jsonwebtoken"),
        "sanity: the tree was read:\n{tree}"
    );
    for framework in [
        "axum",
        "axum-core",
        "actix-web",
        "actix-http",
        "warp",
        "hyper",
        "tower",
        "tower-http",
    ] {
        assert!(
            !crates.contains(&framework),
            "auth-core must not depend on `{framework}`:\n{tree}"
        );
    }
}

#[test]
fn jsonwebtoken_has_exactly_one_crypto_backend() {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--edges",
            "features",
            "--prefix",
            "none",
            "--package",
            "auth-core",
            "--invert",
            "jsonwebtoken",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run cargo tree");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        tree.contains("jsonwebtoken feature \"aws_lc_rs\""),
        "{tree}"
    );
    assert!(
        !tree.contains("jsonwebtoken feature \"rust_crypto\""),
        "both backends would panic at run time:\n{tree}"
    );
}

/// `auth_core::testing` mints credentials without a password: it is compiled only when a
/// build asks for the `testing` feature, which the adapters and the reference apps do in
/// their `[dev-dependencies]` alone. Their normal builds must not carry it.
#[test]
fn production_builds_carry_no_test_helpers() {
    for package in [
        "auth-axum",
        "auth-actix",
        "auth-warp",
        "reference-axum",
        "reference-actix",
        "reference-warp",
    ] {
        let tree = cargo_tree_with(
            package,
            &["--edges", "normal,build,features", "--invert", "auth-core"],
        );
        assert!(
            tree.contains("auth-core feature \"default\""),
            "sanity: the tree was read:\n{tree}"
        );
        assert!(
            !tree.contains("feature \"testing\""),
            "{package}'s normal build enables the `testing` feature:\n{tree}"
        );
    }
}

/// `authctl` is publishable: it must not pull in the reference apps' shared code (demo
/// users, the contract's roles, the article policies) or any other example crate
/// (issue #22).
#[test]
fn authctl_depends_on_no_example_crate() {
    let tree = cargo_tree("authctl");
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(&"auth-core"),
        "sanity: the tree was read:\n{tree}"
    );
    let examples: Vec<&&str> = crates
        .iter()
        .filter(|c| c.starts_with("reference-") || c.starts_with("team-"))
        .collect();
    assert!(
        examples.is_empty(),
        "authctl must not depend on the example crates {examples:?}:\n{tree}"
    );
}
