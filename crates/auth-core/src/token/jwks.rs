//! Our own asymmetric keys: a signing key from a PKCS#8 PEM private key alone (public
//! key, `kid` and verification key derived from it), the public JWK of a key, and the
//! JWK set (RFC 7517 §5) of a ring, for `GET /.well-known/jwks.json`.
//!
//! Only public parameters are ever published: HMAC keys are left out entirely, and an
//! asymmetric key's JWK is built from its public half, never from the private key.

use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, KeyAlgorithm, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};

use super::keys::{Family, checked_kid};
use super::{Algorithm, Key, KeyRing, TokenService};
use crate::error::ConfigError;

/// The smallest RSA modulus accepted for signing, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// A JWK reduced to its key type and public parameters (no `kid`, `alg`, `use`).
pub(super) fn bare(jwk: Jwk) -> Jwk {
    Jwk {
        common: CommonParameters::default(),
        algorithm: jwk.algorithm,
    }
}

/// The RFC 7638 thumbprint (SHA-256, base64url) of a public JWK.
///
/// RSA and EC keys go through `jsonwebtoken`'s `Jwk::thumbprint`. Ed25519 (OKP) keys are
/// hashed here per RFC 8037 §2 (`{"crv":"Ed25519","kty":"OKP","x":"..."}`), so the result
/// does not depend on which of `jsonwebtoken`'s branches accepts them.
fn thumbprint(jwk: &Jwk) -> Option<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use sha2::{Digest as _, Sha256};
    match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(okp) => {
            let canonical = json!({"crv": "Ed25519", "kty": "OKP", "x": okp.x});
            // serde_json's maps are sorted by key and compact: the RFC 7638 form.
            let bytes = serde_json::to_vec(&canonical).ok()?;
            Some(B64.encode(Sha256::digest(bytes)))
        }
        AlgorithmParameters::RSA(_) | AlgorithmParameters::EllipticCurve(_) => {
            jwk.thumbprint(ThumbprintHash::SHA256).ok()
        }
        _ => None,
    }
}

/// What kind of private key a PEM holds, to name it when it does not fit the algorithm.
fn private_key_kind(pem: &[u8]) -> Option<&'static str> {
    let candidates: [(Algorithm, &'static str); 4] = [
        (Algorithm::RS256, "an RSA key"),
        (Algorithm::ES256, "an EC P-256 key"),
        (Algorithm::ES384, "an EC P-384 key"),
        (Algorithm::EdDSA, "an Ed25519 key"),
    ];
    candidates
        .into_iter()
        .find(|(alg, _)| parse_private(*alg, pem).is_ok())
        .map(|(_, kind)| kind)
}

/// The signing key and its public JWK, for an asymmetric `alg`; the error is the
/// parser's reason.
fn parse_private(alg: Algorithm, pem: &[u8]) -> Result<(EncodingKey, Jwk), String> {
    let encoding = match alg.family() {
        Family::Rsa => EncodingKey::from_rsa_pem(pem),
        Family::Ec => EncodingKey::from_ec_pem(pem),
        Family::Ed => EncodingKey::from_ed_pem(pem),
        Family::Hmac => return Err("an HMAC algorithm has no private key".into()),
    }
    .map_err(|e| e.to_string())?;
    let jwk = Jwk::from_encoding_key(&encoding, alg.to_jwt()).map_err(|e| e.to_string())?;
    Ok((encoding, bare(jwk)))
}

/// aws-lc refuses RSA keys under 2048 bits while reading them, with this reason.
fn is_small_rsa(alg: Algorithm, reason: &str) -> bool {
    alg.family() == Family::Rsa && reason.contains("TooSmall")
}

impl Key {
    /// A signing key for an asymmetric `alg` (RS256/384/512, PS256/384/512, ES256,
    /// ES384, EdDSA) from a PEM private key alone (PKCS#8 `PRIVATE KEY`; RSA keys may
    /// also be PKCS#1). The public key is derived from it, and the `kid` is the public
    /// key's RFC 7638 thumbprint (SHA-256, base64url): stable across restarts with the
    /// same key, different for every key, and computable by anyone from the JWKS.
    ///
    /// Refuses: an HMAC `alg` ([`ConfigError::HmacAlgorithmForPrivateKey`]), a PEM that
    /// holds another kind of key, an EC key of the other curve, or an RSA key under 2048
    /// bits ([`ConfigError::WrongKeyType`]), and anything that is not a readable PEM
    /// private key ([`ConfigError::BadPrivateKeyPem`]). The pair is checked by signing
    /// and verifying a probe.
    pub fn from_private_pem(alg: Algorithm, pem: &[u8]) -> Result<Self, ConfigError> {
        if alg.family() == Family::Hmac {
            return Err(ConfigError::HmacAlgorithmForPrivateKey { alg: alg.as_str() });
        }
        let wrong_type = |found: &'static str| ConfigError::WrongKeyType {
            alg: alg.as_str(),
            found,
        };
        let (encoding, public) = match parse_private(alg, pem) {
            Ok(parsed) => parsed,
            Err(reason) if is_small_rsa(alg, &reason) => {
                return Err(wrong_type("an RSA key under 2048 bits"));
            }
            Err(reason) => {
                return Err(match private_key_kind(pem) {
                    Some(found) => wrong_type(found),
                    None => ConfigError::BadPrivateKeyPem {
                        alg: alg.as_str(),
                        reason,
                    },
                });
            }
        };
        if let AlgorithmParameters::RSA(rsa) = &public.algorithm {
            use base64::Engine as _;
            use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
            let modulus = B64.decode(&rsa.n).unwrap_or_default();
            let significant = modulus.iter().skip_while(|b| **b == 0).count();
            if significant < MIN_RSA_MODULUS_BYTES {
                return Err(wrong_type("an RSA key under 2048 bits"));
            }
        }
        let bad = |reason: String| ConfigError::BadPrivateKeyPem {
            alg: alg.as_str(),
            reason,
        };
        let kid = thumbprint(&public)
            .ok_or_else(|| bad("its public key has no RFC 7638 thumbprint".into()))?;
        let kid = checked_kid(kid)?;
        let decoding = DecodingKey::from_jwk(&public).map_err(|e| bad(e.to_string()))?;

        let probe = b"auth-core private key probe";
        let signature = jsonwebtoken::crypto::sign(probe, &encoding, alg.to_jwt())
            .map_err(|e| bad(e.to_string()))?;
        let verified = jsonwebtoken::crypto::verify(&signature, probe, &decoding, alg.to_jwt())
            .map_err(|e| bad(e.to_string()))?;
        if !verified {
            return Err(bad(
                "a probe signed with it does not verify with the public key derived from it".into(),
            ));
        }
        let mut key = Self::verify_only(kid, alg, decoding);
        // The JWK derived from the private key is the reference (the decoding key's
        // read-back is only a fallback for verify-only keys).
        key.public = Some(public);
        key.encoding = Some(encoding);
        Ok(key)
    }

    /// A verify-only key from a public key PEM (SPKI, `PUBLIC KEY`) whose `kid` is its
    /// RFC 7638 thumbprint, as [`Key::from_private_pem`] names the signing key: a
    /// previous signing key kept only to accept (and publish) the tokens it signed.
    pub fn from_public_pem(alg: Algorithm, pem: &[u8]) -> Result<Self, ConfigError> {
        // The kid is known only once the key is read: read it under a placeholder.
        let mut key = Self::public_pem("thumbprint", alg, pem)?;
        key.kid = key
            .thumbprint()
            .ok_or_else(|| ConfigError::InvalidKey {
                kid: "thumbprint".into(),
                expected: "public",
                reason: "its public parameters cannot be read back for a thumbprint".into(),
            })
            .and_then(checked_kid)?;
        Ok(key)
    }

    /// The same key without its private part: it verifies (and is published) but can
    /// no longer sign. For a previous signing key read from its private PEM.
    pub fn to_verify_only(&self) -> Self {
        Self {
            encoding: None,
            ..self.clone()
        }
    }

    /// This key's public JWK (RFC 7517) with its `kid`, `alg` and `"use": "sig"`: `kty`
    /// and the public parameters only (`n`, `e`; `crv`, `x`, `y`; or `crv`, `x`), never a
    /// private member. `None` for HMAC keys, whose secret is never published.
    pub fn public_jwk_value(&self) -> Option<Value> {
        let public = self.public.as_ref()?;
        let jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: self.alg.as_str().parse::<KeyAlgorithm>().ok(),
                key_id: Some(self.kid.clone()),
                ..CommonParameters::default()
            },
            algorithm: public.algorithm.clone(),
        };
        serde_json::to_value(jwk).ok()
    }

    /// The RFC 7638 thumbprint (SHA-256, base64url) of this key's public key; `None` for
    /// HMAC keys. For a key made by [`Key::from_private_pem`] it is the `kid`.
    pub fn thumbprint(&self) -> Option<String> {
        self.public.as_ref().and_then(thumbprint)
    }
}

impl KeyRing {
    /// The JWK set (`{"keys": [...]}`) of this ring's asymmetric keys, signing key first,
    /// each as [`Key::public_jwk_value`]. HMAC keys are left out, so an HMAC ring gives
    /// `{"keys": []}`.
    pub fn jwks(&self) -> Value {
        jwk_set(self.keys.iter())
    }
}

impl TokenService {
    /// The JWK set of the keys that verify access tokens now (the signing key first,
    /// then the previous keys still accepted), as [`KeyRing::jwks`]: what
    /// `GET /.well-known/jwks.json` publishes. Refresh-token keys are never published
    /// (only this service verifies refresh tokens).
    pub fn jwks(&self) -> Value {
        let now = self.inner.clock.unix_seconds();
        let rings = self.inner.rings.load();
        jwk_set(rings.access.live(now).map(|k| &k.key))
    }
}

fn jwk_set<'k>(keys: impl Iterator<Item = &'k Key>) -> Value {
    let keys: Vec<Value> = keys.filter_map(Key::public_jwk_value).collect();
    json!({ "keys": keys })
}
