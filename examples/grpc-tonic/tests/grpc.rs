//! The guarded gRPC service, served by a real tonic server on a loopback port and called
//! by a real tonic client: the caller reaches the handler, refusals are the gRPC statuses
//! the core chose, with their metadata.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth_core::Auth;
use auth_core::credential::User;
use grpc_tonic::{WHO_AM_I, pb};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

async fn auth() -> Auth {
    reference_common::for_tests().await.unwrap()
}

fn user(id: &str, role: &str) -> User {
    reference_common::test_user(id, role)
}

/// Starts the server on a free port; a client channel to it.
async fn start(auth: Auth) -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { grpc_tonic::serve(auth, listener).await.unwrap() });
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("the tonic server answers")
}

/// Calls `WhoAmI` with an optional `authorization` metadata entry.
async fn who_am_i(
    channel: &Channel,
    authorization: Option<&str>,
) -> Result<pb::WhoAmIReply, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let mut request = Request::new(pb::WhoAmIRequest {});
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    let codec = tonic_prost::ProstCodec::<pb::WhoAmIRequest, pb::WhoAmIReply>::default();
    grpc.unary(request, PathAndQuery::from_static(WHO_AM_I), codec)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn the_caller_reaches_the_handler() {
    let auth = auth().await;
    let channel = start(auth.clone()).await;
    let bearer = auth_core::testing::bearer_header(&auth, &user("2", "editor"))
        .await
        .unwrap();
    let reply = who_am_i(&channel, Some(&bearer)).await.unwrap();
    assert_eq!(reply.user_id, "2");
    assert_eq!(reply.roles, ["editor"]);
}

#[tokio::test]
async fn refusals_are_grpc_statuses_with_their_metadata() {
    let auth = auth().await;
    let channel = start(auth.clone()).await;

    // No token: UNAUTHENTICATED, and the challenge as metadata.
    let status = who_am_i(&channel, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "Not authenticated: send a bearer token");
    assert_eq!(status.metadata().get("www-authenticate").unwrap(), "Bearer");

    // A forged token: UNAUTHENTICATED with RFC 6750's invalid_token.
    let status = who_am_i(&channel, Some("Bearer not.a.token"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let challenge = status.metadata().get("www-authenticate").unwrap();
    assert!(
        challenge.to_str().unwrap().contains("invalid_token"),
        "{challenge:?}"
    );

    // A viewer is authenticated but not an editor: PERMISSION_DENIED.
    let viewer = auth_core::testing::bearer_header(&auth, &user("3", "viewer"))
        .await
        .unwrap();
    let status = who_am_i(&channel, Some(&viewer)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.metadata().get("www-authenticate").is_none());

    // A revoked login: UNAUTHENTICATED again.
    let editor = user("2", "editor");
    let bearer = auth_core::testing::bearer_header(&auth, &editor)
        .await
        .unwrap();
    assert!(who_am_i(&channel, Some(&bearer)).await.is_ok());
    auth.tokens().logout_all(&editor.id).await.unwrap();
    let status = who_am_i(&channel, Some(&bearer)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}
