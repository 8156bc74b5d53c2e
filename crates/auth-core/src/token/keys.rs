//! Signing and verification keys, addressed by `kid`.

use jsonwebtoken::{DecodingKey, EncodingKey};
use subtle::ConstantTimeEq;

use crate::error::ConfigError;

/// The JWS algorithms this toolkit signs and verifies with. Each key allows exactly its
/// own algorithm; `none` does not exist here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256 (secret of at least 32 bytes).
    HS256,
    /// HMAC with SHA-384 (secret of at least 48 bytes).
    HS384,
    /// HMAC with SHA-512 (secret of at least 64 bytes).
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    Hmac,
    Rsa,
    Ec,
    Ed,
}

impl Algorithm {
    /// The JOSE name (`"HS256"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    pub(crate) fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Self::HS256 => J::HS256,
            Self::HS384 => J::HS384,
            Self::HS512 => J::HS512,
            Self::RS256 => J::RS256,
            Self::RS384 => J::RS384,
            Self::RS512 => J::RS512,
            Self::PS256 => J::PS256,
            Self::PS384 => J::PS384,
            Self::PS512 => J::PS512,
            Self::ES256 => J::ES256,
            Self::ES384 => J::ES384,
            Self::EdDSA => J::EdDSA,
        }
    }

    pub(super) fn family(self) -> Family {
        match self {
            Self::HS256 | Self::HS384 | Self::HS512 => Family::Hmac,
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                Family::Rsa
            }
            Self::ES256 | Self::ES384 => Family::Ec,
            Self::EdDSA => Family::Ed,
        }
    }

    /// RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
    fn min_secret_len(self) -> usize {
        match self {
            Self::HS384 => 48,
            Self::HS512 => 64,
            _ => 32,
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "HS256" => Self::HS256,
            "HS384" => Self::HS384,
            "HS512" => Self::HS512,
            "RS256" => Self::RS256,
            "RS384" => Self::RS384,
            "RS512" => Self::RS512,
            "PS256" => Self::PS256,
            "PS384" => Self::PS384,
            "PS512" => Self::PS512,
            "ES256" => Self::ES256,
            "ES384" => Self::ES384,
            "EdDSA" => Self::EdDSA,
            other => {
                return Err(ConfigError::Invalid {
                    setting: "algorithm",
                    reason: format!(
                        "`{other}` is not supported; use one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
                    ),
                });
            }
        })
    }
}

/// One key of a [`KeyRing`]: a `kid`, its single algorithm, the verification key, and
/// (unless it is verify-only) the signing key.
#[derive(Clone)]
pub struct Key {
    pub(crate) kid: String,
    pub(crate) alg: Algorithm,
    pub(crate) encoding: Option<EncodingKey>,
    pub(crate) decoding: DecodingKey,
    /// The secret (HMAC) or the public key's DER, to refuse one key for two purposes.
    pub(super) material: Vec<u8>,
    /// The public key as a bare JWK (key type and public parameters only), for the JWKS;
    /// `None` for HMAC keys, whose secret is never published.
    pub(super) public: Option<jsonwebtoken::jwk::Jwk>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("can_sign", &self.encoding.is_some())
            .finish_non_exhaustive()
    }
}

impl Key {
    /// An HMAC key (HS256/384/512) from a raw secret.
    ///
    /// Refuses a secret shorter than the hash output (32, 48 or 64 bytes): a short secret
    /// can be brute-forced offline from any token.
    pub fn hmac(
        kid: impl Into<String>,
        alg: Algorithm,
        secret: &[u8],
    ) -> Result<Self, ConfigError> {
        let kid = checked_kid(kid.into())?;
        if alg.family() != Family::Hmac {
            return Err(ConfigError::AlgorithmMismatch {
                kid,
                alg: alg.as_str(),
                kind: "an HMAC secret",
            });
        }
        if secret.len() < alg.min_secret_len() {
            return Err(ConfigError::WeakSecret {
                kid,
                alg: alg.as_str(),
                min: alg.min_secret_len(),
                got: secret.len(),
            });
        }
        let encoding =
            EncodingKey::from_secret(secret).map_err(|e| invalid_key(&kid, alg, "secret", &e))?;
        let decoding =
            DecodingKey::from_secret(secret).map_err(|e| invalid_key(&kid, alg, "secret", &e))?;
        Ok(Self {
            kid,
            alg,
            encoding: Some(encoding),
            decoding,
            material: secret.to_vec(),
            public: None,
        })
    }

    /// An asymmetric key pair from PEM: the private key (PKCS#1 or PKCS#8; EC and Ed25519
    /// keys in PKCS#8) signs, the public key (SPKI) verifies. The pair is checked by
    /// signing and verifying a probe, so a mismatched pair fails here, not on a request.
    pub fn from_pem(
        kid: impl Into<String>,
        alg: Algorithm,
        private_pem: &[u8],
        public_pem: &[u8],
    ) -> Result<Self, ConfigError> {
        let mut key = Self::public_pem(kid, alg, public_pem)?;
        let encoding = match alg.family() {
            Family::Rsa => EncodingKey::from_rsa_pem(private_pem),
            Family::Ec => EncodingKey::from_ec_pem(private_pem),
            Family::Ed => EncodingKey::from_ed_pem(private_pem),
            // `public_pem` above already refused HMAC; answer with the same error anyway.
            Family::Hmac => {
                return Err(ConfigError::AlgorithmMismatch {
                    kid: key.kid,
                    alg: alg.as_str(),
                    kind: "a PEM key (HMAC keys are raw secrets: use Key::hmac)",
                });
            }
        }
        .map_err(|e| invalid_key(&key.kid, alg, "private", &e))?;

        let probe = b"auth-core key pair probe";
        let signature = jsonwebtoken::crypto::sign(probe, &encoding, alg.to_jwt())
            .map_err(|e| invalid_key(&key.kid, alg, "private", &e))?;
        let ok = jsonwebtoken::crypto::verify(&signature, probe, &key.decoding, alg.to_jwt())
            .map_err(|e| invalid_key(&key.kid, alg, "public", &e))?;
        if !ok {
            return Err(ConfigError::InvalidKey {
                kid: key.kid,
                expected: "matching private/public",
                reason: format!(
                    "a probe signed with the private key does not verify with the public key under {}",
                    alg.as_str()
                ),
            });
        }
        key.encoding = Some(encoding);
        Ok(key)
    }

    /// A verify-only key from a public key PEM (SPKI): for tokens signed elsewhere, or for
    /// a retired key kept to accept tokens it signed until they expire.
    pub fn public_pem(
        kid: impl Into<String>,
        alg: Algorithm,
        public_pem: &[u8],
    ) -> Result<Self, ConfigError> {
        let kid = checked_kid(kid.into())?;
        let decoding = match alg.family() {
            Family::Rsa => DecodingKey::from_rsa_pem(public_pem),
            Family::Ec => DecodingKey::from_ec_pem(public_pem),
            Family::Ed => DecodingKey::from_ed_pem(public_pem),
            Family::Hmac => {
                return Err(ConfigError::AlgorithmMismatch {
                    kid,
                    alg: alg.as_str(),
                    kind: "a PEM key (HMAC keys are raw secrets: use Key::hmac)",
                });
            }
        }
        .map_err(|e| invalid_key(&kid, alg, "public", &e))?;
        Ok(Self::verify_only(kid, alg, decoding))
    }

    pub(super) fn verify_only(kid: String, alg: Algorithm, decoding: DecodingKey) -> Self {
        let material = decoding
            .try_get_as_bytes()
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        // The public parameters for the JWKS; a key whose parameters cannot be read back
        // still verifies, it is only left out of the published set.
        let public = jsonwebtoken::jwk::Jwk::from_decoding_key(&decoding, Some(alg.to_jwt()))
            .ok()
            .map(super::jwks::bare);
        Self {
            kid,
            alg,
            encoding: None,
            decoding,
            material,
            public,
        }
    }

    /// A verify-only key from a public JWK (RFC 7517): RSA (`n`, `e`), EC (`crv`, `x`,
    /// `y`) or OKP Ed25519 (`x`), for `alg`. A JWK whose own `alg` differs is refused,
    /// as is a symmetric (`oct`) JWK: HMAC secrets go through [`Key::hmac`].
    pub fn public_jwk(
        kid: impl Into<String>,
        alg: Algorithm,
        jwk_json: &str,
    ) -> Result<Self, ConfigError> {
        let kid = checked_kid(kid.into())?;
        let bad = |reason: String| ConfigError::InvalidKey {
            kid: kid.clone(),
            expected: "public JWK",
            reason,
        };
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_str(jwk_json).map_err(|e| bad(format!("not a JWK ({e})")))?;
        if let Some(use_) = &jwk.common.public_key_use
            && *use_ != jsonwebtoken::jwk::PublicKeyUse::Signature
        {
            return Err(bad(format!("the JWK's `use` is {use_:?}, not `sig`")));
        }
        if let Some(own) = jwk.common.key_algorithm
            && format!("{own:?}") != alg.as_str()
        {
            return Err(bad(format!("the JWK is for {own:?}, not {}", alg.as_str())));
        }
        use jsonwebtoken::jwk::AlgorithmParameters as P;
        let fits = matches!(
            (&jwk.algorithm, alg.family()),
            (P::RSA(_), Family::Rsa)
                | (P::EllipticCurve(_), Family::Ec)
                | (P::OctetKeyPair(_), Family::Ed)
        );
        if !fits {
            return Err(ConfigError::AlgorithmMismatch {
                kid,
                alg: alg.as_str(),
                kind: "this kind of JWK (HMAC secrets go through Key::hmac)",
            });
        }
        if let (P::EllipticCurve(ec), Some(want)) = (
            &jwk.algorithm,
            match alg {
                Algorithm::ES256 => Some(jsonwebtoken::jwk::EllipticCurve::P256),
                Algorithm::ES384 => Some(jsonwebtoken::jwk::EllipticCurve::P384),
                _ => None,
            },
        ) && ec.curve != want
        {
            return Err(bad(format!(
                "the curve {:?} does not fit {}",
                ec.curve,
                alg.as_str()
            )));
        }
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| bad(e.to_string()))?;
        Ok(Self::verify_only(kid, alg, decoding))
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key is allowed to be used with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Whether this key can sign (it has a secret or private key).
    pub fn can_sign(&self) -> bool {
        self.encoding.is_some()
    }

    fn same_material(&self, other: &Key) -> bool {
        !self.material.is_empty() && bool::from(self.material.ct_eq(&other.material))
    }
}

pub(super) fn checked_kid(kid: String) -> Result<String, ConfigError> {
    if kid.is_empty() || kid.len() > 64 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::InvalidKid(kid));
    }
    Ok(kid)
}

fn invalid_key(
    kid: &str,
    alg: Algorithm,
    part: &str,
    err: &jsonwebtoken::errors::Error,
) -> ConfigError {
    let expected = match (alg.family(), part) {
        (Family::Rsa, "private") => "RSA private",
        (Family::Rsa, _) => "RSA public",
        (Family::Ec, "private") => "EC private (PKCS#8)",
        (Family::Ec, _) => "EC public",
        (Family::Ed, "private") => "Ed25519 private (PKCS#8)",
        (Family::Ed, _) => "Ed25519 public",
        (Family::Hmac, _) => "HMAC",
    };
    ConfigError::InvalidKey {
        kid: kid.to_string(),
        expected,
        reason: format!("{err} (for {})", alg.as_str()),
    }
}

/// The keys of one token kind: one signs, all verify.
///
/// Rotation without logging anyone out: add the new key as the signer and keep the old
/// one in the ring until the longest-lived token it signed has expired, then drop it.
///
/// ```
/// use auth_core::token::{Algorithm, Key, KeyRing};
///
/// let new = Key::hmac("2026-12", Algorithm::HS256, &[7u8; 32])?;
/// let old = Key::hmac("2026-11", Algorithm::HS256, &[9u8; 32])?;
/// let ring = KeyRing::new(new).with_key(old)?;
/// assert_eq!(ring.signing_kid(), "2026-12");
/// # Ok::<(), auth_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeyRing {
    pub(crate) keys: Vec<Key>,
}

impl KeyRing {
    /// A ring whose signing key is `signing`. It must be able to sign; this is checked
    /// when the ring is handed to [`TokenService::new`](crate::token::TokenService::new).
    pub fn new(signing: Key) -> Self {
        Self {
            keys: vec![signing],
        }
    }

    /// Adds a key that verifies but does not sign (typically the previous signing key).
    pub fn with_key(mut self, key: Key) -> Result<Self, ConfigError> {
        if self.keys.iter().any(|k| k.kid == key.kid) {
            return Err(ConfigError::DuplicateKid(key.kid));
        }
        self.keys.push(key);
        Ok(self)
    }

    /// The `kid` that new tokens carry.
    pub fn signing_kid(&self) -> &str {
        &self.signing().kid
    }

    // In bounds: `keys[0]` always exists, because the only constructor takes the signing
    // key and keys are only ever added.
    #[allow(clippy::indexing_slicing)]
    pub(crate) fn signing(&self) -> &Key {
        &self.keys[0]
    }

    pub(crate) fn shares_material_with(&self, other: &KeyRing) -> bool {
        self.keys
            .iter()
            .any(|a| other.keys.iter().any(|b| a.same_material(b)))
    }
}
