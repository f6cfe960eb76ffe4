//! Prometheus metrics: the recorder and what `/metrics` reports.
//!
//! Owns the process-wide Prometheus recorder (installed once, whatever the number of servers in
//! the process), the descriptions of hostloc's metrics, and the values computed when `/metrics`
//! is scraped (database build time and age, the size of the networks file, hotline table and
//! anycast list, DNS cache size, requests in flight, and the pooled DNS transport's per-server
//! health and counters, which it keeps in its own atomics so the query path never touches the
//! recorder). Other counters are incremented where things happen: the pipeline (verdicts, DNS),
//! `observe.rs` (requests), `reload.rs` (reloads), `limits.rs` (shed requests). This module
//! decides nothing else.

use std::sync::OnceLock;
use std::time::SystemTime;

use metrics::{describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;
use super::reload::ReloadTrigger;
use crate::geoip::unix_seconds;
use crate::resolve::{DnsOutcome, DnsResolver};
use crate::verdict::Verdict;

/// The request latency histogram.
pub(crate) const REQUEST_DURATION: &str = "hostloc_http_request_duration_seconds";

/// Bucket bounds of [`REQUEST_DURATION`], seconds: a cached lookup takes well under a
/// millisecond, a DNS timeout several seconds, a large batch longer.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus handle, installing the recorder on first use.
pub(crate) fn handle() -> PrometheusHandle {
    HANDLE.get_or_init(install).clone()
}

fn install() -> PrometheusHandle {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.to_owned()), LATENCY_BUCKETS)
        .unwrap_or_else(|_| PrometheusBuilder::new());
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if let Err(error) = metrics::set_global_recorder(recorder) {
        tracing::warn!(
            error = %error,
            "another metrics recorder is installed; /metrics will show only server gauges"
        );
    }
    describe();
    register_series();
    handle
}

fn describe() {
    describe_counter!(
        "hostloc_http_requests_total",
        "HTTP requests answered, by method, route template and status"
    );
    describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by method and route template"
    );
    describe_counter!(
        "hostloc_http_requests_shed_total",
        "Requests refused with 503 because the concurrency limit was reached"
    );
    describe_gauge!(
        "hostloc_http_requests_in_flight",
        "Requests being handled now (those under the concurrency limit)"
    );
    describe_counter!("hostloc_verdicts_total", "Lookups answered, by verdict");
    describe_counter!(
        "hostloc_dns_cache_total",
        "DNS cache lookups, by result (hit or miss)"
    );
    describe_gauge!("hostloc_dns_cache_entries", "Hosts held in the DNS cache");
    describe_counter!(
        "hostloc_dns_outcomes_total",
        "DNS resolutions made (cache misses), by outcome"
    );
    describe_gauge!(
        "hostloc_database_build_timestamp_seconds",
        metrics::Unit::Seconds,
        "Build time of each database in use (Unix time), by role and source name"
    );
    describe_gauge!(
        "hostloc_database_age_seconds",
        metrics::Unit::Seconds,
        "Age of each database in use by its build time, by role and source name"
    );
    describe_gauge!(
        "hostloc_database_stale",
        "1 when a database in use is older than --max-data-age, else 0, by role"
    );
    describe_gauge!(
        "hostloc_data_max_age_seconds",
        metrics::Unit::Seconds,
        "The configured --max-data-age (absent when off)"
    );
    describe_gauge!(
        "hostloc_data_loaded_timestamp_seconds",
        metrics::Unit::Seconds,
        "When the data in use was loaded (Unix time)"
    );
    describe_gauge!(
        "hostloc_networks_entries",
        "Rows of the CDN / reverse-proxy networks file in use"
    );
    describe_gauge!(
        "hostloc_hotlines_entries",
        "Hotlines (rows) of the hotline table in use"
    );
    describe_gauge!(
        "hostloc_hotline_countries",
        "Countries with at least one hotline in the hotline table in use"
    );
    describe_gauge!(
        "hostloc_anycast_entries",
        "Networks of the anycast list in use"
    );
    describe_counter!(
        "hostloc_reloads_total",
        "Data reloads, by result (ok or error) and trigger (http, signal, watch)"
    );
    describe_gauge!(
        "hostloc_data_reload_failing",
        "1 while the latest data reload failed (the data loaded before is still served), else 0"
    );
    describe_counter!(
        "hostloc_http_connection_limit_reached_total",
        "Times the connection limit (--max-connections) held back accepting a connection"
    );
    describe_counter!(
        "hostloc_http_idle_connections_closed_total",
        "Connections closed because no request ran on them for the idle or header timeout"
    );
    describe_counter!(
        "hostloc_http_refused_unparsed_total",
        "Requests refused before routing (400 not HTTP, 414 target too long, 431 head too large)"
    );
    describe_dns_transport();
}

/// The pooled DNS transport's metrics (absent with the hickory transports).
fn describe_dns_transport() {
    describe_gauge!(
        "hostloc_dns_server_up",
        "Whether a DNS server counts as answering (1) or is skipped as down (0), by server"
    );
    describe_gauge!(
        "hostloc_dns_server_rtt_seconds",
        metrics::Unit::Seconds,
        "Smoothed round-trip time of a DNS server's answers, by server"
    );
    describe_gauge!(
        "hostloc_dns_server_window",
        "DNS queries a server may have in flight at once now, by server"
    );
    describe_gauge!(
        "hostloc_dns_server_in_flight",
        "DNS queries in flight to a server now, by server"
    );
    describe_counter!(
        "hostloc_dns_queries_total",
        "DNS queries sent, by server and protocol (udp or tcp)"
    );
    describe_counter!(
        "hostloc_dns_responses_dropped_total",
        "DNS messages dropped, by server and reason (unknown_id, wrong_question and wrong_case \
         are likely forgeries; late answers came after their query gave up)"
    );
    describe_counter!(
        "hostloc_dns_retries_total",
        "DNS tries that moved on (next server, TCP, or without EDNS), by server and reason"
    );
    describe_counter!(
        "hostloc_dns_tcp_connections_total",
        "TCP connections opened to a DNS server, by server"
    );
    describe_counter!(
        "hostloc_dns_socket_rotations_total",
        "UDP sockets replaced by one on a fresh random port, by server"
    );
    describe_counter!(
        "hostloc_dns_questions_merged_total",
        "DNS questions that joined an identical one in flight instead of being sent"
    );
    describe_counter!(
        "hostloc_dns_questions_not_sent_total",
        "DNS questions never sent because hostloc's queue was full (outcome error, queue_full)"
    );
    describe_gauge!(
        "hostloc_dns_questions_queued",
        "DNS questions waiting for room at a busy server now"
    );
}

/// Creates the labelled counters at zero, so that dashboards and alerts see every series
/// (a reload failure or a verdict) before its first occurrence.
fn register_series() {
    for trigger in ReloadTrigger::ALL {
        for result in ["ok", "error"] {
            metrics::counter!("hostloc_reloads_total", "result" => result,
                "trigger" => trigger.as_str())
            .increment(0);
        }
    }
    for verdict in Verdict::ALL {
        metrics::counter!("hostloc_verdicts_total", "verdict" => verdict.as_str()).increment(0);
    }
    for result in ["hit", "miss"] {
        metrics::counter!("hostloc_dns_cache_total", "result" => result).increment(0);
    }
    for outcome in DnsOutcome::ALL {
        metrics::counter!("hostloc_dns_outcomes_total", "outcome" => outcome.as_str()).increment(0);
    }
    metrics::counter!("hostloc_http_requests_shed_total").increment(0);
    metrics::counter!("hostloc_http_connection_limit_reached_total").increment(0);
    metrics::counter!("hostloc_http_idle_connections_closed_total").increment(0);
    for status in ["400", "414", "431"] {
        metrics::counter!("hostloc_http_refused_unparsed_total", "status" => status).increment(0);
    }
}

/// Sets the gauges that describe `state` now and renders every metric as Prometheus text.
pub(crate) fn render(state: &AppState) -> String {
    let data = state.shared.pipeline.data();
    let now = SystemTime::now();
    for (info, database) in data.geo.databases() {
        let Some(built) = database.built() else {
            continue;
        };
        let labels = [("role", info.role.to_string()), ("source", info.source)];
        metrics::gauge!("hostloc_database_build_timestamp_seconds", &labels)
            .set(unix_seconds(built));
        let age = now
            .duration_since(built)
            .map_or(0.0, |age| age.as_secs_f64());
        metrics::gauge!("hostloc_database_age_seconds", &labels).set(age);
    }
    for age in state.shared.pipeline.database_ages() {
        metrics::gauge!("hostloc_database_stale", "role" => age.role.to_string())
            .set(if age.stale { 1.0 } else { 0.0 });
    }
    if let Some(max_age) = state.shared.pipeline.settings().max_data_age {
        metrics::gauge!("hostloc_data_max_age_seconds").set(max_age.as_secs_f64());
    }
    metrics::gauge!("hostloc_data_loaded_timestamp_seconds").set(unix_seconds(data.loaded_at));
    metrics::gauge!("hostloc_networks_entries").set(data.networks.len() as f64);
    metrics::gauge!("hostloc_hotlines_entries").set(data.hotlines.len() as f64);
    metrics::gauge!("hostloc_hotline_countries").set(data.hotlines.country_count() as f64);
    metrics::gauge!("hostloc_anycast_entries").set(data.anycast.len() as f64);
    metrics::gauge!("hostloc_dns_cache_entries")
        .set(state.shared.pipeline.dns_cache().entry_count() as f64);
    metrics::gauge!("hostloc_http_requests_in_flight").set(state.requests_in_flight() as f64);
    let failing = if state.shared.reloader.failure().is_some() {
        1.0
    } else {
        0.0
    };
    metrics::gauge!("hostloc_data_reload_failing").set(failing);
    dns_transport(state.shared.pipeline.dns_cache().resolver());
    state.shared.metrics.render()
}

/// Copies the pooled DNS transport's counters and health into the recorder.
fn dns_transport(resolver: &DnsResolver) {
    let Some(stats) = resolver.transport_stats() else {
        return;
    };
    for server in &stats.servers {
        let label = server.server.to_string();
        let gauge = |name: &'static str, value: f64| {
            metrics::gauge!(name, "server" => label.clone()).set(value);
        };
        gauge("hostloc_dns_server_up", if server.up { 1.0 } else { 0.0 });
        if let Some(rtt) = server.rtt {
            gauge("hostloc_dns_server_rtt_seconds", rtt.as_secs_f64());
        }
        gauge("hostloc_dns_server_window", server.window as f64);
        gauge("hostloc_dns_server_in_flight", server.in_flight as f64);
        let counters = &server.counters;
        for (protocol, count) in [("udp", counters.udp_queries), ("tcp", counters.tcp_queries)] {
            metrics::counter!("hostloc_dns_queries_total", "server" => label.clone(),
                "protocol" => protocol)
            .absolute(count);
        }
        metrics::counter!("hostloc_dns_tcp_connections_total", "server" => label.clone())
            .absolute(counters.tcp_connections);
        metrics::counter!("hostloc_dns_socket_rotations_total", "server" => label.clone())
            .absolute(counters.socket_rotations);
        for (reason, count) in &counters.dropped {
            metrics::counter!("hostloc_dns_responses_dropped_total", "server" => label.clone(),
                "reason" => *reason)
            .absolute(*count);
        }
        for (reason, count) in &counters.retries {
            metrics::counter!("hostloc_dns_retries_total", "server" => label.clone(),
                "reason" => *reason)
            .absolute(*count);
        }
    }
    metrics::counter!("hostloc_dns_questions_merged_total").absolute(stats.merged);
    metrics::counter!("hostloc_dns_questions_not_sent_total").absolute(stats.not_sent);
    metrics::gauge!("hostloc_dns_questions_queued").set(stats.queued as f64);
}
