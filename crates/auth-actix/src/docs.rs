//! `GET /openapi.json` and `GET /docs` (Swagger UI from the binary), feature `openapi`.
//!
//! ```
//! # fn demo(auth: &auth_core::Auth) {
//! use auth_openapi::{ApiDoc, Protection};
//! let doc = ApiDoc::new(auth, "My API", "1.0.0").route("GET", "/me", "The caller", Protection::bearer());
//! let docs = auth_actix::docs::configure(&doc);
//! let _app = actix_web::App::new().configure(docs);
//! # }
//! ```

use std::sync::Arc;

use actix_web::{HttpResponse, web};

use crate::into_response;

/// A `configure` function serving `doc` as built now (clone it into each worker).
pub fn configure(doc: &auth_openapi::ApiDoc) -> impl Fn(&mut web::ServiceConfig) + Clone + use<> {
    let spec = Arc::new(doc.json());
    move |cfg: &mut web::ServiceConfig| {
        let spec = spec.clone();
        cfg.route(
            "/openapi.json",
            web::get().to(move || {
                let spec = spec.clone();
                async move { into_response(auth_openapi::swagger::spec_reply(&spec)) }
            }),
        )
        .route("/docs", web::get().to(|| async { asset("") }))
        .route(
            "/docs/{rest:.*}",
            web::get().to(|rest: web::Path<String>| async move { asset(&rest) }),
        );
    }
}

fn asset(rest: &str) -> HttpResponse {
    into_response(auth_openapi::swagger::docs_reply(rest, "/openapi.json"))
}
