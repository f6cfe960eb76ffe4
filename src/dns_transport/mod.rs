//! DNS transport: a fast stub client over a few long-lived UDP sockets per name server, hardened
//! against off-path forgery.
//!
//! Owns the wire between hostloc and its configured name servers for the `pooled` transport.
//! [`PooledClient::query`] asks one question (a name and a record type) and returns the first
//! usable answer with the server that gave it and whether it came over UDP or TCP. It does not
//! interpret answers (response codes, CNAME chains and negative TTLs are `resolve.rs`'s, the
//! same for every transport), must not talk to anything but the configured name servers, must
//! not log queried names, and must not cache (`cache.rs` does).
//!
//! Why it exists: hickory-resolver opens, binds and closes a new UDP socket for every query, and
//! its layers (name server pool, retry handle, caching client) cost several times the CPU of
//! this client per name, measured with `bench/batch_dns.sh` and recorded in `docs/dns.md`
//! together with the profile. The parts here are small and each has one job:
//!
//! - `udp.rs`: four connected UDP sockets per server on random ports from 1024–65535, each
//!   replaced by a fresh one after [`Rotation::max_queries`] queries or [`Rotation::max_age`];
//!   0x20 and resends.
//! - `tcp.rs`: one persistent pipelined TCP connection per server (RFC 7766) for truncated
//!   answers and case mismatches.
//! - `channel.rs`: the pending queries of a socket or connection, and the screening every answer
//!   passes (ID, question, exact case); drops are counted by reason.
//! - `server.rs`: per-server health (down after timeouts in a row or a refused port, probed
//!   after a backoff), smoothed RTT, counters, the rate-limited forgery warning.
//! - `window.rs`: how many queries may be in flight at one server, adapted to its answer rate.
//!
//! # One question
//!
//! Identical questions (name without regard to case, type) in flight at once are merged: one
//! goes on the wire and every asker gets its answer, so a burst of one name (a 1 000-URL POST,
//! a batch with the cache off) gives a forger one chance, not a thousand. The question then goes
//! to the servers in the configured order, skipping a server that is down while another is up,
//! and a server whose window is full while another has room; when every window is full it waits
//! in a bounded local queue ([`PooledSettings::queue`]); overflow, or a wait that outlasts the
//! lookup's deadline, is [`TransportError::NotSent`], never a timeout. Each try at a server waits
//! at most the timeout (the datagram resent twice meanwhile). A truncated answer or one in the
//! wrong case is asked again over TCP; FORMERR or NOTIMP without EDNS in the answer means the
//! server rejects EDNS, and it is asked again without (and from then on). SERVFAIL, REFUSED and
//! any other failure code move on to the next server; `attempts` rounds over every server are
//! made, stopping early when every server answered with a failure (the last is returned).
//!
//! # Spoofing
//!
//! An answer is taken only when it arrives on the socket that sent the query, from the server's
//! address and port (the sockets are connected), carries an ID pending on that socket (drawn
//! from the CSPRNG), echoes the question exactly, and, over UDP, in the very case it was sent:
//! every letter of the name is sent in a random case (0x20, draft-vixie-dnsext-dns0x20), so a
//! forger must also guess one bit per letter. An off-path forger who does not know the port
//! must match port, ID and case; one who learned a port has it for at most
//! [`Rotation::max_queries`] queries or [`Rotation::max_age`]. With n queries pending on the
//! socket, one forged datagram hits with probability n / 65 536 × 2^-letters when the port is
//! known, and 1 / 64 512 of that when it is not. `docs/dns.md` works through the numbers and
//! compares the transports. Everything dropped is counted per server and reason, and likely
//! forgeries (unknown ID, wrong question, wrong case) raise a warning at most once a minute.

mod channel;
mod server;
mod tcp;
mod udp;
mod window;

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hickory_resolver::proto::ProtoError;
use hickory_resolver::proto::op::{
    DnsResponse, Edns, Message, MessageType, OpCode, Query, ResponseCode,
};
use hickory_resolver::proto::rr::{Name, RecordType};
use tokio::sync::oneshot;
use tokio::time::Instant;

pub use server::{CounterSnapshot, ServerStats};
pub use udp::Rotation;

use server::{Counters, Health, Retry, Usable};
use tcp::{TcpFailure, TcpLink};
use udp::{UdpFailure, UdpPool};
use window::Window;

/// Shards of the table of questions in flight.
const FLIGHT_SHARDS: usize = 64;

/// The UDP payload size advertised with EDNS0: the DNS flag day 2020 value, which avoids IP
/// fragmentation on any common path.
const EDNS_PAYLOAD: u16 = 1232;

/// How the pooled transport is set up.
#[derive(Debug, Clone)]
pub(crate) struct PooledSettings {
    /// The servers, in the order they are preferred.
    pub(crate) servers: Vec<SocketAddr>,
    /// How long one try at one server waits for its answer.
    pub(crate) timeout: Duration,
    /// Rounds over every server before a question fails (0 is taken as 1).
    pub(crate) attempts: usize,
    /// When UDP sockets are replaced.
    pub(crate) rotation: Rotation,
    /// Questions that may wait for room at a server; more are refused at once.
    pub(crate) queue: usize,
}

/// How an answer travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

impl Protocol {
    /// `udp` or `tcp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        }
    }
}

/// The answer to one question: the response, who gave it and how.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    pub(crate) response: DnsResponse,
    pub(crate) server: SocketAddr,
    pub(crate) protocol: Protocol,
}

/// Why a question got no answer at all.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum TransportError {
    /// Sent, and no server answered in time.
    #[error("no DNS server answered in time")]
    Timeout,
    /// Never sent: hostloc's own queue was full, or the question waited in it until the lookup's
    /// deadline.
    #[error("hostloc's DNS queue was full; the query was not sent")]
    NotSent,
    /// The servers' ports are closed.
    #[error("the DNS server's port is closed (connection refused)")]
    ConnectionRefused,
    /// TCP to the server failed (closed early, broken frames).
    #[error("the TCP connection to the DNS server failed: {0}")]
    Tcp(Arc<io::Error>),
    /// A socket could not be used.
    #[error("{0}")]
    Io(Arc<io::Error>),
}

/// Counters of the pooled transport, for metrics, tests and diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransportStats {
    /// Per server, in the configured order.
    pub servers: Vec<ServerStats>,
    /// Distinct questions in flight now.
    pub questions_in_flight: usize,
    /// Questions that joined an identical one already in flight instead of going on the wire.
    pub merged: u64,
    /// Questions waiting for room at a server now.
    pub queued: usize,
    /// Questions never sent because the local queue was full or they waited past their deadline.
    pub not_sent: u64,
}

impl TransportStats {
    /// Queries and drops summed over the servers, for tests.
    pub fn total(&self, pick: impl Fn(&ServerStats) -> u64) -> u64 {
        self.servers.iter().map(pick).sum()
    }

    /// Queries in flight at every server.
    pub fn in_flight(&self) -> usize {
        self.servers.iter().map(|server| server.in_flight).sum()
    }
}

/// A DNS client over pooled sockets. Cheap to clone: clones share everything. The sockets' tasks
/// end when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct PooledClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledClient")
            .field("servers", &self.inner.servers.len())
            .field("timeout", &self.inner.timeout)
            .field("attempts", &self.inner.attempts)
            .finish_non_exhaustive()
    }
}

struct Inner {
    servers: Vec<Server>,
    timeout: Duration,
    attempts: usize,
    queue_capacity: usize,
    queued: AtomicUsize,
    not_sent: AtomicU64,
    merged: AtomicU64,
    /// Questions in flight, in shards by the question's hash, so that concurrent questions
    /// rarely wait for one another's lock.
    flights: Box<[Mutex<Flights>]>,
    shard_of: RandomState,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The receive tasks hold their sockets; this lets them end.
        for server in &self.servers {
            server.udp.retire_all();
        }
    }
}

/// Questions in flight, so identical ones are asked once; by the question's hash, computed once
/// per question.
#[derive(Default)]
struct Flights {
    by_hash: HashMap<u64, Flight>,
    next_generation: u64,
}

/// One question on the wire: who else waits for its answer.
struct Flight {
    question: Query,
    generation: u64,
    waiters: Vec<oneshot::Sender<Result<Exchange, TransportError>>>,
}

/// A shard of questions in flight. A panic while it was held left it consistent (every change
/// is one insert or remove), so poisoning is ignored.
fn lock(flights: &Mutex<Flights>) -> MutexGuard<'_, Flights> {
    flights.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One name server and everything the transport keeps about it.
struct Server {
    address: SocketAddr,
    udp: UdpPool,
    tcp: TcpLink,
    window: Window,
    health: Health,
    counters: Arc<Counters>,
    /// Set once the server rejected EDNS: queries to it go without from then on.
    no_edns: AtomicBool,
}

/// How one try at one server ended.
enum Try {
    /// A response (any response code).
    Answer(Exchange),
    /// No answer in time.
    Timeout,
    /// No answer, for this reason.
    Failed(TransportError),
}

impl PooledClient {
    /// Opens the sockets for every server and starts their receive tasks on the current tokio
    /// runtime. A server whose sockets cannot be opened (say, an IPv6 server on a host without
    /// IPv6) is left out with a warning.
    ///
    /// # Errors
    ///
    /// An I/O error when no server is given, no server's sockets can be opened, or no tokio
    /// runtime is running.
    pub(crate) fn new(settings: PooledSettings) -> io::Result<PooledClient> {
        if settings.servers.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no name server to send queries to",
            ));
        }
        tokio::runtime::Handle::try_current().map_err(|_| {
            io::Error::other("the pooled DNS transport needs a running tokio runtime")
        })?;
        let now = std::time::Instant::now();
        let mut servers = Vec::with_capacity(settings.servers.len());
        let mut unusable = None;
        for address in settings.servers {
            let counters = Arc::new(Counters::new(address));
            let udp = match UdpPool::open(address, settings.rotation, Arc::clone(&counters)) {
                Ok(udp) => udp,
                Err(error) => {
                    // As with hickory, a server this host cannot reach does not stop the others.
                    tracing::warn!(server = %address, %error, "cannot use this DNS server");
                    unusable = Some(error);
                    continue;
                }
            };
            servers.push(Server {
                address,
                udp,
                tcp: TcpLink::new(address, Arc::clone(&counters)),
                window: Window::new(now),
                health: Health::new(now),
                counters,
                no_edns: AtomicBool::new(false),
            });
        }
        if servers.is_empty() {
            return Err(unusable.unwrap_or_else(|| io::Error::other("no usable name server")));
        }
        Ok(PooledClient {
            inner: Arc::new(Inner {
                servers,
                timeout: settings.timeout,
                attempts: settings.attempts.max(1),
                queue_capacity: settings.queue,
                queued: AtomicUsize::new(0),
                not_sent: AtomicU64::new(0),
                merged: AtomicU64::new(0),
                flights: (0..FLIGHT_SHARDS)
                    .map(|_| Mutex::new(Flights::default()))
                    .collect(),
                shard_of: RandomState::new(),
            }),
        })
    }

    /// The servers in use, in the configured order.
    pub(crate) fn servers(&self) -> Vec<SocketAddr> {
        self.inner
            .servers
            .iter()
            .map(|server| server.address)
            .collect()
    }

    /// Asks for `record_type` records of `name` (see "One question" above), giving up at
    /// `deadline`. An identical question already in flight is joined, not asked again.
    ///
    /// # Errors
    ///
    /// [`TransportError`] when no server gave any response.
    pub(crate) async fn query(
        &self,
        name: &Name,
        record_type: RecordType,
        deadline: Instant,
    ) -> Result<Exchange, TransportError> {
        let mut name = name.clone();
        name.set_fqdn(true);
        let question = Query::query(name, record_type);
        // Case-insensitive, as the question's equality is.
        let hash = self.inner.shard_of.hash_one(&question);
        loop {
            let joined = {
                let mut flights = self.inner.flights(hash);
                let generation = flights.next_generation;
                match flights.by_hash.get_mut(&hash) {
                    Some(flight) if flight.question == question => {
                        let (sender, receiver) = oneshot::channel();
                        flight.waiters.push(sender);
                        Ok(receiver)
                    }
                    // Another question with the same 64-bit hash: asked on its own.
                    Some(_) => Err(None),
                    None => {
                        flights.next_generation += 1;
                        let flight = Flight {
                            question: question.clone(),
                            generation,
                            waiters: Vec::new(),
                        };
                        flights.by_hash.insert(hash, flight);
                        Err(Some(generation))
                    }
                }
            };
            let receiver = match joined {
                Ok(receiver) => receiver,
                Err(generation) => {
                    // This asker flies the question; the landing hands its answer to whoever
                    // joined meanwhile.
                    let landing = generation.map(|generation| Landing {
                        inner: &self.inner,
                        hash,
                        generation,
                        landed: false,
                    });
                    let result = self.inner.exchange(&question, deadline).await;
                    if let Some(landing) = landing {
                        landing.deliver(&result);
                    }
                    return result;
                }
            };
            self.inner.merged.fetch_add(1, Ordering::Relaxed);
            match tokio::time::timeout_at(deadline, receiver).await {
                Ok(Ok(result)) => return result,
                // The asker gave up (its own deadline came first): ask anew.
                Ok(Err(_)) => {}
                Err(_elapsed) => return Err(TransportError::Timeout),
            }
        }
    }

    /// The transport's counters now.
    pub(crate) fn stats(&self) -> TransportStats {
        let inner = &*self.inner;
        TransportStats {
            servers: inner
                .servers
                .iter()
                .map(|server| {
                    server::stats(
                        server.address,
                        &server.health,
                        server.window.limit(),
                        server.udp.in_flight() + server.tcp.in_flight(),
                        &server.counters,
                    )
                })
                .collect(),
            questions_in_flight: inner
                .flights
                .iter()
                .map(|shard| lock(shard).by_hash.len())
                .sum(),
            merged: inner.merged.load(Ordering::Relaxed),
            queued: inner.queued.load(Ordering::Relaxed),
            not_sent: inner.not_sent.load(Ordering::Relaxed),
        }
    }
}

/// Ends a question's flight in [`Flights`], however it ends: with its answer for every asker
/// who joined, or, when the asker is cancelled, with nothing, so they ask anew.
struct Landing<'flight> {
    inner: &'flight Inner,
    hash: u64,
    generation: u64,
    landed: bool,
}

impl Landing<'_> {
    fn deliver(mut self, result: &Result<Exchange, TransportError>) {
        self.landed = true;
        if let Some(flight) = self.take() {
            for waiter in flight.waiters {
                // A waiter past its own deadline has gone; nobody to tell.
                let _ = waiter.send(result.clone());
            }
        }
    }

    fn take(&self) -> Option<Flight> {
        let mut flights = self.inner.flights(self.hash);
        if flights
            .by_hash
            .get(&self.hash)
            .is_some_and(|flight| flight.generation == self.generation)
        {
            flights.by_hash.remove(&self.hash)
        } else {
            None
        }
    }
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        if !self.landed {
            // Dropping the flight drops its waiters' senders: they wake and ask anew.
            drop(self.take());
        }
    }
}

impl Inner {
    /// The shard of [`Flights`] that holds the question with this hash.
    fn flights(&self, hash: u64) -> MutexGuard<'_, Flights> {
        let index = usize::try_from(hash % self.flights.len() as u64).unwrap_or(0);
        lock(&self.flights[index])
    }

    /// Rounds over the servers until one gives a usable answer (see "One question").
    async fn exchange(
        &self,
        question: &Query,
        deadline: Instant,
    ) -> Result<Exchange, TransportError> {
        let mut failure_answer: Option<Exchange> = None;
        let mut error: Option<TransportError> = None;
        for _ in 0..self.attempts {
            let mut remaining = self.order();
            let (mut tried, mut failed_answers) = (0, 0);
            while !remaining.is_empty() && Instant::now() < deadline {
                // The first server in order with room; a saturated one is passed over.
                let free = remaining
                    .iter()
                    .enumerate()
                    .find_map(|(index, (server, _))| {
                        let server: &Server = server;
                        server.window.try_enter().map(|slot| (index, slot))
                    });
                let (index, slot) = match free {
                    Some(free) => free,
                    None => match self.wait_for_room(&remaining, deadline).await {
                        Some(free) => free,
                        None => return Err(error.unwrap_or(TransportError::NotSent)),
                    },
                };
                let (server, probe) = remaining.remove(index);
                // Room at a server that went down while the question waited is no room: the
                // question goes to the others (unless this is the probe, or the last server).
                if probe.is_none()
                    && !remaining.is_empty()
                    && !server.health.is_up(std::time::Instant::now())
                {
                    continue;
                }
                tried += 1;
                let outcome = self.try_server(server, question, deadline).await;
                drop(slot);
                drop(probe);
                match outcome {
                    Try::Answer(exchange) => {
                        let retry = match exchange.response.metadata.response_code {
                            ResponseCode::NoError | ResponseCode::NXDomain => return Ok(exchange),
                            ResponseCode::ServFail => Retry::ServFail,
                            ResponseCode::Refused => Retry::Refused,
                            _ => Retry::ResponseCode,
                        };
                        server.counters.retry(retry);
                        failed_answers += 1;
                        failure_answer.get_or_insert(exchange);
                    }
                    Try::Timeout => {
                        server.counters.retry(Retry::Timeout);
                        error.get_or_insert(TransportError::Timeout);
                    }
                    Try::Failed(failure) => {
                        if matches!(failure, TransportError::ConnectionRefused) {
                            server.counters.retry(Retry::ConnectionRefused);
                        }
                        // A refused port or a broken connection says more than a timeout.
                        if matches!(error, None | Some(TransportError::Timeout)) {
                            error = Some(failure);
                        }
                    }
                }
            }
            // Every server answered, each with a failure: asking them all again will not help.
            if tried > 0 && failed_answers == tried {
                break;
            }
        }
        match failure_answer {
            Some(exchange) => Ok(exchange),
            None => Err(error.unwrap_or(TransportError::NotSent)),
        }
    }

    /// The servers to try this round, in the configured order: those that are up (and the one
    /// probe of a server that is down, when due), or, when none is up, all of them.
    fn order(&self) -> Vec<(&Server, Option<ProbeGuard<'_>>)> {
        let now = std::time::Instant::now();
        let mut usable = Vec::with_capacity(self.servers.len());
        for server in &self.servers {
            match server.health.usable(now) {
                Usable::Up => usable.push((server, None)),
                Usable::Probe => usable.push((
                    server,
                    Some(ProbeGuard {
                        health: &server.health,
                    }),
                )),
                Usable::Down => {}
            }
        }
        if usable.is_empty() {
            return self.servers.iter().map(|server| (server, None)).collect();
        }
        usable
    }

    /// Waits in the bounded local queue until one of `servers` has room, first come first
    /// served at each; `None` when the queue is full or the deadline comes first.
    async fn wait_for_room<'server>(
        &self,
        servers: &[(&'server Server, Option<ProbeGuard<'server>>)],
        deadline: Instant,
    ) -> Option<(usize, window::WindowSlot<'server>)> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.queue_capacity {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.not_sent.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let any = futures::future::select_all(servers.iter().map(|(server, _)| {
            let server: &'server Server = server;
            Box::pin(server.window.enter())
        }));
        let waited = tokio::time::timeout_at(deadline, any).await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok((Some(slot), index, _others)) => Some((index, slot)),
            Ok((None, _, _)) | Err(_) => {
                self.not_sent.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// One try at `server`: UDP, then TCP when the answer is truncated or in the wrong case;
    /// without EDNS when the server rejects it. Bounded by the timeout and `deadline`.
    async fn try_server(&self, server: &Server, question: &Query, deadline: Instant) -> Try {
        let started = Instant::now();
        let limit = deadline.min(started + self.timeout);
        let mut edns = !server.no_edns.load(Ordering::Relaxed);
        loop {
            let asked = tokio::time::timeout_at(limit, server.udp.ask(question, edns)).await;
            let response = match asked {
                Err(_elapsed) => {
                    let now = std::time::Instant::now();
                    server.health.timed_out(now);
                    server.window.timed_out(now);
                    return Try::Timeout;
                }
                Ok(Err(UdpFailure::Refused)) => {
                    server.health.refused(std::time::Instant::now());
                    return Try::Failed(TransportError::ConnectionRefused);
                }
                Ok(Err(UdpFailure::Io(error))) => return Try::Failed(TransportError::Io(error)),
                Ok(Err(UdpFailure::CaseMismatch)) => {
                    server.counters.retry(Retry::CaseMismatch);
                    return self.over_tcp(server, question, edns, limit).await;
                }
                Ok(Ok(response)) => response,
            };
            server.health.answered(started.elapsed());
            server.window.answered(std::time::Instant::now());
            if edns && rejects_edns(&response) {
                // RFC 6891 section 7: a server without EDNS answers FORMERR (or NOTIMP) without
                // an OPT record; ask again without, and remember.
                server.no_edns.store(true, Ordering::Relaxed);
                server.counters.retry(Retry::NoEdns);
                edns = false;
                continue;
            }
            if response.metadata.truncation {
                server.counters.retry(Retry::Truncated);
                return self.over_tcp(server, question, edns, limit).await;
            }
            return Try::Answer(Exchange {
                response,
                server: server.address,
                protocol: Protocol::Udp,
            });
        }
    }

    async fn over_tcp(&self, server: &Server, question: &Query, edns: bool, limit: Instant) -> Try {
        match tokio::time::timeout_at(limit, server.tcp.ask(question, edns)).await {
            Ok(Ok(response)) => Try::Answer(Exchange {
                response,
                server: server.address,
                protocol: Protocol::Tcp,
            }),
            Ok(Err(TcpFailure::Refused)) => {
                server.counters.retry(Retry::TcpFailed);
                Try::Failed(TransportError::ConnectionRefused)
            }
            Ok(Err(TcpFailure::Broken(error))) => {
                server.counters.retry(Retry::TcpFailed);
                Try::Failed(TransportError::Tcp(error))
            }
            Err(_elapsed) => Try::Timeout,
        }
    }
}

/// The one probe of a server that is down, given back when its try ends.
struct ProbeGuard<'health> {
    health: &'health Health,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        self.health.probe_done();
    }
}

/// Whether `response` says the server does not understand EDNS: FORMERR or NOTIMP without an
/// OPT record of its own.
fn rejects_edns(response: &DnsResponse) -> bool {
    matches!(
        response.metadata.response_code,
        ResponseCode::FormErr | ResponseCode::NotImp
    ) && response.edns.is_none()
}

/// The wire form of `query` with `id`: recursion desired, EDNS0 with a 1232-byte payload when
/// `edns`.
fn encode(id: u16, query: &Query, edns: bool) -> Result<Vec<u8>, ProtoError> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(query.clone());
    if edns {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        message.set_edns(edns);
    }
    message.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn settings(servers: Vec<SocketAddr>) -> PooledSettings {
        PooledSettings {
            servers,
            timeout: Duration::from_secs(1),
            attempts: 1,
            rotation: Rotation::default(),
            queue: 100,
        }
    }

    #[test]
    fn queries_ask_for_recursion_with_or_without_edns() {
        let query = Query::query(Name::from_ascii("www.example.").unwrap(), RecordType::AAAA);
        let message = Message::from_vec(&encode(4242, &query, true).unwrap()).unwrap();
        assert_eq!(message.metadata.id, 4242);
        assert!(message.metadata.recursion_desired);
        assert_eq!(message.metadata.message_type, MessageType::Query);
        assert_eq!(message.queries, std::slice::from_ref(&query));
        assert_eq!(message.max_payload(), EDNS_PAYLOAD);
        let plain = Message::from_vec(&encode(1, &query, false).unwrap()).unwrap();
        assert!(plain.edns.is_none());
    }

    #[tokio::test]
    async fn a_client_needs_a_server() {
        let error = PooledClient::new(settings(Vec::new())).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    #[tokio::test]
    async fn a_server_that_cannot_be_used_is_left_out() {
        // Linux refuses to connect a socket to the broadcast address without SO_BROADCAST.
        let broadcast = SocketAddr::from((Ipv4Addr::BROADCAST, 53));
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 53));
        let client =
            PooledClient::new(settings(vec![broadcast, local])).expect("the usable one is enough");
        assert_eq!(client.servers(), [local]);
        let error = PooledClient::new(settings(vec![broadcast])).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn a_client_needs_a_runtime() {
        let server = SocketAddr::from((Ipv4Addr::LOCALHOST, 53));
        let error = PooledClient::new(settings(vec![server])).unwrap_err();
        assert!(error.to_string().contains("tokio runtime"), "{error}");
    }
}
