//! A tonic gRPC service behind auth-toolkit: every call needs a bearer token (the
//! reference apps' own tokens, or a trusted issuer's), and an editor or admin role. The
//! guard is `auth_axum::service`, a tower layer over any `http::Request<B>`; refusals are
//! gRPC statuses the core chose (`UNAUTHENTICATED` with a `www-authenticate` metadata
//! entry, `PERMISSION_DENIED`, `UNAVAILABLE`).
//!
//! The one service, `demo.Identity/WhoAmI`, answers with the caller the guard found. Its
//! messages are derived with `prost` in Rust, so nothing needs `protoc`; its schema is
//!
//! ```text
//! service Identity { rpc WhoAmI (WhoAmIRequest) returns (WhoAmIReply); }
//! message WhoAmIRequest {}
//! message WhoAmIReply { string user_id = 1; repeated string roles = 2; }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use auth_core::{Auth, Principal};
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

/// The messages of `demo.Identity`.
pub mod pb {
    /// `WhoAmI`'s request: nothing, the caller is in the call's credentials.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct WhoAmIRequest {}

    /// `WhoAmI`'s answer: the caller the guard authenticated.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct WhoAmIReply {
        /// The caller's user id (`ISSUER#SUBJECT` for a trusted issuer's token).
        #[prost(string, tag = "1")]
        pub user_id: String,
        /// The caller's roles.
        #[prost(string, repeated, tag = "2")]
        pub roles: Vec<String>,
    }
}

/// The path of `demo.Identity/WhoAmI`.
pub const WHO_AM_I: &str = "/demo.Identity/WhoAmI";

/// The `demo.Identity` service.
#[derive(Debug, Clone, Default)]
pub struct Identity;

impl NamedService for Identity {
    const NAME: &'static str = "demo.Identity";
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// `WhoAmI`: reads the [`Principal`] the guard layer put in the request extensions.
struct WhoAmI;

impl UnaryService<pb::WhoAmIRequest> for WhoAmI {
    type Response = pb::WhoAmIReply;
    type Future = BoxFuture<Response<pb::WhoAmIReply>, Status>;

    fn call(&mut self, request: Request<pb::WhoAmIRequest>) -> Self::Future {
        let caller = request.extensions().get::<Principal>().cloned();
        Box::pin(async move {
            // The guard layer always runs first; without it there is no caller.
            let caller = caller.ok_or_else(|| Status::unauthenticated("no caller"))?;
            Ok(Response::new(pb::WhoAmIReply {
                user_id: caller.user_id().to_owned(),
                roles: caller.roles().to_vec(),
            }))
        })
    }
}

impl<B> tower_service::Service<http::Request<B>> for Identity
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<http::Response<Body>, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != WHO_AM_I {
            return Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) });
        }
        Box::pin(async move {
            let mut grpc = Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(WhoAmI, request).await)
        })
    }
}

/// Serves `demo.Identity` on `listener` until it fails: every call needs a bearer token
/// of an editor or admin (the reference apps' `editors()` guard).
pub async fn serve(
    auth: Auth,
    listener: tokio::net::TcpListener,
) -> Result<(), tonic::transport::Error> {
    let guard = auth_axum::service::require(&auth, reference_common::editors());
    tonic::transport::Server::builder()
        .layer(guard)
        .add_service(Identity)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
}
