//! Runs the `authctl` binary for every subcommand, good and bad input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)] // a test fails by panicking

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

const SECRET: &str = "a-test-secret-that-is-32-bytes-long!";

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_authctl"))
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        // A command that refuses its arguments exits before reading stdin: the pipe is
        // then closed, and that is no failure of the test.
        match input.write_all(text.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("stdin: {e}"),
            _ => {}
        }
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// Asserts the exit code; returns (stdout, stderr).
fn expect(out: Output, code: i32) -> (String, String) {
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "stdout:\n{o}\nstderr:\n{e}");
    assert!(!e.contains("panicked"), "{e}");
    (o, e)
}

/// One line on stderr, starting `authctl: error:`.
fn one_line_error(out: Output, needle: &str) {
    let (o, e) = expect(out, 1);
    assert!(o.is_empty(), "{o}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.starts_with("authctl: error: "), "{e}");
    assert!(e.contains(needle), "`{e}` should say `{needle}`");
}

fn sign(extra: &[&str]) -> String {
    let mut args = vec!["jwt", "sign", "--secret", SECRET];
    args.extend_from_slice(extra);
    let (o, _) = expect(run(&args, None), 0);
    o.trim().to_string()
}

#[test]
fn sign_then_decode_shows_dates_warnings_and_no_colour_when_piped() {
    let token = sign(&[
        "--claim",
        "sub=1",
        "--claim",
        "roles=[\"admin\"]",
        "--claim",
        "password=hunter2",
        "--ttl",
        "15m",
        "--kid",
        "k1",
    ]);
    assert_eq!(token.split('.').count(), 3);
    let (o, _) = expect(run(&["jwt", "decode", &token], None), 0);
    assert!(o.contains("kid: \"k1\""), "{o}");
    assert!(o.contains("sub: \"1\""), "sub stays a string: {o}");
    assert!(
        o.contains(" UTC (expires in 15 min)") || o.contains(" UTC (expires in 14 min)"),
        "{o}"
    );
    assert!(o.contains("claim `password` looks sensitive"), "{o}");
    assert!(!o.contains('\x1b'), "plain when piped: {o:?}");
    // From stdin, with a `Bearer ` prefix, as JSON.
    let (o, _) = expect(
        run(
            &["jwt", "decode", "-", "--json"],
            Some(&format!("Bearer {token}\n")),
        ),
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(doc["header"]["alg"], "HS256");
    assert_eq!(doc["claims"]["roles"][0], "admin");
    assert_eq!(doc["verified"], false);
    assert!(
        doc["times"]["exp"]["relative"]
            .as_str()
            .unwrap()
            .starts_with("expires in")
    );
    assert!(doc["warnings"][0].as_str().unwrap().contains("password"));
}

#[test]
fn decode_warns_about_none_missing_exp_and_long_lifetimes() {
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let unsigned = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(r#"{"sub":"1"}"#));
    let (o, _) = expect(run(&["jwt", "decode", "--json", &unsigned], None), 0);
    let doc: serde_json::Value = serde_json::from_str(&o).unwrap();
    let warnings = doc["warnings"].to_string();
    assert!(warnings.contains("alg is `none`"), "{warnings}");
    assert!(warnings.contains("no `exp`"), "{warnings}");
    let long = sign(&["--ttl", "30d"]);
    let (o, _) = expect(run(&["jwt", "decode", &long], None), 0);
    assert!(o.contains("very long lifetime (30 d)"), "{o}");
    let expired = format!(
        "{}.{}.c2ln",
        b64(r#"{"alg":"HS256"}"#),
        b64(r#"{"exp":1000000000,"iat":999996400}"#)
    );
    let (o, _) = expect(run(&["jwt", "decode", &expired], None), 0);
    assert!(o.contains("2001-09-09 01:46:40 UTC (expired "), "{o}");
}

#[test]
fn decode_refuses_broken_tokens_in_one_line() {
    let token = sign(&[]);
    let (h, p, s) = {
        let v: Vec<&str> = token.split('.').collect();
        (v[0].to_string(), v[1].to_string(), v[2].to_string())
    };
    one_line_error(
        run(&["jwt", "decode", &format!("{h}.{p}")], None),
        "2 segments",
    );
    one_line_error(
        run(&["jwt", "decode", &format!("{h}.{p}.{s}.x")], None),
        "4 segments",
    );
    one_line_error(run(&["jwt", "decode", "a.b.c.d.e"], None), "JWE");
    one_line_error(
        run(
            &["jwt", "decode", &format!("{h}.{}.{s}", &p[..p.len() - 1])],
            None,
        ),
        "base64url",
    );
    one_line_error(
        run(&["jwt", "decode", &format!("{h}.{p}!.{s}")], None),
        "base64url",
    );
    one_line_error(
        run(&["jwt", "decode", &format!("{h}.aGVsbG8.{s}")], None),
        "payload is not JSON",
    );
    one_line_error(
        run(&["jwt", "decode", &format!("{h}.WzFd.{s}")], None),
        "not an object",
    );
    one_line_error(run(&["jwt", "decode", "-"], Some("")), "empty");
    one_line_error(
        run(&["jwt", "decode", "-"], Some(&"a".repeat(70_000))),
        "64 KiB",
    );
}

#[test]
fn verify_says_valid_or_exactly_why_not() {
    let token = sign(&["--claim", "iss=me", "--claim", "aud=api", "--ttl", "10m"]);
    let (o, _) = expect(
        run(
            &[
                "jwt", "verify", &token, "--secret", SECRET, "--iss", "me", "--aud", "api",
            ],
            None,
        ),
        0,
    );
    assert!(
        o.starts_with("valid: HS256; checked signature, exp, nbf, iss, aud"),
        "{o}"
    );
    let (o, _) = expect(
        run(
            &[
                "jwt",
                "verify",
                &token,
                "--secret",
                "the-wrong-secret-but-32-bytes-long!!",
            ],
            None,
        ),
        1,
    );
    assert!(
        o.contains("invalid: the signature does not match this key"),
        "{o}"
    );
    let (o, _) = expect(
        run(
            &[
                "jwt", "verify", &token, "--secret", SECRET, "--iss", "other",
            ],
            None,
        ),
        1,
    );
    assert!(o.contains("iss is \"me\", expected \"other\""), "{o}");
    let (o, _) = expect(
        run(
            &["jwt", "verify", &token, "--secret", SECRET, "--aud", "web"],
            None,
        ),
        1,
    );
    assert!(o.contains("does not contain \"web\""), "{o}");
    let bare = sign(&[]);
    let (o, _) = expect(
        run(
            &["jwt", "verify", &bare, "--secret", SECRET, "--iss", "me"],
            None,
        ),
        1,
    );
    assert!(o.contains("the `iss` claim is missing"), "{o}");
    let (o, _) = expect(
        run(
            &[
                "jwt", "verify", &token, "--secret", SECRET, "--alg", "HS512",
            ],
            None,
        ),
        1,
    );
    assert!(o.contains("HS512 is required"), "{o}");

    // The secret from the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_authctl"))
        .args([
            "jwt",
            "verify",
            &token,
            "--secret-env",
            "AUTHCTL_TEST_SECRET",
        ])
        .env("AUTHCTL_TEST_SECRET", SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    one_line_error(
        run(
            &[
                "jwt",
                "verify",
                &token,
                "--secret-env",
                "AUTHCTL_UNSET_VARIABLE",
            ],
            None,
        ),
        "AUTHCTL_UNSET_VARIABLE is not set",
    );
    one_line_error(
        run(
            &["jwt", "verify", &token, "--key", "/nonexistent/key.pem"],
            None,
        ),
        "cannot read key file /nonexistent/key.pem",
    );
    // A truncated token is refused before any key is used.
    one_line_error(
        run(
            &[
                "jwt",
                "verify",
                &token[..token.len() / 2],
                "--secret",
                SECRET,
            ],
            None,
        ),
        "segment",
    );
}

#[test]
fn verify_and_sign_with_pem_keys_and_algorithm_confusion() {
    let dir = std::env::temp_dir().join(format!("authctl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let private = dir.join("ec.pem");
    let public = dir.join("ec.pub.pem");
    std::fs::write(&private, EC_PRIVATE).unwrap();
    std::fs::write(&public, EC_PUBLIC).unwrap();
    let p = private.to_str().unwrap();
    let q = public.to_str().unwrap();
    one_line_error(run(&["jwt", "sign", "--key", p], None), "--alg");
    let (o, _) = expect(
        run(
            &[
                "jwt", "sign", "--key", p, "--alg", "ES256", "--claim", "sub=x",
            ],
            None,
        ),
        0,
    );
    let token = o.trim();
    let (o, _) = expect(run(&["jwt", "verify", token, "--key", q], None), 0);
    assert!(o.starts_with("valid: ES256"), "{o}");
    // A public key is never an HMAC secret (HS256 with the PEM as secret).
    let hs = sign(&[]);
    one_line_error(
        run(&["jwt", "verify", &hs, "--key", q], None),
        "must never be used as an HMAC secret",
    );
    // An ES256 token needs a public key (--key FILE), not a secret.
    one_line_error(
        run(&["jwt", "verify", token, "--secret", SECRET], None),
        "needs a public key",
    );
    // A file that is not a key.
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a key").unwrap();
    one_line_error(
        run(
            &["jwt", "verify", token, "--key", junk.to_str().unwrap()],
            None,
        ),
        "is not a PEM public key",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sign_refuses_bad_claims_and_durations() {
    one_line_error(
        run(
            &["jwt", "sign", "--secret", SECRET, "--claims", "{not json"],
            None,
        ),
        "--claims is not JSON",
    );
    one_line_error(
        run(
            &["jwt", "sign", "--secret", SECRET, "--claims", "[1]"],
            None,
        ),
        "JSON object",
    );
    one_line_error(
        run(
            &["jwt", "sign", "--secret", SECRET, "--claim", "novalue"],
            None,
        ),
        "NAME=VALUE",
    );
    one_line_error(
        run(
            &["jwt", "sign", "--secret", SECRET, "--ttl", "5 weeks"],
            None,
        ),
        "--ttl",
    );
    let token = sign(&["--claims", r#"{"scope":"read write","n":2}"#]);
    let (o, _) = expect(run(&["jwt", "decode", "--json", &token], None), 0);
    let doc: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(doc["claims"]["n"], 2);
    assert_eq!(doc["claims"]["scope"], "read write");
}

#[test]
fn password_hash_and_verify_read_stdin_never_argv() {
    let (o, _) = expect(run(&["password", "hash"], Some("correct horse\n")), 0);
    let phc = o.trim().to_string();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(!phc.contains("correct horse"));
    let (o, _) = expect(
        run(&["password", "verify", &phc], Some("correct horse\n")),
        0,
    );
    assert_eq!(o.trim(), "match");
    let (o, _) = expect(run(&["password", "verify", &phc], Some("wrong horse\n")), 1);
    assert_eq!(o.trim(), "no match");
    one_line_error(
        run(&["password", "verify", "sha256:abc"], Some("x\n")),
        "not a PHC string",
    );
    one_line_error(run(&["password", "hash"], Some("\n")), "empty");
    one_line_error(
        run(&["password", "hash"], Some(&"x".repeat(2000))),
        "longer than 1024 bytes",
    );
    // A password is not an argument.
    expect(run(&["password", "hash", "hunter2"], None), 2);
}

#[test]
fn apikey_new_prints_the_key_once_and_its_digest() {
    let (o, _) = expect(run(&["apikey", "new", "--json"], None), 0);
    let doc: serde_json::Value = serde_json::from_str(&o).unwrap();
    let key = doc["key"].as_str().unwrap();
    assert!(key.starts_with("ak_") && key.len() == 3 + 43 + 6, "{key}");
    use sha2::Digest as _;
    let want: String = sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(doc["sha256"], want);
    let (o, _) = expect(run(&["apikey", "new", "--prefix", "svc_"], None), 0);
    assert!(o.lines().next().unwrap().contains("svc_"), "{o}");
    assert!(o.contains("cannot be shown again"), "{o}");
    one_line_error(
        run(&["apikey", "new", "--prefix", "bad-prefix!"], None),
        "prefix",
    );
}

/// The example role table shipped beside the CLI (the contract's roles).
const ROLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/roles.json");

/// A scratch directory of JSON files for the policy tests.
fn scratch(name: &str) -> (std::path::PathBuf, impl Fn(&str, &str) -> String) {
    let dir = std::env::temp_dir().join(format!("authctl-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let at = dir.clone();
    (dir, move |file: &str, body: &str| {
        let path = at.join(file);
        std::fs::write(&path, body).unwrap();
        path.to_str().unwrap().to_string()
    })
}

#[test]
fn policy_check_articles_reports_the_deciding_rule() {
    let (dir, file) = scratch("articles");
    let bob = file("bob.json", r#"{"id": 2, "roles": ["editor"]}"#);
    let alice = file("alice.json", r#"{"id": 1, "roles": ["admin"]}"#);
    let carol = file("carol.json", r#"{"id": 3, "roles": ["viewer"]}"#);
    let bobs_published = file("a2.json", r#"{"id": 2, "author_id": 2, "published": true}"#);
    let carols_draft = file(
        "a3.json",
        r#"{"id": 3, "author_id": 3, "published": false}"#,
    );
    let check = |subject: &str, action: &str, resource: &str| {
        run(
            &[
                "policy",
                "check",
                "--policy",
                "articles",
                "--subject",
                subject,
                "--action",
                action,
                "--resource",
                resource,
            ],
            None,
        )
    };
    let (o, _) = expect(check(&bob, "edit", &bobs_published), 0);
    assert_eq!(o.trim(), "allowed by author");
    let (o, _) = expect(check(&bob, "delete", &bobs_published), 1);
    assert_eq!(
        o.trim(),
        "denied: none of [admin does not hold; unpublished does not hold]"
    );
    let (o, _) = expect(check(&alice, "delete", &bobs_published), 0);
    assert_eq!(o.trim(), "allowed by admin");
    let (o, _) = expect(check(&carol, "delete", &carols_draft), 0);
    assert_eq!(o.trim(), "allowed by all of [author, unpublished]");
    let (o, _) = expect(check(&carol, "update", &bobs_published), 1);
    assert_eq!(
        o.trim(),
        "denied: none of [author does not hold; admin does not hold]"
    );
    let (o, _) = expect(check(&alice, "publish", &bobs_published), 1);
    assert_eq!(
        o.trim(),
        "denied: no rule (empty any_of)",
        "unknown actions are denied"
    );
    // Bad input.
    let junk = file("junk.json", "{not json");
    one_line_error(check(&junk, "edit", &bobs_published), "is not JSON");
    one_line_error(
        check(&bob, "edit", "/nonexistent.json"),
        "cannot read the resource file",
    );
    let wrong = file("wrong.json", r#"{"name": "bob"}"#);
    one_line_error(check(&wrong, "edit", &bobs_published), "the subject is not");
    one_line_error(check(&bob, "edit", &wrong), "the resource is not");
    one_line_error(
        run(
            &[
                "policy",
                "check",
                "--policy",
                "articles",
                "--subject",
                &bob,
                "--action",
                "edit",
            ],
            None,
        ),
        "--resource",
    );
    one_line_error(
        run(
            &[
                "policy",
                "check",
                "--policy",
                "articles",
                "--roles",
                ROLES,
                "--subject",
                &bob,
                "--action",
                "edit",
                "--resource",
                &bobs_published,
            ],
            None,
        ),
        "--roles is read by --policy rbac only",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn policy_check_rbac_decides_with_the_given_role_table() {
    let (dir, file) = scratch("rbac");
    let bob = file("bob.json", r#"{"id": 2, "roles": ["editor"]}"#);
    let both = file("both.json", r#"{"roles": ["viewer", "admin"]}"#);
    let nobody = file("nobody.json", r#"{"id": 9}"#);
    let rbac = |roles: &str, subject: &str, action: &str| {
        run(
            &[
                "policy",
                "check",
                "--policy",
                "rbac",
                "--roles",
                roles,
                "--subject",
                subject,
                "--action",
                action,
            ],
            None,
        )
    };
    // The example table: the contract's roles.
    let (o, _) = expect(rbac(ROLES, &bob, "write"), 0);
    assert_eq!(o.trim(), "allowed by role `editor` (grants `write`)");
    let (o, _) = expect(rbac(ROLES, &bob, "delete"), 1);
    assert_eq!(o.trim(), "denied: no role of [\"editor\"] grants `delete`");
    let (o, _) = expect(rbac(ROLES, &both, "manage_users"), 0);
    assert_eq!(o.trim(), "allowed by role `admin` (grants `manage_users`)");
    let (o, _) = expect(rbac(ROLES, &nobody, "read"), 1);
    assert_eq!(o.trim(), "denied: no role of [] grants `read`");
    // The team's own table decides, not a built-in one.
    let team = file("team.json", r#"{"editor": ["publish"], "support": []}"#);
    let (o, _) = expect(rbac(&team, &bob, "publish"), 0);
    assert_eq!(o.trim(), "allowed by role `editor` (grants `publish`)");
    let (o, _) = expect(rbac(&team, &bob, "write"), 1);
    assert_eq!(o.trim(), "denied: no role of [\"editor\"] grants `write`");
    let empty = file("empty.json", "{}");
    let (o, _) = expect(rbac(&empty, &both, "read"), 1);
    assert_eq!(
        o.trim(),
        "denied: no role of [\"viewer\", \"admin\"] grants `read`"
    );
    // Bad input.
    one_line_error(
        run(
            &[
                "policy",
                "check",
                "--policy",
                "rbac",
                "--subject",
                &bob,
                "--action",
                "write",
            ],
            None,
        ),
        "the rbac policy needs --roles FILE",
    );
    one_line_error(
        rbac("/nonexistent.json", &bob, "write"),
        "cannot read the roles file",
    );
    let junk = file("junk.json", "{not json");
    one_line_error(rbac(&junk, &bob, "write"), "is not JSON");
    let list = file("list.json", r#"["admin", "editor"]"#);
    one_line_error(rbac(&list, &bob, "write"), "the roles file");
    let not_strings = file("numbers.json", r#"{"editor": [1, 2]}"#);
    one_line_error(rbac(&not_strings, &bob, "write"), "the roles file");
    let bad_subject = file("bad.json", r#"{"roles": "editor"}"#);
    one_line_error(
        rbac(ROLES, &bad_subject, "write"),
        "the subject's `roles` is not a list of strings",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn policy_help_names_the_roles_file_and_the_tutorial_example() {
    let (o, _) = expect(run(&["policy", "check", "--help"], None), 0);
    for needle in [
        "--roles",
        "examples/roles.json",
        "authctl ships no roles",
        "tutorial's article example",
        "not your policy",
    ] {
        assert!(o.contains(needle), "{needle}: {o}");
    }
}

#[test]
fn usage_errors_exit_2() {
    expect(run(&["jwt", "frobnicate"], None), 2);
    expect(run(&["jwt", "verify", "x.y.z"], None), 2); // no key given
    expect(
        run(
            &["jwt", "verify", "x.y.z", "--secret", "a", "--key", "f"],
            None,
        ),
        2,
    ); // two keys
    expect(
        run(
            &["jwt", "verify", "x.y.z", "--secret", "a", "--leeway", "301"],
            None,
        ),
        2,
    );
    expect(
        run(
            &[
                "policy",
                "check",
                "--subject",
                "s",
                "--action",
                "a",
                "--policy",
                "nope",
            ],
            None,
        ),
        2,
    );
    // No default policy: the caller says which one decides.
    expect(
        run(
            &["policy", "check", "--subject", "s", "--action", "a"],
            None,
        ),
        2,
    );
    let (o, _) = expect(run(&["--help"], None), 0);
    for sub in ["jwt", "password", "apikey", "policy"] {
        assert!(o.contains(sub), "{o}");
    }
}

const EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2s1QTS0NN8tYcoVI
Z8AkMVv61D7piEukXmO9xEEY68yhRANCAARv19RGT8kRT7iXdR2cNFTDHuPYkNjV
Zq+BnmsbSU/G9+G4CKHMN62NN4bKMbUJq9dvosDTLmAq/A1z++PISF8S
-----END PRIVATE KEY-----
";
const EC_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEb9fURk/JEU+4l3UdnDRUwx7j2JDY
1WavgZ5rG0lPxvfhuAihzDetjTeGyjG1CavXb6LA0y5gKvwNc/vjyEhfEg==
-----END PUBLIC KEY-----
";

/// Colour on a terminal (a pseudo-terminal from util-linux `script`), none with
/// `NO_COLOR`, none when piped (the other tests).
#[test]
fn colour_only_on_a_terminal() {
    let token = sign(&[]);
    let under_pty = |no_color: bool| {
        let mut cmd = Command::new("script");
        cmd.args([
            "-qec",
            &format!("{} jwt decode {token}", env!("CARGO_BIN_EXE_authctl")),
            "/dev/null",
        ]);
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        let out = cmd
            .output()
            .expect("util-linux `script` runs the tool on a pty");
        assert_eq!(out.status.code(), Some(0));
        text(&out.stdout)
    };
    assert!(under_pty(false).contains("\x1b[1;36mHeader\x1b[0m"));
    assert!(!under_pty(true).contains('\x1b'));
}

#[test]
fn totp_qr_prints_an_enrolment_url_as_a_qr_code() {
    let url =
        "otpauth://totp/Acme:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme";
    let (o, _) = expect(run(&["totp", "qr", url], None), 0);
    let (picture, details): (Vec<&str>, Vec<&str>) = o
        .lines()
        .filter(|l| !l.is_empty())
        .partition(|l| l.chars().all(|c| " █▀▄".contains(c)));
    // A square of modules, two per character cell vertically, with the quiet zone.
    let width = picture[0].chars().count();
    assert!(width >= 21 + 8, "{o}");
    assert!(picture.iter().all(|l| l.chars().count() == width), "{o}");
    assert_eq!(picture.len(), width.div_ceil(2), "{o}");
    assert!(details.contains(&"issuer: Acme"), "{o}");
    assert!(details.contains(&"account: ada@example.com"), "{o}");
    assert!(details.contains(&"6 digits, every 30 s, SHA1"), "{o}");
    // A scanner reads the URL back from the picture.
    assert_eq!(scan(&picture), url);
    // The same from stdin.
    let (piped, _) = expect(run(&["totp", "qr", "-"], Some(url)), 0);
    assert_eq!(piped, o);
}

/// Decodes a QR code printed with half blocks (a drawn half is a light module), as a
/// phone camera would: each module becomes a 4×4 block of pixels.
fn scan(picture: &[&str]) -> String {
    let rows: Vec<Vec<bool>> = picture
        .iter()
        .flat_map(|line| {
            let top = line.chars().map(|c| matches!(c, '█' | '▀')).collect();
            let bottom = line.chars().map(|c| matches!(c, '█' | '▄')).collect();
            [top, bottom]
        })
        .collect();
    let scale = 4;
    let (width, height) = (rows[0].len() * scale, rows.len() * scale);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        if rows[y / scale][x / scale] { 255 } else { 0 }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the picture");
    let (_, content) = grids[0].decode().unwrap();
    content
}

#[test]
fn totp_qr_refuses_what_is_not_an_enrolment_url() {
    one_line_error(
        run(&["totp", "qr", "https://example.com/"], None),
        "otpauth://totp/",
    );
    one_line_error(
        run(&["totp", "qr", "otpauth://totp/Acme:ada?secret=!!!"], None),
        "cannot be read",
    );
    let long = format!("otpauth://totp/{}", "a".repeat(5000));
    one_line_error(run(&["totp", "qr", &long], None), "at most 2048");
}
