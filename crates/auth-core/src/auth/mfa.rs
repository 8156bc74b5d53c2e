//! The second factor's endpoints: TOTP enrolment, confirmation and removal for a signed-in
//! user, and `/login/mfa`, the second step of a cookie login.

use serde_json::json;

use super::endpoints::bad_request;
use super::{Auth, Principal, Reply};
use crate::credential::User;
use crate::error::AuthError;
use crate::form::{Form, FormError};
use crate::mfa::{Proof, SecondFactor};
use crate::request::Request;

/// Bodies of these endpoints larger than this are refused without parsing (as `/login`'s).
const MAX_BODY_BYTES: usize = super::endpoints::MAX_LOGIN_BODY_BYTES;

/// Why [`fields_of`] could not read a body.
#[derive(Debug)]
pub(super) enum FieldsError {
    /// Over the size limit.
    TooLarge,
    /// Neither a form nor a JSON object.
    Unreadable,
    /// A form field sent twice.
    Repeated(String),
}

/// The named string fields of a form (what browsers post) or a JSON object (what
/// scripts send), at most 16 KiB: a form's values as sent (empty ones included), a JSON
/// object's non-empty strings. Shared by `/login` and the second factor's endpoints.
pub(super) fn fields_of<const N: usize>(
    content_type: Option<&str>,
    body: &[u8],
    names: &[&str; N],
) -> Result<[Option<String>; N], FieldsError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(FieldsError::TooLarge);
    }
    let json = content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case(crate::http::JSON));
    if json {
        // An object only (serde would also take an array for a struct).
        let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice(body) else {
            return Err(FieldsError::Unreadable);
        };
        return Ok(names.map(|name| match fields.remove(name) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        }));
    }
    let form =
        Form::parse(content_type, body, MAX_BODY_BYTES).map_err(|_| FieldsError::Unreadable)?;
    let mut out = names.map(|_| None);
    for (slot, name) in out.iter_mut().zip(names) {
        match form.field(name) {
            Ok(v) => *slot = v.map(str::to_owned),
            Err(FormError::Repeated(name)) => return Err(FieldsError::Repeated(name)),
            Err(_) => return Err(FieldsError::Unreadable),
        }
    }
    Ok(out)
}

/// The 400 for a body [`fields_of`] could not read; `send` says what to send.
fn unreadable(e: FieldsError, send: &'static str) -> Reply {
    match e {
        FieldsError::TooLarge => bad_request("The request body is too large"),
        FieldsError::Repeated(name) => bad_request(format!("The parameter `{name}` is repeated")),
        FieldsError::Unreadable => bad_request(send),
    }
}

impl Auth {
    /// The second factor, when configured (`AuthBuilder::second_factor`).
    pub fn second_factor(&self) -> Option<&SecondFactor> {
        self.inner.authenticator.second_factor()
    }

    /// The signed-in local user and the configured second factor, for the enrolment
    /// endpoints: bearer, or session with CSRF; a trusted issuer's token has no account
    /// here (403).
    async fn factor_and_user(
        &self,
        request: &impl Request,
    ) -> Result<(&SecondFactor, User), AuthError> {
        let principal = self.principal(request).await?;
        let user = self.user_of(&principal).await?;
        let factor = self.second_factor().ok_or_else(|| AuthError::NotFound {
            detail: "This service has no second factor configured".into(),
        })?;
        Ok((factor, user))
    }

    /// `POST /mfa/totp/enroll` (bearer, or session + CSRF): a new TOTP secret for the
    /// caller, pending until confirmed: 200 `{"secret", "otpauth_url"}`; 409 while a
    /// second factor is active.
    pub async fn mfa_enroll_endpoint(&self, request: &impl Request) -> Reply {
        let outcome = async {
            let (factor, user) = self.factor_and_user(request).await?;
            factor.enroll(&user).await
        };
        match outcome.await {
            Ok(pending) => Reply::json(
                200,
                &json!({"secret": pending.secret, "otpauth_url": pending.otpauth_url}),
            )
            .header("cache-control", "no-store"),
            Err(e) => e.into(),
        }
    }

    /// `POST /mfa/totp/confirm` with `{"code"}` (bearer, or session + CSRF): activates
    /// the pending enrolment with a current code; 200 `{"recovery_codes": [..10]}`,
    /// shown this once. 400 for a wrong code.
    pub async fn mfa_confirm_endpoint(&self, request: &impl Request, body: &[u8]) -> Reply {
        let (factor, user) = match self.factor_and_user(request).await {
            Ok(found) => found,
            Err(e) => return e.into(),
        };
        let send = "Send `code`: the current code of the authenticator app";
        let [code] = match fields_of(request.content_type(), body, &["code"]) {
            Ok([Some(code)]) if !code.is_empty() => [code],
            Ok(_) => return bad_request(send),
            Err(e) => return unreadable(e, send),
        };
        match factor.confirm(&user.id, &code).await {
            Ok(codes) => Reply::json(200, &json!({"recovery_codes": codes.codes()}))
                .header("cache-control", "no-store"),
            Err(e) => e.into(),
        }
    }

    /// `DELETE /mfa/totp` with `{"code"}` (bearer, or session + CSRF): removes the
    /// second factor after a current code or an unused recovery code; 400 for a wrong one.
    pub async fn mfa_disable_endpoint(&self, request: &impl Request, body: &[u8]) -> Reply {
        let (factor, user) = match self.factor_and_user(request).await {
            Ok(found) => found,
            Err(e) => return e.into(),
        };
        let send = "Send `code`: a current code of the authenticator app or a recovery code";
        let [code] = match fields_of(request.content_type(), body, &["code"]) {
            Ok([Some(code)]) if !code.is_empty() => [code],
            Ok(_) => return bad_request(send),
            Err(e) => return unreadable(e, send),
        };
        match factor.disable(&user.id, &code).await {
            Ok(()) => Reply::json(200, &json!({"message": "Second factor removed"})),
            Err(e) => e.into(),
        }
    }

    /// `POST /login/mfa` (form or JSON: `mfa_token`, and `otp` or `recovery_code`): the
    /// second step of a cookie login for a user with a second factor; answers as
    /// `/login` (the session records `amr` `["pwd", "otp"]`). 401 for a wrong, replayed
    /// or spent code and an unknown, expired or spent `mfa_token` alike; 429 when the
    /// user's login throttle is locked.
    pub async fn login_mfa_endpoint(&self, request: &impl Request, body: &[u8]) -> Reply {
        if !self.login_origin_allowed(request) {
            return AuthError::Forbidden {
                detail: "Login refused: the request's Origin is not this app's origin".into(),
            }
            .into();
        }
        let send = "Send `mfa_token` and one of `otp` and `recovery_code`";
        let names = &["mfa_token", "otp", "recovery_code"];
        let present = |v: Option<String>| v.filter(|v| !v.is_empty());
        let (mfa_token, proof_fields) = match fields_of(request.content_type(), body, names) {
            Ok([Some(token), otp, recovery]) if !token.is_empty() => {
                (token, (present(otp), present(recovery)))
            }
            Ok(_) => return bad_request(send),
            Err(e) => return unreadable(e, send),
        };
        let proof = match (proof_fields.0.as_deref(), proof_fields.1.as_deref()) {
            (Some(otp), None) => Proof::Otp(otp),
            (None, Some(code)) => Proof::RecoveryCode(code),
            _ => return bad_request(send),
        };
        let client = self.client_addr(request);
        match self
            .inner
            .authenticator
            .complete_second_factor(&mfa_token, proof, client)
            .await
        {
            Ok(user) => self.start_session(&user, &["pwd", "otp"], request).await,
            Err(e) => e.into(),
        }
    }
}

/// Whether `principal` signed in with a second factor: its `amr` names one (RFC 8176
/// `otp`, `hwk`, `swk` or `mfa`). What the second-factor guard requires.
pub(crate) fn has_second_factor(principal: &Principal) -> bool {
    principal
        .amr()
        .iter()
        .any(|m| matches!(*m, "otp" | "hwk" | "swk" | "mfa"))
}
