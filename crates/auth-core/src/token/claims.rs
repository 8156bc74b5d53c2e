//! The claims this toolkit issues (see the contract's "Tokens" section).

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Whether a token is an access or a refresh token (the `type` claim). An access token is
/// never accepted where a refresh token is expected, and the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    /// Presented on every request, short-lived.
    Access,
    /// Presented only to `/refresh` (or the token endpoint), long-lived, rotated on use.
    Refresh,
}

/// No caller-defined claims: the default for [`Claims`]'s type parameter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoExtra {}

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// A single string.
    One(String),
    /// An array of strings.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` names `audience`.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(a) => a == audience,
            Self::Many(all) => all.iter().any(|a| a == audience),
        }
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::One(a) => s.serialize_str(a),
            Self::Many(all) => all.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Audience;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience::One(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience::One(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut all = Vec::new();
                while let Some(a) = seq.next_element::<String>()? {
                    all.push(a);
                }
                Ok(Audience::Many(all))
            }
        }
        d.deserialize_any(V)
    }
}

/// The claims of an access or refresh token, with caller-defined extra claims `E`
/// flattened beside them.
///
/// Times are JWT `NumericDate`s (seconds since the Unix epoch). `exp`, `iat`, `nbf`,
/// `sub`, `jti`, `sid` and `type` are required: a token without one, or with one of the
/// wrong JSON type (a string `exp`, say), does not deserialize and is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims<E = NoExtra> {
    /// The user id, as a string.
    pub sub: String,
    /// Expiry.
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// This token's unique id (what a blocklist stores).
    pub jti: String,
    /// The issuer; required and checked when the service has one configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The audience; required and checked when the service has one configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// The login's refresh family: every access and refresh token of one login shares it.
    pub sid: String,
    /// Access or refresh.
    #[serde(rename = "type")]
    pub token_type: TokenType,
    /// The user's email, on access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's roles, on access tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Granted OAuth scopes, space-separated (RFC 8693 §4.2 `scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// How the user authenticated (RFC 8176 values: `pwd`, then `otp` after a second
    /// factor; `hwk` for a passkey). Empty for tokens issued without a login step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// Caller-defined claims.
    #[serde(flatten)]
    pub extra: E,
}

impl<E> Claims<E> {
    /// The granted scopes, split on spaces.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
    }
}

/// Who a token is issued to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// The user id (becomes `sub`).
    pub id: String,
    /// The user's email (becomes `email` on access tokens).
    pub email: Option<String>,
    /// The user's roles (become `roles` on access tokens).
    pub roles: Vec<String>,
    /// Granted scopes, space-separated (become `scope` on access tokens).
    pub scope: Option<String>,
    /// Authentication methods (RFC 8176), carried by access and refresh tokens (`amr`).
    pub amr: Vec<String>,
}

impl Subject {
    /// A subject with just an id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    /// Sets the email.
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets the roles.
    pub fn with_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the granted scope (space-separated).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Sets the authentication methods (RFC 8176 values such as `pwd`, `otp`, `hwk`).
    pub fn with_amr<I, S>(mut self, amr: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.amr = amr.into_iter().map(Into::into).collect();
        self
    }
}
