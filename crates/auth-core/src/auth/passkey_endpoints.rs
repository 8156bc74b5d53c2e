//! The four `/webauthn/…` endpoints (feature `passkeys`) as framework-neutral methods
//! of [`Auth`]; the relying party, ceremonies and page are in [`crate::passkey`].

use serde_json::json;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PublicKeyCredential, RegisterPublicKeyCredential,
};

use super::{Auth, Reply};
use crate::credential::User;
use crate::error::AuthError;
use crate::passkey::{
    CEREMONY_TTL_SECS, Ceremony, MAX_BODY_BYTES, RelyingParty, ceremony_key, credential_text,
    login_failed, not_configured, presented_handle, registration_failed, user_handle,
};
use crate::request::Request;
use crate::store::StoredPasskey;

impl Auth {
    /// Whether passkeys are configured ([`AuthBuilder::passkeys`](crate::AuthBuilder::passkeys)):
    /// without, the `/webauthn/…` endpoints answer 404 (an app's route list or API
    /// document can follow it).
    pub fn passkeys_enabled(&self) -> bool {
        self.inner.passkeys.is_some()
    }

    fn relying_party(&self) -> Result<&RelyingParty, AuthError> {
        self.inner.passkeys.as_deref().ok_or_else(not_configured)
    }

    fn now(&self) -> u64 {
        self.inner.tokens.tokens().clock().unix_seconds()
    }

    /// Stores a new ceremony; the start's answer: the browser's `options` under
    /// `publicKey`, and the cookie that carries the ceremony's handle.
    async fn ceremony_started(
        &self,
        rp: &RelyingParty,
        ceremony: &Ceremony,
        options: &impl serde::Serialize,
    ) -> Result<Reply, AuthError> {
        let state = serde_json::to_string(ceremony).map_err(|e| {
            tracing::error!(error = %e, "passkey: a ceremony state did not serialise");
            AuthError::Internal
        })?;
        let handle = crate::ids::random_b64::<32>();
        self.inner
            .store
            .put_ceremony(
                &ceremony_key(&handle),
                &state,
                self.now() + CEREMONY_TTL_SECS,
            )
            .await?;
        Ok(Reply::json(200, &json!({"publicKey": options}))
            .header("set-cookie", rp.cookie(&handle, CEREMONY_TTL_SECS))
            .header("cache-control", "no-store"))
    }

    /// Takes the request's ceremony, once; `None` when none is live.
    async fn take_ceremony(&self, request: &impl Request) -> Result<Option<Ceremony>, AuthError> {
        let Some(handle) = presented_handle(request) else {
            return Ok(None);
        };
        let taken = self
            .inner
            .store
            .take_ceremony(&ceremony_key(&handle))
            .await?;
        let Some(state) = taken else {
            return Ok(None);
        };
        Ok(serde_json::from_str(&state).ok())
    }

    /// `GET /webauthn`: [`PAGE_HTML`](crate::passkey::PAGE_HTML), the page that drives
    /// the passkey endpoints from a browser (404 when passkeys are not configured). Its
    /// script is inline and talks to this origin only, which its
    /// `Content-Security-Policy` pins.
    pub fn passkey_page_endpoint(&self) -> Reply {
        if self.relying_party().is_err() {
            return not_configured().into();
        }
        Reply::new(200)
            .header("content-type", "text/html; charset=utf-8")
            .header(
                "content-security-policy",
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            )
            .header("x-content-type-options", "nosniff")
            .body_text(crate::passkey::PAGE_HTML)
    }

    /// `POST /webauthn/register/start` (bearer, or session + CSRF): 200
    /// `{"publicKey": {...}}`, the options for `navigator.credentials.create`, and the
    /// ceremony cookie. The user's passkeys are excluded (no second registration of one
    /// authenticator); a discoverable credential is preferred (so it can sign in without
    /// a username); user verification is required, as for every passkey.
    pub async fn passkey_register_start_endpoint(&self, request: &impl Request) -> Reply {
        let outcome = async {
            let rp = self.relying_party()?;
            let principal = self.principal(request).await?;
            let user = self.user_of(&principal).await?;
            let existing = self.inner.store.passkeys(&user.id).await?;
            let exclude = existing
                .iter()
                .filter_map(|p| serde_json::from_str::<Passkey>(&p.data).ok())
                .map(|p| p.cred_id().clone())
                .collect::<Vec<_>>();
            let display = user.email.as_deref().unwrap_or(&user.username);
            let (options, state) = rp
                .webauthn
                .start_passkey_registration(
                    user_handle(&user.id),
                    &user.username,
                    display,
                    Some(exclude),
                )
                .map_err(|e| {
                    tracing::error!(error = %e, "passkey: registration could not start");
                    AuthError::Internal
                })?;
            let options = prefer_resident_key(options);
            let ceremony = Ceremony::Register {
                user_id: user.id,
                state,
            };
            self.ceremony_started(rp, &ceremony, &options).await
        };
        outcome.await.unwrap_or_else(Reply::from)
    }

    /// `POST /webauthn/register/finish` (bearer, or session + CSRF) with the browser's
    /// `PublicKeyCredential` as JSON: 200 `{"message": "Passkey registered"}`, the
    /// passkey stored. 400 ([`AuthError::PasskeyRegistration`]) without a live
    /// ceremony of this same user, or when the attestation does not verify (wrong
    /// origin, challenge or relying party, a malformed credential). The ceremony is
    /// spent by any attempt, and its cookie cleared.
    pub async fn passkey_register_finish_endpoint(
        &self,
        request: &impl Request,
        body: &[u8],
    ) -> Reply {
        let Ok(rp) = self.relying_party() else {
            return not_configured().into();
        };
        let outcome = async {
            let principal = self.principal(request).await?;
            let user = self.user_of(&principal).await?;
            if body.len() > MAX_BODY_BYTES {
                return Err(registration_failed("The request body is too large"));
            }
            let Some(Ceremony::Register { user_id, state }) = self.take_ceremony(request).await?
            else {
                return Err(registration_failed(
                    "No passkey registration is in progress (or it expired); start it again",
                ));
            };
            if user_id != user.id {
                return Err(registration_failed(
                    "This registration was started by another user; start it again",
                ));
            }
            let credential: RegisterPublicKeyCredential = serde_json::from_slice(body)
                .map_err(|_| {
                    registration_failed(
                        "Send the browser's PublicKeyCredential as JSON (from navigator.credentials.create)",
                    )
                })?;
            let passkey = rp
                .webauthn
                .finish_passkey_registration(&credential, &state)
                .map_err(|e| {
                    tracing::info!(error = %e, "passkey: a registration did not verify");
                    registration_failed(
                        "The passkey did not verify (wrong origin, challenge or relying party); start the registration again",
                    )
                })?;
            let stored = StoredPasskey {
                user_id: user.id.clone(),
                credential_id: credential_text(passkey.cred_id()),
                data: serialise(&passkey)?,
                counter: 0,
                created: self.now(),
            };
            if !self.inner.store.add_passkey(&stored).await? {
                return Err(registration_failed("This passkey is registered already"));
            }
            tracing::info!(user = %user.id, "passkey registered");
            Ok(Reply::json(200, &json!({"message": "Passkey registered"}))
                .header("cache-control", "no-store"))
        };
        outcome
            .await
            .unwrap_or_else(|e| Reply::from(e).header("cache-control", "no-store"))
            .header("set-cookie", rp.clearing_cookie())
    }

    /// `POST /webauthn/login/start` (no credential), with an optional JSON body
    /// `{"username": "..."}`: 200 `{"publicKey": {...}}`, the options for
    /// `navigator.credentials.get`, and the ceremony cookie. With a username whose user
    /// has passkeys, those are allowed; otherwise (no body, or a username without
    /// passkeys, so the answer tells nothing about which usernames exist) any
    /// discoverable passkey of this relying party may answer.
    pub async fn passkey_login_start_endpoint(&self, body: &[u8]) -> Reply {
        let outcome = async {
            let rp = self.relying_party()?;
            let username = login_username(body)?;
            let mut known = Vec::new();
            let mut owner = None;
            if let Some(name) = username
                && let Some(user) = self.inner.users.find_by_username(&name).await?
                && !user.disabled
            {
                known = self
                    .inner
                    .store
                    .passkeys(&user.id)
                    .await?
                    .iter()
                    .filter_map(|p| serde_json::from_str::<Passkey>(&p.data).ok())
                    .collect();
                owner = Some(user.id);
            }
            let started = match owner {
                Some(user_id) if !known.is_empty() => rp
                    .webauthn
                    .start_passkey_authentication(&known)
                    .map(|(options, state)| (options, Ceremony::User { user_id, state })),
                _ => rp
                    .webauthn
                    .start_discoverable_authentication()
                    .map(|(options, state)| (options, Ceremony::Discoverable { state })),
            };
            let (options, ceremony) = started.map_err(|e| {
                tracing::error!(error = %e, "passkey: sign-in could not start");
                AuthError::Internal
            })?;
            self.ceremony_started(rp, &ceremony, &options.public_key)
                .await
        };
        outcome.await.unwrap_or_else(Reply::from)
    }

    /// `POST /webauthn/login/finish` with the browser's `PublicKeyCredential` as JSON:
    /// 200 as `/login` (`{"message": "Logged in", "csrf_token"}` and the session cookie,
    /// any presented session destroyed), the session recording `amr` `["hwk"]`. 401
    /// ([`AuthError::PasskeyLogin`]) without a live ceremony (missing, expired, replayed),
    /// for an unknown credential, a user handle that is not the passkey owner's, a
    /// signature, origin or challenge that does not verify, a sign counter that did not
    /// move forward, or a disabled or deleted user. 403 for a foreign `Origin` header
    /// (login CSRF, as `/login`). The ceremony is spent by any attempt, and its cookie
    /// cleared.
    pub async fn passkey_login_finish_endpoint(
        &self,
        request: &impl Request,
        body: &[u8],
    ) -> Reply {
        let Ok(rp) = self.relying_party() else {
            return not_configured().into();
        };
        let outcome = async {
            if !self.login_origin_allowed(request) {
                return Err(AuthError::forbidden(
                    "Login refused: the request's Origin is not this app's origin",
                ));
            }
            if body.len() > MAX_BODY_BYTES {
                return Err(AuthError::BadRequest {
                    detail: "The request body is too large".into(),
                });
            }
            let ceremony = self.take_ceremony(request).await?;
            let credential: PublicKeyCredential =
                serde_json::from_slice(body).map_err(|_| AuthError::BadRequest {
                    detail: "Send the browser's PublicKeyCredential as JSON (from navigator.credentials.get)".into(),
                })?;
            let Some(ceremony) = ceremony else {
                return Err(login_failed(
                    "No passkey sign-in is in progress (or it expired or was used); start it again",
                ));
            };
            let user = self.verify_assertion(rp, ceremony, &credential).await?;
            let sessions = &self.inner.sessions;
            let data = sessions.data_for(&user).await?;
            let started = sessions
                .start_with_amr(&user, data, &["hwk"], request)
                .await?;
            tracing::info!(user = %user.id, "signed in with a passkey");
            Ok(super::endpoints::logged_in(started))
        };
        outcome
            .await
            .unwrap_or_else(|e| Reply::from(e).header("cache-control", "no-store"))
            .header("set-cookie", rp.clearing_cookie())
    }

    /// Verifies an assertion against its ceremony and the stored passkey, moves the sign
    /// counter forward; the user it signs in.
    async fn verify_assertion(
        &self,
        rp: &RelyingParty,
        ceremony: Ceremony,
        credential: &PublicKeyCredential,
    ) -> Result<User, AuthError> {
        if let Ceremony::Register { .. } = ceremony {
            return Err(registration_in_progress());
        }
        let id = credential_text(&credential.raw_id);
        let Some(stored) = self.inner.store.passkey(&id).await? else {
            return Err(login_failed("This passkey is not registered here"));
        };
        let mut passkey: Passkey = serde_json::from_str(&stored.data).map_err(|e| {
            tracing::error!(error = %e, "passkey: a stored passkey did not parse");
            AuthError::Internal
        })?;
        let did_not_verify = |e: webauthn_rs::prelude::WebauthnError| {
            tracing::info!(error = %e, "passkey: a sign-in did not verify");
            login_failed(
                "The passkey's answer did not verify (signature, origin or challenge); sign in again",
            )
        };
        let result = match ceremony {
            Ceremony::Discoverable { state } => {
                let (handle, _) = rp
                    .webauthn
                    .identify_discoverable_authentication(credential)
                    .map_err(did_not_verify)?;
                if handle != user_handle(&stored.user_id) {
                    return Err(login_failed(
                        "The passkey does not belong to its user handle",
                    ));
                }
                rp.webauthn
                    .finish_discoverable_authentication_v2(credential, state, &passkey)
                    .map_err(did_not_verify)?
            }
            Ceremony::User { user_id, state } => {
                if user_id != stored.user_id {
                    return Err(login_failed("This passkey belongs to another user"));
                }
                rp.webauthn
                    .finish_passkey_authentication(credential, &state)
                    .map_err(did_not_verify)?
            }
            Ceremony::Register { .. } => return Err(registration_in_progress()),
        };
        passkey.update_credential(&result);
        let moved = self
            .inner
            .store
            .use_passkey(&id, result.counter(), &serialise(&passkey)?)
            .await?;
        if !moved {
            tracing::warn!(user = %stored.user_id, "passkey: the sign counter did not move forward");
            return Err(login_failed(
                "The passkey's sign counter did not move forward (a cloned authenticator?); sign in another way",
            ));
        }
        match self.inner.users.find_by_id(&stored.user_id).await? {
            Some(user) if !user.disabled => Ok(user),
            _ => Err(login_failed("This account cannot sign in")),
        }
    }
}

fn registration_in_progress() -> AuthError {
    login_failed("No passkey sign-in is in progress (a registration is); start it again")
}

/// The creation options as sent: webauthn-rs discourages a resident key on passkeys; we
/// prefer one, so the passkey can sign in without a username first (discoverable). The
/// finish does not check it either way.
fn prefer_resident_key(options: CreationChallengeResponse) -> serde_json::Value {
    let mut value = serde_json::to_value(options.public_key).unwrap_or_default();
    if let Some(selection) = value
        .get_mut("authenticatorSelection")
        .and_then(serde_json::Value::as_object_mut)
    {
        selection.insert("residentKey".into(), json!("preferred"));
        selection.insert("requireResidentKey".into(), json!(false));
    }
    value
}

/// The optional `username` of `/webauthn/login/start`: none for an empty body.
fn login_username(body: &[u8]) -> Result<Option<String>, AuthError> {
    #[derive(serde::Deserialize)]
    struct Body {
        username: Option<String>,
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(AuthError::BadRequest {
            detail: "The request body is too large".into(),
        });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let parsed: Body = serde_json::from_slice(body).map_err(|_| AuthError::BadRequest {
        detail: "Send no body, or a JSON object {\"username\": \"...\"}".into(),
    })?;
    Ok(parsed.username.filter(|u| !u.is_empty()))
}

fn serialise(passkey: &Passkey) -> Result<String, AuthError> {
    serde_json::to_string(passkey).map_err(|e| {
        tracing::error!(error = %e, "passkey: a passkey did not serialise");
        AuthError::Internal
    })
}
