//! The access log and the request metrics.
//!
//! Owns one log line and two metrics per request: `hostloc_http_requests_total{method, route,
//! status}` and the latency histogram. Requests are named by their route *template*
//! (`/v1/ip/{ip}`), never by their path or query string: those carry the reported URLs and
//! addresses, which stay out of logs and metrics (only the pipeline logs a URL, and only with
//! `--log-urls`).

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::prometheus::REQUEST_DURATION;

/// The route label of a request that matched no route.
const UNMATCHED: &str = "unmatched";

/// Routes polled by monitoring; their access-log lines are at debug level so that probes do
/// not drown the log.
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Logs and counts one request.
pub(crate) async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let span = tracing::info_span!("request", method, route = %route);
    let response = next.run(request).instrument(span).await;
    let latency = started.elapsed();
    let status = response.status().as_u16();
    metrics::counter!("hostloc_http_requests_total", "method" => method,
        "route" => route.clone(), "status" => status.to_string())
    .increment(1);
    metrics::histogram!(REQUEST_DURATION, "method" => method, "route" => route.clone())
        .record(latency.as_secs_f64());
    let latency_ms = (latency.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let client = client.map(tracing::field::display);
    if PROBES.contains(&route.as_str()) && status < 400 {
        tracing::debug!(method, route = %route, status, latency_ms, client, "request");
    } else {
        tracing::info!(method, route = %route, status, latency_ms, client, "request");
    }
    response
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
