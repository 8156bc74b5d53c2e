//! The fuzz targets' bodies, shared by the libFuzzer binaries (`fuzz_targets/`) and by
//! the corpus replay test (`tests/corpus.rs`, part of `cargo test`). Each feeds
//! attacker-controlled bytes to one parser a request reaches and checks what must hold
//! whatever the input: no panic, bounded output, and answers from the core's table.
//!
//! ```
//! auth_fuzz::bearer_header(b"Bearer abc.def.ghi");
//! auth_fuzz::token_form(b"\x00grant_type=password&username=a&password=b");
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)] // an invariant that fails must crash

use std::sync::OnceLock;

use auth_core::adapter::SimpleRequest;
use auth_core::credential::{MemoryUsers, PasswordParams};
use auth_core::{Auth, AuthBuilder};

struct Fixture {
    runtime: tokio::runtime::Runtime,
    auth: Auth,
    /// A valid access token, so mutations start from a real one.
    pub token: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let auth = AuthBuilder::new(
            b"fuzz-access-secret-of-at-least-32-bytes!",
            b"fuzz-refresh-secret-of-at-least-32-byte!",
        )
        .issuer("fuzz")
        .audience("fuzz")
        // Cheap hashing: the dummy verify of unknown users runs on every login attempt.
        .password_params(PasswordParams {
            m_cost: 8,
            t_cost: 1,
            p_cost: 1,
        })
        .users(std::sync::Arc::new(MemoryUsers::new()))
        .build()
        .unwrap();
        let user = auth_core::credential::User {
            id: "1".into(),
            username: "fuzz".into(),
            email: None,
            roles: vec!["admin".into()],
            password_hash: String::new(),
            disabled: false,
            data: serde_json::Value::Null,
        };
        let token = runtime
            .block_on(auth.tokens().login(&user, None))
            .unwrap()
            .access
            .token;
        Fixture {
            runtime,
            auth,
            token,
        }
    })
}

/// A valid access token of the fuzz fixture (for seeding corpora).
pub fn valid_token() -> String {
    fixture().token.clone()
}

/// `Authorization` header parsing (`Auth::bearer_token`).
pub fn bearer_header(data: &[u8]) {
    let f = fixture();
    let request = SimpleRequest::new().header("authorization", data.to_vec());
    match f.auth.bearer_token(&request) {
        Ok(token) => {
            assert!(!token.is_empty() && !token.contains(' '));
            assert!(token.len() <= 8 * 1024);
            assert!(token.bytes().all(|b| (0x21..0x7f).contains(&b)));
        }
        Err(e) => assert_table(&e),
    }
}

/// Token verification (`TokenService::verify_access` and `verify_refresh`).
pub fn token_verify(data: &[u8]) {
    let f = fixture();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let tokens = f.auth.tokens().tokens();
    match tokens.verify_access(text) {
        // Only the fixture's own token (or one equal to it) verifies.
        Ok(claims) => assert_eq!(text, f.token, "{claims:?}"),
        Err(e) => assert_table(&e.into()),
    }
    assert!(
        tokens.verify_refresh(text).is_err(),
        "an access token is never a refresh token"
    );
}

/// The fuzz fixture's access-token secret, to sign headers the fuzzer makes up.
const ACCESS_SECRET: &[u8] = b"fuzz-access-secret-of-at-least-32-bytes!";

/// Verification of a token whose JOSE header the input makes up and which is MACed with
/// the fixture's real access key, so that `typ` (and the rest) are reached after the
/// key lookup (issue #21: a multibyte `typ` panicked there).
///
/// The first byte picks what the input controls: bit 0 the `kid` (else the real one),
/// bit 1 the `alg` (else `HS256`), bit 2 leaves `typ` out, bit 3 prefixes it with
/// `application/`. The rest, split at NUL bytes, is `typ`, `kid`, `alg`, each read as
/// lossy UTF-8 (so invalid bytes become the 3-byte U+FFFD: multibyte text either way).
/// The answer must be what a model of the header rules predicts, as a typed error.
pub fn token_header(data: &[u8]) {
    use auth_core::TokenError;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    let f = fixture();
    let (selector, rest) = data.split_first().unwrap_or((&0, &[]));
    let mut fields = rest.split(|b| *b == 0).map(String::from_utf8_lossy);
    let (typ, kid, alg) = (
        fields.next().unwrap_or_default(),
        fields.next().unwrap_or_default(),
        fields.next().unwrap_or_default(),
    );
    let mut segments = f.token.split('.');
    let mut decode = || -> serde_json::Value {
        serde_json::from_slice(&B64.decode(segments.next().unwrap()).unwrap()).unwrap()
    };
    let (real, mut claims) = (decode(), decode());
    let real_kid = real["kid"].as_str().unwrap();
    // The fixture's claims, with an `exp` that outlasts any fuzzing run (2096).
    claims["exp"] = serde_json::json!(4_000_000_000u64);
    let claims_b64 = B64.encode(claims.to_string());

    let kid = if selector & 1 != 0 {
        kid.as_ref()
    } else {
        real_kid
    };
    let alg = if selector & 2 != 0 {
        alg.as_ref()
    } else {
        "HS256"
    };
    let typ = (selector & 4 == 0).then(|| {
        if selector & 8 != 0 {
            format!("application/{typ}")
        } else {
            typ.into_owned()
        }
    });
    let mut header = serde_json::json!({"alg": alg, "kid": kid});
    if let Some(typ) = &typ {
        header["typ"] = serde_json::json!(typ);
    }
    let message = format!("{}.{claims_b64}", B64.encode(header.to_string()));
    let key = jsonwebtoken::EncodingKey::from_secret(ACCESS_SECRET).unwrap();
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
            .unwrap();
    let token = format!("{message}.{signature}");

    // The model: the length first, then the kid, then exactly the key's alg, then the typ (RFC 7515
    // §4.1.9: ASCII case-insensitive, `application/` optional), then the signature.
    let typ_ok = typ.as_deref().is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t == "at+jwt" || t == "application/at+jwt"
    });
    let expected = if token.len() > 8 * 1024 {
        // The default `max_token_bytes`: refused before any decoding.
        Err(TokenError::TooLong)
    } else if kid != real_kid {
        Err(TokenError::UnknownKey)
    } else if alg != "HS256" {
        Err(TokenError::AlgorithmNotAllowed)
    } else if !typ_ok {
        Err(TokenError::WrongHeaderType)
    } else {
        Ok(())
    };
    let tokens = f.auth.tokens().tokens();
    let got = tokens.verify_access(&token);
    match (&got, &expected) {
        (Ok(claims), Ok(())) => assert_eq!(claims.sub, "1"),
        (Err(e), Err(want)) => {
            assert_eq!(e, want, "header {header}");
            assert_table(&e.clone().into());
        }
        _ => panic!("header {header}: got {got:?}, expected {expected:?}"),
    }
    assert!(tokens.verify_refresh(&token).is_err());
}

/// `Cookie` header parsing (`SessionManager::presented_id`, then a store lookup).
pub fn cookie_header(data: &[u8]) {
    let f = fixture();
    let request = SimpleRequest::new().header("cookie", data.to_vec());
    let sessions = &f.auth.sessions();
    if let Some(id) = sessions.presented_id(&request) {
        assert_eq!(id.len(), 43);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
    match f.runtime.block_on(sessions.load(&request)) {
        Ok(session) => assert!(session.is_none(), "no session was ever started"),
        Err(e) => assert_table(&e),
    }
}

/// The token endpoint: the first byte picks the `Content-Type`, the rest is the body.
pub fn token_form(data: &[u8]) {
    let f = fixture();
    let (selector, body) = data.split_first().unwrap_or((&0, &[]));
    let content_type = match selector % 4 {
        0 => Some("application/x-www-form-urlencoded"),
        1 => Some("application/x-www-form-urlencoded; charset=utf-8"),
        2 => Some("application/json"),
        _ => None,
    };
    let mut request = SimpleRequest::new().with_method("POST");
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let reply = f.runtime.block_on(f.auth.token_endpoint(&request, body));
    // No user exists: nothing can be issued, whatever the form says.
    assert!(matches!(reply.status(), 400 | 401 | 429), "{reply:?}");
    let body: serde_json::Value = serde_json::from_str(reply.body()).unwrap();
    assert!(body["error"].is_string());
}

/// API keys: the format check, then the digest lookup.
pub fn api_key(data: &[u8]) {
    let f = fixture();
    let Ok(key) = std::str::from_utf8(data) else {
        return;
    };
    let keys = &f.auth.api_keys();
    let _ = keys.well_formed(key);
    let err = f
        .runtime
        .block_on(keys.verify(key))
        .expect_err("no key is registered");
    assert_eq!(err.to_response().status, 401);
}

/// Every refusal renders through the core's table as a 4xx problem with a JSON body.
fn assert_table(e: &auth_core::AuthError) {
    let reply = e.to_response();
    assert!((400..500).contains(&reply.status), "{reply:?}");
    serde_json::from_str::<serde_json::Value>(&reply.body).unwrap();
}
