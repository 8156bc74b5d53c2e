//! Login providers: what the flow needs to know about each.

use std::collections::BTreeMap;

use crate::ConfigError;

/// How the client authenticates at the provider's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`, RFC 6749 §2.3.1's preferred form).
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    Body,
}

/// OpenID Connect settings: when present, the token answer must carry an id token, and
/// it is verified against the provider's JWKS (signature, `iss`, `aud`, `nonce`, `exp`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OidcConfig {
    /// The issuer, exactly as the id token's `iss` must read.
    pub issuer: String,
    /// Where the provider publishes its signing keys.
    pub jwks_url: String,
}

impl OidcConfig {
    /// OpenID Connect settings: the id token's `iss` must read `issuer`, and its
    /// signing keys are published at `jwks_url`.
    pub fn new(issuer: impl Into<String>, jwks_url: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            jwks_url: jwks_url.into(),
        }
    }

    /// Sets the issuer.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// Sets where the provider publishes its signing keys.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = url.into();
        self
    }
}

/// One login provider.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// The name in routes (`/auth/{name}/login`): lower-case letters, digits, `-`, `_`.
    pub name: String,
    /// The client id registered with the provider.
    pub client_id: String,
    /// The client secret (never logged; `Debug` hides it).
    pub client_secret: String,
    /// The authorization endpoint.
    pub auth_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// The userinfo endpoint (answers JSON with at least `email`, linked only with
    /// `email_verified: true`).
    pub userinfo_url: String,
    /// GitHub's kind of email list (`GET /user/emails`, answering `[{"email", "primary",
    /// "verified", "visibility"}]`), for providers whose userinfo does not say whether
    /// the email is verified. When set, the login's email is the entry that is
    /// `primary: true` and `verified: true`, and the userinfo `email` is ignored.
    pub emails_url: Option<String>,
    /// This app's callback URL as registered (`https://app.example/auth/{name}/callback`).
    pub redirect_url: String,
    /// Scopes to request.
    pub scopes: Vec<String>,
    /// How the client authenticates at the token endpoint.
    pub client_auth: ClientAuth,
    /// OpenID Connect settings, for providers that issue id tokens.
    pub oidc: Option<OidcConfig>,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("auth_url", &self.auth_url)
            .field("token_url", &self.token_url)
            .field("userinfo_url", &self.userinfo_url)
            .field("emails_url", &self.emails_url)
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .field("client_auth", &self.client_auth)
            .field("oidc", &self.oidc)
            .finish()
    }
}

impl ProviderConfig {
    /// A plain OAuth 2.0 provider called `name` with these endpoints and this app's
    /// registered callback URL: no scopes, HTTP Basic client authentication, no email
    /// list and no OpenID Connect until set. [`Providers::with`] validates it.
    pub fn new(
        name: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        auth_url: impl Into<String>,
        token_url: impl Into<String>,
        userinfo_url: impl Into<String>,
        redirect_url: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            auth_url: auth_url.into(),
            token_url: token_url.into(),
            userinfo_url: userinfo_url.into(),
            emails_url: None,
            redirect_url: redirect_url.into(),
            scopes: Vec::new(),
            client_auth: ClientAuth::Basic,
            oidc: None,
        }
    }

    /// Sets the name in routes (`/auth/{name}/login`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the client id registered with the provider.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// Sets the client secret.
    pub fn client_secret(mut self, client_secret: impl Into<String>) -> Self {
        self.client_secret = client_secret.into();
        self
    }

    /// Sets the authorization endpoint.
    pub fn auth_url(mut self, url: impl Into<String>) -> Self {
        self.auth_url = url.into();
        self
    }

    /// Sets the token endpoint.
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    /// Sets the userinfo endpoint.
    pub fn userinfo_url(mut self, url: impl Into<String>) -> Self {
        self.userinfo_url = url.into();
        self
    }

    /// Sets a GitHub-style email list endpoint (see the `emails_url` field).
    pub fn emails_url(mut self, url: impl Into<String>) -> Self {
        self.emails_url = Some(url.into());
        self
    }

    /// Sets this app's callback URL as registered.
    pub fn redirect_url(mut self, url: impl Into<String>) -> Self {
        self.redirect_url = url.into();
        self
    }

    /// Sets the scopes to request.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets how the client authenticates at the token endpoint.
    pub fn client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// Makes this an OpenID Connect provider with these settings.
    pub fn oidc(mut self, oidc: OidcConfig) -> Self {
        self.oidc = Some(oidc);
        self
    }
}

impl ProviderConfig {
    /// Google (OpenID Connect): endpoints, issuer, JWKS and `openid email profile`.
    pub fn google(client_id: &str, client_secret: &str, redirect_url: &str) -> Self {
        Self {
            name: "google".into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            auth_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            userinfo_url: "https://openidconnect.googleapis.com/v1/userinfo".into(),
            emails_url: None,
            redirect_url: redirect_url.into(),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            client_auth: ClientAuth::Basic,
            oidc: Some(OidcConfig {
                issuer: "https://accounts.google.com".into(),
                jwks_url: "https://www.googleapis.com/oauth2/v3/certs".into(),
            }),
        }
    }

    /// GitHub (plain OAuth 2.0, no id token): endpoints and `read:user user:email`.
    /// GitHub's `/user` shows a public email without saying whether it is verified, so
    /// the email comes from `/user/emails` (the primary one, if GitHub verified it);
    /// users without a verified primary email cannot sign in through this preset.
    pub fn github(client_id: &str, client_secret: &str, redirect_url: &str) -> Self {
        Self {
            name: "github".into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            auth_url: "https://github.com/login/oauth/authorize".into(),
            token_url: "https://github.com/login/oauth/access_token".into(),
            userinfo_url: "https://api.github.com/user".into(),
            emails_url: Some("https://api.github.com/user/emails".into()),
            redirect_url: redirect_url.into(),
            scopes: vec!["read:user".into(), "user:email".into()],
            client_auth: ClientAuth::Body,
            oidc: None,
        }
    }

    /// Reads provider `name` from variables `AUTH_OAUTH_<NAME>_CLIENT_ID`,
    /// `_CLIENT_SECRET`, `_AUTH_URL`, `_TOKEN_URL`, `_USERINFO_URL`, `_REDIRECT_URL`,
    /// `_SCOPES` (space-separated), `_ISSUER` and `_JWKS_URL` (both or neither: OpenID
    /// Connect), `_EMAILS_URL` (a GitHub-style email list, see
    /// [`ProviderConfig::emails_url`]). For `google` and `github` the presets fill what
    /// is not set.
    pub fn from_vars(
        name: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let valid_name = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_name {
            return Err(ConfigError::Invalid {
                setting: "AUTH_OAUTH_PROVIDERS",
                reason: format!(
                    "`{name}` is not a usable provider name; use 1 to 32 lower-case letters, digits, `-` or `_`"
                ),
            });
        }
        let prefix = format!(
            "AUTH_OAUTH_{}_",
            name.to_ascii_uppercase().replace('-', "_")
        );
        let get = |suffix: &str| lookup(&format!("{prefix}{suffix}")).filter(|v| !v.is_empty());
        let required = |suffix: &'static str, preset: Option<&String>| {
            get(suffix)
                .or_else(|| preset.cloned())
                .ok_or_else(|| ConfigError::Invalid {
                    setting: "AUTH_OAUTH_<NAME>_*",
                    reason: format!("set {prefix}{suffix} for the login provider `{name}`"),
                })
        };
        let id = required("CLIENT_ID", None)?;
        let secret = required("CLIENT_SECRET", None)?;
        let redirect = required("REDIRECT_URL", None)?;
        let preset = match name {
            "google" => Some(Self::google(&id, &secret, &redirect)),
            "github" => Some(Self::github(&id, &secret, &redirect)),
            _ => None,
        };
        let auth_url = required("AUTH_URL", preset.as_ref().map(|p| &p.auth_url))?;
        let token_url = required("TOKEN_URL", preset.as_ref().map(|p| &p.token_url))?;
        let userinfo_url = required("USERINFO_URL", preset.as_ref().map(|p| &p.userinfo_url))?;
        let emails_url =
            get("EMAILS_URL").or_else(|| preset.as_ref().and_then(|p| p.emails_url.clone()));
        let scopes = match get("SCOPES") {
            Some(s) => s.split_whitespace().map(str::to_string).collect(),
            None => preset
                .as_ref()
                .map(|p| p.scopes.clone())
                .unwrap_or_default(),
        };
        let oidc = match (get("ISSUER"), get("JWKS_URL")) {
            (Some(issuer), Some(jwks_url)) => Some(OidcConfig { issuer, jwks_url }),
            (None, None) => preset.as_ref().and_then(|p| p.oidc.clone()),
            _ => {
                return Err(ConfigError::Invalid {
                    setting: "AUTH_OAUTH_<NAME>_ISSUER",
                    reason: format!(
                        "set both {prefix}ISSUER and {prefix}JWKS_URL for an OpenID Connect provider, or neither"
                    ),
                });
            }
        };
        let client_auth = match get("CLIENT_AUTH").as_deref() {
            Some("basic") => ClientAuth::Basic,
            Some("body") => ClientAuth::Body,
            None => preset.as_ref().map_or(ClientAuth::Basic, |p| p.client_auth),
            Some(other) => {
                return Err(ConfigError::Invalid {
                    setting: "AUTH_OAUTH_<NAME>_CLIENT_AUTH",
                    reason: format!("`{other}` is not `basic` or `body`"),
                });
            }
        };
        let config = Self {
            name: name.into(),
            client_id: id,
            client_secret: secret,
            auth_url,
            token_url,
            userinfo_url,
            emails_url,
            redirect_url: redirect,
            scopes,
            client_auth,
            oidc,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every URL: absolute `https` (or `http` to a loopback host, for tests and
    /// local development).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut urls = vec![
            ("auth URL", &self.auth_url),
            ("token URL", &self.token_url),
            ("userinfo URL", &self.userinfo_url),
            ("redirect URL", &self.redirect_url),
        ];
        if let Some(oidc) = &self.oidc {
            urls.push(("JWKS URL", &oidc.jwks_url));
        }
        if let Some(emails) = &self.emails_url {
            urls.push(("emails URL", emails));
        }
        for (what, url) in urls {
            let parsed = oauth2::url::Url::parse(url).map_err(|e| ConfigError::Invalid {
                setting: "AUTH_OAUTH_<NAME>_*",
                reason: format!("the {what} of provider `{}` is not a URL ({e})", self.name),
            })?;
            let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            let ok = parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback);
            // The redirect URL may name any host of this app over http only on loopback,
            // and a test may name a fictional host it resolves itself.
            let test_host = what == "redirect URL"
                && parsed.scheme() == "http"
                && parsed.host_str().is_some_and(|h| h.ends_with(".test"));
            if !ok && !test_host {
                return Err(ConfigError::Invalid {
                    setting: "AUTH_OAUTH_<NAME>_*",
                    reason: format!(
                        "the {what} of provider `{}` must use https (http only to a loopback host)",
                        self.name
                    ),
                });
            }
        }
        Ok(())
    }
}

/// The configured providers, by name.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    by_name: BTreeMap<String, ProviderConfig>,
}

impl Providers {
    /// No providers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a provider.
    pub fn with(mut self, provider: ProviderConfig) -> Result<Self, ConfigError> {
        provider.validate()?;
        self.by_name.insert(provider.name.clone(), provider);
        Ok(self)
    }

    /// Reads `AUTH_OAUTH_PROVIDERS` (a comma list of names) and each provider's
    /// variables (see [`ProviderConfig::from_vars`]).
    pub fn from_vars(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut providers = Self::new();
        if let Some(list) = lookup("AUTH_OAUTH_PROVIDERS") {
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                providers = providers.with(ProviderConfig::from_vars(name, lookup)?)?;
            }
        }
        Ok(providers)
    }

    /// The provider called `name`.
    pub fn get(&self, name: &str) -> Option<&ProviderConfig> {
        self.by_name.get(name)
    }

    /// Whether none is configured.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}
