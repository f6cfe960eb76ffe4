//! HTTP: `hostloc serve`, the API triage tools call for every incoming report.
//!
//! Owns the HTTP front end: the routes of docs/spec.md ("HTTP"), their JSON errors, access rules,
//! limits, metrics, logs, hot reload triggers and graceful shutdown. Every lookup goes through
//! [`Pipeline::lookup`] and is answered with its [`Report`](crate::Report) as is; no URL
//! parsing, resolving or judging happens here.
//!
//! - `routes.rs`: handlers and their request/response types; `openapi.rs`: the generated
//!   OpenAPI document; `extract.rs` + `error.rs`: JSON rejections and errors.
//! - `access.rs`: API token and loopback rule; `limits.rs`: load shedding and request timeout,
//!   and the one layer around the API routes that applies them and the access rules;
//!   `observe.rs`: access log and request metrics (the outermost layer); `prometheus.rs`: the
//!   Prometheus recorder and `/metrics`.
//! - `reload.rs`: reloads on `POST /admin/reload`, SIGHUP and file changes.
//! - `page.rs`: the analyst's page at `/`, a client of `POST /v1/lookup` (files under `page/`).
//! - `server.rs`: binding (listen backlog) and the connection loop (connection cap, header and
//!   idle timeouts, graceful shutdown); `refusals.rs`: JSON answers to requests hyper refuses
//!   before routing (431, 414, 400).
//!
//! Layers, outermost first: access log + request metrics → panic catcher → (API routes only)
//! token → loopback rule for `/admin/*` → load shedding → request timeout → handler.
//! `/healthz`, `/readyz`, `/metrics` and `/openapi.json` are neither guarded nor shed, so that
//! monitoring keeps working when the server is busy; nor are the page's files (`/`, `/page.js`,
//! `/page.css`, `/favicon.svg`), which carry no data: the API calls the page makes are guarded.

mod access;
mod error;
mod extract;
mod json;
mod limits;
mod observe;
mod openapi;
mod page;
mod prometheus;
mod refusals;
mod reload;
mod routes;
mod server;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;

use crate::Pipeline;
use crate::config::ServeArgs;
use crate::data_age;

pub use access::ApiToken;
pub use error::{ApiError, ErrorBody};
pub use openapi::ApiDoc;
pub use page::CONTENT_SECURITY_POLICY;
pub use reload::ReloadError;

use reload::Reloader;

/// How often the Prometheus recorder folds recorded histogram samples into buckets when nobody
/// scrapes (bounds its memory).
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// The smallest `--max-header-bytes` hyper accepts.
const MIN_HEADER_BYTES: usize = 8192;

/// Settings of the HTTP server (from [`ServeArgs`], or set directly by tests and embedders).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// When set, `/v1/*` and `/admin/*` require `Authorization: Bearer <token>`.
    pub api_token: Option<ApiToken>,
    /// Largest request body accepted, bytes; larger is 413.
    pub max_body_bytes: usize,
    /// Most URLs in one `POST /v1/lookup`; more is 413.
    pub max_batch_urls: usize,
    /// Time limit for one request; longer is 504.
    pub request_timeout: Duration,
    /// Time limit for a client to send its request headers, and to start its first request;
    /// longer closes the connection.
    pub header_timeout: Duration,
    /// A connection with no request running for this long (after its first request) is closed.
    pub idle_timeout: Duration,
    /// Connections open at once; at the limit, new ones wait in the listen queue.
    pub max_connections: usize,
    /// Largest request head (request line and headers), bytes; larger is 431.
    pub max_header_bytes: usize,
    /// Length of the listen queue (`--listen-backlog`), used by [`serve`] when it binds.
    pub listen_backlog: u32,
    /// Requests handled at once on `/v1/*` and `/admin/*`; more are refused with 503.
    pub max_concurrent_requests: usize,
    /// Lookups in flight at once within one `POST /v1/lookup`.
    pub concurrency: usize,
    /// When set, the data files are checked this often and reloaded when they changed.
    pub watch_interval: Option<Duration>,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Whether `/readyz` fails while a database is older than `--max-data-age`.
    pub require_fresh_data: bool,
}

impl Default for HttpSettings {
    /// The defaults of `hostloc serve` (see `config.rs`).
    fn default() -> Self {
        HttpSettings {
            api_token: None,
            max_body_bytes: 1024 * 1024,
            max_batch_urls: 1000,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_header_bytes: 128 * 1024,
            listen_backlog: 1024,
            max_concurrent_requests: 512,
            concurrency: 64,
            watch_interval: None,
            shutdown_grace: Duration::from_secs(10),
            require_fresh_data: false,
        }
    }
}

impl HttpSettings {
    /// The settings `hostloc serve` was started with.
    ///
    /// # Errors
    ///
    /// [`ServeError::Setting`] for a value the server cannot work with (an empty token, a
    /// zero limit).
    pub fn from_args(args: &ServeArgs) -> Result<HttpSettings, ServeError> {
        let positive = |setting: &'static str, value: usize| {
            if value == 0 {
                Err(ServeError::Setting {
                    setting,
                    problem: "must be at least 1",
                })
            } else {
                Ok(value)
            }
        };
        let nonzero = |setting: &'static str, value: Duration| {
            if value.is_zero() {
                Err(ServeError::Setting {
                    setting,
                    problem: "must be longer than 0s",
                })
            } else {
                Ok(value)
            }
        };
        let api_token = match args.api_token.as_deref() {
            None => None,
            Some(token) if token.trim().is_empty() => {
                return Err(ServeError::Setting {
                    setting: "--api-token / HOSTLOC_API_TOKEN",
                    problem: "is set but empty; unset it to run without a token",
                });
            }
            Some(token) => Some(ApiToken::new(token)),
        };
        Ok(HttpSettings {
            api_token,
            max_body_bytes: positive("--max-body-bytes", args.max_body_bytes)?,
            max_batch_urls: positive("--max-batch-urls", args.max_batch_urls)?,
            request_timeout: args.request_timeout,
            header_timeout: nonzero("--header-timeout", args.header_timeout)?,
            idle_timeout: nonzero("--idle-timeout", args.idle_timeout)?,
            max_connections: positive("--max-connections", args.max_connections)?,
            max_header_bytes: if args.max_header_bytes < MIN_HEADER_BYTES {
                return Err(ServeError::Setting {
                    setting: "--max-header-bytes",
                    problem: "must be at least 8192",
                });
            } else {
                args.max_header_bytes
            },
            listen_backlog: u32::try_from(positive("--listen-backlog", args.listen_backlog)?)
                .unwrap_or(u32::MAX),
            max_concurrent_requests: positive(
                "--max-concurrent-requests",
                args.max_concurrent_requests,
            )?,
            concurrency: positive(
                "--concurrency",
                usize::try_from(args.concurrency).unwrap_or(usize::MAX),
            )?,
            watch_interval: args.watch_interval.filter(|interval| !interval.is_zero()),
            shutdown_grace: args.shutdown_grace,
            require_fresh_data: args.require_fresh_data,
        })
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The listen address cannot be bound (in use, not local, no permission).
    #[error("cannot listen on {address}")]
    Listen {
        /// The address of `--listen`.
        address: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The bound socket's address cannot be read.
    #[error("cannot read the address of the listening socket")]
    LocalAddress(#[source] std::io::Error),
    /// A signal handler cannot be installed.
    #[error("cannot handle {signal}")]
    Signal {
        /// The signal's name.
        signal: &'static str,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A setting has a value the server cannot work with.
    #[error("{setting} {problem}")]
    Setting {
        /// The flag (and variable) to fix.
        setting: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// What every handler and middleware shares. Cheap to clone: one `Arc`, because axum clones
/// the state for every layer a request passes and for its handler.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

/// The fields of [`AppState`], behind its one `Arc`.
struct Shared {
    pipeline: Pipeline,
    settings: HttpSettings,
    reloader: Reloader,
    metrics: PrometheusHandle,
    in_flight: Arc<Semaphore>,
    /// What `/readyz` said last, so that a change is logged once (with its reason).
    ready: AtomicBool,
    /// The request metrics' series, registered once each.
    request_series: observe::RequestSeries,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("pipeline", &self.shared.pipeline)
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a server answering from `pipeline` with `settings`. Installs the
    /// process-wide metrics recorder on first use.
    pub fn new(pipeline: Pipeline, settings: HttpSettings) -> AppState {
        AppState {
            shared: Arc::new(Shared {
                reloader: Reloader::new(pipeline.clone()),
                in_flight: Arc::new(Semaphore::new(settings.max_concurrent_requests)),
                metrics: prometheus::handle(),
                settings,
                pipeline,
                ready: AtomicBool::new(true),
                request_series: observe::RequestSeries::default(),
            }),
        }
    }

    /// Whether the server is ready now, and if not, why: a database older than
    /// `--max-data-age` while `--require-fresh-data` is set. A change since the last call is
    /// logged, with the reason.
    fn readiness(&self) -> Result<(), String> {
        let stale = data_age::stale_warnings(&self.shared.pipeline.database_ages());
        let outcome = if self.shared.settings.require_fresh_data && !stale.is_empty() {
            Err(format!("{} (--require-fresh-data)", stale.join("; ")))
        } else {
            Ok(())
        };
        let was_ready = self.shared.ready.swap(outcome.is_ok(), Ordering::Relaxed);
        match &outcome {
            Err(why) if was_ready => tracing::warn!(reason = %why, "not ready: {why}"),
            Ok(()) if !was_ready => tracing::info!("ready again"),
            _ => {}
        }
        outcome
    }

    /// Requests holding a slot of the concurrency limit now.
    fn requests_in_flight(&self) -> usize {
        self.shared
            .settings
            .max_concurrent_requests
            .saturating_sub(self.shared.in_flight.available_permits())
    }
}

/// The routes of the API with all their layers. Requests need a `ConnectInfo<SocketAddr>`
/// extension for `/admin/*` to answer without a token (the server adds it; without it a client
/// counts as not on loopback).
pub fn app(state: AppState) -> Router {
    use limits::{ApiLayer, Scope};

    // Each `layer` / `route_layer` call wraps every route in one more boxed service, cloned for
    // every request: the layers are hand-written and stacked in one call each.
    let admin = Router::new()
        .route("/admin/reload", post(routes::reload))
        .route_layer(ApiLayer::new(state.clone(), Scope::Admin));
    let api = Router::new()
        .route(
            "/v1/lookup",
            get(routes::lookup_one).post(routes::lookup_many),
        )
        .route("/v1/ip/{ip}", get(routes::locate_ip))
        .route_layer(ApiLayer::new(state.clone(), Scope::Api))
        .merge(admin);
    let operations = Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(routes::openapi));
    let max_body_bytes = state.shared.settings.max_body_bytes;
    Router::new()
        .merge(api)
        .merge(operations)
        .merge(page::routes())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(
            tower::ServiceBuilder::new()
                .layer(observe::ObserveLayer::new(state.clone()))
                .layer(CatchPanicLayer::custom(panic_response as fn(_) -> Response))
                .layer(DefaultBodyLimit::max(max_body_bytes)),
        )
        .with_state(state)
}

/// A handler panicked: log it (without the request) and answer a generic 500.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    ApiError::Internal(detail).into_response()
}

/// Serves the HTTP API on `--listen` until SIGTERM or SIGINT; SIGHUP reloads the data.
///
/// Logs `listening on http://ADDRESS` once the socket is bound (with the real port when
/// `--listen` asks for port 0).
///
/// # Errors
///
/// [`ServeError`] when the settings are unusable, the address cannot be bound, or the signal
/// handlers cannot be installed.
pub async fn serve(pipeline: Pipeline, args: &ServeArgs) -> Result<(), ServeError> {
    let settings = HttpSettings::from_args(args)?;
    let terminate = install_signal(SignalKind::terminate(), "SIGTERM")?;
    let interrupt = install_signal(SignalKind::interrupt(), "SIGINT")?;
    let hangup = install_signal(SignalKind::hangup(), "SIGHUP")?;
    let listener = server::bind(args.listen, settings.listen_backlog).map_err(|source| {
        ServeError::Listen {
            address: args.listen,
            source,
        }
    })?;
    let state = AppState::new(pipeline, settings);
    let _reload_on_hangup = AbortOnDrop(tokio::spawn(reload::reload_on_hangup(
        state.shared.reloader.clone(),
        hangup,
    )));
    run(listener, state, shutdown_signal(terminate, interrupt)).await
}

/// Serves the API on an already bound `listener` until `shutdown` completes, then drains
/// requests in flight for up to the shutdown grace. Also watches the data files when
/// `watch_interval` is set. (No signal handling: that is [`serve`]'s.)
///
/// # Errors
///
/// [`ServeError::LocalAddress`] when the listener's address cannot be read.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let address = listener.local_addr().map_err(ServeError::LocalAddress)?;
    let data = state.shared.pipeline.data();
    tracing::info!(
        address = %address,
        jurisdiction = state.shared.pipeline.settings().jurisdiction.code(),
        databases = data.geo.infos().len(),
        networks = data.networks.len(),
        hotlines = data.hotlines.len(),
        anycast_networks = data.anycast.len(),
        token = state.shared.settings.api_token.is_some(),
        "listening on http://{address}"
    );
    state.shared.pipeline.log_stale_data();
    // Logs "not ready: <why>" now rather than at the first probe.
    let _ = state.readiness();
    let metrics = state.shared.metrics.clone();
    let _upkeep = AbortOnDrop(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(METRICS_UPKEEP);
        loop {
            ticker.tick().await;
            metrics.run_upkeep();
        }
    }));
    let _watch = match (
        state.shared.settings.watch_interval,
        state.shared.pipeline.data_paths().cloned(),
    ) {
        (Some(interval), Some(paths)) => {
            // Taken before the first request is served, so that no change after it is missed.
            let seen = reload::fingerprint(&paths);
            Some(AbortOnDrop(tokio::spawn(reload::watch_files(
                state.shared.reloader.clone(),
                paths,
                interval,
                seen,
            ))))
        }
        _ => None,
    };
    let limits = server::ConnectionLimits {
        header_timeout: state.shared.settings.header_timeout,
        idle_timeout: state.shared.settings.idle_timeout,
        max_connections: state.shared.settings.max_connections,
        max_header_bytes: state.shared.settings.max_header_bytes,
        grace: state.shared.settings.shutdown_grace,
    };
    server::serve_connections(listener, app(state), limits, shutdown).await;
    tracing::info!("stopped");
    Ok(())
}

fn install_signal(kind: SignalKind, name: &'static str) -> Result<Signal, ServeError> {
    signal(kind).map_err(|source| ServeError::Signal {
        signal: name,
        source,
    })
}

async fn shutdown_signal(mut terminate: Signal, mut interrupt: Signal) {
    let name = tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    };
    tracing::info!(signal = name, "received {name}");
}

/// A background task that ends with the scope holding it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cli, Command};

    fn serve_args(args: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_args([&["hostloc", "serve"][..], args].concat()).unwrap();
        match cli.command {
            Command::Serve(command) => command.serve,
            other => unreachable!("parsed {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_command_line_defaults() {
        assert_eq!(
            HttpSettings::from_args(&serve_args(&[])).unwrap(),
            HttpSettings::default()
        );
    }

    #[test]
    fn unusable_settings_are_refused() {
        for args in [
            &["--api-token", " "][..],
            &["--max-concurrent-requests", "0"][..],
            &["--concurrency", "0"][..],
            &["--max-batch-urls", "0"][..],
            &["--max-connections", "0"][..],
            &["--max-header-bytes", "100"][..],
            &["--idle-timeout", "0s"][..],
            &["--listen-backlog", "0"][..],
        ] {
            let error = HttpSettings::from_args(&serve_args(args)).unwrap_err();
            assert!(matches!(error, ServeError::Setting { .. }), "{args:?}");
        }
    }

    #[test]
    fn the_openapi_document_lists_every_endpoint() {
        use utoipa::OpenApi;
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for path in [
            "/v1/lookup",
            "/v1/ip/{ip}",
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/admin/reload",
        ] {
            assert!(document["paths"][path].is_object(), "{path}");
        }
        assert!(document["paths"]["/v1/lookup"]["post"].is_object());
        assert!(document["components"]["schemas"]["Report"].is_object());
    }

    /// schemathesis found `GET /v1/ip/0` "schema-valid" while the server rightly refuses it:
    /// the parameter was documented as any string.
    #[test]
    fn the_ip_parameter_is_documented_as_an_address() {
        use utoipa::OpenApi;
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let parameter = &document["paths"]["/v1/ip/{ip}"]["get"]["parameters"][0];
        assert_eq!(parameter["name"], "ip");
        let formats: Vec<&str> = parameter["schema"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|schema| schema["format"].as_str().unwrap())
            .collect();
        assert_eq!(formats, ["ipv4", "ipv6"]);
    }
}
