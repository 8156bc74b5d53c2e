//! Which identity a provider's answers vouch for: the subject, and only an email address
//! the provider asserts it verified.

use super::{ExternalIdentity, failed};
use crate::error::AuthError;
use crate::third_party::oidc::IdClaims;

/// The provider's answers (userinfo, the verified id token's claims, a GitHub-style
/// email list) as the identity to link.
pub(in crate::third_party) fn identity_from(
    provider: &str,
    info: &serde_json::Map<String, serde_json::Value>,
    id: Option<&IdClaims>,
    emails: Option<&[serde_json::Value]>,
) -> Result<ExternalIdentity, AuthError> {
    use serde_json::Value;
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let subject = text(info.get("sub")).or_else(|| text(info.get("id")));
    if let (Some(id), Some(sub)) = (id, &subject)
        && &id.sub != sub
    {
        // OpenID Connect Core §5.3.2: the userinfo `sub` must be the id token's.
        return Err(failed(
            "The provider's user info does not match its id token",
        ));
    }
    let subject = subject
        .or_else(|| id.map(|c| c.sub.clone()))
        .ok_or_else(|| failed("The provider did not say who the user is"))?;
    let email = vouched_email(info, id, emails)?;
    if email.len() > 254 || !email.contains('@') || email.chars().any(char::is_control) {
        return Err(failed("The provider sent an unusable email address"));
    }
    Ok(ExternalIdentity {
        provider: provider.to_string(),
        subject,
        email,
        name: text(info.get("name")),
    })
}

/// THE decision on which email a login carries (and so which account it may link to):
/// only an address the provider asserts it verified.
///
/// - With a GitHub-style email list: the entry with `primary: true` and
///   `verified: true`; the userinfo `email` (GitHub's public one) is not trusted.
/// - Otherwise the userinfo `email` (else the id token's), verified only when a source
///   that names this very address says `email_verified: true` and none says `false`.
///   Only the JSON boolean counts: absent, `"true"`, `1` or `null` assert nothing, and
///   one source's flag never vouches for another source's address.
///
/// Anything else is refused: the contract allows "a new user is created instead, or
/// the login is refused", and a new user cannot be created for an address an account
/// already has (the user store keeps emails unique, so creating one returns the
/// existing account), nor usefully for an address nobody vouched for.
fn vouched_email(
    info: &serde_json::Map<String, serde_json::Value>,
    id: Option<&IdClaims>,
    emails: Option<&[serde_json::Value]>,
) -> Result<String, AuthError> {
    use serde_json::Value;
    let not_verified = || failed("The provider has not verified this email address");
    let is_true = |v: Option<&Value>| matches!(v, Some(Value::Bool(true)));
    if let Some(list) = emails {
        return list
            .iter()
            .find_map(|entry| match entry.get("email") {
                Some(Value::String(e))
                    if !e.is_empty()
                        && is_true(entry.get("primary"))
                        && is_true(entry.get("verified")) =>
                {
                    Some(e.clone())
                }
                _ => None,
            })
            .ok_or_else(not_verified);
    }
    let from_info = match info.get("email") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.as_str()),
        _ => None,
    };
    let from_id = id
        .and_then(|c| c.email.as_deref())
        .filter(|e| !e.is_empty());
    let Some(email) = from_info.or(from_id) else {
        return Err(failed("The provider did not share an email address"));
    };
    let mut said = Vec::with_capacity(2);
    if from_info == Some(email) {
        said.push(match info.get("email_verified") {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        });
    }
    if from_id == Some(email) {
        said.push(id.and_then(|c| c.email_verified));
    }
    if said.contains(&Some(true)) && !said.contains(&Some(false)) {
        Ok(email.to_string())
    } else {
        Err(not_verified())
    }
}
