//! `GET /openapi.json` and `GET /docs` (Swagger UI from the binary), feature `openapi`.
//!
//! ```
//! # fn demo(auth: &auth_core::Auth) -> axum::Router {
//! use auth_openapi::{ApiDoc, Protection};
//! let doc = ApiDoc::new(auth, "My API", "1.0.0").route("GET", "/me", "The caller", Protection::bearer());
//! axum::Router::new().merge(auth_axum::docs::docs_routes(&doc))
//! # }
//! ```

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::response::Response;
use axum::routing::get;

use crate::into_response;

/// The routes, serving `doc` as built now.
pub fn docs_routes<S>(doc: &auth_openapi::ApiDoc) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let spec = Arc::new(doc.json());
    Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let spec = spec.clone();
                async move { into_response(auth_openapi::swagger::spec_reply(&spec)) }
            }),
        )
        .route("/docs", get(|| async { asset("") }))
        .route(
            "/docs/{*rest}",
            get(|Path(rest): Path<String>| async move { asset(&rest) }),
        )
}

fn asset(rest: &str) -> Response {
    into_response(auth_openapi::swagger::docs_reply(rest, "/openapi.json"))
}
