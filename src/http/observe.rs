//! The access log and the request metrics.
//!
//! Owns one log line and two metrics per request: `hostloc_http_requests_total{method, route,
//! status}` and the latency histogram. Requests are named by their route *template*
//! (`/v1/ip/{ip}`), never by their path or query string: those carry the reported URLs and
//! addresses, which stay out of logs and metrics (only the pipeline logs a URL, and only with
//! `--log-urls`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::RwLock;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram};
use tracing::Instrument;

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
#[derive(Clone)]
struct Series {
    method: &'static str,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

impl RequestSeries {
    /// The series of `route`, `method` and `status`, registered now if this is their first
    /// request.
    fn get(&self, route: &str, method: &'static str, status: u16) -> Series {
        let find = |series: &[Series]| {
            series
                .iter()
                .find(|series| series.method == method && series.status == status)
                .cloned()
        };
        if let Ok(routes) = self.routes.read()
            && let Some(found) = routes.get(route).and_then(|series| find(series))
        {
            return found;
        }
        let mut routes = self
            .routes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let series = routes.entry(route.to_owned()).or_default();
        if let Some(found) = find(series) {
            return found;
        }
        let registered = Series {
            method,
            status,
            requests: metrics::counter!("hostloc_http_requests_total", "method" => method,
                "route" => route.to_owned(), "status" => status.to_string()),
            duration: metrics::histogram!(REQUEST_DURATION, "method" => method,
                "route" => route.to_owned()),
        };
        series.push(registered.clone());
        registered
    }
}

/// Logs and counts one request.
pub(crate) async fn observe(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let span = tracing::info_span!("request", method, route = %route);
    let response = next.run(request).instrument(span).await;
    let latency = started.elapsed();
    let status = response.status().as_u16();
    let series = state.shared.request_series.get(route, method, status);
    series.requests.increment(1);
    series.duration.record(latency.as_secs_f64());
    let latency_ms = (latency.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let client = client.map(tracing::field::display);
    if PROBES.contains(&route) && status < 400 {
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
