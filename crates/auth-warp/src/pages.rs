//! The team's own error pages on a group of routes: [`error_pages`] wraps a filter and
//! renders its [`AuthRejection`]s through an [`ErrorPages`] (the core keeps status and
//! headers, or grants the login redirect).

use auth_core::render::ErrorPages;
use warp::Filter;
use warp::reject::Rejection;
use warp::reply::{Reply, Response};

use crate::{AuthRejection, RequestView, into_response, view};

/// `filter` with its refusals rendered by `pages`: `error_pages(pages, browser_routes)`,
/// then `.or(…)` the other routes and `.recover(auth_warp::recover)` as usual. Every other
/// rejection (a path that does not match, a bad body) passes on unchanged, so routes
/// after it are still tried.
pub fn error_pages<F, R>(
    pages: ErrorPages,
    filter: F,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone
where
    F: Filter<Extract = (R,), Error = Rejection> + Clone + Send + Sync + 'static,
    R: Reply + 'static,
{
    // Every outcome of `filter` as a value, so that a refusal meets the request it
    // refused (warp hands a recovery the rejection alone).
    let attempt = filter
        .map(|reply: R| Ok::<Response, Rejection>(reply.into_response()))
        .or_else(|rejection: Rejection| async move { Ok::<_, Rejection>((Err(rejection),)) });
    view().and(warp::path::full()).and(attempt).and_then(
        move |seen: RequestView,
              path: warp::path::FullPath,
              outcome: Result<Response, Rejection>| {
            let pages = pages.clone();
            async move {
                let rejection = match outcome {
                    Ok(response) => return Ok(response),
                    Err(rejection) => rejection,
                };
                match rejection.find::<AuthRejection>() {
                    Some(AuthRejection(error)) => {
                        let target = match seen.query.as_deref() {
                            Some(query) => format!("{}?{query}", path.as_str()),
                            None => path.as_str().to_owned(),
                        };
                        Ok(into_response(pages.render(error, &seen, Some(&target))))
                    }
                    None => Err(rejection),
                }
            }
        },
    )
}
