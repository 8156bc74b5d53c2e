//! Typed errors. [`AuthError`] is what a request can fail with; [`crate::http`] maps each
//! variant to exactly one HTTP answer. Configuration mistakes are [`ConfigError`]s and
//! happen at start-up, never on a request.

use std::borrow::Cow;

/// Why a presented token was refused.
///
/// The `Display` text is safe to send to the client (it becomes the RFC 6750
/// `error_description`): it never contains the token, a claim value or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is longer than the configured maximum; it was not decoded.
    #[error("the token is too long")]
    TooLong,
    /// Not three base64url segments, bad base64, or a header or claims set that is not
    /// the JSON this service issues.
    #[error("the token is malformed")]
    Malformed,
    /// The header carries a parameter this service refuses (`crit`, `jku`, `x5u`, `jwk`,
    /// `x5c`): such tokens are never issued here and keys are never fetched from a token.
    #[error("the token header carries an unsupported parameter")]
    UnsupportedHeader,
    /// The header `typ` is not the one this service issues.
    #[error("the token has the wrong type header")]
    WrongHeaderType,
    /// No `kid`, or a `kid` that is not in the key ring (for example a rotated-out key).
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    /// The header `alg` is not the algorithm of the key named by `kid` (includes `none`).
    #[error("the token's algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// The signature does not verify.
    #[error("the token signature is invalid")]
    BadSignature,
    /// A required claim is missing or has the wrong JSON type.
    #[error("the token lacks a required claim")]
    MissingClaim,
    /// `exp` is in the past, beyond the leeway.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future, beyond the leeway.
    #[error("the token was issued in the future")]
    IssuedInFuture,
    /// `iss` is not the configured issuer.
    #[error("the token has the wrong issuer")]
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    #[error("the token has the wrong audience")]
    WrongAudience,
    /// An access token where a refresh token was expected, or the reverse.
    #[error("the token is of the wrong type for this use")]
    WrongTokenType,
    /// The token (its `jti`, its family or its user) has been revoked.
    #[error("the token has been revoked")]
    Revoked,
}

/// The machine-readable error codes of the OAuth 2.0 token endpoint (RFC 6749 §5.2, plus
/// `slow_down` and `temporarily_unavailable` from the IANA OAuth error registry for
/// throttling and an unreachable store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The grant (password, refresh token) is invalid, expired or revoked.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The `grant_type` is not supported.
    UnsupportedGrantType,
    /// The requested scope is invalid, unknown or exceeds what may be granted.
    InvalidScope,
    /// Too many failed attempts: wait for `Retry-After`.
    SlowDown,
    /// The state store could not be reached; nothing was granted.
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    /// The wire value (`"invalid_grant"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::SlowDown => "slow_down",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// Which credential a request lacked, so that the 401 names the scheme to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750).
    Bearer,
    /// An API key header or query parameter.
    ApiKey,
    /// A session cookie.
    Session,
}

/// Everything a request can fail with. The one HTTP rendering of each variant is
/// [`AuthError::to_response`]; adapters render it and never choose a status themselves.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials of the expected scheme were sent.
    #[error("no credentials were sent")]
    MissingCredentials(Scheme),
    /// A bearer token was sent and refused.
    #[error("invalid token: {0}")]
    InvalidToken(#[from] TokenError),
    /// Login failed: unknown user and wrong password alike (one sentence for both, so the
    /// answer does not reveal which usernames exist).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// An API key was missing, malformed, unknown, expired or revoked.
    #[error("invalid or missing API key")]
    InvalidApiKey,
    /// No valid session cookie.
    #[error("not authenticated")]
    NotAuthenticated,
    /// The `Authorization` (or `Cookie`) header exceeds the size limit.
    #[error("request header too large")]
    HeaderTooLarge,
    /// Authenticated, but not allowed. `detail` says what was required (or, when the
    /// deployment hides requirements, only that access was denied).
    #[error("forbidden: {detail}")]
    Forbidden {
        /// A sentence for the client, such as `Required roles: [editor, admin]`.
        detail: Cow<'static, str>,
    },
    /// A bearer token lacks the OAuth scopes the resource needs (RFC 6750 §3.1).
    #[error("insufficient scope")]
    InsufficientScope {
        /// The space-separated scopes required.
        scope: String,
    },
    /// A cookie-authenticated unsafe request without the right CSRF token or `Origin`.
    #[error("CSRF token missing or invalid")]
    Csrf,
    /// Too many failed attempts; retry after the given number of seconds.
    #[error("too many attempts; retry after {retry_after_secs} s")]
    Throttled {
        /// Seconds until the next attempt may succeed (`Retry-After`).
        retry_after_secs: u64,
    },
    /// The resource does not exist (or is not the caller's to know about).
    #[error("not found: {detail}")]
    NotFound {
        /// A sentence for the client, such as `Article not found`.
        detail: Cow<'static, str>,
    },
    /// The request itself is malformed (a non-integer path id, a bad body).
    #[error("bad request: {detail}")]
    BadRequest {
        /// A sentence for the client saying what to fix.
        detail: Cow<'static, str>,
    },
    /// The state store (revocations, sessions, refresh families, throttle counters)
    /// could not be asked. Authentication fails closed.
    #[error("the state store is unavailable")]
    StoreUnavailable(#[source] StoreError),
    /// A bearer token names a trusted issuer whose signing keys have never been fetched
    /// (its discovery or JWKS endpoint has not answered since start-up): the token can
    /// be neither accepted nor refused, so the request fails closed with 503.
    #[error("the token issuer's keys are unavailable")]
    IssuerUnavailable,
    /// A server fault that is not the client's (a signing key that cannot sign). Logged
    /// where it happens; the client sees only a generic 500.
    #[error("internal error")]
    Internal,
    /// A malformed bearer request (RFC 6750 §3.1 `invalid_request`): an access token in
    /// the URL (`access_token` query parameter), which this service never accepts, since
    /// URLs end up in logs, histories and `Referer` headers; or in the URL *and* the
    /// header (RFC 6750 §2: one method per request).
    #[error("invalid bearer request: {detail}")]
    InvalidBearerRequest {
        /// A sentence for the client.
        detail: Cow<'static, str>,
    },
    /// Third-party login failed on the way back from the provider: the pre-login state
    /// is missing, mismatched, expired or replayed; the provider refused the code (a PKCE
    /// mismatch, say) or answered with an error; the id token did not verify; or no
    /// verified email came back. Nothing was started.
    #[error("third-party login failed: {detail}")]
    ExternalLogin {
        /// A sentence for the client; never a token, code or secret.
        detail: Cow<'static, str>,
    },
    /// A passkey registration could not be completed (feature `passkeys`): no
    /// registration ceremony was started (or it expired, or was already finished), it was
    /// started by another user, or the browser's attestation did not verify (wrong
    /// origin or challenge, a malformed credential). Nothing was stored.
    #[error("passkey registration failed: {detail}")]
    PasskeyRegistration {
        /// A sentence for the client saying what to do; never a key or a challenge.
        detail: Cow<'static, str>,
    },
    /// A passkey sign-in was refused (feature `passkeys`): no live sign-in ceremony
    /// (missing, expired or replayed), an unknown credential, a signature, origin or user
    /// handle that did not verify, a sign counter that did not move forward, or a
    /// disabled or deleted user. No session was started.
    #[error("passkey sign-in failed: {detail}")]
    PasskeyLogin {
        /// A sentence for the client saying what to do; never a key or a challenge.
        detail: Cow<'static, str>,
    },
    /// The login provider could not be reached, or answered something that is not
    /// OAuth (a timeout, a 5xx, an unparseable body).
    #[error("the login provider is unavailable")]
    ProviderUnavailable,
    /// The request conflicts with the current state (a second factor that is already
    /// active, say).
    #[error("conflict: {detail}")]
    Conflict {
        /// A sentence for the client saying what to do instead.
        detail: Cow<'static, str>,
    },
    /// The second step of a login failed: a wrong, expired or replayed code, a spent
    /// recovery code, or an unknown, expired or spent `mfa_token`. One answer for all.
    #[error("the second factor was refused")]
    InvalidSecondFactor,
    /// Authenticated, but without a second factor where the route requires one
    /// (RFC 9470 `insufficient_user_authentication`).
    #[error("a second factor is required")]
    InsufficientUserAuthentication,
    /// A token-endpoint failure, rendered in the RFC 6749 §5.2 shape.
    #[error("token endpoint error: {}", code.as_str())]
    OAuth {
        /// The RFC 6749 error code.
        code: OAuthErrorCode,
        /// The `error_description`; never contains a secret.
        description: Cow<'static, str>,
        /// For [`OAuthErrorCode::SlowDown`]: seconds for `Retry-After`.
        retry_after_secs: Option<u64>,
    },
}

impl AuthError {
    /// A token-endpoint error without `Retry-After`.
    pub fn oauth(code: OAuthErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self::OAuth {
            code,
            description: description.into(),
            retry_after_secs: None,
        }
    }

    /// A 403 with the given detail sentence.
    pub fn forbidden(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden {
            detail: detail.into(),
        }
    }
}

/// A state-store failure (connection refused, timeout, a corrupt entry). Its text is for
/// logs; the client only ever sees "service unavailable".
#[derive(Debug, Clone, thiserror::Error)]
#[error("store error: {message}")]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// A store error with a message for the logs (never put a token or secret in it).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl From<StoreError> for AuthError {
    fn from(err: StoreError) -> Self {
        AuthError::StoreUnavailable(err)
    }
}

/// A mistake in configuration, found at start-up. Each message says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An HMAC secret shorter than its hash output (RFC 7518 §3.2).
    #[error(
        "the {alg} secret for key `{kid}` is {got} bytes; use at least {min} random bytes \
         (e.g. `openssl rand -base64 48`)"
    )]
    WeakSecret {
        /// The key id.
        kid: String,
        /// The algorithm.
        alg: &'static str,
        /// Bytes required.
        min: usize,
        /// Bytes given.
        got: usize,
    },
    /// The algorithm does not fit the kind of key given.
    #[error(
        "key `{kid}`: {alg} cannot be used with {kind}; pick an algorithm of that key's family"
    )]
    AlgorithmMismatch {
        /// The key id.
        kid: String,
        /// The algorithm asked for.
        alg: &'static str,
        /// The kind of key given.
        kind: &'static str,
    },
    /// The key sealing second-factor secrets ([`MfaKey`](crate::mfa::MfaKey)) is not 32
    /// bytes.
    #[error("the MFA key is {got} bytes; use exactly 32 random bytes (e.g. `openssl rand 32`)")]
    InvalidMfaKey {
        /// Bytes given.
        got: usize,
    },
    /// A trusted issuer (resource-server mode) is misconfigured.
    #[error("trusted issuer `{issuer}`: {reason}")]
    InvalidTrustedIssuer {
        /// The issuer as configured.
        issuer: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A PEM could not be read as the expected key.
    #[error("key `{kid}`: the PEM is not a valid {expected} key ({reason})")]
    InvalidKey {
        /// The key id.
        kid: String,
        /// What kind of key was expected.
        expected: &'static str,
        /// The parser's reason (contains no key material).
        reason: String,
    },
    /// [`Key::from_private_pem`](crate::token::Key::from_private_pem) with an HMAC
    /// algorithm: HMAC keys are secrets, not private keys.
    #[error(
        "{alg} is an HMAC algorithm and signs with a shared secret, not a private key; \
         use RS256, PS256, ES256 or EdDSA with a PKCS#8 PEM private key (or Key::hmac for a secret)"
    )]
    HmacAlgorithmForPrivateKey {
        /// The algorithm asked for.
        alg: &'static str,
    },
    /// A private key of another kind (or curve, or too small) than the algorithm needs.
    #[error(
        "the private key is {found}, which cannot sign {alg}; use an RSA key of 2048 bits or \
         more for RS*/PS*, an EC P-256 key for ES256, EC P-384 for ES384, Ed25519 for EdDSA \
         (e.g. `openssl genpkey -algorithm ED25519`)"
    )]
    WrongKeyType {
        /// The algorithm asked for.
        alg: &'static str,
        /// What the PEM holds instead.
        found: &'static str,
    },
    /// A private key PEM that could not be read at all.
    #[error(
        "the {alg} private key is not a readable PKCS#8 PEM private key ({reason}); write one \
         with `openssl genpkey` (it begins with `-----BEGIN PRIVATE KEY-----`)"
    )]
    BadPrivateKeyPem {
        /// The algorithm asked for.
        alg: &'static str,
        /// The parser's reason (contains no key material).
        reason: String,
    },
    /// Two keys in one ring share a `kid`.
    #[error("two keys share the kid `{0}`; give every key a distinct kid")]
    DuplicateKid(String),
    /// A key id is empty or too long.
    #[error("the kid `{0}` is not usable; use 1 to 64 printable ASCII characters")]
    InvalidKid(String),
    /// The signing key named is not in the ring, or can only verify.
    #[error(
        "the signing key `{0}` is not in the ring or has no private part; \
         add it with a secret or private key"
    )]
    NoSigningKey(String),
    /// The access and refresh rings share key material.
    #[error(
        "access and refresh tokens must be signed with different keys; \
         set a separate refresh secret"
    )]
    SameKeyForAccessAndRefresh,
    /// A leeway above the allowed maximum.
    #[error("a leeway of {got} s is too large; use at most {max} s")]
    LeewayTooLarge {
        /// The maximum allowed.
        max: u64,
        /// The value given.
        got: u64,
    },
    /// [`AuthBuilder::build`](crate::AuthBuilder::build) without a user store: the
    /// library ships no default users.
    #[error(
        "no user store: pass yours with `AuthBuilder::users(...)` (implement `UserStore` over \
         your user table, or fill a `MemoryUsers`); the library ships no default users"
    )]
    NoUserStore,
    /// The WebAuthn origin ([`PasskeyConfig`](crate::passkey::PasskeyConfig), feature
    /// `passkeys`) is not usable.
    #[error("passkey origin `{origin}`: {reason}")]
    InvalidPasskeyOrigin {
        /// The origin as configured.
        origin: String,
        /// What is wrong and how to fix it.
        reason: &'static str,
    },
    /// Any other invalid setting.
    #[error("invalid setting `{setting}`: {reason}")]
    Invalid {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
}
