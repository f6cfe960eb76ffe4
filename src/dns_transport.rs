//! DNS transport: a fast stub client over a fixed pool of long-lived UDP sockets.
//!
//! Owns the wire between hostloc and its configured name servers for the `pooled` transport:
//! a few `connect()`ed UDP sockets per server, bound to OS-chosen ports, each with one receive
//! task that hands responses to the queries waiting for them; random query IDs, unique per
//! socket among the queries in flight; an adaptive bound on the queries in flight per server;
//! per-attempt timeouts with resends inside an attempt and retries rotating over the servers;
//! TCP to the same server when a response is truncated; and following CNAME chains the server
//! did not chase. `PooledUdpClient::lookup` keeps the contract of hickory's
//! `Resolver::lookup` with `preserve_intermediates` (same `Lookup` answers, same `NetError`s), so
//! `resolve.rs` classifies both transports with the same code.
//!
//! Why it exists: hickory-resolver opens, binds and closes a new UDP socket for every query,
//! which makes DNS cost a batch several times the CPU of everything else; reusing a handful of
//! sockets reaches a local server's ceiling instead (`bench/batch_dns.sh` compares the two).
//!
//! # Flow control
//!
//! Each server has a window: the queries that may be outstanding at it at once; more wait
//! their turn, first come first served. A client this fast can otherwise outrun a server that
//! answers from memory: queries pile up in its socket buffer (about 200 small datagrams with
//! Linux defaults) and the overflow is dropped, each drop costing its query a resend interval.
//! Against a local dnsmasq on two cores, 64–192 in flight all give the same rate and no drops,
//! while 256 overflows it and the rate falls twentyfold. A recursive resolver, on the other
//! hand, parks queries while it asks other servers, so its rate grows with what is in flight: at
//! 50 ms per answer, 128 in flight allow only 2 560 queries/s.
//!
//! So the window starts at 128 and widens only while widening demonstrably raises the answer
//! rate (see `WindowControl`), up to 4 096; it never goes below 128. It takes a second or two to
//! open fully against a slow resolver.
//!
//! This module must not talk to anything but the configured name servers (UDP sockets are
//! connected to them, so the kernel drops datagrams from anyone else; TCP goes only to the
//! server that sent the truncated answer), must not log queried names, and must not cache
//! (`cache.rs` does).
//!
//! # Spoofing
//!
//! A response is accepted only when it arrives on the socket that sent the query, from the
//! server's address and port, carries a query ID pending on that socket, and echoes the query's
//! question (name case-insensitively, type, class). Everything else is dropped and counted.
//!
//! The residual risk is higher than with hickory's fresh random source port per query. The
//! pool's ports live as long as the process, so an off-path attacker who has learned them needs
//! to match only the 16-bit ID rather than ID and port; with n queries in flight on a socket,
//! one forged datagram hits *some* pending ID with probability n in 65 536: 1 in 2 048 at 32 (a
//! quarter of the starting window), 1 in 64 if a slow server has opened the window fully. It
//! must also echo the question, so the attacker must know which name is being asked right
//! then. A forgery that lands changes that host's resolution, and `cache.rs` keeps it for its
//! TTL (at most `--cache-max-ttl`). This is the exposure of massdns and of any stub that reuses
//! sockets, acceptable for a local or trusted-path resolver, which is what hostloc is meant to
//! be pointed at. For an untrusted path, `--dns-transport hickory` remains.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::{
    DEFAULT_RETRY_FLOOR, Edns, Message, MessageType, OpCode, Query, ResponseCode,
};
use hickory_resolver::proto::rr::rdata::CNAME;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{Semaphore, SemaphorePermit, TryAcquireError, oneshot};
use tokio::task::AbortHandle;

/// UDP sockets opened per name server. A few spread the receive work over the runtime's
/// threads and the kernel's per-socket buffers; more buy nothing against one server.
const SOCKETS_PER_SERVER: usize = 4;

/// Queries in flight at once to one server to begin with, and never fewer (see "Flow control"
/// above): few enough that the default socket buffer of a server answering from memory holds
/// them all.
const MIN_WINDOW: usize = 128;

/// Queries in flight at once to one server at most, however well the window grows. This bounds
/// memory and keeps IDs sparse: spread over four sockets, about 1 024 of each one's 65 536.
const MAX_WINDOW: usize = 4096;

/// A probe widens the window by this many quarters of itself at first; each probe that pays
/// off doubles the next widening, up to [`MAX_PROBE_QUARTERS`] (doubling the window), as TCP's
/// slow start does, so a slow resolver's window opens in about a second rather than several.
const FIRST_PROBE_QUARTERS: usize = 1;

/// The largest widening, in quarters of the window.
const MAX_PROBE_QUARTERS: usize = 4;

/// A probe is kept only if the answer rate grows by at least this share of the widening: a
/// server bound by round trips answers in proportion (a quarter more in flight, a quarter more
/// answers), one that is itself the bottleneck answers no more.
const PROBE_EFFICIENCY: f64 = 0.75;

/// Rates are compared over at least this long (and two windows' worth of answers), so that
/// scheduling noise does not pass for a gain.
const MIN_EPOCH: Duration = Duration::from_millis(100);

/// After a probe that bought nothing, or a timeout, the window stays put this long; each
/// further probe that buys nothing doubles the pause, up to [`MAX_PROBE_HOLD`], so a server at
/// its ceiling is not pushed past it every second.
const PROBE_HOLD: Duration = Duration::from_secs(1);

/// The longest pause between probes.
const MAX_PROBE_HOLD: Duration = Duration::from_secs(32);

/// How often a query is sent within one attempt while no answer comes: a lost datagram then
/// costs [`RESEND_INTERVAL`], not the whole attempt. hickory-resolver resends the same way.
const SENDS_PER_ATTEMPT: usize = 3;

/// The pause before a resend: hickory's floor for its resend interval. A recursive resolver
/// may take this long for a name it must look up itself, so resending sooner would mostly
/// duplicate work.
const RESEND_INTERVAL: Duration = DEFAULT_RETRY_FLOOR;

/// The UDP payload size advertised with EDNS0: the DNS flag day 2020 value, which avoids IP
/// fragmentation on any common path.
const EDNS_PAYLOAD: u16 = 1232;

/// Receive buffer asked of the kernel per socket, so a burst of answers is not dropped while the
/// receive task waits for a thread that is busy with lookups (the kernel caps it at `rmem_max`).
const RECEIVE_BUFFER_BYTES: usize = 1 << 20;

/// Queries one lookup may send while following a CNAME chain, as hickory-resolver allows.
const MAX_QUERIES_PER_LOOKUP: usize = 8;

/// Largest DNS message over UDP or TCP.
const MAX_MESSAGE_BYTES: usize = 65_535;

/// A DNS client over a fixed pool of long-lived, connected UDP sockets per name server. Cheap to
/// clone: clones share the sockets. The receive tasks end when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct PooledUdpClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PooledUdpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledUdpClient")
            .field("servers", &self.inner.servers.len())
            .field("timeout", &self.inner.timeout)
            .field("attempts", &self.inner.attempts)
            .finish_non_exhaustive()
    }
}

struct Inner {
    servers: Vec<ServerPool>,
    timeout: Duration,
    attempts: usize,
    receivers: Vec<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The receive tasks hold their sockets; without this they would wait for datagrams
        // forever after the last client is gone.
        for receiver in &self.receivers {
            receiver.abort();
        }
    }
}

/// The sockets aimed at one name server.
struct ServerPool {
    address: SocketAddr,
    sockets: Vec<Arc<PooledSocket>>,
    next: AtomicUsize,
    window: Window,
}

impl ServerPool {
    /// The next socket, round robin, so load spreads evenly.
    fn socket(&self) -> &PooledSocket {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.sockets.len();
        &self.sockets[index]
    }
}

/// One connected UDP socket and the queries waiting for an answer on it.
struct PooledSocket {
    socket: UdpSocket,
    pending: Mutex<PendingQueries>,
    dropped: AtomicU64,
}

/// The in-flight queries of one socket, by query ID.
#[derive(Default)]
struct PendingQueries {
    by_id: HashMap<u16, Waiter>,
    /// Tells apart successive queries that happened to draw the same ID, so a finished query
    /// never removes its successor's entry.
    next_ticket: u64,
}

struct Waiter {
    ticket: u64,
    query: Query,
    reply: oneshot::Sender<Message>,
}

/// Counters of the pooled transport, for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransportStats {
    /// Queries sent and not yet answered, timed out or abandoned.
    pub in_flight: usize,
    /// Datagrams dropped because no pending query matched them: unknown ID, wrong question,
    /// undecodable, or an answer that came after its query had given up.
    pub dropped_responses: u64,
}

impl PooledUdpClient {
    /// Opens [`SOCKETS_PER_SERVER`] UDP sockets per server, each bound to an OS-chosen port and
    /// connected to its server, and spawns one receive task per socket.
    ///
    /// Needs a tokio runtime (the receive tasks run on the current one). `timeout` bounds each
    /// attempt; `attempts` counts every try, the first included (0 is taken as 1).
    ///
    /// A server whose sockets cannot be opened (say, an IPv6 server on a host without IPv6) is
    /// left out with a warning.
    ///
    /// # Errors
    ///
    /// An I/O error when no server is given, no server's sockets can be opened and connected,
    /// or no tokio runtime is running.
    pub(crate) fn new(
        servers: Vec<SocketAddr>,
        timeout: Duration,
        attempts: usize,
    ) -> io::Result<PooledUdpClient> {
        if servers.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no name server to send queries to",
            ));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            io::Error::other("the pooled DNS transport needs a running tokio runtime")
        })?;
        let mut pools = Vec::with_capacity(servers.len());
        let mut receivers = Vec::with_capacity(servers.len() * SOCKETS_PER_SERVER);
        let mut unusable = None;
        for address in servers {
            let sockets = match open_sockets(address) {
                Ok(sockets) => sockets,
                Err(error) => {
                    // As with hickory, a server this host cannot reach (an IPv6 server without
                    // IPv6, say) does not stop the others from being used.
                    tracing::warn!(server = %address, %error, "cannot use this DNS server");
                    unusable = Some(error);
                    continue;
                }
            };
            for socket in &sockets {
                receivers.push(runtime.spawn(receive(Arc::clone(socket))).abort_handle());
            }
            pools.push(ServerPool {
                address,
                sockets,
                next: AtomicUsize::new(0),
                window: Window::new(Instant::now()),
            });
        }
        if pools.is_empty() {
            return Err(unusable.unwrap_or_else(|| io::Error::other("no usable name server")));
        }
        Ok(PooledUdpClient {
            inner: Arc::new(Inner {
                servers: pools,
                timeout,
                attempts: attempts.max(1),
                receivers,
            }),
        })
    }

    /// Looks up `record_type` records of `name`, following CNAMEs the server did not chase.
    ///
    /// On success the [`Lookup`]'s answers are the CNAME chain from `name`, in order, then the
    /// records of `record_type` at its end, as hickory's `Resolver::lookup` returns them with
    /// `preserve_intermediates`.
    ///
    /// # Errors
    ///
    /// As hickory-resolver reports them: [`DnsError::NoRecordsFound`] for NXDOMAIN and for no
    /// data (with the response code and the negative TTL from the SOA), [`DnsError::ResponseCode`]
    /// for SERVFAIL, REFUSED and other failure codes, [`NetError::Timeout`] when no attempt got an
    /// answer in time, [`NetError::Io`] when sending failed, and [`NetError::Proto`] or
    /// [`NetError::Message`] for a query that cannot be encoded or a broken TCP answer.
    pub(crate) async fn lookup(
        &self,
        name: Name,
        record_type: RecordType,
    ) -> Result<Lookup, NetError> {
        let mut name = name;
        name.set_fqdn(true);
        let original = Query::query(name, record_type);
        let mut query = original.clone();
        let mut chain: Vec<Record> = Vec::new();
        let mut visited: Vec<Name> = vec![query.name().clone()];
        let mut dead_end = None;
        for _ in 0..MAX_QUERIES_PER_LOOKUP {
            let message = self.exchange(&query).await?;
            match interpret(&query, message)? {
                Step::Answer(records) => {
                    chain.extend(records);
                    return Ok(lookup_of(original, chain));
                }
                Step::Follow {
                    cnames,
                    target,
                    unresolved,
                } => {
                    chain.extend(cnames);
                    if visited.contains(&target) {
                        // A loop across responses: as far as this chain goes, nothing is there.
                        return Err(unresolved.into());
                    }
                    visited.push(target.clone());
                    dead_end = Some(unresolved);
                    query = Query::query(target, record_type);
                }
            }
        }
        // The chain is longer than hickory would follow; it reports the last answer then.
        Err(dead_end
            .unwrap_or_else(|| NoRecords::new(query, ResponseCode::NoError))
            .into())
    }

    /// The pool's counters, summed over every socket.
    pub(crate) fn stats(&self) -> TransportStats {
        let mut stats = TransportStats::default();
        for socket in self.inner.servers.iter().flat_map(|pool| &pool.sockets) {
            stats.in_flight += socket.pending().by_id.len();
            stats.dropped_responses += socket.dropped.load(Ordering::Relaxed);
        }
        stats
    }

    /// Sends `query` until a server answers it: one attempt per try, rotating over the servers
    /// (first server first), each bounded by the timeout once the server has room for it; a
    /// truncated answer is asked again over TCP from the same server.
    async fn exchange(&self, query: &Query) -> Result<Message, NetError> {
        let inner = &*self.inner;
        let mut failure = NetError::Timeout;
        for attempt in 0..inner.attempts {
            let pool = &inner.servers[attempt % inner.servers.len()];
            // Waiting for room is not part of the attempt's time: the server has not been asked
            // yet. The lookup's hard deadline (resolve.rs) still bounds the wait.
            let _in_flight = pool.window.enter().await?;
            let asked = tokio::time::timeout(inner.timeout, pool.socket().ask(query)).await;
            match &asked {
                Ok(Ok(_)) => pool.window.answered(Instant::now()),
                Err(_elapsed) => pool.window.timed_out(Instant::now()),
                Ok(Err(_)) => {}
            }
            let result = match asked {
                Ok(Ok(message)) if message.metadata.truncation => {
                    tokio::time::timeout(inner.timeout, ask_over_tcp(pool.address, query))
                        .await
                        .unwrap_or(Err(NetError::Timeout))
                }
                Ok(result) => result,
                Err(_elapsed) => Err(NetError::Timeout),
            };
            match result {
                Ok(message) => return Ok(message),
                // Another server, or a later try, may do better. An I/O error says more about
                // what went wrong than a timeout does, so it is the one reported.
                Err(NetError::Timeout) => {}
                Err(error) => failure = error,
            }
        }
        Err(failure)
    }
}

impl PooledSocket {
    /// Sends `query` with a fresh ID and waits for the response the receive task routes back,
    /// resending it (same ID) every [`RESEND_INTERVAL`] while none comes. Dropping the future
    /// (a timeout) withdraws the query, so a late answer finds no taker.
    async fn ask(&self, query: &Query) -> Result<Message, NetError> {
        let (reply, mut response) = oneshot::channel();
        let pending = self.register(query, reply);
        let datagram = encode(pending.id, query)?;
        self.send(&datagram).await?;
        for _ in 1..SENDS_PER_ATTEMPT {
            tokio::select! {
                message = &mut response => return received(message),
                () = tokio::time::sleep(RESEND_INTERVAL) => self.send(&datagram).await?,
            }
        }
        received(response.await)
    }

    /// Reserves an ID that no query in flight on this socket uses and records who waits for it.
    fn register<'socket>(
        &'socket self,
        query: &Query,
        reply: oneshot::Sender<Message>,
    ) -> PendingGuard<'socket> {
        let mut pending = self.pending();
        let id = free_id(&pending.by_id);
        let ticket = pending.next_ticket;
        pending.next_ticket += 1;
        pending.by_id.insert(
            id,
            Waiter {
                ticket,
                query: query.clone(),
                reply,
            },
        );
        PendingGuard {
            socket: self,
            id,
            ticket,
        }
    }

    async fn send(&self, datagram: &[u8]) -> Result<(), NetError> {
        let sent = match self.socket.send(datagram).await {
            // Linux reports an ICMP "port unreachable" caused by an earlier datagram on the
            // next send, which then is not transmitted. It says nothing about this query.
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                self.socket.send(datagram).await
            }
            other => other,
        }
        .map_err(|error| NetError::Io(Arc::new(error)))?;
        if sent == datagram.len() {
            Ok(())
        } else {
            Err(NetError::Message("a DNS query was sent only in part"))
        }
    }

    /// Hands `datagram` to the query waiting for it, or drops it.
    fn deliver(&self, datagram: &[u8]) {
        // Cheap screens first, so a flood of junk costs no decoding: a header, the response bit,
        // an ID someone waits for.
        let Some(&[high, low, flags, ..]) = datagram.get(..12) else {
            return self.drop_response("shorter than a DNS header");
        };
        let id = u16::from_be_bytes([high, low]);
        if flags & 0x80 == 0 {
            return self.drop_response("not a response");
        }
        if !self.pending().by_id.contains_key(&id) {
            return self.drop_response("no query pending with its ID");
        }
        let Ok(message) = Message::from_vec(datagram) else {
            return self.drop_response("undecodable");
        };
        let mut pending = self.pending();
        let Some(waiter) = pending.by_id.get(&id) else {
            // The query gave up between the two looks.
            drop(pending);
            return self.drop_response("no query pending with its ID");
        };
        if !answers(&waiter.query, &message) {
            drop(pending);
            return self.drop_response("question does not match the pending query");
        }
        if let Some(waiter) = pending.by_id.remove(&id) {
            drop(pending);
            // The waiter may have timed out this instant; then the answer is simply unused.
            let _ = waiter.reply.send(message);
        }
    }

    fn drop_response(&self, reason: &'static str) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(reason, "dropped a DNS response");
    }

    /// The pending map. A panic while it was held left it consistent (every change is one insert
    /// or remove), so poisoning is ignored.
    fn pending(&self) -> MutexGuard<'_, PendingQueries> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The in-flight limit of one server: a fair semaphore whose size [`WindowControl`] adapts.
struct Window {
    slots: Semaphore,
    control: Mutex<WindowControl>,
    /// Permits to retire as they come back, when the limit shrank below what is in use.
    debt: AtomicUsize,
}

impl Window {
    fn new(now: Instant) -> Window {
        Window {
            slots: Semaphore::new(MIN_WINDOW),
            control: Mutex::new(WindowControl::new(now)),
            debt: AtomicUsize::new(0),
        }
    }

    /// Waits for room for one more query, first come first served.
    async fn enter(&self) -> Result<WindowSlot<'_>, NetError> {
        let permit = match self.slots.try_acquire() {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits) => {
                // Queries are waiting: only then can more room raise the rate.
                self.control().saturated = true;
                self.slots.acquire().await.map_err(|_| NetError::Busy)?
            }
            // The semaphore is never closed; `Busy` is the fitting error if it ever were.
            Err(TryAcquireError::Closed) => return Err(NetError::Busy),
        };
        Ok(WindowSlot {
            window: self,
            permit: Some(permit),
        })
    }

    fn answered(&self, now: Instant) {
        let change = self.control().answered(now);
        self.resize(change);
    }

    fn timed_out(&self, now: Instant) {
        let change = self.control().timed_out(now);
        self.resize(change);
    }

    fn resize(&self, change: Option<(usize, usize)>) {
        let Some((from, to)) = change else { return };
        tracing::debug!(from, to, "DNS in-flight window resized");
        if to > from {
            let mut grow = to - from;
            // Cancel retirements still owed before adding permits.
            while grow > 0 {
                match self
                    .debt
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |debt| {
                        debt.checked_sub(1)
                    }) {
                    Ok(_) => grow -= 1,
                    Err(_) => break,
                }
            }
            self.slots.add_permits(grow);
        } else {
            let shrink = from - to;
            let retired = self.slots.forget_permits(shrink);
            self.debt.fetch_add(shrink - retired, Ordering::AcqRel);
        }
    }

    fn control(&self) -> MutexGuard<'_, WindowControl> {
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One query's room in a [`Window`].
struct WindowSlot<'window> {
    window: &'window Window,
    permit: Option<SemaphorePermit<'window>>,
}

impl Drop for WindowSlot<'_> {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let retire = self
            .window
            .debt
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |debt| {
                debt.checked_sub(1)
            })
            .is_ok();
        if retire {
            permit.forget();
        }
    }
}

/// How the window of one server adapts, apart from the clock and the semaphore so it can be
/// tested alone.
///
/// The window starts at [`MIN_WINDOW`]. While queries wait for room, it probes: it widens (by a
/// quarter at first, more after each success) and keeps the wider window only if, over the
/// next epoch, the answer rate rises by at least [`PROBE_EFFICIENCY`] of the widening. A server
/// that answers slowly because it is busy recursing (queries park inside it, not in its socket
/// buffer) answers proportionally faster with more in flight, so the window grows towards
/// [`MAX_WINDOW`]; a server that is itself the bottleneck answers no faster, so the probe is
/// undone and not repeated for [`PROBE_HOLD`] (doubling with each failure). A wider window that
/// queries did not fill is kept: it cannot have helped, but it loads nobody. A timed-out
/// attempt halves the window (not below [`MIN_WINDOW`]). Per-query latency, which varies wildly
/// with recursion, is never used: only the rate over epochs of at least [`MIN_EPOCH`] and two
/// windows' worth of answers, skipping the first epoch and every one that straddles a change
/// (warm-up and the switch itself would pass for gains or losses). A probe must beat the better
/// of two epochs at the old window.
#[derive(Debug)]
struct WindowControl {
    limit: usize,
    epoch_started: Instant,
    epoch_answers: usize,
    /// Whether a query had to wait for room during this epoch.
    saturated: bool,
    /// Whether this epoch began before the last change (or at the start) and so measures
    /// neither the old window nor the new one; it is not used.
    settling: bool,
    probe: Option<Probe>,
    /// The rate of the last saturated epoch at this window, if the one before was one too.
    baseline: Option<f64>,
    /// How far the next probe widens, in quarters of the window.
    probe_quarters: usize,
    /// How long the next failed probe stops probing.
    hold: Duration,
    hold_until: Instant,
}

/// A widening under test: the limit to go back to, and the rate the wider window must reach.
#[derive(Debug, Clone, Copy)]
struct Probe {
    from: usize,
    rate_needed: f64,
}

impl WindowControl {
    fn new(now: Instant) -> WindowControl {
        WindowControl {
            limit: MIN_WINDOW,
            epoch_started: now,
            epoch_answers: 0,
            saturated: false,
            settling: true,
            probe: None,
            baseline: None,
            probe_quarters: FIRST_PROBE_QUARTERS,
            hold: PROBE_HOLD,
            hold_until: now,
        }
    }

    /// Counts an answer; at the end of an epoch, returns `(old, new)` when the limit changes.
    fn answered(&mut self, now: Instant) -> Option<(usize, usize)> {
        if self.epoch_answers == 0 {
            // Measure from the first answer, so idle time before it (start-up, a pause in the
            // input) does not pass for a low rate that any probe would seem to improve on.
            self.epoch_started = now;
        }
        self.epoch_answers += 1;
        let elapsed = now.saturating_duration_since(self.epoch_started);
        if self.epoch_answers < 2 * self.limit || elapsed < MIN_EPOCH {
            return None;
        }
        let rate = self.epoch_answers as f64 / elapsed.as_secs_f64();
        let saturated = std::mem::take(&mut self.saturated);
        self.epoch_answers = 0;
        self.epoch_started = now;
        if std::mem::take(&mut self.settling) {
            return None;
        }
        if let Some(probe) = self.probe.take() {
            // A wider window that was not even filled cannot have raised the rate; nor does it
            // load the server more, so it stays (and no further probe starts, nothing waits).
            if saturated && rate < probe.rate_needed {
                // More in flight bought nothing: the server, not the round trip, sets the pace.
                self.hold_until = now + self.hold;
                self.hold = (self.hold * 2).min(MAX_PROBE_HOLD);
                self.probe_quarters = FIRST_PROBE_QUARTERS;
                return self.set(probe.from);
            }
            self.probe_quarters = (self.probe_quarters * 2).min(MAX_PROBE_QUARTERS);
            self.hold = PROBE_HOLD;
        }
        if !saturated || now < self.hold_until || self.limit >= MAX_WINDOW {
            self.baseline = None;
            return None;
        }
        // A probe needs two saturated epochs at this window and must beat the better of them:
        // epoch rates on a busy machine vary by ±15%, and one slow epoch must not make any
        // widening look like a gain.
        let previous = self.baseline.replace(rate)?;
        let baseline = previous.max(rate);
        let wider = (self.limit + self.limit * self.probe_quarters / 4).min(MAX_WINDOW);
        let widening = wider as f64 / self.limit as f64 - 1.0;
        self.probe = Some(Probe {
            from: self.limit,
            rate_needed: baseline * (1.0 + widening * PROBE_EFFICIENCY),
        });
        self.set(wider)
    }

    /// A query got no answer within its attempt: halve the window and hold it.
    fn timed_out(&mut self, now: Instant) -> Option<(usize, usize)> {
        self.probe = None;
        self.probe_quarters = FIRST_PROBE_QUARTERS;
        self.hold_until = now + PROBE_HOLD;
        self.set((self.limit / 2).max(MIN_WINDOW))
    }

    fn set(&mut self, limit: usize) -> Option<(usize, usize)> {
        let old = std::mem::replace(&mut self.limit, limit);
        if old == limit {
            return None;
        }
        self.settling = true;
        self.baseline = None;
        Some((old, limit))
    }
}

/// The response the receive task handed over; the task only ever goes away with the client.
fn received(message: Result<Message, oneshot::error::RecvError>) -> Result<Message, NetError> {
    message.map_err(|_| NetError::Message("the DNS receive task ended"))
}

/// A query's place in its socket's pending map, given back when the query ends however it ends
/// (answer, timeout, cancellation).
struct PendingGuard<'socket> {
    socket: &'socket PooledSocket,
    id: u16,
    ticket: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut pending = self.socket.pending();
        // After an answer the receive task has removed the entry already, and the ID may belong
        // to a newer query by now; the ticket tells.
        if pending
            .by_id
            .get(&self.id)
            .is_some_and(|waiter| waiter.ticket == self.ticket)
        {
            pending.by_id.remove(&self.id);
        }
    }
}

/// A random ID not in use on the socket. At most [`MAX_WINDOW`] of the 65 536 IDs are taken, so
/// the first draw almost always fits; the scan only makes the bound certain.
fn free_id(in_use: &HashMap<u16, Waiter>) -> u16 {
    for _ in 0..16 {
        let id: u16 = rand::random();
        if !in_use.contains_key(&id) {
            return id;
        }
    }
    let start: u16 = rand::random();
    (0..=u16::MAX)
        .map(|offset| start.wrapping_add(offset))
        .find(|id| !in_use.contains_key(id))
        .unwrap_or(start)
}

/// The receive loop of one socket: every datagram goes to [`PooledSocket::deliver`].
async fn receive(socket: Arc<PooledSocket>) {
    let mut buffer = vec![0_u8; MAX_MESSAGE_BYTES];
    loop {
        match socket.socket.recv(&mut buffer).await {
            Ok(length) => socket.deliver(&buffer[..length]),
            // An ICMP error for an earlier query (server not listening); its query times out.
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(error) => {
                tracing::debug!(%error, "DNS receive error");
                // Do not spin on a socket that keeps failing.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// The pool's sockets for `server`, registered with the current tokio runtime.
fn open_sockets(server: SocketAddr) -> io::Result<Vec<Arc<PooledSocket>>> {
    (0..SOCKETS_PER_SERVER)
        .map(|_| {
            Ok(Arc::new(PooledSocket {
                socket: UdpSocket::from_std(connected_socket(server)?)?,
                pending: Mutex::new(PendingQueries::default()),
                dropped: AtomicU64::new(0),
            }))
        })
        .collect()
}

/// A non-blocking UDP socket on an OS-chosen port of the wildcard address of `server`'s family,
/// connected to `server` so the kernel accepts datagrams from nowhere else.
fn connected_socket(server: SocketAddr) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let (domain, local) = match server {
        SocketAddr::V4(_) => (Domain::IPV4, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
        SocketAddr::V6(_) => (Domain::IPV6, SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))),
    };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a smaller buffer only means drops (and retries) under extreme bursts.
    let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER_BYTES);
    socket.bind(&local.into())?;
    socket.connect(&server.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// The wire form of `query` with `id`: recursion desired, EDNS0 with a 1232-byte payload.
fn encode(id: u16, query: &Query) -> Result<Vec<u8>, NetError> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(query.clone());
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    message.set_edns(edns);
    Ok(message.to_vec()?)
}

/// Whether `message` is a response to `query`: a standard query response echoing its question.
fn answers(query: &Query, message: &Message) -> bool {
    message.metadata.message_type == MessageType::Response
        && message.metadata.op_code == OpCode::Query
        && matches!(&message.queries[..], [question]
            if question.name() == query.name()
                && question.query_type() == query.query_type()
                && question.query_class() == query.query_class())
}

/// Asks `server` for `query` over TCP, for an answer too large for UDP.
async fn ask_over_tcp(server: SocketAddr, query: &Query) -> Result<Message, NetError> {
    let io_error = |error: io::Error| NetError::Io(Arc::new(error));
    let id: u16 = rand::random();
    let body = encode(id, query)?;
    let length = u16::try_from(body.len())
        .map_err(|_| NetError::Message("a DNS query is too long for TCP"))?;
    let mut frame = Vec::with_capacity(body.len() + 2);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&body);
    let mut stream = TcpStream::connect(server).await.map_err(io_error)?;
    stream.set_nodelay(true).map_err(io_error)?;
    stream.write_all(&frame).await.map_err(io_error)?;
    let mut length = [0_u8; 2];
    stream.read_exact(&mut length).await.map_err(io_error)?;
    let mut response = vec![0_u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut response).await.map_err(io_error)?;
    let message = Message::from_vec(&response)?;
    if message.metadata.id != id || !answers(query, &message) {
        return Err(NetError::Message(
            "the TCP answer does not match its DNS query",
        ));
    }
    Ok(message)
}

/// What one response says about the query it answers.
#[derive(Debug)]
enum Step {
    /// The answer: the CNAMEs from the query name, in chain order, then the records of the
    /// queried type at the chain's end.
    Answer(Vec<Record>),
    /// The response leads through `cnames` to `target` without records for it: ask `target`
    /// next. `unresolved` is the error to report if the chain cannot be followed further.
    Follow {
        cnames: Vec<Record>,
        target: Name,
        unresolved: NoRecords,
    },
}

/// Interprets a response to `query` the way hickory-resolver's caching client does: failure
/// codes are errors; records of the queried type at the end of the CNAME chain are the answer;
/// a chain ending without them is followed; otherwise no records (NXDOMAIN or no data, with the
/// SOA's negative TTL).
///
/// Unlike hickory, only records that belong to the answer are kept: the CNAMEs on the chain from
/// the query name and the queried type at its end, not unrelated records a server added.
fn interpret(query: &Query, message: Message) -> Result<Step, NetError> {
    let response_code = message.metadata.response_code;
    match response_code {
        ResponseCode::NoError | ResponseCode::NXDomain | ResponseCode::Unknown(_) => {}
        code => return Err(DnsError::ResponseCode(code).into()),
    }
    let (cnames, target) = cname_chain(query, &message.answers);
    let records: Vec<Record> = message
        .answers
        .iter()
        .filter(|record| {
            record.dns_class == query.query_class()
                && record.record_type() == query.query_type()
                && record.name == target
        })
        .cloned()
        .collect();
    if !records.is_empty() {
        let mut answer = cnames;
        answer.extend(records);
        return Ok(Step::Answer(answer));
    }
    let unresolved = no_records(query, response_code, &message);
    if cnames.is_empty() {
        Err(unresolved.into())
    } else {
        Ok(Step::Follow {
            cnames,
            target,
            unresolved,
        })
    }
}

/// The CNAMEs from the query name onwards, in chain order, and the name the chain ends at
/// (the query name without CNAMEs). Queries for CNAME or ANY are answered by the CNAME itself.
fn cname_chain(query: &Query, answers: &[Record]) -> (Vec<Record>, Name) {
    let mut chain: Vec<Record> = Vec::new();
    let mut current = query.name().clone();
    if matches!(query.query_type(), RecordType::CNAME | RecordType::ANY) {
        return (chain, current);
    }
    // Each step uses a different record, so this bounds the walk even on a loop.
    for _ in 0..answers.len() {
        let next = answers.iter().find_map(|record| match &record.data {
            RData::CNAME(CNAME(target))
                if record.dns_class == query.query_class() && record.name == current =>
            {
                Some((record, target))
            }
            _ => None,
        });
        let Some((record, target)) = next else { break };
        if *target == *query.name() || chain.iter().any(|link| link.name == *target) {
            break;
        }
        chain.push(record.clone());
        current = target.clone();
    }
    (chain, current)
}

/// The "no records" error for `query`, with the SOA and negative TTL (the smaller of the SOA
/// record's TTL and its `minimum`) from the authority section, as hickory reports them.
fn no_records(query: &Query, response_code: ResponseCode, message: &Message) -> NoRecords {
    let soa = message.authorities.iter().find_map(|record| {
        record.clone().map(|data| match data {
            RData::SOA(soa) => Some(soa),
            _ => None,
        })
    });
    let mut no_records = NoRecords::new(query.clone(), response_code);
    no_records.negative_ttl = soa.as_ref().map(|soa| soa.ttl.min(soa.data.minimum));
    no_records.soa = soa.map(Box::new);
    if !message.authorities.is_empty() {
        no_records.authorities = Some(message.authorities.clone().into());
    }
    no_records
}

/// A [`Lookup`] of `records` for `query`, valid for their smallest TTL.
fn lookup_of(query: Query, records: Vec<Record>) -> Lookup {
    let ttl = records.iter().map(|record| record.ttl).min().unwrap_or(0);
    let valid_until = Instant::now() + Duration::from_secs(u64::from(ttl));
    Lookup::new_with_deadline(query, records, valid_until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::rdata::{A, SOA};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn cname(owner: &str, target: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::CNAME(CNAME(name(target))))
    }

    fn a(owner: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::A(A::new(192, 0, 2, 1)))
    }

    fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
        let soa = SOA::new(name("ns.example."), name("h.example."), 1, 2, 3, 4, minimum);
        Record::from_rdata(name(zone), ttl, RData::SOA(soa))
    }

    fn response(
        query: &Query,
        code: ResponseCode,
        answers: Vec<Record>,
        authorities: Vec<Record>,
    ) -> Message {
        let mut message = Message::response(7, OpCode::Query);
        message.metadata.response_code = code;
        message.add_query(query.clone());
        message.add_answers(answers);
        message.add_authorities(authorities);
        message
    }

    fn owners(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|record| format!("{} {}", record.name, record.record_type()))
            .collect()
    }

    /// What `interpret` made of a response, in a comparable form.
    fn check(answers: Vec<Record>, code: ResponseCode, authorities: Vec<Record>, expected: &str) {
        let query = Query::query(name("www.example."), RecordType::A);
        let message = response(&query, code, answers, authorities);
        let got = match interpret(&query, message) {
            Ok(Step::Answer(records)) => format!("answer {:?}", owners(&records)),
            Ok(Step::Follow { cnames, target, .. }) => {
                format!("follow {:?} to {target}", owners(&cnames))
            }
            Err(NetError::Dns(DnsError::NoRecordsFound(no_records))) => format!(
                "no records {:?} negative {:?}",
                no_records.response_code, no_records.negative_ttl
            ),
            Err(NetError::Dns(DnsError::ResponseCode(code))) => format!("code {code:?}"),
            Err(other) => format!("error {other}"),
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn responses_are_interpreted_as_hickory_does() {
        use ResponseCode::*;
        check(
            vec![a("www.example.", 60)],
            NoError,
            vec![],
            r#"answer ["www.example. A"]"#,
        );
        check(
            vec![
                cname("www.example.", "cdn.example.", 300),
                cname("cdn.example.", "edge.example.", 300),
                a("edge.example.", 60),
            ],
            NoError,
            vec![],
            r#"answer ["www.example. CNAME", "cdn.example. CNAME", "edge.example. A"]"#,
        );
        // Out of order, with an unrelated CNAME and an A record of another name.
        check(
            vec![
                a("edge.example.", 60),
                cname("other.example.", "edge.example.", 1),
                a("elsewhere.example.", 60),
                cname("www.example.", "edge.example.", 300),
            ],
            NoError,
            vec![],
            r#"answer ["www.example. CNAME", "edge.example. A"]"#,
        );
        check(
            vec![cname("www.example.", "gone.example.", 300)],
            NoError,
            vec![],
            r#"follow ["www.example. CNAME"] to gone.example."#,
        );
        check(
            vec![cname("www.example.", "gone.example.", 300)],
            NXDomain,
            vec![soa("example.", 30, 60)],
            r#"follow ["www.example. CNAME"] to gone.example."#,
        );
        check(
            vec![],
            NXDomain,
            vec![soa("example.", 30, 60)],
            "no records NXDomain negative Some(30)",
        );
        check(
            vec![],
            NoError,
            vec![soa("example.", 900, 45)],
            "no records NoError negative Some(45)",
        );
        check(vec![], NoError, vec![], "no records NoError negative None");
        check(
            vec![a("elsewhere.example.", 60)],
            NoError,
            vec![],
            "no records NoError negative None",
        );
        check(vec![], ServFail, vec![], "code ServFail");
        check(vec![], Refused, vec![], "code Refused");
        check(vec![], FormErr, vec![], "code FormErr");
        // A loop inside one response stops where it closes.
        check(
            vec![
                cname("www.example.", "b.example.", 300),
                cname("b.example.", "www.example.", 300),
            ],
            NoError,
            vec![],
            r#"follow ["www.example. CNAME"] to b.example."#,
        );
    }

    #[test]
    fn only_a_response_with_the_same_question_is_accepted() {
        let query = Query::query(name("www.example."), RecordType::A);
        let matching = response(&query, ResponseCode::NoError, vec![], vec![]);
        assert!(answers(&query, &matching));

        let upper = Query::query(name("WWW.Example."), RecordType::A);
        assert!(answers(
            &query,
            &response(&upper, ResponseCode::NoError, vec![], vec![])
        ));
        for other in [
            Query::query(name("evil.example."), RecordType::A),
            Query::query(name("www.example."), RecordType::AAAA),
        ] {
            let message = response(&other, ResponseCode::NoError, vec![], vec![]);
            assert!(!answers(&query, &message), "{other}");
        }
        let mut not_a_response = matching.clone();
        not_a_response.metadata.message_type = MessageType::Query;
        assert!(!answers(&query, &not_a_response));
        let mut no_question = matching.clone();
        no_question.queries.clear();
        assert!(!answers(&query, &no_question));
        let mut two_questions = matching;
        two_questions.add_query(query.clone());
        assert!(!answers(&query, &two_questions));
    }

    #[test]
    fn queries_ask_for_recursion_with_edns() {
        let query = Query::query(name("www.example."), RecordType::AAAA);
        let message = Message::from_vec(&encode(4242, &query).unwrap()).unwrap();
        assert_eq!(message.metadata.id, 4242);
        assert!(message.metadata.recursion_desired);
        assert_eq!(message.metadata.message_type, MessageType::Query);
        assert_eq!(message.queries, [query]);
        assert_eq!(message.max_payload(), EDNS_PAYLOAD);
    }

    #[test]
    fn ids_in_use_are_never_handed_out() {
        let mut in_use = HashMap::new();
        let query = Query::query(name("www.example."), RecordType::A);
        // Every ID but one taken: the scan finds it.
        for id in 0..=u16::MAX {
            if id != 12_345 {
                let (reply, _) = oneshot::channel();
                in_use.insert(
                    id,
                    Waiter {
                        ticket: 0,
                        query: query.clone(),
                        reply,
                    },
                );
            }
        }
        assert_eq!(free_id(&in_use), 12_345);
    }

    /// Feeds `control` the answers of a server that answers `rate(in flight)` queries per second
    /// for `duration`, with `demand` queries wanting to be in flight; returns every limit taken.
    fn simulate(
        control: &mut WindowControl,
        now: &mut Instant,
        duration: Duration,
        demand: usize,
        rate: impl Fn(usize) -> f64,
    ) -> Vec<usize> {
        let end = *now + duration;
        let mut limits = vec![control.limit];
        while *now < end {
            *now += Duration::from_secs_f64(1.0 / rate(control.limit.min(demand)));
            control.saturated |= demand > control.limit;
            if let Some((_, limit)) = control.answered(*now) {
                limits.push(limit);
            }
        }
        limits
    }

    /// A resolver 50 ms away, or busy recursing: the rate follows what is in flight.
    fn round_trip_bound(in_flight: usize) -> f64 {
        in_flight as f64 / 0.05
    }

    #[test]
    fn the_window_opens_while_more_in_flight_brings_more_answers() {
        let mut now = Instant::now();
        let mut control = WindowControl::new(now);
        let limits = simulate(
            &mut control,
            &mut now,
            Duration::from_secs(3),
            usize::MAX,
            round_trip_bound,
        );
        assert_eq!(control.limit, MAX_WINDOW, "{limits:?}");
        assert!(
            limits.windows(2).all(|pair| pair[1] > pair[0]),
            "{limits:?}"
        );
        // Widening by a quarter, then a half, then doubling.
        assert_eq!(limits[..5], [128, 160, 240, 480, 960]);
    }

    #[test]
    fn a_window_wider_than_the_demand_is_kept_without_further_probes() {
        let mut now = Instant::now();
        let mut control = WindowControl::new(now);
        let limits = simulate(
            &mut control,
            &mut now,
            Duration::from_secs(3),
            512,
            round_trip_bound,
        );
        assert_eq!(limits, [128, 160, 240, 480, 960]);
    }

    #[test]
    fn the_window_stays_small_when_the_server_sets_the_pace() {
        let mut now = Instant::now();
        let mut control = WindowControl::new(now);
        // A local server answering from memory at its own ceiling, whatever is in flight.
        let limits = simulate(
            &mut control,
            &mut now,
            Duration::from_secs(7),
            usize::MAX,
            |_| 50_000.0,
        );
        // Each probe undone, and the pauses between them doubling: 1 s, then 2 s, then 4 s.
        assert_eq!(limits, [128, 160, 128, 160, 128, 160, 128]);
        // A server that drops queries beyond its buffer answers far fewer with more in flight.
        let mut control = WindowControl::new(now);
        let limits = simulate(
            &mut control,
            &mut now,
            Duration::from_secs(5),
            usize::MAX,
            |in_flight| if in_flight > 150 { 2_000.0 } else { 50_000.0 },
        );
        assert_eq!(control.limit, MIN_WINDOW, "{limits:?}");
    }

    #[test]
    fn the_window_holds_without_waiting_queries_and_halves_on_timeouts() {
        let mut now = Instant::now();
        let mut control = WindowControl::new(now);
        for _ in 0..10_000 {
            now += Duration::from_millis(1);
            assert_eq!(control.answered(now), None, "nobody waits, nothing to gain");
        }
        control.limit = 1000;
        assert_eq!(control.timed_out(now), Some((1000, 500)));
        assert_eq!(control.timed_out(now), Some((500, 250)));
        assert_eq!(control.timed_out(now), Some((250, MIN_WINDOW)));
        assert_eq!(control.timed_out(now), None);
        // After a timeout the window holds, even with queries waiting.
        let limits = simulate(
            &mut control,
            &mut now,
            PROBE_HOLD / 2,
            usize::MAX,
            round_trip_bound,
        );
        assert_eq!(limits, [MIN_WINDOW]);
    }

    #[tokio::test]
    async fn window_slots_given_back_after_a_shrink_are_retired() {
        let window = Window::new(Instant::now());
        window.resize(Some((MIN_WINDOW, 200)));
        assert_eq!(window.slots.available_permits(), 200);
        let mut slots = Vec::new();
        for _ in 0..150 {
            slots.push(window.enter().await.unwrap());
        }
        window.resize(Some((200, MIN_WINDOW)));
        // 50 free permits are retired at once, the other 22 as slots come back.
        assert_eq!(window.slots.available_permits(), 0);
        slots.truncate(100);
        assert_eq!(window.slots.available_permits(), 28);
        window.resize(Some((MIN_WINDOW, 160)));
        slots.clear();
        assert_eq!(window.slots.available_permits(), 160);
    }

    #[tokio::test]
    async fn a_client_needs_a_server() {
        let error = PooledUdpClient::new(Vec::new(), Duration::from_secs(1), 1).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    #[tokio::test]
    async fn a_server_that_cannot_be_used_is_left_out() {
        // Linux refuses to connect a socket to the broadcast address without SO_BROADCAST.
        let broadcast = SocketAddr::from((Ipv4Addr::BROADCAST, 53));
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 53));
        let client = PooledUdpClient::new(vec![broadcast, local], Duration::from_secs(1), 2)
            .expect("the usable server is enough");
        let servers: Vec<SocketAddr> = client
            .inner
            .servers
            .iter()
            .map(|pool| pool.address)
            .collect();
        assert_eq!(servers, [local]);
        let error = PooledUdpClient::new(vec![broadcast], Duration::from_secs(1), 1).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn a_client_needs_a_runtime() {
        let server = SocketAddr::from((Ipv4Addr::LOCALHOST, 53));
        let error = PooledUdpClient::new(vec![server], Duration::from_secs(1), 1).unwrap_err();
        assert!(error.to_string().contains("tokio runtime"), "{error}");
    }
}
