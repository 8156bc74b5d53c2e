//! `GET /openapi.json` and `GET /docs` (Swagger UI from the binary), feature `openapi`.
//!
//! ```
//! # fn demo(auth: &auth_core::Auth) {
//! use auth_openapi::{ApiDoc, Protection};
//! use warp::Filter as _;
//! let doc = ApiDoc::new(auth, "My API", "1.0.0").route("GET", "/me", "The caller", Protection::bearer());
//! let _routes = auth_warp::docs::docs(&doc).or(warp::path("health").map(|| "ok"));
//! # }
//! ```

use std::sync::Arc;

use warp::{Filter, Rejection};

use crate::into_response;

/// The filter, serving `doc` as built now.
pub fn docs(
    doc: &auth_openapi::ApiDoc,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + use<> {
    let spec = Arc::new(doc.json());
    let json = warp::path!("openapi.json")
        .and(warp::get())
        .map(move || into_response(auth_openapi::swagger::spec_reply(&spec)));
    let index = warp::path!("docs").and(warp::get()).map(|| asset(""));
    let assets = warp::path("docs")
        .and(warp::path::tail())
        .and(warp::get())
        .map(|tail: warp::path::Tail| asset(tail.as_str()));
    json.or(index).unify().or(assets).unify()
}

fn asset(rest: &str) -> warp::reply::Response {
    into_response(auth_openapi::swagger::docs_reply(rest, "/openapi.json"))
}
