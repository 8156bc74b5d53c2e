//! `cargo run -p grpc-tonic`: the `demo.Identity` gRPC service on `GRPC_BIND` (default
//! `127.0.0.1:50051`), configured like the reference apps (`AUTH_*`: with the same
//! `AUTH_JWT_SECRET` it accepts the tokens `reference-axum`'s `/token` issues).

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let reference = reference_common::from_env_or_exit().await;
    let bind = std::env::var("GRPC_BIND").unwrap_or_else(|_| "127.0.0.1:50051".into());
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {bind}: {e}");
            std::process::exit(2);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on grpc://{addr}"),
        Err(e) => eprintln!("warning: no local address: {e}"),
    }
    if let Err(e) = grpc_tonic::serve(reference.auth, listener).await {
        eprintln!("error: server stopped: {e}");
        std::process::exit(1);
    }
}
