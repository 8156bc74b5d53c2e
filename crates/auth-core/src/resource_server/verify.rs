//! The checks on one trusted issuer's token.

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::keys::{IssuerKeys, refusal};
use super::{ExternalClaims, TrustedIssuer};
use crate::error::{AuthError, TokenError};
use crate::request::MAX_HEADER_BYTES;
use crate::third_party::HttpClient;

/// The `iss` of a token, read without verifying anything (it only selects which
/// issuer's keys to verify with). `None` for anything that is not a JWT with a string
/// `iss`.
pub(super) fn peek_issuer(token: &str) -> Option<String> {
    if token.len() > MAX_HEADER_BYTES {
        return None;
    }
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<Value>,
    }
    match serde_json::from_slice::<Iss>(&bytes).ok()?.iss? {
        Value::String(iss) => Some(iss),
        _ => None,
    }
}

/// Every rule of the [module docs](super), in order: size, header (an asymmetric
/// `alg`, no `crit`, `jku`, `x5u`, `jwk` or `x5c`), the key by `kid` with `alg`/`kty`/
/// `crv` agreeing, the signature, `iss` and `aud`, then the time rules on our clock.
pub(super) async fn verify(
    issuer: &IssuerKeys,
    http: &dyn HttpClient,
    token: &str,
    now: u64,
) -> Result<ExternalClaims, AuthError> {
    if token.len() > MAX_HEADER_BYTES {
        return Err(TokenError::TooLong.into());
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.crit.is_some()
        || header.jku.is_some()
        || header.x5u.is_some()
        || header.jwk.is_some()
        || header.x5c.is_some()
    {
        return Err(TokenError::UnsupportedHeader.into());
    }
    if matches!(
        header.alg,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return Err(TokenError::AlgorithmNotAllowed.into());
    }
    // An access token: `typ` absent, `JWT` or RFC 9068's `at+jwt`. Anything else (an ID
    // token's own type, a logout token…) is not one.
    if let Some(typ) = &header.typ {
        let typ = typ.to_ascii_lowercase();
        if !matches!(typ.as_str(), "jwt" | "at+jwt" | "application/at+jwt") {
            return Err(TokenError::WrongHeaderType.into());
        }
    }
    let key = refusal(issuer.key(http, header.kid.as_deref(), now).await)?;
    if !key.allows(header.alg) {
        return Err(TokenError::AlgorithmNotAllowed.into());
    }
    let config = issuer.config();
    let mut validation = Validation::new(header.alg);
    // Time is judged below, on the injected clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_issuer(&[config.issuer()]);
    validation.set_audience(&[config.audience()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            ErrorKind::MissingRequiredClaim(_) => TokenError::MissingClaim,
            ErrorKind::InvalidAlgorithm => TokenError::AlgorithmNotAllowed,
            _ => TokenError::Malformed,
        })?;
    let claims = data.claims;
    // Keycloak marks its ID tokens `typ: "ID"` (access tokens `"Bearer"`): an ID token
    // for a client whose id is the configured audience is not an access token.
    if claims
        .get("typ")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("id"))
    {
        return Err(TokenError::WrongTokenType.into());
    }
    let claims = external_claims(config, claims)?;
    time_rules(&claims.claims, config.leeway_secs, now)?;
    Ok(claims)
}

/// The time rules again for a cached verification.
pub(super) fn time_rules_on_hit(
    claims: &ExternalClaims,
    config: &TrustedIssuer,
    now: u64,
) -> Result<(), AuthError> {
    time_rules(&claims.claims, config.leeway_secs, now)
}

fn time_rules(claims: &Map<String, Value>, leeway: u64, now: u64) -> Result<(), AuthError> {
    let time = |name: &str| -> Result<Option<u64>, TokenError> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                .map(Some)
                .ok_or(TokenError::MissingClaim),
        }
    };
    let exp = time("exp")?.ok_or(TokenError::MissingClaim)?;
    if now >= exp.saturating_add(leeway) {
        return Err(TokenError::Expired.into());
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(TokenError::NotYetValid.into());
    }
    if time("iat")?.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(TokenError::IssuedInFuture.into());
    }
    Ok(())
}

fn external_claims(
    config: &TrustedIssuer,
    claims: Map<String, Value>,
) -> Result<ExternalClaims, AuthError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let sub = text("sub")
        .filter(|s| !s.is_empty())
        .ok_or(TokenError::MissingClaim)?;
    let iss = text("iss").ok_or(TokenError::MissingClaim)?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or(TokenError::MissingClaim)?;
    let roles = strings(claim_at(&claims, config.roles_claim_path()));
    let scopes = match claims.get("scope") {
        Some(Value::String(s)) => strings(Some(&Value::String(s.clone()))),
        _ => strings(claims.get("scp")),
    };
    Ok(ExternalClaims {
        id: format!("{iss}#{sub}"),
        iss,
        sub,
        roles,
        scopes,
        exp,
        email: text("email"),
        claims,
    })
}

/// The value at a claim path: the whole name first (`https://example.com/roles` is one
/// claim), else split on `.` for nested objects (`realm_access.roles`).
fn claim_at<'c>(claims: &'c Map<String, Value>, path: &str) -> Option<&'c Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Strings from a claim value: an array's string items, or a space-separated string.
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}
