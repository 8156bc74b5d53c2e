//! External test vectors: Wycheproof JWS (through our key ring's rules), RFC 7636
//! Appendix B (PKCE S256) and RFC 9106 §5.3 (Argon2id).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)] // a test fails by panicking

use auth_core::token::{Algorithm, Key, KeyRing};
use base64::Engine as _;
use serde_json::Value;

/// Cases where our answer differs from the file's label, each for a stated reason; the
/// test asserts our answer for each, so a change shows up.
/// (tcId, what we answer: accepted?, why)
const DEVIATIONS: &[(u64, bool, &str)] = &[
    (
        346,
        false,
        "RFC 7520 Figure 20 signs PS384, but the group's JWK says `alg: PS256`: one algorithm per key (RFC 8725 §3.1, RFC 7517 §4.4)",
    ),
    (350, false, "as 346"),
    (
        367,
        true,
        "labelled invalid, yet byte-identical to tcId 357 (ValidMac, labelled valid): the labels contradict each other; the MAC is canonical and correct",
    ),
    (370, true, "as 367"),
    (
        372,
        false,
        "labelled valid, but a `?` is inserted in the header: not base64url (RFC 7515 §2)",
    ),
    (
        373,
        false,
        "labelled valid, but a `?` is inserted in the payload: not base64url",
    ),
];

/// Every Wycheproof JWS case: valid ones accepted, invalid ones refused, by
/// `KeyRing::verify_jws` (one algorithm per key, `kid` required, `jku`/`jwk`/`x5u`/
/// `x5c`/`crit` refused, unknown header parameters refused). Keys whose algorithm we do
/// not support (ES512 over P-521: jsonwebtoken has no P-521) or that name no algorithm
/// cannot be configured at all, so every token for them is refused; those groups are
/// counted separately and their valid cases listed.
#[test]
fn wycheproof_jws() {
    let text = include_str!("vectors/wycheproof/json_web_signature_test.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    let (mut accepted_valid, mut refused_invalid, mut deviations) = (0, 0, 0);
    let mut unconfigurable: Vec<(String, usize, usize)> = Vec::new();
    let mut failures = Vec::new();
    for group in doc["testGroups"].as_array().unwrap() {
        let jwk = group
            .get("private")
            .or_else(|| group.get("public"))
            .unwrap();
        let kid = jwk["kid"].as_str().unwrap_or("no-kid");
        let alg = jwk["alg"]
            .as_str()
            .and_then(|a| a.parse::<Algorithm>().ok());
        let key = match (jwk["kty"].as_str(), alg) {
            (Some("oct"), Some(alg)) => {
                let k = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(jwk["k"].as_str().unwrap())
                    .unwrap();
                Key::hmac(kid, alg, &k).ok()
            }
            (_, Some(alg)) => {
                // A private JWK also carries the public members; keep only those.
                let mut public = jwk.clone();
                for private in ["d", "p", "q", "dp", "dq", "qi"] {
                    public.as_object_mut().unwrap().remove(private);
                }
                Some(Key::public_jwk(kid, alg, &public.to_string()).unwrap())
            }
            _ => None,
        };
        let tests = group["tests"].as_array().unwrap();
        let Some(key) = key else {
            let valid = tests.iter().filter(|t| t["result"] == "valid").count();
            unconfigurable.push((format!("{} {}", jwk["kty"], jwk["alg"]), tests.len(), valid));
            continue;
        };
        let ring = KeyRing::new(key);
        for t in tests {
            let jws = t["jws"].as_str().unwrap();
            let outcome = ring.verify_jws(jws);
            if let Some((id, accepted, why)) =
                DEVIATIONS.iter().find(|d| Some(d.0) == t["tcId"].as_u64())
            {
                assert_eq!(outcome.is_ok(), *accepted, "tcId {id}: {why}: {outcome:?}");
                deviations += 1;
                continue;
            }
            match (t["result"].as_str().unwrap(), &outcome) {
                ("valid", Ok(_)) => accepted_valid += 1,
                ("invalid", Err(_)) => refused_invalid += 1,
                (want, got) => failures.push(format!(
                    "tcId {} ({}): expected {want}, got {got:?}",
                    t["tcId"], t["comment"]
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let skipped_valid: usize = unconfigurable.iter().map(|u| u.2).sum();
    let skipped: usize = unconfigurable.iter().map(|u| u.1).sum();
    println!(
        "wycheproof: {accepted_valid} valid accepted, {refused_invalid} invalid refused, {deviations} documented deviations; \
         {skipped} cases ({skipped_valid} valid) for keys that cannot be configured: {unconfigurable:?}"
    );
    assert_eq!(deviations, DEVIATIONS.len());
    assert_eq!(accepted_valid + refused_invalid + deviations + skipped, 401);
    // Only the P-521 groups may hold valid cases we cannot accept.
    assert!(
        unconfigurable
            .iter()
            .all(|(what, _, valid)| *valid == 0 || what.contains("ES521")),
        "{unconfigurable:?}"
    );
    assert!(
        Key::public_jwk(
            "k",
            Algorithm::ES256,
            r#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#
        )
        .is_err()
    );
    // A JWK meant for encryption is never a verification key (tcIds 353-354's rule).
    let enc = r#"{"kty":"EC","use":"enc","crv":"P-256","x":"b9fURk_JEU-4l3UdnDRUwx7j2JDY1WavgZ5rG0lPxvc","y":"4bgIocw3rY03hsoxtQmr12-iwNMuYCr8DXP748hIXxI"}"#;
    assert!(Key::public_jwk("k", Algorithm::ES256, enc).is_err());
    assert!(Key::public_jwk("k", Algorithm::ES256, &enc.replace("enc", "sig")).is_ok());
}

/// The PKCE of third-party login is the `oauth2` crate's (feature `third-party`).
#[cfg(feature = "third-party")]
#[test]
fn rfc_7636_appendix_b_pkce_s256() {
    let verifier =
        oauth2::PkceCodeVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
    let challenge = oauth2::PkceCodeChallenge::from_code_verifier_sha256(&verifier);
    assert_eq!(
        challenge.as_str(),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    assert_eq!(challenge.method().as_str(), "S256");
}

/// RFC 9106 §5.3: Argon2id, version 0x13, m = 32 KiB, t = 3, p = 4, tag 32 bytes,
/// password 32 × 0x01, salt 16 × 0x02, secret 8 × 0x03, associated data 12 × 0x04.
#[test]
fn rfc_9106_argon2id_vector() {
    use argon2::{Argon2, AssociatedData, ParamsBuilder, Version};
    let params = ParamsBuilder::new()
        .m_cost(32)
        .t_cost(3)
        .p_cost(4)
        .output_len(32)
        .data(AssociatedData::new(&[4u8; 12]).unwrap())
        .build()
        .unwrap();
    let secret = [3u8; 8];
    let argon =
        Argon2::new_with_secret(&secret, argon2::Algorithm::Argon2id, Version::V0x13, params)
            .unwrap();
    let mut tag = [0u8; 32];
    argon
        .hash_password_into(&[1u8; 32], &[2u8; 16], &mut tag)
        .unwrap();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
    );
}
