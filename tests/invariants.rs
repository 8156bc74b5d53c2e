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

/// The library crates: what a team depends on (the conformance suite, examples, CLI,
/// bench, fuzz and xtask are not libraries).
const LIBRARY_CRATES: [&str; 7] = [
    "auth-core",
    "auth-axum",
    "auth-actix",
    "auth-warp",
    "auth-redis",
    "auth-sqlx",
    "auth-openapi",
];
const ADAPTERS: [&str; 3] = ["auth-axum", "auth-actix", "auth-warp"];

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Test suites (`tests.rs`, `*_tests.rs`, `suite.rs`) are not library code.
fn is_test_file(path: &std::path::Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name == "tests.rs" || name.ends_with("_tests.rs") || name == "suite.rs"
}

/// Every `.rs` file under `crates/CRATE/src`, test suites excluded, with its text.
fn library_sources(krate: &str) -> Vec<(std::path::PathBuf, String)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &repo_root().join("crates").join(krate).join("src"),
        &mut files,
    );
    files.sort();
    files
        .into_iter()
        .filter(|p| !is_test_file(p))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read source");
            (p, text)
        })
        .collect()
}

/// The text of a source file without its `#[cfg(test)] mod tests { … }` tail.
fn without_test_module(text: &str) -> &str {
    text.split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap_or(text)
}

/// ARCHITECTURE.md: "No file of the library crates is over 600 lines (test suites aside)."
#[test]
fn no_library_file_is_over_600_lines() {
    let mut long = Vec::new();
    for krate in LIBRARY_CRATES {
        for (path, text) in library_sources(krate) {
            let lines = text.lines().count();
            if lines > 600 {
                long.push(format!("{} ({lines} lines)", path.display()));
            }
        }
    }
    assert!(long.is_empty(), "split these by responsibility: {long:#?}");
}

/// ARCHITECTURE.md: "An adapter reads no clock, runs no CSRF, origin or method check of
/// its own and names no status but the fallback for a status the core never sends."
#[test]
fn adapters_decide_nothing() {
    let forbidden = [
        "SystemTime",
        "Instant::now",
        "unix_seconds",
        "check_csrf",
        "csrf_applies",
        "is_safe_method",
        "origin_allowed",
        "OriginPolicy",
        "StatusCode::OK",
        "StatusCode::BAD_REQUEST",
        "StatusCode::UNAUTHORIZED",
        "StatusCode::FORBIDDEN",
        "StatusCode::NOT_FOUND",
        "StatusCode::TOO_MANY_REQUESTS",
        "StatusCode::SERVICE_UNAVAILABLE",
    ];
    let mut found = Vec::new();
    for krate in ADAPTERS {
        for (path, text) in library_sources(krate) {
            for word in forbidden {
                if without_test_module(&text).contains(word) {
                    found.push(format!("{}: {word}", path.display()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "decide it in auth-core instead: {found:#?}"
    );
    // Sanity: the sources were read.
    assert!(library_sources("auth-axum").len() >= 2);
}

/// ARCHITECTURE.md: "No library crate ships a user, a password, a role table or a fixed
/// key id."
#[test]
fn library_code_ships_no_demo_data() {
    let forbidden = [
        "password123",
        "pw-alice",
        "\"access-1\"",
        "\"refresh-1\"",
        "contract_default",
        "MemoryUsers::demo",
        "policy::articles",
    ];
    let mut found = Vec::new();
    for krate in LIBRARY_CRATES {
        for (path, text) in library_sources(krate) {
            for word in forbidden {
                if without_test_module(&text).contains(word) {
                    found.push(format!("{}: {word}", path.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "move demo data to examples/: {found:#?}");
}

/// Backticked words of `text` (inline code spans).
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// ARCHITECTURE.md: "Every path and type the code map names exists." Paths are written
/// from the repository root; types are defined (`struct`, `enum`, `trait`, `type`) in
/// some crate's sources.
#[test]
fn the_code_map_names_only_what_exists() {
    let root = repo_root();
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let map = doc
        .split("## Code map")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("ARCHITECTURE.md has a `## Code map` section");
    let roots = [
        "crates/",
        "examples/",
        "docs/",
        "tests/",
        "fuzz/",
        "bench/",
        "xtask/",
        ".ci/",
    ];
    let mut sources = String::new();
    for dir in ["crates", "examples", "bench/src", "fuzz/src", "xtask/src"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "rs") {
                    sources.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
                }
            }
        }
    }
    let mut missing = Vec::new();
    let mut checked = 0;
    for span in code_spans(map) {
        if roots.iter().any(|r| span.starts_with(r)) || span.ends_with(".md") {
            checked += 1;
            if !root.join(span).exists() {
                missing.push(format!("path `{span}`"));
            }
        } else if span.len() > 2
            && span.starts_with(|c: char| c.is_ascii_uppercase())
            && span.chars().all(|c| c.is_ascii_alphanumeric())
            && !span
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            checked += 1;
            let defined = ["struct", "enum", "trait", "type"]
                .iter()
                .any(|kw| sources.contains(&format!("{kw} {span}")));
            if !defined {
                missing.push(format!("type `{span}`"));
            }
        }
    }
    assert!(checked > 40, "sanity: only {checked} names were checked");
    assert!(
        missing.is_empty(),
        "the code map names what does not exist: {missing:#?}"
    );
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

/// The crates published to crates.io (issue #26): the libraries a team depends on and
/// the CLI. Everything else (examples, the conformance suite, tests, fuzz, xtask) stays
/// `publish = false`.
const PUBLISHED: [&str; 8] = [
    "auth-core",
    "auth-axum",
    "auth-actix",
    "auth-warp",
    "auth-redis",
    "auth-sqlx",
    "auth-openapi",
    "authctl",
];

/// `cargo metadata --no-deps` of the workspace: every member's manifest as cargo reads it.
fn workspace_packages() -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(repo_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    meta["packages"].as_array().expect("packages").clone()
}

fn package_name(package: &serde_json::Value) -> &str {
    package["name"].as_str().expect("a package has a name")
}

/// `publish` is `null` when a crate may go to any registry, `[]` for `publish = false`.
#[test]
fn exactly_the_published_crates_are_publishable() {
    let packages = workspace_packages();
    assert!(
        packages.len() > PUBLISHED.len(),
        "sanity: the workspace was read"
    );
    let mut publishable: Vec<&str> = packages
        .iter()
        .filter(|p| !p["publish"].as_array().is_some_and(Vec::is_empty))
        .map(package_name)
        .collect();
    publishable.sort_unstable();
    let mut expected = PUBLISHED.to_vec();
    expected.sort_unstable();
    assert_eq!(
        publishable, expected,
        "exactly these crates are publishable; every other one says `publish = false` \
         (or `publish.workspace = true`)"
    );
}

/// What crates.io shows and needs: each published crate says what it is, where it lives,
/// which Rust it needs, how docs.rs documents it, and carries its README and both
/// license texts.
#[test]
fn published_crates_carry_their_metadata() {
    let packages = workspace_packages();
    for package in packages
        .iter()
        .filter(|p| PUBLISHED.contains(&package_name(p)))
    {
        let name = package_name(package);
        for field in [
            "description",
            "license",
            "repository",
            "rust_version",
            "readme",
        ] {
            assert!(
                package[field]
                    .as_str()
                    .is_some_and(|v| !v.trim().is_empty()),
                "{name}: `{field}` is missing"
            );
        }
        let keywords = package["keywords"].as_array().expect("keywords");
        assert!(
            (1..=5).contains(&keywords.len()),
            "{name}: 1 to 5 keywords (crates.io's limit), found {keywords:?}"
        );
        for keyword in keywords {
            let k = keyword.as_str().expect("a keyword is a string");
            assert!(
                k.len() <= 20
                    && k.starts_with(|c: char| c.is_ascii_alphabetic())
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+')),
                "{name}: `{k}` is not a valid crates.io keyword"
            );
        }
        let categories = package["categories"].as_array().expect("categories");
        assert!(
            (1..=5).contains(&categories.len()),
            "{name}: 1 to 5 categories, found {categories:?}"
        );
        let docs_rs = &package["metadata"]["docs"]["rs"];
        assert!(
            docs_rs["all-features"].as_bool() == Some(true)
                || docs_rs["features"]
                    .as_array()
                    .is_some_and(|f| !f.is_empty()),
            "{name}: `[package.metadata.docs.rs]` must say which features to document"
        );
        let manifest = std::path::Path::new(
            package["manifest_path"]
                .as_str()
                .expect("a package has a manifest path"),
        );
        let dir = manifest.parent().expect("a manifest has a directory");
        let readme = package["readme"].as_str().expect("checked above");
        for file in [readme, "LICENSE-MIT", "LICENSE-APACHE"] {
            assert!(
                dir.join(file).is_file(),
                "{name}: `{file}` is missing from {}",
                dir.display()
            );
        }
    }
}

/// crates.io resolves dependencies by version, never by path: every path dependency of
/// a published crate carries a version, and none of its normal or build dependencies is
/// an unpublished crate. (A dev-dependency on an unpublished crate, such as
/// `reference-common`, has no version and is stripped when the crate is packaged; a
/// dev-dependency on another published crate keeps its version.)
#[test]
fn published_crates_depend_only_on_published_crates_by_version() {
    let packages = workspace_packages();
    let unpublished: Vec<&str> = packages
        .iter()
        .map(package_name)
        .filter(|n| !PUBLISHED.contains(n))
        .collect();
    assert!(
        unpublished.contains(&"reference-common"),
        "sanity: {unpublished:?}"
    );
    let mut problems = Vec::new();
    for package in packages
        .iter()
        .filter(|p| PUBLISHED.contains(&package_name(p)))
    {
        let name = package_name(package);
        for dep in package["dependencies"].as_array().expect("dependencies") {
            let dep_name = dep["name"].as_str().expect("a dependency has a name");
            let kind = dep["kind"].as_str().unwrap_or("normal");
            let versioned = dep["req"].as_str() != Some("*");
            if dep["path"].is_null() {
                continue;
            }
            if kind == "dev" {
                if PUBLISHED.contains(&dep_name) && dep_name != name && !versioned {
                    problems.push(format!("{name}: dev-dependency {dep_name} has no version"));
                }
                continue;
            }
            if unpublished.contains(&dep_name) {
                problems.push(format!(
                    "{name}: {kind} dependency on the unpublished {dep_name}"
                ));
            }
            if !versioned {
                problems.push(format!("{name}: path dependency {dep_name} has no version"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
