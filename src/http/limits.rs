//! Request limits: the concurrency limit that sheds load and the request timeout.
//!
//! Owns the two middlewares around the API routes (`/v1/*`, `/admin/*`). A request over the
//! concurrency limit is refused at once with 503 and `Retry-After`, never queued, so that a
//! burst cannot pile up unbounded work and memory; a request that runs longer than the
//! timeout is abandoned with 504. The body-size limit is axum's `DefaultBodyLimit` (mod.rs),
//! the header read timeout hyper's (server.rs).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::error::ApiError;

/// Runs the request if a slot is free, else answers 503 with `Retry-After`.
///
/// # Errors
///
/// [`ApiError::Overloaded`] when every slot is taken.
pub(crate) async fn shed_load(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Ok(_slot) = state.shared.in_flight.clone().try_acquire_owned() else {
        metrics::counter!("hostloc_http_requests_shed_total").increment(1);
        return Err(ApiError::Overloaded {
            limit: state.shared.settings.max_concurrent_requests,
        });
    };
    Ok(next.run(request).await)
}

/// Runs the request for at most the request timeout.
///
/// # Errors
///
/// [`ApiError::Timeout`] when it takes longer.
pub(crate) async fn time_limit(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let limit = state.shared.settings.request_timeout;
    tokio::time::timeout(limit, next.run(request))
        .await
        .map_err(|_| ApiError::Timeout(limit))
}
