//! Request limits: the concurrency limit that sheds load and the request timeout, in the one
//! layer around the API routes.
//!
//! Owns [`ApiLayer`], the layer around the API routes (`/v1/*`, `/admin/*`): the access rules
//! first (`access.rs`: token, loopback for `/admin/*`), then the limits. A request over the
//! concurrency limit is refused at once with 503 and `Retry-After`, never queued, so that a
//! burst cannot pile up unbounded work and memory; a request that runs longer than the timeout
//! is abandoned with 504. The body-size limit is axum's `DefaultBodyLimit` (mod.rs), the header
//! read timeout hyper's (server.rs).
//!
//! One hand-written layer rather than one `from_fn` middleware per rule: each of those boxed
//! and cloned the rest of the stack for every request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tokio::sync::OwnedSemaphorePermit;
use tower::{Layer, Service};

use super::AppState;
use super::access;
use super::error::ApiError;

/// Which API routes a layer guards: `/admin/*` also needs a loopback client when no token is
/// configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `/v1/*`.
    Api,
    /// `/admin/*`.
    Admin,
}

/// The layer around the API routes: access rules, load shedding, request timeout, in this order.
#[derive(Clone)]
pub(crate) struct ApiLayer {
    state: AppState,
    scope: Scope,
}

impl ApiLayer {
    /// The layer for the routes of `scope`.
    pub(crate) fn new(state: AppState, scope: Scope) -> ApiLayer {
        ApiLayer { state, scope }
    }
}

impl<S> Layer<S> for ApiLayer {
    type Service = ApiGuard<S>;

    fn layer(&self, inner: S) -> ApiGuard<S> {
        ApiGuard {
            inner,
            state: self.state.clone(),
            scope: self.scope,
        }
    }
}

/// The service of [`ApiLayer`].
#[derive(Clone)]
pub(crate) struct ApiGuard<S> {
    inner: S,
    state: AppState,
    scope: Scope,
}

impl<S> Service<Request> for ApiGuard<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Guarded<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Guarded<S::Future> {
        if let Err(error) = access::check(&self.state, self.scope == Scope::Admin, &request) {
            return Guarded::refused(error);
        }
        let Ok(slot) = self.state.shared.in_flight.clone().try_acquire_owned() else {
            metrics::counter!("hostloc_http_requests_shed_total").increment(1);
            return Guarded::refused(ApiError::Overloaded {
                limit: self.state.shared.settings.max_concurrent_requests,
            });
        };
        let limit = self.state.shared.settings.request_timeout;
        Guarded {
            state: State::Running {
                inner: tokio::time::timeout(limit, self.inner.call(request)),
                _slot: slot,
                limit,
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`ApiGuard`]: a refusal, or the request running under its slot and
    /// timeout.
    pub(crate) struct Guarded<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProjection]
    enum State<F> {
        Refused { response: Option<Response> },
        Running {
            #[pin]
            inner: tokio::time::Timeout<F>,
            // Held until the answer is ready (or the request is abandoned).
            _slot: OwnedSemaphorePermit,
            limit: Duration,
        },
    }
}

impl<F> Guarded<F> {
    fn refused(error: ApiError) -> Guarded<F> {
        Guarded {
            state: State::Refused {
                response: Some(error.into_response()),
            },
        }
    }
}

impl<F> Future for Guarded<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Refused { response } => Poll::Ready(Ok(response
                .take()
                .expect("a refusal is polled once after it is ready"))),
            StateProjection::Running { inner, limit, .. } => match inner.poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(answer)) => Poll::Ready(answer),
                Poll::Ready(Err(_)) => Poll::Ready(Ok(ApiError::Timeout(*limit).into_response())),
            },
        }
    }
}
