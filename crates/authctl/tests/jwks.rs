//! `authctl jwt verify --jwks FILE|URL`: the key picked by the token's `kid`, an `alg`
//! that does not fit the JWK refused, a JWKS never used to sign.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)] // a test fails by panicking

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

const SECRET: &str = "a-test-secret-that-is-32-bytes-long!";
/// A test-only P-256 key (the same as `tests/cli.rs`'s).
const EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2s1QTS0NN8tYcoVI
Z8AkMVv61D7piEukXmO9xEEY68yhRANCAARv19RGT8kRT7iXdR2cNFTDHuPYkNjV
Zq+BnmsbSU/G9+G4CKHMN62NN4bKMbUJq9dvosDTLmAq/A1z++PISF8S
-----END PRIVATE KEY-----
";

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authctl"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Asserts the exit code; returns (stdout, stderr).
fn expect(out: Output, code: i32) -> (String, String) {
    let o = String::from_utf8(out.stdout).unwrap();
    let e = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "stdout:\n{o}\nstderr:\n{e}");
    assert!(!e.contains("panicked"), "{e}");
    (o, e)
}

/// A file of its own under the temp dir, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!("authctl-jwks-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The EC key's published JWK (kid: its RFC 7638 thumbprint), from auth-core.
fn ec_jwk() -> Value {
    let key = auth_core::token::Key::from_private_pem(
        auth_core::token::Algorithm::ES256,
        EC_PRIVATE.as_bytes(),
    )
    .unwrap();
    key.public_jwk_value().unwrap()
}

fn sign_es256(key_file: &TempFile, kid: Option<&str>) -> String {
    let mut args = vec![
        "jwt",
        "sign",
        "--key",
        key_file.path(),
        "--alg",
        "ES256",
        "--claim",
        "sub=1",
    ];
    if let Some(kid) = kid {
        args.extend(["--kid", kid]);
    }
    let (o, _) = expect(run(&args), 0);
    o.trim().to_string()
}

/// `token` with its header replaced by `header` (the signature kept: only checks before
/// the signature can pass it).
fn with_header(token: &str, header: &Value) -> String {
    let mut parts = token.splitn(2, '.');
    let _ = parts.next();
    format!(
        "{}.{}",
        B64.encode(header.to_string()),
        parts.next().unwrap()
    )
}

#[test]
fn verify_picks_the_key_by_kid_from_a_jwks_file() {
    let jwk = ec_jwk();
    let kid = jwk["kid"].as_str().unwrap().to_string();
    let jwks = TempFile::new("set.json", &json!({"keys": [jwk]}).to_string());
    let key = TempFile::new("ec.pem", EC_PRIVATE);

    let token = sign_es256(&key, Some(&kid));
    let (o, _) = expect(run(&["jwt", "verify", &token, "--jwks", jwks.path()]), 0);
    assert!(o.starts_with("valid: ES256"), "{o}");

    // A kid the set does not hold, and no kid at all.
    let other = sign_es256(&key, Some("someone-else"));
    let (o, _) = expect(run(&["jwt", "verify", &other, "--jwks", jwks.path()]), 1);
    assert!(o.contains("no key with kid `someone-else`"), "{o}");
    let bare = sign_es256(&key, None);
    let (o, _) = expect(run(&["jwt", "verify", &bare, "--jwks", jwks.path()]), 1);
    assert!(o.contains("no `kid`"), "{o}");

    // The key is the one its kid names: the same public key listed as `someone-else`.
    let wrong = TempFile::new(
        "set-wrong.json",
        &json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "someone-else",
            "x": jwk["x"], "y": jwk["y"]}]})
        .to_string(),
    );
    expect(run(&["jwt", "verify", &other, "--jwks", wrong.path()]), 0);
}

#[test]
fn verify_refuses_an_alg_that_does_not_fit_the_jwk() {
    let jwk = ec_jwk();
    let kid = jwk["kid"].as_str().unwrap().to_string();
    let jwks = TempFile::new("fit.json", &json!({"keys": [jwk.clone()]}).to_string());
    let key = TempFile::new("fit.pem", EC_PRIVATE);
    let token = sign_es256(&key, Some(&kid));

    // HS256 MACed with a secret, naming the EC key: a JWKS never holds an HMAC secret.
    let (hs, _) = expect(
        run(&[
            "jwt", "sign", "--secret", SECRET, "--kid", &kid, "--claim", "sub=1",
        ]),
        0,
    );
    let (o, _) = expect(run(&["jwt", "verify", hs.trim(), "--jwks", jwks.path()]), 1);
    assert!(o.contains("HMAC"), "{o}");

    // An RSA or EdDSA header naming the EC key.
    for alg in ["RS256", "PS256", "EdDSA", "ES384"] {
        let forged = with_header(&token, &json!({"alg": alg, "typ": "JWT", "kid": kid}));
        let (o, _) = expect(run(&["jwt", "verify", &forged, "--jwks", jwks.path()]), 1);
        assert!(o.contains("does not fit"), "{alg}: {o}");
    }

    // The JWK's own `alg` decides even when the key type would fit.
    let mut es384 = jwk;
    es384["alg"] = json!("ES384");
    let pinned = TempFile::new("pinned.json", &json!({"keys": [es384]}).to_string());
    let (o, _) = expect(run(&["jwt", "verify", &token, "--jwks", pinned.path()]), 1);
    assert!(o.contains("does not fit"), "{o}");
    // And `--alg` still applies on top.
    let (o, _) = expect(
        run(&[
            "jwt",
            "verify",
            &token,
            "--jwks",
            jwks.path(),
            "--alg",
            "RS256",
        ]),
        1,
    );
    assert!(o.contains("RS256 is required"), "{o}");
}

#[test]
fn a_jwks_never_signs_and_a_bad_one_is_one_line() {
    let jwks = TempFile::new("sign.json", &json!({"keys": [ec_jwk()]}).to_string());
    for args in [
        vec!["jwt", "sign", "--jwks", jwks.path()],
        vec!["jwt", "sign", "--jwks", jwks.path(), "--alg", "ES256"],
    ] {
        let (o, e) = expect(run(&args), 1);
        assert!(o.is_empty(), "{o}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains("--jwks"), "{e}");
    }
    let token = {
        let key = TempFile::new("bad.pem", EC_PRIVATE);
        sign_es256(&key, Some("k"))
    };
    let not_a_set = TempFile::new("not-a-set.json", r#"{"kty": "EC"}"#);
    for source in [not_a_set.path(), "/nonexistent/jwks.json"] {
        let (o, e) = expect(run(&["jwt", "verify", &token, "--jwks", source]), 1);
        assert!(o.is_empty(), "{o}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.starts_with("authctl: error: "), "{e}");
    }
    // --jwks is one of the exclusive key sources.
    expect(
        run(&[
            "jwt",
            "verify",
            &token,
            "--jwks",
            not_a_set.path(),
            "--secret",
            SECRET,
        ]),
        2,
    );
}

/// Serves `body` with `status` to each of `count` requests on a free port; the URL.
fn serve(status: &'static str, body: String, count: usize) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let mut stream = stream.unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    format!("http://{addr}/.well-known/jwks.json")
}

#[test]
fn verify_fetches_the_jwks_from_a_url() {
    let jwk = ec_jwk();
    let kid = jwk["kid"].as_str().unwrap().to_string();
    let key = TempFile::new("url.pem", EC_PRIVATE);
    let token = sign_es256(&key, Some(&kid));

    let url = serve("200 OK", json!({"keys": [jwk]}).to_string(), 1);
    let (o, _) = expect(run(&["jwt", "verify", &token, "--jwks", &url]), 0);
    assert!(o.starts_with("valid: ES256"), "{o}");

    let missing = serve("404 Not Found", "{}".into(), 1);
    let (_, e) = expect(run(&["jwt", "verify", &token, "--jwks", &missing]), 1);
    assert!(e.contains("HTTP 404"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
}
