//! The load-test server for `docs/BENCHMARKS.md`: one small JSON route served twice, open
//! (`/open`) and behind the `Bearer` extractor (`/protected`), one actix worker.
//!
//! `cargo run --release -p auth-actix --example load` prints the listening line and a
//! bearer header for `wrk -H "Authorization: …"`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark server aborts on a broken setup

use actix_web::{App, HttpResponse, HttpServer, web};
use auth_actix::Bearer;
use serde_json::json;

async fn open() -> HttpResponse {
    HttpResponse::Ok().json(json!({"message": "hello", "items": [1, 2, 3]}))
}

async fn protected(Bearer(_claims): Bearer) -> HttpResponse {
    HttpResponse::Ok().json(json!({"message": "hello", "items": [1, 2, 3]}))
}

#[actix_web::main]
async fn main() {
    let (auth, bind, header) = reference_common::load_test_setup().await.expect("setup");
    let auth = web::Data::new(auth);
    let listener = std::net::TcpListener::bind(bind).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = HttpServer::new(move || {
        App::new()
            .app_data(auth.clone())
            .route("/open", web::get().to(open))
            .route("/protected", web::get().to(protected))
    })
    .workers(1)
    .listen(listener)
    .expect("listen");
    println!("listening on http://{addr}");
    println!("{header}");
    server.run().await.expect("serve");
}
