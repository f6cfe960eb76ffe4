//! The connection loop: bind, accept TCP connections up to a cap, serve HTTP on them, close
//! the idle ones, drain them on shutdown.
//!
//! Owns the transport. `axum::serve` has neither a header read timeout nor an idle timeout nor
//! a connection cap, so connections are served here with hyper-util's HTTP/1 + HTTP/2 builder:
//!
//! - **Connection cap** (`--max-connections`): at the cap, no connection is accepted until one
//!   closes; new clients wait in the listen queue (`--listen-backlog`), they are not refused.
//! - **Header timeout** (`--header-timeout`, hyper's): an HTTP/1 client must finish a request's
//!   headers this long after it starts them (slowloris, headers trickled a byte at a time);
//!   it also bounds the wait for the next request on a kept-alive HTTP/1 connection.
//! - **Idle timeout**: a connection on which no request is running is closed once it has been
//!   idle for `--header-timeout` before its first request (a client that connects and sends
//!   nothing, not even one byte) or for `--idle-timeout` after a request (HTTP/2 included).
//!   It is asked to close gracefully first (HTTP/2 `GOAWAY`) and cut a second later.
//! - **Refusals** (`refusals.rs`): hyper's own empty answers to unparseable or oversized
//!   request heads become JSON errors naming the limit.
//!
//! On shutdown the listener closes, idle connections close, requests in flight finish within
//! `--shutdown-grace`, and connections still open after that are cut. Each request carries its
//! peer address as `ConnectInfo` for the access rules. Nothing here looks at paths or bodies.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

use super::refusals::RefusalRewriter;

/// How long a connection asked to close (idle, or at shutdown with nothing in flight) may take
/// before it is cut.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The transport's limits (from [`HttpSettings`](super::HttpSettings)).
#[derive(Debug, Clone)]
pub(crate) struct ConnectionLimits {
    /// Time to send a request's headers; also the idle limit before the first request.
    pub(crate) header_timeout: Duration,
    /// Idle limit after a request.
    pub(crate) idle_timeout: Duration,
    /// Connections open at once.
    pub(crate) max_connections: usize,
    /// Largest request head (request line and headers), bytes.
    pub(crate) max_header_bytes: usize,
    /// How long shutdown waits for requests in flight.
    pub(crate) grace: Duration,
}

/// Binds `address` with a listen queue of `backlog` connections (the system caps it at
/// `net.core.somaxconn`).
///
/// # Errors
///
/// The operating system's reason when the address cannot be bound.
pub(crate) fn bind(address: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As tokio's `TcpListener::bind` does: a restarted server can bind at once.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(backlog)
}

/// Serves `router` on `listener` until `shutdown` completes, then drains.
pub(crate) async fn serve_connections(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    let mut at_cap_logged = false;
    loop {
        // Reap finished connections so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if !at_cap_logged {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "at the connection limit (--max-connections); new connections wait \
                         until one closes"
                    );
                    at_cap_logged = true;
                }
                metrics::counter!("hostloc_http_connection_limit_reached_total").increment(1);
                tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        if slots.available_permits() > limits.max_connections / 10 {
            at_cap_logged = false;
        }
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    wait_after_accept_error(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = serve_one(
            &builder,
            stream,
            peer,
            router.clone(),
            &limits,
            stopping.clone(),
        );
        connections.spawn(async move {
            let _slot = slot;
            connection.await;
        });
    }
    drop(listener);
    tracing::info!(
        connections = connections.len(),
        grace = %humantime::format_duration(limits.grace),
        "shutting down: no new connections; draining requests in flight"
    );
    let _ = stop.send(true);
    let drained = tokio::time::timeout(limits.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    match drained {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!(
            connections = connections.len(),
            "the shutdown grace period ended; closing the remaining connections"
        ),
    }
    connections.shutdown().await;
}

/// Requests running on one connection, and since when none has been.
#[derive(Debug)]
struct Activity {
    in_flight: AtomicUsize,
    /// When the last request ended (or the connection opened), and whether any ran yet.
    idle_since: Mutex<(Instant, bool)>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new((Instant::now(), false)),
        }
    }

    /// When the connection counts as idle for too long, if no request is running.
    fn idle_deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let (since, served) = *self
            .idle_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(
            since
                + if served {
                    limits.idle_timeout
                } else {
                    limits.header_timeout
                },
        )
    }
}

/// Marks a request as running until dropped (answered, or cancelled with its connection).
struct Running(Arc<Activity>);

impl Running {
    fn start(activity: &Arc<Activity>) -> Running {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Running(Arc::clone(activity))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        *self
            .0
            .idle_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (Instant::now(), true);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Boxed error of a hyper-util connection.
type ConnectionError = Box<dyn std::error::Error + Send + Sync>;

/// Sets up one accepted connection; the future it returns serves it until it ends, has been
/// idle too long, or `stopping` turns true (and then until its requests in flight are answered).
fn serve_one(
    builder: &auto::Builder<TokioExecutor>,
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: &ConnectionLimits,
    stopping: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    // Small JSON answers should not wait for Nagle's algorithm; failing to set it is harmless.
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let service = hyper::service::service_fn({
        let activity = Arc::clone(&activity);
        move |request: hyper::Request<Incoming>| {
            let running = Running::start(&activity);
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            let response = router.clone().oneshot(request);
            async move {
                let response = response.await.unwrap_or_else(|never| match never {});
                drop(running);
                Ok::<_, Infallible>(response)
            }
        }
    });
    let io = TokioIo::new(RefusalRewriter::new(stream, limits.max_header_bytes));
    let connection = builder.serve_connection(io, service).into_owned();
    supervise(
        connection,
        |connection| connection.graceful_shutdown(),
        activity,
        limits.clone(),
        stopping,
    )
}

/// Runs `connection` to its end, asking it to close (`close`) when it has been idle too long or
/// the server stops, and cutting it when it does not close within [`CLOSE_WAIT`] of an idle
/// close.
async fn supervise<C>(
    connection: C,
    close: impl Fn(Pin<&mut C>),
    activity: Arc<Activity>,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
) where
    C: Future<Output = Result<(), ConnectionError>>,
{
    let mut connection = pin!(connection);
    // Once closed for idleness: the time after which the connection is cut.
    let mut cut_at: Option<Instant> = None;
    let mut stop_seen = false;
    loop {
        let deadline = match (cut_at, activity.idle_deadline(&limits)) {
            (Some(cut), _) => cut,
            (None, Some(idle)) => idle,
            // A request is running: look again after the shortest limit.
            (None, None) => Instant::now() + limits.header_timeout.min(limits.idle_timeout),
        };
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(error) = ended {
                    // hyper's header timer runs beside ours with the same limit; when it fires
                    // first, the connection was closed for idleness all the same.
                    if error
                        .downcast_ref::<hyper::Error>()
                        .is_some_and(hyper::Error::is_timeout)
                    {
                        count_idle_close();
                    }
                    // Clients that go away or send garbage are their business, not the
                    // operator's.
                    tracing::debug!(error = %error, "connection ended with an error");
                }
                return;
            }
            changed = stopping.changed(), if !stop_seen => {
                stop_seen = true;
                if changed.is_ok() {
                    close(connection.as_mut());
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                if cut_at.is_some_and(|cut| Instant::now() >= cut) {
                    tracing::debug!("connection cut: it did not close when asked");
                    return;
                }
                if cut_at.is_none()
                    && activity
                        .idle_deadline(&limits)
                        .is_some_and(|idle| Instant::now() >= idle)
                {
                    tracing::debug!("closing an idle connection");
                    count_idle_close();
                    close(connection.as_mut());
                    cut_at = Some(Instant::now() + CLOSE_WAIT);
                }
            }
        }
    }
}

/// Counts a connection closed for sending nothing within its limit, by either timer.
fn count_idle_close() {
    metrics::counter!("hostloc_http_idle_connections_closed_total").increment(1);
}

/// After a failed `accept`: connection-level errors (the client gave up) are retried at once;
/// resource errors (too many open files) get a pause so the loop does not spin.
async fn wait_after_accept_error(error: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    ) {
        return;
    }
    tracing::warn!(error = %error, "cannot accept a connection; retrying shortly");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
