//! # auth-openapi
//!
//! What your routes enforce, published as OpenAPI 3.1 (built with `utoipa`), from the
//! same [`Guard`] values the adapters enforce, plus a Swagger UI served from the binary
//! (feature `swagger-ui`, on by default: no CDN).
//!
//! Security schemes come from the [`Auth`] configuration: `bearerAuth` (HTTP bearer,
//! JWT), `oauth2` (the password flow at your token URL, so Swagger UI's "Authorize"
//! button logs in), `apiKeyHeader` and `apiKeyQuery` (when the query parameter is
//! allowed), and `sessionCookie`. Each route lists the schemes it accepts as
//! alternatives; a [`Guard`] adds its roles (OpenAPI 3.1 lets non-OAuth schemes list
//! role names) or its OAuth scopes, and an `x-required` extension says the rule in words.
//!
//! ```
//! use auth_core::{AuthBuilder, Guard};
//! use auth_core::policy::Requirement;
//! use auth_openapi::{ApiDoc, Protection};
//!
//! let auth = AuthBuilder::new(b"access-secret-of-at-least-32-bytes", b"refresh-secret-of-at-least-32-byte")
//!     .users(std::sync::Arc::new(auth_core::credential::MemoryUsers::new()))
//!     .build()
//!     .unwrap();
//! let editors = Guard::Require(Requirement::any_role(["editor", "admin"]));
//! let spec = ApiDoc::new(&auth, "My API", "1.0.0")
//!     .route("GET", "/me", "The caller", Protection::bearer())
//!     .route("POST", "/articles", "Create an article", Protection::bearer_or_session().guard(&editors))
//!     .route("GET", "/health", "Liveness", Protection::none())
//!     .json();
//! let doc: serde_json::Value = serde_json::from_str(&spec).unwrap();
//! assert_eq!(doc["openapi"], "3.1.0");
//! assert_eq!(doc["paths"]["/articles"]["post"]["security"][0]["bearerAuth"][0], "editor");
//! ```

use std::collections::BTreeMap;

use auth_core::policy::Requirement;
use auth_core::{Auth, Guard};
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItemBuilder,
};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes,
    SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Required,
    ResponseBuilder, Type,
};

#[cfg(feature = "swagger-ui")]
pub mod swagger;

/// A credential a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Credential {
    /// A bearer access token (from `/token`, the password flow, or a refresh).
    Bearer,
    /// An API key, in the header (and the query parameter, when allowed).
    ApiKey,
    /// A session cookie (unsafe methods also need the CSRF token).
    Session,
}

/// What a route needs: the credentials it accepts (any one of them) and the guard
/// checked on top, if any. `Protection::none()` is a public route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protection {
    accepts: Vec<Credential>,
    guard: Option<Guard>,
}

impl Protection {
    /// A public route.
    pub fn none() -> Self {
        Self::default()
    }

    /// Bearer tokens only.
    pub fn bearer() -> Self {
        Self::accepting([Credential::Bearer])
    }

    /// A session cookie only.
    pub fn session() -> Self {
        Self::accepting([Credential::Session])
    }

    /// A bearer token, else a session cookie (the adapters' `Authenticated`).
    pub fn bearer_or_session() -> Self {
        Self::accepting([Credential::Bearer, Credential::Session])
    }

    /// An API key.
    pub fn api_key() -> Self {
        Self::accepting([Credential::ApiKey])
    }

    /// Any set of credentials.
    pub fn accepting(credentials: impl IntoIterator<Item = Credential>) -> Self {
        Self {
            accepts: credentials.into_iter().collect(),
            guard: None,
        }
    }

    /// Adds the guard the route is wrapped in (the same value the adapter's layer,
    /// middleware or filter checks).
    pub fn guard(mut self, guard: &Guard) -> Self {
        self.guard = Some(guard.clone());
        self
    }

    /// Whether any credential is needed.
    pub fn is_public(&self) -> bool {
        self.accepts.is_empty()
    }

    /// The guard, if any.
    pub fn the_guard(&self) -> Option<&Guard> {
        self.guard.as_ref()
    }
}

/// Scheme names in `components.securitySchemes`.
pub mod schemes {
    /// HTTP bearer (JWT).
    pub const BEARER: &str = "bearerAuth";
    /// OAuth2 password flow.
    pub const OAUTH2: &str = "oauth2";
    /// API key in a header.
    pub const API_KEY_HEADER: &str = "apiKeyHeader";
    /// API key in the query string.
    pub const API_KEY_QUERY: &str = "apiKeyQuery";
    /// The session cookie.
    pub const SESSION: &str = "sessionCookie";
}

struct RouteDoc {
    method: HttpMethod,
    method_name: String,
    summary: String,
    protection: Protection,
}

/// Builds the OpenAPI document of an app from its routes and their protections.
pub struct ApiDoc {
    title: String,
    version: String,
    token_url: String,
    api_key_header: String,
    api_key_query: Option<String>,
    cookie: String,
    routes: BTreeMap<String, Vec<RouteDoc>>,
}

impl std::fmt::Debug for ApiDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiDoc")
            .field("title", &self.title)
            .field("routes", &self.routes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn method(name: &str) -> HttpMethod {
    match name.to_ascii_uppercase().as_str() {
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        "HEAD" => HttpMethod::Head,
        "OPTIONS" => HttpMethod::Options,
        _ => HttpMethod::Get,
    }
}

impl ApiDoc {
    /// A document for `auth`'s configuration (API key header and query parameter, cookie
    /// name), with the token URL `/token`.
    pub fn new(auth: &Auth, title: &str, version: &str) -> Self {
        let keys = auth.api_keys().config();
        Self {
            title: title.into(),
            version: version.into(),
            token_url: "/token".into(),
            api_key_header: keys.header.clone(),
            api_key_query: keys.query_param.clone(),
            cookie: auth.sessions().cookie_name().to_string(),
            routes: BTreeMap::new(),
        }
    }

    /// The token endpoint's URL (default `/token`).
    pub fn token_url(mut self, url: &str) -> Self {
        self.token_url = url.into();
        self
    }

    /// Documents `METHOD path` (axum-style `{param}` segments become path parameters).
    pub fn route(
        mut self,
        method_name: &str,
        path: &str,
        summary: &str,
        protection: Protection,
    ) -> Self {
        self.routes.entry(path.into()).or_default().push(RouteDoc {
            method: method(method_name),
            method_name: method_name.to_ascii_lowercase(),
            summary: summary.into(),
            protection,
        });
        self
    }

    fn requirements(&self, p: &Protection) -> Vec<SecurityRequirement> {
        let (roles, scopes): (Vec<String>, Vec<String>) = match &p.guard {
            Some(Guard::Require(Requirement::AnyRole(r) | Requirement::AllRoles(r))) => {
                (r.clone(), Vec::new())
            }
            Some(Guard::Scopes(s)) => (Vec::new(), s.clone()),
            _ => (Vec::new(), Vec::new()),
        };
        let mut out = Vec::new();
        for c in &p.accepts {
            match c {
                Credential::Bearer => {
                    out.push(SecurityRequirement::new(schemes::BEARER, roles.clone()));
                    out.push(SecurityRequirement::new(schemes::OAUTH2, scopes.clone()));
                }
                Credential::ApiKey => {
                    out.push(SecurityRequirement::new(
                        schemes::API_KEY_HEADER,
                        roles.clone(),
                    ));
                    if self.api_key_query.is_some() {
                        out.push(SecurityRequirement::new(
                            schemes::API_KEY_QUERY,
                            roles.clone(),
                        ));
                    }
                }
                Credential::Session => {
                    out.push(SecurityRequirement::new(schemes::SESSION, roles.clone()));
                }
            }
        }
        out
    }

    fn required_text(p: &Protection) -> Option<String> {
        let text = match &p.guard {
            Some(Guard::Require(r)) => r.describe(),
            Some(Guard::Scopes(s)) => format!("Required scopes: [{}]", s.join(", ")),
            Some(Guard::SecondFactor) => "Required: a sign-in with a second factor (RFC 9470 \
                 insufficient_user_authentication otherwise)"
                .to_string(),
            _ => return None,
        };
        Some(text)
    }

    /// The document.
    pub fn build(&self) -> OpenApi {
        let mut paths = PathsBuilder::new();
        let mut all_scopes: BTreeMap<String, String> = BTreeMap::new();
        for (path, routes) in &self.routes {
            let params: Vec<String> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(String::from)
                .collect();
            let mut item = PathItemBuilder::new();
            for route in routes {
                let mut op = OperationBuilder::new()
                    .summary(Some(route.summary.clone()))
                    .operation_id(Some(format!(
                        "{}{}",
                        route.method_name,
                        path.replace(['/', '{', '}'], "_")
                    )))
                    .response("200", ResponseBuilder::new().description("Success").build());
                for name in &params {
                    op = op.parameter(
                        ParameterBuilder::new()
                            .name(name)
                            .parameter_in(ParameterIn::Path)
                            .required(Required::True)
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
                    );
                }
                if !route.protection.is_public() {
                    for req in self.requirements(&route.protection) {
                        op = op.security(req);
                    }
                    op = op
                        .response(
                            "401",
                            ResponseBuilder::new()
                                .description("Missing or invalid credentials")
                                .build(),
                        )
                        .response(
                            "403",
                            ResponseBuilder::new()
                                .description("Authenticated, but not allowed (role, scope, CSRF)")
                                .build(),
                        );
                    if let Some(Guard::Scopes(s)) = route.protection.the_guard() {
                        for scope in s {
                            all_scopes.insert(scope.clone(), format!("The `{scope}` scope"));
                        }
                    }
                    let mut ext = ExtensionsBuilder::new().add(
                        "x-accepts",
                        serde_json::json!(
                            route
                                .protection
                                .accepts
                                .iter()
                                .map(|c| format!("{c:?}").to_ascii_lowercase())
                                .collect::<Vec<_>>()
                        ),
                    );
                    if let Some(text) = Self::required_text(&route.protection) {
                        op = op.description(Some(text.clone()));
                        ext = ext.add("x-required", serde_json::json!(text));
                    }
                    op = op.extensions(Some(ext.build()));
                }
                item = item.operation(route.method.clone(), op.build());
            }
            paths = paths.path(path.clone(), item.build());
        }
        let bearer = SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("An access token from the token endpoint"))
                .build(),
        );
        let oauth2 = SecurityScheme::OAuth2(OAuth2::with_description(
            [Flow::Password(Password::new(
                self.token_url.clone(),
                Scopes::from_iter(all_scopes),
            ))],
            "The OAuth2 password flow (first-party clients only, RFC 9700 §2.4)",
        ));
        let mut components = ComponentsBuilder::new()
            .security_scheme(schemes::BEARER, bearer)
            .security_scheme(schemes::OAUTH2, oauth2)
            .security_scheme(
                schemes::API_KEY_HEADER,
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(self.api_key_header.clone()))),
            )
            .security_scheme(
                schemes::SESSION,
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                    self.cookie.clone(),
                    "The session cookie from /login; unsafe methods also need the X-CSRF-Token header".to_string(),
                ))),
            );
        if let Some(q) = &self.api_key_query {
            components = components.security_scheme(
                schemes::API_KEY_QUERY,
                SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                    q.clone(),
                    "Accepted, but logged as a warning: prefer the header".to_string(),
                ))),
            );
        }
        OpenApiBuilder::new()
            .info(
                InfoBuilder::new()
                    .title(self.title.clone())
                    .version(self.version.clone()),
            )
            .paths(paths)
            .components(Some(components.build()))
            .build()
    }

    /// The document as JSON.
    pub fn json(&self) -> String {
        self.build().to_json().unwrap_or_else(|_| "{}".into())
    }
}

/// The crate's README, whose examples run as doctests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
