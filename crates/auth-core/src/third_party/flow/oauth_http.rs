//! The `oauth2` crate's HTTP client, served by our [`HttpClient`].

use std::sync::Arc;

use crate::third_party::client::{HttpClient, HttpClientError, OutboundRequest};

/// The `oauth2` crate's view of our [`HttpClient`].
pub(super) struct OAuthHttp(pub(super) Arc<dyn HttpClient>);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpClientError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<oauth2::HttpResponse, HttpClientError>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let answer = self.0.send(to_outbound(request)).await?;
            let mut builder = oauth2::http::Response::builder().status(answer.status);
            for (name, value) in &answer.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            builder
                .body(answer.body)
                .map_err(|e| HttpClientError(e.to_string()))
        })
    }
}

fn to_outbound(req: oauth2::HttpRequest) -> OutboundRequest {
    let method = if req.method() == oauth2::http::Method::POST {
        "POST"
    } else {
        "GET"
    };
    let url = req.uri().to_string();
    let headers = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    OutboundRequest {
        method,
        url,
        headers,
        body: req.into_body(),
    }
}
