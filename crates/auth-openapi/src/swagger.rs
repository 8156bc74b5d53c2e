//! Swagger UI 5.35.0 (`swagger-ui-dist`, Apache-2.0, see `assets/LICENSE` and
//! `assets/NOTICE`), embedded in the binary: `/docs` works on networks without internet
//! access and loads nothing from a CDN.
//!
//! Framework-neutral: [`docs_reply`] answers `GET /docs` and `GET /docs/{asset}` as an
//! [`auth_core::Reply`]; each adapter mounts it. The page runs no inline script, so its
//! `Content-Security-Policy` allows scripts from this origin only.

use auth_core::Reply;

const BUNDLE: &str = include_str!("../assets/swagger-ui-bundle.js");
const CSS: &str = include_str!("../assets/swagger-ui.css");
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'";

const INDEX: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>API docs</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-initializer.js"></script>
</body>
</html>
"#;

fn initializer(spec_url: &str) -> String {
    format!(
        "window.onload = function () {{\n  window.ui = SwaggerUIBundle({{\n    url: {},\n    dom_id: '#swagger-ui',\n    deepLinking: true,\n    persistAuthorization: false,\n    tryItOutEnabled: false\n  }});\n}};\n",
        serde_json::Value::String(spec_url.to_string())
    )
}

fn reply(content_type: &str, body: String, cache: &str) -> Reply {
    Reply::new(200)
        .header("content-type", content_type)
        .header("cache-control", cache)
        .header("x-content-type-options", "nosniff")
        .header("content-security-policy", CSP)
        .body_text(body)
}

/// The answer for `GET /docs` (`rest` empty) or `GET /docs/{rest}`: the page, an
/// asset, or the core's 404 for anything else. `spec_url` is where the OpenAPI JSON is
/// served (e.g. `/openapi.json`).
pub fn docs_reply(rest: &str, spec_url: &str) -> Reply {
    match rest.trim_start_matches('/') {
        "" | "index.html" => reply("text/html; charset=utf-8", INDEX.into(), "no-cache"),
        "swagger-ui-bundle.js" => reply(
            "text/javascript; charset=utf-8",
            BUNDLE.into(),
            "public, max-age=86400",
        ),
        "swagger-ui.css" => reply(
            "text/css; charset=utf-8",
            CSS.into(),
            "public, max-age=86400",
        ),
        "swagger-initializer.js" => reply(
            "text/javascript; charset=utf-8",
            initializer(spec_url),
            "no-cache",
        ),
        _ => auth_core::AuthError::NotFound {
            detail: "No such documentation asset".into(),
        }
        .into(),
    }
}

/// The answer for `GET /openapi.json`.
pub fn spec_reply(spec_json: &str) -> Reply {
    Reply::new(200)
        .header("content-type", "application/json")
        .header("cache-control", "no-cache")
        .body_text(spec_json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_page_and_assets_and_nothing_else() {
        let index = docs_reply("", "/openapi.json");
        assert!(index.body().contains("/docs/swagger-ui-bundle.js"));
        assert!(!index.body().contains("http"), "no CDN: {}", index.body());
        assert!(
            index
                .header_value("content-security-policy")
                .unwrap()
                .contains("script-src 'self'")
        );
        let bundle = docs_reply("swagger-ui-bundle.js", "/openapi.json");
        assert!(bundle.body().len() > 1_000_000 && bundle.body().contains("SwaggerUIBundle"));
        let init = docs_reply("/swagger-initializer.js", "/spec\"x");
        assert!(
            init.body().contains(r#"url: "/spec\"x""#),
            "{}",
            init.body()
        );
        assert_eq!(docs_reply("../Cargo.toml", "/openapi.json").status(), 404);
        assert_eq!(docs_reply("LICENSE", "/openapi.json").status(), 404);
    }
}
