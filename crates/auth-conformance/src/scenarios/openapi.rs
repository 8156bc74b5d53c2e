//! `/openapi.json` and `/docs`: the spec lists every scheme, every protected route
//! carries its requirement, and what the spec says is what the app enforces.

use serde_json::{Value, json};

use super::header;
use crate::app::Target;

/// (method, path, accepted schemes, roles listed) for every protected contract route.
const PROTECTED: &[(&str, &str, &[&str], &[&str])] = &[
    ("get", "/me", &["bearerAuth", "oauth2"], &[]),
    (
        "post",
        "/logout",
        &["bearerAuth", "oauth2", "sessionCookie"],
        &[],
    ),
    ("post", "/logout/all", &["bearerAuth", "oauth2"], &[]),
    ("get", "/sessions", &["bearerAuth", "oauth2"], &[]),
    ("delete", "/sessions/{id}", &["bearerAuth", "oauth2"], &[]),
    ("get", "/data", &["apiKeyHeader", "apiKeyQuery"], &[]),
    ("get", "/dashboard", &["sessionCookie"], &[]),
    (
        "get",
        "/reports",
        &["bearerAuth", "oauth2", "sessionCookie"],
        &[],
    ),
    (
        "post",
        "/articles",
        &["bearerAuth", "oauth2", "sessionCookie"],
        &["editor", "admin"],
    ),
    (
        "delete",
        "/users/{user_id}",
        &["bearerAuth", "oauth2", "sessionCookie"],
        &["admin"],
    ),
    (
        "put",
        "/articles/{id}",
        &["bearerAuth", "oauth2", "sessionCookie"],
        &[],
    ),
    (
        "delete",
        "/articles/{id}",
        &["bearerAuth", "oauth2", "sessionCookie"],
        &[],
    ),
    (
        "post",
        "/mfa/totp/enroll",
        &["bearerAuth", "oauth2", "sessionCookie"],
        &[],
    ),
    (
        "post",
        "/mfa/totp/confirm",
        &["bearerAuth", "oauth2", "sessionCookie"],
        &[],
    ),
    (
        "delete",
        "/mfa/totp",
        &["bearerAuth", "oauth2", "sessionCookie"],
        &[],
    ),
    (
        "get",
        "/mfa/check",
        &["bearerAuth", "oauth2", "sessionCookie"],
        &[],
    ),
    (
        "post",
        "/webauthn/register/start",
        &["bearerAuth", "oauth2", "sessionCookie"],
        &[],
    ),
    (
        "post",
        "/webauthn/register/finish",
        &["bearerAuth", "oauth2", "sessionCookie"],
        &[],
    ),
];

const PUBLIC: &[(&str, &str)] = &[
    ("post", "/token"),
    ("post", "/refresh"),
    ("post", "/login"),
    ("post", "/login/mfa"),
    ("get", "/health"),
    ("get", "/auth/{provider}/login"),
    ("get", "/auth/{provider}/callback"),
    ("post", "/webauthn/login/start"),
    ("post", "/webauthn/login/finish"),
];

/// Scenario: the OpenAPI document and Swagger UI.
pub async fn openapi_spec_follows_the_guards(t: &Target) {
    // With passkeys on, so their routes are served and documented.
    let app = t
        .start_with(&[("AUTH_WEBAUTHN_ORIGIN", "https://app.example")])
        .await;
    let r = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    let spec: Value = r.json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0");

    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["bearerAuth"]["type"], "http");
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["bearerAuth"]["bearerFormat"], "JWT");
    assert_eq!(schemes["oauth2"]["type"], "oauth2");
    assert_eq!(schemes["oauth2"]["flows"]["password"]["tokenUrl"], "/token");
    assert_eq!(
        schemes["apiKeyHeader"],
        json!({"type": "apiKey", "in": "header", "name": "x-api-key"})
    );
    assert_eq!(schemes["apiKeyQuery"]["in"], "query");
    assert_eq!(schemes["apiKeyQuery"]["name"], "api_key");
    assert_eq!(schemes["sessionCookie"]["in"], "cookie");
    assert_eq!(schemes["sessionCookie"]["name"], "session_id");

    for (method, path, accepted, roles) in PROTECTED {
        let op = &spec["paths"][path][method];
        let security = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} has no security"));
        let mut names: Vec<&str> = security
            .iter()
            .flat_map(|alt| alt.as_object().unwrap().keys().map(String::as_str))
            .collect();
        names.sort_unstable();
        let mut want = accepted.to_vec();
        want.sort_unstable();
        assert_eq!(names, want, "{method} {path}");
        for alt in security {
            for (scheme, listed) in alt.as_object().unwrap() {
                let listed: Vec<&str> = listed
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                let want: &[&str] = if scheme == "oauth2" { &[] } else { roles };
                assert_eq!(listed, want, "{method} {path} {scheme}");
            }
        }
        if !roles.is_empty() {
            let required = op["x-required"].as_str().unwrap();
            assert_eq!(required, format!("Required roles: [{}]", roles.join(", ")));
        }
        assert!(op["responses"]["401"].is_object(), "{method} {path}");
        // Path parameters are declared, so "Try it out" can fill them.
        for seg in path.split('/').filter(|s| s.starts_with('{')) {
            let name = &seg[1..seg.len() - 1];
            assert!(
                op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "path"),
                "{method} {path} declares {name}"
            );
        }
    }
    for (method, path) in PUBLIC {
        let op = &spec["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        assert!(op.get("security").is_none(), "{method} {path} is public");
    }

    // What the spec says is what the app does: every operation that lists security
    // refuses a request without credentials (401), whatever the spec was built from.
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_none() {
                continue;
            }
            let url = app.url(&path.replace("{id}", "1").replace("{user_id}", "2"));
            let req = match method.as_str() {
                "get" => app.client.get(url),
                "post" => app.client.post(url),
                "put" => app.client.put(url),
                "delete" => app.client.delete(url),
                other => panic!("unexpected method {other}"),
            };
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 401, "{method} {path} without credentials");
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        PROTECTED.len(),
        "every secured operation is one of the contract's"
    );

    // Swagger UI from the binary: no CDN, a strict CSP.
    let r = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").unwrap().starts_with("text/html"));
    assert!(
        header(&r, "content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("/docs/swagger-ui-bundle.js"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN: {html}"
    );
    for (asset, kind) in [
        ("/docs/swagger-ui-bundle.js", "text/javascript"),
        ("/docs/swagger-ui.css", "text/css"),
        ("/docs/swagger-initializer.js", "text/javascript"),
    ] {
        let r = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        assert!(
            header(&r, "content-type").unwrap().starts_with(kind),
            "{asset}"
        );
    }
    let r = app
        .client
        .get(app.url("/docs/../Cargo.toml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
