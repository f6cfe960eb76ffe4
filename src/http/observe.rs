//! The access log and the request metrics.
//!
//! Owns one log line and two metrics per request: `hostloc_http_requests_total{method, route,
//! status}` and the latency histogram. Requests are named by their route *template*
//! (`/v1/ip/{ip}`), never by their path or query string: those carry the reported URLs and
//! addresses, which stay out of logs and metrics (only the pipeline logs a URL, and only with
//! `--log-urls`).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::RwLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::Method;
use metrics::{Counter, Histogram};
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use super::AppState;
use super::prometheus::REQUEST_DURATION;

/// The route label of a request that matched no route.
const UNMATCHED: &str = "unmatched";

/// Routes polled by monitoring; their access-log lines are at debug level so that probes do
/// not drown the log.
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The request metrics' series, each registered with the recorder on its first request and
/// then counted through its handle: the labels are not built, nor the series looked up in the
/// recorder, per request. Keyed by route template, then method and status, all of them bounded
/// (templates are the router's, methods [`method_label`]'s, statuses three digits).
#[derive(Default)]
pub(crate) struct RequestSeries {
    routes: RwLock<HashMap<String, Vec<Series>>>,
}

/// The series of one route, method and status.
struct Series {
    method: &'static str,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

impl RequestSeries {
    /// Counts one request of `route`, `method` and `status` that took `latency`, registering
    /// its series if this is their first request.
    fn record(&self, route: &str, method: &'static str, status: u16, latency: Duration) {
        let count = |series: &[Series]| {
            series
                .iter()
                .find(|series| series.method == method && series.status == status)
                .map(|series| {
                    series.requests.increment(1);
                    series.duration.record(latency.as_secs_f64());
                })
        };
        if let Ok(routes) = self.routes.read()
            && routes.get(route).and_then(|series| count(series)).is_some()
        {
            return;
        }
        let mut routes = self
            .routes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let series = routes.entry(route.to_owned()).or_default();
        if count(series).is_some() {
            return;
        }
        series.push(Series {
            method,
            status,
            requests: metrics::counter!("hostloc_http_requests_total", "method" => method,
                "route" => route.to_owned(), "status" => status.to_string()),
            duration: metrics::histogram!(REQUEST_DURATION, "method" => method,
                "route" => route.to_owned()),
        });
        count(series);
    }
}

/// The layer that logs and counts every request (the outermost of the router's).
#[derive(Clone)]
pub(crate) struct ObserveLayer {
    state: AppState,
}

impl ObserveLayer {
    /// The layer counting into `state`'s request series.
    pub(crate) fn new(state: AppState) -> ObserveLayer {
        ObserveLayer { state }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service of [`ObserveLayer`].
#[derive(Clone)]
pub(crate) struct Observe<S> {
    inner: S,
    state: AppState,
}

impl<S, B> Service<Request> for Observe<S>
where
    S: Service<Request, Response = axum::http::Response<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Observed<S::Future> {
        let started = Instant::now();
        let method = method_label(request.method());
        let route = request.extensions().get::<MatchedPath>().cloned();
        let client = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip());
        let span = tracing::info_span!(
            "request",
            method,
            route = %route.as_ref().map_or(UNMATCHED, MatchedPath::as_str)
        );
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        Observed {
            inner: inner.instrument(span),
            observation: Some(Observation {
                state: self.state.clone(),
                started,
                method,
                route,
                client,
            }),
        }
    }
}

/// What is known of a request before it runs.
struct Observation {
    state: AppState,
    started: Instant,
    method: &'static str,
    route: Option<MatchedPath>,
    client: Option<IpAddr>,
}

impl Observation {
    /// Counts and logs the request, answered with `status`.
    fn finish(self, status: u16) {
        let latency = self.started.elapsed();
        let route = self.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
        let method = self.method;
        self.state
            .shared
            .request_series
            .record(route, method, status, latency);
        let latency_ms = (latency.as_secs_f64() * 1_000_000.0).round() / 1000.0;
        let mut text = IpText::default();
        let client = self
            .client
            .map(|client| tracing::field::display(text.format(client)));
        if PROBES.contains(&route) && status < 400 {
            tracing::debug!(method, route = %route, status, latency_ms, client, "request");
        } else {
            tracing::info!(method, route = %route, status, latency_ms, client, "request");
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`Observe`]: the request, counted and logged when it is answered.
    pub(crate) struct Observed<F> {
        #[pin]
        inner: Instrumented<F>,
        observation: Option<Observation>,
    }
}

impl<F, B, E> Future for Observed<F>
where
    F: Future<Output = Result<axum::http::Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(observation)) = (&answer, this.observation.take()) {
            observation.finish(response.status().as_u16());
        }
        Poll::Ready(answer)
    }
}

/// An IP address as text: the text of its `Display`, written without `core::fmt` for IPv4
/// (the usual client; `Display` was a visible share of a request's cost).
#[derive(Default)]
struct IpText {
    buffer: [u8; 15],
    other: String,
}

impl IpText {
    fn format(&mut self, ip: IpAddr) -> &str {
        match ip {
            IpAddr::V4(ip) => {
                let mut length = 0;
                for (index, octet) in ip.octets().into_iter().enumerate() {
                    if index > 0 {
                        self.buffer[length] = b'.';
                        length += 1;
                    }
                    if octet >= 100 {
                        self.buffer[length] = b'0' + octet / 100;
                        length += 1;
                    }
                    if octet >= 10 {
                        self.buffer[length] = b'0' + octet / 10 % 10;
                        length += 1;
                    }
                    self.buffer[length] = b'0' + octet % 10;
                    length += 1;
                }
                std::str::from_utf8(&self.buffer[..length]).unwrap_or_default()
            }
            IpAddr::V6(_) => {
                self.other = ip.to_string();
                &self.other
            }
        }
    }
}

/// The method as a label: the standard ones by name, anything else as `other`, so that a
/// client cannot create label values at will.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.100.255",
            "255.255.255.255",
            "1.9.99.100",
            "::1",
            "2a00:c98::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::default().format(ip), ip.to_string());
        }
    }
}
