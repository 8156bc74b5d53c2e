//! The access tokens' signing keys, from the contract's environment: `AUTH_JWT_ALG`
//! (`HS256` by default, or `RS256`, `PS256`, `ES256`, `EdDSA`, ...),
//! `AUTH_JWT_PRIVATE_KEY_FILE` (a PKCS#8 PEM private key; absent: an ephemeral key and a
//! warning) and `AUTH_JWT_PREVIOUS_KEY_FILES` (a comma list of PEM files, private or
//! public: still accepted and published, never used to sign).

use auth_core::token::{Algorithm, Key, KeyRing};
use base64::Engine as _;

/// How access tokens are signed.
#[derive(Debug, Clone)]
pub enum AccessSigning {
    /// HS256 with `AUTH_JWT_SECRET` (the default).
    Hmac,
    /// An asymmetric key: `ring` signs with `AUTH_JWT_PRIVATE_KEY_FILE` (or an ephemeral
    /// key) and verifies with it and the previous keys.
    Asymmetric {
        /// `AUTH_JWT_ALG`.
        alg: Algorithm,
        /// The signing key first, then the previous keys (verify only).
        ring: KeyRing,
    },
}

impl AccessSigning {
    /// Reads `AUTH_JWT_ALG`, `AUTH_JWT_PRIVATE_KEY_FILE` and `AUTH_JWT_PREVIOUS_KEY_FILES`
    /// through `get`; warnings (an ephemeral key) are pushed to `warnings`. Every error is
    /// one line naming the variable and the fix.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        warnings: &mut Vec<String>,
    ) -> Result<Self, String> {
        let alg = match get("AUTH_JWT_ALG").filter(|a| !a.is_empty()) {
            None => Algorithm::HS256,
            Some(name) => name
                .parse::<Algorithm>()
                .map_err(|_| {
                    format!(
                        "AUTH_JWT_ALG must be HS256, RS256, PS256, ES256 or EdDSA (or RS384, RS512, PS384, PS512, ES384), got `{name}`"
                    )
                })?,
        };
        let key_file = get("AUTH_JWT_PRIVATE_KEY_FILE").filter(|f| !f.trim().is_empty());
        let previous_files: Vec<String> = get("AUTH_JWT_PREVIOUS_KEY_FILES")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            if alg != Algorithm::HS256 {
                return Err(format!(
                    "AUTH_JWT_ALG={} is not served: use HS256 (with AUTH_JWT_SECRET) or an asymmetric algorithm",
                    alg.as_str()
                ));
            }
            if key_file.is_some() || !previous_files.is_empty() {
                return Err(
                    "AUTH_JWT_PRIVATE_KEY_FILE and AUTH_JWT_PREVIOUS_KEY_FILES need an asymmetric AUTH_JWT_ALG (RS256, PS256, ES256 or EdDSA); HS256 signs with AUTH_JWT_SECRET"
                        .into(),
                );
            }
            return Ok(Self::Hmac);
        }
        let signing = match &key_file {
            Some(path) => {
                let pem = read(path, "AUTH_JWT_PRIVATE_KEY_FILE")?;
                Key::from_private_pem(alg, &pem)
                    .map_err(|e| format!("AUTH_JWT_PRIVATE_KEY_FILE ({path}): {e}"))?
            }
            None => {
                warnings.push(format!(
                    "AUTH_JWT_PRIVATE_KEY_FILE is not set: signing {} access tokens with an ephemeral key; tokens will not survive a restart",
                    alg.as_str()
                ));
                let pem = ephemeral_private_pem(alg)?;
                Key::from_private_pem(alg, pem.as_bytes())
                    .map_err(|e| format!("the ephemeral {} key: {e}", alg.as_str()))?
            }
        };
        let mut ring = KeyRing::new(signing);
        for path in &previous_files {
            let previous = previous_key(alg, path)?;
            ring = ring
                .with_key(previous)
                .map_err(|e| format!("AUTH_JWT_PREVIOUS_KEY_FILES ({path}): {e}"))?;
        }
        Ok(Self::Asymmetric { alg, ring })
    }
}

fn read(path: &str, var: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{var}: cannot read {path}: {e}"))
}

/// A previous key from its PEM file: a private key (its private part dropped) or a public
/// key. Under `alg` when the key fits it, else under its own kind's usual algorithm (a
/// rotation may change the algorithm: RSA keys RS256, P-256 ES256, P-384 ES384, Ed25519
/// EdDSA).
fn previous_key(alg: Algorithm, path: &str) -> Result<Key, String> {
    let pem = read(path, "AUTH_JWT_PREVIOUS_KEY_FILES")?;
    let fallbacks = [
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];
    let mut first_error = None;
    for candidate in std::iter::once(alg).chain(fallbacks) {
        let key = if pem_label_is(&pem, "PUBLIC KEY") {
            Key::from_public_pem(candidate, &pem)
        } else {
            Key::from_private_pem(candidate, &pem).map(|k| k.to_verify_only())
        };
        match key {
            Ok(key) => return Ok(key),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(format!(
        "AUTH_JWT_PREVIOUS_KEY_FILES ({path}): {}",
        first_error.map_or_else(|| "not a key".to_string(), |e| e.to_string())
    ))
}

fn pem_label_is(pem: &[u8], label: &str) -> bool {
    let begin = format!("-----BEGIN {label}-----");
    String::from_utf8_lossy(pem).contains(&begin)
}

/// A fresh PKCS#8 PEM private key for `alg` (RSA 2048, EC P-256 or P-384, Ed25519), for
/// when no key file is configured.
pub fn ephemeral_private_pem(alg: Algorithm) -> Result<String, String> {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
        Ed25519KeyPair,
    };
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let failed = |_| format!("cannot generate an ephemeral {} key", alg.as_str());
    let der: Vec<u8> = match alg {
        Algorithm::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        Algorithm::ES384 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        // PKCS#8 v1 (the seed alone), the form `openssl genpkey` writes.
        Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8v1(&rng)
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            return Err(format!("{} has no private key", alg.as_str()));
        }
        // Every RSA algorithm (RS*, PS*), and any added later that takes an RSA key.
        _ => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(failed)?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> = pair.as_der().map_err(failed)?;
            der.as_ref().to_vec()
        }
    };
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // test code: a bad index fails the test
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn hs256_is_the_default() {
        let mut warnings = Vec::new();
        let signing = AccessSigning::from_lookup(&lookup(&[]), &mut warnings).unwrap();
        assert!(matches!(signing, AccessSigning::Hmac));
        assert!(warnings.is_empty());
    }

    #[test]
    fn every_asymmetric_algorithm_gets_an_ephemeral_key_with_a_warning() {
        for alg in ["RS256", "PS256", "ES256", "ES384", "EdDSA"] {
            let mut warnings = Vec::new();
            let signing =
                AccessSigning::from_lookup(&lookup(&[("AUTH_JWT_ALG", alg.into())]), &mut warnings)
                    .unwrap();
            let AccessSigning::Asymmetric { ring, .. } = signing else {
                panic!("{alg}: not asymmetric");
            };
            assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 1, "{alg}");
            assert_eq!(warnings.len(), 1, "{alg}");
            assert!(warnings[0].contains("ephemeral"), "{alg}");
        }
    }

    #[test]
    fn malformed_settings_are_one_line_errors() {
        let dir = std::env::temp_dir().join(format!("ref-signing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "not a key").unwrap();
        let ec = dir.join("ec.pem");
        std::fs::write(&ec, ephemeral_private_pem(Algorithm::ES256).unwrap()).unwrap();
        let path = |p: &std::path::Path| p.display().to_string();
        let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
            (vec![("AUTH_JWT_ALG", "none".into())], "AUTH_JWT_ALG"),
            (vec![("AUTH_JWT_ALG", "HS512".into())], "AUTH_JWT_ALG"),
            (
                vec![("AUTH_JWT_PRIVATE_KEY_FILE", path(&ec))],
                "asymmetric AUTH_JWT_ALG",
            ),
            (
                vec![
                    ("AUTH_JWT_ALG", "ES256".into()),
                    ("AUTH_JWT_PRIVATE_KEY_FILE", "/nonexistent/key.pem".into()),
                ],
                "cannot read",
            ),
            (
                vec![
                    ("AUTH_JWT_ALG", "ES256".into()),
                    ("AUTH_JWT_PRIVATE_KEY_FILE", path(&garbage)),
                ],
                "PKCS#8",
            ),
            (
                vec![
                    ("AUTH_JWT_ALG", "RS256".into()),
                    ("AUTH_JWT_PRIVATE_KEY_FILE", path(&ec)),
                ],
                "EC P-256",
            ),
            (
                vec![
                    ("AUTH_JWT_ALG", "ES256".into()),
                    ("AUTH_JWT_PRIVATE_KEY_FILE", path(&ec)),
                    ("AUTH_JWT_PREVIOUS_KEY_FILES", path(&ec)),
                ],
                "kid",
            ),
            (
                vec![
                    ("AUTH_JWT_ALG", "ES256".into()),
                    ("AUTH_JWT_PREVIOUS_KEY_FILES", path(&garbage)),
                ],
                "AUTH_JWT_PREVIOUS_KEY_FILES",
            ),
        ];
        for (vars, want) in cases {
            let err = AccessSigning::from_lookup(&lookup(&vars), &mut Vec::new()).unwrap_err();
            assert!(err.contains(want), "{vars:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_previous_key_of_another_algorithm_is_accepted_and_published() {
        let dir = std::env::temp_dir().join(format!("ref-previous-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ec = dir.join("ec.pem");
        std::fs::write(&ec, ephemeral_private_pem(Algorithm::ES256).unwrap()).unwrap();
        let vars = [
            ("AUTH_JWT_ALG", "EdDSA".to_string()),
            (
                "AUTH_JWT_PREVIOUS_KEY_FILES",
                format!(" {} ,", ec.display()),
            ),
        ];
        let signing = AccessSigning::from_lookup(&lookup(&vars), &mut Vec::new()).unwrap();
        let AccessSigning::Asymmetric { ring, .. } = signing else {
            panic!("not asymmetric");
        };
        let jwks = ring.jwks();
        let algs: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["alg"].as_str().unwrap())
            .collect();
        assert_eq!(algs, ["EdDSA", "ES256"]);
        std::fs::remove_dir_all(dir).ok();
    }
}
